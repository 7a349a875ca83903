//! The stores of one definition and the placement rules over them: an immutable snapshot.
//! Each operation takes the current snapshot when it starts ([`super::Swarm::members`]); a
//! reload makes a new one, and operations in flight notice it (`generation`).

use std::sync::Arc;

use bytes::Bytes;
use swarm_core::chunking::ChunkerParams;
use swarm_core::definition::{StoreEntry, SwarmDefinition};
use swarm_core::erasure::Coding;
use swarm_core::ids::{Hash32, StoreId};
use swarm_core::manifest::Writer;
use swarm_core::placement::{self, Candidate, Item};
use swarm_store::{Health, Object, Store, StoreError};

use crate::EngineError;
use crate::pool::cpu;

/// One store of the swarm.
#[derive(Debug, Clone)]
pub struct Member {
    /// The store, with its decorators (limits, quota, retry and breaker, counts).
    pub store: Arc<dyn Store>,
    pub entry: StoreEntry,
}

impl Member {
    pub fn id(&self) -> &StoreId {
        &self.entry.id
    }

    pub fn url(&self) -> &str {
        &self.entry.url
    }

    /// Whether the store can be used now, as this process knows it.
    pub fn health(&self) -> Health {
        self.store.health()
    }

    /// Why the store cannot be used now, as a message naming it; `None` when it is up.
    pub fn down(&self) -> Option<String> {
        self.health()
            .down()
            .map(|why| format!("store {} is unavailable: {why}", self.id()))
    }
}

/// A definition's stores and the rules every operation shares.
#[derive(Debug)]
pub struct Members {
    def: SwarmDefinition,
    coding: Coding,
    chunker: ChunkerParams,
    stores: Vec<Member>,
    candidates: Vec<Candidate>,
    /// Which stores are nodes' `peer://` stores (the nodes rebuild what their stores lack).
    node_store: Vec<bool>,
    pub(crate) manifests: ManifestPolicy,
}

/// How this process writes and trusts manifests.
#[derive(Debug, Clone, Default)]
pub struct ManifestPolicy {
    /// The member key manifests are signed with (version 3); none: versions 1 and 2.
    pub writer: Option<Writer>,
    /// Take only manifests signed by a member of the definition with write rights (a node
    /// does: a forged or unsigned manifest is neither copied nor repaired from).
    pub writers_only: bool,
}

impl Members {
    /// `stores` in the definition's order.
    pub(crate) fn new(
        def: SwarmDefinition,
        stores: Vec<Arc<dyn Store>>,
        manifests: ManifestPolicy,
    ) -> Result<Self, EngineError> {
        def.validate()?;
        let coding = def.coding()?;
        let chunker = def.chunker();
        let candidates = def
            .stores
            .iter()
            .map(|e| Candidate {
                id: e.id.clone(),
                weight: e.weight,
            })
            .collect();
        let nodes = def.full_copy_nodes();
        let node_store = def
            .stores
            .iter()
            .map(|e| nodes.iter().any(|(_, id)| *id == e.id))
            .collect();
        let stores = stores
            .into_iter()
            .zip(&def.stores)
            .map(|(store, entry)| Member {
                store,
                entry: entry.clone(),
            })
            .collect();
        Ok(Members {
            def,
            coding,
            chunker,
            stores,
            candidates,
            node_store,
            manifests,
        })
    }

    pub fn definition(&self) -> &SwarmDefinition {
        &self.def
    }

    /// The coding new objects get (old ones keep theirs, recorded in their manifest).
    pub fn coding(&self) -> Coding {
        self.coding
    }

    pub fn chunker(&self) -> ChunkerParams {
        self.chunker
    }

    pub fn stores(&self) -> &[Member] {
        &self.stores
    }

    pub(crate) fn len(&self) -> usize {
        self.stores.len()
    }

    pub(crate) fn store(&self, i: usize) -> &Arc<dyn Store> {
        &self.stores[i].store
    }

    pub(crate) fn up(&self, i: usize) -> bool {
        self.stores[i].store.health().is_up()
    }

    pub(crate) fn name(&self, i: usize) -> String {
        self.stores[i].entry.id.to_string()
    }

    /// Where a chunk's `total` shards belong. A manifest written under another coding may have
    /// more shards than the swarm has stores: those shards have no preferred store.
    pub(crate) fn chunk_places(&self, id: &Hash32, total: usize) -> ChunkPlaces {
        let ranking = placement::rank(Item::Chunk(id), &self.candidates);
        let split = total.min(ranking.len());
        let mut preferred: Vec<Option<usize>> =
            ranking[..split].iter().copied().map(Some).collect();
        preferred.resize(total, None);
        ChunkPlaces {
            preferred,
            spares: ranking[split..].to_vec(),
        }
    }

    /// Whether a put may leave shard `index` of a chunk to the nodes (super-seeding): the
    /// definition asks nodes to hold full copies (`full_copies > 0`), so they replicate and
    /// repair on their own, the shard is a parity shard (the data shards, sent once, keep the
    /// chunk restorable), and its preferred store is a node's, which rebuilds it from the data
    /// shards (`docs/spec/replication-v1.md`).
    pub(crate) fn left_to_nodes(&self, places: &ChunkPlaces, index: usize) -> bool {
        self.def.coding.full_copies > 0
            && index >= usize::from(self.coding.k())
            && places
                .preferred
                .get(index)
                .copied()
                .flatten()
                .is_some_and(|s| self.node_store[s])
    }

    /// The stores of `key`'s `full_copies` holders: the first `full_copies` node stores of its
    /// manifest ranking (`docs/spec/replication-v1.md`; the nodes compute the same).
    pub(crate) fn holder_stores(&self, key: &[u8]) -> Vec<usize> {
        self.manifest_ranking(key)
            .into_iter()
            .filter(|&i| self.node_store[i])
            .take(usize::from(self.def.coding.full_copies))
            .collect()
    }

    /// The key's holders (see [`Members::holder_stores`]) by id, but `except`: what a fetch
    /// is told of who holds the key whole.
    pub(crate) fn holder_ids(&self, key: &[u8], except: Option<usize>) -> Arc<[StoreId]> {
        self.holder_stores(key)
            .into_iter()
            .filter(|&i| Some(i) != except)
            .map(|i| self.stores[i].id().clone())
            .collect()
    }

    /// The index of the store `id`, if it is a member.
    pub(crate) fn position(&self, id: &StoreId) -> Option<usize> {
        self.stores.iter().position(|m| m.id() == id)
    }

    pub(crate) fn manifest_ranking(&self, key: &[u8]) -> Vec<usize> {
        placement::rank(Item::Manifest(key), &self.candidates)
    }

    /// How many manifest copies a key gets: m + 1, so it survives the same losses as its shards.
    pub(crate) fn copies_wanted(&self) -> usize {
        usize::from(self.coding.m()) + 1
    }

    /// "stores down: a (why), b (why); errors: ..." for messages.
    pub(crate) fn down_summary(&self, errors: &[String]) -> String {
        let down: Vec<String> = self
            .stores
            .iter()
            .filter_map(|m| m.down().map(|why| format!("{} ({why})", m.id())))
            .collect();
        let mut parts = Vec::new();
        if !down.is_empty() {
            parts.push(format!("stores down: {}", down.join(", ")));
        }
        if !errors.is_empty() {
            parts.push(format!("errors: {}", errors.join("; ")));
        }
        if parts.is_empty() {
            "no store failed".into()
        } else {
            parts.join("; ")
        }
    }

    /// Reads shard `hash` of `len` bytes from store `i` and checks it.
    pub(crate) async fn read_shard(
        &self,
        i: usize,
        hash: Hash32,
        len: u64,
    ) -> Result<Bytes, ShardFault> {
        let bytes = self.shard_bytes(i, hash, None, len).await?;
        let check = bytes.clone();
        if cpu(move || Hash32::of(&check)).await == hash {
            Ok(bytes)
        } else {
            Err(self.fault(i, FaultKind::Corrupt))
        }
    }

    /// `len` bytes of shard `hash` from `offset`, from store `i`, **unchecked**: a shard's
    /// BLAKE3 covers all of it, so the caller checks these bytes some other way (a seeder
    /// against the torrent's piece SHA-1). Fewer bytes than asked is `Corrupt`.
    pub(crate) async fn read_shard_range(
        &self,
        i: usize,
        hash: Hash32,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, ShardFault> {
        self.shard_bytes(i, hash, Some(offset), len).await
    }

    /// `len` bytes of shard `hash` on store `i` (the whole shard, or from `offset`), exactly
    /// that many, not checked.
    async fn shard_bytes(
        &self,
        i: usize,
        hash: Hash32,
        offset: Option<u64>,
        len: u64,
    ) -> Result<Bytes, ShardFault> {
        if let Health::Down(why) = self.stores[i].store.health() {
            return Err(self.fault(i, FaultKind::Unavailable(why.to_string())));
        }
        let object = Object::Shard(hash);
        let store = self.store(i);
        let read = match offset {
            None => store.read(&object, len).await,
            Some(offset) => store.read_range(&object, offset, len).await,
        };
        let bytes = read.map_err(|e| {
            self.fault(
                i,
                match e {
                    StoreError::NotFound { .. } => FaultKind::Missing,
                    StoreError::TooLarge { .. } => FaultKind::Corrupt,
                    other => FaultKind::Io(other.to_string()),
                },
            )
        })?;
        if bytes.len() as u64 != len {
            return Err(self.fault(i, FaultKind::Corrupt));
        }
        Ok(bytes)
    }

    fn fault(&self, i: usize, kind: FaultKind) -> ShardFault {
        ShardFault {
            store: self.name(i),
            kind,
        }
    }
}

/// Shard i of a chunk belongs on `preferred[i]`; when that store cannot take it, on a spare.
#[derive(Debug, Clone)]
pub(crate) struct ChunkPlaces {
    pub preferred: Vec<Option<usize>>,
    pub spares: Vec<usize>,
}

impl ChunkPlaces {
    /// Where else shard `i` may be, in the order to look: spares (where puts and repairs spill),
    /// then the other shards' stores (where it was preferred before stores were added or
    /// removed, which shifts rankings).
    pub fn elsewhere(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let own = self.preferred.get(i).copied().flatten();
        self.spares.iter().copied().chain(
            self.preferred
                .iter()
                .flatten()
                .copied()
                .filter(move |&s| Some(s) != own),
        )
    }

    /// Every store that may hold shard `i`, best first.
    pub fn candidates(&self, i: usize) -> Vec<usize> {
        let mut c: Vec<usize> = self
            .preferred
            .get(i)
            .copied()
            .flatten()
            .into_iter()
            .collect();
        for s in self.elsewhere(i) {
            if !c.contains(&s) {
                c.push(s);
            }
        }
        c
    }
}

/// Why a shard copy on a store could not be used.
#[derive(Debug, Clone)]
pub struct ShardFault {
    pub store: String,
    pub kind: FaultKind,
}

#[derive(Debug, Clone)]
pub enum FaultKind {
    Unavailable(String),
    Missing,
    /// Present with the wrong length or failing its hash.
    Corrupt,
    Io(String),
}

impl std::fmt::Display for ShardFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            FaultKind::Unavailable(_) => write!(f, "{}: unavailable", self.store),
            FaultKind::Missing => write!(f, "{}: missing", self.store),
            FaultKind::Corrupt => write!(f, "{}: corrupt", self.store),
            FaultKind::Io(e) => write!(f, "{e}"),
        }
    }
}
