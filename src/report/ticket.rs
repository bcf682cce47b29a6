//! One ticket's line in a batch: what a pipeline needs about a ticket without its report
//! (`batch`'s JSON lines, its table, JUnit, the Markdown summary, and `merge`), and the exit
//! code that ticket adds. Built from the ticket's report, so a report recorded by an earlier
//! run (`--incremental`) or read back by `merge` gives the same line.

use serde::{Deserialize, Serialize};

use super::schema::ScanReport;
use crate::analysis::Confidence;
use crate::exit::{Exit, Outcome};
use crate::model::FileStatus;

/// One line of the batch summary: what a pipeline needs about a ticket without its report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSummary {
    pub ticket: String,
    /// 0x904 disconnects found.
    pub anchors: usize,
    pub top_cause: Option<String>,
    pub confidence: Option<Confidence>,
    /// Findings behind the top cause.
    pub evidence: u64,
    /// How far the 0x904s' connections got (`transport`, `security handshake`, `established
    /// session`), distinct values in time order joined by `, `; `None` without a 0x904 or
    /// when no connection could be grouped.
    pub phase: Option<String>,
    pub files_ok: usize,
    pub files_partial: usize,
    pub files_failed: usize,
    pub files_skipped: usize,
    /// No Remote Desktop evidence could be read: the verdict is *insufficient evidence*.
    pub insufficient_evidence: bool,
    /// The report's file stem in `--out` (`STEM.json`, `STEM.md`), when reports are written.
    pub report: Option<String>,
    /// Why the report could not be written, when it could not.
    pub report_error: Option<String>,
}

/// The distinct phases of the 0x904s' connections, in time order.
fn phases(r: &ScanReport) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for d in r.disconnects.iter().filter(|d| d.is_0x904) {
        if let Some(p) = d.phase.as_deref()
            && !seen.contains(&p)
        {
            seen.push(p);
        }
    }
    (!seen.is_empty()).then(|| seen.join(", "))
}

impl TicketSummary {
    pub fn of(ticket: &str, r: &ScanReport) -> TicketSummary {
        let count = |s: FileStatus| r.inputs.iter().filter(|a| a.status == s).count();
        let top = r.causes.first();
        TicketSummary {
            ticket: ticket.to_string(),
            anchors: r.disconnects.iter().filter(|d| d.is_0x904).count(),
            top_cause: top.map(|c| c.cause.clone()),
            confidence: top.map(|c| c.confidence),
            evidence: top.map_or(0, |c| c.findings.len() as u64 + c.more_findings),
            phase: phases(r),
            files_ok: count(FileStatus::Ok),
            files_partial: count(FileStatus::Partial),
            files_failed: count(FileStatus::Failed),
            files_skipped: count(FileStatus::Skipped),
            insufficient_evidence: !r.evidence.sufficient,
            report: None,
            report_error: None,
        }
    }

    /// The top cause reaches `fail_on` (at or above that confidence).
    pub fn gate_hit(&self, fail_on: Option<Confidence>) -> bool {
        matches!((self.confidence, fail_on), (Some(c), Some(t)) if c <= t)
    }

    /// Some input was not read fully. A ticket of which nothing at all could be read is
    /// *insufficient evidence* instead (exit 4, as `scan` gives it).
    pub fn unread(&self) -> bool {
        Outcome::unread(
            self.files_ok,
            self.files_partial,
            self.files_failed,
            self.insufficient_evidence,
        )
    }

    /// How this ticket ended (`scan` decides its exit from the same facts).
    pub fn outcome(&self, fail_on: Option<Confidence>) -> Outcome {
        Outcome {
            usage_error: false,
            gate_hit: self.gate_hit(fail_on),
            inputs_unread: self.unread(),
            insufficient_evidence: self.insufficient_evidence,
            output_failed: self.report_error.is_some(),
        }
    }

    /// What this ticket adds to the batch's exit code.
    pub fn exit(&self, fail_on: Option<Confidence>) -> Exit {
        Exit::from(&self.outcome(fail_on))
    }
}
