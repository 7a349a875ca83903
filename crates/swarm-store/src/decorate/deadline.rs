//! A deadline on every request, for every kind (a hung NFS or USB mount blocks a local read for
//! ever; a service may accept a connection and never answer). The deadline follows the store's
//! pace: this decorator measures each store's latency (small requests) and throughput (big
//! ones) and allows `FLOOR + FACTOR x` what a request should take. A request past its deadline
//! makes the store unavailable (silent), so the circuit breaker above opens and the store is
//! only used again once its marker check passes.
//!
//! The scheduler judges gets more finely (against the other stores); this is the backstop that
//! makes every operation end.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use swarm_core::ids::StoreId;
use tokio::time::Instant;

use crate::error::{StoreError, Unavailable};
use crate::object::{Class, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, Health, RequestCounts, Store, StoreAdmin, StoreRead};

/// How many times its expected time a request may take beyond the floor.
const FACTOR: f64 = 8.0;
/// A listing walks the whole store: its own, generous, limit.
const LIST_LIMIT: Duration = Duration::from_secs(600);
/// Before a store has been measured.
const DEFAULT_LATENCY: Duration = Duration::from_millis(100);

/// How long a kind of store may take before it has been measured.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Every request may take this long, whatever the store's pace.
    pub floor: Duration,
    /// Throughput assumed until measured (bytes per second).
    pub default_rate: f64,
}

impl Pacing {
    /// Local disks (and memory) answer in milliseconds and move tens of MB/s even over USB 2:
    /// five seconds of silence means a hung mount. Services are left to their own clients'
    /// stall detection (OpenDAL's I/O timeouts) first: the deadline is a late backstop, lenient
    /// enough for a 4 MiB shard over a slow home uplink.
    pub fn for_kind(kind: &str) -> Self {
        match kind {
            "local" | "memory" => Pacing {
                floor: Duration::from_secs(5),
                default_rate: (16 << 20) as f64,
            },
            _ => Pacing {
                floor: Duration::from_secs(60),
                default_rate: (64 << 10) as f64,
            },
        }
    }
}
/// Requests moving at least this much measure throughput; smaller ones, latency.
const BIG: u64 = 256 << 10;

#[derive(Debug)]
pub struct Deadline {
    inner: Arc<dyn Store>,
    pacing: Pacing,
    pace: Mutex<Pace>,
}

/// A store's pace, as moving averages.
#[derive(Debug, Clone, Copy)]
struct Pace {
    latency: Option<f64>,
    rate: Option<f64>,
}

impl Pace {
    fn expected(&self, bytes: u64, default_rate: f64) -> Duration {
        let latency = self.latency.unwrap_or(DEFAULT_LATENCY.as_secs_f64());
        let rate = self.rate.unwrap_or(default_rate).max(1.0);
        Duration::from_secs_f64(latency + bytes as f64 / rate)
    }

    fn learn(&mut self, bytes: u64, took: Duration) {
        let secs = took.as_secs_f64().max(1e-6);
        let avg = |old: Option<f64>, new: f64| Some(old.map_or(new, |o| 0.8 * o + 0.2 * new));
        if bytes >= BIG {
            self.rate = avg(self.rate, bytes as f64 / secs);
        } else {
            self.latency = avg(self.latency, secs);
        }
    }
}

impl Deadline {
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        let pacing = Pacing::for_kind(inner.kind());
        Self::with_pacing(inner, pacing)
    }

    pub fn with_pacing(inner: Arc<dyn Store>, pacing: Pacing) -> Arc<dyn Store> {
        Arc::new(Deadline {
            inner,
            pacing,
            pace: Mutex::new(Pace {
                latency: None,
                rate: None,
            }),
        })
    }

    fn limit(&self, bytes: u64) -> Duration {
        let pace = *self.pace.lock().unwrap_or_else(|e| e.into_inner());
        self.pacing.floor
            + pace
                .expected(bytes, self.pacing.default_rate)
                .mul_f64(FACTOR)
    }

    /// Runs `request` (moving about `bytes`) within its deadline, learning the store's pace.
    async fn within<T>(
        &self,
        op: &'static str,
        bytes: u64,
        limit: Option<Duration>,
        request: BoxFut<'_, Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let limit = limit.unwrap_or_else(|| self.limit(bytes));
        let started = Instant::now();
        match tokio::time::timeout(limit, request).await {
            Ok(result) => {
                if result.is_ok() {
                    self.pace
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .learn(bytes, started.elapsed());
                }
                result
            }
            Err(_) => Err(StoreError::Unavailable {
                store: self.inner.id().clone(),
                why: Unavailable::Silent(format!(
                    "no answer to a {op} in {:.1}s",
                    limit.as_secs_f64()
                )),
            }),
        }
    }
}

impl StoreRead for Deadline {
    fn id(&self) -> &StoreId {
        self.inner.id()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        // A shard's `max` is its length; a bound (a manifest's) is not worth a longer wait.
        Box::pin(self.within(
            "read",
            max.min(16 << 20),
            None,
            self.inner.read(object, max),
        ))
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(self.within(
            "read",
            len,
            None,
            self.inner.read_range(object, offset, len),
        ))
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        Box::pin(self.within("stat", 0, None, self.inner.stat(object)))
    }

    fn health(&self) -> Health {
        self.inner.health()
    }

    fn retries_requests(&self) -> bool {
        self.inner.retries_requests()
    }

    fn mark_down(&self, why: Unavailable) {
        self.inner.mark_down(why)
    }

    fn requests(&self) -> Option<RequestCounts> {
        self.inner.requests()
    }
}

impl StoreAdmin for Deadline {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        let len = data.len() as u64;
        Box::pin(self.within("write", len, None, self.inner.write(object, data)))
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.within("touch", 0, None, self.inner.touch(object)))
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.within("delete", 0, None, self.inner.delete(object)))
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        Box::pin(self.within("listing", 0, Some(LIST_LIMIT), self.inner.list(class)))
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(self.within("marker write", 0, None, self.inner.create()))
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(self.within("marker check", 0, None, self.inner.check()))
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        Box::pin(self.within("free space query", 0, None, self.inner.free_space()))
    }
}
