//! Tests that guard the design rather than a behaviour (issue 11).
//!
//! **Domain knowledge lives in the rule pack.** What Remote Desktop is made of (its providers
//! and channels, the client's processes, its port) is declared once, in
//! `src/rules/pack/domain.rdt`, and read through `RuleSet::domain()`. This test reads every
//! Rust file under `src/` and fails when one of those names comes back in code. Left out:
//! the pack itself, test modules (a `#[cfg(test)]` block runs to the end of its file, as in
//! every file here, and a `#[cfg(test)] mod name;` leaves out `name.rs`), and whole-line
//! comments, which may explain the domain they do not decide.

use std::path::{Path, PathBuf};

/// Names that belong to the pack's domain declaration, matched in any case.
const BARRED: &[&str] = &[
    "TerminalServices-",
    "RemoteDesktopServices-",
    "ClientActiveXCore",
    "RDPClient/Operational",
    "mstsc.exe",
    "msrdc.exe",
    "ms-wbt-server",
    "3389",
    "3391",
];

/// `(line number, barred name)` for every code line of `text` that spells one, and the names of
/// the test-only modules the file declares (the files to leave out).
fn offences(text: &str) -> (Vec<(usize, &'static str)>, Vec<String>) {
    let mut found = Vec::new();
    let mut test_modules = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            // `#[cfg(test)] mod name;` leaves out a file; a block runs to the end.
            match lines.next() {
                Some((_, next)) if next.trim_end().ends_with(';') => {
                    // Any visibility: `pub(crate) mod testutil;` is test-only too.
                    let next = next.trim();
                    let next = next
                        .strip_prefix("pub(crate) ")
                        .or_else(|| next.strip_prefix("pub(super) "))
                        .or_else(|| next.strip_prefix("pub "))
                        .unwrap_or(next);
                    if let Some(name) = next.strip_prefix("mod ") {
                        test_modules.push(name.trim_end_matches(';').trim().to_string());
                    }
                    continue;
                }
                _ => break,
            }
        }
        if t.starts_with("//") {
            continue;
        }
        let lower = line.to_ascii_lowercase();
        for name in BARRED {
            if lower.contains(&name.to_ascii_lowercase()) {
                found.push((n + 1, *name));
            }
        }
    }
    (found, test_modules)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_scanner_finds_barred_names_in_code_and_not_in_comments_or_tests() {
    let text = "fn a() { \"MSTSC.EXE\" }\n// mstsc.exe in a comment\nlet p = 3389;\n#[cfg(test)]\nmod helper;\nconst X: &str = \"Microsoft-Windows-TerminalServices-Gateway\";\n#[cfg(test)]\nmod tests {\n    const Y: u16 = 3389;\n}\n";
    let (found, test_modules) = offences(text);
    assert_eq!(
        found,
        vec![(1, "mstsc.exe"), (3, "3389"), (6, "TerminalServices-")]
    );
    assert_eq!(test_modules, vec!["helper".to_string()]);
}

#[test]
fn no_rdp_provider_process_or_port_is_spelled_in_src_outside_the_pack_issue_11() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let pack = root.join("rules").join("pack");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 50, "found only {} Rust files", files.len());
    let mut test_only: Vec<PathBuf> = Vec::new();
    let mut report = Vec::new();
    let mut scanned = Vec::new();
    for f in &files {
        if f.starts_with(&pack) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let (found, modules) = offences(&text);
        let dir = f.parent().unwrap();
        // `mod x;` in `a/mod.rs` or `a.rs` names `a/x.rs` or `a/x/mod.rs`.
        let base = if f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs" || n == "main.rs")
        {
            dir.to_path_buf()
        } else {
            dir.join(f.file_stem().unwrap())
        };
        for m in modules {
            test_only.push(base.join(format!("{m}.rs")));
            test_only.push(base.join(&m).join("mod.rs"));
        }
        scanned.push((f.clone(), found));
    }
    for (f, found) in scanned {
        if test_only.contains(&f) {
            continue;
        }
        for (line, name) in found {
            let shown = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&f);
            report.push(format!("{}:{line}: {name}", shown.display()));
        }
    }
    assert!(
        report.is_empty(),
        "Remote Desktop names belong in src/rules/pack/domain.rdt (read them through \
         RuleSet::domain()), not in code:\n{}",
        report.join("\n")
    );
}

/// **Problems are types, text is a view.** Every refusal at a `--max-*` limit is a
/// `Problem::Refused` carrying the limit and the flag that raises it, built where the limit
/// is checked (reading a file whole, a zip over a limit, the kept-events cap); the text stays
/// what it was.
#[test]
fn a_refusal_at_a_limit_carries_the_limit_and_its_flag() {
    use rdtriage::ingest::discover::discover;
    use rdtriage::ingest::{Collect, IngestOptions, Limits, ingest, keep_all};
    use rdtriage::model::Problem;

    let dir = tempfile::tempdir().unwrap();
    let refusal = |p: &Problem| match p {
        Problem::Refused { limit, flag, .. } => Some((*limit, *flag)),
        _ => None,
    };

    // A file read whole, over --max-xml-bytes.
    let xml = dir.path().join("events.xml");
    std::fs::write(&xml, format!("<Events>{}</Events>", " ".repeat(100))).unwrap();
    let opts = IngestOptions {
        threads: 1,
        limits: Limits {
            xml_bytes: 16,
            ..Limits::default()
        },
        keep: &keep_all,
        keep_reads_record: false,
        columns: rdtriage::ingest::ProcmonColumns::All,
    };
    let mut sink = Collect::default();
    ingest(&[xml], &opts, &mut sink);
    let p = sink.accounts[0].problems();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(refusal(&p[0]), Some((16, "--max-xml-bytes")));
    assert!(p[0].to_string().contains("(raise it with --max-xml-bytes)"));

    // A zip with more entries than --max-zip-entries.
    let zip_path = dir.path().join("ticket.zip");
    {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        for n in 0..3 {
            w.start_file(
                format!("e{n}.xml"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            w.write_all(b"<Events></Events>").unwrap();
        }
        w.finish().unwrap();
    }
    let limits = Limits {
        zip_entries: 2,
        ..Limits::default()
    };
    let found = discover(std::slice::from_ref(&zip_path), &limits);
    let zip_refusals: Vec<(u64, &str)> = found
        .iter()
        .filter_map(|f| match f {
            rdtriage::ingest::discover::Found::Problem(a) => Some(a),
            _ => None,
        })
        .flat_map(|a| a.problems().iter().filter_map(refusal))
        .collect();
    assert_eq!(zip_refusals, vec![(2, "--max-zip-entries")]);

    // An analysis that keeps fewer events than the ticket has rule-relevant ones.
    let rules = rdtriage::rules::load_with_builtin(&[]).unwrap();
    let limits = Limits {
        kept_events: 1,
        ..Limits::default()
    };
    let ticket = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tickets/network");
    let opts = rdtriage::analysis::ScanOptions {
        threads: 1,
        limits,
        hints: rdtriage::analysis::AlignHints::default(),
        rules: &rules,
        shown_columns: rdtriage::ingest::ProcmonColumns::none(),
    };
    let scan = rdtriage::analysis::scan(discover(&[ticket], &limits), &opts, false);
    let refused: Vec<(u64, &str)> = scan
        .diagnosis
        .inputs
        .iter()
        .flat_map(|a| a.problems().iter().filter_map(refusal))
        .collect();
    assert!(!refused.is_empty(), "{:?}", scan.diagnosis.inputs);
    assert!(refused.iter().all(|r| *r == (1, "--max-kept-events")));
}
