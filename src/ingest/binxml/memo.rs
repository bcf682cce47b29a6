//! A flood read once: a record whose values are, where its run looks at them, those of the
//! last record read of the same template gives that record's event again, without running the
//! plan.
//!
//! A log flood (tens of thousands of Schannel alerts, the same service error every second)
//! repeats one template with the same values but for a few: the time, the record number, the
//! thread. A run of a plan is decided by the values it reads, and by nothing else but the
//! template: so while it runs, every look at a value is noted ([`Held`]), with how much of the
//! value it saw:
//! - its kind only (NULL or not, empty or not, a nested fragment or not: a `DependencyId`, an
//!   optional hole, an attribute the builder does not read, a hole whose text is dropped);
//! - its content (text written, a number read);
//! - or the one thing a record is expected to differ in: `TimeCreated`'s `SystemTime` read as a
//!   FILETIME, `EventRecordID` read as a number (a "stamp").
//!
//! The next record of the same template then gives the same event if every value looked at
//! for content is equal, every value looked at for kind only is of the same kind, and the
//! stamps are of the same type (their values are read off the record itself). Anything else
//! is a miss: the plan runs, and that record becomes the one remembered. Nested instances
//! (a System log's `EventData` is often one) must have the same templates, in the same
//! places, as the remembered record's. A record is only remembered when it reads at most one
//! `TimeCreated` and one `EventRecordID`, so that what a hit reads off it is exactly what the
//! run would have set last. A hit spends the nodes and text the run would have.
//!
//! Most of a flood's records are found before their values are even read: the record's bytes
//! are those of a remembered record but where that record's run did not look at content (its
//! time, number, thread). Equal elsewhere, the two records hold the same templates and value
//! layout and the same content where it was read; the values in between are read alone, and
//! checked as above.

use std::cell::Cell;
use std::mem::discriminant;

use super::plan::digits;
use super::text::filetime_as_read;
use super::{Instance, Record, Value, value};
use crate::ingest::eventxml::XmlRecord;

/// What a run saw of a value (bit flags; see the module docs).
pub(super) const KIND: u8 = 1;
pub(super) const CONTENT: u8 = 2;
pub(super) const STAMP: u8 = 4;

/// An instance's values, with a note of each look a run takes at them.
#[derive(Clone, Copy)]
pub(super) struct Held<'a, 'c> {
    /// Where the instance's values start in the record's.
    pub(super) base: usize,
    pub(super) list: &'a [Value<'c>],
    pub(super) uses: &'a [Cell<u8>],
}

impl<'a, 'c> Held<'a, 'c> {
    /// The value of hole `id`, looked at for what `what` says.
    pub(super) fn get(&self, id: u16, what: u8) -> Option<&'a Value<'c>> {
        let i = usize::from(id);
        if let Some(seen) = self.uses.get(i) {
            seen.set(seen.get() | what);
        }
        self.list.get(i)
    }
}

/// What a run noted besides its looks at values: which holes held the stamps, and how many
/// `TimeCreated` and `EventRecordID` elements it read (more than one of either: not
/// remembered, since a hit reads one of each).
#[derive(Default)]
pub(super) struct Stamps {
    /// The value (its index among the record's) `TimeCreated`'s `SystemTime` was read from as
    /// a FILETIME.
    pub(super) time: Option<usize>,
    /// The value `EventRecordID` was read from as a number, and the number.
    pub(super) record: Option<(usize, u64)>,
    pub(super) times_read: u32,
    pub(super) records_read: u32,
}

/// The last record read of one set of templates, and what its run saw.
pub(super) struct Memo<'c> {
    /// Its template instances, the record's own first.
    instances: Vec<Instance>,
    values: Vec<Value<'c>>,
    uses: Vec<u8>,
    time: Option<usize>,
    record: Option<(usize, u64)>,
    /// The BinXML of the last record it gave, up to its end-of-stream token (what follows is
    /// not read), and its values whose content the run did not read, by place in it.
    bytes: &'c [u8],
    loose: Vec<Loose>,
    /// What the run gave and spent.
    event: XmlRecord,
    nodes: usize,
    text: u64,
    lone_surrogates: u64,
}

/// A value whose content the run did not read: where it is in the record's BinXML, its type,
/// its index among the record's values, and whether another record's value there must be
/// read to be checked (see [`must_read`]).
struct Loose {
    at: usize,
    len: usize,
    ty: u8,
    index: usize,
    read: bool,
}

/// Whether a value of type `ty` in a place its run looked at as `seen` must be read to know
/// that another value of the same type and size there is alike: a stamp always; a value of a
/// type whose every value of a given size reads, and is of one kind, never.
fn must_read(ty: u8, seen: u8) -> bool {
    match ty {
        _ if seen & STAMP != 0 => true,
        // ASCII only; a SID's size follows its count byte.
        0x02 | 0x13 => true,
        // A string's emptiness is where its first NUL is; a bool slot can hold a number.
        0x01 | 0x0d => seen & KIND != 0,
        _ => false,
    }
}

/// What a hit gives: the record, and the nodes and text its run would have spent.
pub(super) struct Hit {
    pub(super) record: XmlRecord,
    pub(super) nodes: usize,
    pub(super) text: u64,
    pub(super) lone_surrogates: u64,
}

/// Records remembered per chunk: one per set of templates (a System log's records share one
/// template for `<System>` and differ in the nested one of their `EventData`), the most
/// recently read last. A chunk uses a few tens of templates at most, so a list beats hashing.
const MAX_MEMOS: usize = 16;

/// The chunk's remembered records, at most [`MAX_MEMOS`].
#[derive(Default)]
pub(super) struct Memos<'c> {
    list: Vec<Memo<'c>>,
}

/// What [`Memos::remember`] takes: a run over a record that gave `event`.
pub(super) struct Ran<'r, 'c> {
    pub(super) read: Record<'r, 'c>,
    pub(super) uses: &'r [Cell<u8>],
    pub(super) stamps: Stamps,
    pub(super) event: &'r XmlRecord,
    pub(super) nodes: usize,
    pub(super) text: u64,
    pub(super) lone_surrogates: u64,
}

/// Is `new` what a run that saw `seen` of `old` cannot tell from it?
fn alike(seen: u8, new: &Value<'_>, old: &Value<'_>) -> bool {
    if seen & CONTENT != 0 || matches!(new, Value::Nested(_)) {
        new == old
    } else if seen & (STAMP | KIND) != 0 {
        discriminant(new) == discriminant(old) && new.is_empty() == old.is_empty()
    } else {
        true
    }
}

impl<'c> Memos<'c> {
    /// The event of the record whose BinXML is `stream` (at `start` in the chunk), if it is a
    /// remembered record's byte for byte up to that one's end-of-stream token, but in values
    /// whose content that record's run did not read, and those values are alike.
    pub(super) fn same_bytes(&self, stream: &'c [u8], start: usize) -> Option<Hit> {
        'memos: for memo in self.list.iter().rev() {
            let end = memo.bytes.len();
            if end == 0 || !matches!(stream.get(end..), Some([] | [0x00, ..])) {
                continue;
            }
            let stream = &stream[..end];
            let mut from = 0;
            for loose in &memo.loose {
                if stream.get(from..loose.at)? != memo.bytes.get(from..loose.at)? {
                    continue 'memos;
                }
                from = loose.at + loose.len;
            }
            if stream.get(from..)? != memo.bytes.get(from..)? {
                continue;
            }
            // The stamps read off this record; a stamp whose content was read is the memo's.
            let (mut time, mut record) = (None, None);
            for loose in memo.loose.iter().filter(|l| l.read) {
                let bytes = stream.get(loose.at..loose.at + loose.len)?;
                let new = value(loose.ty, bytes, start + loose.at)?;
                let seen = *memo.uses.get(loose.index)?;
                if !alike(seen, &new, memo.values.get(loose.index)?) {
                    return None;
                }
                if memo.time == Some(loose.index) {
                    time = Some(new);
                } else if memo.record.is_some_and(|(i, _)| i == loose.index) {
                    record = Some(new);
                }
            }
            let time = time.as_ref().or_else(|| memo.values.get(memo.time?));
            let record = record.as_ref().or_else(|| memo.values.get(memo.record?.0));
            return memo.answer(time, record);
        }
        None
    }

    /// The event of the record `read`, if the record remembered for the same templates gives
    /// it. The remembered record's bytes become this one's, for [`Self::same_bytes`] to find
    /// the next.
    pub(super) fn same_values(&mut self, read: &Record<'_, 'c>) -> Option<Hit> {
        let memo = self
            .list
            .iter_mut()
            .rev()
            .find(|m| m.instances == read.instances)?;
        if read.values.len() != memo.values.len() {
            return None;
        }
        for ((new, old), &seen) in read.values.iter().zip(&memo.values).zip(&memo.uses) {
            if !alike(seen, new, old) {
                return None;
            }
        }
        let time = memo.time.and_then(|i| read.values.get(i));
        let record = memo.record.and_then(|(i, _)| read.values.get(i));
        let hit = memo.answer(time, record)?;
        (memo.bytes, memo.loose) = loose(read, &memo.uses);
        Some(hit)
    }

    /// Remember `ran` for its templates, in place of the record remembered before, when a hit
    /// can stand for its run (see the module docs).
    pub(super) fn remember(&mut self, ran: Ran<'_, 'c>) {
        let Ran {
            read,
            uses,
            stamps,
            event,
            nodes,
            text,
            lone_surrogates,
        } = ran;
        self.list.retain(|m| m.instances != read.instances);
        if stamps.times_read > 1 || stamps.records_read > 1 || uses.len() != read.values.len() {
            return;
        }
        if self.list.len() == MAX_MEMOS {
            self.list.remove(0);
        }
        let uses: Vec<u8> = uses.iter().map(Cell::get).collect();
        let (bytes, loose) = loose(&read, &uses);
        self.list.push(Memo {
            instances: read.instances.to_vec(),
            values: read.values.to_vec(),
            loose,
            uses,
            time: stamps.time,
            record: stamps.record,
            bytes,
            event: event.clone(),
            nodes,
            text,
            lone_surrogates,
        });
    }
}

impl Memo<'_> {
    /// What a record alike this one gives, its stamps read from the values `time` and
    /// `record`.
    fn answer(&self, time: Option<&Value<'_>>, record: Option<&Value<'_>>) -> Option<Hit> {
        let time = match time {
            Some(Value::FileTime(ft)) => Some(filetime_as_read(*ft)?),
            Some(_) => return None,
            None => self.event.time,
        };
        let (record_id, text) = match (self.record, record) {
            (Some((_, was)), Some(Value::UInt(n))) => (
                Some(*n),
                (self.text.checked_sub(digits(was) as u64)?).checked_add(digits(*n) as u64)?,
            ),
            (Some(_), _) => return None,
            (None, _) => (self.event.record_id, self.text),
        };
        Some(Hit {
            record: XmlRecord {
                record_id,
                time,
                bad_time: self.event.bad_time,
                event: self.event.event.clone(),
            },
            nodes: self.nodes,
            text,
            lone_surrogates: self.lone_surrogates,
        })
    }
}

/// The record's BinXML, and its values whose content its run did not read (nested instances
/// aside: their bytes hold the values inside them), in the order they sit in it. No bytes
/// (nothing is found by them) if a value is not within them.
fn loose<'c>(read: &Record<'_, 'c>, uses: &[u8]) -> (&'c [u8], Vec<Loose>) {
    let mut loose = Vec::new();
    for (index, ((value, span), seen)) in read.values.iter().zip(read.spans).zip(uses).enumerate() {
        if seen & CONTENT != 0 || matches!(value, Value::Nested(_)) {
            continue;
        }
        let at = span.at.wrapping_sub(read.start);
        if span.at < read.start || at.saturating_add(span.len) > read.stream.len() {
            return (&[], Vec::new());
        }
        loose.push(Loose {
            at,
            len: span.len,
            ty: span.ty,
            index,
            read: must_read(span.ty, *seen),
        });
    }
    loose.sort_by_key(|l| l.at);
    (read.stream, loose)
}
