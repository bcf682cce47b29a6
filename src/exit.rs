//! Exit codes: a small, documented, tested set (see `cli::EXIT_CODES_HELP`).
//!
//! A run can end in several ways at once (a gate hit *and* an unreadable file *and* a closed
//! pipe). [`Exit::worst`] combines them by one documented precedence, so that a pipeline reads
//! the most important fact from the code, and an output failure (a consumer that closed the
//! pipe early, a full disk) never hides what the analysis found.

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// Analysis done, every input read.
    Ok = 0,
    /// `--fail-on`: a cause at or above the threshold was found.
    CauseFound = 1,
    /// Usage error, a path that does not exist, or a rule file that does not load.
    Usage = 2,
    /// Some inputs could not be read fully; the output was still written.
    PartialInput = 3,
    /// Nothing relevant could be read: no Remote Desktop client or server evidence at all.
    InsufficientEvidence = 4,
    /// The output (stdout, `--output`, `--out`, a report file) could not be written.
    OutputFailed = 5,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Precedence, highest first: usage error (nothing ran), gate failed, inputs not read,
    /// insufficient evidence, output not written, success.
    fn rank(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::OutputFailed => 1,
            Exit::InsufficientEvidence => 2,
            Exit::PartialInput => 3,
            Exit::CauseFound => 4,
            Exit::Usage => 5,
        }
    }

    /// Combine two outcomes of one run (or two tickets of a batch) by precedence.
    pub fn worst(self, other: Exit) -> Exit {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// Combine two tickets' outcomes (the same precedence as [`Exit::worst`]).
    pub fn max_for_batch(self, other: Exit) -> Exit {
        self.worst(other)
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    const ALL: [Exit; 6] = [
        Exit::Ok,
        Exit::CauseFound,
        Exit::Usage,
        Exit::PartialInput,
        Exit::InsufficientEvidence,
        Exit::OutputFailed,
    ];

    #[test]
    fn precedence_table() {
        // (a, b, expected) for the pairs a pipeline cares about.
        let table = [
            (Exit::Ok, Exit::OutputFailed, Exit::OutputFailed),
            (Exit::CauseFound, Exit::OutputFailed, Exit::CauseFound),
            (Exit::PartialInput, Exit::OutputFailed, Exit::PartialInput),
            (
                Exit::InsufficientEvidence,
                Exit::PartialInput,
                Exit::PartialInput,
            ),
            (
                Exit::InsufficientEvidence,
                Exit::OutputFailed,
                Exit::InsufficientEvidence,
            ),
            (Exit::CauseFound, Exit::PartialInput, Exit::CauseFound),
            (Exit::Usage, Exit::CauseFound, Exit::Usage),
            (Exit::Ok, Exit::Ok, Exit::Ok),
        ];
        for (a, b, want) in table {
            assert_eq!(a.worst(b), want, "{a:?} + {b:?}");
            assert_eq!(b.worst(a), want, "{b:?} + {a:?}");
        }
    }

    #[test]
    fn worst_is_associative_and_ok_is_neutral() {
        for a in ALL {
            assert_eq!(a.worst(Exit::Ok), a);
            for b in ALL {
                for c in ALL {
                    assert_eq!(a.worst(b).worst(c), a.worst(b.worst(c)));
                }
            }
        }
    }

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<i32> = ALL.iter().map(|e| e.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5]);
    }
}
