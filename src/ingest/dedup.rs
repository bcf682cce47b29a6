//! Each piece of evidence counted once.
//!
//! A ticket often holds the same content twice: a path given twice, a zip next to its own
//! extracted copy, two copies of one log, a log exported twice with overlapping records, or a
//! recovered log with duplicated chunks. Read twice, every disconnect and finding would count
//! double. Two layers stop that, and each says what it set aside:
//!
//! * files: inputs of equal size are hashed, and those whose bytes are equal (compared in full,
//!   so a hash collision cannot hide a file) are read once, the first in discovery order; the
//!   others are accounted for as skipped duplicates of it. Only sizes that occur twice are
//!   hashed, so a ticket without copies costs nothing;
//! * records: an event-log record already seen, by (computer, channel, record id), with the
//!   same event id and time (within a second: exports round), is not handed on again; the
//!   file's account notes how many were set aside and where they were first read. A record
//!   whose id was seen with a different event (a log cleared and numbered from 1 again, or a
//!   file made to collide) is kept, and the account says so.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::io::Read;
use std::sync::Arc;

use super::at::fill;
use super::discover::{Found, Input};
use super::{SNIFF_BYTES, Sink, sniff};
use crate::model::{Event, FileAccount};

/// Inputs whose content repeats an earlier input's become skipped accounts saying so.
pub fn set_aside_duplicates(found: Vec<Found>) -> Vec<Found> {
    let mut by_size: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, f) in found.iter().enumerate() {
        if let Found::Input(input) = f
            && let Some(size) = input.size().filter(|&s| s > 0)
        {
            by_size.entry(size).or_default().push(i);
        }
    }
    let mut duplicate_of: HashMap<usize, usize> = HashMap::new();
    // Logs of one size are common (a default-sized EVTX file is 1,118,208 bytes) and rarely
    // start alike: hashing the first HEAD_BYTES splits most of them (an EVTX file header
    // holds its record counts and checksum), then the first PREFIX_BYTES the rest, and only
    // inputs that also start alike are hashed in full.
    let mut alike: Vec<Vec<usize>> = by_size.into_values().filter(|v| v.len() > 1).collect();
    for prefix in [HEAD_BYTES, PREFIX_BYTES] {
        alike = alike
            .iter()
            .flat_map(|indices| group_by_hash(&found, indices, Some(prefix)).into_values())
            .filter(|g| g.len() > 1)
            .collect();
    }
    for indices in &alike {
        let by_hash = group_by_hash(&found, indices, None);
        for group in by_hash.values().filter(|g| g.len() > 1) {
            // Compare against each distinct content seen so far in this group. An original
            // is read again for every input compared with it: its zip, when it lies in a zip
            // inside a zip, is held meanwhile rather than inflated again for each (entries of
            // one size spread over two nested zips would inflate one per comparison). Only the
            // first originals are held: a group has more than one only when different bytes
            // hash alike.
            let mut originals: Vec<usize> = Vec::new();
            let mut held: Vec<Arc<Vec<u8>>> = Vec::new();
            // The zip of the input being compared, held until the next one's is: the inputs
            // of one nested zip come one after another, and reading an original between them
            // would otherwise let it go.
            let mut current: Option<Arc<Vec<u8>>> = None;
            for &i in group {
                if let Found::Input(input) = &found[i] {
                    // The new zip is held before the last one is let go.
                    current = input.hold_zip();
                }
                let twin = originals
                    .iter()
                    .copied()
                    .find(|&o| same_content(&found[o], &found[i]));
                match twin {
                    Some(o) => {
                        duplicate_of.insert(i, o);
                    }
                    None => {
                        if held.len() < HELD_ORIGINALS
                            && let Some(bytes) = current.clone()
                        {
                            held.push(bytes);
                        }
                        originals.push(i);
                    }
                }
            }
        }
    }
    if duplicate_of.is_empty() {
        return found;
    }
    let names: Vec<String> = found.iter().map(|f| f.name().to_string()).collect();
    found
        .into_iter()
        .enumerate()
        .map(|(i, f)| match (duplicate_of.get(&i), f) {
            (Some(&o), Found::Input(input)) => {
                let format = input
                    .head(SNIFF_BYTES)
                    .map_or(crate::model::FileFormat::Unknown, |h| sniff(&h));
                Found::Problem(FileAccount::duplicate(
                    input.name,
                    format,
                    format!(
                        "the same bytes as {}, which is read instead (counted once)",
                        names[o]
                    ),
                ))
            }
            (_, f) => f,
        })
        .collect()
}

/// How many originals of one group of alike inputs have their nested zip held while the
/// others are compared with them.
const HELD_ORIGINALS: usize = 2;

/// How much of each same-sized input is hashed first, and then of those that start alike.
const HEAD_BYTES: u64 = 4 * 1024;
const PREFIX_BYTES: u64 = 64 * 1024;

/// `indices` grouped by the hash of their content (its first `limit` bytes when given), in
/// order within each group; inputs that cannot be read are left out.
fn group_by_hash(
    found: &[Found],
    indices: &[usize],
    limit: Option<u64>,
) -> BTreeMap<u64, Vec<usize>> {
    let mut by_hash: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for &i in indices {
        if let Found::Input(input) = &found[i]
            && let Some(h) = content_hash(input, limit)
        {
            by_hash.entry(h).or_default().push(i);
        }
    }
    by_hash
}

/// A 64-bit hash of the content (of its first `limit` bytes when given), `None` when it
/// cannot be read (it is then read, and its problem reported, as a file of its own).
fn content_hash(input: &Input, limit: Option<u64>) -> Option<u64> {
    input
        .with_reader(|r| {
            let mut r: Box<dyn Read + '_> = match limit {
                Some(n) => Box::new(r.take(n)),
                None => Box::new(r),
            };
            let mut h = std::hash::DefaultHasher::new();
            // No bigger than what is hashed: a 4 KiB head does not zero a 64 KiB buffer.
            let size = limit.map_or(64 * 1024, |n| n.min(64 * 1024) as usize);
            let mut buf = vec![0u8; size];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Some(h.finish()),
                    Ok(n) => h.write(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return None,
                }
            }
        })
        .ok()
        .flatten()
}

fn same_content(a: &Found, b: &Found) -> bool {
    let (Found::Input(a), Found::Input(b)) = (a, b) else {
        return false;
    };
    a.with_reader(|ra| b.with_reader(|rb| streams_equal(ra, rb)).unwrap_or(false))
        .unwrap_or(false)
}

fn streams_equal(a: &mut dyn Read, b: &mut dyn Read) -> bool {
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let Ok(n) = fill(a, &mut ba) else {
            return false;
        };
        let Ok(m) = fill(b, &mut bb) else {
            return false;
        };
        if n != m || ba[..n] != bb[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

/// How many runs of record ids are remembered; past it, or past [`MAX_REMEMBERED_RECORDS`],
/// new records are no longer checked (a bound on memory, tens of MB) and the account of the
/// file where that happened says so. A log's records are numbered in order, so a whole file is
/// usually one run.
pub const MAX_REMEMBERED_RUNS: usize = 1 << 20;
/// How many records are remembered, each by its [`Mark`] (8 bytes).
pub const MAX_REMEMBERED_RECORDS: usize = 1 << 22;

/// What a record is besides its id: its event id and its time in whole seconds, packed. Two
/// copies of one record (a log and its export) agree on both, within a second of rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark(u64);

impl Mark {
    fn of(e: &Event, event_id: u32) -> Mark {
        let secs = e.time.map_or(i64::MIN >> 16, |t| t.as_second());
        Mark(((secs as u64) << 16) | u64::from(event_id & 0xffff))
    }

    /// The same event, its time rounded either way.
    fn same_as(self, other: Mark) -> bool {
        let secs = |m: Mark| (m.0 as i64) >> 16;
        self.0 & 0xffff == other.0 & 0xffff && secs(self).abs_diff(secs(other)) <= 1
    }
}

/// Record ids seen in one log, as runs of consecutive ids, each with the file that held them
/// first: a log of 60,000 records costs one entry, not 60,000 hashed keys.
///
/// The run that grew last is held apart from the map (`open`), with the start of the run
/// after it: a log's next record, one past the open run and before that start, is neither a
/// repeat nor a new run, and is taken without a lookup in the map.
#[derive(Default)]
struct Runs {
    /// First id of a run → (its last id, the file that held it first, each record's mark).
    /// Runs never overlap, and none overlaps the open run.
    by_start: BTreeMap<u64, (u64, Arc<str>, Vec<Mark>)>,
    open: Option<Open>,
}

/// The run that grew last.
struct Open {
    start: u64,
    last: u64,
    file: Arc<str>,
    /// The first id of the next run in the map (`u64::MAX` when none).
    limit: u64,
    marks: Vec<Mark>,
}

impl Open {
    /// `id` comes right after this run and is in no other: not seen before.
    fn continued_by(&self, id: u64) -> bool {
        self.last.checked_add(1) == Some(id) && id < self.limit
    }
}

impl Runs {
    /// The file that first held record `id` and that record's mark, if it was seen.
    fn first_holder(&self, id: u64) -> Option<(&Arc<str>, Mark)> {
        if let Some(open) = &self.open {
            if open.continued_by(id) {
                return None;
            }
            if (open.start..=open.last).contains(&id) {
                return Some((&open.file, mark_at(&open.marks, id - open.start)));
            }
        }
        let (start, (last, file, marks)) = self.by_start.range(..=id).next_back()?;
        (*last >= id).then(|| (file, mark_at(marks, id - start)))
    }

    /// Remember record `id` (not seen before) as first held by `file`: it extends the run
    /// just before it when that run ends at `id - 1` in the same file, else starts a run.
    /// Returns how many runs were added (0 or 1).
    fn insert(&mut self, id: u64, file: &Arc<str>, mark: Mark) -> usize {
        // Held as this record's reader names it: the rest of its chunk (each chunk has a copy
        // of the name) then compares by pointer, not by text.
        if let Some(open) = &mut self.open
            && open.continued_by(id)
            && adopt(&mut open.file, file)
        {
            open.last = id;
            open.marks.push(mark);
            return 0;
        }
        if let Some(open) = self.open.take() {
            self.by_start
                .insert(open.start, (open.last, open.file, open.marks));
        }
        let (start, added, mut marks) = match id.checked_sub(1).and_then(|prev| {
            self.by_start
                .range(..=prev)
                .next_back()
                .filter(|(_, (last, held, _))| *last == prev && same_text(held, file))
                .map(|(&start, _)| start)
        }) {
            Some(start) => {
                let (_, _, marks) = self.by_start.remove(&start).unwrap_or_default();
                (start, 0, marks)
            }
            None => (id, 1, Vec::new()),
        };
        marks.push(mark);
        let limit = id
            .checked_add(1)
            .and_then(|next| self.by_start.range(next..).next())
            .map_or(u64::MAX, |(&start, _)| start);
        self.open = Some(Open {
            start,
            last: id,
            file: Arc::clone(file),
            limit,
            marks,
        });
        added
    }
}

/// A run's mark for its `offset`-th id: one per id, so always there; were it not, a mark no
/// record has (the record is then kept, never lost).
fn mark_at(marks: &[Mark], offset: u64) -> Mark {
    usize::try_from(offset)
        .ok()
        .and_then(|i| marks.get(i))
        .copied()
        .unwrap_or(Mark(u64::MAX))
}

/// Whether two names are the same text: by pointer first (a chunk's events share theirs).
fn same_text(a: &Arc<str>, b: &Arc<str>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

/// Whether `held` is the same text as `now`; if so, `held` becomes `now`'s copy, so that the
/// names sharing it compare by pointer from here on.
fn adopt(held: &mut Arc<str>, now: &Arc<str>) -> bool {
    if Arc::ptr_eq(held, now) {
        return true;
    }
    if **held != **now {
        return false;
    }
    *held = Arc::clone(now);
    true
}

/// The further events seen under one record id, each with the file that held it first.
type Others = Vec<(Mark, Arc<str>)>;

/// A [`Sink`] that hands on each event-log record once, by (computer, channel, record id).
pub struct RecordDedup<'s> {
    inner: &'s mut dyn Sink,
    /// (computer, channel), case folded → a small id, the index of its runs in `seen`.
    logs: HashMap<(String, String), u32>,
    /// The last (computer, channel) as written and its id: a log's records come in runs, so
    /// most events skip the case folding and the lookup.
    last_log: Option<(Arc<str>, Arc<str>, u32)>,
    seen: Vec<Runs>,
    /// Runs and records remembered in all logs (the memory bound).
    runs: usize,
    records: usize,
    /// Records whose (log, id) was first seen with another event: each further event seen
    /// with that id, and the file that held it first.
    others: HashMap<(u32, u64), Others>,
    /// This file's records set aside, by the file that held them first.
    set_aside: BTreeMap<Arc<str>, u64>,
    /// This file's records kept although their id was first seen with another event, by the
    /// file that held that one.
    collided: BTreeMap<Arc<str>, u64>,
    full_noted: bool,
    full_now: bool,
}

impl<'s> RecordDedup<'s> {
    pub fn new(inner: &'s mut dyn Sink) -> Self {
        RecordDedup {
            inner,
            logs: HashMap::new(),
            last_log: None,
            seen: Vec::new(),
            runs: 0,
            records: 0,
            others: HashMap::new(),
            set_aside: BTreeMap::new(),
            collided: BTreeMap::new(),
            full_noted: false,
            full_now: false,
        }
    }

    /// True when the event is a record already handed on.
    fn is_repeat(&mut self, e: &Event) -> bool {
        let Some(w) = e.win() else {
            return false;
        };
        if w.channel.is_empty() && w.computer.is_empty() {
            return false;
        }
        // A flood's events share one payload, and so its texts: equal without comparing. Held
        // from now on as this event has them, so that the events sharing its payload compare
        // by pointer.
        let log = if let Some((computer, channel, log)) = &mut self.last_log
            && adopt(computer, &w.computer)
            && adopt(channel, &w.channel)
        {
            *log
        } else {
            let log_key = (w.computer.to_lowercase(), w.channel.to_lowercase());
            let next = u32::try_from(self.logs.len()).unwrap_or(u32::MAX);
            let log = *self.logs.entry(log_key).or_insert(next);
            if self.seen.len() <= log as usize {
                self.seen.resize_with(log as usize + 1, Runs::default);
            }
            self.last_log = Some((w.computer.clone(), w.channel.clone(), log));
            log
        };
        let mark = Mark::of(e, w.event_id);
        let runs = &mut self.seen[log as usize];
        match runs.first_holder(e.record) {
            Some((first, held)) if held.same_as(mark) => {
                *self.set_aside.entry(Arc::clone(first)).or_default() += 1;
                true
            }
            Some((first, _)) => {
                // Another event under a seen id: kept, unless it is itself a repeat.
                let first = Arc::clone(first);
                let room = self.records < MAX_REMEMBERED_RECORDS;
                let others = self.others.entry((log, e.record)).or_default();
                if let Some((_, held)) = others.iter().find(|(m, _)| m.same_as(mark)) {
                    *self.set_aside.entry(Arc::clone(held)).or_default() += 1;
                    return true;
                }
                if room {
                    others.push((mark, Arc::clone(&e.file)));
                    self.records += 1;
                } else if !self.full_noted {
                    self.full_now = true;
                }
                *self.collided.entry(first).or_default() += 1;
                false
            }
            None => {
                if self.runs < MAX_REMEMBERED_RUNS && self.records < MAX_REMEMBERED_RECORDS {
                    self.runs += runs.insert(e.record, &e.file, mark);
                    self.records += 1;
                } else if !self.full_noted {
                    self.full_now = true;
                }
                false
            }
        }
    }
}

impl Sink for RecordDedup<'_> {
    fn events(&mut self, mut events: Vec<Event>) {
        // In place: the events handed on are not copied into a second list first.
        events.retain(|e| !self.is_repeat(e));
        if !events.is_empty() {
            self.inner.events(events);
        }
    }

    fn file_done(&mut self, mut account: FileAccount) {
        let whence = |first: &str, account: &FileAccount, preposition: &str| {
            if first == account.file {
                "earlier in this file".to_string()
            } else {
                format!("{preposition} {first}")
            }
        };
        for (first, n) in std::mem::take(&mut self.set_aside) {
            let whence = whence(&first, &account, "from");
            account.note(format!(
                "{n} record{} already read {whence} set aside as duplicates (counted once)",
                if n == 1 { "" } else { "s" }
            ));
        }
        for (first, n) in std::mem::take(&mut self.collided) {
            let whence = whence(&first, &account, "in");
            account.note(format!(
                "{n} record{} the record id of a different event read {whence} (a log cleared and numbered again?): both are kept",
                if n == 1 { " reuses" } else { "s reuse" }
            ));
        }
        if self.full_now && !self.full_noted {
            account.note(format!(
                "more than {MAX_REMEMBERED_RECORDS} records or {MAX_REMEMBERED_RUNS} runs of record ids: later ones are not checked for duplicates"
            ));
            self.full_noted = true;
        }
        self.full_now = false;
        self.inner.file_done(account);
    }
}

/// Which inputs were set aside as duplicates.
#[cfg(test)]
fn duplicates(found: &[Found]) -> std::collections::HashSet<String> {
    found
        .iter()
        .filter_map(|f| match f {
            Found::Problem(a) if a.problems().iter().any(crate::model::Problem::is_duplicate) => {
                Some(a.file.clone())
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Collect;
    use crate::ingest::discover::{Limits, discover};

    #[test]
    fn equal_files_are_read_once_whatever_their_names() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        let b = dir.path().join("sub/b.csv");
        let c = dir.path().join("c.csv");
        std::fs::create_dir_all(b.parent().unwrap()).unwrap();
        std::fs::write(&a, b"same bytes here").unwrap();
        std::fs::write(&b, b"same bytes here").unwrap();
        std::fs::write(&c, b"same size diff!").unwrap();
        let found = set_aside_duplicates(discover(
            &[dir.path().to_path_buf(), a.clone()],
            &Limits::default(),
        ));
        let dups = duplicates(&found);
        assert_eq!(dups.len(), 2, "{dups:?}");
        assert!(dups.contains(&b.display().to_string()));
        assert!(!dups.contains(&c.display().to_string()));
        // The path given twice: its second mention is the duplicate.
        assert_eq!(
            found
                .iter()
                .filter(|f| matches!(f, Found::Input(i) if i.name == a.display().to_string()))
                .count(),
            1
        );
    }

    #[test]
    fn files_that_start_alike_and_differ_later_are_both_read() {
        let dir = tempfile::tempdir().unwrap();
        let head = vec![7u8; PREFIX_BYTES as usize + 100];
        let mut late = head.clone();
        *late.last_mut().unwrap() = 8;
        let (a, b, c) = (
            dir.path().join("a.bin"),
            dir.path().join("b.bin"),
            dir.path().join("c.bin"),
        );
        std::fs::write(&a, &head).unwrap();
        std::fs::write(&b, &late).unwrap();
        std::fs::write(&c, &head).unwrap();
        let found = set_aside_duplicates(discover(&[dir.path().to_path_buf()], &Limits::default()));
        // c repeats a in full; b differs only in its last byte, past the hashed prefix.
        let dups = duplicates(&found);
        assert_eq!(dups.len(), 1, "{dups:?}");
        assert!(dups.contains(&c.display().to_string()));
    }

    #[test]
    fn repeated_records_are_handed_on_once_and_noted() {
        use crate::model::{EventKind, WinEvent};
        let ev = |file: &str, record: u64| Event {
            file: Arc::from(file),
            record,
            time: None,
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                channel: "System".into(),
                computer: "RDS01".into(),
                ..WinEvent::default()
            })),
            marks: Default::default(),
        };
        let mut collect = Collect::default();
        {
            let mut d = RecordDedup::new(&mut collect);
            d.events(vec![ev("a.evtx", 1), ev("a.evtx", 2)]);
            d.file_done(FileAccount::new("a.evtx", crate::model::FileFormat::Evtx));
            d.events(vec![ev("b.evtx", 2), ev("b.evtx", 3), ev("b.evtx", 3)]);
            d.file_done(FileAccount::new("b.evtx", crate::model::FileFormat::Evtx));
        }
        let records: Vec<u64> = collect.events.iter().map(|e| e.record).collect();
        assert_eq!(records, vec![1, 2, 3]);
        let notes: Vec<String> = collect.accounts[1]
            .problems()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].contains("1 record already read from a.evtx"));
        assert!(notes[1].contains("earlier in this file"));
    }
    /// A record id seen with another event (a cleared log numbers from 1 again) keeps both;
    /// a copy of either, its time rounded by an export, is still set aside.
    #[test]
    fn a_reused_record_id_with_another_event_is_kept_and_said() {
        use crate::model::{EventKind, WinEvent};
        let ev = |file: &str, record: u64, id: u32, millis: i64| Event {
            file: Arc::from(file),
            record,
            time: Some(jiff::Timestamp::from_millisecond(1_704_067_200_000 + millis).unwrap()),
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                channel: "System".into(),
                computer: "RDS01".into(),
                event_id: id,
                ..WinEvent::default()
            })),
            marks: Default::default(),
        };
        let files = [
            (
                "old.evtx",
                vec![ev("old.evtx", 1, 7036, 0), ev("old.evtx", 2, 7036, 1_000)],
            ),
            // Cleared and numbered again, a day later: other events under ids 1 and 2.
            (
                "new.evtx",
                vec![
                    ev("new.evtx", 1, 1058, 86_400_000),
                    ev("new.evtx", 2, 36870, 86_401_000),
                ],
            ),
            // An export of both logs, times rounded to the second.
            (
                "both.xml",
                vec![
                    ev("both.xml", 1, 1058, 86_400_400),
                    ev("both.xml", 2, 7036, 600),
                ],
            ),
        ];
        let mut collect = Collect::default();
        {
            let mut d = RecordDedup::new(&mut collect);
            for (name, events) in &files {
                d.events(events.clone());
                d.file_done(FileAccount::new(*name, crate::model::FileFormat::Evtx));
            }
        }
        let kept: Vec<(String, u64)> = collect
            .events
            .iter()
            .map(|e| (e.file.to_string(), e.record))
            .collect();
        assert_eq!(
            kept,
            [
                ("old.evtx", 1),
                ("old.evtx", 2),
                ("new.evtx", 1),
                ("new.evtx", 2)
            ]
            .map(|(f, r)| (f.to_string(), r))
        );
        let notes = |i: usize| collect.accounts[i].problem_texts().join(" | ");
        assert!(
            notes(1)
                .contains("2 records reuse the record id of a different event read in old.evtx"),
            "{}",
            notes(1)
        );
        assert!(
            notes(2).contains("1 record already read from new.evtx"),
            "{}",
            notes(2)
        );
        assert!(
            notes(2).contains("1 record already read from old.evtx"),
            "{}",
            notes(2)
        );
    }

    /// The run that grew last answers for its ids, stops before the next run's first id,
    /// and is not grown by another file's record.
    #[test]
    fn the_open_run_stops_at_the_next_run_and_at_another_file() {
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a.evtx"), Arc::from("b.evtx"));
        let mut runs = Runs::default();
        let mut added = 0;
        for id in (1..=5).chain(10..=12).chain(6..=9) {
            assert_eq!(runs.first_holder(id), None, "{id}");
            added += runs.insert(id, &a, Mark(id * 7));
        }
        assert_eq!(added, 2, "1..=9 and 10..=12");
        // Each id answers with its own record's mark, across runs joined out of order.
        for id in 1..=12 {
            assert_eq!(runs.first_holder(id), Some((&a, Mark(id * 7))), "{id}");
        }
        assert_eq!(runs.first_holder(13), None);
        assert_eq!(
            runs.insert(13, &b, Mark(1)),
            1,
            "another file's record starts a run"
        );
        assert_eq!(runs.first_holder(13), Some((&b, Mark(1))));
        assert_eq!(runs.first_holder(0), None);
        assert_eq!(runs.first_holder(14), None);
    }

    /// Runs of ids give the same answer as one key per record: which records are handed on,
    /// and which file each repeat was first read from, over overlapping copies, repeats
    /// within a file, two logs and ids out of order.
    #[test]
    fn runs_agree_with_one_key_per_record() {
        use crate::model::{EventKind, WinEvent};
        let ev = |file: &str, channel: &str, record: u64| Event {
            file: Arc::from(file),
            record,
            time: None,
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                channel: channel.into(),
                computer: "RDS01".into(),
                ..WinEvent::default()
            })),
            marks: Default::default(),
        };
        let mut state = 7u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut files: Vec<(String, Vec<Event>)> = Vec::new();
        for f in 0..6 {
            let name = format!("copy{f}.evtx");
            let mut events = Vec::new();
            let mut id = next(50);
            for _ in 0..400 {
                // Mostly the next id, sometimes a jump back or ahead, sometimes a repeat.
                id = match next(10) {
                    0 => id.saturating_sub(next(30)),
                    1 => id + next(20),
                    2 => id,
                    _ => id + 1,
                };
                let channel = if next(4) == 0 {
                    "Application"
                } else {
                    "System"
                };
                events.push(ev(&name, channel, id));
            }
            files.push((name, events));
        }
        let mut collect = Collect::default();
        {
            let mut d = RecordDedup::new(&mut collect);
            for (name, events) in &files {
                for part in events.chunks(37) {
                    d.events(part.to_vec());
                }
                d.file_done(FileAccount::new(
                    name.as_str(),
                    crate::model::FileFormat::Evtx,
                ));
            }
        }
        // The model: one key per record, first holder remembered.
        let mut first: HashMap<(String, u64), String> = HashMap::new();
        let mut want_kept = Vec::new();
        let mut want_notes: Vec<BTreeMap<String, u64>> = Vec::new();
        for (name, events) in &files {
            let mut aside: BTreeMap<String, u64> = BTreeMap::new();
            for e in events {
                let channel = e.win().map(|w| w.channel.to_string()).unwrap_or_default();
                match first.get(&(channel.clone(), e.record)) {
                    Some(held) => *aside.entry(held.clone()).or_default() += 1,
                    None => {
                        first.insert((channel.clone(), e.record), name.clone());
                        want_kept.push((name.clone(), channel, e.record));
                    }
                }
            }
            want_notes.push(aside);
        }
        let kept: Vec<(String, String, u64)> = collect
            .events
            .iter()
            .map(|e| {
                let channel = e.win().map(|w| w.channel.to_string()).unwrap_or_default();
                (e.file.to_string(), channel, e.record)
            })
            .collect();
        assert_eq!(kept, want_kept);
        for ((name, _), (account, aside)) in
            files.iter().zip(collect.accounts.iter().zip(&want_notes))
        {
            let notes: Vec<String> = account.problems().iter().map(|p| p.to_string()).collect();
            assert_eq!(notes.len(), aside.len(), "{name}: {notes:?}");
            for (held, n) in aside {
                let whence = if held == name {
                    "earlier in this file".to_string()
                } else {
                    format!("from {held}")
                };
                let plural = if *n == 1 { "" } else { "s" };
                let want = format!("{n} record{plural} already read {whence}");
                assert!(
                    notes.iter().any(|m| m.contains(&want)),
                    "{name}: {want} not in {notes:?}"
                );
            }
        }
    }
}
