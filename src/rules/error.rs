//! Errors in rule text, written for the rule author.
//!
//! Every error, whether from the parser or from validation, is a [`RuleError`]: the file, the
//! 1-based line and column (in characters), what is wrong ([`ErrorKind`]: usually what was
//! expected and what was found), and the offending line with a caret under the column, the way
//! rustc shows it. [`RuleErrors`] is the list a load returns: validation goes on after the
//! first bad rule, so one run shows every problem.

use std::fmt;

/// What is wrong, without the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// A syntax error: `expected a comparison operator (...), found "=>"`.
    #[error("expected {expected}, found {found}")]
    Expected { expected: String, found: String },
    #[error("unknown field \"{name}\"{hint}")]
    UnknownField { name: String, hint: String },
    #[error("unknown key \"{key}\", expected one of: {expected}")]
    UnknownKey { key: String, expected: String },
    #[error("duplicate key \"{key}\" (first given on line {first_line})")]
    DuplicateKey { key: String, first_line: usize },
    #[error("rule \"{rule}\" has no \"{key}\" key{why}")]
    MissingKey {
        rule: String,
        key: &'static str,
        why: String,
    },
    #[error("key \"{key}\" is not allowed in a rule of kind {kind}{why}")]
    KeyNotAllowed {
        key: &'static str,
        kind: &'static str,
        why: &'static str,
    },
    /// A domain declaration the analysis cannot work with.
    #[error("domain: {message}")]
    Domain { message: String },
    #[error("duplicate rule id \"{id}\" (first defined at {first})")]
    DuplicateId { id: String, first: String },
    #[error("unknown {what} \"{found}\", expected one of: {expected}")]
    UnknownWord {
        what: &'static str,
        found: String,
        expected: String,
    },
    #[error("invalid regex: {message}")]
    BadRegex { message: String },
    #[error("type mismatch: {message}")]
    TypeMismatch { message: String },
    #[error("unknown field \"{name}\" in the template{hint}")]
    UnknownTemplateField { name: String, hint: String },
    #[error("bad template: {message}")]
    BadTemplate { message: &'static str },
    #[error("rule \"{rule}\" has no must-{which} example (add `example {which} ...`)")]
    MissingExample { rule: String, which: &'static str },
    #[error("{what} {value} is out of range (at most {max})")]
    OutOfRange {
        what: &'static str,
        value: String,
        max: String,
    },
    #[error("invalid {what} \"{text}\": {message}")]
    BadValue {
        what: &'static str,
        text: String,
        message: String,
    },
    #[error("{what} {detail}")]
    BadExample { what: &'static str, detail: String },
    #[error("nesting deeper than {max} levels")]
    TooDeep { max: usize },
}

/// One error in rule text, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Boxed: errors travel in `Result`s everywhere and should stay small.
    pub kind: Box<ErrorKind>,
    /// The text of the offending line, without its line break.
    pub source_line: String,
}

impl RuleError {
    /// An error at byte `offset` of `text` (clamped into the text and onto a character boundary).
    pub fn at(file: &str, text: &str, offset: usize, kind: ErrorKind) -> RuleError {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
        let line = text[..line_start].matches('\n').count() + 1;
        let column = text[line_start..offset].chars().count() + 1;
        let source_line = text[line_start..line_end]
            .trim_end_matches('\r')
            .to_string();
        RuleError {
            file: file.to_string(),
            line,
            column,
            kind: Box::new(kind),
            source_line,
        }
    }

    /// `file:line:column: message`, without the source excerpt.
    pub fn headline(&self) -> String {
        format!("{}:{}:{}: {}", self.file, self.line, self.column, self.kind)
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let gutter = " ".repeat(number.len());
        // The line is shown inert (a rule file is text anyone may have sent): a control or
        // invisible character as its escape, the caret moved past each escape's width. Tabs
        // stay tabs under the caret so it lines up whatever the tab width.
        let mut shown = String::with_capacity(self.source_line.len());
        let mut pad = String::new();
        for (i, c) in self.source_line.chars().enumerate() {
            let mut one = [0u8; 4];
            let escaped = match c {
                '\t' => std::borrow::Cow::Borrowed("\t"),
                c => crate::sanitize::terminal(c.encode_utf8(&mut one)),
            };
            if i + 1 < self.column {
                match c {
                    '\t' => pad.push('\t'),
                    _ => pad.extend(std::iter::repeat_n(' ', escaped.chars().count())),
                }
            }
            shown.push_str(&escaped);
        }
        writeln!(f, "{}", crate::sanitize::terminal(&self.headline()))?;
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {shown}")?;
        write!(f, "{gutter} | {pad}^")
    }
}

/// Every error a load found, in file and position order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleErrors(pub Vec<RuleError>);

impl RuleErrors {
    pub fn errors(&self) -> &[RuleError] {
        &self.0
    }
}

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n\n")?;
            }
            e.fmt(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_and_caret() {
        let text = "rule a {\n\twhen: event_id => 3\n}";
        let offset = text.find("=>").unwrap();
        let e = RuleError::at(
            "rules.rdt",
            text,
            offset,
            ErrorKind::Expected {
                expected: "a comparison operator".into(),
                found: "\"=>\"".into(),
            },
        );
        assert_eq!((e.line, e.column), (2, 17));
        assert_eq!(
            e.to_string(),
            "rules.rdt:2:17: expected a comparison operator, found \"=>\"\n  |\n2 | \twhen: event_id => 3\n  | \t               ^"
        );
    }

    #[test]
    fn a_control_character_in_the_line_is_shown_escaped_and_the_caret_moves_past_it() {
        let text = "rule a {\n  title: \"\u{1b}[31m\u{202e}x\" \u{1b}]0;t\u{7} ?\n}";
        let offset = text.find('?').unwrap();
        let e = RuleError::at(
            "r\u{1b}[2J.rdt",
            text,
            offset,
            ErrorKind::Expected {
                expected: "a key".into(),
                found: "\"?\"".into(),
            },
        );
        let shown = e.to_string();
        assert!(
            !shown
                .chars()
                .any(|c| c != '\n' && c != '\t' && crate::sanitize::is_unsafe_char(c)),
            "{shown:?}"
        );
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[0], "r\\e[2J.rdt:2:27: expected a key, found \"?\"");
        assert_eq!(
            lines[2],
            "2 |   title: \"\\e[31m\\u{202e}x\" \\e]0;t\\u{0007} ?"
        );
        // Both excerpt lines start with a four-character gutter.
        let caret = lines[3].find('^').unwrap();
        assert_eq!(&lines[2][caret..=caret], "?");
    }

    #[test]
    fn offsets_are_clamped_to_char_boundaries() {
        let text = "é";
        let e = RuleError::at("f", text, 1, ErrorKind::TooDeep { max: 1 });
        assert_eq!((e.line, e.column), (1, 1));
        let e = RuleError::at("f", text, 99, ErrorKind::TooDeep { max: 1 });
        assert_eq!((e.line, e.column), (1, 2));
    }
}
