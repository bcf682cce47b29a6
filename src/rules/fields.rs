//! Field resolution: the closed set of names a rule may use, what type each has, which source it
//! belongs to, and how its value is read from an [`Event`].
//!
//! Top-level names (`event_id`, `process`, ...) form a closed set: anything else is a load-time
//! error. Three prefixes are open: `data.<Name>` (EVTX event data), `detail.<Key>` (a key of a
//! Procmon `Detail`) and `column.<Header>` (any other Procmon column). Their values are text that
//! compares as a number when the rule compares it with a number ([`parse_number`]). Look-ups
//! ignore case, as Windows does. A field that does not apply to an event (`process` on an EVTX
//! record) has no value, exactly like a `data.X` the record does not carry.

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;

use crate::model::{Event, EventKind, Source};

/// A field a rule can name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Source,
    File,
    Record,
    Time,
    EventId,
    Qualifiers,
    Provider,
    Channel,
    Level,
    Computer,
    ActivityId,
    ProcessId,
    Process,
    Pid,
    Operation,
    Path,
    Result,
    Detail,
    TimeOfDay,
    Date,
    LocalHost,
    LocalPort,
    RemoteHost,
    RemotePort,
    /// Registry: the key, the value's name, type and data.
    Key,
    ValueName,
    ValueType,
    ValueData,
    /// ACL: the identity, rights, `Allow`/`Deny` and whether the rule is inherited.
    Identity,
    Rights,
    Access,
    Inherited,
    Entry,
    ObjectAccess,
    /// netstat: `TCP`/`UDP`, the socket's state and its service.
    Protocol,
    State,
    Service,
    /// `data.<Name>`: EVTX `EventData`/`UserData` by name; an attribute of an element under
    /// them is `data.Element@attribute` (CAPI2's `data.Result@value`).
    Data(String),
    /// `detail.<Key>`: one key of a Procmon `Detail`.
    DetailKey(String),
    /// `column.<Header>`: any other Procmon column.
    Column(String),
}

/// What kind of value a field holds, which decides the comparisons it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text: string comparisons only.
    Text,
    /// An unsigned number: numeric comparisons only.
    Number,
    /// The UTC event time: ordering against a timestamp string.
    Time,
    /// `source`: `==`, `!=`, `in` against `"evtx"` / `"procmon"`.
    Source,
    /// Open fields (`data.*`, `detail.*`, `column.*`): text, or a number when compared with one.
    Dynamic,
}

/// The closed set of top-level names, in the order error messages list them.
pub const TOP_LEVEL: &[(&str, Field)] = &[
    ("source", Field::Source),
    ("file", Field::File),
    ("record", Field::Record),
    ("time", Field::Time),
    ("event_id", Field::EventId),
    ("qualifiers", Field::Qualifiers),
    ("provider", Field::Provider),
    ("channel", Field::Channel),
    ("level", Field::Level),
    ("computer", Field::Computer),
    ("activity_id", Field::ActivityId),
    ("process_id", Field::ProcessId),
    ("process", Field::Process),
    ("pid", Field::Pid),
    ("operation", Field::Operation),
    ("path", Field::Path),
    ("result", Field::Result),
    ("detail", Field::Detail),
    ("time_of_day", Field::TimeOfDay),
    ("date", Field::Date),
    ("local_host", Field::LocalHost),
    ("local_port", Field::LocalPort),
    ("remote_host", Field::RemoteHost),
    ("remote_port", Field::RemotePort),
    ("key", Field::Key),
    ("value_name", Field::ValueName),
    ("value_type", Field::ValueType),
    ("value_data", Field::ValueData),
    ("identity", Field::Identity),
    ("rights", Field::Rights),
    ("access", Field::Access),
    ("inherited", Field::Inherited),
    ("entry", Field::Entry),
    ("object_access", Field::ObjectAccess),
    ("protocol", Field::Protocol),
    ("state", Field::State),
    ("service", Field::Service),
];

/// The open prefixes, for error messages and the template parser.
pub const PREFIXES: &[&str] = &["data", "detail", "column"];

/// A field's value in one event.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'e> {
    Text(Cow<'e, str>),
    Num(u64),
    Time(Timestamp),
}

impl FieldValue<'_> {
    /// The value as evidence text.
    pub fn render(&self) -> String {
        match self {
            FieldValue::Text(t) => t.to_string(),
            FieldValue::Num(n) => n.to_string(),
            FieldValue::Time(t) => t.to_string(),
        }
    }
}

impl Field {
    /// The value `by` groups on (aggregations and `unless:`), compared without case. A
    /// `computer` is its host name's first label: the same machine is `RDS04` in a PML's
    /// header or a bundle's name and `RDS04.contoso.com` in its event logs (an address stays
    /// whole).
    pub fn group_value(&self, ev: &Event) -> Option<String> {
        let text = self.get(ev)?.render().to_lowercase();
        if *self == Field::Computer
            && text.parse::<std::net::IpAddr>().is_err()
            && let Some((host, _)) = text.split_once('.')
        {
            return Some(host.to_string());
        }
        Some(text)
    }

    /// A top-level field by its exact (lower-case) name.
    pub fn top_level(name: &str) -> Option<Field> {
        TOP_LEVEL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f.clone())
    }

    /// An open field from its prefix and name.
    pub fn prefixed(prefix: &str, name: String) -> Option<Field> {
        match prefix {
            "data" => Some(Field::Data(name)),
            "detail" => Some(Field::DetailKey(name)),
            "column" => Some(Field::Column(name)),
            _ => None,
        }
    }

    pub fn ty(&self) -> FieldType {
        use Field::*;
        match self {
            Source => FieldType::Source,
            Time => FieldType::Time,
            Record | EventId | Qualifiers | Level | ProcessId | Pid | LocalPort | RemotePort
            | Entry => FieldType::Number,
            File | Provider | Channel | Computer | ActivityId | Process | Operation | Path
            | Result | Detail | TimeOfDay | Date | LocalHost | RemoteHost | Key | ValueName
            | ValueType | Identity | Rights | Access | Inherited | ObjectAccess | Protocol
            | State | Service => FieldType::Text,
            Data(_) | DetailKey(_) | Column(_) | ValueData => FieldType::Dynamic,
        }
    }

    /// The sources this field exists in, or `None` when every event has it.
    pub fn only_in(&self) -> Option<&'static [Source]> {
        use crate::model::Source as S;
        use Field::*;
        match self {
            Source | File | Record | Time => None,
            Computer => Some(&[S::Evtx, S::Procmon, S::Registry, S::Acl, S::Netstat]),
            Path => Some(&[S::Procmon, S::Acl]),
            EventId | Qualifiers | Provider | Channel | Level | ActivityId | ProcessId
            | Data(_) => Some(&[S::Evtx]),
            Process | Pid | LocalHost | LocalPort | RemoteHost | RemotePort => {
                Some(&[S::Procmon, S::Netstat])
            }
            Operation | Result | Detail | TimeOfDay | Date | DetailKey(_) | Column(_) => {
                Some(&[S::Procmon])
            }
            Key | ValueName | ValueType | ValueData => Some(&[S::Registry]),
            Identity | Rights | Access | Inherited | Entry | ObjectAccess => Some(&[S::Acl]),
            Protocol | State | Service => Some(&[S::Netstat]),
        }
    }

    /// The value of this field in `event`, `None` when the event has none.
    pub fn get<'e>(&self, event: &'e Event) -> Option<FieldValue<'e>> {
        let text = |s: &'e str| Some(FieldValue::Text(Cow::Borrowed(s)));
        match (self, &event.kind) {
            (Field::Source, _) => text(event.source().as_str()),
            (Field::File, _) => text(&event.file),
            (Field::Record, _) => Some(FieldValue::Num(event.record)),
            (Field::Time, _) => event.time.map(FieldValue::Time),
            (field, EventKind::Win(w)) => match field {
                Field::EventId => Some(FieldValue::Num(u64::from(w.event_id))),
                Field::Qualifiers => w.qualifiers.map(|q| FieldValue::Num(u64::from(q))),
                Field::Provider => text(&w.provider),
                Field::Channel => text(&w.channel),
                Field::Level => w.level.map(|l| FieldValue::Num(u64::from(l))),
                Field::Computer => text(&w.computer),
                Field::ActivityId => w.activity_id.as_deref().and_then(text),
                Field::ProcessId => w.process_id.map(|p| FieldValue::Num(u64::from(p))),
                Field::Data(name) => w.data.get(name).and_then(text),
                _ => None,
            },
            (field, EventKind::Procmon(p)) => match field {
                Field::Process => text(&p.process),
                Field::Pid => p.pid.map(|n| FieldValue::Num(u64::from(n))),
                Field::Operation => text(&p.operation),
                Field::Path => text(p.path()),
                Field::Result => text(&p.result),
                Field::Detail => text(p.detail_raw()),
                Field::TimeOfDay => p
                    .time_of_day
                    .map(|t| FieldValue::Text(Cow::Owned(t.to_string()))),
                Field::Date => p.date.map(|d| FieldValue::Text(Cow::Owned(d.to_string()))),
                Field::LocalHost => p.network().and_then(|n| text(n.local_host)),
                Field::LocalPort => p
                    .network()
                    .and_then(|n| n.local_port)
                    .map(|n| FieldValue::Num(u64::from(n))),
                Field::RemoteHost => p.network().and_then(|n| text(n.remote_host)),
                Field::RemotePort => p
                    .network()
                    .and_then(|n| n.remote_port)
                    .map(|n| FieldValue::Num(u64::from(n))),
                Field::DetailKey(key) => p.detail().get(key).and_then(text),
                Field::Column(name) => p.columns.get(name).and_then(text),
                Field::Computer => p.computer.as_deref().and_then(text),
                _ => None,
            },
            (field, EventKind::Registry(r)) => match field {
                Field::Key => text(&r.key),
                Field::ValueName => text(&r.name),
                Field::ValueType => text(&r.value_type),
                Field::ValueData => text(&r.data),
                Field::Computer => text(&r.computer),
                _ => None,
            },
            (field, EventKind::Acl(a)) => match field {
                Field::Path => text(&a.path),
                Field::Identity => text(&a.identity),
                Field::Rights => text(&a.rights),
                Field::Access => text(&a.access),
                Field::Inherited => text(if a.inherited { "true" } else { "false" }),
                Field::Entry => Some(FieldValue::Num(u64::from(a.entry))),
                Field::ObjectAccess => text(&a.object_access),
                Field::Computer => text(&a.computer),
                _ => None,
            },
            (field, EventKind::Socket(k)) => {
                let port = |p: Option<u16>| p.map(|n| FieldValue::Num(u64::from(n)));
                match field {
                    Field::Protocol => text(&k.protocol),
                    Field::LocalHost => text(&k.local_host),
                    Field::LocalPort => port(k.local_port),
                    Field::RemoteHost => text(&k.remote_host),
                    Field::RemotePort => port(k.remote_port),
                    Field::State => text(&k.state),
                    Field::Pid => k.pid.map(|n| FieldValue::Num(u64::from(n))),
                    Field::Process => text(&k.process),
                    Field::Service => text(&k.service),
                    Field::Computer => text(&k.computer),
                    _ => None,
                }
            }
        }
    }

    /// The names this could be a misspelling of, for "did you mean" hints.
    pub fn suggest(name: &str) -> Option<&'static str> {
        let lower = name.to_ascii_lowercase();
        let squash = |s: &str| s.replace(['_', '-', ' '], "");
        TOP_LEVEL
            .iter()
            .map(|(n, _)| *n)
            .find(|n| squash(n) == squash(&lower))
            .or_else(|| {
                TOP_LEVEL
                    .iter()
                    .map(|(n, _)| *n)
                    .filter(|n| edit_distance(n, &lower) <= 2)
                    .min_by_key(|n| edit_distance(n, &lower))
            })
    }
}

/// True when `name` can be written after a prefix without quotes (`data.AlertDesc`, `data.1`,
/// `data.Result@value`).
pub fn is_bare_name(name: &str) -> bool {
    let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match name.split_once('@') {
        Some((element, attr)) => word(element) && word(attr),
        None => word(name),
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, name) = match self {
            Field::Data(n) => ("data", n),
            Field::DetailKey(n) => ("detail", n),
            Field::Column(n) => ("column", n),
            top => {
                let name = TOP_LEVEL
                    .iter()
                    .find(|(_, field)| field == top)
                    .map_or("?", |(n, _)| *n);
                return f.write_str(name);
            }
        };
        if is_bare_name(name) {
            write!(f, "{prefix}.{name}")
        } else {
            write!(f, "{prefix}.{}", super::ast::quote(name))
        }
    }
}

/// Text read as a number: decimal, `0x` hex, or a negative decimal in the `i32` range read as
/// its two's complement (Windows logs HRESULTs both as `0x80072746` and as `-2147014842`).
pub fn parse_number(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return u64::from_str_radix(hex, 16).ok();
    }
    if let Some(neg) = t.strip_prefix('-') {
        if neg.is_empty() || !neg.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: i64 = neg.parse().ok()?;
        let v = i32::try_from(-n).ok()?;
        return Some(u64::from(v as u32));
    }
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Fields, ProcmonRow, RowText, WinEvent};

    fn win() -> Event {
        let mut data = Fields::default();
        data.push("Error Code", "0x80072746");
        Event {
            file: Arc::from("System.evtx"),
            record: 7,
            time: None,
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                provider: "Schannel".into(),
                event_id: 36888,
                data,
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    #[test]
    fn numbers_in_text() {
        assert_eq!(parse_number("2308"), Some(2308));
        assert_eq!(parse_number(" 0x904 "), Some(0x904));
        assert_eq!(parse_number("0X80072746"), Some(0x8007_2746));
        assert_eq!(parse_number("-2147014842"), Some(0x8007_2746));
        assert_eq!(parse_number("-1"), Some(0xFFFF_FFFF));
        assert_eq!(parse_number("-99999999999"), None);
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("12a"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("+5"), None);
    }

    #[test]
    fn values_by_source() {
        let ev = win();
        assert_eq!(Field::EventId.get(&ev), Some(FieldValue::Num(36888)));
        assert_eq!(
            Field::Data("error code".into()).get(&ev),
            Some(FieldValue::Text(Cow::Borrowed("0x80072746")))
        );
        assert_eq!(Field::Process.get(&ev), None);
        assert_eq!(
            Field::Source.get(&ev).map(|v| v.render()),
            Some("evtx".into())
        );
        let row = Event {
            file: Arc::from("trace.csv"),
            record: 1,
            time: None,
            kind: EventKind::Procmon(Box::new(ProcmonRow {
                process: "mstsc.exe".into(),
                text: RowText::with_network("a:- -> b:3389", ""),
                ..ProcmonRow::default()
            })),
            marks: Default::default(),
        };
        assert_eq!(Field::RemotePort.get(&row), Some(FieldValue::Num(3389)));
        assert_eq!(Field::LocalPort.get(&row), None);
        assert_eq!(Field::EventId.get(&row), None);
    }

    #[test]
    fn display_quotes_names_that_need_it() {
        assert_eq!(
            Field::Data("AlertDesc".into()).to_string(),
            "data.AlertDesc"
        );
        assert_eq!(
            Field::Data("Error Code".into()).to_string(),
            "data.\"Error Code\""
        );
        assert_eq!(Field::EventId.to_string(), "event_id");
    }

    #[test]
    fn suggestions() {
        assert_eq!(Field::suggest("eventid"), Some("event_id"));
        assert_eq!(Field::suggest("EventID"), Some("event_id"));
        assert_eq!(Field::suggest("proces"), Some("process"));
        assert_eq!(Field::suggest("zzzzzzzzzz"), None);
    }
}
