//! Procmon's time columns, in the locales they are seen in (docs/domain.md §4).
//!
//! `Time of Day` is the capture machine's local wall-clock time with no date and no zone:
//! `8:35:21.1680979 PM`, `18:40:23.1038915`, `16:53:03,6001516` (decimal comma),
//! `上午 01:09:44.8222664` (Chinese AM prefix; Japanese `午前/午後` and Korean `오전/오후` too).
//! An Excel round trip leaves `47:57.9` (minutes and seconds only): the hour is gone, so such a
//! value is not a time and the row keeps `None`.
//! `Date & Time` is `7/31/2020 7:19:37 AM` (US), and in other locales `31.07.2020 07:19:37`,
//! `2020/7/31 7:19:37` or `31/07/2020 07:19:37`.

use jiff::civil::{Date, Time};

/// Parse a `Time of Day` value. `None` when it is not a full time of day.
pub fn parse_time_of_day(text: &str) -> Option<Time> {
    if let Some(answer) = plain_clock(text.as_bytes()) {
        return answer;
    }
    let (clock, half) = split_half_day(text.trim());
    parse_clock(clock, half)
}

/// The shape Procmon writes in English and many other locales, `H:MM:SS[.fffffff][ AM|PM]`
/// (one or two hour digits, `.` or `,` before one to nine fraction digits), read as bytes: the
/// general path's splitting and marker search was most of a big export's time reading. `None`
/// when the text is not exactly that shape (the general path then decides); otherwise the
/// general path's answer, which a test checks.
fn plain_clock(text: &[u8]) -> Option<Option<Time>> {
    let (clock, half) = match text {
        [rest @ .., b' ', b'A', b'M'] => (rest, Some(Half::Am)),
        [rest @ .., b' ', b'P', b'M'] => (rest, Some(Half::Pm)),
        _ => (text, None),
    };
    let number = |digits: &[u8]| -> Option<i32> {
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i32, |n, &d| n * 10 + i32::from(d - b'0')),
        )
    };
    let colon = clock
        .iter()
        .position(|&b| b == b':')
        .filter(|&c| c == 1 || c == 2)?;
    let hour = number(&clock[..colon])?;
    let rest = &clock[colon + 1..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let minute = number(&rest[..2])?;
    let second = number(&rest[3..5])?;
    let nanos = match &rest[5..] {
        [] => 0,
        [b'.' | b',', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            number(fraction)? * 10i32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let hour = match half {
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return Some(None),
        Some(Half::Am) => hour % 12,
        Some(Half::Pm) => hour % 12 + 12,
    };
    let small = |n: i32| i8::try_from(n).ok();
    Some(Time::new(small(hour)?, small(minute)?, small(second)?, nanos).ok())
}

/// Whether a value looks like Excel's `mm:ss.f` mangling of a time of day.
pub fn is_excel_mangled(text: &str) -> bool {
    let t = text.trim();
    let mut parts = t.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(s), None) => {
            m.len() <= 2
                && m.bytes().all(|b| b.is_ascii_digit())
                && s.split(['.', ','])
                    .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        }
        _ => false,
    }
}

/// The date part of a `Date & Time` value, what [`parse_date_in`] reads (the time after it is not
/// read: `Time of Day` has it). Rows of one capture mostly share it, so a reader can parse it
/// once.
pub fn date_part(text: &str) -> &str {
    // The usual value (`7/12/2020 1:18:10 AM`) is ASCII and starts with its date: the date
    // ends at the first whitespace byte. Anything else (a leading space, a byte past ASCII,
    // which may be Unicode whitespace) takes the general path below.
    let bytes = text.as_bytes();
    if bytes.first().is_some_and(u8::is_ascii_graphic) {
        // The ASCII bytes `char::is_whitespace` holds for.
        let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
        match bytes.iter().position(|&b| !b.is_ascii() || space(b)) {
            None => return text,
            Some(i) if bytes[i].is_ascii() => return &text[..i],
            Some(_) => {}
        }
    }
    general_date_part(text)
}

/// [`date_part`] for any text.
fn general_date_part(text: &str) -> &str {
    date_and_clock(text).0
}

/// A `Date & Time` value's date and what follows it, trimmed (the clock; empty when none).
fn date_and_clock(text: &str) -> (&str, &str) {
    let text = text.trim();
    text.split_once(char::is_whitespace)
        .map_or((text, ""), |(d, clock)| (d, clock.trim()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    Am,
    Pm,
}

/// Take an AM/PM marker off either end of the text.
fn split_half_day(text: &str) -> (&str, Option<Half>) {
    const MARKERS: &[(&str, Half)] = &[
        ("AM", Half::Am),
        ("PM", Half::Pm),
        ("am", Half::Am),
        ("pm", Half::Pm),
        ("a.m.", Half::Am),
        ("p.m.", Half::Pm),
        ("上午", Half::Am),
        ("下午", Half::Pm),
        ("午前", Half::Am),
        ("午後", Half::Pm),
        ("오전", Half::Am),
        ("오후", Half::Pm),
    ];
    for (marker, half) in MARKERS {
        if let Some(rest) = text.strip_suffix(marker) {
            return (rest.trim_end(), Some(*half));
        }
        if let Some(rest) = text.strip_prefix(marker) {
            return (rest.trim_start(), Some(*half));
        }
    }
    (text, None)
}

/// `H:MM:SS[.fffffff]` with `.` or `,` before the fraction.
fn parse_clock(clock: &str, half: Option<Half>) -> Option<Time> {
    let mut parts = clock.split(':');
    let hour: i8 = parse_digits(parts.next()?, 2)?;
    let minute: i8 = parse_digits(parts.next()?, 2)?;
    let seconds = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let (sec, frac) = match seconds.split_once(['.', ',']) {
        Some((s, f)) => (s, Some(f)),
        None => (seconds, None),
    };
    let second: i8 = parse_digits(sec, 2)?;
    let nanos = match frac {
        None => 0,
        Some(f) if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) => {
            return None;
        }
        Some(f) => {
            let value: i32 = f.parse().ok()?;
            value * 10i32.pow(9 - f.len() as u32)
        }
    };
    let hour = match half {
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(Half::Am) => hour % 12,
        Some(Half::Pm) => hour % 12 + 12,
    };
    Time::new(hour, minute, second, nanos).ok()
}

fn parse_digits<T: std::str::FromStr>(s: &str, max_len: usize) -> Option<T> {
    if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Whether a `/`-separated date with the year last is read day first when neither of its first
/// two numbers says (both 12 or less).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayFirst {
    Yes,
    No,
}

impl DayFirst {
    /// What a capture's `Date & Time` value says of its locale: a 12-hour clock (`AM`/`PM`) is
    /// the United States' `M/D/YYYY`; with a 24-hour clock, `/` is the day-first order of the
    /// United Kingdom, France, Spain, Italy, Brazil and most others (ja-JP and zh-CN put the year
    /// first, which needs no guess).
    pub fn of_clock(date_and_time: &str) -> DayFirst {
        let clock = date_and_clock(date_and_time).1;
        if split_half_day(clock).1.is_some() {
            DayFirst::No
        } else {
            DayFirst::Yes
        }
    }
}

/// `M/D/YYYY` or `D/M/YYYY`, `D.M.YYYY`, `YYYY/M/D`, `YYYY-MM-DD`. A `/`-separated date
/// with the year last is read in the order `ambiguous` says when neither of its first two
/// numbers says (a number over 12 is the day).
pub fn parse_date_in(text: &str, ambiguous: DayFirst) -> Option<Date> {
    let sep = text.chars().find(|c| matches!(c, '/' | '.' | '-'))?;
    let parts: Vec<&str> = text.split(sep).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let num = |s: &str| parse_digits::<i16>(s, 4);
    let (a_n, b_n, c_n) = (num(a)?, num(b)?, num(c)?);
    let (year, month, day) = if a.len() == 4 {
        (a_n, b_n, c_n)
    } else if c.len() == 4 {
        match sep {
            '.' | '-' => (c_n, b_n, a_n),
            _ if a_n > 12 => (c_n, b_n, a_n),
            _ if b_n > 12 => (c_n, a_n, b_n),
            _ if ambiguous == DayFirst::Yes => (c_n, b_n, a_n),
            _ => (c_n, a_n, b_n),
        }
    } else {
        return None;
    };
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_part_takes_the_general_paths_answer() {
        let mut texts = vec![String::new()];
        for head in [
            "7/12/2020",
            "31.07.2020",
            "2020/7/31",
            " 7/12/2020",
            "\t7/12/2020",
            "７/12",
        ] {
            for gap in [
                "", " ", "\t", "\x0B", "\x0C", "\r", "\n", "\u{A0}", "\u{85}", "\u{3000}", "  ",
            ] {
                for tail in ["", "1:18:10 AM", "07:19:37", " x", "é"] {
                    texts.push(format!("{head}{gap}{tail}"));
                }
            }
        }
        for text in &texts {
            assert_eq!(date_part(text), general_date_part(text), "{text:?}");
        }
    }

    fn t(s: &str) -> Option<String> {
        parse_time_of_day(s).map(|t| t.to_string())
    }

    #[test]
    fn every_time_of_day_form_in_the_corpus() {
        assert_eq!(t("8:35:21.1680979 PM").as_deref(), Some("20:35:21.1680979"));
        assert_eq!(t("12:05:00.5 AM").as_deref(), Some("00:05:00.5"));
        assert_eq!(t("12:05:00 PM").as_deref(), Some("12:05:00"));
        assert_eq!(t("18:40:23.1038915").as_deref(), Some("18:40:23.1038915"));
        assert_eq!(t("16:53:03,6001516").as_deref(), Some("16:53:03.6001516"));
        assert_eq!(
            t("上午 01:09:44.8222664").as_deref(),
            Some("01:09:44.8222664")
        );
        assert_eq!(
            t("下午 01:09:44.8222664").as_deref(),
            Some("13:09:44.8222664")
        );
        assert_eq!(t("오후 3:00:00.1").as_deref(), Some("15:00:00.1"));
    }

    #[test]
    fn the_plain_shape_reads_as_the_general_path_does() {
        let general = |s: &str| {
            let (clock, half) = split_half_day(s.trim());
            parse_clock(clock, half)
        };
        let mut tried = 0;
        for h in [
            "0", "1", "9", "00", "07", "12", "13", "23", "24", "99", "x", "123",
        ] {
            for m in ["00", "5", "59", "60", "0x"] {
                for s in ["00", "59", "60", "7"] {
                    for f in [
                        "",
                        ".1",
                        ",1234567",
                        ".123456789",
                        ".1234567890",
                        ".",
                        ".12a",
                    ] {
                        for half in ["", " AM", " PM", "AM", "  PM", " am"] {
                            let text = format!("{h}:{m}:{s}{f}{half}");
                            assert_eq!(parse_time_of_day(&text), general(&text), "{text}");
                            tried += usize::from(plain_clock(text.as_bytes()).is_some());
                        }
                    }
                }
            }
        }
        assert!(tried > 1000, "{tried}");
    }

    #[test]
    fn not_a_time() {
        assert_eq!(t("47:57.9"), None);
        assert!(is_excel_mangled("47:57.9"));
        assert!(!is_excel_mangled("18:40:23.1038915"));
        assert_eq!(t(""), None);
        assert_eq!(t("25:00:00"), None);
        assert_eq!(t("13:00:00 PM"), None);
        assert_eq!(t("1:2:3.1234567890"), None);
        assert_eq!(t("aa:bb:cc"), None);
    }

    #[test]
    fn date_and_time_forms() {
        let date = |text: &str| parse_date_in(date_part(text), DayFirst::No).map(|d| d.to_string());
        for text in [
            "7/31/2020 7:19:37 AM",
            "31.07.2020 07:19:37",
            " 31.07.2020\t07:19:37",
            "2020/7/31 7:19:37",
            "2020/7/31",
            "31/07/2020 07:19:37",
        ] {
            assert_eq!(date(text).as_deref(), Some("2020-07-31"), "{text:?}");
        }
        for text in ["13/13/2020 1:00:00", "yesterday", "", "x y"] {
            assert_eq!(date(text), None, "{text:?}");
        }
    }

    /// `03/09/2024` is 9 March with a 12-hour clock (en-US) and 3 September with a 24-hour
    /// one (en-GB, fr-FR); a number over 12 settles the order whatever the clock says.
    #[test]
    fn an_ambiguous_slash_date_is_read_in_the_clocks_locale() {
        let date = |text: &str| {
            parse_date_in(date_part(text), DayFirst::of_clock(text)).map(|d| d.to_string())
        };
        for (text, want) in [
            ("03/09/2024 1:02:11.1234567 PM", "2024-03-09"),
            ("03/09/2024 13:02:11,1234567", "2024-09-03"),
            ("3/9/2024 13:02:11", "2024-09-03"),
            ("13/09/2024 13:02:11", "2024-09-13"),
            ("09/13/2024 13:02:11", "2024-09-13"),
            ("13/09/2024 1:02:11 PM", "2024-09-13"),
            ("2024/09/03 13:02:11", "2024-09-03"),
            ("03.09.2024 13:02:11", "2024-09-03"),
        ] {
            assert_eq!(date(text).as_deref(), Some(want), "{text:?}");
        }
    }
}
