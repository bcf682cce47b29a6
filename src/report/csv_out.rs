//! The scan report as CSV: one row per listed finding (a cause with none gets one row), for
//! spreadsheets. Cells that a spreadsheet would run as formulas are defused.

use std::io::{self, Write};

use super::escape::csv_cell;
use super::schema::ScanReport;

pub const HEADER: [&str; 12] = [
    "rank",
    "cause",
    "confidence",
    "score",
    "rule",
    "effective_strength",
    "source",
    "file",
    "record",
    "time",
    "seconds_from_anchor",
    "evidence",
];

pub fn write(out: &mut dyn Write, r: &ScanReport) -> io::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(HEADER)?;
    for (i, c) in r.causes.iter().enumerate() {
        let rank = (i + 1).to_string();
        let score = c.score.to_string();
        if c.findings.is_empty() {
            w.write_record([
                rank.as_str(),
                &c.cause,
                c.confidence.as_str(),
                &score,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
            ])?;
        }
        for f in &c.findings {
            let record = f.record.to_string();
            let secs = f
                .seconds_from_anchor
                .map(|s| s.to_string())
                .unwrap_or_default();
            w.write_record([
                rank.as_str(),
                &c.cause,
                c.confidence.as_str(),
                &score,
                &f.rule,
                &f.effective_strength,
                &f.source,
                &csv_cell(&f.file),
                &record,
                f.time.as_deref().unwrap_or(""),
                &secs,
                &csv_cell(&f.evidence),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}
