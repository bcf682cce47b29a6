//! Text as evtx 0.15.1's renderer writes it into XML and its reader reads it back: UTF-16 and
//! ANSI strings (controls and lone surrogates as `_`), numbers, GUIDs, SIDs, hex, binary, and
//! FILETIME / SYSTEMTIME (invalid ones included). Split from the walk so that each part says
//! what it owns: the walk decides *which* text is read, this module *how* it is spelled.

use super::Value;

/// Append UTF-16LE text as the renderer writes it into XML and the reader reads it back:
/// C0 controls other than tab, LF and CR, unpaired surrogates, U+FFFE and U+FFFF become `_`.
/// Returns the number of unpaired surrogates.
pub(super) fn push_utf16(out: &mut Vec<u8>, bytes: &[u8]) -> u64 {
    let units = bytes
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]));
    // ASCII is by far the most common: checked and copied in loops that vectorize.
    let all_bits = bytes
        .chunks_exact(2)
        .fold(0u16, |all, u| all | u16::from_le_bytes([u[0], u[1]]));
    if all_bits < 0x80 {
        let start = out.len();
        out.resize(start + bytes.len() / 2, 0);
        for (to, u) in out[start..].iter_mut().zip(bytes.chunks_exact(2)) {
            *to = xml_char(u[0]);
        }
        return 0;
    }
    let mut lone = 0;
    let mut buf = [0u8; 4];
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(b'_'),
            Ok('\u{fffe}' | '\u{ffff}') => out.push(b'_'),
            Ok(c) => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
            Err(_) => {
                lone += 1;
                out.push(b'_');
            }
        }
    }
    lone
}

/// Append a value as the renderer writes it and the reader reads it back; the number of
/// unpaired surrogates in it, or `None` for a nested fragment (not text).
pub(super) fn push_value(out: &mut Vec<u8>, value: &Value<'_>) -> Option<u64> {
    match value {
        Value::Null => {}
        Value::Str(units) => return Some(push_utf16(out, units)),
        Value::Ansi(bytes) => push_ascii(out, bytes.iter().copied().filter(|&b| b != 0)),
        Value::Int(v) => {
            if *v < 0 {
                out.push(b'-');
            }
            push_digits(out, v.unsigned_abs(), 1);
        }
        Value::UInt(v) => push_digits(out, *v, 1),
        Value::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
        Value::Binary(bytes) => push_ascii(
            out,
            bytes.iter().flat_map(|&b| {
                [
                    HEX_UPPER[usize::from(b >> 4)],
                    HEX_UPPER[usize::from(b & 15)],
                ]
            }),
        ),
        Value::Guid(g) => {
            const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
            let mut text = [b'-'; 38];
            text[0] = b'{';
            text[37] = b'}';
            let mut n = 1;
            for (i, &at) in ORDER.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    n += 1;
                }
                text[n] = HEX_LOWER[usize::from(g[at] >> 4)];
                text[n + 1] = HEX_LOWER[usize::from(g[at] & 15)];
                n += 2;
            }
            push_ascii(out, text);
        }
        Value::FileTime(ft) => push_filetime(out, *ft),
        Value::SysTime(st) => push_systime(out, st),
        Value::Sid(bytes) => {
            let &[revision, count, a0, a1, a2, a3, a4, a5, ref subs @ ..] = *bytes else {
                out.extend_from_slice(b"S-?");
                return Some(0);
            };
            out.extend_from_slice(b"S-");
            push_digits(out, u64::from(revision), 1);
            out.push(b'-');
            push_digits(out, u64::from_be_bytes([0, 0, a0, a1, a2, a3, a4, a5]), 1);
            for sub in subs.chunks_exact(4).take(count as usize) {
                out.push(b'-');
                let sub = u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]);
                push_digits(out, u64::from(sub), 1);
            }
        }
        Value::Hex(v) => {
            out.extend_from_slice(b"0x");
            let digits = (64 - v.leading_zeros()).div_ceil(4).max(1);
            push_ascii(
                out,
                (0..digits)
                    .rev()
                    .map(|i| HEX_LOWER[((v >> (i * 4)) & 15) as usize]),
            );
        }
        Value::Nested(_) | Value::Fragment { .. } => return None,
    }
    Some(0)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Append ASCII bytes, C0 controls other than tab, LF and CR written as `_` (as the renderer
/// writes them into XML). Non-ASCII bytes never reach here; were one to, it would be `_` too.
fn push_ascii(out: &mut Vec<u8>, bytes: impl IntoIterator<Item = u8>) {
    out.extend(bytes.into_iter().map(xml_char));
}

/// An ASCII byte as the XML renderer writes it: C0 controls other than tab, LF and CR (and
/// anything not ASCII, which callers never pass) become `_`.
fn xml_char(b: u8) -> u8 {
    if (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b >= 0x80 {
        b'_'
    } else {
        b
    }
}

/// Append `v` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut Vec<u8>, mut v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while v > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[i.min(buf.len() - width.min(buf.len()))..]);
}

/// `YYYY-MM-DDThh:mm:ss.fffffffZ`, each field taken modulo its width.
fn push_datetime(out: &mut Vec<u8>, fields: [u64; 6], ticks: u64) {
    let mut text = *b"0000-00-00T00:00:00.0000000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for b in text[at..at + width].iter_mut().rev() {
            *b = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    let [year, month, day, hour, minute, second] = fields;
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, hour);
    put(14, 2, minute);
    put(17, 2, second);
    put(20, 7, ticks);
    out.extend_from_slice(&text);
}

/// A FILETIME as the renderer writes it: years past 9999 keep their last four digits, and a
/// value past `i64::MAX` is all zeros.
pub(super) fn push_filetime(out: &mut Vec<u8>, ft: u64) {
    const TICKS_PER_SEC: u64 = 10_000_000;
    const TICKS_PER_DAY: u64 = 86_400 * TICKS_PER_SEC;
    if ft > i64::MAX as u64 {
        out.extend_from_slice(b"0000-00-00T00:00:00.0000000Z");
        return;
    }
    let (days, ticks) = (ft / TICKS_PER_DAY, ft % TICKS_PER_DAY);
    // Days since 0000-03-01 (Howard Hinnant's civil_from_days), in 400-year eras.
    let z = days + 584_694;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    let secs = ticks / TICKS_PER_SEC;
    push_datetime(
        out,
        [
            year % 10_000,
            month,
            day,
            secs / 3_600,
            secs / 60 % 60,
            secs % 60,
        ],
        ticks % TICKS_PER_SEC,
    );
}

/// The time a FILETIME's rendering (by [`push_filetime`]) reads back as, without writing and
/// parsing it; `None` when it is not a time this tool holds (the text does not parse either).
/// That includes every FILETIME from year 10000 on, whose rendering cuts the year to four
/// digits: jiff's times end before then, so the ingest's FILETIME conversion refuses them.
pub(super) fn filetime_as_read(ft: u64) -> Option<jiff::Timestamp> {
    crate::ingest::pml::event::filetime(ft)
}

/// A SYSTEMTIME as the renderer writes it: one that Windows would not take as a time
/// renders as 1601-01-01T00:00:00.
pub(super) fn push_systime(out: &mut Vec<u8>, st: &[u8; 16]) {
    let f = |i: usize| u16::from_le_bytes([st[2 * i], st[2 * i + 1]]);
    let (year, month, day) = (f(0), f(1), f(3));
    let (hour, minute, second, ms) = (f(4), f(5), f(6), f(7));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    let valid = (1601..=30827).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && ms < 1_000;
    if !valid {
        out.extend_from_slice(b"1601-01-01T00:00:00.0000000Z");
        return;
    }
    let fields = [year % 10_000, month, day, hour, minute, second].map(u64::from);
    push_datetime(out, fields, u64::from(ms) * 10_000);
}
