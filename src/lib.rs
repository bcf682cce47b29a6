//! rdtriage: why did Remote Desktop fail with error 0x904, and what should the customer do?
//!
//! The pipeline: [`ingest`] turns every input file (EVTX, event-log XML, Procmon CSV, found in
//! folders and zips) into [`model::Event`]s with a per-file account; [`rules`] runs the rule
//! pack over them and ranks probable causes; [`report`] writes the result.

pub mod analysis;
pub mod app;
pub mod batch_run;
pub mod cli;
pub mod exit;
pub mod ingest;
pub mod inputs;
pub mod merge_run;
pub mod model;
pub mod output;
pub mod report;
pub mod rules;
pub mod sanitize;
pub mod units;
