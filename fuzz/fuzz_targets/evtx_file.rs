#![no_main]
//! EVTX ingest on arbitrary bytes (seeded with the corpus's dirty files): damage is counted,
//! never a panic, and every counted record is handed on.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::evtx::read_evtx;
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_emit(FileFormat::Evtx, |emit, account| {
        read_evtx(std::io::Cursor::new(data), data.len() as u64, emit, account);
    });
});
