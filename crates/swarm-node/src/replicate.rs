//! Full copies without a client: a node that is one of a key's `full_copies` holders makes its
//! own store hold that key whole, pulling what it lacks from every store of the swarm at once
//! (the engine's `mirror`, through the scheduler: peers are raced, every shard checked against
//! its BLAKE3 before it is written). Nodes compare nothing but what they list; a node that was
//! offline catches up at its next round.
//!
//! A key's holders are the first `full_copies` nodes of its manifest ranking among the nodes
//! with a peer store (`docs/spec/replication-v1.md`), so every node computes the same holders
//! and the key's manifest copies tend to land on them too. Its steward, the first of that
//! ranking whose store is up, repairs it: each round, shards the stores' listings lack are
//! rebuilt from k others, with no client running.
//!
//! A round runs every `every`, and at once (after [`SETTLE`]) when a peer writes a manifest to
//! this node: a super-seeded put leaves parity to the nodes, which start on it as soon as the
//! key exists.
//!
//! The node reads the swarm as a client would, through an engine over the held definition on
//! its own endpoint, except that its own `peer://` store is its local store, never dialled.

use std::sync::Arc;
use std::time::Duration;

use iroh::Endpoint;
use swarm_core::definition::SwarmDefinition;
use swarm_core::ids::StoreId;
use swarm_core::manifest::Writer;
use swarm_core::placement::{Candidate, Item, rank};
use swarm_engine::Swarm;
use swarm_engine::swarm::ManifestPolicy;
use swarm_store::{Kinds, Store};

use crate::dht::Finder;
use crate::identity::NodeId;
use crate::kind::peer_kind_for_node;
use crate::spread::Keeper;
use crate::status::{RoundOutcome, Rounds};
use crate::traffic::Traffic;

/// How often a node looks for keys it should hold whole by default (each round lists the
/// swarm's manifests on every store).
pub const REPLICATE_EVERY: Duration = Duration::from_secs(60);

/// The nodes with a peer store in `key`'s manifest ranking, best first, with their stores.
fn ranked_nodes(def: &SwarmDefinition, key: &[u8]) -> Vec<(NodeId, StoreId)> {
    let nodes = def.full_copy_nodes();
    let candidates: Vec<Candidate> = nodes
        .iter()
        .map(|(_, store)| Candidate {
            id: store.clone(),
            weight: def
                .stores
                .iter()
                .find(|s| &s.id == store)
                .map_or(1.0, |s| s.weight),
        })
        .collect();
    rank(Item::Manifest(key), &candidates)
        .into_iter()
        .filter_map(|i| {
            let (node, store) = &nodes[i];
            Some((NodeId::from_bytes(node.as_bytes()).ok()?, store.clone()))
        })
        .collect()
}

/// The nodes that hold `key` whole under `def`: the first `full_copies` of the key's manifest
/// ranking among the nodes with a peer store.
pub fn holders(def: &SwarmDefinition, key: &[u8]) -> Vec<NodeId> {
    ranked_nodes(def, key)
        .into_iter()
        .take(usize::from(def.coding.full_copies))
        .map(|(n, _)| n)
        .collect()
}

/// The stores of `key`'s holders (see [`holders`]).
fn holder_stores(def: &SwarmDefinition, key: &[u8]) -> Vec<StoreId> {
    ranked_nodes(def, key)
        .into_iter()
        .take(usize::from(def.coding.full_copies))
        .map(|(_, s)| s)
        .collect()
}

/// The node that repairs `key`: the first of its ranking among the nodes with a peer store
/// whose store `up` says is up (as the asking node sees it; two nodes that disagree both
/// repair, which writes the same shards twice and loses nothing).
pub fn steward(def: &SwarmDefinition, key: &[u8], up: impl Fn(&StoreId) -> bool) -> Option<NodeId> {
    ranked_nodes(def, key)
        .into_iter()
        .find(|(_, store)| up(store))
        .map(|(n, _)| n)
}

/// What a replicating node works with.
#[derive(Debug, Clone)]
pub struct Replicator {
    pub endpoint: Endpoint,
    pub dht: Option<Finder>,
    pub me: NodeId,
    /// The node's own store, and its id in the definition.
    pub store: Arc<dyn Store>,
    pub store_id: StoreId,
    pub every: Duration,
    /// Where the rounds are told (the status page).
    pub rounds: Arc<Rounds>,
    /// Where the bytes the rounds move are counted; it also tells of manifests peers wrote
    /// here, which start a round at once.
    pub traffic: Arc<Traffic>,
    /// The node's key, signing the manifest copies it writes.
    pub writer: Writer,
}

/// How long a round started by a manifest's arrival waits for more (a put writes its m + 1
/// manifest copies at once, and several puts often come together).
pub const SETTLE: Duration = Duration::from_millis(300);

impl Replicator {
    /// Every `every`, mirrors the keys this node is a holder of under the definition held
    /// then. Runs until dropped.
    pub async fn run(self, keeper: Arc<Keeper>) {
        let mut engine: Option<(u64, Swarm)> = None;
        // The first round comes at the start (a node that joins fills at once, one restarted
        // picks up where it was), the next ones every `every`.
        let mut wait = Duration::ZERO;
        loop {
            // A manifest's arrival starts a round only where nodes make copies (`full_copies`):
            // elsewhere a round is only the stewards' repair, which a stream of puts and removals
            // (a `testremote`) would otherwise run against over and over.
            let copies = keeper.definition().coding.full_copies > 0;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.traffic.manifest_wait(), if copies => tokio::time::sleep(SETTLE).await,
            }
            wait = self.every;
            let def = keeper.definition();
            let (version, _) = keeper.version();
            let swarm = match &engine {
                Some((v, s)) if *v == version => s.clone(),
                _ => match self.open(&def).await {
                    Ok(s) => {
                        engine = Some((version, s.clone()));
                        s
                    }
                    Err(e) => {
                        tracing::warn!("replication: cannot open the swarm: {e}");
                        continue;
                    }
                },
            };
            // Copies first: a holder that is also the steward then repairs from its own
            // store, and writes the shard the spread places on it itself rather than be sent it.
            let mut round = RoundOutcome::default();
            if def.coding.full_copies > 0 {
                self.copy(&swarm, &def, &mut round).await;
            }
            self.repair(&swarm, &def, &mut round).await;
            self.rounds.ended(round);
        }
    }

    /// Mirrors the keys this node is a holder of.
    async fn copy(&self, swarm: &Swarm, def: &SwarmDefinition, round: &mut RoundOutcome) {
        let me = self.me;
        let mine = |key: &[u8]| holders(def, key).contains(&me);
        let reports = match swarm.mirror_where(&[], &self.store_id, mine).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("replication: {e}");
                round.error = Some(e.to_string());
                return;
            }
        };
        for r in reports {
            round.shards_copied += r.shards_written as u64;
            round.bytes_copied += r.bytes_written;
            if let Some(e) = &r.error {
                tracing::warn!(key = %r.key, "replication: {e}");
                round.error = Some(format!("{}: {e}", r.key));
            } else if r.shards_written > 0 || r.manifest_written {
                tracing::info!(
                    key = %r.key,
                    shards = r.shards_written,
                    bytes = r.bytes_written,
                    "now holds a full copy"
                );
            }
            round.whole += usize::from(r.whole);
            let k = round.key(&r.key);
            k.holder = true;
            k.whole = Some(r.whole);
            k.shards_copied = r.shards_written as u64;
            k.error = r.error.clone();
        }
    }

    /// Repairs the keys this node is the steward of whose shards the stores' listings show
    /// missing (a store or node lost, a disk replaced): k shards read for each lost one.
    async fn repair(&self, swarm: &Swarm, def: &SwarmDefinition, round: &mut RoundOutcome) {
        let members = swarm.members();
        let up = |id: &StoreId| {
            members
                .stores()
                .iter()
                .any(|m| m.id() == id && m.down().is_none())
        };
        let me = self.me;
        let mine = |key: &[u8]| steward(def, key, up) == Some(me);
        // A holder that is up makes its own slot of the spread (it mirrors first): the steward
        // leaves those, so no shard is sent to a node that would make it anyway.
        let left_to = |key: &[u8]| {
            let mut stores = holder_stores(def, key);
            stores.retain(|s| up(s));
            stores
        };
        let reports = match swarm.repair_missing(mine, left_to).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("repair: {e}");
                round.error = Some(e.to_string());
                return;
            }
        };
        for r in reports {
            round.shards_repaired += r.shards_rewritten as u64;
            match &r.error {
                Some(e) => {
                    tracing::warn!(key = %r.key, "repair: {e}");
                    round.error = Some(format!("{}: {e}", r.key));
                }
                None => tracing::info!(
                    key = %r.key,
                    shards = r.shards_rewritten,
                    manifests = r.manifests_rewritten,
                    "repaired"
                ),
            }
            let k = round.key(&r.key);
            k.steward = true;
            k.shards_repaired = r.shards_rewritten as u64;
            if r.error.is_some() {
                k.error = r.error.clone();
            }
        }
    }

    /// An engine over `def` as this node sees it.
    async fn open(&self, def: &SwarmDefinition) -> Result<Swarm, swarm_engine::EngineError> {
        NodeEngines {
            endpoint: self.endpoint.clone(),
            dht: self.dht.clone(),
            me: self.me,
            store: Arc::clone(&self.store),
            traffic: Arc::clone(&self.traffic),
            writer: self.writer.clone(),
        }
        .open(def)
        .await
    }
}

/// How a node opens an engine over a definition: peers through its endpoint, its own store
/// local (never dialled), only manifests a member with write rights signed. The replication
/// rounds read the swarm through it, and so does a front end seeding from the node
/// ([`crate::Daemon::engines`]).
#[derive(Debug, Clone)]
pub struct NodeEngines {
    pub endpoint: Endpoint,
    pub dht: Option<Finder>,
    pub me: NodeId,
    pub store: Arc<dyn Store>,
    /// Where what the engine moves is counted (and paced, with the node's rates).
    pub traffic: Arc<Traffic>,
    /// The node's key, signing the manifest copies it writes.
    pub writer: Writer,
}

impl NodeEngines {
    pub async fn open(&self, def: &SwarmDefinition) -> Result<Swarm, swarm_engine::EngineError> {
        let mut kinds = Kinds::builtin();
        let peers = peer_kind_for_node(
            self.endpoint.clone(),
            self.dht.clone(),
            self.me,
            Arc::clone(&self.store),
            Arc::clone(&self.traffic),
        );
        peers.learn(def);
        kinds.register(peers);
        let policy = ManifestPolicy {
            writer: Some(self.writer.clone()),
            writers_only: true,
        };
        Swarm::builder(def.clone())
            .kinds(kinds)
            .manifests(policy)
            .open()
            .await
    }
}
