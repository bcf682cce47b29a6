//! One big file, `scan` beside its anchor in the same run (issue 15's goals):
//!
//! * `evtx_big`: the corpus's 16.8 MB DC System.evtx (60,189 records, a Schannel flood) scanned
//!   with the built-in rules on 1 and 2 threads, beside the evtx crate writing every record as
//!   JSON on 1 thread (what `evtx_dump -t 1 -o jsonl` does, without its process start-up and
//!   output; `benches/e2e-big.sh` times the real binary).
//! * `procmon_big`: the corpus's 28 MB Procmon CSV (53,214 rows, 27 columns) scanned on 1
//!   thread, beside the csv crate's bare `ByteRecord` loop over the same file.
//!
//! Without the corpus the fixtures stand in (the figures then mean little). Run with
//! `cargo bench --bench big`; compare the medians within a group. `RDTRIAGE_BIG_ONCE=NAME`
//! runs one bench function of `procmon_big` once instead (`scan-1-thread` or
//! `anchor-csv-byte-records`), for an instruction count that does not depend on the machine's
//! load: `benches/csv-instructions.sh` prints both.

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group};
use rdtriage::analysis::{self, AlignHints, ScanOptions};
use rdtriage::ingest::{Limits, discover};

#[path = "common/mod.rs"]
mod common;
use common::corpus_or_fixture;

/// `scan` of `path` with the built-in rules: what the report is made from.
fn scan(path: &Path, threads: usize, rules: &rdtriage::rules::RuleSet) -> usize {
    let limits = Limits::default();
    let opts = ScanOptions {
        threads,
        limits,
        hints: AlignHints::default(),
        rules,
        // What `scan` builds: the columns its rules read, no other.
        shown_columns: rdtriage::ingest::ProcmonColumns::none(),
    };
    let found = discover::discover(&[path.to_path_buf()], &limits);
    let scan = analysis::scan(found, &opts, false);
    scan.diagnosis.causes.len() + scan.events.len()
}

fn evtx_big(c: &mut Criterion) {
    let path = corpus_or_fixture(
        "evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx",
        "evtx/Security_short_selected.evtx",
    );
    let Ok(rules) = rdtriage::rules::load_with_builtin(&[]) else {
        return;
    };
    let mut group = c.benchmark_group("evtx_big");
    group.throughput(Throughput::Bytes(
        std::fs::metadata(&path).map_or(0, |m| m.len()),
    ));
    group.sample_size(10);
    group.bench_function("scan-1-thread", |b| b.iter(|| scan(&path, 1, &rules)));
    group.bench_function("scan-2-threads", |b| b.iter(|| scan(&path, 2, &rules)));
    // The anchor: every record parsed and serialized as JSON, one thread, as `evtx_dump -t 1
    // -o jsonl` does (jsonl = no indentation).
    group.bench_function("anchor-evtx-crate-json-1-thread", |b| {
        b.iter(|| {
            let settings = evtx::ParserSettings::new().num_threads(1).indent(false);
            let Ok(parser) = evtx::EvtxParser::from_path(&path) else {
                return 0;
            };
            let mut parser = parser.with_configuration(settings);
            parser
                .records_json_bytes()
                .filter_map(Result::ok)
                .map(|r| r.data.len())
                .sum::<usize>()
        })
    });
    group.finish();
}

fn procmon_big_path() -> PathBuf {
    corpus_or_fixture(
        "procmon/eronnen__procmon-parser/CompressedLogfileTests64bitUTC.csv",
        "procmon/default-crlf-bom.csv",
    )
}

/// The anchor: the csv crate's bare record loop, nothing decoded.
fn csv_byte_records(path: &Path) -> usize {
    let Ok(mut reader) = csv::ReaderBuilder::new().flexible(true).from_path(path) else {
        return 0;
    };
    let mut record = csv::ByteRecord::new();
    let mut n = 0usize;
    while reader.read_byte_record(&mut record).unwrap_or(false) {
        n += record.len();
    }
    n
}

fn procmon_big(c: &mut Criterion) {
    let path = procmon_big_path();
    let Ok(rules) = rdtriage::rules::load_with_builtin(&[]) else {
        return;
    };
    let mut group = c.benchmark_group("procmon_big");
    group.throughput(Throughput::Bytes(
        std::fs::metadata(&path).map_or(0, |m| m.len()),
    ));
    group.sample_size(10);
    group.bench_function("scan-1-thread", |b| b.iter(|| scan(&path, 1, &rules)));
    group.bench_function("anchor-csv-byte-records", |b| {
        b.iter(|| csv_byte_records(&path))
    });
    group.finish();
}

criterion_group!(benches, evtx_big, procmon_big);

fn main() {
    if let Ok(name) = std::env::var("RDTRIAGE_BIG_ONCE") {
        let path = procmon_big_path();
        let n = match name.as_str() {
            "scan-1-thread" => match rdtriage::rules::load_with_builtin(&[]) {
                Ok(rules) => scan(&path, 1, &rules),
                Err(_) => 0,
            },
            "anchor-csv-byte-records" => csv_byte_records(&path),
            other => {
                eprintln!("RDTRIAGE_BIG_ONCE: no bench function {other:?}");
                std::process::exit(2);
            }
        };
        println!("{name}: {n}");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
