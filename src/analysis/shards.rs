//! Tallies that every event read adds to, one share per reading thread. Ingest asks about
//! each event on the thread that read it; a tally those threads shared had one cache line
//! that both cores wrote at every event (at 2 threads, perf put a millisecond of CPU on each
//! of the two tallies of a 60,000-event log for it). Each thread now writes its own share,
//! on a line of its own; the shares are added up once reading is done.

/// One share per thread that may ask: the calling thread's (off any pool), then one per
/// thread of the run's pool.
#[derive(Debug)]
pub struct Shards<T> {
    shares: Vec<Padded<T>>,
}

/// A share alone on its cache lines (128 bytes: two lines, for the prefetcher's pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

impl<T: Default> Shards<T> {
    /// Shares for the calling thread and a pool of `threads`.
    pub fn new(threads: usize) -> Shards<T> {
        Shards {
            shares: (0..=threads.max(1)).map(|_| Padded::default()).collect(),
        }
    }
}

impl<T: Default> Default for Shards<T> {
    fn default() -> Self {
        Shards::new(1)
    }
}

impl<T> Shards<T> {
    /// This thread's share. A thread of another pool (a batch ticket's) may share one with
    /// another thread: the shares are safe to share, only slower.
    pub fn mine(&self) -> &T {
        let i = rayon::current_thread_index().map_or(0, |i| i + 1) % self.shares.len();
        &self.shares[i].0
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.shares.iter().map(|p| &p.0)
    }

    pub fn into_shares(self) -> impl Iterator<Item = T> {
        self.shares.into_iter().map(|p| p.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Every thread's additions are counted, on a pool of any size and off it, and the
    /// threads of a pool write shares of their own.
    #[test]
    fn every_share_is_counted() {
        use rayon::prelude::*;
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let shards: Shards<AtomicU64> = Shards::new(threads);
            shards.mine().fetch_add(1, Ordering::Relaxed);
            pool.install(|| {
                (0..10_000).into_par_iter().for_each(|_| {
                    shards.mine().fetch_add(1, Ordering::Relaxed);
                })
            });
            let total: u64 = shards.iter().map(|s| s.load(Ordering::Relaxed)).sum();
            assert_eq!(total, 10_001, "{threads} threads");
            assert_eq!(shards.iter().count(), threads + 1);
        }
        // Asked from a bigger pool than it was made for: still counted.
        let shards: Shards<AtomicU64> = Shards::new(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        pool.install(|| {
            (0..1000).into_par_iter().for_each(|_| {
                shards.mine().fetch_add(1, Ordering::Relaxed);
            })
        });
        let total: u64 = shards.into_shares().map(AtomicU64::into_inner).sum();
        assert_eq!(total, 1000);
    }
}
