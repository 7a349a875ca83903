//! `annex-swarm node run`: a node started from its key and a definition that lists it. It
//! finds itself among the definition's `[[node]]`s, serves the directory its entry names as the
//! store of its `peer://` URL (created on first start), to the definition's members only,
//! within its entry's `quota` (writes past it refused), `upload_rate` (the bytes it serves,
//! paced frame by frame, all peers together) and `download_rate` (the bytes of writes it
//! takes), each tightened by the node's own `node.toml` where that is smaller, which may also
//! name the directory. These are read when the node starts.
//!
//! With `[dht] enabled`, it joins the DHT on its listening IPv4 address (0.0.0.0 when it listens
//! on IPv6), publishes its record and finds the nodes the definition lists without addresses.
//!
//! With `full_copies` in the definition, it makes its store hold whole the keys it is a holder
//! of ([`crate::replicate`]).
//!
//! Seeding the keys the definition's `[seed]` lists is the front end's (BitTorrent is not
//! this crate's): it opens engines as the node reads the swarm ([`Daemon::engines`]) and tells
//! the status page what it seeds ([`Daemon::seeds`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use swarm_core::definition::{
    MemberKind, Role as DefRole, StoreEntry, StoreLocation, SwarmDefinition,
};
use swarm_core::ids::Hash32;
use swarm_core::node_local::NodeLocal;
use swarm_store::decorate::Link;
use swarm_store::{Store, StoreError};

use crate::dht::{DhtOptions, Finder};
use crate::endpoint::{EndpointConfig, EndpointError, bind, bound_addr};
use crate::identity::{NodeId, NodeSecret};
use crate::kind::node_addresses;
use crate::membership::{Membership, Role};
use crate::replicate::{NodeEngines, Replicator};
use crate::serve::{Node, NodeConfig};
use crate::spread::Keeper;
use crate::status::{Rounds, Seeds, Sightings, StatusSource};
use crate::traffic::Traffic;

/// Why a node cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "this node's key ({0}) is not a [[node]] of the definition: add it with `annex-swarm definition add-node`"
    )]
    NotANode(NodeId),
    #[error(
        "node `{0}` has no `store` directory: give one in its [[node]] entry or in the node's node.toml (`store = \"/srv/shards\"`)"
    )]
    NoStore(String),
    #[error("the definition has no peer://{0} store: nothing would use this node's store")]
    NoPeerStore(NodeId),
    #[error(
        "node `{0}` has no address to listen on: give --listen ADDRESS:PORT or `addrs` in its [[node]] entry"
    )]
    NoAddress(String),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("the node's store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Dht(#[from] crate::dht::DhtError),
    #[error(transparent)]
    Status(#[from] crate::status::StatusError),
}

/// What a node is started with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub secret: NodeSecret,
    pub definition: SwarmDefinition,
    /// The definition file's exact bytes (its hash is announced to peers).
    pub definition_bytes: Vec<u8>,
    /// Its signature (the `.sig` file), if any.
    pub signature: Option<Vec<u8>>,
    /// Where the definition lives: a newer one adopted replaces it (and its `.sig`), so a
    /// restarted node keeps it. None: kept in memory only.
    pub definition_path: Option<std::path::PathBuf>,
    /// Where to listen; default: the node's first static address.
    pub listen: Option<SocketAddr>,
    /// How often the node compares definitions with the nodes it knows.
    pub exchange_every: std::time::Duration,
    /// How often it looks for keys it should hold whole (`full_copies`) and lost shards.
    pub replicate_every: std::time::Duration,
    /// Where to serve the status page and its JSON (HTTP; meant for loopback), if anywhere.
    pub status: Option<SocketAddr>,
    /// The node's own `node.toml` (empty when it has none): its directory, and limits that
    /// tighten the definition's.
    pub local: NodeLocal,
}

/// How often a node compares definitions with the others by default: a Hello each way per
/// node, cheap next to what it saves (a node offline during a change catches up this fast).
pub const EXCHANGE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// A running node.
#[derive(Debug)]
pub struct Daemon {
    pub node: Node,
    /// The definition it holds.
    pub keeper: Arc<Keeper>,
    exchanging: tokio::task::JoinHandle<()>,
    replicating: tokio::task::JoinHandle<()>,
    /// The status page's address and task, when asked for.
    status: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
    /// The address it listens on (with the port chosen when 0 was asked).
    pub addr: SocketAddr,
    /// The id of the store it serves, as the definition names it.
    pub store: String,
    /// Its handle on the DHT, when the definition enables it.
    pub dht: Option<Finder>,
    /// What it seeds to BitTorrent, for the status page: told by the front end that seeds.
    pub seeds: Arc<Seeds>,
    engines: NodeEngines,
}

/// The members of `def`, with what each may ask: nodes everything, clients their role.
pub fn membership_of(def: &SwarmDefinition) -> Membership {
    Membership::new(members_of(def))
}

/// The members of `def` and their roles, as [`Membership`] takes them.
pub fn members_of(def: &SwarmDefinition) -> Vec<(NodeId, Role)> {
    def.members()
        .filter_map(|m| {
            let id = NodeId::from_bytes(m.id.as_bytes()).ok()?;
            let role = match (m.kind, m.role) {
                (MemberKind::Node, _) => Role::Node,
                (MemberKind::Client, DefRole::Read) => Role::Read,
                (MemberKind::Client, DefRole::Write) => Role::Write,
                (MemberKind::Client, DefRole::Admin) => Role::Admin,
            };
            Some((id, role))
        })
        .collect()
}

/// Starts a node: finds it in the definition, prepares its store, binds, serves.
pub async fn start(config: DaemonConfig) -> Result<Daemon, StartError> {
    let def = &config.definition;
    let me = config.secret.id();
    let entry = def
        .nodes
        .iter()
        .find(|n| n.key.id.as_bytes() == me.as_bytes())
        .ok_or(StartError::NotANode(me))?;
    let limits = config.local.apply(entry);
    let dir = limits
        .store
        .clone()
        .ok_or_else(|| StartError::NoStore(entry.name.clone()))?;
    let store_id = def
        .stores
        .iter()
        .find(|s| {
            matches!(s.location(), Ok(StoreLocation::Peer { node, .. }) if node.as_bytes() == me.as_bytes())
        })
        .map(|s| s.id.clone())
        .ok_or(StartError::NoPeerStore(me))?;
    let listen = match config.listen {
        Some(a) => a,
        None => node_addresses(def)
            .get(&me)
            .and_then(|a| a.first().copied())
            .ok_or_else(|| StartError::NoAddress(entry.name.clone()))?,
    };

    // The node's own store: a local directory under the id the definition gives it, holding
    // no more than the node's quota.
    let mut local = StoreEntry::new(store_id.clone(), dir);
    local.quota = limits.quota;
    let store: Arc<dyn Store> = swarm_store::open_store(&local, def.swarm)?;
    store.create().await?;
    let served = Arc::clone(&store);

    let members = membership_of(def);
    let mut endpoint_config = EndpointConfig::new(config.secret.clone(), listen);
    let dht_ip = match listen.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    let finder = DhtOptions::of(def, dht_ip)
        .map(|o| Finder::start(&o, def.swarm, Some(&config.secret)))
        .transpose()?;
    endpoint_config.lookup = finder.clone();
    let endpoint = bind(&endpoint_config, Some(&members)).await?;
    let addr = bound_addr(&endpoint).unwrap_or(listen);
    let hash = Hash32::of(&config.definition_bytes);
    if let Some(f) = &finder {
        // A wildcard address is no address: iroh then tells the finder the interfaces'.
        f.announce(Some(vec![addr]), Some((def.version, hash.0)));
    }
    let keeper = Keeper::new(
        def.clone(),
        config.definition_bytes.clone(),
        config.signature.clone(),
        config.definition_path.clone(),
        members.clone(),
    );
    let mut node_config = NodeConfig::new(def.swarm, def.version, hash.0);
    node_config.keeper = Some(Arc::clone(&keeper));
    node_config.upload = entry
        .upload_rate
        .map(|r| Arc::new(Link::new(r.bytes_per_sec())));
    node_config.download = entry
        .download_rate
        .map(|r| Arc::new(Link::new(r.bytes_per_sec())));
    // One pair of links for everything the node sends and takes, served or its own.
    node_config.traffic = Arc::new(Traffic::with_rates(
        node_config.upload.clone(),
        node_config.download.clone(),
    ));
    let traffic = Arc::clone(&node_config.traffic);
    let node = Node::serve(endpoint.clone(), store, members, node_config);
    let sightings = Arc::new(Sightings::default());
    let rounds = Arc::new(Rounds::default());
    let seeds = Arc::new(Seeds::default());
    let status = match config.status {
        Some(at) => {
            let source = StatusSource {
                me,
                addr,
                keeper: Arc::clone(&keeper),
                store: Arc::clone(&served),
                store_id: store_id.to_string(),
                quota: limits.quota,
                upload_rate: limits.upload_rate,
                download_rate: limits.download_rate,
                sightings: Arc::clone(&sightings),
                rounds: Arc::clone(&rounds),
                traffic: Arc::clone(&traffic),
                seeds: Arc::clone(&seeds),
                usage: Arc::default(),
            };
            Some(crate::status::serve(at, source).await?)
        }
        None => None,
    };
    let engines = NodeEngines {
        endpoint: endpoint.clone(),
        dht: finder.clone(),
        me,
        store: Arc::clone(&served),
        traffic: Arc::clone(&traffic),
        writer: config.secret.manifest_writer(),
    };
    let replicating = tokio::spawn(
        Replicator {
            endpoint: endpoint.clone(),
            dht: finder.clone(),
            me,
            store: served,
            store_id: store_id.clone(),
            every: config.replicate_every,
            rounds,
            traffic,
            writer: config.secret.manifest_writer(),
        }
        .run(Arc::clone(&keeper)),
    );
    let exchanging = tokio::spawn(crate::spread::keep_exchanging(
        endpoint,
        Arc::clone(&keeper),
        me,
        config.exchange_every,
        finder.clone(),
        sightings,
    ));
    tracing::info!(node = %me, %addr, store = %store_id, ?limits, "serving");
    Ok(Daemon {
        node,
        keeper,
        exchanging,
        replicating,
        status,
        addr,
        store: store_id.to_string(),
        dht: finder,
        seeds,
        engines,
    })
}

impl Daemon {
    /// How to open an engine over a definition as this node reads the swarm (its own store
    /// local, peers through its endpoint): for a front end that serves keys of the swarm
    /// beside the node, such as a seeder.
    pub fn engines(&self) -> NodeEngines {
        self.engines.clone()
    }

    /// Where the status page is served, if it is.
    pub fn status_addr(&self) -> Option<SocketAddr> {
        self.status.as_ref().map(|(a, _)| *a)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.exchanging.abort();
        self.replicating.abort();
        if let Some((_, task)) = &self.status {
            task.abort();
        }
    }
}
