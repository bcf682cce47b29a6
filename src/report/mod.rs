//! Output: every byte written to stdout, a report file or a diagnostic on stderr goes through
//! here. Each format writes to a `&mut dyn Write` and never sees clap or the terminal.

pub mod accounts;
pub mod batch_out;
pub mod csv_out;
pub mod diag;
pub mod dump;
pub mod escape;
pub mod events;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod rules;
pub mod schema;
pub mod style;
pub mod summary_md;
pub mod table;
pub mod ticket;
pub mod timeline;

use std::io::{self, Write};

use crate::cli::ReportFormat;
use crate::model::Event;
use schema::ScanReport;

/// Write a scan report in the chosen format (`events`: what the HTML timeline draws).
pub fn write_scan(
    out: &mut dyn Write,
    report: &ScanReport,
    events: &[Event],
    format: ReportFormat,
    width: u16,
    color: bool,
) -> io::Result<()> {
    match format {
        ReportFormat::Html => html::write_scan(out, report, events),
        _ => write_report(out, report, format, width, color),
    }
}

/// Write a report alone (no events) in the chosen format.
pub fn write_report(
    out: &mut dyn Write,
    report: &ScanReport,
    format: ReportFormat,
    width: u16,
    color: bool,
) -> io::Result<()> {
    match format {
        ReportFormat::Table => table::write(out, report, width, color),
        ReportFormat::Json => {
            json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        ReportFormat::Jsonl => {
            json::to_writer(&mut *out, report)?;
            writeln!(out)
        }
        ReportFormat::Markdown => markdown::write(out, report),
        ReportFormat::Csv => csv_out::write(out, report),
        ReportFormat::Html => html::write(out, report),
    }
}
