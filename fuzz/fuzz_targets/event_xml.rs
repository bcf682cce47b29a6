#![no_main]
//! Event-log XML on arbitrary text: no panic, no entity expansion, bounded depth; and wherever
//! the fast path for rendered EVTX records accepts the text, it agrees with the general reader.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::eventxml::{XmlLimits, read_events, read_rendered_fast};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let limits = XmlLimits {
        depth: 16,
        elements: 64,
    };
    let mut events = Vec::new();
    let mut errors = 0usize;
    read_events(&text, &limits, &mut |e| events.push(e), &mut |_| errors += 1);
    assert!(events.len() <= text.len());
    if let Some(fast) = read_rendered_fast(&text, &limits) {
        assert_eq!(errors, 0, "the fast path accepted what the general reader refused");
        assert_eq!(events, [fast]);
    }
});
