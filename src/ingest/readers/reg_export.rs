//! A `reg export` text file (`Windows Registry Editor Version 5.00`, UTF-16 or UTF-8), read
//! whole up to `--max-xml-bytes` ([`crate::ingest::regexport`]).

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, regexport};
use crate::model::{FileAccount, FileFormat};

pub struct RegExport;

impl Reader for RegExport {
    fn format(&self) -> FileFormat {
        FileFormat::RegExport
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        regexport::looks_like(head.collector_text())
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        match input.read_all(emit.limits.xml_bytes, "--max-xml-bytes") {
            Ok(bytes) => regexport::read_reg_export(bytes, emit, account),
            Err(why) => fail(account, why),
        }
    }
}
