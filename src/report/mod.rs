//! Output: each format writes to a `&mut dyn Write` and never sees clap or the terminal.

pub mod accounts;
pub mod batch_out;
pub mod csv_out;
pub mod escape;
pub mod events;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod schema;
pub mod summary_md;
pub mod table;
pub mod timeline;
