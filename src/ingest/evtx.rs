//! EVTX files → events, with the `evtx` crate (0.15).
//!
//! Chunks (64 KiB, independent of each other) are the unit of parallel work: they are read in
//! order, parsed and rendered in batches on the caller's rayon pool, and emitted in order, so a
//! single large System.evtx uses every thread and the output does not depend on the thread
//! count. The parser itself runs single-threaded (`num_threads(1)`): DOMAIN.md §5 reports a
//! deadlock when its own pool is combined with rayon over files.
//!
//! Each record is rendered to XML and read by [`super::eventxml`], the same code that reads
//! event-log XML exports, so both inputs give identical events. Damage is counted, never
//! fatal: a failed chunk or record is one error, a file whose length is not a whole number of
//! chunks has lost its tail (the crate stops there silently, so it is checked here), and the
//! header's dirty flag is reported.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use evtx::{EvtxChunkData, EvtxFileHeader, EvtxParser, HeaderFlags, ParserSettings};
use rayon::prelude::*;

use super::eventxml;
use super::{Emit, Limits, MAX_LISTED_ERRORS};
use crate::model::{Event, FileAccount};

const FILE_HEADER_SIZE: usize = 4096;
const CHUNK_SIZE: usize = 65536;

/// What one chunk yielded.
struct ChunkOutput {
    events: Vec<Event>,
    read: u64,
    errors: Vec<String>,
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
    match EvtxFileHeader::from_bytes(&header) {
        Ok(header) => {
            if header.flags.contains(HeaderFlags::DIRTY) {
                account
                    .problems
                    .push("note: header marked dirty (copied while the log was open)".to_string());
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

    // No indentation: 12% less XML to render and read back, same events.
    let settings = ParserSettings::new().num_threads(1).indent(false);
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
            let outputs: Vec<ChunkOutput> = emit.pool.install(|| {
                batch
                    .par_iter_mut()
                    .map(|(n, chunk)| {
                        read_chunk(*n, chunk, &settings, emit.file, emit.keep, emit.limits)
                    })
                    .collect()
            });
            batch.clear();
            for out in outputs {
                account.events += out.read;
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
    if listed > MAX_LISTED_ERRORS {
        account.problems.push(format!(
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
    };
    let chunk = match chunk {
        Ok(c) => c,
        Err(e) => {
            out.errors.push(e.clone());
            return out;
        }
    };
    let mut parsed = match chunk.parse(Arc::clone(settings)) {
        Ok(p) => p,
        Err(e) => {
            out.errors.push(format!("chunk {n}: {e}"));
            return out;
        }
    };
    let xml_limits = limits.xml();
    for record in parsed.iter() {
        let rendered = record.and_then(|r| r.into_xml_bytes());
        let rendered = match rendered {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(e.to_string());
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
        // The renderer writes UTF-8: it writes an unpaired UTF-16 surrogate (and any character
        // XML cannot hold) as `_`, so nothing invalid reaches here; were it to, the record is
        // counted as an error rather than guessed at.
        let Ok(xml) = std::str::from_utf8(&rendered.data) else {
            out.errors
                .push(format!("record {id}: rendered XML is not UTF-8"));
            continue;
        };
        match eventxml::read_rendered(xml, &xml_limits) {
            Ok(rec) => {
                out.read += 1;
                let mut event = rec.into_event(file, id);
                if event.time.is_none() {
                    event.time = Some(rendered.timestamp);
                }
                if keep(&event) {
                    out.events.push(event);
                }
            }
            Err(e) => out
                .errors
                .push(format!("record {id}: rendered XML unreadable: {e}")),
        }
    }
    out
}
