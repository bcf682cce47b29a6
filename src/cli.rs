//! The command line: clap definitions, turned into a plain [`Config`]. No clap type is used
//! past this file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ingest::Limits;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  analysis done, every input read
  1  --fail-on: a cause at or above the given confidence was found
  2  usage error, or a rule file that does not load
  3  some inputs could not be read fully (the output was still written)";

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
    /// Print the normalized events (or, with --summary, the per-file account).
    Dump(DumpArgs),
}

#[derive(Args, Debug)]
struct InputArgs {
    /// Files, folders (walked recursively) and .zip archives.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Largest total uncompressed size read out of one zip (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().zip_total_bytes)]
    max_zip_bytes: u64,
    /// Most entries in one zip, nested zips included.
    #[arg(long, value_name = "N", default_value_t = Limits::default().zip_entries)]
    max_zip_entries: usize,
    /// How deep zips may nest inside zips.
    #[arg(long, value_name = "N", default_value_t = Limits::default().zip_depth)]
    max_zip_depth: usize,
    /// Largest file read whole into memory (EVTX, event XML, a zip), in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().file_bytes)]
    max_file_bytes: u64,
}

impl InputArgs {
    fn into_config(self) -> InputConfig {
        InputConfig {
            paths: self.paths,
            limits: Limits {
                zip_total_bytes: self.max_zip_bytes,
                zip_entries: self.max_zip_entries,
                zip_depth: self.max_zip_depth,
                file_bytes: self.max_file_bytes,
            },
        }
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

/// A validated command.
#[derive(Debug, Clone)]
pub enum Task {
    Dump(DumpConfig),
}

/// Everything a run needs, free of clap.
#[derive(Debug, Clone)]
pub struct Config {
    pub threads: usize,
    pub task: Task,
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
    })
}
