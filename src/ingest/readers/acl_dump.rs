//! A PowerShell ACL listing (`Get-Acl ... | Select -Expand Access`), read whole up to
//! `--max-xml-bytes` ([`crate::ingest::acl`]). Registered after [`super::reg_export`]: a
//! registry export is asked first.

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, acl};
use crate::model::{FileAccount, FileFormat};

pub struct AclDump;

impl Reader for AclDump {
    fn format(&self) -> FileFormat {
        FileFormat::AclDump
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        acl::looks_like(head.collector_text())
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        match input.read_all(emit.limits.xml_bytes, "--max-xml-bytes") {
            Ok(bytes) => acl::read_acl_dump(bytes, emit, account),
            Err(why) => fail(account, why),
        }
    }
}
