//! `batch` and `merge` as a pipeline uses them (issue 16), and the *insufficient evidence*
//! result (issue 13, item 4): shards merged into exactly what one run writes, JUnit valid
//! against its schema, the job summary, `--incremental`, and one test per batch defect the
//! issue names (long name, cut report, symlink in OUT, name collision, closed pipe,
//! unwritable OUT).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary with a scrubbed environment (no CI shard variables leak in).
fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rdtriage"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(root())
        .args(args);
    c
}

struct Run {
    code: i32,
    out: Vec<u8>,
    err: String,
}

fn run(args: &[&str]) -> Run {
    let o = cmd(args).output().unwrap();
    Run {
        code: o.status.code().expect("exited, not killed"),
        out: o.stdout,
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

const KINDS: [&str; 9] = [
    "access-denied",
    "certificate",
    "clean",
    "firewall",
    "gateway",
    "network",
    "noisy",
    "server-refused",
    "tls",
];

/// `n` tickets in `dir`, cycling through: a fixture ticket (symlinked: fast to make), an
/// empty ticket (insufficient evidence) and a ticket with a cut EVTX beside an RDP client
/// log (inputs not read).
/// Plus names that once collided or were too long.
fn make_tickets(dir: &Path, n: usize) {
    let cut = std::fs::read(root().join("fixtures/evtx/Security_short_selected.evtx")).unwrap();
    for i in 0..n {
        let t = dir.join(format!("T{i:04}"));
        match i % 11 {
            k @ 0..=8 => {
                std::os::unix::fs::symlink(root().join("fixtures/tickets").join(KINDS[k]), &t)
                    .unwrap()
            }
            9 => std::fs::create_dir(&t).unwrap(),
            _ => {
                std::fs::create_dir(&t).unwrap();
                std::fs::write(t.join("System.evtx"), &cut[..20_000]).unwrap();
                // A copy: a symlinked file inside a ticket is listed, not followed.
                std::fs::copy(
                    root().join("fixtures/tickets/tls/client/Microsoft-Windows-TerminalServices-RDPClient%4Operational.evtx"),
                    t.join("RDPClient.evtx"),
                )
                .unwrap();
            }
        }
    }
    for odd in ["a b", "a_b", &"L".repeat(255)] {
        std::os::unix::fs::symlink(root().join("fixtures/tickets/tls"), dir.join(odd)).unwrap();
    }
}

/// The tickets of batch JSONL, in order (a shard's first line names the shard, not a ticket).
fn ticket_names(jsonl: &[u8]) -> Vec<String> {
    jsonl
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            v["summary"]["ticket"].as_str().map(str::to_string)
        })
        .collect()
}

#[test]
fn shards_merge_into_exactly_one_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    make_tickets(&dir, 210);
    let summary = tmp.path().join("whole.md");
    let whole = run(&[
        "--threads",
        "2",
        "batch",
        s(&dir),
        "--format",
        "jsonl",
        "--fail-on",
        "medium",
        "--summary-md",
        s(&summary),
    ]);
    assert_eq!(whole.code, 1, "{}", whole.err);
    assert_eq!(ticket_names(&whole.out).len(), 213);
    let whole_junit = run(&["batch", s(&dir), "--format", "junit", "--fail-on", "medium"]);
    assert_eq!(whole_junit.code, 1);
    let whole_summary = std::fs::read(&summary).unwrap();
    for n in [1u32, 3, 4] {
        let mut parts = Vec::new();
        let mut seen = BTreeSet::new();
        for k in 1..=n {
            let part = tmp.path().join(format!("part-{n}-{k}.jsonl"));
            let r = run(&[
                "--threads",
                "2",
                "batch",
                s(&dir),
                "--format",
                "jsonl",
                "--shard",
                &format!("{k}/{n}"),
            ]);
            assert!(matches!(r.code, 0 | 3 | 4), "shard {k}/{n}: {}", r.err);
            for t in ticket_names(&r.out) {
                assert!(seen.insert(t), "a ticket in two shards");
            }
            std::fs::write(&part, &r.out).unwrap();
            parts.push(part.to_str().unwrap().to_string());
        }
        assert_eq!(seen.len(), 213, "every ticket in exactly one of {n} shards");
        let merged_md = tmp.path().join(format!("merged-{n}.md"));
        let mut args = vec![
            "merge",
            "--fail-on",
            "medium",
            "--summary-md",
            s(&merged_md),
        ];
        args.extend(parts.iter().map(String::as_str));
        let merged = run(&args);
        assert_eq!(merged.code, whole.code, "{}", merged.err);
        assert!(
            merged.out == whole.out,
            "merged JSONL of {n} shards differs"
        );
        assert!(std::fs::read(&merged_md).unwrap() == whole_summary);
        let mut args = vec!["merge", "--fail-on", "medium", "--format", "junit"];
        args.extend(parts.iter().rev().map(String::as_str));
        let merged = run(&args);
        assert_eq!(merged.code, whole_junit.code);
        assert!(
            merged.out == whole_junit.out,
            "merged JUnit of {n} shards differs"
        );
    }
    // The same shard given twice is refused, not merged into duplicates.
    let p = tmp.path().join("part-3-1.jsonl");
    let twice = run(&["merge", s(&p), s(&p)]);
    assert_eq!(twice.code, 2, "{}", twice.err);
    assert!(twice.err.contains("the same shard given twice"));
}

/// `merge` takes every shard of one split, each once, each whole: anything else is named
/// and refused with exit 2 before a byte is written.
#[test]
fn merge_names_a_missing_repeated_or_unfinished_shard() {
    // A part that is no file a batch wrote (a device; a FIFO would block) is refused at once.
    let r = run(&["merge", "/dev/zero"]);
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(r.err.contains("not a regular file"), "{}", r.err);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    for i in 0..30 {
        std::fs::create_dir_all(dir.join(format!("t{i:02}"))).unwrap();
    }
    let part = |shard: &str| {
        let r = run(&["batch", s(&dir), "--format", "jsonl", "--shard", shard]);
        assert!(matches!(r.code, 0 | 4), "{shard}: {}", r.err);
        let path = tmp
            .path()
            .join(format!("part-{}.jsonl", shard.replace('/', "-of-")));
        std::fs::write(&path, &r.out).unwrap();
        (path, r.out)
    };
    let (p1, _) = part("1/3");
    let (p2, out2) = part("2/3");
    let (p3, _) = part("3/3");
    let (half, _) = part("1/2");
    // Each part says which shard it is and how many tickets it holds.
    let first: serde_json::Value =
        serde_json::from_slice(out2.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["shard"], "2/3");
    let n2 = ticket_names(&out2).len();
    assert!(n2 >= 2, "shard 2/3 holds {n2} tickets");
    assert_eq!(first["tickets"], n2);

    let whole = run(&["batch", s(&dir), "--format", "jsonl"]);
    let merged = run(&["merge", s(&p3), s(&p1), s(&p2)]);
    assert_eq!(merged.code, whole.code, "{}", merged.err);
    assert!(
        merged.out == whole.out,
        "the three shards merge into the whole"
    );
    // An unsharded run's JSONL is the whole split (1/1): merged alone, it is itself.
    let unsharded = tmp.path().join("whole.jsonl");
    std::fs::write(&unsharded, &whole.out).unwrap();
    assert!(run(&["merge", s(&unsharded)]).out == whole.out);

    let refused = |args: &[&Path], why: &str| {
        let mut all = vec!["merge"];
        all.extend(args.iter().map(|p| s(p)));
        let r = run(&all);
        assert_eq!(r.code, 2, "{all:?}: {}", r.err);
        assert!(r.out.is_empty(), "{all:?}: nothing written");
        assert!(r.err.contains(why), "{all:?}: {}", r.err);
    };
    refused(&[&p1, &p3], "shard 2/3 is missing");
    refused(&[&p2], "shards 1/3 and 3/3 are missing");
    refused(
        &[&p1, &p2, &p2, &p3],
        "are both shard 2/3: the same shard given twice?",
    );
    refused(&[&p1, &p2, &half], "parts of different splits");
    // A shard line may claim billions of shards: the refusal names twenty and counts the
    // rest, its work bounded by the parts given (once a loop over every claimed shard).
    let claims = tmp.path().join("claims.jsonl");
    std::fs::write(&claims, "{\"shard\":\"1/4000000000\",\"tickets\":0}\n").unwrap();
    refused(
        &[&claims],
        "shards 2/4000000000, 3/4000000000, 4/4000000000, 5/4000000000, 6/4000000000, \
         7/4000000000, 8/4000000000, 9/4000000000, 10/4000000000, 11/4000000000, \
         12/4000000000, 13/4000000000, 14/4000000000, 15/4000000000, 16/4000000000, \
         17/4000000000, 18/4000000000, 19/4000000000, 20/4000000000, 21/4000000000 and \
         3999999979 more are missing",
    );
    refused(&[&unsharded, &p1], "parts of different splits");
    // A shard job that failed before its first line leaves an empty part.
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    refused(
        &[&p1, &empty, &p3],
        "empty.jsonl is empty, not even its shard line",
    );
    // A shard whose job died between two lines: its count gives it away.
    let cut = tmp.path().join("cut.jsonl");
    let lines: Vec<&[u8]> = out2.split_inclusive(|b| *b == b'\n').collect();
    std::fs::write(&cut, lines[..lines.len() - 1].concat()).unwrap();
    refused(
        &[&p1, &cut, &p3],
        &format!("holds {} tickets where its shard line says {n2}", n2 - 1),
    );
}

#[test]
fn adding_a_ticket_moves_only_that_ticket() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..200 {
        std::fs::create_dir(tmp.path().join(format!("ticket-{i}"))).unwrap();
    }
    let shards = || -> Vec<BTreeSet<String>> {
        (1..=4)
            .map(|k| {
                let r = run(&[
                    "batch",
                    s(tmp.path()),
                    "--format",
                    "jsonl",
                    "--shard",
                    &format!("{k}/4"),
                ]);
                let names = ticket_names(&r.out);
                assert_eq!(r.code, if names.is_empty() { 0 } else { 4 }, "{}", r.err);
                names.into_iter().collect()
            })
            .collect()
    };
    let before = shards();
    assert!(before.iter().all(|s| !s.is_empty()));
    std::fs::create_dir(tmp.path().join("ticket-new")).unwrap();
    let after = shards();
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        assert!(b.is_subset(a), "a ticket left its shard");
        let added: Vec<_> = a.difference(b).collect();
        moved += added.len();
        assert!(added.iter().all(|t| *t == "ticket-new"));
    }
    assert_eq!(moved, 1);
}

#[test]
fn shard_auto_reads_the_ci_variables() {
    let tmp = tempfile::tempdir().unwrap();
    for i in 0..30 {
        std::fs::create_dir(tmp.path().join(format!("t{i}"))).unwrap();
    }
    let explicit = run(&[
        "batch",
        s(tmp.path()),
        "--format",
        "jsonl",
        "--shard",
        "2/3",
    ]);
    let gitlab = cmd(&[
        "batch",
        s(tmp.path()),
        "--format",
        "jsonl",
        "--shard",
        "auto",
    ])
    .env("CI_NODE_INDEX", "2")
    .env("CI_NODE_TOTAL", "3")
    .output()
    .unwrap();
    assert_eq!(gitlab.stdout, explicit.out);
    let k8s = cmd(&[
        "batch",
        s(tmp.path()),
        "--format",
        "jsonl",
        "--shard",
        "auto",
        "--shard-total",
        "3",
    ])
    .env("JOB_COMPLETION_INDEX", "1")
    .output()
    .unwrap();
    assert_eq!(k8s.stdout, explicit.out);
    let nothing = run(&["batch", s(tmp.path()), "--shard", "auto"]);
    assert_eq!(nothing.code, 2);
    assert!(nothing.err.contains("CI_NODE_INDEX"), "{}", nothing.err);
}

/// `xmllint`, or `None` with a visible message (CI installs it and must not skip).
fn xmllint() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("xmllint"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but xmllint is missing (.ci/run installs libxml2-utils)"
        );
        eprintln!("SKIPPED: xmllint is not installed (apt-get install libxml2-utils)");
    }
    found
}

#[test]
fn junit_validates_against_the_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    make_tickets(&dir, 22);
    // A ticket name with markup and control characters stays inert.
    std::os::unix::fs::symlink(
        root().join("fixtures/tickets/tls"),
        dir.join("<x>&\"\u{1b}[31m"),
    )
    .unwrap();
    let r = run(&["batch", s(&dir), "--format", "junit", "--fail-on", "high"]);
    assert_eq!(r.code, 1, "{}", r.err);
    let xml = String::from_utf8(r.out).unwrap();
    for outcome in ["<failure", "<error", "<skipped", "<system-out>"] {
        assert!(xml.contains(outcome), "no {outcome} in the JUnit");
    }
    assert!(xml.contains(r#"tests="26""#));
    let Some(xmllint) = xmllint() else { return };
    let file = tmp.path().join("junit.xml");
    std::fs::write(&file, &xml).unwrap();
    let v = Command::new(xmllint)
        .args(["--noout", "--schema"])
        .arg(root().join("tests/junit/junit.xsd"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    // The schema is not a rubber stamp: a test case without a name is refused.
    std::fs::write(
        &file,
        xml.replacen("<testcase name=", "<testcase label=", 1),
    )
    .unwrap();
    let bad = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(root().join("tests/junit/junit.xsd"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn insufficient_evidence_is_its_own_result_in_scan_and_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let unreadable = tmp.path().join("unreadable");
    std::fs::create_dir(&unreadable).unwrap();
    std::fs::write(
        unreadable.join("System.evtx"),
        b"ElfFile\0 but nothing else",
    )
    .unwrap();
    std::fs::write(unreadable.join("notes.bin"), [0u8, 1, 2, 3]).unwrap();
    let procmon = tmp.path().join("procmon-only");
    std::fs::create_dir(&procmon).unwrap();
    std::fs::write(
        procmon.join("Logfile.CSV"),
        "\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n\
         \"9:14:02.1180334 AM\",\"notepad.exe\",\"6112\",\"CreateFile\",\"C:\\x.txt\",\"SUCCESS\",\"\"\r\n",
    )
    .unwrap();
    // Exported configuration alone: it corroborates events, it cannot stand in for them.
    let config_only = tmp.path().join("config-only");
    std::fs::create_dir(&config_only).unwrap();
    std::fs::write(
        config_only.join("RDS01_TermServ.reg"),
        "Windows Registry Editor Version 5.00\r\n\r\n\
         [HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp]\r\n\
         \"SecurityLayer\"=dword:00000002\r\n\"PortNumber\"=dword:00000d3d\r\n",
    )
    .unwrap();
    // (Its settings may still rank as context, which a gate at context would count first.)
    for (t, gate) in [
        (&empty, "context"),
        (&procmon, "context"),
        (&config_only, "low"),
    ] {
        let r = run(&["scan", s(t), "--fail-on", gate, "--format", "json"]);
        assert_eq!(r.code, 4, "{}: {}", t.display(), r.err);
        let v: serde_json::Value = serde_json::from_slice(&r.out).unwrap();
        assert_eq!(v["evidence"]["sufficient"], false);
        assert!(
            v["verdict"]
                .as_str()
                .unwrap()
                .starts_with("Insufficient evidence")
        );
        assert!(v["evidence"]["next_step"].as_str().unwrap().contains("TSS"));
    }
    // Only unreadable files: nothing was read at all, so insufficient evidence (4), not 3.
    let r = run(&["scan", s(&unreadable), "--format", "json"]);
    assert_eq!(r.code, 4, "{}", r.err);
    let v: serde_json::Value = serde_json::from_slice(&r.out).unwrap();
    assert_eq!(v["evidence"]["sufficient"], false);
    assert!(
        r.err.contains("System.evtx"),
        "the unreadable file is still reported"
    );
    // Beside a readable log, an unreadable one is a partial read (3 outranks 4).
    std::fs::copy(
        root().join("fixtures/evtx/Security_short_selected.evtx"),
        unreadable.join("Security.evtx"),
    )
    .unwrap();
    let r = run(&["scan", s(&unreadable)]);
    assert_eq!(r.code, 3, "{}", r.err);
    // In batch: its own count, exit 4 under --fail-on when nothing else applies.
    let batch = tmp.path().join("batch");
    std::fs::create_dir(&batch).unwrap();
    std::fs::rename(&empty, batch.join("empty")).unwrap();
    std::fs::rename(&procmon, batch.join("procmon-only")).unwrap();
    std::os::unix::fs::symlink(
        root().join("fixtures/tickets/access-denied"),
        batch.join("x"),
    )
    .unwrap();
    let md = tmp.path().join("summary.md");
    let r = run(&[
        "batch",
        s(&batch),
        "--fail-on",
        "medium",
        "--summary-md",
        s(&md),
    ]);
    assert_eq!(r.code, 4, "{}", r.err);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("| insufficient evidence | 2 |"), "{md}");
    assert!(md.contains("| ok | 1 |"), "{md}");
    // A gate hit outranks it.
    let r = run(&["batch", s(&batch), "--fail-on", "low"]);
    assert_eq!(r.code, 1);
}

#[test]
fn incremental_triages_only_what_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    for k in ["tls", "network", "clean"] {
        copy_dir(&root().join("fixtures/tickets").join(k), &dir.join(k));
    }
    let out = tmp.path().join("out");
    let args = [
        "batch",
        s(&dir),
        "--format",
        "jsonl",
        "--out",
        s(&out),
        "--incremental",
    ];
    let first = run(&args);
    assert_eq!(first.code, 0, "{}", first.err);
    assert!(
        first.err.contains("3 tickets triaged, 0 unchanged"),
        "{}",
        first.err
    );
    let second = run(&args);
    assert!(
        second.err.contains("0 tickets triaged, 3 unchanged"),
        "{}",
        second.err
    );
    assert_eq!(second.out, first.out, "a reused report is the same report");
    assert_eq!(second.code, first.code);
    // New evidence in one ticket: only that one is triaged again.
    std::fs::copy(
        root().join("fixtures/procmon/default-crlf-bom.csv"),
        dir.join("tls/Logfile.CSV"),
    )
    .unwrap();
    let third = run(&args);
    assert!(
        third.err.contains("1 tickets triaged, 2 unchanged"),
        "{}",
        third.err
    );
    // A report edited by hand is not trusted as a record: it no longer parses.
    std::fs::write(out.join("clean.json"), "{").unwrap();
    let fourth = run(&args);
    assert!(
        fourth.err.contains("1 tickets triaged, 2 unchanged"),
        "{}",
        fourth.err
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Issue 16: a 255-byte ticket name stopped the whole batch at its report.
#[test]
fn issue16_long_ticket_name_gets_a_report_and_the_batch_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    let long = "L".repeat(255);
    for name in [long.as_str(), "b"] {
        std::os::unix::fs::symlink(root().join("fixtures/tickets/tls"), dir.join(name)).unwrap();
    }
    let out = tmp.path().join("out");
    let r = run(&["batch", s(&dir), "--out", s(&out), "--format", "jsonl"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let names: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains("b.json") && names.contains("b.md") && names.contains("b.html"));
    assert!(names.iter().all(|n| n.len() < 200));
    // The summary names the report beside its ticket.
    let v: serde_json::Value =
        serde_json::from_slice(r.out.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(v["summary"]["ticket"], long.as_str());
    let stem = v["summary"]["report"].as_str().unwrap();
    assert!(names.contains(&format!("{stem}.json")));
}

/// Issue 16: `a_b.json` held ticket "a b" while ticket `a_b` got `a_b-4.json`.
#[test]
fn issue16_report_names_never_collide() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    for (name, kind) in [("a b", "tls"), ("a_b", "network"), ("a%20b", "clean")] {
        std::os::unix::fs::symlink(root().join("fixtures/tickets").join(kind), dir.join(name))
            .unwrap();
    }
    let out = tmp.path().join("out");
    let r = run(&["batch", s(&dir), "--out", s(&out)]);
    assert_eq!(r.code, 0, "{}", r.err);
    for (stem, ticket) in [("a%20b", "a b"), ("a_b", "a_b"), ("a%2520b", "a%20b")] {
        let report = std::fs::read_to_string(out.join(format!("{stem}.json"))).unwrap();
        assert!(
            report.contains(&format!("tickets/{ticket}/")),
            "{stem}.json is not ticket {ticket:?}"
        );
    }
    let table = String::from_utf8(r.out).unwrap();
    assert!(table.contains("a%20b.md"), "{table}");
}

/// Issue 16: batch followed a symlink already in OUT and overwrote the file it points to.
#[test]
fn issue16_a_symlink_in_out_is_replaced_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink(root().join("fixtures/tickets/tls"), dir.join("t")).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let victim = tmp.path().join("victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, out.join("t.json")).unwrap();
    let r = run(&["batch", s(&dir), "--out", s(&out)]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(out.join("t.json")).unwrap();
    assert!(meta.file_type().is_file());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("t.json")).unwrap()).unwrap();
    assert!(report["schema"].is_string());
}

/// Issue 16: a cut report (Ctrl-C, a full disk) stayed under its final name. Reports now go
/// through a temporary file: a report that cannot be written whole leaves the previous one
/// (or none), and no temporary file behind.
#[test]
fn issue16_a_report_that_fails_midway_leaves_no_cut_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("r.json"), "previous, whole").unwrap();
    let e = rdtriage::output::AtomicFile::write_whole(&tmp.path().join("r.json"), &mut |w| {
        w.write_all(b"{\"half\":")?;
        Err(std::io::Error::other("No space left on device"))
    });
    assert!(e.is_err());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("r.json")).unwrap(),
        "previous, whole"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    rdtriage::output::AtomicFile::write_whole(&tmp.path().join("r.json"), &mut |w| {
        w.write_all(b"new")
    })
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("r.json")).unwrap(),
        "new"
    );
}

/// Issue 16: one unwritable report stopped the batch; an unwritable OUT was exit 3
/// ("inputs not read"). Now it is that ticket's error, exit 5, and the rest goes on.
#[test]
fn issue16_unwritable_reports_are_the_tickets_error_exit_5() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    for k in ["clean", "tls", "network"] {
        std::os::unix::fs::symlink(root().join("fixtures/tickets").join(k), dir.join(k)).unwrap();
    }
    // One report name is taken by a folder: a rename cannot replace it (root or not).
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("tls.json/x")).unwrap();
    let r = run(&["batch", s(&dir), "--out", s(&out), "--format", "jsonl"]);
    assert_eq!(r.code, 5, "{}", r.err);
    assert!(
        r.err.contains("ticket tls: report not written"),
        "{}",
        r.err
    );
    assert_eq!(ticket_names(&r.out).len(), 3);
    assert!(out.join("clean.json").is_file() && out.join("network.json").is_file());
    // A gate hit still outranks the output failure.
    let r = run(&["batch", s(&dir), "--out", s(&out), "--fail-on", "high"]);
    assert_eq!(r.code, 1, "{}", r.err);
    // OUT itself cannot be made (a file is in the way): every report fails, all tickets listed.
    let blocked = tmp.path().join("blocked");
    std::fs::write(&blocked, "a file").unwrap();
    let r = run(&["batch", s(&dir), "--out", s(&blocked), "--format", "jsonl"]);
    assert_eq!(r.code, 5, "{}", r.err);
    assert_eq!(ticket_names(&r.out).len(), 3);
    let v: serde_json::Value =
        serde_json::from_slice(r.out.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert!(v["summary"]["report_error"].is_string());
}

/// Issue 16: a failing --fail-on gate became exit 0 when the consumer closed the pipe.
#[test]
fn issue16_a_closed_pipe_never_lowers_the_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    // Enough tickets that the JSONL is far larger than a pipe's buffer.
    for i in 0..40 {
        std::os::unix::fs::symlink(
            root().join("fixtures/tickets/certificate"),
            tmp.path().join(format!("t{i:02}")),
        )
        .unwrap();
    }
    for (fail_on, want) in [("high", 1), ("low", 1)] {
        let mut child = cmd(&[
            "batch",
            s(tmp.path()),
            "--format",
            "jsonl",
            "--fail-on",
            fail_on,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let mut first = [0u8; 16];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take());
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(want));
    }
    // With nothing higher to say, the closed pipe is exit 5, not 0.
    let mut child = cmd(&["batch", s(tmp.path()), "--format", "jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(5));
}

#[test]
fn the_ci_recipes_parse_and_shard_the_way_the_docs_say() {
    let docs = root().join("docs/ci");
    let load = |name: &str| -> Vec<serde_yaml_ng::Value> {
        let text = std::fs::read_to_string(docs.join(name)).unwrap();
        serde_yaml_ng::Deserializer::from_str(&text)
            .map(|d| {
                <serde_yaml_ng::Value as serde::Deserialize>::deserialize(d)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
            })
            .collect()
    };
    let gitlab = &load("gitlab-ci.yml")[0];
    assert!(gitlab["triage"]["parallel"].as_u64().unwrap() >= 2);
    let script = serde_yaml_ng::to_string(&gitlab["triage"]["script"]).unwrap();
    assert!(script.contains("--shard auto"), "{script}");
    let merge = serde_yaml_ng::to_string(&gitlab["merge"]).unwrap();
    assert!(
        merge.contains("rdtriage merge") && merge.contains("junit"),
        "{merge}"
    );

    let gh = &load("github-actions.yml")[0];
    let matrix = &gh["jobs"]["triage"]["strategy"]["matrix"]["shard"];
    let shards = matrix.as_sequence().unwrap().len();
    let triage = serde_yaml_ng::to_string(&gh["jobs"]["triage"]).unwrap();
    assert!(triage.contains(&format!("/{shards}")), "{triage}");
    let merge = serde_yaml_ng::to_string(&gh["jobs"]["merge"]).unwrap();
    assert!(merge.contains("rdtriage merge") && merge.contains("GITHUB_STEP_SUMMARY"));

    let k8s = load("kubernetes.yml");
    let indexed = k8s
        .iter()
        .find(|d| d["spec"]["completionMode"] == "Indexed")
        .expect("an Indexed Job");
    let completions = indexed["spec"]["completions"].as_u64().unwrap();
    let shard = serde_yaml_ng::to_string(indexed).unwrap();
    assert!(
        shard.contains(&format!("--shard-total {completions}")),
        "{shard}"
    );
    assert!(k8s.iter().any(|d| {
        serde_yaml_ng::to_string(d)
            .unwrap()
            .contains("rdtriage merge")
    }));
}

/// Issue 17: `--quiet` silenced `scan`'s warnings but not `batch`'s. Warnings that do not
/// change the exit (a child that is not a ticket) are left out; an error that does (a report
/// not written, exit 5) still prints.
#[test]
fn quiet_silences_batch_warnings_but_not_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    for k in ["clean", "tls"] {
        std::os::unix::fs::symlink(root().join("fixtures/tickets").join(k), dir.join(k)).unwrap();
    }
    std::fs::write(dir.join("notes.txt"), "not a ticket").unwrap();
    let loud = run(&["batch", s(&dir)]);
    assert!(loud.err.contains("notes.txt: skipped"), "{}", loud.err);
    let quiet = run(&["--quiet", "batch", s(&dir)]);
    assert_eq!(quiet.code, loud.code);
    assert!(!quiet.err.contains("skipped"), "{}", quiet.err);
    let out = tmp.path().join("out");
    std::fs::create_dir_all(out.join("tls.json/x")).unwrap();
    let r = run(&["--quiet", "batch", s(&dir), "--out", s(&out)]);
    assert_eq!(r.code, 5, "{}", r.err);
    assert!(r.err.contains("report not written"), "{}", r.err);
    assert!(!r.err.contains("skipped"), "{}", r.err);
}

/// Two tickets whose names read alike (a byte that is not UTF-8, and its escape spelled out)
/// are not both triaged: the second is said to be skipped even with --quiet, and the batch
/// exits 3 (a ticket not read), where the clean one alone exits 0.
#[cfg(unix)]
#[test]
fn a_ticket_skipped_for_its_name_makes_the_batch_exit_3() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    std::fs::create_dir(&dir).unwrap();
    let clean = root().join("fixtures/tickets/clean");
    std::os::unix::fs::symlink(&clean, dir.join(std::ffi::OsStr::from_bytes(b"x\xff"))).unwrap();
    let alone = run(&["--quiet", "batch", s(&dir)]);
    assert_eq!(alone.code, 0, "{}", alone.err);
    std::os::unix::fs::symlink(&clean, dir.join(r"x\xFF")).unwrap();
    let both = run(&["--quiet", "batch", s(&dir)]);
    assert_eq!(both.code, 3, "{}", both.err);
    assert!(
        both.err.contains("skipped") && both.err.contains("another ticket"),
        "{}",
        both.err
    );
}

/// An `--out` folder kept inside the batch folder is not a ticket on the next run: its
/// reports are not read as a ticket's logs, and the batch's result does not change.
#[test]
fn the_out_folder_inside_the_batch_folder_is_not_a_ticket() {
    let tmp = tempfile::tempdir().unwrap();
    let batch = tmp.path().join("batch");
    std::fs::create_dir(&batch).unwrap();
    std::os::unix::fs::symlink(
        root().join("fixtures/tickets/certificate"),
        batch.join("t1"),
    )
    .unwrap();
    // Given as it is written in a CI job: relative, through the batch folder.
    let out = batch.join("reports");
    let mut lines = Vec::new();
    for _ in 0..2 {
        let r = run(&[
            "batch",
            "--follow",
            "--incremental",
            "--format",
            "jsonl",
            "--out",
            s(&out),
            s(&batch),
        ]);
        assert_eq!(r.code, 0, "{}", r.err);
        lines.push(String::from_utf8(r.out).unwrap());
        assert!(!out.join("reports.json").exists(), "{}", r.err);
    }
    assert_eq!(lines[0].lines().count(), 1, "{}", lines[0]);
    assert_eq!(lines[0], lines[1]);
}

/// The `--incremental` note on stderr: (triaged, unchanged).
fn incremental_counts(err: &str) -> (usize, usize) {
    let line = err
        .lines()
        .find(|l| l.contains("unchanged since their last report"))
        .unwrap_or_else(|| panic!("no incremental note: {err}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    (words[1].parse().unwrap(), words[4].parse().unwrap())
}

/// With `--follow` the reader reads a symlinked folder, so the `--incremental` hash must too:
/// a file added there is new evidence (it once reused the old report). A link back into the
/// ticket is hashed once, as it is read once, and the hash stays the same run after run.
/// Without `--follow` the link is listed with where it points: pointed elsewhere, the report
/// says so.
#[test]
fn incremental_hashes_what_follow_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, ext) = (tmp.path().join("tickets"), tmp.path().join("ext"));
    let ticket = dir.join("T1");
    copy_dir(
        &root().join("fixtures/tickets/certificate/client"),
        &ticket.join("client"),
    );
    std::fs::create_dir(&ext).unwrap();
    std::os::unix::fs::symlink("../../ext", ticket.join("linked")).unwrap();
    std::os::unix::fs::symlink("..", ticket.join("loop")).unwrap();
    let (out, fresh) = (tmp.path().join("out"), tmp.path().join("fresh"));
    let args = |out: &Path, incremental: bool| {
        let mut a = vec!["batch", "--format", "jsonl", "--follow", "--out", s(out)];
        if incremental {
            a.push("--incremental");
        }
        a.push(s(&dir));
        run(&a)
    };
    let first = args(&out, true);
    assert_eq!(incremental_counts(&first.err), (1, 0), "{}", first.err);
    let again = args(&out, true);
    assert_eq!(incremental_counts(&again.err), (0, 1), "{}", again.err);
    // The server's logs arrive in the linked folder.
    copy_dir(&root().join("fixtures/tickets/certificate/server"), &ext);
    let after = args(&out, true);
    assert_eq!(incremental_counts(&after.err), (1, 0), "{}", after.err);
    let full = args(&fresh, false);
    assert_eq!(
        String::from_utf8_lossy(&after.out),
        String::from_utf8_lossy(&full.out),
        "the outputs are a full run's"
    );
    assert!(
        String::from_utf8_lossy(&full.out).contains("\"top_cause\":\"certificate\""),
        "the linked server log is read"
    );

    // Not followed: the link's target is part of what the report says.
    let plain = |out: &Path| {
        run(&[
            "batch",
            "--format",
            "jsonl",
            "--out",
            s(out),
            "--incremental",
            s(&dir),
        ])
    };
    let out2 = tmp.path().join("out2");
    assert_eq!(incremental_counts(&plain(&out2).err), (1, 0));
    assert_eq!(incremental_counts(&plain(&out2).err), (0, 1));
    std::fs::remove_file(ticket.join("linked")).unwrap();
    std::fs::create_dir(tmp.path().join("ext2")).unwrap();
    std::os::unix::fs::symlink("../../ext2", ticket.join("linked")).unwrap();
    let moved = plain(&out2);
    assert_eq!(incremental_counts(&moved.err), (1, 0), "{}", moved.err);
    assert!(String::from_utf8_lossy(&moved.out).contains("ext2"));
}

/// A report made under other analysis options is not reused: a run with `--max-kept-events 1`
/// once left its crippled report to every later run. Each option that changes a report
/// counts; one that does not (the output format, the gate, the width) reuses it.
#[test]
fn incremental_counts_every_option_that_changes_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tickets");
    copy_dir(
        &root().join("fixtures/tickets/certificate"),
        &dir.join("T1"),
    );
    let out = tmp.path().join("out");
    let batch = |extra: &[&str]| {
        let mut a = vec![
            "batch",
            "--format",
            "jsonl",
            "--incremental",
            "--out",
            s(&out),
        ];
        a.extend_from_slice(extra);
        a.push(s(&dir));
        run(&a)
    };
    let default = batch(&[]);
    assert_eq!(incremental_counts(&default.err), (1, 0));
    let options: [&[&str]; 17] = [
        &["--procmon-date", "2024-03-05"],
        &["--procmon-utc-offset", "+01:00"],
        &["--max-zip-bytes", "1000000"],
        &["--max-zip-entries", "9"],
        &["--max-zip-depth", "2"],
        &["--max-file-bytes", "1000000"],
        &["--max-csv-row-bytes", "1000000"],
        &["--max-csv-fields", "100"],
        &["--max-xml-bytes", "1000000"],
        &["--max-xml-depth", "20"],
        &["--max-xml-elements", "500"],
        &["--max-evtx-record-bytes", "100000"],
        &["--max-evtx-chunk-bytes", "100000"],
        &["--max-kept-events", "1"],
        &["--max-kept-bytes", "1000000"],
        &["--follow"],
        &["--refuse-bad-chunks"],
    ];
    for option in options {
        let with = batch(option);
        assert_eq!(
            incremental_counts(&with.err),
            (1, 0),
            "{option:?}: {}",
            with.err
        );
        let back = batch(&[]);
        assert_eq!(incremental_counts(&back.err), (1, 0), "after {option:?}");
        assert_eq!(
            back.out, default.out,
            "after {option:?}: a full run's output"
        );
    }
    for same in [
        &["--fail-on", "low"][..],
        &["--width", "100"],
        &["--summary-md", s(&tmp.path().join("sum.md"))],
    ] {
        let r = batch(same);
        assert_eq!(incremental_counts(&r.err), (0, 1), "{same:?}: {}", r.err);
    }
}
