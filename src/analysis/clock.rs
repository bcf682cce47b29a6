//! Whose clock is right: each server's offset from the client, from events that must coincide.
//!
//! The client's 1025 (transport up) and the server's RdpCoreTS 131 (TCP connection accepted) or
//! RCM 261 (listener received a connection) for the same connection happen within network
//! latency, well under a second (DOMAIN.md §7). For every client connection with a 1025 to a
//! server, each of the server's accepts within [`PAIR_WINDOW_SECS`] proposes an offset (server
//! time minus client time), and the offset is the one the most connections propose within
//! [`MAX_SPREAD_MS`] ([`agree`]): not each 1025's nearest accept, which for retries quicker
//! than the skew is another attempt's. The estimate is the median of each connection's
//! proposal nearest it; it is applied — the server's event times are moved onto the client's
//! clock before rules place them against the 0x904 — only when every connection agrees within
//! [`MAX_SPREAD_MS`], no other offset is agreed by all as well, and the offset is larger than
//! [`APPLY_ABOVE_MS`] (below that, clocks agree within latency). Every server seen is
//! reported: its estimate and evidence, an inconsistent or ambiguous estimate (not applied),
//! or that none could be made. Nothing is shifted silently.
//!
//! Other moments that must coincide add pairs: the server's own Procmon `TCP Accept` on the RDP
//! port (a PML row, or a CSV placed from that server's events) stands beside its 131/261; the
//! client's Procmon `TCP Connect` of mstsc/msrdc to the server's RDP port stands beside the
//! 1025 when no 1025 is logged within seconds of it. An **RD Gateway** is a host too: its 302
//! (the user connected to the resource) pairs with the client's 1025, and its 303 (disconnected)
//! with the client's 1026, for connections whose server is the gateway event's `Resource`.
//!
//! Which events are the client's transport and a server's accept, the client processes and
//! the RDP port are the rule pack's domain declaration, read here; the gateway's 302/303 are
//! still named below.

use std::collections::{HashMap, HashSet};

use jiff::SignedDuration;

use super::connection::{Connection, host_class, same_host};
use crate::model::Event;
use crate::rules::Domain;

/// How far apart a client 1025 and a server accept may be to be paired at all.
pub const PAIR_WINDOW_SECS: i64 = 15 * 60;
/// Proposals further apart than this are not one offset.
pub const MAX_SPREAD_MS: i64 = 2_000;
/// Offsets at or below this are network latency, not skew.
pub const APPLY_ABOVE_MS: i64 = 2_000;

/// A client Procmon connect this close to a logged 1025 is the same moment, not a new pair.
const SAME_MOMENT_MS: i64 = 5_000;

/// Is `e` the RD Gateway's connect or disconnect (the domain's `gateway` declarations: a clock
/// pair with the client's transport and disconnect events)?
pub fn is_gateway_pair_event(domain: &Domain, e: &Event) -> bool {
    e.win().is_some_and(|w| domain.is_gateway_pair(w))
}

/// Is `e` a Procmon row that is clock evidence: the client's connect to the RDP port, or the
/// server's accept on it?
pub fn is_procmon_pair_row(domain: &Domain, e: &Event) -> bool {
    e.procmon().is_some_and(|p| {
        super::align::is_server_accept_row(domain, p) || is_client_connect_row(domain, p)
    })
}

fn is_client_connect_row(domain: &Domain, p: &crate::model::ProcmonRow) -> bool {
    p.operation == domain.procmon_connect
        && domain.is_client_process(&p.process)
        && p.network()
            .and_then(|n| n.remote_port)
            .is_some_and(|port| domain.is_rdp_port(port))
}

/// The host whose clock `e` is on, when it is a server-side event or a server capture's row.
fn host_of(e: &Event) -> Option<&str> {
    match e.win() {
        Some(w) => Some(&w.computer),
        None => e.procmon()?.computer.as_deref(),
    }
}

/// One server's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Skew {
    pub host: String,
    /// Server minus client.
    pub offset: Option<SignedDuration>,
    pub pairs: usize,
    pub spread: Option<SignedDuration>,
    pub applied: bool,
    pub note: String,
}

/// Estimate every server host's offset from the client.
pub fn estimate(events: &[Event], conns: &[Connection], domain: &Domain) -> Vec<Skew> {
    let clients: Vec<&str> = conns.iter().map(|c| c.client.as_str()).collect();
    let mut hosts: Vec<String> = Vec::new();
    let server_side = |e: &&Event| {
        domain.is_server_accept(e)
            || is_gateway_pair_event(domain, e)
            || e.procmon().is_some_and(|p| {
                p.computer.is_some() && super::align::is_server_accept_row(domain, p)
            })
    };
    // What a host's estimate reads, found once for all hosts: its accepts and gateway events,
    // and the client's Procmon connects (a host's own are picked from these by name).
    let picked = |pick: &(dyn Fn(&Event) -> bool + Sync)| -> Vec<&Event> {
        super::positions(events, pick)
            .into_iter()
            .map(|i| &events[i])
            .collect()
    };
    let evidence = Evidence {
        server: picked(&|e| server_side(&e)),
        client_connects: picked(&|e| {
            e.procmon()
                .is_some_and(|p| is_client_connect_row(domain, p))
        }),
    };
    // Thousands of events name a few hosts, or, in a hostile file, tens of thousands: every
    // host is compared through its class (what `same_host` compares), never with every other.
    let client_classes: HashSet<Class> = clients
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| host_class(c))
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut classes: HashSet<Class> = HashSet::new();
    for e in evidence.server.iter().copied() {
        let Some(host) = host_of(e) else { continue };
        if !seen.insert(host) || (!host.is_empty() && client_classes.contains(&host_class(host))) {
            continue;
        }
        // An empty name is no host's class: `same_host` never holds for it.
        if host.is_empty() || classes.insert(host_class(host)) {
            hosts.push(host.to_string());
        }
    }
    hosts.sort_by_key(|h| h.to_ascii_lowercase());
    let groups = Groups::new(&evidence, conns);
    hosts
        .iter()
        .map(|h| estimate_host(h, &groups, conns, domain))
        .collect()
}

/// A host name's class ([`host_class`]): names of one class are the same host.
type Class = (bool, String);

/// What each host's estimate reads, gathered once by host class, each list in event (or
/// connection) order: its server-side events, the connections made to it, the client's
/// Procmon connects to it. A host's estimate then reads its own lists, not every event and
/// connection of the ticket.
struct Groups<'e> {
    server: HashMap<Class, Vec<&'e Event>>,
    conns: HashMap<Class, Vec<usize>>,
    client_connects: HashMap<Class, Vec<&'e Event>>,
}

impl<'e> Groups<'e> {
    fn new(evidence: &Evidence<'e>, conns: &[Connection]) -> Self {
        let mut server: HashMap<Class, Vec<&'e Event>> = HashMap::new();
        for e in evidence.server.iter().copied() {
            if let Some(h) = host_of(e).filter(|h| !h.is_empty()) {
                server.entry(host_class(h)).or_default().push(e);
            }
        }
        let mut by_server: HashMap<Class, Vec<usize>> = HashMap::new();
        for (i, c) in conns.iter().enumerate() {
            if let Some(s) = c.server.as_deref().filter(|s| !s.is_empty()) {
                by_server.entry(host_class(s)).or_default().push(i);
            }
        }
        let mut client_connects: HashMap<Class, Vec<&'e Event>> = HashMap::new();
        for e in evidence.client_connects.iter().copied() {
            if let Some(n) = e.procmon().and_then(|p| p.network())
                && !n.remote_host.is_empty()
            {
                client_connects
                    .entry(host_class(n.remote_host))
                    .or_default()
                    .push(e);
            }
        }
        Groups {
            server,
            conns: by_server,
            client_connects,
        }
    }
}

/// The events clock estimation pairs, in event order.
struct Evidence<'e> {
    /// Server accepts (events and Procmon rows that name their computer) and the gateway's
    /// connect and disconnect events.
    server: Vec<&'e Event>,
    /// The client's Procmon connects to the RDP port.
    client_connects: Vec<&'e Event>,
}

/// What each client moment proposes: every target time within the pair window of it (as
/// target minus moment), with the moment's number.
struct Proposals {
    /// (offset, moment), in no order until [`agree`] sorts them.
    all: Vec<(SignedDuration, usize)>,
    /// Moments that proposed anything.
    moments: usize,
    /// How far from a moment a target may be.
    window: SignedDuration,
}

/// Proposals kept at most, over all moments of one host: past it, each moment keeps the
/// targets nearest to it (a flood of scanner accepts would otherwise propose millions).
const MAX_PROPOSALS: usize = 1 << 20;

impl Proposals {
    fn new(window_secs: i64) -> Self {
        Proposals {
            all: Vec::new(),
            moments: 0,
            window: SignedDuration::from_secs(window_secs),
        }
    }

    /// Propose every `targets` time (sorted) within the window of `at`; whether any was.
    fn propose(&mut self, targets: &[jiff::Timestamp], at: jiff::Timestamp, cap: usize) -> bool {
        let window = self.window;
        let lo = targets.partition_point(|t| t.duration_since(at) < -window);
        let hi = targets.partition_point(|t| t.duration_since(at) <= window);
        if lo == hi {
            return false;
        }
        // The `cap` nearest, taken outwards from where `at` falls.
        let mid = targets[lo..hi].partition_point(|t| *t < at) + lo;
        let (mut left, mut right) = (mid, mid);
        while right - left < cap.max(1) && (left > lo || right < hi) {
            let take_left = right == hi
                || (left > lo
                    && at.duration_since(targets[left - 1]) <= targets[right].duration_since(at));
            if take_left {
                left -= 1;
            } else {
                right += 1;
            }
        }
        let moment = self.moments;
        self.all.extend(
            targets[left..right]
                .iter()
                .map(|t| (t.duration_since(at), moment)),
        );
        self.moments += 1;
        true
    }
}

/// The offsets the moments agree on: the window of [`MAX_SPREAD_MS`] that the most moments
/// propose into (each moment counted once), and from each moment its proposal in that window
/// nearest its own time (or, with none there, its proposal nearest the window), sorted. Quick retries make every moment propose its neighbours' accepts as
/// well as its own; only the true offset is proposed by all of them. Of windows as well
/// supported, the one nearest zero is chosen; `tied` is another as well supported, which when
/// every moment agrees on both makes the estimate ambiguous.
struct Agreement {
    offsets: Vec<SignedDuration>,
    /// Each moment's chosen proposal, by moment.
    by_moment: Vec<Option<SignedDuration>>,
    /// Moments whose proposal lies in the chosen window.
    agreeing: usize,
    /// The chosen window (its first and last offset allowed).
    window: Option<(SignedDuration, SignedDuration)>,
    /// Another window with as many agreeing moments, apart from the chosen one.
    tied: Option<SignedDuration>,
}

fn agree(mut proposals: Proposals) -> Agreement {
    let all = &mut proposals.all;
    all.sort_unstable();
    let spread = SignedDuration::from_millis(MAX_SPREAD_MS);
    let mut count = vec![0u32; proposals.moments];
    let (mut distinct, mut right) = (0usize, 0usize);
    // The best support, and every window start with it.
    let mut best = 0usize;
    let mut ties: Vec<usize> = Vec::new();
    for left in 0..all.len() {
        while right < all.len() && all[right].0 - all[left].0 <= spread {
            count[all[right].1] += 1;
            if count[all[right].1] == 1 {
                distinct += 1;
            }
            right += 1;
        }
        if distinct > best {
            best = distinct;
            ties.clear();
            ties.push(left);
        } else if distinct == best {
            ties.push(left);
        }
        count[all[left].1] -= 1;
        if count[all[left].1] == 0 {
            distinct -= 1;
        }
    }
    // Of windows as well supported, the one nearest no offset at all: clocks are usually
    // within seconds of each other (retries at a steady interval make the others); the
    // nearest of the rest, apart from it, is the tie to report.
    let centre = |i: &usize| all.get(*i).map(|&(d, _)| (d + spread / 2).abs());
    let chosen = ties.iter().min_by_key(|i| (centre(i), **i)).copied();
    // No proposal at all (the caller asks only with some): nothing agrees.
    let Some(&(start, _)) = chosen.and_then(|i| all.get(i)) else {
        return Agreement {
            offsets: Vec::new(),
            by_moment: Vec::new(),
            agreeing: 0,
            window: None,
            tied: None,
        };
    };
    let middle = start + spread / 2;
    let tied = ties
        .iter()
        .filter_map(|&i| all.get(i).map(|&(d, _)| d))
        .filter(|&d| (d - start).abs() > spread)
        .min_by_key(|&d| ((d + spread / 2).abs(), d));
    // Inside the window, a moment's proposal nearest its own time (the pair, as before quick
    // retries were thought of); outside it, the one nearest the window.
    let inside = |d: SignedDuration| d >= start && d <= start + spread;
    let key = |d: SignedDuration| {
        (
            !inside(d),
            if inside(d) {
                d.abs()
            } else {
                (d - middle).abs()
            },
        )
    };
    let mut nearest: Vec<Option<SignedDuration>> = vec![None; proposals.moments];
    for &(d, m) in all.iter() {
        let n = &mut nearest[m];
        if n.is_none_or(|n| key(d) < key(n)) {
            *n = Some(d);
        }
    }
    let mut offsets: Vec<SignedDuration> = nearest.iter().copied().flatten().collect();
    offsets.sort();
    Agreement {
        offsets,
        by_moment: nearest,
        agreeing: best,
        window: Some((start, start + spread)),
        tied,
    }
}

fn estimate_host<'g, 'e>(
    host: &str,
    groups: &'g Groups<'e>,
    conns: &[Connection],
    domain: &Domain,
) -> Skew {
    let class = (!host.is_empty()).then(|| host_class(host));
    let group = |map: &'g HashMap<Class, Vec<&'e Event>>| -> &'g [&'e Event] {
        class
            .as_ref()
            .and_then(|c| map.get(c))
            .map_or(&[], Vec::as_slice)
    };
    let on_host: &[&Event] = group(&groups.server);
    let times = |pred: &dyn Fn(&Event) -> bool| {
        let mut v: Vec<jiff::Timestamp> = on_host
            .iter()
            .filter(|e| pred(e))
            .filter_map(|e| e.time)
            .collect();
        v.sort();
        v
    };
    // The server's accepts: its 131/261 and its own Procmon TCP Accept rows.
    let accepts = times(&|e| {
        domain.is_server_accept(e)
            || e.procmon()
                .is_some_and(|p| super::align::is_server_accept_row(domain, p))
    });
    // What each client moment is paired with: lists of target times, the server's accepts
    // first, then the gateway's connect/disconnect events for each resource, by kind (many
    // connections name the same server: each (event kind, server name) is gathered once).
    let mut lists: Vec<Vec<jiff::Timestamp>> = vec![accepts];
    let mut gathered: HashMap<(bool, String), usize> = HashMap::new();
    let mut gateway = |g: &crate::rules::ClientEvent, server: &str| -> Option<usize> {
        if g.id == 0 {
            return None;
        }
        let key = (
            std::ptr::eq(g, &domain.gateway_disconnect),
            server.to_string(),
        );
        if let Some(&i) = gathered.get(&key) {
            return Some(i);
        }
        let mut v: Vec<_> = on_host
            .iter()
            .filter(|e| {
                e.win().is_some_and(|w| {
                    w.event_id == g.id
                        && domain.side_of(&w.provider) == Some(crate::rules::Side::Gateway)
                        && w.data.get(&g.data).is_some_and(|r| same_host(r, server))
                })
            })
            .filter_map(|e| e.time)
            .collect();
        v.sort();
        lists.push(v);
        gathered.insert(key, lists.len() - 1);
        Some(lists.len() - 1)
    };
    // The client's Procmon connects to this host that no logged 1025 already stands for.
    let to_host: &[usize] = class
        .as_ref()
        .and_then(|c| groups.conns.get(c))
        .map_or(&[], Vec::as_slice);
    let ups: Vec<jiff::Timestamp> = to_host
        .iter()
        .filter_map(|&i| conns[i].transport_up)
        .collect();
    let procmon_connects: Vec<jiff::Timestamp> = group(&groups.client_connects)
        .iter()
        .filter_map(|e| e.time)
        .filter(|t| {
            ups.iter()
                .all(|u| t.duration_since(*u).abs().as_millis() > i128::from(SAME_MOMENT_MS))
        })
        .collect();
    // The connections that read this host's events: those made to it, and those whose server
    // its gateway events name (through it as a gateway), in connection order.
    let mut reading: Vec<usize> = to_host.to_vec();
    let named: HashSet<Class> = on_host
        .iter()
        .filter_map(|e| e.win())
        .filter(|w| domain.side_of(&w.provider) == Some(crate::rules::Side::Gateway))
        .flat_map(|w| {
            [&domain.gateway_connect, &domain.gateway_disconnect]
                .into_iter()
                .filter(|g| g.id != 0 && w.event_id == g.id)
                .filter_map(|g| w.data.get(&g.data))
        })
        .filter(|r| !r.is_empty())
        .map(host_class)
        .collect();
    for class in &named {
        if let Some(through) = groups.conns.get(class) {
            reading.extend(through);
        }
    }
    reading.sort_unstable();
    reading.dedup();
    // Each client moment: (kind of pair, its time, the list it pairs with).
    let mut moments: Vec<(usize, jiff::Timestamp, usize)> = Vec::new();
    for c in reading.iter().map(|&i| &conns[i]) {
        let Some(server) = &c.server else { continue };
        if same_host(host, server) {
            if let Some(up) = c.transport_up {
                moments.push((0, up, 0));
            }
        } else {
            // Through a gateway: this host is the gateway when its 302/303 name the server.
            if let Some(t) = c.transport_up.or(c.start)
                && let Some(list) = gateway(&domain.gateway_connect, server)
            {
                moments.push((1, t, list));
            }
            if let Some(t) = c.end.and_then(|e| e.1)
                && let Some(list) = gateway(&domain.gateway_disconnect, server)
            {
                moments.push((1, t, list));
            }
        }
    }
    moments.extend(procmon_connects.into_iter().map(|t| (2, t, 0)));
    let cap = (MAX_PROPOSALS / moments.len().max(1)).max(1);
    // The proposals within a window, and the kind of pair of each moment that proposed.
    let propose = |window_secs: i64| {
        let mut proposals = Proposals::new(window_secs);
        let mut kinds = Vec::new();
        for &(kind, at, list) in &moments {
            if proposals.propose(&lists[list], at, cap) {
                kinds.push(kind);
            }
        }
        (proposals, kinds)
    };
    let (near, near_kinds) = propose(PAIR_WINDOW_SECS);
    let kinds = count_kinds(near_kinds.iter().copied());
    let pairs = near.moments;
    let mut skew = Skew {
        host: host.to_string(),
        offset: None,
        pairs,
        spread: None,
        applied: false,
        note: String::new(),
    };
    let near = (pairs > 0).then(|| agree(near));
    // A server more than the pair window off (a VM restored from a snapshot, a clock set in
    // the wrong time zone): no 1025 pairs with its own accept, or only with another attempt's.
    // Pairs up to a day apart are read as well, and their offset is taken when more moments
    // agree on it than on the near one and chance could not have lined them up.
    // A far offset is taken only when more moments agree on it than on the near one: with
    // every moment agreeing near, none can be, and the day-wide pass is not made.
    let near_agreeing = near.as_ref().map_or(0, |n| n.agreeing);
    let far = (near_agreeing < moments.len())
        .then(|| {
            let logged = on_host
                .iter()
                .filter_map(|e| e.time)
                .fold(
                    None,
                    |span: Option<(jiff::Timestamp, jiff::Timestamp)>, t| {
                        Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
                    },
                )
                .map_or(SignedDuration::ZERO, |(a, b)| b.duration_since(a));
            far_offset(propose(FAR_WINDOW_SECS), &lists, logged)
        })
        .flatten();
    if let Some(far) = far.filter(|f| f.agreeing > near_agreeing) {
        skew.pairs = far.moments;
        skew.offset = Some(far.median);
        skew.spread = Some(far.spread);
        skew.applied = true;
        let ms = far.median.as_millis();
        skew.note = format!(
            "{host}'s clock is {} ({} ms) {} the client's ({} of {} client moments agree on it: {}, spread {} ms; more than {} min apart, so it is taken only because several pairs agree and chance could not line them up); its events are placed on the client's clock",
            human(ms),
            ms.abs(),
            if ms > 0 { "ahead of" } else { "behind" },
            far.agreeing,
            far.moments,
            evidence_text(&far.kinds),
            far.spread.as_millis(),
            PAIR_WINDOW_SECS / 60
        );
        return skew;
    }
    let Some(Agreement {
        offsets,
        agreeing,
        tied,
        ..
    }) = near
    else {
        skew.note = format!(
            "cannot estimate: no client 1025 (transport up) or Procmon TCP Connect to {host} within {} min of its 131/261 or TCP Accept, and no client 1025/1026 beside a gateway 302/303 for the same server; its times are used as logged",
            PAIR_WINDOW_SECS / 60
        );
        return skew;
    };
    // Every moment agreeing on two offsets: retries at a steady interval.
    let ambiguous = tied.filter(|_| agreeing == pairs);
    // One offset per moment (each proposes at least one accept), read without an index that
    // could fail.
    let (Some(&median), Some(&first), Some(&last)) = (
        offsets.get(offsets.len() / 2),
        offsets.first(),
        offsets.last(),
    ) else {
        skew.note = "cannot estimate: no pair agrees; its times are used as logged".into();
        return skew;
    };
    let spread = last - first;
    skew.offset = Some(median);
    skew.spread = Some(spread);
    let evidence = evidence_text(&kinds);
    let ms = median.as_millis();
    if spread.as_millis() > i128::from(MAX_SPREAD_MS) {
        skew.note = format!(
            "inconsistent: {evidence} disagree by {} ms ({agreeing} of {pairs} agree at most); not applied, its times are used as logged",
            spread.as_millis()
        );
    } else if let Some(other) = ambiguous {
        skew.note = format!(
            "ambiguous: {evidence} agree on {} ms and as well on {} ms (attempts repeating at the same interval); not applied, its times are used as logged",
            median.as_millis(),
            other.as_millis()
        );
    } else if ms.abs() <= i128::from(APPLY_ABOVE_MS) {
        skew.note = format!("clocks agree within network latency ({evidence}); nothing shifted");
    } else {
        skew.applied = true;
        skew.note = format!(
            "{host}'s clock is {} ms {} the client's ({evidence}, spread {} ms); its events are placed on the client's clock",
            ms.abs(),
            if ms > 0 { "ahead of" } else { "behind" },
            spread.as_millis()
        );
    }
    skew
}

/// How far apart a client moment and a server's event may be when read for a far offset: a
/// day and two hours, the widest two time zones are apart.
pub const FAR_WINDOW_SECS: i64 = 26 * 60 * 60;

/// The most a far offset's agreement may be expected to arise by chance (see [`far_offset`]).
const FAR_CHANCE: f64 = 0.01;

/// The shortest span a far offset's chance is reckoned over (see [`far_offset`]).
const FAR_MIN_SPAN_SECS: i64 = 60 * 60;

/// An offset past the pair window that several client moments agree on.
struct Far {
    median: SignedDuration,
    spread: SignedDuration,
    agreeing: usize,
    moments: usize,
    kinds: [usize; 3],
}

/// The offset the far proposals agree on, when it lies past the pair window, at least two
/// moments agree on it, no other offset has as many, and chance is unlikely to have lined them
/// up: with `n` target times over a span of `s`, one target falls within the agreement window
/// of a proposed offset with probability about `n · 2w / s`, so `k` agreeing moments arise by
/// chance about `n · (n · 2w / s)^(k-1)` times. Scanner floods and busy servers (many
/// targets close together) need more agreeing moments; a quiet server two. `s` is the longest
/// of the targets' span, the span the host's log covers (`logged`) and [`FAR_MIN_SPAN_SECS`]:
/// targets are only as dense as the log they come from shows, and a log shorter than that says
/// nothing of how busy the server is.
fn far_offset(
    (proposals, kinds_of): (Proposals, Vec<usize>),
    lists: &[Vec<jiff::Timestamp>],
    logged: SignedDuration,
) -> Option<Far> {
    let total = proposals.moments;
    if total < 2 {
        return None;
    }
    let a = agree(proposals);
    let (lo, hi) = a.window?;
    if a.agreeing < 2
        || a.tied.is_some()
        || lo.abs().as_secs() <= PAIR_WINDOW_SECS && hi.abs().as_secs() <= PAIR_WINDOW_SECS
    {
        return None;
    }
    // The targets the moments read: how many, over how long.
    let (first, last) = (
        lists.iter().filter_map(|l| l.first()).min()?,
        lists.iter().filter_map(|l| l.last()).max()?,
    );
    let span_ms = last
        .duration_since(*first)
        .max(logged)
        .max(SignedDuration::from_secs(FAR_MIN_SPAN_SECS))
        .as_millis() as f64;
    let n = lists.iter().map(Vec::len).sum::<usize>() as f64;
    let p = (n * 2.0 * MAX_SPREAD_MS as f64 / span_ms.max(1.0)).min(1.0);
    let exponent = i32::try_from(a.agreeing - 1).unwrap_or(i32::MAX);
    if n * p.powi(exponent) >= FAR_CHANCE {
        return None;
    }
    let inside: Vec<SignedDuration> = a
        .offsets
        .iter()
        .copied()
        .filter(|d| *d >= lo && *d <= hi)
        .collect();
    let (median, first, last) = (
        *inside.get(inside.len() / 2)?,
        *inside.first()?,
        *inside.last()?,
    );
    // The kinds of pair of the moments that agree.
    let kinds = count_kinds(
        kinds_of
            .iter()
            .zip(&a.by_moment)
            .filter(|(_, d)| d.is_some_and(|d| d >= lo && d <= hi))
            .map(|(k, _)| *k),
    );
    Some(Far {
        median,
        spread: last - first,
        agreeing: a.agreeing,
        moments: total,
        kinds,
    })
}

/// How many moments of each kind of pair.
fn count_kinds(kinds: impl Iterator<Item = usize>) -> [usize; 3] {
    let mut count = [0usize; 3];
    for k in kinds {
        if let Some(slot) = count.get_mut(k) {
            *slot += 1;
        }
    }
    count
}

/// What the pairs were, for a note: "2 client 1025 ↔ server 131/261/TCP Accept pairs, …".
fn evidence_text(kinds: &[usize; 3]) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    [
        (kinds[0], "client 1025 ↔ server 131/261/TCP Accept pair"),
        (kinds[1], "client 1025/1026 ↔ gateway 302/303 pair"),
        (kinds[2], "client Procmon TCP Connect ↔ server accept pair"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}{}", plural(*n)))
    .collect::<Vec<_>>()
    .join(", ")
}

/// An offset for a person: "2 h 0 min 3.2 s", "20 min 0.3 s".
fn human(ms: i128) -> String {
    let ms = ms.unsigned_abs();
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms % 60_000);
    let secs = format!("{}.{} s", s / 1000, s % 1000 / 100);
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m} min {secs}"),
        (h, m) => format!("{h} h {m} min {secs}"),
    }
}

/// Move the events of every host with an applied estimate onto the client's clock.
pub fn apply(events: &mut [Event], skews: &[Skew]) {
    for s in skews.iter().filter(|s| s.applied) {
        let Some(offset) = s.offset else { continue };
        for e in events.iter_mut() {
            let on_host = host_of(e).is_some_and(|h| same_host(&s.host, h));
            if on_host {
                e.time = e.time.and_then(|t| t.checked_sub(offset).ok());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const GATEWAY: &str = "Microsoft-Windows-TerminalServices-Gateway";
    use crate::analysis::connection::connections;
    use crate::analysis::connection::tests::client;
    use crate::model::{EventKind, WinEvent};
    use std::sync::Arc;

    const RCM: &str = "Microsoft-Windows-TerminalServices-RemoteConnectionManager";
    const RDPCORETS: &str = "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS";

    fn server(provider: &str, id: u32, millis: i64, host: &str) -> Event {
        Event {
            file: Arc::from("server.evtx"),
            record: millis as u64,
            time: Some(jiff::Timestamp::from_millisecond(1_704_067_200_000 + millis).unwrap()),
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                provider: provider.into(),
                event_id: id,
                computer: host.into(),
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    /// The estimate for `events`, their connections found with the built-in domain.
    fn estimated(events: &[Event]) -> Vec<Skew> {
        estimate(
            events,
            &connections(events, Domain::builtin()),
            Domain::builtin(),
        )
    }

    fn attempt(secs: i64, act: &'static str) -> Vec<Event> {
        vec![
            client(1024, secs, Some(act), Some("RDS01.contoso.com")),
            client(1025, secs + 1, Some(act), None),
            client(1026, secs + 5, Some(act), Some("2308")),
        ]
    }

    #[test]
    fn estimates_applies_and_reports_a_server_three_minutes_ahead() {
        let mut events = attempt(0, "{A}");
        events.extend(attempt(600, "{B}"));
        events.push(server(RCM, 261, 181_200, "RDS01.contoso.com"));
        events.push(server(RDPCORETS, 131, 781_100, "RDS01"));
        events.push(server("Schannel", 36874, 182_000, "RDS01.contoso.com"));
        let conns = connections(&events, Domain::builtin());
        let skews = estimate(&events, &conns, Domain::builtin());
        assert_eq!(skews.len(), 1);
        let s = &skews[0];
        assert_eq!(s.pairs, 2);
        assert!(s.applied, "{}", s.note);
        assert_eq!(s.offset, Some(SignedDuration::from_millis(180_200)));
        assert_eq!(s.spread, Some(SignedDuration::from_millis(100)));
        assert!(s.note.contains("ahead of"), "{}", s.note);
        apply(&mut events, &skews);
        // The Schannel event, 182 s on the server's clock, is 1.8 s after the 1025 at 1 s.
        assert_eq!(
            events[8].time,
            Some(jiff::Timestamp::from_millisecond(1_704_067_201_800).unwrap())
        );
        // Client events are not moved.
        assert_eq!(
            events[0].time,
            Some(jiff::Timestamp::from_second(1_704_067_200).unwrap())
        );
    }

    #[test]
    fn of_offsets_all_attempts_agree_on_the_one_nearest_zero_is_reported_first() {
        // Two attempts ten minutes apart to a server 45 ms ahead, which logged another
        // attempt's accept ten minutes before the first: both 1025s propose 45 ms, and both
        // as well -599,955 ms. Neither is applied; the estimate shown is the one clocks
        // usually have, the other named beside it.
        let mut events = attempt(0, "{A}");
        events.extend(attempt(600, "{B}"));
        for secs in [-600, 0, 600] {
            events.push(server(RCM, 261, (secs + 1) * 1000 + 45, "RDS01"));
        }
        let skews = estimated(&events);
        let s = &skews[0];
        assert!(!s.applied, "{}", s.note);
        assert_eq!(
            s.offset,
            Some(SignedDuration::from_millis(45)),
            "{}",
            s.note
        );
        assert!(
            s.note.starts_with("ambiguous:") && s.note.contains("as well on -599955 ms"),
            "{}",
            s.note
        );
    }

    #[test]
    fn quick_retries_agree_on_the_offset_they_all_propose_not_on_their_nearest() {
        // Three attempts 52 s apart to a server 412.5 s ahead: each 1025's nearest accept
        // is another attempt's, but only 412.5 s is proposed by all three. A scanner's
        // accept in between proposes nothing they share.
        let mut events = attempt(0, "{A}");
        events.extend(attempt(52, "{B}"));
        events.extend(attempt(104, "{C}"));
        for secs in [0, 52, 104] {
            events.push(server(RCM, 261, (secs + 1) * 1000 + 412_500, "RDS01"));
        }
        events.push(server(RCM, 261, 30_000, "RDS01"));
        let conns = connections(&events, Domain::builtin());
        let skews = estimate(&events, &conns, Domain::builtin());
        let s = &skews[0];
        assert_eq!(s.pairs, 3);
        assert!(s.applied, "{}", s.note);
        assert_eq!(s.offset, Some(SignedDuration::from_millis(412_500)));
        assert_eq!(s.spread, Some(SignedDuration::ZERO));
    }

    #[test]
    fn cannot_estimate_inconsistent_and_agreeing_clocks_are_said() {
        // A server with an accept but no client connection to it.
        let mut events = attempt(0, "{A}");
        events.push(server(RCM, 261, 5_000_000, "RDS09"));
        let skews = estimated(&events);
        assert_eq!(skews.len(), 1);
        assert!(skews[0].offset.is_none() && !skews[0].applied);
        assert!(
            skews[0].note.starts_with("cannot estimate"),
            "{}",
            skews[0].note
        );
        // Two pairs that disagree by a minute: reported, not applied.
        let mut events = attempt(0, "{A}");
        events.extend(attempt(600, "{B}"));
        events.push(server(RCM, 261, 181_000, "RDS01"));
        events.push(server(RCM, 261, 601_000 + 240_000, "RDS01"));
        let skews = estimated(&events);
        assert!(!skews[0].applied);
        assert!(
            skews[0].note.starts_with("inconsistent"),
            "{}",
            skews[0].note
        );
        // Within latency: nothing shifted.
        let mut events = attempt(0, "{A}");
        events.push(server(RCM, 261, 1_300, "RDS01"));
        let skews = estimated(&events);
        assert!(!skews[0].applied);
        assert_eq!(skews[0].offset, Some(SignedDuration::from_millis(300)));
        assert!(
            skews[0].note.starts_with("clocks agree"),
            "{}",
            skews[0].note
        );
    }

    #[test]
    fn a_server_further_off_than_the_pair_window_is_found_when_its_attempts_agree() {
        // Three attempts five minutes apart to a server 16 min ahead: within the pair window
        // each 1025 meets only a later attempt's accept (11 min, proposed by two of them);
        // 16 min is proposed by all three and is the offset.
        let mut events = attempt(0, "{A}");
        events.extend(attempt(300, "{B}"));
        events.extend(attempt(600, "{C}"));
        for secs in [0, 300, 600] {
            events.push(server(RCM, 261, (secs + 1) * 1000 + 960_400, "RDS01"));
        }
        let skews = estimated(&events);
        let s = &skews[0];
        assert!(s.applied, "{}", s.note);
        assert_eq!(s.offset, Some(SignedDuration::from_millis(960_400)));
        assert_eq!(s.pairs, 3);
        assert!(
            s.note.contains("16 min 0.4 s (960400 ms) ahead of"),
            "{}",
            s.note
        );
        // Two attempts to a server two hours behind (a clock set in the wrong zone).
        let mut events = attempt(0, "{A}");
        events.extend(attempt(95, "{B}"));
        for secs in [0, 95] {
            events.push(server(
                RCM,
                261,
                (secs + 1) * 1000 - 7_200_000 + 350,
                "RDS01",
            ));
        }
        let skews = estimated(&events);
        let s = &skews[0];
        assert!(s.applied, "{}", s.note);
        assert_eq!(s.offset, Some(SignedDuration::from_millis(-7_199_650)));
        assert!(s.note.contains("1 h 59 min 59.6 s"), "{}", s.note);
        assert!(s.note.contains("behind"), "{}", s.note);
    }

    #[test]
    fn a_far_offset_that_chance_could_explain_or_one_pair_alone_is_not_taken() {
        // One attempt, the server's only accept 40 min later: one pair proves nothing.
        let mut events = attempt(0, "{A}");
        events.push(server(RCM, 261, 2_400_000, "RDS01"));
        let skews = estimated(&events);
        assert!(!skews[0].applied, "{}", skews[0].note);
        assert!(
            skews[0].note.starts_with("cannot estimate"),
            "{}",
            skews[0].note
        );
        // Two attempts 95 s apart to a busy server, an accept every 20 s for a day from other
        // users (some pair lines up at 95 s by chance): nothing is taken from so many.
        let mut events = attempt(0, "{A}");
        events.extend(attempt(95, "{B}"));
        for i in 0..4_000i64 {
            events.push(server(
                RCM,
                261,
                3_600_000 + i * 20_000 + (i * 7919) % 3_000,
                "RDS01",
            ));
        }
        let skews = estimated(&events);
        assert!(!skews[0].applied, "{}", skews[0].note);
    }

    fn gateway(id: u32, millis: i64, resource: &str) -> Event {
        let mut e = server(GATEWAY, id, millis, "GW01.contoso.com");
        if let EventKind::Win(w) = &mut e.kind {
            let w = std::sync::Arc::make_mut(w);
            w.data.push("Resource", resource);
            w.data.push("Username", r"CONTOSO\alice");
        }
        e
    }

    fn accept_row(millis: i64, host: &str) -> Event {
        Event {
            file: Arc::from("server.pml"),
            record: millis as u64,
            time: Some(jiff::Timestamp::from_millisecond(1_704_067_200_000 + millis).unwrap()),
            kind: EventKind::Procmon(Box::new(crate::model::ProcmonRow {
                process: "svchost.exe".into(),
                operation: "TCP Accept".into(),
                text: crate::model::RowText::with_network(
                    "RDS01:ms-wbt-server -> 10.0.0.5:50123",
                    "",
                ),
                computer: Some(Arc::from(host)),
                ..crate::model::ProcmonRow::default()
            })),
            marks: Default::default(),
        }
    }

    #[test]
    fn a_gateway_is_estimated_from_its_302_and_303() {
        // The client connects to RDS01 at 1 s (1025) and drops at 5 s (1026); the gateway,
        // 90 s ahead, logs 302 at 91.2 s and 303 at 95.1 s for resource RDS01.
        let mut events = attempt(0, "{A}");
        events.push(gateway(302, 91_200, "RDS01.contoso.com"));
        events.push(gateway(303, 95_100, "RDS01.contoso.com"));
        // Another user's resource on the same gateway is not a pair for this connection.
        events.push(gateway(302, 30_000, "RDS07.contoso.com"));
        let skews = estimated(&events);
        assert_eq!(skews.len(), 1, "{skews:?}");
        let s = &skews[0];
        assert_eq!(s.host, "GW01.contoso.com");
        assert_eq!(s.pairs, 2);
        assert_eq!(s.offset, Some(SignedDuration::from_millis(90_200)));
        assert!(s.applied, "{}", s.note);
        assert!(s.note.contains("gateway 302/303"), "{}", s.note);
        apply(&mut events, &skews);
        assert_eq!(
            events[4].time,
            Some(jiff::Timestamp::from_millisecond(1_704_067_204_900).unwrap())
        );
    }

    #[test]
    fn procmon_accept_and_connect_rows_are_clock_pairs_and_move_with_their_host() {
        // No server events at all: only the server's own capture of its TCP Accept, 60 s
        // ahead of the client's 1025.
        let mut events = attempt(0, "{A}");
        events.push(accept_row(61_050, "RDS01"));
        let skews = estimated(&events);
        assert_eq!(skews.len(), 1, "{skews:?}");
        assert_eq!(skews[0].offset, Some(SignedDuration::from_millis(60_050)));
        assert!(skews[0].applied, "{}", skews[0].note);
        apply(&mut events, &skews);
        assert_eq!(
            events[3].time,
            Some(jiff::Timestamp::from_millisecond(1_704_067_201_000).unwrap())
        );
        // A client Procmon TCP Connect with no 1025 logged beside it pairs with a 261.
        let mut connect = accept_row(0, "WS");
        if let EventKind::Procmon(p) = &mut connect.kind {
            p.process = "mstsc.exe".into();
            p.operation = "TCP Connect".into();
            p.computer = None;
            p.text
                .set_path("WS:50123 -> RDS01.contoso.com:ms-wbt-server");
        }
        connect.time = Some(jiff::Timestamp::from_second(1_704_067_200 + 600).unwrap());
        let mut events = attempt(0, "{A}");
        events.push(connect);
        events.push(server(RCM, 261, 1_300, "RDS01"));
        events.push(server(RCM, 261, 600_400, "RDS01"));
        let skews = estimated(&events);
        assert_eq!(skews[0].pairs, 2, "{}", skews[0].note);
        assert!(
            skews[0].note.contains("Procmon TCP Connect"),
            "{}",
            skews[0].note
        );
    }
}
