//! What the `rules` subcommands print: the rule list as a table, the per-file check lines and
//! the example run's tally.

use std::io::{self, Write};

use super::style;
use crate::rules::{RuleKind, RuleSet};
use crate::sanitize::terminal;

/// `rules list`: one row per rule (id, cause, strength, title), then the count.
pub fn write_list(out: &mut dyn Write, set: &RuleSet, width: u16) -> io::Result<()> {
    let mut table = style::table_with_header(width, vec!["id", "cause", "strength", "title"]);
    for r in set.rules() {
        let (cause, strength) = match r.kind() {
            RuleKind::Anchor => ("(anchor)", "-"),
            RuleKind::DisconnectCode => ("(disconnect code)", "-"),
            RuleKind::Cause { cause, strength } => (cause.as_str(), strength.as_str()),
        };
        table.add_row(vec![
            r.id().to_string(),
            cause.to_string(),
            strength.to_string(),
            terminal(r.title()).into_owned(),
        ]);
    }
    writeln!(out, "{table}")?;
    writeln!(out, "{} rules", set.rules().len())?;
    // The domain the analysis reads besides the rules (docs/domain-declarations.md).
    writeln!(
        out,
        "\nThe domain in use, declared at {}:",
        terminal(set.domain_from())
    )?;
    for line in set.domain().to_string().lines() {
        writeln!(out, "{}", terminal(line))?;
    }
    Ok(())
}

/// `rules check`: one line per user rule file, with how many rules it holds.
pub fn write_check(
    out: &mut dyn Write,
    set: &RuleSet,
    files: &[std::path::PathBuf],
) -> io::Result<()> {
    for f in files {
        let name = f.display().to_string();
        let n = set.rules().iter().filter(|r| r.file() == name).count();
        let domain = if set.domain_from().starts_with(&format!("{name}:")) {
            "the domain and "
        } else {
            ""
        };
        writeln!(
            out,
            "{}: {domain}{n} rule{} OK",
            terminal(&name),
            if n == 1 { "" } else { "s" }
        )?;
    }
    Ok(())
}

/// `rules test`: each failing example on `err`, the tally on `out`.
pub fn write_test<F: std::fmt::Display>(
    out: &mut dyn Write,
    err: &mut dyn Write,
    set: &RuleSet,
    failures: &[F],
) -> io::Result<()> {
    for f in failures {
        writeln!(err, "{f}")?;
    }
    let examples: usize = set.rules().iter().map(|r| r.ast().examples.len()).sum();
    writeln!(
        out,
        "{} rules, {examples} examples: {} passed, {} failed",
        set.rules().len(),
        examples - failures.len().min(examples),
        failures.len()
    )
}
