//! The certificate RDP-Tcp is configured to use (`SSLCertificateSHA1Hash` under
//! `...\Terminal Server\WinStations\RDP-Tcp`) against the certificate stores the bundle
//! exported (DOMAIN.md §3.1, §8): a thumbprint no exported store holds, or a certificate that
//! expired before the logs end, is evidence for the certificate cause; present and valid counts
//! against it.
//!
//! The result is one `registry` event per configured thumbprint, at the configured value's file
//! and line, with value type [`CHECK_TYPE`] and data starting with its verdict:
//! `missing:` (no exported store holds it, and both stores RDP can use, `My` and `Remote
//! Desktop`, were exported), `not-in-exported:` (not in the stores exported, but one of those
//! two was not), `expired:`, `valid:`, or `unknown-expiry:`. The rules in `config.rdt` match it.

use std::collections::{BTreeSet, HashMap};

use jiff::tz::TimeZone;

use crate::ingest::certstore::{self, CERT_TYPE, STORE_TYPE, STORES_KEY};
use crate::model::{Event, EventKind, RegValue};

/// The value type of a check's event.
pub const CHECK_TYPE: &str = "certificate-check";

const RDP_TCP: &str = r"\WinStations\RDP-Tcp";
const HASH_VALUE: &str = "SSLCertificateSHA1Hash";
/// The stores a listener certificate can come from: a configured one (`My`) or the self-signed
/// one RDP makes (`Remote Desktop`).
const RDP_STORES: [&str; 2] = ["My", "Remote Desktop"];

/// One check event per configured thumbprint that the bundle exported any store for.
pub fn checks(events: &[Event]) -> Vec<Event> {
    // The logs end here: an expiry before it had already passed when they were written.
    // Worked out at the first certificate (most tickets have none).
    let mut logs_end = None;
    let mut logs_end = || {
        *logs_end.get_or_insert_with(|| {
            events
                .iter()
                .filter_map(|e| e.time)
                .max()
                .map(|t| t.to_zoned(TimeZone::UTC).datetime())
        })
    };
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    let values = crate::analysis::positions(events, |e| matches!(e.kind, EventKind::Registry(_)));
    // The exported stores, indexed at the first configured thumbprint: each thumbprint looks
    // its certificate up rather than reading every event again (a bundle naming thousands of
    // thumbprints took minutes).
    let mut stores: Option<Stores<'_>> = None;
    for e in values.iter().map(|&i| &events[i]) {
        let EventKind::Registry(r) = &e.kind else {
            continue;
        };
        if !r.name.eq_ignore_ascii_case(HASH_VALUE)
            || !r.value_type.eq_ignore_ascii_case("REG_BINARY")
            || !ends_with_ci(&r.key, RDP_TCP)
        {
            continue;
        }
        let Some(thumb) = certstore::normalize_thumbprint(&r.data) else {
            continue;
        };
        if !done.insert((r.computer.to_ascii_lowercase(), thumb.clone())) {
            continue;
        }
        let stores = stores.get_or_insert_with(|| Stores::index(events, &values));
        let Some(data) = verdict(stores, &r.computer, &thumb, logs_end()) else {
            continue;
        };
        out.push(Event {
            file: e.file.clone(),
            record: e.record,
            time: None,
            kind: EventKind::Registry(Box::new(RegValue {
                key: r.key.clone(),
                name: r.name.clone(),
                value_type: CHECK_TYPE.into(),
                data,
                computer: r.computer.clone(),
            })),
            marks: Default::default(),
        });
    }
    out
}

/// What the bundle exported of the certificate stores, per computer (lower case): the stores
/// listed, and per thumbprint (lower case) the (store, not after, subject) of each store that
/// lists it, in the order first seen.
#[derive(Default)]
struct Stores<'e> {
    listed: HashMap<String, BTreeSet<&'e str>>,
    certs: HashMap<(String, String), Vec<Listed<'e>>>,
}

/// One store's listing of a certificate: (store, not after, subject).
type Listed<'e> = (&'e str, &'e str, &'e str);

impl<'e> Stores<'e> {
    fn index(events: &'e [Event], registry: &[usize]) -> Self {
        let mut out = Stores::default();
        let prefix = format!(r"{STORES_KEY}\");
        for e in registry.iter().map(|&i| &events[i]) {
            let EventKind::Registry(r) = &e.kind else {
                continue;
            };
            let Some(rest) = r.key.strip_prefix(prefix.as_str()) else {
                continue;
            };
            let computer = r.computer.to_ascii_lowercase();
            if r.value_type == STORE_TYPE {
                out.listed.entry(computer).or_default().insert(rest);
                continue;
            }
            if r.value_type != CERT_TYPE {
                continue;
            }
            let Some((store, tp)) = rest.split_once(r"\Certificates\") else {
                continue;
            };
            let found = out
                .certs
                .entry((computer, tp.to_ascii_lowercase()))
                .or_default();
            let slot = match found.iter().position(|f| f.0 == store) {
                Some(k) => &mut found[k],
                None => {
                    found.push((store, "", ""));
                    let last = found.len() - 1;
                    &mut found[last]
                }
            };
            if r.name == "NotAfter" {
                slot.1 = &r.data;
            } else if r.name == "Subject" {
                slot.2 = &r.data;
            }
        }
        out
    }
}

/// The check's data for one thumbprint on one computer; `None` when no store was exported.
fn verdict(
    index: &Stores<'_>,
    computer: &str,
    thumb: &str,
    logs_end: Option<jiff::civil::DateTime>,
) -> Option<String> {
    let computer = computer.to_ascii_lowercase();
    let empty = BTreeSet::new();
    let stores = index.listed.get(&computer).unwrap_or(&empty);
    let found: Vec<(String, String, String)> = index
        .certs
        .get(&(computer, thumb.to_ascii_lowercase()))
        .map(|f| {
            f.iter()
                .map(|&(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect()
        })
        .unwrap_or_default();
    if stores.is_empty() {
        return None;
    }
    let listed: Vec<&str> = stores.iter().copied().collect();
    let Some((store, not_after, subject)) = found.into_iter().min() else {
        let all = RDP_STORES
            .iter()
            .all(|s| stores.iter().any(|x| x.eq_ignore_ascii_case(s)));
        return Some(if all {
            format!(
                "missing: {thumb} is in none of the exported stores ({})",
                listed.join(", ")
            )
        } else {
            format!(
                "not-in-exported: {thumb} is not in the exported stores ({}); {} not exported",
                listed.join(", "),
                RDP_STORES
                    .iter()
                    .filter(|s| !stores.iter().any(|x| x.eq_ignore_ascii_case(s)))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    };
    let who = if subject.is_empty() {
        format!("{thumb} in {store}")
    } else {
        format!("{thumb} ({subject}) in {store}")
    };
    let expiry = certstore::parse_date(&not_after);
    Some(match (expiry, logs_end) {
        (Some(exp), Some(end)) if exp < end => format!(
            "expired: {who} expired on {not_after}, before the logs end ({})",
            end.strftime("%Y-%m-%d %H:%M:%S")
        ),
        (Some(_), Some(_)) => format!("valid: {who}, valid until {not_after}"),
        (Some(_), None) => format!(
            "unknown-expiry: {who} expires on {not_after} (no event time to compare it with)"
        ),
        (None, _) => format!("unknown-expiry: {who}, expiry not readable: {not_after:?}"),
    })
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn reg(key: &str, name: &str, ty: &str, data: &str) -> Event {
        Event {
            file: Arc::from("f.txt"),
            record: 3,
            time: None,
            kind: EventKind::Registry(Box::new(RegValue {
                key: key.into(),
                name: name.into(),
                value_type: ty.into(),
                data: data.into(),
                computer: "RDS01.contoso.com".into(),
            })),
            marks: Default::default(),
        }
    }

    const TP: &str = "3c1a0f7d2b9e4c6a8d5f1e0b7a6c9d2e4f8b1a3c";

    fn configured() -> Event {
        reg(
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp",
            HASH_VALUE,
            "REG_BINARY",
            TP,
        )
    }

    fn store(name: &str) -> Event {
        reg(
            &format!(r"{STORES_KEY}\{name}"),
            "Certificates",
            STORE_TYPE,
            "1",
        )
    }

    fn cert(store: &str, tp: &str, not_after: &str) -> Vec<Event> {
        let key = certstore::cert_key(store, tp);
        vec![
            reg(&key, "NotAfter", CERT_TYPE, not_after),
            reg(&key, "Subject", CERT_TYPE, "CN=RDS01.contoso.com"),
        ]
    }

    fn timed(mut e: Event, t: &str) -> Event {
        e.time = Some(t.parse().unwrap());
        e
    }

    fn data(events: &[Event]) -> Vec<String> {
        checks(events)
            .into_iter()
            .map(|e| match e.kind {
                EventKind::Registry(r) => r.data,
                _ => unreachable!(),
            })
            .collect()
    }

    #[test]
    fn missing_expired_valid_and_not_exported() {
        let end = timed(reg("k", "x", "REG_SZ", ""), "2024-03-05T09:14:20Z");
        // No store exported: nothing to say.
        assert!(data(&[configured()]).is_empty());
        // Both stores exported, neither holds it.
        let mut ev = vec![configured(), store("My"), store("Remote Desktop")];
        ev.extend(cert("My", &"0".repeat(40), "2030-01-01 00:00:00"));
        let d = data(&ev);
        assert!(d[0].starts_with("missing: 3c1a"), "{d:?}");
        assert!(d[0].contains("(My, Remote Desktop)"));
        // Only My exported: not decided, named as such.
        let d = data(&[configured(), store("My")]);
        assert!(d[0].starts_with("not-in-exported:"), "{d:?}");
        assert!(d[0].ends_with("Remote Desktop not exported"), "{d:?}");
        // Present, expired before the logs end.
        let mut ev = vec![configured(), store("My"), end.clone()];
        ev.extend(cert("My", TP, "2024-01-01 00:00:00"));
        let d = data(&ev);
        assert!(d[0].starts_with("expired:"), "{d:?}");
        assert!(d[0].contains("2024-01-01 00:00:00") && d[0].contains("CN=RDS01"));
        // Present and valid.
        let mut ev = vec![configured(), store("Remote Desktop"), end];
        ev.extend(cert("Remote Desktop", TP, "2025-03-05 09:00:00"));
        assert!(data(&ev)[0].starts_with("valid:"));
        // No event time: the expiry is said, not judged.
        let mut ev = vec![configured(), store("My")];
        ev.extend(cert("My", TP, "2025-03-05 09:00:00"));
        assert!(data(&ev)[0].starts_with("unknown-expiry:"));
    }

    #[test]
    fn another_computers_store_does_not_count() {
        let mut other = store("My");
        if let EventKind::Registry(r) = &mut other.kind {
            r.computer = "WS-ALICE.contoso.com".into();
        }
        assert!(data(&[configured(), other]).is_empty());
    }
}
