//! TSS and MSRD-Collect bundles: what their files are, and which computer each came from.
//!
//! Microsoft's collectors (TSS `TSS.ps1 -Scenario UEX_RDScli|UEX_RDSsrv`, MSRD-Collect) write a
//! folder or zip per computer: TSS `TSS_<COMPUTER>_<yyMMdd-HHmmss>_<scenario>` with files named
//! `<COMPUTER>_<yyMMdd-HHmmss>_...`; MSRD-Collect `MSRD-Results-<COMPUTER>[-<yyyyMMdd_HHmmss>]`
//! with files named `<COMPUTER>_...` in `<COMPUTER>_EventLogs`, `_RegistryKeys`, `_Networking`,
//! `_Certificates`, ... (public copies: architectaj/getTSS, `TSS.ps1`, `scripts/MSRD-Collect`).
//! The formats rdtriage reads are still recognised by content; this module names the rest, so
//! that every file gets an honest account: *present, not analysed* with what it is and what
//! opens it (never "failed"), or the quiet note for `LocaleMetaData\*.MTA`. It also reads the
//! computer name out of those folder and file names, and decodes the collectors' text files
//! (UTF-16LE from `Out-File`, UTF-8, ANSI). The RDP port its advice names is the rule pack's
//! domain declaration ([`crate::rules::Domain`]), never spelled here.

use std::sync::OnceLock;

use crate::rules::Domain;

/// The computer a bundle file came from, read from the innermost TSS or MSRD-Collect folder in
/// its path (`ticket.zip!/TSS_RDS01_240305-091500_UEX_RDSsrv/...` → `RDS01`).
pub fn host_from_name(name: &str) -> Option<String> {
    name.split(['/', '\\', '!'])
        .rev()
        .skip(1) // the file itself: its prefix is only trusted inside a bundle folder
        .find_map(host_from_folder)
}

/// `TSS_<COMPUTER>_<yyMMdd-HHmmss>[_scenario]` or `MSRD-Results-<COMPUTER>[-<yyyyMMdd_HHmmss>]`,
/// optionally with `.zip`.
pub fn host_from_folder(folder: &str) -> Option<String> {
    let folder = folder
        .strip_suffix(".zip")
        .or_else(|| folder.strip_suffix(".ZIP"))
        .unwrap_or(folder);
    if let Some(rest) = folder.strip_prefix("TSS_") {
        // The computer name has no `_` (NetBIOS names cannot); the stamp follows it. Looked at
        // as bytes: sliced as text, a name with a character of several bytes at the stamp's
        // end (`240305-12345é`) panicked, and every file under it was not read.
        let (host, after) = rest.split_once('_')?;
        let stamp = after.as_bytes();
        let stamp_ok = stamp.len() >= 13
            && stamp[6] == b'-'
            && stamp[..6].iter().all(u8::is_ascii_digit)
            && stamp[7..13].iter().all(u8::is_ascii_digit);
        return (stamp_ok && valid_host(host)).then(|| host.to_string());
    }
    if let Some(rest) = folder.strip_prefix("MSRD-Results-") {
        // A hyphen may be part of the name (WS-ALICE), so only a trailing stamp is cut off.
        let host = match rest.rsplit_once('-') {
            Some((h, stamp)) if is_msrd_stamp(stamp) => h,
            _ => rest,
        };
        return valid_host(host).then(|| host.to_string());
    }
    None
}

fn is_msrd_stamp(s: &str) -> bool {
    let s = s.as_bytes();
    s.len() == 15
        && s[8] == b'_'
        && s[..8].iter().all(u8::is_ascii_digit)
        && s[9..].iter().all(u8::is_ascii_digit)
}

fn valid_host(h: &str) -> bool {
    !h.is_empty() && h.len() <= 63 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Is `computer` (an event's `Computer`, often a FQDN) the bundle host `host`?
pub fn same_computer(computer: &str, host: &str) -> bool {
    let short = computer.split('.').next().unwrap_or(computer);
    short.eq_ignore_ascii_case(host)
}

/// What a collected file that rdtriage does not read is, and what opens it; `None` when the
/// name says nothing. Asked only once its content matched no format rdtriage reads.
pub fn describe_unread(name: &str) -> Option<SideFile> {
    let base = name.rsplit(['/', '\\', '!']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    let in_folder = |f: &str| {
        name.split(['/', '\\', '!'])
            .rev()
            .skip(1)
            .any(|c| c.eq_ignore_ascii_case(f))
    };
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    if ext == "mta" && in_folder("LocaleMetaData") {
        return Some(SideFile::Quiet(
            "event-log locale metadata (wevtutil al) for the .evtx beside it: not needed, the events are read from the .evtx",
        ));
    }
    // What the extension alone says, wherever the file is.
    let definite: Option<&'static str> = if ext == "etl" {
        Some(
            if lower.contains("nettrace")
                || lower.contains("netsh")
                || lower.contains("packetcapture")
            {
                "a netsh network trace (.etl): open it with Microsoft Network Monitor / Message Analyzer, or convert it with etl2pcapng for Wireshark"
            } else {
                "an ETW trace (.etl): open it with Windows Performance Analyzer, or format it with `netsh trace convert` / tracefmt"
            },
        )
    } else if ext == "cab" {
        Some(
            "a cabinet archive (.cab) written beside an ETW trace: open it with `expand` or File Explorer",
        )
    } else if ext == "mht" || ext == "mhtml" {
        Some(if lower.contains("psr") {
            "a Problem Steps Recorder capture: open the .mht in a browser"
        } else {
            "a saved web archive (.mht): open it in a browser"
        })
    } else if lower.contains("msrd-diag") && (ext == "html" || ext == "htm") {
        Some("MSRD-Diag's own report (HTML): open it in a browser")
    } else if ext == "dmp" {
        Some("a memory dump (.dmp): open it with WinDbg")
    } else {
        None
    };
    if let Some(what) = definite {
        return Some(SideFile::Present(what));
    }
    // What the collectors' names say: only trusted inside a TSS / MSRD-Collect folder.
    host_from_name(name)?;
    let what: &'static str = if lower.contains("psr") && ext == "zip" {
        "a Problem Steps Recorder capture: open the .mht in a browser"
    } else if ext == "html" || ext == "htm" {
        "an HTML report: open it in a browser"
    } else if lower.contains("xray") && ext == "xml" {
        "a TSS xray result (XML): known-issue checks, read it in a text editor"
    } else if lower.contains("certificates") && ext == "csv" {
        "the collector's certificate list, in a shape rdtriage does not read (it reads the tab-separated CSV with Store and Thumbprint columns): open it in a spreadsheet"
    } else if lower.contains("certificates") && ext == "txt" {
        "a certutil store dump (`certutil -verifystore -v`) in a shape rdtriage does not read (it knows certutil's English labels): read it in a text editor"
    } else if ext == "csv" && looks_like_event_copy(&lower) {
        "a CSV copy of an event log (Get-WinEvent | Export-Csv: level, time, provider, id, message only): the .evtx of the same log is what rdtriage reads"
    } else if ext == "txt" && looks_like_event_copy(&lower) {
        "a text copy of an event log: the .evtx of the same log is what rdtriage reads"
    } else if lower.contains("netstat") {
        netstat_advice()
    } else if lower.contains("firewall") {
        "a firewall rule listing (`netsh advfirewall firewall show rule name=all`): not analysed, a blocking rule fails the connection before it starts (0x204, not 0x904); the Security log's 5152/5157 are the firewall evidence rdtriage weighs"
    } else if ext == "txt" || ext == "log" {
        "a collector text file: read it in a text editor"
    } else if ext == "csv" {
        "a collector CSV file: open it in a spreadsheet"
    } else if ext == "xml" {
        "a collector XML file that is not an event-log export"
    } else if ext == "pml" {
        return None;
    } else {
        "a file of a TSS / MSRD-Collect bundle that rdtriage does not read"
    };
    Some(SideFile::Present(what))
}

/// What to look for in a netstat listing rdtriage could not read (`netstat.rs` reads the usual
/// shape): the RDP port the rule pack's domain declares.
fn netstat_advice() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let ports: Vec<String> = Domain::builtin()
            .rdp_ports
            .iter()
            .map(u64::to_string)
            .collect();
        format!(
            "a netstat listing in a shape rdtriage does not read (it reads `netstat -ano[b]` socket lines: protocol, local and foreign address, state, pid); look for the RDP port ({}, or RDP-Tcp's PortNumber) held by a program other than TermService's svchost.exe",
            ports.join(" or ")
        )
    })
}

/// How an unread collected file is accounted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideFile {
    /// Present, not analysed: shown with what it is and what opens it.
    Present(&'static str),
    /// Recognised and of no use to this analysis; noted quietly.
    Quiet(&'static str),
}

impl SideFile {
    pub fn text(self) -> String {
        match self {
            SideFile::Present(what) => format!("present, not analysed: {what}"),
            SideFile::Quiet(what) => format!("note: {what}"),
        }
    }
}

/// `<host>-System.csv`, `..._Microsoft-Windows-TerminalServices-...-Operational.txt`: a
/// log-name part in a file name.
fn looks_like_event_copy(lower: &str) -> bool {
    [
        "system.",
        "application.",
        "security.",
        "setup.",
        "-operational.",
        "-admin.",
        "_evt_",
        "eventlog",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// Collector text decoded: UTF-16LE or UTF-16BE with a BOM (PowerShell 5's `Out-File`, `reg
/// export`), UTF-16LE without one (recognised by its zero high bytes), UTF-8 with or without a
/// BOM (or several: [`utf8_marks`]); anything else read as UTF-8 with each invalid sequence replaced. Returns the text and
/// how many characters were replaced.
pub fn decode_text(bytes: Vec<u8>) -> (String, u64) {
    let encoding = Encoding::of(&bytes);
    encoding.decode(bytes)
}

/// [`decode_text`] of text that may change encoding part way ([`super::mixed`]): read up to
/// the change, and the problem to account when there is one. Text in UTF-16BE is looked at
/// as UTF-16LE is: a `reg export` (UTF-16BE, written by a tool that writes its mark) with
/// UTF-8 text after it kept its second part as nonsense, the file accounted read fully.
pub fn decode_text_to_switch(mut bytes: Vec<u8>) -> (String, u64, Option<String>) {
    use super::mixed::{Start, problem, switch_at};
    let encoding = Encoding::of(&bytes);
    let (start, from) = match encoding {
        Encoding::Utf16Le { mark } => (Start::Utf16Le, mark),
        Encoding::Utf16Be => (Start::Utf16Be, 2),
        Encoding::Utf8 { marks } => (Start::Utf8, marks),
    };
    let switched = switch_at(&bytes[from..], start).map(|(at, to)| {
        let at = from + at;
        bytes.truncate(at);
        problem(start, to, at as u64)
    });
    // Decoded as the whole was told to be: what is left before a switch may be too short to
    // tell UTF-16LE without a mark by.
    let (text, replaced) = encoding.decode(bytes);
    (text, replaced, switched)
}

/// A collector's text file (registry export, ACL dump, certificate or netstat listing) as
/// text, into its account: read up to a change of encoding, and said to be; characters that
/// could not be decoded counted in a note.
pub fn collector_text(bytes: Vec<u8>, account: &mut crate::model::FileAccount) -> String {
    let (text, replaced, switched) = decode_text_to_switch(bytes);
    if replaced > 0 {
        account.note(format!(
            "{replaced} undecodable characters replaced with U+FFFD"
        ));
    }
    if let Some(problem) = switched {
        account.damaged(problem);
    }
    text
}

/// How [`decode_text`] reads a text, told once from its start.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    /// `mark`: the bytes of its byte-order mark (0 or 2).
    Utf16Le {
        mark: usize,
    },
    Utf16Be,
    /// `marks`: the bytes of its UTF-8 byte-order marks ([`utf8_marks`]).
    Utf8 {
        marks: usize,
    },
}

impl Encoding {
    fn of(bytes: &[u8]) -> Encoding {
        if bytes.starts_with(&[0xFF, 0xFE]) {
            Encoding::Utf16Le { mark: 2 }
        } else if bytes.starts_with(&[0xFE, 0xFF]) {
            Encoding::Utf16Be
        } else if looks_like_utf16le(bytes) {
            Encoding::Utf16Le { mark: 0 }
        } else {
            Encoding::Utf8 {
                marks: utf8_marks(bytes),
            }
        }
    }

    fn decode(self, mut bytes: Vec<u8>) -> (String, u64) {
        match self {
            Encoding::Utf16Le { mark } => utf16(&bytes[mark..], u16::from_le_bytes),
            Encoding::Utf16Be => utf16(&bytes[2..], u16::from_be_bytes),
            Encoding::Utf8 { marks } => {
                bytes.drain(..marks);
                super::utf8_lossy_counted(bytes)
            }
        }
    }
}

/// How many bytes of UTF-8 byte-order marks `bytes` starts with: every one, not just the
/// first. An editor that adds a mark on saving adds one to a file that already had it, and
/// the second then read as a character (U+FEFF) before the header or the `<?xml`, so a file
/// Windows wrote was refused as unknown.
pub fn utf8_marks(bytes: &[u8]) -> usize {
    let mut at = 0;
    while bytes[at..].starts_with(b"\xEF\xBB\xBF") {
        at += 3;
    }
    at
}

/// Text as far as `head` goes (for sniffing): like [`decode_text`], never failing.
pub fn decode_head(head: &[u8]) -> String {
    let even = head.len() & !1;
    // Up to a change of encoding, as the whole file will be read: a short UTF-16LE header
    // before UTF-8 text is recognised by its header.
    let (text, ..) = if head.starts_with(&[0xFF, 0xFE])
        || head.starts_with(&[0xFE, 0xFF])
        || looks_like_utf16le(head)
    {
        decode_text_to_switch(head[..even].to_vec())
    } else {
        decode_text_to_switch(head.to_vec())
    };
    text
}

/// UTF-16LE text without its byte-order mark: mostly ASCII (at least 8 units, nearly every
/// odd byte zero in the first 512 bytes), or [`unmarked_utf16le`] (little ASCII, or UTF-8
/// after a short UTF-16LE part).
fn looks_like_utf16le(bytes: &[u8]) -> bool {
    mostly_ascii_utf16le(bytes) || unmarked_utf16le(bytes)
}

fn mostly_ascii_utf16le(bytes: &[u8]) -> bool {
    let units = bytes.len() / 2;
    if units < 8 {
        return false;
    }
    let sample = &bytes[..bytes.len().min(512) & !1];
    let zero_high = sample
        .chunks_exact(2)
        .filter(|c| c[1] == 0 && c[0] != 0)
        .count();
    zero_high * 10 >= (sample.len() / 2) * 9
}

/// Bytes looked at to tell UTF-16LE text without its byte-order mark.
const SAMPLE_BYTES: usize = 1024;

/// ASCII characters, each with its zero byte, that tell UTF-16LE at least.
const MIN_ASCII_UNITS: usize = 16;

/// A UTF-16LE unit of ASCII text: a printable byte (or tab, CR, LF), then a zero byte.
fn ascii_unit(u: &[u8]) -> bool {
    matches!(u, [b'\t' | b'\n' | b'\r' | 0x20..=0x7E, 0])
}

/// Whether `bytes` (a whole text, or its first bytes) is UTF-16LE without a byte-order mark:
/// in its first KiB, up to where text of another encoding begins ([`mixed::switch_at`]), at
/// least [`MIN_ASCII_UNITS`] ASCII characters each followed by a zero byte, one unit in four
/// at least, one of them among the first four. UTF-8 text holds no zero byte; UTF-16 text
/// in any language holds ASCII spaces, digits and line breaks. The verdict depends on the
/// first KiB only, so that a file's head and the whole file get the same one.
fn unmarked_utf16le(bytes: &[u8]) -> bool {
    if [&b"\xFF\xFE"[..], b"\xFE\xFF", b"\xEF\xBB\xBF"]
        .iter()
        .any(|m| bytes.starts_with(m))
    {
        return false;
    }
    let sample = bytes.get(..SAMPLE_BYTES).unwrap_or(bytes);
    let end = super::mixed::switch_at(sample, super::mixed::Start::Utf16Le)
        .map_or(sample.len(), |(at, _)| at);
    let units = sample.get(..end).unwrap_or(sample).chunks_exact(2);
    let total = units.len();
    let starts = units.clone().take(4).any(ascii_unit);
    let ascii = units.filter(|u| ascii_unit(u)).count();
    starts && ascii >= MIN_ASCII_UNITS && ascii * 4 >= total
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> (String, u64) {
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    let mut text = String::with_capacity(bytes.len() / 2);
    let mut replaced = 0u64;
    for c in char::decode_utf16(units) {
        text.push(c.unwrap_or_else(|_| {
            replaced += 1;
            char::REPLACEMENT_CHARACTER
        }));
    }
    if bytes.len() % 2 == 1 {
        text.push(char::REPLACEMENT_CHARACTER);
        replaced += 1;
    }
    (text, replaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UTF-16LE without its mark is told by its ASCII units, also when little of its text is
    /// ASCII or when UTF-8 follows it within its first KiB; UTF-8 text, marked UTF-16 and
    /// UTF-8 with UTF-16LE after it are not.
    #[test]
    fn utf16le_without_its_mark_is_told() {
        let le = |t: &str| -> Vec<u8> { t.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let header = "Windows Registry Editor Version 5.00\r\n\r\n";
        assert!(unmarked_utf16le(&le(header)));
        let cyrillic =
            "\r\nАктивные подключения\r\n\r\n  Имя    Локальный адрес        Внешний адрес\r\n";
        assert!(unmarked_utf16le(&le(cyrillic)));
        let then_utf8 = [
            le(header),
            "[HKEY_LOCAL_MACHINE\\X]\r\n\"A\"=dword:1\r\n"
                .repeat(20)
                .into_bytes(),
        ]
        .concat();
        assert!(unmarked_utf16le(&then_utf8));
        let (text, replaced, problem) = decode_text_to_switch(then_utf8.clone());
        assert_eq!((text.as_str(), replaced), (header, 0));
        assert!(problem.is_some_and(|p| p.starts_with("from byte 80 on, the text is UTF-8")));
        assert!(!unmarked_utf16le(header.as_bytes()));
        assert!(!unmarked_utf16le(&[&b"\xFF\xFE"[..], &le(header)].concat()));
        let utf8_then = [header.as_bytes(), &le(header)].concat();
        assert!(!unmarked_utf16le(&utf8_then));
        assert!(!unmarked_utf16le(&le("short")));
        assert!(!unmarked_utf16le(&[0u8; 64]));
    }

    #[test]
    fn reads_hosts_from_tss_and_msrd_collect_names() {
        let h = |n: &str| host_from_name(n);
        assert_eq!(
            h("t.zip!/TSS_RDS01_240305-091500_UEX_RDSsrv/RDS01_240305-091500_System.evtx"),
            Some("RDS01".into())
        );
        assert_eq!(
            h("in/MSRD-Results-WS-ALICE-20240305_091500/WS-ALICE_EventLogs/WS-ALICE_System.evtx"),
            Some("WS-ALICE".into())
        );
        assert_eq!(
            h(r"C:\MS_DATA\MSRD-Results-RDS02\RDS02_RegistryKeys\RDS02_HKLM-x.txt"),
            Some("RDS02".into())
        );
        assert_eq!(
            h("x/TSS_RDS01_240305-091500_UEX_RDSsrv.zip!/a/b.txt"),
            Some("RDS01".into())
        );
        // The innermost bundle wins; a file name alone is not trusted.
        assert_eq!(
            h("MSRD-Results-A/TSS_B_240305-091500_x/f.txt"),
            Some("B".into())
        );
        assert_eq!(h("TSS_C_240305-091500_x.txt"), None);
        assert_eq!(h("logs/TSS_bad name_240305-091500/x"), None);
        assert_eq!(h("logs/TSS_A_notastamp/x"), None);
        // A character of several bytes where the stamp ends, or in it, is no stamp.
        assert_eq!(h("logs/TSS_A_240305-12345é_x/f.txt"), None);
        assert_eq!(h("logs/TSS_A_24030é-123456/f.txt"), None);
        assert_eq!(h("logs/MSRD-Results-A-2024030é_091500/f.txt"), None);
        assert!(same_computer("RDS01.contoso.com", "rds01"));
        assert!(!same_computer("RDS011.contoso.com", "RDS01"));
    }

    #[test]
    fn names_side_files_and_what_opens_them() {
        let d = |n: &str| describe_unread(&format!("MSRD-Results-H/{n}")).map(|s| s.text());
        assert!(d("b/NetTrace.etl").unwrap().contains("netsh network trace"));
        assert!(
            d("b/RDS01_RdpCore.etl")
                .unwrap()
                .contains("Windows Performance Analyzer")
        );
        assert!(d("b/x.cab").unwrap().contains("cabinet"));
        assert!(d("b/RDS01_MSRD-Diag.html").unwrap().contains("MSRD-Diag"));
        assert!(
            d("b/RDS01-System.csv")
                .unwrap()
                .contains("CSV copy of an event log")
        );
        assert!(d("b/xray_report.xml").unwrap().contains("xray"));
        assert!(
            d("b/RDS01_Certificates-My.csv")
                .unwrap()
                .contains("certificate list")
        );
        assert!(
            d("b/RDS01_Certificates-My.txt")
                .unwrap()
                .contains("certutil")
        );
        assert!(d("b/PSR.zip").unwrap().contains("Problem Steps"));
        // The port to look for is the one the rule pack's domain declares.
        let port = Domain::builtin().rdp_ports[0].to_string();
        assert!(
            d("b/RDS01_netstat.txt")
                .unwrap()
                .contains(&format!("RDP port ({port}, or"))
        );
        assert_eq!(
            describe_unread("b/EventLogs/LocaleMetaData/System_1033.MTA")
                .map(|s| matches!(s, SideFile::Quiet(_))),
            Some(true)
        );
        assert!(describe_unread("b/x.MTA").is_none());
        assert!(describe_unread("random.bin").is_none());
        // Names are only trusted inside a bundle; extensions anywhere.
        assert!(describe_unread("ticket/notes.txt").is_none());
        assert!(describe_unread("ticket/trace.etl").is_some());
        assert!(d("random.bin").is_some());
    }

    #[test]
    fn decodes_collector_text() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Héllo".encode_utf16().flat_map(|u| u.to_le_bytes()))
            .collect();
        assert_eq!(decode_text(utf16), ("Héllo".into(), 0));
        let no_bom: Vec<u8> = "REGEDIT4 and more"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(decode_text(no_bom).0, "REGEDIT4 and more");
        assert_eq!(decode_text(b"\xEF\xBB\xBFabc".to_vec()), ("abc".into(), 0));
        assert_eq!(decode_text(b"a\xFFb".to_vec()), ("a\u{FFFD}b".into(), 1));
        let cut = vec![0xFF, 0xFE, b'a', 0, b'b'];
        assert_eq!(decode_text(cut), ("a\u{FFFD}".into(), 1));
    }
}
