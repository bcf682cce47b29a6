//! Placing Procmon rows on the EVTX (UTC) time line.
//!
//! Procmon's `Time of Day` is the capture machine's local clock with no date and no zone
//! (docs/domain.md §4). A row gets a UTC time only when both are known, from (in this order):
//! the user (`--procmon-date`, `--procmon-utc-offset`), the export's own `Date & Time` column
//! (date only; the zone still has to come from somewhere), or inference from what both sources
//! saw: the RDP client's connect and disconnect events and its process's TCP connect and
//! disconnect rows to the server's RDP or gateway port, as the rule pack's domain declaration
//! names them ([`crate::rules::Domain`]). Time zones are whole quarter hours, so
//! each pair proposes an offset rounded to 15 minutes, kept only when the rounding error is
//! small; the inference is used only when every proposal agrees. Otherwise Procmon evidence
//! stays unplaced (still reported, without a proximity bonus), and the report says why.
//! Rows read from a native PML carry absolute UTC times and are left as they are.
//!
//! A **server-side capture** (a CSV whose rows include the RDP listener's `TCP Accept` on the
//! server's RDP port, and no RDP client process) is placed from the server's own events: each
//! accepted connection (RdpCoreTS 131, RCM 261, as logged on that server) and each `TCP Accept`
//! row propose a quarter-hour offset and a date, and the offset most pairs agree on (a strict
//! plurality) places the file. Its rows then count as that server's: the server's clock
//! estimate (`clock.rs`) moves them with its events. A capture no server's events line up with
//! stays unplaced, and the note says so.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::Offset;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::model::{Event, EventKind};
use crate::rules::{Domain, Role};

/// How far apart the client's connect event and Procmon's TCP Connect may be, once the
/// offset is applied, to count as the same connection.
const MATCH_TOLERANCE_SECS: i64 = 20;

/// Is `p` the RDP listener accepting a connection on the server (a server-side capture row)?
/// The operation and the ports are the domain declaration's (`procmon accept`, `port rdp`).
pub fn is_server_accept_row(domain: &Domain, p: &crate::model::ProcmonRow) -> bool {
    !domain.procmon_accept.is_empty()
        && p.operation == domain.procmon_accept
        && p.network()
            .and_then(|n| n.local_port)
            .is_some_and(|port| domain.is_rdp_port(port))
}

/// What the user told us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlignHints {
    pub date: Option<Date>,
    /// Local time minus UTC, in seconds (UTC+02:00 is 7200).
    pub utc_offset_secs: Option<i32>,
}

/// The alignment used, as the report states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alignment {
    /// `user`, `inferred`, `partly-user`, `pml` (all Procmon rows came from a PML), or `none`.
    pub method: &'static str,
    pub date: Option<String>,
    pub utc_offset: Option<String>,
    pub note: String,
}

fn offset_text(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// Parse `+02:00`, `-0530`, `UTC+1`, `0` into seconds east of UTC.
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    let t = text.trim();
    let t = t
        .strip_prefix("UTC")
        .or_else(|| t.strip_prefix("utc"))
        .unwrap_or(t);
    if t.is_empty() || t == "0" || t == "Z" {
        return Some(0);
    }
    let (sign, rest) = match t.as_bytes().first()? {
        b'+' => (1, &t[1..]),
        b'-' => (-1, &t[1..]),
        _ => (1, t),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        // Only `HHMM` digits are split by position: slicing other text could cut a character.
        None if rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_digit()) => {
            (&rest[..2], &rest[2..])
        }
        None => (rest, "0"),
    };
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    if h > 14 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// The client's UTC times and Procmon's local times of the same moments: the connect (the
/// client's start and transport events and the client process's connect row) and the
/// disconnect (its disconnect event and disconnect row), each to an RDP or gateway port.
/// Which events, processes, operations and ports these are is the domain declaration's.
fn moments(
    events: &[Event],
    domain: &Domain,
    roles: &[Role],
    operation: &str,
) -> (Vec<Timestamp>, Vec<Time>) {
    let client = events
        .iter()
        .filter_map(|e| {
            let role = domain.client_role(e.win()?)?;
            roles.contains(&role).then_some(e.time?)
        })
        .collect();
    let procmon = events
        .iter()
        .filter_map(|e| {
            let p = e.procmon()?;
            let port = p.network()?.remote_port?;
            (p.operation == operation
                && domain.is_client_process(&p.process)
                && domain.is_session_port(port))
            .then_some(p.time_of_day?)
        })
        .collect();
    (client, procmon)
}

/// Is `e` a Procmon row that alignment reads (the client process opening or closing its TCP
/// connection to an RDP or gateway port)? Analysis keeps these even when no rule matches them.
pub fn is_alignment_row(domain: &Domain, e: &Event) -> bool {
    e.procmon().is_some_and(|p| {
        (p.operation == domain.procmon_connect || p.operation == domain.procmon_disconnect)
            && domain.is_client_process(&p.process)
            && p.network()
                .and_then(|n| n.remote_port)
                .is_some_and(|port| domain.is_session_port(port))
    })
}

/// Procmon rows' local times as whole seconds of the day, sorted: what [`propose`] counts in.
struct RowSeconds(Vec<u32>);

impl RowSeconds {
    fn new(times: &[Time]) -> Self {
        let mut secs: Vec<u32> = times.iter().map(|t| day_secs(*t) as u32).collect();
        secs.sort_unstable();
        RowSeconds(secs)
    }

    /// How many rows lie in `from..=to` (seconds of the day, `from <= to`).
    fn count(&self, from: i64, to: i64) -> usize {
        let below = |x: i64| self.0.partition_point(|&s| i64::from(s) < x);
        below(to + 1) - below(from)
    }
}

fn day_secs(t: Time) -> i64 {
    i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second())
}

/// Where a row's local time minus a client moment's UTC time (whole seconds of the day) is
/// folded to: `(-10h, +14h]`, one representative per second of the day.
const FOLD_LOW: i64 = 14 * 3600 - 86_400 + 1;
const FOLD_HIGH: i64 = 14 * 3600;

/// Propose an (offset, date) for every client moment and Procmon row that line up within a
/// whole number of quarter hours: `vote(offset, date, rows)` once per moment and offset, with
/// how many rows line up at that offset (a pair each). The pairs themselves are never listed:
/// a row lines up at offset `q` when its local second of the day lies within
/// [`MATCH_TOLERANCE_SECS`] of the moment's plus `q`, so each of the 97 quarter hours in the
/// fold is a count of rows in a range of seconds, found by binary search in `rows`. Work is
/// moments × 97 × log rows, not moments × rows.
fn propose(connects: &[Timestamp], rows: &RowSeconds, mut vote: impl FnMut(i32, Date, usize)) {
    if rows.0.is_empty() {
        return;
    }
    let first = FOLD_LOW.div_euclid(900) * 900;
    for t in connects {
        let utc = t.to_zoned(jiff::tz::TimeZone::UTC);
        let utc_secs =
            i64::from(utc.hour()) * 3600 + i64::from(utc.minute()) * 60 + i64::from(utc.second());
        let mut rounded = first;
        while rounded <= FOLD_HIGH {
            // The differences (local - utc, folded) that round to `rounded` and lie within the
            // tolerance of it.
            let lo = (rounded - MATCH_TOLERANCE_SECS).max(FOLD_LOW);
            let hi = (rounded + MATCH_TOLERANCE_SECS).min(FOLD_HIGH);
            let (from, to) = (
                (utc_secs + lo).rem_euclid(86_400),
                (utc_secs + hi).rem_euclid(86_400),
            );
            let n = if from <= to {
                rows.count(from, to)
            } else {
                rows.count(from, 86_399) + rows.count(0, to)
            };
            if n > 0
                && let Ok(li) = t.checked_add(SignedDuration::from_secs(rounded))
            {
                let date = li.to_zoned(jiff::tz::TimeZone::UTC).date();
                vote(rounded as i32, date, n);
            }
            rounded += 900;
        }
    }
}

/// Infer (offset, date) from moments both sources saw.
fn infer(events: &[Event], d: &Domain) -> Result<(i32, Date), String> {
    let pairs = [
        moments(
            events,
            d,
            &[Role::Start, Role::Transport],
            &d.procmon_connect,
        ),
        moments(events, d, &[Role::Disconnect], &d.procmon_disconnect),
    ];
    if pairs.iter().all(|(c, p)| c.is_empty() || p.is_empty()) {
        return Err(format!(
            "no RDP client connect or disconnect events ({} {}/{}/{}) with matching {} {} or {} rows to infer it from",
            d.client_label(),
            d.start.id,
            d.transport,
            d.disconnect.id,
            d.process_stems(false),
            d.procmon_connect,
            d.procmon_disconnect,
        ));
    }
    // Every moment votes once for each (offset, date) its rows line up at. The offset most
    // moments agree on wins when it has at least two and twice the votes of any other: with
    // several connections, a connect can line up by chance with another connection's row a
    // whole number of quarter hours away, once, where the true offset lines up every moment.
    let mut by_offset: BTreeMap<i32, (usize, BTreeSet<Date>)> = BTreeMap::new();
    for (client, procmon) in &pairs {
        propose(client, &RowSeconds::new(procmon), |off, date, _| {
            let entry = by_offset.entry(off).or_default();
            entry.0 += 1;
            entry.1.insert(date);
        });
    }
    let mut ranked: Vec<(i32, usize, BTreeSet<Date>)> = by_offset
        .into_iter()
        .map(|(off, (n, dates))| (off, n, dates))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    match ranked.as_slice() {
        [] => Err("the client's connect/disconnect events and Procmon's TCP rows never line up within a whole time zone".into()),
        [(off, n, dates), rest @ ..] if rest.first().is_none_or(|r| *n >= 2 && *n >= 2 * r.1) => {
            match (dates.first(), dates.len()) {
                (Some(date), 1) => Ok((*off, *date)),
                _ => Err("the connections line up on more than one date: give --procmon-date".into()),
            }
        }
        _ => Err(format!(
            "ambiguous: the connections line up with {} different offsets, none on most of them: give --procmon-utc-offset",
            ranked.len()
        )),
    }
}

/// `... and mstsc's TCP Connect/Disconnect rows`: the two operations share their first word.
fn inferred_note(d: &Domain) -> String {
    let connect = &d.procmon_connect;
    let disconnect = match connect.split_once(' ') {
        Some((first, _)) => d
            .procmon_disconnect
            .strip_prefix(first)
            .map_or(d.procmon_disconnect.as_str(), str::trim_start),
        None => d.procmon_disconnect.as_str(),
    };
    format!(
        "inferred from the RDP client's connect/disconnect events and {}'s {connect}/{disconnect} rows",
        d.process_stems(true)
    )
}

/// Give every Procmon row whose time can be placed a UTC `time`; say how.
pub fn align(events: &mut [Event], hints: AlignHints, domain: &Domain) -> Alignment {
    // The Procmon rows, found in one pass over the events, shared out: the steps below read
    // only these, and most event-log tickets hold none.
    let rows = super::positions(events, |e| e.procmon().is_some());
    if rows.is_empty() {
        return no_rows();
    }
    // User hints name one offset for every capture; without them, server captures are placed
    // from the server's own events first, then the rest as before.
    let (server_note, placed) = if hints.utc_offset_secs.is_none() {
        place_server_captures(events, &rows, domain)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut a = align_client(events, &rows, hints, domain);
    // Only now mark the server rows as the server's: `align_client` reads a capture computer
    // as "from a PML".
    for (i, host) in placed {
        if let EventKind::Procmon(p) = &mut events[i].kind {
            p.computer = Some(host);
        }
    }
    if !server_note.is_empty() {
        let server_note = server_note.join("; ");
        if a.note == "no Procmon rows" {
            a.method = if server_note.contains("placed from") {
                "inferred"
            } else {
                "none"
            };
            a.note = server_note;
        } else {
            a.note = format!("{}; {server_note}", a.note);
        }
    }
    a
}

/// Place every server-side capture (by file) from that server's accept events. Returns a note
/// per capture and the rows placed, with the host they belong to. `rows`: where the Procmon
/// rows are among `events`.
fn place_server_captures(
    events: &mut [Event],
    rows: &[usize],
    domain: &Domain,
) -> (Vec<String>, Vec<(usize, std::sync::Arc<str>)>) {
    // Files: unplaced CSV rows, whether any is a listener accept, whether any is the client's.
    let mut files: BTreeMap<std::sync::Arc<str>, (Vec<Time>, bool)> = BTreeMap::new();
    for e in rows.iter().map(|&i| &events[i]) {
        let Some(p) = e.procmon() else { continue };
        if e.time.is_some() || p.computer.is_some() {
            continue;
        }
        let entry = files.entry(e.file.clone()).or_default();
        if domain.is_client_process(&p.process) {
            entry.1 = true;
        }
        if is_server_accept_row(domain, p)
            && let Some(t) = p.time_of_day
        {
            entry.0.push(t);
        }
    }
    // Only a capture with a listener's accept and none of the client's rows is placed here:
    // without one, the servers' accepts are not gathered (a pass over every event for none).
    if !files
        .values()
        .any(|(accepts, client_rows)| !accepts.is_empty() && !client_rows)
    {
        return (Vec::new(), Vec::new());
    }
    // The servers' accepts, by host, on each server's own clock.
    let mut hosts: BTreeMap<String, (String, Vec<Timestamp>)> = BTreeMap::new();
    for e in events.iter().filter(|e| domain.is_server_accept(e)) {
        let (Some(w), Some(t)) = (e.win(), e.time) else {
            continue;
        };
        let key = w
            .computer
            .split('.')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        hosts
            .entry(key)
            .or_insert_with(|| (w.computer.to_string(), Vec::new()))
            .1
            .push(t);
    }
    let mut notes = Vec::new();
    let mut placed = Vec::new();
    // Each capture's rows, gathered once (a ticket may hold thousands of captures).
    let mut rows_of: BTreeMap<std::sync::Arc<str>, Vec<usize>> = BTreeMap::new();
    for &i in rows {
        let file = &events[i].file;
        if let Some(rows) = rows_of.get_mut(file) {
            rows.push(i);
        } else if files.contains_key(file) {
            rows_of.insert(file.clone(), vec![i]);
        }
    }
    for (file, (accepts, client_rows)) in &files {
        if accepts.is_empty() || *client_rows {
            continue;
        }
        // Pairs per (offset, date, host): counted, not listed (see `propose`).
        let accept_secs = RowSeconds::new(accepts);
        let mut votes: BTreeMap<(i32, Date, &str), usize> = BTreeMap::new();
        for (host, times) in hosts.values() {
            propose(times, &accept_secs, |off, date, n| {
                *votes.entry((off, date, host.as_str())).or_default() += n;
            });
        }
        let mut ranked: Vec<_> = votes.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let pick = match ranked.as_slice() {
            [] => Err(format!(
                "server capture {file}: its {} TCP Accept row(s) on an RDP port line up with no server's 131/261 events within a whole time zone; its rows stay unplaced",
                accepts.len()
            )),
            [(k, n), rest @ ..] if rest.first().is_none_or(|r| r.1 < *n) => Ok((*k, *n)),
            _ => Err(format!(
                "server capture {file}: its TCP Accept rows line up with more than one server, date or offset equally; its rows stay unplaced"
            )),
        };
        let ((offset, date, host), n) = match pick {
            Ok(p) => p,
            Err(why) => {
                notes.push(why);
                continue;
            }
        };
        let Ok(tz) = Offset::from_seconds(offset) else {
            continue;
        };
        let host: std::sync::Arc<str> = std::sync::Arc::from(host);
        let mine = rows_of.remove(file).unwrap_or_default();
        let (fixes, fixed) = column_fixes(events, &mine, date, false);
        let fix = fixes.get(file).copied();
        notes.extend(fixed);
        let mut moved = 0u64;
        for &i in &mine {
            let e = &mut events[i];
            if e.time.is_some() {
                continue;
            }
            let EventKind::Procmon(p) = &e.kind else {
                continue;
            };
            let Some(tod) = p.time_of_day else { continue };
            let day = p.date.map_or(date, |d| fix.map_or(d, |f| f.apply(d)));
            if let Ok(ts) = tz.to_timestamp(DateTime::from_parts(day, tod)) {
                e.time = Some(ts);
                placed.push((i, host.clone()));
                moved += 1;
            }
        }
        notes.push(format!(
            "server capture {file} placed from {host}'s own 131/261 events ({n} pair{} of a TCP Accept row and a 131/261 event at one offset, {}, date {date}); {moved} rows placed on {host}'s clock",
            if n == 1 { "" } else { "s" },
            offset_text(offset)
        ));
    }
    (notes, placed)
}

/// The alignment when there is no Procmon row to place.
fn no_rows() -> Alignment {
    Alignment {
        method: "none",
        date: None,
        utc_offset: None,
        note: "no Procmon rows".into(),
    }
}

/// `rows`: where the Procmon rows are among `events`.
/// How a capture's `Date & Time` dates are brought to the date the alignment settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayFix {
    /// Day and month were read the other way round: a date whose day is over 12 could only be
    /// read one way, and stays.
    Swap,
    /// Whole days to add (the user gave the capture's date).
    Shift(i32),
}

impl DayFix {
    fn apply(self, d: Date) -> Date {
        match self {
            DayFix::Swap => swapped(d).unwrap_or(d),
            DayFix::Shift(days) => jiff::Span::new()
                .try_days(days)
                .and_then(|span| d.checked_add(span))
                .unwrap_or(d),
        }
    }
}

/// `d` with its day and month exchanged, when that is another date.
fn swapped(d: Date) -> Option<Date> {
    (d.day() <= 12 && d.day() != d.month())
        .then(|| Date::new(d.year(), d.day(), d.month()).ok())
        .flatten()
}

/// The files among `rows` whose `Date & Time` column never gives `date`, with how each is
/// corrected: read with day and month exchanged when that gives it (an ambiguous `03/09` read
/// in the other locale's order); otherwise, when the user gave `date`, moved by whole days so
/// that its first date is `date`; otherwise left as the column says. A note for each.
fn column_fixes(
    events: &[Event],
    rows: &[usize],
    date: Date,
    user: bool,
) -> (BTreeMap<std::sync::Arc<str>, DayFix>, Vec<String>) {
    let mut dates: BTreeMap<std::sync::Arc<str>, BTreeSet<Date>> = BTreeMap::new();
    for e in rows.iter().map(|&i| &events[i]) {
        if let (Some(p), None) = (e.procmon(), e.time)
            && let Some(d) = p.date
        {
            dates.entry(e.file.clone()).or_default().insert(d);
        }
    }
    let mut fixes = BTreeMap::new();
    let mut notes = Vec::new();
    for (file, seen) in dates {
        if seen.contains(&date) {
            continue;
        }
        let fix = if let Some(c) = seen.iter().find(|&&c| swapped(c) == Some(date)) {
            notes.push(format!(
                "{file}: its 'Date & Time' column read {c} for {date}, day and month the other way round: its dates are read day for month"
            ));
            DayFix::Swap
        } else if user
            && let Some(&first) = seen.first()
            && let Ok(span) = date.since(first)
        {
            let days = span.get_days();
            notes.push(format!(
                "{file}: its 'Date & Time' column starts on {first}: its dates are moved to start on {date}, as given"
            ));
            DayFix::Shift(days)
        } else {
            continue;
        };
        fixes.insert(file, fix);
    }
    (fixes, notes)
}

fn align_client(
    events: &mut [Event],
    rows: &[usize],
    hints: AlignHints,
    domain: &Domain,
) -> Alignment {
    // Rows read from a PML already carry their UTC time: they are never re-aligned.
    // Both in one pass over the rows.
    let (has_procmon, from_pml) = rows
        .iter()
        .map(|&i| &events[i])
        .filter_map(|e| Some((e.procmon()?, e.time.is_none())))
        .fold((false, 0usize), |(unplaced, pml), (p, untimed)| {
            (unplaced || untimed, pml + usize::from(p.computer.is_some()))
        });
    if !has_procmon && from_pml > 0 {
        return Alignment {
            method: "pml",
            date: None,
            utc_offset: None,
            note: format!(
                "Procmon times came from the PML capture (absolute UTC): no alignment needed; {from_pml} relevant Procmon rows placed"
            ),
        };
    }
    if !has_procmon {
        return no_rows();
    }
    let column_date = rows
        .iter()
        .find_map(|&i| events[i].procmon().and_then(|p| p.date));
    let inferred =
        if hints.utc_offset_secs.is_none() || (hints.date.is_none() && column_date.is_none()) {
            Some(infer(events, domain))
        } else {
            None
        };
    // The date the user gave, or the one the client's events line up on: the column's dates
    // are checked against it.
    let settled = hints.date.or_else(|| {
        inferred
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(|&(_, d)| d)
    });
    let (offset, date, method, note) = match (hints.utc_offset_secs, inferred) {
        (Some(off), None) => (
            off,
            hints.date.or(column_date),
            "user",
            if hints.date.is_some() {
                "date and UTC offset given on the command line".to_string()
            } else {
                "UTC offset given on the command line, date from the 'Date & Time' column"
                    .to_string()
            },
        ),
        (Some(off), Some(Ok((_, d)))) => (
            off,
            Some(d),
            "partly-user",
            "UTC offset given on the command line, date inferred from the client's connect events"
                .into(),
        ),
        (None, Some(Ok((off, d)))) => {
            let date = hints.date.or(column_date).unwrap_or(d);
            (off, Some(date), "inferred", inferred_note(domain))
        }
        (_, Some(Err(why))) => {
            return Alignment {
                method: "none",
                date: hints.date.or(column_date).map(|d| d.to_string()),
                utc_offset: hints.utc_offset_secs.map(offset_text),
                note: format!(
                    "Procmon rows could not be placed in time ({why}); they are reported without a proximity bonus. Give --procmon-date and --procmon-utc-offset to place them"
                ),
            };
        }
        (None, None) => {
            return Alignment {
                method: "none",
                date: None,
                utc_offset: None,
                note: "no UTC offset for the Procmon rows".into(),
            };
        }
    };
    let Some(date) = date else {
        return Alignment {
            method: "none",
            date: None,
            utc_offset: Some(offset_text(offset)),
            note: "Procmon rows have no date: give --procmon-date".into(),
        };
    };
    let Ok(tz_offset) = Offset::from_seconds(offset) else {
        return Alignment {
            method: "none",
            date: Some(date.to_string()),
            utc_offset: None,
            note: "UTC offset out of range".into(),
        };
    };
    let (fixes, fixed) = column_fixes(events, rows, settled.unwrap_or(date), hints.date.is_some());
    let date = if fixes.is_empty() {
        date
    } else {
        settled.unwrap_or(date)
    };
    let mut placed = 0u64;
    for &i in rows {
        let e = &mut events[i];
        if let EventKind::Procmon(p) = &e.kind
            && e.time.is_none()
            && let Some(tod) = p.time_of_day
        {
            let fix = fixes.get(&e.file);
            let day = p.date.map_or(date, |d| fix.map_or(d, |f| f.apply(d)));
            let local = DateTime::from_parts(day, tod);
            if let Ok(ts) = tz_offset.to_timestamp(local) {
                e.time = Some(ts);
                placed += 1;
            }
        }
    }
    let fixed: String = fixed.iter().map(|n| format!("; {n}")).collect();
    Alignment {
        method,
        date: Some(date.to_string()),
        utc_offset: Some(offset_text(offset)),
        note: format!("{note}{fixed}; {placed} relevant Procmon rows placed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ProcmonRow, RowText, WinEvent};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn client(id: u32, utc: &str) -> Event {
        Event {
            file: Arc::from("c.evtx"),
            record: 1,
            time: Some(utc.parse().unwrap()),
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                provider: "Microsoft-Windows-TerminalServices-ClientActiveXCore".into(),
                event_id: id,
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    fn tcp(local: &str, op: &str) -> Event {
        Event {
            file: Arc::from("p.csv"),
            record: 1,
            time: None,
            kind: EventKind::Procmon(Box::new(ProcmonRow {
                time_of_day: Some(local.parse().unwrap()),
                process: "mstsc.exe".into(),
                operation: op.into(),
                text: RowText::with_network("a:50000 -> b:ms-wbt-server", ""),
                ..ProcmonRow::default()
            })),
            marks: Default::default(),
        }
    }

    /// The pair-by-pair proposals `propose` replaced: every moment against every row.
    fn brute_force(connects: &[Timestamp], tcp: &[Time]) -> BTreeMap<(i32, Date), usize> {
        let mut out = BTreeMap::new();
        for t in connects {
            let utc = t.to_zoned(jiff::tz::TimeZone::UTC);
            let utc_secs = i64::from(utc.hour()) * 3600
                + i64::from(utc.minute()) * 60
                + i64::from(utc.second());
            for local in tcp {
                let mut diff = (day_secs(*local) - utc_secs).rem_euclid(86_400);
                if diff > 14 * 3600 {
                    diff -= 86_400;
                }
                let rounded = (diff as f64 / 900.0).round() as i64 * 900;
                if (diff - rounded).abs() > MATCH_TOLERANCE_SECS {
                    continue;
                }
                if let Ok(li) = t.checked_add(SignedDuration::from_secs(rounded)) {
                    let date = li.to_zoned(jiff::tz::TimeZone::UTC).date();
                    *out.entry((rounded as i32, date)).or_default() += 1;
                }
            }
        }
        out
    }

    #[test]
    fn proposals_are_counted_as_every_pair_would_propose_them() {
        // Moments and rows all over the day, many near the tolerance's edges, the fold's edges
        // (local - utc of -10h and +14h) and midnight: the counts equal the pair-by-pair ones.
        let mut next = crate::rules::testutil::xorshift(0x2545_f491_4f6c_dd1du64);
        let base: Timestamp = "2024-03-05T00:00:00Z".parse().unwrap();
        for round in 0..40 {
            let connects: Vec<Timestamp> = (0..20)
                .map(|_| {
                    let ms = next(3 * 86_400_000) as i64;
                    base.checked_add(SignedDuration::from_millis(ms)).unwrap()
                })
                .collect();
            let tcp: Vec<Time> = (0..60)
                .map(|i| {
                    let secs = if i % 2 == 0 {
                        // Near a moment plus a quarter hour and a few seconds either side.
                        let t = connects[next(20) as usize].to_zoned(jiff::tz::TimeZone::UTC);
                        let u = day_secs(t.time()) as u64;
                        (u + 86_400 + next(97) * 900 - 36_000 + 86_400 - 25 + next(51)) % 86_400
                    } else {
                        next(86_400)
                    };
                    Time::new(
                        (secs / 3600) as i8,
                        (secs / 60 % 60) as i8,
                        (secs % 60) as i8,
                        0,
                    )
                    .unwrap()
                })
                .collect();
            let mut got = BTreeMap::new();
            propose(&connects, &RowSeconds::new(&tcp), |off, date, n| {
                assert!(n > 0);
                *got.entry((off, date)).or_default() += n;
            });
            assert_eq!(got, brute_force(&connects, &tcp), "round {round}");
        }
    }

    #[test]
    fn a_moment_votes_once_per_offset_however_many_rows_line_up() {
        // 5,000 rows within the tolerance of one moment (+01:00): one vote of 5,000, not 5,000
        // proposals; nothing is stored per pair.
        let t: Timestamp = "2024-03-05T09:14:02Z".parse().unwrap();
        let tcp: Vec<Time> = (0..5_000)
            .map(|i| Time::new(10, 13, 50 + (i % 10) as i8, 0).unwrap())
            .collect();
        let mut votes = Vec::new();
        propose(&[t], &RowSeconds::new(&tcp), |off, date, n| {
            votes.push((off, date, n))
        });
        assert_eq!(votes, vec![(3600, "2024-03-05".parse().unwrap(), 5_000)]);
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_utc_offset("+02:00"), Some(7200));
        assert_eq!(parse_utc_offset("UTC-5"), Some(-18000));
        assert_eq!(parse_utc_offset("+0530"), Some(19800));
        assert_eq!(parse_utc_offset("0"), Some(0));
        assert_eq!(parse_utc_offset("+25:00"), None);
        assert_eq!(parse_utc_offset("east"), None);
        // Regression: a multi-byte character where `HHMM` digits are expected panicked (exit 101).
        assert_eq!(parse_utc_offset("+€1"), None);
        assert_eq!(parse_utc_offset("€€"), None);
        assert_eq!(parse_utc_offset("-1é"), None);
    }

    #[test]
    fn infers_offset_and_date_across_midnight() {
        // Client connects 2024-03-05 23:30:10 UTC; Procmon on UTC+02:00 sees 01:30:12 local.
        let mut events = vec![
            client(1025, "2024-03-05T23:30:10Z"),
            tcp("01:30:12", "TCP Connect"),
            tcp("01:31:00", "TCP Reconnect"),
        ];
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(a.method, "inferred", "{}", a.note);
        assert_eq!(a.utc_offset.as_deref(), Some("UTC+02:00"));
        assert_eq!(a.date.as_deref(), Some("2024-03-06"));
        assert_eq!(events[2].time.unwrap().to_string(), "2024-03-05T23:31:00Z");
    }

    #[test]
    fn user_hints_win_and_missing_pairs_are_explained() {
        let mut events = vec![tcp("10:00:00", "TCP Reconnect")];
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(a.method, "none");
        assert!(a.note.contains("could not be placed"), "{}", a.note);
        assert!(events[0].time.is_none());
        let hints = AlignHints {
            date: Some("2024-01-02".parse().unwrap()),
            utc_offset_secs: Some(-18000),
        };
        let a = align(&mut events, hints, Domain::builtin());
        assert_eq!(a.method, "user");
        assert_eq!(events[0].time.unwrap().to_string(), "2024-01-02T15:00:00Z");
    }

    fn dated(mut e: Event, date: &str) -> Event {
        if let EventKind::Procmon(p) = &mut e.kind {
            p.date = Some(date.parse().unwrap());
        }
        e
    }

    /// A `Date & Time` column whose day and month were read the other way round (12 March
    /// read as 3 December) is read day for month when the client's events line up on the
    /// other date; a user's date moves a column that holds neither; a column that holds the
    /// date is left as it is.
    #[test]
    fn the_column_date_yields_to_the_settled_date() {
        let rows = |date: &str| {
            vec![
                client(1025, "2024-03-12T13:00:00Z"),
                client(1026, "2024-03-12T13:20:00Z"),
                dated(tcp("14:00:00", "TCP Connect"), date),
                dated(tcp("14:20:00", "TCP Disconnect"), date),
            ]
        };
        let mut events = rows("2024-12-03");
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(a.method, "inferred", "{}", a.note);
        assert!(a.note.contains("the other way round"), "{}", a.note);
        assert_eq!(events[2].time.unwrap().to_string(), "2024-03-12T13:00:00Z");
        let mut events = rows("2024-03-12");
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert!(!a.note.contains("Date & Time"), "{}", a.note);
        assert_eq!(events[3].time.unwrap().to_string(), "2024-03-12T13:20:00Z");
        let mut events = rows("2024-03-20");
        let hints = AlignHints {
            date: Some("2024-03-12".parse().unwrap()),
            utc_offset_secs: Some(3600),
        };
        let a = align(&mut events, hints, Domain::builtin());
        assert!(a.note.contains("as given"), "{}", a.note);
        assert_eq!(events[2].time.unwrap().to_string(), "2024-03-12T13:00:00Z");
    }

    /// Three connections: each connect and disconnect lines up at UTC+1, and one connect
    /// lines up by chance, once, with another connection's row an hour away. Most moments
    /// agree: the offset is UTC+1, not "ambiguous".
    #[test]
    fn the_offset_most_moments_agree_on_wins_over_a_chance_pair() {
        let mut events = Vec::new();
        for (connect, disconnect) in [
            ("09:00:00", "09:30:00"),
            ("10:30:00", "10:40:00"),
            ("12:00:00", "12:10:00"),
        ] {
            events.push(client(1025, &format!("2024-03-12T{connect}Z")));
            events.push(client(1026, &format!("2024-03-12T{disconnect}Z")));
        }
        for local in ["10:00:00", "11:30:00", "13:00:00"] {
            events.push(tcp(local, "TCP Connect"));
        }
        for local in ["10:30:00", "11:40:00", "13:10:00"] {
            events.push(tcp(local, "TCP Disconnect"));
        }
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(a.method, "inferred", "{}", a.note);
        assert_eq!(a.utc_offset.as_deref(), Some("UTC+01:00"));
    }

    #[test]
    fn infers_from_the_disconnect_alone() {
        // The capture only covers the end of the session: 1026 at 13:45:10 UTC, mstsc's TCP
        // Disconnect at 14:45:10.6 local (UTC+01:00).
        let mut events = vec![
            client(1026, "2024-03-05T13:45:10.6615091Z"),
            tcp("14:45:10.6599", "TCP Disconnect"),
        ];
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(
            (a.method, a.utc_offset.as_deref()),
            ("inferred", Some("UTC+01:00")),
            "{}",
            a.note
        );
        assert_eq!(
            events[1].time.unwrap().to_string(),
            "2024-03-05T13:45:10.6599Z"
        );
    }

    #[test]
    fn disagreeing_pairs_are_ambiguous() {
        let mut events = vec![
            client(1025, "2024-03-05T10:00:00Z"),
            client(1025, "2024-03-05T10:30:00Z"),
            tcp("12:00:01", "TCP Connect"),
        ];
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(a.method, "none");
        assert!(a.note.contains("ambiguous"), "{}", a.note);
    }

    fn server_event(id: u32, utc: &str, host: &str) -> Event {
        Event {
            file: Arc::from("s.evtx"),
            record: 1,
            time: Some(utc.parse().unwrap()),
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                provider: "Microsoft-Windows-TerminalServices-RemoteConnectionManager".into(),
                event_id: id,
                computer: host.into(),
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    fn server_row(file: &str, local: &str, op: &str, path: &str) -> Event {
        Event {
            file: Arc::from(file),
            record: 1,
            time: None,
            kind: EventKind::Procmon(Box::new(ProcmonRow {
                time_of_day: Some(local.parse().unwrap()),
                process: "svchost.exe".into(),
                operation: op.into(),
                text: RowText::with_network(path, ""),
                ..ProcmonRow::default()
            })),
            marks: Default::default(),
        }
    }

    #[test]
    fn a_server_capture_is_placed_from_the_servers_own_events() {
        // RDS01 (UTC+01:00) accepts two connections; its Procmon CSV saw both, local time, and
        // a TCP Receive later. The client's capture and events are absent.
        let accept = "RDS01:ms-wbt-server -> 10.0.0.5:50123";
        let mut events = vec![
            server_event(261, "2024-03-05T09:14:02.51Z", "RDS01.contoso.com"),
            server_event(261, "2024-03-05T11:02:40Z", "RDS01.contoso.com"),
            server_event(261, "2024-03-05T11:30:00Z", "RDS02.contoso.com"),
            server_row("srv.csv", "10:14:02.5", "TCP Accept", accept),
            server_row("srv.csv", "12:02:39.9", "TCP Accept", accept),
            server_row("srv.csv", "12:05:00", "TCP Receive", accept),
        ];
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(a.method, "inferred", "{}", a.note);
        assert!(
            a.note.contains("placed from RDS01.contoso.com's own"),
            "{}",
            a.note
        );
        assert!(a.note.contains("UTC+01:00"), "{}", a.note);
        assert_eq!(events[5].time.unwrap().to_string(), "2024-03-05T11:05:00Z");
        // The rows are the server's now: its clock estimate moves them with its events.
        assert_eq!(
            events[5].procmon().unwrap().computer.as_deref(),
            Some("RDS01.contoso.com")
        );
    }

    #[test]
    fn a_server_capture_nothing_lines_up_with_stays_unplaced_and_client_captures_are_not_taken() {
        let accept = "RDS01:ms-wbt-server -> 10.0.0.5:50123";
        let mut events = vec![
            server_event(261, "2024-03-05T09:14:02Z", "RDS01"),
            server_row("srv.csv", "10:21:40", "TCP Accept", accept),
        ];
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(a.method, "none", "{}", a.note);
        assert!(a.note.contains("stay unplaced"), "{}", a.note);
        assert!(events[1].time.is_none());
        // A capture with mstsc rows is the client's: placed from the client's events only.
        let mut events = vec![
            server_event(261, "2024-03-05T09:14:02Z", "RDS01"),
            server_row("c.csv", "10:14:02", "TCP Accept", accept),
            tcp("10:14:05", "TCP Reconnect"),
        ];
        if let EventKind::Procmon(p) = &mut events[2].kind {
            p.process = "mstsc.exe".into();
        }
        events[2].file = Arc::from("c.csv");
        let a = align(&mut events, AlignHints::default(), Domain::builtin());
        assert_eq!(a.method, "none", "{}", a.note);
        assert!(events[1].time.is_none());
    }
}
