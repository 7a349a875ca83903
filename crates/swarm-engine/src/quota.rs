//! Per-store `quota`: no write makes a store hold more of this swarm than its quota.
//!
//! Usage is learnt once per process, the first time a write needs it, by listing the store's
//! shards and manifests and adding their sizes; every write this process makes is then added
//! (reserved before the write, given back if it fails), so the check costs nothing per write.
//! Limits of the approach: two processes writing to one store at once each count only their own
//! writes after their listing, so together they can pass the quota by what they write
//! concurrently; a rewrite of an existing object (a manifest copy) is counted again; space freed
//! by `gc` in another process is not seen until the next process lists again.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use swarm_core::units::ByteSize;
use swarm_store::layout;

use crate::Swarm;

/// One store's quota and what this process knows of its usage.
#[derive(Debug, Default)]
pub(crate) struct Quota {
    limit: Option<u64>,
    used: tokio::sync::OnceCell<AtomicU64>,
}

impl Quota {
    pub(crate) fn new(limit: Option<ByteSize>) -> Self {
        Quota {
            limit: limit.map(|q| q.0),
            used: tokio::sync::OnceCell::new(),
        }
    }
}

impl Swarm {
    /// Bytes of this swarm on store `i` (listed once, then kept up to date by this process's
    /// writes), for stores with a quota; `None` otherwise.
    pub(crate) async fn quota_used(&self, i: usize) -> Result<Option<u64>, String> {
        let q = &self.quotas()[i];
        if q.limit.is_none() {
            return Ok(None);
        }
        let used = q
            .used
            .get_or_try_init(|| async {
                let mut total = 0u64;
                for dir in [layout::SHARDS, layout::MANIFESTS] {
                    let listed = self
                        .store(i)
                        .list(dir)
                        .await
                        .map_err(|e| format!("cannot learn its usage: {e}"))?;
                    total += listed.iter().map(|l| l.meta.size).sum::<u64>();
                }
                Ok::<_, String>(AtomicU64::new(total))
            })
            .await?;
        Ok(Some(used.load(Ordering::Relaxed)))
    }

    /// Writes an object to store `i` unless that would take the store past its quota. The error
    /// says which store is full.
    pub(crate) async fn write_within_quota(
        &self,
        i: usize,
        path: &str,
        data: Bytes,
    ) -> Result<(), String> {
        let len = data.len() as u64;
        let limit = self.quotas()[i].limit;
        if let Some(limit) = limit {
            self.quota_used(i)
                .await
                .map_err(|e| format!("{}: {e}", self.name(i)))?;
            let used = self.quotas()[i].used.get().ok_or("quota usage unknown")?;
            if used
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                    (u + len <= limit).then_some(u + len)
                })
                .is_err()
            {
                return Err(format!(
                    "{}: full (quota {}, {} used, {} more needed)",
                    self.name(i),
                    ByteSize(limit),
                    ByteSize(used.load(Ordering::Relaxed)),
                    ByteSize(len)
                ));
            }
        }
        match self.store(i).write(path, data).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if limit.is_some()
                    && let Some(used) = self.quotas()[i].used.get()
                {
                    used.fetch_sub(len, Ordering::AcqRel);
                }
                Err(e.to_string())
            }
        }
    }
}
