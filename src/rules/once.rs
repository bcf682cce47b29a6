//! Each rule's conditions asked once per event: at keep, the answers are noted on the event
//! ([`Marks`]) and the evaluation, the kept-events priority and the anchor check read them
//! instead of asking again (issue 11, item 6).
//!
//! Only rules that read no field analysis rewrites after keep ([`Rule::reads_placed`]) are
//! decided at keep; their answer cannot change before the evaluation. The others are asked
//! where they are needed, on the event as placed. Every question a scan asks a rule about an
//! event goes through [`holds`] and [`witnessed`], where tests count them.

use std::cell::RefCell;
use std::sync::Arc;

use super::RuleSet;
use super::compile::Rule;
use crate::model::{Event, EventKind, Marks, WinEvent};

impl RuleSet {
    /// Ingest's question: should `event` be kept for the rules? Yes when a rule's condition or
    /// its `unless:` witness condition holds for it, or when a rule reading `time` or
    /// `computer` may match it once placed: analysis places times and ties hosts after keep,
    /// so such a rule is answered here by its prefilter alone. Every answer for a
    /// rule decided at keep is noted on the event, for the evaluation to reuse; an event's
    /// marks are replaced.
    pub fn mark(&self, event: &mut Event) -> bool {
        // A flood's events share one payload (`ingest::eventxml::Payloads`): when the answers
        // follow from the payload alone, they are worked out once for it.
        if let EventKind::Win(payload) = &event.kind
            && self.payload_decides
            && let Some((marks, keep)) = recent::answers(self.id, payload)
        {
            event.marks = marks;
            return keep;
        }
        let keep = self.mark_afresh(event);
        if let EventKind::Win(payload) = &event.kind
            && self.payload_decides
        {
            recent::note(self.id, Arc::clone(payload), &event.marks, keep);
        }
        keep
    }

    fn mark_afresh(&self, event: &mut Event) -> bool {
        let mut marks = Marks::decided(self.id, self.rules.len());
        let mut keep = false;
        for &r in self.index.candidates(event).iter().flat_map(|s| s.iter()) {
            let rule = &self.rules[r];
            if !rule.prefilter.admits_candidate(event) {
                continue;
            }
            if self.decided[r] {
                let held = holds(self.id, r, rule, event);
                let seen = witnessed(self.id, r, rule, event);
                if held {
                    marks.hold(r);
                }
                if seen {
                    marks.witness(r);
                }
                keep |= held || seen;
            } else {
                // Reads what analysis rewrites: kept on its prefilter, asked at the evaluation.
                keep = true;
            }
        }
        event.marks = marks;
        keep
    }

    /// The rules whose condition holds for `event` as far as can be told at keep: the noted
    /// answer of a rule decided at keep, the prefilter of a rule reading `time` or `computer`
    /// (its condition is only decided on the placed event, as in [`RuleSet::mark`]).
    /// What the kept-events priority asks.
    pub fn held_at_keep<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = &'a Rule> + 'a {
        let marks = event.marks.of(self.id);
        self.index
            .candidates(event)
            .into_iter()
            .flat_map(|s| s.iter())
            .copied()
            .filter(move |&r| {
                let rule = &self.rules[r];
                if !rule.prefilter.admits_candidate(event) {
                    return false;
                }
                match marks {
                    Some(d) if self.decided[r] => d.holds(r),
                    _ => !self.decided[r] || holds(self.id, r, rule, event),
                }
            })
            .map(move |r| &self.rules[r])
    }

    /// Does rule `r`'s condition hold for `event` (as it is now)? The noted answer when there
    /// is one.
    pub(crate) fn holds_now(&self, r: usize, event: &Event) -> bool {
        let rule = &self.rules[r];
        match event.marks.of(self.id) {
            Some(d) if self.decided[r] => d.holds(r),
            _ => rule.prefilter.admits(event) && holds(self.id, r, rule, event),
        }
    }
}

/// The answers [`RuleSet::mark`] gave for the last few payloads it saw on this thread (each
/// ingest thread reads its own chunks, so a flood's repeats meet here). A payload is held by
/// its `Arc`, so its address is not reused while it is noted, and a payload is never changed
/// in place while shared (`Arc::make_mut` copies it): the same pointer is the same content.
mod recent {
    use super::*;

    /// Payloads noted per thread: a flood of a few alternating events.
    const NOTED: usize = 4;

    type Noted = (u32, Arc<WinEvent>, Marks, bool);

    thread_local! {
        static RECENT: RefCell<Vec<Noted>> = const { RefCell::new(Vec::new()) };
    }

    /// The marks and keep answer rule set `set` gave `payload`, if noted.
    pub(super) fn answers(set: u32, payload: &Arc<WinEvent>) -> Option<(Marks, bool)> {
        RECENT.with_borrow(|noted| {
            noted
                .iter()
                .find(|(s, p, ..)| *s == set && Arc::ptr_eq(p, payload))
                .map(|(_, _, marks, keep)| (marks.clone(), *keep))
        })
    }

    pub(super) fn note(set: u32, payload: Arc<WinEvent>, marks: &Marks, keep: bool) {
        RECENT.with_borrow_mut(|noted| {
            if noted.len() == NOTED {
                noted.remove(0);
            }
            noted.push((set, payload, marks.clone(), keep));
        });
    }
}

/// Does rule `r` (of set `set`)'s condition hold for `event`? Every scan-time question about a
/// condition is asked here.
pub(crate) fn holds(set: u32, r: usize, rule: &Rule, event: &Event) -> bool {
    #[cfg(test)]
    count::asked(count::What::Condition, set, r, event);
    let _ = (set, r);
    rule.cond.eval(event)
}

/// Does rule `r` (of set `set`)'s `unless:` witness condition hold for `event`?
pub(crate) fn witnessed(set: u32, r: usize, rule: &Rule, event: &Event) -> bool {
    let Some(absence) = &rule.unless else {
        return false;
    };
    #[cfg(test)]
    count::asked(count::What::Witness, set, r, event);
    let _ = (set, r);
    absence.witnesses(event)
}

#[cfg(test)]
impl RuleSet {
    /// Which set this is in the process (what its marks name).
    pub(crate) fn id(&self) -> u32 {
        self.id
    }
}

/// How many times each rule was asked about each event, for the rule sets a test watches.
#[cfg(test)]
pub(crate) mod count {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use crate::model::Event;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub(crate) enum What {
        Condition,
        Witness,
    }

    /// (what, rule, file, record) → times asked.
    pub(crate) type Counts = HashMap<(What, usize, Arc<str>, u64), u32>;

    static WATCHED: Mutex<Option<HashMap<u32, Counts>>> = Mutex::new(None);
    /// How many sets are watched: when none, asking costs no lock.
    static ANY: AtomicUsize = AtomicUsize::new(0);

    fn with<T>(f: impl FnOnce(&mut HashMap<u32, Counts>) -> T) -> T {
        let mut guard = WATCHED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(guard.get_or_insert_with(HashMap::new))
    }

    /// Count from now on every question asked of rule set `set`.
    pub(crate) fn watch(set: u32) {
        if with(|w| w.insert(set, Counts::new())).is_none() {
            ANY.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Stop watching `set`; what was counted.
    pub(crate) fn take(set: u32) -> Counts {
        let counts = with(|w| w.remove(&set));
        if counts.is_some() {
            ANY.fetch_sub(1, Ordering::SeqCst);
        }
        counts.unwrap_or_default()
    }

    pub(super) fn asked(what: What, set: u32, r: usize, event: &Event) {
        if ANY.load(Ordering::SeqCst) == 0 {
            return;
        }
        with(|w| {
            if let Some(counts) = w.get_mut(&set) {
                *counts
                    .entry((what, r, event.file.clone(), event.record))
                    .or_default() += 1;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::count;
    use crate::model::Event;
    use crate::rules::testutil::*;
    use crate::rules::{RuleSet, load_rules};

    const RULES: &str = r#"
rule decided {
    title: "t" cause: tls strength: weak remediation: "r"
    when: event_id == 7 and data.X == "1"
    evidence: "d"
    example match evtx { event_id: 7, data.X: "1" }
    example nomatch evtx { event_id: 7, data.X: "2" }
}
rule since {
    title: "t" cause: tls strength: weak remediation: "r"
    when: event_id == 7 and time >= "2024-01-01T01:00:00Z"
    evidence: "s"
    example match evtx { event_id: 7, time: "2024-01-01T02:00:00Z" }
    example nomatch evtx { event_id: 7, time: "2024-01-01T00:00:00Z" }
}
rule refused {
    title: "t" cause: server-refused strength: weak remediation: "r"
    when: event_id == 261
    unless: followed by event_id == 1149 within 30s
    evidence: "r"
    example match evtx { event_id: 261 }
    example nomatch evtx { event_id: 1149 }
}
"#;

    fn set() -> RuleSet {
        let set = load_rules(&[("once.rdt", RULES)]).unwrap_or_else(|e| panic!("{e}"));
        assert_examples_pass(&set);
        set
    }

    fn found(set: &RuleSet, events: &[Event], rule: &str) -> Vec<u64> {
        of(&set.evaluate(events), events, rule)
    }

    fn of(eval: &crate::rules::Evaluation, events: &[Event], rule: &str) -> Vec<u64> {
        eval.singles()
            .iter()
            .filter(|f| &*f.rule_id == rule)
            .map(|f| events[f.events[0]].record)
            .collect()
    }

    fn record(mut e: Event, n: u64) -> Event {
        e.record = n;
        e
    }

    #[test]
    fn the_evaluation_uses_the_marks_of_its_own_set_only() {
        let set = set();
        let mut held = record(win("P", 7, &[("X", "1")], Some(at(0))), 1);
        assert!(set.mark(&mut held));
        assert!(held.marks.is_decided());
        let mut other = record(win("P", 7, &[("X", "2")], Some(at(0))), 1);
        // Kept for `since`, which reads time: it may match once the event is placed.
        assert!(set.mark(&mut other));
        // The marks are what the evaluation reads: an event carrying another's marks is judged
        // by them (a field read at keep never changes before the evaluation in a real scan).
        let mut swapped = other.clone();
        swapped.marks = held.marks.clone();
        assert_eq!(found(&set, std::slice::from_ref(&swapped), "decided"), [1]);
        // Another rule set's marks are not used: asked afresh.
        let again = load_rules(&[("once.rdt", RULES)]).unwrap_or_else(|e| panic!("{e}"));
        assert!(found(&again, std::slice::from_ref(&swapped), "decided").is_empty());
        // No marks: asked afresh.
        assert!(found(&set, std::slice::from_ref(&other), "decided").is_empty());
        assert_eq!(found(&set, &[held], "decided"), [1]);
    }

    #[test]
    fn a_time_rule_is_asked_on_the_placed_event_and_once() {
        let set = set();
        count::watch(set.id());
        // Kept untimed (as a Procmon CSV row is): the time rule may match once placed.
        let mut early = record(win("P", 7, &[("X", "1")], None), 1);
        let mut late = record(win("P", 7, &[("X", "3")], None), 2);
        assert!(set.mark(&mut early) && set.mark(&mut late));
        early.time = Some(at(600));
        late.time = Some(at(7200));
        let events = [early, late];
        let eval = set.evaluate(&events);
        assert_eq!(of(&eval, &events, "since"), [2]);
        assert_eq!(of(&eval, &events, "decided"), [1]);
        let counts = count::take(set.id());
        // Asked once per (rule, event): `decided` at keep, `since` at the evaluation.
        assert!(counts.values().all(|&n| n == 1), "{counts:?}");
        let asked = |r: usize| counts.keys().filter(|k| k.1 == r).count();
        assert_eq!((asked(0), asked(1)), (2, 2), "{counts:?}");
    }

    #[test]
    fn a_computer_rule_is_asked_once_on_the_tied_host_issue_11() {
        // Analysis ties hosts after keep (config::prepare): a rule reading `computer` is kept
        // by its prefilter and asked once, at the evaluation, on the host as tied.
        const HOST: &str = r#"
rule on-gateway {
    title: "t" cause: tls strength: weak remediation: "r"
    when: event_id == 7 and computer == "gw.contoso.com"
    evidence: "g"
    example match evtx { event_id: 7, computer: "gw.contoso.com" }
    example nomatch evtx { event_id: 7, computer: "pc" }
}
"#;
        let set = load_rules(&[("host.rdt", HOST)]).unwrap_or_else(|e| panic!("{e}"));
        assert_examples_pass(&set);
        count::watch(set.id());
        let mut e = record(win("P", 7, &[], Some(at(0))), 1);
        assert!(set.mark(&mut e), "kept by the prefilter whatever its host");
        assert!(count::take(set.id()).is_empty(), "not asked at keep");
        count::watch(set.id());
        if let crate::model::EventKind::Win(w) = &mut e.kind {
            std::sync::Arc::make_mut(w).computer = "gw.contoso.com".into();
        }
        let events = [e];
        assert_eq!(found(&set, &events, "on-gateway"), [1]);
        let counts = count::take(set.id());
        assert_eq!(counts.len(), 1, "{counts:?}");
        assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    }

    #[test]
    fn witnesses_are_noted_at_keep() {
        let set = set();
        let mut events = vec![
            record(win("P", 261, &[], Some(at(0))), 1),
            record(win("P", 1149, &[], Some(at(10))), 2),
            record(win("P", 261, &[], Some(at(100))), 3),
            record(win("P", 4624, &[], Some(at(101))), 4),
        ];
        let kept: Vec<bool> = events.iter_mut().map(|e| set.mark(e)).collect();
        assert_eq!(kept, [true, true, true, false]);
        // The 1149 at +10 s cancels the first 261; the second has no witness.
        assert_eq!(found(&set, &events, "refused"), [3]);
        let mut bare = events.clone();
        bare.iter_mut().for_each(|e| e.marks = Default::default());
        assert_eq!(set.evaluate(&events), set.evaluate(&bare));
    }

    #[test]
    fn a_flood_sharing_one_payload_is_asked_once_unless_a_rule_reads_the_record() {
        let set = set();
        count::watch(set.id());
        let first = record(win("P", 7, &[("X", "1")], Some(at(0))), 1);
        // A flood: the same payload (one `Arc`), another record and time.
        let mut flood: Vec<Event> = (1..=3)
            .map(|n| {
                let mut e = first.clone();
                e.record = n;
                e.time = Some(at(n as i64));
                e
            })
            .collect();
        assert!(flood.iter_mut().all(|e| set.mark(e)));
        let counts = count::take(set.id());
        // `decided` asked for the first event only; the others carry its answers.
        assert!(counts.keys().all(|k| k.3 == 1), "{counts:?}");
        assert_eq!(found(&set, &flood, "decided"), [1, 2, 3]);
        let mut bare = flood.clone();
        bare.iter_mut().for_each(|e| e.marks = Default::default());
        assert_eq!(set.evaluate(&flood), set.evaluate(&bare));
        // A rule reading the record number: every event is asked.
        const BY_RECORD: &str = r#"
rule odd {
    title: "t" cause: tls strength: weak remediation: "r"
    when: event_id == 7 and record in (1, 3)
    evidence: "o"
    example match evtx { event_id: 7, record: 1 }
    example nomatch evtx { event_id: 7, record: 2 }
}
"#;
        let by_record = load_rules(&[("odd.rdt", BY_RECORD)]).unwrap_or_else(|e| panic!("{e}"));
        count::watch(by_record.id());
        let kept: Vec<bool> = flood.iter_mut().map(|e| by_record.mark(e)).collect();
        assert_eq!(kept, [true, false, true]);
        assert_eq!(count::take(by_record.id()).len(), 3);
        assert_eq!(found(&by_record, &flood, "odd"), [1, 3]);
    }

    #[test]
    fn priority_reads_the_marks() {
        let set = set();
        let mut e = record(win("P", 7, &[("X", "1")], None), 1);
        set.mark(&mut e);
        count::watch(set.id());
        let held: Vec<&str> = set.held_at_keep(&e).map(|r| r.id()).collect();
        let counts = count::take(set.id());
        // `decided` from its mark, `since` (reads time, none yet) by its prefilter: nothing
        // asked again.
        assert_eq!(held.len(), 2, "{held:?}");
        assert!(held.contains(&"decided") && held.contains(&"since"));
        assert!(counts.is_empty(), "{counts:?}");
    }
}
