#![no_main]
//! EVTX ingest on arbitrary bytes (seeded with the corpus's dirty files): damage is counted,
//! never a panic, and every counted record is handed on. Every record read straight from its
//! BinXML gives the event rendering it gives. Reading each chunk on its job (a file on disk)
//! gives exactly what the crate's walk gives (a zip entry).
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::eventxml::XmlLimits;
use rdtriage::ingest::evtx::{Walk, direct_matches_rendering, read_evtx};
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let walk = |positional: bool| {
        let (mut events, mut got) = (Vec::new(), None);
        common::with_emit_checked(
            FileFormat::Evtx,
            rdtriage::ingest::Limits::default().csv_fields,
            |emit, account| {
                let walk = if positional {
                    Walk::Positional
                } else {
                    Walk::Streamed
                };
                read_evtx(std::io::Cursor::new(data), data.len() as u64, walk, emit, account);
                got = Some(account.clone());
            },
            |e| events.push(format!("{e:?}")),
        );
        (events, got)
    };
    let (walked, planned) = (walk(false), walk(true));
    assert_eq!(walked.1, planned.1, "the two walks account differently");
    assert!(walked.0 == planned.0, "the two walks give different events");
    let limits = XmlLimits {
        depth: 16,
        elements: 256,
    };
    if let Err(e) = direct_matches_rendering(std::io::Cursor::new(data), &limits) {
        panic!("{e}");
    }
});
