//! What the format targets share: a one-thread pool and an `Emit` that drops events.

use std::sync::{Arc, OnceLock};

use rdtriage::ingest::{Emit, Limits};
use rdtriage::model::{Event, FileAccount, FileFormat};

pub fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool")
    })
}

/// Run `read` with an `Emit` whose events are counted and dropped; check the account adds up.
#[allow(dead_code)]
pub fn with_emit(format: FileFormat, read: impl FnOnce(&mut Emit<'_>, &mut FileAccount)) {
    with_emit_checked(format, Limits::default().csv_fields, read, |_| {});
}

/// [`with_emit`] with a bound on CSV fields, and `check` run on every event handed on.
pub fn with_emit_checked(
    format: FileFormat,
    csv_fields: usize,
    read: impl FnOnce(&mut Emit<'_>, &mut FileAccount),
    mut check: impl FnMut(&Event),
) {
    let file: Arc<str> = Arc::from("fuzz");
    let keep = |_: &mut Event| true;
    let mut kept = 0u64;
    let mut send = |events: Vec<Event>| {
        kept += events.len() as u64;
        events.iter().for_each(&mut check);
    };
    let mut account = FileAccount::new("fuzz", format);
    let limits = Limits {
        xml_elements: 256,
        evtx_record_bytes: 64 << 10,
        csv_fields,
        ..Limits::default()
    };
    {
        let mut emit = Emit {
            file: &file,
            keep: &keep,
            keep_reads_record: false,
            send: &mut send,
            pool: pool(),
            limits: &limits,
            columns: &rdtriage::ingest::ProcmonColumns::All,
        };
        read(&mut emit, &mut account);
    }
    // Nothing read is lost: every event counted was handed on.
    assert_eq!(kept, account.events, "events counted but not handed on");
}
