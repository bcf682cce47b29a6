//! Hostile input, round nine: what a user names and what a file hides. A FIFO, a device or an
//! unrecognised file named on the command line itself (skipped with exit 0, as if unnamed),
//! `batch --out` report names that differ only in case (one file on a case-insensitive file
//! system), `#2` suffixes stacked on names that already end in one, a zip entry with a NUL in
//! its name that its directory does not list (never accounted), and a file whose text changes
//! encoding part way (its second part lost while it was accounted read fully). Inputs are
//! built here, small, in a temporary folder; every command has a time limit.

use std::path::Path;

use serde_json::Value;

use crate::common::{account, fixtures, problems};

use super::os;
use super::shared::{CSV_HEADER, summary_on as summary, utf16le as utf16};
use crate::common::rdtriage_threads as rdtriage;

/// The certificate ticket's server System log, copied into `dir/ticket/`.
fn ticket(dir: &Path) -> std::path::PathBuf {
    let t = dir.join("ticket");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::copy(
        fixtures().join("tickets/certificate/server/System.evtx"),
        t.join("System.evtx"),
    )
    .unwrap();
    t
}

// ---------------------------------------------------------------------------------------------
// 1. What is named on the command line is read, or said not to be

/// A FIFO, a device and a file of unknown content named on the command line beside a ticket:
/// each is accounted not read, with why, and the run exits 3 (some input named was not
/// analysed); the FIFO is never opened (the run would wait for a writer). Found in a folder,
/// the same files are only skipped.
#[cfg(unix)]
#[test]
fn a_fifo_a_device_or_an_unknown_file_named_on_the_command_line_is_not_read_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let t = ticket(dir.path());
    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let weird = dir.path().join("weird.bin");
    std::fs::write(&weird, b"\x01\x02 nothing any reader knows \x03").unwrap();

    let out = rdtriage("2")
        .args(["scan", "--format", "json"])
        .arg(&t)
        .arg(&fifo)
        .arg("/dev/null")
        .arg(&weird)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(account(inputs, "System.evtx")["status"], "ok");
    for (name, why) in [
        ("/pipe", "a FIFO (named pipe), not a regular file"),
        ("/dev/null", "a character device, not a regular file"),
        ("/weird.bin", "unreadable content: not EVTX"),
    ] {
        let a = account(inputs, name);
        assert_eq!(a["status"], "failed", "{a}");
        assert!(problems(a).contains(why), "{a}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("weird.bin: not read: "), "{stderr}");
    assert!(
        report["verdict"]
            .as_str()
            .unwrap()
            .ends_with("3 input files could not be read fully"),
        "{}",
        report["verdict"]
    );

    // `dump` too: a device named alone is not read, and says so in its exit.
    let (accounts, code) = summary(&[os("/dev/null")], "1");
    assert_eq!(code, Some(3));
    assert_eq!(accounts[0]["status"], "failed");

    // Found in a folder, the same kinds of file are listed as skipped: nobody named them.
    std::fs::rename(&weird, t.join("weird.bin")).unwrap();
    std::fs::rename(&fifo, t.join("pipe")).unwrap();
    let (accounts, code) = summary(&[os(&t)], "2");
    assert_eq!(code, Some(0));
    assert_eq!(account(&accounts, "/weird.bin")["status"], "skipped");
    assert_eq!(account(&accounts, "/pipe")["status"], "skipped");
}

// ---------------------------------------------------------------------------------------------
// 2. `batch --out`: report names that differ only in case

/// Tickets `x`, `X` and `Y`: the reports of `x` and `X` would be one file on a case-insensitive
/// file system. Every report name differs from every other ignoring case; `x` (in lower case)
/// and `Y` (alone in its case) keep their plain names; the names are the same on 1 and 4
/// threads and in every shard; `merge` of the shards accepts them.
#[test]
fn batch_report_names_differ_ignoring_case_the_same_way_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let tickets = dir.path().join("tickets");
    for name in ["x", "X", "Y"] {
        ticket(&tickets.join(name));
    }
    let stems = |threads: &str, shard: Option<&str>| -> Vec<(String, String)> {
        let out_dir = dir
            .path()
            .join(format!("out-{threads}-{}", shard.is_some()));
        let mut cmd = rdtriage(threads);
        cmd.args(["batch", "--format", "jsonl", "--out"])
            .arg(&out_dir);
        if let Some(shard) = shard {
            cmd.args(["--shard", shard]);
        }
        let out = cmd.arg(&tickets).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut got: Vec<(String, String)> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|v| v.get("summary").is_some())
            .map(|v| {
                let s = &v["summary"];
                (
                    s["ticket"].as_str().unwrap().to_string(),
                    s["report"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        for (_, stem) in &got {
            for ext in ["json", "md", "html"] {
                assert!(
                    out_dir.join(format!("{stem}.{ext}")).is_file(),
                    "{stem}.{ext}"
                );
            }
        }
        got.sort();
        got
    };
    let one = stems("1", None);
    assert_eq!(one.len(), 3, "{one:?}");
    let folded: std::collections::HashSet<String> =
        one.iter().map(|(_, s)| s.to_ascii_lowercase()).collect();
    assert_eq!(folded.len(), 3, "report names alike but for case: {one:?}");
    let of = |t: &str| one.iter().find(|(n, _)| n == t).unwrap().1.clone();
    assert_eq!(of("x"), "x");
    assert_eq!(of("Y"), "Y");
    assert!(of("X").starts_with("X~"), "{one:?}");
    assert_eq!(stems("4", None), one);
    // Each shard names its tickets as the whole batch does.
    let mut sharded: Vec<(String, String)> = ["1/2", "2/2"]
        .iter()
        .flat_map(|s| stems("2", Some(s)))
        .collect();
    sharded.sort();
    assert_eq!(sharded, one);
}

// ---------------------------------------------------------------------------------------------
// 3. `#2` suffixes never stack

/// Two files named `y.csv#2` on the command line beside two `y.csv`, and a zip holding
/// `y.csv`, `y.csv` and `y.csv#2`: every account has its own name, and none ends in `#2#2`
/// or `#2#3` (a suffix on a suffix); the names are the same on 1 and 4 threads.
#[test]
fn duplicate_names_are_numbered_once_never_a_suffix_on_a_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let csv = fixtures().join("hostile/invalid-utf8.csv");
    std::fs::copy(&csv, dir.path().join("y.csv")).unwrap();
    std::fs::copy(&csv, dir.path().join("y.csv#2")).unwrap();
    let bytes = std::fs::read(&csv).unwrap();
    let mut other = bytes.clone();
    other.extend_from_slice(b"\r\n");
    let mut third = other.clone();
    third.extend_from_slice(b"\r\n");
    // The zip writer refuses a name twice: written `y.csX`, renamed below.
    let mut zip = crate::common::zip_of(&[
        ("y.csv", bytes.as_slice()),
        ("y.csX", other.as_slice()),
        ("y.csv#2", third.as_slice()),
    ]);
    let at: Vec<usize> = (0..zip.len() - 5)
        .filter(|&i| &zip[i..i + 5] == b"y.csX")
        .collect();
    assert_eq!(at.len(), 2, "local header and central record");
    for i in at {
        zip[i + 4] = b'v';
    }
    std::fs::write(dir.path().join("d.zip"), zip).unwrap();

    let names = |threads: &str| -> Vec<String> {
        let mut cmd = rdtriage(threads);
        cmd.current_dir(dir.path())
            .args(["dump", "--summary", "--format", "json"])
            .args(["y.csv", "y.csv", "y.csv#2", "y.csv#2", "d.zip"]);
        let out = cmd.output().unwrap();
        let accounts: Value = serde_json::from_slice(&out.stdout).unwrap();
        accounts
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["file"].as_str().unwrap().to_string())
            .collect()
    };
    let got = names("1");
    assert_eq!(
        got,
        [
            "y.csv",
            "y.csv#3",
            "y.csv#2",
            "y.csv#4",
            "d.zip!/y.csv",
            "d.zip!/y.csv#3",
            "d.zip!/y.csv#2"
        ]
    );
    assert_eq!(names("4"), got);
}

// ---------------------------------------------------------------------------------------------
// 4. A NUL in a zip entry's name

/// A zip entry (local header, 30 bytes) named `name` holding `data`, stored.
fn local_entry(name: &[u8], data: &[u8]) -> Vec<u8> {
    let crc = crate::support::evtx_writer::crc32(&[data]);
    let mut h = Vec::new();
    h.extend_from_slice(b"PK\x03\x04");
    h.extend_from_slice(&20u16.to_le_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(&(data.len() as u32).to_le_bytes());
    h.extend_from_slice(&(data.len() as u32).to_le_bytes());
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(name);
    h.extend_from_slice(data);
    h
}

/// Its central record, for an entry at `offset`.
fn central_record(name: &[u8], data: &[u8], offset: u32) -> Vec<u8> {
    let crc = crate::support::evtx_writer::crc32(&[data]);
    let mut c = Vec::new();
    c.extend_from_slice(b"PK\x01\x02");
    c.extend_from_slice(&20u16.to_le_bytes());
    c.extend_from_slice(&20u16.to_le_bytes());
    c.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    c.extend_from_slice(&crc.to_le_bytes());
    c.extend_from_slice(&(data.len() as u32).to_le_bytes());
    c.extend_from_slice(&(data.len() as u32).to_le_bytes());
    c.extend_from_slice(&(name.len() as u16).to_le_bytes());
    c.extend_from_slice(&[0u8; 12]);
    c.extend_from_slice(&offset.to_le_bytes());
    c.extend_from_slice(name);
    c
}

/// A zip of `entries` whose directory lists only those marked listed.
fn zip_listing(entries: &[(&[u8], &[u8], bool)]) -> Vec<u8> {
    let (mut out, mut cd, mut n) = (Vec::new(), Vec::new(), 0u16);
    for (name, data, listed) in entries {
        let offset = out.len() as u32;
        out.extend(local_entry(name, data));
        if *listed {
            cd.extend(central_record(name, data, offset));
            n += 1;
        }
    }
    let cd_at = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Entries named `a\0b.csv`, `a\0c.csv` (listed) and `a.csv\0.evtx` (a file entry the
/// directory does not list): each is accounted under its whole name, the NUL shown as an
/// escape (`\u{0000}` on a terminal, `\u0000` in JSON), never cut at it; the unlisted one is
/// named and not read, where its NUL once hid it from the account altogether.
#[test]
fn zip_entry_names_with_a_nul_are_shown_whole_and_each_entry_is_accounted() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read(fixtures().join("hostile/invalid-utf8.csv")).unwrap();
    let zip = dir.path().join("n.zip");
    std::fs::write(
        &zip,
        zip_listing(&[
            (b"a\0b.csv", &csv, true),
            (b"a.csv\0.evtx", &csv, false),
            (b"a\0c.csv", &csv, true),
        ]),
    )
    .unwrap();
    let (accounts, code) = summary(&[os(&zip)], "2");
    assert_eq!(code, Some(3), "an entry was not read");
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| {
            a["file"]
                .as_str()
                .unwrap()
                .rsplit_once("n.zip!/")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["a\0b.csv", "a\0c.csv", "a.csv\0.evtx"] {
        assert!(names.contains(&name), "{name:?} in {names:?}");
    }
    let hidden = account(&accounts, "a.csv\0.evtx");
    assert_eq!(hidden["status"], "failed");
    assert!(
        problems(hidden).contains("the zip's central directory does not list"),
        "{hidden}"
    );
    // On a terminal the NUL is an escape, and the name goes on past it.
    let out = rdtriage("1").arg("scan").arg(&zip).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!text.contains('\0') && !stderr.contains('\0'));
    assert!(
        stderr.contains("n.zip!/a.csv\\u{0000}.evtx: not read"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Text whose encoding changes part way

fn csv_rows(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "\"10:00:{:02}.0000000 AM\",\"notepad.exe\",\"5120\",\"ReadFile\",\"C:\\f{i}.txt\",\"SUCCESS\",\"\"\r\n",
                i % 60
            )
        })
        .collect()
}

/// A Procmon CSV whose first part is UTF-16LE (with its mark) and whose second part is UTF-8,
/// and one the other way round; an event-log XML export likewise. Each keeps the events of its
/// first part and is accounted read partly, naming the byte where the encoding changes; it
/// was accounted read fully, its second part lost.
#[test]
fn text_that_changes_encoding_part_way_is_read_partly_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, parts: &[&[u8]]| {
        let path = dir.path().join(name);
        std::fs::write(&path, parts.concat()).unwrap();
        path
    };
    let first16 = [
        &b"\xFF\xFE"[..],
        &utf16(&format!("{CSV_HEADER}{}", csv_rows(0, 5))),
    ]
    .concat();
    let second8 = csv_rows(5, 4).into_bytes();
    let a = write("a.csv", &[&first16, &second8]);
    let first8 = format!("\u{feff}{CSV_HEADER}{}", csv_rows(0, 5)).into_bytes();
    let second16 = [&b"\xFF\xFE"[..], &utf16(&csv_rows(5, 4))].concat();
    let b = write("b.csv", &[&first8, &second16]);

    let event = |id: u32| {
        format!(
            "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><Provider Name=\"EventLog\"/><EventID>6013</EventID><TimeCreated SystemTime=\"2024-03-05T10:15:{id:02}.0000000Z\"/><EventRecordID>{id}</EventRecordID><Channel>System</Channel><Computer>SRV01</Computer></System><EventData><Data>{id}</Data></EventData></Event>\r\n"
        )
    };
    let events = |ids: std::ops::Range<u32>| ids.map(event).collect::<String>();
    let xml16 = [
        &b"\xFF\xFE"[..],
        &utf16(&format!("<Events>\r\n{}</Events>\r\n", events(1..4))),
    ]
    .concat();
    let xml8 = format!("<Events>\r\n{}</Events>\r\n", events(4..6)).into_bytes();
    let c = write("c.xml", &[&xml16, &xml8]);
    let d = write("d.xml", &[&xml8, &xml16]);

    let (accounts, code) = summary(&[os(&a), os(&b), os(&c), os(&d)], "2");
    assert_eq!(code, Some(3));
    for (name, events, at, from, to) in [
        ("/a.csv", 5, first16.len(), "UTF-16LE", "UTF-8"),
        ("/b.csv", 5, first8.len(), "UTF-8", "UTF-16LE"),
        ("/c.xml", 3, xml16.len(), "UTF-16LE", "UTF-8"),
        ("/d.xml", 2, xml8.len(), "UTF-8", "UTF-16LE"),
    ] {
        let acc = account(&accounts, name);
        assert_eq!(acc["status"], "partial", "{acc}");
        assert_eq!(acc["events"], events, "{acc}");
        assert!(
            problems(acc).contains(&format!(
                "from byte {at} on, the text is {to} and no longer {from} as before it"
            )),
            "{acc}"
        );
    }
    // Text in one encoding throughout is read fully, as before.
    let whole = write("whole.csv", &[&first16]);
    let (accounts, code) = summary(&[os(&whole)], "1");
    assert_eq!(code, Some(0));
    assert_eq!(accounts[0]["status"], "ok");
    assert_eq!(accounts[0]["events"], 5);
}
