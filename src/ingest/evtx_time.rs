//! EVTX record times past what can be held, named instead of left unexplained.
//!
//! A FILETIME counts 100 ns ticks from 1601-01-01 UTC; Windows converts them to dates up to
//! year 30828 (`0x7FFFFFFFFFFFFFFF` is 30828-09-14), while this tool's times (and the `evtx`
//! crate's) end at 9999-12-31. Two things follow, and each is handled here:
//!
//! * a record whose *header* time is past that is refused by the crate, whose message says
//!   only where the record is: [`record_error`] adds the cause, by name, to the record error;
//! * a `TimeCreated` value past it renders with the year's last four digits (30828 → 0828),
//!   the way Windows renders it: [`wrapped`] tells such a time apart (no FILETIME is before
//!   1601), so the record is kept with its header's time instead, and the account says so.

use evtx::err::{DeserializationError, EvtxError};
use jiff::Timestamp;

/// FILETIME ticks (100 ns) in a day.
const TICKS_PER_DAY: u64 = 86_400 * 10_000_000;

/// The text of a record error from the `evtx` crate: its own message, and when the cause is a
/// record header time out of range, that cause by name (the record is not read).
pub fn record_error(e: &EvtxError) -> String {
    match header_filetime(e) {
        Some(ft) => format!(
            "{e}: its timestamp (FILETIME {ft:#018x}, year {}) is out of range, past 9999-12-31, the last date this tool can hold: record not read",
            year_of(ft)
        ),
        None => e.to_string(),
    }
}

/// The FILETIME of a record header the crate refused for its time, found through the layers
/// the crate wraps its errors in.
fn header_filetime(e: &EvtxError) -> Option<u64> {
    match e {
        EvtxError::DeserializationError(DeserializationError::InvalidRecordTimestamp {
            filetime,
        }) => Some(*filetime),
        EvtxError::FailedToReadRecordAt { source, .. }
        | EvtxError::FailedToParseRecord { source, .. } => header_filetime(source),
        _ => None,
    }
}

/// Whether `time`, read from an EVTX record's `TimeCreated`, is a FILETIME past 9999 rendered
/// with its year cut to four digits: a time before 1601, which no FILETIME can be.
pub fn wrapped(time: Option<Timestamp>) -> bool {
    // 1601-01-01T00:00:00Z, the FILETIME epoch.
    const EPOCH: i64 = -11_644_473_600;
    time.is_some_and(|t| t.as_second() < EPOCH)
}

/// The account's note for `count` records whose `TimeCreated` was past 9999.
pub fn wrapped_note(count: u64) -> String {
    format!(
        "{count} records have a TimeCreated past 9999-12-31 (shown by Windows with the year cut to four digits, such as 0828 for 30828): kept, dated by their record header's time"
    )
}

/// The proleptic Gregorian year of a FILETIME (Howard Hinnant's `civil_from_days`, counted
/// from 0000-03-01, 584,694 days before 1601-01-01, in 400-year eras).
fn year_of(filetime: u64) -> u64 {
    let z = filetime / TICKS_PER_DAY + 584_694;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    era * 400 + yoe + u64::from(mp >= 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_of_filetimes() {
        assert_eq!(year_of(0), 1601);
        // The last time Windows converts, 30828-09-14T02:48:05.4775807Z, and 30827-12-31.
        assert_eq!(year_of(0x7FFF_FFFF_FFFF_FFFF), 30828);
        assert_eq!(year_of(0x7FFF_35F4_F06C_58F0), 30827);
        // 2024-03-05T10:15:30Z and the last tick of 1999, either side of a year's end.
        assert_eq!(year_of(133_541_073_300_000_000), 2024);
        assert_eq!(year_of(125_911_583_999_999_999), 1999);
        assert_eq!(year_of(125_911_584_000_000_000), 2000);
    }

    #[test]
    fn a_header_time_out_of_range_is_named_through_the_wrapping() {
        let inner = EvtxError::DeserializationError(DeserializationError::InvalidRecordTimestamp {
            filetime: 0x7FFF_FFFF_FFFF_FFFF,
        });
        let e = EvtxError::FailedToReadRecordAt {
            chunk: Some(0),
            offset: 0x200,
            source: Box::new(inner),
        };
        let text = record_error(&e);
        assert!(text.starts_with(&e.to_string()), "{text}");
        assert!(
            text.contains("FILETIME 0x7fffffffffffffff, year 30828) is out of range"),
            "{text}"
        );
        // Any other error keeps the crate's message as it is.
        let other = EvtxError::FailedToCreateRecordModel("record BinXML slice is out of bounds");
        assert_eq!(record_error(&other), other.to_string());
    }

    #[test]
    fn only_times_before_the_filetime_epoch_are_wrapped() {
        let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        assert!(wrapped(at("0828-09-14T02:48:05.4775807Z")));
        assert!(!wrapped(at("1601-01-01T00:00:00Z")));
        assert!(!wrapped(at("2024-03-05T10:15:30Z")));
        assert!(!wrapped(None));
    }
}
