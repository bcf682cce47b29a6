//! Template definitions: a chunk's stored element tree with its numbered holes, parsed once
//! per chunk into an arena the walk fills with each record's values.

use super::text::push_utf16;
use super::{Cursor, MAX_TEMPLATE_DEPTH, until_nul};
use crate::ingest::eventxml::{is_name_byte, is_plain, strip_prefix_ns};

/// A parsed template definition: elements in an arena, the root first.
pub(super) struct Template {
    pub(super) elements: Vec<Element>,
}

pub(super) struct Element {
    /// The local name (after any `prefix:`).
    pub(super) name: Box<str>,
    /// The value whose being NULL leaves this element out.
    pub(super) dependency: Option<u16>,
    pub(super) attrs: Vec<Attr>,
    pub(super) children: Vec<Node>,
}

pub(super) struct Attr {
    /// The name as written, prefix included (`xmlns:p` is not a fact).
    pub(super) name: Box<str>,
    /// Where its local part starts in `name` (after any `prefix:`): attributes are looked up
    /// by it.
    pub(super) local_at: usize,
    /// Whether it is kept as a field: a plain name (no prefix, not `xmlns`) that no attribute
    /// before it in the element has.
    pub(super) plain: bool,
    pub(super) parts: Vec<Part>,
}

impl Attr {
    pub(super) fn local(&self) -> &str {
        self.name.get(self.local_at..).unwrap_or("")
    }
}

pub(super) enum Part {
    /// Literal text, as read back from the rendered XML.
    Text(Box<str>),
    Hole {
        id: u16,
        optional: bool,
    },
}

pub(super) enum Node {
    Element(usize),
    Part(Part),
}

/// Parse the template definition at `offset` in the chunk, within what the chunk may still
/// parse (`budget`, in bytes); `None` when it is malformed, holds a token this module does not
/// handle, or is over the budget.
pub(super) fn parse_template(data: &[u8], offset: u32, budget: &mut usize) -> Option<Template> {
    let mut cur = Cursor {
        data,
        pos: offset as usize,
    };
    cur.skip(20)?;
    let size = cur.u32()? as usize;
    *budget = budget.checked_sub(size)?;
    let end = cur.pos.checked_add(size)?;
    if end > data.len() {
        return None;
    }
    let mut elements: Vec<Element> = Vec::new();
    // The element whose start tag is being read, and the attribute being read.
    let mut current: Option<Element> = None;
    let mut stack: Vec<usize> = Vec::new();
    let mut root: Option<usize> = None;
    while cur.pos < end {
        let token = cur.u8()?;
        match token {
            0x00 => break,
            0x0f => cur.skip(3)?,
            0x01 | 0x41 => {
                if current.is_some() {
                    return None;
                }
                let dependency = cur.u16()?;
                let _size = cur.u32()?;
                let name = name_at(&mut cur)?;
                if token == 0x41 {
                    cur.skip(4)?;
                }
                current = Some(Element {
                    name,
                    dependency: (dependency != 0xffff).then_some(dependency),
                    attrs: Vec::new(),
                    children: Vec::new(),
                });
            }
            0x06 | 0x46 => {
                let name = full_name_at(&mut cur)?;
                let element = current.as_mut()?;
                drop_if_empty(element);
                let local_at = name.len() - strip_prefix_ns(&name).len();
                let plain = is_plain(&name) && !element.attrs.iter().any(|a| a.name == name);
                element.attrs.push(Attr {
                    name,
                    local_at,
                    plain,
                    parts: Vec::new(),
                });
            }
            0x05 | 0x45 => {
                // Literal values in definitions are strings; other types are rendered instead.
                if cur.u8()? != 0x01 {
                    return None;
                }
                let units = cur.u16()? as usize;
                let bytes = cur.take(units.checked_mul(2)?)?;
                let mut text = Vec::new();
                push_utf16(&mut text, until_nul(bytes));
                let text = String::from_utf8(text).ok()?;
                push_part(&mut current, &stack, &mut elements, Part::Text(text.into()))?;
            }
            0x0d | 0x0e => {
                let id = cur.u16()?;
                // The crate refuses a substitution declaring a type it does not know, and with
                // it every record of the template: such a template is left to it.
                if !known_type(cur.u8()?) {
                    return None;
                }
                let hole = Part::Hole {
                    id,
                    optional: token == 0x0e,
                };
                push_part(&mut current, &stack, &mut elements, hole)?;
            }
            0x02 => {
                let mut element = current.take()?;
                drop_if_empty(&mut element);
                if stack.len() >= MAX_TEMPLATE_DEPTH {
                    return None;
                }
                elements.push(element);
                stack.push(elements.len() - 1);
            }
            0x03 => {
                let mut element = current.take()?;
                drop_if_empty(&mut element);
                elements.push(element);
                let id = elements.len() - 1;
                attach(&mut elements, &stack, &mut root, id)?;
            }
            0x04 => {
                if current.is_some() {
                    return None;
                }
                let id = stack.pop()?;
                attach(&mut elements, &stack, &mut root, id)?;
            }
            // CDATA, character and entity references, processing instructions, nested
            // instances: rendered instead.
            _ => return None,
        }
    }
    if current.is_some() || !stack.is_empty() {
        return None;
    }
    let root = root?;
    // The walk starts from the root; put it first.
    if root != 0 {
        return None;
    }
    Some(Template { elements })
}

/// An attribute whose value has no part at all is dropped when the next one starts or the
/// start tag closes, as the crate does.
/// A BinXML value type evtx 0.15.1 knows (its `BinXmlValueType`).
fn known_type(ty: u8) -> bool {
    matches!(ty, 0x00..=0x15 | 0x20 | 0x21 | 0x23 | 0x81..=0x95)
}

fn drop_if_empty(element: &mut Element) {
    if element.attrs.last().is_some_and(|a| a.parts.is_empty()) {
        element.attrs.pop();
    }
}

/// A value or hole goes to the attribute being read, or else to the open element. Outside
/// both it is a malformed template.
fn push_part(
    current: &mut Option<Element>,
    stack: &[usize],
    elements: &mut [Element],
    part: Part,
) -> Option<()> {
    match current {
        // A part before any attribute of a start tag is dropped, as the crate drops it.
        Some(element) => {
            if let Some(attr) = element.attrs.last_mut() {
                attr.parts.push(part);
            }
        }
        None => elements
            .get_mut(*stack.last()?)?
            .children
            .push(Node::Part(part)),
    }
    Some(())
}

/// Attach a closed element to its parent, or make it the root (a second root is refused).
fn attach(
    elements: &mut [Element],
    stack: &[usize],
    root: &mut Option<usize>,
    id: usize,
) -> Option<()> {
    match stack.last() {
        Some(&parent) => elements.get_mut(parent)?.children.push(Node::Element(id)),
        None if root.is_none() => *root = Some(id),
        None => return None,
    }
    Some(())
}

/// The name a name reference points to: its local part, and only if the XML fast path would
/// accept it in a tag. A name stored right after the reference is skipped over.
fn name_at(cur: &mut Cursor<'_>) -> Option<Box<str>> {
    full_name_at(cur).map(|name| strip_prefix_ns(&name).into())
}

/// [`name_at`] with its namespace prefix kept (attribute names: `xmlns:p` is not a fact).
fn full_name_at(cur: &mut Cursor<'_>) -> Option<Box<str>> {
    let offset = cur.u32()? as usize;
    let mut at = Cursor {
        data: cur.data,
        pos: offset,
    };
    at.skip(6)?;
    let units = at.u16()? as usize;
    let bytes = at.take(units.checked_mul(2)?)?;
    if offset == cur.pos {
        // The name itself, then its NUL.
        cur.pos = at.pos;
        cur.skip(2)?;
    }
    // Names are nearly always ASCII: those need no decoding.
    let name = if bytes.chunks_exact(2).all(|u| u[1] == 0 && u[0] < 0x80) {
        String::from_utf8(bytes.iter().step_by(2).copied().collect()).ok()?
    } else {
        let units = bytes
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]]));
        char::decode_utf16(units).collect::<Result<_, _>>().ok()?
    };
    if name.is_empty() || !name.bytes().all(is_name_byte) {
        return None;
    }
    Some(name.into())
}
