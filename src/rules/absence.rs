//! Absence: `unless: followed|preceded by <condition> within D [by f, ...]`.
//!
//! Some evidence means something only when another event did *not* happen: an RCM 261
//! ("listener received a connection") is a refusal only when no 1149 (authentication succeeded)
//! for that server follows it within seconds (DOMAIN.md §3.3, §7). A rule with `unless:` keeps a
//! match only when no event meeting the condition, with the same `by` values (compared without
//! case, a computer by its first label: [`Field::group_value`]; a missing value equals only a
//! missing value), lies within `D` after it (`followed`) or
//! before it (`preceded`), the bounds included. The match itself never counts as its own
//! witness.
//!
//! Times are compared on the same clocks as aggregation (UTC, or one Procmon capture's local
//! clock). A match with no clock cannot be shown to be followed by anything and is kept.
//!
//! Cost: the witnesses are grouped by key and clock and sorted once; each match is then two
//! binary searches, so a flood of matches and witnesses costs `O((n + m) log m)`, never `n × m`.

use std::collections::BTreeMap;

use super::ast::{Direction, Millis, Unless};
use super::compile::{Cond, Ctx, compile_expr};
use super::engine::{Clock, clock};
use super::error::{ErrorKind, RuleError};
use super::fields::Field;
use crate::model::Event;

/// `unless:` compiled.
#[derive(Debug, Clone)]
pub struct Absence {
    pub direction: Direction,
    pub(crate) cond: Cond,
    pub within: Millis,
    pub by: Vec<Field>,
}

impl Absence {
    /// Does the witness condition hold for `event`?
    pub fn witnesses(&self, event: &Event) -> bool {
        self.cond.eval(event)
    }
}

pub(crate) fn compile_unless(
    ctx: &Ctx<'_>,
    pos: super::ast::Pos,
    u: &Unless,
    errors: &mut Vec<RuleError>,
) -> Option<Absence> {
    let cond = compile_expr(ctx, &u.cond.value, errors);
    if u.within.0 == 0 {
        errors.push(ctx.err(
            pos,
            ErrorKind::BadValue {
                what: "unless window",
                text: "0s".into(),
                message: "the window must be longer than 0".into(),
            },
        ));
        return None;
    }
    Some(Absence {
        direction: u.direction,
        cond: cond?,
        within: u.within,
        by: u.by.iter().map(|f| f.value.clone()).collect(),
    })
}

type Key = (Vec<Option<String>>, Clock);

fn key_of(by: &[Field], ev: &Event) -> Option<(Key, i128)> {
    let (clock, t) = clock(ev)?;
    let key = by.iter().map(|f| f.group_value(ev)).collect();
    Some(((key, clock), t))
}

/// The witnesses of one rule's `unless:`, ready for look-ups.
pub(crate) struct Witnesses<'a> {
    absence: &'a Absence,
    /// Per key and clock: (time in ns, event index), sorted.
    by_key: BTreeMap<Key, Vec<(i128, usize)>>,
}

impl<'a> Witnesses<'a> {
    /// `witnesses`: indices of the events that meet the `unless:` condition.
    pub fn new(absence: &'a Absence, witnesses: &[usize], events: &[Event]) -> Witnesses<'a> {
        let mut by_key: BTreeMap<Key, Vec<(i128, usize)>> = BTreeMap::new();
        for &i in witnesses {
            if let Some((key, t)) = key_of(&absence.by, &events[i]) {
                by_key.entry(key).or_default().push((t, i));
            }
        }
        for v in by_key.values_mut() {
            v.sort_unstable();
        }
        Witnesses { absence, by_key }
    }

    /// Is the match at event `i` cancelled (a witness lies in its window)?
    pub fn cancels(&self, i: usize, events: &[Event]) -> bool {
        let Some((key, t)) = key_of(&self.absence.by, &events[i]) else {
            return false;
        };
        let Some(list) = self.by_key.get(&key) else {
            return false;
        };
        let w = i128::from(self.absence.within.0) * 1_000_000;
        let (from, to) = match self.absence.direction {
            Direction::Followed => (t, t + w),
            Direction::Preceded => (t - w, t),
        };
        let lo = list.partition_point(|&(x, _)| x < from);
        let hi = list.partition_point(|&(x, _)| x <= to);
        // The match itself is not its own witness; at most one entry can be it.
        match hi.saturating_sub(lo) {
            0 => false,
            1 => list[lo].1 != i,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::load_rules;
    use crate::rules::testutil::*;

    const RULE: &str = r#"
rule r {
    title: "t"
    cause: server-refused
    strength: moderate
    when: event_id == 261
    unless: followed by event_id == 1149 within 30s by computer
    evidence: "{computer}"
    remediation: "x"
    example match evtx { event_id: 261 }
    example nomatch evtx { event_id: 1 }
}
"#;

    fn ev(id: u32, secs: i64, computer: &str) -> crate::model::Event {
        let mut e = win("P", id, &[], Some(at(secs)));
        if let crate::model::EventKind::Win(w) = &mut e.kind {
            std::sync::Arc::make_mut(w).computer = computer.into();
        }
        e
    }

    fn found(rule: &str, events: &[crate::model::Event]) -> usize {
        let set = load_rules(&[("t.rdt", rule)]).unwrap_or_else(|e| panic!("{e}"));
        set.evaluate(events).finding_count()
    }

    #[test]
    fn followed_by_cancels_only_within_the_window_and_key() {
        // Followed 2 s later on the same server: cancelled.
        assert_eq!(found(RULE, &[ev(261, 0, "A"), ev(1149, 2, "A")]), 0);
        // Exactly at the bound: cancelled (bounds included).
        assert_eq!(found(RULE, &[ev(261, 0, "A"), ev(1149, 30, "a")]), 0);
        // Too late, another server, or before: still a finding.
        assert_eq!(found(RULE, &[ev(261, 0, "A"), ev(1149, 31, "A")]), 1);
        assert_eq!(found(RULE, &[ev(261, 0, "A"), ev(1149, 2, "B")]), 1);
        assert_eq!(found(RULE, &[ev(1149, 0, "A"), ev(261, 2, "A")]), 1);
        // Two 261s, one 1149 after the second: only the first stands.
        assert_eq!(
            found(
                RULE,
                &[ev(261, 0, "A"), ev(261, 100, "A"), ev(1149, 101, "A")]
            ),
            1
        );
    }

    #[test]
    fn preceded_by_looks_back_and_a_match_is_not_its_own_witness() {
        let rule = RULE.replace(
            "followed by event_id == 1149",
            "preceded by event_id == 261",
        );
        // Each 261 is its own candidate witness: a lone one stands.
        assert_eq!(found(&rule, &[ev(261, 0, "A")]), 1);
        // The second is preceded by the first; the first stands.
        assert_eq!(found(&rule, &[ev(261, 0, "A"), ev(261, 10, "A")]), 1);
        let rule = RULE.replace("followed by", "preceded by");
        assert_eq!(found(&rule, &[ev(1149, 0, "A"), ev(261, 5, "A")]), 0);
        assert_eq!(found(&rule, &[ev(261, 0, "A"), ev(1149, 5, "A")]), 1);
    }

    #[test]
    fn witnesses_are_kept_by_ingest_and_a_flood_stays_linear() {
        let set = load_rules(&[("t.rdt", RULE)]).unwrap_or_else(|e| panic!("{e}"));
        // 1149 matches no `when:`, but the rule needs it: ingest must keep it.
        assert!(set.mark(&mut ev(1149, 0, "A")));
        assert!(!set.mark(&mut ev(7036, 0, "A")));
        // 20,000 connections, every other one authenticated: half stand.
        let mut events = Vec::new();
        for k in 0..20_000i64 {
            events.push(ev(261, k * 60, "A"));
            if k % 2 == 0 {
                events.push(ev(1149, k * 60 + 1, "A"));
            }
        }
        assert_eq!(set.evaluate(&events).finding_count(), 10_000);
    }

    #[test]
    fn parse_print_and_errors() {
        crate::rules::tests::assert_round_trip("unless", RULE);
        let bad = RULE.replace("within 30s by computer", "by computer");
        let err = load_rules(&[("t.rdt", bad.as_str())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"within\""), "{err}");
        let bad = RULE.replace("followed by", "after by");
        let err = load_rules(&[("t.rdt", bad.as_str())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("followed, preceded"), "{err}");
        let bad = RULE.replace("within 30s", "within 0s");
        let err = load_rules(&[("t.rdt", bad.as_str())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than 0"), "{err}");
        let bad = RULE.replace("event_id == 1149", "event_id == \"x\"");
        assert!(load_rules(&[("t.rdt", bad.as_str())]).is_err());
    }
}
