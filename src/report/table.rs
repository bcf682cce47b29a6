//! The scan report for a person at a terminal: the verdict, the disconnects, the ranked causes
//! with their best evidence and the fix, and what was read. Fits the given width (80 by
//! default); every piece of log text is escaped; colour only when asked for (a TTY without
//! `NO_COLOR`).

use std::io::{self, Write};

use comfy_table::{Cell, Color, Table};

use super::accounts::status_word;
use super::schema::{Confidence, ScanReport};
use crate::sanitize::terminal;
use crate::units::{offset_words, time_ms};

/// How many evidence lines each cause shows in the table (the JSON has up to five).
const EVIDENCE_LINES: usize = 3;

fn table(width: u16) -> Table {
    super::style::table(width)
}

fn confidence_cell(c: Confidence, color: bool) -> Cell {
    let cell = Cell::new(c.as_str());
    if !color {
        return cell;
    }
    cell.fg(match c {
        Confidence::High => Color::Red,
        Confidence::Medium => Color::Yellow,
        Confidence::Low => Color::Cyan,
        Confidence::Context => Color::DarkGrey,
    })
}

/// Write the report as tables.
pub fn write(out: &mut dyn Write, r: &ScanReport, width: u16, color: bool) -> io::Result<()> {
    writeln!(out, "{}", terminal(&r.verdict))?;
    writeln!(out)?;
    if !r.disconnects.is_empty() {
        let mut t = table(width);
        t.set_header(vec![
            "disconnect (UTC)",
            "client → server",
            "code",
            "meaning",
        ]);
        for d in &r.disconnects {
            let code = if d.is_0x904 {
                format!("{} ◀", d.hex)
            } else {
                d.hex.clone()
            };
            t.add_row(vec![
                d.time.as_deref().map_or_else(|| "-".into(), time_ms),
                terminal(&format!(
                    "{} → {}",
                    d.computer,
                    d.server.as_deref().unwrap_or("?")
                ))
                .into_owned(),
                code,
                terminal(&d.meaning).into_owned(),
            ]);
        }
        writeln!(out, "{t}")?;
        writeln!(out)?;
    }
    if r.causes.is_empty() {
        writeln!(out, "No rule found evidence for any cause.")?;
    } else {
        let mut t = table(width);
        t.set_header(vec!["#", "cause", "confidence", "evidence and fix"]);
        if color {
            t.enforce_styling();
        } else {
            t.force_no_tty();
        }
        for (i, c) in r.causes.iter().enumerate() {
            let mut text = String::new();
            for f in c.findings.iter().take(EVIDENCE_LINES) {
                let when = f
                    .seconds_from_anchor
                    .filter(|_| f.near_anchor)
                    .map(|s| format!(" ({})", offset_words(s)))
                    .unwrap_or_default();
                text.push_str(&format!("• {}{}\n", terminal(&f.evidence), when));
            }
            let rest = c.findings.len().saturating_sub(EVIDENCE_LINES) as u64 + c.more_findings;
            if rest > 0 {
                text.push_str(&format!("  (+{rest} more)\n"));
            }
            text.push_str(&format!("why: {}\n", c.why));
            let fix = c.remediation_line();
            if !fix.is_empty() {
                text.push_str(&format!("fix: {}", terminal(&fix)));
            }
            t.add_row(vec![
                Cell::new(i + 1),
                Cell::new(&c.cause),
                confidence_cell(c.confidence, color),
                Cell::new(text.trim_end()),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    writeln!(out)?;
    let mut t = table(width);
    t.set_header(vec!["input", "read", "events", "problems"]);
    for a in &r.inputs {
        t.add_row(vec![
            terminal(&a.file).into_owned(),
            status_word(a.status).to_string(),
            a.events.to_string(),
            terminal(&a.problems_text()).into_owned(),
        ]);
    }
    writeln!(out, "{t}")?;
    if r.inputs
        .iter()
        .any(|a| a.format == crate::model::FileFormat::ProcmonCsv)
    {
        writeln!(
            out,
            "Procmon time alignment: {}",
            terminal(&r.alignment.note)
        )?;
    }
    Ok(())
}
