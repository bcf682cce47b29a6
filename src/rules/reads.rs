//! Which fields a compiled rule reads: what decides whether ingest may answer a rule's
//! condition for an event it keeps, or must leave it to the evaluation.
//!
//! Between keeping an event and running the rules on it, analysis rewrites two of its fields
//! ([`placed_after_keep`]). A condition that reads one of them can hold at evaluation and not at
//! ingest, or the other way round; one that reads neither gives the same answer at both, which
//! is what evaluating each condition only once per event has to rely on (issue 11, item 6).

use super::compile::{Cond, Rule};
use super::fields::Field;

/// The fields analysis rewrites between keeping an event and running the rules on it: `time`
/// (Procmon rows placed by the alignment, a server's events moved onto the client's clock) and
/// `computer` (bundle hosts tied to the event logs' FQDN, Procmon rows given their host by the
/// alignment). Every other field is read from the file and never changes.
pub(crate) fn placed_after_keep(field: &Field) -> bool {
    matches!(field, Field::Time | Field::Computer)
}

impl Rule {
    /// Does the rule's condition or `unless:` witness read a field that analysis rewrites
    /// after ingest kept the event ([`placed_after_keep`])? Only a rule that does not can have
    /// the answer ingest got reused at evaluation: for the others the two can differ.
    pub fn reads_placed(&self) -> bool {
        self.reads(&placed_after_keep)
    }
    fn reads(&self, wanted: &dyn Fn(&Field) -> bool) -> bool {
        self.cond.reads(wanted) || self.unless.as_ref().is_some_and(|u| u.cond.reads(wanted))
    }
}

impl Cond {
    /// Does evaluating this read a field `wanted` holds for? Read off the compiled tree, every
    /// branch counted (evaluation may short-circuit, the answer must not depend on it).
    pub(crate) fn reads(&self, wanted: &dyn Fn(&Field) -> bool) -> bool {
        match self {
            Cond::And(items) | Cond::Or(items) => items.iter().any(|c| c.reads(wanted)),
            Cond::Not(inner) => inner.reads(wanted),
            Cond::Exists(field) | Cond::Text { field, .. } | Cond::Num { field, .. } => {
                wanted(field)
            }
            Cond::Source { .. } => false,
            Cond::Time { .. } => wanted(&Field::Time),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile::{Ctx, compile_expr};
    use crate::rules::parser::parse_expr;
    use crate::rules::testutil::*;

    fn compile(text: &str) -> Cond {
        let ctx = Ctx { file: "c", text };
        let expr = parse_expr("c", text).unwrap_or_else(|e| panic!("{e}"));
        compile_expr(&ctx, &expr, &mut Vec::new()).expect(text)
    }

    #[test]
    fn conditions_that_read_what_analysis_rewrites() {
        let placed = |text: &str| compile(text).reads(&placed_after_keep);
        for text in [
            r#"time >= "2024-01-01T00:00:00Z""#,
            r#"event_id == 1 and computer == "RDS01""#,
            r#"event_id == 1 or not computer contains ".""#,
            r#"exists time"#,
            r#"not (event_id == 2 and (provider == "p" or time < "2024-01-01T00:00:00Z"))"#,
        ] {
            assert!(placed(text), "{text}");
        }
        for text in [
            r#"event_id == 1026 and data.Value == 2308"#,
            r#"source == "procmon" and time_of_day startswith "10:""#,
            r#"date == "2024-01-01" or operation in ("TCP Reconnect", "TCP Disconnect")"#,
            r#"not exists data.Computer"#,
        ] {
            assert!(!placed(text), "{text}");
        }
    }

    #[test]
    fn a_rule_reads_what_its_unless_reads() {
        let unless = |when: &str| {
            format!("    unless: followed by event_id == 1149 and {when} within 10s by computer")
        };
        let ex =
            "    example match evtx { event_id: 261 }\n    example nomatch evtx { event_id: 2 }";
        let set = load(&rule_with(
            "event_id == 261",
            &unless("provider == \"p\""),
            ex,
        ));
        // `by computer` is compared at evaluation only: the witness condition reads no
        // rewritten field.
        assert!(!set.rules()[0].reads_placed());
        let set = load(&rule_with(
            "event_id == 261",
            &unless("computer == \"x\""),
            ex,
        ));
        assert!(set.rules()[0].reads_placed());
        let set = load(&rule_with("event_id == 261 and exists time", "", ex));
        assert!(set.rules()[0].reads_placed());
    }
}
