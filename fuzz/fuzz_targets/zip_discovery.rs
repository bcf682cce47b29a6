#![no_main]
//! Zip discovery on arbitrary bytes under tight bounds: refused or listed, never a panic, and
//! every listed entry can be read (or refused) within the bounds.
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Seek, SeekFrom};

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
        ..Limits::default()
    };
    for found in discover(std::slice::from_ref(&path), &limits) {
        if let Found::Input(input) = found {
            let _ = input.head(64);
            if let Ok(bytes) = input.read_all(limits.file_bytes, "--max-file-bytes") {
                assert!(bytes.len() as u64 <= limits.file_bytes);
            }
            // The streams never yield more than the declared size, seeking or not.
            if let Ok((mut s, len)) = input.open_seekable() {
                let mut all = Vec::new();
                if s.read_to_end(&mut all).is_ok() {
                    assert!(all.len() as u64 <= len);
                }
                let _ = s.seek(SeekFrom::Start(len / 2));
                let _ = s.read(&mut [0u8; 64]);
                let _ = s.seek(SeekFrom::Start(1));
                let _ = s.read(&mut [0u8; 64]);
            }
            let size = input.size();
            let _ = input.with_reader(|r| {
                let mut n = 0u64;
                let mut buf = [0u8; 4096];
                while let Ok(k) = r.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    n += k as u64;
                }
                assert!(size.is_none_or(|s| n <= s));
            });
        }
    }
});
