//! Per-store limits from the swarm definition: `connections` (requests in flight at once,
//! [`DEFAULT_CONNECTIONS`] when unset), `download_rate` and `upload_rate`. Every operation of
//! the process goes through them, so concurrent operations share them.
//!
//! A rate is a link: transfers take their turn on it, each finishing `len / rate` after the
//! previous one (or after it started, if the link was idle). A transfer is never delivered
//! before its turn ends, nor before the store itself answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use swarm_core::definition::StoreEntry;
use swarm_core::ids::StoreId;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

use crate::admission::{self, Admission};
use crate::error::{StoreError, Unavailable};
use crate::object::{Class, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, Health, RequestCounts, Store, StoreAdmin, StoreRead};

/// Requests in flight to one store when its definition entry does not say.
pub const DEFAULT_CONNECTIONS: usize = 4;

/// A link of a given speed: hands out turns to transfers. Also what a node paces the bytes it
/// sends and receives with.
#[derive(Debug)]
pub struct Link {
    bytes_per_sec: f64,
    free_at: Mutex<Option<Instant>>,
}

impl Link {
    pub fn new(bytes_per_sec: u64) -> Self {
        Link {
            bytes_per_sec: bytes_per_sec.max(1) as f64,
            free_at: Mutex::new(None),
        }
    }

    /// Waits for the turn of `len` bytes that are ready now: returns when their turn begins
    /// (they may go at once; the next bytes' turn begins when this one ends).
    pub async fn pass(&self, len: u64) {
        let took = Duration::from_secs_f64(len as f64 / self.bytes_per_sec);
        let end = self.reserve(Instant::now(), len);
        tokio::time::sleep_until(end.checked_sub(took).unwrap_or(end)).await;
    }

    /// Reserves the link for `len` bytes of a transfer that began at `began`; returns when the
    /// transfer's turn ends.
    fn reserve(&self, began: Instant, len: u64) -> Instant {
        let took = Duration::from_secs_f64(len as f64 / self.bytes_per_sec);
        let mut free = self.free_at.lock().unwrap_or_else(|e| e.into_inner());
        let start = match *free {
            Some(t) if t > began => t,
            _ => began,
        };
        let end = start + took;
        *free = Some(end);
        end
    }
}

/// A store behind its definition's limits.
#[derive(Debug)]
pub struct Limits {
    inner: Arc<dyn Store>,
    down: Option<Link>,
    up: Option<Link>,
    connections: Semaphore,
}

impl Limits {
    pub fn wrap(inner: Arc<dyn Store>, entry: &StoreEntry) -> Arc<dyn Store> {
        Arc::new(Limits {
            inner,
            down: entry.download_rate.map(|r| Link::new(r.bytes_per_sec())),
            up: entry.upload_rate.map(|r| Link::new(r.bytes_per_sec())),
            connections: Semaphore::new(
                entry
                    .connections
                    .map_or(DEFAULT_CONNECTIONS, |c| c as usize)
                    .max(1),
            ),
        })
    }

    /// A connection; a request that has to wait for one says so to its watcher.
    async fn permit(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(p) = self.connections.try_acquire() {
            return Some(p);
        }
        admission::report(Admission::Queued);
        // The semaphore is never closed.
        let p = self.connections.acquire().await.ok();
        admission::report(Admission::Admitted);
        p
    }

    /// Hands over bytes read since `began` once their turn on the download link ends.
    async fn deliver(&self, began: Instant, bytes: Bytes) -> Bytes {
        if let Some(link) = &self.down {
            tokio::time::sleep_until(link.reserve(began, bytes.len() as u64)).await;
        }
        bytes
    }
}

impl StoreRead for Limits {
    fn id(&self) -> &StoreId {
        self.inner.id()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            let _permit = self.permit().await;
            let began = Instant::now();
            let bytes = self.inner.read(object, max).await?;
            Ok(self.deliver(began, bytes).await)
        })
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(async move {
            let _permit = self.permit().await;
            let began = Instant::now();
            let bytes = self.inner.read_range(object, offset, len).await?;
            Ok(self.deliver(began, bytes).await)
        })
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        Box::pin(async move {
            let _permit = self.permit().await;
            self.inner.stat(object).await
        })
    }

    fn health(&self) -> Health {
        self.inner.health()
    }

    fn mark_down(&self, why: Unavailable) {
        self.inner.mark_down(why)
    }

    fn requests(&self) -> Option<RequestCounts> {
        self.inner.requests()
    }

    fn retries_requests(&self) -> bool {
        self.inner.retries_requests()
    }
}

impl StoreAdmin for Limits {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _permit = self.permit().await;
            let turn = self
                .up
                .as_ref()
                .map(|link| link.reserve(Instant::now(), data.len() as u64));
            self.inner.write(object, data).await?;
            if let Some(end) = turn {
                tokio::time::sleep_until(end).await;
            }
            Ok(())
        })
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _permit = self.permit().await;
            self.inner.touch(object).await
        })
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let _permit = self.permit().await;
            self.inner.delete(object).await
        })
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        Box::pin(async move {
            let _permit = self.permit().await;
            self.inner.list(class).await
        })
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.inner.create()
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.inner.check()
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        self.inner.free_space()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_link_spaces_transfers_by_their_size() {
        let link = Link::new(1 << 20); // 1 MiB/s
        let t0 = Instant::now();
        // Two transfers asked for at once share the link: the second ends a second later.
        assert_eq!(link.reserve(t0, 1 << 20), t0 + Duration::from_secs(1));
        assert_eq!(
            link.reserve(t0, 512 << 10),
            t0 + Duration::from_millis(1500)
        );
        // After an idle spell the link starts afresh.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(link.reserve(t1, 256 << 10), t1 + Duration::from_millis(250));
    }
}
