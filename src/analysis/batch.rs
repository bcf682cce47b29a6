//! Batch triage: every child of a folder (a folder or a `.zip`) is one support ticket.
//! Tickets are analysed in parallel, a window of them at a time, and handed on strictly in
//! name order, so the output is the same for any thread count and memory holds only the
//! window, not the batch. A broken ticket is a ticket with unreadable inputs, never the end
//! of the batch.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::{ScanOptions, scan};
use crate::ingest::discover::discover;
use crate::model::FileStatus;
use crate::report::schema::{Confidence, ScanReport};

/// A ticket: its name (the child's file name) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub name: String,
    pub path: PathBuf,
}

/// A child of the batch folder that is not a ticket: its name and why.
pub type NotATicket = (String, String);

/// The children of `dir` that are tickets, sorted by name, and the ones that are not.
pub fn tickets(dir: &Path) -> std::io::Result<(Vec<Ticket>, Vec<NotATicket>)> {
    let mut children: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    children.sort_by_key(|c| c.file_name());
    let mut tickets = Vec::new();
    let mut skipped = Vec::new();
    for c in children {
        let name = c.file_name().to_string_lossy().into_owned();
        let path = c.path();
        let is_zip = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if path.is_dir() || (path.is_file() && is_zip) {
            tickets.push(Ticket { name, path });
        } else {
            skipped.push((name, "not a folder or a .zip".to_string()));
        }
    }
    Ok((tickets, skipped))
}

/// One line of the batch summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketSummary {
    pub ticket: String,
    /// 0x904 disconnects found.
    pub anchors: usize,
    pub top_cause: Option<String>,
    pub confidence: Option<Confidence>,
    /// Findings behind the top cause.
    pub evidence: u64,
    pub files_ok: usize,
    pub files_partial: usize,
    pub files_failed: usize,
    pub files_skipped: usize,
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
            files_ok: count(FileStatus::Ok),
            files_partial: count(FileStatus::Partial),
            files_failed: count(FileStatus::Failed),
            files_skipped: count(FileStatus::Skipped),
        }
    }
}

/// Analyse every ticket; `on_done` gets each ticket's report in ticket order, on this thread.
pub fn run(
    tickets: &[Ticket],
    opts: &ScanOptions<'_>,
    on_done: &mut dyn FnMut(&Ticket, ScanReport),
) {
    let threads = crate::ingest::effective_threads(opts.threads);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
    // One thread per ticket inside: the parallelism is across tickets.
    let per_ticket = ScanOptions {
        threads: 1,
        limits: opts.limits,
        hints: opts.hints,
        rules: opts.rules,
    };
    let analyse = |t: &Ticket| {
        scan(
            discover(std::slice::from_ref(&t.path), &opts.limits),
            &per_ticket,
            false,
        )
        .report
    };
    for window in tickets.chunks(threads * 4) {
        let reports: Vec<ScanReport> = match &pool {
            Ok(pool) => pool.install(|| window.par_iter().map(analyse).collect()),
            Err(_) => window.iter().map(analyse).collect(),
        };
        for (t, r) in window.iter().zip(reports) {
            on_done(t, r);
        }
    }
}

/// A ticket name made safe as a file name (for `--out`).
pub fn file_stem(ticket: &str) -> String {
    let stem: String = ticket
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_start_matches('.').to_string();
    if stem.is_empty() {
        "ticket".to_string()
    } else {
        stem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe() {
        assert_eq!(file_stem("T-1234.zip"), "T-1234.zip");
        assert_eq!(file_stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_stem("tic ket\u{1b}[31m"), "tic_ket__31m");
        assert_eq!(file_stem(""), "ticket");
    }
}
