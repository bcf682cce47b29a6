//! Process Monitor CSV exports → events, streamed.
//!
//! The export is UTF-8 with a BOM, CRLF (or LF after git), every field quoted, quotes doubled,
//! bare CR inside some Detail fields (docs/domain.md §4): the `csv` crate reads that. Columns are
//! mapped by header name, in any order and any subset; `Process Name`, `Operation`, `Path` and
//! `Result` are required. Every other column goes into the row's `columns` by its header
//! name, when the caller wants it ([`ProcmonColumns`]: a scan builds only those its rules
//! read). Rows are read into one reused record and sent on in batches, so memory does not grow
//! with the file. A row whose time cannot be read keeps its row; a row that is not valid UTF-8
//! is read lossily and counted, whichever columns are built.

use std::borrow::Cow;
use std::cell::Cell;
use std::io::{BufRead, Read};
use std::sync::Arc;

use super::csvread::{Records, Utf16Le};
use super::procmon_time::{
    DayFirst, date_part, is_excel_mangled, parse_date_in, parse_time_of_day,
};
use super::{Emit, ProcmonColumns};
use crate::model::shared_str::Recent;
use crate::model::{At, Event, EventKind, FileAccount, Problem, ProcmonRow, SharedStr};

/// Events per batch handed to the consumer.
const BATCH: usize = 4096;

/// The most heap a row not kept may hold to be filled again with the next row.
const MAX_SPARE_BYTES: usize = 4096;

/// The columns the rules cannot do without.
pub const REQUIRED: [&str; 4] = ["Process Name", "Operation", "Path", "Result"];

/// The header of a Procmon stack export: a different table, refused.
pub const STACK_HEADER: [&str; 5] = ["Frame", "Module", "Location", "Address", "Path"];

/// Every column name Procmon writes in an event-list export.
pub const KNOWN_COLUMNS: [&str; 27] = [
    "Time of Day",
    "Process Name",
    "PID",
    "Operation",
    "Path",
    "Result",
    "Detail",
    "Date & Time",
    "Relative Time",
    "Duration",
    "Completion Time",
    "Event Class",
    "Sequence",
    "Image Path",
    "Company",
    "Description",
    "Version",
    "User",
    "Authentication ID",
    "Session",
    "Command Line",
    "TID",
    "Virtualized",
    "Integrity",
    "Category",
    "Parent PID",
    "Architecture",
];

/// Where each known column is in this file.
struct Columns {
    time: Option<usize>,
    date_time: Option<usize>,
    process: usize,
    pid: Option<usize>,
    operation: usize,
    path: usize,
    result: usize,
    detail: Option<usize>,
    /// Every other column the caller wants built ([`ProcmonColumns`]), with its header name.
    others: Vec<(usize, String)>,
    /// The other columns not built: still checked as UTF-8 in a row that is not valid as a
    /// whole, so that the count of rows read lossily does not depend on what is built.
    skipped: Vec<usize>,
    /// Bytes of the other columns' names together.
    names_bytes: usize,
    /// Names found more than once, with how many times (the first of each is read).
    duplicates: Vec<(String, usize)>,
}

impl Columns {
    fn map(header: &[String], wanted: &ProcmonColumns) -> Result<Columns, String> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|c| find(c).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "a Procmon CSV without the column{} {}: re-export with them shown (Options > Select Columns)",
                if missing.len() == 1 { "" } else { "s" },
                missing
                    .iter()
                    .map(|m| format!("'{m}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mapped = [
            "Time of Day",
            "Date & Time",
            "Process Name",
            "PID",
            "Operation",
            "Path",
            "Result",
            "Detail",
        ];
        let (others, skipped): (Vec<_>, Vec<_>) = header
            .iter()
            .enumerate()
            .filter(|(_, h)| !mapped.contains(&h.trim()))
            .map(|(i, h)| (i, h.trim().to_string()))
            .partition(|(_, h)| wanted.keeps(h));
        let skipped = skipped.into_iter().map(|(i, _)| i).collect();
        let names_bytes = others.iter().map(|(_, name)| name.len()).sum();
        let mut duplicates: Vec<(String, usize)> = Vec::new();
        for (i, h) in header.iter().enumerate() {
            let h = h.trim();
            if h.is_empty() || header[..i].iter().any(|e| e.trim() == h) {
                continue;
            }
            let times = header[i..].iter().filter(|e| e.trim() == h).count();
            if times > 1 {
                duplicates.push((h.to_string(), times));
            }
        }
        Ok(Columns {
            duplicates,
            time: find("Time of Day"),
            date_time: find("Date & Time"),
            process: find("Process Name").unwrap_or(0),
            pid: find("PID"),
            operation: find("Operation").unwrap_or(0),
            path: find("Path").unwrap_or(0),
            result: find("Result").unwrap_or(0),
            detail: find("Detail"),
            others,
            skipped,
            names_bytes,
        })
    }
}

/// Strip a UTF-8 byte-order mark from the first header name, if the reader left one.
fn clean_header(field: &[u8], first: bool) -> String {
    let field = if first {
        field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
    } else {
        field
    };
    String::from_utf8_lossy(field).into_owned()
}

/// Read a Procmon CSV event list from `input`, UTF-8 or UTF-16LE (Process Monitor's
/// Unicode export, with its byte-order mark); a record over `max_row_bytes` (or with more
/// fields than the limits allow) ends the read.
pub fn read_procmon(
    input: impl Read,
    max_row_bytes: u64,
    emit: &mut Emit<'_>,
    account: &mut FileAccount,
) {
    // The byte-order mark is taken off here, to tell UTF-16 from UTF-8.
    let mut input = std::io::BufReader::with_capacity(1 << 16, input);
    let head = match input.fill_buf() {
        Ok(h) => h,
        Err(e) => {
            account.damaged(format!("cannot read: {e}"));
            account.finish();
            return;
        }
    };
    let utf16 = head.starts_with(&[0xFF, 0xFE]);
    let bom = if utf16 {
        2
    } else if head.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    input.consume(bom);
    let fields = emit.limits.csv_fields;
    // Text that changes encoding part way is read up to the change, and said to be.
    let start = if utf16 {
        super::mixed::Start::Utf16Le
    } else {
        super::mixed::Start::Utf8
    };
    let mut guard = super::mixed::Guard::new(input, start, bom as u64);
    if utf16 {
        let mut text = Utf16Le::new(&mut guard);
        read_utf8(&mut text, max_row_bytes, fields, emit, account);
        if text.replaced > 0 {
            account.note(format!(
                "{} invalid UTF-16 sequences replaced with U+FFFD",
                text.replaced
            ));
        }
    } else {
        read_utf8(&mut guard, max_row_bytes, fields, emit, account);
    }
    if let Some((at, to)) = guard.switched() {
        account.damaged(super::mixed::problem(start, to, at));
    }
    account.finish();
}

fn read_utf8(
    input: impl Read,
    max_row_bytes: u64,
    max_fields: usize,
    emit: &mut Emit<'_>,
    account: &mut FileAccount,
) {
    let mut reader = Records::new(input, max_row_bytes, max_fields);
    let header = match reader.read_record() {
        Ok(true) => (0..reader.len())
            .map(|i| clean_header(reader.get(i).unwrap_or_default(), i == 0))
            .collect::<Vec<_>>(),
        Ok(false) => {
            account.damaged("empty: no header row");
            return;
        }
        Err(e) => {
            account.damaged(format!("cannot read the header row: {e}"));
            return;
        }
    };
    let columns = match Columns::map(&header, emit.columns) {
        Ok(c) => c,
        Err(why) => {
            account.damaged(why);
            return;
        }
    };
    for (name, times) in &columns.duplicates {
        account.note(format!(
            "the column '{name}' appears {times} times: only the first is read"
        ));
    }

    let mut batch = super::Batch::default();
    let mut row_number = 0u64;
    let mut times = 0u64;
    let mut excel_mangled = 0u64;
    let mut lossy = 0u64;
    let mut short_rows = 0u64;
    let mut long_rows = 0u64;
    // Rows with more fields than the header and a line break inside a quoted field: a quote
    // that did not close joined the next line(s) to them (count, first row).
    let mut joined = (0u64, 0u64);
    let mut spare: Option<Box<ProcmonRow>> = None;
    // Recent processes, operations and results, which the next row shares when the same.
    let mut last = <(Recent, Recent, Recent)>::default();
    // The last `Date & Time` date part and its date (the empty text has none).
    let mut last_date: (String, Option<jiff::civil::Date>) = (String::new(), None);
    // How an ambiguous `/` date is read, decided once a file from its first value's clock:
    // every row of a capture is read in the same order.
    let mut day_first: Option<DayFirst> = None;
    // Rows whose `Date & Time` holds no valid date (2/29/2023), and the first such value.
    let mut not_dates = (0u64, String::new());
    loop {
        match reader.read_record() {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                // The csv reader cannot resynchronise inside a broken quoted field: the
                // rest of the file is lost, and the account says so.
                account.errors += 1;
                let message = format!(
                    "row {}: {e}; the rest of the file was not read",
                    row_number + 1
                );
                account.lost(match reader.refused() {
                    Some((limit, flag)) => Problem::Refused {
                        limit,
                        flag,
                        message,
                    },
                    None => Problem::Record {
                        at: At {
                            record: Some(row_number + 1),
                            ..At::default()
                        },
                        message,
                    },
                });
                break;
            }
        }
        row_number += 1;
        if reader.len() < header.len() {
            short_rows += 1;
        } else if reader.len() > header.len() {
            // Process Monitor writes one line per event and never more fields than its
            // header: a line break inside such a row is where a quote that should have closed
            // took the next line in.
            if memchr::memchr2(b'\r', b'\n', reader.bytes()).is_some() {
                if joined.0 == 0 {
                    joined.1 = row_number;
                }
                joined.0 += 1;
            } else {
                long_rows += 1;
            }
        }
        // Fields are borrowed from the record; only what the row keeps is copied out.
        let invalid = Cell::new(false);
        let (rec, seen) = (&reader, &invalid);
        // The record is checked as UTF-8 once, not field by field (which was a tenth of the
        // scan): valid as a whole and split at character boundaries, every field is valid.
        let whole = std::str::from_utf8(rec.bytes())
            .ok()
            .filter(|t| rec.ends().iter().all(|&e| t.is_char_boundary(e)));
        let field = move |i: usize| -> Cow<'_, str> {
            if let Some(text) = whole {
                return Cow::Borrowed(rec.range(i).map_or("", |r| &text[r]));
            }
            let raw = rec.get(i).unwrap_or(b"");
            // The plain check first: it is several times faster than the lossy one.
            match std::str::from_utf8(raw) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => {
                    seen.set(true);
                    String::from_utf8_lossy(raw)
                }
            }
        };
        let time_text = columns.time.map(field).unwrap_or_default();
        let time_of_day = parse_time_of_day(&time_text);
        if time_of_day.is_some() {
            times += 1;
        } else if is_excel_mangled(&time_text) {
            excel_mangled += 1;
        }
        // A capture's rows mostly share their date: it is parsed when it changes.
        let date = columns.date_time.map(field).and_then(|text| {
            let part = date_part(&text);
            if part != last_date.0 {
                let order = *day_first.get_or_insert_with(|| DayFirst::of_clock(&text));
                last_date = (part.to_string(), parse_date_in(part, order));
            }
            if last_date.1.is_none() && !part.trim().is_empty() {
                if not_dates.0 == 0 {
                    not_dates.1 = part.chars().take(40).collect();
                }
                not_dates.0 += 1;
            }
            last_date.1
        });
        // The row of the last event not kept is filled again: a scan keeps few rows, and
        // allocating and freeing each one's strings was most of the reading.
        let mut row = spare.take().unwrap_or_default();
        // Process, operation and result repeat row after row: a row shares a recent row's
        // value when the text is the same (a refilled row keeps its own when it is).
        let share = |to: &mut SharedStr, last: &mut Recent, i: usize| {
            let text = field(i);
            if to.as_str() != text {
                *to = last.share(&text);
            }
        };
        share(&mut row.process, &mut last.0, columns.process);
        share(&mut row.operation, &mut last.1, columns.operation);
        share(&mut row.result, &mut last.2, columns.result);
        let detail = columns.detail.map(&field).unwrap_or_default();
        row.text.set(&field(columns.path), &detail);
        row.pid = columns.pid.and_then(|i| field(i).trim().parse().ok());
        row.text
            .set_network(row.operation.starts_with("TCP ") || row.operation.starts_with("UDP "));
        row.columns.clear();
        let value_bytes: usize = columns
            .others
            .iter()
            .map(|(i, _)| rec.get(*i).map_or(0, <[u8]>::len))
            .sum();
        row.columns
            .reserve(columns.others.len(), columns.names_bytes + value_bytes);
        for (i, name) in &columns.others {
            row.columns.push(name, field(*i));
        }
        row.time_of_day = time_of_day;
        row.date = date;
        row.computer = None;
        if whole.is_none()
            && columns
                .skipped
                .iter()
                .any(|&i| std::str::from_utf8(rec.get(i).unwrap_or(b"")).is_err())
        {
            invalid.set(true);
        }
        if invalid.get() {
            lossy += 1;
        }
        account.events += 1;
        let mut event = Event {
            file: Arc::clone(emit.file),
            record: row_number,
            time: None,
            kind: EventKind::Procmon(row),
            marks: Default::default(),
        };
        if (emit.keep)(&mut event) {
            emit.hold(&mut batch, event, BATCH);
        } else if let EventKind::Procmon(row) = event.kind
            && row.heap_bytes() <= MAX_SPARE_BYTES
        {
            // Only a row of ordinary size is filled again, so that a kept row never holds
            // much more memory than its own text.
            spare = Some(row);
        }
    }
    emit.flush(batch);
    account.times_parsed = Some(times);
    if not_dates.0 > 0 {
        account.note(format!(
            "{} of {row_number} 'Date & Time' values hold no valid date (the first: '{}'): those rows have no date of their own",
            not_dates.0, not_dates.1
        ));
    }
    if columns.time.is_none() {
        account.note("no 'Time of Day' column: rows cannot be placed in time");
    } else if excel_mangled > 0 {
        account.note(format!(
            "{excel_mangled} of {row_number} 'Time of Day' values look Excel-mangled (mm:ss.f, hour lost): those rows cannot be placed in time"
        ));
    } else if times < row_number {
        account.note(format!(
            "{} of {row_number} rows have an unreadable 'Time of Day'",
            row_number - times
        ));
    }
    if lossy > 0 {
        account.note(format!(
            "{lossy} rows had invalid UTF-8, replaced with U+FFFD"
        ));
    }
    if short_rows > 0 {
        account.note(format!(
            "{short_rows} rows have fewer fields than the header"
        ));
    }
    if long_rows > 0 {
        account.note(format!(
            "{long_rows} rows have more fields than the header: the extra fields are not read"
        ));
    }
    if joined.0 > 0 {
        let (count, first) = joined;
        account.errors += count;
        account.lost(Problem::Record {
            at: At {
                record: Some(first),
                ..At::default()
            },
            message: if count == 1 {
                format!(
                    "row {first} holds a line break inside a quoted field and more fields than the header: a quote that did not close there took in the next line, whose event was not read as a row"
                )
            } else {
                format!(
                    "{count} rows (the first is row {first}) hold a line break inside a quoted field and more fields than the header: a quote that did not close there took in the next line, whose event was not read as a row"
                )
            },
        });
    }
    if reader.ended_in_quotes() {
        account.lost(Problem::Record {
            at: At {
                record: Some(row_number),
                ..At::default()
            },
            message: format!(
                "row {row_number}: a quote opened there never closes: the rest of the file was read as one field of that row"
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Limits;
    use crate::model::FileStatus;

    fn read(text: &[u8], limits: Limits) -> (Vec<Event>, FileAccount) {
        read_columns(text, limits, &ProcmonColumns::All)
    }

    fn read_columns(
        text: &[u8],
        limits: Limits,
        columns: &ProcmonColumns,
    ) -> (Vec<Event>, FileAccount) {
        let file: Arc<str> = Arc::from("t.csv");
        let pool = crate::ingest::pool(1).expect("a pool");
        let mut events = Vec::new();
        let mut send = |mut batch: Vec<Event>| events.append(&mut batch);
        let mut emit = Emit {
            file: &file,
            keep: &crate::ingest::keep_all,
            keep_reads_record: false,
            send: &mut send,
            pool,
            limits: &limits,
            columns,
        };
        let mut account = FileAccount::new("t.csv", crate::model::FileFormat::ProcmonCsv);
        read_procmon(text, limits.csv_row_bytes, &mut emit, &mut account);
        (events, account)
    }

    const HEADER: &str = "\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\",\"User\",\"Command Line\"\r\n";

    #[test]
    fn a_row_becomes_its_fields_with_the_other_columns_by_name() {
        let text = format!(
            "{HEADER}\"9:14:06.1234567 AM\",\"mstsc.exe\",\"4242\",\"TCP Connect\",\"client:50000 -> rds01:ms-wbt-server\",\"SUCCESS\",\"Length: 0, mss: 1460\",\"CONTOSO\\alice\",\"mstsc.exe /v:rds01\"\r\n"
        );
        let (events, account) = read(text.as_bytes(), Limits::default());
        assert_eq!(account.status, FileStatus::Ok, "{:?}", account.problems());
        let p = events[0].procmon().expect("a Procmon row");
        assert_eq!(
            (
                p.process.as_str(),
                p.pid,
                p.operation.as_str(),
                p.result.as_str()
            ),
            ("mstsc.exe", Some(4242), "TCP Connect", "SUCCESS")
        );
        assert_eq!(p.network().and_then(|n| n.remote_port), Some(3389));
        let detail: Vec<(&str, &str)> = p.detail().iter().collect();
        assert_eq!(detail, [("Length", "0"), ("mss", "1460")]);
        let columns: Vec<(&str, &str)> = p.columns.iter().collect();
        assert_eq!(
            columns,
            [
                ("User", "CONTOSO\\alice"),
                ("Command Line", "mstsc.exe /v:rds01")
            ]
        );
    }

    #[test]
    fn only_the_columns_asked_for_are_built_matched_ignoring_case() {
        let text = format!(
            "{HEADER}\"9:14:06 AM\",\"mstsc.exe\",\"4242\",\"ReadFile\",\"C:\\x\",\"SUCCESS\",\"Length: 1\",\"CONTOSO\\alice\",\"mstsc.exe /v:rds01\"\r\n"
        );
        let only = ProcmonColumns::Only(vec!["command line".into(), "Not There".into()]);
        let (narrow, narrow_account) = read_columns(text.as_bytes(), Limits::default(), &only);
        let (all, all_account) = read(text.as_bytes(), Limits::default());
        let (n, a) = (
            narrow[0].procmon().expect("a row"),
            all[0].procmon().expect("a row"),
        );
        let columns: Vec<(&str, &str)> = n.columns.iter().collect();
        assert_eq!(columns, [("Command Line", "mstsc.exe /v:rds01")]);
        assert_eq!(a.columns.len(), 2);
        // Everything but the other columns is the same.
        let mut a = a.clone();
        a.columns = n.columns.clone();
        assert_eq!(&a, n);
        assert_eq!(narrow_account, all_account);
        let (none, _) = read_columns(text.as_bytes(), Limits::default(), &ProcmonColumns::none());
        assert_eq!(none[0].procmon().expect("a row").columns.len(), 0);
    }

    /// A row whose `User` column holds a byte that is not UTF-8.
    fn bad_user_row() -> Vec<u8> {
        let mut text = HEADER.as_bytes().to_vec();
        text.extend_from_slice(b"\"9:14:06 AM\",\"a.exe\",\"1\",\"ReadFile\",\"C:\\x\",\"SUCCESS\",\"\",\"bad \xff\",\"\"\r\n");
        text
    }

    fn assert_lossy_noted(account: &FileAccount) {
        assert!(
            account
                .problem_texts()
                .contains(&"note: 1 rows had invalid UTF-8, replaced with U+FFFD".to_string()),
            "{:?}",
            account.problems()
        );
    }

    #[test]
    fn invalid_utf8_in_a_column_not_built_is_still_counted() {
        let (events, account) =
            read_columns(&bad_user_row(), Limits::default(), &ProcmonColumns::none());
        assert_eq!(events[0].procmon().expect("a row").columns.len(), 0);
        assert_lossy_noted(&account);
    }

    #[test]
    fn invalid_utf8_in_any_column_is_replaced_and_counted() {
        let (events, account) = read(&bad_user_row(), Limits::default());
        let p = events[0].procmon().expect("a Procmon row");
        assert_eq!(p.columns.get("User"), Some("bad \u{FFFD}"));
        assert_lossy_noted(&account);
    }

    #[test]
    fn a_row_over_the_bound_is_a_refusal_naming_its_flag() {
        let long = "x".repeat(300);
        let text = format!(
            "{HEADER}\"9:14:06 AM\",\"a.exe\",\"1\",\"ReadFile\",\"C:\\x\",\"SUCCESS\",\"\",\"\",\"\"\r\n\"9:14:07 AM\",\"a.exe\",\"1\",\"ReadFile\",\"{long}\",\"SUCCESS\",\"\",\"\",\"\"\r\n"
        );
        let limits = Limits {
            csv_row_bytes: 200,
            ..Limits::default()
        };
        let (events, account) = read(text.as_bytes(), limits);
        assert_eq!(events.len(), 1);
        let lost: Vec<&Problem> = account.problems().iter().filter(|p| !p.is_note()).collect();
        match lost.as_slice() {
            [
                Problem::Refused {
                    limit: 200,
                    flag: "--max-csv-row-bytes",
                    message,
                },
            ] => assert!(
                message.starts_with("row 2: ") && message.contains("longer than 200 bytes"),
                "{message}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_quote_that_never_closes_is_a_record_problem_at_its_row() {
        let text = format!(
            "{HEADER}\"9:14:06 AM\",\"a.exe\",\"1\",\"ReadFile\",\"C:\\x\",\"SUCCESS\",\"\",\"\",\"\"\r\n\"9:14:07 AM\",\"a.exe\",\"1\",\"ReadFile\",\"C:\\y\r\nrest of the file\r\n"
        );
        let (events, account) = read(text.as_bytes(), Limits::default());
        assert_eq!(events.len(), 2);
        let lost: Vec<&Problem> = account.problems().iter().filter(|p| !p.is_note()).collect();
        match lost.as_slice() {
            [Problem::Record { at, message }] => {
                assert_eq!(at.record, Some(2));
                assert!(message.starts_with("row 2: a quote opened there never closes"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(account.status, FileStatus::Partial);
    }

    #[test]
    fn a_quote_that_closes_a_line_late_names_the_row_that_took_in_the_next() {
        // The third row's last field lacks its closing quote: the quote that opens the fourth
        // row closes it, and the fourth row's fields are appended to the third.
        let row = |t: &str, end: &str| {
            format!(
                "\"{t}\",\"a.exe\",\"1\",\"ReadFile\",\"C:\\x\",\"SUCCESS\",\"\",\"\",\"cmd{end}\r\n"
            )
        };
        let text = format!(
            "{HEADER}{}{}{}{}{}\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\"\r\n",
            row("9:14:05 AM", "\""),
            row("9:14:06 AM", "\""),
            row("9:14:07 AM", ""),
            row("9:14:08 AM", "\""),
            row("9:14:09 AM", "\""),
        );
        let (events, account) = read(text.as_bytes(), Limits::default());
        assert_eq!(events.len(), 5, "{:?}", account.problems());
        assert_eq!(account.errors, 1);
        assert_eq!(account.status, FileStatus::Partial);
        let lost: Vec<&Problem> = account.problems().iter().filter(|p| !p.is_note()).collect();
        match lost.as_slice() {
            [Problem::Record { at, message }] => {
                assert_eq!(at.record, Some(3));
                assert!(message.starts_with("row 3 holds a line break"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // The last row has one field too many and no line break: noted, not lost.
        assert!(
            account
                .problem_texts()
                .iter()
                .any(|t| t.contains("1 rows have more fields than the header")),
            "{:?}",
            account.problems()
        );
    }

    /// A `Date & Time` that is no date (February 29 of 2023) is not taken for one, and the
    /// account says how many rows hold one, quoting the first.
    #[test]
    fn a_date_that_does_not_exist_is_named() {
        let header = HEADER.replace("\"Time of Day\"", "\"Time of Day\",\"Date & Time\"");
        let row = |date: &str| {
            format!(
                "\"9:14:06 AM\",\"{date} 9:14:06 AM\",\"mstsc.exe\",\"4242\",\"ReadFile\",\"C:\\x\",\"SUCCESS\",\"\",\"\",\"\"\r\n"
            )
        };
        let text = format!(
            "{header}{}{}{}",
            row("2/28/2023"),
            row("2/29/2023"),
            row("2/29/2023")
        );
        let (events, account) = read(text.as_bytes(), Limits::default());
        let dates: Vec<Option<String>> = events
            .iter()
            .map(|e| e.procmon().and_then(|p| p.date).map(|d| d.to_string()))
            .collect();
        assert_eq!(dates, [Some("2023-02-28".into()), None, None]);
        let notes = account.problem_texts();
        assert!(
            notes.iter().any(|n| n.contains(
                "2 of 3 'Date & Time' values hold no valid date (the first: '2/29/2023')"
            )),
            "{notes:?}"
        );
    }
}
