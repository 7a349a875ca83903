//! Request counts: every request that reaches the store (each attempt of a retried one), by
//! operation, and the bytes moved. `--request-stats` shows them for remote stores, where each
//! request costs time and, on some services, money.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use swarm_core::ids::StoreId;

use crate::error::{StoreError, Unavailable};
use crate::object::{Class, Listing, Object, ObjectMeta};
use crate::store::{BoxFut, Health, RequestCounts, Store, StoreAdmin, StoreRead};

#[derive(Debug)]
pub struct Counted {
    inner: Arc<dyn Store>,
    c: Counters,
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    reads_done: AtomicU64,
    writes: AtomicU64,
    stats: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    touches: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counted {
    pub fn wrap(inner: Arc<dyn Store>) -> Arc<dyn Store> {
        Arc::new(Counted {
            inner,
            c: Counters::default(),
        })
    }

    async fn read_counted(
        &self,
        read: BoxFut<'_, Result<Bytes, StoreError>>,
    ) -> Result<Bytes, StoreError> {
        add(&self.c.reads, 1);
        let bytes = read.await?;
        add(&self.c.reads_done, 1);
        add(&self.c.bytes_read, bytes.len() as u64);
        Ok(bytes)
    }
}

impl StoreRead for Counted {
    fn id(&self) -> &StoreId {
        self.inner.id()
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(self.read_counted(self.inner.read(object, max)))
    }

    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>> {
        Box::pin(self.read_counted(self.inner.read_range(object, offset, len)))
    }

    fn stat<'a>(
        &'a self,
        object: &'a Object,
    ) -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>> {
        add(&self.c.stats, 1);
        self.inner.stat(object)
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
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.c;
        Some(RequestCounts {
            reads: g(&c.reads),
            reads_done: g(&c.reads_done),
            writes: g(&c.writes),
            stats: g(&c.stats),
            lists: g(&c.lists),
            deletes: g(&c.deletes),
            touches: g(&c.touches),
            bytes_read: g(&c.bytes_read),
            bytes_written: g(&c.bytes_written),
        })
    }
}

impl StoreAdmin for Counted {
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>> {
        add(&self.c.writes, 1);
        add(&self.c.bytes_written, data.len() as u64);
        self.inner.write(object, data)
    }

    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        add(&self.c.touches, 1);
        self.inner.touch(object)
    }

    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>> {
        add(&self.c.deletes, 1);
        self.inner.delete(object)
    }

    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>> {
        add(&self.c.lists, 1);
        self.inner.list(class)
    }

    /// One marker read.
    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        add(&self.c.reads, 1);
        self.inner.create()
    }

    /// One marker read.
    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        add(&self.c.reads, 1);
        Box::pin(async move {
            let r = self.inner.check().await;
            if r.is_ok() {
                add(&self.c.reads_done, 1);
            }
            r
        })
    }

    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        self.inner.free_space()
    }
}
