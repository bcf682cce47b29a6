//! Every input a fuzz target (`fuzz/`) failed on, kept under `fixtures/fuzz/<target>/` and
//! checked here the way the target checks it, so a fixed failure stays fixed.

use crate::common;

use rdtriage::ingest::eventxml::{XmlLimits, read_events, read_rendered_fast};
use rdtriage::ingest::evtx::direct_matches_rendering;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = common::fixtures().join("fuzz").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// `fuzz/fuzz_targets/event_xml.rs`: wherever the fast path for rendered records accepts a
/// text, the general reader reads the same single event without error.
#[test]
fn event_xml_fast_path_agrees_with_the_general_reader() {
    let found = inputs("event_xml");
    assert!(!found.is_empty());
    for (name, data) in found {
        let text = String::from_utf8_lossy(&data);
        let limits = XmlLimits {
            depth: 16,
            elements: 64,
        };
        let mut events = Vec::new();
        let mut errors = Vec::new();
        read_events(&text, &limits, &mut |e| events.push(e), &mut |e| {
            errors.push(e.to_string())
        });
        if let Some(fast) = read_rendered_fast(&text, &limits) {
            assert!(
                errors.is_empty(),
                "{name}: fast path accepted, general: {errors:?}"
            );
            assert_eq!(events, [fast], "{name}");
        }
    }
}

/// `fuzz/fuzz_targets/evtx_file.rs`: every record the direct BinXML reader reads gives the event
/// rendering it gives (and ingest does not panic; `tests/hostile.rs` covers the accounts).
#[test]
fn evtx_direct_reader_agrees_with_rendering() {
    let found = inputs("evtx_file");
    assert!(!found.is_empty());
    for (name, data) in found {
        let read = common::ingest_one(&name);
        assert_eq!(read.accounts.len(), 1, "{name}");
        let limits = XmlLimits {
            depth: 16,
            elements: 256,
        };
        if let Err(e) = direct_matches_rendering(std::io::Cursor::new(&data), &limits) {
            panic!("{name}: {e}");
        }
    }
}
