//! Decorators: each wraps any `Arc<dyn Store>` and adds one thing, so every kind (and every
//! kind added later) gets them all. [`standard`] stacks them as the engine uses them:
//!
//! ```text
//! Quota          refuses a write past the store's quota, before any I/O
//!  Limits        connections (shared by the whole process), download and upload rates
//!   Retry        transient failures retried; the circuit breaker (down stores fail fast)
//!    Deadline    every request ends, within a time that follows the store's pace
//!     Counted    requests and bytes, each attempt
//!      kind      local, s3, webdav, ... (Faults goes here in tests)
//! ```

mod counted;
mod deadline;
mod faults;
mod limits;
mod quota;
mod retry;

use std::sync::Arc;

use swarm_core::definition::StoreEntry;

use crate::store::Store;

pub use counted::Counted;
pub use deadline::{Deadline, Pacing};
pub use faults::{Fault, FaultHandle, Faults};
pub use limits::{DEFAULT_CONNECTIONS, Limits, Link};
pub use quota::{Quota, RELIST_AFTER};
pub use retry::{RETRIES, Retry};

/// A bare store of a definition entry, with every decorator the entry asks for.
pub fn standard(store: Arc<dyn Store>, entry: &StoreEntry) -> Arc<dyn Store> {
    let store = Counted::wrap(store);
    let store = Deadline::wrap(store);
    let store = Retry::wrap(store);
    let store = Limits::wrap(store, entry);
    Quota::wrap(store, entry.quota)
}
