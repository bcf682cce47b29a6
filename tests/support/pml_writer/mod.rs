//! A small writer of native Process Monitor logs (PML version 9, 64-bit layout) for tests: the
//! header, events with their detail structures, the event-offset array, process, string, icon
//! and hosts/ports tables, laid out as Process Monitor lays them out (events first, tables
//! after). It writes what rdtriage's reader must read, from the documented layout, so damage
//! can be made on purpose (`Layout` says where each part is).
#![allow(dead_code)]

/// One process of the capture.
#[derive(Debug, Clone, Default)]
pub struct PmlProcess {
    pub pid: u32,
    pub parent_pid: u32,
    pub name: String,
    pub image: String,
    pub command_line: String,
    pub user: String,
    pub integrity: String,
}

/// What an event's detail says.
#[derive(Debug, Clone)]
pub enum PmlDetail {
    /// `CreateFile`: access mask, disposition, create options, attributes, share mode, and
    /// the open result (the extra detail) when it completed.
    CreateFile {
        path: String,
        access: u32,
        disposition: u32,
        options: u32,
        attributes: u16,
        share: u16,
        open_result: Option<u32>,
    },
    ReadFile {
        path: String,
        offset: u64,
        length: u32,
    },
    RegOpenKey {
        path: String,
        access: u32,
    },
    /// `RegQueryValue` that returned no data (`Length: N` only).
    RegQueryValue {
        path: String,
        length: u32,
    },
    /// A TCP operation (`NETWORK_OPS` index) between two IPv4 endpoints.
    Tcp {
        op: u16,
        src: [u8; 4],
        src_port: u16,
        dst: [u8; 4],
        dst_port: u16,
        length: u32,
        pairs: Vec<(String, String)>,
    },
    /// Any bytes: class, operation, detail and extra detail as given.
    Raw {
        class: u32,
        op: u16,
        detail: Vec<u8>,
        extra: Option<Vec<u8>>,
    },
}

#[derive(Debug, Clone)]
pub struct PmlEvent {
    /// Index into `PmlCapture::processes`.
    pub process: u32,
    pub tid: u32,
    /// FILETIME (100 ns since 1601, UTC).
    pub time: u64,
    pub duration: u64,
    pub status: u32,
    pub detail: PmlDetail,
}

#[derive(Debug, Clone, Default)]
pub struct PmlCapture {
    pub computer: String,
    pub processes: Vec<PmlProcess>,
    /// IPv4 address → host name.
    pub hosts: Vec<([u8; 4], String)>,
    /// (port, is TCP) → service name.
    pub ports: Vec<(u16, bool, String)>,
    pub events: Vec<PmlEvent>,
}

/// Where the writer put each part (file offsets).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub events: Vec<u64>,
    pub offsets_array: u64,
    pub process_table: u64,
    pub string_table: u64,
    pub icon_table: u64,
    pub hosts_ports: u64,
}

pub const HEADER_SIZE: usize = 0x3a8;

/// FILETIME of a UTC time given as an RFC 3339 string.
pub fn filetime(utc: &str) -> u64 {
    let ts: jiff::Timestamp = utc.parse().expect("an RFC 3339 time");
    let ns = ts.as_nanosecond() + 11_644_473_600 * 1_000_000_000;
    (ns / 100) as u64
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A detail string: its length word (character count; UTF-16) and its bytes.
fn detail_string(s: &str) -> (u16, Vec<u8>) {
    let units = s.encode_utf16().count() as u16;
    (units & 0x7fff, utf16(s))
}

struct Strings(Vec<String>);

impl Strings {
    fn index(&mut self, s: &str) -> u32 {
        if let Some(i) = self.0.iter().position(|x| x == s) {
            return i as u32;
        }
        self.0.push(s.to_string());
        (self.0.len() - 1) as u32
    }
}

fn put_u16(b: &mut Vec<u8>, v: u16) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

/// (class, operation, detail, extra detail) of an event.
fn encode(detail: &PmlDetail) -> (u32, u16, Vec<u8>, Option<Vec<u8>>) {
    match detail {
        PmlDetail::Raw {
            class,
            op,
            detail,
            extra,
        } => (*class, *op, detail.clone(), extra.clone()),
        PmlDetail::CreateFile {
            path,
            access,
            disposition,
            options,
            attributes,
            share,
            open_result,
        } => {
            // sub-operation, padding; 5 pointers + 0x14 bytes of parameters (64-bit); path.
            let mut d = vec![0u8; 4];
            let mut params = vec![0u8; 8 * 5 + 0x14];
            params[0x14..0x18].copy_from_slice(&((disposition << 24) | options).to_le_bytes());
            params[0x1c..0x1e].copy_from_slice(&attributes.to_le_bytes());
            params[0x1e..0x20].copy_from_slice(&share.to_le_bytes());
            d.extend_from_slice(&params);
            let (info, bytes) = detail_string(path);
            put_u16(&mut d, info);
            put_u16(&mut d, 0);
            d.extend_from_slice(&bytes);
            put_u32(&mut d, *access);
            d.extend_from_slice(&[0, 0, 0, 0]);
            let extra = open_result.map(|r| r.to_le_bytes().to_vec());
            (3, 20, d, extra)
        }
        PmlDetail::ReadFile {
            path,
            offset,
            length,
        } => {
            let mut d = vec![0u8; 4];
            let mut params = vec![0u8; 8 * 5 + 0x14];
            params[0xc..0x10].copy_from_slice(&length.to_le_bytes());
            params[0x1c..0x24].copy_from_slice(&offset.to_le_bytes());
            d.extend_from_slice(&params);
            let (info, bytes) = detail_string(path);
            put_u16(&mut d, info);
            put_u16(&mut d, 0);
            d.extend_from_slice(&bytes);
            (3, 23, d, None)
        }
        PmlDetail::RegOpenKey { path, access } => {
            let (info, bytes) = detail_string(path);
            let mut d = Vec::new();
            put_u16(&mut d, info);
            put_u16(&mut d, 0);
            put_u32(&mut d, *access);
            d.extend_from_slice(&bytes);
            (2, 0, d, None)
        }
        PmlDetail::RegQueryValue { path, length } => {
            let (info, bytes) = detail_string(path);
            let mut d = Vec::new();
            put_u16(&mut d, info);
            put_u16(&mut d, 0);
            put_u32(&mut d, *length);
            put_u32(&mut d, 2);
            d.extend_from_slice(&bytes);
            (2, 5, d, None)
        }
        PmlDetail::Tcp {
            op,
            src,
            src_port,
            dst,
            dst_port,
            length,
            pairs,
        } => {
            let mut d = Vec::new();
            put_u16(&mut d, 1 | 2 | 4);
            put_u16(&mut d, 0);
            put_u32(&mut d, *length);
            let mut ip = [0u8; 16];
            ip[..4].copy_from_slice(src);
            d.extend_from_slice(&ip);
            let mut ip = [0u8; 16];
            ip[..4].copy_from_slice(dst);
            d.extend_from_slice(&ip);
            put_u16(&mut d, *src_port);
            put_u16(&mut d, *dst_port);
            for (k, v) in pairs {
                d.extend_from_slice(&utf16(k));
                put_u16(&mut d, 0);
                d.extend_from_slice(&utf16(v));
                put_u16(&mut d, 0);
            }
            put_u16(&mut d, 0);
            (5, *op, d, None)
        }
    }
}

/// The bytes of the capture, and where its parts are.
pub fn write_with_layout(c: &PmlCapture) -> (Vec<u8>, Layout) {
    let mut out = vec![0u8; HEADER_SIZE];
    let mut layout = Layout::default();
    // Events: header, no stack, detail, then the extra detail (size word + bytes).
    for e in &c.events {
        let start = out.len() as u64;
        layout.events.push(start);
        let (class, op, detail, extra) = encode(&e.detail);
        let extra_offset = if extra.is_some() {
            0x34 + detail.len() as u32
        } else {
            0
        };
        put_u32(&mut out, e.process);
        put_u32(&mut out, e.tid);
        put_u32(&mut out, class);
        put_u16(&mut out, op);
        out.extend_from_slice(&[0; 6]);
        put_u64(&mut out, e.duration);
        put_u64(&mut out, e.time);
        put_u32(&mut out, e.status);
        put_u16(&mut out, 0);
        put_u16(&mut out, 0);
        put_u32(&mut out, detail.len() as u32);
        put_u32(&mut out, extra_offset);
        out.extend_from_slice(&detail);
        if let Some(x) = extra {
            put_u16(&mut out, x.len() as u16);
            out.extend_from_slice(&x);
        }
    }
    layout.offsets_array = out.len() as u64;
    for &o in &layout.events {
        put_u32(&mut out, o as u32);
        out.push(0);
    }
    // Strings are collected while writing the process table, then written after it.
    let mut strings = Strings(vec![String::new()]);
    layout.process_table = out.len() as u64;
    let n = c.processes.len();
    let table_start = out.len();
    put_u32(&mut out, n as u32);
    for i in 0..n {
        put_u32(&mut out, i as u32);
    }
    let offsets_at = out.len();
    out.extend(std::iter::repeat_n(0u8, n * 4));
    for (i, p) in c.processes.iter().enumerate() {
        let rel = (out.len() - table_start) as u32;
        out[offsets_at + i * 4..offsets_at + i * 4 + 4].copy_from_slice(&rel.to_le_bytes());
        put_u32(&mut out, i as u32);
        put_u32(&mut out, p.pid);
        put_u32(&mut out, p.parent_pid);
        put_u32(&mut out, 0);
        put_u64(&mut out, 0x3e7);
        put_u32(&mut out, 0);
        put_u32(&mut out, 0);
        put_u64(&mut out, 0);
        put_u64(&mut out, 0);
        put_u32(&mut out, 0);
        put_u32(&mut out, 1);
        for s in [
            &p.integrity,
            &p.user,
            &p.name,
            &p.image,
            &p.command_line,
            "",
            "",
            "",
        ] {
            let idx = strings.index(s);
            put_u32(&mut out, idx);
        }
        put_u32(&mut out, 0);
        put_u32(&mut out, 0);
        put_u64(&mut out, 0);
        put_u32(&mut out, 0); // no modules
    }
    layout.string_table = out.len() as u64;
    let start = out.len();
    put_u32(&mut out, strings.0.len() as u32);
    let offsets_at = out.len();
    out.extend(std::iter::repeat_n(0u8, strings.0.len() * 4));
    for (i, s) in strings.0.iter().enumerate() {
        let rel = (out.len() - start) as u32;
        out[offsets_at + i * 4..offsets_at + i * 4 + 4].copy_from_slice(&rel.to_le_bytes());
        let bytes = utf16(s);
        put_u32(&mut out, bytes.len() as u32);
        out.extend_from_slice(&bytes);
    }
    layout.icon_table = out.len() as u64;
    put_u32(&mut out, 0);
    layout.hosts_ports = out.len() as u64;
    put_u32(&mut out, c.hosts.len() as u32);
    for (ip, name) in &c.hosts {
        let mut full = [0u8; 16];
        full[..4].copy_from_slice(ip);
        out.extend_from_slice(&full);
        let b = utf16(name);
        put_u32(&mut out, b.len() as u32);
        out.extend_from_slice(&b);
    }
    put_u32(&mut out, c.ports.len() as u32);
    for (port, tcp, name) in &c.ports {
        put_u16(&mut out, *port);
        put_u16(&mut out, u16::from(*tcp));
        let b = utf16(name);
        put_u32(&mut out, b.len() as u32);
        out.extend_from_slice(&b);
    }
    // The header.
    let mut h = Vec::with_capacity(HEADER_SIZE);
    h.extend_from_slice(b"PML_");
    put_u32(&mut h, 9);
    put_u32(&mut h, 1);
    let mut name = utf16(&c.computer);
    name.resize(0x20, 0);
    h.extend_from_slice(&name);
    let mut root = utf16("C:\\Windows");
    root.resize(0x208, 0);
    h.extend_from_slice(&root);
    put_u32(&mut h, c.events.len() as u32);
    put_u64(&mut h, 0);
    put_u64(&mut h, HEADER_SIZE as u64);
    put_u64(&mut h, layout.offsets_array);
    put_u64(&mut h, layout.process_table);
    put_u64(&mut h, layout.string_table);
    put_u64(&mut h, layout.icon_table);
    put_u64(&mut h, 0x7fff_fffe_ffff);
    put_u32(&mut h, 0x11c);
    put_u32(&mut h, 10);
    put_u32(&mut h, 0);
    put_u32(&mut h, 17763);
    put_u32(&mut h, 2);
    h.resize(0x38c, 0);
    put_u32(&mut h, 4);
    put_u64(&mut h, 8 << 30);
    put_u64(&mut h, HEADER_SIZE as u64);
    put_u64(&mut h, layout.hosts_ports);
    assert_eq!(h.len(), HEADER_SIZE);
    out[..HEADER_SIZE].copy_from_slice(&h);
    (out, layout)
}

pub fn write(c: &PmlCapture) -> Vec<u8> {
    write_with_layout(c).0
}
