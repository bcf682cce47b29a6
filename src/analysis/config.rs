//! Configuration in the ranking (DOMAIN.md §8): a lasting state, never the moment of failure.
//!
//! * Configuration that explains event evidence next to a 0x904 corroborates it: the cause's
//!   confidence rises one level (a moderate Schannel 36871 at the 0x904 plus TLS 1.2 disabled
//!   in SCHANNEL is as good as strong evidence).
//! * Configuration alone is moderate at most: the rules say so with their strength, and a
//!   cause with only configuration findings is capped at medium here.
//! * Healthy configuration counts against a cause: when the bundle holds the very setting a
//!   cause would break, and it is as Windows ships it, the cause loses a level (high stays,
//!   strong evidence at the 0x904 outweighs a setting) and the report says why.

use std::collections::BTreeSet;

use super::rank::Confidence;
use crate::model::{Event, EventKind, Source};
use crate::rules::Cause;

/// Is this a source of configuration (a lasting state with no time)?
pub fn is_configuration(source: Source) -> bool {
    matches!(source, Source::Registry | Source::Acl)
}

/// `EVTX and Procmon agree`, `EVTX and registry agree`, ...: the sources of a cause's findings.
pub fn agreement(sources: &BTreeSet<&str>) -> String {
    let names: Vec<&str> = sources
        .iter()
        .map(|s| match *s {
            "evtx" => "EVTX",
            "procmon" => "Procmon",
            "acl" => "ACL",
            other => other,
        })
        .collect();
    let list = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.join(""),
    };
    format!("{list} agree")
}

/// What configuration did to one cause's confidence, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    pub confidence: Confidence,
    /// Multiplies the cause's score.
    pub score_factor: f64,
    /// Added to the cause's `why`.
    pub note: Option<String>,
}

/// Adjust a cause's confidence for the configuration evidence it has (`sources` of its
/// findings, `event_near`: an event-log or Procmon finding next to a 0x904) and the healthy
/// configuration in `events`.
pub fn adjust(
    cause: Cause,
    confidence: Confidence,
    sources: &BTreeSet<Source>,
    event_near: bool,
    events: &[Event],
) -> Adjusted {
    let has_config = sources.iter().any(|s| is_configuration(*s));
    let has_events = sources.iter().any(|s| !is_configuration(*s));
    if has_config && has_events && event_near {
        let names: Vec<&str> = sources
            .iter()
            .filter(|s| is_configuration(**s))
            .map(|s| s.as_str())
            .collect();
        return Adjusted {
            confidence: raise(confidence),
            score_factor: 1.0,
            note: Some(format!(
                "the exported configuration ({}) explains the events at the 0x904",
                names.join(", ")
            )),
        };
    }
    if has_config && !has_events {
        return Adjusted {
            confidence: confidence.max(Confidence::Medium),
            score_factor: 1.0,
            note: Some("configuration only: no event at a 0x904 shows it mattered".into()),
        };
    }
    if !has_config && let Some(healthy) = healthy_setting(cause, events) {
        let lowered = match confidence {
            Confidence::Medium => Confidence::Low,
            Confidence::Low => Confidence::Context,
            c => c,
        };
        return Adjusted {
            confidence: lowered,
            score_factor: 0.8,
            note: Some(format!(
                "the exported configuration counts against it: {healthy}"
            )),
        };
    }
    Adjusted {
        confidence,
        score_factor: 1.0,
        note: None,
    }
}

/// One level more confident (`Confidence` orders best first).
fn raise(c: Confidence) -> Confidence {
    match c {
        Confidence::High | Confidence::Medium => Confidence::High,
        Confidence::Low => Confidence::Medium,
        Confidence::Context => Confidence::Low,
    }
}

/// The healthy setting in the bundle that speaks against `cause`, if it holds one.
fn healthy_setting(cause: Cause, events: &[Event]) -> Option<&'static str> {
    let reg = |key_suffix: &str, name: &str, healthy: &dyn Fn(&str) -> bool| {
        events.iter().any(|e| match &e.kind {
            EventKind::Registry(r) => {
                ends_with_ci(&r.key, key_suffix)
                    && r.name.eq_ignore_ascii_case(name)
                    && healthy(&r.data)
            }
            _ => false,
        })
    };
    match cause {
        Cause::Tls => reg(r"\SCHANNEL\Protocols\TLS 1.2\Server", "Enabled", &|d| {
            d != "0"
        })
        .then_some("TLS 1.2 is enabled for the server in the exported SCHANNEL keys"),
        Cause::Certificate => events
            .iter()
            .any(|e| match &e.kind {
                EventKind::Acl(a) => {
                    a.path.contains("f686aace6942fb7f7ceb231212eef4a4")
                        && a.identity.to_ascii_uppercase().ends_with("NETWORK SERVICE")
                        && a.access.eq_ignore_ascii_case("Allow")
                        && (a.rights.contains("Read") || a.rights.contains("FullControl"))
                }
                _ => false,
            })
            .then_some("the RDP key file gives NETWORK SERVICE Read"),
        Cause::ServerRefused => reg(r"\WinStations\RDP-Tcp", "fEnableWinStation", &|d| d == "1")
            .then_some("the RDP-Tcp listener is enabled"),
        Cause::RdpWrapper => reg(r"\Services\TermService\Parameters", "ServiceDll", &|d| {
            d.to_ascii_lowercase().ends_with(r"\system32\termsrv.dll")
        })
        .then_some("TermService loads Windows' own termsrv.dll"),
        _ => None,
    }
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.is_char_boundary(s.len() - suffix.len())
        && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RegValue;
    use std::sync::Arc;

    fn reg(key: &str, name: &str, data: &str) -> Event {
        Event {
            file: Arc::from("r.txt"),
            record: 1,
            time: None,
            kind: EventKind::Registry(Box::new(RegValue {
                key: key.into(),
                name: name.into(),
                value_type: "REG_DWORD".into(),
                data: data.into(),
                computer: "RDS01".into(),
            })),
        }
    }

    #[test]
    fn configuration_corroborates_caps_and_counts_against() {
        let both = BTreeSet::from([Source::Evtx, Source::Registry]);
        let a = adjust(Cause::Tls, Confidence::Medium, &both, true, &[]);
        assert_eq!(a.confidence, Confidence::High);
        assert!(a.note.unwrap().contains("registry"));
        // Not near a 0x904: no corroboration.
        let a = adjust(Cause::Tls, Confidence::Low, &both, false, &[]);
        assert_eq!(a.confidence, Confidence::Low);
        // Configuration alone never passes medium.
        let only = BTreeSet::from([Source::Registry, Source::Acl]);
        let a = adjust(Cause::Tls, Confidence::High, &only, false, &[]);
        assert_eq!(a.confidence, Confidence::Medium);
        // Healthy TLS settings count against a TLS cause seen in events only.
        let healthy = [reg(
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server",
            "Enabled",
            "1",
        )];
        let events = BTreeSet::from([Source::Evtx]);
        let a = adjust(Cause::Tls, Confidence::Medium, &events, true, &healthy);
        assert_eq!(a.confidence, Confidence::Low);
        assert!(a.note.unwrap().contains("counts against"));
        let a = adjust(Cause::Tls, Confidence::High, &events, true, &healthy);
        assert_eq!(a.confidence, Confidence::High);
        let a = adjust(Cause::Network, Confidence::Medium, &events, true, &healthy);
        assert_eq!((a.confidence, a.note), (Confidence::Medium, None));
    }
}
