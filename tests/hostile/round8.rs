//! Hostile input, round eight: work that grew faster than the input. A Procmon row or an event
//! with a hundred thousand named fields (JSON output compared each name with every earlier
//! one), PML event headers that all aim at one large detail (each decoded it again), and a PML
//! event-offset array out of order (each block of events read its whole span of the file).
//! Inputs are built here, small, in a temporary folder; every command has a time limit.

use std::path::Path;

use serde_json::Value;

use crate::common::problems;
use crate::support::pml_writer::{
    PmlCapture, PmlDetail, PmlEvent, PmlProcess, filetime, write_with_layout,
};

use crate::common::rdtriage_threads as rdtriage;

/// `dump --summary --format json` of `path` on `threads` threads: the file's account.
fn summary(path: &Path, threads: &str) -> Value {
    let out = rdtriage(threads)
        .args(["dump", "--summary", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    let accounts: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    accounts[0].clone()
}

/// `dump` of `path` on `threads` threads: one JSON object per event.
fn dump(path: &Path, threads: &str) -> Vec<Value> {
    let out = rdtriage(threads).arg("dump").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// JSON output of an event with many fields

/// A Procmon CSV row whose Detail holds 60,000 pairs whose names repeat in three cases: each
/// name is numbered after the earlier ones that equal it ignoring ASCII case, as before, and
/// the object holds every pair (the numbering once compared each name with every earlier one:
/// 100,000 pairs took 38 s).
#[test]
fn an_event_with_many_fields_numbers_repeated_names_in_one_pass() {
    const PAIRS: usize = 60_000;
    let names = ["Key", "KEY", "key", "Other"];
    let detail: Vec<String> = (0..PAIRS)
        .map(|i| format!("{}: v{i}", names[i % names.len()]))
        .collect();
    let csv = format!(
        "\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n\"10:00:00.0000000 AM\",\"notepad.exe\",\"5120\",\"ReadFile\",\"C:\\\\f.txt\",\"SUCCESS\",\"{}\"\r\n",
        detail.join(", ")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Logfile.CSV");
    std::fs::write(&path, csv).unwrap();
    let events = dump(&path, "2");
    assert_eq!(events.len(), 1);
    let fields = events[0]["detail"]
        .as_object()
        .expect("detail is an object");
    assert_eq!(fields.len(), PAIRS, "every pair, under a name of its own");
    // Key, KEY, key: one name ignoring case, numbered in input order; Other apart.
    assert_eq!(fields["Key"], "v0");
    assert_eq!(fields["KEY#2"], "v1");
    assert_eq!(fields["key#3"], "v2");
    assert_eq!(fields["Other"], "v3");
    assert_eq!(fields["Key#4"], "v4");
    let last_key = PAIRS - 2; // "key", the 3 * (PAIRS / 4)th of its name
    assert_eq!(
        fields[&format!("key#{}", 3 * PAIRS / 4)],
        format!("v{last_key}")
    );
    assert_eq!(
        fields[&format!("Other#{}", PAIRS / 4)],
        format!("v{}", PAIRS - 1)
    );
    // Keys in input order.
    let keys: Vec<&String> = fields.keys().take(5).collect();
    assert_eq!(keys, ["Key", "KEY#2", "key#3", "Other", "Key#4"]);
}

// ---------------------------------------------------------------------------------------------
// PML: many event headers aimed at one detail

/// A TCP detail (IPv4 both ends) with `pairs` name/value pairs, padded with NULs to a multiple
/// of 8 bytes.
fn tcp_detail(pairs: usize) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&7u16.to_le_bytes()); // IPv4, IPv4, TCP
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(&1234u32.to_le_bytes());
    d.extend_from_slice(&[10, 0, 0, 1]);
    d.extend_from_slice(&[0; 12]);
    d.extend_from_slice(&[10, 0, 0, 2]);
    d.extend_from_slice(&[0; 12]);
    d.extend_from_slice(&50000u16.to_le_bytes());
    d.extend_from_slice(&3389u16.to_le_bytes());
    for i in 0..pairs {
        for s in [format!("K{i}"), format!("v{i}")] {
            d.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
            d.extend_from_slice(&[0, 0]);
        }
    }
    d.extend_from_slice(&[0, 0]);
    while !(d.len() + 0x34).is_multiple_of(8) {
        d.push(0);
    }
    d
}

/// A capture of `headers` small TCP events and one last one whose detail holds `pairs` pairs;
/// when `shared`, each small event's stack depth and detail size are rewritten to aim at the
/// last one's detail (its stack runs over the events after it).
fn shared_detail_capture(headers: usize, pairs: usize, shared: bool) -> (Vec<u8>, usize) {
    let t0 = filetime("2024-03-05T09:14:20Z");
    let event = |i: usize, detail: Vec<u8>| PmlEvent {
        process: 0,
        tid: 2200,
        time: t0 + i as u64 * 10_000,
        duration: 0,
        status: 0,
        detail: PmlDetail::Raw {
            class: 5,
            op: 4,
            detail,
            extra: None,
        },
    };
    let mut events: Vec<PmlEvent> = (0..headers).map(|i| event(i, tcp_detail(1))).collect();
    let big = tcp_detail(pairs);
    let big_len = big.len();
    events.push(event(headers, big));
    let c = PmlCapture {
        computer: "RDS01".into(),
        processes: vec![PmlProcess {
            pid: 1100,
            name: "svchost.exe".into(),
            image: "C:\\Windows\\System32\\svchost.exe".into(),
            ..PmlProcess::default()
        }],
        events,
        ..PmlCapture::default()
    };
    let (mut bytes, layout) = write_with_layout(&c);
    if shared {
        let last = *layout.events.last().unwrap() as usize;
        let detail_at = last + 0x34;
        for &off in &layout.events[..headers] {
            let off = off as usize;
            let depth = (detail_at - off - 0x34) / 8;
            assert!((detail_at - off - 0x34).is_multiple_of(8));
            bytes[off + 40..off + 42].copy_from_slice(&u16::try_from(depth).unwrap().to_le_bytes());
            bytes[off + 44..off + 48].copy_from_slice(&(big_len as u32).to_le_bytes());
        }
    }
    (bytes, big_len)
}

/// 400 event headers whose stacks run over the events after them to one 200 KB detail: each
/// is kept with its common fields and its detail is not decoded, named in the account, on any
/// thread count; the event that owns the detail is decoded whole. (Each header decoded the
/// detail again: 9,000 of them aimed at a 1 MiB detail ran past two minutes.)
#[test]
fn pml_headers_aimed_at_one_detail_decode_it_once() {
    const HEADERS: usize = 400;
    const PAIRS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let (bytes, big_len) = shared_detail_capture(HEADERS, PAIRS, true);
    assert!(big_len > 150_000, "{big_len}");
    let path = dir.path().join("shared.PML");
    std::fs::write(&path, &bytes).unwrap();

    let a = summary(&path, "1");
    assert_eq!(a["events"], HEADERS as u64 + 1, "{a}");
    assert_eq!(a["status"], "partial", "{a}");
    let p = problems(&a);
    assert!(
        p.contains(&format!(
            "the detail of {HEADERS} events is not decoded: their stack, detail or extra detail runs over the start of another event"
        )),
        "{p}"
    );
    assert_eq!(summary(&path, "2"), a, "the same account on two threads");

    let events = dump(&path, "2");
    assert_eq!(events.len(), HEADERS + 1);
    let decoded = events
        .iter()
        .filter(|e| e["detail"].as_object().is_some_and(|d| !d.is_empty()))
        .count();
    assert_eq!(decoded, 1, "only the event that owns the detail decodes it");
    let last = &events[HEADERS];
    assert_eq!(last["detail"].as_object().unwrap().len(), PAIRS + 1); // Length, then the pairs
    assert_eq!(last["detail"]["K9999"], "v9999");
    assert_eq!(last["operation"], "TCP Accept");
    for e in &events[..HEADERS] {
        assert_eq!(e["process"], "svchost.exe", "common fields kept: {e}");
        assert_eq!(e["path"], "", "{e}");
    }
    assert_eq!(events, dump(&path, "1"), "the same events on one thread");
}

/// The same capture written as Process Monitor writes it (no stack over another event) reads
/// every detail, with nothing in the account.
#[test]
fn pml_events_in_their_own_bytes_decode_every_detail() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = shared_detail_capture(50, 100, false);
    let path = dir.path().join("plain.PML");
    std::fs::write(&path, &bytes).unwrap();
    let a = summary(&path, "2");
    assert_eq!(a["status"], "ok", "{a}");
    assert!(!problems(&a).contains("not decoded"), "{a}");
    let events = dump(&path, "2");
    assert_eq!(events.len(), 51);
    assert!(
        events
            .iter()
            .all(|e| e["detail"].as_object().is_some_and(|d| !d.is_empty()))
    );
}

// ---------------------------------------------------------------------------------------------
// PML: an event-offset array out of order

/// A capture of several blocks of events whose event-offset array is shuffled reads the same
/// events as in order, each in the array's order, on one and two threads (each block once
/// read its whole span of the file, up to 64 MiB: a 48 MB shuffled capture read 3 GB).
#[test]
fn pml_shuffled_event_offsets_read_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = shared_detail_capture(3000, 100, false);
    let (array, n) = array_of(&bytes);
    let in_order = dir.path().join("inorder.PML");
    std::fs::write(&in_order, &bytes).unwrap();
    // A fixed permutation (multiplying by a number prime to n).
    let mut shuffled = bytes.clone();
    let entry = |b: &[u8], i: usize| b[array + 5 * i..array + 5 * i + 5].to_vec();
    let step = (1..n)
        .rev()
        .find(|s| gcd(*s, n) == 1 && *s > n / 3)
        .unwrap();
    let order: Vec<usize> = (0..n).map(|i| (i * step + 7) % n).collect();
    for (to, &from) in order.iter().enumerate() {
        shuffled[array + 5 * to..array + 5 * to + 5].copy_from_slice(&entry(&bytes, from));
    }
    let path = dir.path().join("shuffled.PML");
    std::fs::write(&path, &shuffled).unwrap();

    let plain = dump(&in_order, "1");
    assert_eq!(plain.len(), n);
    for threads in ["1", "2"] {
        let got = dump(&path, threads);
        assert_eq!(got.len(), n);
        for (i, e) in got.iter().enumerate() {
            let mut want = plain[order[i]].clone();
            want["record"] = e["record"].clone();
            want["file"] = e["file"].clone();
            assert_eq!(e, &want, "event {i} on {threads} threads");
        }
        let a = summary(&path, threads);
        assert_eq!(a["status"], "ok", "{a}");
        assert_eq!(a["events"], n as u64);
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Where a written capture's event-offset array is (the header's field at 0x248) and how many
/// events it lists (0x234).
fn array_of(bytes: &[u8]) -> (usize, usize) {
    let at = u64::from_le_bytes(bytes[0x248..0x250].try_into().unwrap()) as usize;
    let n = u32::from_le_bytes(bytes[0x234..0x238].try_into().unwrap()) as usize;
    (at, n)
}
