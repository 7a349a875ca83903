//! A discrete-event simulation of the scheduler over scripted stores, in virtual time: each
//! store is a link of a given speed (as `download_rate` makes it) that may also hang, fail
//! half-way or return corrupt shards. Deterministic, and fast enough to run a 512 MiB get in
//! milliseconds, so the benchmark scenarios are also unit tests.

#![allow(clippy::unwrap_used)]

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::plan::{ChunkSpec, Plan, ReqId, StoreTally, Tuning, Verdict};

pub(super) const MIB: f64 = (1 << 20) as f64;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Behaviour {
    Normal,
    /// Accepts requests and never answers.
    Hang,
    /// Answers this many requests, then fails every one.
    FailAfter(u32),
    /// Every n-th answer is corrupt.
    CorruptEvery(u32),
    /// Down from the start (as a store that failed its check).
    Down,
}

#[derive(Debug, Clone)]
pub(super) struct SimStore {
    pub mib_per_sec: f64,
    pub behaviour: Behaviour,
}

pub(super) fn store(mib_per_sec: f64) -> SimStore {
    SimStore {
        mib_per_sec,
        behaviour: Behaviour::Normal,
    }
}

pub(super) fn odd(mib_per_sec: f64, behaviour: Behaviour) -> SimStore {
    SimStore {
        mib_per_sec,
        behaviour,
    }
}

#[derive(Debug)]
pub(super) struct Outcome {
    pub seconds: f64,
    pub bytes: u64,
    pub tallies: Vec<StoreTally>,
    pub decoded: usize,
    pub max_window: u64,
    pub failed: Option<String>,
}

impl Outcome {
    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / MIB / self.seconds
    }

    pub fn wasted(&self) -> u64 {
        self.tallies.iter().map(|t| t.wasted).sum()
    }
}

/// Shard i of chunk c is preferred on one store of a per-chunk shuffle (as rendezvous placement
/// spreads them); the remaining stores are spares.
fn placement(chunk: usize, total: usize, stores: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..stores).collect();
    let mut x = (chunk as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..stores).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    (0..total)
        .map(|i| {
            let mut c = vec![order[i]];
            c.extend(order[total..].iter().copied());
            c
        })
        .collect()
}

/// Gets a file of `file_mib` MiB cut into chunks of `k` shards of 1 MiB, with `m` parity shards.
pub(super) fn run(
    k: usize,
    m: usize,
    file_mib: u64,
    stores: &[SimStore],
    tuning: Tuning,
) -> Outcome {
    run_sized(k, m, file_mib, stores, tuning, 1 << 20)
}

/// Where the shards are, and what the plan is told of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Layout {
    /// The coded spread only: each shard on its preferred store.
    Spread,
    /// Every store also holds the key whole, as a `full_copies` holder does: its own slots of
    /// the spread, then data shards up to k. `told`: the plan is told which stores hold what
    /// (they may be asked first), else only the preferred store is.
    Holders { told: bool },
}

/// [`run`] with shards of `shard_len` bytes (chunks of k of them).
pub(super) fn run_sized(
    k: usize,
    m: usize,
    file_mib: u64,
    stores: &[SimStore],
    tuning: Tuning,
    shard_len: u64,
) -> Outcome {
    run_layout(k, m, file_mib, stores, tuning, shard_len, Layout::Spread)
}

/// Which stores hold each shard of a chunk placed as `places` says (shard -> stores, the
/// preferred first), and the spec the plan is given.
fn layout_of(
    k: usize,
    places: &[Vec<usize>],
    stores: usize,
    layout: Layout,
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>, Vec<usize>) {
    let total = places.len();
    let mut held: Vec<Vec<usize>> = places.iter().map(|p| vec![p[0]]).collect();
    if layout == Layout::Spread {
        return (held, places.to_vec(), vec![1; total]);
    }
    for h in 0..stores {
        let mut mine: Vec<usize> = (0..total).filter(|&i| places[i][0] == h).collect();
        for i in 0..total {
            if mine.len() >= k {
                break;
            }
            if !mine.contains(&i) {
                mine.push(i);
            }
        }
        for i in mine {
            if !held[i].contains(&h) {
                held[i].push(h);
            }
        }
    }
    let told = matches!(layout, Layout::Holders { told: true });
    let mut candidates = Vec::new();
    let mut sure = Vec::new();
    for i in 0..total {
        let mut c = if told {
            held[i].clone()
        } else {
            vec![places[i][0]]
        };
        sure.push(c.len());
        for s in 0..stores {
            if !c.contains(&s) {
                c.push(s);
            }
        }
        candidates.push(c);
    }
    (held, candidates, sure)
}

/// [`run_sized`] with shards where `layout` puts them.
pub(super) fn run_layout(
    k: usize,
    m: usize,
    file_mib: u64,
    stores: &[SimStore],
    tuning: Tuning,
    shard_len: u64,
    layout: Layout,
) -> Outcome {
    let chunk_len = shard_len * k as u64;
    let n_chunks = (file_mib << 20).div_ceil(chunk_len) as usize;
    let total = k + m;
    let mut holdings = Vec::new();
    let mut specs = Vec::new();
    for c in 0..n_chunks {
        let (held, candidates, sure) =
            layout_of(k, &placement(c, total, stores.len()), stores.len(), layout);
        holdings.push(held);
        specs.push(ChunkSpec {
            k,
            len: chunk_len,
            shard_len,
            candidates,
            sure,
        });
    }
    let labels = (0..stores.len()).map(|s| format!("s{s}")).collect();
    let connections = vec![swarm_store::decorate::DEFAULT_CONNECTIONS; stores.len()];
    let down: Vec<Option<String>> = stores
        .iter()
        .map(|s| (s.behaviour == Behaviour::Down).then(|| "down".to_owned()))
        .collect();
    let mut plan = Plan::new(specs, labels, &connections, &down, tuning);

    let t0 = Instant::now();
    let at = |secs: f64| t0 + Duration::from_secs_f64(secs);
    let tick = 0.05;
    let mut now = 0.0f64;
    let mut next_tick = tick;
    let mut free_at = vec![0.0f64; stores.len()];
    let mut answered = vec![0u32; stores.len()];
    // (time in ns, request, verdict kind)
    let mut events: BinaryHeap<Reverse<(u64, ReqId, u8)>> = BinaryHeap::new();
    let mut cancelled: HashSet<ReqId> = HashSet::new();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut next_out = 0;
    let mut decoded = 0;
    let mut max_window = 0;
    let mut failed = None;
    const GOOD: u8 = 0;
    const CORRUPT: u8 = 1;
    const FAIL: u8 = 2;
    const MISSING: u8 = 3;

    loop {
        while done.remove(&next_out) {
            plan.release_front();
            next_out += 1;
        }
        if plan.finished() {
            break;
        }
        if let Some((n, why)) = plan.stuck() {
            failed = Some(format!("chunk {n}: {why}"));
            break;
        }
        if now > 3600.0 {
            failed = Some("no progress in an hour".into());
            break;
        }
        for r in plan.next_requests(at(now)) {
            let s = &stores[r.store];
            answered[r.store] += 1;
            let n = answered[r.store];
            // Stores that do not hold the shard answer "missing" at once.
            let holds = holdings[r.chunk][r.shard].contains(&r.store);
            let (when, kind) = match s.behaviour {
                Behaviour::Hang => continue,
                _ if !holds => (now + 0.001, MISSING),
                Behaviour::Down => unreachable!("down stores are never asked"),
                Behaviour::FailAfter(ok) if n > ok => (now + 0.001, FAIL),
                b => {
                    let start = free_at[r.store].max(now);
                    let end = start + r.len as f64 / (s.mib_per_sec * MIB);
                    free_at[r.store] = end;
                    let corrupt = matches!(b, Behaviour::CorruptEvery(e) if n.is_multiple_of(e));
                    (end, if corrupt { CORRUPT } else { GOOD })
                }
            };
            events.push(Reverse(((when * 1e9) as u64, r.id, kind)));
        }
        max_window = max_window.max(plan.window_bytes());
        let next_event = events.peek().map(|Reverse((t, _, _))| *t as f64 / 1e9);
        match next_event {
            Some(t) if t <= next_tick => {
                let Some(Reverse((_, id, kind))) = events.pop() else {
                    unreachable!()
                };
                now = now.max(t);
                if cancelled.remove(&id) {
                    continue;
                }
                let verdict = match kind {
                    GOOD => Verdict::Good(Bytes::new()),
                    CORRUPT => Verdict::Corrupt,
                    MISSING => Verdict::Missing,
                    _ => Verdict::Failed("store failed".into()),
                };
                let step = plan.on_result(id, verdict, at(now));
                cancelled.extend(step.cancel);
                if let Some(n) = step.ready {
                    let shards = plan.take_shards(n);
                    decoded += usize::from(shards[..k].iter().any(Option::is_none));
                    done.insert(n);
                }
            }
            _ => {
                now = next_tick;
                next_tick += tick;
                cancelled.extend(plan.tick(at(now)));
            }
        }
    }
    Outcome {
        seconds: now,
        bytes: (n_chunks as u64) * chunk_len,
        tallies: plan.tallies().cloned().collect(),
        decoded,
        max_window,
        failed,
    }
}
