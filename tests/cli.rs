//! The binary as a user runs it: a scrubbed environment, exit codes, and output shapes.

mod common;

use assert_cmd::Command;
use common::fixtures;

fn rdtriage() -> Command {
    let mut cmd = Command::cargo_bin("rdtriage").unwrap();
    cmd.env_clear().env("NO_COLOR", "1");
    cmd
}

#[test]
fn dump_summary_json_lists_every_file_and_exits_3_on_unreadable_input() {
    let out = rdtriage()
        .args(["dump", "--summary", "--format", "json"])
        .arg(fixtures())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "missing-columns.csv cannot be read"
    );
    let accounts: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = accounts
        .iter()
        .map(|a| a["file"].as_str().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.ends_with("missing-columns.csv")));
    for a in &accounts {
        for key in ["file", "format", "events", "errors", "status", "problems"] {
            assert!(a.get(key).is_some(), "{key} missing in {a}");
        }
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(
            "missing-columns.csv: not read: a Procmon CSV without the columns 'Path', 'Result'"
        ),
        "{stderr}"
    );
}

#[test]
fn dump_jsonl_has_the_documented_keys_and_exit_0() {
    let out = rdtriage()
        .args(["dump", "--threads", "1"])
        .arg(fixtures().join("evtx/rcm-1149-rdp-logins.evtx"))
        .arg(fixtures().join("procmon/chinese-ampm.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11 + 2);
    let first = &lines[0];
    assert_eq!(first["source"], "evtx");
    assert_eq!(first["event_id"], 1149);
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert!(first["data"].is_object());
    let last = &lines[12];
    assert_eq!(last["source"], "procmon");
    assert_eq!(last["record"], 2);
    assert_eq!(last["time"], serde_json::Value::Null);
    assert_eq!(last["time_of_day"], "13:09:45");
    assert_eq!(last["network"]["remote_port"], 3389);
}

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    let out = rdtriage().args(["dump"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = rdtriage().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = rdtriage().args(["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("3  some inputs could not be read fully"),
        "{help}"
    );
}

#[test]
fn dump_table_escapes_control_characters() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("evil.csv");
    std::fs::write(
        &csv,
        "\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n\"10:00:00\",\"mstsc\u{1b}[2J.exe\",\"1\",\"CreateFile\",\"C:\\x\u{202e}gpj.exe\",\"ACCESS DENIED\",\"\"\r\n",
    )
    .unwrap();
    let out = rdtriage()
        .args(["dump", "--format", "table"])
        .arg(&csv)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(!text.contains('\u{202e}'));
    assert!(text.contains("mstsc\\e[2J.exe"), "{text}");
}
