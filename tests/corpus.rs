//! Over every file in `../shared/corpus`: no panic, every file accounted for, EVTX record and
//! error counts equal to what evtx 0.15.1 yields (`evtx-counts.tsv`), one event per Procmon
//! data row (`procmon-counts.tsv`), the stack export refused, times read wherever the time
//! column is not Excel-mangled, and the same output for any thread count.
//!
//! The corpus is not ours to copy (see fixtures/README.md); it is used in place. CI sets
//! `CI=true` and then its absence fails these tests; elsewhere they skip with a message.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use rdtriage::ingest::{self, IngestOptions, Limits, Sink};
use rdtriage::model::{FileAccount, FileFormat, FileStatus};

fn accounts_over(paths: &[PathBuf], threads: usize) -> Vec<FileAccount> {
    let mut sink = ingest::Collect::default();
    let keep_none = |_: &mut rdtriage::model::Event| false;
    let opts = IngestOptions {
        threads,
        limits: Limits::default(),
        keep: &keep_none,
        keep_reads_record: false,
        columns: rdtriage::ingest::ProcmonColumns::All,
    };
    ingest::ingest(paths, &opts, &mut sink);
    sink.accounts
}

fn by_relative_name(
    accounts: Vec<FileAccount>,
    corpus: &std::path::Path,
) -> BTreeMap<String, FileAccount> {
    let prefix = format!("{}/", corpus.display());
    accounts
        .into_iter()
        .map(|a| {
            (
                a.file.strip_prefix(&prefix).unwrap_or(&a.file).to_string(),
                a,
            )
        })
        .collect()
}

fn tsv_rows(path: PathBuf) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

#[test]
fn evtx_counts_match_the_reference() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let accounts = by_relative_name(accounts_over(&[corpus.join("evtx")], 2), &corpus);
    let expected = tsv_rows(corpus.join("evtx-counts.tsv"));
    assert!(expected.len() >= 80);
    let mut wrong = Vec::new();
    for row in &expected {
        let (file, records, errors) = (
            &row[0],
            row[1].parse::<u64>().unwrap(),
            row[2].parse::<u64>().unwrap(),
        );
        let Some(a) = accounts.get(file) else {
            wrong.push(format!("{file}: not in the summary"));
            continue;
        };
        if a.problem_texts()
            .iter()
            .any(|p| p.starts_with("duplicate:"))
        {
            // The same bytes as another corpus file: read once, under that file's name.
            assert_eq!(a.status, FileStatus::Skipped);
            continue;
        }
        if (a.events, a.errors) != (records, errors) {
            wrong.push(format!(
                "{file}: {}/{} read, expected {records}/{errors}",
                a.events, a.errors
            ));
        }
        if errors > 0 && a.status != FileStatus::Partial {
            wrong.push(format!("{file}: {errors} errors but status {:?}", a.status));
        }
        if a.format != FileFormat::Evtx {
            wrong.push(format!("{file}: format {:?}", a.format));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every file under evtx/ has an account, including the ones that are not EVTX.
    let on_disk = walk(&corpus.join("evtx"));
    assert_eq!(on_disk.len(), accounts.len());
    assert_eq!(
        accounts["evtx/omerbenamram-evtx/history/mta/test.csv"].format,
        FileFormat::EventViewerCsv
    );
}

#[test]
fn procmon_rows_match_the_reference() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let accounts = by_relative_name(accounts_over(&[corpus.join("procmon")], 2), &corpus);
    let expected = tsv_rows(corpus.join("procmon-counts.tsv"));
    assert_eq!(walk(&corpus.join("procmon")).len(), accounts.len());
    for row in &expected {
        let (file, kind) = (&row[0], row[1].as_str());
        let a = &accounts[file];
        match kind {
            // A CSV export beside its PML is read once, as the PML (tests/pml.rs compares them).
            "events" if a.status == FileStatus::Skipped => {
                assert!(
                    a.problem_texts()[0].contains("the CSV export of"),
                    "{file}: {:?}",
                    a.problem_texts()
                );
                assert!(file.ends_with(".CSV") || file.ends_with(".csv"), "{file}");
            }
            "events" => {
                let rows: u64 = row[2].parse().unwrap();
                assert_eq!(
                    (a.format, a.status),
                    (FileFormat::ProcmonCsv, FileStatus::Ok),
                    "{file}: {:?}",
                    a.problem_texts()
                );
                assert_eq!(a.events, rows, "{file}");
                let timed = a.times_parsed.unwrap();
                if file.contains("CUCSec") {
                    // Excel-mangled `mm:ss.f`: the hour is gone, and the account says so.
                    assert_eq!(timed, 0);
                    assert!(
                        a.problem_texts()
                            .iter()
                            .any(|p| p.contains("Excel-mangled"))
                    );
                } else {
                    assert_eq!(timed, rows, "{file}: every time should parse");
                }
            }
            "stack" => {
                assert_eq!(
                    (a.format, a.status),
                    (FileFormat::ProcmonStack, FileStatus::Skipped)
                );
                assert!(a.problem_texts()[0].contains("stack export"));
            }
            // Read by the PML reader; its counts are checked against pml-counts.tsv in pml.rs.
            "pml" => assert_eq!(a.format, FileFormat::ProcmonPml, "{file}"),
            other => panic!("unknown kind {other}"),
        }
    }
}

/// The dump of the whole corpus is byte-identical with 1 and 2 threads.
#[test]
fn whole_corpus_dump_is_thread_count_independent() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let run = |threads: usize| {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let config = rdtriage::cli::parse([
            "rdtriage".to_string(),
            format!("--threads={threads}"),
            "dump".into(),
            corpus.display().to_string(),
        ])
        .unwrap();
        let exit = rdtriage::app::run(&config, &mut out, &mut err);
        (exit, out, err)
    };
    let (exit1, out1, err1) = run(1);
    let (exit2, out2, err2) = run(2);
    assert_eq!(exit1, rdtriage::exit::Exit::PartialInput);
    assert_eq!(exit1, exit2);
    assert!(out1.len() > 50_000_000, "the dump is the whole corpus");
    assert!(out1 == out2, "jsonl differs between 1 and 2 threads");
    assert_eq!(err1, err2);
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

struct Count(u64);
impl Sink for Count {
    fn events(&mut self, e: Vec<rdtriage::model::Event>) {
        self.0 += e.len() as u64;
    }
    fn file_done(&mut self, _: FileAccount) {}
}

/// The keep filter drops events after counting: the account still counts every record.
#[test]
fn prefilter_drops_events_but_not_counts() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let path = corpus.join("evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/Microsoft-Windows-TerminalServices-RDPClient%4Operational.evtx");
    let only_1026 = |e: &mut rdtriage::model::Event| e.win().is_some_and(|w| w.event_id == 1026);
    let mut sink = Count(0);
    let opts = IngestOptions {
        threads: 1,
        limits: Limits::default(),
        keep: &only_1026,
        keep_reads_record: false,
        columns: rdtriage::ingest::ProcmonColumns::All,
    };
    ingest::ingest(std::slice::from_ref(&path), &opts, &mut sink);
    assert_eq!(sink.0, 1);
    let all = common::ingest_one(&path);
    assert_eq!(all.accounts[0].events, 9);
    let disconnect = all
        .events
        .iter()
        .find(|e| e.win().unwrap().event_id == 1026)
        .unwrap();
    let w = disconnect.win().unwrap();
    assert_eq!(w.data.get("Name"), Some("Disconnect Reason"));
    assert_eq!(w.data.get("Value"), Some("2"));
    assert_eq!(
        &*w.provider,
        "Microsoft-Windows-TerminalServices-ClientActiveXCore"
    );
}

/// The DC's System log: 58k Schannel 36874/36888 and no 0x904 anchor. The TLS finding must be
/// background (context), and the RDPClient log a plain disconnect with reason 2.
#[test]
fn schannel_flood_without_anchor_is_context() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dc = corpus.join("evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC");
    let scan = common::scan_paths(&[dc]);
    let r = &scan.report();
    assert_eq!(r.disconnects.len(), 1);
    let d = &r.disconnects[0];
    assert_eq!((d.code, d.is_0x904), (2, false));
    assert_eq!(d.server.as_deref(), Some("DESKTOP-SDN1RPT"));
    assert!(
        r.verdict.starts_with("No 0x904 disconnect was found"),
        "{}",
        r.verdict
    );
    let tls = r
        .causes
        .iter()
        .find(|c| c.cause == "tls")
        .expect("a tls finding");
    assert_eq!(
        tls.confidence,
        rdtriage::report::schema::Confidence::Context
    );
    assert!(tls.findings.iter().any(|f| f.rule == "tls-no-common-cipher"
        && f.strength == "moderate"
        && f.effective_strength == "context"));
    assert!(
        r.causes
            .iter()
            .all(|c| c.confidence == rdtriage::report::schema::Confidence::Context)
    );
}

/// Every output of one scan of the whole corpus: each report format and the timeline, all
/// rendered from that one result.
fn render_everything(corpus: &std::path::Path, threads: usize) -> Vec<(String, Vec<u8>)> {
    use rdtriage::cli::ReportFormat;
    let rules = rdtriage::rules::load_with_builtin(&[]).expect("the built-in rules load");
    let opts = rdtriage::analysis::ScanOptions {
        threads,
        limits: Limits::default(),
        hints: Default::default(),
        rules: &rules,
        shown_columns: rdtriage::ingest::ProcmonColumns::none(),
    };
    let found = rdtriage::ingest::discover::discover(&[corpus.to_path_buf()], &Limits::default());
    let scan = rdtriage::analysis::scan(found, &opts, false);
    let report = scan.report();
    let mut outputs = Vec::new();
    for format in [
        ReportFormat::Json,
        ReportFormat::Jsonl,
        ReportFormat::Table,
        ReportFormat::Markdown,
        ReportFormat::Csv,
        ReportFormat::Html,
    ] {
        let mut out = Vec::new();
        rdtriage::report::write_scan(&mut out, &report, &scan.events, format, 120, false).unwrap();
        assert!(!out.is_empty(), "{format:?}");
        outputs.push((format!("scan --format {format:?}"), out));
    }
    let mut timeline = Vec::new();
    rdtriage::report::timeline::write_scan(&mut timeline, &scan, false, None, true, 120).unwrap();
    assert!(timeline.len() > 1000);
    outputs.push(("timeline --format=jsonl".into(), timeline));
    outputs
}

/// Every report format, and the timeline, are byte-identical with 1 and 2 threads over the
/// whole corpus: the corpus is scanned once per thread count, and every format rendered from
/// that scan.
#[test]
fn scan_outputs_are_thread_count_independent() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let one = render_everything(&corpus, 1);
    let two = render_everything(&corpus, 2);
    assert_eq!(one.len(), two.len());
    for ((what, o1), (_, o2)) in one.iter().zip(&two) {
        assert!(o1 == o2, "{what} differs between 1 and 2 threads");
    }
}

/// The event-log XML path and the EVTX path give identical events for every record of a dozen
/// corpus files (records rendered to XML by the evtx crate, as `evtx_dump -o xml` does, and
/// wrapped in an Event Viewer-style `<Events>` document).
#[test]
fn event_xml_matches_evtx_on_corpus_files() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let files = [
        "evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/Microsoft-Windows-TerminalServices-RDPClient%4Operational.evtx",
        "evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational.evtx",
        "evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/Microsoft-Windows-TerminalServices-LocalSessionManager%4Operational.evtx",
        "evtx/DFIRArtifactMuseum/BelkasoftCTF-InsiderThreat-Win10/Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
        "evtx/DFIRArtifactMuseum/RathbunVM-Win11/Microsoft-Windows-Crypto-NCrypt%4Operational.evtx",
        "evtx/hayabusa-sample-evtx/ID302 RDS Gateway Logon Logoff.evtx",
        "evtx/hayabusa-sample-evtx/ID70-CAPI-Private key accessed Mimikatz.evtx",
        "evtx/omerbenamram-evtx/Security_short_selected.evtx",
        "evtx/omerbenamram-evtx/E_Windows_system32_winevt_logs_Microsoft-Windows-CAPI2%4Operational.evtx",
        "evtx/omerbenamram-evtx/MSExchange_Management_wec.evtx",
        "evtx/omerbenamram-evtx/issue_201.evtx",
        "evtx/omerbenamram-evtx/Microsoft-Windows-HelloForBusiness%4Operational.evtx",
        "evtx/velociraptor/RDPAuth_LocalSessionManager.evtx",
        "evtx/python-evtx/dns_log_malformed.evtx",
    ];
    let compared: usize = files
        .iter()
        .map(|rel| common::assert_xml_export_matches(&corpus.join(rel)))
        .sum();
    assert!(compared > 3000, "{compared} records compared");
}

/// The fast path for rendered EVTX records gives exactly what the general XML reader gives,
/// on every record of every corpus file, and is the path actually taken.
#[test]
fn rendered_record_fast_path_matches_the_general_reader() {
    use rdtriage::ingest::eventxml::{XmlLimits, read_events, read_rendered_fast};
    let Some(corpus) = common::corpus() else {
        return;
    };
    let limits = XmlLimits::default();
    let (mut fast, mut general) = (0usize, 0usize);
    let mut fallbacks = BTreeMap::new();
    for path in walk(&corpus.join("evtx")) {
        if path.extension().is_none_or(|e| e != "evtx") {
            continue;
        }
        let Ok(parser) = evtx::EvtxParser::from_path(&path) else {
            continue;
        };
        let settings = rdtriage::ingest::evtx::parser_settings();
        let mut parser = parser.with_configuration(settings);
        for record in parser.records_bytes().flatten() {
            let Ok(xml) = std::str::from_utf8(&record.data) else {
                continue;
            };
            let mut expected = Vec::new();
            let mut errors = Vec::new();
            read_events(xml, &limits, &mut |r| expected.push(r), &mut |e| {
                errors.push(e)
            });
            match read_rendered_fast(xml, &limits) {
                Some(got) => {
                    fast += 1;
                    assert!(errors.is_empty(), "{}: {errors:?}", path.display());
                    assert_eq!(expected, [got], "{}\n{xml}", path.display());
                }
                None => {
                    general += 1;
                    *fallbacks.entry(path.display().to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    eprintln!("fast path {fast} records, general reader {general}: {fallbacks:?}");
    assert!(fast > 120_000, "fast path taken for {fast} records only");
    assert!(general * 20 < fast, "{general} records left the fast path");
}

/// Records read straight from their BinXML template and values give exactly the event that
/// rendering them to XML and reading that back gives, on every corpus record the direct reader
/// takes; and it takes nearly all of them.
#[test]
fn direct_binxml_reader_matches_rendering() {
    use rdtriage::ingest::eventxml::XmlLimits;
    use rdtriage::ingest::evtx::direct_matches_rendering;
    let Some(corpus) = common::corpus() else {
        return;
    };
    let (mut direct, mut rendered) = (0usize, 0usize);
    for path in walk(&corpus.join("evtx")) {
        if path.extension().is_none_or(|e| e != "evtx") {
            continue;
        }
        let file = std::fs::File::open(&path).unwrap();
        let (d, r) = direct_matches_rendering(file, &XmlLimits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        direct += d;
        rendered += r;
    }
    eprintln!("read directly: {direct} records; rendered: {rendered}");
    assert!(direct > 125_000, "read directly: {direct} records only");
    assert!(rendered * 20 < direct, "{rendered} records rendered");
}

/// EVTX files inside a zip are parsed from a stream inflated on demand (never whole in
/// memory): wrapped logs, dirty logs and damaged chunks give exactly what the plain files give,
/// stored or deflated; an entry that lies about its size stops at the declared size and says so.
#[test]
fn evtx_inside_a_zip_reads_like_the_plain_file() {
    use std::io::Write;
    let Some(corpus) = common::corpus() else {
        return;
    };
    let names = [
        // Wrapped: the oldest records are in chunk 14 of 16, then 3, then 8 (with a bad chunk).
        "evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
        "evtx/DFIRArtifactMuseum/BelkasoftCTF-InsiderThreat-Win10/Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
        "evtx/omerbenamram-evtx/sample_with_a_bad_chunk_magic.evtx",
        // Truncated tail.
        "evtx/velociraptor/RDPAuth_System.evtx",
    ];
    let dir = tempfile::tempdir().unwrap();
    for method in [
        zip::CompressionMethod::Stored,
        zip::CompressionMethod::Deflated,
    ] {
        let zip_path = dir.path().join(format!("{method:?}.zip"));
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        for (i, name) in names.iter().enumerate() {
            w.start_file(format!("{i}.evtx"), options).unwrap();
            w.write_all(&std::fs::read(corpus.join(name)).unwrap())
                .unwrap();
        }
        w.finish().unwrap();
        let zipped = common::ingest_one(&zip_path);
        let plain = common::ingest_paths(&names.iter().map(|n| corpus.join(n)).collect::<Vec<_>>());
        assert_eq!(zipped.accounts.len(), names.len());
        for (z, p) in zipped.accounts.iter().zip(&plain.accounts) {
            assert_eq!(
                (z.events, z.errors, z.status, &z.problem_texts()),
                (p.events, p.errors, p.status, &p.problem_texts()),
                "{method:?} {}",
                p.file
            );
        }
        assert_eq!(zipped.events.len(), plain.events.len());
        for (z, p) in zipped.events.iter().zip(&plain.events) {
            assert_eq!((z.record, &z.time, &z.kind), (p.record, &p.time, &p.kind));
        }
    }
}
