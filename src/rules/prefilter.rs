//! The prefilter: which events a rule can possibly match, read off its condition at load time.
//!
//! For each source a rule can match, a [`Prefilter`] keeps the EVTX `event_id`s and providers,
//! or the Procmon operations, it is limited to; `None` means "any" and a source that is absent
//! cannot match at all. It is conservative: a condition it cannot read (`not`, a regex) allows
//! everything, so a rule is never skipped on an event it would match. A comparison on a field
//! that exists in only one source (`event_id`, `process`, `data.*`) limits the rule to that
//! source, because comparisons on missing fields are false. `Index` turns the prefilters of a
//! rule set into lookups on `event_id` (an ordered map) and operation (names by length), which
//! is what `RuleSet::may_match` and the engine use.

use std::collections::{BTreeMap, BTreeSet};

use super::ast::Op;
use super::compare::{NumTest, TextTest};
use super::compile::{Cond, Rule};
use super::fields::Field;
use crate::model::{Event, EventKind, Source};

/// What a rule can match; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefilter {
    /// `None`: the rule cannot match an EVTX event.
    pub evtx: Option<EvtxFilter>,
    /// `None`: the rule cannot match a Procmon row.
    pub procmon: Option<ProcmonFilter>,
    /// Can the rule match a registry value?
    pub registry: bool,
    /// Can the rule match an ACL entry?
    pub acl: bool,
    /// Can the rule match a netstat socket?
    pub netstat: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvtxFilter {
    pub event_ids: Option<BTreeSet<u32>>,
    /// Lower-case provider names.
    pub providers: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcmonFilter {
    /// Lower-case operation names.
    pub operations: Option<BTreeSet<String>>,
}

fn and_set<T: Ord + Clone>(a: Option<BTreeSet<T>>, b: Option<BTreeSet<T>>) -> Option<BTreeSet<T>> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
    }
}

fn or_set<T: Ord>(a: Option<BTreeSet<T>>, b: Option<BTreeSet<T>>) -> Option<BTreeSet<T>> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            a.extend(b);
            Some(a)
        }
        _ => None,
    }
}

impl Prefilter {
    /// Matches anything.
    pub fn any() -> Prefilter {
        Prefilter {
            evtx: Some(EvtxFilter::default()),
            procmon: Some(ProcmonFilter::default()),
            registry: true,
            acl: true,
            netstat: true,
        }
    }

    /// Matches any event of these sources.
    fn only(sources: &[Source]) -> Prefilter {
        let has = |s| sources.contains(&s);
        Prefilter {
            evtx: has(Source::Evtx).then(EvtxFilter::default),
            procmon: has(Source::Procmon).then(ProcmonFilter::default),
            registry: has(Source::Registry),
            acl: has(Source::Acl),
            netstat: has(Source::Netstat),
        }
    }

    fn and(self, other: Prefilter) -> Prefilter {
        Prefilter {
            evtx: match (self.evtx, other.evtx) {
                (Some(a), Some(b)) => Some(EvtxFilter {
                    event_ids: and_set(a.event_ids, b.event_ids),
                    providers: and_set(a.providers, b.providers),
                }),
                _ => None,
            },
            procmon: match (self.procmon, other.procmon) {
                (Some(a), Some(b)) => Some(ProcmonFilter {
                    operations: and_set(a.operations, b.operations),
                }),
                _ => None,
            },
            registry: self.registry && other.registry,
            acl: self.acl && other.acl,
            netstat: self.netstat && other.netstat,
        }
    }

    pub(crate) fn or(self, other: Prefilter) -> Prefilter {
        Prefilter {
            evtx: match (self.evtx, other.evtx) {
                (Some(a), Some(b)) => Some(EvtxFilter {
                    event_ids: or_set(a.event_ids, b.event_ids),
                    providers: or_set(a.providers, b.providers),
                }),
                (a, b) => a.or(b),
            },
            procmon: match (self.procmon, other.procmon) {
                (Some(a), Some(b)) => Some(ProcmonFilter {
                    operations: or_set(a.operations, b.operations),
                }),
                (a, b) => a.or(b),
            },
            registry: self.registry || other.registry,
            acl: self.acl || other.acl,
            netstat: self.netstat || other.netstat,
        }
    }

    /// Read the prefilter off a compiled condition.
    pub(crate) fn from_cond(cond: &Cond) -> Prefilter {
        match cond {
            Cond::And(items) => items
                .iter()
                .map(Prefilter::from_cond)
                .fold(Prefilter::any(), Prefilter::and),
            Cond::Or(items) => {
                let mut it = items.iter().map(Prefilter::from_cond);
                let first = it.next().unwrap_or_else(Prefilter::any);
                it.fold(first, Prefilter::or)
            }
            Cond::Not(_) => Prefilter::any(),
            Cond::Source { sources, negate } => {
                let named: Vec<Source> = Source::ALL
                    .into_iter()
                    .filter(|s| sources.contains(s) != *negate)
                    .collect();
                Prefilter::only(&named)
            }
            Cond::Exists(field) => Prefilter::of_field(field),
            Cond::Time { .. } => Prefilter::any(),
            Cond::Num { field, test } => {
                let mut p = Prefilter::of_field(field);
                if *field == Field::EventId {
                    let ids = match test {
                        NumTest::Cmp(Op::Eq, v) => Some(u32::try_from(*v).into_iter().collect()),
                        NumTest::In(vs) => {
                            Some(vs.iter().filter_map(|v| u32::try_from(*v).ok()).collect())
                        }
                        NumTest::Cmp(..) => None,
                    };
                    if let Some(e) = &mut p.evtx {
                        e.event_ids = ids;
                    }
                }
                p
            }
            Cond::Text { field, test } => {
                let mut p = Prefilter::of_field(field);
                let values = match test {
                    TextTest::Eq(pat) => pat.ascii_key().map(|k| BTreeSet::from([k])),
                    TextTest::In(pats) => pats.iter().map(|p| p.ascii_key()).collect(),
                    _ => None,
                };
                match field {
                    Field::Provider => {
                        if let Some(e) = &mut p.evtx {
                            e.providers = values;
                        }
                    }
                    Field::Operation => {
                        if let Some(m) = &mut p.procmon {
                            m.operations = values;
                        }
                    }
                    _ => {}
                }
                p
            }
        }
    }

    fn of_field(field: &Field) -> Prefilter {
        field.only_in().map_or_else(Prefilter::any, Prefilter::only)
    }

    /// Can the rule match `event`? (False means it certainly cannot.)
    pub fn admits(&self, event: &Event) -> bool {
        match &event.kind {
            EventKind::Win(w) => self.evtx.as_ref().is_some_and(|f| {
                f.event_ids.as_ref().is_none_or(|s| s.contains(&w.event_id))
                    && f.admits_provider(&w.provider)
            }),
            EventKind::Procmon(p) => self.procmon.as_ref().is_some_and(|f| {
                f.operations
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|o| o.eq_ignore_ascii_case(&p.operation)))
            }),
            EventKind::Registry(_) => self.registry,
            EventKind::Acl(_) => self.acl,
            EventKind::Socket(_) => self.netstat,
        }
    }

    /// [`admits`](Prefilter::admits) for a rule that [`Index::candidates`] gave for `event`:
    /// the index found it by what `admits` would test again (the kind of event, its event id,
    /// its operation), so only an EVTX event's provider is left to ask.
    pub fn admits_candidate(&self, event: &Event) -> bool {
        match &event.kind {
            EventKind::Win(w) => self
                .evtx
                .as_ref()
                .is_some_and(|f| f.admits_provider(&w.provider)),
            EventKind::Procmon(_)
            | EventKind::Registry(_)
            | EventKind::Acl(_)
            | EventKind::Socket(_) => true,
        }
    }
}

impl EvtxFilter {
    /// Is `provider` one the rule names (any, when it names none)?
    fn admits_provider(&self, provider: &str) -> bool {
        self.providers
            .as_ref()
            .is_none_or(|s| s.iter().any(|p| p.eq_ignore_ascii_case(provider)))
    }
}

/// The rule set's prefilters as lookups: the rules worth trying on an event.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Ordered, not hashed: a lookup per event read, over a hundred-odd ids, is cheaper as a
    /// few comparisons than as a SipHash.
    evtx_by_id: BTreeMap<u32, Vec<usize>>,
    evtx_any_id: Vec<usize>,
    /// Lower-case operation → rules, ordered by the name's length: a row's operation is
    /// compared, ignoring ASCII case, with the few names of its length (no lower-cased copy and
    /// no SipHash per row).
    procmon_by_op: Vec<(String, Vec<usize>)>,
    procmon_any_op: Vec<usize>,
    registry: Vec<usize>,
    acl: Vec<usize>,
    netstat: Vec<usize>,
}

impl Index {
    pub fn new(rules: &[Rule]) -> Index {
        let mut index = Index::default();
        let mut procmon_by_op: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
        for (r, rule) in rules.iter().enumerate() {
            let p = &rule.prefilter;
            if let Some(e) = &p.evtx {
                match &e.event_ids {
                    Some(ids) => ids
                        .iter()
                        .for_each(|id| index.evtx_by_id.entry(*id).or_default().push(r)),
                    None => index.evtx_any_id.push(r),
                }
            }
            if let Some(m) = &p.procmon {
                match &m.operations {
                    Some(ops) => ops.iter().for_each(|op| {
                        procmon_by_op
                            .entry((op.len(), op.clone()))
                            .or_default()
                            .push(r)
                    }),
                    None => index.procmon_any_op.push(r),
                }
            }
            if p.registry {
                index.registry.push(r);
            }
            if p.acl {
                index.acl.push(r);
            }
            if p.netstat {
                index.netstat.push(r);
            }
        }
        index.procmon_by_op = procmon_by_op
            .into_iter()
            .map(|((_, op), rules)| (op, rules))
            .collect();
        index
    }

    /// Rules whose `event_id` / operation set admits `event` (their other prefilter conditions
    /// still need [`Prefilter::admits`]). Two slices: the keyed rules and the unkeyed ones.
    pub fn candidates(&self, event: &Event) -> [&[usize]; 2] {
        const NONE: &[usize] = &[];
        match &event.kind {
            EventKind::Win(w) => [
                self.evtx_by_id.get(&w.event_id).map_or(NONE, Vec::as_slice),
                &self.evtx_any_id,
            ],
            EventKind::Procmon(p) => {
                let keyed = if self.procmon_by_op.is_empty() {
                    NONE
                } else {
                    lookup_ignoring_case(&self.procmon_by_op, &p.operation)
                };
                [keyed, &self.procmon_any_op]
            }
            EventKind::Registry(_) => [NONE, &self.registry],
            EventKind::Acl(_) => [NONE, &self.acl],
            EventKind::Socket(_) => [NONE, &self.netstat],
        }
    }
}

/// The rules of the operation named `key`, ignoring ASCII case, in `by_op` (ordered by the
/// names' length).
fn lookup_ignoring_case<'m>(by_op: &'m [(String, Vec<usize>)], key: &str) -> &'m [usize] {
    let from = by_op.partition_point(|(op, _)| op.len() < key.len());
    by_op[from..]
        .iter()
        .take_while(|(op, _)| op.len() == key.len())
        .find(|(op, _)| op.eq_ignore_ascii_case(key))
        .map_or(&[], |(_, rules)| rules.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile::{Ctx, compile_expr, newlines};
    use crate::rules::parser::parse_expr;

    /// For every rule the index gives as a candidate, asking only what the index did not match
    /// answers as the whole prefilter does: over the built-in pack, EVTX events of every id and
    /// provider its rules name (and others), Procmon rows of every operation in any case.
    #[test]
    fn a_candidates_prefilter_answers_as_the_whole_one() {
        use crate::rules::testutil::{procmon, win};
        let set = crate::rules::load_with_builtin(&[]).unwrap();
        let mut ids: BTreeSet<u32> = [0, 1, 4624].into();
        let mut providers: BTreeSet<String> = ["Nobody".to_string()].into();
        let mut operations: BTreeSet<String> = ["NoSuchOperation".to_string()].into();
        for rule in set.rules() {
            if let Some(e) = &rule.prefilter.evtx {
                ids.extend(e.event_ids.iter().flatten());
                providers.extend(e.providers.iter().flatten().cloned());
            }
            if let Some(m) = &rule.prefilter.procmon {
                operations.extend(m.operations.iter().flatten().cloned());
            }
        }
        let mut events = Vec::new();
        for id in &ids {
            for provider in &providers {
                events.push(win(provider, *id, &[], None));
                events.push(win(&provider.to_ascii_uppercase(), *id, &[], None));
            }
        }
        for op in &operations {
            for name in [op.clone(), op.to_ascii_uppercase()] {
                events.push(procmon(1, "p.exe", &name, "", "", "", None));
            }
        }
        let mut asked = 0;
        for ev in &events {
            for &r in set.index.candidates(ev).iter().flat_map(|s| s.iter()) {
                let p = &set.rules()[r].prefilter;
                assert_eq!(
                    p.admits_candidate(ev),
                    p.admits(ev),
                    "{}",
                    set.rules()[r].id()
                );
                asked += 1;
            }
        }
        assert!(asked > 100, "{asked} candidates asked");
    }

    /// A row's operation finds the rules naming it whatever its case, among names of its
    /// length and of others; a rule naming none is tried on every row.
    #[test]
    fn a_rows_operation_finds_its_rules_ignoring_case() {
        use crate::rules::testutil::{load, procmon};
        let rule = |id: &str, when: &str, op: &str| {
            format!(
                "rule {id} {{\n    title: \"t\"\n    cause: tls\n    strength: weak\n    when: {when}\n    evidence: \"e\"\n    remediation: \"r\"\n    example match procmon {{ operation: \"{op}\" }}\n    example nomatch procmon {{ operation: \"Other\" }}\n}}\n"
            )
        };
        let text = [
            rule("open", r#"operation == "RegOpenKey""#, "RegOpenKey"),
            rule(
                "set",
                r#"operation in ("ReadFile", "RegSetValue")"#,
                "RegSetValue",
            ),
            rule("tcp", r#"operation == "TCP Connect""#, "TCP Connect"),
            rule(
                "any",
                r#"source == "procmon" and operation != "Other""#,
                "x",
            ),
        ]
        .concat();
        let set = load(&text);
        let id = |r: &usize| set.rules()[*r].id().to_string();
        let tried = |op: &str| {
            let [keyed, any] = set
                .index
                .candidates(&procmon(1, "p.exe", op, "", "", "", None));
            (
                keyed.iter().map(id).collect::<Vec<_>>(),
                any.iter().map(id).collect::<Vec<_>>(),
            )
        };
        let any = vec!["any".to_string()];
        assert_eq!(tried("regopenkey"), (vec!["open".to_string()], any.clone()));
        assert_eq!(tried("REGSETVALUE"), (vec!["set".to_string()], any.clone()));
        assert_eq!(tried("readFile"), (vec!["set".to_string()], any.clone()));
        assert_eq!(tried("TCP connect"), (vec!["tcp".to_string()], any.clone()));
        for none in ["WriteFile", "RegOpenKe", "RegOpenKeyX", "", "TCP Connect "] {
            assert_eq!(tried(none), (Vec::<String>::new(), any.clone()), "{none:?}");
        }
    }

    fn pf(text: &str) -> Prefilter {
        let ctx = Ctx {
            file: "t",
            text,
            newlines: &newlines(text),
            whole: true,
        };
        let expr = parse_expr("t", text).unwrap();
        let cond = compile_expr(&ctx, &expr, &mut Vec::new()).unwrap();
        Prefilter::from_cond(&cond)
    }

    fn ids(v: &[u32]) -> Option<BTreeSet<u32>> {
        Some(v.iter().copied().collect())
    }

    fn names(v: &[&str]) -> Option<BTreeSet<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn reads_sources_ids_providers_and_operations() {
        let p = pf(r#"provider == "Schannel" and event_id in (36870, 36874)"#);
        assert_eq!(
            p.evtx,
            Some(EvtxFilter {
                event_ids: ids(&[36870, 36874]),
                providers: names(&["schannel"]),
            })
        );
        assert_eq!(p.procmon, None);

        let p = pf(r#"event_id == 1 or operation in ("TCP Reconnect", "TCP Retransmit")"#);
        assert_eq!(p.evtx.unwrap().event_ids, ids(&[1]));
        assert_eq!(
            p.procmon.unwrap().operations,
            names(&["tcp reconnect", "tcp retransmit"])
        );

        let p = pf(r#"source == "procmon" and path contains "x""#);
        assert_eq!((p.evtx, p.procmon), (None, Some(ProcmonFilter::default())));
        let p = pf(r#"source != "procmon""#);
        assert_eq!((p.evtx, p.procmon), (Some(EvtxFilter::default()), None));
        assert!(p.registry && p.acl);
        let p = pf(r#"key endswith r"\RDP-Tcp" and value_name == "PortNumber""#);
        assert_eq!(
            (p.evtx, p.procmon, p.registry, p.acl),
            (None, None, true, false)
        );
        // `path` is in Procmon rows and ACL entries, `computer` in every source (a Procmon row
        // has it from a PML's header).
        let p = pf(r#"path contains "MachineKeys""#);
        assert_eq!((p.evtx, p.registry, p.acl), (None, false, true));
        assert!(p.procmon.is_some());
        let p = pf(r#"computer == "RDS01""#);
        assert_eq!(
            (p.procmon, p.registry, p.acl),
            (Some(ProcmonFilter::default()), true, true)
        );

        // Contradictions match nothing.
        let p = pf("event_id == 1 and event_id == 2");
        assert_eq!(p.evtx.unwrap().event_ids, ids(&[]));
        assert_eq!(
            pf(r#"event_id == 1 and process == "x""#),
            Prefilter {
                evtx: None,
                procmon: None,
                registry: false,
                acl: false,
                netstat: false,
            }
        );
    }

    #[test]
    fn is_conservative_where_it_cannot_tell() {
        assert_eq!(pf("not event_id == 1"), Prefilter::any());
        assert_eq!(pf(r#"file contains "x""#), Prefilter::any());
        assert_eq!(pf("event_id > 5").evtx.unwrap().event_ids, None);
        assert_eq!(pf(r#"provider contains "x""#).evtx.unwrap().providers, None);
        // One side of an `or` with no id means any id.
        assert_eq!(
            pf("event_id == 1 or level == 2").evtx.unwrap().event_ids,
            None
        );
        // An id too large for an event id can never match.
        assert_eq!(
            pf("event_id == 0x100000000").evtx.unwrap().event_ids,
            ids(&[])
        );
    }
}
