//! A dev-only EVTX writer: real `.evtx` files built from a list of described events, so the
//! rule pack can be tested end to end on binary input shaped like what customers send (no
//! public log holds a 0x904 disconnect).
//!
//! The files are written the way Windows writes them: a 4 KiB file header, 64 KiB chunks whose
//! header CRC32s, string table and record ids are filled in, and records whose BinXML is a
//! template instance. Each record's shape (element and attribute names, literal texts and the
//! types of its values) becomes a template definition, written inline at its first use in a
//! chunk and referenced by offset afterwards; names are written inline at their first use in a
//! chunk and entered in the chunk's string table. Values are typed the way Windows types them
//! (`EventID` UInt16, `TimeCreated/@SystemTime` FILETIME, `Keywords` HexInt64, `ProcessID`
//! UInt32, `UserID` SID, ...), so the `evtx` crate renders the same XML it renders for real
//! files, through the same template path.
//!
//! [`scenario`] reads the readable text form the ticket fixtures are written in, and
//! [`procmon`] writes Process Monitor CSV exports.
//!
//! Format reference: the `evtx` crate's own parser (0.15.1) and libyal's "Windows XML Event
//! Log (EVTX) format" document.
#![allow(dead_code)]

mod binxml;
mod layout;
pub mod procmon;
pub mod scenario;

use jiff::Timestamp;

pub use layout::write_evtx;

/// The namespace every `<Event>` carries.
pub const EVENT_NS: &str = "http://schemas.microsoft.com/win/2004/08/events/event";

/// One event to write.
#[derive(Debug, Clone, PartialEq)]
pub struct EvtxEvent {
    pub channel: String,
    pub provider: String,
    /// `Provider/@Guid` as written, with braces. Lowercase hex is stored as a GUID value (how
    /// manifest providers' events render); anything else, such as the uppercase GUIDs of
    /// classic providers' events, is stored as a string and renders exactly as given.
    pub provider_guid: Option<String>,
    /// `Provider/@EventSourceName`, which classic (event-source) providers' events carry.
    pub event_source_name: Option<String>,
    pub event_id: u16,
    /// `EventID/@Qualifiers` (1058 is written with 49152 = 0xC000).
    pub qualifiers: Option<u16>,
    /// `None` leaves the element out (old classic events have no `Version` or `Opcode`).
    pub version: Option<u8>,
    pub level: Option<u8>,
    pub task: Option<u16>,
    pub opcode: Option<u8>,
    pub keywords: Option<u64>,
    /// UTC, 100 ns precision (finer digits are dropped).
    pub time: Timestamp,
    pub record_id: u64,
    pub correlation: Correlation,
    /// `Execution/@ProcessID` and `@ThreadID`; `None` leaves the element out.
    pub execution: Option<(u32, u32)>,
    pub computer: String,
    /// `Security/@UserID` as a SID string; `None` writes `<Security/>`.
    pub user_id: Option<String>,
    pub body: Body,
}

impl EvtxEvent {
    /// An event with the System fields most manifest events carry, to be filled in.
    pub fn new(channel: &str, provider: &str, event_id: u16, time: Timestamp) -> Self {
        EvtxEvent {
            channel: channel.to_string(),
            provider: provider.to_string(),
            provider_guid: None,
            event_source_name: None,
            event_id,
            qualifiers: None,
            version: Some(0),
            level: Some(4),
            task: Some(0),
            opcode: Some(0),
            keywords: Some(0x8000_0000_0000_0000),
            time,
            record_id: 1,
            correlation: Correlation::Empty,
            execution: None,
            computer: String::new(),
            user_id: None,
            body: Body::EventData {
                data: Vec::new(),
                binary: None,
            },
        }
    }

    /// The data pairs rdtriage's reader gives for this event, in order: named `Data` by name,
    /// unnamed `Data` by 1-based position, `Binary` as `Binary`, `UserData` leaves by element
    /// name (attributes are not read).
    pub fn expected_data(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match &self.body {
            Body::EventData { data, binary } => {
                for (i, d) in data.iter().enumerate() {
                    let key = d.name.clone().unwrap_or_else(|| (i + 1).to_string());
                    out.push((key, d.value.render()));
                }
                if let Some(b) = binary {
                    out.push(("Binary".to_string(), Value::Binary(b.clone()).render()));
                }
            }
            Body::UserData(wrapper) => {
                wrapper.attribute_fields(&mut out);
                for child in &wrapper.children {
                    if let Node::Element(e) = child {
                        e.leaves(&mut out);
                    }
                }
            }
            Body::None => {}
        }
        out
    }
}

/// `System/Correlation`.
#[derive(Debug, Clone, PartialEq)]
pub enum Correlation {
    /// No `Correlation` element at all (old classic events).
    Omitted,
    /// `<Correlation/>`.
    Empty,
    /// `<Correlation ActivityID="{...}"/>`, the GUID as written (rendered lowercase).
    Activity(String),
}

/// What follows `System`.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `<EventData>` with `Data` elements (named or not) and an optional `<Binary>`.
    EventData {
        data: Vec<Data>,
        binary: Option<Vec<u8>>,
    },
    /// `<UserData>` holding one wrapper element (`<EventInfo xmlns="aag">...`).
    UserData(Element),
    /// Neither.
    None,
}

/// One `EventData/Data`.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub name: Option<String>,
    pub value: Value,
}

impl Data {
    pub fn named(name: &str, value: impl Into<Value>) -> Self {
        Data {
            name: Some(name.to_string()),
            value: value.into(),
        }
    }

    pub fn unnamed(value: impl Into<Value>) -> Self {
        Data {
            name: None,
            value: value.into(),
        }
    }
}

/// An element of a `UserData` tree. Attribute values named `xmlns` are written as literal
/// template text; every other attribute value and every text is a substitution value.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, Value)>,
    pub children: Vec<Node>,
}

impl Element {
    pub fn new(name: &str) -> Self {
        Element {
            name: name.to_string(),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    /// A leaf `<name>value</name>`.
    pub fn leaf(name: &str, value: impl Into<Value>) -> Self {
        Element {
            name: name.to_string(),
            attributes: Vec::new(),
            children: vec![Node::Text(value.into())],
        }
    }

    pub fn attr(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.attributes.push((name.to_string(), value.into()));
        self
    }

    pub fn child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    fn leaves(&self, out: &mut Vec<(String, String)>) {
        self.attribute_fields(out);
        let mut has_child = false;
        for c in &self.children {
            if let Node::Element(e) = c {
                has_child = true;
                e.leaves(out);
            }
        }
        if !has_child {
            let text: String = self
                .children
                .iter()
                .map(|c| match c {
                    Node::Text(v) => v.render(),
                    Node::Element(_) => String::new(),
                })
                .collect();
            out.push((self.name.clone(), text));
        }
    }

    /// Attributes are read as `Element@name` fields (namespace declarations and prefixed
    /// names are not; an empty value is left out, as Windows' renderer leaves it out).
    fn attribute_fields(&self, out: &mut Vec<(String, String)>) {
        for (name, value) in &self.attributes {
            let text = value.render();
            if name != "xmlns" && !name.contains(':') && !text.is_empty() {
                out.push((format!("{}@{name}", self.name), text));
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Element(Element),
    Text(Value),
}

/// A typed value, stored with the BinXML type Windows uses for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I32(i32),
    I64(i64),
    Hex32(u32),
    Hex64(u64),
    Bool(bool),
    /// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}` (case-insensitive, braces optional).
    Guid(String),
    /// `S-1-5-21-...`.
    Sid(String),
    /// 100 ns intervals since 1601-01-01 UTC.
    FileTime(u64),
    Binary(Vec<u8>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl Value {
    /// The text the `evtx` crate (and Event Viewer) renders for this value.
    pub fn render(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::U8(v) => v.to_string(),
            Value::U16(v) => v.to_string(),
            Value::U32(v) => v.to_string(),
            Value::U64(v) => v.to_string(),
            Value::I32(v) => v.to_string(),
            Value::I64(v) => v.to_string(),
            Value::Hex32(v) => format!("{v:#x}"),
            Value::Hex64(v) => format!("{v:#x}"),
            Value::Bool(v) => v.to_string(),
            Value::Guid(g) => match parse_guid(g) {
                Ok(bytes) => format_guid(&bytes),
                Err(_) => g.clone(),
            },
            Value::Sid(s) => s.clone(),
            Value::FileTime(ft) => filetime_to_timestamp(*ft)
                .map(render_time)
                .unwrap_or_default(),
            Value::Binary(b) => b.iter().map(|x| format!("{x:02X}")).collect(),
        }
    }
}

/// What can go wrong writing a file: the events described something EVTX cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError(pub String);

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WriteError {}

/// CRC32 (IEEE 802.3: reflected, polynomial 0xEDB88320), as EVTX headers store it.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                let mask = (crc & 1).wrapping_neg();
                crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            }
        }
    }
    !crc
}

/// Seconds from 1601-01-01 to 1970-01-01.
const FILETIME_UNIX_OFFSET: i64 = 11_644_473_600;

pub fn timestamp_to_filetime(t: Timestamp) -> Result<u64, WriteError> {
    let secs = t.as_second() + FILETIME_UNIX_OFFSET;
    let ticks = u64::try_from(secs)
        .ok()
        .and_then(|s| s.checked_mul(10_000_000))
        .ok_or_else(|| WriteError(format!("{t} is before 1601 and has no FILETIME")))?;
    Ok(ticks + (t.subsec_nanosecond() / 100) as u64)
}

pub fn filetime_to_timestamp(ft: u64) -> Option<Timestamp> {
    let secs = (ft / 10_000_000) as i64 - FILETIME_UNIX_OFFSET;
    let nanos = ((ft % 10_000_000) * 100) as i32;
    Timestamp::new(secs, nanos).ok()
}

/// `2024-03-05T10:15:30.1234567Z`: always seven fractional digits, as Windows renders.
pub fn render_time(t: Timestamp) -> String {
    let dt = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond() / 100
    )
}

/// A GUID's 16 bytes in storage order (Data1..3 little-endian).
pub fn parse_guid(text: &str) -> Result<[u8; 16], WriteError> {
    let bad = || WriteError(format!("not a GUID: {text:?}"));
    let inner = text.trim_start_matches('{').trim_end_matches('}');
    let parts: Vec<&str> = inner.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    if parts.len() != 5 || parts.iter().zip(lens).any(|(p, n)| p.len() != n) {
        return Err(bad());
    }
    let hex: String = parts.concat();
    let mut raw = [0u8; 16];
    for (i, b) in raw.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
            .map_err(|_| bad())?;
    }
    let mut out = raw;
    out[0..4].copy_from_slice(&[raw[3], raw[2], raw[1], raw[0]]);
    out[4..6].copy_from_slice(&[raw[5], raw[4]]);
    out[6..8].copy_from_slice(&[raw[7], raw[6]]);
    Ok(out)
}

/// `{xxxxxxxx-...}` lowercase, from storage-order bytes.
pub fn format_guid(b: &[u8; 16]) -> String {
    let h = |r: &[u8]| r.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{{{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{}-{}}}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        h(&b[8..10]),
        h(&b[10..16])
    )
}

/// A SID string in its binary form: revision, count, 48-bit big-endian authority, then the
/// sub-authorities little-endian.
pub fn parse_sid(text: &str) -> Result<Vec<u8>, WriteError> {
    let bad = || WriteError(format!("not a SID: {text:?}"));
    let rest = text.strip_prefix("S-").ok_or_else(bad)?;
    let mut parts = rest.split('-');
    let revision: u8 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let authority: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let subs: Vec<u32> = parts
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if subs.len() > 15 || authority >= 1 << 48 {
        return Err(bad());
    }
    let mut out = vec![revision, subs.len() as u8];
    out.extend_from_slice(&authority.to_be_bytes()[2..]);
    for s in subs {
        out.extend_from_slice(&s.to_le_bytes());
    }
    Ok(out)
}
