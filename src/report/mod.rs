//! Output: each format writes to a `&mut dyn Write` and never sees clap or the terminal.

pub mod accounts;
pub mod events;
