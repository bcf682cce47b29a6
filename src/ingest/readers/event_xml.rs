//! Event-log XML exports (`wevtutil qe /f:xml`, Event Viewer's "Save as XML"): UTF-8 (BOM, or
//! several, or none) or UTF-16LE with a BOM, read whole up to `--max-xml-bytes`, decoded here and parsed by
//! [`crate::ingest::eventxml`].

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, bundle, eventxml, mixed};
use crate::model::{FileAccount, FileFormat, Problem};

pub struct EventXml;

impl Reader for EventXml {
    fn format(&self) -> FileFormat {
        FileFormat::EventXml
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        // Repeated UTF-8 byte-order marks are skipped, as reading does.
        let t = past_prolog(head.text().trim_start_matches('\u{feff}'));
        // A document type (an export never has one, an attack may) is read as an export when
        // it names events: the reader then refuses it by name.
        t.starts_with("<Events")
            || t.starts_with("<Event")
            || (t.starts_with("<!DOCTYPE") && t.contains("<Event"))
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        match input.read_all(emit.limits.xml_bytes, "--max-xml-bytes") {
            Ok(bytes) => read_event_xml(bytes, emit, account),
            Err(why) => fail(account, why),
        }
    }
}

/// `text` past what may come before an XML document's first element: white space, the
/// `<?xml?>` declaration and other processing instructions, and comments (a script that
/// exports events may write one first). A head cut inside them leaves nothing.
fn past_prolog(text: &str) -> &str {
    let mut t = text.trim_start();
    loop {
        let end = if t.starts_with("<?") {
            t.find("?>").map(|i| i + 2)
        } else if let Some(comment) = t.strip_prefix("<!--") {
            comment.find("-->").map(|i| i + 7)
        } else {
            return t;
        };
        match end {
            Some(end) => t = t[end..].trim_start(),
            None => return "",
        }
    }
}

fn read_event_xml(mut bytes: Vec<u8>, emit: &mut Emit<'_>, account: &mut FileAccount) {
    let utf16 = bytes.starts_with(&[0xFF, 0xFE]);
    // Text that changes encoding part way is read up to the change, and said to be.
    let (start, marks) = if utf16 {
        (mixed::Start::Utf16Le, 2)
    } else {
        (mixed::Start::Utf8, bundle::utf8_marks(&bytes))
    };
    let switched = mixed::switch_at(&bytes[marks..], start).map(|(at, to)| {
        bytes.truncate(marks + at);
        ((marks + at) as u64, to)
    });
    let (text, replaced) = if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        let mut text = String::with_capacity(rest.len());
        let mut replaced = 0u64;
        for c in char::decode_utf16(units) {
            text.push(c.unwrap_or_else(|_| {
                replaced += 1;
                char::REPLACEMENT_CHARACTER
            }));
        }
        if rest.len() % 2 == 1 {
            text.push(char::REPLACEMENT_CHARACTER);
            replaced += 1;
        }
        (text, replaced)
    } else {
        bytes.drain(..bundle::utf8_marks(&bytes));
        utf8_lossy_counted(bytes)
    };
    if replaced > 0 {
        account.note(format!(
            "{replaced} invalid {} sequences replaced with U+FFFD",
            if utf16 { "UTF-16" } else { "UTF-8" }
        ));
    }
    let mut batch = crate::ingest::Batch::default();
    let mut position = 0u64;
    let mut errors = Vec::new();
    let mut bad_times = 0u64;
    eventxml::read_events(
        &text,
        &emit.limits.xml(),
        &mut |rec: eventxml::XmlRecord| {
            position += 1;
            // Before 1601, a FILETIME past 9999 shown with its year cut to four digits (0828
            // for 30828): no time at all, as an export has no record header to date it by.
            let mut rec = rec;
            if crate::ingest::evtx_time::wrapped(rec.time) {
                rec.time = None;
                rec.bad_time = true;
            }
            bad_times += u64::from(rec.bad_time);
            let event = rec.into_event(emit.file, position);
            account.events += 1;
            emit.offer(&mut batch, event);
        },
        &mut |e: eventxml::XmlEventError| errors.push(e),
    );
    if let Some((at, to)) = switched {
        account.damaged(mixed::problem(start, to, at));
    }
    for e in errors {
        account.errors += 1;
        let message = if e.stops_the_read() {
            format!("{e}; the rest of the file was not read")
        } else {
            e.to_string()
        };
        account.lost(Problem::Record {
            at: e.at(),
            message,
        });
    }
    if bad_times > 0 {
        account.note(format!(
            "{bad_times} events have a SystemTime that is not a valid time (out of range, such as year 30828 or before 1601, an offset past ±14:00, no zone, or malformed): kept without a time"
        ));
    }
    emit.flush(batch);
    account.finish();
}

/// `bytes` as text (not copied when valid), each invalid UTF-8 sequence replaced with U+FFFD
/// (as [`String::from_utf8_lossy`] does), and how many were replaced.
pub fn utf8_lossy_counted(bytes: Vec<u8>) -> (String, u64) {
    let bytes = match String::from_utf8(bytes) {
        Ok(s) => return (s, 0),
        Err(e) => e.into_bytes(),
    };
    let mut text = String::with_capacity(bytes.len() + 16);
    let mut replaced = 0u64;
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            text.push(char::REPLACEMENT_CHARACTER);
            replaced += 1;
        }
    }
    (text, replaced)
}
