//! Bounds-checked little-endian reads: every read of a PML structure goes through [`Cur`], which
//! never indexes past its slice and says so instead.

/// A read went past the end of the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short;

/// A cursor over a byte slice.
#[derive(Debug, Clone)]
pub struct Cur<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cur { bytes, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).ok_or(Short)?;
        let s = self.bytes.get(self.pos..end).ok_or(Short)?;
        self.pos = end;
        Ok(s)
    }

    pub fn skip(&mut self, n: usize) -> Result<(), Short> {
        self.take(n).map(|_| ())
    }

    /// Move to `pos` (from the start of the slice).
    pub fn seek(&mut self, pos: usize) -> Result<(), Short> {
        if pos > self.bytes.len() {
            return Err(Short);
        }
        self.pos = pos;
        Ok(())
    }

    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.bytes[self.pos..];
        self.pos = self.bytes.len();
        s
    }

    pub fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Short> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, Short> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, Short> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A pointer-sized value: 8 bytes in a 64-bit capture, 4 in a 32-bit one.
    pub fn ptr(&mut self, wide: bool) -> Result<u64, Short> {
        if wide {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }
}

/// UTF-16LE text up to its first NUL (or the end), unpaired surrogates replaced.
pub fn utf16(bytes: &[u8]) -> String {
    let mut out = String::new();
    utf16_into(bytes, &mut out);
    out
}

/// [`utf16`], appended to `out`: room for the text reserved once, and the ASCII run that most
/// paths and names are narrowed a chunk at a time on the stack (a loop the compiler vectorizes)
/// and copied in, without decoding surrogates.
pub fn utf16_into(bytes: &[u8], out: &mut String) {
    const CHUNK: usize = 64;
    out.reserve(bytes.len() / 2);
    let mut rest = &bytes[..bytes.len() & !1];
    let mut narrow = [0u8; CHUNK];
    while !rest.is_empty() {
        let n = (rest.len() / 2).min(CHUNK);
        let mut plain = true;
        for (b, unit) in narrow.iter_mut().zip(rest.chunks_exact(2)) {
            *b = unit[0];
            // ASCII and not NUL: 1..=0x7F in the low byte, 0 in the high one.
            plain &= unit[1] == 0 && unit[0].wrapping_sub(1) < 0x7f;
        }
        if !plain {
            break;
        }
        // Only bytes 1..=0x7F were written: ASCII, so UTF-8.
        out.push_str(std::str::from_utf8(&narrow[..n]).unwrap_or_default());
        rest = &rest[n * 2..];
    }
    let ascii = rest
        .chunks_exact(2)
        .take_while(|c| c[1] == 0 && c[0] != 0 && c[0] < 0x80)
        .count();
    out.extend(rest[..ascii * 2].iter().step_by(2).map(|&b| char::from(b)));
    let units = rest[ascii * 2..]
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0);
    out.extend(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
}

/// A list of NUL-separated UTF-16LE strings, ended by an empty one (or the end of `bytes`).
pub fn utf16_list(bytes: &[u8]) -> Vec<String> {
    utf16_parts(bytes).map(utf16).collect()
}

/// The strings of a [`utf16_list`], undecoded: each an even run of bytes without a NUL unit.
pub fn utf16_parts(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = &bytes[..bytes.len() & !1];
    std::iter::from_fn(move || {
        let end = rest
            .chunks_exact(2)
            .position(|c| c == [0, 0])
            .map_or(rest.len(), |i| i * 2);
        if end == 0 {
            return None;
        }
        let part = &rest[..end];
        rest = rest.get(end + 2..).unwrap_or_default();
        Some(part)
    })
}

/// Latin-1 text (Process Monitor's "ASCII" detail strings) up to its first NUL.
pub fn latin1(bytes: &[u8]) -> String {
    let mut out = String::new();
    latin1_into(bytes, &mut out);
    out
}

/// [`latin1`], appended to `out`: the leading ASCII run (the usual case, all of the text) found
/// in one pass and copied as it is, the rest (from the first byte past `0x7F`) a character a
/// byte.
pub fn latin1_into(bytes: &[u8], out: &mut String) {
    let run = ascii_run(bytes);
    // Bytes 1..=0x7F only: ASCII, so UTF-8.
    out.push_str(std::str::from_utf8(&bytes[..run]).unwrap_or_default());
    let rest = &bytes[run..];
    if rest.first().is_some_and(|&b| b != 0) {
        let end = memchr::memchr(0, rest).unwrap_or(rest.len());
        out.reserve(end);
        out.extend(rest[..end].iter().map(|&b| char::from(b)));
    }
}

/// The length of the run of bytes `1..=0x7F` that `bytes` starts with: up to its first NUL or
/// byte past ASCII. Sixteen bytes at a time, each tested without a branch (a loop the compiler
/// vectorizes): `(b - 1) | b` has its high bit set exactly for `0` and `0x80..`.
fn ascii_run(bytes: &[u8]) -> usize {
    const LANES: usize = 16;
    let flag = |b: u8| b.wrapping_sub(1) | b;
    let mut at = 0;
    for chunk in bytes.chunks_exact(LANES) {
        if chunk.iter().fold(0u8, |m, &b| m | flag(b)) & 0x80 != 0 {
            break;
        }
        at += LANES;
    }
    let tail = &bytes[at..];
    at + tail
        .iter()
        .position(|&b| flag(b) & 0x80 != 0)
        .unwrap_or(tail.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_end() {
        let mut c = Cur::new(&[1, 0, 2, 0, 0, 0]);
        assert_eq!(c.u16(), Ok(1));
        assert_eq!(c.u32(), Ok(2));
        assert_eq!(c.u8(), Err(Short));
        assert_eq!(c.take(usize::MAX), Err(Short));
        assert_eq!(c.seek(7), Err(Short));
    }

    #[test]
    fn text() {
        assert_eq!(utf16(b"a\0b\0\0\0c\0"), "ab");
        assert_eq!(utf16_list(b"a\0\0\0b\0c\0\0\0\0\0"), vec!["a", "bc"]);
        assert_eq!(utf16_list(b"a\0\0\0b\0c\0\0"), vec!["a", "bc"]);
        assert_eq!(utf16_list(b"\0\0a\0"), Vec::<String>::new());
        let surrogate = [0x00, 0xd8, 0, 0, b'x', 0];
        assert_eq!(utf16_list(&surrogate), vec!["\u{fffd}", "x"]);
        assert_eq!(latin1(b"x\xe9\0y"), "x\u{e9}");
        assert_eq!(latin1(b"plain"), "plain");
        // Every byte value, at every place around a run of sixteen, against a plain decoding.
        let naive = |b: &[u8]| -> String {
            b.iter()
                .take_while(|&&c| c != 0)
                .map(|&c| char::from(c))
                .collect()
        };
        for len in [0usize, 1, 15, 16, 17, 33, 40] {
            for at in 0..len {
                for byte in 0..=255u8 {
                    let mut b: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                    b[at] = byte;
                    let mut out = String::from("<");
                    latin1_into(&b, &mut out);
                    assert_eq!(out, format!("<{}", naive(&b)), "{b:?}");
                }
            }
        }
        // ASCII, then a character past it, an unpaired surrogate, a NUL.
        let mut wide = Vec::new();
        for u in [0x43u16, 0x3a, 0xe9, 0x6c34, 0xd800, 0x41, 0, 0x42] {
            wide.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(utf16(&wide), "C:\u{e9}\u{6c34}\u{fffd}A");
        let mut out = String::from("<");
        utf16_into(&wide[..4], &mut out);
        assert_eq!(out, "<C:");
        assert_eq!(utf16(b"a\0\x80\0"), "a\u{80}");
        assert_eq!(utf16(b"a\0b"), "a");
        // Runs longer than a chunk, with the first non-ASCII unit or NUL at every place.
        let long: Vec<u16> = (0..200u16).map(|i| 0x41 + i % 26).collect();
        for stop in [0x00u16, 0xe9, 0x6c34, 0xd800, 0x100] {
            for at in [0, 1, 63, 64, 65, 127, 128, 129, 199] {
                let mut units = long.clone();
                units[at] = stop;
                let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
                let want: String =
                    char::decode_utf16(units.iter().copied().take_while(|&u| u != 0))
                        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                        .collect();
                assert_eq!(utf16(&bytes), want, "{stop:#x} at {at}");
                assert_eq!(
                    utf16(&bytes[..bytes.len() - 1]),
                    utf16(&bytes[..bytes.len() - 2])
                );
            }
        }
    }
}
