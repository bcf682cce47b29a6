//! Analysis: from input files to an answer. Reads the inputs keeping only the events some
//! rule (or the time alignment) can use, places Procmon rows in time ([`align`]), runs the
//! rules, decodes every client disconnect ([`disconnect`]) and ranks the causes ([`rank`]).

pub mod align;
pub mod batch;
pub mod disconnect;
pub mod rank;

use crate::ingest::{self, Found, IngestOptions, Limits};
use crate::model::{Event, FileAccount};
use crate::report::schema::{
    AlignmentOut, CauseOut, Confidence, DisconnectOut, SCHEMA, ScanReport,
};
use crate::rules::{Evaluation, RuleSet};

pub use align::AlignHints;

const CLIENT_PROVIDER: &str = "Microsoft-Windows-TerminalServices-ClientActiveXCore";

/// What a scan needs besides its inputs.
pub struct ScanOptions<'a> {
    pub threads: usize,
    pub limits: Limits,
    pub hints: AlignHints,
    pub rules: &'a RuleSet,
}

/// Everything a scan produced: the report, and the events and evaluation behind it (the
/// timeline is drawn from these).
pub struct Scan {
    pub report: ScanReport,
    pub events: Vec<Event>,
    pub evaluation: Evaluation,
}

/// Events the alignment and the disconnect decoding need even when no rule matches them.
fn needed_for_context(e: &Event) -> bool {
    if let Some(w) = e.win() {
        return w.provider == CLIENT_PROVIDER && (1024..=1026).contains(&w.event_id);
    }
    e.procmon().is_some_and(|p| {
        p.operation == "TCP Connect"
            && matches!(
                p.process.to_ascii_lowercase().as_str(),
                "mstsc.exe" | "msrdc.exe"
            )
    })
}

/// Read everything `found` names and analyse it. `keep_all` keeps every event (for
/// `timeline --all`); otherwise only what a rule or the alignment can use is kept.
pub fn scan(found: Vec<Found>, opts: &ScanOptions<'_>, keep_all: bool) -> Scan {
    scan_within(found, opts, keep_all, &|_| true)
}

/// [`scan`], analysing only the events `within` holds once they are placed in time
/// (`--from`/`--to`).
pub fn scan_within(
    found: Vec<Found>,
    opts: &ScanOptions<'_>,
    keep_all: bool,
    within: &dyn Fn(&Event) -> bool,
) -> Scan {
    let rules = opts.rules;
    let keep_relevant = |e: &Event| rules.matches_any(e) || needed_for_context(e);
    let keep: &(dyn Fn(&Event) -> bool + Sync) = if keep_all {
        &ingest::keep_all
    } else {
        &keep_relevant
    };
    let ingest_opts = IngestOptions {
        threads: opts.threads,
        limits: opts.limits,
        keep,
    };
    let mut sink = Capped::new(opts.limits.kept_events);
    ingest::ingest_found(found, &ingest_opts, &mut sink);
    let sink = sink.inner;
    let mut events = sink.events;
    let alignment = align::align(&mut events, opts.hints);
    events.retain(|e| within(e));
    // Evaluate on a pool of the requested size, so --threads 1 means one thread here too.
    let evaluation = match rayon::ThreadPoolBuilder::new()
        .num_threads(ingest::effective_threads(opts.threads))
        .build()
    {
        Ok(pool) => pool.install(|| rules.evaluate(&events)),
        Err(_) => rules.evaluate(&events),
    };
    let causes = rank::rank(rules, &evaluation, &events);
    let disconnects = disconnects(&events);
    let verdict = verdict(&disconnects, &causes, &sink.accounts);
    let report = ScanReport {
        schema: SCHEMA.to_string(),
        verdict,
        inputs: sink.accounts,
        alignment: AlignmentOut {
            method: alignment.method.to_string(),
            date: alignment.date,
            utc_offset: alignment.utc_offset,
            note: alignment.note,
        },
        disconnects,
        causes,
    };
    Scan {
        report,
        events,
        evaluation,
    }
}

/// Collects events up to `cap` in all; past it, counts what each file could not keep and
/// says so in its account (the file is then partly read).
struct Capped {
    inner: ingest::Collect,
    cap: usize,
    dropped: u64,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Capped {
            inner: ingest::Collect::default(),
            cap,
            dropped: 0,
        }
    }
}

impl ingest::Sink for Capped {
    fn events(&mut self, mut events: Vec<Event>) {
        let room = self.cap.saturating_sub(self.inner.events.len());
        if events.len() > room {
            self.dropped += (events.len() - room) as u64;
            events.truncate(room);
        }
        self.inner.events(events);
    }

    fn file_done(&mut self, mut account: FileAccount) {
        if self.dropped > 0 {
            account.damaged(format!(
                "{} events were not kept: an analysis keeps at most {} in memory (raise with --max-kept-events)",
                self.dropped, self.cap
            ));
            self.dropped = 0;
        }
        self.inner.file_done(account);
    }
}

/// Every RDPClient 1026, decoded, in time order, with the server from its connection's 1024.
/// One pass: the latest 1024 seen so far is remembered per file and activity id, so a log
/// of many disconnects costs no more than one of few.
fn disconnects(events: &[Event]) -> Vec<DisconnectOut> {
    use std::collections::HashMap;
    let mut out = Vec::new();
    // (file, activity id) -> the Server Name of the latest 1024; activity `None` = any.
    let mut last_1024: HashMap<(&str, Option<&str>), &str> = HashMap::new();
    for e in events {
        let Some(w) = e.win() else { continue };
        if w.provider != CLIENT_PROVIDER {
            continue;
        }
        if w.event_id == 1024 {
            if let Some(server) = w.data.get("Value") {
                last_1024.insert((&e.file, w.activity_id.as_deref()), server);
                last_1024.insert((&e.file, None), server);
            }
            continue;
        }
        if w.event_id != 1026 {
            continue;
        }
        let Some(d) = w.data.get("Value").and_then(disconnect::decode_text) else {
            continue;
        };
        // The connection's 1024 ("Server Name"): same file, same activity id, before it.
        let server = last_1024
            .get(&(&*e.file, w.activity_id.as_deref()))
            .map(|s| s.to_string());
        out.push(DisconnectOut {
            file: e.file.to_string(),
            record: e.record,
            time: e.time.map(|t| t.to_string()),
            computer: w.computer.clone(),
            server,
            code: d.code,
            is_0x904: d.code == disconnect::SOCKET_CLOSED,
            hex: d.hex,
            meaning: d.meaning,
            layer: d.layer.to_string(),
            activity_id: w.activity_id.clone(),
        });
    }
    out.sort_by(|a, b| (&a.time, &a.file, a.record).cmp(&(&b.time, &b.file, b.record)));
    out
}

fn verdict(disconnects: &[DisconnectOut], causes: &[CauseOut], inputs: &[FileAccount]) -> String {
    let anchors = disconnects.iter().filter(|d| d.is_0x904).count();
    let top = causes.iter().find(|c| c.confidence != Confidence::Context);
    let mut text = if anchors > 0 {
        format!(
            "{anchors} 0x904 (socket closed) disconnect{} found",
            if anchors == 1 { "" } else { "s" }
        )
    } else if let Some(other) = disconnects.first() {
        format!(
            "No 0x904 disconnect was found in these logs; the client disconnected with {} ({})",
            other.hex, other.meaning
        )
    } else {
        "No 0x904 disconnect was found in these logs (no RDP client disconnect events at all)"
            .to_string()
    };
    match top {
        Some(c) => text.push_str(&format!(
            "; most likely cause: {} ({} confidence)",
            c.cause,
            c.confidence.as_str()
        )),
        None => text.push_str("; no cause above background noise"),
    }
    let unread = inputs
        .iter()
        .filter(|a| {
            matches!(
                a.status,
                crate::model::FileStatus::Failed | crate::model::FileStatus::Partial
            )
        })
        .count();
    if unread > 0 {
        text.push_str(&format!(
            "; {unread} input file{} could not be read fully",
            if unread == 1 { "" } else { "s" }
        ));
    }
    text
}
