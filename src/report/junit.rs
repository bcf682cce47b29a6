//! The batch as JUnit XML, which GitLab, Azure Pipelines and Jenkins render natively: one
//! test suite, one test case per ticket. A ticket whose top cause reaches `--fail-on` is a
//! *failure*; one whose inputs (or report) could not be read (written) is an *error*; one
//! with insufficient evidence is *skipped*; the rest pass. The cause, confidence, 0x904
//! count, phase and report file are properties, and the ticket's Markdown report is its
//! `system-out`. No time or timestamp is written: the same tickets give the same bytes.
//!
//! Serialized by `quick-junit`, which escapes markup. What XML 1.0 cannot hold at all (control
//! characters, U+FFFE, U+FFFF) is written visibly first: names and properties as for a
//! terminal, the report text by [`xml_text`].

use std::io::{self, Write};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::report::schema::Confidence;
use crate::report::ticket::TicketSummary;
use crate::sanitize::{terminal, xml_text};

/// The most Markdown kept as one test case's `system-out`: a bound on memory, since the
/// whole document is built before it is written (its counts come first).
pub const MAX_SYSTEM_OUT: usize = 64 * 1024;

/// The suite's and the cases' class name.
const SUITE: &str = "rdtriage batch";

/// Test cases collected in ticket order, written at the end.
pub struct Junit {
    suite: TestSuite,
}

impl Default for Junit {
    fn default() -> Self {
        Junit {
            suite: TestSuite::new(SUITE),
        }
    }
}

impl Junit {
    /// Add one ticket; `markdown` is its report as Markdown.
    pub fn add(&mut self, s: &TicketSummary, markdown: &str, fail_on: Option<Confidence>) {
        // What a ticket's summary says is made visible as its name is: a merged part may be
        // forged (controls, U+202E, line breaks).
        let cause = terminal(s.top_cause.as_deref().unwrap_or("none"));
        let confidence = s.confidence.map_or("-", |c| c.as_str());
        let status = if s.gate_hit(fail_on) {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type("cause-found").set_message(format!(
                "{cause} ({confidence} confidence) reaches --fail-on {}",
                fail_on.map_or("-", |c| c.as_str())
            ));
            st
        } else if s.unread() || s.report_error.is_some() {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            match &s.report_error {
                Some(e) if !s.unread() => {
                    st.set_type("output-failed")
                        .set_message(format!("the report could not be written: {}", terminal(e)));
                }
                _ => {
                    st.set_type("inputs-not-read").set_message(format!(
                        "{} input file(s) partly read, {} not read",
                        s.files_partial, s.files_failed
                    ));
                }
            }
            st
        } else if s.insufficient_evidence {
            let mut st = TestCaseStatus::skipped();
            st.set_type("insufficient-evidence")
                .set_message("no Remote Desktop client or server evidence could be read");
            st
        } else {
            TestCaseStatus::success()
        };
        // A ticket is named by its folder or zip: controls XML may hold (DEL, C1) made visible.
        let mut case = TestCase::new(terminal(&s.ticket).as_ref(), status);
        case.set_classname(SUITE);
        case.add_property(Property::new("cause", cause.as_ref()));
        case.add_property(Property::new("confidence", confidence));
        case.add_property(Property::new("disconnects-0x904", s.anchors.to_string()));
        case.add_property(Property::new("evidence", s.evidence.to_string()));
        if let Some(phase) = &s.phase {
            case.add_property(Property::new("phase", terminal(phase).as_ref()));
        }
        if let Some(stem) = &s.report {
            case.add_property(Property::new("report", format!("{}.md", terminal(stem))));
        }
        case.set_system_out(clip(&xml_text(markdown), MAX_SYSTEM_OUT));
        self.suite.add_test_case(case);
    }

    pub fn write(self, out: &mut dyn Write) -> io::Result<()> {
        let mut report = Report::new("rdtriage");
        report.add_test_suite(self.suite);
        report.serialize(&mut *out).map_err(io::Error::other)?;
        writeln!(out)
    }
}

/// `text` cut at a character boundary to at most `max` bytes, with a note when cut.
fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n\n(report cut at {max} bytes: the whole report is in --out)\n",
        &text[..end]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str) -> TicketSummary {
        TicketSummary {
            ticket: name.into(),
            anchors: 1,
            top_cause: Some("tls".into()),
            confidence: Some(Confidence::Medium),
            evidence: 3,
            phase: Some("established session".into()),
            files_ok: 2,
            files_partial: 0,
            files_failed: 0,
            files_skipped: 0,
            insufficient_evidence: false,
            report: None,
            report_error: None,
        }
    }

    fn xml(cases: &[(TicketSummary, Option<Confidence>)]) -> String {
        let mut j = Junit::default();
        for (s, f) in cases {
            j.add(s, "## report\n\x1b[31mred <b>", *f);
        }
        let mut out = Vec::new();
        j.write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn statuses_follow_the_gate_the_inputs_and_the_evidence() {
        let mut unread = summary("unread");
        unread.files_failed = 1;
        let mut thin = summary("thin");
        thin.insufficient_evidence = true;
        thin.top_cause = None;
        thin.confidence = None;
        let x = xml(&[
            (summary("gate"), Some(Confidence::Medium)),
            (summary("pass"), Some(Confidence::High)),
            (unread, None),
            (thin, None),
        ]);
        assert!(x.contains(r#"tests="4""#), "{x}");
        assert!(x.contains(r#"failures="1""#), "{x}");
        assert!(x.contains(r#"errors="1""#), "{x}");
        assert!(x.contains(r#"skipped="1""#), "{x}");
        assert!(x.contains(r#"<property name="cause" value="tls"/>"#), "{x}");
        assert!(
            x.contains(r#"<property name="phase" value="established session"/>"#),
            "{x}"
        );
        // Control characters gone, markup escaped: the report stays text.
        assert!(!x.contains('\x1b') && x.contains("&lt;b&gt;"), "{x}");
        assert!(!x.contains("time="), "{x}");
    }

    /// A forged part's cause and phase (a merged JSONL line) reach the properties inert.
    #[test]
    fn a_forged_cause_and_phase_are_made_visible() {
        let mut forged = summary("forged");
        forged.top_cause = Some("tls\u{202e}\n\x1b[31m".into());
        forged.phase = Some("up\u{202e}\rdown".into());
        let x = xml(&[(forged, None)]);
        assert!(!x.contains('\u{202e}') && !x.contains('\x1b'), "{x}");
        let cause = x
            .lines()
            .find(|l| l.contains(r#"name="cause""#))
            .expect("the cause property");
        assert!(cause.contains("tls") && cause.ends_with("/>"), "{x}");
    }

    /// XML 1.0 cannot hold U+FFFE or U+FFFF anywhere: one in a ticket's name, its cause or
    /// its report's text would make the whole batch's JUnit unreadable. Each is written
    /// visibly instead.
    #[test]
    fn characters_xml_cannot_hold_are_made_visible() {
        let mut s = summary("a\u{fffe}b");
        s.top_cause = Some("tls\u{ffff}".into());
        let mut j = Junit::default();
        j.add(&s, "path C:\\x\u{ffff}\u{fffe}.evtx\u{0}\n", None);
        let mut out = Vec::new();
        j.write(&mut out).unwrap();
        let x = String::from_utf8(out).unwrap();
        assert!(
            !x.chars()
                .any(|c| matches!(c, '\u{fffe}' | '\u{ffff}' | '\u{0}')),
            "{x}"
        );
        assert!(x.contains(r#"name="a\u{fffe}b""#), "{x}");
        assert!(x.contains(r"x\u{ffff}\u{fffe}.evtx\u{0000}"), "{x}");
    }

    #[test]
    fn long_reports_are_cut() {
        let long = "é".repeat(MAX_SYSTEM_OUT);
        let c = clip(&long, MAX_SYSTEM_OUT);
        assert!(c.len() < MAX_SYSTEM_OUT + 100);
        assert!(c.ends_with("in --out)\n"));
    }
}
