#![no_main]
//! PML ingest on arbitrary bytes (seeded with the corpus's captures, cut and whole): damage is
//! named in the account, never a panic, and every counted event is handed on.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::pml::read_pml;
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_emit(FileFormat::ProcmonPml, |emit, account| {
        read_pml(std::io::Cursor::new(data), data.len() as u64, emit, account);
    });
});
