//! Batch triage: every child of a folder (a folder or a `.zip`) is one support ticket.
//! Tickets are analysed in parallel and handed on strictly in name order as each is done, so
//! the output is the same for any thread count and memory holds the results of a window of
//! tickets at most ([`run`]), not the batch. A broken ticket is a ticket with unreadable inputs, never the end
//! of the batch.
//!
//! This module also owns what a ticket *is* across runs: its shard ([`shard_of`]), its
//! report's file name ([`report_stem`]) and the content hash `--incremental` compares
//! ([`inputs_sha256`]), so that `batch`, a sharded `batch` and `merge` agree by construction.
//! A ticket's summary line and the exit it adds are output: `report::ticket`.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A ticket: its name (the child's file name) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub name: String,
    pub path: PathBuf,
}

/// A child of the batch folder that is not triaged, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotATicket {
    pub name: String,
    pub why: String,
    /// A folder or zip, a ticket by its kind, that could not be triaged (its name reads as
    /// another's): the batch has not seen all its tickets.
    pub ticket: bool,
}

/// The children of `dir` that are tickets, sorted by name (as shown: the order `merge`
/// restores), and the ones that are not. `out`, the `--out` folder, is never a ticket: kept
/// inside `dir`, it would become one on the next run (its reports read as a ticket's logs).
pub fn tickets(dir: &Path, out: Option<&Path>) -> std::io::Result<(Vec<Ticket>, Vec<NotATicket>)> {
    let out = out.and_then(resolved);
    let children: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    let mut children: Vec<_> = children
        .into_iter()
        .map(|c| (shown_name(&c.file_name()), c))
        .collect();
    children.sort_by(|(x, a), (y, b)| (x, a.file_name()).cmp(&(y, b.file_name())));
    let mut tickets = Vec::new();
    let mut skipped = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (name, c) in children {
        let path = c.path();
        let is_zip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if out.is_some() && path.is_dir() && resolved(&path) == out {
            skipped.push(NotATicket {
                name,
                why: "the --out folder, where the reports go, is not a ticket".to_string(),
                ticket: false,
            });
            continue;
        }
        if path.is_dir() || (path.is_file() && is_zip) {
            // A ticket's name is its report's file name and its key in every output: two
            // tickets shown alike would overwrite each other's reports.
            if !names.insert(name.clone()) {
                skipped.push(NotATicket {
                    name,
                    why: "its name reads the same as another ticket's: rename it".to_string(),
                    ticket: true,
                });
                continue;
            }
            tickets.push(Ticket { name, path });
        } else {
            skipped.push(NotATicket {
                name,
                why: "not a folder or a .zip".to_string(),
                ticket: false,
            });
        }
    }
    Ok((tickets, skipped))
}

/// `path` with its links and `..` resolved; for a path not made yet, its parent resolved and
/// its name added.
fn resolved(path: &Path) -> Option<std::path::PathBuf> {
    std::fs::canonicalize(path).ok().or_else(|| {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = std::fs::canonicalize(parent.unwrap_or(Path::new("."))).ok()?;
        Some(parent.join(path.file_name()?))
    })
}

/// A file name as text: as it is when it is UTF-8; otherwise each byte that is not UTF-8 is
/// written `\xNN`, so that two names differing only there stay apart (`x\xFF`, `x\xFE`), where
/// replacing them with U+FFFD made them one name and one report.
fn shown_name(name: &std::ffi::OsStr) -> String {
    if let Some(text) = name.to_str() {
        return text.to_string();
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let mut out = String::new();
        for chunk in name.as_bytes().utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02X}"));
            }
        }
        out
    }
    #[cfg(not(unix))]
    {
        name.to_string_lossy().into_owned()
    }
}

/// Which shard (0-based, of `total`) a ticket belongs to: the first 8 bytes of the SHA-256 of
/// its name, modulo `total`. SHA-256 and not Rust's `HashMap` hasher, which is keyed at
/// random per process: every shard process, on any machine, any version, must agree, and
/// anyone can recompute it (`printf %s NAME | sha256sum`). A ticket's shard depends on its
/// name alone, so adding a ticket moves no other ticket.
pub fn shard_of(ticket: &str, total: u32) -> u32 {
    let digest = Sha256::digest(ticket.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(total.max(1))) as u32
}

/// One shard of a batch: `index` is 0-based, `index < total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

impl Shard {
    pub fn holds(&self, ticket: &str) -> bool {
        shard_of(ticket, self.total) == self.index
    }

    /// `--shard K/N` (1-based K) or `--shard auto`: from GitLab's `CI_NODE_INDEX` and
    /// `CI_NODE_TOTAL` (1-based), else Kubernetes' `JOB_COMPLETION_INDEX` (0-based) with
    /// `--shard-total N`. `env` reads a variable (the process environment, or a test's).
    pub fn parse(
        text: &str,
        shard_total: Option<u32>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Shard, String> {
        let number = |what: &str, v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{what} {v:?} is not a number"))
        };
        if text.trim() != "auto" {
            if shard_total.is_some() {
                return Err("--shard-total goes with --shard auto".into());
            }
            let (k, n) = text
                .split_once('/')
                .ok_or_else(|| format!("--shard {text:?}: expected K/N (e.g. 2/4) or auto"))?;
            let (k, n) = (number("--shard", k)?, number("--shard", n)?);
            if n == 0 || k == 0 || k > n {
                return Err(format!("--shard {text:?}: K must be 1 to N"));
            }
            return Ok(Shard {
                index: k - 1,
                total: n,
            });
        }
        if let (Some(k), Some(n)) = (env("CI_NODE_INDEX"), env("CI_NODE_TOTAL")) {
            let (k, n) = (number("CI_NODE_INDEX", &k)?, number("CI_NODE_TOTAL", &n)?);
            if n == 0 || k == 0 || k > n {
                return Err(format!(
                    "CI_NODE_INDEX={k} CI_NODE_TOTAL={n}: the index must be 1 to the total"
                ));
            }
            return Ok(Shard {
                index: k - 1,
                total: n,
            });
        }
        if let Some(i) = env("JOB_COMPLETION_INDEX") {
            let i = number("JOB_COMPLETION_INDEX", &i)?;
            let n = shard_total.ok_or(
                "JOB_COMPLETION_INDEX is set: give the number of shards with --shard-total N",
            )?;
            if i >= n {
                return Err(format!(
                    "JOB_COMPLETION_INDEX={i} with --shard-total {n}: the index must be below the total"
                ));
            }
            return Ok(Shard { index: i, total: n });
        }
        Err("--shard auto: neither CI_NODE_INDEX/CI_NODE_TOTAL (GitLab parallel:) nor JOB_COMPLETION_INDEX (Kubernetes Indexed Job) is set".into())
    }
}

/// The longest report stem kept whole; longer ones are cut and given a hash (a file name is
/// at most 255 bytes on common file systems, and `.json` follows the stem).
const MAX_STEM: usize = 150;

/// A ticket name as a report file stem (for `--out`): readable, safe and unique. ASCII
/// letters, digits, `-`, `_` and `.` stay; every other byte is written `%XX`, `%` included,
/// so two names never share a stem (`a b` is `a%20b`, `a_b` stays `a_b`). A leading dot is
/// escaped too (no hidden files, no `..`), and so is a leading dash (`rm *` or `cat *.md` in
/// `--out` would read a file `-rf.md` as options). A stem past [`MAX_STEM`] bytes is cut and ends
/// with `~` and 16 hex digits of the name's SHA-256 (`~` is otherwise escaped, so a cut stem
/// cannot equal a whole one). A name Windows keeps for a device (`CON`, `nul.zip`, `COM1`)
/// has its first letter escaped: `--out` on a Windows share would otherwise write to the
/// console or nowhere.
pub fn report_stem(ticket: &str) -> String {
    let mut stem = String::with_capacity(ticket.len());
    let device = windows_device_name(ticket);
    for (i, b) in ticket.bytes().enumerate() {
        let plain = (b.is_ascii_alphanumeric() && !(i == 0 && device))
            || b == b'_'
            || (matches!(b, b'.' | b'-') && i > 0);
        if plain {
            stem.push(b as char);
        } else {
            stem.push_str(&format!("%{b:02X}"));
        }
    }
    if stem.is_empty() {
        return "%".to_string() + "00";
    }
    if stem.len() > MAX_STEM {
        let mut cut = MAX_STEM - 17;
        // Never split a %XX escape.
        while stem.as_bytes()[cut - 1] == b'%' || stem.as_bytes()[cut - 2] == b'%' {
            cut -= 1;
        }
        let digest = Sha256::digest(ticket.as_bytes());
        stem.truncate(cut);
        stem.push('~');
        for b in &digest[..8] {
            stem.push_str(&format!("{b:02x}"));
        }
    }
    stem
}

/// The report stems of a batch's tickets (every ticket of the folder, before any shard is
/// taken, so that every shard agrees), in order. Each is [`report_stem`], unless it equals
/// another's but for the case of its letters: on a case-insensitive file system (Windows,
/// macOS) `x.json` and `X.json` are one file, and one ticket's report would overwrite the
/// other's. Then each of those whose name holds an ASCII capital letter takes
/// [`report_stem_apart`] (its stem, `~` and 16 hex digits of its name's SHA-256), and the one
/// in lower case, if any, keeps its stem. The result depends on the names alone, never on
/// their order or the thread count.
pub fn report_stems(tickets: &[&str]) -> Vec<String> {
    let stems: Vec<String> = tickets.iter().map(|t| report_stem(t)).collect();
    let mut folded: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for stem in &stems {
        *folded.entry(stem.to_ascii_lowercase()).or_insert(0) += 1;
    }
    tickets
        .iter()
        .zip(stems)
        .map(|(ticket, stem)| {
            let alike = folded.get(&stem.to_ascii_lowercase()).copied().unwrap_or(0) > 1;
            if alike && ticket.bytes().any(|b| b.is_ascii_uppercase()) {
                report_stem_apart(ticket)
            } else {
                stem
            }
        })
        .collect()
}

/// A ticket's stem made apart from the stems of names that differ from it only in case: its
/// [`report_stem`], `~`, and the first 16 hex digits of the SHA-256 of its name. A stem cut
/// for length already ends so (with its own name's digest) and is kept as it is.
pub fn report_stem_apart(ticket: &str) -> String {
    let mut stem = report_stem(ticket);
    if stem.contains('~') {
        return stem;
    }
    let digest = Sha256::digest(ticket.as_bytes());
    stem.push('~');
    for b in &digest[..8] {
        stem.push_str(&format!("{b:02x}"));
    }
    stem
}

/// Whether `stem` is a stem `batch` gives the ticket `ticket`: its [`report_stem`], or, made
/// apart from a ticket whose name differs only in case, its [`report_stem_apart`].
pub fn is_report_stem_of(ticket: &str, stem: &str) -> bool {
    stem == report_stem(ticket) || stem == report_stem_apart(ticket)
}

/// Whether a file named `name` (and so `name.md`) would be one of Windows' device names: its
/// part before the first dot is `CON`, `PRN`, `AUX`, `NUL`, `COM1`–`COM9` or `LPT1`–`LPT9`,
/// in any case.
fn windows_device_name(name: &str) -> bool {
    let base = name.split('.').next().unwrap_or(name).to_ascii_uppercase();
    matches!(base.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (base.len() == 4
            && (base.starts_with("COM") || base.starts_with("LPT"))
            && matches!(base.as_bytes()[3], b'1'..=b'9'))
}

/// SHA-256 over everything that decides a ticket's report: `salt` (the tool's version, the
/// rules and the options that change a report), then every entry of the ticket in name order,
/// as the reader sees it: a regular file by its relative path and content; anything the reader
/// lists without opening (a FIFO, a device, a socket, and a symlink unless `follow`) by its
/// path and kind alone (a symlink with where it points), so hashing never blocks on a FIFO or
/// reads a device without end. With `follow`, a symlink is hashed as what it points to, a
/// symlinked folder entered as the reader enters it: a folder already walked (reached twice,
/// or a loop) is walked once, the later path hashed as such, as discovery lists it. `None`
/// when a file cannot be read: such a ticket is always analysed again.
pub fn inputs_sha256(ticket: &Path, salt: &[u8], follow: bool) -> Option<String> {
    let mut h = Sha256::new();
    h.update((salt.len() as u64).to_le_bytes());
    h.update(salt);
    // The ticket itself was named (a folder or a zip in the batch folder): followed.
    let meta = std::fs::metadata(ticket).ok()?;
    let mut tree = Tree {
        h,
        follow,
        walked: HashSet::new(),
    };
    tree.hash(ticket, meta, Path::new(""), 0)?;
    Some(
        tree.h
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

/// A ticket's tree being hashed.
struct Tree {
    h: Sha256,
    /// `--follow`: symlinks are read as what they point to, as the reader reads them.
    follow: bool,
    /// Folders entered so far, by [`folder_key`]: as discovery, none is walked twice.
    walked: HashSet<FolderKey>,
}

impl Tree {
    fn hash(
        &mut self,
        path: &Path,
        meta: std::fs::Metadata,
        rel: &Path,
        depth: usize,
    ) -> Option<()> {
        let h = &mut self.h;
        if meta.is_dir() {
            if depth > 64 {
                return None;
            }
            // Reached before (through a symlink, or a loop back to a folder above): discovery
            // lists it as already read, and so does the hash.
            if !self.walked.insert(folder_key(path, &meta)?) {
                hash_entry(h, rel, b"folder already walked");
                return Some(());
            }
            let mut children: Vec<_> = std::fs::read_dir(path)
                .ok()?
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            children.sort_by_key(|c| c.file_name());
            for c in children {
                let path = c.path();
                let rel = rel.join(c.file_name());
                let own = std::fs::symlink_metadata(&path).ok()?;
                let meta = if own.file_type().is_symlink() {
                    match std::fs::metadata(&path) {
                        // Followed, a symlink is what it points to, a folder included.
                        Ok(m) if self.follow => m,
                        // Listed, not read (or pointing nowhere): its name and where it
                        // points decide its account.
                        _ => {
                            let to = std::fs::read_link(&path).unwrap_or_default();
                            hash_entry(&mut self.h, &rel, b"symlink");
                            self.h.update(to.as_os_str().as_encoded_bytes());
                            continue;
                        }
                    }
                } else {
                    own
                };
                self.hash(&path, meta, &rel, depth + 1)?;
            }
            return Some(());
        }
        if !meta.is_file() {
            // A FIFO, a device, a socket: listed by the reader, never opened.
            hash_entry(h, rel, b"not a regular file");
            return Some(());
        }
        hash_entry(h, rel, b"file");
        h.update(meta.len().to_le_bytes());
        let mut file = std::fs::File::open(path).ok()?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => return Some(()),
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
    }
}

/// Which folder a path is, however it was reached (as discovery tells them): its device and
/// inode where the platform has them, else its canonical path.
#[derive(PartialEq, Eq, Hash)]
enum FolderKey {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg(not(unix))]
    Path(PathBuf),
}

fn folder_key(path: &Path, meta: &std::fs::Metadata) -> Option<FolderKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        Some(FolderKey::Inode(meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        std::fs::canonicalize(path).ok().map(FolderKey::Path)
    }
}

/// An entry's relative path and kind, length-prefixed so no two entries hash alike.
fn hash_entry(h: &mut Sha256, rel: &Path, kind: &[u8]) {
    let name = rel.to_string_lossy();
    h.update((name.len() as u64).to_le_bytes());
    h.update(name.as_bytes());
    h.update((kind.len() as u64).to_le_bytes());
    h.update(kind);
}

/// Work on every ticket in parallel (`work` runs on the run's pool); `on_done` gets each
/// result in ticket order, on this thread, as soon as the tickets before it are done.
///
/// The tickets are taken in windows of [`WINDOW_PER_THREAD`] per thread, the largest of a
/// window first (so a big ticket does not start last and keep the others waiting), and no
/// ticket starts two windows or more ahead of the first one not handed on yet: memory holds
/// the results of two windows at most, never the batch's. There is no barrier between
/// windows: a worker that finishes takes the next ticket at once. With one thread, each
/// result is handed on as it is made.
pub fn run<T: Send>(
    tickets: &[Ticket],
    threads: usize,
    work: &(dyn Fn(&Ticket) -> T + Sync),
    on_done: &mut dyn FnMut(&Ticket, T),
) {
    let threads = crate::ingest::effective_threads(threads);
    match crate::ingest::pool(threads) {
        Ok(pool) if threads > 1 && tickets.len() > 1 => {
            in_order(pool, tickets, threads, work, on_done);
        }
        _ => {
            for t in tickets {
                let result = work(t);
                on_done(t, result);
            }
        }
    }
}

/// Tickets per worker thread in a scheduling window of [`run`].
const WINDOW_PER_THREAD: usize = 4;

/// The order tickets are started in: window by window, the largest of each first (equal
/// sizes in ticket order; the outcome never depends on it anyway).
fn start_order(tickets: &[Ticket], threads: usize) -> Vec<usize> {
    let window = threads.saturating_mul(WINDOW_PER_THREAD).max(1);
    let mut order = Vec::with_capacity(tickets.len());
    for (w, chunk) in tickets.chunks(window).enumerate() {
        let mut sized: Vec<(u64, usize)> = chunk
            .iter()
            .enumerate()
            .map(|(i, t)| (size_of(&t.path, 4), w * window + i))
            .collect();
        sized.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        order.extend(sized.into_iter().map(|(_, i)| i));
    }
    order
}

/// `work` over `tickets` on `pool`, `threads` at a time, started in [`start_order`]; each
/// result goes to `on_done` on this thread once every ticket before it has gone. This thread
/// starts each ticket, and none two windows or more ahead of the first ticket not handed on
/// yet, so a slow `on_done` (a full pipe) holds the work back instead of piling results up.
/// Nothing on the pool ever waits for this thread: a ticket's own analysis runs on the pool
/// too (`rayon::join`), and a worker blocked there could be holding, below it on its stack,
/// the very ticket it waits for.
fn in_order<T: Send>(
    pool: &rayon::ThreadPool,
    tickets: &[Ticket],
    threads: usize,
    work: &(dyn Fn(&Ticket) -> T + Sync),
    on_done: &mut dyn FnMut(&Ticket, T),
) {
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::mpsc;
    let order = start_order(tickets, threads);
    let ahead = 2 * threads * WINDOW_PER_THREAD;
    let (done, results) = mpsc::channel();
    pool.in_place_scope(|scope| {
        let (mut started, mut in_flight, mut handed) = (0, 0, 0);
        // Results that came before one of the tickets ahead of them, until it comes.
        let mut waiting: std::collections::BTreeMap<usize, T> = Default::default();
        loop {
            // The first ticket not handed on is always started before one two windows
            // ahead of it is held back here, so something is in flight until all are done.
            while in_flight < threads
                && let Some(&i) = order.get(started)
                && i < handed + ahead
            {
                let done = done.clone();
                scope.spawn(move |_| {
                    let result = catch_unwind(AssertUnwindSafe(|| work(&tickets[i])));
                    let _ = done.send((i, result));
                });
                started += 1;
                in_flight += 1;
            }
            if in_flight == 0 {
                break;
            }
            let Ok((i, result)) = results.recv() else {
                break;
            };
            in_flight -= 1;
            // A ticket whose work panicked ends the run with its panic, once the tickets in
            // flight are done (the scope waits for them).
            waiting.insert(i, result.unwrap_or_else(|panic| resume_unwind(panic)));
            while let Some(result) = waiting.remove(&handed) {
                on_done(&tickets[handed], result);
                handed += 1;
            }
        }
    });
}

/// Bytes under `path` (a file, or a folder to `depth` levels; a link counts as the file it
/// names, a linked folder as nothing): how much work a ticket is, roughly.
fn size_of(path: &Path, depth: u32) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.file_type().is_symlink() {
        return std::fs::metadata(path)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map_or(0, |m| m.len());
    }
    if !meta.is_dir() {
        return meta.len();
    }
    if depth == 0 {
        return 0;
    }
    std::fs::read_dir(path).map_or(0, |dir| {
        dir.filter_map(Result::ok)
            .map(|e| size_of(&e.path(), depth - 1))
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names that are not UTF-8 keep their bytes apart; two tickets shown alike are not both
    /// triaged (the second is listed as skipped, saying why).
    #[cfg(unix)]
    #[test]
    fn ticket_names_that_are_not_utf8_stay_apart() {
        use std::os::unix::ffi::OsStrExt;
        let name = |b: &[u8]| shown_name(std::ffi::OsStr::from_bytes(b));
        assert_eq!(name(b"x\xff"), r"x\xFF");
        assert_ne!(name(b"x\xff"), name(b"x\xfe"));
        assert_eq!(name("caf\u{e9}".as_bytes()), "caf\u{e9}");
        let dir = tempfile::tempdir().unwrap();
        for n in [&b"x\xff"[..], b"x\\xFF", b"x\xfe"] {
            std::fs::create_dir(dir.path().join(std::ffi::OsStr::from_bytes(n))).unwrap();
        }
        let (tickets, skipped) = tickets(dir.path(), None).unwrap();
        let shown: Vec<&str> = tickets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(shown, [r"x\xFE", r"x\xFF"]);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].name, r"x\xFF");
        assert!(skipped[0].why.contains("another ticket") && skipped[0].ticket);
    }

    #[test]
    fn stems_differing_only_in_case_are_made_apart() {
        let names = ["X", "Y", "aB", "ab", "x", "Ab"];
        let stems = report_stems(&names);
        // Alone in its case-folded set, a stem is as report_stem makes it; the name in lower
        // case keeps its stem; the others take a digest of their own name.
        assert_eq!(stems[1], "Y");
        assert_eq!(stems[4], "x");
        assert_eq!(stems[3], "ab");
        assert!(
            stems[0].starts_with("X~") && stems[0].len() == 2 + 16,
            "{stems:?}"
        );
        let folded: HashSet<String> = stems.iter().map(|s| s.to_ascii_lowercase()).collect();
        assert_eq!(folded.len(), names.len(), "{stems:?}");
        // The same names in another order: the same stem for each.
        let mut reversed = names;
        reversed.reverse();
        let mut again = report_stems(&reversed);
        again.reverse();
        assert_eq!(again, stems);
        for (name, stem) in names.iter().zip(&stems) {
            assert!(is_report_stem_of(name, stem), "{name} {stem}");
        }
        assert!(!is_report_stem_of("x", &stems[0]));
    }

    #[test]
    fn stems_are_safe_and_unique() {
        assert_eq!(report_stem("T-1234.zip"), "T-1234.zip");
        assert_eq!(report_stem("../../etc/passwd"), "%2E.%2F..%2Fetc%2Fpasswd");
        assert_eq!(report_stem("tic ket\u{1b}[31m"), "tic%20ket%1B%5B31m");
        assert_eq!(report_stem("a_b"), "a_b");
        assert_eq!(report_stem("a b"), "a%20b");
        assert_ne!(report_stem("a%20b"), report_stem("a b"));
        assert_eq!(report_stem(""), "%00");
        // A leading dash would read as an option to a shell glob's command (`rm *`).
        assert_eq!(report_stem("-rf"), "%2Drf");
        assert_eq!(report_stem("--help"), "%2D-help");
        assert_eq!(report_stem("a-b"), "a-b");
        assert_eq!(report_stem("é"), "%C3%A9");
        // Windows' device names, whatever follows the first dot.
        assert_eq!(report_stem("CON"), "%43ON");
        assert_eq!(report_stem("nul.zip"), "%6Eul.zip");
        assert_eq!(report_stem("Com1"), "%43om1");
        assert_eq!(report_stem("LPT9.tar.gz"), "%4CPT9.tar.gz");
        assert_ne!(report_stem("%43ON"), report_stem("CON"));
        for kept in ["CONSOLE", "COM10", "COM0", "LPT", "xCON", "aux-logs"] {
            assert_eq!(report_stem(kept), kept);
        }
    }

    #[test]
    fn long_names_get_a_short_unique_stem() {
        let a = "x".repeat(255);
        let b = format!("{}y", "x".repeat(254));
        let (sa, sb) = (report_stem(&a), report_stem(&b));
        assert!(sa.len() <= MAX_STEM && sb.len() <= MAX_STEM, "{sa}");
        assert_ne!(sa, sb);
        assert!(sa.contains('~'));
        let escaped = report_stem(&" ".repeat(100));
        assert!(escaped.len() <= MAX_STEM);
        // A cut never leaves half an escape before the hash.
        let before_hash = escaped.split('~').next().unwrap();
        assert!(before_hash.len().is_multiple_of(3), "{escaped}");
    }

    #[test]
    fn shards_parse_from_flags_and_ci_variables() {
        let none = |_: &str| None;
        let p =
            |t: &str, n: Option<u32>, env: &dyn Fn(&str) -> Option<String>| Shard::parse(t, n, env);
        assert_eq!(p("2/4", None, &none), Ok(Shard { index: 1, total: 4 }));
        assert!(p("0/4", None, &none).is_err());
        assert!(p("5/4", None, &none).is_err());
        assert!(p("x", None, &none).is_err());
        assert!(p("1/2", Some(2), &none).is_err());
        assert!(p("auto", None, &none).is_err());
        let gitlab = |k: &str| match k {
            "CI_NODE_INDEX" => Some("3".to_string()),
            "CI_NODE_TOTAL" => Some("3".to_string()),
            _ => None,
        };
        assert_eq!(p("auto", None, &gitlab), Ok(Shard { index: 2, total: 3 }));
        let k8s = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "0".to_string());
        assert_eq!(p("auto", Some(4), &k8s), Ok(Shard { index: 0, total: 4 }));
        assert!(p("auto", None, &k8s).is_err());
        let k8s_high = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "4".to_string());
        assert!(p("auto", Some(4), &k8s_high).is_err());
    }

    #[test]
    fn shards_are_stable_and_cover_everything() {
        // Pinned: the shard of a name must never change between versions or machines.
        assert_eq!(shard_of("T0001", 4), shard_of("T0001", 4));
        let names: Vec<String> = (0..400).map(|i| format!("T{i:04}")).collect();
        for total in [1, 3, 4] {
            let mut counts = vec![0; total as usize];
            for n in &names {
                counts[shard_of(n, total) as usize] += 1;
            }
            assert_eq!(counts.iter().sum::<usize>(), names.len());
            assert!(
                counts.iter().all(|&c| c > 400 / total as usize / 2),
                "{counts:?}"
            );
        }
        // SHA-256("abc") starts ba7816bf8f01cfea: 0xba7816bf8f01cfea % 1000 = 234.
        assert_eq!(
            shard_of("abc", 1000),
            (0xba78_16bf_8f01_cfea_u64 % 1000) as u32
        );
    }

    /// `n` tickets `T0000`... whose paths do not exist (all of size 0).
    fn made_up(n: usize) -> Vec<Ticket> {
        (0..n)
            .map(|i| Ticket {
                name: format!("T{i:04}"),
                path: PathBuf::from(format!("/nonexistent/T{i:04}")),
            })
            .collect()
    }

    /// Results are handed on in ticket order as soon as the tickets before them are done:
    /// with one thread each before the next ticket starts, with more never more than two
    /// windows' worth waiting, whatever the batch's length.
    #[test]
    fn results_go_on_in_order_without_waiting_for_the_batch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let tickets = made_up(300);
        for threads in [1, 2, 3] {
            let finished = AtomicUsize::new(0);
            let mut handed = Vec::new();
            let mut most_waiting = 0;
            let work = |t: &Ticket| {
                // Uneven work, so that tickets finish out of order.
                let n: usize = t.name[1..].parse().unwrap_or(0);
                let spin = (n * 7919) % 13 * 2_000;
                let mut x = 0u64;
                for k in 0..spin {
                    x = std::hint::black_box(x.wrapping_add(k as u64));
                }
                finished.fetch_add(1, Ordering::SeqCst);
                (n, x)
            };
            run(&tickets, threads, &work, &mut |t, (n, _)| {
                assert_eq!(t.name, format!("T{n:04}"));
                let waiting = finished.load(Ordering::SeqCst) - handed.len();
                most_waiting = most_waiting.max(waiting);
                handed.push(n);
            });
            assert_eq!(handed, (0..300).collect::<Vec<_>>(), "{threads} threads");
            let bound = if threads == 1 {
                1
            } else {
                2 * threads * WINDOW_PER_THREAD
            };
            assert!(
                most_waiting <= bound,
                "{threads} threads: {most_waiting} waiting"
            );
        }
    }

    /// A ticket whose work panics ends the run with that panic, at any thread count: the
    /// other workers are not left waiting for it to be handed on.
    #[test]
    fn a_panicking_ticket_does_not_hang_the_run() {
        let tickets = made_up(100);
        for threads in [1, 2, 3] {
            let run_it = || {
                let work = |t: &Ticket| {
                    assert_ne!(t.name, "T0003", "a broken analysis");
                    t.name.len()
                };
                run(&tickets, threads, &work, &mut |_, _| {});
            };
            let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run_it));
            assert!(ended.is_err(), "{threads} threads");
        }
    }
}
