//! Cause ranking: findings grouped by cause and scored from strength, count, agreement between
//! EVTX and Procmon, and time proximity to the 0x904 anchor.
//!
//! Proximity is the rule's to ask for (`anchor: prefer|require`): such evidence is about the
//! moment of the failure, so it counts fully (and double) only near an anchor, and drops two
//! strength levels when it is not near one or there is no anchor at all (docs/domain.md §3.2: a
//! Schannel flood with no anchor near it is context, not proof). Evidence of a lasting state
//! (a certificate that cannot be renewed) has no window and keeps its strength. Folklore
//! causes are written as weak or context in the pack and can never rank above what is
//! documented.
//!
//! Each cause also carries what weighs against it ([`Against`]): a better-ranked cause,
//! evidence demoted by distance or by a later logon, no 0x904 at all, a lone weak rule,
//! configuration alone or healthy configuration, inputs not read fully.

mod against;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::anchors::{AnchorConnections, Disproof};
use super::connection::{Connection, Phase, ServerLogs};
use super::diagnosis::{Against, CauseScore, ScoredFinding};
use super::server_side::ServerConnection;
use crate::model::{Event, EventKind, Source};
use crate::rules::{
    AnchorMode, AnchorWindow, Cause, Evaluation, Finding, LASTING_WINDOW, Proximity, RuleKind,
    RuleSet, Side, Strength,
};
use against::against;
pub use against::weigh_unread;

/// Confidence labels, strongest first (the order `--fail-on` compares by). A domain idea:
/// ranking decides it ([`confidence`]); output formats only spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    High,
    Medium,
    Low,
    Context,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
            Confidence::Context => "context",
        }
    }

    pub fn parse(text: &str) -> Option<Confidence> {
        [
            Confidence::High,
            Confidence::Medium,
            Confidence::Low,
            Confidence::Context,
        ]
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// What a cause's evidence amounts to, before configuration adjusts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Support {
    /// The best effective strength among its findings.
    pub best: Strength,
    /// Some finding lies next to a 0x904.
    pub near: bool,
    /// How many distinct rules found it.
    pub rules: usize,
    /// Findings come from more than one kind of source (EVTX and Procmon agree).
    pub sources_agree: bool,
}

/// Strength × nearness × agreement → confidence: strong evidence is high when it is next to
/// a 0x904 or corroborated (a second rule, a second kind of source), medium alone; moderate
/// evidence is medium when near or backed by a second rule, low otherwise; weak is low;
/// context stays context.
pub fn confidence(s: Support) -> Confidence {
    match s.best {
        Strength::Strong if s.near || s.rules >= 2 || s.sources_agree => Confidence::High,
        Strength::Strong => Confidence::Medium,
        Strength::Moderate if s.near || s.rules >= 2 => Confidence::Medium,
        Strength::Moderate => Confidence::Low,
        Strength::Weak => Confidence::Low,
        Strength::Context => Confidence::Context,
    }
}

/// How many findings a cause lists; the rest are counted.
pub const MAX_FINDINGS_LISTED: usize = 5;

fn weight(s: Strength) -> f64 {
    match s {
        Strength::Strong => 10.0,
        Strength::Moderate => 4.0,
        Strength::Weak => 1.5,
        Strength::Context => 0.3,
    }
}

fn demote_twice(s: Strength) -> Strength {
    match s {
        Strength::Strong => Strength::Weak,
        _ => Strength::Context,
    }
}

/// One finding with what ranking decided about it.
///
/// What the cause's summary reads of its finding is copied here, so that a flood's tens of
/// thousands of findings are summed and sorted from one compact list without going back to
/// each finding (and its first event) at every pass.
struct Scored<'a> {
    finding: &'a Finding,
    /// The finding's rule (index in the rule set), its number of events, and how many findings
    /// it stands for (one per event when it repeats: [`Finding::repeats`]).
    rule: usize,
    count: u64,
    findings: u64,
    /// Where its first event comes from.
    source: Option<Source>,
    /// Where it is listed among its cause's findings ([`order_key`]).
    order: u64,
    strength: Strength,
    effective: Strength,
    near: bool,
    /// Where it stands from the 0x904s: the finding's own place, or its place among its own
    /// server's 0x904s ([`AnchorConnections::placed_on_own_server`]).
    proximity: Option<Proximity>,
    weight: f64,
    /// Logged before the logon of the 0x904's own connection to that server, or during the
    /// established session it ended.
    disproved: Option<Disproof>,
    /// Events of other values of the same registry key that the same rule matched, folded
    /// into this finding ([`fold_key_values`]).
    folded: u64,
}

/// Causes a completed TLS handshake rules out for what came before it.
fn handshake_cause(c: Cause) -> bool {
    matches!(c, Cause::Certificate | Cause::Tls | Cause::ServerRefused)
}

/// Causes that end an established session.
fn session_cause(c: Cause) -> bool {
    matches!(
        c,
        Cause::Network | Cause::Gateway | Cause::Firewall | Cause::ServerDown
    )
}

/// Causes that end a connection in its handshake (those a completed handshake rules out,
/// and the server going down, which ends a connection whatever its phase).
fn handshake_phase_cause(c: Cause) -> bool {
    handshake_cause(c) || matches!(c, Cause::ServerDown | Cause::ServerResources)
}

/// Causes that end a connection after its user was authenticated and before its logon: the
/// server's licensing, the session it could not create, the server going down.
fn authenticated_phase_cause(c: Cause) -> bool {
    matches!(
        c,
        Cause::Licensing | Cause::ServerResources | Cause::ServerDown
    )
}

/// Causes that are something the server does: evidence of them logged on another computer
/// than the 0x904's server (its own client's listener or services, another server) says
/// nothing about it. (A Procmon row names no computer: it is not judged by this.)
fn server_cause(c: Cause) -> bool {
    matches!(
        c,
        Cause::ServerRefused | Cause::ServerDown | Cause::Licensing | Cause::ServerResources
    )
}

/// Causes a session host has its own of (its certificate, its TLS settings): evidence of
/// them from another session host says nothing about the 0x904's server
/// ([`AnchorConnections::on_another_session_host`]). Logged on the client, it is the
/// client's side of the handshake, and counts.
fn host_cause(c: Cause) -> bool {
    matches!(c, Cause::Certificate | Cause::Tls)
}

fn score_finding<'a>(
    rules: &RuleSet,
    f: &'a Finding,
    events: &[Event],
    anchors: &AnchorConnections<'_>,
) -> Option<(Cause, Scored<'a>)> {
    let rule = rules.rules().get(f.rule)?;
    let RuleKind::Cause { cause, strength } = rule.kind() else {
        return None;
    };
    if anchors.other_connection(f, events, rules.domain())
        || (server_cause(cause) && anchors.off_their_servers(f, events))
        || (host_cause(cause) && anchors.on_another_session_host(f, events))
    {
        return None;
    }
    let wants_anchor = rule.anchor_window().is_some();
    // The server's own doing is timed against the 0x904s of connections to that server, not
    // the nearest 0x904 to any (two servers' 0x904s in one ticket): re-placed there, a
    // finding its rule requires near a 0x904 and that is near none of them counts for none.
    let window = rule.anchor_window().unwrap_or(LASTING_WINDOW);
    let replaced = server_cause(cause)
        .then(|| anchors.placed_on_own_server(f, events, window))
        .flatten();
    if replaced.is_some_and(|p| !p.near) && window.mode == AnchorMode::Require {
        return None;
    }
    let proximity = replaced.or(f.proximity);
    let disproved = if handshake_cause(cause) {
        anchors.disproves(f, proximity, events, wants_anchor)
    } else {
        None
    };
    let near = proximity.is_some_and(|p| p.near) && disproved.is_none();
    let effective = if disproved.is_some() {
        Strength::Context
    } else if wants_anchor && !near {
        demote_twice(strength)
    } else {
        strength
    };
    let mut factor = if wants_anchor && near { 2.0 } else { 1.0 };
    // A lasting state's nearness says it was logged at a 0x904 (for its confidence); only a
    // time-bound rule's weight grows with it.
    let phase = proximity
        .filter(|p| p.near && wants_anchor)
        .and_then(|p| p.anchor)
        .and_then(|a| anchors.phase_of(a));
    let favoured = match phase {
        Some(Phase::Established) => session_cause(cause),
        Some(Phase::Handshake | Phase::Transport) => handshake_phase_cause(cause),
        Some(Phase::Authenticated) => authenticated_phase_cause(cause),
        None => false,
    };
    if favoured {
        factor *= 1.5;
    }
    Some((
        cause,
        Scored {
            finding: f,
            rule: f.rule,
            count: f.count() as u64,
            findings: f.findings() as u64,
            source: f
                .events
                .first()
                .and_then(|&i| events.get(i))
                .map(Event::source),
            order: order_key(effective, near, first_listed(f)),
            proximity,
            strength,
            effective,
            near,
            weight: weight(effective) * factor,
            disproved,
            folded: 0,
        },
    ))
}

/// Best evidence first: effective strength, then nearness (near first), then the first
/// event's index (none first), as one number: a flood's tens of thousands of findings are
/// sorted by it without reading each finding's events again at every comparison.
fn order_key(effective: Strength, near: bool, first: Option<usize>) -> u64 {
    const INDEX: u64 = (1 << 61) - 1;
    let index = first.map_or(0, |i| (i as u64).saturating_add(1).min(INDEX));
    ((effective as u64) << 62) | (u64::from(!near) << 61) | index
}

/// The event that comes first in a cause's list: a finding's first, or, of the single
/// findings a repeated one stands for, the one listed first ([`order_key`] orders by index).
fn first_listed(f: &Finding) -> Option<usize> {
    if f.repeats {
        f.events.iter().copied().min()
    } else {
        f.events.first().copied()
    }
}

/// Of the findings `s` stands for, the (up to) `n` listed first, best first: `(order key,
/// member)` ([`Finding::member`]).
fn listed_first(s: &Scored<'_>, n: usize) -> Vec<(u64, usize)> {
    if !s.finding.repeats {
        return vec![(s.order, 0)];
    }
    let members = &s.finding.events;
    // Every member has the same strength and nearness, so a key grows with the event's index
    // (then the member's place): members already in index order (as a flood's run is
    // gathered) are listed first as they stand, and only their order is checked.
    if members.is_sorted() {
        return members
            .iter()
            .enumerate()
            .take(n)
            .map(|(k, &i)| (order_key(s.effective, s.near, Some(i)), k))
            .collect();
    }
    // Otherwise the `n` smallest keys, kept sorted as the members go by: a run of any length
    // costs no list of its size.
    let mut best: Vec<(u64, usize)> = Vec::with_capacity(n + 1);
    for (k, &i) in members.iter().enumerate() {
        let key = (order_key(s.effective, s.near, Some(i)), k);
        if best.len() == n && best.last().is_some_and(|last| key >= *last) {
            continue;
        }
        let at = best.partition_point(|b| *b < key);
        best.insert(at, key);
        best.truncate(n);
    }
    best
}

/// The latest time among a group's events, when it is later than its first event's.
fn last_time(events: &[Event], members: &[usize], first: Option<Timestamp>) -> Option<Timestamp> {
    let last = members.iter().filter_map(|&i| events.get(i)?.time).max()?;
    (Some(last) > first).then_some(last)
}

/// The listed finding `member` of `s` ([`Finding::member`]: itself unless it repeats).
fn scored_finding(
    rules: &RuleSet,
    events: &[Event],
    s: &Scored<'_>,
    member: usize,
) -> Option<ScoredFinding> {
    let single;
    let finding = if s.finding.repeats {
        single = s.finding.member(member)?;
        &single
    } else {
        s.finding
    };
    let rule = rules.rules().get(finding.rule)?;
    let first = events.get(*finding.events.first()?)?;
    Some(ScoredFinding {
        rule: rule.id().to_string(),
        title: rule.title().to_string(),
        strength: s.strength,
        effective: s.effective,
        source: first.source(),
        file: first.file.to_string(),
        record: first.record,
        time: first.time,
        last_time: last_time(events, &finding.events, first.time),
        occurred: first
            .win()
            .and_then(|w| rules.domain().occurred_at(w))
            .filter(|&at| Some(at) != first.time),
        evidence: finding.evidence_line(rule, events),
        events: finding.count() as u64 + s.folded,
        from_anchor: s.proximity.and_then(|p| p.distance),
        near_anchor: s.near,
    })
}

/// Rank the causes in an evaluation, best first. `server_logs`: who logged the events' server
/// side ([`super::connection::server_logs`]).
pub fn rank(
    rules: &RuleSet,
    eval: &Evaluation,
    events: &[Event],
    conns: &[Connection],
    servers: &[ServerConnection],
    server_logs: ServerLogs,
) -> Vec<CauseScore> {
    let anchors = AnchorConnections::new(eval, conns, servers, events, rules.domain());
    let mut by_cause: BTreeMap<Cause, Vec<Scored<'_>>> = BTreeMap::new();
    for f in &eval.findings {
        if let Some((cause, scored)) = score_finding(rules, f, events, &anchors) {
            by_cause.entry(cause).or_default().push(scored);
        }
    }
    let anchors_exist = !eval.anchors.is_empty();
    // Network evidence that is only the client's own view of its socket (its reset, its
    // transport torn down, its Procmon disconnect row) is what the client sees when the server
    // ends the connection: goes down (§3.8), ends the session for licensing (§3.9) or runs out
    // of memory (§3.10). Retransmits and the server's side are the path's own evidence.
    let domain = rules.domain();
    let client_view_only = by_cause.get(&Cause::Network).is_some_and(|scored| {
        scored
            .iter()
            .filter(|s| s.effective != Strength::Context)
            .all(|s| {
                s.finding
                    .events
                    .first()
                    .and_then(|&i| events.get(i))
                    .is_some_and(|e| match (e.win(), e.procmon()) {
                        (Some(w), _) => domain.side_of(&w.provider) == Some(Side::Client),
                        (None, Some(p)) => {
                            p.operation == domain.procmon_disconnect
                                && domain.is_client_process(&p.process)
                        }
                        (None, None) => false,
                    })
            })
    });
    // ... and it is only when the server ended it at the same 0x904s: every 0x904 the
    // network findings are about (their own connection's, or the nearest) has the server's
    // cause next to it (within its rule's window), logged on its own server. One user's drop
    // is not explained by another's server going down; every client one crash dropped is.
    let ended: Vec<Cause> = if client_view_only {
        SERVER_ENDINGS
            .into_iter()
            .filter(|&c| ended_at_each(rules, eval, events, &anchors, &by_cause, c))
            .collect()
    } else {
        Vec::new()
    };
    let mut causes: Vec<CauseScore> = by_cause
        .into_iter()
        .map(|(cause, scored)| {
            let mut scored = fold_key_values(scored, events);
            cause_score(rules, events, cause, &mut scored, anchors_exist)
        })
        .collect();
    symptoms_of_server_ending(&mut causes, &ended);
    // Without any of the session host's logs, nothing says whether the server ended what the
    // client saw close: the client's view alone is not certain (docs/domain.md §3.4); the
    // client computer's own Remote Desktop service log is no session host's.
    if client_view_only && server_logs.session_host == 0 {
        for c in causes
            .iter_mut()
            .filter(|c| c.cause == Cause::Network && c.confidence == Confidence::High)
        {
            c.confidence = Confidence::Medium;
            c.why.push_str("; only the client's view of its socket closing, and no log of the session host is here to tell whether the server ended the connection");
            c.against.push(Against::ServerUnseen);
        }
    }
    causes.sort_by(|a, b| {
        a.confidence
            .cmp(&b.confidence)
            .then(b.score.total_cmp(&a.score))
            .then(a.cause.as_str().cmp(b.cause.as_str()))
    });
    outranked(&mut causes);
    causes
}

/// The server's causes that end a connection under the client, whose client-side view is its
/// socket closing.
const SERVER_ENDINGS: [Cause; 3] = [Cause::ServerDown, Cause::ServerResources, Cause::Licensing];

/// Whether the non-context evidence of server cause `ending` in `by_cause` lies next to every
/// 0x904 the network evidence is near: placed within its rule's window of that 0x904 (not only
/// of the 0x904 nearest it: one crash drops every client at once) and logged on that 0x904's
/// connection's server. Such evidence placed at no 0x904 (there is none with a time)
/// explains any; network evidence near none is explained only by such.
fn ended_at_each(
    rules: &RuleSet,
    eval: &Evaluation,
    events: &[Event],
    anchors: &AnchorConnections<'_>,
    by_cause: &BTreeMap<Cause, Vec<Scored<'_>>>,
    ending: Cause,
) -> bool {
    let counted = |cause: Cause| {
        by_cause
            .get(&cause)
            .into_iter()
            .flatten()
            .filter(|s| s.effective != Strength::Context)
    };
    let anchor_time: HashMap<usize, Timestamp> = eval
        .anchors
        .iter()
        .filter_map(|a| Some((a.event, a.time?)))
        .collect();
    let mut unplaced = false;
    // Each of its findings' placed time, its rule's window and the finding itself.
    let mut downs: Vec<(Timestamp, AnchorWindow, &Finding)> = Vec::new();
    if counted(ending).next().is_none() {
        return false;
    }
    for s in counted(ending) {
        let placed = s.finding.proximity.and_then(|p| {
            let at = anchor_time.get(&p.anchor?)?;
            at.checked_add(p.distance?).ok()
        });
        let Some(at) = placed else {
            unplaced = true;
            continue;
        };
        let window = rules
            .rules()
            .get(s.rule)
            .and_then(|r| r.anchor_window())
            .unwrap_or(LASTING_WINDOW);
        downs.push((at, window, s.finding));
    }
    if unplaced {
        return true;
    }
    // A client event's 0x904 is its own connection's (its activity id's), whichever 0x904
    // it lies nearest: several clients dropped at once log their resets among each other's.
    let own = anchors.by_activity();
    let network: BTreeSet<Option<usize>> = counted(Cause::Network)
        .map(|s| {
            let e = s.finding.events.first().and_then(|&i| events.get(i));
            let key = e.and_then(|e| {
                let activity = e.win()?.activity_id.as_deref()?.to_ascii_lowercase();
                Some((&*e.file, activity))
            });
            match key.and_then(|k| own.get(&k)) {
                Some(&anchor) => Some(anchor),
                None => s.finding.proximity.and_then(|p| p.anchor),
            }
        })
        .collect();
    network.into_iter().all(|anchor| {
        let Some((anchor, ta)) = anchor.and_then(|a| Some((a, *anchor_time.get(&a)?))) else {
            return false;
        };
        downs.iter().any(|&(at, w, f)| {
            w.holds(at.duration_since(ta)) && anchors.on_server_of(anchor, f, events)
        })
    })
}

/// The server ending the connection (going down, out of memory, licensing), found on the
/// connection's own server at medium confidence or better at the same 0x904s (`ended`, the
/// caller checks), explains a network cause whose evidence is only the client's view of its
/// socket: "the reset is the symptom, the server going down the cause" (docs/domain.md §3.8).
/// The network cause ranks one confidence level below the best of them, and says why.
fn symptoms_of_server_ending(causes: &mut [CauseScore], ended: &[Cause]) {
    let Some((of, down)) = causes
        .iter()
        .filter(|c| ended.contains(&c.cause))
        .map(|c| (c.cause, c.confidence))
        .filter(|&(_, c)| c <= Confidence::Medium)
        .min_by_key(|&(cause, c)| (c, SERVER_ENDINGS.iter().position(|&e| e == cause)))
    else {
        return;
    };
    let what = match of {
        Cause::ServerResources => "the server ran out of memory at the 0x904",
        Cause::Licensing => "the server ended the session for licensing at the 0x904",
        _ => "the server went down at the 0x904",
    };
    for c in causes.iter_mut().filter(|c| c.cause == Cause::Network) {
        if c.confidence <= down {
            c.confidence = match down {
                Confidence::High => Confidence::Medium,
                _ => Confidence::Low,
            };
            c.why.push_str(&format!(
                "; {what} ({of}): the client's evidence is what it saw of that, its socket closing"
            ));
            c.against.push(Against::SymptomOf { of });
        }
    }
}

/// A configuration rule that matches several values of one registry key (TLS 1.2's
/// `Enabled` = 0 and `DisabledByDefault` = 1 under one `Server` key) reads one setting: one
/// finding, the first value's, its events counting all of them. Each value a finding of its
/// own gave the setting a repetition bonus and one more finding to the count.
fn fold_key_values<'a>(scored: Vec<Scored<'a>>, events: &[Event]) -> Vec<Scored<'a>> {
    let key_of = |s: &Scored<'_>| {
        let first = events.get(*s.finding.events.first()?)?;
        match &first.kind {
            EventKind::Registry(r) => {
                Some((s.rule, r.computer.clone(), r.key.to_ascii_lowercase()))
            }
            _ => None,
        }
    };
    let mut out: Vec<Scored<'a>> = Vec::with_capacity(scored.len());
    let mut at: std::collections::HashMap<(usize, String, String), usize> =
        std::collections::HashMap::new();
    for s in scored {
        let key = key_of(&s);
        match key.as_ref().and_then(|k| at.get(k)) {
            Some(&j) => {
                out[j].folded += s.count;
                out[j].count += s.count;
            }
            None => {
                if let Some(k) = key {
                    at.insert(k, out.len());
                }
                out.push(s);
            }
        }
    }
    out
}

/// The best cause weighs against every other one (first in their lists).
fn outranked(causes: &mut [CauseScore]) {
    if let Some((by, confidence)) = causes.first().map(|c| (c.cause, c.confidence)) {
        for c in causes.iter_mut().skip(1) {
            c.against.insert(0, Against::Outranked { by, confidence });
        }
    }
}

fn cause_score(
    rules: &RuleSet,
    events: &[Event],
    cause: Cause,
    scored: &mut [Scored<'_>],
    anchors_exist: bool,
) -> CauseScore {
    // Best evidence first: effective strength, then nearness, then time order (stable).
    scored.sort_by_key(|s| s.order);
    // Per rule: its best finding's weight, with a small bonus for repetition.
    let mut per_rule: BTreeMap<usize, (f64, u64)> = BTreeMap::new();
    for s in scored.iter() {
        let entry = per_rule.entry(s.rule).or_insert((0.0, 0));
        entry.0 = entry.0.max(s.weight);
        // One setting's several values are no repetition.
        entry.1 += s.count - s.folded;
    }
    let mut score: f64 = per_rule
        .values()
        .map(|(w, n)| w * (1.0 + 0.25 * (*n as f64).log2()).min(3.0))
        .sum();
    // The sources the findings' first events come from: a few kinds, noted per finding as a
    // flag (a flood has tens of thousands of findings), then listed in order. Background
    // (context once placed) agrees with nothing: an alert far from every 0x904 does not
    // corroborate a setting, nor the setting it.
    let mut from = [false; Source::ALL.len()];
    for source in scored
        .iter()
        .filter(|s| s.effective != Strength::Context)
        .filter_map(|s| s.source)
    {
        if let Some(k) = Source::ALL.iter().position(|&s| s == source) {
            from[k] = true;
        }
    }
    let present = || {
        Source::ALL
            .into_iter()
            .zip(from)
            .filter_map(|(s, seen)| seen.then_some(s))
    };
    let sources: std::collections::BTreeSet<&str> = present().map(Source::as_str).collect();
    let agree = sources.len() > 1;
    if agree {
        score *= 1.25;
    }
    let best = scored
        .first()
        .map(|s| s.effective)
        .unwrap_or(Strength::Context);
    let any_near = scored.iter().any(|s| s.near);
    let rules_agreeing = per_rule.len();
    let confidence = confidence(Support {
        best,
        near: any_near,
        rules: rules_agreeing,
        sources_agree: agree,
    });
    // Configuration corroborates, is capped, or counts against (analysis/config.rs).
    let mut finding_sources: std::collections::BTreeSet<Source> = present().collect();
    // A setting has no time: its rule's strength is all it has, and one that only says what
    // a client must meet (context: an older TLS version turned off) still explains event
    // evidence at a 0x904 (a handshake refused on its version): it corroborates it.
    finding_sources.extend(
        scored
            .iter()
            .filter_map(|s| s.source)
            .filter(|&source| super::config::is_configuration(source)),
    );
    let event_near = scored.iter().any(|s| {
        s.near
            && s.source
                .is_some_and(|source| !super::config::is_configuration(source))
    });
    // The healthy settings that answer every finding (context ones, background, only when
    // there is nothing else): a setting one of them does not name says nothing about it.
    let weighs = scored.iter().any(|s| s.effective != Strength::Context);
    let answering = super::config::answering(
        scored
            .iter()
            .filter(|s| !weighs || s.effective != Strength::Context)
            .map(|s| rules.rules().get(s.rule).map_or(&[][..], |r| r.healthy())),
    );
    let adjusted = super::config::adjust(
        &answering,
        confidence,
        &finding_sources,
        event_near,
        events,
        rules.domain(),
    );
    let confidence = adjusted.confidence;
    score *= adjusted.score_factor;
    let total_events: u64 = scored.iter().map(|s| s.count).sum();
    let total_findings: u64 = scored.iter().map(|s| s.findings).sum();
    let mut why = why_text(
        scored,
        best,
        any_near,
        rules_agreeing,
        total_events,
        agree.then(|| super::config::agreement(&sources)),
        anchors_exist,
    );
    if let Some(note) = adjusted.note {
        why.push_str("; ");
        why.push_str(&note);
    }
    // List the best finding of each rule first, so five lines show five kinds of evidence
    // rather than five copies of the commonest one; then the rest, best first. A repeated
    // finding's events are listed as the single findings they stand for.
    let mut listed: Vec<(&Scored<'_>, usize)> = Vec::with_capacity(MAX_FINDINGS_LISTED);
    let mut seen_rules = std::collections::BTreeSet::new();
    for s in scored.iter() {
        if listed.len() < MAX_FINDINGS_LISTED && seen_rules.insert(s.rule) {
            let best = listed_first(s, 1).first().map_or(0, |&(_, k)| k);
            listed.push((s, best));
        }
    }
    if listed.len() < MAX_FINDINGS_LISTED {
        // Ties (one event found by two rules) in rule order, as the findings are. `scored` is
        // in order of each one's best: once `room` candidates come before the next one's
        // best, nothing after it can be listed.
        let room = MAX_FINDINGS_LISTED - listed.len();
        let mut rest: Vec<(u64, usize, &Scored<'_>, usize)> = Vec::new();
        for s in scored.iter() {
            if rest.len() >= room {
                rest.sort_by_key(|&(key, rule, ..)| (key, rule));
                rest.truncate(room);
                if rest.last().is_some_and(|&(key, ..)| key < s.order) {
                    break;
                }
            }
            let unlisted = |k: usize| !listed.iter().any(|(l, m)| std::ptr::eq(*l, s) && *m == k);
            if !s.finding.repeats {
                if unlisted(0) {
                    rest.push((s.order, s.rule, s, 0));
                }
                continue;
            }
            for (key, k) in listed_first(s, MAX_FINDINGS_LISTED + 1) {
                if unlisted(k) {
                    rest.push((key, s.rule, s, k));
                }
            }
        }
        rest.sort_by_key(|&(key, rule, ..)| (key, rule));
        listed.extend(rest.into_iter().take(room).map(|(_, _, s, k)| (s, k)));
    }
    let findings: Vec<ScoredFinding> = listed
        .iter()
        .filter_map(|&(s, k)| scored_finding(rules, events, s, k))
        .collect();
    let mut references: Vec<String> = Vec::new();
    // A flood is tens of thousands of findings from a few rules: each rule's references once.
    let mut rule_seen = vec![false; rules.rules().len()];
    for s in scored.iter() {
        let first_visit = rule_seen
            .get_mut(s.rule)
            .is_some_and(|seen| !std::mem::replace(seen, true));
        if !first_visit {
            continue;
        }
        if let Some(rule) = rules.rules().get(s.rule) {
            for r in rule.references() {
                if !references.contains(r) {
                    references.push(r.clone());
                }
            }
        }
    }
    // The fix: a setting found broken (moderate or better) names exactly what to change, where
    // the events only say what failed (a 36874 beside TLS 1.2 turned off on the server is
    // mended by turning it on, not by the cipher-order advice of the event's rule); otherwise
    // the best finding's rule's.
    let fix = |s: &Scored<'_>| rules.rules().get(s.rule)?.remediation();
    let remediation = scored
        .iter()
        .filter(|s| {
            s.source.is_some_and(super::config::is_configuration)
                && s.effective <= Strength::Moderate
        })
        .find_map(fix)
        .or_else(|| scored.iter().find_map(fix))
        .unwrap_or("")
        .to_string();
    let against = against(
        scored,
        rules_agreeing,
        &finding_sources,
        adjusted.healthy,
        anchors_exist,
    );
    let near = || {
        scored
            .iter()
            .filter(|s| s.near && s.effective != Strength::Context)
    };
    let near_anchors = near()
        .filter(|s| {
            rules
                .rules()
                .get(s.rule)
                .is_some_and(|r| r.anchor_window().is_some())
        })
        .filter_map(|s| s.proximity?.anchor)
        .collect();
    let logged_near = near().filter_map(|s| s.proximity?.anchor).collect();
    CauseScore {
        cause,
        confidence,
        score: (score * 10.0).round() / 10.0,
        why,
        more_findings: total_findings.saturating_sub(MAX_FINDINGS_LISTED as u64),
        findings,
        remediation,
        references,
        against,
        near_anchors,
        logged_near,
    }
}

fn why_text(
    scored: &[Scored<'_>],
    best: Strength,
    any_near: bool,
    rules_agreeing: usize,
    total_events: u64,
    agree: Option<String>,
    anchors_exist: bool,
) -> String {
    let findings: u64 = scored.iter().map(|s| s.findings).sum();
    let mut parts = vec![format!(
        "{} finding{} from {} rule{} ({} event{}), best evidence {}",
        findings,
        plural(findings),
        rules_agreeing,
        plural(rules_agreeing as u64),
        total_events,
        plural(total_events),
        best.as_str()
    )];
    if any_near {
        parts.push("next to a 0x904 disconnect".into());
    } else if scored
        .iter()
        .any(|s| s.effective != s.strength && s.disproved.is_none())
    {
        parts.push(if anchors_exist {
            "time-bound evidence far from every 0x904 disconnect counts as background".into()
        } else {
            "no 0x904 disconnect in these logs to tie time-bound evidence to, so it counts as background".into()
        });
    }
    let disproved = |why: Disproof| -> u64 {
        scored
            .iter()
            .filter(|s| s.disproved == Some(why))
            .map(|s| s.findings)
            .sum()
    };
    let counts_as = |n: u64| {
        if n == 1 {
            "it counts as"
        } else {
            "they count as"
        }
    };
    for (why, what) in [
        (
            Disproof::BeforeLogon,
            "came before the 0x904 connection reached logon on that server (TLS and its certificate worked then)",
        ),
        (
            Disproof::InSession,
            "came during the established session the 0x904 ended on that server (its handshake was done: another connection's failed)",
        ),
        (
            Disproof::Repaired,
            "came before a later successful logon to that server (the broken state was repaired by then)",
        ),
        (
            Disproof::Later,
            "came after a successful logon to that server that followed the 0x904 (the broken state began after the 0x904)",
        ),
        (Disproof::LongAfter, super::diagnosis::LONG_AFTER_WORDS),
    ] {
        let n = disproved(why);
        if n > 0 {
            parts.push(format!(
                "{n} finding{} {what}, so {} context",
                plural(n),
                counts_as(n)
            ));
        }
    }
    if let Some(agree) = agree {
        parts.push(agree);
    }
    parts.join("; ")
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileAccount;

    /// A Schannel event of the built-in pack's TLS rules, `secs` after a fixed moment.
    fn schannel(file: &str, id: u32, data: (&str, &str), secs: i64, record: u64) -> Event {
        let mut fields = crate::model::Fields::default();
        fields.push(data.0, data.1);
        Event {
            file: std::sync::Arc::from(file),
            record,
            time: Some(Timestamp::from_second(1_704_067_200 + secs).expect("in range")),
            kind: crate::model::EventKind::Win(std::sync::Arc::new(crate::model::WinEvent {
                provider: "Schannel".into(),
                event_id: id,
                computer: "dc01".into(),
                data: fields,
                ..Default::default()
            })),
            marks: Default::default(),
        }
    }

    /// A finding that repeats stands for one finding per event: the cause ranks, counts, lists
    /// and explains exactly as with those single findings (what evaluation made before).
    #[test]
    fn a_repeated_finding_ranks_as_the_single_findings_it_stands_for_issue_15() {
        let rules = crate::rules::load_with_builtin(&[]).expect("the built-in pack loads");
        for flood in [3usize, 4, 5, 6, 9, 400] {
            // Two alerts interleaved, times not in index order (the list is by index), a run
            // broken by other data and by another file.
            let mut events = Vec::new();
            for k in 0..flood {
                let secs = ((k * 37) % (flood + 1)) as i64;
                let record = 100 + k as u64;
                events.push(schannel(
                    "S.evtx",
                    36874,
                    ("Protocol", "TLS 1.2"),
                    secs,
                    record,
                ));
                events.push(schannel("S.evtx", 36888, ("AlertDesc", "40"), secs, record));
            }
            events.push(schannel("S.evtx", 36874, ("Protocol", "TLS 1.0"), 2, 7));
            events.push(schannel("T.evtx", 36874, ("Protocol", "TLS 1.2"), 1, 8));
            let eval = rules.evaluate(&events);
            assert!(eval.findings.iter().any(|f| f.repeats), "{flood}");
            let singles = Evaluation {
                anchors: eval.anchors.clone(),
                findings: eval.singles(),
            };
            assert_eq!(singles.findings.len(), 2 * flood + 2);
            let ranked = |e: &Evaluation| {
                format!(
                    "{:?}",
                    rank(&rules, e, &events, &[], &[], ServerLogs::default())
                )
            };
            let (got, want) = (ranked(&eval), ranked(&singles));
            assert_eq!(got, want, "{flood}");
            assert!(want.contains(&format!("{} findings from 2 rules", 2 * flood + 2)));
        }
    }

    /// A repeated finding's members listed first are its `n` smallest keys, in order, whether
    /// its events are in index order (read as they stand) or not (kept sorted as they go by).
    #[test]
    fn a_repeated_findings_first_listed_are_its_smallest_keys() {
        let finding = |events: Vec<usize>| Finding {
            rule: 0,
            rule_id: std::sync::Arc::from("r"),
            events: crate::rules::engine::EventIds::Many(events),
            evidence: String::new(),
            deferred: true,
            proximity: None,
            group: None,
            repeats: true,
        };
        let cases = [
            vec![3, 5, 9, 12, 40],
            vec![3, 3, 7, 7, 7, 8],
            vec![40, 12, 9, 5, 3],
            vec![9, 3, 9, 1, 12, 1],
            vec![usize::MAX - 1, usize::MAX, 0],
            vec![7],
        ];
        for events in cases {
            let f = finding(events.clone());
            for (effective, near) in [(Strength::Strong, true), (Strength::Weak, false)] {
                let s = Scored {
                    finding: &f,
                    rule: 0,
                    count: events.len() as u64,
                    findings: events.len() as u64,
                    source: None,
                    order: 0,
                    strength: effective,
                    effective,
                    near,
                    proximity: None,
                    weight: 1.0,
                    disproved: None,
                    folded: 0,
                };
                let mut all: Vec<(u64, usize)> = events
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| (order_key(effective, near, Some(i)), k))
                    .collect();
                all.sort();
                for n in [1, 2, 5, 10] {
                    let want: Vec<_> = all.iter().copied().take(n).collect();
                    assert_eq!(listed_first(&s, n), want, "{events:?}, n = {n}");
                }
            }
        }
    }

    /// Every combination of strength × nearness × agreement, written out: the ranking's
    /// contract, pinned here rather than only through golden reports.
    #[test]
    fn strength_nearness_and_agreement_give_the_confidence() {
        use Confidence::{Context as C, High as H, Low as L, Medium as M};
        use Strength::{Context, Moderate, Strong, Weak};
        // (best strength, near a 0x904, rules, sources agree) -> confidence
        let table = [
            (Strong, false, 1, false, M),
            (Strong, true, 1, false, H),
            (Strong, false, 2, false, H),
            (Strong, false, 1, true, H),
            (Strong, true, 3, true, H),
            (Moderate, false, 1, false, L),
            (Moderate, true, 1, false, M),
            (Moderate, false, 2, false, M),
            // Agreement of sources alone does not lift moderate evidence.
            (Moderate, false, 1, true, L),
            (Moderate, true, 2, true, M),
            (Weak, false, 1, false, L),
            (Weak, true, 1, false, L),
            (Weak, true, 4, true, L),
            (Context, false, 1, false, C),
            (Context, true, 5, true, C),
        ];
        for (best, near, rules, sources_agree, want) in table {
            let s = Support {
                best,
                near,
                rules,
                sources_agree,
            };
            assert_eq!(confidence(s), want, "{s:?}");
        }
    }

    #[test]
    fn evidence_far_from_a_0x904_drops_two_levels() {
        let table = [
            (Strength::Strong, Strength::Weak),
            (Strength::Moderate, Strength::Context),
            (Strength::Weak, Strength::Context),
            (Strength::Context, Strength::Context),
        ];
        for (strength, far) in table {
            assert_eq!(demote_twice(strength), far, "{strength:?}");
        }
    }

    #[test]
    fn the_order_key_sorts_as_strength_then_nearness_then_first_event() {
        use Strength::*;
        // What the key replaces: the comparison of the three in turn.
        let cmp = |a: &(Strength, bool, Option<usize>), b: &(Strength, bool, Option<usize>)| {
            a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))
        };
        let mut all = Vec::new();
        for strength in [Strong, Moderate, Weak, Context] {
            for near in [true, false] {
                for first in [None, Some(0), Some(1), Some(58_409), Some(usize::MAX >> 4)] {
                    all.push((strength, near, first));
                }
            }
        }
        for a in &all {
            for b in &all {
                let key = |x: &(Strength, bool, Option<usize>)| order_key(x.0, x.1, x.2);
                assert_eq!(key(a).cmp(&key(b)), cmp(a, b), "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn what_counts_against_a_cause_is_typed_by_why_it_counts() {
        use crate::model::Source;
        use Against::*;
        use Strength::{Context, Moderate, Strong, Weak};
        let f = Finding {
            rule: 0,
            rule_id: "r".into(),
            events: crate::rules::EventIds::One(0),
            evidence: String::new(),
            deferred: false,
            proximity: None,
            group: None,
            repeats: false,
        };
        let s = |strength, effective, disproved| Scored {
            finding: &f,
            rule: 0,
            count: 1,
            findings: 1,
            source: Some(Source::Evtx),
            order: order_key(effective, false, Some(0)),
            strength,
            effective,
            near: false,
            proximity: None,
            weight: 1.0,
            disproved,
            folded: 0,
        };
        let evtx = [Source::Evtx].into();
        let reg = [Source::Registry].into();
        let scored = [
            s(Strong, Weak, None),
            s(Moderate, Context, None),
            s(Strong, Context, Some(Disproof::BeforeLogon)),
            s(Moderate, Moderate, None),
            s(Moderate, Context, Some(Disproof::InSession)),
        ];
        // Demoted by distance, by a later logon and by an established session are told apart.
        assert_eq!(
            against(&scored, 2, &evtx, None, true),
            vec![
                FarFromAnchor { findings: 2 },
                BeforeLogon { findings: 1 },
                InSession { findings: 1 }
            ]
        );
        // With no 0x904 at all, the demotion is that, not "far from every 0x904".
        assert_eq!(against(&scored[..2], 2, &evtx, None, false), vec![NoAnchor]);
        assert_eq!(
            against(&[s(Weak, Weak, None)], 1, &evtx, None, true),
            vec![LoneWeakRule { strength: Weak }]
        );
        assert!(against(&[s(Weak, Weak, None)], 2, &evtx, None, true).is_empty());
        assert_eq!(
            against(&[s(Moderate, Moderate, None)], 1, &reg, None, true),
            vec![ConfigurationOnly]
        );
        assert_eq!(
            against(&scored[3..4], 1, &evtx, Some("TLS 1.2 is on".into()), true),
            vec![HealthyConfiguration {
                setting: "TLS 1.2 is on".into()
            }]
        );
    }

    #[test]
    fn the_best_cause_and_unread_inputs_weigh_against_the_others() {
        let cause = |cause, confidence| CauseScore {
            cause,
            confidence,
            score: 1.0,
            why: String::new(),
            findings: vec![],
            more_findings: 0,
            remediation: String::new(),
            references: vec![],
            against: vec![Against::NoAnchor],
            near_anchors: Default::default(),
            logged_near: Default::default(),
        };
        let mut causes = [
            cause(Cause::Tls, Confidence::High),
            cause(Cause::Network, Confidence::Low),
        ];
        outranked(&mut causes);
        let mut partial = FileAccount::new("a.evtx", crate::model::FileFormat::Evtx);
        partial.damaged("cut");
        let ok = FileAccount::new("b.evtx", crate::model::FileFormat::Evtx);
        weigh_unread(&mut causes, &[partial, ok]);
        assert_eq!(
            causes[0].against,
            vec![Against::NoAnchor, Against::NotReadFully { files: 1 }]
        );
        assert_eq!(
            causes[1].against,
            vec![
                Against::Outranked {
                    by: Cause::Tls,
                    confidence: Confidence::High
                },
                Against::NoAnchor,
                Against::NotReadFully { files: 1 }
            ]
        );
    }

    #[test]
    fn weights_order_like_strengths() {
        let order = [
            Strength::Strong,
            Strength::Moderate,
            Strength::Weak,
            Strength::Context,
        ];
        for pair in order.windows(2) {
            assert!(weight(pair[0]) > weight(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn confidence_spellings_round_trip() {
        for c in [
            Confidence::High,
            Confidence::Medium,
            Confidence::Low,
            Confidence::Context,
        ] {
            assert_eq!(Confidence::parse(c.as_str()), Some(c));
            assert_eq!(Confidence::parse(&c.as_str().to_uppercase()), Some(c));
        }
        assert_eq!(Confidence::parse("certain"), None);
    }
}
