//! What the benches share: where their inputs come from.

use std::path::{Path, PathBuf};

/// `corpus_rel` under the public corpus beside the checkout when it is there, else the
/// bundled `fixture_rel` (said on stderr, so a figure is never taken for the corpus's).
pub fn corpus_or_fixture(corpus_rel: &str, fixture_rel: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/corpus").join(corpus_rel);
    if corpus.is_file() {
        corpus
    } else {
        eprintln!("corpus file missing, benchmarking the fixture {fixture_rel} instead");
        root.join("fixtures").join(fixture_rel)
    }
}
