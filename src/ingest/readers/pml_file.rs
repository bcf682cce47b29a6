//! Process Monitor's native capture (`.pml`): the `PML_` signature; read from a seekable
//! stream ([`crate::ingest::pml`]).

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, pml};
use crate::model::{FileAccount, FileFormat};

pub struct Pml;

impl Reader for Pml {
    fn format(&self) -> FileFormat {
        FileFormat::ProcmonPml
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        head.bytes.starts_with(b"PML_")
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        match input.open_seekable() {
            Ok((stream, len)) => pml::read_pml(stream, len, emit, account),
            Err(why) => fail(account, why),
        }
    }
}
