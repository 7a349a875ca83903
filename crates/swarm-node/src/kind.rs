//! `peer://NODEID[@ADDR:PORT]` stores: the `peer` store kind, registered by a process that has
//! an endpoint (`Kinds::register`), so the engine opens peer stores like any other.
//!
//! Where a node is dialled: the address in its URL, then the static addresses its `[[node]]`
//! entry lists (learned from the definition with [`PeerKind::learn`]), then what the endpoint's
//! address lookup finds (the DHT, when the definition enables it). Addresses are IP
//! addresses: host names are not resolved yet (that would be a blocking lookup, or DNS traffic a
//! test must never make).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use iroh::Endpoint;
use swarm_core::definition::{HostPort, StoreLocation, SwarmDefinition};
use swarm_store::{Store, StoreError, StoreKind, Target};

use crate::dht::Finder;
use crate::identity::NodeId;
use crate::link::PeerAddr;
use crate::peer::PeerStore;
use crate::traffic::Traffic;

/// Opens peer stores on one endpoint (a process has one, shared by every peer store).
#[derive(Debug)]
pub struct PeerKind {
    endpoint: Endpoint,
    /// Static addresses of the definition's nodes.
    book: RwLock<HashMap<NodeId, Vec<SocketAddr>>>,
    /// The DHT the endpoint looks nodes up in, when the definition enables it.
    dht: Option<Finder>,
    /// In a node: its own id and store, opened as is rather than dialled.
    own: Option<(NodeId, Arc<dyn Store>)>,
    /// In a node: where the bytes moved through peer stores are counted.
    traffic: Option<Arc<Traffic>>,
}

/// The peer kind of a process, bound to its endpoint.
pub fn peer_kind(endpoint: Endpoint) -> Arc<PeerKind> {
    peer_kind_with_dht(endpoint, None)
}

/// The same, for an endpoint that looks nodes up in `dht` (its address lookup).
pub fn peer_kind_with_dht(endpoint: Endpoint, dht: Option<Finder>) -> Arc<PeerKind> {
    Arc::new(PeerKind {
        endpoint,
        book: RwLock::new(HashMap::new()),
        dht,
        own: None,
        traffic: None,
    })
}

/// The peer kind of a node: `peer://` stores of the others through its endpoint, its own
/// (`me`) the store it serves.
pub fn peer_kind_for_node(
    endpoint: Endpoint,
    dht: Option<Finder>,
    me: NodeId,
    store: Arc<dyn Store>,
    traffic: Arc<Traffic>,
) -> Arc<PeerKind> {
    Arc::new(PeerKind {
        endpoint,
        book: RwLock::new(HashMap::new()),
        dht,
        own: Some((me, store)),
        traffic: Some(traffic),
    })
}

/// An IP address and port; `None` for a host name.
pub fn socket_addr(hp: &HostPort) -> Option<SocketAddr> {
    let host = hp.host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, hp.port))
}

/// The static addresses of `def`'s nodes that are IP addresses, by node (host names are
/// logged and left out).
pub fn node_addresses(def: &SwarmDefinition) -> HashMap<NodeId, Vec<SocketAddr>> {
    let mut book = HashMap::new();
    for node in &def.nodes {
        let Ok(id) = NodeId::from_bytes(node.key.id.as_bytes()) else {
            tracing::warn!(node = %node.name, "not a usable ed25519 key");
            continue;
        };
        let mut addrs = Vec::new();
        for a in &node.addrs {
            match swarm_core::location::parse_host_port(a)
                .ok()
                .and_then(|hp| socket_addr(&hp))
            {
                Some(sa) => addrs.push(sa),
                None => tracing::warn!(
                    node = %node.name,
                    "address {a} is not an IP address and port: left out (host names are not resolved yet)"
                ),
            }
        }
        book.insert(id, addrs);
    }
    book
}

impl PeerKind {
    /// Takes the static node addresses `def` lists (replacing those of an earlier one).
    pub fn learn(&self, def: &SwarmDefinition) {
        if let Ok(mut book) = self.book.write() {
            *book = node_addresses(def);
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The process's member key, signing the manifests it writes (version 3).
    pub fn manifest_writer(&self) -> swarm_core::manifest::Writer {
        swarm_core::manifest::Writer::from_secret(&self.endpoint.secret_key().to_bytes())
    }

    /// The DHT nodes are found in, if the definition enables it.
    pub fn dht(&self) -> Option<&Finder> {
        self.dht.as_ref()
    }
}

impl StoreKind for PeerKind {
    fn name(&self) -> &'static str {
        "peer"
    }

    fn open(&self, t: &Target<'_>) -> Result<Arc<dyn Store>, StoreError> {
        let config = |reason: String| StoreError::Config {
            store: t.entry.id.clone(),
            reason,
        };
        let StoreLocation::Peer { node, addr } = t.location else {
            return Err(config(format!("a {} URL is not a peer", t.location.kind())));
        };
        let node =
            NodeId::from_bytes(node.as_bytes()).map_err(|e| config(format!("peer {node}: {e}")))?;
        if let Some((me, store)) = &self.own
            && *me == node
        {
            return Ok(Arc::clone(store));
        }
        let mut addrs = Vec::new();
        if let Some(hp) = addr {
            addrs.push(socket_addr(hp).ok_or_else(|| {
                config(format!(
                    "`{hp}` is not an IP address and port (host names are not resolved yet)"
                ))
            })?);
        }
        if let Ok(book) = self.book.read() {
            for a in book.get(&node).into_iter().flatten() {
                if !addrs.contains(a) {
                    addrs.push(*a);
                }
            }
        }
        Ok(Arc::new(
            PeerStore::client(
                self.endpoint.clone(),
                PeerAddr { node, addrs },
                t.entry.id.clone(),
                t.swarm,
            )
            .with_traffic(self.traffic.clone()),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ip_addresses_are_taken_and_host_names_are_not() {
        let hp = |s: &str| swarm_core::location::parse_host_port(s).unwrap();
        assert_eq!(
            socket_addr(&hp("127.0.0.1:4000")),
            Some("127.0.0.1:4000".parse().unwrap())
        );
        assert_eq!(
            socket_addr(&hp("[::1]:4000")),
            Some("[::1]:4000".parse().unwrap())
        );
        assert_eq!(socket_addr(&hp("example.org:4000")), None);
    }
}
