//! The one look of every table for people: condensed UTF-8 borders, columns that shrink to
//! fit the width asked for (`--width`, else the terminal's).

use comfy_table::{ContentArrangement, Row, Table, presets};

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
