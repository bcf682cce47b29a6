//! The PML header: what was captured where (computer, OS, bitness), how many events, and where
//! the tables are. Layout as documented in procmon-parser's `docs/PML Format.md`.

use super::bytes::{Cur, utf16};

pub const HEADER_SIZE: usize = 0x3a8;
/// The only format version read: Process Monitor 3.x writes 9.
pub const SUPPORTED_VERSION: u32 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub wide: bool,
    pub computer: String,
    pub system_root: String,
    pub events: u32,
    pub events_offset: u64,
    pub offsets_array: u64,
    pub process_table: u64,
    pub string_table: u64,
    pub icon_table: u64,
    pub os_major: u32,
    pub os_minor: u32,
    pub os_build: u32,
    pub service_pack: String,
    pub processors: u32,
    pub hosts_ports: u64,
}

/// Why a header cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    TooShort(u64),
    NotPml,
    Version(u32),
    /// The capture was never closed: Process Monitor writes the table offsets last.
    NotClosed(Vec<&'static str>),
    OutsideFile {
        table: &'static str,
        offset: u64,
        len: u64,
    },
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::TooShort(len) => write!(
                f,
                "too short for a PML file: {len} bytes, the header alone is {HEADER_SIZE}"
            ),
            HeaderError::NotPml => write!(f, "no PML_ signature"),
            HeaderError::Version(v) => write!(
                f,
                "PML format version {v} is not read (only version {SUPPORTED_VERSION}, written by Process Monitor 3.x): open it in a current Process Monitor and save it again, as PML or CSV"
            ),
            HeaderError::NotClosed(which) => write!(
                f,
                "the capture was never closed (Process Monitor was stopped before it wrote its tables: {} offset{} zero): nothing can be attributed to a process; open it in Process Monitor and save it again",
                which.join(", "),
                if which.len() == 1 { " is" } else { "s are" }
            ),
            HeaderError::OutsideFile { table, offset, len } => write!(
                f,
                "the {table} starts at offset {offset:#x}, past the end of the file ({len} bytes): the file is cut or damaged"
            ),
        }
    }
}

impl Header {
    /// Parse and check the header of a file `len` bytes long.
    pub fn parse(bytes: &[u8], len: u64) -> Result<Header, HeaderError> {
        if !bytes.starts_with(b"PML_") {
            return Err(HeaderError::NotPml);
        }
        let mut c = Cur::new(bytes);
        let short = |_| HeaderError::TooShort(len);
        c.skip(4).map_err(short)?;
        let version = c.u32().map_err(short)?;
        if version != SUPPORTED_VERSION {
            return Err(HeaderError::Version(version));
        }
        if bytes.len() < HEADER_SIZE {
            return Err(HeaderError::TooShort(len));
        }
        let wide = c.u32().map_err(short)? != 0;
        let computer = utf16(c.take(0x20).map_err(short)?);
        let system_root = utf16(c.take(0x208).map_err(short)?);
        let events = c.u32().map_err(short)?;
        c.skip(8).map_err(short)?;
        let events_offset = c.u64().map_err(short)?;
        let offsets_array = c.u64().map_err(short)?;
        let process_table = c.u64().map_err(short)?;
        let string_table = c.u64().map_err(short)?;
        let icon_table = c.u64().map_err(short)?;
        c.skip(8 + 4).map_err(short)?;
        let os_major = c.u32().map_err(short)?;
        let os_minor = c.u32().map_err(short)?;
        let os_build = c.u32().map_err(short)?;
        c.skip(4).map_err(short)?;
        let service_pack = utf16(c.take(0x100).map_err(short)?);
        c.seek(0x38c).map_err(short)?;
        let processors = c.u32().map_err(short)?;
        c.skip(8 + 8).map_err(short)?;
        let hosts_ports = c.u64().map_err(short)?;
        let header = Header {
            version,
            wide,
            computer,
            system_root,
            events,
            events_offset,
            offsets_array,
            process_table,
            string_table,
            icon_table,
            os_major,
            os_minor,
            os_build,
            service_pack,
            processors,
            hosts_ports,
        };
        let zero: Vec<&'static str> = header
            .tables()
            .into_iter()
            .filter(|(_, o)| *o == 0)
            .map(|(n, _)| n)
            .collect();
        if !zero.is_empty() {
            return Err(HeaderError::NotClosed(zero));
        }
        for (table, offset) in header.tables() {
            if offset >= len {
                return Err(HeaderError::OutsideFile { table, offset, len });
            }
        }
        Ok(header)
    }

    /// Every table the header points at, by name.
    pub fn tables(&self) -> [(&'static str, u64); 5] {
        [
            ("event-offset array", self.offsets_array),
            ("process table", self.process_table),
            ("string table", self.string_table),
            ("icon table", self.icon_table),
            ("hosts and ports table", self.hosts_ports),
        ]
    }

    /// Where the table starting at `start` ends: at the next table, or the end of the file.
    pub fn table_end(&self, start: u64, len: u64) -> u64 {
        self.tables()
            .iter()
            .map(|(_, o)| *o)
            .filter(|&o| o > start)
            .min()
            .unwrap_or(len)
            .min(len)
    }

    /// `Windows 10 (build 16299)`, as far as the header says.
    pub fn os_text(&self) -> String {
        let name = match (self.os_major, self.os_minor) {
            (6, 0) => "Windows Vista / Server 2008".to_string(),
            (6, 1) => "Windows 7 / Server 2008 R2".to_string(),
            (6, 2) => "Windows 8 / Server 2012".to_string(),
            (6, 3) => "Windows 8.1 / Server 2012 R2".to_string(),
            (10, 0) => "Windows 10 / 11 / Server 2016+".to_string(),
            (a, b) => format!("Windows {a}.{b}"),
        };
        let sp = if self.service_pack.is_empty() {
            String::new()
        } else {
            format!(", {}", self.service_pack)
        };
        format!("{name}{sp} (build {})", self.os_build)
    }
}
