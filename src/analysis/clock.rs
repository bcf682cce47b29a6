//! Whose clock is right: each server's offset from the client, from events that must coincide.
//!
//! The client's 1025 (transport up) and the server's RdpCoreTS 131 (TCP connection accepted) or
//! RCM 261 (listener received a connection) for the same connection happen within network
//! latency, well under a second (DOMAIN.md §7). For every client connection with a 1025 to a
//! server, the server's nearest accept within [`PAIR_WINDOW_SECS`] proposes an offset (server
//! time minus client time). The estimate is their median; it is applied — the server's event
//! times are moved onto the client's clock before rules place them against the 0x904 — only
//! when the proposals agree within [`MAX_SPREAD_MS`] and the offset is larger than
//! [`APPLY_ABOVE_MS`] (below that, clocks agree within latency). Every server seen is reported:
//! its estimate and evidence, an inconsistent estimate (not applied), or that none could be made.
//! Nothing is shifted silently. Which events are the client's transport and a server's accept is
//! the rule pack's domain declaration (`client transport`, `accept`), read here.

use jiff::SignedDuration;

use super::connection::{Connection, same_host};
use crate::model::Event;
use crate::report::schema::ClockOut;
use crate::rules::Domain;

/// How far apart a client 1025 and a server accept may be to be paired at all.
pub const PAIR_WINDOW_SECS: i64 = 15 * 60;
/// Proposals further apart than this are not one offset.
pub const MAX_SPREAD_MS: i64 = 2_000;
/// Offsets at or below this are network latency, not skew.
pub const APPLY_ABOVE_MS: i64 = 2_000;

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

impl Skew {
    pub fn to_out(&self) -> ClockOut {
        ClockOut {
            host: self.host.clone(),
            offset_ms: self.offset.map(|d| d.as_millis() as i64),
            pairs: self.pairs as u64,
            spread_ms: self.spread.map(|d| d.as_millis() as i64),
            applied: self.applied,
            note: self.note.clone(),
        }
    }
}

/// Estimate every server host's offset from the client.
pub fn estimate(events: &[Event], conns: &[Connection], domain: &Domain) -> Vec<Skew> {
    let clients: Vec<&str> = conns.iter().map(|c| c.client.as_str()).collect();
    let mut hosts: Vec<String> = Vec::new();
    for e in events.iter().filter(|e| domain.is_server_accept(e)) {
        let Some(w) = e.win() else { continue };
        if clients.iter().any(|c| same_host(c, &w.computer)) {
            continue;
        }
        if !hosts.iter().any(|h| same_host(h, &w.computer)) {
            hosts.push(w.computer.clone());
        }
    }
    hosts.sort_by_key(|h| h.to_ascii_lowercase());
    hosts
        .iter()
        .map(|h| estimate_host(h, events, conns, domain))
        .collect()
}

fn estimate_host(host: &str, events: &[Event], conns: &[Connection], domain: &Domain) -> Skew {
    let mut accepts: Vec<jiff::Timestamp> = events
        .iter()
        .filter(|e| domain.is_server_accept(e))
        .filter(|e| e.win().is_some_and(|w| same_host(host, &w.computer)))
        .filter_map(|e| e.time)
        .collect();
    accepts.sort();
    let window = SignedDuration::from_secs(PAIR_WINDOW_SECS);
    let mut offsets: Vec<SignedDuration> = Vec::new();
    for c in conns {
        let (Some(server), Some(up)) = (&c.server, c.transport_up) else {
            continue;
        };
        if !same_host(host, server) {
            continue;
        }
        let nearest = accepts
            .iter()
            .map(|t| t.duration_since(up))
            .filter(|d| d.abs() <= window)
            .min_by_key(|d| d.abs());
        if let Some(d) = nearest {
            offsets.push(d);
        }
    }
    offsets.sort();
    let pairs = offsets.len();
    let mut skew = Skew {
        host: host.to_string(),
        offset: None,
        pairs,
        spread: None,
        applied: false,
        note: String::new(),
    };
    if pairs == 0 {
        skew.note = format!(
            "cannot estimate: no client {} (transport up) to {host} within {} min of a server {} accept; its times are used as logged",
            domain.transport,
            PAIR_WINDOW_SECS / 60,
            domain.accept_ids()
        );
        return skew;
    }
    let median = offsets[pairs / 2];
    let spread = offsets[pairs - 1] - offsets[0];
    skew.offset = Some(median);
    skew.spread = Some(spread);
    let evidence = format!(
        "{pairs} client {} ↔ server {} pair{}",
        domain.transport,
        domain.accept_ids(),
        if pairs == 1 { "" } else { "s" }
    );
    let ms = median.as_millis();
    if spread.as_millis() > i128::from(MAX_SPREAD_MS) {
        skew.note = format!(
            "inconsistent: {evidence} disagree by {} ms; not applied, its times are used as logged",
            spread.as_millis()
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

/// Move the events of every host with an applied estimate onto the client's clock.
pub fn apply(events: &mut [Event], skews: &[Skew]) {
    for s in skews.iter().filter(|s| s.applied) {
        let Some(offset) = s.offset else { continue };
        for e in events.iter_mut() {
            let on_host = e.win().is_some_and(|w| same_host(&s.host, &w.computer));
            if on_host {
                e.time = e.time.and_then(|t| t.checked_sub(offset).ok());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            kind: EventKind::Win(Box::new(WinEvent {
                provider: provider.into(),
                event_id: id,
                computer: host.into(),
                ..WinEvent::default()
            })),
        }
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
    fn cannot_estimate_inconsistent_and_agreeing_clocks_are_said() {
        // A server with an accept but no client connection to it.
        let mut events = attempt(0, "{A}");
        events.push(server(RCM, 261, 5_000_000, "RDS09"));
        let skews = estimate(
            &events,
            &connections(&events, Domain::builtin()),
            Domain::builtin(),
        );
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
        let skews = estimate(
            &events,
            &connections(&events, Domain::builtin()),
            Domain::builtin(),
        );
        assert!(!skews[0].applied);
        assert!(
            skews[0].note.starts_with("inconsistent"),
            "{}",
            skews[0].note
        );
        // Within latency: nothing shifted.
        let mut events = attempt(0, "{A}");
        events.push(server(RCM, 261, 1_300, "RDS01"));
        let skews = estimate(
            &events,
            &connections(&events, Domain::builtin()),
            Domain::builtin(),
        );
        assert!(!skews[0].applied);
        assert_eq!(skews[0].offset, Some(SignedDuration::from_millis(300)));
        assert!(
            skews[0].note.starts_with("clocks agree"),
            "{}",
            skews[0].note
        );
    }
}
