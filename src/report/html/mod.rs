//! The scan report as one self-contained HTML page, to attach to a ticket or show a customer:
//! the verdict first, one card per cause (evidence, why, the fix, what counts against it, what
//! is missing), an SVG swimlane timeline around each 0x904 ([`svg`]; the first 25, each
//! bounded, so the page grows with the input and no faster), the per-file account,
//! and the report's JSON embedded for machines. What counts against a cause is the
//! diagnosis's typed list ([`Against`]), worded here.
//!
//! Offline and inert by construction: no external request, no script (the JSON sits in a
//! non-executable `application/json` block), one inline style allowed by its hash in a strict
//! Content-Security-Policy, and every string from a log escaped with
//! [`crate::sanitize::html`]. The page reads the same printed and in dark mode.

mod svg;

use std::collections::HashMap;
use std::io::{self, Write};

use sha2::{Digest, Sha256};

use super::accounts::status_word;
use super::schema::{CauseOut, ScanReport};
use crate::analysis::diagnosis::Against;
use crate::model::{Event, FileFormat, FileStatus};
use crate::sanitize::html as esc;
use crate::units::{count, offset_words, time_ms};

pub use svg::Lane;

const STYLE: &str = include_str!("style.css");

/// Write the page for a report alone (what `batch --out` has): timeline lanes are inferred
/// from each finding's source and text.
pub fn write(out: &mut dyn Write, report: &ScanReport) -> io::Result<()> {
    write_page(out, report, None)
}

/// Write the page for a whole scan: timeline lanes come from each event's computer and
/// provider, and the connection's phases (connecting, connected) are shaded.
pub fn write_scan(out: &mut dyn Write, report: &ScanReport, events: &[Event]) -> io::Result<()> {
    write_page(out, report, Some(events))
}

/// The `sha256-…` source that lets the page's one inline style through its CSP.
pub fn style_hash() -> String {
    format!("sha256-{}", base64(&Sha256::digest(STYLE.as_bytes())))
}

fn write_page(out: &mut dyn Write, r: &ScanReport, events: Option<&[Event]>) -> io::Result<()> {
    let csp = format!(
        "default-src 'none'; style-src '{}'; img-src 'none'; script-src 'none'; \
         base-uri 'none'; form-action 'none'",
        style_hash()
    );
    let mut page = String::with_capacity(64 * 1024);
    let p = &mut page;
    p.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    p.push_str(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
    ));
    p.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    p.push_str("<meta name=\"color-scheme\" content=\"light dark\">\n");
    p.push_str("<title>rdtriage: Remote Desktop 0x904 triage</title>\n");
    p.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    p.push_str("<header>\n<p class=\"kicker\">Remote Desktop 0x904 triage</p>\n");
    p.push_str(&format!(
        "<h1 id=\"verdict\" class=\"verdict\">{}</h1>\n</header>\n<main>\n",
        esc(&r.verdict)
    ));
    causes(p, r);
    flush(out, p)?;
    timelines(out, p, r, events)?;
    disconnects(p, r);
    flush(out, p)?;
    accounts(p, r);
    embedded_json(out, p, r)?;
    p.push_str(
        "</main>\n<footer>Written by rdtriage. Every string from the logs is shown as \
         text; this page makes no network request and runs no script.</footer>\n</body>\n</html>\n",
    );
    flush(out, p)
}

fn causes(p: &mut String, r: &ScanReport) {
    p.push_str("<section id=\"causes\">\n<h2>Probable causes</h2>\n");
    if r.causes.is_empty() {
        p.push_str("<p>No rule found evidence for any cause.</p>\n");
    }
    for (i, c) in r.causes.iter().enumerate() {
        let conf = c.confidence.as_str();
        p.push_str(&format!(
            "<article class=\"cause {conf}\" id=\"cause-{}\">\n<h3><span class=\"rank\">{}</span> \
             {} <span class=\"badge {conf}\">{conf} confidence</span></h3>\n",
            i + 1,
            i + 1,
            esc(&c.cause)
        ));
        p.push_str(&format!(
            "<p class=\"why\"><strong>Why:</strong> {}</p>\n",
            esc(&c.why)
        ));
        let fix = c.remediation_line();
        if !fix.is_empty() {
            p.push_str(&format!(
                "<p class=\"fix\"><strong>Fix:</strong> {}</p>\n",
                esc(&fix)
            ));
        }
        p.push_str("<h4>Evidence</h4>\n<ul class=\"evidence-list\">\n");
        for f in &c.findings {
            let when = match (&f.time, f.seconds_from_anchor) {
                (Some(t), Some(s)) if f.near_anchor => {
                    format!("{} UTC, {}", time_ms(t), offset_words(s))
                }
                (Some(t), _) => format!("{} UTC", time_ms(t)),
                (None, _) => "time unknown".into(),
            };
            p.push_str(&format!(
                "<li class=\"evidence {}\"><span class=\"strength\">{}</span> {} \
                 <span class=\"meta\">{} · {} record {}</span></li>\n",
                esc(&f.effective_strength),
                esc(&f.effective_strength),
                esc(&f.evidence),
                esc(&when),
                esc(&f.file),
                f.record
            ));
        }
        p.push_str("</ul>\n");
        if c.more_findings > 0 {
            p.push_str(&format!(
                "<p class=\"more\">and {} more {} (in the JSON below)</p>\n",
                c.more_findings,
                if c.more_findings == 1 {
                    "finding"
                } else {
                    "findings"
                }
            ));
        }
        let against: Vec<String> = c.against.iter().map(against_text).collect();
        let missing = missing(r, c);
        for (title, items, class) in [
            ("What counts against it", against, "against"),
            ("What is missing", missing, "missing"),
        ] {
            if items.is_empty() {
                continue;
            }
            p.push_str(&format!("<h4>{title}</h4>\n<ul class=\"{class}\">\n"));
            for item in items {
                p.push_str(&format!("<li>{}</li>\n", esc(&item)));
            }
            p.push_str("</ul>\n");
        }
        if !c.references.is_empty() {
            p.push_str("<p class=\"refs\"><strong>References:</strong> ");
            let refs: Vec<String> = c
                .references
                .iter()
                .map(|x| format!("<code>{}</code>", esc(x)))
                .collect();
            p.push_str(&refs.join(" "));
            p.push_str("</p>\n");
        }
        p.push_str("</article>\n");
    }
    p.push_str("</section>\n");
}

/// What weighs against a cause, as the analysis typed it, in words.
fn against_text(a: &Against) -> String {
    let pieces = |n: u64| count(n, "piece of evidence", "pieces of evidence");
    match a {
        Against::Outranked { by, confidence } => {
            format!("{by} ranks higher ({} confidence).", confidence.as_str())
        }
        Against::FarFromAnchor { findings: n } => format!(
            "{} far from any 0x904 disconnect counted weaker than {} rule says.",
            pieces(*n),
            if *n == 1 { "its" } else { "their" }
        ),
        Against::BeforeLogon { findings: n } => format!(
            "{} came before the 0x904's connection reached logon on that server (TLS and its certificate worked then), so {} as context.",
            pieces(*n),
            if *n == 1 { "it counts" } else { "they count" }
        ),
        Against::InSession { findings: n } => format!(
            "{} came during the established session the 0x904 ended on that server (its handshake was done), so {} as context.",
            pieces(*n),
            if *n == 1 { "it counts" } else { "they count" }
        ),
        Against::Repaired { findings: n } => format!(
            "{} came before a later successful logon to that server (the broken state was repaired by then), so {} as context.",
            pieces(*n),
            if *n == 1 { "it counts" } else { "they count" }
        ),
        Against::Later { findings: n } => format!(
            "{} came after a successful logon to that server that followed the 0x904 (the broken state began after it), so {} as context.",
            pieces(*n),
            if *n == 1 { "it counts" } else { "they count" }
        ),
        Against::LongAfter { findings: n } => format!(
            "{} {}, so {} as context.",
            pieces(*n),
            crate::analysis::diagnosis::LONG_AFTER_WORDS,
            if *n == 1 { "it counts" } else { "they count" }
        ),
        Against::NoAnchor => "The logs hold no 0x904 disconnect to tie this evidence to.".into(),
        Against::LoneWeakRule { strength } => {
            format!("Only one rule found it, and its evidence is {strength} at best.")
        }
        Against::ConfigurationOnly => {
            "Only exported configuration supports it: no event at a 0x904 shows it mattered.".into()
        }
        Against::HealthyConfiguration { setting } => {
            format!("The exported configuration speaks against it: {setting}.")
        }
        Against::NotReadFully { files } => format!(
            "{} not read fully: evidence there was not seen.",
            count(*files, "file was", "files were")
        ),
        Against::ServerUnseen => "Its evidence is only what the client saw of its socket closing, and no log of the session host is here to tell whether the server ended the connection (went down, ran out of memory, ended the session).".into(),
        Against::SymptomOf { of } => format!(
            "Its evidence is what the client sees when the server ends the connection ({of}), found on the connection's server: that explains it."
        ),
    }
}

/// What would confirm or refute cause `c` that this ticket lacks.
fn missing(r: &ScanReport, c: &CauseOut) -> Vec<String> {
    let mut out = Vec::new();
    let has_procmon = r.inputs.iter().any(|a| {
        a.format == FileFormat::ProcmonCsv
            && matches!(a.status, FileStatus::Ok | FileStatus::Partial)
    });
    let has_evtx = r.inputs.iter().any(|a| {
        matches!(a.format, FileFormat::Evtx | FileFormat::EventXml)
            && matches!(a.status, FileStatus::Ok | FileStatus::Partial)
    });
    let sources: std::collections::BTreeSet<&str> =
        c.findings.iter().map(|f| f.source.as_str()).collect();
    if !has_procmon {
        out.push("No Process Monitor trace: a capture during the failure would show what the processes did.".into());
    } else if !sources.contains("procmon") {
        out.push("The Procmon trace does not corroborate it.".into());
    }
    if !has_evtx {
        out.push(
            "No event logs: the client's and server's EVTX would place the disconnect.".into(),
        );
    } else if !sources.contains("evtx") {
        out.push("No event log corroborates it.".into());
    }
    if r.disconnects.is_empty() {
        // The log's short name is the rule pack's domain declaration.
        out.push(format!(
            "No RDP client disconnect event: the client's Remote Desktop client event log ({}/Operational) would have it.",
            crate::rules::Domain::builtin().client_label()
        ));
    }
    if c.findings.iter().all(|f| f.time.is_none()) && !c.findings.is_empty() {
        out.push("None of its evidence could be placed in time.".into());
    }
    out
}

/// A swimlane for each of the first [`svg::MAX_TIMELINES`] 0x904s, written out one at a time.
fn timelines(
    out: &mut dyn Write,
    p: &mut String,
    r: &ScanReport,
    events: Option<&[Event]>,
) -> io::Result<()> {
    let anchors: Vec<usize> = (0..r.disconnects.len())
        .filter(|&i| r.disconnects[i].is_0x904)
        .collect();
    if anchors.is_empty() {
        return Ok(());
    }
    p.push_str("<section id=\"timelines\">\n<h2>Around each 0x904</h2>\n");
    p.push_str(
        "<p class=\"legend\">Lanes: client, server, gateway, Procmon. Marks: \
         <span class=\"key strong\">strong</span> <span class=\"key moderate\">moderate</span> \
         <span class=\"key weak\">weak</span> <span class=\"key context\">context</span> \
         evidence; hover a mark for its details.</p>\n",
    );
    if anchors.len() > svg::MAX_TIMELINES {
        p.push_str(&format!(
            "<p class=\"note\">Drawn: the first {} of {} 0x904 disconnects, in time order; \
             the Disconnects table below and the JSON list them all.</p>\n",
            svg::MAX_TIMELINES,
            anchors.len()
        ));
    }
    let index: HashMap<(&str, u64), &Event> = events
        .unwrap_or(&[])
        .iter()
        .map(|e| ((&*e.file, e.record), e))
        .collect();
    let shared = svg::Shared::new(r, events.map(|_| &index));
    for (n, &at) in anchors.iter().take(svg::MAX_TIMELINES).enumerate() {
        svg::timeline(p, r, at, n + 1, &shared);
        flush(out, p)?;
    }
    p.push_str("</section>\n");
    Ok(())
}

/// Write what `p` holds so far and empty it: the page is streamed, section by section.
fn flush(out: &mut dyn Write, p: &mut String) -> io::Result<()> {
    out.write_all(p.as_bytes())?;
    p.clear();
    Ok(())
}

fn disconnects(p: &mut String, r: &ScanReport) {
    if r.disconnects.is_empty() {
        return;
    }
    p.push_str("<section id=\"disconnects\">\n<h2>Disconnects</h2>\n<table>\n<thead><tr><th>time (UTC)</th><th>client → server</th><th>code</th><th>meaning</th></tr></thead>\n<tbody>\n");
    for d in &r.disconnects {
        p.push_str(&format!(
            "<tr{}><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>\n",
            if d.is_0x904 { " class=\"anchor\"" } else { "" },
            esc(&d.time.as_deref().map_or("-".into(), time_ms)),
            esc(&d.computer),
            esc(d.server.as_deref().unwrap_or("?")),
            esc(&d.hex),
            [Some(d.meaning.clone()), super::table::near_line(d)]
                .into_iter()
                .flatten()
                .map(|l| esc(&l))
                .collect::<Vec<_>>()
                .join("<br>")
        ));
    }
    p.push_str("</tbody>\n</table>\n</section>\n");
}

fn accounts(p: &mut String, r: &ScanReport) {
    p.push_str("<section id=\"inputs\">\n<h2>What was read</h2>\n<table>\n<thead><tr><th>input</th><th>read</th><th>events</th><th>problems</th></tr></thead>\n<tbody>\n");
    for a in &r.inputs {
        p.push_str(&format!(
            "<tr class=\"account {}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            status_word(a.status).replace(' ', "-"),
            esc(&a.file),
            status_word(a.status),
            a.events,
            esc(&a.problems_text())
        ));
    }
    p.push_str("</tbody>\n</table>\n");
    if r.inputs.iter().any(|a| a.format == FileFormat::ProcmonCsv) {
        p.push_str(&format!(
            "<p class=\"alignment\"><strong>Procmon time alignment:</strong> {}</p>\n",
            esc(&r.alignment.note)
        ));
    }
    // The times above are on the client's clock: say so for each server moved onto it.
    for c in r.clocks.iter().filter(|c| c.applied) {
        p.push_str(&format!(
            "<p class=\"clock\"><strong>Clock:</strong> {}</p>\n",
            esc(&c.note)
        ));
    }
    p.push_str("</section>\n");
}

/// The report as JSON in a data block no browser runs; `<` is written `\u003c` (still the
/// same JSON) so no text inside can close the block, and `&` likewise.
fn embedded_json(out: &mut dyn Write, p: &mut String, r: &ScanReport) -> io::Result<()> {
    // Every report's JSON: bidi or invisible characters already escaped, so they cannot
    // reorder the page's source for whoever reads it. Still the same JSON: `<` and `&` (only
    // ever inside its strings) escaped too cannot end the block.
    let json = crate::report::json::to_string(r)?;
    let json = crate::report::json::escaped_where(&json, |c| c == '<' || c == '&');
    p.push_str("<details id=\"json\"><summary>The report as JSON (schema ");
    p.push_str(&esc(&r.schema));
    p.push_str(")</summary>\n<script type=\"application/json\" id=\"report-json\">");
    flush(out, p)?;
    out.write_all(json.as_bytes())?;
    p.push_str(
        "</script>\n<p>Read it from the page's <code>#report-json</code> element, or run \
                <code>rdtriage scan --format json</code>.</p>\n</details>\n",
    );
    Ok(())
}

/// Standard base64 with padding (RFC 4648 §4), for the CSP hash.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_against_is_worded_from_its_type() {
        use crate::analysis::Confidence;
        use crate::rules::{Cause, Strength};
        let cases = [
            (
                Against::Outranked {
                    by: Cause::Tls,
                    confidence: Confidence::High,
                },
                "tls ranks higher (high confidence).",
            ),
            (
                Against::FarFromAnchor { findings: 1 },
                "1 piece of evidence far from any 0x904 disconnect counted weaker than its rule says.",
            ),
            (
                Against::BeforeLogon { findings: 2 },
                "2 pieces of evidence came before the 0x904's connection reached logon on that server (TLS and its certificate worked then), so they count as context.",
            ),
            (
                Against::NoAnchor,
                "The logs hold no 0x904 disconnect to tie this evidence to.",
            ),
            (
                Against::LoneWeakRule {
                    strength: Strength::Weak,
                },
                "Only one rule found it, and its evidence is weak at best.",
            ),
            (
                Against::NotReadFully { files: 3 },
                "3 files were not read fully: evidence there was not seen.",
            ),
        ];
        for (a, text) in cases {
            assert_eq!(against_text(&a), text);
        }
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }
}
