//! Ingest: every input file → events plus a per-file account, in parallel, in a stable order.
//!
//! [`discover`] turns paths into inputs; each input's format is decided by its content
//! ([`sniff`]), never by its extension; one reader per format ([`evtx`], [`eventxml`],
//! [`procmon`]) produces [`Event`]s. Files are read by `threads` workers, taken in order, and
//! the caller's [`Sink`] receives each file's events and then its account strictly in input
//! order, through small bounded channels: memory stays bounded by a few batches per worker
//! whatever the input size, and the output is the same for any thread count.

pub mod acl;
pub mod binxml;
pub mod bundle;
mod csvread;
pub mod dedup;
pub mod detail;
pub mod discover;
pub mod eventxml;
pub mod evtx;
pub mod limits;
pub mod pml;
pub mod procmon;
pub mod procmon_time;
pub mod regexport;
pub mod zipdir;
pub mod zipentry;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

pub use discover::{Found, Input};
pub use limits::Limits;

use crate::model::{Event, FileAccount, FileFormat, FileStatus};

/// How many record errors a file's account lists before it only counts them.
pub const MAX_LISTED_ERRORS: usize = 5;

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
    pub keep: &'a (dyn Fn(&Event) -> bool + Sync),
}

/// What a format reader gets: where to send events, and what it needs to build them.
pub struct Emit<'a> {
    pub file: &'a Arc<str>,
    pub keep: &'a (dyn Fn(&Event) -> bool + Sync),
    pub send: &'a mut dyn FnMut(Vec<Event>),
    pub pool: &'a rayon::ThreadPool,
    pub limits: &'a Limits,
}

/// The thread count to use for `requested` (0 = one per core).
pub fn effective_threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
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
    pml::dedup::skip_csv_exports_of_pmls(&mut found);
    let mut set_notes = pml::set::join_backing_sets(&mut found);
    // Each event-log record is handed on once, however many copies of it the inputs hold.
    let mut dedup = dedup::RecordDedup::new(sink);
    let sink: &mut dyn Sink = &mut dedup;
    let threads = effective_threads(opts.threads);
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool,
        Err(e) => {
            // Cannot happen short of the OS refusing threads; say so for every file.
            for f in found {
                let mut account = match f {
                    Found::Input(i) => FileAccount::new(i.name, FileFormat::Unknown),
                    Found::Problem(a) => a,
                };
                account.status = FileStatus::Failed;
                account
                    .problems
                    .push(format!("cannot start worker threads: {e}"));
                sink.file_done(account);
            }
            return;
        }
    };
    let n = found.len();
    let items: Vec<Mutex<Option<Found>>> = found.into_iter().map(|f| Mutex::new(Some(f))).collect();
    let mut senders: Vec<Mutex<Option<SyncSender<Msg>>>> = Vec::with_capacity(n);
    let mut receivers: Vec<Receiver<Msg>> = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = sync_channel(4);
        senders.push(Mutex::new(Some(tx)));
        receivers.push(rx);
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(n.max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let item = items[i].lock().ok().and_then(|mut g| g.take());
                    let tx = senders[i].lock().ok().and_then(|mut g| g.take());
                    if let (Some(item), Some(tx)) = (item, tx) {
                        read_one(item, opts, &pool, &tx);
                    }
                }
            });
        }
        for (i, rx) in receivers.iter().enumerate() {
            loop {
                match rx.recv() {
                    Ok(Msg::Events(events)) => sink.events(events),
                    Ok(Msg::Done(mut account)) => {
                        if let Some(note) = set_notes.remove(&account.file) {
                            account.problems.push(note);
                        }
                        sink.file_done(account);
                        break;
                    }
                    Err(_) => {
                        // The worker went away without an account: an internal fault.
                        let mut account =
                            FileAccount::new(format!("input #{}", i + 1), FileFormat::Unknown);
                        account.status = FileStatus::Failed;
                        account
                            .problems
                            .push("internal error: the reader stopped without a report".into());
                        sink.file_done(account);
                        break;
                    }
                }
            }
        }
    });
}

/// Read one input and send its events and account. A panic in a reader (a bug) becomes a
/// failed account for that file; the run goes on.
fn read_one(item: Found, opts: &IngestOptions<'_>, pool: &rayon::ThreadPool, tx: &SyncSender<Msg>) {
    let input = match item {
        Found::Problem(account) => {
            let _ = tx.send(Msg::Done(account));
            return;
        }
        Found::Input(input) => input,
    };
    let name = input.name.clone();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut send = |events: Vec<Event>| {
            let _ = tx.send(Msg::Events(events));
        };
        read_input(&input, opts, pool, &mut send)
    }));
    let account = result.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let mut account = FileAccount::new(name, FileFormat::Unknown);
        account.status = FileStatus::Failed;
        account.problems.push(format!(
            "internal error while reading (please report): {what}"
        ));
        account
    });
    let _ = tx.send(Msg::Done(account));
}

/// Bytes looked at to decide a format.
pub(crate) const SNIFF_BYTES: usize = 8192;

/// Decide an input's format from its first bytes.
pub fn sniff(head: &[u8]) -> FileFormat {
    if head.is_empty() {
        return FileFormat::Empty;
    }
    if head.starts_with(b"ElfFile\0") {
        return FileFormat::Evtx;
    }
    if head.starts_with(b"PML_") {
        return FileFormat::ProcmonPml;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return FileFormat::Zip;
    }
    if let Some(format) = sniff_collector_text(head) {
        return format;
    }
    // UTF-16LE with its byte-order mark (event-log XML, or Process Monitor's Unicode CSV), or
    // UTF-8 with or without one.
    let text = if let Some(rest) = head.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head)).into_owned()
    };
    if looks_like_event_xml(&text) {
        return FileFormat::EventXml;
    }
    let first_line = text.lines().next().unwrap_or("");
    let names: Vec<String> = first_line
        .split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect();
    let has = |n: &str| names.iter().any(|h| h == n);
    if procmon::STACK_HEADER.iter().all(|c| has(c)) {
        return FileFormat::ProcmonStack;
    }
    if ["Level", "Date and Time", "Source", "Event ID"]
        .iter()
        .all(|c| has(c))
    {
        return FileFormat::EventViewerCsv;
    }
    let known = procmon::KNOWN_COLUMNS.iter().filter(|c| has(c)).count();
    if known >= 2 {
        return FileFormat::ProcmonCsv;
    }
    FileFormat::Unknown
}

/// The collectors' own text shapes: a `reg export`, an ACL listing (UTF-16 or UTF-8).
fn sniff_collector_text(head: &[u8]) -> Option<FileFormat> {
    let text = bundle::decode_head(head);
    if regexport::looks_like(&text) {
        Some(FileFormat::RegExport)
    } else if acl::looks_like(&text) {
        Some(FileFormat::AclDump)
    } else {
        None
    }
}

fn looks_like_event_xml(text: &str) -> bool {
    let t = text.trim_start();
    (t.starts_with("<?xml") || t.starts_with("<Events") || t.starts_with("<Event"))
        && text.contains("<Event")
}

/// Extensions that say the user meant the file as an input: unreadable content is then a
/// failure, not a skip.
fn claims_to_be_input(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".evtx", ".csv", ".xml", ".zip", ".pml"]
        .iter()
        .any(|e| lower.ends_with(e))
}

fn read_input(
    input: &Input,
    opts: &IngestOptions<'_>,
    pool: &rayon::ThreadPool,
    send: &mut dyn FnMut(Vec<Event>),
) -> FileAccount {
    let file: Arc<str> = Arc::from(input.name.as_str());
    let head = match input.head(SNIFF_BYTES) {
        Ok(h) => h,
        Err(e) => {
            let mut a = FileAccount::new(input.name.clone(), FileFormat::Unknown);
            a.status = FileStatus::Failed;
            a.problems.push(format!("cannot read: {e}"));
            return a;
        }
    };
    let format = sniff(&head);
    let mut account = FileAccount::new(input.name.clone(), format);
    let mut emit = Emit {
        file: &file,
        keep: opts.keep,
        send,
        pool,
        limits: &opts.limits,
    };
    match format {
        FileFormat::Evtx => match input.open_seekable() {
            Ok((stream, len)) => evtx::read_evtx(stream, len, &mut emit, &mut account),
            Err(why) => fail(&mut account, why),
        },
        FileFormat::ProcmonCsv => {
            let read = input.with_reader(|r| {
                procmon::read_procmon(r, opts.limits.csv_row_bytes, &mut emit, &mut account)
            });
            if let Err(why) = read {
                fail(&mut account, why);
            }
        }
        FileFormat::EventXml => match input.read_all(opts.limits.xml_bytes, "--max-xml-bytes") {
            Ok(bytes) => read_event_xml(bytes, &mut emit, &mut account),
            Err(why) => fail(&mut account, why),
        },
        FileFormat::ProcmonPml => match input.open_seekable() {
            Ok((stream, len)) => pml::read_pml(stream, len, &mut emit, &mut account),
            Err(why) => fail(&mut account, why),
        },
        FileFormat::RegExport => match input.read_all(opts.limits.xml_bytes, "--max-xml-bytes") {
            Ok(bytes) => regexport::read_reg_export(bytes, &mut emit, &mut account),
            Err(why) => fail(&mut account, why),
        },
        FileFormat::AclDump => match input.read_all(opts.limits.xml_bytes, "--max-xml-bytes") {
            Ok(bytes) => acl::read_acl_dump(bytes, &mut emit, &mut account),
            Err(why) => fail(&mut account, why),
        },
        FileFormat::Collected => skip(&mut account, "a collector's file that is not read"),
        FileFormat::ProcmonStack => skip(
            &mut account,
            "a Process Monitor stack export (Frame, Module, Location, Address, Path), not an event list: in Process Monitor use File > Save > CSV on the event list instead",
        ),
        FileFormat::EventViewerCsv => skip(
            &mut account,
            "an Event Viewer CSV export (level, time, source, event id and message text only, no event fields): save the log as .evtx (or XML) instead",
        ),
        FileFormat::Zip => fail(
            &mut account,
            "a zip that was not opened at discovery".into(),
        ),
        FileFormat::Empty => {
            if claims_to_be_input(&input.name) {
                fail(&mut account, "empty file (0 bytes)".into());
            } else {
                skip(&mut account, "empty file (0 bytes)");
            }
        }
        FileFormat::Unknown if bundle::describe_unread(&input.name).is_some() => {
            if let Some(side) = bundle::describe_unread(&input.name) {
                account.format = FileFormat::Collected;
                skip(&mut account, &side.text());
            }
        }
        FileFormat::Unknown => {
            let what = "not EVTX (no ElfFile signature), not a Process Monitor CSV (no Procmon header), not event-log XML and not a zip";
            if claims_to_be_input(&input.name) {
                fail(&mut account, format!("unreadable content: {what}"));
            } else {
                skip(&mut account, what);
            }
        }
    }
    account
}

fn fail(account: &mut FileAccount, why: String) {
    account.status = FileStatus::Failed;
    account.problems.push(why);
}

fn skip(account: &mut FileAccount, why: &str) {
    account.status = FileStatus::Skipped;
    account.problems.push(why.to_string());
}

/// An event-log XML export: UTF-8 (BOM or not) or UTF-16LE with a BOM.
fn read_event_xml(mut bytes: Vec<u8>, emit: &mut Emit<'_>, account: &mut FileAccount) {
    let utf16 = bytes.starts_with(&[0xFF, 0xFE]);
    let (text, replaced) = if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        let mut text = String::with_capacity(rest.len());
        let mut replaced = 0u64;
        for c in char::decode_utf16(units) {
            text.push(c.unwrap_or_else(|_| {
                replaced += 1;
                char::REPLACEMENT_CHARACTER
            }));
        }
        if rest.len() % 2 == 1 {
            text.push(char::REPLACEMENT_CHARACTER);
            replaced += 1;
        }
        (text, replaced)
    } else {
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        utf8_lossy_counted(bytes)
    };
    if replaced > 0 {
        account.problems.push(format!(
            "note: {replaced} invalid {} sequences replaced with U+FFFD",
            if utf16 { "UTF-16" } else { "UTF-8" }
        ));
    }
    let mut batch = Vec::new();
    let mut position = 0u64;
    let mut errors = Vec::new();
    eventxml::read_events(
        &text,
        &emit.limits.xml(),
        &mut |rec: eventxml::XmlRecord| {
            position += 1;
            let event = rec.into_event(emit.file, position);
            account.events += 1;
            if (emit.keep)(&event) {
                batch.push(event);
                if batch.len() == XML_BATCH {
                    (emit.send)(std::mem::take(&mut batch));
                }
            }
        },
        &mut |e: eventxml::XmlEventError| errors.push(e.to_string()),
    );
    for e in errors {
        account.errors += 1;
        account.damaged(e);
    }
    if !batch.is_empty() {
        (emit.send)(batch);
    }
    account.finish();
}

/// Events an XML export hands on at a time.
const XML_BATCH: usize = 1024;

/// `bytes` as text (not copied when valid), each invalid UTF-8 sequence replaced with U+FFFD
/// (as [`String::from_utf8_lossy`] does), and how many were replaced.
pub fn utf8_lossy_counted(bytes: Vec<u8>) -> (String, u64) {
    let bytes = match String::from_utf8(bytes) {
        Ok(s) => return (s, 0),
        Err(e) => e.into_bytes(),
    };
    let mut text = String::with_capacity(bytes.len() + 16);
    let mut replaced = 0u64;
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push(char::REPLACEMENT_CHARACTER);
            replaced += 1;
        }
    }
    (text, replaced)
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
pub fn keep_all(_: &Event) -> bool {
    true
}
