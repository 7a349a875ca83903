//! Where annex-swarm keeps bytes.
//!
//! A [`Store`] is a flat namespace of immutable objects addressed by relative paths built by
//! [`layout`]. Every store kind implements the same small trait, so the engine never knows which
//! kind it talks to. Writes are atomic: an object is either absent or complete.

pub mod credentials;
pub mod error;
pub mod layout;
pub mod local;
mod marker;
pub mod remote;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use swarm_core::definition::{StoreEntry, StoreLocation};
use swarm_core::ids::{StoreId, SwarmId};

pub use error::StoreError;

pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a store knows about one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub modified: SystemTime,
}

/// An object listed by [`Store::list`], with its path relative to the store's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub meta: ObjectMeta,
}

pub trait Store: Send + Sync + std::fmt::Debug {
    fn id(&self) -> &StoreId;
    /// Prepares a new store for this swarm (creates it, writes its marker). Refuses a store that
    /// belongs to another swarm or another store id.
    fn create(&self) -> BoxFut<'_, Result<(), StoreError>>;
    /// Checks that the store is reachable and is the one the definition names.
    fn check(&self) -> BoxFut<'_, Result<(), StoreError>>;
    fn read(&self, path: &str) -> BoxFut<'_, Result<Bytes, StoreError>>;
    /// Writes an object atomically, replacing any previous one.
    fn write(&self, path: &str, data: Bytes) -> BoxFut<'_, Result<(), StoreError>>;
    /// `None` when the object does not exist.
    fn stat(&self, path: &str) -> BoxFut<'_, Result<Option<ObjectMeta>, StoreError>>;
    /// Marks an existing object as recently used (so `gc` spares it).
    fn touch(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>>;
    /// Deletes an object; deleting an absent object succeeds.
    fn delete(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>>;
    /// Every object under a directory of the layout, recursively.
    fn list(&self, dir: &str) -> BoxFut<'_, Result<Vec<Listed>, StoreError>>;

    /// `len` bytes from `offset` (fewer at the end of the object). Remote kinds ask the service
    /// for the range; the default reads the whole object.
    fn read_range(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> BoxFut<'_, Result<Bytes, StoreError>> {
        let path = path.to_owned();
        Box::pin(async move {
            let all = self.read(&path).await?;
            let start = (offset.min(all.len() as u64)) as usize;
            let end = (offset.saturating_add(len).min(all.len() as u64)) as usize;
            Ok(all.slice(start..end))
        })
    }

    /// Free space where the store can tell (`None` when the service does not say).
    fn free_space(&self) -> BoxFut<'_, Result<Option<u64>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    /// Requests made so far by this process (remote kinds count them; others say zero).
    fn requests(&self) -> RequestCounts {
        RequestCounts::default()
    }

    /// The store kind, for messages: `local`, `s3`, `webdav`, `sftp`, `gdrive`, ...
    fn kind(&self) -> &'static str {
        "local"
    }
}

/// Requests a store answered in this process, by operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    pub reads: u64,
    /// Reads that delivered their bytes (the rest failed or were cancelled, e.g. a lost race).
    pub reads_done: u64,
    pub writes: u64,
    pub stats: u64,
    pub lists: u64,
    pub deletes: u64,
    /// Renames of staged writes.
    pub other: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.reads + self.writes + self.stats + self.lists + self.deletes + self.other
    }
}

/// Builds the store a definition entry names, with credentials from the environment and the
/// credentials file ([`credentials::default_source`]).
pub fn open_store(entry: &StoreEntry, swarm: SwarmId) -> Result<Arc<dyn Store>, StoreError> {
    open_store_with(entry, swarm, credentials::default_source())
}

/// Builds the store a definition entry names, asking `creds` for its credentials (the special
/// remote passes what git-annex's GETCREDS gave, chained before the default source).
///
/// A bad URL is an error. A remote store whose credentials are missing or unreadable is not: it
/// is returned as a store that is unavailable for that reason, so that one misconfigured store
/// does not stop a swarm that can do without it.
pub fn open_store_with(
    entry: &StoreEntry,
    swarm: SwarmId,
    creds: &dyn credentials::CredentialSource,
) -> Result<Arc<dyn Store>, StoreError> {
    let location = entry.location().map_err(|e| StoreError::Config {
        store: entry.id.to_string(),
        reason: e.to_string(),
    })?;
    match location {
        StoreLocation::Local(root) => Ok(Arc::new(local::LocalStore::new(
            entry.id.clone(),
            root,
            swarm,
        ))),
        remote => {
            let kind = remote.kind();
            match remote::build_operator(&entry.id, &remote, creds) {
                Ok(op) => Ok(Arc::new(remote::RemoteStore::new(
                    entry.id.clone(),
                    swarm,
                    kind,
                    op,
                ))),
                Err(StoreError::Config { store, reason }) => Ok(Arc::new(Unusable {
                    id: entry.id.clone(),
                    kind,
                    reason: format!("store {store}: {reason}"),
                })),
                Err(e) => Err(e),
            }
        }
    }
}

/// A store that cannot be used in this process (its credentials are missing): every operation
/// says why, as `Unavailable`.
#[derive(Debug)]
pub struct Unusable {
    id: StoreId,
    kind: &'static str,
    reason: String,
}

impl Unusable {
    fn fail<T: Send + 'static>(&self) -> BoxFut<'_, Result<T, StoreError>> {
        let e = StoreError::Unavailable {
            store: self.id.to_string(),
            reason: self
                .reason
                .strip_prefix(&format!("store {}: ", self.id))
                .unwrap_or(&self.reason)
                .to_owned(),
        };
        Box::pin(async move { Err(e) })
    }
}

impl Store for Unusable {
    fn id(&self) -> &StoreId {
        &self.id
    }
    fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.fail()
    }
    fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.fail()
    }
    fn read(&self, _: &str) -> BoxFut<'_, Result<Bytes, StoreError>> {
        self.fail()
    }
    fn write(&self, _: &str, _: Bytes) -> BoxFut<'_, Result<(), StoreError>> {
        self.fail()
    }
    fn stat(&self, _: &str) -> BoxFut<'_, Result<Option<ObjectMeta>, StoreError>> {
        self.fail()
    }
    fn touch(&self, _: &str) -> BoxFut<'_, Result<(), StoreError>> {
        self.fail()
    }
    fn delete(&self, _: &str) -> BoxFut<'_, Result<(), StoreError>> {
        self.fail()
    }
    fn list(&self, _: &str) -> BoxFut<'_, Result<Vec<Listed>, StoreError>> {
        self.fail()
    }
    fn kind(&self) -> &'static str {
        self.kind
    }
}
