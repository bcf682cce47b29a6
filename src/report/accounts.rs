//! The per-file account (what was read fully, partly or not at all), as JSON or a table.

use std::io::{self, Write};

use super::style;
use crate::model::{FileAccount, FileStatus};
use crate::sanitize::terminal;

/// `[{"file", "format", "events", "errors", "status", "problems"}, ...]`, pretty-printed.
pub fn write_json(out: &mut dyn Write, accounts: &[FileAccount]) -> io::Result<()> {
    super::json::to_writer_pretty(&mut *out, accounts)?;
    writeln!(out)
}

/// A table for people, log-derived text escaped for the terminal.
pub fn write_table(out: &mut dyn Write, accounts: &[FileAccount], width: u16) -> io::Result<()> {
    let mut table = style::table_with_header(
        width,
        vec!["file", "format", "status", "events", "errors", "problems"],
    );
    for a in accounts {
        let format = serde_json::to_value(a.format)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let mut events = a.events.to_string();
        if let Some(pct) = a.times_parsed.and_then(|t| (t * 100).checked_div(a.events)) {
            events.push_str(&format!(" ({pct}% timed)"));
        }
        table.add_row(vec![
            style::cell(&a.file),
            format,
            status_word(a.status).to_string(),
            events,
            a.errors.to_string(),
            style::cell(&a.problems_text()),
        ]);
    }
    writeln!(out, "{table}")
}

pub fn status_word(status: FileStatus) -> &'static str {
    match status {
        FileStatus::Ok => "read fully",
        FileStatus::Partial => "read partly",
        FileStatus::Failed => "not read",
        FileStatus::Skipped => "skipped",
    }
}

/// One line on stderr per file not read fully or skipped: `rdtriage: FILE: STATUS: problems`
/// (notes left out). A line that cannot be written is dropped.
pub fn write_problems(err: &mut dyn Write, accounts: &[FileAccount]) {
    for a in accounts.iter().filter(|a| a.status != FileStatus::Ok) {
        let _ = writeln!(
            err,
            "rdtriage: {}: {}: {}",
            terminal(&a.file),
            status_word(a.status),
            terminal(&a.problems_text_without_notes())
        );
    }
}
