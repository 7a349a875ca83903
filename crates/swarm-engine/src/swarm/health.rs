//! The health monitor: a task of each opened swarm that checks stores that are down (their
//! marker), first soon, then less and less often, so a store that comes back (a disk plugged
//! in again, a server restarted) is used again; and checks stores that are up now and then, so
//! one that went away is noticed before an operation trips over it. It ends with the swarm.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use futures::future::join_all;
use swarm_core::ids::StoreId;
use tokio::time::Instant;

use super::{Shared, check};

/// How often the monitor re-checks stores.
#[derive(Debug, Clone, Copy)]
pub struct HealthOptions {
    /// First re-check of a store that went down; doubled after each failed one.
    pub recheck_after: Duration,
    /// Longest wait between re-checks of a store that stays down.
    pub recheck_at_most: Duration,
    /// How often a store that is up is checked.
    pub check_up_every: Duration,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            recheck_after: Duration::from_secs(5),
            recheck_at_most: Duration::from_secs(300),
            check_up_every: Duration::from_secs(120),
        }
    }
}

/// When a store is next checked, and how long the wait after that is.
struct Due {
    at: Instant,
    wait: Duration,
}

pub(super) fn spawn(
    shared: Weak<Shared>,
    opts: HealthOptions,
) -> Option<tokio::task::JoinHandle<()>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    Some(runtime.spawn(monitor(shared, opts)))
}

async fn monitor(shared: Weak<Shared>, opts: HealthOptions) {
    let tick = opts.recheck_after.min(Duration::from_secs(1));
    let mut due: HashMap<StoreId, Due> = HashMap::new();
    loop {
        tokio::time::sleep(tick).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let members = match shared.members.read() {
            Ok(m) => std::sync::Arc::clone(&m),
            Err(_) => return,
        };
        drop(shared);
        let now = Instant::now();
        let mut to_check = Vec::new();
        for m in members.stores() {
            let down = !m.health().is_up();
            let d = due.entry(m.id().clone()).or_insert_with(|| Due {
                at: now
                    + if down {
                        opts.recheck_after
                    } else {
                        opts.check_up_every
                    },
                wait: opts.recheck_after,
            });
            if now >= d.at {
                to_check.push(m.clone());
            }
        }
        let results =
            join_all((0..to_check.len()).map(|i| check(to_check[i].store.as_ref()))).await;
        let now = Instant::now();
        for (m, result) in to_check.iter().zip(results) {
            let Some(d) = due.get_mut(m.id()) else {
                continue;
            };
            match result {
                Ok(()) => {
                    if d.wait != opts.recheck_after {
                        tracing::info!(store = %m.id(), "store is back");
                    }
                    d.wait = opts.recheck_after;
                    d.at = now + opts.check_up_every;
                }
                Err(e) => {
                    tracing::debug!(store = %m.id(), "still down: {e}");
                    d.at = now + d.wait;
                    d.wait = (d.wait * 2).min(opts.recheck_at_most);
                }
            }
        }
        // A store that went down since (an operation tripped its breaker) is re-checked soon.
        for m in members.stores() {
            if let Some(d) = due.get_mut(m.id())
                && !m.health().is_up()
                && d.wait == opts.recheck_after
                && d.at > now + opts.recheck_after
            {
                d.at = now + opts.recheck_after;
            }
        }
        due.retain(|id, _| members.stores().iter().any(|m| m.id() == id));
    }
}
