//! An inline SVG swimlane timeline around one 0x904: a lane each for the client, the server,
//! the gateway and Procmon; each piece of evidence a mark sized and filled by its strength,
//! with a `<title>` a browser shows on hover; the connection's phases shaded when the events
//! are at hand. Only presentation attributes and classes (no `style` attribute), so the
//! page's CSP needs no allowance for them.
//!
//! Bounded whatever the logs hold: at most [`MAX_TIMELINES`] swimlanes, each with at most
//! [`MAX_LINES`] disconnect lines and [`MAX_MARKS`] marks, and no tooltip longer than
//! [`TIP_CHARS`] characters (the whole text is in the page's lists and JSON, once). A log of
//! thousands of 0x904s within seconds of each other, or one event of megabytes, no longer
//! multiplies into a page of hundreds of megabytes.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::model::{Event, EventKind};
use crate::report::schema::{DisconnectOut, FindingOut, ScanReport};
use crate::sanitize::html as esc;
use crate::units::{count, offset_words, span_words, time_ms};

/// Where a mark is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    Client,
    Server,
    Gateway,
    Procmon,
}

const LANES: [(Lane, &str); 4] = [
    (Lane::Client, "client"),
    (Lane::Server, "server"),
    (Lane::Gateway, "gateway"),
    (Lane::Procmon, "Procmon"),
];

const WIDTH: f64 = 960.0;
const LEFT: f64 = 96.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 28.0;
const LANE_H: f64 = 44.0;
/// The window never reaches further than this from the 0x904.
const MAX_REACH: i64 = 3600;
/// The most 0x904s drawn, the first in time order; the page says how many more there are
/// (its Disconnects table and JSON list them all).
pub const MAX_TIMELINES: usize = 25;
/// The most disconnect lines one swimlane draws: its own 0x904 and the others nearest to it.
const MAX_LINES: usize = 200;
/// The most evidence marks one swimlane draws: the strongest.
const MAX_MARKS: usize = 200;
/// The most characters of one tooltip (a `<title>`) or heading; the rest is cut in the middle.
const TIP_CHARS: usize = 600;

type Index<'a> = HashMap<(&'a str, u64), &'a Event>;

/// The lane of a finding: from its event when known, else from its source and text.
fn lane(f: &FindingOut, client: &str, index: Option<&Index<'_>>) -> Lane {
    if let Some(e) = index.and_then(|ix| ix.get(&(f.file.as_str(), f.record))) {
        return match &e.kind {
            EventKind::Procmon(_) => Lane::Procmon,
            // Which providers are a gateway's is the rule pack's domain declaration.
            EventKind::Win(w)
                if crate::rules::Domain::builtin().side_of(&w.provider)
                    == Some(crate::rules::Side::Gateway) =>
            {
                Lane::Gateway
            }
            EventKind::Win(w) if w.computer.eq_ignore_ascii_case(client) => Lane::Client,
            EventKind::Win(_) => Lane::Server,
            // Exported configuration: on the side whose bundle it came from (bundles name the
            // short host name, events the full one).
            EventKind::Registry(r) if same_host(&r.computer, client) => Lane::Client,
            EventKind::Acl(a) if same_host(&a.computer, client) => Lane::Client,
            EventKind::Socket(k) if same_host(&k.computer, client) => Lane::Client,
            EventKind::Registry(_) | EventKind::Acl(_) | EventKind::Socket(_) => Lane::Server,
        };
    }
    if f.source == "procmon" {
        Lane::Procmon
    } else if f.rule.starts_with("gw-") || f.title.contains("Gateway") {
        Lane::Gateway
    } else if !client.is_empty() && f.evidence.contains(client) {
        Lane::Client
    } else {
        Lane::Server
    }
}

/// `RDS01` and `RDS01.contoso.com` name the same host.
fn same_host(short: &str, full: &str) -> bool {
    !short.is_empty()
        && (short.eq_ignore_ascii_case(full)
            || full
                .split('.')
                .next()
                .is_some_and(|h| h.eq_ignore_ascii_case(short)))
}

fn ts(text: Option<&str>) -> Option<Timestamp> {
    text?.parse().ok()
}

/// Seconds (with milliseconds) from `anchor` to `t`.
fn secs(anchor: Timestamp, t: Timestamp) -> f64 {
    t.duration_since(anchor).as_secs_f64()
}

/// `text` for a tooltip or heading: when longer than [`TIP_CHARS`], its start and end around
/// the count of what was cut. Still to be escaped ([`esc`]), as any text from a log.
fn tip(text: &str) -> String {
    let head = TIP_CHARS * 3 / 4;
    crate::report::style::cut_middle(text, TIP_CHARS, head, TIP_CHARS - head, |left_out| {
        format!(
            " [… {left_out} characters not shown here: the lists below and the JSON have them …] "
        )
    })
}

/// What every swimlane of a page reads, worked out once: the disconnects' times, the
/// evidence with a time, and how much has none.
pub struct Shared<'a> {
    index: Option<&'a Index<'a>>,
    /// The time of each of the report's disconnects, in its order.
    times: Vec<Option<Timestamp>>,
    /// Every finding with a time.
    timed: Vec<(Timestamp, &'a FindingOut)>,
    without_time: u64,
}

impl<'a> Shared<'a> {
    pub fn new(r: &'a ScanReport, index: Option<&'a Index<'a>>) -> Self {
        let findings = || r.causes.iter().flat_map(|c| &c.findings);
        Shared {
            index,
            times: r
                .disconnects
                .iter()
                .map(|d| ts(d.time.as_deref()))
                .collect(),
            timed: findings()
                .filter_map(|f| Some((ts(f.time.as_deref())?, f)))
                .collect(),
            without_time: findings().filter(|f| f.time.is_none()).count() as u64,
        }
    }
}

/// Draw the timeline of the `n`th 0x904 (`d`, the report's `at`th disconnect) into `p`.
pub fn timeline(p: &mut String, r: &ScanReport, at: usize, n: usize, shared: &Shared<'_>) {
    let d = &r.disconnects[at];
    let index = shared.index;
    let heading = tip(&format!(
        "0x904 #{n}: {} → {}, {} UTC",
        d.computer,
        d.server.as_deref().unwrap_or("?"),
        d.time.as_deref().map_or("time unknown".into(), time_ms)
    ));
    p.push_str(&format!(
        "<figure class=\"timeline\" id=\"timeline-{n}\">\n<figcaption>{}</figcaption>\n",
        esc(&heading)
    ));
    let Some(anchor) = shared.times[at] else {
        p.push_str("<p>This disconnect has no time: nothing can be placed around it.</p>\n");
        svg_open(p, n, 1.0, &heading);
        p.push_str("</svg>\n</figure>\n");
        return;
    };
    // Evidence with a time, relative to this 0x904.
    let marks: Vec<(f64, &FindingOut)> = shared
        .timed
        .iter()
        .map(|(t, f)| (secs(anchor, *t), *f))
        .collect();
    // The window: two minutes before to thirty seconds after, widened to the evidence counted
    // as next to a 0x904, never past an hour either way.
    let mut lo = -120.0_f64;
    let mut hi = 30.0_f64;
    for (s, f) in &marks {
        if f.near_anchor && s.abs() <= MAX_REACH as f64 {
            lo = lo.min(s - 10.0);
            hi = hi.max(s + 10.0);
        }
    }
    let x = |s: f64| LEFT + (s - lo) / (hi - lo) * (WIDTH - LEFT - RIGHT);
    let height = TOP + LANE_H * LANES.len() as f64 + 24.0;
    svg_open(p, n, height, &heading);
    // Lanes.
    for (i, (_, name)) in LANES.iter().enumerate() {
        let y = TOP + LANE_H * i as f64;
        p.push_str(&format!(
            "<rect class=\"lane{}\" x=\"{LEFT}\" y=\"{y}\" width=\"{:.1}\" height=\"{LANE_H}\"/>\
             <text class=\"lane-name\" x=\"8\" y=\"{:.1}\">{name}</text>\n",
            i % 2,
            WIDTH - LEFT - RIGHT,
            y + LANE_H / 2.0 + 4.0
        ));
    }
    let bottom = TOP + LANE_H * LANES.len() as f64;
    phases(p, d, anchor, lo, hi, &x);
    // Ticks: five, labelled as offsets from the 0x904.
    for k in 0..=4 {
        let s = lo + (hi - lo) * f64::from(k) / 4.0;
        let label = if s.abs() < 0.5 {
            "0x904".to_string()
        } else {
            offset_words(s.round() as i64)
        };
        p.push_str(&format!(
            "<line class=\"tick\" x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{bottom}\"/>\
             <text class=\"tick-label\" x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"{3}\">{2}</text>\n",
            x(s),
            bottom + 16.0,
            esc(&label),
            match k {
                0 => "start",
                4 => "end",
                _ => "middle",
            }
        ));
    }
    // The 0x904 itself, and the other disconnects in the window nearest to it.
    let mut lines: Vec<(usize, f64)> = shared
        .times
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Some((i, secs(anchor, (*t)?))))
        .filter(|(_, s)| *s >= lo && *s <= hi)
        .collect();
    let mut lines_left_out = 0;
    if lines.len() > MAX_LINES {
        lines_left_out = lines.len() - MAX_LINES;
        lines.sort_by(|a, b| {
            (a.0 != at)
                .cmp(&(b.0 != at))
                .then(a.1.abs().total_cmp(&b.1.abs()))
                .then(a.0.cmp(&b.0))
        });
        lines.truncate(MAX_LINES);
        lines.sort_by_key(|(i, _)| *i);
    }
    for (i, s) in lines {
        let other = &r.disconnects[i];
        let this = i == at;
        let title = tip(&format!(
            "{} {} at {} UTC: {}",
            if this { "this" } else { "another" },
            other.hex,
            other.time.as_deref().map_or("?".into(), time_ms),
            other.meaning
        ));
        p.push_str(&format!(
            "<g class=\"{}\"><line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>\
             <title>{}</title></g>\n",
            if this { "anchor" } else { "disconnect" },
            esc(&title),
            x = x(s),
        ));
    }
    let mut drawn: Vec<(f64, &FindingOut)> = marks
        .iter()
        .copied()
        .filter(|(s, _)| *s >= lo && *s <= hi)
        .collect();
    let outside = (marks.len() - drawn.len()) as u64;
    // Weaker marks first, so the strong ones are drawn on top (a stable sort: in the report's
    // order within a strength); past the cap, the weakest are left out.
    drawn.sort_by_key(|(_, f)| std::cmp::Reverse(rank(&f.effective_strength)));
    let marks_left_out = drawn.len().saturating_sub(MAX_MARKS);
    for (s, f) in drawn.into_iter().skip(marks_left_out) {
        let lane = lane(f, &d.computer, index);
        let li = LANES.iter().position(|(l, _)| *l == lane).unwrap_or(1);
        let cy = TOP + LANE_H * li as f64 + LANE_H / 2.0;
        let strength = strength_class(&f.effective_strength);
        let r = match strength {
            "strong" => 8.0,
            "moderate" => 6.5,
            "weak" => 5.0,
            _ => 4.0,
        };
        p.push_str(&format!(
            "<circle class=\"mark {strength}\" cx=\"{:.1}\" cy=\"{cy:.1}\" r=\"{r}\"><title>{}</title></circle>\n",
            x(s),
            esc(&tip(&format!(
                "{} ({} evidence, rule {}), {} UTC, {}: {}",
                f.title,
                f.effective_strength,
                f.rule,
                f.time.as_deref().map_or("?".into(), time_ms),
                offset_words(s.round() as i64),
                f.evidence
            )))
        ));
    }
    p.push_str("</svg>\n");
    let without_time = shared.without_time;
    if outside + without_time > 0 {
        p.push_str(&format!(
            "<p class=\"note\">Not drawn: {outside} outside this window ({} before to {} after), {without_time} without a time.</p>\n",
            span_words((-lo).max(0.0) as u64),
            span_words(hi.max(0.0) as u64)
        ));
    }
    if lines_left_out > 0 {
        p.push_str(&format!(
            "<p class=\"note\">Too many to draw: this 0x904 and the {} other disconnects nearest to it are drawn, {} more in this window are not.</p>\n",
            MAX_LINES - 1,
            lines_left_out
        ));
    }
    if marks_left_out > 0 {
        p.push_str(&format!(
            "<p class=\"note\">Too many to draw: the {MAX_MARKS} strongest marks are drawn, {} not.</p>\n",
            count(marks_left_out as u64, "weaker one is", "weaker ones are")
        ));
    }
    p.push_str("</figure>\n");
}

fn rank(strength: &str) -> u8 {
    match strength {
        "strong" => 0,
        "moderate" => 1,
        "weak" => 2,
        _ => 3,
    }
}

fn strength_class(strength: &str) -> &'static str {
    match strength {
        "strong" => "strong",
        "moderate" => "moderate",
        "weak" => "weak",
        _ => "context",
    }
}

fn svg_open(p: &mut String, n: usize, height: f64, label: &str) {
    p.push_str(&format!(
        "<svg class=\"swimlanes\" id=\"svg-{n}\" xmlns=\"http://www.w3.org/2000/svg\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n",
        esc(label),
        esc(label)
    ));
}

/// Shade the connection that ended in this 0x904, as analysis grouped it: connecting (its
/// start to its logon) and connected (logon to the disconnect).
fn phases(
    p: &mut String,
    d: &DisconnectOut,
    anchor: Timestamp,
    lo: f64,
    hi: f64,
    x: &dyn Fn(f64) -> f64,
) {
    let at = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map(|t| secs(anchor, t))
            .filter(|s| *s <= 0.0)
    };
    let connect = at(&d.connection_start);
    let connected = at(&d.logon).filter(|k| connect.is_some_and(|c| *k >= c));
    let bottom = TOP + LANE_H * LANES.len() as f64;
    let mut band = |from: f64, to: f64, class: &str, what: &str| {
        let (a, b) = (from.max(lo), to.min(hi));
        if b <= a {
            return;
        }
        p.push_str(&format!(
            "<rect class=\"phase {class}\" x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>\n",
            x(a),
            x(b) - x(a),
            bottom - TOP,
            esc(what)
        ));
    };
    match (connect, connected) {
        (Some(c), Some(k)) => {
            band(c, k, "connecting", "connecting (connection start to logon)");
            band(k, 0.0, "connected", "connected (logon to the disconnect)");
        }
        (Some(c), None) => band(
            c,
            0.0,
            "connecting",
            "connecting: no logon, the connection never completed",
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ticket's report with its first 0x904 repeated `anchors` times a millisecond apart
    /// (every one in every other's window) and its first timed finding's evidence `evidence`
    /// characters long, and the HTML page of it.
    fn page(anchors: usize, evidence: usize) -> (ScanReport, String) {
        let mut r: ScanReport =
            serde_json::from_str(include_str!("../../../tests/golden/certificate.scan.json"))
                .expect("the golden report reads back");
        let first = r.disconnects.iter().find(|d| d.is_0x904).unwrap().clone();
        let t0: Timestamp = first.time.as_deref().unwrap().parse().unwrap();
        r.disconnects = (0..anchors)
            .map(|i| DisconnectOut {
                time: Some((t0 + jiff::SignedDuration::from_millis(i as i64)).to_string()),
                record: i as u64,
                ..first.clone()
            })
            .collect();
        let f = r
            .causes
            .iter_mut()
            .flat_map(|c| &mut c.findings)
            .find(|f| f.time.is_some())
            .unwrap();
        f.evidence = format!("<b>start{}end</b>", "x".repeat(evidence));
        let mut out = Vec::new();
        super::super::write(&mut out, &r).unwrap();
        (r, String::from_utf8(out).unwrap())
    }

    /// Thousands of 0x904s at once and a megabyte of evidence: the page grows with the report,
    /// not with anchors × marks (it was 2000 swimlanes of 2000 lines each, and the evidence
    /// in full in every one).
    #[test]
    fn many_anchors_and_long_evidence_stay_linear() {
        let (r, html) = page(1000, 1_000_000);
        let json = crate::report::json::to_string(&r).unwrap();
        assert!(
            html.len() < 3 * json.len() + 1_000_000,
            "{} bytes of HTML for {} of JSON",
            html.len(),
            json.len()
        );
        assert_eq!(
            html.matches("<figure class=\"timeline\"").count(),
            MAX_TIMELINES
        );
        assert!(html.contains(&format!(
            "Drawn: the first {MAX_TIMELINES} of 1000 0x904 disconnects"
        )));
        assert!(html.contains(&format!(
            "this 0x904 and the {} other disconnects nearest to it are drawn, {} more",
            MAX_LINES - 1,
            1000 - MAX_LINES
        )));
        // The whole evidence twice: the cause's evidence list and the JSON; in a mark, cut,
        // and still escaped.
        let whole = "x".repeat(1_000_000);
        assert_eq!(html.matches(&whole).count(), 2);
        let mark = html
            .split("<circle ")
            .skip(1)
            .find(|m| m.contains("&lt;b&gt;start"))
            .unwrap();
        let title = &mark[mark.find("<title>").unwrap()..mark.find("</title>").unwrap()];
        assert!(
            title.contains("&lt;b&gt;startxxx") && title.ends_with("xxxend&lt;/b&gt;"),
            "{title}"
        );
        assert!(title.contains("characters not shown here"), "{title}");
        assert!(title.chars().count() < TIP_CHARS + 200, "{title}");
        assert!(!html.contains("<b>start"));
    }

    /// An ordinary ticket's page is drawn in full: no cap is reached, nothing is cut.
    #[test]
    fn an_ordinary_report_is_drawn_in_full() {
        let (_, html) = page(3, 200);
        assert_eq!(html.matches("<figure class=\"timeline\"").count(), 3);
        assert_eq!(html.matches(&"x".repeat(200)).count(), 3 + 2);
        assert!(!html.contains("Too many to draw") && !html.contains("not shown here"));
    }
}
