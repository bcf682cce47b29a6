//! The scenario text format: a readable description of one event log (`*.scenario` → `.evtx`)
//! or one Process Monitor capture (`*.procmon` → CSV), turned into the file's bytes. The
//! format is documented in `fixtures/tickets/README.md`. Everything is deterministic: times come
//! from the text, and the only randomness is a xorshift generator seeded by `seed`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::civil::Time;

use super::procmon::{DEFAULT_COLUMNS, ProcmonCsvRow, write_csv};
use super::{Body, Correlation, Data, Element, EvtxEvent, Node, Value, write_evtx};

/// A scenario that cannot be read: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A generated file: where it goes (relative to the scenario's folder) and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub output: PathBuf,
    pub bytes: Vec<u8>,
}

/// The events a `.scenario` describes, and its output name.
#[derive(Debug, Clone, PartialEq)]
pub struct EvtxScenario {
    pub output: PathBuf,
    pub events: Vec<EvtxEvent>,
}

/// The rows a `.procmon` scenario describes.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcmonScenario {
    pub output: PathBuf,
    pub columns: Vec<String>,
    pub rows: Vec<ProcmonCsvRow>,
}

/// Read the scenario at `path` (`.scenario` or `.procmon`) and produce its file.
pub fn generate(path: &Path) -> Result<Generated, ScenarioError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: name.clone(),
        line: 0,
        message: format!("cannot read: {e}"),
    })?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("procmon") => {
            let s = parse_procmon(&name, &text)?;
            Ok(Generated {
                output: s.output,
                bytes: write_csv(&s.columns, &s.rows),
            })
        }
        _ => {
            let s = parse_evtx(&name, &text)?;
            let bytes = write_evtx(&s.events).map_err(|e| ScenarioError {
                file: name,
                line: 0,
                message: e.to_string(),
            })?;
            Ok(Generated {
                output: s.output,
                bytes,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// One token: `value`, `key=value` (either side may be quoted) or punctuation.
#[derive(Debug, Clone, PartialEq)]
struct Tok {
    key: Option<String>,
    key_quoted: bool,
    value: String,
    value_quoted: bool,
    punct: Option<char>,
}

impl Tok {
    fn is_punct(&self, c: char) -> bool {
        self.punct == Some(c)
    }

    fn word(&self) -> Option<&str> {
        (self.key.is_none() && self.punct.is_none()).then_some(self.value.as_str())
    }
}

/// A logical line (a line and its indented continuation lines) as tokens.
struct Line {
    number: usize,
    toks: Vec<Tok>,
}

fn tokenize(text: &str, first_line: usize, file: &str) -> Result<Vec<Tok>, ScenarioError> {
    let mut toks = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut buf = String::new();
    let mut key: Option<(String, bool)> = None;
    let mut quoted = false;
    let mut started = false;
    let flush = |buf: &mut String,
                 key: &mut Option<(String, bool)>,
                 quoted: &mut bool,
                 started: &mut bool,
                 toks: &mut Vec<Tok>| {
        if *started {
            let (k, kq) = match key.take() {
                Some((k, q)) => (Some(k), q),
                None => (None, false),
            };
            toks.push(Tok {
                key: k,
                key_quoted: kq,
                value: std::mem::take(buf),
                value_quoted: *quoted,
                punct: None,
            });
        }
        *quoted = false;
        *started = false;
    };
    let punct = |c: char| Tok {
        key: None,
        key_quoted: false,
        value: c.to_string(),
        value_quoted: false,
        punct: Some(c),
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                started = true;
                quoted = true;
                i += 1;
                loop {
                    let Some(&q) = chars.get(i) else {
                        return Err(ScenarioError {
                            file: file.to_string(),
                            line: first_line,
                            message: "unterminated quoted string".into(),
                        });
                    };
                    i += 1;
                    match q {
                        '\\' if matches!(chars.get(i), Some('"' | '\\')) => {
                            buf.push(chars[i]);
                            i += 1;
                        }
                        '"' => break,
                        other => buf.push(other),
                    }
                }
                continue;
            }
            c if c.is_whitespace() => {
                flush(&mut buf, &mut key, &mut quoted, &mut started, &mut toks)
            }
            '#' if !started => break,
            '=' if key.is_none() && started => {
                key = Some((std::mem::take(&mut buf), quoted));
                quoted = false;
            }
            '[' if !started => toks.push(punct('[')),
            ']' | ',' => {
                flush(&mut buf, &mut key, &mut quoted, &mut started, &mut toks);
                toks.push(punct(c));
            }
            '{' | '}' if !started && chars.get(i + 1).is_none_or(|n| n.is_whitespace()) => {
                toks.push(punct(c))
            }
            _ => {
                started = true;
                buf.push(c);
            }
        }
        i += 1;
    }
    flush(&mut buf, &mut key, &mut quoted, &mut started, &mut toks);
    Ok(toks)
}

fn logical_lines(file: &str, text: &str) -> Result<Vec<Line>, ScenarioError> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let continues = raw.starts_with([' ', '\t']);
        match lines.last_mut() {
            Some((_, prev)) if continues => {
                prev.push(' ');
                prev.push_str(raw);
            }
            _ => lines.push((n + 1, raw.to_string())),
        }
    }
    lines
        .into_iter()
        .map(|(number, text)| {
            Ok(Line {
                number,
                toks: tokenize(&text, number, file)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Shared pieces: errors, times, durations, value templates

struct Ctx<'a> {
    file: &'a str,
    line: usize,
}

impl Ctx<'_> {
    fn err(&self, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            file: self.file.to_string(),
            line: self.line,
            message: message.into(),
        }
    }
}

/// A duration in 100 ns ticks: `250ms`, `3s`, `1.5s`, `2m`, `1h30m`, `0.0000001s`.
fn parse_duration(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let ticks_per: i64 = match unit {
            "ms" => 10_000,
            "s" => 10_000_000,
            "m" => 600_000_000,
            "h" => 36_000_000_000,
            "d" => 864_000_000_000,
            _ => return None,
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut value = int.checked_mul(ticks_per)?;
        let mut scale = ticks_per;
        for d in frac.chars() {
            scale /= 10;
            value += i64::from(d.to_digit(10)?) * scale;
        }
        total = total.checked_add(value)?;
        rest = tail;
    }
    Some(total)
}

fn add_ticks(t: Timestamp, ticks: i64) -> Option<Timestamp> {
    let span = jiff::SignedDuration::from_nanos(i64::checked_mul(ticks, 100)?);
    t.checked_add(span).ok()
}

/// xorshift64*: the only randomness, seeded by the scenario.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Expand `{i}`, `{i+N}`, `{rand:A-B}` and `{pick:a|b|c}` in a value; other braces stay.
fn expand(s: &str, i: u64, rng: &mut Rng) -> String {
    if !s.contains('{') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        let replaced = if inner == "i" {
            Some(i.to_string())
        } else if let Some(n) = inner.strip_prefix("i+").and_then(|n| n.parse::<u64>().ok()) {
            Some((i + n).to_string())
        } else if let Some((a, b)) = inner
            .strip_prefix("rand:")
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        {
            Some((a + rng.below(b.saturating_sub(a) + 1)).to_string())
        } else if let Some(choices) = inner.strip_prefix("pick:") {
            let options: Vec<&str> = choices.split('|').collect();
            Some(options[rng.below(options.len() as u64) as usize].to_string())
        } else {
            None
        };
        match replaced {
            Some(r) => out.push_str(&r),
            None => {
                out.push('{');
                out.push_str(inner);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A bare value with an optional type tag (`u32:5`, `hex32:0x8009030D`, `guid:{...}`); quoted
/// values are always strings.
fn typed_value(text: &str, quoted: bool, ctx: &Ctx<'_>) -> Result<Value, ScenarioError> {
    if quoted {
        return Ok(Value::Str(text.to_string()));
    }
    let Some((tag, v)) = text.split_once(':') else {
        return Ok(Value::Str(text.to_string()));
    };
    let bad = || ctx.err(format!("bad {tag} value: {v:?}"));
    let int = |v: &str| -> Option<u64> {
        match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => v.parse().ok(),
        }
    };
    Ok(match tag {
        "str" => Value::Str(v.to_string()),
        "u8" => Value::U8(int(v).and_then(|x| u8::try_from(x).ok()).ok_or_else(bad)?),
        "u16" => Value::U16(int(v).and_then(|x| u16::try_from(x).ok()).ok_or_else(bad)?),
        "u32" => Value::U32(int(v).and_then(|x| u32::try_from(x).ok()).ok_or_else(bad)?),
        "u64" => Value::U64(int(v).ok_or_else(bad)?),
        "i32" => Value::I32(v.parse().map_err(|_| bad())?),
        "i64" => Value::I64(v.parse().map_err(|_| bad())?),
        "hex32" => Value::Hex32(int(v).and_then(|x| u32::try_from(x).ok()).ok_or_else(bad)?),
        "hex64" => Value::Hex64(int(v).ok_or_else(bad)?),
        "bool" => Value::Bool(v.parse().map_err(|_| bad())?),
        "guid" => {
            super::parse_guid(v).map_err(|e| ctx.err(e.0))?;
            Value::Guid(v.to_string())
        }
        "sid" => {
            super::parse_sid(v).map_err(|e| ctx.err(e.0))?;
            Value::Sid(v.to_string())
        }
        "filetime" => {
            let t: Timestamp = v.parse().map_err(|_| bad())?;
            Value::FileTime(super::timestamp_to_filetime(t).map_err(|e| ctx.err(e.0))?)
        }
        "bin" => Value::Binary(parse_hex(v).ok_or_else(bad)?),
        _ => Value::Str(text.to_string()),
    })
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// How an event line or row gives its time.
enum When {
    After(i64),
    At(Timestamp),
}

fn parse_when(
    tok: &str,
    date: Option<jiff::civil::Date>,
    ctx: &Ctx<'_>,
) -> Result<When, ScenarioError> {
    if let Some(d) = tok.strip_prefix('+') {
        return parse_duration(d)
            .map(When::After)
            .ok_or_else(|| ctx.err(format!("bad relative time {tok:?}")));
    }
    if tok.contains('T') {
        return tok
            .parse::<Timestamp>()
            .map(When::At)
            .map_err(|e| ctx.err(format!("bad time {tok:?}: {e}")));
    }
    let time: Time = tok
        .parse()
        .map_err(|e| ctx.err(format!("bad time of day {tok:?}: {e}")))?;
    let date = date.ok_or_else(|| ctx.err("a time of day needs `start` first"))?;
    date.to_datetime(time)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| When::At(z.timestamp()))
        .map_err(|e| ctx.err(e.to_string()))
}

/// `repeat N every DUR [jitter DUR]` after the time: how many, the step and the jitter.
fn parse_repeat(toks: &[Tok], ctx: &Ctx<'_>) -> Result<(u64, i64, i64, usize), ScenarioError> {
    if toks.first().and_then(Tok::word) != Some("repeat") {
        return Ok((1, 0, 0, 0));
    }
    let count: u64 = toks
        .get(1)
        .and_then(Tok::word)
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| ctx.err("`repeat` needs a count"))?;
    if toks.get(2).and_then(Tok::word) != Some("every") {
        return Err(ctx.err("expected `repeat N every DURATION`"));
    }
    let step = toks
        .get(3)
        .and_then(Tok::word)
        .and_then(parse_duration)
        .ok_or_else(|| ctx.err("bad `every` duration"))?;
    if toks.get(4).and_then(Tok::word) == Some("jitter") {
        let jitter = toks
            .get(5)
            .and_then(Tok::word)
            .and_then(parse_duration)
            .ok_or_else(|| ctx.err("bad `jitter` duration"))?;
        return Ok((count, step, jitter, 6));
    }
    Ok((count, step, 0, 4))
}

// ---------------------------------------------------------------------------------------------
// Event-log scenarios

/// System options a line, a provider or `defaults` may set.
const OPTION_KEYS: [&str; 17] = [
    "level",
    "task",
    "opcode",
    "version",
    "keywords",
    "qualifiers",
    "provider",
    "guid",
    "source",
    "pid",
    "tid",
    "user",
    "activity",
    "computer",
    "channel",
    "binary",
    "correlation",
];

#[derive(Debug, Clone, Default)]
struct Options(HashMap<String, String>);

impl Options {
    fn merged(&self, over: &Options) -> Options {
        let mut m = self.0.clone();
        m.extend(over.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        Options(m)
    }
}

struct EvtxState {
    output: Option<PathBuf>,
    channel: String,
    computer: String,
    provider: Option<String>,
    providers: HashMap<String, Options>,
    defaults: Options,
    start: Option<Timestamp>,
    first_record: u64,
    rng: Rng,
}

/// Parse a `.scenario` (event log) text.
pub fn parse_evtx(file: &str, text: &str) -> Result<EvtxScenario, ScenarioError> {
    let mut st = EvtxState {
        output: None,
        channel: String::new(),
        computer: String::new(),
        provider: None,
        providers: HashMap::new(),
        defaults: Options::default(),
        start: None,
        first_record: 1,
        rng: Rng(0x9E37_79B9_7F4A_7C15),
    };
    let mut events: Vec<EvtxEvent> = Vec::new();
    let mut prev: Option<Timestamp> = None;
    for line in logical_lines(file, text)? {
        let ctx = Ctx {
            file,
            line: line.number,
        };
        let Some(head) = line.toks.first().and_then(Tok::word) else {
            return Err(ctx.err("a line must start with a directive or a time"));
        };
        let arg = |i: usize| -> Result<&str, ScenarioError> {
            line.toks
                .get(i)
                .filter(|t| t.key.is_none() && t.punct.is_none())
                .map(|t| t.value.as_str())
                .ok_or_else(|| ctx.err(format!("`{head}` needs a value")))
        };
        match head {
            "output" => st.output = Some(PathBuf::from(arg(1)?)),
            "channel" => st.channel = arg(1)?.to_string(),
            "computer" => st.computer = arg(1)?.to_string(),
            "zone" => {} // a note for readers: event times are UTC
            "seed" => {
                let seed: u64 = arg(1)?
                    .parse()
                    .map_err(|_| ctx.err("`seed` needs a number"))?;
                st.rng = Rng(seed.max(1));
            }
            "record" => {
                st.first_record = arg(1)?
                    .parse()
                    .map_err(|_| ctx.err("`record` needs a number"))?;
            }
            "start" => {
                let t: Timestamp = arg(1)?
                    .parse()
                    .map_err(|e| ctx.err(format!("bad `start`: {e}")))?;
                st.start = Some(t);
                prev = Some(t);
            }
            "provider" => {
                let name = arg(1)?.to_string();
                let opts = options(&line.toks[2..], &ctx, true)?;
                st.providers.insert(name.clone(), opts);
                st.provider = Some(name);
            }
            "defaults" => st.defaults = st.defaults.merged(&options(&line.toks[1..], &ctx, true)?),
            _ => {
                let date = st.start.map(|s| s.to_zoned(jiff::tz::TimeZone::UTC).date());
                let when = parse_when(head, date, &ctx)?;
                let rest = &line.toks[1..];
                let (count, step, jitter, skip) = parse_repeat(rest, &ctx)?;
                let mut t = match when {
                    When::At(t) => t,
                    When::After(d) => {
                        let base =
                            prev.ok_or_else(|| ctx.err("a relative time needs `start` first"))?;
                        add_ticks(base, d).ok_or_else(|| ctx.err("time out of range"))?
                    }
                };
                for i in 0..count {
                    if i > 0 {
                        let j = if jitter > 0 {
                            st.rng.below(jitter as u64) as i64
                        } else {
                            0
                        };
                        t = add_ticks(t, step + j).ok_or_else(|| ctx.err("time out of range"))?;
                    }
                    events.push(event_line(&mut st, &rest[skip..], t, i, &ctx)?);
                }
                prev = Some(t);
            }
        }
    }
    let output = st.output.ok_or_else(|| ScenarioError {
        file: file.to_string(),
        line: 0,
        message: "no `output` line".into(),
    })?;
    // A log holds its records in time order; ids follow that order.
    events.sort_by_key(|e| e.time);
    for (n, e) in events.iter_mut().enumerate() {
        e.record_id = st.first_record + n as u64;
    }
    Ok(EvtxScenario { output, events })
}

/// Only the system options (`key=value` with a reserved lowercase key).
fn options(toks: &[Tok], ctx: &Ctx<'_>, only: bool) -> Result<Options, ScenarioError> {
    let mut o = Options::default();
    for t in toks {
        match &t.key {
            Some(k) if !t.key_quoted && OPTION_KEYS.contains(&k.as_str()) => {
                o.0.insert(k.clone(), t.value.clone());
            }
            _ if only => return Err(ctx.err(format!("not a system option: {:?}", t.value))),
            _ => {}
        }
    }
    Ok(o)
}

fn event_line(
    st: &mut EvtxState,
    toks: &[Tok],
    time: Timestamp,
    i: u64,
    ctx: &Ctx<'_>,
) -> Result<EvtxEvent, ScenarioError> {
    let id_text = toks
        .first()
        .and_then(Tok::word)
        .ok_or_else(|| ctx.err("expected an event id after the time"))?;
    let event_id: u16 = id_text
        .parse()
        .map_err(|_| ctx.err(format!("bad event id {id_text:?}")))?;
    let toks = &toks[1..];
    let line_opts = options(toks, ctx, false)?;
    let provider = line_opts
        .0
        .get("provider")
        .cloned()
        .or_else(|| st.provider.clone())
        .ok_or_else(|| ctx.err("no provider: add a `provider` line or provider=..."))?;
    let provider_opts = st.providers.get(&provider).cloned().unwrap_or_default();
    let o = st.defaults.merged(&provider_opts).merged(&line_opts);
    let get = |k: &str| o.0.get(k).map(String::as_str);
    let num = |k: &str| -> Result<Option<u64>, ScenarioError> {
        match get(k) {
            None | Some("none") => Ok(None),
            Some(v) => {
                let parsed = match v.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).ok(),
                    None => v.parse().ok(),
                };
                parsed
                    .map(Some)
                    .ok_or_else(|| ctx.err(format!("bad {k}: {v:?}")))
            }
        }
    };
    let small = |k: &str, max: u64| -> Result<Option<u64>, ScenarioError> {
        match num(k)? {
            Some(v) if v > max => Err(ctx.err(format!("{k} {v} is too large"))),
            other => Ok(other),
        }
    };
    let mut ev = EvtxEvent::new(
        get("channel").unwrap_or(&st.channel),
        &provider,
        event_id,
        time,
    );
    ev.computer = get("computer").unwrap_or(&st.computer).to_string();
    ev.provider_guid = get("guid").filter(|g| *g != "none").map(str::to_string);
    ev.event_source_name = get("source").filter(|g| *g != "none").map(str::to_string);
    ev.qualifiers = small("qualifiers", 0xFFFF)?.map(|v| v as u16);
    ev.version = match get("version") {
        None => Some(0),
        Some(_) => small("version", 0xFF)?.map(|v| v as u8),
    };
    ev.level = small("level", 0xFF)?.map(|v| v as u8);
    ev.task = match get("task") {
        None => Some(0),
        Some(_) => small("task", 0xFFFF)?.map(|v| v as u16),
    };
    ev.opcode = match get("opcode") {
        None => Some(0),
        Some(_) => small("opcode", 0xFF)?.map(|v| v as u8),
    };
    ev.keywords = match get("keywords") {
        None => Some(0x8000_0000_0000_0000),
        Some(_) => num("keywords")?,
    };
    ev.correlation = match (get("activity"), get("correlation")) {
        (Some(a), _) if a != "none" => {
            let a = expand(a, i, &mut st.rng);
            super::parse_guid(&a).map_err(|e| ctx.err(e.0))?;
            Correlation::Activity(a)
        }
        (_, Some("none")) => Correlation::Omitted,
        _ => Correlation::Empty,
    };
    ev.execution = match (get("pid"), get("tid")) {
        (Some("none"), _) | (None, None) => None,
        _ => {
            let mut field = |k: &str| -> Result<u32, ScenarioError> {
                let v = expand(get(k).unwrap_or("0"), i, &mut st.rng);
                v.parse().map_err(|_| ctx.err(format!("bad {k}: {v:?}")))
            };
            Some((field("pid")?, field("tid")?))
        }
    };
    ev.user_id = match get("user") {
        None | Some("none") => None,
        Some(sid) => {
            super::parse_sid(sid).map_err(|e| ctx.err(e.0))?;
            Some(sid.to_string())
        }
    };
    let binary = match get("binary") {
        None => None,
        Some(h) => {
            Some(parse_hex(&expand(h, i, &mut st.rng)).ok_or_else(|| ctx.err("bad binary hex"))?)
        }
    };

    // The body: named pairs, `data: [...]`, or `userdata Wrapper ... { ... }`.
    let mut data = Vec::new();
    let mut user: Option<Element> = None;
    let mut k = 0;
    while k < toks.len() {
        let t = &toks[k];
        if let Some(key) = &t.key {
            if t.key_quoted || !OPTION_KEYS.contains(&key.as_str()) {
                let v = expand(&t.value, i, &mut st.rng);
                data.push(Data {
                    name: Some(key.clone()),
                    value: typed_value(&v, t.value_quoted, ctx)?,
                });
            }
            k += 1;
            continue;
        }
        match t.word() {
            Some("data:") => {
                k += 1;
                if !toks.get(k).is_some_and(|t| t.is_punct('[')) {
                    return Err(ctx.err("expected `[` after `data:`"));
                }
                k += 1;
                loop {
                    let Some(t) = toks.get(k) else {
                        return Err(ctx.err("unclosed `data: [`"));
                    };
                    k += 1;
                    if t.is_punct(']') {
                        break;
                    }
                    if t.is_punct(',') {
                        continue;
                    }
                    if t.punct.is_some() || t.key.is_some() {
                        return Err(ctx.err("expected a value in `data: [...]`"));
                    }
                    let v = expand(&t.value, i, &mut st.rng);
                    data.push(Data {
                        name: None,
                        value: typed_value(&v, t.value_quoted, ctx)?,
                    });
                }
            }
            Some("userdata") => {
                k += 1;
                let (e, used) = user_element(&toks[k..], i, &mut st.rng, ctx)?;
                user = Some(e);
                k += used;
            }
            _ => return Err(ctx.err(format!("unexpected {:?}", t.value))),
        }
    }
    ev.body = match user {
        Some(u) if data.is_empty() && binary.is_none() => Body::UserData(u),
        Some(_) => return Err(ctx.err("an event has EventData or UserData, not both")),
        None => Body::EventData { data, binary },
    };
    Ok(ev)
}

/// `Name attr=v ... { Leaf=v Child attr=v { ... } }` → the element and the tokens used.
fn user_element(
    toks: &[Tok],
    i: u64,
    rng: &mut Rng,
    ctx: &Ctx<'_>,
) -> Result<(Element, usize), ScenarioError> {
    let name = toks
        .first()
        .and_then(Tok::word)
        .ok_or_else(|| ctx.err("expected an element name"))?;
    let mut e = Element::new(name);
    let mut k = 1;
    while let Some(t) = toks.get(k) {
        match &t.key {
            Some(a) => {
                let v = expand(&t.value, i, rng);
                let v = if a == "xmlns" {
                    Value::Str(v)
                } else {
                    typed_value(&v, t.value_quoted, ctx)?
                };
                e.attributes.push((a.clone(), v));
                k += 1;
            }
            None if t.is_punct('{') => {
                k += 1;
                break;
            }
            None => return Err(ctx.err(format!("expected `{{` after element {name}"))),
        }
    }
    loop {
        let Some(t) = toks.get(k) else {
            return Err(ctx.err(format!("unclosed element {name}")));
        };
        if t.is_punct('}') {
            return Ok((e, k + 1));
        }
        if let Some(key) = &t.key {
            let v = expand(&t.value, i, rng);
            e.children.push(Node::Element(Element::leaf(
                key,
                typed_value(&v, t.value_quoted, ctx)?,
            )));
            k += 1;
            continue;
        }
        let (child, used) = user_element(&toks[k..], i, rng, ctx)?;
        e.children.push(Node::Element(child));
        k += used;
    }
}

// ---------------------------------------------------------------------------------------------
// Process Monitor scenarios

/// Parse a `.procmon` text.
pub fn parse_procmon(file: &str, text: &str) -> Result<ProcmonScenario, ScenarioError> {
    let mut output = None;
    let mut columns: Vec<String> = DEFAULT_COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut base: Option<Timestamp> = None;
    let mut prev: Option<Timestamp> = None;
    let mut rows: Vec<(Timestamp, Vec<String>)> = Vec::new();
    let day = jiff::civil::date(2000, 1, 1);
    for line in logical_lines(file, text)? {
        let ctx = Ctx {
            file,
            line: line.number,
        };
        let Some(head) = line.toks.first().and_then(Tok::word) else {
            return Err(ctx.err("a line must start with a directive or a time"));
        };
        match head {
            "output" => {
                output = line.toks.get(1).map(|t| PathBuf::from(&t.value));
            }
            "date" | "zone" => {} // notes for readers: Procmon CSV has local time of day only
            "seed" => {
                let seed: u64 = line
                    .toks
                    .get(1)
                    .and_then(|t| t.value.parse().ok())
                    .ok_or_else(|| ctx.err("`seed` needs a number"))?;
                rng = Rng(seed.max(1));
            }
            "columns" => {
                columns = line.toks[1..].iter().map(|t| t.value.clone()).collect();
                if columns.first().map(String::as_str) != Some("Time of Day") {
                    return Err(ctx.err("the first column must be \"Time of Day\""));
                }
            }
            "start" => {
                let t: Time = line
                    .toks
                    .get(1)
                    .and_then(|t| t.value.parse().ok())
                    .ok_or_else(|| ctx.err("`start` needs a local time of day"))?;
                let ts = civil_ts(day, t, &ctx)?;
                base = Some(ts);
                prev = Some(ts);
            }
            _ => {
                let when = parse_when(head, None, &ctx).or_else(|_| {
                    let t: Time = head
                        .parse()
                        .map_err(|_| ctx.err(format!("bad time {head:?}")))?;
                    civil_ts(day, t, &ctx).map(When::At)
                })?;
                let rest = &line.toks[1..];
                let (count, step, jitter, skip) = parse_repeat(rest, &ctx)?;
                let mut t = match when {
                    When::At(t) => t,
                    When::After(d) => {
                        let b = prev
                            .or(base)
                            .ok_or_else(|| ctx.err("a relative time needs `start` first"))?;
                        add_ticks(b, d).ok_or_else(|| ctx.err("time out of range"))?
                    }
                };
                let fields = &rest[skip..];
                if fields.len() > columns.len() - 1 {
                    return Err(ctx.err(format!(
                        "{} values for {} columns after Time of Day",
                        fields.len(),
                        columns.len() - 1
                    )));
                }
                for i in 0..count {
                    if i > 0 {
                        let j = if jitter > 0 {
                            rng.below(jitter as u64) as i64
                        } else {
                            0
                        };
                        t = add_ticks(t, step + j).ok_or_else(|| ctx.err("time out of range"))?;
                    }
                    let mut values: Vec<String> = fields
                        .iter()
                        .map(|f| {
                            let raw = match &f.key {
                                Some(k) => format!("{k}={}", f.value),
                                None => f.value.clone(),
                            };
                            expand(&raw, i, &mut rng)
                        })
                        .collect();
                    values.resize(columns.len() - 1, String::new());
                    rows.push((t, values));
                }
                prev = Some(t);
            }
        }
    }
    let output = output.ok_or_else(|| ScenarioError {
        file: file.to_string(),
        line: 0,
        message: "no `output` line".into(),
    })?;
    rows.sort_by_key(|(t, _)| *t);
    let rows = rows
        .into_iter()
        .map(|(t, fields)| ProcmonCsvRow {
            time: t.to_zoned(jiff::tz::TimeZone::UTC).time(),
            fields,
        })
        .collect();
    Ok(ProcmonScenario {
        output,
        columns,
        rows,
    })
}

fn civil_ts(day: jiff::civil::Date, t: Time, ctx: &Ctx<'_>) -> Result<Timestamp, ScenarioError> {
    day.to_datetime(t)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|e| ctx.err(e.to_string()))
}
