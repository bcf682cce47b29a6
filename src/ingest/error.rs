//! Why an input's bytes could not be had, as a type. The reader that asked turns it into the
//! file's [`Problem`]: a refusal at a `--max-*` limit keeps its limit and flag
//! ([`Problem::Refused`]); anything else means nothing was read ([`Problem::Failed`]). The
//! text a user sees is rendered once, by `Display`.

use std::io;

use super::zipentry::EntryError;
use crate::model::Problem;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Larger than `cap`, the limit for reading a file whole that `flag` raises.
    #[error(
        "{len} bytes is over the {cap}-byte limit for reading a file whole (raise it with {flag})"
    )]
    TooBig {
        len: u64,
        cap: u64,
        flag: &'static str,
    },
    /// The file could not be opened.
    #[error("cannot open: {0}")]
    Open(#[source] io::Error),
    /// Sizing, seeking or reading failed (in the system's words).
    #[error("{0}")]
    Io(#[source] io::Error),
    /// A zip entry that inflates past the size its header declares (a zip bomb), or whose
    /// data is not what its method says.
    #[error("{0}: refused")]
    Refused(#[source] io::Error),
    /// A zip entry whose data could not be inflated.
    #[error("cannot decompress: {0}")]
    Decompress(#[source] io::Error),
    /// A zip entry that cannot be opened or fails its CRC-32 check (the zip layer's words).
    #[error("{0}")]
    Entry(#[from] EntryError),
}

impl From<InputError> for Problem {
    fn from(e: InputError) -> Problem {
        let message = e.to_string();
        match e {
            InputError::TooBig { cap, flag, .. } => Problem::Refused {
                limit: cap,
                flag,
                message,
            },
            _ => Problem::Failed(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_a_refusal_with_its_flag_and_the_rest_a_failure() {
        let p = Problem::from(InputError::TooBig {
            len: 11,
            cap: 10,
            flag: "--max-xml-bytes",
        });
        assert_eq!(
            p,
            Problem::Refused {
                limit: 10,
                flag: "--max-xml-bytes",
                message: "11 bytes is over the 10-byte limit for reading a file whole (raise it with --max-xml-bytes)".into()
            }
        );
        let gone = io::Error::new(io::ErrorKind::NotFound, "gone");
        assert_eq!(
            Problem::from(InputError::Open(gone)),
            Problem::Failed("cannot open: gone".into())
        );
        let bomb = io::Error::new(io::ErrorKind::InvalidData, "past its size");
        assert_eq!(
            InputError::Refused(bomb).to_string(),
            "past its size: refused"
        );
    }
}
