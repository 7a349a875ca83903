//! The download scheduler: pulls chunks from every store that holds useful shards at once,
//! each store as fast as it goes, races late requests and drops stores that fail or hang.
//! Gets, ranged reads and repairs all read through it.
//!
//! [`plan::Plan`] makes every decision; this driver sends its requests, feeds back the answers,
//! the clock and when a request really started (a store's connections are shared by the whole
//! process), restores ready chunks on the CPU pool and hands them on in order. It also follows
//! the swarm while it runs: a store that goes down is dropped, one that comes back (its check
//! passed) is used again, a store that joins (a reload) is asked too. States and transitions are
//! in `STATE.md` beside this file.

pub(crate) mod plan;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::{AbortHandle, abortable};
use futures::stream::FuturesUnordered;
use serde::Serialize;
use swarm_core::erasure::Coding;
use swarm_core::ids::{Hash32, StoreId};
use swarm_core::manifest::ChunkRecord;
use swarm_store::admission::{self, Admission};
use swarm_store::{Health, Object, Store, StoreError};
use tokio::sync::mpsc;

use crate::mirror::whole_copy_slots;
use crate::progress::{Event, Observer};
use crate::restore::{Restored, restore};
use crate::swarm::{Members, Swarm};
use crate::{EngineError, pool};
use plan::{ChunkSpec, Plan, ReqId, StoreIx, Tuning, Verdict};

/// How often the driver checks for overdue and hung requests, and follows the swarm.
const TICK: Duration = Duration::from_millis(50);

/// One chunk to fetch.
#[derive(Debug, Clone)]
pub(crate) struct FetchItem {
    pub record: ChunkRecord,
    pub coding: Coding,
    /// (shard, store) copies known to be bad: not asked.
    pub avoid: Vec<(usize, usize)>,
    /// Stores holding the key whole (its `full_copies` holders; not the one being filled):
    /// each is expected to hold its own slots and data shards up to k
    /// ([`whole_copy_slots`](crate::mirror::whole_copy_slots)), so any of them may be asked
    /// first for those, whichever has a free slot: the fast ones carry more.
    pub holders: Arc<[StoreId]>,
}

/// What one store did during a fetch.
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
    /// Requests that waited for a connection another operation of the process held (not
    /// counted against the store's speed).
    pub queued: u64,
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

/// Where the chunks to fetch come from.
pub(crate) enum Chunks {
    /// All known at the start.
    All(Vec<FetchItem>),
    /// Sent as they become known; the channel closing ends the fetch.
    Stream(mpsc::UnboundedReceiver<FetchItem>),
}

/// The stores a fetch uses, by the plan's index (the snapshot's, then those that joined).
struct Roster {
    stores: Vec<Arc<dyn Store>>,
    ids: Vec<StoreId>,
    /// The store was seen down since the plan dropped it: a later "up" means it is back.
    seen_down: Vec<bool>,
    /// Times each store was taken back: a store whose marker reads fine but whose shards hang
    /// would otherwise be taken back at every check.
    revived: Vec<u32>,
    generation: u64,
}

/// How many times one fetch takes a store back.
const MAX_REVIVALS: u32 = 3;

impl Swarm {
    /// Fetches `chunks` of `key` and sends each restored chunk down `out`, in order.
    pub(crate) async fn fetch(
        &self,
        members: &Members,
        key: &str,
        chunks: Chunks,
        out: mpsc::Sender<Restored>,
        obs: &dyn Observer,
        tuning: Tuning,
    ) -> Result<FetchSummary, EngineError> {
        let mut roster = Roster {
            stores: members
                .stores()
                .iter()
                .map(|m| Arc::clone(&m.store))
                .collect(),
            ids: members.stores().iter().map(|m| m.id().clone()).collect(),
            seen_down: vec![false; members.len()],
            revived: vec![0; members.len()],
            generation: self.generation(),
        };
        let labels: Vec<String> = roster.ids.iter().map(ToString::to_string).collect();
        let connections: Vec<usize> = members
            .stores()
            .iter()
            .map(|m| connections_of(&m.entry))
            .collect();
        let down: Vec<Option<String>> = roster
            .stores
            .iter()
            .map(|s| s.health().down().map(|w| format!("unavailable: {w}")))
            .collect();
        for (s, d) in down.iter().enumerate() {
            roster.seen_down[s] = d.is_some();
        }
        let mut plan = Plan::open(labels, &connections, &down, tuning);
        let mut items: Vec<FetchItem> = Vec::new();
        let mut incoming = match chunks {
            Chunks::All(all) => {
                for item in all {
                    plan.push(spec_of(members, &item));
                    items.push(item);
                }
                plan.close();
                None
            }
            Chunks::Stream(rx) => Some(rx),
        };

        let (admitted_tx, mut admitted_rx) = mpsc::unbounded_channel::<(ReqId, Admission)>();
        let mut requests = FuturesUnordered::new();
        let mut aborts: HashMap<ReqId, AbortHandle> = HashMap::new();
        let mut restoring = FuturesUnordered::new();
        let mut restored: BTreeMap<usize, Restored> = BTreeMap::new();
        let mut next_out = 0usize;
        let mut decoded = 0usize;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        // Chunks are handed on only when the reader has room, and never by waiting outside the
        // select below: requests not polled would hold their store's connections (which the
        // reader may need, as repair's writer does) while the reader waits for us.
        let result = 'run: loop {
            while restored.contains_key(&next_out) {
                match out.try_reserve() {
                    Ok(permit) => {
                        if let Some(chunk) = restored.remove(&next_out) {
                            permit.send(chunk);
                        }
                        plan.release_front();
                        next_out += 1;
                    }
                    Err(mpsc::error::TrySendError::Full(())) => break,
                    Err(mpsc::error::TrySendError::Closed(())) => {
                        break 'run Err(EngineError::Internal(
                            "the reader of a fetch stopped".into(),
                        ));
                    }
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
                let item = &items[r.chunk];
                let hash = item.record.shards[r.shard];
                let store = Arc::clone(&roster.stores[r.store]);
                let tx = admitted_tx.clone();
                let id = r.id;
                let watched = admission::watch(
                    move |a| {
                        let _ = tx.send((id, a));
                    },
                    ask(store, hash, r.len),
                );
                let (fut, handle) = abortable(watched);
                aborts.insert(id, handle);
                requests.push(async move { (id, fut.await) });
            }
            let waiting_for_chunks = incoming.is_some();
            if !waiting_for_chunks
                && requests.is_empty()
                && restoring.is_empty()
                && restored.is_empty()
            {
                break Err(EngineError::Unrestorable {
                    key: key.to_owned(),
                    detail: format!(
                        "chunk {next_out}: no store left to ask ({})",
                        plan.describe(tokio::time::Instant::now().into_std())
                    ),
                });
            }
            tokio::select! {
                Some((id, answer)) = requests.next(), if !requests.is_empty() => {
                    aborts.remove(&id);
                    let Ok(verdict) = answer else { continue };
                    if let (Verdict::Good(b), Some(r)) = (&verdict, plan.request(id)) {
                        obs.event(Event::StoreBytes {
                            store: roster.ids[r.store].clone(),
                            bytes: b.len() as u64,
                        });
                    }
                    let now = tokio::time::Instant::now().into_std();
                    let step = plan.on_result(id, verdict, now);
                    cancel(&mut aborts, &step.cancel);
                    if let Some(n) = step.ready {
                        let shards = plan.take_shards(n);
                        let item = items[n].clone();
                        restoring.push(async move {
                            (n, restore(item.coding, &item.record, shards).await)
                        });
                    }
                }
                Some((n, chunk)) = restoring.next(), if !restoring.is_empty() => {
                    match chunk {
                        Ok(chunk) => {
                            decoded += usize::from(chunk.decoded);
                            restored.insert(n, chunk);
                        }
                        Err(e) => break Err(EngineError::Unrestorable {
                            key: key.to_owned(),
                            detail: format!("chunk {n}: {e}"),
                        }),
                    }
                }
                item = next_item(&mut incoming), if incoming.is_some() => {
                    match item {
                        Some(item) => {
                            plan.push(spec_of(members, &item));
                            items.push(item);
                        }
                        None => {
                            incoming = None;
                            plan.close();
                        }
                    }
                }
                room = out.reserve(), if restored.contains_key(&next_out) => {
                    match room {
                        Ok(permit) => {
                            if let Some(chunk) = restored.remove(&next_out) {
                                permit.send(chunk);
                            }
                            plan.release_front();
                            next_out += 1;
                        }
                        Err(_) => break Err(EngineError::Internal(
                            "the reader of a fetch stopped".into(),
                        )),
                    }
                }
                Some((id, a)) = admitted_rx.recv() => {
                    match a {
                        Admission::Queued => plan.on_queued(id),
                        Admission::Admitted => {
                            plan.on_admitted(id, tokio::time::Instant::now().into_std())
                        }
                    }
                }
                _ = ticker.tick() => {
                    let now = tokio::time::Instant::now().into_std();
                    let dropped = plan.tick(now);
                    cancel(&mut aborts, &dropped);
                    let left = roster.follow(self, &mut plan, &items, now);
                    cancel(&mut aborts, &left);
                }
            }
        };
        for handle in aborts.values() {
            handle.abort();
        }
        let stores: Vec<StoreReport> = plan
            .tallies()
            .zip(&roster.ids)
            .map(|(t, id)| StoreReport {
                store: id.to_string(),
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
                queued: t.queued,
                missing: t.missing,
                corrupt: t.corrupt,
                dropped: t.dropped.clone(),
            })
            .collect();
        for r in stores.iter().filter(|r| r.requests > 0) {
            tracing::debug!(
                key,
                store = %r.store,
                bytes = r.bytes,
                requests = r.requests,
                speed = r.speed as u64,
                missing = r.missing,
                races = r.races,
                cancelled = r.cancelled,
                wasted = r.wasted_bytes,
                "fetch: what a store did"
            );
        }
        for (t, id) in plan.tallies().zip(&roster.ids) {
            if let Some(why) = &t.dropped
                && !why.starts_with("unavailable")
            {
                obs.event(Event::StoreDropped {
                    store: id.clone(),
                    why: why.clone(),
                });
            }
        }
        let summary = FetchSummary {
            stores,
            chunks_decoded: decoded,
            problems: plan.problems().map(str::to_owned).collect(),
        };
        result.map(|()| summary)
    }
}

async fn next_item(incoming: &mut Option<mpsc::UnboundedReceiver<FetchItem>>) -> Option<FetchItem> {
    match incoming {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Roster {
    /// Follows the swarm: stores that went down are dropped, stores that came back are used
    /// again, stores that joined are asked too, stores that left are dropped. Returns requests
    /// to abandon.
    fn follow(
        &mut self,
        swarm: &Swarm,
        plan: &mut Plan,
        items: &[FetchItem],
        now: std::time::Instant,
    ) -> Vec<ReqId> {
        let mut cancel = Vec::new();
        let generation = swarm.generation();
        if generation != self.generation {
            self.generation = generation;
            let members = swarm.members();
            for m in members.stores() {
                if !self.ids.contains(m.id()) {
                    plan.add_store(m.id().to_string(), connections_of(&m.entry));
                    self.stores.push(Arc::clone(&m.store));
                    self.ids.push(m.id().clone());
                    self.seen_down.push(false);
                    self.revived.push(0);
                }
            }
            // Look where the new definition places each shard (a store that joined may be
            // where a shard belongs), then everywhere else the fetch knows.
            let index: Vec<StoreIx> = members
                .stores()
                .iter()
                .filter_map(|m| self.ids.iter().position(|id| id == m.id()))
                .collect();
            for n in plan.pending() {
                let Some(item) = items.get(n) else { continue };
                // `avoid` names stores of the snapshot the fetch started with, whose indices
                // are the roster's first ones: applied after mapping.
                let unfiltered = FetchItem {
                    avoid: Vec::new(),
                    holders: Arc::clone(&item.holders),
                    ..item.clone()
                };
                let spec = spec_of(&members, &unfiltered);
                let mut sure = Vec::new();
                let candidates = spec
                    .candidates
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let mut c: Vec<StoreIx> = c
                            .into_iter()
                            .filter_map(|s| index.get(s).copied())
                            .collect();
                        let known = spec.sure[i].min(c.len());
                        for s in 0..self.ids.len() {
                            if !c.contains(&s) {
                                c.push(s);
                            }
                        }
                        let avoided = c[..known]
                            .iter()
                            .filter(|&&s| item.avoid.contains(&(i, s)))
                            .count();
                        sure.push(known - avoided);
                        c.retain(|&s| !item.avoid.contains(&(i, s)));
                        c
                    })
                    .collect();
                plan.set_candidates(n, candidates, sure);
            }
            for s in 0..self.ids.len() {
                if plan.usable(s) && !members.stores().iter().any(|m| m.id() == &self.ids[s]) {
                    cancel.extend(plan.drop_store_for(s, "left the swarm".into(), now));
                    self.seen_down[s] = true;
                }
            }
        }
        for s in 0..self.stores.len() {
            match self.stores[s].health() {
                Health::Down(why) => {
                    if plan.usable(s) {
                        cancel.extend(plan.drop_store_for(s, format!("unavailable: {why}"), now));
                    }
                    self.seen_down[s] = true;
                }
                Health::Up => {
                    if plan.revivable(s)
                        && self.seen_down[s]
                        && self.revived[s] < MAX_REVIVALS
                        && self.still_member(swarm, s)
                    {
                        plan.revive(s);
                        self.seen_down[s] = false;
                        self.revived[s] += 1;
                    }
                }
            }
        }
        cancel
    }

    fn still_member(&self, swarm: &Swarm, s: StoreIx) -> bool {
        swarm
            .members()
            .stores()
            .iter()
            .any(|m| m.id() == &self.ids[s])
    }
}

/// Requests in flight to one store when its definition entry does not say.
pub(crate) fn connections_of(entry: &swarm_core::definition::StoreEntry) -> usize {
    entry
        .connections
        .map_or(swarm_store::decorate::DEFAULT_CONNECTIONS, |c| c as usize)
}

/// What the plan must know of a chunk: its size and, per shard, the stores to ask in order:
/// first those known to hold it (where placement puts it, and the key's holders expected to
/// have it), any of which may be asked first, then everywhere else it may be.
fn spec_of(members: &Members, item: &FetchItem) -> ChunkSpec {
    let total = item.coding.total();
    let places = members.chunk_places(&item.record.id, total);
    let mut known: Vec<Vec<usize>> = places
        .preferred
        .iter()
        .map(|p| p.iter().copied().collect())
        .collect();
    known.resize(total, Vec::new());
    for h in item.holders.iter().filter_map(|id| members.position(id)) {
        let own: Vec<usize> = (0..total)
            .filter(|&i| places.preferred.get(i).copied().flatten() == Some(h))
            .collect();
        for i in whole_copy_slots(item.coding, &item.record.shards, &own, |_| false) {
            if let Some(k) = known.get_mut(i).filter(|k| !k.contains(&h)) {
                k.push(h);
            }
        }
    }
    let mut sure = Vec::with_capacity(total);
    let candidates = known
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            c.retain(|&s| !item.avoid.contains(&(i, s)));
            sure.push(c.len());
            for s in places.candidates(i) {
                if !c.contains(&s) && !item.avoid.contains(&(i, s)) {
                    c.push(s);
                }
            }
            c
        })
        .collect();
    ChunkSpec {
        k: usize::from(item.coding.k()),
        len: u64::from(item.record.len),
        shard_len: item.coding.shard_len(item.record.len as usize) as u64,
        candidates,
        sure,
    }
}

/// Asks a store for a shard and judges the answer.
async fn ask(store: Arc<dyn Store>, hash: Hash32, len: u64) -> Verdict {
    let object = Object::Shard(hash);
    match store.read(&object, len).await {
        Ok(bytes) if bytes.len() as u64 == len => {
            let check = bytes.clone();
            if pool::cpu(move || Hash32::of(&check)).await == hash {
                Verdict::Good(bytes)
            } else {
                Verdict::Corrupt
            }
        }
        // A peer store checks a shard's BLAKE3 as it arrives and says `Corrupt` itself.
        Ok(_) | Err(StoreError::TooLarge { .. } | StoreError::Corrupt { .. }) => Verdict::Corrupt,
        Err(StoreError::NotFound { .. }) => Verdict::Missing,
        Err(e @ StoreError::Unavailable { .. }) => Verdict::Unavailable(e.to_string()),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

fn cancel(aborts: &mut HashMap<ReqId, AbortHandle>, ids: &[ReqId]) {
    for id in ids {
        if let Some(h) = aborts.remove(id) {
            h.abort();
        }
    }
}
