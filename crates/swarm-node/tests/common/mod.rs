//! A node on loopback serving a fresh local directory store, and clients of it: real iroh
//! endpoints bound to 127.0.0.1, port 0, no relay, no address lookup.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use iroh::Endpoint;
use swarm_core::definition::StoreEntry;
use swarm_core::ids::{StoreId, SwarmId};
use swarm_node::endpoint::bound_addr;
use swarm_node::{
    EndpointConfig, Membership, Node, NodeConfig, NodeSecret, PeerAddr, PeerStore, Role, bind,
};
use swarm_store::credentials::MapSource;
use swarm_store::{Store, decorate, open_store_with};

pub const SWARM: SwarmId = SwarmId([7; 16]);
pub const LOOPBACK: &str = "127.0.0.1:0";

pub fn store_id() -> StoreId {
    "conf".parse().unwrap()
}

pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ANNEX_SWARM_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A node and the directory its store lives in.
pub struct Rig {
    pub node: Node,
    pub secret: NodeSecret,
    pub members: Membership,
    pub config: NodeConfig,
    pub addr: SocketAddr,
    /// The node's own store, as the node opened it.
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
}

impl Rig {
    /// A node of [`SWARM`] serving an empty directory (not yet a store: no marker).
    pub async fn start(members: Membership) -> Rig {
        Rig::start_with(members, NodeConfig::new(SWARM, 1, [1; 32])).await
    }

    pub async fn start_with(members: Membership, config: NodeConfig) -> Rig {
        logs();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("store")).unwrap();
        let entry = StoreEntry::new(store_id(), dir.path().join("store").display().to_string());
        let store = open_store_with(&entry, SWARM, &MapSource::new()).unwrap();
        let secret = NodeSecret::generate();
        let (node, addr) = serve(
            &secret,
            LOOPBACK.parse().unwrap(),
            &store,
            &members,
            &config,
        )
        .await;
        Rig {
            node,
            secret,
            members,
            config,
            addr,
            store,
            dir,
        }
    }

    /// Stops the node and starts it again: same key, same address, same store.
    pub async fn restart(self) -> Rig {
        let Rig {
            node,
            secret,
            members,
            config,
            addr,
            store,
            dir,
        } = self;
        node.shutdown().await;
        drop(node);
        // iroh releases the socket from a background task: wait for it.
        let config_at = EndpointConfig::new(secret.clone(), addr);
        let mut tries = 0;
        let endpoint = loop {
            match bind(&config_at, Some(&members)).await {
                Ok(e) => break e,
                Err(e) if tries < 100 => {
                    tries += 1;
                    tracing::debug!("rebinding {addr}: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        let again = bound_addr(&endpoint).unwrap();
        let node = Node::serve(
            endpoint,
            Arc::clone(&store),
            members.clone(),
            config.clone(),
        );
        assert_eq!(again, addr);
        Rig {
            node,
            secret,
            members,
            config,
            addr,
            store,
            dir,
        }
    }

    /// A node whose store is already created.
    pub async fn ready(members: Membership) -> Rig {
        let rig = Rig::start(members).await;
        rig.store.create().await.unwrap();
        rig
    }

    pub fn peer(&self) -> PeerAddr {
        PeerAddr {
            node: self.node.id(),
            addrs: vec![self.addr],
        }
    }

    /// A bare peer store of this node for `client`, as a member of `swarm`.
    pub fn peer_store(&self, client: &Client, swarm: SwarmId) -> PeerStore {
        PeerStore::client(client.endpoint.clone(), self.peer(), store_id(), swarm)
    }

    /// The same through the standard decorators, as the engine opens stores.
    pub fn decorated(&self, client: &Client, swarm: SwarmId) -> Arc<dyn Store> {
        let entry = StoreEntry::new(store_id(), format!("peer://{}", self.node.id()));
        decorate::standard(Arc::new(self.peer_store(client, swarm)), &entry)
    }
}

async fn serve(
    secret: &NodeSecret,
    at: SocketAddr,
    store: &Arc<dyn Store>,
    members: &Membership,
    config: &NodeConfig,
) -> (Node, SocketAddr) {
    let endpoint_config = EndpointConfig::new(secret.clone(), at);
    let endpoint = bind(&endpoint_config, Some(members)).await.unwrap();
    let addr = bound_addr(&endpoint).unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
    let node = Node::serve(endpoint, Arc::clone(store), members.clone(), config.clone());
    (node, addr)
}

/// A client: a key and an endpoint that only dials.
pub struct Client {
    pub secret: NodeSecret,
    pub endpoint: Endpoint,
}

impl Client {
    pub async fn new() -> Client {
        let secret = NodeSecret::generate();
        let config = EndpointConfig::new(secret.clone(), LOOPBACK.parse().unwrap());
        let endpoint = bind(&config, None).await.unwrap();
        Client { secret, endpoint }
    }

    pub fn member(&self, role: Role) -> (swarm_node::NodeId, Role) {
        (self.secret.id(), role)
    }
}
