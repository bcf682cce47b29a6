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

#[test]
fn rules_list_check_and_test() {
    let out = rdtriage().args(["rules", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for id in [
        "anchor-0x904",
        "cert-rcm-self-signed",
        "tls-fatal-alert-sent",
        "fw-rdp-blocked",
    ] {
        assert!(text.contains(id), "{id} missing from rules list");
    }
    let out = rdtriage().args(["rules", "test"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout).unwrap().contains(" 0 failed"));

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("mine.rdt");
    std::fs::write(
        &good,
        r#"rule my-netlogon {
    title: "Netlogon trouble"
    cause: network
    strength: weak
    when: provider == "NETLOGON" and event_id == 5719
    evidence: "NETLOGON 5719 on {computer}"
    remediation: "Check the domain controller is reachable."
    example match evtx { provider: "NETLOGON", event_id: 5719 }
    example nomatch evtx { provider: "NETLOGON", event_id: 5720 }
}
"#,
    )
    .unwrap();
    let out = rdtriage()
        .args(["rules", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("mine.rdt: 1 rule OK")
    );

    // A broken example makes `rules test` fail; a syntax error makes `rules check` fail
    // with file, line and column.
    let failing = dir.path().join("failing.rdt");
    std::fs::write(
        &failing,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace("event_id: 5719 }", "event_id: 1 }"),
    )
    .unwrap();
    let out = rdtriage()
        .args(["rules", "test"])
        .arg(&failing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("my-netlogon")
    );
    let bad = dir.path().join("bad.rdt");
    std::fs::write(&bad, "rule x {\n    when: event_id => 3\n}\n").unwrap();
    let out = rdtriage()
        .args(["rules", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.rdt:2:"), "{err}");
    assert!(err.contains('^'), "{err}");
    // --rules on scan with a duplicate of a built-in id is refused.
    let dup = dir.path().join("dup.rdt");
    std::fs::write(
        &dup,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace("my-netlogon", "anchor-0x904"),
    )
    .unwrap();
    let out = rdtriage()
        .args(["scan", "--rules"])
        .arg(&dup)
        .arg(fixtures().join("evtx"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn scan_json_follows_the_schema_strictly() {
    let out = rdtriage()
        .args(["scan", "--format", "json"])
        .arg(fixtures().join("evtx"))
        .arg(fixtures().join("procmon/default-crlf-bom.csv"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: rdtriage::report::schema::ScanReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.schema, rdtriage::report::schema::SCHEMA);
    assert_eq!(report.inputs.len(), 4);
    assert!(report.disconnects.is_empty());
    assert!(
        report.verdict.starts_with("No 0x904 disconnect was found"),
        "{}",
        report.verdict
    );
    // The Procmon fixture's MEDIA WRITE PROTECTED write is folklore: weak at most.
    let ad = report
        .causes
        .iter()
        .find(|c| c.cause == "access-denied")
        .expect("access-denied finding");
    assert!(ad.confidence >= rdtriage::report::schema::Confidence::Low);
    assert!(ad.findings.iter().all(|f| f.strength == "weak"));
}

#[test]
fn fail_on_gates_on_confidence() {
    let args = |level: &str| {
        let mut cmd = rdtriage();
        cmd.args(["scan", "--format", "json", "--fail-on", level])
            .arg(fixtures().join("procmon/default-crlf-bom.csv"));
        cmd.output().unwrap().status.code()
    };
    // The fixture's best cause is low (weak folklore evidence).
    assert_eq!(args("low"), Some(1));
    assert_eq!(args("high"), Some(0));
    assert_eq!(args("context"), Some(1));
}
