//! gc: deletes shards no manifest references and leftovers of interrupted writes, once older
//! than a grace period (puts touch the shards they reuse, so a concurrent put's shards are
//! young).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use swarm_core::ids::Hash32;
use swarm_core::manifest::Body;
use swarm_store::{Class, Listed, Object};

use crate::{EngineError, Swarm};

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

impl Swarm {
    /// Deletes shards no manifest references and staged writes, once older than `grace`.
    /// Refuses while a store is down (it may hold the only copy of a manifest) unless `force`,
    /// and whenever a manifest cannot be read (its shards would look like garbage).
    pub async fn gc(&self, grace: Duration, force: bool) -> Result<GcReport, EngineError> {
        let members = self.members();
        if !force && (0..members.len()).any(|i| !members.up(i)) {
            return Err(EngineError::Refused(format!(
                "gc needs every store, since a store that is down may hold manifests: {} (use --force to collect anyway)",
                members.down_summary(&[])
            )));
        }
        self.release_idle_writer().await;
        let locks = self.take_exclusive(&members).await?;
        let report = self.collect(&members, grace).await;
        crate::locks::release(&members, &locks).await;
        report
    }

    /// What gc does while it holds the swarm.
    async fn collect(
        &self,
        members: &crate::swarm::Members,
        grace: Duration,
    ) -> Result<GcReport, EngineError> {
        let catalog = members.catalog(true).await?;
        if let Some((path, e)) = catalog.unreadable.first() {
            return Err(EngineError::Refused(format!(
                "gc stopped: manifest {path} is unreadable ({e}); its shards would be taken for garbage"
            )));
        }
        if let Some(conflict) = catalog.conflicts.first() {
            return Err(EngineError::Refused(format!(
                "gc stopped: {conflict}; the shards one copy names would be taken for garbage (run `annex-swarm fsck` on the key, and remove the copy that lies)"
            )));
        }
        let manifests = catalog.manifests;
        let shard_lists = members.list_everywhere(Class::Shards).await?;
        let held: Vec<HashSet<Hash32>> = shard_lists
            .iter()
            .map(|list| {
                list.objects
                    .iter()
                    .filter_map(|l| match l.object {
                        Object::Shard(h) => Some(h),
                        _ => None,
                    })
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
                    let places = members.chunk_places(&c.id, coding.total());
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
            for l in list.objects {
                match l.object {
                    Object::Shard(h) if needed.contains(&(i, h)) => report.shards_kept += 1,
                    _ if !old(&l) => report.shards_too_young += 1,
                    _ => {
                        members.store(i).delete(&l.object).await?;
                        report.shards_deleted += 1;
                        report.bytes_freed += l.meta.size;
                    }
                }
            }
        }
        for (i, list) in members
            .list_everywhere(Class::Staging)
            .await?
            .into_iter()
            .enumerate()
        {
            for l in list.objects.iter().filter(|l| old(l)) {
                members.store(i).delete(&l.object).await?;
                report.temp_deleted += 1;
            }
        }
        Ok(report)
    }
}
