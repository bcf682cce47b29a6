//! What `dump` writes while the ingest streams: every event as JSON lines, as one JSON array,
//! or as one table per file for people. Each is an ingest [`Sink`] that writes as events
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
    /// `Table`: the rows of the file being read.
    rows: Vec<[String; 4]>,
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
            Shape::Table { .. } => self.rows.extend(events.iter().map(event_row)),
        }
    }

    fn file_done(&mut self, account: FileAccount) {
        if let Shape::Table { width } = self.shape
            && !self.rows.is_empty()
            && self.error.is_none()
        {
            let mut table =
                style::table_with_header(width, vec!["record", "time (UTC)", "what", "details"]);
            for row in self.rows.drain(..) {
                table.add_row(row.to_vec());
            }
            let written = writeln!(self.out, "{}", terminal(&account.file))
                .and_then(|()| writeln!(self.out, "{table}"));
            if let Err(e) = written {
                self.error = Some(e);
            }
        }
        self.rows.clear();
        self.accounts.push(account);
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
