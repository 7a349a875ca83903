//! `peer://NODEID[@ADDR:PORT]` stores, for the engine and the CLI to open.
//!
//! Not a `swarm_store::StoreKind` yet: `Kinds::open` first parses the entry's URL with
//! swarm-core's grammar, which refuses `peer` (`UrlProblem::PeerNotYet`), and `StoreLocation`
//! has no peer variant to hand a kind. Once swarm-core has `StoreLocation::Peer { node: [u8;
//! 32], addrs: Vec<SocketAddr> }` (kind name `peer`), `impl StoreKind for PeerKind` is
//! `open(t) => self.open(&t.entry.id, node, addrs, t.swarm)` and [`PeerUrl`] moves there.

use std::net::SocketAddr;
use std::sync::Arc;

use iroh::Endpoint;
use swarm_core::definition::StoreEntry;
use swarm_core::ids::{StoreId, SwarmId};
use swarm_store::{Store, decorate};

use crate::identity::{NodeId, NodeIdError};
use crate::link::PeerAddr;
use crate::peer::PeerStore;

/// A parsed `peer://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerUrl {
    pub node: NodeId,
    pub addr: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerUrlError {
    #[error("a peer store URL is peer://NODEID[@ADDRESS:PORT]")]
    Scheme,
    #[error("bad node id in a peer URL: {0}")]
    Node(#[from] NodeIdError),
    #[error("`{0}` is not an IP address and port (host names are not resolved yet)")]
    Addr(String),
}

impl std::str::FromStr for PeerUrl {
    type Err = PeerUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let rest = url.strip_prefix("peer://").ok_or(PeerUrlError::Scheme)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (node, addr) = match rest.split_once('@') {
            Some((node, addr)) => {
                let addr = addr
                    .parse()
                    .map_err(|_| PeerUrlError::Addr(addr.to_owned()))?;
                (node, Some(addr))
            }
            None => (rest, None),
        };
        Ok(PeerUrl {
            node: node.parse()?,
            addr,
        })
    }
}

/// Opens peer stores on one endpoint (a process has one, shared by every peer store).
#[derive(Debug, Clone)]
pub struct PeerKind {
    endpoint: Endpoint,
}

/// The peer kind of a process, bound to its endpoint.
pub fn peer_kind(endpoint: Endpoint) -> Arc<PeerKind> {
    Arc::new(PeerKind { endpoint })
}

impl PeerKind {
    /// The bare peer store of a node.
    pub fn open(&self, id: &StoreId, url: &PeerUrl, swarm: SwarmId) -> Arc<PeerStore> {
        let peer = PeerAddr {
            node: url.node,
            addrs: url.addr.into_iter().collect(),
        };
        Arc::new(PeerStore::client(
            self.endpoint.clone(),
            peer,
            id.clone(),
            swarm,
        ))
    }

    /// The store a definition entry with a `peer://` URL names, with the standard decorators.
    pub fn open_entry(
        &self,
        entry: &StoreEntry,
        swarm: SwarmId,
    ) -> Result<Arc<dyn Store>, PeerUrlError> {
        let url: PeerUrl = entry.url.parse()?;
        let bare: Arc<dyn Store> = self.open(&entry.id, &url, swarm);
        Ok(decorate::standard(bare, entry))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::identity::NodeSecret;

    #[test]
    fn peer_urls() {
        let id = NodeSecret::from_bytes([3; 32]).id();
        let u: PeerUrl = format!("peer://{id}@127.0.0.1:4000").parse().unwrap();
        assert_eq!(u.node, id);
        assert_eq!(u.addr, Some("127.0.0.1:4000".parse().unwrap()));
        let u: PeerUrl = format!("peer://{id}").parse().unwrap();
        assert_eq!(u.addr, None);
        assert!(format!("peer://{id}@host:1").parse::<PeerUrl>().is_err());
        assert!("s3://x".parse::<PeerUrl>().is_err());
        assert!("peer://abc".parse::<PeerUrl>().is_err());
    }
}
