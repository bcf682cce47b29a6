//! A `netstat -ano[b]` listing, read whole up to `--max-xml-bytes` ([`crate::ingest::netstat`]).

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, netstat};
use crate::model::{FileAccount, FileFormat};

pub struct NetstatListing;

impl Reader for NetstatListing {
    fn format(&self) -> FileFormat {
        FileFormat::NetstatListing
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        netstat::looks_like(head.collector_text())
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        match input.read_all(emit.limits.xml_bytes, "--max-xml-bytes") {
            Ok(bytes) => netstat::read_netstat(bytes, emit, account),
            Err(why) => fail(account, why),
        }
    }
}
