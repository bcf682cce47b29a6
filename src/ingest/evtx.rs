//! EVTX files → events, with the `evtx` crate (0.15).
//!
//! Chunks (64 KiB, independent of each other) are the unit of parallel work: they are read in
//! order, parsed and rendered in batches on the caller's rayon pool, and emitted in order, so a
//! single large System.evtx uses every thread and the output does not depend on the thread
//! count. The parser itself runs single-threaded (`num_threads(1)`): docs/domain.md §5 reports a
//! deadlock when its own pool is combined with rayon over files.
//!
//! Each record the crate parses is read straight from its BinXML template and values by
//! [`super::binxml`] (97% of the corpus's records), which feeds the same event builder as the
//! XML reader of [`super::eventxml`]; any other record is rendered to XML and read by that
//! reader, the same code that reads event-log XML exports. Both give identical events (a
//! corpus test and a fuzz target check it record by record). Damage is counted, never
//! fatal: a failed chunk or record is one error, a file whose length is not a whole number of
//! chunks has lost its tail (the crate stops there silently, so it is checked here), and the
//! header's dirty flag is reported.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use evtx::binxml::value_variant::BinXmlValue;
use evtx::{EvtxChunkData, EvtxFileHeader, EvtxParser, EvtxRecord, HeaderFlags, ParserSettings};
use rayon::prelude::*;

use super::{Emit, Limits, MAX_LISTED_ERRORS};
use super::{binxml, eventxml};
use crate::model::{Event, FileAccount};

const FILE_HEADER_SIZE: usize = 4096;
const CHUNK_SIZE: usize = 65536;

/// What one chunk yielded.
struct ChunkOutput {
    events: Vec<Event>,
    read: u64,
    errors: Vec<String>,
    /// Unpaired UTF-16 surrogates in the records' text (the renderer writes each as `_`).
    lone_surrogates: u64,
    /// Checksum mismatches of a chunk read anyway: named, not counted as record errors.
    bad_checksums: Vec<String>,
    /// Records whose `TimeCreated` is past 9999 (see [`super::evtx_time`]): dated by their header.
    wrapped_times: u64,
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
        keep: &(dyn Fn(&Event) -> bool + Sync),
    ) {
        self.read += 1;
        let mut event = record.into_event(file, id);
        if super::evtx_time::wrapped(event.time) {
            event.time = None;
            self.wrapped_times += 1;
        }
        event.time.get_or_insert(header_time);
        if keep(&event) {
            self.events.push(event);
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

/// Read an EVTX file from `source`, `len` bytes long. The parser reads it chunk by chunk, so
/// memory does not grow with the file: a multi-gigabyte log (or one inflated from a zip) is
/// never held whole.
pub fn read_evtx(
    mut source: impl Read + Seek + Send,
    len: u64,
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
    let mut parser = match EvtxParser::from_read_seek(source) {
        Ok(p) => p.with_configuration(settings.clone()),
        Err(e) => {
            account.damaged(format!("cannot open as EVTX: {e}"));
            account.finish();
            return;
        }
    };
    let settings = Arc::new(settings);
    let batch_size = (emit.pool.current_num_threads() * 2).max(2);
    let mut batch: Vec<(u64, Result<EvtxChunkData, String>)> = Vec::with_capacity(batch_size);
    let mut listed = 0usize;
    let (mut lone, mut wrapped) = (0u64, 0u64);
    let mut chunk_index = 0u64;
    let mut chunks = parser.chunks();
    loop {
        let next = chunks.next();
        let done = next.is_none();
        if let Some(chunk) = next {
            batch.push((chunk_index, chunk.map_err(|e| e.to_string())));
            chunk_index += 1;
        }
        if batch.len() >= batch_size || (done && !batch.is_empty()) {
            let read = |(n, chunk): &mut (u64, Result<EvtxChunkData, String>)| {
                read_chunk(*n, chunk, &settings, emit.file, emit.keep, emit.limits)
            };
            // With one thread, handing each batch to the pool's only worker and waiting for
            // it is all cost (a wake-up and a sleep per batch): read it here instead.
            let outputs: Vec<ChunkOutput> = if emit.pool.current_num_threads() == 1 {
                batch.iter_mut().map(read).collect()
            } else {
                emit.pool
                    .install(|| batch.par_iter_mut().map(read).collect())
            };
            batch.clear();
            for out in outputs {
                account.events += out.read;
                lone += out.lone_surrogates;
                wrapped += out.wrapped_times;
                for why in out.bad_checksums {
                    account.damaged(why);
                }
                account.errors += out.errors.len() as u64;
                for e in out.errors {
                    if listed < MAX_LISTED_ERRORS {
                        account.damaged(e);
                    } else {
                        account.damaged_silently();
                    }
                    listed += 1;
                }
                if !out.events.is_empty() {
                    (emit.send)(out.events);
                }
            }
        }
        if done {
            break;
        }
    }
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

fn read_chunk(
    n: u64,
    chunk: &mut Result<EvtxChunkData, String>,
    settings: &Arc<ParserSettings>,
    file: &Arc<str>,
    keep: &(dyn Fn(&Event) -> bool + Sync),
    limits: &Limits,
) -> ChunkOutput {
    let mut out = ChunkOutput {
        events: Vec::new(),
        read: 0,
        errors: Vec::new(),
        lone_surrogates: 0,
        bad_checksums: Vec::new(),
        wrapped_times: 0,
    };
    let chunk = match chunk {
        Ok(c) => c,
        Err(e) => {
            out.errors.push(e.clone());
            return out;
        }
    };
    // The parser does not check checksums: a mismatch is named here. A log copied while open
    // can hold a chunk whose checksums were not yet updated, records intact, so by default the
    // chunk is read and the file reported as partly trustworthy; `--refuse-bad-chunks` drops it.
    let bad_header = !chunk.validate_header_checksum();
    if bad_header || !chunk.validate_data_checksum() {
        let what = if bad_header { "header" } else { "records" };
        if limits.refuse_bad_evtx_chunks {
            out.errors.push(format!(
                "chunk {n}: its {what} checksum does not match its bytes (altered or damaged): not read (--refuse-bad-chunks)"
            ));
            return out;
        }
        out.bad_checksums.push(format!(
            "chunk {n}: its {what} checksum does not match its bytes (altered or damaged, or not yet updated in a log copied while open): its records were read and may not be what Windows wrote (give --refuse-bad-chunks to drop such chunks)"
        ));
    }
    let mut parsed = match chunk.parse(Arc::clone(settings)) {
        Ok(p) => p,
        Err(e) => {
            out.errors.push(format!("chunk {n}: {e}"));
            return out;
        }
    };
    let xml_limits = limits.xml();
    let mut direct = binxml::ChunkReader::new(parsed.data);
    for record in parsed.iter() {
        // Most records are read straight from their template and values; the others are
        // rendered to XML and read back, which gives the same event.
        if let Ok(r) = &record
            && let Some(d) = direct.read(
                r.binxml_offset,
                r.binxml_size,
                &xml_limits,
                limits.evtx_record_bytes,
            )
        {
            out.lone_surrogates += d.lone_surrogates;
            out.add(d.record, file, r.event_record_id, r.timestamp, keep);
            continue;
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
                out.errors.push(super::evtx_time::record_error(&e));
                continue;
            }
        };
        let id = rendered.event_record_id;
        if rendered.data.len() as u64 > limits.evtx_record_bytes {
            out.errors.push(format!(
                "record {id}: renders to {} bytes, over the {}-byte limit (raise with --max-evtx-record-bytes)",
                rendered.data.len(),
                limits.evtx_record_bytes
            ));
            continue;
        }
        // The renderer writes UTF-8: it writes an unpaired UTF-16 surrogate (counted above)
        // and any character XML cannot hold as `_`, so nothing invalid reaches here; were it
        // to, the record is counted as an error rather than guessed at.
        let Ok(xml) = std::str::from_utf8(&rendered.data) else {
            out.errors
                .push(format!("record {id}: rendered XML is not UTF-8"));
            continue;
        };
        match eventxml::read_rendered(xml, &xml_limits) {
            Ok(rec) => out.add(rec, file, id, rendered.timestamp, keep),
            Err(e) => out
                .errors
                .push(format!("record {id}: rendered XML unreadable: {e}")),
        }
    }
    out
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
/// reading that back gives. Returns how many records were read directly and how many it left
/// to rendering; `Err` describes the first record that differs. For the corpus test, the
/// fuzz target and its regression test.
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
    for mut chunk in parser.chunks().flatten() {
        let Ok(mut parsed) = chunk.parse(Arc::clone(&settings)) else {
            continue;
        };
        let mut reader = binxml::ChunkReader::new(parsed.data);
        for record in parsed.iter().flatten() {
            let id = record.event_record_id;
            let max = 4 << 20;
            let Some(got) = reader.read(record.binxml_offset, record.binxml_size, limits, max)
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
