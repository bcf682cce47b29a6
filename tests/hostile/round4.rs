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

/// A Procmon CSV of `rows` harmless rows.
fn csv(rows: usize) -> Vec<u8> {
    let mut text = super::round2::HEADER.to_string();
    for i in 0..rows {
        text.push_str(&super::round2::row(i));
    }
    text.into_bytes()
}

/// The accounts `dump --summary` gives `path`, as (file, status, events).
fn accounts(path: &std::path::Path) -> Vec<(String, String, u64)> {
    let out = rdtriage()
        .args(["dump", "--summary"])
        .arg(path)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["file"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
                a["events"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// A zip whose end record declares one entry while its directory lists two: the zip crate
/// reads as many as declared, and the second file was neither read nor named. Every record
/// of the directory is read.
#[test]
fn entries_past_the_count_the_end_record_declares_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (csv(3), csv(5));
    let mut zip = super::round2::raw_zip(&[("a.csv", &a), ("b.csv", &b)]);
    let eocd = zip.len() - 22;
    for field in [eocd + 8, eocd + 10] {
        zip[field..field + 2].copy_from_slice(&1u16.to_le_bytes());
    }
    let path = dir.path().join("ticket.zip");
    std::fs::write(&path, zip).unwrap();
    let found = accounts(&path);
    let name = |n: &str| format!("{}!/{n}", path.display());
    assert_eq!(
        found,
        vec![
            (name("a.csv"), "ok".to_string(), 3),
            (name("b.csv"), "ok".to_string(), 5)
        ]
    );
}

/// A file entry the central directory does not list at all (a directory rewritten without
/// it, or crafted to hide it) was ignored without a word. It is named, not read: its own
/// account says where it lies and why. A zip written as a stream (sizes in descriptors after
/// the data) and a stored zip inside a zip hold no such entry.
#[test]
fn a_file_entry_the_directory_does_not_list_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (csv(3), csv(5));
    let both = super::round2::raw_zip(&[("a.csv", &a), ("b.csv", &b)]);
    let one = super::round2::raw_zip(&[("a.csv", &a)]);
    // The local entries of both, the directory (and end record) of the first alone.
    let locals = both.len() - (one.len() - (30 + 5 + a.len()));
    let b_at = 30 + 5 + a.len();
    let mut zip = both[..locals].to_vec();
    zip.extend_from_slice(&one[b_at..]);
    let eocd = zip.len() - 22;
    zip[eocd + 16..eocd + 20].copy_from_slice(&(locals as u32).to_le_bytes());
    let path = dir.path().join("ticket.zip");
    std::fs::write(&path, &zip).unwrap();
    let out = rdtriage()
        .args(["dump", "--summary"])
        .arg(&path)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|x| x["file"] == format!("{}!/{n}", path.display()))
            .cloned()
            .unwrap_or_else(|| panic!("{n}: {json:#}"))
    };
    assert_eq!(by_name("a.csv")["events"], 3);
    let hidden = by_name("b.csv");
    assert_eq!(hidden["status"], "failed");
    let why = hidden["problems"][0].as_str().unwrap();
    assert!(
        why.contains(&format!("at byte {b_at}")) && why.contains("does not list"),
        "{why}"
    );
    // A zip of a stored zip: the inner one's entries lie inside the outer one's entry.
    let nested = super::round2::raw_zip(&[("inner.zip", &both), ("c.csv", &csv(4))]);
    let path = dir.path().join("nested.zip");
    std::fs::write(&path, &nested).unwrap();
    let found = accounts(&path);
    assert!(
        found.iter().all(|(_, status, _)| status == "ok"),
        "{found:?}"
    );
    assert_eq!(found.len(), 3, "{found:?}");
}
