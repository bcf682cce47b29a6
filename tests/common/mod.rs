//! Shared test helpers: where the fixtures and the shared corpus are, and a one-call ingest.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rdtriage::ingest::{self, Collect, IngestOptions, Limits};

/// Run the binary in `dir` with a scrubbed environment (no colour; paths given relative stay
/// relative, so the output is the same bytes on every machine).
pub fn run_in(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rdtriage"))
        .env_clear()
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the rdtriage binary runs")
}

/// `rdtriage --threads T scan --format json --rules RULES TICKET` in `dir` on 1 and then 2
/// threads: each report as JSON text, with its thread count. Each run must end as a scan does
/// (exit 0, or 4 when causes were found).
pub fn scan_with_rules(dir: &Path, rules: &str, ticket: &str) -> Vec<(&'static str, String)> {
    ["1", "2"]
        .into_iter()
        .map(|threads| {
            let args = [
                "--threads",
                threads,
                "scan",
                "--format",
                "json",
                "--rules",
                rules,
                ticket,
            ];
            let out = run_in(dir, &args);
            let code = out.status.code().expect("exited, not killed");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(code, 0 | 4),
                "{threads} threads, exit {code}: {err}"
            );
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("a JSON report");
            (threads, report.to_string())
        })
        .collect()
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `../shared/corpus`, or `None` (with a visible message) when it is absent on a user's
/// machine. In CI (`CI=true`) its absence is a failure: the corpus tests must run there.
pub fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("evtx-counts.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but the shared corpus is missing at {}",
            dir.display()
        );
    }
    // Straight to the stream, not through eprintln!: the test harness captures the macros'
    // output of passing tests, and a skip must show in `cargo test`'s output.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: the shared corpus is not at {} (these tests run in CI)",
        dir.display()
    );
    None
}

pub fn ingest_with(paths: &[PathBuf], threads: usize, limits: Limits) -> Collect {
    let mut sink = Collect::default();
    let opts = IngestOptions {
        threads,
        limits,
        keep: &ingest::keep_all,
        keep_reads_record: false,
        columns: rdtriage::ingest::ProcmonColumns::All,
    };
    ingest::ingest(paths, &opts, &mut sink);
    sink
}

pub fn ingest_paths(paths: &[PathBuf]) -> Collect {
    ingest_with(paths, 2, Limits::default())
}

pub fn ingest_one(path: impl AsRef<Path>) -> Collect {
    ingest_paths(&[path.as_ref().to_path_buf()])
}

/// Analyse `paths` with the built-in rules, two threads, default limits.
pub fn scan_paths(paths: &[PathBuf]) -> rdtriage::analysis::Scan {
    let rules = rdtriage::rules::load_with_builtin(&[]).expect("the built-in rules load");
    let opts = rdtriage::analysis::ScanOptions {
        threads: 2,
        limits: Limits::default(),
        hints: Default::default(),
        rules: &rules,
        shown_columns: rdtriage::ingest::ProcmonColumns::none(),
    };
    let found = rdtriage::ingest::discover::discover(paths, &Limits::default());
    rdtriage::analysis::scan(found, &opts, false)
}

/// Render every record of `evtx_path` to XML with the evtx crate, wrap them in an Event
/// Viewer style `<Events>` document, read both files, and assert the events are identical
/// (record, time and every field). Returns how many records were compared.
pub fn assert_xml_export_matches(evtx_path: &Path) -> usize {
    use rdtriage::model::{FileFormat, FileStatus};
    let name = evtx_path.display().to_string();
    let mut parser = evtx::EvtxParser::from_path(evtx_path).unwrap();
    let mut doc = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Events>\r\n");
    for r in parser.records() {
        let r = r.unwrap_or_else(|e| panic!("{name}: {e}"));
        let body = r.data.trim_start();
        let body = body
            .strip_prefix("<?xml version=\"1.0\" encoding=\"utf-8\"?>")
            .unwrap_or(body);
        doc.push_str(body.trim());
        doc.push_str("\r\n");
    }
    doc.push_str("</Events>\r\n");
    let dir = tempfile::tempdir().unwrap();
    let xml_path = dir.path().join("export.xml");
    std::fs::write(&xml_path, &doc).unwrap();
    let from_evtx = ingest_one(evtx_path);
    let from_xml = ingest_one(&xml_path);
    let account = &from_xml.accounts[0];
    assert_eq!(account.format, FileFormat::EventXml, "{name}");
    assert_eq!(
        account.status,
        FileStatus::Ok,
        "{name}: {:?}",
        account.problem_texts()
    );
    assert_eq!(from_evtx.events.len(), from_xml.events.len(), "{name}");
    for (a, b) in from_evtx.events.iter().zip(&from_xml.events) {
        assert_eq!(
            (a.record, a.time, &a.kind),
            (b.record, b.time, &b.kind),
            "{name}"
        );
    }
    from_evtx.events.len()
}

/// A zip (deflated) holding `entries` as (name, bytes).
pub fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }
    buf.into_inner()
}

/// The scenario tickets under `fixtures/tickets` (and their sources in `fixtures/scenarios`).
pub const TICKETS: [&str; 16] = [
    "access-denied",
    "capi2",
    "certificate",
    "clean",
    "clock-skew",
    "firewall",
    "gateway",
    "gateway-resource",
    "gateway-tunnel",
    "network",
    "noisy",
    "server-procmon",
    "server-refused",
    "server-sessions",
    "stale-certificate",
    "tls",
];

/// The one account, in `dump --summary --format json` output, whose file name ends with
/// `suffix`.
pub fn account<'a>(accounts: &'a [serde_json::Value], suffix: &str) -> &'a serde_json::Value {
    let hits: Vec<&serde_json::Value> = accounts
        .iter()
        .filter(|a| a["file"].as_str().unwrap().ends_with(suffix))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "exactly one account ending with {suffix:?} in {:#?}",
        accounts.iter().map(|a| &a["file"]).collect::<Vec<_>>()
    );
    hits[0]
}

/// An account's problems, joined with `; `.
pub fn problems(a: &serde_json::Value) -> String {
    a["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The binary at `--threads threads`, with a clean environment (no colour) and a two-minute
/// bound: a hostile input that hangs fails its test instead of the suite.
pub fn rdtriage_threads(threads: &str) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("rdtriage").unwrap();
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .args(["--threads", threads])
        .timeout(std::time::Duration::from_secs(120));
    cmd
}
