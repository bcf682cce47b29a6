//! Values as people type and read them: byte sizes with units (`4GiB`), durations (`90s`),
//! points in time (`2024-03-05T09:14:00Z`, `2024-03-05 09:14`, `2024-03-05`), and offsets
//! written the way one says them ("3 h 21 min before").

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};

/// A number of bytes, read with an optional unit (`B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`,
/// `T`/`TiB` in powers of 1024; `KB`, `MB`, `GB`, `TB` in powers of 1000) and shown with the
/// largest binary unit that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

/// Why text is not a [`ByteSize`] (clap shows it after the flag's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("{0:?}: expected a size like 4GiB, 512MiB, 64K or 1000000")]
    NotASize(String),
    #[error("{0:?}: too large")]
    TooLarge(String),
}

impl FromStr for ByteSize {
    type Err = SizeError;

    fn from_str(text: &str) -> Result<Self, SizeError> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let digits = &t[..split];
        let unit = t[split..].trim();
        let bad = || SizeError::NotASize(text.to_string());
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let factor: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            _ => return Err(bad()),
        };
        n.checked_mul(factor)
            .map(ByteSize)
            .ok_or_else(|| SizeError::TooLarge(text.to_string()))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
            if n != 0 && n.is_multiple_of(1u64 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}")
    }
}

/// `90s`, `2m`, `1h`, `500ms`, `1d`, or plain seconds.
pub fn parse_duration(text: &str) -> Option<SignedDuration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: i64 = t[..split].parse().ok()?;
    let ms = match t[split..].trim() {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" | "min" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(SignedDuration::from_millis(ms))
}

/// Which end of a time window a typed time is: a bare date means the start of that day for
/// `From`, and its end for `To`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    From,
    To,
}

/// A point in time: RFC 3339 (`2024-03-05T09:14:00Z`, `…+01:00`), a date and time without an
/// offset (taken as UTC, like every time rdtriage shows), or a bare date; an offset may also
/// follow after a space, as people type it (`2024-03-05 10:14 +01:00`, `… +0100`, `… UTC`).
/// Returned as the window's edge: inclusive for `From`; for `To`, the first instant past it.
pub fn parse_time(text: &str, bound: Bound) -> Option<Timestamp> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return window_edge(ts, bound);
    }
    if let Some((civil, zone)) = t.rsplit_once(char::is_whitespace)
        && let Some(offset) = typed_offset(zone)
    {
        return civil_edge(civil.trim_end(), jiff::tz::TimeZone::fixed(offset), bound);
    }
    civil_edge(t, jiff::tz::TimeZone::UTC, bound)
}

/// The window's edge at `ts`: itself for `From`, the first instant past it for `To`.
fn window_edge(ts: Timestamp, bound: Bound) -> Option<Timestamp> {
    match bound {
        Bound::From => Some(ts),
        Bound::To => ts.checked_add(SignedDuration::from_nanos(1)).ok(),
    }
}

/// A date and time, or a bare date (its whole day), read in `zone`.
fn civil_edge(t: &str, zone: jiff::tz::TimeZone, bound: Bound) -> Option<Timestamp> {
    if t.len() > 10
        && let Ok(dt) = t.parse::<jiff::civil::DateTime>()
    {
        return window_edge(dt.to_zoned(zone).ok()?.timestamp(), bound);
    }
    let date = t.parse::<jiff::civil::Date>().ok()?;
    let day = match bound {
        Bound::From => date,
        Bound::To => date.tomorrow().ok()?,
    };
    day.to_zoned(zone).ok().map(|z| z.timestamp())
}

/// An offset typed after a time: `Z`, `UTC`, `GMT`, `+01:00`, `+0100`, `+01`, `-05:30`.
fn typed_offset(text: &str) -> Option<jiff::tz::Offset> {
    if ["Z", "UTC", "GMT"]
        .iter()
        .any(|z| text.eq_ignore_ascii_case(z))
    {
        return Some(jiff::tz::Offset::UTC);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|&c| c != ':').collect();
    let colons = rest.len() - digits.len();
    if !digits.bytes().all(|b| b.is_ascii_digit())
        || colons > 1
        || !(digits.len() == 2 || digits.len() == 4)
        || (colons == 1 && rest.find(':') != Some(2))
    {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = match &digits[2..] {
        "" => 0,
        m => m.parse().ok()?,
    };
    if hours > 18 || minutes > 59 {
        return None;
    }
    jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

/// An offset from the 0x904 as people say it: "at the 0x904", "12 s after", "3 min 12 s
/// before", "3 h 21 min before", "2 d 4 h before".
pub fn offset_words(seconds: i64) -> String {
    if seconds == 0 {
        return "at the 0x904".into();
    }
    let side = if seconds < 0 { "before" } else { "after" };
    format!("{} {side}", span_words(seconds.unsigned_abs()))
}

/// A length of time in its two largest units: "45 s", "3 min 12 s", "3 h 21 min", "2 d 4 h".
pub fn span_words(s: u64) -> String {
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let two = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a} {ua}")
        } else {
            format!("{a} {ua} {b} {ub}")
        }
    };
    if d > 0 {
        two(d, "d", h, "h")
    } else if h > 0 {
        two(h, "h", m, "min")
    } else if m > 0 {
        two(m, "min", sec, "s")
    } else {
        format!("{sec} s")
    }
}

/// Items as a sentence lists them: `a`, `a and b`, `a, b and c`; empty for none.
pub fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
    }
}

/// `1 finding`, `2 findings`.
pub fn count(n: u64, singular: &str, plural: &str) -> String {
    format!("{n} {}", if n == 1 { singular } else { plural })
}

/// An RFC 3339 time from the report shown to the millisecond, `2024-03-05 09:14:06.020`
/// (UTC); text that is not such a time is returned as it is.
pub fn time_ms(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// How many SYSTEMTIMEs into an event's binary data one may be read from (a rule's or the
/// domain's position past it is refused when it is loaded).
pub const SYSTEMTIME_POSITIONS: usize = 4096;

/// The `n`th SYSTEMTIME (16 bytes: year, month, day of week, day, hour, minute, second,
/// millisecond, each a little-endian u16) in `hex`, an event's binary data as the event log
/// writes it (two hex digits per byte). `None` when the data is shorter, not hex, or the
/// SYSTEMTIME is not a time Windows would take (a month 13, a 30 February, a year before 1601).
pub fn systemtime_in_hex(hex: &str, n: usize) -> Option<jiff::civil::DateTime> {
    if n >= SYSTEMTIME_POSITIONS {
        return None;
    }
    let start = n.checked_mul(32)?;
    let digits = hex.trim().as_bytes().get(start..start.checked_add(32)?)?;
    let mut f = [0u16; 8];
    for (k, word) in f.iter_mut().enumerate() {
        let byte = |at: usize| -> Option<u16> {
            let pair = std::str::from_utf8(digits.get(at..at + 2)?).ok()?;
            u16::from_str_radix(pair, 16).ok()
        };
        *word = byte(4 * k)? | (byte(4 * k + 2)? << 8);
    }
    let [year, month, _, day, hour, minute, second, ms] = f;
    if !(1601..=9999).contains(&year) || ms >= 1000 {
        return None;
    }
    let small = |v: u16| i8::try_from(v).ok();
    jiff::civil::DateTime::new(
        i16::try_from(year).ok()?,
        small(month)?,
        small(day)?,
        small(hour)?,
        small(minute)?,
        small(second)?,
        i32::from(ms) * 1_000_000,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_a_sentence() {
        assert_eq!(and_list::<&str>(&[]), "");
        assert_eq!(and_list(&["a"]), "a");
        assert_eq!(and_list(&["a", "b"]), "a and b");
        assert_eq!(
            and_list(&["a".to_string(), "b".into(), "c".into()]),
            "a, b and c"
        );
    }

    #[test]
    fn byte_sizes_read_and_print_with_units() {
        let p = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(p("4GiB"), Ok(4 << 30));
        assert_eq!(p("4 GiB"), Ok(4 << 30));
        assert_eq!(p("64M"), Ok(64 << 20));
        assert_eq!(p("1000"), Ok(1000));
        assert_eq!(p("2kb"), Ok(2000));
        assert!(p("4 parsecs").is_err());
        assert!(p("GiB").is_err());
        assert_eq!(
            p("99999999999TiB"),
            Err(SizeError::TooLarge("99999999999TiB".into()))
        );
        assert_eq!(
            p("4 parsecs").unwrap_err().to_string(),
            "\"4 parsecs\": expected a size like 4GiB, 512MiB, 64K or 1000000"
        );
        assert_eq!(ByteSize(4 << 30).to_string(), "4GiB");
        assert_eq!(ByteSize(128 << 20).to_string(), "128MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(ByteSize(0).to_string(), "0");
    }

    #[test]
    fn offsets_are_said_like_people_say_them() {
        assert_eq!(offset_words(0), "at the 0x904");
        assert_eq!(offset_words(-12), "12 s before");
        assert_eq!(offset_words(192), "3 min 12 s after");
        assert_eq!(offset_words(-(3 * 3600 + 21 * 60 + 5)), "3 h 21 min before");
        assert_eq!(offset_words(-5573), "1 h 32 min before");
        assert_eq!(offset_words(3600), "1 h after");
        assert_eq!(offset_words(2 * 86_400 + 4 * 3600), "2 d 4 h after");
        assert_eq!(count(1, "finding", "findings"), "1 finding");
        assert_eq!(count(2, "finding", "findings"), "2 findings");
    }

    #[test]
    fn times_parse_as_window_edges() {
        let ts = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(
            parse_time("2024-03-05", Bound::From),
            Some(ts("2024-03-05T00:00:00Z"))
        );
        assert_eq!(
            parse_time("2024-03-05", Bound::To),
            Some(ts("2024-03-06T00:00:00Z"))
        );
        assert_eq!(
            parse_time("2024-03-05 09:14", Bound::From),
            Some(ts("2024-03-05T09:14:00Z"))
        );
        assert_eq!(
            parse_time("2024-03-05T10:14:00+01:00", Bound::From),
            Some(ts("2024-03-05T09:14:00Z"))
        );
        assert!(parse_time("yesterday", Bound::From).is_none());
        for typed in [
            "2024-03-05 10:14 +01:00",
            "2024-03-05 10:14:00 +0100",
            "2024-03-05T10:14 +01",
            "2024-03-05 04:44 -04:30",
        ] {
            assert_eq!(
                parse_time(typed, Bound::From),
                Some(ts("2024-03-05T09:14:00Z")),
                "{typed}"
            );
        }
        assert_eq!(
            parse_time("2024-03-05 09:14 UTC", Bound::From),
            Some(ts("2024-03-05T09:14:00Z"))
        );
        assert_eq!(
            parse_time("2024-03-05 +01:00", Bound::To),
            Some(ts("2024-03-05T23:00:00Z"))
        );
        for wrong in [
            "2024-03-05 10:14 +1:00",
            "2024-03-05 10:14 +25",
            "2024-03-05 10:14 x",
        ] {
            assert!(parse_time(wrong, Bound::From).is_none(), "{wrong}");
        }
        assert_eq!(
            time_ms("2024-03-05T09:14:06.020566Z"),
            "2024-03-05 09:14:06.020"
        );
        assert_eq!(time_ms("-"), "-");
    }

    #[test]
    fn systemtimes_are_read_from_binary_data() {
        // EventLog 6008's data: the shutdown's local time, then its UTC time.
        let data =
            "DC0704000500060009003B000D001D00DC070400050006000D003B000D001D00600900003C000000";
        let at = |n| systemtime_in_hex(data, n).map(|t| t.to_string());
        assert_eq!(at(0).as_deref(), Some("2012-04-06T09:59:13.029"));
        assert_eq!(at(1).as_deref(), Some("2012-04-06T13:59:13.029"));
        // Past the data, not hex, or no time Windows takes: none.
        assert_eq!(at(3), None);
        assert_eq!(
            systemtime_in_hex(&data.replacen("DC07", "ZZ07", 1), 0),
            None
        );
        assert!(systemtime_in_hex(&data.replacen("DC07", "dc07", 1), 0).is_some());
        assert_eq!(systemtime_in_hex(&data.replace("0400", "0D00"), 0), None);
        assert_eq!(
            systemtime_in_hex("DC07020005001E000900000000000000", 0),
            None
        );
        assert!(systemtime_in_hex("DC07020005001C000900000000000000", 0).is_some());
        assert_eq!(
            systemtime_in_hex("3F0601000000010000000000000000000", 0),
            None
        );
        assert_eq!(systemtime_in_hex(&"é".repeat(40), 0), None);
        assert_eq!(systemtime_in_hex(data, usize::MAX), None);
    }
}
