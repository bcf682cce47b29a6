//! EVTX files → events, with the `evtx` crate (0.15).
//!
//! Chunks (64 KiB, independent of each other) are the unit of parallel work: they are read in
//! order, each parsed as its own job on the caller's rayon pool (a window of them in flight,
//! [`super::ordered`]), and emitted in order, so a single large System.evtx uses every thread,
//! the pool never waits for the emitting thread, and the output does not depend on the thread
//! count. The parser itself runs single-threaded (`num_threads(1)`): docs/domain.md §5 reports a
//! deadlock when its own pool is combined with rayon over files.
//!
//! One pass per record: the chunk's records are found by walking their headers here (magic,
//! size, id, time; bounds-checked, the way the crate's iterator walks them) and each is read
//! straight from its BinXML template and values by [`super::binxml`], which feeds the same
//! event builder as the XML reader of [`super::eventxml`]. Only a chunk where that does not go
//! cleanly (a record header that does not read, a record the direct reader does not take) is
//! read with the crate's iterator, which builds its own tree of every record, decides what is
//! an error and where reading resumes; there any record the direct reader does not take is
//! rendered to XML and read by the eventxml reader, the same code that reads event-log XML
//! exports. All paths give identical events and errors (a corpus test and a fuzz target check
//! it chunk by chunk and record by record). Damage is counted, never fatal: a failed chunk or
//! record is one error ([`Problem::Record`] says where), a file whose length is not a whole
//! number of chunks has lost its tail (the crate stops there silently, so it is checked here),
//! and the header's dirty flag is reported.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use evtx::binxml::value_variant::BinXmlValue;
use evtx::err::EvtxError;
use evtx::{
    EvtxChunk, EvtxChunkData, EvtxChunkHeader, EvtxFileHeader, EvtxParser, EvtxRecord,
    EvtxRecordHeader, HeaderFlags, ParserSettings,
};

use super::evtx_chunks::{self, ChunkWork};
use super::{Emit, Limits, MAX_LISTED_ERRORS};
use super::{binxml, eventxml};
use crate::model::{At, Event, EventKind, FileAccount, Problem};

pub(super) const FILE_HEADER_SIZE: usize = 4096;
pub(super) const CHUNK_SIZE: usize = 65536;
/// Where a chunk's first record starts, and a record's header (magic, size, id, FILETIME).
const CHUNK_HEADER_SIZE: u64 = 512;
const RECORD_HEADER_SIZE: u64 = 24;

/// Chunks read and not yet handed on, per pool thread: enough that a slow chunk does not stall
/// the others, few enough that memory stays a few chunks' events per thread.
const CHUNKS_IN_FLIGHT_PER_THREAD: usize = 8;

/// What one chunk yielded.
#[derive(Default)]
struct ChunkOutput {
    events: Vec<Event>,
    read: u64,
    /// Chunks and records that could not be read, each counted as one record error.
    errors: Vec<Problem>,
    /// Unpaired UTF-16 surrogates in the records' text (the renderer writes each as `_`).
    lone_surrogates: u64,
    /// Checksum mismatches of a chunk read anyway: named, not counted as record errors.
    bad_checksums: Vec<String>,
    /// Records whose `TimeCreated` is past 9999 (see [`super::evtx_time`]): dated by their header.
    wrapped_times: u64,
    /// The chunk's last few distinct kept payloads, for the next kept events to share: the
    /// direct reader's builder shares what it builds already; the records rendered and read
    /// back (a builder each) share here.
    recent: eventxml::Payloads,
}

impl ChunkOutput {
    /// One record read: counted, dated by its header when its XML has no `TimeCreated`, and
    /// kept if `keep` wants it.
    fn add(
        &mut self,
        record: eventxml::XmlRecord,
        file: &Arc<str>,
        id: u64,
        header_time: jiff::Timestamp,
        keep: &super::Keep,
    ) {
        self.read += 1;
        let mut event = record.into_event(file, id);
        if super::evtx_time::wrapped(event.time) {
            event.time = None;
            self.wrapped_times += 1;
        }
        event.time.get_or_insert(header_time);
        if keep(&mut event) {
            if let EventKind::Win(payload) = &mut event.kind {
                self.recent.share(payload);
            }
            self.events.push(event);
        }
    }
}

/// What a file's chunks add up to, taken in chunk order: counts and problems into the account,
/// events handed on.
struct Tally<'a> {
    account: &'a mut FileAccount,
    /// Record errors so far (listed up to [`MAX_LISTED_ERRORS`], then counted).
    listed: usize,
    lone: u64,
    wrapped: u64,
}

impl Tally<'_> {
    fn take(&mut self, out: ChunkOutput, send: &mut dyn FnMut(Vec<Event>)) {
        let account = &mut *self.account;
        account.events += out.read;
        self.lone += out.lone_surrogates;
        self.wrapped += out.wrapped_times;
        for why in out.bad_checksums {
            account.damaged(why);
        }
        account.errors += out.errors.len() as u64;
        for e in out.errors {
            if self.listed < MAX_LISTED_ERRORS {
                account.lost(e);
            } else {
                account.damaged_silently();
            }
            self.listed += 1;
        }
        if !out.events.is_empty() {
            send(out.events);
        }
    }
}

/// The parser settings every reader of EVTX here uses: the parser single-threaded (chunks are
/// spread over rdtriage's own pool, docs/domain.md §5), and no indentation (12% less XML to render
/// and read back for the records that are rendered, same events).
#[doc(hidden)]
pub fn parser_settings() -> ParserSettings {
    ParserSettings::new().num_threads(1).indent(false)
}

/// How [`read_evtx`] walks a source's chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// In file order on the calling thread: what a stream that seeks at a cost (a zip entry,
    /// inflated as it goes) needs.
    Streamed,
    /// For a source read at any offset cheaply (a file on disk, bytes in memory): the same
    /// chunks, events and account, each chunk's bytes copied by the job that parses it
    /// ([`super::evtx_chunks`]), not by the calling thread.
    Positional,
}

/// Read an EVTX file from `source`, `len` bytes long. The parser reads it chunk by chunk, so
/// memory does not grow with the file: a multi-gigabyte log (or one inflated from a zip) is
/// never held whole.
pub fn read_evtx(
    source: impl Read + Seek + Send,
    len: u64,
    walk: Walk,
    emit: &mut Emit<'_>,
    account: &mut FileAccount,
) {
    read_source(source, None, len, walk, emit, account);
}

/// [`read_evtx`] of a file on disk, `len` bytes long: every thread copies its chunks' bytes
/// at their offsets, none waiting for another's copy.
pub fn read_evtx_file(
    file: std::fs::File,
    len: u64,
    emit: &mut Emit<'_>,
    account: &mut FileAccount,
) {
    // A second handle on the same file for the reads at an offset (they leave its position
    // alone); without one, the chunks are copied through the first, in turn.
    let at = file.try_clone().ok();
    read_source(file, at, len, Walk::Positional, emit, account);
}

fn read_source(
    mut source: impl Read + Seek + Send,
    at: Option<std::fs::File>,
    len: u64,
    walk: Walk,
    emit: &mut Emit<'_>,
    account: &mut FileAccount,
) {
    if len < FILE_HEADER_SIZE as u64 {
        account.damaged(format!(
            "too short for an EVTX file: {len} bytes, the file header alone is {FILE_HEADER_SIZE}"
        ));
        account.finish();
        return;
    }
    let mut header = vec![0u8; FILE_HEADER_SIZE];
    let read_header = source
        .read_exact(&mut header)
        .and_then(|()| source.seek(SeekFrom::Start(0)));
    if let Err(e) = read_header {
        account.damaged(format!("cannot read the EVTX file header: {e}"));
        account.finish();
        return;
    }
    let whole_chunks = (len - FILE_HEADER_SIZE as u64) / CHUNK_SIZE as u64;
    match EvtxFileHeader::from_bytes(&header) {
        Ok(header) => {
            if header.flags.contains(HeaderFlags::DIRTY) {
                account.note("header marked dirty (copied while the log was open)".to_string());
            }
            if !header.validate_checksum() {
                account.note(format!(
                    "the file header's checksum does not match its bytes (stored {:08x}, computed {:08x}): the header was altered or damaged; chunks are read by their own checksums",
                    header.checksum, header.computed_checksum
                ));
            }
            if u64::from(header.chunk_count) != whole_chunks {
                account.note(format!(
                    "the file header claims {} chunks, the file holds {whole_chunks}: every chunk present is read",
                    header.chunk_count
                ));
            }
        }
        Err(e) => account.damaged(format!("bad EVTX file header: {e}")),
    }
    let tail = (len - FILE_HEADER_SIZE as u64) % CHUNK_SIZE as u64;
    if tail != 0 {
        account.damaged(format!(
            "truncated: the file ends {tail} bytes into a chunk (length {len} is not 4096 + a multiple of 65536); records in that last partial chunk are lost"
        ));
    }

    let settings = parser_settings();
    let parser = match EvtxParser::from_read_seek(&mut source) {
        Ok(p) => p.with_configuration(settings.clone()),
        Err(e) => {
            account.damaged(format!("cannot open as EVTX: {e}"));
            account.finish();
            return;
        }
    };
    let settings = Arc::new(settings);
    let (file, keep, limits) = (emit.file, emit.keep, emit.limits);
    let parse = |n: u64, chunk: Result<Option<EvtxChunkData>, String>| match chunk {
        Ok(Some(mut chunk)) => {
            let out = read_chunk(n, &mut chunk, &settings, file, keep, limits, Records::Own);
            evtx_chunks::recycle(chunk.data);
            out
        }
        // All zeros (a file changed while it was read): nothing, as if skipped.
        Ok(None) => ChunkOutput::default(),
        Err(e) => ChunkOutput {
            errors: vec![chunk_problem(e)],
            ..ChunkOutput::default()
        },
    };
    let mut tally = Tally {
        account: &mut *account,
        listed: 0,
        lone: 0,
        wrapped: 0,
    };
    let send = &mut *emit.send;
    let mut take = |out: ChunkOutput| tally.take(out, send);
    // Chunks (64 KiB, a few hundred records) are read by this thread and `threads - 1`
    // helpers on the pool, from one queue, while this thread hands the results on in order:
    // no thread waits for a batch's slowest chunk, and memory stays a few chunks' events per
    // thread. With one thread (or already on the pool: a batch ticket) they are read here,
    // which costs no hand-offs.
    let threads = emit.pool.current_num_threads();
    let pool = (threads > 1 && emit.pool.current_thread_index().is_none())
        .then_some((emit.pool, threads * CHUNKS_IN_FLIGHT_PER_THREAD));
    if walk == Walk::Positional {
        // The crate's chunk count: the length past the header's block size.
        let block = u64::from(parser.header().header_block_size);
        drop(parser);
        let stream = source.seek(SeekFrom::End(0)).unwrap_or(len);
        let count = stream.saturating_sub(block) / CHUNK_SIZE as u64;
        let shared = evtx_chunks::Shared::new(source, at);
        let read = |(n, work): (u64, ChunkWork)| {
            parse(
                n,
                match work {
                    ChunkWork::Read(chunk) => chunk.map(|c| Some(*c)),
                    ChunkWork::At(number) => shared.chunk(number).map_err(|e| e.to_string()),
                },
            )
        };
        let chunks = evtx_chunks::Planned::new(&shared, count, stream);
        in_order(pool, (0u64..).zip(chunks), &read, &mut take);
    } else {
        let mut parser = parser;
        let read = |(n, chunk): (u64, Result<EvtxChunkData, String>)| parse(n, chunk.map(Some));
        let chunks = parser.chunks().map(|c| c.map_err(|e| e.to_string()));
        in_order(pool, (0u64..).zip(chunks), &read, &mut take);
    }
    let Tally {
        listed,
        lone,
        wrapped,
        ..
    } = tally;
    if lone > 0 {
        account.note(format!(
            "{lone} unpaired UTF-16 surrogates (invalid text) replaced with '_'"
        ));
    }
    if wrapped > 0 {
        account.note(super::evtx_time::wrapped_note(wrapped));
    }
    if listed > MAX_LISTED_ERRORS {
        account.more_not_listed(format!(
            "... and {} more record errors",
            listed - MAX_LISTED_ERRORS
        ));
    }
    account.finish();
}

/// `items.map(read).for_each(take)`, on `pool` (with its window of items in flight) when given.
fn in_order<T: Send>(
    pool: Option<(&rayon::ThreadPool, usize)>,
    items: impl Iterator<Item = T>,
    read: &(dyn Fn(T) -> ChunkOutput + Sync),
    take: &mut dyn FnMut(ChunkOutput),
) {
    match pool {
        Some((pool, window)) => super::ordered::map_in_order(pool, window, items, read, take),
        None => items.map(read).for_each(take),
    }
}

/// How a chunk's records are found: by walking their headers here and reading each straight
/// from its template (the crate's iterator only for a chunk where that does not go cleanly),
/// or always by the crate's iterator (to check that the two agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Records {
    Own,
    Crate,
}

fn read_chunk(
    n: u64,
    chunk: &mut EvtxChunkData,
    settings: &Arc<ParserSettings>,
    file: &Arc<str>,
    keep: &super::Keep,
    limits: &Limits,
    records: Records,
) -> ChunkOutput {
    let mut out = ChunkOutput::default();
    // The file's name as this chunk's events hold it: a copy of the chunk's own, so that the
    // count every record's event takes on it (and gives back when the event is dropped) stays
    // in the cache of the one thread reading the chunk. On one name shared by every thread,
    // each count moved its cache line from core to core.
    let file: &Arc<str> = &Arc::from(&**file);
    // The parser does not check checksums: a mismatch is named here. A log copied while open
    // can hold a chunk whose checksums were not yet updated, records intact, so by default the
    // chunk is read and the file reported as partly trustworthy; `--refuse-bad-chunks` drops it.
    // The records' checksum covers the bytes from 512 up to the free-space offset: an offset
    // at or before 512 leaves every record the header numbers unread (the walk stops there, as
    // the crate's does), and the checksum says nothing of them. Named for what it is.
    let header = &chunk.header;
    let free = u64::from(header.free_space_offset);
    // An empty chunk, as Windows leaves one, numbers its records u64::MAX–u64::MAX: none.
    let numbered = match (header.first_event_record_id, header.last_event_record_id) {
        (u64::MAX, _) | (_, u64::MAX) => 0,
        (first, last) => last.checked_sub(first).map_or(0, |d| d.saturating_add(1)),
    };
    let no_room = free <= CHUNK_HEADER_SIZE && numbered > 0;
    if no_room {
        out.bad_checksums.push(format!(
            "chunk {n}: its free-space offset ({free}) leaves no room for records (they start at byte 512) while its header numbers records {}–{}: {numbered} records not read",
            header.first_event_record_id, header.last_event_record_id
        ));
    }
    let bad_header = !chunk.validate_header_checksum();
    if bad_header || (!no_room && !chunk.validate_data_checksum()) {
        let what = if bad_header { "header" } else { "records" };
        if limits.refuse_bad_evtx_chunks {
            out.errors.push(chunk_problem(format!(
                "chunk {n}: its {what} checksum does not match its bytes (altered or damaged): not read (--refuse-bad-chunks)"
            )));
            return out;
        }
        out.bad_checksums.push(format!(
            "chunk {n}: its {what} checksum does not match its bytes (altered or damaged, or not yet updated in a log copied while open): its records were read and may not be what Windows wrote (give --refuse-bad-chunks to drop such chunks)"
        ));
    }
    // Parsing builds the chunk's string table only (a failure is the chunk's); each record's
    // own tree is built by the crate's iterator, which runs only when the walk below does not
    // go cleanly.
    let mut parsed = match chunk.parse(Arc::clone(settings)) {
        Ok(p) => p,
        Err(e) => {
            out.errors.push(chunk_problem(format!("chunk {n}: {e}")));
            return out;
        }
    };
    if records == Records::Own && read_walked(n, &parsed, file, keep, limits, &mut out) {
        return out;
    }
    read_iterated(n, &mut parsed, file, keep, limits, &mut out);
    out
}

/// One record found by its header: its id, its header's time, and where its BinXML is.
struct Walked {
    id: u64,
    time: jiff::Timestamp,
    offset: u64,
    size: u32,
}

/// The chunk's live records by their headers, walked as the evtx crate's iterator walks them:
/// from the chunk header, record after record, up to the free space (or the chunk's end) or
/// the chunk's last record id. `false` as soon as a header does not read cleanly: the crate's
/// iterator then decides what is an error and where reading resumes.
fn walk_records(data: &[u8], header: &EvtxChunkHeader, out: &mut Vec<Walked>) -> bool {
    let live_end = u64::from(header.free_space_offset).min(data.len() as u64);
    let mut at = CHUNK_HEADER_SIZE;
    while at < live_end {
        let Ok(start) = usize::try_from(at) else {
            return false;
        };
        let Ok(record) = EvtxRecordHeader::from_bytes_at(data, start) else {
            return false;
        };
        let Ok(size) = record.record_data_size() else {
            return false;
        };
        let offset = at + RECORD_HEADER_SIZE;
        if offset.saturating_add(u64::from(size)) > data.len() as u64 {
            return false;
        }
        out.push(Walked {
            id: record.event_record_id,
            time: record.timestamp,
            offset,
            size,
        });
        if record.event_record_id == header.last_event_record_id {
            break;
        }
        at += u64::from(record.data_size);
    }
    true
}

/// Read a chunk whose record headers walk cleanly and whose every record the direct reader
/// takes (reads, or refuses for a bound); `false` (and nothing added to `out`) otherwise, for
/// the crate's iterator to read it. The crate then builds no tree of its own for any of the
/// chunk's records: one pass per record.
fn read_walked(
    n: u64,
    parsed: &EvtxChunk<'_>,
    file: &Arc<str>,
    keep: &super::Keep,
    limits: &Limits,
    out: &mut ChunkOutput,
) -> bool {
    let mut walked = Vec::new();
    if !walk_records(parsed.data, parsed.header, &mut walked) {
        return false;
    }
    let xml_limits = limits.xml();
    let mut direct = binxml::ChunkReader::new(parsed.data).chunk_bytes(limits.evtx_chunk());
    let mut read = Vec::with_capacity(walked.len());
    for w in &walked {
        match direct.read(w.offset, w.size, &xml_limits, limits.evtx_record_bytes) {
            binxml::Direct::Unhandled => return false,
            d => read.push(d),
        }
    }
    for (w, d) in walked.iter().zip(read) {
        match d {
            binxml::Direct::Read(d) => {
                out.lone_surrogates += d.lone_surrogates;
                out.add(d.record, file, w.id, w.time, keep);
            }
            refused => out.errors.push(refusal(&refused, n, w.id, limits)),
        }
    }
    true
}

/// The problem of a record the direct reader refused for a bound: its own text, or its
/// chunk's.
fn refusal(d: &binxml::Direct, n: u64, id: u64, limits: &Limits) -> Problem {
    match d {
        binxml::Direct::OverRecord => record_over(id, limits.evtx_record_bytes),
        _ => chunk_over(n, id, limits.evtx_chunk()),
    }
}

/// A record whose text is read past `--max-evtx-record-bytes` (`limit`).
fn record_over(id: u64, limit: u64) -> Problem {
    Problem::Refused {
        limit,
        flag: "--max-evtx-record-bytes",
        message: format!(
            "record {id}: expands to more than {limit} bytes, over the {limit}-byte limit (raise with --max-evtx-record-bytes)"
        ),
    }
}

/// A record of chunk `n` not read because the chunk's records, with it, expand past
/// `--max-evtx-chunk-bytes` (`limit`).
fn chunk_over(n: u64, id: u64, limit: u64) -> Problem {
    Problem::Refused {
        limit,
        flag: "--max-evtx-chunk-bytes",
        message: format!(
            "record {id}: not read: with it, the records of chunk {n} expand to more than {limit} bytes, over the {limit}-byte limit for one chunk (raise with --max-evtx-chunk-bytes)"
        ),
    }
}

/// Read a chunk's records as the crate's iterator gives them: each read straight from its
/// template where the direct reader takes it, else rendered to XML and read back. Every
/// record, however read, draws on the chunk's bound; once it is spent nothing more is
/// rendered.
fn read_iterated(
    n: u64,
    parsed: &mut EvtxChunk<'_>,
    file: &Arc<str>,
    keep: &super::Keep,
    limits: &Limits,
    out: &mut ChunkOutput,
) {
    let xml_limits = limits.xml();
    let mut direct = binxml::ChunkReader::new(parsed.data).chunk_bytes(limits.evtx_chunk());
    for record in parsed.iter() {
        // Most records are read straight from their template and values; the others are
        // rendered to XML and read back, which gives the same event.
        if let Ok(r) = &record {
            let d = direct.read(
                r.binxml_offset,
                r.binxml_size,
                &xml_limits,
                limits.evtx_record_bytes,
            );
            match d {
                binxml::Direct::Read(d) => {
                    out.lone_surrogates += d.lone_surrogates;
                    out.add(d.record, file, r.event_record_id, r.timestamp, keep);
                    continue;
                }
                binxml::Direct::Unhandled if direct.spent() => {
                    out.errors
                        .push(chunk_over(n, r.event_record_id, limits.evtx_chunk()));
                    continue;
                }
                binxml::Direct::Unhandled => {}
                refused => {
                    out.errors
                        .push(refusal(&refused, n, r.event_record_id, limits));
                    continue;
                }
            }
        }
        // A record whose raw bytes hold what may be an unpaired surrogate is kept aside, to
        // count them should its rendering hold the `_` the renderer writes for one.
        let suspect = record
            .as_ref()
            .ok()
            .filter(|r| may_hold_unpaired(r))
            .cloned();
        let rendered = record.and_then(|r| r.into_xml_bytes());
        if let (Some(r), Ok(x)) = (&suspect, &rendered)
            && memchr::memchr(b'_', &x.data).is_some()
        {
            out.lone_surrogates += lone_surrogates(r);
        }
        let rendered = match rendered {
            Ok(r) => r,
            Err(e) => {
                let problem = past_what_renders(&e, limits.evtx_record_bytes)
                    .unwrap_or_else(|| record_problem(n, &e));
                out.errors.push(problem);
                continue;
            }
        };
        let id = rendered.event_record_id;
        let at = At {
            chunk: Some(n),
            record: Some(id),
            offset: None,
        };
        if rendered.data.len() as u64 > limits.evtx_record_bytes {
            // Rendered, it cost its chunk what it rendered to.
            direct.charge(rendered.data.len() as u64);
            out.errors.push(Problem::Refused {
                limit: limits.evtx_record_bytes,
                flag: "--max-evtx-record-bytes",
                message: format!(
                    "record {id}: renders to {} bytes, over the {}-byte limit (raise with --max-evtx-record-bytes)",
                    rendered.data.len(),
                    limits.evtx_record_bytes
                ),
            });
            continue;
        }
        // The renderer writes UTF-8: it writes an unpaired UTF-16 surrogate (counted above)
        // and any character XML cannot hold as `_`, so nothing invalid reaches here; were it
        // to, the record is counted as an error rather than guessed at.
        let Ok(xml) = std::str::from_utf8(&rendered.data) else {
            out.errors.push(Problem::Record {
                at,
                message: format!("record {id}: rendered XML is not UTF-8"),
            });
            continue;
        };
        // It costs its chunk what it rendered to, or what its event holds when that is more:
        // past what the chunk has left, it is not read back.
        let xml_len = xml.len() as u64;
        if !direct.charge(xml_len) {
            out.errors.push(chunk_over(n, id, limits.evtx_chunk()));
            continue;
        }
        match eventxml::read_rendered(xml, &xml_limits) {
            Ok(rec) => {
                if direct.charge(binxml::expanded_bytes(&rec).saturating_sub(xml_len)) {
                    out.add(rec, file, id, rendered.timestamp, keep);
                } else {
                    out.errors.push(chunk_over(n, id, limits.evtx_chunk()));
                }
            }
            Err(e) => out.errors.push(Problem::Record {
                at,
                message: format!("record {id}: rendered XML unreadable: {e}"),
            }),
        }
    }
}

/// The most the `evtx` crate renders of one record, and its words for a record past it
/// (the crate is pinned, and asserts its message matches this size).
const CRATE_RENDER_MAX: u64 = 16 << 20;
const CRATE_RENDER_TOO_LARGE: &str = "record renders to more than 16 MiB";

/// A record the crate refused for rendering past [`CRATE_RENDER_MAX`]. The direct reader,
/// which reads a record's text up to `--max-evtx-record-bytes` (`limit`), gave it up first:
/// under a lower limit the record is over it, refused as any record whose text passes it
/// (its size past the crate's is all that is known); under a higher one the record is named
/// with both bounds. `None` for any other error (the crate's words then).
fn past_what_renders(e: &EvtxError, limit: u64) -> Option<Problem> {
    let id = match e {
        EvtxError::FailedToParseRecord { record_id, source } if renders_too_much(source) => {
            *record_id
        }
        _ => return None,
    };
    if limit < CRATE_RENDER_MAX {
        return Some(Problem::Refused {
            limit,
            flag: "--max-evtx-record-bytes",
            message: format!(
                "record {id}: renders to more than {CRATE_RENDER_MAX} bytes, over the {limit}-byte limit (raise with --max-evtx-record-bytes)"
            ),
        });
    }
    Some(Problem::Record {
        at: At {
            record: Some(id),
            ..At::default()
        },
        message: format!(
            "record {id}: renders to more than {CRATE_RENDER_MAX} bytes, the most the evtx crate renders, and could not be read directly within the {limit}-byte limit of --max-evtx-record-bytes"
        ),
    })
}

/// Whether the crate's error, through the layers it wraps, is its render size bound.
fn renders_too_much(e: &EvtxError) -> bool {
    match e {
        EvtxError::FailedToCreateRecordModel(why) => *why == CRATE_RENDER_TOO_LARGE,
        EvtxError::FailedToParseRecord { source, .. }
        | EvtxError::FailedToReadRecordAt { source, .. } => renders_too_much(source),
        _ => false,
    }
}

/// A chunk that could not be read at all (or was refused), as a problem of the file.
fn chunk_problem(message: String) -> Problem {
    Problem::Damaged(message)
}

/// A record the crate could not read, with where it is: chunk `n`, and the record's id or its
/// offset in the file.
fn record_problem(n: u64, e: &EvtxError) -> Problem {
    let mut at = At {
        chunk: Some(n),
        ..At::default()
    };
    match e {
        EvtxError::FailedToParseRecord { record_id, .. } => at.record = Some(*record_id),
        EvtxError::FailedToReadRecordAt { offset, .. } => {
            at.offset = Some(FILE_HEADER_SIZE as u64 + n * CHUNK_SIZE as u64 + offset);
        }
        _ => {}
    }
    Problem::Record {
        at,
        message: super::evtx_time::record_error(e),
    }
}

/// Whether a record's raw bytes hold what may be an unpaired surrogate.
fn may_hold_unpaired(record: &EvtxRecord<'_>) -> bool {
    let start = record.binxml_offset as usize;
    let end = start.saturating_add(record.binxml_size as usize);
    record
        .chunk
        .data
        .get(start..end)
        .is_some_and(unpaired_anywhere)
}

/// Unpaired UTF-16 surrogates in a record's substitution strings.
fn lone_surrogates(record: &EvtxRecord<'_>) -> u64 {
    let Ok(instances) = record.template_instances() else {
        return 0;
    };
    let mut count = 0;
    for value in instances.iter().flat_map(|i| &i.values) {
        match value {
            BinXmlValue::StringType(s) => count += unpaired(s.as_bytes()),
            BinXmlValue::StringArrayType(items) => {
                count += items.iter().map(|s| unpaired(s.as_bytes())).sum::<u64>();
            }
            _ => {}
        }
    }
    count
}

/// Whether `bytes` hold something that looks like an unpaired UTF-16LE surrogate at either
/// alignment: a high half (0xD8-0xDB) not followed two bytes on by a low half (0xDC-0xDF), or
/// a low half not preceded by a high one. Binary data can look like one too: this only decides
/// whether to look closer.
fn unpaired_anywhere(bytes: &[u8]) -> bool {
    const BLOCK: usize = 32;
    bytes.chunks(BLOCK).enumerate().any(|(n, block)| {
        // A branch-free pass (it vectorizes) finds the blocks worth a closer look.
        if !block
            .iter()
            .fold(false, |seen, &b| seen | (b & 0xF8 == 0xD8))
        {
            return false;
        }
        (n * BLOCK..n * BLOCK + block.len()).any(|i| match bytes[i] {
            0xD8..=0xDB => !bytes.get(i + 2).is_some_and(|n| (0xDC..=0xDF).contains(n)),
            0xDC..=0xDF => !(i >= 2 && (0xD8..=0xDB).contains(&bytes[i - 2])),
            _ => false,
        })
    })
}

/// Unpaired surrogates in UTF-16LE `bytes`.
fn unpaired(bytes: &[u8]) -> u64 {
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units).filter(Result::is_err).count() as u64
}

/// Check the direct reader ([`binxml`]) against rendering on every record of an EVTX file:
/// each record it reads must give exactly the event that rendering the record to XML and
/// reading that back gives; and each chunk read by walking its record headers (what ingest
/// does) must give exactly what the crate's iterator gives, events and errors alike. Returns
/// how many records were read directly and how many it left to rendering; `Err` describes the
/// first record or chunk that differs. For the corpus test, the fuzz target and its
/// regression test.
#[doc(hidden)]
pub fn direct_matches_rendering(
    source: impl Read + Seek,
    limits: &eventxml::XmlLimits,
) -> Result<(usize, usize), String> {
    let settings = parser_settings();
    let Ok(parser) = EvtxParser::from_read_seek(source) else {
        return Ok((0, 0));
    };
    let mut parser = parser.with_configuration(settings.clone());
    let settings = Arc::new(settings);
    let (mut direct, mut rendered) = (0, 0);
    for (n, chunk) in parser.chunks().enumerate() {
        let Ok(mut chunk) = chunk else {
            continue;
        };
        own_walk_agrees(n as u64, &mut chunk, &settings, limits)?;
        let Ok(mut parsed) = chunk.parse(Arc::clone(&settings)) else {
            continue;
        };
        let mut reader = binxml::ChunkReader::new(parsed.data);
        for record in parsed.iter().flatten() {
            let id = record.event_record_id;
            let max = 4 << 20;
            let Some(got) = reader
                .read(record.binxml_offset, record.binxml_size, limits, max)
                .ok()
            else {
                rendered += 1;
                continue;
            };
            direct += 1;
            let xml = record
                .into_xml()
                .map_err(|e| format!("record {id} is read directly but does not render: {e}"))?;
            match eventxml::read_rendered(&xml.data, limits) {
                Ok(expected) if expected == got.record => {}
                Ok(expected) => {
                    return Err(format!(
                        "record {id}: rendered {expected:?}\ndirect {:?}\n{}",
                        got.record, xml.data
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "record {id} is read directly, its XML not: {e}\n{}",
                        xml.data
                    ));
                }
            }
        }
    }
    Ok((direct, rendered))
}

/// Reading a chunk by walking its record headers here ([`Records::Own`], what ingest does)
/// gives exactly what reading it with the crate's iterator gives: the same events, record
/// errors, surrogate count and checksum notes.
fn own_walk_agrees(
    n: u64,
    chunk: &mut EvtxChunkData,
    settings: &Arc<ParserSettings>,
    limits: &eventxml::XmlLimits,
) -> Result<(), String> {
    let limits = Limits {
        xml_depth: limits.depth,
        xml_elements: limits.elements,
        evtx_record_bytes: 4 << 20,
        ..Limits::default()
    };
    let file: Arc<str> = Arc::from("f");
    let keep = |_: &mut Event| true;
    let own = read_chunk(n, chunk, settings, &file, &keep, &limits, Records::Own);
    let by_crate = read_chunk(n, chunk, settings, &file, &keep, &limits, Records::Crate);
    let view = |o: &ChunkOutput| {
        format!(
            "{} read, {} events, errors {:?}, {} lone surrogates, {:?}",
            o.read,
            o.events.len(),
            o.errors,
            o.lone_surrogates,
            o.bad_checksums
        )
    };
    if own.events != by_crate.events || view(&own) != view(&by_crate) {
        return Err(format!(
            "chunk {n}: walked {}\niterated {}",
            view(&own),
            view(&by_crate)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Fields, WinEvent};

    fn event(record: u64, id: u32, data: &[(&str, &str)]) -> Event {
        let mut fields = Fields::default();
        for (k, v) in data {
            fields.push(*k, *v);
        }
        Event {
            file: Arc::from("System.evtx"),
            record,
            time: None,
            kind: EventKind::Win(Arc::new(WinEvent {
                channel: "System".into(),
                provider: "Schannel".into(),
                event_id: id,
                computer: "dc01".into(),
                data: fields,
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    fn payload(e: &mut Event) -> &mut Arc<WinEvent> {
        match &mut e.kind {
            EventKind::Win(w) => w,
            _ => unreachable!("a Windows event"),
        }
    }

    fn share(recent: &mut eventxml::Payloads, e: &mut Event) {
        recent.share(payload(e));
    }

    #[test]
    fn kept_events_with_equal_payloads_share_one() {
        let mut recent = eventxml::Payloads::default();
        let mut kept = Vec::new();
        for n in 0..40u64 {
            // A flood alternating two events, each payload built anew as the reader does.
            let id = if n % 2 == 0 { 36874 } else { 36888 };
            let mut e = event(n, id, &[("AlertDesc", "40")]);
            share(&mut recent, &mut e);
            kept.push(e);
        }
        let mut other = event(99, 36874, &[("AlertDesc", "41")]);
        share(&mut recent, &mut other);
        let (first, second) = (payload(&mut kept[0]).clone(), payload(&mut kept[1]).clone());
        for (n, e) in kept.iter_mut().enumerate() {
            let shared = if n % 2 == 0 { &first } else { &second };
            assert!(Arc::ptr_eq(payload(e), shared), "event {n}");
            assert_eq!(e.record, n as u64);
        }
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, payload(&mut other)));
        assert_eq!(payload(&mut other).data.get("AlertDesc"), Some("41"));
    }

    #[test]
    fn a_payload_differing_in_any_field_is_not_shared() {
        let changes: [fn(&mut WinEvent); 10] = [
            |w| w.channel = "Application".into(),
            |w| w.provider = "Other".into(),
            |w| w.event_id = 36888,
            |w| w.qualifiers = Some(0xC000),
            |w| w.level = Some(2),
            |w| w.computer = "dc02".into(),
            |w| w.activity_id = Some("{A}".into()),
            |w| w.process_id = Some(4),
            |w| w.data.push("B", "y"),
            |w| {
                w.data = Fields::default();
                w.data.push("a", "x");
            },
        ];
        for (n, change) in changes.into_iter().enumerate() {
            let mut recent = eventxml::Payloads::default();
            let mut first = event(1, 36874, &[("A", "x")]);
            share(&mut recent, &mut first);
            let mut equal = event(2, 36874, &[("A", "x")]);
            share(&mut recent, &mut equal);
            assert!(Arc::ptr_eq(payload(&mut first), payload(&mut equal)));
            let mut changed = event(3, 36874, &[("A", "x")]);
            change(Arc::make_mut(payload(&mut changed)));
            let before = (**payload(&mut changed)).clone();
            share(&mut recent, &mut changed);
            assert!(
                !Arc::ptr_eq(payload(&mut first), payload(&mut changed)),
                "change {n}"
            );
            assert_eq!(**payload(&mut changed), before, "change {n}");
        }
    }
}
