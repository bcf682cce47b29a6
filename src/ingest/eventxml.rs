//! Windows event XML → [`WinEvent`].
//!
//! One converter serves two inputs, so they cannot drift apart: EVTX records (rendered to XML
//! by the `evtx` crate) and event-log XML exports (Event Viewer "Save All Events As… XML",
//! `wevtutil qe /f:xml`), which are `<Events><Event>…</Event>…</Events>` or a bare run of
//! `<Event>` elements. No DTD is ever processed: a `<!DOCTYPE>` is refused and an entity other
//! than the five predefined ones is an error, so billion-laughs and external entities cannot
//! act. Element depth is capped.

use std::sync::Arc;

use jiff::Timestamp;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::{Reader, XmlVersion};

use crate::model::{Event, EventKind, WinEvent};

/// Deeper than any real event (Event/UserData/X/Y/Z is 5): a guard against hostile nesting.
pub const MAX_DEPTH: usize = 64;

/// What went wrong reading event XML.
#[derive(Debug, thiserror::Error)]
pub enum XmlEventError {
    #[error("malformed XML at byte {offset}: {message}")]
    Malformed { offset: u64, message: String },
    #[error("XML document type declarations (DTD) are refused: entities are never expanded")]
    Doctype,
    #[error("elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("an <Event> element has no <System> part")]
    NoSystem,
}

/// One event read from XML, before it is tied to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlRecord {
    pub record_id: Option<u64>,
    pub time: Option<Timestamp>,
    pub event: WinEvent,
}

impl XmlRecord {
    pub fn into_event(self, file: &Arc<str>, fallback_record: u64) -> Event {
        Event {
            file: Arc::clone(file),
            record: self.record_id.unwrap_or(fallback_record),
            time: self.time,
            kind: EventKind::Win(Box::new(self.event)),
        }
    }
}

/// Read every `<Event>` of a document (or of a single rendered record), in order. Each event
/// that fails is reported through `on_error` and reading goes on with the next one where the
/// XML allows it.
pub fn read_events(
    xml: &str,
    on_event: &mut dyn FnMut(XmlRecord),
    on_error: &mut dyn FnMut(XmlEventError),
) {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0usize;
    loop {
        let at = reader.buffer_position();
        match reader.read_event() {
            Ok(XmlEvent::Start(start)) => {
                if local(&start) == "Event" {
                    match read_event(&mut reader, depth) {
                        Ok(record) => on_event(record),
                        Err(e) => {
                            let fatal = !matches!(e, XmlEventError::NoSystem);
                            on_error(e);
                            if fatal {
                                return;
                            }
                        }
                    }
                } else {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        on_error(XmlEventError::TooDeep);
                        return;
                    }
                }
            }
            Ok(XmlEvent::End(_)) => depth = depth.saturating_sub(1),
            Ok(XmlEvent::DocType(_)) => {
                on_error(XmlEventError::Doctype);
                return;
            }
            Ok(XmlEvent::Eof) => return,
            Ok(_) => {}
            Err(e) => {
                on_error(malformed(at, e));
                return;
            }
        }
    }
}

fn malformed(offset: u64, e: impl std::fmt::Display) -> XmlEventError {
    XmlEventError::Malformed {
        offset,
        message: e.to_string(),
    }
}

fn local<'a>(start: &'a BytesStart<'_>) -> &'a str {
    strip_prefix_ns(start.name().0)
}

/// `ns:Name` → `Name`. Names are a few bytes long: a plain loop beats a generic reverse
/// search here (this runs twice for every element of every record).
fn strip_prefix_ns(name: &str) -> &str {
    let bytes = name.as_bytes();
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        if bytes[i] == b':' {
            return &name[i + 1..];
        }
    }
    name
}

/// The value of an attribute by local name, unescaped (predefined entities only) and
/// normalized as XML requires. Most values need neither, and are copied as they are.
fn attr(start: &BytesStart<'_>, name: &str) -> Option<String> {
    start
        .attributes()
        .with_checks(false)
        .flatten()
        .find_map(|a| {
            (a.key.local_name().into_inner() == name).then(|| {
                let raw: &str = &a.value;
                if !raw.contains(['&', '\t', '\n', '\r']) {
                    return raw.to_string();
                }
                a.normalized_value(XmlVersion::Implicit1_0)
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|_| raw.to_string())
            })
        })
}

/// Where the reader is inside an `<Event>`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Other,
    System,
    EventData,
    UserData,
}

/// The state of one `<Event>` being read.
struct Builder {
    event: WinEvent,
    record_id: Option<u64>,
    time: Option<Timestamp>,
    saw_system: bool,
    event_id_raw: Option<u64>,
    /// For each open element below `<Event>`: whether it has had a child element yet. Its
    /// length is the depth; names come from the end tags, so nothing is allocated per element.
    open: Vec<bool>,
    part: Part,
    text: String,
    /// The `Name` attribute of the open `<Data>`, and how many `<Data>` were seen.
    data_name: Option<String>,
    data_count: u32,
}

impl Builder {
    fn new() -> Self {
        Builder {
            event: WinEvent::default(),
            record_id: None,
            time: None,
            saw_system: false,
            event_id_raw: None,
            open: Vec::new(),
            part: Part::Other,
            text: String::new(),
            data_name: None,
            data_count: 0,
        }
    }

    fn start(&mut self, start: &BytesStart<'_>) {
        let name = local(start);
        match self.open.len() {
            0 => {
                self.part = match name {
                    "System" => Part::System,
                    "EventData" => Part::EventData,
                    "UserData" => Part::UserData,
                    _ => Part::Other,
                };
                self.saw_system |= self.part == Part::System;
            }
            1 if self.part == Part::System => self.system_attributes(name, start),
            1 if self.part == Part::EventData && name == "Data" => {
                self.data_count += 1;
                self.data_name = attr(start, "Name");
            }
            _ => {}
        }
        if let Some(parent) = self.open.last_mut() {
            *parent = true;
        }
        self.open.push(false);
        self.text.clear();
    }

    fn system_attributes(&mut self, name: &str, start: &BytesStart<'_>) {
        let event = &mut self.event;
        match name {
            "Provider" => {
                if let Some(p) = attr(start, "Name").or_else(|| attr(start, "EventSourceName")) {
                    event.provider = p;
                }
            }
            "EventID" => {
                event.qualifiers = attr(start, "Qualifiers")
                    .and_then(|q| parse_u64(q.trim()))
                    .and_then(|q| u32::try_from(q).ok());
            }
            "TimeCreated" => {
                self.time = attr(start, "SystemTime").and_then(|t| t.trim().parse().ok());
            }
            "Correlation" => {
                event.activity_id = attr(start, "ActivityID").filter(|a| !a.is_empty());
            }
            "Execution" => {
                event.process_id = attr(start, "ProcessID").and_then(|p| p.trim().parse().ok());
            }
            _ => {}
        }
    }

    /// Close the innermost element, named `name`; `false` when it was `</Event>` itself.
    fn end(&mut self, name: &str) -> bool {
        let Some(had_child) = self.open.pop() else {
            return false;
        };
        let text = std::mem::take(&mut self.text);
        let event = &mut self.event;
        match (self.part, self.open.len()) {
            (Part::System, 1) => match name {
                "EventID" => self.event_id_raw = parse_u64(text.trim()),
                "Level" => event.level = text.trim().parse().ok(),
                "EventRecordID" => self.record_id = text.trim().parse().ok(),
                "Channel" => event.channel = text,
                "Computer" => event.computer = text,
                _ => {}
            },
            (Part::EventData, 1) if name == "Data" => {
                let key = self
                    .data_name
                    .take()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| self.data_count.to_string());
                event.data.push(key, text);
            }
            // <Binary>, <ComplexData> and the like: kept under their own name.
            (Part::EventData, 1) => event.data.push(name, text),
            // A leaf anywhere under UserData/<Wrapper>/...: reachable by its element name.
            (Part::UserData, n) if n >= 2 && !had_child => event.data.push(name, text),
            _ => {}
        }
        if self.open.is_empty() {
            self.part = Part::Other;
        }
        true
    }

    fn finish(mut self) -> Result<XmlRecord, XmlEventError> {
        if !self.saw_system {
            return Err(XmlEventError::NoSystem);
        }
        if let Some(raw) = self.event_id_raw {
            self.event.event_id = (raw & 0xFFFF) as u32;
            if raw > 0xFFFF && self.event.qualifiers.is_none() {
                self.event.qualifiers = u32::try_from(raw >> 16).ok();
            }
        }
        Ok(XmlRecord {
            record_id: self.record_id,
            time: self.time,
            event: self.event,
        })
    }
}

/// Read one `<Event>` whose start tag was just consumed, up to its end tag.
fn read_event(reader: &mut Reader<&[u8]>, outer_depth: usize) -> Result<XmlRecord, XmlEventError> {
    let mut b = Builder::new();
    loop {
        let at = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| malformed(at, e))?;
        match ev {
            XmlEvent::Start(start) => {
                if outer_depth + b.open.len() + 1 > MAX_DEPTH {
                    return Err(XmlEventError::TooDeep);
                }
                b.start(&start);
            }
            XmlEvent::Empty(start) => {
                b.start(&start);
                b.end(local(&start));
            }
            XmlEvent::Text(t) => b.text.push_str(&t),
            XmlEvent::CData(t) => b.text.push_str(&t),
            XmlEvent::GeneralRef(r) => {
                let c = match r.resolve_char_ref() {
                    Ok(Some(c)) => c,
                    Ok(None) => match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "quot" => '"',
                        "apos" => '\'',
                        other => {
                            return Err(malformed(
                                at,
                                format!("unknown entity &{other}; (entities are not expanded)"),
                            ));
                        }
                    },
                    Err(e) => return Err(malformed(at, e)),
                };
                b.text.push(c);
            }
            XmlEvent::End(end) if !b.end(strip_prefix_ns(end.name().0)) => return b.finish(),
            XmlEvent::DocType(_) => return Err(XmlEventError::Doctype),
            XmlEvent::Eof => return Err(malformed(at, "the document ends inside an <Event>")),
            _ => {}
        }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> (Vec<XmlRecord>, Vec<String>) {
        let mut out = Vec::new();
        let mut errs = Vec::new();
        read_events(xml, &mut |r| out.push(r), &mut |e| errs.push(e.to_string()));
        (out, errs)
    }

    const RCM_1058: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-TerminalServices-RemoteConnectionManager" Guid="{C76BAA63-AE81-421C-B425-340B4B24157F}" EventSourceName="TermService"/><EventID Qualifiers="49152">1058</EventID><Version>0</Version><Level>2</Level><TimeCreated SystemTime="2024-03-05T10:15:30.1234567Z"/><EventRecordID>4711</EventRecordID><Correlation ActivityID="{AB-CD}"/><Execution ProcessID="1100" ThreadID="2"/><Channel>System</Channel><Computer>SRV01.contoso.com</Computer><Security/></System><EventData><Data>Access is denied.</Data><Data Name="Status">0x80070005</Data><Data Name="Empty"/><Binary>00FF</Binary></EventData></Event>"#;

    #[test]
    fn system_and_event_data() {
        let (recs, errs) = read(RCM_1058);
        assert!(errs.is_empty(), "{errs:?}");
        let r = &recs[0];
        assert_eq!(r.record_id, Some(4711));
        assert_eq!(r.time.unwrap().to_string(), "2024-03-05T10:15:30.1234567Z");
        let e = &r.event;
        assert_eq!(e.event_id, 1058);
        assert_eq!(e.qualifiers, Some(49152));
        assert_eq!(e.level, Some(2));
        assert_eq!(
            e.provider,
            "Microsoft-Windows-TerminalServices-RemoteConnectionManager"
        );
        assert_eq!(e.channel, "System");
        assert_eq!(e.computer, "SRV01.contoso.com");
        assert_eq!(e.activity_id.as_deref(), Some("{AB-CD}"));
        assert_eq!(e.process_id, Some(1100));
        assert_eq!(e.data.get("1"), Some("Access is denied."));
        assert_eq!(e.data.get("status"), Some("0x80070005"));
        assert_eq!(e.data.get("Empty"), Some(""));
        assert_eq!(e.data.get("Binary"), Some("00FF"));
    }

    #[test]
    fn user_data_leaves_and_documents() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<Events>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-TerminalServices-Gateway'/><EventID>303</EventID><TimeCreated SystemTime='2024-11-04T09:00:00Z'/><EventRecordID>7</EventRecordID><Channel>Microsoft-Windows-TerminalServices-Gateway/Operational</Channel><Computer>gw</Computer></System><UserData><EventInfo xmlns="aag"><Username>CONTOSO\a &amp; b</Username><ErrorCode>1226</ErrorCode><Nested><Deep>x&#x41;</Deep></Nested></EventInfo></UserData></Event>
<Event><System><EventID>0xC0000422</EventID></System></Event>
</Events>"#;
        let (recs, errs) = read(xml);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(recs.len(), 2);
        let gw = &recs[0].event;
        assert_eq!(gw.data.get("Username"), Some("CONTOSO\\a & b"));
        assert_eq!(gw.data.get("ErrorCode"), Some("1226"));
        assert_eq!(gw.data.get("Deep"), Some("xA"));
        assert_eq!(gw.data.get("Nested"), None);
        assert_eq!(recs[1].event.event_id, 1058);
        assert_eq!(recs[1].event.qualifiers, Some(0xC000));
    }

    #[test]
    fn hostile_xml_is_refused() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><Events><Event><System><EventID>1</EventID></System><EventData><Data>&lol2;</Data></EventData></Event></Events>"#;
        let (recs, errs) = read(bomb);
        assert!(recs.is_empty());
        assert!(errs[0].contains("DTD"), "{errs:?}");
        let entity = "<Event><System><EventID>1</EventID></System><EventData><Data>&ext;</Data></EventData></Event>";
        let (recs, errs) = read(entity);
        assert!(recs.is_empty());
        assert!(errs[0].contains("unknown entity &ext;"), "{errs:?}");
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        let (_, errs) = read(&deep);
        assert!(errs[0].contains("nested deeper"), "{errs:?}");
        let (_, errs) = read("<Event><System><EventID>1</EventID></System>");
        assert!(errs[0].contains("ends inside"), "{errs:?}");
        let (recs, errs) = read("<Event><EventData/></Event><Event><System/></Event>");
        assert_eq!(recs.len(), 1);
        assert_eq!(errs.len(), 1);
    }
}
