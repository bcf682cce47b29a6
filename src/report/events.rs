//! Events as JSON: the `dump --format jsonl` line format, one object per event.
//!
//! Every object has `source`, `file`, `record` and `time` (RFC 3339 UTC, or null), then the
//! fields of its kind. Field maps keep input order; a name seen twice gets `#2`, `#3`, ... so
//! the object never has duplicate keys.

use std::collections::HashMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::model::{Event, EventKind};

/// Serialize an event as the documented JSON object.
pub struct EventJson<'a>(pub &'a Event);

/// Named fields (an event's data, a row's detail or columns) as a JSON object.
struct FieldsJson<I>(I);

impl<'a, I: Iterator<Item = (&'a str, &'a str)> + Clone> Serialize for FieldsJson<I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = self.0.clone().count();
        let mut map = s.serialize_map(Some(len))?;
        // How many earlier names equal this one ignoring ASCII case: one lookup per field, so
        // an event with many fields costs linear time, not quadratic, and no name is copied.
        let mut seen: HashMap<NoCase<'a>, usize> = HashMap::with_capacity(len);
        for (k, v) in self.0.clone() {
            let count = seen.entry(NoCase(k)).or_insert(0);
            let n = *count;
            *count += 1;
            if n == 0 {
                map.serialize_entry(k, v)?;
            } else {
                map.serialize_entry(&format!("{k}#{}", n + 1), v)?;
            }
        }
        map.end()
    }
}

/// A field name compared and hashed ignoring ASCII case.
#[derive(Clone, Copy)]
struct NoCase<'a>(&'a str);

impl PartialEq for NoCase<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for NoCase<'_> {}

impl std::hash::Hash for NoCase<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for b in self.0.bytes() {
            h.write_u8(b.to_ascii_lowercase());
        }
        h.write_u8(0xFF);
    }
}

impl Serialize for EventJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("source", e.source().as_str())?;
        map.serialize_entry("file", &*e.file)?;
        map.serialize_entry("record", &e.record)?;
        map.serialize_entry("time", &e.time.map(|t| t.to_string()))?;
        match &e.kind {
            EventKind::Win(w) => {
                map.serialize_entry("channel", &*w.channel)?;
                map.serialize_entry("provider", &*w.provider)?;
                map.serialize_entry("event_id", &w.event_id)?;
                map.serialize_entry("qualifiers", &w.qualifiers)?;
                map.serialize_entry("level", &w.level)?;
                map.serialize_entry("computer", &*w.computer)?;
                map.serialize_entry("activity_id", &w.activity_id)?;
                map.serialize_entry("process_id", &w.process_id)?;
                map.serialize_entry("data", &FieldsJson(w.data.iter()))?;
            }
            EventKind::Procmon(p) => {
                map.serialize_entry("time_of_day", &p.time_of_day.map(|t| t.to_string()))?;
                map.serialize_entry("date", &p.date.map(|d| d.to_string()))?;
                map.serialize_entry("process", &p.process)?;
                map.serialize_entry("pid", &p.pid)?;
                if let Some(c) = &p.computer {
                    map.serialize_entry("computer", &**c)?;
                }
                map.serialize_entry("operation", &p.operation)?;
                map.serialize_entry("path", p.path())?;
                map.serialize_entry("result", &p.result)?;
                map.serialize_entry("detail", &FieldsJson(p.detail().iter()))?;
                if let Some(n) = p.network() {
                    map.serialize_entry(
                        "network",
                        &serde_json::json!({
                            "local_host": n.local_host,
                            "local_port": n.local_port,
                            "remote_host": n.remote_host,
                            "remote_port": n.remote_port,
                        }),
                    )?;
                }
                map.serialize_entry("columns", &FieldsJson(p.columns.iter()))?;
            }
            EventKind::Registry(r) => {
                map.serialize_entry("computer", &r.computer)?;
                map.serialize_entry("key", &r.key)?;
                map.serialize_entry("value_name", &r.name)?;
                map.serialize_entry("value_type", &r.value_type)?;
                map.serialize_entry("value_data", &r.data)?;
            }
            EventKind::Acl(a) => {
                map.serialize_entry("computer", &a.computer)?;
                map.serialize_entry("path", &a.path)?;
                map.serialize_entry("identity", &a.identity)?;
                map.serialize_entry("rights", &a.rights)?;
                map.serialize_entry("access", &a.access)?;
                map.serialize_entry("inherited", &a.inherited)?;
            }
            EventKind::Socket(k) => {
                map.serialize_entry("computer", &k.computer)?;
                map.serialize_entry("protocol", &k.protocol)?;
                map.serialize_entry("local_host", &k.local_host)?;
                map.serialize_entry("local_port", &k.local_port)?;
                map.serialize_entry("remote_host", &k.remote_host)?;
                map.serialize_entry("remote_port", &k.remote_port)?;
                map.serialize_entry("state", &k.state)?;
                map.serialize_entry("pid", &k.pid)?;
                map.serialize_entry("process", &k.process)?;
                map.serialize_entry("service", &k.service)?;
            }
        }
        map.end()
    }
}
