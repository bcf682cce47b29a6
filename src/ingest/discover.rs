//! Input discovery: command-line paths → an ordered list of inputs.
//!
//! Paths named on the command line are taken as given; folders are walked recursively, sorted
//! by name. Only regular files are ever opened: a FIFO, socket or device is listed as such and
//! never read (opening a FIFO would wait for a writer forever). Symlinks found inside a folder,
//! to files and folders alike, are listed and not followed unless `--follow` asks for it; then
//! a folder already walked is not walked again, so a loop cannot trap the walk. Zip archives
//! are opened where they lie ([`super::zipdir`]), never extracted to disk. An [`Input`] gives
//! its bytes whole, as a stream or seekable; why it could not is an [`InputError`].

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::SNIFF_BYTES;
pub use super::error::InputError;
pub use super::limits::Limits;
pub use super::zipdir::Archive;
use super::zipdir::{SharedFile, ZipBudget, ZipSource, open_zip};
use super::zipentry::{EntryStream, Location};

/// A byte stream that can seek, for the EVTX parser.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}
use crate::model::{FileAccount, FileFormat, Problem};

/// Where an input's bytes are.
#[derive(Clone)]
pub enum InputData {
    Path(PathBuf),
    /// A zip entry: where its compressed bytes are, and its declared size. An entry of a
    /// zip inside a zip has its first bytes at hand (`head`, up to [`SNIFF_BYTES`], read
    /// unchecked when its zip was listed): a look at them then costs no inflating of its zip.
    ZipEntry {
        at: Box<Location>,
        size: u64,
        head: Option<Arc<[u8]>>,
    },
}

/// One file to read.
#[derive(Clone)]
pub struct Input {
    /// As shown to the user: the path, or `archive.zip!/folder/file.evtx`.
    pub name: String,
    pub data: InputData,
    /// Named on the command line itself (not found in a folder or a zip): the user meant it
    /// as an input, so content no reader recognises is a failure, not a skip.
    pub named: bool,
}

/// What discovery found, in order.
pub enum Found {
    Input(Input),
    /// Something that could not even be opened, already accounted for.
    Problem(FileAccount),
}

impl Found {
    /// The name it is shown by: the input's, or the account's.
    pub fn name(&self) -> &str {
        match self {
            Found::Input(i) => &i.name,
            Found::Problem(a) => &a.file,
        }
    }
}

impl Input {
    /// The first bytes, for sniffing the format; never past a zip entry's declared size
    /// (reading on is where a lying entry fails, with the reason).
    pub fn head(&self, n: usize) -> std::io::Result<Vec<u8>> {
        let cap = self.size().map_or(n as u64, |size| size.min(n as u64));
        if let InputData::ZipEntry {
            head: Some(head), ..
        } = &self.data
            && n <= SNIFF_BYTES
        {
            // What reading gives: up to `cap`, or all there is.
            return Ok(head[..head.len().min(cap as usize)].to_vec());
        }
        let mut buf = Vec::with_capacity(n);
        match &self.data {
            InputData::Path(p) => fs::File::open(p)?.take(cap).read_to_end(&mut buf)?,
            // Only a look: the CRC is checked when the entry is read.
            InputData::ZipEntry { at, .. } => EntryStream::unchecked((**at).clone())
                .map_err(std::io::Error::other)?
                .take(cap)
                .read_to_end(&mut buf)?,
        };
        Ok(buf)
    }

    /// The whole content, refused past `cap` bytes (the limit raised by `flag`).
    pub fn read_all(&self, cap: u64, flag: &'static str) -> Result<Vec<u8>, InputError> {
        let too_big = |len: u64| InputError::TooBig { len, cap, flag };
        match &self.data {
            InputData::Path(p) => {
                let len = fs::metadata(p).map_err(InputError::Io)?.len();
                if len > cap {
                    return Err(too_big(len));
                }
                fs::read(p).map_err(InputError::Io)
            }
            InputData::ZipEntry { at, size, .. } => {
                if *size > cap {
                    return Err(too_big(*size));
                }
                read_entry(at)
            }
        }
    }

    /// The content as a seekable stream and its length: the file itself, or a zip entry
    /// inflated on demand (see [`super::zipentry`]). Nothing is held in memory whole.
    pub fn open_seekable(&self) -> Result<(Box<dyn ReadSeek>, u64), InputError> {
        match &self.data {
            InputData::Path(p) => {
                let (f, len) = open_with_len(p)?;
                Ok((Box::new(f), len))
            }
            InputData::ZipEntry { at, size, .. } => {
                let entry = EntryStream::checked((**at).clone()).map_err(InputError::Entry)?;
                Ok((Box::new(entry), *size))
            }
        }
    }

    /// The content as a plain file and its length, when it is one (not a zip entry): for a
    /// reader that reads a file at several positions at once.
    pub fn open_file(&self) -> Option<Result<(fs::File, u64), InputError>> {
        match &self.data {
            InputData::Path(p) => Some(open_with_len(p)),
            InputData::ZipEntry { .. } => None,
        }
    }

    /// Run `f` on a stream of the content (a zip entry's CRC is checked first, and it is
    /// never read past its declared size).
    pub fn with_reader<T>(&self, f: impl FnOnce(&mut dyn Read) -> T) -> Result<T, InputError> {
        match &self.data {
            InputData::Path(p) => {
                let mut file = fs::File::open(p).map_err(InputError::Open)?;
                Ok(f(&mut file))
            }
            InputData::ZipEntry { at, .. } => {
                let mut entry = EntryStream::checked((**at).clone()).map_err(InputError::Entry)?;
                Ok(f(&mut entry))
            }
        }
    }

    /// The bytes of the zip inside a zip that this input lies in that are in memory now (held
    /// by a stream, kept by a thread, or by this input itself), 0 when none are (or it lies in
    /// no such zip): memory goes with what is being read, not with what was found.
    pub fn nested_zip_bytes_held(&self) -> u64 {
        match &self.data {
            InputData::ZipEntry { at, .. } => at.zip_bytes_held(),
            InputData::Path(_) => 0,
        }
    }

    /// How many times the zip inside a zip it lies in was inflated (0 when it lies in none):
    /// see [`Location::zip_inflations`].
    pub fn nested_zip_inflations(&self) -> u64 {
        match &self.data {
            InputData::ZipEntry { at, .. } => at.zip_inflations(),
            InputData::Path(_) => 0,
        }
    }

    /// Its zip's bytes held while the value lives, when it lies in a zip inside a zip (see
    /// [`Location::hold_zip`]): one input read again and again beside others of other zips
    /// (the first of duplicates, compared with each) is then read from memory each time.
    pub fn hold_zip(&self) -> Option<Arc<Vec<u8>>> {
        match &self.data {
            InputData::ZipEntry { at, .. } => at.hold_zip(),
            InputData::Path(_) => None,
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

/// A read at a zip entry's declared end: one byte is tried past it; the end if there is none,
/// the zip bomb error if there is. Any error of the inflater is passed on as it is (it is our
/// own, never the zip crate's: nothing is told apart by its message).
pub(crate) fn past_declared_end(inner: &mut dyn Read, declared: u64) -> std::io::Result<usize> {
    let mut probe = [0u8; 1];
    match inner.read(&mut probe) {
        Ok(0) => Ok(0),
        Err(e) => Err(e),
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "decompresses to more than the {declared} bytes its header declares (a zip bomb?)"
            ),
        )),
    }
}

/// Decompress one entry (its CRC checked), never past its declared size (a bomb lies about
/// it).
fn read_entry(at: &Location) -> Result<Vec<u8>, InputError> {
    let mut entry = EntryStream::checked(at.clone()).map_err(InputError::Entry)?;
    let mut buf = Vec::with_capacity(at.len.min(64 << 20) as usize);
    entry.read_to_end(&mut buf).map_err(|e| {
        if e.kind() == std::io::ErrorKind::InvalidData {
            InputError::Refused(e)
        } else {
            InputError::Decompress(e)
        }
    })?;
    Ok(buf)
}

/// Turn command-line paths into inputs, in a stable order. One zip budget for them all.
pub fn discover(paths: &[PathBuf], limits: &Limits) -> Vec<Found> {
    let mut walk = Walk {
        limits,
        budget: ZipBudget::new(limits),
        walked: HashSet::new(),
        found: Vec::new(),
    };
    for path in paths {
        walk.path(path, true);
    }
    numbered_apart(&mut walk.found);
    // The same content reached twice (a path given twice, a zip beside its extracted copy).
    let found = super::dedup::set_aside_duplicates(walk.found);
    // Nothing of a nested zip is kept in memory past discovery: it is inflated again when
    // its entries are read.
    super::zipdir::let_go_on_this_thread();
    found
}

/// Every input gets its own name: one whose name an earlier one already has (a path given
/// twice, a zip entry named `inner.zip!/x.evtx` beside a nested `inner.zip` holding
/// `x.evtx`, a folder named `a.zip!`) gets `#2`, `#3`... (see [`numbered`]), as entries of one
/// zip with the same name do, so each account can be told apart.
fn numbered_apart(found: &mut [Found]) {
    let names: Vec<&str> = found.iter().map(Found::name).collect();
    let numbered = numbered(&names);
    for (f, name) in found.iter_mut().zip(numbered) {
        if let Some(name) = name {
            match f {
                Found::Input(i) => i.name = name,
                Found::Problem(a) => a.file = name,
            }
        }
    }
}

/// Names made apart, in order: the first of a name keeps it (`None`); a later one gets `#N`,
/// the lowest N from 2 that no name has yet, given or given here. A name that already ends
/// in `#N` is numbered from what comes before that suffix (a second `y.xml#2` beside `y.xml`
/// becomes `y.xml#3`, not `y.xml#2#2`): suffixes never stack. The same names in the same
/// order always give the same result.
pub(crate) fn numbered(names: &[&str]) -> Vec<Option<String>> {
    let all: HashSet<&str> = names.iter().copied().collect();
    if all.len() == names.len() {
        return vec![None; names.len()];
    }
    let mut given: HashSet<String> = HashSet::with_capacity(names.len());
    // Per base, the lowest N not yet looked at: numbering stays linear in the names.
    let mut next: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    names
        .iter()
        .map(|&name| {
            if given.insert(name.to_string()) {
                return None;
            }
            let base = without_number(name);
            let n = next.entry(base).or_insert(2);
            let name = (*n..)
                .map(|k| (k, format!("{base}#{k}")))
                .find(|(_, c)| !all.contains(c.as_str()) && !given.contains(c))
                .map(|(k, c)| {
                    *n = k + 1;
                    c
                })
                .unwrap_or_default();
            given.insert(name.clone());
            Some(name)
        })
        .collect()
}

/// `name` without a `#N` suffix such as [`numbered`] gives (N from 2, no leading zero), when
/// something is left before it.
fn without_number(name: &str) -> &str {
    match name.rsplit_once('#') {
        Some((base, n))
            if !base.is_empty()
                && !n.starts_with('0')
                && n.parse::<u64>().is_ok_and(|n| n >= 2)
                && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base
        }
        _ => name,
    }
}

/// A path as its account shows it: its text, each byte of it that is not UTF-8 written `\xNN`
/// (a name in a legacy code page: `unzip` writes the Shift-JIS or CP1252 names of a zip made on
/// Windows as they are), so that names apart stay apart and each can be found on disk. Shown
/// with `display()`, every such byte was U+FFFD: files of different names were accounted under
/// one name (numbered `#2`, `#3` in an order no user could map to the files), the same as a
/// file really named with U+FFFD.
pub(crate) fn shown(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::fmt::Write;
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in path.as_os_str().as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                let _ = write!(out, "\\x{b:02X}");
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        path.display().to_string()
    }
}

struct Walk<'a> {
    limits: &'a Limits,
    budget: ZipBudget,
    /// Folders already walked ([`FolderId`]), so that none is walked twice.
    walked: HashSet<FolderId>,
    found: Vec<Found>,
}

impl Walk<'_> {
    fn problem(&mut self, name: String, why: String) {
        self.found
            .push(Found::Problem(failed(name, FileFormat::Unknown, why)));
    }

    fn skip(&mut self, name: String, why: String) {
        self.found.push(Found::Problem(FileAccount::skipped(
            name,
            FileFormat::Unknown,
            why,
        )));
    }

    /// `given`: named on the command line (followed if a symlink: the user named it).
    fn path(&mut self, path: &Path, given: bool) {
        let name = shown(path);
        let link = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => return self.problem(name, format!("cannot open: {e}")),
        };
        let meta = if link.file_type().is_symlink() {
            if !given && !self.limits.follow_symlinks {
                let to = fs::read_link(path)
                    .map(|t| format!(" (to {})", shown(&t)))
                    .unwrap_or_default();
                return self.skip(
                    name,
                    format!(
                        "a symlink{to}, not followed (give --follow to read what it points to)"
                    ),
                );
            }
            match fs::metadata(path) {
                Ok(m) => m,
                Err(e) => {
                    return self.problem(name, format!("a symlink that cannot be followed: {e}"));
                }
            }
        } else {
            link
        };
        if meta.is_dir() {
            return self.folder(path, name, &meta);
        }
        if !meta.is_file() {
            let why = format!("{}, not a regular file: not read", special_kind(&meta));
            // Named on the command line, or named like a log, it was meant to be read: a
            // failure (exit 3), not a skip. It is never opened (a FIFO would block).
            return if given || super::readers::refused::claims_to_be_input(&name) {
                self.problem(name, why)
            } else {
                self.skip(name, why)
            };
        }
        let input = Input {
            name: name.clone(),
            data: InputData::Path(path.to_path_buf()),
            named: given,
        };
        if !is_zip(&input) {
            self.found.push(Found::Input(input));
            return;
        }
        let opened = SharedFile::open(path)
            .map_err(|e| Problem::Failed(format!("cannot open: {e}")))
            .and_then(|file| {
                let file = ZipSource::File(file);
                open_zip(
                    &name,
                    file.clone(),
                    &file,
                    1,
                    self.limits,
                    &mut self.budget,
                    &mut self.found,
                )
                .map_err(Problem::from)
            });
        if let Err(why) = opened {
            self.found.push(Found::Problem(FileAccount::failed(
                name,
                FileFormat::Zip,
                why,
            )));
        }
    }

    fn folder(&mut self, path: &Path, name: String, meta: &fs::Metadata) {
        if let Some(id) = folder_id(path, meta)
            && !self.walked.insert(id)
        {
            return self.found.push(Found::Problem(FileAccount::duplicate(
                name,
                FileFormat::Unknown,
                "a folder already read in this run (named twice, or reached through a symlink): not read twice",
            )));
        }
        let entries = match fs::read_dir(path) {
            Ok(rd) => rd.map(|entry| entry.map(|e| e.path())),
            Err(e) => return self.problem(name, format!("cannot list folder: {e}")),
        };
        let mut children = self.listed(name, entries);
        children.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
        for child in children {
            self.path(&child, false);
        }
    }

    /// A folder's entries as the OS lists them; the entries it fails to list, accounted under
    /// the folder's name (a failure: what they are is not read), with how many and the first
    /// error. They had been dropped without a word (`filter_map(Result::ok)`): the run said
    /// nothing of files it never saw. A listing that fails again and again is given up after
    /// [`MAX_UNLISTED`] failures.
    fn listed(
        &mut self,
        name: String,
        entries: impl IntoIterator<Item = std::io::Result<PathBuf>>,
    ) -> Vec<PathBuf> {
        let mut children = Vec::new();
        let mut failed = 0u64;
        let mut first = None;
        for entry in entries {
            match entry {
                Ok(path) => children.push(path),
                Err(e) => {
                    failed += 1;
                    first.get_or_insert(e);
                    if failed == MAX_UNLISTED {
                        break;
                    }
                }
            }
        }
        if let Some(e) = first {
            let what = if failed == 1 {
                "an entry".to_string()
            } else if failed == MAX_UNLISTED {
                format!("{failed} entries (the listing was given up)")
            } else {
                format!("{failed} entries")
            };
            self.problem(
                name,
                format!("the folder is listed partly: {what} could not be listed ({e}): not read"),
            );
        }
        children
    }
}

/// Failures of one folder's listing after which it is given up.
const MAX_UNLISTED: u64 = 1_000;

/// Which folder a path is, however it was reached: its device and inode where the platform
/// has them (from the metadata already read: no system call), else its canonical path.
/// Canonicalizing every folder resolved each of its path's components again, so a walk
/// 1,000 folders deep made half a million failing `readlink` calls and took seconds.
#[derive(Debug, PartialEq, Eq, Hash)]
enum FolderId {
    #[cfg(unix)]
    Inode { dev: u64, ino: u64 },
    #[cfg(not(unix))]
    Path(PathBuf),
}

fn folder_id(path: &Path, meta: &fs::Metadata) -> Option<FolderId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        Some(FolderId::Inode {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        fs::canonicalize(path).ok().map(FolderId::Path)
    }
}

/// What a file that is neither a folder nor a regular file is.
fn special_kind(meta: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    let _ = meta;
    "a special file"
}

pub(crate) fn is_zip(input: &Input) -> bool {
    input
        .head(4)
        .is_ok_and(|h| h.starts_with(b"PK\x03\x04") || h.starts_with(b"PK\x05\x06"))
}

pub(crate) fn failed(name: String, format: FileFormat, why: String) -> FileAccount {
    FileAccount::failed(name, format, Problem::Failed(why))
}

/// `p` opened, at its start, and its length.
fn open_with_len(p: &Path) -> Result<(fs::File, u64), InputError> {
    let mut f = fs::File::open(p).map_err(InputError::Io)?;
    let len = f.seek(SeekFrom::End(0)).map_err(InputError::Io)?;
    f.seek(SeekFrom::Start(0)).map_err(InputError::Io)?;
    Ok((f, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileStatus;

    /// The entries a folder listing fails to give are accounted under the folder's name, with
    /// how many and the first error; the entries it gives are kept, in the order given.
    #[test]
    fn entries_the_os_fails_to_list_are_accounted() {
        let limits = Limits::default();
        let mut walk = Walk {
            limits: &limits,
            budget: ZipBudget::new(&limits),
            walked: HashSet::new(),
            found: Vec::new(),
        };
        let denied = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let entries = vec![
            Ok(PathBuf::from("t/b.evtx")),
            Err(denied()),
            Ok(PathBuf::from("t/a.evtx")),
            Err(std::io::Error::other("later")),
        ];
        let children = walk.listed("t".into(), entries);
        assert_eq!(children, [PathBuf::from("t/b.evtx"), "t/a.evtx".into()]);
        let [Found::Problem(account)] = &walk.found[..] else {
            panic!("one problem account");
        };
        assert_eq!(account.file, "t");
        assert_eq!(account.status, FileStatus::Failed);
        let why = account.problems()[0].to_string();
        assert!(
            why.starts_with(
                "the folder is listed partly: 2 entries could not be listed (permission denied)"
            ),
            "{why}"
        );

        // A listing that only fails is given up, and said to be.
        let mut walk = Walk {
            limits: &limits,
            budget: ZipBudget::new(&limits),
            walked: HashSet::new(),
            found: Vec::new(),
        };
        let children = walk.listed("u".into(), std::iter::repeat_with(|| Err(denied())));
        assert!(children.is_empty());
        let Found::Problem(account) = &walk.found[0] else {
            panic!("a problem account");
        };
        assert!(
            account.problems()[0]
                .to_string()
                .contains("1000 entries (the listing was given up) could not be listed"),
            "{:?}",
            account.problems()
        );

        // A listing with no failure accounts nothing.
        let mut walk = Walk {
            limits: &limits,
            budget: ZipBudget::new(&limits),
            walked: HashSet::new(),
            found: Vec::new(),
        };
        assert_eq!(walk.listed("v".into(), [Ok(PathBuf::from("v/x"))]).len(), 1);
        assert!(walk.found.is_empty());
    }
}
