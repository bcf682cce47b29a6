//! A certificate store listing a collector wrote (the certificate CSV, `certutil -verifystore
//! -v` text), read whole up to `--max-xml-bytes` ([`crate::ingest::certstore`]). Registered
//! after [`super::acl_dump`]: registry exports and ACL listings are asked first.

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, certstore};
use crate::model::{FileAccount, FileFormat};

pub struct CertListing;

impl Reader for CertListing {
    fn format(&self) -> FileFormat {
        FileFormat::CertListing
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        certstore::looks_like(head.collector_text())
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        match input.read_all(emit.limits.xml_bytes, "--max-xml-bytes") {
            Ok(bytes) => certstore::read_cert_listing(bytes, emit, account),
            Err(why) => fail(account, why),
        }
    }
}
