//! Windows event XML → [`WinEvent`].
//!
//! One converter serves two inputs, so they cannot drift apart: EVTX records (rendered to XML
//! by the `evtx` crate) and event-log XML exports (Event Viewer "Save All Events As… XML",
//! `wevtutil qe /f:xml`), which are `<Events><Event>…</Event>…</Events>` or a bare run of
//! `<Event>` elements. No DTD is ever processed: a `<!DOCTYPE>` is refused and an entity other
//! than the five predefined ones is an error, so billion-laughs and external entities cannot
//! act. Element depth and the number of elements in one event are capped ([`XmlLimits`]).
//!
//! EVTX records take a fast path first: the crate renders a known, regular subset of XML (no
//! comments, CDATA or DTD), which [`read_rendered`] scans directly. Anything
//! outside that subset goes to the general reader, so both give the same events by
//! construction; a corpus test and a fuzz target compare them.

use std::sync::Arc;

use jiff::Timestamp;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event as XmlEvent};

use crate::model::{Event, EventKind, WinEvent};

mod builder;

pub(super) use builder::{
    Attrs, Builder, DataLiteral, Part, Payloads, Role, SystemField, is_plain,
};

/// Bounds on one event-log XML document, against hostile nesting and element floods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Deepest element nesting (real events reach 5: Event/UserData/X/Y/Z).
    pub depth: usize,
    /// Most elements in one `<Event>` (real events have tens, a few hundred at most).
    pub elements: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        XmlLimits {
            depth: 64,
            elements: 100_000,
        }
    }
}

/// What went wrong reading event XML.
#[derive(Debug, thiserror::Error)]
pub enum XmlEventError {
    #[error("malformed XML at byte {offset}: {message}")]
    Malformed { offset: u64, message: String },
    #[error("XML document type declarations (DTD) are refused: entities are never expanded")]
    Doctype,
    #[error("elements nested deeper than {0} levels (raise with --max-xml-depth)")]
    TooDeep(usize),
    #[error("an <Event> with more than {0} elements (raise with --max-xml-elements)")]
    TooManyElements(usize),
    #[error("an <Event> with an element of more than {0} attributes (real events have a few)")]
    TooManyAttributes(usize),
    #[error("an <Event> element has no <System> part")]
    NoSystem,
}

impl XmlEventError {
    /// Whether [`read_events`] stops at it, leaving the rest of the document unread: it goes
    /// on only after one oversized event or one without a `<System>` (its other errors end the
    /// read, as this does for any error added later).
    pub fn stops_the_read(&self) -> bool {
        !matches!(
            self,
            XmlEventError::NoSystem
                | XmlEventError::TooManyElements(_)
                | XmlEventError::TooManyAttributes(_)
        )
    }

    /// Where in the document it happened, when known.
    pub fn at(&self) -> crate::model::At {
        match self {
            XmlEventError::Malformed { offset, .. } => crate::model::At {
                offset: Some(*offset),
                ..Default::default()
            },
            _ => crate::model::At::default(),
        }
    }
}

/// One event read from XML, before it is tied to a file.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlRecord {
    pub record_id: Option<u64>,
    pub time: Option<Timestamp>,
    /// `SystemTime` was written but is not a time an event can have (out of range, such as
    /// year 30828 or before 1601, an offset past ±14:00, no zone, or malformed): the event is
    /// kept without a time, and the account says so.
    pub bad_time: bool,
    /// Allocated as the event will hold it (behind an [`Arc`], so that the kept events of a flood
    /// can share one payload, see [`crate::model::WinEvent`]): a record is handed through several
    /// layers before it becomes an [`Event`], and moving the pointer is cheaper than moving the
    /// event each time.
    pub event: Arc<WinEvent>,
}

impl XmlRecord {
    pub fn into_event(self, file: &Arc<str>, fallback_record: u64) -> Event {
        Event {
            file: Arc::clone(file),
            // Windows numbers records from 1: an id of 0 is an export's placeholder (scripts
            // and SIEM exports write it for every event), no id at all. Taken as an id, every
            // event of the second would be a "repeat" of the first.
            record: self
                .record_id
                .filter(|&id| id != 0)
                .unwrap_or(fallback_record),
            time: self.time,
            kind: EventKind::Win(self.event),
            marks: Default::default(),
        }
    }
}

/// Read every `<Event>` of a document (or of a single rendered record), in order. Each event
/// that fails is reported through `on_error` and reading goes on with the next one where the
/// XML allows it.
pub fn read_events(
    xml: &str,
    limits: &XmlLimits,
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
                    let name = start.name().as_ref().to_string();
                    match read_event(&mut reader, depth, limits) {
                        Ok(record) => on_event(record),
                        Err(XmlEventError::NoSystem) => on_error(XmlEventError::NoSystem),
                        // One oversized event: skip the rest of it, read the ones after it.
                        Err(
                            e @ (XmlEventError::TooManyElements(_)
                            | XmlEventError::TooManyAttributes(_)),
                        ) => {
                            on_error(e);
                            let at = reader.buffer_position();
                            if let Err(e) = reader.read_to_end(quick_xml::name::QName(&name)) {
                                on_error(malformed(at, e));
                                return;
                            }
                        }
                        Err(e) => {
                            on_error(e);
                            return;
                        }
                    }
                } else {
                    depth += 1;
                    if depth > limits.depth {
                        on_error(XmlEventError::TooDeep(limits.depth));
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
pub(super) fn strip_prefix_ns(name: &str) -> &str {
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

/// Read one `<Event>` whose start tag was just consumed, up to its end tag.
fn read_event(
    reader: &mut Reader<&[u8]>,
    outer_depth: usize,
    limits: &XmlLimits,
) -> Result<XmlRecord, XmlEventError> {
    let mut b = Builder::new();
    loop {
        let at = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| malformed(at, e))?;
        match ev {
            XmlEvent::Start(start) => b.start(local(&start), &start, limits, outer_depth)?,
            XmlEvent::Empty(start) => {
                b.start(local(&start), &start, limits, outer_depth)?;
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

/// Read one record rendered by the `evtx` crate: the fast path when the XML stays inside the
/// subset the renderer writes, the general reader otherwise (so the result is the same).
pub fn read_rendered(xml: &str, limits: &XmlLimits) -> Result<XmlRecord, XmlEventError> {
    if let Some(record) = read_rendered_fast(xml, limits) {
        return Ok(record);
    }
    let mut got = None;
    let mut err = None;
    read_events(xml, limits, &mut |r| got = Some(r), &mut |e| {
        err.get_or_insert(e);
    });
    match (got, err) {
        (Some(record), None) => Ok(record),
        (_, Some(e)) => Err(e),
        (None, None) => Err(malformed(0, "no <Event> element")),
    }
}

/// The fast path of [`read_rendered`]: one `<Event>` after an optional `<?xml?>` declaration,
/// built with the same [`Builder`] as the general reader. `None` (not an error) as soon as
/// the text leaves the renderer's subset: a comment, CDATA, DTD, an entity other than
/// the five predefined ones and character references, an attribute needing normalization,
/// mismatched or malformed tags, anything after `</Event>`, or a broken limit. Public for the
/// tests and fuzz target that compare it with the general reader.
#[doc(hidden)]
pub fn read_rendered_fast(xml: &str, limits: &XmlLimits) -> Option<XmlRecord> {
    let mut scan = Scan {
        xml,
        bytes: xml.as_bytes(),
        at: 0,
    };
    // Prolog: whitespace and `<?...?>` declarations.
    loop {
        scan.skip_ws();
        if scan.bytes[scan.at..].starts_with(b"<?") {
            let end = scan.rest().find("?>")?;
            scan.at += end + 2;
        } else {
            break;
        }
    }
    let mut attrs = FastAttrs::default();
    let (event_name, empty) = scan.start_tag(&mut attrs)?;
    if strip_prefix_ns(event_name) != "Event" || empty {
        return None;
    }
    let mut b = Builder::new();
    // Open elements below <Event>: full name (to match the end tag) and local name.
    let mut names: Vec<(&str, &str)> = Vec::with_capacity(8);
    // The text before an end tag is that element's text (the text before a start tag is
    // dropped, as the general reader does); only text with entities needs a copy.
    let mut decoded = String::new();
    loop {
        let (raw, special) = scan.text()?;
        let text = if special {
            decoded.clear();
            push_text(&mut decoded, raw)?;
            decoded.as_str()
        } else {
            raw
        };
        // The cursor is at a '<'.
        match *scan.bytes.get(scan.at + 1)? {
            b'/' => {
                let start = scan.at + 2;
                let mut end = start;
                while *scan.bytes.get(end)? != b'>' {
                    end += 1;
                }
                scan.at = end + 1;
                let name = xml.get(start..end)?.trim_end_matches([' ', '\t', '\n']);
                match names.pop() {
                    Some((open, local_name)) if open == name => {
                        b.end_with(local_name, text);
                    }
                    Some(_) => return None,
                    None => {
                        if name != event_name {
                            return None;
                        }
                        scan.skip_ws();
                        if scan.at != scan.bytes.len() {
                            return None;
                        }
                        b.end_with(strip_prefix_ns(name), text);
                        return b.finish().ok();
                    }
                }
            }
            b'!' | b'?' => return None,
            _ => {
                attrs.list.clear();
                let (name, empty) = scan.start_tag(&mut attrs)?;
                let local_name = strip_prefix_ns(name);
                b.start(local_name, &attrs, limits, 0).ok()?;
                if empty {
                    b.end_with(local_name, "");
                } else {
                    names.push((name, local_name));
                }
            }
        }
    }
}

/// A cursor over rendered XML. It only ever stops on ASCII bytes, so every slice it takes is
/// on a character boundary.
struct Scan<'a> {
    xml: &'a str,
    bytes: &'a [u8],
    at: usize,
}

/// What the fast path accepts in element and attribute names: ASCII letters, digits, `_`,
/// `-`, `.`, `:` and any non-ASCII byte. Anything else goes to the general reader.
pub(super) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':') || b >= 0x80
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scan<'a> {
    fn rest(&self) -> &'a str {
        self.xml.get(self.at..).unwrap_or("")
    }

    fn skip_ws(&mut self) {
        while self.bytes.get(self.at).is_some_and(|&b| is_ws(b)) {
            self.at += 1;
        }
    }

    /// The text up to the next `<` (which must exist), and whether it holds a `&`.
    fn text(&mut self) -> Option<(&'a str, bool)> {
        let start = self.at;
        let rest = self.bytes.get(start..)?;
        let first = memchr::memchr2(b'<', b'&', rest)?;
        let (len, special) = if rest[first] == b'<' {
            (first, false)
        } else {
            (first + memchr::memchr(b'<', &rest[first..])?, true)
        };
        self.at = start + len;
        Some((self.xml.get(start..self.at)?, special))
    }

    /// A start tag at the cursor: its name, and whether it is empty (`<x/>`). Attribute values
    /// are kept raw, so values holding `&`, `<` or whitespace other than a space are refused.
    fn start_tag(&mut self, attrs: &mut FastAttrs<'a>) -> Option<(&'a str, bool)> {
        if self.bytes.get(self.at) != Some(&b'<') {
            return None;
        }
        let start = self.at + 1;
        let mut end = start;
        loop {
            match *self.bytes.get(end)? {
                b' ' | b'\t' | b'\n' | b'/' | b'>' => break,
                b if is_name_byte(b) => end += 1,
                _ => return None,
            }
        }
        if end == start {
            return None;
        }
        let name = self.xml.get(start..end)?;
        self.at = end;
        loop {
            self.skip_ws();
            match *self.bytes.get(self.at)? {
                b'>' => {
                    self.at += 1;
                    return Some((name, false));
                }
                b'/' => {
                    if *self.bytes.get(self.at + 1)? != b'>' {
                        return None;
                    }
                    self.at += 2;
                    return Some((name, true));
                }
                _ => {}
            }
            let key_start = self.at;
            loop {
                match *self.bytes.get(self.at)? {
                    b'=' => break,
                    b if is_name_byte(b) => self.at += 1,
                    _ => return None,
                }
            }
            let key = self.xml.get(key_start..self.at)?;
            self.at += 1;
            let quote = *self.bytes.get(self.at)?;
            if quote != b'"' && quote != b'\'' {
                return None;
            }
            self.at += 1;
            let value_start = self.at;
            let value_len = memchr::memchr(quote, self.bytes.get(value_start..)?)?;
            self.at += value_len;
            let value = &self.bytes[value_start..self.at];
            if value
                .iter()
                .any(|b| matches!(b, b'&' | b'<' | b'\t' | b'\n' | b'\r'))
            {
                return None;
            }
            if key_start == value_start - 2 {
                return None;
            }
            attrs.list.push((key, self.xml.get(value_start..self.at)?));
            self.at += 1;
        }
    }
}

/// Attributes scanned by the fast path: raw values that need no unescaping.
#[derive(Default)]
struct FastAttrs<'a> {
    list: Vec<(&'a str, &'a str)>,
}

impl Attrs for FastAttrs<'_> {
    fn get<'a>(&'a self, name: &str, _buf: &'a mut String) -> Option<&'a str> {
        self.list
            .iter()
            .find(|(key, _)| strip_prefix_ns(key) == name)
            .map(|(_, value)| *value)
    }

    fn plain_names(&self, each: &mut dyn FnMut(&str) -> bool) {
        for (i, (key, _)) in self.list.iter().enumerate() {
            if is_plain(key) && !self.list[..i].iter().any(|(k, _)| k == key) && !each(key) {
                return;
            }
        }
    }
}

/// Append element text, resolving the predefined entities and character references; `None`
/// for anything else. Line ends are kept as they are, as the general reader keeps them.
fn push_text(out: &mut String, text: &str) -> Option<()> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';')?;
        let entity = &after[..semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let (digits, radix) = match entity.strip_prefix("#x") {
                    Some(hex) => (hex, 16),
                    None => (entity.strip_prefix('#')?, 10),
                };
                // Leave the unusual ones (signs, empty, NUL and controls) to quick-xml.
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                let code = u32::from_str_radix(digits, radix).ok()?;
                if code < 0x20 {
                    return None;
                }
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(xml: &str) -> (Vec<XmlRecord>, Vec<String>) {
        let mut out = Vec::new();
        let mut errs = Vec::new();
        read_events(xml, &XmlLimits::default(), &mut |r| out.push(r), &mut |e| {
            errs.push(e.to_string())
        });
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
            &*e.provider,
            "Microsoft-Windows-TerminalServices-RemoteConnectionManager"
        );
        assert_eq!(&*e.channel, "System");
        assert_eq!(&*e.computer, "SRV01.contoso.com");
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
    fn attributes_under_user_data_and_event_data_are_fields() {
        let xml = r#"<Events>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-CAPI2'/><EventID>30</EventID><TimeCreated SystemTime='2024-11-04T09:00:00Z'/><EventRecordID>9</EventRecordID><Channel>Microsoft-Windows-CAPI2/Operational</Channel><Computer>ws</Computer></System><UserData><CertVerifyCertificateChainPolicy xmlns:x='urn:x'><Policy type='CERT_CHAIN_POLICY_SSL' constant='4'/><EventAuxInfo ProcessName='mstsc.exe' x:hidden='1'/><Result value='800B0109'>A certificate chain processed, but terminated in a root certificate which is not trusted.</Result></CertVerifyCertificateChainPolicy></UserData></Event>
<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='P'/><EventID>1</EventID><EventRecordID>10</EventRecordID><Computer>ws</Computer></System><EventData><Data Name='A' Extra='e'>1</Data><Binary kind='raw'>00</Binary></EventData></Event>
</Events>"#;
        let (records, problems) = read(xml);
        assert!(problems.is_empty(), "{problems:?}");
        let data: Vec<(&str, &str)> = records[0].event.data.iter().collect();
        assert_eq!(
            data,
            vec![
                ("Policy@type", "CERT_CHAIN_POLICY_SSL"),
                ("Policy@constant", "4"),
                ("Policy", ""),
                ("EventAuxInfo@ProcessName", "mstsc.exe"),
                ("EventAuxInfo", ""),
                ("Result@value", "800B0109"),
                (
                    "Result",
                    "A certificate chain processed, but terminated in a root certificate which is not trusted."
                ),
            ]
        );
        let data: Vec<(&str, &str)> = records[1].event.data.iter().collect();
        assert_eq!(
            data,
            vec![
                ("Data@Extra", "e"),
                ("A", "1"),
                ("Binary@kind", "raw"),
                ("Binary", "00")
            ]
        );
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
        let many = format!(
            "<Events><Event><System><EventID>1</EventID></System></Event><Event><System/><EventData>{}</EventData></Event><Event><System><EventID>3</EventID></System></Event></Events>",
            "<Data>x</Data>".repeat(20)
        );
        let mut recs = Vec::new();
        let mut errs = Vec::new();
        let limits = XmlLimits {
            elements: 10,
            ..XmlLimits::default()
        };
        read_events(&many, &limits, &mut |r| recs.push(r), &mut |e| {
            errs.push(e.to_string())
        });
        assert_eq!(recs.len(), 2, "{errs:?}");
        assert_eq!(recs[1].event.event_id, 3);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("--max-xml-elements"), "{errs:?}");
        // Attributes: each kept one is found among all of them, so an element may carry
        // only so many; the event is refused, the ones after it read.
        let attrs = |n: usize| (0..n).map(|i| format!(" a{i}='{i}'")).collect::<String>();
        let in_data = |id: u32, n: usize| {
            format!(
                "<Event><System><EventID>{id}</EventID></System><EventData><Data Name='x'{}>v</Data></EventData></Event>",
                attrs(n)
            )
        };
        let in_user_data = |id: u32, n: usize| {
            format!(
                "<Event><System><EventID>{id}</EventID></System><UserData><X{}>v</X></UserData></Event>",
                attrs(n)
            )
        };
        let kinds: [&dyn Fn(u32, usize) -> String; 2] = [&in_data, &in_user_data];
        for event in kinds {
            // With `Name`, the first has as many attributes as are allowed.
            let doc = format!(
                "<Events>{}{}{}</Events>",
                event(1, builder::MAX_ATTRIBUTES - 1),
                event(2, 100_000),
                event(3, 2)
            );
            let (recs, errs) = read(&doc);
            let ids: Vec<u32> = recs.iter().map(|r| r.event.event_id).collect();
            assert_eq!(ids, [1, 3], "{errs:?}");
            let kept = recs[0]
                .event
                .data
                .iter()
                .filter(|(k, _)| k.contains("@a"))
                .count();
            assert_eq!(
                kept,
                builder::MAX_ATTRIBUTES - 1,
                "every attribute of the first"
            );
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(errs[0].contains("more than 256 attributes"), "{errs:?}");
        }
        let (_, errs) = read("<Event><System><EventID>1</EventID></System>");
        assert!(errs[0].contains("ends inside"), "{errs:?}");
        let (recs, errs) = read("<Event><EventData/></Event><Event><System/></Event>");
        assert_eq!(recs.len(), 1);
        assert_eq!(errs.len(), 1);
    }
}
