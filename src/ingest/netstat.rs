//! `netstat -ano[b][q]` listings: MSRD-Collect's `<HOST>_Netstat.txt` (`netstat -anobq`), TSS's
//! `NetStat_Info*.txt` (several netstat commands appended: `-anob`, `-r`, `-es`, `-nato`, ...).
//! Each socket becomes a `netstat` event ([`Socket`]): what the collecting machine had open when
//! the bundle was made, a lasting state with no time. The one check the domain supports is who
//! holds the RDP port (a program other than TermService's svchost.exe: the listener cannot
//! bind, or a client reaching the port reaches something else).
//!
//! netstat words its headers and TCP states in the machine's language; the lines are read by
//! their shape, not their words: `TCP|UDP  local:port  foreign:port  [state...]  [pid]
//! [offload state]`, the state kept as printed. With `-b`, the lines after a socket name its
//! owner: `[svchost.exe]`, with the service (`TermService`) on the line before it; a line
//! saying the owner could not be obtained leaves it empty. A socket listed twice (the same
//! socket in two of the appended commands) is one event, with the owner either listing gave.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::text_lines::{ends_mid_line, lines};
use super::{Emit, LineErrors, bundle};
use crate::model::{Event, EventKind, FileAccount, Socket};

/// Lines looked at to recognise a listing.
const SNIFF_LINES: usize = 200;

/// Is this text a netstat listing? A socket line after a `Proto` header, or two socket lines.
pub fn looks_like(text: &str) -> bool {
    let mut header = false;
    let mut sockets = 0;
    for line in lines(text.trim_start_matches('\u{feff}')).take(SNIFF_LINES) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some(w) if w.eq_ignore_ascii_case("Proto") => header = true,
            Some(w)
                if protocol(w).is_some() && words.next().is_some_and(|e| endpoint(e).is_some()) =>
            {
                sockets += 1;
                if header || sockets >= 2 {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// `TCP` or `UDP`, as netstat spells them in every language.
fn protocol(word: &str) -> Option<&'static str> {
    if word.eq_ignore_ascii_case("TCP") {
        Some("TCP")
    } else if word.eq_ignore_ascii_case("UDP") {
        Some("UDP")
    } else {
        None
    }
}

/// The longest host an endpoint may name: a DNS name (netstat without `-n`) is at most 253.
const HOST_CHARS: usize = 255;

/// `0.0.0.0:3389`, `[::]:3389`, `[fe80::1%4]:3389`, `*:*`: the host (brackets dropped) and the
/// port (`None` for `*`). Without `-n`, netstat names a port as Windows' services file does
/// (`0.0.0.0:epmap`, `RDS01:0`): a name is read as the port it stands for, through the same
/// table as Process Monitor's names; one the table does not hold is no port.
fn endpoint(word: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = word.rsplit_once(':')?;
    let port = match port {
        "*" => None,
        p if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        p => Some(super::detail::port_number(p)?),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.len() > HOST_CHARS {
        return None;
    }
    Some((host, port))
}

/// A word shaped like an address (something, a colon, something): every word [`endpoint`]
/// reads, and those it may still refuse (a port out of range, `70000`, `-1`, `0x10`; a name
/// the services table does not hold; a host of megabytes).
fn address_like(word: &str) -> bool {
    word.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && !port.is_empty())
}

/// Words read after a socket's addresses: a TCP state (one or two words in some languages),
/// the pid (`-o`) and an offload state (`-t`) are at most four.
const MAX_AFTER_ADDRESSES: usize = 8;

/// What is wrong with a line that starts like a socket and is not one.
#[derive(Debug, Clone, PartialEq)]
pub enum SocketFault {
    /// The local address looks like one and is not a `host:port` (the port out of range, not
    /// a number): the line had been passed over as if it were another command's output.
    LocalAddress(String),
    /// The foreign address is not `host:port`.
    ForeignAddress(String),
    /// More words after the addresses than a socket line has: its pid and state had been
    /// read from its first few words only.
    Words,
    /// A pid that is not a 32-bit number: it had been dropped, the socket read as one with
    /// no pid.
    Pid(String),
}

impl std::fmt::Display for SocketFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketFault::LocalAddress(w) => write!(
                f,
                "a socket line whose local address is not host:port with a port of 0 to 65535 ({w})"
            ),
            SocketFault::ForeignAddress(w) => write!(
                f,
                "a socket line whose foreign address is not host:port ({w})"
            ),
            SocketFault::Words => write!(
                f,
                "a socket line with more than {MAX_AFTER_ADDRESSES} words after its addresses (a state, a pid and an offload state are at most four): not read"
            ),
            SocketFault::Pid(w) => {
                write!(f, "a socket line whose pid is not a 32-bit number ({w})")
            }
        }
    }
}

/// Sockets remembered to fold repeats: a real listing holds a few thousand; past these, later
/// sockets are not checked (and the account says how many).
const REMEMBERED: usize = 65_536;

/// What parsing a listing found besides its sockets (handed out one by one as they are read:
/// a listing of millions of lines holds one at a time).
#[derive(Debug, Default)]
pub struct Listing {
    pub errors: LineErrors<SocketFault>,
    /// Sockets listed again (by another of the appended commands), read once.
    pub repeated: u64,
    /// Sockets past [`REMEMBERED`], not checked for repeats.
    pub unchecked: u64,
    /// The text ends inside a line (no line break after its last words): a listing cut short.
    pub cut: bool,
}

/// Parse a listing's text, handing each socket (with the line it was listed on) to `each` once
/// its owner lines are read, in the order listed.
pub fn parse(text: &str, mut each: impl FnMut(u64, Socket)) -> Listing {
    let mut out = Listing::default();
    // The same socket in two listings: protocol, both ends, state and pid, hashed (SipHash with
    // fixed keys: the same on every run).
    let mut seen: HashSet<u64> = HashSet::new();
    // The socket the owner lines that follow belong to, and a service line waiting for the
    // `[program]` line that confirms it.
    let mut current: Option<(u64, Socket)> = None;
    let mut service: Option<String> = None;
    let text = text.trim_start_matches('\u{feff}');
    out.cut = ends_mid_line(text);
    for (n, line) in lines(text).enumerate() {
        let line_no = n as u64 + 1;
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else {
            if let Some((l, s)) = current.take() {
                each(l, s);
            }
            service = None;
            continue;
        };
        let second = words.next();
        if let Some(proto) = protocol(first)
            && let Some(local) = second.filter(|w| address_like(w))
        {
            if let Some((l, s)) = current.take() {
                each(l, s);
            }
            service = None;
            let Some((local_host, local_port)) = endpoint(local) else {
                out.errors.push(
                    line_no,
                    SocketFault::LocalAddress(super::clip_chars(local, 40)),
                );
                continue;
            };
            let third = words.next();
            let Some((remote_host, remote_port)) = third.and_then(endpoint) else {
                let what = third.unwrap_or("nothing");
                out.errors.push(
                    line_no,
                    SocketFault::ForeignAddress(super::clip_chars(what, 40)),
                );
                continue;
            };
            // After the addresses: a TCP state (words, in the machine's language), the pid
            // (with -o), an offload state (with -t).
            let rest: Vec<&str> = words.by_ref().take(MAX_AFTER_ADDRESSES).collect();
            if words.next().is_some() {
                out.errors.push(line_no, SocketFault::Words);
                continue;
            }
            let pid_at = rest
                .iter()
                .rposition(|w| w.bytes().all(|b| b.is_ascii_digit()));
            let pid = match pid_at {
                None => None,
                Some(i) => match rest[i].parse::<u32>() {
                    Ok(pid) => Some(pid),
                    Err(_) => {
                        let word = super::clip_chars(rest[i], 40);
                        out.errors.push(line_no, SocketFault::Pid(word));
                        continue;
                    }
                },
            };
            let state = match (proto, pid_at) {
                ("UDP", _) => String::new(),
                (_, Some(i)) => rest[..i].join(" "),
                (_, None) => rest.join(" "),
            };
            let mut key = std::hash::DefaultHasher::new();
            (
                proto,
                second.map(str::to_ascii_lowercase),
                third.map(str::to_ascii_lowercase),
                &state,
                pid,
            )
                .hash(&mut key);
            let key = key.finish();
            if seen.contains(&key) {
                out.repeated += 1;
                continue;
            }
            if seen.len() < REMEMBERED {
                seen.insert(key);
            } else {
                out.unchecked += 1;
            }
            current = Some((
                line_no,
                Socket {
                    protocol: proto.to_string(),
                    local_host: local_host.to_string(),
                    local_port,
                    remote_host: remote_host.to_string(),
                    remote_port,
                    state,
                    pid,
                    ..Socket::default()
                },
            ));
            continue;
        }
        let Some((_, socket)) = current.as_mut() else {
            continue;
        };
        let trimmed = line.trim();
        if let Some(program) = trimmed
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .filter(|p| !p.is_empty())
        {
            socket.process = super::clip_chars(program, 260);
            socket.service = service.take().unwrap_or_default();
            if let Some((l, s)) = current.take() {
                each(l, s);
            }
        } else if second.is_none() {
            service = Some(super::clip_chars(first, 256));
        } else {
            // "Can not obtain ownership information", in the machine's language; or another
            // command's output: the owner stays unknown.
            service = None;
            if let Some((l, s)) = current.take() {
                each(l, s);
            }
        }
    }
    if let Some((l, s)) = current.take() {
        each(l, s);
    }
    out
}

/// Read a netstat listing into `netstat` events.
pub fn read_netstat(bytes: Vec<u8>, emit: &mut Emit<'_>, account: &mut FileAccount) {
    let text = bundle::collector_text(bytes, account);
    let computer = bundle::host_from_name(emit.file).unwrap_or_default();
    let file: Arc<str> = Arc::clone(emit.file);
    let mut batch = crate::ingest::Batch::default();
    let mut events = 0;
    let listing = parse(&text, |line, mut socket| {
        events += 1;
        socket.computer = computer.clone();
        let event = Event {
            file: Arc::clone(&file),
            record: line,
            time: None,
            kind: EventKind::Socket(Box::new(socket)),
            marks: Default::default(),
        };
        emit.offer(&mut batch, event);
    });
    account.events += events;
    if listing.repeated > 0 {
        account.note(format!(
            "{} sockets listed again by a later netstat command were read once",
            listing.repeated
        ));
    }
    if listing.cut {
        account.note(
            "the last line has no line break: the listing may be cut short there (its last line was read as it is)",
        );
    }
    if listing.unchecked > 0 {
        account.note(format!(
            "{} sockets past the first {REMEMBERED} were not checked for repeats",
            listing.unchecked
        ));
    }
    super::count_line_errors(account, &listing.errors);
    emit.flush(batch);
    account.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sockets of a listing, with what else it found.
    fn parsed(text: &str) -> (Vec<(u64, Socket)>, Listing) {
        let mut sockets = Vec::new();
        let listing = parse(text, |line, s| sockets.push((line, s)));
        (sockets, listing)
    }

    /// What `netstat -anobq` prints (MSRD-Collect), owner lines included.
    const ANOB: &str = "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1012\r\n  RpcSs\r\n [svchost.exe]\r\n  TCP    0.0.0.0:445            0.0.0.0:0              LISTENING       4\r\n Can not obtain ownership information\r\n  TCP    0.0.0.0:3389           0.0.0.0:0              LISTENING       1164\r\n  TermService\r\n [svchost.exe]\r\n  TCP    10.0.0.5:3389          10.0.0.9:50211         ESTABLISHED     1164\r\n  TermService\r\n [svchost.exe]\r\n  TCP    [::]:3389              [::]:0                 LISTENING       2208\r\n [rdpproxy.exe]\r\n  UDP    0.0.0.0:3389           *:*                                    1164\r\n  TermService\r\n [svchost.exe]\r\n";

    /// Line, protocol, local host and port, state, pid, program, service.
    type Row<'a> = (
        u64,
        &'a str,
        &'a str,
        Option<u16>,
        &'a str,
        Option<u32>,
        &'a str,
        &'a str,
    );

    #[test]
    fn reads_sockets_with_their_owners() {
        assert!(looks_like(ANOB));
        let (sockets, l) = parsed(ANOB);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        let got: Vec<Row<'_>> = sockets
            .iter()
            .map(|(n, s)| {
                (
                    *n,
                    s.protocol.as_str(),
                    s.local_host.as_str(),
                    s.local_port,
                    s.state.as_str(),
                    s.pid,
                    s.process.as_str(),
                    s.service.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    5,
                    "TCP",
                    "0.0.0.0",
                    Some(135),
                    "LISTENING",
                    Some(1012),
                    "svchost.exe",
                    "RpcSs"
                ),
                (8, "TCP", "0.0.0.0", Some(445), "LISTENING", Some(4), "", ""),
                (
                    10,
                    "TCP",
                    "0.0.0.0",
                    Some(3389),
                    "LISTENING",
                    Some(1164),
                    "svchost.exe",
                    "TermService"
                ),
                (
                    13,
                    "TCP",
                    "10.0.0.5",
                    Some(3389),
                    "ESTABLISHED",
                    Some(1164),
                    "svchost.exe",
                    "TermService"
                ),
                (
                    16,
                    "TCP",
                    "::",
                    Some(3389),
                    "LISTENING",
                    Some(2208),
                    "rdpproxy.exe",
                    ""
                ),
                (
                    18,
                    "UDP",
                    "0.0.0.0",
                    Some(3389),
                    "",
                    Some(1164),
                    "svchost.exe",
                    "TermService"
                ),
            ]
        );
        let udp = &sockets[5].1;
        assert_eq!((udp.remote_host.as_str(), udp.remote_port), ("*", None));
        let tcp = &sockets[3].1;
        assert_eq!(
            (tcp.remote_host.as_str(), tcp.remote_port),
            ("10.0.0.9", Some(50211))
        );
    }

    /// TSS appends several commands: `-anob`, the route table, statistics, `-nato` (an offload
    /// column after the pid). A socket listed again is read once, and a German listing's
    /// words are kept as printed.
    #[test]
    fn appended_listings_and_other_languages() {
        let text = "  Proto  Lokale Adresse         Remoteadresse          Status           PID\r\n  TCP    0.0.0.0:3389           0.0.0.0:0              ABHÖREN         1164\r\n  TermService\r\n [svchost.exe]\r\n\r\nIPv4-Routentabelle\r\n===========\r\nTCP Statistics for IPv4\r\n  Proto  Lokale Adresse         Remoteadresse          Status           PID      Abladestatus\r\n  TCP    0.0.0.0:3389           0.0.0.0:0              ABHÖREN         1164     InHost\r\n  TCP    0.0.0.0:5985           0.0.0.0:0              ABHÖREN         4        InHost\r\n";
        assert!(looks_like(text));
        let (sockets, l) = parsed(text);
        assert_eq!(l.repeated, 1);
        assert_eq!(sockets.len(), 2);
        let (line, rdp) = &sockets[0];
        assert_eq!(*line, 2);
        assert_eq!(
            (
                rdp.state.as_str(),
                rdp.pid,
                rdp.process.as_str(),
                rdp.service.as_str()
            ),
            ("ABHÖREN", Some(1164), "svchost.exe", "TermService")
        );
        assert_eq!(sockets[1].1.process, "");
    }

    /// A service-like word not confirmed by a `[program]` line is no owner; a line that
    /// starts like a socket with no foreign address is an error naming it.
    #[test]
    fn owners_need_their_program_line_and_bad_sockets_are_named() {
        let text = "  Proto  Local Address  Foreign Address  State  PID\r\n  TCP    0.0.0.0:3389   0.0.0.0:0   LISTENING   1164\r\n==========\r\n  TCP    0.0.0.0:3390   garbage   LISTENING   7\r\n";
        let (sockets, l) = parsed(text);
        assert_eq!(sockets.len(), 1);
        let owner = (sockets[0].1.process.as_str(), sockets[0].1.service.as_str());
        assert_eq!(owner, ("", ""));
        assert_eq!(l.errors.count(), 1);
        assert_eq!(l.errors[0].0, 4);
        assert!(
            l.errors[0].1.to_string().contains("garbage"),
            "{}",
            l.errors[0].1
        );
    }

    /// Without `-n`, ports are named as Windows' services file names them: read as their
    /// numbers; a name the table does not hold makes the line an error, never a socket.
    #[test]
    fn ports_named_without_n_are_read_as_numbers() {
        let text = "  Proto  Local Address          Foreign Address        State\r\n  TCP    0.0.0.0:epmap          RDS01:0                LISTENING\r\n  TCP    0.0.0.0:ms-wbt-server  RDS01:0                LISTENING\r\n  TCP    10.0.0.5:MS-WBT-SERVER ws-alice:50211         ESTABLISHED\r\n  TCP    0.0.0.0:no-such-name   RDS01:0                LISTENING\r\n";
        assert!(looks_like(text));
        let (sockets, l) = parsed(text);
        let got: Vec<_> = sockets
            .iter()
            .map(|(_, s)| (s.local_port, s.remote_host.as_str(), s.remote_port))
            .collect();
        assert_eq!(
            got,
            [
                (Some(135), "RDS01", Some(0)),
                (Some(3389), "RDS01", Some(0)),
                (Some(3389), "ws-alice", Some(50211)),
            ]
        );
        let errors: Vec<String> = l.errors.iter().map(|(n, e)| format!("{n}: {e}")).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("5: ") && errors[0].contains("no-such-name"),
            "{errors:?}"
        );
    }

    /// A listing whose lines end in a CR alone is read line by line.
    #[test]
    fn lines_end_at_any_line_break() {
        let text = "  TCP    0.0.0.0:135    0.0.0.0:0    LISTENING    1012\r  TCP    0.0.0.0:3389   0.0.0.0:0    LISTENING    2208\r [x.exe]\r";
        assert!(looks_like(text));
        let (sockets, l) = parsed(text);
        assert!(l.errors.is_empty() && !l.cut, "{l:?}");
        let got: Vec<_> = sockets
            .iter()
            .map(|(n, s)| {
                (
                    *n,
                    s.local_port,
                    s.state.as_str(),
                    s.pid,
                    s.process.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1, Some(135), "LISTENING", Some(1012), ""),
                (2, Some(3389), "LISTENING", Some(2208), "x.exe")
            ]
        );
    }

    /// A socket line whose local address, pid or count of words is not a socket's is an error
    /// naming it, never passed over; a host of more than 255 characters is not a host.
    #[test]
    fn bad_socket_lines_are_errors() {
        let long = "1".repeat(300);
        let many = "x ".repeat(20);
        let text = format!(
            "  TCP    0.0.0.0:70000   0.0.0.0:0   LISTENING   5\n  TCP    0.0.0.0:-1   0.0.0.0:0   LISTENING   5\n  UDP    [::]:0x10   *:*   5\n  TCP    0.0.0.0:1   0.0.0.0:0   LISTENING   99999999999\n  TCP    0.0.0.0:2   0.0.0.0:0   {many}5\n  TCP    0.0.0.0:3   {long}:0   LISTENING   5\n  TCP Statistics for IPv4\n  TCP    [fe80::1%12]:3389   [::]:0   LISTENING   7\n"
        );
        let (sockets, l) = parsed(&text);
        assert_eq!(l.errors.count(), 6, "{l:?}");
        let lines: Vec<u64> = l.errors.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5]);
        assert!(l.errors[0].1.to_string().contains("(0.0.0.0:70000)"));
        assert!(l.errors[2].1.to_string().contains("([::]:0x10)"));
        assert!(l.errors[3].1.to_string().contains("(99999999999)"));
        assert_eq!(l.errors[4].1, SocketFault::Words);
        assert_eq!(sockets.len(), 1);
        assert_eq!(
            (
                sockets[0].0,
                sockets[0].1.local_host.as_str(),
                sockets[0].1.pid
            ),
            (8, "fe80::1%12", Some(7))
        );
    }

    /// A listing whose text ends inside a line is said to be cut short; one that ends with a
    /// line break, or with blanks after its last one, is not.
    #[test]
    fn a_listing_cut_mid_line_is_said_to_be() {
        let whole = "  TCP    0.0.0.0:3389   0.0.0.0:0   LISTENING   2208\r\n [x.exe]\r\n";
        assert!(!parsed(whole).1.cut);
        assert!(!parsed(&format!("{whole}  ")).1.cut);
        assert!(parsed(&whole[..whole.len() - 6]).1.cut);
        assert!(
            parsed("  TCP    0.0.0.0:3389   0.0.0.0:0   LISTENING   22")
                .1
                .cut
        );
    }

    #[test]
    fn other_text_is_not_a_listing() {
        assert!(!looks_like(
            "TCP Statistics for IPv4\r\n  Active Opens  = 5\r\n"
        ));
        assert!(!looks_like("Windows Registry Editor Version 5.00\r\n"));
        assert!(!looks_like(
            "\"Time of Day\",\"Process Name\"\r\n\"10:00\",\"TCP Connect\"\r\n"
        ));
        // `netstat -an` without a header: two socket lines are enough.
        assert!(looks_like(
            "  TCP    0.0.0.0:135    0.0.0.0:0    LISTENING\r\n  TCP    0.0.0.0:3389   0.0.0.0:0    LISTENING\r\n"
        ));
    }
}
