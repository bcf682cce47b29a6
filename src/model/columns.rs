//! A Process Monitor row's other columns (`User`, `Command Line`, `Image Path`, `TID`, ...).
//!
//! Read like [`Fields`] (in order, by name without regard to case), but a row may take most of
//! them from a set shared with other rows: a process's columns (its image, user, command line,
//! ...) are the same for every event of that process, so a PML capture renders them once per
//! process and every row of the process points at them. The few columns that differ per event
//! (`Duration`, `TID`, ...) are slots of the shared set whose values the row holds inline, so a
//! row's columns cost no allocation. A CSV row, whose columns are all its own text, shares none.

use std::sync::Arc;

use super::Fields;

/// The most slots a shared set has.
const MAX_SLOTS: usize = 4;
/// Bytes of slot values a row holds inline.
const SLOT_BYTES: usize = 48;

/// Columns several rows hold in common: names with their values, or with a slot whose value
/// each row holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SharedColumns {
    /// Names and values, in order; a slot's value is empty here.
    fields: Fields,
    /// Per field: its slot, if its value is the row's.
    slots: Vec<Option<u8>>,
    /// Slots so far.
    count: u8,
}

impl SharedColumns {
    pub fn new() -> SharedColumns {
        SharedColumns::default()
    }

    /// Add `name: value`, the same for every row.
    pub fn push(&mut self, name: &str, value: &str) {
        self.fields.push(name, value);
        self.slots.push(None);
    }

    /// Add `name`, its value each row's own; `None` (and nothing added) when the set has
    /// [`MAX_SLOTS`] already.
    pub fn push_slot(&mut self, name: &str) -> Option<usize> {
        let slot = self.count;
        if usize::from(slot) >= MAX_SLOTS {
            return None;
        }
        self.fields.push(name, "");
        self.slots.push(Some(slot));
        self.count += 1;
        Some(usize::from(slot))
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A row's values for its shared set's slots, held inline.
#[derive(Clone)]
struct Slots {
    text: [u8; SLOT_BYTES],
    /// Where each value ends in `text`.
    ends: [u8; MAX_SLOTS],
    len: u8,
}

impl Default for Slots {
    fn default() -> Slots {
        Slots {
            text: [0; SLOT_BYTES],
            ends: [0; MAX_SLOTS],
            len: 0,
        }
    }
}

impl Slots {
    /// Hold `values`; false (holding none) when they do not fit.
    fn set(&mut self, values: &[&str]) -> bool {
        self.len = 0;
        let mut at = 0;
        if values.len() > MAX_SLOTS {
            return false;
        }
        for (i, v) in values.iter().enumerate() {
            let Some(dest) = self.text.get_mut(at..at + v.len()) else {
                return false;
            };
            dest.copy_from_slice(v.as_bytes());
            at += v.len();
            // `at` <= SLOT_BYTES, which fits a u8.
            self.ends[i] = at as u8;
        }
        self.len = values.len() as u8;
        true
    }

    fn get(&self, i: usize) -> &str {
        if i >= usize::from(self.len) {
            return "";
        }
        let start = i.checked_sub(1).map_or(0, |p| usize::from(self.ends[p]));
        let end = usize::from(self.ends[i]);
        // Whole `&str` values were copied in, so each is UTF-8.
        std::str::from_utf8(&self.text[start..end]).unwrap_or_default()
    }
}

/// The columns of one row: those of a shared set (its slots filled with the row's values),
/// then the row's own fields.
#[derive(Clone, Default)]
pub struct Columns {
    shared: Option<Arc<SharedColumns>>,
    values: Slots,
    own: Fields,
}

impl Columns {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every column in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        let values = &self.values;
        self.shared
            .as_deref()
            .into_iter()
            .flat_map(move |s| {
                s.fields
                    .iter()
                    .zip(&s.slots)
                    .map(move |((k, v), slot)| (k, slot.map_or(v, |i| values.get(i.into()))))
            })
            .chain(self.own.iter())
    }

    /// Add `name: value` after every column the row has.
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        self.own.push(name, value);
    }

    /// Room for `pairs` more own fields of `bytes` more bytes.
    pub fn reserve(&mut self, pairs: usize, bytes: usize) {
        self.own.reserve(pairs, bytes);
    }

    /// No columns, the room of the own fields kept.
    pub fn clear(&mut self) {
        self.own.clear();
        self.shared = None;
        self.values = Slots::default();
    }

    /// Make the row's columns `shared` with its slots holding `values` (in slot order), and
    /// no own fields. A set already shared is kept as it is (no count to change). Values too
    /// long to hold inline are written out as own fields instead, in the same order.
    pub fn fill(&mut self, shared: &Arc<SharedColumns>, values: &[&str]) {
        self.own.clear();
        if self.values.set(values) {
            if !self.shared.as_ref().is_some_and(|s| Arc::ptr_eq(s, shared)) {
                self.shared = Some(Arc::clone(shared));
            }
            return;
        }
        self.shared = None;
        self.values = Slots::default();
        for ((k, v), slot) in shared.fields.iter().zip(&shared.slots) {
            let v = slot.map_or(v, |i| values.get(usize::from(i)).copied().unwrap_or(""));
            self.own.push(k, v);
        }
    }

    /// Bytes this row holds on the heap by itself (a shared set is not counted).
    pub fn heap_bytes(&self) -> usize {
        self.own.heap_bytes()
    }

    pub fn len(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| s.len()) + self.own.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Fields> for Columns {
    fn from(own: Fields) -> Columns {
        Columns {
            own,
            ..Columns::default()
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Columns {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Columns {
        Columns::from(pairs.into_iter().collect::<Fields>())
    }
}

/// Equal when the same names and values come in the same order, shared or not.
impl PartialEq for Columns {
    fn eq(&self, other: &Columns) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Columns {}

impl std::fmt::Debug for Columns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<SharedColumns> {
        let mut s = SharedColumns::new();
        assert_eq!(s.push_slot("Duration"), Some(0));
        s.push("Image Path", "C:\\x.exe");
        s.push("User", "A\\b");
        assert_eq!(s.push_slot("TID"), Some(1));
        s.push("Integrity", "High");
        Arc::new(s)
    }

    #[test]
    fn a_rows_values_fill_the_shared_sets_slots_in_place() {
        let s = shared();
        let mut row = Columns::default();
        row.fill(&s, &["0.1", "7"]);
        let got: Vec<(&str, &str)> = row.iter().collect();
        assert_eq!(
            got,
            vec![
                ("Duration", "0.1"),
                ("Image Path", "C:\\x.exe"),
                ("User", "A\\b"),
                ("TID", "7"),
                ("Integrity", "High"),
            ]
        );
        assert_eq!(row.len(), 5);
        assert_eq!(row.heap_bytes(), 0);
        assert_eq!(row.get("user"), Some("A\\b"));
        assert_eq!(row.get("tid"), Some("7"));
        assert_eq!(row.get("nope"), None);
        // The same columns held as the row's own compare equal, and print alike.
        let plain: Columns = got.iter().copied().collect();
        assert_eq!(plain, row);
        assert_eq!(format!("{plain:?}"), format!("{row:?}"));
        // A push comes after every column.
        let mut pushed = row.clone();
        pushed.push("More", "1");
        assert_eq!(pushed.iter().last(), Some(("More", "1")));
        assert!(pushed.iter().take(5).eq(row.iter()));
        // Refilled: the set is kept, the values are the new ones.
        row.fill(&s, &["", "12345"]);
        assert_eq!(row.get("Duration"), Some(""));
        assert_eq!(row.get("TID"), Some("12345"));
        assert!(row.shared.as_ref().is_some_and(|r| Arc::ptr_eq(r, &s)));
        row.clear();
        assert!(row.is_empty());
        assert_eq!(row.iter().count(), 0);
    }

    #[test]
    fn values_too_long_to_hold_inline_become_own_fields_in_the_same_order() {
        let s = shared();
        let long = "9".repeat(SLOT_BYTES);
        let mut row = Columns::default();
        row.fill(&s, &[&long, "7"]);
        assert!(row.shared.is_none());
        let names: Vec<&str> = row.iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            ["Duration", "Image Path", "User", "TID", "Integrity"]
        );
        assert_eq!(row.get("Duration"), Some(long.as_str()));
        assert_eq!(row.get("TID"), Some("7"));
        // A later row that fits shares again.
        row.fill(&s, &["1", "2"]);
        assert!(row.shared.is_some());
        assert_eq!(row.len(), 5);
        assert_eq!(row.get("TID"), Some("2"));
        // A missing value is empty; a set holds at most MAX_SLOTS slots.
        row.fill(&s, &["1"]);
        assert_eq!(row.get("TID"), Some(""));
        let mut full = SharedColumns::new();
        for i in 0..MAX_SLOTS {
            assert_eq!(full.push_slot("S"), Some(i));
        }
        assert_eq!(full.push_slot("S"), None);
        assert_eq!(full.len(), MAX_SLOTS);
    }
}
