//! Rules: the language, the engine and the built-in pack (ranking is `analysis::rank`).
//!
//! Rule text goes through three stages, each in its own module: [`parser`] (text → [`ast`],
//! syntax only; grammar reference there), [`compile`] (validation → [`Rule`], with the
//! [`prefilter`] read off each condition and the examples built into events) and [`engine`]
//! (rules × events → [`Evaluation`]). [`load_rules`] runs the first two over all rule files at
//! once (rule ids are unique across files) and returns a [`RuleSet`], the one thing the rest of
//! the program holds. [`reads`] says which fields a rule's conditions read, so ingest leaves to
//! the evaluation what analysis rewrites after keeping an event; [`once`] notes on each kept
//! event what the others answered, so no condition is asked twice about one event.

pub mod absence;
pub mod ast;
mod compare;
pub mod compile;
pub mod domain;
pub mod engine;
pub mod error;
pub mod examples;
pub mod fields;
mod lexer;
pub(crate) mod once;
pub mod pack;
pub mod parser;
pub mod prefilter;
pub mod reads;
pub mod template;

use std::collections::HashMap;
use std::sync::Arc;

pub use ast::{AnchorMode, AnchorWindow, Cause, Expect, Healthy, Strength};
pub use compile::{Aggregation, Rule, RuleKind};
pub use domain::{ClientEvent, Domain, LogKind, Role, Side};
pub use engine::{Anchor, Evaluation, EventIds, Finding, LASTING_WINDOW, Proximity};
pub use error::{ErrorKind, RuleError, RuleErrors};
pub use examples::ExampleFailure;

use crate::model::Event;
use compile::Ctx;
use prefilter::Index;

/// The built-in pack plus the user's rule files (`--rules`), loaded together so rule ids are
/// unique across all of them.
pub fn load_with_builtin(user: &[(String, String)]) -> Result<RuleSet, RuleErrors> {
    load_sources(&with_builtin(user), true)
}

/// The built-in pack's files, then `user`'s.
fn with_builtin(user: &[(String, String)]) -> Vec<(String, String)> {
    let mut sources = pack::builtin_sources();
    sources.extend(user.iter().cloned());
    sources
}

/// [`load_with_builtin`] for an analysis (`scan`, `timeline`, `batch`): the same rules and the
/// same errors, without building the built-in pack whole ([`Ctx::whole`]). Its examples are
/// not built into events (about a sixth of loading): only `rules test` runs examples. Its
/// regexes are built at their first use, not now (case-insensitive ones take hundreds of
/// microseconds each, most of loading, and most scans never ask one). The pack cannot change
/// after the build, and its tests build it whole. The user's files are built whole, so a
/// broken example or regex in one is still an error here.
pub fn load_with_builtin_to_analyse(user: &[(String, String)]) -> Result<RuleSet, RuleErrors> {
    load_sources(&with_builtin(user), false)
}

/// A validated set of rules, ready to evaluate.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Which set this is, in this process: what the marks it notes on events name ([`once`]).
    id: u32,
    rules: Vec<Rule>,
    index: Index,
    /// Per rule: is it decided at keep, its answer noted on the event ([`once`]): it reads no
    /// field analysis rewrites after keep ([`Rule::reads_placed`]). A rule that does is
    /// answered at keep by its prefilter alone and asked once, at the evaluation. Worked out
    /// once here, read for every event ingest sees.
    decided: Vec<bool>,
    /// Every rule is decided at keep (as in the built-in pack).
    all_decided: bool,
    /// No rule reads where its event was read (`file`, `record`): what [`RuleSet::mark`]
    /// answers for an EVTX event follows from its payload alone ([`Rule::reads_origin`]).
    payload_decides: bool,
    domain: Domain,
    /// Where `domain` was declared (`file:line`), for `rules list` and `rules check`.
    domain_from: String,
}

/// Parse and validate rule files, given as `(name, text)`; `name` is what errors and
/// `Rule::file` show. All files are checked together (a rule id may appear only once across
/// them, ignoring case) and every error found is returned, not just the first: a file with a
/// syntax error stops at that error, validation errors are collected rule by rule.
pub fn load_rules<N, T>(sources: &[(N, T)]) -> Result<RuleSet, RuleErrors>
where
    N: AsRef<str> + Sync,
    T: AsRef<str> + Sync,
{
    load_sources(sources, true)
}

/// [`load_rules`]; `builtin_whole` says whether the built-in pack is built whole (its
/// examples into events, its regexes now: [`Ctx::whole`]).
fn load_sources<N, T>(sources: &[(N, T)], builtin_whole: bool) -> Result<RuleSet, RuleErrors>
where
    N: AsRef<str> + Sync,
    T: AsRef<str> + Sync,
{
    // Files are parsed, and rules compiled, in parallel when called on a pool (the run's, of
    // the size asked for), else one after the other on this thread; what is decided across
    // files (the domain, duplicate ids) and the order of the errors are worked out here in
    // file order, as if one rule were compiled after the other. The pack's own files, for an
    // analysis, are built lean: their examples' bodies skipped unparsed (`rules test` and the
    // pack's tests parse them), their regexes built at first use.
    let parsed = on_pool_or_here(sources, |(name, text)| {
        let (name, text) = (name.as_ref(), text.as_ref());
        let lean = !builtin_whole && pack::is_builtin(name, text);
        let ast = if lean {
            parser::parse_file_lean(name, text)
        } else {
            parser::parse_file(name, text)
        };
        (ast, compile::newlines(text), lean)
    });
    /// An error found here, or the place of one rule's compilation in the error order.
    enum Slot<'a> {
        Error(RuleError),
        Compile(Ctx<'a>, Arc<str>, &'a ast::RuleAst),
    }
    let mut slots: Vec<Slot<'_>> = Vec::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    // (is it the built-in pack's, where) of the domain in use.
    let mut domain: Option<(bool, String, Domain)> = None;
    for ((name, text), (ast, newlines, lean)) in sources.iter().zip(&parsed) {
        let (name, text) = (name.as_ref(), text.as_ref());
        let ast = match ast {
            Ok(ast) => ast,
            Err(e) => {
                slots.push(Slot::Error(e.clone()));
                continue;
            }
        };
        let ctx = Ctx {
            file: name,
            text,
            newlines,
            whole: !*lean,
        };
        if let Some(d) = &ast.domain {
            let builtin = name.starts_with(pack::PREFIX);
            let here = format!("{name}:{}", ctx.line(d.pos));
            match &domain {
                // A user's domain replaces the built-in one; two of the user's are an error.
                Some((false, first, _)) if !builtin => slots.push(Slot::Error(RuleError::at(
                    name,
                    text,
                    d.pos.0,
                    ErrorKind::Domain {
                        message: format!("declared a second time (first at {first})"),
                    },
                ))),
                Some((false, _, _)) => {}
                _ => domain = Some((builtin, here, d.value.clone())),
            }
        }
        let file: Arc<str> = Arc::from(name);
        for rule_ast in &ast.rules {
            let id = &rule_ast.id;
            let here = format!("{name}:{}", ctx.line(id.pos));
            if let Some(first) = ids.get(&id.value.to_ascii_lowercase()) {
                slots.push(Slot::Error(ctx.err(
                    id.pos,
                    ErrorKind::DuplicateId {
                        id: id.value.clone(),
                        first: first.clone(),
                    },
                )));
                continue;
            }
            ids.insert(id.value.to_ascii_lowercase(), here);
            slots.push(Slot::Compile(ctx, Arc::clone(&file), rule_ast));
        }
    }
    let compiled = on_pool_or_here(&slots, |slot| match slot {
        Slot::Error(_) => (None, Vec::new()),
        Slot::Compile(ctx, file, rule_ast) => {
            let mut errors = Vec::new();
            let rule = compile::compile_rule(ctx, file, rule_ast, &mut errors);
            (rule, errors)
        }
    });
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    for (slot, (rule, mut found)) in slots.into_iter().zip(compiled) {
        if let Slot::Error(e) = slot {
            errors.push(e);
        }
        errors.append(&mut found);
        rules.extend(rule);
    }
    if errors.is_empty() {
        let (from, domain) = domain.map_or_else(
            || ("the built-in pack".to_string(), Domain::builtin().clone()),
            |(_, here, d)| (here, d),
        );
        let mut set = RuleSet::from_rules(rules, domain);
        set.domain_from = from;
        Ok(set)
    } else {
        Err(RuleErrors(errors))
    }
}

/// `items.map(f)`, in parallel on the current pool when called on one: never on rayon's
/// global pool, which would start a thread per core whatever `--threads` says.
fn on_pool_or_here<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    if rayon::current_thread_index().is_some() {
        items.par_iter().map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}

impl RuleSet {
    fn from_rules(mut rules: Vec<Rule>, domain: Domain) -> RuleSet {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SETS: AtomicU32 = AtomicU32::new(1);
        for rule in &mut rules {
            rule.evidence.bind_tables(&domain.codes);
        }
        let index = Index::new(&rules);
        let decided: Vec<bool> = rules.iter().map(|r| !r.reads_placed()).collect();
        RuleSet {
            id: SETS.fetch_add(1, Ordering::Relaxed),
            all_decided: decided.iter().all(|&d| d),
            payload_decides: !rules.iter().any(Rule::reads_origin),
            decided,
            rules,
            index,
            domain,
            domain_from: String::new(),
        }
    }

    /// Where the domain in use was declared (`file:line`).
    pub fn domain_from(&self) -> &str {
        &self.domain_from
    }

    /// The domain declarations in use: the user's, or the built-in pack's.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Does a `kind: anchor` rule match `event`? What makes a disconnect the 0x904, for the
    /// report as for the ranking.
    pub fn is_anchor(&self, event: &Event) -> bool {
        (0..self.rules.len())
            .any(|r| self.rules[r].kind() == RuleKind::Anchor && self.holds_now(r, event))
    }

    /// The rules, in load order (file order, then position in the file).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A rule by id (exact).
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id() == id)
    }

    /// Could any rule match `event`? False means ingest may drop it. Cheap: a lookup on
    /// `event_id` / operation, then the few candidate rules' provider checks.
    pub fn may_match(&self, event: &Event) -> bool {
        self.index
            .candidates(event)
            .iter()
            .flat_map(|s| s.iter())
            .any(|&r| self.rules[r].prefilter.admits_candidate(event))
    }

    /// Run every rule over `events` (any order; the result does not depend on it).
    pub fn evaluate(&self, events: &[Event]) -> Evaluation {
        engine::evaluate(self, events)
    }

    /// Run every rule's examples; every failure, in rule order.
    pub fn check_examples(&self) -> Vec<ExampleFailure> {
        let domain = self.domain();
        self.rules
            .iter()
            .flat_map(|r| examples::check_rule(r, domain))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::fields::Field;
    use super::testutil::*;
    use super::*;

    #[test]
    fn rules_load_alike_on_a_pool_and_on_one_thread() {
        // Errors of every kind, across files: a file that does not parse, a duplicate id, a
        // second user domain, rules that do not compile, next to rules that do.
        let good = pack::builtin_sources();
        let bad = [
            (
                "a.rdt",
                "rule x-one {\n  cause: network\n  when: nosuch == 1\n}\nrule x-two {\n  cause: network\n  when: message ~ \"(\"\n}\nrule ok-one {\n  cause: network\n  when: event_id == 1\n}\n",
            ),
            ("b.rdt", "rule broken {\n  when: event_id ==\n"),
            (
                "c.rdt",
                "rule X-ONE {\n  cause: network\n  when: event_id == 2\n}\nrule y {\n  when: event_id == 3\n}\n",
            ),
        ];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let here = load_rules(&bad).unwrap_err().to_string();
        let pooled = pool.install(|| load_rules(&bad)).unwrap_err().to_string();
        assert_eq!(pooled, here);
        for file in ["a.rdt:", "b.rdt:", "c.rdt:"] {
            assert!(here.contains(file), "{file} {here}");
        }
        assert!(here.matches("c.rdt:").count() > 1, "{here}");
        let ids = |set: &RuleSet| -> Vec<String> {
            set.rules().iter().map(|r| r.id().to_string()).collect()
        };
        let here = load_rules(&good).unwrap();
        let pooled = pool.install(|| load_rules(&good)).unwrap();
        assert_eq!(ids(&pooled), ids(&here));
        assert!(ids(&here).len() > 20);
    }

    #[test]
    fn an_analysis_load_skips_only_the_packs_examples() {
        let ids = |set: &RuleSet| -> Vec<String> {
            set.rules().iter().map(|r| r.id().to_string()).collect()
        };
        let full = load_with_builtin(&[]).unwrap();
        let lean = load_with_builtin_to_analyse(&[]).unwrap();
        assert_eq!(ids(&lean), ids(&full));
        assert!(full.rules().iter().all(|r| !r.examples.is_empty()));
        assert!(lean.rules().iter().all(|r| r.examples.is_empty()));
        // A user's file is built whole: its examples are there, and a broken one is an error.
        let mine = [(
            "mine.rdt".to_string(),
            testutil::rule_with("event_id == 1", "", EX),
        )];
        let lean = load_with_builtin_to_analyse(&mine).unwrap();
        let t = lean.rules().iter().find(|r| r.id() == "t").unwrap();
        assert_eq!(t.examples.len(), 2);
        let broken = [(
            "mine.rdt".to_string(),
            testutil::rule_with(
                "event_id == 1",
                "",
                "    example match evtx { event_id: 70000 }\n    example nomatch evtx { event_id: 2 }",
            ),
        )];
        let full = load_with_builtin(&broken).unwrap_err().to_string();
        let lean = load_with_builtin_to_analyse(&broken)
            .unwrap_err()
            .to_string();
        assert_eq!(lean, full);
        assert!(lean.contains("out of range"), "{lean}");
    }

    #[test]
    fn an_analysis_load_builds_the_packs_regexes_at_first_use() {
        let full = load_with_builtin(&[]).unwrap();
        let lean = load_with_builtin_to_analyse(&[]).unwrap();
        // Per regex of the set: is it built?
        let regexes = |set: &RuleSet| -> Vec<bool> {
            let mut built = Vec::new();
            for r in set.rules() {
                r.cond.each_regex(&mut |rx| built.push(rx.is_built()));
            }
            built
        };
        // The pack has regexes; built whole, they are built at load; for an analysis, not yet.
        assert!(!regexes(&full).is_empty());
        assert!(regexes(&full).iter().all(|&built| built));
        assert!(regexes(&lean).iter().all(|&built| !built));
        // The lean rules answer every example of the pack as the whole ones do: their regexes
        // are built when an example asks them.
        for whole in full.rules() {
            let lean_rule = lean.rule(whole.id()).unwrap();
            let failed = examples::check_rule_on(lean_rule, &whole.examples, lean.domain());
            assert_eq!(failed, Vec::new(), "{}", whole.id());
        }
        assert!(regexes(&lean).iter().all(|&built| built));
        // A user's regex is built at load, in an analysis too: a bad one is an error.
        let mine = [(
            "mine.rdt".to_string(),
            testutil::rule_with(r#"message matches "(""#, "", EX),
        )];
        let full = load_with_builtin(&mine).unwrap_err().to_string();
        let lean = load_with_builtin_to_analyse(&mine).unwrap_err().to_string();
        assert_eq!(lean, full);
        assert!(lean.contains("mine.rdt"), "{lean}");
    }

    #[test]
    fn ingest_keeps_what_a_rule_may_match_once_placed() {
        let ex = |t: &str| {
            format!(
                "    example match evtx {{ event_id: 7, time: \"2024-06-01T00:00:00Z\" }}\n    example nomatch evtx {{ event_id: 7, time: \"{t}\" }}"
            )
        };
        // Reads `time`: an event without one yet is kept for the evaluation to decide.
        let set = load(&rule_with(
            r#"event_id == 7 and time >= "2024-01-01T00:00:00Z""#,
            "",
            &ex("2023-06-01T00:00:00Z"),
        ));
        let unplaced = win("P", 7, &[], None);
        assert!(!set.rules()[0].matches(&unplaced));
        assert!(set.mark(&mut unplaced.clone()));
        assert!(set.mark(&mut win("P", 7, &[], Some(at(3600)))));
        // The prefilter still holds: another event id is not kept.
        assert!(!set.mark(&mut win("P", 8, &[], None)));
        // A rule reading neither is decided at ingest, as before.
        let set = load(&rule_with(
            r#"event_id == 7 and data.X == "1""#,
            "",
            "    example match evtx { event_id: 7, data.X: \"1\" }\n    example nomatch evtx { event_id: 7 }",
        ));
        assert!(!set.mark(&mut win("P", 7, &[("X", "2")], Some(at(3600)))));
        assert!(set.mark(&mut win("P", 7, &[("X", "1")], Some(at(3600)))));
    }

    #[test]
    fn sample_loads_and_its_examples_pass() {
        let set = load(SAMPLE);
        assert_eq!(set.rules().len(), 6);
        assert_examples_pass(&set);
    }

    #[test]
    fn print_then_parse_gives_the_same_tree() {
        let ast = parser::parse_file("sample", SAMPLE).unwrap();
        let printed = ast.to_string();
        let again = parser::parse_file("printed", &printed)
            .unwrap_or_else(|e| panic!("{e}\n--- printed ---\n{printed}"));
        assert_eq!(ast, again, "--- printed ---\n{printed}");
        // Printing is canonical: printing the reparsed tree gives the same text.
        assert_eq!(printed, again.to_string());
        // And the printed rules still load and pass their examples.
        let set = load(&printed);
        assert!(set.check_examples().is_empty());
    }

    const EX: &str =
        "    example match evtx { event_id: 1 }\n    example nomatch evtx { event_id: 2 }";

    /// All error headlines of text that must not load.
    fn headlines(sources: &[(&str, &str)]) -> Vec<String> {
        match load_rules(sources) {
            Ok(_) => panic!("loaded"),
            Err(e) => e.0.iter().map(RuleError::headline).collect(),
        }
    }

    #[test]
    fn missing_keys_are_all_reported() {
        let text = "rule lazy {\n    when: event_id == 1\n}\n";
        assert_eq!(
            headlines(&[("r.rdt", text)]),
            vec![
                "r.rdt:1:6: rule \"lazy\" has no \"title\" key (every rule needs one)",
                "r.rdt:1:6: rule \"lazy\" has no \"evidence\" key (every rule needs an evidence template)",
                "r.rdt:1:6: rule \"lazy\" has no \"cause\" key (a cause rule needs one; or set kind: anchor / disconnect-code)",
                "r.rdt:1:6: rule \"lazy\" has no \"strength\" key (a cause rule needs one)",
                "r.rdt:1:6: rule \"lazy\" has no \"remediation\" key (a cause rule needs one)",
                "r.rdt:1:6: rule \"lazy\" has no must-match example (add `example match ...`)",
                "r.rdt:1:6: rule \"lazy\" has no must-nomatch example (add `example nomatch ...`)",
            ]
        );
    }

    #[test]
    fn keys_a_kind_does_not_allow() {
        let text = format!(
            "rule a {{\n    title: \"a\"\n    kind: anchor\n    cause: tls\n    strength: weak\n    anchor: require within 1m\n    when: event_id == 1\n    evidence: \"x\"\n{EX}\n}}"
        );
        assert_eq!(
            headlines(&[("r.rdt", &text)]),
            vec![
                "r.rdt:4:5: key \"cause\" is not allowed in a rule of kind anchor (only cause rules have one)",
                "r.rdt:5:5: key \"strength\" is not allowed in a rule of kind anchor (only cause rules have one)",
                "r.rdt:6:5: key \"anchor\" is not allowed in a rule of kind anchor (an anchor is not placed relative to itself)",
            ]
        );
    }

    /// `healthy:` names settings of the rule's own cause, in a cause rule; an unknown name is
    /// refused with the list, and a name given twice is kept once.
    #[test]
    fn healthy_settings_belong_to_their_cause() {
        let rule = |cause: &str, healthy: &str| {
            format!(
                "rule a {{\n    title: \"a\"\n    cause: {cause}\n    strength: weak\n    healthy: {healthy}\n    when: event_id == 1\n    evidence: \"x\"\n    remediation: \"r\"\n{EX}\n}}"
            )
        };
        let set = load_rules(&[("r.rdt", rule("server-refused", "listener, listener"))])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.rules()[0].healthy(), &[Healthy::Listener]);
        let set = load_rules(&[(
            "r.rdt",
            rule("certificate", "rdp-key-readable, rdp-certificate"),
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            set.rules()[0].healthy(),
            &[Healthy::RdpKeyReadable, Healthy::RdpCertificate]
        );
        assert_eq!(
            headlines(&[("r.rdt", &rule("tls", "tls12-server, listener"))]),
            vec![
                "r.rdt:5:5: invalid healthy setting \"listener\": it answers server-refused findings, not tls"
            ]
        );
        assert_eq!(
            headlines(&[("r.rdt", &rule("tls", "tls13"))]),
            vec![
                "r.rdt:5:14: unknown healthy setting \"tls13\", expected one of: listener, tls12-server, rdp-certificate, rdp-key-readable, service-dll"
            ]
        );
        let anchor = rule("tls", "tls12-server")
            .replace("    cause: tls\n    strength: weak\n", "    kind: anchor\n")
            .replace("    remediation: \"r\"\n", "");
        assert_eq!(
            headlines(&[("r.rdt", &anchor)]),
            vec![
                "r.rdt:4:5: key \"healthy\" is not allowed in a rule of kind anchor (only cause rules have one)"
            ]
        );
    }

    #[test]
    fn duplicate_ids_across_files() {
        let one = rule_with("event_id == 1", "", EX);
        let two = format!("# second file\n{}", one.replace("rule t", "rule T"));
        assert_eq!(
            headlines(&[("a.rdt", &one), ("b.rdt", &two)]),
            vec!["b.rdt:2:6: duplicate rule id \"T\" (first defined at a.rdt:1)"]
        );
    }

    #[test]
    fn template_errors_point_into_the_string() {
        let text = rule_with("event_id == 1", "", EX)
            .replace("evidence: \"e {event_id}\"", "evidence: \"id {eventid}\"");
        let e = load_err(&text);
        assert_eq!(
            e.headline(),
            "test.rdt:7:20: unknown field \"eventid\" in the template (did you mean \"event_id\"?)"
        );
        let text = rule_with("event_id == 1", "", EX).replace(
            "evidence: \"e {event_id}\"",
            "evidence: r\"a\\b {event_id\"",
        );
        assert_eq!(
            load_err(&text).headline(),
            "test.rdt:7:21: bad template: an unclosed \"{\" (write \"{{\" for a literal brace)"
        );
    }

    #[test]
    fn bad_examples_are_load_errors() {
        let cases = [
            (
                "example match evtx { event_id: 1, event_id: 2 }",
                "field event_id is set twice",
            ),
            (
                "example match evtx { process: \"x\" }",
                "field process cannot be set in an example: it is not an EVTX field",
            ),
            (
                "example match procmon { remote_port: 3389 }",
                "field remote_port cannot be set in an example: it is read from path: \"host:port -> host:port\"",
            ),
            (
                "example match evtx { event_id: 70000 }",
                "value 70000 is out of range (at most 65535)",
            ),
            (
                "example match evtx { event_id: \"1\" }",
                "type mismatch: event_id takes a number",
            ),
            (
                "example match evtx { time: \"noon\" }",
                "invalid time \"noon\"",
            ),
            (
                "example match evtx { provider: +5s }",
                "type mismatch: provider takes a string or a number, not a time offset",
            ),
            (
                "example match procmon { time_of_day: \"25:00:00\" }",
                "invalid time of day \"25:00:00\"",
            ),
            (
                "example match anchor evtx { event_id: 1 }",
                "an event marked anchor only makes sense in a sequence",
            ),
        ];
        for (example, want) in cases {
            let text = rule_with("event_id == 1", "", &format!("    {example}\n{EX}"));
            let e = load_err(&text);
            assert!(
                e.kind.to_string().starts_with(want),
                "{example}\n  want {want}\n  got  {e}"
            );
            assert_eq!(e.line, 9, "{e}");
        }
    }

    #[test]
    fn aggregate_threshold_must_be_positive() {
        let text = rule_with("event_id == 1", "    aggregate: count >= 0 within 1m", EX);
        assert!(load_err(&text).kind.to_string().contains("at least 1"));
    }

    #[test]
    fn rule_metadata_accessors() {
        let set = load(SAMPLE);
        let r = set.rule("schannel-fatal-alert").unwrap();
        assert_eq!(r.title(), "Schannel sent a fatal TLS alert");
        assert_eq!(r.cause(), Some(Cause::Tls));
        assert_eq!(r.strength(), Some(Strength::Moderate));
        assert_eq!(
            r.kind(),
            RuleKind::Cause {
                cause: Cause::Tls,
                strength: Strength::Moderate
            }
        );
        assert_eq!(r.file(), "test.rdt");
        assert_eq!(r.line(), 13);
        assert!(
            r.remediation()
                .unwrap()
                .starts_with("Re-enable TLS 1.2 under\n  HKLM")
        );
        assert_eq!(r.references().len(), 2);
        assert_eq!(
            r.evidence_template(),
            "Schannel {event_id}: alert {data.AlertDesc} on {computer}"
        );
        let a = set.rule("anchor-0x904").unwrap();
        assert!(a.is_anchor());
        assert_eq!((a.cause(), a.strength()), (None, None));
        let d = set.rule("disconnect-other").unwrap();
        assert_eq!(d.kind(), RuleKind::DisconnectCode);
        let agg = set.rule("tcp-reconnects").unwrap().aggregation().unwrap();
        assert_eq!(agg.count, 3);
    }

    #[test]
    fn check_examples_catches_a_broken_rule() {
        // The condition says 36888 but the examples were written for 36887: the match example
        // does not match and the nomatch example does.
        let text = format!(
            "{SAMPLE}\n{}",
            rule_with(
                "event_id == 36888",
                "",
                "    example match evtx { event_id: 36887 }\n    example nomatch evtx { event_id: 36888 }"
            )
        );
        let set = load(&text);
        let failures = set.check_examples();
        assert_eq!(failures.len(), 2, "{failures:?}");
        let lines: Vec<String> = failures.iter().map(|f| f.to_string()).collect();
        let base = text.lines().position(|l| l == "rule t {").unwrap() + 1;
        assert_eq!(
            lines,
            vec![
                format!(
                    "test.rdt:{}: rule \"t\": example match failed: expected a finding, got none",
                    base + 8
                ),
                format!(
                    "test.rdt:{}: rule \"t\": example nomatch failed: expected no finding, got 1: e 36888",
                    base + 9
                ),
            ]
        );
        assert!(failures.iter().all(|f| f.rule_id == "t"));
    }

    #[test]
    fn check_examples_covers_aggregation_and_proximity() {
        // Threshold raised to 4: the three-event sequence no longer produces a finding.
        let broken = SAMPLE.replace("count >= 3 within 60s", "count >= 4 within 60s");
        let failures = load(&broken).check_examples();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].rule_id, "tcp-reconnects");
        assert_eq!(failures[0].expect, Expect::Match);
        // Window widened to 1h: the event 10 minutes before the anchor now counts.
        let broken = SAMPLE.replace("require within 2m", "require within 1h");
        let failures = load(&broken).check_examples();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].rule_id, "client-226-reset");
        assert_eq!(failures[0].expect, Expect::NoMatch);
    }

    /// `print(parse(text))` parses back to the same tree, and printing is a fixed point. The
    /// built-in pack goes through this too.
    pub(crate) fn assert_round_trip(name: &str, text: &str) {
        let ast = parser::parse_file(name, text).unwrap_or_else(|e| panic!("{e}"));
        let printed = ast.to_string();
        let again = parser::parse_file("printed", &printed)
            .unwrap_or_else(|e| panic!("{name}: printed text does not parse: {e}\n{printed}"));
        assert_eq!(ast, again, "{name}: round trip changed the tree\n{printed}");
        assert_eq!(
            printed,
            again.to_string(),
            "{name}: printing is not canonical"
        );
    }

    #[test]
    fn round_trip_of_awkward_text() {
        let text = r#"
rule Odd.Id_1 {
    title: "quotes \" and \\ backslash, tab\t, nul \u{1}, é, {braces}, # not a comment"
    cause: credssp-policy
    strength: context
    when: data."Name with \"quote\"" == "" or data["x\\y"] != cs "A\\B" and column."Command Line" contains r"C:\Windows\" or not not (exists detail."Desired Access" or detail == "a")
    anchor: prefer within 90s
    evidence: "{{literal}} {data.Name with space}"
    remediation: "  leading spaces\n  on every line"
    references: "a", "b", "c"
    example nomatch [ evtx { time: -1500ms, qualifiers: 0x8000, level: 4, process_id: 7, channel: "System", computer: "pc", activity_id: "{A-B}" }, anchor procmon { column.User: 12, date: "2024-05-01", time_of_day: "23:59:59.9999999" } ]
    example match procmon {}
}
rule empty-strings { title: "" evidence: "" remediation: """
    x
      y
    """ }
"#;
        assert_round_trip("awkward", text);
        assert_round_trip("sample", SAMPLE);
    }

    #[test]
    fn round_trip_of_generated_expressions() {
        // A small deterministic generator: random expressions over awkward names and values.
        struct Gen(u64);
        impl Gen {
            fn next(&mut self, n: u64) -> u64 {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (self.0 >> 33) % n
            }
            fn text(&mut self) -> String {
                const POOL: &[&str] = &[
                    "a", "Z", " ", "\"", "\\", "\n", "\t", "é", "{", "}", "#", "\u{7}", "r\"",
                    "\"\"\"",
                ];
                (0..self.next(6))
                    .map(|_| POOL[self.next(POOL.len() as u64) as usize])
                    .collect()
            }
            fn field(&mut self) -> Field {
                match self.next(5) {
                    0 => Field::EventId,
                    1 => Field::Path,
                    2 => Field::Data(self.text()),
                    3 => Field::Column(self.text()),
                    _ => Field::DetailKey("Plain_1".into()),
                }
            }
            fn literal(&mut self) -> ast::Literal {
                if self.next(2) == 0 {
                    ast::Literal::Str(self.text())
                } else {
                    ast::Literal::Num(ast::Number {
                        value: self.next(1 << 40),
                        hex: self.next(2) == 0,
                    })
                }
            }
            fn expr(&mut self, depth: u32) -> ast::Expr {
                use ast::{Expr, Pos, Spanned};
                let leaf = depth == 0 || self.next(3) == 0;
                if leaf {
                    if self.next(5) == 0 {
                        return Expr::Exists(Spanned::new(Pos(0), self.field()));
                    }
                    let op = ast::Op::ALL[self.next(ast::Op::ALL.len() as u64) as usize];
                    let value = if op == ast::Op::In {
                        ast::Value::List((0..=self.next(3)).map(|_| self.literal()).collect())
                    } else {
                        ast::Value::One(self.literal())
                    };
                    return Expr::Compare(ast::Comparison {
                        field: Spanned::new(Pos(0), self.field()),
                        op: Spanned::new(Pos(0), op),
                        cs: self.next(2) == 0,
                        value: Spanned::new(Pos(0), value),
                    });
                }
                match self.next(3) {
                    0 => Expr::Not(Box::new(self.expr(depth - 1))),
                    1 => Expr::And(
                        (0..2 + self.next(2))
                            .map(|_| self.expr(depth - 1))
                            .collect(),
                    ),
                    _ => Expr::Or(
                        (0..2 + self.next(2))
                            .map(|_| self.expr(depth - 1))
                            .collect(),
                    ),
                }
            }
        }
        let mut g = Gen(42);
        for _ in 0..500 {
            let e = g.expr(4);
            let printed = e.to_string();
            let back = parser::parse_expr("gen", &printed)
                .unwrap_or_else(|err| panic!("{err}\n{printed}\n{e:?}"));
            assert_eq!(back, e, "{printed}");
            let mut rule = ast::RuleAst::new(ast::Spanned::new(ast::Pos(0), "g".into()));
            rule.title = Some(ast::Spanned::new(ast::Pos(0), g.text() + "\n" + &g.text()));
            rule.remediation = Some(ast::Spanned::new(
                ast::Pos(0),
                format!("x{}\n{}", g.text(), g.text()),
            ));
            rule.when = Some(ast::Spanned::new(ast::Pos(0), e));
            let file = ast::RuleFile {
                domain: None,
                rules: vec![rule],
            };
            let printed = file.to_string();
            let back = parser::parse_file("gen", &printed)
                .unwrap_or_else(|err| panic!("{err}\n{printed}"));
            assert_eq!(back, file, "{printed}");
        }
    }

    #[test]
    fn mutated_rule_text_never_panics() {
        // A cheap stand-in for the fuzzer: delete, duplicate or insert characters at random
        // places of a valid file; loading (and, when it loads, checking examples) must not panic.
        const NOISE: &[&str] = &[
            "\"",
            "(",
            ")",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\\",
            "#",
            "\n",
            "0x",
            "é",
            "r\"",
            "\"\"\"",
            " not ",
            "9999999999999999999999",
            "-",
            "+",
        ];
        let chars: Vec<char> = SAMPLE.chars().collect();
        let mut seed = 1u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n.max(1)
        };
        for _ in 0..1500 {
            let mut text = chars.clone();
            for _ in 0..1 + next(4) {
                let at = next(text.len());
                match next(3) {
                    0 => {
                        let end = (at + next(8)).min(text.len());
                        text.drain(at..end);
                    }
                    1 => text
                        .splice(at..at, NOISE[next(NOISE.len())].chars())
                        .for_each(drop),
                    _ => {
                        let end = (at + next(20)).min(text.len());
                        let copy: Vec<char> = text[at..end].to_vec();
                        text.splice(at..at, copy).for_each(drop);
                    }
                }
            }
            let text: String = text.into_iter().collect();
            if parser::parse_file("m.rdt", &text).is_ok() {
                assert_round_trip("mutated", &text);
            }
            if let Ok(set) = load_rules(&[("m.rdt", text.as_str())]) {
                let _ = set.check_examples();
                for r in set.rules() {
                    let _ = r.ast().to_string();
                }
            }
        }
    }
}
