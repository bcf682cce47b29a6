//! Hostile input, round thirteen: the registry, ACL and certificate readers. Lines ended by a
//! CR alone (a listing not recognised, or two lines glued into one and the second lost),
//! UTF-16LE text without its byte-order mark, and what their damaged lines lose. Inputs are
//! built here, small, in a temporary folder; every command has a time limit.

use serde_json::Value;

use crate::common::{account, problems};

use super::os;
use super::shared::{
    CERT_HEAD, REG_HEAD, acl_rules, cert_rows, reg_values, summary_on as summary, utf16le as utf16,
};
use crate::common::rdtriage_threads as rdtriage;

/// The events `dump --format jsonl` gives for `path`.
fn events(path: &std::path::Path) -> Vec<Value> {
    let out = rdtriage("1")
        .args(["dump", "--format", "jsonl"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The one account of `dump --summary` of `path`, with the exit code.
fn summary_of(path: &std::path::Path) -> (Value, Option<i32>) {
    let (accounts, code) = summary(&[os(path)], "1");
    let name = path.file_name().unwrap().to_str().unwrap();
    (account(&accounts, &format!("/{name}")).clone(), code)
}

/// Format, status, events and errors of an account.
fn shape(acc: &Value) -> (String, String, u64, u64) {
    (
        acc["format"].as_str().unwrap().to_string(),
        acc["status"].as_str().unwrap().to_string(),
        acc["events"].as_u64().unwrap(),
        acc["errors"].as_u64().unwrap_or(0),
    )
}

fn s(format: &str, status: &str, events: u64, errors: u64) -> (String, String, u64, u64) {
    (format.into(), status.into(), events, errors)
}

// ---------------------------------------------------------------------------------------------
// 1. Lines ended by a CR alone

/// A registry export, an ACL dump and a certificate listing (the CSV and certutil's dump)
/// whose lines all end in a CR alone are read as what they are, every value, rule and
/// certificate in them. The export and the ACL dump were one line to their readers and not
/// recognised; the certificate CSV was recognised and read as its header alone, no
/// certificate in it and the account saying it was read fully; certutil's dump was not
/// recognised.
#[test]
fn listings_whose_lines_end_in_a_cr_alone_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let certutil = "MY \"Personal\"\r\n================ Certificate 0 ================\r\nSubject: CN=rds01\r\n NotAfter: 2030-01-02 03:04:05\r\nCert Hash(sha1): 0123456789abcdef0123456789abcdef01234567\r\nCertUtil: -store command completed successfully.\r\n";
    let cases = [
        (
            "export.reg",
            format!("{REG_HEAD}{}", reg_values("RCM", 3)),
            s("reg-export", "ok", 3, 0),
        ),
        ("acl.txt", acl_rules("x", 3), s("acl-dump", "ok", 3, 0)),
        (
            "certs.csv",
            format!("{CERT_HEAD}{}", cert_rows(1, 2)),
            // The store's own event and two per certificate.
            s("cert-listing", "ok", 5, 0),
        ),
        (
            "H_Certificates-My.txt",
            certutil.to_string(),
            s("cert-listing", "ok", 3, 0),
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text.replace("\r\n", "\r")).unwrap();
        let (acc, code) = summary_of(&path);
        assert_eq!(shape(&acc), expected, "{name}: {acc}");
        assert_eq!(code, Some(0), "{name}: {acc}");
    }
}

/// A CR alone inside a CRLF registry export, after a key line and inside a run of values,
/// ends a line: the value after it is read under its key. The value after the key line was
/// dropped in silence (read as text after the key's `]`), the one after a value made that
/// value a bad dword; the account said the file was read fully.
#[test]
fn a_cr_alone_inside_a_registry_export_ends_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rcm.reg");
    let text = format!(
        "{REG_HEAD}[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp]\r\"PortNumber\"=dword:00000d3d\r\n\"MinEncryptionLevel\"=dword:00000002\r\"SecurityLayer\"=dword:00000000\r\n"
    );
    std::fs::write(&path, text).unwrap();
    let (acc, code) = summary_of(&path);
    assert_eq!(shape(&acc), s("reg-export", "ok", 3, 0), "{acc}");
    assert_eq!(code, Some(0));
    let got: Vec<(String, String)> = events(&path)
        .iter()
        .map(|e| {
            assert!(e["key"].as_str().unwrap().ends_with("\\RDP-Tcp"), "{e}");
            (
                e["value_name"].as_str().unwrap().to_string(),
                e["value_data"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("PortNumber", "3389"),
        ("MinEncryptionLevel", "2"),
        ("SecurityLayer", "0"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, expected);
}

/// A CR alone inside a CRLF ACL dump, between two access rules of one `Access :` list, ends
/// a line: both rules are read, the Deny one too. The second rule was glued to the first as
/// its rights (`Read\r  CONTOSO\bob Deny  FullControl`), the Deny lost, the account saying
/// the file was read fully.
#[test]
fn a_cr_alone_inside_an_acl_dump_ends_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acl.txt");
    let text = "Path   : Microsoft.PowerShell.Core\\FileSystem::C:\\keys\r\nAccess : CONTOSO\\alice Allow  Read\r         CONTOSO\\bob Deny  FullControl\r\n         NT AUTHORITY\\SYSTEM Allow  FullControl\r\n\r\n";
    std::fs::write(&path, text).unwrap();
    let (acc, code) = summary_of(&path);
    assert_eq!(shape(&acc), s("acl-dump", "ok", 3, 0), "{acc}");
    assert_eq!(code, Some(0));
    let got: Vec<(String, String, String)> = events(&path)
        .iter()
        .map(|e| {
            (
                e["identity"].as_str().unwrap().to_string(),
                e["access"].as_str().unwrap().to_string(),
                e["rights"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("CONTOSO\\alice", "Allow", "Read"),
        ("CONTOSO\\bob", "Deny", "FullControl"),
        ("NT AUTHORITY\\SYSTEM", "Allow", "FullControl"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(i, a, r)| (i.to_string(), a.to_string(), r.to_string()))
        .collect();
    assert_eq!(got, expected);
}

// ---------------------------------------------------------------------------------------------
// 2. UTF-16LE without its byte-order mark

const NETSTAT_HEAD: &str =
    "  Proto  Local Address          Foreign Address        State           PID\r\n";

/// A socket line on `port` held by `pid`.
fn socket(port: u16, pid: u32) -> String {
    format!("  TCP    0.0.0.0:{port:<5}          0.0.0.0:0              LISTENING       {pid}\r\n")
}

/// A netstat listing, a registry export and an ACL dump each written as UTF-16LE without a
/// byte-order mark, then UTF-8 appended within their first 512 bytes: each is read as what it
/// is, up to where the encoding changes, and accounted read partly, naming the byte. The
/// netstat listing was read as UTF-8 and said to switch to UTF-16LE "from byte 0", no socket
/// read; the export and the dump were not recognised.
#[test]
fn utf16le_without_its_mark_then_utf8_is_read_up_to_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "netstat.txt",
            format!("{NETSTAT_HEAD}{}", socket(3389, 2208)),
            format!("{}{}", socket(135, 1012), socket(445, 4)),
            s("netstat-listing", "partial", 1, 0),
        ),
        (
            "export.reg",
            format!("{REG_HEAD}{}", reg_values("RCM", 2)),
            reg_values("WinStations", 3),
            s("reg-export", "partial", 2, 0),
        ),
        (
            "acl.txt",
            acl_rules("first", 2),
            acl_rules("second", 3),
            s("acl-dump", "partial", 2, 0),
        ),
    ];
    for (name, first, second, expected) in cases {
        let first16 = utf16(&first);
        assert!(first16.len() < 512, "{name}: {}", first16.len());
        let path = dir.path().join(name);
        std::fs::write(&path, [first16.clone(), second.into_bytes()].concat()).unwrap();
        let (acc, code) = summary_of(&path);
        assert_eq!(shape(&acc), expected, "{name}: {acc}");
        assert_eq!(code, Some(3), "{name}: {acc}");
        let why = format!(
            "from byte {} on, the text is UTF-8 and no longer UTF-16LE as before it",
            first16.len()
        );
        assert!(problems(&acc).contains(&why), "{name}: {why}\n{acc}");
    }
}

/// A netstat listing and a registry export in UTF-16LE without a byte-order mark, whose first
/// 512 bytes are mostly Cyrillic (a Russian netstat's header, values in Russian), are read
/// whole. They were not recognised: too few of their first bytes were ASCII for their
/// encoding to be told.
#[test]
fn utf16le_without_its_mark_in_another_script_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let netstat = format!(
        "\r\nАктивные подключения\r\n\r\n  Имя    Локальный адрес        Внешний адрес          Состояние       PID\r\n{}  Служба\r\n [svchost.exe]\r\n{}",
        socket(3389, 1164),
        socket(135, 1012)
    );
    let mut export = format!("{REG_HEAD}[HKEY_CURRENT_USER\\Software\\Программа\\Настройки]\r\n");
    for k in 0..4 {
        export.push_str(&format!(
            "\"Параметр{k}\"=\"Значение параметра номер {k}\"\r\n"
        ));
    }
    for (name, text, expected) in [
        ("netstat.txt", netstat, s("netstat-listing", "ok", 2, 0)),
        ("ru.reg", export, s("reg-export", "ok", 4, 0)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, utf16(&text)).unwrap();
        let (acc, code) = summary_of(&path);
        assert_eq!(shape(&acc), expected, "{name}: {acc}");
        assert_eq!(code, Some(0), "{name}: {acc}");
    }
    let values: Vec<String> = events(&dir.path().join("ru.reg"))
        .iter()
        .map(|e| e["value_data"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(values[3], "Значение параметра номер 3");
}

/// A netstat listing, a registry export, an ACL dump and a certutil listing in UTF-16
/// big-endian without a byte-order mark (not read) are refused with advice naming how to
/// list each again, in a bundle folder too. The advice named Process Monitor and Event
/// Viewer, which write none of them; in a bundle folder it said nothing of the encoding.
#[test]
fn unread_utf16_listings_are_told_how_to_list_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("MSRD-Results-SRV1/SRV1_Networking");
    std::fs::create_dir_all(&folder).unwrap();
    let be = |t: &str| -> Vec<u8> { t.encode_utf16().flat_map(u16::to_be_bytes).collect() };
    let netstat = format!("{NETSTAT_HEAD}{}", socket(3389, 2208));
    let cases = [
        (
            dir.path().join("listing.txt"),
            be(&netstat),
            "`netstat -anob > netstat.txt`",
        ),
        (
            folder.join("SRV1_Netstat.txt"),
            be(&format!("{netstat}\r\n")),
            "`netstat -anob > netstat.txt`",
        ),
        (
            dir.path().join("export.reg"),
            be(&format!("{REG_HEAD}{}", reg_values("RCM", 1))),
            "`reg export <key> <file>.reg`",
        ),
        (
            dir.path().join("perm.txt"),
            be(&acl_rules("x", 2)),
            "`Get-Acl <path> | Format-List",
        ),
        (
            dir.path().join("store.txt"),
            be(
                "MY \"Personal\"\r\n================ Certificate 0 ================\r\nCert Hash(sha1): 0123456789abcdef0123456789abcdef01234567\r\n",
            ),
            "`certutil -store",
        ),
    ];
    for (path, bytes, _) in &cases {
        std::fs::write(path, bytes).unwrap();
    }
    let (accounts, _) = summary(&[os(dir.path())], "1");
    for (path, _, command) in &cases {
        let name = path.file_name().unwrap().to_str().unwrap();
        let acc = account(&accounts, &format!("/{name}"));
        let why = problems(acc);
        assert!(
            why.contains("UTF-16 (big-endian) text without a byte-order mark"),
            "{name}: {why}"
        );
        assert!(why.contains(command), "{name}: {command}\n{why}");
        assert!(
            !why.contains("Process Monitor and Event Viewer"),
            "{name}: {why}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. What damaged lines lose

/// A registry value whose hex data ends in `\` with a key line after it (a line lost between
/// them): the value is a line error, and the key line and the values under it are read as
/// theirs. The key line was taken into the value as its data, the values under it read under
/// the key before it: RDP-Tcp's PortNumber reported as a value of another key.
#[test]
fn a_registry_value_continued_by_a_key_line_does_not_take_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rdp.reg");
    let text = format!(
        "{REG_HEAD}[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]\r\n\"Blob\"=hex:01,02,\\\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp]\r\n\"PortNumber\"=dword:00000d3d\r\n\"Hash\"=hex:0a,0b,\\\r\n  0c,0d\r\n"
    );
    std::fs::write(&path, text).unwrap();
    let (acc, code) = summary_of(&path);
    assert_eq!(shape(&acc), s("reg-export", "partial", 2, 1), "{acc}");
    assert_eq!(code, Some(3));
    assert!(
        problems(&acc).contains("line 4: a value continued over lines (\\ at a line's end) by a line that is not hex data"),
        "{acc}"
    );
    let got: Vec<(String, String, String)> = events(&path)
        .iter()
        .map(|e| {
            (
                e["key"]
                    .as_str()
                    .unwrap()
                    .rsplit('\\')
                    .next()
                    .unwrap()
                    .to_string(),
                e["value_name"].as_str().unwrap().to_string(),
                e["value_data"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("RDP-Tcp", "PortNumber", "3389"),
        ("RDP-Tcp", "Hash", "0a0b0c0d"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(k, n, d)| (k.to_string(), n.to_string(), d.to_string()))
        .collect();
    assert_eq!(got, expected);
}

/// An ACL dump of many objects is read object by object: its peak memory stays within a few
/// times its size. Every object had been kept until the dump's end (a 100 MB dump of 2 million
/// one-rule objects peaked at 1.4 GB, 13 times its size).
#[test]
fn an_acl_dump_of_many_objects_is_read_in_bounded_memory() {
    const OBJECTS: usize = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("RDS01_ACL-many.txt");
    let mut text = String::with_capacity(OBJECTS * 100);
    for i in 0..OBJECTS {
        text.push_str(&format!(
            "Path   : Microsoft.PowerShell.Core\\FileSystem::C:\\keys\\{i}\r\nAccess : NT AUTHORITY\\SYSTEM Allow  FullControl\r\n\r\n"
        ));
    }
    std::fs::write(&path, &text).unwrap();
    let (_, _, base) = super::shared::peak_rss("1", &[os("rules"), os("list")]);
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
    assert_eq!(code, Some(0), "{accounts}");
    assert_eq!(
        shape(&accounts[0]),
        s("acl-dump", "ok", OBJECTS as u64, 0),
        "{accounts}"
    );
    if let (Some(kib), Some(base)) = (kib, base) {
        let size_kib = text.len() as u64 / 1024;
        assert!(
            kib <= base + 4 * size_kib,
            "peak {kib} KiB, more than {base} KiB + 4 x its {size_kib} KiB"
        );
    }
}
