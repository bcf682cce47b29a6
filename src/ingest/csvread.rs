//! The byte stream under the CSV reader: bounded per record, and UTF-16 turned into UTF-8.
//!
//! The `csv` crate holds one whole record in memory (its bytes and one bound per field), so a
//! record must be bounded before the crate sees it: [`RecordGuard`] follows the CSV quoting
//! the crate uses (RFC 4180 as Excel writes it: a quote opens a quoted field only at a field's
//! start, a doubled quote inside one is a quote) and stops at a record longer than
//! `--max-csv-row-bytes`, quoted line breaks included, or with more fields than
//! `--max-csv-fields`. The records before it are handed on first, so they are still read.
//! [`Utf16Le`] turns a Unicode (UTF-16LE) Process Monitor export into UTF-8 as it streams.

use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field (or of a record).
    FieldStart,
    /// In an unquoted field.
    Unquoted,
    /// In a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: its end, or the first of a doubled quote.
    QuoteInQuoted,
}

/// Why a [`RecordGuard`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Bytes { quoted: bool },
    Fields,
}

/// A reader that ends the stream before a record over the bounds (see the module doc).
pub struct RecordGuard<R> {
    inner: R,
    max_bytes: u64,
    max_fields: usize,
    state: State,
    /// Bytes of the current record so far (before this read).
    record_bytes: u64,
    fields: usize,
    tripped: Option<Trip>,
}

impl<R> RecordGuard<R> {
    pub fn new(inner: R, max_bytes: u64, max_fields: usize) -> Self {
        RecordGuard {
            inner,
            max_bytes,
            max_fields: max_fields.max(1),
            state: State::FieldStart,
            record_bytes: 0,
            fields: 1,
            tripped: None,
        }
    }

    /// Whether the stream ended inside a quoted field (a quote that never closes: the csv
    /// reader then takes the rest of the file as that field).
    pub fn ended_in_quotes(&self) -> bool {
        self.tripped.is_none() && matches!(self.state, State::Quoted)
    }

    /// When the stream stopped at a record over a bound: that bound and the flag that raises
    /// it.
    pub fn refused(&self) -> Option<(u64, &'static str)> {
        match self.tripped? {
            Trip::Bytes { .. } => Some((self.max_bytes, "--max-csv-row-bytes")),
            Trip::Fields => Some((self.max_fields as u64, "--max-csv-fields")),
        }
    }

    fn error(&self, trip: Trip) -> io::Error {
        let what = match trip {
            Trip::Bytes { quoted: true } => format!(
                "a record longer than {} bytes, inside a quoted field (a quote that never closes?) (raise with --max-csv-row-bytes)",
                self.max_bytes
            ),
            Trip::Bytes { quoted: false } => format!(
                "a record longer than {} bytes (raise with --max-csv-row-bytes)",
                self.max_bytes
            ),
            Trip::Fields => format!(
                "a record of more than {} fields (raise with --max-csv-fields)",
                self.max_fields
            ),
        };
        io::Error::new(io::ErrorKind::InvalidData, what)
    }

    /// Stop at the record starting at `record_start` in `buf` (0 or less: in an earlier read):
    /// hand on what comes before it, fail from the next read on.
    fn trip(&mut self, trip: Trip, record_start: usize) -> io::Result<usize> {
        self.tripped = Some(trip);
        if record_start > 0 {
            Ok(record_start)
        } else {
            Err(self.error(trip))
        }
    }
}

impl<R: Read> Read for RecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(trip) = self.tripped {
            return Err(self.error(trip));
        }
        let n = self.inner.read(buf)?;
        // Where the current record began in `buf` (0 if in an earlier read), and its bytes
        // before `buf`.
        let mut start = 0usize;
        let mut before = self.record_bytes;
        let mut i = 0usize;
        while i < n {
            let b = buf[i];
            match self.state {
                State::Quoted => {
                    // Most of a Procmon export is inside quotes: jump to the next quote, but
                    // never past the byte that would break the bound.
                    let used = before + (i - start) as u64;
                    let room = usize::try_from(self.max_bytes.saturating_sub(used) + 1)
                        .unwrap_or(usize::MAX)
                        .min(n - i);
                    match memchr::memchr(b'"', &buf[i..i + room]) {
                        Some(at) => {
                            i += at;
                            self.state = State::QuoteInQuoted;
                        }
                        None => i += room - 1,
                    }
                }
                State::QuoteInQuoted => match b {
                    b'"' => self.state = State::Quoted,
                    b',' => {
                        self.fields += 1;
                        self.state = State::FieldStart;
                    }
                    b'\n' | b'\r' => {
                        (start, before) = (i + 1, 0);
                        (self.fields, self.state) = (1, State::FieldStart);
                    }
                    _ => self.state = State::Unquoted,
                },
                State::FieldStart | State::Unquoted => match b {
                    b'"' if self.state == State::FieldStart => self.state = State::Quoted,
                    b',' => {
                        self.fields += 1;
                        self.state = State::FieldStart;
                    }
                    b'\n' | b'\r' => {
                        (start, before) = (i + 1, 0);
                        (self.fields, self.state) = (1, State::FieldStart);
                    }
                    _ => self.state = State::Unquoted,
                },
            }
            if self.fields > self.max_fields {
                return self.trip(Trip::Fields, start);
            }
            if before + (i + 1 - start) as u64 > self.max_bytes {
                let quoted = self.state == State::Quoted;
                return self.trip(Trip::Bytes { quoted }, start);
            }
            i += 1;
        }
        self.record_bytes = before + (n - start) as u64;
        Ok(n)
    }
}

/// UTF-16LE bytes (after their byte-order mark) → UTF-8, streamed; an unpaired surrogate or
/// a lone last byte becomes U+FFFD and is counted.
pub struct Utf16Le<R> {
    inner: R,
    /// Input bytes not yet decoded (at most one odd byte and a high surrogate's two).
    carry: Vec<u8>,
    /// Decoded UTF-8 not yet handed on.
    out: Vec<u8>,
    out_pos: usize,
    eof: bool,
    pub replaced: u64,
}

impl<R> Utf16Le<R> {
    pub fn new(inner: R) -> Self {
        Utf16Le {
            inner,
            carry: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            eof: false,
            replaced: 0,
        }
    }

    fn push(&mut self, c: char) {
        let mut tmp = [0u8; 4];
        self.out
            .extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
    }

    /// Decode `carry` as far as it goes; at the end of input, everything.
    fn decode(&mut self) {
        let mut units: Vec<u16> = self
            .carry
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let odd = self.carry.len() % 2 == 1;
        let mut keep = Vec::new();
        if odd {
            keep.push(self.carry[self.carry.len() - 1]);
        }
        // A high surrogate at the end may pair with the next read's first unit.
        if !self.eof && units.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
            let u = units.pop().unwrap_or_default();
            let mut pair = u.to_le_bytes().to_vec();
            pair.extend_from_slice(&keep);
            keep = pair;
        }
        for c in char::decode_utf16(units) {
            match c {
                Ok(c) => self.push(c),
                Err(_) => {
                    self.replaced += 1;
                    self.push(char::REPLACEMENT_CHARACTER);
                }
            }
        }
        if self.eof && !keep.is_empty() {
            self.replaced += 1;
            self.push(char::REPLACEMENT_CHARACTER);
            keep.clear();
        }
        self.carry = keep;
    }
}

impl<R: Read> Read for Utf16Le<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out.len() {
            if self.eof {
                return Ok(0);
            }
            self.out.clear();
            self.out_pos = 0;
            let mut raw = [0u8; 32 * 1024];
            let n = self.inner.read(&mut raw)?;
            if n == 0 {
                self.eof = true;
            }
            self.carry.extend_from_slice(&raw[..n]);
            self.decode();
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read all through a guard with a tiny read size, so records straddle reads.
    fn through(data: &[u8], max_bytes: u64, max_fields: usize) -> (Vec<u8>, Option<String>) {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(3).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut g = RecordGuard::new(Trickle(data), max_bytes, max_fields);
        let mut out = Vec::new();
        let mut buf = [0u8; 5];
        loop {
            match g.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    #[test]
    fn a_quoted_record_across_lines_counts_as_one() {
        let data = b"\"a\",\"b\"\n\"x\ny\nz\nw\",\"q\"\n\"c\",\"d\"\n";
        // Bytes of the long record handed on before it was found too long never make a
        // record: the reader gets the error before the record's end.
        let (out, err) = through(data, 7, 10);
        assert!(
            out.starts_with(b"\"a\",\"b\"\n") && !out.ends_with(b"\""),
            "{out:?}"
        );
        assert!(err.unwrap().contains("a quote that never closes"));
        let (out, err) = through(data, 64, 10);
        assert_eq!((out.as_slice(), err), (&data[..], None));
    }

    #[test]
    fn doubled_quotes_and_mid_field_quotes_do_not_open_a_field() {
        let data = b"\"a\"\"b\",c\"d\nx,y\n";
        let (out, err) = through(data, 10, 10);
        assert_eq!((out.as_slice(), err), (&data[..], None));
    }

    #[test]
    fn too_many_fields_stop_before_the_record() {
        let data = b"a,b\n,,,,,\nc,d\n";
        let (out, err) = through(data, 100, 3);
        assert!(
            out.starts_with(b"a,b\n") && !out.ends_with(b"\n"),
            "{out:?}"
        );
        assert!(err.unwrap().contains("more than 3 fields"));
    }

    #[test]
    fn utf16_is_turned_into_utf8_with_bad_units_counted() {
        let text = "Zeit,\"Päth 😀\"\r\n";
        let mut bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        bytes.extend_from_slice(&0xD800u16.to_le_bytes());
        bytes.push(b'x');
        let mut r = Utf16Le::new(&bytes[..]);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, format!("{text}\u{FFFD}\u{FFFD}"));
        assert_eq!(r.replaced, 2);
    }
}
