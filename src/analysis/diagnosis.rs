//! The typed answer for one ticket: what analysis found, with enums and timestamps, before
//! any output format turns it into text. `report/` converts a [`Diagnosis`] into every
//! format (the JSON of `report::schema` among them); analysis never names an output type.

use jiff::{SignedDuration, Timestamp};

use super::align::Alignment;
use super::clock::Skew;
use super::connection::Phase;
use super::disconnect::Disconnect;
use crate::model::{FileAccount, Source};
use crate::rules::{Cause, Strength};

pub use super::rank::Confidence;

/// Everything analysis concluded about one ticket.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// One line for people: what was found.
    pub verdict: String,
    /// What each input file yielded.
    pub inputs: Vec<FileAccount>,
    /// How Procmon's local times were placed on the UTC time line.
    pub alignment: Alignment,
    /// Every client disconnect, 0x904 or not, in time order.
    pub disconnects: Vec<ClientDisconnect>,
    /// Each server's clock against the client's.
    pub clocks: Vec<Skew>,
    /// The probable causes, best first.
    pub causes: Vec<CauseScore>,
    /// Whether the ticket holds enough Remote Desktop evidence to answer.
    pub evidence: Evidence,
}

/// A client disconnect event (RDPClient 1026), decoded, with its connection.
#[derive(Debug, Clone)]
pub struct ClientDisconnect {
    pub file: String,
    pub record: u64,
    pub time: Option<Timestamp>,
    pub computer: String,
    /// The server the client was connecting to (the 1024 of the same connection), if found.
    pub server: Option<String>,
    pub decoded: Disconnect,
    /// Whether this is the 0x904 this tool explains (an anchor for proximity).
    pub is_0x904: bool,
    pub activity_id: Option<String>,
    /// How far its connection got.
    pub phase: Option<Phase>,
    /// When its connection started (the 1024).
    pub connection_start: Option<Timestamp>,
    /// How long its connection lived.
    pub lived: Option<SignedDuration>,
    /// When its connection reached logon (the 1027), if it did.
    pub logon: Option<Timestamp>,
    /// The server's side of its connection (server_side.rs), when it was found.
    pub server_side: Option<super::server_side::ServerConnection>,
    /// Its event's index in the scan's events (a 0x904's is its anchor's).
    pub event: usize,
    /// A 0x904's causes with findings near it ([`CauseScore::logged_near`]), in the order the
    /// causes are ranked; context-only causes left out. Empty for other disconnects, and for
    /// a 0x904 with no evidence logged near it (a setting, a state logged long before).
    pub near_causes: Vec<Cause>,
}

/// One probable cause, as ranking scored it.
#[derive(Debug, Clone)]
pub struct CauseScore {
    pub cause: Cause,
    pub confidence: Confidence,
    /// Higher is more likely; comparable within one diagnosis only.
    pub score: f64,
    /// Why this rank, in a sentence.
    pub why: String,
    /// The strongest evidence first, capped; `more_findings` counts the rest.
    pub findings: Vec<ScoredFinding>,
    pub more_findings: u64,
    pub remediation: String,
    pub references: Vec<String>,
    /// What weighs against it, in the order a report lists it.
    pub against: Vec<Against>,
    /// The 0x904s (anchor event indexes) its time-bound findings are near, counted at full or
    /// reduced strength: which of several 0x904s it explains.
    pub near_anchors: std::collections::BTreeSet<usize>,
    /// The 0x904s any of its findings above context is near: those of time-bound rules, and a
    /// lasting state's logged in the minute before one or the seconds after (the failing
    /// attempt's own evidence; `rules::engine::LASTING_WINDOW`).
    pub logged_near: std::collections::BTreeSet<usize>,
}

/// What [`Against::LongAfter`]'s findings did, in words (the text report and the HTML page
/// say it alike).
pub const LONG_AFTER_WORDS: &str = "came first more than 15 minutes after the 0x904 on a server whose log was running then (a broken state fails every handshake as it happens: it began after the 0x904)";
const _: () = assert!(super::anchors::LONG_AFTER.as_secs() == 15 * 60);

/// Something that weighs against a cause, as the analysis decided it; `report/` words it.
#[derive(Debug, Clone, PartialEq)]
pub enum Against {
    /// Another cause ranks above this one (the best one is named).
    Outranked { by: Cause, confidence: Confidence },
    /// Time-bound findings outside their rule's window around every 0x904, counted weaker
    /// than their rule says.
    FarFromAnchor { findings: u64 },
    /// Findings logged before the 0x904's connection reached logon on that server: the TLS
    /// handshake and its certificate worked then, so they count as context.
    BeforeLogon { findings: u64 },
    /// Findings logged during the established session the 0x904 ended, on that server: the
    /// session's handshake was done, so they are about another connection's and count as
    /// context.
    InSession { findings: u64 },
    /// Findings followed by a successful logon to that server before the 0x904's connection
    /// began (or, with no 0x904, at all): the broken state they show was repaired by then,
    /// so they count as context.
    Repaired { findings: u64 },
    /// Findings logged after a successful logon to that server that followed the 0x904: the
    /// broken state they show began after it, so they count as context.
    Later { findings: u64 },
    /// Lasting-state findings first logged more than 15 minutes after the 0x904 on a server
    /// whose log was already running at the 0x904: a broken key or protocol fails every
    /// handshake as it happens, so the state began after it, and they count as context.
    LongAfter { findings: u64 },
    /// The logs hold no 0x904 to tie the evidence to.
    NoAnchor,
    /// One rule alone found it, and that rule's evidence is weak (or context) at best.
    LoneWeakRule { strength: Strength },
    /// Only exported configuration supports it: no event at a 0x904 shows it mattered.
    ConfigurationOnly,
    /// The bundle holds the very setting the cause would break, as Windows ships it.
    HealthyConfiguration { setting: String },
    /// Input files not read fully: evidence in them was not seen.
    NotReadFully { files: u64 },
    /// Its evidence is only what the client sees when `of` happens (a reset, the socket
    /// closing): `of`, found on the connection's server, explains it.
    SymptomOf { of: Cause },
    /// Its evidence is only what the client sees of its socket closing, and the ticket holds
    /// no log of the session host: a server that went down, ran out of memory or ended the
    /// session would look the same from the client.
    ServerUnseen,
}

/// One piece of evidence for a cause, with what ranking decided about it.
#[derive(Debug, Clone)]
pub struct ScoredFinding {
    pub rule: String,
    pub title: String,
    /// The rule's strength, and the strength it counted with after proximity.
    pub strength: Strength,
    pub effective: Strength,
    pub source: Source,
    pub file: String,
    pub record: u64,
    pub time: Option<Timestamp>,
    /// The latest of an aggregated finding's events, when later than `time`.
    pub last_time: Option<Timestamp>,
    /// When what the event reports happened, where its data says so and it is not `time`
    /// (EventLog 6008: the shutdown, logged at the next boot); `from_anchor` counts from it.
    pub occurred: Option<Timestamp>,
    /// The rendered evidence line (log text: escape it before showing it).
    pub evidence: String,
    /// Events behind this finding (an aggregation groups several).
    pub events: u64,
    /// Time from the nearest 0x904 (negative: before it), when both have a time.
    pub from_anchor: Option<SignedDuration>,
    pub near_anchor: bool,
}

/// Is there enough evidence to answer, and what is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// False: the verdict is *insufficient evidence* (exit 4), not "clean".
    pub sufficient: bool,
    /// Why the evidence is insufficient, when it is.
    pub reason: Option<String>,
    pub rdp_client_events: u64,
    pub rdp_server_events: u64,
    pub procmon_rdp_rows: u64,
    /// Kinds of log this ticket lacks, as the domain's `advice` names them.
    pub missing: Vec<String>,
    /// Per cause: what would confirm or refute it and is missing, with how to collect it.
    pub causes: Vec<(Cause, Vec<String>)>,
    /// The one collection step that would help most, if any is missing.
    pub next_step: Option<String>,
}
