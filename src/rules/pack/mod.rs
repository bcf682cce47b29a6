//! The built-in rule pack: docs/domain.md §2–3 as rule text, embedded in the binary at build time.
//! `rules list` shows it, `rules test` runs its examples, and a test loads all of it.

/// The name prefix of every built-in file.
pub const PREFIX: &str = "builtin/";

/// Every built-in rule file, as `(name, text)`, in load order.
pub const BUILTIN: &[(&str, &str)] = &[
    ("builtin/domain.rdt", super::domain::BUILTIN_TEXT),
    ("builtin/anchor.rdt", include_str!("anchor.rdt")),
    ("builtin/certificate.rdt", include_str!("certificate.rdt")),
    ("builtin/tls.rdt", include_str!("tls.rdt")),
    ("builtin/network.rdt", include_str!("network.rdt")),
    ("builtin/firewall.rdt", include_str!("firewall.rdt")),
    ("builtin/server.rdt", include_str!("server.rdt")),
    ("builtin/gateway.rdt", include_str!("gateway.rdt")),
    ("builtin/folklore.rdt", include_str!("folklore.rdt")),
    ("builtin/config.rdt", include_str!("config.rdt")),
];

/// Is this the built-in pack's own file: its name and, word for word, its text? (A user's
/// file could be named `builtin/...`; only the pack's text is known to parse and pass its
/// tests, which is what lets an analysis skip what it never runs: [`crate::rules`].)
pub fn is_builtin(name: &str, text: &str) -> bool {
    BUILTIN.iter().any(|(n, t)| *n == name && *t == text)
}

/// The built-in files as owned `(name, text)` pairs, ready to load with others.
pub fn builtin_sources() -> Vec<(String, String)> {
    BUILTIN
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::BUILTIN;
    use crate::rules::testutil::assert_examples_pass;
    use crate::rules::{Cause, RuleKind, load_rules, load_with_builtin};

    #[test]
    fn builtin_pack_loads_and_every_example_passes() {
        let set = load_with_builtin(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_examples_pass(&set);
        // Every cause id has at least one rule, and there is exactly one anchor rule.
        for cause in Cause::ALL {
            assert!(
                set.rules().iter().any(|r| r.cause() == Some(*cause)),
                "no rule for cause {cause}"
            );
        }
        let anchors = set
            .rules()
            .iter()
            .filter(|r| r.kind() == RuleKind::Anchor)
            .count();
        assert_eq!(anchors, 1);
    }

    #[test]
    fn builtin_pack_round_trips() {
        for (name, text) in BUILTIN {
            crate::rules::tests::assert_round_trip(name, text);
        }
    }

    #[test]
    fn breaking_a_builtin_rule_fails_its_examples() {
        let mut sources = super::builtin_sources();
        let tls = sources
            .iter_mut()
            .find(|(n, _)| n.ends_with("tls.rdt"))
            .unwrap();
        assert!(tls.1.contains("event_id == 36874"));
        tls.1 = tls.1.replace("event_id == 36874", "event_id == 36875");
        let set = load_rules(&sources).unwrap();
        let failures = set.check_examples();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].rule_id, "tls-no-common-cipher");
    }
}
