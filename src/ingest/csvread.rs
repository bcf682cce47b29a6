//! Records of a CSV stream, bounded, and UTF-16 turned into UTF-8.
//!
//! [`Records`] reads CSV as the `csv` crate does with `flexible(true)` and its defaults (RFC 4180
//! as Excel writes it: comma, a quote opens a quoted field only at a field's start, a doubled
//! quote inside one is a quote, `\r`, `\n` or `\r\n` end a record, blank lines are skipped, a
//! UTF-8 byte-order mark at the very start is dropped), one record at a time into one reused
//! buffer. Most of a Procmon export is inside quotes, so a quoted field is copied up to its next
//! quote in one step (`memchr`) instead of byte by byte: this is what makes the reader faster
//! than the crate's byte-at-a-time automaton, and it bounds records in the same pass. A test
//! checks it gives the crate's records on every CSV in the corpus and on random bytes.
//!
//! A record longer than `--max-csv-row-bytes` (counted as written: quotes, commas and quoted
//! line breaks included) or with more fields than `--max-csv-fields` stops the read at that
//! record, before its bytes are held; the records before it are read. [`Utf16Le`] turns a
//! Unicode (UTF-16LE) Process Monitor export into UTF-8 as it streams.

use std::io::{self, Read};
use std::ops::Range;

/// Bytes read from the input at a time.
const CHUNK: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records: line breaks here are skipped.
    StartRecord,
    /// At the start of a field.
    StartField,
    /// In an unquoted field.
    Unquoted,
    /// In a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: its end, or the first of a doubled quote.
    QuoteInQuoted,
}

/// Why a [`Records`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Bytes { quoted: bool },
    Fields,
}

/// CSV records read from a byte stream (see the module doc).
pub struct Records<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
    started: bool,
    max_bytes: u64,
    max_fields: usize,
    /// The current record's fields, unquoted, one after another.
    data: Vec<u8>,
    /// Where each field of the current record ends in `data`.
    ends: Vec<usize>,
    tripped: Option<Trip>,
    ended_in_quotes: bool,
}

impl<R: Read> Records<R> {
    pub fn new(inner: R, max_bytes: u64, max_fields: usize) -> Self {
        Records {
            inner,
            buf: vec![0; CHUNK].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
            started: false,
            max_bytes,
            max_fields: max_fields.max(1),
            data: Vec::new(),
            ends: Vec::new(),
            tripped: None,
            ended_in_quotes: false,
        }
    }

    /// Whether the stream ended inside a quoted field (a quote that never closes: the rest of
    /// the file was read as that field).
    pub fn ended_in_quotes(&self) -> bool {
        self.ended_in_quotes
    }

    /// When the read stopped at a record over a bound: that bound and the flag that raises it.
    pub fn refused(&self) -> Option<(u64, &'static str)> {
        match self.tripped? {
            Trip::Bytes { .. } => Some((self.max_bytes, "--max-csv-row-bytes")),
            Trip::Fields => Some((self.max_fields as u64, "--max-csv-fields")),
        }
    }

    /// Fields in the current record.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The current record's fields, one after another (see [`Records::range`]).
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Where field `i` of the current record is in [`Records::bytes`].
    pub fn range(&self, i: usize) -> Option<Range<usize>> {
        let end = *self.ends.get(i)?;
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p]);
        Some(start..end)
    }

    /// Field `i` of the current record.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.range(i).map(|r| &self.data[r])
    }

    /// Where the fields end in [`Records::bytes`].
    pub fn ends(&self) -> &[usize] {
        &self.ends
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

    fn trip(&mut self, trip: Trip) -> io::Error {
        self.tripped = Some(trip);
        self.data = Vec::new();
        self.ends = Vec::new();
        self.error(trip)
    }

    /// Refill the buffer; false at the end of the input. The first fill holds at least the
    /// three bytes of a byte-order mark, when the input has them.
    fn fill(&mut self) -> io::Result<bool> {
        (self.pos, self.end) = (0, 0);
        let want = if self.started { 1 } else { 3 };
        while self.end < want && !self.eof {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.started {
            self.started = true;
            if self.buf[..self.end].starts_with(b"\xEF\xBB\xBF") {
                self.pos = 3;
            }
        }
        Ok(self.end > 0)
    }

    /// Read the next record: `Ok(true)` with it in place, `Ok(false)` at the end of the input.
    /// A record over a bound is an error, and so is every read after it.
    pub fn read_record(&mut self) -> io::Result<bool> {
        if let Some(trip) = self.tripped {
            return Err(self.error(trip));
        }
        self.data.clear();
        self.ends.clear();
        let mut state = State::StartRecord;
        // Bytes of the record as written so far.
        let mut raw = 0u64;
        loop {
            if self.pos == self.end {
                if self.fill()? {
                    continue;
                }
                match state {
                    State::StartRecord => return Ok(false),
                    State::Quoted => self.ended_in_quotes = true,
                    _ => {}
                }
                self.ends.push(self.data.len());
                return Ok(true);
            }
            let buf = &self.buf[self.pos..self.end];
            match state {
                State::StartRecord => match buf.iter().position(|&b| b != b'\r' && b != b'\n') {
                    Some(n) => {
                        self.pos += n;
                        state = State::StartField;
                    }
                    None => self.pos = self.end,
                },
                State::StartField | State::QuoteInQuoted => {
                    let b = buf[0];
                    match b {
                        b'"' => {
                            self.pos += 1;
                            raw += 1;
                            if state == State::QuoteInQuoted {
                                self.data.push(b'"');
                            }
                            state = State::Quoted;
                            if raw > self.max_bytes {
                                return Err(self.trip(Trip::Bytes { quoted: true }));
                            }
                        }
                        b',' => {
                            self.pos += 1;
                            raw += 1;
                            self.ends.push(self.data.len());
                            state = State::StartField;
                            if self.ends.len() >= self.max_fields {
                                return Err(self.trip(Trip::Fields));
                            }
                            if raw > self.max_bytes {
                                return Err(self.trip(Trip::Bytes { quoted: false }));
                            }
                        }
                        b'\r' | b'\n' => {
                            self.pos += 1;
                            self.ends.push(self.data.len());
                            return Ok(true);
                        }
                        _ => state = State::Unquoted,
                    }
                }
                State::Unquoted => {
                    let n = memchr::memchr3(b',', b'\r', b'\n', buf).unwrap_or(buf.len());
                    raw += n as u64;
                    if raw > self.max_bytes {
                        return Err(self.trip(Trip::Bytes { quoted: false }));
                    }
                    self.data.extend_from_slice(&buf[..n]);
                    self.pos += n;
                    if n < buf.len() {
                        // The delimiter or line break: as at a field's start.
                        state = State::StartField;
                    }
                }
                State::Quoted => {
                    let n = memchr::memchr(b'"', buf).unwrap_or(buf.len());
                    raw += n as u64;
                    if raw > self.max_bytes {
                        return Err(self.trip(Trip::Bytes { quoted: true }));
                    }
                    self.data.extend_from_slice(&buf[..n]);
                    self.pos += n;
                    // Most often the quote closes the field and `,"` opens the next quoted
                    // one: taken in one step when no bound can be reached on the way.
                    if buf.get(n + 1..n + 3) == Some(b",\"")
                        && raw + 3 <= self.max_bytes
                        && self.ends.len() + 1 < self.max_fields
                    {
                        self.pos += 3;
                        raw += 3;
                        self.ends.push(self.data.len());
                    } else if n < buf.len() {
                        self.pos += 1;
                        raw += 1;
                        state = State::QuoteInQuoted;
                        if raw > self.max_bytes {
                            return Err(self.trip(Trip::Bytes { quoted: false }));
                        }
                    }
                }
            }
        }
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

    /// A reader handing out at most `step` bytes a read, so records straddle reads.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Every record [`Records`] reads, then the error that stopped it.
    fn ours(data: &[u8], step: usize, max_bytes: u64, max_fields: usize) -> Read2 {
        let mut r = Records::new(Trickle { data, step }, max_bytes, max_fields);
        let mut records = Vec::new();
        loop {
            match r.read_record() {
                Ok(true) => {
                    records.push((0..r.len()).map(|i| r.get(i).unwrap().to_vec()).collect())
                }
                Ok(false) => return (records, None, r.ended_in_quotes()),
                Err(e) => return (records, Some(e.to_string()), false),
            }
        }
    }

    type Read2 = (Vec<Vec<Vec<u8>>>, Option<String>, bool);

    /// What the csv crate reads, as the reader used to be configured.
    fn theirs(data: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        let mut record = csv::ByteRecord::new();
        let mut records = Vec::new();
        while reader.read_byte_record(&mut record).unwrap() {
            records.push(record.iter().map(<[u8]>::to_vec).collect());
        }
        records
    }

    /// A small deterministic generator (xorshift), so a failure can be replayed.
    fn random_csv(seed: &mut u64, len: usize) -> Vec<u8> {
        const BYTES: &[u8] = b"\"\",,,\r\n\n ab\xC3\xA9\xEF\xBB\xBF";
        (0..len)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                BYTES[(*seed % BYTES.len() as u64) as usize]
            })
            .collect()
    }

    #[test]
    fn reads_what_the_csv_crate_reads_on_random_bytes() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for case in 0..20_000 {
            let len = case % 40;
            let data = random_csv(&mut seed, len);
            let step = 1 + case % 5;
            let (records, err, _) = ours(&data, step, u64::MAX, usize::MAX);
            assert_eq!(err, None);
            assert_eq!(records, theirs(&data), "case {case}: {data:?}");
        }
    }

    #[test]
    fn reads_what_the_csv_crate_reads_on_the_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/procmon");
        if !dir.is_dir() {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "CI=true but the shared corpus is missing at {}",
                dir.display()
            );
            use std::io::Write as _;
            let _ = writeln!(io::stderr(), "SKIPPED: no corpus at {}", dir.display());
            return;
        }
        let mut files = 0;
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
                {
                    let data = std::fs::read(&path).unwrap();
                    let (records, err, _) = ours(&data, CHUNK, u64::MAX, usize::MAX);
                    assert_eq!(err, None);
                    assert!(records == theirs(&data), "{}", path.display());
                    files += 1;
                }
            }
        }
        assert!(files >= 20, "{files} CSV files");
    }

    #[test]
    fn a_quoted_record_across_lines_over_the_bound_stops_the_read_after_the_records_before() {
        let data = b"\"a\",\"b\"\n\"x\ny\nz\nw\",\"q\"\n\"c\",\"d\"\n";
        let (records, err, _) = ours(data, 3, 7, 10);
        assert_eq!(records, [vec![b"a".to_vec(), b"b".to_vec()]]);
        assert!(err.unwrap().contains("a quote that never closes"));
        let (records, err, _) = ours(data, 3, 64, 10);
        assert_eq!((records.len(), err), (3, None));
    }

    #[test]
    fn the_byte_bound_counts_the_record_as_written_without_its_line_break() {
        // `"ab",c` is 6 bytes: at the bound it is read, one under it is refused.
        let data = b"\"ab\",c\r\n";
        assert_eq!(ours(data, 2, 6, 10).1, None);
        let err = ours(data, 2, 5, 10).1.unwrap();
        assert!(
            err.contains("longer than 5 bytes") && !err.contains("quoted"),
            "{err}"
        );
    }

    #[test]
    fn doubled_quotes_and_mid_field_quotes_do_not_open_a_field() {
        let data = b"\"a\"\"b\",c\"d\nx,y\n";
        let (records, err, quotes) = ours(data, 2, 10, 10);
        assert_eq!((err, quotes), (None, false));
        assert_eq!(records, theirs(data));
        assert_eq!(records[0], [b"a\"b".to_vec(), b"c\"d".to_vec()]);
    }

    #[test]
    fn too_many_fields_stop_before_the_record() {
        let data = b"a,b\n,,,,,\nc,d\n";
        let (records, err, _) = ours(data, 4, 100, 3);
        assert_eq!(records, [vec![b"a".to_vec(), b"b".to_vec()]]);
        assert!(err.unwrap().contains("more than 3 fields"));
    }

    #[test]
    fn a_quote_that_never_closes_is_reported() {
        let (records, err, quotes) = ours(b"a,b\n\"c,d\ne", 2, 100, 10);
        assert_eq!((records.len(), err, quotes), (2, None, true));
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
