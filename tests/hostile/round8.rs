//! Hostile input, round eight: work that grew faster than the input. A Procmon row or an event
//! with a hundred thousand named fields (JSON output compared each name with every earlier
//! one).
//! Inputs are built here, small, in a temporary folder; every command has a time limit.

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

fn rdtriage(threads: &str) -> Command {
    let mut cmd = Command::cargo_bin("rdtriage").unwrap();
    cmd.env_clear()
        .env("NO_COLOR", "1")
        .args(["--threads", threads])
        .timeout(Duration::from_secs(120));
    cmd
}

/// `dump` of `path` on `threads` threads: one JSON object per event.
fn dump(path: &Path, threads: &str) -> Vec<Value> {
    let out = rdtriage(threads).arg("dump").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// JSON output of an event with many fields

/// A Procmon CSV row whose Detail holds 60,000 pairs whose names repeat in three cases: each
/// name is numbered after the earlier ones that equal it ignoring ASCII case, as before, and
/// the object holds every pair (the numbering once compared each name with every earlier one:
/// 100,000 pairs took 38 s).
#[test]
fn an_event_with_many_fields_numbers_repeated_names_in_one_pass() {
    const PAIRS: usize = 60_000;
    let names = ["Key", "KEY", "key", "Other"];
    let detail: Vec<String> = (0..PAIRS)
        .map(|i| format!("{}: v{i}", names[i % names.len()]))
        .collect();
    let csv = format!(
        "\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n\"10:00:00.0000000 AM\",\"notepad.exe\",\"5120\",\"ReadFile\",\"C:\\\\f.txt\",\"SUCCESS\",\"{}\"\r\n",
        detail.join(", ")
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Logfile.CSV");
    std::fs::write(&path, csv).unwrap();
    let events = dump(&path, "2");
    assert_eq!(events.len(), 1);
    let fields = events[0]["detail"]
        .as_object()
        .expect("detail is an object");
    assert_eq!(fields.len(), PAIRS, "every pair, under a name of its own");
    // Key, KEY, key: one name ignoring case, numbered in input order; Other apart.
    assert_eq!(fields["Key"], "v0");
    assert_eq!(fields["KEY#2"], "v1");
    assert_eq!(fields["key#3"], "v2");
    assert_eq!(fields["Other"], "v3");
    assert_eq!(fields["Key#4"], "v4");
    let last_key = PAIRS - 2; // "key", the 3 * (PAIRS / 4)th of its name
    assert_eq!(
        fields[&format!("key#{}", 3 * PAIRS / 4)],
        format!("v{last_key}")
    );
    assert_eq!(
        fields[&format!("Other#{}", PAIRS / 4)],
        format!("v{}", PAIRS - 1)
    );
    // Keys in input order.
    let keys: Vec<&String> = fields.keys().take(5).collect();
    assert_eq!(keys, ["Key", "KEY#2", "key#3", "Other", "Key#4"]);
}
