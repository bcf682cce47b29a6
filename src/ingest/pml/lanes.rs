//! A capture that is a plain file, read on several threads as lanes: each lane (the calling
//! thread, and one task per other thread of the pool) takes the next block, reads its bytes
//! itself with a positional read of the shared file, decodes it, numbers its events and asks
//! the rule prefilter about each, all on the one core. When the prefilter does not read record
//! numbers, the lane asks it about each event as it decodes it (the row of an event dropped is
//! filled again by the next one) and numbers the kept events once the block's place is known;
//! otherwise it numbers and asks once the block is decoded, and the rows it drops are filled
//! again by its own next blocks, where they were last written. Only what must be in order is shared:
//! each block's count of rows (the record numbers of a block start after the rows of every
//! block before it, so a lane whose block is decoded before that is known decodes its next
//! block meanwhile), and the handing on of each block's kept events and account, which the
//! calling thread does in block order. Blocks out at once are bounded, as on the other paths,
//! and the output is the same for any thread count.
//!
//! A source that is not a plain file (a zip member) has one stream position, so it is read
//! by [`super::blocks::read_parallel`] instead.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::blocks::{
    AHEAD_PER_THREAD, BLOCK, Judged, Part, Settled, Sink, Source, SpareRows, decode_block,
    judge_block, lost_from, merge, number, read_block, refill, settle,
};
use super::columns::Lookup;
use super::event::Context;
use crate::ingest::at::PosRead;
use crate::model::Event;

/// Rows not kept that a lane holds for its next blocks.
const SPARE_ROWS_PER_LANE: usize = 2 * BLOCK;
/// Empty rows the calling thread keeps ready for the lanes, at most, per thread: as many as the
/// kept events it lets be out ([`Shared::kept_room`]).
const STOCK_PER_THREAD: usize = AHEAD_PER_THREAD * BLOCK;
/// Blocks out (taken and not yet handed on), per thread: enough that a lane goes on while the
/// calling thread, the only one that hands blocks on, is off its core on a busy machine. What
/// they hold is bounded apart: blocks decoded and waiting for their place in the numbering, per
/// lane ([`AHEAD_PER_THREAD`]), and events kept and not yet handed on ([`Shared::kept_room`]).
const OUT_PER_THREAD: usize = 8;

/// A block's outcome, handed on in block order by the calling thread.
enum Out {
    Block(Vec<Event>, Part),
    /// Its event-offset array could not be read: it and every block after it are lost.
    Lost(String),
}

/// What the lanes share, under one lock.
#[derive(Default)]
struct State {
    /// The next block to take.
    next: u64,
    /// Blocks handed on (every block before this one).
    handed: u64,
    /// Blocks whose rows are all counted (every block before this one).
    counted: u64,
    /// Row counts of blocks after `counted`.
    counts: BTreeMap<u64, u64>,
    /// The rows before a block, for blocks from `counted` back that no lane has numbered yet.
    before: BTreeMap<u64, u64>,
    /// Rows in the blocks before `counted`.
    rows: u64,
    out: BTreeMap<u64, Out>,
    /// Events kept in `out`.
    kept: usize,
    /// The first block whose event-offset array could not be read.
    lost: Option<u64>,
    /// A lane panicked (a bug): every lane stops, the calling thread raises it again.
    panicked: bool,
    panic: Option<Box<dyn Any + Send>>,
}

impl State {
    fn count(&mut self, block: u64, rows: u64) {
        self.counts.insert(block, rows);
        while let Some(n) = self.counts.remove(&self.counted) {
            self.rows += n;
            self.counted += 1;
            self.before.insert(self.counted, self.rows);
        }
    }
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    blocks: u64,
    /// Blocks out at most.
    out: u64,
    /// Events kept and not yet handed on, at most (a lane may go past it by one block).
    kept_room: usize,
    /// Empty rows made by the calling thread, for the lanes' blocks once their own rows not
    /// kept are used up. A kept row is freed where its events are consumed, on the calling
    /// thread or after it; made there too, it is freed into its own thread's heap. Made by a
    /// lane, every free would take that lane's heap lock while the lane allocates under it:
    /// with every event kept, the two threads then spent their time waiting on each other
    /// (glibc's per-thread arenas; docs/pml.md).
    stock: Mutex<SpareRows>,
    /// Rows in `stock`, at most.
    stock_room: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stock(&self) -> MutexGuard<'_, SpareRows> {
        self.stock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Make empty rows for as many events as were just handed on (rows the lanes took), up to
    /// the stock's room.
    fn restock(&self, handed: usize) {
        let n = handed.min(self.stock_room.saturating_sub(self.stock().len()));
        if n > 0 {
            // Made outside the lock, which the lanes take for their blocks meanwhile.
            let rows: SpareRows = (0..n).map(|_| Box::default()).collect();
            self.stock().extend(rows);
        }
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stops the other lanes when the calling thread's lane unwinds, so the scope's wait for them
/// ends.
struct StopOnUnwind<'a>(&'a Shared);

impl Drop for StopOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().panicked = true;
            self.0.changed.notify_all();
        }
    }
}

/// What a lane does next.
enum Step {
    Read(u64),
    /// Number its oldest decoded block, after this many rows.
    Number(u64),
    HandOn(Vec<Out>),
    Stop,
}

/// One lane's own: its blocks decoded and waiting for their place in the numbering, the rows
/// it dropped, its window buffer, its reader.
struct Lane<'a> {
    waiting: VecDeque<(u64, Waiting)>,
    spare_rows: SpareRows,
    window: Vec<u8>,
    src: PosRead<'a>,
    /// Judge each event as it is decoded, before its record number is known (when keep does
    /// not read it): its row is then filled again by the next event, still in this core's
    /// cache, and the kept events are numbered once the block's place is known.
    judge: bool,
}

/// A block waiting for its place in the numbering.
enum Waiting {
    /// Decoded: numbered and judged once its place is known.
    Settled(Settled),
    /// Judged already, its kept events numbered from the block's first row.
    Judged(Judged),
}

/// Read the capture's blocks as lanes: the calling thread, the only one to hand events on, and
/// `others` tasks on `pool` (each holds a pool thread while it runs: at most what
/// [`WaitingJobs`](crate::ingest::WaitingJobs) granted). As with
/// [`super::blocks::read_parallel`], the calling thread must not be one of `pool`'s workers.
pub(super) fn read_lanes(
    file: &File,
    source: &Source<'_>,
    sink: &mut Sink<'_, '_>,
    pool: &rayon::ThreadPool,
    others: usize,
) {
    let threads = others + 1;
    let shared = Shared {
        state: Mutex::new(State {
            before: BTreeMap::from([(0, 0)]),
            ..State::default()
        }),
        changed: Condvar::new(),
        blocks: source.count.div_ceil(BLOCK as u64),
        out: (threads * OUT_PER_THREAD) as u64,
        kept_room: threads * AHEAD_PER_THREAD * BLOCK,
        stock: Mutex::new(Vec::new()),
        stock_room: threads * STOCK_PER_THREAD,
    };
    let (file_name, keep, judge) = (sink.file, sink.keep, !sink.keep_reads_record);
    pool.in_place_scope(|scope| {
        for _ in 1..threads {
            let shared = &shared;
            scope.spawn(move |_| {
                // What this lane's rows count references on, its own: see `Copies`.
                let copies = Copies::of(source.ctx, file_name);
                let ctx = copies.ctx(source.ctx);
                let source = Source {
                    ctx: &ctx,
                    ..*source
                };
                let mut lane = Lane::new(file, judge);
                let run = AssertUnwindSafe(|| {
                    lane.run(shared, &source, &copies.file_name, keep, None);
                });
                if let Err(panic) = catch_unwind(run) {
                    let mut st = shared.lock();
                    st.panicked = true;
                    st.panic = Some(panic);
                    drop(st);
                    shared.changed.notify_all();
                }
            });
        }
        let _stop = StopOnUnwind(&shared);
        Lane::new(file, judge).run(&shared, source, file_name, keep, Some(sink));
    });
}

/// A lane's own copies of what every row it makes counts a reference on: the file's and the
/// computer's names, each process's name and columns. On one `Arc` shared by every lane, each
/// count moved its cache line between the cores: at 2 threads, perf put 85% of
/// `Columns::fill`'s samples on its one atomic increment, and `fill` took two to three times
/// its 1-thread share of the samples. The calling thread's lane uses the capture's own.
struct Copies {
    processes: Lookup,
    computer: Arc<str>,
    file_name: Arc<str>,
}

impl Copies {
    fn of(ctx: &Context<'_>, file_name: &Arc<str>) -> Copies {
        Copies {
            processes: ctx.processes.for_lane(),
            computer: Arc::from(&**ctx.computer),
            file_name: Arc::from(&**file_name),
        }
    }

    /// `ctx` with these copies in it.
    fn ctx<'c>(&'c self, ctx: &Context<'c>) -> Context<'c> {
        Context {
            wide: ctx.wide,
            processes: &self.processes,
            endpoints: ctx.endpoints,
            computer: &self.computer,
            starts: ctx.starts,
        }
    }
}

impl<'a> Lane<'a> {
    fn new(file: &'a File, judge: bool) -> Self {
        Lane {
            waiting: VecDeque::new(),
            spare_rows: Vec::new(),
            window: Vec::new(),
            src: PosRead::new(file),
            judge,
        }
    }

    /// Take blocks until none is left; with `sink` (the calling thread), also hand every
    /// block on in order.
    fn run(
        &mut self,
        shared: &Shared,
        source: &Source<'_>,
        file: &Arc<str>,
        keep: &crate::ingest::Keep<'_>,
        mut sink: Option<&mut Sink<'_, '_>>,
    ) {
        loop {
            match self.next_step(shared, sink.is_some()) {
                Step::Read(block) => self.read(shared, source, block, file, keep),
                Step::Number(before) => {
                    let Some((block, waiting)) = self.waiting.pop_front() else {
                        continue;
                    };
                    let (kept, rows, part) = match waiting {
                        Waiting::Settled(settled) => number(settled, before, file, keep),
                        Waiting::Judged(Judged { mut kept, part, .. }) => {
                            for e in &mut kept {
                                e.record += before;
                            }
                            (kept, Vec::new(), part)
                        }
                    };
                    let room = SPARE_ROWS_PER_LANE.saturating_sub(self.spare_rows.len());
                    self.spare_rows.extend(rows.into_iter().take(room));
                    let mut st = shared.lock();
                    st.kept += kept.len();
                    st.out.insert(block, Out::Block(kept, part));
                    drop(st);
                    shared.changed.notify_all();
                }
                Step::HandOn(outs) => {
                    let Some(sink) = sink.as_deref_mut() else {
                        continue;
                    };
                    let mut handed = 0;
                    for out in outs {
                        match out {
                            Out::Block(kept, part) => {
                                merge(part, sink.account, sink.tally);
                                handed += kept.len();
                                if !kept.is_empty() {
                                    (sink.send)(kept);
                                }
                            }
                            Out::Lost(why) => lost_from(sink.account, why),
                        }
                    }
                    shared.restock(handed);
                }
                Step::Stop => return,
            }
        }
    }

    /// Wait for something to do: number a decoded block once its place is known, hand blocks
    /// on (the calling thread), or read the next block while few enough are out.
    fn next_step(&mut self, shared: &Shared, hands_on: bool) -> Step {
        let mut st = shared.lock();
        loop {
            if st.panicked {
                if let Some(panic) = st.panic.take().filter(|_| hands_on) {
                    drop(st);
                    resume_unwind(panic);
                }
                return Step::Stop;
            }
            if let Some(&(block, _)) = self.waiting.front() {
                if st.lost.is_some_and(|lost| block > lost) {
                    // After a block that is lost: never numbered, never handed on.
                    self.waiting.clear();
                    continue;
                }
                if let Some(before) = st.before.remove(&block) {
                    return Step::Number(before);
                }
            }
            if hands_on && st.out.contains_key(&st.handed) {
                let mut outs = Vec::new();
                while let Some(out) = {
                    let handed = st.handed;
                    st.out.remove(&handed)
                } {
                    st.handed = match &out {
                        Out::Block(kept, _) => {
                            st.kept -= kept.len();
                            st.handed + 1
                        }
                        Out::Lost(_) => shared.blocks,
                    };
                    outs.push(out);
                }
                drop(st);
                shared.changed.notify_all();
                return Step::HandOn(outs);
            }
            let more = st.lost.is_none() && st.next < shared.blocks;
            let room = st.next < st.handed + shared.out
                && st.kept < shared.kept_room
                && self.waiting.len() < AHEAD_PER_THREAD;
            if more && room {
                st.next += 1;
                return Step::Read(st.next - 1);
            }
            let handed_all = !hands_on || st.handed >= shared.blocks;
            if !more && self.waiting.is_empty() && handed_all {
                return Step::Stop;
            }
            st = shared.wait(st);
        }
    }

    /// Read, decode and settle (or judge) a block; count its rows.
    fn read(
        &mut self,
        shared: &Shared,
        source: &Source<'_>,
        block: u64,
        file: &Arc<str>,
        keep: &crate::ingest::Keep<'_>,
    ) {
        let first = block * BLOCK as u64;
        let window = std::mem::take(&mut self.window);
        let outcome = match read_block(&mut self.src, source, block, first, window) {
            Ok(read) if self.judge => {
                if self.spare_rows.is_empty() {
                    // Up to a block's worth of empty rows from the stock.
                    let mut stock = shared.stock();
                    let at = stock.len().saturating_sub(BLOCK);
                    self.spare_rows.extend(stock.drain(at..));
                }
                let rows = &mut self.spare_rows;
                let (judged, data) = judge_block(read, 0, &mut self.src, source, file, keep, rows);
                self.window = data;
                Ok((judged.rows, Waiting::Judged(judged)))
            }
            Ok(mut read) => {
                refill(&mut read, &mut self.spare_rows);
                if read.rows_missing() > 0 {
                    refill(&mut read, &mut shared.stock());
                }
                let done = decode_block(read, source.ctx, source.len);
                let (settled, data) = settle(done, &mut self.src, source);
                self.window = data;
                Ok((settled.rows, Waiting::Settled(settled)))
            }
            Err(why) => Err(why),
        };
        let mut st = shared.lock();
        match outcome {
            Ok((rows, waiting)) => {
                st.count(block, rows);
                self.waiting.push_back((block, waiting));
            }
            Err(why) => {
                st.lost = Some(st.lost.map_or(block, |lost| lost.min(block)));
                st.out.insert(block, Out::Lost(why));
            }
        }
        drop(st);
        shared.changed.notify_all();
    }
}
