//! The command line: clap definitions, turned into a plain [`Config`]. No clap type is used
//! past this file.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;

use crate::analysis::batch::Shard;
use crate::ingest::Limits;
pub use crate::report::batch_out::BatchFormat;
use crate::report::schema::Confidence;
pub use crate::units::parse_duration;
use crate::units::{Bound, ByteSize, parse_time};

/// The narrowest table that stays readable; `--width` below it is refused.
pub const MIN_WIDTH: u16 = 40;

const OUTPUT: &str = "Output";
const ANALYSIS: &str = "Analysis";
const LIMITS: &str = "Limits on hostile input";

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  analysis done, every input read
  1  --fail-on: a cause at or above the given confidence was found
  2  usage error, a path that does not exist, or a rule file that does not load
  3  some inputs could not be read fully (the output was still written)
  4  insufficient evidence: no Remote Desktop client or server evidence could be read
  5  the output could not be written (closed pipe, full disk, unwritable report)
When several apply, the first in this order wins: 2, 1, 3, 4, 5.";

#[derive(Parser, Debug)]
#[command(
    name = "rdtriage",
    version,
    about = "Triage Remote Desktop error 0x904 from exported event logs (.evtx, event XML) and Process Monitor CSV traces",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    /// Worker threads (0 = one per core, at most 1024). Output is the same whatever the count.
    #[arg(long, global = true, default_value_t = 0, value_name = "N", value_parser = parse_threads)]
    threads: usize,
    /// Write the output to FILE (atomically: a temporary file beside it, then renamed)
    /// instead of stdout.
    #[arg(long, short = 'o', global = true, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print nothing on stdout and no per-file warnings on stderr: the exit code says it all
    /// (--output is still written; errors still go to stderr).
    #[arg(long, short = 'q', global = true)]
    quiet: bool,
    /// Colour in tables: auto (a terminal without NO_COLOR), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = ColorArg::Auto,
        value_name = "WHEN"
    )]
    color: ColorArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

/// When to colour tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    /// On a terminal without `NO_COLOR` (decided by the binary).
    Auto,
    Always,
    Never,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

/// A shell to write completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    PowerShell,
    Elvish,
}

/// `--threads`: 0 (one per core) up to [`crate::ingest::MAX_THREADS`].
fn parse_threads(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n <= crate::ingest::MAX_THREADS => Ok(n),
        Ok(_) => Err(format!(
            "at most {} (0 = one per core)",
            crate::ingest::MAX_THREADS
        )),
        Err(e) => Err(format!("{e}")),
    }
}

/// `--max-csv-fields`: at least one (a record has a field; 0 would refuse every CSV while
/// calling its records too wide).
fn parse_csv_fields(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("at least 1 (a record has at least one field)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}")),
    }
}

/// `--width`: a column count no narrower than [`MIN_WIDTH`].
fn parse_width(text: &str) -> Result<u16, String> {
    let n: u16 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: expected a number of columns"))?;
    if n < MIN_WIDTH {
        return Err(format!(
            "{n} columns is too narrow: tables need at least {MIN_WIDTH}"
        ));
    }
    Ok(n)
}

fn parse_from(text: &str) -> Result<Timestamp, String> {
    parse_time(text, Bound::From).ok_or_else(|| time_error(text))
}

fn parse_to(text: &str) -> Result<Timestamp, String> {
    parse_time(text, Bound::To).ok_or_else(|| time_error(text))
}

fn time_error(text: &str) -> String {
    format!(
        "{text:?}: expected a time like 2024-03-05T09:14:00Z, 2024-03-05 09:14 (UTC), \
         2024-03-05 10:14 +01:00 or 2024-03-05"
    )
}

/// Only events in this window of UTC time (both ends optional): `--from` / `--to`.
#[derive(Args, Debug)]
struct WindowArgs {
    /// Only events at or after this time (UTC unless an offset is given: 2024-03-05T09:00:00Z,
    /// "2024-03-05 09:00", "2024-03-05 10:00 +01:00", 2024-03-05).
    #[arg(long, value_name = "TIME", value_parser = parse_from, help_heading = ANALYSIS)]
    from: Option<Timestamp>,
    /// Only events at or before this time (a bare date includes that whole day).
    #[arg(long, value_name = "TIME", value_parser = parse_to, help_heading = ANALYSIS)]
    to: Option<Timestamp>,
}

/// A window of UTC time: events at or after `from` and before `until`. Events without a UTC
/// time (Procmon rows that could not be placed) cannot be judged and are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    pub from: Option<Timestamp>,
    /// The first instant past the window.
    pub until: Option<Timestamp>,
}

impl TimeWindow {
    pub fn is_all(&self) -> bool {
        self.from.is_none() && self.until.is_none()
    }

    pub fn contains(&self, t: Option<Timestamp>) -> bool {
        let Some(t) = t else { return true };
        self.from.is_none_or(|f| t >= f) && self.until.is_none_or(|u| t < u)
    }
}

impl WindowArgs {
    fn into_window(self) -> Result<TimeWindow, clap::Error> {
        if let (Some(f), Some(u)) = (self.from, self.to)
            && u <= f
        {
            return Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                "--to is before --from: the window holds no time\n",
            ));
        }
        Ok(TimeWindow {
            from: self.from,
            until: self.to,
        })
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse one ticket's logs: the 0x904 disconnects, the ranked causes, the fix.
    Scan(ScanArgs),
    /// The merged timeline of the events the rules found relevant, around each 0x904.
    Timeline(TimelineArgs),
    /// Triage every ticket (a folder or .zip) under DIR, in parallel.
    Batch(BatchArgs),
    /// Combine the JSONL of batch shards into what one unsharded batch writes.
    Merge(MergeArgs),
    /// List, check and test rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Print the normalized events (or, with --summary, the per-file account).
    Dump(DumpArgs),
    /// Write a shell completion script to stdout (e.g. `rdtriage completions bash >
    /// /etc/bash_completion.d/rdtriage`).
    Completions {
        #[arg(value_enum)]
        shell: ShellArg,
    },
    /// Write the man page (roff) to stdout: `rdtriage man | man -l -`.
    Man,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ReportFormatArg {
    Table,
    Json,
    Jsonl,
    Markdown,
    Csv,
    Html,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ConfidenceArg {
    High,
    Medium,
    Low,
    Context,
}

#[derive(Args, Debug)]
#[command(next_help_heading = ANALYSIS)]
struct AnalysisArgs {
    /// A rule file to add to the built-in rules (repeatable).
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// The date of the Procmon capture (YYYY-MM-DD): for an export without 'Date & Time', or
    /// to correct the one it has (its dates are moved to start on DATE).
    #[arg(long, value_name = "DATE")]
    procmon_date: Option<String>,
    /// The Procmon capture machine's UTC offset (+02:00, -0500, UTC+1).
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true)]
    procmon_utc_offset: Option<String>,
}

#[derive(Args, Debug)]
struct ScanArgs {
    #[command(flatten)]
    input: InputArgs,
    /// table (people), json (the documented schema), jsonl (the same on one line),
    /// markdown (for a ticket reply), csv (one row per finding), html (one self-contained
    /// page with a timeline, to attach to the ticket).
    #[arg(long, value_enum, default_value_t = ReportFormatArg::Table, help_heading = OUTPUT)]
    format: ReportFormatArg,
    /// Exit 1 when a cause at or above this confidence is found (for CI gates).
    #[arg(long, value_enum, value_name = "CONFIDENCE", help_heading = OUTPUT)]
    fail_on: Option<ConfidenceArg>,
    /// Table width in columns, at least 40 (default: the terminal's, or 80).
    #[arg(long, value_name = "COLUMNS", value_parser = parse_width, help_heading = OUTPUT)]
    width: Option<u16>,
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    analysis: AnalysisArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum TimelineFormatArg {
    Table,
    Jsonl,
}

#[derive(Args, Debug)]
struct TimelineArgs {
    #[command(flatten)]
    input: InputArgs,
    /// table (people) or jsonl (one event per line).
    #[arg(long, value_enum, default_value_t = TimelineFormatArg::Table, help_heading = OUTPUT)]
    format: TimelineFormatArg,
    /// Table width in columns, at least 40 (default: the terminal's, or 80).
    #[arg(long, value_name = "COLUMNS", value_parser = parse_width, help_heading = OUTPUT)]
    width: Option<u16>,
    /// Every event, not only those a rule matched.
    #[arg(long, help_heading = ANALYSIS)]
    all: bool,
    /// Only events within this distance of a 0x904 (e.g. 90s, 2m, 1h), when there is one.
    #[arg(long, value_name = "DURATION", help_heading = ANALYSIS)]
    around: Option<String>,
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    analysis: AnalysisArgs,
    #[command(flatten)]
    limits: LimitArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum BatchFormatArg {
    Table,
    Jsonl,
    Junit,
}

impl BatchFormatArg {
    fn into_format(self) -> BatchFormat {
        match self {
            BatchFormatArg::Table => BatchFormat::Table,
            BatchFormatArg::Jsonl => BatchFormat::Jsonl,
            BatchFormatArg::Junit => BatchFormat::Junit,
        }
    }
}

#[derive(Args, Debug)]
struct BatchArgs {
    /// A folder whose every child (a folder or a .zip) is one ticket.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// table: one summary row per ticket; jsonl: one object per ticket (summary + report),
    /// what `merge` combines; junit: JUnit XML, one test case per ticket.
    #[arg(long, value_enum, default_value_t = BatchFormatArg::Table)]
    format: BatchFormatArg,
    /// Also write each ticket's full report (JSON, Markdown and HTML) into this folder (each
    /// written to a temporary file and renamed).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// With --out: skip a ticket whose inputs (and rules, and rdtriage version) hash to what
    /// its report in OUT records; its recorded report is used.
    #[arg(long, requires = "out")]
    incremental: bool,
    /// Exit 1 when any ticket has a cause at or above this confidence.
    #[arg(long, value_enum, value_name = "CONFIDENCE")]
    fail_on: Option<ConfidenceArg>,
    /// Also write a Markdown job summary (totals, the tickets that need a look) to FILE.
    #[arg(long, value_name = "FILE")]
    summary_md: Option<PathBuf>,
    /// Triage only shard K of N (1-based; a ticket's shard is a hash of its name), or
    /// `auto`: from CI_NODE_INDEX/CI_NODE_TOTAL, or JOB_COMPLETION_INDEX with --shard-total.
    #[arg(long, value_name = "K/N|auto")]
    shard: Option<String>,
    /// The number of shards, for --shard auto under a Kubernetes Indexed Job.
    #[arg(long, value_name = "N", requires = "shard")]
    shard_total: Option<u32>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Table width in columns, at least 40 (default: the terminal's, or 80).
    #[arg(long, value_name = "COLUMNS", value_parser = parse_width, help_heading = OUTPUT)]
    width: Option<u16>,
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// JSONL files written by `batch --format jsonl` (one per shard).
    #[arg(required = true, value_name = "PART")]
    parts: Vec<PathBuf>,
    /// What to write: the same formats as batch.
    #[arg(long, value_enum, default_value_t = BatchFormatArg::Jsonl)]
    format: BatchFormatArg,
    /// Exit 1 when any ticket has a cause at or above this confidence (as the shards had).
    #[arg(long, value_enum, value_name = "CONFIDENCE")]
    fail_on: Option<ConfidenceArg>,
    /// Also write the Markdown job summary to FILE.
    #[arg(long, value_name = "FILE")]
    summary_md: Option<PathBuf>,
    /// Table width in columns (default: the terminal's, or 80).
    #[arg(long, value_name = "COLUMNS")]
    width: Option<u16>,
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// List the loaded rules: id, kind or cause, strength, title.
    List {
        /// Also load this rule file (repeatable).
        #[arg(long = "rules", value_name = "FILE")]
        rules: Vec<PathBuf>,
        /// Table width in columns, at least 40 (default: the terminal's, or 80).
        #[arg(long, value_name = "COLUMNS", value_parser = parse_width, help_heading = OUTPUT)]
        width: Option<u16>,
    },
    /// Validate rule files (loaded together with the built-in rules).
    Check {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run every rule's examples (the built-in ones, plus FILE's); exit 2 on any failure.
    Test {
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct InputArgs {
    /// Files, folders (walked recursively) and .zip archives; `-` reads one file or zip from
    /// stdin.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

/// Resource bounds for untrusted input, each with a flag to raise it. Sizes take units
/// (4GiB, 512MiB, 64K).
#[derive(Args, Debug)]
#[command(next_help_heading = LIMITS)]
struct LimitArgs {
    /// Largest total uncompressed size read out of all the zips of one run or batch ticket,
    /// nested zips included.
    #[arg(long, value_name = "BYTES", default_value_t = ByteSize(Limits::default().zip_total_bytes))]
    max_zip_bytes: ByteSize,
    /// Most zip entries in one run or batch ticket, all its zips and nested zips included.
    #[arg(long, value_name = "N", default_value_t = Limits::default().zip_entries)]
    max_zip_entries: usize,
    /// How many zips deep a file may lie: 1 reads a zip's own files, 2 also those of the zips
    /// inside it, and so on (0 opens no zip).
    #[arg(long, value_name = "N", default_value_t = Limits::default().zip_depth)]
    max_zip_depth: usize,
    /// Largest zip held in memory: a zip inside a zip (a zip on disk is read where it lies).
    #[arg(long, value_name = "BYTES", default_value_t = ByteSize(Limits::default().file_bytes))]
    max_file_bytes: ByteSize,
    /// Longest record of a Procmon CSV (quoted line breaks included).
    #[arg(long, value_name = "BYTES", default_value_t = ByteSize(Limits::default().csv_row_bytes))]
    max_csv_row_bytes: ByteSize,
    /// Most fields in one record of a Procmon CSV, the header included.
    #[arg(long, value_name = "N", default_value_t = Limits::default().csv_fields, value_parser = parse_csv_fields)]
    max_csv_fields: usize,
    /// Largest event-log XML export (it is read whole).
    #[arg(long, value_name = "BYTES", default_value_t = ByteSize(Limits::default().xml_bytes))]
    max_xml_bytes: ByteSize,
    /// Deepest element nesting in event-log XML.
    #[arg(long, value_name = "N", default_value_t = Limits::default().xml_depth)]
    max_xml_depth: usize,
    /// Most XML elements in one event (event-log XML, or one EVTX record).
    #[arg(long, value_name = "N", default_value_t = Limits::default().xml_elements)]
    max_xml_elements: usize,
    /// Largest text of one EVTX record: what is read from its template, or its XML
    /// rendering (the evtx crate itself stops at 16 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = ByteSize(Limits::default().evtx_record_bytes))]
    max_evtx_record_bytes: ByteSize,
    /// Most the records of one 64 KiB EVTX chunk may expand to together: what their events
    /// hold, and 4 bytes per element, attribute or text visited (never less than one record's
    /// --max-evtx-record-bytes). Past it, the chunk's other records are refused and named.
    #[arg(long, value_name = "BYTES", default_value_t = ByteSize(Limits::default().evtx_chunk_bytes))]
    max_evtx_chunk_bytes: ByteSize,
    /// Most events an analysis keeps in memory (about 1.2 KB each); past it, events are
    /// counted and the files they came from reported as partly read.
    #[arg(long, value_name = "N", default_value_t = Limits::default().kept_events)]
    max_kept_events: usize,
    /// Most bytes the kept events may hold (their texts and fields); past it, the largest
    /// events no anchor needs are dropped first, and their files reported as partly read.
    #[arg(long, value_name = "BYTES", default_value_t = ByteSize(Limits::default().kept_bytes))]
    max_kept_bytes: ByteSize,
    /// Follow symlinks found inside folders, to files and folders alike (by default they are
    /// listed, not read; a path named on the command line is always followed).
    #[arg(long)]
    follow: bool,
    /// Drop EVTX chunks whose checksums do not match their bytes (by default they are read,
    /// and named: a log copied while open can hold one whose checksums were not yet updated).
    #[arg(long)]
    refuse_bad_chunks: bool,
}

impl LimitArgs {
    fn into_limits(self) -> Limits {
        Limits {
            zip_total_bytes: self.max_zip_bytes.0,
            zip_entries: self.max_zip_entries,
            zip_depth: self.max_zip_depth,
            file_bytes: self.max_file_bytes.0,
            csv_row_bytes: self.max_csv_row_bytes.0,
            xml_bytes: self.max_xml_bytes.0,
            xml_depth: self.max_xml_depth,
            xml_elements: self.max_xml_elements,
            evtx_record_bytes: self.max_evtx_record_bytes.0,
            evtx_chunk_bytes: self.max_evtx_chunk_bytes.0,
            kept_events: self.max_kept_events,
            kept_bytes: self.max_kept_bytes.0,
            csv_fields: self.max_csv_fields,
            follow_symlinks: self.follow,
            refuse_bad_evtx_chunks: self.refuse_bad_chunks,
        }
    }
}

impl InputArgs {
    fn into_config(self, limits: LimitArgs) -> InputConfig {
        InputConfig {
            paths: self.paths,
            limits: limits.into_limits(),
        }
    }
}

impl ConfidenceArg {
    fn into_confidence(self) -> Confidence {
        match self {
            ConfidenceArg::High => Confidence::High,
            ConfidenceArg::Medium => Confidence::Medium,
            ConfidenceArg::Low => Confidence::Low,
            ConfidenceArg::Context => Confidence::Context,
        }
    }
}

impl AnalysisArgs {
    fn into_config(self) -> Result<AnalysisConfig, clap::Error> {
        let invalid =
            |what: String| clap::Error::raw(clap::error::ErrorKind::ValueValidation, what);
        let procmon_date = match self.procmon_date {
            Some(d) => Some(d.trim().parse::<jiff::civil::Date>().map_err(|e| {
                invalid(format!("--procmon-date {d:?}: expected YYYY-MM-DD ({e})\n"))
            })?),
            None => None,
        };
        let procmon_utc_offset_secs = match self.procmon_utc_offset {
            Some(o) => Some(crate::analysis::align::parse_utc_offset(&o).ok_or_else(|| {
                invalid(format!(
                    "--procmon-utc-offset {o:?}: expected an offset like +02:00, -0500 or UTC+1\n"
                ))
            })?),
            None => None,
        };
        Ok(AnalysisConfig {
            rule_files: self.rules,
            procmon_date,
            procmon_utc_offset_secs,
        })
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DumpFormatArg {
    Jsonl,
    Json,
    Table,
}

#[derive(Args, Debug)]
struct DumpArgs {
    #[command(flatten)]
    input: InputArgs,
    /// jsonl: one event per line; json: one array; table: for people.
    #[arg(long, value_enum, default_value_t = DumpFormatArg::Jsonl, help_heading = OUTPUT)]
    format: DumpFormatArg,
    /// Print the per-file account instead of the events.
    #[arg(long, help_heading = OUTPUT)]
    summary: bool,
    /// Table width in columns, at least 40 (default: the terminal's, or 80).
    #[arg(long, value_name = "COLUMNS", value_parser = parse_width, help_heading = OUTPUT)]
    width: Option<u16>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// What to read, and the bounds to read it within.
#[derive(Debug, Clone)]
pub struct InputConfig {
    pub paths: Vec<PathBuf>,
    pub limits: Limits,
}

/// Output formats of the analysing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Table,
    Json,
    Jsonl,
    Markdown,
    Csv,
    Html,
}

/// What the analysing commands share: extra rules and how to place Procmon rows in time.
#[derive(Debug, Clone)]
pub struct AnalysisConfig {
    pub rule_files: Vec<PathBuf>,
    pub procmon_date: Option<jiff::civil::Date>,
    pub procmon_utc_offset_secs: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct ScanConfig {
    pub input: InputConfig,
    pub analysis: AnalysisConfig,
    pub format: ReportFormat,
    pub fail_on: Option<Confidence>,
    pub width: Option<u16>,
    pub window: TimeWindow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    Jsonl,
    Json,
    Table,
}

#[derive(Debug, Clone)]
pub struct DumpConfig {
    pub input: InputConfig,
    pub format: DumpFormat,
    pub summary: bool,
    pub width: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct TimelineConfig {
    pub input: InputConfig,
    pub analysis: AnalysisConfig,
    pub all: bool,
    pub around: Option<jiff::SignedDuration>,
    pub jsonl: bool,
    pub width: Option<u16>,
    pub window: TimeWindow,
}

#[derive(Debug, Clone)]
pub struct BatchConfig {
    pub dir: PathBuf,
    pub limits: Limits,
    pub analysis: AnalysisConfig,
    pub format: BatchFormat,
    pub out: Option<PathBuf>,
    pub incremental: bool,
    pub fail_on: Option<Confidence>,
    pub summary_md: Option<PathBuf>,
    pub shard: Option<Shard>,
    pub width: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct MergeConfig {
    pub parts: Vec<PathBuf>,
    pub format: BatchFormat,
    pub fail_on: Option<Confidence>,
    pub summary_md: Option<PathBuf>,
    pub width: Option<u16>,
}

/// A validated command.
#[derive(Debug, Clone)]
pub enum Task {
    Scan(ScanConfig),
    Timeline(TimelineConfig),
    Batch(BatchConfig),
    Merge(MergeConfig),
    RulesList {
        rule_files: Vec<PathBuf>,
        width: Option<u16>,
    },
    RulesCheck {
        rule_files: Vec<PathBuf>,
    },
    RulesTest {
        rule_files: Vec<PathBuf>,
    },
    Dump(DumpConfig),
    Completions(Shell),
    Man,
}

/// Everything a run needs, free of clap.
#[derive(Debug, Clone)]
pub struct Config {
    pub threads: usize,
    pub task: Task,
    /// Colour in tables: resolved by the binary from `color_choice`, the terminal and
    /// `NO_COLOR`.
    pub color: bool,
    pub color_choice: ColorChoice,
    /// `--output FILE` (written atomically by the binary), or stdout.
    pub output: Option<PathBuf>,
    /// `--quiet`: no report on stdout, no per-file warnings.
    pub quiet: bool,
    /// The terminal's width, when stdout is one (set by the binary).
    pub terminal_width: Option<u16>,
    /// A progress bar on stderr (set by the binary when stderr is a terminal).
    pub progress: bool,
}

/// Parse the command line. `Err` carries clap's own message and exit code (help, version,
/// usage errors).
pub fn parse<I, T>(args: I) -> Result<Config, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    let command = match cli.command {
        Command::Scan(a) => Task::Scan(ScanConfig {
            input: a.input.into_config(a.limits),
            analysis: a.analysis.into_config()?,
            format: match a.format {
                ReportFormatArg::Table => ReportFormat::Table,
                ReportFormatArg::Json => ReportFormat::Json,
                ReportFormatArg::Jsonl => ReportFormat::Jsonl,
                ReportFormatArg::Markdown => ReportFormat::Markdown,
                ReportFormatArg::Csv => ReportFormat::Csv,
                ReportFormatArg::Html => ReportFormat::Html,
            },
            fail_on: a.fail_on.map(ConfidenceArg::into_confidence),
            width: a.width,
            window: a.window.into_window()?,
        }),
        Command::Timeline(a) => Task::Timeline(TimelineConfig {
            input: a.input.into_config(a.limits),
            analysis: a.analysis.into_config()?,
            all: a.all,
            around: match a.around {
                Some(d) => Some(parse_duration(&d).ok_or_else(|| {
                    clap::Error::raw(
                        clap::error::ErrorKind::ValueValidation,
                        format!("--around {d:?}: expected a duration like 90s, 2m or 1h\n"),
                    )
                })?),
                None => None,
            },
            jsonl: a.format == TimelineFormatArg::Jsonl,
            width: a.width,
            window: a.window.into_window()?,
        }),
        Command::Batch(a) => Task::Batch(BatchConfig {
            dir: a.dir,
            limits: a.limits.into_limits(),
            analysis: a.analysis.into_config()?,
            format: a.format.into_format(),
            out: a.out,
            incremental: a.incremental,
            fail_on: a.fail_on.map(ConfidenceArg::into_confidence),
            summary_md: a.summary_md,
            shard: match a.shard {
                Some(text) => Some(
                    Shard::parse(&text, a.shard_total, &|k| std::env::var(k).ok()).map_err(
                        |e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, e + "\n"),
                    )?,
                ),
                None => None,
            },
            width: a.width,
        }),
        Command::Merge(a) => Task::Merge(MergeConfig {
            parts: a.parts,
            format: a.format.into_format(),
            fail_on: a.fail_on.map(ConfidenceArg::into_confidence),
            summary_md: a.summary_md,
            width: a.width,
        }),
        Command::Rules(RulesCommand::List { rules, width }) => Task::RulesList {
            rule_files: rules,
            width,
        },
        Command::Rules(RulesCommand::Check { files }) => Task::RulesCheck { rule_files: files },
        Command::Rules(RulesCommand::Test { files }) => Task::RulesTest { rule_files: files },
        Command::Dump(d) => Task::Dump(DumpConfig {
            input: d.input.into_config(d.limits),
            format: match d.format {
                DumpFormatArg::Jsonl => DumpFormat::Jsonl,
                DumpFormatArg::Json => DumpFormat::Json,
                DumpFormatArg::Table => DumpFormat::Table,
            },
            summary: d.summary,
            width: d.width,
        }),
        Command::Completions { shell } => Task::Completions(match shell {
            ShellArg::Bash => Shell::Bash,
            ShellArg::Zsh => Shell::Zsh,
            ShellArg::Fish => Shell::Fish,
            ShellArg::Powershell => Shell::PowerShell,
            ShellArg::Elvish => Shell::Elvish,
        }),
        Command::Man => Task::Man,
    };
    Ok(Config {
        threads: cli.threads,
        task: command,
        color: false,
        color_choice: match cli.color {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        },
        output: cli.output,
        quiet: cli.quiet,
        terminal_width: None,
        progress: false,
    })
}

/// The completion script for `shell`, generated from the command definitions.
pub fn write_completions(shell: Shell, out: &mut dyn std::io::Write) {
    use clap_complete::Shell as S;
    let shell = match shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
        Shell::PowerShell => S::PowerShell,
        Shell::Elvish => S::Elvish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "rdtriage", out);
}

/// The man page (roff), generated from the command definitions: the top-level page with
/// every subcommand's options after it.
pub fn write_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let cmd = Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    man.render_subcommands_section(out)?;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let page =
            clap_mangen::Man::new(sub.clone().bin_name(format!("rdtriage {}", sub.get_name())));
        writeln!(out, ".SH \"RDTRIAGE {}\"", sub.get_name().to_uppercase())?;
        page.render_synopsis_section(&mut SkipHeading::new(out))?;
        page.render_options_section(&mut SkipHeading::new(out))?;
    }
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for line in EXIT_CODES_HELP.lines().skip(1) {
        writeln!(out, "{}\n.br", line.trim_start().replace('-', "\\-"))?;
    }
    man.render_version_section(out)?;
    Ok(())
}

/// Drops clap_mangen's own `.SH` heading lines, so a subcommand's sections nest under one
/// heading of ours.
struct SkipHeading<'a> {
    out: &'a mut dyn std::io::Write,
    line: Vec<u8>,
}

impl<'a> SkipHeading<'a> {
    fn new(out: &'a mut dyn std::io::Write) -> Self {
        SkipHeading {
            out,
            line: Vec::new(),
        }
    }
}

impl std::io::Write for SkipHeading<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for &b in buf {
            self.line.push(b);
            if b == b'\n' {
                if !self.line.starts_with(b".SH ") {
                    self.out.write_all(&self.line)?;
                }
                self.line.clear();
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.line)?;
        self.line.clear();
        self.out.flush()
    }
}
