//! Binary XML for one record: the event's template (its shape: names, literal texts and
//! the types of its substitution values) and the values that fill it.
//!
//! Token bytes follow MS-EVEN6 §2.2: `0x0F` fragment header, `0x0C` template instance,
//! `0x01`/`0x41` element start (without/with attributes; a template definition's element starts
//! carry a dependency id, `0xFFFF` for none), `0x06`/`0x46` attribute (last / more follow),
//! `0x05` literal value, `0x0E` optional substitution, `0x02` close start tag, `0x03` close
//! empty element, `0x04` end element, `0x00` end of stream.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{
    Body, Correlation, EVENT_NS, Element, EvtxEvent, Node, Value, WriteError, parse_guid,
    parse_sid, timestamp_to_filetime,
};

/// A value in a template: literal text, or the index and type of a substitution value.
#[derive(Debug, Clone)]
enum TVal {
    Literal(String),
    Sub { index: u16, ty: u8 },
}

#[derive(Debug, Clone)]
struct TElem {
    name: String,
    attrs: Vec<(String, TVal)>,
    /// `None`: closed empty (`<X/>`); `Some`: a start tag, this content and an end tag.
    content: Option<Vec<TNode>>,
}

#[derive(Debug, Clone)]
enum TNode {
    Elem(TElem),
    Val(TVal),
}

/// An event as a template and the values that fill it.
pub(super) struct Instance {
    root: TElem,
    values: Vec<Value>,
}

impl Instance {
    /// The template's shape, which decides whether a chunk's template can be reused.
    pub(super) fn shape(&self) -> String {
        let mut out = String::new();
        shape_of(&self.root, &mut out);
        out
    }
}

fn shape_of(e: &TElem, out: &mut String) {
    let _ = write!(out, "<{}", e.name);
    for (n, v) in &e.attrs {
        let _ = write!(out, " {n}=");
        shape_val(v, out);
    }
    match &e.content {
        None => out.push_str("/>"),
        Some(children) => {
            out.push('>');
            for c in children {
                match c {
                    TNode::Elem(e) => shape_of(e, out),
                    TNode::Val(v) => shape_val(v, out),
                }
            }
            let _ = write!(out, "</{}>", e.name);
        }
    }
}

fn shape_val(v: &TVal, out: &mut String) {
    match v {
        TVal::Literal(s) => {
            let _ = write!(out, "{s:?}");
        }
        TVal::Sub { index, ty } => {
            let _ = write!(out, "%{index}:{ty}");
        }
    }
}

/// Collects substitution values while a template is built.
struct Subs(Vec<Value>);

impl Subs {
    fn add(&mut self, v: Value) -> TVal {
        let index = self.0.len() as u16;
        let ty = type_byte(&v);
        self.0.push(v);
        TVal::Sub { index, ty }
    }
}

fn elem(name: &str, attrs: Vec<(String, TVal)>, content: Option<Vec<TNode>>) -> TElem {
    TElem {
        name: name.to_string(),
        attrs,
        content,
    }
}

fn text_elem(name: &str, v: TVal) -> TNode {
    TNode::Elem(elem(name, Vec::new(), Some(vec![TNode::Val(v)])))
}

/// The template and values for `ev`, in the element order Windows writes.
pub(super) fn instance(ev: &EvtxEvent) -> Result<Instance, WriteError> {
    let mut s = Subs(Vec::new());
    let mut system = Vec::new();

    let mut provider = vec![("Name".to_string(), TVal::Literal(ev.provider.clone()))];
    if let Some(g) = &ev.provider_guid {
        let is_canonical = parse_guid(g).is_ok()
            && g.starts_with('{')
            && !g.chars().any(|c| c.is_ascii_uppercase());
        let v = if is_canonical {
            Value::Guid(g.clone())
        } else {
            Value::Str(g.clone())
        };
        provider.push(("Guid".to_string(), s.add(v)));
    }
    if let Some(src) = &ev.event_source_name {
        provider.push(("EventSourceName".to_string(), TVal::Literal(src.clone())));
    }
    system.push(TNode::Elem(elem("Provider", provider, None)));

    let mut id_attrs = Vec::new();
    if let Some(q) = ev.qualifiers {
        id_attrs.push(("Qualifiers".to_string(), s.add(Value::U16(q))));
    }
    let id = s.add(Value::U16(ev.event_id));
    system.push(TNode::Elem(elem(
        "EventID",
        id_attrs,
        Some(vec![TNode::Val(id)]),
    )));
    if let Some(v) = ev.version {
        system.push(text_elem("Version", s.add(Value::U8(v))));
    }
    if let Some(v) = ev.level {
        system.push(text_elem("Level", s.add(Value::U8(v))));
    }
    if let Some(v) = ev.task {
        system.push(text_elem("Task", s.add(Value::U16(v))));
    }
    if let Some(v) = ev.opcode {
        system.push(text_elem("Opcode", s.add(Value::U8(v))));
    }
    if let Some(v) = ev.keywords {
        system.push(text_elem("Keywords", s.add(Value::Hex64(v))));
    }
    let ft = timestamp_to_filetime(ev.time)?;
    let time = s.add(Value::FileTime(ft));
    system.push(TNode::Elem(elem(
        "TimeCreated",
        vec![("SystemTime".to_string(), time)],
        None,
    )));
    system.push(text_elem("EventRecordID", s.add(Value::U64(ev.record_id))));
    match &ev.correlation {
        Correlation::Omitted => {}
        Correlation::Empty => system.push(TNode::Elem(elem("Correlation", Vec::new(), None))),
        Correlation::Activity(g) => {
            parse_guid(g)?;
            let v = s.add(Value::Guid(g.clone()));
            system.push(TNode::Elem(elem(
                "Correlation",
                vec![("ActivityID".to_string(), v)],
                None,
            )));
        }
    }
    if let Some((pid, tid)) = ev.execution {
        let p = s.add(Value::U32(pid));
        let t = s.add(Value::U32(tid));
        system.push(TNode::Elem(elem(
            "Execution",
            vec![("ProcessID".to_string(), p), ("ThreadID".to_string(), t)],
            None,
        )));
    }
    system.push(literal_elem("Channel", &ev.channel));
    system.push(literal_elem("Computer", &ev.computer));
    let security = match &ev.user_id {
        Some(sid) => {
            parse_sid(sid)?;
            vec![("UserID".to_string(), s.add(Value::Sid(sid.clone())))]
        }
        None => Vec::new(),
    };
    system.push(TNode::Elem(elem("Security", security, None)));

    let mut children = vec![TNode::Elem(elem("System", Vec::new(), Some(system)))];
    match &ev.body {
        Body::EventData { data, binary } => {
            let mut items = Vec::new();
            for d in data {
                let attrs = match &d.name {
                    Some(n) => vec![("Name".to_string(), TVal::Literal(n.clone()))],
                    None => Vec::new(),
                };
                let v = s.add(d.value.clone());
                items.push(TNode::Elem(elem("Data", attrs, Some(vec![TNode::Val(v)]))));
            }
            if let Some(b) = binary {
                items.push(text_elem("Binary", s.add(Value::Binary(b.clone()))));
            }
            children.push(TNode::Elem(elem("EventData", Vec::new(), Some(items))));
        }
        Body::UserData(wrapper) => {
            let w = user_elem(wrapper, &mut s);
            children.push(TNode::Elem(elem(
                "UserData",
                Vec::new(),
                Some(vec![TNode::Elem(w)]),
            )));
        }
        Body::None => {}
    }
    let root = elem(
        "Event",
        vec![("xmlns".to_string(), TVal::Literal(EVENT_NS.to_string()))],
        Some(children),
    );
    Ok(Instance { root, values: s.0 })
}

fn literal_elem(name: &str, text: &str) -> TNode {
    let content = if text.is_empty() {
        Vec::new()
    } else {
        vec![TNode::Val(TVal::Literal(text.to_string()))]
    };
    TNode::Elem(elem(name, Vec::new(), Some(content)))
}

fn user_elem(e: &Element, s: &mut Subs) -> TElem {
    let attrs = e
        .attributes
        .iter()
        .map(|(n, v)| {
            let tv = match (n.as_str(), v) {
                ("xmlns", Value::Str(text)) => TVal::Literal(text.clone()),
                _ => s.add(v.clone()),
            };
            (n.clone(), tv)
        })
        .collect();
    let content = if e.children.is_empty() {
        None
    } else {
        Some(
            e.children
                .iter()
                .map(|c| match c {
                    Node::Element(child) => TNode::Elem(user_elem(child, s)),
                    Node::Text(v) => TNode::Val(s.add(v.clone())),
                })
                .collect(),
        )
    };
    TElem {
        name: e.name.clone(),
        attrs,
        content,
    }
}

/// The BinXML value type byte (MS-EVEN6 §2.2.4.1).
fn type_byte(v: &Value) -> u8 {
    match v {
        Value::Str(_) => 0x01,
        Value::U8(_) => 0x04,
        Value::U16(_) => 0x06,
        Value::I32(_) => 0x07,
        Value::U32(_) => 0x08,
        Value::I64(_) => 0x09,
        Value::U64(_) => 0x0a,
        Value::Bool(_) => 0x0d,
        Value::Binary(_) => 0x0e,
        Value::Guid(_) => 0x0f,
        Value::FileTime(_) => 0x11,
        Value::Sid(_) => 0x13,
        Value::Hex32(_) => 0x14,
        Value::Hex64(_) => 0x15,
    }
}

fn value_bytes(v: &Value) -> Result<Vec<u8>, WriteError> {
    Ok(match v {
        // Strings carry their NUL terminator, as Windows writes them; empty ones are empty.
        Value::Str(s) if s.is_empty() => Vec::new(),
        Value::Str(s) => s
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect(),
        Value::U8(x) => vec![*x],
        Value::U16(x) => x.to_le_bytes().to_vec(),
        Value::U32(x) | Value::Hex32(x) => x.to_le_bytes().to_vec(),
        Value::I32(x) => x.to_le_bytes().to_vec(),
        Value::U64(x) | Value::Hex64(x) | Value::FileTime(x) => x.to_le_bytes().to_vec(),
        Value::I64(x) => x.to_le_bytes().to_vec(),
        Value::Bool(b) => u32::from(*b).to_le_bytes().to_vec(),
        Value::Binary(b) => b.clone(),
        Value::Guid(g) => parse_guid(g)?.to_vec(),
        Value::Sid(s) => parse_sid(s)?,
    })
}

/// The hash Windows stores with a name (and with which it picks the string-table bucket):
/// `h = h * 65599 + unit` over the UTF-16 code units, low 16 bits.
pub(super) fn name_hash(name: &str) -> u16 {
    let h = name.encode_utf16().fold(0u32, |h, u| {
        h.wrapping_mul(65599).wrapping_add(u32::from(u))
    });
    (h & 0xFFFF) as u16
}

/// A chunk's names and templates: what was written where, so later records refer to it.
#[derive(Clone)]
pub(super) struct ChunkTables {
    names: HashMap<String, u32>,
    /// The string table: per bucket (`hash % 64`), the newest name's offset.
    pub(super) buckets: [u32; 64],
    /// Template shape → (definition offset, template id).
    templates: HashMap<String, (u32, u32)>,
}

impl Default for ChunkTables {
    fn default() -> Self {
        ChunkTables {
            names: HashMap::new(),
            buckets: [0; 64],
            templates: HashMap::new(),
        }
    }
}

/// Writes BinXML into a chunk buffer: positions in `buf` are chunk offsets.
pub(super) struct Encoder<'a> {
    pub(super) buf: &'a mut Vec<u8>,
    pub(super) tables: &'a mut ChunkTables,
}

impl Encoder<'_> {
    fn pos(&self) -> u32 {
        self.buf.len() as u32
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn utf16(&mut self, s: &str) {
        for u in s.encode_utf16() {
            self.u16(u);
        }
    }

    /// A name reference: inline (link, hash, length, UTF-16, NUL) at its first use in the
    /// chunk, entered in the string table; the offset of that copy afterwards.
    fn name(&mut self, name: &str) -> Result<(), WriteError> {
        if let Some(&off) = self.tables.names.get(name) {
            self.u32(off);
            return Ok(());
        }
        let units = name.encode_utf16().count();
        let len = u16::try_from(units).map_err(|_| WriteError(format!("name too long: {name}")))?;
        let off = self.pos() + 4;
        self.u32(off);
        let hash = name_hash(name);
        let bucket = usize::from(hash % 64);
        let next = self.tables.buckets[bucket];
        self.u32(next);
        self.u16(hash);
        self.u16(len);
        self.utf16(name);
        self.u16(0);
        self.tables.buckets[bucket] = off;
        self.tables.names.insert(name.to_string(), off);
        Ok(())
    }

    fn tval(&mut self, v: &TVal) -> Result<(), WriteError> {
        match v {
            TVal::Literal(s) => {
                let units = s.encode_utf16().count();
                let len =
                    u16::try_from(units).map_err(|_| WriteError("literal text too long".into()))?;
                self.u8(0x05);
                self.u8(0x01);
                self.u16(len);
                self.utf16(s);
            }
            TVal::Sub { index, ty } => {
                self.u8(0x0E);
                self.u16(*index);
                self.u8(*ty);
            }
        }
        Ok(())
    }

    fn element(&mut self, e: &TElem) -> Result<(), WriteError> {
        self.u8(if e.attrs.is_empty() { 0x01 } else { 0x41 });
        self.u16(0xFFFF);
        let size_at = self.buf.len();
        self.u32(0);
        self.name(&e.name)?;
        if !e.attrs.is_empty() {
            let list_at = self.buf.len();
            self.u32(0);
            for (i, (name, v)) in e.attrs.iter().enumerate() {
                self.u8(if i + 1 < e.attrs.len() { 0x46 } else { 0x06 });
                self.name(name)?;
                self.tval(v)?;
            }
            let list_len = (self.buf.len() - list_at - 4) as u32;
            self.patch_u32(list_at, list_len);
        }
        match &e.content {
            None => self.u8(0x03),
            Some(children) => {
                self.u8(0x02);
                for c in children {
                    match c {
                        TNode::Elem(child) => self.element(child)?,
                        TNode::Val(v) => self.tval(v)?,
                    }
                }
                self.u8(0x04);
            }
        }
        let size = (self.buf.len() - size_at - 4) as u32;
        self.patch_u32(size_at, size);
        Ok(())
    }

    /// A record's BinXML: fragment header, template instance (with the definition inline if
    /// this chunk has not seen the shape yet) and the substitution values.
    pub(super) fn record(&mut self, inst: &Instance) -> Result<(), WriteError> {
        let shape = inst.shape();
        self.u8(0x0F);
        self.u8(0x01);
        self.u8(0x01);
        self.u8(0x00);
        self.u8(0x0C);
        self.u8(0x01);
        match self.tables.templates.get(&shape).copied() {
            Some((offset, id)) => {
                self.u32(id);
                self.u32(offset);
            }
            None => {
                let guid = template_guid(&shape);
                let id = u32::from_le_bytes([guid[0], guid[1], guid[2], guid[3]]);
                self.u32(id);
                let offset = self.pos() + 4;
                self.u32(offset);
                // Definition header: next template in the bucket (none), GUID, body size.
                self.u32(0);
                self.buf.extend_from_slice(&guid);
                let size_at = self.buf.len();
                self.u32(0);
                let body_start = self.buf.len();
                self.u8(0x0F);
                self.u8(0x01);
                self.u8(0x01);
                self.u8(0x00);
                self.element(&inst.root)?;
                self.u8(0x00);
                let size = (self.buf.len() - body_start) as u32;
                self.patch_u32(size_at, size);
                self.tables.templates.insert(shape, (offset, id));
            }
        }
        let values: Vec<(u8, Vec<u8>)> = inst
            .values
            .iter()
            .map(|v| Ok((type_byte(v), value_bytes(v)?)))
            .collect::<Result<_, WriteError>>()?;
        self.u32(values.len() as u32);
        for (ty, bytes) in &values {
            let size = u16::try_from(bytes.len())
                .map_err(|_| WriteError("a value is longer than 65535 bytes".into()))?;
            self.u16(size);
            self.u8(*ty);
            self.u8(0);
        }
        for (_, bytes) in &values {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }
}

/// A template GUID that depends only on the shape (two FNV-1a passes), so output is stable.
fn template_guid(shape: &str) -> [u8; 16] {
    let fnv = |seed: u64| {
        shape.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
        })
    };
    let a = fnv(0xcbf2_9ce4_8422_2325);
    let b = fnv(0x8422_2325_cbf2_9ce4);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    out
}
