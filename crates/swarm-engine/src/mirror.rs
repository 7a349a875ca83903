//! mirror: one store holds whole copies of keys, every chunk restorable from it alone
//! (`full_copies` in the definition; a node mirrors the keys it is a holder of).
//!
//! A whole copy on a store is k distinct shards of each chunk (data shards preferred: then no
//! decoding is needed to read it) and a copy of the key's manifest. What the store lacks is
//! fetched through the scheduler from every store at once (so a slow holder is raced), restored,
//! re-encoded, checked against the manifest's hashes and written to it; the manifest goes last,
//! so a manifest on the store means the copy is whole. What the store holds is learned from one
//! listing, not a request per shard.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use swarm_core::erasure::Coding;
use swarm_core::ids::{Hash32, StoreId};
use swarm_core::key::{Key, Printable};
use swarm_core::manifest::{Body, ChunkRecord, Manifest};
use swarm_store::{Class, Object};
use tokio::sync::mpsc;

use crate::fetch::plan::Tuning;
use crate::fetch::{Chunks, FetchItem};
use crate::locks::WriteLock;
use crate::progress::Quiet;
use crate::restore::{Restored, reencode};
use crate::swarm::Members;
use crate::{EngineError, Swarm};

/// What mirroring one key did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MirrorReport {
    pub key: String,
    pub chunks: usize,
    /// Chunks that lacked shards on the store.
    pub chunks_filled: usize,
    pub shards_written: usize,
    pub bytes_written: u64,
    pub manifest_written: bool,
    /// The store holds the whole key now.
    pub whole: bool,
    pub error: Option<String>,
}

/// A chunk short of shards on the store: the indexes to write.
struct Short {
    record: ChunkRecord,
    want: Vec<usize>,
}

impl Swarm {
    /// Makes `store` hold whole copies of `keys` (every key when empty).
    pub async fn mirror(
        &self,
        keys: &[Key],
        store: &StoreId,
    ) -> Result<Vec<MirrorReport>, EngineError> {
        self.mirror_where(keys, store, |_| true).await
    }

    /// The same for the keys of `keys` (every key when empty) that `wanted` picks, by their
    /// bytes: a node mirrors the keys it is a holder of.
    pub async fn mirror_where(
        &self,
        keys: &[Key],
        store: &StoreId,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<MirrorReport>, EngineError> {
        let members = self.members();
        let target = members
            .stores()
            .iter()
            .position(|m| m.id() == store)
            .ok_or_else(|| EngineError::Refused(format!("no store `{store}` in this swarm")))?;
        let (mut keys, unreadable) = members.keys_or_all(keys).await?;
        keys.retain(|k| wanted(k));
        let held = members.store(target).list(Class::Shards).await?;
        let held: HashSet<Hash32> = held
            .objects
            .iter()
            .filter_map(|l| match &l.object {
                Object::Shard(h) => Some(*h),
                _ => None,
            })
            .collect();
        // The writer's lock (which holds gc off) only once there is something to write: a
        // node runs this every round, mostly to find nothing to do.
        let mut lock = None;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(
                self.mirror_key(&members, target, &held, &key, &mut lock)
                    .await,
            );
        }
        for (name, why) in unreadable {
            out.push(MirrorReport {
                key: name,
                error: Some(format!("no readable copy of its manifest ({why})")),
                ..MirrorReport::default()
            });
        }
        Ok(out)
    }

    async fn mirror_key(
        &self,
        members: &Members,
        target: usize,
        held: &HashSet<Hash32>,
        key: &[u8],
        lock: &mut Option<WriteLock>,
    ) -> MirrorReport {
        let mut report = MirrorReport {
            key: Printable(key).to_string(),
            ..MirrorReport::default()
        };
        let manifest = match members.read_manifest(key).await {
            Ok(m) => m,
            Err(e) => {
                report.error = Some(e.to_string());
                return report;
            }
        };
        if let Body::Chunked { coding, chunks, .. } = &manifest.body {
            report.chunks = chunks.len();
            // Shards planned for an earlier chunk count as held: a repeated chunk is written once.
            let mut planned: HashSet<Hash32> = HashSet::new();
            let mut short = Vec::new();
            for c in chunks {
                let has = |h: &Hash32| held.contains(h) || planned.contains(h);
                // The shard the coded spread places on this store comes first: written here,
                // no one else has to send it (a super-seeded put leaves parity to the nodes).
                let own: Vec<usize> = members
                    .chunk_places(&c.id, c.shards.len())
                    .preferred
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| **s == Some(target))
                    .map(|(i, _)| i)
                    .collect();
                if let Some(s) = shortfall(*coding, c, &own, has) {
                    planned.extend(s.want.iter().map(|&i| c.shards[i]));
                    short.push(s);
                }
            }
            report.chunks_filled = short.len();
            if !short.is_empty() {
                if let Err(e) = self.take_lock(lock).await {
                    report.error = Some(e.to_string());
                    return report;
                }
                let tuning = Tuning::for_chunks(chunks.iter().map(|c| c.len).max().unwrap_or(0));
                match self
                    .fill(members, target, key, *coding, short, tuning)
                    .await
                {
                    Ok((n, bytes)) => {
                        report.shards_written = n;
                        report.bytes_written = bytes;
                    }
                    Err(e) => {
                        report.error = Some(e);
                        return report;
                    }
                }
            }
        }
        // Removed while this copy was made (an `rm` finds no copy on the target, which gets
        // its manifest last): not brought back. What was written is garbage for `gc`.
        if report.chunks_filled > 0
            && let Err(EngineError::NotPresent { .. }) = members.read_manifest(key).await
        {
            report.error = Some("removed while this copy was made: not kept".into());
            return report;
        }
        match write_manifest_to(self, lock, members, target, &manifest).await {
            Ok(written) => {
                report.manifest_written = written;
                report.whole = true;
            }
            Err(e) => report.error = Some(e.to_string()),
        }
        report
    }

    /// Takes the writer's lock if it is not held yet.
    async fn take_lock(&self, lock: &mut Option<WriteLock>) -> Result<(), EngineError> {
        if lock.is_none() {
            *lock = Some(self.writing("mirror").await?);
        }
        Ok(())
    }

    /// Fetches the short chunks and writes their missing shards to the target; the shards and
    /// bytes written.
    async fn fill(
        &self,
        members: &Members,
        target: usize,
        key: &[u8],
        coding: Coding,
        short: Vec<Short>,
        tuning: Tuning,
    ) -> Result<(usize, u64), String> {
        // The key's other holders are asked as readily as the spread: the fast ones carry more.
        let holders = members.holder_ids(key, Some(target));
        let name = Printable(key).to_string();
        let (fetch_tx, fetch_rx) = mpsc::unbounded_channel::<FetchItem>();
        let (restored_tx, mut restored_rx) = mpsc::channel::<Restored>(2);
        let pending: Mutex<VecDeque<Short>> = Mutex::new(VecDeque::new());
        for s in short {
            let item = FetchItem {
                record: s.record.clone(),
                coding,
                // The store lacks what it is to be written: not asked for it.
                avoid: s.want.iter().map(|&i| (i, target)).collect(),
                holders: Arc::clone(&holders),
            };
            if let Ok(mut p) = pending.lock() {
                p.push_back(s);
            }
            // The receiver lives until the fetch below ends.
            let _ = fetch_tx.send(item);
        }
        drop(fetch_tx);
        let fetching = self.fetch(
            members,
            &name,
            Chunks::Stream(fetch_rx),
            restored_tx,
            &Quiet,
            tuning,
        );
        let store = members.store(target);
        let writing = async {
            let (mut shards, mut bytes) = (0usize, 0u64);
            while let Some(chunk) = restored_rx.recv().await {
                let Some(s) = pending.lock().ok().and_then(|mut p| p.pop_front()) else {
                    break;
                };
                let all = reencode(coding, &s.record, chunk.contiguous(), s.want.clone())
                    .await
                    .map_err(|e| format!("chunk {}: {e}", s.record.id))?;
                for i in s.want {
                    let data: Bytes = all[i].clone();
                    let len = data.len() as u64;
                    store
                        .write(&Object::Shard(s.record.shards[i]), data)
                        .await
                        .map_err(|e| e.to_string())?;
                    shards += 1;
                    bytes += len;
                }
            }
            Ok::<_, String>((shards, bytes))
        };
        let (fetched, written) = tokio::join!(fetching, writing);
        let written = written?;
        fetched.map_err(|e| e.to_string())?;
        if pending.lock().map(|p| !p.is_empty()).unwrap_or(true) {
            return Err("not every short chunk was fetched".into());
        }
        Ok(written)
    }
}

/// The shards a store holding what `held` says lacks for a whole copy of this chunk: the
/// indexes `first` (the store's own slots in the coded spread, which no one else makes), then
/// data shards until k of the chunk's indexes are covered (a stored object covers every index
/// with its hash: shards of a chunk of zeros are equal); `None` when it has them all.
fn shortfall(
    coding: Coding,
    record: &ChunkRecord,
    first: &[usize],
    held: impl Fn(&Hash32) -> bool,
) -> Option<Short> {
    let want = whole_copy_slots(coding, &record.shards, first, held);
    (!want.is_empty()).then(|| Short {
        record: record.clone(),
        want,
    })
}

/// The indexes of `shards` a store holding what `held` says writes for a whole copy of the
/// chunk: its own slots `first`, then data shards until k indexes are covered. With nothing
/// held, what a holder of the key is expected to hold (a fetch asks holders for these first).
pub(crate) fn whole_copy_slots(
    coding: Coding,
    shards: &[Hash32],
    first: &[usize],
    held: impl Fn(&Hash32) -> bool,
) -> Vec<usize> {
    let k = usize::from(coding.k());
    let mut have: HashSet<Hash32> = shards.iter().filter(|h| held(h)).copied().collect();
    let covered = |have: &HashSet<Hash32>| shards.iter().filter(|h| have.contains(*h)).count();
    // The store's own slots always (no one else makes them), then data shards up to k.
    let mut want: Vec<usize> = Vec::new();
    for &i in first.iter().filter(|&&i| i < shards.len()) {
        if have.insert(shards[i]) {
            want.push(i);
        }
    }
    for (i, shard) in shards.iter().enumerate() {
        if covered(&have) >= k {
            break;
        }
        if have.insert(*shard) {
            want.push(i);
        }
    }
    want
}

/// Writes the manifest to the store unless it holds a copy already; whether it wrote one.
async fn write_manifest_to(
    swarm: &Swarm,
    lock: &mut Option<WriteLock>,
    members: &Members,
    target: usize,
    manifest: &Manifest,
) -> Result<bool, EngineError> {
    let object = Object::manifest_of(&manifest.key);
    let store = members.store(target);
    if store.stat(&object).await?.is_some() {
        return Ok(false);
    }
    swarm.take_lock(lock).await?;
    store
        .write(&object, members.encode_manifest(manifest)?)
        .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(shards: &[u8]) -> ChunkRecord {
        ChunkRecord {
            id: Hash32([0; 32]),
            len: 100,
            shards: shards.iter().map(|&b| Hash32([b; 32])).collect(),
        }
    }

    #[test]
    fn a_short_chunk_asks_for_data_shards_first() {
        let coding = Coding::new(3, 2).unwrap();
        let r = record(&[1, 2, 3, 4, 5]);
        let held: HashSet<Hash32> = [Hash32([4; 32])].into();
        assert_eq!(
            shortfall(coding, &r, &[], |h| held.contains(h))
                .unwrap()
                .want,
            vec![0, 1]
        );
        let held: HashSet<Hash32> = [1, 2, 5].iter().map(|&b| Hash32([b; 32])).collect();
        assert!(shortfall(coding, &r, &[], |h| held.contains(h)).is_none());
        assert_eq!(
            shortfall(coding, &r, &[], |_| false).unwrap().want,
            vec![0, 1, 2]
        );
    }

    #[test]
    fn the_stores_own_slot_comes_first() {
        // The coded spread puts parity shard 4 on this store: it is written here rather than
        // sent by another node, and the rest are data shards.
        let coding = Coding::new(3, 2).unwrap();
        let r = record(&[1, 2, 3, 4, 5]);
        assert_eq!(
            shortfall(coding, &r, &[4], |_| false).unwrap().want,
            vec![4, 0, 1]
        );
        let held: HashSet<Hash32> = [Hash32([5; 32])].into();
        assert_eq!(
            shortfall(coding, &r, &[4], |h| held.contains(h))
                .unwrap()
                .want,
            vec![0, 1]
        );
        // Whole already (k shards held) but not its own slot: the slot still.
        let held: HashSet<Hash32> = [1, 2, 3].iter().map(|&b| Hash32([b; 32])).collect();
        assert_eq!(
            shortfall(coding, &r, &[4], |h| held.contains(h))
                .unwrap()
                .want,
            vec![4]
        );
        let held: HashSet<Hash32> = [1, 2, 3, 5].iter().map(|&b| Hash32([b; 32])).collect();
        assert!(shortfall(coding, &r, &[4], |h| held.contains(h)).is_none());
        // An index past the record (another coding's placement) is ignored.
        assert_eq!(
            shortfall(coding, &r, &[9], |_| false).unwrap().want,
            vec![0, 1, 2]
        );
    }

    #[test]
    fn one_object_covers_equal_shards() {
        // A chunk of zeros has equal shards: one object covers them all.
        let coding = Coding::new(2, 1).unwrap();
        let held: HashSet<Hash32> = [Hash32([7; 32])].into();
        assert!(shortfall(coding, &record(&[7, 7, 7]), &[], |h| held.contains(h)).is_none());
        assert_eq!(
            shortfall(coding, &record(&[7, 7, 7]), &[], |_| false)
                .unwrap()
                .want,
            vec![0]
        );
        // Two equal data shards held, one index short of... none: 2 of 3 covered.
        assert!(shortfall(coding, &record(&[7, 7, 9]), &[], |h| held.contains(h)).is_none());
        let held: HashSet<Hash32> = [Hash32([9; 32])].into();
        assert_eq!(
            shortfall(coding, &record(&[7, 7, 9]), &[], |h| held.contains(h))
                .unwrap()
                .want,
            vec![0]
        );
    }
}
