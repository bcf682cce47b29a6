//! Formats as readers: each input format is one file here, behind one small trait
//! ([`Reader`]: recognise the first bytes, read into events), registered in [`READERS`].
//!
//! The format of an input is decided by its content, never by its extension: the first reader
//! in [`READERS`] that recognises the head wins, so the order is the precedence (a Process
//! Monitor stack export has columns a Procmon CSV also has, so it is asked first). Formats that
//! are recognised only to be refused, with advice on what to give instead, are in
//! [`refused`]. Adding a format = one new file with a [`Reader`] + one line in [`READERS`] (and
//! its [`FileFormat`] name).

mod acl_dump;
mod cert_listing;
mod event_xml;
mod evtx_file;
mod netstat_listing;
mod pml_file;
mod procmon_csv;
pub(crate) mod refused;
mod reg_export;

use std::cell::OnceCell;
use std::sync::Arc;

use super::discover::Input;
use super::{Emit, IngestOptions, bundle};
use crate::model::{Event, FileAccount, FileFormat, Problem};

pub use event_xml::utf8_lossy_counted;

/// Bytes looked at to decide a format.
pub(crate) const SNIFF_BYTES: usize = 8192;

/// The start of an input, as the readers look at it. Its text forms are worked out when a
/// reader first asks: the binary formats, asked first, look at the bytes alone, and 8 KiB of
/// binary decoded as lossy text cost more than reading the format's magic (about 0.1 ms per
/// file, and every input is sniffed twice: by the check for CSV exports of PML captures too).
pub struct Head<'a> {
    /// The raw first bytes (at most [`SNIFF_BYTES`]).
    pub bytes: &'a [u8],
    text: OnceCell<String>,
    collector_text: OnceCell<String>,
    columns: OnceCell<Vec<String>>,
}

impl<'a> Head<'a> {
    pub fn new(bytes: &'a [u8]) -> Head<'a> {
        Head {
            bytes,
            text: OnceCell::new(),
            collector_text: OnceCell::new(),
            columns: OnceCell::new(),
        }
    }

    /// The bytes as text: UTF-16LE after its byte-order mark, else UTF-8 (lossy, BOM dropped).
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| {
            let bytes = self.bytes;
            if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
                let units: Vec<u16> = rest
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
                    .into_owned()
            }
        })
    }

    /// The text as a collector writes it (a `reg export`, an ACL listing: UTF-16 or UTF-8).
    pub fn collector_text(&self) -> &str {
        self.collector_text
            .get_or_init(|| bundle::decode_head(self.bytes))
    }

    /// Whether the first line, split at commas, has a column named exactly `name` (each name
    /// trimmed of spaces and quotes).
    pub fn has_column(&self, name: &str) -> bool {
        let columns = self.columns.get_or_init(|| {
            self.text()
                .lines()
                .next()
                .unwrap_or("")
                .split(',')
                .map(|f| f.trim().trim_matches('"').to_string())
                .collect()
        });
        columns.iter().any(|c| c == name)
    }
}

/// One input format.
pub trait Reader: Sync {
    /// The format this reader reads (or refuses).
    fn format(&self) -> FileFormat;
    /// Whether an input starting with `head` is in this format.
    fn recognise(&self, head: &Head<'_>) -> bool;
    /// Read `input` into events (handed to `emit`) and its account.
    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount);
}

/// Every format, in the order they are asked to recognise an input.
pub static READERS: &[&dyn Reader] = &[
    &evtx_file::Evtx,
    &pml_file::Pml,
    &refused::ZIP,
    &reg_export::RegExport,
    &acl_dump::AclDump,
    &cert_listing::CertListing,
    &netstat_listing::NetstatListing,
    &event_xml::EventXml,
    &refused::PROCMON_STACK,
    &refused::EVENT_VIEWER_CSV,
    &procmon_csv::ProcmonCsv,
];

fn reader_of(head: &[u8]) -> Option<&'static dyn Reader> {
    if head.is_empty() {
        return None;
    }
    let head = Head::new(head);
    READERS.iter().copied().find(|r| r.recognise(&head))
}

/// Decide an input's format from its first bytes.
pub fn sniff(head: &[u8]) -> FileFormat {
    if head.is_empty() {
        return FileFormat::Empty;
    }
    reader_of(head).map_or(FileFormat::Unknown, |r| r.format())
}

/// Read one input with the reader its first bytes call for.
pub(super) fn read_input(
    input: &Input,
    opts: &IngestOptions<'_>,
    pool: &rayon::ThreadPool,
    send: &mut dyn FnMut(Vec<Event>),
) -> FileAccount {
    let file: Arc<str> = Arc::from(input.name.as_str());
    let head = match input.head(SNIFF_BYTES) {
        Ok(h) => h,
        Err(e) => {
            return FileAccount::failed(
                input.name.clone(),
                FileFormat::Unknown,
                Problem::Failed(format!("cannot read: {e}")),
            );
        }
    };
    let reader = reader_of(&head);
    let format = match reader {
        Some(r) => r.format(),
        None if head.is_empty() => FileFormat::Empty,
        None => FileFormat::Unknown,
    };
    let mut account = FileAccount::new(input.name.clone(), format);
    let mut emit = Emit {
        file: &file,
        keep: opts.keep,
        keep_reads_record: opts.keep_reads_record,
        send,
        pool,
        limits: &opts.limits,
        columns: &opts.columns,
    };
    match reader {
        Some(r) => r.read(input, &mut emit, &mut account),
        None => refused::unrecognised(input, format, &mut account),
    }
    account
}

/// A reader's failure to get at its input's bytes: nothing was read (refused at a limit, or
/// failed).
fn fail(account: &mut FileAccount, why: super::discover::InputError) {
    account.fail(why.into());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary formats are told by their bytes: sniffing an EVTX or a PML header never
    /// decodes the head as text. A text format still is, when it is asked.
    #[test]
    fn binary_heads_are_not_decoded_as_text() {
        for (magic, format) in [
            (&b"ElfFile\0"[..], FileFormat::Evtx),
            (&b"PML_"[..], FileFormat::ProcmonPml),
        ] {
            let mut bytes = magic.to_vec();
            bytes.resize(SNIFF_BYTES, 0x9c);
            let head = Head::new(&bytes);
            let reader = READERS.iter().copied().find(|r| r.recognise(&head));
            assert_eq!(reader.map(|r| r.format()), Some(format));
            assert!(head.text.get().is_none(), "{format:?}: text decoded");
            assert!(head.collector_text.get().is_none(), "{format:?}");
            assert!(head.columns.get().is_none(), "{format:?}");
        }
        let csv = b"\"Time of Day\",\"Process Name\",\"PID\"\r\n";
        let format_of = |text: &str| {
            let head = Head::new(text.as_bytes());
            READERS
                .iter()
                .copied()
                .find(|r| r.recognise(&head))
                .map(|r| r.format())
        };
        // An event export is told by its first element, whatever comes before it.
        for export in [
            "<Events><Event>",
            "\r\n <?xml version=\"1.0\"?>\r\n<Event xmlns='x'>",
            "<?xml version=\"1.0\"?><!-- wevtutil qe System /f:xml --><?pi x?>\n<Events>",
            "<!-- a -- b --><Event>",
            "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><Events><Event>",
        ] {
            assert_eq!(format_of(export), Some(FileFormat::EventXml), "{export}");
        }
        for other in [
            "<?xml version=\"1.0\"?><Task><Triggers><EventTrigger>",
            "<!-- never closed <Events>",
            "<?xml version=\"1.0\"?><!-- <Events> --><Report/>",
        ] {
            assert_ne!(format_of(other), Some(FileFormat::EventXml), "{other}");
        }
        let head = Head::new(csv);
        assert!(head.has_column("Process Name"));
        assert_eq!(head.text().lines().count(), 1);
    }
}
