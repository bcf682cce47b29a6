//! File-system details Process Monitor fills from the request's parameters or the buffer the
//! file system returned: locks, security queries, the standard, name, attribute-tag and
//! volume information classes, and the sizes a set-information request carries. Each layout
//! is the Windows structure (`FILE_STANDARD_INFORMATION`, `FILE_FS_SIZE_INFORMATION`, ...) or
//! the `IO_STACK_LOCATION` parameters, which Process Monitor stores from offset 0xC of the
//! event's parameter block.

use super::bytes::{Cur, Short, utf16};
use super::detail::Detail;
use super::names::{self, thousands, thousands_signed};
use super::num;

/// Where the I/O stack location's parameters start in the event's parameter block.
const PARAMETERS: usize = 0xc;

/// The pieces a decoder reads from.
pub struct FileInput<'a> {
    /// The event's parameter block.
    pub params: &'a [u8],
    /// The detail bytes after the path.
    pub rest: &'a [u8],
    /// The extra detail (the returned buffer), when recorded.
    pub extra: Option<&'a [u8]>,
    pub wide: bool,
}

const SECURITY_INFORMATION: [(u32, &str); 12] = [
    (0x1, "Owner"),
    (0x2, "Group"),
    (0x4, "DACL"),
    (0x8, "SACL"),
    (0x10, "Label"),
    (0x20, "Attribute"),
    (0x40, "Scope"),
    (0x80, "Process Trust Label"),
    (0x8000_0000, "DACL Protected"),
    (0x4000_0000, "SACL Protected"),
    (0x2000_0000, "DACL Unprotected"),
    (0x1000_0000, "SACL Unprotected"),
];

const FS_ATTRIBUTES: [(u32, &str); 12] = [
    (0x2, "Case Preserved"),
    (0x1, "Case Sensitive"),
    (0x4, "Unicode"),
    (0x8, "ACLs"),
    (0x10, "Compression"),
    (0x40000, "Named Streams"),
    (0x20000, "EFS"),
    (0x10000, "Object IDs"),
    (0x80, "Reparse Points"),
    (0x40, "Sparse Files"),
    (0x20, "Quotas"),
    (0x200000, "Transactions"),
];

fn bool_text(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// Decode `op`'s detail; `false` when there is no decoder for it.
pub fn decode(op: &str, input: &FileInput<'_>, d: &mut Detail) -> Result<bool, Short> {
    let ptr = if input.wide { 8 } else { 4 };
    let mut p = Cur::new(input.params);
    let mut r = Cur::new(input.rest);
    let extra = || input.extra.map(Cur::new).ok_or(Short);
    match op {
        "LockFile" | "UnlockFileSingle" => {
            // LockControl: PLARGE_INTEGER Length; ULONG Key; LARGE_INTEGER ByteOffset; then
            // the stack location's fail-immediately and exclusive flags.
            let offset_at = PARAMETERS + ptr + if input.wide { 8 } else { 4 };
            p.seek(offset_at)?;
            let offset = p.u64()? as i64;
            p.seek(offset_at + 8 + ptr)?;
            let fail = p.u8()? != 0;
            let exclusive = p.u8()? != 0;
            let length = r.u64()?;
            if op == "LockFile" {
                d.push("Exclusive", bool_text(exclusive));
            }
            d.push("Offset", thousands_signed(offset));
            d.push("Length", thousands(length));
            if op == "LockFile" {
                d.push("Fail Immediately", bool_text(fail));
            }
        }
        "QuerySecurityFile" | "SetSecurityFile" => {
            p.seek(PARAMETERS)?;
            let info = p.u32()?;
            d.push("Information", with_rest(info, &SECURITY_INFORMATION));
        }
        "FASTIO_ACQUIRE_FOR_MOD_WRITE" => d.push("EndingOffset", thousands(r.u64()?)),
        "SetEndOfFileInformationFile" => d.push("EndOfFile", thousands(r.u64()?)),
        "SetAllocationInformationFile" => d.push("AllocationSize", thousands(r.u64()?)),
        "QueryStandardInformationFile" => {
            let mut x = extra()?;
            let allocation = x.u64()?;
            let end = x.u64()?;
            let links = x.u32()?;
            let delete = x.u8()? != 0;
            let dir = x.u8()? != 0;
            d.push("AllocationSize", thousands(allocation));
            d.push("EndOfFile", thousands(end));
            d.push("NumberOfLinks", num::dec(u64::from(links)));
            d.push("DeletePending", bool_text(delete));
            d.push("Directory", bool_text(dir));
        }
        "QueryAttributeTagFile" => {
            let mut x = extra()?;
            let attributes = x.u32()?;
            let tag = x.u32()?;
            d.push(
                "Attributes",
                names::mask_names(attributes, &names::FILE_ATTRIBUTES, ""),
            );
            d.push("ReparseTag", num::hex(u64::from(tag)));
        }
        "QueryNameInformationFile" => {
            let mut x = extra()?;
            let n = x.u32()? as usize;
            d.push("Name", utf16(x.take(n.min(x.left()))?));
        }
        "QueryFileInternalInformationFile" => {
            d.push("IndexNumber", num::hex(extra()?.u64()?));
        }
        "QueryAttributeInformationVolume" => {
            let mut x = extra()?;
            let attributes = x.u32()?;
            let max_name = x.u32()?;
            let n = x.u32()? as usize;
            let name = utf16(x.take(n.min(x.left()))?);
            d.push(
                "FileSystemAttributes",
                with_rest(attributes, &FS_ATTRIBUTES),
            );
            d.push("MaximumComponentNameLength", max_name.to_string());
            d.push("FileSystemName", name);
        }
        "QuerySizeInformationVolume" => {
            let mut x = extra()?;
            d.push("TotalAllocationUnits", thousands(x.u64()?));
            d.push("AvailableAllocationUnits", thousands(x.u64()?));
            d.push("SectorsPerAllocationUnit", thousands(u64::from(x.u32()?)));
            d.push("BytesPerSector", thousands(u64::from(x.u32()?)));
        }
        "QueryFullSizeInformationVolume" => {
            let mut x = extra()?;
            d.push("TotalAllocationUnits", thousands(x.u64()?));
            d.push("CallerAvailableAllocationUnits", thousands(x.u64()?));
            d.push("ActualAvailableAllocationUnits", thousands(x.u64()?));
            d.push("SectorsPerAllocationUnit", thousands(u64::from(x.u32()?)));
            d.push("BytesPerSector", thousands(u64::from(x.u32()?)));
        }
        "QueryObjectIdInformationVolume" => {
            let id = extra()?.take(16)?;
            d.push(
                "ObjectId",
                id.iter().map(|b| format!("{b:02X}")).collect::<String>(),
            );
        }
        "QueryBasicInformationFile" => basic(&mut extra()?, d)?,
        "SetBasicInformationFile" => basic(&mut r, d)?,
        "QueryAllInformationFile" => {
            let mut x = extra()?;
            basic(&mut x, d)?;
            x.skip(4)?;
            d.push("AllocationSize", thousands(x.u64()?));
            d.push("EndOfFile", thousands(x.u64()?));
            d.push("NumberOfLinks", num::dec(u64::from(x.u32()?)));
            d.push("DeletePending", bool_text(x.u8()? != 0));
            d.push("Directory", bool_text(x.u8()? != 0));
            x.skip(2)?;
            d.push("IndexNumber", num::hex(x.u64()?));
            d.push("EaSize", num::dec(u64::from(x.u32()?)));
            d.push("Access", names::file_access(x.u32()?));
            d.push("Position", thousands(x.u64()?));
            d.push(
                "Mode",
                names::mask_names(x.u32()?, &names::CREATE_OPTIONS, ", "),
            );
            d.push("AlignmentRequirement", alignment(x.u32()?));
        }
        "QueryNetworkOpenInformationFile" => {
            let mut x = extra()?;
            for key in [
                "CreationTime",
                "LastAccessTime",
                "LastWriteTime",
                "ChangeTime",
            ] {
                d.push(key, date_text(x.u64()?));
            }
            // Process Monitor prints these two sizes as dates (its own slip); they are sizes.
            d.push("AllocationSize", thousands(x.u64()?));
            d.push("EndOfFile", thousands(x.u64()?));
            d.push("FileAttributes", attributes_text(x.u32()?));
        }
        "QueryInformationVolume" => {
            let mut x = extra()?;
            let created = x.u64()?;
            let serial = x.u32()?;
            let label_len = x.u32()? as usize;
            let objects = x.u8()? != 0;
            x.skip(1)?;
            let label = utf16(x.take(label_len.min(x.left()))?);
            d.push("VolumeCreationTime", date_text(created));
            d.push(
                "VolumeSerialNumber",
                format!("{:04X}-{:04X}", serial >> 16, serial & 0xffff),
            );
            d.push("SupportsObjects", bool_text(objects));
            d.push("VolumeLabel", label);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// The names of the known bits, then what is left as hex (as Process Monitor writes it).
fn with_rest(mask: u32, table: &[(u32, &str)]) -> String {
    let known = table.iter().fold(0u32, |a, (b, _)| a | b);
    let mut text = names::mask_names(mask, table, ", ");
    if mask & !known != 0 {
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&format!("{:#x}", mask & !known));
    }
    text
}

fn attributes_text(a: u32) -> String {
    if a == 0 {
        "n/a".to_string()
    } else {
        names::mask_names(a, &names::FILE_ATTRIBUTES, "")
    }
}

/// `FILE_BASIC_INFORMATION`: four times and the attributes.
fn basic(x: &mut Cur<'_>, d: &mut Detail) -> Result<(), Short> {
    for key in [
        "CreationTime",
        "LastAccessTime",
        "LastWriteTime",
        "ChangeTime",
    ] {
        d.push(key, date_text(x.u64()?));
    }
    d.push("FileAttributes", attributes_text(x.u32()?));
    Ok(())
}

fn alignment(a: u32) -> String {
    match a {
        0 => "Byte".into(),
        1 => "Word".into(),
        3 => "Long".into(),
        7 => "Quad".into(),
        0xf => "Octa".into(),
        0x1f => "32 Byte".into(),
        0x3f => "64 Byte".into(),
        0x7f => "128 Byte".into(),
        0xff => "256 Byte".into(),
        0x1ff => "512 Byte".into(),
        v => format!("{v:#x}"),
    }
}

/// A FILETIME inside a detail, in the CSV's `M/D/YYYY h:mm:ss AM` shape but in UTC: the PML
/// does not record the viewer's time zone that Process Monitor converts it to.
pub fn date_text(ft: u64) -> num::Num {
    num::filetime_date(ft)
}
