//! What ranking knows about each 0x904: its connection, the server connection tied to it,
//! and the gateway leg its events name. A finding about another connection than every
//! 0x904's does not count for a cause, and TLS evidence logged before that connection's
//! logon, or during the established session the 0x904 ended, is disproved by it
//! ([`super::rank`]).

use std::collections::{HashMap, HashSet};

use jiff::{SignedDuration, Timestamp};

use super::connection::{Connection, Phase, host_class, same_host};
use super::server_side::{ServerConnection, account, same_user};
use crate::model::Event;
use crate::rules::{AnchorWindow, Domain, Evaluation, Finding, Proximity, Side};

/// Why a finding of a handshake cause cannot explain the 0x904 ([`AnchorConnections::disproves`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Disproof {
    /// Logged before the 0x904's connection reached logon on that server: the handshake and
    /// its certificate worked after it.
    BeforeLogon,
    /// Logged during the established session the 0x904 ended: that session's handshake was
    /// done, so what failed then was another connection's.
    InSession,
    /// Followed by a successful logon to that server before the 0x904's connection began (or,
    /// with no 0x904 in the logs, at all): a broken state repaired by then.
    Repaired,
    /// Logged after a successful logon to that server that came after the 0x904: the broken
    /// state it shows began after the 0x904, which it cannot explain.
    Later,
    /// A lasting state first logged more than [`LONG_AFTER`] after the 0x904 by a server whose
    /// log was already running at the 0x904: a broken key or protocol fails every handshake,
    /// each logged as it happens, so the state began after the 0x904.
    LongAfter,
}

/// How long after a 0x904 a lasting state's first sign on a server whose log covers the 0x904
/// shows the state began later: well past any clock difference between domain computers.
pub(super) const LONG_AFTER: SignedDuration = SignedDuration::from_secs(15 * 60);

/// The 0x904 anchors with their connections: what the ranking knows about each.
pub struct AnchorConnections<'a> {
    /// (anchor event index, its connection)
    pub list: Vec<(usize, &'a Connection)>,
    /// Each anchor's time, by its event index, as the evaluation placed findings against it.
    times: HashMap<usize, Timestamp>,
    /// The timed anchors of the connections that reached each server (the one named, the one
    /// tied), by the server's [`host_class`], in time order: what
    /// [`Self::placed_on_own_server`] searches, in a look-up and a binary search.
    by_host: HashMap<(bool, String), Vec<(Timestamp, usize)>>,
    servers: &'a [ServerConnection],
    /// Event index → the server connection it belongs to.
    member: HashMap<usize, usize>,
    /// The server connections some client connection is tied to.
    tied: HashSet<usize>,
    /// (gateway host, activity id) → the resource and user any of its events names: a
    /// gateway's events of one connection share an activity id, and not all of them name both.
    gateway: HashMap<(String, String), GatewayLeg<'a>>,
    /// Every successful logon to a server, by the server's [`host_class`], in time order: the
    /// client's 1027 and the server's 1149 or logon.
    logons: HashMap<(bool, String), Vec<Timestamp>>,
    /// The 0x904 connections by their server's [`host_class`] ([`ByServer`]): what
    /// [`Self::other_server_connection`] compares a server connection with.
    by_server: HashMap<(bool, String), ByServer<'a>>,
    /// What [`Self::other_server_connection`] answered, per server connection (a server
    /// connection's events are findings of several rules).
    answered: std::cell::RefCell<HashMap<usize, bool>>,
    /// Server connection → the 0x904 connections tied to it.
    tied_by_anchor: HashMap<usize, Vec<&'a Connection>>,
    /// The 0x904 connections by server and user, for [`Self::other_gateway_leg`].
    legs: Legs,
    /// The [`host_class`]es of the computers whose logs the inputs hold, with the time of the
    /// first event each logged.
    logged: HashMap<(bool, String), Timestamp>,
    /// The [`host_class`]es of the session hosts the inputs show: computers with a server
    /// connection of their own, less those whose logs are a gateway's.
    session_hosts: HashSet<(bool, String)>,
}

/// Who the 0x904 connections were made to and by: a gateway event is another leg's only when
/// every one of them is certainly to another server or by another user. Kept by server (none
/// named, by kind of name, by [`host_class`]), so that the question costs a few lookups, not a
/// comparison with every connection: a ticket can hold thousands through one gateway.
#[derive(Default)]
struct Legs {
    all: Users,
    unnamed_server: Users,
    /// By whether the server is named by address (`true`) or by name: an address and a name
    /// cannot be compared ([`names_differ`](super::connection::names_differ)).
    by_kind: [Users; 2],
    by_class: HashMap<(bool, String), Users>,
}

/// The users of some connections: the earliest start of any of them, of those naming no
/// user, and of each [`account`] named (`Timestamp::MIN` for a connection whose start is
/// unknown: it may have begun at any time).
#[derive(Default)]
struct Users {
    any: Option<Timestamp>,
    unnamed: Option<Timestamp>,
    accounts: HashMap<String, Timestamp>,
}

/// `slot` lowered to `at`.
fn earliest(slot: &mut Option<Timestamp>, at: Timestamp) {
    *slot = Some(slot.map_or(at, |t| t.min(at)));
}

impl Users {
    fn add(&mut self, user: Option<&str>, start: Option<Timestamp>) {
        let start = start.unwrap_or(Timestamp::MIN);
        earliest(&mut self.any, start);
        match user {
            Some(u) => {
                let slot = self.accounts.entry(account(u)).or_insert(start);
                *slot = (*slot).min(start);
            }
            None => earliest(&mut self.unnamed, start),
        }
    }

    /// Whether one of these connections may be `user`'s tunnel that began at `began`: it
    /// names no user, `user` is unknown, or they name the same account ([`same_user`]); and
    /// it began no later than [`OUTSIDE_LIFE`] after the tunnel did (a tunnel is opened for
    /// a connection: one already open when it began is another's).
    fn may_be(&self, user: Option<&str>, began: Option<Timestamp>) -> bool {
        let fits = |start: &Timestamp| {
            began.is_none_or(|b| *start <= b.checked_add(OUTSIDE_LIFE).unwrap_or(Timestamp::MAX))
        };
        self.unnamed.as_ref().is_some_and(fits)
            || match user {
                None => self.any.as_ref().is_some_and(fits),
                Some(u) => {
                    let a = account(u);
                    !a.is_empty() && self.accounts.get(&a).is_some_and(fits)
                }
            }
    }
}

impl Legs {
    /// `users[k]` is the user of `list[k]`'s connection, when known.
    fn new<'u>(
        list: &[(usize, &Connection)],
        users: impl Iterator<Item = Option<&'u str>>,
    ) -> Self {
        let mut legs = Legs::default();
        for ((_, c), user) in list.iter().zip(users) {
            legs.all.add(user, c.start);
            match c.server.as_deref().filter(|s| !s.is_empty()) {
                None => legs.unnamed_server.add(user, c.start),
                Some(server) => {
                    let class = host_class(server);
                    legs.by_kind[usize::from(class.0)].add(user, c.start);
                    legs.by_class.entry(class).or_default().add(user, c.start);
                }
            }
        }
        legs
    }

    /// Whether some connection may be the tunnel to `resource` by `user` that began at
    /// `began`: not certainly to another server
    /// ([`names_differ`](super::connection::names_differ)), not certainly by another user, and
    /// not begun before the tunnel ([`Users::may_be`]).
    fn may_be(&self, leg: &GatewayLeg) -> bool {
        let (user, began) = (leg.user, leg.began);
        let Some(resource) = leg.resource.filter(|r| !r.is_empty()) else {
            return self.all.may_be(user, began);
        };
        let class = host_class(resource);
        self.unnamed_server.may_be(user, began)
            || self.by_kind[usize::from(!class.0)].may_be(user, began)
            || self
                .by_class
                .get(&class)
                .is_some_and(|u| u.may_be(user, began))
    }
}

/// The 0x904 connections to one server: those whose life is known, by start, with the
/// longest of those lives, and the others.
#[derive(Default)]
struct ByServer<'a> {
    timed: Vec<(Timestamp, Timestamp, &'a Connection)>,
    untimed: Vec<&'a Connection>,
    longest: SignedDuration,
}

/// The resource and the user a gateway connection's events name, and when its tunnel began as
/// far as they tell ([`tunnel_began`]).
#[derive(Default, Clone, Copy)]
struct GatewayLeg<'a> {
    resource: Option<&'a str>,
    user: Option<&'a str>,
    began: Option<Timestamp>,
}

/// A server connection's events this far outside a 0x904 connection's life are another's.
const OUTSIDE_LIFE: SignedDuration = SignedDuration::from_secs(60);

impl<'a> AnchorConnections<'a> {
    pub fn new(
        eval: &Evaluation,
        conns: &'a [Connection],
        servers: &'a [ServerConnection],
        events: &'a [Event],
        domain: &Domain,
    ) -> Self {
        let by_end = super::connection::by_end(conns);
        let list: Vec<(usize, &Connection)> = eval
            .anchors
            .iter()
            .filter_map(|a| Some((a.event, *by_end.get(&a.event)?)))
            .collect();
        let member = servers
            .iter()
            .enumerate()
            .flat_map(|(si, s)| s.events.iter().map(move |&e| (e, si)))
            .collect();
        let tied = conns.iter().filter_map(|c| c.server_side).collect();
        // The gateway's events, found once for both uses below (none needed without a 0x904).
        let gateway_events: Vec<(&'a Event, &'a crate::model::WinEvent)> = if list.is_empty() {
            Vec::new()
        } else {
            events
                .iter()
                .filter_map(|e| {
                    let w = e.win()?;
                    (domain.side_of(&w.provider) == Some(Side::Gateway)).then_some((e, w))
                })
                .collect()
        };
        let mut gateway: HashMap<(String, String), GatewayLeg<'a>> = HashMap::new();
        for &(e, w) in &gateway_events {
            let Some(activity) = w.activity_id.as_deref() else {
                continue;
            };
            let key = (
                w.computer.to_ascii_lowercase(),
                activity.to_ascii_lowercase(),
            );
            let slot = gateway.entry(key).or_default();
            slot.resource = slot.resource.or(domain.gateway_resource_of(w));
            slot.user = slot.user.or(domain.gateway_user_of(w));
            if let Some(at) = tunnel_began(e, w, domain) {
                earliest(&mut slot.began, at);
            }
        }
        let mut logons: HashMap<(bool, String), Vec<Timestamp>> = HashMap::new();
        let proofs = conns
            .iter()
            .filter_map(|c| Some((c.server.as_deref()?, c.logon?)))
            .chain(servers.iter().filter_map(|s| {
                let proof = [s.authenticated, s.logon].into_iter().flatten().min()?;
                Some((s.host.as_str(), proof))
            }));
        for (server, at) in proofs.filter(|(server, _)| !server.is_empty()) {
            logons.entry(host_class(server)).or_default().push(at);
        }
        for times in logons.values_mut() {
            times.sort();
        }
        let mut by_server: HashMap<(bool, String), ByServer<'_>> = HashMap::new();
        let mut tied_by_anchor: HashMap<usize, Vec<&Connection>> = HashMap::new();
        for &(_, c) in &list {
            if let Some(s) = c.server_side {
                tied_by_anchor.entry(s).or_default().push(c);
            }
            let Some(server) = c.server.as_deref().filter(|s| !s.is_empty()) else {
                continue;
            };
            let group = by_server.entry(host_class(server)).or_default();
            match (c.start, c.end.and_then(|e| e.1)) {
                (Some(from), Some(to)) => {
                    group.longest = group.longest.max(to.duration_since(from));
                    group.timed.push((from, to, c));
                }
                _ => group.untimed.push(c),
            }
        }
        for group in by_server.values_mut() {
            group.timed.sort_by_key(|&(from, to, _)| (from, to));
        }
        let leg_user = leg_users(&list, &gateway_events, &gateway, domain);
        let users = list.iter().zip(leg_user).map(|((_, c), leg)| {
            c.server_side
                .and_then(|s| servers.get(s))
                .and_then(|s| s.user.as_deref())
                .or(leg)
        });
        let legs = Legs::new(&list, users);
        let mut logged: HashMap<(bool, String), Timestamp> = HashMap::new();
        if !list.is_empty() {
            // An event with no time still shows the computer's logs are here.
            let mut first: HashMap<&str, Timestamp> = HashMap::new();
            for e in events {
                if let Some(w) = e.win().filter(|w| !w.computer.is_empty()) {
                    let at = first.entry(&w.computer).or_insert(Timestamp::MAX);
                    *at = (*at).min(e.time.unwrap_or(Timestamp::MAX));
                }
            }
            for (name, at) in first {
                let slot = logged.entry(host_class(name)).or_insert(at);
                *slot = (*slot).min(at);
            }
        }
        let gateways: HashSet<(bool, String)> = gateway_events
            .iter()
            .map(|(_, w)| host_class(&w.computer))
            .collect();
        let session_hosts = servers
            .iter()
            .filter(|s| !s.host.is_empty())
            .map(|s| host_class(&s.host))
            .filter(|h| !gateways.contains(h))
            .collect();
        let times: HashMap<usize, Timestamp> = eval
            .anchors
            .iter()
            .filter_map(|a| Some((a.event, a.time?)))
            .collect();
        let mut by_host: HashMap<(bool, String), Vec<(Timestamp, usize)>> = HashMap::new();
        for &(e, c) in &list {
            let Some(&at) = times.get(&e) else { continue };
            let tied = c
                .server_side
                .and_then(|s| servers.get(s))
                .map(|s| s.host.as_str());
            let mut hosts: Vec<(bool, String)> = [c.server.as_deref(), tied]
                .into_iter()
                .flatten()
                .filter(|h| !h.is_empty())
                .map(host_class)
                .collect();
            hosts.dedup();
            for h in hosts {
                by_host.entry(h).or_default().push((at, e));
            }
        }
        for v in by_host.values_mut() {
            v.sort_unstable();
        }
        AnchorConnections {
            times,
            by_host,
            session_hosts,
            legs,
            logged,
            by_server,
            answered: Default::default(),
            tied_by_anchor,
            list,
            servers,
            member,
            tied,
            gateway,
            logons,
        }
    }

    /// Whether a successful logon to `host` came after `t` (and before `until`, when given).
    fn logon_between(&self, host: &str, t: Timestamp, until: Option<Timestamp>) -> bool {
        if self.logons.is_empty() || host.is_empty() {
            return false;
        }
        let Some(times) = self.logons.get(&host_class(host)) else {
            return false;
        };
        let next = times.partition_point(|&at| at <= t);
        times
            .get(next)
            .is_some_and(|&at| until.is_none_or(|u| at < u))
    }

    /// When a connection proved its TLS handshake worked: the client's logon (1027), or the
    /// server's authentication (1149) or logon of the same attempt, whichever came first.
    fn proof(&self, c: &Connection) -> Option<Timestamp> {
        let server = c.server_side.and_then(|s| self.servers.get(s));
        [
            c.logon,
            server.and_then(|s| s.authenticated),
            server.and_then(|s| s.logon),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Why the finding cannot explain any 0x904 connection it could be about (a time-bound
    /// finding's nearest anchor, or all of them) to the server it was logged on (or from the
    /// client it was logged on), if it cannot: it came before that connection's logon, or before another connection's
    /// successful logon to that server that came before it began (a broken state repaired by
    /// then), or after the logon and before the 0x904 that ended the established session (its
    /// handshake was done; what failed then was another one), or after a successful logon to
    /// that server that followed the 0x904 (the state began later). With no 0x904 at all, a
    /// finding followed by a successful logon to its server is repaired.
    pub(super) fn disproves(
        &self,
        f: &Finding,
        proximity: Option<Proximity>,
        events: &[Event],
        time_bound: bool,
    ) -> Option<Disproof> {
        let first = f.events.first().and_then(|&i| events.get(i))?;
        let t = first.time?;
        let host = first.win().map(|w| &*w.computer);
        // With no 0x904 connection there is nothing to explain: a state that a later logon to
        // that server shows repaired is background, whatever else.
        if self.list.is_empty() {
            return host
                .is_some_and(|h| self.logon_between(h, t, None))
                .then_some(Disproof::Repaired);
        }
        // A lasting state (a rule without `anchor:`) would explain every 0x904 after it, so
        // it is disproved only if it is for each of them.
        let nearest = proximity.and_then(|p| p.anchor).filter(|_| time_bound);
        let relevant: Vec<&Connection> = match nearest {
            Some(a) => self
                .list
                .iter()
                .filter(|(e, _)| *e == a)
                .map(|(_, c)| *c)
                .collect(),
            None => self.list.iter().map(|(_, c)| *c).collect(),
        };
        let mut why = Disproof::BeforeLogon;
        for c in &relevant {
            // Logged on its server, or on its client (the client's side of the same
            // handshake): what the connection proves holds for both.
            if let (Some(h), Some(s)) = (host, c.server.as_deref())
                && !same_host(h, s)
                && !same_host(h, &c.client)
            {
                return None;
            }
            // Another connection logged on to that server after it, before this one began.
            let began = c
                .start
                .or(c.transport_up)
                .or(c.end.and_then(|(_, end)| end));
            if let (Some(h), Some(began)) = (host, began)
                && self.logon_between(h, t, Some(began))
            {
                if why == Disproof::BeforeLogon {
                    why = Disproof::Repaired;
                }
                continue;
            }
            // The server let someone log on after the 0x904 and before this was logged: the
            // state it shows did not exist yet at the 0x904.
            let ended = c.end.and_then(|(_, end)| end);
            if let (Some(h), Some(end)) = (host, ended)
                && t > end
                && self.logon_between(h, end, Some(t))
            {
                if why == Disproof::BeforeLogon {
                    why = Disproof::Later;
                }
                continue;
            }
            // First logged long after the 0x904 by a server already logging at the 0x904.
            if let (false, Some(h), Some(end)) = (time_bound, host, ended)
                && t > end.saturating_add(LONG_AFTER).unwrap_or(end)
                && self
                    .logged
                    .get(&host_class(h))
                    .is_some_and(|&first| first <= end)
            {
                if why == Disproof::BeforeLogon {
                    why = Disproof::LongAfter;
                }
                continue;
            }
            let proof = self.proof(c)?;
            if t >= proof {
                if ended.is_some_and(|end| t > end) {
                    return None;
                }
                why = Disproof::InSession;
            }
        }
        (!relevant.is_empty()).then_some(why)
    }

    /// Evidence about another connection than every 0x904's: a client event of another
    /// attempt (its activity id differs: a healthy session hours before), a server event of
    /// another server connection, or a gateway event for another resource or user.
    pub(super) fn other_connection(&self, f: &Finding, events: &[Event], domain: &Domain) -> bool {
        // With no 0x904 connection there is no other one: nothing of the finding is read.
        if self.list.is_empty() {
            return false;
        }
        let Some(&index) = f.events.first() else {
            return false;
        };
        let Some(e) = events.get(index) else {
            return false;
        };
        let Some(w) = e.win() else { return false };
        if domain.is_client(w) {
            let Some(activity) = w.activity_id.as_deref() else {
                return false;
            };
            return !self.list.iter().any(|(_, c)| {
                c.file == e.file
                    && c.activity_id
                        .as_deref()
                        .is_some_and(|a| a.eq_ignore_ascii_case(activity))
            });
        }
        if let Some(&s) = self.member.get(&index) {
            return self.other_server_connection(s);
        }
        if domain.side_of(&w.provider) == Some(Side::Gateway) {
            return self.other_gateway_leg(e, w, domain);
        }
        if let Some(ends) = domain.peer_addresses_of(w) {
            return self.other_peer(&w.computer, &ends);
        }
        false
    }

    /// Logged on a computer that none of the 0x904 connections reached: the one each was made
    /// from (its own services and listener, not the server's), or, for a connection tied to its
    /// server's side or naming a server whose own logs are among the inputs, any computer
    /// other than that server. A connection neither named nor tied to the event's computer,
    /// made from another, says nothing when the server it names has no logs here (a farm's or
    /// an alias's name: the server reached may go by another). With no 0x904 connection, or a
    /// first event that names no computer, nothing is said.
    pub(super) fn off_their_servers(&self, f: &Finding, events: &[Event]) -> bool {
        let Some(computer) = finding_computer(f, events) else {
            return false;
        };
        !self.list.is_empty()
            && self.list.iter().all(|(_, c)| {
                let (reached, known) = self.reaches(c, computer);
                !reached && (known || same_host(computer, &c.client))
            })
    }

    /// Whether `computer` is connection `c`'s server (the one it names or the one tied to
    /// it), and whether that server is known: tied, or named with its own logs here.
    fn reaches(&self, c: &Connection, computer: &str) -> (bool, bool) {
        let tied = c
            .server_side
            .and_then(|s| self.servers.get(s))
            .map(|s| s.host.as_str())
            .filter(|h| !h.is_empty());
        let named = c.server.as_deref().filter(|s| !s.is_empty());
        let reached = named.is_some_and(|s| same_host(computer, s))
            || tied.is_some_and(|h| same_host(computer, h));
        let logged = named.is_some_and(|s| self.logged.contains_key(&host_class(s)));
        (reached, tied.is_some() || logged)
    }

    /// A finding (its first event) from a session host that is no 0x904 connection's server
    /// (nor its client), while every 0x904 connection's own server is known: that host's
    /// certificate, TLS settings or configuration are its own, and say nothing about a
    /// server the client reached elsewhere (a live session on one host, a failed connection to
    /// another). A gateway's computer is not a session host here: a connection's TLS ends
    /// there first.
    pub(super) fn on_another_session_host(&self, f: &Finding, events: &[Event]) -> bool {
        let Some(computer) = finding_computer(f, events) else {
            return false;
        };
        !self.list.is_empty()
            && self.session_hosts.contains(&host_class(computer))
            && self.list.iter().all(|(_, c)| {
                let (reached, known) = self.reaches(c, computer);
                !reached && known && !same_host(computer, &c.client)
            })
    }

    /// A packet or connection event (a firewall's drop) logged on a 0x904 connection's server
    /// that names neither end as that connection's client address, as the server saw it: a
    /// scanner's or another client's packet. Said only when, for every 0x904 connection, the
    /// event was logged on its server and that server's side of it names the client's
    /// address; a drop on another computer (the client's own log, where the addresses are
    /// the client's before any translation) is not judged.
    fn other_peer(&self, computer: &str, ends: &[&str]) -> bool {
        let bare = |a: &str| {
            let host = super::server_side::address_host(a);
            let host = host.strip_prefix("::ffff:").unwrap_or(host);
            host.to_ascii_lowercase()
        };
        let ends: Vec<String> = ends.iter().map(|a| bare(a)).collect();
        self.list.iter().all(|(_, c)| {
            let (on_its_server, _) = self.reaches(c, computer);
            let client = c
                .server_side
                .and_then(|s| self.servers.get(s))
                .and_then(|s| s.address.as_deref())
                .map(bare);
            match client {
                Some(client) if on_its_server => !ends.contains(&client),
                _ => false,
            }
        })
    }

    /// Server connection `s` is not a 0x904's: for every 0x904 connection to that server, `s`
    /// is not the one tied to it, and `s` differs from that one (another client address,
    /// session or user), is tied to another client connection, or lies outside the 0x904
    /// connection's life. With no 0x904 connection to that server, nothing is said.
    fn other_server_connection(&self, s: usize) -> bool {
        if let Some(&known) = self.answered.borrow().get(&s) {
            return known;
        }
        let answer = self.other_server_connection_afresh(s);
        self.answered.borrow_mut().insert(s, answer);
        answer
    }

    fn other_server_connection_afresh(&self, s: usize) -> bool {
        let Some(sc) = self.servers.get(s) else {
            return false;
        };
        if sc.host.is_empty() {
            return false;
        }
        let key = host_class(&sc.host);
        let Some(group) = self.by_server.get(&key) else {
            return false;
        };
        // Tied to some client connection: another's unless a 0x904 connection to that server
        // is the one tied to it.
        if self.tied.contains(&s) {
            return !self.tied_by_anchor.get(&s).is_some_and(|tied| {
                tied.iter()
                    .any(|c| c.server.as_deref().is_some_and(|n| host_class(n) == key))
            });
        }
        // Tied to none (so to no 0x904 connection): another's when it differs from each 0x904
        // connection's own server connection, or lies outside that connection's life.
        let differs = |c: &Connection| {
            c.server_side
                .and_then(|t| self.servers.get(t))
                .is_some_and(|t| distinct(t, sc))
        };
        if !group.untimed.iter().all(|c| differs(c)) {
            return false;
        }
        let (Some(first), Some(last)) = (sc.first, sc.last) else {
            return group.timed.iter().all(|&(_, _, c)| differs(c));
        };
        // Lives that overlap [first, last] widened by the slack: starting no later than its
        // end and no earlier than its start less the longest life. The rest are outside.
        let (from_at_least, to_at_most) = (
            first.checked_sub(OUTSIDE_LIFE).unwrap_or(first),
            last.checked_add(OUTSIDE_LIFE).unwrap_or(last),
        );
        let earliest = from_at_least
            .checked_sub(group.longest)
            .unwrap_or(from_at_least);
        let lo = group.timed.partition_point(|&(from, _, _)| from < earliest);
        let hi = group
            .timed
            .partition_point(|&(from, _, _)| from <= to_at_most);
        group.timed[lo..hi].iter().all(|&(from, to, c)| {
            let outside = !(from_at_least <= to && to_at_most >= from);
            outside || differs(c)
        })
    }

    /// A gateway event whose resource is not the server of any 0x904 connection, or whose user
    /// is not that connection's user (when both are known), or whose tunnel began before every
    /// such connection did.
    fn other_gateway_leg(&self, e: &Event, w: &crate::model::WinEvent, domain: &Domain) -> bool {
        !self.legs.may_be(&gateway_leg(&self.gateway, e, w, domain))
    }

    /// Whether finding `f` (its first event) was logged on the server of the connection 0x904
    /// `anchor` ended: said when either is unknown (a Procmon row, a 0x904 no connection
    /// holds).
    pub(super) fn on_server_of(&self, anchor: usize, f: &Finding, events: &[Event]) -> bool {
        let Some(computer) = finding_computer(f, events) else {
            return true;
        };
        self.list
            .iter()
            .find(|(e, _)| *e == anchor)
            .is_none_or(|(_, c)| self.reaches(c, computer).0)
    }

    /// A finding logged on one server and placed at the 0x904 of a connection certainly made to
    /// another server (two servers' 0x904s in one ticket): its place among the 0x904s of the
    /// connections that reached its own server instead, nearest in `window` first as the
    /// evaluation places (`near` false and the nearest when none is in the window). `None`
    /// when the finding needs no new place: it names no computer, is placed at its own
    /// server's 0x904 or at one whose server is unknown, or no 0x904 connection reached its
    /// computer (then [`Self::off_their_servers`] judges it).
    pub(super) fn placed_on_own_server(
        &self,
        f: &Finding,
        events: &[Event],
        window: AnchorWindow,
    ) -> Option<Proximity> {
        let p = f.proximity?;
        let anchor = p.anchor?;
        let computer = finding_computer(f, events)?;
        let (_, c) = self.list.iter().find(|(e, _)| *e == anchor)?;
        let (reached, known) = self.reaches(c, computer);
        if reached || !known {
            return None;
        }
        let at = self.times.get(&anchor)?.checked_add(p.distance?).ok()?;
        // Its own server's 0x904s around that moment: the nearest before and after it (the
        // window holds distances around zero, so no farther one is nearer in it).
        let own = self.by_host.get(&host_class(computer))?;
        let split = own.partition_point(|&(ta, _)| ta <= at);
        let around = own[split.saturating_sub(1)..(split + 1).min(own.len())].iter();
        around
            .map(|&(ta, e)| {
                let d = at.duration_since(ta);
                (window.holds(d), d, e)
            })
            .min_by_key(|&(near, d, e)| (!near, d.abs(), e))
            .map(|(near, d, e)| Proximity {
                anchor: Some(e),
                distance: Some(d),
                near,
            })
    }

    /// The 0x904 that ended each connection with an activity id, by (file, activity id in
    /// lower case): the one a client event of that connection is about.
    pub(super) fn by_activity(&self) -> HashMap<(&str, String), usize> {
        self.list
            .iter()
            .filter_map(|&(anchor, c)| {
                let activity = c.activity_id.as_deref()?.to_ascii_lowercase();
                Some(((&*c.file, activity), anchor))
            })
            .collect()
    }

    pub(super) fn phase_of(&self, anchor: usize) -> Option<Phase> {
        self.list
            .iter()
            .find(|(e, _)| *e == anchor)
            .map(|(_, c)| c.phase)
    }
}

/// Connections to one server whose life is known, as (start, end, index in the list), with
/// the longest of those lives.
type Lives = (Vec<(Timestamp, Timestamp, usize)>, SignedDuration);

/// The computer a finding's first event was logged on or exported from (an event log's
/// computer, a registry export's, ACL dump's or netstat listing's); `None` for a Procmon row and an empty name.
fn finding_computer<'e>(f: &Finding, events: &'e [Event]) -> Option<&'e str> {
    let e = events.get(*f.events.first()?)?;
    let name = match &e.kind {
        crate::model::EventKind::Win(w) => &*w.computer,
        crate::model::EventKind::Registry(r) => &*r.computer,
        crate::model::EventKind::Acl(a) => &*a.computer,
        crate::model::EventKind::Socket(k) => &*k.computer,
        crate::model::EventKind::Procmon(_) => return None,
    };
    (!name.is_empty()).then_some(name)
}

/// Per 0x904 connection: the user of its gateway leg, read from the gateway's events that name
/// both a user and that connection's server as their resource, within its life (from its start
/// to its end, a minute's slack either side): its own tunnel's events. `None` when they name
/// no user, or several (users' tunnels to one server overlapping: none of them is known to be
/// the 0x904's). A gateway event of another user (a policy refusal of someone else) is then
/// no evidence about it, even with no server log to name the connection's user.
fn leg_users<'a>(
    list: &[(usize, &Connection)],
    gateway_events: &[(&'a Event, &'a crate::model::WinEvent)],
    gateway: &HashMap<(String, String), GatewayLeg<'a>>,
    domain: &Domain,
) -> Vec<Option<&'a str>> {
    // The timed connections by their server's class, by start, with the longest life: a
    // tunnel event is compared with the connections alive around it, not with all of them.
    let mut by_server: HashMap<(bool, String), Lives> = HashMap::new();
    for (k, (_, c)) in list.iter().enumerate() {
        if let (Some(server), Some(from), Some(to)) =
            (c.server.as_deref(), c.start, c.end.and_then(|e| e.1))
            && !server.is_empty()
        {
            let group = by_server.entry(host_class(server)).or_default();
            group.0.push((from, to, k));
            group.1 = group.1.max(to.duration_since(from));
        }
    }
    if by_server.is_empty() {
        return vec![None; list.len()];
    }
    // Per connection: not seen yet, one user, or several (`Some(None)`); and the same for the
    // tunnels known to have begun with it (within the slack of its start).
    let mut users: Vec<Option<Option<&'a str>>> = vec![None; list.len()];
    let mut began_with: Vec<Option<Option<&'a str>>> = vec![None; list.len()];
    let add = |slot: &mut Option<Option<&'a str>>, user: &'a str| {
        *slot = match *slot {
            None => Some(Some(user)),
            Some(Some(known)) if same_user(known, user) => Some(Some(known)),
            // Two users' tunnels to that server in its life: neither is known to be its.
            _ => Some(None),
        };
    };
    for group in by_server.values_mut() {
        group.0.sort_unstable();
    }
    for &(e, w) in gateway_events {
        let (Some(resource), Some(user), Some(at)) = (
            domain.gateway_resource_of(w),
            domain.gateway_user_of(w),
            e.time,
        ) else {
            continue;
        };
        let Some((timed, longest)) = by_server.get(&host_class(resource)) else {
            continue;
        };
        // Lives within the slack of `at`: starting no later than `at` plus it (or than the
        // tunnel's beginning plus it: a tunnel is opened for its connection), and no earlier
        // than `at` less it and the longest life.
        let known_began = gateway_leg(gateway, e, w, domain).began;
        let began = known_began.unwrap_or(at);
        let (lo_at, hi_at) = (
            at.checked_sub(OUTSIDE_LIFE).unwrap_or(at),
            at.min(began).checked_add(OUTSIDE_LIFE).unwrap_or(at),
        );
        let earliest = lo_at.checked_sub(*longest).unwrap_or(lo_at);
        let lo = timed.partition_point(|&(from, _, _)| from < earliest);
        let hi = timed.partition_point(|&(from, _, _)| from <= hi_at);
        for &(from, _, k) in timed[lo..hi].iter().filter(|&&(_, to, _)| to >= lo_at) {
            add(&mut users[k], user);
            if known_began.is_some_and(|b| b.duration_since(from).abs() <= OUTSIDE_LIFE) {
                add(&mut began_with[k], user);
            }
        }
    }
    // A tunnel is opened for its connection: when several users' tunnels to the server fall
    // in a connection's life, the one user whose tunnel began with it is its user (another
    // user's 50-minute tunnel ending in the last minute of an 8-hour session is not).
    users
        .into_iter()
        .zip(began_with)
        .map(|(any, with)| match (any, with) {
            (Some(None), Some(Some(user))) => Some(user),
            (any, _) => any.flatten(),
        })
        .collect()
}

/// When the tunnel of gateway event `e` began, as far as it tells: its time, less how long
/// the tunnel had lasted when it says so.
fn tunnel_began(e: &Event, w: &crate::model::WinEvent, domain: &Domain) -> Option<Timestamp> {
    let at = e.time?;
    Some(match domain.gateway_lasted(w) {
        Some(lasted) => at.checked_sub(lasted).unwrap_or(Timestamp::MIN),
        None => at,
    })
}

/// What gateway event `e` and the other events of its gateway activity (`gateway`) name:
/// its resource and user, and the earliest beginning of its tunnel.
fn gateway_leg<'a>(
    gateway: &HashMap<(String, String), GatewayLeg<'a>>,
    e: &Event,
    w: &'a crate::model::WinEvent,
    domain: &Domain,
) -> GatewayLeg<'a> {
    let shared = w
        .activity_id
        .as_deref()
        .and_then(|a| gateway.get(&(w.computer.to_ascii_lowercase(), a.to_ascii_lowercase())))
        .copied()
        .unwrap_or_default();
    let mut began = shared.began;
    if let Some(at) = tunnel_began(e, w, domain) {
        earliest(&mut began, at);
    }
    GatewayLeg {
        resource: domain.gateway_resource_of(w).or(shared.resource),
        user: domain.gateway_user_of(w).or(shared.user),
        began,
    }
}

/// Two server connections that certainly are not one: their client addresses, sessions or
/// users differ (where both are known).
fn distinct(a: &ServerConnection, b: &ServerConnection) -> bool {
    let differ = |x: &Option<String>, y: &Option<String>| matches!((x, y), (Some(x), Some(y)) if !x.eq_ignore_ascii_case(y));
    differ(&a.address, &b.address)
        || differ(&a.session, &b.session)
        || matches!((&a.user, &b.user), (Some(x), Some(y)) if !same_user(x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::connection::names_differ;
    use std::sync::Arc;

    /// The index answers what comparing a gateway event with every connection answers: for
    /// every list of up to three connections and every (resource, user) an event names.
    #[test]
    fn legs_answer_as_every_connection_compared() {
        let servers = [
            None,
            Some(""),
            Some("RDS01"),
            Some("rds01.contoso.com"),
            Some("RDS02"),
            Some("10.0.0.5"),
            Some("10.0.0.6"),
        ];
        let users = [
            None,
            Some(r"CONTOSO\alice"),
            Some("alice@contoso.com"),
            Some("bob"),
            Some(""),
            Some("\\"),
        ];
        let conn = |server: Option<&str>| Connection {
            file: Arc::from("client.evtx"),
            activity_id: None,
            client: "WS01".into(),
            server: server.map(str::to_string),
            start: None,
            transport_up: None,
            logon: None,
            end: None,
            phase: Phase::Transport,
            server_side: None,
        };
        let pairs: Vec<(Option<&str>, Option<&str>)> = servers
            .iter()
            .flat_map(|&s| users.iter().map(move |&u| (s, u)))
            .collect();
        let mut lists: Vec<Vec<(Option<&str>, Option<&str>)>> = vec![vec![]];
        for size in 1..=3 {
            let before: Vec<_> = lists
                .iter()
                .filter(|l| l.len() == size - 1)
                .cloned()
                .collect();
            for l in before {
                for (k, &p) in pairs.iter().enumerate() {
                    if size == 3 && k % 5 != 0 {
                        continue;
                    }
                    let mut l = l.clone();
                    l.push(p);
                    lists.push(l);
                }
            }
        }
        let mut checked = 0;
        for l in &lists {
            let conns: Vec<Connection> = l.iter().map(|(s, _)| conn(*s)).collect();
            let list: Vec<(usize, &Connection)> = conns.iter().enumerate().collect();
            let legs = Legs::new(&list, l.iter().map(|(_, u)| *u));
            for &(resource, user) in &pairs {
                let other = l.iter().all(|&(server, conn_user)| {
                    let other_server =
                        matches!((resource, server), (Some(r), Some(s)) if names_differ(r, s));
                    let other_user =
                        matches!((user, conn_user), (Some(a), Some(b)) if !same_user(a, b));
                    other_server || other_user
                });
                let leg = GatewayLeg {
                    resource,
                    user,
                    began: None,
                };
                assert_eq!(
                    !legs.may_be(&leg),
                    other,
                    "{l:?} against {resource:?} {user:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
