//! The merged timeline: EVTX and Procmon events interleaved in UTC time, each with the rules
//! that matched it and its offset from the nearest 0x904. Procmon rows that could not be
//! placed in time come last, in their own block, by local time.

use std::io::{self, Write};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::events::EventJson;
use super::style;
use crate::analysis::Scan;
use crate::model::{Event, EventKind};
use crate::sanitize::terminal;
use crate::units::{count, offset_words};

/// One line of the timeline.
pub struct Entry<'a> {
    pub event: &'a Event,
    /// Ids of the rules that matched this event (anchor rules included).
    pub rules: Vec<String>,
    pub is_anchor: bool,
    /// Event time minus the nearest 0x904's, when both have a time.
    pub from_anchor: Option<SignedDuration>,
}

/// Choose and order the entries: `all` keeps every event, otherwise only those a rule matched;
/// `around` keeps only events within that distance of a 0x904 (when there is one).
pub fn select<'a>(
    events: &'a [Event],
    matched: &[Vec<String>],
    anchor_events: &[usize],
    all: bool,
    around: Option<SignedDuration>,
) -> Vec<Entry<'a>> {
    let mut anchors: Vec<Timestamp> = anchor_events
        .iter()
        .filter_map(|&i| events.get(i)?.time)
        .collect();
    anchors.sort();
    let mut out: Vec<Entry<'a>> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let rules = matched.get(i).cloned().unwrap_or_default();
        if !all && rules.is_empty() {
            continue;
        }
        let from_anchor = e.time.and_then(|t| nearest(&anchors, t));
        if let Some(window) = around
            && !anchors.is_empty()
        {
            match from_anchor {
                Some(d) if d.abs() <= window => {}
                _ => continue,
            }
        }
        let is_anchor = anchor_events.contains(&i);
        out.push(Entry {
            event: e,
            rules,
            is_anchor,
            from_anchor,
        });
    }
    out.sort_by(|a, b| {
        let key = |x: &Entry<'_>| {
            (
                x.event.time.is_none(),
                x.event.time,
                x.event.procmon().and_then(|p| p.time_of_day),
                x.event.file.clone(),
                x.event.record,
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// Event time minus the nearest anchor's (anchors sorted; on a tie, the earlier anchor):
/// a binary search, so many anchors do not make the timeline quadratic.
fn nearest(anchors: &[Timestamp], t: Timestamp) -> Option<SignedDuration> {
    let at = anchors.partition_point(|a| *a < t);
    let before = at
        .checked_sub(1)
        .and_then(|i| anchors.get(i))
        .map(|a| t.duration_since(*a));
    let after = anchors.get(at).map(|a| t.duration_since(*a));
    match (before, after) {
        (Some(b), Some(a)) if a.abs() < b.abs() => Some(a),
        (Some(b), _) => Some(b),
        (None, a) => a,
    }
}

/// A socket as netstat shows it, with its owner: `TCP 0.0.0.0:3389 0.0.0.0:0 LISTENING pid
/// 1164 TermService [svchost.exe]`.
fn socket_words(k: &crate::model::Socket) -> String {
    let end = crate::model::Socket::end;
    let mut line = format!(
        "{} {} {}",
        k.protocol,
        end(&k.local_host, k.local_port),
        end(&k.remote_host, k.remote_port)
    );
    for part in [&k.state, &k.service] {
        if !part.is_empty() {
            line.push(' ');
            line.push_str(part);
        }
    }
    if let Some(pid) = k.pid {
        line.push_str(&format!(" pid {pid}"));
    }
    if !k.process.is_empty() {
        line.push_str(&format!(" [{}]", k.process));
    }
    line
}

/// A short name for an event and its details, for tables.
pub fn what(e: &Event) -> (String, String) {
    match &e.kind {
        EventKind::Win(w) => (
            format!("{} {}", short_provider(&w.provider), w.event_id),
            w.data
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        EventKind::Procmon(p) => (
            format!("{} {}", p.process, p.operation),
            format!("{} → {}", p.path(), p.result),
        ),
        EventKind::Registry(r) => (
            format!("registry {}", r.computer),
            format!("{}\\{} = {} ({})", r.key, r.name, r.data, r.value_type),
        ),
        EventKind::Acl(a) => (
            format!("acl {}", a.computer),
            format!(
                "{}: {} {} {}{}",
                a.path,
                a.identity,
                a.access,
                a.rights,
                if a.inherited { " (inherited)" } else { "" }
            ),
        ),
        EventKind::Socket(k) => (format!("netstat {}", k.computer), socket_words(k)),
    }
}

fn short_provider(p: &str) -> &str {
    p.strip_prefix("Microsoft-Windows-").unwrap_or(p)
}

/// The event's UTC time, or a Procmon row's local time marked as such.
pub fn when(e: &Event) -> String {
    match (&e.time, &e.kind) {
        (Some(t), _) => t.strftime("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        (None, EventKind::Procmon(p)) => p
            .time_of_day
            .map(|t| format!("{} local", t.strftime("%H:%M:%S%.3f")))
            .unwrap_or_else(|| "-".into()),
        (None, _) => "-".into(),
    }
}

/// Characters of an event's details in a timeline table.
const DETAILS_CHARS: usize = 120;

/// An event's details for a table, at most `n` characters. A Procmon row's result is what a
/// reader looks for (`ACCESS DENIED`), so a long path is cut in its middle and the result is
/// always shown whole.
fn details(e: &Event, n: usize) -> String {
    if let EventKind::Procmon(p) = &e.kind {
        let tail = terminal(&format!(" → {}", p.result)).into_owned();
        let room = n.saturating_sub(tail.chars().count()).max(8);
        return format!("{}{tail}", clip_middle(p.path(), room));
    }
    clip(&what(e).1, n)
}

/// Escaped for a terminal and cut to `n` characters in the middle: the start and the end of a
/// path (the drive and the file name) both stay readable.
fn clip_middle(s: &str, n: usize) -> String {
    let kept = n.saturating_sub(1);
    style::cut_middle(s, n, kept / 2, kept - kept / 2, |_| "…".into())
}

/// Escaped for a terminal and cut to `n` characters.
pub fn clip(s: &str, n: usize) -> String {
    let s = terminal(s);
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.into_owned()
    }
}

pub fn write_table(out: &mut dyn Write, entries: &[Entry<'_>], width: u16) -> io::Result<()> {
    let mut t = style::table_with_header(
        width,
        vec!["time (UTC)", "Δ 0x904", "event", "details", "rules"],
    );
    for e in entries {
        let (w, _) = what(e.event);
        let delta = match (e.is_anchor, e.from_anchor) {
            (true, _) => "◀ 0x904".to_string(),
            (false, Some(d)) => offset_words(d.as_secs()),
            (false, None) => String::new(),
        };
        t.add_row(vec![
            when(e.event),
            delta,
            clip(&w, 60),
            details(e.event, DETAILS_CHARS),
            e.rules.join(", "),
        ]);
    }
    writeln!(out, "{t}")?;
    writeln!(out, "{}", count(entries.len() as u64, "event", "events"))
}

#[derive(Serialize)]
struct JsonLine<'a> {
    #[serde(flatten)]
    event: EventJsonWrap<'a>,
    rules: &'a [String],
    anchor: bool,
    seconds_from_anchor: Option<i64>,
}

struct EventJsonWrap<'a>(&'a Event);

impl Serialize for EventJsonWrap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EventJson(self.0).serialize(s)
    }
}

pub fn write_jsonl(out: &mut dyn Write, entries: &[Entry<'_>]) -> io::Result<()> {
    for e in entries {
        let line = JsonLine {
            event: EventJsonWrap(e.event),
            rules: &e.rules,
            anchor: e.is_anchor,
            seconds_from_anchor: e.from_anchor.map(|d| d.as_secs()),
        };
        super::json::to_writer(&mut *out, &line)?;
        writeln!(out)?;
    }
    Ok(())
}

/// What `timeline` prints for a scan: the entries chosen by `all`/`around`, as JSON lines
/// (`jsonl`) or as the verdict, a table and the Procmon alignment note.
pub fn write_scan(
    out: &mut dyn Write,
    scan: &Scan,
    all: bool,
    around: Option<SignedDuration>,
    jsonl: bool,
    width: u16,
) -> io::Result<()> {
    let matched = matched_rules(scan);
    let anchor_events: Vec<usize> = scan.evaluation.anchors.iter().map(|a| a.event).collect();
    let entries = select(&scan.events, &matched, &anchor_events, all, around);
    if jsonl {
        return write_jsonl(out, &entries);
    }
    writeln!(out, "{}", terminal(&scan.diagnosis.verdict))?;
    write_table(out, &entries, width)?;
    if scan.events.iter().any(|e| e.procmon().is_some()) {
        writeln!(
            out,
            "Procmon time alignment: {}",
            terminal(&scan.diagnosis.alignment.note)
        )?;
    }
    Ok(())
}

/// Per event, the ids of the rules that matched it: anchors first, then findings, each once.
fn matched_rules(scan: &Scan) -> Vec<Vec<String>> {
    let mut matched: Vec<Vec<String>> = vec![Vec::new(); scan.events.len()];
    for a in &scan.evaluation.anchors {
        if let Some(m) = matched.get_mut(a.event) {
            m.push(a.rule_id.to_string());
        }
    }
    for f in &scan.evaluation.findings {
        for &i in &f.events {
            if let Some(m) = matched.get_mut(i)
                && !m.iter().any(|r| **r == *f.rule_id)
            {
                m.push(f.rule_id.to_string());
            }
        }
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_anchor_by_binary_search() {
        let ts = |s: i64| Timestamp::from_second(s).unwrap();
        let anchors = [ts(100), ts(200), ts(300)];
        assert_eq!(nearest(&anchors, ts(90)).unwrap().as_secs(), -10);
        assert_eq!(nearest(&anchors, ts(190)).unwrap().as_secs(), -10);
        assert_eq!(
            nearest(&anchors, ts(150)).unwrap().as_secs(),
            50,
            "a tie goes to the earlier anchor"
        );
        assert_eq!(nearest(&anchors, ts(1000)).unwrap().as_secs(), 700);
        assert_eq!(nearest(&anchors, ts(200)).unwrap().as_secs(), 0);
        assert!(nearest(&[], ts(1)).is_none());
    }

    #[test]
    fn a_long_procmon_path_is_cut_in_the_middle_and_the_result_kept() {
        use crate::model::{Event, EventKind, ProcmonRow};
        let path = format!(
            r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys\{}\f686aace6942fb7f7ceb231212eef4a4_key",
            "x".repeat(200)
        );
        let e = Event {
            file: "Logfile.CSV".into(),
            record: 1,
            time: None,
            kind: EventKind::Procmon(Box::new(ProcmonRow {
                text: crate::model::RowText::new(&path, ""),
                result: "ACCESS DENIED".into(),
                ..ProcmonRow::default()
            })),
            marks: Default::default(),
        };
        let d = details(&e, 120);
        assert_eq!(d.chars().count(), 120, "{d}");
        assert!(
            d.ends_with("f686aace6942fb7f7ceb231212eef4a4_key → ACCESS DENIED"),
            "{d}"
        );
        assert!(d.starts_with(r"C:\ProgramData\Microsoft"), "{d}");
        assert!(d.contains('…'), "{d}");
        // Short enough: unchanged.
        assert_eq!(clip_middle("C:\\a.txt", 120), "C:\\a.txt");
    }
}
