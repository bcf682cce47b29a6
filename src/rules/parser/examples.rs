//! Rule examples in the rule language: `example match|nomatch` and its events, parsed whole
//! or stepped over ([`super::parse_file_lean`]). Split from the grammar of rules for size.

use super::super::ast::*;
use super::super::error::ErrorKind;
use super::super::lexer::{
    PResult, duration, expected, invalid, keyword, literal, peek_symbol, peek_word, string, symbol,
    word, ws,
};
use super::{Examples, field, positioned};
use crate::model::Source;

/// `example match|nomatch event` or `example match|nomatch [ event, ... ]`.
pub(super) fn example(i: &str, examples: Examples) -> PResult<'_, Example> {
    let (i, _) = ws(i)?;
    let pos = Pos(i.len());
    let (i, _) = keyword(i, "example")?;
    let (i, _) = ws(i)?;
    let (i, expect) = match word(i)
        .ok()
        .and_then(|(r, w)| Some((r, Expect::from_word(w)?)))
    {
        Some(found) => found,
        None => return expected(i, "\"match\" or \"nomatch\" after example"),
    };
    let (i, _) = ws(i)?;
    if examples == Examples::Skipped {
        let (rest, ()) = skip_example_body(i)?;
        let body = ExampleBody::Sequence(Vec::new());
        return Ok((rest, Example { pos, expect, body }));
    }
    let body = if let Some(inner) = i.strip_prefix('[') {
        let (rest, events) = example_sequence(inner)?;
        (rest, ExampleBody::Sequence(events))
    } else {
        let (rest, ev) = example_event(i)?;
        if ev.anchor {
            return invalid(
                i,
                ErrorKind::BadExample {
                    what: "an event marked anchor",
                    detail:
                        "only makes sense in a sequence: example match [ ..., anchor evtx { ... } ]"
                            .into(),
                },
            );
        }
        (rest, ExampleBody::Single(ev))
    };
    Ok((
        body.0,
        Example {
            pos,
            expect,
            body: body.1,
        },
    ))
}

/// Step over an example's body, `[ ... ]` or `[anchor] source { ... }`, to just after its
/// closing bracket: brackets counted, strings and comments stepped over whole, nothing else
/// checked ([`parse_file_lean`]).
fn skip_example_body(i: &str) -> PResult<'_, ()> {
    let bytes = i.as_bytes();
    let mut depth = 0usize;
    let mut k = 0;
    while let Some(&b) = bytes.get(k) {
        match b {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                let Some(d) = depth.checked_sub(1) else {
                    return expected(&i[k..], "an example's events");
                };
                depth = d;
                if depth == 0 {
                    return Ok((&i[k + 1..], ()));
                }
            }
            b'#' => {
                k = memchr::memchr(b'\n', &bytes[k..]).map_or(bytes.len(), |n| k + n);
                continue;
            }
            b'"' if bytes[k..].starts_with(b"\"\"\"") => {
                let (rest, _) = string(&i[k..])?;
                k = i.len() - rest.len();
                continue;
            }
            // A quoted string: to the quote no backslash escapes; a raw one: to the next quote.
            b'"' => {
                k += 1;
                loop {
                    match bytes
                        .get(k..)
                        .and_then(|rest| memchr::memchr2(b'"', b'\\', rest))
                    {
                        Some(n) if bytes[k + n] == b'"' => {
                            k += n + 1;
                            break;
                        }
                        // A backslash and the byte it escapes.
                        Some(n) => k += n + 2,
                        None => return expected(&i[i.len()..], "a closing \""),
                    }
                }
                continue;
            }
            b'r' if bytes.get(k + 1) == Some(&b'"') => {
                k = memchr::memchr(b'"', &bytes[k + 2..]).map_or(bytes.len(), |n| k + 2 + n + 1);
                continue;
            }
            _ => {}
        }
        k += 1;
    }
    expected("", "the end of the example")
}

/// The events of `[ event, ... ]`, after the `[`.
fn example_sequence(mut i: &str) -> PResult<'_, Vec<ExampleEvent>> {
    let mut events = Vec::new();
    loop {
        if !events.is_empty() && peek_symbol(i, "]") {
            break;
        }
        let (rest, ev) = example_event(i)?;
        events.push(ev);
        i = rest;
        if !peek_symbol(i, ",") {
            break;
        }
        i = symbol(i, ",", "\",\"")?.0;
    }
    let (i, _) = symbol(i, "]", "\",\" or \"]\"")?;
    Ok((i, events))
}

/// `[anchor] evtx|procmon|registry|acl|netstat { field: value, ... }`
fn example_event(i: &str) -> PResult<'_, ExampleEvent> {
    let (i, _) = ws(i)?;
    let pos = Pos(i.len());
    let anchor = peek_word(i) == "anchor";
    let i = if anchor { keyword(i, "anchor")?.0 } else { i };
    let source = match peek_word(i) {
        "evtx" => Source::Evtx,
        "procmon" => Source::Procmon,
        "registry" => Source::Registry,
        "acl" => Source::Acl,
        "netstat" => Source::Netstat,
        _ => {
            return expected(
                ws(i)?.0,
                "an event (evtx { ... }, procmon { ... }, registry { ... }, acl { ... } or netstat { ... })",
            );
        }
    };
    let (mut i, _) = keyword(i, source.as_str())?;
    i = symbol(i, "{", "\"{\" to open the event")?.0;
    let mut fields = Vec::new();
    loop {
        if peek_symbol(i, "}") {
            break;
        }
        let (rest, f) = positioned(i, field)?;
        let (rest, _) = symbol(rest, ":", "\":\" after the field name")?;
        let (rest, v) = positioned(rest, example_value)?;
        fields.push((f, v));
        i = rest;
        if !peek_symbol(i, ",") {
            break;
        }
        i = symbol(i, ",", "\",\"")?.0;
    }
    let (i, _) = symbol(i, "}", "\",\" or \"}\"")?;
    Ok((
        i,
        ExampleEvent {
            pos,
            anchor,
            source,
            fields,
        },
    ))
}

/// A literal, or a time offset `+30s` / `-5m`.
fn example_value(i: &str) -> PResult<'_, ExampleValue> {
    if let Some(sign) = i.chars().next().filter(|c| *c == '+' || *c == '-') {
        let (rest, d) = duration(&i[1..])?;
        // `duration` caps at i64::MAX, so this never saturates in practice.
        let ms = i64::try_from(d.0).unwrap_or(i64::MAX);
        return Ok((
            rest,
            ExampleValue::Offset(if sign == '-' { -ms } else { ms }),
        ));
    }
    let (rest, l) = literal(i)?;
    Ok((rest, ExampleValue::Lit(l)))
}
