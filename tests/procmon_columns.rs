//! A Procmon CSV's other columns (`column.*`) in `scan`, `batch` and `timeline` (issue 15):
//! `scan` and `batch` build only the columns their rules read, so a user rule that reads one, in
//! its condition, its evidence or an aggregation's `by`, must still see it; `timeline`, which
//! lists rows, keeps every column.

use std::path::Path;

/// A capture with more columns than any rule reads; the second row is the one the rule wants.
const CSV: &str = "\u{FEFF}\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\",\"Integrity\",\"User\",\"Command Line\",\"Session\",\"Company\"\r\n\
\"9:14:05.0000000 AM\",\"mstsc.exe\",\"4242\",\"ReadFile\",\"C:\\a.txt\",\"SUCCESS\",\"\",\"Medium\",\"alice\",\"mstsc.exe\",\"1\",\"Microsoft Corporation\"\r\n\
\"9:14:06.0000000 AM\",\"mstsc.exe\",\"4243\",\"ReadFile\",\"C:\\b.txt\",\"SUCCESS\",\"\",\"Low\",\"bob\",\"mstsc.exe /v:rds01\",\"7\",\"Microsoft Corporation\"\r\n";

/// Reads `Integrity` in its condition, `User` and `Command Line` only in its evidence, and
/// `Session` only in its aggregation's `by`.
const RULE: &str = r#"rule my-low-integrity-client {
    title: "A Remote Desktop client at low integrity"
    cause: access-denied
    strength: weak
    when: source == "procmon" and column.Integrity == "Low"
    aggregate: count >= 1 within 60s by column.Session
    evidence: "low integrity: user {column.User}, session {column.Session}, run as {column[Command Line]}"
    remediation: "Run the client at medium integrity."
    example match procmon { process: "mstsc.exe", column.Integrity: "Low", column.Session: "1" }
    example nomatch procmon { process: "mstsc.exe", column.Integrity: "Medium" }
}
"#;

fn rdtriage(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = crate::common::run_in(dir, args);
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A folder holding `ticket/capture.csv` and `mine.rdt`.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ticket")).unwrap();
    std::fs::write(dir.path().join("ticket/capture.csv"), CSV).unwrap();
    std::fs::write(dir.path().join("mine.rdt"), RULE).unwrap();
    dir
}

const EVIDENCE: &str = "low integrity: user bob, session 7, run as mstsc.exe /v:rds01";

#[test]
fn scan_a_user_rule_reading_columns_sees_them() {
    let dir = setup();
    for (_, text) in crate::common::scan_with_rules(dir.path(), "mine.rdt", "ticket") {
        assert!(text.contains("my-low-integrity-client"), "{text}");
        assert!(text.contains(EVIDENCE), "{text}");
        // The medium-integrity row did not match: the condition read the column per row.
        assert!(!text.contains("user alice"), "{text}");
    }
}

#[test]
fn batch_a_user_rule_reading_columns_sees_them() {
    let dir = setup();
    let tickets = dir.path().join("tickets");
    std::fs::create_dir(&tickets).unwrap();
    std::fs::rename(dir.path().join("ticket"), tickets.join("t1")).unwrap();
    let args = [
        "batch", "tickets", "--rules", "mine.rdt", "--out", "out", "--format", "jsonl",
    ];
    let (code, _, err) = rdtriage(&args, dir.path());
    assert!(matches!(code, 0 | 4), "{code}: {err}");
    let reports: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let text = std::fs::read_to_string(&reports[0]).unwrap();
    assert!(text.contains(EVIDENCE), "{text}");
}

#[test]
fn timeline_keeps_every_column() {
    let dir = setup();
    let args = ["timeline", "--all", "--format", "jsonl", "ticket"];
    let (code, out, err) = rdtriage(&args, dir.path());
    assert!(matches!(code, 0 | 4), "{code}: {err}");
    let row = out
        .lines()
        .find(|l| l.contains("C:\\\\b.txt"))
        .unwrap_or_else(|| panic!("no row for b.txt in {out}"));
    let line: serde_json::Value = serde_json::from_str(row).unwrap();
    let columns = &line["columns"];
    for (name, value) in [
        ("Integrity", "Low"),
        ("User", "bob"),
        ("Command Line", "mstsc.exe /v:rds01"),
        ("Session", "7"),
        ("Company", "Microsoft Corporation"),
    ] {
        assert_eq!(columns[name], value, "{name} in {row}");
    }
}

/// The same two rows as a native capture: a PML's reader builds only the columns the rules
/// read too, from its process table, so the rule sees them there as well.
#[test]
fn scan_a_user_rule_reading_columns_of_a_pml_sees_them() {
    use crate::support::pml_writer::*;
    let process = |pid: u32, integrity: &str, user: &str, command_line: &str| PmlProcess {
        pid,
        parent_pid: 4,
        name: "mstsc.exe".into(),
        image: "C:\\Windows\\System32\\mstsc.exe".into(),
        command_line: command_line.into(),
        user: user.into(),
        integrity: integrity.into(),
    };
    let t0 = filetime("2024-03-05T09:14:05Z");
    let read = |process: u32, time: u64, path: &str| PmlEvent {
        process,
        tid: 7,
        time,
        duration: 10,
        status: 0,
        detail: PmlDetail::ReadFile {
            path: path.into(),
            offset: 0,
            length: 16,
        },
    };
    let capture = PmlCapture {
        computer: "WS-ALICE".into(),
        processes: vec![
            process(4242, "Medium", "alice", "mstsc.exe"),
            process(4243, "Low", "bob", "mstsc.exe /v:rds01"),
        ],
        events: vec![
            read(0, t0, "C:\\a.txt"),
            read(1, t0 + 10_000_000, "C:\\b.txt"),
        ],
        ..PmlCapture::default()
    };
    let dir = setup();
    std::fs::remove_file(dir.path().join("ticket/capture.csv")).unwrap();
    std::fs::write(dir.path().join("ticket/capture.pml"), write(&capture)).unwrap();
    for (_, text) in crate::common::scan_with_rules(dir.path(), "mine.rdt", "ticket") {
        // The writer's processes are all in session 0.
        let evidence = "low integrity: user bob, session 0, run as mstsc.exe /v:rds01";
        assert!(text.contains(evidence), "{text}");
        assert!(!text.contains("user alice"), "{text}");
    }
}
