#![no_main]
//! ACL dumps (Get-Acl access lists and Format-List output) on arbitrary bytes: no panic, and
//! every rule read is handed on.
use libfuzzer_sys::fuzz_target;
use rdtriage::ingest::acl::read_acl_dump;
use rdtriage::model::FileFormat;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::with_emit(FileFormat::AclDump, |emit, account| {
        read_acl_dump(data.to_vec(), emit, account);
    });
});
