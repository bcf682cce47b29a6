#![no_main]
//! The Procmon CSV record cap on arbitrary bytes: with a record bound of 256 bytes and 16
//! fields, no row handed on holds more than that, quoted line breaks or not, and the account
//! adds up (see `common::with_emit`). The input is read as UTF-8 or, behind a UTF-16LE
//! byte-order mark, as UTF-16.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::procmon::read_procmon;
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

const HEADER: &[u8] = b"\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n";

fuzz_target!(|data: &[u8]| {
    // A valid header first (most of the time), so the rows behind it are what is fuzzed.
    let mut input = Vec::new();
    if data.first().is_some_and(|b| b % 4 != 0) {
        input.extend_from_slice(HEADER);
    }
    input.extend_from_slice(data);
    let max_row = 256u64;
    common::with_emit_checked(
        FileFormat::ProcmonCsv,
        16,
        |emit, account| read_procmon(&input[..], max_row, emit, account),
        |event| {
            if let Some(p) = event.procmon() {
                let bytes = p.process.len()
                    + p.operation.len()
                    + p.path().len()
                    + p.result.len()
                    + p.detail_raw().len()
                    + p.columns.iter().map(|(_, v)| v.len()).sum::<usize>();
                // UTF-8 text of a UTF-16 input, lossy replacements included, is at most 3/2
                // as long as its bytes; plus the field's U+FFFD growth on invalid UTF-8.
                assert!(bytes as u64 <= max_row * 3, "a row of {bytes} bytes passed the cap");
            }
        },
    );
});
