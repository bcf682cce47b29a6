//! Ingest throughput on real inputs: EVTX (the corpus's largest System.evtx, 16.8 MB, 60k
//! records, or the fixtures when the corpus is absent) and Procmon CSV (the corpus's 4 MB
//! zh-CN export), EVTX records read from their BinXML beside rendered and read back, and reading
//! back rendered EVTX records (fast path vs general XML reader). Run with
//! `cargo bench --bench ingest`; criterion reports MB/s.

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

#[path = "common/mod.rs"]
mod common;
use common::corpus_or_fixture;

/// The corpus's largest System.evtx (16.8 MB, 60k records), or a fixture without the corpus.
fn system_evtx() -> PathBuf {
    corpus_or_fixture(
        "evtx/DFIRArtifactMuseum/StolenSzechuan-Win2012R2-DC/System.evtx",
        "evtx/Security_short_selected.evtx",
    )
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
                keep_reads_record: false,
                columns: rdtriage::ingest::ProcmonColumns::All,
            };
            ingest::ingest(&[path.to_path_buf()], &opts, &mut sink);
            sink.0
        })
    });
    group.finish();
}

fn evtx(c: &mut Criterion) {
    let path = system_evtx();
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
    let path = system_evtx();
    let Ok(parser) = evtx::EvtxParser::from_path(&path) else {
        return;
    };
    let settings = rdtriage::ingest::evtx::parser_settings();
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

/// The records of the same System.evtx, chunk by chunk, from the raw chunks to events: read
/// straight from their BinXML templates (the path ingest takes), and rendered to XML by the
/// crate then read back (the path it falls back to). Both parse every chunk.
fn evtx_records(c: &mut Criterion) {
    use rdtriage::ingest::binxml::ChunkReader;
    use rdtriage::ingest::eventxml::{XmlLimits, read_rendered};
    use std::sync::Arc;
    let path = system_evtx();
    let Ok(file) = std::fs::read(&path) else {
        return;
    };
    let chunks: Vec<&[u8]> = file.get(4096..).unwrap_or_default().chunks(65536).collect();
    let settings = Arc::new(rdtriage::ingest::evtx::parser_settings());
    let limits = XmlLimits::default();
    let read = |direct: bool| {
        let mut n = 0usize;
        for raw in &chunks {
            let Ok(mut data) = evtx::EvtxChunkData::new(raw.to_vec(), false) else {
                continue;
            };
            let Ok(mut chunk) = data.parse(Arc::clone(&settings)) else {
                continue;
            };
            let mut reader = ChunkReader::new(chunk.data);
            for record in chunk.iter().flatten() {
                n += if direct {
                    let (at, size) = (record.binxml_offset, record.binxml_size);
                    usize::from(reader.read(at, size, &limits, 1 << 22).ok().is_some())
                } else {
                    let xml = record.into_xml();
                    usize::from(xml.is_ok_and(|x| read_rendered(&x.data, &limits).is_ok()))
                };
            }
        }
        n
    };
    let mut group = c.benchmark_group("evtx_records");
    group.throughput(Throughput::Bytes(file.len() as u64));
    group.sample_size(10);
    group.bench_function("direct", |b| b.iter(|| read(true)));
    group.bench_function("rendered", |b| b.iter(|| read(false)));
    group.finish();
}

criterion_group!(benches, evtx, procmon, evtx_records, rendered_xml);
criterion_main!(benches);
