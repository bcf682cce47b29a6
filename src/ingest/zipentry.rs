//! A zip entry as a stream: every entry of every format is read through here, so one inflater
//! (reused, see below), one CRC check and one size bound cover them all.
//!
//! The entry's compressed bytes are read where they lie (the zip file, or a nested zip held in
//! memory) and inflated on demand. Seeking forward inflates and discards; seeking backward
//! starts the inflation over (the EVTX parser does that once or twice per file). The declared
//! size is the stream's length, and an entry that inflates past it is an error: a zip bomb
//! lying about its size cannot make this produce more than it declared.
//!
//! Before anything of an entry reaches a reader, its CRC-32 is checked ([`EntryStream::open`]):
//! readers hand events on as they go, so a mismatch found at the end would come after altered
//! records had reached the report. An entry of up to [`SMALL_ENTRY`] bytes is inflated once
//! into memory for that check and then read from there; a larger one is inflated twice
//! (checked in one streaming pass, then read), so memory never grows with the entry.
//!
//! Inflaters are kept per thread and reset for the next entry instead of being dropped: a
//! fresh one per entry left 20-35 KiB of memory per entry that the allocator did not reuse.
//!
//! An entry of a zip inside a zip names its zip ([`ZipSource::Nested`]), not its bytes: a
//! stream gets them when it opens ([`Compressed::resolve`]) and holds them while it lives.

use std::cell::RefCell;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

use flate2::read::DeflateDecoder;
use zip::CompressionMethod;
use zip::result::ZipError;

use super::at::seek_target;
use super::discover::past_declared_end;
use super::error::InputError;
use super::zipdir::{Archive, HeldBytes, ZipSource};

/// Entries up to this size are inflated into memory once (checked, then read from there).
pub const SMALL_ENTRY: u64 = 1 << 20;

/// Why a zip entry cannot be read; the entry's account gives the text.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The zip crate cannot give the entry.
    #[error("{0}")]
    Zip(#[from] ZipError),
    #[error("unsupported zip compression method {0}")]
    Method(String),
    /// Its general-purpose flag says encrypted (ZipCrypto or AES): its bytes cannot be had
    /// without the password, which a ticket does not carry.
    #[error("encrypted (the zip was made with a password): not read; ask for it without one")]
    Encrypted,
    #[error("the entry's data offset is unknown")]
    NoDataOffset,
    #[error("cannot read the entry's local header: {0}")]
    LocalHeader(#[source] io::Error),
    #[error("no local header where the zip's directory says the entry is")]
    NoLocalHeader,
    #[error("the entry's compressed data runs past the end of the zip")]
    PastEnd,
    #[error("cannot decompress: {0}")]
    Inflate(#[source] io::Error),
    #[error(
        "CRC-32 mismatch (the entry's header says {expected:08x}, its bytes give {actual:08x}): the entry is damaged or was altered after zipping: not read"
    )]
    Crc { expected: u32, actual: u32 },
    /// Its bytes are (partly) another entry's: one body named many times is a zip bomb.
    #[error(
        "its bytes overlap those of entry '{other}' (one body named by several entries: a zip bomb?): not read"
    )]
    Overlaps { other: String },
    /// The zip inside a zip that holds the entry, inflated again to read it (it is not kept
    /// in memory between its readers), could not be.
    #[error("the zip that holds it could not be read again: {0}")]
    Reread(#[source] Box<InputError>),
}

/// The compressed bytes of one entry: a window on the zip's bytes (shared, not copied).
#[derive(Clone)]
struct Compressed {
    zip: ZipSource,
    start: u64,
    end: u64,
    pos: u64,
}

impl Compressed {
    /// A window on nothing.
    fn empty() -> Compressed {
        Compressed {
            zip: ZipSource::Memory(Cursor::new(HeldBytes(Arc::new(Vec::new())))),
            start: 0,
            end: 0,
            pos: 0,
        }
    }

    /// The same window on bytes that can be read: a nested zip's bytes are had (inflated
    /// again if no reader holds them) and held by the window. `warm`: kept for this thread's
    /// next reader too (see [`super::zipdir::NestedZip::acquire`]).
    fn resolve(&self, warm: bool) -> Result<Compressed, EntryError> {
        let zip = match &self.zip {
            ZipSource::Nested(nested) => {
                let bytes = if warm {
                    nested.acquire()
                } else {
                    nested.bytes()
                };
                ZipSource::Memory(Cursor::new(HeldBytes(
                    bytes.map_err(|e| EntryError::Reread(Box::new(e)))?,
                )))
            }
            other => other.clone(),
        };
        Ok(Compressed {
            zip,
            start: self.start,
            end: self.end,
            pos: self.pos,
        })
    }
}

impl Read for Compressed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        self.zip.seek(SeekFrom::Start(self.pos))?;
        let n = self.zip.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Where one entry's data is and what its headers say of it: everything needed to read it,
/// without the zip crate (which also lets an entry the crate hides, one of several with the
/// same name, be read).
#[derive(Clone)]
pub struct Location {
    compressed: Compressed,
    deflated: bool,
    /// The declared uncompressed size.
    pub len: u64,
    crc: u32,
}

impl Location {
    /// Where its compressed data starts and ends in the zip.
    pub fn data_span(&self) -> (u64, u64) {
        (self.compressed.start, self.compressed.end)
    }

    /// The bytes of its zip in memory now, when that is a zip inside a zip (see
    /// [`super::discover::Input::nested_zip_bytes_held`]).
    pub fn zip_bytes_held(&self) -> u64 {
        match &self.compressed.zip {
            ZipSource::Memory(c) => c.get_ref().0.len() as u64,
            ZipSource::Nested(n) => n.bytes_held(),
            ZipSource::File(_) => 0,
        }
    }

    /// How many times the zip inside a zip it lies in was inflated (0 for a zip on disk).
    pub fn zip_inflations(&self) -> u64 {
        match &self.compressed.zip {
            ZipSource::Nested(n) => n.times_inflated(),
            ZipSource::Memory(_) | ZipSource::File(_) => 0,
        }
    }

    /// The bytes of the zip inside a zip it lies in (inflated if nothing holds them), held
    /// while the returned value lives: every entry of that zip read meanwhile, on any thread,
    /// reads them instead of inflating the zip again. `None` for an entry of a zip on disk, or
    /// when its zip cannot be read (reading the entry then says why).
    pub fn hold_zip(&self) -> Option<Arc<Vec<u8>>> {
        match &self.compressed.zip {
            ZipSource::Nested(n) => n.bytes().ok(),
            ZipSource::Memory(_) | ZipSource::File(_) => None,
        }
    }

    /// The zip it lies in.
    pub(crate) fn zip(&self) -> &ZipSource {
        &self.compressed.zip
    }

    /// The same entry, its zip's bytes had through `zip` (the same bytes): a nested zip's
    /// entries found in its bytes keep a [`ZipSource::Nested`] instead, so that nothing holds
    /// those bytes between readers.
    pub(crate) fn kept_as(mut self, zip: ZipSource) -> Location {
        debug_assert_eq!(zip.byte_len(), self.compressed.zip.byte_len());
        self.compressed.zip = zip;
        self
    }

    /// The whole entry in memory, read in one pass, its CRC-32 checked: a zip inside a zip,
    /// held whole to be read. Never past its declared size (refused there, as a bomb). Its
    /// zip's bytes are had without being kept for this thread (see [`Compressed::resolve`]).
    pub(crate) fn read_whole(&self) -> Result<Vec<u8>, InputError> {
        let compressed = self.compressed.resolve(false).map_err(InputError::Entry)?;
        let mut body = Body::new(&compressed, self.deflated);
        // The declared size, checked against the limit by the caller: one allocation, never
        // grown (growing a vector copies it), never more.
        let mut bytes = Vec::with_capacity(usize::try_from(self.len).unwrap_or(usize::MAX));
        (&mut body)
            .take(self.len)
            .read_to_end(&mut bytes)
            .map_err(|e| InputError::Entry(EntryError::Inflate(e)))?;
        if bytes.len() as u64 == self.len {
            // One byte more is a zip bomb (or an inflater error past the declared end), as
            // a stream tells it (see `past_declared_end`).
            past_declared_end(&mut body, self.len).map_err(|e| {
                if e.kind() == io::ErrorKind::InvalidData {
                    InputError::Refused(e)
                } else {
                    InputError::Decompress(e)
                }
            })?;
        }
        check_crc(&bytes_crc(&bytes), self.crc).map_err(InputError::Entry)?;
        Ok(bytes)
    }

    /// Entry `index` of `archive`, as the zip crate found it.
    pub fn of(archive: &Archive, index: usize) -> Result<Location, EntryError> {
        let mut archive = archive.clone();
        let entry = archive.by_index_raw(index)?;
        let deflated = is_deflated(entry.compression())?;
        let start = entry.data_start().ok_or(EntryError::NoDataOffset)?;
        let (compressed, len, crc) = (entry.compressed_size(), entry.size(), entry.crc32());
        drop(entry);
        Location::new(archive.into_inner(), start, compressed, len, crc, deflated)
    }

    /// An entry from a central-directory record read by hand: its local header at
    /// `header`, the sizes, CRC and method the directory gives.
    pub fn from_local_header(
        mut zip: ZipSource,
        header: u64,
        compressed: u64,
        len: u64,
        crc: u32,
        method: u16,
    ) -> Result<Location, EntryError> {
        let deflated = match method {
            0 => false,
            8 => true,
            other => return Err(EntryError::Method(other.to_string())),
        };
        let mut local = [0u8; 30];
        zip.seek(SeekFrom::Start(header))
            .and_then(|_| zip.read_exact(&mut local))
            .map_err(EntryError::LocalHeader)?;
        if !local.starts_with(b"PK\x03\x04") {
            return Err(EntryError::NoLocalHeader);
        }
        let name_len = u64::from(u16::from_le_bytes([local[26], local[27]]));
        let extra_len = u64::from(u16::from_le_bytes([local[28], local[29]]));
        let start = header + 30 + name_len + extra_len;
        Location::new(zip, start, compressed, len, crc, deflated)
    }

    pub(crate) fn new(
        zip: ZipSource,
        start: u64,
        compressed: u64,
        len: u64,
        crc: u32,
        deflated: bool,
    ) -> Result<Location, EntryError> {
        let end = start
            .checked_add(compressed)
            .filter(|&end| end <= zip.byte_len())
            .ok_or(EntryError::PastEnd)?;
        Ok(Location {
            compressed: Compressed {
                zip,
                start,
                end,
                pos: start,
            },
            deflated,
            len,
            crc,
        })
    }
}

pub(crate) fn is_deflated(method: CompressionMethod) -> Result<bool, EntryError> {
    match method {
        CompressionMethod::Stored => Ok(false),
        CompressionMethod::Deflated => Ok(true),
        other => Err(EntryError::Method(other.to_string())),
    }
}

enum Body {
    Stored(Compressed),
    Deflated(Inflater),
    /// A small entry, already inflated and checked.
    Memory(Cursor<Vec<u8>>),
}

thread_local! {
    /// Inflaters to reuse, so that memory does not grow with the number of entries read.
    static SPARE: RefCell<Vec<DeflateDecoder<Compressed>>> = const { RefCell::new(Vec::new()) };
}

/// Inflaters kept per thread: one per stream a thread has open at once is plenty.
const SPARE_KEPT: usize = 4;

impl Body {
    fn new(compressed: &Compressed, deflated: bool) -> Body {
        let mut window = compressed.clone();
        window.pos = window.start;
        if !deflated {
            return Body::Stored(window);
        }
        let spare = SPARE.with(|s| s.borrow_mut().pop());
        Body::Deflated(Inflater(Some(match spare {
            Some(mut d) => {
                d.reset(window);
                d
            }
            None => DeflateDecoder::new(window),
        })))
    }
}

/// An inflater that goes back to this thread's spares when dropped.
struct Inflater(Option<DeflateDecoder<Compressed>>);

impl Read for Inflater {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.as_mut().map_or(Ok(0), |d| d.read(buf))
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        if let Some(mut d) = self.0.take() {
            // Kept without its window: a window holds its zip's bytes (a nested zip's, in
            // memory), which a spare inflater must not keep.
            *d.get_mut() = Compressed::empty();
            SPARE.with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < SPARE_KEPT {
                    s.push(d);
                }
            });
        }
    }
}

/// A readable, seekable view of one zip entry.
pub struct EntryStream {
    compressed: Compressed,
    deflated: bool,
    body: Body,
    /// A small entry read into memory: the inflater, left at the declared end, where one
    /// byte more tells a zip bomb.
    rest: Option<Body>,
    /// The declared uncompressed size: the stream's length.
    len: u64,
    pos: u64,
}

impl EntryStream {
    /// Open entry `index` of `archive`, its CRC checked first.
    pub fn open(archive: &Archive, index: usize) -> Result<EntryStream, EntryError> {
        EntryStream::checked(Location::of(archive, index)?)
    }

    /// The entry at `at`, its CRC checked before anything of it is handed on. A nested
    /// zip's entry holds that zip's bytes while the stream lives, and this thread keeps them
    /// for its next entry (see [`super::zipdir::NestedZip::acquire`]).
    pub fn checked(at: Location) -> Result<EntryStream, EntryError> {
        let at = Location {
            compressed: at.compressed.resolve(true)?,
            ..at
        };
        if at.len <= SMALL_ENTRY {
            let mut stream = EntryStream::over(at.clone());
            let mut bytes = Vec::with_capacity(at.len as usize);
            (&mut stream.body)
                .take(at.len)
                .read_to_end(&mut bytes)
                .map_err(EntryError::Inflate)?;
            // An entry that inflates past its declared size is a zip bomb: its CRC (of the
            // whole data) cannot match the declared part, and the bomb is the finding. The
            // stream reports it at the declared end, after what the header declared was read.
            if !inflates_past(&mut stream.body) {
                check_crc(&bytes_crc(&bytes), at.crc)?;
                let rest = std::mem::replace(&mut stream.body, Body::Memory(Cursor::new(bytes)));
                stream.rest = Some(rest);
                return Ok(stream);
            }
            return Ok(EntryStream::over(at));
        }
        verify_crc(&at)?;
        Ok(EntryStream::over(at))
    }

    /// The entry at `at` without a CRC check: for a look at its first bytes only. A nested
    /// zip's bytes are had as for [`EntryStream::checked`] (its entries are looked at in the
    /// order they are read, so the look and the read share them).
    pub fn unchecked(at: Location) -> Result<EntryStream, EntryError> {
        let at = Location {
            compressed: at.compressed.resolve(true)?,
            ..at
        };
        Ok(EntryStream::over(at))
    }

    /// A stream over `at`, whose bytes can be read (resolved).
    fn over(at: Location) -> EntryStream {
        EntryStream {
            body: Body::new(&at.compressed, at.deflated),
            compressed: at.compressed,
            deflated: at.deflated,
            rest: None,
            len: at.len,
            pos: 0,
        }
    }
}

fn bytes_crc(bytes: &[u8]) -> flate2::Crc {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc
}

fn check_crc(crc: &flate2::Crc, expected: u32) -> Result<(), EntryError> {
    if crc.sum() != expected {
        return Err(EntryError::Crc {
            expected,
            actual: crc.sum(),
        });
    }
    Ok(())
}

/// Check a large entry's CRC-32 in one streaming pass (memory does not grow with the entry).
fn verify_crc(at: &Location) -> Result<(), EntryError> {
    let mut body = Body::new(&at.compressed, at.deflated);
    let mut crc = flate2::Crc::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = at.len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = body.read(&mut buf[..want]).map_err(EntryError::Inflate)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        left -= n as u64;
    }
    if left == 0 && inflates_past(&mut body) {
        // A zip bomb: reported by the stream at its declared end (see `checked`).
        return Ok(());
    }
    check_crc(&crc, at.crc)
}

/// Whether `body`, read up to the declared size, still has data (or fails: either way the
/// declared size is not where the data ends).
fn inflates_past(body: &mut Body) -> bool {
    let mut one = [0u8; 1];
    !matches!(body.read(&mut one), Ok(0))
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Stored(c) => c.read(buf),
            Body::Deflated(d) => d.read(buf),
            Body::Memory(m) => m.read(buf),
        }
    }
}

impl Read for EntryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.len - self.pos.min(self.len);
        if left == 0 {
            // At the declared end: anything more means the header lied.
            let body = self.rest.as_mut().unwrap_or(&mut self.body);
            return past_declared_end(body, self.len);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.body.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for EntryStream {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = seek_target(to, self.pos, || Ok(self.len))?;
        match &mut self.body {
            Body::Stored(c) => {
                c.pos = c.start.saturating_add(target).min(c.end);
                self.pos = target;
                return Ok(target);
            }
            Body::Memory(m) => {
                m.set_position(target);
                self.pos = target;
                return Ok(target);
            }
            Body::Deflated(_) => {}
        }
        if target < self.pos {
            self.body = Body::new(&self.compressed, self.deflated);
            self.pos = 0;
        }
        // Inflate and drop up to the target (never past the declared end).
        let mut scratch = [0u8; 16 * 1024];
        while self.pos < target.min(self.len) {
            let want = scratch
                .len()
                .min(usize::try_from(target.min(self.len) - self.pos).unwrap_or(usize::MAX));
            let n = self.body.read(&mut scratch[..want])?;
            if n == 0 {
                break;
            }
            self.pos += n as u64;
        }
        // Past the end, reads return nothing: the position is kept as asked.
        if target > self.pos && self.pos == self.len {
            self.pos = target;
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    /// A one-entry zip written by hand, so its header can lie about the size.
    fn zip_declaring(data: &[u8], declared: u32, deflate: bool) -> Archive {
        let body = if deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            data.to_vec()
        };
        let method: u16 = if deflate { 8 } else { 0 };
        // The CRC of what the header declares (a bomb's header is consistent with itself).
        let mut crc = flate2::Crc::new();
        crc.update(&data[..data.len().min(declared as usize)]);
        let crc = crc.sum();
        let name = b"a.evtx";
        let mut z = Vec::new();
        let le16 = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
        let le32 = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
        le32(&mut z, 0x0403_4b50);
        for v in [20, 0, method, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, crc);
        le32(&mut z, body.len() as u32);
        le32(&mut z, declared);
        le16(&mut z, name.len() as u16);
        le16(&mut z, 0);
        z.extend_from_slice(name);
        z.extend_from_slice(&body);
        let central = z.len() as u32;
        le32(&mut z, 0x0201_4b50);
        for v in [20, 20, 0, method, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, crc);
        le32(&mut z, body.len() as u32);
        le32(&mut z, declared);
        for v in [name.len() as u16, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, 0);
        le32(&mut z, 0);
        z.extend_from_slice(name);
        let central_len = z.len() as u32 - central;
        le32(&mut z, 0x0605_4b50);
        for v in [0, 0, 1, 1] {
            le16(&mut z, v);
        }
        le32(&mut z, central_len);
        le32(&mut z, central);
        le16(&mut z, 0);
        zip::ZipArchive::new(ZipSource::Memory(Cursor::new(HeldBytes(Arc::new(z))))).unwrap()
    }

    fn content() -> Vec<u8> {
        (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn reads_and_seeks_like_the_bytes_themselves() {
        let data = content();
        for deflate in [false, true] {
            let archive = zip_declaring(&data, data.len() as u32, deflate);
            let mut s = EntryStream::open(&archive, 0).unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap();
            assert_eq!(all, data);
            for (to, at) in [
                (SeekFrom::Start(200_000), 200_000usize),
                (SeekFrom::Start(10), 10),
                (SeekFrom::End(-100), data.len() - 100),
                (SeekFrom::Current(-50), data.len() - 110),
            ] {
                assert_eq!(s.seek(to).unwrap(), at as u64);
                let mut buf = [0u8; 40];
                s.read_exact(&mut buf).unwrap();
                assert_eq!(&buf[..], &data[at..at + 40], "deflate={deflate} at {at}");
            }
            assert_eq!(s.seek(SeekFrom::End(10)).unwrap(), data.len() as u64 + 10);
            assert_eq!(s.read(&mut [0u8; 8]).unwrap(), 0);
            assert!(
                s.seek(SeekFrom::Current(-(data.len() as i64) - 11))
                    .is_err()
            );
        }
    }

    #[test]
    fn an_entry_inflating_past_its_declared_size_is_an_error() {
        let data = content();
        let archive = zip_declaring(&data, 1000, true);
        // Checked or not, the stream stops at the declared size, with the error.
        let mut s = EntryStream::unchecked(Location::of(&archive, 0).unwrap()).unwrap();
        let mut got = Vec::new();
        let err = s.read_to_end(&mut got).unwrap_err();
        assert!(
            err.to_string().contains("more than the 1000 bytes"),
            "{err}"
        );
        let mut s = EntryStream::open(&archive, 0).unwrap();
        let mut got = Vec::new();
        let err = s.read_to_end(&mut got).unwrap_err();
        assert!(
            err.to_string().contains("more than the 1000 bytes"),
            "{err}"
        );
        assert_eq!(got, &data[..1000]);
        // A stream that declares more than it holds just ends early.
        let archive = zip_declaring(&data[..500], 1000, true);
        let mut s = EntryStream::open(&archive, 0).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, &data[..500]);
    }
}
