//! Listing, removal, garbage collection and status.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use futures::future::join_all;
use serde::Serialize;
use swarm_core::ids::Hash32;
use swarm_core::key::{Key, Printable};
use swarm_core::manifest::{Body, Manifest};
use swarm_store::{Listed, layout};

use crate::{EngineError, Swarm};

#[derive(Debug, Clone, Serialize)]
pub struct KeyEntry {
    pub key: String,
    pub size: u64,
    /// 0 for small objects stored inside their manifest.
    pub chunks: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RmReport {
    pub key: String,
    pub copies_removed: usize,
    /// Stores that were down: they may still hold a copy of the manifest.
    pub unreachable: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub keys: usize,
    pub shards_kept: usize,
    pub shards_deleted: usize,
    pub bytes_freed: u64,
    /// Unreferenced but younger than the grace period (may belong to a put in progress).
    pub shards_too_young: usize,
    pub temp_deleted: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreStatus {
    pub id: String,
    pub url: String,
    pub up: bool,
    pub problem: Option<String>,
    pub shards: usize,
    pub manifests: usize,
    pub bytes_used: u64,
    /// The store's quota from the definition, if it has one.
    pub quota: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SwarmStatus {
    pub swarm: String,
    pub k: u16,
    pub m: u16,
    pub keys: usize,
    pub bytes_stored: u64,
    pub bytes_on_stores: u64,
    pub stores: Vec<StoreStatus>,
}

impl Swarm {
    /// Every key with a readable manifest on a store that is up, sorted.
    pub async fn ls(&self) -> Result<Vec<KeyEntry>, EngineError> {
        let (manifests, errors) = self.all_manifests().await?;
        for (path, e) in errors {
            tracing::warn!("unreadable manifest {path}: {e}");
        }
        Ok(manifests
            .into_values()
            .map(|m| KeyEntry {
                chunks: match &m.body {
                    Body::Chunked { chunks, .. } => chunks.len(),
                    Body::Inline(_) => 0,
                },
                key: Printable(&m.key).to_string(),
                size: m.size,
            })
            .collect())
    }

    /// One decoded manifest per key (by its bytes), and the manifest paths no store could give a
    /// valid copy of.
    pub(crate) async fn all_manifests(
        &self,
    ) -> Result<(BTreeMap<Vec<u8>, Manifest>, Vec<(String, String)>), EngineError> {
        let listings = self.list_everywhere(layout::MANIFESTS).await?;
        Ok(self.decode_manifests(&listings).await)
    }

    /// Reads one valid copy of every manifest the listings name.
    async fn decode_manifests(
        &self,
        listings: &[Vec<Listed>],
    ) -> (BTreeMap<Vec<u8>, Manifest>, Vec<(String, String)>) {
        let mut holders: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, list) in listings.iter().enumerate() {
            for l in list {
                holders.entry(l.path.clone()).or_default().push(i);
            }
        }
        let mut out = BTreeMap::new();
        let mut errors = Vec::new();
        for (path, stores) in holders {
            let mut last = String::new();
            let mut got = None;
            for i in stores {
                match self
                    .store(i)
                    .read(&path)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|b| Manifest::decode(&b).map_err(|e| e.to_string()))
                {
                    Ok(m) if layout::manifest_path(&m.key) == path => {
                        got = Some(m);
                        break;
                    }
                    Ok(m) => {
                        last = format!(
                            "{} holds the manifest of {} under the wrong name",
                            self.name(i),
                            Printable(&m.key)
                        )
                    }
                    Err(e) => last = format!("{}: {e}", self.name(i)),
                }
            }
            match got {
                Some(m) => {
                    out.insert(m.key.clone(), m);
                }
                None => errors.push((path, last)),
            }
        }
        (out, errors)
    }

    /// Lists a directory on every store that is up (empty for stores that are down).
    async fn list_everywhere(&self, dir: &str) -> Result<Vec<Vec<Listed>>, EngineError> {
        let lists = join_all((0..self.slots().len()).map(|i| async move {
            if self.up(i) {
                self.store(i).list(dir).await.map_err(EngineError::from)
            } else {
                Ok(Vec::new())
            }
        }))
        .await;
        lists.into_iter().collect()
    }

    /// Removes a key: deletes its manifest copies. Its shards become garbage for `gc` unless
    /// another key shares them.
    pub async fn rm(&self, key: &Key) -> Result<RmReport, EngineError> {
        self.read_manifest(key.as_bytes()).await?;
        let path = layout::manifest_path(key.as_bytes());
        let mut report = RmReport {
            key: key.to_string(),
            ..Default::default()
        };
        for i in 0..self.slots().len() {
            if !self.up(i) {
                report.unreachable.push(self.name(i));
                continue;
            }
            if self.store(i).stat(&path).await?.is_some() {
                self.store(i).delete(&path).await?;
                report.copies_removed += 1;
            }
        }
        Ok(report)
    }

    /// Deletes shards no manifest references and staged writes, once older than `grace`.
    /// Refuses while a store is down (it may hold the only copy of a manifest) unless `force`,
    /// and whenever a manifest cannot be read (its shards would look like garbage).
    pub async fn gc(&self, grace: Duration, force: bool) -> Result<GcReport, EngineError> {
        if !force && self.slots().iter().any(|s| s.down.is_some()) {
            return Err(EngineError::Refused(format!(
                "gc needs every store, since a store that is down may hold manifests: {} (use --force to collect anyway)",
                self.down_summary(&[])
            )));
        }
        let (manifests, errors) = self.all_manifests().await?;
        if let Some((path, e)) = errors.first() {
            return Err(EngineError::Refused(format!(
                "gc stopped: manifest {path} is unreadable ({e}); its shards would be taken for garbage"
            )));
        }
        let shard_lists = self.list_everywhere(layout::SHARDS).await?;
        let held: Vec<HashSet<Hash32>> = shard_lists
            .iter()
            .map(|list| {
                list.iter()
                    .filter_map(|l| layout::parse_shard_path(&l.path))
                    .collect()
            })
            .collect();
        // A shard copy is needed on its preferred store, or, when that store lacks it, on the
        // first store that has it in the order readers look (`ChunkPlaces::elsewhere`); not
        // wherever a shard with the same bytes happens to be, since two chunks can share a shard
        // yet place it on different stores.
        let mut needed: HashSet<(usize, Hash32)> = HashSet::new();
        for m in manifests.values() {
            if let Body::Chunked { coding, chunks, .. } = &m.body {
                for c in chunks {
                    let places = self.chunk_places(&c.id, coding.total());
                    for (i, h) in c.shards.iter().enumerate() {
                        let holder = places.preferred[i]
                            .filter(|&s| held[s].contains(h))
                            .or_else(|| places.elsewhere(i).find(|&s| held[s].contains(h)));
                        if let Some(s) = holder {
                            needed.insert((s, *h));
                        }
                    }
                }
            }
        }
        let now = SystemTime::now();
        let old = |l: &Listed| now.duration_since(l.meta.modified).unwrap_or_default() >= grace;
        let mut report = GcReport {
            keys: manifests.len(),
            ..Default::default()
        };
        for (i, list) in shard_lists.into_iter().enumerate() {
            for l in list {
                match layout::parse_shard_path(&l.path) {
                    Some(h) if needed.contains(&(i, h)) => report.shards_kept += 1,
                    _ if !old(&l) => report.shards_too_young += 1,
                    _ => {
                        self.store(i).delete(&l.path).await?;
                        report.shards_deleted += 1;
                        report.bytes_freed += l.meta.size;
                    }
                }
            }
        }
        for (i, list) in self
            .list_everywhere(layout::TMP)
            .await?
            .into_iter()
            .enumerate()
        {
            for l in list.iter().filter(|l| old(l)) {
                self.store(i).delete(&l.path).await?;
                report.temp_deleted += 1;
            }
        }
        Ok(report)
    }

    pub async fn status(&self) -> Result<SwarmStatus, EngineError> {
        let shards = self.list_everywhere(layout::SHARDS).await?;
        let manifests = self.list_everywhere(layout::MANIFESTS).await?;
        let (keys, _) = self.decode_manifests(&manifests).await;
        let stores: Vec<StoreStatus> = self
            .slots()
            .iter()
            .zip(shards.iter().zip(&manifests))
            .zip(&self.definition().stores)
            .map(|((slot, (s, m)), entry)| StoreStatus {
                quota: entry.quota.map(|q| q.0),
                id: slot.store.id().to_string(),
                url: slot.url.clone(),
                up: slot.down.is_none(),
                problem: slot.down.clone(),
                shards: s.len(),
                manifests: m.len(),
                bytes_used: s.iter().chain(m.iter()).map(|l| l.meta.size).sum(),
            })
            .collect();
        Ok(SwarmStatus {
            swarm: self.definition().swarm.to_string(),
            k: self.coding().k(),
            m: self.coding().m(),
            keys: keys.len(),
            bytes_stored: keys.values().map(|m| m.size).sum(),
            bytes_on_stores: stores.iter().map(|s| s.bytes_used).sum(),
            stores,
        })
    }
}
