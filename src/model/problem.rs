//! What went wrong (or is worth knowing) about one input file, as a type.
//!
//! Code decides on the kind ([`Problem::is_note`], [`Problem::is_duplicate`], a test's
//! `matches!`); the text is only a view, rendered once by [`std::fmt::Display`]. Each kind is
//! built where it arises: a [`Problem::Refused`] where a `--max-*` limit is checked (reading a
//! file whole, the kept-events cap), a [`Problem::Record`] where a record or line could not
//! be read. The JSON
//! report keeps one message string per problem (the rendered text), so a report written by an
//! older build reads back the same ([`Problem::from_message`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where in a file a record could not be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct At {
    /// EVTX: the chunk number.
    pub chunk: Option<u64>,
    /// The record id (EVTX) or the record's position (event XML, CSV row).
    pub record: Option<u64>,
    /// The byte offset in the file.
    pub offset: Option<u64>,
}

/// One problem in a file's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Worth knowing, nothing lost (rendered `note: ...`).
    Note(String),
    /// Not read because the same input was already read (rendered `duplicate: ...`).
    Duplicate(String),
    /// A record that could not be read; the others were. The text says where.
    Record { at: At, message: String },
    /// Not read (or read partly) because a limit was reached; `flag` raises it.
    Refused {
        limit: u64,
        flag: &'static str,
        message: String,
    },
    /// Bytes that are not what they claim: a checksum or CRC mismatch, a cut file.
    Damaged(String),
    /// Not an input this tool reads, with why (and what to do instead).
    Skipped(String),
    /// Could not be read at all (cannot open, unreadable content, internal error).
    Failed(String),
}

const NOTE: &str = "note: ";
const DUPLICATE: &str = "duplicate: ";

impl Problem {
    pub fn note(text: impl Into<String>) -> Problem {
        Problem::Note(text.into())
    }

    pub fn is_note(&self) -> bool {
        matches!(self, Problem::Note(_))
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, Problem::Duplicate(_))
    }

    /// The message without any kind prefix.
    pub fn message(&self) -> &str {
        match self {
            Problem::Note(m)
            | Problem::Duplicate(m)
            | Problem::Record { message: m, .. }
            | Problem::Refused { message: m, .. }
            | Problem::Damaged(m)
            | Problem::Skipped(m)
            | Problem::Failed(m) => m,
        }
    }

    /// A message as a report holds it, back to a problem. Only the kinds the text shows
    /// (note, duplicate) come back typed; the rest become [`Problem::Damaged`].
    pub fn from_message(text: &str) -> Problem {
        if let Some(rest) = text.strip_prefix(NOTE) {
            Problem::Note(rest.to_string())
        } else if let Some(rest) = text.strip_prefix(DUPLICATE) {
            Problem::Duplicate(rest.to_string())
        } else {
            Problem::Damaged(text.to_string())
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Note(m) => write!(f, "{NOTE}{m}"),
            Problem::Duplicate(m) => write!(f, "{DUPLICATE}{m}"),
            other => f.write_str(other.message()),
        }
    }
}

impl Serialize for Problem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Problem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Problem, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Problem::from_message(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_a_view_and_reads_back() {
        let cases = [
            (Problem::note("dirty header"), "note: dirty header"),
            (
                Problem::Duplicate("same bytes".into()),
                "duplicate: same bytes",
            ),
            (
                Problem::Damaged("CRC-32 mismatch".into()),
                "CRC-32 mismatch",
            ),
        ];
        for (p, text) in cases {
            assert_eq!(p.to_string(), text);
            assert_eq!(Problem::from_message(text), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            let back: Problem = serde_json::from_str(&json).unwrap();
            assert_eq!(back, p);
        }
    }

    #[test]
    fn refused_keeps_its_limit_and_flag_and_renders_its_message() {
        let p = Problem::Refused {
            limit: 10,
            flag: "--max-xml-bytes",
            message: "11 bytes is over the 10-byte limit".into(),
        };
        assert!(!p.is_note() && !p.is_duplicate());
        assert_eq!(p.to_string(), "11 bytes is over the 10-byte limit");
    }
}
