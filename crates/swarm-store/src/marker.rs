//! The marker object `annex-swarm-store.toml`: which swarm a store belongs to and under which id.
//! A store without it, or with another swarm's, is unavailable (never silently filled). Every
//! kind checks and writes it through [`check`] and [`create`].

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use swarm_core::ids::{StoreId, SwarmId};

use crate::error::{StoreError, Unavailable};
use crate::object::Object;
use crate::store::{StoreAdmin, StoreRead};

/// A marker is a few lines of TOML; anything longer is not one.
pub const MAX_MARKER: u64 = 64 << 10;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Marker {
    format: u32,
    swarm: String,
    store: String,
}

impl Marker {
    fn new(swarm: &SwarmId, store: &StoreId) -> Self {
        Marker {
            format: 1,
            swarm: swarm.to_string(),
            store: store.to_string(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        toml::to_string(self).unwrap_or_default().into_bytes()
    }

    /// Checks a marker read from the store at `place` against this one.
    fn check(&self, id: &StoreId, found: &[u8], place: &str) -> Result<(), StoreError> {
        let foreign = |reason: String| StoreError::Unavailable {
            store: id.clone(),
            why: Unavailable::Foreign(reason),
        };
        let text = std::str::from_utf8(found)
            .map_err(|_| foreign(format!("bad marker at {place}: not UTF-8")))?;
        let found: Marker = toml::from_str(text)
            .map_err(|e| foreign(format!("bad marker at {place}: {}", e.message())))?;
        if found.format != 1 {
            return Err(foreign(format!(
                "marker at {place} has format {}, this build knows 1",
                found.format
            )));
        }
        if found.swarm != self.swarm || found.store != self.store {
            return Err(foreign(format!(
                "{place} belongs to swarm {} as store `{}`, not swarm {} as store `{}`",
                found.swarm, found.store, self.swarm, self.store
            )));
        }
        Ok(())
    }
}

/// Checks that `store`, found at `place` (for messages), carries the marker of `swarm`.
pub async fn check<S: StoreRead + ?Sized>(
    store: &S,
    swarm: &SwarmId,
    place: &str,
) -> Result<(), StoreError> {
    let id = store.id().clone();
    let found = match store.read(&Object::Marker, MAX_MARKER).await {
        Ok(b) => b,
        Err(StoreError::NotFound { .. }) => {
            return Err(StoreError::Unavailable {
                store: id.clone(),
                why: Unavailable::NotInitialised(format!(
                    "{place} has no annex-swarm marker (not initialised: `annex-swarm store init {id}`; or a mount point with the disk absent)"
                )),
            });
        }
        Err(e @ StoreError::Unavailable { .. }) => return Err(e),
        Err(StoreError::TooLarge { .. }) => {
            return Err(StoreError::Unavailable {
                store: id,
                why: Unavailable::Foreign(format!(
                    "{place}: the marker is larger than {MAX_MARKER} bytes: not ours"
                )),
            });
        }
        Err(e) => {
            return Err(StoreError::Unavailable {
                store: id,
                why: Unavailable::Silent(e.to_string()),
            });
        }
    };
    Marker::new(swarm, &id).check(&id, &found, place)
}

/// Writes the marker of `swarm` unless the store already has it; refuses a store that belongs
/// to another swarm or store id.
pub async fn create<S: StoreRead + StoreAdmin + ?Sized>(
    store: &S,
    swarm: &SwarmId,
    place: &str,
) -> Result<(), StoreError> {
    match check(store, swarm, place).await {
        Ok(()) => Ok(()),
        Err(StoreError::Unavailable {
            why: Unavailable::NotInitialised(_),
            ..
        }) => {
            let marker = Marker::new(swarm, store.id()).encode();
            store.write(&Object::Marker, Bytes::from(marker)).await
        }
        Err(e) => Err(e),
    }
}
