//! Per-store limits from the swarm definition: `download_rate`, `upload_rate` and `connections`,
//! enforced by wrapping the store, so every operation (get, put, fsck, repair) obeys them and
//! concurrent operations in one process share them.
//!
//! A rate is a link: transfers take their turn on it, each finishing `len / rate` after the
//! previous one (or after it started, if the link was idle). A transfer is never delivered
//! before its turn ends, nor before the store itself answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use swarm_core::definition::StoreEntry;
use swarm_core::ids::StoreId;
use swarm_store::{BoxFut, Listed, ObjectMeta, RequestCounts, Store, StoreError};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// A link of a given speed: hands out turns to transfers.
#[derive(Debug)]
pub(crate) struct Link {
    bytes_per_sec: f64,
    free_at: Mutex<Option<Instant>>,
}

impl Link {
    pub(crate) fn new(bytes_per_sec: u64) -> Self {
        Link {
            bytes_per_sec: bytes_per_sec.max(1) as f64,
            free_at: Mutex::new(None),
        }
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
pub(crate) struct Limited {
    inner: Arc<dyn Store>,
    down: Option<Link>,
    up: Option<Link>,
    connections: Option<Semaphore>,
}

impl Limited {
    /// Wraps `inner` if `entry` sets any limit.
    pub(crate) fn wrap(inner: Arc<dyn Store>, entry: &StoreEntry) -> Arc<dyn Store> {
        if entry.download_rate.is_none()
            && entry.upload_rate.is_none()
            && entry.connections.is_none()
        {
            return inner;
        }
        Arc::new(Limited {
            inner,
            down: entry.download_rate.map(|r| Link::new(r.bytes_per_sec())),
            up: entry.upload_rate.map(|r| Link::new(r.bytes_per_sec())),
            connections: entry.connections.map(|c| Semaphore::new(c as usize)),
        })
    }

    /// Hands over bytes read since `began` once their turn on the download link ends.
    async fn deliver(&self, began: Instant, bytes: Bytes) -> Result<Bytes, StoreError> {
        if let Some(link) = &self.down {
            tokio::time::sleep_until(link.reserve(began, bytes.len() as u64)).await;
        }
        Ok(bytes)
    }

    async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        match &self.connections {
            // The semaphore is never closed.
            Some(s) => s.acquire().await.ok(),
            None => None,
        }
    }
}

impl Store for Limited {
    fn id(&self) -> &StoreId {
        self.inner.id()
    }

    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.inner.create()
    }

    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.inner.check()
    }

    fn read(&self, path: &str) -> BoxFut<'_, Result<Bytes, StoreError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let _permit = self.permit().await;
            let began = Instant::now();
            let bytes = self.inner.read(&path).await?;
            self.deliver(began, bytes).await
        })
    }

    fn write(&self, path: &str, data: Bytes) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let _permit = self.permit().await;
            let turn = self
                .up
                .as_ref()
                .map(|link| link.reserve(Instant::now(), data.len() as u64));
            self.inner.write(&path, data).await?;
            if let Some(end) = turn {
                tokio::time::sleep_until(end).await;
            }
            Ok(())
        })
    }

    fn read_range(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> BoxFut<'_, Result<Bytes, StoreError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let _permit = self.permit().await;
            let began = Instant::now();
            let bytes = self.inner.read_range(&path, offset, len).await?;
            self.deliver(began, bytes).await
        })
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        self.inner.free_space()
    }

    fn requests(&self) -> RequestCounts {
        self.inner.requests()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn stat(&self, path: &str) -> BoxFut<'_, Result<Option<ObjectMeta>, StoreError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let _permit = self.permit().await;
            self.inner.stat(&path).await
        })
    }

    fn touch(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let _permit = self.permit().await;
            self.inner.touch(&path).await
        })
    }

    fn delete(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let _permit = self.permit().await;
            self.inner.delete(&path).await
        })
    }

    fn list(&self, dir: &str) -> BoxFut<'_, Result<Vec<Listed>, StoreError>> {
        let dir = dir.to_owned();
        Box::pin(async move {
            let _permit = self.permit().await;
            self.inner.list(&dir).await
        })
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
