//! An opened swarm: its definition, its stores (each checked once on open), and the placement
//! rules every operation shares.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::join_all;
use swarm_core::chunking::ChunkerParams;
use swarm_core::definition::SwarmDefinition;
use swarm_core::erasure::Coding;
use swarm_core::ids::Hash32;
use swarm_core::key::Printable;
use swarm_core::manifest::Manifest;
use swarm_core::placement::{self, Candidate, Item};
use swarm_store::{Store, StoreError, layout, open_store_with};

use crate::EngineError;
use crate::limits::Limited;
use crate::quota::Quota;

/// One store of the swarm and whether it answered when the swarm was opened.
#[derive(Debug, Clone)]
pub struct Slot {
    pub store: Arc<dyn Store>,
    pub url: String,
    /// Why the store is not used in this run, if it is not.
    pub down: Option<String>,
}

/// Requests in flight to one store when its definition entry does not say.
pub const DEFAULT_CONNECTIONS: usize = 4;

pub struct Swarm {
    def: SwarmDefinition,
    coding: Coding,
    chunker: ChunkerParams,
    slots: Vec<Slot>,
    candidates: Vec<Candidate>,
    quotas: Vec<Quota>,
}

impl Swarm {
    /// Opens every store the definition names and checks them all at once (credentials from the
    /// environment and the credentials file).
    pub async fn open(def: SwarmDefinition) -> Result<Self, EngineError> {
        Self::open_with(def, swarm_store::credentials::default_source()).await
    }

    /// As [`Swarm::open`], asking `creds` for store credentials (the special remote chains
    /// what git-annex's GETCREDS gave before the default source).
    pub async fn open_with(
        def: SwarmDefinition,
        creds: &dyn swarm_store::credentials::CredentialSource,
    ) -> Result<Self, EngineError> {
        let stores = def
            .stores
            .iter()
            .map(|e| open_store_with(e, def.swarm, creds))
            .collect::<Result<Vec<_>, _>>()?;
        Self::with_stores(def, stores).await
    }

    /// Opens a swarm over already-built stores (same order as the definition's entries).
    pub async fn with_stores(
        def: SwarmDefinition,
        stores: Vec<Arc<dyn Store>>,
    ) -> Result<Self, EngineError> {
        def.validate()?;
        let coding = def.coding()?;
        let chunker = def.chunker();
        let stores: Vec<Arc<dyn Store>> = stores
            .into_iter()
            .zip(&def.stores)
            .map(|(s, entry)| Limited::wrap(s, entry))
            .collect();
        let checks = join_all(stores.iter().map(|s| s.check())).await;
        let slots = stores
            .into_iter()
            .zip(checks)
            .zip(&def.stores)
            .map(|((store, check), entry)| Slot {
                store,
                url: entry.url.clone(),
                down: check.err().map(|e| e.to_string()),
            })
            .collect();
        let candidates = def
            .stores
            .iter()
            .map(|e| Candidate {
                id: e.id.clone(),
                weight: e.weight,
            })
            .collect();
        let quotas = def.stores.iter().map(|e| Quota::new(e.quota)).collect();
        Ok(Swarm {
            def,
            coding,
            chunker,
            slots,
            candidates,
            quotas,
        })
    }

    pub fn definition(&self) -> &SwarmDefinition {
        &self.def
    }

    pub fn coding(&self) -> Coding {
        self.coding
    }

    pub fn chunker(&self) -> ChunkerParams {
        self.chunker
    }

    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub(crate) fn quotas(&self) -> &[Quota] {
        &self.quotas
    }

    pub(crate) fn up(&self, i: usize) -> bool {
        self.slots[i].down.is_none()
    }

    pub(crate) fn store(&self, i: usize) -> &Arc<dyn Store> {
        &self.slots[i].store
    }

    /// Requests store `i` may have in flight at once.
    pub(crate) fn connections(&self, i: usize) -> usize {
        self.def
            .stores
            .get(i)
            .and_then(|e| e.connections)
            .map_or(DEFAULT_CONNECTIONS, |c| c as usize)
    }

    pub(crate) fn name(&self, i: usize) -> String {
        self.slots[i].store.id().to_string()
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

    pub(crate) fn manifest_ranking(&self, key: &[u8]) -> Vec<usize> {
        placement::rank(Item::Manifest(key), &self.candidates)
    }

    /// How many manifest copies a key gets: m + 1, so it survives the same losses as its shards.
    pub(crate) fn manifest_copies(&self) -> usize {
        usize::from(self.coding.m()) + 1
    }

    /// Reads the first valid manifest of the key with bytes `key`, in ranking order.
    pub async fn read_manifest(&self, key: &[u8]) -> Result<Manifest, EngineError> {
        let path = layout::manifest_path(key);
        let mut looked = Vec::new();
        for i in self.manifest_ranking(key) {
            if let Some(why) = &self.slots[i].down {
                looked.push(format!("{} (unavailable: {why})", self.name(i)));
                continue;
            }
            match self.store(i).read(&path).await {
                Ok(bytes) => match Manifest::decode(&bytes) {
                    Ok(m) if m.key == key => return Ok(m),
                    Ok(m) => looked.push(format!(
                        "{} (manifest is for {})",
                        self.name(i),
                        Printable(&m.key)
                    )),
                    Err(e) => {
                        let key = Printable(key);
                        tracing::warn!(store = %self.name(i), %key, "bad manifest copy: {e}");
                        looked.push(format!("{} ({e})", self.name(i)));
                    }
                },
                Err(e) if e.is_not_found() => {
                    looked.push(format!("{} (no manifest)", self.name(i)))
                }
                Err(e) => looked.push(format!("{} ({e})", self.name(i))),
            }
        }
        Err(EngineError::NotPresent {
            key: Printable(key).to_string(),
            looked: looked.join(", "),
        })
    }

    /// Writes m + 1 copies of a manifest, walking down the key's ranking past stores that are down
    /// or refuse. Fails (removing the copies it wrote) if fewer than m + 1 stores take one.
    pub(crate) async fn write_manifest(&self, manifest: &Manifest) -> Result<usize, EngineError> {
        let bytes = Bytes::from(
            manifest
                .encode()
                .map_err(|e| EngineError::Refused(e.to_string()))?,
        );
        let path = layout::manifest_path(&manifest.key);
        let want = self.manifest_copies();
        let mut order = self
            .manifest_ranking(&manifest.key)
            .into_iter()
            .filter(|&i| self.up(i));
        let mut written = Vec::new();
        let mut failures = Vec::new();
        while written.len() < want {
            let batch: Vec<usize> = order.by_ref().take(want - written.len()).collect();
            if batch.is_empty() {
                break;
            }
            let results = join_all(
                batch
                    .iter()
                    .map(|&i| self.write_within_quota(i, &path, bytes.clone())),
            )
            .await;
            for (i, r) in batch.into_iter().zip(results) {
                match r {
                    Ok(()) => written.push(i),
                    Err(e) => failures.push(e),
                }
            }
        }
        if written.len() < want {
            join_all(written.iter().map(|&i| self.store(i).delete(&path))).await;
            return Err(EngineError::NotEnoughStores {
                what: format!("the manifest of {}", Printable(&manifest.key)),
                detail: format!(
                    "{} of the {want} copies written; {}",
                    written.len(),
                    self.down_summary(&failures)
                ),
            });
        }
        Ok(written.len())
    }

    /// "stores down: a (why), b (why); errors: ..." for messages.
    pub(crate) fn down_summary(&self, errors: &[String]) -> String {
        let down: Vec<String> = self
            .slots
            .iter()
            .filter_map(|s| {
                s.down
                    .as_ref()
                    .map(|why| format!("{} ({why})", s.store.id()))
            })
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

    /// Reads a shard and checks its hash.
    pub(crate) async fn read_shard(&self, i: usize, hash: Hash32) -> Result<Bytes, ShardFault> {
        let fault = |kind| ShardFault {
            store: self.name(i),
            kind,
        };
        if let Some(why) = &self.slots[i].down {
            return Err(fault(FaultKind::Unavailable(why.clone())));
        }
        let bytes = self
            .store(i)
            .read(&layout::shard_path(&hash))
            .await
            .map_err(|e| match e {
                StoreError::NotFound { .. } => fault(FaultKind::Missing),
                other => fault(FaultKind::Io(other.to_string())),
            })?;
        let check = bytes.clone();
        if crate::cpu(move || Hash32::of(&check)).await == hash {
            Ok(bytes)
        } else {
            Err(fault(FaultKind::Corrupt))
        }
    }
}

/// Shard i of a chunk belongs on `preferred[i]`; when that store cannot take it, on a spare.
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
