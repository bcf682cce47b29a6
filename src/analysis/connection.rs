//! Connections: the unit of diagnosis (DOMAIN.md §7).
//!
//! On the client, one connection attempt shares one `ActivityID` in RDPClient/Operational: 1024
//! (connecting to server X), 1025 (transport up), 1027 (connected to domain, session N: logon
//! reached), 1102/1103/1105 (UDP) and 226 (state-transition error) between, 1026 (disconnected,
//! with its reason). The **phase** a connection reached is the last of these milestones before
//! its 1026: only 1024 → `transport` (the TCP connection never came up), 1025 → `security
//! handshake` (transport up, no logon: TLS, CredSSP, licensing or a refusal), 1027 →
//! `established session` (logon reached: TLS with the server's certificate worked then). The
//! server's side, once tied, can tell more than the client logged: its 1149 makes a connection
//! that reached no logon `authenticated`, its logon makes it `established session`
//! ([`super::server_side::phase_from_server`]).
//!
//! The server's side of each attempt (RCM, LSM, RdpCoreTS by session and client address) is
//! grouped and tied to it in `server_side.rs`.
//!
//! A client log without activity ids (an old or hand-made export) is grouped by file and order:
//! each 1024 starts a connection that the next 1026 of that file ends.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use crate::model::Event;
use crate::rules::template::bounded;
use crate::rules::{Domain, Role};

/// How far a connection got before it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Transport,
    Handshake,
    /// The server tied to it logged the user's authentication (RCM 1149): TLS and CredSSP
    /// were done, and no logon followed (licensing, the session's creation or a policy ended
    /// it). The client logs no milestone of its own for it.
    Authenticated,
    Established,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Transport => "transport",
            Phase::Handshake => "security handshake",
            Phase::Authenticated => "authenticated",
            Phase::Established => "established session",
        }
    }
}

/// One client connection attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub file: std::sync::Arc<str>,
    pub activity_id: Option<String>,
    /// The client computer.
    pub client: String,
    /// `Server Name` of the 1024.
    pub server: Option<String>,
    /// The 1024 (or the first event seen).
    pub start: Option<Timestamp>,
    /// The 1025: transport up.
    pub transport_up: Option<Timestamp>,
    /// The first 1027: logon reached.
    pub logon: Option<Timestamp>,
    /// The 1026, as an event index, and its time.
    pub end: Option<(usize, Option<Timestamp>)>,
    pub phase: Phase,
    /// The server's side of this attempt, as an index into the server connections
    /// (`server_side::tie`), when one was found.
    pub server_side: Option<usize>,
}

impl Connection {
    /// From start to end, when both are known.
    pub fn lived(&self) -> Option<SignedDuration> {
        Some(self.end?.1?.duration_since(self.start?))
    }
}

/// A client connection event and its role (the rule pack's domain declaration says which).
fn client_event<'e>(e: &'e Event, domain: &Domain) -> Option<(Role, &'e crate::model::WinEvent)> {
    let w = e.win()?;
    Some((domain.client_role(w)?, w))
}

/// Group the client's RDPClient events into connections, in time order.
pub fn connections(events: &[Event], domain: &Domain) -> Vec<Connection> {
    // Only the client's events, in evaluation order (the order of all events, kept to these):
    // sorting every event for them cost a flood's log a millisecond.
    let mut order = super::positions(events, |e| client_event(e, domain).is_some());
    order.sort_by(|&a, &b| crate::rules::engine::event_order(events, a, b));
    // Open connections per (file, activity id); activity `None` groups by order in the file.
    let mut open: BTreeMap<(std::sync::Arc<str>, Option<String>), Connection> = BTreeMap::new();
    let mut done = Vec::new();
    for i in order {
        let e = &events[i];
        let Some((role, w)) = client_event(e, domain) else {
            continue;
        };
        let key = (
            e.file.clone(),
            w.activity_id.as_ref().map(|a| a.to_lowercase()),
        );
        if role == Role::Start {
            // A new attempt under the same key ends the one before it (its 1026 was lost).
            if let Some(old) = open.remove(&key) {
                done.push(old);
            }
        }
        let conn = open.entry(key.clone()).or_insert_with(|| Connection {
            file: e.file.clone(),
            activity_id: w.activity_id.as_deref().map(bounded),
            client: bounded(&w.computer),
            server: None,
            start: e.time,
            transport_up: None,
            logon: None,
            end: None,
            phase: Phase::Transport,
            server_side: None,
        });
        match role {
            Role::Start => conn.server = w.data.get(&domain.start.data).map(bounded),
            Role::Transport => {
                conn.transport_up = conn.transport_up.or(e.time);
                conn.phase = conn.phase.max(Phase::Handshake);
            }
            Role::Logon => {
                conn.logon = conn.logon.or(e.time);
                conn.phase = Phase::Established;
            }
            Role::Disconnect => {
                conn.end = Some((i, e.time));
                if let Some(c) = open.remove(&key) {
                    done.push(c);
                }
            }
            Role::Milestone => {}
        }
    }
    done.extend(open.into_values());
    done.sort_by(|a, b| {
        (a.start, &a.file, a.end.map(|e| e.0)).cmp(&(b.start, &b.file, b.end.map(|e| e.0)))
    });
    done
}

/// Each connection by the event that ended it (its 1026), the first when two claim one: a
/// disconnect or a 0x904 anchor finds its connection in one look-up, not a walk of every
/// connection (a log of thousands of connections in one ActivityID).
pub fn by_end(conns: &[Connection]) -> std::collections::HashMap<usize, &Connection> {
    conns
        .iter()
        .filter_map(|c| c.end.map(|(end, _)| (end, c)))
        .rev()
        .collect()
}

/// Whose Remote Desktop server log the events hold, in events of a server-side provider.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ServerLogs {
    /// Logged by a session host: a computer that is no client's in the connections, or that is
    /// a connection's server, or that is not named.
    pub session_host: u64,
    /// Logged by a client computer: its own Remote Desktop service logs too (a workstation's
    /// console logons are LocalSessionManager events), which tells nothing of the server it
    /// connected to.
    pub clients: u64,
}

impl ServerLogs {
    /// Every server-side event was logged by a client computer, and there is one.
    pub fn clients_only(&self) -> bool {
        self.session_host == 0 && self.clients > 0
    }
}

/// Count the server-side events in `events` by who logged them ([`ServerLogs`]).
pub fn server_logs(events: &[Event], conns: &[Connection], domain: &Domain) -> ServerLogs {
    // By host class, and each computer's name once: a log whose every record names the same
    // computer costs one look-up per record, not a comparison with every connection.
    let clients: std::collections::HashSet<(bool, String)> =
        conns.iter().map(|c| host_class(&c.client)).collect();
    let servers: std::collections::HashSet<(bool, String)> = conns
        .iter()
        .filter_map(|c| c.server.as_deref())
        .filter(|s| !s.is_empty())
        .map(host_class)
        .collect();
    let mut is_client: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
    let mut logs = ServerLogs::default();
    for w in events.iter().filter_map(Event::win) {
        if domain.side_of(&w.provider) != Some(crate::rules::Side::Server) {
            continue;
        }
        let client = *is_client.entry(&w.computer).or_insert_with(|| {
            let class = host_class(&w.computer);
            !w.computer.is_empty() && clients.contains(&class) && !servers.contains(&class)
        });
        if client {
            logs.clients += 1;
        } else {
            logs.session_host += 1;
        }
    }
    logs
}

/// Do two host names name the same machine? Equal ignoring case, or equal first labels
/// (`RDS01` and `RDS01.contoso.com`); IP addresses only when equal.
///
/// Clock estimation asks this for every server event and every host, so it allocates nothing
/// and parses an address only when the first labels already agree.
pub fn same_host(a: &str, b: &str) -> bool {
    !a.is_empty()
        && (a.eq_ignore_ascii_case(b) || (first_labels_agree(a, b) && !is_ip(a) && !is_ip(b)))
}

/// What [`same_host`] compares a name by, so that names can be grouped: `same_host(a, b)`
/// holds exactly when `a` is not empty and `host_class(a) == host_class(b)` (an address whole,
/// lowercase; a name by its first label, lowercase).
pub fn host_class(name: &str) -> (bool, String) {
    if is_ip(name) {
        (true, name.to_ascii_lowercase())
    } else {
        let label = name.split('.').next().unwrap_or("");
        (false, label.to_ascii_lowercase())
    }
}

/// Whether the first labels of `a` and `b` (up to the first `.`) are equal ignoring ASCII
/// case: compared in step, byte by byte, so that a mismatch costs a byte or two, not a search
/// for the dot in both names (this runs for every pair of names the analysis compares).
fn first_labels_agree(a: &str, b: &str) -> bool {
    let label = |s: &[u8], i: usize| s.get(i).copied().filter(|&c| c != b'.');
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    loop {
        match (label(a, i), label(b, i)) {
            (None, None) => return true,
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(&y) => i += 1,
            _ => return false,
        }
    }
}

fn is_ip(s: &str) -> bool {
    s.trim().parse::<std::net::IpAddr>().is_ok()
}

/// Do two names certainly name different machines? Two host names or two addresses that
/// differ; a name beside an address cannot be compared, so it is not said.
pub fn names_differ(a: &str, b: &str) -> bool {
    !a.is_empty() && !b.is_empty() && is_ip(a) == is_ip(b) && !same_host(a, b)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{EventKind, Fields, WinEvent};
    use std::sync::Arc;

    /// Each ending event finds its connection; two claiming one event give the first, as a
    /// walk from the front would; a connection with no end is not found.
    #[test]
    fn connections_are_found_by_their_ending_event() {
        let conn = |client: &str, end: Option<usize>| Connection {
            file: Arc::from("client.evtx"),
            activity_id: None,
            client: client.into(),
            server: None,
            start: None,
            transport_up: None,
            logon: None,
            end: end.map(|e| (e, None)),
            phase: Phase::Transport,
            server_side: None,
        };
        let conns = [
            conn("a", Some(3)),
            conn("b", Some(7)),
            conn("c", Some(3)),
            conn("d", None),
        ];
        let index = by_end(&conns);
        assert_eq!(index.len(), 2);
        assert_eq!(index[&3].client, "a");
        assert_eq!(index[&7].client, "b");
    }

    pub(crate) fn client(id: u32, secs: i64, activity: Option<&str>, value: Option<&str>) -> Event {
        let mut data = Fields::default();
        if let Some(v) = value {
            data.push("Value", v);
        }
        Event {
            file: Arc::from("client.evtx"),
            record: 1000 + secs as u64,
            time: Some(Timestamp::from_second(1_704_067_200 + secs).unwrap()),
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                provider: Domain::builtin().client_provider().into(),
                event_id: id,
                computer: "WS".into(),
                activity_id: activity.map(str::to_string),
                data,
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    #[test]
    fn groups_by_activity_and_finds_the_phase() {
        let a = Some("{A}");
        let b = Some("{B}");
        let events = vec![
            client(1024, 0, a, Some("RDS01")),
            client(1025, 1, a, None),
            client(1027, 3, a, None),
            // A second attempt interleaved, to another server, that never gets a transport.
            client(1024, 10, b, Some("RDS02")),
            client(1026, 11, b, Some("516")),
            client(1105, 99, a, None),
            client(1026, 100, a, Some("2308")),
        ];
        let c = connections(&events, Domain::builtin());
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].server.as_deref(), Some("RDS01"));
        assert_eq!(c[0].phase, Phase::Established);
        assert_eq!(c[0].lived(), Some(SignedDuration::from_secs(100)));
        assert_eq!(c[0].end.map(|e| e.0), Some(6));
        assert_eq!(c[1].server.as_deref(), Some("RDS02"));
        assert_eq!(c[1].phase, Phase::Transport);
        // Reversed input: same result.
        let mut rev = events.clone();
        rev.reverse();
        let r = connections(&rev, Domain::builtin());
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].phase, Phase::Established);
    }

    #[test]
    fn without_activity_ids_each_1024_starts_a_connection() {
        let events = vec![
            client(1024, 0, None, Some("RDS01")),
            client(1025, 1, None, None),
            client(1026, 2, None, Some("2308")),
            client(1024, 50, None, Some("RDS01")),
            client(1025, 51, None, None),
            client(1027, 52, None, None),
            client(1026, 90, None, Some("2308")),
        ];
        let c = connections(&events, Domain::builtin());
        assert_eq!(
            c.iter().map(|c| c.phase).collect::<Vec<_>>(),
            vec![Phase::Handshake, Phase::Established]
        );
        assert_eq!(
            c[1].logon,
            Some(Timestamp::from_second(1_704_067_252).unwrap())
        );
    }

    #[test]
    fn host_names_compare_by_first_label() {
        assert!(same_host("RDS01", "rds01.contoso.com"));
        assert!(!same_host("RDS01", "RDS02.contoso.com"));
        assert!(!same_host("", ""));
        assert!(!same_host("10.0.0.5", "10.0.0.9"));
        assert!(same_host("10.0.0.5", "10.0.0.5"));
        assert!(same_host("rds01.a.example", "RDS01.b.example"));
        assert!(same_host("rds01.", "RDS01"));
        assert!(!same_host("rds0", "rds01.example"));
        assert!(!same_host("rds01x", "rds01.example"));
        // The first labels compared in step agree with splitting both names at their first dot.
        let names = [
            "",
            ".",
            "..",
            "a",
            "A.",
            ".a",
            "rds01",
            "RDS01.x",
            "rds01.y.z",
            "rds0",
            "rds01x",
            "10.0.0.5",
            "10.0.0.50",
            "10",
            "ü.x",
            "Ü.x",
            "::1",
            "fe80::1.a",
        ];
        for a in names {
            for b in names {
                let first = |s: &'static str| s.split('.').next().unwrap_or("");
                assert_eq!(
                    first_labels_agree(a, b),
                    first(a).eq_ignore_ascii_case(first(b)),
                    "{a:?} {b:?}"
                );
            }
        }
        assert!(names_differ("RDS01", "RDS02.contoso.com"));
        assert!(!names_differ("RDS01", "10.0.0.5"));
        assert!(!names_differ("rds01.contoso.com", "RDS01"));
    }
}
