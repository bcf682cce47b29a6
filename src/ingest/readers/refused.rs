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
        return;
    }
    let head = input.head(KIND_BYTES).unwrap_or_default();
    let relist = relisting(&input.name, &head);
    let hint = encoding_hint(head.get(..HINT_BYTES).unwrap_or(&head), relist);
    if let Some(side) = bundle::describe_unread(&input.name) {
        account.format = FileFormat::Collected;
        let mut what = side.text();
        if let Some(hint) = hint {
            what.push_str("; ");
            what.push_str(&hint);
        }
        if input.named {
            account.fail(Problem::Failed(what));
        } else {
            account.skip(what);
        }
    } else {
        let mut what = "not EVTX (no ElfFile signature), not a Process Monitor CSV (no Procmon header), not event-log XML and not a zip".to_string();
        if let Some(hint) = hint {
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

/// Bytes of an unread input looked at to tell its encoding.
const HINT_BYTES: usize = 64;
/// Bytes of an unread input looked at to tell what kind of collector listing it is.
const KIND_BYTES: usize = 4096;

/// How to list again a collector's listing that was not read, told by its words (whatever
/// its encoding) or else its name: a netstat listing, a registry export, an ACL dump or a
/// certificate listing. `None` for anything else (a Process Monitor or Event Viewer export).
///
/// The advice on text in an encoding not read had named Process Monitor and Event Viewer for
/// every file: wrong for a netstat listing or a `.reg` file, which neither writes.
fn relisting(name: &str, head: &[u8]) -> Option<&'static str> {
    const NETSTAT: &str = "list the sockets again with `netstat -anob > netstat.txt`";
    const REGISTRY: &str = "export the key again with `reg export <key> <file>.reg` (UTF-16LE with its byte-order mark)";
    const ACL: &str = "list the permissions again with `Get-Acl <path> | Format-List > acl.txt` (Windows PowerShell writes UTF-16LE with its byte-order mark)";
    const CERTIFICATES: &str = "list the store again with `certutil -store My > certificates.txt`";
    // The head's ASCII text: UTF-16 and UTF-32 put zero bytes between its letters.
    let words: String = head
        .iter()
        .filter(|b| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7E))
        .map(|&b| char::from(b))
        .collect();
    let has = |w: &str| words.contains(w);
    let access_line = words
        .split(['\r', '\n'])
        .any(|l| l.starts_with("Access") && (l.contains(" Allow ") || l.contains(" Deny ")));
    let socket_line = words.split(['\r', '\n']).any(|l| {
        let mut w = l.split_whitespace();
        match w.next() {
            Some("Proto") => true,
            Some("TCP" | "UDP") => w.next().is_some_and(|a| a.contains(':')),
            _ => false,
        }
    });
    let base = name.rsplit(['/', '\\', '!']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    let token = |t: &str| {
        lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w.starts_with(t))
    };
    if socket_line {
        Some(NETSTAT)
    } else if has("Windows Registry Editor") || has("REGEDIT4") {
        Some(REGISTRY)
    } else if access_line
        || has("IdentityReference")
        || has("FileSystemRights")
        || has("RegistryRights")
    {
        Some(ACL)
    } else if has("Cert Hash(sha1)") || has("================ Certificate") {
        Some(CERTIFICATES)
    } else if token("netstat") {
        Some(NETSTAT)
    } else if lower.ends_with(".reg") {
        Some(REGISTRY)
    } else if token("acl") {
        Some(ACL)
    } else if token("certificates") || token("certutil") {
        Some(CERTIFICATES)
    } else {
        None
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
///
/// `relist`: how to list again the collector listing the text is ([`relisting`]), named
/// instead of Process Monitor and Event Viewer. Those listings are read in UTF-16BE with its
/// mark: when one is, its encoding is not why it was not read.
fn encoding_hint(head: &[u8], relist: Option<&str>) -> Option<String> {
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
    let or_relist = relist.map(|r| format!("; or {r}")).unwrap_or_default();
    if let Some(what) = utf32 {
        return Some(format!("it {what}: {ADVICE}{or_relist}"));
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
                "it starts with a UTF-8 byte-order mark followed by {order} (a UTF-8 mark added to UTF-16 text): save it again as UTF-8, or as UTF-16 with only its own mark{or_relist}"
            )
        });
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        if relist.is_some() {
            return None;
        }
        Some("it is UTF-16 big-endian text (its byte-order mark says so), and only UTF-8 and UTF-16 little-endian (what Process Monitor and Event Viewer write) are read: save it again as either".into())
    } else {
        utf16_without_mark(head).map(|order| match relist {
            Some(relist) => format!(
                "it looks like UTF-16 ({order}) text without a byte-order mark: {relist}, or save it again as UTF-8, or as UTF-16LE with its mark"
            ),
            None => format!(
                "it looks like UTF-16 ({order}) text without a byte-order mark, which Process Monitor and Event Viewer always write: save it again as UTF-8, or as UTF-16 with its mark"
            ),
        })
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
