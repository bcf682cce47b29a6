//! The scan result: the one structure every output format writes, and the documented,
//! versioned JSON schema (`rdtriage.scan/3`). Adding a field is a new schema version: the
//! tests deserialize the output with unknown fields denied.
//!
//! Schema notes:
//! - `rdtriage.scan/1`: verdict, inputs, alignment, disconnects, causes.
//! - `rdtriage.scan/2`: adds `evidence` (is there enough Remote Desktop evidence to answer at
//!   all, what is missing per cause, the one collection step that would help most) and, in
//!   `batch` reports only, `inputs_sha256` (the content hash `--incremental` compares).
//! - `rdtriage.scan/3`: adds each disconnect's `near_causes` (which causes have evidence near
//!   that 0x904: with several 0x904s, which cause goes with which).
//! - Not in the JSON: each cause's `against` (what weighs against it, typed in the diagnosis),
//!   which the HTML page words. Written to the JSON it would be a new schema version.

use serde::{Deserialize, Serialize};

use crate::analysis::diagnosis::{Against, ClientDisconnect, Evidence, ScoredFinding};
use crate::analysis::server_side::ServerConnection;
use crate::analysis::{CauseScore, Diagnosis, Scan};
use crate::model::FileAccount;
use crate::rules::domain::ServerRole;

/// Confidence is ranking's (`analysis::rank`); the JSON spells it in lowercase.
pub use crate::analysis::Confidence;

/// The schema id written in every JSON report.
pub const SCHEMA: &str = "rdtriage.scan/3";

/// The whole answer for one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanReport {
    pub schema: String,
    /// One line for people: what was found.
    pub verdict: String,
    /// What each input file yielded (read fully / partly / not at all, and why).
    pub inputs: Vec<FileAccount>,
    /// How Procmon's local times were placed on the UTC time line.
    pub alignment: AlignmentOut,
    /// Every client disconnect found (RDPClient 1026), 0x904 or not, in time order.
    pub disconnects: Vec<DisconnectOut>,
    /// Each server's clock against the client's: estimate, evidence, whether applied (scan/2).
    pub clocks: Vec<ClockOut>,
    /// The probable causes, best first.
    pub causes: Vec<CauseOut>,
    /// Whether the ticket holds enough Remote Desktop evidence to answer (scan/2).
    pub evidence: EvidenceOut,
    /// `batch` only: SHA-256 over the ticket's input files, the tool's version and the rules
    /// (what `--incremental` compares); absent from `scan` (scan/2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_sha256: Option<String>,
}

/// Is there enough evidence to answer, and what is missing (scan/2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceOut {
    /// False: the verdict is *insufficient evidence* (exit 4), not "clean".
    pub sufficient: bool,
    /// Why the evidence is insufficient, when it is.
    pub reason: Option<String>,
    /// Events read from the RDP client's log (before any filtering).
    pub rdp_client_events: u64,
    /// Events read from the RDP server's logs (RCM, LSM, RdpCoreTS, TermDD) and RD Gateway's.
    pub rdp_server_events: u64,
    /// Procmon rows of the RDP client process or on the RDP port.
    pub procmon_rdp_rows: u64,
    /// Kinds of log this ticket lacks.
    pub missing: Vec<String>,
    /// Per cause: what would confirm or refute it and is missing, with how to collect it.
    pub causes: Vec<CauseMissing>,
    /// The one collection step that would help most, if any is missing.
    pub next_step: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseMissing {
    pub cause: String,
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignmentOut {
    pub method: String,
    pub date: Option<String>,
    pub utc_offset: Option<String>,
    pub note: String,
}

/// A client disconnect event, decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisconnectOut {
    pub file: String,
    pub record: u64,
    pub time: Option<String>,
    pub computer: String,
    /// The server the client was connecting to (the 1024 of the same connection), if found.
    pub server: Option<String>,
    pub code: u32,
    pub hex: String,
    pub meaning: String,
    pub layer: String,
    /// Whether this is the 0x904 this tool explains (an anchor for proximity).
    pub is_0x904: bool,
    pub activity_id: Option<String>,
    /// How far its connection got: `transport`, `security handshake`, `authenticated` (its
    /// server's 1149, no logon) or `established session` (scan/2; docs/domain.md §7).
    pub phase: Option<String>,
    /// When its connection started (the 1024), RFC 3339 UTC (scan/2).
    pub connection_start: Option<String>,
    /// How long its connection lived, in milliseconds (scan/2).
    pub lived_ms: Option<i64>,
    /// When its connection reached logon (the 1027), if it did (scan/2).
    pub logon: Option<String>,
    /// The server's side of its connection, when it was found (scan/2; absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side: Option<ServerSideOut>,
    /// A 0x904's causes with evidence near it (within a time-bound rule's window, or logged in
    /// the minute before it or the seconds after), as `causes` orders them (context left out);
    /// empty for other disconnects and for a 0x904 nothing was logged near (scan/3).
    pub near_causes: Vec<String>,
}

/// One connection as the server saw it (RCM, LSM, RdpCoreTS events grouped by client address
/// and session; docs/connections.md), tied to a client disconnect's connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSideOut {
    pub host: String,
    pub session: Option<String>,
    /// The client's address as the server logged it.
    pub client_address: Option<String>,
    pub user: Option<String>,
    /// What it reached, in order, each with its event ids: `accepted 131/261`,
    /// `authenticated 1149`, `logon 21/22`, `disconnected 24/40`, `logged off 23`.
    pub reached: Vec<String>,
    /// When it was accepted, authenticated, logged on and ended (RFC 3339 UTC, client clock).
    pub accepted: Option<String>,
    pub authenticated: Option<String>,
    pub logon: Option<String>,
    pub ended: Option<String>,
    /// The end event's reason code (LSM 40) and its documented meaning, if any.
    pub end_reason: Option<String>,
    pub end_reason_meaning: Option<String>,
}

impl From<&ServerConnection> for ServerSideOut {
    fn from(s: &ServerConnection) -> ServerSideOut {
        let steps = [
            (ServerRole::Accept, "accepted"),
            (ServerRole::Authenticated, "authenticated"),
            (ServerRole::Logon, "logon"),
            (ServerRole::Disconnect, "disconnected"),
            (ServerRole::Logoff, "logged off"),
        ];
        let reached = steps
            .iter()
            .filter_map(|(role, word)| {
                let ids = s.ids(*role);
                (!ids.is_empty()).then(|| {
                    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
                    format!("{word} {}", ids.join("/"))
                })
            })
            .collect();
        let end = s.end.as_ref();
        let reason = end.and_then(|e| e.reason.as_ref());
        ServerSideOut {
            host: s.host.clone(),
            session: s.session.clone(),
            client_address: s.address.clone(),
            user: s.user.clone(),
            reached,
            accepted: s.accepted.map(|t| t.to_string()),
            authenticated: s.authenticated.map(|t| t.to_string()),
            logon: s.logon.map(|t| t.to_string()),
            ended: end.and_then(|e| e.time).map(|t| t.to_string()),
            end_reason: reason.map(|r| r.0.clone()),
            end_reason_meaning: reason.and_then(|r| r.1.clone()),
        }
    }
}

/// One server host's clock offset from the client (scan/2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockOut {
    pub host: String,
    /// Server minus client, in milliseconds; `None` when it cannot be estimated.
    pub offset_ms: Option<i64>,
    /// How many client 1025 ↔ server 131/261 pairs it rests on.
    pub pairs: u64,
    /// Largest minus smallest proposal, in milliseconds: the uncertainty.
    pub spread_ms: Option<i64>,
    /// Whether the server's event times were moved onto the client's clock.
    pub applied: bool,
    pub note: String,
}

/// One probable cause with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CauseOut {
    pub cause: String,
    pub confidence: Confidence,
    /// Higher is more likely; comparable within one report only.
    pub score: f64,
    /// Why this rank, in a sentence.
    pub why: String,
    /// The strongest evidence first, capped; `more_findings` counts the rest.
    pub findings: Vec<FindingOut>,
    pub more_findings: u64,
    pub remediation: String,
    pub references: Vec<String>,
    /// What weighs against it, typed, for the formats that word it (HTML). Not in the JSON
    /// (scan/2 has no such field); a report read back from JSON has none.
    #[serde(skip)]
    pub against: Vec<Against>,
}

impl CauseOut {
    /// The remediation on one line (rule files wrap it), for the table and Markdown.
    pub fn remediation_line(&self) -> String {
        self.remediation
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One piece of evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindingOut {
    pub rule: String,
    pub title: String,
    /// The rule's strength, and the strength it counted with after proximity.
    pub strength: String,
    pub effective_strength: String,
    pub source: String,
    pub file: String,
    pub record: u64,
    /// The first event's time (for an aggregation, the earliest of its events).
    pub time: Option<String>,
    /// For an aggregation spanning time: its last event's time (`seconds_from_anchor` is then
    /// the offset of its event nearest the 0x904).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
    /// When what the event reports happened, where its data says so and that is not `time`
    /// (EventLog 6008: the shutdown, logged at the next boot); `seconds_from_anchor` counts
    /// from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred: Option<String>,
    /// The rendered evidence line (log text: escape it before showing it).
    pub evidence: String,
    /// Events behind this finding (an aggregation groups several).
    pub events: u64,
    /// Seconds from the nearest 0x904 (negative: before it), when both have a time.
    pub seconds_from_anchor: Option<i64>,
    pub near_anchor: bool,
}

impl From<&Diagnosis> for ScanReport {
    /// The JSON shape of a diagnosis: times in RFC 3339, durations in milliseconds or
    /// seconds, enums by their spelling.
    fn from(d: &Diagnosis) -> ScanReport {
        ScanReport {
            schema: SCHEMA.to_string(),
            verdict: d.verdict.clone(),
            inputs: d.inputs.clone(),
            alignment: AlignmentOut {
                method: d.alignment.method.to_string(),
                date: d.alignment.date.clone(),
                utc_offset: d.alignment.utc_offset.clone(),
                note: d.alignment.note.clone(),
            },
            disconnects: d.disconnects.iter().map(DisconnectOut::from).collect(),
            clocks: d
                .clocks
                .iter()
                .map(|c| ClockOut {
                    host: c.host.clone(),
                    offset_ms: c.offset.map(|o| o.as_millis() as i64),
                    pairs: c.pairs as u64,
                    spread_ms: c.spread.map(|s| s.as_millis() as i64),
                    applied: c.applied,
                    note: c.note.clone(),
                })
                .collect(),
            causes: d.causes.iter().map(CauseOut::from).collect(),
            evidence: EvidenceOut::from(&d.evidence),
            inputs_sha256: None,
        }
    }
}

impl From<&ClientDisconnect> for DisconnectOut {
    fn from(d: &ClientDisconnect) -> DisconnectOut {
        DisconnectOut {
            file: d.file.clone(),
            record: d.record,
            time: d.time.map(|t| t.to_string()),
            computer: d.computer.clone(),
            server: d.server.clone(),
            code: d.decoded.code,
            hex: d.decoded.hex.clone(),
            meaning: d.decoded.meaning.clone(),
            layer: d.decoded.layer.to_string(),
            is_0x904: d.is_0x904,
            activity_id: d.activity_id.clone(),
            phase: d.phase.map(|p| p.as_str().to_string()),
            connection_start: d.connection_start.map(|t| t.to_string()),
            lived_ms: d.lived.map(|l| l.as_millis() as i64),
            logon: d.logon.map(|t| t.to_string()),
            server_side: d.server_side.as_ref().map(ServerSideOut::from),
            near_causes: d
                .near_causes
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
        }
    }
}

impl From<&CauseScore> for CauseOut {
    fn from(c: &CauseScore) -> CauseOut {
        CauseOut {
            cause: c.cause.as_str().to_string(),
            confidence: c.confidence,
            score: c.score,
            why: c.why.clone(),
            findings: c.findings.iter().map(FindingOut::from).collect(),
            more_findings: c.more_findings,
            remediation: c.remediation.clone(),
            references: c.references.clone(),
            against: c.against.clone(),
        }
    }
}

impl From<&ScoredFinding> for FindingOut {
    fn from(f: &ScoredFinding) -> FindingOut {
        FindingOut {
            rule: f.rule.clone(),
            title: f.title.clone(),
            strength: f.strength.as_str().to_string(),
            effective_strength: f.effective.as_str().to_string(),
            source: f.source.as_str().to_string(),
            file: f.file.clone(),
            record: f.record,
            time: f.time.map(|t| t.to_string()),
            last_time: f.last_time.map(|t| t.to_string()),
            occurred: f.occurred.map(|t| t.to_string()),
            evidence: f.evidence.clone(),
            events: f.events,
            seconds_from_anchor: f.from_anchor.map(|d| d.as_secs()),
            near_anchor: f.near_anchor,
        }
    }
}

impl From<&Evidence> for EvidenceOut {
    fn from(e: &Evidence) -> EvidenceOut {
        EvidenceOut {
            sufficient: e.sufficient,
            reason: e.reason.clone(),
            rdp_client_events: e.rdp_client_events,
            rdp_server_events: e.rdp_server_events,
            procmon_rdp_rows: e.procmon_rdp_rows,
            missing: e.missing.clone(),
            causes: e
                .causes
                .iter()
                .map(|(cause, missing)| CauseMissing {
                    cause: cause.as_str().to_string(),
                    missing: missing.clone(),
                })
                .collect(),
            next_step: e.next_step.clone(),
        }
    }
}

impl Scan {
    /// This scan's report, in the shape every output format writes.
    pub fn report(&self) -> ScanReport {
        ScanReport::from(&self.diagnosis)
    }
}
