//! Escaping log text for each sink: a terminal (see `crate::sanitize`), Markdown that is
//! pasted into a ticket reply, and CSV that is opened in a spreadsheet.

use std::borrow::Cow;

use crate::sanitize::terminal;

/// Inline Markdown (table cells and list items): invisible and control characters made
/// visible (so no line break can start a new block), then every character that Markdown or
/// HTML acts on inside a line backslash-escaped or entity-encoded, and URLs defused, so log
/// text can neither format, link, inject HTML nor break a table. A report pasted into a
/// GitHub or GitLab issue must not notify anyone or link another issue either: `@name`,
/// `@org/team`, `#123` and `GH-123` (GitHub), `!123`, `%123` and `&123` (GitLab's merge
/// requests, milestones and epics) are followed by a zero-width space (`&#8203;`, what
/// Dependabot's release notes do), which the reader does not see and the site's reference
/// finder does not match; a backslash before `@` does not stop them.
pub fn markdown(text: &str) -> String {
    let visible = terminal(text);
    let mut out = String::with_capacity(visible.len() + 8);
    let mut chars = visible.chars().peekable();
    let mut after_word = false;
    while let Some(c) = chars.next() {
        let digit_next = chars.peek().is_some_and(char::is_ascii_digit);
        // GitLab's references start a word: `RDPClient%4Operational` is none.
        let gitlab_ref = digit_next && !after_word;
        after_word = c.is_alphanumeric() || c == '_';
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' if gitlab_ref => out.push_str("&amp;&#8203;"),
            '&' => out.push_str("&amp;"),
            '@' => out.push_str("@&#8203;"),
            '#' if digit_next => out.push_str("#&#8203;"),
            '!' | '%' if gitlab_ref => {
                out.push(c);
                out.push_str("&#8203;");
            }
            '-' if digit_next
                && out.len() >= 2
                && out.as_bytes()[out.len() - 2..].eq_ignore_ascii_case(b"gh") =>
            {
                out.push_str("-&#8203;");
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    // GitHub turns bare URLs into links, `www.` in any case: break the pattern without
    // changing what is shown.
    let out = out.replace("://", ":\\/\\/");
    let lower = out.to_ascii_lowercase();
    let mut defused = String::with_capacity(out.len() + 8);
    let mut from = 0;
    for (at, _) in lower.match_indices("www.") {
        defused.push_str(&out[from..at + 3]);
        defused.push_str("\\.");
        from = at + 4;
    }
    defused.push_str(&out[from..]);
    defused
}

/// A reference (a rule's `references:`) as inline Markdown: an `http(s)` URL of printable
/// ASCII alone, with nothing Markdown could end a link at (`<`, `>`, a space, a line break, a
/// control), is written as an autolink `<URL>`, where nothing is formatted, mentioned or
/// escaped; anything else is text, made inert by [`markdown`]. A rule file is input too:
/// its reference could hold a line break (a heading, an image to any site) or a raw escape.
pub fn markdown_reference(reference: &str) -> String {
    let text = reference.trim();
    let lower = text.to_ascii_lowercase();
    let url = ["https://", "http://"]
        .iter()
        .any(|scheme| lower.len() > scheme.len() && lower.starts_with(scheme));
    if url
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
    {
        format!("<{text}>")
    } else {
        markdown(text)
    }
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
        assert_eq!(
            markdown("GH-123 gh-7 GH-x"),
            "GH-&#8203;123 gh-&#8203;7 GH-x"
        );
        assert_eq!(
            markdown("!456 %1 &7 !x"),
            "!&#8203;456 %&#8203;1 &amp;&#8203;7 !x"
        );
        assert_eq!(markdown("RDPClient%4Operational"), "RDPClient%4Operational");
        assert_eq!(
            markdown("WWW.evil.example Www.x www.y"),
            "WWW\\.evil.example Www\\.x www\\.y"
        );
    }

    #[test]
    fn references_are_autolinks_or_inert_text() {
        let url =
            "https://learn.microsoft.com/en-us/windows/win32/debug/system-error-codes--0-499-";
        assert_eq!(markdown_reference(url), format!("<{url}>"));
        assert_eq!(markdown_reference(" HTTP://x/a_b "), "<HTTP://x/a_b>");
        // A line break would start a block of its own: a heading, a mention, an image.
        let forged = "https://ok\n\n# Hi @everyone ![x](https://evil.example/t.png)\u{1b}[31m";
        let shown = markdown_reference(forged);
        assert!(!shown.contains(['\n', '\u{1b}', '<', '>']), "{shown}");
        assert!(shown.contains("@&#8203;everyone"), "{shown}");
        assert!(shown.contains("!\\[x\\]"), "{shown}");
        assert!(!shown.contains("://"), "{shown}");
        for not_a_url in [
            "https://a b",
            "https://a>b",
            "javascript:alert(1)",
            "https://",
        ] {
            assert!(
                !markdown_reference(not_a_url).starts_with('<'),
                "{not_a_url}"
            );
        }
        assert_eq!(markdown_reference("KB 5005413"), "KB 5005413");
    }

    #[test]
    fn csv_cells_are_not_formulas() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
