//! Hostile input, round ten: what a reader was not yet asked. A registry export, an ACL dump
//! and a certificate listing whose text changes encoding part way (their second part read as
//! nonsense, the account quoting it without saying why), and a format recognised only to be
//! refused (a Procmon stack export, an Event Viewer CSV) named on the command line (skipped
//! with exit 0, as if unnamed). Inputs are built here, small, in a temporary folder; every
//! command has a time limit.

use serde_json::Value;

use crate::common::{account, fixtures, problems};

use super::os;
use super::shared::{
    CERT_HEAD, REG_HEAD, acl_rules, cert_rows, reg_values, summary_on as summary, utf16le as utf16,
};
use crate::common::rdtriage_threads as rdtriage;

// ---------------------------------------------------------------------------------------------
// 1. Registry, ACL and certificate text whose encoding changes part way

/// A registry export, an ACL dump and a certificate listing, each UTF-16LE (with its mark, as
/// `reg export` and `Out-File` write) with UTF-8 text appended, and each the other way round.
/// Each keeps the events of its first part (as many as the first part read alone gives) and is
/// accounted read partly, naming the byte where the encoding changes, with the text the
/// Procmon and event-log XML readers give; it was accounted read fully, its second part read
/// as nonsense.
#[test]
fn registry_acl_and_certificate_text_that_changes_encoding_is_read_partly() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, parts: &[&[u8]]| {
        let path = dir.path().join(name);
        std::fs::write(&path, parts.concat()).unwrap();
        path
    };
    let kinds = [
        (
            "reg",
            format!("{REG_HEAD}{}", reg_values("WinStations\\RDP-Tcp", 3)),
            reg_values("RCM", 2),
        ),
        ("acl", acl_rules("first", 3), acl_rules("second", 2)),
        (
            "cert",
            format!("{CERT_HEAD}{}", cert_rows(1, 3)),
            cert_rows(4, 2),
        ),
    ];
    for (kind, first, second) in &kinds {
        let first16 = [&b"\xFF\xFE"[..], &utf16(first)].concat();
        let first8 = format!("\u{feff}{first}").into_bytes();
        let second8 = second.clone().into_bytes();
        let second16 = [&b"\xFF\xFE"[..], &utf16(second)].concat();
        for (name, head, tail, from, to) in [
            (
                format!("{kind}16.txt"),
                &first16,
                &second8,
                "UTF-16LE",
                "UTF-8",
            ),
            (
                format!("{kind}8.txt"),
                &first8,
                &second16,
                "UTF-8",
                "UTF-16LE",
            ),
        ] {
            let alone = write(&format!("alone-{name}"), &[head]);
            let (accounts, code) = summary(&[os(&alone)], "1");
            assert_eq!(code, Some(0), "{name}: {accounts:?}");
            assert_eq!(accounts[0]["status"], "ok", "{name}: {}", accounts[0]);
            let events = accounts[0]["events"].as_u64().unwrap();
            assert!(events > 0, "{name}: {}", accounts[0]);

            let mixed = write(&name, &[head, tail]);
            let (accounts, code) = summary(&[os(&mixed)], "2");
            assert_eq!(code, Some(3), "{name}: {accounts:?}");
            let acc = account(&accounts, &name);
            assert_eq!(acc["format"], accounts_format(kind), "{acc}");
            assert_eq!(acc["status"], "partial", "{acc}");
            assert_eq!(acc["events"], events, "{acc}");
            assert!(
                problems(acc).contains(&format!(
                    "from byte {} on, the text is {to} and no longer {from} as before it",
                    head.len()
                )),
                "{acc}"
            );
        }
    }
}

/// The format name an account gives each kind of file above.
fn accounts_format(kind: &str) -> &'static str {
    match kind {
        "reg" => "reg-export",
        "acl" => "acl-dump",
        _ => "cert-listing",
    }
}

// ---------------------------------------------------------------------------------------------
// 2. A format refused by name (a Procmon stack export, an Event Viewer CSV) named directly

const EVENT_VIEWER_CSV: &str = "Level,Date and Time,Source,Event ID,Task Category\r\nInformation,3/5/2024 10:15:00 AM,EventLog,6013,None,The system uptime is 100 seconds.\r\n";

/// A Procmon stack export and an Event Viewer CSV export named on the command line beside a
/// ticket: each is accounted not read, with its advice (what to give instead) as the why, and
/// the run exits 3 (some input named was not analysed), as a file of unknown content named
/// there is. They were only skipped, the run exiting 0 as if they had not been named. Found in
/// a folder, the same files are still only skipped.
#[test]
fn a_refused_format_named_on_the_command_line_is_not_read_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("ticket");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::copy(
        fixtures().join("tickets/certificate/server/System.evtx"),
        t.join("System.evtx"),
    )
    .unwrap();
    let stack = dir.path().join("stack.csv");
    std::fs::copy(fixtures().join("procmon/stack-export.csv"), &stack).unwrap();
    let viewer = dir.path().join("viewer.csv");
    std::fs::write(&viewer, EVENT_VIEWER_CSV).unwrap();
    let refused = [
        (
            "/stack.csv",
            "procmon-stack",
            "a Process Monitor stack export (Frame, Module, Location, Address, Path), not an event list",
        ),
        (
            "/viewer.csv",
            "event-viewer-csv",
            "an Event Viewer CSV export (level, time, source, event id and message text only",
        ),
    ];

    let out = rdtriage("2")
        .args(["scan", "--format", "json"])
        .arg(&t)
        .arg(&stack)
        .arg(&viewer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inputs = report["inputs"].as_array().unwrap();
    assert_eq!(account(inputs, "System.evtx")["status"], "ok");
    for (name, format, why) in refused {
        let a = account(inputs, name);
        assert_eq!(
            (&a["status"], &a["format"]),
            (&"failed".into(), &format.into()),
            "{a}"
        );
        assert!(problems(a).contains(why), "{a}");
    }
    assert!(stderr.contains("stack.csv: not read: "), "{stderr}");

    // `dump` alike.
    let (accounts, code) = summary(&[os(&stack)], "1");
    assert_eq!(code, Some(3));
    assert_eq!(accounts[0]["status"], "failed");

    // Found in a folder, they are skipped, as before: nobody named them.
    std::fs::rename(&stack, t.join("stack.csv")).unwrap();
    std::fs::rename(&viewer, t.join("viewer.csv")).unwrap();
    let (accounts, code) = summary(&[os(&t)], "2");
    assert_eq!(code, Some(0));
    for (name, format, why) in refused {
        let a = account(&accounts, name);
        assert_eq!(
            (&a["status"], &a["format"]),
            (&"skipped".into(), &format.into()),
            "{a}"
        );
        assert!(problems(a).contains(why), "{a}");
    }
}
