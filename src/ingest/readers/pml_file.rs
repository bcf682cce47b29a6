//! Process Monitor's native capture (`.pml`): the `PML_` signature; read from a seekable
//! stream ([`crate::ingest::pml`]).

use super::{Head, Reader, fail};
use crate::ingest::discover::{Input, InputData};
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
        if let InputData::Path(path) = &input.data
            && let Ok(file) = std::fs::File::open(path)
            && let Ok(meta) = file.metadata()
            && meta.is_file()
        {
            return pml::read_pml_file(&file, meta.len(), emit, account);
        }
        match input.open_seekable() {
            Ok((stream, len)) => pml::read_pml(stream, len, emit, account),
            Err(why) => fail(account, why),
        }
    }
}
