//! The marker object `annex-swarm-store.toml`: which swarm a store belongs to and under which id.
//! A store without it, or with another swarm's, is unavailable (never silently filled).

use serde::{Deserialize, Serialize};
use swarm_core::ids::{StoreId, SwarmId};

use crate::StoreError;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct Marker {
    format: u32,
    swarm: String,
    store: String,
}

impl Marker {
    pub(crate) fn new(swarm: &SwarmId, store: &StoreId) -> Self {
        Marker {
            format: 1,
            swarm: swarm.to_string(),
            store: store.to_string(),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        toml::to_string(self).unwrap_or_default().into_bytes()
    }

    /// Checks a marker read from the store at `place` against this one.
    pub(crate) fn check(&self, id: &StoreId, found: &[u8], place: &str) -> Result<(), StoreError> {
        let unavailable = |reason: String| StoreError::Unavailable {
            store: id.to_string(),
            reason,
        };
        let text = std::str::from_utf8(found)
            .map_err(|_| unavailable(format!("bad marker at {place}: not UTF-8")))?;
        let found: Marker = toml::from_str(text)
            .map_err(|e| unavailable(format!("bad marker at {place}: {}", e.message())))?;
        if found.swarm != self.swarm || found.store != self.store {
            return Err(unavailable(format!(
                "{place} belongs to swarm {} as store `{}`, not swarm {} as store `{}`",
                found.swarm, found.store, self.swarm, self.store
            )));
        }
        Ok(())
    }
}
