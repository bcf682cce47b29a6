//! Exit codes: a small, documented, tested set (see `cli::EXIT_CODES_HELP`).

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Analysis done, every input read.
    Ok = 0,
    /// `--fail-on`: a cause at or above the threshold was found.
    CauseFound = 1,
    /// Usage error, or a rule file that does not load.
    Usage = 2,
    /// Some inputs could not be read fully; the output was still written.
    PartialInput = 3,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Combine two tickets' outcomes: a gate hit (1) wins over unreadable input (3), which
    /// wins over success (0).
    pub fn max_for_batch(self, other: Exit) -> Exit {
        let rank = |e: Exit| match e {
            Exit::Ok => 0,
            Exit::PartialInput => 1,
            Exit::CauseFound => 2,
            Exit::Usage => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}
