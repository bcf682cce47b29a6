//! The scan report as Markdown: what an engineer pastes into the ticket reply. Log text is
//! escaped (`super::escape::markdown`) so it cannot format, link, inject HTML or break tables.

use std::io::{self, Write};

use super::accounts::status_word;
use super::escape::{markdown as md, markdown_reference};
use super::schema::ScanReport;
use crate::units::{count, offset_words};

/// The connection column: its phase and life, then its server side, in one cell.
fn connection_cell(d: &super::schema::DisconnectOut) -> String {
    let parts: Vec<String> = [
        super::table::connection_line(d),
        super::table::server_line(d),
        super::table::near_line(d),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

pub fn write(out: &mut dyn Write, r: &ScanReport) -> io::Result<()> {
    writeln!(out, "## Remote Desktop 0x904 triage\n")?;
    writeln!(out, "**Verdict:** {}\n", md(&r.verdict))?;
    if !r.disconnects.is_empty() {
        writeln!(out, "### Disconnects\n")?;
        writeln!(
            out,
            "| time (UTC) | client | server | code | meaning | connection |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        for d in &r.disconnects {
            writeln!(
                out,
                "| {} | {} | {} | {}{} | {} | {} |",
                md(d.time.as_deref().unwrap_or("-")),
                md(&d.computer),
                md(d.server.as_deref().unwrap_or("?")),
                md(&d.hex),
                if d.is_0x904 { " (this one)" } else { "" },
                md(&d.meaning),
                md(&connection_cell(d))
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out, "### Probable causes\n")?;
    if r.causes.is_empty() {
        writeln!(out, "No rule found evidence for any cause.\n")?;
    }
    for (i, c) in r.causes.iter().enumerate() {
        writeln!(
            out,
            "{}. **{}** — {} confidence (score {})",
            i + 1,
            md(&c.cause),
            c.confidence.as_str(),
            c.score
        )?;
        writeln!(out, "   - Why: {}", md(&c.why))?;
        for f in &c.findings {
            let first = match (
                f.time.as_deref(),
                f.last_time.as_deref(),
                f.occurred.as_deref(),
            ) {
                // An event logged later than what it reports (a 6008 at the next boot).
                (Some(a), _, Some(o)) => Some(format!("happened {o}, logged {a}")),
                (Some(a), Some(b), None) => Some(format!("{a} … {b}")),
                (a, _, _) => a.map(str::to_string),
            };
            let when = match (first, f.seconds_from_anchor) {
                (Some(t), Some(s)) if f.near_anchor && f.last_time.is_some() => {
                    format!("{t}, nearest {}", offset_words(s))
                }
                (Some(t), Some(s)) if f.near_anchor => format!("{t}, {}", offset_words(s)),
                (Some(t), _) => t,
                (None, _) => "time unknown".to_string(),
            };
            writeln!(
                out,
                "   - Evidence ({}, {}): {} — {} record {}",
                md(&f.effective_strength),
                md(&when),
                md(&f.evidence),
                md(&f.file),
                f.record
            )?;
        }
        if c.more_findings > 0 {
            writeln!(
                out,
                "   - and {} more",
                count(c.more_findings, "finding", "findings")
            )?;
        }
        let fix = c.remediation_line();
        if !fix.is_empty() {
            writeln!(out, "   - **What to do:** {}", md(&fix))?;
        }
        for reference in &c.references {
            writeln!(out, "   - Reference: {}", markdown_reference(reference))?;
        }
    }
    writeln!(out, "\n### Files read\n")?;
    writeln!(out, "| file | read | events | problems |")?;
    writeln!(out, "|---|---|---|---|")?;
    for a in &r.inputs {
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            md(&a.file),
            status_word(a.status),
            a.events,
            md(&a.problems_text())
        )?;
    }
    // The times above are on the client's clock: say so for each server moved onto it.
    let moved: Vec<_> = r.clocks.iter().filter(|c| c.applied).collect();
    if !moved.is_empty() {
        writeln!(out, "\n### Clocks\n")?;
        for c in moved {
            writeln!(out, "- {}", md(&c.note))?;
        }
    }
    write_evidence(out, r)
}

/// What is missing from the ticket, and the one collection step that would help most.
fn write_evidence(out: &mut dyn Write, r: &ScanReport) -> io::Result<()> {
    let e = &r.evidence;
    if e.missing.is_empty() && e.causes.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n### Missing evidence\n")?;
    for c in &e.causes {
        for m in &c.missing {
            writeln!(
                out,
                "- would confirm or refute **{}**: {}",
                md(&c.cause),
                md(m)
            )?;
        }
    }
    if e.causes.is_empty() {
        for m in &e.missing {
            writeln!(out, "- {}", md(m))?;
        }
    }
    if let Some(step) = &e.next_step {
        writeln!(out, "\n**Most useful next step:** {}", md(step))?;
    }
    Ok(())
}
