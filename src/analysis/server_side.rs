//! The server's side of a connection (DOMAIN.md §7), and which client connection it was.
//!
//! On the server one connection is: accepted (RdpCoreTS 131 with the client's address, RCM 261
//! for the listener) → user authenticated (RCM 1149: user and client address) → logon, shell
//! start or reconnection to a session (LSM 21/22/25: session id, address, user) → the session
//! disconnected (LSM 24; LSM 40 with a reason code) or logged off (LSM 23). Which events play
//! which part, and which data fields hold the address, session, user and reason, is the rule
//! pack's domain declaration (`accept`, `server ...`); nothing here names a provider or an id.
//!
//! Events are grouped per server host in time order: an accept joins the accept of another
//! kind just before it (131 then 261), or the authenticated connection from the same address
//! it adds a transport to (RdpCoreTS logs a 131 for the UDP transport too); an authentication joins the latest connection on that
//! host not yet authenticated with the same client address (or none known) that began within
//! [`AUTH_WITHIN`]; a logon joins the open connection holding its session, else the latest
//! one with no session yet from the same address; a disconnect or logoff joins the connection
//! holding its session. An event that joins nothing starts a server connection of its own (an
//! old session's disconnect, a log that begins mid-connection).
//!
//! [`tie`] then pairs each client connection with the server connection of the same attempt:
//! on the server the client named, whose accept lies within [`TIE_ACCEPT`] of the client's
//! transport (or start), once both are on the client's clock (`clock.rs` runs first). When two
//! are equally near, the one from the client's own address wins: the address that the client's
//! unambiguous connections reached the server from.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};

use super::connection::{Connection, Phase, host_class, same_host};
use crate::model::Event;
use crate::rules::Domain;
use crate::rules::domain::ServerRole;
use crate::rules::template::bounded;

/// An accept of another kind this soon after an accept is the same connection (131 then 261).
pub const ACCEPT_JOIN: SignedDuration = SignedDuration::from_secs(5);
/// How long after its first event a server connection can still authenticate.
pub const AUTH_WITHIN: SignedDuration = SignedDuration::from_secs(60);
/// How long after its last event a connection with no session yet can still log on.
pub const LOGON_WITHIN: SignedDuration = SignedDuration::from_secs(120);
/// End events of one session this close together are one end (LSM 24, then 40 with a reason).
pub const END_JOIN: SignedDuration = SignedDuration::from_secs(10);
/// How far a server's accept may lie from the client's transport event to be the same attempt.
pub const TIE_ACCEPT: SignedDuration = SignedDuration::from_secs(10);
/// A server connection seen only from its authentication or logon: that far after the client's
/// transport event at most.
pub const TIE_LATER: SignedDuration = SignedDuration::from_secs(60);
/// How far back the grouping looks for a connection to join, in time and in connections:
/// bounds the work on long logs and on floods (a brute force logs thousands of accepts a
/// minute), where the one to join is among the latest anyway.
const LOOK_BACK: SignedDuration = SignedDuration::from_secs(300);
const LOOK_BACK_CONNECTIONS: usize = 256;

/// How a server connection ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEnd {
    pub time: Option<Timestamp>,
    /// Logged off (the session is gone), rather than disconnected (it lives on).
    pub logoff: bool,
    /// The reason code the end event carries, and its documented meaning when the domain
    /// declares one.
    pub reason: Option<(String, Option<String>)>,
}

/// One connection as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConnection {
    pub host: String,
    /// The client's address (without its port).
    pub address: Option<String>,
    pub user: Option<String>,
    pub session: Option<String>,
    pub accepted: Option<Timestamp>,
    pub authenticated: Option<Timestamp>,
    pub logon: Option<Timestamp>,
    pub end: Option<ServerEnd>,
    /// What it reached, as (role, event id), in the order first seen, without repeats.
    pub reached: Vec<(ServerRole, u32)>,
    /// Its events, as indexes, in time order.
    pub events: Vec<usize>,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// `host`'s first label, lowercase: what grouping compares.
    key: String,
}

impl ServerConnection {
    fn new(host: &str) -> Self {
        ServerConnection {
            key: host_key(host),
            host: bounded(host),
            address: None,
            user: None,
            session: None,
            accepted: None,
            authenticated: None,
            logon: None,
            end: None,
            reached: Vec::new(),
            events: Vec::new(),
            first: None,
            last: None,
        }
    }

    /// The moment it can be tied at, and how far after the client's transport event it may
    /// lie: its accept, else its authentication or logon.
    fn tie_moment(&self) -> Option<(Timestamp, SignedDuration)> {
        match self.accepted {
            Some(t) => Some((t, TIE_ACCEPT)),
            None => Some((self.authenticated.or(self.logon)?, TIE_LATER)),
        }
    }

    /// The event ids it reached in `role`, as `131/261`.
    pub fn ids(&self, role: ServerRole) -> Vec<u32> {
        self.reached
            .iter()
            .filter(|(r, _)| *r == role)
            .map(|(_, id)| *id)
            .collect()
    }

    /// Does its life (first to last event) come within `slack` of `from..=to`?
    pub fn overlaps(&self, from: Timestamp, to: Timestamp, slack: SignedDuration) -> bool {
        let (Some(first), Some(last)) = (self.first, self.last) else {
            return true;
        };
        let from = from.checked_sub(slack).unwrap_or(from);
        let to = to.checked_add(slack).unwrap_or(to);
        first <= to && last >= from
    }
}

/// A client address without its port: `10.0.0.5:50123` → `10.0.0.5`, `[fe80::1]:3389` →
/// `fe80::1`; a bare IPv6 address stays whole.
pub fn address_host(a: &str) -> &str {
    let a = a.trim();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match a.rsplit_once(':') {
        Some((h, p))
            if !h.contains(':') && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            h
        }
        _ => a,
    }
}

/// The account part of a user name, lowercase: `CONTOSO\alice`, `alice@contoso.com` and
/// `alice` are all `alice`.
pub fn account(user: &str) -> String {
    let u = user.trim();
    let u = u.rsplit('\\').next().unwrap_or(u);
    let u = u.split('@').next().unwrap_or(u);
    u.to_lowercase()
}

/// Do two user names name the same account? Only said when both are known.
pub fn same_user(a: &str, b: &str) -> bool {
    let (a, b) = (account(a), account(b));
    !a.is_empty() && a == b
}

fn host_key(h: &str) -> String {
    h.split('.').next().unwrap_or("").to_ascii_lowercase()
}

fn within(a: Option<Timestamp>, b: Option<Timestamp>, d: SignedDuration) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => b.duration_since(a).abs() <= d,
        _ => false,
    }
}

fn address_fits(c: &ServerConnection, address: Option<&str>) -> bool {
    match (c.address.as_deref(), address) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => true,
    }
}

/// What one server event brings to its connection.
struct Seen<'e> {
    index: usize,
    time: Option<Timestamp>,
    role: ServerRole,
    id: u32,
    address: Option<&'e str>,
    session: Option<&'e str>,
    user: Option<&'e str>,
    reason: Option<&'e str>,
}

/// Group the server events of `events` into server connections, in time order.
pub fn server_connections(events: &[Event], domain: &Domain) -> Vec<ServerConnection> {
    let mut order = super::positions(events, |e| {
        e.win().is_some_and(|w| domain.server_event(w).is_some())
    });
    order.sort_by(|&a, &b| crate::rules::engine::event_order(events, a, b));
    let mut out: Vec<ServerConnection> = Vec::new();
    // (host, session) → the connection holding that session most recently.
    let mut by_session: HashMap<(String, String), usize> = HashMap::new();
    // Host key → its connections, oldest first (see `latest`).
    let mut by_host: HashMap<String, Vec<usize>> = HashMap::new();
    for i in order {
        let e = &events[i];
        let Some(w) = e.win() else { continue };
        let Some(decl) = domain.server_event(w) else {
            continue;
        };
        let seen = Seen {
            index: i,
            time: e.time,
            role: decl.role,
            id: w.event_id,
            address: decl.get(w, "address").map(address_host),
            session: decl.get(w, "session"),
            user: decl.get(w, "user"),
            reason: decl.get(w, "reason"),
        };
        let host: &str = &w.computer;
        let key = host_key(host);
        let held = seen
            .session
            .and_then(|s| by_session.get(&(key.clone(), s.to_string())).copied());
        let joined = match seen.role {
            ServerRole::Accept => latest(&out, by_host.get(&key), seen.time, |c| {
                // Another kind of accept of the same connection (131 then 261) ...
                let companion = !c.reached.contains(&(ServerRole::Accept, seen.id))
                    && c.authenticated.is_none()
                    && c.session.is_none()
                    && address_fits(c, seen.address)
                    && within(c.accepted, seen.time, ACCEPT_JOIN);
                // ... or a second transport (UDP) of an authenticated, open connection from
                // the same address.
                let transport = seen.address.is_some()
                    && c.address.as_deref() == seen.address
                    && c.authenticated.is_some()
                    && c.end.is_none()
                    && within(c.first, seen.time, AUTH_WITHIN);
                c.accepted.is_some() && (companion || transport)
            }),
            ServerRole::Authenticated => {
                let open = |c: &ServerConnection| {
                    c.authenticated.is_none()
                        && c.session.is_none()
                        && c.end.is_none()
                        && within(c.first, seen.time, AUTH_WITHIN)
                };
                // The same client address first; else a connection whose address is unknown.
                latest(&out, by_host.get(&key), seen.time, |c| {
                    open(c) && seen.address.is_some() && c.address.as_deref() == seen.address
                })
                .or_else(|| {
                    latest(&out, by_host.get(&key), seen.time, |c| {
                        open(c) && c.address.is_none()
                    })
                })
            }
            ServerRole::Logon => held.filter(|&c| out[c].end.is_none()).or_else(|| {
                latest(&out, by_host.get(&key), seen.time, |c| {
                    c.session.is_none()
                        && c.end.is_none()
                        && address_fits(c, seen.address)
                        && within(c.last, seen.time, LOGON_WITHIN)
                })
            }),
            ServerRole::Disconnect | ServerRole::Logoff => held.filter(|&c| {
                out[c]
                    .end
                    .as_ref()
                    .is_none_or(|end| within(end.time, seen.time, END_JOIN))
            }),
        };
        let at = match joined {
            Some(c) => c,
            None => {
                out.push(ServerConnection::new(host));
                by_host.entry(key.clone()).or_default().push(out.len() - 1);
                out.len() - 1
            }
        };
        let c = &mut out[at];
        add(c, &seen, domain);
        if let Some(s) = &c.session {
            by_session.insert((key, s.clone()), at);
        }
    }
    out
}

/// The latest connection on a host that `fits`, among the last [`LOOK_BACK_CONNECTIONS`]
/// opened (on any host) and those that began within [`LOOK_BACK`] of `t`. `on_host` are the
/// host's connections, oldest first. Events come in time order (timeless ones last), so the
/// connections' first times never decrease: once one began too early, every older one did.
/// Walking only the host's own connections gives the answer a walk over all of them would,
/// without passing every other host's (a corpus of many servers' logs has thousands).
fn latest(
    out: &[ServerConnection],
    on_host: Option<&Vec<usize>>,
    t: Option<Timestamp>,
    fits: impl Fn(&ServerConnection) -> bool,
) -> Option<usize> {
    let oldest = out.len().saturating_sub(LOOK_BACK_CONNECTIONS);
    // Began more than LOOK_BACK before `t` = began before this instant (exact: both are
    // nanosecond counts); none can be that early when `t` is within LOOK_BACK of the minimum.
    // One comparison of instants per connection walked, not a duration computed.
    let cutoff = t.and_then(|t| t.checked_sub(LOOK_BACK).ok());
    for &i in on_host?.iter().rev() {
        let c = &out[i];
        if i < oldest {
            break;
        }
        if let (Some(first), Some(cutoff)) = (c.first, cutoff)
            && first < cutoff
        {
            break;
        }
        if fits(c) {
            return Some(i);
        }
    }
    None
}

fn add(c: &mut ServerConnection, seen: &Seen<'_>, domain: &Domain) {
    let t = seen.time;
    if c.first.is_none() {
        c.first = t;
    }
    c.last = t.or(c.last);
    if c.address.is_none() {
        c.address = seen.address.map(bounded);
    }
    if c.session.is_none() {
        c.session = seen.session.map(bounded);
    }
    if c.user.is_none() {
        c.user = seen.user.map(bounded);
    }
    match seen.role {
        ServerRole::Accept => c.accepted = c.accepted.or(t),
        ServerRole::Authenticated => c.authenticated = c.authenticated.or(t),
        ServerRole::Logon => c.logon = c.logon.or(t),
        ServerRole::Disconnect | ServerRole::Logoff => {
            let reason = seen.reason.map(|r| {
                let meaning = domain.reason_meaning(r).map(str::to_string);
                (r.to_string(), meaning)
            });
            match &mut c.end {
                None => {
                    c.end = Some(ServerEnd {
                        time: t,
                        logoff: seen.role == ServerRole::Logoff,
                        reason,
                    })
                }
                Some(end) => {
                    end.logoff |= seen.role == ServerRole::Logoff;
                    if end.reason.is_none() {
                        end.reason = reason;
                    }
                }
            }
        }
    }
    if !c.reached.contains(&(seen.role, seen.id)) {
        c.reached.push((seen.role, seen.id));
    }
    c.events.push(seen.index);
}

/// Tie each client connection to its server connection (`Connection::server_side`), one to
/// one: nearest first, the client's own address preferred.
///
/// What it decides is the greedy matching over every possible pair (on the server the client
/// named, within the window), taken in the order (foreign address, distance, client, server).
/// The pairs are never listed (a burst of thousands of connections within seconds is millions
/// of them): each client walks its possible servers outward from its moment, nearest first
/// and already tied ones skipped, and offers only the nearest one left; the nearest offer of
/// all is taken first, and a client whose offer was taken meanwhile walks on. That is the same
/// order as sorting every pair, with one offer per client held at a time. Taken servers are
/// skipped in runs (`Skip`); servers of the other tier (foreign or not) are stepped over one at
/// a time, which only a client whose machine has learned addresses does.
pub fn tie(conns: &mut [Connection], servers: &[ServerConnection]) {
    tie_holding(conns, servers);
}

/// What each tied connection's server side reached, as its phase: the client logs no
/// milestone between its transport and its logon, while its server logs the user's
/// authentication (TLS and CredSSP done) and the logon itself. A connection whose server
/// logged them is at least `authenticated`, or `established session`; the client's own
/// milestones are never lowered.
pub fn phase_from_server(conns: &mut [Connection], servers: &[ServerConnection]) {
    for c in conns.iter_mut() {
        let Some(s) = c.server_side.and_then(|s| servers.get(s)) else {
            continue;
        };
        let reached = if s.logon.is_some() {
            Phase::Established
        } else if s.authenticated.is_some() {
            Phase::Authenticated
        } else {
            continue;
        };
        c.phase = c.phase.max(reached);
    }
}

/// At most this many accepts on each side of a client connection's moment are offered to it
/// by [`tie_unknown_names`]: a scanner's flood of accepts costs no pair per accept.
const UNKNOWN_NAME_OFFERS: usize = 16;

/// Tie the client connections [`tie`] could not, made to a name no session host here goes by
/// (an address, a DNS alias, a public name), to the accept the one session host logged within
/// [`TIE_ACCEPT`] of their transport event. Said only when every accept in that window is one
/// host's, and the name is no computer whose logs are here (a server whose connection logs
/// are missing is not another's); ties are one to one, nearest first, and never take a server
/// connection already tied.
pub fn tie_unknown_names(conns: &mut [Connection], servers: &[ServerConnection], events: &[Event]) {
    let hosts: std::collections::HashSet<(bool, String)> = servers
        .iter()
        .filter(|s| !s.host.is_empty())
        .map(|s| host_class(&s.host))
        .collect();
    let unknown = |c: &Connection| {
        c.server_side.is_none()
            && c.server
                .as_deref()
                .is_some_and(|n| !n.trim().is_empty() && !hosts.contains(&host_class(n)))
            && c.transport_up.or(c.start).is_some()
    };
    if !conns.iter().any(unknown) {
        return;
    }
    let mut logged = std::collections::HashSet::new();
    let mut last = "";
    for w in events.iter().filter_map(Event::win) {
        if !w.computer.is_empty() && &*w.computer != last {
            last = &w.computer;
            logged.insert(host_class(last));
        }
    }
    let mut taken = vec![false; servers.len()];
    for si in conns.iter().filter_map(|c| c.server_side) {
        if let Some(t) = taken.get_mut(si) {
            *t = true;
        }
    }
    let mut accepts: Vec<(Timestamp, usize)> = servers
        .iter()
        .enumerate()
        .filter(|&(si, s)| !taken[si] && !s.host.is_empty())
        .filter_map(|(si, s)| Some((s.accepted?, si)))
        .collect();
    accepts.sort_unstable();
    // Where each accept's run of accepts on one host ends (exclusive), found once: whether a
    // window holds one host's accepts only is then one comparison, not a walk over a flood.
    let mut run_end = vec![accepts.len(); accepts.len()];
    for i in (0..accepts.len().saturating_sub(1)).rev() {
        let (a, b) = (accepts[i].1, accepts[i + 1].1);
        run_end[i] = if same_host(&servers[a].host, &servers[b].host) {
            run_end[i + 1]
        } else {
            i + 1
        };
    }
    let mut pairs: Vec<(SignedDuration, usize, usize)> = Vec::new();
    for (ci, c) in conns.iter().enumerate() {
        let (Some(name), Some(moment)) = (c.server.as_deref(), c.transport_up.or(c.start)) else {
            continue;
        };
        if !unknown(c) || logged.contains(&host_class(name)) {
            continue;
        }
        let from = moment.checked_sub(TIE_ACCEPT).unwrap_or(moment);
        let to = moment.checked_add(TIE_ACCEPT).unwrap_or(moment);
        let lo = accepts.partition_point(|&(t, _)| t < from);
        let at = accepts.partition_point(|&(t, _)| t < moment);
        let hi = accepts.partition_point(|&(t, _)| t <= to);
        let one_host = lo < hi && run_end[lo] >= hi;
        if !one_host {
            continue;
        }
        let near = accepts[lo.max(at.saturating_sub(UNKNOWN_NAME_OFFERS))..at]
            .iter()
            .chain(&accepts[at..hi.min(at + UNKNOWN_NAME_OFFERS)]);
        pairs.extend(near.map(|&(t, si)| (t.duration_since(moment).abs(), ci, si)));
    }
    pairs.sort_unstable();
    for (_, ci, si) in pairs {
        if conns[ci].server_side.is_none() && !taken[si] {
            taken[si] = true;
            conns[ci].server_side = Some(si);
        }
    }
}

/// Which indexes of a list are taken, as a way to the next one that is not: each index points
/// at itself while free and past itself once taken (the last, one past the end, never is);
/// `find` follows and shortens the way (path halving), so walks skip taken runs in about
/// constant time each.
struct Skip(Vec<usize>);

impl Skip {
    fn new(len: usize) -> Self {
        Skip((0..=len).collect())
    }
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn take(&mut self, i: usize) {
        self.0[i] = i + 1;
    }
}

/// One server name's tie moments (`ServerConnection::tie_moment`) in the three orders a
/// client walks them from its moment: 0 all, latest first (for those before the moment); 1
/// accepts and 2 the others (seen only from a later event), earliest first. Equal times:
/// lowest index first.
#[derive(Default)]
struct Lane {
    lists: [Vec<(Timestamp, usize)>; 3],
    skips: [Skip; 3],
}

impl Default for Skip {
    fn default() -> Self {
        Skip::new(0)
    }
}

/// A client connection's walk: its lane, moment, earliest server moment, and in each list
/// where its window starts and where the walk has got to.
struct Walk {
    lane: usize,
    moment: Timestamp,
    from: Timestamp,
    start: [usize; 3],
    at: [usize; 3],
}

/// Is `t` within the window of a walk from `moment` in list `k`? The window: from `from`
/// (`TIE_ACCEPT` before) to `TIE_ACCEPT` after for accepts, `TIE_LATER` for the others.
fn in_window(k: usize, t: Timestamp, w: &Walk) -> bool {
    match k {
        0 => t >= w.from,
        1 => t.duration_since(w.moment) <= TIE_ACCEPT,
        _ => t.duration_since(w.moment) <= TIE_LATER,
    }
}

/// How many of a lane's client connections (moment, window start; by moment) could be tied to
/// a server connection at `t` that may lie `after` after their moment: those whose window
/// starts by `t` and whose moment is at most `after` before it. The window starts
/// `TIE_ACCEPT` before the moment, or at it for a moment too early to subtract from (those
/// come first): in each part both conditions bound a range.
fn clients_within(
    clients: &[(Timestamp, Timestamp)],
    t: Timestamp,
    after: SignedDuration,
) -> usize {
    let early = clients.partition_point(|(moment, from)| from == moment);
    let (a, b) = clients.split_at(early);
    [a, b]
        .iter()
        .map(|part| {
            let first = part.partition_point(|&(moment, _)| t.duration_since(moment) > after);
            let end = part.partition_point(|&(_, from)| from <= t);
            end.saturating_sub(first)
        })
        .sum()
}

/// `tie`; returns the most offers held at once (one per client connection at most).
fn tie_holding(conns: &mut [Connection], servers: &[ServerConnection]) -> usize {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Server connections by the name they are on (as `same_host` compares it) and moment.
    let mut lanes: Vec<Lane> = Vec::new();
    let mut lane_of: HashMap<(bool, String), usize> = HashMap::new();
    // Where each server connection is in its lane's lists 0 and (1 or 2).
    let mut place: Vec<Option<(usize, usize, usize, usize)>> = vec![None; servers.len()];
    for (si, s) in servers.iter().enumerate() {
        let Some((t, after)) = s.tie_moment() else {
            continue;
        };
        if s.host.is_empty() {
            continue;
        }
        let next = lanes.len();
        let lane = *lane_of.entry(host_class(&s.host)).or_insert(next);
        if lane == next {
            lanes.push(Lane::default());
        }
        let k = if after == TIE_ACCEPT { 1 } else { 2 };
        lanes[lane].lists[0].push((t, si));
        lanes[lane].lists[k].push((t, si));
    }
    for (l, lane) in lanes.iter_mut().enumerate() {
        lane.lists[0].sort_by_key(|&(t, si)| (Reverse(t), si));
        for k in 0..3 {
            if k > 0 {
                lane.lists[k].sort();
            }
            lane.skips[k] = Skip::new(lane.lists[k].len());
            for (i, &(_, si)) in lane.lists[k].iter().enumerate() {
                let p = place[si].get_or_insert((l, 0, 0, 0));
                if k == 0 {
                    p.1 = i;
                } else {
                    (p.2, p.3) = (k, i);
                }
            }
        }
    }
    // Each client connection's window in its lane.
    let mut walks: Vec<Option<Walk>> = conns
        .iter()
        .map(|c| {
            let (name, moment) = (c.server.as_deref()?, c.transport_up.or(c.start)?);
            let lane = *lane_of.get(&host_class(name))?;
            let lists = &lanes[lane].lists;
            let start = [
                lists[0].partition_point(|(t, _)| *t >= moment),
                lists[1].partition_point(|(t, _)| *t < moment),
                lists[2].partition_point(|(t, _)| *t < moment),
            ];
            let from = moment.checked_sub(TIE_ACCEPT).unwrap_or(moment);
            Some(Walk {
                lane,
                moment,
                from,
                start,
                at: start,
            })
        })
        .collect();
    // Each lane's client connections, as (moment, window start), by moment.
    let mut by_lane: Vec<Vec<(Timestamp, Timestamp)>> = vec![Vec::new(); lanes.len()];
    for w in walks.iter().flatten() {
        by_lane[w.lane].push((w.moment, w.from));
    }
    for clients in &mut by_lane {
        clients.sort();
    }
    // The addresses each client reached its servers from, where only one pair was possible.
    let mut learned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (ci, w) in walks.iter().enumerate() {
        let Some(w) = w else { continue };
        let lists = &lanes[w.lane].lists;
        let mut only = None;
        let mut count = 0;
        for (k, list) in lists.iter().enumerate() {
            let end = list.partition_point(|&(t, _)| in_window(k, t, w));
            let end = end.max(w.start[k]);
            count += end - w.start[k];
            if end > w.start[k] {
                only = Some(list[w.start[k]].1);
            }
        }
        if count == 1
            && let Some(si) = only
            && let Some(a) = &servers[si].address
            && let Some((t, after)) = servers[si].tie_moment()
            && clients_within(&by_lane[w.lane], t, after) == 1
        {
            learned
                .entry(host_key(&conns[ci].client))
                .or_default()
                .insert(a.to_ascii_lowercase());
        }
    }
    let known: Vec<Option<&BTreeSet<String>>> = conns
        .iter()
        .map(|c| learned.get(&host_key(&c.client)))
        .collect();
    let addresses: Vec<Option<String>> = servers
        .iter()
        .map(|s| s.address.as_ref().map(|a| a.to_ascii_lowercase()))
        .collect();
    let foreign = |ci: usize, si: usize| match (&addresses[si], known[ci]) {
        (Some(a), Some(known)) => {
            !known.contains(a)
                && !same_host(
                    &conns[ci].client,
                    servers[si].address.as_deref().unwrap_or(""),
                )
        }
        _ => false,
    };
    // The nearest server left to a client in `tier`, walking on past those taken or not in it.
    let offer = |lanes: &mut [Lane], ci: usize, w: &mut Walk, tier: bool| {
        let lane = &mut lanes[w.lane];
        let mut best: Option<(SignedDuration, usize)> = None;
        for k in 0..3 {
            loop {
                let i = lane.skips[k].find(w.at[k]);
                w.at[k] = i;
                let Some(&(t, si)) = lane.lists[k].get(i) else {
                    break;
                };
                if !in_window(k, t, w) {
                    break;
                }
                if foreign(ci, si) != tier {
                    w.at[k] = i + 1;
                    continue;
                }
                let d = t.duration_since(w.moment).abs();
                best = Some(match best {
                    Some(b) if b <= (d, si) => b,
                    _ => (d, si),
                });
                break;
            }
        }
        best
    };
    let mut held = 0;
    let mut taken = vec![false; servers.len()];
    let mut tied = vec![None; walks.len()];
    for tier in [false, true] {
        let mut offers = BinaryHeap::new();
        for (ci, w) in walks.iter_mut().enumerate() {
            let Some(w) = w else { continue };
            if tier && known[ci].is_none() {
                continue;
            }
            w.at = w.start;
            if let Some((d, si)) = offer(&mut lanes, ci, w, tier) {
                offers.push(Reverse((d, ci, si)));
            }
        }
        held = held.max(offers.len());
        while let Some(Reverse((_, ci, si))) = offers.pop() {
            if taken[si] {
                let Some(w) = &mut walks[ci] else { continue };
                if let Some((d, si)) = offer(&mut lanes, ci, w, tier) {
                    offers.push(Reverse((d, ci, si)));
                }
                continue;
            }
            taken[si] = true;
            tied[ci] = Some(si);
            walks[ci] = None;
            if let Some((l, i0, k, ik)) = place[si] {
                lanes[l].skips[0].take(i0);
                lanes[l].skips[k].take(ik);
            }
        }
    }
    for (c, si) in conns.iter_mut().zip(tied) {
        c.server_side = si;
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::connection::connections;
    use crate::analysis::connection::tests::client;
    use crate::model::{EventKind, Fields, WinEvent};
    use std::sync::Arc;

    const RCM: &str = "Microsoft-Windows-TerminalServices-RemoteConnectionManager";
    const LSM: &str = "Microsoft-Windows-TerminalServices-LocalSessionManager";
    const CORE: &str = "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS";

    fn server(provider: &str, id: u32, millis: i64, data: &[(&str, &str)]) -> Event {
        let mut fields = Fields::default();
        for (k, v) in data {
            fields.push(*k, *v);
        }
        Event {
            file: Arc::from("server.evtx"),
            record: millis as u64,
            time: Some(Timestamp::from_millisecond(1_704_067_200_000 + millis).unwrap()),
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                provider: provider.into(),
                event_id: id,
                computer: "RDS01.contoso.com".into(),
                data: fields,
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    /// One full server connection from `addr` at `at` ms: 131, 261, 1149, 21, 22, session `s`.
    fn session(at: i64, addr: &str, user: &str, s: &str) -> Vec<Event> {
        vec![
            server(
                CORE,
                131,
                at,
                &[("ClientIP", format!("{addr}:50123").as_str())],
            ),
            server(RCM, 261, at + 40, &[("listenerName", "RDP-Tcp")]),
            server(
                RCM,
                1149,
                at + 2_000,
                &[("Param1", user), ("Param2", "CONTOSO"), ("Param3", addr)],
            ),
            server(
                LSM,
                21,
                at + 3_000,
                &[
                    ("User", format!("CONTOSO\\{user}").as_str()),
                    ("SessionID", s),
                    ("Address", addr),
                ],
            ),
            server(
                LSM,
                22,
                at + 3_300,
                &[
                    ("User", format!("CONTOSO\\{user}").as_str()),
                    ("SessionID", s),
                    ("Address", addr),
                ],
            ),
        ]
    }

    #[test]
    fn groups_by_address_and_session_and_decodes_the_end() {
        let mut events = session(0, "10.0.0.5", "alice", "3");
        // bob connects from another address half a second later: interleaved, not mixed up.
        events.extend(session(500, "10.0.0.9", "bob", "4"));
        events.push(server(
            LSM,
            24,
            600_000,
            &[
                ("User", "CONTOSO\\alice"),
                ("SessionID", "3"),
                ("Address", "10.0.0.5"),
            ],
        ));
        events.push(server(
            LSM,
            40,
            600_050,
            &[("Session", "3"), ("Reason", "5")],
        ));
        // An old session's end with nothing else of it in the log: a connection of its own.
        events.push(server(
            LSM,
            40,
            700_000,
            &[("Session", "9"), ("Reason", "11")],
        ));
        let s = server_connections(&events, Domain::builtin());
        assert_eq!(s.len(), 3, "{s:#?}");
        let alice = &s[0];
        assert_eq!(alice.address.as_deref(), Some("10.0.0.5"));
        assert_eq!(alice.user.as_deref(), Some("alice"));
        assert_eq!(alice.session.as_deref(), Some("3"));
        assert!(alice.accepted.is_some() && alice.authenticated.is_some() && alice.logon.is_some());
        assert_eq!(alice.ids(ServerRole::Accept), vec![131, 261]);
        assert_eq!(alice.ids(ServerRole::Logon), vec![21, 22]);
        assert_eq!(alice.ids(ServerRole::Disconnect), vec![24, 40]);
        let end = alice.end.as_ref().unwrap();
        assert!(!end.logoff);
        assert_eq!(
            end.reason,
            Some(("5".into(), Some("replaced by another connection".into())))
        );
        assert_eq!(alice.events.len(), 7);
        let bob = &s[1];
        assert_eq!(
            (bob.address.as_deref(), bob.session.as_deref()),
            (Some("10.0.0.9"), Some("4"))
        );
        assert_eq!(bob.events.len(), 5);
        assert!(bob.end.is_none());
        assert_eq!(s[2].session.as_deref(), Some("9"));
        assert!(s[2].accepted.is_none());
        // Input order does not matter.
        let mut rev = events.clone();
        rev.reverse();
        let r = server_connections(&rev, Domain::builtin());
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].session.as_deref(), Some("3"));
    }

    #[test]
    fn a_udp_accept_after_authentication_is_the_same_connection() {
        let mut events = session(0, "10.0.0.5", "alice", "3");
        events.push(server(
            CORE,
            131,
            5_400,
            &[("ClientIP", "[10.0.0.5]:59407")],
        ));
        // A new TCP connection from the same client before the first authenticated would be
        // another connection: here, after it, a retry from another address is one too.
        events.push(server(CORE, 131, 6_000, &[("ClientIP", "10.0.0.6:50000")]));
        let s = server_connections(&events, Domain::builtin());
        assert_eq!(s.len(), 2, "{s:#?}");
        assert_eq!(s[0].events.len(), 6);
        assert_eq!(s[1].address.as_deref(), Some("10.0.0.6"));
    }

    #[test]
    fn a_261_with_no_authentication_stays_unauthenticated() {
        let events = vec![
            server(RCM, 261, 0, &[("listenerName", "RDP-Tcp")]),
            // 90 s later another client authenticates: too late to be the first one's.
            server(RCM, 261, 90_000, &[("listenerName", "RDP-Tcp")]),
            server(
                RCM,
                1149,
                92_000,
                &[("Param1", "bob"), ("Param3", "10.0.0.9")],
            ),
        ];
        let s = server_connections(&events, Domain::builtin());
        assert_eq!(s.len(), 2);
        assert!(s[0].authenticated.is_none());
        assert_eq!(s[1].address.as_deref(), Some("10.0.0.9"));
    }

    #[test]
    fn each_client_connection_is_tied_to_its_own_server_connection() {
        // The client's two attempts to RDS01: at 0 s (transport 1 s) and at 600 s.
        let a = Some("{A}");
        let b = Some("{B}");
        let mut events = vec![
            client(1024, 0, a, Some("RDS01.contoso.com")),
            client(1025, 1, a, None),
            client(1027, 4, a, None),
            client(1026, 300, a, Some("2")),
            client(1024, 600, b, Some("RDS01.contoso.com")),
            client(1025, 601, b, None),
            client(1026, 700, b, Some("2308")),
        ];
        events.extend(session(1_100, "10.0.0.5", "alice", "3"));
        // At 601 s two clients are accepted 100 ms apart; bob's is nearer in time, alice's
        // address is the one her first connection came from.
        events.extend(session(601_050, "10.0.0.9", "bob", "4"));
        events.extend(session(601_150, "10.0.0.5", "alice", "5"));
        let servers = server_connections(&events, Domain::builtin());
        assert_eq!(servers.len(), 3);
        let mut conns = connections(&events, Domain::builtin());
        tie(&mut conns, &servers);
        let tied: Vec<Option<&str>> = conns
            .iter()
            .map(|c| c.server_side.and_then(|s| servers[s].session.as_deref()))
            .collect();
        assert_eq!(tied, vec![Some("3"), Some("5")]);
        // A server connection far from every client attempt is tied to none.
        let far = session(5_000_000, "10.0.0.5", "alice", "7");
        let mut all = events.clone();
        all.extend(far);
        let servers = server_connections(&all, Domain::builtin());
        let mut conns = connections(&all, Domain::builtin());
        tie(&mut conns, &servers);
        assert!(conns.iter().all(|c| c.server_side != Some(3)));
    }

    /// A connection made to an address (or an alias) no host here goes by is tied to the one
    /// session host that accepted a connection within seconds of it; not when two hosts did,
    /// nor when none did then, nor when the name it used is a computer whose own logs are here
    /// (its connection logs missing: another host's accept is not its).
    #[test]
    fn a_connection_to_an_address_is_tied_to_the_one_host_that_accepted_it() {
        let on = |host: &str, mut events: Vec<Event>| {
            for e in &mut events {
                if let EventKind::Win(w) = &mut e.kind {
                    Arc::make_mut(w).computer = host.into();
                }
            }
            events
        };
        let tied_session = |name: &str, extra: Vec<Event>| {
            let a = Some("{A}");
            let mut events = vec![
                client(1024, 0, a, Some(name)),
                client(1025, 1, a, None),
                client(1026, 300, a, Some("2308")),
            ];
            events.extend(extra);
            let servers = server_connections(&events, Domain::builtin());
            let mut conns = connections(&events, Domain::builtin());
            tie(&mut conns, &servers);
            assert!(conns[0].server_side.is_none(), "{name}: tied by name");
            tie_unknown_names(&mut conns, &servers, &events);
            conns[0]
                .server_side
                .and_then(|s| servers[s].session.clone())
        };
        let alice = || session(1_200, "203.0.113.7", "alice", "5");
        for name in ["198.51.100.10", "rds.contoso-hosting.net"] {
            assert_eq!(tied_session(name, alice()).as_deref(), Some("5"), "{name}");
        }
        let mut two_hosts = alice();
        two_hosts.extend(on(
            "RDS02.contoso.com",
            session(3_000, "203.0.113.9", "bob", "9"),
        ));
        assert_eq!(tied_session("198.51.100.10", two_hosts), None);
        let later = session(40_000, "203.0.113.7", "alice", "5");
        assert_eq!(tied_session("198.51.100.10", later), None);
        let mut rds09_logs = alice();
        rds09_logs.extend(on(
            "RDS09.contoso.com",
            vec![server("EventLog", 6005, 100, &[])],
        ));
        assert_eq!(tied_session("RDS09", rds09_logs), None);
    }

    #[test]
    fn a_flood_of_accepts_is_grouped_without_mixing_them_up() {
        // A brute force: 20,000 accepts from 200 addresses within 100 s, none authenticated,
        // and one real connection at the end. Work is bounded (no quadratic look-back).
        let mut events: Vec<Event> = (0..20_000)
            .map(|i| {
                let ip = format!("203.0.113.{}:{}", i % 200, 40_000 + i % 20_000);
                server(CORE, 131, i * 5, &[("ClientIP", ip.as_str())])
            })
            .collect();
        events.extend(session(100_500, "10.0.0.5", "alice", "3"));
        let s = server_connections(&events, Domain::builtin());
        assert_eq!(s.len(), 20_001);
        let alice = s.last().unwrap();
        assert_eq!(alice.session.as_deref(), Some("3"));
        assert_eq!(alice.events.len(), 5);
    }

    /// `tie` as it was: every possible pair listed, then sorted.
    fn tie_every_pair(conns: &mut [Connection], servers: &[ServerConnection]) {
        let mut pairs: Vec<(usize, usize, SignedDuration)> = Vec::new();
        for (ci, c) in conns.iter().enumerate() {
            let (Some(name), Some(m)) = (c.server.as_deref(), c.transport_up.or(c.start)) else {
                continue;
            };
            let from = m.checked_sub(TIE_ACCEPT).unwrap_or(m);
            for (si, s) in servers.iter().enumerate() {
                let Some((t, after)) = s.tie_moment() else {
                    continue;
                };
                let delta = t.duration_since(m);
                if t >= from && delta <= after && same_host(&s.host, name) {
                    pairs.push((ci, si, delta.abs()));
                }
            }
        }
        let mut per_client: BTreeMap<usize, usize> = BTreeMap::new();
        let mut per_server: BTreeMap<usize, usize> = BTreeMap::new();
        for &(ci, si, _) in &pairs {
            *per_client.entry(ci).or_default() += 1;
            *per_server.entry(si).or_default() += 1;
        }
        let mut learned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for &(ci, si, _) in &pairs {
            if per_client[&ci] == 1
                && per_server[&si] == 1
                && let Some(a) = &servers[si].address
            {
                learned
                    .entry(host_key(&conns[ci].client))
                    .or_default()
                    .insert(a.to_ascii_lowercase());
            }
        }
        let foreign = |ci: usize, si: usize| {
            let client = &conns[ci].client;
            match (&servers[si].address, learned.get(&host_key(client))) {
                (Some(a), Some(known)) => {
                    !known.contains(&a.to_ascii_lowercase()) && !same_host(client, a)
                }
                _ => false,
            }
        };
        pairs.sort_by_key(|&(ci, si, d)| (foreign(ci, si), d, ci, si));
        let mut taken = vec![false; servers.len()];
        for c in conns.iter_mut() {
            c.server_side = None;
        }
        for (ci, si, _) in pairs {
            if conns[ci].server_side.is_none() && !taken[si] {
                conns[ci].server_side = Some(si);
                taken[si] = true;
            }
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(1_704_067_200_000 + ms).unwrap()
    }

    fn conn(client: &str, server: &str, start: i64, transport: Option<i64>) -> Connection {
        Connection {
            file: Arc::from("client.evtx"),
            activity_id: None,
            client: client.into(),
            server: Some(server.into()),
            start: Some(at(start)),
            transport_up: transport.map(at),
            logon: None,
            end: None,
            phase: crate::analysis::connection::Phase::Transport,
            server_side: Some(99),
        }
    }

    #[test]
    fn ties_are_what_sorting_every_pair_gave() {
        // Random bursts: clients and servers on three names (one an address), times on a
        // coarse grid so that many are equally near, accepts and later-only server
        // connections, addresses from a few clients' and others'.
        let mut next = crate::rules::testutil::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let names = ["RDS01.contoso.com", "rds01", "RDS02", "10.0.0.7"];
        let clients = ["WS1", "ws1.contoso.com", "WS2", "10.0.0.5"];
        let addrs = ["10.0.0.5", "10.0.0.6", "10.0.0.9", "WS1"];
        for round in 0..1_000 {
            let (n, m) = (1 + next(12) as usize, 1 + next(12) as usize);
            let grid = [1, 500, 5_000, 20_000][round % 4];
            let span = 1 + next(40) * grid;
            let mut conns: Vec<Connection> = (0..n)
                .map(|_| {
                    let start = (next(span) / grid * grid) as i64;
                    let transport = (next(3) > 0).then(|| start + (next(3) * grid) as i64);
                    let name = names[next(4) as usize];
                    conn(clients[next(4) as usize], name, start, transport)
                })
                .collect();
            if next(5) == 0 {
                conns[0].server = None;
            }
            let servers: Vec<ServerConnection> = (0..m)
                .map(|_| {
                    let mut s = ServerConnection::new(names[next(4) as usize]);
                    let t = at((next(span) / grid * grid) as i64);
                    match next(4) {
                        0 => s.authenticated = Some(t),
                        1 => s.logon = Some(t),
                        2 => {}
                        _ => s.accepted = Some(t),
                    }
                    s.accepted = s.accepted.or((next(2) == 0).then_some(t));
                    if next(4) > 0 {
                        s.address = Some(addrs[next(4) as usize].into());
                    }
                    s
                })
                .collect();
            let mut want = conns.clone();
            tie_every_pair(&mut want, &servers);
            let held = tie_holding(&mut conns, &servers);
            assert!(held <= n);
            let got: Vec<_> = conns.iter().map(|c| c.server_side).collect();
            let want: Vec<_> = want.iter().map(|c| c.server_side).collect();
            assert_eq!(got, want, "round {round}: {conns:#?} {servers:#?}");
        }
    }

    #[test]
    fn a_burst_holds_one_offer_per_client_not_one_per_pair() {
        // 2,000 attempts and 2,000 accepts within 2 s, all possible pairs (4 million): each
        // client is tied to the accept at its own moment, holding one offer at a time.
        let conns: Vec<Connection> = (0..2_000)
            .map(|i| conn("WS1", "RDS01.contoso.com", i, None))
            .collect();
        let servers: Vec<ServerConnection> = (0..2_000)
            .map(|i| {
                let mut s = ServerConnection::new("RDS01.contoso.com");
                s.accepted = Some(at(2_000 - 1 - i));
                s
            })
            .collect();
        let mut got = conns.clone();
        let held = tie_holding(&mut got, &servers);
        assert!(held <= 2_000, "{held}");
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, c)| c.server_side == Some(2_000 - 1 - i))
        );
    }

    #[test]
    fn names_group_as_same_host_compares_them() {
        use crate::analysis::connection::host_class;
        let names = [
            "",
            "RDS01",
            "rds01.contoso.com",
            "RDS01.fabrikam",
            "rds02",
            ".x",
            "10.0.0.5",
            "10.0.0.5 ",
            "10",
            "fe80::1",
            "FE80::1",
            "[fe80::1]",
            "rds01.",
            "Rds01",
        ];
        for a in names {
            for b in names {
                let grouped = !a.is_empty() && host_class(a) == host_class(b);
                assert_eq!(same_host(a, b), grouped, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn addresses_and_users_compare_by_what_they_name() {
        assert_eq!(address_host("10.0.0.5:50123"), "10.0.0.5");
        assert_eq!(address_host("[fe80::1]:3389"), "fe80::1");
        assert_eq!(address_host("fe80::1"), "fe80::1");
        assert_eq!(address_host("10.0.0.5"), "10.0.0.5");
        assert!(same_user(r"CONTOSO\Alice", "alice"));
        assert!(same_user("alice@contoso.com", r"CONTOSO\alice"));
        assert!(!same_user(r"CONTOSO\bob", "alice"));
        assert!(!same_user("", ""));
    }
}
