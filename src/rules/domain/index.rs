//! The server declarations indexed by event id: [`super::Domain::server_event`] is asked for
//! every event that clock estimation, alignment and the server-side grouping look at (tens of
//! thousands on a busy server log), and a walk over every declaration's ids and every source
//! for each of them was a few percent of a whole scan.

use std::sync::OnceLock;

use super::{Domain, ServerEventDecl};

/// One declared (event id, declaration) pair with the providers of the declaration's source.
#[derive(Debug)]
struct Entry {
    id: u32,
    /// Index into `Domain::server_events`: declaration order decides between two matches.
    decl: usize,
    providers: Vec<String>,
}

/// Built from the declarations at the first lookup. It is a cache, not a declaration: two
/// domains compare equal whatever their indexes hold, and a clone starts without one.
#[derive(Default)]
pub(crate) struct ServerIndex(OnceLock<Built>);

/// The entries sorted by id, and which ids below 65,536 (every id an event log writes) any
/// entry has: most events looked up are not a server's, and one bit says so.
#[derive(Debug)]
struct Built {
    entries: Vec<Entry>,
    declared: Vec<u64>,
}

/// Ids the bit set covers.
const BITS: usize = 1 << 16;

impl Clone for ServerIndex {
    fn clone(&self) -> Self {
        ServerIndex::default()
    }
}

impl PartialEq for ServerIndex {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for ServerIndex {}

impl std::fmt::Debug for ServerIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerIndex")
    }
}

impl ServerIndex {
    /// The first declaration, in declaration order, that lists `id` and whose source is
    /// `provider` (any case).
    pub(crate) fn find<'d>(
        &self,
        domain: &'d Domain,
        provider: &str,
        id: u32,
    ) -> Option<&'d ServerEventDecl> {
        let Built { entries, declared } = self.0.get_or_init(|| build(domain));
        if let Some(word) = declared.get(id as usize / 64)
            && word & (1 << (id % 64)) == 0
        {
            return None;
        }
        let from = entries.partition_point(|e| e.id < id);
        entries[from..]
            .iter()
            .take_while(|e| e.id == id)
            .find(|e| e.providers.iter().any(|p| p.eq_ignore_ascii_case(provider)))
            .and_then(|e| domain.server_events.get(e.decl))
    }
}

fn build(domain: &Domain) -> Built {
    let mut entries: Vec<Entry> = Vec::new();
    for (decl, d) in domain.server_events.iter().enumerate() {
        let providers: Vec<String> = domain
            .sources
            .iter()
            .filter(|s| s.label() == d.source)
            .map(|s| s.provider.clone())
            .collect();
        for &id in &d.ids {
            entries.push(Entry {
                id,
                decl,
                providers: providers.clone(),
            });
        }
    }
    // Stable: for one id, declaration order stays.
    entries.sort_by_key(|e| (e.id, e.decl));
    let mut declared = vec![0u64; BITS / 64];
    for e in entries.iter().filter(|e| (e.id as usize) < BITS) {
        declared[e.id as usize / 64] |= 1 << (e.id % 64);
    }
    Built { entries, declared }
}

#[cfg(test)]
mod tests {
    use super::super::{Domain, ServerEventDecl};
    use crate::model::WinEvent;

    /// The walk the index replaces: the first declaration listing the id whose source is the
    /// provider.
    fn linear<'d>(d: &'d Domain, w: &WinEvent) -> Option<&'d ServerEventDecl> {
        d.server_events.iter().find(|decl| {
            decl.ids.contains(&w.event_id)
                && d.sources.iter().any(|s| {
                    s.label() == decl.source && s.provider.eq_ignore_ascii_case(&w.provider)
                })
        })
    }

    #[test]
    fn the_index_finds_what_a_walk_over_the_declarations_finds() {
        let d = Domain::builtin();
        let mut ids: Vec<u32> = d.server_events.iter().flat_map(|s| s.ids.clone()).collect();
        ids.extend([
            0,
            1,
            63,
            64,
            1024,
            1025,
            36870,
            65535,
            65536,
            100_000,
            u32::MAX,
        ]);
        let mut providers: Vec<String> = d.sources.iter().map(|s| s.provider.clone()).collect();
        providers.extend(providers.clone().iter().map(|p| p.to_ascii_uppercase()));
        providers.push("Some-Other-Provider".into());
        let mut found = 0;
        for provider in &providers {
            for &event_id in &ids {
                let w = WinEvent {
                    provider: provider.as_str().into(),
                    event_id,
                    ..WinEvent::default()
                };
                let want = linear(d, &w);
                found += usize::from(want.is_some());
                assert!(
                    std::ptr::eq(
                        d.server_event(&w)
                            .map_or(std::ptr::null(), |x| x as *const _),
                        want.map_or(std::ptr::null(), |x| x as *const _)
                    ),
                    "{provider} {event_id}"
                );
            }
        }
        assert!(found > 0, "no declared server event was looked up");
    }

    #[test]
    fn a_clone_rebuilds_its_index_from_its_own_declarations() {
        let d = Domain::builtin();
        let decl = &d.server_events[0];
        let source = d.sources.iter().find(|s| s.label() == decl.source).unwrap();
        let w = WinEvent {
            provider: source.provider.as_str().into(),
            event_id: decl.ids[0],
            ..WinEvent::default()
        };
        assert!(d.server_event(&w).is_some());
        let mut other = d.clone();
        other.server_events.clear();
        assert!(other.server_event(&w).is_none());
        assert_eq!(d.clone(), *d);
    }
}
