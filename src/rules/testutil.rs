//! Test helpers: small event builders and a varied sample rule file used across the module's
//! tests.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Time;

use super::{RuleSet, load_rules};
use crate::model::{Event, EventKind, Fields, ProcmonRow, RowText, WinEvent};

/// A small reproducible random source for tests that compare a fast path with a plain one
/// over many made-up inputs: `next(m)` is in `0..m` (xorshift64 from `seed`, never 0).
pub fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |m| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    }
}

/// Every rule example of `set` passes; otherwise the failures, one per line.
pub fn assert_examples_pass(set: &RuleSet) {
    let failures = set.check_examples();
    assert!(
        failures.is_empty(),
        "{}",
        failures
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// 2024-01-01T00:00:00Z plus `secs`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_704_067_200 + secs).expect("in range")
}

pub fn win(provider: &str, id: u32, data: &[(&str, &str)], time: Option<Timestamp>) -> Event {
    let mut fields = Fields::default();
    for (k, v) in data {
        fields.push(*k, *v);
    }
    Event {
        file: Arc::from("System.evtx"),
        record: u64::from(id),
        time,
        kind: EventKind::Win(std::sync::Arc::new(WinEvent {
            provider: provider.into(),
            event_id: id,
            computer: "srv01".into(),
            data: fields,
            ..WinEvent::default()
        })),
        marks: Default::default(),
    }
}

pub fn procmon(
    record: u64,
    process: &str,
    operation: &str,
    path: &str,
    result: &str,
    detail: &str,
    tod: Option<&str>,
) -> Event {
    Event {
        file: Arc::from("trace.csv"),
        record,
        time: None,
        kind: EventKind::Procmon(Box::new(ProcmonRow {
            time_of_day: tod.map(|t| t.parse::<Time>().expect("time")),
            process: process.into(),
            pid: Some(4242),
            operation: operation.into(),
            result: result.into(),
            text: RowText::with_network(path, detail),
            ..ProcmonRow::default()
        })),
        marks: Default::default(),
    }
}

pub fn load(text: &str) -> RuleSet {
    match load_rules(&[("test.rdt", text)]) {
        Ok(set) => set,
        Err(e) => panic!("rules did not load:\n{e}"),
    }
}

/// The error text (first error, headline only) of rule text that must not load.
pub fn load_err(text: &str) -> super::RuleError {
    match load_rules(&[("test.rdt", text)]) {
        Ok(_) => panic!("rules loaded but should not:\n{text}"),
        Err(e) => e.0.into_iter().next().expect("at least one error"),
    }
}

/// Wrap a condition into a loadable cause rule with trivially satisfiable examples replaced by
/// the given ones.
pub fn rule_with(when: &str, extra: &str, examples: &str) -> String {
    format!(
        "rule t {{\n    title: \"t\"\n    cause: tls\n    strength: weak\n    when: {when}\n{extra}\n    evidence: \"e {{event_id}}\"\n    remediation: \"r\"\n{examples}\n}}\n"
    )
}

/// Every construct of the language at least once.
pub const SAMPLE: &str = r##"
# A varied rule file: every construct at least once.
rule anchor-0x904 {
    title: "RDP client disconnected with 0x904"
    kind: anchor
    when: provider == "Microsoft-Windows-TerminalServices-ClientActiveXCore" and event_id == 1026
          and data.Value == 2308   # decimal text compared as a number
    evidence: "0x904 on {computer} (activity {activity_id})"
    example match evtx { provider: "Microsoft-Windows-TerminalServices-ClientActiveXCore", event_id: 1026, data.Value: "2308" }
    example nomatch evtx { provider: "Microsoft-Windows-TerminalServices-ClientActiveXCore", event_id: 1026, data.Value: "516" }
}

rule schannel-fatal-alert {
    title: "Schannel sent a fatal TLS alert"
    cause: tls
    strength: moderate
    when: source == "evtx" and provider == "Schannel" and event_id in (36887, 36888)
          and data.AlertDesc in (40, 70, 71)
    anchor: prefer before 5m after 30s
    evidence: "Schannel {event_id}: alert {data.AlertDesc} on {computer}"
    remediation: """
        Re-enable TLS 1.2 under
          HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols.

        Revert the cipher-suite-order policy.
        """
    references: "https://learn.microsoft.com/troubleshoot/rdp", "https://www.rfc-editor.org/rfc/rfc5246#section-7.2"
    example match evtx { provider: "Schannel", event_id: 36888, data.AlertDesc: "70" }
    example nomatch evtx { provider: "Schannel", event_id: 36888, data.AlertDesc: "10" }
}

rule tcp-reconnects {
    title: "Repeated TCP reconnects to the RDP port"
    cause: network
    strength: moderate
    when: operation == "TCP Reconnect" and process in ("mstsc.exe", "msrdc.exe")
          and remote_port in (3389, 3391, 443)
    aggregate: count >= 3 within 60s by process, pid
    evidence: "{process} ({pid}) reconnects to {remote_host}:{remote_port}"
    remediation: "Check the VPN, the MTU and stateful firewalls between client and server."
    example match [
        procmon { time_of_day: "10:00:00", process: "mstsc.exe", pid: 42, operation: "TCP Reconnect", path: "a:50000 -> b:ms-wbt-server", result: "SUCCESS", detail: "Length: 0" },
        procmon { time_of_day: "10:00:20", process: "mstsc.exe", pid: 42, operation: "TCP Reconnect", path: "a:50000 -> b:ms-wbt-server", result: "SUCCESS" },
        procmon { time_of_day: "10:00:40", process: "MSTSC.EXE", pid: 42, operation: "TCP Reconnect", path: "a:50000 -> b:3389", result: "SUCCESS" },
    ]
    example nomatch [
        procmon { time_of_day: "10:00:00", process: "mstsc.exe", pid: 42, operation: "TCP Reconnect", path: "a:50000 -> b:ms-wbt-server" },
        procmon { time_of_day: "10:00:20", process: "mstsc.exe", pid: 42, operation: "TCP Reconnect", path: "a:50000 -> b:ms-wbt-server" },
        procmon { time_of_day: "10:05:00", process: "mstsc.exe", pid: 42, operation: "TCP Reconnect", path: "a:50000 -> b:ms-wbt-server" },
    ]
}

rule machinekeys-denied {
    title: "TermService cannot read its certificate's private key"
    cause: certificate
    strength: strong
    when: not result == cs "SUCCESS" and path =~ r"\\Crypto\\(RSA\\MachineKeys|Keys)\\"
          and (result startswith "access" or result endswith "not found" or result contains "DENIED")
          and not (process != "svchost.exe" or exists column."Image Path") and has column.User
    evidence: "{process} {operation} {path}: {result} (user {column.User})"
    remediation: "Give NETWORK SERVICE read access to the key in MachineKeys, then restart TermService."
    example match procmon { process: "svchost.exe", operation: "CreateFile", path: r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys\f686aace6942fb7f7ceb231212eef4a4_x", result: "ACCESS DENIED", column.User: "NT AUTHORITY\\NETWORK SERVICE" }
    example nomatch procmon { process: "svchost.exe", operation: "CreateFile", path: r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys\f686", result: "SUCCESS", column.User: "x" }
}

rule client-226-reset {
    title: "The client saw the connection reset"
    cause: network
    strength: strong
    when: event_id == 226 and data."Error Code" in (0x80072746, 0x80072745) and qualifiers <= 0xFFFF
          or event_id == 226 and data["Error Code"] == 2147952454
    anchor: require within 2m
    evidence: "226 {data.Error Code} ({data.StateTransitionName}) at {time}"
    remediation: "Look for what resets TCP between client and server."
    example match [
        evtx { time: +0s, event_id: 226, qualifiers: 0, data."Error Code": 0x80072746 },
        anchor evtx { time: "2024-01-01T00:00:10Z", event_id: 1026, data.Value: "2308" },
    ]
    example nomatch [
        evtx { time: -10m, event_id: 226, data."Error Code": "-2147014842" },
        anchor evtx { time: +10s, event_id: 1026, data.Value: "2308" },
    ]
}

rule disconnect-other {
    title: "The client disconnected with another code"
    kind: disconnect-code
    when: event_id == 1026 and data.Value != 2308 and exists data.Value
          and time >= "2000-01-01T00:00:00Z" and record > 0 and file endswith "evtx"
    evidence: "disconnect reason {data.Value}"
    example match evtx { time: "2024-05-01T10:00:00Z", file: "c.evtx", record: 5, event_id: 1026, data.Value: 516 }
    example nomatch evtx { time: "2024-05-01T10:00:00Z", file: "c.evtx", record: 5, event_id: 1026, data.Value: 2308 }
}
"##;
