//! Validation: syntax trees → compiled [`Rule`]s the engine can run.
//!
//! This is where a rule that parses is checked for meaning: the keys its kind requires (and
//! forbids), operator/value types against field types, regexes, timestamps, the evidence
//! template's fields, and its examples ([`super::examples`]). Conditions are compiled into
//! `Cond`: literals pre-lowered, regexes built (the built-in pack's, for an analysis, at their
//! first use: [`Ctx::whole`]), numbers typed, so evaluation does no parsing beyond reading
//! numbers out of event text. The tests a comparison becomes are in [`super::compare`].
//!
//! Type rules: text fields take strings (`==`, `!=`, `in`, `contains`, `startswith`, `endswith`,
//! `matches`); number fields take numbers (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`); open fields
//! (`data.*`, `detail.*`, `column.*`) take either, and a number compares the text read as a
//! number (decimal or `0x` hex); `source` takes `"evtx"`/`"procmon"` with `==`, `!=`, `in`; `time`
//! takes a timestamp string with `==`, `!=` and the orderings. `cs` only applies to strings.
//! Anything else is a type mismatch. A comparison on a field the event does not have is false,
//! whatever the operator (so `x != 1` is false when `x` is missing; `not x == 1` is true).

use std::sync::Arc;

use jiff::Timestamp;

use super::absence::{self, Absence};
use super::ast::{
    AnchorWindow, Cause, Comparison, Expect, Expr, Healthy, KindName, Literal, Millis, Op, Pos,
    RuleAst, Strength, Value,
};
use super::compare::{NumTest, Pat, Rx, TextTest, order_holds};
use super::error::{ErrorKind, RuleError};
use super::examples::{self, CompiledExample};
use super::fields::{Field, FieldType, FieldValue, parse_number};
use super::prefilter::Prefilter;
use super::template::Template;
use crate::model::{Event, Source};

/// Where errors are reported: one rule file.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub file: &'a str,
    pub text: &'a str,
    /// Where `text`'s line breaks are ([`newlines`]): a rule's line is looked up, not counted
    /// again from the top of its file for every rule.
    pub newlines: &'a [usize],
    /// Build the rules whole: their examples into events (`rules test` runs them) and their
    /// regexes now. An analysis does not build the built-in pack whole: it cannot change after
    /// the build, and its tests build it whole. Its regexes are built at their first use
    /// (most scans never ask one) and its examples not at all.
    pub whole: bool,
}

/// The byte offsets of the line breaks in `text`, in order: what [`Ctx::line`] looks up.
pub(crate) fn newlines(text: &str) -> Vec<usize> {
    memchr::memchr_iter(b'\n', text.as_bytes()).collect()
}

impl Ctx<'_> {
    pub fn err(&self, pos: Pos, kind: ErrorKind) -> RuleError {
        RuleError::at(self.file, self.text, pos.0, kind)
    }

    /// The line (from 1) of the byte at `pos`.
    pub fn line(&self, pos: Pos) -> usize {
        self.newlines.partition_point(|&n| n < pos.0) + 1
    }
}

/// What a rule is for, with what only causes carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Marks the 0x904 itself; its matches are anchors, not findings.
    Anchor,
    /// Reports another disconnect code (context for the report).
    DisconnectCode,
    /// Evidence for a cause.
    Cause { cause: Cause, strength: Strength },
}

/// `aggregate:` compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregation {
    pub count: u64,
    pub within: Millis,
    pub by: Vec<Field>,
}

/// A validated, compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub(crate) id: Arc<str>,
    pub(crate) title: String,
    pub(crate) kind: RuleKind,
    /// The healthy configuration that answers this rule's findings (`healthy:`).
    pub(crate) healthy: Vec<Healthy>,
    pub(crate) cond: Cond,
    pub(crate) aggregate: Option<Aggregation>,
    pub(crate) unless: Option<Absence>,
    pub(crate) anchor: Option<AnchorWindow>,
    pub(crate) evidence: Template,
    pub(crate) remediation: Option<String>,
    pub(crate) references: Vec<String>,
    pub(crate) file: Arc<str>,
    pub(crate) line: usize,
    pub(crate) prefilter: Prefilter,
    pub(crate) examples: Vec<CompiledExample>,
    pub(crate) ast: RuleAst,
}

impl Rule {
    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn title(&self) -> &str {
        &self.title
    }
    pub fn kind(&self) -> RuleKind {
        self.kind
    }
    pub fn cause(&self) -> Option<Cause> {
        match self.kind {
            RuleKind::Cause { cause, .. } => Some(cause),
            _ => None,
        }
    }
    pub fn strength(&self) -> Option<Strength> {
        match self.kind {
            RuleKind::Cause { strength, .. } => Some(strength),
            _ => None,
        }
    }
    /// The healthy configuration that answers this rule's findings (`healthy:`).
    pub fn healthy(&self) -> &[Healthy] {
        &self.healthy
    }
    pub fn is_anchor(&self) -> bool {
        self.kind == RuleKind::Anchor
    }
    /// The evidence template as written.
    pub fn evidence_template(&self) -> &str {
        self.evidence.text()
    }
    /// The evidence line for one event.
    pub fn render_evidence(&self, event: &Event) -> String {
        self.evidence.render(event)
    }
    pub fn remediation(&self) -> Option<&str> {
        self.remediation.as_deref()
    }
    pub fn references(&self) -> &[String] {
        &self.references
    }
    pub fn aggregation(&self) -> Option<&Aggregation> {
        self.aggregate.as_ref()
    }
    pub fn anchor_window(&self) -> Option<AnchorWindow> {
        self.anchor
    }
    /// The file the rule came from, as given to `load_rules`.
    pub fn file(&self) -> &str {
        &self.file
    }
    /// The line of its `rule` keyword.
    pub fn line(&self) -> usize {
        self.line
    }
    /// Which events the rule can possibly match.
    pub fn prefilter(&self) -> &Prefilter {
        &self.prefilter
    }
    /// The syntax tree; its `Display` is the canonical rule text.
    pub fn ast(&self) -> &RuleAst {
        &self.ast
    }
    /// Does the condition hold for `event`? (Prefilter and proximity not applied.)
    pub fn matches(&self, event: &Event) -> bool {
        self.cond.eval(event)
    }
    /// `unless:` compiled, when the rule has one.
    pub fn absence(&self) -> Option<&Absence> {
        self.unless.as_ref()
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled conditions

#[derive(Debug, Clone)]
pub(crate) enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Exists(Field),
    Source { sources: Vec<Source>, negate: bool },
    Text { field: Field, test: TextTest },
    Num { field: Field, test: NumTest },
    Time { op: Op, ts: Timestamp },
}

impl Cond {
    /// Every `matches` pattern in this condition.
    #[cfg(test)]
    pub(crate) fn each_regex(&self, see: &mut dyn FnMut(&Rx)) {
        match self {
            Cond::And(items) | Cond::Or(items) => items.iter().for_each(|c| c.each_regex(see)),
            Cond::Not(inner) => inner.each_regex(see),
            Cond::Text {
                test: TextTest::Matches(rx),
                ..
            } => see(rx),
            _ => {}
        }
    }

    /// A rough price of evaluating this once, to ask the cheap tests of an `and` or an `or`
    /// first: a number or a source is compared at once, an equality reads a field and compares
    /// it, a search (`contains`, `startswith`, `endswith`) scans the text, a regex runs an
    /// automaton; a field found by name (`data.*`, `detail.*`, `column.*`) is looked for first.
    fn cost(&self) -> u32 {
        let field_cost = |field: &Field| match field.ty() {
            FieldType::Dynamic => 2,
            _ => 0,
        };
        match self {
            Cond::And(items) | Cond::Or(items) => items.iter().map(Cond::cost).sum(),
            Cond::Not(inner) => inner.cost(),
            Cond::Source { .. } | Cond::Time { .. } => 1,
            Cond::Exists(field) | Cond::Num { field, .. } => 1 + field_cost(field),
            Cond::Text { field, test } => {
                let test_cost = match test {
                    TextTest::Eq(_) | TextTest::Ne(_) | TextTest::In(_) => 2,
                    TextTest::Contains(_) | TextTest::StartsWith(_) | TextTest::EndsWith(_) => 6,
                    TextTest::Matches(_) => 12,
                };
                test_cost + field_cost(field)
            }
        }
    }

    pub(crate) fn eval(&self, ev: &Event) -> bool {
        match self {
            Cond::And(items) => items.iter().all(|c| c.eval(ev)),
            Cond::Or(items) => items.iter().any(|c| c.eval(ev)),
            Cond::Not(inner) => !inner.eval(ev),
            Cond::Exists(f) => f.get(ev).is_some(),
            Cond::Source { sources, negate } => sources.contains(&ev.source()) != *negate,
            Cond::Text { field, test } => match field.get(ev) {
                Some(FieldValue::Text(t)) => test.eval(&t),
                Some(other) => test.eval(&other.render()),
                None => false,
            },
            Cond::Num { field, test } => match field.get(ev) {
                Some(FieldValue::Num(n)) => test.eval(n),
                Some(FieldValue::Text(t)) => parse_number(&t).is_some_and(|n| test.eval(n)),
                _ => false,
            },
            Cond::Time { op, ts } => ev.time.is_some_and(|t| order_holds(*op, t.cmp(ts))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Compile one rule; every problem found is pushed to `errors` (and `None` returned).
pub(crate) fn compile_rule(
    ctx: &Ctx<'_>,
    file: &Arc<str>,
    ast: &RuleAst,
    errors: &mut Vec<RuleError>,
) -> Option<Rule> {
    let before = errors.len();
    let id = &ast.id.value;
    let kind_name = ast.kind.as_ref().map_or(KindName::Cause, |k| k.value);
    let missing = |key: &'static str, why: &str| {
        ctx.err(
            ast.id.pos,
            ErrorKind::MissingKey {
                rule: id.clone(),
                key,
                why: why.to_string(),
            },
        )
    };
    let not_allowed = |key: &'static str, pos: Pos, why: &'static str| {
        ctx.err(
            pos,
            ErrorKind::KeyNotAllowed {
                key,
                kind: kind_name.as_str(),
                why,
            },
        )
    };

    // Keys every rule needs.
    if ast.title.is_none() {
        errors.push(missing("title", " (every rule needs one)"));
    }
    if ast.when.is_none() {
        errors.push(missing("when", " (every rule needs a condition)"));
    }
    if ast.evidence.is_none() {
        errors.push(missing(
            "evidence",
            " (every rule needs an evidence template)",
        ));
    }

    // Keys that depend on the kind.
    let kind = match kind_name {
        KindName::Cause => {
            if ast.cause.is_none() {
                errors.push(missing(
                    "cause",
                    " (a cause rule needs one; or set kind: anchor / disconnect-code)",
                ));
            }
            if ast.strength.is_none() {
                errors.push(missing("strength", " (a cause rule needs one)"));
            }
            if ast.remediation.is_none() {
                errors.push(missing("remediation", " (a cause rule needs one)"));
            }
            match (&ast.cause, &ast.strength) {
                (Some(c), Some(s)) => Some(RuleKind::Cause {
                    cause: c.value,
                    strength: s.value,
                }),
                _ => None,
            }
        }
        KindName::Anchor | KindName::DisconnectCode => {
            let why = " (only cause rules have one)";
            if let Some(c) = &ast.cause {
                errors.push(not_allowed("cause", c.pos, why));
            }
            if let Some(s) = &ast.strength {
                errors.push(not_allowed("strength", s.pos, why));
            }
            if let Some(h) = &ast.healthy {
                errors.push(not_allowed("healthy", h.pos, why));
            }
            if kind_name == KindName::Anchor {
                if let Some(a) = &ast.aggregate {
                    errors.push(not_allowed(
                        "aggregate",
                        a.pos,
                        " (every 0x904 is an anchor)",
                    ));
                }
                if let Some(a) = &ast.anchor {
                    errors.push(not_allowed(
                        "anchor",
                        a.pos,
                        " (an anchor is not placed relative to itself)",
                    ));
                }
            }
            Some(if kind_name == KindName::Anchor {
                RuleKind::Anchor
            } else {
                RuleKind::DisconnectCode
            })
        }
    };

    // A healthy setting answers the findings of its own cause only.
    if let (Some(h), Some(c)) = (&ast.healthy, &ast.cause) {
        for setting in h.value.iter().filter(|s| s.cause() != c.value) {
            errors.push(ctx.err(
                h.pos,
                ErrorKind::BadValue {
                    what: "healthy setting",
                    text: setting.as_str().into(),
                    message: format!("it answers {} findings, not {}", setting.cause(), c.value),
                },
            ));
        }
    }

    let cond = ast
        .when
        .as_ref()
        .and_then(|w| compile_expr(ctx, &w.value, errors));

    let evidence = ast.evidence.as_ref().and_then(|e| {
        Template::parse(&e.value)
            .map_err(|(offset, kind)| {
                errors.push(ctx.err(string_offset(ctx.text, e.pos, &e.value, offset), kind));
            })
            .ok()
    });

    let aggregate = ast.aggregate.as_ref().and_then(|a| {
        if a.value.count == 0 {
            errors.push(ctx.err(
                a.pos,
                ErrorKind::BadValue {
                    what: "aggregate count",
                    text: "0".into(),
                    message: "the threshold must be at least 1".into(),
                },
            ));
            return None;
        }
        if a.value.within.0 == 0 {
            errors.push(ctx.err(
                a.pos,
                ErrorKind::BadValue {
                    what: "aggregate window",
                    text: "0s".into(),
                    message: "the window must be longer than 0".into(),
                },
            ));
            return None;
        }
        Some(Aggregation {
            count: a.value.count,
            within: a.value.within,
            by: a.value.by.iter().map(|f| f.value.clone()).collect(),
        })
    });

    let unless = ast.unless.as_ref().and_then(|u| {
        if kind_name == KindName::Anchor {
            errors.push(not_allowed("unless", u.pos, " (every 0x904 is an anchor)"));
            return None;
        }
        absence::compile_unless(ctx, u.pos, &u.value, errors)
    });

    let compiled_examples = if ctx.whole {
        examples::compile_examples(ctx, &ast.examples, errors)
    } else {
        Vec::new()
    };
    for (expect, which) in [(Expect::Match, "match"), (Expect::NoMatch, "nomatch")] {
        if !ast.examples.iter().any(|e| e.expect == expect) {
            errors.push(ctx.err(
                ast.id.pos,
                ErrorKind::MissingExample {
                    rule: id.clone(),
                    which,
                },
            ));
        }
    }

    if errors.len() > before {
        return None;
    }
    let (Some(kind), Some(cond), Some(evidence), Some(title)) = (kind, cond, evidence, &ast.title)
    else {
        return None;
    };
    // The witnesses of `unless:` must reach the engine too: the prefilter admits either.
    let mut prefilter = Prefilter::from_cond(&cond);
    if let Some(u) = &unless {
        prefilter = prefilter.or(Prefilter::from_cond(&u.cond));
    }
    Some(Rule {
        id: Arc::from(id.as_str()),
        title: title.value.clone(),
        kind,
        healthy: ast
            .healthy
            .as_ref()
            .map(|h| h.value.clone())
            .unwrap_or_default(),
        cond,
        aggregate,
        unless,
        anchor: ast.anchor.as_ref().map(|a| a.value),
        evidence,
        remediation: ast.remediation.as_ref().map(|r| r.value.clone()),
        references: ast
            .references
            .as_ref()
            .map(|r| r.value.clone())
            .unwrap_or_default(),
        file: Arc::clone(file),
        line: ctx.line(ast.id.pos),
        prefilter,
        examples: compiled_examples,
        ast: ast.clone(),
    })
}

/// The source position of byte `offset` inside the string literal at `pos`: exact for `"..."`
/// without escapes and for `r"..."`, else the literal's start.
fn string_offset(text: &str, pos: Pos, value: &str, offset: usize) -> Pos {
    let at = text.get(pos.0..).unwrap_or("");
    for open in ["r\"", "\""] {
        if at.starts_with(open) && !at.starts_with("\"\"\"") {
            let body = &at[open.len()..];
            if body.starts_with(value) && body[value.len()..].starts_with('"') {
                return Pos(pos.0 + open.len() + offset);
            }
        }
    }
    pos
}

pub(crate) fn compile_expr(ctx: &Ctx<'_>, e: &Expr, errors: &mut Vec<RuleError>) -> Option<Cond> {
    match e {
        Expr::And(items) | Expr::Or(items) => {
            let compiled: Vec<Option<Cond>> =
                items.iter().map(|x| compile_expr(ctx, x, errors)).collect();
            let compiled: Option<Vec<Cond>> = compiled.into_iter().collect();
            let mut compiled = compiled?;
            // The conditions have no effects, so an `and` or an `or` answers the same in any
            // order: the cheap ones are asked first, and the rest only when they do not
            // decide (a rule that tests the path before the result scans every path; stable,
            // so equal prices keep the rule's order).
            compiled.sort_by_key(Cond::cost);
            Some(if matches!(e, Expr::And(_)) {
                Cond::And(compiled)
            } else {
                Cond::Or(compiled)
            })
        }
        Expr::Not(inner) => compile_expr(ctx, inner, errors).map(|c| Cond::Not(Box::new(c))),
        Expr::Exists(f) => Some(Cond::Exists(f.value.clone())),
        Expr::Compare(c) => compile_comparison(ctx, c).map_err(|e| errors.push(e)).ok(),
    }
}

fn compile_comparison(ctx: &Ctx<'_>, c: &Comparison) -> Result<Cond, RuleError> {
    let field = &c.field.value;
    let op = c.op.value;
    let mismatch = |message: String| ctx.err(c.op.pos, ErrorKind::TypeMismatch { message });
    let lits: Vec<&Literal> = match &c.value.value {
        Value::One(l) => vec![l],
        Value::List(items) => items.iter().collect(),
    };
    let strings: Option<Vec<&str>> = lits
        .iter()
        .map(|l| match l {
            Literal::Str(s) => Some(s.as_str()),
            Literal::Num(_) => None,
        })
        .collect();
    let numbers: Option<Vec<u64>> = lits
        .iter()
        .map(|l| match l {
            Literal::Num(n) => Some(n.value),
            Literal::Str(_) => None,
        })
        .collect();
    if strings.is_none() && numbers.is_none() {
        return Err(ctx.err(
            c.value.pos,
            ErrorKind::TypeMismatch {
                message: "a list must hold only strings or only numbers".into(),
            },
        ));
    }
    let is_text_op = matches!(
        op,
        Op::Contains | Op::StartsWith | Op::EndsWith | Op::Matches
    );
    let is_order_op = matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
    let ty = field.ty();
    let use_text = match ty {
        FieldType::Text => true,
        FieldType::Number => false,
        FieldType::Dynamic => strings.is_some(),
        FieldType::Source => return compile_source(ctx, c, strings),
        FieldType::Time => return compile_time(ctx, c, strings),
    };
    if c.cs && !use_text {
        return Err(mismatch(format!(
            "\"cs\" applies to text comparisons only, and this compares {field} with a number"
        )));
    }
    if use_text {
        let Some(strings) = strings else {
            return Err(mismatch(format!(
                "{field} is text: compare it with a string (\"...\"), not a number"
            )));
        };
        if is_order_op {
            return Err(mismatch(match ty {
                FieldType::Dynamic => format!(
                    "\"{op}\" compares numbers: write the value as a number ({field} {op} 5)"
                ),
                _ => format!("\"{op}\" compares numbers, and {field} is text"),
            }));
        }
        let pat = |s: &str| Pat::new(s, c.cs);
        let first = strings.first().copied().unwrap_or("");
        let test = match op {
            Op::Eq => TextTest::Eq(pat(first)),
            Op::Ne => TextTest::Ne(pat(first)),
            Op::In => TextTest::In(strings.iter().map(|s| pat(s)).collect()),
            Op::Contains => TextTest::Contains(pat(first)),
            Op::StartsWith => TextTest::StartsWith(pat(first)),
            Op::EndsWith => TextTest::EndsWith(pat(first)),
            _ => TextTest::Matches(
                Rx::new(first, c.cs, ctx.whole)
                    .map_err(|message| ctx.err(c.value.pos, ErrorKind::BadRegex { message }))?,
            ),
        };
        return Ok(Cond::Text {
            field: field.clone(),
            test,
        });
    }
    if is_text_op {
        return Err(mismatch(match ty {
            FieldType::Dynamic => {
                format!(
                    "\"{op}\" compares text: write the value as a string ({field} {op} \"...\")"
                )
            }
            _ => format!("\"{op}\" compares text, and {field} is a number"),
        }));
    }
    let Some(numbers) = numbers else {
        return Err(mismatch(format!(
            "{field} is a number: compare it with a number (36888, 0x904), not a string"
        )));
    };
    let test = match op {
        Op::In => NumTest::In(numbers),
        _ => NumTest::Cmp(op, numbers.first().copied().unwrap_or(0)),
    };
    Ok(Cond::Num {
        field: field.clone(),
        test,
    })
}

fn compile_source(
    ctx: &Ctx<'_>,
    c: &Comparison,
    strings: Option<Vec<&str>>,
) -> Result<Cond, RuleError> {
    let bad_op = !matches!(c.op.value, Op::Eq | Op::Ne | Op::In);
    let Some(strings) = strings.filter(|_| !bad_op && !c.cs) else {
        return Err(ctx.err(
            c.op.pos,
            ErrorKind::TypeMismatch {
                message:
                    "source is \"evtx\", \"procmon\", \"registry\" or \"acl\": compare it with ==, != or in and a string"
                        .into(),
            },
        ));
    };
    let mut sources = Vec::new();
    for s in strings {
        let Some(source) = Source::from_name(s) else {
            return Err(ctx.err(
                c.value.pos,
                ErrorKind::BadValue {
                    what: "source",
                    text: s.to_string(),
                    message: "expected \"evtx\", \"procmon\", \"registry\" or \"acl\"".into(),
                },
            ));
        };
        sources.push(source);
    }
    Ok(Cond::Source {
        sources,
        negate: c.op.value == Op::Ne,
    })
}

fn compile_time(
    ctx: &Ctx<'_>,
    c: &Comparison,
    strings: Option<Vec<&str>>,
) -> Result<Cond, RuleError> {
    let ok_op = matches!(
        c.op.value,
        Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge
    );
    let text = strings.filter(|s| s.len() == 1 && ok_op && !c.cs);
    let Some(text) = text.and_then(|s| s.first().copied()) else {
        return Err(ctx.err(
            c.op.pos,
            ErrorKind::TypeMismatch {
                message: "time compares with a timestamp string (\"2024-05-01T10:00:00Z\") using ==, !=, <, <=, > or >="
                    .into(),
            },
        ));
    };
    let ts = parse_timestamp(text).map_err(|message| {
        ctx.err(
            c.value.pos,
            ErrorKind::BadValue {
                what: "timestamp",
                text: text.to_string(),
                message,
            },
        )
    })?;
    Ok(Cond::Time { op: c.op.value, ts })
}

/// An RFC 3339 timestamp with an offset (`2024-05-01T10:00:00Z`).
pub(crate) fn parse_timestamp(text: &str) -> Result<Timestamp, String> {
    text.parse::<Timestamp>()
        .map_err(|e| format!("{e} (write e.g. 2024-05-01T10:00:00Z)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parser::parse_expr;
    use crate::rules::testutil::*;

    fn compile(text: &str) -> Result<Cond, RuleError> {
        let ctx = Ctx {
            file: "c",
            text,
            newlines: &newlines(text),
            whole: true,
        };
        let expr = parse_expr("c", text)?;
        let mut errors = Vec::new();
        match compile_expr(&ctx, &expr, &mut errors) {
            Some(c) => Ok(c),
            None => Err(errors.remove(0)),
        }
    }

    fn holds(text: &str, ev: &Event) -> bool {
        compile(text).unwrap_or_else(|e| panic!("{e}")).eval(ev)
    }

    fn mismatch(text: &str) -> String {
        let e = compile(text).expect_err(text);
        assert!(
            matches!(*e.kind, ErrorKind::TypeMismatch { .. }),
            "{text}: {e}"
        );
        e.kind.to_string()
    }

    fn schannel() -> Event {
        win(
            "Schannel",
            36888,
            &[
                ("AlertDesc", "70"),
                ("Error Code", "0x80072746"),
                ("Signed", "-2147014842"),
                ("Name", "TLS Ärger"),
            ],
            Some(at(0)),
        )
    }

    #[test]
    fn equality_ignores_case_unless_cs() {
        let ev = schannel();
        assert!(holds(r#"provider == "schannel""#, &ev));
        assert!(holds(r#"provider == "SCHANNEL""#, &ev));
        assert!(!holds(r#"provider == cs "schannel""#, &ev));
        assert!(holds(r#"provider == cs "Schannel""#, &ev));
        assert!(holds(r#"provider != "Other""#, &ev));
        assert!(!holds(r#"provider != "SCHANNEL""#, &ev));
        assert!(holds(r#"provider != cs "SCHANNEL""#, &ev));
        // Non-ASCII text folds too.
        assert!(holds(r#"data.Name == "tls ärger""#, &ev));
        assert!(!holds(r#"data.Name == cs "tls ärger""#, &ev));
    }

    #[test]
    fn text_operators() {
        let ev = procmon(
            1,
            "svchost.exe",
            "CreateFile",
            r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys\f686",
            "ACCESS DENIED",
            "Desired Access: Generic Read, Disposition: Open",
            None,
        );
        assert!(holds(r#"path contains "crypto\\rsa""#, &ev));
        assert!(!holds(r#"path contains cs "crypto\\rsa""#, &ev));
        assert!(holds(r#"path startswith r"c:\programdata""#, &ev));
        assert!(!holds(r#"path startswith cs r"c:\programdata""#, &ev));
        assert!(holds(r#"path endswith "F686""#, &ev));
        assert!(!holds(r#"path endswith "F687""#, &ev));
        assert!(holds(r#"result in ("SUCCESS", "access denied")"#, &ev));
        assert!(!holds(r#"result in cs ("SUCCESS", "access denied")"#, &ev));
        assert!(holds(r#"path matches r"machinekeys\\[0-9a-f]+$""#, &ev));
        assert!(holds(r#"path =~ r"MachineKeys""#, &ev));
        assert!(!holds(r#"path matches cs r"machinekeys""#, &ev));
        assert!(holds(r#"detail.Disposition == "open""#, &ev));
        assert!(holds(
            r#"detail."Desired Access" startswith "Generic""#,
            &ev
        ));
        assert!(holds(r#"detail contains "generic read""#, &ev));
        // An empty needle is in every string, never in a missing one.
        assert!(holds(r#"process contains """#, &ev));
        assert!(!holds(r#"column.User contains """#, &ev));
    }

    #[test]
    fn contains_without_case_finds_the_needle_anywhere_and_folds_unicode_case() {
        let ev = schannel();
        assert!(holds(r#"data.Name contains "ärger""#, &ev));
        assert!(holds(r#"provider contains "HANNE""#, &ev));
        assert!(holds(r#"provider contains "schannel""#, &ev));
        assert!(!holds(r#"provider contains "schannels""#, &ev));
        assert!(!holds(r#"provider contains "xchannel""#, &ev));
        // The Kelvin sign folds to k: text that is not plain ASCII keeps Unicode folding.
        let kelvin = crate::rules::testutil::win("P", 1, &[("T", "300 \u{212A} ok")], None);
        assert!(holds(r#"data.T contains "300 k""#, &kelvin));
        // A match that starts where a shorter candidate failed.
        let twice = crate::rules::testutil::win("P", 1, &[("T", "aab AAB")], None);
        assert!(holds(r#"data.T contains "ab a""#, &twice));
        assert!(!holds(r#"data.T contains "aab aab x""#, &twice));
    }

    #[test]
    fn numbers_decimal_hex_and_from_text() {
        let ev = schannel();
        assert!(holds("event_id == 36888", &ev));
        assert!(holds("event_id == 0x9018", &ev));
        assert!(holds("event_id > 36887 and event_id >= 36888", &ev));
        assert!(holds("event_id < 36889 and event_id <= 36888", &ev));
        assert!(!holds("event_id < 36888", &ev));
        assert!(holds("event_id in (1, 36888)", &ev));
        assert!(!holds("event_id in (1, 2)", &ev));
        assert!(holds(
            "data.AlertDesc == 70 and data.AlertDesc == 0x46",
            &ev
        ));
        assert!(holds("data.AlertDesc > 40", &ev));
        assert!(holds("data.\"Error Code\" == 0x80072746", &ev));
        assert!(holds("data[\"Error Code\"] == 2147952454", &ev));
        assert!(holds("data.Signed == 0x80072746", &ev));
        // Text that is not a number never equals a number, and != is false too (no value).
        assert!(!holds("data.Name == 0", &ev));
        assert!(!holds("data.Name != 0", &ev));
        // Compared as a string, the hex text is just text.
        assert!(holds(r#"data."Error Code" == "0X80072746""#, &ev));
        assert!(!holds(r#"data."Error Code" == "2147952454""#, &ev));
    }

    #[test]
    fn missing_fields_are_false_whatever_the_operator() {
        let ev = schannel();
        assert!(!holds("qualifiers == 0", &ev));
        assert!(!holds("qualifiers != 0", &ev));
        assert!(holds("not qualifiers == 0", &ev));
        assert!(!holds(r#"process != "x""#, &ev));
        assert!(!holds("exists data.Nope", &ev));
        assert!(holds("exists data.alertdesc and has time", &ev));
        assert!(!holds("exists process", &ev));
    }

    #[test]
    fn the_cheap_tests_of_an_and_or_an_or_are_asked_first() {
        let kinds = |text: &str| -> Vec<&'static str> {
            let (Cond::And(items) | Cond::Or(items)) = compile(text).unwrap() else {
                panic!("{text}: not an and/or");
            };
            items
                .iter()
                .map(|c| match c {
                    Cond::Source { .. } => "source",
                    Cond::Num { .. } => "number",
                    Cond::Text {
                        test: TextTest::Eq(_) | TextTest::In(_),
                        ..
                    } => "equal",
                    Cond::Text {
                        test: TextTest::Matches(_),
                        ..
                    } => "regex",
                    Cond::Text { .. } => "search",
                    Cond::Or(_) | Cond::And(_) => "group",
                    _ => "other",
                })
                .collect()
        };
        assert_eq!(
            kinds(
                r#"path matches "x" and (path contains "a" or path contains "b") and result == "ACCESS DENIED" and source == "procmon""#
            ),
            ["source", "equal", "regex", "group"]
        );
        assert_eq!(
            kinds(r#"path contains "a" or event_id == 4 or detail."Desired Access" == "x""#),
            ["number", "equal", "search"]
        );
        // Equal prices keep the rule's order.
        for (text, first) in [
            (r#"result == "b" and operation == "a""#, Field::Result),
            (r#"operation == "a" and result == "b""#, Field::Operation),
        ] {
            let Ok(Cond::And(items)) = compile(text) else {
                panic!("{text}: not an and");
            };
            assert!(
                matches!(&items[0], Cond::Text { field, .. } if *field == first),
                "{text}"
            );
        }
        // The order asked does not change an answer.
        let ev = schannel();
        for (text, expected) in [
            (
                r#"provider contains "schannel" and event_id == 36888"#,
                true,
            ),
            (
                r#"event_id == 36888 and provider contains "schannel""#,
                true,
            ),
            (r#"provider contains "nope" or event_id == 36888"#, true),
            (r#"provider contains "schannel" and event_id == 1"#, false),
            (r#"provider contains "nope" or event_id == 1"#, false),
        ] {
            assert_eq!(holds(text, &ev), expected, "{text}");
        }
    }

    #[test]
    fn source_time_and_boolean_structure() {
        let ev = schannel();
        assert!(holds(r#"source == "evtx""#, &ev));
        assert!(holds(r#"source == "EVTX""#, &ev));
        assert!(!holds(r#"source != "evtx""#, &ev));
        assert!(holds(r#"source in ("procmon", "evtx")"#, &ev));
        assert!(holds(r#"time >= "2024-01-01T00:00:00Z""#, &ev));
        assert!(!holds(r#"time > "2024-01-01T00:00:00Z""#, &ev));
        assert!(holds(r#"time == "2024-01-01T01:00:00+01:00""#, &ev));
        assert!(holds(
            "event_id == 1 or event_id == 36888 and not event_id == 2",
            &ev
        ));
        assert!(!holds(
            "(event_id == 1 or event_id == 36888) and event_id == 2",
            &ev
        ));
        assert!(holds("not not event_id == 36888", &ev));
        assert!(holds(r#"file == "system.evtx" and record == 36888"#, &ev));
    }

    #[test]
    fn type_mismatches() {
        assert_eq!(
            mismatch(r#"event_id contains "x""#),
            "type mismatch: \"contains\" compares text, and event_id is a number"
        );
        assert_eq!(
            mismatch("process > 3"),
            "type mismatch: process is text: compare it with a string (\"...\"), not a number"
        );
        assert_eq!(
            mismatch(r#"process > "3""#),
            "type mismatch: \">\" compares numbers, and process is text"
        );
        assert_eq!(
            mismatch(r#"event_id == "36888""#),
            "type mismatch: event_id is a number: compare it with a number (36888, 0x904), not a string"
        );
        assert!(mismatch(r#"data.Value < "5""#).contains("write the value as a number"));
        assert!(mismatch("data.Value contains 5").contains("write the value as a string"));
        assert!(mismatch("event_id == cs 5").contains("\"cs\" applies to text"));
        assert!(mismatch(r#"source contains "ev""#).contains("source is"));
        assert!(mismatch("time > 5").contains("timestamp"));
        assert!(mismatch(r#"data.X in ("a", 1)"#).contains("only strings or only numbers"));
        // Position: the operator.
        let e = compile(r#"event_id contains "x""#).unwrap_err();
        assert_eq!((e.line, e.column), (1, 10));
    }

    #[test]
    fn bad_values_and_regexes() {
        let e = compile(r#"path matches "(unclosed""#).unwrap_err();
        assert!(matches!(*e.kind, ErrorKind::BadRegex { .. }), "{e}");
        assert!(e.kind.to_string().starts_with("invalid regex: "), "{e}");
        assert_eq!(e.column, 14);
        let e = compile(r#"source == "csv""#).unwrap_err();
        assert_eq!(
            e.kind.to_string(),
            "invalid source \"csv\": expected \"evtx\", \"procmon\", \"registry\" or \"acl\""
        );
        let e = compile(r#"time < "yesterday""#).unwrap_err();
        assert!(
            e.kind
                .to_string()
                .starts_with("invalid timestamp \"yesterday\""),
            "{e}"
        );
    }
}
