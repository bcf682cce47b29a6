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

use std::cell::Cell;
use std::mem::discriminant;

use super::plan::digits;
use super::text::filetime_as_read;
use super::{Instance, Value};
use crate::ingest::eventxml::XmlRecord;

/// What a run saw of a value (bit flags; see the module docs).
pub(super) const KIND: u8 = 1;
pub(super) const CONTENT: u8 = 2;
pub(super) const STAMP: u8 = 4;

/// An instance's values, with a note of each look a run takes at them.
#[derive(Clone, Copy)]
pub(super) struct Held<'a, 'c> {
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
    /// The hole `TimeCreated`'s `SystemTime` was read from as a FILETIME.
    pub(super) time: Option<u16>,
    /// The hole `EventRecordID` was read from as a number, and the number.
    pub(super) record: Option<(u16, u64)>,
    pub(super) times_read: u32,
    pub(super) records_read: u32,
}

/// The last record read of one set of templates, and what its run saw.
pub(super) struct Memo<'c> {
    /// Its template instances, the record's own first.
    instances: Vec<Instance>,
    values: Vec<Value<'c>>,
    uses: Vec<u8>,
    time: Option<u16>,
    record: Option<(u16, u64)>,
    /// What the run gave and spent.
    event: XmlRecord,
    nodes: usize,
    text: u64,
    lone_surrogates: u64,
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

/// What [`Memos::remember`] takes: a run over `instances` that gave `event`.
pub(super) struct Ran<'r, 'c> {
    pub(super) instances: &'r [Instance],
    pub(super) values: &'r [Value<'c>],
    pub(super) uses: &'r [Cell<u8>],
    pub(super) stamps: Stamps,
    pub(super) event: &'r XmlRecord,
    pub(super) nodes: usize,
    pub(super) text: u64,
    pub(super) lone_surrogates: u64,
}

impl<'c> Memos<'c> {
    /// The event of a record of `instances` with `values`, if the record remembered for the
    /// same templates gives it.
    pub(super) fn hit(&self, instances: &[Instance], values: &[Value<'c>]) -> Option<Hit> {
        let memo = self.list.iter().rev().find(|m| m.instances == instances)?;
        if values.len() != memo.values.len() {
            return None;
        }
        for ((new, old), &seen) in values.iter().zip(&memo.values).zip(&memo.uses) {
            let same = if seen & CONTENT != 0 || matches!(new, Value::Nested(_)) {
                new == old
            } else if seen & (STAMP | KIND) != 0 {
                discriminant(new) == discriminant(old) && new.is_empty() == old.is_empty()
            } else {
                true
            };
            if !same {
                return None;
            }
        }
        let time = match memo.time {
            Some(hole) => match values.get(usize::from(hole))? {
                Value::FileTime(ft) => Some(filetime_as_read(*ft)?),
                _ => return None,
            },
            None => memo.event.time,
        };
        let (record_id, text) = match memo.record {
            Some((hole, was)) => match values.get(usize::from(hole))? {
                Value::UInt(n) => (
                    Some(*n),
                    (memo.text - digits(was) as u64).checked_add(digits(*n) as u64)?,
                ),
                _ => return None,
            },
            None => (memo.event.record_id, memo.text),
        };
        Some(Hit {
            record: XmlRecord {
                record_id,
                time,
                bad_time: memo.event.bad_time,
                event: memo.event.event.clone(),
            },
            nodes: memo.nodes,
            text,
            lone_surrogates: memo.lone_surrogates,
        })
    }

    /// Remember `ran` for its templates, in place of the record remembered before, when a hit
    /// can stand for its run (see the module docs).
    pub(super) fn remember(&mut self, ran: Ran<'_, 'c>) {
        let Ran {
            instances,
            values,
            uses,
            stamps,
            event,
            nodes,
            text,
            lone_surrogates,
        } = ran;
        self.list.retain(|m| m.instances != instances);
        if stamps.times_read > 1 || stamps.records_read > 1 || uses.len() != values.len() {
            return;
        }
        if self.list.len() == MAX_MEMOS {
            self.list.remove(0);
        }
        let memo = Memo {
            instances: instances.to_vec(),
            values: values.to_vec(),
            uses: uses.iter().map(Cell::get).collect(),
            time: stamps.time,
            record: stamps.record,
            event: XmlRecord {
                record_id: event.record_id,
                time: event.time,
                bad_time: event.bad_time,
                event: event.event.clone(),
            },
            nodes,
            text,
            lone_surrogates,
        };
        self.list.push(memo);
    }
}
