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
//! The node reads the swarm as a client would, through an engine over the held definition on
//! its own endpoint, except that its own `peer://` store is its local store, never dialled.

use std::sync::Arc;
use std::time::Duration;

use iroh::Endpoint;
use swarm_core::definition::SwarmDefinition;
use swarm_core::ids::StoreId;
use swarm_core::placement::{Candidate, Item, rank};
use swarm_engine::Swarm;
use swarm_store::{Kinds, Store};

use crate::dht::Finder;
use crate::identity::NodeId;
use crate::kind::peer_kind_for_node;
use crate::spread::Keeper;
use crate::status::Rounds;

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
}

impl Replicator {
    /// Every `every`, mirrors the keys this node is a holder of under the definition held
    /// then. Runs until dropped.
    pub async fn run(self, keeper: Arc<Keeper>) {
        let mut engine: Option<(u64, Swarm)> = None;
        loop {
            tokio::time::sleep(self.every).await;
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
            let (repaired, mut error) = self.repair(&swarm, &def).await;
            let (mut whole, mut copied) = (0, (0, 0));
            if def.coding.full_copies > 0 {
                let me = self.me;
                let mine = |key: &[u8]| holders(&def, key).contains(&me);
                match swarm.mirror_where(&[], &self.store_id, mine).await {
                    Ok(reports) => {
                        for r in reports {
                            copied.0 += r.shards_written as u64;
                            copied.1 += r.bytes_written;
                            if let Some(e) = &r.error {
                                tracing::warn!(key = %r.key, "replication: {e}");
                                error = Some(format!("{}: {e}", r.key));
                            } else if r.shards_written > 0 || r.manifest_written {
                                tracing::info!(
                                    key = %r.key,
                                    shards = r.shards_written,
                                    bytes = r.bytes_written,
                                    "now holds a full copy"
                                );
                            }
                            whole += usize::from(r.whole);
                        }
                    }
                    Err(e) => {
                        tracing::warn!("replication: {e}");
                        error = Some(e.to_string());
                    }
                }
            }
            self.rounds.ended(whole, copied, repaired, error);
        }
    }

    /// Repairs the keys this node is the steward of whose shards the stores' listings show
    /// missing (a store or node lost, a disk replaced): k shards read for each lost one.
    async fn repair(&self, swarm: &Swarm, def: &SwarmDefinition) -> (u64, Option<String>) {
        let members = swarm.members();
        let up = |id: &StoreId| {
            members
                .stores()
                .iter()
                .any(|m| m.id() == id && m.down().is_none())
        };
        let me = self.me;
        let mine = |key: &[u8]| steward(def, key, up) == Some(me);
        let (mut repaired, mut error) = (0, None);
        match swarm.repair_missing(mine).await {
            Ok(reports) => {
                for r in reports {
                    repaired += r.shards_rewritten as u64;
                    match &r.error {
                        Some(e) => {
                            tracing::warn!(key = %r.key, "repair: {e}");
                            error = Some(format!("{}: {e}", r.key));
                        }
                        None => tracing::info!(
                            key = %r.key,
                            shards = r.shards_rewritten,
                            manifests = r.manifests_rewritten,
                            "repaired"
                        ),
                    }
                }
            }
            Err(e) => {
                tracing::warn!("repair: {e}");
                error = Some(e.to_string());
            }
        }
        (repaired, error)
    }

    /// An engine over `def` as this node sees it: peers through its endpoint, its own store
    /// local.
    async fn open(&self, def: &SwarmDefinition) -> Result<Swarm, swarm_engine::EngineError> {
        let mut kinds = Kinds::builtin();
        let peers = peer_kind_for_node(
            self.endpoint.clone(),
            self.dht.clone(),
            self.me,
            Arc::clone(&self.store),
        );
        peers.learn(def);
        kinds.register(peers);
        Swarm::builder(def.clone()).kinds(kinds).open().await
    }
}
