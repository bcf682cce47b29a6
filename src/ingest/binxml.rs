//! EVTX records → events straight from their BinXML, without rendering XML.
//!
//! A Windows event record is a template instance: a template definition (element and
//! attribute names, literal text, numbered holes) stored once per chunk, and the record's
//! typed values for the holes. [`super::evtx`] finds each record by its header and hands its
//! BinXML here; the `evtx` crate's own parse of the record, and its rendering to XML read back
//! by [`super::eventxml`], are only the fallback for what this module does not take. Over the
//! corpus, rendering and reading back cost about as much as everything else together. The
//! template definitions are parsed once per chunk (`template.rs`).
//!
//! This module runs the template with the values instead: each template is compiled once per
//! chunk and place into a plan (`plan.rs`) that feeds the same [`super::eventxml`] builder the
//! XML reader feeds, with the names, attribute values and element text that reading the
//! rendered XML would have given: the renderer's rules (MS-EVEN6, as evtx 0.15.1 applies them)
//! are mirrored where they change what is read (an element whose DependencyId names a NULL
//! value is left out; an optional hole with an empty value writes nothing; an attribute whose
//! value is empty is left out; a nested BinXML value is spliced in place; characters XML cannot
//! hold become `_`).
//!
//! It only handles what it knows: a record that is one template instance, values of the
//! common types, templates without CDATA, entity or character references or processing
//! instructions, names the XML fast path accepts. Anything else (ANSI strings, floats,
//! arrays, which the renderer expands into repeated elements) returns `None`, and the caller
//! renders the record to XML as before. A corpus test and a fuzz target check that every
//! record this module reads gives the same event as rendering it.

mod memo;
mod plan;
mod template;
mod text;

use std::cell::Cell;

use memo::{Memos, Ran, Stamps};
use plan::{Run, Scratch, Templates};

use super::eventxml::{XmlLimits, XmlRecord};

/// Template instance and fragment nesting this reader follows (the crate allows 64).
const MAX_NESTING: usize = 16;
/// Element nesting in one template definition (the crate allows 512).
const MAX_TEMPLATE_DEPTH: usize = 256;
/// Element nesting the walk follows, whatever `--max-xml-depth` says: it recurses, and nested
/// instances stack their templates' depths. Deeper records are rendered.
const MAX_WALK_DEPTH: usize = 256;
/// What one record may visit: an element costs one node, plus one per attribute and child
/// (the crate's `MAX_RENDER_NODES` and its per-visit cost), so crafted templates that multiply
/// (a nested instance referenced many times) stay bounded; a record over it is rendered, and
/// the crate's own budget decides.
const MAX_RECORD_NODES: usize = 1 << 18;
/// What a node visited costs against the chunk's bound (`--max-evtx-chunk-bytes`): the least
/// an element, attribute or text renders to (`<a/>`). Elements that hold nothing the event
/// keeps still cost their visit: a template of thousands of them, instanced by hundreds of
/// small records, is work the chunk's bytes do not show.
pub const NODE_BYTES: u64 = 4;
/// Template definition bytes parsed per chunk. A chunk's own definitions fit in its 64 KiB; a
/// crafted one whose records point at many overlapping "definitions" is rendered instead.
const MAX_CHUNK_TEMPLATE_BYTES: usize = 256 << 10;

/// Reads the records of one chunk; template definitions are parsed once per chunk.
pub struct ChunkReader<'c> {
    data: &'c [u8],
    /// The chunk's template definitions, parsed once each, and their compiled plans.
    templates: Templates,
    /// The current record's instances and their values (each instance's values contiguous),
    /// kept from record to record so reading one allocates nothing here.
    instances: Vec<Instance>,
    values: Vec<Value<'c>>,
    /// Where each value is in the chunk, how long, and its type.
    spans: Vec<Span>,
    /// The bytes the last stream read took, up to its end-of-stream token.
    consumed: usize,
    /// What the record's run looked at in each value (see [`memo`]).
    uses: Vec<Cell<u8>>,
    /// The last such record of each template, for a flood to be read once.
    memos: Memos<'c>,
    /// The builder and text buffer each record's run reuses.
    scratch: Scratch,
    /// Records given by a remembered one, for tests to see that floods are.
    #[cfg(test)]
    hits: usize,
    /// Of those, the ones found by their bytes alone.
    #[cfg(test)]
    byte_hits: usize,
    /// What the chunk's records may still expand to (`--max-evtx-chunk-bytes`): each record
    /// read costs what its event holds ([`expanded_bytes`]) and [`NODE_BYTES`] per node its
    /// run visited; a record refused costs what its run spent.
    chunk_left: u64,
    /// Template definition bytes the chunk may still parse.
    template_bytes: usize,
}

/// What [`ChunkReader::read`] makes of a record.
pub enum Direct {
    /// Read: its event.
    Read(DirectRecord),
    /// Something this module does not handle: render the record.
    Unhandled,
    /// Its text passes the record's bound (`--max-evtx-record-bytes`); so would its rendering,
    /// which holds that text and more.
    OverRecord,
    /// With the chunk's records before it, past the chunk's bound (`--max-evtx-chunk-bytes`).
    /// Once the records' runs have spent the bound, so is every record after it.
    OverChunk,
}

impl Direct {
    /// The event, when the record was read.
    pub fn ok(self) -> Option<DirectRecord> {
        match self {
            Direct::Read(d) => Some(d),
            _ => None,
        }
    }
}

/// What a record's event holds, counted the same whichever way it was read (lengths, not
/// capacities): the event itself, its texts, and its fields with their index.
pub fn expanded_bytes(record: &XmlRecord) -> u64 {
    let w = &*record.event;
    let pairs = w.data.len() * std::mem::size_of::<(usize, usize)>();
    let text = w.channel.len()
        + w.provider.len()
        + w.computer.len()
        + w.activity_id.as_ref().map_or(0, String::len)
        + w.data.text_len();
    (std::mem::size_of::<crate::model::Event>()
        + std::mem::size_of::<crate::model::WinEvent>()
        + pairs
        + text) as u64
}

/// What [`ChunkReader::read`] gives for a record it handles.
pub struct DirectRecord {
    pub record: XmlRecord,
    /// Unpaired UTF-16 surrogates in the text read (each became `_`).
    pub lone_surrogates: u64,
}

impl<'c> ChunkReader<'c> {
    /// A reader of the chunk `data` whose records may expand to the default
    /// `--max-evtx-chunk-bytes` (see [`ChunkReader::chunk_bytes`]).
    pub fn new(data: &'c [u8]) -> Self {
        ChunkReader {
            data,
            templates: Templates::new(),
            instances: Vec::new(),
            values: Vec::new(),
            spans: Vec::new(),
            consumed: 0,
            uses: Vec::new(),
            memos: Memos::default(),
            scratch: Scratch::new(),
            #[cfg(test)]
            hits: 0,
            #[cfg(test)]
            byte_hits: 0,
            chunk_left: super::Limits::default().evtx_chunk(),
            template_bytes: MAX_CHUNK_TEMPLATE_BYTES,
        }
    }

    /// The most the chunk's records may expand to together (`--max-evtx-chunk-bytes`).
    pub fn chunk_bytes(mut self, bytes: u64) -> Self {
        self.chunk_left = bytes;
        self
    }

    /// Whether the chunk's records have spent its bound: every record left is refused.
    pub fn spent(&self) -> bool {
        self.chunk_left == 0
    }

    /// Charge the chunk `bytes` for a record read some other way (rendered and read back):
    /// `false`, and the chunk spent, when that is more than it has left.
    pub fn charge(&mut self, bytes: u64) -> bool {
        match self.chunk_left.checked_sub(bytes) {
            Some(left) => {
                self.chunk_left = left;
                true
            }
            None => {
                self.chunk_left = 0;
                false
            }
        }
    }

    /// What to make of the record whose BinXML is `size` bytes at `offset` in the chunk: its
    /// event; or that it holds something this module does not handle (render it then); or
    /// that its text would pass `max_bytes`, or the chunk's bound with the records read
    /// before it (refuse it: rendering holds the same text and more). Nothing is rendered
    /// here, so a record refused costs no more than what was read of it.
    pub fn read(&mut self, offset: u64, size: u32, limits: &XmlLimits, max_bytes: u64) -> Direct {
        let Some(stream) = usize::try_from(offset).ok().and_then(|start| {
            let end = start.checked_add(size as usize)?;
            Some((start, self.data.get(start..end)?))
        }) else {
            return Direct::Unhandled;
        };
        let (start, stream) = stream;
        let left = self.chunk_left;
        let budget = max_bytes.min(left);
        let chunk_nodes = usize::try_from(left / NODE_BYTES).unwrap_or(usize::MAX);
        let nodes = MAX_RECORD_NODES.min(chunk_nodes);
        // The record may repeat a recent one byte for byte but where its run does not look
        // at its values' content; else, once its values are read, where it does not.
        // A hit that would pass the budgets is read in full, to fail as the run fails.
        if let Some(hit) = self.memos.same_bytes(stream, start)
            && hit.text <= budget
            && hit.nodes <= nodes
        {
            #[cfg(test)]
            {
                self.byte_hits += 1;
            }
            return self.hit(hit);
        }
        self.instances.clear();
        self.values.clear();
        self.spans.clear();
        let Some(root) = self.single_instance(start, stream, 0) else {
            return Direct::Unhandled;
        };
        // A spent chunk reads no more: what follows is refused (a record this module would
        // not take is still rendered, or refused, as the caller decides).
        if left == 0 {
            return Direct::OverChunk;
        }
        let Some(consumed) = stream.get(..self.consumed) else {
            return Direct::Unhandled;
        };
        let read = Record {
            instances: &self.instances,
            values: &self.values,
            spans: &self.spans,
            stream: consumed,
            start,
        };
        if let Some(hit) = self.memos.same_values(&read)
            && hit.text <= budget
            && hit.nodes <= nodes
        {
            return self.hit(hit);
        }
        self.uses.clear();
        self.uses.resize(self.values.len(), Cell::new(0));
        let mut run = Run {
            templates: &mut self.templates,
            instances: &self.instances,
            values: &self.values,
            uses: &self.uses,
            stamps: Stamps::default(),
            scratch: &mut self.scratch,
            limits,
            budget,
            nodes,
            over: None,
            lone_surrogates: 0,
        };
        let record = run.record(root);
        let (text, spent) = (budget - run.budget, nodes - run.nodes);
        let (lone_surrogates, stamps, over) = (run.lone_surrogates, run.stamps, run.over);
        // What the run spent is spent, whatever stopped it: a chunk of records that each fail
        // late costs no more than one that reads.
        let work = text.saturating_add(NODE_BYTES.saturating_mul(spent as u64));
        let Some(record) = record else {
            self.chunk_left = left.saturating_sub(work);
            return match over {
                Some(plan::Over::Text) if max_bytes <= left => Direct::OverRecord,
                Some(plan::Over::Text) => Direct::OverChunk,
                Some(plan::Over::Nodes) if chunk_nodes < MAX_RECORD_NODES => Direct::OverChunk,
                _ => Direct::Unhandled,
            };
        };
        // Its event is kept only within what the chunk has left; dropped, it cost its run, and
        // a smaller record after it may still fit.
        match left.checked_sub(cost(&record, spent)) {
            Some(rest) => self.chunk_left = rest,
            None => {
                self.chunk_left = left.saturating_sub(work);
                return Direct::OverChunk;
            }
        }
        self.memos.remember(Ran {
            read,
            uses: &self.uses,
            stamps,
            event: &record,
            nodes: spent,
            text,
            lone_surrogates,
        });
        Direct::Read(DirectRecord {
            record,
            lone_surrogates,
        })
    }

    /// A record given by a remembered one: what its run would have spent is spent.
    fn hit(&mut self, hit: memo::Hit) -> Direct {
        let left = self.chunk_left;
        match left.checked_sub(cost(&hit.record, hit.nodes)) {
            Some(rest) => self.chunk_left = rest,
            None => {
                let work = NODE_BYTES.saturating_mul(hit.nodes as u64);
                self.chunk_left = left.saturating_sub(hit.text.saturating_add(work));
                return Direct::OverChunk;
            }
        }
        #[cfg(test)]
        {
            self.hits += 1;
        }
        Direct::Read(DirectRecord {
            record: hit.record,
            lone_surrogates: hit.lone_surrogates,
        })
    }

    /// A stream (record or nested value) that is one template instance, optionally after a
    /// fragment header, and nothing after it but an end-of-stream token: the instance's
    /// index in `self.instances`.
    fn single_instance(&mut self, at: usize, stream: &[u8], depth: usize) -> Option<usize> {
        if depth > MAX_NESTING {
            return None;
        }
        let skip = match stream {
            [0x0f, _, _, _, 0x0c, ..] => 5,
            [0x0c, ..] => 1,
            _ => return None,
        };
        let mut cur = Cursor {
            data: self.data,
            pos: at + skip,
        };
        let instance = self.instance(&mut cur, depth)?;
        let consumed = cur.pos - at;
        match stream.get(consumed..)? {
            // What follows an end-of-stream token is not read.
            [] | [0x00, ..] => {
                self.consumed = consumed;
                Some(instance)
            }
            _ => None,
        }
    }

    /// The body of a TemplateInstance token (the cursor is just past the token byte), as
    /// evtx 0.15.1 reads it: its values must each fill exactly the size their descriptor gives.
    fn instance(&mut self, cur: &mut Cursor<'c>, depth: usize) -> Option<usize> {
        cur.u8()?;
        let _template_id = cur.u32()?;
        let def = cur.u32()?;
        if cur.pos == def as usize {
            // The definition is stored here, inline: skip it (it is parsed from `def`).
            cur.skip(20)?;
            let size = cur.u32()?;
            cur.skip(size as usize)?;
        }
        if !self
            .templates
            .handles(self.data, def, &mut self.template_bytes)
        {
            return None;
        }
        let count = cur.u32()? as usize;
        let table = cur.take(count.checked_mul(4)?)?;
        let start = self.values.len();
        for descriptor in table.chunks_exact(4) {
            let size = u16::from_le_bytes([descriptor[0], descriptor[1]]) as usize;
            let at = cur.pos;
            let bytes = cur.take(size)?;
            let value = value(descriptor[2], bytes, at)?;
            self.values.push(value);
            self.spans.push(Span {
                at,
                len: size,
                ty: descriptor[2],
            });
        }
        let index = self.instances.len();
        self.instances.push(Instance { def, start, count });
        // Nested instances go after this one's values, which stay contiguous.
        for i in start..start + count {
            if let Some(&Value::Fragment { at, bytes }) = self.values.get(i) {
                let nested = self.single_instance(at, bytes, depth + 1)?;
                self.values[i] = Value::Nested(nested);
            }
        }
        Some(index)
    }
}

/// One substitution value of type `ty` held in `bytes` (at `at` in the chunk), or `None` for
/// a type (or a size) this module does not handle.
fn value(ty: u8, bytes: &[u8], at: usize) -> Option<Value<'_>> {
    let fixed = |n: usize| (bytes.len() == n).then_some(bytes);
    Some(match ty {
        0x00 => Value::Null,
        0x01 => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            Value::Str(until_nul(bytes))
        }
        // ANSI text in the system code page (Windows-1252 unless set otherwise), with
        // every NUL dropped as the crate drops them. Only ASCII, which every code page
        // the crate takes decodes alike.
        0x02 if bytes.is_ascii() => Value::Ansi(bytes),
        0x03 => Value::Int(i64::from(fixed(1)?[0] as i8)),
        0x04 => Value::UInt(u64::from(fixed(1)?[0])),
        0x05 => Value::Int(i64::from(i16::from_le_bytes(array(fixed(2)?)?))),
        0x06 => Value::UInt(u64::from(u16::from_le_bytes(array(fixed(2)?)?))),
        0x07 => Value::Int(i64::from(i32::from_le_bytes(array(fixed(4)?)?))),
        0x08 => Value::UInt(u64::from(u32::from_le_bytes(array(fixed(4)?)?))),
        0x09 => Value::Int(i64::from_le_bytes(array(fixed(8)?)?)),
        0x0a => Value::UInt(u64::from_le_bytes(array(fixed(8)?)?)),
        // Windows writes bit masks into some bool slots: any value but 0 or 1 stays a number.
        0x0d => match i32::from_le_bytes(array(fixed(4)?)?) {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            raw => Value::Int(i64::from(raw)),
        },
        0x0e => Value::Binary(bytes),
        0x0f => Value::Guid(array(fixed(16)?)?),
        // A pointer-sized integer: the crate reads 4 or 8 bytes as hexadecimal.
        0x10 if bytes.len() == 4 => Value::Hex(u64::from(u32::from_le_bytes(array(bytes)?))),
        0x10 if bytes.len() == 8 => Value::Hex(u64::from_le_bytes(array(bytes)?)),
        0x11 => Value::FileTime(u64::from_le_bytes(array(fixed(8)?)?)),
        0x12 => Value::SysTime(array(fixed(16)?)?),
        0x13 => {
            let count = *bytes.get(1)? as usize;
            if bytes.len() != 8 + count * 4 {
                return None;
            }
            Value::Sid(bytes)
        }
        0x14 => Value::Hex(u64::from(u32::from_le_bytes(array(fixed(4)?)?))),
        0x15 => Value::Hex(u64::from_le_bytes(array(fixed(8)?)?)),
        // Nested BinXML: empty is NULL, as the crate takes it; otherwise one instance.
        0x21 if bytes.is_empty() => Value::Null,
        0x21 => Value::Fragment { at, bytes },
        // Non-ASCII ANSI text (code pages), floats (their formatting), handles, arrays
        // (the renderer repeats the element per item) and unknown types: rendered instead.
        _ => return None,
    })
}

/// What a record read costs the chunk: what its event holds, and its visits.
fn cost(record: &XmlRecord, nodes: usize) -> u64 {
    expanded_bytes(record).saturating_add(NODE_BYTES.saturating_mul(nodes as u64))
}

/// UTF-16LE code units up to the first NUL, as the crate reads strings.
fn until_nul(bytes: &[u8]) -> &[u8] {
    let units = bytes
        .chunks_exact(2)
        .position(|u| u == [0, 0])
        .unwrap_or(bytes.len() / 2);
    &bytes[..units * 2]
}

fn array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

/// A bounds-checked reader over the chunk.
struct Cursor<'c> {
    data: &'c [u8],
    pos: usize,
}

impl<'c> Cursor<'c> {
    fn take(&mut self, n: usize) -> Option<&'c [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(array(self.take(2)?)?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(array(self.take(4)?)?))
    }
}

/// Where a value is in the chunk, its length and its type.
#[derive(Clone, Copy)]
struct Span {
    at: usize,
    len: usize,
    ty: u8,
}

/// A record's BinXML (`stream`, at `start` in the chunk, up to its end-of-stream token) and
/// what reading it found.
struct Record<'r, 'c> {
    instances: &'r [Instance],
    values: &'r [Value<'c>],
    spans: &'r [Span],
    stream: &'c [u8],
    start: usize,
}

/// A template instance: its definition's offset and where its values are.
#[derive(Clone, PartialEq)]
struct Instance {
    def: u32,
    start: usize,
    count: usize,
}

/// A substitution value, decoded as far as the walk needs.
#[derive(Clone, PartialEq)]
enum Value<'c> {
    Null,
    /// UTF-16LE code units, up to the first NUL.
    Str(&'c [u8]),
    /// ASCII bytes, NULs included (they are dropped when written).
    Ansi(&'c [u8]),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Binary(&'c [u8]),
    Guid([u8; 16]),
    FileTime(u64),
    SysTime([u8; 16]),
    Sid(&'c [u8]),
    Hex(u64),
    /// Nested BinXML, before it is read.
    Fragment {
        at: usize,
        bytes: &'c [u8],
    },
    /// Nested BinXML read: the index of its instance.
    Nested(usize),
}

impl Value<'_> {
    /// Whether an optional hole with this value writes nothing (the crate's
    /// `is_optional_empty`, for the types handled here).
    fn is_empty(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Str(units) | Value::Binary(units) => units.is_empty(),
            Value::Ansi(bytes) => bytes.iter().all(|&b| b == 0),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::text::{push_filetime, push_systime, push_utf16, push_value};
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A hand-made chunk: names, one template definition and one record, laid out the way
    /// a chunk holds them (offsets are positions in `data`).
    #[derive(Default)]
    struct Chunk {
        data: Vec<u8>,
    }

    impl Chunk {
        fn u16(&mut self, v: u16) -> &mut Self {
            self.data.extend(v.to_le_bytes());
            self
        }
        fn u32(&mut self, v: u32) -> &mut Self {
            self.data.extend(v.to_le_bytes());
            self
        }
        fn bytes(&mut self, b: &[u8]) -> &mut Self {
            self.data.extend_from_slice(b);
            self
        }
        /// A string-table name; its offset.
        fn name(&mut self, name: &str) -> u32 {
            let at = self.data.len() as u32;
            self.bytes(&[0; 6]).u16(name.len() as u16);
            self.bytes(&utf16(name)).u16(0);
            at
        }
        fn open(&mut self, dependency: u16, name: u32, attrs: bool) -> &mut Self {
            self.bytes(&[if attrs { 0x41 } else { 0x01 }])
                .u16(dependency);
            self.u32(0).u32(name);
            if attrs {
                self.u32(0);
            }
            self
        }
        fn attr(&mut self, name: u32) -> &mut Self {
            self.bytes(&[0x06]).u32(name)
        }
        fn literal(&mut self, text: &str) -> &mut Self {
            self.bytes(&[0x05, 0x01]).u16(text.len() as u16);
            self.bytes(&utf16(text))
        }
        fn hole(&mut self, id: u16, optional: bool) -> &mut Self {
            self.bytes(&[if optional { 0x0e } else { 0x0d }]).u16(id);
            self.bytes(&[0x01])
        }
        /// A template definition written by `body`; its offset.
        fn template(&mut self, body: impl FnOnce(&mut Self)) -> u32 {
            let at = self.data.len();
            self.u32(0).bytes(&[0; 16]).u32(0);
            self.bytes(&[0x0f, 1, 1, 0]);
            body(self);
            self.bytes(&[0x00]);
            let size = (self.data.len() - at - 24) as u32;
            self.data[at + 20..at + 24].copy_from_slice(&size.to_le_bytes());
            at as u32
        }
        /// A template instance of `def` with `values` (type, bytes).
        fn instance(&mut self, def: u32, values: &[(u8, Vec<u8>)]) -> &mut Self {
            self.bytes(&[0x0f, 1, 1, 0, 0x0c, 0x01]).u32(0).u32(def);
            self.u32(values.len() as u32);
            for (ty, bytes) in values {
                self.u16(bytes.len() as u16).bytes(&[*ty, 0]);
            }
            for (_, bytes) in values {
                self.bytes(bytes);
            }
            self.bytes(&[0x00])
        }
    }

    /// `<Event><System><Provider Name=%0 EventSourceName="Fallback"/><EventID>%1</EventID>
    /// <Computer [depends on %2]>%2</Computer></System>%3</Event>`, and a nested template
    /// `<EventData><Data Name="A">%0</Data><Data>%1</Data></EventData>`; the record's
    /// values are `outer`, the nested instance's `inner`. Returns what the reader makes of it.
    fn read(outer: &[(u8, Vec<u8>)], inner: &[(u8, Vec<u8>)]) -> Option<DirectRecord> {
        let mut c = Chunk::default();
        let [
            event,
            system,
            provider,
            name,
            source,
            id,
            computer,
            data_part,
            data,
        ] = [
            "Event",
            "System",
            "Provider",
            "Name",
            "EventSourceName",
            "EventID",
            "Computer",
            "EventData",
            "Data",
        ]
        .map(|n| c.name(n));
        let outer_def = c.template(|c| {
            c.open(0xffff, event, false).bytes(&[0x02]);
            c.open(0xffff, system, false).bytes(&[0x02]);
            c.open(0xffff, provider, true).attr(name).hole(0, true);
            c.attr(source).literal("Fallback").bytes(&[0x03]);
            c.open(0xffff, id, false).bytes(&[0x02]).hole(1, false);
            c.bytes(&[0x04]);
            c.open(2, computer, false).bytes(&[0x02]).hole(2, true);
            c.bytes(&[0x04, 0x04]).hole(3, false).bytes(&[0x04]);
        });
        let inner_def = c.template(|c| {
            c.open(0xffff, data_part, false).bytes(&[0x02]);
            c.open(0xffff, data, true)
                .attr(name)
                .literal("A")
                .bytes(&[0x02]);
            c.hole(0, true).bytes(&[0x04]);
            c.open(0xffff, data, false).bytes(&[0x02]).hole(1, true);
            c.bytes(&[0x04, 0x04]);
        });
        let mut nested = Chunk::default();
        nested.instance(inner_def, inner);
        let mut values = outer.to_vec();
        values.push((0x21, nested.data));
        let record = c.data.len();
        c.instance(outer_def, &values);
        let size = (c.data.len() - record) as u32;
        ChunkReader::new(&c.data)
            .read(record as u64, size, &XmlLimits::default(), 1 << 20)
            .ok()
    }

    fn string(s: &str) -> (u8, Vec<u8>) {
        (0x01, utf16(s))
    }

    #[test]
    fn templates_are_filled_as_the_renderer_fills_them() {
        let got = read(
            &[
                string("Microsoft-Windows-Test"),
                (0x06, 1058u16.to_le_bytes().to_vec()),
                string("HOST"),
            ],
            &[string("a & b"), (0x08, 7u32.to_le_bytes().to_vec())],
        )
        .map(|d| d.record.event);
        let event = got.expect("read directly");
        assert_eq!(&*event.provider, "Microsoft-Windows-Test");
        assert_eq!(event.event_id, 1058);
        assert_eq!(&*event.computer, "HOST");
        let fields: Vec<_> = event.data.iter().collect();
        assert_eq!(fields, [("A", "a & b"), ("2", "7")]);
    }

    #[test]
    fn empty_and_null_values_leave_out_what_the_renderer_leaves_out() {
        let got = read(
            // An empty Name is not written, so EventSourceName names the provider; a NULL
            // Computer value leaves <Computer> out.
            &[
                string(""),
                (0x06, 4u16.to_le_bytes().to_vec()),
                (0x00, vec![]),
            ],
            // An empty optional value writes nothing: the element is still there, empty.
            &[string(""), (0x00, vec![])],
        )
        .map(|d| d.record.event);
        let event = got.expect("read directly");
        assert_eq!(&*event.provider, "Fallback");
        assert_eq!(&*event.computer, "");
        let fields: Vec<_> = event.data.iter().collect();
        assert_eq!(fields, [("A", ""), ("2", "")]);
    }

    #[test]
    fn what_is_not_mirrored_is_left_to_rendering() {
        let ok = [
            string("P"),
            (0x06, 1u16.to_le_bytes().to_vec()),
            string("H"),
        ];
        // A string array (the renderer repeats the element per item), a float, and text
        // in a code page other than ASCII.
        for odd in [
            (0x81, utf16("a\0b\0")),
            (0x0b, 1.5f32.to_le_bytes().to_vec()),
            (0x02, vec![b'a', 0xe9]),
        ] {
            assert!(read(&ok, &[odd.clone(), string("x")]).is_none(), "{odd:?}");
        }
        // A value whose size is not its type's.
        assert!(read(&ok, &[string("x"), (0x08, vec![1, 0])]).is_none());
        // Lone surrogates are counted, and written as `_`.
        let mut lone = utf16("x");
        lone.extend([0x00, 0xdc]);
        let got = read(&ok, &[(0x01, lone), string("y")]).expect("read directly");
        assert_eq!(got.lone_surrogates, 1);
        assert_eq!(got.record.event.data.get("A"), Some("x_"));
    }

    #[test]
    fn deep_records_are_left_to_rendering_whatever_the_depth_limit() {
        let limits = XmlLimits {
            depth: 100_000,
            elements: 100_000,
        };
        // `outer` levels of <a> below System, then a nested instance of `inner` levels: each
        // template within its own depth limit, the two stacked past the walk's.
        let read_nested = |outer: usize, inner: usize| {
            let mut c = Chunk::default();
            let [event, system, a] = ["Event", "System", "a"].map(|n| c.name(n));
            let outer_def = c.template(|c| {
                c.open(0xffff, event, false).bytes(&[0x02]);
                c.open(0xffff, system, false).bytes(&[0x02]);
                for _ in 0..outer {
                    c.open(0xffff, a, false).bytes(&[0x02]);
                }
                c.hole(0, false).bytes(&vec![0x04; outer + 2]);
            });
            let inner_def = c.template(|c| {
                for _ in 0..inner {
                    c.open(0xffff, a, false).bytes(&[0x02]);
                }
                c.bytes(&vec![0x04; inner]);
            });
            let mut nested = Chunk::default();
            nested.instance(inner_def, &[]);
            let record = c.data.len();
            c.instance(outer_def, &[(0x21, nested.data)]);
            let size = (c.data.len() - record) as u32;
            ChunkReader::new(&c.data)
                .read(record as u64, size, &limits, 1 << 20)
                .ok()
        };
        assert!(read_nested(100, 100).is_some());
        assert!(read_nested(200, 100).is_none());
    }

    /// Read the record at `offset` with `reader`, after the records before it; it must give
    /// what reading it alone gives, and be read directly.
    fn in_turn_and_alone(
        reader: &mut ChunkReader<'_>,
        data: &[u8],
        offset: u64,
        size: u32,
        i: usize,
    ) -> Option<XmlRecord> {
        let limits = XmlLimits::default();
        let got = reader
            .read(offset, size, &limits, 1 << 20)
            .ok()
            .map(|d| d.record);
        let alone = ChunkReader::new(data)
            .read(offset, size, &limits, 1 << 20)
            .ok()
            .map(|d| d.record);
        assert!(alone.is_some(), "record {i} is read directly");
        assert_eq!(got, alone, "record {i}");
        got
    }

    /// A record that repeats the last one of its templates but where the event does not look
    /// (its time, number, thread) is given by it; one differing where the event looks is read
    /// again. Either way each record's event is exactly what reading it alone gives.
    #[test]
    fn a_flood_is_read_once_and_each_record_as_if_alone() {
        let mut c = Chunk::default();
        let names = [
            "Event",
            "System",
            "Provider",
            "Name",
            "EventID",
            "TimeCreated",
            "SystemTime",
            "EventRecordID",
            "Execution",
            "ProcessID",
            "ThreadID",
            "Computer",
            "EventData",
            "Data",
        ];
        let [
            event,
            system,
            provider,
            name,
            id,
            created,
            system_time,
            record_id,
            execution,
            process,
            thread,
            computer,
            event_data,
            data,
        ] = names.map(|n| c.name(n));
        let def = c.template(|c| {
            c.open(0xffff, event, false).bytes(&[0x02]);
            c.open(0xffff, system, false).bytes(&[0x02]);
            c.open(0xffff, provider, true)
                .attr(name)
                .hole(0, true)
                .bytes(&[0x03]);
            c.open(0xffff, id, false).bytes(&[0x02]).hole(1, false);
            c.bytes(&[0x04]);
            c.open(0xffff, created, true)
                .attr(system_time)
                .hole(2, false)
                .bytes(&[0x03]);
            c.open(0xffff, record_id, false)
                .bytes(&[0x02])
                .hole(3, false);
            c.bytes(&[0x04]);
            c.open(0xffff, execution, true)
                .attr(process)
                .hole(4, false)
                .attr(thread)
                .hole(5, false)
                .bytes(&[0x03]);
            c.open(6, computer, false).bytes(&[0x02]).hole(6, true);
            c.bytes(&[0x04, 0x04]);
            c.open(0xffff, event_data, false).bytes(&[0x02]);
            c.open(0xffff, data, true)
                .attr(name)
                .literal("A")
                .bytes(&[0x02]);
            c.hole(7, true).bytes(&[0x04, 0x04, 0x04]);
        });
        let ft = |t: u64| (0x11, (132_223_104_000_000_000 + t).to_le_bytes().to_vec());
        let u64v = |n: u64| (0x0a, n.to_le_bytes().to_vec());
        let u32v = |n: u32| (0x08, n.to_le_bytes().to_vec());
        let record = |time, number, thread: u32, host: (u8, Vec<u8>), text: &str| {
            vec![
                string("Schannel"),
                (0x06, 36888u16.to_le_bytes().to_vec()),
                time,
                number,
                u32v(640),
                u32v(thread),
                host,
                string(text),
            ]
        };
        let dc = || string("DC01");
        // Each record, and whether the one before it (of the same templates) gives it.
        let flood = [
            (record(ft(1), u64v(1), 7, dc(), "alert 40"), false),
            // Another time, number and thread: the same event.
            (record(ft(2), u64v(2), 8, dc(), "alert 40"), true),
            (record(ft(3), u64v(99_999), 9, dc(), "alert 40"), true),
            // A number of another width is still a number.
            (record(ft(4), u32v(4), 9, dc(), "alert 40"), true),
            // Text the event holds differs.
            (record(ft(5), u64v(5), 9, dc(), "alert 41"), false),
            (record(ft(6), u64v(6), 9, dc(), "alert 41"), true),
            // A NULL Computer leaves the element out (its DependencyId).
            (record(ft(7), u64v(7), 9, (0x00, vec![]), "alert 41"), false),
            (record(ft(8), u64v(8), 9, dc(), "alert 41"), false),
            // A time that is no time, a number that is text, an empty optional value.
            (
                record(
                    (0x11, u64::MAX.to_le_bytes().to_vec()),
                    u64v(9),
                    9,
                    dc(),
                    "alert 41",
                ),
                false,
            ),
            (record(ft(10), string("10"), 9, dc(), "alert 41"), false),
            (record(ft(11), u64v(11), 9, dc(), ""), false),
            (record(ft(12), u64v(12), 9, dc(), ""), true),
        ];
        let mut at = Vec::new();
        for (values, _) in &flood {
            let start = c.data.len();
            c.instance(def, values);
            at.push((start as u64, (c.data.len() - start) as u32));
        }
        let limits = XmlLimits::default();
        let mut reader = ChunkReader::new(&c.data);
        for (i, ((offset, size), (_, hit))) in at.iter().zip(&flood).enumerate() {
            let hits = reader.hits;
            in_turn_and_alone(&mut reader, &c.data, *offset, *size, i);
            assert_eq!(reader.hits - hits, usize::from(*hit), "record {i}");
        }
        // Most of the flood is found by its bytes, before its values are read.
        assert!(reader.byte_hits >= 3, "{}", reader.byte_hits);
        let last = reader.read(at[2].0, at[2].1, &limits, 1 << 20).ok();
        let last = last.map(|d| d.record).expect("read directly");
        assert_eq!(last.record_id, Some(99_999));
        assert_eq!(last.event.data.get("A"), Some("alert 40"));
    }

    /// A time in a nested instance is read from that instance's value, not from the value at
    /// the same place among the record's own.
    #[test]
    fn a_flood_whose_time_is_in_a_nested_instance() {
        let mut c = Chunk::default();
        let [event, system, other, created, system_time, record_id] = [
            "Event",
            "System",
            "Other",
            "TimeCreated",
            "SystemTime",
            "EventRecordID",
        ]
        .map(|n| c.name(n));
        let outer = c.template(|c| {
            c.open(0xffff, event, false).bytes(&[0x02]);
            c.open(0xffff, system, false).bytes(&[0x02]);
            c.open(0xffff, other, false).bytes(&[0x02]).hole(0, false);
            c.bytes(&[0x04]).hole(1, false);
            c.open(0xffff, record_id, false)
                .bytes(&[0x02])
                .hole(2, false);
            c.bytes(&[0x04, 0x04, 0x04]);
        });
        let inner = c.template(|c| {
            c.open(0xffff, created, true)
                .attr(system_time)
                .hole(0, false)
                .bytes(&[0x03]);
        });
        let ft = |t: u64| (0x11, (132_223_104_000_000_000 + t).to_le_bytes().to_vec());
        let mut at = Vec::new();
        for n in 1..=4u64 {
            let mut nested = Chunk::default();
            nested.instance(inner, &[ft(1_000 * n)]);
            let values = [ft(7), (0x21, nested.data), (0x0a, n.to_le_bytes().to_vec())];
            let start = c.data.len();
            c.instance(outer, &values);
            at.push((start as u64, (c.data.len() - start) as u32));
        }
        let mut reader = ChunkReader::new(&c.data);
        let mut times = Vec::new();
        for (i, (offset, size)) in at.iter().enumerate() {
            let got = in_turn_and_alone(&mut reader, &c.data, *offset, *size, i);
            times.extend(got.and_then(|r| r.time));
        }
        assert_eq!(reader.hits, 3);
        times.dedup();
        assert_eq!(times.len(), 4, "{times:?}");
    }

    #[test]
    fn text_is_what_reading_the_rendered_xml_gives() {
        let mut out = Vec::new();
        assert_eq!(push_utf16(&mut out, &utf16("a<b>&\t\r\n")), 0);
        assert_eq!(out, "a<b>&\t\r\n".as_bytes());
        out.clear();
        let mut bytes = utf16("x\u{1}é");
        bytes.extend([0x00, 0xd8, b'y', 0]); // a lone high surrogate, then 'y'
        bytes.extend([0xfe, 0xff]); // U+FFFE
        assert_eq!(push_utf16(&mut out, &bytes), 1);
        assert_eq!(out, "x_é_y_".as_bytes());
    }

    #[test]
    fn times_render_as_the_crate_renders_them() {
        let mut out = Vec::new();
        push_filetime(&mut out, 132_223_104_000_000_000 + 1_234_567);
        assert_eq!(out, "2020-01-01T00:00:00.1234567Z".as_bytes());
        out.clear();
        push_filetime(&mut out, u64::MAX);
        assert_eq!(out, "0000-00-00T00:00:00.0000000Z".as_bytes());
        out.clear();
        let st: Vec<u8> = [2024u16, 2, 4, 29, 23, 59, 58, 999]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        push_systime(&mut out, &array(&st).unwrap_or([0; 16]));
        assert_eq!(out, "2024-02-29T23:59:58.9990000Z".as_bytes());
        out.clear();
        push_systime(&mut out, &[0; 16]);
        assert_eq!(out, "1601-01-01T00:00:00.0000000Z".as_bytes());
    }

    #[test]
    fn filetimes_read_as_their_rendering_reads() {
        // The direct FILETIME → time must be what parsing its rendering gives, or else say
        // "read the text" (`None`): at the epoch, before and after 1970, at jiff's last
        // instant and past it, from year 10000 on (rendered with the year cut), past i64.
        let max = jiff::Timestamp::MAX.as_second() + 11_644_473_600;
        for ft in [
            0,
            1,
            116_444_736_000_000_000 - 1,
            116_444_736_000_000_000,
            132_223_104_001_234_567,
            max as u64 * 10_000_000,
            (max as u64 + 1) * 10_000_000,
            2_650_467_744_000_000_000 - 1,
            2_650_467_744_000_000_000,
            i64::MAX as u64,
            u64::MAX,
        ] {
            let mut text = Vec::new();
            push_filetime(&mut text, ft);
            let parsed: Option<jiff::Timestamp> =
                std::str::from_utf8(&text).ok().and_then(|t| t.parse().ok());
            match text::filetime_as_read(ft) {
                Some(direct) => assert_eq!(Some(direct), parsed, "{ft}"),
                None => assert!(
                    parsed.is_none() || ft >= 2_650_467_744_000_000_000,
                    "{ft}: {parsed:?}"
                ),
            }
        }
        assert!(text::filetime_as_read(132_223_104_001_234_567).is_some());
    }

    #[test]
    fn values_render_as_the_crate_renders_them() {
        let text = |v: Value<'_>| {
            let mut out = Vec::new();
            push_value(&mut out, &v);
            String::from_utf8(out).unwrap_or_default()
        };
        let guid = [
            0x78, 0x56, 0x34, 0x12, 0xbc, 0x9a, 0xf0, 0xde, 1, 2, 3, 4, 5, 6, 7, 8,
        ];
        assert_eq!(
            text(Value::Guid(guid)),
            "{12345678-9abc-def0-0102-030405060708}"
        );
        let sid = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0];
        assert_eq!(text(Value::Sid(&sid)), "S-1-5-32-544");
        assert_eq!(text(Value::Hex(0x1f)), "0x1f");
        assert_eq!(text(Value::Binary(&[0xab, 0x01])), "AB01");
        assert_eq!(text(Value::Int(-3)), "-3");
    }
}
