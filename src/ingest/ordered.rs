//! Work on a pool, results in order, the caller never waiting for a whole batch.
//!
//! A file's parts (an EVTX file's 64 KiB chunks) are read on the pool while the calling thread
//! hands the results on in order. Read in batches, a batch ends with its slowest part, and the
//! pool idles while the caller hands the batch on: with two threads that cost a third of the
//! speed-up. Here each part is its own job: the caller keeps up to a window of parts in flight,
//! takes each result as it comes, and hands on those now in order, so the pool stays busy while
//! the caller waits for its consumer. Memory stays the window's parts and their results.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{Receiver, channel};

/// One item's result, or the panic its work raised.
type Outcome<O> = Result<O, Box<dyn Any + Send>>;

/// Run `work` on every item of `items` on `pool`, at most `window` items taken and not yet
/// handed on, and hand each result to `consume` on the calling thread, in the items' order.
/// The output is the same as `items.map(work).for_each(consume)`, whatever the pool's size.
///
/// A panic in `work` comes back out of this call (after the jobs in flight have ended), as it
/// would from the sequential form. The calling thread must not be one of `pool`'s workers
/// (it blocks while it waits for results): callers already on the pool run the sequential form.
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
    let window = window.max(1);
    let (tx, rx) = channel::<(usize, Outcome<O>)>();
    pool.in_place_scope_fifo(|scope| {
        let mut order = Reorder::default();
        for (i, item) in items.enumerate() {
            while i - order.next >= window {
                order.wait(&rx, consume);
            }
            let tx = tx.clone();
            scope.spawn_fifo(move |_| {
                let result = catch_unwind(AssertUnwindSafe(|| work(item)));
                // The receiver lives past the scope: the send cannot fail.
                let _ = tx.send((i, result));
            });
            order.started = i + 1;
            // Hand on what has come in meanwhile, without waiting.
            while let Ok((i, result)) = rx.try_recv() {
                order.put(i, result, consume);
            }
        }
        while order.next < order.started {
            order.wait(&rx, consume);
        }
    });
}

/// Results that came in out of order, held until the ones before them have been handed on.
struct Reorder<O> {
    /// The index of the next result to hand on, and of the first slot of `held`.
    next: usize,
    /// Items handed to the pool so far.
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
        // Every job sends exactly once and `map_in_order` holds a sender, so a result is
        // always coming while some are outstanding: `recv` cannot fail here.
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
}
