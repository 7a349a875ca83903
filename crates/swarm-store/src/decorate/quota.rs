//! Per-store `quota`: no write makes a store hold more of this swarm than its quota.
//!
//! Usage is learnt by listing the store's shards and manifests and adding their sizes, the
//! first time a write needs it; every write of this process is then added (reserved before the
//! write, given back if it fails), so the check costs nothing per write. The listing is taken
//! again after deletes (gc frees space) and when it is older than [`RELIST_AFTER`], so a
//! long-lived process follows what other processes write and free.
//!
//! Limits: two processes writing to one store at once each count only their own writes since
//! their listing, so together they can pass the quota by what they write in that time; a
//! rewrite of an existing object (a manifest copy) is counted again until the next listing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use swarm_core::ids::StoreId;
use swarm_core::units::ByteSize;
use tokio::time::Instant;

use crate::error::{StoreError, Unavailable};
use crate::object::{Class, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, Health, RequestCounts, Store, StoreAdmin, StoreRead};

/// How long a listing's total is trusted (plus this process's own writes).
pub const RELIST_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug)]
pub struct Quota {
    inner: Arc<dyn Store>,
    limit: u64,
    usage: tokio::sync::Mutex<Option<Usage>>,
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    bytes: u64,
    listed: Instant,
    /// Something was deleted since the listing: the total is too high.
    stale: bool,
}

impl Quota {
    /// Wraps `inner` when `limit` is set.
    pub fn wrap(inner: Arc<dyn Store>, limit: Option<ByteSize>) -> Arc<dyn Store> {
        match limit {
            None => inner,
            Some(l) => Arc::new(Quota {
                inner,
                limit: l.0,
                usage: tokio::sync::Mutex::new(None),
            }),
        }
    }

    async fn listed_usage(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for class in [Class::Shards, Class::Manifests] {
            let listing = self.inner.list(class).await?;
            total += listing.objects.iter().map(|l| l.meta.size).sum::<u64>();
        }
        Ok(total)
    }

    /// Reserves `len` bytes, or says the store is full.
    async fn reserve(&self, len: u64) -> Result<(), StoreError> {
        let mut usage = self.usage.lock().await;
        let fresh = usage.is_some_and(|u| !u.stale && u.listed.elapsed() < RELIST_AFTER);
        if !fresh {
            let bytes = self.listed_usage().await.map_err(|e| StoreError::Full {
                store: self.inner.id().clone(),
                detail: format!("quota {}, usage unknown: {e}", ByteSize(self.limit)),
            })?;
            *usage = Some(Usage {
                bytes,
                listed: Instant::now(),
                stale: false,
            });
        }
        let Some(u) = usage.as_mut() else {
            return Ok(());
        };
        if u.bytes.saturating_add(len) > self.limit {
            return Err(StoreError::Full {
                store: self.inner.id().clone(),
                detail: format!(
                    "quota {}, {} used, {} more needed",
                    ByteSize(self.limit),
                    ByteSize(u.bytes),
                    ByteSize(len)
                ),
            });
        }
        u.bytes += len;
        Ok(())
    }

    async fn give_back(&self, len: u64) {
        if let Some(u) = self.usage.lock().await.as_mut() {
            u.bytes = u.bytes.saturating_sub(len);
        }
    }
}

impl StoreRead for Quota {
    fn id(&self) -> &StoreId {
        self.inner.id()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        self.inner.read(object, max)
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        self.inner.read_range(object, offset, len)
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        self.inner.stat(object)
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

impl StoreAdmin for Quota {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let len = data.len() as u64;
            self.reserve(len).await?;
            let result = self.inner.write(object, data).await;
            if result.is_err() {
                self.give_back(len).await;
            }
            result
        })
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        self.inner.touch(object)
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let result = self.inner.delete(object).await;
            if let Some(u) = self.usage.lock().await.as_mut() {
                u.stale = true;
            }
            result
        })
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        self.inner.list(class)
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
