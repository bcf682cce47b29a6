//! Evidence templates: `"Schannel {event_id}: alert {data.AlertDesc} on {computer}"`.
//!
//! A placeholder is a field name in braces, resolved when the rule is loaded (an unknown field is
//! a load-time error, like in a condition). Names after `data.`, `detail.` and `column.` may be
//! written bare even with spaces (`{data.Error Code}`) or quoted (`{data."Error Code"}`). `{{`
//! and `}}` are literal braces. A field the event does not have renders as `-`.
//!
//! `{field|seconds}` renders a whole number of seconds as people say a length of time
//! (`5405` → `1 h 30 min`); a value that is not one renders as it is.
//!
//! `{field|tls_alert}` renders a TLS alert number with its name from RFC 8446 and RFC 5246
//! (`70` → `70 (protocol_version)`); a number not named there renders as it is.
//!
//! `{field|server_reason}` renders a server disconnect reason code with its meaning from the
//! domain's `server reason` table (`258` → `258 (licensing: no license available)`); a code
//! the table does not name renders as it is.
//!
//! `{field|error}` renders an error code with its name from the domain's `error` table
//! (`0x80072746` → `0x80072746 (WSAECONNRESET: …)`). The code may be written in decimal, in hex
//! with `0x`, as a negative decimal (its two's complement) or as eight hex digits with the high
//! bit set and no prefix (CAPI2's `800B0109`); a code past 16 bits is written in hex whatever
//! its form, as Microsoft's documentation writes it. An HRESULT wrapping a Win32 or Winsock code
//! (`0x8007xxxx`) is named from the code it wraps when the table has no entry of its own.
//!
//! `{?text {field}...}` is an optional group: its text and fields are written only when every
//! field in it has a value (`"held by {process}{?, service {service}}"`), else nothing of it.
//! Groups do not nest.
//!
//! `{field|systemtime N}` renders the `N`th SYSTEMTIME (from 0) of binary data written in hex
//! (EventLog 6008's) as `2012-04-06 13:59:13`; data that holds none renders as `-`.

use super::error::ErrorKind;
use super::fields::{Field, PREFIXES};
use crate::model::Event;

/// What a missing field renders as.
pub const MISSING: &str = "-";

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    text: String,
    parts: Vec<Part>,
    /// The domain's tables of codes, once the rule set binds them ([`Template::bind_tables`]);
    /// only a template with a `server_reason` or `error` part keeps them.
    tables: Option<std::sync::Arc<CodeTables>>,
}

/// The domain's tables of documented codes that evidence templates name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodeTables {
    /// Server disconnect reasons (`server reason`).
    pub reasons: Vec<(u64, String)>,
    /// Error codes (`error`).
    pub errors: Vec<(u64, String)>,
}

impl CodeTables {
    /// The meaning of server disconnect reason `n`.
    pub(crate) fn reason(&self, n: u64) -> Option<&str> {
        find(&self.reasons, n)
    }

    /// The name of error `n`, or of the Win32 code a `0x8007xxxx` HRESULT wraps.
    fn error(&self, n: u64) -> Option<&str> {
        find(&self.errors, n)
            .or_else(|| (n & 0xFFFF_0000 == 0x8007_0000).then(|| find(&self.errors, n & 0xFFFF))?)
    }
}

fn find(table: &[(u64, String)], n: u64) -> Option<&str> {
    table.iter().find(|(c, _)| *c == n).map(|(_, m)| m.as_str())
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Field(Field, Format),
    /// `{?text {field}...}`: written only when every field in it has a value.
    Optional(Vec<Part>),
}

/// How a placeholder's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    AsIs,
    /// A whole number of seconds, in words.
    Seconds,
    /// The nth SYSTEMTIME of hex binary data.
    SystemTime(usize),
    /// A TLS alert number, with its name.
    TlsAlert,
    /// A server disconnect reason code, with its meaning from the domain.
    ServerReason,
    /// An error code, with its name from the domain.
    Error,
    /// An address before `:port`: an IPv6 literal in brackets (`[fe80::1]`), as URLs write it,
    /// so the port reads apart from the address.
    Address,
}

impl Template {
    /// Parse `text`; an error carries the byte offset in `text` it is about.
    pub fn parse(text: &str) -> Result<Template, (usize, ErrorKind)> {
        let (parts, rest) = parse_parts(text, text, None)?;
        debug_assert!(rest.is_empty());
        Ok(Template {
            text: text.to_string(),
            parts,
            tables: None,
        })
    }

    /// Give the template the domain's tables of codes, which `server_reason` and `error`
    /// read: the rule set does so once its domain is known (a rule file may be loaded before it).
    pub(crate) fn bind_tables(&mut self, tables: &std::sync::Arc<CodeTables>) {
        let reads = self
            .placeholders()
            .any(|(_, format)| matches!(format, Format::ServerReason | Format::Error));
        if reads {
            self.tables = Some(tables.clone());
        }
    }

    /// The template as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The fields the template uses, in order.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.placeholders().map(|(f, _)| f)
    }

    /// Every placeholder, those in optional groups too, in order.
    fn placeholders(&self) -> impl Iterator<Item = (&Field, &Format)> {
        self.parts
            .iter()
            .flat_map(|p| match p {
                Part::Optional(group) => group.as_slice(),
                p => std::slice::from_ref(p),
            })
            .filter_map(|p| match p {
                Part::Field(f, format) => Some((f, format)),
                _ => None,
            })
    }

    /// The template filled in from `event`. A field the event lacks reads `-`; an optional
    /// group with such a field is left out whole.
    pub fn render(&self, event: &Event) -> String {
        let mut out = String::new();
        for part in &self.parts {
            self.render_part(part, event, &mut out);
            if out.len() > MAX_EVIDENCE_BYTES {
                // A template of many references (a user's rule file) would otherwise render
                // megabytes per finding, copied into every report format.
                let mut end = MAX_EVIDENCE_BYTES;
                while !out.is_char_boundary(end) {
                    end -= 1;
                }
                out.truncate(end);
                out.push_str(" [… evidence cut …]");
                break;
            }
        }
        out
    }

    /// `part` written onto `out`; `false` when it is a field the event has no value for (an
    /// optional group with one is left out whole, and is itself always written).
    fn render_part(&self, part: &Part, event: &Event, out: &mut String) -> bool {
        match part {
            Part::Lit(s) => out.push_str(s),
            Part::Field(f, format) => return self.render_field(f, *format, event, out),
            Part::Optional(group) => {
                let mark = out.len();
                if !group.iter().all(|p| self.render_part(p, event, out)) {
                    out.truncate(mark);
                }
            }
        }
        true
    }

    /// `f`'s value in `event`, written onto `out` as `format` says; `false` (and `-` written)
    /// when the event has none.
    fn render_field(&self, f: &Field, format: Format, event: &Event, out: &mut String) -> bool {
        match f.get(event) {
            Some(v) => {
                let text = v.render();
                let trimmed = text.trim();
                // An empty value reads as a missing one: "to  did not meet" and
                // "registry on :" read as words left out.
                if trimmed.is_empty() {
                    out.push_str(MISSING);
                    return false;
                }
                match (format, trimmed.parse::<u64>()) {
                    (Format::Seconds, Ok(secs)) => {
                        out.push_str(&crate::units::span_words(secs));
                    }
                    (Format::TlsAlert, Ok(n)) => match tls_alert(n) {
                        Some(name) => out.push_str(&format!("{n} ({name})")),
                        None => push_cut(out, trimmed),
                    },
                    (Format::ServerReason, Ok(n)) => {
                        match self.tables.as_deref().and_then(|t| t.reason(n)) {
                            Some(m) => out.push_str(&format!("{n} ({m})")),
                            None => push_cut(out, trimmed),
                        }
                    }
                    (Format::Error, _) => match error_code(trimmed) {
                        Some(n) => {
                            if n > 0xFFFF {
                                out.push_str(&format!("0x{n:08X}"));
                            } else {
                                out.push_str(&n.to_string());
                            }
                            if let Some(m) = self.tables.as_deref().and_then(|t| t.error(n)) {
                                out.push_str(&format!(" ({m})"));
                            }
                        }
                        None => push_cut(out, trimmed),
                    },
                    // An IPv6 literal holds colons; bracketed already, it is kept.
                    (Format::Address, _) if trimmed.contains(':') && !trimmed.starts_with('[') => {
                        out.push('[');
                        push_cut(out, trimmed);
                        out.push(']');
                    }
                    (Format::SystemTime(n), _) => {
                        match crate::units::systemtime_in_hex(trimmed, n) {
                            Some(t) => out.push_str(&t.strftime("%Y-%m-%d %H:%M:%S").to_string()),
                            None => {
                                out.push_str(MISSING);
                                return false;
                            }
                        }
                    }
                    // The Security log writes some values as a message parameter,
                    // `%%14592`, that Event Viewer shows as its text. Others have their
                    // ends trimmed: a Win32 message (RCM 1057's) ends with CR LF,
                    // which a terminal report shows as a literal `\r\n`. Inside, the
                    // text is kept as written (the reports escape it).
                    _ => match audit_parameter(trimmed) {
                        Some(text) => out.push_str(text),
                        None => push_cut(out, trimmed),
                    },
                }
            }
            None => {
                out.push_str(MISSING);
                return false;
            }
        }
        true
    }
}

/// Most bytes of one rendered evidence line: every field is cut already
/// ([`MAX_FIELD_CHARS`]), and this bounds the number of them.
pub const MAX_EVIDENCE_BYTES: usize = 32 * 1024;

/// Most characters of one field an evidence line quotes: past it, the field's start and end
/// around the count left out. A line is rendered for every finding and written by every
/// format, so a field of 50 MB would be copied into each (the event itself keeps it whole).
pub const MAX_FIELD_CHARS: usize = 8192;

/// `text` as a value the report holds once per connection or disconnect, cut in the middle
/// past [`MAX_FIELD_CHARS`] like an evidence field: a server name of megabytes in one event
/// is otherwise copied into each of the hundreds of disconnects that name it.
pub fn bounded(text: &str) -> String {
    if text.len() <= MAX_FIELD_CHARS {
        return text.to_string();
    }
    let mut out = String::new();
    push_cut(&mut out, text);
    out
}

/// `text` onto `out`, cut in the middle past [`MAX_FIELD_CHARS`].
fn push_cut(out: &mut String, text: &str) {
    // Characters, not bytes: counted only when the bytes say it may be too long.
    let count = if text.len() <= MAX_FIELD_CHARS {
        0
    } else {
        text.chars().count()
    };
    if count <= MAX_FIELD_CHARS {
        out.push_str(text);
        return;
    }
    let head = MAX_FIELD_CHARS * 3 / 4;
    let tail = MAX_FIELD_CHARS - head;
    out.extend(text.chars().take(head));
    out.push_str(&format!(
        " [… {} characters left out …] ",
        count - head - tail
    ));
    out.extend(text.chars().skip(count - tail));
}

/// An error code as a number: what [`super::fields::parse_number`] reads (decimal, `0x` hex,
/// a negative decimal), or eight hex digits with the high bit set and no prefix, as CAPI2 and
/// some providers write an HRESULT (`800B0109`): no error code is a decimal of eight digits.
fn error_code(text: &str) -> Option<u64> {
    let eight_hex = text.len() == 8
        && text.bytes().all(|b| b.is_ascii_hexdigit())
        && matches!(text.as_bytes()[0], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F');
    if eight_hex {
        return u64::from_str_radix(text, 16).ok();
    }
    super::fields::parse_number(text)
}

/// The parts of `rest` (a tail of `text`, for offsets) up to its end, or, in an optional group
/// (`group`: the offset of its `{?`), up to the `}` that closes it (the rest after it is
/// returned).
fn parse_parts<'t>(
    text: &str,
    mut rest: &'t str,
    group: Option<usize>,
) -> Result<(Vec<Part>, &'t str), (usize, ErrorKind)> {
    let in_group = group.is_some();
    let mut parts = Vec::new();
    let mut lit = String::new();
    let bad = |offset: usize, message: &'static str| (offset, ErrorKind::BadTemplate { message });
    while let Some(c) = rest.chars().next() {
        let offset = text.len() - rest.len();
        match c {
            '{' if rest.starts_with("{{") => {
                lit.push('{');
                rest = &rest[2..];
            }
            '}' if rest.starts_with("}}") => {
                lit.push('}');
                rest = &rest[2..];
            }
            '}' if in_group => {
                if !lit.is_empty() {
                    parts.push(Part::Lit(lit));
                }
                if !parts.iter().any(|p| !matches!(p, Part::Lit(_))) {
                    return Err(bad(
                        offset,
                        "an optional group \"{?...}\" with no placeholder in it",
                    ));
                }
                return Ok((parts, &rest[1..]));
            }
            '}' => {
                return Err(bad(
                    offset,
                    "a lone \"}\" (write \"}}\" for a literal brace)",
                ));
            }
            '{' if rest.starts_with("{?") => {
                if in_group {
                    return Err(bad(offset, "an optional group inside another"));
                }
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                let (inner, after) = parse_parts(text, &rest[2..], Some(offset))?;
                parts.push(Part::Optional(inner));
                rest = after;
            }
            '{' => {
                let Some(end) = rest.find('}') else {
                    return Err(bad(
                        offset,
                        "an unclosed \"{\" (write \"{{\" for a literal brace)",
                    ));
                };
                let (inner, format) = format_of(&rest[1..end]).map_err(|k| (offset + 1, k))?;
                let field = placeholder(inner).map_err(|k| (offset + 1, k))?;
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Field(field, format));
                rest = &rest[end + 1..];
            }
            c => {
                lit.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(start) = group {
        return Err(bad(
            start,
            "an optional group \"{?\" that is never closed with \"}\"",
        ));
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok((parts, rest))
}

/// A placeholder's `|format` suffix, if any, and the rest.
fn format_of(inner: &str) -> Result<(&str, Format), ErrorKind> {
    let Some((name, format)) = inner.rsplit_once('|') else {
        return Ok((inner, Format::AsIs));
    };
    let format = format.trim();
    if format == "seconds" {
        return Ok((name, Format::Seconds));
    }
    if format == "tls_alert" {
        return Ok((name, Format::TlsAlert));
    }
    if format == "server_reason" {
        return Ok((name, Format::ServerReason));
    }
    if format == "error" {
        return Ok((name, Format::Error));
    }
    if format == "address" {
        return Ok((name, Format::Address));
    }
    if let Some(n) = format.strip_prefix("systemtime") {
        let n = n.trim();
        let position = if n.is_empty() {
            Some(0)
        } else {
            n.parse::<usize>()
                .ok()
                .filter(|&n| n < crate::units::SYSTEMTIME_POSITIONS)
        };
        return match position {
            Some(n) => Ok((name, Format::SystemTime(n))),
            None => Err(ErrorKind::BadTemplate {
                message: "\"systemtime\" takes the SYSTEMTIME's position in the data, a number from 0",
            }),
        };
    }
    Err(ErrorKind::BadTemplate {
        message: "an unknown format after \"|\" (known: \"address\", \"error\", \"seconds\", \"server_reason\", \"systemtime N\", \"tls_alert\")",
    })
}

/// The text Event Viewer shows for a Security-log message parameter (`%%14592` is
/// `Inbound`), for the parameters of the filtering-platform events (5152, 5156, 5157): their
/// direction and layer.
fn audit_parameter(value: &str) -> Option<&'static str> {
    let n: u32 = value.strip_prefix("%%")?.parse().ok()?;
    Some(match n {
        14592 => "Inbound",
        14593 => "Outbound",
        14597 => "Transport",
        14601 => "ICMP Error",
        14608 => "Resource Assignment",
        14609 => "Listen",
        14610 => "Receive/Accept",
        14611 => "Connect",
        _ => return None,
    })
}

/// The name of TLS alert `n` (RFC 8446 §6, RFC 5246 §7.2).
fn tls_alert(n: u64) -> Option<&'static str> {
    Some(match n {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

/// The field named inside `{...}`.
fn placeholder(inner: &str) -> Result<Field, ErrorKind> {
    let name = inner.trim();
    if name.is_empty() {
        return Err(ErrorKind::BadTemplate {
            message: "an empty \"{}\" (put a field name inside)",
        });
    }
    for prefix in PREFIXES {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let sub = if let Some(r) = rest.strip_prefix('.') {
            r.trim()
        } else if let Some(r) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            r.trim()
        } else {
            continue;
        };
        let sub = sub
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(sub);
        if sub.is_empty() {
            break;
        }
        if let Some(f) = Field::prefixed(prefix, sub.to_string()) {
            return Ok(f);
        }
    }
    Field::top_level(name).ok_or_else(|| ErrorKind::UnknownTemplateField {
        name: name.to_string(),
        hint: Field::suggest(name)
            .map(|s| format!(" (did you mean \"{s}\"?)"))
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{EventKind, Fields, WinEvent};

    fn event() -> Event {
        let mut data = Fields::default();
        data.push("AlertDesc", "70");
        data.push("Error Code", "0x80072746");
        data.push("Resource", " ");
        Event {
            file: Arc::from("System.evtx"),
            record: 1,
            time: None,
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                event_id: 36888,
                computer: "srv01".into(),
                data,
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    #[test]
    fn renders_fields_and_missing_values() {
        let t = Template::parse(
            "Schannel {event_id}: alert {data.AlertDesc} on {computer} ({data.Error Code}, {data.\"Error Code\"}, {data[Error Code]}) {process} to {data.Resource} {{x}}",
        )
        .unwrap();
        // Missing ({process}) and empty ({data.Resource}) read alike.
        assert_eq!(
            t.render(&event()),
            "Schannel 36888: alert 70 on srv01 (0x80072746, 0x80072746, 0x80072746) - to - {x}"
        );
        assert_eq!(t.fields().count(), 8);
    }

    /// A value's ends are trimmed (RCM 1057's Win32 message ends with CR LF); inside, it is
    /// kept as written.
    #[test]
    fn a_value_is_quoted_without_the_line_break_it_ends_with() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            let w = std::sync::Arc::make_mut(w);
            w.data.push("Msg", "Access is denied.\r\n");
            w.data.push("Two", "first line\r\n\r\nsecond \nthird");
        }
        let t = Template::parse("({data.Msg}) [{data.Two}]").unwrap();
        assert_eq!(
            t.render(&e),
            "(Access is denied.) [first line\r\n\r\nsecond \nthird]"
        );
    }

    /// A template naming a long field thousands of times renders at most
    /// [`MAX_EVIDENCE_BYTES`] (and a mark), not the field times the references.
    #[test]
    fn a_template_of_many_references_is_cut() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            std::sync::Arc::make_mut(w)
                .data
                .push("Long", "é".repeat(5000));
        }
        let t = Template::parse(&"{data.Long}".repeat(2000)).unwrap();
        let out = t.render(&e);
        assert!(out.len() <= MAX_EVIDENCE_BYTES + 32, "{}", out.len());
        assert!(out.ends_with(" [… evidence cut …]"));
    }

    #[test]
    fn a_huge_field_is_quoted_cut_in_the_middle() {
        let mut out = String::new();
        let text = format!("start{}end", "é".repeat(1_000_000));
        push_cut(&mut out, &text);
        assert!(
            out.starts_with("startéé") && out.ends_with("éééend"),
            "{}",
            &out[..20]
        );
        assert!(out.contains(" [… 991816 characters left out …] "));
        assert_eq!(
            out.chars().count() - " [… 991816 characters left out …] ".chars().count(),
            MAX_FIELD_CHARS
        );
        let mut short = String::new();
        push_cut(&mut short, &"é".repeat(MAX_FIELD_CHARS));
        assert_eq!(
            short.chars().count(),
            MAX_FIELD_CHARS,
            "counted in characters"
        );
    }

    #[test]
    fn seconds_render_in_words_and_other_values_as_they_are() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            std::sync::Arc::make_mut(w)
                .data
                .push("SessionDuration", "5405");
        }
        let t = Template::parse("after {data.SessionDuration|seconds} ({data.SessionDuration} s); {data.AlertDesc | seconds}; {data.Error Code|seconds}; {data.Nope|seconds}").unwrap();
        assert_eq!(
            t.render(&e),
            "after 1 h 30 min (5405 s); 1 min 10 s; 0x80072746; -"
        );
        let (at, kind) = Template::parse("x {data.A|minutes}").unwrap_err();
        assert_eq!(at, 3);
        assert!(kind.to_string().contains("unknown format"), "{kind}");
    }

    #[test]
    fn server_reasons_render_with_their_meaning_once_bound() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            let w = std::sync::Arc::make_mut(w);
            w.data.push("Reason", "258");
            w.data.push("Other", "999");
        }
        let mut t =
            Template::parse("reason {data.Reason|server_reason}, {data.Other|server_reason}")
                .unwrap();
        assert_eq!(t.render(&e), "reason 258, 999", "unbound: as written");
        let table = std::sync::Arc::new(CodeTables {
            reasons: vec![(258, "licensing: no license available".to_string())],
            errors: Vec::new(),
        });
        t.bind_tables(&table);
        assert_eq!(
            t.render(&e),
            "reason 258 (licensing: no license available), 999"
        );
        let mut plain = Template::parse("reason {data.Reason}").unwrap();
        plain.bind_tables(&table);
        assert_eq!(plain.render(&e), "reason 258");
    }

    #[test]
    fn error_codes_render_in_hex_with_their_names_once_bound() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            let data = &mut std::sync::Arc::make_mut(w).data;
            data.push("Negative", "-2147014843");
            data.push("Capi", "800b0109");
            data.push("Win32", "1236");
            data.push("Unnamed", "2148074254");
            data.push("CapiDigits", "80092013");
            data.push("Word", "none");
        }
        let mut t = Template::parse(
            "{data.Error Code|error}; {data.Negative|error}; {data.Capi|error}; \
             {data.Win32|error}; {data.Unnamed|error}; {data.CapiDigits|error}; {data.Word|error}",
        )
        .unwrap();
        assert_eq!(
            t.render(&e),
            "0x80072746; 0x80072745; 0x800B0109; 1236; 0x8009030E; 0x80092013; none",
            "unbound: the number only, HRESULTs in hex"
        );
        let table = std::sync::Arc::new(CodeTables {
            reasons: Vec::new(),
            errors: vec![
                (10054, "WSAECONNRESET".to_string()),
                (0x8007_2745, "WSAECONNABORTED".to_string()),
                (0x800B_0109, "CERT_E_UNTRUSTEDROOT".to_string()),
                (1236, "ERROR_CONNECTION_ABORTED".to_string()),
            ],
        });
        t.bind_tables(&table);
        assert_eq!(
            t.render(&e),
            "0x80072746 (WSAECONNRESET); 0x80072745 (WSAECONNABORTED); \
             0x800B0109 (CERT_E_UNTRUSTEDROOT); 1236 (ERROR_CONNECTION_ABORTED); 0x8009030E; \
             0x80092013; none"
        );
    }

    #[test]
    fn tls_alerts_render_with_their_names() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            std::sync::Arc::make_mut(w).data.push("Odd", "7");
        }
        let t = Template::parse("{data.AlertDesc|tls_alert}; {data.Odd|tls_alert}; {data.Resource|tls_alert}; {data.Error Code|tls_alert}").unwrap();
        assert_eq!(t.render(&e), "70 (protocol_version); 7; -; 0x80072746");
    }

    #[test]
    fn an_ipv6_address_before_a_port_is_bracketed() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            let data = &mut std::sync::Arc::make_mut(w).data;
            data.push("V6", "fe80::1c2:3");
            data.push("V4", "10.0.0.7");
            data.push("Bracketed", "[::1]");
        }
        let t = Template::parse(
            "{data.V6|address}:3389 {data.V4|address}:50000 {data.Bracketed|address}:1 {data.None|address}:2",
        )
        .unwrap();
        assert_eq!(
            t.render(&e),
            "[fe80::1c2:3]:3389 10.0.0.7:50000 [::1]:1 -:2"
        );
    }

    #[test]
    fn security_message_parameters_render_as_event_viewer_shows_them() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            let data = &mut std::sync::Arc::make_mut(w).data;
            data.push("Direction", "%%14592");
            data.push("LayerName", " %%14610 ");
            data.push("Other", "%%99999");
            data.push("Text", "%%14592 and more");
        }
        let t = Template::parse("{data.Direction}; {data.LayerName}; {data.Other}; {data.Text}")
            .unwrap();
        assert_eq!(
            t.render(&e),
            "Inbound; Receive/Accept; %%99999; %%14592 and more"
        );
    }

    #[test]
    fn systemtimes_render_from_binary_data() {
        let mut e = event();
        if let EventKind::Win(w) = &mut e.kind {
            std::sync::Arc::make_mut(w).data.push(
                "Binary",
                "DC0704000500060009003B000D001D00DC070400050006000D003B000D001D00",
            );
        }
        let t = Template::parse(
            "{data.Binary|systemtime 1} UTC ({data.Binary|systemtime}); {data.Binary|systemtime 2}; {data.Error Code|systemtime}",
        )
        .unwrap();
        assert_eq!(
            t.render(&e),
            "2012-04-06 13:59:13 UTC (2012-04-06 09:59:13); -; -"
        );
        for bad in [
            "{data.A|systemtime x}",
            "{data.A|systemtime -1}",
            "{data.A|systemtime 99999}",
        ] {
            let (at, kind) = Template::parse(bad).unwrap_err();
            assert_eq!(at, 1, "{bad}");
            assert!(kind.to_string().contains("position"), "{bad}: {kind}");
        }
    }

    #[test]
    fn errors_carry_offsets() {
        let (at, kind) = Template::parse("id {eventid} x").unwrap_err();
        assert_eq!(at, 4);
        assert_eq!(
            kind.to_string(),
            "unknown field \"eventid\" in the template (did you mean \"event_id\"?)"
        );
        let (at, kind) = Template::parse("ab {event_id").unwrap_err();
        assert_eq!(at, 3);
        assert!(kind.to_string().contains("unclosed"), "{kind}");
        let (at, kind) = Template::parse("a } b").unwrap_err();
        assert_eq!(at, 2);
        assert!(kind.to_string().contains("lone"), "{kind}");
        assert!(Template::parse("{ }").is_err());
        assert!(Template::parse("{data.}").is_err());
    }

    /// `{?...}` is written only when every field in it has a value; what is around it always.
    #[test]
    fn an_optional_group_is_left_out_when_a_field_in_it_is_missing() {
        let t = Template::parse(
            "Schannel{? on {computer}}: {event_id}{? to {data.Resource}}{?, by {process} ({event_id})} {{?}}",
        )
        .unwrap();
        assert_eq!(t.render(&event()), "Schannel on srv01: 36888 {?}");
        // Its fields are the template's, in order, for the load-time check and the prefilter.
        let names: Vec<String> = t.fields().map(|f| f.to_string()).collect();
        assert_eq!(
            names,
            [
                "computer",
                "event_id",
                "data.Resource",
                "process",
                "event_id"
            ]
        );
        // A format inside a group reads the domain's tables as one outside does.
        let mut t = Template::parse("x{? ({data.Error Code|error})}").unwrap();
        let tables = std::sync::Arc::new(CodeTables {
            reasons: vec![],
            errors: vec![(0x8007_2746, "WSAECONNRESET: reset".into())],
        });
        t.bind_tables(&tables);
        assert_eq!(t.render(&event()), "x (0x80072746 (WSAECONNRESET: reset))");
        for (text, at, words) in [
            ("a {?b", 2, "never closed"),
            ("a {?b} c", 5, "no placeholder"),
            ("{?a {?{computer}}}", 4, "inside another"),
            ("{?a {eventid}}", 5, "unknown field"),
        ] {
            let (offset, kind) = Template::parse(text).unwrap_err();
            assert_eq!(offset, at, "{text}: {kind}");
            assert!(kind.to_string().contains(words), "{text}: {kind}");
        }
    }
}
