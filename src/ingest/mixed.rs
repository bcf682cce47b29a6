//! Text whose encoding changes part way: a UTF-16LE export with UTF-8 text after it (two
//! exports joined, a file appended to by another tool), or UTF-8 text with UTF-16LE after it.
//! Decoded in the encoding it starts in, the second part is read as nonsense (UTF-8 read as
//! UTF-16 is a run of CJK characters; UTF-16 read as UTF-8 is text with a NUL after every
//! letter): its events are lost while the file looks read fully. The readers of event-log XML,
//! Procmon CSV, registry exports, ACL dumps and certificate listings look for the switch
//! ([`switch_at`], [`Guard`]), read what comes before it, and account the file as read partly,
//! saying where and why.
//!
//! The switch is told by a run of [`RUN`] bytes that only the other encoding writes: from
//! UTF-16LE, 32 bytes of ASCII text (tab, line breaks, printable) holding a space, `<`, `"`,
//! `,` or a line break, which no UTF-16LE text holds (its ASCII letters have a zero byte each,
//! and CJK text, whose two bytes may both be ASCII, does not run to 16 such characters with a
//! delimiter among them); from UTF-8, 16 ASCII letters each followed by a zero byte (UTF-8 log
//! text holds no NUL).

use std::io::{self, Read};

/// The encoding a text starts in (after its byte-order mark).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Utf8,
    Utf16Le,
}

impl Start {
    fn name(self) -> &'static str {
        match self {
            Start::Utf8 => "UTF-8",
            Start::Utf16Le => "UTF-16LE",
        }
    }

    fn other(self) -> Start {
        match self {
            Start::Utf8 => Start::Utf16Le,
            Start::Utf16Le => Start::Utf8,
        }
    }
}

/// Bytes of the other encoding that tell a switch.
pub const RUN: usize = 32;

/// What the account of a file whose text switched encoding at byte `at` of the file says.
pub fn problem(start: Start, at: u64) -> String {
    format!(
        "from byte {at} on, the text is {} and no longer {} as before it (text of two encodings in one file: two exports joined?): the rest of the file was not read",
        start.other().name(),
        start.name()
    )
}

fn text(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7E)
}

/// Where in `bytes` (text in `start`'s encoding, its byte-order mark left out) text of the
/// other encoding begins, when it does: the start of the first run that tells it, moved back
/// over the other encoding's byte-order mark(s) right before it.
pub fn switch_at(bytes: &[u8], start: Start) -> Option<usize> {
    let at = first_run(bytes, start)?;
    let at = match start {
        Start::Utf16Le => back_over_text(bytes, at),
        Start::Utf8 => at,
    };
    Some(back_over_marks(bytes, at, 0, start))
}

/// `at` (where a run that tells UTF-8 after UTF-16LE starts) moved back to the start of the
/// text its run is part of, on a UTF-16 unit's boundary (an even offset, never past `at`): UTF-8
/// text whose first delimiter comes late (a registry export's key line,
/// `[HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Terminal`) is not kept as UTF-16
/// up to it. [`Guard`] hands bytes on once the [`RUN`] after them are seen and does not move
/// back: the rows of Process Monitor's CSV it reads start with a delimiter (`"`).
fn back_over_text(bytes: &[u8], at: usize) -> usize {
    let mut from = at;
    while from > 0 && text(bytes[from - 1]) {
        from -= 1;
    }
    if from % 2 == 1 && from < at {
        from + 1
    } else {
        from
    }
}

/// The first run of [`RUN`] bytes wholly in `bytes` that tells the other encoding.
fn first_run(bytes: &[u8], start: Start) -> Option<usize> {
    match start {
        Start::Utf16Le => {
            let mut run = 0usize;
            let mut last_delimiter: Option<usize> = None;
            for (i, &b) in bytes.iter().enumerate() {
                if !text(b) {
                    run = 0;
                    continue;
                }
                run += 1;
                if matches!(b, b' ' | b'<' | b'"' | b',' | b'\n' | b'\r') {
                    last_delimiter = Some(i);
                }
                if run >= RUN && last_delimiter.is_some_and(|d| d + RUN > i) {
                    return Some(i + 1 - RUN);
                }
            }
            None
        }
        // UTF-16 text holds a zero byte after every ASCII letter; text with none (nearly every
        // UTF-8 file, found by one fast search) holds no switch.
        Start::Utf8 if !bytes.contains(&0) => None,
        Start::Utf8 => (0..2)
            .filter_map(|parity| {
                let mut run = 0usize;
                let mut j = parity;
                while j + 1 < bytes.len() {
                    if bytes[j] != 0 && text(bytes[j]) && bytes[j + 1] == 0 {
                        run += 1;
                        if run * 2 >= RUN {
                            return Some(j + 2 - RUN);
                        }
                    } else {
                        run = 0;
                    }
                    j += 2;
                }
                None
            })
            .min(),
    }
}

/// `at` moved back over the byte-order marks of the encoding after `start`'s that end there,
/// not below `floor`.
fn back_over_marks(bytes: &[u8], mut at: usize, floor: usize, start: Start) -> usize {
    let mark: &[u8] = match start {
        Start::Utf16Le => b"\xEF\xBB\xBF",
        Start::Utf8 => b"\xFF\xFE",
    };
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
    eof: bool,
    /// An error of `inner`, passed on once the bytes read before it are (a zip bomb's entry
    /// keeps what it holds within its declared size).
    error: Option<io::Error>,
    switched: Option<u64>,
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
            eof: false,
            error: None,
            switched: None,
        }
    }

    /// The byte of the file where the other encoding begins, once the stream reached it.
    pub fn switched(&self) -> Option<u64> {
        self.switched
    }

    /// Look at what came in since the last look.
    fn check(&mut self) {
        let from = self.checked;
        match first_run(&self.buf[from..], self.start) {
            Some(at) => {
                let at = back_over_marks(&self.buf, from + at, self.out, self.start);
                self.checked = at;
                self.switched = Some(self.offset + at as u64);
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
        assert_eq!(switch_at(&mixed, Start::Utf16Le), Some(at));
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
        assert_eq!(switch_at(&mixed, Start::Utf8), Some(at));
        // Odd-aligned too.
        let mut odd = b"x".to_vec();
        odd.extend_from_slice(&mixed);
        assert_eq!(switch_at(&odd, Start::Utf8), Some(at + 1));
        assert_eq!(switch_at(LINE.repeat(50).as_bytes(), Start::Utf8), None);

        // UTF-8 text whose first delimiter comes late in its run: the switch is where it
        // starts, not 32 bytes before that delimiter.
        let key = "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server]\r\n";
        let mut mixed = utf16(&LINE.repeat(3));
        let at = mixed.len();
        mixed.extend_from_slice(key.as_bytes());
        assert_eq!(switch_at(&mixed, Start::Utf16Le), Some(at));
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
        let mut mixed = utf16(&LINE.repeat(2000));
        let at = mixed.len();
        mixed.extend_from_slice(LINE.repeat(3).as_bytes());
        for step in [1, 7, 31, 32, 33, 4096, 1 << 20] {
            let mut guard = Guard::new(Trickle { data: &mixed, step }, Start::Utf16Le, 2);
            let mut got = Vec::new();
            guard.read_to_end(&mut got).unwrap();
            assert_eq!(got, mixed[..at], "step {step}");
            assert_eq!(guard.switched(), Some(at as u64 + 2), "step {step}");
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
