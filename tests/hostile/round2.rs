//! Hostile and damaged input, round two (issue 18): each defect the held-out suite found, as
//! a user meets it through the binary. Large inputs are generated here, in a temporary folder;
//! memory is measured as the peak RSS of the child process (`wait4`), and bounded by what the
//! documented limits allow, never by the size of the input.

use crate::common;

use crate::support::evtx_writer;

use std::io::Write;
use std::path::Path;
use std::process::Command as StdCommand;
use std::time::Duration;

use assert_cmd::Command;
use common::{account, fixtures, problems, zip_of};
use evtx_writer::{crc32, timestamp_to_filetime, write_evtx};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Round one's command, with a time limit: a hang is the defect under test for FIFOs, so a
/// test fails instead of waiting forever.
fn rdtriage() -> Command {
    let mut cmd = super::rdtriage();
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// `dump --summary --format json ARGS`: the accounts, and the exit code.
fn accounts(args: &[&std::ffi::OsStr]) -> (Vec<Value>, Option<i32>) {
    let out = rdtriage()
        .args(["dump", "--summary", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v.as_array().unwrap().clone(), out.status.code())
}

use super::os;

/// `dump --summary --format json PATH` in a child: its exit code, the accounts, its peak RSS.
fn summary_rss(path: &Path) -> (Option<i32>, Vec<u8>, Option<u64>) {
    super::shared::peak_rss(
        "2",
        &[
            os("dump"),
            os("--summary"),
            os("--format"),
            os("json"),
            os(path),
        ],
    )
}

/// The peak RSS of a run on a one-row CSV: what the binary costs before any input does.
fn baseline_kib() -> Option<u64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.csv");
    std::fs::write(&path, format!("{HEADER}{}", row(1))).unwrap();
    super::shared::peak_rss("2", &[os("dump"), os("--summary"), os(&path)]).2
}

/// Assert `kib` (if measured) is within `allowance` KiB of the baseline.
fn assert_rss(kib: Option<u64>, allowance: u64, what: &str) {
    if let (Some(kib), Some(base)) = (kib, baseline_kib()) {
        assert!(
            kib < base + allowance,
            "peak RSS {kib} KiB for {what}: over the baseline {base} KiB + {allowance} KiB"
        );
    }
}

/// A zip of stored entries written by hand (the zip crate refuses to write two entries of
/// one name), each with its own local header.
pub(super) fn raw_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let le16 = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
    let le32 = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
    let mut z = Vec::new();
    let mut offsets = Vec::new();
    let crc_of = |b: &[u8]| {
        let mut c = flate2::Crc::new();
        c.update(b);
        c.sum()
    };
    for (name, body) in entries {
        offsets.push(z.len() as u32);
        le32(&mut z, 0x0403_4b50);
        for v in [20, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, crc_of(body));
        le32(&mut z, body.len() as u32);
        le32(&mut z, body.len() as u32);
        le16(&mut z, name.len() as u16);
        le16(&mut z, 0);
        z.extend_from_slice(name.as_bytes());
        z.extend_from_slice(body);
    }
    let central = z.len() as u32;
    for ((name, body), offset) in entries.iter().zip(&offsets) {
        le32(&mut z, 0x0201_4b50);
        for v in [20, 20, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, crc_of(body));
        le32(&mut z, body.len() as u32);
        le32(&mut z, body.len() as u32);
        for v in [name.len() as u16, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, 0);
        le32(&mut z, *offset);
        z.extend_from_slice(name.as_bytes());
    }
    let central_len = z.len() as u32 - central;
    le32(&mut z, 0x0605_4b50);
    let n = entries.len() as u16;
    for v in [0, 0, n, n] {
        le16(&mut z, v);
    }
    le32(&mut z, central_len);
    le32(&mut z, central);
    le16(&mut z, 0);
    z
}

/// A Procmon CSV header, and one harmless row.
pub(super) const HEADER: &str =
    "\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n";

pub(super) fn row(i: usize) -> String {
    format!(
        "\"10:00:{:02}.0000000 AM\",\"notepad.exe\",\"5120\",\"ReadFile\",\"C:\\Users\\alice\\f{i}.txt\",\"SUCCESS\",\"Offset: 0\"\r\n",
        i % 60
    )
}

fn ticket(name: &str) -> std::path::PathBuf {
    fixtures().join("tickets").join(name)
}

// ---------------------------------------------------------------------------------------------
// 1. Discovery never blocks and never reads what is not a regular file

#[cfg(unix)]
#[test]
fn a_fifo_named_like_a_log_is_listed_and_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("x.evtx");
    let made = StdCommand::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::fs::write(dir.path().join("a.csv"), format!("{HEADER}{}", row(1))).unwrap();
    let (acc, code) = accounts(&[os(dir.path())]);
    assert_eq!(code, Some(3), "a file meant as input was not read");
    let a = account(&acc, "x.evtx");
    assert_eq!(a["status"], "failed", "{a}");
    assert!(
        problems(a).contains("a FIFO (named pipe), not a regular file"),
        "{a}"
    );
    assert_eq!(account(&acc, "a.csv")["status"], "ok");
    // In a batch ticket too: listed, never waited on.
    let tickets = tempfile::tempdir().unwrap();
    std::fs::rename(dir.path(), tickets.path().join("t1")).unwrap();
    let out = rdtriage()
        .args(["batch", "--format", "jsonl"])
        .arg(tickets.path())
        .output()
        .unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fifo = account(line["report"]["inputs"].as_array().unwrap(), "x.evtx");
    assert!(
        problems(fifo).contains("a FIFO (named pipe), not a regular file"),
        "{fifo}"
    );
    // With --out the batch hashes each ticket to record what it read: the hash steps over
    // the FIFO, and over a symlink to a device that never ends, as the reader does. Run twice,
    // the second run reuses the report (nothing changed), still without blocking.
    std::os::unix::fs::symlink("/dev/zero", tickets.path().join("t1").join("zero.evtx")).unwrap();
    let reports = tempfile::tempdir().unwrap();
    for reused in [0, 1] {
        let out = rdtriage()
            .args(["batch", "--incremental", "--format", "jsonl", "--out"])
            .arg(reports.path())
            .arg(tickets.path())
            .output()
            .unwrap();
        let line: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{reused} unchanged since their last report")),
            "{stderr}"
        );
        let zero = account(line["report"]["inputs"].as_array().unwrap(), "zero.evtx");
        assert!(problems(zero).contains("not followed"), "{zero}");
    }
}

#[cfg(unix)]
#[test]
fn a_device_is_named_as_one_not_as_an_empty_file() {
    let (acc, code) = accounts(&[os("/dev/zero")]);
    // Named on the command line, it was meant to be read: not read, and the exit says so
    // (round nine; it was once skipped with exit 0).
    assert_eq!(code, Some(3));
    let a = account(&acc, "/dev/zero");
    assert_eq!(a["status"], "failed", "{a}");
    assert!(
        problems(a).contains("a character device, not a regular file"),
        "{a}"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_to_files_and_folders_are_listed_not_followed_unless_asked() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.csv"),
        format!("{HEADER}{}", row(1)),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    std::os::unix::fs::symlink(outside.path().join("secret.csv"), t.join("file-link.csv")).unwrap();
    std::os::unix::fs::symlink(outside.path(), t.join("folder-link")).unwrap();
    std::os::unix::fs::symlink(t, t.join("loop")).unwrap();

    let (acc, code) = accounts(&[os(t)]);
    assert_eq!(
        code,
        Some(0),
        "links skipped by policy are not inputs unread"
    );
    for name in ["file-link.csv", "folder-link", "loop"] {
        let a = account(&acc, name);
        assert_eq!(a["status"], "skipped", "{a}");
        assert!(problems(a).contains("not followed (give --follow"), "{a}");
    }
    assert_eq!(acc.len(), 3, "nothing behind a link was read: {acc:#?}");

    // --follow: the file and the folder are read; the loop back to the ticket is not walked
    // twice.
    let (acc, _) = accounts(&[os("--follow"), os(t)]);
    assert_eq!(account(&acc, "file-link.csv")["status"], "ok");
    // The same file reached a second time, through the folder link: counted once.
    let again = account(&acc, "folder-link/secret.csv");
    assert_eq!(again["status"], "skipped", "{again}");
    assert!(
        problems(again).contains("duplicate: the same bytes as"),
        "{again}"
    );
    let a = account(&acc, "/loop");
    assert!(problems(a).contains("already read in this run"), "{a}");
}

// ---------------------------------------------------------------------------------------------
// 2. One zip budget per run; every entry accounted for

#[test]
fn entries_with_one_name_each_get_an_account_and_folder_entries_with_data_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = format!("{HEADER}{}", row(1));
    // Another body for the folder entry: the same bytes would be read once, as a duplicate.
    let other = format!("{HEADER}{}", row(2));
    let zip = raw_zip(&[
        ("x.csv", good.as_bytes()),
        ("x.csv", b"not a log at all"),
        ("folder/", other.as_bytes()),
    ]);
    let path = dir.path().join("a.zip");
    std::fs::write(&path, zip).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(acc.len(), 3, "{acc:#?}");
    assert_eq!(code, Some(3), "the unreadable one makes the run partial");
    // Each of the two gets its own account and is read: the one listed last in the directory
    // under the plain name (not a log), the one the zip crate hides as `#2` (a good CSV).
    let plain = account(&acc, "a.zip!/x.csv");
    assert_eq!(plain["status"], "failed", "{plain}");
    assert!(problems(plain).contains("unreadable content"), "{plain}");
    let hidden = account(&acc, "a.zip!/x.csv#2");
    assert_eq!(hidden["status"], "ok", "{hidden}");
    assert_eq!(hidden["format"], "procmon-csv", "{hidden}");
    assert_eq!(hidden["events"], 1, "{hidden}");
    assert_eq!(account(&acc, "a.zip!/folder/")["events"], 1);
}

/// A "folder" named the Windows way (`\\` at the end) that holds data is read too; empty
/// folders of either kind are not inputs at all.
#[test]
fn folder_entries_ending_in_a_backslash_with_data_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let csv = format!("{HEADER}{}", row(1));
    let zip = raw_zip(&[
        ("logs\\", csv.as_bytes()),
        ("empty/", b""),
        ("empty\\", b""),
    ]);
    let path = dir.path().join("a.zip");
    std::fs::write(&path, zip).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(0));
    assert_eq!(acc.len(), 1, "{acc:#?}");
    let a = account(&acc, "a.zip!/logs\\");
    assert_eq!(a["status"], "ok", "{a}");
    assert_eq!(a["events"], 1, "{a}");
}

#[test]
fn a_hidden_same_named_entry_with_a_bad_crc_is_named_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = format!("{HEADER}{}", row(1));
    let mut zip = raw_zip(&[("x.csv", good.as_bytes()), ("x.csv", good.as_bytes())]);
    // Alter the first (hidden) copy's body only: its CRC no longer matches.
    let at = zip.windows(7).position(|w| w == b"notepad").unwrap();
    zip[at] = b'N';
    let path = dir.path().join("a.zip");
    std::fs::write(&path, zip).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(3));
    assert_eq!(account(&acc, "a.zip!/x.csv")["events"], 1);
    let hidden = account(&acc, "a.zip!/x.csv#2");
    assert_eq!(hidden["status"], "failed", "{hidden}");
    assert!(problems(hidden).contains("CRC-32 mismatch"), "{hidden}");
}

/// A zip whose central directory names one stored body three times, by hand.
fn overlapping_zip(body: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(body);
    let crc = crc.sum();
    let le16 = |z: &mut Vec<u8>, v: u16| z.extend_from_slice(&v.to_le_bytes());
    let le32 = |z: &mut Vec<u8>, v: u32| z.extend_from_slice(&v.to_le_bytes());
    let mut z = Vec::new();
    le32(&mut z, 0x0403_4b50);
    for v in [20, 0, 0, 0, 0] {
        le16(&mut z, v);
    }
    le32(&mut z, crc);
    le32(&mut z, body.len() as u32);
    le32(&mut z, body.len() as u32);
    le16(&mut z, 5);
    le16(&mut z, 0);
    z.extend_from_slice(b"a.csv");
    z.extend_from_slice(body);
    let central = z.len() as u32;
    for name in [&b"a.csv"[..], b"b.csv", b"c.csv"] {
        le32(&mut z, 0x0201_4b50);
        for v in [20, 20, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, crc);
        le32(&mut z, body.len() as u32);
        le32(&mut z, body.len() as u32);
        for v in [name.len() as u16, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, 0);
        le32(&mut z, 0);
        z.extend_from_slice(name);
    }
    let central_len = z.len() as u32 - central;
    le32(&mut z, 0x0605_4b50);
    for v in [0, 0, 3, 3] {
        le16(&mut z, v);
    }
    le32(&mut z, central_len);
    le32(&mut z, central);
    le16(&mut z, 0);
    z
}

#[test]
fn entries_sharing_one_body_are_read_once_and_the_others_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.zip");
    std::fs::write(
        &path,
        overlapping_zip(format!("{HEADER}{}", row(1)).as_bytes()),
    )
    .unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(3));
    assert_eq!(account(&acc, "bomb.zip!/a.csv")["events"], 1);
    for other in ["b.csv", "c.csv"] {
        let a = account(&acc, other);
        assert_eq!(a["status"], "failed", "{a}");
        assert!(
            problems(a).contains("overlap those of entry 'a.csv'"),
            "{a}"
        );
    }
}

#[test]
fn the_zip_budget_is_shared_by_every_zip_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let csv = format!("{HEADER}{}", (0..200).map(row).collect::<String>());
    for name in ["one.zip", "two.zip"] {
        std::fs::write(dir.path().join(name), zip_of(&[("x.csv", csv.as_bytes())])).unwrap();
    }
    let limit = (csv.len() * 3 / 2).to_string();
    let (acc, code) = accounts(&[os("--max-zip-bytes"), os(&limit), os(dir.path())]);
    assert_eq!(code, Some(3));
    assert_eq!(account(&acc, "one.zip!/x.csv")["status"], "ok");
    let two = account(&acc, "two.zip");
    assert_eq!(two["status"], "failed", "{two}");
    assert!(
        problems(two).contains("limit for all the zips of this run")
            && problems(two).contains("--max-zip-bytes"),
        "{two}"
    );
}

#[test]
fn a_zip_entry_with_a_bad_crc_is_named_and_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let evtx = write_evtx(&[rcm(1, "Access is denied.")]).unwrap();
    let mut zip = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("System.evtx", opts).unwrap();
        w.write_all(&evtx).unwrap();
        w.finish().unwrap();
    }
    // Alter one byte of the record's text, inside the stored body.
    let marker: Vec<u8> = "Access".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let at = zip.windows(marker.len()).position(|w| w == marker).unwrap();
    zip[at] = b'X';
    let path = dir.path().join("t.zip");
    std::fs::write(&path, zip).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(3));
    let a = account(&acc, "System.evtx");
    assert_eq!(a["status"], "failed", "{a}");
    assert!(problems(a).contains("CRC-32 mismatch"), "{a}");
}

/// The CRC is checked before any format reads an entry, not only EVTX: altered rows of a CSV
/// or an XML export never reach the report.
#[test]
fn a_csv_or_xml_entry_with_a_bad_crc_is_named_and_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let csv = format!("{HEADER}{}", row(1));
    let xml = "<Events><Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='notepad'/><EventID>1</EventID><EventRecordID>1</EventRecordID><Computer>ws</Computer></System></Event></Events>";
    let mut zip = raw_zip(&[("x.csv", csv.as_bytes()), ("y.xml", xml.as_bytes())]);
    for _ in 0..2 {
        let at = zip.windows(7).position(|w| w == b"notepad").unwrap();
        zip[at] = b'N';
    }
    let path = dir.path().join("t.zip");
    std::fs::write(&path, zip).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(3));
    for name in ["t.zip!/x.csv", "t.zip!/y.xml"] {
        let a = account(&acc, name);
        assert_eq!(a["status"], "failed", "{a}");
        assert_eq!(a["events"], 0, "{a}");
        assert!(problems(a).contains("CRC-32 mismatch"), "{a}");
    }
}

/// A time past what can be held (FILETIME's last day, year 30828) is never silently dropped:
/// the event is kept without a time and the account says how many.
#[test]
fn an_event_time_out_of_range_is_kept_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let event = |id: u32, time: &str| {
        format!(
            "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='P'/><EventID>1</EventID><TimeCreated SystemTime='{time}'/><EventRecordID>{id}</EventRecordID><Computer>ws</Computer></System></Event>"
        )
    };
    // Year 30828 written out, or cut to four digits (before 1601: no FILETIME is), an offset
    // no zone has, no zone at all: none is a time an event can have.
    let xml = format!(
        "<Events>{}{}{}{}{}</Events>",
        event(1, "30828-09-14T02:48:05.4775807Z"),
        event(2, "2024-03-05T10:15:30Z"),
        event(3, "0828-09-14T02:48:05.4775807Z"),
        event(4, "2024-03-05T10:15:30+25:00"),
        event(5, "2024-03-05T10:15:30.1234567"),
    );
    let path = dir.path().join("x.xml");
    std::fs::write(&path, xml).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(0));
    let a = account(&acc, "x.xml");
    assert_eq!(a["status"], "ok", "{a}");
    assert_eq!(a["events"], 5, "{a}");
    assert!(
        problems(a).contains("4 events have a SystemTime that is not a valid time"),
        "{a}"
    );
}

/// Memory does not grow with the number of zip entries read: one inflater per thread is reset
/// for the next entry (a fresh one per entry kept 20-35 KiB each: ~250 MB here).
#[test]
fn memory_stays_flat_over_thousands_of_deflated_zip_entries() {
    let dir = tempfile::tempdir().unwrap();
    let bodies: Vec<(String, String)> = (0..9_000)
        .map(|i| (format!("logs/{i:05}.csv"), format!("{HEADER}{}", row(i))))
        .collect();
    let entries: Vec<(&str, &[u8])> = bodies
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_bytes()))
        .collect();
    let path = dir.path().join("many.zip");
    std::fs::write(&path, zip_of(&entries)).unwrap();
    let (code, out, kib) = summary_rss(&path);
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&out));
    let acc: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(acc.len(), 9_000);
    assert!(acc.iter().all(|a| a["status"] == "ok" && a["events"] == 1));
    assert_rss(kib, 64 * 1024, "9,000 deflated zip entries");
}

// ---------------------------------------------------------------------------------------------
// 3. What the rules need is never pushed out by path order

#[test]
fn kept_events_go_to_the_anchors_and_fair_shares_whatever_the_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    // A folder that sorts first, full of rows a rule matches (denied key files).
    std::fs::create_dir(t.join("a-noise")).unwrap();
    let mut csv = String::from(HEADER);
    for i in 0..3000 {
        csv.push_str(&format!(
            "\"9:14:0{}.1234567 AM\",\"svchost.exe\",\"1100\",\"CreateFile\",\"C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\f686aace6942fb7f7ceb231212eef4a4_{i}\",\"ACCESS DENIED\",\"Desired Access: Generic Read\"\r\n",
            i % 10
        ));
    }
    std::fs::write(t.join("a-noise/Logfile.CSV"), csv).unwrap();
    let src = ticket("certificate");
    for part in ["client", "server"] {
        std::fs::create_dir_all(t.join("b-ticket").join(part)).unwrap();
        for f in std::fs::read_dir(src.join(part)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(
                &f,
                t.join("b-ticket").join(part).join(f.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let out = rdtriage()
        .args(["scan", "--format", "json", "--max-kept-events", "500"])
        .arg(t)
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        r["verdict"].as_str().unwrap().starts_with("2 0x904"),
        "{}",
        r["verdict"]
    );
    let inputs = r["inputs"].as_array().unwrap();
    let client = account(inputs, "RDPClient%4Operational.evtx");
    assert_eq!(client["status"], "ok", "{client}");
    let noise = account(inputs, "a-noise/Logfile.CSV");
    assert_eq!(noise["status"], "partial", "{noise}");
    assert!(problems(noise).contains("events were not kept"), "{noise}");
}

// ---------------------------------------------------------------------------------------------
// 4. Memory bounded by the limits, not the file

#[test]
fn an_unclosed_quote_stops_at_the_record_cap_keeping_the_rows_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Logfile.CSV");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(HEADER.as_bytes()).unwrap();
    for i in 0..5 {
        f.write_all(row(i).as_bytes()).unwrap();
    }
    f.write_all(b"\"10:00:00.0 AM\",\"x.exe\",\"1\",\"ReadFile\",\"C:\\open quote")
        .unwrap();
    let line = format!("{}\r\n", "y".repeat(1000));
    for _ in 0..150_000 {
        f.write_all(line.as_bytes()).unwrap();
    }
    drop(f);
    let (code, out, kib) = super::shared::peak_rss(
        "2",
        &[
            os("dump"),
            os("--summary"),
            os("--format"),
            os("json"),
            os("--max-csv-row-bytes"),
            os("4194304"),
            os(&path),
        ],
    );
    assert_eq!(code, Some(3));
    let acc: Value = serde_json::from_slice(&out).unwrap();
    let a = &acc[0];
    assert_eq!(a["events"], 5, "the rows before it are kept: {a}");
    assert!(
        problems(a).contains("a quote that never closes")
            && problems(a).contains("--max-csv-row-bytes"),
        "{a}"
    );
    // The csv reader holds one record (up to the cap, its buffer doubling) and its own buffer.
    assert_rss(
        kib,
        4 * 4096 + 16 * 1024,
        "a 150 MB file capped at 4 MiB records",
    );
}

#[test]
fn a_header_of_millions_of_columns_is_refused_by_the_field_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Logfile.CSV");
    let mut header = String::from("\"Process Name\",\"Operation\",\"Path\",\"Result\"");
    for i in 0..3_000_000 {
        header.push_str(&format!(",c{i}"));
    }
    std::fs::write(&path, format!("{header}\r\n")).unwrap();
    let (code, out, kib) = summary_rss(&path);
    assert_eq!(code, Some(3));
    let acc: Value = serde_json::from_slice(&out).unwrap();
    assert!(
        problems(&acc[0]).contains("more than 1024 fields (raise with --max-csv-fields)"),
        "{}",
        acc[0]
    );
    assert_rss(kib, 16 * 1024, "a 30 MB header");
}

/// A row of millions of empty fields (after a good header and row) stops at the field cap,
/// memory bounded by the cap, not the row (once 520 MB for a 60 MB row).
#[test]
fn a_row_of_millions_of_empty_fields_is_refused_by_the_field_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Logfile.CSV");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(format!("{HEADER}{}", row(1)).as_bytes())
        .unwrap();
    f.write_all(&vec![b','; 30 << 20]).unwrap();
    f.write_all(b"\r\n").unwrap();
    drop(f);
    let (code, out, kib) = summary_rss(&path);
    assert_eq!(code, Some(3));
    let acc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(acc[0]["events"], 1, "the row before it is kept: {}", acc[0]);
    assert!(
        problems(&acc[0]).contains("more than 1024 fields (raise with --max-csv-fields)"),
        "{}",
        acc[0]
    );
    assert_rss(kib, 16 * 1024, "a 30 MB row of empty fields");
}

/// Thousands of small zips in one ticket: memory does not grow with their number (5,000 once
/// reached 129 MB).
#[test]
fn memory_stays_flat_over_thousands_of_small_zips() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5_000 {
        let csv = format!("{HEADER}{}", row(i));
        std::fs::write(
            dir.path().join(format!("{i:04}.zip")),
            zip_of(&[("Logfile.CSV", csv.as_bytes())]),
        )
        .unwrap();
    }
    let (code, out, kib) = summary_rss(dir.path());
    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&out));
    let acc: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(acc.len(), 5_000);
    assert!(acc.iter().all(|a| a["status"] == "ok" && a["events"] == 1));
    assert_rss(kib, 48 * 1024, "5,000 small zips");
}

#[test]
fn a_file_that_only_starts_like_a_zip_is_not_read_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.zip");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    f.write_all(b"PK\x03\x04").unwrap();
    let block = vec![0x5Au8; 1 << 20];
    for _ in 0..200 {
        f.write_all(&block).unwrap();
    }
    drop(f);
    let (code, out, kib) = summary_rss(&path);
    assert_eq!(code, Some(3));
    let acc: Value = serde_json::from_slice(&out).unwrap();
    assert!(
        problems(&acc[0]).contains("not a readable zip"),
        "{}",
        acc[0]
    );
    assert_rss(kib, 16 * 1024, "a 200 MiB fake zip");
}

// ---------------------------------------------------------------------------------------------
// 5. Damage is named

use super::rcm_1058 as rcm;

#[test]
fn an_evtx_chunk_whose_checksum_does_not_match_is_named_and_dropped_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut evtx = write_evtx(&[rcm(1, "Access is denied.")]).unwrap();
    let marker: Vec<u8> = "Access".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let at = evtx
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap();
    evtx[at] = b'X';
    let path = dir.path().join("System.evtx");
    std::fs::write(&path, &evtx).unwrap();
    // Read (a log copied while open can hold stale checksums), but never as "read fully".
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(3));
    let a = &acc[0];
    assert_eq!(a["events"], 1, "{a}");
    assert_eq!(a["status"], "partial", "{a}");
    assert!(
        problems(a).contains("chunk 0: its records checksum does not match")
            && problems(a).contains("--refuse-bad-chunks"),
        "{a}"
    );
    let (acc, _) = accounts(&[os("--refuse-bad-chunks"), os(&path)]);
    assert_eq!(acc[0]["events"], 0, "{}", acc[0]);
    assert!(problems(&acc[0]).contains("not read"), "{}", acc[0]);
}

#[test]
fn an_evtx_header_claiming_the_wrong_chunk_count_is_noted() {
    let dir = tempfile::tempdir().unwrap();
    for (claim, name) in [(0u16, "zero.evtx"), (u16::MAX, "max.evtx")] {
        let mut evtx = write_evtx(&[rcm(1, "Access is denied.")]).unwrap();
        evtx[42..44].copy_from_slice(&claim.to_le_bytes());
        std::fs::write(dir.path().join(name), &evtx).unwrap();
    }
    let (acc, code) = accounts(&[os(dir.path())]);
    assert_eq!(
        code,
        Some(0),
        "every chunk present is read: a note, not damage"
    );
    for (claim, name) in [(0u16, "zero.evtx"), (u16::MAX, "max.evtx")] {
        let a = account(&acc, name);
        assert!(
            problems(a).contains(&format!("claims {claim} chunks, the file holds 1")),
            "{a}"
        );
        assert_eq!(a["events"], 1, "{a}");
    }
}

/// Record 2 of three, its time set to FILETIME's last day (year 30828, past what jiff and
/// this tool hold) in its header (`header`) and its `TimeCreated` value; checksums kept right.
fn evtx_with_a_year_30828_record(header: bool) -> Vec<u8> {
    let events = [rcm(1, "a"), rcm(2, "b"), rcm(3, "c")];
    let mut evtx = write_evtx(&events).unwrap();
    let was = timestamp_to_filetime(events[1].time).unwrap().to_le_bytes();
    // 30828-09-14T02:48:05.4775807Z, the last time Windows converts.
    let max = 0x7FFF_FFFF_FFFF_FFFFu64.to_le_bytes();
    let chunk = &mut evtx[4096..4096 + 65536];
    // Record 2: the record magic, its size, then its id.
    let start = (0..chunk.len() - 24)
        .find(|&i| chunk[i..i + 4] == *b"**\0\0" && chunk[i + 8..i + 16] == 2u64.to_le_bytes())
        .unwrap();
    let size = u32::from_le_bytes(chunk[start + 4..start + 8].try_into().unwrap()) as usize;
    let value = (start + 24..start + size - 8)
        .find(|&i| chunk[i..i + 8] == was)
        .expect("the TimeCreated value");
    chunk[value..value + 8].copy_from_slice(&max);
    if header {
        assert_eq!(chunk[start + 16..start + 24], was);
        chunk[start + 16..start + 24].copy_from_slice(&max);
    }
    let free = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
    let records_crc = crc32(&[&chunk[512..free]]);
    chunk[52..56].copy_from_slice(&records_crc.to_le_bytes());
    let header_crc = crc32(&[&chunk[..120], &chunk[128..512]]);
    chunk[124..128].copy_from_slice(&header_crc.to_le_bytes());
    evtx
}

/// A record whose header time is past 9999 cannot be read (the evtx crate refuses it): it is
/// a record error that says why, and the records around it are read.
#[test]
fn an_evtx_record_dated_past_9999_is_a_record_error_naming_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("System.evtx");
    std::fs::write(&path, evtx_with_a_year_30828_record(true)).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(3), "a record not read: the file is read partly");
    let a = &acc[0];
    assert_eq!(a["status"], "partial", "{a}");
    assert_eq!(a["events"], 2, "{a}");
    assert_eq!(a["errors"], 1, "{a}");
    assert!(
        problems(a).contains("FILETIME 0x7fffffffffffffff, year 30828) is out of range")
            && problems(a).contains("record not read"),
        "{a}"
    );
}

/// A `TimeCreated` alone past 9999 renders as year 0828 (Windows keeps four digits): never
/// taken for a date, the record is kept with its header's time and the account says so.
#[test]
fn an_evtx_time_created_past_9999_is_kept_with_its_header_time_and_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("System.evtx");
    std::fs::write(&path, evtx_with_a_year_30828_record(false)).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(0));
    let a = &acc[0];
    assert_eq!(a["status"], "ok", "{a}");
    assert_eq!(a["events"], 3, "{a}");
    assert!(
        problems(a).contains("1 records have a TimeCreated past 9999-12-31"),
        "{a}"
    );
    let out = rdtriage()
        .args(["dump", "--format", "jsonl"])
        .arg(&path)
        .output()
        .unwrap();
    let times: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["time"].to_string())
        .collect();
    assert_eq!(times.len(), 3);
    assert!(times[1].contains("2024-03-05T09:00:02"), "{times:?}");
}

// ---------------------------------------------------------------------------------------------
// 7. UTF-16 Procmon CSV; duplicated columns

#[test]
fn a_unicode_procmon_export_reads_like_its_utf8_twin() {
    let utf8 = std::fs::read(ticket("certificate").join("server/Logfile.CSV")).unwrap();
    let text = String::from_utf8(utf8).unwrap();
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Logfile.CSV");
    std::fs::write(&path, utf16).unwrap();
    let dump = |p: &Path| {
        let out = rdtriage()
            .args(["dump", "--format", "jsonl"])
            .arg(p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8(out.stdout)
            .unwrap()
            .replace(&p.display().to_string(), "F")
    };
    let twin = dump(&ticket("certificate").join("server/Logfile.CSV"));
    assert!(!twin.is_empty());
    assert_eq!(dump(&path), twin);
}

#[test]
fn a_duplicated_column_is_named_in_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Logfile.CSV");
    let header = HEADER.replace("\"Detail\"", "\"Path\"");
    std::fs::write(&path, format!("{header}{}", row(1))).unwrap();
    let (acc, code) = accounts(&[os(&path)]);
    assert_eq!(code, Some(0));
    assert_eq!(acc[0]["events"], 1, "{}", acc[0]);
    assert!(
        problems(&acc[0]).contains("the column 'Path' appears 2 times"),
        "{}",
        acc[0]
    );
}
