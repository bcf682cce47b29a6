//! The bounds on untrusted input, in one place: every one has a flag to raise it (`cli.rs`
//! maps the flags here), and the README's "Hostile input: limits" table lists them all.

use super::eventxml::XmlLimits;

/// Resource bounds for untrusted input. Every one has a flag to raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total uncompressed bytes read out of zips in one run (or one batch ticket): every zip
    /// and nested zip draws on the same budget.
    pub zip_total_bytes: u64,
    /// Zip entries in one run (or one batch ticket), every zip and nested zip included.
    pub zip_entries: usize,
    /// How many zips deep a zip may hold zips (a top-level zip is depth 1).
    pub zip_depth: usize,
    /// Largest zip held in memory: a zip inside a zip (a zip on disk is read where it lies,
    /// its central directory found from the end).
    pub file_bytes: u64,
    /// Longest CSV record in bytes, quoted line breaks included: a bound on one row's memory.
    pub csv_row_bytes: u64,
    /// Most fields in one CSV record, the header included.
    pub csv_fields: usize,
    /// Largest event-log XML export (read whole: it is small next to the EVTX it came from).
    pub xml_bytes: u64,
    /// Deepest element nesting in event-log XML.
    pub xml_depth: usize,
    /// Most elements in one event of event-log XML (or one rendered EVTX record).
    pub xml_elements: usize,
    /// Largest text of one EVTX record, in bytes: what is read from its template, or its XML
    /// rendering (the `evtx` crate stops at 16 MiB). A record is at most 64 KiB of BinXML;
    /// its text can be far more only through its templates.
    pub evtx_record_bytes: u64,
    /// Most the records of one EVTX chunk (64 KiB) may expand to together, in bytes: what
    /// their events hold, and 4 bytes per element, attribute or text visited. Records share
    /// their chunk's templates: hundreds of small records can each instance one that expands
    /// to megabytes. Past it, the chunk's other records are refused, each named. A chunk may
    /// always hold one record of [`Limits::evtx_record_bytes`] (see [`Limits::evtx_chunk`]).
    pub evtx_chunk_bytes: u64,
    /// Most events one analysis keeps in memory (those some rule can use): a bound on memory
    /// when every row of a huge trace matches. Events past it are counted, not kept.
    pub kept_events: usize,
    /// Most bytes the kept events may hold (their texts and fields): a bound on memory when a
    /// few events carry huge text. Past it, the largest events no anchor needs go first.
    pub kept_bytes: u64,
    /// Not a bound but a policy: follow symlinks found inside folders (files and folders
    /// alike; a folder already walked is not walked again). Off, they are listed, not read.
    pub follow_symlinks: bool,
    /// Drop EVTX chunks whose checksums do not match their bytes (by default they are read;
    /// they are named either way).
    pub refuse_bad_evtx_chunks: bool,
}

impl Limits {
    /// What the records of one EVTX chunk may expand to: `--max-evtx-chunk-bytes`, or one
    /// record's worth when `--max-evtx-record-bytes` is more (raising it alone reads the
    /// record it was raised for).
    pub fn evtx_chunk(&self) -> u64 {
        self.evtx_chunk_bytes.max(self.evtx_record_bytes)
    }

    pub fn xml(&self) -> XmlLimits {
        XmlLimits {
            depth: self.xml_depth,
            elements: self.xml_elements,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            zip_total_bytes: 4 << 30,
            zip_entries: 10_000,
            zip_depth: 3,
            file_bytes: 4 << 30,
            csv_row_bytes: 64 << 20,
            csv_fields: 1024,
            xml_bytes: 128 << 20,
            xml_depth: XmlLimits::default().depth,
            xml_elements: XmlLimits::default().elements,
            evtx_record_bytes: 1 << 20,
            evtx_chunk_bytes: 1 << 20,
            kept_events: 100_000,
            kept_bytes: 1 << 30,
            follow_symlinks: false,
            refuse_bad_evtx_chunks: false,
        }
    }
}
