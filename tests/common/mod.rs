//! Shared test helpers: where the fixtures and the shared corpus are, and a one-call ingest.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rdtriage::ingest::{self, Collect, IngestOptions, Limits};

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
    eprintln!(
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
    };
    let found = rdtriage::ingest::discover::discover(paths, &Limits::default());
    rdtriage::analysis::scan(found, &opts, false)
}
