//! The domain declaration: what the analysis needs to know about Remote Desktop that is not a
//! rule. Which event-log providers are RDP evidence and from which side, which client events
//! mark a connection's start, transport, logon and disconnect (and where the disconnect's code
//! and the server's name are written), which server events accept a connection (clock pairs)
//! and which carry the server's side of it (authentication, logon, disconnect, logoff, with the
//! fields holding the client's address, the session, the user and the documented reason
//! codes), which fields of a gateway event name its resource and user, which events name both
//! ends of a packet or connection (a firewall's drops), which events say in their data when
//! what they report happened (EventLog 6008: the shutdown, logged at the next boot),
//! which processes are the RDP client, which ports carry RDP, which Procmon operations open and
//! close its TCP connection (time alignment), which registry keys and ACL paths are RDP
//! configuration, and what to tell a user to collect when a kind of log is missing.
//!
//! It is written once, in the rule pack (`pack/domain.rdt`), in a `domain { ... }` block; the
//! analysis reads it through [`super::RuleSet::domain`] and names none of it. A set of rule
//! files that declares no domain gets the built-in one ([`Domain::builtin`]); a user's file
//! that declares one replaces it. Whether a disconnect is *the* 0x904 is not declared here: it
//! is what the `kind: anchor` rule matches, so the report and the ranking cannot disagree.
//!
//! ```text
//! domain  = "domain" "{" { decl } "}" ;
//! decl    = "source" ( "client" | "server" | "gateway" ) string [ "as" string ]
//!         | "client" ( "start" | "disconnect" ) integer "data" "." bare_name
//!         | "client" ( "transport" | "logon" ) integer
//!         | "client" "milestone" list
//!         | "accept" string integer fields   (a source's short name, the event id)
//!         | "server" server_role string list fields
//!         | "server" "reason" integer string (a documented disconnect reason code)
//!         | "error" integer string   (a Win32, Winsock, HRESULT or NTSTATUS code's name)
//!         | "process" strings
//!         | "port" ( "rdp" | "gateway" ) list
//!         | "procmon" ( "connect" | "disconnect" | "accept" ) string
//!         | "gateway" ( "connect" | "disconnect" ) integer "data" "." bare_name
//!         | "gateway" ( "resource" | "user" | "duration" ) "data" "." bare_name
//!         | "peer" string list "data" "." bare_name { "data" "." bare_name }
//!         | "occurred" string list "data" "." bare_name "systemtime" integer
//!         | "config" ( "key" | "acl" ) strings
//!         | "config" "listener" string "service" string
//!         | "advice" log_kind string "step" string ;
//! server_role = "authenticated" | "logon" | "disconnect" | "logoff" ;
//! fields  = { ( "address" | "session" | "user" | "reason" ) "data" "." bare_name } ;
//! log_kind = "client" | "server" | "system" | "security" | "procmon" ;
//! list    = integer | "(" integer { "," integer } [ "," ] ")" ;
//! strings = string | "(" string { "," string } [ "," ] ")" ;
//! ```

use std::fmt;
use std::sync::OnceLock;

use super::error::ErrorKind;
use super::lexer::{
    PResult, expected, invalid, keyword, number, peek_symbol, peek_word, string, symbol, word, ws,
};
use crate::model::{Event, EventKind, WinEvent};

/// The server declarations indexed by event id.
mod index;
/// The canonical text of a domain (`impl Display for Domain`).
mod print;

/// Which side of a Remote Desktop connection a source describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
    Gateway,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
            Side::Gateway => "gateway",
        }
    }
}

/// What a client event means for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connecting to a server (the server's name in its data field).
    Start,
    /// Transport up.
    Transport,
    /// Logon reached.
    Logon,
    /// Disconnected (the reason code in its data field).
    Disconnect,
    /// Any other event of the connection (it belongs to it, moves no phase).
    Milestone,
}

/// What a server event means for the server's side of a connection (DOMAIN.md §7): accepted
/// (131/261), user authenticated (1149), logon or reconnection to a session (LSM 21/22/25),
/// session disconnected (LSM 24/40) or logged off (LSM 23). Ordered as a connection goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ServerRole {
    #[default]
    Accept,
    Authenticated,
    Logon,
    Disconnect,
    Logoff,
}

impl ServerRole {
    /// The word of the declaration (`server logon ...`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServerRole::Accept => "accept",
            ServerRole::Authenticated => "authenticated",
            ServerRole::Logon => "logon",
            ServerRole::Disconnect => "disconnect",
            ServerRole::Logoff => "logoff",
        }
    }
}

/// `accept "<source>" <id> [fields]` or `server <role> "<source>" <ids> [fields]`: server events
/// that belong to one connection's server side, and the data fields that carry the client's
/// address, the session id, the user and the disconnect reason (empty: the event has none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerEventDecl {
    pub role: ServerRole,
    /// A source's short name.
    pub source: String,
    pub ids: Vec<u32>,
    pub address: String,
    pub session: String,
    pub user: String,
    pub reason: String,
}

impl ServerEventDecl {
    /// The value of one of the declared fields (`address`, ...) in `w`, when declared and set.
    pub fn get<'w>(&self, w: &'w WinEvent, field: &str) -> Option<&'w str> {
        let name = match field {
            "address" => &self.address,
            "session" => &self.session,
            "user" => &self.user,
            "reason" => &self.reason,
            _ => return None,
        };
        if name.is_empty() {
            return None;
        }
        w.data.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    fn fields(&self) -> [(&'static str, &String); 4] {
        [
            ("address", &self.address),
            ("session", &self.session),
            ("user", &self.user),
            ("reason", &self.reason),
        ]
    }
}

/// `source <side> "<provider>" [as "<short name>"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceDecl {
    pub side: Side,
    pub provider: String,
    /// A short name for messages (`RDPClient`); the provider when none is given.
    pub label: Option<String>,
}

impl SourceDecl {
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.provider)
    }
}

/// A kind of log a ticket may lack (the evidence check counts each as it reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// The RDP client's event log.
    Client,
    /// The RDP server's (or gateway's) event logs and exported configuration.
    Server,
    /// The System log.
    System,
    /// The Security log.
    Security,
    /// A Process Monitor capture of the RDP client or port.
    Procmon,
}

impl LogKind {
    pub const ALL: [LogKind; 5] = [
        LogKind::Client,
        LogKind::Server,
        LogKind::System,
        LogKind::Security,
        LogKind::Procmon,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Client => "client",
            LogKind::Server => "server",
            LogKind::System => "system",
            LogKind::Security => "security",
            LogKind::Procmon => "procmon",
        }
    }

    /// What a domain without an `advice` for this kind says: no source, no channel named.
    fn fallback(self) -> (&'static str, &'static str) {
        match self {
            LogKind::Client => ("no RDP client log", "collect the RDP client's event logs"),
            LogKind::Server => ("no RDP server log", "collect the RDP server's event logs"),
            LogKind::System => ("no System log", "export the System log"),
            LogKind::Security => ("no Security log", "export the Security log"),
            LogKind::Procmon => (
                "no Process Monitor capture",
                "capture Process Monitor while reproducing the disconnect",
            ),
        }
    }
}

/// `advice <kind> "<what is missing>" step "<how to collect it>"`: what the report says when a
/// ticket lacks a kind of log, and the one step that brings it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    pub kind: LogKind,
    pub missing: String,
    pub step: String,
}

/// A client event id and, for start and disconnect, the data field it carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientEvent {
    pub id: u32,
    pub data: String,
}

/// The declarations of one `domain { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Domain {
    pub sources: Vec<SourceDecl>,
    pub start: ClientEvent,
    pub transport: u32,
    pub logon: u32,
    pub disconnect: ClientEvent,
    pub milestones: Vec<u32>,
    /// The server's connection events (`accept` and `server` declarations), in declaration
    /// order: the accepts are the clock pairs with the client's transport.
    pub server_events: Vec<ServerEventDecl>,
    /// `server reason <code> "<meaning>"` and `error <code> "<name: meaning>"`: the documented
    /// codes the report names, shared with the evidence templates that read them.
    pub codes: std::sync::Arc<super::template::CodeTables>,
    pub processes: Vec<String>,
    pub rdp_ports: Vec<u64>,
    pub gateway_ports: Vec<u64>,
    pub procmon_connect: String,
    pub procmon_disconnect: String,
    /// The Procmon operation of a connection the capture machine accepted (a server capture);
    /// empty: server captures are not recognised.
    pub procmon_accept: String,
    /// The RD Gateway's "user connected to the resource" and "disconnected" events, each with
    /// the data field naming the resource (the RDP server); id 0 when not declared.
    pub gateway_connect: ClientEvent,
    pub gateway_disconnect: ClientEvent,
    /// The data fields of any gateway event naming the resource (the RDP server) and the user;
    /// empty when not declared.
    pub gateway_resource: String,
    pub gateway_user: String,
    /// The data field of a gateway event giving how long its tunnel had lasted, in seconds
    /// (the disconnect's session duration); empty when not declared.
    pub gateway_duration: String,
    /// `peer "<provider>" <ids> data.<f>...`: events naming the addresses of both ends of a
    /// packet or connection, and the fields holding them.
    pub peers: Vec<PeerDecl>,
    /// `occurred "<provider>" <ids> data.<f> systemtime <n>`: events whose data says when
    /// what they report happened.
    pub occurred: Vec<OccurredDecl>,
    pub config_keys: Vec<String>,
    pub config_acls: Vec<String>,
    /// `config listener "<program>" service "<service>"`: the owner a `netstat -b` listing
    /// names for the RDP listener when Windows' own service holds the port.
    pub config_listener: Option<Listener>,
    pub advice: Vec<Advice>,
    /// `server_events` by event id, built at the first [`Domain::server_event`]: a cache,
    /// ignored by `==` and not cloned (declarations changed after a lookup are not seen).
    server_index: index::ServerIndex,
}

/// The RDP listener's owner as `netstat -b` names it (`config listener`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listener {
    /// The executable, `[x.exe]` in the listing.
    pub process: String,
    /// The service, the line before the executable.
    pub service: String,
}

/// Events of one provider that name both ends of a packet or connection (`peer`): the fields
/// holding the addresses (`10.0.0.5`, or with a port).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerDecl {
    pub provider: String,
    pub ids: Vec<u32>,
    pub fields: Vec<String>,
}

/// Events of one provider that report something that happened before they were logged, and
/// say when in their data (`occurred`): the `index`th SYSTEMTIME, in UTC, of the hex binary
/// data in `field`. The rules place them at that time, not at their logging.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OccurredDecl {
    pub provider: String,
    pub ids: Vec<u32>,
    pub field: String,
    pub index: usize,
}

/// The built-in domain file's text.
pub const BUILTIN_TEXT: &str = include_str!("pack/domain.rdt");

impl Domain {
    /// The built-in pack's domain (for rule sets that declare none).
    pub fn builtin() -> &'static Domain {
        static BUILTIN: OnceLock<Domain> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            // The built-in text is part of the binary and a test loads it: it always parses.
            super::parser::parse_file("builtin/domain.rdt", BUILTIN_TEXT)
                .ok()
                .and_then(|f| f.domain)
                .map(|d| d.value)
                .unwrap_or_default()
        })
    }

    /// The one client source.
    pub fn client(&self) -> Option<&SourceDecl> {
        self.sources.iter().find(|s| s.side == Side::Client)
    }

    /// The client source's provider name.
    pub fn client_provider(&self) -> &str {
        self.client().map_or("", |s| s.provider.as_str())
    }

    /// The client source's short name (`RDPClient`).
    pub fn client_label(&self) -> &str {
        self.client().map_or("", SourceDecl::label)
    }

    /// The side a provider writes for, if it is an RDP source.
    pub fn side_of(&self, provider: &str) -> Option<Side> {
        self.sources
            .iter()
            .find(|s| s.provider.eq_ignore_ascii_case(provider))
            .map(|s| s.side)
    }

    /// Is `w` written by the client source?
    pub fn is_client(&self, w: &WinEvent) -> bool {
        w.provider.eq_ignore_ascii_case(self.client_provider())
    }

    /// The role of a client event in its connection; `None` for other events.
    pub fn client_role(&self, w: &WinEvent) -> Option<Role> {
        if !self.is_client(w) {
            return None;
        }
        let id = w.event_id;
        if id == self.start.id {
            Some(Role::Start)
        } else if id == self.transport {
            Some(Role::Transport)
        } else if id == self.logon {
            Some(Role::Logon)
        } else if id == self.disconnect.id {
            Some(Role::Disconnect)
        } else if self.milestones.contains(&id) {
            Some(Role::Milestone)
        } else {
            None
        }
    }

    /// The server connection declaration `w` matches, if any.
    pub fn server_event(&self, w: &WinEvent) -> Option<&ServerEventDecl> {
        self.server_index.find(self, &w.provider, w.event_id)
    }

    /// Is `e` a server's "connection accepted" event?
    pub fn is_server_accept(&self, e: &Event) -> bool {
        e.win()
            .and_then(|w| self.server_event(w))
            .is_some_and(|d| d.role == ServerRole::Accept)
    }

    /// The accept event ids, ascending, as `131/261` (for messages).
    pub fn accept_ids(&self) -> String {
        let mut ids: Vec<u32> = self
            .server_events
            .iter()
            .filter(|d| d.role == ServerRole::Accept)
            .flat_map(|d| d.ids.iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        join(&ids, "/")
    }

    /// The documented meaning of a server disconnect reason code (`server reason`).
    pub fn reason_meaning(&self, code: &str) -> Option<&str> {
        self.codes.reason(code.trim().parse().ok()?)
    }

    /// A gateway event's resource (the RDP server it connects the user to), when it names one.
    pub fn gateway_resource_of<'w>(&self, w: &'w WinEvent) -> Option<&'w str> {
        self.gateway_field(w, &self.gateway_resource)
    }

    /// A gateway event's user, when it names one.
    pub fn gateway_user_of<'w>(&self, w: &'w WinEvent) -> Option<&'w str> {
        self.gateway_field(w, &self.gateway_user)
    }

    /// How long the tunnel of gateway event `w` had lasted when it was logged, when it says.
    pub fn gateway_lasted(&self, w: &WinEvent) -> Option<jiff::SignedDuration> {
        let secs: u32 = self
            .gateway_field(w, &self.gateway_duration)?
            .parse()
            .ok()?;
        Some(jiff::SignedDuration::from_secs(i64::from(secs)))
    }

    fn gateway_field<'w>(&self, w: &'w WinEvent, name: &str) -> Option<&'w str> {
        if name.is_empty() || self.side_of(&w.provider) != Some(Side::Gateway) {
            return None;
        }
        w.data.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// The addresses `w` names for the two ends of its packet or connection, when it is a
    /// `peer` event (the fields that are set, as written).
    pub fn peer_addresses_of<'w>(&self, w: &'w WinEvent) -> Option<Vec<&'w str>> {
        let decl = self.peers.iter().find(|p| {
            p.ids.contains(&w.event_id) && p.provider.eq_ignore_ascii_case(&w.provider)
        })?;
        Some(
            decl.fields
                .iter()
                .filter_map(|f| w.data.get(f).map(str::trim).filter(|v| !v.is_empty()))
                .collect(),
        )
    }

    /// When what `w` reports happened, when it is an `occurred` event whose data says so.
    pub fn occurred_at(&self, w: &WinEvent) -> Option<jiff::Timestamp> {
        let decl = self.occurred.iter().find(|o| {
            o.ids.contains(&w.event_id) && o.provider.eq_ignore_ascii_case(&w.provider)
        })?;
        let at = crate::units::systemtime_in_hex(w.data.get(&decl.field)?, decl.index)?;
        at.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    }

    /// Is this process (any case) the RDP client?
    pub fn is_client_process(&self, process: &str) -> bool {
        self.processes
            .iter()
            .any(|p| p.eq_ignore_ascii_case(process))
    }

    /// The client processes without `.exe`, for messages (`mstsc/msrdc`); the first one alone
    /// with `first`.
    pub fn process_stems(&self, first: bool) -> String {
        let stem = |p: &String| {
            p.strip_suffix(".exe")
                .or_else(|| p.strip_suffix(".EXE"))
                .unwrap_or(p)
                .to_string()
        };
        let stems: Vec<String> = self.processes.iter().map(stem).collect();
        if first {
            stems.into_iter().next().unwrap_or_default()
        } else {
            stems.join("/")
        }
    }

    /// Is `port` the RDP port itself?
    pub fn is_rdp_port(&self, port: u16) -> bool {
        self.rdp_ports.contains(&u64::from(port))
    }

    /// Does a connection to `port` reach an RDP server or gateway?
    pub fn is_session_port(&self, port: u16) -> bool {
        self.is_rdp_port(port) || self.gateway_ports.contains(&u64::from(port))
    }

    /// Is this registry, ACL or netstat event Remote Desktop configuration?
    pub fn is_configuration(&self, e: &Event) -> bool {
        let has = |hay: &str, needles: &[String]| {
            let hay = hay.to_ascii_lowercase();
            needles
                .iter()
                .any(|n| hay.contains(&n.to_ascii_lowercase()))
        };
        match &e.kind {
            EventKind::Registry(r) => has(&r.key, &self.config_keys),
            EventKind::Acl(a) => has(&a.path, &self.config_acls),
            // A listing's sockets on the RDP port: who holds the listener's port.
            EventKind::Socket(k) => k.local_port.is_some_and(|p| self.is_rdp_port(p)),
            _ => false,
        }
    }

    /// Is `s` the RDP listener as Windows runs it: a TCP socket listening on the RDP port,
    /// owned by the declared program and service (`config listener`)?
    pub fn is_own_listener(&self, s: &crate::model::Socket) -> bool {
        self.config_listener.as_ref().is_some_and(|l| {
            s.protocol.eq_ignore_ascii_case("TCP")
                && s.local_port.is_some_and(|p| self.is_rdp_port(p))
                && s.remote_port == Some(0)
                && s.process.eq_ignore_ascii_case(&l.process)
                && s.service.eq_ignore_ascii_case(&l.service)
        })
    }

    /// Is `w` the gateway's connect or disconnect event (a clock pair with the client's)?
    pub fn is_gateway_pair(&self, w: &WinEvent) -> bool {
        // The ids first: asked of every event, and few are the gateway's.
        [&self.gateway_connect, &self.gateway_disconnect]
            .iter()
            .any(|g| g.id != 0 && g.id == w.event_id)
            && self.side_of(&w.provider) == Some(Side::Gateway)
    }

    /// What the report calls a missing kind of log and the step that brings it: the `advice`
    /// declaration, or plain words naming no source when there is none.
    pub fn advice(&self, kind: LogKind) -> (&str, &str) {
        match self.advice.iter().find(|a| a.kind == kind) {
            Some(a) => (a.missing.as_str(), a.step.as_str()),
            None => kind.fallback(),
        }
    }

    /// What is missing for the analysis to work, for `rules check`.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let clients = self
            .sources
            .iter()
            .filter(|s| s.side == Side::Client)
            .count();
        if clients != 1 {
            out.push(format!(
                "exactly one \"source client\" is needed, found {clients}"
            ));
        }
        for (what, missing) in [
            ("client start", self.start.data.is_empty()),
            ("client transport", self.transport == 0),
            ("client logon", self.logon == 0),
            ("client disconnect", self.disconnect.data.is_empty()),
            ("process", self.processes.is_empty()),
            ("port rdp", self.rdp_ports.is_empty()),
            ("procmon connect", self.procmon_connect.is_empty()),
            ("procmon disconnect", self.procmon_disconnect.is_empty()),
        ] {
            if missing {
                out.push(format!("no \"{what}\" declaration"));
            }
        }
        for d in &self.server_events {
            if !self.sources.iter().any(|s| s.label() == d.source) {
                let what = match d.role {
                    ServerRole::Accept => "accept".to_string(),
                    r => format!("server {}", r.as_str()),
                };
                out.push(format!(
                    "{what} names \"{}\", which no source is called",
                    d.source
                ));
            }
        }
        for (i, a) in self.advice.iter().enumerate() {
            if self.advice[..i].iter().any(|b| b.kind == a.kind) {
                out.push(format!("two \"advice {}\" declarations", a.kind.as_str()));
            }
        }
        for p in self.rdp_ports.iter().chain(&self.gateway_ports) {
            if *p > u64::from(u16::MAX) {
                out.push(format!("port {p} is out of range (at most 65535)"));
            }
        }
        out
    }
}

fn join<T: fmt::Display>(items: &[T], sep: &str) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(sep)
}

// ---------------------------------------------------------------------------------------------
// Parsing

const EXPECT_DECL: &str = "a declaration (source, client, accept, server, error, process, port, procmon, gateway, peer, occurred, config, advice) or \"}\"";

/// `domain { decl... }`, after which the declarations are checked as a whole.
pub(crate) fn domain_block(i: &str) -> PResult<'_, Domain> {
    let (i, _) = keyword(i, "domain")?;
    let (mut i, _) = symbol(i, "{", "\"{\" to open the domain")?;
    let mut d = Domain::default();
    loop {
        let (rest, _) = ws(i)?;
        if let Some(after) = rest.strip_prefix('}') {
            if let Some(problem) = d.problems().into_iter().next() {
                return invalid(rest, ErrorKind::Domain { message: problem });
            }
            return Ok((after, d));
        }
        i = decl(rest, &mut d)?.0;
    }
}

fn decl<'a>(i: &'a str, d: &mut Domain) -> PResult<'a, ()> {
    let Ok((rest, w)) = word(i) else {
        return expected(i, EXPECT_DECL);
    };
    match w {
        "source" => {
            let (rest, side) = choice(rest, &["client", "server", "gateway"], "side")?;
            let side = match side {
                "client" => Side::Client,
                "server" => Side::Server,
                _ => Side::Gateway,
            };
            let (rest, provider) = string(ws(rest)?.0)?;
            let (rest, label) = if peek_word(rest) == "as" {
                let (rest, _) = keyword(rest, "as")?;
                let (rest, l) = string(ws(rest)?.0)?;
                (rest, Some(l))
            } else {
                (rest, None)
            };
            d.sources.push(SourceDecl {
                side,
                provider,
                label,
            });
            Ok((rest, ()))
        }
        "client" => {
            let roles = ["start", "transport", "logon", "disconnect", "milestone"];
            let (rest, role) = choice(rest, &roles, "client role")?;
            match role {
                "milestone" => {
                    let (rest, ids) = numbers(rest)?;
                    d.milestones.extend(ids.into_iter().map(|n| n as u32));
                    Ok((rest, ()))
                }
                "transport" | "logon" => {
                    let (rest, id) = event_id(rest)?;
                    *if role == "logon" {
                        &mut d.logon
                    } else {
                        &mut d.transport
                    } = id;
                    Ok((rest, ()))
                }
                _ => {
                    let (rest, ev) = event_with_data(rest)?;
                    if role == "start" {
                        d.start = ev;
                    } else {
                        d.disconnect = ev;
                    }
                    Ok((rest, ()))
                }
            }
        }
        "accept" => {
            let (rest, source) = string(ws(rest)?.0)?;
            let (rest, id) = event_id(rest)?;
            let mut decl = ServerEventDecl {
                role: ServerRole::Accept,
                source,
                ids: vec![id],
                ..ServerEventDecl::default()
            };
            let (rest, ()) = server_fields(rest, &mut decl)?;
            d.server_events.push(decl);
            Ok((rest, ()))
        }
        "server" => {
            let roles = ["authenticated", "logon", "disconnect", "logoff", "reason"];
            let (rest, role) = choice(rest, &roles, "server role")?;
            if role == "reason" {
                let (rest, _) = ws(rest)?;
                let (rest, code) = number(rest)?;
                let (rest, meaning) = string(ws(rest)?.0)?;
                std::sync::Arc::make_mut(&mut d.codes)
                    .reasons
                    .push((code.value, meaning));
                return Ok((rest, ()));
            }
            let role = match role {
                "authenticated" => ServerRole::Authenticated,
                "logon" => ServerRole::Logon,
                "disconnect" => ServerRole::Disconnect,
                _ => ServerRole::Logoff,
            };
            let (rest, source) = string(ws(rest)?.0)?;
            let (rest, ids32) = event_ids(rest)?;
            let mut decl = ServerEventDecl {
                role,
                source,
                ids: ids32,
                ..ServerEventDecl::default()
            };
            let (rest, ()) = server_fields(rest, &mut decl)?;
            d.server_events.push(decl);
            Ok((rest, ()))
        }
        "process" => {
            let (rest, names) = strings(rest)?;
            d.processes.extend(names);
            Ok((rest, ()))
        }
        "port" => {
            let (rest, which) = choice(rest, &["rdp", "gateway"], "port kind")?;
            let (rest, ports) = numbers(rest)?;
            if which == "rdp" {
                d.rdp_ports.extend(ports);
            } else {
                d.gateway_ports.extend(ports);
            }
            Ok((rest, ()))
        }
        "procmon" => {
            let kinds = ["connect", "disconnect", "accept"];
            let (rest, which) = choice(rest, &kinds, "Procmon operation")?;
            let (rest, op) = string(ws(rest)?.0)?;
            match which {
                "connect" => d.procmon_connect = op,
                "disconnect" => d.procmon_disconnect = op,
                _ => d.procmon_accept = op,
            }
            Ok((rest, ()))
        }
        "gateway" => {
            let kinds = ["connect", "disconnect", "resource", "user", "duration"];
            let (rest, which) = choice(rest, &kinds, "gateway declaration")?;
            if let Some(slot) = match which {
                "resource" => Some(&mut d.gateway_resource),
                "user" => Some(&mut d.gateway_user),
                "duration" => Some(&mut d.gateway_duration),
                _ => None,
            } {
                let (rest, field) = data_field(rest)?;
                *slot = field;
                return Ok((rest, ()));
            }
            let (rest, ev) = event_with_data(rest)?;
            if which == "connect" {
                d.gateway_connect = ev;
            } else {
                d.gateway_disconnect = ev;
            }
            Ok((rest, ()))
        }
        "peer" => {
            let (rest, provider) = string(ws(rest)?.0)?;
            let (rest, ids32) = event_ids(rest)?;
            let (mut rest, first) = data_field(rest)?;
            let mut fields = vec![first];
            while peek_word(ws(rest)?.0) == "data" {
                let (after, field) = data_field(ws(rest)?.0)?;
                fields.push(field);
                rest = after;
            }
            d.peers.push(PeerDecl {
                provider,
                ids: ids32,
                fields,
            });
            Ok((rest, ()))
        }
        "occurred" => {
            let (rest, provider) = string(ws(rest)?.0)?;
            let (rest, ids) = event_ids(rest)?;
            let (rest, field) = data_field(ws(rest)?.0)?;
            let (rest, _) = choice(rest, &["systemtime"], "how the time is written")?;
            let (rest, _) = ws(rest)?;
            let (rest, n) = number(rest)?;
            let positions = crate::units::SYSTEMTIME_POSITIONS;
            let Some(index) = usize::try_from(n.value).ok().filter(|&i| i < positions) else {
                return expected(
                    rest,
                    format!("a SYSTEMTIME's position in the data (0 to {})", positions - 1),
                );
            };
            d.occurred.push(OccurredDecl {
                provider,
                ids,
                field,
                index,
            });
            Ok((rest, ()))
        }
        "config" => {
            let (rest, which) = choice(rest, &["key", "acl", "listener"], "configuration kind")?;
            if which == "listener" {
                let (rest, process) = string(ws(rest)?.0)?;
                let (rest, _) = keyword(rest, "service")?;
                let (rest, service) = string(ws(rest)?.0)?;
                d.config_listener = Some(Listener { process, service });
                return Ok((rest, ()));
            }
            let (rest, items) = strings(rest)?;
            if which == "key" {
                d.config_keys.extend(items);
            } else {
                d.config_acls.extend(items);
            }
            Ok((rest, ()))
        }
        "advice" => advice(rest, d),
        "error" => {
            let (rest, _) = ws(rest)?;
            let (rest, code) = number(rest)?;
            let (rest, meaning) = string(ws(rest)?.0)?;
            std::sync::Arc::make_mut(&mut d.codes)
                .errors
                .push((code.value, meaning));
            Ok((rest, ()))
        }
        _ => invalid(
            i,
            ErrorKind::UnknownWord {
                what: "domain declaration",
                found: w.to_string(),
                expected: "source, client, accept, server, error, process, port, procmon, gateway, peer, occurred, config, advice"
                    .into(),
            },
        ),
    }
}

/// `advice <kind> "<what is missing>" step "<how to collect it>"`.
fn advice<'a>(i: &'a str, d: &mut Domain) -> PResult<'a, ()> {
    let names = LogKind::ALL.map(LogKind::as_str);
    let (rest, which) = choice(i, &names, "log kind")?;
    let kind = LogKind::ALL
        .into_iter()
        .find(|k| k.as_str() == which)
        .unwrap_or(LogKind::Client);
    let (rest, missing) = string(ws(rest)?.0)?;
    let (rest, _) = keyword(rest, "step")?;
    let (rest, step) = string(ws(rest)?.0)?;
    d.advice.push(Advice {
        kind,
        missing,
        step,
    });
    Ok((rest, ()))
}

/// One of `words`.
fn choice<'a>(i: &'a str, words: &[&'static str], what: &'static str) -> PResult<'a, &'static str> {
    let (i, _) = ws(i)?;
    let Ok((rest, w)) = word(i) else {
        return expected(i, format!("a {what} ({})", words.join(", ")));
    };
    match words.iter().find(|x| **x == w) {
        Some(found) => Ok((rest, *found)),
        None => invalid(
            i,
            ErrorKind::UnknownWord {
                what,
                found: w.to_string(),
                expected: words.join(", "),
            },
        ),
    }
}

/// `<id> data.<field>`: an event and the data field it carries (client start/disconnect,
/// gateway connect/disconnect).
fn event_with_data(i: &str) -> PResult<'_, ClientEvent> {
    let (rest, id) = event_id(i)?;
    let (rest, data) = data_field(rest)?;
    Ok((rest, ClientEvent { id, data }))
}

/// `data.<field>`: the name of a data field.
fn data_field(i: &str) -> PResult<'_, String> {
    let (rest, _) = keyword(i, "data")?;
    let (rest, _) = symbol(rest, ".", "\".\" after data")?;
    let Ok((rest, name)) = word(rest) else {
        return expected(rest, "a data field name");
    };
    Ok((rest, name.to_string()))
}

/// `{ (address | session | user | reason) data.<field> }` after a server event's ids.
fn server_fields<'a>(mut i: &'a str, d: &mut ServerEventDecl) -> PResult<'a, ()> {
    loop {
        let slot = match peek_word(i) {
            "address" => &mut d.address,
            "session" => &mut d.session,
            "user" => &mut d.user,
            "reason" => &mut d.reason,
            _ => return Ok((i, ())),
        };
        let (rest, _) = ws(i)?;
        let (rest, _) = word(rest)?;
        let (rest, field) = data_field(rest)?;
        *slot = field;
        i = rest;
    }
}

fn event_id(i: &str) -> PResult<'_, u32> {
    let (i, _) = ws(i)?;
    let (rest, n) = number(i)?;
    match u32::try_from(n.value) {
        Ok(id) if id > 0 => Ok((rest, id)),
        _ => expected(i, "an event id (1 to 4294967295)"),
    }
}

/// `item` or `( item, item, ... )`.
fn list<'a, T>(i: &'a str, item: fn(&'a str) -> PResult<'a, T>) -> PResult<'a, Vec<T>> {
    let (i, _) = ws(i)?;
    let Some(mut i) = i.strip_prefix('(') else {
        let (rest, one) = item(i)?;
        return Ok((rest, vec![one]));
    };
    let mut out = Vec::new();
    loop {
        let (rest, _) = ws(i)?;
        if let Some(rest) = rest.strip_prefix(')') {
            if out.is_empty() {
                return expected(rest, "at least one item");
            }
            return Ok((rest, out));
        }
        let (rest, v) = item(rest)?;
        out.push(v);
        i = if peek_symbol(rest, ",") {
            symbol(rest, ",", "\",\"")?.0
        } else if peek_symbol(rest, ")") {
            rest
        } else {
            return expected(ws(rest)?.0, "\",\" or \")\"");
        };
    }
}

/// A list of event ids, each 1 to 4294967295.
fn event_ids(i: &str) -> PResult<'_, Vec<u32>> {
    let (rest, ids) = numbers(i)?;
    let mut ids32 = Vec::with_capacity(ids.len());
    for id in ids {
        match u32::try_from(id) {
            Ok(id) if id > 0 => ids32.push(id),
            _ => return expected(rest, "event ids (1 to 4294967295)"),
        }
    }
    Ok((rest, ids32))
}

fn numbers(i: &str) -> PResult<'_, Vec<u64>> {
    list(i, |i| number(i).map(|(r, n)| (r, n.value)))
}

fn strings(i: &str) -> PResult<'_, Vec<String>> {
    list(i, string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Fields;
    use crate::rules::load_rules;

    fn win(provider: &str, id: u32, data: &[(&str, &str)]) -> Event {
        let mut fields = Fields::default();
        for (k, v) in data {
            fields.push(*k, *v);
        }
        Event {
            file: "c.evtx".into(),
            record: 1,
            time: None,
            kind: EventKind::Win(std::sync::Arc::new(WinEvent {
                provider: provider.into(),
                event_id: id,
                data: fields,
                ..WinEvent::default()
            })),
            marks: Default::default(),
        }
    }

    #[test]
    fn the_builtin_domain_parses_and_prints_back_the_same() {
        let d = Domain::builtin();
        assert_eq!(d.client_label(), "RDPClient");
        assert!(!d.processes.is_empty() && !d.rdp_ports.is_empty());
        let printed = format!("{d}\n");
        let again = crate::rules::parser::parse_file("printed", &printed)
            .unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert_eq!(again.domain.map(|s| s.value).as_ref(), Some(d));
    }

    #[test]
    fn roles_accepts_and_ports_come_from_the_declaration() {
        let text = r#"domain {
            source client "C" as "Cli"
            source server "S" as "Srv"
            client start 1 data.Host
            client transport 2
            client logon 3
            client disconnect 4 data.Code
            client milestone (5, 6,)
            accept "Srv" 7
            process "x.exe"
            port rdp 10
            port gateway (11, 12)
            procmon connect "open"
            procmon disconnect "close"
        }"#;
        let set = load_rules(&[("d.rdt", text)]).unwrap_or_else(|e| panic!("{e}"));
        let d = set.domain();
        let role = |p: &str, id| d.client_role(win(p, id, &[]).win().unwrap());
        assert_eq!(role("c", 1), Some(Role::Start));
        assert_eq!(role("C", 4), Some(Role::Disconnect));
        assert_eq!(role("C", 6), Some(Role::Milestone));
        assert_eq!(role("C", 7), None);
        assert_eq!(role("S", 1), None);
        assert!(d.is_server_accept(&win("s", 7, &[])));
        assert!(!d.is_server_accept(&win("C", 7, &[])));
        assert!(d.is_session_port(12) && !d.is_rdp_port(12) && d.is_rdp_port(10));
        assert!(d.is_client_process("X.EXE"));
        assert_eq!(d.process_stems(false), "x");
        assert_eq!(d.side_of("s"), Some(Side::Server));
    }

    #[test]
    fn server_events_reasons_and_gateway_fields_come_from_the_declaration() {
        let d = Domain::builtin();
        let event = |p: &str, id| win(p, id, &[("SessionID", "4"), ("Address", " 10.0.0.5 ")]);
        let lsm = "Microsoft-Windows-TerminalServices-LocalSessionManager";
        let e = event(lsm, 22);
        let decl = d.server_event(e.win().unwrap()).unwrap();
        assert_eq!(decl.role, ServerRole::Logon);
        assert_eq!(decl.get(e.win().unwrap(), "session"), Some("4"));
        assert_eq!(decl.get(e.win().unwrap(), "address"), Some("10.0.0.5"));
        assert_eq!(decl.get(e.win().unwrap(), "reason"), None);
        assert!(d.server_event(event(lsm, 41).win().unwrap()).is_none());
        assert!(d.server_event(event("Other", 22).win().unwrap()).is_none());
        assert_eq!(
            d.reason_meaning("5"),
            Some("replaced by another connection")
        );
        assert_eq!(
            d.reason_meaning(" 11 "),
            Some("disconnected by the user (RPC)")
        );
        assert_eq!(d.reason_meaning("4242"), None);
        assert_eq!(d.accept_ids(), "131/261");
        let gw = win(
            "Microsoft-Windows-TerminalServices-Gateway",
            303,
            &[("Resource", "RDS01"), ("Username", "")],
        );
        assert_eq!(d.gateway_resource_of(gw.win().unwrap()), Some("RDS01"));
        assert_eq!(d.gateway_user_of(gw.win().unwrap()), None);
        // A server declaration naming no source, and an unknown role, are errors.
        let bad = BUILTIN_TEXT.replace("server logoff \"LSM\"", "server logoff \"LSN\"");
        assert!(
            error_of(&bad).contains("server logoff names \"LSN\""),
            "{}",
            error_of(&bad)
        );
        let bad = BUILTIN_TEXT.replace("server logoff", "server logout");
        assert!(error_of(&bad).contains("unknown server role \"logout\""));
    }

    fn error_of(text: &str) -> String {
        match load_rules(&[("d.rdt", text)]) {
            Ok(_) => panic!("loaded:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_incomplete_or_misspelled_domain_is_an_error_that_says_what() {
        let full = BUILTIN_TEXT;
        let cut = full.replace("    procmon disconnect \"TCP Disconnect\"\n", "");
        assert!(
            error_of(&cut).contains("domain: no \"procmon disconnect\" declaration"),
            "{}",
            error_of(&cut)
        );
        let bad = full.replace("accept \"RCM\" 261", "accept \"RMC\" 261");
        assert!(error_of(&bad).contains("\"RMC\", which no source is called"));
        let bad = full.replace("port rdp 3389", "porte rdp 3389");
        assert!(error_of(&bad).contains("unknown domain declaration \"porte\""));
        let bad = full.replace("client logon 1027", "client logged 1027");
        assert!(error_of(&bad).contains("unknown client role \"logged\""));
        let bad = full.replace("client start 1024 data.Value", "client start 1024");
        assert!(
            error_of(&bad).contains("expected \"data\""),
            "{}",
            error_of(&bad)
        );
        let twice = format!("{full}\n{full}");
        assert!(error_of(&twice).contains("at most one domain"));
    }

    #[test]
    fn advice_is_declared_for_every_kind_of_log_and_has_a_plain_fallback() {
        let d = Domain::builtin();
        for kind in LogKind::ALL {
            assert!(
                d.advice.iter().any(|a| a.kind == kind),
                "the pack advises on {kind:?}"
            );
            let (missing, step) = d.advice(kind);
            assert!(missing.starts_with("no ") && !step.is_empty(), "{kind:?}");
        }
        // A domain that gives no advice names no source: plain words for the kind.
        let bare = Domain::default();
        assert_eq!(bare.advice(LogKind::Client).0, "no RDP client log");
        assert_eq!(bare.advice(LogKind::Security).1, "export the Security log");
        let twice = BUILTIN_TEXT.replacen("    advice system", "    advice client", 1);
        assert!(
            error_of(&twice).contains("two \"advice client\" declarations"),
            "{}",
            error_of(&twice)
        );
        let bad = BUILTIN_TEXT.replacen("advice system", "advice sytem", 1);
        assert!(error_of(&bad).contains("unknown log kind \"sytem\""));
        let bad = BUILTIN_TEXT.replacen("\n        step \"on the client", " \"on the client", 1);
        assert!(
            error_of(&bad).contains("expected \"step\""),
            "{}",
            error_of(&bad)
        );
    }

    #[test]
    fn the_anchor_rule_matches_the_declared_disconnect_with_0x904() {
        // The report's is_0x904 and the ranking's anchors are both this rule's matches; it
        // must be about the event the domain calls the client's disconnect.
        let set = crate::rules::load_with_builtin(&[]).unwrap();
        let d = set.domain();
        let disconnect = |code: &str| {
            win(
                d.client_provider(),
                d.disconnect.id,
                &[(d.disconnect.data.as_str(), code)],
            )
        };
        assert!(set.is_anchor(&disconnect("2308")));
        assert!(!set.is_anchor(&disconnect("516")));
        let start = win(
            d.client_provider(),
            d.start.id,
            &[(d.start.data.as_str(), "2308")],
        );
        assert!(!set.is_anchor(&start));
    }
}
