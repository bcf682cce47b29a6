//! JSON as every report writes it: serde_json's, with every character a terminal or an editor
//! would act on or hide written as a `\uXXXX` escape. serde_json escapes only what JSON
//! requires (controls below U+0020, `"` and `\`), so C1 controls (U+0085 next line, U+009B,
//! which some terminals take as CSI), DEL, bidi overrides, zero-width characters and the line
//! separators U+2028/2029 (which split JSON lines for some readers) reached the file as
//! themselves. Escaped, the JSON is the same value when parsed, and its bytes are inert.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter, Serializer};

use crate::sanitize::is_unsafe_char;

/// `value` as one line of JSON.
pub fn to_writer<W: Write, T: Serialize + ?Sized>(out: W, value: &T) -> serde_json::Result<()> {
    value.serialize(&mut Serializer::with_formatter(
        out,
        Inert(CompactFormatter),
    ))
}

/// `value` as indented JSON.
pub fn to_writer_pretty<W: Write, T: Serialize + ?Sized>(
    out: W,
    value: &T,
) -> serde_json::Result<()> {
    value.serialize(&mut Serializer::with_formatter(
        out,
        Inert(PrettyFormatter::new()),
    ))
}

/// `value` as one line of JSON, in memory.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::new();
    to_writer(&mut out, value)?;
    Ok(out)
}

/// `value` as one line of JSON, as text.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    // Only JSON was written: valid UTF-8.
    Ok(String::from_utf8_lossy(&to_vec(value)?).into_owned())
}

/// A line of valid JSON (as `merge` reads from a shard) with every [`is_unsafe_char`] written
/// as an escape: the same value, inert bytes. The whitespace JSON allows between tokens (tab,
/// line feed, carriage return: never raw inside a string) stays. A line that holds none (as
/// every line `batch` writes) is returned as it is, byte for byte.
pub fn inert_line(line: Vec<u8>) -> Vec<u8> {
    let unsafe_here = |c: char| is_unsafe_char(c) && !matches!(c, '\t' | '\n' | '\r');
    let Ok(text) = std::str::from_utf8(&line) else {
        return line;
    };
    if !text.chars().any(unsafe_here) {
        return line;
    }
    escaped_where(text, unsafe_here).into_bytes()
}

/// Valid JSON text with every character `escape` holds for written as `\uXXXX`: the same
/// value. Only for characters JSON allows nowhere but inside a string (not its whitespace,
/// punctuation or the letters of its literals), which are then never just after a backslash.
pub fn escaped_where(json: &str, escape: impl Fn(char) -> bool) -> String {
    let mut out = Vec::with_capacity(json.len() + 16);
    // Into a Vec: cannot fail.
    let _ = write_escaping(&mut out, json, escape);
    // Valid text, with ASCII escapes in place of whole characters.
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every character `escape` holds for written as `\uXXXX` (a surrogate pair
/// beyond the Basic Multilingual Plane), the rest as it stands.
fn write_escaping<W: ?Sized + Write>(
    out: &mut W,
    text: &str,
    escape: impl Fn(char) -> bool,
) -> io::Result<()> {
    let mut rest = text;
    while let Some((at, c)) = rest.char_indices().find(|&(_, c)| escape(c)) {
        out.write_all(&rest.as_bytes()[..at])?;
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            write!(out, "\\u{unit:04x}")?;
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.write_all(rest.as_bytes())
}

/// A formatter that writes strings with [`is_unsafe_char`] characters escaped, and everything
/// else as the formatter it wraps.
struct Inert<F>(F);

impl<F: Formatter> Formatter for Inert<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        out: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_escaping(out, fragment, is_unsafe_char)
    }

    fn begin_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.0.begin_array(out)
    }

    fn end_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.0.end_array(out)
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(out, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.0.end_array_value(out)
    }

    fn begin_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.0.begin_object(out)
    }

    fn end_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.0.end_object(out)
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(out, first)
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.0.end_object_key(out)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.0.begin_object_value(out)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.0.end_object_value(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a terminal acts on or hides is escaped; the JSON is the same value; the rest of
    /// the text, and the layout of either form, is serde_json's.
    #[test]
    fn unsafe_characters_are_escaped_and_the_value_is_unchanged() {
        let text = "a\u{9b}31m\u{85}b\u{7f}\u{202e}c\u{2028}é\u{1b}\"😀";
        let value = serde_json::json!({ "k\u{85}": [text, 1, null] });
        let line = to_string(&value).unwrap();
        assert_eq!(
            line,
            r#"{"k\u0085":["a\u009b31m\u0085b\u007f\u202ec\u2028é\u001b\"😀",1,null]}"#
        );
        assert!(!line.chars().any(is_unsafe_char), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
        let mut pretty = Vec::new();
        to_writer_pretty(&mut pretty, &value).unwrap();
        let plain = serde_json::to_string_pretty(&serde_json::json!({ "k": [1, null] })).unwrap();
        let mut ours = Vec::new();
        to_writer_pretty(&mut ours, &serde_json::json!({ "k": [1, null] })).unwrap();
        assert_eq!(String::from_utf8(ours).unwrap(), plain);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&pretty).unwrap(),
            value
        );
        // A line written by someone else: made inert, the same value; ours: untouched.
        let mut raw = serde_json::to_vec(&value).unwrap();
        raw.extend_from_slice(b"\r\n");
        let inert = inert_line(raw.clone());
        assert_ne!(inert, raw);
        assert_eq!(
            String::from_utf8(inert.clone()).unwrap(),
            format!("{line}\r\n")
        );
        assert_eq!(inert_line(inert.clone()), inert);
    }
}
