//! Certificate store listings of a TSS / MSRD-Collect bundle → `registry` events at the key
//! where Windows keeps each certificate.
//!
//! MSRD-Collect (`MSRDC-CommonsCollect.psm1`, public copy architectaj/getTSS) writes two shapes
//! into `<HOST>_Certificates\`:
//!
//! * `<HOST>_Certificates-My.csv`: `Get-ChildItem Cert:\LocalMachine\My` rows put in a
//!   DataTable and written with `Export-Csv -NoTypeInformation -Delimiter "`t"`: a header of
//!   quoted column names separated by tabs (`Store`, `Thumbprint` in lower case, `Subject`,
//!   `Issuer`, `NotAfter` in the collecting machine's culture, ..., then the DataRow's own
//!   `RowError`, `RowState`, ...), every field quoted, `""` for a quote inside one;
//! * `<HOST>_Certificates-My.txt`, `-RemoteDesktop.txt`, `-AAD.txt`: `certutil -verifystore -v
//!   <store>` captured with `Out-File` (UTF-16LE): the store's name on the first line, then one
//!   block per certificate opened by `================ Certificate N ================`, with
//!   ` NotAfter: <date>`, `Subject:` (value on the same line or indented on the next) and
//!   `Cert Hash(sha1): <hex>` (spaces between the bytes on older Windows).
//!
//! Local machine stores live in the registry under
//! `HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\<Store>\Certificates\<THUMBPRINT>`,
//! so each certificate becomes `registry` events there, value type `certificate`: `NotAfter`
//! (`yyyy-MM-dd HH:mm:ss` when the date could be read, else as written) and `Subject`. Each
//! listing also gives one event for the store itself (key `...\SystemCertificates\<Store>`,
//! value `Certificates`, type `certificate-store`, data: how many it lists), so that an empty
//! store still counts as exported. Only the English `certutil` labels are known.

use std::sync::Arc;

use jiff::civil::DateTime;

use super::{Emit, bundle, text_lines};
use crate::model::{Event, EventKind, FileAccount, RegValue};

/// Where Windows keeps the local machine's certificate stores.
pub const STORES_KEY: &str = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates";
/// The value type of a listed certificate's events.
pub const CERT_TYPE: &str = "certificate";
/// The value type of a listed store's own event.
pub const STORE_TYPE: &str = "certificate-store";

const BLOCK_MARK: &str = "================ Certificate";

/// Does this decoded text start like a certificate listing (the CSV or a certutil dump)?
pub fn looks_like(text: &str) -> bool {
    let text = text.trim_start_matches('\u{feff}');
    let first = text_lines::first(text);
    let names: Vec<&str> = first
        .split('\t')
        .map(|f| f.trim().trim_matches('"'))
        .collect();
    if names.len() >= 3 && names[0] == "Store" && names.contains(&"Thumbprint") {
        return true;
    }
    // A certificate block, or (an empty store) certutil's closing line right after the store's.
    text_lines::lines(text).take(8).any(|l| {
        l.starts_with(BLOCK_MARK)
            || l.starts_with("CertUtil: -verifystore")
            || l.starts_with("CertUtil: -store")
    })
}

/// One certificate read from a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertItem {
    /// 1-based line the certificate starts on.
    pub line: u64,
    pub store: String,
    /// Lower-case hex, no spaces.
    pub thumbprint: String,
    pub subject: String,
    /// `yyyy-MM-dd HH:mm:ss` when it could be read, else the text as written.
    pub not_after: String,
}

/// What a listing holds: its store (when it names one), certificates and unreadable parts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Listing {
    pub stores: Vec<String>,
    pub certs: Vec<CertItem>,
    /// Lines that could not be read: (line, what is wrong).
    pub errors: super::LineErrors<CertFault>,
}

/// What is wrong with a line of a listing (log text in it clipped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertFault {
    #[error("no Store and Thumbprint columns in the header")]
    NoColumns,
    #[error("not a SHA-1 thumbprint: {0}")]
    NotAThumbprint(String),
    #[error(
        "a certificate with no \"Cert Hash(sha1):\" line (cut short, or certutil in another language?)"
    )]
    NoHashLine,
}

/// Read a listing; `file_name` names the store of a certutil dump (`Certificates-RemoteDesktop`).
pub fn parse(text: &str, file_name: &str) -> Listing {
    let text = text.trim_start_matches('\u{feff}');
    let first = text_lines::first(text);
    if first.trim_start().starts_with("\"Store\"") || first.trim_start().starts_with("Store\t") {
        parse_csv(text)
    } else {
        parse_certutil(text, file_name)
    }
}

fn parse_csv(text: &str) -> Listing {
    let mut out = Listing::default();
    let mut lines = text_lines::numbered(text);
    // Only the columns read are kept, of the header and of each row: a row of 50 million tabs
    // had been split into as many empty fields, 1.2 GB for 50 MB.
    const NAMES: [&str; 4] = ["Store", "Thumbprint", "Subject", "NotAfter"];
    let mut columns: [Option<usize>; 4] = [None; 4];
    if let Some((_, header)) = lines.next() {
        for (i, field) in tsv_fields(header).enumerate() {
            if let Some(k) = NAMES.iter().position(|n| *n == field) {
                columns[k].get_or_insert(i);
            }
        }
    }
    let [c_store, c_thumb, c_subject, c_after] = columns;
    let (Some(c_store), Some(c_thumb)) = (c_store, c_thumb) else {
        out.errors.push(1, CertFault::NoColumns);
        return out;
    };
    // The stores named so far: each row asks, so a listing naming a store a row is linear.
    let mut named: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (line, l) in lines {
        if l.trim().is_empty() {
            continue;
        }
        let last = [Some(c_store), Some(c_thumb), c_subject, c_after]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
        let mut f: Vec<(usize, String)> = Vec::with_capacity(4);
        let mut header_copy = false;
        for (i, field) in tsv_fields(l).enumerate().take(last + 1) {
            // `Export-Csv -Append` of a second table repeats no header, but a copy may: skip
            // it.
            if i == 0 && field == "Store" {
                header_copy = true;
                break;
            }
            if [Some(c_store), Some(c_thumb), c_subject, c_after].contains(&Some(i)) {
                f.push((i, field));
            }
        }
        if header_copy {
            continue;
        }
        let get = |c: Option<usize>| {
            c.and_then(|c| f.iter().find(|(i, _)| *i == c))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let thumb = normalize_thumbprint(&get(Some(c_thumb)));
        let Some(thumbprint) = thumb else {
            out.errors.push(
                line,
                CertFault::NotAThumbprint(super::clip_chars(&get(Some(c_thumb)), 48)),
            );
            continue;
        };
        let store = get(Some(c_store));
        if named.insert(store.clone()) {
            out.stores.push(store.clone());
        }
        out.certs.push(CertItem {
            line,
            store,
            thumbprint,
            subject: get(c_subject),
            not_after: normalize_date(&get(c_after)),
        });
    }
    out
}

/// The fields of one tab-separated line of quoted fields (`""` is a quote inside a field), one
/// at a time.
fn tsv_fields(line: &str) -> impl Iterator<Item = String> + '_ {
    let mut chars = line.chars().peekable();
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut cur = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                '"' => quoted = !quoted,
                '\t' if !quoted => return Some(cur),
                c => cur.push(c),
            }
        }
        done = true;
        Some(cur)
    })
}

fn parse_certutil(text: &str, file_name: &str) -> Listing {
    let mut out = Listing::default();
    let first = text_lines::first(text).trim();
    let store = store_from_file_name(file_name).unwrap_or_else(|| {
        // `MY "Personal"`: the store's name before its display name.
        first.split('"').next().unwrap_or("").trim().to_string()
    });
    if !store.is_empty() {
        out.stores.push(store.clone());
    }
    let mut block: Option<(u64, Vec<&str>)> = None;
    let finish = |block: Option<(u64, Vec<&str>)>, out: &mut Listing| {
        if let Some((line, lines)) = block {
            match read_block(&lines) {
                Ok((thumbprint, subject, not_after)) => out.certs.push(CertItem {
                    line,
                    store: store.clone(),
                    thumbprint,
                    subject,
                    not_after,
                }),
                Err(why) => out.errors.push(line, why),
            }
        }
    };
    for (line, l) in text_lines::numbered(text) {
        if l.starts_with(BLOCK_MARK) {
            finish(block.take(), &mut out);
            block = Some((line, Vec::new()));
        } else if let Some((_, lines)) = block.as_mut() {
            lines.push(l);
        }
    }
    finish(block.take(), &mut out);
    out
}

/// `Certificates-My` → `My`, `Certificates-RemoteDesktop` → `Remote Desktop`.
fn store_from_file_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\', '!']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    let after = &lower[lower.find("certificates-")? + "certificates-".len()..];
    let stem = after.split('.').next().unwrap_or("");
    Some(
        match stem {
            "my" => "My",
            "remotedesktop" => "Remote Desktop",
            "aad" => "AAD Token Issuer",
            _ => return None,
        }
        .to_string(),
    )
}

/// One certificate block: (thumbprint, subject, not after).
fn read_block(lines: &[&str]) -> Result<(String, String, String), CertFault> {
    let mut thumb = None;
    let mut subject = String::new();
    let mut not_after = None;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim();
        if thumb.is_none()
            && !l.starts_with(' ')
            && let Some(v) = t.strip_prefix("Cert Hash(sha1):")
        {
            thumb = Some(
                normalize_thumbprint(v)
                    .ok_or_else(|| CertFault::NotAThumbprint(super::clip_chars(v.trim(), 48)))?,
            );
        } else if not_after.is_none()
            && let Some(v) = t.strip_prefix("NotAfter:")
        {
            not_after = Some(normalize_date(v));
        } else if subject.is_empty()
            && !l.starts_with(' ')
            && let Some(v) = t.strip_prefix("Subject:")
        {
            subject = if v.trim().is_empty() {
                lines.get(i + 1).map_or("", |n| n.trim()).to_string()
            } else {
                v.trim().to_string()
            };
        }
    }
    let thumb = thumb.ok_or(CertFault::NoHashLine)?;
    Ok((thumb, subject, not_after.unwrap_or_default()))
}

/// 40 hex digits, spaces allowed between them, in lower case.
pub fn normalize_thumbprint(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{200e}')
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// A date as PowerShell or certutil print it in the collecting machine's culture, as
/// `yyyy-MM-dd HH:mm:ss`; the text as written when it cannot be read.
pub fn normalize_date(s: &str) -> String {
    let s = s.trim();
    parse_date(s).map_or_else(
        || s.to_string(),
        |d| d.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

/// `3/5/2025 9:00:00 AM` (en-US, month first with AM/PM), `05/03/2025 09:00:00` (day first
/// without), `05.03.2025 09:00`, `2025-03-05 09:00:00`; seconds optional.
pub fn parse_date(s: &str) -> Option<DateTime> {
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let time = parts.next().unwrap_or("0:00");
    let ampm = parts.next().map(str::to_ascii_uppercase);
    let nums: Vec<u32> = date
        .split(['/', '.', '-'])
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    let [a, b, c] = nums[..] else { return None };
    let (y, m, d) = if a > 31 {
        (a, b, c)
    } else if a > 12 {
        (c, b, a)
    } else if b > 12 || ampm.is_some() {
        (c, a, b)
    } else {
        (c, b, a)
    };
    let t: Vec<u32> = time
        .split(':')
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    let (mut h, mi, sec) = match t[..] {
        [h, m] => (h, m, 0),
        [h, m, s] => (h, m, s),
        _ => return None,
    };
    match ampm.as_deref() {
        Some("PM") if h < 12 => h += 12,
        Some("AM") if h == 12 => h = 0,
        Some("AM" | "PM") | None => {}
        Some(_) => return None,
    }
    DateTime::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
        i8::try_from(h).ok()?,
        i8::try_from(mi).ok()?,
        i8::try_from(sec).ok()?,
        0,
    )
    .ok()
}

/// The key of a listed certificate.
pub fn cert_key(store: &str, thumbprint: &str) -> String {
    format!(
        r"{STORES_KEY}\{store}\Certificates\{}",
        thumbprint.to_ascii_uppercase()
    )
}

/// Read one listing into `registry` events.
pub fn read_cert_listing(bytes: Vec<u8>, emit: &mut Emit<'_>, account: &mut FileAccount) {
    let text = bundle::collector_text(bytes, account);
    let computer = bundle::host_from_name(emit.file).unwrap_or_default();
    let listing = parse(&text, emit.file);
    let file: &Arc<str> = emit.file;
    let ev = |record: u64, key: String, name: &str, ty: &str, data: String| Event {
        file: Arc::clone(file),
        record,
        time: None,
        kind: EventKind::Registry(Box::new(RegValue {
            key: key.into(),
            name: name.into(),
            value_type: ty.into(),
            data,
            computer: computer.clone(),
        })),
        marks: Default::default(),
    };
    // Certificates per store, counted in one pass (a listing may name a store per row).
    let mut listed: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for c in &listing.certs {
        *listed.entry(c.store.as_str()).or_default() += 1;
    }
    // Each event asked whether it is kept as it is made, and the kept handed on in batches:
    // a listing of many certificates is not held whole a second time as events.
    let mut batch = crate::ingest::Batch::default();
    let mut made = 0u64;
    let mut offer = |e: Event| {
        made += 1;
        emit.offer(&mut batch, e);
    };
    for store in &listing.stores {
        let n = listed.get(store.as_str()).copied().unwrap_or(0);
        offer(ev(
            1,
            format!(r"{STORES_KEY}\{store}"),
            "Certificates",
            STORE_TYPE,
            n.to_string(),
        ));
    }
    for c in &listing.certs {
        let key = cert_key(&c.store, &c.thumbprint);
        offer(ev(
            c.line,
            key.clone(),
            "NotAfter",
            CERT_TYPE,
            c.not_after.clone(),
        ));
        offer(ev(c.line, key, "Subject", CERT_TYPE, c.subject.clone()));
    }
    account.events = made;
    super::count_line_errors(account, &listing.errors);
    emit.flush(batch);
    account.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\"Store\"\t\"Thumbprint\"\t\"Subject\"\t\"Issuer\"\t\"NotAfter\"\t\"IssuerThumbprint\"\t\"EnhancedKeyUsage\"\t\"SerialNumber\"\t\"SubjectKeyIdentifier\"\t\"AuthorityKeyIdentifier\"\t\"RowError\"\t\"RowState\"\t\"Table\"\t\"ItemArray\"\t\"HasErrors\"\r\n\"My\"\t\"3c1a0f7d2b9e4c6a8d5f1e0b7a6c9d2e4f8b1a3c\"\t\"CN=RDS01.contoso.com, O=\"\"Contoso\"\"\"\t\"CN=Contoso CA\"\t\"3/5/2025 9:00:00 PM\"\t\"\"\t\"Server Authentication\"\t\"1a2b\"\t\"ab\"\t\"cd\"\t\"\"\t\"Added\"\t\"\"\t\"System.Object[]\"\t\"False\"\r\n";

    #[test]
    fn reads_the_tab_separated_csv() {
        assert!(looks_like(CSV));
        let l = parse(CSV, "RDS01_Certificates-My.csv");
        assert_eq!(l.errors, vec![]);
        assert_eq!(l.stores, vec!["My".to_string()]);
        assert_eq!(l.certs.len(), 1);
        let c = &l.certs[0];
        assert_eq!(c.thumbprint, "3c1a0f7d2b9e4c6a8d5f1e0b7a6c9d2e4f8b1a3c");
        assert_eq!(c.subject, "CN=RDS01.contoso.com, O=\"Contoso\"");
        assert_eq!(c.not_after, "2025-03-05 21:00:00");
        assert_eq!(c.line, 2);
    }

    /// A listing naming several stores lists each once, in the order first named.
    #[test]
    fn each_store_is_listed_once_in_order() {
        let row = |store: &str, n: u8| {
            format!(
                "\"{store}\"\t\"{}\"\t\"CN=x\"\t\"\"\t\"\"\r\n",
                format!("{n:02x}").repeat(20)
            )
        };
        let text = format!(
            "\"Store\"\t\"Thumbprint\"\t\"Subject\"\t\"Issuer\"\t\"NotAfter\"\r\n{}{}{}{}",
            row("My", 1),
            row("Remote Desktop", 2),
            row("My", 3),
            row("Root", 4)
        );
        let l = parse(&text, "RDS01_Certificates-My.csv");
        assert_eq!(l.errors, vec![]);
        assert_eq!(l.stores, vec!["My", "Remote Desktop", "Root"]);
        assert_eq!(l.certs.len(), 4);
    }

    const CERTUTIL: &str = "MY \"Personal\"\r\n================ Certificate 0 ================\r\nX509 Certificate:\r\nVersion: 3\r\nSerial Number: 1a2b\r\nIssuer:\r\n    CN=Contoso CA\r\n\r\n NotBefore: 05.03.2024 09:00\r\n NotAfter: 05.03.2025 09:00\r\n\r\nSubject:\r\n    CN=RDS01.contoso.com\r\n\r\nCert Hash(sha1): 3c 1a 0f 7d 2b 9e 4c 6a 8d 5f 1e 0b 7a 6c 9d 2e 4f 8b 1a 3c\r\n  CertContext[0][0]: dwInfoStatus=102\r\n    NotAfter: 1/1/2030 0:00\r\n================ Certificate 1 ================\r\nSerial Number: 99\r\nSubject: CN=other\r\n NotAfter: 2023-01-02 03:04:05\r\nCert Hash(sha1): 0123456789abcdef0123456789abcdef01234567\r\nCertUtil: -verifystore command completed successfully.\r\n";

    #[test]
    fn reads_certutil_dumps_with_and_without_spaced_hashes() {
        assert!(looks_like(CERTUTIL));
        let l = parse(CERTUTIL, "x/RDS01_Certificates-My.txt");
        assert_eq!(l.errors, vec![]);
        assert_eq!(l.stores, vec!["My".to_string()]);
        assert_eq!(l.certs.len(), 2);
        assert_eq!(
            l.certs[0].thumbprint,
            "3c1a0f7d2b9e4c6a8d5f1e0b7a6c9d2e4f8b1a3c"
        );
        assert_eq!(l.certs[0].subject, "CN=RDS01.contoso.com");
        assert_eq!(l.certs[0].not_after, "2025-03-05 09:00:00");
        assert_eq!(l.certs[1].subject, "CN=other");
        assert_eq!(l.certs[1].not_after, "2023-01-02 03:04:05");
        // The store from the file name, else from the first line.
        let rd = parse(CERTUTIL, "RDS01_Certificates-RemoteDesktop.txt");
        assert_eq!(rd.certs[0].store, "Remote Desktop");
        assert_eq!(parse(CERTUTIL, "dump.txt").stores, vec!["MY".to_string()]);
    }

    #[test]
    fn an_empty_store_still_counts_as_exported() {
        let text = "Remote Desktop\r\nCertUtil: -verifystore command completed successfully.\r\n";
        assert!(looks_like(text));
        let l = parse(text, "H_Certificates-RemoteDesktop.txt");
        assert_eq!(l.stores, vec!["Remote Desktop".to_string()]);
        assert!(l.certs.is_empty() && l.errors.is_empty());
    }

    #[test]
    fn cut_and_foreign_listings_are_named_not_guessed() {
        // Cut inside the first certificate: no hash line.
        let cut = &CERTUTIL[..CERTUTIL.find("Cert Hash").unwrap()];
        let l = parse(cut, "H_Certificates-My.txt");
        assert!(l.certs.is_empty());
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.errors[0].1, CertFault::NoHashLine);
        assert!(l.errors[0].1.to_string().contains("Cert Hash(sha1)"));
        // A bad thumbprint in the CSV is named; the other rows are read.
        let bad = CSV.replacen("3c1a0f7d", "zz1a0f7d", 1)
            + "\"My\"\t\"0123456789abcdef0123456789abcdef01234567\"\t\"CN=x\"\t\"\"\t\"garbage\"\r\n";
        let l = parse(&bad, "H_Certificates-My.csv");
        assert_eq!(l.errors.len(), 1);
        assert_eq!(l.certs.len(), 1);
        assert_eq!(l.certs[0].not_after, "garbage");
        assert!(!looks_like("hello\tworld\n"));
    }

    #[test]
    fn reads_dates_in_the_common_cultures() {
        let d = |s: &str| normalize_date(s);
        assert_eq!(d("12/31/2026 11:59:59 PM"), "2026-12-31 23:59:59");
        assert_eq!(d("1/2/2026 12:00 AM"), "2026-01-02 00:00:00");
        assert_eq!(d("31/12/2026 23:59:59"), "2026-12-31 23:59:59");
        assert_eq!(d("02/01/2026 10:00:00"), "2026-01-02 10:00:00");
        assert_eq!(d("31.12.2026 23:59"), "2026-12-31 23:59:00");
        assert_eq!(d("2026-12-31 23:59:59"), "2026-12-31 23:59:59");
        assert_eq!(d("2026/13/45 1:00"), "2026/13/45 1:00");
        assert_eq!(d("soon"), "soon");
    }
}
