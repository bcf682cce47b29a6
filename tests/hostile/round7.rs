//! Hostile input, round seven: EVTX chunks whose records all instance one template that
//! expands to megabytes, and `reg export` and XML files whose encoding is not what it seems.
//! Inputs are built here, in a temporary folder; every command has a time limit.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

use crate::common;
use crate::support::evtx_writer::crc32;

fn rdtriage() -> Command {
    let mut cmd = Command::cargo_bin("rdtriage").unwrap();
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .args(["--threads", "2"])
        .timeout(Duration::from_secs(120));
    cmd
}

/// `dump --summary --format json` of `path` with `args`: the file's account, the exit code and
/// stderr.
fn summary(path: &Path, args: &[&str]) -> (Value, Option<i32>, String) {
    let out = rdtriage()
        .args(["dump", "--summary", "--format", "json"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    let accounts: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (
        accounts[0].clone(),
        out.status.code(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn count(a: &Value, what: &str) -> u64 {
    a[what].as_u64().unwrap_or_else(|| panic!("{what} in {a}"))
}

// ---------------------------------------------------------------------------------------------
// EVTX: records that all instance one template expanding to megabytes

/// A chunk being written: its bytes, and the names written inline so far (by offset).
struct Chunk {
    b: Vec<u8>,
    names: BTreeMap<String, u32>,
}

impl Chunk {
    fn u8(&mut self, v: u8) {
        self.b.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn utf16(&mut self, s: &str) {
        for c in s.encode_utf16() {
            self.u16(c);
        }
    }
    /// A name: its offset, written inline where it is first used.
    fn name(&mut self, name: &str) {
        if let Some(&at) = self.names.get(name) {
            return self.u32(at);
        }
        let at = self.b.len() as u32 + 4;
        self.u32(at);
        let hash = name.encode_utf16().fold(0u32, |h, c| {
            h.wrapping_mul(65599).wrapping_add(u32::from(c))
        });
        self.u32(0);
        self.u16(hash as u16);
        self.u16(name.encode_utf16().count() as u16);
        self.utf16(name);
        self.u16(0);
        self.names.insert(name.to_string(), at);
    }
    /// An element start (its size filled in by [`Chunk::end`]); where it starts.
    fn open(&mut self, name: &str, attrs: bool) -> usize {
        let at = self.b.len();
        self.u8(if attrs { 0x41 } else { 0x01 });
        self.u16(0xffff);
        self.u32(0);
        self.name(name);
        at
    }
    /// The element opened at `at` ends here.
    fn end(&mut self, at: usize) {
        let len = (self.b.len() - at - 7) as u32;
        self.b[at + 3..at + 7].copy_from_slice(&len.to_le_bytes());
    }
    /// `<name>%index</name>`, the value of type `ty`.
    fn hole_element(&mut self, name: &str, index: u16, ty: u8) {
        let at = self.open(name, false);
        self.u8(0x02);
        self.u8(0x0e);
        self.u16(index);
        self.u8(ty);
        self.u8(0x04);
        self.end(at);
    }
    /// `<name>text</name>`.
    fn literal_element(&mut self, name: &str, text: &str) {
        let at = self.open(name, false);
        self.u8(0x02);
        self.u8(0x05);
        self.u8(0x01);
        self.u16(text.encode_utf16().count() as u16);
        self.utf16(text);
        self.u8(0x04);
        self.end(at);
    }
    /// `<name attr="%index"/>`.
    fn attribute_element(&mut self, name: &str, attr: &str, index: u16, ty: u8) {
        let at = self.open(name, true);
        let list = self.b.len();
        self.u32(0);
        self.u8(0x06);
        self.name(attr);
        self.u8(0x0e);
        self.u16(index);
        self.u8(ty);
        let len = (self.b.len() - list - 4) as u32;
        self.b[list..list + 4].copy_from_slice(&len.to_le_bytes());
        self.u8(0x03);
        self.end(at);
    }
    /// `<System>` with a provider, the event id (value 0), the time (value 1) and the record
    /// number (value 2).
    fn system(&mut self) {
        let at = self.open("System", false);
        self.u8(0x02);
        let provider = self.open("Provider", true);
        let list = self.b.len();
        self.u32(0);
        self.u8(0x06);
        self.name("Name");
        self.u8(0x05);
        self.u8(0x01);
        self.u16(8);
        self.utf16("Schannel");
        let len = (self.b.len() - list - 4) as u32;
        self.b[list..list + 4].copy_from_slice(&len.to_le_bytes());
        self.u8(0x03);
        self.end(provider);
        self.hole_element("EventID", 0, 0x06);
        self.attribute_element("TimeCreated", "SystemTime", 1, 0x11);
        self.hole_element("EventRecordID", 2, 0x0a);
        self.literal_element("Channel", "System");
        self.u8(0x04);
        self.end(at);
    }
}

/// What every record of a chunk instances.
#[derive(Clone, Copy)]
enum Shape {
    /// `<EventData>` holding `n` `<Data>%3</Data>`: each record's string (value 3) `n` times.
    Repeats { n: usize },
    /// `<System>` ending in `<Y>` that holds `n` empty `<X/>`: nothing the event keeps, only
    /// elements to visit; `<EventData>` holds the string once.
    Visits { n: usize },
}

const FILETIME_2024: u64 = (1_709_629_800 + 11_644_473_600) * 10_000_000;

/// The template's body: `<Event>` with `<System>` and what `shape` says.
fn template(c: &mut Chunk, shape: Shape) {
    for b in [0x0f, 1, 1, 0] {
        c.u8(b);
    }
    let event = c.open("Event", false);
    c.u8(0x02);
    c.system();
    if let Shape::Visits { n } = shape {
        let y = c.open("Y", false);
        c.u8(0x02);
        for _ in 0..n {
            let x = c.open("X", false);
            c.u8(0x03);
            c.end(x);
        }
        c.u8(0x04);
        c.end(y);
    }
    let data = c.open("EventData", false);
    c.u8(0x02);
    let n = match shape {
        Shape::Repeats { n } => n,
        Shape::Visits { .. } => 1,
    };
    for _ in 0..n {
        c.hole_element("Data", 3, 0x01);
    }
    c.u8(0x04);
    c.end(data);
    c.u8(0x04);
    c.end(event);
    c.u8(0x00);
}

/// One chunk numbering its records from `first`: the template defined inline in its first
/// record, then as many records instancing it as fit, each with a string of `chars`
/// characters (its record number first, so that no two are alike). Its bytes, and the next
/// record number.
fn chunk(shape: Shape, first: u64, chars: usize) -> (Vec<u8>, u64) {
    let mut c = Chunk {
        b: vec![0u8; 512],
        names: BTreeMap::new(),
    };
    let mut id = first;
    let mut definition = None;
    let mut last_at = 0;
    loop {
        let at = c.b.len();
        c.b.extend_from_slice(b"**\0\0\0\0\0\0");
        c.b.extend_from_slice(&id.to_le_bytes());
        c.b.extend_from_slice(&(FILETIME_2024 + id).to_le_bytes());
        for b in [0x0f, 1, 1, 0, 0x0c, 1] {
            c.u8(b);
        }
        c.u32(0x1234);
        match definition {
            Some(def) => c.u32(def),
            None => {
                let def = c.b.len() as u32 + 4;
                definition = Some(def);
                c.u32(def);
                c.u32(0);
                c.u32(0x1234);
                c.b.extend_from_slice(&[0x11; 12]);
                let size_at = c.b.len();
                c.u32(0);
                let body = c.b.len();
                template(&mut c, shape);
                let len = (c.b.len() - body) as u32;
                c.b[size_at..size_at + 4].copy_from_slice(&len.to_le_bytes());
            }
        }
        let mut text = format!("{id:08}");
        text.extend(std::iter::repeat_n('B', chars.saturating_sub(8)));
        let text: Vec<u8> = text
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        let values: [(Vec<u8>, u8); 4] = [
            (36874u16.to_le_bytes().to_vec(), 0x06),
            ((FILETIME_2024 + id).to_le_bytes().to_vec(), 0x11),
            (id.to_le_bytes().to_vec(), 0x0a),
            (text, 0x01),
        ];
        c.u32(values.len() as u32);
        for (v, ty) in &values {
            c.u16(v.len() as u16);
            c.u8(*ty);
            c.u8(0);
        }
        for (v, _) in &values {
            c.b.extend_from_slice(v);
        }
        while !(c.b.len() + 4 - at).is_multiple_of(8) {
            c.u8(0);
        }
        let size = (c.b.len() + 4 - at) as u32;
        if at + size as usize > 65536 {
            c.b.truncate(at);
            break;
        }
        c.u32(size);
        c.b[at + 4..at + 8].copy_from_slice(&size.to_le_bytes());
        last_at = at;
        id += 1;
    }
    assert!(id > first, "a record fits the chunk");
    let free = c.b.len() as u32;
    let mut b = c.b;
    b[..8].copy_from_slice(b"ElfChnk\0");
    for (i, v) in [first, id - 1, first, id - 1].iter().enumerate() {
        b[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    b[40..44].copy_from_slice(&128u32.to_le_bytes());
    b[44..48].copy_from_slice(&(last_at as u32).to_le_bytes());
    b[48..52].copy_from_slice(&free.to_le_bytes());
    let records_crc = crc32(&[&b[512..]]);
    b[52..56].copy_from_slice(&records_crc.to_le_bytes());
    let header_crc = crc32(&[&b[..120], &b[128..512]]);
    b[124..128].copy_from_slice(&header_crc.to_le_bytes());
    b.resize(65536, 0);
    (b, id)
}

/// An EVTX file of `chunks` chunks of [`chunk`]s: its bytes and how many records it holds.
fn amplified_evtx(chunks: usize, shape: Shape, chars: usize) -> (Vec<u8>, u64) {
    let mut body = Vec::new();
    let mut next = 1;
    for _ in 0..chunks {
        let (c, after) = chunk(shape, next, chars);
        body.extend_from_slice(&c);
        next = after;
    }
    let mut file = vec![0u8; 4096];
    file[..8].copy_from_slice(b"ElfFile\0");
    file[16..24].copy_from_slice(&(chunks as u64 - 1).to_le_bytes());
    file[24..32].copy_from_slice(&next.to_le_bytes());
    file[32..36].copy_from_slice(&128u32.to_le_bytes());
    file[36..38].copy_from_slice(&1u16.to_le_bytes());
    file[38..40].copy_from_slice(&3u16.to_le_bytes());
    file[40..42].copy_from_slice(&4096u16.to_le_bytes());
    file[42..44].copy_from_slice(&(chunks as u16).to_le_bytes());
    let crc = crc32(&[&file[..120]]);
    file[124..128].copy_from_slice(&crc.to_le_bytes());
    file.extend_from_slice(&body);
    (file, next - 1)
}

/// The text `dump --format jsonl` gives of each event's data, summed, and the events.
fn dumped_data_bytes(path: &Path, args: &[&str]) -> (u64, u64) {
    let out = rdtriage()
        .args(["dump", "--format", "jsonl"])
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut bytes = 0;
    let mut events = 0;
    for line in text.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        events += 1;
        for (k, v) in e["data"].as_object().unwrap() {
            bytes += (k.len() + v.as_str().unwrap().len()) as u64;
        }
    }
    (bytes, events)
}

const CHUNK_FLAG: &str = "(raise with --max-evtx-chunk-bytes)";

/// A 64 KiB chunk whose records each repeat their 50-character string 2,000 times (100 KB of
/// text a record, 166 records a chunk) expanded to 17 MB; a 19.6 MB file of chunks like it
/// took 1.3 GB and 13 s to `scan`, every record read. Now the records of one chunk expand to at
/// most `--max-evtx-chunk-bytes` (1 MiB) together: those past it are refused, each named with
/// the flag, and the other chunks' records are read; raised, every record is.
#[test]
fn a_chunk_whose_records_expand_past_its_bound_keeps_what_fits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("amplified.evtx");
    let chunks = 4;
    let (file, records) = amplified_evtx(chunks, Shape::Repeats { n: 2000 }, 50);
    std::fs::write(&path, file).unwrap();
    assert!(records >= 4 * 20, "{records} records");

    let (a, code, stderr) = summary(&path, &[]);
    assert_eq!(code, Some(3), "{a}");
    let (events, errors) = (count(&a, "events"), count(&a, "errors"));
    assert_eq!(events + errors, records, "{a}");
    // Each chunk reads what fits in 1 MiB, its first records: 100 KB of text each, more held.
    assert!(
        (chunks as u64..=chunks as u64 * 10).contains(&events),
        "{events} of {records} read: {a}"
    );
    let p = common::problems(&a);
    assert!(
        p.contains(
            "not read: with it, the records of chunk 0 expand to more than 1048576 bytes, over the 1048576-byte limit for one chunk (raise with --max-evtx-chunk-bytes)"
        ),
        "{p}"
    );
    assert!(stderr.contains(CHUNK_FLAG), "{stderr}");
    // What the events hold, by their data: at most the bound per chunk.
    let (bytes, dumped) = dumped_data_bytes(&path, &[]);
    assert_eq!(dumped, events);
    assert!(bytes <= chunks as u64 * (1 << 20), "{bytes} bytes of data");

    let (a, code, _) = summary(&path, &["--max-evtx-chunk-bytes", "64MiB"]);
    assert_eq!(code, Some(0), "{a}");
    assert_eq!((count(&a, "events"), count(&a, "errors")), (records, 0));
}

/// A record whose text passes `--max-evtx-record-bytes` was given up by the direct reader
/// and rendered whole by the evtx crate (up to 16 MiB of XML each) only to be refused: 2,100
/// records of 4.2 MB took 37 s. Its text already says it is over (its rendering holds that
/// text and more): it is refused without being rendered, named with the flag.
#[test]
fn a_record_over_its_bound_is_refused_without_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.evtx");
    let (file, records) = amplified_evtx(1, Shape::Repeats { n: 2000 }, 100);
    std::fs::write(&path, file).unwrap();
    let (a, code, stderr) = summary(&path, &["--max-evtx-record-bytes", "100000"]);
    assert_eq!(code, Some(3), "{a}");
    assert_eq!((count(&a, "events"), count(&a, "errors")), (0, records));
    let p = common::problems(&a);
    assert!(
        p.starts_with(
            "record 1: expands to more than 100000 bytes, over the 100000-byte limit (raise with --max-evtx-record-bytes); record 2: "
        ),
        "{p}"
    );
    assert!(!p.contains("renders to"), "{p}");
    assert!(stderr.contains("--max-evtx-record-bytes"), "{stderr}");
}

/// A template of 2,700 empty elements, instanced by 308 records of about 100 bytes in one
/// chunk: nothing an event keeps, 1.7 million visits. Past the direct reader's node budget
/// the chunk was read again by the evtx crate, which built and rendered each record (20 times
/// as long). Each visit now costs the chunk 4 bytes: past its bound the rest of the chunk's
/// records are refused, named with the flag; raised, all are read.
#[test]
fn a_template_of_thousands_of_elements_costs_its_chunk_its_visits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("visits.evtx");
    let (file, records) = amplified_evtx(1, Shape::Visits { n: 2700 }, 1);
    std::fs::write(&path, file).unwrap();
    assert!(records >= 300, "{records} records");
    let (a, code, _) = summary(&path, &[]);
    assert_eq!(code, Some(3), "{a}");
    let (events, errors) = (count(&a, "events"), count(&a, "errors"));
    assert_eq!(events + errors, records, "{a}");
    // `<Y>` costs a visit per child and each `<X/>` one: 5,400 visits at 4 bytes, about 22 KB
    // a record, so about 47 records in 1 MiB.
    assert!((40..=50).contains(&events), "{events} of {records}: {a}");
    assert!(common::problems(&a).contains(CHUNK_FLAG), "{a}");
    let (a, code, _) = summary(&path, &["--max-evtx-chunk-bytes", "64MiB"]);
    assert_eq!(code, Some(0), "{a}");
    assert_eq!(count(&a, "events"), records, "{a}");
}

// ---------------------------------------------------------------------------------------------
// `reg export`: a multi-string of millions of empty strings

/// `dump --format jsonl` of `path`: one JSON value per event.
fn dumped(path: &Path) -> Vec<Value> {
    let out = rdtriage()
        .args(["dump", "--format", "jsonl"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A `hex(7)` value of `data`, 25 bytes a line as `reg export` writes them, each line but the
/// last continued with `\`.
fn hex7_value(name: &str, data: &[u8]) -> String {
    let lines: Vec<String> = data
        .chunks(25)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    format!("\"{name}\"=hex(7):{}\r\n", lines.join(",\\\r\n  "))
}

#[test]
fn a_multi_string_of_many_empty_strings_reads_as_that_many_lines() {
    // 300,000 empty strings, then "a", then the terminators (decoded in one pass, the trailing
    // NULs trimmed first: one string each had cost 40 times the data); a value of NULs alone
    // holds no string; REGEDIT4's ANSI strings read the same way.
    let empties = 300_000;
    let mut data = vec![0u8; empties * 2];
    data.extend_from_slice(&[0x61, 0, 0, 0, 0, 0]);
    let v5 = format!(
        "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\T]\r\n{}{}{}",
        hex7_value("X", &data),
        hex7_value("Nuls", &[0u8; 100_000]),
        hex7_value("Odd", &[0x62, 0, 0, 0, 0x63]),
    );
    let v4 = format!(
        "REGEDIT4\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\T]\r\n{}",
        hex7_value("A", &[0, 0, 0x61, 0, 0x62, 0, 0]),
    );
    let dir = tempfile::tempdir().unwrap();
    let (p5, p4) = (dir.path().join("v5.reg"), dir.path().join("v4.reg"));
    std::fs::write(&p5, v5).unwrap();
    std::fs::write(&p4, v4).unwrap();
    let (a, code, _) = summary(&p5, &[]);
    assert_eq!(code, Some(0));
    assert_eq!(a["status"], "ok", "{a}");
    assert_eq!(count(&a, "events"), 3, "{a}");
    let events = dumped(&p5);
    let data_of = |events: &[Value], name: &str| -> String {
        let e = events
            .iter()
            .find(|e| e["value_name"] == name)
            .unwrap_or_else(|| panic!("{name} in {events:?}"));
        assert_eq!(e["value_type"], "REG_MULTI_SZ", "{e}");
        e["value_data"].as_str().unwrap().to_string()
    };
    let x = data_of(&events, "X");
    assert_eq!(x.len(), empties + 1);
    assert_eq!(x.matches('\n').count(), empties);
    assert!(x.ends_with("\na"), "{:?}", &x[x.len() - 4..]);
    assert_eq!(data_of(&events, "Nuls"), "");
    // A last odd byte reads as a unit whose high byte is zero.
    assert_eq!(data_of(&events, "Odd"), "b\nc");
    assert_eq!(data_of(&dumped(&p4), "A"), "\n\na\nb");
}

// ---------------------------------------------------------------------------------------------
// Text whose encoding is not what it seems

const EVENT_XML: &str = "<?xml version='1.0' encoding='UTF-8'?>\r\n<Events><Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='P'/><EventID>1</EventID><TimeCreated SystemTime='2024-03-05T09:00:00.000Z'/><EventRecordID>1</EventRecordID><Computer>ws</Computer></System></Event></Events>\r\n";
const REG_TEXT: &str = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\T]\r\n\"A\"=dword:00000001\r\n";
const UTF8_MARK: &[u8] = b"\xEF\xBB\xBF";

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// The account of `bytes` written as `name` in a temporary folder, and its problems joined.
fn account_of(name: &str, bytes: &[u8]) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let (a, _, _) = summary(&path, &[]);
    let problems = a["problems"]
        .as_array()
        .map(|p| {
            p.iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default();
    (a, problems)
}

#[test]
fn text_that_starts_with_two_utf8_marks_is_read() {
    // What an editor that adds a mark on saving makes of a file that had one: the second mark
    // had read as a character before `<?xml`, and the export was refused as unknown.
    for (name, text, format) in [
        ("events.xml", EVENT_XML, "event-xml"),
        ("keys.reg", REG_TEXT, "reg-export"),
    ] {
        let bytes = [UTF8_MARK, UTF8_MARK, UTF8_MARK, text.as_bytes()].concat();
        let (a, problems) = account_of(name, &bytes);
        assert_eq!(a["status"], "ok", "{name}: {a}");
        assert_eq!(a["format"], format, "{name}: {a}");
        assert_eq!(count(&a, "events"), 1, "{name}: {a}");
        assert!(problems.is_empty(), "{name}: {problems}");
    }
}

#[test]
fn a_utf8_mark_before_utf16le_text_is_named_as_such() {
    // It had been described as big-endian UTF-16 (the mark's three bytes shift every pair).
    for (name, text) in [("events.xml", EVENT_XML), ("keys.reg", REG_TEXT)] {
        let with_mark = [UTF8_MARK, &[0xFF, 0xFE], &utf16le(text)].concat();
        let (a, problems) = account_of(name, &with_mark);
        assert_eq!(a["events"], 0, "{a}");
        assert!(
            problems.contains(
                "a UTF-8 byte-order mark followed by UTF-16LE text with its own byte-order mark"
            ),
            "{name}: {problems}"
        );
        assert!(!problems.contains("big-endian"), "{name}: {problems}");
        let without = [UTF8_MARK, &utf16le(text)].concat();
        let (_, problems) = account_of(name, &without);
        assert!(
            problems.contains(
                "a UTF-8 byte-order mark followed by UTF-16LE text without its own byte-order mark"
            ),
            "{name}: {problems}"
        );
        assert!(!problems.contains("big-endian"), "{name}: {problems}");
    }
}

#[test]
fn utf32_text_is_named_with_what_to_save_it_as() {
    let le: Vec<u8> = EVENT_XML
        .chars()
        .flat_map(|c| (c as u32).to_le_bytes())
        .collect();
    let be: Vec<u8> = REG_TEXT
        .chars()
        .flat_map(|c| (c as u32).to_be_bytes())
        .collect();
    let advice = "rdtriage reads UTF-8 and UTF-16: save it as UTF-8 or UTF-16";
    for (name, bytes, what) in [
        (
            "events.xml",
            [&[0xFF, 0xFE, 0, 0][..], &le].concat(),
            "it starts with a UTF-32LE byte-order mark",
        ),
        (
            "keys.reg",
            [&[0, 0, 0xFE, 0xFF][..], &be].concat(),
            "it starts with a UTF-32BE byte-order mark",
        ),
        (
            "events.xml",
            le.clone(),
            "it looks like UTF-32LE text without a byte-order mark",
        ),
        (
            "keys.reg",
            be.clone(),
            "it looks like UTF-32BE text without a byte-order mark",
        ),
    ] {
        let (a, problems) = account_of(name, &bytes);
        assert_eq!(a["events"], 0, "{a}");
        assert!(
            problems.contains(&format!("{what}: {advice}")),
            "{name} ({what}): {problems}"
        );
    }
}
