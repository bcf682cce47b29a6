//! TSS / MSRD-Collect bundles end to end: bundles built by `support/tss_writer` from the
//! collectors' documented layouts, scanned by the binary; the expected cause for each scenario,
//! honest accounts for the files rdtriage does not read, and golden output.
//!
//! Golden files: `tests/golden/tss-*.scan.txt`; rewrite them with
//! `RDTRIAGE_BLESS=1 cargo test --release --test all tss::` after an intended change and review the diff.

use crate::support;

use std::path::{Path, PathBuf};

use rdtriage::report::schema::{Confidence, ScanReport};

use support::tss_writer::{
    Ace, Bundle, Cert, HEALTHY_CERT, Layout, RegData, healthy_server_config,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run the binary in `dir` with a scrubbed environment (paths stay relative: same bytes on
/// every machine).
fn rdtriage(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<u8>) {
    let out = crate::common::run_in(dir, args);
    (out.status.code(), out.stdout)
}

fn scan(dir: &Path, paths: &[&str]) -> (Option<i32>, ScanReport) {
    let mut args = vec!["scan", "--format", "json"];
    args.extend_from_slice(paths);
    let (code, out) = rdtriage(dir, &args);
    let report = serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
    (code, report)
}

fn golden(name: &str, dir: &Path, paths: &[&str]) {
    let mut args = vec!["scan"];
    args.extend_from_slice(paths);
    let (_, out) = rdtriage(dir, &args);
    let path = root().join("tests/golden").join(format!("{name}.scan.txt"));
    if std::env::var("RDTRIAGE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &out).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with RDTRIAGE_BLESS=1)", path.display()));
    assert!(
        want == out,
        "{name}: output differs from {}:\n{}",
        path.display(),
        String::from_utf8_lossy(&out)
    );
}

/// The client side of every ticket: WS-ALICE's RDPClient log with a morning session and two
/// 0x904 disconnects from RDS01 at 09:14 (the certificate ticket's client log).
fn client_bundle() -> Bundle {
    let text = std::fs::read_to_string(
        root().join("fixtures/scenarios/certificate/client/RDPClient.scenario"),
    )
    .unwrap();
    let mut b = Bundle::new(Layout::Msrd, "WS-ALICE");
    b.evtx("RDPClient-Operational", &text);
    b
}

/// RDS01's System log: background service noise, plus `extra` lines (scenario syntax).
fn server_system(extra: &str) -> String {
    format!(
        r#"output   System.evtx
channel  System
computer RDS01.contoso.com
start    2024-03-05T06:00:00Z
record   48211
seed     5
provider "Service Control Manager" guid={{555908d1-a6d7-4695-8e1e-26931d2012f4}}
         source="Service Control Manager" qualifiers=16384 level=4 keywords=0x8080000000000000 pid=688 tid=900
provider Microsoft-Windows-TerminalServices-RemoteConnectionManager guid={{C76BAA63-AE81-421C-B425-340B4B24157F}}
         source=TermService qualifiers=49152 level=2 keywords=0x80000000000000 pid=0 tid=0
provider Schannel guid={{1f678132-5938-4686-9fdc-c8ff68f15c85}} level=2 keywords=0x8000000000000000
         pid=684 tid=901 user=S-1-5-18
06:00:00 repeat 6 every 20m 7036 provider="Service Control Manager"
         param1="Windows Modules Installer" param2=running
{extra}
"#
    )
}

/// Write the client bundle and a server bundle into a fresh temp dir.
fn ticket(server: &Bundle) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    client_bundle().write_to(dir.path());
    server.write_to(dir.path());
    dir
}

fn server(layout: Layout, system_extra: &str) -> Bundle {
    let mut b = Bundle::new(layout, "RDS01");
    b.evtx("System", &server_system(system_extra));
    healthy_server_config(&mut b);
    b.side_files();
    b
}

fn cause<'r>(r: &'r ScanReport, name: &str) -> Option<&'r rdtriage::report::schema::CauseOut> {
    r.causes.iter().find(|c| c.cause == name)
}

/// A healthy bundle: everything read, no cause above low. Its client log's 0x904s are
/// explained by nothing read and it holds no session host's log (RCM/LSM), so the verdict is
/// insufficient evidence (exit 4), asking for the server's logs, not "clean".
#[test]
fn healthy_bundle_reads_everything_and_reports_no_cause_above_low() {
    let b = server(Layout::Tss, "");
    let dir = ticket(&b);
    let (code, r) = scan(dir.path(), &["."]);
    assert_eq!(code, Some(4), "{} {:#?}", r.verdict, r.inputs);
    assert!(
        r.verdict
            .starts_with("Insufficient evidence: 2 0x904 disconnects"),
        "{}",
        r.verdict
    );
    for i in &r.inputs {
        assert!(
            !matches!(
                i.status,
                rdtriage::model::FileStatus::Failed | rdtriage::model::FileStatus::Partial
            ),
            "{}: {:?} {:?}",
            i.file,
            i.status,
            i.problem_texts()
        );
    }
    // Every side file is accounted for as present, not analysed, saying what opens it.
    for side in [
        ".etl",
        ".cab",
        "MSRD-Diag.html",
        "xray_report.xml",
        "-System.csv",
    ] {
        let i = r
            .inputs
            .iter()
            .find(|i| i.file.ends_with(side))
            .unwrap_or_else(|| panic!("{side} not accounted for"));
        assert!(
            i.problem_texts()
                .iter()
                .any(|p| p.starts_with("present, not analysed")),
            "{side}: {:?}",
            i.problem_texts()
        );
    }
    let mta = r.inputs.iter().find(|i| i.file.ends_with(".MTA")).unwrap();
    assert!(mta.problem_texts()[0].starts_with("note: event-log locale metadata"));
    // The registry exports and the ACL dump are read.
    let reg = r
        .inputs
        .iter()
        .find(|i| {
            i.file
                .ends_with("HKLM-System-CCS-Control-TerminalServer.txt")
        })
        .unwrap();
    assert_eq!((reg.events, reg.errors), (8, 0));
    let acl = r
        .inputs
        .iter()
        .find(|i| i.file.ends_with("ACL-MachineKeys.txt"))
        .unwrap();
    assert_eq!((acl.events, acl.errors), (5, 0));
    // The netstat listing is read: TermService's own listener, no finding.
    let netstat = r
        .inputs
        .iter()
        .find(|i| i.file.ends_with("Netstat.txt"))
        .unwrap();
    assert_eq!(
        (netstat.format, netstat.events, netstat.errors),
        (rdtriage::model::FileFormat::NetstatListing, 1, 0),
        "{:?}",
        netstat.problem_texts()
    );
    // The certificate listings are read: the store, then NotAfter and Subject per certificate.
    for (listing, events) in [
        ("Certificates-My.csv", 3),
        ("Certificates-My.txt", 3),
        ("Certificates-RemoteDesktop.txt", 1),
    ] {
        let i = r.inputs.iter().find(|i| i.file.ends_with(listing)).unwrap();
        assert_eq!(
            (i.format, i.events, i.errors),
            (rdtriage::model::FileFormat::CertListing, events, 0),
            "{listing}: {:?}",
            i.problem_texts()
        );
    }
    // The configured certificate is there and valid: nothing against it, and each bundle says
    // which computer it is.
    assert!(cause(&r, "certificate").is_none_or(|c| c.confidence >= Confidence::Low));
    let notes: Vec<String> = r
        .inputs
        .iter()
        .flat_map(|i| i.problem_texts())
        .filter(|p| p.starts_with("note: bundle host"))
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("RDS01 is the computer RDS01.contoso.com")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("WS-ALICE is the computer") && n.contains("client side")),
        "{notes:?}"
    );
    // The client's 0x904s stay unexplained by configuration: nothing above low.
    assert!(
        r.causes.iter().all(|c| c.confidence >= Confidence::Low),
        "{:?}",
        r.causes
            .iter()
            .map(|c| (&c.cause, c.confidence))
            .collect::<Vec<_>>()
    );
    golden("tss-healthy", dir.path(), &["."]);
}

#[test]
fn tls_disabled_in_schannel_corroborates_the_handshake_failures() {
    let mut b = server(
        Layout::Msrd,
        "09:14:02.5519934 36871 provider=Schannel ErrorState=u32:10013\n09:14:20.1339042 36871 provider=Schannel ErrorState=u32:10013",
    );
    b.reg(
        "System-CCS-Control-SecurityProviders",
        &[(
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server",
            vec![("Enabled", RegData::Dword(0)), ("DisabledByDefault", RegData::Dword(1))],
        )],
    );
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let top = &r.causes[0];
    assert_eq!(top.cause, "tls", "{}", r.verdict);
    assert_eq!(top.confidence, Confidence::High);
    assert!(
        top.why.contains("explains the events at the 0x904"),
        "{}",
        top.why
    );
    assert!(top.findings.iter().any(|f| f.source == "registry"));
    assert!(top.findings.iter().any(|f| f.source == "evtx"));
    golden("tss-tls", dir.path(), &["."]);
}

#[test]
fn configuration_alone_is_moderate_at_most() {
    let mut b = Bundle::new(Layout::Msrd, "RDS01");
    b.reg(
        "System-CCS-Control-SecurityProviders",
        &[(
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2\Server",
            vec![("Enabled", RegData::Dword(0))],
        )],
    );
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let tls = cause(&r, "tls").expect("the setting is reported");
    assert!(tls.confidence >= Confidence::Medium, "{:?}", tls.confidence);
}

#[test]
fn rdp_key_without_network_service_read_with_rcm_1058_is_certificate() {
    let mut b = server(
        Layout::Tss,
        r#"09:14:02.5519934 1058 provider=Microsoft-Windows-TerminalServices-RemoteConnectionManager data: ["Access is denied."]"#,
    );
    // Replace the healthy key ACL: NETWORK SERVICE lost its entry.
    b.machinekeys_acl(
        &[Ace::allow(r"BUILTIN\Administrators", "FullControl")],
        &[
            Ace::allow(r"NT AUTHORITY\SYSTEM", "FullControl"),
            Ace::allow(r"BUILTIN\Administrators", "FullControl"),
        ],
    );
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let top = &r.causes[0];
    assert_eq!(top.cause, "certificate", "{}", r.verdict);
    assert_eq!(top.confidence, Confidence::High);
    let acl = top
        .findings
        .iter()
        .find(|f| f.rule == "cfg-rdp-key-no-read-for-network-service")
        .expect("the ACL finding");
    assert_eq!(acl.source, "acl");
    assert!(acl.evidence.contains("RDS01"), "{}", acl.evidence);
    golden("tss-key-acl", dir.path(), &["."]);
}

#[test]
/// A crash of Remote Desktop Services next to the 0x904s is the server going down, the top
/// cause; the listener's replaced protocol (a lasting setting) is still a refusal cause.
fn listener_replaced_is_server_refused_and_service_crash_is_server_down() {
    let mut b = server(
        Layout::Msrd,
        r#"09:13:58 7031 provider="Service Control Manager" param1="Remote Desktop Services" param2=1 param3=60000 param4=1 param5="Restart the service""#,
    );
    b.reg(
        "System-CCS-Control-TerminalServer",
        &[(
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp",
            vec![
                ("LoadableProtocol_Object", RegData::Sz("{D20C2B8C-5AB8-4F1A-9C7D-D1A6C5A5B0B8}".into())),
                ("CitrixBackupRdpTcpLoadableProtocolObject", RegData::Sz("{5828227c-20cf-4408-b73f-73ab70b8849f}".into())),
            ],
        )],
    );
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let rules_of = |name: &str| -> Vec<String> {
        cause(&r, name)
            .map(|c| c.findings.iter().map(|f| f.rule.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(r.causes[0].cause, "server-down", "{}", r.verdict);
    assert_eq!(r.causes[0].confidence, Confidence::High, "{}", r.verdict);
    assert!(
        rules_of("server-down").contains(&"svc-rds-service-failed".to_string()),
        "{:?}",
        rules_of("server-down")
    );
    assert!(
        rules_of("server-refused").contains(&"cfg-listener-protocol-replaced".to_string()),
        "{:?}",
        rules_of("server-refused")
    );
    golden("tss-listener", dir.path(), &["."]);
}

/// MSRD-Collect's netstat listing shows another program (a remote-access proxy) listening on
/// TCP 3389 beside nothing of TermService's: the listener cannot have its port, a refusal
/// cause, moderate from configuration alone; TermService on its own port is no finding.
/// A netstat socket that is not the RDP port's: RPC's endpoint mapper.
const RPC_LISTENER: (&str, &str, &str, u32, &str, &str) = (
    "0.0.0.0:135",
    "0.0.0.0:0",
    "LISTENING",
    1012,
    "RpcSs",
    "svchost.exe",
);

#[test]
fn another_program_on_the_rdp_port_is_a_refusal_cause() {
    let mut b = server(Layout::Msrd, "");
    b.netstat(&[
        RPC_LISTENER,
        (
            "0.0.0.0:3389",
            "0.0.0.0:0",
            "LISTENING",
            2208,
            "",
            "rdpproxy.exe",
        ),
        ("[::]:3389", "[::]:0", "LISTENING", 2208, "", "rdpproxy.exe"),
    ]);
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let refused = cause(&r, "server-refused").unwrap_or_else(|| panic!("{}", r.verdict));
    let held: Vec<&str> = refused
        .findings
        .iter()
        .filter(|f| f.rule == "cfg-rdp-port-held")
        .map(|f| f.evidence.as_str())
        .collect();
    assert_eq!(
        held,
        [
            "netstat on RDS01.contoso.com: TCP 0.0.0.0:3389 LISTENING is held by rdpproxy.exe (pid 2208)",
            "netstat on RDS01.contoso.com: TCP [::]:3389 LISTENING is held by rdpproxy.exe (pid 2208)",
        ],
        "{:#?}",
        refused.findings
    );
    assert_eq!(refused.findings[0].source, "netstat");
    assert!(
        refused.confidence >= Confidence::Medium,
        "{:?}",
        refused.confidence
    );
    assert!(
        refused.remediation.contains("3389"),
        "{}",
        refused.remediation
    );
}

/// A registry export and a netstat listing sent on their own, outside any bundle: no folder
/// names their computer, so the evidence names none (not "on -"), and a socket whose owner
/// is a program with no service names no service.
#[test]
fn configuration_outside_a_bundle_names_no_computer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reg = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp]\r\n\"fEnableWinStation\"=dword:00000000\r\n\r\n";
    std::fs::write(d.join("rdp-tcp.reg"), support::tss_writer::utf16le_bom(reg)).unwrap();
    let listing = "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n  TCP    0.0.0.0:3389           0.0.0.0:0              LISTENING       2208\r\n [rdpproxy.exe]\r\n";
    std::fs::write(d.join("netstat.txt"), listing).unwrap();
    let (_, r) = scan(d, &["."]);
    let refused = cause(&r, "server-refused").unwrap_or_else(|| panic!("{}", r.verdict));
    let mut evidence: Vec<&str> = refused
        .findings
        .iter()
        .map(|f| f.evidence.as_str())
        .collect();
    evidence.sort_unstable();
    assert_eq!(
        evidence,
        [
            "netstat: TCP 0.0.0.0:3389 LISTENING is held by rdpproxy.exe (pid 2208)",
            "registry: HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp fEnableWinStation = 0",
        ],
        "{:#?}",
        r.inputs
    );
}

/// A bundle with no registry export whose netstat listing shows TermService itself on the RDP
/// port: the listener was up when the bundle was taken, which counts against a refusal seen
/// only in the server's events; the same bundle whose listing has no such socket does not.
#[test]
fn termservice_listening_counts_against_a_refusal() {
    let bundle = |listener: bool| {
        let mut b = Bundle::new(Layout::Msrd, "RDS01");
        b.evtx(
            "System",
            &server_system(
                "09:14:02.5519934 260 provider=Microsoft-Windows-TerminalServices-RemoteConnectionManager",
            ),
        );
        b.side_files();
        if !listener {
            b.netstat(&[RPC_LISTENER]);
        }
        b
    };
    let refused = |listener: bool| {
        let dir = ticket(&bundle(listener));
        let (_, r) = scan(dir.path(), &["."]);
        cause(&r, "server-refused")
            .unwrap_or_else(|| panic!("{}", r.verdict))
            .clone()
    };
    let without = refused(false);
    let with = refused(true);
    assert_eq!(
        (without.confidence, with.confidence),
        (Confidence::Medium, Confidence::Low),
        "{}",
        with.why
    );
    assert!(
        with.why.contains(
            "counts against it: TermService (svchost.exe) listens on TCP 0.0.0.0:3389 in the netstat listing"
        ),
        "{}",
        with.why
    );
    assert!(!without.why.contains("counts against"), "{}", without.why);
}

/// The listener up answers only the findings that say it was down: a connection the listener
/// received and the server then dropped (RCM 261 with no 1149) stays a refusal beside it, and
/// so does a cause that holds such a finding beside a listener failure.
#[test]
fn a_listener_up_does_not_answer_a_refusal_after_the_listener() {
    const RCM: &str = "provider=Microsoft-Windows-TerminalServices-RemoteConnectionManager";
    let refused = |system: &str| {
        let mut b = Bundle::new(Layout::Msrd, "RDS01");
        b.evtx("System", &server_system(system));
        b.side_files();
        let dir = ticket(&b);
        let (_, r) = scan(dir.path(), &["."]);
        cause(&r, "server-refused")
            .unwrap_or_else(|| panic!("{}", r.verdict))
            .clone()
    };
    let after_listener = refused(&format!("09:14:02.5519934 261 {RCM}"));
    let both = refused(&format!(
        "09:14:01.5519934 260 {RCM}\n09:14:02.5519934 261 {RCM}"
    ));
    for c in [&after_listener, &both] {
        assert_eq!(c.confidence, Confidence::Medium, "{}", c.why);
        assert!(!c.why.contains("counts against"), "{}", c.why);
    }
}

#[test]
fn rdp_wrapper_service_dll_is_weak() {
    let mut b = server(Layout::Msrd, "");
    b.reg(
        "System-CCS-Svc-TermService",
        &[(
            r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\TermService\Parameters",
            vec![(
                "ServiceDll",
                RegData::ExpandSz(r"C:\Program Files\RDP Wrapper\rdpwrap.dll".into()),
            )],
        )],
    );
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let wrap = cause(&r, "rdp-wrapper").expect("rdpwrap reported");
    assert_eq!(wrap.confidence, Confidence::Low);
    assert!(wrap.findings[0].evidence.contains("rdpwrap.dll"));
}

#[test]
fn a_zipped_bundle_reads_like_the_folder() {
    let b = server(Layout::Tss, "");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("server.zip"), b.zip()).unwrap();
    let (code, r) = scan(dir.path(), &["server.zip"]);
    // Every file read (nothing is exit 3); a bundle of configuration and no event log is
    // insufficient evidence (4): configuration corroborates events, it cannot stand in for them.
    assert_eq!(code, Some(4), "{} {:#?}", r.verdict, r.inputs);
    assert!(r.inputs.iter().all(|i| !matches!(
        i.status,
        rdtriage::model::FileStatus::Failed | rdtriage::model::FileStatus::Partial
    )));
    let reg: u64 = r
        .inputs
        .iter()
        .filter(|i| i.format == rdtriage::model::FileFormat::RegExport)
        .map(|i| i.events)
        .sum();
    assert_eq!(reg, 14);
}

#[test]
fn healthy_configuration_counts_against_a_cause_seen_in_events() {
    // The same Schannel failures, but the bundle's SCHANNEL keys have TLS 1.2 enabled.
    let b = server(
        Layout::Msrd,
        "09:14:02.5519934 36871 provider=Schannel ErrorState=u32:10013\n09:14:20.1339042 36871 provider=Schannel ErrorState=u32:10013",
    );
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let tls = cause(&r, "tls").expect("the events are still reported");
    assert_eq!(tls.confidence, Confidence::Low, "{}", tls.why);
    assert!(
        tls.why
            .contains("counts against it: TLS 1.2 is enabled for the server"),
        "{}",
        tls.why
    );
}

/// What a report concludes, without the file names it read (which differ between copies).
fn conclusions(r: &ScanReport) -> Vec<String> {
    let mut out = vec![r.verdict.clone()];
    out.extend(
        r.disconnects
            .iter()
            .map(|d| format!("{} {}", d.time.as_deref().unwrap_or("-"), d.hex)),
    );
    for c in &r.causes {
        out.push(format!(
            "{} {:?} {} {}",
            c.cause, c.confidence, c.score, c.why
        ));
        out.extend(c.findings.iter().map(|f| f.evidence.clone()));
    }
    out
}

#[test]
fn a_zip_beside_its_extracted_copy_gives_the_zips_report() {
    let b = server(
        Layout::Tss,
        "09:14:02.5519934 36871 provider=Schannel ErrorState=u32:10013",
    );
    let alone = tempfile::tempdir().unwrap();
    client_bundle().write_to(alone.path());
    std::fs::write(alone.path().join("server.zip"), b.zip()).unwrap();
    let (_, zip_only) = scan(alone.path(), &["."]);

    let both = tempfile::tempdir().unwrap();
    client_bundle().write_to(both.path());
    std::fs::write(both.path().join("server.zip"), b.zip()).unwrap();
    b.write_to(both.path());
    // The client folder given a second time, too.
    let (code, r) = scan(both.path(), &[".", "MSRD-Results-WS-ALICE-20240305_091500"]);
    assert_eq!(code, Some(0));
    assert_eq!(conclusions(&r), conclusions(&zip_only));
    let set_aside = r
        .inputs
        .iter()
        .filter(|i| {
            i.problem_texts()
                .iter()
                .any(|p| p.starts_with("duplicate:"))
        })
        .count();
    // Every file of the zip's extracted copy is set aside by content; the client folder named a
    // second time is set aside once, as a folder already read.
    assert_eq!(set_aside, b.files.len() + 1, "{:#?}", r.inputs);
}

#[test]
fn two_overlapping_copies_of_a_log_count_each_record_once() {
    let first = server_system("09:14:02.5519934 36871 provider=Schannel ErrorState=u32:10013");
    // A later export of the same log: the same records and one more.
    let later = server_system(
        "09:14:02.5519934 36871 provider=Schannel ErrorState=u32:10013\n09:14:20.1339042 36871 provider=Schannel ErrorState=u32:10013",
    );
    let mut b = Bundle::new(Layout::Msrd, "RDS01");
    b.evtx("System", &first);
    b.evtx("System-later", &later);
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let tls = cause(&r, "tls").unwrap();
    assert_eq!(
        tls.findings.len() as u64 + tls.more_findings,
        2,
        "{:#?}",
        tls.findings
    );
    // Folders are read in name order: System-later.evtx first, so System.evtx's one
    // matching record is the repeat.
    let system = r
        .inputs
        .iter()
        .find(|i| i.file.ends_with("RDS01_System.evtx"))
        .unwrap();
    assert!(
        system
            .problem_texts()
            .iter()
            .any(|p| p.contains("1 record already read from") && p.contains("System-later.evtx")),
        "{:?}",
        system.problem_texts()
    );
}

/// Hostile collector text: cut UTF-16, the wrong byte order, a continuation that never ends,
/// and an ACL listing cut mid-rule: each is read as far as it goes, with its problems named.
#[test]
fn hostile_reg_exports_and_acl_dumps_are_read_as_far_as_they_go() {
    use support::tss_writer::{reg_export_text, utf16le_bom};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Terminal Server";
    let good = reg_export_text(&[(
        key,
        vec![
            ("fDenyTSConnections", RegData::Dword(1)),
            ("A", RegData::Binary(vec![1; 200])),
        ],
    )]);
    // Cut mid character, mid value.
    let mut cut = utf16le_bom(&good);
    cut.truncate(cut.len() - 101);
    std::fs::write(d.join("cut.reg"), &cut).unwrap();
    // UTF-16BE with its BOM (not what reg writes, still text).
    let mut be = vec![0xFE, 0xFF];
    for u in good.encode_utf16() {
        be.extend_from_slice(&u.to_be_bytes());
    }
    std::fs::write(d.join("be.reg"), &be).unwrap();
    // A continuation that runs to the end of a 2 MB file.
    let mut endless =
        format!("Windows Registry Editor Version 5.00\r\n\r\n[{key}]\r\n\"X\"=hex:00,\\\r\n");
    while endless.len() < 2 << 20 {
        endless.push_str(
            "  00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,\\\r\n",
        );
    }
    std::fs::write(d.join("endless.reg"), endless.as_bytes()).unwrap();
    // An ACL dump cut inside a rule.
    let acl = "\r\nFileSystemRights  : FullControl\r\nAccessControlType : Allow\r\nIdentityReference : NT AUTHORITY\\SYSTEM\r\nIsInherited       : False\r\n\r\nFileSystemRights  : Read\r\nAccessControlTy";
    std::fs::write(d.join("ACL-MachineKeys.txt"), utf16le_bom(acl)).unwrap();

    let (code, out) = rdtriage(d, &["dump", "--summary", "--format", "json", "."]);
    assert_eq!(code, Some(3), "{}", String::from_utf8_lossy(&out));
    let accounts: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let get = |name: &str| {
        accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["file"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    let cut = get("cut.reg");
    assert_eq!(
        (cut["format"].as_str(), cut["status"].as_str()),
        (Some("reg-export"), Some("partial"))
    );
    assert_eq!(cut["events"], 1, "{cut}");
    // The value the cut ran through is named; the one before it is read.
    assert!(cut["problems"].to_string().contains("line 5: "), "{cut}");
    let be = get("be.reg");
    assert_eq!(
        (be["status"].as_str(), be["events"].as_u64()),
        (Some("ok"), Some(2)),
        "{be}"
    );
    let endless = get("endless.reg");
    assert_eq!(endless["status"].as_str(), Some("failed"), "{endless}");
    assert!(
        endless["problems"].to_string().contains("cut short"),
        "{endless}"
    );
    let acl = get("ACL-MachineKeys.txt");
    assert_eq!(
        (
            acl["format"].as_str(),
            acl["events"].as_u64(),
            acl["errors"].as_u64()
        ),
        (Some("acl-dump"), Some(1), Some(2)),
        "{acl}"
    );
}

/// The client's 0x904 at 09:14 with the server failing to use its TLS credential.
const SCHANNEL_36870: &str = "09:14:02.5519934 36870 provider=Schannel Type=server ErrorCode=hex32:0x8009030D ErrorStatus=u32:10001";

#[test]
fn configured_thumbprint_in_no_exported_store_is_certificate_evidence() {
    let mut b = server(Layout::Msrd, SCHANNEL_36870);
    // The stores hold another certificate; RDP-Tcp still names the healthy one.
    b.certificates(
        &[Cert {
            thumbprint: "0123456789ABCDEF0123456789ABCDEF01234567",
            subject: "CN=RDS01.contoso.com",
            not_after: "3/5/2025 9:00:00 AM",
            serial: "77",
        }],
        &[],
    );
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let top = &r.causes[0];
    assert_eq!(top.cause, "certificate", "{}", r.verdict);
    assert_eq!(top.confidence, Confidence::High, "{}", top.why);
    let f = top
        .findings
        .iter()
        .find(|f| f.rule == "cfg-rdp-cert-missing")
        .unwrap_or_else(|| panic!("{:#?}", top.findings));
    assert!(f.evidence.contains("3c1a0f7d2b9e4c6a8d5f1e0b7a6c9d2e4f8b1a3c is in none of the exported stores (My, Remote Desktop)"), "{}", f.evidence);
    // The registry event carries the computer the events name, not the bundle's short name.
    assert!(
        f.evidence.contains("on RDS01.contoso.com"),
        "{}",
        f.evidence
    );
    golden("tss-cert-missing", dir.path(), &["."]);
}

#[test]
fn configured_certificate_expired_before_the_logs_is_certificate_evidence() {
    let mut b = server(Layout::Tss, SCHANNEL_36870);
    b.certificates(
        &[],
        &[Cert {
            not_after: "1/2/2024 9:00:00 AM",
            ..HEALTHY_CERT
        }],
    );
    let dir = ticket(&b);
    let (_, r) = scan(dir.path(), &["."]);
    let cert = cause(&r, "certificate").expect("certificate cause");
    let f = cert
        .findings
        .iter()
        .find(|f| f.rule == "cfg-rdp-cert-expired")
        .unwrap_or_else(|| panic!("{:#?}", cert.findings));
    assert!(
        f.evidence
            .contains("in Remote Desktop expired on 2024-01-02 09:00:00"),
        "{}",
        f.evidence
    );
}

/// Schannel 36886 at the 0x904: no usable default server credential.
const SCHANNEL_36886: &str = "09:14:02.5519934 36886 provider=Schannel";

/// A healthy setting answers the findings it speaks to: the configured certificate present and
/// in date answers Schannel finding no usable credential, not its failing to open the key; the
/// key file readable by NETWORK SERVICE answers that.
#[test]
fn a_valid_configured_certificate_counts_against_the_certificate_cause() {
    let without_acl = |system: &str| {
        let mut b = server(Layout::Msrd, system);
        b.files.retain(|(p, _)| !p.ends_with("ACL-MachineKeys.txt"));
        b
    };
    let why = |b: &Bundle| {
        let dir = ticket(b);
        let (_, r) = scan(dir.path(), &["."]);
        let cert = cause(&r, "certificate").expect("the events are still reported");
        cert.why.clone()
    };
    let valid = "counts against it: the configured RDP certificate is in the exported store: 3c1a0f7d2b9e4c6a8d5f1e0b7a6c9d2e4f8b1a3c (CN=RDS01.contoso.com) in My, valid until 2025-03-05 09:00:00";
    let no_credential = why(&without_acl(SCHANNEL_36886));
    assert!(no_credential.contains(valid), "{no_credential}");
    let key = why(&without_acl(SCHANNEL_36870));
    assert!(!key.contains("counts against"), "{key}");
    let key_readable = why(&server(Layout::Msrd, SCHANNEL_36870));
    assert!(
        key_readable.contains("counts against it: the RDP key file gives NETWORK SERVICE Read"),
        "{key_readable}"
    );
}

#[test]
fn hostile_certificate_listings_are_read_as_far_as_they_go() {
    let mut b = Bundle::new(Layout::Msrd, "RDS01");
    healthy_server_config(&mut b);
    b.certificates(&[HEALTHY_CERT, HEALTHY_CERT], &[HEALTHY_CERT]);
    let dir = tempfile::tempdir().unwrap();
    b.write_to(dir.path());
    let certs = dir.path().join(&b.top).join("RDS01_Certificates");
    // Cut inside the second certificate of the certutil dump (UTF-16: cut on a unit).
    let my_txt = certs.join("RDS01_Certificates-My.txt");
    let bytes = std::fs::read(&my_txt).unwrap();
    let text = String::from_utf16_lossy(
        &bytes[2..]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect::<Vec<_>>(),
    );
    let cut = text.rfind("Cert Hash(sha1)").unwrap();
    std::fs::write(&my_txt, &bytes[..2 + cut * 2]).unwrap();
    // The CSV in Latin-1 with a byte that is not UTF-8 in a subject.
    let csv = certs.join("RDS01_Certificates-My.csv");
    let mut bytes = std::fs::read(&csv).unwrap();
    let at = bytes.windows(2).position(|w| w == b"CN").unwrap();
    bytes.insert(at + 3, 0xE9);
    std::fs::write(&csv, bytes).unwrap();
    let (code, r) = scan(dir.path(), &["."]);
    let acc = |n: &str| r.inputs.iter().find(|i| i.file.ends_with(n)).unwrap();
    let txt = acc("Certificates-My.txt");
    assert_eq!(
        txt.status,
        rdtriage::model::FileStatus::Partial,
        "{:?}",
        txt.problem_texts()
    );
    assert_eq!(
        (txt.events, txt.errors),
        (3, 1),
        "{:?}",
        txt.problem_texts()
    );
    assert!(
        txt.problem_texts()
            .iter()
            .any(|p| p.contains("Cert Hash(sha1)")),
        "{:?}",
        txt.problem_texts()
    );
    let csv = acc("Certificates-My.csv");
    assert_eq!(
        (csv.events, csv.errors),
        (5, 0),
        "{:?}",
        csv.problem_texts()
    );
    assert!(
        csv.problem_texts().iter().any(|p| p.contains("U+FFFD")),
        "{:?}",
        csv.problem_texts()
    );
    assert_eq!(code, Some(3), "a cut listing is a file not read fully");
}

/// Issue 13, item 3: every configuration and service cause the pack adds, each in a bundle of
/// its own beside the same client log, gives its cause with the rule that found it. (TLS
/// disabled, the key ACL, the listener and the missing thumbprint have golden tickets above.)
#[test]
fn each_configuration_cause_is_found_in_a_bundle() {
    struct Case {
        system_extra: &'static str,
        reg: Option<(&'static str, &'static str, &'static str, RegData)>,
        cause: &'static str,
        rule: &'static str,
    }
    let cases = [
        Case {
            system_extra: "provider Tcpip guid={2F07E2EE-15DB-40F1-90EF-9D7BA282188A} source=Tcpip qualifiers=0 level=3 keywords=0x80000000000000 pid=4 tid=100\n09:13:50 4227 provider=Tcpip",
            reg: None,
            cause: "network",
            rule: "net-port-exhaustion",
        },
        Case {
            system_extra: "provider NETLOGON source=NETLOGON qualifiers=0 level=2 keywords=0x80000000000000 pid=0 tid=0\n09:13:40 5719 provider=NETLOGON",
            reg: None,
            cause: "credssp-policy",
            rule: "net-secure-channel-broken",
        },
        Case {
            system_extra: "",
            reg: Some((
                "System-CCS-Control-Lsa",
                r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Lsa\FipsAlgorithmPolicy",
                "Enabled",
                RegData::Dword(1),
            )),
            cause: "tls",
            rule: "cfg-fips-policy",
        },
        Case {
            system_extra: "",
            reg: Some((
                "System-CCS-Control-TerminalServer-Limits",
                r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp",
                "MaxInstanceCount",
                RegData::Dword(2),
            )),
            cause: "server-refused",
            rule: "cfg-connection-limits",
        },
    ];
    for case in cases {
        let mut b = server(Layout::Msrd, case.system_extra);
        if let Some((file, key, name, data)) = case.reg {
            b.reg(file, &[(key, vec![(name, data)])]);
        }
        let dir = ticket(&b);
        let (code, r) = scan(dir.path(), &["."]);
        assert!(
            matches!(code, Some(0)),
            "{}: every file read ({code:?}): {:?}",
            case.rule,
            r.inputs
                .iter()
                .filter(|i| i.status != rdtriage::model::FileStatus::Ok)
                .collect::<Vec<_>>()
        );
        let c = cause(&r, case.cause)
            .unwrap_or_else(|| panic!("{}: no {} cause in {:?}", case.rule, case.cause, r.verdict));
        assert!(
            c.findings.iter().any(|f| f.rule == case.rule),
            "{}: {:?}",
            case.rule,
            c.findings.iter().map(|f| &f.rule).collect::<Vec<_>>()
        );
    }
}
