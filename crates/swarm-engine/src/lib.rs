//! annex-swarm's operations over a swarm of stores: put, get, fsck, repair, ls, rm, gc, status.
//!
//! The engine never prints: it reports through [`progress::Observer`] and returns typed reports
//! that the front ends (CLI, special remote) render. CPU work (hashing, coding) runs on tokio's
//! blocking pool; at most a fixed number of chunks is in flight, whatever the file size.

pub mod error;
pub mod fetch;
pub mod fsck;
pub mod get;
mod hashing;
mod limits;
pub mod logging;
pub mod maintain;
pub mod memory;
pub mod progress;
pub mod put;
mod quota;
pub mod swarm;

pub use error::EngineError;
pub use swarm::Swarm;

/// Runs CPU-bound work on the blocking pool so the reactor stays free.
pub(crate) async fn cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
