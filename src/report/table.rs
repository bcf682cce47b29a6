//! The scan report for a person at a terminal: the verdict, the disconnects, the ranked causes
//! with their best evidence and the fix, and what was read. Fits the given width (80 by
//! default); every piece of log text is escaped; colour only when asked for (a TTY without
//! `NO_COLOR`).

use std::io::{self, Write};

use comfy_table::{Cell, Color, Table};

use super::accounts::status_word;
use super::schema::{Confidence, DisconnectOut, FindingOut, ScanReport};
use super::style::cell;
use crate::sanitize::terminal;
use crate::units::{offset_words, span_words, time_ms};

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

/// The phase a disconnect's connection reached and how long it lived, as people say it:
/// "established session, lived 3 h 21 min"; rounded to the second, and under 10 s to the
/// tenth ("security handshake, lived 2.9 s": a cut 2.9 s read as 2 s).
pub fn connection_line(d: &DisconnectOut) -> Option<String> {
    let phase = d.phase.as_deref()?;
    Some(match d.lived_ms {
        Some(ms) if ms >= 0 => format!("{phase}, lived {}", lifetime_words(ms as u64)),
        _ => phase.to_string(),
    })
}

/// A connection's life in words, from milliseconds: tenths of a second under 10 s, else
/// [`span_words`] of the nearest second.
fn lifetime_words(ms: u64) -> String {
    let tenths = ms.saturating_add(50) / 100;
    if tenths < 100 {
        format!("{}.{} s", tenths / 10, tenths % 10)
    } else {
        span_words(ms.saturating_add(500) / 1000)
    }
}

/// The causes with evidence near a 0x904, as one line: "evidence near it: server-down,
/// licensing" (which of several 0x904s each cause goes with). None when it has none.
pub fn near_line(d: &DisconnectOut) -> Option<String> {
    (!d.near_causes.is_empty()).then(|| format!("evidence near it: {}", d.near_causes.join(", ")))
}

/// The server's side of a disconnect's connection, as one line: "server RDS01 session 4,
/// CONTOSO\alice from 10.20.31.77: accepted 131/261, authenticated 1149, logon 21/22,
/// disconnected 24/40 (reason 11: disconnected by the user (RPC))". Log text: escape it.
pub fn server_line(d: &DisconnectOut) -> Option<String> {
    let s = d.server_side.as_ref()?;
    let mut line = format!("server {}", s.host);
    if let Some(session) = &s.session {
        line.push_str(&format!(" session {session}"));
    }
    let who = match (&s.user, &s.client_address) {
        (Some(u), Some(a)) => format!("{u} from {a}"),
        (Some(u), None) => u.clone(),
        (None, Some(a)) => format!("from {a}"),
        (None, None) => String::new(),
    };
    if !who.is_empty() {
        line.push_str(&format!(", {who}"));
    }
    line.push_str(&format!(": {}", s.reached.join(", ")));
    if let Some(code) = &s.end_reason {
        match &s.end_reason_meaning {
            Some(m) => line.push_str(&format!(" (reason {code}: {m})")),
            None => line.push_str(&format!(" (reason {code}, undocumented)")),
        }
    }
    Some(line)
}

/// When a finding was, beside its evidence line: an aggregation's first and last time, and the
/// offset (of its event nearest the 0x904) when it is near one.
fn when_words(f: &FindingOut) -> String {
    let offset = f
        .seconds_from_anchor
        .filter(|_| f.near_anchor)
        .map(offset_words);
    let span = match (
        f.time.as_deref(),
        f.last_time.as_deref(),
        f.occurred.as_deref(),
    ) {
        // An event logged later than what it reports (a 6008 at the next boot).
        (Some(a), _, Some(o)) => Some(format!("happened {}, logged {}", time_ms(o), time_ms(a))),
        (Some(a), Some(b), None) => Some(format!("{} … {}", time_ms(a), time_ms(b))),
        _ => None,
    };
    match (span, offset) {
        (Some(s), Some(o)) => format!(" ({s}; nearest {o})"),
        (Some(s), None) => format!(" ({s})"),
        (None, Some(o)) => format!(" ({o})"),
        (None, None) => String::new(),
    }
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
                cell(&format!(
                    "{} → {}",
                    d.computer,
                    d.server.as_deref().unwrap_or("?")
                )),
                code,
                [
                    Some(cell(&d.meaning)),
                    connection_line(d),
                    server_line(d).map(|l| cell(&l)),
                    near_line(d).map(|l| cell(&l)),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("\n"),
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
                let when = when_words(f);
                text.push_str(&format!("• {}{}\n", cell(&f.evidence), when));
            }
            let rest = c.findings.len().saturating_sub(EVIDENCE_LINES) as u64 + c.more_findings;
            if rest > 0 {
                text.push_str(&format!("  (+{rest} more)\n"));
            }
            text.push_str(&format!("why: {}\n", c.why));
            let fix = c.remediation_line();
            if !fix.is_empty() {
                text.push_str(&format!("fix: {}", cell(&fix)));
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
            cell(&a.file),
            status_word(a.status).to_string(),
            a.events.to_string(),
            cell(&a.problems_text()),
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
    // The times above are on the client's clock: say so for each server moved onto it.
    for c in r.clocks.iter().filter(|c| c.applied) {
        writeln!(out, "Clock: {}", terminal(&c.note))?;
    }
    if let Some(step) = &r.evidence.next_step {
        writeln!(out, "Next step: {}", terminal(step))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_rounded_not_cut() {
        assert_eq!(lifetime_words(2_900), "2.9 s");
        assert_eq!(lifetime_words(2_960), "3.0 s");
        assert_eq!(lifetime_words(120), "0.1 s");
        assert_eq!(lifetime_words(9_949), "9.9 s");
        assert_eq!(lifetime_words(9_950), "10 s");
        assert_eq!(lifetime_words(59_600), "1 min");
        assert_eq!(lifetime_words(2_295_400), "38 min 15 s");
    }

    #[test]
    fn an_event_logged_after_what_it_reports_says_both_times() {
        let mut f = FindingOut {
            rule: "r".into(),
            title: "t".into(),
            strength: "strong".into(),
            effective_strength: "strong".into(),
            source: "evtx".into(),
            file: "System.evtx".into(),
            record: 1,
            time: Some("2024-03-05T11:45:02Z".into()),
            last_time: None,
            occurred: Some("2024-03-05T09:44:30Z".into()),
            evidence: "e".into(),
            events: 1,
            seconds_from_anchor: Some(-30),
            near_anchor: true,
        };
        let both = when_words(&f);
        assert!(
            both.contains("happened 2024-03-05 09:44:30.000, logged 2024-03-05 11:45:02.000"),
            "{both}"
        );
        f.occurred = None;
        assert!(!when_words(&f).contains("happened"), "{}", when_words(&f));
    }
}
