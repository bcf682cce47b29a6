//! Windows event logs (`.evtx`): the `ElfFile` signature; read chunk by chunk from a seekable
//! stream ([`crate::ingest::evtx`]).

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, evtx};
use crate::model::{FileAccount, FileFormat};

pub struct Evtx;

impl Reader for Evtx {
    fn format(&self) -> FileFormat {
        FileFormat::Evtx
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        head.bytes.starts_with(b"ElfFile\0")
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        // A file on disk is read at any offset cheaply: each chunk's job copies its own bytes.
        if let Some(file) = input.open_file() {
            return match file {
                Ok((file, len)) => evtx::read_evtx_file(file, len, emit, account),
                Err(why) => fail(account, why),
            };
        }
        match input.open_seekable() {
            Ok((stream, len)) => evtx::read_evtx(stream, len, evtx::Walk::Streamed, emit, account),
            Err(why) => fail(account, why),
        }
    }
}
