//! What the elements of one `<Event>` mean: the part of the event an element opens, the
//! System facts it carries, the fields it adds. Every reader of Windows event XML feeds this
//! one [`Builder`] (the general XML reader, the fast path over rendered records, the direct
//! BinXML reader), and the direct reader's compiled plans take each element's [`Role`] from
//! the same [`Role::of`], so no reader can decide differently what an element means.

use std::sync::{Arc, LazyLock};

use jiff::Timestamp;
use quick_xml::XmlVersion;
use quick_xml::events::BytesStart;

use super::{XmlEventError, XmlLimits, XmlRecord};
use crate::model::{Fields, WinEvent};

/// Where [`Builder`] gets an element's attributes from: a quick-xml start tag, the attributes
/// the fast path scanned, or a template's attributes filled with a record's values.
pub(in crate::ingest) trait Attrs {
    /// The value of the first attribute with this local name, unescaped and normalized:
    /// borrowed where it is stored as it reads, else written into `buf`.
    fn get<'a>(&'a self, name: &str, buf: &'a mut String) -> Option<&'a str>;
    /// Each attribute name without a namespace prefix (no `xmlns`, no `p:name`), in document
    /// order, each once: the ones kept as `Element@name` fields. Stops when `each` returns
    /// false.
    fn plain_names(&self, each: &mut dyn FnMut(&str) -> bool);
    /// The value of `name` when it is stored as a time whose text certainly reads back as this
    /// very time (so the text need not be written and parsed); `None` means "read the text".
    fn time(&self, _name: &str) -> Option<Timestamp> {
        None
    }
    /// The value of `name` when it is stored as an unsigned number whose text is its decimal
    /// digits (so they need not be written and parsed back); `None` means "read the text".
    fn number(&self, _name: &str) -> Option<u64> {
        None
    }
}

impl Attrs for BytesStart<'_> {
    fn get<'a>(&'a self, name: &str, buf: &'a mut String) -> Option<&'a str> {
        let value = attr(self, name)?;
        *buf = value;
        Some(buf.as_str())
    }

    fn plain_names(&self, each: &mut dyn FnMut(&str) -> bool) {
        let mut seen: Vec<&str> = Vec::new();
        for a in self.attributes().with_checks(false).flatten() {
            let key = a.key.into_inner();
            if is_plain(key) && !seen.contains(&key) {
                seen.push(key);
                if !each(key) {
                    return;
                }
            }
        }
    }
}

/// The most attributes one element under `EventData` or `UserData` may carry: real events
/// have a few (CAPI2's `Result@value`, `EventAuxInfo@ProcessName`).
pub(in crate::ingest) const MAX_ATTRIBUTES: usize = 256;

/// Whether an attribute name is kept as a field: no namespace prefix, not `xmlns`.
pub(in crate::ingest) fn is_plain(key: &str) -> bool {
    key != "xmlns" && !key.contains(':')
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
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub(in crate::ingest) enum Part {
    Other,
    System,
    EventData,
    UserData,
}

/// A child of `<System>` that carries a fact.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(in crate::ingest) enum SystemField {
    Provider,
    EventId,
    Level,
    TimeCreated,
    RecordId,
    Correlation,
    Execution,
    Channel,
    Computer,
}

/// What an element means, from the part of the event it is in, its depth below `<Event>`
/// and its local name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(in crate::ingest) enum Role {
    /// A child of `<Event>`: the part it opens.
    Part(Part),
    /// A child of `<System>` that carries a fact.
    System(SystemField),
    /// `EventData/Data`: a field named by its `Name` attribute, or by its position.
    Data,
    /// Another child of `EventData` (`Binary`, `ComplexData`): a field under its own name.
    EventDataOther,
    /// Below `UserData`: its attributes are fields, and at depth 2 and below (`deep`) so is its
    /// text, when it has no child element.
    UserData { deep: bool },
    /// Read for nothing.
    Other,
}

impl Role {
    /// The role of an element named `name` at `depth` below `<Event>` (0 for its children),
    /// inside `part`.
    pub(in crate::ingest) fn of(part: Part, depth: usize, name: &str) -> Role {
        match (depth, part) {
            (0, _) => Role::Part(match name {
                "System" => Part::System,
                "EventData" => Part::EventData,
                "UserData" => Part::UserData,
                _ => Part::Other,
            }),
            (1, Part::System) => match name {
                "Provider" => Role::System(SystemField::Provider),
                "EventID" => Role::System(SystemField::EventId),
                "Level" => Role::System(SystemField::Level),
                "TimeCreated" => Role::System(SystemField::TimeCreated),
                "EventRecordID" => Role::System(SystemField::RecordId),
                "Correlation" => Role::System(SystemField::Correlation),
                "Execution" => Role::System(SystemField::Execution),
                "Channel" => Role::System(SystemField::Channel),
                "Computer" => Role::System(SystemField::Computer),
                _ => Role::Other,
            },
            (1, Part::EventData) if name == "Data" => Role::Data,
            (1, Part::EventData) => Role::EventDataOther,
            (_, Part::UserData) => Role::UserData { deep: depth >= 2 },
            _ => Role::Other,
        }
    }

    /// The part the element's children are in, when the element is in `part`.
    pub(in crate::ingest) fn part_below(self, part: Part) -> Part {
        match self {
            Role::Part(p) => p,
            _ => part,
        }
    }

    /// Whether the element's text is read as a number when it ends (so a reader that has the
    /// number may give it to [`Builder::end_number`] instead of its digits).
    pub(in crate::ingest) fn reads_number(self) -> bool {
        matches!(
            self,
            Role::System(SystemField::EventId | SystemField::Level | SystemField::RecordId)
        )
    }

    /// Whether the element's text is read when it ends: readers may skip gathering it
    /// otherwise.
    pub(in crate::ingest) fn keeps_text(self) -> bool {
        match self {
            Role::System(field) => matches!(
                field,
                SystemField::EventId
                    | SystemField::Level
                    | SystemField::RecordId
                    | SystemField::Channel
                    | SystemField::Computer
            ),
            Role::Data | Role::EventDataOther => true,
            Role::UserData { deep } => deep,
            Role::Part(_) | Role::Other => false,
        }
    }
}

/// A `<Data>`'s attributes read once ([`Builder::data_literal`]): its `Name` (empty when
/// none) and the fields its other attributes add.
pub(in crate::ingest) struct DataLiteral {
    name: Box<str>,
    fields: Fields,
}

/// The channel, provider and computer last read, shared by every event that repeats them: the
/// records of a log name the same few, so a builder that reads many events hands them one copy
/// each instead of a string per event.
struct Names {
    channel: Arc<str>,
    provider: Arc<str>,
    computer: Arc<str>,
}

/// The empty name, allocated once for the process.
static EMPTY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));

fn empty() -> Arc<str> {
    Arc::clone(&EMPTY)
}

impl Names {
    fn new() -> Self {
        Names {
            channel: empty(),
            provider: empty(),
            computer: empty(),
        }
    }
}

/// `text`, shared with the events before when `last` holds the same text; `last` then holds it.
fn shared(last: &mut Arc<str>, text: &str) -> Arc<str> {
    if **last != *text {
        *last = Arc::from(text);
    }
    Arc::clone(last)
}

/// How many distinct payloads [`Payloads`] remembers: a flood alternates a few events (a
/// Schannel flood two), and each comparison costs a little on every event.
const RECENT_PAYLOADS: usize = 4;

/// The last [`RECENT_PAYLOADS`] distinct payloads read, for the next equal ones to share.
///
/// An event whose payload is equal to one of them (same channel, provider, id, qualifiers,
/// level, computer, activity, process and data: everything a rule or a report reads of it)
/// holds that one instead of its own, so a flood of tens of thousands of kept events, identical
/// but for record id and time (held by the [`crate::model::Event`]), holds a few payloads, not
/// one each (about 250 bytes and three allocations apiece).
#[derive(Default)]
pub(in crate::ingest) struct Payloads {
    held: [Option<Arc<WinEvent>>; RECENT_PAYLOADS],
    /// Where the next distinct payload goes (the oldest one is replaced).
    next: usize,
}

impl Payloads {
    /// A remembered payload equal to `event`.
    fn find(&self, event: &WinEvent) -> Option<&Arc<WinEvent>> {
        self.held
            .iter()
            .flatten()
            .find(|held| held.event_id == event.event_id && ***held == *event)
    }

    fn remember(&mut self, payload: &Arc<WinEvent>) {
        self.held[self.next] = Some(Arc::clone(payload));
        self.next = (self.next + 1) % RECENT_PAYLOADS;
    }

    /// Make `payload` the remembered one equal to it, or remember it.
    pub(in crate::ingest) fn share(&mut self, payload: &mut Arc<WinEvent>) {
        if self.held.iter().flatten().any(|h| Arc::ptr_eq(h, payload)) {
            return;
        }
        match self.find(payload) {
            Some(held) => *payload = Arc::clone(held),
            None => self.remember(payload),
        }
    }
}

/// The state of one `<Event>` being read.
pub(in crate::ingest) struct Builder {
    event: WinEvent,
    record_id: Option<u64>,
    time: Option<Timestamp>,
    bad_time: bool,
    saw_system: bool,
    event_id_raw: Option<u64>,
    /// For each open element below `<Event>`: its role, and whether it has had a child element
    /// yet. Its length is the depth; names come from the end tags, so nothing is allocated per
    /// element.
    open: Vec<(Role, bool)>,
    part: Part,
    /// The open element's text, for the readers that gather it here.
    pub(super) text: String,
    /// The `Name` attribute of the open `<Data>` (empty when it has none), and how many
    /// `<Data>` were seen.
    data_name: String,
    data_count: u32,
    /// Elements started so far, against [`XmlLimits::elements`].
    elements: usize,
    /// Where attribute values and field names are written when they must be built.
    value_buf: String,
    name_buf: String,
    names: Names,
    /// The payloads [`Self::take`] built last, for the next equal event to share.
    recent: Payloads,
}

impl Builder {
    pub(in crate::ingest) fn new() -> Self {
        let names = Names::new();
        Builder {
            event: blank(Fields::default()),
            record_id: None,
            time: None,
            bad_time: false,
            saw_system: false,
            event_id_raw: None,
            open: Vec::new(),
            part: Part::Other,
            text: String::new(),
            data_name: String::new(),
            data_count: 0,
            elements: 0,
            value_buf: String::new(),
            name_buf: String::new(),
            names,
            recent: Payloads::default(),
        }
    }

    /// Forget the event being read, keeping the buffers: a reader of many events uses one
    /// builder for all of them, so that gathering one allocates only what the event keeps.
    pub(in crate::ingest) fn reset(&mut self) {
        let mut data = std::mem::take(&mut self.event.data);
        data.clear();
        self.event = blank(data);
        self.record_id = None;
        self.time = None;
        self.bad_time = false;
        self.saw_system = false;
        self.event_id_raw = None;
        self.open.clear();
        self.part = Part::Other;
        self.text.clear();
        self.data_name.clear();
        self.data_count = 0;
        self.elements = 0;
    }

    /// The role an element named `name` starting now would have.
    pub(in crate::ingest) fn role(&self, name: &str) -> Role {
        Role::of(self.part, self.open.len(), name)
    }

    /// Open an element with local name `name`, within `limits`.
    pub(in crate::ingest) fn start(
        &mut self,
        name: &str,
        start: &dyn Attrs,
        limits: &XmlLimits,
        outer_depth: usize,
    ) -> Result<(), XmlEventError> {
        let role = self.role(name);
        self.start_as(role, name, start, limits, outer_depth)
    }

    /// [`Self::start`] with the element's role already known: it must be [`Self::role`]'s.
    pub(in crate::ingest) fn start_as(
        &mut self,
        role: Role,
        name: &str,
        start: &dyn Attrs,
        limits: &XmlLimits,
        outer_depth: usize,
    ) -> Result<(), XmlEventError> {
        self.enter(limits, outer_depth)?;
        match role {
            Role::Part(part) => {
                self.part = part;
                self.saw_system |= part == Part::System;
            }
            Role::System(field) => self.system_attributes(field, start),
            Role::Data => {
                self.data_count += 1;
                self.data_attributes(name, start)?;
            }
            Role::EventDataOther | Role::UserData { .. } => {
                self.attributes_as_fields(name, start, None)?;
            }
            Role::Other => {}
        }
        self.entered(role);
        Ok(())
    }

    /// What `<Data>` attributes that are the same in every record mean to the event, read
    /// once: the same reading as [`Self::start_as`]'s, kept for [`Self::start_data`].
    /// `None` when [`Self::start_as`] would refuse them (too many).
    pub(in crate::ingest) fn data_literal(name: &str, start: &dyn Attrs) -> Option<DataLiteral> {
        let mut reader = Builder::new();
        reader.data_attributes(name, start).ok()?;
        Some(DataLiteral {
            name: reader.data_name.into_boxed_str(),
            fields: reader.event.data,
        })
    }

    /// [`Self::start_as`] for a `<Data>` (its role [`Role::Data`]) whose attributes were read
    /// once into `literal` by [`Self::data_literal`].
    pub(in crate::ingest) fn start_data(
        &mut self,
        literal: &DataLiteral,
        limits: &XmlLimits,
        outer_depth: usize,
    ) -> Result<(), XmlEventError> {
        self.enter(limits, outer_depth)?;
        self.data_count += 1;
        self.data_name.clear();
        self.data_name.push_str(&literal.name);
        for (name, value) in literal.fields.iter() {
            self.event.data.push(name, value);
        }
        self.entered(Role::Data);
        Ok(())
    }

    /// The limits an element starting now must stay within, counted.
    fn enter(&mut self, limits: &XmlLimits, outer_depth: usize) -> Result<(), XmlEventError> {
        if outer_depth + self.open.len() + 1 > limits.depth {
            return Err(XmlEventError::TooDeep(limits.depth));
        }
        self.elements += 1;
        if self.elements > limits.elements {
            return Err(XmlEventError::TooManyElements(limits.elements));
        }
        Ok(())
    }

    /// An element with `role` is open.
    fn entered(&mut self, role: Role) {
        if let Some((_, had_child)) = self.open.last_mut() {
            *had_child = true;
        }
        self.open.push((role, false));
        self.text.clear();
    }

    /// A `<Data>`'s attributes: its `Name`, the others kept as fields.
    fn data_attributes(&mut self, name: &str, start: &dyn Attrs) -> Result<(), XmlEventError> {
        self.data_name.clear();
        if let Some(value) = start.get("Name", &mut self.value_buf) {
            self.data_name.push_str(value);
        }
        self.attributes_as_fields(name, start, Some("Name"))
    }

    /// Pass over `elements` elements, nested `levels` deep, whose roles are all
    /// [`Role::Other`] (or [`Part::Other`]), inside the open element: what starting and ending
    /// each of them would do (they count against `limits`, and the open element has had a
    /// child), without being told each one.
    pub(in crate::ingest) fn pass_over(
        &mut self,
        elements: usize,
        levels: usize,
        limits: &XmlLimits,
    ) -> Result<(), XmlEventError> {
        if elements == 0 {
            return Ok(());
        }
        if self.open.len() + levels > limits.depth {
            return Err(XmlEventError::TooDeep(limits.depth));
        }
        self.elements += elements;
        if self.elements > limits.elements {
            return Err(XmlEventError::TooManyElements(limits.elements));
        }
        if let Some((_, had_child)) = self.open.last_mut() {
            *had_child = true;
        }
        if self.open.is_empty() {
            self.part = Part::Other;
        }
        Ok(())
    }

    /// Attributes under `EventData` and `UserData` are facts too (CAPI2's `Result@value`,
    /// `EventAuxInfo@ProcessName`): each is kept as the field `Element@attribute`, in document
    /// order, before the element's own text. `skip` is an attribute already read otherwise.
    /// An element with more than [`MAX_ATTRIBUTES`] is refused: finding each one's value
    /// among them all grows with the square of their number.
    fn attributes_as_fields(
        &mut self,
        name: &str,
        start: &dyn Attrs,
        skip: Option<&str>,
    ) -> Result<(), XmlEventError> {
        let Builder {
            event,
            value_buf,
            name_buf,
            ..
        } = self;
        let mut names = 0usize;
        start.plain_names(&mut |attr| {
            names += 1;
            if names > MAX_ATTRIBUTES {
                return false;
            }
            if Some(attr) == skip {
                return true;
            }
            if let Some(value) = start.get(attr, value_buf) {
                name_buf.clear();
                name_buf.push_str(name);
                name_buf.push('@');
                name_buf.push_str(attr);
                event.data.push(&**name_buf, value);
            }
            true
        });
        if names > MAX_ATTRIBUTES {
            return Err(XmlEventError::TooManyAttributes(MAX_ATTRIBUTES));
        }
        Ok(())
    }

    fn system_attributes(&mut self, field: SystemField, start: &dyn Attrs) {
        let event = &mut self.event;
        let buf = &mut self.value_buf;
        match field {
            SystemField::Provider => {
                let name = start
                    .get("Name", buf)
                    .or_else(|| start.get("EventSourceName", &mut self.name_buf));
                if let Some(name) = name {
                    event.provider = shared(&mut self.names.provider, name);
                }
            }
            SystemField::EventId => {
                event.qualifiers = start
                    .number("Qualifiers")
                    .or_else(|| {
                        start
                            .get("Qualifiers", buf)
                            .and_then(|q| parse_u64(q.trim()))
                    })
                    .and_then(|q| u32::try_from(q).ok());
            }
            SystemField::TimeCreated => {
                if let Some(time) = start.time("SystemTime") {
                    self.time = Some(time);
                    self.bad_time = false;
                    return;
                }
                let raw = start.get("SystemTime", buf);
                self.time = raw.and_then(system_time);
                self.bad_time = raw.is_some_and(|t| !t.trim().is_empty()) && self.time.is_none();
            }
            SystemField::Correlation => {
                event.activity_id = start
                    .get("ActivityID", buf)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string);
            }
            SystemField::Execution => {
                event.process_id = match start.number("ProcessID") {
                    Some(n) => u32::try_from(n).ok(),
                    None => start
                        .get("ProcessID", buf)
                        .and_then(|p| p.trim().parse().ok()),
                };
            }
            _ => {}
        }
    }

    /// Close the innermost element, named `name`; `false` when it was `</Event>` itself.
    pub(super) fn end(&mut self, name: &str) -> bool {
        let text = std::mem::take(&mut self.text);
        let open = self.end_with(name, &text);
        self.text = text;
        self.text.clear();
        open
    }

    /// [`Self::end_with`] for an element whose text is the decimal digits of `n`: the facts
    /// read as numbers take `n` itself, any other element gets the digits.
    pub(in crate::ingest) fn end_number(&mut self, name: &str, n: u64) -> bool {
        match self.open.last() {
            Some((Role::System(SystemField::EventId), _)) => self.event_id_raw = Some(n),
            Some((Role::System(SystemField::Level), _)) => self.event.level = u8::try_from(n).ok(),
            Some((Role::System(SystemField::RecordId), _)) => self.record_id = Some(n),
            _ => {
                let mut digits = itoa::Buffer::new();
                return self.end_with(name, digits.format(n));
            }
        }
        self.open.pop();
        if self.open.is_empty() {
            self.part = Part::Other;
        }
        true
    }

    /// [`Self::end`] with the element's text given (the fast path does not gather it).
    pub(in crate::ingest) fn end_with(&mut self, name: &str, text: &str) -> bool {
        let Some((role, had_child)) = self.open.pop() else {
            return false;
        };
        let event = &mut self.event;
        match role {
            Role::System(SystemField::EventId) => self.event_id_raw = parse_u64(text.trim()),
            Role::System(SystemField::Level) => event.level = text.trim().parse().ok(),
            Role::System(SystemField::RecordId) => self.record_id = text.trim().parse().ok(),
            Role::System(SystemField::Channel) => {
                event.channel = shared(&mut self.names.channel, text);
            }
            Role::System(SystemField::Computer) => {
                event.computer = shared(&mut self.names.computer, text);
            }
            Role::Data => {
                if self.data_name.is_empty() {
                    let mut digits = itoa::Buffer::new();
                    event.data.push(digits.format(self.data_count), text);
                } else {
                    event.data.push(&*self.data_name, text);
                }
                self.data_name.clear();
            }
            // <Binary>, <ComplexData> and the like: kept under their own name.
            Role::EventDataOther => event.data.push(name, text),
            // A leaf anywhere under UserData/<Wrapper>/...: reachable by its element name.
            Role::UserData { deep: true } if !had_child => event.data.push(name, text),
            _ => {}
        }
        if self.open.is_empty() {
            self.part = Part::Other;
        }
        true
    }

    pub(in crate::ingest) fn finish(mut self) -> Result<XmlRecord, XmlEventError> {
        let mut event = std::mem::replace(&mut self.event, blank(Fields::default()));
        self.number(&mut event);
        self.record(Arc::new(event))
    }

    /// [`Self::finish`] for a builder that reads more events, and is then [`Self::reset`]. The
    /// event takes a payload this builder built before when one is equal to it ([`Payloads`]),
    /// else its own copy of the fields, of exactly their size.
    pub(in crate::ingest) fn take(&mut self) -> Result<XmlRecord, XmlEventError> {
        let mut event = std::mem::replace(&mut self.event, blank(Fields::default()));
        self.number(&mut event);
        // Either way the fields' buffers stay with the builder for the next event.
        let payload = match self.recent.find(&event) {
            Some(held) => {
                let held = Arc::clone(held);
                self.event.data = event.data;
                held
            }
            None => {
                let buffers = std::mem::take(&mut event.data);
                event.data = buffers.clone();
                self.event.data = buffers;
                let fresh = Arc::new(event);
                self.recent.remember(&fresh);
                fresh
            }
        };
        let record = self.record(payload);
        self.reset();
        record
    }

    /// The event id and qualifiers of `event`, from the `EventID` read into this builder.
    fn number(&self, event: &mut WinEvent) {
        if let Some(raw) = self.event_id_raw {
            event.event_id = (raw & 0xFFFF) as u32;
            if raw > 0xFFFF && event.qualifiers.is_none() {
                event.qualifiers = u32::try_from(raw >> 16).ok();
            }
        }
    }

    /// The record of `event`, read into this builder.
    fn record(&self, event: Arc<WinEvent>) -> Result<XmlRecord, XmlEventError> {
        if !self.saw_system {
            return Err(XmlEventError::NoSystem);
        }
        Ok(XmlRecord {
            record_id: self.record_id,
            time: self.time,
            bad_time: self.bad_time,
            event,
        })
    }
}

/// An event with nothing read yet, holding `data`'s room.
fn blank(data: Fields) -> WinEvent {
    WinEvent {
        channel: empty(),
        provider: empty(),
        event_id: 0,
        qualifiers: None,
        level: None,
        computer: empty(),
        activity_id: None,
        process_id: None,
        data,
    }
}

/// An event-log XML `SystemTime`: a time with its zone, as Windows writes one (RFC 3339).
/// None when it is not a time an event can have: without a zone (the event's own clock is not
/// known) or with an offset no zone has (past ±14:00). (A time before 1601 is a FILETIME past
/// 9999 with its year cut to four digits: each reader says what it does with one.)
fn system_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let t: Timestamp = text.parse().ok()?;
    let clock = &text[text.find(['T', 't', ' '])?..];
    if let Some(sign) = clock.rfind(['+', '-']) {
        let digits: String = clock[sign + 1..]
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let hours: u32 = digits.get(..2)?.parse().ok()?;
        let minutes: u32 = digits.get(2..4).map_or(Some(0), |m| m.parse().ok())?;
        if hours * 60 + minutes > 14 * 60 {
            return None;
        }
    }
    Some(t)
}

pub(super) fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `SystemTime` is taken only when an event could have it.
    #[test]
    fn a_system_time_no_event_can_have_is_not_taken() {
        for (text, want) in [
            (
                "2024-03-05T10:15:30.1234567Z",
                Some("2024-03-05T10:15:30.1234567Z"),
            ),
            (" 2024-03-05T10:15:30+01:00 ", Some("2024-03-05T09:15:30Z")),
            ("2024-03-05T10:15:30-14:00", Some("2024-03-06T00:15:30Z")),
            ("0828-05-14T02:48:05Z", Some("0828-05-14T02:48:05Z")),
            ("2024-03-05T10:15:30+25:00", None),
            ("2024-03-05T10:15:30-14:30", None),
            ("2024-03-05T10:15:30.1234567", None),
            ("yesterday", None),
        ] {
            let got = system_time(text).map(|t| t.to_string());
            assert_eq!(got.as_deref(), want, "{text}");
        }
    }

    #[test]
    fn equal_payloads_taken_one_after_another_are_shared() {
        let limits = XmlLimits::default();
        let none = BytesStart::new("x");
        let mut builder = Builder::new();
        let mut take = |record: u64, level: u64| {
            builder.start("System", &none, &limits, 0).unwrap();
            for (name, n) in [
                ("EventID", 36888),
                ("Level", level),
                ("EventRecordID", record),
            ] {
                builder.start(name, &none, &limits, 0).unwrap();
                assert!(builder.end_number(name, n));
            }
            assert!(builder.end_with("System", ""));
            builder.take().unwrap()
        };
        let (a, b, c, d) = (take(1, 2), take(2, 2), take(3, 4), take(4, 2));
        let ids = [a.record_id, b.record_id, c.record_id, d.record_id];
        assert_eq!(ids, [Some(1), Some(2), Some(3), Some(4)]);
        assert!(Arc::ptr_eq(&a.event, &b.event) && Arc::ptr_eq(&a.event, &d.event));
        assert!(!Arc::ptr_eq(&a.event, &c.event));
        assert_eq!((a.event.level, c.event.level), (Some(2), Some(4)));
        assert_eq!((a.event.event_id, c.event.event_id), (36888, 36888));
    }

    /// The System facts of an event whose `EventID`, `Level`, `EventRecordID` and `Channel`
    /// hold `n`, ended by digits (`by_number` false) or by the number itself.
    fn facts(n: u64, by_number: bool) -> (Option<u64>, u32, Option<u32>, Option<u8>, Arc<str>) {
        let limits = XmlLimits::default();
        let none = BytesStart::new("x");
        let mut builder = Builder::new();
        builder.start("System", &none, &limits, 0).unwrap();
        for name in ["EventID", "Level", "EventRecordID", "Channel"] {
            builder.start(name, &none, &limits, 0).unwrap();
            if by_number {
                assert!(builder.end_number(name, n));
            } else {
                assert!(builder.end_with(name, &n.to_string()));
            }
        }
        assert!(builder.end_with("System", ""));
        let record = builder.take().unwrap();
        let event = record.event;
        (
            record.record_id,
            event.event_id,
            event.qualifiers,
            event.level,
            Arc::clone(&event.channel),
        )
    }

    /// Attributes that hold one number each, given as digits (`as_number` false) or as the
    /// number itself.
    struct Numbers {
        n: u64,
        as_number: bool,
    }

    impl Attrs for Numbers {
        fn get<'a>(&'a self, name: &str, buf: &'a mut String) -> Option<&'a str> {
            matches!(name, "Qualifiers" | "ProcessID").then(|| {
                *buf = self.n.to_string();
                buf.as_str()
            })
        }

        fn plain_names(&self, each: &mut dyn FnMut(&str) -> bool) {
            let _ = each("Qualifiers") && each("ProcessID");
        }

        fn number(&self, name: &str) -> Option<u64> {
            let mut buf = String::new();
            self.get(name, &mut buf)?;
            self.as_number.then_some(self.n)
        }
    }

    #[test]
    fn attribute_numbers_given_as_they_are_read_as_their_digits_do() {
        let limits = XmlLimits::default();
        let none = BytesStart::new("x");
        let read = |n: u64, as_number: bool| {
            let attrs = Numbers { n, as_number };
            let mut builder = Builder::new();
            builder.start("System", &none, &limits, 0).unwrap();
            for name in ["EventID", "Execution"] {
                builder.start(name, &attrs, &limits, 0).unwrap();
                assert!(builder.end_with(name, "1"));
            }
            assert!(builder.end_with("System", ""));
            let event = builder.take().unwrap().event;
            (event.qualifiers, event.process_id)
        };
        for n in [
            0,
            7,
            0xFFFF,
            0x1_0000,
            u64::from(u32::MAX),
            1 << 32,
            u64::MAX,
        ] {
            assert_eq!(read(n, true), read(n, false), "{n}");
        }
        assert_eq!(read(1 << 32, true), (None, None));
        assert_eq!(read(9, true), (Some(9), Some(9)));
    }

    #[test]
    fn a_number_given_as_it_is_reads_as_its_digits_do() {
        for n in [0, 4, 255, 256, 0xFFFF, 0x1_0000, 0x4000_0001, u64::MAX] {
            assert_eq!(facts(n, true), facts(n, false), "{n}");
        }
        assert_eq!(facts(256, true).3, None);
        assert_eq!(facts(255, true).3, Some(255));
    }
}
