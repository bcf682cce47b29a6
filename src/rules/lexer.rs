//! The rule language's tokens: whitespace and comments, words and keywords, numbers,
//! durations and the three string forms, plus the parse-error type every production returns.
//! Grammar productions built from these live in [`super::parser`].

use std::borrow::Cow;

use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::char;
use nom::{Err, IResult};

use super::ast::{Literal, Millis, Number};
use super::error::ErrorKind;

pub(crate) const EXPECT_LITERAL: &str = "a string or a number";
pub(crate) const EXPECT_DURATION: &str = "a duration (500ms, 60s, 5m, 2h, 1d)";

/// A parse error: where, and what.
#[derive(Debug)]
pub(crate) struct PErr<'a> {
    pub(crate) at: &'a str,
    pub(crate) what: What,
}

#[derive(Debug)]
pub(crate) enum What {
    Expected(Cow<'static, str>),
    Kind(ErrorKind),
    Nom,
}

impl<'a> nom::error::ParseError<&'a str> for PErr<'a> {
    fn from_error_kind(input: &'a str, _: nom::error::ErrorKind) -> Self {
        PErr {
            at: input,
            what: What::Nom,
        }
    }
    fn append(_: &'a str, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
    fn or(self, other: Self) -> Self {
        // Keep the error that got further: it says more about what went wrong.
        if other.at.len() <= self.at.len() {
            other
        } else {
            self
        }
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a str, T, PErr<'a>>;

/// A hard error: "expected `what`" at `at`. Every error is a `Failure`: the grammar decides
/// between alternatives by looking ahead, never by backtracking over an error.
pub(crate) fn expected<'a, T>(at: &'a str, what: impl Into<Cow<'static, str>>) -> PResult<'a, T> {
    Err(Err::Failure(PErr {
        at,
        what: What::Expected(what.into()),
    }))
}

pub(crate) fn invalid<'a, T>(at: &'a str, kind: ErrorKind) -> PResult<'a, T> {
    Err(Err::Failure(PErr {
        at,
        what: What::Kind(kind),
    }))
}

/// The token at `at`, quoted, for "found ..." in messages.
pub(crate) fn describe(at: &str) -> String {
    let mut chars = at.chars();
    let Some(first) = chars.next() else {
        return "end of input".into();
    };
    if first == '\n' || first == '\r' {
        return "end of line".into();
    }
    if first == '"' || at.starts_with("r\"") {
        return "a string".into();
    }
    let token: String = if is_ident_char(first) {
        at.chars()
            .take_while(|c| is_ident_char(*c) || *c == '-')
            .take(30)
            .collect()
    } else if "=!<>~".contains(first) {
        at.chars().take_while(|c| "=!<>~".contains(*c)).collect()
    } else {
        first.to_string()
    };
    format!("\"{}\"", token.escape_debug())
}

pub(crate) fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

// ---------------------------------------------------------------------------------------------
// Lexical productions

/// Whitespace and `#` comments (never fails).
pub(crate) fn ws(mut i: &str) -> PResult<'_, ()> {
    loop {
        let trimmed = i.trim_start();
        if let Some(comment) = trimmed.strip_prefix('#') {
            i = comment.find('\n').map_or("", |n| &comment[n..]);
        } else {
            return Ok((trimmed, ()));
        }
    }
}

/// An identifier-like word: `[A-Za-z0-9_]+`.
pub(crate) fn word(i: &str) -> PResult<'_, &str> {
    take_while1(is_ident_char)(i)
}

/// The next word, after whitespace, without consuming it.
pub(crate) fn peek_word(i: &str) -> &str {
    let (i, _) = ws(i).unwrap_or((i, ()));
    word(i).map_or("", |(_, w)| w)
}

/// A keyword: the exact word `kw`, not a prefix of a longer word.
pub(crate) fn keyword<'a>(i: &'a str, kw: &'static str) -> PResult<'a, ()> {
    let (i, _) = ws(i)?;
    match word(i) {
        Ok((rest, w)) if w == kw => Ok((rest, ())),
        _ => expected(i, format!("\"{kw}\"")),
    }
}

/// A punctuation token after whitespace.
pub(crate) fn symbol<'a>(i: &'a str, s: &'static str, what: &'static str) -> PResult<'a, ()> {
    let (i, _) = ws(i)?;
    match tag::<_, _, PErr<'a>>(s)(i) {
        Ok((rest, _)) => Ok((rest, ())),
        Err(_) => expected(i, what),
    }
}

/// True when the next token (after whitespace) starts with `s`.
pub(crate) fn peek_symbol(i: &str, s: &str) -> bool {
    ws(i).is_ok_and(|(i, _)| i.starts_with(s))
}

/// A number literal: decimal or `0x` hex, fitting in 64 bits.
pub(crate) fn number(i: &str) -> PResult<'_, Number> {
    let start = i;
    let (hex, i) = match i.strip_prefix("0x").or_else(|| i.strip_prefix("0X")) {
        Some(rest) => (true, rest),
        None => (false, i),
    };
    let digits = if hex {
        take_while1::<_, _, PErr<'_>>(|c: char| c.is_ascii_hexdigit())(i)
    } else {
        take_while1(|c: char| c.is_ascii_digit())(i)
    };
    let Ok((rest, digits)) = digits else {
        return expected(
            start,
            if hex {
                "hex digits after 0x"
            } else {
                "a number"
            },
        );
    };
    if rest.starts_with(is_ident_char) {
        return expected(rest, "the end of the number");
    }
    let parsed = u64::from_str_radix(digits, if hex { 16 } else { 10 });
    match parsed {
        Ok(value) => Ok((rest, Number { value, hex })),
        Err(_) => invalid(
            start,
            ErrorKind::OutOfRange {
                what: "number",
                value: start[..start.len() - rest.len()].to_string(),
                max: u64::MAX.to_string(),
            },
        ),
    }
}

/// A duration: digits and a unit (`ms`, `s`, `m`, `h`, `d`).
pub(crate) fn duration(i: &str) -> PResult<'_, Millis> {
    let (i, _) = ws(i)?;
    let start = i;
    let Ok((rest, digits)) = take_while1::<_, _, PErr<'_>>(|c: char| c.is_ascii_digit())(i) else {
        return expected(start, EXPECT_DURATION);
    };
    let (rest, unit) = take_while(|c: char| c.is_ascii_alphanumeric())(rest)?;
    let scale: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return expected(start, EXPECT_DURATION),
    };
    let ms = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|ms| *ms <= i64::MAX as u64);
    match ms {
        Some(ms) => Ok((rest, Millis(ms))),
        None => invalid(
            start,
            ErrorKind::OutOfRange {
                what: "duration",
                value: start[..start.len() - rest.len()].to_string(),
                max: format!("{}ms", i64::MAX),
            },
        ),
    }
}

/// Any string literal (after whitespace).
pub(crate) fn string(i: &str) -> PResult<'_, String> {
    let (i, _) = ws(i)?;
    if i.starts_with("\"\"\"") {
        block_string(i)
    } else if i.starts_with("r\"") {
        raw_string(i)
    } else if i.starts_with('"') {
        quoted_string(i)
    } else {
        expected(i, "a string (\"...\")")
    }
}

/// `"..."` with escapes; no line breaks inside.
pub(crate) fn quoted_string(i: &str) -> PResult<'_, String> {
    let (mut rest, _) = char('"')(i)?;
    let mut out = String::new();
    loop {
        // Text up to the next character that means something here, taken as it is.
        let plain = rest.find(['"', '\\', '\n', '\r']).unwrap_or(rest.len());
        out.push_str(&rest[..plain]);
        rest = &rest[plain..];
        match rest.as_bytes().first() {
            None | Some(b'\n') | Some(b'\r') => {
                return expected(rest, "a closing \" before the end of the line");
            }
            Some(b'"') => return Ok((&rest[1..], out)),
            _ => {
                let (after, c) = escape(rest)?;
                out.push(c);
                rest = after;
            }
        }
    }
}

/// One escape sequence, starting at the backslash.
pub(crate) fn escape(i: &str) -> PResult<'_, char> {
    let after = &i[1..];
    let mut chars = after.chars();
    let c = match chars.next() {
        Some('\\') => '\\',
        Some('"') => '"',
        Some('n') => '\n',
        Some('t') => '\t',
        Some('r') => '\r',
        Some('u') => return unicode_escape(i, chars.as_str()),
        _ => {
            return expected(
                i,
                "an escape (\\\\, \\\", \\n, \\t, \\r, \\u{...}); write Windows paths and regexes as raw strings: r\"C:\\Windows\"",
            );
        }
    };
    Ok((chars.as_str(), c))
}

/// The `{hex}` of `\u{hex}`.
pub(crate) fn unicode_escape<'a>(start: &'a str, i: &'a str) -> PResult<'a, char> {
    let parsed = i.strip_prefix('{').and_then(|r| {
        let end = r.find('}')?;
        let code = u32::from_str_radix(&r[..end], 16).ok()?;
        Some((&r[end + 1..], char::from_u32(code)?))
    });
    match parsed {
        Some((rest, c)) => Ok((rest, c)),
        None => expected(start, "a unicode escape \\u{hex}"),
    }
}

/// `r"..."`: everything up to the next quote, as written.
pub(crate) fn raw_string(i: &str) -> PResult<'_, String> {
    let (body, _) = tag("r\"")(i)?;
    match body.find(['"', '\n']) {
        Some(end) if body[end..].starts_with('"') => Ok((
            &body[end + 1..],
            body[..end].trim_end_matches('\r').to_string(),
        )),
        _ => expected(
            i,
            "a closing \" before the end of the line (a raw string cannot hold a quote)",
        ),
    }
}

/// `"""` block: the lines up to a line that starts with `"""`, with their common indentation
/// removed; whitespace-only lines become empty.
pub(crate) fn block_string(i: &str) -> PResult<'_, String> {
    let (after_open, _) = tag("\"\"\"")(i)?;
    let (mut rest, _) = take_while(|c| c == ' ' || c == '\t' || c == '\r')(after_open)?;
    match rest.strip_prefix('\n') {
        Some(r) => rest = r,
        None => {
            return expected(
                rest,
                "a line break after \"\"\" (the text starts on the next line)",
            );
        }
    }
    let mut lines: Vec<&str> = Vec::new();
    loop {
        if rest.is_empty() {
            return expected(i, "a closing \"\"\" on a line of its own");
        }
        let (line, next) = match rest.find('\n') {
            Some(n) => (&rest[..n], &rest[n + 1..]),
            None => (rest, ""),
        };
        let trimmed = line.trim_start_matches([' ', '\t']);
        if let Some(after_close) = trimmed.strip_prefix("\"\"\"") {
            let consumed = line.len() - after_close.len();
            rest = &rest[consumed..];
            break;
        }
        lines.push(line.trim_end_matches('\r'));
        rest = next;
    }
    let indent = |l: &str| l.len() - l.trim_start_matches([' ', '\t']).len();
    let common = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap_or(0);
    let text: Vec<&str> = lines
        .iter()
        .map(|l| {
            if l.trim().is_empty() {
                ""
            } else {
                &l[common..]
            }
        })
        .collect();
    Ok((rest, text.join("\n")))
}

/// A string or a number (after whitespace).
pub(crate) fn literal(i: &str) -> PResult<'_, Literal> {
    let (i, _) = ws(i)?;
    if i.starts_with('"') || i.starts_with("r\"") {
        let (rest, s) = string(i)?;
        Ok((rest, Literal::Str(s)))
    } else if i.starts_with(|c: char| c.is_ascii_digit()) {
        let (rest, n) = number(i)?;
        Ok((rest, Literal::Num(n)))
    } else {
        expected(i, EXPECT_LITERAL)
    }
}
