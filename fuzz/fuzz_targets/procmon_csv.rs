#![no_main]
//! Procmon CSV ingest on arbitrary bytes, with a small line bound so the guard is exercised.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::procmon::read_procmon;
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_emit(FileFormat::ProcmonCsv, |emit, account| {
        read_procmon(data, 4096, emit, account);
    });
});
