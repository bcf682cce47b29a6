//! The names Process Monitor prints for the numbers a PML event stores: operations, NTSTATUS
//! results, access masks, create options, registry types. Each table is the Windows SDK's
//! meaning of the value, spelled the way Process Monitor's own CSV export spells it.

use std::cell::RefCell;
use std::rc::Rc;

use super::num::{self, Num};

/// Event classes as stored in an event (`Profiling` is never exported to CSV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Process,
    Registry,
    FileSystem,
    Profiling,
    Network,
}

impl Class {
    pub fn from_u32(v: u32) -> Option<Class> {
        Some(match v {
            1 => Class::Process,
            2 => Class::Registry,
            3 => Class::FileSystem,
            4 => Class::Profiling,
            5 => Class::Network,
            _ => return None,
        })
    }

    /// The `Event Class` column.
    pub fn name(self) -> &'static str {
        match self {
            Class::Process => "Process",
            Class::Registry => "Registry",
            Class::FileSystem => "File System",
            Class::Profiling => "Profiling",
            Class::Network => "Network",
        }
    }
}

pub const PROCESS_OPS: [&str; 10] = [
    "Process Defined",
    "Process Create",
    "Process Exit",
    "Thread Create",
    "Thread Exit",
    "Load Image",
    "Thread Profile",
    "Process Start",
    "Process Statistics",
    "System Statistics",
];

pub const REGISTRY_OPS: [&str; 18] = [
    "RegOpenKey",
    "RegCreateKey",
    "RegCloseKey",
    "RegQueryKey",
    "RegSetValue",
    "RegQueryValue",
    "RegEnumValue",
    "RegEnumKey",
    "RegSetInfoKey",
    "RegDeleteKey",
    "RegDeleteValue",
    "RegFlushKey",
    "RegLoadKey",
    "RegUnloadKey",
    "RegRenameKey",
    "RegQueryMultipleValueKey",
    "RegSetKeySecurity",
    "RegQueryKeySecurity",
];

/// Network operations; the event's flags add the `TCP `/`UDP ` prefix.
pub const NETWORK_OPS: [&str; 10] = [
    "Unknown",
    "Other",
    "Send",
    "Receive",
    "Accept",
    "Connect",
    "Disconnect",
    "Reconnect",
    "Retransmit",
    "TCPCopy",
];

/// [`NETWORK_OPS`] with their protocol, as the Operation column names them (`TCP Send`).
pub const TCP_OPS: [&str; 10] = [
    "TCP Unknown",
    "TCP Other",
    "TCP Send",
    "TCP Receive",
    "TCP Accept",
    "TCP Connect",
    "TCP Disconnect",
    "TCP Reconnect",
    "TCP Retransmit",
    "TCP TCPCopy",
];
/// [`NETWORK_OPS`] over UDP.
pub const UDP_OPS: [&str; 10] = [
    "UDP Unknown",
    "UDP Other",
    "UDP Send",
    "UDP Receive",
    "UDP Accept",
    "UDP Connect",
    "UDP Disconnect",
    "UDP Reconnect",
    "UDP Retransmit",
    "UDP TCPCopy",
];

/// File-system operations by their IRP major function / fast I/O index.
pub const FILE_OPS: [&str; 48] = [
    "VolumeDismount",
    "VolumeMount",
    "FASTIO_MDL_WRITE_COMPLETE",
    "WriteFile2",
    "FASTIO_MDL_READ_COMPLETE",
    "ReadFile2",
    "QueryOpen",
    "FASTIO_CHECK_IF_POSSIBLE",
    "IRP_MJ_12",
    "IRP_MJ_11",
    "IRP_MJ_10",
    "IRP_MJ_9",
    "IRP_MJ_8",
    "FASTIO_NOTIFY_STREAM_FO_CREATION",
    "FASTIO_RELEASE_FOR_CC_FLUSH",
    "FASTIO_ACQUIRE_FOR_CC_FLUSH",
    "FASTIO_RELEASE_FOR_MOD_WRITE",
    "FASTIO_ACQUIRE_FOR_MOD_WRITE",
    "FASTIO_RELEASE_FOR_SECTION_SYNCHRONIZATION",
    "CreateFileMapping",
    "CreateFile",
    "CreatePipe",
    "IRP_MJ_CLOSE",
    "ReadFile",
    "WriteFile",
    "QueryInformationFile",
    "SetInformationFile",
    "QueryEAFile",
    "SetEAFile",
    "FlushBuffersFile",
    "QueryVolumeInformation",
    "SetVolumeInformation",
    "DirectoryControl",
    "FileSystemControl",
    "DeviceIoControl",
    "InternalDeviceIoControl",
    "Shutdown",
    "LockUnlockFile",
    "CloseFile",
    "CreateMailSlot",
    "QuerySecurityFile",
    "SetSecurityFile",
    "Power",
    "SystemControl",
    "DeviceChange",
    "QueryFileQuota",
    "SetFileQuota",
    "PlugAndPlay",
];

pub mod fileop {
    pub const CREATE_FILE_MAPPING: u16 = 19;
    pub const CREATE_FILE: u16 = 20;
    pub const READ_FILE: u16 = 23;
    pub const WRITE_FILE: u16 = 24;
    pub const QUERY_INFORMATION: u16 = 25;
    pub const SET_INFORMATION: u16 = 26;
    pub const QUERY_VOLUME_INFORMATION: u16 = 30;
    pub const SET_VOLUME_INFORMATION: u16 = 31;
    pub const DIRECTORY_CONTROL: u16 = 32;
    pub const FILE_SYSTEM_CONTROL: u16 = 33;
    pub const DEVICE_IO_CONTROL: u16 = 34;
    pub const INTERNAL_DEVICE_IO_CONTROL: u16 = 35;
    pub const LOCK_UNLOCK: u16 = 37;
    pub const PLUG_AND_PLAY: u16 = 47;
}

/// The more specific name of a file-system operation with a minor code (`QueryInformationFile`
/// with `FileBasicInformation` is `QueryBasicInformationFile`). `None` when the minor code is
/// unknown: Process Monitor prints `<Unknown>`.
pub fn file_sub_op(op: u16, sub: u8) -> Option<&'static str> {
    use fileop::*;
    let table: &[(u8, &str)] = match op {
        QUERY_VOLUME_INFORMATION => &[
            (1, "QueryInformationVolume"),
            (2, "QueryLabelInformationVolume"),
            (3, "QuerySizeInformationVolume"),
            (4, "QueryDeviceInformationVolume"),
            (5, "QueryAttributeInformationVolume"),
            (6, "QueryControlInformationVolume"),
            (7, "QueryFullSizeInformationVolume"),
            (8, "QueryObjectIdInformationVolume"),
        ],
        SET_VOLUME_INFORMATION => &[
            (1, "SetControlInformationVolume"),
            (2, "SetLabelInformationVolume"),
            (8, "SetObjectIdInformationVolume"),
        ],
        QUERY_INFORMATION => &[
            (0x04, "QueryBasicInformationFile"),
            (0x05, "QueryStandardInformationFile"),
            (0x06, "QueryFileInternalInformationFile"),
            (0x07, "QueryEaInformationFile"),
            (0x09, "QueryNameInformationFile"),
            (0x0e, "QueryPositionInformationFile"),
            (0x12, "QueryAllInformationFile"),
            (0x14, "QueryEndOfFile"),
            (0x16, "QueryStreamInformationFile"),
            (0x1c, "QueryCompressionInformationFile"),
            (0x1d, "QueryId"),
            (0x1f, "QueryMoveClusterInformationFile"),
            (0x22, "QueryNetworkOpenInformationFile"),
            (0x23, "QueryAttributeTagFile"),
            (0x25, "QueryIdBothDirectory"),
            (0x27, "QueryValidDataLength"),
            (0x28, "QueryShortNameInformationFile"),
            (0x2b, "QueryIoPiorityHint"),
            (0x2e, "QueryLinks"),
            (0x30, "QueryNormalizedNameInformationFile"),
            (0x31, "QueryNetworkPhysicalNameInformationFile"),
            (0x32, "QueryIdGlobalTxDirectoryInformation"),
            (0x33, "QueryIsRemoteDeviceInformation"),
            (0x34, "QueryAttributeCacheInformation"),
            (0x35, "QueryNumaNodeInformation"),
            (0x36, "QueryStandardLinkInformation"),
            (0x37, "QueryRemoteProtocolInformation"),
            (0x38, "QueryRenameInformationBypassAccessCheck"),
            (0x39, "QueryLinkInformationBypassAccessCheck"),
            (0x3a, "QueryVolumeNameInformation"),
            (0x3b, "QueryIdInformation"),
            (0x3c, "QueryIdExtdDirectoryInformation"),
            (0x3e, "QueryHardLinkFullIdInformation"),
            (0x3f, "QueryIdExtdBothDirectoryInformation"),
            (0x43, "QueryDesiredStorageClassInformation"),
            (0x44, "QueryStatInformation"),
            (0x45, "QueryMemoryPartitionInformation"),
            (0x46, "QuerySatLxInformation"),
            (0x47, "QueryCaseSensitiveInformation"),
            (0x48, "QueryLinkInformationEx"),
            (0x49, "QueryLinkInfomraitonBypassAccessCheck"),
            (0x4a, "QueryStorageReservedIdInformation"),
            (0x4b, "QueryCaseSensitiveInformationForceAccessCheck"),
        ],
        SET_INFORMATION => &[
            (0x04, "SetBasicInformationFile"),
            (0x0a, "SetRenameInformationFile"),
            (0x0b, "SetLinkInformationFile"),
            (0x0d, "SetDispositionInformationFile"),
            (0x0e, "SetPositionInformationFile"),
            (0x13, "SetAllocationInformationFile"),
            (0x14, "SetEndOfFileInformationFile"),
            (0x16, "SetFileStreamInformation"),
            (0x17, "SetPipeInformation"),
            (0x27, "SetValidDataLengthInformationFile"),
            (0x28, "SetShortNameInformation"),
            (0x3d, "SetReplaceCompletionInformation"),
            (0x40, "SetDispositionInformationEx"),
            (0x41, "SetRenameInformationEx"),
            (0x42, "SetRenameInformationExBypassAccessCheck"),
            (0x4a, "SetStorageReservedIdInformation"),
        ],
        DIRECTORY_CONTROL => &[(1, "QueryDirectory"), (2, "NotifyChangeDirectory")],
        PLUG_AND_PLAY => &[
            (0x00, "StartDevice"),
            (0x01, "QueryRemoveDevice"),
            (0x02, "RemoveDevice"),
            (0x03, "CancelRemoveDevice"),
            (0x04, "StopDevice"),
            (0x05, "QueryStopDevice"),
            (0x06, "CancelStopDevice"),
            (0x07, "QueryDeviceRelations"),
            (0x08, "QueryInterface"),
            (0x09, "QueryCapabilities"),
            (0x0a, "QueryResources"),
            (0x0b, "QueryResourceRequirements"),
            (0x0c, "QueryDeviceText"),
            (0x0d, "FilterResourceRequirements"),
            (0x0f, "ReadConfig"),
            (0x10, "WriteConfig"),
            (0x11, "Eject"),
            (0x12, "SetLock"),
            (0x13, "QueryId2"),
            (0x14, "QueryPnpDeviceState"),
            (0x15, "QueryBusInformation"),
            (0x16, "DeviceUsageNotification"),
            (0x17, "SurpriseRemoval"),
            (0x18, "QueryLegacyBusInformation"),
        ],
        LOCK_UNLOCK => &[
            (1, "LockFile"),
            (2, "UnlockFileSingle"),
            (3, "UnlockFileAll"),
            (4, "UnlockFileByKey"),
        ],
        _ => return Some(""),
    };
    table.iter().find(|(v, _)| *v == sub).map(|(_, n)| *n)
}

/// An NTSTATUS as Process Monitor prints it in the Result column; unknown values as hex.
pub fn result_text(status: u32) -> std::borrow::Cow<'static, str> {
    match ntstatus_name(status) {
        Some(name) => std::borrow::Cow::Borrowed(name),
        None => std::borrow::Cow::Owned(format!("0x{status:X}")),
    }
}

/// The names Process Monitor gives NTSTATUS values (STATUS_PENDING prints as nothing: the
/// operation had not completed).
pub fn ntstatus_name(status: u32) -> Option<&'static str> {
    Some(match status {
        0 => "SUCCESS",
        0x103 => "",
        0x104 => "REPARSE",
        0x105 => "MORE ENTRIES",
        0x108 => "OPLOCK BREAK IN PROGRESS",
        0x10b => "NOTIFY CLEANUP",
        0x10c => "NOTIFY ENUM DIR",
        0x12a => "FILE LOCKED WITH ONLY READERS",
        0x12b => "FILE LOCKED WITH WRITERS",
        0x215 => "OPLOCK SWITCHED TO NEW HANDLE",
        0x216 => "OPLOCK HANDLE CLOSED",
        0x367 => "WAIT FOR OPLOCK",
        0x4000_0016 => "PREDEFINED HANDLE",
        0x8000_0002 => "DATATYPE MISALIGNMENT",
        0x8000_0005 => "BUFFER OVERFLOW",
        0x8000_0006 => "NO MORE FILES",
        0x8000_0015 => "INVALID EA FLAG",
        0x8000_001a => "NO MORE ENTRIES",
        0xc000_0001 => "UNSUCCESSFUL",
        0xc000_0002 => "NOT IMPLEMENTED",
        0xc000_0003 => "INVALID INFO CLASS",
        0xc000_0004 => "INFO LENGTH MISMATCH",
        0xc000_0005 => "ACCESS VIOLATION",
        0xc000_0006 => "IN PAGE ERROR",
        0xc000_0008 => "INVALID HANDLE",
        0xc000_000d => "INVALID PARAMETER",
        0xc000_000e => "NO SUCH DEVICE",
        0xc000_000f => "NO SUCH FILE",
        0xc000_0010 => "INVALID DEVICE REQUEST",
        0xc000_0011 => "END OF FILE",
        0xc000_0012 => "WRONG VOLUME",
        0xc000_0013 => "NO MEDIA",
        0xc000_0015 => "NONEXISTENT SECTOR",
        0xc000_0017 => "NO MEMORY",
        0xc000_0021 => "ALREADY COMMITED",
        0xc000_0022 => "ACCESS DENIED",
        0xc000_0023 => "BUFFER TOO SMALL",
        0xc000_0024 => "OBJECT TYPE MISMATCH",
        0xc000_0032 => "DISK CORRUPT",
        0xc000_0033 => "NAME INVALID",
        0xc000_0034 => "NAME NOT FOUND",
        0xc000_0035 => "NAME COLLISION",
        0xc000_0039 => "OBJECT PATH INVALID",
        0xc000_003a => "PATH NOT FOUND",
        0xc000_003b => "PATH SYNTAX BAD",
        0xc000_003c => "DATA OVERRUN",
        0xc000_003f => "CRC ERROR",
        0xc000_0043 => "SHARING VIOLATION",
        0xc000_0044 => "QUOTA EXCEEDED",
        0xc000_004f => "EAS NOT SUPPORTED",
        0xc000_0050 => "EA TOO LARGE",
        0xc000_0051 => "NONEXISTENT EA ENTRY",
        0xc000_0052 => "NO EAS ON FILE",
        0xc000_0053 => "EA CORRUPTED ERROR",
        0xc000_0054 => "FILE LOCK CONFLICT",
        0xc000_0055 => "NOT GRANTED",
        0xc000_0056 => "DELETE PENDING",
        0xc000_0061 => "PRIVILEGE NOT HELD",
        0xc000_006d => "LOGON FAILURE",
        0xc000_007e => "RANGE NOT LOCKED",
        0xc000_007f => "DISK FULL",
        0xc000_0098 => "FILE INVALID",
        0xc000_009a => "INSUFFICIENT RESOURCES",
        0xc000_009c => "DEVICE DATA ERROR",
        0xc000_009d => "DEVICE NOT CONNECTED",
        0xc000_00a2 => "MEDIA WRITE PROTECTED",
        0xc000_00a5 => "BAD IMPERSONATION",
        0xc000_00ab => "INSTANCE NOT AVAILABLE",
        0xc000_00ac => "PIPE NOT AVAILABLE",
        0xc000_00ad => "INVALID PIPE STATE",
        0xc000_00ae => "PIPE BUSY",
        0xc000_00b0 => "PIPE DISCONNECTED",
        0xc000_00b1 => "PIPE CLOSING",
        0xc000_00b2 => "PIPE CONNECTED",
        0xc000_00b3 => "PIPE LISTENING",
        0xc000_00b4 => "INVALID READ MODE",
        0xc000_00b5 => "IO TIMEOUT",
        0xc000_00ba => "IS DIRECTORY",
        0xc000_00bb => "NOT SUPPORTED",
        0xc000_00bd => "DUPLICATE NAME",
        0xc000_00be | 0xc000_00c1 => "BAD NETWORK PATH",
        0xc000_00c3 => "INVALID NETWORK RESPONSE",
        0xc000_00c4 => "NETWORK ERROR",
        0xc000_00cc | 0xc000_00d4 => "BAD NETWORK NAME",
        0xc000_00d8 => "CANT WAIT",
        0xc000_00d9 => "PIPE EMPTY",
        0xc000_00db => "CSC OBJECT PATH NOT FOUND",
        0xc000_00e2 => "OPLOCK NOT GRANTED",
        0xc000_00ef => "INVALID PARAMETER 1",
        0xc000_00f0 => "INVALID PARAMETER 2",
        0xc000_00f1 => "INVALID PARAMETER 3",
        0xc000_00f2 => "INVALID PARAMETER 4",
        0xc000_00fb => "REDIRECTOR NOT STARTED",
        0xc000_0101 => "NOT EMPTY",
        0xc000_0102 => "FILE CORRUPT",
        0xc000_0103 => "NOT A DIRECTORY",
        0xc000_0107 => "FILES OPEN",
        0xc000_010d => "CANNOT IMPERSONATE",
        0xc000_0120 => "CANCELLED",
        0xc000_0121 => "CANNOT DELETE",
        0xc000_0123 => "FILE DELETED",
        0xc000_0128 => "FILE CLOSED",
        0xc000_012a => "THREAD NOT IN PROCESS",
        0xc000_0148 => "INVALID LEVEL",
        0xc000_014b => "PIPE BROKEN",
        0xc000_014c => "REGISTRY CORRUPT",
        0xc000_014d => "IO FAILED",
        0xc000_017c => "KEY DELETED",
        0xc000_0181 => "CHILD MUST BE VOLATILE",
        0xc000_0184 => "INVALID DEVICE STATE",
        0xc000_0185 => "IO DEVICE ERROR",
        0xc000_0188 => "LOG FILE FULL",
        0xc000_019c => "FS DRIVER REQUIRED",
        0xc000_0205 => "INSUFFICIENT SERVER RESOURCES",
        0xc000_0207 => "INVALID ADDRESS COMPONENT",
        0xc000_020c => "DISCONNECTED",
        0xc000_0225 => "NOT FOUND",
        0xc000_0243 => "USER MAPPED FILE",
        0xc000_0248 => "LOGIN WKSTA RESTRICTION",
        0xc000_0257 => "PATH NOT COVERED",
        0xc000_026d => "DFS UNAVAILABLE",
        0xc000_0273 => "NO MORE MATCHES",
        0xc000_0275 => "NOT REPARSE POINT",
        0xc000_02ea => "CANNOT MAKE",
        0xc000_02f0 => "OBJECTID NOT FOUND",
        0xc000_0388 => "DOWNGRADE DETECTED",
        0xc000_0425 => "HIVE UNLOADED",
        0xc000_0427 => "FILE SYSTEM LIMITATION",
        0xc000_0463 => "DEVICE FEATURE NOT SUPPORTED",
        0xc000_046d => "OBJECT NOT EXTERNALLY BACKED",
        0xc000_0909 => "CANNOT BREAK OPLOCK",
        0xc000_a2a1 => "STATUS_OFFLOAD_READ_FLT_NOT_SUPPORTED",
        0xc000_a2a2 => "STATUS_OFFLOAD_WRITE_FLT_NOT_SUPPORTED",
        0xc000_a2a3 | 0xc000_a2a4 => "OFFLOAD READ FILE NOT SUPPORTED",
        0xc019_0001 => "TRANSACTIONAL CONFLICT",
        0xc019_0002 => "INVALID TRANSACTION",
        0xc019_0003 => "TRANSACTION_NOT_ACTIVE",
        0xc019_003e => "EFS NOT ALLOWED IN TRANSACTION",
        0xc019_003f => "TRANSACTIONAL OPEN NOT ALLOWED",
        0xc019_0040 => "TRANSACTED MAPPING UNSUPPORTED REMOTE",
        0xc019_0044 => "CANNOT EXECUTE FILE IN TRANSACTION",
        0xc019_0049 => "SPARSE NOT ALLOWED IN TRANSACTION",
        0xc01c_0004 => "FAST IO DISALLOWED",
        _ => return None,
    })
}

/// Join the names of the bits set in `mask`, each named bit group taken once, in table order.
pub fn mask_names(mask: u32, table: &[(u32, &str)], sep: &str) -> String {
    mask_names_of(mask, table.iter(), sep)
}

fn mask_names_of<'a>(
    mut mask: u32,
    table: impl Iterator<Item = &'a (u32, &'a str)>,
    sep: &str,
) -> String {
    // Room for the usual few names at once, not grown name by name.
    let mut out = String::with_capacity(64);
    for (bits, name) in table {
        if mask & bits == *bits && *bits != 0 {
            if !out.is_empty() {
                out.push_str(sep);
            }
            out.push_str(name);
            mask &= !bits;
        }
    }
    out
}

const COMMON_ACCESS: [(u32, &str); 7] = [
    (0x10000, "Delete"),
    (0x20000, "Read Control"),
    (0x40000, "Write DAC"),
    (0x80000, "Write Owner"),
    (0x100000, "Synchronize"),
    (0x1000000, "Access System Security"),
    (0x2000000, "Maximum Allowed"),
];

const REGISTRY_ACCESS: [(u32, &str); 13] = [
    (0xf003f, "All Access"),
    (0x2001f, "Read/Write"),
    (0x20019, "Read"),
    (0x20006, "Write"),
    (0x1, "Query Value"),
    (0x2, "Set Value"),
    (0x4, "Create Sub Key"),
    (0x8, "Enumerate Sub Keys"),
    (0x10, "Notify"),
    (0x20, "Create Link"),
    (0x300, "WOW64_Res"),
    (0x200, "WOW64_32Key"),
    (0x100, "WOW64_64Key"),
];

const FILE_ACCESS: [(u32, &str); 17] = [
    (0x1f01ff, "All Access"),
    (0x1201bf, "Generic Read/Write/Execute"),
    (0x12019f, "Generic Read/Write"),
    (0x1200a9, "Generic Read/Execute"),
    (0x1201b6, "Generic Write/Execute"),
    (0x120089, "Generic Read"),
    (0x120116, "Generic Write"),
    (0x1200a0, "Generic Execute"),
    (0x1, "Read Data/List Directory"),
    (0x2, "Write Data/Add File"),
    (0x4, "Append Data/Add Subdirectory/Create Pipe Instance"),
    (0x8, "Read EA"),
    (0x10, "Write EA"),
    (0x20, "Execute/Traverse"),
    (0x40, "Delete Child"),
    (0x80, "Read Attributes"),
    (0x100, "Write Attributes"),
];

/// An access mask's text from `table` (0 registry, 1 file), remembered: a capture asks the
/// same few masks again and again, and walking the names took 5% of reading one. A small
/// table per thread, each slot holding the last mask that fell in it.
fn access_text(mask: u32, table: u8, generic: [u32; 4], specific: &[(u32, &str)]) -> Rc<str> {
    type Memo = [Option<(u32, u8, Rc<str>)>; 64];
    thread_local! {
        static MEMO: RefCell<Memo> = const { RefCell::new([const { None }; 64]) };
    }
    // The high six bits of a multiplicative hash: a slot in 0..64.
    let key = (mask ^ (u32::from(table) << 31)).wrapping_mul(0x9E37_79B1);
    let slot = (key >> 26) as usize;
    MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if let Some((m, t, text)) = &memo[slot]
            && (*m, *t) == (mask, table)
        {
            return Rc::clone(text);
        }
        let text: Rc<str> = Rc::from(access_names(mask, generic, specific));
        memo[slot] = Some((mask, table, Rc::clone(&text)));
        text
    })
}

/// An access mask, generic bits mapped first (as `MapGenericMask` does).
fn access_names(mut mask: u32, generic: [u32; 4], specific: &[(u32, &str)]) -> String {
    for (bit, mapped) in [0x8000_0000u32, 0x4000_0000, 0x2000_0000, 0x1000_0000]
        .into_iter()
        .zip(generic)
    {
        if mask & bit != 0 {
            mask |= mapped;
        }
    }
    let text = mask_names_of(mask, specific.iter().chain(COMMON_ACCESS.iter()), ", ");
    if text.is_empty() {
        format!("None 0x{mask:x}")
    } else {
        text
    }
}

/// What the generic read, write, execute and all bits of a registry key's mask stand for.
const REGISTRY_GENERIC: [u32; 4] = [0x20019, 0x20006, 0x20019, 0xf003f];
/// The same for a file's.
const FILE_GENERIC: [u32; 4] = [0x120089, 0x120116, 0x1200a0, 0x1f01ff];

pub fn registry_access(mask: u32) -> Rc<str> {
    access_text(mask, 0, REGISTRY_GENERIC, &REGISTRY_ACCESS)
}

pub fn file_access(mask: u32) -> Rc<str> {
    access_text(mask, 1, FILE_GENERIC, &FILE_ACCESS)
}

pub const CREATE_OPTIONS: [(u32, &str); 22] = [
    (0x1, "Directory"),
    (0x2, "Write Through"),
    (0x4, "Sequential Access"),
    (0x8, "No Buffering"),
    (0x10, "Synchronous IO Alert"),
    (0x20, "Synchronous IO Non-Alert"),
    (0x40, "Non-Directory File"),
    (0x80, "Create Tree Connection"),
    (0x100, "Complete If Oplocked"),
    (0x200, "No EA Knowledge"),
    (0x400, "Open for Recovery"),
    (0x800, "Random Access"),
    (0x1000, "Delete On Close"),
    (0x2000, "Open By ID"),
    (0x4000, "Open For Backup"),
    (0x8000, "No Compression"),
    (0x100000, "Reserve OpFilter"),
    (0x200000, "Open Reparse Point"),
    (0x400000, "Open No Recall"),
    (0x800000, "Open For Free Space Query"),
    (0x10000, "Open Requiring Oplock"),
    (0x20000, "Disallow Exclusive"),
];

/// File attribute letters as Procmon abbreviates them.
pub const FILE_ATTRIBUTES: [(u32, &str); 15] = [
    (0x1, "R"),
    (0x2, "H"),
    (0x4, "S"),
    (0x10, "D"),
    (0x20, "A"),
    (0x40, "D"),
    (0x80, "N"),
    (0x100, "T"),
    (0x200, "SF"),
    (0x400, "RP"),
    (0x800, "C"),
    (0x1000, "O"),
    (0x2000, "NCI"),
    (0x4000, "E"),
    (0x10000, "V"),
];

pub const SHARE_MODE: [(u32, &str); 3] = [(0x1, "Read"), (0x2, "Write"), (0x4, "Delete")];

pub const IO_FLAGS: [(u32, &str); 6] = [
    (0x10, "Buffered"),
    (0x1, "Non-cached"),
    (0x2, "Paging I/O"),
    (0x4, "Synchronous"),
    (0x40, "Synchronous Paging I/O"),
    (0x400000, "Write Through"),
];

pub const NOTIFY_FILTER: [(u32, &str); 13] = [
    (0x1, "FILE_NOTIFY_CHANGE_FILE_NAME"),
    (0x2, "FILE_NOTIFY_CHANGE_DIR_NAME"),
    (0x3, "FILE_NOTIFY_CHANGE_NAME"),
    (0x4, "FILE_NOTIFY_CHANGE_ATTRIBUTES"),
    (0x8, "FILE_NOTIFY_CHANGE_SIZE"),
    (0x10, "FILE_NOTIFY_CHANGE_LAST_WRITE"),
    (0x20, "FILE_NOTIFY_CHANGE_LAST_ACCESS"),
    (0x40, "FILE_NOTIFY_CHANGE_CREATION"),
    (0x80, "FILE_NOTIFY_CHANGE_EA"),
    (0x100, "FILE_NOTIFY_CHANGE_SECURITY"),
    (0x200, "FILE_NOTIFY_CHANGE_STREAM_NAME"),
    (0x400, "FILE_NOTIFY_CHANGE_STREAM_SIZE"),
    (0x800, "FILE_NOTIFY_CHANGE_STREAM_WRITE"),
];

pub fn priority(p: u32) -> Option<&'static str> {
    Some(match p {
        1 => "Very Low",
        2 => "Low",
        3 => "Normal",
        4 => "High",
        5 => "Critical",
        _ => return None,
    })
}

pub fn disposition(d: u32) -> Option<&'static str> {
    [
        "Supersede",
        "Open",
        "Create",
        "OpenIf",
        "Overwrite",
        "OverwriteIf",
    ]
    .get(d as usize)
    .copied()
}

pub fn open_result(r: u32) -> Option<&'static str> {
    [
        "Superseded",
        "Opened",
        "Created",
        "Overwritten",
        "Exists",
        "DoesNotExist",
    ]
    .get(r as usize)
    .copied()
}

pub fn registry_type(t: u32) -> Option<&'static str> {
    [
        "REG_NONE",
        "REG_SZ",
        "REG_EXPAND_SZ",
        "REG_BINARY",
        "REG_DWORD",
        "REG_DWORD_BIG_ENDIAN",
        "REG_LINK",
        "REG_MULTI_SZ",
        "REG_RESOURCE_LIST",
        "REG_FULL_RESOURCE_DESCRIPTOR",
        "REG_RESOURCE_REQUIREMENTS_LIST",
        "REG_QWORD",
    ]
    .get(t as usize)
    .copied()
}

/// `KEY_INFORMATION_CLASS` as the `Query:` detail names it.
pub fn key_information_class(c: u32) -> Option<&'static str> {
    [
        "Basic",
        "Node",
        "Full",
        "Name",
        "Cached",
        "Flags",
        "Virtualization",
        "HandleTags",
        "Trust",
        "Layer",
    ]
    .get(c as usize)
    .copied()
}

pub fn key_set_information_class(c: u32) -> Option<&'static str> {
    Some(match c {
        0 => "KeyWriteTimeInformation",
        1 => "KeyWow64FlagsInformation",
        5 => "KeySetHandleTagsInformation",
        _ => return None,
    })
}

/// `FILE_INFORMATION_CLASS` names, 1-based (index 0 is `Unknown`).
pub fn file_information_class(c: u32) -> Option<&'static str> {
    const NAMES: [&str; 71] = [
        "Unknown",
        "FileDirectoryInformation",
        "FileFullDirectoryInformation",
        "FileBothDirectoryInformation",
        "FileBasicInformation",
        "FileStandardInformation",
        "FileInternalInformation",
        "FileEaInformation",
        "FileAccessInformation",
        "FileNameInformation",
        "FileRenameInformation",
        "FileLinkInformation",
        "FileNamesInformation",
        "FileDispositionInformation",
        "FilePositionInformation",
        "FileFullEaInformation",
        "FileModeInformation",
        "FileAlignmentInformation",
        "FileAllInformation",
        "FileAllocationInformation",
        "FileEndOfFileInformation",
        "FileAlternateNameInformation",
        "FileStreamInformation",
        "FilePipeInformation",
        "FilePipeLocalInformation",
        "FilePipeRemoteInformation",
        "FileMailslotQueryInformation",
        "FileMailslotSetInformation",
        "FileCompressionInformation",
        "FileObjectIdInformation",
        "FileCompletionInformation",
        "FileMoveClusterInformation",
        "FileQuotaInformation",
        "FileReparsePointInformation",
        "FileNetworkOpenInformation",
        "FileAttributeTagInformation",
        "FileTrackingInformation",
        "FileIdBothDirectoryInformation",
        "FileIdFullDirectoryInformation",
        "FileValidDataLengthInformation",
        "FileShortNameInformation",
        "FileIoCompletionNotificationInformation",
        "FileIoStatusBlockRangeInformation",
        "FileIoPriorityHintInformation",
        "FileSfioReserveInformation",
        "FileSfioVolumeInformation",
        "FileHardLinkInformation",
        "FileProcessIdsUsingFileInformation",
        "FileNormalizedNameInformation",
        "FileNetworkPhysicalNameInformation",
        "FileIdGlobalTxDirectoryInformation",
        "FileIsRemoteDeviceInformation",
        "FileUnusedInformation",
        "FileNumaNodeInformation",
        "FileStandardLinkInformation",
        "FileRemoteProtocolInformation",
        "FileRenameInformationBypassAccessCheck",
        "FileLinkInformationBypassAccessCheck",
        "FileVolumeNameInformation",
        "FileIdInformation",
        "FileIdExtdDirectoryInformation",
        "FileReplaceCompletionInformation",
        "FileHardLinkFullIdInformation",
        "FileIdExtdBothDirectoryInformation",
        "FileDispositionInformationEx",
        "FileRenameInformationEx",
        "FileRenameInformationExBypassAccessCheck",
        "FileDesiredStorageClassInformation",
        "FileStatInformation",
        "FileMemoryPartitionInformation",
        "FileMaximumInformation",
    ];
    NAMES.get(c as usize).copied()
}

/// `1234567` → `1,234,567`, as Procmon's CSV writes counts and sizes.
pub fn thousands(n: u64) -> Num {
    num::grouped(n)
}

pub fn thousands_signed(n: i64) -> Num {
    num::grouped_signed(n)
}

/// A duration in 100 ns units as `seconds.fraction` (7 digits).
pub fn duration_text(ticks: u64) -> Num {
    num::seconds(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Remembered texts are the texts: masks asked in both tables, again and again, many more
    /// than the memo has slots (so slots are taken over), each compared with a fresh rendering.
    #[test]
    fn remembered_access_texts_are_each_masks_own() {
        let mut x = 0x2545_f491u32;
        let mut masks: Vec<u32> = (0..2_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x
            })
            .collect();
        masks.extend([0, 0x80, 0x8000_0000, 0x0012_0089, 0x0002_0019, 0x2000000]);
        for round in 0..3 {
            for &m in masks.iter().chain(masks.iter().step_by(7)) {
                let want = access_names(m, FILE_GENERIC, &FILE_ACCESS);
                assert_eq!(&*file_access(m), want, "file {m:#x}, round {round}");
                let want = access_names(m, REGISTRY_GENERIC, &REGISTRY_ACCESS);
                assert_eq!(&*registry_access(m), want, "registry {m:#x}, round {round}");
            }
        }
    }

    #[test]
    fn masks_and_numbers_render_as_procmon_does() {
        assert_eq!(&*file_access(0x80), "Read Attributes");
        assert_eq!(&*file_access(0x4000_0000), "Generic Write");
        assert_eq!(
            &*file_access(0x0012_0116 | 0x80),
            "Generic Write, Read Attributes"
        );
        assert_eq!(&*registry_access(0x2000000), "Maximum Allowed");
        assert_eq!(&*registry_access(0), "None 0x0");
        assert_eq!(mask_names(0x7, &SHARE_MODE, ", "), "Read, Write, Delete");
        assert_eq!(thousands(13_385_728), "13,385,728");
        assert_eq!(thousands(512), "512");
        assert_eq!(thousands_signed(-1500), "-1,500");
        assert_eq!(duration_text(1_406_250), "0.1406250");
        assert_eq!(result_text(0xc000_0022), "ACCESS DENIED");
        assert_eq!(result_text(0xc000_00a2), "MEDIA WRITE PROTECTED");
        assert_eq!(result_text(0xC000_046F), "0xC000046F");
        assert_eq!(
            file_sub_op(fileop::QUERY_INFORMATION, 4),
            Some("QueryBasicInformationFile")
        );
        assert_eq!(file_sub_op(fileop::QUERY_INFORMATION, 0xff), None);
    }
}
