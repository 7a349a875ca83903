//! repair: bring keys back to full health.
//!
//! For each key, a pipeline: the survey reads and checks every shard (many chunks at once); a
//! chunk with missing or corrupt shards and at least k good ones is fetched through the
//! scheduler (so a slow or hung store is raced and dropped, as in a get, and known-bad copies
//! are not asked), restored, re-encoded, checked against its manifest's hashes, and its
//! missing shards are written by the placer to their preferred store or a spare. Surveying,
//! fetching and writing overlap. Missing manifest copies are rewritten last.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use serde::Serialize;
use swarm_core::erasure::Coding;
use swarm_core::ids::{Hash32, StoreId};
use swarm_core::key::{Key, Printable};
use swarm_core::manifest::{Body, ChunkRecord};
use swarm_store::{Class, Object};
use tokio::sync::mpsc;

use crate::fetch::plan::Tuning;
use crate::fetch::{Chunks, FetchItem};
use crate::fsck::{ChunkSurvey, KeyHealth, Survey, missing};
use crate::placer::ShardToPlace;
use crate::progress::{Event, Observer, Quiet};
use crate::restore::{Restored, reencode};
use crate::swarm::Members;
use crate::{EngineError, Swarm};

#[derive(Debug, Clone, Serialize)]
pub struct RepairReport {
    pub key: String,
    pub shards_rewritten: usize,
    pub manifests_rewritten: usize,
    pub before: KeyHealth,
    pub after: Option<KeyHealth>,
    pub error: Option<String>,
}

/// Chunks surveyed at once, in any order: a slow store's share of the checks must not hold
/// the others' (and the fetches and writes) back; each holds its shards until it is checked,
/// so fewer of big chunks (at most about 384 MiB of shards in all).
fn survey_ahead(max_chunk: u32) -> usize {
    let per_chunk = (u64::from(max_chunk) * 2).max(1);
    ((384u64 << 20) / per_chunk).clamp(4, 32) as usize
}

/// The shards each store listed, by store index (empty for a store that is down).
pub(crate) struct Listed(Vec<HashSet<Hash32>>);

impl Listed {
    async fn of(members: &Members) -> Result<Listed, EngineError> {
        let listings = members.list_everywhere(Class::Shards).await?;
        Ok(Listed(
            listings
                .into_iter()
                .map(|l| {
                    l.objects
                        .into_iter()
                        .filter_map(|o| match o.object {
                            Object::Shard(h) => Some(h),
                            _ => None,
                        })
                        .collect()
                })
                .collect(),
        ))
    }

    /// A chunk's survey from the listings: each shard found on its preferred store, else
    /// elsewhere, one shard a store (as a read survey counts them); nothing is corrupt, since
    /// nothing is read. A shard whose preferred store is one of `leave` counts as there: that
    /// store's owner makes it (a node holding the key whole fills its own slot).
    fn survey(
        &self,
        members: &Members,
        coding: Coding,
        n: usize,
        record: &ChunkRecord,
        leave: &[usize],
    ) -> ChunkSurvey {
        let places = members.chunk_places(&record.id, coding.total());
        let holds = |s: usize, h: &Hash32| self.0.get(s).is_some_and(|set| set.contains(h));
        // Preferred stores first, for every shard; then elsewhere for the rest (so a shard
        // found elsewhere never takes a store that holds another shard where it belongs).
        let mut found: Vec<Option<usize>> = record
            .shards
            .iter()
            .enumerate()
            .map(|(i, h)| {
                places
                    .preferred
                    .get(i)
                    .copied()
                    .flatten()
                    .filter(|&s| leave.contains(&s) || holds(s, h))
            })
            .collect();
        let mut problems = Vec::new();
        for (i, h) in record.shards.iter().enumerate() {
            if found[i].is_some() {
                continue;
            }
            match places
                .elsewhere(i)
                .find(|&s| !found.contains(&Some(s)) && holds(s, h))
            {
                Some(s) => found[i] = Some(s),
                None => problems.push(format!("chunk {n} shard {i}: listed on no store")),
            }
        }
        ChunkSurvey {
            found,
            corrupt: Vec::new(),
            problems,
        }
    }
}

/// A damaged chunk on its way through the pipeline.
struct Damaged {
    n: usize,
    record: ChunkRecord,
    survey: ChunkSurvey,
}

impl Swarm {
    /// Re-creates missing or corrupt shards and manifest copies of the given keys (all when
    /// empty).
    pub async fn repair(
        &self,
        keys: &[Key],
        obs: &dyn Observer,
    ) -> Result<Vec<RepairReport>, EngineError> {
        let _lock = self.writing("repair").await?;
        let members = self.members();
        let (keys, unreadable) = members.keys_or_all(keys).await?;
        obs.event(Event::Started {
            op: "repair",
            total: keys.len() as u64,
        });
        let mut out = Vec::new();
        for key in keys {
            out.push(self.repair_key(&members, &key, None).await);
            obs.event(Event::Advanced(1));
        }
        for (name, why) in unreadable {
            out.push(RepairReport {
                key: name.clone(),
                shards_rewritten: 0,
                manifests_rewritten: 0,
                before: missing(name.as_bytes(), why.clone()),
                after: None,
                error: Some(format!(
                    "cannot repair: no readable copy of its manifest ({why})"
                )),
            });
        }
        obs.event(Event::Finished);
        Ok(out)
    }

    /// Repairs, among all keys, those `wanted` picks whose shards the stores' listings show
    /// missing: one listing of each store, then for each damaged chunk k shards read (through
    /// the scheduler) and the missing ones written. No shard is read to check it: a node runs
    /// this every round, and reads only for what was lost. Keys whose shards are all listed are
    /// not reported. Shards whose preferred store is one of `left_to(key)` are not made: that
    /// store's owner makes them (a node holding the key whole fills its own slot).
    pub async fn repair_missing(
        &self,
        wanted: impl Fn(&[u8]) -> bool,
        left_to: impl Fn(&[u8]) -> Vec<StoreId>,
    ) -> Result<Vec<RepairReport>, EngineError> {
        let members = self.members();
        let (mut keys, _) = members.keys_or_all(&[]).await?;
        keys.retain(|k| wanted(k));
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let listed = Listed::of(&members).await?;
        // The writer's lock (which holds gc off) only once a key needs a repair.
        let mut lock = None;
        let mut out = Vec::new();
        for key in keys {
            let Ok(manifest) = members.read_manifest(&key).await else {
                continue;
            };
            let leave: Vec<usize> = left_to(&key)
                .iter()
                .filter_map(|id| members.stores().iter().position(|m| m.id() == id))
                .collect();
            let damaged = match &manifest.body {
                Body::Chunked { coding, chunks, .. } => chunks.iter().enumerate().any(|(n, c)| {
                    !listed
                        .survey(&members, *coding, n, c, &leave)
                        .missing()
                        .is_empty()
                }),
                Body::Inline(_) => false,
            };
            if damaged {
                if lock.is_none() {
                    lock = Some(self.writing("repair").await?);
                }
                out.push(
                    self.repair_key(&members, &key, Some((&listed, &leave)))
                        .await,
                );
            }
        }
        Ok(out)
    }

    async fn repair_key(
        &self,
        members: &Members,
        key: &[u8],
        listed: Option<(&Listed, &[usize])>,
    ) -> RepairReport {
        let name = Printable(key).to_string();
        let failed = |e: EngineError| RepairReport {
            key: name.clone(),
            shards_rewritten: 0,
            manifests_rewritten: 0,
            before: missing(key, e.to_string()),
            after: None,
            error: Some(e.to_string()),
        };
        let copies = members.manifest_copies(key).await;
        if let Some(conflict) = copies.conflict(members) {
            // Repairing would spread one of them: left for the user.
            return failed(EngineError::Refused(format!("not repaired: {conflict}")));
        }
        let manifest = match copies.manifest {
            Some(m) => m,
            None => match members.read_manifest(key).await {
                Ok(m) => m,
                Err(e) => return failed(e),
            },
        };
        let mut errors = Vec::new();
        let mut rewritten = 0;
        let chunks = match &manifest.body {
            Body::Chunked {
                coding,
                chunks,
                chunker,
            } => {
                let tuning = Tuning::for_chunks(chunker.max_chunk());
                let (surveys, w, e) = self
                    .repair_chunks(members, &name, *coding, chunks, tuning, listed)
                    .await;
                rewritten = w;
                errors.extend(e);
                surveys
            }
            Body::Inline(_) => Vec::new(),
        };
        let mut problems = copies.problems;
        for c in &chunks {
            problems.extend(c.problems.iter().cloned());
        }
        let survey = Survey {
            manifest,
            chunks,
            manifest_at: copies.at,
            problems,
        };
        let before = members.health(&survey);
        let manifests = match members
            .write_manifest(&survey.manifest, &survey.manifest_at)
            .await
        {
            Ok(w) => w,
            Err(e) => {
                errors.push(e.to_string());
                0
            }
        };
        let after = Some(match members.survey(key, false).await {
            Ok(s) => members.health(&s),
            Err(e) => missing(key, e.to_string()),
        });
        RepairReport {
            key: name,
            shards_rewritten: rewritten,
            manifests_rewritten: manifests,
            before,
            after,
            error: (!errors.is_empty()).then(|| errors.join("; ")),
        }
    }

    /// Surveys every chunk (contents checked) and repairs the damaged ones; returns the
    /// surveys (as before the repair), the shards written and the errors.
    async fn repair_chunks(
        &self,
        members: &Members,
        key: &str,
        coding: Coding,
        chunks: &[ChunkRecord],
        tuning: Tuning,
        listed: Option<(&Listed, &[usize])>,
    ) -> (Vec<ChunkSurvey>, usize, Vec<String>) {
        let k = usize::from(coding.k());
        // Unbounded (items are a chunk's record, the manifest is in memory anyway), so the
        // survey never stops polling its reads to wait for the fetcher: reads holding a store's
        // connections while not polled would starve the writer of them.
        let (fetch_tx, fetch_rx) = mpsc::unbounded_channel::<FetchItem>();
        let (restored_tx, mut restored_rx) = mpsc::channel::<Restored>(2);
        // Chunks sent to the fetcher, in order, waiting for their bytes.
        let pending: Mutex<VecDeque<Damaged>> = Mutex::new(VecDeque::new());
        let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let error = |e: String| {
            if let Ok(mut errs) = errors.lock() {
                errs.push(e);
            }
        };

        let ahead = survey_ahead(chunks.iter().map(|c| c.len).max().unwrap_or(0));
        let surveying = async {
            let mut surveys: Vec<Option<ChunkSurvey>> = vec![None; chunks.len()];
            let mut stream = std::pin::pin!(
                futures::stream::iter(0..chunks.len())
                    .map(|n| async move {
                        let record = &chunks[n];
                        let survey = match listed {
                            Some((l, leave)) => l.survey(members, coding, n, record, leave),
                            None => members.survey_chunk(coding, n, record, true).await,
                        };
                        (n, record, survey)
                    })
                    .buffer_unordered(ahead)
            );
            while let Some((n, record, survey)) = stream.next().await {
                let damaged = !survey.missing().is_empty();
                if damaged && survey.good() < k {
                    error(format!(
                        "chunk {n}: only {} good shards of the {k} needed",
                        survey.good()
                    ));
                } else if damaged {
                    let item = FetchItem {
                        record: record.clone(),
                        coding,
                        avoid: survey.corrupt.clone(),
                        // The survey read every shard: no need to guess where copies are.
                        holders: Arc::from([]),
                    };
                    if let Ok(mut p) = pending.lock() {
                        p.push_back(Damaged {
                            n,
                            record: record.clone(),
                            survey: survey.clone(),
                        });
                    }
                    if fetch_tx.send(item).is_err() {
                        // The fetcher stopped; its error is reported.
                        break;
                    }
                }
                surveys[n] = Some(survey);
            }
            drop(fetch_tx);
            Ok::<_, EngineError>(surveys.into_iter().flatten().collect::<Vec<_>>())
        };
        let fetching = self.fetch(
            members,
            key,
            Chunks::Stream(fetch_rx),
            restored_tx,
            &Quiet,
            tuning,
        );
        let writing = async {
            let mut written = 0;
            while let Some(chunk) = restored_rx.recv().await {
                let Some(d) = pending.lock().ok().and_then(|mut p| p.pop_front()) else {
                    break;
                };
                match self.rewrite(members, coding, &d, chunk).await {
                    Ok(w) => written += w,
                    Err(e) => error(format!("chunk {}: {e}", d.n)),
                }
            }
            Ok::<_, EngineError>(written)
        };
        let (surveys, fetched, written) = tokio::join!(surveying, fetching, writing);
        let mut errors = errors.into_inner().unwrap_or_default();
        if let Err(e) = fetched {
            errors.push(e.to_string());
        }
        let surveys = surveys.unwrap_or_default();
        (surveys, written.unwrap_or(0), errors)
    }

    /// Writes the missing shards of a restored chunk, and deletes corrupt copies left where the
    /// good one did not go.
    async fn rewrite(
        &self,
        members: &Members,
        coding: Coding,
        d: &Damaged,
        chunk: Restored,
    ) -> Result<usize, String> {
        let missing = d.survey.missing();
        let all = reencode(coding, &d.record, chunk.contiguous(), missing.clone())
            .await
            .map_err(|e| e.to_string())?;
        let holders: Vec<usize> = d.survey.found.iter().flatten().copied().collect();
        let shards: Vec<ShardToPlace> = missing
            .iter()
            .map(|&i| ShardToPlace {
                index: i,
                data: all[i].clone(),
                hash: d.record.shards[i],
            })
            .collect();
        let placed = members
            .place(
                &d.record.id,
                d.record.len as usize,
                coding.total(),
                &shards,
                &holders,
                false,
            )
            .await
            .map_err(|e| e.to_string())?;
        // A corrupt copy on a store that did not get the new one is garbage now.
        for &(i, store) in &d.survey.corrupt {
            if !placed.at.contains(&(i, store)) {
                let object = Object::Shard(d.record.shards[i]);
                let _ = members.store(store).delete(&object).await;
            }
        }
        Ok(placed.written)
    }
}
