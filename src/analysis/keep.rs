//! What an analysis keeps in memory: at most `--max-kept-events` events, chosen by what the
//! rules need, never by the order the files happen to be read in.
//!
//! Every kept event has a [`Priority`]: what the anchors and the disconnect decoding need
//! first, then what a cause rule's condition holds for, then the rest (`timeline --all`).
//! Past the cap, events are dropped from the lowest priority first (but cause evidence keeps
//! a quarter of the cap, when it has that many, even against the anchors: a ticket of
//! thousands of connections keeps some of what explains them) and, within a priority,
//! from the files holding the most of it ("water-filling": each file keeps its first `L`
//! events of that priority, `L` as large as the cap allows). So two big domain-controller logs
//! that sort first cannot push the client's small log out: they give up their share instead.
//! The outcome depends only on each file's events, not on path order or thread count.
//!
//! A second bound is on bytes (`--max-kept-bytes`): a few events can carry huge text (a
//! Procmon path of 40 MB, an event's data of 50 MB). Past it, events are dropped from the
//! lowest priority first and, within it, the largest first (ties: input order, then place),
//! until the kept events hold no more than the bound. What an event holds is estimated from
//! its texts and fields (an EVTX payload shared by a flood's events counted for each, so
//! that the count does not depend on what the reading threads hold at that moment).
//!
//! Files are accounted for at the end, since a file already done can still lose events to
//! one read later: each account then says how many of its events were not kept.
//!
//! An event's priority is worked out only when events have to be dropped: below the cap (the
//! usual case) none is, so receiving an event costs a push. The sink runs on the one thread
//! that collects what the readers send, so whatever it does per event is work no other thread
//! can share.

use crate::ingest::{self, Sink};
use crate::model::{Event, FileAccount};
use crate::rules::{RuleKind, RuleSet};

/// How much an analysis needs an event; the lower the more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// A 0x904 anchor, another disconnect code, or what the time alignment needs.
    Anchor = 0,
    /// Evidence: some cause rule's condition holds for it.
    Evidence = 1,
    /// Anything else (kept only when every event is asked for).
    Other = 2,
}

const PRIORITIES: usize = 3;

/// Past the cap, cause evidence keeps at least this part of it (one in four events) when it
/// has that many, the anchors and their context giving way to it.
const EVIDENCE_SHARE: usize = 4;

/// The priority of `event` for `rules`; `context` says whether the alignment or the
/// disconnect decoding needs it. What the rules answered when the event was kept is reused
/// ([`RuleSet::held_at_keep`]), not asked again.
pub fn priority(rules: &RuleSet, event: &Event, context: bool) -> Priority {
    let mut evidence = false;
    for rule in rules.held_at_keep(event) {
        match rule.kind() {
            RuleKind::Anchor | RuleKind::DisconnectCode => return Priority::Anchor,
            RuleKind::Cause { .. } => evidence = true,
        }
    }
    if context {
        Priority::Anchor
    } else if evidence {
        Priority::Evidence
    } else {
        Priority::Other
    }
}

/// One file's kept events of one priority, each with its place in the file (to give the
/// events back in their original order).
type Held = Vec<(u64, Event)>;

/// A [`Sink`] keeping at most `cap` events by [`Priority`], then fair shares.
pub struct Kept<'a> {
    cap: usize,
    /// How far past `cap` the events may run before dropping (at the end, exactly `cap`):
    /// dropping in bulk keeps its cost per event small, whatever the number of files.
    slack: usize,
    classify: &'a dyn Fn(&Event) -> Priority,
    /// Per file (in input order), per priority.
    held: Vec<[Held; PRIORITIES]>,
    /// Per file, the events not yet given a priority (see the module docs), and the place
    /// number of the first: they are the file's events from there on, in order, so below the
    /// cap a file's kept events are this list as received, never copied.
    unsorted: Vec<(u64, Vec<Event>)>,
    dropped: Vec<u64>,
    /// Per file, the events dropped for the byte bound.
    dropped_for_bytes: Vec<u64>,
    /// The byte bound, what the kept events hold, and how far past the bound they may run
    /// before dropping.
    byte_cap: u64,
    bytes: u64,
    byte_slack: u64,
    /// Events received for the file being read (its place numbers).
    seq: u64,
    total: usize,
    accounts: Vec<FileAccount>,
}

impl<'a> Kept<'a> {
    pub fn new(cap: usize, classify: &'a dyn Fn(&Event) -> Priority) -> Self {
        Kept {
            cap,
            slack: (cap / 8).max(4096),
            classify,
            held: vec![Default::default()],
            unsorted: vec![(0, Vec::new())],
            dropped: vec![0],
            dropped_for_bytes: vec![0],
            byte_cap: u64::MAX,
            bytes: 0,
            byte_slack: 0,
            seq: 0,
            total: 0,
            accounts: Vec::new(),
        }
    }

    /// At most `bytes` held by the kept events (see the module docs).
    pub fn with_byte_cap(mut self, bytes: u64) -> Self {
        self.byte_cap = bytes;
        self.byte_slack = (bytes / 8).max(1 << 20);
        self
    }

    /// Give every event received a priority: from here on they are held by it.
    fn classify_all(&mut self) {
        let seq = self.seq;
        for (held, (base, unsorted)) in self.held.iter_mut().zip(&mut self.unsorted) {
            for (place, event) in (*base..).zip(unsorted.drain(..)) {
                let p = (self.classify)(&event) as usize;
                held[p].push((place, event));
            }
            *base = seq;
        }
    }

    /// Drop down to the byte bound: lowest priority first, the largest events first.
    fn shed_bytes(&mut self) {
        if self.bytes <= self.byte_cap {
            return;
        }
        self.classify_all();
        for p in (0..PRIORITIES).rev() {
            if self.bytes <= self.byte_cap {
                return;
            }
            // (size, file, place): largest first, then input order.
            let mut sizes: Vec<(u64, usize, u64)> = self
                .held
                .iter()
                .enumerate()
                .flat_map(|(i, h)| {
                    h[p].iter()
                        .map(move |(place, e)| (e.held_bytes(), i, *place))
                })
                .collect();
            sizes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            let mut gone: Vec<Vec<u64>> = vec![Vec::new(); self.held.len()];
            for (size, i, place) in sizes {
                if self.bytes <= self.byte_cap {
                    break;
                }
                self.bytes = self.bytes.saturating_sub(size);
                gone[i].push(place);
            }
            for (i, mut places) in gone.into_iter().enumerate() {
                if places.is_empty() {
                    continue;
                }
                places.sort_unstable();
                let held = &mut self.held[i][p];
                held.retain(|(place, _)| places.binary_search(place).is_err());
                self.dropped_for_bytes[i] += places.len() as u64;
                self.total -= places.len();
            }
        }
    }

    /// Drop down to `cap`: lowest priority first, from the files holding most of it.
    fn shed(&mut self) {
        if self.total <= self.cap {
            return;
        }
        self.classify_all();
        // Without a byte bound nothing was counted, so nothing is taken off.
        let counting = self.byte_cap != u64::MAX;
        for p in (0..PRIORITIES).rev() {
            if self.total <= self.cap {
                return;
            }
            let counts: Vec<usize> = self.held.iter().map(|h| h[p].len()).collect();
            let held: usize = counts.iter().sum();
            // Evidence keeps a share of the cap whatever the anchors need: thousands of
            // connections must not leave a ticket with its 0x904s and no cause at all.
            let reserve = if p == Priority::Evidence as usize {
                held.min(self.cap / EVIDENCE_SHARE)
            } else {
                0
            };
            let excess = (self.total - self.cap).min(held - reserve);
            let levels = water_fill(&counts, excess);
            for (i, keep) in levels.into_iter().enumerate() {
                let held = &mut self.held[i][p];
                if held.len() > keep {
                    let gone = held.len() - keep;
                    if counting {
                        let size: u64 = held[keep..].iter().map(|(_, e)| e.held_bytes()).sum();
                        self.bytes = self.bytes.saturating_sub(size);
                    }
                    held.truncate(keep);
                    self.dropped[i] += gone as u64;
                    self.total -= gone;
                }
            }
        }
    }

    /// The kept events (each file's in its own order, files in input order) and the
    /// accounts, each saying how many of its events were not kept.
    pub fn finish(mut self) -> ingest::Collect {
        self.shed();
        self.shed_bytes();
        let mut events: Vec<Event> = Vec::new();
        for (held, (base, unsorted)) in self.held.iter_mut().zip(&mut self.unsorted) {
            let unsorted = std::mem::take(unsorted);
            let file: Vec<Event> = if held.iter().all(Vec::is_empty) {
                // Nothing set aside by priority: the events as received, in their order.
                unsorted
            } else {
                let mut placed: Vec<(u64, Event)> = (*base..).zip(unsorted).collect();
                placed.extend(held.iter_mut().flat_map(std::mem::take));
                placed.sort_by_key(|(place, _)| *place);
                // Collected in place, into the same allocation.
                placed.into_iter().map(|(_, e)| e).collect()
            };
            if events.is_empty() {
                // The first file's events stay where they are, rather than copied into a
                // second list as large: a flood of one file held both at once.
                events = file;
                events.reserve(self.total - events.len());
            } else {
                events.extend(file);
            }
        }
        let bounds = [
            (&self.dropped_for_bytes, self.byte_cap, "--max-kept-bytes"),
            (&self.dropped, self.cap as u64, "--max-kept-events"),
        ];
        for (dropped, limit, flag) in bounds {
            for (account, &n) in self.accounts.iter_mut().zip(dropped) {
                if n == 0 {
                    continue;
                }
                let why = if flag == "--max-kept-bytes" {
                    format!(
                        "the events an analysis keeps hold at most {limit} bytes of text, and the largest that no anchor needs went first"
                    )
                } else {
                    format!(
                        "an analysis keeps at most {limit} in memory, dropping first what no anchor needs (cause evidence keeps a quarter of them) and from the files holding the most"
                    )
                };
                account.lost(crate::model::Problem::Refused {
                    limit,
                    flag,
                    message: format!(
                        "{n} event{} not kept: {why} (raise with {flag})",
                        if n == 1 { " was" } else { "s were" }
                    ),
                });
                account.finish();
            }
        }
        ingest::Collect {
            events,
            accounts: self.accounts,
        }
    }
}

/// How many of each count to keep so that `excess` in all are dropped, taken from the largest
/// first: every count is cut to a level `L` (the largest that drops enough), and what that
/// drops past `excess` is given back one each to the first files cut, so exactly
/// `min(excess, sum)` go.
fn water_fill(counts: &[usize], excess: usize) -> Vec<usize> {
    let sum: usize = counts.iter().sum();
    if excess >= sum {
        return vec![0; counts.len()];
    }
    let drops_at =
        |level: usize| -> usize { counts.iter().map(|&n| n.saturating_sub(level)).sum() };
    // The largest level that still drops at least `excess`.
    let (mut lo, mut hi) = (0usize, counts.iter().copied().max().unwrap_or(0));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if drops_at(mid) >= excess {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let mut spare = drops_at(lo) - excess;
    counts
        .iter()
        .map(|&n| {
            if n > lo && spare > 0 {
                spare -= 1;
                lo + 1
            } else {
                n.min(lo)
            }
        })
        .collect()
}

impl Sink for Kept<'_> {
    fn events(&mut self, events: Vec<Event>) {
        let file = self.unsorted.len() - 1;
        let (_, unsorted) = &mut self.unsorted[file];
        self.seq += events.len() as u64;
        self.total += events.len();
        if self.byte_cap != u64::MAX {
            self.bytes += events.iter().map(Event::held_bytes).sum::<u64>();
        }
        if unsorted.is_empty() {
            // The first batch (often the whole file) is kept as it came, not copied.
            *unsorted = events;
        } else {
            unsorted.extend(events);
        }
        if self.total > self.cap.saturating_add(self.slack) {
            self.shed();
        }
        if self.bytes > self.byte_cap.saturating_add(self.byte_slack) {
            self.shed_bytes();
        }
    }

    fn file_done(&mut self, account: FileAccount) {
        self.accounts.push(account);
        self.held.push(Default::default());
        self.unsorted.push((0, Vec::new()));
        self.dropped.push(0);
        self.dropped_for_bytes.push(0);
        self.seq = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn water_fill_takes_from_the_largest_first() {
        assert_eq!(water_fill(&[10, 2, 10], 6), vec![7, 2, 7]);
        assert_eq!(water_fill(&[10, 2, 9], 6), vec![7, 2, 6]);
        assert_eq!(water_fill(&[5, 5], 0), vec![5, 5]);
        assert_eq!(water_fill(&[5, 5], 11), vec![0, 0]);
        assert_eq!(water_fill(&[1, 1, 1, 1], 1), vec![1, 1, 1, 0]);
        for (counts, excess) in [(vec![100, 3, 57, 0, 12], 80), (vec![4, 4, 4], 5)] {
            let kept = water_fill(&counts, excess);
            let sum: usize = counts.iter().sum();
            assert_eq!(kept.iter().sum::<usize>(), sum - excess);
            assert!(kept.iter().zip(&counts).all(|(k, n)| k <= n));
        }
    }

    /// Past the byte bound, the largest events of the lowest priority go first, and their
    /// files say so; what is kept is in its order.
    #[test]
    fn past_the_byte_bound_the_largest_events_go_first() {
        use crate::model::{EventKind, ProcmonRow};
        let row = |file: &str, record: u64, path_len: usize| {
            let mut p = ProcmonRow::default();
            p.text.set(&"x".repeat(path_len), "");
            Event {
                file: std::sync::Arc::from(file),
                record,
                time: None,
                kind: EventKind::Procmon(Box::new(p)),
                marks: Default::default(),
            }
        };
        let classify = |_: &Event| Priority::Other;
        let mut kept = Kept::new(100, &classify).with_byte_cap(3 << 20);
        kept.events(vec![row("a", 1, 10), row("a", 2, 2 << 20), row("a", 3, 10)]);
        kept.file_done(FileAccount::new("a", crate::model::FileFormat::ProcmonCsv));
        kept.events(vec![row("b", 1, 2 << 20), row("b", 2, 10)]);
        kept.file_done(FileAccount::new("b", crate::model::FileFormat::ProcmonCsv));
        let out = kept.finish();
        let records: Vec<(String, u64)> = out
            .events
            .iter()
            .map(|e| (e.file.to_string(), e.record))
            .collect();
        // Two rows of 2 MiB do not fit in 3 MiB: the first of them (input order) goes.
        assert_eq!(
            records,
            [("a", 1), ("a", 3), ("b", 1), ("b", 2)].map(|(f, r)| (f.to_string(), r))
        );
        let said = out.accounts[0].problem_texts().join(" ");
        assert!(
            said.contains("1 event was not kept") && said.contains("--max-kept-bytes"),
            "{said}"
        );
        assert!(out.accounts[1].problem_texts().is_empty());
    }

    /// Anchors and their context past the cap by themselves: cause evidence still keeps a
    /// quarter of it, the anchors giving way; below its share, evidence is all kept.
    #[test]
    fn past_the_cap_cause_evidence_keeps_a_share_against_the_anchors() {
        use crate::model::EventKind;
        let row = |record: u64| Event {
            file: std::sync::Arc::from("a"),
            record,
            time: None,
            kind: EventKind::Procmon(Box::default()),
            marks: Default::default(),
        };
        // Records up to 100 are anchors, from 1000 evidence, the rest other.
        let classify = |e: &Event| match e.record {
            0..100 => Priority::Anchor,
            1000..2000 => Priority::Evidence,
            _ => Priority::Other,
        };
        let kept_of = |evidence: u64| {
            let mut kept = Kept::new(40, &classify);
            let mut events: Vec<Event> = (0..60).map(row).collect();
            events.extend((1000..1000 + evidence).map(row));
            events.extend((5000..5010).map(row));
            kept.events(events);
            kept.file_done(FileAccount::new("a", crate::model::FileFormat::ProcmonCsv));
            let out = kept.finish();
            let count = |lo: u64, hi: u64| {
                out.events
                    .iter()
                    .filter(|e| (lo..hi).contains(&e.record))
                    .count()
            };
            (count(0, 100), count(1000, 2000), count(5000, 6000))
        };
        assert_eq!(kept_of(30), (30, 10, 0));
        assert_eq!(kept_of(6), (34, 6, 0));
        assert_eq!(kept_of(0), (40, 0, 0));
    }
}
