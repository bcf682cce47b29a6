//! Hostile input, round four: what a red-team pass over the limits, the zip reader and the
//! PML header found (session 30), each as a user meets it through the binary. Inputs are built
//! here, in a temporary folder; every command has a time limit.

use std::time::Duration;

use assert_cmd::Command;

fn rdtriage() -> Command {
    let mut cmd = super::rdtriage();
    cmd.timeout(Duration::from_secs(120));
    cmd
}

/// One RDPClient event of an event-log XML export.
fn client_event(id: u32, record: u32, second: u32, data: &str) -> String {
    format!(
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
         <Provider Name='Microsoft-Windows-TerminalServices-ClientActiveXCore'/><EventID>{id}</EventID>\
         <TimeCreated SystemTime='2024-03-05T09:{:02}:{:02}.0000000Z'/><EventRecordID>{record}</EventRecordID>\
         <Correlation ActivityID='{{7F1B2C3D-0000-4000-8000-000000000001}}'/>\
         <Channel>Microsoft-Windows-TerminalServices-RDPClient/Operational</Channel>\
         <Computer>WS01</Computer></System><EventData>{data}</EventData></Event>",
        second / 60 % 60,
        second % 60
    )
}

/// A server name of a megabyte in one connection's start, and 300 disconnects of that
/// connection: each disconnect named the server whole, so the JSON report grew to hundreds of
/// megabytes and the run to gigabytes. A name is cut like an evidence field (its start and
/// end, and how much was left out), once per disconnect.
#[test]
fn a_huge_server_name_is_not_copied_whole_into_every_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("rds01{}.contoso.com", "x".repeat(1 << 20));
    let mut xml = String::from("<Events>");
    xml.push_str(&client_event(
        1024,
        1,
        0,
        &format!("<Data Name='Value'>{name}</Data>"),
    ));
    for k in 0..300 {
        xml.push_str(&client_event(
            1026,
            2 + k,
            1 + k,
            "<Data Name='Value'>2308</Data>",
        ));
    }
    xml.push_str("</Events>");
    let file = dir.path().join("RDPClient.xml");
    std::fs::write(&file, xml).unwrap();
    let out = rdtriage()
        .args(["scan", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.code().is_some(), "{out:?}");
    assert!(
        out.stdout.len() < 32 << 20,
        "{} bytes of JSON",
        out.stdout.len()
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let disconnects = json["disconnects"].as_array().unwrap();
    assert_eq!(disconnects.len(), 300);
    for d in disconnects {
        let server = d["server"].as_str().unwrap();
        assert!(server.chars().count() < 9000, "{} characters", server.len());
        assert!(server.starts_with("rds01xxx"), "{}", &server[..20]);
        assert!(server.ends_with("xxx.contoso.com"));
        assert!(server.contains("characters left out"));
    }
}
