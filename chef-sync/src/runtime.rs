//! The tokio runtime chef-sync builds when its caller has none (the `*_blocking` functions,
//! the command line, the Python bindings): a worker thread per core and a small, bounded
//! blocking pool.
//!
//! What runs on the blocking pool is short and bounded elsewhere: hashing cookbooks (one per
//! core at a time), whole-file reads of upload bodies (4 at a time, see
//! [`chef_api::upload::SharedBodies`]), the 256 KiB reads of streamed large files, DNS lookups
//! (one per host per client at a time), Git checkouts and archive extraction, a push's artifact
//! PUTs signed ahead (8 per task, during the sandbox commit) and, once per engine run, the
//! signatures' random generator seeded ([`seed_signing_in_background`]). No blocking task waits for
//! another, so a bound cannot deadlock; it only queues. tokio's default bound (512) let a sync
//! grow to 61 threads on 2 cores, each costing a stack and futex traffic, with no speed to
//! show for it.

use tokio::runtime::{Builder, Runtime};

/// Blocking-pool threads per core.
pub const BLOCKING_THREADS_PER_CORE: usize = 2;

/// The fewest blocking-pool threads, whatever the cores: as many as the upload body reads
/// [`chef_api::upload::SharedBodies`] makes at once.
pub const MIN_BLOCKING_THREADS: usize = 4;

/// The cores this process may use (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The blocking-pool bound for `cores` cores.
pub fn blocking_threads(cores: usize) -> usize {
    (cores * BLOCKING_THREADS_PER_CORE).max(MIN_BLOCKING_THREADS)
}

/// A multi-threaded runtime builder with chef-sync's sizing: one worker per core, at most
/// [`blocking_threads`] blocking threads, I/O and timers on. Callers may add to it (a thread
/// name, say) before building.
pub fn builder() -> Builder {
    let cores = cores();
    let mut builder = Builder::new_multi_thread();
    builder
        .worker_threads(cores)
        .max_blocking_threads(blocking_threads(cores))
        .enable_all();
    builder
}

/// Starts seeding the random generator that request signatures draw from
/// ([`chef_api::sign::seed_random_generator`], ≈ 40 ms of CPU once per process) on the
/// blocking pool, without waiting for it: the engines (`sync`, `status`, `push`) call it first,
/// so that it overlaps with reading the configuration instead of delaying the first request.
/// Needs a tokio runtime.
pub fn seed_signing_in_background() {
    drop(tokio::task::spawn_blocking(
        chef_api::sign::seed_random_generator,
    ));
}

/// [`builder`], built.
///
/// # Errors
/// The operating system's error when the threads cannot be started.
pub fn build() -> std::io::Result<Runtime> {
    builder().build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn the_blocking_pool_is_bounded_by_the_cores() {
        assert_eq!(blocking_threads(1), MIN_BLOCKING_THREADS);
        assert_eq!(blocking_threads(2), 4.max(MIN_BLOCKING_THREADS));
        assert_eq!(blocking_threads(16), 32);
    }

    /// Many more blocking tasks than the bound: they all finish, never more than the bound at
    /// once, and the process does not grow a thread per task.
    #[test]
    fn blocking_tasks_queue_behind_the_bound() {
        let runtime = build().unwrap();
        let bound = blocking_threads(cores());
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let done = runtime.block_on(async {
            let tasks: Vec<_> = (0..(bound * 8))
                .map(|_| {
                    let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
                    tokio::task::spawn_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            let mut done = 0;
            for task in tasks {
                task.await.unwrap();
                done += 1;
            }
            done
        });
        assert_eq!(done, bound * 8);
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            peak <= bound,
            "{peak} blocking tasks at once, bound {bound}"
        );
        assert!(
            peak >= 2.min(bound),
            "the pool ran tasks in parallel: {peak}"
        );
    }
}
