//! The binary as a user runs it: a scrubbed environment, exit codes, and output shapes.

use crate::common;

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
    // A thread count no machine needs is refused at once, not started (10,000 threads
    // took a minute and ended in a panic).
    let out = rdtriage()
        .args(["--threads", "10000", "scan", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 1024"));
    // A field bound of 0 would refuse every CSV, calling its records "more than 1 fields".
    let out = rdtriage()
        .args(["scan", "--max-csv-fields", "0", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1"));
    // A rule file that is a device (or a FIFO) is refused at once, not read without end.
    let out = rdtriage()
        .args(["rules", "check", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
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
    // The domain the analysis reads is listed too, with where it was declared.
    assert!(
        text.contains("The domain in use, declared at builtin/domain.rdt:"),
        "{text}"
    );
    assert!(
        text.contains("    client disconnect 1026 data.Value"),
        "{text}"
    );
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

    // A file that declares only a domain is checked as one.
    let domain_only = dir.path().join("domain.rdt");
    std::fs::write(
        &domain_only,
        "domain {\n    source client \"X\" as \"C\"\n    client start 1 data.V\n    client transport 2\n    client logon 3\n    client disconnect 4 data.V\n    process \"a.exe\"\n    port rdp 3389\n    procmon connect \"TCP Connect\"\n    procmon disconnect \"TCP Disconnect\"\n}\n",
    )
    .unwrap();
    let out = rdtriage()
        .args(["rules", "check"])
        .arg(&domain_only)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("domain.rdt: the domain and 0 rules OK"),
        "{text}"
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

// ---- Output failures (issue 18, item 6) ----

/// A file opened read-only: writing to it fails (EBADF), like a closed stdout or stderr.
fn unwritable() -> std::process::Stdio {
    std::process::Stdio::from(std::fs::File::open(fixtures().join("README.md")).unwrap())
}

#[test]
fn a_closed_stdout_is_exit_5_and_a_failed_gate_still_exit_1() {
    let ticket = fixtures().join("tickets/certificate");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("rdtriage"))
        .env_clear()
        .arg("scan")
        .arg(&ticket)
        .stdout(unwritable())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("rdtriage: <stdout>: cannot write"), "{err}");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("rdtriage"))
        .env_clear()
        .args(["scan", "--fail-on", "high"])
        .arg(&ticket)
        .stdout(unwritable())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the gate wins over the output");
}

#[test]
fn an_unwritable_stderr_loses_no_report() {
    for args in [
        vec!["batch", "--format", "jsonl"],
        vec!["scan", "--format", "json"],
    ] {
        let path = if args[0] == "batch" {
            fixtures().join("tickets")
        } else {
            fixtures().join("misc")
        };
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("rdtriage"))
            .env_clear()
            .args(&args)
            .arg(&path)
            .stderr(unwritable())
            .output()
            .unwrap();
        let code = out.status.code();
        // fixtures/misc holds no Remote Desktop evidence: 4, or 3 for its unreadable files.
        assert!(matches!(code, Some(0 | 3 | 4)), "{args:?}: {code:?}");
        assert!(!out.stdout.is_empty(), "{args:?} wrote its report");
        let text = String::from_utf8(out.stdout).unwrap();
        let docs: Vec<&str> = if args[0] == "scan" {
            vec![&text]
        } else {
            text.lines().collect()
        };
        for doc in docs {
            let _: serde_json::Value =
                serde_json::from_str(doc).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }
}

// ---- Command-line conventions (issue 17) ----

fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_path_that_does_not_exist_is_one_line_and_exit_2() {
    for cmd in ["scan", "timeline", "dump"] {
        let (code, out, err) = run(rdtriage().args([cmd, "no/such/ticket"]));
        assert_eq!(code, Some(2), "{cmd}");
        assert!(out.is_empty(), "{cmd}: no report: {out}");
        assert_eq!(err.lines().count(), 1, "{cmd}: {err}");
        assert!(err.starts_with("rdtriage: no/such/ticket: "), "{err}");
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (code, out, _) = run(rdtriage().args(["completions", shell]));
        assert_eq!(code, Some(0), "{shell}");
        assert!(out.len() > 500, "{shell}: {} bytes", out.len());
        for word in ["rdtriage", "scan", "timeline", "format", "max-zip-bytes"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let (code, _, _) = run(rdtriage().args(["completions", "tcsh"]));
    assert_eq!(code, Some(2));
}

#[test]
fn the_man_page_renders_with_man() {
    let (code, page, _) = run(rdtriage().arg("man"));
    assert_eq!(code, Some(0));
    assert!(page.starts_with(".ie") || page.contains(".TH"), "roff");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rdtriage.1");
    std::fs::write(&file, &page).unwrap();
    let Some(man) = ["/usr/bin/man", "/bin/man"]
        .iter()
        .map(std::path::Path::new)
        .find(|p| p.is_file())
    else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but man is missing: .ci/run installs man-db");
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: man is not installed; the man page was generated but not rendered"
        );
        return;
    };
    let out = std::process::Command::new(man)
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "rdtriage",
        "RDTRIAGE SCAN",
        "--max-zip-bytes",
        "EXIT STATUS",
        "some inputs could not be read fully",
    ] {
        assert!(
            text.contains(want),
            "{want} missing from the rendered page:\n{text}"
        );
    }
    assert!(!text.contains("\\fB"), "roff escapes left unrendered");
}

/// Run `args` in a pseudo-terminal `cols` wide (util-linux `script`); its output.
fn in_terminal(cols: u16, args: &str) -> Option<String> {
    let script = std::path::Path::new("/usr/bin/script");
    if !script.is_file() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: util-linux 'script' is missing: no pseudo-terminal to test the width"
        );
        return None;
    }
    let bin = assert_cmd::cargo::cargo_bin("rdtriage");
    let out = std::process::Command::new(script)
        .args(["-qec"])
        .arg(format!(
            "stty cols {cols} rows 50; {} {args}",
            bin.display()
        ))
        .arg("/dev/null")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).replace('\r', ""))
}

/// The widest table line (the verdict and notes are free text).
fn table_width(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with(['┌', '│', '╞', '└']))
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
}

#[test]
fn tables_fit_the_real_terminal_width() {
    for cols in [100u16, 160] {
        let Some(text) = in_terminal(cols, "scan fixtures/tickets/certificate") else {
            return;
        };
        let widest = table_width(&text);
        assert_eq!(widest, cols as usize, "a {cols}-column terminal:\n{text}");
    }
    // --width wins over the terminal; under 40 is refused.
    let Some(text) = in_terminal(160, "scan --width 90 fixtures/tickets/certificate") else {
        return;
    };
    assert_eq!(table_width(&text), 90);
    for w in ["0", "39", "wide"] {
        let (code, _, err) = run(rdtriage().args(["rules", "list", "--width", w]));
        assert_eq!(code, Some(2), "--width {w}");
        assert!(err.contains("--width"), "{err}");
    }
}

#[test]
fn output_file_is_written_whole_or_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("report.html");
    let (code, out, _) = run(rdtriage()
        .args(["scan", "--format", "html", "--output"])
        .arg(&target)
        .arg(fixtures().join("tickets/certificate")));
    assert_eq!(code, Some(0));
    assert!(out.is_empty(), "the report went to the file");
    let page = std::fs::read_to_string(&target).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    // A run that fails leaves the previous file as it was, and no temporary file behind.
    let (code, _, _) = run(rdtriage()
        .args(["scan", "--output"])
        .arg(&target)
        .arg("no/such/ticket"));
    assert_eq!(code, Some(2));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), page);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // An output that cannot be written names its path and exits 5.
    let (code, _, err) = run(rdtriage()
        .args(["scan", "-o"])
        .arg(dir.path().join("missing-folder/report.txt"))
        .arg(fixtures().join("tickets/certificate")));
    assert_eq!(code, Some(5));
    assert!(
        err.contains("missing-folder/report.txt: cannot write"),
        "{err}"
    );
}

#[test]
fn quiet_prints_nothing_and_keeps_the_exit_code() {
    let (code, out, err) = run(rdtriage()
        .args(["--quiet", "scan", "--fail-on", "high"])
        .arg(fixtures().join("tickets/certificate")));
    assert_eq!(code, Some(1));
    assert!(out.is_empty() && err.is_empty(), "{out}{err}");
    let (code, out, err) = run(rdtriage().args(["dump", "-q"]).arg(fixtures()));
    assert_eq!(code, Some(3), "missing-columns.csv is still unreadable");
    assert!(out.is_empty() && err.is_empty(), "{out}{err}");
}

#[test]
fn color_always_never_and_no_color() {
    let ticket = fixtures().join("tickets/certificate");
    let (_, always, _) = run(rdtriage().args(["scan", "--color", "always"]).arg(&ticket));
    assert!(always.contains("\u{1b}["), "--color always colours");
    let (_, never, _) = run(rdtriage().args(["scan", "--color", "never"]).arg(&ticket));
    assert!(!never.contains('\u{1b}'));
    // NO_COLOR is set by rdtriage(); auto on a pipe is plain anyway.
    let (_, auto, _) = run(rdtriage().arg("scan").arg(&ticket));
    assert!(!auto.contains('\u{1b}'));
}

#[test]
fn help_puts_common_options_first_and_limits_last() {
    let (code, help, _) = run(rdtriage().args(["scan", "--help"]));
    assert_eq!(code, Some(0));
    let at = |h: &str| {
        help.find(h)
            .unwrap_or_else(|| panic!("{h} missing:\n{help}"))
    };
    assert!(at("Options:") < at("--format"));
    assert!(at("--threads") < at("Output:"));
    assert!(at("Output:") < at("Analysis:"));
    assert!(at("Analysis:") < at("Limits on hostile input:"));
    assert!(help.contains("[default: 4GiB]"), "sizes shown with units");
}

#[test]
fn byte_limits_take_units() {
    let ticket = fixtures().join("tickets/certificate");
    let (code, _, _) = run(rdtriage()
        .args([
            "scan",
            "--max-zip-bytes",
            "4GiB",
            "--max-csv-row-bytes",
            "512K",
        ])
        .arg(&ticket));
    assert_eq!(code, Some(0));
    let (code, _, err) = run(rdtriage()
        .args(["scan", "--max-zip-bytes", "4 parsecs"])
        .arg(&ticket));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("4GiB"),
        "the error shows what is expected: {err}"
    );
}

#[test]
fn a_zip_on_stdin_is_a_ticket() {
    let ticket = fixtures().join("tickets/certificate");
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for side in ["client", "server"] {
        for f in std::fs::read_dir(ticket.join(side)).unwrap() {
            let f = f.unwrap().path();
            let name = format!("{side}/{}", f.file_name().unwrap().to_string_lossy());
            entries.push((name, std::fs::read(&f).unwrap()));
        }
    }
    entries.sort();
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let zip = common::zip_of(&refs);
    let out = rdtriage()
        .args(["scan", "--format", "json", "-"])
        .write_stdin(zip)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: rdtriage::report::schema::ScanReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.causes[0].cause, "certificate");
    assert_eq!(report.inputs.len(), entries.len());
    for a in &report.inputs {
        assert!(a.file.starts_with("<stdin>!/"), "{}", a.file);
    }
    // One EVTX on stdin, in a timeline.
    let evtx = std::fs::read(fixtures().join("evtx/rcm-1149-rdp-logins.evtx")).unwrap();
    let out = rdtriage()
        .args(["dump", "-"])
        .write_stdin(evtx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let first: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["file"], "<stdin>");
    // Nothing on stdin is a usage error.
    let (code, _, err) = run(rdtriage().args(["scan", "-"]).write_stdin(Vec::new()));
    assert_eq!(code, Some(2));
    assert!(err.contains("stdin is empty"), "{err}");
    // More than any reader takes: refused naming the flag that set the bound.
    for (flags, named) in [
        (
            ["--max-file-bytes", "1K", "--max-xml-bytes", "2K"],
            "(--max-xml-bytes)",
        ),
        (
            ["--max-file-bytes", "2K", "--max-xml-bytes", "1K"],
            "(--max-file-bytes)",
        ),
    ] {
        let (code, _, err) = run(rdtriage()
            .args(["scan"])
            .args(flags)
            .arg("-")
            .write_stdin(vec![b'x'; 4096]));
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("stdin holds more than 2") && err.contains(named),
            "{err}"
        );
    }
}

/// `scan --format json EXTRA TICKET`'s output, the run asserted to exit 0.
fn scan_json(ticket: &std::path::Path, extra: &[&str]) -> Vec<u8> {
    let out = rdtriage()
        .args(["scan", "--format", "json"])
        .args(extra)
        .arg(ticket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{extra:?}");
    out.stdout
}

/// A window that holds a 0x904 but not its connection's start (a session of two hours)
/// analyses that connection as it was: its server, phase, start and server side are the
/// same as without the window, and so is the verdict.
#[test]
fn a_window_keeps_the_connections_that_end_in_it_whole() {
    let ticket = fixtures().join("tickets/server-sessions");
    let scan = |extra: &[&str]| {
        serde_json::from_slice::<serde_json::Value>(&scan_json(&ticket, extra)).unwrap()
    };
    let the_0x904 = |r: &serde_json::Value| {
        let d = r["disconnects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["is_0x904"] == true)
            .cloned()
            .expect("a 0x904");
        (
            d["server"].clone(),
            d["phase"].clone(),
            d["connection_start"].clone(),
            d["server_side"]["user"].clone(),
        )
    };
    let causes = |r: &serde_json::Value| {
        r["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["cause"].clone(), c["confidence"].clone()))
            .collect::<Vec<_>>()
    };
    let all = scan(&[]);
    // The connection began at 09:20; its 0x904 is at 11:45; the other disconnect at 08:19.
    let window = scan(&["--from", "2024-03-05T11:00:00Z"]);
    assert_eq!(window["disconnects"].as_array().unwrap().len(), 1);
    assert_eq!(the_0x904(&window), the_0x904(&all));
    assert_eq!(the_0x904(&all).0, "RDS01.contoso.com");
    assert_eq!(the_0x904(&all).3, "alice");
    assert_eq!(causes(&window), causes(&all));
}

#[test]
fn from_and_to_bound_the_analysis() {
    let ticket = fixtures().join("tickets/certificate");
    let scan = |extra: &[&str]| {
        serde_json::from_slice::<rdtriage::report::schema::ScanReport>(&scan_json(&ticket, extra))
            .unwrap()
    };
    let all = scan(&[]);
    let n904 = |r: &rdtriage::report::schema::ScanReport| {
        r.disconnects.iter().filter(|d| d.is_0x904).count()
    };
    assert_eq!(n904(&all), 2);
    // The first 0x904 is at 09:14:06.020, the second at 09:14:23.550.
    let first = scan(&["--to", "2024-03-05T09:14:10Z"]);
    assert_eq!(n904(&first), 1);
    let second = scan(&["--from", "2024-03-05 09:14:10"]);
    assert_eq!(n904(&second), 1);
    let none = scan(&["--from", "2024-03-06"]);
    assert_eq!(n904(&none), 0);
    let day = scan(&["--from", "2024-03-05", "--to", "2024-03-05"]);
    assert_eq!(n904(&day), 2, "a bare --to date holds that whole day");
    let (code, _, err) = run(rdtriage()
        .args(["timeline", "--from", "2024-03-06", "--to", "2024-03-05"])
        .arg(&ticket));
    assert_eq!(code, Some(2));
    assert!(err.contains("--to is before --from"), "{err}");
    let (code, out, _) = run(rdtriage()
        .args([
            "timeline",
            "--format",
            "jsonl",
            "--to",
            "2024-03-05T09:14:10Z",
        ])
        .arg(&ticket));
    assert_eq!(code, Some(0));
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(t) = v["time"].as_str() {
            assert!(t < "2024-03-05T09:14:10Z", "{t}");
        }
    }
}

#[test]
fn dump_format_json_is_one_json_array() {
    let files = [
        fixtures().join("evtx/rcm-1149-rdp-logins.evtx"),
        fixtures().join("procmon/chinese-ampm.csv"),
    ];
    let (code, jsonl, _) = run(rdtriage().args(["dump", "--threads", "1"]).args(&files));
    assert_eq!(code, Some(0));
    let (code, json, _) = run(rdtriage()
        .args(["dump", "--threads", "1", "--format", "json"])
        .args(&files));
    assert_eq!(code, Some(0));
    let array: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(array, lines);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let (_, json, _) = run(rdtriage().args(["dump", "--format", "json"]).arg(&empty));
    assert_eq!(json, "[]\n");
}
