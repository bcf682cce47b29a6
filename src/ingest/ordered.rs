//! Work on a pool, results in order, the caller never waiting for a whole batch.
//!
//! A file's parts (an EVTX file's 64 KiB chunks) are read on the pool while the calling thread
//! hands the results on in order. Read in batches, a batch ends with its slowest part, and the
//! pool idles while the caller hands the batch on: with two threads that cost a third of the
//! speed-up. Here the caller keeps a queue of up to a window of parts taken and not yet handed
//! on, helpers on the pool take parts from it as they finish the last, and the caller hands
//! each result on as soon as those before it are in.
//!
//! The calling thread is one of the threads at work: with `threads` threads it starts
//! `threads - 1` helpers, and reads parts itself whenever no result is ready to hand on. So
//! two threads read a file on two cores, not two readers beside a third thread that wakes for
//! every result and takes a core from one of them (each wake a context switch, about 490 a
//! scan of the big System.evtx). Memory stays the window's parts and their results.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One item's result, or the panic its work raised.
type Outcome<O> = Result<O, Box<dyn Any + Send>>;

/// Run `work` on every item of `items`, on the calling thread and on `pool`, at most `window`
/// items taken and not yet handed on, and hand each result to `consume` on the calling thread,
/// in the items' order. The output is the same as `items.map(work).for_each(consume)`,
/// whatever the pool's size.
///
/// A panic in `work` comes back out of this call (after the helpers have ended), as it would
/// from the sequential form. The calling thread must not be one of `pool`'s workers (it
/// blocks while it waits for the helpers): callers already on the pool run the sequential
/// form.
pub fn map_in_order<T, O>(
    pool: &rayon::ThreadPool,
    window: usize,
    items: impl Iterator<Item = T>,
    work: &(dyn Fn(T) -> O + Sync),
    consume: &mut dyn FnMut(O),
) where
    T: Send,
    O: Send,
{
    let helpers = pool.current_num_threads().saturating_sub(1);
    if helpers == 0 {
        items.map(work).for_each(consume);
        return;
    }
    let window = window.max(1);
    let queue = Queue::default();
    let (tx, rx) = channel::<(usize, Outcome<O>)>();
    pool.in_place_scope(|scope| {
        // However this thread leaves (a panic included), the queue is left empty, so every
        // helper ends and the scope's wait for them ends too.
        let _emptied = EmptyOnDrop(&queue);
        let mut order = Reorder::default();
        let mut items = items.enumerate();
        let mut more = true;
        loop {
            // Hand on what has come in meanwhile, without waiting.
            while let Ok((i, result)) = rx.try_recv() {
                order.put(i, result, consume);
            }
            // Keep the queue full, up to the window, and a helper at each part of it.
            while more && order.started - order.next < window {
                match items.next() {
                    Some((i, item)) => {
                        queue.push(i, item);
                        order.started = i + 1;
                    }
                    None => more = false,
                }
            }
            while queue.wants_helper(helpers) {
                let (tx, queue) = (tx.clone(), &queue);
                scope.spawn(move |_| {
                    while let Some((i, item)) = queue.pop_or_leave() {
                        let result = catch_unwind(AssertUnwindSafe(|| work(item)));
                        // The receiver outlives the scope: the send cannot fail.
                        let _ = tx.send((i, result));
                    }
                });
            }
            // Read a part here rather than wait: the oldest queued, the one needed soonest.
            if let Some((i, item)) = queue.pop() {
                let result = catch_unwind(AssertUnwindSafe(|| work(item)));
                order.put(i, result, consume);
            } else if order.next < order.started {
                order.wait(&rx, consume);
            } else if !more {
                break;
            }
        }
    });
}

/// The parts taken and not yet read, shared by the calling thread and its helpers.
///
/// A helper never waits for a part: it leaves when the queue is empty, and the caller starts
/// another once there is work again. A job blocked on the pool would hold a thread that other
/// files' readers (or their helpers, not yet started) may need to finish: with several files
/// read at once, that can stop them all.
struct Queue<T> {
    state: Mutex<QueueState<T>>,
}

struct QueueState<T> {
    items: VecDeque<(usize, T)>,
    /// Helpers started and not yet gone.
    helpers: usize,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                helpers: 0,
            }),
        }
    }
}

impl<T> Queue<T> {
    fn lock(&self) -> MutexGuard<'_, QueueState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, i: usize, item: T) {
        self.lock().items.push_back((i, item));
    }

    /// The oldest item, if any.
    fn pop(&self) -> Option<(usize, T)> {
        self.lock().items.pop_front()
    }

    /// A helper's next item; `None` (and the helper is counted gone) when there is none.
    fn pop_or_leave(&self) -> Option<(usize, T)> {
        let mut state = self.lock();
        let item = state.items.pop_front();
        if item.is_none() {
            state.helpers -= 1;
        }
        item
    }

    /// Should another helper start (fewer than `most` are at work, and work is queued)? If
    /// so it is counted as started.
    fn wants_helper(&self, most: usize) -> bool {
        let mut state = self.lock();
        let wants = state.helpers < most && state.items.len() > state.helpers;
        if wants {
            state.helpers += 1;
        }
        wants
    }
}

/// Empties the queue when the calling thread leaves `map_in_order`: already empty on the
/// normal way out; on a panic, the parts not yet read are not read.
struct EmptyOnDrop<'q, T>(&'q Queue<T>);

impl<T> Drop for EmptyOnDrop<'_, T> {
    fn drop(&mut self) {
        let dropped = std::mem::take(&mut self.0.lock().items);
        drop(dropped);
    }
}

/// Results that came in out of order, held until the ones before them have been handed on.
struct Reorder<O> {
    /// The index of the next result to hand on, and of the first slot of `held`.
    next: usize,
    /// Items taken so far.
    started: usize,
    held: VecDeque<Option<O>>,
}

impl<O> Default for Reorder<O> {
    fn default() -> Self {
        Reorder {
            next: 0,
            started: 0,
            held: VecDeque::new(),
        }
    }
}

impl<O> Reorder<O> {
    /// Wait for one result and hand on what is then in order.
    fn wait(&mut self, rx: &Receiver<(usize, Outcome<O>)>, consume: &mut dyn FnMut(O)) {
        // Called only when nothing is queued and the next item to hand on has not come back:
        // a helper holds it or has sent it, and `map_in_order` holds a sender, so a result is
        // always coming: `recv` cannot fail here.
        if let Ok((i, result)) = rx.recv() {
            self.put(i, result, consume);
        }
    }

    fn put(&mut self, i: usize, result: Outcome<O>, consume: &mut dyn FnMut(O)) {
        let out = match result {
            Ok(out) => out,
            // The sequential form would have panicked here: so does this, once the scope has
            // seen its other jobs end.
            Err(panic) => resume_unwind(panic),
        };
        let slot = i - self.next;
        if self.held.len() <= slot {
            self.held.resize_with(slot + 1, || None);
        }
        self.held[slot] = Some(out);
        while let Some(Some(_)) = self.held.front() {
            if let Some(Some(out)) = self.held.pop_front() {
                self.next += 1;
                consume(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool")
    }

    /// Results come out in item order even when later items finish first, on any pool size.
    #[test]
    fn results_in_item_order_whatever_the_finish_order() {
        for threads in [1, 2, 4] {
            let pool = pool(threads);
            let mut got = Vec::new();
            // Early items are the slow ones, so later ones finish first.
            let work = |i: u64| {
                let mut x = i;
                for _ in 0..(200 - i) * 2000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                (i, x)
            };
            map_in_order(&pool, 8, 0..200u64, &work, &mut |(i, _)| got.push(i));
            assert_eq!(got, (0..200).collect::<Vec<_>>(), "{threads} threads");
        }
    }

    /// Never more than the window taken and not yet handed on: memory is bounded by the
    /// window, not the input.
    #[test]
    fn at_most_a_window_in_flight() {
        let pool = pool(3);
        let taken = AtomicUsize::new(0);
        let mut handed = 0usize;
        let mut widest = 0usize;
        let items = (0..500usize).inspect(|_| {
            taken.fetch_add(1, Ordering::SeqCst);
        });
        map_in_order(&pool, 5, items, &|i| i * 2, &mut |out| {
            assert_eq!(out, handed * 2);
            handed += 1;
            widest = widest.max(taken.load(Ordering::SeqCst) - handed);
        });
        assert_eq!(handed, 500);
        // The window's items in flight, plus the one taken and waiting for room.
        assert!(widest <= 5, "{widest} items in flight with a window of 5");
    }

    /// A panic in the work comes out of the call, as it would from a sequential loop, and
    /// the results before it were handed on.
    #[test]
    fn a_panic_in_the_work_comes_back_out() {
        let pool = pool(2);
        let mut handed = Vec::new();
        let caught = catch_unwind(AssertUnwindSafe(|| {
            map_in_order(
                &pool,
                4,
                0..100u32,
                &|i| {
                    assert!(i != 37, "item 37 is bad");
                    i
                },
                &mut |i| handed.push(i),
            );
        }));
        let panic = caught.expect_err("the panic comes back out");
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(what.contains("item 37 is bad"), "{what}");
        assert!(handed.len() <= 37);
        assert_eq!(handed, (0..handed.len() as u32).collect::<Vec<_>>());
    }

    /// Wait until `flag` is set; a minute without it means the code under test stopped for
    /// good (a guard against a hang, not a timing).
    fn wait_for(flag: &std::sync::atomic::AtomicBool, what: &str) {
        let start = std::time::Instant::now();
        while !flag.load(Ordering::SeqCst) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "{what}"
            );
            std::thread::yield_now();
        }
    }

    /// The calling thread reads parts too: with a pool of `n`, `n - 1` helpers and the caller
    /// do the work, never more than `n` parts at once. A part read on the pool here waits for
    /// one read on the caller, so the call ends only if the caller takes part.
    #[test]
    fn the_caller_works_beside_its_helpers() {
        use std::sync::atomic::AtomicBool;
        for threads in [2, 3] {
            let pool = pool(threads);
            let caller = std::thread::current().id();
            let caller_worked = AtomicBool::new(false);
            let (busy, widest) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let work = |i: usize| {
                let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                widest.fetch_max(now, Ordering::SeqCst);
                if std::thread::current().id() == caller {
                    caller_worked.store(true, Ordering::SeqCst);
                } else {
                    wait_for(&caller_worked, "the caller never read a part");
                }
                busy.fetch_sub(1, Ordering::SeqCst);
                i
            };
            let mut got = Vec::new();
            map_in_order(&pool, 4, 0..100usize, &work, &mut |i| got.push(i));
            assert_eq!(got, (0..100).collect::<Vec<_>>(), "{threads} threads");
            let widest = widest.load(Ordering::SeqCst);
            assert!(
                widest <= threads,
                "{widest} parts at once on {threads} threads"
            );
        }
    }

    /// A panic while handing on (in `consume`) comes out of the call too, and the helpers,
    /// waiting for parts that will not come, end: the call does not hang.
    #[test]
    fn a_panic_in_the_consumer_ends_the_helpers() {
        let pool = pool(3);
        let caught = catch_unwind(AssertUnwindSafe(|| {
            map_in_order(&pool, 4, 0..1000u32, &|i| i, &mut |i| {
                assert!(i != 10, "consumer refuses 10");
            });
        }));
        assert!(caught.is_err());
        // The pool is free again: its threads are not stuck in the call's queue.
        let sum: u32 = pool.install(|| {
            use rayon::prelude::*;
            (0..100u32).into_par_iter().sum()
        });
        assert_eq!(sum, 4950);
    }

    /// Several files read at once on one pool, each reader's results handed on only after
    /// the file before it is done (as the sink takes inputs in order): the readers of the later
    /// files stop in `consume`, and their helpers must not keep the pool's threads from the
    /// first file's helpers, or that file never ends and neither do the others.
    #[test]
    fn helpers_leave_the_pool_to_other_readers() {
        use std::sync::atomic::AtomicBool;
        let pool = pool(2);
        let first_done = AtomicBool::new(false);
        let on_pool = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let later: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let mut got = Vec::new();
                        let work = |i: usize| {
                            if rayon::current_thread_index().is_some() {
                                on_pool.fetch_add(1, Ordering::SeqCst);
                            }
                            i
                        };
                        map_in_order(&pool, 4, 0..40usize, &work, &mut |i| {
                            wait_for(&first_done, "the first file never ended");
                            got.push(i);
                        });
                        got
                    })
                })
                .collect();
            // The first file starts once the later ones' helpers are at work on the pool.
            while on_pool.load(Ordering::SeqCst) < 2 {
                std::thread::yield_now();
            }
            let mut first = Vec::new();
            map_in_order(&pool, 4, 0..40usize, &|i| i, &mut |i| first.push(i));
            first_done.store(true, Ordering::SeqCst);
            assert_eq!(first, (0..40).collect::<Vec<_>>());
            for reader in later {
                assert_eq!(reader.join().unwrap(), (0..40).collect::<Vec<_>>());
            }
        });
    }
}
