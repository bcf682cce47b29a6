//! The command line: clap definitions, turned into a plain [`Config`]. No clap type is used
//! past this file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::analysis::batch::Shard;
use crate::ingest::Limits;
pub use crate::report::batch_out::BatchFormat;
use crate::report::schema::Confidence;

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
    /// Worker threads (0 = one per core). Output is the same whatever the count.
    #[arg(long, global = true, default_value_t = 0, value_name = "N")]
    threads: usize,
    #[command(subcommand)]
    command: Command,
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
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ReportFormatArg {
    Table,
    Json,
    Jsonl,
    Markdown,
    Csv,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ConfidenceArg {
    High,
    Medium,
    Low,
    Context,
}

#[derive(Args, Debug)]
struct AnalysisArgs {
    /// A rule file to add to the built-in rules (repeatable).
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// The date of the Procmon capture (YYYY-MM-DD), when its export has no 'Date & Time'.
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
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// table (people), json (the documented schema), jsonl (the same on one line),
    /// markdown (for a ticket reply), csv (one row per finding).
    #[arg(long, value_enum, default_value_t = ReportFormatArg::Table)]
    format: ReportFormatArg,
    /// Exit 1 when a cause at or above this confidence is found (for CI gates).
    #[arg(long, value_enum, value_name = "CONFIDENCE")]
    fail_on: Option<ConfidenceArg>,
    /// Table width in columns (default: the terminal's, or 80).
    #[arg(long, value_name = "COLUMNS")]
    width: Option<u16>,
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
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// Every event, not only those a rule matched.
    #[arg(long)]
    all: bool,
    /// Only events within this distance of a 0x904 (e.g. 90s, 2m, 1h), when there is one.
    #[arg(long, value_name = "DURATION")]
    around: Option<String>,
    #[arg(long, value_enum, default_value_t = TimelineFormatArg::Table)]
    format: TimelineFormatArg,
    /// Table width in columns (default: the terminal's, or 120).
    #[arg(long, value_name = "COLUMNS")]
    width: Option<u16>,
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
    /// Also write each ticket's full report (JSON and Markdown) into this folder (each
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
    /// Table width in columns (default: the terminal's, or 80).
    #[arg(long, value_name = "COLUMNS")]
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
    /// Files, folders (walked recursively) and .zip archives.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// Resource bounds for untrusted input, each with a flag to raise it.
#[derive(Args, Debug)]
struct LimitArgs {
    /// Largest total uncompressed size read out of all the zips of one run or batch ticket,
    /// nested zips included (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().zip_total_bytes)]
    max_zip_bytes: u64,
    /// Most zip entries in one run or batch ticket, all its zips and nested zips included.
    #[arg(long, value_name = "N", default_value_t = Limits::default().zip_entries)]
    max_zip_entries: usize,
    /// How deep zips may nest inside zips.
    #[arg(long, value_name = "N", default_value_t = Limits::default().zip_depth)]
    max_zip_depth: usize,
    /// Largest zip held in memory, in bytes: a zip inside a zip (a zip on disk is read where it
    /// lies).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().file_bytes)]
    max_file_bytes: u64,
    /// Longest record of a Procmon CSV, in bytes (quoted line breaks included).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().csv_row_bytes)]
    max_csv_row_bytes: u64,
    /// Most fields in one record of a Procmon CSV, the header included.
    #[arg(long, value_name = "N", default_value_t = Limits::default().csv_fields)]
    max_csv_fields: usize,
    /// Largest event-log XML export, in bytes (it is read whole).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().xml_bytes)]
    max_xml_bytes: u64,
    /// Deepest element nesting in event-log XML.
    #[arg(long, value_name = "N", default_value_t = Limits::default().xml_depth)]
    max_xml_depth: usize,
    /// Most XML elements in one event (event-log XML, or one EVTX record).
    #[arg(long, value_name = "N", default_value_t = Limits::default().xml_elements)]
    max_xml_elements: usize,
    /// Largest text of one EVTX record, in bytes: what is read from its template, or its XML
    /// rendering (the evtx crate itself stops at 16 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().evtx_record_bytes)]
    max_evtx_record_bytes: u64,
    /// Most events an analysis keeps in memory (about 1.2 KB each); past it, events are
    /// counted and the files they came from reported as partly read.
    #[arg(long, value_name = "N", default_value_t = Limits::default().kept_events)]
    max_kept_events: usize,
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
            zip_total_bytes: self.max_zip_bytes,
            zip_entries: self.max_zip_entries,
            zip_depth: self.max_zip_depth,
            file_bytes: self.max_file_bytes,
            csv_row_bytes: self.max_csv_row_bytes,
            xml_bytes: self.max_xml_bytes,
            xml_depth: self.max_xml_depth,
            xml_elements: self.max_xml_elements,
            evtx_record_bytes: self.max_evtx_record_bytes,
            kept_events: self.max_kept_events,
            csv_fields: self.max_csv_fields,
            follow_symlinks: self.follow,
            refuse_bad_evtx_chunks: self.refuse_bad_chunks,
        }
    }
}

impl InputArgs {
    fn into_config(self) -> InputConfig {
        InputConfig {
            paths: self.paths,
            limits: self.limits.into_limits(),
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
    /// jsonl: one event per line; table: for people; json: only with --summary.
    #[arg(long, value_enum, default_value_t = DumpFormatArg::Jsonl)]
    format: DumpFormatArg,
    /// Print the per-file account instead of the events.
    #[arg(long)]
    summary: bool,
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
}

#[derive(Debug, Clone)]
pub struct TimelineConfig {
    pub input: InputConfig,
    pub analysis: AnalysisConfig,
    pub all: bool,
    pub around: Option<jiff::SignedDuration>,
    pub jsonl: bool,
    pub width: Option<u16>,
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

/// `90s`, `2m`, `1h`, `500ms`, or plain seconds.
pub fn parse_duration(text: &str) -> Option<jiff::SignedDuration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let n: i64 = t[..split].parse().ok()?;
    let ms = match &t[split..] {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(jiff::SignedDuration::from_millis(ms))
}

/// A validated command.
#[derive(Debug, Clone)]
pub enum Task {
    Scan(ScanConfig),
    Timeline(TimelineConfig),
    Batch(BatchConfig),
    Merge(MergeConfig),
    RulesList { rule_files: Vec<PathBuf> },
    RulesCheck { rule_files: Vec<PathBuf> },
    RulesTest { rule_files: Vec<PathBuf> },
    Dump(DumpConfig),
}

/// Everything a run needs, free of clap.
#[derive(Debug, Clone)]
pub struct Config {
    pub threads: usize,
    pub task: Task,
    /// Colour in tables: only on a terminal without `NO_COLOR` (set by the binary).
    pub color: bool,
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
            input: a.input.into_config(),
            analysis: a.analysis.into_config()?,
            format: match a.format {
                ReportFormatArg::Table => ReportFormat::Table,
                ReportFormatArg::Json => ReportFormat::Json,
                ReportFormatArg::Jsonl => ReportFormat::Jsonl,
                ReportFormatArg::Markdown => ReportFormat::Markdown,
                ReportFormatArg::Csv => ReportFormat::Csv,
            },
            fail_on: a.fail_on.map(ConfidenceArg::into_confidence),
            width: a.width,
        }),
        Command::Timeline(a) => Task::Timeline(TimelineConfig {
            input: a.input.into_config(),
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
        Command::Rules(RulesCommand::List { rules }) => Task::RulesList { rule_files: rules },
        Command::Rules(RulesCommand::Check { files }) => Task::RulesCheck { rule_files: files },
        Command::Rules(RulesCommand::Test { files }) => Task::RulesTest { rule_files: files },
        Command::Dump(d) => Task::Dump(DumpConfig {
            input: d.input.into_config(),
            format: match d.format {
                DumpFormatArg::Jsonl => DumpFormat::Jsonl,
                DumpFormatArg::Json => DumpFormat::Json,
                DumpFormatArg::Table => DumpFormat::Table,
            },
            summary: d.summary,
        }),
    };
    Ok(Config {
        threads: cli.threads,
        task: command,
        color: false,
        terminal_width: None,
        progress: false,
    })
}
