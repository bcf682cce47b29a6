//! The dev-only EVTX writer (`tests/support/evtx_writer`), round trip: events are written,
//! then read back by the `evtx` crate (every record's XML as Windows would render it, no
//! errors, valid header and chunk CRC32s) and by rdtriage's own ingest (the normalized events
//! equal the described ones field by field, the file's account is clean). Also the scenario
//! text format and the Procmon CSV writer.

use crate::common;

use crate::support::evtx_writer;

use std::path::PathBuf;

use evtx::{EvtxChunkData, EvtxFileHeader, EvtxParser};
use evtx_writer::procmon::{ProcmonCsvRow, format_time_of_day, write_csv};
use evtx_writer::scenario::{parse_evtx, parse_procmon};
use evtx_writer::*;
use jiff::Timestamp;
use rdtriage::model::{FileFormat, FileStatus};

// ---------------------------------------------------------------------------------------------
// What the evtx crate renders, written independently of the writer

fn esc(s: &str, attr: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\'' if attr => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn attrs(list: &[(&str, String)]) -> String {
    list.iter()
        .map(|(n, v)| format!(" {n}=\"{}\"", esc(v, true)))
        .collect()
}

fn user_xml(e: &Element, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let a: Vec<(&str, String)> = e
        .attributes
        .iter()
        .map(|(n, v)| (n.as_str(), v.render()))
        .collect();
    let a = attrs(&a);
    if e.children.is_empty() {
        out.push_str(&format!("{pad}<{}{a}/>\n", e.name));
    } else if e.children.iter().all(|c| matches!(c, Node::Text(_))) {
        let text: String = e
            .children
            .iter()
            .map(|c| match c {
                Node::Text(v) => esc(&v.render(), false),
                Node::Element(_) => String::new(),
            })
            .collect();
        out.push_str(&format!("{pad}<{}{a}>{text}</{}>\n", e.name, e.name));
    } else {
        out.push_str(&format!("{pad}<{}{a}>\n", e.name));
        for c in &e.children {
            if let Node::Element(child) = c {
                user_xml(child, indent + 2, out);
            }
        }
        out.push_str(&format!("{pad}</{}>\n", e.name));
    }
}

fn expected_xml(ev: &EvtxEvent) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str(&format!("<Event xmlns=\"{EVENT_NS}\">\n  <System>\n"));
    let mut p = vec![("Name", ev.provider.clone())];
    if let Some(g) = &ev.provider_guid {
        p.push(("Guid", g.clone()));
    }
    if let Some(s) = &ev.event_source_name {
        p.push(("EventSourceName", s.clone()));
    }
    x.push_str(&format!("    <Provider{}/>\n", attrs(&p)));
    let q: Vec<(&str, String)> = ev
        .qualifiers
        .iter()
        .map(|q| ("Qualifiers", q.to_string()))
        .collect();
    x.push_str(&format!(
        "    <EventID{}>{}</EventID>\n",
        attrs(&q),
        ev.event_id
    ));
    let mut simple = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            x.push_str(&format!("    <{name}>{}</{name}>\n", esc(&v, false)));
        }
    };
    simple("Version", ev.version.map(|v| v.to_string()));
    simple("Level", ev.level.map(|v| v.to_string()));
    simple("Task", ev.task.map(|v| v.to_string()));
    simple("Opcode", ev.opcode.map(|v| v.to_string()));
    simple("Keywords", ev.keywords.map(|v| format!("{v:#x}")));
    x.push_str(&format!(
        "    <TimeCreated SystemTime=\"{}\"/>\n",
        render_time(ev.time)
    ));
    x.push_str(&format!(
        "    <EventRecordID>{}</EventRecordID>\n",
        ev.record_id
    ));
    match &ev.correlation {
        Correlation::Omitted => {}
        Correlation::Empty => x.push_str("    <Correlation/>\n"),
        Correlation::Activity(a) => x.push_str(&format!(
            "    <Correlation ActivityID=\"{}\"/>\n",
            a.to_lowercase()
        )),
    }
    if let Some((pid, tid)) = ev.execution {
        x.push_str(&format!(
            "    <Execution ProcessID=\"{pid}\" ThreadID=\"{tid}\"/>\n"
        ));
    }
    x.push_str(&format!(
        "    <Channel>{}</Channel>\n    <Computer>{}</Computer>\n",
        esc(&ev.channel, false),
        esc(&ev.computer, false)
    ));
    match &ev.user_id {
        Some(sid) => x.push_str(&format!("    <Security UserID=\"{sid}\"/>\n")),
        None => x.push_str("    <Security/>\n"),
    }
    x.push_str("  </System>\n");
    match &ev.body {
        Body::EventData { data, binary } if data.is_empty() && binary.is_none() => {
            x.push_str("  <EventData></EventData>\n");
        }
        Body::EventData { data, binary } => {
            x.push_str("  <EventData>\n");
            for d in data {
                let a: Vec<(&str, String)> = d.name.iter().map(|n| ("Name", n.clone())).collect();
                x.push_str(&format!(
                    "    <Data{}>{}</Data>\n",
                    attrs(&a),
                    esc(&d.value.render(), false)
                ));
            }
            if let Some(b) = binary {
                x.push_str(&format!(
                    "    <Binary>{}</Binary>\n",
                    Value::Binary(b.clone()).render()
                ));
            }
            x.push_str("  </EventData>\n");
        }
        Body::UserData(w) => {
            x.push_str("  <UserData>\n");
            user_xml(w, 4, &mut x);
            x.push_str("  </UserData>\n");
        }
        Body::None => {}
    }
    x.push_str("</Event>");
    x
}

// ---------------------------------------------------------------------------------------------
// Generated events

/// xorshift64: a fixed sequence, no `rand` crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const TEXTS: [&str; 10] = [
    "RDS01.contoso.com",
    "Disconnect Reason",
    "张伟的电脑",
    "Müller-Lüdenscheidt Straße",
    "rocket 🚀 launch",
    "a < b && c > \"d\" 'e'",
    "",
    "C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys",
    "Access is denied.",
    "tab\there, new\nline",
];

fn t0() -> Timestamp {
    "2024-03-05T07:00:00.0000001Z".parse().unwrap()
}

fn random_value(r: &mut XorShift) -> Value {
    match r.below(12) {
        0 => Value::U32(r.next() as u32),
        1 => Value::Hex32(r.next() as u32),
        2 => Value::Hex64(r.next()),
        3 => Value::U8(r.next() as u8),
        4 => Value::U16(r.next() as u16),
        5 => Value::Bool(r.next().is_multiple_of(2)),
        6 => Value::Guid(format_guid(&(r.next() as u128 * 7919).to_le_bytes())),
        7 => Value::Sid(format!(
            "S-1-5-21-{}-{}-500",
            r.next() as u32,
            r.next() as u32
        )),
        8 => Value::I64(r.next() as i64),
        _ => Value::Str(r.pick(&TEXTS).to_string()),
    }
}

fn generated_events(n: usize) -> Vec<EvtxEvent> {
    let mut r = XorShift(0x5eed_1234_abcd_0001);
    let mut out = Vec::new();
    let mut time = t0();
    for i in 0..n {
        time = time
            .checked_add(jiff::SignedDuration::from_nanos(
                (r.next() % 90_000_000_000) as i64 / 100 * 100,
            ))
            .unwrap();
        let mut ev = EvtxEvent::new(
            r.pick(&[
                "System",
                "Security",
                "Microsoft-Windows-TerminalServices-RDPClient/Operational",
            ]),
            r.pick(&[
                "Schannel",
                "Microsoft-Windows-TerminalServices-ClientActiveXCore",
                "TermDD",
                "Service Control Manager",
            ]),
            (r.next() % 65536) as u16,
            time,
        );
        ev.record_id = 1000 + i as u64 * (1 + r.below(3) as u64);
        if let Some(prev) = out.last().map(|e: &EvtxEvent| e.record_id)
            && ev.record_id <= prev
        {
            ev.record_id = prev + 1;
        }
        ev.computer = r
            .pick(&["WS-ALICE.contoso.com", "RDS01.contoso.com", "GW-Ü01"])
            .into();
        match r.below(3) {
            0 => {
                ev.provider_guid = Some(format_guid(&(r.next() as u128).to_le_bytes()));
                ev.correlation = Correlation::Activity(
                    format_guid(&(r.next() as u128 * 31).to_le_bytes()).to_uppercase(),
                );
                ev.execution = Some((r.next() as u32 % 9000, r.next() as u32 % 9000));
                ev.user_id = Some("S-1-5-18".into());
            }
            1 => {
                ev.provider_guid = Some("{C76BAA63-AE81-421C-B425-340B4B24157F}".into());
                ev.event_source_name = Some("TermService".into());
                ev.qualifiers = Some(if r.below(2) == 0 { 49152 } else { 16384 });
                ev.execution = Some((0, 0));
            }
            _ => {
                ev.version = None;
                ev.opcode = None;
                ev.correlation = Correlation::Omitted;
                ev.qualifiers = Some(49162);
            }
        }
        ev.level = [None, Some(0), Some(2), Some(4)][r.below(4)];
        ev.keywords = Some(r.next());
        ev.body = match r.below(4) {
            0 => Body::EventData {
                data: (0..r.below(8))
                    .map(|k| Data::named(&format!("Field{k}"), random_value(&mut r)))
                    .collect(),
                binary: (r.below(2) == 0).then(|| vec![0xde, 0xad, 0xbe, 0xef, i as u8]),
            },
            1 => Body::EventData {
                data: (0..1 + r.below(4))
                    .map(|_| Data::unnamed(random_value(&mut r)))
                    .collect(),
                binary: None,
            },
            2 => {
                let mut info = Element::new("EventInfo").attr("xmlns", "aag");
                for k in 0..1 + r.below(5) {
                    info = info.child(Element::leaf(&format!("Leaf{k}"), random_value(&mut r)));
                }
                Body::UserData(info)
            }
            _ => Body::EventData {
                data: Vec::new(),
                binary: None,
            },
        };
        out.push(ev);
    }
    out
}

/// The special cases the brief names, one event each.
fn special_events() -> Vec<EvtxEvent> {
    let t = |s: &str| -> Timestamp { s.parse().unwrap() };
    let mut out = Vec::new();

    let mut e = EvtxEvent::new(
        "System",
        "Microsoft-Windows-TerminalServices-RemoteConnectionManager",
        1058,
        t("2024-03-05T09:14:02.5519934Z"),
    );
    e.provider_guid = Some("{C76BAA63-AE81-421C-B425-340B4B24157F}".into());
    e.event_source_name = Some("TermService".into());
    e.qualifiers = Some(49152);
    e.level = Some(2);
    e.keywords = Some(0x0080_0000_0000_0000);
    e.execution = Some((0, 0));
    e.computer = "RDS01.contoso.com".into();
    e.body = Body::EventData {
        data: vec![Data::unnamed("Access is denied.")],
        binary: None,
    };
    out.push(e);

    let mut e = EvtxEvent::new(
        "Microsoft-Windows-TerminalServices-RDPClient/Operational",
        "Microsoft-Windows-TerminalServices-ClientActiveXCore",
        1026,
        t("2024-03-05T09:14:06.0205660Z"),
    );
    e.provider_guid = Some("{28aa95bb-d444-4719-a36f-40462168127e}".into());
    e.task = Some(101);
    e.opcode = Some(11);
    e.keywords = Some(0x4000_0000_0000_0000);
    e.correlation = Correlation::Activity("{C3F0A9B2-57E1-4D8E-A1F4-2E6BD5170000}".into());
    e.execution = Some((5312, 7708));
    e.computer = "WS-ALICE.contoso.com".into();
    e.user_id = Some("S-1-5-21-3623811015-3361044348-30300820-1104".into());
    e.body = Body::EventData {
        data: vec![
            Data::named("Name", "Disconnect Reason"),
            Data::named("Value", "2308"),
            Data::named("CustomLevel", "Info"),
            Data::named("Empty", ""),
            Data::named("Escapes", "<tag attr=\"v\"> & 'q'"),
            Data::named("Chinese", "远程桌面连接已断开"),
            Data::named("German", "Größe Übergabe äöü"),
            Data::named("Emoji", "🖥️🔒"),
        ],
        binary: None,
    };
    out.push(e);

    let mut e = EvtxEvent::new(
        "Microsoft-Windows-TerminalServices-Gateway/Operational",
        "Microsoft-Windows-TerminalServices-Gateway",
        303,
        t("2024-03-05T13:55:34.6579658Z"),
    );
    e.provider_guid = Some("{4d5ae6a1-c7c8-4e6d-b840-4d8080b42e1b}".into());
    e.keywords = Some(0x4000_0000_0100_0000);
    e.correlation = Correlation::Activity("{a82c9492-4371-b077-cc01-72fa50baecb1}".into());
    e.execution = Some((1444, 2256));
    e.computer = "GW01".into();
    e.user_id = Some("S-1-5-20".into());
    e.body = Body::UserData(
        Element::new("EventInfo")
            .attr("xmlns", "aag")
            .child(Element::leaf("Username", "CONTOSO\\Jürgen & <co>"))
            .child(Element::leaf("IpAddress", "219.100.37.243"))
            .child(Element::leaf("AuthType", ""))
            .child(Element::leaf("ErrorCode", Value::U32(1226)))
            .child(
                Element::new("Nested")
                    .attr("when", Value::FileTime(133_540_000_000_000_000))
                    .child(Element::leaf("Deep", "深い")),
            )
            .child(Element::new("Certificate").attr("fileRef", "a\"b'.cer")),
    );
    out.push(e);
    for (i, e) in out.iter_mut().enumerate() {
        e.record_id = 41 + i as u64;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading back

fn write_temp(bytes: &[u8], name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// Read back with the evtx crate: every record's XML as expected, no error, valid CRC32s.
fn check_with_evtx_crate(bytes: &[u8], events: &[EvtxEvent]) {
    let header = EvtxFileHeader::from_bytes(&bytes[..4096]).unwrap();
    assert!(header.validate_checksum());
    assert_eq!((header.major_version, header.minor_version), (3, 1));
    assert_eq!(header.header_block_size, 4096);
    assert!(header.flags.is_empty(), "{:?}", header.flags);
    let chunks = (bytes.len() - 4096) / 65536;
    assert_eq!((bytes.len() - 4096) % 65536, 0);
    assert_eq!(usize::from(header.chunk_count), chunks);
    assert_eq!(header.last_chunk_number, chunks as u64 - 1);
    assert_eq!(header.next_record_id, events.last().unwrap().record_id + 1);
    for c in 0..chunks {
        let data = bytes[4096 + c * 65536..4096 + (c + 1) * 65536].to_vec();
        let chunk = EvtxChunkData::new(data, true).unwrap_or_else(|e| panic!("chunk {c}: {e}"));
        assert!(chunk.validate_data_checksum() && chunk.validate_header_checksum());
        let h = &chunk.header;
        assert!(h.first_event_record_id <= h.last_event_record_id);
        // The last record is where the header says, and the free space starts after it.
        let last = h.last_event_record_data_offset as usize;
        let d = &chunk.data;
        assert_eq!(&d[last..last + 4], b"**\0\0", "chunk {c}");
        let size = u32::from_le_bytes(d[last + 4..last + 8].try_into().unwrap()) as usize;
        let id = u64::from_le_bytes(d[last + 8..last + 16].try_into().unwrap());
        assert_eq!(id, h.last_event_record_id, "chunk {c}");
        assert_eq!(h.free_space_offset as usize, last + size, "chunk {c}");
        assert_eq!(&d[last + size - 4..last + size], &d[last + 4..last + 8]);
    }

    let mut parser = EvtxParser::from_buffer(bytes.to_vec()).unwrap();
    let mut got = Vec::new();
    for r in parser.records() {
        got.push(r.unwrap_or_else(|e| panic!("record error: {e}")));
    }
    assert_eq!(got.len(), events.len());
    for (r, ev) in got.iter().zip(events) {
        assert_eq!(r.event_record_id, ev.record_id);
        assert_eq!(r.timestamp, ev.time);
        assert_eq!(
            r.data.trim_end(),
            expected_xml(ev),
            "record {}",
            ev.record_id
        );
    }
}

/// Read back with rdtriage's ingest: a clean account and the described events.
fn check_with_ingest(bytes: &[u8], events: &[EvtxEvent]) {
    let (_dir, path) = write_temp(bytes, "written.evtx");
    let got = common::ingest_one(&path);
    let a = &got.accounts[0];
    assert_eq!(a.format, FileFormat::Evtx);
    assert_eq!(a.status, FileStatus::Ok, "{:?}", a.problem_texts());
    assert!(a.problem_texts().is_empty(), "{:?}", a.problem_texts());
    assert_eq!((a.events, a.errors), (events.len() as u64, 0));
    assert_eq!(got.events.len(), events.len());
    for (e, ev) in got.events.iter().zip(events) {
        let w = e.win().expect("an EVTX event");
        let id = ev.record_id;
        assert_eq!(e.record, id);
        assert_eq!(e.time, Some(ev.time), "record {id}");
        assert_eq!(&*w.channel, ev.channel, "record {id}");
        assert_eq!(&*w.provider, ev.provider, "record {id}");
        assert_eq!(w.event_id, u32::from(ev.event_id), "record {id}");
        assert_eq!(w.qualifiers, ev.qualifiers.map(u32::from), "record {id}");
        assert_eq!(w.level, ev.level, "record {id}");
        assert_eq!(&*w.computer, ev.computer, "record {id}");
        let activity = match &ev.correlation {
            Correlation::Activity(a) => Some(a.to_lowercase()),
            _ => None,
        };
        assert_eq!(w.activity_id, activity, "record {id}");
        assert_eq!(w.process_id, ev.execution.map(|(p, _)| p), "record {id}");
        let data: Vec<(String, String)> = w
            .data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(data, ev.expected_data(), "record {id}");
    }
}

#[test]
fn crc32_is_ieee() {
    assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
    assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    assert_eq!(crc32(&[b""]), 0);
}

#[test]
fn hundreds_of_generated_events_span_chunks_and_round_trip() {
    let events = generated_events(700);
    let bytes = write_evtx(&events).unwrap();
    let chunks = (bytes.len() - 4096) / 65536;
    assert!(chunks >= 3, "only {chunks} chunks");
    check_with_evtx_crate(&bytes, &events);
    check_with_ingest(&bytes, &events);
    // Deterministic: the same events give the same bytes.
    assert_eq!(write_evtx(&events).unwrap(), bytes);
}

#[test]
fn special_values_round_trip() {
    let events = special_events();
    let bytes = write_evtx(&events).unwrap();
    check_with_evtx_crate(&bytes, &events);
    check_with_ingest(&bytes, &events);

    let (_dir, path) = write_temp(&bytes, "special.evtx");
    let got = common::ingest_one(&path);
    let rcm = got.events[0].win().unwrap();
    assert_eq!((rcm.event_id, rcm.qualifiers), (1058, Some(49152)));
    assert_eq!(rcm.data.get("1"), Some("Access is denied."));
    let client = got.events[1].win().unwrap();
    assert_eq!(client.data.get("Value"), Some("2308"));
    assert_eq!(client.data.get("Empty"), Some(""));
    assert_eq!(client.data.get("Escapes"), Some("<tag attr=\"v\"> & 'q'"));
    assert_eq!(client.data.get("Chinese"), Some("远程桌面连接已断开"));
    assert_eq!(client.data.get("Emoji"), Some("🖥️🔒"));
    assert_eq!(
        client.activity_id.as_deref(),
        Some("{c3f0a9b2-57e1-4d8e-a1f4-2e6bd5170000}")
    );
    let gw = got.events[2].win().unwrap();
    assert_eq!(gw.data.get("Username"), Some("CONTOSO\\Jürgen & <co>"));
    assert_eq!(gw.data.get("ErrorCode"), Some("1226"));
    assert_eq!(gw.data.get("Deep"), Some("深い"));
    assert_eq!(gw.data.get("Nested"), None);
}

#[test]
fn templates_and_names_are_shared_within_a_chunk() {
    // 50 events of one shape: the template and names are written once, so each further
    // record costs only its values.
    let one = special_events().remove(1);
    let events: Vec<EvtxEvent> = (0..50)
        .map(|i| EvtxEvent {
            record_id: 1 + i,
            ..one.clone()
        })
        .collect();
    let bytes = write_evtx(&events).unwrap();
    let chunk = &bytes[4096..4096 + 65536];
    let free = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
    let first_record = u32::from_le_bytes(chunk[512 + 4..512 + 8].try_into().unwrap()) as usize;
    let second_record = u32::from_le_bytes(
        chunk[512 + first_record + 4..512 + first_record + 8]
            .try_into()
            .unwrap(),
    ) as usize;
    assert!(
        second_record * 2 < first_record,
        "{second_record} vs {first_record}"
    );
    assert_eq!(free, 512 + first_record + 49 * second_record);
    // The string table holds the names: some bucket is filled.
    assert!(chunk[128..384].iter().any(|&b| b != 0));
    check_with_evtx_crate(&bytes, &events);
}

#[test]
fn writer_refuses_what_evtx_cannot_hold() {
    let mut events = special_events();
    events[1].record_id = events[0].record_id;
    assert!(write_evtx(&events).unwrap_err().0.contains("must increase"));
    let mut events = special_events();
    events[0].user_id = Some("not-a-sid".into());
    assert!(write_evtx(&events).unwrap_err().0.contains("not a SID"));
}

// ---------------------------------------------------------------------------------------------
// Scenarios and Procmon CSV

const SCENARIO: &str = r#"# a test scenario
output   out.evtx
channel  System
computer RDS01.contoso.com
start    2024-03-05T09:00:00Z
record   100
seed     3
provider Schannel guid={1f678132-5938-4686-9fdc-c8ff68f15c85} level=2 pid=684 tid=700
provider TermDD qualifiers=49162 version=none opcode=none correlation=none pid=none

09:14:02.5 36870 provider=Schannel Type=server ErrorCode=hex32:0x8009030D ErrorStatus=u32:10001
+1.25s     56 data: ["\Device\Termdd", 10.20.31.77] binary=00FF
09:00:00 repeat 3 every 1m jitter 10s 36874 provider=Schannel Protocol="TLS 1.0" N={i+1}
+10ms      261 provider=RCM activity={F4207C0E-11D2-4E8B-B93A-6D02A5C10000}
           userdata EventXML xmlns=Event_NS { listenerName=RDP-Tcp Inner a=b { Leaf="x y" } }
"#;

#[test]
fn scenario_lines_become_events() {
    let s = parse_evtx("t.scenario", SCENARIO).unwrap();
    assert_eq!(s.output, PathBuf::from("out.evtx"));
    assert_eq!(s.events.len(), 6);
    // Sorted by time, ids from `record`.
    let ids: Vec<(u16, u64)> = s.events.iter().map(|e| (e.event_id, e.record_id)).collect();
    assert_eq!(
        ids,
        [
            (36874, 100),
            (36874, 101),
            (36874, 102),
            (261, 103),
            (36870, 104),
            (56, 105)
        ]
    );
    let rcm = &s.events[3];
    assert_eq!(rcm.provider, "RCM");
    assert_eq!(
        rcm.time,
        s.events[2]
            .time
            .checked_add(jiff::SignedDuration::from_millis(10))
            .unwrap()
    );
    assert_eq!(
        rcm.expected_data(),
        [
            ("listenerName".to_string(), "RDP-Tcp".to_string()),
            ("Inner@a".to_string(), "b".to_string()),
            ("Leaf".to_string(), "x y".to_string())
        ]
    );
    let schannel = &s.events[4];
    assert_eq!(
        schannel.time,
        "2024-03-05T09:14:02.5Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(schannel.level, Some(2));
    assert_eq!(schannel.execution, Some((684, 700)));
    assert_eq!(
        schannel.expected_data(),
        [
            ("Type".to_string(), "server".to_string()),
            ("ErrorCode".to_string(), "0x8009030d".to_string()),
            ("ErrorStatus".to_string(), "10001".to_string())
        ]
    );
    let termdd = &s.events[5];
    assert_eq!(
        termdd.time,
        "2024-03-05T09:14:03.75Z".parse::<Timestamp>().unwrap()
    );
    assert_eq!(
        (termdd.version, termdd.opcode, termdd.execution),
        (None, None, None)
    );
    assert_eq!(termdd.correlation, Correlation::Omitted);
    assert_eq!(termdd.qualifiers, Some(49162));
    assert_eq!(
        termdd.expected_data(),
        [
            ("1".to_string(), "\\Device\\Termdd".to_string()),
            ("2".to_string(), "10.20.31.77".to_string()),
            ("Binary".to_string(), "00FF".to_string())
        ]
    );
    let n: Vec<String> = s.events[..3]
        .iter()
        .map(|e| e.expected_data()[1].1.clone())
        .collect();
    assert_eq!(n, ["1", "2", "3"]);
    // Jitter stays within the step's window and is the same on every run.
    let gap = s.events[1]
        .time
        .duration_since(s.events[0].time)
        .as_secs_f64();
    assert!((60.0..70.0).contains(&gap), "{gap}");
    assert_eq!(parse_evtx("t.scenario", SCENARIO).unwrap(), s);
    let bytes = write_evtx(&s.events).unwrap();
    check_with_evtx_crate(&bytes, &s.events);
    check_with_ingest(&bytes, &s.events);
}

#[test]
fn scenario_errors_name_the_file_and_line() {
    let bad = |text: &str| parse_evtx("bad.scenario", text).unwrap_err();
    let head = "output o.evtx\nstart 2024-03-05T09:00:00Z\nprovider P\n";
    let e = bad(&format!("{head}+1s 70000 A=b\n"));
    assert_eq!((e.file.as_str(), e.line), ("bad.scenario", 4));
    assert!(e.message.contains("bad event id"), "{e}");
    let e = bad(&format!("{head}\n\n+1x 1 A=b\n"));
    assert_eq!(e.line, 6);
    assert!(e.message.contains("relative time"), "{e}");
    let e = bad(&format!("{head}+1s 1 A=u32:notanumber\n"));
    assert!(e.message.contains("bad u32"), "{e}");
    let e = bad(&format!("{head}+1s 1 activity={{nope}}\n"));
    assert!(e.message.contains("not a GUID"), "{e}");
    let e = bad(&format!("{head}+1s 1 userdata X {{ A=b\n"));
    assert!(e.message.contains("unclosed"), "{e}");
    let e = bad(&format!("{head}+1s 1 A=\"open\n"));
    assert!(e.message.contains("unterminated"), "{e}");
    let e = bad("start 2024-03-05T09:00:00Z\nprovider P\n+1s 1\n");
    assert!(e.message.contains("no `output`"), "{e}");
    assert!(e.to_string().starts_with("bad.scenario:"), "{e}");
}

#[test]
fn procmon_time_of_day_is_twelve_hour() {
    let t = |s: &str| format_time_of_day(s.parse().unwrap());
    assert_eq!(t("00:00:00"), "12:00:00.0000000 AM");
    assert_eq!(t("09:14:02.1180334"), "9:14:02.1180334 AM");
    assert_eq!(t("12:30:00.5"), "12:30:00.5000000 PM");
    assert_eq!(t("21:14:16.0000003"), "9:14:16.0000003 PM");
}

#[test]
fn procmon_scenario_writes_a_real_export() {
    let text = r#"# capture
output Logfile.CSV
start  23:59:59.9
seed   2
+0.05s mstsc.exe 6112 "TCP Reconnect" "WS:50611 -> RDS01:ms-wbt-server" SUCCESS "Length: 0, seqnum: 0"
+0.1s  msiexec.exe 7420 CreateFile "C:\Windows\System32\mstscax.dll" "MEDIA WRITE PROTECTED"
       "Desired Access: Generic Write, Read Attributes, Disposition: OverwriteIf" 
23:59:59.91 repeat 2 every 1ms x.exe {rand:10-12} Op "say \"hi\"" SUCCESS
"#;
    let s = parse_procmon("t.procmon", text).unwrap();
    assert_eq!(s.rows.len(), 4);
    let bytes = write_csv(&s.columns, &s.rows);
    let csv = String::from_utf8(bytes.clone()).unwrap();
    assert!(csv.starts_with("\u{feff}\"Time of Day\",\"Process Name\",\"PID\","));
    assert_eq!(csv.matches("\r\n").count(), 5);
    assert!(!csv.replace("\r\n", "").contains('\n'));
    assert!(csv.contains("\"11:59:59.9500000 PM\",\"mstsc.exe\",\"6112\",\"TCP Reconnect\""));
    assert!(csv.contains("\"12:00:00.0500000 AM\",\"msiexec.exe\""));
    assert!(
        csv.contains(",\"say \"\"hi\"\"\",\"SUCCESS\",\"\"\r\n"),
        "{csv}"
    );

    let (_dir, path) = write_temp(&bytes, "Logfile.CSV");
    let got = common::ingest_one(&path);
    let a = &got.accounts[0];
    assert_eq!(a.format, FileFormat::ProcmonCsv);
    assert_eq!(a.status, FileStatus::Ok, "{:?}", a.problem_texts());
    assert_eq!((a.events, a.times_parsed), (4, Some(4)));
    let rows: Vec<_> = got.events.iter().map(|e| e.procmon().unwrap()).collect();
    // Rows are in time order: the repeat block first, midnight last.
    assert_eq!(rows[0].process, "x.exe");
    assert_eq!(rows[1].path(), "say \"hi\"");
    assert!([10, 11, 12].contains(&rows[1].pid.unwrap()));
    assert_eq!(rows[2].operation, "TCP Reconnect");
    assert_eq!(rows[2].network().unwrap().remote_port, Some(3389));
    assert_eq!(rows[3].result, "MEDIA WRITE PROTECTED");
    assert_eq!(rows[3].detail().get("Disposition"), Some("OverwriteIf"));
    assert_eq!(rows[3].time_of_day.unwrap().to_string(), "00:00:00.05");
    let _ = ProcmonCsvRow {
        time: "00:00".parse().unwrap(),
        fields: Vec::new(),
    };
}
