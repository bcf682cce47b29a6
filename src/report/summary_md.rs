//! The batch as a Markdown job summary (for `$GITHUB_STEP_SUMMARY` or a merge request): the
//! totals by outcome, then one line per ticket that needs a look, with its report file.
//! Ticket names and causes are log-derived text and escaped like every Markdown cell.

use std::io::{self, Write};

use super::escape::markdown as md;
use crate::exit::Exit;
use crate::report::schema::Confidence;
use crate::report::ticket::TicketSummary;

/// Tickets by outcome. Each ticket counts once, under its highest-precedence outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub tickets: usize,
    pub gate: usize,
    pub unread: usize,
    pub insufficient: usize,
    pub output_failed: usize,
    pub ok: usize,
}

impl Totals {
    pub fn add(&mut self, exit: Exit) {
        self.tickets += 1;
        match exit {
            Exit::CauseFound => self.gate += 1,
            Exit::PartialInput => self.unread += 1,
            Exit::InsufficientEvidence => self.insufficient += 1,
            Exit::OutputFailed => self.output_failed += 1,
            Exit::Ok | Exit::Usage => self.ok += 1,
        }
    }
}

/// Whether a ticket gets a line: anything but a clean pass, or a cause above context.
pub fn needs_a_look(s: &TicketSummary, fail_on: Option<Confidence>) -> bool {
    s.exit(fail_on) != Exit::Ok || s.confidence.is_some_and(|c| c != Confidence::Context)
}

/// The outcome of a ticket in words (the JUnit status and the exit code agree with it).
pub fn outcome(s: &TicketSummary, fail_on: Option<Confidence>) -> &'static str {
    match s.exit(fail_on) {
        Exit::CauseFound => "cause at --fail-on",
        Exit::PartialInput => "inputs not read",
        Exit::InsufficientEvidence => "insufficient evidence",
        Exit::OutputFailed => "report not written",
        Exit::Ok | Exit::Usage => "ok",
    }
}

/// A report's file as a code span: a stem holds only what `report_stem` keeps or writes
/// (ASCII letters, digits, `-`, `_`, `.`, `%`, `~`), none of which can end a code span or a
/// line. Anything else (a forged stem, which `merge` refuses) is shown as inert text.
fn report_file(stem: &str) -> String {
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'%' | b'~');
    if !stem.is_empty() && stem.bytes().all(plain) {
        format!("`{stem}.md`")
    } else {
        md(&format!("{stem}.md"))
    }
}

/// Write the summary: `look` holds the tickets that need a look, in ticket order.
pub fn write(
    out: &mut dyn Write,
    totals: &Totals,
    look: &[TicketSummary],
    fail_on: Option<Confidence>,
) -> io::Result<()> {
    writeln!(out, "## rdtriage batch: {} tickets\n", totals.tickets)?;
    writeln!(out, "| outcome | tickets |")?;
    writeln!(out, "|---|---:|")?;
    let gate = match fail_on {
        Some(c) => format!("cause at or above {} (--fail-on)", c.as_str()),
        None => "cause at --fail-on (not set)".to_string(),
    };
    for (what, n) in [
        (gate.as_str(), totals.gate),
        ("inputs not read fully", totals.unread),
        ("insufficient evidence", totals.insufficient),
        ("report not written", totals.output_failed),
        ("ok", totals.ok),
    ] {
        writeln!(out, "| {what} | {n} |")?;
    }
    writeln!(out)?;
    if look.is_empty() {
        writeln!(out, "No ticket needs a look.")?;
        return Ok(());
    }
    writeln!(out, "### Tickets that need a look ({})\n", look.len())?;
    writeln!(
        out,
        "| ticket | outcome | top cause | confidence | 0x904 | report |"
    )?;
    writeln!(out, "|---|---|---|---|---:|---|")?;
    for s in look {
        let report = match (&s.report, &s.report_error) {
            (_, Some(e)) => format!("not written: {}", md(e)),
            (Some(stem), None) => report_file(stem),
            (None, None) => "-".to_string(),
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            md(&s.ticket),
            outcome(s, fail_on),
            md(s.top_cause.as_deref().unwrap_or("-")),
            s.confidence.map_or("-", |c| c.as_str()),
            s.anchors,
            report
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_file_is_a_code_span_only_when_nothing_can_break_it() {
        assert_eq!(report_file("T-1_a.zip%20~0f"), "`T-1_a.zip%20~0f.md`");
        let forged =
            report_file("x\u{1b}[31m\n\n# Hi @everyone ![t](https://evil.example/p.png) | c");
        assert!(!forged.contains(['\n', '\u{1b}', '`']), "{forged}");
        assert!(
            forged.contains("@&#8203;everyone") && forged.contains("\\|"),
            "{forged}"
        );
        assert!(!forged.contains("://"), "{forged}");
    }
}
