//! Ingest: every input file → events plus a per-file account, in parallel, in a stable order.
//!
//! [`discover`] turns paths into inputs; each input's format is decided by its content
//! ([`sniff`]), never by its extension; one [`readers::Reader`] per format (registered in
//! [`readers::READERS`]) produces [`Event`]s. [`ingest_found`] is the one entry point `dump`,
//! `scan` and `batch` read through. Files are read by `threads` workers, taken in order, and
//! the caller's [`Sink`] receives each file's events and then its account strictly in input
//! order, through small bounded channels: memory stays bounded by a few batches per worker
//! whatever the input size, and the output is the same for any thread count. With one thread,
//! or one input, the calling thread reads and hands on itself (the pool still parses a large
//! file's chunks in parallel): `--threads 1` is one busy thread, and a single big file costs no
//! thread of its own beside the pool's. Why an input's
//! bytes could not be had is typed ([`error::InputError`]); a reader turns it into the file's
//! [`Problem`], a refusal at a limit keeping its limit and flag.

pub mod acl;
mod at;
pub mod binxml;
pub mod bundle;
pub mod certstore;
mod csvread;
pub mod dedup;
pub mod detail;
pub mod discover;
pub mod error;
pub mod eventxml;
pub mod evtx;
mod evtx_chunks;
mod evtx_time;
mod handoff;
pub mod limits;
pub mod mixed;
pub mod netstat;
mod ordered;
pub mod pml;
pub mod procmon;
pub mod procmon_time;
pub mod readers;
pub mod regexport;
mod text_lines;
pub mod zipdir;
pub mod zipentry;

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

pub use discover::{Found, Input};
pub use limits::Limits;
pub(crate) use readers::SNIFF_BYTES;
pub use readers::{sniff, utf8_lossy_counted};

use crate::model::{Event, FileAccount, FileFormat, FileStatus, Problem};

/// How many record errors a file's account lists before it only counts them.
pub const MAX_LISTED_ERRORS: usize = 5;

/// A piece of a bad line for its error message: its first `max` characters, `…` when cut.
pub(crate) fn clip_chars(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// A line-oriented listing's bad lines as they are found: the first [`MAX_LISTED_ERRORS`] by
/// line kept (as a slice, in line order; bad lines of one line in the order found), the rest
/// only counted. Every bad line had been kept until the account was written: a 40 MB listing
/// of one-character lines held 20 million of them, 0.8 to 1.4 GB.
#[derive(Debug, PartialEq, Eq)]
pub struct LineErrors<E> {
    first: Vec<(u64, E)>,
    count: u64,
}

impl<E> Default for LineErrors<E> {
    fn default() -> Self {
        LineErrors {
            first: Vec::new(),
            count: 0,
        }
    }
}

impl<E> LineErrors<E> {
    pub fn push(&mut self, line: u64, why: E) {
        self.count += 1;
        let at = self.first.partition_point(|(l, _)| *l <= line);
        if at < MAX_LISTED_ERRORS {
            self.first.insert(at, (line, why));
            self.first.truncate(MAX_LISTED_ERRORS);
        }
    }

    /// How many bad lines there were, listed or not.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<E> std::ops::Deref for LineErrors<E> {
    type Target = [(u64, E)];

    /// The bad lines kept: the first [`MAX_LISTED_ERRORS`] by line.
    fn deref(&self) -> &[(u64, E)] {
        &self.first
    }
}

impl<E: PartialEq> PartialEq<Vec<(u64, E)>> for LineErrors<E> {
    fn eq(&self, other: &Vec<(u64, E)>) -> bool {
        self.count == other.len() as u64 && self.first == *other
    }
}

/// A line-oriented listing's bad lines, into its account: each counted as a record error,
/// the first [`MAX_LISTED_ERRORS`] named by their line (`line N: why`), the rest counted only.
pub(crate) fn count_line_errors<E: std::fmt::Display>(
    account: &mut FileAccount,
    errors: &LineErrors<E>,
) {
    for (line, why) in errors.iter() {
        account.errors += 1;
        account.lost(Problem::Record {
            at: crate::model::At {
                record: Some(*line),
                ..Default::default()
            },
            message: format!("line {line}: {why}"),
        });
    }
    let rest = errors.count() - errors.len() as u64;
    if rest > 0 {
        account.errors += rest;
        account.damaged_silently();
    }
}

/// How the consumer of an ingest run gets its results: per file, its events in batches, then
/// its account. Called on the thread that called [`ingest`], in input order.
pub trait Sink {
    fn events(&mut self, events: Vec<Event>);
    fn file_done(&mut self, account: FileAccount);
}

/// Options for one ingest run.
pub struct IngestOptions<'a> {
    /// Worker threads (and the size of the pool that parses EVTX chunks); 0 = one per core.
    pub threads: usize,
    pub limits: Limits,
    /// Events this returns false for are counted but not handed on (the rule prefilter).
    pub keep: &'a Keep<'a>,
    /// Whether `keep`'s answer may depend on an event's `record` number (a rule reading
    /// `record`). When it cannot, a reader may judge events before it knows their numbers
    /// (a PML read on several threads numbers a block only once the blocks before it are
    /// decoded) and number the kept ones after.
    pub keep_reads_record: bool,
    /// Which of a Procmon row's other columns ([`crate::model::ProcmonRow::columns`]) are
    /// built: all of them unless the caller knows nothing will read the rest.
    pub columns: ProcmonColumns,
}

/// Which of a Procmon row's other columns (`User`, `Command Line`, ...: every column that is not
/// one of the row's own fields) a reader builds. A scan's rules read a handful of them at most,
/// and building the twenty a capture holds was a fifth of reading it; `dump` and `timeline`
/// show them all. Names are compared as rules look them up: ignoring ASCII case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProcmonColumns {
    /// Every column (what anything that shows rows needs).
    #[default]
    All,
    /// Only these (none when empty).
    Only(Vec<String>),
}

impl ProcmonColumns {
    /// No column beyond the row's own fields.
    pub fn none() -> ProcmonColumns {
        ProcmonColumns::Only(Vec::new())
    }

    /// Is the column `name` built?
    pub fn keeps(&self, name: &str) -> bool {
        match self {
            ProcmonColumns::All => true,
            ProcmonColumns::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        }
    }

    /// Every column either builds.
    pub fn union(self, other: ProcmonColumns) -> ProcmonColumns {
        match (self, other) {
            (ProcmonColumns::Only(mut a), ProcmonColumns::Only(b)) => {
                for name in b {
                    if !a.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                        a.push(name);
                    }
                }
                ProcmonColumns::Only(a)
            }
            _ => ProcmonColumns::All,
        }
    }
}

/// Which events to hand on: false = counted but dropped. It may note on the event what it
/// decided ([`crate::model::Marks`]), for the evaluation to reuse.
pub type Keep<'a> = dyn Fn(&mut Event) -> bool + Sync + 'a;

/// What a format reader gets: where to send events, and what it needs to build them.
pub struct Emit<'a> {
    pub file: &'a Arc<str>,
    pub keep: &'a Keep<'a>,
    /// [`IngestOptions::keep_reads_record`].
    pub keep_reads_record: bool,
    pub send: &'a mut dyn FnMut(Vec<Event>),
    pub pool: &'a rayon::ThreadPool,
    pub limits: &'a Limits,
    /// The Procmon columns to build ([`IngestOptions::columns`]).
    pub columns: &'a ProcmonColumns,
}

/// Kept events a line-by-line reader holds before handing them on ([`Emit::offer`]).
pub(crate) const KEPT_BATCH: usize = 1024;

/// Kept events, and what they hold ([`Event::held_bytes`]), not yet handed on.
#[derive(Default)]
pub(crate) struct Batch {
    events: Vec<Event>,
    bytes: u64,
}

impl Emit<'_> {
    /// The bytes a reader's batch of kept events may hold before it is handed on: a
    /// sixteenth of `--max-kept-bytes` (at least 64 KiB), so that events in a reader's hands
    /// stay well inside the slack the limit allows while a file is read.
    pub(crate) fn batch_bytes(&self) -> u64 {
        (self.limits.kept_bytes / 16).max(64 << 10)
    }

    /// Ask the prefilter about `event` and keep it in `batch`, handed on once it holds
    /// [`KEPT_BATCH`] events or [`Emit::batch_bytes`]: so the limits on kept events act as
    /// a file is read, not at its end.
    pub(crate) fn offer(&mut self, batch: &mut Batch, mut event: Event) {
        if (self.keep)(&mut event) {
            self.hold(batch, event, KEPT_BATCH);
        }
    }

    /// Keep `event` (already admitted) in `batch`, handed on once it holds `most` events or
    /// [`Emit::batch_bytes`].
    pub(crate) fn hold(&mut self, batch: &mut Batch, event: Event, most: usize) {
        batch.bytes += event.held_bytes();
        batch.events.push(event);
        if batch.events.len() >= most || batch.bytes >= self.batch_bytes() {
            let events =
                std::mem::replace(&mut batch.events, Vec::with_capacity(most.min(KEPT_BATCH)));
            batch.bytes = 0;
            (self.send)(events);
        }
    }

    /// Hand on what `batch` still holds.
    pub(crate) fn flush(&mut self, batch: Batch) {
        if !batch.events.is_empty() {
            (self.send)(batch.events);
        }
    }
}

/// The thread count to use for `requested` (0 = one per core).
pub fn effective_threads(requested: usize) -> usize {
    if requested > 0 {
        requested.min(MAX_THREADS)
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
    }
}

/// The most worker threads a run starts (`--threads` refuses more): far past any machine's
/// cores, short of what starting them costs (10,000 threads take a minute and can exhaust
/// memory).
pub const MAX_THREADS: usize = 1024;

/// The worker pool for `threads` (0 = one per core), built once per process and size and
/// shared by everything that runs in parallel: ingest, rule evaluation and batch tickets. A
/// run starts its threads once, however many files, tickets or evaluations it holds.
pub fn pool(threads: usize) -> Result<&'static rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    use std::sync::OnceLock;
    static POOLS: OnceLock<Mutex<Vec<(usize, &'static rayon::ThreadPool)>>> = OnceLock::new();
    let threads = effective_threads(threads);
    let pools = POOLS.get_or_init(|| Mutex::new(Vec::new()));
    let mut pools = pools
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, pool)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(pool);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    // Kept for the life of the process: its threads are the run's.
    let pool: &'static rayon::ThreadPool = Box::leak(Box::new(pool));
    pools.push((threads, pool));
    Ok(pool)
}

/// Pool jobs that may wait for the thread that started them (the PML reader's lanes), started
/// and not yet ended, in this process.
static WAITING_JOBS: AtomicUsize = AtomicUsize::new(0);

/// A claim on pool threads for jobs that may wait for their caller: never more, all claims
/// together, than all of a pool's threads but one.
///
/// A job that waits holds its thread. Several files are read at once, each by a reader that
/// hands its events on in input order; the reader of a later file can stop (its hand-off is
/// full) until an earlier file is done, and its waiting jobs then hold their threads. If they
/// held every thread, the earlier file's own jobs, not yet started, could never run, and its
/// reader, waiting for them at the end, never end: every reader stopped (seen with six PML
/// captures at `--threads 6`). With one thread always left to jobs that never wait, every job
/// started gets to run. The jobs claimed are released when the claim is dropped: after the
/// scope they ran in has ended.
pub(crate) struct WaitingJobs(usize);

impl WaitingJobs {
    /// Up to `want` jobs on `pool`, fewer (maybe none) when other readers hold the rest.
    pub(crate) fn claim(pool: &rayon::ThreadPool, want: usize) -> WaitingJobs {
        let most = pool.current_num_threads().saturating_sub(1);
        let mut got = 0;
        let _ = WAITING_JOBS.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |held| {
            got = want.min(most.saturating_sub(held));
            Some(held + got)
        });
        WaitingJobs(got)
    }

    /// How many jobs this claim holds.
    pub fn count(&self) -> usize {
        self.0
    }
}

impl Drop for WaitingJobs {
    fn drop(&mut self) {
        WAITING_JOBS.fetch_sub(self.0, Ordering::SeqCst);
    }
}

enum Msg {
    Events(Vec<Event>),
    Done(FileAccount),
}

/// Read everything under `paths`, handing results to `sink` in input order.
pub fn ingest(paths: &[PathBuf], opts: &IngestOptions<'_>, sink: &mut dyn Sink) {
    let found = discover::discover(paths, &opts.limits);
    ingest_found(found, opts, sink);
}

/// Read already discovered inputs (one ticket of a batch, say).
pub fn ingest_found(mut found: Vec<Found>, opts: &IngestOptions<'_>, sink: &mut dyn Sink) {
    let mut exports = pml::dedup::skip_csv_exports_of_pmls(&mut found);
    let mut set_notes = pml::set::join_backing_sets(&mut found);
    // Each event-log record is handed on once, however many copies of it the inputs hold.
    let mut dedup = dedup::RecordDedup::new(sink);
    let sink: &mut dyn Sink = &mut dedup;
    let threads = effective_threads(opts.threads);
    let pool = match pool(threads) {
        Ok(pool) => pool,
        Err(e) => {
            // Cannot happen short of the OS refusing threads; say so for every file.
            for f in found {
                let mut account = match f {
                    Found::Input(i) => FileAccount::new(i.name, FileFormat::Unknown),
                    Found::Problem(a) => a,
                };
                account.fail(Problem::Failed(format!("cannot start worker threads: {e}")));
                sink.file_done(account);
            }
            return;
        }
    };
    let n = found.len();
    // The PMLs read whole, of those with a CSV export set aside.
    let mut whole_pmls = HashSet::new();
    // A file's account goes to the sink with its backing-set note, if it heads a set. A CSV
    // export set aside comes just after its PML: read here after all when the PML was not
    // read whole, so that none of its rows is lost (those that are the PML's events are
    // taken out after reading, as for any export that is partly a PML's).
    let mut done = |sink: &mut dyn Sink, mut account: FileAccount| {
        if let Some(note) = set_notes.remove(&account.file) {
            account.note(note);
        }
        if account.status == FileStatus::Ok && exports.iter().any(|d| d.pml == account.file) {
            whole_pmls.insert(account.file.clone());
        }
        if let Some(k) = exports.iter().position(|d| d.csv.name == account.file)
            && !whole_pmls.contains(&exports[k].pml)
        {
            let export = exports.swap_remove(k);
            account = read_account(Found::Input(export.csv), opts, pool, &mut |events| {
                sink.events(events)
            });
            account.note(format!(
                "read although it is the CSV export of {}, which could not be read whole: its rows that are that capture's events are counted once",
                export.pml
            ));
        }
        sink.file_done(account);
    };
    if threads == 1 || n == 1 {
        // Nothing to overlap: reading here saves a thread, its channel and a hand-off per
        // batch of events, and keeps one thread's run to one thread.
        for item in found {
            let account = read_account(item, opts, pool, &mut |events| sink.events(events));
            done(sink, account);
        }
        return;
    }
    let items: Vec<Mutex<Option<Found>>> = found.into_iter().map(|f| Mutex::new(Some(f))).collect();
    let workers = threads.min(n.max(1));
    let handoff = handoff::Handoff::new(workers);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let tx = handoff.start(i);
                    let item = items[i].lock().ok().and_then(|mut g| g.take());
                    if let Some(item) = item {
                        read_one(item, opts, pool, &tx);
                    }
                }
            });
        }
        for i in 0..n {
            let rx = handoff.take(i);
            loop {
                match rx.recv() {
                    Ok(Msg::Events(events)) => sink.events(events),
                    Ok(Msg::Done(account)) => {
                        done(sink, account);
                        break;
                    }
                    Err(_) => {
                        // The worker went away without an account: an internal fault.
                        let mut account =
                            FileAccount::new(format!("input #{}", i + 1), FileFormat::Unknown);
                        account.fail(Problem::Failed(
                            "internal error: the reader stopped without a report".into(),
                        ));
                        sink.file_done(account);
                        break;
                    }
                }
            }
            handoff.done(i);
        }
    });
}

/// Read one input and send its events and account.
fn read_one(item: Found, opts: &IngestOptions<'_>, pool: &rayon::ThreadPool, tx: &SyncSender<Msg>) {
    let account = read_account(item, opts, pool, &mut |events| {
        let _ = tx.send(Msg::Events(events));
    });
    let _ = tx.send(Msg::Done(account));
}

/// Read one input, handing its events to `send`, and return its account. A panic in a reader
/// (a bug) becomes a failed account for that file; the run goes on.
fn read_account(
    item: Found,
    opts: &IngestOptions<'_>,
    pool: &rayon::ThreadPool,
    send: &mut dyn FnMut(Vec<Event>),
) -> FileAccount {
    let input = match item {
        Found::Problem(account) => return account,
        Found::Input(input) => input,
    };
    let name = input.name.clone();
    let result = catch_unwind(AssertUnwindSafe(|| {
        readers::read_input(&input, opts, pool, send)
    }));
    result.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let mut account = FileAccount::new(name, FileFormat::Unknown);
        account.fail(Problem::Failed(format!(
            "internal error while reading (please report): {what}"
        )));
        account
    })
}

/// A sink that keeps everything: for tests and small inputs.
#[derive(Default)]
pub struct Collect {
    pub events: Vec<Event>,
    pub accounts: Vec<FileAccount>,
}

impl Sink for Collect {
    fn events(&mut self, mut events: Vec<Event>) {
        self.events.append(&mut events);
    }
    fn file_done(&mut self, account: FileAccount) {
        self.accounts.push(account);
    }
}

/// Keep every event.
pub fn keep_all(_: &mut Event) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader hands its kept events on once they hold a sixteenth of `--max-kept-bytes`,
    /// however few they are: 20 rows of 100 KiB under a 16 MiB cap go on in batches of at
    /// most 1 MiB, not all at once.
    #[test]
    fn a_batch_of_large_kept_events_is_handed_on_by_its_bytes() {
        let limits = Limits {
            kept_bytes: 16 << 20,
            ..Limits::default()
        };
        let file: Arc<str> = Arc::from("x.reg");
        let keep = |_: &mut Event| true;
        let mut sent: Vec<usize> = Vec::new();
        let mut send = |events: Vec<Event>| sent.push(events.len());
        let pool = pool(1).expect("a pool");
        let columns = ProcmonColumns::none();
        let mut emit = Emit {
            file: &file,
            keep: &keep,
            keep_reads_record: false,
            send: &mut send,
            pool,
            limits: &limits,
            columns: &columns,
        };
        let mut batch = Batch::default();
        for n in 0..20 {
            let value = crate::model::RegValue {
                data: "x".repeat(100 << 10),
                ..Default::default()
            };
            let event = Event {
                file: file.clone(),
                record: n,
                time: None,
                kind: crate::model::EventKind::Registry(Box::new(value)),
                marks: Default::default(),
            };
            emit.offer(&mut batch, event);
        }
        emit.flush(batch);
        assert_eq!(sent.iter().sum::<usize>(), 20);
        assert!(sent.len() >= 2 && sent.iter().all(|&n| n <= 11), "{sent:?}");
    }
}
