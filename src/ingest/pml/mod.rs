//! Native Process Monitor logs (`.PML`, format version 9) → the same rows a CSV export of the
//! capture gives, with the absolute UTC time and the computer the CSV lacks.
//!
//! The layout (documented by procmon-parser's `docs/PML Format.md`, MIT) is a header naming
//! the computer and where each table is; a string table; a process table whose entries events
//! refer to by index; the hosts and ports a network event's endpoints are named with; and an
//! array of event offsets. Events are reached through that array in blocks: each block's span
//! of the file is read once, then its events are decoded in parallel on the caller's pool and
//! handed on in order, so memory stays at a few blocks whatever the file size and the output
//! does not depend on the thread count. Every read is checked against the file: damage is
//! reported by name (which table, which event, what is wrong) and the rest is still read.
//! Profiling events are skipped and counted, as the CSV export leaves them out.

mod blocks;
pub mod bytes;
pub mod columns;
pub mod dedup;
pub mod detail;
pub mod event;
pub mod fileinfo;
pub mod header;
pub mod ioctl;
mod lanes;
pub mod names;
pub mod num;
pub mod set;
pub mod tables;

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use super::at::PosRead;
use super::{Emit, MAX_LISTED_ERRORS, ProcmonColumns};
use crate::model::{At, FileAccount, Problem};
use event::{Bytes, Context, Decoded, Fault, Patched, Window};
use header::{HEADER_SIZE, Header};

/// Events searched for the first row a CSV export would list.
const FIRST_ROW_SEARCH: usize = 1024;
/// Bytes read past a block's last event start, for that event and its extra detail.
const TAIL: u64 = 64 * 1024;
/// The most one block reads at once; events beyond it (offsets out of order in a damaged
/// file) are read one by one.
const MAX_WINDOW: u64 = 64 << 20;
/// Bytes a block's window may span per event of the block, as a multiple of the file's bytes
/// per event, past [`TAIL`]: a capture written in order spans about one; a block of events
/// spread over the whole file (an event-offset array out of order) would otherwise read up to
/// [`MAX_WINDOW`] for each block, and a shuffled 48 MB capture read 64 MiB per 512 events.
/// Events outside the window are read one by one ([`decode_patched`]), so what is read stays
/// within a few times the file, and what is decoded is the same.
const WINDOW_SHARE: u64 = 4;
/// The least read for an event part outside its block's window: its header, stack and detail
/// most often, in one read.
const PATCH_READ: usize = 4096;
/// The most heap a row not kept may hold to be filled again by a later event.
const MAX_SPARE_BYTES: usize = 4096;
/// Size of one entry of the event-offset array: the offset and a flags byte.
const OFFSET_ENTRY: u64 = 5;

/// The event offset one entry of the event-offset array holds (`entry` is [`OFFSET_ENTRY`]
/// bytes, as `chunks_exact` gives them).
fn entry_offset(entry: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]))
}

fn read_at(src: &mut (impl Read + Seek), off: u64, len: u64) -> std::io::Result<Vec<u8>> {
    read_into(src, off, len, Vec::new())
}

/// Read `len` bytes at `off` (fewer at the end of the stream) into `buf`, reusing its
/// allocation and its bytes: a fresh multi-megabyte buffer per block costs more in the
/// allocator than decoding the block, and zeroing one before each read (as `read_to_end` does
/// for a reader it does not know) costs as much again.
fn read_into(
    src: &mut (impl Read + Seek),
    off: u64,
    len: u64,
    mut buf: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    src.seek(SeekFrom::Start(off))?;
    let want = usize::try_from(len).unwrap_or(usize::MAX);
    // A length past what the stream holds (a damaged header) is not allocated up front.
    let mut room = want.min(1 << 20).max(buf.len().min(want));
    let mut filled = 0;
    loop {
        // Only bytes the buffer never held are zeroed.
        buf.resize(room, 0);
        while filled < room {
            match src.read(&mut buf[filled..room]) {
                Ok(0) => {
                    buf.truncate(filled);
                    return Ok(buf);
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if room == want {
            return Ok(buf);
        }
        room = want.min(room.saturating_mul(2));
    }
}

/// What reading the events found, for the account.
#[derive(Default)]
struct Tally {
    profiling: u64,
    cut_details: u64,
    orphans: u64,
    /// Events whose stack or detail runs over another event's start: detail not decoded.
    overlaps: u64,
    timed: u64,
    undecoded: BTreeMap<String, u64>,
    listed: usize,
}

/// A capture's header and the tables its events refer to.
pub struct Capture {
    pub header: Header,
    pub processes: tables::Processes,
    pub endpoints: tables::Endpoints,
    /// Events read: the header's count, bounded by the event-offset array (and the array's
    /// when it holds more than the header counts).
    pub count: u64,
    /// What is wrong with the tables (each costs data).
    pub problems: Vec<String>,
    /// What is odd without costing data.
    pub notes: Vec<String>,
}

/// The most bytes of a string, process or hosts-and-ports table read: a real capture's are
/// a few hundred KB; a crafted one the size of the file would otherwise be held whole, and its
/// entries expanded, before the first event.
pub const MAX_TABLE_BYTES: u64 = 16 << 20;

/// Read the header and the tables; `Err` says why nothing can be read.
pub fn open(src: &mut (impl Read + Seek), len: u64) -> Result<Capture, String> {
    let head = read_at(src, 0, HEADER_SIZE as u64)
        .map_err(|e| format!("cannot read the PML header: {e}"))?;
    let header = Header::parse(&head, len).map_err(|e| e.to_string())?;
    let mut problems = Vec::new();
    let mut region = |start: u64, what: &str, problems: &mut Vec<String>| -> Vec<u8> {
        let mut end = header.table_end(start, len);
        if end - start > MAX_TABLE_BYTES {
            problems.push(format!(
                "the {what} runs {} bytes, past the {} a table is read to (a real one holds a few hundred KB): what lies beyond is not read",
                end - start,
                MAX_TABLE_BYTES
            ));
            end = start + MAX_TABLE_BYTES;
        }
        match read_at(src, start, end - start) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("cannot read the {what}: {e}"));
                Vec::new()
            }
        }
    };
    let strings_bytes = region(header.string_table, "string table", &mut problems);
    let strings = tables::read_strings(&strings_bytes, &mut problems);
    let process_bytes = region(header.process_table, "process table", &mut problems);
    let processes = tables::read_processes(&process_bytes, header.wide, &strings, &mut problems);
    drop(process_bytes);
    drop(strings);
    drop(strings_bytes);
    let endpoint_bytes = region(header.hosts_ports, "hosts and ports table", &mut problems);
    let endpoints = tables::read_endpoints(&endpoint_bytes, &mut problems);
    drop(endpoint_bytes);
    let array_room =
        (header.table_end(header.offsets_array, len) - header.offsets_array) / OFFSET_ENTRY;
    // Process Monitor sizes the array to the count exactly: what is read is what the array
    // holds (each event is checked as it is read). A header that counts more lost the rest;
    // one that counts fewer loses none.
    let count = array_room;
    let mut notes = Vec::new();
    match count.cmp(&u64::from(header.events)) {
        std::cmp::Ordering::Less => problems.push(format!(
            "the header counts {} events but the event-offset array has room for {count}: the rest are lost",
            header.events
        )),
        std::cmp::Ordering::Greater => notes.push(format!(
            "the header counts {} but the event-offset array holds {count}: all {count} read",
            crate::units::count(u64::from(header.events), "event", "events")
        )),
        std::cmp::Ordering::Equal => {}
    }
    Ok(Capture {
        header,
        processes,
        endpoints,
        count,
        problems,
        notes,
    })
}

/// The first event a CSV export of the capture would list (Profiling is never exported),
/// among the first block of events, and how many events the capture holds.
pub fn first_row(
    src: &mut (impl Read + Seek),
    len: u64,
) -> Option<(crate::model::ProcmonRow, u64)> {
    let capture = open(src, len).ok()?;
    let events = capture.count;
    let n = capture.count.min(FIRST_ROW_SEARCH as u64);
    let entries = read_at(src, capture.header.offsets_array, n * OFFSET_ENTRY).ok()?;
    let offsets: Vec<u64> = entries
        .chunks_exact(OFFSET_ENTRY as usize)
        .map(entry_offset)
        .collect();
    let window = blocks::read_window(src, &offsets, None, len, MAX_WINDOW, Vec::new());
    let computer: Arc<str> = Arc::from(capture.header.computer.as_str());
    // Only the process, pid, operation and path are compared: no column is built.
    let processes = columns::Lookup::new(&capture.processes, &ProcmonColumns::none());
    let ctx = Context {
        wide: capture.header.wide,
        processes: &processes,
        endpoints: &capture.endpoints,
        computer: &computer,
        starts: None,
    };
    let mut scratch = event::Scratch::default();
    offsets.iter().find_map(
        |&off| match event::decode(&window, off, &ctx, None, &mut scratch) {
            Ok(Decoded::Row { row, .. }) => Some((*row, events)),
            _ => None,
        },
    )
}

/// The events (0-based, ascending) whose offset starts inside the header of an event listed
/// earlier in the event-offset array: no event of a real capture does. A damaged or crafted
/// array that names one event a million times had each decoded again (a 1.5 MB file with a
/// large event took 82 s) and listed as that many rows. One pass over the array, before any
/// event is decoded, with one bit per 32 bytes of the file (16 MiB at most, offsets being 32
/// bits); stops where the array cannot be read (the block reader says so). The map is kept
/// for the decoder ([`event::Starts`]).
fn repeated_events(
    src: &mut (impl Read + Seek),
    offsets_array: u64,
    count: u64,
    len: u64,
) -> (Vec<u64>, event::Starts) {
    const CHUNK: u64 = 64 * 1024;
    let mut seen = event::Starts::new(len);
    let mut repeats = Vec::new();
    let mut first = 0;
    while first < count {
        let n = (count - first).min(CHUNK);
        let Ok(entries) = read_at(src, offsets_array + first * OFFSET_ENTRY, n * OFFSET_ENTRY)
        else {
            break;
        };
        for (i, e) in entries.chunks_exact(OFFSET_ENTRY as usize).enumerate() {
            let off = entry_offset(e);
            if off >= len {
                continue;
            }
            if seen.mark(off) {
                repeats.push(first + i as u64);
            }
        }
        if (entries.len() as u64) < n * OFFSET_ENTRY {
            break;
        }
        first += n;
    }
    (repeats, seen)
}

/// Read a PML file from `src`, `len` bytes long.
pub fn read_pml(
    src: impl Read + Seek + Send,
    len: u64,
    emit: &mut Emit<'_>,
    account: &mut FileAccount,
) {
    read_capture(src, None, len, emit, account);
}

/// Read a PML that is a plain file, `len` bytes long: on more than one thread, each thread
/// reads its own blocks' bytes from the file ([`lanes`]).
pub fn read_pml_file(
    file: &std::fs::File,
    len: u64,
    emit: &mut Emit<'_>,
    account: &mut FileAccount,
) {
    read_capture(PosRead::new(file), Some(file), len, emit, account);
}

/// Read a capture from `src`; `file` is the same bytes as a plain file, when they are one.
fn read_capture(
    mut src: impl Read + Seek + Send,
    file: Option<&std::fs::File>,
    len: u64,
    emit: &mut Emit<'_>,
    account: &mut FileAccount,
) {
    let Capture {
        header,
        processes,
        endpoints,
        count,
        problems,
        notes,
    } = match open(&mut src, len) {
        Ok(c) => c,
        Err(why) => {
            account.damaged(why);
            account.finish();
            return;
        }
    };
    account.note(format!(
        "captured on {}, {}, {}-bit; event times are UTC from the PML",
        header.computer,
        header.os_text(),
        if header.wide { 64 } else { 32 }
    ));
    for p in problems {
        account.damaged(p);
    }
    for n in notes {
        account.note(n);
    }

    let computer: Arc<str> = Arc::from(header.computer.as_str());
    let processes = columns::Lookup::new(&processes, emit.columns);
    let (repeats, starts) = repeated_events(&mut src, header.offsets_array, count, len);
    let ctx = Context {
        wide: header.wide,
        processes: &processes,
        endpoints: &endpoints,
        computer: &computer,
        starts: Some(&starts),
    };
    let mut tally = Tally::default();
    let source = blocks::Source {
        ctx: &ctx,
        len,
        offsets_array: header.offsets_array,
        count,
        repeats: &repeats,
    };
    let mut sink = blocks::Sink {
        file: emit.file,
        keep: emit.keep,
        keep_reads_record: emit.keep_reads_record,
        send: &mut *emit.send,
        account: &mut *account,
        tally: &mut tally,
    };
    // The reader waits for the pool's tasks: on one of the pool's own threads (a batch ticket)
    // that could leave no thread to run them, so there the blocks are read in turn. Lanes wait
    // for this thread, so they hold pool threads: as many as other readers leave free
    // ([`WaitingJobs`](crate::ingest::WaitingJobs)), and none at all means reading in turn.
    let threads = emit.pool.current_num_threads();
    if threads > 1 && emit.pool.current_thread_index().is_none() {
        match file {
            Some(file) => {
                let lanes = crate::ingest::WaitingJobs::claim(emit.pool, threads - 1);
                if lanes.count() > 0 {
                    lanes::read_lanes(file, &source, &mut sink, emit.pool, lanes.count());
                } else {
                    blocks::read_serial(&mut src, &source, &mut sink);
                }
            }
            None => blocks::read_parallel(&mut src, &source, &mut sink, emit.pool),
        }
    } else {
        blocks::read_serial(&mut src, &source, &mut sink);
    }
    finish_account(account, &tally);
}

/// Decode an event whose parts are outside its block: read each missing part (never past the
/// file's end) and try again.
fn decode_patched(
    src: &mut (impl Read + Seek),
    window: &Window,
    off: u64,
    len: u64,
    ctx: &Context<'_>,
) -> Result<Decoded, Fault> {
    let mut patched = Patched {
        window,
        pieces: Vec::new(),
    };
    // Room of its own: the caller may be decoding its block with the thread's.
    let mut scratch = event::Scratch::default();
    // Header, detail, extra-detail size, extra detail: at most four parts.
    for _ in 0..4 {
        match event::decode(&patched as &dyn Bytes, off, ctx, None, &mut scratch) {
            Err(Fault::Miss(m)) => {
                let end = m.off.checked_add(m.len as u64).filter(|&e| e <= len);
                let Some(end) = end else {
                    return Err(Fault::Damaged(format!(
                        "it needs bytes {:#x}..{:#x}, past the end of the file ({len} bytes): the file is cut or the event damaged",
                        m.off,
                        m.off.saturating_add(m.len as u64)
                    )));
                };
                // More than the part where the file has it: the event's next part most often.
                let want = (m.len.max(PATCH_READ) as u64)
                    .min(len - m.off)
                    .max(end - m.off);
                match read_at(src, m.off, want) {
                    Ok(data) if data.len() >= m.len => {
                        patched.pieces.push(Window { base: m.off, data })
                    }
                    _ => {
                        return Err(Fault::Damaged(format!(
                            "cannot read bytes {:#x}..{:#x}",
                            m.off,
                            m.off + m.len as u64
                        )));
                    }
                }
            }
            other => return other,
        }
    }
    Err(Fault::Damaged("its parts could not be gathered".into()))
}

/// A damaged event, listed while the list is short; `message` says where as well.
fn note_damage(account: &mut FileAccount, tally: &mut Tally, at: At, message: String) {
    if tally.listed < MAX_LISTED_ERRORS {
        account.lost(Problem::Record { at, message });
    } else {
        account.damaged_silently();
    }
    tally.listed += 1;
}

fn finish_account(account: &mut FileAccount, tally: &Tally) {
    if tally.listed > MAX_LISTED_ERRORS {
        account.more_not_listed(format!(
            "... and {} more damaged events",
            tally.listed - MAX_LISTED_ERRORS
        ));
    }
    if tally.profiling > 0 {
        account.note(format!(
            "{} Profiling events skipped (a CSV export leaves them out too)",
            tally.profiling
        ));
    }
    let untimed = account.events.saturating_sub(tally.timed);
    if untimed > 0 {
        account.note(format!(
            "{untimed} events carry a time outside what can be represented (a FILETIME past year 9999, e.g. 30828): kept without a time, so they are not placed near any 0x904"
        ));
    }
    if tally.orphans > 0 {
        // The process column is lost for them (a damaged or cut process table, or a damaged
        // index): data lost, so the file is partly read.
        account.damaged(format!(
            "{} events name a process that is not in the process table (damaged or cut): kept with an empty process, so no rule about a process sees them",
            tally.orphans
        ));
    }
    if tally.overlaps > 0 {
        // Their Path and Detail are lost: data lost, so the file is partly read.
        account.damaged(format!(
            "the detail of {} events is not decoded: their stack, detail or extra detail runs over the start of another event the event-offset array lists (no capture Process Monitor writes has one; a crafted file aims many events at one large detail to have it decoded again and again): their other fields are kept",
            tally.overlaps
        ));
    }
    if !tally.undecoded.is_empty() {
        let total: u64 = tally.undecoded.values().sum();
        let mut kinds: Vec<(&String, &u64)> = tally.undecoded.iter().collect();
        kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = kinds
            .iter()
            .take(8)
            .map(|(k, n)| format!("{k} ({n})"))
            .collect();
        let more = kinds.len().saturating_sub(8);
        account.note(format!(
            "the detail of {total} events of {} kinds is not decoded yet (their other fields are): {}{}",
            kinds.len(),
            list.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    account.times_parsed = Some(tally.timed);
    account.finish();
}
