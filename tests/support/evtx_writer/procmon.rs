//! Process Monitor CSV exports, byte for byte as Procmon writes them: UTF-8 BOM, CRLF, every
//! field quoted with quotes doubled, `Time of Day` as `h:mm:ss.fffffff AM/PM` local time.

use jiff::civil::Time;

/// Procmon's default columns, in its default order.
pub const DEFAULT_COLUMNS: [&str; 7] = [
    "Time of Day",
    "Process Name",
    "PID",
    "Operation",
    "Path",
    "Result",
    "Detail",
];

/// One row: the local time of day and one value per column after `Time of Day`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcmonCsvRow {
    pub time: Time,
    pub fields: Vec<String>,
}

/// `9:14:02.1180334 AM`: 12-hour clock, no leading zero on the hour, seven fractional digits.
pub fn format_time_of_day(t: Time) -> String {
    let (hour, ampm) = match t.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{hour}:{:02}:{:02}.{:07} {ampm}",
        t.minute(),
        t.second(),
        t.subsec_nanosecond() / 100
    )
}

fn quote(field: &str, out: &mut String) {
    out.push('"');
    out.push_str(&field.replace('"', "\"\""));
    out.push('"');
}

/// The CSV bytes for `columns` (the first must be `Time of Day`) and `rows`.
pub fn write_csv(columns: &[String], rows: &[ProcmonCsvRow]) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        quote(c, &mut out);
    }
    out.push_str("\r\n");
    for row in rows {
        quote(&format_time_of_day(row.time), &mut out);
        for f in &row.fields {
            out.push(',');
            quote(f, &mut out);
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}
