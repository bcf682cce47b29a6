//! What several rounds build or run alike: the accounts of a `dump --summary` on a thread
//! count, a run's peak RSS, and small registry, ACL and certificate listings.

use serde_json::Value;

use crate::common::rdtriage_threads as rdtriage;

/// `dump --summary --format json ARGS` on `threads` threads: the accounts and the exit code.
pub fn summary_on(args: &[&std::ffi::OsStr], threads: &str) -> (Vec<Value>, Option<i32>) {
    let out = rdtriage(threads)
        .args(["dump", "--summary", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let accounts: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (accounts.as_array().unwrap().clone(), out.status.code())
}

/// Run the built binary on `threads` threads with `args` under `/usr/bin/time`, returning its
/// exit code, stdout and its own peak RSS in KiB (`None` when `/usr/bin/time` is absent: the
/// caller skips the bound visibly). Not `wait4` on a child of this test process: Linux carries
/// the forked copy's peak (this process's, with other tests' buffers) over `exec`.
pub fn peak_rss(threads: &str, args: &[&std::ffi::OsStr]) -> (Option<i32>, Vec<u8>, Option<u64>) {
    let bin = assert_cmd::cargo::cargo_bin("rdtriage");
    let time = std::path::Path::new("/usr/bin/time");
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = if time.is_file() {
        let mut c = std::process::Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(report.path()).arg(&bin);
        c
    } else {
        // In CI the bound must be checked (.ci/run installs `time`); elsewhere the skip shows
        // in `cargo test`'s output (straight to the stream: the harness captures eprintln!).
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but /usr/bin/time is missing: the peak RSS bounds cannot be checked"
        );
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: no /usr/bin/time here, the peak RSS bound is not checked"
        );
        std::process::Command::new(&bin)
    };
    cmd.env_clear()
        .args(["--threads", threads])
        .args(args)
        .stderr(std::process::Stdio::null());
    // The same two-minute bound as every other run: a hostile input that hangs fails its test.
    let out = assert_cmd::Command::from_std(cmd)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let kib = std::fs::read_to_string(report.path())
        .ok()
        .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok()));
    (out.status.code(), out.stdout, kib)
}

/// `text` in UTF-16LE, without a byte-order mark.
pub fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A Process Monitor CSV export's header, of the columns the text-encoding rounds write.
pub const CSV_HEADER: &str =
    "\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n";

pub const REG_HEAD: &str = "Windows Registry Editor Version 5.00\r\n\r\n";

/// A `reg export` key under `Terminal Server` with `n` DWORD values.
pub fn reg_values(key: &str, n: usize) -> String {
    let mut text = format!(
        "[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\{key}]\r\n"
    );
    for i in 0..n {
        text.push_str(&format!("\"Value{i}\"=dword:0000000{}\r\n", i % 10));
    }
    text.push_str("\r\n");
    text
}

/// A `Get-Acl` listing of one folder with `n` access rules.
pub fn acl_rules(path: &str, n: usize) -> String {
    let mut text = format!("Path   : Microsoft.PowerShell.Core\\FileSystem::C:\\{path}\r\n");
    for k in 0..n {
        let lead = if k == 0 { "Access : " } else { "         " };
        text.push_str(&format!("{lead}CONTOSO\\user{k} Allow  Read\r\n"));
    }
    text.push_str("\r\n");
    text
}

pub const CERT_HEAD: &str = "\"Store\"\t\"Thumbprint\"\t\"Subject\"\t\"Issuer\"\t\"NotAfter\"\r\n";

/// Rows `from..from + n` of the collector's certificate list (tab-separated CSV).
pub fn cert_rows(from: u8, n: u8) -> String {
    (from..from + n)
        .map(|k| {
            format!(
                "\"My\"\t\"{}\"\t\"CN=host{k}.contoso.com\"\t\"CN=Contoso CA\"\t\"2030-01-01 00:00:00\"\r\n",
                format!("{k:02x}").repeat(20)
            )
        })
        .collect()
}
