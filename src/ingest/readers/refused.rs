//! The formats that are recognised only to be refused, each with what to give instead; and
//! what is said of an input no reader recognises (empty, unknown, a collector's side file).

use super::{Head, Reader};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, bundle, procmon};
use crate::model::{FileAccount, FileFormat, Problem};

/// A format that is recognised and not read, with the advice its account carries.
pub struct Refused {
    format: FileFormat,
    recognise: fn(&Head<'_>) -> bool,
    /// Why it is not read; for a skip, what to give instead.
    advice: &'static str,
    /// Failed (something went wrong) rather than skipped (not an input this tool reads), even
    /// when found in a folder; named on the command line, every refused format fails.
    failed: bool,
}

impl Reader for Refused {
    fn format(&self) -> FileFormat {
        self.format
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        (self.recognise)(head)
    }

    fn read(&self, input: &Input, _: &mut Emit<'_>, account: &mut FileAccount) {
        // Named on the command line itself, it was meant to be read: a failure (exit 3), as a
        // named file no reader recognises is ([`unrecognised`]); found in a folder, a skip.
        if self.failed || input.named {
            account.fail(Problem::Failed(self.advice.to_string()));
        } else {
            account.skip(self.advice);
        }
    }
}

/// A zip is opened at discovery ([`crate::ingest::zipdir`]) and its entries become inputs; one
/// that reaches a reader was not.
pub static ZIP: Refused = Refused {
    format: FileFormat::Zip,
    recognise: |h| h.bytes.starts_with(b"PK\x03\x04") || h.bytes.starts_with(b"PK\x05\x06"),
    advice: "a zip that was not opened at discovery",
    failed: true,
};

pub static PROCMON_STACK: Refused = Refused {
    format: FileFormat::ProcmonStack,
    recognise: |h| procmon::STACK_HEADER.iter().all(|c| h.has_column(c)),
    advice: "a Process Monitor stack export (Frame, Module, Location, Address, Path), not an event list: in Process Monitor use File > Save > CSV on the event list instead",
    failed: false,
};

pub static EVENT_VIEWER_CSV: Refused = Refused {
    format: FileFormat::EventViewerCsv,
    recognise: |h| {
        ["Level", "Date and Time", "Source", "Event ID"]
            .iter()
            .all(|c| h.has_column(c))
    },
    advice: "an Event Viewer CSV export (level, time, source, event id and message text only, no event fields): save the log as .evtx (or XML) instead",
    failed: false,
};

/// An input no reader recognised: empty, a collector's file that is not read, or unknown.
/// A name that claims to be an input (`.evtx`, `.csv`, ...), or a file named on the command
/// line itself, makes it a failure (the user meant it to be read), not a skip.
pub(super) fn unrecognised(input: &Input, format: FileFormat, account: &mut FileAccount) {
    let claimed = input.named || claims_to_be_input(&input.name);
    if format == FileFormat::Empty {
        let why = "empty file (0 bytes)";
        if claimed {
            account.fail(Problem::Failed(why.into()));
        } else {
            account.skip(why);
        }
    } else if let Some(side) = bundle::describe_unread(&input.name) {
        account.format = FileFormat::Collected;
        if input.named {
            account.fail(Problem::Failed(side.text()));
        } else {
            account.skip(side.text());
        }
    } else {
        let mut what = "not EVTX (no ElfFile signature), not a Process Monitor CSV (no Procmon header), not event-log XML and not a zip".to_string();
        let head = input.head(64).unwrap_or_default();
        if let Some(hint) = encoding_hint(&head) {
            what.push_str("; ");
            what.push_str(&hint);
        }
        if claimed {
            account.fail(Problem::Failed(format!("unreadable content: {what}")));
        } else {
            account.skip(what);
        }
    }
}

/// What the encoding of a text `head` that no reader recognised is, when it is one that is not
/// read: UTF-16 big-endian, UTF-16 without its mark, UTF-32 (with or without a mark), or a
/// UTF-8 mark written before UTF-16 text (an editor that added a mark to UTF-16 text it took
/// for UTF-8).
///
/// `FF FE 00 00` is taken for UTF-32LE's mark, not for UTF-16LE's followed by a NUL character:
/// no text this tool reads starts with a NUL (XML forbids it, a reg export starts with its
/// header), while UTF-32LE text starts just so.
fn encoding_hint(head: &[u8]) -> Option<String> {
    const ADVICE: &str = "rdtriage reads UTF-8 and UTF-16: save it as UTF-8 or UTF-16";
    let marks = bundle::utf8_marks(head);
    let rest = &head[marks..];
    let utf32 = if rest.starts_with(&[0xFF, 0xFE, 0, 0]) {
        Some("starts with a UTF-32LE byte-order mark")
    } else if rest.starts_with(&[0, 0, 0xFE, 0xFF]) {
        Some("starts with a UTF-32BE byte-order mark")
    } else {
        utf32_without_mark(rest)
    };
    if let Some(what) = utf32 {
        return Some(format!("it {what}: {ADVICE}"));
    }
    if marks > 0 {
        // A UTF-8 mark before UTF-16 text: the text is UTF-16, whatever its first bytes say.
        let order = if rest.starts_with(&[0xFF, 0xFE]) {
            Some("UTF-16LE text with its own byte-order mark")
        } else if rest.starts_with(&[0xFE, 0xFF]) {
            Some("UTF-16BE text with its own byte-order mark")
        } else {
            match utf16_without_mark(rest) {
                Some("little-endian") => Some("UTF-16LE text without its own byte-order mark"),
                Some(_) => Some("UTF-16BE text without its own byte-order mark"),
                None => None,
            }
        };
        return order.map(|order| {
            format!(
                "it starts with a UTF-8 byte-order mark followed by {order} (a UTF-8 mark added to UTF-16 text): save it again as UTF-8, or as UTF-16 with only its own mark"
            )
        });
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        Some("it is UTF-16 big-endian text (its byte-order mark says so), and only UTF-8 and UTF-16 little-endian (what Process Monitor and Event Viewer write) are read: save it again as either".into())
    } else {
        utf16_without_mark(head).map(|order| format!(
            "it looks like UTF-16 ({order}) text without a byte-order mark, which Process Monitor and Event Viewer always write: save it again as UTF-8, or as UTF-16 with its mark"
        ))
    }
}

/// Whether `head` reads as UTF-32 text with no byte-order mark, and in which order: at least 4
/// characters, nearly all ASCII text with three zero bytes each.
fn utf32_without_mark(head: &[u8]) -> Option<&'static str> {
    let units: Vec<&[u8]> = head.chunks_exact(4).collect();
    if units.len() < 4 {
        return None;
    }
    let text = |b: u8| b == b'\t' || b == b'\r' || b == b'\n' || (0x20..0x7F).contains(&b);
    let mostly =
        |f: &dyn Fn(&[u8]) -> bool| units.iter().filter(|u| f(u)).count() * 8 >= units.len() * 7;
    if mostly(&|u| text(u[0]) && u[1..] == [0, 0, 0]) {
        Some("looks like UTF-32LE text without a byte-order mark")
    } else if mostly(&|u| u[..3] == [0, 0, 0] && text(u[3])) {
        Some("looks like UTF-32BE text without a byte-order mark")
    } else {
        None
    }
}

/// Which byte order `head` reads as UTF-16 text in, when it starts with no byte-order mark:
/// nearly every other byte zero and the rest ASCII (Latin text, as log headers are).
fn utf16_without_mark(head: &[u8]) -> Option<&'static str> {
    let pairs: Vec<[u8; 2]> = head.chunks_exact(2).map(|p| [p[0], p[1]]).collect();
    if pairs.len() < 8 || head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return None;
    }
    let text = |b: u8| b == b'\t' || b == b'\r' || b == b'\n' || (0x20..0x7F).contains(&b);
    let mostly =
        |f: &dyn Fn(&[u8; 2]) -> bool| pairs.iter().filter(|p| f(p)).count() * 8 >= pairs.len() * 7;
    if mostly(&|p| p[1] == 0 && text(p[0])) {
        Some("little-endian")
    } else if mostly(&|p| p[0] == 0 && text(p[1])) {
        Some("big-endian")
    } else {
        None
    }
}

/// Extensions that say the user meant the file as an input: unreadable content is then a
/// failure, not a skip.
pub(crate) fn claims_to_be_input(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".evtx", ".csv", ".xml", ".zip", ".pml"]
        .iter()
        .any(|e| lower.ends_with(e))
}

#[cfg(test)]
mod utf16_tests {
    use super::utf16_without_mark;

    /// UTF-16 text with no mark is told apart in either byte order; with its mark, or as
    /// UTF-8 or binary, it is not.
    #[test]
    fn utf16_without_a_mark_is_recognised_in_either_order() {
        let text = "\"Time of Day\",\"Process Name\",\"PID\"\r\n";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(utf16_without_mark(&le), Some("little-endian"));
        assert_eq!(utf16_without_mark(&be), Some("big-endian"));
        let marked = [&[0xFF, 0xFE][..], &le].concat();
        assert_eq!(utf16_without_mark(&marked), None);
        assert_eq!(utf16_without_mark(text.as_bytes()), None);
        assert_eq!(utf16_without_mark(&[0u8; 64]), None);
        assert_eq!(utf16_without_mark(b"ElfFile\0"), None);
    }
}
