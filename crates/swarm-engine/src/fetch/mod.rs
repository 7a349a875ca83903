//! get's download scheduler: pulls a file's chunks from every store that holds useful shards at
//! once, each store as fast as it goes, races late requests and drops stores that fail or hang.
//!
//! [`plan::Plan`] makes every decision; this driver sends its requests, feeds back the answers and
//! the clock, restores ready chunks on the CPU pool and hands them on in order. States and
//! transitions are in `STATE.md` beside this file.

pub(crate) mod plan;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::{AbortHandle, abortable};
use futures::stream::FuturesUnordered;
use serde::Serialize;
use swarm_core::erasure::Coding;
use swarm_core::ids::Hash32;
use swarm_core::manifest::ChunkRecord;
use tokio::sync::mpsc;

use crate::progress::Observer;
use crate::swarm::FaultKind;
use crate::{EngineError, Swarm, cpu};
use plan::{ChunkSpec, Plan, ReqId, Tuning, Verdict};

/// How often the driver checks for overdue and hung requests.
const TICK: Duration = Duration::from_millis(50);

/// What one store did during a get.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreReport {
    pub store: String,
    /// Bytes of good shards received.
    pub bytes: u64,
    pub requests: u64,
    /// Bytes per second while the store had requests in flight.
    pub speed: f64,
    /// Bytes received and not used (corrupt, or late for a finished chunk).
    pub wasted_bytes: u64,
    /// Requests abandoned because another store answered first or the store was dropped.
    pub cancelled: u64,
    /// Requests made to race a late one.
    pub races: u64,
    pub missing: u64,
    pub corrupt: u32,
    /// Why the store stopped being used, if it did.
    pub dropped: Option<String>,
}

/// What a fetch did, beyond the bytes.
#[derive(Debug, Default)]
pub(crate) struct FetchSummary {
    pub stores: Vec<StoreReport>,
    pub chunks_decoded: usize,
    pub problems: Vec<String>,
}

impl Swarm {
    /// Fetches `records` (chunks of `key`, coded with `coding`) and sends each restored chunk, as
    /// its pieces in order, down `out`, in chunk order.
    pub(crate) async fn fetch_chunks(
        &self,
        key: &str,
        coding: Coding,
        records: &[ChunkRecord],
        out: mpsc::Sender<Vec<Bytes>>,
        obs: &dyn Observer,
        tuning: Tuning,
    ) -> Result<FetchSummary, EngineError> {
        let k = usize::from(coding.k());
        let total = coding.total();
        let specs = records
            .iter()
            .map(|r| {
                let places = self.chunk_places(&r.id, total);
                let candidates = (0..total)
                    .map(|i| {
                        let mut c: Vec<usize> = places.preferred[i].into_iter().collect();
                        for s in places.elsewhere(i) {
                            if !c.contains(&s) {
                                c.push(s);
                            }
                        }
                        c
                    })
                    .collect();
                ChunkSpec {
                    len: u64::from(r.len),
                    shard_len: coding.shard_len(r.len as usize) as u64,
                    candidates,
                }
            })
            .collect();
        let slots = self.slots();
        let labels: Vec<String> = (0..slots.len()).map(|s| self.name(s)).collect();
        let connections: Vec<usize> = (0..slots.len()).map(|s| self.connections(s)).collect();
        let down: Vec<Option<String>> = slots
            .iter()
            .map(|s| s.down.as_ref().map(|w| format!("unavailable: {w}")))
            .collect();
        let mut plan = Plan::new(k, specs, labels.clone(), &connections, &down, tuning);

        let mut requests = FuturesUnordered::new();
        let mut aborts: HashMap<ReqId, AbortHandle> = HashMap::new();
        let mut restoring = FuturesUnordered::new();
        let mut restored: BTreeMap<usize, Vec<Bytes>> = BTreeMap::new();
        let mut next_out = 0usize;
        let mut decoded = 0usize;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let result = 'run: loop {
            while let Some(pieces) = restored.remove(&next_out) {
                plan.release_front();
                next_out += 1;
                if out.send(pieces).await.is_err() {
                    break 'run Err(EngineError::Refused("output writer stopped".into()));
                }
            }
            if plan.finished() {
                break Ok(());
            }
            if let Some((n, detail)) = plan.stuck() {
                break Err(EngineError::Unrestorable {
                    key: key.to_owned(),
                    detail: format!("chunk {n}: {detail}"),
                });
            }
            let now = tokio::time::Instant::now().into_std();
            for r in plan.next_requests(now) {
                let hash = records[r.chunk].shards[r.shard];
                let (fut, handle) = abortable(self.ask(r.store, hash));
                aborts.insert(r.id, handle);
                let id = r.id;
                requests.push(async move { (id, fut.await) });
            }
            if requests.is_empty() && restoring.is_empty() && restored.is_empty() {
                break Err(EngineError::Unrestorable {
                    key: key.to_owned(),
                    detail: format!("chunk {next_out}: no store left to ask"),
                });
            }
            tokio::select! {
                Some((id, answer)) = requests.next(), if !requests.is_empty() => {
                    aborts.remove(&id);
                    let Ok(verdict) = answer else { continue };
                    if let (Verdict::Good(b), Some(r)) = (&verdict, plan.request(id)) {
                        obs.store_advance(&labels[r.store], b.len() as u64);
                    }
                    let now = tokio::time::Instant::now().into_std();
                    let step = plan.on_result(id, verdict, now);
                    cancel(&mut aborts, &step.cancel);
                    if let Some(n) = step.ready {
                        let shards = plan.take_shards(n);
                        let record = records[n].clone();
                        restoring.push(async move { (n, restore(coding, &record, shards).await) });
                    }
                }
                Some((n, pieces)) = restoring.next(), if !restoring.is_empty() => {
                    match pieces {
                        Ok((pieces, was_decoded)) => {
                            decoded += usize::from(was_decoded);
                            restored.insert(n, pieces);
                        }
                        Err(e) => break Err(EngineError::Unrestorable {
                            key: key.to_owned(),
                            detail: format!("chunk {n}: {e}"),
                        }),
                    }
                }
                _ = ticker.tick() => {
                    let now = tokio::time::Instant::now().into_std();
                    let dropped = plan.tick(now);
                    cancel(&mut aborts, &dropped);
                }
            }
        };
        for handle in aborts.values() {
            handle.abort();
        }
        let stores = plan
            .tallies()
            .zip(&labels)
            .map(|(t, name)| StoreReport {
                store: name.clone(),
                bytes: t.bytes,
                requests: t.requests,
                speed: if t.busy.is_zero() {
                    0.0
                } else {
                    t.bytes as f64 / t.busy.as_secs_f64()
                },
                wasted_bytes: t.wasted,
                cancelled: t.cancelled,
                races: t.races,
                missing: t.missing,
                corrupt: t.corrupt,
                dropped: t.dropped.clone(),
            })
            .collect();
        for (t, name) in plan.tallies().zip(&labels) {
            if let Some(why) = &t.dropped
                && !why.starts_with("unavailable")
            {
                obs.store_dropped(name, why);
            }
        }
        let summary = FetchSummary {
            stores,
            chunks_decoded: decoded,
            problems: plan.problems().map(str::to_owned).collect(),
        };
        result.map(|()| summary)
    }

    /// Asks store `s` for a shard and judges the answer.
    async fn ask(&self, s: usize, hash: Hash32) -> Verdict {
        match self.read_shard(s, hash).await {
            Ok(bytes) => Verdict::Good(bytes),
            Err(f) => match f.kind {
                FaultKind::Missing => Verdict::Missing,
                FaultKind::Corrupt => Verdict::Corrupt,
                FaultKind::Unavailable(_) | FaultKind::Io(_) => Verdict::Failed(f.to_string()),
            },
        }
    }
}

fn cancel(aborts: &mut HashMap<ReqId, AbortHandle>, ids: &[ReqId]) {
    for id in ids {
        if let Some(h) = aborts.remove(id) {
            h.abort();
        }
    }
}

/// Turns k good shards into the chunk's bytes (its data shards cut at its length when all are
/// there, else the decoded chunk) and checks the chunk id. Runs on the CPU pool.
async fn restore(
    coding: Coding,
    record: &ChunkRecord,
    shards: Vec<Option<Bytes>>,
) -> Result<(Vec<Bytes>, bool), String> {
    let k = usize::from(coding.k());
    let len = record.len as usize;
    let id = record.id;
    cpu(move || {
        let decoded = shards[..k].iter().any(Option::is_none);
        let pieces = if decoded {
            vec![coding.decode(len, &shards).map_err(|e| e.to_string())?]
        } else {
            let mut left = len;
            shards[..k]
                .iter()
                .flatten()
                .map_while(|b| {
                    let take = left.min(b.len());
                    left -= take;
                    (take > 0).then(|| b.slice(..take))
                })
                .collect()
        };
        let mut h = blake3::Hasher::new();
        for p in &pieces {
            h.update(p);
        }
        if Hash32(*h.finalize().as_bytes()) != id {
            return Err("restored chunk does not match its id".to_owned());
        }
        Ok((pieces, decoded))
    })
    .await
}
