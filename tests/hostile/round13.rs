//! Hostile input, round thirteen: the registry, ACL and certificate readers. Lines ended by a
//! CR alone (a listing not recognised, or two lines glued into one and the second lost),
//! UTF-16LE text without its byte-order mark, and what their damaged lines lose. Inputs are
//! built here, small, in a temporary folder; every command has a time limit.

use serde_json::Value;

use crate::common::account;

use super::os;
use super::shared::{CERT_HEAD, REG_HEAD, acl_rules, cert_rows, reg_values, summary_on as summary};
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
