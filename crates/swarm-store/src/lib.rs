//! Where annex-swarm keeps bytes.
//!
//! A [`Store`] is a flat namespace of immutable objects addressed by relative paths built by
//! [`layout`]. Every store kind implements the same small trait, so the engine never knows which
//! kind it talks to. Writes are atomic: an object is either absent or complete.

pub mod error;
pub mod layout;
pub mod local;

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
}

/// Builds the store a definition entry names.
pub fn open_store(entry: &StoreEntry, swarm: SwarmId) -> Result<Arc<dyn Store>, StoreError> {
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
    }
}
