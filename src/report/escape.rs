//! Escaping log text for each sink: a terminal (see `crate::sanitize`), Markdown that is
//! pasted into a ticket reply, and CSV that is opened in a spreadsheet.

use std::borrow::Cow;

use crate::sanitize::terminal;

/// Inline Markdown (table cells and list items): invisible and control characters made
/// visible (so no line break can start a new block), then every character that Markdown or
/// HTML acts on inside a line backslash-escaped or entity-encoded, and URLs defused, so log
/// text can neither format, link, inject HTML nor break a table. A report pasted into a
/// GitHub or GitLab issue must not notify anyone or link another issue either: `@name`,
/// `@org/team` and `#123` are followed by a zero-width space (`&#8203;`, what Dependabot's
/// release notes do), which the reader does not see and the site's reference finder does not
/// match; a backslash before `@` does not stop them.
pub fn markdown(text: &str) -> String {
    let visible = terminal(text);
    let mut out = String::with_capacity(visible.len() + 8);
    let mut chars = visible.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => out.push_str("@&#8203;"),
            '#' if chars.peek().is_some_and(char::is_ascii_digit) => out.push_str("#&#8203;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    // GitHub turns bare URLs into links: break the pattern without changing what is shown.
    out.replace("://", ":\\/\\/").replace("www.", "www\\.")
}

/// A CSV cell that a spreadsheet will not run as a formula (`=`, `+`, `-`, `@`, tab, CR at
/// the start get a leading `'`), with control characters made visible.
pub fn csv_cell(text: &str) -> Cow<'_, str> {
    let visible = terminal(text);
    if visible.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{visible}"))
    } else {
        visible
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_inert() {
        assert_eq!(markdown("a|b"), "a\\|b");
        assert_eq!(
            markdown("<script>x</script>"),
            "&lt;script&gt;x&lt;/script&gt;"
        );
        assert_eq!(markdown("`rm -rf`"), "\\`rm -rf\\`");
        assert_eq!(markdown("[x](http://e)"), "\\[x\\](http:\\/\\/e)");
        assert_eq!(markdown("C:\\Windows"), "C:\\\\Windows");
        assert_eq!(markdown("l1\nl2"), "l1\\\\nl2");
        assert_eq!(markdown("**bold** _it_"), "\\*\\*bold\\*\\* \\_it\\_");
        assert_eq!(markdown("\u{202e}"), "\\\\u{202e}");
        // Neither a mention, an e-mail link nor an issue reference on GitHub or GitLab.
        assert_eq!(markdown("@everyone"), "@&#8203;everyone");
        assert_eq!(markdown("cc @org/team"), "cc @&#8203;org/team");
        assert_eq!(markdown("admin@contoso.com"), "admin@&#8203;contoso.com");
        assert_eq!(markdown("see #42, #x"), "see #&#8203;42, #x");
    }

    #[test]
    fn csv_cells_are_not_formulas() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
