//! File and chunk layout: the 4 KiB file header, 64 KiB chunks with their headers and CRC32s,
//! and the records in them.

use super::binxml::{ChunkTables, Encoder, instance};
use super::{EvtxEvent, WriteError, crc32, timestamp_to_filetime};

pub const FILE_HEADER_SIZE: usize = 4096;
pub const CHUNK_SIZE: usize = 65536;
const CHUNK_HEADER_SIZE: usize = 512;
const RECORD_HEADER_SIZE: usize = 24;

/// One chunk being filled.
struct Chunk {
    buf: Vec<u8>,
    tables: ChunkTables,
    first_id: Option<u64>,
    last_id: u64,
    last_record_offset: u32,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            buf: vec![0; CHUNK_HEADER_SIZE],
            tables: ChunkTables::default(),
            first_id: None,
            last_id: 0,
            last_record_offset: 0,
        }
    }

    /// Append `ev`'s record; `false` (and the chunk unchanged) when it does not fit.
    fn add(&mut self, ev: &EvtxEvent) -> Result<bool, WriteError> {
        let inst = instance(ev)?;
        let start = self.buf.len();
        let saved = self.tables.clone();
        self.buf.extend_from_slice(b"**\0\0");
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&ev.record_id.to_le_bytes());
        self.buf
            .extend_from_slice(&timestamp_to_filetime(ev.time)?.to_le_bytes());
        debug_assert_eq!(self.buf.len() - start, RECORD_HEADER_SIZE);
        Encoder {
            buf: &mut self.buf,
            tables: &mut self.tables,
        }
        .record(&inst)?;
        // Records are 8-byte aligned; the padding is zeros (an end-of-stream token).
        while !(self.buf.len() + 4 - start).is_multiple_of(8) {
            self.buf.push(0);
        }
        let size = (self.buf.len() + 4 - start) as u32;
        self.buf.extend_from_slice(&size.to_le_bytes());
        self.buf[start + 4..start + 8].copy_from_slice(&size.to_le_bytes());
        if self.buf.len() > CHUNK_SIZE {
            self.buf.truncate(start);
            self.tables = saved;
            return Ok(false);
        }
        self.first_id.get_or_insert(ev.record_id);
        self.last_id = ev.record_id;
        self.last_record_offset = start as u32;
        Ok(true)
    }

    fn is_empty(&self) -> bool {
        self.first_id.is_none()
    }

    /// The finished 64 KiB chunk.
    fn finish(mut self) -> Vec<u8> {
        let free = self.buf.len() as u32;
        let first = self.first_id.unwrap_or(0);
        let records_crc = crc32(&[&self.buf[CHUNK_HEADER_SIZE..]]);
        let h = &mut self.buf;
        h[0..8].copy_from_slice(b"ElfChnk\0");
        // Record numbers equal the ids in a log that was never cleared.
        h[8..16].copy_from_slice(&first.to_le_bytes());
        h[16..24].copy_from_slice(&self.last_id.to_le_bytes());
        h[24..32].copy_from_slice(&first.to_le_bytes());
        h[32..40].copy_from_slice(&self.last_id.to_le_bytes());
        h[40..44].copy_from_slice(&128u32.to_le_bytes());
        h[44..48].copy_from_slice(&self.last_record_offset.to_le_bytes());
        h[48..52].copy_from_slice(&free.to_le_bytes());
        h[52..56].copy_from_slice(&records_crc.to_le_bytes());
        // 56..120 unused, 120 flags (none).
        for (i, off) in self.tables.buckets.iter().enumerate() {
            h[128 + 4 * i..132 + 4 * i].copy_from_slice(&off.to_le_bytes());
        }
        // 384..512: the template pointer table; readers do not need it, left empty.
        let header_crc = crc32(&[&h[..120], &h[128..CHUNK_HEADER_SIZE]]);
        h[124..128].copy_from_slice(&header_crc.to_le_bytes());
        self.buf.resize(CHUNK_SIZE, 0);
        self.buf
    }
}

/// A complete `.evtx` file holding `events` in the given order. Record ids must increase.
pub fn write_evtx(events: &[EvtxEvent]) -> Result<Vec<u8>, WriteError> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut chunk = Chunk::new();
    let mut last_id: Option<u64> = None;
    for ev in events {
        if last_id.is_some_and(|l| ev.record_id <= l) {
            return Err(WriteError(format!(
                "record ids must increase: {} after {}",
                ev.record_id,
                last_id.unwrap_or(0)
            )));
        }
        last_id = Some(ev.record_id);
        if !chunk.add(ev)? {
            if chunk.is_empty() {
                return Err(WriteError(format!(
                    "record {} does not fit in an empty chunk",
                    ev.record_id
                )));
            }
            chunks.push(std::mem::replace(&mut chunk, Chunk::new()).finish());
            if !chunk.add(ev)? {
                return Err(WriteError(format!(
                    "record {} does not fit in an empty chunk",
                    ev.record_id
                )));
            }
        }
    }
    if !chunk.is_empty() {
        chunks.push(chunk.finish());
    }
    let count = u16::try_from(chunks.len())
        .map_err(|_| WriteError(format!("{} chunks: more than a file holds", chunks.len())))?;

    let mut out = vec![0u8; FILE_HEADER_SIZE];
    out[0..8].copy_from_slice(b"ElfFile\0");
    out[8..16].copy_from_slice(&0u64.to_le_bytes());
    let last_chunk = u64::from(count.saturating_sub(1));
    out[16..24].copy_from_slice(&last_chunk.to_le_bytes());
    let next_record = last_id.map_or(1, |l| l + 1);
    out[24..32].copy_from_slice(&next_record.to_le_bytes());
    out[32..36].copy_from_slice(&128u32.to_le_bytes());
    out[36..38].copy_from_slice(&1u16.to_le_bytes());
    out[38..40].copy_from_slice(&3u16.to_le_bytes());
    out[40..42].copy_from_slice(&(FILE_HEADER_SIZE as u16).to_le_bytes());
    out[42..44].copy_from_slice(&count.to_le_bytes());
    // 44..120 unused; 120 flags: none (a cleanly closed, exported log).
    let crc = crc32(&[&out[..120]]);
    out[124..128].copy_from_slice(&crc.to_le_bytes());
    for c in chunks {
        out.extend_from_slice(&c);
    }
    Ok(out)
}
