//! The rule-language parser: rule text → [`RuleFile`] syntax tree (nom 8, one small function per
//! production below). It checks syntax, keyword spellings and field names; everything that
//! needs more than one rule or more than the syntax (types, required keys, templates, examples)
//! is validation's job ([`super::compile`]).
//!
//! # Grammar
//!
//! ```text
//! file        = [ domain ] { rule } ;     (domain: see [`super::domain`]; anywhere, once)
//! rule        = "rule" rule_id "{" { item } "}" ;
//! rule_id     = [A-Za-z0-9] [A-Za-z0-9_.-]* ;
//! item        = "title" ":" string
//!             | "kind" ":" ( "cause" | "anchor" | "disconnect-code" )       (default: cause)
//!             | "cause" ":" ( "certificate" | "tls" | "server-refused" | "network" | "firewall"
//!                           | "gateway" | "access-denied" | "licensing" | "rdp-wrapper"
//!                           | "credssp-policy" | "servicing"
//!                           | "server-down" | "server-resources" )
//!             | "strength" ":" ( "strong" | "moderate" | "weak" | "context" )
//!             | "healthy" ":" healthy { "," healthy }
//!                   (healthy: "listener" | "tls12-server" | "rdp-certificate"
//!                            | "rdp-key-readable" | "service-dll")
//!             | "when" ":" expr
//!             | "unless" ":" ( "followed" | "preceded" ) "by" expr "within" duration
//!                            [ "by" field { "," field } ]
//!             | "unless" ":" ( "followed" | "preceded" ) "by" expr "within" duration
//!                            [ "by" field { "," field } ]
//!             | "aggregate" ":" "count" ">=" integer "within" duration [ "by" field { "," field } ]
//!             | "anchor" ":" ( "require" | "prefer" )
//!                            ( "within" duration | "before" duration [ "after" duration ]
//!                            | "after" duration )
//!             | "evidence" ":" string          (a template: "{field}" is replaced, "{{" is "{")
//!             | "remediation" ":" string
//!             | "references" ":" string { "," string }
//!             | "example" ( "match" | "nomatch" ) ( event | "[" event { "," event } [ "," ] "]" ) ;
//! event       = [ "anchor" ] ( "evtx" | "procmon" ) "{" [ setting { "," setting } [ "," ] ] "}" ;
//! setting     = field ":" ( literal | ( "+" | "-" ) duration ) ;
//!
//! expr        = and_expr { "or" and_expr } ;
//! and_expr    = unary { "and" unary } ;
//! unary       = "not" unary | primary ;
//! primary     = "(" expr ")" | ( "exists" | "has" ) field | comparison ;
//! comparison  = field op [ "cs" ] ( literal | "(" literal { "," literal } [ "," ] ")" ) ;
//! op          = "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "contains" | "startswith"
//!             | "endswith" | "matches" | "=~" ;
//! field       = name                                   (source, event_id, process, ...)
//!             | ( "data" | "detail" | "column" ) ( "." bare_name | "." string | "[" string "]" ) ;
//! bare_name   = [A-Za-z0-9_]+ [ "@" [A-Za-z0-9_]+ ] ;     (data.Result@value: an attribute)
//! literal     = string | number ;
//! number      = digits | "0x" hex_digits ;
//! duration    = digits ( "ms" | "s" | "m" | "h" | "d" ) ;
//! string      = '"' { char | escape } '"'             (escapes: \\ \" \n \t \r \u{hex})
//!             | 'r"' { char } '"'                     (raw: no escapes, for paths and regexes)
//!             | '"""' newline { line } '"""'          (block: common indentation removed) ;
//! comment     = "#" to the end of the line ;
//! ```
//!
//! Whitespace and comments may appear between any two tokens; line breaks carry no meaning, so
//! a long `when:` may span lines. Keywords are lower-case. `in` takes a parenthesised list;
//! every other operator one literal. `cs` makes a text comparison case-sensitive (the default
//! ignores case, as Windows does). `=~` is `matches`; `has` is `exists`. `not` binds tighter
//! than `and`, which binds tighter than `or`.
//!
//! # Fields
//!
//! | field | type | events |
//! |---|---|---|
//! | `source` (`"evtx"` / `"procmon"`), `file`, `record`, `time` | source, text, number, time | all |
//! | `event_id`, `qualifiers`, `level`, `process_id` | number | EVTX |
//! | `provider`, `channel`, `computer`, `activity_id` | text | EVTX |
//! | `data.<Name>` | open | EVTX |
//! | `pid`, `local_port`, `remote_port` | number | Procmon |
//! | `process`, `operation`, `path`, `result`, `detail`, `time_of_day`, `date`, `local_host`, `remote_host` | text | Procmon |
//! | `detail.<Key>`, `column.<Header>` | open | Procmon |
//!
//! Text takes strings (`==`, `!=`, `in`, `contains`, `startswith`, `endswith`, `matches`);
//! numbers take numbers (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`); open fields take either, a
//! number comparing the text read as a number (`"2308"`, `"0x80072746"`, `"-2147014842"`);
//! `time` takes an RFC 3339 string. Other combinations, unknown fields and bad regexes are
//! load-time errors. A comparison on a field the event does not have is false, `!=` included.
//!
//! # Rules
//!
//! Every rule needs `title`, `when`, `evidence` and at least one `example match` and one
//! `example nomatch`. A `cause` rule (the default kind) also needs `cause`, `strength` and
//! `remediation`; `anchor` and `disconnect-code` rules may not have `cause` or `strength`, and an
//! anchor rule may not have `aggregate` or `anchor`. Keys may appear once each, in any order.
//! Rule ids are unique across all loaded files (ignoring case).
//!
//! ```text
//! rule tcp-reconnects {
//!     title: "Repeated TCP reconnects to the RDP port"
//!     cause: network
//!     strength: moderate
//!     when: operation == "TCP Reconnect" and process in ("mstsc.exe", "msrdc.exe")
//!           and remote_port in (3389, 3391, 443)
//!     aggregate: count >= 3 within 60s by process, pid
//!     anchor: prefer before 5m after 30s
//!     evidence: "{process} ({pid}) reconnects to {remote_host}:{remote_port}"
//!     remediation: """
//!         Check the VPN, the MTU and stateful firewalls between client and server.
//!         """
//!     references: "https://learn.microsoft.com/..."
//!     example match [
//!         procmon { time_of_day: "10:00:00", process: "mstsc.exe", operation: "TCP Reconnect", path: "a:50000 -> b:ms-wbt-server" },
//!         procmon { time_of_day: "10:00:20", process: "mstsc.exe", operation: "TCP Reconnect", path: "a:50000 -> b:ms-wbt-server" },
//!         procmon { time_of_day: "10:00:40", process: "mstsc.exe", operation: "TCP Reconnect", path: "a:50000 -> b:3389" },
//!     ]
//!     example nomatch procmon { process: "mstsc.exe", operation: "TCP Connect", path: "a:50000 -> b:3389" }
//! }
//! ```
//!
//! Evidence templates, example events and evaluation are described in [`super::template`],
//! [`super::examples`] and [`super::engine`].

use nom::Err;
use nom::bytes::complete::take_while1;

use super::ast::*;
use super::error::{ErrorKind, RuleError};
use super::fields::{Field, PREFIXES};
use super::lexer::{
    PErr, PResult, What, describe, duration, expected, invalid, keyword, literal, number,
    peek_symbol, peek_word, string, symbol, word, ws,
};
mod examples;
use examples::example;

/// How deeply parentheses and `not` may nest (the parser recurses; rule text is user input).
pub const MAX_DEPTH: usize = 64;

/// The keys a rule block accepts, in canonical order.
pub const KEYS: &[&str] = &[
    "title",
    "kind",
    "cause",
    "strength",
    "healthy",
    "when",
    "unless",
    "aggregate",
    "anchor",
    "evidence",
    "remediation",
    "references",
];

const EXPECT_ITEM: &str = "a key (title, kind, cause, strength, healthy, when, unless, aggregate, anchor, evidence, remediation, references), \"example\" or \"}\"";
const EXPECT_OP: &str =
    "a comparison operator (==, !=, <, <=, >, >=, in, contains, startswith, endswith, matches, =~)";
const EXPECT_FIELD: &str =
    "a field name (source, event_id, provider, process, operation, data.Name, ...)";
const EXPECT_CONDITION: &str = "a condition (a comparison, exists, not or \"(\")";

/// Parse one rule file.
pub fn parse_file(file: &str, text: &str) -> Result<RuleFile, RuleError> {
    finish(file, text, rule_file(text, Examples::Parsed))
}

/// [`parse_file`] with every example's body skipped, not parsed: each example keeps where it
/// is and whether it must match, with no events. For a text known to parse whole (the
/// built-in pack, whose tests parse and run every example) read by an analysis, which never
/// runs examples: about a third of the parse.
pub fn parse_file_lean(file: &str, text: &str) -> Result<RuleFile, RuleError> {
    finish(file, text, rule_file(text, Examples::Skipped))
}

/// Whether a rule's examples are parsed or only stepped over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Examples {
    Parsed,
    Skipped,
}

/// Parse one condition expression on its own (for tests and tools).
pub fn parse_expr(file: &str, text: &str) -> Result<Expr, RuleError> {
    let whole = |i| -> PResult<'_, Expr> {
        let (i, mut e) = expr(i, 0)?;
        let (i, _) = ws(i)?;
        if !i.is_empty() {
            return expected(i, "\"and\", \"or\" or the end of the condition");
        }
        fix_expr(&mut e, text.len());
        Ok((i, e))
    };
    finish(file, text, whole(text))
}

/// A parse result as the caller sees it: the value, or the error with its position.
fn finish<T>(file: &str, text: &str, result: PResult<'_, T>) -> Result<T, RuleError> {
    let e = match result {
        Ok((_, value)) => return Ok(value),
        Err(Err::Error(e) | Err::Failure(e)) => e,
        // Only streaming parsers ask for more input; these are all `complete`.
        Err(Err::Incomplete(_)) => PErr {
            at: "",
            what: What::Nom,
        },
    };
    let offset = text.len().saturating_sub(e.at.len());
    let kind = match e.what {
        What::Kind(kind) => kind,
        What::Expected(expected) => ErrorKind::Expected {
            expected: expected.into_owned(),
            found: describe(e.at),
        },
        What::Nom => ErrorKind::Expected {
            expected: "valid rule text".into(),
            found: describe(e.at),
        },
    };
    Err(RuleError::at(file, text, offset, kind))
}

// ---------------------------------------------------------------------------------------------
// Fields

/// A field name (after whitespace), resolved against the closed set of names.
fn field(i: &str) -> PResult<'_, Field> {
    let (i, _) = ws(i)?;
    let start = i;
    let Ok((rest, name)) = word(i) else {
        return expected(i, EXPECT_FIELD);
    };
    if PREFIXES.contains(&name) && (rest.starts_with('.') || rest.starts_with('[')) {
        let (rest, sub) = field_subname(rest)?;
        return match Field::prefixed(name, sub) {
            Some(f) => Ok((rest, f)),
            None => expected(start, EXPECT_FIELD),
        };
    }
    if let Some(f) = Field::top_level(name) {
        return Ok((rest, f));
    }
    if PREFIXES.contains(&name) {
        return expected(
            ws(rest)?.0,
            format!("\".\" and a name after {name} ({name}.Name)"),
        );
    }
    let hint = Field::suggest(name)
        .map(|s| format!(" (did you mean \"{s}\"?)"))
        .unwrap_or_else(|| " (fields: source, file, record, time, event_id, qualifiers, provider, channel, level, computer, activity_id, process_id, process, pid, operation, path, result, detail, time_of_day, date, local_host, local_port, remote_host, remote_port, data.<Name>, detail.<Key>, column.<Header>)".into());
    invalid(
        start,
        ErrorKind::UnknownField {
            name: name.to_string(),
            hint,
        },
    )
}

/// The part after `data`: `.Name`, `."Name with spaces"` or `["Name"]`.
fn field_subname(i: &str) -> PResult<'_, String> {
    if let Some(rest) = i.strip_prefix('[') {
        let (rest, name) = string(rest)?;
        let (rest, _) = symbol(rest, "]", "\"]\"")?;
        return Ok((rest, name));
    }
    let rest = i.strip_prefix('.').unwrap_or(i);
    if rest.starts_with('"') || rest.starts_with("r\"") {
        return string(rest);
    }
    match word(rest) {
        // An attribute kept as a field: `data.Result@value` (see `Field` docs).
        Ok((after, name)) if after.starts_with('@') => match word(&after[1..]) {
            Ok((rest, attr)) => Ok((rest, format!("{name}@{attr}"))),
            Err(_) => expected(
                &after[1..],
                "an attribute name after \"@\" (data.Result@value)",
            ),
        },
        Ok((rest, name)) => Ok((rest, name.to_string())),
        Err(_) => expected(rest, "a name after \".\" (Name, or \"Name with spaces\")"),
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions

fn expr(i: &str, depth: usize) -> PResult<'_, Expr> {
    if depth > MAX_DEPTH {
        return invalid(i, ErrorKind::TooDeep { max: MAX_DEPTH });
    }
    let (mut i, first) = and_expr(i, depth)?;
    let mut items = vec![first];
    while peek_word(i) == "or" {
        let (rest, _) = keyword(i, "or")?;
        let (rest, next) = and_expr(rest, depth)?;
        items.push(next);
        i = rest;
    }
    Ok((i, collapse(items, Expr::Or)))
}

fn and_expr(i: &str, depth: usize) -> PResult<'_, Expr> {
    let (mut i, first) = unary(i, depth)?;
    let mut items = vec![first];
    while peek_word(i) == "and" {
        let (rest, _) = keyword(i, "and")?;
        let (rest, next) = unary(rest, depth)?;
        items.push(next);
        i = rest;
    }
    Ok((i, collapse(items, Expr::And)))
}

fn collapse(mut items: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.pop().unwrap_or_else(|| make(Vec::new()))
    } else {
        make(items)
    }
}

fn unary(i: &str, depth: usize) -> PResult<'_, Expr> {
    if depth > MAX_DEPTH {
        return invalid(i, ErrorKind::TooDeep { max: MAX_DEPTH });
    }
    if peek_word(i) == "not" {
        let (rest, _) = keyword(i, "not")?;
        let (rest, inner) = unary(rest, depth + 1)?;
        return Ok((rest, Expr::Not(Box::new(inner))));
    }
    primary(i, depth)
}

fn primary(i: &str, depth: usize) -> PResult<'_, Expr> {
    let (i, _) = ws(i)?;
    if let Some(after) = i.strip_prefix('(') {
        let (rest, inner) = expr(after, depth + 1)?;
        let (rest, _) = symbol(rest, ")", "\")\" or \"and\"/\"or\"")?;
        return Ok((rest, inner));
    }
    match peek_word(i) {
        "exists" | "has" => {
            let (rest, _) = word(i)?;
            let (rest, f) = positioned(rest, field)?;
            Ok((rest, Expr::Exists(f)))
        }
        "" => expected(i, EXPECT_CONDITION),
        _ => comparison(i),
    }
}

/// A production whose result records where it starts. While parsing, a position is the length
/// of the input left (the parser never sees the whole text); `fix_rule_positions` turns it into
/// an offset from the start once the rule is done.
fn positioned<'a, T>(
    i: &'a str,
    p: impl FnOnce(&'a str) -> PResult<'a, T>,
) -> PResult<'a, Spanned<T>> {
    let (i, _) = ws(i)?;
    let from_end = i.len();
    let (rest, value) = p(i)?;
    Ok((rest, Spanned::new(Pos(from_end), value)))
}

fn comparison(i: &str) -> PResult<'_, Expr> {
    let (i, field) = positioned(i, field)?;
    let (i, op) = positioned(i, operator)?;
    let cs = peek_word(i) == "cs";
    let i = if cs { keyword(i, "cs")?.0 } else { i };
    let (i, value) = positioned(i, |i| {
        if op.value == Op::In {
            list(i)
        } else if i.starts_with('(') {
            expected(i, "a single value (a list needs \"in\")")
        } else {
            literal(i).map(|(r, l)| (r, Value::One(l)))
        }
    })?;
    Ok((
        i,
        Expr::Compare(Comparison {
            field,
            op,
            cs,
            value,
        }),
    ))
}

fn operator(i: &str) -> PResult<'_, Op> {
    for (text, op) in [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("=~", Op::Matches),
    ] {
        if let Some(rest) = i.strip_prefix(text) {
            if rest.starts_with(['=', '>', '<', '~']) {
                return expected(i, EXPECT_OP);
            }
            return Ok((rest, op));
        }
    }
    for (text, op) in [("<", Op::Lt), (">", Op::Gt)] {
        if let Some(rest) = i.strip_prefix(text) {
            if rest.starts_with(['=', '>', '<', '~']) {
                return expected(i, EXPECT_OP);
            }
            return Ok((rest, op));
        }
    }
    if let Ok((rest, w)) = word(i) {
        let op = match w {
            "in" => Some(Op::In),
            "contains" => Some(Op::Contains),
            "startswith" => Some(Op::StartsWith),
            "endswith" => Some(Op::EndsWith),
            "matches" => Some(Op::Matches),
            _ => None,
        };
        if let Some(op) = op {
            return Ok((rest, op));
        }
    }
    expected(i, EXPECT_OP)
}

/// `( literal, ... )`
fn list(i: &str) -> PResult<'_, Value> {
    let (mut i, _) = symbol(i, "(", "\"(\" and a list of values after \"in\"")?;
    let mut items = Vec::new();
    loop {
        if !items.is_empty() && peek_symbol(i, ")") {
            break;
        }
        let (rest, item) = literal(i)?;
        items.push(item);
        i = rest;
        if peek_symbol(i, ",") {
            i = symbol(i, ",", "\",\"")?.0;
        } else {
            break;
        }
    }
    let (i, _) = symbol(i, ")", "\",\" or \")\"")?;
    Ok((i, Value::List(items)))
}

// ---------------------------------------------------------------------------------------------
// Rules

fn rule_file(text: &str, examples: Examples) -> PResult<'_, RuleFile> {
    let mut rules = Vec::new();
    let mut domain = None;
    let mut i = text;
    loop {
        let (rest, _) = ws(i)?;
        if rest.is_empty() {
            break;
        }
        if peek_word(rest) == "domain" {
            if domain.is_some() {
                return invalid(
                    rest,
                    ErrorKind::Domain {
                        message: "a file declares at most one domain".into(),
                    },
                );
            }
            let pos = Pos(text.len() - rest.len());
            let (after, d) = super::domain::domain_block(rest)?;
            domain = Some(Spanned::new(pos, d));
            i = after;
            continue;
        }
        let (rest, mut r) = rule(rest, text, examples)?;
        fix_rule_positions(&mut r, text.len());
        rules.push(r);
        i = rest;
    }
    Ok((i, RuleFile { domain, rules }))
}

/// `rule <id> { item... }`. `full` is the whole text, for the line of a duplicate key.
fn rule<'a>(i: &'a str, full: &'a str, examples: Examples) -> PResult<'a, RuleAst> {
    if peek_word(i) != "rule" {
        return expected(ws(i)?.0, "a rule (rule <id> { ... })");
    }
    let (i, _) = keyword(i, "rule")?;
    let (i, id) = positioned(i, rule_id)?;
    let (mut i, _) = symbol(i, "{", "\"{\" to open the rule")?;
    let mut ast = RuleAst::new(id);
    let mut seen: Vec<(&str, usize)> = Vec::new();
    loop {
        let (rest, _) = ws(i)?;
        if let Some(rest) = rest.strip_prefix('}') {
            return Ok((rest, ast));
        }
        if rest.is_empty() {
            return expected(rest, EXPECT_ITEM);
        }
        if peek_word(rest) == "example" {
            let (rest, ex) = example(rest, examples)?;
            ast.examples.push(ex);
            i = rest;
            continue;
        }
        let (rest, key) = positioned(rest, rule_key)?;
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key.value) {
            let first_offset = full.len().saturating_sub(*first);
            let first_line = full
                .get(..first_offset)
                .map_or(1, |t| t.matches('\n').count() + 1);
            let at = full
                .get(full.len().saturating_sub(key.pos.0)..)
                .unwrap_or("");
            return invalid(
                at,
                ErrorKind::DuplicateKey {
                    key: key.value.to_string(),
                    first_line,
                },
            );
        }
        seen.push((key.value, key.pos.0));
        i = rule_value(rest, key, &mut ast)?.0;
    }
}

/// A rule id: `[A-Za-z0-9][A-Za-z0-9_.-]*`.
fn rule_id(i: &str) -> PResult<'_, String> {
    if !i.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return expected(i, "a rule id (letters, digits, \"-\", \"_\", \".\")");
    }
    let (rest, id) =
        take_while1(|c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))(i)?;
    Ok((rest, id.to_string()))
}

/// `key:`, where key is one of [`KEYS`].
fn rule_key(i: &str) -> PResult<'_, &'static str> {
    let Ok((rest, name)) =
        take_while1::<_, _, PErr<'_>>(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-')(
            i,
        )
    else {
        return expected(i, EXPECT_ITEM);
    };
    let has_colon = peek_symbol(rest, ":");
    match (KEYS.iter().find(|k| **k == name), has_colon) {
        (Some(key), true) => {
            let (rest, _) = symbol(rest, ":", "\":\"")?;
            Ok((rest, *key))
        }
        (Some(_), false) => expected(ws(rest)?.0, format!("\":\" after {name}")),
        (None, true) => invalid(
            i,
            ErrorKind::UnknownKey {
                key: name.to_string(),
                expected: format!("{}, example", KEYS.join(", ")),
            },
        ),
        (None, false) => expected(i, EXPECT_ITEM),
    }
}

/// The value of `key`, stored into `ast`. Values carry the key's position, except `when` and
/// `evidence`, which carry their own (errors inside them point there).
fn rule_value<'a>(i: &'a str, key: Spanned<&str>, ast: &mut RuleAst) -> PResult<'a, ()> {
    let pos = key.pos;
    let i = match key.value {
        "title" => {
            let (i, s) = string(i)?;
            ast.title = Some(Spanned::new(pos, s));
            i
        }
        "evidence" => {
            let (i, s) = positioned(i, string)?;
            ast.evidence = Some(s);
            i
        }
        "remediation" => {
            let (i, s) = string(i)?;
            ast.remediation = Some(Spanned::new(pos, s));
            i
        }
        "references" => {
            let (i, refs) = references(i)?;
            ast.references = Some(Spanned::new(pos, refs));
            i
        }
        "kind" => {
            let (i, v) = keyword_value(ws(i)?.0, "kind", KindName::from_word, KindName::list)?;
            ast.kind = Some(Spanned::new(pos, v));
            i
        }
        "cause" => {
            let (i, v) = keyword_value(ws(i)?.0, "cause", Cause::from_word, Cause::list)?;
            ast.cause = Some(Spanned::new(pos, v));
            i
        }
        "strength" => {
            let (i, v) = keyword_value(ws(i)?.0, "strength", Strength::from_word, Strength::list)?;
            ast.strength = Some(Spanned::new(pos, v));
            i
        }
        "healthy" => {
            let (mut i, first) = healthy_word(i)?;
            let mut list = vec![first];
            while peek_symbol(i, ",") {
                let (rest, _) = symbol(i, ",", "\",\"")?;
                let (rest, next) = healthy_word(rest)?;
                if !list.contains(&next) {
                    list.push(next);
                }
                i = rest;
            }
            ast.healthy = Some(Spanned::new(pos, list));
            i
        }
        "when" => {
            let (i, e) = positioned(i, when)?;
            ast.when = Some(e);
            i
        }
        "unless" => {
            let (i, u) = unless(i)?;
            ast.unless = Some(Spanned::new(pos, u));
            i
        }
        "aggregate" => {
            let (i, a) = aggregate(i)?;
            ast.aggregate = Some(Spanned::new(pos, a));
            i
        }
        "anchor" => {
            let (i, a) = anchor_window(i)?;
            ast.anchor = Some(Spanned::new(pos, a));
            i
        }
        _ => return expected(i, EXPECT_ITEM),
    };
    Ok((i, ()))
}

/// One `healthy:` setting's name.
fn healthy_word(i: &str) -> PResult<'_, Healthy> {
    keyword_value(
        ws(i)?.0,
        "healthy setting",
        Healthy::from_word,
        Healthy::list,
    )
}

/// `when:` — an expression that must be followed by the next key, an example or `}`.
fn when(i: &str) -> PResult<'_, Expr> {
    let (i, e) = expr(i, 0)?;
    let (next, _) = ws(i)?;
    let w = peek_word(next);
    if next.is_empty() || next.starts_with('}') || w == "example" || KEYS.contains(&w) {
        Ok((i, e))
    } else {
        expected(next, "\"and\", \"or\", the next key or \"}\"")
    }
}

/// `"url", "url", ...`
fn references(i: &str) -> PResult<'_, Vec<String>> {
    let (mut i, first) = string(i)?;
    let mut refs = vec![first];
    while peek_symbol(i, ",") {
        let (rest, _) = symbol(i, ",", "\",\"")?;
        let (rest, next) = string(rest)?;
        refs.push(next);
        i = rest;
    }
    Ok((i, refs))
}

/// One word from a fixed vocabulary (`cause: tls`).
fn keyword_value<'a, T>(
    i: &'a str,
    what: &'static str,
    lookup: fn(&str) -> Option<T>,
    list: fn() -> String,
) -> PResult<'a, T> {
    let Ok((rest, w)) =
        take_while1::<_, _, PErr<'_>>(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_')(
            i,
        )
    else {
        return expected(i, format!("a {what} ({})", list()));
    };
    match lookup(w) {
        Some(v) => Ok((rest, v)),
        None => invalid(
            i,
            ErrorKind::UnknownWord {
                what,
                found: w.to_string(),
                expected: list(),
            },
        ),
    }
}

/// `followed|preceded by <expr> within D [by field, ...]`
fn unless(i: &str) -> PResult<'_, Unless> {
    let (i, _) = ws(i)?;
    let (i, direction) = keyword_value(i, "direction", Direction::from_word, Direction::list)?;
    let (i, _) = keyword(i, "by")?;
    let (i, cond) = positioned(i, |i| expr(i, 0))?;
    if peek_word(i) != "within" {
        return expected(
            ws(i)?.0,
            "\"and\", \"or\" or \"within\" and a duration (unless: followed by <condition> within 30s)",
        );
    }
    let (i, _) = keyword(i, "within")?;
    let (i, within) = duration(i)?;
    let (i, by) = by_fields(i)?;
    Ok((
        i,
        Unless {
            direction,
            cond,
            within,
            by,
        },
    ))
}

/// `[by field, ...]`
fn by_fields(mut i: &str) -> PResult<'_, Vec<Spanned<Field>>> {
    let mut by = Vec::new();
    if peek_word(i) == "by" {
        i = keyword(i, "by")?.0;
        loop {
            let (rest, f) = positioned(i, field)?;
            by.push(f);
            i = rest;
            if !peek_symbol(i, ",") {
                break;
            }
            i = symbol(i, ",", "\",\"")?.0;
        }
    }
    Ok((i, by))
}

/// `count >= N within D [by field, ...]`
fn aggregate(i: &str) -> PResult<'_, Aggregate> {
    let (i, _) = keyword(i, "count")?;
    let (i, _) = symbol(i, ">=", "\">=\" (aggregate: count >= N within D)")?;
    let (i, _) = ws(i)?;
    let (i, count) = number(i)?;
    let (i, _) = keyword(i, "within")?;
    let (i, within) = duration(i)?;
    let (i, by) = by_fields(i)?;
    Ok((
        i,
        Aggregate {
            count: count.value,
            within,
            by,
        },
    ))
}

/// `require|prefer within D` / `before D [after D]` / `after D`.
fn anchor_window(i: &str) -> PResult<'_, AnchorWindow> {
    let (i, _) = ws(i)?;
    let (i, mode) = keyword_value(i, "anchor mode", AnchorMode::from_word, AnchorMode::list)?;
    let (i, _) = ws(i)?;
    let (i, before, after) = match peek_word(i) {
        "within" => {
            let (i, d) = duration(keyword(i, "within")?.0)?;
            (i, d, d)
        }
        "before" => {
            let (i, b) = duration(keyword(i, "before")?.0)?;
            if peek_word(i) == "after" {
                let (i, a) = duration(keyword(i, "after")?.0)?;
                (i, b, a)
            } else {
                (i, b, Millis(0))
            }
        }
        "after" => {
            let (i, a) = duration(keyword(i, "after")?.0)?;
            (i, Millis(0), a)
        }
        _ => return expected(i, "\"within\", \"before\" or \"after\" and a duration"),
    };
    Ok((
        i,
        AnchorWindow {
            mode,
            before,
            after,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Positions: recorded as "input left" while parsing, turned into offsets from the start here.

fn fix_rule_positions(rule: &mut RuleAst, full_len: usize) {
    let fix = |p: &mut Pos| *p = Pos(full_len.saturating_sub(p.0));
    fix(&mut rule.id.pos);
    macro_rules! fix_opt {
        ($($f:ident),*) => { $( if let Some(x) = &mut rule.$f { fix(&mut x.pos); } )* };
    }
    fix_opt!(
        title,
        kind,
        cause,
        strength,
        healthy,
        when,
        unless,
        aggregate,
        anchor,
        evidence,
        remediation,
        references
    );
    if let Some(w) = &mut rule.when {
        fix_expr(&mut w.value, full_len);
    }
    if let Some(a) = &mut rule.aggregate {
        a.value.by.iter_mut().for_each(|f| fix(&mut f.pos));
    }
    if let Some(u) = &mut rule.unless {
        fix(&mut u.value.cond.pos);
        fix_expr(&mut u.value.cond.value, full_len);
        u.value.by.iter_mut().for_each(|f| fix(&mut f.pos));
    }
    for ex in &mut rule.examples {
        fix(&mut ex.pos);
        let events = match &mut ex.body {
            ExampleBody::Single(e) => std::slice::from_mut(e),
            ExampleBody::Sequence(v) => v.as_mut_slice(),
        };
        for ev in events {
            fix(&mut ev.pos);
            for (f, v) in &mut ev.fields {
                fix(&mut f.pos);
                fix(&mut v.pos);
            }
        }
    }
}

fn fix_expr(e: &mut Expr, full_len: usize) {
    let fix = |p: &mut Pos| *p = Pos(full_len.saturating_sub(p.0));
    match e {
        Expr::And(items) | Expr::Or(items) => {
            items.iter_mut().for_each(|x| fix_expr(x, full_len));
        }
        Expr::Not(inner) => fix_expr(inner, full_len),
        Expr::Exists(f) => fix(&mut f.pos),
        Expr::Compare(c) => {
            fix(&mut c.field.pos);
            fix(&mut c.op.pos);
            fix(&mut c.value.pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;

    /// The lean parse of every built-in file is its whole parse with the examples' bodies
    /// dropped: the same rules, keys, positions and examples (where, match or nomatch). A
    /// text of examples written to trip a skipper (brackets, braces, `#` and quotes inside
    /// strings, raw strings, comments) is stepped over the same way.
    #[test]
    fn lean_parse_is_the_whole_parse_without_example_bodies() {
        let tricky = r##"rule t {
    title: "t"
    when: source == "evtx" and event_id == 1
    evidence: "e"
    example match [ evtx { event_id: 1, data.a: "} ] { [ # \" \u{7d}" }, # a comment ] }
        procmon { path: r"C:\x}]", detail: "a # b" } ]
    example nomatch evtx { event_id: 2, data.b: "]", data.c: "x\\" } # } trailing
    example match [ evtx { event_id: 1 }, anchor evtx { event_id: 1 } ]
}
"##;
        let mut files: Vec<(&str, &str)> = crate::rules::pack::BUILTIN.to_vec();
        files.push(("tricky.rdt", tricky));
        let mut examples = 0;
        for (name, text) in files {
            let mut whole = parse_file(name, text).unwrap_or_else(|e| panic!("{e}"));
            let lean = parse_file_lean(name, text).unwrap_or_else(|e| panic!("{e}"));
            for rule in &mut whole.rules {
                for ex in &mut rule.examples {
                    examples += 1;
                    ex.body = ExampleBody::Sequence(Vec::new());
                }
            }
            assert_eq!(lean, whole, "{name}");
        }
        assert!(examples > 100, "{examples} examples");
    }

    fn expr_of(text: &str) -> Expr {
        parse_expr("t", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn cmp(field: Field, op: Op, cs: bool, value: Value) -> Expr {
        Expr::Compare(Comparison {
            field: Spanned::new(Pos(0), field),
            op: Spanned::new(Pos(0), op),
            cs,
            value: Spanned::new(Pos(0), value),
        })
    }

    fn num(value: u64, hex: bool) -> Value {
        Value::One(Literal::Num(Number { value, hex }))
    }

    fn s(text: &str) -> Value {
        Value::One(Literal::Str(text.into()))
    }

    /// The headline of the error a rule file gives.
    fn file_err(text: &str) -> RuleError {
        parse_file("rules.rdt", text).expect_err(text)
    }

    #[test]
    fn precedence_not_and_or() {
        let e = expr_of("event_id == 1 or event_id == 2 and not event_id == 3");
        let id = |n| cmp(Field::EventId, Op::Eq, false, num(n, false));
        assert_eq!(
            e,
            Expr::Or(vec![
                id(1),
                Expr::And(vec![id(2), Expr::Not(Box::new(id(3)))])
            ])
        );
        // Parentheses are kept as nesting, never flattened.
        let e = expr_of("(event_id == 1 and event_id == 2) and event_id == 3");
        assert_eq!(e, Expr::And(vec![Expr::And(vec![id(1), id(2)]), id(3)]));
        assert_eq!(expr_of("((event_id == 1))"), id(1));
    }

    #[test]
    fn every_operator_and_literal() {
        let cases: &[(&str, Expr)] = &[
            (
                "level != 2",
                cmp(Field::Level, Op::Ne, false, num(2, false)),
            ),
            ("level < 2", cmp(Field::Level, Op::Lt, false, num(2, false))),
            (
                "level <= 0x2",
                cmp(Field::Level, Op::Le, false, num(2, true)),
            ),
            ("level > 2", cmp(Field::Level, Op::Gt, false, num(2, false))),
            (
                "level >= 2",
                cmp(Field::Level, Op::Ge, false, num(2, false)),
            ),
            (
                r#"path contains "a""#,
                cmp(Field::Path, Op::Contains, false, s("a")),
            ),
            (
                r#"path startswith cs "a""#,
                cmp(Field::Path, Op::StartsWith, true, s("a")),
            ),
            (
                r#"path endswith "a""#,
                cmp(Field::Path, Op::EndsWith, false, s("a")),
            ),
            (
                r#"path matches r"\d+""#,
                cmp(Field::Path, Op::Matches, false, s(r"\d+")),
            ),
            (
                r#"path =~ "a\\b""#,
                cmp(Field::Path, Op::Matches, false, s(r"a\b")),
            ),
            (
                r#"result in ("A", "B",)"#,
                cmp(
                    Field::Result,
                    Op::In,
                    false,
                    Value::List(vec![Literal::Str("A".into()), Literal::Str("B".into())]),
                ),
            ),
            (
                "exists data.X",
                Expr::Exists(Spanned::new(Pos(0), Field::Data("X".into()))),
            ),
            (
                "has column.\"Image Path\"",
                Expr::Exists(Spanned::new(Pos(0), Field::Column("Image Path".into()))),
            ),
            (
                "detail.Length == 0",
                cmp(
                    Field::DetailKey("Length".into()),
                    Op::Eq,
                    false,
                    num(0, false),
                ),
            ),
            (
                r#"data["Error Code"] == "\"q\"\t\u{41}""#,
                cmp(
                    Field::Data("Error Code".into()),
                    Op::Eq,
                    false,
                    s("\"q\"\tA"),
                ),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(&expr_of(text), want, "{text}");
        }
    }

    #[test]
    fn keywords_need_a_word_boundary() {
        // `android` is not `and` + `roid`; `notes` is not `not`.
        let e = parse_expr("t", "event_id == 1 android == 2").unwrap_err();
        assert_eq!(e.column, 15);
        let e = parse_expr("t", "notes == 1").unwrap_err();
        assert!(matches!(*e.kind, ErrorKind::UnknownField { .. }), "{e}");
    }

    #[test]
    fn block_strings_remove_common_indentation() {
        let text =
            "rule a {\n  title: \"\"\"   \n      one\n        two\n\n      three\n      \"\"\"\n}";
        let ast = parse_file("f", text).unwrap();
        assert_eq!(
            ast.rules[0].title.as_ref().unwrap().value,
            "one\n  two\n\nthree"
        );
        // CRLF files read the same.
        let ast = parse_file("f", &text.replace('\n', "\r\n")).unwrap();
        assert_eq!(
            ast.rules[0].title.as_ref().unwrap().value,
            "one\n  two\n\nthree"
        );
    }

    #[test]
    fn rule_keys_and_examples() {
        let ast = parse_file("f", SAMPLE).unwrap();
        let r = &ast.rules[2];
        assert_eq!(r.id.value, "tcp-reconnects");
        let agg = &r.aggregate.as_ref().unwrap().value;
        assert_eq!((agg.count, agg.within), (3, Millis(60_000)));
        assert_eq!(
            agg.by.iter().map(|f| f.value.clone()).collect::<Vec<_>>(),
            vec![Field::Process, Field::Pid]
        );
        assert_eq!(r.examples.len(), 2);
        assert_eq!(r.examples[0].body.events().len(), 3);
        let r = &ast.rules[1];
        assert_eq!(
            r.anchor.as_ref().unwrap().value,
            AnchorWindow {
                mode: AnchorMode::Prefer,
                before: Millis(300_000),
                after: Millis(30_000)
            }
        );
        assert_eq!(r.references.as_ref().unwrap().value.len(), 2);
        assert_eq!(r.cause.as_ref().unwrap().value, Cause::Tls);
        assert_eq!(r.strength.as_ref().unwrap().value, Strength::Moderate);
        assert_eq!(ast.rules[0].kind.as_ref().unwrap().value, KindName::Anchor);
        let ex = &ast.rules[4].examples[0];
        assert!(ex.body.events()[1].anchor);
        assert_eq!(
            ex.body.events()[0].fields[0].1.value,
            ExampleValue::Offset(0)
        );
        // Positions point at the source: the id of the third rule.
        let offset = SAMPLE.find("tcp-reconnects").unwrap();
        assert_eq!(ast.rules[2].id.pos.0, offset);
    }

    #[test]
    fn anchor_window_forms() {
        let window = |w: &str| {
            let text = format!("rule a {{ anchor: {w} }}");
            parse_file("f", &text).unwrap().rules[0]
                .anchor
                .as_ref()
                .unwrap()
                .value
        };
        assert_eq!(
            (
                window("require within 5m").before,
                window("require within 5m").after
            ),
            (Millis(300_000), Millis(300_000))
        );
        assert_eq!(window("prefer after 500ms").before, Millis(0));
        assert_eq!(window("prefer after 500ms").after, Millis(500));
        assert_eq!(window("prefer before 2h").before, Millis(7_200_000));
        assert_eq!(window("prefer before 1d after 0s").after, Millis(0));
    }

    #[test]
    fn syntax_error_messages_and_positions() {
        let cases: &[(&str, (usize, usize), &str)] = &[
            (
                "rule a {\n    when: event_id => 3\n}",
                (2, 20),
                "expected a comparison operator (==, !=, <, <=, >, >=, in, contains, startswith, endswith, matches, =~), found \"=>\"",
            ),
            (
                "rule a {\n  when: eventid == 3\n}",
                (2, 9),
                "unknown field \"eventid\" (did you mean \"event_id\"?)",
            ),
            (
                "rule a {\n  titel: \"x\"\n}",
                (2, 3),
                "unknown key \"titel\", expected one of: title, kind, cause, strength, healthy, when, unless, aggregate, anchor, evidence, remediation, references, example",
            ),
            (
                "rule a {\n  title: \"x\"\n  title: \"y\"\n}",
                (3, 3),
                "duplicate key \"title\" (first given on line 2)",
            ),
            (
                "rule a {\n  cause: dns\n}",
                (2, 10),
                "unknown cause \"dns\", expected one of: certificate, tls, server-refused, network, firewall, gateway, access-denied, licensing, rdp-wrapper, credssp-policy, servicing, server-down, server-resources",
            ),
            (
                "rule a { strength: high }",
                (1, 20),
                "unknown strength \"high\", expected one of: strong, moderate, weak, context",
            ),
            (
                "rule a { kind: trigger }",
                (1, 16),
                "unknown kind \"trigger\", expected one of: cause, anchor, disconnect-code",
            ),
            (
                "rule a { title: \"C:\\Windows\" }",
                (1, 20),
                "expected an escape (\\\\, \\\", \\n, \\t, \\r, \\u{...}); write Windows paths and regexes as raw strings: r\"C:\\Windows\", found \"\\\\\"",
            ),
            (
                "rule a { title: \"open\n}",
                (1, 22),
                "expected a closing \" before the end of the line, found end of line",
            ),
            (
                "rule a { when: event_id == 99999999999999999999 }",
                (1, 28),
                "number 99999999999999999999 is out of range (at most 18446744073709551615)",
            ),
            (
                "rule a { when: event_id == 1 andd event_id == 2 }",
                (1, 30),
                "expected \"and\", \"or\", the next key or \"}\", found \"andd\"",
            ),
            (
                "rule a { when: event_id in 1 }",
                (1, 28),
                "expected \"(\" and a list of values after \"in\", found \"1\"",
            ),
            (
                "rule a { when: event_id == (1, 2) }",
                (1, 28),
                "expected a single value (a list needs \"in\"), found \"(\"",
            ),
            (
                "rule a { aggregate: count > 3 within 1m }",
                (1, 27),
                "expected \">=\" (aggregate: count >= N within D), found \">\"",
            ),
            (
                "rule a { aggregate: count >= 3 within 5x }",
                (1, 39),
                "expected a duration (500ms, 60s, 5m, 2h, 1d), found \"5x\"",
            ),
            (
                "rule a { anchor: demand within 5m }",
                (1, 18),
                "unknown anchor mode \"demand\", expected one of: require, prefer",
            ),
            (
                "rule a { example maybe evtx {} }",
                (1, 18),
                "expected \"match\" or \"nomatch\" after example, found \"maybe\"",
            ),
            (
                "rule a { example match csv {} }",
                (1, 24),
                "expected an event (evtx { ... }, procmon { ... }, registry { ... }, acl { ... } or netstat { ... }), found \"csv\"",
            ),
            (
                "rule a { example match evtx { event_id 5 } }",
                (1, 40),
                "expected \":\" after the field name, found \"5\"",
            ),
            (
                "rule { }",
                (1, 6),
                "expected a rule id (letters, digits, \"-\", \"_\", \".\"), found \"{\"",
            ),
            (
                "rule a\n",
                (2, 1),
                "expected \"{\" to open the rule, found end of input",
            ),
            (
                "rule a {",
                (1, 9),
                "expected a key (title, kind, cause, strength, healthy, when, unless, aggregate, anchor, evidence, remediation, references), \"example\" or \"}\", found end of input",
            ),
            (
                "rules a {}",
                (1, 1),
                "expected a rule (rule <id> { ... }), found \"rules\"",
            ),
            (
                "rule a { when: data == 1 }",
                (1, 21),
                "expected \".\" and a name after data (data.Name), found \"==\"",
            ),
            (
                "rule a { title \"x\" }",
                (1, 16),
                "expected \":\" after title, found a string",
            ),
        ];
        let mut wrong = Vec::new();
        for (text, (line, column), message) in cases {
            let e = file_err(text);
            if e.kind.to_string() != *message || (e.line, e.column) != (*line, *column) {
                wrong.push(format!(
                    "{text:?}\n  want {line}:{column}: {message}\n  got  {e}"
                ));
            }
            assert!(e.to_string().starts_with("rules.rdt:"), "{e}");
            assert!(e.to_string().ends_with('^'), "{e}");
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}event_id == 1{}", "(".repeat(10_000), ")".repeat(10_000));
        let e = parse_expr("t", &deep).unwrap_err();
        assert_eq!(
            e.kind.to_string(),
            format!("nesting deeper than {MAX_DEPTH} levels")
        );
        let nots = format!("{}event_id == 1", "not ".repeat(10_000));
        assert!(parse_expr("t", &nots).is_err());
        // Within the limit it parses.
        let ok = format!("{}event_id == 1{}", "(".repeat(30), ")".repeat(30));
        assert!(parse_expr("t", &ok).is_ok());
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "é".repeat(100);
        let inputs = [
            "",
            "#",
            "rule",
            "rule a { title: \"\"\"",
            "rule a { title: \"\"\"x\n\"\"\" }",
            "rule a { when: data.\"é\" == \"\\u{110000}\" }",
            "rule a { when: data[ == 1 }",
            "rule a { example match [ ] }",
            "rule a { example match [ evtx { time: +99999999999999999d } ] }",
            "rule a { when: path == r\"unterminated }",
            "\u{feff}rule a {}",
            long.as_str(),
            "rule é {}",
            "rule a { when: 0x == 1 }",
            "rule a { references: \"a\", }",
        ];
        for text in inputs {
            let _ = parse_file("f", text);
            let _ = parse_expr("f", text);
            let _ = crate::rules::load_rules(&[("f", text)]);
        }
    }

    #[test]
    fn the_documented_example_rule_loads_and_passes() {
        let source = include_str!("parser.rs");
        let docs: String = source
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let start = docs.find("```text\nrule ").expect("example in the docs") + "```text\n".len();
        let end = start + docs[start..].find("```").expect("end of the example");
        let set = load(&docs[start..end]);
        assert_eq!(set.rules().len(), 1);
        assert!(
            set.check_examples().is_empty(),
            "{:?}",
            set.check_examples()
        );
    }
}
