//! Evaluation: compiled rules × events → anchors and findings.
//!
//! Events are visited in one fixed order — by UTC time (events without one last), then file,
//! then record — so output never depends on input order. For each event the rules answered at
//! keep are read from its marks ([`super::once`]); of the others, only the rules the prefilter
//! `Index` offers are tried. Then, per rule (a rule's findings built by blocks of its matches,
//! so a flood of one rule is shared by every worker):
//!
//! * **anchor** rules: every match is an [`Anchor`] (an event matched by two anchor rules is one
//!   anchor, credited to the first rule).
//! * **proximity** (`anchor: require|prefer ...`): each match is placed against the anchors that
//!   have a UTC time. The nearest anchor whose window holds the event wins (ties: the earlier
//!   anchor); with none in range, the nearest anchor is still reported, with `near: false`.
//!   `require` drops matches that are not near an anchor, and events without a UTC time, before
//!   anything else; `prefer` keeps them all. Rules without `anchor:` (a lasting state, which
//!   counts wherever it lies) are placed too, against [`LASTING_WINDOW`]: being logged at a
//!   0x904 makes their evidence "next to" it, and nothing else about them depends on time.
//! * **aggregation** (`aggregate: count >= N within D by ...`): matches are partitioned by the
//!   `by` values (compared without case) and by clock. An event's clock is its UTC time; a Procmon
//!   row without one uses its capture-local `date` + `time_of_day` (or `time_of_day` alone), which
//!   is only compared with rows of the same file on the same kind of clock. An event with no
//!   clock at all cannot be placed in a window and is left out of aggregation. Within a partition,
//!   windows are taken greedily from the earliest event: all events within `D` of it; if there
//!   are at least `N`, they form one finding and the next window starts after them, else the
//!   window moves on by one event. A group's proximity is its best member's.
//! * **absence** (`unless: followed|preceded by ...`): before proximity and aggregation, a match
//!   with a witness in its window is dropped ([`super::absence`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::RuleSet;
use super::absence::Witnesses;
use super::ast::{AnchorMode, AnchorWindow};
use super::compile::{Aggregation, Rule};
use super::domain::Domain;
use super::once::{holds, witnessed};
use crate::model::{Event, EventKind};

/// The result of running a rule set over events. Indices point into the evaluated slice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// The 0x904 events, in event order.
    pub anchors: Vec<Anchor>,
    /// Findings of cause and disconnect-code rules: by rule (in load order), then by first event.
    /// A finding that [`Finding::repeats`] stands for one finding per event.
    pub findings: Vec<Finding>,
}

impl Evaluation {
    /// How many findings there are, each event of a repeated one counting as one.
    pub fn finding_count(&self) -> usize {
        self.findings.iter().map(Finding::findings).sum()
    }

    /// Every finding as it would be alone: a repeated one as the single findings it stands for.
    #[cfg(test)]
    pub(crate) fn singles(&self) -> Vec<Finding> {
        self.findings
            .iter()
            .flat_map(|f| (0..f.findings()).filter_map(|k| f.member(k)))
            .collect()
    }
}

/// An event matched by an anchor rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    /// Index of the rule in `RuleSet::rules()`.
    pub rule: usize,
    pub rule_id: Arc<str>,
    /// Index of the event.
    pub event: usize,
    pub time: Option<Timestamp>,
    pub evidence: String,
}

/// One match of a rule, or one aggregated group of matches.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Index of the rule in `RuleSet::rules()`.
    pub rule: usize,
    pub rule_id: Arc<str>,
    /// The evidence events, in event order; the first is the one the evidence line is about.
    pub events: EventIds,
    /// The rendered evidence template; for a group, of its first event plus `(N events within D)`.
    /// Empty while [`Finding::deferred`]: use [`Finding::evidence_line`].
    pub evidence: String,
    /// A single-event finding of a full evaluation renders its evidence line only when asked
    /// ([`Finding::evidence_line`]): a flood of tens of thousands of matches of one rule would
    /// otherwise render every line for the few a report shows.
    pub deferred: bool,
    /// Where the finding stands relative to the 0x904 anchors; `None` for rules without `anchor:`.
    pub proximity: Option<Proximity>,
    /// For aggregations: the `by` values of the group (as in its first event; `-` when missing).
    pub group: Option<Vec<String>>,
    /// One finding per event, held as one: the events are alike (the same file and payload, the
    /// same alert repeated) and nothing tells them apart (no 0x904 anchor to be near or far
    /// from). Each stands for the single-event finding it would be alone ([`Finding::member`]).
    /// False for one event, and for an aggregation's group (one finding of many events).
    pub repeats: bool,
}

/// A finding's event indices: one held in place, or several. A flood makes tens of thousands
/// of single-event findings, and a `Vec` of one was an allocation each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventIds {
    One(usize),
    Many(Vec<usize>),
}

impl std::ops::Deref for EventIds {
    type Target = [usize];

    fn deref(&self) -> &[usize] {
        match self {
            EventIds::One(i) => std::slice::from_ref(i),
            EventIds::Many(ids) => ids,
        }
    }
}

impl<'a> IntoIterator for &'a EventIds {
    type Item = &'a usize;
    type IntoIter = std::slice::Iter<'a, usize>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Finding {
    /// How many events make up the finding.
    pub fn count(&self) -> usize {
        self.events.len()
    }

    /// How many findings it stands for: one per event when it [`Finding::repeats`], else one.
    pub fn findings(&self) -> usize {
        if self.repeats { self.events.len() } else { 1 }
    }

    /// The single-event finding of its `k`th event that a repeated finding stands for (itself
    /// for `k == 0` when it does not repeat).
    pub fn member(&self, k: usize) -> Option<Finding> {
        let &i = self.events.get(k)?;
        match self.repeats {
            false if k > 0 => None,
            false => Some(self.clone()),
            true => Some(Finding {
                rule: self.rule,
                rule_id: Arc::clone(&self.rule_id),
                events: EventIds::One(i),
                evidence: self.evidence.clone(),
                deferred: self.deferred,
                proximity: self.proximity,
                group: None,
                repeats: false,
            }),
        }
    }

    /// The evidence line, `rule` being the finding's rule and `events` the evaluated slice.
    pub fn evidence_line(&self, rule: &Rule, events: &[Event]) -> String {
        match self.events.first().and_then(|&i| events.get(i)) {
            Some(first) if self.deferred => rule.evidence.render(first),
            _ => self.evidence.clone(),
        }
    }
}

/// A finding's position relative to the nearest anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proximity {
    /// The anchor's event index; `None` when the event has no UTC time or no anchor has one.
    pub anchor: Option<usize>,
    /// Event time minus anchor time: negative = before the 0x904.
    pub distance: Option<SignedDuration>,
    /// Inside the rule's window.
    pub near: bool,
}

impl Proximity {
    const UNPLACED: Proximity = Proximity {
        anchor: None,
        distance: None,
        near: false,
    };
}

/// The order events are evaluated in, by index into `events`: by time (untimed last), then
/// file, record and index, so the order never depends on how the events were gathered.
pub(crate) fn event_order(events: &[Event], a: usize, b: usize) -> std::cmp::Ordering {
    let (x, y) = (&events[a], &events[b]);
    (x.time.is_none(), x.time)
        .cmp(&(y.time.is_none(), y.time))
        // Events of one file share its name: equal without comparing the text.
        .then_with(|| {
            if Arc::ptr_eq(&x.file, &y.file) {
                std::cmp::Ordering::Equal
            } else {
                x.file.cmp(&y.file)
            }
        })
        .then((x.record, a).cmp(&(y.record, b)))
}

/// Event indices in evaluation order, and whether that is the order they are in (then each
/// index is its own rank). Events are most often gathered in that order already (one log's
/// records, oldest first): one pass over neighbours, shared out on the current pool when
/// called on one, finds that, and nothing is sorted. Otherwise a stable sort, on the pool when
/// there is one. The order is a total one (ties fall to the index), so either way it is the
/// same for any thread count.
pub(crate) fn sort_order(events: &[Event]) -> (Vec<usize>, bool) {
    use rayon::prelude::*;
    let on_pool = rayon::current_thread_index().is_some();
    let in_order = |k: usize| event_order(events, k - 1, k).is_lt();
    let gathered_in_order = if on_pool {
        (1..events.len())
            .into_par_iter()
            .with_min_len(MATCH_CHUNK)
            .all(in_order)
    } else {
        (1..events.len()).all(in_order)
    };
    let mut order: Vec<usize> = if on_pool {
        (0..events.len()).into_par_iter().collect()
    } else {
        (0..events.len()).collect()
    };
    if !gathered_in_order {
        let by = |&a: &usize, &b: &usize| event_order(events, a, b);
        if on_pool {
            order.par_sort_by(by);
        } else {
            order.sort_by(by);
        }
    }
    (order, gathered_in_order)
}

/// `rank[event] = position in the evaluation order`: `order` itself when the events are in
/// that order already ([`sort_order`]).
fn ranks(order: &[usize], in_order: bool) -> Cow<'_, [usize]> {
    if in_order {
        return Cow::Borrowed(order);
    }
    let mut rank = vec![0; order.len()];
    for (pos, &i) in order.iter().enumerate() {
        rank[i] = pos;
    }
    Cow::Owned(rank)
}

/// Events per unit of parallel matching work.
const MATCH_CHUNK: usize = 4096;

/// Run every rule of `set` over `events`. Matching (by chunks of events) and findings (each
/// rule's matches shared by the workers; an aggregation per rule) run on the current rayon
/// pool; each rule's matches stay in event order and its findings are placed in that order,
/// so the result is the same for any thread count.
///
/// An event whose marks `set` noted at keep ([`super::once`]) is not asked again about the
/// rules decided there: the marks say which conditions and witnesses held.
pub(crate) fn evaluate(set: &RuleSet, events: &[Event]) -> Evaluation {
    use rayon::prelude::*;
    let rules = &set.rules[..];
    let (order, in_order) = sort_order(events);
    let rank = ranks(&order, in_order);
    // Per chunk, per rule: (matches, witnesses of its `unless:`).
    type Lists = (Vec<usize>, Vec<usize>);
    type PerRule = Vec<Lists>;
    let per_chunk: Vec<PerRule> = order
        .par_chunks(MATCH_CHUNK)
        .map(|chunk| {
            let mut m: PerRule = vec![(Vec::new(), Vec::new()); rules.len()];
            for &i in chunk {
                let ev = &events[i];
                let marks = ev.marks.of(set.id);
                if let Some(d) = marks {
                    d.held().for_each(|r| m[r].0.push(i));
                    d.witnessed().for_each(|r| m[r].1.push(i));
                    if set.all_decided {
                        continue;
                    }
                }
                for &r in set.index.candidates(ev).iter().flat_map(|s| s.iter()) {
                    let rule = &rules[r];
                    if (marks.is_some() && set.decided[r]) || !rule.prefilter.admits_candidate(ev) {
                        continue;
                    }
                    if holds(set.id, r, rule, ev) {
                        m[r].0.push(i);
                    }
                    if witnessed(set.id, r, rule, ev) {
                        m[r].1.push(i);
                    }
                }
            }
            m
        })
        .collect();
    // Each rule's list made once at its size, from its part of every chunk: rules side by
    // side, and a flood's long list copied in shares ([`concat`]).
    let joined = |r: usize, of: fn(&Lists) -> &[usize]| {
        concat(&per_chunk.iter().map(|c| of(&c[r])).collect::<Vec<_>>())
    };
    let (matches, witnesses): (Vec<Vec<usize>>, Vec<Vec<usize>>) = (0..rules.len())
        .into_par_iter()
        .map(|r| (joined(r, |(m, _)| m), joined(r, |(_, w)| w)))
        .unzip();
    drop(per_chunk);
    let mut anchors: Vec<Anchor> = Vec::new();
    let mut seen = vec![false; events.len()];
    for (r, rule) in rules.iter().enumerate().filter(|(_, r)| r.is_anchor()) {
        for &i in &matches[r] {
            if !std::mem::replace(&mut seen[i], true) {
                anchors.push(anchor(r, rule, i, &events[i]));
            }
        }
    }
    anchors.sort_by_key(|a| rank[a.event]);
    let timeline = Timeline::new(&anchors, set.domain());
    // Each `unless:` indexes its witnesses once, for all the blocks of its rule's matches.
    // A rule with no match has nothing to cancel: its witnesses (a flood's tens of thousands
    // of Schannel events witness the 261 rule's `unless:`) are not indexed.
    let cancels: Vec<Option<Witnesses<'_>>> = rules
        .par_iter()
        .enumerate()
        .map(|(r, rule)| match &rule.unless {
            Some(absence) if !rule.is_anchor() && !matches[r].is_empty() => {
                Some(Witnesses::new(absence, &witnesses[r], events))
            }
            _ => None,
        })
        .collect();
    // Per rule: the matches its `unless:` does not cancel and that its anchor window admits,
    // in event order (a flood's matches are shared by every worker).
    let placed: Vec<Vec<usize>> = rules
        .par_iter()
        .zip(matches.into_par_iter())
        .zip(cancels.par_iter())
        .map(|((rule, matched), cancel)| {
            if rule.is_anchor() {
                return Vec::new();
            }
            let required = rule.anchor.filter(|w| w.mode == AnchorMode::Require);
            if cancel.is_none() && required.is_none() {
                return matched;
            }
            matched
                .into_par_iter()
                .filter(|&i| cancel.as_ref().is_none_or(|c| !c.cancels(i, events)))
                .filter(|&i| required.is_none_or(|w| timeline.place(events, i, w).near))
                .collect()
        })
        .collect();
    // An aggregation takes its windows over all of its rule's matches: one job per rule, all at
    // once. Any other rule's findings are one per match, or, with no anchor at all (nothing to
    // be near or far from), one per run of alike matches that stands for one per match: a
    // flood of one alert is then one finding, not tens of thousands. They are made in
    // parallel straight into the one list, in rule order: nothing is held or moved twice.
    let made: Vec<Made> = rules
        .par_iter()
        .zip(placed.par_iter())
        .enumerate()
        .map(|(r, (rule, matched))| {
            if let Some(agg) = rule.aggregate.as_ref().filter(|_| !rule.is_anchor()) {
                let items = with_proximity(rule, matched, events, &timeline);
                Made::Aggregated(aggregate(r, rule, agg, &items, events, &rank))
            } else if anchors.is_empty() {
                Made::Repeats(alike_runs(matched, events))
            } else {
                Made::Singles
            }
        })
        .collect();
    let total = made
        .iter()
        .zip(&placed)
        .map(|(m, p)| match m {
            Made::Aggregated(found) => found.len(),
            Made::Repeats(runs) => runs.len(),
            Made::Singles => p.len(),
        })
        .sum();
    let mut findings: Vec<Finding> = Vec::with_capacity(total);
    for (r, ((rule, matched), made)) in rules.iter().zip(placed).zip(made).enumerate() {
        match made {
            Made::Aggregated(found) => findings.extend(found),
            // One run of all the rule's matches (a flood of one event): its list is the
            // finding's, as it stands, not copied.
            Made::Repeats(runs) if runs.len() == 1 && runs[0].len() == matched.len() => {
                findings.push(repeated(r, rule, Cow::Owned(matched), events, &timeline));
            }
            Made::Repeats(runs) => findings.par_extend(runs.par_iter().map(|run| {
                repeated(
                    r,
                    rule,
                    Cow::Borrowed(&matched[run.clone()]),
                    events,
                    &timeline,
                )
            })),
            Made::Singles => findings.par_extend(
                matched
                    .par_iter()
                    .map(|&i| single(r, rule, i, events, &timeline, true)),
            ),
        }
    }
    Evaluation { anchors, findings }
}

/// `parts` one after the other. A long list is copied in shares on the current pool (when
/// called on one): the copy of a flood's tens of thousands of matches is mostly the first
/// touch of its new memory, which two threads do in half the time.
fn concat(parts: &[&[usize]]) -> Vec<usize> {
    use rayon::prelude::*;
    let total = parts.iter().map(|p| p.len()).sum();
    if total < MATCH_CHUNK || rayon::current_thread_index().is_none() {
        let mut joined = Vec::with_capacity(total);
        parts.iter().for_each(|p| joined.extend_from_slice(p));
        return joined;
    }
    let mut joined = vec![0; total];
    let mut rest = &mut joined[..];
    let mut shares = Vec::with_capacity(parts.len());
    for p in parts {
        let (share, after) = rest.split_at_mut(p.len());
        shares.push(share);
        rest = after;
    }
    shares
        .into_par_iter()
        .zip(parts)
        .for_each(|(share, part)| share.copy_from_slice(part));
    joined
}

/// How [`evaluate`] makes one rule's findings.
enum Made {
    Aggregated(Vec<Finding>),
    /// Per run of alike matches ([`alike_runs`]).
    Repeats(Vec<std::ops::Range<usize>>),
    /// One per match.
    Singles,
}

fn anchor(r: usize, rule: &Rule, i: usize, ev: &Event) -> Anchor {
    Anchor {
        rule: r,
        rule_id: Arc::clone(&rule.id),
        event: i,
        time: ev.time,
        evidence: rule.evidence.render(ev),
    }
}

/// Run one rule alone over `events` with the given anchors (used by example checks): the
/// anchors it finds (an anchor rule) or its findings (any other rule).
pub(crate) fn evaluate_one(
    rule: &Rule,
    domain: &Domain,
    events: &[Event],
    anchor_events: &[usize],
) -> (Vec<Anchor>, Vec<Finding>) {
    let (order, in_order) = sort_order(events);
    let rank = ranks(&order, in_order);
    let matched: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| rule.prefilter.admits(&events[i]) && rule.cond.eval(&events[i]))
        .collect();
    let witnesses: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| {
            rule.unless
                .as_ref()
                .is_some_and(|u| u.witnesses(&events[i]))
        })
        .collect();
    let matched = without_witnessed(rule, &matched, &witnesses, events);
    if rule.is_anchor() {
        let anchors = matched
            .iter()
            .map(|&i| anchor(0, rule, i, &events[i]))
            .collect();
        return (anchors, Vec::new());
    }
    let mut anchors: Vec<Anchor> = anchor_events
        .iter()
        .filter(|&&i| i < events.len())
        .map(|&i| anchor(0, rule, i, &events[i]))
        .collect();
    anchors.sort_by_key(|a| rank[a.event]);
    let timeline = Timeline::new(&anchors, domain);
    let findings = rule_findings(0, rule, &matched, events, &rank, &timeline, false);
    (Vec::new(), findings)
}

/// `matched` less the matches its `unless:` cancels (all of them when it has none).
fn without_witnessed(
    rule: &Rule,
    matched: &[usize],
    witnesses: &[usize],
    events: &[Event],
) -> Vec<usize> {
    let Some(absence) = &rule.unless else {
        return matched.to_vec();
    };
    let index = Witnesses::new(absence, witnesses, events);
    matched
        .iter()
        .copied()
        .filter(|&i| !index.cancels(i, events))
        .collect()
}

/// Where a rule without `anchor:` is next to a 0x904: its event logged in the minute before
/// it or the seconds after, as the failing attempt's own evidence is.
pub const LASTING_WINDOW: AnchorWindow = AnchorWindow {
    mode: AnchorMode::Prefer,
    before: super::ast::Millis(60_000),
    after: super::ast::Millis(10_000),
};

/// The window a rule's matches are placed in: its own, or [`LASTING_WINDOW`].
fn window_of(rule: &Rule) -> AnchorWindow {
    rule.anchor.unwrap_or(LASTING_WINDOW)
}

/// The anchors that have a UTC time, by time.
struct Timeline<'d> {
    times: Vec<(Timestamp, usize)>,
    /// Whose `occurred` events are placed when what they report happened.
    domain: &'d Domain,
}

impl<'d> Timeline<'d> {
    fn new(anchors: &[Anchor], domain: &'d Domain) -> Timeline<'d> {
        let mut times: Vec<(Timestamp, usize)> = anchors
            .iter()
            .filter_map(|a| Some((a.time?, a.event)))
            .collect();
        times.sort();
        Timeline { times, domain }
    }

    /// [`Timeline::proximity`] of event `i`. With no anchor placed in time every event is
    /// unplaced: a flood's events are then not read again for it.
    fn place(&self, events: &[Event], i: usize, w: AnchorWindow) -> Proximity {
        if self.times.is_empty() {
            return Proximity::UNPLACED;
        }
        self.proximity(self.time_of(&events[i]), w)
    }

    /// When event `ev` is placed: when what it reports happened, for an `occurred` event whose
    /// data says so (EventLog 6008 at the shutdown, not at the next boot); else its time.
    fn time_of(&self, ev: &Event) -> Option<Timestamp> {
        if !self.domain.occurred.is_empty()
            && let EventKind::Win(w) = &ev.kind
            && let Some(at) = self.domain.occurred_at(w)
        {
            return Some(at);
        }
        ev.time
    }

    fn proximity(&self, t: Option<Timestamp>, w: AnchorWindow) -> Proximity {
        let Some(t) = t else {
            return Proximity::UNPLACED;
        };
        let split = self.times.partition_point(|(ta, _)| *ta <= t);
        let prev = split.checked_sub(1).and_then(|k| self.times.get(k));
        let next = self.times.get(split);
        let place = |&(ta, idx): &(Timestamp, usize)| {
            let d = t.duration_since(ta);
            (w.holds(d), d, idx)
        };
        // Nearer in-window first; then smaller distance; `prev` (the earlier anchor) wins ties.
        let best = [prev.map(place), next.map(place)]
            .into_iter()
            .flatten()
            .min_by_key(|(near, d, _)| (!near, d.abs()));
        match best {
            Some((near, d, idx)) => Proximity {
                anchor: Some(idx),
                distance: Some(d),
                near,
            },
            None => Proximity::UNPLACED,
        }
    }
}

fn rule_findings(
    r: usize,
    rule: &Rule,
    matched: &[usize],
    events: &[Event],
    rank: &[usize],
    timeline: &Timeline<'_>,
    defer: bool,
) -> Vec<Finding> {
    let mut items = with_proximity(rule, matched, events, timeline);
    if rule.anchor.is_some_and(|w| w.mode == AnchorMode::Require) {
        items.retain(|(_, p)| p.is_some_and(|p| p.near));
    }
    match &rule.aggregate {
        Some(agg) => aggregate(r, rule, agg, &items, events, rank),
        None => items
            .iter()
            .map(|&(i, _)| single(r, rule, i, events, timeline, defer))
            .collect(),
    }
}

/// Each match with where it stands relative to the anchors.
fn with_proximity(
    rule: &Rule,
    matched: &[usize],
    events: &[Event],
    timeline: &Timeline<'_>,
) -> Vec<(usize, Option<Proximity>)> {
    matched
        .iter()
        .map(|&i| (i, Some(timeline.place(events, i, window_of(rule)))))
        .collect()
}

/// The finding of one match of a rule without aggregation. `defer`: its evidence line is
/// rendered only when asked for ([`Finding::evidence_line`]).
fn single(
    r: usize,
    rule: &Rule,
    i: usize,
    events: &[Event],
    timeline: &Timeline<'_>,
    defer: bool,
) -> Finding {
    Finding {
        rule: r,
        rule_id: Arc::clone(&rule.id),
        events: EventIds::One(i),
        evidence: if defer {
            String::new()
        } else {
            rule.evidence.render(&events[i])
        },
        deferred: defer,
        proximity: Some(timeline.place(events, i, window_of(rule))),
        group: None,
        repeats: false,
    }
}

/// The finding of a run of alike matches ([`alike_runs`]): the single finding of a run of one,
/// else one that [`Finding::repeats`], its evidence line rendered when asked for.
fn repeated(
    r: usize,
    rule: &Rule,
    run: Cow<'_, [usize]>,
    events: &[Event],
    timeline: &Timeline<'_>,
) -> Finding {
    let mut finding = single(r, rule, run[0], events, timeline, true);
    if run.len() > 1 {
        finding.events = EventIds::Many(run.into_owned());
        finding.repeats = true;
    }
    finding
}

/// Two matches of one rule that nothing but their time and record number tells apart: the
/// same file and the same Windows event payload (which the EVTX reader shares between a
/// flood's identical records; equal payloads not shared are compared).
fn alike(a: &Event, b: &Event) -> bool {
    let same_file = Arc::ptr_eq(&a.file, &b.file) || a.file == b.file;
    same_file
        && match (&a.kind, &b.kind) {
            (EventKind::Win(x), EventKind::Win(y)) => Arc::ptr_eq(x, y) || x == y,
            _ => false,
        }
}

/// `matched` cut into runs of consecutive alike matches (ranges of positions in it).
/// Where each run starts is found on the pool: a flood's tens of thousands of matches are
/// compared in parallel.
fn alike_runs(matched: &[usize], events: &[Event]) -> Vec<std::ops::Range<usize>> {
    use rayon::prelude::*;
    if matched.is_empty() {
        return Vec::new();
    }
    // Alike is an equivalence: each match is compared with the one before it (whose payload
    // it most often shares).
    let starts: Vec<usize> = (1..matched.len())
        .into_par_iter()
        .with_min_len(4096)
        .filter(|&k| !alike(&events[matched[k - 1]], &events[matched[k]]))
        .collect();
    std::iter::once(0)
        .chain(starts.iter().copied())
        .zip(starts.iter().copied().chain(std::iter::once(matched.len())))
        .map(|(start, end)| start..end)
        .collect()
}

/// Which clock an event's aggregation time is on: UTC, or one capture's local clock.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Clock {
    Utc,
    Local { file: Arc<str>, dated: bool },
}

/// The event's aggregation clock and its reading in nanoseconds.
pub(crate) fn clock(ev: &Event) -> Option<(Clock, i128)> {
    if let Some(t) = ev.time {
        return Some((Clock::Utc, t.as_nanosecond()));
    }
    let EventKind::Procmon(p) = &ev.kind else {
        return None;
    };
    let tod = p.time_of_day?;
    let dated = p.date.is_some();
    let nanos = match p.date {
        Some(date) => date
            .to_datetime(tod)
            .to_zoned(TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_nanosecond(),
        None => {
            let secs = i128::from(tod.hour()) * 3600
                + i128::from(tod.minute()) * 60
                + i128::from(tod.second());
            secs * 1_000_000_000 + i128::from(tod.subsec_nanosecond())
        }
    };
    let file = Arc::clone(&ev.file);
    Some((Clock::Local { file, dated }, nanos))
}

type GroupKey = (Vec<Option<String>>, Clock);
/// One aggregation candidate: clock reading, event rank, event index, proximity.
type Member = (i128, usize, usize, Option<Proximity>);

/// An aggregation's findings (its groups that reach the count), in the order of their first events.
fn aggregate(
    r: usize,
    rule: &Rule,
    agg: &Aggregation,
    items: &[(usize, Option<Proximity>)],
    events: &[Event],
    rank: &[usize],
) -> Vec<Finding> {
    let mut parts: BTreeMap<GroupKey, Vec<Member>> = BTreeMap::new();
    for &(i, p) in items {
        let ev = &events[i];
        let Some((clock, t)) = clock(ev) else {
            continue;
        };
        let key: Vec<Option<String>> = agg.by.iter().map(|f| f.group_value(ev)).collect();
        parts
            .entry((key, clock))
            .or_default()
            .push((t, rank[i], i, p));
    }
    let window = i128::from(agg.within.0) * 1_000_000;
    let need = usize::try_from(agg.count).unwrap_or(usize::MAX);
    let mut findings = Vec::new();
    for part in parts.values_mut() {
        part.sort_by_key(|&(t, rank, ..)| (t, rank));
        let (mut start, mut end) = (0, 0);
        while start < part.len() {
            end = end.max(start);
            while end < part.len() && part[end].0 - part[start].0 <= window {
                end += 1;
            }
            if end - start >= need {
                findings.push(group_finding(r, rule, agg, &part[start..end], events, rank));
                start = end;
            } else {
                start += 1;
            }
        }
    }
    // In the order of their first events.
    findings.sort_by_key(|f| f.events.first().map(|&i| rank[i]));
    findings
}

fn group_finding(
    r: usize,
    rule: &Rule,
    agg: &Aggregation,
    members: &[Member],
    events: &[Event],
    rank: &[usize],
) -> Finding {
    // The earliest member (by clock) is the one the evidence line is about.
    let first = members[0].2;
    let mut ids: Vec<usize> = members.iter().map(|m| m.2).collect();
    ids.sort_by_key(|&i| (i != first, rank[i]));
    let proximity = members
        .iter()
        .filter_map(|m| m.3)
        .min_by_key(|p| (!p.near, p.distance.is_none(), p.distance.map(|d| d.abs())));
    let proximity = proximity.or(members[0].3);
    let ev = &events[first];
    Finding {
        rule: r,
        rule_id: Arc::clone(&rule.id),
        evidence: format!(
            "{} ({} events within {})",
            rule.evidence.render(ev),
            members.len(),
            agg.within
        ),
        deferred: false,
        repeats: false,
        group: Some(
            agg.by
                .iter()
                .map(|f| {
                    f.get(ev)
                        .map_or_else(|| super::template::MISSING.to_string(), |v| v.render())
                })
                .collect(),
        ),
        events: EventIds::Many(ids),
        proximity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use crate::rules::testutil::*;

    const RULES: &str = r#"
rule rdp-0x904 {
    title: "0x904"
    kind: anchor
    when: event_id == 1026 and data.Value == 2308
    evidence: "0x904 at {time}"
    example match evtx { event_id: 1026, data.Value: "2308" }
    example nomatch evtx { event_id: 1026, data.Value: "516" }
}
rule tls-prefer {
    title: "t" cause: tls strength: weak remediation: "r"
    when: provider == "Schannel" and event_id == 36874
    anchor: prefer before 5m after 30s
    evidence: "36874 #{record}"
    example match evtx { provider: "Schannel", event_id: 36874 }
    example nomatch evtx { provider: "Schannel", event_id: 36875 }
}
rule tls-require {
    title: "t" cause: tls strength: weak remediation: "r"
    when: provider == "Schannel" and event_id == 36888
    anchor: require before 5m after 30s
    evidence: "36888 #{record}"
    example match [ evtx { provider: "Schannel", event_id: 36888, time: +0s }, anchor evtx { time: +1s } ]
    example nomatch evtx { provider: "Schannel", event_id: 36888 }
}
rule reconnects {
    title: "t" cause: network strength: moderate remediation: "r"
    when: operation == "TCP Reconnect"
    aggregate: count >= 3 within 60s by process
    evidence: "{process} reconnects"
    example match [ procmon { operation: "TCP Reconnect", time_of_day: "10:00:00" },
                    procmon { operation: "TCP Reconnect", time_of_day: "10:00:01" },
                    procmon { operation: "TCP Reconnect", time_of_day: "10:00:02" } ]
    example nomatch procmon { operation: "TCP Reconnect", time_of_day: "10:00:00" }
}
rule drops {
    title: "t" cause: firewall strength: moderate remediation: "r"
    when: event_id == 5152
    aggregate: count >= 2 within 10s
    evidence: "drop #{record}"
    example match [ evtx { event_id: 5152, time: +0s }, evtx { event_id: 5152, time: +1s } ]
    example nomatch [ evtx { event_id: 5152, time: +0s }, evtx { event_id: 5152, time: +11s } ]
}
"#;

    fn set() -> RuleSet {
        let set = load(RULES);
        assert_examples_pass(&set);
        set
    }

    fn of<'a>(eval: &'a Evaluation, rule: &str) -> Vec<&'a Finding> {
        eval.findings
            .iter()
            .filter(|f| &*f.rule_id == rule)
            .collect()
    }

    fn anchor_at(secs: i64) -> Event {
        win("RDPClient", 1026, &[("Value", "2308")], Some(at(secs)))
    }

    fn with_record(mut ev: Event, record: u64) -> Event {
        ev.record = record;
        ev
    }

    #[test]
    fn prefer_keeps_everything_and_places_it() {
        let events = vec![
            anchor_at(0),
            anchor_at(600),
            with_record(win("Schannel", 36874, &[], Some(at(-240))), 1),
            with_record(win("Schannel", 36874, &[], Some(at(-900))), 2),
            with_record(win("Schannel", 36874, &[], Some(at(20))), 3),
            with_record(win("Schannel", 36874, &[], Some(at(31))), 4),
            with_record(win("Schannel", 36874, &[], Some(at(300))), 5),
            with_record(win("Schannel", 36874, &[], None), 6),
        ];
        let set = set();
        let eval = set.evaluate(&events);
        assert_eq!(
            eval.anchors.iter().map(|a| a.event).collect::<Vec<_>>(),
            [0, 1]
        );
        let found = of(&eval, "tls-prefer");
        let summary: Vec<(u64, Option<usize>, Option<i64>, bool)> = found
            .iter()
            .map(|f| {
                let p = f.proximity.expect("prefer rules carry proximity");
                (
                    events[f.events[0]].record,
                    p.anchor,
                    p.distance.map(|d| d.as_secs()),
                    p.near,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (2, Some(0), Some(-900), false),
                (1, Some(0), Some(-240), true),
                (3, Some(0), Some(20), true),
                (4, Some(0), Some(31), false),
                // 300 s after the first anchor (outside "after 30s"), 300 s before the second
                // (inside "before 5m"): the anchor whose window holds it wins.
                (5, Some(1), Some(-300), true),
                (6, None, None, false),
            ]
        );
        let rule = &set.rules()[found[0].rule];
        assert_eq!(found[0].evidence_line(rule, &events), "36874 #2");
    }

    #[test]
    fn require_drops_what_is_not_near() {
        let events = vec![
            anchor_at(0),
            with_record(win("Schannel", 36888, &[], Some(at(-300))), 1),
            with_record(win("Schannel", 36888, &[], Some(at(-301))), 2),
            with_record(win("Schannel", 36888, &[], Some(at(30))), 3),
            with_record(win("Schannel", 36888, &[], Some(at(31))), 4),
            with_record(win("Schannel", 36888, &[], None), 5),
        ];
        let eval = set().evaluate(&events);
        let records: Vec<u64> = of(&eval, "tls-require")
            .iter()
            .map(|f| events[f.events[0]].record)
            .collect();
        assert_eq!(records, [1, 3]);
        // Without any anchor nothing is near.
        let eval = set().evaluate(&events[1..]);
        assert!(of(&eval, "tls-require").is_empty());
        assert!(eval.anchors.is_empty());
    }

    fn reconnect(record: u64, process: &str, tod: Option<&str>) -> Event {
        procmon(
            record,
            process,
            "TCP Reconnect",
            "a:1 -> b:3389",
            "SUCCESS",
            "Length: 0",
            tod,
        )
    }

    #[test]
    fn aggregation_threshold_window_and_groups() {
        let events = vec![
            reconnect(1, "mstsc.exe", Some("10:00:00")),
            reconnect(2, "msrdc.exe", Some("10:00:00")),
            reconnect(3, "MSTSC.EXE", Some("10:00:20")),
            reconnect(4, "msrdc.exe", Some("10:00:10")),
            reconnect(5, "mstsc.exe", Some("10:00:40")),
            reconnect(6, "mstsc.exe", Some("10:01:00")), // exactly 60 s after the first: inside
            reconnect(7, "mstsc.exe", None),             // no clock: left out
            reconnect(8, "mstsc.exe", Some("10:05:00")),
            reconnect(9, "mstsc.exe", Some("10:05:30")),
            reconnect(10, "mstsc.exe", Some("10:06:10")),
        ];
        let eval = set().evaluate(&events);
        let found = of(&eval, "reconnects");
        assert_eq!(found.len(), 1, "{found:?}");
        let f = found[0];
        let records: Vec<u64> = f.events.iter().map(|&i| events[i].record).collect();
        assert_eq!(records, [1, 3, 5, 6]);
        assert_eq!(f.evidence, "mstsc.exe reconnects (4 events within 1m)");
        assert_eq!(f.group.as_deref(), Some(&["mstsc.exe".to_string()][..]));
        assert_eq!(f.count(), 4);
        // No anchor in these events: placed nowhere.
        assert_eq!(f.proximity, Some(Proximity::UNPLACED));

        // Below the threshold: nothing.
        let eval = set().evaluate(&events[..3]);
        assert!(of(&eval, "reconnects").is_empty());
    }

    #[test]
    fn local_clocks_of_different_captures_are_not_mixed() {
        let mut events = vec![
            reconnect(1, "mstsc.exe", Some("10:00:00")),
            reconnect(2, "mstsc.exe", Some("10:00:10")),
            reconnect(3, "mstsc.exe", Some("10:00:05")),
        ];
        assert_eq!(of(&set().evaluate(&events), "reconnects").len(), 1);
        events[2].file = Arc::from("other.csv");
        assert!(of(&set().evaluate(&events), "reconnects").is_empty());
    }

    #[test]
    fn utc_aggregation_takes_windows_greedily() {
        let drop = |record, secs: Option<i64>| {
            with_record(win("Security", 5152, &[], secs.map(at)), record)
        };
        let events = vec![
            drop(1, Some(0)),
            drop(2, Some(5)),
            drop(3, Some(9)),
            drop(4, Some(30)),
            drop(5, Some(31)),
            drop(6, Some(50)),
            drop(7, None),
            drop(8, None),
        ];
        let eval = set().evaluate(&events);
        let groups: Vec<Vec<u64>> = of(&eval, "drops")
            .iter()
            .map(|f| f.events.iter().map(|&i| events[i].record).collect())
            .collect();
        assert_eq!(groups, vec![vec![1, 2, 3], vec![4, 5]]);
        assert_eq!(of(&eval, "drops")[0].group, Some(Vec::new()));
    }

    #[test]
    fn prefilter_skips_rules_that_cannot_match() {
        let set = set();
        let row = reconnect(1, "mstsc.exe", Some("10:00:00"));
        let tls = set
            .rules()
            .iter()
            .position(|r| r.id() == "tls-prefer")
            .unwrap();
        // The 36874 rule is not even a candidate for a Procmon row.
        let candidates: Vec<usize> = set.index.candidates(&row).concat();
        assert!(!candidates.contains(&tls), "{candidates:?}");
        assert!(!set.rules()[tls].prefilter().admits(&row));
        assert!(set.may_match(&row));
        // Unrelated events: no rule can match them.
        assert!(!set.may_match(&win("Security", 4624, &[], None)));
        assert!(!set.may_match(&procmon(
            1,
            "x.exe",
            "RegOpenKey",
            "HKLM",
            "SUCCESS",
            "",
            None
        )));
        // The provider is checked too: 36874 from another provider cannot match.
        assert!(!set.may_match(&win("Other", 36874, &[], None)));
        assert!(set.may_match(&win("SCHANNEL", 36874, &[], None)));
        assert_eq!(
            set.index
                .candidates(&win("Schannel", 36874, &[], None))
                .concat(),
            [tls]
        );
    }

    #[test]
    fn findings_do_not_depend_on_input_order() {
        let mut events = vec![
            anchor_at(0),
            anchor_at(900),
            reconnect(1, "mstsc.exe", Some("10:00:00")),
            reconnect(2, "mstsc.exe", Some("10:00:20")),
            reconnect(3, "mstsc.exe", Some("10:00:40")),
            reconnect(4, "msrdc.exe", Some("10:00:00")),
            reconnect(5, "msrdc.exe", Some("10:00:01")),
            reconnect(6, "msrdc.exe", Some("10:00:02")),
        ];
        for (n, secs) in [-200, -100, 5, 40, 850, 2000].into_iter().enumerate() {
            events.push(with_record(
                win("Schannel", 36874, &[], Some(at(secs))),
                100 + n as u64,
            ));
            events.push(with_record(
                win("Schannel", 36888, &[], Some(at(secs))),
                200 + n as u64,
            ));
            events.push(with_record(
                win("Security", 5152, &[], Some(at(secs / 10))),
                300 + n as u64,
            ));
        }
        let set = set();
        type Key = (
            String,
            Vec<(String, u64)>,
            String,
            Option<(String, u64)>,
            Option<i64>,
        );
        let canonical = |evs: &[Event]| -> (Vec<(String, u64)>, Vec<Key>) {
            let id = |i: usize| (evs[i].file.to_string(), evs[i].record);
            let eval = set.evaluate(evs);
            let anchors = eval.anchors.iter().map(|a| id(a.event)).collect();
            let findings = eval
                .findings
                .iter()
                .map(|f| {
                    (
                        f.rule_id.to_string(),
                        f.events.iter().map(|&i| id(i)).collect(),
                        f.evidence_line(&set.rules()[f.rule], evs),
                        f.proximity.and_then(|p| p.anchor).map(id),
                        f.proximity.and_then(|p| p.distance).map(|d| d.as_secs()),
                    )
                })
                .collect();
            (anchors, findings)
        };
        let want = canonical(&events);
        assert!(want.1.len() > 10, "{want:?}");
        let mut seed = 7u64;
        for round in 0..20 {
            match round {
                0 => events.reverse(),
                1 => events.rotate_left(5),
                _ => {
                    // A small deterministic shuffle (Fisher-Yates over an LCG).
                    for i in (1..events.len()).rev() {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        events.swap(i, (seed >> 33) as usize % (i + 1));
                    }
                }
            }
            assert_eq!(canonical(&events), want, "round {round}");
        }
    }

    #[test]
    fn a_flood_of_one_rule_made_in_parallel_has_the_same_findings_issue_15() {
        // Thousands of matches of one rule: every worker makes a share of its findings.
        const FLOOD: usize = 6_161;
        let set = set();
        let mut events = vec![anchor_at(0), anchor_at(3600)];
        let n = FLOOD;
        for k in 0..n {
            let id = if k % 3 == 0 { 36888 } else { 36874 };
            let secs = (k as i64 * 7) % 4000 - 200;
            events.push(with_record(
                win("Schannel", id, &[], Some(at(secs))),
                10 + k as u64,
            ));
        }
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool")
                .install(|| set.evaluate(&events))
        };
        let one = on(1);
        assert_eq!(on(3), one);
        // Each rule's findings are those the rule gives alone, unsplit, in the same order.
        let anchors: Vec<usize> = one.anchors.iter().map(|a| a.event).collect();
        assert_eq!(anchors.len(), 2);
        for (id, least) in [("tls-prefer", FLOOD / 2), ("tls-require", 100)] {
            let rule = set.rule(id).expect("loaded");
            let (_, alone) = evaluate_one(rule, set.domain(), &events, &anchors);
            let view = |f: &Finding| (f.events.clone(), f.proximity);
            let got: Vec<_> = of(&one, id).into_iter().map(view).collect();
            let want: Vec<_> = alone.iter().map(view).collect();
            assert!(got.len() > least, "{id}: {}", got.len());
            assert_eq!(got, want, "{id}");
        }
    }

    #[test]
    fn many_mostly_irrelevant_events_yield_their_findings() {
        // 100k events, mostly irrelevant: what they yield. How fast is measured by
        // `cargo bench --bench rules`, never asserted here.
        let set = set();
        let mut events = Vec::with_capacity(100_000);
        for i in 0..100_000u64 {
            let ev = match i % 4 {
                0 => win("Security", 4624, &[], Some(at(i as i64))),
                1 => procmon(
                    i,
                    "explorer.exe",
                    "ReadFile",
                    "C:\\x",
                    "SUCCESS",
                    "",
                    Some("10:00:00"),
                ),
                2 => win("Schannel", 36874, &[], Some(at(i as i64))),
                _ => reconnect(i, "mstsc.exe", Some("11:00:00")),
            };
            events.push(ev);
        }
        let eval = set.evaluate(&events);
        // With no 0x904, the 25,000 alike 36874s are one finding standing for 25,000.
        let tls = of(&eval, "tls-prefer");
        assert_eq!(tls.len(), 1);
        assert_eq!((tls[0].findings(), tls[0].count()), (25_000, 25_000));
        // 25,000 reconnects in the same second, in groups of all of them.
        assert_eq!(of(&eval, "reconnects").len(), 1);
    }

    #[test]
    fn with_no_anchor_alike_matches_are_one_finding_standing_for_each_issue_15() {
        let set = set();
        let schannel = |id: u32, secs: i64, record: u64| {
            with_record(win("Schannel", id, &[], Some(at(secs))), record)
        };
        // A flood of two alerts, interleaved, its times not in index order; a 36874 with other
        // data and one from another file break the 36874s' run.
        let mut events = Vec::new();
        for k in 0..40u64 {
            let secs = (k as i64 * 37) % 41;
            events.push(schannel(36874, secs, 100 + k));
            events.push(schannel(36888, secs, 200 + k));
        }
        let mut other_data = win("Schannel", 36874, &[("X", "1")], Some(at(20)));
        other_data.record = 7;
        let mut other_file = schannel(36874, 21, 8);
        other_file.file = Arc::from("Other.evtx");
        events.push(other_data);
        events.push(other_file);
        let eval = set.evaluate(&events);
        let tls = of(&eval, "tls-prefer");
        // Runs of alike matches in evaluation order: split by the two others (each a single).
        assert!(tls.len() >= 3 && tls.len() < 10, "{}", tls.len());
        assert!(tls.iter().any(|f| f.repeats && f.findings() > 10));
        assert_eq!(tls.iter().map(|f| f.findings()).sum::<usize>(), 42);
        for f in &tls {
            let alone: Vec<_> = f.events.iter().map(|&i| &events[i]).collect();
            assert!(alone.windows(2).all(|w| alike(w[0], w[1])), "{f:?}");
            assert_eq!(f.repeats, f.count() > 1);
        }
        // What they stand for is what the rule gives alone, match by match.
        let view = |f: &Finding| (f.events.clone(), f.proximity, f.repeats);
        for id in ["tls-prefer", "tls-require"] {
            let rule = set.rule(id).expect("loaded");
            let (_, alone) = evaluate_one(rule, set.domain(), &events, &[]);
            let singles = eval.singles();
            let got: Vec<_> = singles
                .iter()
                .filter(|f| &*f.rule_id == id)
                .map(view)
                .collect();
            assert_eq!(got, alone.iter().map(view).collect::<Vec<_>>(), "{id}");
        }
        assert_eq!(eval.finding_count(), 42);
        // With a 0x904 in the logs, every match is its own finding, as before.
        events.push(anchor_at(10));
        let eval = set.evaluate(&events);
        assert!(eval.findings.iter().all(|f| !f.repeats));
        assert_eq!(of(&eval, "tls-prefer").len(), 42);
        // The same for any thread count.
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a pool")
                .install(|| set.evaluate(&events[..events.len() - 1]))
        };
        assert_eq!(on(1), on(3));
    }

    #[test]
    fn events_gathered_in_order_keep_their_order_and_rank_as_themselves() {
        // In evaluation order: by time, untimed last, equal times by record.
        let mut events: Vec<Event> = (0..9_000u64)
            .map(|k| with_record(win("Schannel", 36874, &[], Some(at(k as i64 / 3))), k))
            .collect();
        events.push(with_record(win("Schannel", 36874, &[], None), 1));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a pool");
        let sorted = |evs: &[Event]| {
            let mut all: Vec<usize> = (0..evs.len()).collect();
            all.sort_by(|&a, &b| event_order(evs, a, b));
            all
        };
        let identity: Vec<usize> = (0..events.len()).collect();
        for (order, in_order) in [sort_order(&events), pool.install(|| sort_order(&events))] {
            assert!(in_order);
            assert_eq!(order, identity);
            assert!(matches!(ranks(&order, in_order), Cow::Borrowed(_)));
        }
        // One pair out of place anywhere, and the order is sorted.
        for at_k in [1, 4_500, 9_000] {
            let mut moved = events.clone();
            moved.swap(at_k - 1, at_k);
            let want = sorted(&moved);
            for (order, in_order) in [sort_order(&moved), pool.install(|| sort_order(&moved))] {
                assert!(!in_order, "{at_k}");
                assert_eq!(order, want, "{at_k}");
                let rank = ranks(&order, in_order);
                assert!(order.iter().enumerate().all(|(pos, &i)| rank[i] == pos));
            }
        }
    }

    #[test]
    fn lists_joined_in_shares_are_joined_in_order() {
        let parts: Vec<Vec<usize>> = (0..40)
            .map(|p| (0..(p * 37) % 500).map(|k| p * 1_000 + k).collect())
            .collect();
        let parts: Vec<&[usize]> = parts.iter().map(|p| &p[..]).collect();
        let want: Vec<usize> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        assert!(want.len() > MATCH_CHUNK);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("a pool");
        assert_eq!(concat(&parts), want);
        assert_eq!(pool.install(|| concat(&parts)), want);
        assert_eq!(pool.install(|| concat(&parts[..3])), want[..111]);
    }
}
