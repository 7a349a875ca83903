//! The two sides of a store. [`StoreRead`] is what any source of objects can do (a peer node,
//! a torrent, a read-only mirror): read, read a range, stat. [`StoreAdmin`] is what a store the
//! swarm owns adds: write, touch, delete, list, create and check its marker. A [`Store`] is both.
//!
//! Decorators in [`crate::decorate`] wrap any `Arc<dyn Store>` (limits, quota, retry and
//! circuit breaker, request counts, fault injection), so every kind gets them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use swarm_core::ids::StoreId;

use crate::error::{StoreError, Unavailable};
use crate::object::{Class, Listing, Object, ObjectMeta};

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether a store can be used, as this process knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Up,
    Down(Unavailable),
}

impl Health {
    pub fn is_up(&self) -> bool {
        matches!(self, Health::Up)
    }

    /// Why the store is down, if it is.
    pub fn down(&self) -> Option<&Unavailable> {
        match self {
            Health::Up => None,
            Health::Down(why) => Some(why),
        }
    }
}

/// Reading objects.
pub trait StoreRead: Send + Sync + fmt::Debug {
    fn id(&self) -> &StoreId;

    /// The kind, for messages: `local`, `s3`, `webdav`, `sftp`, `gdrive`, `memory`, ...
    fn kind(&self) -> &'static str;

    /// The whole object; an object longer than `max` bytes is refused (`TooLarge`) without
    /// being read past `max`.
    fn read<'a>(&'a self, object: &'a Object, max: u64) -> BoxFut<'a, Result<Bytes, StoreError>>;

    /// `len` bytes from `offset` (fewer at the end of the object).
    fn read_range<'a>(
        &'a self,
        object: &'a Object,
        offset: u64,
        len: u64,
    ) -> BoxFut<'a, Result<Bytes, StoreError>>;

    /// `None` when the object does not exist.
    fn stat<'a>(&'a self, object: &'a Object)
    -> BoxFut<'a, Result<Option<ObjectMeta>, StoreError>>;

    /// Health as this process sees it. Kinds are up; the circuit breaker knows better.
    fn health(&self) -> Health {
        Health::Up
    }

    /// Tells the circuit breaker that the store cannot be used (the engine saw it hang).
    fn mark_down(&self, _why: Unavailable) {}

    /// Requests this process made, where a decorator counts them.
    fn requests(&self) -> Option<RequestCounts> {
        None
    }

    /// The kind retries each request of an operation itself (an operation of a service is
    /// several HTTP requests, each retried by its client): the retry decorator then only
    /// classifies failures and keeps the circuit breaker, so attempts do not multiply.
    fn retries_requests(&self) -> bool {
        false
    }
}

/// Writing and keeping a store.
pub trait StoreAdmin: Send + Sync {
    /// Writes an object atomically (absent or complete for every reader), replacing any
    /// previous one.
    fn write<'a>(&'a self, object: &'a Object, data: Bytes) -> BoxFut<'a, Result<(), StoreError>>;

    /// Marks an existing object as recently used (so `gc` spares it).
    fn touch<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>>;

    /// Deletes an object; deleting an absent object succeeds.
    fn delete<'a>(&'a self, object: &'a Object) -> BoxFut<'a, Result<(), StoreError>>;

    /// Every object of a class, and the strays beside them.
    fn list(&self, class: Class) -> BoxFut<'_, Result<Listing, StoreError>>;

    /// Prepares a new store for this swarm (creates it, writes its marker). Refuses a store that
    /// belongs to another swarm or another store id.
    fn create(&self) -> BoxFut<'_, Result<(), StoreError>>;

    /// Checks that the store is reachable and is the one the definition names (its marker).
    fn check(&self) -> BoxFut<'_, Result<(), StoreError>>;

    /// Free space where the store can tell (`None` when the service does not say).
    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async { Ok(None) })
    }
}

/// A store the swarm owns: read and administered.
pub trait Store: StoreRead + StoreAdmin {}

impl<T: StoreRead + StoreAdmin + ?Sized> Store for T {}

/// Requests a store answered in this process, by operation (counted by
/// [`crate::decorate::Counted`]: each attempt, retries included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    pub reads: u64,
    /// Reads that delivered their bytes (the rest failed or were cancelled, e.g. a lost race).
    pub reads_done: u64,
    pub writes: u64,
    pub stats: u64,
    pub lists: u64,
    pub deletes: u64,
    pub touches: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.reads + self.writes + self.stats + self.lists + self.deletes + self.touches
    }
}
