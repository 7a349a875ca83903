//! Retry and circuit breaker, for every kind alike.
//!
//! **Retry.** A transient failure (a timeout, a 5xx answer, a dropped connection: the kind says
//! which, [`StoreError::is_transient`]) is tried again up to [`RETRIES`] times, with exponential
//! backoff from 200 ms to 3 s and jitter. Every operation is safe to repeat: objects are
//! immutable and named by their content or key.
//!
//! **Circuit breaker.** A store still failing after its retries, or refusing us (credentials),
//! or failing its marker check, is *down*: every request fails at once with the reason, so a put
//! spills and a get moves on without waiting for it again. The breaker closes only when
//! [`StoreAdmin::check`] succeeds (the engine's health monitor calls it on down stores from time
//! to time, and `check` always goes through), so a store that comes back is used again.
//!
//! A store that failed its marker check is back as soon as the check passes (a disk plugged in
//! again), and so is one whose requests found it absent (a node not running: no connection at
//! all). One that failed *requests* (they hung or kept failing) is held down a while first,
//! longer each time it trips again soon after: its marker may read fine while its shards hang,
//! and taking it back at every check would make every operation wait for it again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use swarm_core::ids::StoreId;

use crate::error::{StoreError, Unavailable};
use crate::object::{Class, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, Health, RequestCounts, Store, StoreAdmin, StoreRead};

/// Retries of a transiently failed request (so up to four attempts).
pub const RETRIES: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(3);

/// How long a store that failed requests is held down, the first time.
const FIRST_HOLD: Duration = Duration::from_secs(30);
const MAX_HOLD: Duration = Duration::from_secs(300);
/// Trips this soon after the breaker closed count as the same trouble (the hold doubles).
const FLAP_WINDOW: Duration = Duration::from_secs(120);

#[derive(Debug)]
pub struct Retry {
    inner: Arc<dyn Store>,
    retries: u32,
    breaker: Mutex<Breaker>,
}

#[derive(Debug, Default)]
struct Breaker {
    open: Option<Open>,
    /// Request trips in a row (each within [`FLAP_WINDOW`] of the breaker closing).
    trips: u32,
    closed_at: Option<Instant>,
}

#[derive(Debug)]
struct Open {
    why: Unavailable,
    since: Instant,
    /// Opened by a failed marker check (not by failed requests): no hold.
    by_check: bool,
}

impl Breaker {
    fn open(&mut self, why: Unavailable, by_check: bool) {
        match &mut self.open {
            Some(open) => open.why = why,
            None => {
                let now = Instant::now();
                if !by_check {
                    let flapping = self
                        .closed_at
                        .is_some_and(|t| now.saturating_duration_since(t) < FLAP_WINDOW);
                    self.trips = if flapping { self.trips + 1 } else { 1 };
                }
                self.open = Some(Open {
                    why,
                    since: now,
                    by_check,
                });
            }
        }
    }

    /// How long the breaker stays open after a trip by requests.
    fn hold(&self) -> Duration {
        let doublings = self.trips.saturating_sub(1).min(8);
        (FIRST_HOLD * 2u32.pow(doublings)).min(MAX_HOLD)
    }

    /// A marker check passed: closes the breaker, unless it is holding the store down. Returns
    /// why it stays open.
    fn check_passed(&mut self) -> Option<Unavailable> {
        let open = self.open.as_ref()?;
        let held = Instant::now().saturating_duration_since(open.since);
        if open.by_check || held >= self.hold() {
            self.open = None;
            self.closed_at = Some(Instant::now());
            return None;
        }
        Some(Unavailable::Silent(format!(
            "{} (held down for {}s after failing requests)",
            open.why,
            self.hold().as_secs()
        )))
    }
}

impl Retry {
    /// Retries operations [`RETRIES`] times, unless the kind retries each request itself.
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        let retries = if inner.retries_requests() { 0 } else { RETRIES };
        Self::with_retries(inner, retries)
    }

    /// With `retries` retries instead of [`RETRIES`] (0: fail at the first error).
    pub fn with_retries(inner: Arc<dyn Store>, retries: u32) -> Arc<dyn Store> {
        Arc::new(Retry {
            inner,
            retries,
            breaker: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn open(&self, why: Unavailable) {
        self.lock().open(why, false);
    }

    /// Fails fast while the breaker is open.
    fn gate(&self) -> Result<(), StoreError> {
        match &self.lock().open {
            Some(open) => Err(StoreError::Unavailable {
                store: self.inner.id().clone(),
                why: open.why.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Runs `op` through the breaker, retrying transient failures.
    async fn run<'a, T, F>(&'a self, what: &'static str, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> BoxFut<'a, Result<T, StoreError>>,
    {
        self.gate()?;
        let result = self.attempt(what, op).await;
        if let Err(StoreError::Unavailable { why, .. }) = &result {
            // A store that is not there at all fails its check as well: no hold.
            let absent = matches!(why, Unavailable::Absent(_));
            self.lock().open(why.clone(), absent);
        }
        result
    }

    /// Retries `op` on transient failures; what still fails transiently becomes unavailable.
    async fn attempt<'a, T, F>(&'a self, what: &'static str, op: F) -> Result<T, StoreError>
    where
        F: Fn() -> BoxFut<'a, Result<T, StoreError>>,
    {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            match op().await {
                Err(e) if e.is_transient() && attempt < self.retries => {
                    attempt += 1;
                    tracing::debug!(store = %self.inner.id(), "{what} failed ({e}); retry {attempt} of {}", self.retries);
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) if e.is_transient() => {
                    let retried = if self.inner.retries_requests() {
                        format!("each request retried up to {RETRIES} times")
                    } else {
                        format!("retried {} times", self.retries)
                    };
                    let why = Unavailable::Silent(format!(
                        "{} not answering ({what} failed, {retried}): {e}",
                        self.inner.kind()
                    ));
                    return Err(StoreError::Unavailable {
                        store: self.inner.id().clone(),
                        why,
                    });
                }
                other => return other,
            }
        }
    }
}

/// `d` scaled by a factor in [0.5, 1.5), from the clock's low bits (no RNG dependency).
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d.mul_f64(0.5 + f64::from(nanos % 1000) / 1000.0)
}

impl StoreRead for Retry {
    fn id(&self) -> &StoreId {
        self.inner.id()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(self.run("read", move || self.inner.read(object, max)))
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(self.run("read", move || self.inner.read_range(object, offset, len)))
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        Box::pin(self.run("stat", move || self.inner.stat(object)))
    }

    fn health(&self) -> Health {
        match &self.lock().open {
            Some(open) => Health::Down(open.why.clone()),
            None => self.inner.health(),
        }
    }

    fn retries_requests(&self) -> bool {
        self.inner.retries_requests()
    }

    fn mark_down(&self, why: Unavailable) {
        self.open(why);
    }

    fn requests(&self) -> Option<RequestCounts> {
        self.inner.requests()
    }
}

impl StoreAdmin for Retry {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.run("write", move || self.inner.write(object, data.clone())))
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.run("touch", move || self.inner.touch(object)))
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.run("delete", move || self.inner.delete(object)))
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        Box::pin(self.run("list", move || self.inner.list(class)))
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let result = self.attempt("marker write", || self.inner.create()).await;
            self.judge(result)
        })
    }

    /// Always asks the store, open breaker or not: this is how a store comes back.
    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let result = self.attempt("marker check", || self.inner.check()).await;
            self.judge(result)
        })
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        self.inner.free_space()
    }
}

impl Retry {
    /// A marker check or creation decides the breaker: closed when it worked (unless the store
    /// is held down after failing requests), open when it said the store cannot be used.
    fn judge(&self, result: Result<(), StoreError>) -> Result<(), StoreError> {
        let mut breaker = self.lock();
        match &result {
            Ok(()) => {
                if let Some(why) = breaker.check_passed() {
                    return Err(StoreError::Unavailable {
                        store: self.inner.id().clone(),
                        why,
                    });
                }
            }
            Err(StoreError::Unavailable { why, .. }) => breaker.open(why.clone(), true),
            Err(e) if e.is_transient() => breaker.open(Unavailable::Silent(e.to_string()), true),
            Err(_) => {}
        }
        result
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decorate::{Fault, Faults};
    use crate::kinds::memory::MemoryStore;
    use swarm_core::ids::{Hash32, SwarmId};

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_then_open_the_breaker_until_a_check() {
        let mem = Arc::new(MemoryStore::new("m".parse().unwrap(), SwarmId([1; 16])));
        mem.create().await.unwrap();
        let (faulty, faults) = Faults::wrap(mem);
        let store = Retry::wrap(faulty);
        let shard = Object::Shard(Hash32::of(b"a"));
        store.write(&shard, Bytes::from_static(b"a")).await.unwrap();

        // Two transient failures: retried, the read succeeds.
        faults.set(Fault::TransientFor(2));
        assert_eq!(&store.read(&shard, 10).await.unwrap()[..], b"a");
        assert!(store.health().is_up());

        // More than the retries: the store is down, and requests fail without reaching it.
        faults.set(Fault::TransientFor(100));
        let err = store.read(&shard, 10).await.unwrap_err();
        assert!(
            matches!(err.unavailable(), Some(Unavailable::Silent(_))),
            "{err}"
        );
        let before = faults.calls();
        assert!(store.stat(&shard).await.unwrap_err().is_unavailable());
        assert_eq!(faults.calls(), before, "asked a store that is down");
        assert!(!store.health().is_up());

        // It answers again, but having failed requests it is held down a while; then a check
        // closes the breaker.
        faults.set(Fault::None);
        let err = store.check().await.unwrap_err();
        assert!(err.to_string().contains("held down"), "{err}");
        assert!(!store.health().is_up());
        tokio::time::sleep(FIRST_HOLD).await;
        store.check().await.unwrap();
        assert!(store.health().is_up());
        assert!(store.read(&shard, 10).await.is_ok());

        // A store that only failed its marker check (a disk not plugged in) is back at once.
        faults.set(Fault::Down);
        assert!(store.check().await.is_err());
        faults.set(Fault::None);
        store.check().await.unwrap();
        assert!(store.health().is_up());
    }
}
