//! Every integration test, in one test binary: one build and one link instead of one per
//! file, and one run in which the files' tests share the threads (`cargo test --release`
//! runs them all; `cargo test --release --test all tickets::` runs one file's).
//!
//! Each file under `tests/` is a module here; `tests/common` and the writers under
//! `tests/support` are shared by all of them.

#[path = "common/mod.rs"]
mod common;

mod support {
    #[path = "evtx_writer/mod.rs"]
    pub mod evtx_writer;
    #[path = "pml_writer/mod.rs"]
    pub mod pml_writer;
    #[path = "tss_writer/mod.rs"]
    pub mod tss_writer;
}

#[path = "batch.rs"]
mod batch;
#[path = "cli.rs"]
mod cli;
#[path = "corpus.rs"]
mod corpus;
#[path = "design.rs"]
mod design;
#[path = "domain.rs"]
mod domain;
#[path = "evtx_writer.rs"]
mod evtx_writer;
#[path = "fuzz_regressions.rs"]
mod fuzz_regressions;
#[path = "hostile.rs"]
mod hostile;
#[path = "html.rs"]
mod html;
#[path = "ingest.rs"]
mod ingest;
#[path = "pml.rs"]
mod pml;
#[path = "procmon_columns.rs"]
mod procmon_columns;
#[path = "tickets.rs"]
mod tickets;
#[path = "tickets_regenerate.rs"]
mod tickets_regenerate;
#[path = "tss.rs"]
mod tss;
