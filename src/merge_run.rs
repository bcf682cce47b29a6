//! `rdtriage merge PART...`: combine the JSONL outputs of `batch --shard K/N` into exactly
//! what one unsharded `batch` writes (JSONL, JUnit, table, job summary) and exit as it would.
//!
//! Each part is in ticket order (batch writes it so), so the merge is a k-way merge that
//! holds one line per part: memory does not grow with the batch for JSONL (JUnit and the
//! table are built whole, as in `batch`). JSONL lines are copied as they are, byte for byte.
//!
//! A shard's part starts with a [`ShardLine`] (`{"shard":"K/N","tickets":T}`); a part without
//! one is a whole, unsharded batch (shard 1/1). Before anything is written the parts must be
//! every shard of one split, each once and whole: a missing shard, a shard given twice, parts
//! of different splits, an empty part among others, or a shard part cut within a line or
//! holding fewer tickets than its shard line says (a shard that did not finish) is named and
//! refused. While merging, a part that is not batch JSONL, is out of order, holds a ticket of
//! another shard, or repeats another part's ticket is refused. Every refusal is exit 2: the
//! parts given are not the output of one batch run, and the merge would not be what one run
//! writes (exit 3, "inputs not read fully", is for a run whose output still stands).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::analysis::batch::{is_report_stem_of, report_stem, shard_of};
use crate::cli::{BatchFormat, Config, MergeConfig};
use crate::exit::Exit;
use crate::report::batch_out::{BatchLineOwned, BatchOutput, ShardLine};
use crate::report::schema::ScanReport;
use crate::report::ticket::TicketSummary;
use crate::sanitize::terminal;

/// The longest line read from a part (a ticket's whole report); past it the part is refused.
const MAX_LINE: u64 = 256 * 1024 * 1024;

/// A path as shown in a message.
fn shown(path: &Path) -> String {
    terminal(&path.display().to_string()).into_owned()
}

/// The most missing shards a refusal names; past them it counts.
const MAX_NAMED_MISSING: usize = 20;

/// "shard 3/4 is missing", "shards 2/4 and 3/4 are missing", "shards 2/90, ..., 21/90 and
/// 68 more are missing".
fn missing_text(missing: &[u32], unnamed: u64, total: u32) -> String {
    let mut names: Vec<String> = missing.iter().map(|k| format!("{k}/{total}")).collect();
    if unnamed > 0 {
        names.push(format!("{unnamed} more"));
    }
    match names.as_slice() {
        [one] => format!("shard {one} is missing"),
        [rest @ .., last] => format!("shards {} and {last} are missing", rest.join(", ")),
        [] => "no shard is missing".into(),
    }
}

/// What is wrong inside one part.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    #[error("cannot read: {0}")]
    Read(#[source] io::Error),
    #[error("line {line}: cut short (no line end): a shard that did not finish?")]
    CutShort { line: u64 },
    #[error("line {line}: not a line of `batch --format jsonl` from this version: {source}")]
    NotBatchJsonl {
        line: u64,
        source: serde_json::Error,
    },
    #[error(
        "line {line}: not UTF-8 (at byte {at} of the line): `batch` writes UTF-8 JSON only, so the part is damaged or not its output"
    )]
    NotUtf8 { line: u64, at: usize },
    #[error(
        "line {line}: ticket {}: its report stem {} is not the one `batch` makes of its name ({})",
        terminal(&format!("{ticket:?}")),
        terminal(&format!("{stem:?}")),
        terminal(&format!("{expected:?}"))
    )]
    BadStem {
        line: u64,
        ticket: String,
        stem: String,
        expected: String,
    },
    #[error(
        "line {line}: ticket {}: its summary does not say what its report says: edited by hand?",
        terminal(&format!("{ticket:?}"))
    )]
    Mismatch { line: u64, ticket: String },
    #[error("line {line}: the shard {shard:?} is not K/N (1 <= K <= N)")]
    BadShard { line: u64, shard: String },
    #[error("line {line}: ticket {ticket:?} after {previous:?}: not in ticket order")]
    OutOfOrder {
        line: u64,
        ticket: String,
        previous: String,
    },
    #[error("line {line}: ticket {ticket:?} is not of shard {shard}: a part of another batch?")]
    NotOfShard {
        line: u64,
        ticket: String,
        shard: String,
    },
    #[error(
        "holds {holds} tickets where its shard line says {declared}: a shard that did not finish?"
    )]
    Unfinished { holds: u64, declared: u64 },
}

/// Why a merge is refused (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{}: cannot open: {source}", shown(part))]
    Open { part: PathBuf, source: io::Error },
    #[error("{}: {source}", shown(part))]
    Part { part: PathBuf, source: PartError },
    #[error(
        "{} is {}, {} is {}: parts of different splits (a part without a shard line is a whole batch, 1/1)",
        shown(first),
        first_shard,
        shown(second),
        second_shard
    )]
    Splits {
        first: PathBuf,
        first_shard: String,
        second: PathBuf,
        second_shard: String,
    },
    #[error(
        "{} is empty, not even its shard line: a shard job that failed before writing?",
        shown(part)
    )]
    Empty { part: PathBuf },
    #[error(
        "{} and {} are both shard {shard}: the same shard given twice?",
        shown(first),
        shown(second)
    )]
    Repeated {
        shard: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{}: give every part of the split (the merge would lack their tickets)", missing_text(missing, *unnamed, *total))]
    Missing {
        missing: Vec<u32>,
        /// Missing too, past [`MAX_NAMED_MISSING`].
        unnamed: u64,
        total: u32,
    },
    #[error(
        "ticket {} is in both {} and {}: the same shard given twice?",
        terminal(ticket),
        shown(first),
        shown(second)
    )]
    InTwoParts {
        ticket: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// The next ticket of one part.
struct Head {
    summary: TicketSummary,
    report: Option<ScanReport>,
    line: Vec<u8>,
}

/// Which shard a part is: `index` 1-based, of `total`; `tickets` as its shard line says
/// (`None` for a whole batch, which has none).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Which {
    index: u32,
    total: u32,
    tickets: Option<u64>,
}

impl Which {
    fn name(&self) -> String {
        format!("{}/{}", self.index, self.total)
    }
}

struct Part {
    path: PathBuf,
    reader: BufReader<File>,
    line_no: u64,
    which: Which,
    /// Tickets read so far.
    read: u64,
    /// The ticket last read (the order check).
    previous: Option<String>,
    head: Option<Head>,
}

impl Part {
    /// Open a part: its shard line, if any, and its first ticket.
    fn open(path: &Path, full: bool) -> Result<Part, MergeError> {
        let open_error = |source| MergeError::Open {
            part: path.to_path_buf(),
            source,
        };
        // A part is a file a batch wrote: a FIFO would block the merge, a device never end.
        let meta = std::fs::metadata(path).map_err(open_error)?;
        if !meta.is_file() {
            return Err(open_error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let file = File::open(path).map_err(open_error)?;
        let mut part = Part {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            line_no: 0,
            which: Which {
                index: 1,
                total: 1,
                tickets: None,
            },
            read: 0,
            previous: None,
            head: None,
        };
        part.first(full)
            .and_then(|()| part.check_count())
            .map_err(|source| MergeError::Part {
                part: path.to_path_buf(),
                source,
            })?;
        Ok(part)
    }

    /// A shard's count of tickets against the lines the file holds, before anything is
    /// written (one quick pass: a shard that died between two lines or within one is found
    /// before the merge streams a byte).
    fn check_count(&self) -> Result<(), PartError> {
        let Some(declared) = self.which.tickets else {
            return Ok(());
        };
        let (filled, physical, cut) = count_lines(&self.path).map_err(PartError::Read)?;
        if cut {
            return Err(PartError::CutShort { line: physical });
        }
        // The shard line is not a ticket.
        let holds = filled.saturating_sub(1);
        if holds != declared {
            return Err(PartError::Unfinished { holds, declared });
        }
        Ok(())
    }

    fn first(&mut self, full: bool) -> Result<(), PartError> {
        let Some(line) = self.next_line()? else {
            return Ok(());
        };
        match serde_json::from_slice::<ShardLine>(&line) {
            Ok(s) => {
                let bad = || PartError::BadShard {
                    line: self.line_no,
                    shard: s.shard.clone(),
                };
                let (k, n) = s.shard.split_once('/').ok_or_else(bad)?;
                let (index, total) = match (k.parse::<u32>(), n.parse::<u32>()) {
                    (Ok(k), Ok(n)) if (1..=n).contains(&k) => (k, n),
                    _ => return Err(bad()),
                };
                self.which = Which {
                    index,
                    total,
                    tickets: Some(s.tickets),
                };
                self.advance(full)
            }
            Err(_) => self.take(line, full),
        }
    }

    /// The next line that is not blank, or `None` at the end.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, PartError> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)
                .map_err(PartError::Read)?;
            self.line_no += 1;
            if n == 0 {
                return Ok(None);
            }
            if line.last() != Some(&b'\n') {
                return Err(PartError::CutShort { line: self.line_no });
            }
            if line.iter().any(|b| !b.is_ascii_whitespace()) {
                return Ok(Some(line));
            }
        }
    }

    /// Read the next ticket into `head` (`None` at the end, where the count is checked).
    fn advance(&mut self, full: bool) -> Result<(), PartError> {
        match self.next_line()? {
            Some(line) => self.take(line, full),
            None => match self.which.tickets {
                Some(declared) if declared != self.read => Err(PartError::Unfinished {
                    holds: self.read,
                    declared,
                }),
                _ => Ok(()),
            },
        }
    }

    /// `line` as the next ticket: parsed, and checked to be in order and of this shard.
    fn take(&mut self, line: Vec<u8>, full: bool) -> Result<(), PartError> {
        let at = self.line_no;
        let bad = |source| PartError::NotBatchJsonl { line: at, source };
        // What is not parsed (a report passed on as it stands, a field skipped) is still
        // passed on: it must be JSON a reader can take, not one nested past any parser's depth.
        if nesting(&line) > MAX_NESTING {
            return Err(bad(serde::de::Error::custom(format!(
                "nested deeper than {MAX_NESTING} levels"
            ))));
        }
        // `batch` writes UTF-8 only; bytes that are not would be copied into the merged JSONL
        // (serde_json passes them in a string it skips) and make it unreadable.
        if let Err(e) = std::str::from_utf8(&line) {
            return Err(PartError::NotUtf8 {
                line: at,
                at: e.valid_up_to(),
            });
        }
        // The whole line is checked, the report too, though only the summary is needed for
        // JSONL: the line is passed on as it stands, and must be one `batch` could have written.
        let BatchLineOwned { summary, report } = serde_json::from_slice(&line).map_err(bad)?;
        check_summary(&summary, &report, at)?;
        let report = full.then_some(report);
        let ticket = &summary.ticket;
        if let Some(previous) = &self.previous
            && previous >= ticket
        {
            return Err(PartError::OutOfOrder {
                line: at,
                ticket: ticket.clone(),
                previous: previous.clone(),
            });
        }
        if shard_of(ticket, self.which.total) + 1 != self.which.index {
            return Err(PartError::NotOfShard {
                line: at,
                ticket: ticket.clone(),
                shard: self.which.name(),
            });
        }
        self.previous = Some(ticket.clone());
        self.read += 1;
        self.head = Some(Head {
            summary,
            report,
            // A shard written by hand may hold raw controls `batch` would have escaped.
            line: crate::report::json::inert_line(line),
        });
        Ok(())
    }
}

/// A ticket's summary is made from its report by `batch`: one that says otherwise (another
/// cause, another count, a report stem not made from the ticket's name, which every output
/// shows) was not written by `batch`, and the merge would judge and show what it says.
fn check_summary(summary: &TicketSummary, report: &ScanReport, line: u64) -> Result<(), PartError> {
    if let Some(stem) = &summary.report {
        let expected = report_stem(&summary.ticket);
        if !is_report_stem_of(&summary.ticket, stem) {
            return Err(PartError::BadStem {
                line,
                ticket: summary.ticket.clone(),
                stem: stem.clone(),
                expected,
            });
        }
    }
    let mut made = TicketSummary::of(&summary.ticket, report);
    made.report.clone_from(&summary.report);
    made.report_error.clone_from(&summary.report_error);
    if made != *summary {
        return Err(PartError::Mismatch {
            line,
            ticket: summary.ticket.clone(),
        });
    }
    Ok(())
}

/// How deep a merged line may nest: `batch` writes a few levels; serde_json itself refuses
/// past 128.
const MAX_NESTING: usize = 64;

/// The deepest nesting of arrays and objects in a JSON line (brackets inside strings do not
/// count).
fn nesting(line: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in line {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// In `path`: the lines holding something (not blank), all lines, and whether the last one
/// lacks its line end.
fn count_lines(path: &Path) -> io::Result<(u64, u64, bool)> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut filled, mut physical, mut in_line, mut something) = (0u64, 0u64, false, false);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                physical += 1;
                filled += u64::from(something);
                (in_line, something) = (false, false);
            } else {
                in_line = true;
                something |= !b.is_ascii_whitespace();
            }
        }
    }
    Ok((
        filled + u64::from(something),
        physical + u64::from(in_line),
        in_line,
    ))
}

/// The parts must be every shard of one split, each once.
fn check_split(parts: &[Part]) -> Vec<MergeError> {
    let Some(first) = parts.first() else {
        return Vec::new();
    };
    // An empty part among others: a shard job that failed before writing its first line.
    if parts.len() > 1
        && let Some(empty) = parts
            .iter()
            .find(|p| p.which.tickets.is_none() && p.head.is_none())
    {
        return vec![MergeError::Empty {
            part: empty.path.clone(),
        }];
    }
    let total = first.which.total;
    if let Some(other) = parts.iter().find(|p| p.which.total != total) {
        return vec![MergeError::Splits {
            first: first.path.clone(),
            first_shard: first.which.name(),
            second: other.path.clone(),
            second_shard: other.which.name(),
        }];
    }
    // By shard, each shard's parts in the order given (a stable sort): work grows with the
    // parts, never with the N a shard line claims (it can claim billions).
    let mut by_index: Vec<&Part> = parts.iter().collect();
    by_index.sort_by_key(|p| p.which.index);
    let mut problems = Vec::new();
    for same in by_index.chunk_by(|a, b| a.which.index == b.which.index) {
        if let [a, b, ..] = same {
            problems.push(MergeError::Repeated {
                shard: a.which.name(),
                first: a.path.clone(),
                second: b.path.clone(),
            });
        }
    }
    let mut given = by_index.iter().map(|p| p.which.index).peekable();
    let mut missing = Vec::new();
    let mut k = 1u32;
    while missing.len() < MAX_NAMED_MISSING {
        while given.next_if(|&i| i < k).is_some() {}
        if given.peek() != Some(&k) {
            missing.push(k);
        }
        match k.checked_add(1) {
            Some(next) if next <= total => k = next,
            _ => break,
        }
    }
    let present = by_index
        .chunk_by(|a, b| a.which.index == b.which.index)
        .count() as u64;
    let unnamed = u64::from(total) - present - missing.len() as u64;
    if !missing.is_empty() {
        problems.push(MergeError::Missing {
            missing,
            unnamed,
            total,
        });
    }
    problems
}

pub fn run(
    config: &Config,
    m: &MergeConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<Exit> {
    match merge(config, m, out, err) {
        Ok(exit) => Ok(exit),
        Err(problems) => {
            for p in problems {
                writeln!(err, "rdtriage: {p}")?;
            }
            Ok(Exit::Usage)
        }
    }
}

/// The merge, or why it is refused (every reason found before writing, else the first).
fn merge(
    config: &Config,
    m: &MergeConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, Vec<MergeError>> {
    let full = m.format != BatchFormat::Jsonl;
    let mut parts = Vec::with_capacity(m.parts.len());
    for path in &m.parts {
        parts.push(Part::open(path, full).map_err(|e| vec![e])?);
    }
    let problems = check_split(&parts);
    if !problems.is_empty() {
        return Err(problems);
    }
    let width = m.width.or(config.terminal_width).unwrap_or(80);
    let mut output = BatchOutput::new(m.format, out, m.fail_on, width, m.summary_md.is_some());
    loop {
        // The part whose next ticket comes first; a tie is one ticket in two parts.
        let mut best: Option<usize> = None;
        for (i, p) in parts.iter().enumerate() {
            let Some(h) = &p.head else { continue };
            match best {
                None => best = Some(i),
                Some(b) => {
                    let other = &parts[b].head.as_ref().expect("best has a head").summary;
                    if h.summary.ticket < other.ticket {
                        best = Some(i);
                    } else if h.summary.ticket == other.ticket {
                        return Err(vec![MergeError::InTwoParts {
                            ticket: h.summary.ticket.clone(),
                            first: parts[b].path.clone(),
                            second: p.path.clone(),
                        }]);
                    }
                }
            }
        }
        let Some(i) = best else { break };
        let part = &mut parts[i];
        let head = part.head.take().expect("chosen part has a head");
        output.ticket(&head.summary, head.report.as_ref(), Some(&head.line));
        part.advance(full).map_err(|source| {
            vec![MergeError::Part {
                part: part.path.clone(),
                source,
            }]
        })?;
    }
    Ok(output.finish(m.summary_md.as_deref(), err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings() {
        assert_eq!(nesting(br#"{"a":[1,{"b":2}]}"#), 3);
        assert_eq!(nesting(br#"{"a":"[[[{{{\"[["}"#), 1);
        assert_eq!(nesting(b"1"), 0);
        let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(nesting(deep.as_bytes()), 100_001);
    }
}
