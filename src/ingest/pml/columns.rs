//! The columns of a row that come from its process (image, company, user, session, parent,
//! ...), rendered once per process of the capture instead of once per event, and the process
//! table indexed so that an event finds its process without hashing.

use std::sync::Arc;

use super::names::Class;
use super::num;
use super::tables::{ProcessInfo, Processes};
use crate::ingest::ProcmonColumns;
use crate::model::{Columns, SharedColumns};

/// A process and its columns' texts.
pub struct Process {
    pub info: Arc<ProcessInfo>,
    /// A row's columns, shared by every row of the process: `Duration`, `Event Class` and
    /// `TID` are slots (each row's own), the rest the process's. Only the columns asked for
    /// are held ([`ProcmonColumns`]), as a CSV export's reader builds only those.
    shared: Arc<SharedColumns>,
    /// What each slot of `shared` holds, in slot order.
    slots: Vec<Slot>,
}

/// A process column's value: the process's, the same for all its rows, or each row's own.
enum Column<'a> {
    Same(&'a str),
    Each(Slot),
}

/// A column whose value is each event's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Duration,
    Class,
    Tid,
}

impl Process {
    fn new(info: Arc<ProcessInfo>, wanted: &ProcmonColumns) -> Process {
        let p = &*info;
        let authentication_id = format!(
            "{:08x}:{:08x}",
            p.authentication_id >> 32,
            p.authentication_id & 0xffff_ffff
        );
        let session = num::dec(u64::from(p.session));
        let parent_pid = num::dec(u64::from(p.parent_pid));
        let (virtualized, architecture) = (
            if p.virtualized { "True" } else { "False" },
            if p.is_64bit { "64-bit" } else { "32-bit" },
        );
        use Column::{Each, Same};
        // In the order Process Monitor's CSV export has them.
        let every = [
            ("Duration", Each(Slot::Duration)),
            ("Event Class", Each(Slot::Class)),
            ("Image Path", Same(&p.image_path)),
            ("Company", Same(&p.company)),
            ("Description", Same(&p.description)),
            ("Version", Same(&p.version)),
            ("User", Same(&p.user)),
            ("Authentication ID", Same(authentication_id.as_str())),
            ("Session", Same(session.as_str())),
            ("Command Line", Same(&p.command_line)),
            ("TID", Each(Slot::Tid)),
            ("Virtualized", Same(virtualized)),
            ("Integrity", Same(&p.integrity)),
            ("Parent PID", Same(parent_pid.as_str())),
            ("Architecture", Same(architecture)),
        ];
        let mut s = SharedColumns::new();
        let mut slots = Vec::new();
        for (name, value) in every {
            if !wanted.keeps(name) {
                continue;
            }
            match value {
                Same(text) => s.push(name, text),
                // Three slots at most, in a new set: there is room.
                Each(kind) => {
                    if s.push_slot(name).is_some() {
                        slots.push(kind);
                    }
                }
            }
        }
        Process {
            info,
            shared: Arc::new(s),
            slots,
        }
    }

    /// The same process, with counts of its own ([`Lookup::for_lane`]).
    fn for_lane(&self) -> Process {
        let info = ProcessInfo {
            name: Arc::from(&*self.info.name),
            ..ProcessInfo::clone(&self.info)
        };
        Process {
            info: Arc::new(info),
            shared: Arc::new(SharedColumns::clone(&self.shared)),
            slots: self.slots.clone(),
        }
    }

    /// Write an event's columns into `columns`: the process's, shared, with the event's
    /// duration (none while it was pending), class and thread held by the row. Only the
    /// values of the columns asked for are worked out; with none asked for, the row has none.
    pub fn write(&self, columns: &mut Columns, duration: Option<u64>, class: Class, tid: u32) {
        if self.shared.is_empty() {
            columns.clear();
            return;
        }
        let wants = |kind| self.slots.contains(&kind);
        let duration = duration.filter(|_| wants(Slot::Duration)).map(num::seconds);
        let mut tid_text = itoa::Buffer::new();
        let tid = wants(Slot::Tid).then(|| tid_text.format(tid));
        let mut values = [""; 3];
        for (value, kind) in values.iter_mut().zip(&self.slots) {
            *value = match kind {
                Slot::Duration => duration.as_ref().map_or("", num::Num::as_str),
                Slot::Class => class.name(),
                Slot::Tid => tid.unwrap_or(""),
            };
        }
        columns.fill(&self.shared, &values[..self.slots.len().min(values.len())]);
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
    /// The processes of `table`, each holding the columns `wanted` names.
    pub fn new(table: &Processes, wanted: &ProcmonColumns) -> Lookup {
        let mut entries: Vec<(&u32, &Arc<ProcessInfo>)> = table.iter().collect();
        entries.sort_by_key(|(index, _)| **index);
        let mut processes = Vec::with_capacity(entries.len());
        let mut direct = Vec::new();
        let mut others = Vec::new();
        for (&index, info) in entries {
            let at = processes.len();
            processes.push(Process::new(Arc::clone(info), wanted));
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
            missing: Process::new(Arc::new(ProcessInfo::default()), wanted),
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

    /// A copy for one more thread decoding: the same processes, each with counts of its own.
    /// A kept or refilled row counts a reference on its process's name and columns; on one
    /// `Arc` for every thread, each count moves its cache line from core to core.
    pub fn for_lane(&self) -> Lookup {
        Lookup {
            processes: self.processes.iter().map(Process::for_lane).collect(),
            direct: self.direct.clone(),
            others: self.others.clone(),
            missing: self.missing.for_lane(),
        }
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
        let l = Lookup::new(&table, &ProcmonColumns::All);
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
    fn a_lanes_copy_finds_the_same_processes_on_counts_of_its_own() {
        let mut table = Processes::new();
        table.insert(0, info(10));
        table.insert(4_000_000_000, info(14));
        let l = Lookup::new(&table, &ProcmonColumns::All);
        let copy = l.for_lane();
        for index in [0, 1, 4_000_000_000] {
            let (a, b) = (l.get(index), copy.get(index));
            assert_eq!(a.map(|p| &p.info), b.map(|p| &p.info), "{index}");
            let (Some(a), Some(b)) = (a, b) else { continue };
            assert_eq!(a.shared, b.shared);
            // What a row counts references on is the copy's own.
            assert!(!Arc::ptr_eq(&a.shared, &b.shared));
            assert!(!Arc::ptr_eq(&a.info.name, &b.info.name));
            // A row written from either has the same columns.
            let (mut x, mut y) = (Columns::default(), Columns::default());
            a.write(&mut x, Some(5), Class::FileSystem, 3);
            b.write(&mut y, Some(5), Class::FileSystem, 3);
            assert!(x.iter().eq(y.iter()));
        }
        assert_eq!(copy.missing().info, l.missing().info);
    }

    #[test]
    fn columns_are_the_csv_exports_with_exactly_their_room() {
        let p = Process::new(info(10), &ProcmonColumns::All);
        let mut columns = Columns::default();
        p.write(&mut columns, Some(1_406_250), Class::Registry, 7764);
        let mut other = Columns::default();
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
        p.write(&mut columns, None, Class::FileSystem, 1);
        assert_eq!(columns.get("Duration"), Some(""));
        assert_eq!(columns.get("TID"), Some("1"));
        assert_eq!(columns.get("Event Class"), Some("File System"));
        // A row's columns hold nothing on the heap of their own.
        assert_eq!(columns.heap_bytes(), 0);
        assert_eq!(columns.len(), 15);
    }

    #[test]
    fn only_the_columns_asked_for_are_written_in_the_exports_order() {
        let all = Process::new(info(10), &ProcmonColumns::All);
        let mut every = Columns::default();
        all.write(&mut every, Some(1_406_250), Class::Registry, 7764);
        // Names as a rule writes them (any case), not in the export's order.
        let asked = ["tid", "USER", "Parent PID", "Duration", "Not A Column"];
        let some = Process::new(
            info(10),
            &ProcmonColumns::Only(asked.iter().map(|n| n.to_string()).collect()),
        );
        let mut row = Columns::default();
        some.write(&mut row, Some(1_406_250), Class::Registry, 7764);
        let got: Vec<(&str, &str)> = row.iter().collect();
        let want: Vec<(&str, &str)> = every
            .iter()
            .filter(|(k, _)| asked.iter().any(|a| a.eq_ignore_ascii_case(k)))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            got.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            ["Duration", "User", "TID", "Parent PID"]
        );
        // Slots without a Duration: the class and thread still land in their own columns.
        let no_duration = Process::new(
            info(10),
            &ProcmonColumns::Only(vec!["TID".into(), "Event Class".into()]),
        );
        no_duration.write(&mut row, None, Class::Network, 9);
        let got: Vec<(&str, &str)> = row.iter().collect();
        assert_eq!(got, [("Event Class", "Network"), ("TID", "9")]);
        // None asked for: a refilled row is left with none.
        let none = Process::new(info(10), &ProcmonColumns::none());
        none.write(&mut row, Some(5), Class::FileSystem, 3);
        assert!(row.is_empty());
        assert_eq!(row.iter().count(), 0);
    }
}
