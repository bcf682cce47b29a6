//! Compiled plans: what the event builder does through a template, decided once per chunk.
//!
//! A chunk's records are instances of a few templates (a System log's thousands of Schannel
//! records share one or two). What an element of a template means to the [`Builder`] (which
//! part of the event it opens, which System fact it carries, whether its text is read) depends
//! only on its name and on where it sits, so it is decided when the template is first used at
//! a place ([`Place`]): the template is compiled into a flat list of steps ([`Op`]), each
//! element's [`Role`] resolved, the text of elements whose text is never read dropped. Reading
//! a record is then running the plan over the record's values: no name is compared, nothing
//! is allocated but the event's own storage. The renderer's rules are applied at run time
//! where they depend on values (an element whose DependencyId names a NULL value is left out,
//! an optional hole with an empty value writes nothing, an empty attribute is left out, a
//! nested instance is spliced in place), by the same code as before.
//!
//! Bounds: a plan has at most two steps per element and one per text or hole of its template,
//! and the template bytes a chunk parses are bounded ([`super::MAX_CHUNK_TEMPLATE_BYTES`]); the
//! places a template is compiled for, and the steps of all of a chunk's plans, are bounded
//! too ([`MAX_CHUNK_PLAN_OPS`]): past that, records are rendered instead.

use std::cell::Cell;
use std::rc::Rc;

use super::memo::{CONTENT, Held, KIND, STAMP, Stamps};
use super::template::{Attr, Node, Part as Piece, Template, parse_template};
use super::text::{filetime_as_read, push_value};
use super::{Instance, MAX_WALK_DEPTH, Value};
use crate::ingest::eventxml::{
    Attrs, Builder, DataLiteral, Part, Role, SystemField, XmlLimits, XmlRecord,
};

/// Steps all of one chunk's plans may hold (a real chunk's plans hold a few hundred).
const MAX_CHUNK_PLAN_OPS: usize = 1 << 18;

/// Where a template instance sits: the record itself (its root is `<Event>`), or a nested
/// instance spliced in where its root element is a child in `part`, `depth` below `<Event>`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Place {
    Record,
    Within { part: Part, depth: u16 },
}

/// One step of a plan.
enum Op {
    /// The record's `<Event>` element, which the builder does not see: only its cost.
    Visit { cost: u32 },
    /// An element starts: `element` is its index in the template. When `dependency` names a NULL
    /// value it is left out, and the plan goes on at `after`.
    Open {
        element: u32,
        role: Role,
        dependency: Option<u16>,
        after: u32,
        cost: u32,
        /// Whether any attribute holds a hole (a nested fragment there fails the record).
        attr_holes: bool,
        /// For a `<Data>` whose attributes hold no hole: what they mean, read once.
        data: Option<Box<DataLiteral>>,
    },
    /// Literal text of an element whose text is read.
    Text(Box<str>),
    /// A hole among an element's children: text when `keep`, or a nested instance whose root
    /// element sits at `place`.
    Hole {
        id: u16,
        optional: bool,
        keep: bool,
        place: Place,
    },
    /// The element started by the matching `Open` ends; its text is read when `keep`.
    Close { element: u32, keep: bool },
    /// An element whose text is read as a number, and is one hole, ends: a number in the hole
    /// is given as it is, anything else is what a `Hole` then a `Close` step would do.
    /// `stamp` when the element is `EventRecordID` (see [`super::memo`]).
    CloseNumber {
        element: u32,
        id: u16,
        optional: bool,
        place: Place,
        stamp: bool,
    },
    /// An element that means nothing to the event, nor does anything below it (no hole among
    /// its children or theirs, no DependencyId below it): only counted, as if started and
    /// ended, unless `dependency` names a NULL value. `elements` in all, `levels` deep, costing
    /// `cost` nodes; the holes of its attributes (`holes` in the plan's list) must not hold a
    /// nested fragment.
    Inert {
        dependency: Option<u16>,
        elements: u32,
        levels: u32,
        cost: u32,
        holes: (u32, u32),
    },
}

/// A template compiled for one place.
struct Plan {
    ops: Vec<Op>,
    /// The attribute holes of inert elements ([`Op::Inert`]).
    holes: Vec<u16>,
}

/// A chunk's template definitions, each parsed once, and the plans compiled from them.
#[derive(Default)]
pub(super) struct Templates {
    /// By the definition's offset in the chunk; `None` for one this module does not handle
    /// (every record using it is rendered instead). A chunk holds a few tens at most, so a
    /// list beats hashing.
    list: Vec<Cached>,
    /// Steps the chunk's plans may still hold.
    ops_left: usize,
}

struct Cached {
    def: u32,
    template: Option<Rc<Template>>,
    /// Plans by place; `None` for a place the template cannot be compiled for.
    plans: Vec<(Place, Option<Rc<Plan>>)>,
}

impl Templates {
    pub(super) fn new() -> Self {
        Templates {
            list: Vec::new(),
            ops_left: MAX_CHUNK_PLAN_OPS,
        }
    }

    /// Whether the definition at `def` is one this module handles, parsing it the first time
    /// (within the chunk's `budget` of definition bytes).
    pub(super) fn handles(&mut self, data: &[u8], def: u32, budget: &mut usize) -> bool {
        if let Some(cached) = self.list.iter().find(|c| c.def == def) {
            return cached.template.is_some();
        }
        let template = parse_template(data, def, budget).map(Rc::new);
        let handled = template.is_some();
        self.list.push(Cached {
            def,
            template,
            plans: Vec::new(),
        });
        handled
    }

    /// The template at `def` and its plan for `place`, compiled the first time.
    fn plan(&mut self, def: u32, place: Place) -> Option<(Rc<Template>, Rc<Plan>)> {
        let cached = self.list.iter_mut().find(|c| c.def == def)?;
        let template = Rc::clone(cached.template.as_ref()?);
        if let Some((_, plan)) = cached.plans.iter().find(|(p, _)| *p == place) {
            return Some((template, Rc::clone(plan.as_ref()?)));
        }
        let plan = compile(&template, place, &mut self.ops_left).map(Rc::new);
        cached.plans.push((place, plan.clone()));
        Some((template, plan?))
    }
}

/// Compile `template` for `place`, within `ops_left` steps; `None` when it has no plan there
/// (the record root is not `<Event>`, an element sits deeper than the walk follows, or the
/// chunk's steps are spent).
fn compile(template: &Template, place: Place, ops_left: &mut usize) -> Option<Plan> {
    let root = template.elements.first()?;
    let mut out = Compiler {
        template,
        ops: Vec::new(),
        holes: Vec::new(),
        ops_left: *ops_left,
    };
    match place {
        Place::Record => {
            if &*root.name != "Event" {
                return None;
            }
            out.ops.push(Op::Visit {
                cost: cost(root.attrs.len(), root.children.len())?,
            });
            out.children(0, Part::Other, 0, false)?;
        }
        // A nested instance's root is spliced in whatever its dependency says.
        Place::Within { part, depth } => out.element(0, part, usize::from(depth), false)?,
    }
    *ops_left = out.ops_left;
    Some(Plan {
        ops: out.ops,
        holes: out.holes,
    })
}

/// An element's cost against the node budgets: one, plus one per attribute and child (the
/// crate's per-visit cost).
fn cost(attrs: usize, children: usize) -> Option<u32> {
    u32::try_from(1 + attrs + children).ok()
}

struct Compiler<'t> {
    template: &'t Template,
    ops: Vec<Op>,
    holes: Vec<u16>,
    ops_left: usize,
}

/// What an inert subtree adds up to (see [`Op::Inert`]).
#[derive(Default)]
struct Inert {
    elements: u32,
    levels: u32,
    cost: u32,
}

impl Compiler<'_> {
    fn push(&mut self, op: Op) -> Option<()> {
        self.ops_left = self.ops_left.checked_sub(1)?;
        self.ops.push(op);
        Some(())
    }

    /// The element at `index`, at `depth` below `<Event>` in `part`; `dependent` when its
    /// DependencyId applies (a nested instance's root is spliced in regardless).
    fn element(&mut self, index: usize, part: Part, depth: usize, dependent: bool) -> Option<()> {
        if depth >= MAX_WALK_DEPTH {
            return None;
        }
        let element = self.template.elements.get(index)?;
        let role = Role::of(part, depth, &element.name);
        if matches!(role, Role::Other | Role::Part(Part::Other)) {
            let start = u32::try_from(self.holes.len()).ok()?;
            if let Some(inert) = self.inert(index, depth, 1) {
                let end = u32::try_from(self.holes.len()).ok()?;
                let dependency = element.dependency.filter(|_| dependent);
                // Inert siblings one after the other, none of them dependent: one step.
                if let (
                    None,
                    Some(Op::Inert {
                        dependency: None,
                        elements,
                        levels,
                        cost,
                        holes,
                    }),
                ) = (dependency, self.ops.last_mut())
                    && holes.1 == start
                {
                    *elements = elements.checked_add(inert.elements)?;
                    *levels = (*levels).max(inert.levels);
                    *cost = cost.checked_add(inert.cost)?;
                    holes.1 = end;
                    return Some(());
                }
                return self.push(Op::Inert {
                    dependency,
                    elements: inert.elements,
                    levels: inert.levels,
                    cost: inert.cost,
                    holes: (start, end),
                });
            }
            self.holes.truncate(start as usize);
        }
        let open = self.ops.len();
        let attr_holes = element
            .attrs
            .iter()
            .flat_map(|a| &a.parts)
            .any(|p| matches!(p, Piece::Hole { .. }));
        self.push(Op::Open {
            element: u32::try_from(index).ok()?,
            role,
            dependency: element.dependency.filter(|_| dependent),
            after: 0,
            cost: cost(element.attrs.len(), element.children.len())?,
            attr_holes,
            data: (role == Role::Data && !attr_holes)
                .then(|| data_literal(&element.name, &element.attrs))
                .flatten(),
        })?;
        let below = role.part_below(part);
        match &element.children[..] {
            [Node::Part(Piece::Hole { id, optional })] if role.reads_number() => {
                self.push(Op::CloseNumber {
                    element: u32::try_from(index).ok()?,
                    id: *id,
                    optional: *optional,
                    place: Place::Within {
                        part: below,
                        depth: u16::try_from(depth + 1).ok()?,
                    },
                    stamp: role == Role::System(SystemField::RecordId),
                })?;
            }
            _ => {
                self.children(index, below, depth + 1, role.keeps_text())?;
                self.push(Op::Close {
                    element: u32::try_from(index).ok()?,
                    keep: role.keeps_text(),
                })?;
            }
        }
        let after = u32::try_from(self.ops.len()).ok()?;
        if let Some(Op::Open { after: at, .. }) = self.ops.get_mut(open) {
            *at = after;
        }
        Some(())
    }

    /// The subtree of an element whose role means nothing (so neither does any below it), at
    /// `depth`, `level` levels below the subtree's root: what it adds up to, its attribute
    /// holes added to the plan's list; `None` when it cannot be passed over as one step (a
    /// hole among children, a DependencyId below the root, an element deeper than the walk
    /// follows).
    fn inert(&mut self, index: usize, depth: usize, level: u32) -> Option<Inert> {
        if depth >= MAX_WALK_DEPTH {
            return None;
        }
        let template = self.template;
        let element = template.elements.get(index)?;
        for part in element.attrs.iter().flat_map(|a| &a.parts) {
            if let Piece::Hole { id, .. } = part {
                self.holes.push(*id);
            }
        }
        let mut sum = Inert {
            elements: 1,
            levels: level,
            cost: cost(element.attrs.len(), element.children.len())?,
        };
        for child in &element.children {
            match child {
                Node::Element(id) => {
                    let below = template.elements.get(*id)?;
                    if below.dependency.is_some() {
                        return None;
                    }
                    let inner = self.inert(*id, depth + 1, level + 1)?;
                    sum.elements = sum.elements.checked_add(inner.elements)?;
                    sum.levels = sum.levels.max(inner.levels);
                    sum.cost = sum.cost.checked_add(inner.cost)?;
                }
                Node::Part(Piece::Text(_)) => {}
                Node::Part(Piece::Hole { .. }) => return None,
            }
        }
        Some(sum)
    }

    /// The children of the element at `index`, at `depth` in `part`; their text is read when
    /// `keep`.
    fn children(&mut self, index: usize, part: Part, depth: usize, keep: bool) -> Option<()> {
        let template = self.template;
        for child in &template.elements.get(index)?.children {
            match child {
                Node::Element(id) => self.element(*id, part, depth, true)?,
                Node::Part(Piece::Text(text)) if keep => self.push(Op::Text(text.clone()))?,
                Node::Part(Piece::Text(_)) => {}
                Node::Part(Piece::Hole { id, optional }) => self.push(Op::Hole {
                    id: *id,
                    optional: *optional,
                    keep,
                    place: Place::Within {
                        part,
                        depth: u16::try_from(depth).ok()?,
                    },
                })?,
            }
        }
        Some(())
    }
}

/// What the attributes of a `<Data>` that hold no hole mean, read once by the builder;
/// `None` when reading them needs what [`HoleAttrs`] refuses (the record is then rendered, as
/// the general step would have it).
fn data_literal(name: &str, attrs: &[Attr]) -> Option<Box<DataLiteral>> {
    let attrs = HoleAttrs {
        attrs,
        values: Held {
            base: 0,
            list: &[],
            uses: &[],
        },
        refused: Cell::new(false),
        lone_surrogates: Cell::new(0),
        stamp: Cell::new(None),
    };
    let literal = Builder::data_literal(name, &attrs)?;
    (!attrs.refused.get()).then(|| Box::new(literal))
}

/// What one record's run reuses from the last: the builder and the text buffer.
pub(super) struct Scratch {
    builder: Builder,
    text: Vec<u8>,
}

impl Scratch {
    pub(super) fn new() -> Self {
        Scratch {
            builder: Builder::new(),
            text: Vec::new(),
        }
    }
}

/// A record's run over its instances: the plans, the values, and what it may still spend.
pub(super) struct Run<'a, 'c> {
    pub(super) templates: &'a mut Templates,
    pub(super) instances: &'a [Instance],
    pub(super) values: &'a [Value<'c>],
    /// Where the run's looks at `values` are noted (see [`super::memo`]).
    pub(super) uses: &'a [Cell<u8>],
    pub(super) stamps: Stamps,
    pub(super) scratch: &'a mut Scratch,
    pub(super) limits: &'a XmlLimits,
    /// Bytes of text the record may still produce.
    pub(super) budget: u64,
    /// Nodes the record may still visit (see [`super::MAX_RECORD_NODES`]).
    pub(super) nodes: usize,
    /// Which of the two ran out, when one did.
    pub(super) over: Option<Over>,
    pub(super) lone_surrogates: u64,
}

/// The budget a run ran out of.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Over {
    Text,
    Nodes,
}

impl Run<'_, '_> {
    /// Read the record whose root instance is `root` into the event it holds.
    pub(super) fn record(&mut self, root: usize) -> Option<XmlRecord> {
        self.scratch.builder.reset();
        self.scratch.text.clear();
        let done = self.instance(root, Place::Record);
        let record = self.scratch.builder.take();
        done?;
        record.ok()
    }

    /// Run the plan of the instance at `index` for `place`.
    fn instance(&mut self, index: usize, place: Place) -> Option<()> {
        let instance = self.instances.get(index)?;
        let values = Held {
            base: instance.start,
            list: self
                .values
                .get(instance.start..instance.start + instance.count)?,
            uses: self
                .uses
                .get(instance.start..instance.start + instance.count)
                .unwrap_or(&[]),
        };
        let (template, plan) = self.templates.plan(instance.def, place)?;
        let mut at = 0;
        while let Some(op) = plan.ops.get(at) {
            at += 1;
            match op {
                Op::Visit { cost } => self.spend_nodes(*cost)?,
                Op::Open {
                    element,
                    role,
                    dependency,
                    after,
                    cost,
                    attr_holes,
                    data,
                } => {
                    if left_out(values, *dependency) {
                        at = *after as usize;
                        continue;
                    }
                    match role {
                        Role::System(SystemField::TimeCreated) => self.stamps.times_read += 1,
                        Role::System(SystemField::RecordId) => self.stamps.records_read += 1,
                        _ => {}
                    }
                    self.spend_nodes(*cost)?;
                    if let Some(literal) = data {
                        self.scratch
                            .builder
                            .start_data(literal, self.limits, 0)
                            .ok()?;
                        self.scratch.text.clear();
                        continue;
                    }
                    let element = template.elements.get(*element as usize)?;
                    // The renderer fails a record that puts a nested fragment in an attribute,
                    // read or not.
                    let nested = |part: &Piece| match part {
                        Piece::Hole { id, .. } => is_nested(values, *id),
                        Piece::Text(_) => false,
                    };
                    if *attr_holes && element.attrs.iter().flat_map(|a| &a.parts).any(nested) {
                        return None;
                    }
                    let attrs = HoleAttrs {
                        attrs: &element.attrs,
                        values,
                        refused: Cell::new(false),
                        lone_surrogates: Cell::new(0),
                        stamp: Cell::new(None),
                    };
                    let builder = &mut self.scratch.builder;
                    builder
                        .start_as(*role, &element.name, &attrs, self.limits, 0)
                        .ok()?;
                    if attrs.refused.get() {
                        return None;
                    }
                    if let Some(hole) = attrs.stamp.get() {
                        self.stamps.time = Some(values.base + usize::from(hole));
                    }
                    self.lone_surrogates += attrs.lone_surrogates.get();
                    self.scratch.text.clear();
                }
                Op::Text(text) => {
                    self.spend_text(text.len())?;
                    self.scratch.text.extend_from_slice(text.as_bytes());
                }
                Op::Hole {
                    id,
                    optional,
                    keep,
                    place,
                } => self.hole(values, *id, *optional, *keep, *place)?,
                Op::Close { element, keep } => self.close(&template, *element, *keep)?,
                Op::CloseNumber {
                    element,
                    id,
                    optional,
                    place,
                    stamp,
                } => match values.get(*id, if *stamp { STAMP } else { CONTENT }) {
                    Some(Value::UInt(n)) => {
                        if *stamp {
                            self.stamps.record = Some((values.base + usize::from(*id), *n));
                        }
                        self.spend_text(digits(*n))?;
                        let element = template.elements.get(*element as usize)?;
                        self.scratch.builder.end_number(&element.name, *n);
                        self.scratch.text.clear();
                    }
                    _ => {
                        self.hole(values, *id, *optional, true, *place)?;
                        self.close(&template, *element, true)?;
                    }
                },
                Op::Inert {
                    dependency,
                    elements,
                    levels,
                    cost,
                    holes: (start, end),
                } => {
                    if left_out(values, *dependency) {
                        continue;
                    }
                    self.spend_nodes(*cost)?;
                    let holes = plan.holes.get(*start as usize..*end as usize)?;
                    // The renderer fails a record that puts a nested fragment in an attribute.
                    if holes.iter().any(|id| is_nested(values, *id)) {
                        return None;
                    }
                    let (elements, levels) = (*elements as usize, *levels as usize);
                    self.scratch
                        .builder
                        .pass_over(elements, levels, self.limits)
                        .ok()?;
                }
            }
        }
        Some(())
    }

    /// A hole among an element's children: its value is text when `keep`, or a nested
    /// instance whose root element sits at `place`.
    fn hole(
        &mut self,
        values: Held<'_, '_>,
        id: u16,
        optional: bool,
        keep: bool,
        place: Place,
    ) -> Option<()> {
        match values.get(id, KIND) {
            None => {}
            Some(Value::Nested(nested)) => self.instance(*nested, place)?,
            Some(Value::Fragment { .. }) => return None,
            Some(value) if optional && value.is_empty() => {}
            Some(_) if !keep => {}
            Some(value) => {
                values.get(id, CONTENT);
                let before = self.scratch.text.len();
                self.lone_surrogates += push_value(&mut self.scratch.text, value)?;
                self.spend_text(self.scratch.text.len() - before)?;
            }
        }
        Some(())
    }

    /// The element at `element` of `template` ends; its text is read when `keep`.
    fn close(&mut self, template: &Template, element: u32, keep: bool) -> Option<()> {
        let element = template.elements.get(element as usize)?;
        let Scratch { builder, text } = &mut *self.scratch;
        let read = if keep {
            std::str::from_utf8(text).ok()?
        } else {
            ""
        };
        builder.end_with(&element.name, read);
        // The parent's text starts again after this child.
        text.clear();
        Some(())
    }

    fn spend_nodes(&mut self, cost: u32) -> Option<()> {
        let Some(left) = self.nodes.checked_sub(cost as usize) else {
            self.over = Some(Over::Nodes);
            return None;
        };
        self.nodes = left;
        Some(())
    }

    fn spend_text(&mut self, n: usize) -> Option<()> {
        let Some(left) = self.budget.checked_sub(n as u64) else {
            self.over = Some(Over::Text);
            return None;
        };
        self.budget = left;
        Some(())
    }
}

/// Whether an element whose DependencyId is `dependency` is left out: the value it names is
/// NULL.
fn left_out(values: Held<'_, '_>, dependency: Option<u16>) -> bool {
    dependency
        .and_then(|d| values.get(d, KIND))
        .is_some_and(|v| matches!(v, Value::Null))
}

/// Whether the value of hole `id` is a nested fragment (which the renderer refuses in an
/// attribute).
fn is_nested(values: Held<'_, '_>, id: u16) -> bool {
    matches!(
        values.get(id, KIND),
        Some(Value::Nested(_) | Value::Fragment { .. })
    )
}

/// How many decimal digits `n` has.
pub(super) fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// An element's attributes for the [`Builder`], resolved when it asks for one.
struct HoleAttrs<'a, 'c> {
    attrs: &'a [Attr],
    values: Held<'a, 'c>,
    /// Set when an attribute read needs what this module does not mirror: XML attribute
    /// normalization (tabs and line ends).
    refused: Cell<bool>,
    lone_surrogates: Cell<u64>,
    /// The hole a time was read from as a FILETIME (see [`super::memo`]).
    stamp: Cell<Option<u16>>,
}

impl HoleAttrs<'_, '_> {
    /// The first attribute with this local name whose value is not empty (an attribute whose
    /// every part is empty is left out, whether optional or not, as the renderer does).
    fn find(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| {
            a.local() == name
                && !a.parts.iter().all(|part| match part {
                    Piece::Text(text) => text.is_empty(),
                    Piece::Hole { id, .. } => {
                        self.values.get(*id, KIND).is_none_or(Value::is_empty)
                    }
                })
        })
    }

    fn refuse<T>(&self) -> Option<T> {
        self.refused.set(true);
        None
    }
}

impl Attrs for HoleAttrs<'_, '_> {
    fn get<'a>(&'a self, name: &str, buf: &'a mut String) -> Option<&'a str> {
        let attr = self.find(name)?;
        if let [Piece::Text(text)] = &attr.parts[..] {
            if text.contains(['\t', '\n', '\r']) {
                return self.refuse();
            }
            return Some(text);
        }
        let mut out = std::mem::take(buf).into_bytes();
        out.clear();
        for part in &attr.parts {
            match part {
                Piece::Text(text) => out.extend_from_slice(text.as_bytes()),
                Piece::Hole { id, optional } => match self.values.get(*id, KIND) {
                    None => {}
                    Some(value) if *optional && value.is_empty() => {}
                    // A nested fragment (not text) never gets here: see `Run::instance`.
                    Some(value) => {
                        self.values.get(*id, CONTENT);
                        match push_value(&mut out, value) {
                            Some(lone) => {
                                self.lone_surrogates.set(self.lone_surrogates.get() + lone);
                            }
                            None => return self.refuse(),
                        }
                    }
                },
            }
        }
        // XML attribute normalization (tabs and line ends) is not mirrored.
        if out.iter().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
            return self.refuse();
        }
        match String::from_utf8(out) {
            Ok(text) => *buf = text,
            Err(_) => return self.refuse(),
        }
        Some(buf.as_str())
    }

    fn plain_names(&self, each: &mut dyn FnMut(&str) -> bool) {
        for attr in self.attrs.iter().filter(|a| a.plain) {
            if !each(&attr.name) {
                return;
            }
        }
    }

    fn number(&self, name: &str) -> Option<u64> {
        match &self.find(name)?.parts[..] {
            [Piece::Hole { id, .. }] => match self.values.get(*id, CONTENT)? {
                Value::UInt(n) => Some(*n),
                _ => None,
            },
            _ => None,
        }
    }

    fn time(&self, name: &str) -> Option<jiff::Timestamp> {
        match &self.find(name)?.parts[..] {
            [Piece::Hole { id, .. }] => match self.values.get(*id, KIND)? {
                Value::FileTime(ft) => {
                    let time = filetime_as_read(*ft)?;
                    self.values.get(*id, STAMP);
                    self.stamp.set(Some(*id));
                    Some(time)
                }
                _ => None,
            },
            _ => None,
        }
    }
}
