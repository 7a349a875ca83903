//! Where work that would block the reactor runs.
//!
//! - [`cpu`]: hashing, erasure coding, chunk checks. One pool for the whole process, bounded
//!   by the machine's cores, so concurrent operations (the special remote's jobs, a node's
//!   repairs beside its gets) share the CPU instead of each flooding it. Jobs are short (one
//!   chunk or shard), so a long operation never holds a core for long.
//! - [`file`]: blocking file system calls (stat, open, rename, remove) on tokio's blocking
//!   pool, never on the reactor. Long-lived reader and writer threads of a put or get use
//!   `spawn_blocking` directly: they are I/O, and would starve short jobs if they held a core.
//!
//! The bound is taken on the blocking thread, not by the caller's future: an async permit
//! granted to a future that is not being polled (a request the scheduler is not looking at)
//! would sit unused while the future that could free everything waits for a core.

use std::sync::{Condvar, LazyLock, Mutex};

/// Cores for CPU jobs: one per core, at least two.
struct Gate {
    free: Mutex<usize>,
    freed: Condvar,
}

static CPU: LazyLock<Gate> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Gate {
        free: Mutex::new(cores.max(2)),
        freed: Condvar::new(),
    }
});

/// A core, held until dropped.
struct Core;

impl Core {
    /// Waits (on a blocking thread) for a free core.
    fn take() -> Core {
        let mut free = CPU.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = CPU.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Core
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let mut free = CPU.free.lock().unwrap_or_else(|e| e.into_inner());
        *free += 1;
        CPU.freed.notify_one();
    }
}

/// Runs CPU-bound work on the bounded pool.
pub(crate) async fn cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    blocking(move || {
        let _core = Core::take();
        f()
    })
    .await
}

/// Runs a blocking file system call off the reactor.
pub(crate) async fn file<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    blocking(f).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: a blocking task is cancelled only when the runtime shuts down (a command
        // ending on an error while other work of it is queued), which drops this future too.
        Err(_) => std::future::pending().await,
    }
}
