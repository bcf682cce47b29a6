//! Numbers as the Detail and other columns print them, written on the stack: a PML event has
//! half a dozen of them, and going through `format!` (a heap string and the formatting
//! machinery per number) cost more than decoding the rest of the event.

use std::fmt;

use arrayvec::ArrayString;

/// A short number's text, held inline: only ASCII digits, commas, `-`, `.`, `/`, `:`, spaces
/// and letters are written, at most 27 of them; as an `ArrayString` its `&str` needs no UTF-8
/// check on every read (a `Process` column or a detail field reads one per event).
#[derive(Clone, Copy)]
pub struct Num {
    text: ArrayString<40>,
}

impl Num {
    fn new() -> Num {
        Num {
            text: ArrayString::new(),
        }
    }

    fn push(&mut self, b: u8) {
        // Never full: see the type's docs.
        let _ = self.text.try_push(char::from(b));
    }

    /// The digits of `n`, most significant first, appended.
    fn digits(&mut self, n: u64, min_width: usize, group: bool) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let mut n = n;
        loop {
            i -= 1;
            tmp[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 && tmp.len() - i >= min_width {
                break;
            }
        }
        let digits = &tmp[i..];
        for (k, &d) in digits.iter().enumerate() {
            if group && k > 0 && (digits.len() - k).is_multiple_of(3) {
                self.push(b',');
            }
            self.push(d);
        }
    }

    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }
}

impl AsRef<str> for Num {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<&str> for Num {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// `n` in decimal.
pub fn dec(n: u64) -> Num {
    let mut out = Num::new();
    out.digits(n, 1, false);
    out
}

/// A signed `n` in decimal.
pub fn dec_signed(n: i64) -> Num {
    signed(n, false)
}

/// A signed `n`, its digits grouped by thousands or not.
fn signed(n: i64, group: bool) -> Num {
    let mut out = Num::new();
    if n < 0 {
        out.push(b'-');
    }
    out.digits(n.unsigned_abs(), 1, group);
    out
}

/// `1234567` → `1,234,567`.
pub fn grouped(n: u64) -> Num {
    let mut out = Num::new();
    out.digits(n, 1, true);
    out
}

/// `-1500` → `-1,500`.
pub fn grouped_signed(n: i64) -> Num {
    signed(n, true)
}

/// `n` as `{:#x}` prints it: `0x` and lowercase hex digits (`0x0` for zero).
pub fn hex(n: u64) -> Num {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Num::new();
    out.push(b'0');
    out.push(b'x');
    let width = (64 - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..width).rev() {
        out.push(DIGITS[((n >> (i * 4)) & 0xf) as usize]);
    }
    out
}

/// A duration in 100 ns units as `seconds.fraction` (7 digits).
pub fn seconds(ticks: u64) -> Num {
    let mut out = Num::new();
    let whole = ticks / 10_000_000;
    // Most events take under ten seconds: one digit, no loop.
    if whole < 10 {
        out.push(b'0' + whole as u8);
    } else {
        out.digits(whole, 1, false);
    }
    out.push(b'.');
    let mut fraction = (ticks % 10_000_000) as u32;
    let mut digits = [0u8; 7];
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (fraction % 10) as u8;
        fraction /= 10;
    }
    for d in digits {
        out.push(d);
    }
    out
}

/// A FILETIME (read as signed: `-1`, "leave unchanged" in a set request, is the last tick of
/// 1600) as `M/D/YYYY h:mm:ss AM` in UTC; empty outside the times a timestamp can hold (years
/// -9999 to 9999). Written on the stack: a directory listing has four per entry.
pub fn filetime_date(ft: u64) -> Num {
    const UNIX_EPOCH_SECONDS_AS_FILETIME: i64 = 11_644_473_600;
    let mut out = Num::new();
    // Whole seconds and the ticks after them (never negative), not 128-bit nanoseconds.
    let ticks = ft as i64;
    let secs = ticks.div_euclid(10_000_000) - UNIX_EPOCH_SECONDS_AS_FILETIME;
    let nanos = ticks.rem_euclid(10_000_000) as i32 * 100;
    if jiff::Timestamp::new(secs, nanos).is_err() {
        return out;
    }
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400) as u64;
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    let (h12, ampm) = match hour {
        0 => (12, b"AM"),
        1..=11 => (hour, b"AM"),
        12 => (12, b"PM"),
        h => (h - 12, b"PM"),
    };
    out.digits(month, 1, false);
    out.push(b'/');
    out.digits(day, 1, false);
    out.push(b'/');
    if year < 0 {
        out.push(b'-');
    }
    out.digits(year.unsigned_abs(), 1, false);
    out.push(b' ');
    out.digits(h12, 1, false);
    out.push(b':');
    out.digits(minute, 2, false);
    out.push(b':');
    out.digits(second, 2, false);
    out.push(b' ');
    out.push(ampm[0]);
    out.push(ampm[1]);
    out
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day), by whole 400-year eras.
fn civil_from_days(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_the_formatting_machinery_does() {
        for n in [0u64, 1, 9, 10, 999, 1000, 12_345, 1_000_000, u64::MAX] {
            assert_eq!(dec(n).as_str(), n.to_string());
            let plain = n.to_string();
            let mut want = String::new();
            for (i, c) in plain.chars().enumerate() {
                if i > 0 && (plain.len() - i) % 3 == 0 {
                    want.push(',');
                }
                want.push(c);
            }
            assert_eq!(grouped(n).as_str(), want);
            assert_eq!(
                seconds(n).as_str(),
                format!("{}.{:07}", n / 10_000_000, n % 10_000_000)
            );
        }
        for n in [0u64, 1, 0xf, 0x10, 0xdead_beef, 1 << 63, u64::MAX] {
            assert_eq!(hex(n).as_str(), format!("{n:#x}"));
        }
        for n in [0i64, -1, -1500, 1500, i64::MIN, i64::MAX] {
            assert_eq!(dec_signed(n).as_str(), n.to_string());
        }
        assert_eq!(grouped_signed(-1500), "-1,500");
        assert_eq!(grouped_signed(i64::MIN), "-9,223,372,036,854,775,808");
    }

    /// The date as jiff's calendar gives it.
    fn jiff_date(ft: u64) -> String {
        const UNIX_EPOCH_AS_FILETIME: i128 = 116_444_736_000_000_000;
        let ns = (i128::from(ft as i64) - UNIX_EPOCH_AS_FILETIME) * 100;
        let Ok(ts) = jiff::Timestamp::from_nanosecond(ns) else {
            return String::new();
        };
        let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        let (h12, ampm) = match dt.hour() {
            0 => (12, "AM"),
            h @ 1..=11 => (h, "AM"),
            12 => (12, "PM"),
            h => (h - 12, "PM"),
        };
        format!(
            "{}/{}/{} {}:{:02}:{:02} {ampm}",
            dt.month(),
            dt.day(),
            dt.year(),
            h12,
            dt.minute(),
            dt.second()
        )
    }

    #[test]
    fn filetime_dates_are_jiffs_calendar() {
        const DAY: u64 = 864_000_000_000;
        let mut cases = vec![
            0,
            1,
            u64::MAX,
            u64::MAX - 10_000_000,
            116_444_736_000_000_000,
            116_444_736_000_000_000 - 1,
            133_541_036_460_000_000,
            0x7FFF_FFFF_FFFF_FFFF,
            1 << 63,
            (-3_000_000_000_000_000_000i64) as u64,
            (-3_155_000_000_000_000_000i64) as u64,
            2_650_467_743_999_999_999,
            2_650_467_744_000_000_000,
        ];
        // Every day for 500 years from 1900 at a moving time of day, and a sweep of the range.
        let mut ft = 94_354_848_000_000_000u64;
        for i in 0..500 * 366 {
            cases.push(ft + (i * 37_000_000_003) % DAY);
            ft += DAY;
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x);
            cases.push(x >> 3);
            cases.push(x >> 6);
        }
        for ft in cases {
            assert_eq!(filetime_date(ft).as_str(), jiff_date(ft), "{ft}");
        }
        assert_eq!(
            filetime_date(133_541_036_460_000_000).as_str(),
            "3/5/2024 9:14:06 AM"
        );
    }
}
