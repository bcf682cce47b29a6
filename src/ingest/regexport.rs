//! `reg export` text files → `registry` events, one per value (and one per deletion).
//!
//! The format is what `reg export` and Registry Editor write (Microsoft: "How to add, modify, or
//! delete registry subkeys and values by using a .reg file"): a header line, `Windows Registry
//! Editor Version 5.00` (UTF-16LE with a BOM) or `REGEDIT4` (ANSI); key lines `[HKEY_...]`, a
//! deleted key `[-HKEY_...]`; value lines `"Name"=...` or `@=...` (the default value) whose data
//! is a quoted string, `dword:0000000a`, `hex:..` (REG_BINARY), `hex(N):..` for every other type
//! (`hex(2)` expand string, `hex(7)` multi-string, `hex(b)` qword, ...), or `-` (a deleted value).
//! Hex data runs on over lines that end in `\`. `qword:` is accepted though `reg` never writes it.
//!
//! Data is made comparable: numbers in decimal, strings (also those written as `hex(1|2|6|7)`,
//! UTF-16LE in 5.00, ANSI in REGEDIT4) as text, multi-strings one per line, binary as lower-case
//! hex digits (a certificate thumbprint in `SSLCertificateSHA1Hash` reads as its thumbprint). A line
//! that cannot be read is counted and named; the rest of the file is still read.

use std::sync::Arc;

use super::{Emit, MAX_LISTED_ERRORS, bundle, text_lines};
use crate::model::{Event, EventKind, FileAccount, RegValue};

/// The two header lines a reg export starts with.
pub const HEADER_V5: &str = "Windows Registry Editor Version 5.00";
pub const HEADER_V4: &str = "REGEDIT4";

/// Does this decoded text start like a reg export?
pub fn looks_like(text: &str) -> bool {
    let first = text_lines::first(text.trim_start_matches('\u{feff}')).trim();
    first == HEADER_V5 || first == HEADER_V4
}

/// The longest key path read, in characters. Windows names a registry key by a counted UTF-16
/// string of at most 65,535 bytes (`UNICODE_STRING`), so no key it exports is longer; a longer
/// key line is refused, with the values under it, which would otherwise each repeat it.
pub const MAX_KEY_CHARS: usize = 32_767;

/// One item read from the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegItem {
    /// 1-based line the value (or key) starts on.
    pub line: u64,
    /// Shared by every value read under one key line.
    pub key: Arc<str>,
    pub name: String,
    pub value_type: String,
    pub data: String,
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {fault}")]
pub struct RegError {
    pub line: u64,
    pub fault: RegFault,
}

/// What is wrong with a line (log text in it clipped to 40 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegFault {
    #[error(
        "not a reg export: the first line is not \"{}\" or \"{}\"",
        HEADER_V5,
        HEADER_V4
    )]
    NotAnExport,
    #[error("a key line with no closing \"]\"")]
    UnclosedKey,
    #[error("the file ends inside a value continued over lines (cut short?)")]
    CutShort,
    #[error(
        "a value continued over lines (\\ at a line's end) by a line that is not hex data: cut short there, the line after it read on its own"
    )]
    ContinuedByOther,
    #[error("a value before any key line")]
    ValueBeforeKey,
    #[error("a value under a deleted key ([-...])")]
    ValueUnderDeletedKey,
    #[error("a key path of {0} characters, longer than Windows allows ({MAX_KEY_CHARS})")]
    KeyTooLong(usize),
    #[error("a value under a key line that was refused")]
    ValueUnderRefusedKey,
    #[error("a value line that is neither \"Name\"=... nor @=...")]
    NotAValue,
    #[error("no \"=\" after the value name")]
    NoEquals,
    #[error("a string value with no closing quote")]
    UnclosedString,
    #[error("text after a string value: {0}")]
    TextAfterString(String),
    #[error("a bad dword: {0}")]
    BadDword(String),
    #[error("a bad qword: {0}")]
    BadQword(String),
    #[error("hex( with no \"):\"")]
    HexTypeUnclosed,
    #[error("a bad hex type: hex({0})")]
    BadHexType(String),
    #[error("unknown value data: {0}")]
    UnknownData(String),
    #[error("a bad hex byte: {0:?}")]
    BadHexByte(String),
}

/// Read a whole export (already decoded to text).
pub fn parse(text: &str, on_item: &mut dyn FnMut(RegItem), on_error: &mut dyn FnMut(RegError)) {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text_lines::numbered(text).peekable();
    let unicode = match lines.next() {
        Some((_, l)) if l.trim() == HEADER_V5 => true,
        Some((_, l)) if l.trim() == HEADER_V4 => false,
        _ => {
            on_error(RegError {
                line: 1,
                fault: RegFault::NotAnExport,
            });
            return;
        }
    };
    // The key the values are read under, or why a value here has none.
    let mut key: Result<Arc<str>, RegFault> = Err(RegFault::ValueBeforeKey);
    while let Some((line_no, line)) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some((deleted, k)) = parse_key_line(rest) else {
                on_error(RegError {
                    line: line_no,
                    fault: RegFault::UnclosedKey,
                });
                continue;
            };
            if let Some(chars) = too_long(k) {
                key = Err(RegFault::ValueUnderRefusedKey);
                on_error(RegError {
                    line: line_no,
                    fault: RegFault::KeyTooLong(chars),
                });
            } else if deleted {
                on_item(RegItem {
                    line: line_no,
                    key: k.into(),
                    name: String::new(),
                    value_type: "deleted-key".into(),
                    data: String::new(),
                });
                // Values under a deleted key would be nonsense: expect a new key first.
                key = Err(RegFault::ValueUnderDeletedKey);
            } else {
                key = Ok(k.into());
            }
            continue;
        }
        // A value: gather its continuation lines first (`\` at the end of a line).
        let mut logical = trimmed.trim_end().to_string();
        let mut cut = false;
        // Decided once, on the first line: the name and `=hex` before the data do not change
        // as lines are added (asking again per line read a long name once per line).
        let continues = logical.ends_with('\\') && is_hex_data(&logical);
        let mut broken = false;
        while continues && logical.ends_with('\\') {
            logical.pop();
            match lines.peek() {
                Some((_, next)) if is_hex_continuation(next) => {
                    logical.push_str(next.trim());
                    lines.next();
                }
                // A key line, another value: the value is cut short; the line is its own.
                Some(_) => {
                    broken = true;
                    break;
                }
                None => {
                    cut = true;
                    break;
                }
            }
        }
        if cut || broken {
            on_error(RegError {
                line: line_no,
                fault: if cut {
                    RegFault::CutShort
                } else {
                    RegFault::ContinuedByOther
                },
            });
            continue;
        }
        let current = match &key {
            Ok(k) => k,
            Err(fault) => {
                on_error(RegError {
                    line: line_no,
                    fault: fault.clone(),
                });
                continue;
            }
        };
        match parse_value_line(&logical, unicode) {
            Ok((name, value_type, data)) => on_item(RegItem {
                line: line_no,
                key: Arc::clone(current),
                name,
                value_type,
                data,
            }),
            Err(fault) => on_error(RegError {
                line: line_no,
                fault,
            }),
        }
    }
}

/// The length in characters of a key longer than [`MAX_KEY_CHARS`] (characters are counted
/// only when its bytes exceed that).
fn too_long(key: &str) -> Option<usize> {
    (key.len() > MAX_KEY_CHARS)
        .then(|| key.chars().count())
        .filter(|&n| n > MAX_KEY_CHARS)
}

/// `HKEY...]` or `-HKEY...]` (after the `[`): (deleted, key).
fn parse_key_line(rest: &str) -> Option<(bool, &str)> {
    let end = rest.rfind(']')?;
    let inner = &rest[..end];
    Some(match inner.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, inner),
    })
}

/// Does the data part of this value line use `hex`, the only data that continues over lines?
fn is_hex_data(logical: &str) -> bool {
    let Some(eq) = value_data_start(logical) else {
        return false;
    };
    logical[eq..].trim_start().starts_with("hex")
}

/// A line that may continue hex data: hex bytes, commas and blanks, maybe a `\` at its end
/// (a blank line too: `reg` never writes one there, and it ends no value). A key line or a
/// value line had been taken into the value before it that ended in `\`: the key line lost,
/// the values after it read under the key before it.
fn is_hex_continuation(line: &str) -> bool {
    let body = line.trim_end();
    let body = body.strip_suffix('\\').unwrap_or(body);
    body.bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b',' || b == b' ' || b == b'\t')
}

/// Byte offset just after the `=` that ends the value name, if the name is well formed.
fn value_data_start(line: &str) -> Option<usize> {
    if let Some(rest) = line.strip_prefix('@') {
        let eq = rest.find('=')?;
        return rest[..eq].trim().is_empty().then_some(1 + eq + 1);
    }
    let (_, after) = quoted(line)?;
    let consumed = line.len() - after.len();
    let rest = after.trim_start();
    let rest = rest.strip_prefix('=')?;
    Some(line.len() - rest.len()).filter(|&p| p > consumed)
}

/// A `"..."` string with `\\` and `\"` escapes at the start of `s`: (unescaped, rest).
fn quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => return None,
            },
            '"' => return Some((out, &body[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// A value line (continuations joined): (name, type, data).
fn parse_value_line(line: &str, unicode: bool) -> Result<(String, String, String), RegFault> {
    let name = if line.starts_with('@') {
        String::new()
    } else {
        quoted(line).ok_or(RegFault::NotAValue)?.0
    };
    let start = value_data_start(line).ok_or(RegFault::NoEquals)?;
    let data = line[start..].trim();
    if data == "-" {
        return Ok((name, "deleted".into(), String::new()));
    }
    if data.starts_with('"') {
        let (text, rest) = quoted(data).ok_or(RegFault::UnclosedString)?;
        if !rest.trim().is_empty() {
            return Err(RegFault::TextAfterString(super::clip_chars(rest, 40)));
        }
        return Ok((name, "REG_SZ".into(), text));
    }
    if let Some(hex) = data.strip_prefix("dword:") {
        let n = parse_fixed_hex(hex, 8)
            .ok_or_else(|| RegFault::BadDword(super::clip_chars(hex, 40)))?;
        return Ok((name, "REG_DWORD".into(), n.to_string()));
    }
    if let Some(hex) = data.strip_prefix("qword:") {
        let n = parse_fixed_hex(hex, 16)
            .ok_or_else(|| RegFault::BadQword(super::clip_chars(hex, 40)))?;
        return Ok((name, "REG_QWORD".into(), n.to_string()));
    }
    let (kind, bytes_text) = if let Some(rest) = data.strip_prefix("hex:") {
        (3u32, rest)
    } else if let Some(rest) = data.strip_prefix("hex(") {
        let close = rest.find("):").ok_or(RegFault::HexTypeUnclosed)?;
        let kind = u32::from_str_radix(&rest[..close], 16)
            .map_err(|_| RegFault::BadHexType(super::clip_chars(&rest[..close], 40)))?;
        (kind, &rest[close + 2..])
    } else {
        return Err(RegFault::UnknownData(super::clip_chars(data, 40)));
    };
    let bytes = parse_hex_bytes(bytes_text)?;
    let (ty, text) = render(kind, &bytes, unicode);
    Ok((name, ty, text))
}

/// Exactly 1..=`max_digits` hex digits.
fn parse_fixed_hex(s: &str, max_digits: usize) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// `01,02,ab` (spaces allowed, an empty list allowed).
fn parse_hex_bytes(s: &str) -> Result<Vec<u8>, RegFault> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|b| {
            let b = b.trim();
            if b.is_empty() || b.len() > 2 {
                return Err(RegFault::BadHexByte(super::clip_chars(b, 40)));
            }
            u8::from_str_radix(b, 16).map_err(|_| RegFault::BadHexByte(super::clip_chars(b, 40)))
        })
        .collect()
}

/// The type name and comparable text of `hex(kind)` data.
fn render(kind: u32, bytes: &[u8], unicode: bool) -> (String, String) {
    let hex = || bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let strings = || decode_strings(bytes, unicode);
    match kind {
        0 => ("REG_NONE".into(), hex()),
        1 => ("REG_SZ".into(), strings()),
        2 => ("REG_EXPAND_SZ".into(), strings()),
        3 => ("REG_BINARY".into(), hex()),
        4 if bytes.len() == 4 => (
            "REG_DWORD".into(),
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).to_string(),
        ),
        5 if bytes.len() == 4 => (
            "REG_DWORD_BIG_ENDIAN".into(),
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).to_string(),
        ),
        6 => ("REG_LINK".into(), strings()),
        7 => ("REG_MULTI_SZ".into(), strings()),
        8 => ("REG_RESOURCE_LIST".into(), hex()),
        9 => ("REG_FULL_RESOURCE_DESCRIPTOR".into(), hex()),
        0xa => ("REG_RESOURCE_REQUIREMENTS_LIST".into(), hex()),
        0xb if bytes.len() == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            ("REG_QWORD".into(), u64::from_le_bytes(b).to_string())
        }
        // A number type of the wrong size, or a type Windows does not define: keep the bytes.
        4 => ("REG_DWORD".into(), hex()),
        5 => ("REG_DWORD_BIG_ENDIAN".into(), hex()),
        0xb => ("REG_QWORD".into(), hex()),
        other => (format!("REG_0x{other:x}"), hex()),
    }
}

/// NUL-separated strings: UTF-16LE (5.00) or ANSI, read as Windows-1252's Latin-1 subset
/// (REGEDIT4), one per line. Trailing empty strings (the terminators) are dropped.
///
/// Decoded in one pass into the text returned, trailing NULs trimmed first: a multi-string of
/// millions of empty strings had been decoded into code units, then a string, then one string
/// each (24 bytes apiece, 40 times its data), then joined.
fn decode_strings(bytes: &[u8], unicode: bool) -> String {
    if unicode {
        // A last odd byte reads as a unit whose high byte is zero.
        let unit = |c: &[u8]| u16::from_le_bytes([c[0], c.get(1).copied().unwrap_or(0)]);
        let units = bytes.chunks(2).map(unit);
        let kept = units.clone().rposition(|u| u != 0).map_or(0, |i| i + 1);
        let mut text = String::with_capacity(kept);
        for c in char::decode_utf16(units.take(kept)) {
            text.push(match c {
                Ok('\0') => '\n',
                Ok(c) => c,
                Err(_) => char::REPLACEMENT_CHARACTER,
            });
        }
        text
    } else {
        let kept = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        bytes[..kept]
            .iter()
            .map(|&b| if b == 0 { '\n' } else { char::from(b) })
            .collect()
    }
}

/// Read one reg export into `registry` events.
pub fn read_reg_export(bytes: Vec<u8>, emit: &mut Emit<'_>, account: &mut FileAccount) {
    let text = bundle::collector_text(bytes, account);
    let computer = bundle::host_from_name(emit.file).unwrap_or_default();
    let file: &Arc<str> = emit.file;
    let mut batch = crate::ingest::Batch::default();
    let mut errors = super::LineErrors::default();
    parse(
        &text,
        &mut |item: RegItem| {
            account.events += 1;
            let event = Event {
                file: Arc::clone(file),
                record: item.line,
                time: None,
                kind: EventKind::Registry(Box::new(RegValue {
                    key: item.key,
                    name: item.name,
                    value_type: item.value_type,
                    data: item.data,
                    computer: computer.clone(),
                })),
                marks: Default::default(),
            };
            emit.offer(&mut batch, event);
        },
        &mut |e: RegError| errors.push(e.line, e.fault),
    );
    super::count_line_errors(account, &errors);
    if errors.count() > MAX_LISTED_ERRORS as u64 {
        account.more_not_listed(format!(
            "{} more unreadable lines not listed",
            errors.count() - MAX_LISTED_ERRORS as u64
        ));
    }
    emit.flush(batch);
    account.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Vec<RegItem>, Vec<RegError>) {
        let mut items = Vec::new();
        let mut errors = Vec::new();
        parse(text, &mut |i| items.push(i), &mut |e| errors.push(e));
        (items, errors)
    }

    fn one(value_line: &str) -> (String, String, String) {
        let text = format!("{HEADER_V5}\r\n\r\n[HKEY_LOCAL_MACHINE\\K]\r\n{value_line}\r\n");
        let (items, errors) = read(&text);
        assert_eq!(errors, vec![], "{value_line}");
        assert_eq!(items.len(), 1, "{value_line}");
        let i = items.into_iter().next().unwrap();
        (i.name, i.value_type, i.data)
    }

    fn t(name: &str, ty: &str, data: &str) -> (String, String, String) {
        (name.into(), ty.into(), data.into())
    }

    #[test]
    fn reads_every_value_type() {
        assert_eq!(one(r#""A"="text""#), t("A", "REG_SZ", "text"));
        assert_eq!(
            one(r#""Quote \"q\" and \\ slash"="C:\\Windows\\\"x\"""#),
            t(r#"Quote "q" and \ slash"#, "REG_SZ", r#"C:\Windows\"x""#)
        );
        assert_eq!(one(r#"@="default""#), t("", "REG_SZ", "default"));
        assert_eq!(
            one(r#""PortNumber"=dword:00000d3d"#),
            t("PortNumber", "REG_DWORD", "3389")
        );
        assert_eq!(
            one(r#""Max"=dword:ffffffff"#),
            t("Max", "REG_DWORD", "4294967295")
        );
        assert_eq!(
            one(r#""Q"=qword:0000000100000000"#),
            t("Q", "REG_QWORD", "4294967296")
        );
        assert_eq!(
            one(r#""Hash"=hex:1A,2b,3c"#),
            t("Hash", "REG_BINARY", "1a2b3c")
        );
        assert_eq!(one(r#""Empty"=hex:"#), t("Empty", "REG_BINARY", ""));
        assert_eq!(
            one(r#""Dll"=hex(2):25,00,53,00,00,00"#),
            t("Dll", "REG_EXPAND_SZ", "%S")
        );
        assert_eq!(
            one(r#""M"=hex(7):61,00,00,00,62,00,63,00,00,00,00,00"#),
            t("M", "REG_MULTI_SZ", "a\nbc")
        );
        assert_eq!(
            one(r#""B"=hex(b):00,00,00,00,01,00,00,00"#),
            t("B", "REG_QWORD", "4294967296")
        );
        assert_eq!(
            one(r#""D"=hex(4):3d,0d,00,00"#),
            t("D", "REG_DWORD", "3389")
        );
        assert_eq!(
            one(r#""E"=hex(5):00,00,0d,3d"#),
            t("E", "REG_DWORD_BIG_ENDIAN", "3389")
        );
        assert_eq!(one(r#""N"=hex(0):"#), t("N", "REG_NONE", ""));
        assert_eq!(one(r#""S"=hex(1):41,00,00,00"#), t("S", "REG_SZ", "A"));
        assert_eq!(one(r#""L"=hex(6):41,00"#), t("L", "REG_LINK", "A"));
        assert_eq!(
            one(r#""R"=hex(8):01,02"#),
            t("R", "REG_RESOURCE_LIST", "0102")
        );
        assert_eq!(
            one(r#""F"=hex(9):01"#),
            t("F", "REG_FULL_RESOURCE_DESCRIPTOR", "01")
        );
        assert_eq!(
            one(r#""Rq"=hex(a):ff"#),
            t("Rq", "REG_RESOURCE_REQUIREMENTS_LIST", "ff")
        );
        assert_eq!(one(r#""X"=hex(20):ff"#), t("X", "REG_0x20", "ff"));
        assert_eq!(one(r#""Odd"=hex(4):01,02"#), t("Odd", "REG_DWORD", "0102"));
        assert_eq!(one(r#""Gone"=-"#), t("Gone", "deleted", ""));
    }

    #[test]
    fn joins_continued_hex_lines() {
        let text = format!(
            "{HEADER_V5}\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\TermService\\Parameters]\r\n\"ServiceDll\"=hex(2):25,00,50,00,\\\r\n  72,00,6f,00,\\\r\n  00,00\r\n\"After\"=dword:00000001\r\n"
        );
        let (items, errors) = read(&text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].data, "%Pro");
        assert_eq!(items[0].line, 3);
        assert_eq!(items[1].name, "After");
        assert!(items[0].key.ends_with(r"TermService\Parameters"));
    }

    #[test]
    fn reads_deleted_keys_and_regedit4_ansi_strings() {
        let text = "REGEDIT4\n\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Old]\n\"orphan\"=\"x\"\n[HKEY_CURRENT_USER\\K]\n\"S\"=hex(2):43,3a,e9,00\n";
        let (items, errors) = read(text);
        assert_eq!(items[0].value_type, "deleted-key");
        assert_eq!(&*items[0].key, r"HKEY_LOCAL_MACHINE\SOFTWARE\Old");
        assert_eq!(errors.len(), 1, "a value under a deleted key has no key");
        assert_eq!(errors[0].fault, RegFault::ValueUnderDeletedKey);
        assert_eq!(items[1].data, "C:é");
    }

    #[test]
    fn values_share_their_key_and_an_over_long_key_is_refused_with_its_values() {
        let long = format!("HKEY_LOCAL_MACHINE\\{}", "é".repeat(MAX_KEY_CHARS));
        let text = format!(
            "{HEADER_V5}\n[HKEY_LOCAL_MACHINE\\K]\n\"a\"=dword:1\n\"b\"=dword:2\n[{long}]\n\"c\"=dword:3\n\"d\"=dword:4\n[HKEY_CURRENT_USER\\J]\n\"e\"=dword:5\n"
        );
        let (items, errors) = read(&text);
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "e"]);
        assert!(
            Arc::ptr_eq(&items[0].key, &items[1].key),
            "one key, one copy"
        );
        let faults: Vec<(u64, RegFault)> = errors.into_iter().map(|e| (e.line, e.fault)).collect();
        assert_eq!(
            faults,
            [
                (5, RegFault::KeyTooLong(MAX_KEY_CHARS + 19)),
                (6, RegFault::ValueUnderRefusedKey),
                (7, RegFault::ValueUnderRefusedKey),
            ]
        );
        // The longest key Windows can name is still read.
        let longest = format!("HKEY_X\\{}", "k".repeat(MAX_KEY_CHARS - 7));
        let (items, errors) = read(&format!("{HEADER_V5}\n[{longest}]\n\"v\"=dword:1\n"));
        assert_eq!((items.len(), errors.len()), (1, 0));
        assert_eq!(items[0].key.chars().count(), MAX_KEY_CHARS);
    }

    #[test]
    fn bad_lines_are_counted_and_the_rest_is_read() {
        let text = format!(
            "{HEADER_V5}\n[HKEY_LOCAL_MACHINE\\K\n\"before\"=dword:1\n[HKEY_LOCAL_MACHINE\\K]\n\"a\"=dword:zz\n\"b\"=hex:1,2,345\n\"c\"=\"open\n\"d\"=weird\nnoise\n\"ok\"=dword:00000002\n\"cut\"=hex:01,\\\n"
        );
        let (items, errors) = read(&text);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].name, "ok");
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 5, 6, 7, 8, 9, 11], "{errors:?}");
        assert_eq!(errors.last().unwrap().fault, RegFault::CutShort);
        assert!(errors.last().unwrap().to_string().contains("cut short"));
    }

    #[test]
    fn refuses_text_that_is_not_an_export() {
        let (items, errors) = read("hello\n[HKEY_X]\n");
        assert!(items.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(looks_like(
            "\u{feff}Windows Registry Editor Version 5.00\r\n"
        ));
        assert!(looks_like("REGEDIT4\n"));
        assert!(!looks_like("REGEDIT5\n"));
    }
}
