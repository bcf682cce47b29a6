//! Zip archives → their entries as inputs, within one budget per run.
//!
//! A zip on disk is read where it lies: its central directory is found from the end, and
//! entries are read at their offsets (`pread`), so a file that merely starts with `PK\3\4` costs
//! nothing and a large zip is never held in memory. A zip inside a zip is held in memory,
//! bounded by `--max-file-bytes`, only while it is read: its bytes are held by the streams
//! reading it and kept by the last thread that read from it ([`NestedZip`]), so a run holds
//! about one nested zip per reading thread, not every nested zip it found. Every zip of a run (or of one batch ticket), nested ones
//! included, draws on one [`ZipBudget`] of entries and declared uncompressed bytes, so four
//! bombs cost no more than one. Each entry is accounted for: entries whose bytes overlap an
//! earlier entry's (a bomb made of one body named many times) are refused by name, entries
//! with the same name get their own account (`a.zip!/x#2`), and a "folder" entry that holds
//! data is read like a file.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use zip::ZipArchive;

use super::Limits;
use super::SNIFF_BYTES;
use super::at::{read_at, seek_target};
use super::discover::{Found, Input, InputData, failed};
use super::error::InputError;
use super::zipentry::{EntryError, EntryStream, Location, is_deflated};
use crate::model::{FileAccount, FileFormat, Problem};

/// A zip's bytes: on disk, or in memory (a zip inside a zip, while it is read).
#[derive(Clone)]
pub enum ZipSource {
    /// `Arc<Vec<u8>>`, not `Arc<[u8]>`: the vector the zip was inflated into is shared as it
    /// is (making an `Arc<[u8]>` of it copies every byte, twice the zip at the peak).
    Memory(Cursor<HeldBytes>),
    File(SharedFile),
    /// A zip inside a zip, by where it lies: what its entries keep, so that its bytes are
    /// held only while read. Not readable as such: a stream resolves it to [`ZipSource::Memory`]
    /// when it opens.
    Nested(Arc<NestedZip>),
}

/// A nested zip's bytes, shared: the vector it was inflated into, never copied.
#[derive(Clone)]
pub struct HeldBytes(pub Arc<Vec<u8>>);

impl AsRef<[u8]> for HeldBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A zip inside a zip, found and listed, whose bytes are inflated when one of its entries is
/// read and let go once nothing reads from it.
///
/// Its bytes are held by every open stream on one of its entries and by the last thread that
/// opened one (kept from one entry to the next, so a thread reading a zip's entries in order,
/// as inputs are read, inflates it once); a thread that opens an entry of another nested zip
/// lets go of this one. So a run holds, besides the streams open, at most one nested zip per
/// thread that read one (and the zips being inflated, one per nesting level), never every
/// nested zip it found; and the bytes go when the last entry of the zip is dropped, whichever
/// thread kept them. An entry read after its zip was let go inflates the zip again: nothing
/// is kept that memory cannot afford.
pub struct NestedZip {
    /// Its entry in the zip that holds it.
    at: Location,
    held: Mutex<Held>,
    /// How many times it was inflated (see [`Self::times_inflated`]).
    inflated: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Held {
    /// Its bytes, while anything holds them.
    bytes: Weak<Vec<u8>>,
    /// Its bytes kept for the threads whose last nested zip it is, and how many they are.
    kept: Option<Arc<Vec<u8>>>,
    kept_by: usize,
}

thread_local! {
    /// The nested zip this thread read from last (its bytes kept in its [`Held::kept`]).
    static LAST_NESTED: RefCell<Weak<NestedZip>> = const { RefCell::new(Weak::new()) };
}

impl NestedZip {
    /// The zip that is the entry `at` (its size checked against `--max-file-bytes`).
    pub fn new(at: Location) -> NestedZip {
        NestedZip {
            at,
            held: Mutex::new(Held::default()),
            inflated: Default::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Its bytes: those something holds, else inflated from the zip it lies in (itself had
    /// the same way, not kept). Threads asking at once wait for one inflation. Locks are
    /// taken from a zip to the zip it lies in, never the other way.
    pub fn bytes(&self) -> Result<Arc<Vec<u8>>, InputError> {
        let mut held = self.held();
        if let Some(bytes) = held.bytes.upgrade() {
            return Ok(bytes);
        }
        self.inflated
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = Arc::new(self.at.read_whole()?);
        held.bytes = Arc::downgrade(&bytes);
        Ok(bytes)
    }

    /// Its bytes for a stream opened on this thread, kept for this thread's next stream
    /// until it opens one on another nested zip. The zip this thread kept before is let go
    /// first, before this one is inflated (after, when this one lies in it: it is needed).
    pub fn acquire(self: &Arc<Self>) -> Result<Arc<Vec<u8>>, InputError> {
        let last = LAST_NESTED.with(|l| l.borrow().upgrade());
        if let Some(last) = &last {
            if Arc::ptr_eq(last, self) {
                return self.bytes();
            }
            if !self.lies_in(last) {
                let_go_on_this_thread();
            }
        }
        let bytes = self.bytes()?;
        {
            let mut held = self.held();
            held.kept_by += 1;
            held.kept = Some(Arc::clone(&bytes));
        }
        let before = LAST_NESTED.with(|l| l.replace(Arc::downgrade(self)));
        if let Some(before) = before.upgrade() {
            before.let_go();
        }
        Ok(bytes)
    }

    /// Whether this zip lies in `other`, however deep.
    fn lies_in(&self, other: &Arc<NestedZip>) -> bool {
        let mut zip = self.at.zip();
        while let ZipSource::Nested(parent) = zip {
            if Arc::ptr_eq(parent, other) {
                return true;
            }
            zip = parent.at.zip();
        }
        false
    }

    /// How many times its bytes were inflated: once to list it, then again each time an
    /// entry is read while nothing holds them (what reading it costs in time).
    pub fn times_inflated(&self) -> u64 {
        self.inflated.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Its bytes in memory now (0 when nothing holds them).
    pub fn bytes_held(&self) -> u64 {
        self.held().bytes.upgrade().map_or(0, |b| b.len() as u64)
    }

    /// One thread less keeps its bytes.
    fn let_go(&self) {
        let mut held = self.held();
        held.kept_by = held.kept_by.saturating_sub(1);
        if held.kept_by == 0 {
            held.kept = None;
        }
    }
}

/// This thread keeps no nested zip's bytes any more (the others it read from are let go as
/// it moves on; this is for the last one, once a pass over the inputs is done).
pub fn let_go_on_this_thread() {
    let before = LAST_NESTED.with(|l| l.replace(Weak::new()));
    if let Some(before) = before.upgrade() {
        before.let_go();
    }
}

/// What reads a [`ZipSource::Nested`] as it is (a bug: streams resolve it first).
fn unresolved() -> io::Error {
    io::Error::other("internal error: a nested zip read without its bytes")
}

/// A file read at explicit offsets, so clones share one handle and never disturb each other.
#[derive(Clone)]
pub struct SharedFile {
    file: Arc<fs::File>,
    len: u64,
    pos: u64,
}

impl SharedFile {
    pub fn open(path: &std::path::Path) -> io::Result<SharedFile> {
        let file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(SharedFile {
            file: Arc::new(file),
            len,
            pos: 0,
        })
    }
}

impl Read for SharedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len {
            return Ok(0);
        }
        let n = read_at(&self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = seek_target(to, self.pos, || Ok(self.len))?;
        self.pos = target;
        Ok(target)
    }
}

impl Read for ZipSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ZipSource::Memory(c) => c.read(buf),
            ZipSource::File(f) => f.read(buf),
            ZipSource::Nested(_) => Err(unresolved()),
        }
    }
}

impl Seek for ZipSource {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self {
            ZipSource::Memory(c) => c.seek(to),
            ZipSource::File(f) => f.seek(to),
            ZipSource::Nested(_) => Err(unresolved()),
        }
    }
}

impl ZipSource {
    pub fn byte_len(&self) -> u64 {
        match self {
            ZipSource::Memory(c) => c.get_ref().0.len() as u64,
            ZipSource::File(f) => f.len,
            ZipSource::Nested(n) => n.at.len,
        }
    }
}

pub type Archive = ZipArchive<ZipSource>;

/// Why a whole zip is refused; its account gives the text.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("zips nested more than {limit} deep: refused (raise with --max-zip-depth)")]
    TooDeep { limit: usize },
    #[error(
        "holds {count} entries, more than the limit of {limit}: refused (raise with --max-zip-entries)"
    )]
    TooManyEntries { count: u64, limit: usize },
    /// Over what is left of the entries of a run whose other zips used some.
    #[error(
        "its {count} entries would take this run (or ticket) past the limit of {limit} zip entries, all its zips included: refused (raise with --max-zip-entries)"
    )]
    EntriesLeft { count: u64, limit: usize },
    #[error(
        "declares {declared} uncompressed bytes, over the {limit}-byte limit for all the zips of this run (or ticket), of which {left} bytes were left: refused (raise with --max-zip-bytes)"
    )]
    TooManyBytes {
        declared: u64,
        limit: u64,
        left: u64,
    },
    #[error("cannot read: {0}")]
    Read(#[source] io::Error),
    #[error("not a readable zip: {0}")]
    Unreadable(#[source] zip::result::ZipError),
    #[error("entry {index}: {source}")]
    Entry {
        index: usize,
        source: zip::result::ZipError,
    },
    #[error(
        "a zip of {size} bytes inside a zip, over the {limit}-byte limit for a zip held in memory: refused (raise with --max-file-bytes)"
    )]
    NestedTooBig { size: u64, limit: u64 },
    /// Same-named entries the zip crate hides, whose directory could not be read by hand.
    #[error(
        "its end record declares {declared} entries and {listed} have distinct names: the others could not be read from its central directory (over 64 MiB, or unreadable): not read"
    )]
    HiddenUnread { declared: u64, listed: usize },
    /// A zip inside a zip that could not be read into memory (the reason as the input gives it).
    #[error("{0}")]
    NestedUnread(#[source] super::error::InputError),
}

/// A zip refused by a limit is [`Problem::Refused`] with its flag; anything else failed it.
impl From<ArchiveError> for Problem {
    fn from(e: ArchiveError) -> Problem {
        let message = e.to_string();
        let refused = |limit: u64, flag| Problem::Refused {
            limit,
            flag,
            message: message.clone(),
        };
        match e {
            ArchiveError::TooDeep { limit } => refused(limit as u64, "--max-zip-depth"),
            ArchiveError::TooManyEntries { limit, .. }
            | ArchiveError::EntriesLeft { limit, .. } => refused(limit as u64, "--max-zip-entries"),
            ArchiveError::TooManyBytes { limit, .. } => refused(limit, "--max-zip-bytes"),
            ArchiveError::NestedTooBig { limit, .. } => refused(limit, "--max-file-bytes"),
            _ => Problem::Failed(message),
        }
    }
}

/// What is left to spend on zips in one run (or one batch ticket).
pub struct ZipBudget {
    pub bytes: u64,
    pub entries: usize,
}

impl ZipBudget {
    pub fn new(limits: &Limits) -> ZipBudget {
        ZipBudget {
            bytes: limits.zip_total_bytes,
            entries: limits.zip_entries,
        }
    }
}

/// What an end-of-central-directory record declares: the entry count, and the central
/// directory's size and offset. Found in the last 64 KiB (`None` for zip64 or when there is
/// none: the zip crate decides then). Read before the zip crate parses the directory, so a
/// directory of millions of entries is refused unread.
fn end_record(source: &mut ZipSource) -> Option<(u64, u64, u64)> {
    const EOCD: usize = 22;
    let len = source.byte_len();
    let tail = len.min((EOCD + u16::MAX as usize) as u64);
    let mut buf = vec![0u8; tail as usize];
    source.seek(SeekFrom::Start(len - tail)).ok()?;
    source.read_exact(&mut buf).ok()?;
    let at = (0..=buf.len().checked_sub(EOCD)?)
        .rev()
        .find(|&i| buf[i..].starts_with(b"PK\x05\x06"))?;
    let u16_at = |i: usize| u16::from_le_bytes([buf[at + i], buf[at + i + 1]]);
    let u32_at = |i: usize| {
        u32::from_le_bytes([
            buf[at + i],
            buf[at + i + 1],
            buf[at + i + 2],
            buf[at + i + 3],
        ])
    };
    let total = u16_at(10);
    (total != u16::MAX).then_some((
        u64::from(total),
        u64::from(u32_at(12)),
        u64::from(u32_at(16)),
    ))
}

/// One record of the central directory, read by hand.
struct CentralRecord {
    name: String,
    /// The general-purpose flags (bit 0: encrypted).
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    /// Where its local header is.
    header: u64,
}

/// Every record in the central directory, in order, duplicates included (the zip crate keeps
/// one entry per name, so the others would vanish unread). `None` if it cannot be read.
fn central_records(source: &mut ZipSource, size: u64, offset: u64) -> Option<Vec<CentralRecord>> {
    if size > 64 << 20 {
        return None;
    }
    let mut cd = vec![0u8; size as usize];
    source.seek(SeekFrom::Start(offset)).ok()?;
    source.read_exact(&mut cd).ok()?;
    let mut records = Vec::new();
    let mut at = 0usize;
    while cd.get(at..at + 4) == Some(b"PK\x01\x02") {
        let u16_at = |i: usize| {
            cd.get(at + i..at + i + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        let u32_at = |i: usize| {
            cd.get(at + i..at + i + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let (name_len, extra, comment) = (
            usize::from(u16_at(28)?),
            usize::from(u16_at(30)?),
            usize::from(u16_at(32)?),
        );
        let name = cd.get(at + 46..at + 46 + name_len)?;
        records.push(CentralRecord {
            name: String::from_utf8_lossy(name).into_owned(),
            flags: u16_at(8)?,
            method: u16_at(10)?,
            crc: u32_at(16)?,
            compressed: u64::from(u32_at(20)?),
            size: u64::from(u32_at(24)?),
            header: u64::from(u32_at(42)?),
        });
        at += 46 + name_len + extra + comment;
    }
    Some(records)
}

/// One entry as found in the central directory.
struct Entry {
    name: String,
    /// The zip crate's index; past its count for an entry it hides (a same-named one).
    index: usize,
    size: u64,
    /// Where its local header starts and its compressed data ends.
    span: (u64, u64),
    /// Where its data is, or why it cannot be read.
    at: Result<Box<Location>, EntryError>,
}

/// Open the zip `source` (named `name`, `depth` zips deep) and push its entries, or what is
/// wrong with them, onto `found`. `Err` refuses the whole zip.
/// The account of a zip whose directory lists no file: never left out of the report. A zip
/// that starts with a file entry all the same (a directory emptied, or an end record forged in
/// its comment) is named as damaged; a zip with no file in it is present, with nothing to read.
fn no_files(name: &str, mut bytes: ZipSource) -> FileAccount {
    let mut head = [0u8; 4];
    let starts_with_file = bytes.seek(SeekFrom::Start(0)).is_ok()
        && bytes.read_exact(&mut head).is_ok()
        && head == *b"PK\x03\x04";
    if starts_with_file {
        failed(
            name.to_string(),
            FileFormat::Zip,
            "its directory lists no file, yet it begins with a file entry: a damaged or crafted zip, not read".to_string(),
        )
    } else {
        FileAccount::skipped(
            name,
            FileFormat::Zip,
            "a zip with no file in it (no entries, or folders only): nothing to read",
        )
    }
}

/// `source` is read to list the entries; the entries keep `kept` (the same bytes: a nested
/// zip's entries keep it as [`ZipSource::Nested`], not its bytes).
pub fn open_zip(
    name: &str,
    mut source: ZipSource,
    kept: &ZipSource,
    depth: usize,
    limits: &Limits,
    budget: &mut ZipBudget,
    found: &mut Vec<Found>,
) -> Result<(), ArchiveError> {
    if depth > limits.zip_depth {
        return Err(ArchiveError::TooDeep {
            limit: limits.zip_depth,
        });
    }
    let untouched = budget.entries == limits.zip_entries;
    let over_entries = |count: u64| {
        let limit = limits.zip_entries;
        if untouched {
            ArchiveError::TooManyEntries { count, limit }
        } else {
            ArchiveError::EntriesLeft { count, limit }
        }
    };
    let end = end_record(&mut source);
    if let Some((count, _, _)) = end
        && count > budget.entries as u64
    {
        return Err(over_entries(count));
    }
    source
        .seek(SeekFrom::Start(0))
        .map_err(ArchiveError::Read)?;
    let mut names_source = source.clone();
    let bytes = source.clone();
    let archive = ZipArchive::new(source).map_err(ArchiveError::Unreadable)?;
    let count = archive.len();
    // The directory read by hand as well: the records the zip crate does not list (a name it
    // already has; records past the count the end record declares) are read from it.
    let hidden = match end {
        Some((declared, size, offset)) => match central_records(&mut names_source, size, offset) {
            Some(records) => unlisted(records, declared),
            None if declared > count as u64 => {
                // Never silently: the entries the zip crate does not list are named.
                let why = ArchiveError::HiddenUnread {
                    declared,
                    listed: count,
                };
                found.push(Found::Problem(failed(
                    name.to_string(),
                    FileFormat::Zip,
                    why.to_string(),
                )));
                Vec::new()
            }
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let count = count + hidden.len();
    if count > budget.entries {
        return Err(over_entries(count as u64));
    }
    budget.entries -= count;
    let mut entries = Vec::with_capacity(count);
    // Where every listed entry lies, folders included: what is between them is looked at.
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(count);
    for index in 0..archive.len() {
        let mut a = archive.clone();
        let entry = a
            .by_index_raw(index)
            .map_err(|source| ArchiveError::Entry { index, source })?;
        let size = entry.size();
        let start = entry.header_start();
        let end = match entry.data_start() {
            Some(data) => data.saturating_add(entry.compressed_size()),
            // Past its signature at least.
            None => start.saturating_add(4),
        };
        spans.push((start, end));
        // A folder entry: nothing to read unless it holds data (then it is read as a file).
        if entry.is_dir() && size == 0 {
            continue;
        }
        let entry_name = entry
            .name()
            .map_err(|source| ArchiveError::Entry { index, source })?
            .to_string();
        let at = match (entry.data_start(), is_deflated(entry.compression())) {
            // Before the method: an AES entry's method (99) only says it is encrypted.
            _ if entry.encrypted() => Err(EntryError::Encrypted),
            (Some(data), Ok(deflated)) => Location::new(
                bytes.clone(),
                data,
                entry.compressed_size(),
                size,
                entry.crc32(),
                deflated,
            )
            .map(|at| at.kept_as(kept.clone())),
            (None, _) => Err(EntryError::NoDataOffset),
            (_, Err(why)) => Err(why),
        };
        entries.push(Entry {
            name: entry_name,
            index,
            size,
            span: (start, end),
            at: at.map(Box::new),
        });
    }
    // The entries the zip crate hides behind a name it already has: read by hand.
    for (k, r) in hidden.into_iter().enumerate() {
        // A folder, as the zip crate tells one (a name ending in `/` or `\`), unless it holds data.
        if r.name.ends_with(['/', '\\']) && r.size == 0 {
            spans.push((r.header, r.header.saturating_add(4)));
            continue;
        }
        let at = if r.flags & 1 != 0 {
            Err(EntryError::Encrypted)
        } else {
            Location::from_local_header(
                bytes.clone(),
                r.header,
                r.compressed,
                r.size,
                r.crc,
                r.method,
            )
            .map(|at| at.kept_as(kept.clone()))
        };
        let span = (r.header, at.as_ref().map_or(r.header, |a| a.data_span().1));
        spans.push((span.0, span.1.max(r.header.saturating_add(4))));
        entries.push(Entry {
            name: r.name,
            index: archive.len() + k,
            size: r.size,
            span,
            at: at.map(Box::new),
        });
    }
    if entries.is_empty() {
        found.push(Found::Problem(no_files(name, bytes)));
        return Ok(());
    }
    // A file entry no record lists (a directory rewritten without it, or one crafted to hide
    // it): named, not read (its sizes may be in a descriptor after its data, unknown here).
    if let Some((_, _, directory)) = end {
        for (at, unlisted) in unlisted_local_entries(&bytes, &mut spans, directory) {
            found.push(Found::Problem(failed(
                format!("{name}!/{unlisted}"),
                FileFormat::Unknown,
                format!("a file entry (at byte {at}) that the zip's central directory does not list: a damaged or crafted zip, not read"),
            )));
        }
    }
    let overlapping = overlaps(&entries);
    let declared: u64 = entries
        .iter()
        .filter(|e| !overlapping.contains_key(&e.index))
        .fold(0u64, |sum, e| sum.saturating_add(e.size));
    if declared > budget.bytes {
        return Err(ArchiveError::TooManyBytes {
            declared,
            limit: limits.zip_total_bytes,
            left: budget.bytes,
        });
    }
    budget.bytes -= declared;
    entries.sort_by(|a, b| (&a.name, a.index).cmp(&(&b.name, b.index)));
    let names: Vec<String> = numbered(&entries);
    for (entry, shown) in entries.into_iter().zip(names) {
        let full = format!("{name}!/{shown}");
        if let Some(other) = overlapping.get(&entry.index) {
            let why = EntryError::Overlaps {
                other: other.clone(),
            };
            found.push(Found::Problem(failed(
                full,
                FileFormat::Unknown,
                why.to_string(),
            )));
            continue;
        }
        let at = match entry.at {
            Ok(at) => at,
            Err(why) => {
                found.push(Found::Problem(failed(
                    full,
                    FileFormat::Unknown,
                    why.to_string(),
                )));
                continue;
            }
        };
        let location = (*at).clone();
        // A nested zip's entry: its first bytes read now, while its zip is in memory, so
        // that looking at it (its format) never inflates the zip again.
        let head = matches!(kept, ZipSource::Nested(_))
            .then(|| head_of(&location, &bytes, entry.size))
            .flatten();
        let input = Input {
            name: full,
            data: InputData::ZipEntry {
                at,
                size: entry.size,
                head,
            },
            named: false,
        };
        if super::discover::is_zip(&input) {
            let inner = input.name.clone();
            let nested = if entry.size > limits.file_bytes {
                Err(ArchiveError::NestedTooBig {
                    size: entry.size,
                    limit: limits.file_bytes,
                })
            } else {
                // Listed from its bytes, held here only: its entries keep where it lies, and
                // it is inflated again when they are read (see `NestedZip`).
                let nested = Arc::new(NestedZip::new(location));
                // The nested zip this thread kept is let go first (unless it is the one
                // being listed, which the listing holds): one inflated at a time.
                let_go_on_this_thread();
                nested
                    .bytes()
                    .map_err(ArchiveError::NestedUnread)
                    .and_then(|b| {
                        let source = ZipSource::Memory(Cursor::new(HeldBytes(b)));
                        let kept = ZipSource::Nested(nested);
                        open_zip(&inner, source, &kept, depth + 1, limits, budget, found)
                    })
            };
            if let Err(why) = nested {
                found.push(Found::Problem(FileAccount::failed(
                    inner,
                    FileFormat::Zip,
                    why.into(),
                )));
            }
        } else {
            found.push(Found::Input(input));
        }
    }
    Ok(())
}

/// The first bytes of the entry at `at` (up to [`SNIFF_BYTES`], never past `size`), read
/// unchecked (only a look, as [`Input::head`] reads) from `bytes`, the zip it lies in; `None`
/// when they cannot be read (looking then reads them again, and fails the same way).
fn head_of(at: &Location, bytes: &ZipSource, size: u64) -> Option<Arc<[u8]>> {
    let at = at.clone().kept_as(bytes.clone());
    let mut head = Vec::new();
    EntryStream::unchecked(at)
        .ok()?
        .take(size.min(SNIFF_BYTES as u64))
        .read_to_end(&mut head)
        .ok()?;
    Some(head.into())
}

/// Entries whose bytes (local header to end of data) overlap an entry that starts before
/// them, each with the name of the entry it overlaps. The first of a set is read.
fn overlaps(entries: &[Entry]) -> HashMap<usize, String> {
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by_key(|e| (e.span.0, e.index));
    let mut out = HashMap::new();
    let mut reach: Option<(u64, &Entry)> = None;
    for e in order {
        match reach {
            Some((end, owner)) if e.span.0 < end => {
                out.insert(e.index, owner.name.clone());
                if e.span.1 > end {
                    reach = Some((e.span.1, owner));
                }
            }
            _ => reach = Some((e.span.1, e)),
        }
    }
    out
}

/// Most bytes between a zip's listed entries that are looked through for an unlisted one.
const GAP_LOOKED_AT: u64 = 16 << 20;

/// The file entries (local headers) lying between the listed entries' `spans`, or between
/// them and the central directory at `directory`, as (where, name): a zip whose directory
/// does not list all of its files. A local header is taken for one only when it reads as one
/// (a plausible version and name, within the gap), so a self-extractor's code before the
/// first entry is not. At most [`GAP_LOOKED_AT`] bytes are read.
fn unlisted_local_entries(
    bytes: &ZipSource,
    spans: &mut [(u64, u64)],
    directory: u64,
) -> Vec<(u64, String)> {
    spans.sort_unstable();
    let mut gaps = Vec::new();
    let mut cursor = 0u64;
    for &(start, end) in spans.iter() {
        if start > cursor {
            gaps.push((cursor, start));
        }
        cursor = cursor.max(end);
    }
    if directory > cursor {
        gaps.push((cursor, directory.min(bytes.byte_len())));
    }
    let mut budget = GAP_LOOKED_AT;
    let mut out = Vec::new();
    for (from, to) in gaps {
        let len = to.saturating_sub(from).min(budget);
        if len < 30 {
            continue;
        }
        budget -= len;
        let mut gap = vec![0u8; len as usize];
        let mut src = bytes.clone();
        if src.seek(SeekFrom::Start(from)).is_err() || src.read_exact(&mut gap).is_err() {
            continue;
        }
        let mut at = 0usize;
        while let Some(k) = find(&gap[at..], b"PK\x03\x04") {
            let h = at + k;
            if let Some(name) = local_header_name(&gap[h..]) {
                out.push((from + h as u64, name));
            }
            at = h + 4;
        }
        if budget == 0 {
            break;
        }
    }
    out
}

/// Where `needle` first is in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The name of the local file header `h` starts with, when it reads as one: a version a zip
/// tool writes, a name of 1 to 1,024 bytes of UTF-8 that does not start with NUL, within `h`.
/// A NUL further in is kept, whole: a name such as `a.csv\0.evtx` is a crafted entry to be
/// named (shown inert, `\u{0000}`), and a name cut at its NUL would hide its tail, or the
/// whole entry.
fn local_header_name(h: &[u8]) -> Option<String> {
    let u16_at = |i: usize| h.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let version = u16_at(4)? & 0xff;
    let name_len = usize::from(u16_at(26)?);
    if version > 63 || name_len == 0 || name_len > 1024 {
        return None;
    }
    let name = std::str::from_utf8(h.get(30..30 + name_len)?).ok()?;
    if name.starts_with('\0') {
        return None;
    }
    Some(name.to_string())
}

/// The records the zip crate does not list: it reads as many as the end record declares
/// (a zip that declares fewer than its directory holds hides the rest), and among those, for
/// each name listed more than once, keeps the last.
fn unlisted(mut records: Vec<CentralRecord>, declared: u64) -> Vec<CentralRecord> {
    let read = usize::try_from(declared)
        .unwrap_or(usize::MAX)
        .min(records.len());
    let past = records.split_off(read);
    let mut hidden = hidden_duplicates(records);
    hidden.extend(past);
    hidden
}

/// The records the zip crate hides: for each name the directory lists more than once, every
/// copy but the last (the crate keeps the last one under the name), in directory order.
fn hidden_duplicates(records: Vec<CentralRecord>) -> Vec<CentralRecord> {
    let mut last: HashMap<String, usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        last.insert(r.name.clone(), i);
    }
    records
        .into_iter()
        .enumerate()
        .filter(|(i, r)| last.get(&r.name) != Some(i))
        .map(|(_, r)| r)
        .collect()
}

/// Display names: an entry whose name an earlier entry (in directory order) already has gets
/// `#2`, `#3`... so each has its own account; never a name another entry has, and never a
/// suffix on a suffix ([`super::discover::numbered`]).
fn numbered(sorted: &[Entry]) -> Vec<String> {
    let names: Vec<&str> = sorted.iter().map(|e| e.name.as_str()).collect();
    super::discover::numbered(&names)
        .into_iter()
        .zip(&names)
        .map(|(n, name)| n.unwrap_or_else(|| name.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, index: usize, span: (u64, u64)) -> Entry {
        Entry {
            name: name.into(),
            index,
            size: 1,
            span,
            at: Err(EntryError::NoDataOffset),
        }
    }

    #[test]
    fn overlapping_spans_name_the_entry_they_overlap() {
        let e = [
            entry("a", 0, (0, 100)),
            entry("b", 1, (0, 100)),
            entry("c", 2, (50, 150)),
            entry("d", 3, (150, 200)),
        ];
        let got = overlaps(&e);
        assert_eq!(got.get(&1).map(String::as_str), Some("a"));
        assert_eq!(got.get(&2).map(String::as_str), Some("a"));
        assert!(!got.contains_key(&0) && !got.contains_key(&3));
    }

    #[test]
    fn duplicate_names_are_numbered_in_order() {
        let e = [
            entry("x", 0, (0, 1)),
            entry("x", 5, (1, 2)),
            entry("y", 2, (2, 3)),
        ];
        assert_eq!(numbered(&e), ["x", "x#2", "y"]);
        // A name already ending in `#2` beside its base: numbered from the base, apart from
        // every name there is.
        let e = [
            entry("y", 0, (0, 1)),
            entry("y", 1, (1, 2)),
            entry("y#2", 2, (2, 3)),
            entry("y#2", 3, (3, 4)),
        ];
        assert_eq!(numbered(&e), ["y", "y#3", "y#2", "y#4"]);
    }
}
