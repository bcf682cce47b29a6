//! Hostile input, round six: what a red-team pass over `batch`, `merge` and the Markdown
//! report found, each as a user meets it through the binary: a rule's reference that starts
//! Markdown blocks of its own, and `merge` parts that `batch` cannot have written (a report
//! stem that is text to show, bytes that are not UTF-8, a summary its report does not back).
//! Inputs are built here, in a temporary folder; every command has a time limit.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

use crate::common::fixtures;

fn rdtriage() -> Command {
    let mut cmd = super::rdtriage();
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// A rule whose reference holds line breaks, an image to another site, a mention, HTML and a
/// raw escape: in the Markdown report it started a heading and an image of its own, and the
/// escape reached the reader's terminal. It is one inert line; a plain URL stays a link.
#[test]
fn a_rule_reference_cannot_start_markdown_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("ref.rdt");
    std::fs::write(
        &rules,
        r#"rule r4 {
    title: "T"
    cause: certificate
    strength: strong
    when: provider == "Microsoft-Windows-TerminalServices-RemoteConnectionManager" and event_id == 1058
    evidence: "ev"
    remediation: "rem"
    references: "https://ok\n\n# Injected heading @everyone ![x](https://evil.example/t.png) <img src=x onerror=alert(1)>\u{1b}[31m"
    example match evtx { provider: "Microsoft-Windows-TerminalServices-RemoteConnectionManager", event_id: 1058 }
    example nomatch evtx { event_id: 1 }
}
"#,
    )
    .unwrap();
    let out = rdtriage()
        .args(["scan", "--format", "markdown", "--rules"])
        .arg(&rules)
        .arg(fixtures().join("tickets/certificate"))
        .output()
        .unwrap();
    let md = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(
        md.contains("Injected"),
        "the rule's reference is shown: {md}"
    );
    assert!(!md.contains('\u{1b}'), "a raw escape: {md}");
    for line in md.lines().filter(|l| l.contains("Injected")) {
        assert!(line.starts_with("   - Reference: "), "{line}");
    }
    // `#` mid-line is no heading; the reference stayed on its line (above).
    for block in ["![x](", "<img", "@everyone", "https://evil"] {
        assert!(!md.contains(block), "{block} in {md}");
    }
    assert!(
        md.contains("   - Reference: <https://learn.microsoft.com/"),
        "a built-in reference stays a link: {md}"
    );
}

/// `batch --format jsonl --out` over two copies of a fixture ticket (`T1`, `T2`): its lines.
fn genuine_lines(dir: &Path) -> Vec<Vec<u8>> {
    let tickets = dir.join("tickets");
    // Both sides: the client's log alone holds 0x904s nothing explains (insufficient, exit 4).
    for t in ["T1", "T2"] {
        for side in ["client", "server"] {
            let to = tickets.join(t).join(side);
            std::fs::create_dir_all(&to).unwrap();
            let from = fixtures().join("tickets/certificate").join(side);
            for e in std::fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let out = rdtriage()
        .args(["batch", "--format", "jsonl", "--out"])
        .arg(dir.join("out"))
        .arg(&tickets)
        .output()
        .unwrap();
    let lines: Vec<Vec<u8>> = out
        .stdout
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(lines.len(), 2, "{}", String::from_utf8_lossy(&out.stderr));
    lines
}

/// A line edited as JSON.
fn edited(line: &[u8], edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(line).unwrap();
    edit(&mut v);
    let mut line = serde_json::to_vec(&v).unwrap();
    line.push(b'\n');
    line
}

/// `merge ARGS... PART` over a part of `lines`.
fn merge(dir: &Path, lines: &[Vec<u8>], args: &[&str]) -> std::process::Output {
    let part = dir.join("part.jsonl");
    std::fs::write(&part, lines.concat()).unwrap();
    rdtriage()
        .arg("merge")
        .args(args)
        .arg(&part)
        .output()
        .unwrap()
}

/// A part whose `report` stem is text, not a stem `batch` makes: the table printed it raw
/// (an escape sequence) and the job summary let it break out of its code span into a heading,
/// a mention and an image. The part is refused, naming it and the line, before anything is
/// written.
#[test]
fn merge_refuses_a_report_stem_batch_cannot_have_made() {
    let dir = tempfile::tempdir().unwrap();
    let lines = genuine_lines(dir.path());
    let forged = edited(&lines[1], |v| {
        v["summary"]["report"] =
            "x\u{1b}[31mRED\n\n# Injected @everyone ![t](https://evil.example/p.png) | col".into();
    });
    let summary = dir.path().join("sum.md");
    let out = merge(
        dir.path(),
        &[lines[0].clone(), forged],
        &[
            "--format",
            "table",
            "--summary-md",
            summary.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("part.jsonl: line 2:") && err.contains("report stem"),
        "{err}"
    );
    assert!(!err.contains('\u{1b}'), "{err}");
    assert!(out.stdout.is_empty(), "the table is written at the end");
    assert!(!summary.exists(), "no summary of a refused merge");
}

/// A line that is not UTF-8 was copied into the merged JSONL as it was (exit 0, and the
/// output no JSON reader could take). It is refused, naming the part and the line. Controls
/// and bidi characters in valid text are escaped: the same JSON value, inert bytes.
#[test]
fn merge_refuses_a_line_that_is_not_utf8_and_escapes_controls() {
    let dir = tempfile::tempdir().unwrap();
    let lines = genuine_lines(dir.path());
    let at = |line: &[u8]| {
        let key = b"\"verdict\":\"";
        line.windows(key.len()).position(|w| w == key).unwrap() + key.len()
    };
    let mut broken = lines[1].clone();
    let i = at(&broken);
    broken.splice(i..i, *b"\xff\xfe BAD ");
    for format in ["jsonl", "table"] {
        let out = merge(
            dir.path(),
            &[lines[0].clone(), broken.clone()],
            &["--format", format],
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{format}: {err}");
        assert!(
            err.contains("part.jsonl: line 2: not UTF-8"),
            "{format}: {err}"
        );
        assert!(
            std::str::from_utf8(&out.stdout).is_ok(),
            "{format}: what was written before the refusal is UTF-8"
        );
    }
    let mut raw = lines[1].clone();
    let i = at(&raw);
    raw.splice(i..i, "\u{9b}31m CSI \u{202e} RLO ".bytes());
    let out = merge(
        dir.path(),
        &[lines[0].clone(), raw.clone()],
        &["--format", "jsonl"],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(!text.contains(['\u{9b}', '\u{202e}']), "{text}");
    assert!(text.contains("\\u009b31m CSI \\u202e RLO "), "{text}");
    let merged: Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    let given: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(merged, given, "the same JSON value");
}

/// The report of a JSONL line was skipped, not read: any JSON passed, and a summary could say
/// what its report does not (a clean ticket shown as a high-confidence cause, or the other
/// way round). Both are refused: `batch` makes the summary from the report.
#[test]
fn merge_refuses_a_summary_its_report_does_not_back() {
    let dir = tempfile::tempdir().unwrap();
    let lines = genuine_lines(dir.path());
    let not_a_report = edited(&lines[1], |v| {
        v["report"] = serde_json::json!({"schema": 5})
    });
    let other_cause = edited(&lines[1], |v| {
        v["summary"]["top_cause"] = "firewall".into();
        v["summary"]["confidence"] = "high".into();
    });
    for (what, line) in [("report", not_a_report), ("summary", other_cause)] {
        let out = merge(
            dir.path(),
            &[lines[0].clone(), line],
            &["--format", "jsonl"],
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains("part.jsonl: line 2:"), "{what}: {err}");
    }
    // The genuine lines merge into themselves.
    let out = merge(dir.path(), &lines, &["--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, lines.concat());
}
