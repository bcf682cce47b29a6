//! Process Monitor's native capture (`.pml`): the `PML_` signature; read from a seekable
//! stream ([`crate::ingest::pml`]).

use std::io::{Read, Seek};

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, pml};
use crate::model::{FileAccount, FileFormat};

pub struct Pml;

/// A zip member larger than this is copied to a temporary file before it is read. A capture's
/// event-offset array lies after its events, so reading a block jumps back and forth; in a
/// compressed member each jump back inflates the member again from its start, once per block
/// of events: read time grew with the square of the capture's size (a 62 MB capture took 25 s
/// zipped against 0.25 s as a file). Smaller members are held in memory already.
const SPOOL_FROM: u64 = crate::ingest::zipentry::SMALL_ENTRY;

impl Reader for Pml {
    fn format(&self) -> FileFormat {
        FileFormat::ProcmonPml
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        head.bytes.starts_with(b"PML_")
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        // A plain file is read by position, each thread its own blocks; a large zip member
        // from a copy of it in a temporary file (deleted when closed), read the same way;
        // anything else as one stream.
        match input.open_file() {
            Some(Ok((file, len))) => return pml::read_pml_file(&file, len, emit, account),
            Some(Err(why)) => return fail(account, why),
            None => {}
        }
        match input.open_seekable() {
            Ok((mut stream, len)) if len > SPOOL_FROM => match spool(&mut stream, len) {
                Ok((file, copied)) => pml::read_pml_file(&file, copied, emit, account),
                Err(why) => {
                    account.note(format!(
                        "could not copy it to a temporary file ({why}): read as a stream, which takes longer"
                    ));
                    match input.open_seekable() {
                        Ok((stream, len)) => pml::read_pml(stream, len, emit, account),
                        Err(why) => fail(account, why),
                    }
                }
            },
            Ok((stream, len)) => pml::read_pml(stream, len, emit, account),
            Err(why) => fail(account, why),
        }
    }
}

/// Copy at most `len` bytes of `stream` from its start into an anonymous temporary file: the
/// file and how many bytes it holds (fewer than `len` when the stream ends first).
fn spool(
    stream: &mut (impl Read + Seek + ?Sized),
    len: u64,
) -> std::io::Result<(std::fs::File, u64)> {
    stream.rewind()?;
    let mut file = tempfile::tempfile()?;
    let copied = std::io::copy(&mut stream.take(len), &mut file)?;
    Ok((file, copied))
}
