//! fsck: how healthy each key is.
//!
//! Health is how many more stores may be lost before a key is lost: the least, over its chunks,
//! of good shards minus k, and of manifest copies minus one (each store holds at most one shard
//! of a chunk, so one lost store costs each chunk at most one shard). The survey of a chunk
//! ([`Members::survey_chunk`]) is shared with repair.

use futures::StreamExt;
use futures::future::join_all;
use serde::Serialize;
use swarm_core::erasure::Coding;
use swarm_core::ids::Hash32;
use swarm_core::key::{Key, Printable};
use swarm_core::manifest::{Body, ChunkRecord, Manifest};
use swarm_store::{Health, Object};

use crate::progress::{Event, Observer};
use crate::restore::{reencode, restore};
use crate::swarm::{FaultKind, Members, ShardFault};
use crate::{EngineError, Swarm};

const KEYS_IN_FLIGHT: usize = 4;
/// Chunks surveyed at once per key.
pub(crate) const CHUNKS_AHEAD: usize = 8;

#[derive(Debug, Clone, Serialize)]
pub struct KeyHealth {
    pub key: String,
    pub size: u64,
    pub chunks: usize,
    pub shards_expected: usize,
    pub shards_healthy: usize,
    pub manifest_copies: usize,
    pub restorable: bool,
    /// Stores that may still be lost without losing the key; negative when already lost.
    pub spare: i64,
    pub problems: Vec<String>,
}

/// What the survey of one chunk found.
#[derive(Debug, Clone)]
pub(crate) struct ChunkSurvey {
    /// Per shard, the store holding a good copy.
    pub found: Vec<Option<usize>>,
    /// (shard, store) of copies that exist but are bad.
    pub corrupt: Vec<(usize, usize)>,
    pub problems: Vec<String>,
}

impl ChunkSurvey {
    pub fn good(&self) -> usize {
        self.found.iter().flatten().count()
    }

    pub fn missing(&self) -> Vec<usize> {
        (0..self.found.len())
            .filter(|&i| self.found[i].is_none())
            .collect()
    }
}

/// What one key's survey found.
pub(crate) struct Survey {
    pub manifest: Manifest,
    pub chunks: Vec<ChunkSurvey>,
    pub manifest_at: Vec<usize>,
    pub problems: Vec<String>,
}

impl Swarm {
    /// Health of the given keys (every key in the swarm when `keys` is empty). With `verify`,
    /// shard contents are read and hashed, not just found.
    pub async fn fsck(
        &self,
        keys: &[Key],
        verify: bool,
        obs: &dyn Observer,
    ) -> Result<Vec<KeyHealth>, EngineError> {
        let members = self.members();
        let (keys, unreadable) = members.keys_or_all(keys).await?;
        obs.event(Event::Started {
            op: "fsck",
            total: keys.len() as u64,
        });
        // Index-based futures (not closures over borrowed items) keep the whole future `Send`.
        let members = &members;
        let keys = &keys;
        let mut out: Vec<KeyHealth> = futures::stream::iter(0..keys.len())
            .map(|n| members.key_health(&keys[n], verify, obs))
            .buffered(KEYS_IN_FLIGHT)
            .collect()
            .await;
        out.extend(
            unreadable
                .into_iter()
                .map(|(name, why)| missing(name.as_bytes(), why)),
        );
        obs.event(Event::Finished);
        Ok(out)
    }
}

impl Members {
    async fn key_health(&self, key: &[u8], verify: bool, obs: &dyn Observer) -> KeyHealth {
        let h = match self.survey(key, verify).await {
            Ok(s) => self.health(&s),
            Err(e) => missing(key, e.to_string()),
        };
        obs.event(Event::Advanced(1));
        h
    }

    /// The keys asked for, or every key with a readable manifest plus, for each manifest no
    /// store could give a valid copy of, a name ("unreadable manifest PATH") and why.
    pub(crate) async fn keys_or_all(
        &self,
        keys: &[Key],
    ) -> Result<(Vec<Vec<u8>>, Vec<(String, String)>), EngineError> {
        if !keys.is_empty() {
            return Ok((
                keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
                Vec::new(),
            ));
        }
        let catalog = self.catalog(false).await?;
        let manifests = catalog.manifests;
        let unreadable = catalog
            .unreadable
            .into_iter()
            .map(|(path, why)| (format!("unreadable manifest {path}"), why))
            .collect();
        Ok((manifests.into_keys().collect(), unreadable))
    }

    /// Surveys every chunk of `key` (presence and size, or with `verify` the contents).
    pub(crate) async fn survey(&self, key: &[u8], verify: bool) -> Result<Survey, EngineError> {
        let copies = self.manifest_copies(key).await;
        if copies.manifest.is_none() {
            // No valid copy: let read_manifest say where it looked and what it found.
            self.read_manifest(key).await?;
        }
        let conflict = copies.conflict(self);
        // Copies that disagree: each is surveyed, and the healthiest one reported, with the
        // conflict among its problems (a lying copy never outvotes an honest one).
        let mut best: Option<Survey> = None;
        let holders = std::iter::once(&copies.at).chain(copies.others.iter().map(|(_, at)| at));
        for (manifest, at) in copies.candidates().zip(holders) {
            let mut problems = copies.problems.clone();
            problems.extend(conflict.clone());
            let chunks = match &manifest.body {
                Body::Chunked { coding, chunks, .. } => {
                    futures::stream::iter(0..chunks.len())
                        .map(|n| self.survey_chunk(*coding, n, &chunks[n], verify))
                        .buffered(CHUNKS_AHEAD)
                        .collect::<Vec<_>>()
                        .await
                }
                Body::Inline(_) => Vec::new(),
            };
            for c in &chunks {
                problems.extend(c.problems.iter().cloned());
            }
            let survey = Survey {
                manifest: manifest.clone(),
                chunks,
                manifest_at: at.clone(),
                problems,
            };
            let better = best
                .as_ref()
                .is_none_or(|b| self.health(&survey).spare > self.health(b).spare);
            if better {
                best = Some(survey);
            }
        }
        best.ok_or_else(|| EngineError::Internal("no manifest to survey".into()))
    }

    /// Where each shard of a chunk is healthy: on its preferred store, else on a spare or a
    /// store an older store list preferred (a store counts once per chunk: losing it loses one
    /// shard).
    /// Where each shard of a chunk is healthy: on its preferred store, else on a spare or a
    /// store an older store list preferred (a store counts once per chunk: losing it loses one
    /// shard). With `verify`, shards are read and hashed, and the chunk is restored from k of
    /// them and encoded again: every shard must be what the manifest says and the chunk what
    /// its id says, so a manifest with swapped shard hashes or a wrong chunk id is caught.
    pub(crate) async fn survey_chunk(
        &self,
        coding: Coding,
        n: usize,
        record: &ChunkRecord,
        verify: bool,
    ) -> ChunkSurvey {
        let total = coding.total();
        let places = self.chunk_places(&record.id, total);
        let shard_len = coding.shard_len(record.len as usize) as u64;
        // A good copy: with `verify`, its bytes (checked against their hash).
        let probe = |store: usize, hash: Hash32| async move {
            let fault = |kind| ShardFault {
                store: self.name(store),
                kind,
            };
            if let Health::Down(why) = self.store(store).health() {
                return Err(fault(FaultKind::Unavailable(why.to_string())));
            }
            if verify {
                return self.read_shard(store, hash, shard_len).await.map(Some);
            }
            match self.store(store).stat(&Object::Shard(hash)).await {
                Ok(Some(m)) if m.size == shard_len => Ok(None),
                Ok(Some(_)) => Err(fault(FaultKind::Corrupt)),
                Ok(None) => Err(fault(FaultKind::Missing)),
                Err(e) => Err(fault(FaultKind::Io(e.to_string()))),
            }
        };
        let places = &places;
        let primary = join_all((0..places.preferred.len().min(record.shards.len())).map(
            |i| async move {
                match places.preferred[i] {
                    Some(s) => probe(s, record.shards[i]).await.map(|b| (s, b)),
                    None => Err(ShardFault {
                        store: "(no store)".into(),
                        kind: FaultKind::Missing,
                    }),
                }
            },
        ))
        .await;
        let mut found: Vec<Option<usize>> = vec![None; primary.len()];
        let mut bytes: Vec<Option<bytes::Bytes>> = vec![None; primary.len()];
        let mut faults = Vec::new();
        for (i, r) in primary.into_iter().enumerate() {
            match r {
                Ok((s, b)) => {
                    found[i] = Some(s);
                    bytes[i] = b;
                }
                Err(why) => faults.push((i, why)),
            }
        }
        let mut corrupt = Vec::new();
        let mut problems = Vec::new();
        for (i, why) in faults {
            if let (FaultKind::Corrupt, Some(store)) = (&why.kind, places.preferred[i]) {
                corrupt.push((i, store));
            }
            for other in places.elsewhere(i) {
                if self.up(other)
                    && !found.contains(&Some(other))
                    && let Ok(b) = probe(other, record.shards[i]).await
                {
                    found[i] = Some(other);
                    bytes[i] = b;
                    break;
                }
            }
            if found[i].is_none() {
                problems.push(format!("chunk {n} shard {i}: {why}"));
            }
        }
        if verify && found.iter().flatten().count() >= usize::from(coding.k()) {
            let k = usize::from(coding.k());
            // Any k good shards restore the chunk; it must match its id, and encode back to
            // every shard the manifest names.
            let mut some: Vec<Option<bytes::Bytes>> = vec![None; bytes.len()];
            for i in (0..bytes.len()).filter(|&i| bytes[i].is_some()).take(k) {
                some[i] = bytes[i].clone();
            }
            let all: Vec<usize> = (0..total).collect();
            let consistent = match restore(coding, record, some).await {
                Ok(chunk) => reencode(coding, record, chunk.contiguous(), all)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = consistent {
                problems.push(format!(
                    "chunk {n}: its shards do not make the chunk its manifest names ({e}): the manifest is wrong"
                ));
                found.iter_mut().for_each(|f| *f = None);
            }
        }
        ChunkSurvey {
            found,
            corrupt,
            problems,
        }
    }

    pub(crate) fn health(&self, s: &Survey) -> KeyHealth {
        let k = i64::from(self.coding_of(&s.manifest).k());
        let copies = s.manifest_at.len();
        let mut spare = copies as i64 - 1;
        let mut healthy = 0;
        let mut expected = 0;
        for chunk in &s.chunks {
            let good = chunk.good();
            healthy += good;
            expected += chunk.found.len();
            spare = spare.min(good as i64 - k);
        }
        KeyHealth {
            key: Printable(&s.manifest.key).to_string(),
            size: s.manifest.size,
            chunks: s.chunks.len(),
            shards_expected: expected,
            shards_healthy: healthy,
            manifest_copies: copies,
            restorable: spare >= 0,
            spare,
            problems: s.problems.clone(),
        }
    }

    pub(crate) fn coding_of(&self, m: &Manifest) -> Coding {
        match &m.body {
            Body::Chunked { coding, .. } => *coding,
            Body::Inline(_) => self.coding(),
        }
    }
}

/// The health of a key that is not there: `key` is its bytes, or a name for what was found.
pub(crate) fn missing(key: &[u8], why: String) -> KeyHealth {
    KeyHealth {
        key: Printable(key).to_string(),
        size: 0,
        chunks: 0,
        shards_expected: 0,
        shards_healthy: 0,
        manifest_copies: 0,
        restorable: false,
        spare: -1,
        problems: vec![why],
    }
}
