//! Whole-scan tests of how analysis asks the rules (issue 11, item 6): each condition once per
//! event, and a rule reading `time` decided on the time as placed.

use std::path::{Path, PathBuf};

use super::{ScanOptions, scan};
use crate::ingest::{Limits, discover};
use crate::model::EventKind;
use crate::rules::{RuleSet, load_with_builtin};

fn ticket(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tickets")
        .join(name)
}

fn scan_with(rules: &RuleSet, tickets: &[&str], limits: Limits) -> super::Scan {
    let paths: Vec<PathBuf> = tickets.iter().map(|t| ticket(t)).collect();
    let opts = ScanOptions {
        threads: 2,
        limits,
        hints: Default::default(),
        rules,
        shown_columns: crate::ingest::ProcmonColumns::none(),
    };
    scan(discover::discover(&paths, &limits), &opts, false)
}

/// Scan with the rules watched: every (rule, event) question asked, and how often.
fn counted(
    rules: &RuleSet,
    tickets: &[&str],
    limits: Limits,
) -> (super::Scan, crate::rules::once::count::Counts) {
    crate::rules::once::count::watch(rules.id());
    let scan = scan_with(rules, tickets, limits);
    (scan, crate::rules::once::count::take(rules.id()))
}

/// The questions asked more than once, for the failure message.
fn repeated(counts: &crate::rules::once::count::Counts) -> Vec<String> {
    let mut out: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n != 1)
        .map(|((what, r, file, record), n)| format!("{what:?} of rule {r} on {file}#{record}: {n}"))
        .collect();
    out.sort();
    out
}

/// The same evaluation with every mark removed: what asking everything again gives.
fn evaluated_afresh(rules: &RuleSet, scan: &super::Scan) -> crate::rules::Evaluation {
    let mut bare = scan.events.clone();
    for e in &mut bare {
        e.marks = Default::default();
    }
    rules.evaluate(&bare)
}

#[test]
fn each_condition_is_asked_once_per_event_issue_11() {
    let rules = load_with_builtin(&[]).expect("the built-in rules load");
    let tickets = ["network", "tls", "server-procmon", "server-refused"];
    let (scan, counts) = counted(&rules, &tickets, Limits::default());
    assert!(
        counts.len() > 50,
        "a real scan asks many questions: {}",
        counts.len()
    );
    assert_eq!(repeated(&counts), Vec::<String>::new());
    assert!(!scan.evaluation.findings.is_empty() && !scan.evaluation.anchors.is_empty());
    // Every kept event read from a file was marked at keep, and the marks give the evaluation
    // asking everything again would.
    assert!(scan.events.iter().any(|e| e.marks.is_decided()));
    assert_eq!(scan.evaluation, evaluated_afresh(&rules, &scan));

    // Above --max-kept-events the kept events are ranked by what the rules said at keep:
    // asked once still.
    let all = scan.events.len();
    let limits = Limits {
        kept_events: all / 3,
        ..Limits::default()
    };
    let (capped, counts) = counted(&rules, &tickets, limits);
    assert!(
        capped.events.len() < all,
        "{} of {all}",
        capped.events.len()
    );
    assert_eq!(repeated(&counts), Vec::<String>::new());
    assert_eq!(capped.evaluation, evaluated_afresh(&rules, &capped));
}

#[test]
fn a_rule_reading_time_is_decided_on_the_placed_time_issue_11() {
    // Procmon CSV rows have no time when ingest keeps them: alignment places them later.
    let rule = |since: &str| {
        let text = format!(
            r#"rule connects-since {{
    title: "t"
    cause: network
    strength: weak
    when: operation == "TCP Send" and time >= "{since}"
    evidence: "{{process}}"
    remediation: "r"
    example match procmon {{ operation: "TCP Send", time: "{since}" }}
    example nomatch procmon {{ operation: "TCP Send", time: "2000-01-01T00:00:00Z" }}
}}"#
        );
        load_with_builtin(&[("since.rdt".into(), text)]).expect("the rule loads")
    };
    let connects = |scan: &super::Scan| -> Vec<jiff::Timestamp> {
        let mut times: Vec<jiff::Timestamp> = scan
            .events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Procmon(p) if p.operation == "TCP Send"))
            .filter_map(|e| e.time)
            .collect();
        times.sort();
        times
    };
    let all = scan_with(
        &rule("2001-01-01T00:00:00Z"),
        &["network"],
        Limits::default(),
    );
    let times = connects(&all);
    assert!(times.len() >= 2, "placed TCP Send rows: {times:?}");
    // A bound between the placed times: only the rows placed at or after it match.
    let since = times[times.len() / 2];
    let rules = rule(&since.to_string());
    let (scan, counts) = counted(&rules, &["network"], Limits::default());
    let r = rules
        .rules()
        .iter()
        .position(|r| r.id() == "connects-since")
        .expect("loaded");
    let found: Vec<jiff::Timestamp> = scan
        .evaluation
        .findings
        .iter()
        .filter(|f| f.rule == r)
        .map(|f| scan.events[f.events[0]].time.expect("placed"))
        .collect();
    let want: Vec<jiff::Timestamp> = connects(&scan)
        .into_iter()
        .filter(|t| *t >= since)
        .collect();
    assert_eq!(found, want);
    assert!(!want.is_empty() && want.len() < times.len(), "{want:?}");
    // Asked once each too: at evaluation, never at keep.
    assert_eq!(repeated(&counts), Vec::<String>::new());
    assert_eq!(scan.evaluation, evaluated_afresh(&rules, &scan));
}

/// A step's shared-out pass finds the same events, in the same order, on a pool of any size
/// as off any pool (where it runs on the calling thread).
#[test]
fn positions_alike_on_any_pool() {
    let mut sink = crate::ingest::Collect::default();
    let opts = crate::ingest::IngestOptions {
        threads: 1,
        limits: Limits::default(),
        keep: &crate::ingest::keep_all,
        keep_reads_record: false,
        columns: crate::ingest::ProcmonColumns::All,
    };
    crate::ingest::ingest(&[ticket("noisy")], &opts, &mut sink);
    assert!(!sink.events.is_empty());
    // Past several shares, so the pass is split on a pool.
    let mut events = Vec::new();
    while events.len() < 5 * super::PASS_SHARE {
        events.extend(sink.events.iter().cloned());
    }
    for (n, e) in events.iter_mut().enumerate() {
        e.record = n as u64;
    }
    let pick = |e: &crate::model::Event| e.record % 7 == 3 || e.procmon().is_some();
    let here = super::positions(&events, pick);
    assert!(here.len() > 5 * super::PASS_SHARE / 7);
    assert!(here.windows(2).all(|w| w[0] < w[1]));
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool");
        assert_eq!(
            pool.install(|| super::positions(&events, pick)),
            here,
            "{threads} threads"
        );
    }
}

/// An export made newest first (`wevtutil qe /rd:true`, `Get-WinEvent`) holds each
/// disconnect before the start of its connection: each disconnect still names the server its
/// own connection started to, as when the same events are held oldest first.
#[test]
fn a_disconnect_names_its_server_in_either_order_of_the_log() {
    use crate::rules::testutil::{at, win};
    use std::sync::Arc;
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let client = rules.domain().client_provider().to_string();
    let event = |id: u32, value: &str, secs: i64, activity: &str| {
        let mut e = win(&client, id, &[("Value", value)], Some(at(secs)));
        e.record = 100 + secs as u64;
        if let EventKind::Win(w) = &mut e.kind {
            Arc::make_mut(w).activity_id = Some(activity.to_string());
        }
        e
    };
    let oldest_first = vec![
        event(1024, "RDS01.contoso.com", 0, "{A}"),
        event(1026, "2308", 5, "{A}"),
        event(1024, "RDS02.contoso.com", 10, "{B}"),
        event(1026, "2308", 15, "{B}"),
    ];
    let newest_first: Vec<_> = oldest_first.iter().rev().cloned().collect();
    for events in [oldest_first, newest_first] {
        let found = super::disconnects(&rules, &events, &[], &[]);
        let servers: Vec<_> = found.iter().map(|d| d.server.as_deref()).collect();
        assert_eq!(
            servers,
            [Some("RDS01.contoso.com"), Some("RDS02.contoso.com")]
        );
    }
}

/// The client's events of one connection to RDS01 (1024 at `start`, then what `steps` say:
/// (event id, value, seconds after the start)), sharing activity `activity`.
#[cfg(test)]
fn client_connection(
    rules: &RuleSet,
    activity: &str,
    start: i64,
    steps: &[(u32, &str, i64)],
) -> Vec<crate::model::Event> {
    client_connection_to(rules, "RDS01.contoso.com", activity, start, steps)
}

/// [`client_connection`] to `server`.
fn client_connection_to(
    rules: &RuleSet,
    server: &str,
    activity: &str,
    start: i64,
    steps: &[(u32, &str, i64)],
) -> Vec<crate::model::Event> {
    use crate::rules::testutil::{at, win};
    use std::sync::Arc;
    let client = rules.domain().client_provider().to_string();
    std::iter::once((1024, server, 0))
        .chain(steps.iter().copied())
        .map(|(id, value, after)| {
            let mut e = win(&client, id, &[("Value", value)], Some(at(start + after)));
            e.record = (start + after) as u64 * 10 + u64::from(id % 10);
            if let EventKind::Win(w) = &mut e.kind {
                let w = Arc::make_mut(w);
                w.activity_id = Some(activity.to_string());
                w.computer = "WS01.contoso.com".into();
            }
            e
        })
        .collect()
}

/// The certificate cause of `events`: its confidence and the text of why.
#[cfg(test)]
fn certificate_of(rules: &RuleSet, events: &[crate::model::Event]) -> Option<(String, String)> {
    let eval = rules.evaluate(events);
    let conns = super::connection::connections(events, rules.domain());
    let servers = super::server_side::server_connections(events, rules.domain());
    let logs = super::connection::server_logs(events, &conns, rules.domain());
    super::rank::rank(rules, &eval, events, &conns, &servers, logs)
        .into_iter()
        .find(|c| c.cause.as_str() == "certificate")
        .map(|c| (c.confidence.as_str().to_string(), c.why))
}

/// A server event of RDS01 `secs` in.
#[cfg(test)]
fn rds01(provider: &str, id: u32, secs: i64) -> crate::model::Event {
    use crate::rules::testutil::{at, win};
    let mut e = win(provider, id, &[("ErrorCode", "0x8009030D")], Some(at(secs)));
    e.record = 1_000_000 + secs as u64;
    if let EventKind::Win(w) = &mut e.kind {
        std::sync::Arc::make_mut(w).computer = "RDS01.contoso.com".into();
    }
    e
}

/// A broken key (Schannel 36870) logged in the seconds before a 0x904 is next to it: high
/// alone. Logged an hour before, it keeps its strength but is only medium.
#[test]
fn a_lasting_state_logged_at_the_0x904_is_next_to_it() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    for (at_secs, want) in [(3600 + 3, "high"), (0, "medium")] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 5)]);
        events.push(rds01("Schannel", 36870, at_secs));
        let (confidence, why) = certificate_of(&rules, &events).expect("a certificate cause");
        assert_eq!(confidence, want, "{at_secs}: {why}");
        assert_eq!(why.contains("next to a 0x904"), want == "high", "{why}");
    }
}

/// A broken key followed by a successful logon to that server was repaired: with no 0x904 in
/// the logs, its evidence is context; without that logon it keeps its strength.
#[test]
fn a_broken_state_a_later_logon_shows_repaired_is_context() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    for (logon, want) in [(true, "context"), (false, "medium")] {
        let mut events = vec![rds01("Schannel", 36870, 0)];
        let steps: &[(u32, &str, i64)] = if logon {
            &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "1", 600)]
        } else {
            &[(1025, "", 1), (1026, "1", 600)]
        };
        events.extend(client_connection(&rules, "{A}", 60, steps));
        let (confidence, why) = certificate_of(&rules, &events).expect("a certificate cause");
        assert_eq!(confidence, want, "{why}");
        assert_eq!(
            why.contains("before a later successful logon to that server"),
            logon,
            "{why}"
        );
    }
}

/// A broken key fails every handshake as it happens: first logged 58 minutes after a 0x904
/// by a server whose log was already running then, it began after the 0x904 (context). A few
/// minutes after, or with the server's log starting later, it keeps its strength.
#[test]
fn a_broken_state_first_logged_long_after_the_0x904_is_context() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    for (after, log_running, later) in [
        (58 * 60, true, true),
        (3 * 60, true, false),
        (58 * 60, false, false),
    ] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 5)]);
        if log_running {
            events.push(logged("EventLog", 6005, "RDS01.contoso.com", 60, &[]));
        }
        events.push(rds01("Schannel", 36870, 3600 + 5 + after));
        let (confidence, why) = certificate_of(&rules, &events).expect("a certificate cause");
        assert_eq!(
            confidence == "context",
            later,
            "{after} {log_running}: {confidence}: {why}"
        );
        assert_eq!(
            why.contains("more than 15 minutes after the 0x904"),
            later,
            "{why}"
        );
    }
}

/// A broken key logged a day after a 0x904, once someone else's connection had logged on to
/// that server in between, began after the 0x904: context. Without that logon between them
/// it keeps its strength.
#[test]
fn a_broken_state_that_began_after_a_later_logon_is_context() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    for (logon, later) in [(true, true), (false, false)] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 5)]);
        if logon {
            events.extend(client_connection(
                &rules,
                "{B}",
                3600 + 3600,
                &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "1", 600)],
            ));
        }
        events.push(rds01("Schannel", 36870, 3600 + 86_400));
        let (confidence, why) = certificate_of(&rules, &events).expect("a certificate cause");
        assert_eq!(confidence == "context", later, "{confidence}: {why}");
        assert_eq!(
            why.contains("after a successful logon to that server that followed the 0x904"),
            later,
            "{why}"
        );
    }
}

/// With no 0x904, the verdict names the failures before the normal ends, each code once,
/// whatever order they came in.
#[test]
fn a_ticket_without_0x904_names_its_failures_first() {
    use super::diagnosis::ClientDisconnect;
    let d = |code: u32| ClientDisconnect {
        file: "client.evtx".into(),
        record: 1,
        time: None,
        computer: "PC".into(),
        server: None,
        decoded: super::disconnect::decode(code),
        is_0x904: false,
        activity_id: None,
        phase: None,
        connection_start: None,
        lived: None,
        logon: None,
        server_side: None,
        event: 0,
        near_causes: Vec::new(),
    };
    let all = [d(0x1), d(0x2), d(0x204), d(0x204), d(0x3), d(0x108)];
    let text = super::other_disconnects(&all);
    assert!(
        text.starts_with("the client's connection failed with 0x204 (")
            && text.contains(" and 0x108 (")
            && text.ends_with("; 3 other disconnects ended normally (0x1, 0x2 and 0x3)"),
        "{text}"
    );
    assert_eq!(text.matches("0x204").count(), 1, "{text}");
    let normal = super::other_disconnects(&[d(0x2), d(0x1), d(0x2)]);
    assert!(
        normal.starts_with("the client disconnected with 0x2 (")
            && normal.ends_with("; 2 more disconnects ended normally (0x1 and 0x2)"),
        "{normal}"
    );
    assert!(!super::other_disconnects(&[d(0x1)]).contains("more"));
}

/// The findings of each cause of `events` (rule ids), as the whole analysis ranks them: the
/// client's connections tied to the servers' side.
#[cfg(test)]
fn causes_of(rules: &RuleSet, events: &[crate::model::Event]) -> Vec<(String, Vec<String>)> {
    ranked(rules, events)
        .into_iter()
        .map(|c| {
            let rules = c.findings.iter().map(|f| f.rule.to_string()).collect();
            (c.cause.as_str().to_string(), rules)
        })
        .collect()
}

/// The causes of `events`, ranked.
fn ranked(rules: &RuleSet, events: &[crate::model::Event]) -> Vec<super::diagnosis::CauseScore> {
    let eval = rules.evaluate(events);
    let mut conns = super::connection::connections(events, rules.domain());
    let servers = super::server_side::server_connections(events, rules.domain());
    super::server_side::tie(&mut conns, &servers);
    super::server_side::tie_unknown_names(&mut conns, &servers, events);
    super::server_side::phase_from_server(&mut conns, &servers);
    let logs = super::connection::server_logs(events, &conns, rules.domain());
    super::rank::rank(rules, &eval, events, &conns, &servers, logs)
}

/// `provider`'s event `id` on `computer`, `secs` in, with `data`.
#[cfg(test)]
fn logged(
    provider: &str,
    id: u32,
    computer: &str,
    secs: i64,
    data: &[(&str, &str)],
) -> crate::model::Event {
    use crate::rules::testutil::{at, win};
    let mut e = win(provider, id, data, Some(at(secs)));
    e.record = 2_000_000 + secs as u64 * 10 + u64::from(id % 10);
    if let EventKind::Win(w) = &mut e.kind {
        std::sync::Arc::make_mut(w).computer = computer.into();
    }
    e
}

/// A gateway refusal of another user counts for no 0x904 whose own tunnel names its user, even
/// with no server log to name the connection's user: bob's policy refusals beside alice's
/// aborted tunnel are not alice's. Without a tunnel event naming alice, nothing says whose
/// connection the 0x904 was, and bob's refusals still count.
#[test]
fn a_gateway_refusal_of_another_user_is_not_the_0x904s() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let gateway = provider_labelled(&rules, "Gateway");
    for alices_leg in [true, false] {
        let mut events = client_connection(
            &rules,
            "{A}",
            3600,
            &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "2308", 900)],
        );
        for k in 0..3 {
            events.push(logged(
                &gateway,
                201,
                "RDGW01.contoso.com",
                3600 + 800 + k * 20,
                &[("Username", r"CONTOSO\bob"), ("ErrorCode", "23003")],
            ));
        }
        if alices_leg {
            events.push(logged(
                &gateway,
                302,
                "RDGW01.contoso.com",
                3601,
                &[
                    ("Username", r"CONTOSO\alice"),
                    ("Resource", "RDS01.contoso.com"),
                ],
            ));
        }
        let causes = causes_of(&rules, &events);
        let counted = causes
            .iter()
            .flat_map(|(_, r)| r)
            .any(|r| r == "gw-policy-not-met");
        assert_eq!(counted, !alices_leg, "{causes:?}");
    }
}

/// A gateway tunnel that began before the 0x904 connection did is another connection's: bob's
/// 50-minute tunnel to RDS01 aborted in the seconds of alice's 2-second connection is not its
/// leg, whether its beginning is read from its 302 (same gateway activity) or from the 303's
/// session duration; alice's own policy refusal (201, no resource) still counts. A tunnel
/// that began with the connection is its leg.
#[test]
fn a_tunnel_that_began_before_the_connection_is_anothers() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let gateway = provider_labelled(&rules, "Gateway");
    // (tunnel began, the 302 logged, the 303's duration given, the 303 counts)
    for (began, with_302, with_duration, counts) in [
        (600, true, false, false),
        (600, false, true, false),
        (600, true, true, false),
        (3600, true, true, true),
        (3600, false, false, true),
    ] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 2)]);
        let tunnel = [
            ("Username", r"CONTOSO\bob"),
            ("Resource", "RDS01.contoso.com"),
        ];
        if with_302 {
            events.push(in_activity(
                logged(&gateway, 302, "RDGW01.contoso.com", began, &tunnel),
                "{B}",
            ));
        }
        let lasted = (3601 - began).to_string();
        let mut data = tunnel.to_vec();
        data.push(("ErrorCode", "1236"));
        if with_duration {
            data.push(("SessionDuration", &lasted));
        }
        events.push(in_activity(
            logged(&gateway, 303, "RDGW01.contoso.com", 3601, &data),
            "{B}",
        ));
        events.push(in_activity(
            logged(
                &gateway,
                201,
                "RDGW01.contoso.com",
                3600,
                &[("Username", r"CONTOSO\alice"), ("ErrorCode", "23003")],
            ),
            "{C}",
        ));
        let causes = causes_of(&rules, &events);
        let has = |rule: &str| causes.iter().flat_map(|(_, r)| r).any(|r| r == rule);
        let case = (began, with_302, with_duration);
        assert_eq!(has("gw-tunnel-aborted"), counts, "{case:?}: {causes:?}");
        // alice's refusal is hers unless bob's tunnel is taken for her connection's leg.
        assert_eq!(has("gw-policy-not-met"), !counts, "{case:?}: {causes:?}");
    }
}

/// With no server log, the user of a long session is the one whose tunnel began with it: alice's
/// 8-hour session through the gateway ends in a reset while bob's 50-minute tunnel to the same
/// server is ended by the gateway and carol is refused, in the same minute. Neither is alice's
/// (§3.6): bob's tunnel began hours after her connection did, and carol's refusal names
/// another user. Without alice's own tunnel event, bob's is the only tunnel in the session's
/// life and is taken for its leg, as before.
#[test]
fn the_tunnel_that_began_with_a_long_session_names_its_user() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let gateway = provider_labelled(&rules, "Gateway");
    let end = 3600 + 8 * 3600;
    for alices_leg in [true, false] {
        let mut events = client_connection(
            &rules,
            "{A}",
            3600,
            &[
                (1025, "", 1),
                (1027, "CONTOSO", 2),
                (1026, "2308", 8 * 3600),
            ],
        );
        if alices_leg {
            events.push(in_activity(
                logged(
                    &gateway,
                    302,
                    "RDGW01.contoso.com",
                    3601,
                    &[
                        ("Username", r"CONTOSO\alice"),
                        ("Resource", "RDS01.contoso.com"),
                    ],
                ),
                "{E}",
            ));
        }
        events.push(in_activity(
            logged(
                &gateway,
                303,
                "RDGW01.contoso.com",
                end,
                &[
                    ("Username", r"CONTOSO\bob"),
                    ("Resource", "RDS01.contoso.com"),
                    ("ErrorCode", "1236"),
                    ("SessionDuration", "3000"),
                ],
            ),
            "{F}",
        ));
        events.push(in_activity(
            logged(
                &gateway,
                201,
                "RDGW01.contoso.com",
                end - 11,
                &[("Username", r"CONTOSO\carol"), ("ErrorCode", "23003")],
            ),
            "{G}",
        ));
        let causes = causes_of(&rules, &events);
        let has = |rule: &str| causes.iter().flat_map(|(_, r)| r).any(|r| r == rule);
        assert_eq!(has("gw-tunnel-aborted"), !alices_leg, "{causes:?}");
        if alices_leg {
            assert!(!has("gw-policy-not-met"), "{causes:?}");
        }
    }
}

/// `e` with activity id `activity` (the gateway's events of one tunnel share one).
#[cfg(test)]
fn in_activity(mut e: crate::model::Event, activity: &str) -> crate::model::Event {
    if let EventKind::Win(w) = &mut e.kind {
        std::sync::Arc::make_mut(w).activity_id = Some(activity.into());
    }
    e
}

/// The provider a domain source is labelled `label` by (`LSM`, `RCM`).
#[cfg(test)]
fn provider_labelled(rules: &RuleSet, label: &str) -> String {
    rules
        .domain()
        .sources
        .iter()
        .find(|s| s.label() == label)
        .expect("a source with that label")
        .provider
        .clone()
}

/// The session host ending the 0x904's session over licensing (LSM 40, reason 258, no license
/// available) ranks licensing first; reason 263 (the client ended the licensing protocol, as a
/// closing socket also does) is no evidence of it; RCM 1028 (license not renewed) counts on
/// the 0x904's server and not on another server whose own logs are in the ticket too.
#[test]
fn the_server_ending_the_session_over_licensing_is_licensing() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let (lsm, rcm) = (
        provider_labelled(&rules, "LSM"),
        provider_labelled(&rules, "RCM"),
    );
    for (id, reason, computer, first) in [
        (40, "258", "RDS01.contoso.com", true),
        (40, "263", "RDS01.contoso.com", false),
        (1028, "", "RDS01.contoso.com", true),
        (1028, "", "RDS02.contoso.com", false),
    ] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 4)]);
        events.push(rds01_morning_session(&lsm));
        events.push(logged(
            if id == 40 { &lsm } else { &rcm },
            id,
            computer,
            3603,
            &[("Session", "3"), ("Reason", reason)],
        ));
        let causes = ranked(&rules, &events);
        let top = causes.first().map(|c| c.cause.as_str());
        assert_eq!(
            top == Some("licensing"),
            first,
            "{id} {reason} {computer}: {:?}",
            causes
                .iter()
                .map(|c| (c.cause.as_str(), c.confidence.as_str()))
                .collect::<Vec<_>>()
        );
        if first {
            assert_ne!(causes[0].confidence.as_str(), "low", "{id}");
        }
        if first && id == 40 {
            // The reason is read from the domain's table, as the server line reads it.
            let evidence = &causes[0].findings[0].evidence;
            assert!(
                evidence.ends_with("reason 258 (licensing: no license available)"),
                "{evidence}"
            );
        }
    }
}

/// The server ending the 0x904's session because it ran out of memory (LSM 40 reason 6), or
/// diagnosing a low virtual memory condition in the half hour before, is server-resources;
/// logged on another server whose logs are here, or hours before, it is not.
#[test]
fn the_server_running_out_of_memory_is_server_resources() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let lsm = provider_labelled(&rules, "LSM");
    let detector = "Microsoft-Windows-Resource-Exhaustion-Detector";
    for (provider, id, reason, computer, at, expect) in [
        (
            lsm.as_str(),
            40,
            "6",
            "RDS01.contoso.com",
            3603,
            Some("high"),
        ),
        (lsm.as_str(), 40, "6", "RDS02.contoso.com", 3603, None),
        (lsm.as_str(), 40, "5", "RDS01.contoso.com", 3603, None),
        (
            detector,
            2004,
            "",
            "RDS01.contoso.com",
            3600 - 900,
            Some("medium"),
        ),
        (
            detector,
            2004,
            "",
            "RDS01.contoso.com",
            3600 - 3 * 3600,
            None,
        ),
    ] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 4)]);
        events.push(rds01_morning_session(&lsm));
        events.push(logged(
            provider,
            id,
            computer,
            at,
            &[("Session", "3"), ("Reason", reason)],
        ));
        let causes = ranked(&rules, &events);
        let found = causes
            .iter()
            .find(|c| c.cause.as_str() == "server-resources")
            .map(|c| c.confidence.as_str());
        assert_eq!(found, expect, "{id} {reason} {computer} {at}");
        if expect.is_some() {
            assert_eq!(causes[0].cause.as_str(), "server-resources");
        }
    }
}

/// With no 0x904 in the logs, the verdict names where the evidence points without calling it
/// the 0x904's most likely cause: there is none to explain.
#[test]
fn with_no_0x904_the_verdict_names_no_most_likely_cause() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    // TLS 1.2 turned off on the server: a lasting state, evidence with or without a 0x904.
    let causes = ranked(&rules, &[schannel_server("TLS 1.2", "0")]);
    assert!(!causes.is_empty());
    let text = super::verdict(&[], &Default::default(), &causes, &[]);
    assert!(
        text.contains("with no 0x904 to explain, the strongest evidence is for tls"),
        "{text}"
    );
    assert!(!text.contains("most likely"), "{text}");
}

/// A firewall drop logged on the 0x904's server counts only when one of its ends is the
/// client's address as that server saw it (its accept names it): a scanner's drops do not.
/// With no server event naming the client's address, a drop is not judged and counts.
#[test]
fn a_firewall_drop_of_another_address_is_not_the_0x904s() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let peer = rules
        .domain()
        .peers
        .first()
        .expect("a peer declaration")
        .clone();
    let drop_from = |source: &str| {
        logged(
            &peer.provider,
            peer.ids[0],
            "RDS01.contoso.com",
            3600 + 890,
            &[
                (&peer.fields[0], source),
                ("SourcePort", "50533"),
                (&peer.fields[1], "10.20.40.1"),
                ("DestPort", "3389"),
            ],
        )
    };
    for (accepted, source, by_address, counts) in [
        (true, "45.61.152.140", false, false),
        (true, "10.20.31.77", false, true),
        (false, "45.61.152.140", false, true),
        // Connected to by its address: RDS01's accept at that moment ties it all the same.
        (true, "45.61.152.140", true, false),
        (true, "10.20.31.77", true, true),
    ] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 900)]);
        if by_address && let EventKind::Win(w) = &mut events[0].kind {
            let w = std::sync::Arc::make_mut(w);
            let mut data = crate::model::Fields::default();
            data.push("Value", "10.20.40.1");
            w.data = data;
        }
        if accepted {
            events.push(rds01_accept(&rules, "10.20.31.77:50533"));
        }
        events.push(drop_from(source));
        let causes = causes_of(&rules, &events);
        let counted = causes.iter().any(|(c, _)| c == "firewall");
        assert_eq!(
            counted, counts,
            "{accepted} {source} {by_address}: {causes:?}"
        );
    }
}

/// The server going down ends the 0x904's connection whatever its phase: a Remote Desktop
/// service's crash or a restart logged on its server is a server-down cause. The same logged
/// on the client the connection was made from (its own Remote Desktop service), on another
/// server than the one its accept ties it to, or on another server than the one it names
/// when that one's own logs are here too, is not. Named server absent from the logs: the
/// computer logging the crash may be it under another name (a farm's), so it counts.
#[test]
fn the_server_going_down_counts_only_on_the_0x904s_server() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let crash = (
        "Service Control Manager",
        7031,
        &[("param1", "Remote Desktop Services")][..],
        "svc-rds-service-failed",
    );
    let restart = (
        "User32",
        1074,
        &[("param1", "shutdown.exe"), ("param5", "restart")][..],
        "down-server-restart",
    );
    for ((provider, id, data, rule), computer, accepted, rds01_logs, counts) in [
        (crash, "RDS01.contoso.com", false, false, true),
        (crash, "WS01.contoso.com", false, false, false),
        (restart, "RDS01.contoso.com", true, true, true),
        (restart, "RDS02.contoso.com", true, true, false),
        (crash, "RDS02.contoso.com", false, false, true),
        (crash, "RDS02.contoso.com", false, true, false),
        (crash, "RDS01.contoso.com", false, true, true),
    ] {
        let mut events = client_connection(
            &rules,
            "{A}",
            3600,
            &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "2308", 900)],
        );
        if accepted {
            events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        }
        if rds01_logs {
            // Hours before: a log of RDS01 is among the inputs, nothing more.
            events.push(logged("EventLog", 6005, "RDS01.contoso.com", 60, &[]));
        }
        events.push(logged(provider, id, computer, 3600 + 898, data));
        let causes = causes_of(&rules, &events);
        let down = causes
            .iter()
            .any(|(c, r)| c == "server-down" && r.iter().any(|r| r == rule));
        assert_eq!(down, counts, "{rule} on {computer}: {causes:?}");
    }
}

/// EventLog 6008 is logged at the server's next boot, however long it stayed down; its data
/// says when it went down. Placed there, a crash seconds before the 0x904 is strong
/// server-down evidence even two hours later at boot, one an hour before it is not, and one
/// whose data holds no time is placed at its boot (moderate, within 30 minutes).
#[test]
fn an_unexpected_shutdown_is_placed_when_the_server_went_down() {
    use crate::rules::testutil::at;
    let rules = load_with_builtin(&[]).expect("built-in rules");
    // Two SYSTEMTIMEs (local, then UTC) as the event log writes them in hex.
    let systemtimes = |secs: i64| {
        let t = at(secs).to_zoned(jiff::tz::TimeZone::UTC);
        let words = [
            t.year() as u16,
            t.month() as u16,
            t.weekday().to_sunday_zero_offset() as u16,
            t.day() as u16,
            t.hour() as u16,
            t.minute() as u16,
            t.second() as u16,
            0,
        ];
        let one: String = words
            .iter()
            .map(|w| format!("{:04X}", w.swap_bytes()))
            .collect();
        format!("{one}{one}")
    };
    let the_0x904 = 3600 + 900;
    for (down, logged_at, computer, expect) in [
        (
            Some(the_0x904 - 30),
            the_0x904 + 2 * 3600,
            "RDS01.contoso.com",
            Some("down-server-crashed"),
        ),
        (
            Some(the_0x904 - 3600),
            the_0x904 + 60,
            "RDS01.contoso.com",
            None,
        ),
        (
            None,
            the_0x904 + 600,
            "RDS01.contoso.com",
            Some("down-server-unexpected-shutdown"),
        ),
        (None, the_0x904 + 2 * 3600, "RDS01.contoso.com", None),
        (
            Some(the_0x904 - 30),
            the_0x904 + 2 * 3600,
            "WS01.contoso.com",
            None,
        ),
    ] {
        let mut events = client_connection(
            &rules,
            "{A}",
            3600,
            &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "2308", 900)],
        );
        events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        let binary = down.map(systemtimes);
        let data: Vec<(&str, &str)> = binary.iter().map(|b| ("Binary", b.as_str())).collect();
        events.push(logged("EventLog", 6008, computer, logged_at, &data));
        let causes = ranked(&rules, &events);
        let found = causes
            .iter()
            .find(|c| c.cause.as_str() == "server-down")
            .map(|c| {
                let rules_of: Vec<String> = c.findings.iter().map(|f| f.rule.clone()).collect();
                let occurred = c.findings.first().map(|f| (f.occurred, f.from_anchor));
                (rules_of, c.confidence.as_str(), occurred)
            });
        match expect {
            Some(rule) => {
                let (rules_of, confidence, occurred) = found.expect("server-down");
                assert_eq!(rules_of, vec![rule.to_string()], "{down:?}");
                let strong = rule == "down-server-crashed";
                assert_eq!(confidence == "high", strong, "{down:?} {confidence}");
                // The report says when the shutdown happened, which its distance counts
                // from, beside when it was logged.
                let at = |secs: i64| crate::rules::testutil::at(secs);
                let want = down.map(|d| {
                    (
                        Some(at(d)),
                        Some(
                            at(d)
                                .duration_since(at(the_0x904))
                                .round(jiff::Unit::Second)
                                .unwrap(),
                        ),
                    )
                });
                let occurred =
                    occurred.map(|(o, d)| (o, d.map(|d| d.round(jiff::Unit::Second).unwrap())));
                match want {
                    Some(w) => assert_eq!(occurred, Some(w), "{down:?}"),
                    None => assert_eq!(occurred.and_then(|o| o.0), None, "{down:?}"),
                }
            }
            None => assert!(found.is_none(), "{down:?} {computer}: {found:?}"),
        }
    }
}

/// RDS01's exported SCHANNEL setting `Enabled` = `data` for the server side of `version`.
fn schannel_server(version: &str, data: &str) -> crate::model::Event {
    crate::model::Event {
        file: std::sync::Arc::from("RDS01/SCHANNEL.reg"),
        record: 1,
        time: None,
        kind: EventKind::Registry(Box::new(crate::model::RegValue {
            key: format!(
                r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\{version}\Server"
            )
            .into(),
            name: "Enabled".into(),
            value_type: "REG_DWORD".into(),
            data: data.into(),
            computer: "RDS01".into(),
        })),
        marks: Default::default(),
    }
}

/// A TLS version turned off on the server (DOMAIN §8: context alone, what a client must
/// meet) explains a protocol alert at the 0x904: with it, the TLS cause is high. TLS 1.2 on
/// for the server does not answer the alert (the client may lack TLS 1.2, or the cipher suites
/// disagree): the cause stays medium. It does answer the server failing to create its TLS
/// credential on protocol policy (36871): that cause loses a level.
#[test]
fn an_older_tls_version_turned_off_corroborates_a_protocol_alert() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let tls_of = |id: u32, data: &[(&str, &str)], settings: &[crate::model::Event]| {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 2)]);
        events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        events.push(logged("Schannel", id, "RDS01.contoso.com", 3601, data));
        events.extend(settings.iter().cloned());
        let causes = ranked(&rules, &events);
        let tls = causes.iter().find(|c| c.cause.as_str() == "tls");
        tls.map(|c| c.confidence.as_str()).unwrap_or("none")
    };
    let alert = [("AlertDesc", "70"), ("ErrorState", "1205")];
    let alone = tls_of(36888, &alert, &[]);
    let healthy = tls_of(36888, &alert, &[schannel_server("TLS 1.2", "1")]);
    let explained = tls_of(
        36888,
        &alert,
        &[
            schannel_server("TLS 1.2", "1"),
            schannel_server("TLS 1.0", "0"),
        ],
    );
    assert_eq!((alone, healthy, explained), ("medium", "medium", "high"));
    let credential = [("ErrorState", "10013")];
    let alone = tls_of(36871, &credential, &[]);
    let healthy = tls_of(36871, &credential, &[schannel_server("TLS 1.2", "1")]);
    assert_eq!((alone, healthy), ("medium", "low"));
}

/// The fix of a TLS cause whose event evidence (36874: no common cipher suite) sits beside a
/// setting found broken (TLS 1.2 turned off on the server) is the setting's: it names exactly
/// what to change. Without the setting, the event's rule's fix stands.
#[test]
fn a_broken_setting_gives_the_fix_beside_the_events_that_show_it() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    for (settings, expect) in [
        (
            vec![schannel_server("TLS 1.2", "0")],
            "Re-enable TLS 1.2 for the server",
        ),
        (vec![], "cipher-suite-order"),
    ] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 2)]);
        events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        events.push(logged(
            "Schannel",
            36874,
            "RDS01.contoso.com",
            3601,
            &[("Protocol", "TLS 1.2")],
        ));
        events.extend(settings);
        let causes = ranked(&rules, &events);
        let tls = causes.iter().find(|c| c.cause.as_str() == "tls");
        let tls = tls.expect("the 36874 is TLS evidence");
        assert!(tls.remediation.contains(expect), "{}", tls.remediation);
    }
}

/// The client's reset at a 0x904 is what it sees when the server goes down: with the server's
/// Remote Desktop service crashing on RDS01 at that moment, server-down ranks first and
/// network says why it yields; without the crash, the reset is the network cause. A crash at
/// another connection's 0x904, hours later, explains that one's drop, not this reset.
#[test]
fn the_clients_reset_yields_to_its_server_going_down() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let client = rules.domain().client_provider().to_string();
    for (crash, elsewhere) in [(true, false), (false, false), (false, true)] {
        let mut events = client_connection(
            &rules,
            "{A}",
            3600,
            &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "2308", 900)],
        );
        if elsewhere {
            let later = 3600 + 4 * 3600;
            events.extend(client_connection(
                &rules,
                "{B}",
                later,
                &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "2308", 900)],
            ));
            events.push(rds01_service_crash(later + 898));
        }
        let mut reset = logged(
            &client,
            226,
            "WS01.contoso.com",
            3600 + 899,
            &[("Error Code", "0x80072746")],
        );
        if let EventKind::Win(w) = &mut reset.kind {
            std::sync::Arc::make_mut(w).activity_id = Some("{A}".to_string());
        }
        events.push(reset);
        events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        if crash {
            events.push(rds01_service_crash(3600 + 898));
        }
        let causes = ranked(&rules, &events);
        let top = causes.first().map(|c| c.cause.as_str());
        let network = causes.iter().find(|c| c.cause.as_str() == "network");
        let network = network.expect("the reset is network evidence");
        let yields = network
            .against
            .contains(&crate::analysis::diagnosis::Against::SymptomOf {
                of: crate::rules::Cause::ServerDown,
            });
        if crash {
            assert_eq!(top, Some("server-down"), "{causes:#?}");
            assert!(yields, "{causes:#?}");
        } else {
            assert!(!yields, "{causes:#?}");
            if !elsewhere {
                assert_eq!(top, Some("network"), "{causes:#?}");
            }
        }
    }
}

/// RDS01's Remote Desktop Services terminating unexpectedly (SCM 7031) at `secs`.
fn rds01_service_crash(secs: i64) -> crate::model::Event {
    logged(
        "Service Control Manager",
        7031,
        "RDS01.contoso.com",
        secs,
        &[("param1", "Remote Desktop Services")],
    )
}

/// WS01's established session to RDS01 (activity `{A}`) that a 0x904 ends 900 s in, with the
/// client's 226 reset a second before it.
fn reset_in_session(rules: &RuleSet) -> Vec<crate::model::Event> {
    let client = rules.domain().client_provider().to_string();
    let mut events = client_connection(
        rules,
        "{A}",
        3600,
        &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "2308", 900)],
    );
    events.push(in_activity(
        logged(
            &client,
            226,
            "WS01.contoso.com",
            3600 + 899,
            &[("Error Code", "0x80072746")],
        ),
        "{A}",
    ));
    events
}

/// A row of WS01's Procmon capture of its RDP client's connection to RDS01, placed at `secs`.
fn client_procmon_row(operation: &str, secs: i64) -> crate::model::Event {
    let mut e = crate::rules::testutil::procmon(
        1,
        "mstsc.exe",
        operation,
        "WS01.contoso.com:50000 -> RDS01.contoso.com:ms-wbt-server",
        "SUCCESS",
        "Length: 0",
        None,
    );
    e.time = Some(crate::rules::testutil::at(secs));
    e
}

/// Whatever ends the connection on the server's side, the client sees its socket close: the
/// server running out of memory (LSM 40 reason 6) or going down explains the client's reset
/// and its Procmon `TCP Disconnect` row at the 0x904 alike (network ranks below it and says
/// so); a retransmit burst is the path's own evidence and is not explained by it.
#[test]
fn the_clients_view_of_its_socket_closing_yields_to_any_server_ending() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let lsm = provider_labelled(&rules, "LSM");
    use crate::rules::Cause;
    for (ending, of, client_view, yields) in [
        ("memory", Cause::ServerResources, "", true),
        ("memory", Cause::ServerResources, "disconnect", true),
        ("crash", Cause::ServerDown, "disconnect", true),
        ("crash", Cause::ServerDown, "retransmits", false),
    ] {
        // The client's reset, and beside it what its Procmon capture saw.
        let mut events = reset_in_session(&rules);
        match client_view {
            "disconnect" => events.push(client_procmon_row("TCP Disconnect", 3600 + 899)),
            "retransmits" => {
                events.extend((0..4).map(|i| client_procmon_row("TCP Retransmit", 3600 + 890 + i)))
            }
            _ => {}
        }
        events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        events.push(match ending {
            "memory" => logged(
                &lsm,
                40,
                "RDS01.contoso.com",
                3600 + 898,
                &[("Session", "3"), ("Reason", "6")],
            ),
            _ => rds01_service_crash(3600 + 898),
        });
        let causes = ranked(&rules, &events);
        let network = causes.iter().find(|c| c.cause == Cause::Network);
        let network = network.expect("the client's view is network evidence");
        let explained = network
            .against
            .contains(&crate::analysis::diagnosis::Against::SymptomOf { of });
        assert_eq!(explained, yields, "{ending} {client_view}: {causes:#?}");
        if yields {
            assert_eq!(causes[0].cause, of, "{ending} {client_view}: {causes:#?}");
            assert!(network.confidence > causes[0].confidence, "{causes:#?}");
        }
    }
}

/// The client's reset alone, with no log of the session host in the ticket, is the network at
/// medium confidence: a server that went down would look the same from the client. With the
/// server's log here and quiet at the 0x904, or with the path's own retransmits, it is high.
#[test]
fn the_clients_reset_alone_without_the_servers_log_is_not_certain() {
    use crate::analysis::diagnosis::Against;
    let rules = load_with_builtin(&[]).expect("built-in rules");
    // The client's own Remote Desktop service logs too (a workstation logs its console
    // logons, LSM 21): that is no log of the session host.
    let lsm = provider_labelled(&rules, "LSM");
    for (server_log, retransmits, expect) in [
        (None, false, "medium"),
        (Some("RDS01.contoso.com"), false, "high"),
        (Some("WS01.contoso.com"), false, "medium"),
        (None, true, "high"),
    ] {
        let mut events = reset_in_session(&rules);
        match server_log {
            Some("RDS01.contoso.com") => events.push(rds01_accept(&rules, "10.0.0.7:50000")),
            Some(client) => events.push(logged(
                &lsm,
                21,
                client,
                600,
                &[
                    ("SessionID", "1"),
                    ("Address", "LOCAL"),
                    ("User", "CONTOSO\\alice"),
                ],
            )),
            None => {}
        }
        if retransmits {
            events.extend((0..4).map(|i| client_procmon_row("TCP Retransmit", 3600 + 890 + i)));
        }
        let causes = ranked(&rules, &events);
        let network = causes.iter().find(|c| c.cause.as_str() == "network");
        let network = network.expect("the reset is network evidence");
        assert_eq!(
            network.confidence.as_str(),
            expect,
            "server log {server_log:?}, retransmits {retransmits}: {causes:#?}"
        );
        assert_eq!(
            network.against.contains(&Against::ServerUnseen),
            expect == "medium",
            "{causes:#?}"
        );
    }
}

/// RDS01's own logs in the ticket: a morning session its user ended (LSM `lsm` 40).
fn rds01_morning_session(lsm: &str) -> crate::model::Event {
    logged(
        lsm,
        40,
        "RDS01.contoso.com",
        60,
        &[("Session", "2"), ("Reason", "11")],
    )
}

/// RDS01's accept of a connection from `address`, a second in.
fn rds01_accept(rules: &RuleSet, address: &str) -> crate::model::Event {
    let (accept, provider) = accept_naming_address(rules);
    logged(
        &provider,
        accept.ids[0],
        "RDS01.contoso.com",
        3601,
        &[(&accept.address, address)],
    )
}

/// The domain's server accept event that names the client's address, and its provider.
fn accept_naming_address(rules: &RuleSet) -> (&crate::rules::domain::ServerEventDecl, String) {
    let domain = rules.domain();
    let accept = domain
        .server_events
        .iter()
        .find(|d| d.role == crate::rules::domain::ServerRole::Accept && !d.address.is_empty())
        .expect("an accept naming the client's address");
    let provider = domain
        .sources
        .iter()
        .find(|s| s.label() == accept.source)
        .expect("the accept's source")
        .provider
        .clone();
    (accept, provider)
}

/// A client with a session on one host and a failed connection to another: the certificate
/// and TLS evidence of the host it did not fail on is that host's own, and says nothing about
/// the 0x904's server (nor does that host's registry). Logged on the 0x904's server, or on
/// the client, it counts; from a computer the inputs show as no session host, nothing says
/// whose it is, and it counts too.
#[test]
fn another_session_hosts_certificate_is_not_the_0x904s() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let (accept, provider) = accept_naming_address(&rules);
    let broken_key = |computer: &str| {
        logged(
            "Schannel",
            36870,
            computer,
            3601,
            &[("ErrorCode", "0x8009030D")],
        )
    };
    for (computer, rds02_hosts_sessions, counts) in [
        ("RDS02.contoso.com", true, false),
        ("RDS01.contoso.com", true, true),
        ("WS01.contoso.com", true, true),
        ("RDS02.contoso.com", false, true),
    ] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 3)]);
        events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        if rds02_hosts_sessions {
            // Someone's connection to RDS02 that morning: RDS02 is a session host.
            events.push(logged(
                &provider,
                accept.ids[0],
                "RDS02.contoso.com",
                600,
                &[(&accept.address, "10.0.0.9:50000")],
            ));
        }
        events.push(broken_key(computer));
        let causes = causes_of(&rules, &events);
        let certificate = causes.iter().any(|(c, _)| c == "certificate");
        assert_eq!(certificate, counts, "{computer}: {causes:?}");
    }
    // Nor does that host's registry: TLS 1.0 turned off on RDS02 is RDS02's.
    let mut events = client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 3)]);
    events.push(rds01_accept(&rules, "10.0.0.7:50000"));
    events.push(logged(
        &provider,
        accept.ids[0],
        "RDS02.contoso.com",
        600,
        &[(&accept.address, "10.0.0.9:50000")],
    ));
    let mut rds02_setting = schannel_server("TLS 1.2", "0");
    if let EventKind::Registry(r) = &mut rds02_setting.kind {
        r.computer = "RDS02".into();
    }
    let with = |setting: crate::model::Event| {
        let mut events = events.clone();
        events.push(setting);
        causes_of(&rules, &events)
            .into_iter()
            .any(|(c, rules)| c == "tls" && rules.iter().any(|r| r.starts_with("cfg-")))
    };
    assert!(
        with(schannel_server("TLS 1.2", "0")),
        "RDS01's own setting counts"
    );
    assert!(!with(rds02_setting), "RDS02's setting is RDS02's");
}

/// The gateway ending a tunnel at its policy's session timeout (307) at the 0x904 is the
/// cause, strong, when it is the 0x904's tunnel. Another user's tunnel to the same server,
/// opened two hours before this connection began, timing out at that moment is not.
#[test]
fn the_gateways_session_timeout_at_the_0x904_is_the_gateway() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let gateway = provider_labelled(&rules, "Gateway");
    for (user, lasted, counts) in [
        (r"CONTOSO\alice", "28800", true),
        (r"CONTOSO\bob", "36000", false),
    ] {
        let mut events = client_connection(
            &rules,
            "{A}",
            3600,
            &[(1025, "", 1), (1027, "CONTOSO", 2), (1026, "2308", 28_801)],
        );
        events.push(logged(
            &gateway,
            302,
            "GW01.contoso.com",
            3601,
            &[
                (r"Username", r"CONTOSO\alice"),
                ("Resource", "RDS01.contoso.com"),
            ],
        ));
        events.push(logged(
            &gateway,
            307,
            "GW01.contoso.com",
            3600 + 28_800,
            &[
                ("Username", user),
                ("Resource", "RDS01.contoso.com"),
                ("SessionDuration", lasted),
            ],
        ));
        let causes = ranked(&rules, &events);
        let gateway_cause = causes.iter().find(|c| c.cause.as_str() == "gateway");
        let timeout = gateway_cause
            .is_some_and(|c| c.findings.iter().any(|f| f.rule == "gw-session-timeout"));
        assert_eq!(timeout, counts, "{user}: {causes:?}");
        if counts {
            assert_eq!(causes[0].cause.as_str(), "gateway", "{causes:?}");
            assert_eq!(causes[0].confidence.as_str(), "high", "{causes:?}");
        }
    }
}

/// A certificate alert the client's own Schannel logged during the established session the
/// 0x904 ended is another TLS connection's (a browser's): that session's handshake was done.
/// Logged while the connection was still in its handshake, it counts.
#[test]
fn a_clients_tls_alert_during_its_established_session_is_anothers() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    for (connected, want) in [(true, "context"), (false, "medium")] {
        let mut steps = vec![(1025, "", 1)];
        if connected {
            steps.push((1027, "CONTOSO", 2));
        }
        steps.push((1026, "2308", 900));
        let mut events = client_connection(&rules, "{A}", 3600, &steps);
        events.push(logged(
            "Schannel",
            36887,
            "WS01.contoso.com",
            3600 + 886,
            &[("AlertDesc", "46")],
        ));
        let causes = ranked(&rules, &events);
        let certificate = causes
            .iter()
            .find(|c| c.cause.as_str() == "certificate")
            .map(|c| c.confidence.as_str());
        assert_eq!(certificate, Some(want), "connected {connected}: {causes:?}");
    }
}

/// One client's connection to `server` (WS0`n`, activity `{n}`), established, its reset and
/// its 0x904 at `end` seconds in.
#[cfg(test)]
fn dropped_client(
    rules: &RuleSet,
    n: u32,
    server: &str,
    start: i64,
    end: i64,
) -> Vec<crate::model::Event> {
    let client = rules.domain().client_provider().to_string();
    let activity = format!("{{{n}}}");
    let mut events = client_connection(
        rules,
        &activity,
        start,
        &[
            (1025, "", 1),
            (1027, "CONTOSO", 2),
            (1026, "2308", end - start),
        ],
    );
    events.push(logged(
        &client,
        226,
        "WS01.contoso.com",
        end - 1,
        &[("Error Code", "0x80072746")],
    ));
    for e in &mut events {
        e.record += u64::from(n) * 100_000_000;
        if e.win().is_some_and(|w| w.event_id == 1024) {
            let (time, record) = (e.time, e.record);
            *e = crate::rules::testutil::win(&client, 1024, &[("Value", server)], time);
            e.record = record;
        }
        if let EventKind::Win(w) = &mut e.kind {
            let w = std::sync::Arc::make_mut(w);
            w.activity_id = Some(activity.clone());
            w.computer = format!("WS0{n}.contoso.com").into();
        }
    }
    events
}

/// A TermService crash on RDS01 that drops three clients at once (their 0x904s a second
/// apart, the crash nearest only one of them) explains every client's reset: network yields
/// to server-down for all of them. A fourth client dropped at the same moment from another
/// server keeps its network cause: RDS01's crash is not its server's.
#[test]
fn one_crash_explains_every_clients_reset_at_it() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    for other_server in [false, true] {
        let mut events = Vec::new();
        for n in 1..=3u32 {
            let (start, end) = (3600 + i64::from(n), 4500 + i64::from(n));
            events.extend(dropped_client(&rules, n, "RDS01.contoso.com", start, end));
        }
        if other_server {
            events.extend(dropped_client(&rules, 4, "RDS02.contoso.com", 3604, 4504));
            events.push(logged(
                "Service Control Manager",
                7036,
                "RDS02.contoso.com",
                60,
                &[("param1", "Windows Update"), ("param2", "running")],
            ));
        }
        events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        events.push(rds01_service_crash(4501));
        let causes = ranked(&rules, &events);
        if !other_server {
            let top = causes.first().map(|c| c.cause.as_str());
            assert_eq!(top, Some("server-down"), "{causes:#?}");
        }
        let network = causes.iter().find(|c| c.cause.as_str() == "network");
        let network = network.expect("the resets are network evidence");
        let yields = network
            .against
            .contains(&crate::analysis::diagnosis::Against::SymptomOf {
                of: crate::rules::Cause::ServerDown,
            });
        assert_eq!(yields, !other_server, "{causes:#?}");
    }
}

/// RDS01's 1149 for the client's address, `secs` in.
#[cfg(test)]
fn rds01_authenticated(rules: &RuleSet, address: &str, secs: i64) -> crate::model::Event {
    let domain = rules.domain();
    let authenticated = domain
        .server_events
        .iter()
        .find(|d| {
            d.role == crate::rules::domain::ServerRole::Authenticated && !d.address.is_empty()
        })
        .expect("an authentication naming the client's address");
    let provider = provider_labelled(rules, &authenticated.source);
    logged(
        &provider,
        authenticated.ids[0],
        "RDS01.contoso.com",
        secs,
        &[(&authenticated.address, address)],
    )
}

/// A connection that its server authenticated (1149) and that ended before any logon, as a
/// licensing refusal ends it, is shown in phase `authenticated`, not `security handshake`:
/// TLS and CredSSP were done. Without the 1149 it stays in the handshake; with the client's
/// own logon it is an established session.
#[test]
fn a_connection_its_server_authenticated_is_past_its_handshake() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    for (authenticated, logon, want) in [
        (true, false, "authenticated"),
        (false, false, "security handshake"),
        (true, true, "established session"),
    ] {
        let mut steps = vec![(1025, "", 1)];
        if logon {
            steps.push((1027, "CONTOSO", 3));
        }
        steps.push((1026, "2308", 4));
        let mut events = client_connection(&rules, "{A}", 3600, &steps);
        events.push(rds01_accept(&rules, "10.0.0.7:50000"));
        if authenticated {
            events.push(rds01_authenticated(&rules, "10.0.0.7", 3602));
        }
        let mut conns = super::connection::connections(&events, rules.domain());
        let servers = super::server_side::server_connections(&events, rules.domain());
        super::server_side::tie(&mut conns, &servers);
        super::server_side::phase_from_server(&mut conns, &servers);
        assert_eq!(conns.len(), 1);
        assert!(conns[0].server_side.is_some(), "tied: {conns:?}");
        assert_eq!(conns[0].phase.as_str(), want, "{authenticated} {logon}");
    }
}

/// Two 0x904s, one to RDS01 and, two hours later, one to RDS02, both servers' logs here. RDS02's
/// Remote Desktop service crashed (or it could not renew a client's license) seconds before
/// the 0x904 to RDS01: that says nothing of RDS01, and is two hours from RDS02's own 0x904, so
/// it is near no 0x904 (the crash, which its rule requires near one, is no finding at all; the
/// licensing event is placed two hours before RDS02's 0x904). The same events seconds before
/// RDS02's own 0x904 are near it.
#[test]
fn a_server_going_down_is_timed_against_its_own_connections_0x904s() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let rcm = provider_labelled(&rules, "RCM");
    for (cause, at, expect_near) in [
        ("server-down", 3600 + 2, false),
        ("server-down", 3600 + 7200 + 2, true),
        ("licensing", 3600 + 2, false),
        ("licensing", 3600 + 7200 + 2, true),
    ] {
        let mut events =
            client_connection(&rules, "{A}", 3600, &[(1025, "", 1), (1026, "2308", 3)]);
        events.extend(client_connection_to(
            &rules,
            "RDS02.contoso.com",
            "{B}",
            3600 + 7200,
            &[(1025, "", 1), (1026, "2308", 3)],
        ));
        events.push(rds01_morning_session(
            "Microsoft-Windows-TerminalServices-LocalSessionManager",
        ));
        let mut event = match cause {
            "server-down" => rds01_service_crash(at),
            _ => logged(&rcm, 1028, "RDS01.contoso.com", at, &[]),
        };
        if let EventKind::Win(w) = &mut event.kind {
            std::sync::Arc::make_mut(w).computer = "RDS02.contoso.com".into();
        }
        events.push(event);
        let causes = ranked(&rules, &events);
        let found = causes.iter().find(|c| c.cause.as_str() == cause);
        let near = found.is_some_and(|c| c.findings.iter().any(|f| f.near_anchor));
        assert_eq!(near, expect_near, "{cause} at {at}: {causes:#?}");
        let from = found
            .and_then(|c| c.findings.first())
            .and_then(|f| f.from_anchor)
            .map(|d| d.as_secs());
        // Placed against RDS02's 0x904; the crash far from it is no finding.
        let expect_from = (cause == "licensing" || expect_near).then_some(at - (3600 + 7200 + 3));
        assert_eq!(from, expect_from, "{cause} at {at}: {causes:#?}");
    }
}

/// RDS01's licensing grace period over with no licensing mode set (RCM 1069), logged two hours
/// before a 0x904 to RDS01 that was authenticated and ended before its logon: the server
/// could license no one, and licensing is the cause, next to the 0x904. Logged thirty hours
/// before, it is no longer near it.
#[test]
fn a_licensing_grace_period_over_with_no_mode_set_is_licensing() {
    let rules = load_with_builtin(&[]).expect("built-in rules");
    let rcm = provider_labelled(&rules, "RCM");
    for (before, expect_near) in [(2 * 3600, true), (30 * 3600, false)] {
        let start = 40 * 3600;
        let mut events =
            client_connection(&rules, "{A}", start, &[(1025, "", 1), (1026, "2308", 4)]);
        events.push(logged(&rcm, 1069, "RDS01.contoso.com", start - before, &[]));
        let causes = ranked(&rules, &events);
        let licensing = causes.iter().find(|c| c.cause.as_str() == "licensing");
        let licensing = licensing.unwrap_or_else(|| panic!("{causes:#?}"));
        let near = licensing.findings.iter().any(|f| f.near_anchor);
        assert_eq!(near, expect_near, "{before} s before: {causes:#?}");
        if expect_near {
            assert_eq!(causes[0].cause.as_str(), "licensing", "{causes:#?}");
            assert!(
                licensing.remediation.contains("licensing mode"),
                "{licensing:#?}"
            );
        }
    }
}
