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
}
