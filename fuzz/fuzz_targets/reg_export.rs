#![no_main]
//! `reg export` text on arbitrary bytes (any encoding): every line read or counted, no panic.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::regexport::read_reg_export;
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_emit(FileFormat::RegExport, |emit, account| {
        read_reg_export(data.to_vec(), emit, account);
    });
});
