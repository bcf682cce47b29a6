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

/// What happened in a run, as facts; [`Exit::from`] turns them into the one exit code.
/// Every command (and every ticket of a batch) describes its end this way, so the exit code
/// is decided in one place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Bad usage, a path that does not exist, a rule file that does not load: nothing ran.
    pub usage_error: bool,
    /// `--fail-on`: a cause at or above the threshold was found.
    pub gate_hit: bool,
    /// Some input could not be read fully.
    pub inputs_unread: bool,
    /// No Remote Desktop evidence could be read.
    pub insufficient_evidence: bool,
    /// The output (stdout, `--output`, a report file) could not be written.
    pub output_failed: bool,
}

impl Outcome {
    /// The outcome a decided exit code stands for (a batch's tickets, combined).
    pub fn of(exit: Exit) -> Outcome {
        let mut o = Outcome::default();
        match exit {
            Exit::Ok => {}
            Exit::CauseFound => o.gate_hit = true,
            Exit::Usage => o.usage_error = true,
            Exit::PartialInput => o.inputs_unread = true,
            Exit::InsufficientEvidence => o.insufficient_evidence = true,
            Exit::OutputFailed => o.output_failed = true,
        }
        o
    }

    /// Some input was not read fully, from the per-status file counts. A ticket of which
    /// nothing at all could be read is *insufficient evidence* instead (exit 4, not 3).
    pub fn unread(read_ok: usize, partial: usize, failed: usize, insufficient: bool) -> bool {
        let nothing_read = read_ok + partial == 0;
        partial > 0 || (failed > 0 && !(nothing_read && insufficient))
    }
}

impl From<&Outcome> for Exit {
    /// The exit code of a run: the most important fact by [`Exit::worst`]'s precedence.
    fn from(o: &Outcome) -> Exit {
        [
            (o.usage_error, Exit::Usage),
            (o.gate_hit, Exit::CauseFound),
            (o.inputs_unread, Exit::PartialInput),
            (o.insufficient_evidence, Exit::InsufficientEvidence),
            (o.output_failed, Exit::OutputFailed),
        ]
        .into_iter()
        .filter(|(fact, _)| *fact)
        .fold(Exit::Ok, |exit, (_, e)| exit.worst(e))
    }
}

#[cfg(test)]
mod tests {
    use super::{Exit, Outcome};

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

    #[test]
    fn the_exit_is_one_function_of_the_outcome() {
        // (usage, gate, unread, insufficient, output failed) -> exit
        let table = [
            ((false, false, false, false, false), Exit::Ok),
            ((false, false, false, false, true), Exit::OutputFailed),
            (
                (false, false, false, true, false),
                Exit::InsufficientEvidence,
            ),
            (
                (false, false, false, true, true),
                Exit::InsufficientEvidence,
            ),
            ((false, false, true, false, false), Exit::PartialInput),
            ((false, false, true, true, true), Exit::PartialInput),
            ((false, true, false, false, false), Exit::CauseFound),
            ((false, true, true, true, true), Exit::CauseFound),
            ((true, false, false, false, false), Exit::Usage),
            ((true, true, true, true, true), Exit::Usage),
        ];
        for ((usage_error, gate_hit, inputs_unread, insufficient_evidence, output_failed), want) in
            table
        {
            let o = Outcome {
                usage_error,
                gate_hit,
                inputs_unread,
                insufficient_evidence,
                output_failed,
            };
            assert_eq!(Exit::from(&o), want, "{o:?}");
        }
    }

    #[test]
    fn an_exit_stands_for_its_outcome() {
        for e in ALL {
            assert_eq!(Exit::from(&Outcome::of(e)), e);
        }
    }

    #[test]
    fn unread_inputs_unless_nothing_at_all_was_read() {
        // (ok, partial, failed, insufficient) -> unread
        let table = [
            ((3, 0, 0, false), false),
            ((3, 1, 0, false), true),
            ((3, 0, 1, false), true),
            ((0, 0, 2, false), true),
            // Nothing read and no evidence: insufficient evidence (4), not a partial read.
            ((0, 0, 2, true), false),
            ((0, 1, 2, true), true),
            ((1, 0, 2, true), true),
        ];
        for ((ok, partial, failed, insufficient), want) in table {
            assert_eq!(
                Outcome::unread(ok, partial, failed, insufficient),
                want,
                "{ok} {partial} {failed} {insufficient}"
            );
        }
    }
}
