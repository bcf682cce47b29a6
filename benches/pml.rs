//! PML ingest throughput, in events per second, against the CSV export of the same capture:
//! the corpus's 24 MB `CompressedLogfileTests64bitUTC.PML` (53,214 events of every class) and
//! its CSV, the PML at 1 and 2 threads, the CSV at 1. Run with `cargo bench --bench pml`.
//! Without the corpus there is nothing to measure, and it says so.
//!
//! Two groups: `pml_vs_csv` keeps every event and hands it on (each row is built and freed on
//! another thread, as `dump` and `timeline --all` do); `pml_vs_csv_dropped` keeps none (every
//! row is decoded, counted and refilled by the next event, as `dump --summary` does and as
//! `scan` does for the events no rule can use). A third, `pml_ceiling` (and
//! `pml_ceiling_dropped`, keeping none), reads the capture twice at once on two threads, one
//! read each: what two threads can give on the machine at that moment, against which the
//! 2-thread ratio is judged. A fourth, `pml_kept_drop`, times only what the consuming thread
//! does with the kept events of one read: free them (rows built on the reading thread, as in
//! `pml_vs_csv`). With every event kept the 1-thread read already runs on two threads, the
//! reading one and the consuming one, so two reading threads can give at most
//! 2 × read ÷ (read + drop) of one, whatever the reader does (docs/pml.md).

use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rdtriage::ingest::{self, IngestOptions, Limits, Sink};
use rdtriage::model::{Event, FileAccount};

/// Events handed on, and events the file's account counts as read.
struct Count(u64, u64);

impl Sink for Count {
    fn events(&mut self, events: Vec<Event>) {
        self.0 += events.len() as u64;
    }
    fn file_done(&mut self, account: FileAccount) {
        self.1 += account.events;
    }
}

const CAPTURE: &str = "procmon/eronnen__procmon-parser/CompressedLogfileTests64bitUTC";
const EVENTS: u64 = 53_214;

fn corpus_file(ext: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(format!("{CAPTURE}.{ext}"));
    p.is_file().then_some(p)
}

fn keep_none(_: &mut Event) -> bool {
    false
}

/// One read of the capture on `threads` threads, every event kept or none, every column built
/// (the same work on both formats); checks that every event was read and the right ones kept.
fn read_capture(path: &Path, threads: usize, keep_all: bool) {
    let mut sink = Count(0, 0);
    let opts = IngestOptions {
        threads,
        limits: Limits::default(),
        keep: if keep_all {
            &ingest::keep_all
        } else {
            &keep_none
        },
        keep_reads_record: false,
        columns: rdtriage::ingest::ProcmonColumns::All,
    };
    ingest::ingest(&[path.to_path_buf()], &opts, &mut sink);
    assert_eq!(
        (sink.0, sink.1),
        (if keep_all { EVENTS } else { 0 }, EVENTS)
    );
}

fn bench_file(c: &mut Criterion, name: &str, path: &Path, threads: usize, keep_all: bool) {
    let mut group = c.benchmark_group(if keep_all {
        "pml_vs_csv"
    } else {
        "pml_vs_csv_dropped"
    });
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.bench_function(format!("{name}/{threads}-thread"), |b| {
        b.iter(|| {
            read_capture(path, threads, keep_all);
        })
    });
    group.finish();
}

/// The machine's own ceiling for two threads: two 1-thread reads of the capture at once, on
/// two threads of their own, sharing nothing. Its events/s over the 1-thread read's is what
/// two threads can give at that moment (the shared machine is rarely idle); the 2-thread
/// read's ratio is judged against it.
fn bench_ceiling(c: &mut Criterion, path: &Path, keep_all: bool) {
    let mut group = c.benchmark_group(if keep_all {
        "pml_ceiling"
    } else {
        "pml_ceiling_dropped"
    });
    group.throughput(Throughput::Elements(2 * EVENTS));
    group.sample_size(10);
    group.bench_function("pml/two 1-thread reads at once", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                let read = || read_capture(path, 1, keep_all);
                let other = s.spawn(read);
                read();
                other.join().expect("the other read panicked");
            })
        })
    });
    group.finish();
}

/// The consuming thread's own work with every event kept: freeing one read's events, on this
/// thread, the rows having been built on the reading thread (as the sink of `pml_vs_csv`
/// does). Only the freeing is timed, with the reading thread ended (no allocator lock is
/// contended): the least that work costs.
fn bench_kept_drop(c: &mut Criterion, path: &Path) {
    let mut group = c.benchmark_group("pml_kept_drop");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    group.bench_function("pml/free one read's events", |b| {
        b.iter_batched(
            || {
                let mut sink = rdtriage::ingest::Collect::default();
                let opts = IngestOptions {
                    threads: 1,
                    limits: Limits::default(),
                    keep: &ingest::keep_all,
                    keep_reads_record: false,
                    columns: rdtriage::ingest::ProcmonColumns::All,
                };
                ingest::ingest(&[path.to_path_buf()], &opts, &mut sink);
                assert_eq!(sink.events.len() as u64, EVENTS);
                sink.events
            },
            drop,
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn pml_vs_csv(c: &mut Criterion) {
    let (Some(pml), Some(csv)) = (corpus_file("PML"), corpus_file("csv")) else {
        eprintln!("SKIPPED: the shared corpus is missing; nothing to measure");
        return;
    };
    for keep_all in [true, false] {
        bench_file(c, "pml", &pml, 1, keep_all);
        bench_file(c, "pml", &pml, 2, keep_all);
        bench_file(c, "csv", &csv, 1, keep_all);
        bench_ceiling(c, &pml, keep_all);
    }
    bench_kept_drop(c, &pml);
}

criterion_group!(benches, pml_vs_csv);
criterion_main!(benches);
