//! Process Monitor's backing-file sets. When a capture outgrows one file, Process Monitor goes
//! on in `Logfile-1.PML`, `Logfile-2.PML`, ... beside `Logfile.PML` (the same base name with a
//! `-N` suffix, N counting up in time order); each member is a whole PML with its own header and
//! tables, and nothing in a header links the members, so the set is known by its names only.
//!
//! Before any file is read, the members of each set found in one folder (at least two, taken
//! with the same computer in their headers) are placed next to each other in set order, so
//! their events reach the analysis as one capture in time order. Each member keeps its own
//! account, which says it was joined; a member missing from the middle (or the start) of a set
//! gets a failed account of its own, by name, since the events Process Monitor wrote to it are
//! lost. A damaged member is accounted for by its own reader like any PML.

use std::collections::BTreeMap;

use super::super::discover::{Found, Input};
use super::super::{SNIFF_BYTES, sniff};
use super::header::{HEADER_SIZE, Header};
use crate::model::{FileAccount, FileFormat, Problem};

/// Missing members given an account each; the rest of a larger gap is counted in the notes.
const MAX_MISSING_LISTED: u64 = 8;
/// The highest suffix taken as a set member (Process Monitor numbers from 1 up).
const MAX_MEMBER: u64 = 99_999;

/// A name split into the parts a set is known by: `logs/Logfile-2.PML` →
/// (`logs/`, `Logfile`, 2, `.PML`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberName<'a> {
    /// Everything up to and including the last `/` or `\`.
    pub folder: &'a str,
    pub base: &'a str,
    /// 0 for the set's first file (no suffix).
    pub number: u64,
    /// The extension as written (`.PML`, `.pml`).
    pub ext: &'a str,
}

/// Split a PML's display name into its set parts; `None` when it does not end in `.pml`.
pub fn member_name(name: &str) -> Option<MemberName<'_>> {
    let cut = name.rfind(['/', '\\']).map_or(0, |i| i + 1);
    let (folder, file) = name.split_at(cut);
    let dot = file.len().checked_sub(4)?;
    if !file.is_char_boundary(dot) || !file[dot..].eq_ignore_ascii_case(".pml") {
        return None;
    }
    let (stem, ext) = file.split_at(dot);
    if let Some((base, digits)) = stem.rsplit_once('-') {
        let digits_only = !base.is_empty()
            && (1..=5).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit());
        let number = if digits_only {
            digits.parse::<u64>().ok()
        } else {
            None
        };
        if let Some(number) = number.filter(|n| (1..=MAX_MEMBER).contains(n)) {
            return Some(MemberName {
                folder,
                base,
                number,
                ext,
            });
        }
    }
    Some(MemberName {
        folder,
        base: stem,
        number: 0,
        ext,
    })
}

/// The name of member `number` of the set `m` belongs to.
fn member_file(m: &MemberName<'_>, number: u64) -> String {
    if number == 0 {
        format!("{}{}{}", m.folder, m.base, m.ext)
    } else {
        format!("{}{}-{number}{}", m.folder, m.base, m.ext)
    }
}

/// The computer a PML's header names, when the header can be read.
fn computer_of(input: &Input) -> Option<String> {
    let head = input.head(HEADER_SIZE).ok()?;
    let len = input.size()?;
    Header::parse(&head, len)
        .ok()
        .map(|h| h.computer.to_ascii_lowercase())
}

/// Place the members of each backing-file set in `found` next to each other in set order, add
/// an account for each member missing before the last one present, and return the note each
/// member's account gets, by input name.
pub fn join_backing_sets(found: &mut Vec<Found>) -> BTreeMap<String, String> {
    // (folder, base) in lower case → (number, index into found, computer).
    type Members = Vec<(u64, usize, Option<String>)>;
    let mut sets: BTreeMap<(String, String), Members> = BTreeMap::new();
    for (i, f) in found.iter().enumerate() {
        let Found::Input(input) = f else { continue };
        let Some(m) = member_name(&input.name) else {
            continue;
        };
        let is_pml = input
            .head(SNIFF_BYTES)
            .is_ok_and(|h| sniff(&h) == FileFormat::ProcmonPml);
        if !is_pml {
            continue;
        }
        let key = (m.folder.to_lowercase(), m.base.to_lowercase());
        sets.entry(key)
            .or_default()
            .push((m.number, i, computer_of(input)));
    }
    let mut notes = BTreeMap::new();
    // index of a set's first member in found → the set's members in order, missing ones added.
    let mut placed: BTreeMap<usize, Vec<Found>> = BTreeMap::new();
    let mut taken = vec![false; found.len()];
    // Per set: its first member's index, its members (number, index), and the numbers whose
    // file holds another computer's capture (number, that computer).
    type Joined = (usize, Vec<(u64, usize)>, Vec<(u64, String)>);
    // (file read on its own, the member it shares a number with, that number).
    let mut twins: Vec<(usize, usize, u64)> = Vec::new();
    let mut joined: Vec<Joined> = sets
        .into_values()
        .filter(|members| members.len() >= 2)
        .map(|mut members| {
            members.sort_unstable();
            // Files of another computer's capture that happen to share the name are not
            // members; a member whose header cannot be read stays (its reader names why).
            let computer = members.iter().find_map(|m| m.2.clone());
            let foreign: Vec<(u64, String)> = members
                .iter()
                .filter_map(|m| match &m.2 {
                    Some(c) if m.2 != computer => Some((m.0, c.clone())),
                    _ => None,
                })
                .collect();
            members.retain(|m| m.2.is_none() || m.2 == computer);
            // Two files of one number (names that differ in case): the first in input order
            // is the member, the other is read on its own, and says so.
            let mut kept: Vec<(u64, usize)> = Vec::with_capacity(members.len());
            for (number, i, _) in members {
                match kept.last() {
                    Some(&(n, first)) if n == number => {
                        twins.push((i, first, number));
                    }
                    _ => kept.push((number, i)),
                }
            }
            let members = kept;
            let first = members.iter().map(|m| m.1).min().unwrap_or(0);
            (first, members, foreign)
        })
        .filter(|(_, members, _)| members.len() >= 2)
        .collect();
    joined.sort_by_key(|(first, ..)| *first);
    for &(i, member, number) in &twins {
        notes.insert(
            found[i].name().to_string(),
            format!(
                "shares member number {number} of a Process Monitor backing-file set with {}, which is read as that member: this file is read on its own",
                found[member].name()
            ),
        );
    }
    // Every name among the inputs: a member's file that is there but not read as a member (a
    // byte copy of another member, set aside as a duplicate; a file of that name that is not a
    // PML) has an account of its own, so it is not also missing.
    let present: std::collections::HashSet<String> =
        found.iter().map(|f| f.name().to_string()).collect();
    for (first, members, foreign) in joined {
        let names: Vec<String> = members
            .iter()
            .map(|&(_, i)| found[i].name().to_string())
            .collect();
        let Some(head) = member_name(&names[0]) else {
            continue;
        };
        let set_name = member_file(&head, 0);
        let last = members.last().map_or(0, |m| m.0);
        // Member number → its place among the members (numbers are sorted and distinct).
        let place = |number: u64| members.binary_search_by_key(&number, |m| m.0).ok();
        let absent = |n: u64| {
            place(n).is_none()
                && (foreign.iter().any(|f| f.0 == n) || !present.contains(&member_file(&head, n)))
        };
        let missing: Vec<u64> = (0..last).filter(|&n| absent(n)).collect();
        // The members are listed once, in the first member's note, as many as the missing
        // ones are: every note names its set, its place and the count, so the notes of a set
        // of thousands stay small.
        let listed = names
            .iter()
            .take(MAX_MISSING_LISTED as usize)
            .map(|n| member_name(n).map_or(n.as_str(), |m| &n[m.folder.len()..]))
            .collect::<Vec<_>>()
            .join(", ")
            + if names.len() as u64 > MAX_MISSING_LISTED {
                ", ..."
            } else {
                ""
            };
        let gap = if missing.is_empty() {
            String::new()
        } else {
            format!(
                "; {} member{} missing ({})",
                missing.len(),
                if missing.len() == 1 { "" } else { "s" },
                missing
                    .iter()
                    .take(MAX_MISSING_LISTED as usize)
                    .map(|&n| member_file(&head, n)[head.folder.len()..].to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if missing.len() as u64 > MAX_MISSING_LISTED {
                        ", ..."
                    } else {
                        ""
                    }
            )
        };
        let mut order = Vec::new();
        let mut missing_listed = 0;
        for number in 0..=last {
            if let Some(pos) = place(number) {
                let (_, i) = members[pos];
                taken[i] = true;
                let members_listed = if pos == 0 {
                    format!(" ({listed})")
                } else {
                    String::new()
                };
                notes.insert(
                    names[pos].clone(),
                    format!(
                        "part {} of {} of Process Monitor's backing-file set {set_name}{members_listed}{gap}: read as one capture, in time order",
                        pos + 1,
                        members.len(),
                    ),
                );
                let item = std::mem::replace(
                    &mut found[i],
                    Found::Problem(FileAccount::new(String::new(), FileFormat::Unknown)),
                );
                order.push(item);
            } else if missing_listed < MAX_MISSING_LISTED && absent(number) {
                missing_listed += 1;
                let file = member_file(&head, number);
                // A file of the member's name that holds another computer's capture is read on
                // its own: this account names the member, not that file, so no file is both
                // read and missing.
                let account = match foreign.iter().find(|(n, _)| *n == number) {
                    Some((_, computer)) => FileAccount::failed(
                        format!("{set_name} (member {number})"),
                        FileFormat::ProcmonPml,
                        Problem::Failed(format!(
                            "missing: member {number} of Process Monitor's backing-file set {set_name}: the file {} holds another computer's capture ({computer}), read on its own; the events this member held are lost (the other members are read)",
                            &file[head.folder.len()..]
                        )),
                    ),
                    None => FileAccount::failed(
                        file,
                        FileFormat::ProcmonPml,
                        Problem::Failed(format!(
                            "missing: member {number} of Process Monitor's backing-file set {set_name} is not among the inputs; the events it held are lost (the other members are read)"
                        )),
                    ),
                };
                order.push(Found::Problem(account));
            }
        }
        placed.insert(first, order);
    }
    if placed.is_empty() {
        return notes;
    }
    let old = std::mem::take(found);
    for (i, f) in old.into_iter().enumerate() {
        if let Some(order) = placed.remove(&i) {
            found.extend(order);
        } else if !taken[i] {
            found.push(f);
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_split_into_folder_base_number_and_extension() {
        let m = member_name("t.zip!/logs/Logfile-12.PML").unwrap();
        assert_eq!(
            (m.folder, m.base, m.number, m.ext),
            ("t.zip!/logs/", "Logfile", 12, ".PML")
        );
        let m = member_name(r"C:\x\Logfile.pml").unwrap();
        assert_eq!((m.folder, m.base, m.number), (r"C:\x\", "Logfile", 0));
        // Not a member suffix: the whole stem is the base.
        for name in ["a-01.PML", "a-.PML", "-3.PML", "a-123456.PML", "a-x1.PML"] {
            assert_eq!(member_name(name).unwrap().number, 0, "{name}");
        }
        assert_eq!(member_name("a-3.csv"), None);
        assert_eq!(member_name("é.PML").unwrap().base, "é");
        assert_eq!(
            member_file(&member_name("d/L-4.PML").unwrap(), 2),
            "d/L-2.PML"
        );
        assert_eq!(
            member_file(&member_name("d/L-4.PML").unwrap(), 0),
            "d/L.PML"
        );
    }
}
