//! What the swarm holds: keys (`ls`), their removal (`rm`), and each store's share (`status`).

use serde::Serialize;
use swarm_core::key::{Key, Printable};
use swarm_core::manifest::Body;
use swarm_store::{Class, Object};

use crate::{EngineError, Swarm};

#[derive(Debug, Clone, Serialize)]
pub struct KeyEntry {
    pub key: String,
    pub size: u64,
    /// 0 for small objects stored inside their manifest.
    pub chunks: usize,
}

/// What [`Swarm::rm_with`] does when stores are down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenDown {
    /// Removes nothing and says which (the default).
    Refuse,
    /// Removes the copies on the stores that are up and names the others in the report.
    Skip,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RmReport {
    pub key: String,
    pub copies_removed: usize,
    /// Stores that were down: they may still hold a copy of the manifest.
    pub unreachable: Vec<String>,
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
        let catalog = self.members().catalog(false).await?;
        for (path, e) in catalog.unreadable {
            tracing::warn!("unreadable manifest {path}: {e}");
        }
        Ok(catalog
            .manifests
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

    /// Removes a key: deletes its manifest copies. Its shards become garbage for `gc` unless
    /// another key shares them. Refused, with nothing deleted, while a store that is down may
    /// hold a copy: that copy would bring the key back with the store (a node holding it whole
    /// would even copy it out again), so the removal would not stick.
    pub async fn rm(&self, key: &Key) -> Result<RmReport, EngineError> {
        self.rm_with(key, WhenDown::Refuse).await
    }

    /// [`Swarm::rm`], saying what to do about stores that are down.
    pub async fn rm_with(&self, key: &Key, down: WhenDown) -> Result<RmReport, EngineError> {
        let members = self.members();
        members.read_manifest(key.as_bytes()).await?;
        let object = Object::manifest_of(key.as_bytes());
        let mut report = RmReport {
            key: key.to_string(),
            ..Default::default()
        };
        report.unreachable = (0..members.len())
            .filter(|&i| !members.up(i))
            .map(|i| members.name(i))
            .collect();
        if down == WhenDown::Refuse && !report.unreachable.is_empty() {
            return Err(EngineError::Refused(format!(
                "{key} not removed: stores down may hold a copy of its manifest and would bring \
                 it back: {}; remove it once they are back (or remove it from the stores that \
                 are up only, knowing it may come back: `annex-swarm rm --reachable-only`)",
                report.unreachable.join(", ")
            )));
        }
        // Every store that is up asked first: one that fails leaves every copy in place.
        let mut holding = Vec::new();
        for (i, m) in members.stores().iter().enumerate() {
            if members.up(i) && m.store.stat(&object).await?.is_some() {
                holding.push(i);
            }
        }
        for i in holding {
            members.store(i).delete(&object).await?;
            report.copies_removed += 1;
        }
        Ok(report)
    }

    pub async fn status(&self) -> Result<SwarmStatus, EngineError> {
        let members = self.members();
        let shards = members.list_everywhere(Class::Shards).await?;
        let manifests = members.list_everywhere(Class::Manifests).await?;
        let keys = members.catalog_of(&manifests, false).await.manifests;
        let size = |l: &swarm_store::Listing| l.objects.iter().map(|o| o.meta.size).sum::<u64>();
        let stores: Vec<StoreStatus> = members
            .stores()
            .iter()
            .zip(shards.iter().zip(&manifests))
            .map(|(m, (s, man))| StoreStatus {
                quota: m.entry.quota.map(|q| q.0),
                id: m.id().to_string(),
                url: m.url().to_owned(),
                up: m.health().is_up(),
                problem: m.down(),
                shards: s.objects.len(),
                manifests: man.objects.len(),
                bytes_used: size(s) + size(man),
            })
            .collect();
        let coding = members.coding();
        Ok(SwarmStatus {
            swarm: members.definition().swarm.to_string(),
            k: coding.k(),
            m: coding.m(),
            keys: keys.len(),
            bytes_stored: keys.values().map(|m| m.size).sum(),
            bytes_on_stores: stores.iter().map(|s| s.bytes_used).sum(),
            stores,
        })
    }
}
