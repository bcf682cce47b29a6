//! What `dump` writes while the ingest streams: every event as JSON lines, as one JSON array,
//! or as tables per file for people (a table every 1,000 rows, so memory holds one). Each is an ingest [`Sink`] that writes as events
//! arrive and keeps the per-file accounts for the exit code; a write error stops the writing
//! (the ingest still accounts for every file) and is handed back by [`DumpSink::finish`].

use std::io::{self, Write};

use super::events::EventJson;
use super::{style, timeline};
use crate::ingest::Sink;
use crate::model::{Event, FileAccount};
use crate::sanitize::terminal;

/// The shapes `dump` writes events in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array.
    Json,
    /// One table per file, for people.
    Table { width: u16 },
}

/// The sink `dump` streams events into.
pub struct DumpSink<'a> {
    out: &'a mut dyn Write,
    shape: Shape,
    buf: Vec<u8>,
    /// `Json`: no element written yet.
    first: bool,
    /// `Table`: the rows of the file being read, not yet written.
    rows: Vec<[String; 4]>,
    /// `Table`: the file those rows are from, and how many tables of it were written.
    rows_file: Option<std::sync::Arc<str>>,
    parts: usize,
    accounts: Vec<FileAccount>,
    error: Option<io::Error>,
}

impl<'a> DumpSink<'a> {
    pub fn new(out: &'a mut dyn Write, shape: Shape) -> DumpSink<'a> {
        DumpSink {
            out,
            shape,
            buf: Vec::new(),
            first: true,
            rows: Vec::new(),
            rows_file: None,
            parts: 0,
            accounts: Vec::new(),
            error: None,
        }
    }

    /// Close the output (a JSON array's bracket, the flush) and hand back the accounts and
    /// whether everything was written.
    pub fn finish(mut self) -> (Vec<FileAccount>, io::Result<()>) {
        let written = match self.error.take() {
            Some(e) => Err(e),
            None => {
                let end: &[u8] = match (self.shape, self.first) {
                    (Shape::Json, true) => b"[]\n",
                    (Shape::Json, false) => b"\n]\n",
                    _ => b"",
                };
                self.out.write_all(end).and_then(|()| self.out.flush())
            }
        };
        (self.accounts, written)
    }

    /// JSON lines or array elements for `events`, in one write: serde_json's many small
    /// writes are cheap into a Vec and not through a `dyn Write`.
    fn write_json(&mut self, events: &[Event], array: bool) {
        self.buf.clear();
        for e in events {
            if array {
                self.buf
                    .extend_from_slice(if self.first { b"[\n" } else { b",\n" });
                self.first = false;
            }
            if let Err(e) = super::json::to_writer(&mut self.buf, &EventJson(e)) {
                self.error = Some(e.into());
                return;
            }
            if !array {
                self.buf.push(b'\n');
            }
        }
        if let Err(e) = self.out.write_all(&self.buf) {
            self.error = Some(e);
        }
    }
}

impl Sink for DumpSink<'_> {
    fn events(&mut self, events: Vec<Event>) {
        if self.error.is_some() {
            return;
        }
        match self.shape {
            Shape::Jsonl => self.write_json(&events, false),
            Shape::Json if !events.is_empty() => self.write_json(&events, true),
            Shape::Json => {}
            Shape::Table { width } => {
                for e in &events {
                    // A file's rows are written a table at a time: however many events a
                    // file holds, memory holds one table's rows.
                    if self.rows.len() == TABLE_ROWS {
                        let file = self.rows_file.clone().unwrap_or_else(|| e.file.clone());
                        self.write_table(width, &file);
                        if self.error.is_some() {
                            return;
                        }
                    }
                    if self.rows.is_empty() && self.parts == 0 {
                        self.rows_file = Some(e.file.clone());
                    }
                    self.rows.push(event_row(e));
                }
            }
        }
    }

    fn file_done(&mut self, account: FileAccount) {
        if let Shape::Table { width } = self.shape
            && !self.rows.is_empty()
            && self.error.is_none()
        {
            self.write_table(width, &account.file);
        }
        self.rows.clear();
        self.rows_file = None;
        self.parts = 0;
        self.accounts.push(account);
    }
}

/// Rows of one table in `dump`'s table shape; a file with more is written as several.
const TABLE_ROWS: usize = 1000;

impl DumpSink<'_> {
    /// The rows held, as one table under the file's name (`(continued)` after its first).
    fn write_table(&mut self, width: u16, file: &str) {
        let mut table =
            style::table_with_header(width, vec!["record", "time (UTC)", "what", "details"]);
        for row in self.rows.drain(..) {
            table.add_row(row.to_vec());
        }
        let continued = if self.parts > 0 { " (continued)" } else { "" };
        self.parts += 1;
        let written = writeln!(self.out, "{}{continued}", terminal(file))
            .and_then(|()| writeln!(self.out, "{table}"));
        if let Err(e) = written {
            self.error = Some(e);
        }
    }
}

fn event_row(e: &Event) -> [String; 4] {
    let (what, details) = timeline::what(e);
    let clip = |s: &str| timeline::clip(s, 200);
    [
        e.record.to_string(),
        timeline::when(e),
        clip(&what),
        clip(&details),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;
    use std::sync::Arc;

    /// A file of 2,500 events is written as three tables (1,000, 1,000 and 500 rows), the
    /// later two marked as continued, every record in them: the sink never holds more than
    /// one table's rows.
    #[test]
    fn a_large_file_is_written_a_table_at_a_time() {
        let file: Arc<str> = Arc::from("big.reg");
        let mut out = Vec::new();
        let mut sink = DumpSink::new(&mut out, Shape::Table { width: 100 });
        for chunk in 0..5u64 {
            let events = (0..500u64)
                .map(|n| Event {
                    file: file.clone(),
                    record: chunk * 500 + n + 1,
                    time: None,
                    kind: EventKind::Registry(Box::default()),
                    marks: Default::default(),
                })
                .collect();
            sink.events(events);
            assert!(sink.rows.len() <= TABLE_ROWS);
        }
        sink.file_done(FileAccount::new(
            "big.reg",
            crate::model::FileFormat::RegExport,
        ));
        let (_, written) = sink.finish();
        written.unwrap();
        let text = String::from_utf8(out).unwrap();
        let headings: Vec<&str> = text.lines().filter(|l| l.starts_with("big.reg")).collect();
        assert_eq!(
            headings,
            ["big.reg", "big.reg (continued)", "big.reg (continued)"]
        );
        for record in [1, 1000, 1001, 2500] {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("│ {record} "))),
                "record {record}"
            );
        }
    }
}
