//! The one entry point: wires a validated [`Config`] to analysis and to `report/`, the one
//! place that writes. Each command describes how it ended as an [`Outcome`]; the exit code is
//! `Exit::from(&outcome)`, decided in `exit.rs`.

use std::io::Write;

use crate::analysis::{self, AlignHints, ScanOptions};
use crate::cli::{
    AnalysisConfig, Config, DumpConfig, DumpFormat, ScanConfig, Task, TimeWindow, TimelineConfig,
};
use crate::exit::{Exit, Outcome};
use crate::ingest::{self, IngestOptions, ProcmonColumns};
use crate::inputs::gather;
use crate::model::{Event, FileAccount, FileStatus};
use crate::report::dump::{DumpSink, Shape};
use crate::report::ticket::TicketSummary;
use crate::report::{self, accounts, diag};
use crate::rules::{self, RuleSet};

/// How a command ended, and whether its output was written. Kept apart so that an output
/// failure never hides what the analysis found.
type Ended = (Outcome, std::io::Result<()>);

/// Run one command. Output goes to `out`, diagnostics (`rdtriage: FILE: problem`) to `err`
/// (per-file warnings are left out with `--quiet`).
pub fn run(config: &Config, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let (mut outcome, written) = match &config.task {
        Task::Scan(scan) => run_scan(config, scan, out, err),
        Task::Timeline(t) => run_timeline(config, t, out, err),
        Task::Batch(b) => decided(crate::batch_run::run(config, b, out, err)),
        Task::Merge(m) => decided(crate::merge_run::run(config, m, out, err)),
        Task::RulesList { rule_files, width } => {
            let width = table_width(config, *width);
            with_rules(rule_files, config.threads, err, |set, _| {
                (
                    Outcome::default(),
                    report::rules::write_list(out, set, width),
                )
            })
        }
        Task::RulesCheck { rule_files } => with_rules(rule_files, config.threads, err, |set, _| {
            (
                Outcome::default(),
                report::rules::write_check(out, set, rule_files),
            )
        }),
        Task::RulesTest { rule_files } => {
            with_rules(rule_files, config.threads, err, |set, err| {
                let failures = set.check_examples();
                let outcome = Outcome {
                    usage_error: !failures.is_empty(),
                    ..Outcome::default()
                };
                (outcome, report::rules::write_test(out, err, set, &failures))
            })
        }
        Task::Dump(dump) => run_dump(config, dump, out, err),
        Task::Completions(shell) => {
            crate::cli::write_completions(*shell, out);
            (Outcome::default(), Ok(()))
        }
        Task::Man => (Outcome::default(), crate::cli::write_man(out)),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        diag::cannot_write(err, &output_name(config), &e);
        outcome.output_failed = true;
    }
    Exit::from(&outcome)
}

/// Where the output goes, as the user named it.
pub fn output_name(config: &Config) -> String {
    config
        .output
        .as_ref()
        .map_or_else(|| "<stdout>".to_string(), |p| p.display().to_string())
}

/// A command whose exit was decided before its output failed (`batch`, `merge`).
fn decided(result: std::io::Result<Exit>) -> Ended {
    match result {
        Ok(exit) => (Outcome::of(exit), Ok(())),
        Err(e) => (Outcome::default(), Err(e)),
    }
}

/// Load the rules and run `f` on them; rules that do not load are a usage error.
fn with_rules(
    files: &[std::path::PathBuf],
    threads: usize,
    err: &mut dyn Write,
    f: impl FnOnce(&RuleSet, &mut dyn Write) -> Ended,
) -> Ended {
    match load_rules(files, threads, false, err) {
        Some(set) => f(&set, err),
        None => (Outcome::of(Exit::Usage), Ok(())),
    }
}

/// The table width: `--width`, else the terminal's, else 80; never under the minimum.
fn table_width(config: &Config, asked: Option<u16>) -> u16 {
    asked
        .or(config.terminal_width)
        .unwrap_or(80)
        .max(crate::cli::MIN_WIDTH)
}

/// Where per-file warnings go: `err`, or nowhere with `--quiet`.
pub(crate) fn warnings<'a>(
    config: &Config,
    err: &'a mut dyn Write,
    sink: &'a mut std::io::Sink,
) -> &'a mut dyn Write {
    if config.quiet { sink } else { err }
}

/// Some input was not read fully (`dump`, `timeline`: no evidence rule applies).
fn inputs_unread(accounts: &[FileAccount]) -> Outcome {
    Outcome {
        inputs_unread: accounts
            .iter()
            .any(|a| matches!(a.status, FileStatus::Failed | FileStatus::Partial)),
        ..Outcome::default()
    }
}

fn run_dump(config: &Config, dump: &DumpConfig, out: &mut dyn Write, err: &mut dyn Write) -> Ended {
    let (found, names) = match gather(&dump.input, err) {
        Ok(found) => found,
        Err(exit) => return (Outcome::of(exit), Ok(())),
    };
    let keep_none = |_: &mut Event| false;
    let opts = IngestOptions {
        threads: config.threads,
        limits: dump.input.limits,
        keep: if dump.summary {
            &keep_none
        } else {
            &ingest::keep_all
        },
        keep_reads_record: false,
        // A summary shows accounts only: no row is kept, so no column need be built.
        columns: if dump.summary {
            ProcmonColumns::none()
        } else {
            ProcmonColumns::All
        },
    };
    let width = table_width(config, dump.width);
    let (accounts, written) = if dump.summary {
        let mut sink = ingest::Collect::default();
        ingest::ingest_found(found, &opts, &mut names.sink(&mut sink));
        let written = match dump.format {
            DumpFormat::Json | DumpFormat::Jsonl => accounts::write_json(out, &sink.accounts),
            DumpFormat::Table => accounts::write_table(out, &sink.accounts, width),
        };
        (sink.accounts, written)
    } else {
        let shape = match dump.format {
            DumpFormat::Jsonl => Shape::Jsonl,
            DumpFormat::Json => Shape::Json,
            DumpFormat::Table => Shape::Table { width },
        };
        let mut sink = DumpSink::new(out, shape);
        ingest::ingest_found(found, &opts, &mut names.sink(&mut sink));
        sink.finish()
    };
    let mut sink = std::io::sink();
    accounts::write_problems(warnings(config, err, &mut sink), &accounts);
    (inputs_unread(&accounts), written)
}

/// The most bytes a rule file may hold: the whole built-in pack is about 100 KB.
pub const MAX_RULE_FILE_BYTES: u64 = 4 << 20;

/// A rule file's text: a regular file (never a FIFO, which would block, or a device, which
/// may never end) of at most [`MAX_RULE_FILE_BYTES`].
fn read_rule_file(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > MAX_RULE_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} bytes, more than the {MAX_RULE_FILE_BYTES} a rule file may hold",
                meta.len()
            ),
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_RULE_FILE_BYTES)
        .read_to_string(&mut text)?;
    Ok(text)
}

/// The built-in rules plus `files`, or the problems printed and `None`.
/// Load the rules on the run's pool of `threads` (files parsed and rules compiled in parallel).
/// `to_analyse`: for an analysis, which never runs the built-in pack's examples
/// ([`rules::load_with_builtin_to_analyse`]).
pub fn load_rules(
    files: &[std::path::PathBuf],
    threads: usize,
    to_analyse: bool,
    err: &mut dyn Write,
) -> Option<RuleSet> {
    let mut user = Vec::new();
    for f in files {
        match read_rule_file(f) {
            Ok(text) => user.push((f.display().to_string(), text)),
            Err(e) => {
                diag::file_error(err, &f.display().to_string(), "cannot read rule file", &e);
                return None;
            }
        }
    }
    let load = || {
        if to_analyse {
            rules::load_with_builtin_to_analyse(&user)
        } else {
            rules::load_with_builtin(&user)
        }
    };
    // On the run's pool when it has threads to share the work (one thread gains nothing from
    // a hand-off); without a pool (the OS refused threads; ingest says so) the rules still load.
    let loaded = match ingest::pool(threads) {
        Ok(pool) if pool.current_num_threads() > 1 => pool.install(load),
        _ => load(),
    };
    match loaded {
        Ok(set) => Some(set),
        Err(errors) => {
            diag::message(err, &errors);
            None
        }
    }
}

pub(crate) fn align_hints(a: &AnalysisConfig) -> AlignHints {
    AlignHints {
        date: a.procmon_date,
        utc_offset_secs: a.procmon_utc_offset_secs,
    }
}

/// Load the rules and analyse `input`: what `scan` and `timeline` share. `Err` with the exit
/// code when the rules do not load or a path does not exist (the errors are printed). The
/// rules come back with the analysis, to be freed with it once the answer is written.
fn analyse(
    config: &Config,
    input: &crate::cli::InputConfig,
    analysis_config: &AnalysisConfig,
    window: TimeWindow,
    keep_all: bool,
    shown_columns: ProcmonColumns,
    err: &mut dyn Write,
) -> Result<(analysis::Scan, RuleSet), Exit> {
    let rules =
        load_rules(&analysis_config.rule_files, config.threads, true, err).ok_or(Exit::Usage)?;
    let (found, names) = gather(input, err)?;
    let opts = ScanOptions {
        threads: config.threads,
        limits: input.limits,
        hints: align_hints(analysis_config),
        rules: &rules,
        shown_columns,
    };
    let within = |e: &Event| window.contains(e.time);
    let within = (!window.is_all()).then_some(&within as &(dyn Fn(&Event) -> bool + Sync));
    let mut scan = analysis::scan_within(found, &opts, keep_all, within);
    names.scan(&mut scan);
    Ok((scan, rules))
}

fn run_scan(config: &Config, scan: &ScanConfig, out: &mut dyn Write, err: &mut dyn Write) -> Ended {
    // No report shows a Procmon column: only the rules read them.
    let shown = ProcmonColumns::none();
    let analysed = match analyse(
        config,
        &scan.input,
        &scan.analysis,
        scan.window,
        false,
        shown,
        err,
    ) {
        Ok(analysed) => analysed,
        Err(exit) => return (Outcome::of(exit), Ok(())),
    };
    let (result, _) = &analysed;
    let width = table_width(config, scan.width);
    let report = result.report();
    let written = report::write_scan(
        out,
        &report,
        &result.events,
        scan.format,
        width,
        config.color,
    );
    let mut sink = std::io::sink();
    accounts::write_problems(warnings(config, err, &mut sink), &report.inputs);
    // The same rule as a ticket of a batch: one decision for both.
    let outcome = TicketSummary::of("", &report).outcome(scan.fail_on);
    drop_in_background(analysed);
    (outcome, written)
}

/// Free a large value on another thread: tens of thousands of events take a noticeable
/// moment to free, and the answer is already written. (When the process exits first, the OS
/// reclaims the memory anyway.)
fn drop_in_background<T: Send + 'static>(value: T) {
    // If no thread can be started, the closure and the value in it are dropped right here.
    let _ = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
}

fn run_timeline(
    config: &Config,
    t: &TimelineConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Ended {
    // A timeline lists events with every column.
    let shown = ProcmonColumns::All;
    let (result, _rules) = match analyse(config, &t.input, &t.analysis, t.window, t.all, shown, err)
    {
        Ok(analysed) => analysed,
        Err(exit) => return (Outcome::of(exit), Ok(())),
    };
    let width = table_width(config, t.width);
    let written = report::timeline::write_scan(out, &result, t.all, t.around, t.jsonl, width);
    let mut sink = std::io::sink();
    accounts::write_problems(warnings(config, err, &mut sink), &result.diagnosis.inputs);
    (inputs_unread(&result.diagnosis.inputs), written)
}
