//! A ticket holding both a PML and its CSV export would count every event twice. Before any
//! file is read, a Procmon CSV that sits in the same folder as a PML and starts with the
//! PML's first exported event (same process, PID, operation and path) is taken as that
//! capture's export: it is skipped with an account that names the PML read instead (the PML
//! has the absolute times and the computer the CSV lacks).

use super::super::discover::{Found, Input};
use super::super::{SNIFF_BYTES, sniff};
use crate::model::{FileAccount, FileFormat, ProcmonRow};

/// The folder part of an input's display name (`a/b.zip!/logs/x.csv` → `a/b.zip!/logs`).
fn folder(name: &str) -> &str {
    name.rfind(['/', '\\']).map_or("", |i| &name[..i])
}

/// Process, PID, operation and path of a CSV's first data row, from its first 64 KiB.
fn csv_first_row(input: &Input) -> Option<(String, String, String, String)> {
    let head = input.head(64 << 10).ok()?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(head);
    let headers = reader.headers().ok()?.clone();
    let col = |n: &str| headers.iter().position(|h| h.trim() == n);
    let (process, pid, op, path) = (
        col("Process Name")?,
        col("PID"),
        col("Operation")?,
        col("Path")?,
    );
    let row = reader.records().next()?.ok()?;
    let get = |i: usize| row.get(i).unwrap_or("").to_string();
    Some((
        get(process),
        pid.map(get).unwrap_or_default(),
        get(op),
        get(path),
    ))
}

fn pml_first_row(input: &Input) -> Option<ProcmonRow> {
    let (mut src, len) = input.open_seekable().ok()?;
    super::first_row(&mut src, len)
}

/// Replace each CSV export of a PML in `found` by a skipped account naming the PML.
pub fn skip_csv_exports_of_pmls(found: &mut [Found]) {
    let formats: Vec<Option<FileFormat>> = found
        .iter()
        .map(|f| match f {
            Found::Input(i) => i.head(SNIFF_BYTES).ok().map(|h| sniff(&h)),
            Found::Problem(_) => None,
        })
        .collect();
    if !formats.contains(&Some(FileFormat::ProcmonPml))
        || !formats.contains(&Some(FileFormat::ProcmonCsv))
    {
        return;
    }
    let pmls: Vec<(String, ProcmonRow)> = found
        .iter()
        .zip(&formats)
        .filter_map(|(f, fmt)| match (f, fmt) {
            (Found::Input(i), Some(FileFormat::ProcmonPml)) => {
                Some((i.name.clone(), pml_first_row(i)?))
            }
            _ => None,
        })
        .collect();
    for (f, fmt) in found.iter_mut().zip(&formats) {
        let Found::Input(input) = f else { continue };
        if *fmt != Some(FileFormat::ProcmonCsv) {
            continue;
        }
        let Some((process, pid, op, path)) = csv_first_row(input) else {
            continue;
        };
        let twin = pmls.iter().find(|(name, row)| {
            folder(name) == folder(&input.name)
                && row.process == process
                && row.pid.map(|p| p.to_string()).unwrap_or_default() == pid.trim()
                && row.operation == op
                && row.path() == path
        });
        if let Some((pml, _)) = twin {
            *f = Found::Problem(FileAccount::skipped(
                input.name.clone(),
                FileFormat::ProcmonCsv,
                format!(
                    "the CSV export of {pml} (same capture: same first event), which is read instead: its events are not counted twice"
                ),
            ));
        }
    }
}
