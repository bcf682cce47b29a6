//! `rdtriage batch`: wires the ticket list, the shard, the parallel analysis, the report files
//! in `--out` and the batch output together.
//!
//! Reports in `--out` are written to a temporary file in OUT and renamed over their final
//! name, so a report under its final name is always whole (Ctrl-C or a full disk leaves at
//! most a `.rdtriage-*.tmp` file behind), and the rename replaces a symlink already at that
//! name instead of writing through it. A report that cannot be written is that ticket's
//! error (exit 5 unless something higher applies); the batch goes on.

use std::io::{self, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::analysis::batch::{self, Ticket};
use crate::analysis::{self, ScanOptions};
use crate::app::{align_hints, load_rules};
use crate::cli::{BatchConfig, Config};
use crate::exit::Exit;
use crate::output::AtomicFile;
use crate::report::batch_out::{BatchOutput, ShardLine};
use crate::report::schema::{SCHEMA, ScanReport};
use crate::report::ticket::TicketSummary;
use crate::sanitize::terminal;

/// One ticket's result, made on a worker thread.
struct Done {
    report: ScanReport,
    summary: TicketSummary,
    /// `--incremental`: the recorded report was reused, nothing was analysed.
    reused: bool,
}

pub fn run(
    config: &Config,
    b: &BatchConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<Exit> {
    let Some(rules) = load_rules(&b.analysis.rule_files, config.threads, true, err) else {
        return Ok(Exit::Usage);
    };
    let (mut tickets, skipped) = match batch::tickets(&b.dir, b.out.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            writeln!(
                err,
                "rdtriage: {}: cannot list tickets: {e}",
                terminal(&b.dir.display().to_string())
            )?;
            return Ok(Exit::Usage);
        }
    };
    // A ticket that could not be triaged changes the exit: it is said even with --quiet.
    let untriaged = skipped.iter().any(|s| s.ticket);
    for s in skipped.iter().filter(|s| s.ticket) {
        writeln!(
            err,
            "rdtriage: {}: skipped: {}; the batch exits {}",
            terminal(&s.name),
            s.why,
            Exit::PartialInput.code()
        )?;
    }
    // Warnings that do not change the exit are left out with --quiet.
    let mut quiet_sink = io::sink();
    let warn = crate::app::warnings(config, &mut *err, &mut quiet_sink);
    for s in skipped.iter().filter(|s| !s.ticket) {
        writeln!(warn, "rdtriage: {}: skipped: {}", terminal(&s.name), s.why)?;
    }
    // Report names from every ticket of the folder, before the shard is taken: names alike
    // but for case are made apart the same way in every shard.
    let names: Vec<&str> = tickets.iter().map(|t| t.name.as_str()).collect();
    let stems: std::collections::HashMap<String, String> = tickets
        .iter()
        .map(|t| t.name.clone())
        .zip(batch::report_stems(&names))
        .collect();
    if let Some(shard) = b.shard {
        tickets.retain(|t| shard.holds(&t.name));
    }
    // An OUT that cannot be made is every ticket's report error, not the end of the batch.
    let out_dir_error = match &b.out {
        Some(dir) => std::fs::create_dir_all(dir).err().map(|e| {
            let _ = writeln!(
                err,
                "rdtriage: {}: cannot create the report folder: {e}",
                terminal(&dir.display().to_string())
            );
            e.to_string()
        }),
        None => None,
    };
    let salt = match salt(b) {
        Ok(s) => s,
        Err(e) => {
            writeln!(err, "rdtriage: cannot read a rule file: {e}")?;
            return Ok(Exit::Usage);
        }
    };
    let opts = ScanOptions {
        // One thread per ticket inside: the parallelism is across tickets.
        threads: 1,
        limits: b.limits,
        hints: align_hints(&b.analysis),
        rules: &rules,
        // A ticket's reports show no Procmon column: only the rules read them.
        shown_columns: crate::ingest::ProcmonColumns::none(),
    };
    let work = |t: &Ticket| -> Done {
        let stem = stems
            .get(&t.name)
            .cloned()
            .unwrap_or_else(|| batch::report_stem(&t.name));
        analyse_ticket(t, stem, &opts, b, &salt, out_dir_error.as_deref())
    };
    let bar = config.progress.then(|| progress_bar(tickets.len()));
    let width = b.width.or(config.terminal_width).unwrap_or(80);
    let mut output = BatchOutput::new(b.format, out, b.fail_on, width, b.summary_md.is_some());
    if let Some(shard) = b.shard {
        output.shard(&ShardLine {
            shard: format!("{}/{}", shard.index + 1, shard.total),
            tickets: tickets.len() as u64,
        });
    }
    let (mut analysed, mut reused) = (0usize, 0usize);
    batch::run(&tickets, config.threads, &work, &mut |ticket, done| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        if done.reused {
            reused += 1;
        } else {
            analysed += 1;
        }
        if let (Some(e), Some(dir)) = (&done.summary.report_error, &b.out) {
            let stem = done.summary.report.as_deref().unwrap_or("?");
            let _ = writeln!(
                err,
                "rdtriage: {}: ticket {}: report not written: {}",
                terminal(&dir.join(format!("{stem}.json")).display().to_string()),
                terminal(&ticket.name),
                terminal(e)
            );
        }
        output.ticket(&done.summary, Some(&done.report), None);
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if b.incremental && !config.quiet {
        let _ = writeln!(
            err,
            "rdtriage: {analysed} tickets triaged, {reused} unchanged since their last report"
        );
    }
    let exit = output.finish(b.summary_md.as_deref(), err);
    Ok(if untriaged {
        exit.worst(Exit::PartialInput)
    } else {
        exit
    })
}

fn progress_bar(len: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} tickets, {per_sec}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// What besides a ticket's files decides its report, as a digest: this build (its version,
/// the report schema, the built-in rules), the `--rules` files, and every option that changes
/// what a ticket's report says. Each struct is taken apart field by field, with no `..`: an
/// option added later does not compile here until it is counted in or said not to change a
/// report, so `--incremental` cannot reuse a report made under other options.
fn salt(b: &BatchConfig) -> io::Result<Vec<u8>> {
    let BatchConfig {
        limits,
        analysis,
        // Which tickets there are and where their outputs go, not what a report says: a
        // ticket's report is the same in any of these (the summary's exit is judged from the
        // report at each run, under that run's --fail-on).
        dir: _,
        format: _,
        out: _,
        incremental: _,
        fail_on: _,
        summary_md: _,
        shard: _,
        width: _,
    } = b;
    let crate::cli::AnalysisConfig {
        rule_files,
        procmon_date,
        procmon_utc_offset_secs,
    } = analysis;
    let crate::ingest::Limits {
        zip_total_bytes,
        zip_entries,
        zip_depth,
        file_bytes,
        csv_row_bytes,
        csv_fields,
        xml_bytes,
        xml_depth,
        xml_elements,
        evtx_record_bytes,
        evtx_chunk_bytes,
        kept_events,
        kept_bytes,
        follow_symlinks,
        refuse_bad_evtx_chunks,
    } = limits;
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        for part in [name.as_bytes(), value] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    };
    field("version", env!("CARGO_PKG_VERSION").as_bytes());
    field("schema", SCHEMA.as_bytes());
    for (name, text) in crate::rules::pack::BUILTIN {
        field(name, text.as_bytes());
    }
    for f in rule_files {
        field("--rules", &std::fs::read(f)?);
    }
    let options: [(&str, String); 17] = [
        ("--procmon-date", format!("{procmon_date:?}")),
        (
            "--procmon-utc-offset",
            format!("{procmon_utc_offset_secs:?}"),
        ),
        ("--max-zip-bytes", zip_total_bytes.to_string()),
        ("--max-zip-entries", zip_entries.to_string()),
        ("--max-zip-depth", zip_depth.to_string()),
        ("--max-file-bytes", file_bytes.to_string()),
        ("--max-csv-row-bytes", csv_row_bytes.to_string()),
        ("--max-csv-fields", csv_fields.to_string()),
        ("--max-xml-bytes", xml_bytes.to_string()),
        ("--max-xml-depth", xml_depth.to_string()),
        ("--max-xml-elements", xml_elements.to_string()),
        ("--max-evtx-record-bytes", evtx_record_bytes.to_string()),
        ("--max-evtx-chunk-bytes", evtx_chunk_bytes.to_string()),
        ("--max-kept-events", kept_events.to_string()),
        ("--max-kept-bytes", kept_bytes.to_string()),
        ("--follow", follow_symlinks.to_string()),
        ("--refuse-bad-chunks", refuse_bad_evtx_chunks.to_string()),
    ];
    for (name, value) in &options {
        field(name, value.as_bytes());
    }
    Ok(h.finalize().to_vec())
}

/// `stem`: the ticket's report name in `--out` ([`batch::report_stems`]).
fn analyse_ticket(
    t: &Ticket,
    stem: String,
    opts: &ScanOptions<'_>,
    b: &BatchConfig,
    salt: &[u8],
    out_dir_error: Option<&str>,
) -> Done {
    // The hash is only worth its read when a report records it.
    let hash = b
        .out
        .as_ref()
        .and_then(|_| batch::inputs_sha256(&t.path, salt, opts.limits.follow_symlinks));
    if b.incremental
        && let (Some(dir), Some(hash)) = (&b.out, &hash)
        && let Some(report) = recorded(dir, &stem, hash)
    {
        let mut summary = TicketSummary::of(&t.name, &report);
        summary.report = Some(stem);
        return Done {
            report,
            summary,
            reused: true,
        };
    }
    let found = crate::ingest::discover::discover(std::slice::from_ref(&t.path), &opts.limits);
    let mut report = analysis::scan(found, opts, false).report();
    report.inputs_sha256 = hash;
    let mut summary = TicketSummary::of(&t.name, &report);
    if let Some(dir) = &b.out {
        summary.report_error = match out_dir_error {
            Some(e) => Some(e.to_string()),
            None => write_reports(dir, &stem, &report)
                .err()
                .map(|e| e.to_string()),
        };
        summary.report = Some(stem);
    }
    Done {
        report,
        summary,
        reused: false,
    }
}

/// The report recorded in OUT for this ticket, when it is whole, ours, its Markdown and HTML
/// are there too, and it was made from inputs with this hash.
fn recorded(dir: &Path, stem: &str, hash: &str) -> Option<ScanReport> {
    let json = dir.join(format!("{stem}.json"));
    let md = dir.join(format!("{stem}.md"));
    let html = dir.join(format!("{stem}.html"));
    let regular = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    if !regular(&json) || !regular(&md) || !regular(&html) {
        return None;
    }
    let report: ScanReport = serde_json::from_slice(&std::fs::read(&json).ok()?).ok()?;
    (report.schema == SCHEMA && report.inputs_sha256.as_deref() == Some(hash)).then_some(report)
}

fn write_reports(dir: &Path, stem: &str, report: &ScanReport) -> io::Result<()> {
    use crate::cli::ReportFormat;
    // The page to attach to the ticket has its lanes from the report alone: the events are
    // gone by now.
    for (ext, format) in [
        ("json", ReportFormat::Json),
        ("md", ReportFormat::Markdown),
        ("html", ReportFormat::Html),
    ] {
        AtomicFile::write_whole(&dir.join(format!("{stem}.{ext}")), &mut |w| {
            crate::report::write_report(w, report, format, 80, false)
        })?;
    }
    Ok(())
}
