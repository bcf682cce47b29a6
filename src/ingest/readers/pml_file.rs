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
        // A plain file is read by position, each thread its own blocks; anything else (a zip
        // member) as one stream.
        match input.open_file() {
            Some(Ok((file, len))) => return pml::read_pml_file(&file, len, emit, account),
            Some(Err(why)) => return fail(account, why),
            None => {}
        }
        match input.open_seekable() {
            Ok((stream, len)) => pml::read_pml(stream, len, emit, account),
            Err(why) => fail(account, why),
        }
    }
}
