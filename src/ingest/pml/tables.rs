//! The tables events refer to: strings, processes (with their modules), and the hosts and ports
//! that name network endpoints. Each is read from its own region of the file, every index and
//! offset checked; what is wrong is collected as a problem and the entry is left empty rather
//! than the whole table lost.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::bytes::{Cur, Short, utf16};

/// A table's entry count that cannot fit in the table's bytes is refused, not allocated.
fn plausible(count: u32, entry_min: usize, region: usize) -> bool {
    (count as usize).saturating_mul(entry_min) <= region
}

/// The string table: every entry checked, each string decoded when first asked for. Only the
/// process table names strings, a few of the thousands a capture can hold, and decoding them
/// all was the longest part of opening a capture, on the reading thread before any event.
pub struct Strings<'r> {
    region: &'r [u8],
    /// How many entries the table holds (checked against the region's size).
    count: usize,
    /// The entries decoded so far, by index: the process table names a few of them, so
    /// nothing is kept per entry of the table (a crafted one of millions costs no memory).
    decoded: std::cell::RefCell<HashMap<usize, Arc<str>>>,
    /// The one empty string every empty or unreadable entry shares.
    empty: Arc<str>,
    /// UTF-16 bytes decoded so far, against [`Strings::budget`].
    spent: Cell<usize>,
    /// Entries read as empty because the budget was spent.
    over: Cell<u64>,
}

impl Strings<'_> {
    /// How many entries the table holds.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Where entry `i`'s UTF-16 text lies in the region; `None` when the entry points
    /// outside it.
    fn span(&self, i: usize) -> Option<std::ops::Range<usize>> {
        let mut c = Cur::new(self.region);
        c.seek(4 + i * 4).ok()?;
        let off = c.u32().ok()? as usize;
        c.seek(off).ok()?;
        let size = c.u32().ok()? as usize;
        let start = c.pos();
        c.take(size).ok()?;
        Some(start..start + size)
    }

    /// String `i` (empty when its entry points outside the table, or past the budget);
    /// `None` past the last.
    pub fn get(&self, i: usize) -> Option<Arc<str>> {
        if i >= self.count {
            return None;
        }
        if let Some(text) = self.decoded.borrow().get(&i) {
            return Some(Arc::clone(text));
        }
        let text = match self.span(i) {
            Some(range) if range.is_empty() => Arc::clone(&self.empty),
            Some(range) if self.spent.get().saturating_add(range.len()) <= self.budget() => {
                self.spent.set(self.spent.get() + range.len());
                Arc::from(utf16(&self.region[range]))
            }
            Some(_) => {
                self.over.set(self.over.get() + 1);
                Arc::clone(&self.empty)
            }
            None => Arc::clone(&self.empty),
        };
        self.decoded.borrow_mut().insert(i, Arc::clone(&text));
        Some(text)
    }

    /// The string every empty or unreadable entry reads as.
    pub fn empty(&self) -> Arc<str> {
        Arc::clone(&self.empty)
    }

    /// How many UTF-16 bytes all strings decoded may span together: the table's own size.
    /// Strings that do not overlap fit in it; entries that all point at one long string (a
    /// crafted capture) would otherwise each decode it again, memory growing with the number
    /// of entries, not with the file.
    fn budget(&self) -> usize {
        self.region.len()
    }

    /// Entries read as empty because the strings asked for before them had used up
    /// [`Strings::budget`].
    pub fn over_budget(&self) -> u64 {
        self.over.get()
    }
}

pub fn read_strings<'r>(region: &'r [u8], problems: &mut Vec<String>) -> Strings<'r> {
    let mut strings = Strings {
        region,
        count: 0,
        decoded: Default::default(),
        empty: Arc::from(""),
        spent: Cell::new(0),
        over: Cell::new(0),
    };
    let mut c = Cur::new(region);
    let Ok(count) = c.u32() else {
        problems.push("the string table is cut before its count".into());
        return strings;
    };
    if !plausible(count, 4, region.len()) {
        problems.push(format!(
            "the string table claims {count} strings, more than its {} bytes can hold: not read",
            region.len()
        ));
        return strings;
    }
    strings.count = count as usize;
    let bad = (0..strings.count)
        .filter(|&i| strings.span(i).is_none())
        .count();
    if bad > 0 {
        problems.push(format!(
            "{bad} of {count} strings in the string table point outside it: read as empty"
        ));
    }
    strings
}

/// One process of the process table, its strings resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub parent_pid: u32,
    pub authentication_id: u64,
    pub session: u32,
    pub virtualized: bool,
    pub is_64bit: bool,
    pub integrity: Arc<str>,
    pub user: Arc<str>,
    pub name: Arc<str>,
    pub image_path: Arc<str>,
    pub command_line: Arc<str>,
    pub company: Arc<str>,
    pub version: Arc<str>,
    pub description: Arc<str>,
    pub modules: u32,
}

/// Process table entries by the index events use.
pub type Processes = HashMap<u32, Arc<ProcessInfo>>;

/// Size of one module record after the process record.
fn module_size(wide: bool) -> usize {
    if wide { 0x40 } else { 0x34 }
}

pub fn read_processes(
    region: &[u8],
    wide: bool,
    strings: &Strings<'_>,
    problems: &mut Vec<String>,
) -> Processes {
    let mut table = Processes::new();
    let mut c = Cur::new(region);
    let Ok(count) = c.u32() else {
        problems.push("the process table is cut before its count".into());
        return table;
    };
    if !plausible(count, 8, region.len()) {
        problems.push(format!(
            "the process table claims {count} processes, more than its {} bytes can hold: not read",
            region.len()
        ));
        return table;
    }
    let mut bad_index = 0u64;
    let mut cut = 0u64;
    // Records read so far: start → end in the region.
    let mut claimed: std::collections::BTreeMap<usize, usize> = Default::default();
    let mut overlapping = 0u64;
    let offsets_at = 4 + count as usize * 4;
    for i in 0..count as usize {
        let mut string = |c: &mut Cur<'_>| -> Result<Arc<str>, Short> {
            let idx = c.u32()? as usize;
            Ok(match strings.get(idx) {
                Some(s) => s,
                None => {
                    bad_index += 1;
                    strings.empty()
                }
            })
        };
        let read = (|| -> Result<(u32, ProcessInfo), Short> {
            let mut c = Cur::new(region);
            c.seek(offsets_at + i * 4)?;
            let off = c.u32()? as usize;
            c.seek(off)?;
            let start = off;
            let inside = |claimed: &std::collections::BTreeMap<usize, usize>, end: usize| {
                claimed
                    .range(..end)
                    .next_back()
                    .is_some_and(|(_, &e)| e > start)
            };
            if inside(&claimed, start + 1) {
                overlapping += 1;
                return Err(Short);
            }
            let index = c.u32()?;
            let pid = c.u32()?;
            let parent_pid = c.u32()?;
            c.skip(4)?;
            let authentication_id = c.u64()?;
            let session = c.u32()?;
            c.skip(4 + 8 + 8)?;
            let virtualized = c.u32()? != 0;
            let is_64bit = c.u32()? != 0;
            let integrity = string(&mut c)?;
            let user = string(&mut c)?;
            let name = string(&mut c)?;
            let image_path = string(&mut c)?;
            let command_line = string(&mut c)?;
            let company = string(&mut c)?;
            let version = string(&mut c)?;
            let description = string(&mut c)?;
            c.skip(8)?;
            c.ptr(wide)?;
            let modules = c.u32()?;
            // The modules are not needed for events; check they are there.
            let modules_len = (modules as usize).saturating_mul(module_size(wide));
            if modules_len > c.left() {
                return Err(Short);
            }
            // Records lie side by side: one that overlaps a record already read is a crafted
            // table's (each would cost a process's memory for a few bytes of file).
            let end = c.pos() + modules_len;
            if inside(&claimed, end) {
                overlapping += 1;
                return Err(Short);
            }
            claimed.insert(start, end);
            Ok((
                index,
                ProcessInfo {
                    pid,
                    parent_pid,
                    authentication_id,
                    session,
                    virtualized,
                    is_64bit,
                    integrity,
                    user,
                    name,
                    image_path,
                    command_line,
                    company,
                    version,
                    description,
                    modules,
                },
            ))
        })();
        match read {
            Ok((index, info)) => {
                table.insert(index, Arc::new(info));
            }
            Err(Short) => cut += 1,
        }
    }
    // An overlapping record ends its read like a cut one; it is counted apart.
    let cut = cut - overlapping;
    if cut > 0 {
        problems.push(format!(
            "{cut} of {count} processes in the process table run outside it: their events have no process"
        ));
    }
    if overlapping > 0 {
        problems.push(format!(
            "{overlapping} of {count} processes in the process table overlap another's record: not read, their events have no process"
        ));
    }
    if bad_index > 0 {
        problems.push(format!(
            "{bad_index} process strings name an index outside the string table ({} strings): read as empty",
            strings.count()
        ));
    }
    let over = strings.over_budget();
    if over > 0 {
        problems.push(format!(
            "{over} process strings read as empty: the strings named before them already spanned the whole string table ({} bytes), so its entries overlap",
            strings.region.len()
        ));
    }
    table
}

/// Names for network endpoints, as the capture resolved them.
#[derive(Debug, Default)]
pub struct Endpoints {
    pub hosts: HashMap<[u8; 16], String>,
    pub ports: HashMap<(u16, bool), String>,
}

/// The longest host name kept: a DNS name is at most 253 characters. A longer entry is no name
/// Procmon resolved; each network event copies its host's name into its path, so one such
/// entry of megabytes made every event that large.
pub const MAX_HOST_NAME: usize = 253;
/// The longest port name kept: service names are at most 15 characters (RFC 6335).
pub const MAX_PORT_NAME: usize = 63;

pub fn read_endpoints(region: &[u8], problems: &mut Vec<String>) -> Endpoints {
    let mut e = Endpoints::default();
    let mut c = Cur::new(region);
    let (mut long_hosts, mut long_ports) = (0usize, 0usize);
    let read = (|| -> Result<(), Short> {
        let hosts = c.u32()?;
        if !plausible(hosts, 20, c.left()) {
            problems.push(format!(
                "the hosts table claims {hosts} hosts, more than its bytes can hold: not read"
            ));
            return Ok(());
        }
        for _ in 0..hosts {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(c.take(16)?);
            let len = c.u32()? as usize;
            let bytes = c.take(len)?;
            if len / 2 > MAX_HOST_NAME {
                long_hosts += 1;
                continue;
            }
            e.hosts.insert(ip, utf16(bytes));
        }
        let ports = c.u32()?;
        if !plausible(ports, 8, c.left()) {
            problems.push(format!(
                "the ports table claims {ports} ports, more than its bytes can hold: not read"
            ));
            return Ok(());
        }
        for _ in 0..ports {
            let number = c.u16()?;
            let tcp = c.u16()? != 0;
            let len = c.u32()? as usize;
            let bytes = c.take(len)?;
            if len / 2 > MAX_PORT_NAME {
                long_ports += 1;
                continue;
            }
            e.ports.insert((number, tcp), utf16(bytes));
        }
        Ok(())
    })();
    if read.is_err() {
        problems.push(
            "the hosts and ports table is cut: endpoints after the cut are shown as numbers".into(),
        );
    }
    if long_hosts > 0 {
        problems.push(format!(
            "{} in the hosts table longer than a DNS name can be ({MAX_HOST_NAME} characters): shown as addresses",
            crate::units::count(long_hosts as u64, "host name", "host names")
        ));
    }
    if long_ports > 0 {
        problems.push(format!(
            "{} in the ports table longer than {MAX_PORT_NAME} characters: shown as numbers",
            crate::units::count(long_ports as u64, "port name", "port names")
        ));
    }
    e
}

impl Endpoints {
    /// A host as Procmon shows it: its resolved name, else the address.
    pub fn host(&self, ip: &[u8; 16], v4: bool) -> String {
        let mut out = String::new();
        self.host_into(ip, v4, &mut out);
        out
    }

    /// [`host`](Self::host), appended to `out`.
    pub fn host_into(&self, ip: &[u8; 16], v4: bool, out: &mut String) {
        if let Some(name) = self.hosts.get(ip).filter(|n| !n.is_empty()) {
            out.push_str(name);
        } else if v4 {
            for (i, b) in ip[..4].iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(*b));
            }
        } else {
            // Procmon writes every group, without leading zeros and without `::` folding.
            for (i, g) in ip.chunks_exact(2).enumerate() {
                if i > 0 {
                    out.push(':');
                }
                let _ = write!(out, "{:x}", u16::from_be_bytes([g[0], g[1]]));
            }
        }
    }

    pub fn port(&self, port: u16, tcp: bool) -> String {
        let mut out = String::new();
        self.port_into(port, tcp, &mut out);
        out
    }

    /// [`port`](Self::port), appended to `out`.
    pub fn port_into(&self, port: u16, tcp: bool, out: &mut String) {
        match self.ports.get(&(port, tcp)) {
            Some(name) if !name.is_empty() => out.push_str(name),
            _ => out.push_str(itoa::Buffer::new().format(port)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host name longer than DNS allows, and a port name past the bound, are not names the
    /// capture resolved: their endpoints are shown as the address and number, and the account
    /// says how many.
    #[test]
    fn overlong_host_and_port_names_are_shown_as_numbers() {
        let wide = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let ip = |last: u8| {
            let mut ip = [0u8; 16];
            ip[..4].copy_from_slice(&[10, 0, 0, last]);
            ip
        };
        let mut region = 2u32.to_le_bytes().to_vec();
        for (last, name) in [
            (1u8, "rds01".to_string()),
            (2, "h".repeat(MAX_HOST_NAME + 1)),
        ] {
            region.extend(ip(last));
            region.extend((wide(&name).len() as u32).to_le_bytes());
            region.extend(wide(&name));
        }
        region.extend(2u32.to_le_bytes());
        for (port, name) in [
            (3389u16, "ms-wbt-server".to_string()),
            (80, "p".repeat(MAX_PORT_NAME + 1)),
        ] {
            region.extend(port.to_le_bytes());
            region.extend(1u16.to_le_bytes());
            region.extend((wide(&name).len() as u32).to_le_bytes());
            region.extend(wide(&name));
        }
        let mut problems = Vec::new();
        let e = read_endpoints(&region, &mut problems);
        assert_eq!(e.host(&ip(1), true), "rds01");
        assert_eq!(e.host(&ip(2), true), "10.0.0.2");
        assert_eq!(e.port(3389, true), "ms-wbt-server");
        assert_eq!(e.port(80, true), "80");
        assert_eq!(
            problems,
            [
                "1 host name in the hosts table longer than a DNS name can be (253 characters): shown as addresses",
                "1 port name in the ports table longer than 63 characters: shown as numbers"
            ]
        );
    }

    /// A string table of `entries` (offset, size, text) after the count and offsets.
    fn table(entries: &[(u32, u32, &str)]) -> Vec<u8> {
        let mut out = (entries.len() as u32).to_le_bytes().to_vec();
        let offsets_end = 4 + 4 * entries.len();
        let mut body = Vec::new();
        for &(off, size, text) in entries {
            out.extend(off.to_le_bytes());
            if !text.is_empty() || size == 0 {
                body.extend(size.to_le_bytes());
                body.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            }
        }
        assert_eq!(out.len(), offsets_end);
        out.extend(body);
        out
    }

    /// Entries are checked when the table is read (the problem names how many point outside
    /// it, as when every string was decoded up front); each string is decoded only when asked
    /// for, once.
    #[test]
    fn strings_checked_at_once_decoded_when_asked() {
        let first = 4 + 4 * 3;
        let mut region = table(&[(first as u32, 6, "abc"), (9_999, 0, ""), (0, 0, "")]);
        // The third entry: a size running past the end of the table.
        let third = region.len() as u32;
        region[12..16].copy_from_slice(&third.to_le_bytes());
        region.extend(1_000u32.to_le_bytes());
        region.extend([b'x', 0]);
        let mut problems = Vec::new();
        let strings = read_strings(&region, &mut problems);
        assert_eq!(
            problems,
            ["2 of 3 strings in the string table point outside it: read as empty"]
        );
        assert_eq!(strings.count(), 3);
        assert!(strings.decoded.borrow().is_empty());
        assert_eq!(strings.get(0).as_deref(), Some("abc"));
        assert_eq!(strings.get(1).as_deref(), Some(""));
        assert_eq!(strings.get(2).as_deref(), Some(""));
        assert_eq!(strings.get(3), None);
        let again = strings.get(0).unwrap();
        assert!(Arc::ptr_eq(&again, &strings.decoded.borrow()[&0]));
    }

    /// Entries that all point at one string are not each decoded again past what the table
    /// itself holds: memory follows the file, not the number of entries.
    #[test]
    fn overlapping_strings_decode_no_more_than_the_table_holds() {
        let text = "x".repeat(1000);
        let count = 50u32;
        let first = 4 + 4 * count;
        let mut region = count.to_le_bytes().to_vec();
        for _ in 0..count {
            region.extend(first.to_le_bytes());
        }
        region.extend(2000u32.to_le_bytes());
        region.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let mut problems = Vec::new();
        let strings = read_strings(&region, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let read: Vec<usize> = (0..count as usize)
            .map(|i| strings.get(i).unwrap().len())
            .collect();
        // The table is 2,204 bytes: one 2,000-byte string fits, a second does not.
        assert_eq!(read[0], 1000);
        assert!(read[1..].iter().all(|&n| n == 0), "{read:?}");
        assert_eq!(strings.over_budget(), u64::from(count) - 1);
        // Asked again, an entry answers as it did.
        assert_eq!(strings.get(0).unwrap().len(), 1000);
        assert_eq!(strings.over_budget(), u64::from(count) - 1);
    }
}
