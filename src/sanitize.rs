//! Keep untrusted log text inert on a terminal (and in HTML, [`html`]).
//!
//! Every string from a log file is attacker-controlled: a customer's machine may be
//! compromised, and an event field can hold ANSI escapes that rewrite the screen, bidi
//! overrides that reorder what the reader sees, or zero-width characters that hide text.
//! [`terminal`] makes such text visible instead of effective: control characters become `\n`,
//! `\t`, `\r`, `\e` or `\u{..}` escapes, and invisible format characters become `\u{..}`.

use std::borrow::Cow;

/// Whether a character must not reach a terminal as itself.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // bidi embeddings, overrides and isolates
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
            // zero-width and invisible formatting
            | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}'
            // line and paragraph separators
            | '\u{2028}' | '\u{2029}'
            // other characters Unicode says to draw as nothing (default ignorable): tags,
            // fillers, variation selectors, deprecated and annotation format characters
            | '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{2065}' | '\u{206A}'..='\u{206F}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
        || is_noncharacter(c)
}

/// Unicode's noncharacters (U+FDD0–U+FDEF and the last two code points of every plane):
/// never meant to be interchanged, and U+FFFE/U+FFFF cannot appear in XML at all.
fn is_noncharacter(c: char) -> bool {
    ('\u{FDD0}'..='\u{FDEF}').contains(&c) || (c as u32 & 0xFFFE) == 0xFFFE
}

/// Text XML 1.0 can hold: every character outside `#x9 | #xA | #xD | [#x20-#xD7FF] |
/// [#xE000-#xFFFD] | [#x10000-#x10FFFF]` written visibly as `\u{...}`, so one character
/// planted in a log cannot make a whole JUnit report unreadable. Line breaks and tabs stay.
pub fn xml_text(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r')
            || (!c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
    };
    if text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if allowed(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:04x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// Escape text for a terminal (or any plain-text sink a person reads).
pub fn terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Escape text for HTML element content and quoted attribute values: invisible and control
/// characters made visible first (as for a terminal), then `& < > " '` as entities, so log
/// text can never open an element, end an attribute or start a script.
pub fn html(text: &str) -> String {
    let visible = terminal(text);
    let mut out = String::with_capacity(visible.len() + 16);
    for c in visible.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_text_cannot_open_elements_or_leave_attributes() {
        assert_eq!(
            html("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
        assert_eq!(html("a\" onmouseover=\"x"), "a&quot; onmouseover=&quot;x");
        assert_eq!(html("&amp;"), "&amp;amp;");
        assert_eq!(html("x\u{202E}y\u{1b}"), "x\\u{202e}y\\e");
        assert_eq!(html("C:\\Windows 中文"), "C:\\Windows 中文");
    }

    #[test]
    fn hostile_text_is_made_visible() {
        assert_eq!(terminal("plain path C:\\x"), "plain path C:\\x");
        assert_eq!(terminal("a\u{1b}[31mred"), "a\\e[31mred");
        assert_eq!(terminal("x\u{202E}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(terminal("zero\u{200B}width"), "zero\\u{200b}width");
        // Default-ignorable characters draw as nothing: a tag character, a Hangul filler.
        assert_eq!(terminal("a\u{E0041}b"), "a\\u{e0041}b");
        assert_eq!(terminal("\u{3164}admin"), "\\u{3164}admin");
        assert_eq!(terminal("x\u{FFF9}y\u{180E}"), "x\\u{fff9}y\\u{180e}");
        assert_eq!(terminal("l1\r\nl2\t"), "l1\\r\\nl2\\t");
        assert_eq!(terminal("bell\u{7}"), "bell\\u{0007}");
        assert_eq!(terminal("中文 ok"), "中文 ok");
    }
}
