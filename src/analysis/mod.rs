//! Analysis: from input files to an answer. Reads the inputs keeping only the events some
//! rule (or the time alignment) can use, places Procmon rows in time ([`align`]), runs the
//! rules, decodes every client disconnect ([`disconnect`]) and ranks the causes ([`rank`]).
//! Client events are grouped into connections ([`connection`]), whose phase and logon weigh the
//! causes; each server's clock is estimated against the client's and, when the estimate holds,
//! its events are placed on the client's clock before the rules run ([`clock`]).
//!
//! The answer is a typed [`Diagnosis`] ([`diagnosis`]): enums, timestamps and durations,
//! never output structs. `report/` turns it into every format; analysis does not import it.

pub mod align;
pub mod anchors;
pub mod batch;
pub mod clock;
pub mod config;
pub mod connection;
pub mod diagnosis;
pub mod disconnect;
pub mod evidence;
pub mod keep;
pub mod rank;
pub mod server_side;
pub mod shards;
#[cfg(test)]
mod tests;
mod window;

use crate::ingest::{self, Found, IngestOptions, Limits, ProcmonColumns};
use crate::model::{Event, FileAccount};
use crate::rules::template::bounded;
use crate::rules::{Domain, Evaluation, Role, RuleSet};

pub use align::AlignHints;
pub use diagnosis::{CauseScore, ClientDisconnect, Confidence, Diagnosis};

/// What a scan needs besides its inputs.
pub struct ScanOptions<'a> {
    pub threads: usize,
    pub limits: Limits,
    pub hints: AlignHints,
    pub rules: &'a RuleSet,
    /// The Procmon columns the caller shows besides those the rules read (which are always
    /// built): [`ProcmonColumns::All`] for what lists events, none for a report.
    pub shown_columns: ProcmonColumns,
}

/// Everything a scan produced: the diagnosis, and the events and evaluation behind it (the
/// timeline is drawn from these).
pub struct Scan {
    pub diagnosis: Diagnosis,
    pub events: Vec<Event>,
    pub evaluation: Evaluation,
}

/// Events the alignment, the clocks, the connections and the disconnect decoding need even
/// when no rule matches them; `domain` (the rule pack's declaration) says which.
fn needed_for_context(domain: &Domain, e: &Event) -> bool {
    // Healthy configuration counts against a cause (config.rs), so it is kept even unmatched.
    if config::is_configuration(e.source()) {
        // Of a netstat listing, the sockets on the RDP port, not its every connection.
        return !matches!(e.kind, crate::model::EventKind::Socket(_)) || domain.is_configuration(e);
    }
    if let Some(w) = e.win() {
        return domain.client_role(w).is_some_and(|r| r != Role::Milestone)
            || domain.server_event(w).is_some()
            || clock::is_gateway_pair_event(domain, e);
    }
    align::is_alignment_row(domain, e) || clock::is_procmon_pair_row(domain, e)
}

/// Read everything `found` names and analyse it. `keep_all` keeps every event (for
/// `timeline --all`); otherwise only what a rule or the alignment can use is kept.
pub fn scan(found: Vec<Found>, opts: &ScanOptions<'_>, keep_all: bool) -> Scan {
    scan_within(found, opts, keep_all, None)
}

/// [`scan`], analysing only the events `within` holds once they are placed in time
/// (`--from`/`--to`); `None` holds every event, and costs no pass over them (tens of
/// thousands in a flood's log, on one thread).
pub fn scan_within(
    found: Vec<Found>,
    opts: &ScanOptions<'_>,
    keep_all: bool,
    within: Option<&(dyn Fn(&Event) -> bool + Sync)>,
) -> Scan {
    let rules = opts.rules;
    let domain = rules.domain();
    // Every event read is tallied before the filter: is there any RDP evidence at all?
    let readers = ingest::effective_threads(opts.threads);
    let tally = evidence::Tally::new(readers);
    let computers = config::Computers::new(readers);
    // The rules are asked once per event, here: what they answer rides on the event to the
    // evaluation (`rules::once`), whatever is done to the event in between.
    let keep = &|e: &mut Event| {
        tally.see(domain, e);
        computers.see(domain, e);
        let wanted = rules.mark(e);
        keep_all || wanted || needed_for_context(domain, e)
    };
    let ingest_opts = IngestOptions {
        threads: opts.threads,
        limits: opts.limits,
        keep,
        keep_reads_record: rules.reads_record(),
        columns: opts.shown_columns.clone().union(rules.procmon_columns()),
    };
    let classify = |e: &Event| keep::priority(rules, e, needed_for_context(domain, e));
    let mut sink =
        keep::Kept::new(opts.limits.kept_events, &classify).with_byte_cap(opts.limits.kept_bytes);
    ingest::ingest_found(found, &ingest_opts, &mut sink);
    let mut sink = sink.finish();
    let mut events = std::mem::take(&mut sink.events);
    // A Procmon CSV exported from a PML read beside it (filtered, so it starts elsewhere):
    // its rows are the PML's events, counted once.
    let twins = ingest::pml::dedup::drop_rows_of_pmls(&mut events, &mut sink.accounts);
    // The steps after reading run on the run's pool: each step's pass over the events is
    // shared out ([`positions`]), and steps that do not read each other run side by side.
    let (diagnosis, evaluation) = on_run_pool(opts.threads, || {
        config::prepare(&mut events, &mut sink.accounts, computers);
        let alignment = align::align(&mut events, opts.hints, domain);
        let conns = connection::connections(&events, domain);
        let skews = clock::estimate(&events, &conns, domain);
        clock::apply(&mut events, &skews);
        // The server's side of each connection, on the client's clock (after
        // `clock::apply`), beside the rules' evaluation: neither reads the other.
        let (mut conns, servers, evaluation) = match within {
            None => {
                let (servers, evaluation) = both(
                    || server_side::server_connections(&events, domain),
                    || rules.evaluate(&events),
                );
                (conns, servers, evaluation)
            }
            // --from/--to: on times as placed (aligned, clock-corrected). Connections are
            // grouped over every event, so one that began before the window and ended in it
            // keeps its start, server, user and phase; then the events outside it are left
            // out, and with them the connections that ended outside it.
            Some(within) => {
                let servers = server_side::server_connections(&events, domain);
                let (conns, servers) = window::keep(&mut events, within, conns, servers);
                let evaluation = rules.evaluate(&events);
                (conns, servers, evaluation)
            }
        };
        server_side::tie(&mut conns, &servers);
        server_side::tie_unknown_names(&mut conns, &servers, &events);
        server_side::phase_from_server(&mut conns, &servers);
        let server_logs = connection::server_logs(&events, &conns, domain);
        let (mut causes, mut disconnects) = both(
            || rank::rank(rules, &evaluation, &events, &conns, &servers, server_logs),
            || disconnects(rules, &events, &conns, &servers),
        );
        rank::weigh_unread(&mut causes, &sink.accounts);
        near_causes(&mut disconnects, &causes);
        let mut seen = tally.seen_without(domain, &twins);
        seen.server_logs = server_logs;
        let anchors = disconnects.iter().filter(|d| d.is_0x904).count();
        let evidence = evidence::assess(domain, &seen, &sink.accounts, &causes, anchors);
        let anchor_events: std::collections::BTreeSet<usize> =
            evaluation.anchors.iter().map(|a| a.event).collect();
        let verdict = evidence::verdict(
            &evidence,
            verdict(&disconnects, &anchor_events, &causes, &sink.accounts),
        );
        let diagnosis = Diagnosis {
            verdict,
            inputs: std::mem::take(&mut sink.accounts),
            alignment,
            disconnects,
            clocks: skews,
            causes,
            evidence,
        };
        (diagnosis, evaluation)
    });
    Scan {
        diagnosis,
        events,
        evaluation,
    }
}

/// Run `f` on the run's pool of `threads`, so --threads 1 means one thread there too; a scan
/// already running on a pool (a batch ticket) stays on it. Without a pool (the OS refused
/// threads; ingest said so) it runs here.
fn on_run_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    match ingest::pool(threads) {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

/// `a` and `b`, side by side on the current pool (one after the other on a pool of one
/// thread, or off any pool).
fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    if rayon::current_thread_index().is_some() {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// Events per share of a parallel pass: fewer are not worth a hand-off.
const PASS_SHARE: usize = 4096;

/// The indexes of the events `pick` holds, in order. Each analysis step reads a few kinds of
/// event among all of them (tens of thousands in a flood's log); finding them is the step's
/// pass over every event, shared out on the current pool when called on one (never on rayon's
/// global pool, which would start a thread per core whatever `--threads` says).
pub(crate) fn positions(events: &[Event], pick: impl Fn(&Event) -> bool + Sync) -> Vec<usize> {
    use rayon::prelude::*;
    if rayon::current_thread_index().is_some() && events.len() > PASS_SHARE {
        events
            .par_iter()
            .enumerate()
            .with_min_len(PASS_SHARE)
            .filter(|(_, e)| pick(e))
            .map(|(i, _)| i)
            .collect()
    } else {
        events
            .iter()
            .enumerate()
            .filter(|(_, e)| pick(e))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Every client disconnect event (the domain declaration's `client disconnect`), decoded, in
/// time order, with the server from its connection's start event. Whether it is the 0x904 is
/// what the anchor rule says, the very match the ranking uses. One pass over the client's
/// starts and disconnects, oldest first: the latest start seen so far is remembered per file
/// and activity id, so a log of many disconnects costs no more than one of few.
fn disconnects(
    rules: &RuleSet,
    events: &[Event],
    conns: &[connection::Connection],
    servers: &[server_side::ServerConnection],
) -> Vec<ClientDisconnect> {
    use std::collections::HashMap;
    let domain = rules.domain();
    let mut out = Vec::new();
    // (file, activity id) -> the server name of the latest start; activity `None` = any.
    let mut last_start: HashMap<(&str, Option<&str>), &str> = HashMap::new();
    // The client's starts and disconnects oldest first, whatever order the file holds them in
    // (an export made newest first, as `wevtutil qe /rd:true` and `Get-WinEvent` write, holds
    // each disconnect before its start): by time, then record.
    let mut client_events = positions(events, |e| {
        e.win()
            .is_some_and(|w| matches!(domain.client_role(w), Some(Role::Start | Role::Disconnect)))
    });
    client_events.sort_by_key(|&i| (events[i].time, events[i].record));
    let by_end = connection::by_end(conns);
    for i in client_events {
        let e = &events[i];
        let Some(w) = e.win() else { continue };
        match domain.client_role(w) {
            Some(Role::Start) => {
                if let Some(server) = w.data.get(&domain.start.data) {
                    last_start.insert((&e.file, w.activity_id.as_deref()), server);
                    last_start.insert((&e.file, None), server);
                }
                continue;
            }
            Some(Role::Disconnect) => {}
            _ => continue,
        }
        let Some(d) = w
            .data
            .get(&domain.disconnect.data)
            .and_then(disconnect::decode_text)
        else {
            continue;
        };
        // The connection's start (its server name): same file, same activity id, before it;
        // or its connection's, whose start `--from` left out.
        let conn = by_end.get(&i).copied();
        let server = last_start
            .get(&(&*e.file, w.activity_id.as_deref()))
            .map(|s| bounded(s))
            .or_else(|| conn.and_then(|c| c.server.clone()));
        out.push(ClientDisconnect {
            phase: conn.map(|c| c.phase),
            connection_start: conn.and_then(|c| c.start),
            lived: conn.and_then(connection::Connection::lived),
            logon: conn.and_then(|c| c.logon),
            server_side: conn
                .and_then(|c| c.server_side)
                .and_then(|s| servers.get(s))
                .cloned(),
            file: e.file.to_string(),
            record: e.record,
            time: e.time,
            computer: bounded(&w.computer),
            server,
            is_0x904: rules.is_anchor(e),
            decoded: d,
            activity_id: w.activity_id.as_deref().map(bounded),
            event: i,
            near_causes: Vec::new(),
        });
    }
    // Ordered as the report prints them: by the time's text (RFC 3339), file and record.
    out.sort_by_cached_key(|d| (d.time.map(|t| t.to_string()), d.file.clone(), d.record));
    out
}

/// Which causes each 0x904 has near it, in the causes' (final) order.
fn near_causes(disconnects: &mut [ClientDisconnect], causes: &[CauseScore]) {
    for d in disconnects.iter_mut().filter(|d| d.is_0x904) {
        d.near_causes = causes
            .iter()
            .filter(|c| c.confidence != Confidence::Context && c.logged_near.contains(&d.event))
            .map(|c| c.cause)
            .collect();
    }
}

/// The disconnects of a ticket with no 0x904, in a clause: the errors first (each code once,
/// in the order first seen, at most three named), then how many ended normally. A ticket
/// whose first disconnect was the user closing the window, and a later one a failed
/// connection, is about the failure.
fn other_disconnects(disconnects: &[ClientDisconnect]) -> String {
    const NAMED: usize = 3;
    let Some((first, later)) = disconnects.split_first() else {
        return "no RDP client disconnect events at all".into();
    };
    let mut errors: Vec<&ClientDisconnect> = Vec::new();
    for d in disconnects.iter().filter(|d| d.decoded.error) {
        if !errors.iter().any(|e| e.decoded.code == d.decoded.code) {
            errors.push(d);
        }
    }
    // With no error the first disconnect is named: the rest are the others.
    let rest = if errors.is_empty() {
        later
    } else {
        disconnects
    };
    let mut normal: Vec<&str> = Vec::new();
    let mut others: usize = 0;
    for d in rest.iter().filter(|d| !d.decoded.error) {
        others += 1;
        if !normal.contains(&d.decoded.hex.as_str()) {
            normal.push(&d.decoded.hex);
        }
    }
    let mut text = if errors.is_empty() {
        format!(
            "the client disconnected with {} ({})",
            first.decoded.hex, first.decoded.meaning
        )
    } else {
        let named: Vec<String> = errors
            .iter()
            .take(NAMED)
            .map(|d| format!("{} ({})", d.decoded.hex, d.decoded.meaning))
            .collect();
        let more = errors.len().saturating_sub(NAMED);
        let mut t = format!(
            "the client's connection failed with {}",
            crate::units::and_list(&named)
        );
        if more > 0 {
            let more = crate::units::count(more as u64, "more error code", "more error codes");
            t.push_str(&format!(" and {more}"));
        }
        t
    };
    if others > 0 {
        let (one, many) = if errors.is_empty() {
            ("more disconnect", "more disconnects")
        } else {
            ("other disconnect", "other disconnects")
        };
        text.push_str(&format!(
            "; {} ended normally ({})",
            crate::units::count(others as u64, one, many),
            crate::units::and_list(&normal)
        ));
    }
    text
}

/// When the best cause is near only some of several 0x904s and another cause of medium
/// confidence or better is near some of the rest, the verdict says so: two failures in one
/// ticket (a certificate at one server, another server going down) are not one answer.
/// Said only then: a cause near some 0x904s may still explain the rest by a lasting state.
fn split(
    anchor_events: &std::collections::BTreeSet<usize>,
    top: &CauseScore,
    causes: &[CauseScore],
) -> Option<String> {
    if anchor_events.len() < 2 || top.near_anchors.is_empty() {
        return None;
    }
    let rest: std::collections::BTreeSet<usize> = anchor_events
        .difference(&top.near_anchors)
        .copied()
        .collect();
    let other = causes
        .iter()
        .filter(|c| c.cause != top.cause && c.confidence <= Confidence::Medium)
        .find(|c| !c.near_anchors.is_disjoint(&rest))?;
    let (near, all) = (anchor_events.len() - rest.len(), anchor_events.len());
    let covered = other.near_anchors.intersection(&rest).count();
    let at = if covered == rest.len() && covered == 1 {
        "at the other one".to_string()
    } else if covered == rest.len() {
        format!("at the other {covered}")
    } else {
        format!("at {covered} of the other {}", rest.len())
    };
    Some(format!(
        " at {near} of {all} 0x904s; {at}: {} ({} confidence)",
        other.cause,
        other.confidence.as_str()
    ))
}

fn verdict(
    disconnects: &[ClientDisconnect],
    anchor_events: &std::collections::BTreeSet<usize>,
    causes: &[CauseScore],
    inputs: &[FileAccount],
) -> String {
    let anchors = disconnects.iter().filter(|d| d.is_0x904).count();
    let top = causes.iter().find(|c| c.confidence != Confidence::Context);
    let mut text = if anchors > 0 {
        format!(
            "{anchors} 0x904 (socket closed) disconnect{} found",
            if anchors == 1 { "" } else { "s" }
        )
    } else if !disconnects.is_empty() {
        format!(
            "No 0x904 disconnect was found in these logs; {}",
            other_disconnects(disconnects)
        )
    } else {
        "No 0x904 disconnect was found in these logs (no RDP client disconnect events at all)"
            .to_string()
    };
    match top {
        // No 0x904 to explain: the evidence points somewhere, it explains nothing.
        Some(c) if anchors == 0 => text.push_str(&format!(
            "; with no 0x904 to explain, the strongest evidence is for {} ({} confidence)",
            c.cause,
            c.confidence.as_str()
        )),
        Some(c) => {
            text.push_str(&format!(
                "; most likely cause: {} ({} confidence)",
                c.cause,
                c.confidence.as_str()
            ));
            text.push_str(&split(anchor_events, c, causes).unwrap_or_default());
        }
        None => text.push_str("; no cause above background noise"),
    }
    let unread = inputs
        .iter()
        .filter(|a| {
            matches!(
                a.status,
                crate::model::FileStatus::Failed | crate::model::FileStatus::Partial
            )
        })
        .count();
    if unread > 0 {
        text.push_str(&format!(
            "; {unread} input file{} could not be read fully",
            if unread == 1 { "" } else { "s" }
        ));
    }
    text
}
