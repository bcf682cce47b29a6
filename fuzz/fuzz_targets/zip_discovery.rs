#![no_main]
//! Zip discovery on arbitrary bytes under tight bounds: refused or listed, never a panic, and
//! every listed entry can be read (or refused) within the bounds.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::discover::{Found, Limits, discover};

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("rdtriage-fuzz-{}.zip", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let limits = Limits {
        zip_total_bytes: 1 << 20,
        zip_entries: 64,
        zip_depth: 2,
        file_bytes: 1 << 20,
        csv_row_bytes: 4096,
    };
    for found in discover(std::slice::from_ref(&path), &limits) {
        if let Found::Input(input) = found {
            let _ = input.head(64);
            if let Ok(bytes) = input.read_all(limits.file_bytes) {
                assert!(bytes.len() as u64 <= limits.file_bytes);
            }
        }
    }
});
