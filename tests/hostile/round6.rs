//! Hostile input, round six: what a red-team pass over `batch`, `merge` and the Markdown
//! report found, each as a user meets it through the binary: a rule's reference that starts
//! Markdown blocks of its own, and `merge` parts that `batch` cannot have written (a report
//! stem that is text to show, bytes that are not UTF-8, a summary its report does not back).
//! Inputs are built here, in a temporary folder; every command has a time limit.

use std::time::Duration;

use assert_cmd::Command;

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
