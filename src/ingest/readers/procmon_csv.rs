//! Process Monitor's event list saved as CSV (UTF-8 or UTF-16LE): a header line with at least
//! two of the columns Process Monitor writes; streamed row by row ([`crate::ingest::procmon`]).

use super::{Head, Reader, fail};
use crate::ingest::discover::Input;
use crate::ingest::{Emit, procmon};
use crate::model::{FileAccount, FileFormat};

pub struct ProcmonCsv;

impl Reader for ProcmonCsv {
    fn format(&self) -> FileFormat {
        FileFormat::ProcmonCsv
    }

    fn recognise(&self, head: &Head<'_>) -> bool {
        let known = procmon::KNOWN_COLUMNS
            .iter()
            .filter(|c| head.has_column(c))
            .count();
        known >= 2
    }

    fn read(&self, input: &Input, emit: &mut Emit<'_>, account: &mut FileAccount) {
        let max_row = emit.limits.csv_row_bytes;
        let read = input.with_reader(|r| procmon::read_procmon(r, max_row, emit, account));
        if let Err(why) = read {
            fail(account, why);
        }
    }
}
