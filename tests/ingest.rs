//! Ingest, end to end through the library: each input format and each way a file can be
//! broken, on the fixtures (and inputs derived from them at run time).

use crate::common;

use std::path::PathBuf;

use common::{fixtures, ingest_one, ingest_paths, ingest_with};
use rdtriage::ingest::Limits;
use rdtriage::model::{Event, FileFormat, FileStatus, ProcmonRow};

fn procmon(e: &Event) -> &ProcmonRow {
    e.procmon().expect("a procmon event")
}

#[test]
fn procmon_default_export_bom_crlf_quoted() {
    let got = ingest_one(fixtures().join("procmon/default-crlf-bom.csv"));
    let a = &got.accounts[0];
    assert_eq!(a.format, FileFormat::ProcmonCsv);
    assert_eq!(a.status, FileStatus::Ok, "{:?}", a.problem_texts());
    assert_eq!((a.events, a.errors, a.times_parsed), (9, 0, Some(9)));
    assert_eq!(got.events.len(), 9);
    let rows: Vec<&ProcmonRow> = got.events.iter().map(procmon).collect();
    // Row numbers are 1-based data rows, in order.
    assert_eq!(
        got.events.iter().map(|e| e.record).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    // The BOM is not part of the first column's name: times were found.
    assert_eq!(rows[0].time_of_day.unwrap().to_string(), "09:14:02.1180334");
    assert_eq!(rows[0].process, "mstsc.exe");
    assert_eq!(rows[0].pid, Some(6112));
    // Doubled quotes and bare CR inside Detail survive.
    assert!(
        rows[0]
            .detail_raw()
            .contains("\"C:\\Windows\\system32\\mstsc.exe\"")
    );
    assert!(rows[0].detail_raw().contains("\r;\tALLUSERSPROFILE"));
    assert_eq!(rows[0].detail().get("Parent PID"), Some("4420"));
    // Detail values that hold ", " stay whole.
    assert_eq!(rows[7].result, "MEDIA WRITE PROTECTED");
    assert_eq!(
        rows[7].detail().get("Desired Access"),
        Some("Generic Write, Read Attributes")
    );
    assert_eq!(rows[7].detail().get("Disposition"), Some("OverwriteIf"));
    assert_eq!(rows[7].time_of_day.unwrap().to_string(), "21:14:16.0000003");
    assert_eq!(rows[4].detail().get("Length"), Some("1,460"));
    // Network paths, service names mapped.
    let net = rows[5].network().expect("TCP Reconnect has a network path");
    assert_eq!(rows[5].operation, "TCP Reconnect");
    assert_eq!(net.remote_host, "rdp01.contoso.com");
    assert_eq!(net.remote_port, Some(3389));
    assert_eq!(net.local_port, Some(50412));
    assert!(rows[1].network().is_none());
    // Pending result, midnight in 12-hour form.
    assert_eq!(rows[8].result, "");
    assert_eq!(rows[8].time_of_day.unwrap().to_string(), "00:00:00");
}

#[test]
fn procmon_reordered_columns_lf_no_bom_decimal_comma() {
    let got = ingest_one(fixtures().join("procmon/reordered-lf.csv"));
    let a = &got.accounts[0];
    assert_eq!(a.status, FileStatus::Ok, "{:?}", a.problem_texts());
    assert_eq!((a.events, a.times_parsed), (4, Some(4)));
    let r = procmon(&got.events[0]);
    assert_eq!(r.process, "svchost.exe");
    assert_eq!(r.result, "ACCESS DENIED");
    assert!(
        r.path()
            .contains("MachineKeys\\f686aace6942fb7f7ceb231212eef4a4_")
    );
    assert_eq!(r.time_of_day.unwrap().to_string(), "14:05:01.2345678");
    assert_eq!(r.date.unwrap().to_string(), "2020-07-31");
    assert_eq!(r.columns.get("User"), Some("NT AUTHORITY\\NETWORK SERVICE"));
    assert_eq!(r.columns.get("Sequence"), Some("0"));
    assert!(
        r.columns
            .get("Command Line")
            .unwrap()
            .contains("TermService")
    );
    assert_eq!(
        procmon(&got.events[1]).detail().get("Length"),
        Some("1.024")
    );
    let accept = procmon(&got.events[3]);
    let net = accept.network().unwrap();
    assert_eq!((net.local_port, net.remote_port), (Some(3389), Some(50412)));
}

#[test]
fn procmon_chinese_am_pm_and_numeric_ports() {
    let got = ingest_one(fixtures().join("procmon/chinese-ampm.csv"));
    let times: Vec<String> = got
        .events
        .iter()
        .map(|e| procmon(e).time_of_day.unwrap().to_string())
        .collect();
    assert_eq!(times, ["01:09:44.8222664", "13:09:45"]);
    assert_eq!(
        procmon(&got.events[0]).network().unwrap().remote_port,
        Some(3389)
    );
}

#[test]
fn procmon_excel_mangled_times_keep_their_rows() {
    let got = ingest_one(fixtures().join("procmon/excel-mangled.csv"));
    let a = &got.accounts[0];
    assert_eq!(a.status, FileStatus::Ok);
    assert_eq!((a.events, a.times_parsed), (2, Some(0)));
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.contains("Excel-mangled")),
        "{:?}",
        a.problem_texts()
    );
    let r = procmon(&got.events[1]);
    assert!(r.time_of_day.is_none());
    assert_eq!(r.result, "ACCESS DENIED");
    assert_eq!(
        r.detail().get("Desired Access"),
        Some("Generic Write, Delete")
    );
}

#[test]
fn procmon_missing_columns_are_named() {
    let got = ingest_one(fixtures().join("procmon/missing-columns.csv"));
    let a = &got.accounts[0];
    assert_eq!(a.status, FileStatus::Failed);
    assert_eq!(a.problem_texts().len(), 1);
    assert!(
        a.problem_texts()[0].contains("'Path', 'Result'"),
        "{}",
        a.problem_texts()[0]
    );
    assert!(got.events.is_empty());
}

#[test]
fn stack_export_is_refused_with_how_to_export_and_a_cut_pml_is_named() {
    let got = ingest_paths(&[
        fixtures().join("procmon/stack-export.csv"),
        fixtures().join("misc/capture.PML"),
    ]);
    let [stack, pml] = &got.accounts[..] else {
        panic!("two accounts")
    };
    // Named directly, it was meant to be read: not read, rather than skipped.
    assert_eq!(
        (stack.format, stack.status),
        (FileFormat::ProcmonStack, FileStatus::Failed)
    );
    assert!(stack.problem_texts()[0].contains("stack export"));
    assert_eq!(
        (pml.format, pml.status),
        (FileFormat::ProcmonPml, FileStatus::Failed)
    );
    assert!(pml.problem_texts()[0].contains("too short for a PML file"));
}

#[test]
fn evtx_fixture_fields() {
    let got = ingest_one(fixtures().join("evtx/Security_short_selected.evtx"));
    let a = &got.accounts[0];
    assert_eq!(
        (a.format, a.status, a.events, a.errors),
        (FileFormat::Evtx, FileStatus::Ok, 7, 0)
    );
    let e5152 = got
        .events
        .iter()
        .find(|e| e.win().is_some_and(|w| w.event_id == 5152))
        .expect("a 5152");
    let w = e5152.win().unwrap();
    assert_eq!(&*w.channel, "Security");
    assert_eq!(&*w.provider, "Microsoft-Windows-Security-Auditing");
    assert!(w.data.get("DestPort").is_some());
    assert!(e5152.time.is_some());
    // Records come in record-id order.
    let ids: Vec<u64> = got.events.iter().map(|e| e.record).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn empty_random_and_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let empty_evtx = dir.path().join("System.evtx");
    std::fs::File::create(&empty_evtx).unwrap();
    let empty_txt = dir.path().join("notes.txt");
    std::fs::File::create(&empty_txt).unwrap();
    // Deterministic pseudo-random bytes (xorshift), named like an event log.
    let random = dir.path().join("Application.evtx");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..70_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&random, &bytes).unwrap();
    let good = std::fs::read(fixtures().join("evtx/Security_short_selected.evtx")).unwrap();
    // Cut inside the only chunk: nothing is left to read.
    let cut = dir.path().join("cut.evtx");
    std::fs::write(&cut, &good[..4096 + 30_000]).unwrap();
    // A whole chunk plus a partial one: the whole chunk is read, the tail reported.
    let tail = dir.path().join("tail.evtx");
    let mut with_tail = good.clone();
    with_tail.extend_from_slice(&good[4096..4096 + 1000]);
    std::fs::write(&tail, &with_tail).unwrap();

    let got = ingest_paths(&[empty_evtx, empty_txt, random, cut, tail]);
    let a = &got.accounts;
    assert_eq!(a.len(), 5);
    assert_eq!(
        (a[0].format, a[0].status),
        (FileFormat::Empty, FileStatus::Failed)
    );
    assert!(a[0].problem_texts()[0].contains("empty"));
    // Named itself, an empty file was meant to be read: not read (hostile round nine).
    assert_eq!(
        (a[1].format, a[1].status),
        (FileFormat::Empty, FileStatus::Failed)
    );
    assert_eq!(
        (a[2].format, a[2].status),
        (FileFormat::Unknown, FileStatus::Failed)
    );
    assert!(
        a[2].problem_texts()[0].contains("no ElfFile signature"),
        "{:?}",
        a[2].problem_texts()
    );
    assert_eq!(
        (a[3].format, a[3].status, a[3].events),
        (FileFormat::Evtx, FileStatus::Failed, 0)
    );
    assert!(
        a[3].problem_texts().iter().any(|p| p.contains("truncated")),
        "{:?}",
        a[3].problem_texts()
    );
    assert_eq!((a[4].status, a[4].events), (FileStatus::Partial, 7));
    assert!(
        a[4].problem_texts()
            .iter()
            .any(|p| p.contains("ends 1000 bytes into a chunk"))
    );
    assert_eq!(
        got.events.len(),
        7,
        "the good records of tail.evtx are all there"
    );
}

#[test]
fn zip_with_nested_folders_and_a_nested_zip() {
    let evtx = std::fs::read(fixtures().join("evtx/Security_short_selected.evtx")).unwrap();
    let csv = std::fs::read(fixtures().join("procmon/default-crlf-bom.csv")).unwrap();
    // A different log inside: the same bytes twice would be read once (dedup.rs).
    let rcm = std::fs::read(fixtures().join("evtx/rcm-1149-rdp-logins.evtx")).unwrap();
    let inner = common::zip_of(&[("server/System-like.evtx", &rcm)]);
    let outer = common::zip_of(&[
        ("ticket/client/logs/Security.evtx", &evtx),
        ("ticket/client/procmon/trace.csv", &csv),
        ("ticket/readme.txt", b"customer notes"),
        ("ticket/more.zip", &inner),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("ticket-123.zip");
    std::fs::write(&zip_path, &outer).unwrap();
    let got = ingest_one(&zip_path);
    let names: Vec<String> = got
        .accounts
        .iter()
        .map(|a| a.file.rsplit_once("ticket-123.zip").unwrap().1.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "!/ticket/client/logs/Security.evtx",
            "!/ticket/client/procmon/trace.csv",
            "!/ticket/more.zip!/server/System-like.evtx",
            "!/ticket/readme.txt",
        ]
    );
    let statuses: Vec<FileStatus> = got.accounts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [
            FileStatus::Ok,
            FileStatus::Ok,
            FileStatus::Ok,
            FileStatus::Skipped
        ]
    );
    assert_eq!(got.events.len(), 7 + 9 + 11);
    assert!(
        got.events[0]
            .file
            .ends_with("ticket-123.zip!/ticket/client/logs/Security.evtx")
    );
}

#[test]
fn zip_limits_refuse_with_the_bound_named() {
    let evtx = std::fs::read(fixtures().join("evtx/Security_short_selected.evtx")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.zip");
    std::fs::write(
        &big,
        common::zip_of(&[("a.evtx", &evtx), ("b.evtx", &evtx), ("c.evtx", &evtx)]),
    )
    .unwrap();
    let good = dir.path().join("good.evtx");
    std::fs::write(&good, &evtx).unwrap();

    let size_cap = Limits {
        zip_total_bytes: 100_000,
        ..Limits::default()
    };
    let got = ingest_with(&[big.clone(), good.clone()], 2, size_cap);
    assert_eq!(got.accounts[0].status, FileStatus::Failed);
    assert!(
        got.accounts[0].problem_texts()[0].contains("over the 100000-byte limit"),
        "{:?}",
        got.accounts[0].problem_texts()
    );
    // The other input is still read.
    assert_eq!(
        (got.accounts[1].status, got.events.len()),
        (FileStatus::Ok, 7)
    );

    let count_cap = Limits {
        zip_entries: 2,
        ..Limits::default()
    };
    let got = ingest_with(&[big], 1, count_cap);
    assert!(
        got.accounts[0].problem_texts()[0].contains("more than the limit of 2: refused"),
        "{:?}",
        got.accounts[0].problem_texts()
    );

    let deep = dir.path().join("deep.zip");
    let level2 = common::zip_of(&[("x.evtx", &evtx)]);
    let level1 = common::zip_of(&[("inner.zip", &level2)]);
    std::fs::write(&deep, common::zip_of(&[("outer.zip", &level1)])).unwrap();
    let depth_cap = Limits {
        zip_depth: 2,
        ..Limits::default()
    };
    let got = ingest_with(&[deep], 1, depth_cap);
    assert_eq!(got.accounts.len(), 1);
    assert!(
        got.accounts[0]
            .file
            .ends_with("deep.zip!/outer.zip!/inner.zip")
    );
    assert!(
        got.accounts[0].problem_texts()[0].contains("nested more than 2 deep"),
        "{:?}",
        got.accounts[0].problem_texts()
    );
}

/// An entry of a zip made with a password is named as encrypted, not as damaged, whether the
/// zip crate lists it or only the directory read by hand does (a second entry of one name);
/// the others are read.
#[test]
fn an_encrypted_zip_entry_is_named_as_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = common::zip_of(&[
        ("logs/System.evtx", b"not read".as_slice()),
        // Renamed below: the zip writer refuses a second entry of one name.
        ("logs/System.evtY", b"hidden twin".as_slice()),
        ("notes.txt", b"read".as_slice()),
    ]);
    // Set bit 0 (encrypted) of the general-purpose flags of the first two entries, in their
    // local headers (offset 6) and central records (offset 8).
    let find = |bytes: &[u8], sig: &[u8]| -> Vec<usize> {
        (0..bytes.len().saturating_sub(sig.len() - 1))
            .filter(|&i| &bytes[i..i + sig.len()] == sig)
            .collect()
    };
    for at in find(&bytes, b"System.evtY") {
        bytes[at + 10] = b'x';
    }
    for at in find(&bytes, b"PK\x03\x04").into_iter().take(2) {
        bytes[at + 6] |= 1;
    }
    for at in find(&bytes, b"PK\x01\x02").into_iter().take(2) {
        bytes[at + 8] |= 1;
    }
    let zip = dir.path().join("ticket.zip");
    std::fs::write(&zip, &bytes).unwrap();
    let got = ingest_with(&[zip], 1, Limits::default());
    let of = |suffix: &str| {
        got.accounts
            .iter()
            .find(|a| a.file.ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix}: {:?}", got.accounts))
    };
    for name in ["logs/System.evtx", "logs/System.evtx#2"] {
        let a = of(name);
        assert_eq!(a.status, FileStatus::Failed, "{name}");
        assert!(
            a.problem_texts()[0].contains("encrypted (the zip was made with a password)"),
            "{name}: {:?}",
            a.problem_texts()
        );
    }
    assert_ne!(of("notes.txt").status, FileStatus::Failed);
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let paths = vec![fixtures()];
    let one = ingest_with(&paths, 1, Limits::default());
    let two = ingest_with(&paths, 2, Limits::default());
    let four = ingest_with(&paths, 4, Limits::default());
    assert!(one.events.len() > 20);
    assert_eq!(one.events, two.events);
    assert_eq!(one.accounts, two.accounts);
    assert_eq!(one.events, four.events);
}

/// The XML export path and the EVTX path give identical events for the same records.
#[test]
fn event_xml_export_matches_evtx() {
    for name in [
        "Security_short_selected.evtx",
        "rcm-1149-rdp-logins.evtx",
        "new-user-security.evtx",
    ] {
        assert!(common::assert_xml_export_matches(&fixtures().join("evtx").join(name)) > 0);
    }
}

#[test]
fn missing_path_is_reported_and_others_read() {
    let got = ingest_paths(&[
        PathBuf::from("/nonexistent/ticket"),
        fixtures().join("procmon/chinese-ampm.csv"),
    ]);
    assert_eq!(got.accounts[0].status, FileStatus::Failed);
    assert!(got.accounts[0].problem_texts()[0].starts_with("cannot open"));
    assert_eq!(got.accounts[1].status, FileStatus::Ok);
}

/// An export that writes `EventRecordID` 0 for every event (scripts, SIEM exports) has no
/// record ids: its distinct events within one second are all read, none set aside as a
/// repeat of the first.
#[test]
fn record_id_zero_is_no_record_id() {
    let dir = tempfile::tempdir().unwrap();
    let event = |id: u32, server: &str| {
        format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-TerminalServices-ClientActiveXCore'/><EventID>{id}</EventID><TimeCreated SystemTime='2024-03-05T10:00:00.{id}Z'/><EventRecordID>0</EventRecordID><Correlation ActivityID='{{{server}}}'/><Channel>Microsoft-Windows-TerminalServices-RDPClient/Operational</Channel><Computer>WS01</Computer></System><EventData><Data Name='Name'>Server Name</Data><Data Name='Value'>{server}</Data></EventData></Event>"
        )
    };
    let xml = format!(
        "<Events>{}{}{}</Events>",
        event(1024, "RDS01"),
        event(1024, "RDS02"),
        event(1024, "RDS03")
    );
    let path = dir.path().join("client.xml");
    std::fs::write(&path, xml).unwrap();
    let got = ingest_paths(&[path]);
    assert_eq!(got.events.len(), 3, "{:?}", got.accounts[0].problem_texts());
}

/// A scan keeps only the events some rule's condition holds for (plus the few the time
/// alignment needs): a trace of many unrelated rows is streamed, not held in memory.
#[test]
fn scan_keeps_only_relevant_events() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("Logfile.CSV");
    let mut text = String::from(
        "\u{feff}\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n",
    );
    for i in 0..20_000 {
        text.push_str(&format!(
            "\"10:00:{:02}.{i:07}\",\"explorer.exe\",\"42\",\"RegQueryValue\",\"HKCU\\Software\\X{i}\",\"ACCESS DENIED\",\"Length: 4\"\r\n",
            i % 60
        ));
    }
    text.push_str("\"10:01:00.0000000\",\"svchost.exe\",\"1100\",\"CreateFile\",\"C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\f686aace6942fb7f7ceb231212eef4a4_1\",\"ACCESS DENIED\",\"Desired Access: Generic Read\"\r\n");
    std::fs::write(&csv, text).unwrap();
    let scan = common::scan_paths(&[csv]);
    assert_eq!(
        scan.report().inputs[0].events,
        20_001,
        "every row is read and counted"
    );
    assert_eq!(scan.events.len(), 1, "only the MachineKeys row is kept");
    assert_eq!(scan.report().causes[0].cause, "certificate");
}

/// A hostile Procmon CSV with one enormous line: the rows before it are kept, the file is
/// reported as read partly with the bound named, and memory never holds the line.
#[test]
fn an_absurd_csv_row_is_refused_with_the_bound_named() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("Logfile.CSV");
    let mut text = std::fs::read(fixtures().join("procmon/default-crlf-bom.csv")).unwrap();
    text.extend_from_slice(b"\"10:00:00\",\"x.exe\",\"1\",\"CreateFile\",\"");
    text.extend(std::iter::repeat_n(b'A', 300_000));
    text.extend_from_slice(b"\",\"SUCCESS\",\"\"\r\n");
    std::fs::write(&csv, &text).unwrap();
    let limits = Limits {
        csv_row_bytes: 100_000,
        ..Limits::default()
    };
    let got = ingest_with(std::slice::from_ref(&csv), 1, limits);
    let a = &got.accounts[0];
    assert_eq!((a.status, a.events), (FileStatus::Partial, 9));
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.contains("longer than 100000 bytes") && p.contains("--max-csv-row-bytes")),
        "{:?}",
        a.problem_texts()
    );
    // With the default bound the same file reads fully.
    let got = ingest_one(&csv);
    assert_eq!(
        (got.accounts[0].status, got.accounts[0].events),
        (FileStatus::Ok, 10)
    );
}

/// No two accounts share a name: a zip entry literally named `inner.zip!/System.evtx` beside
/// a nested `inner.zip` holding `System.evtx` are two inputs shown alike, so the second gets
/// `#2`; so does a path given twice (set aside as the first's duplicate, by its own name).
#[test]
fn inputs_shown_alike_get_their_own_names() {
    let dir = tempfile::tempdir().unwrap();
    let inner = common::zip_of(&[("System.evtx", b"not an event log".as_slice())]);
    let outer = common::zip_of(&[
        (
            "inner.zip!/System.evtx",
            b"also not one, other bytes".as_slice(),
        ),
        ("inner.zip", inner.as_slice()),
    ]);
    let zip = dir.path().join("outer.zip");
    std::fs::write(&zip, &outer).unwrap();
    let loose = dir.path().join("System.evtx");
    std::fs::write(&loose, b"a third, loose").unwrap();
    let got = ingest_with(
        &[zip.clone(), loose.clone(), loose.clone()],
        1,
        Limits::default(),
    );
    let names: Vec<&str> = got.accounts.iter().map(|a| a.file.as_str()).collect();
    let unique: std::collections::HashSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    let shown = format!("{}!/inner.zip!/System.evtx", zip.display());
    assert!(names.contains(&shown.as_str()), "{names:?}");
    assert!(names.contains(&format!("{shown}#2").as_str()), "{names:?}");
    let twice = format!("{}#2", loose.display());
    let again = got
        .accounts
        .iter()
        .find(|a| a.file == twice)
        .unwrap_or_else(|| panic!("{names:?}"));
    assert!(
        again
            .problem_texts()
            .iter()
            .any(|p| p.contains("duplicate")),
        "{:?}",
        again.problem_texts()
    );
}
