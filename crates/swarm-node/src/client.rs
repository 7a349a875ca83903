//! The client side of a process that uses a swarm with `peer://` stores (the CLI, the special
//! remote): its member key, its endpoint, and the `peer` kind bound to it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use swarm_core::definition::{StoreLocation, SwarmDefinition};
use swarm_core::identity::{Identity, IdentityError};

use crate::dht::{DhtError, DhtOptions, Finder};
use crate::endpoint::{EndpointConfig, EndpointError, bind};
use crate::identity::NodeSecret;
use crate::kind::{PeerKind, node_addresses, peer_kind_with_dht, socket_addr};

/// Why a process cannot reach a swarm's nodes.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "this swarm has peer stores, which only its members reach: {0} (make a key with `annex-swarm node init`, list it in the definition as a [[client]], or set ANNEX_SWARM_KEY to a member's key file)"
    )]
    Key(IdentityError),
    #[error("no key file given and neither XDG_CONFIG_HOME nor HOME is set: set ANNEX_SWARM_KEY")]
    NoHome,
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Dht(#[from] DhtError),
}

/// `$XDG_CONFIG_HOME/annex-swarm/node_ed25519`, else `~/.config/annex-swarm/node_ed25519`.
pub fn default_key_path() -> Option<PathBuf> {
    let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".config"),
    };
    Some(config.join("annex-swarm").join("node_ed25519"))
}

/// The key a process uses as a member: `ANNEX_SWARM_KEY`, else [`default_key_path`].
pub fn member_key_path() -> Result<PathBuf, ClientError> {
    match std::env::var_os("ANNEX_SWARM_KEY").filter(|v| !v.is_empty()) {
        Some(p) => Ok(p.into()),
        None => default_key_path().ok_or(ClientError::NoHome),
    }
}

/// The peer kind to open `def`'s `peer://` stores with, on an endpoint of this process with its
/// member key; `None` when the definition has no peer store (no key needed, nothing bound).
pub async fn peer_kind_for(def: &SwarmDefinition) -> Result<Option<Arc<PeerKind>>, ClientError> {
    let peers: Vec<StoreLocation> = def
        .stores
        .iter()
        .filter_map(|s| s.location().ok())
        .filter(|l| matches!(l, StoreLocation::Peer { .. }))
        .collect();
    if peers.is_empty() {
        return Ok(None);
    }
    let identity = Identity::load(&member_key_path()?).map_err(ClientError::Key)?;
    let dht = DhtOptions::of(def, Ipv4Addr::UNSPECIFIED);
    let bind_to = bind_address(def, &peers, dht.as_ref());
    let mut config = EndpointConfig::new(NodeSecret::from_bytes(identity.secret_bytes()), bind_to);
    if let Some(mut options) = dht {
        if let IpAddr::V4(ip) = bind_to.ip() {
            options.bind = ip;
        }
        config.lookup = Some(Finder::start(&options, def.swarm, None)?);
    }
    let kind = peer_kind_with_dht(bind(&config, None).await?, config.lookup.clone());
    kind.learn(def);
    Ok(Some(kind))
}

/// Loopback when every address known for the peers is, and so is every DHT bootstrap node
/// (nothing else is then needed, and a test never opens a socket outside 127.0.0.0/8), else
/// any IPv4 address.
fn bind_address(
    def: &SwarmDefinition,
    peers: &[StoreLocation],
    dht: Option<&DhtOptions>,
) -> SocketAddr {
    let mut known: Vec<SocketAddr> = node_addresses(def).into_values().flatten().collect();
    for p in peers {
        if let StoreLocation::Peer { addr: Some(hp), .. } = p {
            known.extend(socket_addr(hp));
        }
    }
    let loopback = match dht {
        Some(d) => d.is_loopback() && known.iter().all(|a| a.ip().is_loopback()),
        None => !known.is_empty() && known.iter().all(|a| a.ip().is_loopback()),
    };
    let ip = if loopback {
        Ipv4Addr::LOCALHOST
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    SocketAddr::new(ip.into(), 0)
}
