//! Native Process Monitor logs (PML): the corpus's captures against their CSV exports, damaged
//! files made by the test PML writer, the refused version 7, and a scenario ticket whose
//! Procmon evidence is a PML instead of a CSV.

use crate::common;

use crate::support::pml_writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pml_writer::*;
use rdtriage::ingest::Limits;
use rdtriage::model::{Event, FileAccount, FileFormat, FileStatus, Problem, ProcmonRow};

fn procmon(e: &Event) -> &ProcmonRow {
    e.procmon().expect("a Procmon row")
}

fn read(path: &Path, threads: usize) -> (Vec<Event>, FileAccount) {
    let got = common::ingest_with(&[path.to_path_buf()], threads, Limits::default());
    let [account] = &got.accounts[..] else {
        panic!("one account for {}", path.display())
    };
    (got.events, account.clone())
}

// ---------------------------------------------------------------------------------------------
// The corpus: every version-9 PML with a CSV export of the same capture

/// `1,024` and `1.024` are the same number in two locales.
fn without_digit_groups(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        let grouped = (c == ',' || c == '.')
            && i > 0
            && b[i - 1].is_ascii_digit()
            && b.len() >= i + 4
            && b[i + 1..i + 4].iter().all(u8::is_ascii_digit)
            && b.get(i + 4).is_none_or(|x| !x.is_ascii_digit());
        if !grouped {
            out.push(c);
        }
    }
    out
}

/// A date inside a detail (`7/12/2020 1:17:45 AM`, `10/12/2020 17:48:57` day first in the
/// 24-hour locales), as seconds since 1601; `None` for anything else.
fn detail_date(v: &str) -> Option<i64> {
    let (date, rest) = v.split_once(' ')?;
    let mut d = date.split('/').map(|x| x.parse::<i64>().ok());
    let (a, b, y) = (d.next()??, d.next()??, d.next()??);
    let (time, ampm) = match rest.split_once(' ') {
        Some((t, p)) => (t, Some(p)),
        None => (rest, None),
    };
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (mut h, m, s) = (t.next()??, t.next()??, t.next()??);
    let (month, day) = match ampm {
        Some("PM") if h < 12 => {
            h += 12;
            (a, b)
        }
        Some("AM") if h == 12 => {
            h = 0;
            (a, b)
        }
        Some(_) => (a, b),
        None => (b, a),
    };
    let date = jiff::civil::date(y as i16, month as i8, day as i8);
    let days = date.since(jiff::civil::date(1601, 1, 1)).ok()?.get_days() as i64;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// Details compared as values: digit groups dropped, dates moved by the capture's offset
/// (the PML's are UTC, the CSV's the exporting machine's local time).
fn same_detail(pml: &ProcmonRow, csv: &ProcmonRow, offset_secs: i64) -> bool {
    if pml.detail().len() != csv.detail().len() {
        return false;
    }
    pml.detail()
        .iter()
        .zip(csv.detail().iter())
        .all(|((pk, pv), (ck, cv))| {
            if pk != ck {
                return false;
            }
            let (pv, cv) = (
                without_digit_groups(&pv.replace('\n', "\r")),
                without_digit_groups(&cv.replace('\n', "\r")),
            );
            if pv == cv {
                return true;
            }
            match (detail_date(&pv), detail_date(&cv)) {
                // Process Monitor turns the 1601 "not set" value into local time too.
                (Some(p), Some(c)) => p + offset_secs == c || (p < 86_400 && c < 86_400 * 2),
                _ => false,
            }
        })
}

/// A difference that is Process Monitor's own CSV being wrong or older, not the reader:
/// shown by the bytes in docs/pml.md.
fn procmon_slip(pml: &ProcmonRow, csv: &ProcmonRow) -> Option<&'static str> {
    // Procmon 3.53 did not know the minor codes newer versions name.
    if csv.operation == "<Unknown>" && pml.operation != "<Unknown>" {
        return Some("operation unknown to the exporting Procmon");
    }
    if pml.operation == "CreateFileMapping"
        && pml.detail().get("SyncType") == csv.detail().get("SyncType")
        && pml.detail().get("PageProtection") != csv.detail().get("PageProtection")
    {
        return Some("CreateFileMapping PageProtection read from a pointer");
    }
    if pml.operation == "QueryNetworkOpenInformationFile"
        && csv
            .detail()
            .get("AllocationSize")
            .is_some_and(|v| v.contains('/'))
    {
        return Some("QueryNetworkOpenInformationFile sizes printed as dates");
    }
    if pml
        .detail()
        .get("Impersonating")
        .is_some_and(|v| v.starts_with("S-1-"))
        && csv
            .detail()
            .get("Impersonating")
            .is_some_and(|v| !v.starts_with("S-1-"))
    {
        return Some("Impersonating: SID resolved to a name on the exporting machine");
    }
    // Procmon's CSV shows registry data past what the capture holds (its own over-read).
    if let (Some(pd), Some(cd)) = (pml.detail().get("Data"), csv.detail().get("Data"))
        && pml.detail().get("Type") == Some("REG_BINARY")
        && pml.detail().get("Length") == csv.detail().get("Length")
        && (cd.starts_with(pd) || pd.starts_with(cd))
    {
        return Some("REG_BINARY data shown past or short of what was captured");
    }
    None
}

#[test]
fn pml_and_its_csv_export_give_the_same_events() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let tsv = std::fs::read_to_string(corpus.join("pml-counts.tsv")).unwrap();
    let mut compared = 0;
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let (file, version, non_profiling, csv) = (f[0], f[1], f[5], f.get(7).copied());
        let (events, account) = read(&corpus.join(file), 2);
        if version != "9" {
            assert_eq!(account.status, FileStatus::Failed, "{file}");
            assert!(
                account.problem_texts()[0].contains(&format!("PML format version {version} ")),
                "{file}: {:?}",
                account.problem_texts()
            );
            continue;
        }
        assert_eq!(account.format, FileFormat::ProcmonPml, "{file}");
        assert_eq!(
            account.status,
            FileStatus::Ok,
            "{file}: {:?}",
            account.problem_texts()
        );
        assert_eq!(account.events.to_string(), non_profiling, "{file}");
        assert_eq!(account.errors, 0, "{file}");
        assert!(events.iter().all(|e| e.time.is_some()), "{file}");
        let computer = f[3];
        assert_eq!(
            procmon(&events[0]).computer.as_deref(),
            Some(computer),
            "{file}"
        );
        let Some(csv) = csv.filter(|c| !c.is_empty()) else {
            continue;
        };
        let (csv_events, csv_account) = read(&corpus.join(csv), 2);
        assert_eq!(csv_account.status, FileStatus::Ok, "{csv}");
        assert_eq!(events.len(), csv_events.len(), "{file} vs {csv}");
        let n = events.len() as f64;
        let mut common = 0u64;
        let mut details = 0u64;
        let mut slips: BTreeMap<&str, u64> = BTreeMap::new();
        let mut offsets = std::collections::BTreeSet::new();
        for (pe, ce) in events.iter().zip(&csv_events) {
            let (p, c) = (procmon(pe), procmon(ce));
            // One fixed offset between the PML's UTC and the CSV's local time of day.
            let utc = pe.time.unwrap().to_zoned(jiff::tz::TimeZone::UTC).time();
            let local = c.time_of_day.expect("the CSV's time of day");
            let day_ticks = 86_400 * 10_000_000i64;
            let ticks = |t: jiff::civil::Time| {
                (i64::from(t.hour()) * 3600 + i64::from(t.minute()) * 60 + i64::from(t.second()))
                    * 10_000_000
                    + i64::from(t.subsec_nanosecond()) / 100
            };
            offsets.insert((ticks(local) - ticks(utc)).rem_euclid(day_ticks));
            let slip = procmon_slip(p, c);
            let same_common = (&p.process, p.pid, p.path(), &p.result)
                == (&c.process, c.pid, c.path(), &c.result)
                && (p.operation == c.operation || slip.is_some());
            common += u64::from(same_common);
            let offset_secs = offsets.first().map_or(0, |t| t / 10_000_000);
            let offset_secs = if offset_secs > 43_200 {
                offset_secs - 86_400
            } else {
                offset_secs
            };
            if same_detail(p, c, offset_secs) {
                details += 1;
            } else if let Some(why) = slip {
                *slips.entry(why).or_default() += 1;
                details += 1;
            } else if std::env::var_os("RDTRIAGE_PML_DIFF").is_some() {
                eprintln!(
                    "{}: {:?}\n  pml {}\n  csv {}",
                    pe.record,
                    p.operation,
                    p.detail_raw(),
                    c.detail_raw()
                );
            }
        }
        let common_share = common as f64 / n;
        let detail_share = details as f64 / n;
        let slipped: u64 = slips.values().sum();
        eprintln!(
            "{file}: {} events; process/pid/operation/path/result equal on {:.3}%, detail on {:.3}% ({:.3}% counting Procmon's own slips {slips:?} as differences); local - UTC = {} s",
            events.len(),
            common_share * 100.0,
            detail_share * 100.0,
            (details - slipped) as f64 / n * 100.0,
            offsets.first().unwrap() / 10_000_000
        );
        assert!(common_share >= 0.999, "{file}: {common_share}");
        assert!(detail_share >= 0.98, "{file}: {detail_share}");
        assert_eq!(
            offsets.len(),
            1,
            "{file}: one fixed offset, got {offsets:?}"
        );
        compared += 1;
    }
    assert_eq!(compared, 8, "every paired capture compared");
}

#[test]
fn the_same_events_whatever_the_thread_count() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let file = corpus.join("procmon/eronnen__procmon-parser/CompressedLogfileTests32bitUTC.PML");
    let (one, a1) = read(&file, 1);
    let (three, a3) = read(&file, 3);
    assert_eq!(a1, a3);
    assert!(one == three, "same events with 1 and 3 threads");
}

// ---------------------------------------------------------------------------------------------
// Made captures, whole and damaged

fn capture() -> PmlCapture {
    let svchost = PmlProcess {
        pid: 1100,
        parent_pid: 640,
        name: "svchost.exe".into(),
        image: "C:\\Windows\\System32\\svchost.exe".into(),
        command_line: "C:\\Windows\\system32\\svchost.exe -k NetworkService -s TermService".into(),
        user: "NT AUTHORITY\\NETWORK SERVICE".into(),
        integrity: "System".into(),
    };
    let t0 = filetime("2024-03-05T09:14:20.0912275Z");
    PmlCapture {
        computer: "RDS01".into(),
        processes: vec![svchost],
        hosts: vec![([10, 20, 31, 10], "RDS01.contoso.com".into())],
        ports: vec![(3389, true, "ms-wbt-server".into())],
        events: vec![
            PmlEvent {
                process: 0,
                tid: 2200,
                time: t0,
                duration: 0,
                status: 0,
                detail: PmlDetail::Tcp {
                    op: 4,
                    src: [10, 20, 31, 10],
                    src_port: 3389,
                    dst: [10, 20, 31, 77],
                    dst_port: 50533,
                    length: 0,
                    pairs: vec![("mss".into(), "1460".into())],
                },
            },
            PmlEvent {
                process: 0,
                tid: 2200,
                time: t0 + 51_102,
                duration: 915,
                status: 0xc000_0022,
                detail: PmlDetail::CreateFile {
                    path: "C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\f686aace6942fb7f7ceb231212eef4a4_x".into(),
                    access: 0x8000_0000,
                    disposition: 1,
                    options: 0x60,
                    attributes: 0,
                    share: 1,
                    open_result: None,
                },
            },
            PmlEvent {
                process: 0,
                tid: 2200,
                time: t0 + 60_000,
                duration: 20,
                status: 0,
                detail: PmlDetail::RegOpenKey {
                    path: "HKLM\\SOFTWARE\\Microsoft\\SystemCertificates\\Remote Desktop".into(),
                    access: 0x20019,
                },
            },
        ],
    }
}

fn write_temp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_made_capture_reads_back_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "Logfile.PML", &write(&capture()));
    let (events, account) = read(&path, 2);
    assert_eq!(
        account.status,
        FileStatus::Ok,
        "{:?}",
        account.problem_texts()
    );
    assert_eq!(account.events, 3);
    let rows: Vec<&ProcmonRow> = events.iter().map(procmon).collect();
    assert_eq!(rows[0].operation, "TCP Accept");
    assert_eq!(
        rows[0].path(),
        "RDS01.contoso.com:ms-wbt-server -> 10.20.31.77:50533"
    );
    assert_eq!(rows[0].detail_raw(), "Length: 0, mss: 1460");
    assert_eq!(rows[0].network().unwrap().local_port, Some(3389));
    assert_eq!(rows[1].operation, "CreateFile");
    assert_eq!(rows[1].result, "ACCESS DENIED");
    assert_eq!(
        rows[1].detail_raw(),
        "Desired Access: Generic Read, Disposition: Open, Options: Synchronous IO Non-Alert, Non-Directory File, Attributes: n/a, ShareMode: Read, AllocationSize: n/a"
    );
    assert_eq!(rows[1].detail().get("Desired Access"), Some("Generic Read"));
    assert_eq!(
        rows[1].columns.get("User"),
        Some("NT AUTHORITY\\NETWORK SERVICE")
    );
    assert_eq!(rows[1].columns.get("Duration"), Some("0.0000915"));
    assert_eq!(rows[2].detail_raw(), "Desired Access: Read");
    assert_eq!(rows[1].pid, Some(1100));
    assert_eq!(rows[1].computer.as_deref(), Some("RDS01"));
    assert_eq!(
        events[1].time.unwrap().to_string(),
        "2024-03-05T09:14:20.0963377Z"
    );
}

#[test]
fn the_capture_computer_is_dumped_and_matchable_by_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "Logfile.PML", &write(&capture()));
    let (events, _) = read(&path, 1);
    let json = serde_json::to_value(rdtriage::report::events::EventJson(&events[1])).unwrap();
    assert_eq!(json["computer"], "RDS01");
    let rules = rdtriage::rules::load_rules(&[(
        "t.rdt",
        r#"rule pml-on-rds01 {
    title: "a Procmon event captured on RDS01"
    cause: tls
    strength: weak
    when: source == "procmon" and computer == "rds01" and result == "ACCESS DENIED"
    evidence: "{process} on {computer}"
    remediation: "none"
    example match procmon { computer: "RDS01", result: "ACCESS DENIED" }
    example nomatch procmon { computer: "RDS02", result: "ACCESS DENIED" }
}
"#,
    )])
    .unwrap();
    assert!(rules.check_examples().is_empty());
    // A rule reading `computer` is kept by its prefilter (analysis ties hosts after keep) and
    // decided at the evaluation.
    let matched = |events: &[rdtriage::model::Event]| -> Vec<u64> {
        let eval = rules.evaluate(events);
        eval.findings
            .iter()
            .map(|f| events[f.events[0]].record)
            .collect()
    };
    assert_eq!(matched(&events), [2]);
    // A CSV row has no computer: the JSON says nothing of one and the rule cannot match it.
    let mut csv_row = events[1].clone();
    if let rdtriage::model::EventKind::Procmon(p) = &mut csv_row.kind {
        p.computer = None;
    }
    assert!(matched(std::slice::from_ref(&csv_row)).is_empty());
    let json = serde_json::to_value(rdtriage::report::events::EventJson(&csv_row)).unwrap();
    assert!(json.get("computer").is_none());
}

// ---------------------------------------------------------------------------------------------
// Backing-file sets

/// The made capture moved `minutes` later, as the next member of a set would be.
fn member(minutes: u64) -> Vec<u8> {
    let mut c = capture();
    for e in &mut c.events {
        e.time += minutes * 60 * 10_000_000;
    }
    write(&c)
}

fn file_name(account: &FileAccount) -> &str {
    account.file.rsplit(['/', '\\']).next().unwrap()
}

#[test]
fn a_backing_file_set_is_read_as_one_capture_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    // Directory order puts Logfile-1 and Logfile-10 before Logfile: set order must not.
    for n in 0..=10u64 {
        let name = if n == 0 {
            "Logfile.PML".to_string()
        } else {
            format!("Logfile-{n}.PML")
        };
        write_temp(&dir, &name, &member(n));
    }
    // Not a member: another base name.
    write_temp(&dir, "Other.PML", &member(100));
    for threads in [1, 3] {
        let got = common::ingest_with(&[dir.path().to_path_buf()], threads, Limits::default());
        let names: Vec<&str> = got.accounts.iter().map(file_name).collect();
        let mut want: Vec<String> = vec!["Logfile.PML".into()];
        want.extend((1..=10).map(|n| format!("Logfile-{n}.PML")));
        want.push("Other.PML".into());
        assert_eq!(names, want, "{threads} threads");
        for (i, a) in got.accounts[..11].iter().enumerate() {
            assert_eq!(a.status, FileStatus::Ok, "{:?}", a.problem_texts());
            let texts = a.problem_texts();
            let note = texts.last().unwrap();
            // The members are listed once, in the first member's note, and cut after 8:
            // a set of thousands does not put thousands of names in every account.
            let listed = i == 0
                && note.contains(
                    "Logfile.PML (Logfile.PML, Logfile-1.PML, Logfile-2.PML, Logfile-3.PML, \
                     Logfile-4.PML, Logfile-5.PML, Logfile-6.PML, Logfile-7.PML, ...):",
                );
            let unlisted = i > 0 && note.contains("backing-file set ") && !note.contains("(");
            assert!(
                note.starts_with(&format!(
                    "note: part {} of 11 of Process Monitor's backing-file set ",
                    i + 1
                )) && (listed || unlisted)
                    && note.ends_with("read as one capture, in time order"),
                "{note}"
            );
        }
        assert!(
            !got.accounts[11]
                .problem_texts()
                .iter()
                .any(|p| p.contains("backing-file"))
        );
        let times: Vec<_> = got.events.iter().map(|e| e.time.unwrap()).collect();
        assert_eq!(times.len(), 12 * 3);
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "time order across the set"
        );
    }
}

/// A member that is a byte copy of another is set aside as a duplicate: it has that account
/// alone, never a second one saying it is missing, and nothing depends on the thread count.
#[test]
fn a_member_copied_from_another_is_one_duplicate_not_also_missing() {
    let dir = tempfile::tempdir().unwrap();
    write_temp(&dir, "Logfile.PML", &member(0));
    write_temp(&dir, "Logfile-1.PML", &member(1));
    // Named to sort before the first member: the copy kept is this one.
    write_temp(&dir, "Logfile-2.PML", &member(0));
    let mut seen = Vec::new();
    for threads in [1, 2] {
        let got = common::ingest_with(&[dir.path().to_path_buf()], threads, Limits::default());
        let accounts: Vec<(String, FileStatus)> = got
            .accounts
            .iter()
            .map(|a| (file_name(a).to_string(), a.status))
            .collect();
        let mut names: Vec<&str> = accounts.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["Logfile-1.PML", "Logfile-2.PML", "Logfile.PML"],
            "{threads} threads: {:?}",
            got.accounts
        );
        assert!(
            !got.accounts
                .iter()
                .any(|a| a.problem_texts().iter().any(|t| t.contains("missing"))),
            "{:?}",
            got.accounts
        );
        seen.push(accounts);
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn a_missing_or_damaged_member_is_named_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    write_temp(&dir, "Logfile.PML", &member(0));
    let mut cut = member(2);
    cut.truncate(cut.len() / 2);
    write_temp(&dir, "Logfile-2.PML", &cut);
    write_temp(&dir, "Logfile-3.PML", &member(3));
    let got = common::ingest_with(&[dir.path().to_path_buf()], 2, Limits::default());
    let names: Vec<&str> = got.accounts.iter().map(file_name).collect();
    assert_eq!(
        names,
        [
            "Logfile.PML",
            "Logfile-1.PML",
            "Logfile-2.PML",
            "Logfile-3.PML"
        ]
    );
    let missing = &got.accounts[1];
    assert_eq!(missing.status, FileStatus::Failed);
    assert!(
        missing.problem_texts()[0]
            .starts_with("missing: member 1 of Process Monitor's backing-file set")
            && missing.problem_texts()[0].contains("Logfile.PML"),
        "{:?}",
        missing.problem_texts()
    );
    let damaged = &got.accounts[2];
    assert_eq!(
        damaged.status,
        FileStatus::Failed,
        "{:?}",
        damaged.problem_texts()
    );
    assert!(
        damaged
            .problem_texts()
            .iter()
            .any(|p| p.contains("past the end of the file")),
        "{:?}",
        damaged.problem_texts()
    );
    for a in [&got.accounts[0], &got.accounts[3]] {
        assert_eq!(a.status, FileStatus::Ok, "{:?}", a.problem_texts());
        assert!(
            a.problem_texts()
                .last()
                .unwrap()
                .contains("1 member missing (Logfile-1.PML)"),
            "{:?}",
            a.problem_texts()
        );
    }
    assert_eq!(got.events.len(), 6, "the whole members are read");
}

/// Two files of one member number (names that differ only in case), beside a file of that
/// number holding another computer's capture: the member is the one of the set's computer,
/// the same-computer twin is read on its own and says so, and nothing is called missing.
#[test]
fn files_sharing_a_member_number_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    write_temp(&dir, "Logfile.PML", &member(0));
    let mut other = capture();
    other.computer = "OTHERPC".into();
    write_temp(&dir, "Logfile-1.PML", &write(&other));
    // (Not the same bytes: those would be one file read once.)
    write_temp(&dir, "logfile-1.pml", &member(5));
    write_temp(&dir, "LOGFILE-1.PML", &member(1));
    write_temp(&dir, "Logfile-2.PML", &member(2));
    for threads in [1, 2] {
        let got = common::ingest_with(&[dir.path().to_path_buf()], threads, Limits::default());
        assert!(
            got.accounts.iter().all(|a| a.status == FileStatus::Ok),
            "{:#?}",
            got.accounts
        );
        let note = |name: &str| {
            let a = got
                .accounts
                .iter()
                .find(|a| file_name(a) == name)
                .unwrap_or_else(|| panic!("{name}"));
            a.problem_texts().join(" | ")
        };
        assert!(
            note("Logfile.PML").contains("part 1 of 3"),
            "{}",
            note("Logfile.PML")
        );
        assert!(
            !note("Logfile.PML").contains("missing"),
            "{}",
            note("Logfile.PML")
        );
        // Input order is name order: "LOGFILE-1.PML" sorts first, so it is the member.
        assert!(
            note("LOGFILE-1.PML").contains("part 2 of 3"),
            "{}",
            note("LOGFILE-1.PML")
        );
        assert!(
            note("logfile-1.pml").contains("shares member number 1")
                && note("logfile-1.pml").contains("read on its own"),
            "{}",
            note("logfile-1.pml")
        );
        assert!(
            !note("Logfile-1.PML").contains("backing-file"),
            "{}",
            note("Logfile-1.PML")
        );
    }
}

/// A file named like a member but holding another computer's capture is read on its own,
/// once: the member it stands in for is named missing under the set's name, so no file is
/// both read and missing.
#[test]
fn a_member_named_file_of_another_computer_is_read_alone_and_the_member_named_missing() {
    let dir = tempfile::tempdir().unwrap();
    write_temp(&dir, "Logfile.PML", &member(0));
    let mut other = capture();
    other.computer = "OTHERPC".into();
    write_temp(&dir, "Logfile-1.PML", &write(&other));
    write_temp(&dir, "Logfile-2.PML", &member(2));
    let got = common::ingest_with(&[dir.path().to_path_buf()], 2, Limits::default());
    let named: Vec<(&str, FileStatus)> = got
        .accounts
        .iter()
        .map(|a| (file_name(a), a.status))
        .collect();
    let read_alone = named.iter().filter(|(n, _)| *n == "Logfile-1.PML").count();
    assert_eq!(read_alone, 1, "{named:?}");
    assert!(
        named.contains(&("Logfile-1.PML", FileStatus::Ok)),
        "{named:?}"
    );
    let missing = got
        .accounts
        .iter()
        .find(|a| a.status == FileStatus::Failed)
        .expect("the member is named missing");
    assert!(
        missing.file.ends_with("Logfile.PML (member 1)"),
        "{}",
        missing.file
    );
    let why = &missing.problem_texts()[0];
    assert!(
        why.contains("another computer's capture (otherpc)"),
        "{why}"
    );
    assert_eq!(got.events.len(), 9, "all three files are read");
}

// ---------------------------------------------------------------------------------------------
// A capture in fixtures/ (MIT, from procmon-parser), read without the corpus

#[test]
fn the_fixture_capture_reads_without_the_corpus() {
    let zip = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/procmon/CompressedLogFileUTC64Process.PML.zip");
    let (events, account) = read(&zip, 1);
    assert_eq!(account.format, FileFormat::ProcmonPml);
    assert_eq!(
        account.status,
        FileStatus::Ok,
        "{:?}",
        account.problem_texts()
    );
    assert_eq!(account.events, 3400, "pml-counts.tsv: 3,400 process events");
    let first = procmon(&events[0]);
    assert_eq!(
        (first.process.as_str(), first.pid, first.operation.as_str()),
        ("Explorer.EXE", Some(3344), "Thread Create")
    );
    assert_eq!(first.detail_raw(), "Thread ID: 7764");
    assert_eq!(first.result, "SUCCESS");
    assert_eq!(first.computer.as_deref(), Some("DESKTOP-6PCIALL"));
    assert_eq!(first.columns.get("User"), Some("DESKTOP-6PCIALL\\test"));
    assert_eq!(
        events[0].time.unwrap().to_string(),
        "2020-07-31T07:37:18.2093997Z"
    );
    // The operations its CSV export counts.
    let mut ops: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &events {
        *ops.entry(procmon(e).operation.as_str()).or_default() += 1;
    }
    let want: BTreeMap<&str, usize> = [
        ("Load Image", 1952),
        ("Process Create", 39),
        ("Process Exit", 34),
        ("Process Start", 44),
        ("Thread Create", 720),
        ("Thread Exit", 611),
    ]
    .into();
    assert_eq!(ops, want);
    let (two, account2) = read(&zip, 2);
    assert_eq!(account, account2);
    assert!(events == two, "same events with 1 and 2 threads");
    // The member (1.6 MB, past what is held in memory) is read from a copy in a temporary
    // file: the same events as the capture unzipped and read as a file.
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut member = archive.by_index(0).unwrap();
    assert!(member.size() > rdtriage::ingest::zipentry::SMALL_ENTRY);
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut member, &mut bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plain = write_temp(&dir, "CompressedLogFileUTC64Process.PML", &bytes);
    for threads in [1, 2] {
        let (from_file, _) = read(&plain, threads);
        assert_eq!(from_file.len(), events.len());
        for (a, b) in events.iter().zip(&from_file) {
            assert_eq!((a.record, a.time), (b.record, b.time));
            assert_eq!(procmon(a), procmon(b));
        }
    }
}

/// Read `bytes` as a PML and return the account and how many events were kept.
fn account_of(bytes: &[u8]) -> (FileAccount, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "Logfile.PML", bytes);
    let (events, account) = read(&path, 2);
    (account, events.len())
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn version_7_is_refused_naming_the_version() {
    let mut b = write(&capture());
    set_u32(&mut b, 4, 7);
    let (a, n) = account_of(&b);
    assert_eq!((a.status, n), (FileStatus::Failed, 0));
    assert!(
        a.problem_texts()[0].contains("PML format version 7 is not read"),
        "{:?}",
        a.problem_texts()
    );
}

/// Events naming a process the process table does not hold are kept with an empty process,
/// and the file is partly read, saying how many: the process column is lost for them.
#[test]
fn events_of_a_process_not_in_the_table_make_the_file_partial() {
    let mut c = capture();
    for e in &mut c.events {
        e.process = 7;
    }
    let (a, n) = account_of(&write(&c));
    assert_eq!((a.status, n), (FileStatus::Partial, c.events.len()));
    let want = format!(
        "{} events name a process that is not in the process table",
        c.events.len()
    );
    assert!(
        a.problem_texts().iter().any(|p| p.contains(&want)),
        "{:?}",
        a.problem_texts()
    );
    let (whole, _) = account_of(&write(&capture()));
    assert_eq!(whole.status, FileStatus::Ok, "{:?}", whole.problem_texts());
}

#[test]
fn a_capture_never_closed_is_named() {
    let mut b = write(&capture());
    for at in [0x248, 0x250, 0x258, 0x260] {
        set_u64(&mut b, at, 0);
    }
    let (a, n) = account_of(&b);
    assert_eq!((a.status, n), (FileStatus::Failed, 0));
    assert!(
        a.problem_texts()[0].contains("never closed"),
        "{:?}",
        a.problem_texts()
    );
    assert!(
        a.problem_texts()[0].contains("event-offset array, process table"),
        "{:?}",
        a.problem_texts()
    );
}

#[test]
fn a_cut_file_is_named_at_every_length() {
    let whole = write(&capture());
    for len in [
        0,
        3,
        8,
        100,
        HEADER_SIZE - 1,
        HEADER_SIZE + 10,
        whole.len() / 2,
        whole.len() - 1,
    ] {
        let (a, _) = account_of(&whole[..len]);
        if len == 0 {
            assert_eq!(a.format, FileFormat::Empty);
            continue;
        }
        assert_ne!(a.status, FileStatus::Ok, "cut at {len}");
        assert!(
            a.problem_texts().iter().any(|p| p.contains("too short")
                || p.contains("past the end of the file")
                || p.contains("cut")
                || p.contains("no PML_ signature")
                || (len < 4 && p.contains("unreadable content"))),
            "cut at {len}: {:?}",
            a.problem_texts()
        );
    }
}

#[test]
fn an_event_offset_outside_the_file_loses_that_event_only() {
    let (mut b, layout) = write_with_layout(&capture());
    let second = layout.offsets_array as usize + 5;
    set_u32(&mut b, second, 0xffff_fff0);
    let (a, n) = account_of(&b);
    assert_eq!(
        (a.status, a.events, a.errors, n),
        (FileStatus::Partial, 2, 1, 2)
    );
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.starts_with("event 2 at offset 0xfffffff0")
                && p.contains("past the end of the file")),
        "{:?}",
        a.problem_texts()
    );
    // A record problem, typed with where it is: the text is only its view.
    assert!(
        a.problems().iter().any(|p| matches!(
            p,
            Problem::Record { at, .. } if at.record == Some(2) && at.offset == Some(0xffff_fff0)
        )),
        "{:?}",
        a.problems()
    );
}

#[test]
fn an_event_the_offset_array_names_again_is_not_read_again() {
    let (mut b, layout) = write_with_layout(&capture());
    let array = layout.offsets_array as usize;
    let first = u32::from_le_bytes(b[array..array + 4].try_into().unwrap());
    // The second entry names the first event again, the third a byte inside its header.
    set_u32(&mut b, array + 5, first);
    set_u32(&mut b, array + 10, first + 7);
    let dir = tempfile::tempdir().unwrap();
    let path = write_temp(&dir, "Logfile.PML", &b);
    for threads in [1, 2] {
        let (events, a) = read(&path, threads);
        assert_eq!(
            (a.status, a.events, a.errors, events.len()),
            (FileStatus::Partial, 1, 2, 1),
            "{threads} threads: {:?}",
            a.problem_texts()
        );
        for (n, off) in [(2, first), (3, first + 7)] {
            let start = format!(
                "event {n} at offset {off:#x}: it starts inside the header of an event listed earlier"
            );
            assert!(
                a.problem_texts().iter().any(|p| p.starts_with(&start)),
                "{threads} threads: {:?}",
                a.problem_texts()
            );
        }
    }
}

#[test]
fn a_string_index_outside_the_table_is_named_and_events_are_kept() {
    let (mut b, layout) = write_with_layout(&capture());
    // The process name is the third string index of the first process record.
    let table = layout.process_table as usize;
    let record = table + u32::from_le_bytes(b[table + 8..table + 12].try_into().unwrap()) as usize;
    set_u32(&mut b, record + 0x40, 999_999);
    let (a, n) = account_of(&b);
    assert_eq!((a.status, n), (FileStatus::Partial, 3));
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.contains("index outside the string table")),
        "{:?}",
        a.problem_texts()
    );
}

/// A crafted process table whose records overlap (each a few bytes after the last) would
/// cost a process's memory per few bytes of file: an overlapping record is not read, and
/// says so; the record it overlaps, and the events, are kept.
#[test]
fn overlapping_process_records_are_not_read() {
    let mut c = capture();
    let mut second = c.processes[0].clone();
    second.pid = 4242;
    c.processes.push(second);
    let (mut b, layout) = write_with_layout(&c);
    let table = layout.process_table as usize;
    // The count (2), two process indexes, then the records' offsets from the table's start:
    // the second record now starts 12 bytes into the first.
    let first = u32::from_le_bytes(b[table + 12..table + 16].try_into().unwrap());
    set_u32(&mut b, table + 16, first + 12);
    let (a, n) = account_of(&b);
    assert_eq!((a.status, n), (FileStatus::Partial, 3));
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.contains("1 of 2 processes in the process table overlap another's record")),
        "{:?}",
        a.problem_texts()
    );
}

/// A table is read to at most 16 MiB, whatever the offsets say: one that runs on to the end
/// of a padded file costs its bound, not the file; the events are still read.
#[test]
fn a_table_past_its_bound_is_read_to_the_bound() {
    let mut b = write(&capture());
    // The last table runs to the end of the file: 20 MiB more of it.
    b.extend(std::iter::repeat_n(0u8, 20 << 20));
    let (a, n) = account_of(&b);
    assert_eq!(n, 3, "{:?}", a.problem_texts());
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.contains("past the 16777216 a table is read to")),
        "{:?}",
        a.problem_texts()
    );
}

/// A header that counts fewer events than its event-offset array holds (Process Monitor sizes
/// the array to the count) lost the rest with the file said to be read whole. Every entry of
/// the array is read, and the account says the header counted fewer.
#[test]
fn a_header_counting_fewer_events_than_the_array_loses_none() {
    let c = capture();
    let whole = c.events.len();
    for counted in [0u32, 1] {
        let mut b = write(&c);
        set_u32(&mut b, 0x234, counted);
        let (a, n) = account_of(&b);
        assert_eq!((a.status, n), (FileStatus::Ok, whole), "{counted}");
        let want = format!("the event-offset array holds {whole}: all {whole} read");
        assert!(
            a.problem_texts().iter().any(|p| p.contains(&want)),
            "{:?}",
            a.problem_texts()
        );
    }
}

#[test]
fn an_absurd_event_count_is_bounded_by_the_array() {
    let mut b = write(&capture());
    set_u32(&mut b, 0x234, u32::MAX);
    let (a, n) = account_of(&b);
    assert_eq!(a.status, FileStatus::Partial);
    assert!(n >= 3, "the real events are still read");
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.contains("counts 4294967295 events")),
        "{:?}",
        a.problem_texts()
    );
}

#[test]
fn a_detail_that_runs_past_its_event_keeps_what_was_read() {
    let (mut b, layout) = write_with_layout(&capture());
    // CreateFile: claim a detail shorter than its path.
    let ev = layout.events[1] as usize;
    set_u32(&mut b, ev + 0x2c, 0x44);
    let (a, n) = account_of(&b);
    assert_eq!((a.status, n), (FileStatus::Partial, 3));
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.contains("event 2 (CreateFile): its detail runs past the event")),
        "{:?}",
        a.problem_texts()
    );
    assert!(
        a.problems().iter().any(|p| matches!(
            p,
            Problem::Record { at, .. } if at.record == Some(2) && at.offset == Some(layout.events[1])
        )),
        "{:?}",
        a.problems()
    );
}

#[test]
fn an_extra_detail_outside_the_file_is_damage_not_a_panic() {
    let (mut b, layout) = write_with_layout(&capture());
    let ev = layout.events[0] as usize;
    set_u32(&mut b, ev + 0x30, 0x7fff_0000);
    let (a, n) = account_of(&b);
    assert_eq!((a.status, a.errors, n), (FileStatus::Partial, 1, 2));
    assert!(
        a.problem_texts()
            .iter()
            .any(|p| p.contains("past the end of the file")),
        "{:?}",
        a.problem_texts()
    );
}

// ---------------------------------------------------------------------------------------------
// A scenario ticket with a PML instead of its CSV

/// The certificate ticket's server capture as a PML: the CSV rows the writer can express, at
/// their UTC times (the capture machine is on UTC+01:00, 2024-03-05).
fn certificate_capture(csv_rows: &[Event]) -> PmlCapture {
    let mut c = PmlCapture {
        computer: "RDS01".into(),
        hosts: vec![
            ([10, 20, 31, 10], "RDS01.contoso.com".into()),
            ([10, 20, 31, 77], "WS-ALICE.contoso.com".into()),
        ],
        ports: vec![(3389, true, "ms-wbt-server".into())],
        ..PmlCapture::default()
    };
    for e in csv_rows {
        let r = procmon(e);
        let user = r.columns.get("User").unwrap_or("").to_string();
        let process = match c
            .processes
            .iter()
            .position(|p| p.pid == r.pid.unwrap() && p.name == r.process)
        {
            Some(i) => i,
            None => {
                c.processes.push(PmlProcess {
                    pid: r.pid.unwrap(),
                    name: r.process.to_string(),
                    user,
                    ..PmlProcess::default()
                });
                c.processes.len() - 1
            }
        };
        let d = |k: &str| r.detail().get(k).unwrap_or("");
        let detail = match r.operation.as_str() {
            "CreateFile" => PmlDetail::CreateFile {
                path: r.path().to_string(),
                access: match d("Desired Access") {
                    "Generic Read" => 0x8000_0000,
                    "Read Data/List Directory, Synchronize" => 0x0010_0001,
                    other => panic!("access {other}"),
                },
                disposition: 1,
                options: match d("Options") {
                    "Directory, Synchronous IO Non-Alert" => 0x21,
                    "Synchronous IO Non-Alert, Non-Directory File" => 0x60,
                    other => panic!("options {other}"),
                },
                attributes: 0,
                share: match d("ShareMode") {
                    "Read" => 1,
                    "Read, Write" => 3,
                    other => panic!("share {other}"),
                },
                open_result: (d("OpenResult") == "Opened").then_some(1),
            },
            "RegOpenKey" => PmlDetail::RegOpenKey {
                path: r.path().to_string(),
                access: 0x20019,
            },
            "TCP Accept" => PmlDetail::Tcp {
                op: 4,
                src: [10, 20, 31, 10],
                src_port: 3389,
                dst: [10, 20, 31, 77],
                dst_port: 50533,
                length: 0,
                pairs: vec![],
            },
            // Noise the writer has no detail for: left out.
            _ => continue,
        };
        let local = jiff::civil::DateTime::from_parts(
            jiff::civil::date(2024, 3, 5),
            r.time_of_day.unwrap(),
        );
        let utc = jiff::tz::Offset::constant(1).to_timestamp(local).unwrap();
        c.events.push(PmlEvent {
            process: process as u32,
            tid: 1,
            time: filetime(&utc.to_string()),
            duration: 10,
            status: match r.result.as_str() {
                "SUCCESS" => 0,
                "ACCESS DENIED" => 0xc000_0022,
                "NAME NOT FOUND" => 0xc000_0034,
                other => panic!("result {other}"),
            },
            detail,
        });
    }
    c
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_ticket_with_a_pml_gives_the_causes_of_its_csv_twin_placed_in_time() {
    let ticket = common::fixtures().join("tickets/certificate");
    let csv = ticket.join("server/Logfile.CSV");
    let rows = common::ingest_one(&csv).events;
    let capture = certificate_capture(&rows);
    assert!(
        capture.events.len() >= 6,
        "the TermService rows are all there: {}",
        capture.events.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let twin = dir.path().join("certificate");
    copy_dir(&ticket, &twin);
    std::fs::remove_file(twin.join("server/Logfile.CSV")).unwrap();
    std::fs::write(twin.join("server/Logfile.PML"), write(&capture)).unwrap();

    let by_csv = common::scan_paths(&[ticket]);
    let by_pml = common::scan_paths(&[twin]);
    let causes = |s: &rdtriage::analysis::Scan| -> Vec<String> {
        s.report().causes.iter().map(|c| c.cause.clone()).collect()
    };
    assert_eq!(causes(&by_pml), causes(&by_csv));
    assert_eq!(by_pml.report().causes[0].cause, "certificate");
    assert!(by_pml.report().causes[0].confidence >= by_csv.report().causes[0].confidence);
    // No flags given: the CSV's rows cannot be placed, the PML's carry their UTC time.
    assert_eq!(by_csv.report().alignment.method, "none");
    assert_eq!(
        by_pml.report().alignment.method,
        "pml",
        "{}",
        by_pml.report().alignment.note
    );
    assert!(by_pml.report().alignment.note.contains("came from the PML"));
    let denied = by_pml
        .events
        .iter()
        .find(|e| e.procmon().is_some_and(|p| p.result == "ACCESS DENIED"))
        .expect("the ACCESS DENIED row is kept");
    assert_eq!(
        denied.time.unwrap().to_string(),
        "2024-03-05T09:14:20.1269916Z"
    );
}

/// A CSV exported with a filter (here: the operations the test writer encodes) and sorted
/// starts at another event than its PML, so the check before reading does not see it: the rows are
/// paired with the PML's events after reading, and the ticket reads as the PML alone would.
#[test]
fn a_filtered_csv_export_beside_its_pml_counts_each_event_once() {
    let ticket = common::fixtures().join("tickets/certificate");
    let csv = ticket.join("server/Logfile.CSV");
    let capture = certificate_capture(&common::ingest_one(&csv).events);
    let dir = tempfile::tempdir().unwrap();
    let pml_only = dir.path().join("pml-only");
    copy_dir(&ticket, &pml_only);
    std::fs::remove_file(pml_only.join("server/Logfile.CSV")).unwrap();
    std::fs::write(pml_only.join("server/Logfile.PML"), write(&capture)).unwrap();
    let both = dir.path().join("both");
    copy_dir(&pml_only, &both);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.split_inclusive('\n');
    let mut filtered = lines.next().unwrap().to_string();
    let encoded = ["\"CreateFile\"", "\"RegOpenKey\"", "\"TCP Accept\""];
    let mut kept: Vec<&str> = lines
        .filter(|l| encoded.iter().any(|op| l.contains(op)))
        .collect();
    assert!(kept.len() >= 6, "{}", kept.len());
    // Exported sorted by operation, as Procmon saves what it shows: the first row is not the
    // capture's first event, so the check before reading cannot tell.
    kept.sort_by_key(|l| encoded.iter().position(|op| l.contains(op)));
    // A seventh digit written one higher, as an export's rounding could: still the same event.
    let first = {
        let at = kept[0].find(" AM\"").expect("a morning time");
        let mut bytes = kept[0].as_bytes().to_vec();
        bytes[at - 1] = if bytes[at - 1] == b'9' {
            b'8'
        } else {
            bytes[at - 1] + 1
        };
        String::from_utf8(bytes).unwrap()
    };
    assert_ne!(first, kept[0]);
    filtered.push_str(&first);
    kept[1..].iter().for_each(|l| filtered.push_str(l));
    std::fs::write(both.join("server/Logfile.CSV"), &filtered).unwrap();

    let alone = common::scan_paths(&[pml_only]);
    let scan = common::scan_paths(&[both]);
    let account = scan
        .diagnosis
        .inputs
        .iter()
        .find(|a| a.file.ends_with("Logfile.CSV"))
        .expect("the CSV is accounted for");
    assert_eq!(account.status, rdtriage::model::FileStatus::Skipped);
    let said = account.problems_text();
    assert!(
        said.contains("an export of the capture") && said.contains("Logfile.PML"),
        "{said}"
    );
    let (a, b) = (alone.report(), scan.report());
    let summary = |r: &rdtriage::report::schema::ScanReport| -> Vec<(String, String, u64)> {
        r.causes
            .iter()
            .map(|c| {
                let events = c.findings.iter().map(|f| f.events).sum();
                (
                    c.cause.clone(),
                    format!("{:?} {:.1}", c.confidence, c.score),
                    events,
                )
            })
            .collect()
    };
    assert_eq!(summary(&b), summary(&a));
    assert_eq!(b.evidence.procmon_rdp_rows, a.evidence.procmon_rdp_rows);
    assert!(a.evidence.procmon_rdp_rows > 0);
}

#[test]
fn a_csv_export_beside_its_pml_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    write_temp(&dir, "Logfile.PML", &write(&capture()));
    let header = "\u{feff}\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n";
    let export = format!(
        "{header}\"10:14:20.0912275 AM\",\"svchost.exe\",\"1100\",\"TCP Accept\",\"RDS01.contoso.com:ms-wbt-server -> 10.20.31.77:50533\",\"SUCCESS\",\"Length: 0, mss: 1460\"\r\n"
    );
    write_temp(&dir, "Logfile.CSV", export.as_bytes());
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    // Not byte-identical to the export beside the PML (that copy would be set aside as a
    // duplicate by content): a CSV with no PML beside it is always read.
    std::fs::write(
        other.join("Logfile.CSV"),
        export.replacen("1100", "1101", 1).as_bytes(),
    )
    .unwrap();
    let got = common::ingest_paths(&[dir.path().to_path_buf()]);
    let status: Vec<(String, FileStatus)> = got
        .accounts
        .iter()
        .map(|a| {
            let name = Path::new(&a.file).strip_prefix(dir.path()).unwrap();
            (name.display().to_string(), a.status)
        })
        .collect();
    assert_eq!(
        status,
        vec![
            // The export is accounted for just after its capture.
            ("Logfile.PML".to_string(), FileStatus::Ok),
            ("Logfile.CSV".to_string(), FileStatus::Skipped),
            // Another folder: another capture, read.
            ("other/Logfile.CSV".to_string(), FileStatus::Ok),
        ]
    );
    assert!(got.accounts[1].problem_texts()[0].contains("the CSV export of"));
    assert_eq!(got.events.len(), 3 + 1);
    // An export that starts with the PML's first event but holds more rows than the capture
    // has events (saved from a capture of several backing files when only the first came
    // along): not this PML's alone, so it is read, and none of its own rows is lost.
    let more: String = (0..5)
        .map(|i| {
            format!(
                "\"10:15:0{i}.0000000 AM\",\"svchost.exe\",\"1100\",\"CreateFile\",\"C:\\x{i}\",\"ACCESS DENIED\",\"\"\r\n"
            )
        })
        .collect();
    write_temp(&dir, "Logfile.CSV", format!("{export}{more}").as_bytes());
    let got = common::ingest_paths(&[dir.path().to_path_buf()]);
    let csv = got
        .accounts
        .iter()
        .find(|a| a.file.ends_with("Logfile.CSV") && !a.file.contains("other"))
        .unwrap();
    assert_eq!((csv.status, csv.events), (FileStatus::Ok, 6), "{csv:?}");
}

#[test]
fn a_csv_export_of_a_pml_that_cannot_be_read_whole_is_read_after_all() {
    let dir = tempfile::tempdir().unwrap();
    let (mut pml, layout) = write_with_layout(&capture());
    let header = "\u{feff}\"Time of Day\",\"Process Name\",\"PID\",\"Operation\",\"Path\",\"Result\",\"Detail\"\r\n";
    // The capture's first event, then a row the PML does not hold.
    let export = format!(
        "{header}\"10:14:20.0912275 AM\",\"svchost.exe\",\"1100\",\"TCP Accept\",\"RDS01.contoso.com:ms-wbt-server -> 10.20.31.77:50533\",\"SUCCESS\",\"Length: 0, mss: 1460\"\r\n\"10:14:21.0000000 AM\",\"svchost.exe\",\"1100\",\"CreateFile\",\"C:\\x\",\"ACCESS DENIED\",\"\"\r\n"
    );
    write_temp(&dir, "Logfile.CSV", export.as_bytes());
    let accounts = |pml: &[u8]| {
        write_temp(&dir, "Logfile.PML", pml);
        let got = common::ingest_paths(&[dir.path().to_path_buf()]);
        let of = |name: &str| {
            got.accounts
                .iter()
                .find(|a| a.file.ends_with(name))
                .unwrap()
                .clone()
        };
        (of("Logfile.PML"), of("Logfile.CSV"), got.events.len())
    };
    // Whole: the PML stands in for its export.
    let (p, c, n) = accounts(&pml);
    assert_eq!(
        (p.status, c.status, n),
        (FileStatus::Ok, FileStatus::Skipped, 3)
    );
    // Its second event lost: the export is read, every row of it kept for the analysis to
    // pair with the PML's events.
    set_u32(&mut pml, layout.offsets_array as usize + 5, 0xffff_fff0);
    let (p, c, n) = accounts(&pml);
    assert_eq!(
        (p.status, c.status, c.events, n),
        (FileStatus::Partial, FileStatus::Ok, 2, 2 + 2),
        "{:?}",
        c.problem_texts()
    );
    assert!(
        c.problem_texts()
            .iter()
            .any(|t| t.contains("read although it is the CSV export of")),
        "{:?}",
        c.problem_texts()
    );
}

/// The made capture with its three events repeated `times` times, each round 10 ms later.
fn repeated(times: u64) -> PmlCapture {
    let mut c = capture();
    let three = std::mem::take(&mut c.events);
    for i in 0..times {
        c.events.extend(three.iter().cloned().map(|mut e| {
            e.time += i * 100_000;
            e
        }));
    }
    c
}

/// The record numbers of the events kept by a keep that reads them (every third), read on
/// `threads` threads, with the account: as a rule reading `record` has ingest keep events.
fn every_third(path: &Path, threads: usize) -> (Vec<u64>, FileAccount) {
    let keep = |e: &mut Event| e.record.is_multiple_of(3);
    let opts = rdtriage::ingest::IngestOptions {
        threads,
        limits: Limits::default(),
        keep: &keep,
        keep_reads_record: true,
        columns: rdtriage::ingest::ProcmonColumns::All,
    };
    let mut sink = rdtriage::ingest::Collect::default();
    rdtriage::ingest::ingest(&[path.to_path_buf()], &opts, &mut sink);
    let [account] = &sink.accounts[..] else {
        panic!("one account for {}", path.display())
    };
    let records = sink.events.iter().map(|e| e.record).collect();
    (records, account.clone())
}

/// A capture of many blocks, whole and damaged in ways that touch several blocks: the same
/// events, record numbers and account (damage listed in the same order) at 1, 2 and 3 threads,
/// whichever thread reads and decodes each block, whether events are judged as they are
/// decoded (keep does not read the record number) or once numbered (it does).
#[test]
fn many_blocks_read_the_same_at_every_thread_count() {
    let (whole, layout) = write_with_layout(&repeated(700));
    let n = layout.events.len();
    assert!(n > 4 * 512, "more than four blocks: {n}");
    let array = layout.offsets_array as usize;
    // Offsets past the end in several blocks, more than the account lists by name.
    let mut damaged = whole.clone();
    for i in [3usize, 600, 601, 1200, 1800, 1801, 2050] {
        set_u32(&mut damaged, array + 5 * i, 0xffff_fff0);
    }
    let mut cases = vec![("whole", whole.clone()), ("offsets", damaged)];
    for cut in [
        layout.events[1000] as usize + 7,
        array + 5 * 700 + 2,
        layout.process_table as usize + 3,
        whole.len() - 1,
    ] {
        cases.push(("cut", whole[..cut].to_vec()));
    }
    for (what, bytes) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = write_temp(&dir, "Logfile.PML", &bytes);
        let (one, a1) = read(&path, 1);
        assert!(!one.is_empty() || what == "cut", "{what}: events read");
        let records: Vec<u64> = one.iter().map(|e| e.record).collect();
        let want: Vec<u64> = (1..=one.len() as u64).collect();
        assert_eq!(
            records, want,
            "{what}: record numbers count the rows in order"
        );
        for threads in [2, 3] {
            let (many, a) = read(&path, threads);
            assert_eq!(a1, a, "{what}: the account at {threads} threads");
            assert!(one == many, "{what}: the events at {threads} threads");
        }
        let (third, t1) = every_third(&path, 1);
        let want: Vec<u64> = records
            .iter()
            .copied()
            .filter(|r| r.is_multiple_of(3))
            .collect();
        assert_eq!(third, want, "{what}: judged on the record numbers");
        assert_eq!(t1, a1, "{what}: the same account whatever is kept");
        for threads in [2, 3] {
            let got = every_third(&path, threads);
            assert_eq!(
                got,
                (third.clone(), t1.clone()),
                "{what}: {threads} threads"
            );
        }
        if what == "offsets" {
            assert_eq!((a1.events, a1.errors), (n as u64 - 7, 7), "{what}");
            assert!(
                a1.problem_texts()
                    .iter()
                    .any(|p| p.starts_with("event 4 at offset 0xfffffff0")),
                "{:?}",
                a1.problem_texts()
            );
        }
    }
}

/// A block's span of the file ends where the next block's first event starts. When that start
/// lies inside the block's last event (an offset array not in file order), the last event is
/// read whole on its own: the events before the damage are the undamaged capture's, at every
/// thread count.
#[test]
fn a_block_whose_last_event_runs_past_the_next_start_is_read_whole() {
    let (whole, layout) = write_with_layout(&repeated(400));
    assert!(layout.events.len() > 2 * 512, "more than two blocks");
    let array = layout.offsets_array as usize;
    let mut damaged = whole.clone();
    // The second block's first event "starts" 8 bytes into the first block's last one.
    let inside = u32::try_from(layout.events[511] + 8).unwrap();
    set_u32(&mut damaged, array + 5 * 512, inside);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (want, _) = read(&write_temp(&a, "Logfile.PML", &whole), 1);
    let path = write_temp(&b, "Logfile.PML", &damaged);
    let first_block = |events: &[Event]| -> Vec<_> {
        events[..512]
            .iter()
            .map(|e| (e.record, e.time, procmon(e).clone()))
            .collect()
    };
    for threads in [1, 2, 3] {
        let (got, account) = read(&path, threads);
        assert!(got.len() >= 512, "{threads} threads: {} events", got.len());
        assert!(
            first_block(&got) == first_block(&want),
            "{threads} threads: the first block, its last event whole: {:?}",
            account.problem_texts()
        );
    }
}

/// A user rule reading `record`: on 2 threads a capture's blocks after the first are still
/// judged on their true record numbers (ingest is told the rules read them).
#[test]
fn a_rule_reading_the_record_number_sees_it_on_every_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = write(&repeated(300));
    std::fs::create_dir(dir.path().join("ticket")).unwrap();
    std::fs::write(dir.path().join("ticket/capture.pml"), bytes).unwrap();
    let rule = r#"rule my-seven-hundredth {
    title: "The 700th row"
    cause: access-denied
    strength: weak
    when: source == "procmon" and record == 700
    evidence: "row {record}: {operation} {path}"
    remediation: "None."
    example match procmon { process: "a", record: 700 }
    example nomatch procmon { process: "a", record: 7 }
}
"#;
    std::fs::write(dir.path().join("mine.rdt"), rule).unwrap();
    for (threads, text) in common::scan_with_rules(dir.path(), "mine.rdt", "ticket") {
        assert!(text.contains("row 700: "), "{threads} threads: {text}");
    }
}

/// Several captures read at once, more threads than cores: each later reader stops while the
/// ones before it are handed on, and the lanes it started must not hold every pool thread
/// while an earlier capture's lanes wait to start (with six captures at `--threads 6` that
/// stopped the run for good, some runs in two). Every read ends, the same as on one thread.
#[test]
fn several_captures_read_at_once_on_many_threads_all_end() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = (0..8u64)
        .map(|i| write_temp(&dir, &format!("c{i}.PML"), &write(&repeated(5000 + i))))
        .collect();
    let one = common::ingest_with(&paths, 1, Limits::default());
    assert_eq!(one.accounts.len(), 8);
    assert!(one.events.len() > 8 * 20 * 512, "many blocks per capture");
    for round in 0..4 {
        let (tx, rx) = std::sync::mpsc::channel();
        let paths = paths.clone();
        std::thread::spawn(move || {
            let _ = tx.send(common::ingest_with(&paths, 8, Limits::default()));
        });
        // A guard against a stopped run, not a timing: a read here takes well under a second.
        let many = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("round {round}: the read on 8 threads never ended"));
        assert_eq!(many.accounts, one.accounts, "round {round}");
        assert!(many.events == one.events, "round {round}: the events");
    }
}
