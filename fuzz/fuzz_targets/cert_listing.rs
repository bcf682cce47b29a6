#![no_main]
//! Certificate listings (the collector's tab-separated CSV, `certutil` dumps) on arbitrary bytes
//! in any encoding: every certificate read or its block counted, no panic.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::certstore::read_cert_listing;
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_emit(FileFormat::CertListing, |emit, account| {
        read_cert_listing(data.to_vec(), emit, account);
    });
});
