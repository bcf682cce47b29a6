//! Configuration in the ranking (DOMAIN.md §8): a lasting state, never the moment of failure.
//!
//! * Configuration that explains event evidence next to a 0x904 corroborates it: the cause's
//!   confidence rises one level (a moderate Schannel 36871 at the 0x904 plus TLS 1.2 disabled
//!   in SCHANNEL is as good as strong evidence).
//! * Configuration alone is moderate at most: the rules say so with their strength, and a
//!   cause with only configuration findings is capped at medium here.
//! * Healthy configuration counts against a cause: when the bundle holds the very setting a
//!   cause would break, and it is as Windows ships it, the cause loses a level (high stays,
//!   strong evidence at the 0x904 outweighs a setting) and the report says why.

mod certificate;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::rank::Confidence;
use super::shards::Shards;
use crate::ingest::bundle;
use crate::model::{Event, EventKind, FileAccount, Source, WinEvent};
use crate::rules::{Domain, Healthy, Side};

/// Is this a source of configuration (a lasting state with no time)?
pub fn is_configuration(source: Source) -> bool {
    matches!(source, Source::Registry | Source::Acl | Source::Netstat)
}

/// `EVTX and Procmon agree`, `EVTX and registry agree`, ...: the sources of a cause's findings.
pub fn agreement(sources: &BTreeSet<&str>) -> String {
    let names: Vec<&str> = sources
        .iter()
        .map(|s| match *s {
            "evtx" => "EVTX",
            "procmon" => "Procmon",
            "acl" => "ACL",
            "netstat" => "netstat",
            other => other,
        })
        .collect();
    format!("{} agree", crate::units::and_list(&names))
}

/// What configuration did to one cause's confidence, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    pub confidence: Confidence,
    /// Multiplies the cause's score.
    pub score_factor: f64,
    /// Added to the cause's `why`.
    pub note: Option<String>,
    /// The healthy setting that lowered the cause, when one did (what counts against it).
    pub healthy: Option<String>,
}

/// Adjust a cause's confidence for the configuration evidence it has (`sources` of its
/// findings, `event_near`: an event-log or Procmon finding next to a 0x904) and the healthy
/// configuration in `events`: of the settings `answering` every one of its findings (their
/// rules' `healthy:`), the first the bundle holds as Windows ships it.
pub fn adjust(
    answering: &[Healthy],
    confidence: Confidence,
    sources: &BTreeSet<Source>,
    event_near: bool,
    events: &[Event],
    domain: &Domain,
) -> Adjusted {
    let has_config = sources.iter().any(|s| is_configuration(*s));
    let has_events = sources.iter().any(|s| !is_configuration(*s));
    if has_config && has_events && event_near {
        let names: Vec<&str> = sources
            .iter()
            .filter(|s| is_configuration(**s))
            .map(|s| s.as_str())
            .collect();
        return Adjusted {
            confidence: raise(confidence),
            score_factor: 1.0,
            note: Some(format!(
                "the exported configuration ({}) explains the events at the 0x904",
                names.join(", ")
            )),
            healthy: None,
        };
    }
    if has_config && !has_events {
        return Adjusted {
            confidence: confidence.max(Confidence::Medium),
            score_factor: 1.0,
            note: Some("configuration only: no event at a 0x904 shows it mattered".into()),
            healthy: None,
        };
    }
    if !has_config && let Some(healthy) = healthy_setting(answering, events, domain) {
        let lowered = match confidence {
            Confidence::Medium => Confidence::Low,
            Confidence::Low => Confidence::Context,
            c => c,
        };
        return Adjusted {
            confidence: lowered,
            score_factor: 0.8,
            note: Some(format!(
                "the exported configuration counts against it: {healthy}"
            )),
            healthy: Some(healthy),
        };
    }
    Adjusted {
        confidence,
        score_factor: 1.0,
        note: None,
        healthy: None,
    }
}

/// The settings every one of `rules` (the `healthy:` of each finding's rule) names, in the
/// first one's order; none when there is no finding.
pub fn answering<'a>(mut rules: impl Iterator<Item = &'a [Healthy]>) -> Vec<Healthy> {
    let mut common: Vec<Healthy> = rules.next().map(<[Healthy]>::to_vec).unwrap_or_default();
    for names in rules {
        if common.is_empty() {
            break;
        }
        common.retain(|h| names.contains(h));
    }
    common
}

/// One level more confident (`Confidence` orders best first).
fn raise(c: Confidence) -> Confidence {
    match c {
        Confidence::High | Confidence::Medium => Confidence::High,
        Confidence::Low => Confidence::Medium,
        Confidence::Context => Confidence::Low,
    }
}

/// The first of the `answering` settings the bundle holds healthy, described.
fn healthy_setting(answering: &[Healthy], events: &[Event], domain: &Domain) -> Option<String> {
    answering
        .iter()
        .find_map(|&setting| healthy(setting, events, domain))
}

/// `setting` as the bundle holds it, described, when it is as Windows ships it.
fn healthy(setting: Healthy, events: &[Event], domain: &Domain) -> Option<String> {
    let reg = |key_suffix: &str, name: &str, healthy: &dyn Fn(&str) -> bool| {
        events.iter().any(|e| match &e.kind {
            EventKind::Registry(r) => {
                ends_with_ci(&r.key, key_suffix)
                    && r.name.eq_ignore_ascii_case(name)
                    && healthy(&r.data)
            }
            _ => false,
        })
    };
    let found: Option<&'static str> = match setting {
        Healthy::Tls12Server => reg(r"\SCHANNEL\Protocols\TLS 1.2\Server", "Enabled", &|d| {
            d != "0"
        })
        .then_some("TLS 1.2 is enabled for the server in the exported SCHANNEL keys"),
        // The configured certificate present and valid in an exported store.
        Healthy::RdpCertificate => {
            return events.iter().find_map(|e| match &e.kind {
                EventKind::Registry(r) if r.value_type == certificate::CHECK_TYPE => {
                    r.data.strip_prefix("valid: ").map(|valid| {
                        format!("the configured RDP certificate is in the exported store: {valid}")
                    })
                }
                _ => None,
            });
        }
        Healthy::RdpKeyReadable => events
            .iter()
            .any(|e| match &e.kind {
                EventKind::Acl(a) => {
                    a.path.contains("f686aace6942fb7f7ceb231212eef4a4")
                        && a.identity.to_ascii_uppercase().ends_with("NETWORK SERVICE")
                        && a.access.eq_ignore_ascii_case("Allow")
                        && (a.rights.contains("Read") || a.rights.contains("FullControl"))
                }
                _ => false,
            })
            .then_some("the RDP key file gives NETWORK SERVICE Read"),
        Healthy::Listener => {
            if reg(r"\WinStations\RDP-Tcp", "fEnableWinStation", &|d| d == "1") {
                return Some("the RDP-Tcp listener is enabled".into());
            }
            // The listener itself, up when the listing was taken: Windows' own service holds
            // the RDP port.
            return events.iter().find_map(|e| match &e.kind {
                EventKind::Socket(s) if domain.is_own_listener(s) => Some(format!(
                    "{} ({}) listens on TCP {} in the netstat listing",
                    s.service,
                    s.process,
                    crate::model::Socket::end(&s.local_host, s.local_port)
                )),
                _ => None,
            });
        }
        Healthy::ServiceDll => reg(r"\Services\TermService\Parameters", "ServiceDll", &|d| {
            d.to_ascii_lowercase().ends_with(r"\system32\termsrv.dll")
        })
        .then_some("TermService loads Windows' own termsrv.dll"),
    };
    found.map(str::to_string)
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The computers the ingest saw in event logs, and which side of Remote Desktop each one's logs
/// are: collected while reading (every event, before the filter), so that bundle host names
/// can be tied to them even when none of their events is kept.
#[derive(Debug)]
pub struct Computers {
    /// This one's number in the process: what a thread's [`LAST_NOTED`] is about.
    id: u64,
    /// Each reading thread notes in its own share ([`Shards`]), under a lock no other thread
    /// takes while reading; the shares are joined once reading is done.
    shares: Shards<Mutex<Noted>>,
}

impl Default for Computers {
    fn default() -> Self {
        Computers::new(1)
    }
}

/// Numbers for [`Computers`]: none is given twice in a process.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Whose computers (`Computers::id`), and the provider and computer of an event noted there.
type LastNoted = Option<(u64, Arc<str>, Arc<str>)>;

thread_local! {
    /// The provider and computer of the last event this thread noted, and whose computers
    /// (`Computers::id`) it noted them in. A log's events repeat them, and noting them again
    /// changes nothing: such an event is answered here, without the share's lock (whose two
    /// atomic operations per event were most of the cost of noting a 60,000-event log). The
    /// names are held by their `Arc`s, so their addresses are not reused while they are here.
    static LAST_NOTED: RefCell<LastNoted> = const { RefCell::new(None) };
}

/// One reading thread's computers, and the last one it noted: a log's events name one
/// computer, so most events are that one again.
#[derive(Debug, Default)]
struct Noted {
    /// The last event's provider and its side: a log's events come from few providers, and
    /// the declaration's sources are compared ignoring case.
    provider: Option<(Arc<str>, Option<Side>)>,
    last: Option<(Arc<str>, Sides)>,
    seen: BTreeMap<String, Sides>,
}

/// Which Remote Desktop logs a computer wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sides {
    pub client: bool,
    pub server: bool,
}

impl Computers {
    /// Computers noted by a pool of `threads` and the calling thread.
    pub fn new(threads: usize) -> Computers {
        Computers {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            shares: Shards::new(threads),
        }
    }

    /// Note one event's computer. Called once for every event read, from any thread.
    pub fn see(&self, domain: &Domain, e: &Event) {
        let Some(w) = e.win() else { return };
        if w.computer.is_empty() {
            return;
        }
        let again = LAST_NOTED.with_borrow(|last| {
            last.as_ref().is_some_and(|(id, provider, computer)| {
                *id == self.id
                    && Arc::ptr_eq(provider, &w.provider)
                    && Arc::ptr_eq(computer, &w.computer)
            })
        });
        if again {
            return;
        }
        self.note(domain, w);
        LAST_NOTED.set(Some((
            self.id,
            Arc::clone(&w.provider),
            Arc::clone(&w.computer),
        )));
    }

    /// [`Computers::see`] for an event this thread did not just note.
    fn note(&self, domain: &Domain, w: &WinEvent) {
        let mut noted = self
            .shares
            .mine()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A gateway is a server-side host: its logs count as the server side here.
        let side = match &noted.provider {
            Some((p, side)) if Arc::ptr_eq(p, &w.provider) => *side,
            _ => {
                let side = domain.side_of(&w.provider);
                noted.provider = Some((Arc::clone(&w.provider), side));
                side
            }
        };
        let covered = |s: &Sides| match side {
            Some(Side::Client) => s.client,
            Some(Side::Server | Side::Gateway) => s.server,
            None => true,
        };
        if let Some((last, sides)) = &noted.last
            && (Arc::ptr_eq(last, &w.computer) || **last == *w.computer)
            && covered(sides)
        {
            return;
        }
        let s = noted.seen.entry(w.computer.to_string()).or_default();
        match side {
            Some(Side::Client) => s.client = true,
            Some(Side::Server | Side::Gateway) => s.server = true,
            None => {}
        }
        let sides = *s;
        noted.last = Some((Arc::clone(&w.computer), sides));
    }

    /// Every computer noted, with every side any thread saw it on.
    pub fn into_map(self) -> BTreeMap<String, Sides> {
        let mut all: BTreeMap<String, Sides> = BTreeMap::new();
        for noted in self.shares.into_shares() {
            let noted = noted.into_inner().unwrap_or_else(PoisonError::into_inner);
            for (computer, sides) in noted.seen {
                let s = all.entry(computer).or_default();
                s.client |= sides.client;
                s.server |= sides.server;
            }
        }
        all
    }
}

/// Configuration read from a bundle before the rules run: bundle host names tied to the
/// computers of the events (`RDS01` ↔ `RDS01.contoso.com`), each bundle's account saying which
/// computer and side it is, and the RDP certificate checked against the exported stores.
pub fn prepare(events: &mut Vec<Event>, accounts: &mut [FileAccount], computers: Computers) {
    let computers = computers.into_map();
    tie_hosts(events, accounts, &computers);
    let checks = certificate::checks(events);
    events.extend(checks);
}

/// The event-log computers by first label, lowercase: what a bundle host is compared with
/// ([`bundle::same_computer`]), indexed once, so that tying every registry and ACL event to its
/// computer costs a lookup, not a pass over every computer the logs name.
struct Hosts<'a> {
    by_label: std::collections::HashMap<String, Vec<(&'a str, Sides)>>,
}

impl<'a> Hosts<'a> {
    fn new(computers: &'a BTreeMap<String, Sides>) -> Self {
        let mut by_label: std::collections::HashMap<String, Vec<(&'a str, Sides)>> =
            std::collections::HashMap::new();
        for (c, sides) in computers {
            let label = c.split('.').next().unwrap_or(c).to_ascii_lowercase();
            by_label
                .entry(label)
                .or_default()
                .push((c.as_str(), *sides));
        }
        Hosts { by_label }
    }

    /// The one event-log computer a bundle host names, if exactly one (ignoring case) matches.
    fn fqdn_of(&self, host: &str) -> Option<(&'a str, Sides)> {
        let candidates = self.by_label.get(&host.to_ascii_lowercase())?;
        let mut found: Option<(&'a str, Sides)> = None;
        for &(c, sides) in candidates {
            match found {
                Some((f, s)) if f.eq_ignore_ascii_case(c) => {
                    found = Some((
                        f,
                        Sides {
                            client: s.client || sides.client,
                            server: s.server || sides.server,
                        },
                    ));
                }
                // The short name spelled more fully wins (`RDS01.contoso.com` over `RDS01`).
                Some((f, s)) if !f.contains('.') && c.contains('.') => {
                    found = Some((
                        c,
                        Sides {
                            client: s.client || sides.client,
                            server: s.server || sides.server,
                        },
                    ));
                }
                Some((f, _)) if f.contains('.') && !c.contains('.') => {}
                Some(_) => return None, // RDS01.contoso.com and RDS01.fabrikam.com: not decided.
                None => found = Some((c, sides)),
            }
        }
        found
    }
}

fn tie_hosts(
    events: &mut [Event],
    accounts: &mut [FileAccount],
    computers: &BTreeMap<String, Sides>,
) {
    let hosts = Hosts::new(computers);
    let named = super::positions(events, |e| {
        matches!(
            e.kind,
            EventKind::Registry(_) | EventKind::Acl(_) | EventKind::Socket(_)
        )
    });
    for i in named {
        let computer = match &mut events[i].kind {
            EventKind::Registry(r) => &mut r.computer,
            EventKind::Acl(a) => &mut a.computer,
            EventKind::Socket(k) => &mut k.computer,
            _ => continue,
        };
        if computer.is_empty() || computer.contains('.') {
            continue;
        }
        if let Some((fqdn, _)) = hosts.fqdn_of(computer) {
            *computer = fqdn.to_string();
        }
    }
    // The first file of each bundle host says which computer, and which side, it is.
    let mut told = BTreeSet::new();
    for a in accounts.iter_mut() {
        let Some(host) = bundle::host_from_name(&a.file) else {
            continue;
        };
        if !told.insert(host.to_ascii_uppercase()) {
            continue;
        }
        a.note(match hosts.fqdn_of(&host) {
            Some((fqdn, sides)) => {
                let side = match (sides.client, sides.server) {
                    (true, true) => "both a Remote Desktop client and a server: it holds both sides' logs",
                    (true, false) => "the client side: it holds Remote Desktop client logs",
                    (false, true) => "the server side: it holds Remote Desktop server logs",
                    (false, false) => "no Remote Desktop client or server log of it was read",
                };
                format!("bundle host {host} is the computer {fqdn} in the event logs; {side}")
            }
            None => format!(
                "bundle host {host}: no event log names this computer (or several do), so its configuration keeps the name {host}"
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RegValue;
    use std::sync::Arc;

    fn reg(key: &str, name: &str, data: &str) -> Event {
        Event {
            file: Arc::from("r.txt"),
            record: 1,
            time: None,
            kind: EventKind::Registry(Box::new(RegValue {
                key: key.into(),
                name: name.into(),
                value_type: "REG_DWORD".into(),
                data: data.into(),
                computer: "RDS01".into(),
            })),
            marks: Default::default(),
        }
    }

    #[test]
    fn configuration_corroborates_caps_and_counts_against() {
        let both = BTreeSet::from([Source::Evtx, Source::Registry]);
        let a = adjust(
            &[Healthy::Tls12Server],
            Confidence::Medium,
            &both,
            true,
            &[],
            Domain::builtin(),
        );
        assert_eq!(a.confidence, Confidence::High);
        assert!(a.note.unwrap().contains("registry"));
        // Not near a 0x904: no corroboration.
        let a = adjust(
            &[Healthy::Tls12Server],
            Confidence::Low,
            &both,
            false,
            &[],
            Domain::builtin(),
        );
        assert_eq!(a.confidence, Confidence::Low);
        // Configuration alone never passes medium.
        let only = BTreeSet::from([Source::Registry, Source::Acl]);
        let a = adjust(
            &[Healthy::Tls12Server],
            Confidence::High,
            &only,
            false,
            &[],
            Domain::builtin(),
        );
        assert_eq!(a.confidence, Confidence::Medium);
        // Healthy TLS settings count against a TLS cause seen in events only.
        let healthy = [reg(
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server",
            "Enabled",
            "1",
        )];
        let events = BTreeSet::from([Source::Evtx]);
        let a = adjust(
            &[Healthy::Tls12Server],
            Confidence::Medium,
            &events,
            true,
            &healthy,
            Domain::builtin(),
        );
        assert_eq!(a.confidence, Confidence::Low);
        assert!(a.note.unwrap().contains("counts against"));
        let a = adjust(
            &[Healthy::Tls12Server],
            Confidence::High,
            &events,
            true,
            &healthy,
            Domain::builtin(),
        );
        assert_eq!(a.confidence, Confidence::High);
        // Findings no rule of which names the setting.
        let a = adjust(
            &[],
            Confidence::Medium,
            &events,
            true,
            &healthy,
            Domain::builtin(),
        );
        assert_eq!((a.confidence, a.note), (Confidence::Medium, None));
    }

    /// Windows' own service listening on the RDP port counts against a refusal seen only in
    /// events; another owner, another port or a socket that is not listening does not.
    #[test]
    fn the_services_own_listener_counts_against_a_refusal() {
        let socket = |port: u16, remote: u16, process: &str, service: &str| Event {
            file: Arc::from("Netstat.txt"),
            record: 1,
            time: None,
            kind: EventKind::Socket(Box::new(crate::model::Socket {
                protocol: "TCP".into(),
                local_host: "::".into(),
                local_port: Some(port),
                remote_host: "::".into(),
                remote_port: Some(remote),
                state: "LISTENING".into(),
                pid: Some(1164),
                process: process.into(),
                service: service.into(),
                computer: "RDS01".into(),
            })),
            marks: Default::default(),
        };
        let domain = Domain::builtin();
        let port = domain.rdp_ports[0] as u16;
        let listener = domain
            .config_listener
            .clone()
            .expect("the pack declares it");
        let evtx = BTreeSet::from([Source::Evtx]);
        let refused_with = |sources: &BTreeSet<Source>, events: &[Event]| {
            adjust(
                &[Healthy::Listener],
                Confidence::Medium,
                sources,
                true,
                events,
                domain,
            )
        };
        let refused = |events: &[Event]| refused_with(&evtx, events);
        let own = [socket(
            port,
            0,
            &listener.process.to_uppercase(),
            &listener.service,
        )];
        let a = refused(&own);
        assert_eq!(a.confidence, Confidence::Low, "{a:?}");
        let healthy = a.healthy.expect("a healthy setting");
        assert!(healthy.contains(&format!("[::]:{port}")), "{healthy}");
        for other in [
            socket(port, 0, "rdpproxy.exe", ""),
            socket(port, 0, &listener.process, "SomeService"),
            socket(port + 1, 0, &listener.process, &listener.service),
            socket(port, 50211, &listener.process, &listener.service),
        ] {
            let a = refused(&[other]);
            assert_eq!((a.confidence, a.healthy), (Confidence::Medium, None));
        }
        // A refusal that has its own configuration evidence is not lowered.
        let with_config = BTreeSet::from([Source::Evtx, Source::Netstat]);
        let a = refused_with(&with_config, &own);
        assert_eq!(a.healthy, None);
    }

    /// An event noted again on the same thread is answered without the lock, but only for the
    /// same computers, provider and computer: a second scan on the thread, another provider of
    /// the same computer (the other side) and another computer are all noted.
    #[test]
    fn a_computer_noted_again_is_noted_once_per_side_and_per_scan() {
        let domain = Domain::builtin();
        let event = |provider: &Arc<str>, computer: &Arc<str>| Event {
            file: Arc::from("a.evtx"),
            record: 1,
            time: None,
            kind: EventKind::Win(Arc::new(WinEvent {
                provider: Arc::clone(provider),
                computer: Arc::clone(computer),
                ..WinEvent::default()
            })),
            marks: Default::default(),
        };
        let client: Arc<str> = Arc::from(domain.client_provider());
        let server = domain
            .sources
            .iter()
            .find(|s| s.side == Side::Server)
            .expect("a server source");
        let server: Arc<str> = Arc::from(server.provider.as_str());
        let (ws, rds): (Arc<str>, Arc<str>) = (Arc::from("WS01"), Arc::from("RDS01"));
        let side = |client, server| Sides { client, server };
        let first = Computers::new(1);
        first.see(domain, &event(&client, &ws));
        first.see(domain, &event(&client, &ws));
        first.see(domain, &event(&server, &ws));
        first.see(domain, &event(&server, &rds));
        assert_eq!(
            first.into_map(),
            BTreeMap::from([
                ("WS01".to_string(), side(true, true)),
                ("RDS01".to_string(), side(false, true)),
            ])
        );
        // The thread's last note was RDS01 for `first`; a new scan notes it for itself.
        let second = Computers::new(1);
        second.see(domain, &event(&server, &rds));
        assert_eq!(
            second.into_map(),
            BTreeMap::from([("RDS01".to_string(), side(false, true))])
        );
    }

    #[test]
    fn bundle_hosts_are_tied_to_the_computers_the_events_name() {
        let side = |client, server| Sides { client, server };
        let computers = BTreeMap::from([
            ("RDS01.contoso.com".to_string(), side(false, true)),
            ("rds01".to_string(), side(false, false)),
            ("WS-ALICE.contoso.com".to_string(), side(true, false)),
            ("WS-BOB.contoso.com".to_string(), side(true, false)),
            ("WS-BOB.fabrikam.com".to_string(), side(false, false)),
        ]);
        let hosts = Hosts::new(&computers);
        assert_eq!(
            hosts.fqdn_of("RDS01"),
            Some(("RDS01.contoso.com", side(false, true)))
        );
        assert_eq!(
            hosts.fqdn_of("ws-alice").map(|f| f.0),
            Some("WS-ALICE.contoso.com")
        );
        assert_eq!(hosts.fqdn_of("WS-BOB"), None, "two domains: not decided");
        assert_eq!(hosts.fqdn_of("RDS02"), None);
        let mut events = vec![reg("k", "v", "1")];
        let mut accounts = vec![
            FileAccount::new(
                "t/MSRD-Results-RDS01/RDS01_RegistryKeys/x.txt",
                crate::model::FileFormat::RegExport,
            ),
            FileAccount::new(
                "t/MSRD-Results-RDS01/RDS01_Certificates/y.txt",
                crate::model::FileFormat::AclDump,
            ),
            FileAccount::new(
                "t/MSRD-Results-RDS02/z.txt",
                crate::model::FileFormat::AclDump,
            ),
        ];
        tie_hosts(&mut events, &mut accounts, &computers);
        let EventKind::Registry(r) = &events[0].kind else {
            unreachable!()
        };
        assert_eq!(r.computer, "RDS01.contoso.com");
        assert_eq!(
            accounts[0].problem_texts(),
            vec!["note: bundle host RDS01 is the computer RDS01.contoso.com in the event logs; the server side: it holds Remote Desktop server logs".to_string()]
        );
        assert!(
            accounts[1].problems().is_empty(),
            "one note per bundle host"
        );
        assert!(accounts[2].problem_texts()[0].contains("no event log names this computer"));
    }
}
