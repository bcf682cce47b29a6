//! What `batch` and `merge` print, from one typed stream of tickets in name order: the
//! summary table, JSONL (one `{"summary", "report"}` object per ticket, streamed) or JUnit
//! XML on stdout, and the Markdown job summary in a file. Both commands feed the same
//! [`BatchOutput`], so a merged run writes exactly what one unsharded run writes.
//!
//! A stdout that fails (a consumer that closed the pipe, a full disk) stops stdout only: the
//! tickets are still counted, the summary file still written, and the exit code is what the
//! whole run earns combined with [`Exit::OutputFailed`], never lower.

use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::junit::Junit;
use super::summary_md::{self, Totals};
use crate::exit::Exit;
use crate::report::schema::{Confidence, ScanReport};
use crate::report::ticket::TicketSummary;
use crate::sanitize::terminal;

/// One JSONL line of `batch --format jsonl`: the fields in this order.
#[derive(Serialize)]
pub struct BatchLine<'a> {
    pub summary: &'a TicketSummary,
    pub report: &'a ScanReport,
}

/// One JSONL line read back (by `merge`, and by tests).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchLineOwned {
    pub summary: TicketSummary,
    pub report: ScanReport,
}

/// The first line of `batch --shard K/N --format jsonl`: which shard the part is and how many
/// tickets it holds, so that `merge` can tell a missing, repeated or unfinished shard. An
/// unsharded run writes none (its JSONL is exactly what a merge writes).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardLine {
    /// `K/N`, as `--shard` takes it (K 1-based).
    pub shard: String,
    pub tickets: u64,
}

/// What goes to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFormat {
    Table,
    Jsonl,
    Junit,
}

pub struct BatchOutput<'a> {
    format: BatchFormat,
    out: &'a mut dyn Write,
    out_error: Option<io::Error>,
    fail_on: Option<Confidence>,
    width: u16,
    rows: Vec<TicketSummary>,
    look: Vec<TicketSummary>,
    keep_look: bool,
    junit: Junit,
    totals: Totals,
    exit: Exit,
    buf: Vec<u8>,
}

impl<'a> BatchOutput<'a> {
    pub fn new(
        format: BatchFormat,
        out: &'a mut dyn Write,
        fail_on: Option<Confidence>,
        width: u16,
        summary_md: bool,
    ) -> Self {
        BatchOutput {
            format,
            out,
            out_error: None,
            fail_on,
            width,
            rows: Vec::new(),
            look: Vec::new(),
            keep_look: summary_md,
            junit: Junit::default(),
            totals: Totals::default(),
            exit: Exit::Ok,
            buf: Vec::new(),
        }
    }

    /// What the format needs of the report besides the summary: JSONL wants the line,
    /// JUnit the Markdown.
    pub fn needs_report(&self) -> bool {
        self.format != BatchFormat::Table
    }

    /// Before the tickets of a shard: its [`ShardLine`] (JSONL only: what `merge` reads).
    pub fn shard(&mut self, shard: &ShardLine) {
        if self.format != BatchFormat::Jsonl || self.out_error.is_some() {
            return;
        }
        let mut line = super::json::to_vec(shard).unwrap_or_default();
        line.push(b'\n');
        if let Err(e) = self.out.write_all(&line) {
            self.out_error = Some(e);
        }
    }

    /// Add the next ticket. `line` is its JSONL line when the caller already has it (merge
    /// copies lines as they are); otherwise it is serialized from `report`.
    pub fn ticket(&mut self, s: &TicketSummary, report: Option<&ScanReport>, line: Option<&[u8]>) {
        let exit = s.exit(self.fail_on);
        self.exit = self.exit.worst(exit);
        self.totals.add(exit);
        if self.keep_look && summary_md::needs_a_look(s, self.fail_on) {
            self.look.push(s.clone());
        }
        match self.format {
            BatchFormat::Table => self.rows.push(s.clone()),
            BatchFormat::Junit => {
                let mut md = Vec::new();
                if let Some(r) = report {
                    // Into a Vec: cannot fail.
                    let _ = super::markdown::write(&mut md, r);
                }
                self.junit
                    .add(s, &String::from_utf8_lossy(&md), self.fail_on);
            }
            BatchFormat::Jsonl => {
                if self.out_error.is_some() {
                    return;
                }
                self.buf.clear();
                let written = match (line, report) {
                    (Some(line), _) => self.out.write_all(line),
                    (None, Some(report)) => {
                        let ser = super::json::to_writer(
                            &mut self.buf,
                            &BatchLine { summary: s, report },
                        );
                        self.buf.push(b'\n');
                        ser.map_err(io::Error::from)
                            .and_then(|()| self.out.write_all(&self.buf))
                    }
                    (None, None) => Ok(()),
                };
                if let Err(e) = written {
                    self.out_error = Some(e);
                }
            }
        }
    }

    /// Write what is written at the end (table, JUnit, the summary file) and return the
    /// exit code of the whole run. Problems go to `err`.
    pub fn finish(mut self, summary_md: Option<&Path>, err: &mut dyn Write) -> Exit {
        if self.out_error.is_none() {
            let end = match self.format {
                BatchFormat::Table => write_table(self.out, &self.rows, &self.totals, self.width),
                BatchFormat::Junit => std::mem::take(&mut self.junit).write(self.out),
                BatchFormat::Jsonl => Ok(()),
            };
            if let Err(e) = end.and_then(|()| self.out.flush()) {
                self.out_error = Some(e);
            }
        }
        let mut exit = self.exit;
        if let Some(e) = &self.out_error {
            if e.kind() != io::ErrorKind::BrokenPipe {
                let _ = writeln!(err, "rdtriage: cannot write output: {e}");
            }
            exit = exit.worst(Exit::OutputFailed);
        }
        if let Some(path) = summary_md {
            let written = std::fs::File::create(path).and_then(|f| {
                let mut w = io::BufWriter::new(f);
                summary_md::write(&mut w, &self.totals, &self.look, self.fail_on)?;
                w.flush()
            });
            if let Err(e) = written {
                let _ = writeln!(
                    err,
                    "rdtriage: {}: cannot write the summary: {e}",
                    terminal(&path.display().to_string())
                );
                exit = exit.worst(Exit::OutputFailed);
            }
        }
        exit
    }
}

fn write_table(
    out: &mut dyn Write,
    rows: &[TicketSummary],
    totals: &Totals,
    width: u16,
) -> io::Result<()> {
    let with_reports = rows
        .iter()
        .any(|r| r.report.is_some() || r.report_error.is_some());
    let mut header = vec![
        "ticket",
        "0x904",
        "top cause",
        "confidence",
        "evidence",
        "files ok/partial/failed",
    ];
    if with_reports {
        header.push("report");
    }
    let mut table = super::style::table_with_header(width, header);
    for r in rows {
        let cause = if r.insufficient_evidence && r.top_cause.is_none() {
            "(insufficient evidence)".to_string()
        } else {
            r.top_cause.clone().unwrap_or_else(|| "-".into())
        };
        let mut row = vec![
            super::style::cell(&r.ticket),
            r.anchors.to_string(),
            super::style::cell(&cause),
            r.confidence.map_or("-", |c| c.as_str()).to_string(),
            r.evidence.to_string(),
            format!("{}/{}/{}", r.files_ok, r.files_partial, r.files_failed),
        ];
        if with_reports {
            row.push(match (&r.report, &r.report_error) {
                (_, Some(e)) => format!("not written: {}", super::style::cell(e)),
                // A merged part's stem is checked, but it is shown as log text anyway.
                (Some(stem), None) => super::style::cell(&format!("{stem}.md")),
                (None, None) => "-".into(),
            });
        }
        table.add_row(row);
    }
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "{} tickets: {} with a cause at --fail-on, {} with inputs not read fully, {} with insufficient evidence, {} with a report not written, {} ok",
        totals.tickets,
        totals.gate,
        totals.unread,
        totals.insufficient,
        totals.output_failed,
        totals.ok
    )
}
