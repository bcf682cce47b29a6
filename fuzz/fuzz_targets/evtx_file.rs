#![no_main]
//! EVTX ingest on arbitrary bytes (seeded with the corpus's dirty files): damage is counted,
//! never a panic, and every counted record is handed on. Every record read straight from its
//! BinXML gives the event rendering it gives.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::eventxml::XmlLimits;
use rdtriage::ingest::evtx::{direct_matches_rendering, read_evtx};
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_emit(FileFormat::Evtx, |emit, account| {
        read_evtx(std::io::Cursor::new(data), data.len() as u64, emit, account);
    });
    let limits = XmlLimits {
        depth: 16,
        elements: 256,
    };
    if let Err(e) = direct_matches_rendering(std::io::Cursor::new(data), &limits) {
        panic!("{e}");
    }
});
