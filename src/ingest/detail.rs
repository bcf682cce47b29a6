//! Procmon's `Detail` column and network `Path` column.
//!
//! `Detail` is `Key: value, Key: value`, but a value may itself hold `, `
//! (`Desired Access: Generic Write, Read Attributes, Disposition: OpenIf`), so a naive split on
//! `, ` is wrong (docs/domain.md §4). A new pair starts only where `, ` is followed by something that
//! looks like a key: a run of key characters, then `: `. Key characters are letters, digits,
//! spaces and `_ - / . ( ) #`: Procmon keys are English words (`Desired Access`, `OpenResult`,
//! `Image Base`, `Parent PID`, `seqnum`). A value segment that does not look like that is glued to
//! the previous value, which keeps `Generic Write, Read Attributes` together.
//!
//! Network paths are `local:port -> remote:port`, hosts may be IPv6 or names with colons, so
//! the split is on ` -> ` and then on the *last* `:`. Service names are mapped to ports by the
//! table in `services.tsv` (what Windows' services file calls them, as Procmon prints them).

use std::ops::Range;
use std::sync::OnceLock;

use crate::model::{Fields, NetPath};

/// Split a Procmon `Detail` string into key/value pairs, in order. Text that has no key (rare:
/// some operations write free text) is kept whole under the key `""`.
pub fn parse_detail(detail: &str) -> Fields {
    let mut fields = Fields::default();
    parse_detail_into(detail, &mut fields);
    fields
}

/// [`parse_detail`] into `fields`, replacing what they held (their room is reused).
pub fn parse_detail_into(detail: &str, fields: &mut Fields) {
    fields.clear();
    fields.reserve(4, detail.trim().len());
    split_detail(detail, |k, v| fields.push(&detail[k], &detail[v]));
}

/// Where each pair of `detail` lies in it: `pair(name, value)` is called once per pair, in
/// order, with byte ranges into `detail` (as [`parse_detail`] splits it: text with no key is one
/// pair whose name is an empty range). A value holding `, ` runs on to its last piece's end.
pub fn split_detail(detail: &str, mut pair: impl FnMut(Range<usize>, Range<usize>)) {
    let trimmed = detail.trim();
    if trimmed.is_empty() {
        return;
    }
    // Offsets into `detail`, from those into `trimmed` (a sub-slice of it).
    let base = trimmed.as_ptr() as usize - detail.as_ptr() as usize;
    let at = |s: &str| s.as_ptr() as usize - detail.as_ptr() as usize;
    let mut segments = split_comma_space(trimmed);
    // The first segment decides whether there is any key at all.
    let Some(first) = segments.next() else {
        return;
    };
    let Some((k, v)) = split_key(first) else {
        pair(base..base, base..base + trimmed.len());
        return;
    };
    let mut last = (at(k)..at(k) + k.len(), at(v)..at(v) + v.len());
    for segment in segments {
        match split_key(segment) {
            Some((k, v)) => {
                pair(last.0, last.1);
                last = (at(k)..at(k) + k.len(), at(v)..at(v) + v.len());
            }
            // Glued to the value before: `, ` and this segment are part of it.
            None => last.1.end = at(segment) + segment.len(),
        }
    }
    pair(last.0, last.1);
}

/// `text.split(", ")`, by `memchr` on the comma: the standard two-byte searcher costs more to
/// set up than a typical `Detail` takes to split.
fn split_comma_space(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = Some(0);
    std::iter::from_fn(move || {
        let from = start?;
        let mut at = from;
        while let Some(i) = memchr::memchr(b',', &bytes[at..]) {
            let comma = at + i;
            if bytes.get(comma + 1) == Some(&b' ') {
                start = Some(comma + 2);
                return Some(&text[from..comma]);
            }
            at = comma + 1;
        }
        start = None;
        Some(&text[from..])
    })
}

/// `Key: value` when the part before the first `: ` looks like a Procmon key.
pub(crate) fn split_key(segment: &str) -> Option<(&str, &str)> {
    let colon = segment.find(':')?;
    let key = &segment[..colon];
    let rest = &segment[colon + 1..];
    // "Key:" at the end, or "Key: value"; never "C:\path" (no space after the colon).
    // An empty value is `rest` itself, so that it lies where it was found (`split_detail`
    // takes offsets from it).
    let value = if rest.is_empty() {
        rest
    } else {
        rest.strip_prefix(' ')?
    };
    let looks_like_key = !key.is_empty()
        && key.len() <= 40
        && key.as_bytes()[0].is_ascii_alphabetic()
        && !key.ends_with(' ')
        // Bytes, not chars: every key character is ASCII, so a non-ASCII one fails either way.
        && key.bytes().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, b' ' | b'_' | b'-' | b'/' | b'.' | b'(' | b')' | b'#')
        });
    looks_like_key.then_some((key, value))
}

/// Parse `local:port -> remote:port`; `None` when the path does not have that shape.
pub fn parse_net_path(path: &str) -> Option<NetPath<'_>> {
    let (local, remote) = path.split_once(" -> ")?;
    let (local_host, local_port) = split_endpoint(local.trim())?;
    let (remote_host, remote_port) = split_endpoint(remote.trim())?;
    Some(NetPath {
        local_host,
        local_port,
        remote_host,
        remote_port,
    })
}

fn split_endpoint(endpoint: &str) -> Option<(&str, Option<u16>)> {
    let colon = endpoint.rfind(':')?;
    let host = &endpoint[..colon];
    let port = &endpoint[colon + 1..];
    if host.is_empty() || port.is_empty() {
        return None;
    }
    Some((host, port_number(port)))
}

/// The service names Procmon prints for ports, and their numbers: format knowledge kept as
/// data (`services.tsv`, with its provenance), parsed once.
const SERVICES: &str = include_str!("services.tsv");

fn services() -> &'static [(String, u16)] {
    static TABLE: OnceLock<Vec<(String, u16)>> = OnceLock::new();
    TABLE.get_or_init(|| parse_services(SERVICES))
}

/// `name<TAB>port` lines; comments, blank and malformed lines are left out (a test checks
/// that the shipped table has none of the last).
fn parse_services(text: &str) -> Vec<(String, u16)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let (name, port) = l.split_once('\t')?;
            Some((name.trim().to_ascii_lowercase(), port.trim().parse().ok()?))
        })
        .collect()
}

/// A port as Procmon prints it: a number, or a service name when name resolution was on.
pub fn port_number(port: &str) -> Option<u16> {
    if let Ok(n) = port.parse::<u16>() {
        return Some(n);
    }
    services()
        .iter()
        .find(|(name, _)| name.len() == port.len() && name.eq_ignore_ascii_case(port))
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(d: &str) -> Vec<(String, String)> {
        parse_detail(d)
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn values_with_commas_stay_whole() {
        let p = pairs(
            "Desired Access: Generic Write, Read Attributes, Disposition: OverwriteIf, Options: Synchronous IO Non-Alert, Non-Directory File, Attributes: N, ShareMode: Read, Write, AllocationSize: 0",
        );
        assert_eq!(
            p[0],
            (
                "Desired Access".into(),
                "Generic Write, Read Attributes".into()
            )
        );
        assert_eq!(p[1], ("Disposition".into(), "OverwriteIf".into()));
        assert_eq!(
            p[2],
            (
                "Options".into(),
                "Synchronous IO Non-Alert, Non-Directory File".into()
            )
        );
        assert_eq!(p[4], ("ShareMode".into(), "Read, Write".into()));
        assert_eq!(p[5], ("AllocationSize".into(), "0".into()));
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn thousands_separators_and_paths_are_values() {
        let p = pairs("Offset: 0, Length: 13,385,728, Priority: Normal");
        assert_eq!(p[1], ("Length".into(), "13,385,728".into()));
        let p =
            pairs("Parent PID: 1388, Command line: \"C:\\x.exe\" , Current directory: C:\\Users\\");
        assert_eq!(p[1].0, "Command line");
        assert_eq!(p[2], ("Current directory".into(), "C:\\Users\\".into()));
    }

    #[test]
    fn splitting_on_comma_space_is_the_standard_split() {
        for text in [
            "",
            ",",
            ", ",
            "a",
            "a, b",
            "a,, b",
            "a, , b",
            "a,b, c,",
            "a, b, ",
            ",, ,",
            "é, ü,x, ",
        ] {
            let ours: Vec<&str> = split_comma_space(text).collect();
            let std: Vec<&str> = text.split(", ").collect();
            assert_eq!(ours, std, "{text:?}");
        }
    }

    #[test]
    fn free_text_and_empty() {
        assert!(parse_detail("").is_empty());
        assert_eq!(pairs("n/a"), vec![(String::new(), "n/a".into())]);
        assert_eq!(pairs("Query: Name"), vec![("Query".into(), "Name".into())]);
        assert_eq!(pairs("Key:"), vec![("Key".into(), String::new())]);
    }

    #[test]
    fn every_line_of_the_services_table_is_a_name_and_a_port() {
        let lines = SERVICES
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(services().len(), lines, "a malformed line in services.tsv");
        assert!(lines >= 20);
        assert_eq!(port_number("MS-WBT-SERVER"), Some(3389));
        assert_eq!(port_number("wsd"), port_number("ws-discovery"));
        assert_eq!(
            parse_services("# c\nx\t1\ny 2\nz\t99999\n"),
            vec![("x".into(), 1)]
        );
    }

    #[test]
    fn network_paths() {
        let n = parse_net_path("DESKTOP-1:60791 -> rdp.contoso.com:ms-wbt-server").unwrap();
        assert_eq!(n.local_host, "DESKTOP-1");
        assert_eq!(n.local_port, Some(60791));
        assert_eq!(n.remote_host, "rdp.contoso.com");
        assert_eq!(n.remote_port, Some(3389));
        let n = parse_net_path("fe80::1:50000 -> fe80::2:https").unwrap();
        assert_eq!(n.local_host, "fe80::1");
        assert_eq!(n.remote_port, Some(443));
        let n = parse_net_path("a:1 -> b:weird-service").unwrap();
        assert_eq!(n.remote_port, None);
        assert!(parse_net_path("C:\\Windows\\System32").is_none());
        assert!(parse_net_path(":1 -> b:2").is_none());
    }
}
