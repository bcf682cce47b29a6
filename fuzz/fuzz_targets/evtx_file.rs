#![no_main]
//! EVTX ingest on arbitrary bytes (seeded with the corpus's dirty files): damage is counted,
//! never a panic, and every counted record is handed on. Every record read straight from its
//! BinXML gives the event rendering it gives. Reading each chunk on its job, from memory or at
//! its offset in a file on disk, gives exactly what the crate's walk gives (a zip entry).
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::eventxml::XmlLimits;
use rdtriage::ingest::evtx::{Walk, direct_matches_rendering, read_evtx, read_evtx_file};
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

/// How a log is read: the crate's walk over a stream (a zip entry), each chunk copied by its
/// job through the source's lock (bytes in memory), or at its offset in a file on disk.
#[derive(Clone, Copy)]
enum How {
    Streamed,
    Positional,
    File,
}

fuzz_target!(|data: &[u8]| {
    let read = |how: How| {
        let (mut events, mut got) = (Vec::new(), None);
        common::with_emit_checked(
            FileFormat::Evtx,
            rdtriage::ingest::Limits::default().csv_fields,
            |emit, account| {
                let len = data.len() as u64;
                let bytes = std::io::Cursor::new(data);
                match how {
                    How::Streamed => read_evtx(bytes, len, Walk::Streamed, emit, account),
                    How::Positional => read_evtx(bytes, len, Walk::Positional, emit, account),
                    How::File => {
                        // One file per fuzzing process, written again for each input.
                        let path = std::env::temp_dir()
                            .join(format!("rdtriage-fuzz-evtx-{}", std::process::id()));
                        std::fs::write(&path, data).expect("the input written to a file");
                        let file = std::fs::File::open(&path).expect("the file opened");
                        read_evtx_file(file, len, emit, account);
                        // Gone when the target stops, as far as it can be.
                        let _ = std::fs::remove_file(&path);
                    }
                }
                got = Some(account.clone());
            },
            |e| events.push(format!("{e:?}")),
        );
        (events, got)
    };
    let walked = read(How::Streamed);
    for (how, name) in [(How::Positional, "in memory"), (How::File, "from a file")] {
        let planned = read(how);
        assert_eq!(
            walked.1, planned.1,
            "read {name}, the walks account differently"
        );
        assert!(
            walked.0 == planned.0,
            "read {name}, the walks give different events"
        );
    }
    let limits = XmlLimits {
        depth: 16,
        elements: 256,
    };
    if let Err(e) = direct_matches_rendering(std::io::Cursor::new(data), &limits) {
        panic!("{e}");
    }
});
