//! The columns of a row that come from its process (image, company, user, session, parent,
//! ...), rendered once per process of the capture instead of once per event, and the process
//! table indexed so that an event finds its process without hashing.

use std::sync::Arc;

use super::names::Class;
use super::num;
use super::tables::{ProcessInfo, Processes};
use crate::model::Fields;

/// A process and its columns' texts.
pub struct Process {
    pub info: Arc<ProcessInfo>,
    /// `Image Path` to `Command Line`: what a row lists between `Event Class` and `TID`.
    before_tid: Fields,
    /// `Virtualized` to `Architecture`: what a row lists after `TID`.
    after_tid: Fields,
}

const DURATION: &str = "Duration";
const CLASS: &str = "Event Class";
const TID: &str = "TID";
/// The number of columns a row has.
const COLUMNS: usize = 15;

impl Process {
    fn new(info: Arc<ProcessInfo>) -> Process {
        let p = &*info;
        let mut before_tid = Fields::default();
        before_tid.push("Image Path", &*p.image_path);
        before_tid.push("Company", &*p.company);
        before_tid.push("Description", &*p.description);
        before_tid.push("Version", &*p.version);
        before_tid.push("User", &*p.user);
        before_tid.push(
            "Authentication ID",
            format!(
                "{:08x}:{:08x}",
                p.authentication_id >> 32,
                p.authentication_id & 0xffff_ffff
            ),
        );
        before_tid.push("Session", num::dec(u64::from(p.session)));
        before_tid.push("Command Line", &*p.command_line);
        let mut after_tid = Fields::default();
        after_tid.push("Virtualized", if p.virtualized { "True" } else { "False" });
        after_tid.push("Integrity", &*p.integrity);
        after_tid.push("Parent PID", num::dec(u64::from(p.parent_pid)));
        after_tid.push("Architecture", if p.is_64bit { "64-bit" } else { "32-bit" });
        Process {
            info,
            before_tid,
            after_tid,
        }
    }

    /// Write an event's columns into `columns` (emptied first), with exactly the room they
    /// take: the event's duration (none while it was pending), class and thread, and the
    /// process's columns copied as they were rendered for the capture.
    pub fn write(&self, columns: &mut Fields, duration: Option<u64>, class: Class, tid: u32) {
        let duration = duration.map(num::seconds);
        let duration = duration.as_ref().map_or("", num::Num::as_str);
        let mut tid_text = itoa::Buffer::new();
        let tid = tid_text.format(tid);
        let class = class.name();
        columns.clear();
        columns.reserve(
            COLUMNS,
            DURATION.len()
                + duration.len()
                + CLASS.len()
                + class.len()
                + self.before_tid.text_len()
                + TID.len()
                + tid.len()
                + self.after_tid.text_len(),
        );
        columns.push(DURATION, duration);
        columns.push(CLASS, class);
        columns.extend_from(&self.before_tid);
        columns.push(TID, tid);
        columns.extend_from(&self.after_tid);
    }
}

/// The largest process index looked up in a table indexed directly (256 KiB of slots).
const MAX_DIRECT: u32 = 1 << 16;
/// An empty slot of the direct table.
const NONE: u32 = u32::MAX;

/// The process table by the index events use: indexed directly when the indexes are small
/// (they count from 0 in every capture seen), by binary search above that.
pub struct Lookup {
    processes: Vec<Process>,
    /// Index → position in `processes`, for indexes below [`MAX_DIRECT`].
    direct: Vec<u32>,
    /// (index, position) for the others, sorted.
    others: Vec<(u32, usize)>,
    /// Stands in for a process the table does not have.
    missing: Process,
}

impl Lookup {
    pub fn new(table: &Processes) -> Lookup {
        let mut entries: Vec<(&u32, &Arc<ProcessInfo>)> = table.iter().collect();
        entries.sort_by_key(|(index, _)| **index);
        let mut processes = Vec::with_capacity(entries.len());
        let mut direct = Vec::new();
        let mut others = Vec::new();
        for (&index, info) in entries {
            let at = processes.len();
            processes.push(Process::new(Arc::clone(info)));
            if index < MAX_DIRECT {
                let slot = index as usize;
                if direct.len() <= slot {
                    direct.resize(slot + 1, NONE);
                }
                // Fewer than 2^32 processes fit in a file: `at` fits.
                direct[slot] = u32::try_from(at).unwrap_or(NONE);
            } else {
                others.push((index, at));
            }
        }
        Lookup {
            processes,
            direct,
            others,
            missing: Process::new(Arc::new(ProcessInfo::default())),
        }
    }

    /// The process at `index`, `None` when the table has none there.
    pub fn get(&self, index: u32) -> Option<&Process> {
        let at = if index < MAX_DIRECT {
            let at = *self.direct.get(index as usize)?;
            if at == NONE {
                return None;
            }
            at as usize
        } else {
            let i = self
                .others
                .binary_search_by_key(&index, |&(index, _)| index)
                .ok()?;
            self.others[i].1
        };
        self.processes.get(at)
    }

    /// What an event whose process is missing shows.
    pub fn missing(&self) -> &Process {
        &self.missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32) -> Arc<ProcessInfo> {
        Arc::new(ProcessInfo {
            pid,
            parent_pid: 4,
            authentication_id: 0x0000_0001_0000_03e7,
            session: 1,
            virtualized: false,
            is_64bit: true,
            integrity: Arc::from("System"),
            user: Arc::from("NT AUTHORITY\\SYSTEM"),
            name: Arc::from("svchost.exe"),
            image_path: Arc::from("C:\\Windows\\System32\\svchost.exe"),
            command_line: Arc::from("svchost.exe -k netsvcs"),
            ..ProcessInfo::default()
        })
    }

    #[test]
    fn small_and_large_indexes_are_both_found() {
        let mut table = Processes::new();
        table.insert(0, info(10));
        table.insert(3, info(13));
        table.insert(4_000_000_000, info(14));
        table.insert(70_001, info(15));
        let l = Lookup::new(&table);
        assert_eq!(l.get(0).map(|p| p.info.pid), Some(10));
        assert_eq!(l.get(3).map(|p| p.info.pid), Some(13));
        assert_eq!(l.get(4_000_000_000).map(|p| p.info.pid), Some(14));
        assert!(l.get(1).is_none());
        assert_eq!(l.get(70_001).map(|p| p.info.pid), Some(15));
        assert!(l.get(70_000).is_none());
        assert!(l.get(MAX_DIRECT - 1).is_none());
        assert_eq!(l.missing().info.pid, 0);
    }

    #[test]
    fn columns_are_the_csv_exports_with_exactly_their_room() {
        let p = Process::new(info(10));
        let mut columns = Fields::default();
        p.write(&mut columns, Some(1_406_250), Class::Registry, 7764);
        let mut other = Fields::default();
        p.write(&mut other, Some(123_450_000_001), Class::Registry, 0);
        assert_eq!(other.get("Duration"), Some("12345.0000001"));
        assert_eq!(other.get("TID"), Some("0"));
        let got: Vec<(&str, &str)> = columns.iter().collect();
        assert_eq!(
            got,
            vec![
                ("Duration", "0.1406250"),
                ("Event Class", "Registry"),
                ("Image Path", "C:\\Windows\\System32\\svchost.exe"),
                ("Company", ""),
                ("Description", ""),
                ("Version", ""),
                ("User", "NT AUTHORITY\\SYSTEM"),
                ("Authentication ID", "00000001:000003e7"),
                ("Session", "1"),
                ("Command Line", "svchost.exe -k netsvcs"),
                ("TID", "7764"),
                ("Virtualized", "False"),
                ("Integrity", "System"),
                ("Parent PID", "4"),
                ("Architecture", "64-bit"),
            ]
        );
        let used = columns.heap_bytes();
        p.write(&mut columns, None, Class::FileSystem, 1);
        assert_eq!(columns.get("Duration"), Some(""));
        assert_eq!(columns.get("TID"), Some("1"));
        // Rewriting reuses the room; a fresh set gets exactly what it holds.
        assert!(columns.heap_bytes() <= used);
        let mut fresh = Fields::default();
        p.write(&mut fresh, Some(0), Class::Process, 12);
        assert_eq!(
            fresh.heap_bytes(),
            fresh.text_len() + COLUMNS * std::mem::size_of::<(usize, usize)>()
        );
        assert_eq!(fresh.len(), COLUMNS);
    }
}
