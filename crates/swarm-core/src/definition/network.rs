//! Where nodes look for each other: the `[dht]` section and `relays` of a format 2 definition.
//! Checked here; `swarm-node` joins the DHT when `[dht]` enables it (`docs/spec/dht-record-v1.md`).
//! `relays` are checked only: nothing uses a relay yet.

use serde::{Deserialize, Serialize};

use super::SwarmDefinition;
use crate::location::{UrlProblem, parse_host_port, parse_relay_url};

/// The BitTorrent mainline DHT, for nodes without static addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhtSection {
    #[serde(default)]
    pub enabled: bool,
    /// `host:port` of the nodes to join through; empty: the DHT's public routers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("dht.bootstrap: {0}")]
    Bootstrap(UrlProblem),
    #[error("relays: {0}")]
    Relay(UrlProblem),
}

impl SwarmDefinition {
    pub(super) fn validate_network(&self) -> Result<(), NetworkError> {
        if let Some(dht) = &self.dht {
            for b in &dht.bootstrap {
                parse_host_port(b).map_err(NetworkError::Bootstrap)?;
            }
        }
        for r in &self.relays {
            parse_relay_url(r).map_err(NetworkError::Relay)?;
        }
        Ok(())
    }
}
