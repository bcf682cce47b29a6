//! The rule-language syntax tree, exactly as written, and its canonical printed form.
//!
//! The parser builds these types and nothing else; validation ([`super::compile`]) turns them
//! into the compiled form the engine runs. Every node that an error can point at carries a
//! [`Pos`]. Positions are metadata: two trees that differ only in where things were written
//! compare equal, which is what lets `parse(print(tree)) == tree` be tested directly. `Display`
//! prints canonical rule text (one key per line, fixed key order, minimal quoting) that parses
//! back to the same tree; comments and layout are not kept.

use std::fmt::{self, Write as _};

use super::fields::Field;
use crate::model::Source;

/// A byte offset into the rule text. Always equal to any other `Pos` (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Pos(pub usize);

impl PartialEq for Pos {
    fn eq(&self, _: &Pos) -> bool {
        true
    }
}
impl Eq for Pos {}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub pos: Pos,
    pub value: T,
}

impl<T> Spanned<T> {
    pub fn new(pos: Pos, value: T) -> Self {
        Spanned { pos, value }
    }
}

/// One rule file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleFile {
    /// The file's `domain { ... }` block, if it declares one (at most one per file).
    pub domain: Option<Spanned<super::domain::Domain>>,
    pub rules: Vec<RuleAst>,
}

/// One `rule <id> { ... }` block. Keys are optional here; which are required depends on the kind
/// and is checked by validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleAst {
    pub id: Spanned<String>,
    pub title: Option<Spanned<String>>,
    pub kind: Option<Spanned<KindName>>,
    pub cause: Option<Spanned<Cause>>,
    pub strength: Option<Spanned<Strength>>,
    pub healthy: Option<Spanned<Vec<Healthy>>>,
    pub when: Option<Spanned<Expr>>,
    pub unless: Option<Spanned<Unless>>,
    pub aggregate: Option<Spanned<Aggregate>>,
    pub anchor: Option<Spanned<AnchorWindow>>,
    pub evidence: Option<Spanned<String>>,
    pub remediation: Option<Spanned<String>>,
    pub references: Option<Spanned<Vec<String>>>,
    pub examples: Vec<Example>,
}

impl RuleAst {
    pub fn new(id: Spanned<String>) -> Self {
        RuleAst {
            id,
            title: None,
            kind: None,
            cause: None,
            strength: None,
            healthy: None,
            when: None,
            unless: None,
            aggregate: None,
            anchor: None,
            evidence: None,
            remediation: None,
            references: None,
            examples: Vec::new(),
        }
    }
}

/// Declares a keyword enum with its spelling, so parser, printer and errors share one table.
macro_rules! keyword_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn from_word(word: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == word)
            }

            /// All spellings, comma-separated, for error messages.
            pub fn list() -> String {
                $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

keyword_enum! {
    /// `kind:` — what a rule is for. `cause` (the default) names a cause of the 0x904;
    /// `anchor` marks the 0x904 itself; `disconnect-code` reports other disconnect codes.
    KindName { Cause => "cause", Anchor => "anchor", DisconnectCode => "disconnect-code" }
}

keyword_enum! {
    /// `cause:` — the probable cause a rule is evidence for (docs/domain.md §3).
    Cause {
        Certificate => "certificate",
        Tls => "tls",
        ServerRefused => "server-refused",
        Network => "network",
        Firewall => "firewall",
        Gateway => "gateway",
        AccessDenied => "access-denied",
        Licensing => "licensing",
        RdpWrapper => "rdp-wrapper",
        CredsspPolicy => "credssp-policy",
        Servicing => "servicing",
        ServerDown => "server-down",
        ServerResources => "server-resources",
    }
}

keyword_enum! {
    /// `strength:` — how much a finding of this rule says about its cause, strongest first.
    Strength { Strong => "strong", Moderate => "moderate", Weak => "weak", Context => "context" }
}

keyword_enum! {
    /// `healthy:` — configuration which, found as Windows ships it, answers a cause rule's
    /// findings (analysis/config.rs): a cause all of whose findings one of them answers loses a
    /// level. Each belongs to one cause ([`Healthy::cause`]).
    Healthy {
        Listener => "listener",
        Tls12Server => "tls12-server",
        RdpCertificate => "rdp-certificate",
        RdpKeyReadable => "rdp-key-readable",
        ServiceDll => "service-dll",
    }
}

impl Healthy {
    /// The cause whose findings this setting can answer.
    pub fn cause(self) -> Cause {
        match self {
            Healthy::Listener => Cause::ServerRefused,
            Healthy::Tls12Server => Cause::Tls,
            Healthy::RdpCertificate | Healthy::RdpKeyReadable => Cause::Certificate,
            Healthy::ServiceDll => Cause::RdpWrapper,
        }
    }
}

/// A condition expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Exists(Spanned<Field>),
    Compare(Comparison),
}

/// `field op [cs] value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub field: Spanned<Field>,
    pub op: Spanned<Op>,
    /// The `cs` modifier: compare text case-sensitively.
    pub cs: bool,
    pub value: Spanned<Value>,
}

keyword_enum! {
    /// Comparison operators. `=~` is read as `matches`.
    Op {
        Eq => "==",
        Ne => "!=",
        Le => "<=",
        Ge => ">=",
        Lt => "<",
        Gt => ">",
        In => "in",
        Contains => "contains",
        StartsWith => "startswith",
        EndsWith => "endswith",
        Matches => "matches",
    }
}

/// The right-hand side of a comparison: one literal, or a list after `in`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    One(Literal),
    List(Vec<Literal>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Str(String),
    Num(Number),
}

/// A number literal; `hex` remembers `0x` so printing keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number {
    pub value: u64,
    pub hex: bool,
}

/// A length of time in milliseconds, written `500ms`, `60s`, `5m`, `2h`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Millis(pub u64);

/// `aggregate: count >= N within D [by f, ...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    pub count: u64,
    pub within: Millis,
    pub by: Vec<Spanned<Field>>,
}

/// `unless: followed|preceded by <condition> within D [by f, ...]`: a match counts only when no
/// event meeting the condition (with the same `by` values) lies within `D` after it (`followed`)
/// or before it (`preceded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unless {
    pub direction: Direction,
    pub cond: Spanned<Expr>,
    pub within: Millis,
    pub by: Vec<Spanned<Field>>,
}

keyword_enum! {
    /// Which side of a match `unless:` looks at.
    Direction { Followed => "followed", Preceded => "preceded" }
}

/// `anchor: require|prefer within D` or `before D after D`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorWindow {
    pub mode: AnchorMode,
    pub before: Millis,
    pub after: Millis,
}

impl AnchorWindow {
    /// Whether an event `d` from an anchor (negative: before it) lies in the window.
    pub fn holds(&self, d: jiff::SignedDuration) -> bool {
        let ms = |m: u64| jiff::SignedDuration::from_millis(i64::try_from(m).unwrap_or(i64::MAX));
        d >= -ms(self.before.0) && d <= ms(self.after.0)
    }
}

keyword_enum! {
    /// `require`: only events inside the window count. `prefer`: all count, near ones rank higher.
    AnchorMode { Require => "require", Prefer => "prefer" }
}

/// `example match|nomatch <event>` or `example match|nomatch [ <event>, ... ]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub pos: Pos,
    pub expect: Expect,
    pub body: ExampleBody,
}

keyword_enum! {
    /// Whether an example must produce a finding (`match`) or must not (`nomatch`).
    Expect { Match => "match", NoMatch => "nomatch" }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExampleBody {
    Single(ExampleEvent),
    Sequence(Vec<ExampleEvent>),
}

impl ExampleBody {
    pub fn events(&self) -> &[ExampleEvent] {
        match self {
            ExampleBody::Single(e) => std::slice::from_ref(e),
            ExampleBody::Sequence(v) => v,
        }
    }
}

/// `[anchor] evtx|procmon { field: value, ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleEvent {
    pub pos: Pos,
    /// Marked `anchor`: treated as a 0x904 anchor when the example is checked.
    pub anchor: bool,
    pub source: Source,
    pub fields: Vec<(Spanned<Field>, Spanned<ExampleValue>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExampleValue {
    Lit(Literal),
    /// `+30s` / `-5m`: a time relative to the examples' fixed base time.
    Offset(i64),
}

// ---------------------------------------------------------------------------------------------
// Printing

/// A one-line string literal that parses back to `s`: raw `r"..."` when it holds backslashes
/// (paths, regexes) and no quote, else plain `"..."` with escapes.
pub fn quote(s: &str) -> String {
    if s.contains('\\') && !s.contains('"') && !s.chars().any(char::is_control) {
        return format!("r\"{s}\"");
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Like [`quote`], but multi-line text becomes a `"""` block indented by `indent`.
fn quote_block(s: &str, indent: &str) -> String {
    if !(s.contains('\n') && triple_ok(s)) {
        return quote(s);
    }
    let mut out = String::from("\"\"\"\n");
    for line in s.split('\n') {
        if !line.is_empty() {
            out.push_str(indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    out.push_str(indent);
    out.push_str("\"\"\"");
    out
}

/// Whether `s` survives a `"""` block: no `"""`, no control characters but newline and tab, no
/// whitespace-only lines (blank lines read back as empty), and at least one line that starts
/// without indentation (the parser strips the common indentation).
fn triple_ok(s: &str) -> bool {
    !s.contains("\"\"\"")
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
        && s.split('\n').all(|l| l.is_empty() || !l.trim().is_empty())
        && s.split('\n')
            .any(|l| !l.is_empty() && !l.starts_with([' ', '\t']))
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: &[(u64, &str)] = &[
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        let ms = self.0;
        if ms > 0 {
            for (size, unit) in UNITS {
                if ms.is_multiple_of(*size) {
                    return write!(f, "{}{unit}", ms / size);
                }
            }
            return write!(f, "{ms}ms");
        }
        f.write_str("0s")
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hex {
            write!(f, "0x{:X}", self.value)
        } else {
            write!(f, "{}", self.value)
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => f.write_str(&quote(s)),
            Literal::Num(n) => n.fmt(f),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::One(l) => l.fmt(f),
            Value::List(items) => {
                f.write_str("(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    item.fmt(f)?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A nested `and`/`or` is always parenthesised, so the printed text parses back to the
        // same nesting (the parser flattens only what was written without parentheses).
        let child = |f: &mut fmt::Formatter<'_>, e: &Expr| match e {
            Expr::And(_) | Expr::Or(_) => write!(f, "({e})"),
            _ => write!(f, "{e}"),
        };
        match self {
            Expr::And(items) | Expr::Or(items) => {
                let sep = if matches!(self, Expr::And(_)) {
                    " and "
                } else {
                    " or "
                };
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    child(f, item)?;
                }
                Ok(())
            }
            Expr::Not(inner) => {
                f.write_str("not ")?;
                child(f, inner)
            }
            Expr::Exists(field) => write!(f, "exists {}", field.value),
            Expr::Compare(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field.value, self.op.value)?;
        if self.cs {
            f.write_str(" cs")?;
        }
        write!(f, " {}", self.value.value)
    }
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "count >= {} within {}", self.count, self.within)?;
        for (i, field) in self.by.iter().enumerate() {
            f.write_str(if i == 0 { " by " } else { ", " })?;
            field.value.fmt(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for Unless {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} by {} within {}",
            self.direction, self.cond.value, self.within
        )?;
        for (i, field) in self.by.iter().enumerate() {
            f.write_str(if i == 0 { " by " } else { ", " })?;
            field.value.fmt(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for AnchorWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.before == self.after {
            write!(f, "{} within {}", self.mode, self.before)
        } else {
            write!(
                f,
                "{} before {} after {}",
                self.mode, self.before, self.after
            )
        }
    }
}

impl fmt::Display for ExampleValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExampleValue::Lit(l) => l.fmt(f),
            ExampleValue::Offset(ms) => {
                let sign = if *ms < 0 { '-' } else { '+' };
                write!(f, "{sign}{}", Millis(ms.unsigned_abs()))
            }
        }
    }
}

impl fmt::Display for ExampleEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.anchor {
            f.write_str("anchor ")?;
        }
        write!(f, "{} {{", self.source.as_str())?;
        for (i, (field, value)) in self.fields.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            write!(f, "{}: {}", field.value, value.value)?;
        }
        f.write_str(if self.fields.is_empty() { "}" } else { " }" })
    }
}

impl fmt::Display for Example {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "example {} ", self.expect)?;
        match &self.body {
            ExampleBody::Single(e) => e.fmt(f),
            ExampleBody::Sequence(events) => {
                f.write_str("[\n")?;
                for e in events {
                    writeln!(f, "        {e},")?;
                }
                f.write_str("    ]")
            }
        }
    }
}

impl fmt::Display for RuleAst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rule {} {{", self.id.value)?;
        let text = |s: &str| quote_block(s, "        ");
        if let Some(t) = &self.title {
            writeln!(f, "    title: {}", text(&t.value))?;
        }
        if let Some(k) = &self.kind {
            writeln!(f, "    kind: {}", k.value)?;
        }
        if let Some(c) = &self.cause {
            writeln!(f, "    cause: {}", c.value)?;
        }
        if let Some(s) = &self.strength {
            writeln!(f, "    strength: {}", s.value)?;
        }
        if let Some(h) = &self.healthy {
            let list: Vec<&str> = h.value.iter().map(|h| h.as_str()).collect();
            writeln!(f, "    healthy: {}", list.join(", "))?;
        }
        if let Some(w) = &self.when {
            writeln!(f, "    when: {}", w.value)?;
        }
        if let Some(u) = &self.unless {
            writeln!(f, "    unless: {}", u.value)?;
        }
        if let Some(a) = &self.aggregate {
            writeln!(f, "    aggregate: {}", a.value)?;
        }
        if let Some(a) = &self.anchor {
            writeln!(f, "    anchor: {}", a.value)?;
        }
        if let Some(e) = &self.evidence {
            writeln!(f, "    evidence: {}", text(&e.value))?;
        }
        if let Some(r) = &self.remediation {
            writeln!(f, "    remediation: {}", text(&r.value))?;
        }
        if let Some(refs) = &self.references {
            let list: Vec<String> = refs.value.iter().map(|r| quote(r)).collect();
            writeln!(f, "    references: {}", list.join(", "))?;
        }
        for e in &self.examples {
            writeln!(f, "    {e}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Display for RuleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.domain {
            writeln!(f, "{}", d.value)?;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 || self.domain.is_some() {
                f.write_str("\n")?;
            }
            writeln!(f, "{rule}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_in_the_largest_exact_unit() {
        assert_eq!(Millis(60_000).to_string(), "1m");
        assert_eq!(Millis(90_000).to_string(), "90s");
        assert_eq!(Millis(1_500).to_string(), "1500ms");
        assert_eq!(Millis(7_200_000).to_string(), "2h");
        assert_eq!(Millis(0).to_string(), "0s");
    }

    #[test]
    fn strings_pick_a_form() {
        assert_eq!(quote("plain"), "\"plain\"");
        assert_eq!(quote(r"C:\Windows"), r#"r"C:\Windows""#);
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        assert_eq!(quote_block("a\n  b", "  "), "\"\"\"\n  a\n    b\n  \"\"\"");
        // Every line indented: a block would lose the indentation, so it is escaped instead.
        assert_eq!(quote_block("  a\n  b", "  "), "\"  a\\n  b\"");
    }

    #[test]
    fn positions_do_not_affect_equality() {
        assert_eq!(Spanned::new(Pos(1), 5), Spanned::new(Pos(99), 5));
        assert_ne!(Spanned::new(Pos(1), 5), Spanned::new(Pos(1), 6));
    }
}
