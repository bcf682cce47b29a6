//! Each event's detail structure → Path, the operation's full name, and the Detail column,
//! rendered as Process Monitor's CSV export renders them (so rules and `detail.Key` fields work
//! the same on both). Structures are read with [`Cur`]: a detail that runs past its event stops
//! where it was cut and says so, keeping what was read.

use super::bytes::{Cur, Short, latin1_into, utf16, utf16_into, utf16_list, utf16_parts};
use super::ioctl::control_name;
use super::names::{self, Class, fileop, thousands, thousands_signed};
use super::num;
use super::tables::Endpoints;
use std::borrow::Cow;

use crate::model::DetailText;

/// What the detail structure says.
#[derive(Debug, Default)]
pub struct Detail {
    pub path: String,
    /// The operation's name when the detail refines it (`TCP Send`, `QueryBasicInformationFile`).
    pub operation: Option<Cow<'static, str>>,
    pub pairs: DetailText,
    /// The structure ran past its event (or its extra detail): what was read is kept.
    pub cut: bool,
    /// No decoder for this operation's detail: only the path (when known) was read.
    pub undecoded: bool,
}

impl Detail {
    pub fn push(&mut self, k: &str, v: impl AsRef<str>) {
        self.pairs.push(k, v.as_ref());
    }
}

/// What decoding needs besides the bytes.
pub struct DetailInput<'a> {
    pub class: Class,
    pub op: u16,
    pub tid: u32,
    pub wide: bool,
    pub detail: &'a [u8],
    pub extra: Option<&'a [u8]>,
    pub endpoints: &'a Endpoints,
}

/// A detail string's length word: the high bit says Latin-1, the rest counts characters.
fn string_info(c: &mut Cur<'_>) -> Result<(bool, usize), Short> {
    let w = c.u16()?;
    Ok((w >> 15 == 1, usize::from(w & 0x7fff)))
}

fn string(c: &mut Cur<'_>, info: (bool, usize)) -> Result<String, Short> {
    let mut out = String::new();
    string_into(c, info, &mut out)?;
    Ok(out)
}

/// [`string`], appended to `out` (nothing when the string runs past the detail).
fn string_into(
    c: &mut Cur<'_>,
    (ascii, chars): (bool, usize),
    out: &mut String,
) -> Result<(), Short> {
    if ascii {
        latin1_into(c.take(chars)?, out);
    } else {
        utf16_into(c.take(chars * 2)?, out);
    }
    Ok(())
}

/// Decode `input`'s detail; its pairs go into `pairs` and its path into `path` (both emptied
/// first, their room reused).
pub fn decode(input: &DetailInput<'_>, mut pairs: DetailText, mut path: String) -> Detail {
    pairs.clear();
    path.clear();
    let mut d = Detail {
        pairs,
        path,
        ..Detail::default()
    };
    let result = match input.class {
        Class::Process => process(input, &mut d),
        Class::Registry => registry(input, &mut d),
        Class::FileSystem => file_system(input, &mut d),
        Class::Network => network(input, &mut d),
        Class::Profiling => Ok(()),
    };
    if result.is_err() {
        d.cut = true;
    }
    d
}

fn network(input: &DetailInput<'_>, d: &mut Detail) -> Result<(), Short> {
    let mut c = Cur::new(input.detail);
    let flags = c.u16()?;
    let (src_v4, dst_v4, tcp) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
    let (ops, unknown) = if tcp {
        (&names::TCP_OPS, "TCP <Unknown>")
    } else {
        (&names::UDP_OPS, "UDP <Unknown>")
    };
    let op = ops.get(usize::from(input.op)).copied().unwrap_or(unknown);
    d.operation = Some(Cow::Borrowed(op));
    c.skip(2)?;
    let length = c.u32()?;
    let mut src = [0u8; 16];
    src.copy_from_slice(c.take(16)?);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(c.take(16)?);
    let sport = c.u16()?;
    let dport = c.u16()?;
    let e = input.endpoints;
    e.host_into(&src, src_v4, &mut d.path);
    d.path.push(':');
    e.port_into(sport, tcp, &mut d.path);
    d.path.push_str(" -> ");
    e.host_into(&dst, dst_v4, &mut d.path);
    d.path.push(':');
    e.port_into(dport, tcp, &mut d.path);
    d.push("Length", num::dec(u64::from(length)));
    // Name and value strings, in pairs, ended by an empty string.
    let (mut name, mut value) = (String::new(), String::new());
    let mut parts = utf16_parts(c.rest());
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        name.clear();
        value.clear();
        utf16_into(k, &mut name);
        utf16_into(v, &mut value);
        d.push(&name, &value);
    }
    Ok(())
}

fn process(input: &DetailInput<'_>, d: &mut Detail) -> Result<(), Short> {
    let mut c = Cur::new(input.detail);
    match input.op {
        // Process Defined, Process Create
        0 | 1 => {
            c.skip(4)?;
            let pid = c.u32()?;
            c.skip(0x24)?;
            let a = usize::from(c.u8()?);
            let b = usize::from(c.u8()?);
            let path = string_info(&mut c)?;
            let cmd = string_info(&mut c)?;
            c.skip(2 + a + b)?;
            string_into(&mut c, path, &mut d.path)?;
            d.push("PID", num::dec(u64::from(pid)));
            d.push("Command line", string(&mut c, cmd)?);
        }
        // Process Exit, Process Statistics
        2 | 8 => {
            let status = c.u32()?;
            let kernel = c.u64()?;
            let user = c.u64()?;
            let ws = c.u64()?;
            let peak_ws = c.u64()?;
            let private = c.u64()?;
            let peak_private = c.u64()?;
            d.push("Exit Status", num::dec_signed(i64::from(status as i32)));
            d.push(
                "User Time",
                format!("{} seconds", names::duration_text(user)),
            );
            d.push(
                "Kernel Time",
                format!("{} seconds", names::duration_text(kernel)),
            );
            d.push("Private Bytes", thousands(private));
            d.push("Peak Private Bytes", thousands(peak_private));
            d.push("Working Set", thousands(ws));
            d.push("Peak Working Set", thousands(peak_ws));
        }
        3 => d.push("Thread ID", num::dec(u64::from(c.u32()?))),
        4 => {
            c.skip(4)?;
            let kernel = c.u64()?;
            let user = c.u64()?;
            d.push("Thread ID", num::dec(u64::from(input.tid)));
            d.push("User Time", names::duration_text(user));
            d.push("Kernel Time", names::duration_text(kernel));
        }
        5 => {
            let base = c.ptr(input.wide)?;
            let size = c.u32()?;
            let path = string_info(&mut c)?;
            c.skip(2)?;
            string_into(&mut c, path, &mut d.path)?;
            d.push("Image Base", num::hex(base));
            d.push("Image Size", num::hex(u64::from(size)));
        }
        7 => {
            let parent = c.u32()?;
            let cmd = string_info(&mut c)?;
            let dir = string_info(&mut c)?;
            let env_chars = c.u32()? as usize;
            d.push("Parent PID", num::dec(u64::from(parent)));
            d.push("Command line", string(&mut c, cmd)?);
            d.push("Current directory", string(&mut c, dir)?);
            let env = utf16_list(c.take(env_chars.saturating_mul(2).min(c.left()))?);
            let mut text = String::new();
            for var in env {
                text.push_str("\r;\t");
                text.push_str(&var);
            }
            d.push("Environment", text);
        }
        _ => d.undecoded = true,
    }
    Ok(())
}

/// Registry data as the Detail column shows it.
fn registry_data(bytes: &[u8], reg_type: u32) -> String {
    let mut c = Cur::new(bytes);
    match reg_type {
        4 => c
            .u32()
            .map(|v| num::dec(u64::from(v)).as_str().to_string())
            .unwrap_or_default(),
        // Procmon leaves REG_QWORD data out of the CSV.
        11 => String::new(),
        1 | 2 => {
            let text = utf16(bytes);
            if text.contains("\r\n") {
                text.replace("\r\n", "\n;")
            } else {
                text
            }
        }
        3 => {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            let mut s = String::with_capacity(bytes.len() * 3);
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push(char::from(HEX[usize::from(b >> 4)]));
                s.push(char::from(HEX[usize::from(b & 0xf)]));
            }
            s
        }
        7 => utf16_list(bytes).join(", "),
        _ => String::new(),
    }
}

fn reg_type_name(t: u32) -> String {
    names::registry_type(t)
        .map(str::to_string)
        .unwrap_or_else(|| format!("<Unknown: {t}>"))
}

fn registry(input: &DetailInput<'_>, d: &mut Detail) -> Result<(), Short> {
    let mut c = Cur::new(input.detail);
    let path = string_info(&mut c)?;
    let op = input.op;
    match op {
        // RegLoadKey, RegRenameKey: the new name follows the path in the detail itself.
        12 | 14 => {
            let new = string_info(&mut c)?;
            string_into(&mut c, path, &mut d.path)?;
            let new = string(&mut c, new)?;
            d.push(if op == 12 { "Hive Path" } else { "New Name" }, new);
        }
        // RegOpenKey, RegCreateKey
        0 | 1 => {
            c.skip(2)?;
            let access = c.u32()?;
            string_into(&mut c, path, &mut d.path)?;
            if access == 0 {
                return Ok(());
            }
            let access_text = names::registry_access(access);
            let maximum = &*access_text == "Maximum Allowed";
            d.push("Desired Access", access_text);
            let Some(extra) = input.extra else {
                return Ok(());
            };
            let mut x = Cur::new(extra);
            let granted = x.u32()?;
            if maximum {
                d.push("Granted Access", names::registry_access(granted));
            }
            match x.u32()? {
                1 => d.push("Disposition", "REG_CREATED_NEW_KEY"),
                2 => d.push("Disposition", "REG_OPENED_EXISTING_KEY"),
                _ => {}
            }
        }
        // RegQueryKey, RegEnumKey
        3 | 7 => {
            c.skip(2)?;
            let length = c.u32()?;
            let index = if op == 7 { Some(c.u32()?) } else { None };
            let class = c.u32()?;
            string_into(&mut c, path, &mut d.path)?;
            let class_name = names::key_information_class(class);
            match index {
                Some(i) => d.push("Index", thousands(u64::from(i))),
                None => d.push(
                    "Query",
                    class_name
                        .map(Cow::Borrowed)
                        .unwrap_or_else(|| Cow::Owned(format!("<Unknown: {class}>"))),
                ),
            }
            let Some(extra) = input.extra else {
                d.push("Length", thousands(u64::from(length)));
                return Ok(());
            };
            let mut x = Cur::new(extra);
            match class {
                // Basic: LastWriteTime, TitleIndex, Name
                0 => {
                    x.skip(12)?;
                    let n = x.u32()? as usize;
                    d.push("Name", utf16(x.take(n)?));
                }
                // Node: LastWriteTime, TitleIndex, ClassOffset, ClassLength, Name
                1 => {
                    x.skip(20)?;
                    let n = x.u32()? as usize;
                    d.push("Name", utf16(x.take(n)?));
                }
                // Full
                2 => {
                    x.skip(20)?;
                    let subkeys = x.u32()?;
                    x.skip(8)?;
                    let values = x.u32()?;
                    d.push("SubKeys", thousands(u64::from(subkeys)));
                    d.push("Values", thousands(u64::from(values)));
                }
                // Name: Procmon prints it for RegEnumKey only
                3 => {
                    let n = x.u32()? as usize;
                    let name = x.take(n)?;
                    if op == 7 {
                        d.push("Name", utf16(name));
                    }
                }
                // Cached
                4 => {
                    x.skip(12)?;
                    let subkeys = x.u32()?;
                    x.skip(4)?;
                    let values = x.u32()?;
                    d.push("SubKeys", thousands(u64::from(subkeys)));
                    d.push("Values", thousands(u64::from(values)));
                }
                5 => d.push("UserFlags", num::hex(u64::from(x.u32()?))),
                7 => d.push("HandleTags", num::hex(u64::from(x.u32()?))),
                _ => {}
            }
        }
        // RegQueryValue, RegEnumValue
        5 | 6 => {
            c.skip(2)?;
            let length = c.u32()?;
            let index = if op == 6 { Some(c.u32()?) } else { None };
            let class = c.u32()?;
            string_into(&mut c, path, &mut d.path)?;
            if let Some(i) = index {
                d.push("Index", thousands(u64::from(i)));
            }
            let Some(extra) = input.extra else {
                d.push("Length", thousands(u64::from(length)));
                return Ok(());
            };
            let mut x = Cur::new(extra);
            x.skip(4)?;
            let reg_type = x.u32()?;
            let (data_len, data_at) = match class {
                // KeyValueFullInformation: DataOffset, DataLength, NameLength, Name
                1 => {
                    let data_at = x.u32()? as usize;
                    let data_len = x.u32()?;
                    let n = x.u32()? as usize;
                    let name = x.take(n)?;
                    if op == 6 {
                        d.push("Name", utf16(name));
                    }
                    (data_len, data_at)
                }
                // KeyValuePartialInformation: DataLength, Data
                2 => {
                    let data_len = x.u32()?;
                    (data_len, x.pos())
                }
                _ => {
                    d.push("Type", reg_type_name(reg_type));
                    return Ok(());
                }
            };
            d.push("Type", reg_type_name(reg_type));
            d.push("Length", thousands(u64::from(data_len)));
            if data_len > 0 {
                let data = extra.get(data_at..).unwrap_or_default();
                let data = &data[..data.len().min(data_len as usize)];
                d.push("Data", registry_data(data, reg_type));
            }
        }
        // RegSetInfoKey: the information follows the path.
        8 => {
            c.skip(2)?;
            let class = c.u32()?;
            c.skip(4)?;
            let length = c.u16()?;
            c.skip(2)?;
            string_into(&mut c, path, &mut d.path)?;
            d.push(
                "KeySetInformationClass",
                names::key_set_information_class(class)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("<Unknown: {class}>")),
            );
            d.push("Length", thousands(u64::from(length)));
            if length > 0 {
                match class {
                    1 => d.push("Wow64Flags", num::hex(u64::from(c.u32()?))),
                    5 => d.push("HandleTags", num::hex(u64::from(c.u32()?))),
                    // KeyWriteTimeInformation: a local time, which the PML cannot give.
                    _ => {}
                }
            }
        }
        // RegSetValue: the data follows the path.
        4 => {
            c.skip(2)?;
            let reg_type = c.u32()?;
            let length = c.u32()?;
            let data_len = c.u32()?;
            string_into(&mut c, path, &mut d.path)?;
            let type_name = reg_type_name(reg_type);
            d.push("Type", type_name.clone());
            d.push("Length", thousands(u64::from(length)));
            let n = length.min(data_len) as usize;
            if n > 0 && !type_name.starts_with("<Unknown") {
                let data = c.take(n.min(c.left()))?;
                d.push("Data", registry_data(data, reg_type));
            }
        }
        _ => string_into(&mut c, path, &mut d.path)?,
    }
    Ok(())
}

fn file_system(input: &DetailInput<'_>, d: &mut Detail) -> Result<(), Short> {
    let mut c = Cur::new(input.detail);
    let sub = c.u8()?;
    c.skip(3)?;
    let base = names::FILE_OPS
        .get(usize::from(input.op))
        .copied()
        .unwrap_or("<Unknown>");
    let mut op_name = base;
    if sub != 0 {
        match names::file_sub_op(input.op, sub) {
            Some("") => {}
            Some(name) => op_name = name,
            None => op_name = "<Unknown>",
        }
    }
    d.operation = Some(Cow::Borrowed(op_name));
    let ptr = if input.wide { 8 } else { 4 };
    let params = c.take(ptr * 5 + 0x14)?;
    let path = string_info(&mut c)?;
    c.skip(2)?;
    string_into(&mut c, path, &mut d.path)?;
    let mut p = Cur::new(params);
    let pad = |p: &mut Cur<'_>| if input.wide { p.skip(4) } else { Ok(()) };
    match (input.op, op_name) {
        (fileop::CREATE_FILE, _) => {
            let access = c.u32()?;
            let sid_len = usize::from(c.u8()?);
            c.skip(3)?;
            p.skip(0x10)?;
            pad(&mut p)?;
            let disp_opts = p.u32()?;
            pad(&mut p)?;
            let attributes = u32::from(p.u16()?);
            let share = u32::from(p.u16()?);
            p.skip(4 + ptr * 2)?;
            let allocation = p.u32()?;
            let disposition = disp_opts >> 24;
            d.push("Desired Access", names::file_access(access));
            d.push(
                "Disposition",
                names::disposition(disposition).unwrap_or("<unknown>"),
            );
            d.push(
                "Options",
                names::mask_names(disp_opts & 0xff_ffff, &names::CREATE_OPTIONS, ", "),
            );
            if attributes == 0 {
                d.push("Attributes", "n/a");
            } else {
                d.push(
                    "Attributes",
                    names::mask_names(attributes, &names::FILE_ATTRIBUTES, ""),
                );
            }
            if share == 0 {
                d.push("ShareMode", "None");
            } else {
                d.push(
                    "ShareMode",
                    names::mask_names(share, &names::SHARE_MODE, ", "),
                );
            }
            if matches!(disposition, 0 | 2 | 3 | 5) {
                d.push("AllocationSize", thousands(u64::from(allocation)));
            } else {
                d.push("AllocationSize", "n/a");
            }
            if sid_len > 0 {
                d.push("Impersonating", sid_text(c.take(sid_len)?));
            }
            if let Some(extra) = input.extra {
                let r = Cur::new(extra).u32()?;
                d.push("OpenResult", names::open_result(r).unwrap_or("<unknown>"));
            }
        }
        (fileop::READ_FILE | fileop::WRITE_FILE, _) => {
            p.skip(4)?;
            let flags_priority = p.u32()?;
            p.skip(4)?;
            let mut length = p.u32()?;
            pad(&mut p)?;
            p.skip(4)?;
            pad(&mut p)?;
            let offset = p.u64()? as i64;
            if let Some(extra) = input.extra {
                length = Cur::new(extra).u32()?;
            }
            d.push("Offset", thousands_signed(offset));
            d.push("Length", thousands(u64::from(length)));
            let io_flags = flags_priority & 0xe0_00ff;
            if io_flags != 0 {
                d.push(
                    "I/O Flags",
                    names::mask_names(io_flags, &names::IO_FLAGS, ", "),
                );
            }
            let priority = (flags_priority >> 0x11) & 7;
            if priority != 0 {
                d.push(
                    "Priority",
                    names::priority(priority)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{priority:#x}")),
                );
            }
        }
        (fileop::FILE_SYSTEM_CONTROL | fileop::DEVICE_IO_CONTROL, _)
        | (fileop::INTERNAL_DEVICE_IO_CONTROL, _) => {
            p.skip(8)?;
            let write_len = p.u32()?;
            let read_len = p.u32()?;
            pad(&mut p)?;
            p.skip(4)?;
            pad(&mut p)?;
            let code = p.u32()?;
            let name = control_name(code);
            match name.as_str() {
                "FSCTL_PIPE_INTERNAL_WRITE" => {
                    d.push("Control", name);
                    d.push("Length", thousands(u64::from(write_len)));
                }
                "FSCTL_PIPE_INTERNAL_READ" => {
                    d.push("Control", name);
                    d.push("Length", thousands(u64::from(read_len)));
                }
                "FSCTL_PIPE_TRANSCEIVE" | "FSCTL_PIPE_INTERNAL_TRANSCEIVE" => {
                    d.push("Control", name);
                    d.push("WriteLength", thousands(u64::from(write_len)));
                    d.push("ReadLength", thousands(u64::from(read_len)));
                }
                _ => d.push("Control", name),
            }
        }
        (_, "QueryDirectory") => {
            let filter = string_info(&mut c)?;
            let filter = string(&mut c, filter)?;
            if !filter.is_empty() {
                if !d.path.ends_with('\\') {
                    d.path.push('\\');
                }
                d.path.push_str(&filter);
                d.push("Filter", filter.clone());
            }
            p.skip(0x10)?;
            pad(&mut p)?;
            p.skip(4)?;
            pad(&mut p)?;
            let class = p.u32()?;
            let class_name = names::file_information_class(class)
                .map(str::to_string)
                .unwrap_or_else(|| format!("<Unknown: {class}>"));
            if let Some(extra) = input.extra {
                directory_entries(extra, class, !filter.is_empty(), d);
            }
            // Process Monitor writes the class into the third slot of the list it renders:
            // after the filter and first entry, in place of a third item, and not at all when
            // the list is shorter than two (its CSV export shows exactly that).
            if d.pairs.len() >= 2 {
                d.pairs.set(2, "FileInformationClass", &class_name);
            }
        }
        (_, "NotifyChangeDirectory") => {
            p.skip(0x10)?;
            pad(&mut p)?;
            let filter = p.u32()?;
            d.push(
                "Filter",
                names::mask_names(filter, &names::NOTIFY_FILTER, ", "),
            );
        }
        (_, "SetDispositionInformationFile") => {
            let delete = c.u8()? != 0;
            d.push("Delete", if delete { "True" } else { "False" });
        }
        (fileop::CREATE_FILE_MAPPING, _) => {
            p.skip(0x0c)?;
            let sync = p.u32()?;
            let protection = p.u32()?;
            d.push(
                "SyncType",
                match sync {
                    0 => "SyncTypeOther".to_string(),
                    1 => "SyncTypeCreateSection".to_string(),
                    v => format!("Unknown: {v:#x}"),
                },
            );
            let named = [
                (0x02, "PAGE_READONLY"),
                (0x04, "PAGE_READWRITE"),
                (0x08, "PAGE_WRITECOPY"),
                (0x10, "PAGE_EXECUTE"),
                (0x20, "PAGE_EXECUTE_READ"),
                (0x40, "PAGE_EXECUTE_READWRITE"),
            ]
            .into_iter()
            .find(|(bit, _)| protection & bit != 0);
            if let Some((_, name)) = named {
                let mut text = name.to_string();
                if protection & 0x200 != 0 {
                    text.push_str("|PAGE_NOCACHE");
                }
                d.push("PageProtection", text);
            }
        }
        (_, name) if NO_DETAIL.contains(&name) => {}
        (_, name) => {
            let more = super::fileinfo::FileInput {
                params,
                rest: c.rest(),
                extra: input.extra,
                wide: input.wide,
            };
            if !super::fileinfo::decode(name, &more, d)? {
                d.undecoded = true;
            }
        }
    }
    Ok(())
}

/// File-system operations whose Detail column Process Monitor leaves empty.
const NO_DETAIL: [&str; 14] = [
    "CloseFile",
    "IRP_MJ_CLOSE",
    "QueryOpen",
    "QueryEAFile",
    "SetEAFile",
    "FlushBuffersFile",
    "QueryIdInformation",
    "QueryRemoteProtocolInformation",
    "QueryNormalizedNameInformationFile",
    "QueryStreamInformationFile",
    "FASTIO_RELEASE_FOR_SECTION_SYNCHRONIZATION",
    "FASTIO_RELEASE_FOR_MOD_WRITE",
    "FASTIO_RELEASE_FOR_CC_FLUSH",
    "FASTIO_ACQUIRE_FOR_CC_FLUSH",
];

/// The entries a directory query returned, as `1: name, 2: name` (numbered from 2 when the
/// filter itself is entry 1).
fn directory_entries(extra: &[u8], class: u32, has_filter: bool, d: &mut Detail) {
    // Where the name length and the name sit in each FILE_*_INFORMATION structure.
    let (len_at, name_at) = match class {
        1 => (0x3c, 0x40),  // FileDirectoryInformation
        2 => (0x3c, 0x44),  // FileFullDirectoryInformation
        3 => (0x3c, 0x5e),  // FileBothDirectoryInformation
        12 => (0x08, 0x0c), // FileNamesInformation
        37 => (0x3c, 0x68), // FileIdBothDirectoryInformation
        38 => (0x3c, 0x50), // FileIdFullDirectoryInformation
        _ => return,
    };
    let mut n = if has_filter { 0 } else { -1 };
    let mut at = 0usize;
    // Entries are chained by NextEntryOffset; a chain longer than the bytes is cut there.
    // Process Monitor keeps only the start of a long listing: an entry cut there ends it.
    for _ in 0..extra.len() / 4 + 1 {
        n += 1;
        let entry = (|| -> Result<(usize, String), Short> {
            let mut c = Cur::new(extra);
            c.seek(at)?;
            let next = c.u32()? as usize;
            c.seek(at + len_at)?;
            let len = c.u32()? as usize;
            c.seek(at + name_at)?;
            Ok((next, utf16(c.take(len)?)))
        })();
        let Ok((next, name)) = entry else {
            break;
        };
        d.push(&n.to_string(), name);
        if next == 0 || at + next >= extra.len() {
            break;
        }
        at += next;
    }
}

/// A binary SID as `S-1-5-21-...`.
fn sid_text(sid: &[u8]) -> String {
    let mut c = Cur::new(sid);
    let read = (|| -> Result<String, Short> {
        let revision = c.u8()?;
        let count = usize::from(c.u8()?);
        let auth = c.take(6)?;
        let mut a = [0u8; 8];
        a[2..].copy_from_slice(auth);
        let mut text = format!("S-{revision}-{}", u64::from_be_bytes(a));
        for _ in 0..count {
            text.push_str(&format!("-{}", c.u32()?));
        }
        Ok(text)
    })();
    read.unwrap_or_default()
}
