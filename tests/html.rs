//! The HTML report: golden pages for two scenario tickets, log text kept inert, and the pages
//! as a real browser (headless Chromium) builds them, with screenshots kept under
//! `target/html-screenshots/` for people to look at.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command as Cmd;
use rdtriage::report::schema::ScanReport;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The report of `path` as HTML and as JSON (the same analysis).
fn reports(path: &str) -> (String, ScanReport) {
    let run = |format: &str| {
        let out = Cmd::cargo_bin("rdtriage")
            .unwrap()
            .env_clear()
            .current_dir(root())
            .args(["--threads", "2", "scan", "--format", format, path])
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let html = String::from_utf8(run("html")).unwrap();
    let report: ScanReport = serde_json::from_slice(&run("json")).unwrap();
    (html, report)
}

fn golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var("RDTRIAGE_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; create it with RDTRIAGE_BLESS=1 cargo test --release --test all html::",
            path.display()
        )
    });
    if expected != actual {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .unwrap_or(0);
        panic!(
            "{name} differs from its golden file at line {}:\n  got:      {:?}\n  expected: {:?}\n(RDTRIAGE_BLESS=1 cargo test --release --test all html:: rewrites it; review the diff)",
            line + 1,
            actual.lines().nth(line),
            expected.lines().nth(line)
        );
    }
}

#[test]
fn golden_html_for_two_scenario_tickets() {
    for ticket in ["certificate", "network"] {
        let (html, report) = reports(&format!("fixtures/tickets/{ticket}"));
        golden(&format!("{ticket}.scan.html"), &html);
        let anchors = report.disconnects.iter().filter(|d| d.is_0x904).count();
        assert!(anchors > 0, "{ticket} has a 0x904");
        assert_eq!(html.matches("<svg class=\"swimlanes\"").count(), anchors);
        // The verdict comes before everything else in the body.
        let body = &html[html.find("<body>").unwrap()..];
        assert!(
            body.find("id=\"verdict\"").unwrap() < body.find("id=\"causes\"").unwrap(),
            "verdict first"
        );
    }
}

/// A server whose events were moved onto the client's clock is named with the accounts, as
/// in the table and Markdown: the times on the page are the client's.
#[test]
fn a_clock_moved_onto_the_client_s_is_named() {
    let (html, report) = reports("fixtures/tickets/clock-skew");
    let moved: Vec<_> = report.clocks.iter().filter(|c| c.applied).collect();
    assert_eq!(moved.len(), 1);
    assert!(
        html.contains("<p class=\"clock\"><strong>Clock:</strong> RDS01.contoso.com&#39;s clock is 180050 ms ahead"),
        "{html}"
    );
}

/// The page carries a CSP that allows no script, no request and only its own style, whose
/// hash matches the style it holds; the embedded JSON is the report.
#[test]
fn the_page_is_offline_and_its_json_is_the_report() {
    let (html, report) = reports("fixtures/tickets/certificate");
    let csp = html
        .split("http-equiv=\"Content-Security-Policy\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'none'"), "{csp}");
    assert!(
        csp.contains(&format!(
            "style-src '{}'",
            rdtriage::report::html::style_hash()
        )),
        "{csp}"
    );
    let style = html
        .split("<style>")
        .nth(1)
        .and_then(|s| s.split("</style>").next())
        .unwrap();
    assert!(!style.contains("url("), "no external resource in the style");
    assert!(!html.contains("src="), "no element loads anything");
    let json = html
        .split("<script type=\"application/json\" id=\"report-json\">")
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .unwrap();
    let embedded: ScanReport = serde_json::from_str(json).unwrap();
    assert_eq!(embedded, report);
}

/// Log text that tries to open elements, scripts, links or attributes stays text.
#[test]
fn hostile_log_text_stays_text() {
    let (html, report) = reports("fixtures/hostile/escapes");
    assert_eq!(html.matches("<script").count(), 1, "only the JSON block");
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<b>"));
    assert!(!html.contains('\u{1b}'));
    assert!(!html.contains('\u{202e}'));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // Every listed finding is one evidence item.
    let findings: usize = report.causes.iter().map(|c| c.findings.len()).sum();
    assert_eq!(html.matches("<li class=\"evidence ").count(), findings);
    // The JSON block cannot be closed from inside.
    let json = html
        .split("id=\"report-json\">")
        .nth(1)
        .and_then(|s| s.split("</script>").next())
        .unwrap();
    assert!(!json.contains('<'));
}

/// Where Chromium is, or `None` (visibly) when it is not installed; CI must have it.
fn chromium() -> Option<PathBuf> {
    let candidates = ["chromium", "chromium-browser", "google-chrome"];
    for dir in ["/usr/bin", "/usr/local/bin", "/snap/bin"] {
        for name in candidates {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but no Chromium: .ci/run installs the Debian package 'chromium'");
    }
    // Written to the stream itself, not through the test harness's capture, so that the
    // skip shows in `cargo test` output.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: headless Chromium not installed (apt-get install chromium); the HTML browser test runs in CI"
    );
    None
}

/// Run headless Chromium on `page` with `args`, killing it if it hangs; its stdout.
fn browse(browser: &Path, profile: &Path, args: &[String], page: &Path) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1100,1700",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish with {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

#[test]
fn chromium_builds_the_pages_as_written() {
    let Some(browser) = chromium() else {
        return;
    };
    let shots = root().join("target/html-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (name, path) in [
        ("certificate", "fixtures/tickets/certificate"),
        ("network", "fixtures/tickets/network"),
        ("hostile-escapes", "fixtures/hostile/escapes"),
    ] {
        let (html, report) = reports(path);
        let page = tmp.path().join(format!("{name}.html"));
        std::fs::write(&page, &html).unwrap();
        let profile = tmp.path().join(format!("profile-{name}"));
        let dom = browse(&browser, &profile, &["--dump-dom".into()], &page);
        assert!(
            dom.contains("id=\"verdict\""),
            "{name}: no verdict in\n{dom}"
        );
        let verdict = rdtriage::sanitize::html(&report.verdict);
        assert!(dom.contains(&verdict), "{name}: verdict {verdict:?}");
        let anchors = report.disconnects.iter().filter(|d| d.is_0x904).count();
        assert_eq!(
            dom.matches("<svg class=\"swimlanes\"").count(),
            anchors,
            "{name}: one SVG per 0x904"
        );
        let findings: usize = report.causes.iter().map(|c| c.findings.len()).sum();
        assert_eq!(
            dom.matches("<li class=\"evidence ").count(),
            findings,
            "{name}: evidence count"
        );
        // Nothing from the logs became an element: one script (the JSON block), no image,
        // link, iframe or bold text, and the hostile strings are there as text.
        assert_eq!(dom.matches("<script").count(), 1, "{name}");
        for tag in ["<img", "<a ", "<iframe", "<b>", "<object", "<embed"] {
            assert!(!dom.contains(tag), "{name}: {tag} in the DOM");
        }
        if name == "hostile-escapes" {
            assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        }
        let png = shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&png);
        browse(
            &browser,
            &profile,
            &[format!("--screenshot={}", png.display())],
            &page,
        );
        let bytes = std::fs::read(&png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{name}: a PNG screenshot");
    }
}
