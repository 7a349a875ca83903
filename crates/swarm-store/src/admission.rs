//! When a request really starts. A store's connection budget is shared by every operation of
//! the process, so a request may wait for a free connection before the store sees it. A caller
//! that times requests (the download scheduler) runs them inside [`watch`] and is told when one
//! queues and when it is admitted, so that time spent waiting behind another operation is not
//! taken for the store being slow.

use std::future::Future;
use std::sync::Arc;

/// What happened to a watched request at a connection budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It must wait: every connection is in use.
    Queued,
    /// It has a connection now (only reported after `Queued`).
    Admitted,
}

type Watcher = Arc<dyn Fn(Admission) + Send + Sync>;

tokio::task_local! {
    static WATCHER: Watcher;
}

/// Runs `request`, calling `on` when it queues at a store's connection budget and when it is
/// admitted. Requests that find a free connection report nothing.
pub fn watch<F: Future>(
    on: impl Fn(Admission) + Send + Sync + 'static,
    request: F,
) -> impl Future<Output = F::Output> {
    WATCHER.scope(Arc::new(on), request)
}

/// Reports to the watcher of the current request, if any.
pub(crate) fn report(what: Admission) {
    let _ = WATCHER.try_with(|on| on(what));
}
