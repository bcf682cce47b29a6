//! Ingest throughput on real inputs: EVTX (the corpus's largest System.evtx, 16.8 MB, 60k
//! records, or the fixtures when the corpus is absent) and Procmon CSV (the corpus's 4 MB
//! zh-CN export), and reading back rendered EVTX records (fast path vs general XML reader). Run
//! with `cargo bench --bench ingest`; criterion reports MB/s.

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rdtriage::ingest::{self, IngestOptions, Limits, Sink};
use rdtriage::model::{Event, FileAccount};

struct Count(u64);

impl Sink for Count {
    fn events(&mut self, events: Vec<Event>) {
        self.0 += events.len() as u64;
    }
    fn file_done(&mut self, _: FileAccount) {}
}

fn corpus_or_fixture(corpus_rel: &str, fixture_rel: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/corpus").join(corpus_rel);
    if corpus.is_file() {
        corpus
    } else {
        eprintln!("corpus file missing, benchmarking the fixture {fixture_rel} instead");
        root.join("fixtures").join(fixture_rel)
    }
}

fn bench_file(c: &mut Criterion, name: &str, path: &Path, threads: usize) {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.bench_function(format!("{threads}-thread"), |b| {
        b.iter(|| {
            let mut sink = Count(0);
            let opts = IngestOptions {
                threads,
                limits: Limits::default(),
                keep: &ingest::keep_all,
            };
            ingest::ingest(&[path.to_path_buf()], &opts, &mut sink);
            sink.0
        })
    });
    group.finish();
}

fn evtx(c: &mut Criterion) {
    let path = corpus_or_fixture(
        "evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx",
        "evtx/Security_short_selected.evtx",
    );
    bench_file(c, "evtx_ingest", &path, 1);
    bench_file(c, "evtx_ingest", &path, 2);
}

fn procmon(c: &mut Criterion) {
    let path = corpus_or_fixture(
        "procmon/eric2969__semiar-slui-file-hijack/procmon.CSV",
        "procmon/default-crlf-bom.csv",
    );
    bench_file(c, "procmon_ingest", &path, 1);
}

/// Reading back the XML the evtx crate renders, for every record of the same System.evtx: the
/// fast path for rendered records beside the general event-XML reader it falls back to.
fn rendered_xml(c: &mut Criterion) {
    use rdtriage::ingest::eventxml::{XmlLimits, read_events, read_rendered_fast};
    let path = corpus_or_fixture(
        "evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx",
        "evtx/Security_short_selected.evtx",
    );
    let Ok(parser) = evtx::EvtxParser::from_path(&path) else {
        return;
    };
    let settings = evtx::ParserSettings::new().num_threads(1).indent(false);
    let records: Vec<String> = parser
        .with_configuration(settings)
        .records()
        .filter_map(Result::ok)
        .map(|r| r.data)
        .collect();
    let limits = XmlLimits::default();
    let mut group = c.benchmark_group("rendered_xml");
    group.throughput(Throughput::Bytes(
        records.iter().map(|r| r.len() as u64).sum(),
    ));
    group.sample_size(10);
    group.bench_function("fast_path", |b| {
        b.iter(|| {
            records
                .iter()
                .filter(|x| read_rendered_fast(x, &limits).is_some())
                .count()
        })
    });
    group.bench_function("general_reader", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for x in &records {
                read_events(x, &limits, &mut |_| n += 1, &mut |_| {});
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, evtx, procmon, rendered_xml);
criterion_main!(benches);
