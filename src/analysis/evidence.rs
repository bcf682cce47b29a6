//! Is there enough evidence to answer at all? A ticket in which nothing relevant could be
//! read, or that holds no Remote Desktop client or server log, is *insufficient evidence*:
//! its own result (exit 4, its own count in `batch`), never "clean".
//!
//! What counts as Remote Desktop evidence (its sources and their side, the client processes,
//! the RDP port, the configuration keys) is the rule pack's domain declaration
//! ([`crate::rules::Domain`]), read by [`Tally::see`]; so is what a missing kind of log is
//! called and how to collect it (its `advice`). The decision itself ([`assess`]) is a
//! pure function of what the ingest saw ([`Seen`]), so it is tested without any file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::diagnosis::{CauseScore, Evidence};
use super::shards::Shards;
use crate::ingest::pml::dedup::Twins;
use crate::model::{Event, FileAccount, FileStatus, ProcmonRow};
use crate::rules::{Domain, LogKind, Side};

/// Counts, per kind of evidence, of every event the ingest read (before the filter that
/// keeps only what a rule can use). Shared by the reading threads, hence atomics.
#[derive(Debug, Default)]
pub struct Tally {
    /// Each reading thread counts in its own share ([`Shards`]).
    shares: Shards<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    client: AtomicU64,
    server: AtomicU64,
    gateway: AtomicU64,
    configuration: AtomicU64,
    procmon_rdp: AtomicU64,
    procmon: AtomicU64,
    system: AtomicU64,
    security: AtomicU64,
    /// `procmon_rdp` of the rows that name no computer (a CSV export's), by file: a CSV found
    /// after reading to be a PML's export gives its count back ([`Tally::seen_without`]). Locked
    /// only for those rows, a few among a log's.
    rdp_by_file: Mutex<Vec<(Arc<str>, u64)>>,
}

impl Tally {
    /// A tally for ingest on a pool of `threads` and the calling thread.
    pub fn new(threads: usize) -> Tally {
        Tally {
            shares: Shards::new(threads),
        }
    }

    /// Count one event, as `domain` declares what it is. Called once for every event read.
    pub fn see(&self, domain: &Domain, e: &Event) {
        let mine = self.shares.mine();
        let add = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        if let Some(w) = e.win() {
            match domain.side_of(&w.provider) {
                Some(Side::Client) => add(&mine.client),
                Some(Side::Server) => add(&mine.server),
                Some(Side::Gateway) => add(&mine.gateway),
                None => {}
            }
            if w.channel.eq_ignore_ascii_case("System") {
                add(&mine.system);
            } else if w.channel.eq_ignore_ascii_case("Security") {
                add(&mine.security);
            }
        } else if domain.is_configuration(e) {
            add(&mine.configuration);
        } else if let Some(p) = e.procmon() {
            add(&mine.procmon);
            if procmon_rdp(domain, p) {
                add(&mine.procmon_rdp);
                if p.computer.is_none() {
                    let mut by_file = mine
                        .rdp_by_file
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    // A file's rows come together: its entry is most often the last.
                    let same = |f: &Arc<str>| Arc::ptr_eq(f, &e.file) || **f == *e.file;
                    match by_file.iter_mut().rev().find(|(f, _)| same(f)) {
                        Some((_, n)) => *n += 1,
                        None => by_file.push((Arc::clone(&e.file), 1)),
                    }
                }
            }
        }
    }

    /// The rows of `file` counted in `procmon_rdp`, when they name no computer (a CSV's).
    fn rdp_rows_of(&self, file: &str) -> u64 {
        self.shares
            .iter()
            .map(|s| {
                s.rdp_by_file
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .filter(|(f, _)| **f == *file)
                    .map(|(_, n)| n)
                    .sum::<u64>()
            })
            .sum()
    }

    /// What was seen, less the Procmon rows found to be another file's events after reading
    /// (a PML's CSV export read beside it: [`Twins`]).
    pub fn seen_without(&self, domain: &Domain, twins: &Twins) -> Seen {
        let mut seen = self.seen();
        for p in twins.rows.iter().filter_map(Event::procmon) {
            seen.procmon = seen.procmon.saturating_sub(1);
            if procmon_rdp(domain, p) {
                seen.procmon_rdp = seen.procmon_rdp.saturating_sub(1);
            }
        }
        for (file, rows) in &twins.whole {
            seen.procmon = seen.procmon.saturating_sub(*rows);
            seen.procmon_rdp = seen.procmon_rdp.saturating_sub(self.rdp_rows_of(file));
        }
        seen
    }

    pub fn seen(&self) -> Seen {
        let sum = |c: fn(&Counts) -> &AtomicU64| -> u64 {
            self.shares
                .iter()
                .map(|s| c(s).load(Ordering::Relaxed))
                .sum()
        };
        Seen {
            client: sum(|s| &s.client),
            server: sum(|s| &s.server),
            server_logs: Default::default(),
            gateway: sum(|s| &s.gateway),
            configuration: sum(|s| &s.configuration),
            procmon_rdp: sum(|s| &s.procmon_rdp),
            procmon: sum(|s| &s.procmon),
            system: sum(|s| &s.system),
            security: sum(|s| &s.security),
        }
    }
}

/// A Procmon row of the RDP client, or on the RDP port.
fn procmon_rdp(domain: &Domain, p: &ProcmonRow) -> bool {
    let port = p.network().is_some_and(|n| {
        n.local_port.is_some_and(|p| domain.is_rdp_port(p))
            || n.remote_port.is_some_and(|p| domain.is_rdp_port(p))
    });
    port || domain.is_client_process(&p.process)
}

/// What the ingest saw, by kind of evidence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// RDP client events (RDPClient/Operational).
    pub client: u64,
    /// The session host's RDP server events (RCM, LSM, RdpCoreTS, TermDD).
    pub server: u64,
    /// Who logged the `server` events in the analysed window: a client computer of the
    /// ticket's connections (its own Remote Desktop service: a workstation's console logons)
    /// or a session host (events left out by --from/--to say nothing either way).
    pub server_logs: super::connection::ServerLogs,
    /// RD Gateway events: Remote Desktop evidence, but no session host's log (a gateway-only
    /// ticket still lacks the server's side).
    pub gateway: u64,
    /// Exported configuration (Terminal Server, TermService and Schannel keys, machine-key
    /// ACLs): it corroborates events, it never stands in for them (docs/domain.md §8), so a
    /// ticket of configuration alone is insufficient evidence.
    pub configuration: u64,
    /// Procmon rows of the RDP client or on the RDP port.
    pub procmon_rdp: u64,
    /// Procmon rows of any process.
    pub procmon: u64,
    /// System-log events (Schannel, TermDD, service control: either side).
    pub system: u64,
    /// Security-log events (firewall drops, logons).
    pub security: u64,
}

impl Seen {
    /// Every one of the `server` events was logged by a client computer, none by a session
    /// host it connected to: the server's log is still missing.
    fn server_of_clients_only(&self) -> bool {
        self.server > 0 && self.server_logs.clients_only()
    }
}

/// A kind of log a ticket may lack. What the report calls it and the one collection step that
/// brings it are the domain's `advice` declaration ([`Domain::advice`]).
struct Source {
    kind: LogKind,
    present: fn(&Seen) -> bool,
}

const CLIENT_LOG: Source = Source {
    kind: LogKind::Client,
    present: |s| s.client > 0,
};
const SERVER_LOG: Source = Source {
    kind: LogKind::Server,
    present: |s| s.server > 0 && !s.server_of_clients_only(),
};
const SYSTEM_LOG: Source = Source {
    kind: LogKind::System,
    present: |s| s.system > 0,
};
const SECURITY_LOG: Source = Source {
    kind: LogKind::Security,
    present: |s| s.security > 0,
};
const PROCMON: Source = Source {
    kind: LogKind::Procmon,
    present: |s| s.procmon_rdp > 0,
};

/// The most useful first: the order in which [`assess`] proposes the next step.
const ALL: [&Source; 5] = [
    &CLIENT_LOG,
    &SERVER_LOG,
    &SYSTEM_LOG,
    &PROCMON,
    &SECURITY_LOG,
];

/// The sources that would confirm or refute a cause (DOMAIN.md §3).
fn sources_for(cause: &str) -> &'static [&'static Source] {
    match cause {
        "certificate" => &[&SYSTEM_LOG, &SERVER_LOG, &PROCMON],
        "tls" => &[&SYSTEM_LOG, &CLIENT_LOG],
        // The server's side first: whether the server ended it tells a path drop from a
        // server going down (§3.8–3.10); a Procmon capture shows the path's retransmits.
        "network" => &[&CLIENT_LOG, &SERVER_LOG, &PROCMON],
        "firewall" => &[&SECURITY_LOG, &PROCMON],
        "server-refused" | "listener" => &[&SERVER_LOG, &SYSTEM_LOG],
        "server-down" => &[&SYSTEM_LOG, &SERVER_LOG],
        "gateway" => &[&SERVER_LOG, &CLIENT_LOG],
        _ => &[&CLIENT_LOG, &SERVER_LOG],
    }
}

/// The verdict's opening words when the evidence is insufficient (tests and batch read it).
pub const INSUFFICIENT: &str = "Insufficient evidence";

/// Decide whether `seen` is enough to answer, and what is missing, for the ticket and for
/// each of its causes (named, with how to collect them, as `domain` advises).
pub fn assess(
    domain: &Domain,
    seen: &Seen,
    inputs: &[FileAccount],
    causes: &[CauseScore],
    anchors: usize,
) -> Evidence {
    let rdp = seen.client + seen.server + seen.gateway + seen.procmon_rdp;
    let missing: Vec<&Source> = ALL.iter().copied().filter(|s| !(s.present)(seen)).collect();
    let read = inputs
        .iter()
        .filter(|a| matches!(a.status, FileStatus::Ok | FileStatus::Partial))
        .count();
    let reason = if rdp > 0 {
        unexplained(seen, anchors, causes)
    } else if read == 0 {
        Some("no input could be read".to_string())
    } else {
        Some(format!(
            "{read} file{} read, but no Remote Desktop client or server event and no Process Monitor row of the RDP client or port{}",
            if read == 1 { "" } else { "s" },
            if seen.configuration > 0 {
                " (the exported configuration read corroborates events, it cannot stand in for them)"
            } else {
                ""
            }
        ))
    };
    Evidence {
        sufficient: reason.is_none(),
        reason,
        rdp_client_events: seen.client,
        // A client computer's own Remote Desktop service events are no session host's.
        rdp_server_events: if seen.server_of_clients_only() {
            0
        } else {
            seen.server.saturating_sub(seen.server_logs.clients)
        } + seen.gateway,
        procmon_rdp_rows: seen.procmon_rdp,
        missing: missing
            .iter()
            .map(|s| domain.advice(s.kind).0.to_string())
            .collect(),
        causes: causes
            .iter()
            .map(|c| {
                let missing: Vec<String> = sources_for(c.cause.as_str())
                    .iter()
                    .filter(|s| !(s.present)(seen))
                    .map(|s| {
                        let (name, step) = domain.advice(s.kind);
                        format!("{name}: {step}")
                    })
                    .collect();
                (c.cause, missing)
            })
            .filter(|(_, missing)| !missing.is_empty())
            .collect(),
        next_step: next_step(seen, causes, &missing).map(|s| domain.advice(s.kind).1.to_string()),
    }
}

/// The source whose collection would help most: what the top cause lacks, else the first
/// missing source in [`ALL`] order. A cause at context confidence is no cause to serve: with
/// nothing above it, the next step is the first missing log (the server's, when the client's
/// is here). A high-confidence cause that lacks none of its logs needs no next step.
fn next_step(
    seen: &Seen,
    causes: &[CauseScore],
    missing: &[&'static Source],
) -> Option<&'static Source> {
    use super::rank::Confidence;
    // Without the client's log no disconnect, 0x904 or other, was seen: whatever the server's
    // side suggests, the first thing to get is the log that says whether the failure is one.
    if !(CLIENT_LOG.present)(seen) {
        return Some(&CLIENT_LOG);
    }
    let Some(top) = causes.iter().find(|c| c.confidence != Confidence::Context) else {
        return missing.first().copied();
    };
    let for_top = sources_for(top.cause.as_str())
        .iter()
        .find(|s| !(s.present)(seen));
    match for_top {
        Some(s) => Some(*s),
        None if top.confidence == Confidence::High => None,
        None => missing.first().copied(),
    }
}

/// Why a ticket whose client log shows `anchors` 0x904 disconnects that nothing read explains
/// above background noise, and that lacks the session host's logs, is insufficient evidence
/// too: only the server's side separates certificate, TLS, refusal and a server going down
/// (docs/domain.md §7), so "no cause" there means "not collected", not "clean".
fn unexplained(seen: &Seen, anchors: usize, causes: &[CauseScore]) -> Option<String> {
    use super::rank::Confidence;
    if anchors == 0
        || (SERVER_LOG.present)(seen)
        || causes.iter().any(|c| c.confidence != Confidence::Context)
    {
        return None;
    }
    Some(format!(
        "{anchors} 0x904 disconnect{} in the client's log, but nothing read explains {} and the session host's logs (RemoteConnectionManager, LocalSessionManager, RdpCoreTS) are missing",
        if anchors == 1 { "" } else { "s" },
        if anchors == 1 { "it" } else { "them" },
    ))
}

/// The verdict line: unchanged when the evidence is sufficient.
pub fn verdict(evidence: &Evidence, verdict: String) -> String {
    match &evidence.reason {
        None => verdict,
        Some(why) => format!("{INSUFFICIENT}: {why}; {verdict}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FileFormat;

    fn account(status: FileStatus) -> FileAccount {
        let mut a = FileAccount::new("f", FileFormat::Evtx);
        a.status = status;
        a
    }

    #[test]
    fn nothing_read_is_insufficient() {
        let d = Domain::builtin();
        let e = assess(d, &Seen::default(), &[account(FileStatus::Failed)], &[], 0);
        assert!(!e.sufficient);
        assert_eq!(e.reason.as_deref(), Some("no input could be read"));
        assert_eq!(e.missing.len(), ALL.len());
        assert_eq!(e.next_step.as_deref(), Some(d.advice(LogKind::Client).1));
    }

    #[test]
    fn logs_without_rdp_events_are_insufficient() {
        let seen = Seen {
            system: 40,
            procmon: 100,
            ..Seen::default()
        };
        let d = Domain::builtin();
        let e = assess(d, &seen, &[account(FileStatus::Ok)], &[], 0);
        assert!(!e.sufficient);
        assert!(e.reason.unwrap().starts_with("1 file read"));
        let system = d.advice(LogKind::System).0;
        assert!(!e.missing.iter().any(|m| m == system));
    }

    /// Exported configuration corroborates events; alone it answers nothing (§8).
    #[test]
    fn configuration_alone_is_insufficient() {
        let seen = Seen {
            configuration: 12,
            ..Seen::default()
        };
        let e = assess(Domain::builtin(), &seen, &[account(FileStatus::Ok)], &[], 0);
        assert!(!e.sufficient);
        assert_eq!(e.rdp_server_events, 0);
        assert!(e.reason.unwrap().contains("configuration"));
    }

    #[test]
    fn any_rdp_source_is_enough() {
        for seen in [
            Seen {
                client: 1,
                ..Seen::default()
            },
            Seen {
                server: 1,
                ..Seen::default()
            },
            Seen {
                procmon_rdp: 1,
                procmon: 1,
                ..Seen::default()
            },
            Seen {
                gateway: 1,
                ..Seen::default()
            },
        ] {
            let e = assess(Domain::builtin(), &seen, &[account(FileStatus::Ok)], &[], 0);
            assert!(e.sufficient, "{seen:?}");
            assert_eq!(verdict(&e, "v".into()), "v");
        }
    }

    /// A gateway's log answers (it is Remote Desktop evidence) but is no session host's log:
    /// a gateway-only ticket is still told to collect the server's logs, for the ticket and
    /// for a gateway cause; with the session host's events too, it is not.
    #[test]
    fn a_gateway_log_is_no_session_hosts_log() {
        let d = Domain::builtin();
        let server = d.advice(LogKind::Server).0;
        let cause = scored(
            crate::rules::Cause::Gateway,
            crate::analysis::rank::Confidence::High,
        );
        for (host_events, lacks) in [(0, true), (5, false)] {
            let seen = Seen {
                client: 4,
                gateway: 9,
                server: host_events,
                ..Seen::default()
            };
            let e = assess(
                d,
                &seen,
                &[account(FileStatus::Ok)],
                std::slice::from_ref(&cause),
                0,
            );
            assert!(e.sufficient);
            assert_eq!(e.rdp_server_events, 9 + host_events);
            assert_eq!(e.missing.iter().any(|m| m == server), lacks, "{e:?}");
            let gateway_lacks = e
                .causes
                .iter()
                .any(|(c, m)| *c == cause.cause && m.iter().any(|m| m.starts_with(server)));
            assert_eq!(gateway_lacks, lacks, "{e:?}");
        }
    }

    /// A ranked cause with nothing but its name and confidence.
    fn scored(
        cause: crate::rules::Cause,
        confidence: crate::analysis::rank::Confidence,
    ) -> CauseScore {
        CauseScore {
            cause,
            confidence,
            score: 1.0,
            why: String::new(),
            findings: vec![],
            more_findings: 0,
            remediation: String::new(),
            references: vec![],
            against: vec![],
            near_anchors: Default::default(),
            logged_near: Default::default(),
        }
    }

    /// With no client log, a cause read from the server's side still asks for the client's
    /// log first: it alone says whether the failure is a 0x904.
    #[test]
    fn without_the_client_log_the_next_step_is_the_client_log() {
        let seen = Seen {
            server: 3,
            system: 40,
            ..Seen::default()
        };
        let cause = scored(
            crate::rules::Cause::Certificate,
            crate::analysis::rank::Confidence::High,
        );
        let d = Domain::builtin();
        let e = assess(d, &seen, &[account(FileStatus::Ok)], &[cause], 0);
        assert_eq!(e.next_step.as_deref(), Some(d.advice(LogKind::Client).1));
    }

    /// A client log with 0x904s that nothing explains, and no session host's log, is not
    /// "no cause": it is insufficient, and the next step is the server's logs, not a capture
    /// the context-only network cause lacks. With a cause above context, or the server's log
    /// read, or no 0x904, the ticket is answered.
    #[test]
    fn unexplained_0x904s_without_the_servers_side_are_insufficient() {
        let d = Domain::builtin();
        let client_only = Seen {
            client: 8,
            ..Seen::default()
        };
        let with_server = Seen {
            server: 4,
            ..client_only
        };
        let context = scored(
            crate::rules::Cause::Network,
            crate::analysis::rank::Confidence::Context,
        );
        let low = scored(
            crate::rules::Cause::Network,
            crate::analysis::rank::Confidence::Low,
        );
        for (seen, anchors, cause, insufficient) in [
            (client_only, 2, &context, true),
            (client_only, 0, &context, false),
            (client_only, 2, &low, false),
            (with_server, 2, &context, false),
        ] {
            let causes = std::slice::from_ref(cause);
            let e = assess(d, &seen, &[account(FileStatus::Ok)], causes, anchors);
            let case = (seen.server, anchors, cause.confidence);
            assert_eq!(e.sufficient, !insufficient, "{case:?}: {e:?}");
            assert_eq!(e.reason.is_some(), insufficient, "{case:?}");
        }
        let causes = std::slice::from_ref(&context);
        let e = assess(d, &client_only, &[account(FileStatus::Ok)], causes, 0);
        assert_eq!(e.next_step.as_deref(), Some(d.advice(LogKind::Server).1));
    }

    /// A high-confidence cause that lacks none of its logs needs no next step; a medium one
    /// is told the first missing log.
    #[test]
    fn a_confirmed_cause_needs_no_next_step() {
        let d = Domain::builtin();
        let seen = Seen {
            client: 3,
            server: 2,
            system: 9,
            ..Seen::default()
        };
        for (confidence, step) in [
            (crate::analysis::rank::Confidence::High, None),
            (
                crate::analysis::rank::Confidence::Medium,
                Some(d.advice(LogKind::Procmon).1),
            ),
        ] {
            let cause = scored(crate::rules::Cause::ServerDown, confidence);
            let e = assess(d, &seen, &[account(FileStatus::Ok)], &[cause], 0);
            assert_eq!(e.next_step.as_deref(), step, "{confidence:?}");
        }
    }

    #[test]
    fn the_next_step_serves_the_top_cause() {
        let seen = Seen {
            client: 3,
            ..Seen::default()
        };
        let cause = scored(
            crate::rules::Cause::Firewall,
            crate::analysis::rank::Confidence::Low,
        );
        let d = Domain::builtin();
        let e = assess(d, &seen, &[account(FileStatus::Ok)], &[cause], 0);
        assert_eq!(e.next_step.as_deref(), Some(d.advice(LogKind::Security).1));
        assert_eq!(e.causes.len(), 1);
        assert_eq!(e.causes[0].1.len(), 2);
    }

    #[test]
    fn procmon_rows_count_by_process_or_port() {
        use crate::model::{EventKind, ProcmonRow, RowText};
        let row = |process: &str, port: Option<u16>| Event {
            file: "f".into(),
            record: 1,
            time: None,
            kind: EventKind::Procmon(Box::new(ProcmonRow {
                process: process.into(),
                text: port.map_or_else(RowText::default, |p| {
                    RowText::with_network(&format!("a:50000 -> b:{p}"), "")
                }),
                ..ProcmonRow::default()
            })),
            marks: Default::default(),
        };
        let t = Tally::default();
        let d = Domain::builtin();
        t.see(d, &row("MSTSC.EXE", None));
        t.see(d, &row("svchost.exe", Some(3389)));
        t.see(d, &row("svchost.exe", Some(445)));
        let s = t.seen();
        assert_eq!((s.procmon, s.procmon_rdp), (3, 2));
    }
}
