//! A ticket holding both a PML and its CSV export would count every event twice. Before any
//! file is read, a Procmon CSV that sits in the same folder as a PML, starts with the PML's
//! first exported event (same process, PID, operation and path) and has no more lines than
//! the PML has events is taken as that capture's export: it is moved to just after the PML and
//! skipped with an account that names the PML read instead (the PML has the absolute times and
//! the computer the CSV lacks). Whether the PML can stand in for it is only known once the PML
//! is read: when it could not be read whole, the export is read after all ([`Deferred`]), and
//! its rows that are the PML's events are taken out as below.
//!
//! An export that starts elsewhere (filtered in Procmon before it was saved, or cut) is only
//! found once both are read: [`drop_rows_of_pmls`] pairs the CSV's kept rows with the PML's
//! events, row by row.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Time;

use super::super::discover::{Found, Input};
use super::super::{SNIFF_BYTES, sniff};
use crate::model::{Event, FileAccount, FileFormat, ProcmonRow};

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

/// A PML's first exported event, and how many events its header counts.
fn pml_first_row(input: &Input) -> Option<(ProcmonRow, u64)> {
    let (mut src, len) = input.open_seekable().ok()?;
    super::first_row(&mut src, len)
}

/// How many line breaks a CSV holds: at least its rows and header (a field may hold a line
/// break of its own, so never fewer). Counted without parsing.
fn csv_line_breaks(input: &Input) -> Option<u64> {
    input
        .with_reader(|r| {
            let mut buf = vec![0u8; 256 << 10];
            let mut n = 0u64;
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Some(n),
                    Ok(k) => n += memchr::memchr_iter(b'\n', &buf[..k]).count() as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return None,
                }
            }
        })
        .ok()
        .flatten()
}

/// A CSV export set aside for its PML: read after all if the PML is not read whole.
pub struct Deferred {
    pub csv: Input,
    /// The PML's display name.
    pub pml: String,
}

/// Replace each CSV export of a PML in `found` by a skipped account naming the PML, placed just
/// after the PML's entry (so that the PML is read, in input order, before its export is
/// accounted for); the exports set aside.
pub fn skip_csv_exports_of_pmls(found: &mut Vec<Found>) -> Vec<Deferred> {
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
        return Vec::new();
    }
    let pmls: Vec<(String, (ProcmonRow, u64))> = found
        .iter()
        .zip(&formats)
        .filter_map(|(f, fmt)| match (f, fmt) {
            (Found::Input(i), Some(FileFormat::ProcmonPml)) => {
                Some((i.name.clone(), pml_first_row(i)?))
            }
            _ => None,
        })
        .collect();
    let mut deferred = Vec::new();
    for (f, fmt) in found.iter_mut().zip(&formats) {
        let Found::Input(input) = f else { continue };
        if *fmt != Some(FileFormat::ProcmonCsv) {
            continue;
        }
        let Some((process, pid, op, path)) = csv_first_row(input) else {
            continue;
        };
        let twin = pmls.iter().find(|(name, (row, _))| {
            folder(name) == folder(&input.name)
                && row.process == process
                && row.pid.map(|p| p.to_string()).unwrap_or_default() == pid.trim()
                && row.operation == op
                && row.path() == path
        });
        // An export holds no more rows than the capture has events. One with more is not
        // this PML's alone (saved from a capture of several backing files, or from a longer
        // session than the PML kept): it is read, and its rows that are the PML's events are
        // taken out after reading ([`drop_rows_of_pmls`]), so none of its own rows is lost.
        let twin = twin.filter(|(_, (_, events))| {
            csv_line_breaks(input).is_some_and(|lines| lines.saturating_sub(1) <= *events)
        });
        if let Some((pml, _)) = twin {
            let skipped = Found::Problem(FileAccount::skipped(
                input.name.clone(),
                FileFormat::ProcmonCsv,
                format!(
                    "the CSV export of {pml} (same capture: same first event), which is read instead: its events are not counted twice"
                ),
            ));
            if let Found::Input(csv) = std::mem::replace(f, skipped) {
                deferred.push(Deferred {
                    csv,
                    pml: pml.clone(),
                });
            }
        }
    }
    after_their_pmls(found, &deferred);
    deferred
}

/// Move each skipped export's account to just after its PML, in their order.
fn after_their_pmls(found: &mut Vec<Found>, deferred: &[Deferred]) {
    let is_export =
        |f: &Found| matches!(f, Found::Problem(a) if deferred.iter().any(|d| d.csv.name == a.file));
    let (mut exports, rest): (Vec<Found>, Vec<Found>) =
        std::mem::take(found).into_iter().partition(is_export);
    for f in rest {
        let here = f.name().to_string();
        found.push(f);
        for d in deferred.iter().filter(|d| d.pml == here) {
            if let Some(k) = exports.iter().position(|e| e.name() == d.csv.name) {
                found.push(exports.remove(k));
            }
        }
    }
    // A PML that is not in the list (it always is): its exports at the end, not lost.
    found.extend(exports);
}

/// What [`drop_rows_of_pmls`] took out: the kept rows of CSV files that are partly a PML's
/// events, and the CSV files found to be whole exports with the rows each read (all of
/// them, kept or not, the PML's).
#[derive(Debug, Default)]
pub struct Twins {
    pub rows: Vec<Event>,
    pub whole: Vec<(String, u64)>,
}

/// One quarter of an hour in nanoseconds: every time zone's offset from UTC is a whole number
/// of quarter hours, so a row's place within its quarter hour is the same in the capture
/// machine's local time (a CSV's `Time of Day`) and in UTC (a PML's times).
const QUARTER_HOUR_NS: i64 = 15 * 60 * 1_000_000_000;

/// Within the quarter hour, in nanoseconds.
fn tick_of_time(t: Time) -> i64 {
    let of_day = i64::from(t.hour()) * 3_600_000_000_000
        + i64::from(t.minute()) * 60_000_000_000
        + i64::from(t.second()) * 1_000_000_000
        + i64::from(t.subsec_nanosecond());
    of_day.rem_euclid(QUARTER_HOUR_NS)
}

fn tick_of_timestamp(t: Timestamp) -> i64 {
    // i128: a timestamp's nanoseconds since 1970 do not fit an i64 past the year 2262.
    (t.as_nanosecond().rem_euclid(i128::from(QUARTER_HOUR_NS))) as i64
}

/// The coarsest of 1 s and 1 ms that every tick is a multiple of, else 1 µs: a CSV's times
/// are as precise as its export wrote them, so a PML's are compared at that precision. Never
/// finer than the microsecond: a seventh digit written differently (rounded, say) must not
/// part a row from its event.
fn granularity(ticks: impl Iterator<Item = i64> + Clone) -> i64 {
    [1_000_000_000, 1_000_000]
        .into_iter()
        .find(|g| ticks.clone().all(|t| t % g == 0))
        .unwrap_or(1_000)
}

/// What a row is the same event by: process, PID, operation, path and result as written, and
/// its place within the quarter hour at the CSV's precision.
type RowKey<'a> = (&'a str, Option<u32>, &'a str, &'a str, &'a str, i64);

fn row_key(p: &ProcmonRow, tick: i64, granularity: i64) -> RowKey<'_> {
    (
        p.process.as_ref(),
        p.pid,
        p.operation.as_ref(),
        p.path(),
        p.result.as_ref(),
        tick - tick.rem_euclid(granularity),
    )
}

/// After reading: take out the kept rows of Procmon CSV files that are rows of a PML read in
/// the same run, so that a capture sent both as a PML and as a CSV export that starts
/// elsewhere (a filtered export, or a part of it) counts each event once. A row is the PML's
/// when process, PID, operation, path, result and time within the quarter hour (to the
/// precision of the CSV's times) are equal, each PML event standing for one row at most.
///
/// A CSV whose kept rows are all PML events is a whole export: it is marked skipped, naming
/// the PML. A CSV with only some rows among a PML's loses those rows, when its times are
/// precise to the millisecond or better (a coarser clock could pair unrelated rows), and
/// says how many. What was taken out is returned, for the tally of what was read.
pub fn drop_rows_of_pmls(events: &mut Vec<Event>, accounts: &mut [FileAccount]) -> Twins {
    let format_of = |file: &str| accounts.iter().find(|a| a.file == file).map(|a| a.format);
    let has = |format| accounts.iter().any(|a| a.format == format);
    if !has(FileFormat::ProcmonPml) || !has(FileFormat::ProcmonCsv) {
        return Twins::default();
    }
    // A file's events share its name: compared by pointer first.
    let same = |a: &Arc<str>, b: &Arc<str>| Arc::ptr_eq(a, b) || **a == **b;
    // Which files are which, once per file (events of one file come together).
    let mut kinds: Vec<(Arc<str>, Option<FileFormat>)> = Vec::new();
    let mut kind = |file: &Arc<str>| -> Option<FileFormat> {
        if let Some((_, k)) = kinds.iter().find(|(f, _)| same(f, file)) {
            return *k;
        }
        let k = format_of(file);
        kinds.push((Arc::clone(file), k));
        k
    };
    let mut pml = Vec::new();
    let mut csv: Vec<(Arc<str>, Vec<usize>)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Some(p) = e.procmon() else { continue };
        match kind(&e.file) {
            Some(FileFormat::ProcmonPml) => {
                if let Some(t) = e.time {
                    pml.push((i, p, tick_of_timestamp(t)));
                }
            }
            Some(FileFormat::ProcmonCsv) if p.time_of_day.is_some() => {
                match csv.iter_mut().find(|(f, _)| same(f, &e.file)) {
                    Some((_, rows)) => rows.push(i),
                    None => csv.push((Arc::clone(&e.file), vec![i])),
                }
            }
            _ => {}
        }
    }
    if pml.is_empty() || csv.is_empty() {
        return Twins::default();
    }
    // Each CSV at its own precision; the PML's events indexed once per precision.
    let mut by_precision: Vec<(i64, HashMap<RowKey<'_>, Vec<usize>>)> = Vec::new();
    let mut drop = vec![false; events.len()];
    // Per CSV taken from: its file, rows paired, rows kept, the PMLs they were paired in.
    struct Taken {
        file: Arc<str>,
        paired: usize,
        kept: usize,
        from: Vec<Arc<str>>,
    }
    let mut notes: Vec<Taken> = Vec::new();
    for (file, rows) in &csv {
        let tick = |i: usize| {
            events[i]
                .procmon()
                .and_then(|p| p.time_of_day)
                .map_or(0, tick_of_time)
        };
        let g = granularity(rows.iter().map(|&i| tick(i)));
        let index = match by_precision.iter().position(|(p, _)| *p == g) {
            Some(k) => k,
            None => {
                let mut map: HashMap<RowKey<'_>, Vec<usize>> = HashMap::new();
                // In reverse, so that popping pairs each row with the earliest event left.
                for &(i, p, t) in pml.iter().rev() {
                    map.entry(row_key(p, t, g)).or_default().push(i);
                }
                by_precision.push((g, map));
                by_precision.len() - 1
            }
        };
        let map = &mut by_precision[index].1;
        let mut paired = Vec::new();
        for &i in rows {
            let Some(p) = events[i].procmon() else {
                continue;
            };
            if let Some(twin) = map.get_mut(&row_key(p, tick(i), g)).and_then(Vec::pop) {
                paired.push((i, twin));
            }
        }
        let whole = paired.len() == rows.len();
        if paired.is_empty() || (!whole && g > 1_000_000) {
            // Not taken: give the PML's events back for the next CSV.
            for (i, twin) in paired.into_iter().rev() {
                if let Some(p) = events[i].procmon() {
                    map.entry(row_key(p, tick(i), g)).or_default().push(twin);
                }
            }
            continue;
        }
        let mut from: Vec<Arc<str>> = Vec::new();
        for &(i, twin) in &paired {
            drop[i] = true;
            let f = &events[twin].file;
            if !from.iter().any(|x| **x == **f) {
                from.push(Arc::clone(f));
            }
        }
        from.sort();
        notes.push(Taken {
            file: Arc::clone(file),
            paired: paired.len(),
            kept: rows.len(),
            from,
        });
    }
    let mut twins = Twins::default();
    for Taken {
        file,
        paired,
        kept,
        from,
    } in notes
    {
        let Some(account) = accounts.iter_mut().find(|a| *a.file == *file) else {
            continue;
        };
        let pmls = crate::units::and_list(&from);
        if paired == kept {
            twins.whole.push((account.file.clone(), account.events));
            account.skip(format!(
                "an export of the capture {pmls} (a filtered or partial one: all {kept} of its kept rows are that capture's events, same process, PID, operation, path, result and time), which is read instead: its events are not counted twice"
            ));
        } else {
            account.note(format!(
                "{paired} of its {kept} kept rows are also events of {pmls} (same process, PID, operation, path, result and time): each is counted once, from the PML"
            ));
        }
    }
    let whole = |e: &Event| twins.whole.iter().any(|(f, _)| **f == *e.file);
    let mut kept = Vec::with_capacity(events.len());
    let mut partly = Vec::new();
    for (e, dropped) in events.drain(..).zip(drop) {
        if !dropped {
            kept.push(e);
        } else if !whole(&e) {
            partly.push(e);
        }
    }
    twins.rows = partly;
    *events = kept;
    twins
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;

    /// A row of `file`: from a PML when `utc` is given (a UTC time), else from a CSV (`local`,
    /// a time of day).
    fn row(file: &str, record: u64, path: &str, utc: Option<&str>, local: Option<&str>) -> Event {
        let mut p = ProcmonRow {
            process: "mstsc.exe".into(),
            pid: Some(4242),
            operation: "TCP Reconnect".into(),
            result: "SUCCESS".into(),
            time_of_day: local.map(|t| t.parse().unwrap()),
            ..ProcmonRow::default()
        };
        p.text.set(path, "");
        Event {
            file: Arc::from(file),
            record,
            time: utc.map(|t| t.parse().unwrap()),
            kind: EventKind::Procmon(Box::new(p)),
            marks: Default::default(),
        }
    }

    fn two_files() -> Vec<FileAccount> {
        vec![
            FileAccount::new("t/Logfile.PML", FileFormat::ProcmonPml),
            FileAccount::new("t/filtered.csv", FileFormat::ProcmonCsv),
        ]
    }

    fn pml() -> Vec<Event> {
        let at = |i: u64, t: &str| row("t/Logfile.PML", i, "a:1 -> b:3389", Some(t), None);
        vec![
            at(1, "2025-11-14T20:46:47.1000003Z"),
            at(2, "2025-11-14T20:47:12.4000008Z"),
            at(3, "2025-11-14T20:47:33.3000001Z"),
        ]
    }

    /// Some rows are the PML's and one is not: those are counted once, from the PML, and the
    /// CSV says so; the rest of it is read.
    #[test]
    fn the_rows_a_pml_holds_are_taken_from_a_partly_exported_csv() {
        let mut events = pml();
        // Local time 5 h 30 min behind, a quarter-hour offset apart: same events.
        let csv = |i: u64, t: &str| row("t/filtered.csv", i, "a:1 -> b:3389", None, Some(t));
        events.push(csv(7, "15:16:47.1000003"));
        events.push(csv(9, "15:17:33.3000001"));
        events.push(csv(12, "15:17:40.0000001"));
        let mut accounts = two_files();
        let twins = drop_rows_of_pmls(&mut events, &mut accounts);
        let left: Vec<(&str, u64)> = events.iter().map(|e| (&*e.file, e.record)).collect();
        assert_eq!(
            left,
            [
                ("t/Logfile.PML", 1),
                ("t/Logfile.PML", 2),
                ("t/Logfile.PML", 3),
                ("t/filtered.csv", 12)
            ]
        );
        assert_eq!(twins.rows.len(), 2);
        assert!(twins.whole.is_empty());
        assert_eq!(accounts[1].status, crate::model::FileStatus::Ok);
        assert!(
            accounts[1]
                .problems_text()
                .contains("2 of its 3 kept rows are also events of t/Logfile.PML"),
            "{}",
            accounts[1].problems_text()
        );
    }

    /// Each PML event stands for one row at most, a row a microsecond off is another event,
    /// and with times to the second only, a partial match is not taken (such a clock pairs
    /// unrelated rows).
    #[test]
    fn rows_pair_one_to_one_at_the_csvs_precision() {
        let csv = |i: u64, t: &str| row("t/filtered.csv", i, "a:1 -> b:3389", None, Some(t));
        let mut events = pml();
        events.push(csv(1, "20:46:47.1000003"));
        events.push(csv(2, "20:46:47.1000003"));
        events.push(csv(3, "20:47:12.4000018"));
        let mut accounts = two_files();
        let twins = drop_rows_of_pmls(&mut events, &mut accounts);
        assert_eq!(twins.rows.len(), 1);
        assert_eq!(events.len(), 5);

        let mut events = pml();
        events.push(csv(1, "20:46:47"));
        events.push(csv(2, "20:50:00"));
        let mut accounts = two_files();
        let twins = drop_rows_of_pmls(&mut events, &mut accounts);
        assert!(twins.rows.is_empty() && twins.whole.is_empty());
        assert_eq!(events.len(), 5);
        assert!(accounts[1].problems().is_empty());
    }
}
