//! Text whose encoding changes part way: a UTF-16LE or UTF-16BE export with UTF-8 text after
//! it (two exports joined, a file appended to by another tool), UTF-8 text with UTF-16 after
//! it, or UTF-16 of one byte order with UTF-16 of the other after it. Decoded in the encoding
//! it starts in, the second part is read as nonsense (UTF-8 read as UTF-16 is a run of CJK
//! characters; UTF-16 read as UTF-8 is text with a NUL beside every letter; UTF-16 read in the
//! other byte order is CJK too): its events are lost while the file looks read fully. The
//! readers of event-log XML, Procmon CSV, registry exports, ACL dumps and certificate listings
//! look for the switch ([`switch_at`], [`Guard`]), read what comes before it, and account the
//! file as read partly, saying where, to what and why.
//!
//! The switch is told by a run of [`RUN`] bytes that only the other encoding writes: from
//! UTF-16, 32 bytes of ASCII text (tab, line breaks, printable) holding a space, `<`, `"`,
//! `,` or a line break, which no UTF-16 text holds (its ASCII letters have a zero byte each,
//! and CJK text, whose two bytes may both be ASCII, does not run to 16 such characters with a
//! delimiter among them), or 16 units of ASCII letters in the other byte order holding such a
//! delimiter (U+3000 ideographic spaces, `00 30` in UTF-16LE, hold none); from UTF-8, 16 ASCII
//! letters each followed (UTF-16LE) or preceded (UTF-16BE) by a zero byte (UTF-8 log text
//! holds no NUL).

use std::io::{self, Read};

/// An encoding a text is in: the one it starts in (after its byte-order mark), or the one
/// found after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Utf8,
    Utf16Le,
    Utf16Be,
}

impl Start {
    fn name(self) -> &'static str {
        match self {
            Start::Utf8 => "UTF-8",
            Start::Utf16Le => "UTF-16LE",
            Start::Utf16Be => "UTF-16BE",
        }
    }

    /// The byte-order mark text in this encoding may start with.
    fn mark(self) -> &'static [u8] {
        match self {
            Start::Utf8 => b"\xEF\xBB\xBF",
            Start::Utf16Le => b"\xFF\xFE",
            Start::Utf16Be => b"\xFE\xFF",
        }
    }
}

/// Bytes of the other encoding that tell a switch.
pub const RUN: usize = 32;

/// What the account of a file whose text switched from `start`'s encoding to `to`'s at byte
/// `at` of the file says.
pub fn problem(start: Start, to: Start, at: u64) -> String {
    format!(
        "from byte {at} on, the text is {} and no longer {} as before it (text of two encodings in one file: two exports joined?): the rest of the file was not read",
        to.name(),
        start.name()
    )
}

fn text(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7E)
}

fn delimiter(b: u8) -> bool {
    matches!(b, b' ' | b'<' | b'"' | b',' | b'\n' | b'\r')
}

/// A UTF-16LE unit of ASCII text: a printable byte, then a zero byte.
fn le_unit(a: u8, b: u8) -> bool {
    a != 0 && text(a) && b == 0
}

/// A UTF-16BE unit of ASCII text: a zero byte, then a printable byte.
fn be_unit(a: u8, b: u8) -> bool {
    le_unit(b, a)
}

/// Where in `bytes` (text in `start`'s encoding, its byte-order mark left out) text of
/// another encoding begins, when it does, and which: the start of the first run that tells
/// it, moved back to the start of the text it is part of and over the other encoding's
/// byte-order mark(s) right before it.
pub fn switch_at(bytes: &[u8], start: Start) -> Option<(usize, Start)> {
    let (at, to) = first_run(bytes, start, 0)?;
    let at = match (start, to) {
        (Start::Utf8, _) => at,
        (_, Start::Utf8) => back_over_text(bytes, at),
        (_, other) => back_over_units(bytes, at, other),
    };
    Some((back_over_marks(bytes, at, 0, to), to))
}

/// `at` (where a run that tells UTF-8 after UTF-16 starts) moved back to the start of the
/// text its run is part of, on a UTF-16 unit's boundary (an even offset, never past `at`): UTF-8
/// text whose first delimiter comes late (a registry export's key line,
/// `[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Terminal`) is not kept as UTF-16
/// up to it, nor is its byte-order mark. [`Guard`] hands bytes on once the [`RUN`] after them are seen and does not move
/// back: the rows of Process Monitor's CSV it reads start with a delimiter (`"`).
fn back_over_text(bytes: &[u8], at: usize) -> usize {
    let mut from = at;
    while from > 0 && text(bytes[from - 1]) {
        from -= 1;
    }
    // UTF-8 text after its own mark may start at an odd offset: the mark is its start.
    if from % 2 == 1 && from < at && !bytes[..from].ends_with(Start::Utf8.mark()) {
        from + 1
    } else {
        from
    }
}

/// `at` (where a run of `to`'s ASCII units after UTF-16 of the other byte order starts, on a
/// unit's boundary) moved back over the units of `to` before it, as [`back_over_text`].
fn back_over_units(bytes: &[u8], mut at: usize, to: Start) -> usize {
    let unit = if to == Start::Utf16Le {
        le_unit
    } else {
        be_unit
    };
    while at >= 2 && unit(bytes[at - 2], bytes[at - 1]) {
        at -= 2;
    }
    at
}

/// The start of the first run of [`RUN`] bytes wholly in `bytes` that tells another
/// encoding than `start`'s, and which. `phase`: where in `bytes` the first whole UTF-16 unit
/// of text starting in UTF-16 begins (0 or 1).
fn first_run(bytes: &[u8], start: Start, phase: usize) -> Option<(usize, Start)> {
    match start {
        // UTF-16 of the other byte order: its ASCII units, [`RUN`] bytes of them on a unit's
        // boundary with a delimiter among them, as UTF-8 after UTF-16 (a run of CJK units
        // whose low byte is zero, U+3000 ideographic spaces, has none).
        Start::Utf16Le => earliest([
            ascii_run(bytes).map(|at| (at, Start::Utf8)),
            unit_run(bytes, phase, be_unit, true).map(|at| (at, Start::Utf16Be)),
        ]),
        Start::Utf16Be => earliest([
            ascii_run(bytes).map(|at| (at, Start::Utf8)),
            unit_run(bytes, phase, le_unit, true).map(|at| (at, Start::Utf16Le)),
        ]),
        // UTF-16 text holds a zero byte after (LE) or before (BE) every ASCII letter; text
        // with none (nearly every UTF-8 file, found by one fast search) holds no switch. Of
        // UTF-16BE text after an odd number of bytes, the run of UTF-16LE units one byte on
        // starts later.
        Start::Utf8 if !bytes.contains(&0) => None,
        Start::Utf8 => earliest([
            unit_run(bytes, 0, le_unit, false).map(|at| (at, Start::Utf16Le)),
            unit_run(bytes, 1, le_unit, false).map(|at| (at, Start::Utf16Le)),
            unit_run(bytes, 0, be_unit, false).map(|at| (at, Start::Utf16Be)),
            unit_run(bytes, 1, be_unit, false).map(|at| (at, Start::Utf16Be)),
        ]),
    }
}

fn earliest<const N: usize>(runs: [Option<(usize, Start)>; N]) -> Option<(usize, Start)> {
    runs.into_iter().flatten().min_by_key(|&(at, _)| at)
}

/// The first [`RUN`] bytes of ASCII text holding a delimiter: UTF-8 after UTF-16.
fn ascii_run(bytes: &[u8]) -> Option<usize> {
    let mut run = 0usize;
    let mut last_delimiter: Option<usize> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if !text(b) {
            run = 0;
            continue;
        }
        run += 1;
        if delimiter(b) {
            last_delimiter = Some(i);
        }
        if run >= RUN && last_delimiter.is_some_and(|d| d + RUN > i) {
            return Some(i + 1 - RUN);
        }
    }
    None
}

/// The first [`RUN`] bytes of two-byte units from `parity` on that are each `unit`'s, holding
/// a delimiter when `delimited`.
fn unit_run(
    bytes: &[u8],
    parity: usize,
    unit: fn(u8, u8) -> bool,
    delimited: bool,
) -> Option<usize> {
    let mut run = 0usize;
    let mut last_delimiter: Option<usize> = None;
    let mut j = parity;
    while j + 1 < bytes.len() {
        let (a, b) = (bytes[j], bytes[j + 1]);
        if unit(a, b) {
            run += 1;
            if delimiter(a | b) {
                last_delimiter = Some(j);
            }
            if run * 2 >= RUN && (!delimited || last_delimiter.is_some_and(|d| d + RUN > j + 1)) {
                return Some(j + 2 - RUN);
            }
        } else {
            run = 0;
        }
        j += 2;
    }
    None
}

/// `at` moved back over the byte-order marks of `to`'s encoding that end there, not below
/// `floor`.
fn back_over_marks(bytes: &[u8], mut at: usize, floor: usize, to: Start) -> usize {
    let mark = to.mark();
    while at >= floor + mark.len() && bytes[at - mark.len()..at] == *mark {
        at -= mark.len();
    }
    at
}

/// A byte stream of text in `start`'s encoding that ends where text of the other encoding
/// begins ([`switch_at`]); [`Guard::switched`] then says at which byte of the file. Bytes are
/// handed on once the [`RUN`] after them have been seen, so a switch is never handed on.
pub struct Guard<R> {
    inner: R,
    start: Start,
    buf: Vec<u8>,
    /// Bytes of `buf` handed on.
    out: usize,
    /// Bytes of `buf` known to come before any switch.
    checked: usize,
    /// The file offset of `buf[0]`.
    offset: u64,
    /// The file offset where the text starts.
    origin: u64,
    eof: bool,
    /// An error of `inner`, passed on once the bytes read before it are (a zip bomb's entry
    /// keeps what it holds within its declared size).
    error: Option<io::Error>,
    switched: Option<(u64, Start)>,
}

impl<R: Read> Guard<R> {
    /// `offset`: where in the file `inner` starts (past the byte-order mark).
    pub fn new(inner: R, start: Start, offset: u64) -> Self {
        Guard {
            inner,
            start,
            buf: Vec::new(),
            out: 0,
            checked: 0,
            offset,
            origin: offset,
            eof: false,
            error: None,
            switched: None,
        }
    }

    /// The byte of the file where another encoding begins, and which, once the stream
    /// reached it.
    pub fn switched(&self) -> Option<(u64, Start)> {
        self.switched
    }

    /// Look at what came in since the last look.
    fn check(&mut self) {
        let from = self.checked;
        // UTF-16 units start at even offsets of the text.
        let phase = ((self.offset + from as u64).abs_diff(self.origin) % 2) as usize;
        match first_run(&self.buf[from..], self.start, phase) {
            Some((at, to)) => {
                let at = back_over_marks(&self.buf, from + at, self.out, to);
                self.checked = at;
                self.switched = Some((self.offset + at as u64, to));
            }
            None if self.eof => self.checked = self.buf.len(),
            // A run that starts in the last RUN - 1 bytes is not whole yet.
            None => self.checked = self.checked.max(self.buf.len().saturating_sub(RUN - 1)),
        }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, into: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out < self.checked {
                let n = into.len().min(self.checked - self.out);
                into[..n].copy_from_slice(&self.buf[self.out..self.out + n]);
                self.out += n;
                return Ok(n);
            }
            if let Some(e) = self.error.take() {
                return Err(e);
            }
            if self.switched.is_some() || self.eof {
                return Ok(0);
            }
            // What was handed on is let go; what is not yet checked is kept.
            self.buf.drain(..self.out);
            self.offset += self.out as u64;
            self.checked -= self.out;
            self.out = 0;
            let mut chunk = [0u8; 32 * 1024];
            match self.inner.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // What came before the error is looked at as the end, and handed on first.
                    self.error = Some(e);
                    self.eof = true;
                }
            }
            self.check();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    const LINE: &str = "\"10:00:00.0000000 AM\",\"notepad.exe\",\"5120\",\"ReadFile\"\r\n";

    #[test]
    fn a_switch_is_found_either_way_and_text_in_one_encoding_has_none() {
        let mut mixed = utf16(&LINE.repeat(3));
        let at = mixed.len();
        mixed.extend_from_slice(b"\xEF\xBB\xBF");
        mixed.extend_from_slice(LINE.repeat(2).as_bytes());
        assert_eq!(switch_at(&mixed, Start::Utf16Le), Some((at, Start::Utf8)));
        assert_eq!(switch_at(&utf16(&LINE.repeat(50)), Start::Utf16Le), None);
        // CJK text whose bytes are ASCII (U+4E2D ...) without a delimiter: no switch.
        let cjk: String = (0..40)
            .map(|i| char::from_u32(0x4E41 + i).unwrap())
            .collect();
        assert_eq!(switch_at(&utf16(&cjk), Start::Utf16Le), None);

        let mut mixed = LINE.repeat(3).into_bytes();
        let at = mixed.len();
        mixed.extend_from_slice(b"\xFF\xFE");
        mixed.extend_from_slice(&utf16(&LINE.repeat(2)));
        assert_eq!(switch_at(&mixed, Start::Utf8), Some((at, Start::Utf16Le)));
        // Odd-aligned too.
        let mut odd = b"x".to_vec();
        odd.extend_from_slice(&mixed);
        assert_eq!(switch_at(&odd, Start::Utf8), Some((at + 1, Start::Utf16Le)));
        assert_eq!(switch_at(LINE.repeat(50).as_bytes(), Start::Utf8), None);

        // UTF-8 text whose first delimiter comes late in its run: the switch is where it
        // starts, not 32 bytes before that delimiter.
        let key = "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server]\r\n";
        let mut mixed = utf16(&LINE.repeat(3));
        let at = mixed.len();
        mixed.extend_from_slice(key.as_bytes());
        assert_eq!(switch_at(&mixed, Start::Utf16Le), Some((at, Start::Utf8)));
    }

    fn utf16be(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    /// UTF-16BE text with UTF-8 or UTF-16LE after it, UTF-16LE with UTF-16BE after it, UTF-8
    /// with UTF-16BE after it (evenly or oddly placed): each found where it starts, named.
    #[test]
    fn a_switch_from_or_to_utf16be_is_found_and_named() {
        let key = "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server]\r\n";
        for tail in [LINE, key] {
            let mut mixed = utf16be(&LINE.repeat(3));
            let at = mixed.len();
            mixed.extend_from_slice(b"\xEF\xBB\xBF");
            mixed.extend_from_slice(tail.repeat(2).as_bytes());
            assert_eq!(switch_at(&mixed, Start::Utf16Be), Some((at, Start::Utf8)));
            let mut mixed = utf16be(&LINE.repeat(3));
            mixed.extend_from_slice(b"\xFF\xFE");
            mixed.extend_from_slice(&utf16(&tail.repeat(2)));
            assert_eq!(
                switch_at(&mixed, Start::Utf16Be),
                Some((at, Start::Utf16Le))
            );
            let mut mixed = utf16(&LINE.repeat(3));
            mixed.extend_from_slice(b"\xFE\xFF");
            mixed.extend_from_slice(&utf16be(&tail.repeat(2)));
            assert_eq!(
                switch_at(&mixed, Start::Utf16Le),
                Some((at, Start::Utf16Be))
            );
        }
        assert_eq!(switch_at(&utf16be(&LINE.repeat(50)), Start::Utf16Be), None);
        let mut mixed = LINE.repeat(3).into_bytes();
        let at = mixed.len();
        mixed.extend_from_slice(b"\xFE\xFF");
        mixed.extend_from_slice(&utf16be(&LINE.repeat(2)));
        assert_eq!(switch_at(&mixed, Start::Utf8), Some((at, Start::Utf16Be)));
        let mut odd = b"x".to_vec();
        odd.extend_from_slice(&mixed);
        assert_eq!(switch_at(&odd, Start::Utf8), Some((at + 1, Start::Utf16Be)));
        // Japanese text padded with ideographic spaces (U+3000: `00 30` in UTF-16LE, `30 00`
        // in UTF-16BE), and a CJK character whose low byte is zero repeated: no switch.
        let padded: String = "\u{3000}".repeat(40) + &"\u{4E00}".repeat(40);
        assert_eq!(switch_at(&utf16(&padded), Start::Utf16Le), None);
        assert_eq!(switch_at(&utf16be(&padded), Start::Utf16Be), None);
    }

    /// A reader handing out at most `step` bytes a read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn the_guard_stops_at_the_switch_however_the_bytes_come() {
        // UTF-8 after UTF-16LE; UTF-16BE after it, the stream's chunks ending at odd offsets of
        // the text.
        let tails = [
            (LINE.repeat(3).into_bytes(), Start::Utf8, 4096),
            (utf16be(&LINE.repeat(3)), Start::Utf16Be, 4095),
        ];
        for (tail, found, odd) in tails {
            let mut mixed = utf16(&LINE.repeat(2000));
            let at = mixed.len();
            mixed.extend_from_slice(&tail);
            for step in [1, 7, 31, 32, 33, odd, 1 << 20] {
                let mut guard = Guard::new(Trickle { data: &mixed, step }, Start::Utf16Le, 2);
                let mut got = Vec::new();
                guard.read_to_end(&mut got).unwrap();
                assert_eq!(got, mixed[..at], "step {step}");
                assert_eq!(
                    guard.switched(),
                    Some((at as u64 + 2, found)),
                    "step {step}"
                );
            }
        }
        // An error of the stream comes after every byte read before it.
        struct Failing<'a>(&'a [u8]);
        impl Read for Failing<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Err(io::Error::other("bomb"));
                }
                let n = buf.len().min(self.0.len()).min(10);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let line = LINE.as_bytes();
        let mut guard = Guard::new(Failing(line), Start::Utf8, 0);
        let mut got = vec![0u8; line.len() + 10];
        let mut n = 0;
        let err = loop {
            match guard.read(&mut got[n..]) {
                Ok(k) => n += k,
                Err(e) => break e,
            }
        };
        assert_eq!((&got[..n], err.to_string().as_str()), (line, "bomb"));

        let whole = LINE.repeat(100).into_bytes();
        let mut guard = Guard::new(
            Trickle {
                data: &whole,
                step: 5,
            },
            Start::Utf8,
            0,
        );
        let mut got = Vec::new();
        guard.read_to_end(&mut got).unwrap();
        assert_eq!(got, whole);
        assert_eq!(guard.switched(), None);
    }
}
