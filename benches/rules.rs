//! Rule evaluation speed: the built-in pack over every event of the `noisy` fixture ticket,
//! repeated to about 100,000 events (most of them irrelevant to any rule, as in a real
//! ticket). This replaces the wall-clock bound a unit test used to assert: speed is measured
//! here, never asserted in a test. Run with `cargo bench --bench rules`; criterion reports
//! events per second.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rdtriage::ingest::{self, IngestOptions, Limits};
use rdtriage::model::Event;

const TARGET_EVENTS: usize = 100_000;

/// Every event of the fixture ticket, repeated until there are about [`TARGET_EVENTS`].
fn events() -> Vec<Event> {
    let ticket = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tickets/noisy");
    let mut sink = ingest::Collect::default();
    let opts = IngestOptions {
        threads: 1,
        limits: Limits::default(),
        keep: &ingest::keep_all,
        keep_reads_record: false,
        columns: rdtriage::ingest::ProcmonColumns::All,
    };
    ingest::ingest(std::slice::from_ref(&ticket), &opts, &mut sink);
    let one = sink.events;
    assert!(!one.is_empty(), "the fixture ticket has events");
    let mut events = Vec::with_capacity(TARGET_EVENTS + one.len());
    while events.len() < TARGET_EVENTS {
        events.extend(one.iter().cloned());
    }
    events
}

fn evaluate(c: &mut Criterion) {
    let rules = rdtriage::rules::load_with_builtin(&[]).expect("the built-in pack loads");
    let events = events();
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("evaluate-builtin-pack", |b| {
        b.iter(|| rules.evaluate(&events).findings.len())
    });
    group.finish();
}

criterion_group!(benches, evaluate);
criterion_main!(benches);
