//! Hostile input, round twelve: the netstat listing reader and bundle folder names. A listing
//! whose lines end in a CR alone (one line to the reader: not recognised, or two sockets read
//! as one), socket lines the reader passed over in silence (a port out of range, a pid past
//! 32 bits, millions of words), a listing cut mid-line, and owner names that carry terminal
//! escapes and bidi overrides into every output format; a TSS folder name with a character of
//! several bytes at its stamp's end. Inputs are built here, small, in a temporary folder;
//! every command has a time limit.

use serde_json::Value;

use crate::common::{account, problems};

use super::os;
use super::shared::summary_on as summary;
use crate::common::rdtriage_threads as rdtriage;

// ---------------------------------------------------------------------------------------------
// 1. The netstat listing reader

const HEADER: &str =
    "  Proto  Local Address          Foreign Address        State           PID\r\n";

/// The socket lines of `dump` (JSON lines) of `path`: protocol, local port, pid, process.
fn sockets(path: &std::path::Path) -> Vec<(String, u64, Option<u64>, String)> {
    let out = rdtriage("1")
        .args(["dump", "--format", "jsonl"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            (
                e["protocol"].as_str().unwrap().to_string(),
                e["local_port"].as_u64().unwrap(),
                e["pid"].as_u64(),
                e["process"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The rules `scan --format json` found evidence for.
fn scan_rules(path: &std::path::Path) -> Vec<String> {
    let out = rdtriage("1")
        .args(["scan", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap().iter())
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// A CRLF listing in which one line ends in a CR alone: the socket after it, a program on the
/// RDP port, is read as a socket with its owner, and `scan` finds the port held. The two
/// sockets were read as one (the second's words as the first's state, its pid as the
/// first's), the port holder lost, the account saying the file was read fully.
#[test]
fn a_cr_alone_ends_a_netstat_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netstat.txt");
    let text = format!(
        "{HEADER}  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1012\r  TCP    0.0.0.0:3389           0.0.0.0:0              LISTENING       2208\r\n [evil.exe]\r\n  TCP    0.0.0.0:445            0.0.0.0:0              LISTENING       4\r\n"
    );
    std::fs::write(&path, text).unwrap();
    let (accounts, code) = summary(&[os(&path)], "1");
    assert_eq!(code, Some(0), "{accounts:?}");
    let acc = account(&accounts, "/netstat.txt");
    assert_eq!(
        (&acc["format"], &acc["status"], &acc["events"]),
        (
            &Value::from("netstat-listing"),
            &Value::from("ok"),
            &Value::from(3)
        ),
        "{acc}"
    );
    assert_eq!(
        sockets(&path),
        [
            ("TCP".into(), 135, Some(1012), String::new()),
            ("TCP".into(), 3389, Some(2208), "evil.exe".into()),
            ("TCP".into(), 445, Some(4), String::new()),
        ]
    );
    assert!(
        scan_rules(&path).contains(&"cfg-rdp-port-held".to_string()),
        "{:?}",
        scan_rules(&path)
    );
}

/// An MSRD-Collect netstat listing whose lines all end in a CR alone is read as a listing.
/// It was one line to the reader, not recognised, and accounted as a listing in a shape
/// rdtriage does not read.
#[test]
fn a_netstat_listing_of_cr_line_ends_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("MSRD-Results-SRV1/SRV1_Networking");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("SRV1_Netstat.txt");
    let text = format!(
        "{HEADER}  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1012\r\n  RpcSs\r\n [svchost.exe]\r\n  TCP    0.0.0.0:3389           0.0.0.0:0              LISTENING       2208\r\n [evil.exe]\r\n"
    )
    .replace("\r\n", "\r");
    std::fs::write(&path, text).unwrap();
    let (accounts, code) = summary(&[os(dir.path())], "1");
    assert_eq!(code, Some(0), "{accounts:?}");
    let acc = account(&accounts, "/SRV1_Netstat.txt");
    assert_eq!(acc["format"], "netstat-listing", "{acc}");
    assert_eq!(acc["status"], "ok", "{acc}");
    assert_eq!(acc["events"], 2, "{acc}");
    assert_eq!(
        sockets(&path),
        [
            ("TCP".into(), 135, Some(1012), "svchost.exe".into()),
            ("TCP".into(), 3389, Some(2208), "evil.exe".into()),
        ]
    );
}

/// Socket lines that are not a socket's shape are line errors, each named, the file read
/// partly (exit 3): a local port out of range or not a number, a pid past 32 bits, millions
/// of words after the addresses, a foreign host of megabytes. They were passed over in
/// silence (the first three) or read as a socket without its pid (the pid, the words) or
/// with the megabytes as its host, the account saying the file was read fully.
#[test]
fn netstat_socket_lines_that_are_not_sockets_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netstat.txt");
    let text = format!(
        "{HEADER}  TCP    0.0.0.0:70000    0.0.0.0:0    LISTENING    5\r\n  TCP    0.0.0.0:-1    0.0.0.0:0    LISTENING    6\r\n  UDP    [::]:0x10    *:*    7\r\n  TCP    0.0.0.0:3389    0.0.0.0:0    LISTENING    99999999999\r\n [evil.exe]\r\n  TCP    0.0.0.0:5985    0.0.0.0:0    LISTENING    {}8\r\n  TCP    0.0.0.0:443    {}:0    LISTENING    9\r\n  TCP Statistics for IPv4\r\n  TCP    [fe80::1%12]:135    [::]:0    LISTENING    1012\r\n",
        "x ".repeat(1_000_000),
        "h".repeat(2_000_000),
    );
    std::fs::write(&path, text).unwrap();
    let (accounts, code) = summary(&[os(&path)], "1");
    let acc = account(&accounts, "/netstat.txt");
    assert_eq!(code, Some(3), "{acc}");
    assert_eq!(acc["status"], "partial", "{acc}");
    assert_eq!(acc["errors"], 6, "{acc}");
    assert_eq!(acc["events"], 1, "{acc}");
    let problems = problems(acc);
    for expected in [
        "line 2: a socket line whose local address is not host:port with a port of 0 to 65535 (0.0.0.0:70000)",
        "line 3: a socket line whose local address is not host:port with a port of 0 to 65535 (0.0.0.0:-1)",
        "line 4: a socket line whose local address is not host:port with a port of 0 to 65535 ([::]:0x10)",
        "line 5: a socket line whose pid is not a 32-bit number (99999999999)",
        "line 7: a socket line with more than 8 words after its addresses",
    ] {
        assert!(problems.contains(expected), "{expected}\n{problems}");
    }
    assert!(problems.len() < 4000, "{problems}");
    assert_eq!(
        sockets(&path),
        [("TCP".into(), 135, Some(1012), String::new())]
    );
}

/// A listing cut short inside its last line (here inside the pid of the socket on the RDP
/// port) says so in its account. It was accounted read fully, with no word of the cut.
#[test]
fn a_netstat_listing_cut_mid_line_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netstat.txt");
    let text = format!(
        "{HEADER}  TCP    0.0.0.0:135    0.0.0.0:0    LISTENING    1012\r\n  TCP    0.0.0.0:3389    0.0.0.0:0    LISTENING    22"
    );
    std::fs::write(&path, text).unwrap();
    let (accounts, code) = summary(&[os(&path)], "1");
    assert_eq!(code, Some(0), "{accounts:?}");
    let acc = account(&accounts, "/netstat.txt");
    assert_eq!(acc["events"], 2, "{acc}");
    assert!(
        problems(acc).contains(
            "the last line has no line break: the listing may be cut short there (its last line was read as it is)"
        ),
        "{acc}"
    );
}

/// Terminal escapes and bidi overrides in a socket's service and program names stay inert in
/// every output format of `scan` and in `dump`: never written raw.
#[test]
fn netstat_owner_names_stay_inert_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netstat.txt");
    let text = format!(
        "{HEADER}  TCP    0.0.0.0:3389    0.0.0.0:0    LISTENING    2208\r\n  Evil\u{1b}[31mRED\u{202e}\r\n [evil\u{1b}[2J\u{202e}\u{7}exe.txt]\r\n"
    );
    std::fs::write(&path, text).unwrap();
    let formats = ["table", "markdown", "html", "csv", "json", "jsonl"];
    for format in formats {
        let out = rdtriage("1")
            .args(["scan", "--format", format])
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains("evil"), "{format}: {stdout}");
        assert!(
            !stdout.contains(['\u{1b}', '\u{202e}', '\u{7}']),
            "{format}: {stdout}"
        );
    }
    let out = rdtriage("1").arg("dump").arg(&path).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("evil"), "{stdout}");
    assert!(
        !stdout.contains(['\u{1b}', '\u{202e}', '\u{7}']),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Bundle folder names

/// A folder named like a TSS bundle whose stamp ends in a character of several bytes
/// (`TSS_SRV1_240305-12345é_x`): the files in it are read, with no computer named for them.
/// Every file under it had been failed with an internal error (the stamp was sliced as text
/// inside the character), the listing in it not read.
#[test]
fn a_bundle_folder_name_with_a_wide_character_in_its_stamp_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("TSS_SRV1_240305-12345\u{e9}_x");
    std::fs::create_dir_all(&folder).unwrap();
    let text = format!(
        "{HEADER}  TCP    0.0.0.0:3389    0.0.0.0:0    LISTENING    2208\r\n [evil.exe]\r\n"
    );
    std::fs::write(folder.join("netstat.txt"), text).unwrap();
    std::fs::write(folder.join("notes.txt"), "a note\r\n").unwrap();
    let (accounts, code) = summary(&[os(dir.path())], "1");
    let listing = account(&accounts, "/netstat.txt");
    assert_eq!(code, Some(0), "{accounts:?}");
    assert_eq!(listing["status"], "ok", "{listing}");
    assert_eq!(listing["events"], 1, "{listing}");
    let notes = account(&accounts, "/notes.txt");
    assert!(!problems(notes).contains("internal error"), "{notes}");
    assert_eq!(
        sockets(&folder.join("netstat.txt")),
        [("TCP".into(), 3389, Some(2208), "evil.exe".into())]
    );
}
