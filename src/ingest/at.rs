//! Reading a file at an offset without its shared position: the threads reading one file's
//! parts (EVTX chunks, PML blocks) each read their own bytes, with no seek and no lock between
//! them.

use std::fs::File;
use std::io;

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

/// Fill `buf` from byte `pos` of `file`, short only where the file ends: the count read.
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<usize> {
    fill(buf, |part, got| {
        let at = pos.checked_add(got as u64).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "an offset past any file's end")
        })?;
        read_at(file, part, at)
    })
}

/// Fill `buf` by calls of `read` (given the rest of `buf` and the count read so far, answering
/// as `read` does), short only where the source ends: the count read. An interrupted call is
/// made again.
pub(crate) fn fill(
    buf: &mut [u8],
    mut read: impl FnMut(&mut [u8], usize) -> io::Result<usize>,
) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match read(&mut buf[got..], got) {
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
    fn reads_whole_parts_and_stops_short_at_the_end() {
        let mut file = tempfile::tempfile().expect("a temporary file");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        file.write_all(&bytes).expect("written");
        let mut buf = vec![0u8; 4096];
        assert_eq!(read_full_at(&file, &mut buf, 1000).expect("read"), 4096);
        assert_eq!(buf, bytes[1000..5096]);
        assert_eq!(read_full_at(&file, &mut buf, 8000).expect("read"), 2000);
        assert_eq!(buf[..2000], bytes[8000..]);
        assert_eq!(read_full_at(&file, &mut buf, 20_000).expect("read"), 0);
        assert!(read_full_at(&file, &mut buf, u64::MAX - 10).is_err());
    }
}
