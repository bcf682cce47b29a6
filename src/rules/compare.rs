//! What a comparison compiles to: a test of text (a literal, ready for case-insensitive
//! comparison, or a regex) or of a number. [`super::compile`] picks the test for a comparison's
//! field and operator; [`super::engine`] runs them through `Cond`.

use std::cmp::Ordering;

use regex::{Regex, RegexBuilder};

use super::ast::Op;

/// Regexes are user input: cap their compiled size.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
pub(crate) enum TextTest {
    Eq(Pat),
    Ne(Pat),
    In(Vec<Pat>),
    Contains(Pat),
    StartsWith(Pat),
    EndsWith(Pat),
    Matches(Rx),
}

/// A `matches` pattern. Built when the rule is compiled, or for a rule not built whole
/// ([`super::compile::Ctx::whole`]) at its first use.
#[derive(Debug, Clone)]
pub(crate) struct Rx {
    pattern: String,
    cs: bool,
    /// `None` only if a pattern not built whole fails to build at its first use, which its
    /// pack's tests rule out: it then matches nothing.
    built: std::sync::OnceLock<Option<Regex>>,
}

impl Rx {
    /// The pattern of a `matches`; `Err` with what is wrong when `whole` and it does not
    /// build.
    pub(crate) fn new(pattern: &str, cs: bool, whole: bool) -> Result<Rx, String> {
        let built = std::sync::OnceLock::new();
        if whole {
            let _ = built.set(Some(build_regex(pattern, cs)?));
        }
        Ok(Rx {
            pattern: pattern.to_string(),
            cs,
            built,
        })
    }

    /// Is the regex built yet?
    #[cfg(test)]
    pub(crate) fn is_built(&self) -> bool {
        self.built.get().is_some()
    }

    fn is_match(&self, v: &str) -> bool {
        self.built
            .get_or_init(|| build_regex(&self.pattern, self.cs).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(v))
    }
}

#[derive(Debug, Clone)]
pub(crate) enum NumTest {
    Cmp(Op, u64),
    In(Vec<u64>),
}

/// A string literal ready for case-(in)sensitive comparison.
#[derive(Debug, Clone)]
pub(crate) struct Pat {
    pub text: String,
    pub cs: bool,
    ascii: bool,
    lower: String,
    /// For case-insensitive `contains` of ASCII text: the index of the literal's rarest byte
    /// in paths and names, the one searched for ([`contains_ignore_ascii_case`]).
    rare: usize,
    /// For case-insensitive `contains`: a literal regex with `(?i)`, built at its first use
    /// on text that is not plain ASCII (Unicode case folding: `K` also matches the Kelvin
    /// sign). Building one per pattern at load was most of the cost of loading the rules.
    finder: std::sync::OnceLock<Option<Regex>>,
}

impl Pat {
    pub(crate) fn new(text: &str, cs: bool) -> Pat {
        Pat {
            text: text.to_string(),
            cs,
            ascii: text.is_ascii(),
            lower: text.to_lowercase(),
            rare: rarest(text.as_bytes()),
            finder: std::sync::OnceLock::new(),
        }
    }

    fn finder(&self) -> Option<&Regex> {
        self.finder
            .get_or_init(|| {
                RegexBuilder::new(&regex::escape(&self.text))
                    .case_insensitive(true)
                    .build()
                    .ok()
            })
            .as_ref()
    }

    fn eq(&self, v: &str) -> bool {
        if self.cs {
            v == self.text
        } else if self.ascii {
            v.eq_ignore_ascii_case(&self.text)
        } else {
            v.to_lowercase() == self.lower
        }
    }

    fn starts(&self, v: &str) -> bool {
        if self.cs {
            v.starts_with(&self.text)
        } else if self.ascii {
            let n = self.text.len();
            v.len() >= n && v.as_bytes()[..n].eq_ignore_ascii_case(self.text.as_bytes())
        } else {
            v.to_lowercase().starts_with(&self.lower)
        }
    }

    fn ends(&self, v: &str) -> bool {
        if self.cs {
            v.ends_with(&self.text)
        } else if self.ascii {
            let n = self.text.len();
            v.len() >= n && v.as_bytes()[v.len() - n..].eq_ignore_ascii_case(self.text.as_bytes())
        } else {
            v.to_lowercase().ends_with(&self.lower)
        }
    }

    fn contains(&self, v: &str) -> bool {
        if self.cs {
            return v.contains(&self.text);
        }
        if self.ascii && v.is_ascii() {
            // ASCII on both sides: ASCII case folding is all there is.
            return contains_ignore_ascii_case(v.as_bytes(), self.text.as_bytes(), self.rare);
        }
        match self.finder() {
            Some(re) => re.is_match(v),
            None => v.to_lowercase().contains(&self.lower),
        }
    }

    /// The lower-cased literal when it is plain ASCII (the prefilter's set key).
    pub fn ascii_key(&self) -> Option<String> {
        self.ascii.then(|| self.text.to_ascii_lowercase())
    }
}

/// Does `hay` contain `needle`, ignoring ASCII case? Candidates come from a byte search for
/// the needle's byte at `rare` in either case ([`rarest`]): the first byte of `rdpwrap.ini` or
/// `mstsc` is in most paths several times, its rarest byte seldom. Any `rare` gives the right
/// answer: one past the needle's end searches for its first byte.
fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8], rare: usize) -> bool {
    let rare = if rare < needle.len() { rare } else { 0 };
    let Some(&byte) = needle.get(rare) else {
        return true;
    };
    if hay.len() < needle.len() {
        return false;
    }
    // The rare byte's place in a match: from `rare` up to `rare` + the last start.
    let last_start = hay.len() - needle.len();
    let (lo, up) = (byte.to_ascii_lowercase(), byte.to_ascii_uppercase());
    memchr::memchr2_iter(lo, up, &hay[rare..=rare + last_start])
        .any(|at| hay[at..at + needle.len()].eq_ignore_ascii_case(needle))
}

/// The index of `needle`'s byte least likely in a path or a name, by a rough rank of bytes in
/// such text (separators, vowels and common consonants first); the first of equals.
fn rarest(needle: &[u8]) -> usize {
    const COMMON: &[u8] = b"\\ .eaistrnoclmdu_-:pwfgh0123b4y56789vk/x,jqz";
    let rank = |b: u8| {
        let b = b.to_ascii_lowercase();
        COMMON
            .iter()
            .position(|&c| c == b)
            .map_or(COMMON.len(), |p| p)
    };
    needle
        .iter()
        .enumerate()
        .max_by_key(|&(i, &b)| (rank(b), std::cmp::Reverse(i)))
        .map_or(0, |(i, _)| i)
}

pub(crate) fn order_holds(op: Op, ord: Ordering) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        _ => false,
    }
}

impl TextTest {
    pub(crate) fn eval(&self, v: &str) -> bool {
        match self {
            TextTest::Eq(p) => p.eq(v),
            TextTest::Ne(p) => !p.eq(v),
            TextTest::In(ps) => ps.iter().any(|p| p.eq(v)),
            TextTest::Contains(p) => p.contains(v),
            TextTest::StartsWith(p) => p.starts(v),
            TextTest::EndsWith(p) => p.ends(v),
            TextTest::Matches(re) => re.is_match(v),
        }
    }
}

impl NumTest {
    pub(crate) fn eval(&self, n: u64) -> bool {
        match self {
            NumTest::Cmp(op, v) => order_holds(*op, n.cmp(v)),
            NumTest::In(vs) => vs.contains(&n),
        }
    }
}

/// A regex, case-insensitive unless `cs`; the message is the regex crate's last line.
fn build_regex(pattern: &str, cs: bool) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(!cs)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let text = e.to_string();
            text.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid pattern")
                .trim()
                .trim_start_matches("error: ")
                .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_search_ignoring_case_matches_a_naive_search() {
        let hay = b"xXaAbB-ab_AB\\crypto\\RSA";
        for start in 0..hay.len() {
            for end in start..=hay.len() {
                let needle = &hay[start..end];
                for needle in [needle.to_vec(), needle.to_ascii_uppercase(), b"zz".to_vec()] {
                    let naive = hay
                        .windows(needle.len().max(1))
                        .any(|w| needle.is_empty() || w.eq_ignore_ascii_case(&needle));
                    assert_eq!(
                        contains_ignore_ascii_case(hay, &needle, rarest(&needle)),
                        naive
                    );
                    for rare in 0..needle.len() + 2 {
                        assert_eq!(contains_ignore_ascii_case(hay, &needle, rare), naive);
                    }
                }
            }
        }
    }
}
