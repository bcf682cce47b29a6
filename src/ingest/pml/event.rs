//! One event: its common fields (process, thread, class, operation, result, time, duration)
//! and its detail, turned into the [`ProcmonRow`] a CSV export of the same event gives, plus
//! the absolute UTC time the CSV lacks.
//!
//! An event is read through [`Bytes`]: the block of the file being decoded, or, for the rare
//! event whose parts lie outside that block, the extra pieces read for it. A part outside the
//! block is a [`Fault::Miss`] (read it and decode again); a part outside the file is damage.

use std::cell::RefCell;
use std::sync::Arc;

use jiff::Timestamp;

use super::columns::Lookup;
use super::detail::{self, DetailInput};
use super::names::{self, Class};
use super::tables::Endpoints;
use crate::model::{DetailText, ProcmonRow, SharedStr};

/// Size of an event's fixed part, before its stack trace.
pub const EVENT_HEADER: usize = 0x34;
/// The largest detail or extra detail read for one event; a bigger one is damage.
pub const MAX_DETAIL_BYTES: u32 = 1 << 20;

/// Random access to the file's bytes.
pub trait Bytes {
    /// `len` bytes at file offset `off`, or where they would have to be read from.
    fn at(&self, off: u64, len: usize) -> Result<&[u8], Miss>;
}

/// The most room the scratch pairs keep from one event to the next.
const MAX_SCRATCH_BYTES: usize = 64 * 1024;

/// The detail pairs and the path of the event being decoded, copied into its row once whole
/// (one allocation of the right size, or none for a refilled row): room reused from one event
/// to the next, passed in by whoever decodes a run of events.
#[derive(Default)]
pub struct Scratch {
    pairs: DetailText,
    path: String,
}

thread_local! {
    /// This thread's scratch, taken once per block ([`with_scratch`]).
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Run `f` with this thread's scratch: a thread decoding block after block reuses its room.
pub fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        // Never nested; if it were, the inner run gets room of its own.
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Bytes not at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Miss {
    pub off: u64,
    pub len: usize,
}

/// A block of the file.
pub struct Window {
    pub base: u64,
    pub data: Vec<u8>,
}

impl Bytes for Window {
    fn at(&self, off: u64, len: usize) -> Result<&[u8], Miss> {
        let miss = Miss { off, len };
        let start = usize::try_from(off.checked_sub(self.base).ok_or(miss)?).map_err(|_| miss)?;
        let end = start.checked_add(len).ok_or(miss)?;
        self.data.get(start..end).ok_or(miss)
    }
}

/// A block plus pieces read for one event.
pub struct Patched<'a> {
    pub window: &'a Window,
    pub pieces: Vec<Window>,
}

impl Bytes for Patched<'_> {
    fn at(&self, off: u64, len: usize) -> Result<&[u8], Miss> {
        if let Ok(b) = self.window.at(off, len) {
            return Ok(b);
        }
        for p in &self.pieces {
            if let Ok(b) = p.at(off, len) {
                return Ok(b);
            }
        }
        Err(Miss { off, len })
    }
}

/// Why an event could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Miss(Miss),
    /// Damage, described for the account.
    Damaged(String),
}

/// What the reader needs to know about the capture.
pub struct Context<'a> {
    pub wide: bool,
    pub processes: &'a Lookup,
    pub endpoints: &'a Endpoints,
    pub computer: &'a Arc<str>,
    /// Where the events of the event-offset array start, when known: an event whose stack,
    /// detail or extra detail runs over another's start is not a real one, and its detail is
    /// not decoded ([`Starts`]).
    pub starts: Option<&'a Starts>,
}

/// Granularity of [`Starts`]: less than an event header, so two events that do not overlap
/// never share a cell.
pub const START_CELL: u64 = 32;
const _: () = assert!(START_CELL < EVENT_HEADER as u64);

/// Where the events the event-offset array lists start, one bit per [`START_CELL`] bytes of
/// the file (16 MiB at most, offsets being 32 bits), gathered before any event is decoded.
///
/// In a capture as Process Monitor writes it an event's stack, detail and extra detail lie
/// between its start and the next event's. A crafted one can aim thousands of event headers
/// (through their stack depth, or the free offset of their extra detail) at one 1 MiB
/// detail, and each would decode it again: a 3 MB file cost over two minutes. An event whose
/// stack, detail or extra detail runs over the start of another listed event keeps its common
/// fields and its detail is not decoded. Past their headers, the events whose details are
/// decoded then cover the file about once (overlapping by a cell or two at most), so decoding
/// details is bounded by the file's size, whatever the order the events are decoded in or the
/// thread count.
#[derive(Debug, Default)]
pub struct Starts {
    words: Vec<u64>,
    /// The file's length.
    len: u64,
}

impl Starts {
    /// Room for a file `len` bytes long (offsets past 4 GiB are never listed).
    pub fn new(len: u64) -> Self {
        let cells = len.min(1 << 32).div_ceil(START_CELL);
        Starts {
            words: vec![0; cells.div_ceil(64) as usize],
            len,
        }
    }

    /// The length of the file whose events these are.
    pub fn file_len(&self) -> u64 {
        self.len
    }

    /// Mark an event starting at `off`; whether one was marked in its cell already.
    pub fn mark(&mut self, off: u64) -> bool {
        let cell = off / START_CELL;
        let (word, bit) = ((cell / 64) as usize, 1u64 << (cell % 64));
        let Some(w) = self.words.get_mut(word) else {
            return false;
        };
        let was = *w & bit != 0;
        *w |= bit;
        was
    }

    /// Whether an event starts in a cell after `off`'s and before the cell of `end - 1` (that
    /// last cell can hold the start of the event right after: it is not looked at).
    pub fn any_within(&self, off: u64, end: u64) -> bool {
        let from = off / START_CELL + 1;
        let to = (end.saturating_sub(1) / START_CELL).min(self.words.len() as u64 * 64);
        if from >= to {
            return false;
        }
        // Cells from..to, a word at a time.
        let (fw, lw) = ((from / 64) as usize, ((to - 1) / 64) as usize);
        for (w, &word) in self.words.iter().enumerate().take(lw + 1).skip(fw) {
            let mut bits = word;
            if w == fw {
                bits &= u64::MAX << (from % 64);
            }
            if w == lw {
                let top = (to - 1) % 64;
                bits &= u64::MAX >> (63 - top);
            }
            if bits != 0 {
                return true;
            }
        }
        false
    }
}

/// A decoded event.
pub enum Decoded {
    /// Profiling events are not exported to CSV: skipped and counted.
    Profiling,
    Row {
        row: Box<ProcmonRow>,
        time: Option<Timestamp>,
        /// The detail was cut at its event's end.
        cut: bool,
        /// The operation whose detail has no decoder (only common fields and path kept).
        undecoded: Option<String>,
        /// The event's process index is not in the process table.
        orphan: bool,
        /// Its stack, detail or extra detail runs over the start of another event: its detail
        /// is not decoded ([`Starts`]).
        overlaps: bool,
    },
}

/// FILETIME (100 ns since 1601) → UTC; `None` past what a timestamp holds (year 9999).
/// Whole seconds and the ticks after them, not one 128-bit count of nanoseconds: a 128-bit
/// division per event was 3% of reading a capture.
pub fn filetime(ft: u64) -> Option<Timestamp> {
    const UNIX_EPOCH_SECONDS_AS_FILETIME: i64 = 11_644_473_600;
    // At most 1.8e12 seconds: an i64 holds them.
    let seconds = (ft / 10_000_000) as i64 - UNIX_EPOCH_SECONDS_AS_FILETIME;
    let nanos = (ft % 10_000_000) as i32 * 100;
    Timestamp::new(seconds, nanos).ok()
}

fn unknown_op(class: u32, op: u16) -> String {
    format!("<Unknown class {class} operation {op}>")
}

/// Decode the event at `offset`, into `spare` when given (a row not kept, whose room is reused:
/// the same row comes out whether or not one is given), with `scratch`'s room.
pub fn decode(
    bytes: &dyn Bytes,
    offset: u64,
    ctx: &Context<'_>,
    spare: Option<Box<ProcmonRow>>,
    scratch: &mut Scratch,
) -> Result<Decoded, Fault> {
    let head: &[u8; EVENT_HEADER] = bytes
        .at(offset, EVENT_HEADER)
        .map_err(Fault::Miss)?
        .try_into()
        .map_err(|_| Fault::Damaged("short event header".into()))?;
    // Fixed places in an array of fixed size: no check left to make per field.
    let field = |at: usize, n: usize| {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&head[at..at + n]);
        u64::from_le_bytes(b)
    };
    let process_index = field(0, 4) as u32;
    let tid = field(4, 4) as u32;
    let class_raw = field(8, 4) as u32;
    let op = field(12, 2) as u16;
    let duration = field(20, 8);
    let time = field(28, 8);
    let status = field(36, 4) as u32;
    let depth = field(40, 2) as u16;
    let detail_size = field(44, 4) as u32;
    let extra_offset = field(48, 4) as u32;
    let Some(class) = Class::from_u32(class_raw) else {
        return Err(Fault::Damaged(format!("unknown event class {class_raw}")));
    };
    if class == Class::Profiling {
        return Ok(Decoded::Profiling);
    }
    if detail_size > MAX_DETAIL_BYTES {
        return Err(Fault::Damaged(format!(
            "a detail of {detail_size} bytes, more than the {MAX_DETAIL_BYTES} read for one event"
        )));
    }
    let ptr = if ctx.wide { 8 } else { 4 };
    let detail_at = offset + EVENT_HEADER as u64 + u64::from(depth) * ptr;
    let detail_end = detail_at + u64::from(detail_size);
    // From the end of its header: an event listed as starting inside this one's header is
    // that event's damage (this one is whole), and is found as such when it is decoded.
    let header_end = offset + EVENT_HEADER as u64;
    let runs_over = |end: u64| ctx.starts.is_some_and(|s| s.any_within(header_end, end));
    // Checked before the detail is read: a shared detail is neither read nor decoded.
    let mut overlaps = runs_over(detail_end);
    let (mut detail, mut extra): (&[u8], Option<&[u8]>) = (&[], None);
    if !overlaps {
        detail = bytes
            .at(detail_at, detail_size as usize)
            .map_err(Fault::Miss)?;
        if extra_offset > 0 {
            // Its free offset places it anywhere in the 4 GiB after the event: its size is read
            // only once the size itself is known not to run over another event's start (a
            // piece read from the file for an event whose detail is not decoded), its bytes
            // once they are known not to.
            let at = offset + u64::from(extra_offset);
            // Past the end of the file it is damage, said as such where the size is asked for.
            let past_end = ctx.starts.is_some_and(|s| at + 2 > s.file_len());
            overlaps = !past_end && runs_over(at + 2);
            if !overlaps {
                let size = bytes.at(at, 2).map_err(Fault::Miss)?;
                let size = u16::from_le_bytes([size[0], size[1]]);
                overlaps = runs_over(at + 2 + u64::from(size));
                if !overlaps {
                    extra = Some(bytes.at(at + 2, usize::from(size)).map_err(Fault::Miss)?);
                }
            }
        }
    }
    let mut row = spare.unwrap_or_default();
    let (pairs, path) = (
        std::mem::take(&mut scratch.pairs),
        std::mem::take(&mut scratch.path),
    );
    let mut d = if overlaps {
        let (mut pairs, mut path) = (pairs, path);
        pairs.clear();
        path.clear();
        detail::Detail {
            pairs,
            path,
            ..detail::Detail::default()
        }
    } else {
        detail::decode(
            &DetailInput {
                class,
                op,
                tid,
                wide: ctx.wide,
                detail,
                extra,
                endpoints: ctx.endpoints,
            },
            pairs,
            path,
        )
    };
    // Names from the fixed tables cost no allocation; only an unknown one is formatted.
    let known = |table: &[&'static str]| table.get(usize::from(op)).copied();
    row.operation = match (d.operation.take(), class) {
        (Some(name), _) => Some(SharedStr::from(name)),
        (None, Class::Process) => known(&names::PROCESS_OPS).map(SharedStr::from_static),
        (None, Class::Registry) => known(&names::REGISTRY_OPS).map(SharedStr::from_static),
        (None, _) => None,
    }
    .unwrap_or_else(|| SharedStr::from(unknown_op(class_raw, op)));
    let process = ctx.processes.get(process_index);
    let orphan = process.is_none();
    let p = process.unwrap_or_else(|| ctx.processes.missing());
    row.result = SharedStr::from(names::result_text(status));
    // The Detail column is the pairs as written; its pairs are their spans when splitting it
    // as a CSV's Detail gives them back, else it is split.
    row.text.set_written(&d.path, &d.pairs);
    row.text.set_network(class == Class::Network);
    // Scratch grown by a huge detail is not kept for the rest of the capture.
    if d.pairs.heap_bytes() + d.path.capacity() <= MAX_SCRATCH_BYTES {
        scratch.pairs = std::mem::take(&mut d.pairs);
        scratch.path = std::mem::take(&mut d.path);
    }
    let pending = row.result.is_empty();
    p.write(&mut row.columns, (!pending).then_some(duration), class, tid);
    let undecoded = d.undecoded.then(|| row.operation.to_string());
    // The process's name, shared by all its rows (a refilled row most often has it already).
    if !row.process.shares(&p.info.name) {
        row.process = SharedStr::from(Arc::clone(&p.info.name));
    }
    row.pid = process.map(|p| p.info.pid);
    row.time_of_day = None;
    row.date = None;
    // A refilled row most often names the same computer already: no count to change (one
    // shared by every thread decoding).
    if !row
        .computer
        .as_ref()
        .is_some_and(|c| Arc::ptr_eq(c, ctx.computer))
    {
        row.computer = Some(Arc::clone(ctx.computer));
    }
    Ok(Decoded::Row {
        row,
        time: filetime(time),
        cut: d.cut,
        undecoded,
        orphan,
        overlaps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetimes_beyond_year_9999_have_no_time_instead_of_a_wrong_one() {
        // 2024-03-05T09:14:06Z, and the largest FILETIME Windows shows (year 30828).
        assert_eq!(
            filetime(133_541_036_460_000_000).map(|t| t.to_string()),
            Some("2024-03-05T09:14:06Z".to_string())
        );
        assert_eq!(filetime(0x7FFF_FFFF_FFFF_FFFF), None);
        assert_eq!(filetime(u64::MAX), None);
    }

    #[test]
    fn filetimes_are_the_nanoseconds_since_1601_as_jiff_counts_them() {
        const UNIX_EPOCH_AS_FILETIME: i128 = 116_444_736_000_000_000;
        let by_nanoseconds = |ft: u64| {
            Timestamp::from_nanosecond((i128::from(ft) - UNIX_EPOCH_AS_FILETIME) * 100).ok()
        };
        // Around the last second of year 9999 (jiff's last timestamp is a day earlier).
        let end = 2_650_467_744_000_000_000u64;
        let mut cases: Vec<u64> = vec![0, 1, 9_999_999, 10_000_000, u64::MAX];
        cases.extend(
            (0..=48)
                .map(|h| end - h * 36_000_000_000)
                .flat_map(|t| [t - 1, t]),
        );
        cases.extend(
            [UNIX_EPOCH_AS_FILETIME as u64, 133_541_036_460_000_000]
                .into_iter()
                .flat_map(|t| [t - 1, t, t + 1, t + 9_999_999]),
        );
        // A sweep of the whole range at an uneven step.
        cases.extend((0..10_000u64).map(|i| i * 265_046_774_400_003));
        for ft in cases {
            assert_eq!(filetime(ft), by_nanoseconds(ft), "{ft}");
        }
        // Both sides of the end were met.
        assert!(filetime(end - 48 * 36_000_000_000).is_some() && filetime(end).is_none());
    }

    /// A registry event at 0 (no stack, a 4-byte detail) whose extra detail is said to lie
    /// `extra_offset` bytes on, in a capture whose next listed event starts at 0x100: the
    /// capture's block held in memory is its first 0x200 bytes.
    fn far_extra(extra_offset: u32) -> (Window, Starts) {
        let mut data = vec![0u8; 0x200];
        data[8..12].copy_from_slice(&2u32.to_le_bytes());
        data[44..48].copy_from_slice(&4u32.to_le_bytes());
        data[48..52].copy_from_slice(&extra_offset.to_le_bytes());
        let mut starts = Starts::new(1 << 20);
        starts.mark(0);
        starts.mark(0x100);
        (Window { base: 0, data }, starts)
    }

    /// Decode the event at 0 of `window` against `starts`: whether its extra detail was found
    /// to overlap another event.
    fn overlaps(window: &Window, starts: &Starts) -> Result<bool, Fault> {
        let processes = Lookup::new(&Default::default(), &crate::ingest::ProcmonColumns::none());
        let endpoints = Endpoints::default();
        let computer: Arc<str> = Arc::from("SRV01");
        let ctx = Context {
            wide: true,
            processes: &processes,
            endpoints: &endpoints,
            computer: &computer,
            starts: Some(starts),
        };
        match decode(window, 0, &ctx, None, &mut Scratch::default())? {
            Decoded::Row { overlaps, .. } => Ok(overlaps),
            Decoded::Profiling => panic!("a registry event decoded as profiling"),
        }
    }

    /// An event's extra detail that lies past the start of another listed event is not read
    /// at all, not even the two bytes of its size: the event keeps its common fields and its
    /// detail is not decoded. Its size was read first, at an offset the event header chose
    /// anywhere in the file (a piece read from the file for each such event), and only then
    /// was the extra detail found to overlap.
    #[test]
    fn a_far_extra_detail_is_checked_before_its_size_is_read() {
        for far in [0x1000u32, 0x8_0000] {
            let (window, starts) = far_extra(far);
            assert!(matches!(overlaps(&window, &starts), Ok(true)), "{far:#x}");
        }
        // Past the end of the file, it is left to the reader to name as damage, as before.
        let (window, starts) = far_extra(0xFFFF_0000);
        assert!(matches!(
            overlaps(&window, &starts),
            Err(Fault::Miss(Miss {
                off: 0xFFFF_0000,
                len: 2
            }))
        ));
        // Within its event, as Process Monitor writes it, the extra detail is read as before:
        // its size inside the block, its bytes too.
        let (mut window, starts) = far_extra(0x40);
        window.data[0x40..0x42].copy_from_slice(&4u16.to_le_bytes());
        assert!(matches!(overlaps(&window, &starts), Ok(false)));
    }
}
