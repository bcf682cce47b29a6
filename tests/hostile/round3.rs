//! Hostile input, round three: what a red-team pass over every reader and every output found
//! (session 22), each as a user meets it through the binary. Inputs are built here, in a
//! temporary folder. A hang is one of the defects under test, so every command has a time
//! limit: past it the test fails instead of waiting.

use std::time::Duration;

use assert_cmd::Command;

fn rdtriage() -> Command {
    let mut cmd = super::rdtriage();
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// A Procmon CSV of one row a certificate rule keeps (TermService denied the RDP key), whose
/// path runs to `path_bytes` bytes.
fn denied_key_row(path_bytes: usize) -> Vec<u8> {
    let mut csv = b"\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n".to_vec();
    csv.extend_from_slice(
        b"\"10:14:20.1269916 AM\",\"svchost.exe\",\"1100\",\"CreateFile\",\"C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\f686aace6942fb7f7ceb231212eef4a4_",
    );
    csv.extend(std::iter::repeat_n(b'7', path_bytes));
    csv.extend_from_slice(b".key\",\"ACCESS DENIED\",\"Desired Access: Generic Read\"\r\n");
    csv
}

/// A 1 MB path in evidence: the table for a terminal (the default output) took minutes to wrap
/// it. It shows the start and the end of the text and says how much it left out, as the
/// evidence line itself does in every format.
#[test]
fn a_megabyte_of_evidence_is_cut_in_the_table_and_whole_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("Logfile.CSV");
    std::fs::write(&csv, denied_key_row(1 << 20)).unwrap();
    let out = rdtriage().arg("scan").arg(&csv).output().unwrap();
    // A key file alone is no Remote Desktop evidence: insufficient, but analysed.
    assert_eq!(out.status.code(), Some(4));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.len() < 64 * 1024, "{} bytes", table.len());
    // The cell as one line, whatever the wrapping.
    let cell: String = table
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '┆'))
        .collect();
    assert!(
        cell.contains("characters not shown here".replace(' ', "").as_str()),
        "{table}"
    );
    assert!(
        cell.contains("7.key->ACCESSDENIED"),
        "the end of the path: {table}"
    );
    let out = rdtriage()
        .args(["scan", "--format", "json"])
        .arg(&csv)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let evidence = json["causes"][0]["findings"][0]["evidence"]
        .as_str()
        .unwrap();
    // An evidence line quotes at most 8,192 characters of a field: its start and end, and
    // how much it left out (a field of 50 MB was copied into every finding and format).
    assert!(evidence.len() < 16 * 1024, "{} bytes", evidence.len());
    assert!(evidence.contains("characters left out"), "{evidence}");
    assert!(evidence.contains("7.key -> ACCESS DENIED"), "{evidence}");
}

/// An event-log XML event whose `UserData` element carries 100,000 attributes took minutes
/// (each attribute, kept as a field, was looked up among all of them): it is refused as a
/// record error naming why, and the events around it are read.
#[test]
fn an_element_of_a_hundred_thousand_attributes_is_refused_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let event = |id: u32, attrs: usize| {
        let attrs: String = (0..attrs).map(|i| format!(" a{i}='{i}'")).collect();
        format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
             <Provider Name='Schannel'/><EventID>{id}</EventID>\
             <TimeCreated SystemTime='2024-03-05T09:10:00.0000000Z'/><EventRecordID>{id}</EventRecordID>\
             <Channel>System</Channel><Computer>RDS01</Computer></System>\
             <UserData><X{attrs}>v</X></UserData></Event>\n"
        )
    };
    let xml = format!(
        "<Events>\n{}{}{}</Events>\n",
        event(1, 3),
        event(2, 100_000),
        event(3, 3)
    );
    let file = dir.path().join("System.xml");
    std::fs::write(&file, xml).unwrap();
    let out = rdtriage()
        .args(["dump", "--summary", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "read partly");
    let accounts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let account = &accounts[0];
    assert_eq!(account["status"], "partial");
    assert_eq!(account["events"], 2);
    assert!(
        account["problems"]
            .to_string()
            .contains("more than 256 attributes"),
        "{account}"
    );
}

/// C1 controls (U+009B is CSI to terminals that honour 8-bit controls; U+0085 splits lines for
/// some JSON-lines readers), DEL and bidi overrides in a file and a ticket name reached JSON,
/// JSON lines and JUnit as themselves: they are written as escapes, and the JSON still holds
/// the very name.
#[test]
fn c1_controls_in_names_are_escaped_in_json_jsonl_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let ticket = dir.path().join("T\u{9b}31m\u{85}\u{7f}\u{202e}1");
    std::fs::create_dir(&ticket).unwrap();
    let name = "Logfile\u{9b}2J\u{85}\u{7f}.CSV";
    std::fs::write(ticket.join(name), super::harmless_csv(3)).unwrap();
    let raw = |text: &str| {
        text.chars()
            .filter(|&c| {
                matches!(
                    c,
                    '\u{7f}'..='\u{9f}' | '\u{202e}' | '\u{2028}' | '\u{2029}'
                )
            })
            .count()
    };
    let out = rdtriage()
        .args(["scan", "--format", "json"])
        .arg(&ticket)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(raw(&text), 0, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let file = json["inputs"][0]["file"].as_str().unwrap();
    assert!(
        file.ends_with(name),
        "the name itself, once parsed: {file:?}"
    );
    for format in ["jsonl", "junit"] {
        let out = rdtriage()
            .args(["batch", "--format", format])
            .arg(dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("31m"),
            "{format}: the ticket is listed: {text}"
        );
        assert_eq!(raw(&text), 0, "{format}: {text}");
    }
}

/// A zip whose directory lists no file had no line in the report at all: an empty one, and
/// one whose comment holds a forged end record claiming no entries (its real files hidden
/// behind it). Each now has its account; the forged one is named as damaged.
#[test]
fn a_zip_that_lists_no_file_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let end_record = |entries: u16| {
        let mut end = b"PK\x05\x06".to_vec();
        end.extend_from_slice(&[0; 4]);
        end.extend_from_slice(&entries.to_le_bytes());
        end.extend_from_slice(&entries.to_le_bytes());
        end.extend_from_slice(&[0; 10]);
        end
    };
    std::fs::write(dir.path().join("empty.zip"), end_record(0)).unwrap();
    let csv = super::harmless_csv(3);
    let mut forged = crate::common::zip_of(&[("Logfile.CSV", &csv)]);
    // The real end record's comment now holds a second, empty end record: found first.
    let comment_len = forged.len() - 2;
    forged[comment_len..].copy_from_slice(&22u16.to_le_bytes());
    forged.extend_from_slice(&end_record(0));
    std::fs::write(dir.path().join("forged.zip"), &forged).unwrap();
    std::fs::write(dir.path().join("Logfile.CSV"), &csv).unwrap();
    let (accounts, out) = super::summary(&[dir.path().as_os_str()]);
    let status = |file: &str| {
        accounts
            .iter()
            .find(|a| a["file"].as_str().unwrap().ends_with(file))
            .map(|a| {
                (
                    a["status"].as_str().unwrap().to_string(),
                    a["problems"].to_string(),
                )
            })
            .unwrap_or_else(|| panic!("no account for {file}: {accounts:?}"))
    };
    let (empty, why) = status("empty.zip");
    assert_eq!(empty, "skipped", "{why}");
    assert!(why.contains("no file in it"), "{why}");
    let (forged, why) = status("forged.zip");
    assert_eq!(forged, "failed", "{why}");
    assert!(why.contains("damaged or crafted"), "{why}");
    assert_eq!(status("Logfile.CSV").0, "ok");
    assert_eq!(out.code, Some(3), "a file not read");
}

/// Malformed XML stops the read of an event-log export: the account says the events after it
/// were not read, as the Procmon CSV's does, instead of leaving them silently out.
#[test]
fn malformed_event_xml_says_the_rest_was_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let event = |id: u32, data: &str| {
        format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
             <Provider Name='Schannel'/><EventID>{id}</EventID>\
             <TimeCreated SystemTime='2024-03-05T09:10:00.0000000Z'/><EventRecordID>{id}</EventRecordID>\
             <Channel>System</Channel><Computer>RDS01</Computer></System>\
             <EventData><Data>{data}</Data></EventData></Event>\n"
        )
    };
    let xml = format!(
        "<Events>\n{}{}{}</Events>\n",
        event(1, "a"),
        event(2, "&#0;"),
        event(3, "c")
    );
    let file = dir.path().join("System.xml");
    std::fs::write(&file, xml).unwrap();
    let (accounts, out) = super::summary(&[file.as_os_str()]);
    assert_eq!(out.code, Some(3));
    assert_eq!(accounts[0]["events"], 1);
    let problems = accounts[0]["problems"].to_string();
    assert!(
        problems.contains("the rest of the file was not read"),
        "{problems}"
    );
}

/// A chunk whose free-space offset leaves no room for records (at or before byte 512, where
/// they start) while its header numbers three: read as 'ok, 0 events' with no word at 512, and
/// as a records-checksum mismatch 'its records were read' below it. Both now name the offset
/// and the records not read.
#[test]
fn a_chunk_whose_free_space_offset_leaves_no_room_names_the_records_not_read() {
    use crate::support::evtx_writer::{crc32, write_evtx};
    let events = [
        super::rcm_1058(1, "a"),
        super::rcm_1058(2, "b"),
        super::rcm_1058(3, "c"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for free in [512u32, 100] {
        let mut evtx = write_evtx(&events).unwrap();
        let chunk = &mut evtx[4096..4096 + 65536];
        chunk[48..52].copy_from_slice(&free.to_le_bytes());
        let records_crc = crc32(&[&chunk[512..(free as usize).max(512)]]);
        chunk[52..56].copy_from_slice(&records_crc.to_le_bytes());
        let header_crc = crc32(&[&chunk[..120], &chunk[128..512]]);
        chunk[124..128].copy_from_slice(&header_crc.to_le_bytes());
        let path = dir.path().join(format!("System-{free}.evtx"));
        std::fs::write(&path, &evtx).unwrap();
        let (accounts, out) = super::summary(&[path.as_os_str()]);
        assert_eq!(out.code, Some(3), "{free}: {accounts:?}");
        let a = &accounts[0];
        assert_eq!(a["events"], 0);
        assert_ne!(a["status"], "ok", "{a}");
        let problems = a["problems"].to_string();
        assert!(
            problems.contains(&format!("free-space offset ({free}) leaves no room"))
                && problems.contains("3 records not read")
                && !problems.contains("its records were read"),
            "{problems}"
        );
    }
    // An empty chunk as Windows leaves one (records numbered u64::MAX-u64::MAX, free space
    // at 512) is no damage.
    let mut evtx = write_evtx(&events[..1]).unwrap();
    let chunk = &mut evtx[4096..4096 + 65536];
    for at in [8, 16, 24, 32] {
        chunk[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    }
    chunk[48..52].copy_from_slice(&512u32.to_le_bytes());
    let records_crc = crc32(&[&chunk[512..512]]);
    chunk[52..56].copy_from_slice(&records_crc.to_le_bytes());
    let header_crc = crc32(&[&chunk[..120], &chunk[128..512]]);
    chunk[124..128].copy_from_slice(&header_crc.to_le_bytes());
    let path = dir.path().join("Empty.evtx");
    std::fs::write(&path, &evtx).unwrap();
    let (accounts, _) = super::summary(&[path.as_os_str()]);
    let problems = accounts[0]["problems"].to_string();
    assert!(!problems.contains("leaves no room"), "{problems}");
}

/// UTF-16 that is not what the readers take (no byte-order mark, or big-endian) was refused as
/// "not a Procmon CSV ... not event-log XML" with no hint: the account now says what the file
/// is and how to save it.
#[test]
fn utf16_without_its_mark_or_big_endian_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let csv = String::from_utf8(super::harmless_csv(2)).unwrap();
    let text = csv.trim_start_matches('\u{feff}');
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    std::fs::write(dir.path().join("nomark.csv"), le).unwrap();
    std::fs::write(dir.path().join("bigendian.csv"), be).unwrap();
    let (accounts, out) = super::summary(&[dir.path().as_os_str()]);
    assert_eq!(out.code, Some(3));
    let why = |file: &str| {
        let a = accounts
            .iter()
            .find(|a| a["file"].as_str().unwrap().ends_with(file))
            .unwrap();
        assert_eq!(a["status"], "failed", "{a}");
        a["problems"].to_string()
    };
    assert!(
        why("nomark.csv").contains("UTF-16 (little-endian) text without a byte-order mark"),
        "{}",
        why("nomark.csv")
    );
    assert!(
        why("bigendian.csv").contains("UTF-16 big-endian"),
        "{}",
        why("bigendian.csv")
    );
}
