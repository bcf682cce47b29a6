//! The paths a command was given, made into inputs: a path that does not exist is a usage
//! error (one line, exit 2, like rg), and `-` is one file or zip read from stdin, spooled to a
//! bounded temporary file and shown as `<stdin>`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use crate::analysis::Scan;
use crate::cli::InputConfig;
use crate::exit::Exit;
use crate::ingest::Sink;
use crate::ingest::discover::{Found, discover};
use crate::model::{Event, FileAccount};
use crate::sanitize::terminal;
use crate::units::ByteSize;

/// How stdin is named in every output.
pub const STDIN_NAME: &str = "<stdin>";

/// Maps the spool file's name back to `<stdin>` in what the analysis reports; keeps the spool
/// file until it is dropped.
#[derive(Default)]
pub struct Names {
    spool: Option<(tempfile::TempPath, String)>,
}

impl Names {
    fn rename(&self, name: &str) -> Option<String> {
        let (_, prefix) = self.spool.as_ref()?;
        name.strip_prefix(prefix.as_str())
            .map(|rest| format!("{STDIN_NAME}{rest}"))
    }

    fn fix(&self, name: &mut String) {
        if let Some(n) = self.rename(name) {
            *name = n;
        }
    }

    /// A sink that renames events and accounts on their way to `inner` (for `dump`, which
    /// streams).
    pub fn sink<'a>(&'a self, inner: &'a mut dyn Sink) -> RenamingSink<'a> {
        RenamingSink {
            names: self,
            inner,
            seen: None,
        }
    }

    pub fn scan(&self, scan: &mut Scan) {
        if self.spool.is_none() {
            return;
        }
        let r = &mut scan.diagnosis;
        for a in &mut r.inputs {
            self.fix(&mut a.file);
        }
        for d in &mut r.disconnects {
            self.fix(&mut d.file);
        }
        for f in r.causes.iter_mut().flat_map(|c| c.findings.iter_mut()) {
            self.fix(&mut f.file);
        }
        let mut seen: std::collections::HashMap<Arc<str>, Arc<str>> = Default::default();
        for e in &mut scan.events {
            if let Some(new) = seen.get(&e.file) {
                e.file = new.clone();
            } else if let Some(n) = self.rename(&e.file) {
                let new: Arc<str> = n.into();
                seen.insert(e.file.clone(), new.clone());
                e.file = new;
            }
        }
    }
}

/// Check and discover the paths; `Err` (the reason printed) for a path that does not exist,
/// a second `-`, or stdin that cannot be spooled.
pub fn gather(input: &InputConfig, err: &mut dyn Write) -> Result<(Vec<Found>, Names), Exit> {
    let mut names = Names::default();
    let mut paths: Vec<PathBuf> = Vec::with_capacity(input.paths.len());
    for path in &input.paths {
        if path.as_os_str() == "-" {
            if names.spool.is_some() {
                let _ = writeln!(err, "rdtriage: -: stdin can be read only once");
                return Err(Exit::Usage);
            }
            // What comes on stdin is not known until it is read: it may be as large as the
            // largest file any reader takes, and the refusal names that reader's flag.
            let cap = if input.limits.xml_bytes > input.limits.file_bytes {
                (input.limits.xml_bytes, "--max-xml-bytes")
            } else {
                (input.limits.file_bytes, "--max-file-bytes")
            };
            let spooled = spool(&mut std::io::stdin().lock(), cap).map_err(|why| {
                let _ = writeln!(err, "rdtriage: -: {why}");
                Exit::Usage
            })?;
            let shown = crate::ingest::discover::shown(&spooled);
            paths.push(spooled.to_path_buf());
            names.spool = Some((spooled, shown));
            continue;
        }
        if let Err(e) = std::fs::symlink_metadata(path) {
            let _ = writeln!(
                err,
                "rdtriage: {}: {e}",
                terminal(&crate::ingest::discover::shown(path))
            );
            return Err(Exit::Usage);
        }
        paths.push(path.clone());
    }
    Ok((discover(&paths, &input.limits), names))
}

/// Why stdin could not be spooled to a file.
#[derive(Debug, thiserror::Error)]
enum SpoolError {
    #[error("cannot create a temporary file for stdin: {0}")]
    Create(#[source] std::io::Error),
    #[error("cannot read stdin: {0}")]
    Read(#[source] std::io::Error),
    #[error("stdin holds more than {0} ({1}): save it to a file and name that")]
    TooBig(ByteSize, &'static str),
    #[error("stdin is empty: pipe a file or a zip into it")]
    Empty,
    #[error("cannot spool stdin: {0}")]
    Flush(#[source] std::io::Error),
}

/// Copy `from` into a temporary file, refusing more than `cap.0` bytes (`cap.1`, the flag
/// that sets that bound, is named in the refusal).
fn spool(
    from: &mut dyn Read,
    (cap, flag): (u64, &'static str),
) -> Result<tempfile::TempPath, SpoolError> {
    let mut file = tempfile::Builder::new()
        .prefix("rdtriage-stdin-")
        .tempfile()
        .map_err(SpoolError::Create)?;
    let copied = std::io::copy(&mut from.take(cap.saturating_add(1)), &mut file)
        .map_err(SpoolError::Read)?;
    if copied > cap {
        return Err(SpoolError::TooBig(ByteSize(cap), flag));
    }
    if copied == 0 {
        return Err(SpoolError::Empty);
    }
    file.flush().map_err(SpoolError::Flush)?;
    Ok(file.into_temp_path())
}

/// See [`Names::sink`].
pub struct RenamingSink<'a> {
    names: &'a Names,
    inner: &'a mut dyn Sink,
    /// The last file renamed: events come file by file.
    seen: Option<(Arc<str>, Arc<str>)>,
}

impl Sink for RenamingSink<'_> {
    fn events(&mut self, mut events: Vec<Event>) {
        if self.names.spool.is_some() {
            for e in &mut events {
                match &self.seen {
                    Some((old, new)) if *old == e.file => e.file = new.clone(),
                    _ => {
                        if let Some(n) = self.names.rename(&e.file) {
                            let new: Arc<str> = n.into();
                            self.seen = Some((e.file.clone(), new.clone()));
                            e.file = new;
                        }
                    }
                }
            }
        }
        self.inner.events(events);
    }

    fn file_done(&mut self, mut account: FileAccount) {
        self.names.fix(&mut account.file);
        self.inner.file_done(account);
    }
}
