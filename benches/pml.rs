//! PML ingest throughput, in events per second, against the CSV export of the same capture:
//! the corpus's 24 MB `CompressedLogfileTests64bitUTC.PML` (53,214 events of every class) and
//! its CSV, the PML at 1 and 2 threads, the CSV at 1. Run with `cargo bench --bench pml`.
//! Without the corpus there is nothing to measure, and it says so.

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

const CAPTURE: &str = "procmon/eronnen__procmon-parser/CompressedLogfileTests64bitUTC";
const EVENTS: u64 = 53_214;

fn corpus_file(ext: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(format!("{CAPTURE}.{ext}"));
    p.is_file().then_some(p)
}

fn bench_file(c: &mut Criterion, name: &str, path: &Path, threads: usize) {
    let mut group = c.benchmark_group("pml_vs_csv");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.bench_function(format!("{name}/{threads}-thread"), |b| {
        b.iter(|| {
            let mut sink = Count(0);
            let opts = IngestOptions {
                threads,
                limits: Limits::default(),
                keep: &ingest::keep_all,
            };
            ingest::ingest(&[path.to_path_buf()], &opts, &mut sink);
            assert_eq!(sink.0, EVENTS);
        })
    });
    group.finish();
}

fn pml_vs_csv(c: &mut Criterion) {
    let (Some(pml), Some(csv)) = (corpus_file("PML"), corpus_file("csv")) else {
        eprintln!("SKIPPED: the shared corpus is missing; nothing to measure");
        return;
    };
    bench_file(c, "pml", &pml, 1);
    bench_file(c, "pml", &pml, 2);
    bench_file(c, "csv", &csv, 1);
}

criterion_group!(benches, pml_vs_csv);
criterion_main!(benches);
