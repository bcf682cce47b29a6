//! The text of a collector's listing (registry export, ACL dump, certificate and netstat
//! listings) and its lines, alike for all four readers.
//!
//! A line ends at CRLF, at LF, or at a CR alone. Split by `str::lines` (LF only), a listing
//! whose lines end in a CR alone (classic Mac line ends, a tool that wrote `\r`) was one line:
//! not recognised, or read as its first line only; and a CR alone inside a CRLF listing glued
//! two lines into one, the second read as the first's data or lost.
//!
//! The text is decoded as [`bundle::collector_text`] decodes it, and also when it is UTF-16LE
//! without a byte-order mark that the bundle decoder does not take for UTF-16 (it asks for 90%
//! of the first 512 bytes to be ASCII units): a short UTF-16LE part before UTF-8 text (its
//! header read as UTF-8 with a NUL beside every letter: not recognised, or read as a switch to
//! UTF-16LE "from byte 0"), or text whose first 512 bytes hold many characters outside ASCII
//! (a Cyrillic netstat header). Told by [`unmarked_utf16le`].

use std::borrow::Cow;

use super::bundle;
use super::mixed::{self, Start};
use super::readers::Head;
use crate::model::FileAccount;

/// The lines of `text`, each ended by CRLF, LF or a CR alone (the break not included). A
/// text ending in a line break has no empty last line; an empty text has no line.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr2(b'\r', b'\n', rest.as_bytes()).unwrap_or(rest.len());
        let (line, after) = rest.split_at(end);
        rest = after
            .strip_prefix("\r\n")
            .or_else(|| after.get(1..))
            .unwrap_or("");
        Some(line)
    })
}

/// [`lines`] with their 1-based numbers.
pub fn numbered(text: &str) -> impl Iterator<Item = (u64, &str)> {
    lines(text).zip(1u64..).map(|(line, n)| (n, line))
}

/// The first line of `text` (empty for an empty text).
pub fn first(text: &str) -> &str {
    lines(text).next().unwrap_or("")
}

/// Whether `text` ends inside a line: words after its last line break (a listing cut short).
pub fn ends_mid_line(text: &str) -> bool {
    text.rsplit(['\r', '\n'])
        .next()
        .is_some_and(|last| !last.trim().is_empty())
}

/// Bytes looked at to tell UTF-16LE text without its byte-order mark.
const SAMPLE_BYTES: usize = 1024;

/// ASCII characters, each with its zero byte, that tell UTF-16LE at least.
const MIN_ASCII_UNITS: usize = 16;

/// A UTF-16LE unit of ASCII text: a printable byte (or tab, CR, LF), then a zero byte.
fn ascii_unit(u: &[u8]) -> bool {
    matches!(u, [b'\t' | b'\n' | b'\r' | 0x20..=0x7E, 0])
}

/// Whether `bytes` (a whole text, or its first bytes) is UTF-16LE without a byte-order mark:
/// in its first KiB, up to where text of another encoding begins ([`mixed::switch_at`]), at
/// least [`MIN_ASCII_UNITS`] ASCII characters each followed by a zero byte, one unit in four
/// at least, one of them among the first four. UTF-8 text holds no zero byte; UTF-16 text
/// in any language holds ASCII spaces, digits and line breaks. The verdict depends on the
/// first KiB only, so that a file's head and the whole file get the same one.
pub fn unmarked_utf16le(bytes: &[u8]) -> bool {
    if [&b"\xFF\xFE"[..], b"\xFE\xFF", b"\xEF\xBB\xBF"]
        .iter()
        .any(|m| bytes.starts_with(m))
    {
        return false;
    }
    let sample = bytes.get(..SAMPLE_BYTES).unwrap_or(bytes);
    let end = mixed::switch_at(sample, Start::Utf16Le).map_or(sample.len(), |(at, _)| at);
    let units = sample.get(..end).unwrap_or(sample).chunks_exact(2);
    let total = units.len();
    let starts = units.clone().take(4).any(ascii_unit);
    let ascii = units.filter(|u| ascii_unit(u)).count();
    starts && ascii >= MIN_ASCII_UNITS && ascii * 4 >= total
}

/// UTF-16LE text (no byte-order mark) decoded up to where text of another encoding begins:
/// the text, how many characters were replaced, and the problem to account when it switched
/// (in [`mixed::problem`]'s words, as for a text with its mark).
fn utf16le_to_switch(bytes: &[u8]) -> (String, u64, Option<String>) {
    let switched = mixed::switch_at(bytes, Start::Utf16Le);
    let part = switched.map_or(bytes, |(at, _)| bytes.get(..at).unwrap_or(bytes));
    let units = part
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]));
    let mut text = String::with_capacity(part.len() / 2);
    let mut replaced = 0u64;
    for c in char::decode_utf16(units) {
        text.push(c.unwrap_or_else(|_| {
            replaced += 1;
            char::REPLACEMENT_CHARACTER
        }));
    }
    if part.len() % 2 == 1 {
        text.push(char::REPLACEMENT_CHARACTER);
        replaced += 1;
    }
    let problem = switched.map(|(at, to)| mixed::problem(Start::Utf16Le, to, at as u64));
    (text, replaced, problem)
}

/// A collector's text file as text, into its account: as [`bundle::collector_text`] reads
/// it, or as UTF-16LE when it is that without its mark ([`unmarked_utf16le`]), read up to a
/// change of encoding and said to be.
pub fn collector_text(bytes: Vec<u8>, account: &mut FileAccount) -> String {
    if !unmarked_utf16le(&bytes) {
        return bundle::collector_text(bytes, account);
    }
    let (text, replaced, switched) = utf16le_to_switch(&bytes);
    if replaced > 0 {
        account.note(format!(
            "{replaced} undecodable characters replaced with U+FFFD"
        ));
    }
    if let Some(problem) = switched {
        account.damaged(problem);
    }
    text
}

/// The text of an input's head as the collector listing readers recognise it: the head's
/// collector text, or (when that was read as UTF-8 and holds the zero bytes of UTF-16LE
/// without its mark) the head as UTF-16LE up to a change of encoding.
pub fn head_text<'h>(head: &'h Head<'_>) -> Cow<'h, str> {
    let text = head.collector_text();
    if !text.contains('\0') || !unmarked_utf16le(head.bytes) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(utf16le_to_switch(head.bytes).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines end in CRLF, LF or a CR alone; a CR alone inside a CRLF text ends a line too.
    #[test]
    fn lines_end_at_any_line_break() {
        let got: Vec<&str> = lines("a\r\nb\rc\nd\r\r\ne").collect();
        assert_eq!(got, ["a", "b", "c", "d", "", "e"]);
        assert_eq!(lines("a\r").collect::<Vec<_>>(), ["a"]);
        assert_eq!(lines("a\n\n").collect::<Vec<_>>(), ["a", ""]);
        assert_eq!(lines("").count(), 0);
        assert_eq!(
            numbered("x\ry\r\n\nz").collect::<Vec<_>>(),
            [(1, "x"), (2, "y"), (3, ""), (4, "z")]
        );
        assert_eq!(first("head\rrest"), "head");
        assert_eq!(first(""), "");
        assert!(ends_mid_line("a\r\nb"));
        assert!(!ends_mid_line("a\r\nb\r"));
        assert!(!ends_mid_line("a\r\n  "));
    }

    /// UTF-16LE without its mark is told by its ASCII units, also when little of its text is
    /// ASCII or when UTF-8 follows it within its first KiB; UTF-8 text, marked UTF-16 and
    /// UTF-8 with UTF-16LE after it are not.
    #[test]
    fn utf16le_without_its_mark_is_told() {
        let le = |t: &str| -> Vec<u8> { t.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let header = "Windows Registry Editor Version 5.00\r\n\r\n";
        assert!(unmarked_utf16le(&le(header)));
        let cyrillic =
            "\r\nАктивные подключения\r\n\r\n  Имя    Локальный адрес        Внешний адрес\r\n";
        assert!(unmarked_utf16le(&le(cyrillic)));
        let then_utf8 = [
            le(header),
            "[HKEY_LOCAL_MACHINE\\X]\r\n\"A\"=dword:1\r\n"
                .repeat(20)
                .into_bytes(),
        ]
        .concat();
        assert!(unmarked_utf16le(&then_utf8));
        let (text, replaced, problem) = utf16le_to_switch(&then_utf8);
        assert_eq!((text.as_str(), replaced), (header, 0));
        assert!(problem.is_some_and(|p| p.starts_with("from byte 80 on, the text is UTF-8")));
        assert!(!unmarked_utf16le(header.as_bytes()));
        assert!(!unmarked_utf16le(&[&b"\xFF\xFE"[..], &le(header)].concat()));
        let utf8_then = [header.as_bytes(), &le(header)].concat();
        assert!(!unmarked_utf16le(&utf8_then));
        assert!(!unmarked_utf16le(&le("short")));
        assert!(!unmarked_utf16le(&[0u8; 64]));
    }
}
