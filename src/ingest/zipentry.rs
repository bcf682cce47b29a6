//! A zip entry as a seekable stream, so a large EVTX file inside a zip is parsed chunk by
//! chunk instead of being inflated into memory whole.
//!
//! The zip itself is already in memory (compressed); the entry's bytes are inflated on
//! demand. Seeking forward inflates and discards; seeking backward starts the inflation over
//! (the EVTX parser does that once or twice per file: after scanning the chunk headers, and
//! when a wrapped log goes back to its first chunk). The declared size is the stream's
//! length, and an entry that inflates past it is an error: a zip bomb lying about its size
//! cannot make this produce more than it declared.

use std::io::{self, BufReader, Read, Seek, SeekFrom};

use flate2::read::DeflateDecoder;
use zip::CompressionMethod;

use super::discover::past_declared_end;
use super::zipdir::{Archive, ZipSource};

/// The compressed bytes of one entry: a window on the zip's bytes (shared, not copied).
#[derive(Clone)]
struct Compressed {
    zip: ZipSource,
    start: u64,
    end: u64,
    pos: u64,
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

enum Body {
    Stored(Compressed),
    Deflated(Box<DeflateDecoder<BufReader<Compressed>>>),
}

/// A readable, seekable view of one zip entry.
pub struct EntryStream {
    compressed: Compressed,
    deflated: bool,
    body: Body,
    /// The declared uncompressed size: the stream's length.
    len: u64,
    pos: u64,
}

impl EntryStream {
    /// Open entry `index` of `archive`.
    pub fn open(archive: &Archive, index: usize) -> Result<EntryStream, String> {
        let mut archive = archive.clone();
        let entry = archive.by_index_raw(index).map_err(|e| e.to_string())?;
        let deflated = match entry.compression() {
            CompressionMethod::Stored => false,
            CompressionMethod::Deflated => true,
            other => return Err(format!("unsupported zip compression method {other}")),
        };
        let start = entry
            .data_start()
            .ok_or("the entry's data offset is unknown")?;
        let end = start
            .checked_add(entry.compressed_size())
            .ok_or("the entry's compressed data runs past the end of the zip")?;
        let len = entry.size();
        let crc = entry.crc32();
        drop(entry);
        let zip = archive.into_inner();
        if end > zip.byte_len() {
            return Err("the entry's compressed data runs past the end of the zip".into());
        }
        let compressed = Compressed {
            zip,
            start,
            end,
            pos: start,
        };
        verify_crc(&compressed, deflated, len, crc)?;
        Ok(EntryStream {
            body: Self::body(&compressed, deflated),
            compressed,
            deflated,
            len,
            pos: 0,
        })
    }

    fn body(compressed: &Compressed, deflated: bool) -> Body {
        let window = compressed.clone();
        if deflated {
            Body::Deflated(Box::new(DeflateDecoder::new(BufReader::with_capacity(
                16 * 1024,
                window,
            ))))
        } else {
            Body::Stored(window)
        }
    }
}

/// Check the entry's CRC-32 before anything of it is read, in one streaming pass (memory does
/// not grow with the entry): the EVTX parser reads and hands on chunk by chunk, so a
/// mismatch found at the end would come after altered records had reached the report.
fn verify_crc(
    compressed: &Compressed,
    deflated: bool,
    len: u64,
    expected: u32,
) -> Result<(), String> {
    let mut body = EntryStream::body(compressed, deflated);
    let mut crc = flate2::Crc::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = body
            .read(&mut buf[..want])
            .map_err(|e| format!("cannot decompress: {e}"))?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        left -= n as u64;
    }
    if crc.sum() != expected {
        return Err(format!(
            "CRC-32 mismatch (the entry's header says {expected:08x}, its bytes give {:08x}): the entry is damaged or was altered after zipping: not read",
            crc.sum()
        ));
    }
    Ok(())
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Stored(c) => c.read(buf),
            Body::Deflated(d) => d.read(buf),
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
            return past_declared_end(&mut self.body, self.len);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.body.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for EntryStream {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        if !self.deflated {
            if let Body::Stored(c) = &mut self.body {
                c.pos = c.start.saturating_add(target).min(c.end);
            }
            self.pos = target;
            return Ok(target);
        }
        if target < self.pos {
            self.body = Self::body(&self.compressed, self.deflated);
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
    use std::sync::Arc;

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
        zip::ZipArchive::new(ZipSource::Memory(Cursor::new(Arc::from(z)))).unwrap()
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
