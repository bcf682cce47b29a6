//! Hostile input (issue 6): every resource limit and every escaping rule, proved through the
//! binary as a user runs it, on the fixtures in `fixtures/hostile/` (written by
//! `fixtures/hostile/make.py`) and on files built here at run time (nested zips, an EVTX record
//! with a lone UTF-16 surrogate, a mixed ticket). What each fixture holds is described in
//! `fixtures/README.md`, section "fixtures/hostile".

/// What several rounds build or run alike.
#[path = "hostile/shared.rs"]
mod shared;

/// Round two (issue 18): the defects a held-out suite found, each as a user meets it.
#[path = "hostile/round2.rs"]
mod round2;

/// Round three (session 22): what a red-team pass over every reader and output found.
#[path = "hostile/round3.rs"]
mod round3;

/// Round four (session 30): a red-team pass over the limits and the zip reader.
#[path = "hostile/round4.rs"]
mod round4;

/// Round five (session 31): zips of zips held in memory only while read, and an EVTX record
/// past what the evtx crate renders.
#[path = "hostile/round5.rs"]
mod round5;

/// Round six: a red-team pass over `batch --incremental`, `merge` and the
/// Markdown report.
#[path = "hostile/round6.rs"]
mod round6;

/// Round seven: EVTX templates that expand to megabytes, and encodings named for what they are.
#[path = "hostile/round7.rs"]
mod round7;

use crate::common;

use crate::support::evtx_writer;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{account, fixtures, problems};
use evtx_writer::{Body, Data, EvtxEvent, crc32, write_evtx};
use jiff::Timestamp;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers

fn hostile() -> PathBuf {
    fixtures().join("hostile")
}

fn rdtriage() -> Command {
    let mut cmd = Command::cargo_bin("rdtriage").unwrap();
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .args(["--threads", "2"]);
    cmd
}

struct Out {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    /// Stdout as text: every output format must be valid UTF-8, whatever the input held.
    fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is valid UTF-8")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not valid JSON ({e}):\n{}",
                String::from_utf8_lossy(&self.stdout)
            )
        })
    }

    /// `dump --format jsonl`: every line one JSON object.
    fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

fn run(cmd: &mut Command) -> Out {
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).expect("stderr is valid UTF-8"),
    }
}

/// `rdtriage dump --summary --format json ARGS...`: the per-file accounts.
fn summary(args: &[&std::ffi::OsStr]) -> (Vec<Value>, Out) {
    let out = run(rdtriage()
        .args(["dump", "--summary", "--format", "json"])
        .args(args));
    let accounts = out.json().as_array().expect("an array of accounts").clone();
    (accounts, out)
}

fn os<P: AsRef<std::ffi::OsStr> + ?Sized>(p: &P) -> &std::ffi::OsStr {
    p.as_ref()
}

/// A small, harmless Procmon CSV with `rows` rows (no rule matches them).
fn harmless_csv(rows: usize) -> Vec<u8> {
    let mut s = String::from(
        "\u{feff}\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n",
    );
    for i in 0..rows {
        s.push_str(&format!(
            "\"10:00:{:02}.0000000 AM\",\"notepad.exe\",\"5120\",\"ReadFile\",\"C:\\Users\\alice\\f{i}.txt\",\"SUCCESS\",\"Offset: 0, Length: 12\"\r\n",
            i % 60
        ));
    }
    s.into_bytes()
}

// The hostile text of `fixtures/hostile/escapes/` (see make.py), piece by piece.
const ANSI: &str = "\x1b[31mRED\x1b[0m";
const OSC8: &str = "\x1b]8;;http://x\x07LINK\x1b]8;;\x07";
const CONTROLS: &str = "BEL\x07BS\x08CR\rEND";
const BIDI: &str = "RLO\u{202e}exe.txt LRI\u{2066}x";
const ZERO_WIDTH: &str = "ZW\u{200b}SP BOM\u{feff}X";
const MARKUP: &str = "pipe|tick`<script>alert(1)</script>[x](javascript:alert(1))";
const FORMULA: &str = "=cmd|' /C calc'!A0";

fn hostile_text() -> String {
    [ANSI, OSC8, CONTROLS, BIDI, ZERO_WIDTH, MARKUP].join(" ")
}

/// Characters that must never reach a terminal, a Markdown reply or a spreadsheet as
/// themselves.
const RAW_FORBIDDEN: [char; 8] = [
    '\u{1b}', '\u{7}', '\u{8}', '\r', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}',
];

fn assert_inert(text: &str, what: &str) {
    for c in RAW_FORBIDDEN {
        assert!(
            !text.contains(c),
            "{what}: raw U+{:04X} in the output:\n{text}",
            c as u32
        );
    }
}

/// How the terminal escaping shows the hostile pieces (src/sanitize.rs).
const TERMINAL_FORMS: [&str; 5] = [
    r"\e[31mRED\e[0m",
    r"\e]8;;http://x\u{0007}LINK\e]8;;\u{0007}",
    r"BEL\u{0007}BS\u{0008}CR\rEND",
    r"RLO\u{202e}exe.txt LRI\u{2066}x",
    r"ZW\u{200b}SP BOM\u{feff}X",
];

// ---------------------------------------------------------------------------------------------
// 1. Zip bombs

#[test]
fn zip_bomb_with_lying_headers_stops_at_the_declared_size_and_everything_else_is_read() {
    let bomb = hostile().join("bomb-lying-headers.zip");
    let other = hostile().join("invalid-utf8.csv");
    let (accounts, out) = summary(&[os(&bomb), os(&other)]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert_eq!(accounts.len(), 4, "{accounts:#?}");
    // Both lying entries (declared 1,000 and 100,000 bytes, 64 MiB inside) are read up to
    // their declared size, the rows there kept, and the rest refused as a bomb.
    for (entry, rows) in [("!/logs/bomb-1000.csv", 7), ("!/logs/bomb-100000.csv", 100)] {
        let a = account(&accounts, entry);
        assert_eq!(a["status"], "partial", "{a}");
        assert_eq!(a["events"], rows, "{a}");
        assert!(
            problems(a).contains("bytes its header declares (a zip bomb?)"),
            "the problem names the declared size: {a}"
        );
        assert!(
            out.stderr
                .contains(&format!("bomb-lying-headers.zip{entry}: read partly: ")),
            "{}",
            out.stderr
        );
    }
    // The honest entry beside them, and the other file on the command line, are read.
    let ok = account(&accounts, "bomb-lying-headers.zip!/logs/ok.csv");
    assert_eq!(
        (ok["status"].as_str(), ok["events"].as_u64()),
        (Some("ok"), Some(2))
    );
    let other = account(&accounts, "/invalid-utf8.csv");
    assert_eq!(other["events"], 3);
    assert_eq!(other["status"], "ok");

    // The event dump holds the rows within the declared sizes and nothing of the 64 MiB.
    let out = run(rdtriage().arg("dump").arg(&bomb));
    assert_eq!(out.code, Some(3));
    let lines = out.json_lines();
    assert_eq!(lines.len(), 7 + 100 + 2, "{lines:#?}");
}

#[test]
fn honest_zip_bomb_over_max_zip_bytes_is_refused_whole_naming_the_flag() {
    let bomb = hostile().join("bomb-honest.zip");
    let (accounts, out) = summary(&[os("--max-zip-bytes"), os("1000000"), os(&bomb)]);
    assert_eq!(out.code, Some(3));
    assert_eq!(accounts.len(), 1, "the zip is refused whole: {accounts:#?}");
    let a = &accounts[0];
    assert_eq!(a["file"], bomb.display().to_string());
    assert_eq!(a["format"], "zip");
    assert_eq!(a["status"], "failed");
    let p = problems(a);
    assert!(
        p.contains("over the 1000000-byte limit") && p.contains("--max-zip-bytes"),
        "{p}"
    );
    assert!(out.stderr.contains("--max-zip-bytes"), "{}", out.stderr);

    // Under the default cap the same zip is read: the cap is what refused it.
    let (accounts, out) = summary(&[os(&bomb)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(account(&accounts, "bomb-honest.zip!/ok.csv")["events"], 2);
    assert_eq!(
        account(&accounts, "bomb-honest.zip!/zeros.bin")["status"],
        "skipped"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Zips of zips

/// `l1.zip` ⊃ `l2.zip` ⊃ `l3.zip` ⊃ `l4.zip`, each holding a CSV of `n` rows (`a`, `b`, `c`,
/// `d` with 1, 2, 3, 4 rows).
fn nested_zips(dir: &Path) -> PathBuf {
    let l4 = common::zip_of(&[("d.csv", &harmless_csv(4))]);
    let l3 = common::zip_of(&[("c.csv", &harmless_csv(3)), ("l4.zip", &l4)]);
    let l2 = common::zip_of(&[("b.csv", &harmless_csv(2)), ("l3.zip", &l3)]);
    let l1 = common::zip_of(&[("a.csv", &harmless_csv(1)), ("l2.zip", &l2)]);
    let path = dir.join("l1.zip");
    std::fs::write(&path, l1).unwrap();
    path
}

#[test]
fn zips_nested_deeper_than_max_zip_depth_are_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let l1 = nested_zips(dir.path());

    // Default depth 3: a, b and c are read, l4.zip (depth 4) is refused, d never seen.
    let (accounts, out) = summary(&[os(&l1)]);
    assert_eq!(out.code, Some(3));
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["file"].as_str().unwrap().rsplit_once("l1.zip").unwrap().1)
        .collect();
    assert_eq!(
        names,
        [
            "!/a.csv",
            "!/l2.zip!/b.csv",
            "!/l2.zip!/l3.zip!/c.csv",
            "!/l2.zip!/l3.zip!/l4.zip"
        ]
    );
    for (i, n) in [1, 2, 3].iter().enumerate() {
        assert_eq!(accounts[i]["status"], "ok");
        assert_eq!(accounts[i]["events"], *n);
    }
    let deep = &accounts[3];
    assert_eq!(deep["status"], "failed");
    assert_eq!(deep["format"], "zip");
    assert_eq!(
        problems(deep),
        "zips nested more than 3 deep: refused (raise with --max-zip-depth)"
    );
    assert!(
        out.stderr
            .contains("l4.zip: not read: zips nested more than 3 deep"),
        "{}",
        out.stderr
    );

    // Raised, everything is read; lowered to 1, only the top zip's own file is.
    let (accounts, out) = summary(&[os("--max-zip-depth"), os("4"), os(&l1)]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(accounts.len(), 4);
    assert!(accounts.iter().all(|a| a["status"] == "ok"));
    let (accounts, _) = summary(&[os("--max-zip-depth"), os("1"), os(&l1)]);
    assert_eq!(accounts.len(), 2);
    assert_eq!(account(&accounts, "l1.zip!/a.csv")["status"], "ok");
    assert!(problems(account(&accounts, "l1.zip!/l2.zip")).contains("more than 1 deep"));
}

#[test]
fn zip_with_more_entries_than_max_zip_entries_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let csv = harmless_csv(1);
    let five: Vec<(String, &[u8])> = (0..5)
        .map(|i| (format!("f{i}.csv"), csv.as_slice()))
        .collect();
    let five: Vec<(&str, &[u8])> = five.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let path = dir.path().join("five.zip");
    std::fs::write(&path, common::zip_of(&five)).unwrap();

    let (accounts, out) = summary(&[os("--max-zip-entries"), os("4"), os(&path)]);
    assert_eq!(out.code, Some(3));
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["status"], "failed");
    assert_eq!(
        problems(&accounts[0]),
        "holds 5 entries, more than the limit of 4: refused (raise with --max-zip-entries)"
    );
    let (accounts, out) = summary(&[os("--max-zip-entries"), os("5"), os(&path)]);
    assert_eq!(out.code, Some(0));
    assert_eq!(accounts.len(), 5);

    // Nested entries count against the top-level zip's budget: 3 outer + 3 inner > 5.
    let inner = common::zip_of(&[("x.csv", &csv), ("y.csv", &csv), ("z.csv", &csv)]);
    let outer = dir.path().join("outer.zip");
    std::fs::write(
        &outer,
        common::zip_of(&[("a.csv", &csv), ("b.csv", &csv), ("inner.zip", &inner)]),
    )
    .unwrap();
    let (accounts, out) = summary(&[os("--max-zip-entries"), os("5"), os(&outer)]);
    assert_eq!(out.code, Some(3));
    assert_eq!(accounts.len(), 3, "{accounts:#?}");
    assert_eq!(account(&accounts, "outer.zip!/a.csv")["status"], "ok");
    let inner = account(&accounts, "outer.zip!/inner.zip");
    assert_eq!(inner["status"], "failed");
    assert!(problems(inner).contains("--max-zip-entries"), "{inner}");
}

/// A nested zip that exhausts the top-level zip's entry budget says so with its own count and
/// the top-level cap (it once read "holds more than 5 entries (3 here)").
#[test]
fn nested_zip_entry_budget_message_does_not_contradict_itself() {
    let dir = tempfile::tempdir().unwrap();
    let csv = harmless_csv(1);
    let inner = common::zip_of(&[("x.csv", &csv), ("y.csv", &csv), ("z.csv", &csv)]);
    let outer = dir.path().join("outer.zip");
    std::fs::write(
        &outer,
        common::zip_of(&[("a.csv", &csv), ("b.csv", &csv), ("inner.zip", &inner)]),
    )
    .unwrap();
    let (accounts, _) = summary(&[os("--max-zip-entries"), os("5"), os(&outer)]);
    let p = problems(account(&accounts, "outer.zip!/inner.zip"));
    assert!(
        p.contains("its 3 entries would take this run (or ticket) past the limit of 5 zip entries"),
        "{p}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A CSV line of absurd size

/// Header, 3 good rows, one row with a 100,000-byte Path (longer than any read buffer, so
/// the guard must see it), 3 good rows.
fn csv_with_huge_row(dir: &Path) -> PathBuf {
    let mut data = harmless_csv(3);
    data.extend_from_slice(
        format!(
            "\"10:00:04.0000000 AM\",\"notepad.exe\",\"5120\",\"ReadFile\",\"C:\\{}\",\"SUCCESS\",\"\"\r\n",
            "A".repeat(100_000)
        )
        .as_bytes(),
    );
    let tail = harmless_csv(3);
    let header_len = tail.iter().position(|&b| b == b'\n').unwrap() + 1;
    data.extend_from_slice(&tail[header_len..]);
    let path = dir.join("huge-row.csv");
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn csv_line_over_max_csv_row_bytes_is_refused_naming_the_file_and_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = csv_with_huge_row(dir.path());
    let (accounts, out) = summary(&[os("--max-csv-row-bytes"), os("4096"), os(&path)]);
    assert_eq!(out.code, Some(3));
    let a = &accounts[0];
    assert_ne!(a["status"], "ok", "{a}");
    assert!(
        problems(a).contains("a record longer than 4096 bytes")
            && problems(a).contains("(raise with --max-csv-row-bytes)"),
        "{a}"
    );
    assert!(
        out.stderr
            .contains(&format!("{}: not read: ", path.display()))
            || out
                .stderr
                .contains(&format!("{}: read partly: ", path.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--max-csv-row-bytes"), "{}", out.stderr);
    // Without the small cap the same file is read whole: 7 rows.
    let (accounts, out) = summary(&[os(&path)]);
    assert_eq!(out.code, Some(0));
    assert_eq!(accounts[0]["events"], 7);
}

/// The rows before an overlong line are read, and the long row is named (the guard once
/// failed the whole 64 KiB read holding it, losing rows 1-3 and blaming the header row).
#[test]
fn csv_rows_before_an_overlong_line_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = csv_with_huge_row(dir.path());
    let (accounts, _) = summary(&[os("--max-csv-row-bytes"), os("4096"), os(&path)]);
    let a = &accounts[0];
    assert_eq!(
        a["events"], 3,
        "the 3 rows before the long line are read: {a}"
    );
    assert_eq!(a["status"], "partial", "{a}");
    assert!(problems(a).contains("row 4:"), "the long row is named: {a}");
}

/// Every line is measured, also one shorter than a read buffer lying between two line feeds
/// (the guard once measured only the ends of each read, so `long-row.csv` passed).
#[test]
fn csv_line_over_the_cap_is_refused_wherever_it_falls() {
    let path = hostile().join("long-row.csv");
    let (accounts, out) = summary(&[os("--max-csv-row-bytes"), os("4096"), os(&path)]);
    let a = &accounts[0];
    assert_eq!(out.code, Some(3), "{a}");
    assert_ne!(a["status"], "ok", "{a}");
    assert!(problems(a).contains("--max-csv-row-bytes"), "{a}");
}

// ---------------------------------------------------------------------------------------------
// 4. XML

fn passwd_first_line() -> Option<String> {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| t.lines().next().map(str::to_string))
        .filter(|l| !l.is_empty())
}

#[test]
fn billion_laughs_dtd_is_refused_and_nothing_is_expanded() {
    let path = hostile().join("billion-laughs.xml");
    let (accounts, out) = summary(&[os(&path)]);
    assert_eq!(out.code, Some(3));
    let a = &accounts[0];
    assert_eq!(a["format"], "event-xml");
    assert_eq!(a["status"], "failed");
    assert_eq!(a["events"], 0);
    assert!(problems(a).contains("(DTD) are refused"), "{a}");
    let dump = run(rdtriage().arg("dump").arg(&path));
    assert_eq!(dump.code, Some(3));
    assert!(dump.stdout.is_empty(), "no event is emitted");
    let scan = run(rdtriage().args(["scan", "--format", "json"]).arg(&path));
    // Nothing could be read at all: insufficient evidence (issue 13), not a partial read.
    assert_eq!(scan.code, Some(4));
    assert!(!scan.text().contains("lollol"));
    assert!(scan.json()["causes"].as_array().unwrap().is_empty());
}

#[test]
fn external_entity_is_refused_and_the_file_never_appears() {
    let path = hostile().join("external-entity.xml");
    let undeclared = hostile().join("undeclared-entity.xml");
    let (accounts, out) = summary(&[os(&path), os(&undeclared)]);
    assert_eq!(out.code, Some(3));
    let a = account(&accounts, "/external-entity.xml");
    assert_eq!(
        (a["status"].as_str(), a["events"].as_u64()),
        (Some("failed"), Some(0))
    );
    assert!(problems(a).contains("(DTD) are refused"), "{a}");
    // Without a DTD, `&xxe;` is an unknown entity: that event is refused, the one before it
    // is read.
    let u = account(&accounts, "/undeclared-entity.xml");
    assert_eq!(
        (u["status"].as_str(), u["events"].as_u64()),
        (Some("partial"), Some(1))
    );
    assert!(problems(u).contains("unknown entity &xxe;"), "{u}");

    let mut everything = String::new();
    for args in [
        vec!["dump"],
        vec!["scan", "--format", "json"],
        vec!["scan", "--format", "markdown"],
        vec!["timeline", "--all"],
    ] {
        let out = run(rdtriage().args(&args).arg(&path).arg(&undeclared));
        assert_eq!(out.code, Some(3), "{args:?}");
        everything.push_str(&out.text());
        everything.push_str(&out.stderr);
    }
    if let Some(line) = passwd_first_line() {
        assert!(!everything.contains(&line), "/etc/passwd leaked");
    }
    assert!(!everything.contains("root:x:0:0"));
}

#[test]
fn xml_nested_deeper_than_64_is_refused_and_the_event_before_is_read() {
    let path = hostile().join("deep-nesting.xml");
    let (accounts, out) = summary(&[os(&path)]);
    assert_eq!(out.code, Some(3));
    let a = &accounts[0];
    assert_eq!(a["status"], "partial");
    assert_eq!(a["events"], 1);
    assert_eq!(a["errors"], 1);
    assert!(
        problems(a).contains("elements nested deeper than 64 levels (raise with --max-xml-depth)"),
        "{a}"
    );
    assert!(out.stderr.contains("--max-xml-depth"), "{}", out.stderr);
    let (accounts, out) = summary(&[os("--max-xml-depth"), os("200"), os(&path)]);
    assert_eq!(out.code, Some(0), "raised, the file is read: {accounts:#?}");
    assert_eq!(accounts[0]["events"], 2);
    let dump = run(rdtriage().arg("dump").arg(&path));
    let lines = dump.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["record"], 1);
    assert_eq!(lines[0]["data"]["1"], "Access is denied.");

    // The same nesting outside any <Event>: refused too.
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("deep-outside.xml");
    std::fs::write(
        &outside,
        format!(
            "<?xml version=\"1.0\"?>\r\n<Events>{}{}</Events>\r\n",
            "<x>".repeat(100),
            "</x>".repeat(100)
        ),
    )
    .unwrap();
    let (accounts, _) = summary(&[os(&outside)]);
    assert_eq!(accounts[0]["status"], "failed");
    assert!(problems(&accounts[0]).contains("nested deeper than 64"));
}

#[test]
fn xml_event_over_max_xml_elements_is_refused_naming_the_limit_and_the_flag() {
    let path = hostile().join("many-elements.xml");
    let (accounts, out) = summary(&[os(&path)]);
    assert_eq!(
        out.code,
        Some(0),
        "under the default cap all 3 events are read"
    );
    assert_eq!(accounts[0]["events"], 3);

    let (accounts, out) = summary(&[os("--max-xml-elements"), os("1000"), os(&path)]);
    assert_eq!(out.code, Some(3));
    let a = &accounts[0];
    assert_eq!(a["status"], "partial", "{a}");
    assert_eq!(a["errors"], 1, "{a}");
    assert!(
        problems(a)
            .contains("an <Event> with more than 1000 elements (raise with --max-xml-elements)"),
        "{a}"
    );
    assert!(out.stderr.contains("--max-xml-elements"), "{}", out.stderr);
    let dump = run(rdtriage()
        .args(["dump", "--max-xml-elements", "1000"])
        .arg(&path));
    let records: Vec<u64> = dump
        .json_lines()
        .iter()
        .map(|l| l["record"].as_u64().unwrap())
        .collect();
    assert_eq!(records.first(), Some(&1), "the event before is read");
    assert!(!records.contains(&2), "the flood is not: {records:?}");
}

/// One event over `--max-xml-elements` costs only that event: the reader skips to its
/// `</Event>` and reads on (it once ended the document there, losing record 3).
#[test]
fn xml_events_after_one_over_max_xml_elements_are_still_read() {
    let path = hostile().join("many-elements.xml");
    let (accounts, _) = summary(&[os("--max-xml-elements"), os("1000"), os(&path)]);
    assert_eq!(accounts[0]["events"], 2, "events 1 and 3: {}", accounts[0]);
}

// ---------------------------------------------------------------------------------------------
// 5. Invalid UTF-8 and a lone UTF-16 surrogate

#[test]
fn invalid_utf8_becomes_u_fffd_in_valid_json_and_is_counted() {
    let csv = hostile().join("invalid-utf8.csv");
    let xml = hostile().join("invalid-utf8.xml");

    let dump = run(rdtriage().arg("dump").arg(&csv).arg(&xml));
    assert_eq!(dump.code, Some(0), "{}", dump.stderr);
    let lines = dump.json_lines();
    assert_eq!(lines.len(), 3 + 2);
    assert!(
        lines[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("f686aace6942fb7f7ceb231212eef4a4_bad\u{FFFD}\u{FFFD}name"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["path"], "C:\\Users\\alice\\file02.txt");
    assert_eq!(lines[2]["path"], "C:\\half\u{FFFD}(.txt");
    assert_eq!(lines[3]["computer"], "RDS\u{FFFD}(01.contoso.com");
    assert_eq!(lines[3]["data"]["1"], "Access \u{FFFD} is denied.");
    assert_eq!(lines[4]["data"]["1"], "Access is denied.");

    let (accounts, _) = summary(&[os(&csv), os(&xml)]);
    let c = account(&accounts, "/invalid-utf8.csv");
    assert_eq!(c["status"], "ok");
    assert_eq!(
        problems(c),
        "note: 2 rows had invalid UTF-8, replaced with U+FFFD"
    );
    let x = account(&accounts, "/invalid-utf8.xml");
    assert_eq!(x["status"], "ok");
    assert_eq!(
        problems(x),
        "note: 2 invalid UTF-8 sequences replaced with U+FFFD"
    );

    // The scan report carries the replaced text in its evidence, as valid JSON.
    let scan = run(rdtriage()
        .args(["scan", "--format", "json"])
        .arg(&csv)
        .arg(&xml));
    assert_eq!(scan.code, Some(0), "{}", scan.stderr);
    let report = scan.json();
    let evidence: Vec<&str> = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap())
        .map(|f| f["evidence"].as_str().unwrap())
        .collect();
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("_bad\u{FFFD}\u{FFFD}name")),
        "{evidence:#?}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e.contains("on RDS\u{FFFD}(01.contoso.com")
                && e.contains("(Access \u{FFFD} is denied.)")),
        "{evidence:#?}"
    );
}

/// GAP (src/ingest/mod.rs, `read_event_xml`): a Procmon CSV's note says how many rows had
/// invalid UTF-8; an XML export's note ("note: invalid UTF-8 replaced with U+FFFD") does not
/// say how many sequences (or events) were replaced. `invalid-utf8.xml` has 2.
fn rcm_1058(record: u64, text: &str) -> EvtxEvent {
    let mut e = EvtxEvent::new(
        "System",
        "Microsoft-Windows-TerminalServices-RemoteConnectionManager",
        1058,
        Timestamp::from_second(1_709_629_200 + record as i64).unwrap(),
    );
    e.qualifiers = Some(49152);
    e.level = Some(2);
    e.record_id = record;
    e.computer = "RDS01.contoso.com".into();
    e.body = Body::EventData {
        data: vec![Data::unnamed(text)],
        binary: None,
    };
    e
}

/// Replace the UTF-16LE `from` (which must occur once) with `to` in an EVTX file of one chunk,
/// and fix the chunk's CRC32s so only the string is wrong.
fn patch_utf16(evtx: &mut [u8], from: &[u16], to: &[u16]) {
    let le = |u: &[u16]| u.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let (from, to) = (le(from), le(to));
    let hits: Vec<usize> = (0..evtx.len() - from.len())
        .filter(|&i| evtx[i..i + from.len()] == from[..])
        .collect();
    assert_eq!(hits.len(), 1, "the marker occurs once");
    evtx[hits[0]..hits[0] + to.len()].copy_from_slice(&to);
    let chunk = &mut evtx[4096..4096 + 65536];
    let free = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
    let records_crc = crc32(&[&chunk[512..free]]);
    chunk[52..56].copy_from_slice(&records_crc.to_le_bytes());
    let header_crc = crc32(&[&chunk[..120], &chunk[128..512]]);
    chunk[124..128].copy_from_slice(&header_crc.to_le_bytes());
}

/// The `evtx` crate (0.15.1) does not refuse the record: its XML renderer writes an unpaired
/// surrogate as `_`, as it does for every character XML cannot hold. The record is read with
/// `_` in place of U+D800, and the file's account counts the replacement in a note.
#[test]
fn evtx_record_with_a_lone_surrogate_is_read_with_the_unit_replaced() {
    let events = vec![
        rcm_1058(1, "Access is denied. one"),
        rcm_1058(2, "Access is denied. \u{E000}\u{E001}"),
        rcm_1058(3, "Access is denied. three"),
    ];
    let mut bytes = write_evtx(&events).unwrap();
    // U+E000 (a private-use character) becomes U+D800, a high surrogate with no low one.
    patch_utf16(&mut bytes, &[0xE000, 0xE001], &[0xD800, 0xE001]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("System.evtx");
    std::fs::write(&path, &bytes).unwrap();

    let (accounts, out) = summary(&[os(&path)]);
    let a = &accounts[0];
    assert_eq!(out.code, Some(0), "{a}");
    assert_eq!(a["format"], "evtx");
    assert_eq!(
        (a["status"].as_str(), a["events"].as_u64()),
        (Some("ok"), Some(3)),
        "{a}"
    );
    assert_eq!(
        problems(a),
        "note: 1 unpaired UTF-16 surrogates (invalid text) replaced with '_'"
    );

    let dump = run(rdtriage().arg("dump").arg(&path));
    // No WTF-8 encoding of a surrogate (ED A0..BF ..) leaks into the output.
    assert!(!dump.stdout.windows(2).any(|w| w[0] == 0xed && w[1] >= 0xa0));
    let lines = dump.json_lines();
    let records: Vec<u64> = lines
        .iter()
        .map(|l| l["record"].as_u64().unwrap())
        .collect();
    assert_eq!(records, [1, 2, 3]);
    assert_eq!(lines[0]["data"]["1"], "Access is denied. one");
    assert_eq!(lines[1]["data"]["1"], "Access is denied. _\u{E001}");
    assert_eq!(lines[2]["data"]["1"], "Access is denied. three");
}

/// An EVTX file of three RCM 1058 records whose record 2 is `middle`.
fn evtx_with_middle_record(dir: &Path, middle: EvtxEvent) -> PathBuf {
    let events = vec![
        rcm_1058(1, "Access is denied. one"),
        middle,
        rcm_1058(3, "Access is denied. three"),
    ];
    let path = dir.join("System.evtx");
    std::fs::write(&path, write_evtx(&events).unwrap()).unwrap();
    path
}

fn dumped_records(args: &[&str], path: &Path) -> Vec<u64> {
    run(rdtriage().arg("dump").args(args).arg(path))
        .json_lines()
        .iter()
        .map(|l| l["record"].as_u64().unwrap())
        .collect()
}

/// An EVTX file of three records whose middle one is `middle`: read whole by default; under
/// `cap` (flag, value) only records 1 and 3 are read, and record 2 is an error whose message
/// holds `reason` and names the flag.
fn assert_middle_record_refused(middle: EvtxEvent, cap: [&str; 2], reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = evtx_with_middle_record(dir.path(), middle);
    let (accounts, out) = summary(&[os(&path)]);
    assert_eq!(out.code, Some(0));
    assert_eq!(accounts[0]["events"], 3);

    let (accounts, out) = summary(&[os(cap[0]), os(cap[1]), os(&path)]);
    assert_eq!(out.code, Some(3));
    let a = &accounts[0];
    assert_eq!(
        (
            a["status"].as_str(),
            a["events"].as_u64(),
            a["errors"].as_u64()
        ),
        (Some("partial"), Some(2), Some(1)),
        "{a}"
    );
    let p = problems(a);
    assert!(p.starts_with("record 2: "), "{p}");
    assert!(p.contains(reason), "{p}");
    assert!(p.contains(cap[0]), "{p}");
    assert!(out.stderr.contains(cap[0]), "{}", out.stderr);
    assert_eq!(dumped_records(&cap, &path), [1, 3]);
}

#[test]
fn evtx_record_over_max_evtx_record_bytes_is_a_record_error_naming_the_flag() {
    assert_middle_record_refused(
        rcm_1058(2, &"X".repeat(20_000)),
        ["--max-evtx-record-bytes", "10000"],
        "bytes, over the 10000-byte limit (raise with --max-evtx-record-bytes)",
    );
}

#[test]
fn evtx_record_over_max_xml_elements_is_a_record_error_naming_the_flag() {
    let mut flood = rcm_1058(2, "");
    flood.body = Body::EventData {
        data: (0..300)
            .map(|i| Data::named(&format!("P{i}"), "x"))
            .collect(),
        binary: None,
    };
    assert_middle_record_refused(
        flood,
        ["--max-xml-elements", "100"],
        "an <Event> with more than 100 elements (raise with --max-xml-elements)",
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Escaping in every output format

fn escapes() -> PathBuf {
    hostile().join("escapes")
}

#[test]
fn scan_table_shows_hostile_text_escaped_and_never_raw() {
    // Wide enough that no escape is split across lines; and the default width.
    let wide = run(rdtriage().args(["scan", "--width", "1000"]).arg(escapes()));
    assert_eq!(wide.code, Some(0), "{}", wide.stderr);
    let text = wide.text();
    assert_inert(&text, "scan table");
    for form in TERMINAL_FORMS {
        assert!(text.contains(form), "{form} missing:\n{text}");
    }
    assert!(
        text.contains(&format!("_{}", TERMINAL_FORMS[0])),
        "the key file's name"
    );
    assert!(
        text.contains(r"Procmon: mstsc\e[31mRED\e[0m\u{202e}exe.gpj CreateFile"),
        "the process name:\n{text}"
    );
    assert!(
        text.contains(r"on RDS01\e[31mRED\e[0m|`<b>: could not"),
        "the computer"
    );
    let narrow = run(rdtriage().arg("scan").arg(escapes()));
    assert_inert(&narrow.text(), "scan table at 80 columns");
}

#[test]
fn timeline_and_dump_tables_show_hostile_text_escaped_and_never_raw() {
    let timeline = run(rdtriage()
        .args(["timeline", "--all", "--width", "1000"])
        .arg(escapes()));
    assert_eq!(timeline.code, Some(0), "{}", timeline.stderr);
    let text = timeline.text();
    assert_inert(&text, "timeline");
    // Details are clipped to 120 characters in the middle of the path: its start and end are
    // there, escaped, and the Procmon result is never cut off.
    assert!(
        text.contains(r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys\f68…"),
        "{text}"
    );
    assert!(
        text.contains("(javascript:alert(1)) → ACCESS DENIED"),
        "{text}"
    );
    assert!(
        text.contains(r"mstsc\e[31mRED\e[0m\u{202e}exe.gpj CreateFile"),
        "{text}"
    );
    assert!(
        text.contains(r"1=Access is denied. \e[31mRED\e[0m \e]8;;http://x\u{0007}LINK"),
        "{text}"
    );
    let narrow = run(rdtriage().args(["timeline", "--all"]).arg(escapes()));
    assert_inert(&narrow.text(), "timeline at 120 columns");

    // The dump table, 120 columns wide, wraps long text: look for pieces that fit.
    let dump = run(rdtriage()
        .args(["dump", "--format", "table", "--width", "120"])
        .arg(escapes()));
    assert_eq!(dump.code, Some(0), "{}", dump.stderr);
    let text = dump.text();
    assert_inert(&text, "dump table");
    for piece in [
        r"_\e[31mRED\e[0m",
        r"BEL\u{0007}BS\u{0008}CR\rEND",
        r"RLO\u{202e}exe.txt",
        r"ZW\u{200b}SP BOM\u{feff}X",
        r"mstsc\e[31mRED\e[0m\u{202e}exe.gpj",
    ] {
        assert!(text.contains(piece), "{piece} missing:\n{text}");
    }

    let summary = run(rdtriage()
        .args(["dump", "--summary", "--format", "table"])
        .arg(escapes()));
    assert_inert(&summary.text(), "dump summary table");
}

#[test]
fn markdown_escapes_pipes_backticks_html_and_links() {
    let out = run(rdtriage()
        .args(["scan", "--format", "markdown"])
        .arg(escapes()));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let md = out.text();
    assert_inert(&md, "markdown");
    assert!(!md.contains("### Disconnects"), "the fixture has none");
    for form in [
        r"pipe\|tick\`&lt;script&gt;alert(1)&lt;/script&gt;\[x\](javascript:alert(1))",
        r"\\e\[31mRED\\e\[0m",
        r"\\e\]8;;http:\/\/x\\u{0007}LINK",
        r"BEL\\u{0007}BS\\u{0008}CR\\rEND",
        r"RLO\\u{202e}exe.txt LRI\\u{2066}x",
        r"ZW\\u{200b}SP BOM\\u{feff}X",
        r"on RDS01\\e\[31mRED\\e\[0m\|\`&lt;b&gt;: could not",
    ] {
        assert!(md.contains(form), "{form} missing:\n{md}");
    }
    assert!(
        !md.contains("<script>") && !md.contains("<b>"),
        "raw HTML:\n{md}"
    );
    assert!(!md.contains("x](javascript"), "a live link:\n{md}");
    assert!(
        !md.contains("http://x"),
        "a bare URL GitHub would link:\n{md}"
    );
    // No log text adds a cell to a table row or a line to the reply.
    for line in md.lines().filter(|l| l.starts_with('|')) {
        let unescaped = line
            .char_indices()
            .filter(|&(i, c)| c == '|' && !line[..i].ends_with('\\'))
            .count();
        assert_eq!(unescaped, 5, "the files table has 4 cells: {line}");
    }
    let evidence_lines = md
        .lines()
        .filter(|l| l.starts_with("   - Evidence"))
        .count();
    assert_eq!(evidence_lines, 3, "one line per finding:\n{md}");
}

const ECHO_RULE: &str = r#"
rule echo-path {
    title: "A path echoed as evidence"
    cause: access-denied
    strength: weak
    when: source == "procmon" and path startswith "="
    evidence: "{path}"
    remediation: "None."
    example match procmon { path: "=1+1" }
    example nomatch procmon { path: "C:\\x" }
}
"#;

#[test]
fn csv_output_defuses_formulas_and_escapes_controls() {
    let dir = tempfile::tempdir().unwrap();
    // A file name that is itself a formula, given relative so the file cell starts with it.
    let name = "=2+5+cmd|' -C calc'!A0.csv";
    std::fs::copy(escapes().join("Logfile.CSV"), dir.path().join(name)).unwrap();
    std::fs::write(dir.path().join("echo.rdt"), ECHO_RULE).unwrap();
    let out = run(rdtriage()
        .current_dir(dir.path())
        .args(["scan", "--format", "csv", "--rules", "echo.rdt", name]));
    // No RDP client process or port in this capture: insufficient evidence (issue 13).
    assert_eq!(out.code, Some(4), "{}", out.stderr);
    let text = out.text();
    assert_inert(&text.replace("\r\n", "\n"), "csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(rows.len() >= 3, "{text}");
    for row in &rows {
        for cell in row {
            let formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
            assert!(
                !formula || cell.parse::<f64>().is_ok(),
                "a formula cell {cell:?} in {text}"
            );
        }
        assert_eq!(&row[7], &format!("'{name}"), "the file cell");
    }
    let echo = rows
        .iter()
        .find(|r| &r[4] == "echo-path")
        .expect("the echo rule's row");
    assert_eq!(&echo[11], format!("'{FORMULA}"));
    let cert = rows
        .iter()
        .find(|r| &r[4] == "cert-procmon-machinekeys-denied")
        .expect("the certificate finding");
    for form in TERMINAL_FORMS {
        assert!(cert[11].contains(form), "{form} in {:?}", &cert[11]);
    }
}

#[test]
fn json_keeps_hostile_text_exactly_with_controls_json_escaped() {
    let out = run(rdtriage().args(["scan", "--format", "json"]).arg(escapes()));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for b in [0x1bu8, 0x07, 0x08, b'\r'] {
        assert!(!out.stdout.contains(&b), "raw byte {b:#04x} in the JSON");
    }
    let text = out.text();
    assert!(text.contains(r"\u001b[31mRED\u001b[0m"), "{text}");
    let report = out.json();
    let evidence: Vec<String> = report["causes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["findings"].as_array().unwrap())
        .map(|f| f["evidence"].as_str().unwrap().to_string())
        .collect();
    let hostile = hostile_text();
    assert!(
        evidence
            .iter()
            .any(|e| e.ends_with(&format!("_{hostile} -> ACCESS DENIED"))),
        "the Procmon path, byte for byte: {evidence:#?}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e.contains(&format!("on RDS01{ANSI}|`<b>: could not")) && e.contains(&hostile)),
        "the event's computer and data, byte for byte: {evidence:#?}"
    );
    assert!(
        evidence
            .iter()
            .any(|e| e.starts_with(&format!("Procmon: mstsc{ANSI}\u{202e}exe.gpj CreateFile")))
    );

    // The event dump too: one valid object per line, the same text.
    let dump = run(rdtriage().arg("dump").arg(escapes()));
    for b in [0x1bu8, 0x07, 0x08, b'\r'] {
        assert!(!dump.stdout.contains(&b), "raw byte {b:#04x} in the JSONL");
    }
    let lines = dump.json_lines();
    assert_eq!(lines.len(), 4);
    assert!(lines[0]["path"].as_str().unwrap().ends_with(&hostile));
    assert_eq!(lines[2]["path"], FORMULA);
    assert_eq!(
        lines[3]["data"]["1"],
        format!("Access is denied. {hostile}")
    );
}

// ---------------------------------------------------------------------------------------------
// 7. A mixed ticket: good files and every kind of broken one

/// What one input of the mixed ticket must be reported as.
struct Expect {
    file: &'static str,
    status: &'static str,
    reason: &'static str,
}

const BROKEN: [Expect; 15] = [
    Expect {
        file: "ticket/broken/Application-truncated.evtx",
        status: "partial",
        reason: "truncated: the file ends 30000 bytes into a chunk",
    },
    Expect {
        file: "ticket/broken/billion-laughs.xml",
        status: "failed",
        reason: "(DTD) are refused",
    },
    Expect {
        file: "ticket/broken/bomb-lying-headers.zip!/logs/bomb-1000.csv",
        status: "partial",
        reason: "bytes its header declares (a zip bomb?)",
    },
    Expect {
        file: "ticket/broken/bomb-lying-headers.zip!/logs/bomb-100000.csv",
        status: "partial",
        reason: "bytes its header declares (a zip bomb?)",
    },
    Expect {
        file: "ticket/broken/bomb-lying-headers.zip!/logs/ok.csv",
        status: "ok",
        reason: "",
    },
    Expect {
        file: "ticket/broken/capture.PML",
        status: "failed",
        reason: "too short for a PML file: 256 bytes",
    },
    Expect {
        file: "ticket/broken/corrupt.zip",
        status: "failed",
        reason: "not a readable zip",
    },
    Expect {
        file: "ticket/broken/empty.evtx",
        status: "failed",
        reason: "empty file (0 bytes)",
    },
    Expect {
        file: "ticket/broken/eventviewer.csv",
        status: "skipped",
        reason: "an Event Viewer CSV export",
    },
    Expect {
        file: "ticket/broken/missing-columns.csv",
        status: "failed",
        reason: "without the columns 'Path', 'Result'",
    },
    Expect {
        file: "ticket/broken/notes.txt",
        status: "skipped",
        reason: "not EVTX (no ElfFile signature)",
    },
    Expect {
        file: "ticket/broken/random.evtx",
        status: "failed",
        reason: "unreadable content: not EVTX",
    },
    Expect {
        file: "ticket/broken/readme",
        status: "skipped",
        reason: "empty file (0 bytes)",
    },
    Expect {
        file: "ticket/broken/stack-export.csv",
        status: "skipped",
        reason: "a Process Monitor stack export",
    },
    Expect {
        file: "ticket/broken/too-deep.zip!/l2.zip!/l3.zip!/l4.zip",
        status: "failed",
        reason: "(raise with --max-zip-depth)",
    },
];

const GOOD: [(&str, u64); 3] = [
    (
        "ticket/client/Microsoft-Windows-TerminalServices-RDPClient%4Operational.evtx",
        12,
    ),
    ("ticket/server/Logfile.CSV", 66),
    ("ticket/server/System.evtx", 45),
];

/// `root/ticket/` with the certificate ticket's files at the same relative paths.
fn good_ticket(root: &Path) {
    let src = fixtures().join("tickets/certificate");
    for (file, _) in GOOD {
        let rel = file.strip_prefix("ticket/").unwrap();
        let to = root.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(rel), to).unwrap();
    }
}

/// Deterministic noise (xorshift64).
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// An EVTX file of more than one chunk of events no rule cares about (EventLog 6013,
/// uptime), cut 30,000 bytes into its second chunk.
fn truncated_evtx() -> (Vec<u8>, usize) {
    let events: Vec<EvtxEvent> = (0..1500u64)
        .map(|i| {
            let mut e = EvtxEvent::new(
                "System",
                "EventLog",
                6013,
                Timestamp::from_second(1_709_600_000 + i as i64).unwrap(),
            );
            e.record_id = i + 1;
            e.computer = "RDS01.contoso.com".into();
            e.body = Body::EventData {
                data: vec![Data::unnamed(format!("{}", 86_400 + i))],
                binary: None,
            };
            e
        })
        .collect();
    let bytes = write_evtx(&events).unwrap();
    assert!(bytes.len() >= 4096 + 2 * 65536, "more than one chunk");
    let first_chunk_records = evtx::EvtxParser::from_buffer(bytes[..4096 + 65536].to_vec())
        .unwrap()
        .records()
        .count();
    (bytes[..4096 + 65536 + 30000].to_vec(), first_chunk_records)
}

fn broken_files(root: &Path) -> usize {
    let b = root.join("ticket/broken");
    std::fs::create_dir_all(&b).unwrap();
    let write = |name: &str, data: &[u8]| std::fs::write(b.join(name), data).unwrap();
    let copy = |from: PathBuf, name: &str| {
        std::fs::copy(&from, b.join(name)).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    };
    write("empty.evtx", b"");
    write("readme", b"");
    let (truncated, first_chunk) = truncated_evtx();
    write("Application-truncated.evtx", &truncated);
    write("random.evtx", &noise(5000));
    copy(fixtures().join("misc/capture.PML"), "capture.PML");
    copy(
        fixtures().join("procmon/stack-export.csv"),
        "stack-export.csv",
    );
    copy(
        fixtures().join("procmon/missing-columns.csv"),
        "missing-columns.csv",
    );
    write(
        "eventviewer.csv",
        b"Level,Date and Time,Source,Event ID,Task Category\r\nError,3/5/2024 10:14:02 AM,TermService,1058,None,\"The RD Session Host Server has failed to replace the expired self signed certificate.\"\r\n",
    );
    let mut corrupt = b"PK\x03\x04".to_vec();
    corrupt.extend(noise(300));
    write("corrupt.zip", &corrupt);
    copy(
        hostile().join("bomb-lying-headers.zip"),
        "bomb-lying-headers.zip",
    );
    let l4 = common::zip_of(&[("System.evtx", b"never read")]);
    let l3 = common::zip_of(&[("l4.zip", &l4)]);
    let l2 = common::zip_of(&[("l3.zip", &l3)]);
    write("too-deep.zip", &common::zip_of(&[("l2.zip", &l2)]));
    copy(hostile().join("billion-laughs.xml"), "billion-laughs.xml");
    write(
        "notes.txt",
        b"Customer: RDP drops with 0x904 since Monday.\r\n",
    );
    first_chunk
}

#[test]
fn mixed_ticket_reports_every_broken_file_and_analyses_the_good_ones_unchanged() {
    let good_dir = tempfile::tempdir().unwrap();
    good_ticket(good_dir.path());
    let mixed_dir = tempfile::tempdir().unwrap();
    good_ticket(mixed_dir.path());
    let first_chunk = broken_files(mixed_dir.path());

    let scan = |dir: &Path, args: &[&str]| {
        run(rdtriage()
            .current_dir(dir)
            .arg("scan")
            .args(args)
            .arg("ticket"))
    };
    let good = scan(good_dir.path(), &["--format", "json"]);
    assert_eq!(good.code, Some(0), "{}", good.stderr);
    let good = good.json();
    let mixed_out = scan(mixed_dir.path(), &["--format", "json"]);
    assert_eq!(mixed_out.code, Some(3), "{}", mixed_out.stderr);
    let mixed = mixed_out.json();

    // Every input is listed, once, with its status and its reason.
    let inputs = mixed["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), BROKEN.len() + GOOD.len(), "{inputs:#?}");
    for e in &BROKEN {
        let a = account(inputs, e.file);
        assert_eq!(a["file"], e.file);
        assert_eq!(a["status"], e.status, "{a}");
        assert!(problems(a).contains(e.reason), "{}: {a}", e.file);
        if e.status != "ok" {
            assert!(!problems(a).is_empty(), "{a}");
            if e.status != "skipped" {
                assert!(
                    mixed_out
                        .stderr
                        .contains(&format!("rdtriage: {}: ", e.file)),
                    "{}",
                    mixed_out.stderr
                );
            }
        }
    }
    let truncated = account(inputs, "Application-truncated.evtx");
    assert_eq!(truncated["events"].as_u64(), Some(first_chunk as u64));
    // The good files are read fully, every event, as when they are alone.
    for (file, events) in GOOD {
        let a = account(inputs, file);
        assert_eq!(a["status"], "ok", "{a}");
        assert_eq!(a["events"], events, "{a}");
        assert_eq!(a, account(good["inputs"].as_array().unwrap(), file));
    }

    // The analysis is exactly that of the good files alone.
    assert_eq!(mixed["causes"][0]["cause"], "certificate");
    assert_eq!(mixed["causes"][0]["confidence"], "high");
    assert_eq!(mixed["causes"], good["causes"]);
    assert_eq!(mixed["disconnects"], good["disconnects"]);
    let unread = BROKEN
        .iter()
        .filter(|e| matches!(e.status, "failed" | "partial"))
        .count();
    assert_eq!(
        mixed["verdict"].as_str().unwrap(),
        format!(
            "{}; {unread} input files could not be read fully",
            good["verdict"].as_str().unwrap()
        )
    );

    // The table names every file that was not read fully.
    let table = scan(mixed_dir.path(), &["--width", "400"]);
    assert_eq!(table.code, Some(3));
    let text = table.text();
    for e in BROKEN.iter().filter(|e| e.status != "ok") {
        let line = text
            .lines()
            .find(|l| l.contains(&format!(" {} ", e.file)))
            .unwrap_or_else(|| panic!("{} is not in the table:\n{text}", e.file));
        let word = match e.status {
            "partial" => "read partly",
            "failed" => "not read",
            _ => "skipped",
        };
        assert!(line.contains(word), "{line}");
    }
}

/// A trace whose every row some rule can use is kept only up to `--max-kept-events` (memory
/// stays bounded), and the file is then reported as partly read, naming the flag.
#[test]
fn events_past_max_kept_events_are_counted_and_the_file_is_partial() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Logfile.CSV");
    let mut csv = String::from(
        "\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n",
    );
    for i in 0..10 {
        csv.push_str(&format!(
            "\"9:14:0{i}.1234567 AM\",\"svchost.exe\",\"1100\",\"CreateFile\",\"C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\f686aace6942fb7f7ceb231212eef4a4_{i}\",\"ACCESS DENIED\",\"Desired Access: Generic Read\"\r\n"
        ));
    }
    std::fs::write(&path, csv).unwrap();
    let full = run(rdtriage().args(["scan", "--format", "json"]).arg(&path));
    // Only svchost rows, no RDP client or port: insufficient evidence (issue 13).
    assert_eq!(full.code, Some(4), "{}", full.stderr);
    let capped = run(rdtriage()
        .args(["scan", "--format", "json", "--max-kept-events", "3"])
        .arg(&path));
    assert_eq!(capped.code, Some(3), "{}", capped.stderr);
    let report = capped.json();
    let a = &report["inputs"][0];
    assert_eq!(a["status"], "partial", "{a}");
    assert_eq!(a["events"], 10, "every row is still counted: {a}");
    assert!(
        problems(a).contains("7 events were not kept: an analysis keeps at most 3 in memory")
            && problems(a).contains("--max-kept-events"),
        "{a}"
    );
    // The causes are still found from what was kept.
    assert_eq!(
        report["causes"][0]["cause"],
        full.json()["causes"][0]["cause"]
    );
}

/// An event-log XML export is read whole, so it is bounded by `--max-xml-bytes`: over it the
/// file is refused naming the flag, and the other files are read.
#[test]
fn xml_export_over_max_xml_bytes_is_refused_naming_the_flag() {
    let xml = hostile().join("undeclared-entity.xml");
    let other = hostile().join("invalid-utf8.csv");
    let (accounts, out) = summary(&[os("--max-xml-bytes"), os("100"), os(&xml), os(&other)]);
    assert_eq!(out.code, Some(3));
    let a = account(&accounts, "/undeclared-entity.xml");
    assert_eq!(a["status"], "failed", "{a}");
    assert!(
        problems(a).contains(
            "over the 100-byte limit for reading a file whole (raise it with --max-xml-bytes)"
        ),
        "{a}"
    );
    assert_eq!(account(&accounts, "/invalid-utf8.csv")["events"], 3);
}

/// Round eight: work that grew faster than the input (JSON of many fields, PML details shared
/// by many events, a PML event-offset array out of order).
#[path = "hostile/round8.rs"]
mod round8;

/// Round nine: what a user names and what a file hides (a FIFO or an unknown file named on the
/// command line, report names alike but for case, stacked `#2` suffixes, a NUL in a zip entry's
/// name, text whose encoding changes part way).
#[path = "hostile/round9.rs"]
mod round9;

/// Round ten: what a reader was not yet asked (the registry, ACL and certificate text that
/// changes encoding part way, a refused format named on the command line, a PML detail's size
/// read before its bounds, a `merge` part whose later lines are not its own).
#[path = "hostile/round10.rs"]
mod round10;

/// Round eleven: text that changes encoding part way, from or to UTF-16BE; file names that are
/// not UTF-8; listings of millions of bad lines or fields.
#[path = "hostile/round11.rs"]
mod round11;

/// Round twelve: the netstat listing reader (lines ended by a CR alone, socket lines passed
/// over in silence, a listing cut mid-line, owner names carrying escapes) and folder discovery.
#[path = "hostile/round12.rs"]
mod round12;

/// Round thirteen: the registry, ACL and certificate readers (lines ended by a CR alone,
/// UTF-16LE text without its mark, what their damaged lines lose).
#[path = "hostile/round13.rs"]
mod round13;
