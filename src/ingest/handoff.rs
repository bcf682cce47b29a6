//! How the ingest workers hand each input's results to the sink, in input order: one small
//! bounded channel per input (a worker blocks once its input's channel is full, so a large
//! file never piles up in memory ahead of its turn).
//!
//! The channel of an input is made when a worker starts it, and a worker starts an input only
//! within a window past the one the sink is at: channels alive at once stay a few hundred,
//! whatever the number of inputs. (Made all up front, they cost about 1 KB per input: 100 MB
//! for the 100,000 entries of ten zips, most of such a run's memory.) No deadlock: inputs are
//! started in order, so the one the sink waits for is always started, and it is inside the
//! window.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Inputs a worker may start past the one the sink is at (plus one per worker): enough to keep
/// every worker busy behind a large file, few enough that memory does not grow with inputs.
pub const AHEAD: usize = 256;

/// Messages in flight per input before its worker waits for the sink.
const BOUND: usize = 4;

pub struct Handoff<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    ahead: usize,
}

struct State<T> {
    /// The input the sink is at.
    at: usize,
    /// Started inputs the sink has not taken yet.
    started: HashMap<usize, Receiver<T>>,
    /// Threads waiting for a change: nobody is woken (a system call) when none waits.
    waiting: usize,
}

impl<T> Handoff<T> {
    /// A handoff letting `workers` work at most [`AHEAD`] inputs past the sink (plus one each).
    pub fn new(workers: usize) -> Self {
        Handoff {
            state: Mutex::new(State {
                at: 0,
                started: HashMap::new(),
                waiting: 0,
            }),
            changed: Condvar::new(),
            ahead: AHEAD + workers,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, mut guard: MutexGuard<'a, State<T>>) -> MutexGuard<'a, State<T>> {
        guard.waiting += 1;
        let mut guard = self
            .changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner);
        guard.waiting -= 1;
        guard
    }

    /// Wake the waiting threads, if any, after a change made under `guard`.
    fn wake(&self, guard: MutexGuard<'_, State<T>>) {
        let wake = guard.waiting > 0;
        drop(guard);
        if wake {
            self.changed.notify_all();
        }
    }

    /// A worker starts input `i` (inputs are started in order): once `i` is within the
    /// window, the sender its results go to. Dropping it without a last message tells the sink
    /// the worker went away.
    pub fn start(&self, i: usize) -> SyncSender<T> {
        let (tx, rx) = sync_channel(BOUND);
        let mut state = self.lock();
        while i >= state.at + self.ahead {
            state = self.wait(state);
        }
        state.started.insert(i, rx);
        self.wake(state);
        tx
    }

    /// The sink takes input `i`'s receiver (waiting for a worker to start it).
    pub fn take(&self, i: usize) -> Receiver<T> {
        let mut state = self.lock();
        loop {
            if let Some(rx) = state.started.remove(&i) {
                return rx;
            }
            state = self.wait(state);
        }
    }

    /// The sink is done with input `i`: the window moves on.
    pub fn done(&self, i: usize) {
        let mut state = self.lock();
        state.at = i + 1;
        self.wake(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Many more inputs than the window, results in order, and never more than the window
    /// started ahead of the sink.
    #[test]
    fn hands_on_in_order_within_the_window() {
        let n = 5 * AHEAD;
        let handoff = Handoff::new(3);
        let next = AtomicUsize::new(0);
        let widest = AtomicUsize::new(0);
        let at = AtomicUsize::new(0);
        let mut got = Vec::new();
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= n {
                            break;
                        }
                        let tx = handoff.start(i);
                        widest.fetch_max(i - at.load(Ordering::SeqCst), Ordering::SeqCst);
                        for k in 0..6 {
                            tx.send((i, k)).unwrap();
                        }
                    }
                });
            }
            for i in 0..n {
                let rx = handoff.take(i);
                got.extend(rx.iter());
                at.store(i + 1, Ordering::SeqCst);
                handoff.done(i);
            }
        });
        let want: Vec<(usize, usize)> = (0..n).flat_map(|i| (0..6).map(move |k| (i, k))).collect();
        assert_eq!(got, want);
        assert!(widest.load(Ordering::SeqCst) < AHEAD + 3);
    }
}
