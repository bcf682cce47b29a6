//! Which chunks of an EVTX file are read, in which order, and where their bytes are copied.
//!
//! The `evtx` crate's chunk iterator reads every chunk on the thread that walks the file: a
//! 64 KiB copy into fresh memory per chunk, on the thread that also hands events on. On a file
//! that can be read at any offset cheaply (a file on disk, bytes in memory), [`Planned`] walks
//! the same chunks in the same order and leaves the copy of each chunk to the job that parses
//! it, on the pool: the walking thread only reads each chunk's 512-byte header, which it had to
//! read anyway to find the oldest chunk. A file on disk is read at each chunk's offset, by
//! every job at once; bytes in memory one job at a time, through a lock.
//!
//! The walk is the crate's (0.15.1, pinned), step by step, so that the chunks, their order,
//! their numbering and every error are the same:
//! * it starts at the chunk whose header names the lowest first record id (a log that wrapped
//!   around writes each new chunk over its oldest), scanning the headers of the chunks the
//!   file's length holds and stopping at the first that cannot be read;
//! * from there it goes up: a chunk all zeros is skipped, one that cannot be read (or does not
//!   start like a chunk) is an error; a read that fails at or past the count the length gives
//!   ends the walk;
//! * then, when it did not start at 0, from chunk 0 up to where it started.
//!
//! A chunk whose header has a byte that is not zero, and that the file holds whole, is neither
//! skipped nor the end: that chunk is handed to a job to read. Any other (a zeroed header, a
//! chunk past the count, a short tail) is read here, exactly as the crate reads it, and decided
//! here: the rare chunks of a damaged or preallocated log.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Mutex, PoisonError};

use evtx::err::{ChunkError, EvtxError};
use evtx::{EvtxChunkData, EvtxChunkHeader};

use super::at::{PosRead, fill};
use super::evtx::{CHUNK_SIZE, FILE_HEADER_SIZE};

const CHUNK_HEADER_BYTES: usize = 512;

/// One chunk to parse: already read (here, or by the crate's iterator), or to be read by the
/// job from the shared source.
pub(super) enum ChunkWork {
    Read(Result<Box<EvtxChunkData>, String>),
    At(u64),
}

/// Chunk buffers this thread is done with, for its next chunks: each read overwrites a whole
/// buffer, so a used one needs no zeroing, and the 64 KiB are not allocated again per chunk.
const SPARE_BUFFERS: usize = 2;

thread_local! {
    static SPARE: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A chunk-sized buffer: one this thread used before ([`recycle`] keeps only those), or a new
/// one of zeros.
fn buffer() -> Vec<u8> {
    SPARE
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_else(|| vec![0u8; CHUNK_SIZE])
}

/// Keep a parsed chunk's bytes for this thread's next chunk (a few at most).
pub(super) fn recycle(data: Vec<u8>) {
    if data.len() == CHUNK_SIZE {
        SPARE.with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_BUFFERS {
                spare.push(data);
            }
        });
    }
}

/// Why [`Shared::read_at`] gave no bytes: the crate names a failed seek apart from a failed
/// read.
enum Failed {
    Seek(std::io::Error),
    Read,
}

/// `buf.len()` bytes from `offset` of `source`, fewer only at its end: the count read.
fn seek_and_fill(
    source: &mut (impl Read + Seek),
    offset: u64,
    buf: &mut [u8],
) -> Result<usize, Failed> {
    source.seek(SeekFrom::Start(offset)).map_err(Failed::Seek)?;
    fill(source, buf).map_err(|_| Failed::Read)
}

/// A source read at any offset, shared by the walk and the jobs.
pub(super) struct Shared<R> {
    source: Mutex<R>,
    /// The same bytes as a file on disk, read at each part's offset with no lock. Through the
    /// source's lock, the threads queued for each chunk's copy: at 2 threads, about 45 times in
    /// a read of the big System.evtx, each a sleep and a wake-up.
    file: Option<File>,
}

impl<R: Read + Seek> Shared<R> {
    /// `file`: the same bytes as `source`, when they are a file on disk.
    pub(super) fn new(source: R, file: Option<File>) -> Self {
        Shared {
            source: Mutex::new(source),
            file,
        }
    }

    /// Up to `buf.len()` bytes from `offset`, fewer only at the source's end: the count read.
    /// A file is read through a reader of its own position, the source under its lock.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Failed> {
        match &self.file {
            Some(file) => seek_and_fill(&mut PosRead::new(file), offset, buf),
            None => {
                let mut source = self.source.lock().unwrap_or_else(PoisonError::into_inner);
                seek_and_fill(&mut *source, offset, buf)
            }
        }
    }

    /// Chunk `number` as the crate's parser reads it: `Ok(None)` for a chunk all zeros.
    pub(super) fn chunk(&self, number: u64) -> Result<Option<EvtxChunkData>, EvtxError> {
        let fail = |e: ChunkError| EvtxError::FailedToParseChunk {
            chunk_id: number,
            source: Box::new(e),
        };
        let offset =
            (FILE_HEADER_SIZE as u64).saturating_add(number.saturating_mul(CHUNK_SIZE as u64));
        let mut data = buffer();
        let failed = match self.read_at(offset, &mut data) {
            Ok(CHUNK_SIZE) => None,
            Ok(_) | Err(Failed::Read) => Some(ChunkError::IncompleteChunk),
            Err(Failed::Seek(e)) => Some(ChunkError::FailedToSeekToChunk(e)),
        };
        // No chunk is made of the bytes (a short read, or a preallocated log's empty chunk,
        // hundreds of them in a row): the buffer serves the next chunk.
        if let Some(e) = failed {
            recycle(data);
            return Err(fail(e));
        }
        if data.iter().all(|&b| b == 0) {
            recycle(data);
            return Ok(None);
        }
        let mut chunk = EvtxChunkData::new(data, false).map_err(fail)?;
        chunk.number = Some(number);
        Ok(Some(chunk))
    }

    /// The first bytes of chunk `number`, `None` when they cannot be read whole.
    fn head(&self, number: u64) -> Option<[u8; CHUNK_HEADER_BYTES]> {
        let offset =
            (FILE_HEADER_SIZE as u64).checked_add(number.checked_mul(CHUNK_SIZE as u64)?)?;
        let mut head = [0u8; CHUNK_HEADER_BYTES];
        match self.read_at(offset, &mut head) {
            Ok(CHUNK_HEADER_BYTES) => Some(head),
            _ => None,
        }
    }
}

/// The crate's walk over a [`Shared`] source, yielding what each job parses.
pub(super) struct Planned<'s, R> {
    source: &'s Shared<R>,
    /// Chunks the length holds (the crate's count: the length past the header block).
    count: u64,
    /// Chunks the file holds whole (at 4096 + 64 KiB each, where they are read).
    whole: u64,
    /// Per chunk scanned: a header byte is not zero (the chunk is not all zeros).
    marked: Vec<bool>,
    oldest: u64,
    next: u64,
    wrapped: bool,
    done: bool,
}

impl<'s, R: Read + Seek> Planned<'s, R> {
    /// `count` is what the crate's parser computes from the length and the header's block
    /// size; `len` the source's length.
    pub(super) fn new(source: &'s Shared<R>, count: u64, len: u64) -> Self {
        let whole = len.saturating_sub(FILE_HEADER_SIZE as u64) / CHUNK_SIZE as u64;
        let mut marked = Vec::new();
        let mut oldest = (u64::MAX, 0);
        for number in 0..count {
            let Some(head) = source.head(number) else {
                break;
            };
            marked.push(head.iter().any(|&b| b != 0));
            if let Ok(chunk) = EvtxChunkHeader::from_bytes(&head)
                && chunk.first_event_record_id <= chunk.last_event_record_id
                && chunk.first_event_record_id < oldest.0
            {
                oldest = (chunk.first_event_record_id, number);
            }
        }
        Planned {
            source,
            count,
            whole,
            marked,
            oldest: oldest.1,
            next: oldest.1,
            wrapped: false,
            done: false,
        }
    }

    /// The next chunk at or after `self.next` and before `end`, as the crate finds it.
    fn find(&mut self, end: u64) -> Option<ChunkWork> {
        loop {
            let number = self.next;
            if number >= end {
                return None;
            }
            if number < self.whole && self.marked.get(number as usize) == Some(&true) {
                self.next = number.checked_add(1)?;
                return Some(ChunkWork::At(number));
            }
            let read = self.source.chunk(number);
            if read.is_err() && number >= self.count {
                return None;
            }
            self.next = number.checked_add(1)?;
            match read {
                Err(e) => return Some(ChunkWork::Read(Err(e.to_string()))),
                Ok(None) => {}
                Ok(Some(chunk)) => return Some(ChunkWork::Read(Ok(Box::new(chunk)))),
            }
        }
    }
}

impl<R: Read + Seek> Iterator for Planned<'_, R> {
    type Item = ChunkWork;

    fn next(&mut self) -> Option<ChunkWork> {
        while !self.done {
            let end = if self.wrapped { self.oldest } else { u64::MAX };
            if let Some(work) = self.find(end) {
                return Some(work);
            }
            if self.wrapped || self.oldest == 0 {
                self.done = true;
            } else {
                self.wrapped = true;
                self.next = 0;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Seek, Write};
    use std::sync::Arc;

    use crate::ingest::evtx::{Walk, read_evtx, read_evtx_file};
    use crate::ingest::{Emit, Limits, ProcmonColumns};
    use crate::model::{Event, FileAccount, FileFormat};

    const H: usize = super::FILE_HEADER_SIZE;
    const C: usize = super::CHUNK_SIZE;

    /// A real three-chunk System.evtx of the fixtures.
    fn log() -> Vec<u8> {
        let bytes = include_bytes!("../../fixtures/tickets/noisy/server/System.evtx").to_vec();
        assert_eq!((bytes.len() - H) / C, 3, "the fixture holds three chunks");
        bytes
    }

    /// How a test reads a log.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum How {
        /// The crate's walk over a stream.
        Streamed,
        /// Each chunk copied by its job, through the source's lock.
        Positional,
        /// Each chunk copied by its job at its offset in a file on disk, with no lock.
        File,
    }

    /// What reading `bytes` gives: every event handed on, and the account.
    fn read(bytes: &[u8], threads: usize, how: How) -> (Vec<Event>, FileAccount) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let file: Arc<str> = Arc::from("t.evtx");
        let keep = |_: &mut Event| true;
        let mut events = Vec::new();
        let mut send = |mut batch: Vec<Event>| events.append(&mut batch);
        let limits = Limits::default();
        let columns = ProcmonColumns::All;
        let mut emit = Emit {
            file: &file,
            keep: &keep,
            send: &mut send,
            pool: &pool,
            limits: &limits,
            keep_reads_record: false,
            columns: &columns,
        };
        let mut account = FileAccount::new("t.evtx", FileFormat::Evtx);
        let (source, len) = (Cursor::new(bytes), bytes.len() as u64);
        match how {
            How::Streamed => read_evtx(source, len, Walk::Streamed, &mut emit, &mut account),
            How::Positional => read_evtx(source, len, Walk::Positional, &mut emit, &mut account),
            How::File => {
                let mut file = tempfile::tempfile().expect("a temporary file");
                file.write_all(bytes).expect("written");
                file.rewind()
                    .expect("back at the start, as a file opened to be read");
                read_evtx_file(file, len, &mut emit, &mut account);
            }
        }
        (events, account)
    }

    fn set_block_size(bytes: &mut [u8], size: u16) {
        bytes[40..42].copy_from_slice(&size.to_le_bytes());
    }

    /// Logs as damaged and odd as real ones get: the walk and its errors must be the crate's.
    fn variants() -> Vec<(&'static str, Vec<u8>)> {
        let log = log();
        let chunk = |i: usize| log[H + i * C..H + (i + 1) * C].to_vec();
        let mut v = vec![("intact", log.clone())];
        let mut b = log.clone();
        b[H + C..H + 2 * C].fill(0);
        v.push(("a chunk all zeros", b));
        let mut b = log.clone();
        b[H + C..H + C + 512].fill(0);
        v.push(("a chunk whose header is zeroed", b));
        let mut b = log.clone();
        b[H + 2 * C..H + 2 * C + 8].copy_from_slice(b"NotAChnk");
        v.push(("a chunk with a bad magic", b));
        let mut b = log[..H].to_vec();
        for i in [1, 2, 0] {
            b.extend(chunk(i));
        }
        v.push(("wrapped around: the oldest chunk second", b));
        let mut b = log.clone();
        b.extend(vec![0; 2 * C]);
        v.push(("two preallocated chunks of zeros", b));
        let mut b = log.clone();
        b.truncate(H + 2 * C + 777);
        v.push(("cut inside its last chunk", b));
        for size in [0u16, 100, 4095, 8192, 65535] {
            let mut b = log.clone();
            b.extend(vec![7; 300]);
            set_block_size(&mut b, size);
            v.push(("a header block size that is not 4096", b));
        }
        let mut b = log.clone();
        b.truncate(H + 100);
        v.push(("no whole chunk", b));
        v
    }

    #[test]
    fn a_thread_keeps_a_few_chunk_buffers_for_its_next_chunks() {
        // On a thread of its own: each thread keeps its own.
        std::thread::spawn(|| {
            let kept = || super::SPARE.with(|s| s.borrow().len());
            let first = super::buffer();
            assert_eq!(first.len(), C);
            let at = first.as_ptr();
            super::recycle(first);
            let again = super::buffer();
            assert_eq!(again.as_ptr(), at, "the same bytes, not a new allocation");
            assert_eq!(kept(), 0);
            for _ in 0..5 {
                super::recycle(vec![1; C]);
            }
            super::recycle(vec![0; 10]);
            assert_eq!(
                kept(),
                super::SPARE_BUFFERS,
                "a few at most, each chunk-sized"
            );
        })
        .join()
        .expect("the thread ends");
    }

    /// A chunk read whole but all zeros, or cut short, makes no chunk: its buffer is kept for
    /// the next one rather than dropped.
    #[test]
    fn an_empty_or_short_chunks_buffer_serves_the_next_chunk() {
        std::thread::spawn(|| {
            let kept = || super::SPARE.with(|s| s.borrow().len());
            let mut bytes = log()[..H].to_vec();
            bytes.resize(H + C + C / 2, 0);
            let shared = super::Shared::new(Cursor::new(bytes), None);
            assert!(matches!(shared.chunk(0), Ok(None)), "all zeros");
            assert_eq!(kept(), 1);
            assert!(shared.chunk(1).is_err(), "cut short");
            assert_eq!(kept(), 1, "the same buffer, back again");
        })
        .join()
        .expect("the thread ends");
    }

    #[test]
    fn reading_each_chunk_on_its_job_gives_what_the_crates_walk_gives() {
        for (what, bytes) in variants() {
            let expected = read(&bytes, 1, How::Streamed);
            for (threads, how) in [1, 2, 3]
                .into_iter()
                .flat_map(|t| [(t, How::Positional), (t, How::File)])
            {
                let got = read(&bytes, threads, how);
                assert_eq!(
                    got.1, expected.1,
                    "{what}, {threads} threads, {how:?}: the accounts differ"
                );
                assert!(
                    got.0 == expected.0,
                    "{what}, {threads} threads, {how:?}: the events differ"
                );
            }
        }
        // The variants do what they say: damage is seen, the wrapped log is read oldest first.
        let intact = read(&log(), 1, How::Positional);
        assert!(intact.0.len() > 100 && intact.1.status == crate::model::FileStatus::Ok);
        let by_name = |name: &str| variants().into_iter().find(|(w, _)| *w == name).unwrap().1;
        let bad = read(&by_name("a chunk with a bad magic"), 2, How::File);
        assert!(bad.1.errors > 0 && bad.0.len() < intact.0.len());
        let wrapped = read(
            &by_name("wrapped around: the oldest chunk second"),
            2,
            How::File,
        );
        let ids: Vec<u64> = wrapped.0.iter().map(|e| e.record).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(
            ids, sorted,
            "a wrapped log is read from its oldest chunk on"
        );
        assert_eq!(ids.len(), intact.0.len());
    }
}
