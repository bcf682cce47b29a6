//! The event model: the one shape every input format is turned into, and the only thing the
//! rules see.
//!
//! An [`Event`] is either a Windows event-log record ([`WinEvent`], from `.evtx` or an event-log
//! XML export) or a Process Monitor row ([`ProcmonRow`]). Both carry where they came from (file
//! and record or row number) so that every finding can point back at its evidence. Field names
//! keep the case they had in the input; look-ups by name ignore case, as Windows does.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};

pub mod columns;
pub mod detail_text;
pub mod marks;
pub mod problem;
pub mod row_text;
pub mod shared_str;
pub use columns::{Columns, SharedColumns};
pub use detail_text::DetailText;
pub use marks::Marks;
pub use problem::{At, Problem};
pub use row_text::{Pairs, RowText};
pub use shared_str::SharedStr;

/// Which kind of input an event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Evtx,
    Procmon,
    /// A value from a `reg export` text file.
    Registry,
    /// An access rule from an ACL dump (`Get-Acl ... | Select -Expand Access`).
    Acl,
    /// A socket from a `netstat -ano[b]` listing.
    Netstat,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Evtx,
        Source::Procmon,
        Source::Registry,
        Source::Acl,
        Source::Netstat,
    ];

    /// The source a rule names (`"evtx"`, `"procmon"`, `"registry"`, `"acl"`, `"netstat"`),
    /// any case.
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Evtx => "evtx",
            Source::Procmon => "procmon",
            Source::Registry => "registry",
            Source::Acl => "acl",
            Source::Netstat => "netstat",
        }
    }
}

/// One normalized event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The file it was read from, as shown to the user (`ticket.zip!/logs/System.evtx`).
    pub file: Arc<str>,
    /// EVTX: the record id. Procmon: the 1-based data row number (the header is row 0).
    pub record: u64,
    /// UTC time, when known. Procmon CSV rows only get one once their local time is aligned;
    /// PML rows carry it.
    pub time: Option<Timestamp>,
    pub kind: EventKind,
    /// What the rules decided about it when ingest kept it ([`marks`]); empty when nothing
    /// was, as for every event made after keep.
    pub marks: Marks,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// Shared: the EVTX reader gives kept events with equal payloads one copy (a flood of
    /// identical events differs only in record id and time, held by the [`Event`]). A payload is
    /// never changed once built; to change one, `Arc::make_mut` gives an event its own copy.
    Win(Arc<WinEvent>),
    Procmon(Box<ProcmonRow>),
    Registry(Box<RegValue>),
    Acl(Box<AclEntry>),
    Socket(Box<Socket>),
}

impl Event {
    /// What an event holds in memory, estimated: the event itself and its texts and fields. An
    /// EVTX payload shared by a flood's events is counted for each of them: how many share it at
    /// a given moment depends on what the reading threads still hold, and the count must not
    /// (an event is counted the same when kept and when dropped, at any thread count).
    pub fn held_bytes(&self) -> u64 {
        let strings = |all: &[&String]| all.iter().map(|s| s.capacity()).sum::<usize>();
        let text = match &self.kind {
            EventKind::Win(w) => {
                std::mem::size_of::<WinEvent>()
                    + w.data.heap_bytes()
                    + w.activity_id.as_ref().map_or(0, String::capacity)
            }
            EventKind::Procmon(p) => std::mem::size_of::<ProcmonRow>() + p.heap_bytes(),
            EventKind::Registry(r) => {
                // The key, shared by its values, is counted for each, as an ACL's path is.
                std::mem::size_of_val(&**r)
                    + r.key.len()
                    + strings(&[&r.name, &r.value_type, &r.data, &r.computer])
            }
            // The object's path and access list, shared by its rules, are counted for each, as a
            // shared EVTX payload is.
            EventKind::Acl(a) => {
                std::mem::size_of_val(&**a)
                    + strings(&[&a.identity, &a.rights, &a.access, &a.computer])
                    + a.path.len()
                    + a.object_access.len()
            }
            EventKind::Socket(k) => {
                std::mem::size_of_val(&**k)
                    + strings(&[
                        &k.protocol,
                        &k.local_host,
                        &k.remote_host,
                        &k.state,
                        &k.process,
                        &k.service,
                        &k.computer,
                    ])
            }
        };
        (std::mem::size_of::<Event>() + text) as u64
    }

    pub fn source(&self) -> Source {
        match self.kind {
            EventKind::Win(_) => Source::Evtx,
            EventKind::Procmon(_) => Source::Procmon,
            EventKind::Registry(_) => Source::Registry,
            EventKind::Acl(_) => Source::Acl,
            EventKind::Socket(_) => Source::Netstat,
        }
    }

    pub fn win(&self) -> Option<&WinEvent> {
        match &self.kind {
            EventKind::Win(w) => Some(w),
            _ => None,
        }
    }

    pub fn procmon(&self) -> Option<&ProcmonRow> {
        match &self.kind {
            EventKind::Procmon(p) => Some(p),
            _ => None,
        }
    }
}

/// A Windows event-log record.
///
/// `channel`, `provider` and `computer` are shared: the records of one log repeat the same few
/// values, so the reader hands each event the same copy ([`Arc`]) instead of one string each
/// (a flood of tens of thousands of kept events held three allocations apiece for them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WinEvent {
    pub channel: Arc<str>,
    pub provider: Arc<str>,
    /// `EventID & 0xFFFF`: classic providers store 1058 as 0xC0000422 (docs/domain.md §3).
    pub event_id: u32,
    /// The `Qualifiers` attribute (or the high 16 bits of an EventID that carried them).
    pub qualifiers: Option<u32>,
    pub level: Option<u8>,
    pub computer: Arc<str>,
    /// `System/Correlation/@ActivityID`, braces and case as written.
    pub activity_id: Option<String>,
    /// `System/Execution/@ProcessID`, when present.
    pub process_id: Option<u32>,
    /// `EventData/Data[@Name]` by name; unnamed `Data` by 1-based position (`"1"`, `"2"`, ...);
    /// `UserData/...` leaves by element name; in document order.
    pub data: Fields,
}

/// A Process Monitor event-list row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcmonRow {
    /// `Time of Day` as the capture machine's local wall-clock time, when it could be read.
    pub time_of_day: Option<Time>,
    /// The date from `Date & Time`, when that column is present and readable.
    pub date: Option<Date>,
    /// Process name, operation and result: text shared with the other rows that hold the same
    /// (see [`SharedStr`]).
    pub process: SharedStr,
    pub pid: Option<u32>,
    pub operation: SharedStr,
    /// Empty means the operation was still pending when the capture stopped.
    pub result: SharedStr,
    /// `Path`, `Detail` as written, and `Detail` split into `Key: value` pairs (values may
    /// contain `, `), in one allocation: read them with [`path`](ProcmonRow::path),
    /// [`detail_raw`](ProcmonRow::detail_raw) and [`detail`](ProcmonRow::detail).
    pub text: RowText,
    /// Every other column, by its header name (`User`, `Command Line`, `Image Path`, ...); a
    /// PML row shares its process's columns with the process's other rows.
    pub columns: Columns,
    /// The computer that captured it, when the log says (a PML header does; a CSV does not).
    pub computer: Option<Arc<str>>,
}

impl ProcmonRow {
    pub fn path(&self) -> &str {
        self.text.path()
    }

    /// `Detail` as written.
    pub fn detail_raw(&self) -> &str {
        self.text.detail_raw()
    }

    /// `Detail` split into `Key: value` pairs.
    pub fn detail(&self) -> Pairs<'_> {
        self.text.detail()
    }

    /// For `TCP`/`UDP` operations: the parsed `local:port -> remote:port` path.
    pub fn network(&self) -> Option<NetPath<'_>> {
        self.text.network()
    }

    /// Bytes the row's texts and fields hold on the heap (their capacity).
    pub fn heap_bytes(&self) -> usize {
        [&self.process, &self.operation, &self.result]
            .iter()
            .map(|s| s.heap_bytes())
            .sum::<usize>()
            + self.text.heap_bytes()
            + self.columns.heap_bytes()
    }
}

/// One value (or a deletion) from a `reg export` text file: configuration, a lasting state with
/// no time of its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegValue {
    /// The key as written (`HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\...`), shared by the
    /// values read under one key line: a key may hold thousands of values, and a copy each made
    /// a long key line cost its length once per value.
    pub key: Arc<str>,
    /// The value name; empty for the key's default value and for a deleted key.
    pub name: String,
    /// `REG_SZ`, `REG_DWORD`, ..., `REG_NONE`; `deleted` for `"x"=-`, `deleted-key` for `[-KEY]`.
    pub value_type: String,
    /// Numbers in decimal, strings as text, multi-strings one per line, binary as hex digits.
    pub data: String,
    /// The computer the export came from, from the bundle's file or folder names.
    pub computer: String,
}

/// One access rule of an ACL dump.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AclEntry {
    /// The object the rule is on (a file, folder or registry key), as the dump names it:
    /// shared by the object's rules.
    pub path: Arc<str>,
    /// `IdentityReference` (`NT AUTHORITY\NETWORK SERVICE`).
    pub identity: String,
    /// `FileSystemRights` / `RegistryRights` as written (`Read, Synchronize`).
    pub rights: String,
    /// `Allow` or `Deny`.
    pub access: String,
    pub inherited: bool,
    /// This rule's 1-based position in the object's access list (so that a rule about the
    /// whole object can match once, on entry 1).
    pub entry: u32,
    /// Every rule of the object, `identity: Allow|Deny rights` joined by `; `: what a rule
    /// needs to see that an identity has no entry at all. Shared by the object's rules: one
    /// copy per rule made a dump of N rules hold N² bytes.
    pub object_access: Arc<str>,
    /// The computer the dump came from, from the bundle's file or folder names.
    pub computer: String,
}

/// One socket of a `netstat -ano[b]` listing: a snapshot taken when the bundle was collected,
/// with no time of its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Socket {
    /// `TCP` or `UDP` (IPv6 sockets too: their addresses say so).
    pub protocol: String,
    /// The local address without its port (`0.0.0.0`, `::`, brackets dropped).
    pub local_host: String,
    pub local_port: Option<u16>,
    /// The foreign address without its port (`*` for a UDP socket).
    pub remote_host: String,
    /// `0` for a listening or bound TCP socket; `None` for `*`.
    pub remote_port: Option<u16>,
    /// As netstat printed it, in the collecting machine's language (`LISTENING`,
    /// `ESTABLISHED`, `BOUND` with `-q`); empty for UDP.
    pub state: String,
    pub pid: Option<u32>,
    /// The owning executable (`-b`: `svchost.exe` from `[svchost.exe]`); empty when netstat
    /// could not tell or was run without `-b`.
    pub process: String,
    /// The service the socket belongs to (`-b`: the line before the executable, `TermService`).
    pub service: String,
    /// The computer the listing came from, from the bundle's file or folder names.
    pub computer: String,
}

impl Socket {
    /// `host:port` as netstat writes an end: an IPv6 host in brackets, `*` for no port.
    pub fn end(host: &str, port: Option<u16>) -> String {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        match port {
            Some(p) => format!("{host}:{p}"),
            None => format!("{host}:*"),
        }
    }
}

/// A Procmon network path: `local:port -> remote:port`, its hosts pieces of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetPath<'a> {
    pub local_host: &'a str,
    /// Numeric port, service names mapped (`ms-wbt-server` = 3389); `None` when unknown.
    pub local_port: Option<u16>,
    pub remote_host: &'a str,
    pub remote_port: Option<u16>,
}

/// Named string fields in input order, looked up without regard to case.
///
/// Every name and value lives in one string, one after the other, with one span per pair: a
/// field costs no allocation of its own. An event holds tens of fields (a Procmon row's 20
/// columns, its detail pairs, an event's data), and one `String` each made the allocator the
/// larger part of reading a Procmon capture.
#[derive(Clone, Default)]
pub struct Fields {
    /// The names and values, each pair's name then its value.
    text: String,
    /// Per pair: where its name ends and its value starts, and where its value ends (the next
    /// pair's name starts there).
    spans: Vec<(usize, usize)>,
}

impl Fields {
    /// Room for `pairs` fields of `bytes` bytes of names and values in all.
    pub fn with_capacity(pairs: usize, bytes: usize) -> Fields {
        Fields {
            text: String::with_capacity(bytes),
            spans: Vec::with_capacity(pairs),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        self.text.push_str(name.as_ref());
        let mid = self.text.len();
        self.text.push_str(value.as_ref());
        self.spans.push((mid, self.text.len()));
    }

    /// A field whose value is `value` as displayed, written straight into the fields' text.
    pub fn push_display(&mut self, name: &str, value: impl std::fmt::Display) {
        use std::fmt::Write as _;
        self.text.push_str(name);
        let mid = self.text.len();
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{value}");
        self.spans.push((mid, self.text.len()));
    }

    /// Append every field of `other`, in order (one copy of its text, not one per field).
    pub fn extend_from(&mut self, other: &Fields) {
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.spans.extend(
            other
                .spans
                .iter()
                .map(|&(mid, end)| (base + mid, base + end)),
        );
    }

    /// The field at `index`.
    pub fn at(&self, index: usize) -> Option<(&str, &str)> {
        let &(mid, end) = self.spans.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.spans[i].1);
        Some((&self.text[start..mid], &self.text[mid..end]))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        let mut start = 0;
        self.spans.iter().map(move |&(mid, end)| {
            let pair = (&self.text[start..mid], &self.text[mid..end]);
            start = end;
            pair
        })
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Room for `pairs` more fields of `bytes` more bytes.
    pub fn reserve(&mut self, pairs: usize, bytes: usize) {
        self.text.reserve(bytes);
        self.spans.reserve(pairs);
    }

    /// No fields, the room kept.
    pub fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.spans.capacity() * std::mem::size_of::<(usize, usize)>()
    }

    /// Bytes of all names and values together.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Fields {
        let mut fields = Fields::default();
        for (k, v) in pairs {
            fields.push(k, v);
        }
        fields
    }
}

/// Equal when the same names and values come in the same order.
impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Fields {}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// How far a file could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Read to the end with no error.
    Ok,
    /// Read, but some records failed or the file is damaged: what could be read was analysed.
    Partial,
    /// Recognised but nothing could be read.
    Failed,
    /// Not an input this tool reads (with the reason in `problems`).
    Skipped,
}

/// The format a file was recognised as (by content, never by extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    Evtx,
    ProcmonCsv,
    EventXml,
    ProcmonPml,
    ProcmonStack,
    EventViewerCsv,
    /// A `reg export` text file.
    RegExport,
    /// A PowerShell ACL listing (`Get-Acl`).
    AclDump,
    /// A `netstat -ano[b]` listing.
    NetstatListing,
    /// A certificate store listing (the collector's certificate CSV, a `certutil` dump).
    CertListing,
    /// A file of a collector's bundle (TSS, MSRD-Collect) that is not read: a trace, a report.
    Collected,
    Zip,
    Unknown,
    Empty,
}

/// The per-file account every report shows: what was read, how far, and what was wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAccount {
    pub file: String,
    pub format: FileFormat,
    pub events: u64,
    pub errors: u64,
    pub status: FileStatus,
    /// Changed only through the methods below, so that a status and its reason go together.
    problems: Vec<Problem>,
    /// Procmon only: rows whose `Time of Day` could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times_parsed: Option<u64>,
}

impl FileAccount {
    pub fn new(file: impl Into<String>, format: FileFormat) -> Self {
        FileAccount {
            file: file.into(),
            format,
            events: 0,
            errors: 0,
            status: FileStatus::Ok,
            problems: Vec::new(),
            times_parsed: None,
        }
    }

    /// A file that is not analysed at all, with why.
    pub fn skipped(file: impl Into<String>, format: FileFormat, why: impl Into<String>) -> Self {
        let mut account = FileAccount::new(file, format);
        account.skip(why);
        account
    }

    /// A file that could not be read at all, with why.
    pub fn failed(file: impl Into<String>, format: FileFormat, why: Problem) -> Self {
        let mut account = FileAccount::new(file, format);
        account.fail(why);
        account
    }

    /// The problems, in the order they were found.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Each problem as the text a report shows.
    pub fn problem_texts(&self) -> Vec<String> {
        self.problems.iter().map(ToString::to_string).collect()
    }

    /// The problems as one line of text, `; ` between them.
    pub fn problems_text(&self) -> String {
        join(self.problems.iter())
    }

    /// The problems that cost data or explain a status (notes left out), as one line.
    pub fn problems_text_without_notes(&self) -> String {
        join(self.problems.iter().filter(|p| !p.is_note()))
    }

    /// Worth knowing, nothing lost: the status stays.
    pub fn note(&mut self, text: impl Into<String>) {
        self.problems.push(Problem::Note(text.into()));
    }

    /// Not an input this tool reads.
    pub fn skip(&mut self, why: impl Into<String>) {
        self.status = FileStatus::Skipped;
        self.problems.push(Problem::Skipped(why.into()));
    }

    /// Nothing of the file could be read.
    pub fn fail(&mut self, why: Problem) {
        self.status = FileStatus::Failed;
        self.problems.push(why);
    }

    /// A file not read because the same input was already read.
    pub fn duplicate(file: impl Into<String>, format: FileFormat, why: impl Into<String>) -> Self {
        let mut account = FileAccount::new(file, format);
        account.status = FileStatus::Skipped;
        account.problems.push(Problem::Duplicate(why.into()));
        account
    }

    /// Record a problem that cost data: the file becomes `partial` (or `failed` if nothing was
    /// read at all, which [`FileAccount::finish`] decides).
    pub fn damaged(&mut self, problem: impl Into<String>) {
        self.lost(Problem::Damaged(problem.into()));
    }

    /// A typed problem that cost data (a record error, a refusal, damage).
    pub fn lost(&mut self, problem: Problem) {
        self.problems.push(problem);
        if self.status == FileStatus::Ok {
            self.status = FileStatus::Partial;
        }
    }

    /// A summary of problems counted but not listed (`... and 12 more record errors`): the
    /// status is already set by the listed ones.
    pub fn more_not_listed(&mut self, text: impl Into<String>) {
        self.problems.push(Problem::Damaged(text.into()));
    }

    /// Data was lost but the problem is not listed (the list is capped).
    pub fn damaged_silently(&mut self) {
        if self.status == FileStatus::Ok {
            self.status = FileStatus::Partial;
        }
    }

    /// Settle the status once reading is over.
    pub fn finish(&mut self) {
        if self.status == FileStatus::Partial && self.events == 0 {
            self.status = FileStatus::Failed;
        }
    }
}

fn join<'a>(problems: impl Iterator<Item = &'a Problem>) -> String {
    let mut text = String::new();
    for p in problems {
        if !text.is_empty() {
            text.push_str("; ");
        }
        use std::fmt::Write as _;
        let _ = write!(text, "{p}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::Fields;

    #[test]
    fn fields_keep_order_case_and_empty_names_and_values() {
        let mut f = Fields::default();
        f.push("Desired Access", "Generic Read");
        f.push("", "free text");
        f.push("Empty", "");
        f.push("desired access", "second");
        assert_eq!(f.len(), 4);
        assert_eq!(f.get("DESIRED ACCESS"), Some("Generic Read"));
        assert_eq!(f.get(""), Some("free text"));
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.get("missing"), None);
        let pairs: Vec<(&str, &str)> = f.iter().collect();
        assert_eq!(
            pairs,
            [
                ("Desired Access", "Generic Read"),
                ("", "free text"),
                ("Empty", ""),
                ("desired access", "second")
            ]
        );
        assert_eq!(f.at(2), Some(("Empty", "")));
        assert_eq!(f.at(4), None);
    }

    #[test]
    fn fields_compare_by_pairs_not_by_where_the_text_splits() {
        let a: Fields = [("ab", "c")].into_iter().collect();
        let b: Fields = [("a", "bc")].into_iter().collect();
        assert_ne!(a, b);
        assert_eq!(a, [("ab", "c")].into_iter().collect());
        assert_eq!(format!("{a:?}"), r#"[("ab", "c")]"#);
    }

    #[test]
    fn fields_appended_from_another_set_keep_their_pairs() {
        let mut f: Fields = [("A", "1")].into_iter().collect();
        let more: Fields = [("B", ""), ("", "2"), ("C", "33")].into_iter().collect();
        f.extend_from(&more);
        f.extend_from(&Fields::default());
        f.push("D", "4");
        let pairs: Vec<(&str, &str)> = f.iter().collect();
        assert_eq!(
            pairs,
            [("A", "1"), ("B", ""), ("", "2"), ("C", "33"), ("D", "4")]
        );
        assert_eq!(f.at(3), Some(("C", "33")));
    }
}
