//! The one look of every table for people: condensed UTF-8 borders, columns that shrink to
//! fit the width asked for (`--width`, else the terminal's).

use comfy_table::{ContentArrangement, Row, Table, presets};

use crate::sanitize::terminal;

/// An empty table in the house style, fitted to `width` columns.
pub fn table(width: u16) -> Table {
    let mut t = Table::new();
    t.load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width);
    t
}

/// [`table`] with a header row.
pub fn table_with_header<T: Into<Row>>(width: u16, header: T) -> Table {
    let mut t = table(width);
    t.set_header(header);
    t
}

/// The most characters of one piece of log text a table cell shows. A path or an event field
/// may run to megabytes; a table wraps a word longer than its column in time that grows with
/// the square of the word's length (a 1 MB path took minutes), and nobody reads a megabyte in
/// a terminal. The JSON, CSV, Markdown and HTML reports keep the whole text.
pub const CELL_CHARS: usize = 2000;

/// `text` escaped for a terminal ([`terminal`]) and, when longer than [`CELL_CHARS`], cut in
/// the middle with the count of what was left out.
pub fn cell(text: &str) -> String {
    let head = CELL_CHARS * 3 / 4;
    cut_middle(text, CELL_CHARS, head, CELL_CHARS - head, |left_out| {
        format!(" [… {left_out} characters not shown here …] ")
    })
}

/// `text` escaped for a terminal ([`terminal`]); when longer than `max` characters, its first
/// `head` and last `tail` characters around `mark(characters left out)`: its start and its end
/// (a path's drive and its file name) both stay readable.
pub fn cut_middle(
    text: &str,
    max: usize,
    head: usize,
    tail: usize,
    mark: impl FnOnce(usize) -> String,
) -> String {
    let text = terminal(text);
    // Characters, not bytes: counted only when the bytes say it may be too long.
    if text.len() <= max {
        return text.into_owned();
    }
    let count = text.chars().count();
    if count <= max {
        return text.into_owned();
    }
    let (head, tail) = (head.min(count), tail.min(count - head.min(count)));
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    format!("{start}{}{end}", mark(count - head - tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell holds what fits and says what it left out; short text is only escaped.
    #[test]
    fn a_long_cell_is_cut_in_the_middle_and_says_so() {
        assert_eq!(cell("a\u{1b}b"), "a\\eb");
        let short = "é".repeat(CELL_CHARS);
        assert_eq!(cell(&short), short, "counted in characters, not bytes");
        let long = format!("C:\\{}\\key.pfx", "x".repeat(1_000_000));
        let cut = cell(&long);
        assert!(
            cut.starts_with("C:\\xxx") && cut.ends_with("xxx\\key.pfx"),
            "{cut}"
        );
        let shown = CELL_CHARS;
        let left_out = long.chars().count() - shown;
        assert!(cut.contains(&format!("[… {left_out} characters not shown here …]")));
        assert!(cut.chars().count() < CELL_CHARS + 60);
        // A table of it is written at once.
        let mut t = table(80);
        t.add_row(vec![cell(&long)]);
        assert!(t.to_string().contains("key.pfx"));
    }
}
