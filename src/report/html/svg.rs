//! An inline SVG swimlane timeline around one 0x904: a lane each for the client, the server,
//! the gateway and Procmon; each piece of evidence a mark sized and filled by its strength,
//! with a `<title>` a browser shows on hover; the connection's phases shaded when the events
//! are at hand. Only presentation attributes and classes (no `style` attribute), so the
//! page's CSP needs no allowance for them.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::model::{Event, EventKind};
use crate::report::schema::{DisconnectOut, FindingOut, ScanReport};
use crate::sanitize::html as esc;
use crate::units::{offset_words, span_words, time_ms};

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
            EventKind::Registry(_) | EventKind::Acl(_) => Lane::Server,
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

/// Draw the timeline of the `n`th 0x904 (`d`) into `p`.
pub fn timeline(
    p: &mut String,
    r: &ScanReport,
    d: &DisconnectOut,
    n: usize,
    index: Option<&Index<'_>>,
) {
    let heading = format!(
        "0x904 #{n}: {} → {}, {} UTC",
        d.computer,
        d.server.as_deref().unwrap_or("?"),
        d.time.as_deref().map_or("time unknown".into(), time_ms)
    );
    p.push_str(&format!(
        "<figure class=\"timeline\" id=\"timeline-{n}\">\n<figcaption>{}</figcaption>\n",
        esc(&heading)
    ));
    let Some(anchor) = ts(d.time.as_deref()) else {
        p.push_str("<p>This disconnect has no time: nothing can be placed around it.</p>\n");
        svg_open(p, n, 1.0, &heading);
        p.push_str("</svg>\n</figure>\n");
        return;
    };
    // Evidence with a time, relative to this 0x904.
    let marks: Vec<(f64, Lane, &FindingOut)> = r
        .causes
        .iter()
        .flat_map(|c| &c.findings)
        .filter_map(|f| Some((secs(anchor, ts(f.time.as_deref())?), f)))
        .map(|(s, f)| (s, lane(f, &d.computer, index), f))
        .collect();
    // The window: two minutes before to thirty seconds after, widened to the evidence counted
    // as next to a 0x904, never past an hour either way.
    let mut lo = -120.0_f64;
    let mut hi = 30.0_f64;
    for (s, _, f) in &marks {
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
    // The 0x904 itself, and other disconnects in the window.
    for other in &r.disconnects {
        let Some(t) = ts(other.time.as_deref()) else {
            continue;
        };
        let s = secs(anchor, t);
        if s < lo || s > hi {
            continue;
        }
        let this = std::ptr::eq(other, d);
        let title = format!(
            "{} {} at {} UTC: {}",
            if this { "this" } else { "another" },
            other.hex,
            other.time.as_deref().map_or("?".into(), time_ms),
            other.meaning
        );
        p.push_str(&format!(
            "<g class=\"{}\"><line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>\
             <title>{}</title></g>\n",
            if this { "anchor" } else { "disconnect" },
            esc(&title),
            x = x(s),
        ));
    }
    let mut outside = 0u64;
    let mut drawn: Vec<&(f64, Lane, &FindingOut)> = marks.iter().collect();
    // Weaker marks first, so the strong ones are drawn on top.
    drawn.sort_by_key(|(_, _, f)| std::cmp::Reverse(rank(&f.effective_strength)));
    for (s, lane, f) in drawn {
        if *s < lo || *s > hi {
            outside += 1;
            continue;
        }
        let li = LANES.iter().position(|(l, _)| l == lane).unwrap_or(1);
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
            x(*s),
            esc(&format!(
                "{} ({} evidence, rule {}), {} UTC, {}: {}",
                f.title,
                f.effective_strength,
                f.rule,
                f.time.as_deref().map_or("?".into(), time_ms),
                offset_words(s.round() as i64),
                f.evidence
            ))
        ));
    }
    p.push_str("</svg>\n");
    let without_time = r
        .causes
        .iter()
        .flat_map(|c| &c.findings)
        .filter(|f| f.time.is_none())
        .count() as u64;
    if outside + without_time > 0 {
        p.push_str(&format!(
            "<p class=\"note\">Not drawn: {outside} outside this window ({} before to {} after), {without_time} without a time.</p>\n",
            span_words((-lo).max(0.0) as u64),
            span_words(hi.max(0.0) as u64)
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
