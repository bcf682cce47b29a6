//! Which fields a compiled rule reads: what decides whether ingest may answer a rule's
//! condition for an event it keeps, or must leave it to the evaluation.
//!
//! Between keeping an event and running the rules on it, analysis rewrites two of its fields
//! ([`placed_after_keep`]). A condition that reads one of them can hold at evaluation and not at
//! ingest, or the other way round; one that reads neither gives the same answer at both, which
//! is what evaluating each condition only once per event has to rely on (issue 11, item 6).

use super::RuleSet;
use super::compile::{Cond, Rule};
use super::fields::Field;
use crate::ingest::ProcmonColumns;

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
    /// Does the rule's condition or `unless:` witness read where its event was read from (the
    /// `file`, the `record` number), rather than what the event says?
    pub(crate) fn reads_origin(&self) -> bool {
        self.reads(&|f| matches!(f, Field::File | Field::Record))
    }

    fn reads(&self, wanted: &dyn Fn(&Field) -> bool) -> bool {
        self.cond.reads(wanted) || self.unless.as_ref().is_some_and(|u| u.cond.reads(wanted))
    }
}

impl RuleSet {
    /// Does some rule's condition or `unless:` witness read an event's `record` number? Keeping
    /// an event asks those conditions ([`RuleSet::mark`]), so a reader may judge events before
    /// it knows their record numbers only when none does
    /// ([`crate::ingest::IngestOptions::keep_reads_record`]).
    pub fn reads_record(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.reads(&|f| matches!(f, Field::Record)))
    }

    /// The Procmon columns (`column.<Header>`) some rule of the set reads, anywhere it can:
    /// a condition, an `unless:` witness or its `by`, an aggregation's `by`, an evidence
    /// template. Reading a Procmon capture for these rules alone, no other column need be
    /// built ([`crate::ingest::IngestOptions::columns`]).
    pub fn procmon_columns(&self) -> ProcmonColumns {
        let mut names: Vec<String> = Vec::new();
        let mut note = |field: &Field| {
            if let Field::Column(name) = field
                && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
            {
                names.push(name.clone());
            }
        };
        for rule in &self.rules {
            rule.cond.visit(&mut note);
            if let Some(unless) = &rule.unless {
                unless.cond.visit(&mut note);
                unless.by.iter().for_each(&mut note);
            }
            if let Some(aggregate) = &rule.aggregate {
                aggregate.by.iter().for_each(&mut note);
            }
            rule.evidence.fields().for_each(&mut note);
        }
        ProcmonColumns::Only(names)
    }
}

impl Cond {
    /// Every field evaluating this may read, each time it is named.
    fn visit(&self, see: &mut dyn FnMut(&Field)) {
        match self {
            Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| c.visit(see)),
            Cond::Not(inner) => inner.visit(see),
            Cond::Exists(field) | Cond::Text { field, .. } | Cond::Num { field, .. } => see(field),
            Cond::Source { .. } => {}
            Cond::Time { .. } => see(&Field::Time),
        }
    }

    /// Does evaluating this read a field `wanted` holds for? Read off the compiled tree, every
    /// branch counted (evaluation may short-circuit, the answer must not depend on it).
    pub(crate) fn reads(&self, wanted: &dyn Fn(&Field) -> bool) -> bool {
        let mut hit = false;
        self.visit(&mut |field| hit |= wanted(field));
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile::{Ctx, compile_expr, newlines};
    use crate::rules::parser::parse_expr;
    use crate::rules::testutil::*;

    fn compile(text: &str) -> Cond {
        let ctx = Ctx {
            file: "c",
            text,
            newlines: &newlines(text),
            whole: true,
        };
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
    fn a_set_reads_the_record_number_when_a_condition_or_witness_does() {
        let examples = "    example match procmon { process: \"a\", record: 2 }\n    example nomatch procmon { process: \"b\", record: 2 }";
        let reads =
            |when: &str, extra: &str| load(&rule_with(when, extra, examples)).reads_record();
        assert!(reads(r#"process == "a" and record == 2"#, ""));
        assert!(reads(r#"process == "a" and not record > 5"#, ""));
        assert!(reads(
            r#"process == "a""#,
            "    unless: followed by record == 9 within 60s by process"
        ));
        assert!(!reads(r#"process == "a""#, ""));
        // The built-in pack: no rule reads it, so a capture's events are judged as decoded.
        assert!(!crate::rules::load_with_builtin(&[]).unwrap().reads_record());
    }

    #[test]
    fn the_columns_a_set_reads_are_gathered_from_every_place_a_rule_reads() {
        let columns = |when: &str, extra: &str, evidence: &str| {
            let text = rule_with(
                when,
                extra,
                "    example match procmon { process: \"a\", column.A: \"1\", column.\"B b\": \"2\", column.W: \"3\" }\n    example nomatch procmon { process: \"b\" }",
            )
            .replace("e {event_id}", evidence);
            match load(&text).procmon_columns() {
                ProcmonColumns::Only(names) => names,
                ProcmonColumns::All => panic!("a set names its columns"),
            }
        };
        let plain = r#"process == "a""#;
        assert!(columns(plain, "", "e {process}").is_empty());
        // A condition, each name once whatever its case (names are matched without regard to
        // case; which spelling is kept follows the order the compiled tests are asked in).
        let names = columns(
            r#"process == "a" and (column.A == "1" or not exists column.a)"#,
            "",
            "e",
        );
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].eq_ignore_ascii_case("A"), "{names:?}");
        // An evidence template.
        assert_eq!(columns(plain, "", "e {column[B b]}"), ["B b"]);
        // An aggregation's `by`.
        assert_eq!(
            columns(
                plain,
                "    aggregate: count >= 1 within 1m by column.Q",
                "e"
            ),
            ["Q"]
        );
        // An `unless:` witness and its `by`.
        assert_eq!(
            columns(
                plain,
                r#"    unless: followed by column.W == "x" within 10s by column.U"#,
                "e"
            ),
            ["W", "U"]
        );
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
