//! `rdtriage merge PART...`: combine the JSONL outputs of `batch --shard K/N` into exactly
//! what one unsharded `batch` writes (JSONL, JUnit, table, job summary) and exit as it would.
//!
//! Each part is in ticket order (batch writes it so), so the merge is a k-way merge that
//! holds one line per part: memory does not grow with the batch for JSONL (JUnit and the
//! table are built whole, as in `batch`). JSONL lines are copied as they are, byte for byte.
//! A part that is not batch JSONL, is out of order, or names a ticket another part names
//! too (the same shard given twice) is a usage error: the merge would not be what one run
//! writes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::cli::{BatchFormat, Config, MergeConfig};
use crate::exit::Exit;
use crate::report::batch_out::{BatchLineOwned, BatchOutput};
use crate::report::schema::ScanReport;
use crate::report::ticket::TicketSummary;
use crate::sanitize::terminal;

/// The longest line read from a part (a ticket's whole report); past it the part is refused.
const MAX_LINE: u64 = 256 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SummaryOnly {
    summary: TicketSummary,
    #[allow(dead_code)]
    report: IgnoredAny,
}

/// The next ticket of one part.
struct Head {
    summary: TicketSummary,
    report: Option<ScanReport>,
    line: Vec<u8>,
}

struct Part {
    path: PathBuf,
    reader: BufReader<File>,
    line_no: u64,
    head: Option<Head>,
}

impl Part {
    /// Read the next line into `head`; `Err` is the message for a bad part.
    fn advance(&mut self, full: bool) -> Result<(), String> {
        let previous = self.head.take().map(|h| h.summary.ticket);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .map_err(|e| format!("cannot read: {e}"))?;
            self.line_no += 1;
            if n == 0 {
                return Ok(());
            }
            if line.last() != Some(&b'\n') {
                return Err(format!(
                    "line {}: cut short (no line end): a shard that did not finish?",
                    self.line_no
                ));
            }
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                break;
            }
        }
        let bad = |e: serde_json::Error| {
            format!(
                "line {}: not a line of `batch --format jsonl` from this version: {e}",
                self.line_no
            )
        };
        let (summary, report) = if full {
            let l: BatchLineOwned = serde_json::from_slice(&line).map_err(bad)?;
            (l.summary, Some(l.report))
        } else {
            let l: SummaryOnly = serde_json::from_slice(&line).map_err(bad)?;
            (l.summary, None)
        };
        if let Some(prev) = previous
            && prev >= summary.ticket
        {
            return Err(format!(
                "line {}: ticket {:?} after {prev:?}: not in ticket order",
                self.line_no, summary.ticket
            ));
        }
        self.head = Some(Head {
            summary,
            report,
            line,
        });
        Ok(())
    }
}

pub fn run(
    config: &Config,
    m: &MergeConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<Exit> {
    let full = m.format != BatchFormat::Jsonl;
    let mut parts = Vec::with_capacity(m.parts.len());
    for path in &m.parts {
        let name = terminal(&path.display().to_string()).into_owned();
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                writeln!(err, "rdtriage: {name}: cannot open: {e}")?;
                return Ok(Exit::Usage);
            }
        };
        let mut part = Part {
            path: path.clone(),
            reader: BufReader::new(file),
            line_no: 0,
            head: None,
        };
        if let Err(why) = part.advance(full) {
            writeln!(err, "rdtriage: {name}: {why}")?;
            return Ok(Exit::Usage);
        }
        parts.push(part);
    }
    let width = m.width.or(config.terminal_width).unwrap_or(80);
    let mut output = BatchOutput::new(m.format, out, m.fail_on, width, m.summary_md.is_some());
    loop {
        // The part whose next ticket comes first; a tie is one ticket in two parts.
        let mut best: Option<usize> = None;
        for (i, p) in parts.iter().enumerate() {
            let Some(h) = &p.head else { continue };
            match best {
                None => best = Some(i),
                Some(b) => {
                    let other = &parts[b].head.as_ref().expect("best has a head").summary;
                    if h.summary.ticket < other.ticket {
                        best = Some(i);
                    } else if h.summary.ticket == other.ticket {
                        writeln!(
                            err,
                            "rdtriage: ticket {} is in both {} and {}: the same shard given twice?",
                            terminal(&h.summary.ticket),
                            terminal(&parts[b].path.display().to_string()),
                            terminal(&p.path.display().to_string())
                        )?;
                        return Ok(Exit::Usage);
                    }
                }
            }
        }
        let Some(i) = best else { break };
        let part = &mut parts[i];
        let head = part.head.take().expect("chosen part has a head");
        output.ticket(&head.summary, head.report.as_ref(), Some(&head.line));
        // `advance` checks order against the ticket just taken.
        part.head = Some(Head {
            summary: head.summary,
            report: None,
            line: Vec::new(),
        });
        if let Err(why) = part.advance(full) {
            writeln!(
                err,
                "rdtriage: {}: {why}",
                terminal(&part.path.display().to_string())
            )?;
            return Ok(Exit::Usage);
        }
    }
    Ok(output.finish(m.summary_md.as_deref(), err))
}
