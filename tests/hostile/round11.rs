//! Hostile input, round eleven: text that changes encoding part way, from or to UTF-16BE (a
//! registry export, an ACL dump or a certificate listing that starts in UTF-16BE kept a part
//! in another encoding as nonsense, the file accounted read fully; UTF-16LE text with UTF-16BE
//! after it likewise; UTF-16BE after UTF-8 was named UTF-16LE, a byte or three late), file
//! names that are not UTF-8 (shown alike, so different files shared one name), and registry,
//! ACL and certificate listings whose memory grew with their bad lines or a row's fields, to
//! 20 to 36 times their size. Inputs are built here in a temporary folder; every command has a
//! time limit.

use serde_json::Value;

use crate::common::{account, problems};

use super::os;
use super::shared::{
    CERT_HEAD, CSV_HEADER, REG_HEAD, acl_rules, cert_rows, reg_values, summary_on as summary,
};
use crate::common::rdtriage_threads as rdtriage;

// ---------------------------------------------------------------------------------------------
// 1. Text whose encoding changes part way, from or to UTF-16BE

/// `text` in `encoding`, with its byte-order mark.
fn encoded(text: &str, encoding: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    match encoding {
        "UTF-8" => bytes.extend_from_slice(format!("\u{feff}{text}").as_bytes()),
        "UTF-16LE" => {
            bytes.extend_from_slice(b"\xFF\xFE");
            bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        }
        _ => {
            bytes.extend_from_slice(b"\xFE\xFF");
            bytes.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        }
    }
    bytes
}

fn csv_rows(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "\"9:14:0{}.1234567 AM\",\"svchost.exe\",\"1100\",\"CreateFile\",\"C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\f686aace_{i}\",\"ACCESS DENIED\",\"Desired Access: Generic Read\"\r\n",
                i % 10
            )
        })
        .collect()
}

fn xml_events(ids: std::ops::Range<u32>) -> String {
    let events: String = ids
        .map(|id| {
            format!(
                "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><Provider Name=\"EventLog\"/><EventID>6013</EventID><TimeCreated SystemTime=\"2024-03-05T10:15:{id:02}.0000000Z\"/><EventRecordID>{id}</EventRecordID><Channel>System</Channel><Computer>SRV01</Computer></System><EventData><Data>{id}</Data></EventData></Event>\r\n"
            )
        })
        .collect();
    format!("<Events>\r\n{events}</Events>\r\n")
}

/// A registry export, an ACL dump and a certificate listing that start in UTF-16BE (with its
/// mark) and go on in UTF-8 or in UTF-16LE; each of them, and a Procmon CSV and an event-log
/// XML export, in UTF-16LE going on in UTF-16BE, and in UTF-8 going on in UTF-16BE. Each keeps
/// the events of its first part (as many as the first part read alone gives) and is accounted
/// read partly, naming the byte where the encoding changes and the encoding found there. The
/// UTF-16BE ones and the UTF-16LE ones were accounted read fully, their second part read as
/// nonsense (or, for a registry export, as a line error that said nothing of why); UTF-16BE
/// after UTF-8 was named UTF-16LE, from a byte past its mark.
#[test]
fn text_that_changes_encoding_from_or_to_utf16be_is_read_partly() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, parts: &[&[u8]]| {
        let path = dir.path().join(name);
        std::fs::write(&path, parts.concat()).unwrap();
        path
    };
    let kinds = [
        (
            "reg",
            "reg-export",
            format!("{REG_HEAD}{}", reg_values("WinStations\\RDP-Tcp", 3)),
            reg_values("RCM", 2),
        ),
        (
            "acl",
            "acl-dump",
            acl_rules("first", 3),
            acl_rules("second", 2),
        ),
        (
            "cert",
            "cert-listing",
            format!("{CERT_HEAD}{}", cert_rows(1, 3)),
            cert_rows(4, 2),
        ),
        (
            "csv",
            "procmon-csv",
            format!("{CSV_HEADER}{}", csv_rows(0, 5)),
            csv_rows(5, 4),
        ),
        ("xml", "event-xml", xml_events(1..4), xml_events(4..6)),
    ];
    let pairs = [
        ("UTF-16BE", "UTF-8"),
        ("UTF-16BE", "UTF-16LE"),
        ("UTF-16LE", "UTF-16BE"),
        ("UTF-8", "UTF-16BE"),
    ];
    let mut checked = 0;
    for (kind, format, first, second) in &kinds {
        for (from, to) in pairs {
            // Process Monitor and event-log XML text in UTF-16BE is refused whole (named in
            // its account, with what to save it as), so only its second part may be.
            if matches!(*kind, "csv" | "xml") && from == "UTF-16BE" {
                continue;
            }
            let name = format!("{kind}-{from}-{to}.txt");
            let head = encoded(first, from);
            let tail = encoded(second, to);
            let alone = write(&format!("alone-{name}"), &[&head]);
            let (accounts, code) = summary(&[os(&alone)], "1");
            assert_eq!(code, Some(0), "{name}: {accounts:?}");
            assert_eq!(accounts[0]["status"], "ok", "{name}: {}", accounts[0]);
            let events = accounts[0]["events"].as_u64().unwrap();
            assert!(events > 0, "{name}: {}", accounts[0]);

            let mixed = write(&name, &[&head, &tail]);
            let (accounts, code) = summary(&[os(&mixed)], "2");
            assert_eq!(code, Some(3), "{name}: {accounts:?}");
            let acc = account(&accounts, &format!("/{name}"));
            assert_eq!(acc["format"], *format, "{name}: {acc}");
            assert_eq!(acc["status"], "partial", "{name}: {acc}");
            assert_eq!(acc["events"], events, "{name}: {acc}");
            assert!(
                problems(acc).contains(&format!(
                    "from byte {} on, the text is {to} and no longer {from} as before it",
                    head.len()
                )),
                "{name}: {acc}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * 4 + 2 * 2);
}

// ---------------------------------------------------------------------------------------------
// 2. File names that are not UTF-8

/// Files whose names hold bytes that are not UTF-8 (what `unzip` makes of the Shift-JIS or
/// CP1252 names of a zip made on Windows), beside a file really named with U+FFFD: each is
/// accounted under its own name, every such byte shown `\xNN`, in the table and on stderr too,
/// and named on the command line it is shown the same. Each such byte was shown U+FFFD, so the
/// three were accounted as `a\u{FFFD}.evtx`, `#2` and `#3`, in an order no one could map back to
/// the files.
#[cfg(unix)]
#[test]
fn file_names_that_are_not_utf8_are_shown_apart_byte_for_byte() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("ticket");
    std::fs::create_dir(&folder).unwrap();
    let names: [(&[u8], &str, &[u8]); 4] = [
        (b"a\xFF.evtx", "a\\xFF.evtx", b"ElfFile\0one"),
        (b"a\xFE.evtx", "a\\xFE.evtx", b"ElfFile\0two!"),
        (b"a\xEF\xBF\xBD.evtx", "a\u{FFFD}.evtx", b"ElfFile\0three"),
        // Shift-JIS for ログ (log): 83 8D 83 4F; 0x8D and 0x4F after 0x83 are not UTF-8.
        (
            b"\x83\x8D\x83\x4F.csv",
            "\\x83\\x8D\\x83O.csv",
            b"not a log",
        ),
    ];
    for (bytes, _, content) in names {
        std::fs::write(folder.join(std::ffi::OsStr::from_bytes(bytes)), content).unwrap();
    }
    let (accounts, code) = summary(&[os(&folder)], "2");
    assert_eq!(code, Some(3), "{accounts:?}");
    assert_eq!(accounts.len(), names.len(), "{accounts:#?}");
    for (_, shown, _) in names {
        let acc = account(&accounts, &format!("/ticket/{shown}"));
        assert!(!acc["file"].as_str().unwrap().contains('#'), "{acc}");
    }
    let out = rdtriage("1")
        .args(["scan", "--width", "200"])
        .arg(&folder)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    for shown in ["a\\xFF.evtx", "a\\xFE.evtx"] {
        assert!(stdout.contains(&format!("ticket/{shown} ")), "{stdout}");
        assert!(
            stderr.contains(&format!("ticket/{shown}: not read")),
            "{stderr}"
        );
    }
    // Named on the command line itself, the same.
    let named = folder.join(std::ffi::OsStr::from_bytes(b"a\xFF.evtx"));
    let (accounts, code) = summary(&[os(&named)], "1");
    assert_eq!(code, Some(3));
    assert!(
        accounts[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("/ticket/a\\xFF.evtx"),
        "{accounts:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Line listings whose every line is bad, or whose one row is millions of fields

/// A registry export, an ACL dump and a certificate listing of 24 MB whose every line after
/// the first is bad (12 million one-letter lines), and a certificate listing whose one row is
/// 24 million tabs: each is read within a few times its size (the file, its text and what the
/// reader keeps), its account counting every bad line and listing the first five. Every bad
/// line had been kept until the account was written (0.5 to 0.9 GB for each of the first
/// three), and the row split into 24 million empty fields (0.6 GB). A netstat listing of 3
/// million broken socket lines is held to the same bound.
#[test]
fn listings_of_millions_of_bad_lines_or_fields_stay_within_a_few_times_their_size() {
    const LINES: usize = 12_000_000;
    let dir = tempfile::tempdir().unwrap();
    let junk = "x\n".repeat(LINES);
    let cert_head = "\"Store\"\t\"Thumbprint\"\t\"Subject\"\t\"Issuer\"\t\"NotAfter\"\r\n";
    let cert_row = format!(
        "\"My\"\t\"{}\"\t\"CN=host.contoso.com\"\t\"CN=Contoso CA\"\t\"2030-01-01 00:00:00\"\r\n",
        "ab".repeat(20)
    );
    let files = [
        (
            "junk.reg",
            format!("{REG_HEAD}{junk}"),
            LINES as u64,
            "line 3: a value before any key line",
        ),
        (
            "junk-acl.txt",
            format!("{}{junk}", acl_rules("first", 1)),
            LINES as u64,
            "line 4: not part of an ACL listing: x",
        ),
        (
            "junk-cert.txt",
            format!("{cert_head}{cert_row}{junk}"),
            LINES as u64,
            "line 3: not a SHA-1 thumbprint",
        ),
        (
            "junk-netstat.txt",
            format!(
                "  Proto  Local Address  Foreign Address  State  PID\r\n{}",
                "  TCP    a:1  x\r\n".repeat(LINES / 4)
            ),
            (LINES / 4) as u64,
            "line 2: a socket line whose foreign address is not host:port (x)",
        ),
        (
            "tabs-cert.txt",
            format!(
                "{cert_head}{cert_row}x{}\r\n{cert_row}",
                "\t".repeat(2 * LINES)
            ),
            1,
            "line 3: not a SHA-1 thumbprint",
        ),
    ];
    let (_, _, base) =
        super::shared::peak_rss("1", &[os("dump"), os("--summary"), os(&fixture_reg(&dir))]);
    let mut over = Vec::new();
    for (name, text, errors, first) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, &text).unwrap();
        let (code, stdout, kib) = super::shared::peak_rss(
            "1",
            &[
                os("dump"),
                os("--summary"),
                os("--format"),
                os("json"),
                os(&path),
            ],
        );
        let accounts: Value = serde_json::from_slice(&stdout).unwrap();
        let acc = &accounts[0];
        assert_eq!(code, Some(3), "{name}: {acc}");
        assert_eq!(acc["errors"], errors, "{name}: {acc}");
        assert!(problems(acc).starts_with(first), "{name}: {acc}");
        if let (Some(kib), Some(base)) = (kib, base) {
            let size_kib = text.len() as u64 / 1024;
            if kib > base + 5 * size_kib {
                over.push(format!(
                    "{name}: peak {kib} KiB, more than {base} KiB + 5 x its {size_kib} KiB"
                ));
            }
        }
    }
    assert!(over.is_empty(), "{over:#?}");
}

/// A one-value registry export in `dir`: what the binary costs before a large input does.
fn fixture_reg(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("small.reg");
    std::fs::write(&path, format!("{REG_HEAD}{}", reg_values("RCM", 1))).unwrap();
    path
}
