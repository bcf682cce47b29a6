//! Reading a file at an offset without its shared position: the threads reading one file's
//! parts (EVTX chunks, PML blocks) each read their own bytes, with no seek and no lock between
//! them.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Read into `buf` from byte `pos` of `file`, as `read` does: the count read, 0 at the end.
#[cfg(unix)]
pub(crate) fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, pos)
}

/// Read into `buf` from byte `pos` of `file`, as `read` does: the count read, 0 at the end.
#[cfg(windows)]
pub(crate) fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, pos)
}

/// A reader of a shared file at its own position: each thread reading parts of one file holds
/// one (they cost nothing to make), so none seeks the file under another.
pub(crate) struct PosRead<'a> {
    file: &'a File,
    pos: u64,
}

impl<'a> PosRead<'a> {
    pub(crate) fn new(file: &'a File) -> Self {
        PosRead { file, pos: 0 }
    }
}

impl Read for PosRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = read_at(self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PosRead<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = seek_target(to, self.pos, || Ok(self.file.metadata()?.len()))?;
        Ok(self.pos)
    }
}

/// Where `to` lands for a reader at `pos` of a source `len()` long (asked only for
/// `SeekFrom::End`): an error before the start, anywhere at or past the end.
pub(crate) fn seek_target(
    to: SeekFrom,
    pos: u64,
    len: impl FnOnce() -> io::Result<u64>,
) -> io::Result<u64> {
    match to {
        SeekFrom::Start(p) => Some(p),
        SeekFrom::Current(d) => pos.checked_add_signed(d),
        SeekFrom::End(d) => len()?.checked_add_signed(d),
    }
    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a seek before the start"))
}

/// Fill `buf` from `source`, short only where the source ends: the count read. An interrupted
/// read is made again.
pub(crate) fn fill<R: Read + ?Sized>(source: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match source.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn readers_at_their_own_positions_fill_whole_parts_and_stop_short_at_the_end() {
        let mut file = tempfile::tempfile().expect("a temporary file");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        file.write_all(&bytes).expect("written");
        let (mut one, mut two) = (PosRead::new(&file), PosRead::new(&file));
        let (mut a, mut b) = (vec![0u8; 4096], vec![0u8; 4096]);
        one.seek(SeekFrom::Start(1000)).expect("seek");
        two.seek(SeekFrom::End(-2000)).expect("seek");
        // Each reads from its own position, whatever the other did.
        assert_eq!(fill(&mut one, &mut a).expect("read"), 4096);
        assert_eq!(fill(&mut two, &mut b).expect("read"), 2000);
        assert_eq!(a, bytes[1000..5096]);
        assert_eq!(b[..2000], bytes[8000..]);
        assert_eq!(fill(&mut one, &mut a).expect("read"), 4096);
        assert_eq!(a, bytes[5096..9192]);
        assert_eq!(
            fill(&mut two, &mut b).expect("read"),
            0,
            "nothing past the end"
        );
        assert!(one.seek(SeekFrom::Current(-20_000)).is_err());
        one.seek(SeekFrom::Start(u64::MAX - 10))
            .expect("a seek anywhere");
        assert!(fill(&mut one, &mut a).is_err(), "no read past any file");
    }
}
