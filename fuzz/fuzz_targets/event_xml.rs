#![no_main]
//! Event-log XML on arbitrary text: no panic, no entity expansion, bounded depth.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::eventxml::read_events;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut events = 0usize;
    read_events(&text, &mut |_| events += 1, &mut |_| {});
    assert!(events <= text.len());
});
