//! Input discovery: command-line paths → an ordered list of inputs.
//!
//! Files are taken as given, folders are walked recursively (sorted by name, symlinked folders
//! not followed, so a loop cannot trap the walk), and zip archives are opened in memory, never
//! extracted to disk. A zip is bounded: its entry count, the total uncompressed size of
//! everything inside it (declared sizes are checked first and actual sizes enforced while
//! reading, since a zip bomb lies about them) and how deep zips may nest. A zip that breaks a
//! bound is refused whole, with a message naming it and the bound.

use std::fs;
use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zip::ZipArchive;

use super::eventxml::XmlLimits;
use super::zipentry::EntryStream;

/// A byte stream that can seek, for the EVTX parser.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}
use crate::model::{FileAccount, FileFormat, FileStatus};

/// Resource bounds for untrusted input. Every one has a flag to raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total uncompressed bytes read out of one top-level zip (nested zips included).
    pub zip_total_bytes: u64,
    /// Entries in one top-level zip (nested zips included).
    pub zip_entries: usize,
    /// How many zips deep a zip may hold zips (a top-level zip is depth 1).
    pub zip_depth: usize,
    /// Largest zip read into memory (its entries are inflated as they are read).
    pub file_bytes: u64,
    /// Longest CSV line (bytes between line feeds): a bound on one row's memory.
    pub csv_row_bytes: u64,
    /// Largest event-log XML export (read whole: it is small next to the EVTX it came from).
    pub xml_bytes: u64,
    /// Deepest element nesting in event-log XML.
    pub xml_depth: usize,
    /// Most elements in one event of event-log XML (or one rendered EVTX record).
    pub xml_elements: usize,
    /// Largest text of one EVTX record, in bytes: what is read from its template, or its XML
    /// rendering (the `evtx` crate stops at 16 MiB).
    pub evtx_record_bytes: u64,
    /// Most events one analysis keeps in memory (those some rule can use): a bound on memory
    /// when every row of a huge trace matches. Events past it are counted, not kept.
    pub kept_events: usize,
}

impl Limits {
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
            xml_bytes: 128 << 20,
            xml_depth: XmlLimits::default().depth,
            xml_elements: XmlLimits::default().elements,
            evtx_record_bytes: 4 << 20,
            kept_events: 100_000,
        }
    }
}

pub type Archive = ZipArchive<Cursor<Arc<[u8]>>>;

/// Where an input's bytes are.
#[derive(Clone)]
pub enum InputData {
    Path(PathBuf),
    ZipEntry {
        archive: Box<Archive>,
        index: usize,
        size: u64,
    },
}

/// One file to read.
#[derive(Clone)]
pub struct Input {
    /// As shown to the user: the path, or `archive.zip!/folder/file.evtx`.
    pub name: String,
    pub data: InputData,
}

/// What discovery found, in order.
pub enum Found {
    Input(Input),
    /// Something that could not even be opened, already accounted for.
    Problem(FileAccount),
}

impl Input {
    /// The first bytes, for sniffing the format; never past a zip entry's declared size
    /// (reading on is where a lying entry fails, with the reason).
    pub fn head(&self, n: usize) -> std::io::Result<Vec<u8>> {
        let cap = self.size().map_or(n as u64, |size| size.min(n as u64));
        let mut buf = Vec::with_capacity(n);
        self.with_reader(|r| r.take(cap).read_to_end(&mut buf))
            .map_err(std::io::Error::other)??;
        Ok(buf)
    }

    /// The whole content, refused past `cap` bytes (the limit raised by `flag`).
    pub fn read_all(&self, cap: u64, flag: &str) -> Result<Vec<u8>, String> {
        match &self.data {
            InputData::Path(p) => {
                let len = fs::metadata(p).map_err(|e| e.to_string())?.len();
                if len > cap {
                    return Err(too_big(len, cap, flag));
                }
                fs::read(p).map_err(|e| e.to_string())
            }
            InputData::ZipEntry {
                archive,
                index,
                size,
            } => {
                if *size > cap {
                    return Err(too_big(*size, cap, flag));
                }
                read_entry(archive, *index, *size)
            }
        }
    }

    /// The content as a seekable stream and its length: the file itself, or a zip entry
    /// inflated on demand (see [`super::zipentry`]). Nothing is held in memory whole.
    pub fn open_seekable(&self) -> Result<(Box<dyn ReadSeek>, u64), String> {
        match &self.data {
            InputData::Path(p) => {
                let mut f = fs::File::open(p).map_err(|e| e.to_string())?;
                let len = f.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
                f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
                Ok((Box::new(f), len))
            }
            InputData::ZipEntry {
                archive,
                index,
                size,
            } => Ok((Box::new(EntryStream::open(archive, *index)?), *size)),
        }
    }

    /// Run `f` on a stream of the content (a zip entry is inflated as it is read, its CRC
    /// and declared size checked by the zip crate).
    pub fn with_reader<T>(&self, f: impl FnOnce(&mut dyn Read) -> T) -> Result<T, String> {
        match &self.data {
            InputData::Path(p) => {
                let mut file = fs::File::open(p).map_err(|e| format!("cannot open: {e}"))?;
                Ok(f(&mut file))
            }
            InputData::ZipEntry {
                archive,
                index,
                size,
            } => {
                let mut archive = archive.clone();
                let entry = archive.by_index(*index).map_err(|e| e.to_string())?;
                let mut entry = DeclaredSize {
                    inner: entry,
                    left: *size,
                    declared: *size,
                };
                Ok(f(&mut entry))
            }
        }
    }

    /// The size in bytes, when cheaply known.
    pub fn size(&self) -> Option<u64> {
        match &self.data {
            InputData::Path(p) => fs::metadata(p).ok().map(|m| m.len()),
            InputData::ZipEntry { size, .. } => Some(*size),
        }
    }
}

/// A zip entry's stream, ended at its declared size with a clear error if it goes on.
struct DeclaredSize<R> {
    inner: R,
    left: u64,
    declared: u64,
}

impl<R: Read> Read for DeclaredSize<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            return past_declared_end(&mut self.inner, self.declared);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// A read at a zip entry's declared end: one byte is tried past it; the end if there is none,
/// the zip bomb error if there is (or if the zip crate itself says the entry is larger than
/// declared). Any other error (a bad CRC, say) is passed on as it is.
pub(crate) fn past_declared_end(inner: &mut dyn Read, declared: u64) -> std::io::Result<usize> {
    let mut probe = [0u8; 1];
    match inner.read(&mut probe) {
        Ok(0) => Ok(0),
        Err(e) if !e.to_string().contains("declared") => Err(e),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "decompresses to more than the {declared} bytes its header declares (a zip bomb?)"
            ),
        )),
    }
}

fn too_big(len: u64, cap: u64, flag: &str) -> String {
    format!(
        "{len} bytes is over the {cap}-byte limit for reading a file whole (raise it with {flag})"
    )
}

/// Decompress one entry, never past its declared size (a bomb lies about it).
fn read_entry(archive: &Archive, index: usize, declared: u64) -> Result<Vec<u8>, String> {
    let mut archive = archive.clone();
    let entry = archive.by_index(index).map_err(|e| e.to_string())?;
    let mut entry = DeclaredSize {
        inner: entry,
        left: declared,
        declared,
    };
    let mut buf = Vec::with_capacity(declared.min(64 << 20) as usize);
    entry.read_to_end(&mut buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            format!("{e}: refused")
        } else {
            format!("cannot decompress: {e}")
        }
    })?;
    Ok(buf)
}

/// Turn command-line paths into inputs, in a stable order.
pub fn discover(paths: &[PathBuf], limits: &Limits) -> Vec<Found> {
    let mut found = Vec::new();
    for path in paths {
        walk(path, limits, &mut found);
    }
    // The same content reached twice (a path given twice, a zip beside its extracted copy).
    super::dedup::set_aside_duplicates(found)
}

fn walk(path: &Path, limits: &Limits, found: &mut Vec<Found>) {
    let name = path.display().to_string();
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            found.push(Found::Problem(failed(
                name,
                FileFormat::Unknown,
                format!("cannot open: {e}"),
            )));
            return;
        }
    };
    if meta.is_dir() {
        let mut children = match fs::read_dir(path) {
            Ok(rd) => rd.filter_map(Result::ok).collect::<Vec<_>>(),
            Err(e) => {
                found.push(Found::Problem(failed(
                    name,
                    FileFormat::Unknown,
                    format!("cannot list folder: {e}"),
                )));
                return;
            }
        };
        children.sort_by_key(|c| c.file_name());
        for child in children {
            let is_symlinked_dir = child.file_type().is_ok_and(|t| t.is_symlink())
                && fs::metadata(child.path()).is_ok_and(|m| m.is_dir());
            if is_symlinked_dir {
                found.push(Found::Problem(FileAccount::skipped(
                    child.path().display().to_string(),
                    FileFormat::Unknown,
                    "symlinked folder not followed",
                )));
                continue;
            }
            walk(&child.path(), limits, found);
        }
        return;
    }
    let input = Input {
        name: name.clone(),
        data: InputData::Path(path.to_path_buf()),
    };
    if is_zip(&input) {
        match input.read_all(limits.file_bytes, "--max-file-bytes") {
            Ok(bytes) => {
                let mut budget = ZipBudget {
                    bytes: limits.zip_total_bytes,
                    entries: limits.zip_entries,
                };
                let mut inner = Vec::new();
                match open_zip(&name, bytes.into(), 1, limits, &mut budget, &mut inner) {
                    Ok(()) => found.extend(inner),
                    Err(why) => found.push(Found::Problem(failed(name, FileFormat::Zip, why))),
                }
            }
            Err(why) => found.push(Found::Problem(failed(name, FileFormat::Zip, why))),
        }
    } else {
        found.push(Found::Input(input));
    }
}

fn is_zip(input: &Input) -> bool {
    input
        .head(4)
        .is_ok_and(|h| h.starts_with(b"PK\x03\x04") || h.starts_with(b"PK\x05\x06"))
}

/// What is left to spend inside one top-level zip.
struct ZipBudget {
    bytes: u64,
    entries: usize,
}

fn open_zip(
    name: &str,
    bytes: Arc<[u8]>,
    depth: usize,
    limits: &Limits,
    budget: &mut ZipBudget,
    found: &mut Vec<Found>,
) -> Result<(), String> {
    if depth > limits.zip_depth {
        return Err(format!(
            "zips nested more than {} deep: refused (raise with --max-zip-depth)",
            limits.zip_depth
        ));
    }
    let archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a readable zip: {e}"))?;
    let count = archive.len();
    if count > budget.entries {
        return Err(if depth == 1 {
            format!(
                "holds {count} entries, more than the limit of {}: refused (raise with --max-zip-entries)",
                limits.zip_entries
            )
        } else {
            format!(
                "its {count} entries would take its top-level zip past the limit of {} entries, nested zips included: refused (raise with --max-zip-entries)",
                limits.zip_entries
            )
        });
    }
    budget.entries -= count;
    let mut entries = Vec::with_capacity(count);
    let mut declared_total = 0u64;
    for index in 0..count {
        let mut a = archive.clone();
        let entry = a
            .by_index_raw(index)
            .map_err(|e| format!("entry {index}: {e}"))?;
        if entry.is_dir() {
            continue;
        }
        let entry_name = entry
            .name()
            .map_err(|e| format!("entry {index}: {e}"))?
            .to_string();
        let size = entry.size();
        declared_total = declared_total.saturating_add(size);
        entries.push((entry_name, index, size));
    }
    if declared_total > budget.bytes {
        return Err(format!(
            "declares {declared_total} uncompressed bytes, over the {}-byte limit: refused (raise with --max-zip-bytes)",
            limits.zip_total_bytes
        ));
    }
    budget.bytes -= declared_total;
    entries.sort();
    let archive = Box::new(archive);
    for (entry_name, index, size) in entries {
        let input = Input {
            name: format!("{name}!/{entry_name}"),
            data: InputData::ZipEntry {
                archive: archive.clone(),
                index,
                size,
            },
        };
        if is_zip(&input) {
            let inner_name = input.name.clone();
            let nested = input
                .read_all(size, "--max-zip-bytes")
                .and_then(|b| open_zip(&inner_name, b.into(), depth + 1, limits, budget, found));
            if let Err(why) = nested {
                found.push(Found::Problem(failed(inner_name, FileFormat::Zip, why)));
            }
        } else {
            found.push(Found::Input(input));
        }
    }
    Ok(())
}

fn failed(name: String, format: FileFormat, why: String) -> FileAccount {
    let mut account = FileAccount::new(name, format);
    account.status = FileStatus::Failed;
    account.problems.push(why);
    account
}
