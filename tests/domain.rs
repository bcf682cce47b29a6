//! The domain declared once, in the rule pack (issue 11): what the analysis needs is read from
//! the pack's `domain { ... }` block, never from which rules happen to match.

use std::path::PathBuf;

use rdtriage::analysis::{self, AlignHints, ScanOptions};
use rdtriage::ingest::{self, Limits};
use rdtriage::rules::{RuleSet, load_rules, pack};

fn scan_ticket(rules: &RuleSet, ticket: &str) -> rdtriage::report::schema::ScanReport {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tickets")
        .join(ticket);
    let limits = Limits::default();
    let found = ingest::discover::discover(&[dir], &limits);
    let opts = ScanOptions {
        threads: 1,
        limits,
        hints: AlignHints::default(),
        rules,
        shown_columns: rdtriage::ingest::ProcmonColumns::none(),
    };
    analysis::scan(found, &opts, false).report()
}

/// Issue 11: alignment uses the client's `TCP Disconnect` rows, which survived only because a
/// weak network rule happened to match them. Narrowed to a port no row uses, that rule matches
/// nothing, and alignment still infers the offset from the rows the domain declares.
#[test]
fn narrowing_the_tcp_disconnect_rule_keeps_the_network_tickets_alignment() {
    let mut sources = pack::builtin_sources();
    let network = sources
        .iter_mut()
        .find(|(n, _)| n.ends_with("network.rdt"))
        .unwrap();
    let weak = "operation == \"TCP Disconnect\"\n        and remote_port in (3389, 3391, 443)";
    assert!(
        network.1.contains(weak),
        "the weak rule changed: update this test"
    );
    // Narrowed so that its own examples still pass (they use a host called "srv"), but the
    // ticket's rows no longer match: `rules test` cannot notice, the analysis must not care.
    network.1 = network.1.replace(
        weak,
        "operation == \"TCP Disconnect\"\n        and remote_port in (3389, 3391, 443) and remote_host == \"srv\"",
    );
    let narrowed = load_rules(&sources).unwrap_or_else(|e| panic!("{e}"));
    assert!(narrowed.check_examples().is_empty());
    let full = load_rules(&pack::builtin_sources()).unwrap();

    let before = scan_ticket(&full, "network");
    let after = scan_ticket(&narrowed, "network");
    assert_eq!(
        before.alignment.method, "inferred",
        "{}",
        before.alignment.note
    );
    assert_eq!(
        after.alignment.method, "inferred",
        "{}",
        after.alignment.note
    );
    assert_eq!(after.alignment.utc_offset, before.alignment.utc_offset);
    assert_eq!(after.alignment.date, before.alignment.date);
    // The narrowed rule really matches nothing now (or this test proves nothing).
    assert!(
        !after
            .causes
            .iter()
            .flat_map(|c| &c.findings)
            .any(|f| f.rule == "net-procmon-disconnect"),
        "the narrowed rule still matched"
    );
}

/// A user's rule files without a domain get the built-in one; one with a domain replaces it.
#[test]
fn a_users_domain_replaces_the_builtin_one() {
    let builtin = load_rules(&pack::builtin_sources()).unwrap();
    let bare = load_rules(&[("mine.rdt", "")]).unwrap();
    assert_eq!(bare.domain(), builtin.domain());

    let mine = pack::BUILTIN
        .iter()
        .find(|(n, _)| n.ends_with("domain.rdt"))
        .unwrap()
        .1
        .replace("port rdp 3389", "port rdp 13389");
    let mut sources = pack::builtin_sources();
    sources.push(("mine.rdt".into(), mine.clone()));
    let set = load_rules(&sources).unwrap();
    assert!(set.domain().is_rdp_port(13389));
    assert!(!set.domain().is_rdp_port(3389));

    // Two of the user's own: an error that says where the first one is.
    sources.push(("again.rdt".into(), mine));
    let err = load_rules(&sources).unwrap_err().to_string();
    assert!(
        err.contains("again.rdt") && err.contains("first at mine.rdt"),
        "{err}"
    );
}
