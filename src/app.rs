//! The one entry point: run a validated [`Config`] against an output and an error stream.

use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets};

use crate::cli::{Config, DumpConfig, DumpFormat, Task};
use crate::exit::Exit;
use crate::ingest::{self, IngestOptions, Sink};
use crate::model::{Event, EventKind, FileAccount, FileStatus};
use crate::report::accounts;
use crate::report::events::EventJson;
use crate::sanitize::terminal;

/// Run one command. Output goes to `out`, diagnostics (`rdtriage: FILE: problem`) to `err`.
pub fn run(config: &Config, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let result = match &config.task {
        Task::Dump(dump) => run_dump(config.threads, dump, out, err),
    };
    match result {
        Ok(exit) => exit,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => {
            let _ = writeln!(err, "rdtriage: cannot write output: {e}");
            Exit::PartialInput
        }
    }
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
            let problems: Vec<&str> = a
                .problems
                .iter()
                .map(String::as_str)
                .filter(|p| !p.starts_with("note:"))
                .collect();
            let _ = writeln!(
                err,
                "rdtriage: {}: {}: {}",
                terminal(&a.file),
                accounts::status_word(a.status),
                terminal(&problems.join("; "))
            );
        }
    }
    exit
}

struct JsonlSink<'a> {
    out: &'a mut dyn Write,
    accounts: Vec<FileAccount>,
    error: Option<std::io::Error>,
}

impl Sink for JsonlSink<'_> {
    fn events(&mut self, events: Vec<Event>) {
        if self.error.is_some() {
            return;
        }
        for e in &events {
            let line = serde_json::to_writer(&mut *self.out, &EventJson(e))
                .map_err(std::io::Error::from)
                .and_then(|()| self.out.write_all(b"\n"));
            if let Err(e) = line {
                self.error = Some(e);
                return;
            }
        }
    }
    fn file_done(&mut self, account: FileAccount) {
        self.accounts.push(account);
    }
}

/// Rows for people: one table per file, written when the file is done.
struct TableSink<'a> {
    out: &'a mut dyn Write,
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
                .set_width(120)
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
    let time = match (&e.time, &e.kind) {
        (Some(t), _) => t.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        (None, EventKind::Procmon(p)) => p
            .time_of_day
            .map(|t| format!("{t} (local)"))
            .unwrap_or_else(|| "-".into()),
        (None, _) => "-".into(),
    };
    let (what, details) = match &e.kind {
        EventKind::Win(w) => (
            format!("{} {}", w.provider, w.event_id),
            w.data
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        EventKind::Procmon(p) => (
            format!("{} {}", p.process, p.operation),
            format!("{} → {} {}", p.path, p.result, p.detail_raw),
        ),
    };
    let clip = |s: &str| -> String {
        let s = terminal(s);
        if s.chars().count() > 200 {
            format!("{}…", s.chars().take(200).collect::<String>())
        } else {
            s.into_owned()
        }
    };
    [e.record.to_string(), time, clip(&what), clip(&details)]
}

fn run_dump(
    threads: usize,
    dump: &DumpConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<Exit> {
    let keep_none = |_: &Event| false;
    let opts = IngestOptions {
        threads,
        limits: dump.input.limits,
        keep: if dump.summary {
            &keep_none
        } else {
            &ingest::keep_all
        },
    };
    let accounts = if dump.summary {
        let mut sink = ingest::Collect::default();
        ingest::ingest(&dump.input.paths, &opts, &mut sink);
        match dump.format {
            DumpFormat::Json | DumpFormat::Jsonl => accounts::write_json(out, &sink.accounts)?,
            DumpFormat::Table => accounts::write_table(out, &sink.accounts, 120)?,
        }
        sink.accounts
    } else {
        match dump.format {
            DumpFormat::Jsonl | DumpFormat::Json => {
                let mut sink = JsonlSink {
                    out,
                    accounts: Vec::new(),
                    error: None,
                };
                ingest::ingest(&dump.input.paths, &opts, &mut sink);
                if let Some(e) = sink.error {
                    return Err(e);
                }
                sink.accounts
            }
            DumpFormat::Table => {
                let mut sink = TableSink {
                    out,
                    rows: Vec::new(),
                    accounts: Vec::new(),
                    error: None,
                };
                ingest::ingest(&dump.input.paths, &opts, &mut sink);
                if let Some(e) = sink.error {
                    return Err(e);
                }
                sink.accounts
            }
        }
    };
    out.flush()?;
    Ok(input_exit(&accounts, err))
}
