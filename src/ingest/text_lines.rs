//! The text of a collector's listing (registry export, ACL dump, certificate and netstat
//! listings) and its lines, alike for all four readers.
//!
//! A line ends at CRLF, at LF, or at a CR alone. Split by `str::lines` (LF only), a listing
//! whose lines end in a CR alone (classic Mac line ends, a tool that wrote `\r`) was one line:
//! not recognised, or read as its first line only; and a CR alone inside a CRLF listing glued
//! two lines into one, the second read as the first's data or lost.

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
}
