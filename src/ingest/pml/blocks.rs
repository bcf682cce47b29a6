//! The events of a capture, block by block: each block is a run of the event-offset array and
//! the span of the file its events lie in, read once. On one thread the blocks are read in
//! turn and each event is decoded, numbered and judged at once ([`read_serial`]), so a row not
//! kept is filled again by the next event while it is still in the core's nearest cache. On
//! more, a plain file is read in lanes ([`super::lanes`]); any other source here: the reader
//! hands blocks to the run's pool as tasks of their own, a few at a time, and decodes the
//! others itself (a few blocks ahead at most); decoded blocks
//! are numbered in order as they come back, split into kept and dropped events (the rule
//! prefilter sees each event with its record number) and handed on in block order. No step
//! waits for all the pool's threads at once, so a thread that the machine descheduled holds up
//! only its own block, and the output is the same for any thread count. Every path numbers
//! an event with the same step ([`Counter::number`]) and adds a block's part to the account
//! with [`merge`].

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::mpsc;

use super::event::{self, Context, Decoded, Fault, Window};
use super::{
    MAX_SPARE_BYTES, MAX_WINDOW, OFFSET_ENTRY, TAIL, Tally, WINDOW_SHARE, decode_patched,
    note_damage, read_at, read_into,
};
use crate::model::{At, Event, EventKind, FileAccount, ProcmonRow};

/// Events per block.
pub(super) const BLOCK: usize = 512;
/// Blocks read ahead of the one being handed on, per thread of the pool.
pub(super) const AHEAD_PER_THREAD: usize = 2;
/// Blocks handed to the pool's other threads and not yet back, per thread: more than one, so
/// that a thread never waits for the reader to hand it its next block.
const ON_POOL_PER_THREAD: usize = 2;

/// Rows not kept, boxed as events hold them: filling one again moves no row.
#[allow(clippy::vec_box)]
pub(super) type SpareRows = Vec<Box<ProcmonRow>>;

/// What the capture's reading needs besides the stream.
pub(super) struct Source<'a> {
    pub(super) ctx: &'a Context<'a>,
    pub(super) len: u64,
    /// Where the event-offset array starts, and how many events it holds.
    pub(super) offsets_array: u64,
    pub(super) count: u64,
    /// The events that start inside an earlier one's header, not decoded
    /// ([`super::repeated_events`]).
    pub(super) repeats: &'a [u64],
}

/// What a run of blocks reports to: the file's account and the events handed on.
pub(super) struct Sink<'a, 'b> {
    pub(super) file: &'a Arc<str>,
    pub(super) keep: &'a crate::ingest::Keep<'a>,
    /// [`crate::ingest::IngestOptions::keep_reads_record`].
    pub(super) keep_reads_record: bool,
    pub(super) send: &'a mut dyn FnMut(Vec<Event>),
    pub(super) account: &'b mut FileAccount,
    pub(super) tally: &'b mut Tally,
}

/// A block read from the file.
pub(super) struct Block {
    /// Its place among the blocks.
    seq: u64,
    /// The index of its first event.
    first: u64,
    offsets: Vec<u64>,
    /// Which of them ([`Source::repeats`]), by place in the block, ascending.
    repeats: Vec<usize>,
    window: Window,
    /// Rows not kept by an earlier block, to fill again.
    slots: Vec<Option<Box<ProcmonRow>>>,
}

impl Block {
    /// Decode the block's `i`th event, at `off` of a file `len` bytes long, into `row` when
    /// given (not when it repeats an earlier one, nor past the file's end).
    fn decode(
        &self,
        i: usize,
        off: u64,
        ctx: &Context<'_>,
        len: u64,
        row: Option<Box<ProcmonRow>>,
        scratch: &mut event::Scratch,
    ) -> Result<Decoded, Fault> {
        if self.repeats.binary_search(&i).is_ok() {
            return Err(Fault::Damaged(
                "it starts inside the header of an event listed earlier (the event-offset array names it twice)".into(),
            ));
        }
        if off >= len {
            return Err(Fault::Damaged(format!(
                "its offset {off:#x} is past the end of the file ({len} bytes)"
            )));
        }
        event::decode(&self.window, off, ctx, row, scratch)
    }

    /// Events of the block without a row to fill again yet.
    pub(super) fn rows_missing(&self) -> usize {
        self.offsets.len().saturating_sub(self.slots.len())
    }
}

/// A block decoded.
pub(super) struct Done {
    block: Block,
    decoded: Vec<Result<Decoded, Fault>>,
}

/// Read the block of `n` events from event `first`; `Err` says why the event-offset array
/// cannot be read there (the rest of the file's events are lost: see [`lost_from`]).
pub(super) fn read_block(
    src: &mut (impl Read + Seek),
    source: &Source<'_>,
    seq: u64,
    first: u64,
    spare: Vec<u8>,
) -> Result<Block, String> {
    let n = (source.count - first).min(BLOCK as u64);
    // The next block's first entry too, where there is one: where that event starts is where
    // this block's last one ends in a capture written in order.
    let with_next = n + u64::from(first + n < source.count);
    let entries = match read_at(
        src,
        source.offsets_array + first * OFFSET_ENTRY,
        with_next * OFFSET_ENTRY,
    ) {
        // Without the next block's entry (the array cut there) this block still reads.
        Ok(b) if b.len() as u64 >= n * OFFSET_ENTRY => b,
        Ok(_) | Err(_) => {
            return Err(format!(
                "cannot read the event-offset array from event {}: the rest are lost",
                first + 1
            ));
        }
    };
    let mut offsets: Vec<u64> = entries
        .chunks_exact(OFFSET_ENTRY as usize)
        .map(super::entry_offset)
        .collect();
    let next = if offsets.len() as u64 > n {
        offsets.pop()
    } else {
        None
    };
    // The block's share of the file, a few times over: a block whose events lie in order
    // spans about its share.
    let per_event = source.len.div_ceil(source.count.max(1));
    let span = (offsets.len() as u64)
        .saturating_mul(per_event)
        .saturating_mul(WINDOW_SHARE)
        .saturating_add(TAIL);
    let window = read_window(src, &offsets, next, source.len, span, spare);
    let from = source.repeats.partition_point(|&r| r < first);
    let repeats = source.repeats[from..]
        .iter()
        .take_while(|&&r| r < first + n)
        .map(|&r| (r - first) as usize)
        .collect();
    Ok(Block {
        seq,
        first,
        offsets,
        repeats,
        window,
        slots: Vec::new(),
    })
}

/// Account for a block whose event-offset array could not be read ([`read_block`]).
pub(super) fn lost_from(account: &mut FileAccount, why: String) {
    account.errors += 1;
    account.damaged(why);
}

/// Read the span of the file a block's events lie in: up to `next`, where the event after
/// the block starts, when it lies past the block's last one and within [`TAIL`] of it, else
/// [`TAIL`] past that last one. An event that runs past the span (a capture not written in
/// order) is read again on its own ([`settle`]), so the bound changes what is read, never
/// what is decoded. The span is at most `span` bytes (and [`MAX_WINDOW`]).
pub(super) fn read_window(
    src: &mut (impl Read + Seek),
    offsets: &[u64],
    next: Option<u64>,
    len: u64,
    span: u64,
    spare: Vec<u8>,
) -> Window {
    let inside = offsets.iter().copied().filter(|&o| o < len);
    let (Some(lo), Some(hi)) = (inside.clone().min(), inside.max()) else {
        return Window {
            base: 0,
            data: Vec::new(),
        };
    };
    let tail = hi.saturating_add(TAIL);
    let end = next
        .filter(|&n| n > hi && n < tail)
        .unwrap_or(tail)
        .min(len)
        .min(lo.saturating_add(MAX_WINDOW.min(span)));
    match read_into(src, lo, end - lo, spare) {
        Ok(data) => Window { base: lo, data },
        Err(_) => Window {
            base: 0,
            data: Vec::new(),
        },
    }
}

/// Decode a block's events (on whichever thread runs it).
pub(super) fn decode_block(mut block: Block, ctx: &Context<'_>, len: u64) -> Done {
    let mut slots = std::mem::take(&mut block.slots);
    slots.resize_with(block.offsets.len(), || None);
    let decoded = event::with_scratch(|scratch| {
        block
            .offsets
            .iter()
            .zip(slots)
            .enumerate()
            .map(|(i, (&off, row))| block.decode(i, off, ctx, len, row, scratch))
            .collect()
    });
    Done { block, decoded }
}

/// A block decoded to the end: every event's result final, parts outside its window read.
pub(super) struct Settled {
    first: u64,
    offsets: Vec<u64>,
    results: Vec<Result<Decoded, Fault>>,
    /// Its events that become rows (the record numbers it takes).
    pub(super) rows: u64,
}

/// Decode again, reading what lies outside the window, each event that needs it: the block,
/// and the window's buffer for a later block.
pub(super) fn settle(
    done: Done,
    src: &mut (impl Read + Seek),
    source: &Source<'_>,
) -> (Settled, Vec<u8>) {
    let Done { block, decoded } = done;
    let results: Vec<Result<Decoded, Fault>> = decoded
        .into_iter()
        .zip(&block.offsets)
        .map(|(result, &off)| match result {
            Err(Fault::Miss(_)) => decode_patched(src, &block.window, off, source.len, source.ctx),
            other => other,
        })
        .collect();
    let rows = results
        .iter()
        .filter(|r| matches!(r, Ok(Decoded::Row { .. })))
        .count() as u64;
    let settled = Settled {
        first: block.first,
        offsets: block.offsets,
        results,
        rows,
    };
    (settled, block.window.data)
}

/// What one block adds to the file's account; added in block order ([`merge`]).
#[derive(Default)]
pub(super) struct Part {
    events: u64,
    errors: u64,
    profiling: u64,
    cut_details: u64,
    orphans: u64,
    overlaps: u64,
    timed: u64,
    undecoded: BTreeMap<String, u64>,
    /// Damaged events, in order, for the account's list.
    damage: Vec<(At, String)>,
}

/// Number a settled block's events after the `before` rows of the blocks before it and ask
/// `keep` about each (on whichever thread decoded the block: its rows are still in that core's
/// cache): the events kept, the rows of the others to fill again (those of ordinary size: a
/// kept row never holds much more memory than its own text), and the block's part of the
/// account.
pub(super) fn number(
    settled: Settled,
    before: u64,
    file: &Arc<str>,
    keep: &crate::ingest::Keep<'_>,
) -> (Vec<Event>, SpareRows, Part) {
    let Settled {
        first,
        offsets,
        results,
        rows: _,
    } = settled;
    let mut counter = Counter::new(before, file, keep);
    let mut spare = Vec::new();
    for (i, (result, off)) in results.into_iter().zip(offsets).enumerate() {
        spare.extend(counter.number(result, first + i as u64 + 1, off));
    }
    (counter.kept, spare, counter.part)
}

/// Numbers events one by one, in order: [`number`]'s step.
pub(super) struct Counter<'a, 'k> {
    /// Rows numbered so far (the record number of the last).
    pub(super) record: u64,
    file: &'a Arc<str>,
    keep: &'a crate::ingest::Keep<'k>,
    pub(super) part: Part,
    pub(super) kept: Vec<Event>,
}

impl<'a, 'k> Counter<'a, 'k> {
    /// A counter whose next row is numbered `record + 1`.
    fn new(record: u64, file: &'a Arc<str>, keep: &'a crate::ingest::Keep<'k>) -> Self {
        Counter {
            record,
            file,
            keep,
            part: Part::default(),
            kept: Vec::new(),
        }
    }

    /// Number the settled event `number` (its place in the event-offset array, from 1) at
    /// `off`; the row to fill again when it is not kept (and of ordinary size).
    fn number(
        &mut self,
        result: Result<Decoded, Fault>,
        number: u64,
        off: u64,
    ) -> Option<Box<ProcmonRow>> {
        let part = &mut self.part;
        let at = At {
            record: Some(number),
            offset: Some(off),
            ..At::default()
        };
        match result {
            Ok(Decoded::Profiling) => part.profiling += 1,
            Ok(Decoded::Row {
                row,
                time,
                cut,
                undecoded,
                orphan,
                overlaps,
            }) => {
                self.record += 1;
                part.events += 1;
                if let Some(op) = undecoded {
                    *part.undecoded.entry(op).or_default() += 1;
                }
                if cut {
                    part.cut_details += 1;
                    part.damage.push((
                        at,
                        format!(
                            "event {number} ({}): its detail runs past the event; the fields before the cut are kept",
                            row.operation
                        ),
                    ));
                }
                part.orphans += u64::from(orphan);
                part.overlaps += u64::from(overlaps);
                part.timed += u64::from(time.is_some());
                let mut e = Event {
                    file: Arc::clone(self.file),
                    record: self.record,
                    time,
                    kind: EventKind::Procmon(row),
                    marks: Default::default(),
                };
                if (self.keep)(&mut e) {
                    self.kept.push(e);
                } else if let EventKind::Procmon(row) = e.kind
                    && row.heap_bytes() <= MAX_SPARE_BYTES
                {
                    return Some(row);
                }
            }
            Err(Fault::Damaged(why)) => {
                part.errors += 1;
                part.damage.push((
                    at,
                    format!("event {number} at offset {off:#x}: {why}; not read"),
                ));
            }
            Err(Fault::Miss(m)) => {
                part.errors += 1;
                part.damage.push((
                    at,
                    format!(
                        "event {number} at offset {off:#x}: needs bytes {:#x}..{:#x}, outside the file; not read",
                        m.off,
                        m.off.saturating_add(m.len as u64)
                    ),
                ));
            }
        }
        None
    }
}

/// Add a block's part to the file's account (blocks in order: damage is listed in order).
pub(super) fn merge(part: Part, account: &mut FileAccount, tally: &mut Tally) {
    account.events += part.events;
    account.errors += part.errors;
    tally.profiling += part.profiling;
    tally.cut_details += part.cut_details;
    tally.orphans += part.orphans;
    tally.overlaps += part.overlaps;
    tally.timed += part.timed;
    for (op, n) in part.undecoded {
        *tally.undecoded.entry(op).or_default() += n;
    }
    for (at, message) in part.damage {
        note_damage(account, tally, at, message);
    }
}

/// Settle, number and account for a decoded block, on this thread: the events kept, the rows
/// not kept and the window's buffer.
fn finish_block(
    done: Done,
    src: &mut (impl Read + Seek),
    source: &Source<'_>,
    record: &mut u64,
    sink: &mut Sink<'_, '_>,
) -> (Vec<Event>, SpareRows, Vec<u8>) {
    let (settled, data) = settle(done, src, source);
    let before = *record;
    *record += settled.rows;
    let (kept, rows, part) = number(settled, before, sink.file, sink.keep);
    merge(part, sink.account, sink.tally);
    (kept, rows, data)
}

/// Hand rows from `spare_rows` to `block`, up to one for each of its events: the rows not kept
/// (a second call tops up from another store).
pub(super) fn refill(block: &mut Block, spare_rows: &mut SpareRows) {
    let n = block
        .offsets
        .len()
        .saturating_sub(block.slots.len())
        .min(spare_rows.len());
    block
        .slots
        .extend(spare_rows.drain(spare_rows.len() - n..).map(Some));
}

/// A block's events decoded, numbered and judged on one thread ([`judge_block`]).
pub(super) struct Judged {
    pub(super) kept: Vec<Event>,
    pub(super) part: Part,
    /// Its events that became rows (the record numbers it takes).
    pub(super) rows: u64,
}

/// Decode, number and judge each of `block`'s events in turn on this thread, its first row
/// numbered `base + 1`, so that the row of an event not kept is filled again by the very next
/// event while it is still in the core's nearest cache. Rows to fill come from `rows`, and the
/// last one not kept goes back there; the window's buffer is given back for a later block.
pub(super) fn judge_block(
    block: Block,
    base: u64,
    src: &mut (impl Read + Seek),
    source: &Source<'_>,
    file: &Arc<str>,
    keep: &crate::ingest::Keep<'_>,
    rows: &mut SpareRows,
) -> (Judged, Vec<u8>) {
    let (ctx, len) = (source.ctx, source.len);
    let mut counter = Counter::new(base, file, keep);
    let mut row = rows.pop();
    event::with_scratch(|scratch| {
        for (i, &off) in block.offsets.iter().enumerate() {
            let fill = row.take().or_else(|| rows.pop());
            let result = match block.decode(i, off, ctx, len, fill, scratch) {
                // Parts outside the window: read them and decode again.
                Err(Fault::Miss(_)) => decode_patched(src, &block.window, off, len, ctx),
                other => other,
            };
            row = counter.number(result, block.first + i as u64 + 1, off);
        }
    });
    rows.extend(row);
    let judged = Judged {
        rows: counter.record - base,
        kept: counter.kept,
        part: counter.part,
    };
    (judged, block.window.data)
}

/// Read every block of the capture on this thread, each judged as it is decoded
/// ([`judge_block`]): on one thread every block's first record number is known.
pub(super) fn read_serial(
    src: &mut (impl Read + Seek),
    source: &Source<'_>,
    sink: &mut Sink<'_, '_>,
) {
    let mut record = 0u64;
    let mut first = 0u64;
    let mut spare = Vec::new();
    let mut rows = Vec::new();
    let mut seq = 0;
    while first < source.count {
        let block = match read_block(src, source, seq, first, spare) {
            Ok(block) => block,
            Err(why) => return lost_from(sink.account, why),
        };
        seq += 1;
        first += block.offsets.len() as u64;
        let (judged, data) =
            judge_block(block, record, src, source, sink.file, sink.keep, &mut rows);
        record += judged.rows;
        merge(judged.part, sink.account, sink.tally);
        spare = data;
        if !judged.kept.is_empty() {
            (sink.send)(judged.kept);
        }
    }
}

/// What a decoding task on the pool sends back.
enum Msg {
    Decoded(Done),
    /// A task panicked (a bug): raised again on the reader's thread.
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Read the capture's blocks and decode them with the pool's help; numbering, the split into
/// kept and dropped events and handing on stay on this thread, in order. This thread decodes
/// too: it hands a block to the pool only while fewer than [`ON_POOL_PER_THREAD`] per other
/// thread are out there, and otherwise decodes the block itself instead of waiting. So with
/// two threads, two threads do the work (not a reader beside two decoders), and the rows this
/// thread drops are filled again here, where they were last written. As with
/// [`map_in_order`](crate::ingest::ordered::map_in_order), the calling thread must not be one
/// of `pool`'s workers: it blocks waiting for them.
pub(super) fn read_parallel(
    src: &mut (impl Read + Seek + Send),
    source: &Source<'_>,
    sink: &mut Sink<'_, '_>,
    pool: &rayon::ThreadPool,
) {
    let threads = pool.current_num_threads().max(1);
    let ahead = (threads * AHEAD_PER_THREAD) as u64;
    let on_pool = (threads - 1).max(1) * ON_POOL_PER_THREAD;
    let ctx = source.ctx;
    let len = source.len;
    pool.in_place_scope(|scope| {
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut record = 0u64;
        let mut first = 0u64;
        let mut read_failed = false;
        // Tasks not yet back.
        let mut tasks = 0usize;
        let (mut next_seq, mut next_finish) = (0u64, 0u64);
        let mut decoded: BTreeMap<u64, Done> = BTreeMap::new();
        let mut spare_windows: Vec<Vec<u8>> = Vec::new();
        let mut spare_rows: SpareRows = Vec::new();
        let take = |msg: Result<Msg, _>, decoded: &mut BTreeMap<u64, Done>| match msg {
            Ok(Msg::Decoded(done)) => {
                decoded.insert(done.block.seq, done);
            }
            Ok(Msg::Panicked(panic)) => resume_unwind(panic),
            // This thread holds a sender: cannot happen.
            Err(()) => unreachable!("the decoding tasks' channel closed early"),
        };
        loop {
            let reading = first < source.count && !read_failed;
            // Blocks read and not yet handed on: at most `ahead`.
            if reading && next_seq - next_finish < ahead {
                let spare = spare_windows.pop().unwrap_or_default();
                match read_block(src, source, next_seq, first, spare) {
                    Ok(mut block) => {
                        next_seq += 1;
                        first += block.offsets.len() as u64;
                        refill(&mut block, &mut spare_rows);
                        if tasks < on_pool {
                            let tx = tx.clone();
                            scope.spawn(move |_| {
                                let run = AssertUnwindSafe(|| decode_block(block, ctx, len));
                                let msg = match catch_unwind(run) {
                                    Ok(done) => Msg::Decoded(done),
                                    Err(panic) => Msg::Panicked(panic),
                                };
                                let _ = tx.send(msg);
                            });
                            tasks += 1;
                        } else {
                            let done = decode_block(block, ctx, len);
                            decoded.insert(done.block.seq, done);
                        }
                    }
                    Err(why) => {
                        lost_from(sink.account, why);
                        read_failed = true;
                    }
                }
            } else if !decoded.contains_key(&next_finish) {
                if tasks == 0 {
                    break;
                }
                take(rx.recv().map_err(|_| ()), &mut decoded);
                tasks -= 1;
            }
            while let Ok(msg) = rx.try_recv() {
                take(Ok(msg), &mut decoded);
                tasks -= 1;
            }
            while let Some(done) = decoded.remove(&next_finish) {
                next_finish += 1;
                let (events, rows, data) = finish_block(done, src, source, &mut record, sink);
                spare_windows.push(data);
                // Rows beyond a few blocks' worth, or once every block is read, are not kept
                // for refilling: they are freed on the pool, not on this thread.
                let reading = first < source.count && !read_failed;
                if reading && spare_rows.len() < BLOCK * ahead as usize {
                    spare_rows.extend(rows);
                } else if !rows.is_empty() {
                    scope.spawn(move |_| drop(rows));
                }
                if !events.is_empty() {
                    (sink.send)(events);
                }
            }
            if (first >= source.count || read_failed) && !spare_rows.is_empty() {
                // Nothing left to fill: free the rows on the pool, in parallel with what is
                // left to do here (the scope waits for it).
                let rows = std::mem::take(&mut spare_rows);
                scope.spawn(move |_| drop(rows));
            }
        }
    });
}
