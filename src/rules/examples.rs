//! Rule examples: the events a rule must match and must not match, written in the rule.
//!
//! `example match evtx { provider: "Schannel", event_id: 36888, data.AlertDesc: "70" }` is one
//! event; `example match [ procmon { ... }, procmon { ... }, anchor evtx { ... } ]` is a sequence,
//! for aggregation and proximity rules. Events are built into real [`Event`]s at load time
//! (Procmon `detail` and network `path` go through the same parsers as CSV rows), so a bad
//! example is a load-time error. An example is checked alone: its events, and only those, are
//! evaluated with the one rule. Events marked `anchor` are the 0x904 anchors of that run (the
//! set's anchor rules are not consulted, so an example means the same whatever else is loaded).
//! A `match` example passes when the rule produces at least one finding (for an anchor rule: at
//! least one anchor); `nomatch` when it produces none.
//!
//! Settable fields: `time` (an RFC 3339 timestamp, or `+30s` / `-5m` from the fixed base
//! 2024-01-01T00:00:00Z), `record`, `file`; EVTX: `event_id`, `qualifiers`, `level`,
//! `process_id`, `provider`, `channel`, `computer`, `activity_id`, `data.<Name>`; Procmon:
//! `process`, `pid`, `operation`, `path`, `result`, `detail`, `time_of_day`, `date`,
//! `column.<Header>`. Unset text is empty, unset numbers absent, records count from 1.

use std::fmt;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::ast::{Example, ExampleEvent, ExampleValue, Expect, Literal, Pos};
use super::compile::{Ctx, Rule, parse_timestamp};
use super::domain::Domain;
use super::engine;
use super::error::{ErrorKind, RuleError};
use super::fields::Field;
use crate::model::{AclEntry, Event, EventKind, ProcmonRow, RegValue, Socket, Source, WinEvent};

/// Offsets (`time: +30s`) count from here: 2024-01-01T00:00:00Z.
pub const EXAMPLE_BASE_SECOND: i64 = 1_704_067_200;

/// An example ready to run.
#[derive(Debug, Clone)]
pub(crate) struct CompiledExample {
    pub line: usize,
    pub expect: Expect,
    pub events: Vec<Event>,
    /// Indices of the events marked `anchor`.
    pub anchors: Vec<usize>,
}

/// An example that did not do what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFailure {
    pub rule_id: String,
    pub file: String,
    /// The line of the `example` keyword.
    pub line: usize,
    pub expect: Expect,
    /// How many findings (or anchors, for an anchor rule) the example produced.
    pub produced: usize,
    /// The evidence lines produced, for a `nomatch` that matched.
    pub evidence: Vec<String>,
}

impl fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: rule \"{}\": example {} failed: ",
            self.file, self.line, self.rule_id, self.expect
        )?;
        match self.expect {
            Expect::Match => f.write_str("expected a finding, got none"),
            Expect::NoMatch => write!(
                f,
                "expected no finding, got {}: {}",
                self.produced,
                self.evidence.join("; ")
            ),
        }
    }
}

/// Run every example of `rule`.
pub(crate) fn check_rule(rule: &Rule, domain: &Domain) -> Vec<ExampleFailure> {
    check_rule_on(rule, &rule.examples, domain)
}

/// Run `examples` on `rule`.
pub(crate) fn check_rule_on(
    rule: &Rule,
    examples: &[CompiledExample],
    domain: &Domain,
) -> Vec<ExampleFailure> {
    let mut failures = Vec::new();
    for ex in examples {
        let (anchors, findings) = engine::evaluate_one(rule, domain, &ex.events, &ex.anchors);
        let evidence: Vec<String> = if rule.is_anchor() {
            anchors.into_iter().map(|a| a.evidence).collect()
        } else {
            findings.into_iter().map(|f| f.evidence).collect()
        };
        let ok = match ex.expect {
            Expect::Match => !evidence.is_empty(),
            Expect::NoMatch => evidence.is_empty(),
        };
        if !ok {
            failures.push(ExampleFailure {
                rule_id: rule.id.to_string(),
                file: rule.file.to_string(),
                line: ex.line,
                expect: ex.expect,
                produced: evidence.len(),
                evidence,
            });
        }
    }
    failures
}

/// Build the events of every example; problems go to `errors`.
pub(crate) fn compile_examples(
    ctx: &Ctx<'_>,
    examples: &[Example],
    errors: &mut Vec<RuleError>,
) -> Vec<CompiledExample> {
    let mut out = Vec::new();
    for ex in examples {
        let line = ctx.line(ex.pos);
        let file: Arc<str> = Arc::from(format!("{}:{line}", ctx.file));
        let mut events = Vec::new();
        let mut anchors = Vec::new();
        let mut ok = true;
        for (n, ev) in ex.body.events().iter().enumerate() {
            match build_event(ctx, ev, n as u64 + 1, &file) {
                Ok(event) => {
                    if ev.anchor {
                        anchors.push(events.len());
                    }
                    events.push(event);
                }
                Err(e) => {
                    errors.push(e);
                    ok = false;
                }
            }
        }
        if ok {
            out.push(CompiledExample {
                line,
                expect: ex.expect,
                events,
                anchors,
            });
        }
    }
    out
}

/// One example event.
fn build_event(
    ctx: &Ctx<'_>,
    ev: &ExampleEvent,
    record: u64,
    file: &Arc<str>,
) -> Result<Event, RuleError> {
    let mut event = Event {
        file: Arc::clone(file),
        record,
        time: None,
        kind: match ev.source {
            Source::Evtx => EventKind::Win(Default::default()),
            Source::Procmon => EventKind::Procmon(Box::default()),
            Source::Registry => EventKind::Registry(Box::default()),
            Source::Acl => EventKind::Acl(Box::default()),
            Source::Netstat => EventKind::Socket(Box::default()),
        },
        marks: Default::default(),
    };
    let mut seen: Vec<&Field> = Vec::new();
    for (field, value) in &ev.fields {
        if seen.contains(&&field.value) {
            return Err(ctx.err(
                field.pos,
                ErrorKind::BadExample {
                    what: "field",
                    detail: format!("{} is set twice", field.value),
                },
            ));
        }
        seen.push(&field.value);
        let setter = Setter {
            ctx,
            field: &field.value,
            pos: value.pos,
            value: &value.value,
        };
        setter.apply(&mut event, field.pos)?;
    }
    if let EventKind::Procmon(p) = &mut event.kind {
        let op = p.operation.to_ascii_uppercase();
        if op.starts_with("TCP ") || op.starts_with("UDP ") {
            p.text.set_network(true);
        }
    }
    Ok(event)
}

/// Sets one field of an example event from its written value.
struct Setter<'a> {
    ctx: &'a Ctx<'a>,
    field: &'a Field,
    pos: Pos,
    value: &'a ExampleValue,
}

impl Setter<'_> {
    fn mismatch(&self, wanted: &str) -> RuleError {
        self.ctx.err(
            self.pos,
            ErrorKind::TypeMismatch {
                message: format!("{} takes {wanted}", self.field),
            },
        )
    }

    fn text(&self) -> Result<String, RuleError> {
        match self.value {
            ExampleValue::Lit(Literal::Str(s)) => Ok(s.clone()),
            _ => Err(self.mismatch("a string")),
        }
    }

    /// Open fields take a string or a number (written back as text the way it was written).
    fn open_text(&self) -> Result<String, RuleError> {
        match self.value {
            ExampleValue::Lit(lit @ Literal::Num(_)) => Ok(lit.to_string()),
            _ => self.text(),
        }
    }

    fn number<T: TryFrom<u64>>(&self, max: u64) -> Result<T, RuleError> {
        let ExampleValue::Lit(Literal::Num(n)) = self.value else {
            return Err(self.mismatch("a number"));
        };
        T::try_from(n.value).map_err(|_| {
            self.ctx.err(
                self.pos,
                ErrorKind::OutOfRange {
                    what: "value",
                    value: n.to_string(),
                    max: max.to_string(),
                },
            )
        })
    }

    fn time(&self) -> Result<Timestamp, RuleError> {
        let bad = |text: String, message: String| {
            self.ctx.err(
                self.pos,
                ErrorKind::BadValue {
                    what: "time",
                    text,
                    message,
                },
            )
        };
        match self.value {
            ExampleValue::Offset(ms) => Timestamp::from_second(EXAMPLE_BASE_SECOND)
                .and_then(|base| base.checked_add(SignedDuration::from_millis(*ms)))
                .map_err(|e| bad(self.value.to_string(), e.to_string())),
            ExampleValue::Lit(Literal::Str(s)) => parse_timestamp(s).map_err(|m| bad(s.clone(), m)),
            ExampleValue::Lit(Literal::Num(_)) => {
                Err(self
                    .mismatch("a timestamp string (\"2024-05-01T10:00:00Z\") or an offset (+30s)"))
            }
        }
    }

    fn civil<T: std::str::FromStr>(&self, what: &'static str) -> Result<T, RuleError>
    where
        T::Err: fmt::Display,
    {
        let s = self.text()?;
        s.parse::<T>().map_err(|e| {
            self.ctx.err(
                self.pos,
                ErrorKind::BadValue {
                    what,
                    text: s.clone(),
                    message: e.to_string(),
                },
            )
        })
    }

    fn apply(&self, event: &mut Event, field_pos: Pos) -> Result<(), RuleError> {
        if matches!(self.value, ExampleValue::Offset(_)) && *self.field != Field::Time {
            return Err(self.mismatch("a string or a number, not a time offset"));
        }
        let not_settable = |why: &str| {
            self.ctx.err(
                field_pos,
                ErrorKind::BadExample {
                    what: "field",
                    detail: format!("{} cannot be set in an example: {why}", self.field),
                },
            )
        };
        match self.field {
            Field::Time => event.time = Some(self.time()?),
            Field::Record => event.record = self.number(u64::MAX)?,
            Field::File => event.file = Arc::from(self.text()?),
            Field::Source => return Err(not_settable("it is the word before \"{\"")),
            _ => {}
        }
        if matches!(
            self.field,
            Field::Time | Field::Record | Field::File | Field::Source
        ) {
            return Ok(());
        }
        match &mut event.kind {
            EventKind::Win(w) => self.apply_win(std::sync::Arc::make_mut(w), &not_settable),
            EventKind::Procmon(p) => self.apply_procmon(p, &not_settable),
            EventKind::Registry(r) => self.apply_registry(r, &not_settable),
            EventKind::Acl(a) => self.apply_acl(a, &not_settable),
            EventKind::Socket(k) => self.apply_socket(k, &not_settable),
        }
    }

    fn apply_socket(
        &self,
        k: &mut Socket,
        not_settable: &dyn Fn(&str) -> RuleError,
    ) -> Result<(), RuleError> {
        let port = || self.number::<u16>(u64::from(u16::MAX)).map(Some);
        match self.field {
            Field::Protocol => k.protocol = self.text()?,
            Field::LocalHost => k.local_host = self.text()?,
            Field::LocalPort => k.local_port = port()?,
            Field::RemoteHost => k.remote_host = self.text()?,
            Field::RemotePort => k.remote_port = port()?,
            Field::State => k.state = self.text()?,
            Field::Pid => k.pid = Some(self.number(u64::from(u32::MAX))?),
            Field::Process => k.process = self.text()?,
            Field::Service => k.service = self.text()?,
            Field::Computer => k.computer = self.text()?,
            _ => return Err(not_settable("it is not a netstat field")),
        }
        Ok(())
    }

    fn apply_registry(
        &self,
        r: &mut RegValue,
        not_settable: &dyn Fn(&str) -> RuleError,
    ) -> Result<(), RuleError> {
        match self.field {
            Field::Key => r.key = self.text()?.into(),
            Field::ValueName => r.name = self.text()?,
            Field::ValueType => r.value_type = self.text()?,
            Field::ValueData => r.data = self.open_text()?,
            Field::Computer => r.computer = self.text()?,
            _ => return Err(not_settable("it is not a registry field")),
        }
        Ok(())
    }

    fn apply_acl(
        &self,
        a: &mut AclEntry,
        not_settable: &dyn Fn(&str) -> RuleError,
    ) -> Result<(), RuleError> {
        match self.field {
            Field::Path => a.path = self.text()?.into(),
            Field::Identity => a.identity = self.text()?,
            Field::Rights => a.rights = self.text()?,
            Field::Access => a.access = self.text()?,
            Field::Inherited => {
                a.inherited = match self.text()?.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(self.mismatch("\"true\" or \"false\"")),
                }
            }
            Field::Entry => a.entry = self.number(u64::from(u32::MAX))?,
            Field::ObjectAccess => a.object_access = self.text()?.into(),
            Field::Computer => a.computer = self.text()?,
            _ => return Err(not_settable("it is not an ACL field")),
        }
        Ok(())
    }

    fn apply_win(
        &self,
        w: &mut WinEvent,
        not_settable: &dyn Fn(&str) -> RuleError,
    ) -> Result<(), RuleError> {
        match self.field {
            Field::EventId => w.event_id = self.number::<u16>(0xFFFF)?.into(),
            Field::Qualifiers => w.qualifiers = Some(self.number(u64::from(u32::MAX))?),
            Field::Level => w.level = Some(self.number(u64::from(u8::MAX))?),
            Field::ProcessId => w.process_id = Some(self.number(u64::from(u32::MAX))?),
            Field::Provider => w.provider = self.text()?.into(),
            Field::Channel => w.channel = self.text()?.into(),
            Field::Computer => w.computer = self.text()?.into(),
            Field::ActivityId => w.activity_id = Some(self.text()?),
            Field::Data(name) => w.data.push(name.clone(), self.open_text()?),
            _ => return Err(not_settable("it is not an EVTX field")),
        }
        Ok(())
    }

    fn apply_procmon(
        &self,
        p: &mut ProcmonRow,
        not_settable: &dyn Fn(&str) -> RuleError,
    ) -> Result<(), RuleError> {
        match self.field {
            Field::Process => p.process = self.text()?.into(),
            Field::Pid => p.pid = Some(self.number(u64::from(u32::MAX))?),
            Field::Operation => p.operation = self.text()?.into(),
            Field::Path => p.text.set_path(&self.text()?),
            Field::Result => p.result = self.text()?.into(),
            Field::Detail => {
                p.text.set_detail(&self.text()?);
            }
            Field::TimeOfDay => p.time_of_day = Some(self.civil("time of day")?),
            Field::Date => p.date = Some(self.civil("date")?),
            Field::Column(name) => p.columns.push(name.clone(), self.open_text()?),
            Field::Computer => p.computer = Some(Arc::from(self.text()?)),
            Field::DetailKey(_) => return Err(not_settable("set detail: \"Key: value, ...\"")),
            Field::LocalHost | Field::LocalPort | Field::RemoteHost | Field::RemotePort => {
                return Err(not_settable(
                    "it is read from path: \"host:port -> host:port\"",
                ));
            }
            _ => return Err(not_settable("it is not a Procmon field")),
        }
        Ok(())
    }
}
