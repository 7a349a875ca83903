//! Where annex-swarm keeps bytes.
//!
//! A store is a flat namespace of immutable objects named by what they are ([`Object`]: the
//! marker, a key's manifest, a shard, a staged write); only the store layer knows their paths
//! (`docs/spec/store-layout-v1.md`). Reading ([`StoreRead`]) and administration
//! ([`StoreAdmin`]) are separate traits, so a source that can only be read (a peer, a torrent)
//! implements the first alone. Kinds are registered ([`Kinds`]); limits, quota, retry and the
//! circuit breaker, request counts and fault injection are decorators ([`decorate`]) that wrap
//! any kind. Writes are atomic: an object is either absent or complete.

pub mod admission;
#[cfg(feature = "test-support")]
pub mod conformance;
pub mod credentials;
pub mod decorate;
pub mod error;
pub mod kinds;
mod layout;
pub mod marker;
pub mod object;
pub mod store;

use std::sync::Arc;

use swarm_core::definition::StoreEntry;
use swarm_core::ids::SwarmId;

pub use error::{StoreError, Unavailable};
pub use kinds::remote;
pub use kinds::{Kinds, StoreKind, Target};
pub use object::{Class, Listed, Listing, LockName, ManifestName, Object, ObjectMeta, StagingName};
pub use store::{BoxFut, Health, RequestCounts, Store, StoreAdmin, StoreRead};

/// Builds the store a definition entry names with the built-in kinds and every decorator,
/// taking credentials from `creds`.
pub fn open_store_with(
    entry: &StoreEntry,
    swarm: SwarmId,
    creds: &dyn credentials::CredentialSource,
) -> Result<Arc<dyn Store>, StoreError> {
    let bare = Kinds::builtin().open(entry, swarm, creds)?;
    Ok(decorate::standard(bare, entry))
}

/// [`open_store_with`] with credentials from the environment and the credentials file.
pub fn open_store(entry: &StoreEntry, swarm: SwarmId) -> Result<Arc<dyn Store>, StoreError> {
    open_store_with(entry, swarm, credentials::default_source())
}
