//! What the plan keeps: the specs and states of chunks, stores and requests, the tuning, and
//! what a store answered. The decisions over them are in `mod.rs`.

use std::time::{Duration, Instant};

use bytes::Bytes;

pub(crate) type StoreIx = usize;
pub(crate) type ReqId = u64;

/// What the fetcher must know of one chunk to fetch it.
#[derive(Debug, Clone)]
pub(crate) struct ChunkSpec {
    /// Shards needed to restore the chunk (its coding's k).
    pub k: usize,
    /// Bytes the chunk counts against the window (its length).
    pub len: u64,
    /// Length of each of its shards.
    pub shard_len: u64,
    /// For each shard, the stores that may hold it, best first.
    pub candidates: Vec<Vec<StoreIx>>,
    /// For each shard, how many of its first candidates are known to hold it: any of them may
    /// be asked first (whoever has a free slot), the rest only once those were tried. At least
    /// 1 (the first candidate is always askable).
    pub sure: Vec<usize>,
}

/// The scheduler's knobs. [`Tuning::default`] is what `get` uses.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    /// Most chunk bytes admitted and not yet handed on; bounds memory.
    pub window_bytes: u64,
    /// A request is overdue after `overdue_factor` times its expected time plus `grace`; its
    /// store then gets no new work, and idle stores race it.
    pub overdue_factor: f64,
    pub grace: Duration,
    /// A store is dropped when a request has waited `hang_factor` times its expected time, and at
    /// least `hang_floor`.
    pub hang_factor: f64,
    pub hang_floor: Duration,
    /// Speed assumed for a store before any store has answered (bytes per second).
    pub default_rate: f64,
    /// Corrupt shards a store may return before it is dropped as lying.
    pub max_corrupt: u32,
    /// Chunks this close to the head take parity from any store rather than wait for their data
    /// shards' stores.
    pub urgent: usize,
    /// Extra requests (beyond what the chunk needs) a chunk may have in flight at once.
    pub max_races: usize,
    /// A race is only worth it when it should win by at least this much.
    pub race_floor: Duration,
    /// A measured store gets only as many slots as it can serve within this time, so a slow
    /// store does not sit on shards the others could fetch sooner.
    pub queue_time: Duration,
}

impl Tuning {
    /// The defaults, with a window of at least four of the longest chunks, so big chunks
    /// (grouped ones reach tens of MiB) still keep every store busy: a store serves at most one
    /// shard of a chunk, so it idles once it holds a request in every chunk of the window.
    /// `max_chunk` comes from a manifest, so the window stays at most [`MAX_WINDOW`].
    pub fn for_chunks(max_chunk: u32) -> Self {
        let t = Tuning::default();
        Tuning {
            window_bytes: t
                .window_bytes
                .max((4 * u64::from(max_chunk)).min(MAX_WINDOW)),
            ..t
        }
    }
}

/// The largest window [`Tuning::for_chunks`] gives (a chunk longer than the window is still
/// admitted alone).
pub(crate) const MAX_WINDOW: u64 = 512 << 20;

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            window_bytes: 64 << 20,
            overdue_factor: 3.0,
            grace: Duration::from_millis(250),
            hang_factor: 10.0,
            hang_floor: Duration::from_secs(3),
            default_rate: (4 << 20) as f64,
            max_corrupt: 3,
            urgent: 2,
            max_races: 2,
            race_floor: Duration::from_millis(100),
            queue_time: Duration::from_millis(500),
        }
    }
}

/// What a store sent back for one request.
#[derive(Debug)]
pub(crate) enum Verdict {
    Good(Bytes),
    /// The store does not have this shard (not the store's fault).
    Missing,
    /// The store returned bytes that fail the shard's hash.
    Corrupt,
    /// The store failed (an I/O error): dropped for the rest of the fetch.
    Failed(String),
    /// The store is unavailable (down, refusing, silent past its retries): dropped until it is
    /// back ([`Plan::revive`]).
    Unavailable(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub id: ReqId,
    pub chunk: usize,
    pub shard: usize,
    pub store: StoreIx,
    pub len: u64,
    pub(super) issued: Instant,
    /// Bytes already queued on the store when this was asked for.
    pub(super) ahead: u64,
    /// Waiting for a connection that another operation of the process holds: not the store's
    /// time, so not judged (see `on_queued`).
    pub(super) queued: bool,
}

/// Per-store figures, reported at the end of a get.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreTally {
    pub bytes: u64,
    pub requests: u64,
    pub busy: Duration,
    /// Bytes received and not used: corrupt shards, or shards that arrived for a finished chunk.
    pub wasted: u64,
    /// Requests cancelled because another store answered first (or the store was dropped).
    pub cancelled: u64,
    /// Requests made to race a late one.
    pub races: u64,
    /// Requests that waited for a connection another operation of the process held.
    pub queued: u64,
    pub missing: u64,
    pub corrupt: u32,
    pub dropped: Option<String>,
}

#[derive(Debug)]
pub(super) struct StoreState {
    pub(super) slots: usize,
    pub(super) live: usize,
    /// Live requests waiting for a connection (not yet sent to the store).
    pub(super) queued: usize,
    /// Dropped for a reason that can pass (the store was unavailable): once its check passes
    /// it is used again ([`Plan::revive`]). Stores that failed, hung or lied stay dropped.
    pub(super) revivable: bool,
    pub(super) live_bytes: u64,
    pub(super) busy_since: Option<Instant>,
    /// Asked since this moment and has not answered since (cancelled requests do not reset it).
    pub(super) waiting_since: Option<Instant>,
    /// A request of this store is overdue: no new work until it answers.
    pub(super) stalled: bool,
    /// Before it has delivered anything: the most bytes per second the store can have, learnt
    /// from a request cancelled (its chunk completed elsewhere) after running this long.
    pub(super) ceiling: Option<f64>,
    pub(super) tally: StoreTally,
}

impl StoreState {
    pub(super) fn new(slots: usize, down: Option<String>) -> Self {
        StoreState {
            slots: slots.max(1),
            live: 0,
            queued: 0,
            revivable: down.is_some(),
            live_bytes: 0,
            busy_since: None,
            waiting_since: None,
            stalled: false,
            ceiling: None,
            tally: StoreTally {
                dropped: down,
                ..Default::default()
            },
        }
    }

    pub(super) fn usable(&self) -> bool {
        self.tally.dropped.is_none()
    }

    pub(super) fn busy_at(&self, now: Instant) -> Duration {
        self.tally.busy
            + self
                .busy_since
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
    }

    /// Measured bytes per second, once the store has delivered something.
    pub(super) fn measured(&self, now: Instant) -> Option<f64> {
        let busy = self.busy_at(now).as_secs_f64();
        (self.tally.bytes > 0 && busy > 0.0).then(|| self.tally.bytes as f64 / busy)
    }
}

#[derive(Debug)]
pub(super) struct ChunkState {
    pub(super) index: usize,
    pub(super) spec: ChunkSpec,
    pub(super) shards: Vec<Option<Bytes>>,
    pub(super) have: usize,
    /// Live requests per shard.
    pub(super) asking: Vec<u8>,
    /// Stores already asked, per shard.
    pub(super) tried: Vec<Vec<StoreIx>>,
    pub(super) live: Vec<ReqId>,
    pub(super) done: bool,
}

impl ChunkState {
    /// Chunk `index`, nothing asked yet.
    pub(super) fn new(index: usize, spec: ChunkSpec) -> Self {
        let n = spec.candidates.len();
        ChunkState {
            index,
            spec,
            shards: vec![None; n],
            have: 0,
            asking: vec![0; n],
            tried: vec![Vec::new(); n],
            live: Vec::new(),
            done: false,
        }
    }

    pub(super) fn covered(&self) -> usize {
        (0..self.shards.len())
            .filter(|&i| self.shards[i].is_none() && self.asking[i] > 0)
            .count()
    }

    pub(super) fn need(&self, k: usize) -> usize {
        k.saturating_sub(self.have + self.covered())
    }

    /// Whether the chunk can be completed without store `s`: shards in hand or being fetched,
    /// and shards whose next place to look is a `fast` store other than `s`, reach k. (A
    /// shard whose next place is `s` is not reachable without it: a later candidate is only
    /// asked once `s` was; counting it let a slow store be skipped for a shard no one else
    /// would ask, and a fetch with nothing live ended with stores left to ask.)
    pub(super) fn coverable_without(
        &self,
        s: StoreIx,
        k: usize,
        usable: impl Fn(StoreIx) -> bool,
        fast: impl Fn(StoreIx) -> bool,
    ) -> bool {
        let reachable = (0..self.shards.len())
            .filter(|&i| {
                self.shards[i].is_none()
                    && (self.asking[i] > 0
                        || self.places_now(i, &usable).any(|x| x != s && fast(x)))
            })
            .count();
        self.have + reachable >= k
    }

    /// A shard `s` may be asked for: not in hand, not asked of `s` before, and `s` is known to
    /// hold it (one of its `sure` candidates) or is its next place to look (every better
    /// candidate was asked or is not in use); when `fresh`, also not being fetched from
    /// elsewhere. Data shards come first.
    pub(super) fn askable(
        &self,
        s: StoreIx,
        range: std::ops::Range<usize>,
        fresh: bool,
        usable: impl Fn(StoreIx) -> bool,
    ) -> Option<usize> {
        range.into_iter().find(|&i| {
            self.shards[i].is_none()
                && (!fresh || self.asking[i] == 0)
                && self.places_now(i, &usable).any(|x| x == s)
        })
    }

    /// The stores shard `i` may be asked of now: those known to hold it (its first `sure`
    /// candidates) and its next place to look, none asked before and each in use.
    fn places_now<'a>(
        &'a self,
        i: usize,
        usable: &'a impl Fn(StoreIx) -> bool,
    ) -> impl Iterator<Item = StoreIx> + 'a {
        let sure = self.spec.sure.get(i).copied().unwrap_or(1).max(1);
        let fresh = move |x: &StoreIx| !self.tried[i].contains(x) && usable(*x);
        let next = self.spec.candidates[i].iter().copied().find(fresh);
        self.spec.candidates[i]
            .iter()
            .copied()
            .take(sure)
            .filter(fresh)
            .chain(next)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    Data,
    Parity,
}

/// What an event asks the fetcher to do.
#[derive(Debug, Default)]
pub(crate) struct Step {
    /// A chunk that now has k good shards: take them with [`Plan::take_shards`] and restore it.
    pub ready: Option<usize>,
    /// Requests to abandon.
    pub cancel: Vec<ReqId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(candidates: Vec<Vec<StoreIx>>) -> ChunkState {
        let n = candidates.len();
        ChunkState::new(
            0,
            ChunkSpec {
                k: 2,
                len: 8,
                shard_len: 4,
                sure: vec![1; n],
                candidates,
            },
        )
    }

    /// Shard 0 is known to be on stores 0 and 1 (its preferred store and a holder of the key):
    /// either may be asked first. Shard 1, known only on store 0, is asked of store 2 (a
    /// spare) only once store 0 was.
    #[test]
    fn any_store_known_to_hold_a_shard_may_be_asked_first() {
        let mut c = chunk(vec![vec![0, 1, 2], vec![0, 2, 1]]);
        c.spec.sure = vec![2, 1];
        let usable = |_| true;
        assert_eq!(c.askable(1, 0..2, true, usable), Some(0));
        assert_eq!(c.askable(0, 0..2, true, usable), Some(0));
        assert_eq!(c.askable(2, 0..2, true, usable), None);
        c.tried[1].push(0);
        assert_eq!(c.askable(2, 0..2, true, usable), Some(1));
        // Without the holder known, store 1 waits for store 0 as before.
        let mut c = chunk(vec![vec![0, 1, 2], vec![0, 2, 1]]);
        c.spec.sure = vec![1, 1];
        assert_eq!(c.askable(1, 0..2, true, usable), None);
    }

    /// A node mirroring a key: its own store (2, fast) holds shard 2 and is listed after the
    /// peers (0 and 1, slow) for shards 0 and 1. A slow peer is the only one that will be
    /// asked for its shard: the chunk is not coverable without it.
    #[test]
    fn a_shard_whose_next_place_is_a_slow_store_needs_that_store() {
        let c = chunk(vec![vec![0, 2, 1], vec![1, 2, 0], vec![2, 0, 1]]);
        let usable = |_| true;
        let fast = |x: StoreIx| x == 2;
        // Without peer 0: shard 2 (next place: the fast store) and shard 1 (next place: peer
        // 1, slow) -- one reachable, k = 2.
        assert!(!c.coverable_without(0, 2, usable, fast));
        // Once peer 1 was asked for shard 1 and failed, its next place is the fast store.
        let mut c = c;
        c.tried[1].push(1);
        assert!(c.coverable_without(0, 2, usable, fast));
    }
}
