//! The one entry point: run a validated [`Config`] against an output and an error stream.

use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets};

use crate::analysis::{self, AlignHints, ScanOptions};
use crate::cli::{
    AnalysisConfig, Config, DumpConfig, DumpFormat, ReportFormat, ScanConfig, Task, TimeWindow,
    TimelineConfig,
};
use crate::exit::Exit;
use crate::ingest::{self, IngestOptions, Sink};
use crate::inputs::gather;
use crate::model::{Event, FileAccount, FileStatus};
use crate::report::events::EventJson;
use crate::report::schema::ScanReport;
use crate::report::{self, accounts};
use crate::rules::{self, RuleKind, RuleSet};
use crate::sanitize::terminal;

/// How a command ended: the exit its work earned, and whether its output was written.
/// Kept apart so that an output failure never hides what the analysis found.
type Outcome = (Exit, std::io::Result<()>);

/// Run one command. Output goes to `out`, diagnostics (`rdtriage: FILE: problem`) to `err`
/// (per-file warnings are left out with `--quiet`).
pub fn run(config: &Config, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let (exit, written) = match &config.task {
        Task::Scan(scan) => run_scan(config, scan, out, err),
        Task::Timeline(t) => run_timeline(config, t, out, err),
        Task::Batch(b) => split(crate::batch_run::run(config, b, out, err)),
        Task::Merge(m) => split(crate::merge_run::run(config, m, out, err)),
        Task::RulesList { rule_files, width } => {
            let width = table_width(config, *width);
            split(run_rules_list(rule_files, width, out, err))
        }
        Task::RulesCheck { rule_files } => split(run_rules_check(rule_files, out, err)),
        Task::RulesTest { rule_files } => split(run_rules_test(rule_files, out, err)),
        Task::Dump(dump) => run_dump(config, dump, out, err),
        Task::Completions(shell) => {
            crate::cli::write_completions(*shell, out);
            (Exit::Ok, out.flush())
        }
        Task::Man => (
            Exit::Ok,
            crate::cli::write_man(out).and_then(|()| out.flush()),
        ),
    };
    match written {
        Ok(()) => exit,
        Err(e) => {
            // A reader that closed the pipe early chose to stop: no message, but the exit
            // code still says the output is incomplete.
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = writeln!(
                    err,
                    "rdtriage: {}: cannot write: {e}",
                    terminal(&output_name(config))
                );
            }
            exit.worst(Exit::OutputFailed)
        }
    }
}

/// Where the output goes, as the user named it.
pub fn output_name(config: &Config) -> String {
    config
        .output
        .as_ref()
        .map_or_else(|| "<stdout>".to_string(), |p| p.display().to_string())
}

/// A write error where the exit was decided before writing began.
fn split(result: std::io::Result<Exit>) -> Outcome {
    match result {
        Ok(exit) => (exit, Ok(())),
        Err(e) => (Exit::Ok, Err(e)),
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
fn warnings<'a>(
    config: &Config,
    err: &'a mut dyn Write,
    sink: &'a mut std::io::Sink,
) -> &'a mut dyn Write {
    if config.quiet { sink } else { err }
}

/// Report unreadable files on stderr and decide the exit code from the accounts.
pub fn input_exit(accounts: &[FileAccount], err: &mut dyn Write) -> Exit {
    let mut exit = Exit::Ok;
    for a in accounts {
        let bad = matches!(a.status, FileStatus::Failed | FileStatus::Partial);
        if bad {
            exit = Exit::PartialInput;
        }
        if a.status != FileStatus::Ok {
            let _ = writeln!(
                err,
                "rdtriage: {}: {}: {}",
                terminal(&a.file),
                accounts::status_word(a.status),
                terminal(&a.problems_text_without_notes())
            );
        }
    }
    exit
}

struct JsonlSink<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    accounts: Vec<FileAccount>,
    error: Option<std::io::Error>,
}

impl Sink for JsonlSink<'_> {
    fn events(&mut self, events: Vec<Event>) {
        if self.error.is_some() {
            return;
        }
        // One write per batch: serde_json's many small writes are cheap into a Vec and not
        // through a `dyn Write`.
        self.buf.clear();
        for e in &events {
            if let Err(e) = serde_json::to_writer(&mut self.buf, &EventJson(e)) {
                self.error = Some(e.into());
                return;
            }
            self.buf.push(b'\n');
        }
        if let Err(e) = self.out.write_all(&self.buf) {
            self.error = Some(e);
        }
    }
    fn file_done(&mut self, account: FileAccount) {
        self.accounts.push(account);
    }
}

/// `dump --format json`: the same events as one JSON array.
struct JsonArraySink<'a> {
    inner: JsonlSink<'a>,
    first: bool,
}

impl Sink for JsonArraySink<'_> {
    fn events(&mut self, events: Vec<Event>) {
        if self.inner.error.is_some() || events.is_empty() {
            return;
        }
        let inner = &mut self.inner;
        inner.buf.clear();
        for e in &events {
            inner
                .buf
                .extend_from_slice(if self.first { b"[\n" } else { b",\n" });
            self.first = false;
            if let Err(e) = serde_json::to_writer(&mut inner.buf, &EventJson(e)) {
                inner.error = Some(e.into());
                return;
            }
        }
        if let Err(e) = inner.out.write_all(&inner.buf) {
            inner.error = Some(e);
        }
    }
    fn file_done(&mut self, account: FileAccount) {
        self.inner.accounts.push(account);
    }
}

/// Rows for people: one table per file, written when the file is done.
struct TableSink<'a> {
    out: &'a mut dyn Write,
    width: u16,
    rows: Vec<[String; 4]>,
    accounts: Vec<FileAccount>,
    error: Option<std::io::Error>,
}

impl Sink for TableSink<'_> {
    fn events(&mut self, events: Vec<Event>) {
        for e in &events {
            self.rows.push(event_row(e));
        }
    }
    fn file_done(&mut self, account: FileAccount) {
        if !self.rows.is_empty() && self.error.is_none() {
            let mut table = Table::new();
            table
                .load_style(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(self.width)
                .set_header(vec!["record", "time (UTC)", "what", "details"]);
            for row in self.rows.drain(..) {
                table.add_row(row.to_vec());
            }
            let written = writeln!(self.out, "{}", terminal(&account.file))
                .and_then(|()| writeln!(self.out, "{table}"));
            if let Err(e) = written {
                self.error = Some(e);
            }
        }
        self.accounts.push(account);
    }
}

fn event_row(e: &Event) -> [String; 4] {
    let (what, details) = report::timeline::what(e);
    let clip = |s: &str| report::timeline::clip(s, 200);
    [
        e.record.to_string(),
        report::timeline::when(e),
        clip(&what),
        clip(&details),
    ]
}

fn run_dump(
    config: &Config,
    dump: &DumpConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    let (found, names) = match gather(&dump.input, err) {
        Ok(found) => found,
        Err(exit) => return (exit, Ok(())),
    };
    let keep_none = |_: &Event| false;
    let opts = IngestOptions {
        threads: config.threads,
        limits: dump.input.limits,
        keep: if dump.summary {
            &keep_none
        } else {
            &ingest::keep_all
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
        let jsonl = |out| JsonlSink {
            out,
            buf: Vec::new(),
            accounts: Vec::new(),
            error: None,
        };
        match dump.format {
            DumpFormat::Jsonl => {
                let mut sink = jsonl(out);
                ingest::ingest_found(found, &opts, &mut names.sink(&mut sink));
                (sink.accounts, sink.error.map_or(Ok(()), Err))
            }
            DumpFormat::Json => {
                let mut sink = JsonArraySink {
                    inner: jsonl(out),
                    first: true,
                };
                ingest::ingest_found(found, &opts, &mut names.sink(&mut sink));
                let end: &[u8] = if sink.first { b"[]\n" } else { b"\n]\n" };
                let written = match sink.inner.error {
                    Some(e) => Err(e),
                    None => sink.inner.out.write_all(end),
                };
                (sink.inner.accounts, written)
            }
            DumpFormat::Table => {
                let mut sink = TableSink {
                    out,
                    width,
                    rows: Vec::new(),
                    accounts: Vec::new(),
                    error: None,
                };
                ingest::ingest_found(found, &opts, &mut names.sink(&mut sink));
                (sink.accounts, sink.error.map_or(Ok(()), Err))
            }
        }
    };
    let written = written.and_then(|()| out.flush());
    let mut sink = std::io::sink();
    (
        input_exit(&accounts, warnings(config, err, &mut sink)),
        written,
    )
}

/// Read the user's rule files; a file that cannot be read is a usage error.
fn read_rule_files(
    files: &[std::path::PathBuf],
    err: &mut dyn Write,
) -> Option<Vec<(String, String)>> {
    let mut sources = Vec::new();
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(text) => sources.push((f.display().to_string(), text)),
            Err(e) => {
                let _ = writeln!(
                    err,
                    "rdtriage: {}: cannot read rule file: {e}",
                    terminal(&f.display().to_string())
                );
                return None;
            }
        }
    }
    Some(sources)
}

/// The built-in rules plus `files`, or the load errors printed and `None`.
pub fn load_rules(files: &[std::path::PathBuf], err: &mut dyn Write) -> Option<RuleSet> {
    let user = read_rule_files(files, err)?;
    match rules::load_with_builtin(&user) {
        Ok(set) => Some(set),
        Err(errors) => {
            let _ = writeln!(err, "{errors}");
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

/// Write a scan report in the chosen format.
pub fn write_report(
    out: &mut dyn Write,
    report: &ScanReport,
    format: ReportFormat,
    width: u16,
    color: bool,
) -> std::io::Result<()> {
    match format {
        ReportFormat::Table => report::table::write(out, report, width, color),
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)
        }
        ReportFormat::Jsonl => {
            serde_json::to_writer(&mut *out, report)?;
            writeln!(out)
        }
        ReportFormat::Markdown => report::markdown::write(out, report),
        ReportFormat::Csv => report::csv_out::write(out, report),
        ReportFormat::Html => report::html::write(out, report),
    }
}

/// The exit code a finished analysis earns: `--fail-on` first, then unreadable input.
pub fn analysis_exit(
    report: &ScanReport,
    fail_on: Option<crate::report::schema::Confidence>,
    err: &mut dyn Write,
) -> Exit {
    let input = input_exit(&report.inputs, err);
    let gate = fail_on.is_some_and(|t| report.causes.iter().any(|c| c.confidence <= t));
    let nothing_read = !report
        .inputs
        .iter()
        .any(|a| matches!(a.status, FileStatus::Ok | FileStatus::Partial));
    // Nothing at all could be read: that is insufficient evidence (4), not a partial read (3).
    let mut exit = if nothing_read && !report.evidence.sufficient {
        Exit::Ok
    } else {
        input
    };
    if gate {
        exit = exit.worst(Exit::CauseFound);
    }
    if !report.evidence.sufficient {
        exit = exit.worst(Exit::InsufficientEvidence);
    }
    exit
}

/// Load the rules and analyse `input`: what `scan` and `timeline` share. `Err` with the exit
/// code when the rules do not load or a path does not exist (the errors are printed).
fn analyse(
    config: &Config,
    input: &crate::cli::InputConfig,
    analysis_config: &AnalysisConfig,
    window: TimeWindow,
    keep_all: bool,
    err: &mut dyn Write,
) -> Result<analysis::Scan, Exit> {
    let rules = load_rules(&analysis_config.rule_files, err).ok_or(Exit::Usage)?;
    let (found, names) = gather(input, err)?;
    let opts = ScanOptions {
        threads: config.threads,
        limits: input.limits,
        hints: align_hints(analysis_config),
        rules: &rules,
    };
    let mut scan = analysis::scan_within(found, &opts, keep_all, &|e| window.contains(e.time));
    names.scan(&mut scan);
    Ok(scan)
}

fn run_scan(
    config: &Config,
    scan: &ScanConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    let result = match analyse(config, &scan.input, &scan.analysis, scan.window, false, err) {
        Ok(result) => result,
        Err(exit) => return (exit, Ok(())),
    };
    let width = table_width(config, scan.width);
    let written = if scan.format == ReportFormat::Html {
        report::html::write_scan(out, &result)
    } else {
        write_report(out, &result.report, scan.format, width, config.color)
    }
    .and_then(|()| out.flush());
    let mut sink = std::io::sink();
    let exit = analysis_exit(
        &result.report,
        scan.fail_on,
        warnings(config, err, &mut sink),
    );
    drop_in_background(result);
    (exit, written)
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

fn run_rules_list(
    files: &[std::path::PathBuf],
    width: u16,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Exit> {
    let Some(set) = load_rules(files, err) else {
        return Ok(Exit::Usage);
    };
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(vec!["id", "cause", "strength", "title"]);
    for r in set.rules() {
        let (cause, strength) = match r.kind() {
            RuleKind::Anchor => ("(anchor)".to_string(), "-".to_string()),
            RuleKind::DisconnectCode => ("(disconnect code)".to_string(), "-".to_string()),
            RuleKind::Cause { cause, strength } => {
                (cause.as_str().to_string(), strength.as_str().to_string())
            }
        };
        table.add_row(vec![
            r.id().to_string(),
            cause,
            strength,
            terminal(r.title()).into_owned(),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(out, "{} rules", set.rules().len())?;
    Ok(Exit::Ok)
}

fn run_rules_check(
    files: &[std::path::PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Exit> {
    let Some(set) = load_rules(files, err) else {
        return Ok(Exit::Usage);
    };
    for f in files {
        let name = f.display().to_string();
        let n = set.rules().iter().filter(|r| r.file() == name).count();
        writeln!(
            out,
            "{}: {n} rule{} OK",
            terminal(&name),
            if n == 1 { "" } else { "s" }
        )?;
    }
    Ok(Exit::Ok)
}

fn run_rules_test(
    files: &[std::path::PathBuf],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Exit> {
    let Some(set) = load_rules(files, err) else {
        return Ok(Exit::Usage);
    };
    let failures = set.check_examples();
    for f in &failures {
        writeln!(err, "{f}")?;
    }
    let examples: usize = set.rules().iter().map(|r| r.ast().examples.len()).sum();
    writeln!(
        out,
        "{} rules, {examples} examples: {} passed, {} failed",
        set.rules().len(),
        examples - failures.len().min(examples),
        failures.len()
    )?;
    Ok(if failures.is_empty() {
        Exit::Ok
    } else {
        Exit::Usage
    })
}

fn run_timeline(
    config: &Config,
    t: &TimelineConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Outcome {
    let result = match analyse(config, &t.input, &t.analysis, t.window, t.all, err) {
        Ok(result) => result,
        Err(exit) => return (exit, Ok(())),
    };
    let mut matched: Vec<Vec<String>> = vec![Vec::new(); result.events.len()];
    for a in &result.evaluation.anchors {
        if let Some(m) = matched.get_mut(a.event) {
            m.push(a.rule_id.to_string());
        }
    }
    for f in &result.evaluation.findings {
        for &i in &f.events {
            if let Some(m) = matched.get_mut(i)
                && !m.iter().any(|r| **r == *f.rule_id)
            {
                m.push(f.rule_id.to_string());
            }
        }
    }
    let anchor_events: Vec<usize> = result.evaluation.anchors.iter().map(|a| a.event).collect();
    let entries =
        report::timeline::select(&result.events, &matched, &anchor_events, t.all, t.around);
    let written = (|| {
        if t.jsonl {
            report::timeline::write_jsonl(out, &entries)?;
        } else {
            writeln!(out, "{}", terminal(&result.report.verdict))?;
            report::timeline::write_table(out, &entries, table_width(config, t.width))?;
            if result.events.iter().any(|e| e.procmon().is_some()) {
                writeln!(
                    out,
                    "Procmon time alignment: {}",
                    terminal(&result.report.alignment.note)
                )?;
            }
        }
        out.flush()
    })();
    let mut sink = std::io::sink();
    (
        input_exit(&result.report.inputs, warnings(config, err, &mut sink)),
        written,
    )
}
