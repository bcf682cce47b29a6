//! Diagnostics on stderr, in one voice: `rdtriage: WHAT: problem`, every name from outside
//! (a path, a ticket, log text) made inert for the terminal. Nothing here decides an exit
//! code; a diagnostic that cannot be written is dropped (stderr is the last resort).

use std::io::{self, Write};

use crate::sanitize::terminal;

/// The output `name` could not be written. A reader that closed the pipe early chose to
/// stop: no message then (the exit code still says the output is incomplete).
pub fn cannot_write(err: &mut dyn Write, name: &str, e: &io::Error) {
    if e.kind() != io::ErrorKind::BrokenPipe {
        let _ = writeln!(err, "rdtriage: {}: cannot write: {e}", terminal(name));
    }
}

/// `rdtriage: NAME: WHAT: ERROR`.
pub fn file_error(err: &mut dyn Write, name: &str, what: &str, e: &dyn std::fmt::Display) {
    let _ = writeln!(
        err,
        "rdtriage: {}: {what}: {}",
        terminal(name),
        terminal(&e.to_string())
    );
}

/// A message that is already in the tool's voice (rule-load errors with their positions).
pub fn message(err: &mut dyn Write, text: &dyn std::fmt::Display) {
    let _ = writeln!(err, "{text}");
}
