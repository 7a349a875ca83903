//! The download scheduler's decisions, free of I/O and clocks: the fetcher (and the simulator in
//! the tests) tells it what happened and when, and it says which shard to ask which store for
//! next, which requests to cancel and which stores to drop. States and transitions: STATE.md.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

mod changes;
mod state;

#[cfg(test)]
pub(crate) use state::MAX_WINDOW;
pub(crate) use state::{ChunkSpec, ReqId, Request, Step, StoreIx, StoreTally, Tuning, Verdict};
use state::{ChunkState, Pass, StoreState};

/// Shards a store that has delivered must have delivered before it is judged too slow.
const SLOW_SAMPLE: u64 = 3;

pub(crate) struct Plan {
    labels: Vec<String>,
    tuning: Tuning,
    stores: Vec<StoreState>,
    specs: VecDeque<ChunkSpec>,
    window: VecDeque<ChunkState>,
    window_bytes: u64,
    /// Index of the chunk at the window's front.
    front: usize,
    next_index: usize,
    live: HashMap<ReqId, Request>,
    next_id: ReqId,
    /// Shards that could not be used: (chunk, "chunk n shard i: store: why").
    problems: Vec<(usize, String)>,
    /// Where the store scan starts, rotated so no store always chooses first.
    turn: usize,
    /// Mean shard length, for how long a store's slots' worth of requests should take.
    typical_shard: u64,
    /// Shard lengths and count of every chunk pushed, for `typical_shard`.
    shard_bytes: u64,
    shard_count: u64,
    /// No more chunks will be pushed.
    closed: bool,
}

impl Plan {
    /// `connections[s]` is how many requests store `s` may have in flight; `down[s]` says why a
    /// store is not to be used at all; `labels` name the stores in messages.
    /// A plan for `chunks`, closed (nothing more will be pushed).
    #[cfg(test)]
    pub fn new(
        chunks: Vec<ChunkSpec>,
        labels: Vec<String>,
        connections: &[usize],
        down: &[Option<String>],
        tuning: Tuning,
    ) -> Self {
        let mut plan = Plan::open(labels, connections, down, tuning);
        for c in chunks {
            plan.push(c);
        }
        plan.close();
        plan
    }

    /// A plan chunks are pushed into as they become known ([`Plan::push`], then
    /// [`Plan::close`]). `connections[s]` is how many requests store `s` may have in flight;
    /// `down[s]` says why a store is not to be used at all; `labels` name the stores.
    pub fn open(
        labels: Vec<String>,
        connections: &[usize],
        down: &[Option<String>],
        tuning: Tuning,
    ) -> Self {
        let stores = connections
            .iter()
            .zip(down)
            .map(|(&slots, down)| StoreState::new(slots, down.clone()))
            .collect();
        Plan {
            labels,
            tuning,
            stores,
            specs: VecDeque::new(),
            window: VecDeque::new(),
            window_bytes: 0,
            front: 0,
            next_index: 0,
            live: HashMap::new(),
            next_id: 0,
            problems: Vec::new(),
            turn: 0,
            typical_shard: 0,
            shard_bytes: 0,
            shard_count: 0,
            closed: false,
        }
    }

    /// One more chunk to fetch, after those pushed before (its index is their count).
    pub fn push(&mut self, spec: ChunkSpec) {
        self.shard_bytes += spec.shard_len;
        self.shard_count += 1;
        self.typical_shard = self.shard_bytes / self.shard_count;
        self.specs.push_back(spec);
    }

    /// No more chunks will be pushed.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// Every chunk has been handed on, and no more will come.
    pub fn finished(&self) -> bool {
        self.closed && self.specs.is_empty() && self.window.is_empty()
    }

    /// Chunk bytes admitted and not yet handed on.
    #[cfg(test)]
    pub fn window_bytes(&self) -> u64 {
        self.window_bytes
    }

    pub fn tallies(&self) -> impl Iterator<Item = &StoreTally> {
        self.stores.iter().map(|s| &s.tally)
    }

    pub fn problems(&self) -> impl Iterator<Item = &str> {
        self.problems.iter().map(|(_, p)| p.as_str())
    }

    /// The request `id` if it is still live.
    pub fn request(&self, id: ReqId) -> Option<&Request> {
        self.live.get(&id)
    }

    /// Bytes per second store `s` is taken to deliver: measured, or before it has delivered
    /// anything the middle of the others', but no faster than its lost races allow.
    fn rate(&self, s: StoreIx, now: Instant) -> f64 {
        let st = &self.stores[s];
        match (st.measured(now), st.ceiling) {
            (Some(r), _) => r,
            (None, Some(c)) => self.nominal_rate(s, now).min(c),
            (None, None) => self.nominal_rate(s, now),
        }
    }

    /// [`rate`](Self::rate) without the ceiling: what a store that has never answered was
    /// expected to do, for deciding when it has hung.
    fn nominal_rate(&self, s: StoreIx, now: Instant) -> f64 {
        if let Some(r) = self.stores[s].measured(now) {
            return r;
        }
        let mut known: Vec<f64> = self
            .stores
            .iter()
            .filter(|st| st.usable())
            .filter_map(|st| st.measured(now))
            .collect();
        if known.is_empty() {
            return self.tuning.default_rate;
        }
        known.sort_by(f64::total_cmp);
        known[known.len() / 2]
    }

    /// Stores too slow to be worth a shard: one shard from them takes longer than the window
    /// takes to drain at everyone's rates together, so a chunk waiting on them would hold the
    /// window up. Such a store still serves chunks the others cannot complete (see `pick`).
    /// A store that has delivered is judged on at least [`SLOW_SAMPLE`] shards: one shard and a
    /// lost race (whose time counts, not its bytes) understate it, and once benched it would
    /// never be measured again.
    fn slow_stores(&self, now: Instant) -> Vec<bool> {
        let rates: Vec<f64> = (0..self.stores.len())
            .map(|s| {
                if self.stores[s].usable() {
                    self.rate(s, now)
                } else {
                    0.0
                }
            })
            .collect();
        let total: f64 = rates.iter().sum();
        let drain = self.tuning.window_bytes as f64 / total.max(1.0);
        let sample = SLOW_SAMPLE * self.typical_shard;
        rates
            .iter()
            .zip(&self.stores)
            .map(|(&r, st)| {
                let judged = st.tally.bytes == 0 || st.tally.bytes >= sample;
                judged && r > 0.0 && self.typical_shard as f64 / r > drain
            })
            .collect()
    }

    fn expected(&self, r: &Request, now: Instant) -> Duration {
        Duration::from_secs_f64((r.ahead + r.len) as f64 / self.rate(r.store, now).max(1.0))
    }

    fn overdue_after(&self, r: &Request, now: Instant) -> Duration {
        self.expected(r, now).mul_f64(self.tuning.overdue_factor) + self.tuning.grace
    }

    fn hang_after(&self, r: &Request, now: Instant) -> Duration {
        self.expected(r, now)
            .mul_f64(self.tuning.hang_factor)
            .max(self.tuning.hang_floor)
    }

    /// When the request is expected to finish; far in the future once it is overdue.
    fn finish_estimate(&self, r: &Request, now: Instant) -> Instant {
        if r.queued {
            return now + self.expected(r, now);
        }
        let elapsed = now.saturating_duration_since(r.issued);
        if self.stores[r.store].stalled || elapsed > self.overdue_after(r, now) {
            return now + Duration::from_secs(3600);
        }
        r.issued + self.expected(r, now)
    }

    /// Requests store `s` may have in flight now: its connections, fewer for a slow store.
    fn slots(&self, s: StoreIx, now: Instant) -> usize {
        let st = &self.stores[s];
        match st.measured(now) {
            Some(rate) => {
                let fit =
                    rate * self.tuning.queue_time.as_secs_f64() / self.typical_shard.max(1) as f64;
                (fit.floor() as usize).clamp(1, st.slots)
            }
            // Until a store has answered, two requests: enough to keep it busy, few to sit on
            // if it turns out slow.
            None => st.slots.min(2),
        }
    }

    fn admit(&mut self) -> bool {
        let Some(spec) = self.specs.front() else {
            return false;
        };
        if !self.window.is_empty() && self.window_bytes + spec.len > self.tuning.window_bytes {
            return false;
        }
        let Some(spec) = self.specs.pop_front() else {
            return false;
        };
        self.window_bytes += spec.len;
        self.window
            .push_back(ChunkState::new(self.next_index, spec));
        self.next_index += 1;
        true
    }

    /// Work for a free slot of store `s`: the earliest chunk still short of shards, preferring a
    /// data shard (no decoding) unless the chunk is urgent. Without `parity`, data shards only.
    fn pick(&mut self, s: StoreIx, parity: bool, slow: &[bool]) -> Option<(usize, usize)> {
        let mut fallback = None;
        let mut pos = 0;
        loop {
            if pos == self.window.len() && !self.admit() {
                break;
            }
            let c = &self.window[pos];
            let k = c.spec.k;
            let usable = |x: StoreIx| self.stores[x].usable();
            let fast = |x: StoreIx| usable(x) && !slow[x];
            if !c.done && c.need(k) > 0 && !(slow[s] && c.coverable_without(s, k, usable, fast)) {
                if let Some(i) = c.askable(s, 0..k.min(c.shards.len()), true, usable) {
                    return Some((pos, i));
                }
                if parity
                    && fallback.is_none()
                    && let Some(i) = c.askable(s, 0..c.shards.len(), true, usable)
                {
                    if pos < self.tuning.urgent || k == 1 {
                        return Some((pos, i));
                    }
                    fallback = Some((pos, i));
                }
            }
            pos += 1;
        }
        fallback
    }

    /// A race for store `s`: a chunk whose outstanding requests will finish well after `s`
    /// could deliver another of its shards, when that matters: a request is overdue, the get is
    /// in its tail (nothing left to admit), or the chunk is the window's front and the window is
    /// full. A request merely queued behind others on a store keeping its pace is left alone:
    /// cancelling it would waste that store's bandwidth.
    fn pick_race(&self, s: StoreIx, now: Instant) -> Option<(usize, usize)> {
        let rate = self.rate(s, now).max(1.0);
        let usable = |x: StoreIx| self.stores[x].usable();
        let tail = self.specs.is_empty();
        let full = self
            .specs
            .front()
            .is_some_and(|n| self.window_bytes + n.len > self.tuning.window_bytes);
        for (pos, c) in self.window.iter().enumerate() {
            if c.done || c.live.is_empty() || c.live.len() >= c.spec.k + self.tuning.max_races {
                continue;
            }
            let late = c.live.iter().filter_map(|id| self.live.get(id)).any(|r| {
                !r.queued
                    && (self.stores[r.store].stalled
                        || now.saturating_duration_since(r.issued) > self.overdue_after(r, now))
            });
            if !(late || tail || (pos == 0 && full)) {
                continue;
            }
            let mine = Duration::from_secs_f64(
                (self.stores[s].live_bytes + c.spec.shard_len) as f64 / rate,
            );
            let Some(latest) = c
                .live
                .iter()
                .filter_map(|id| self.live.get(id))
                .map(|r| self.finish_estimate(r, now))
                .max()
            else {
                continue;
            };
            if latest.saturating_duration_since(now) <= mine * 2 + self.tuning.race_floor {
                continue;
            }
            // Another shard of the chunk, not another copy of a shard being fetched: copies
            // elsewhere exist only where a put spilled.
            if let Some(i) = c.askable(s, 0..c.shards.len(), true, usable) {
                return Some((pos, i));
            }
        }
        None
    }

    /// Requests to send now: fills every usable store's free slots. Stores first take the data
    /// shards they hold; slots still free then take parity, and last race late requests.
    pub fn next_requests(&mut self, now: Instant) -> Vec<Request> {
        // A stalled store stays benched until it answers; but once every request is answered
        // or cancelled (its overdue ones raced away) none will, and with every store benched
        // the fetch would end with stores left to ask. Nothing live: no one is benched.
        if self.live.is_empty() {
            for st in &mut self.stores {
                st.stalled = false;
            }
        }
        let mut out = Vec::new();
        let n = self.stores.len();
        let slow = self.slow_stores(now);
        let start = self.turn;
        self.turn = (self.turn + 1) % n.max(1);
        for pass in [Pass::Data, Pass::Parity] {
            loop {
                let mut issued = false;
                for j in 0..n {
                    let s = (start + j) % n;
                    let st = &self.stores[s];
                    if !st.usable() || st.stalled || st.live >= self.slots(s, now) {
                        continue;
                    }
                    let (choice, race) = match (self.pick(s, pass == Pass::Parity, &slow), pass) {
                        (Some(c), _) => (Some(c), false),
                        (None, Pass::Data) => (None, false),
                        (None, Pass::Parity) => (self.pick_race(s, now), true),
                    };
                    let Some((pos, shard)) = choice else {
                        continue;
                    };
                    out.push(self.issue(s, pos, shard, race, now));
                    issued = true;
                }
                if !issued {
                    break;
                }
            }
        }
        out
    }

    fn issue(&mut self, s: StoreIx, pos: usize, shard: usize, race: bool, now: Instant) -> Request {
        let id = self.next_id;
        self.next_id += 1;
        let c = &mut self.window[pos];
        c.asking[shard] += 1;
        c.tried[shard].push(s);
        c.live.push(id);
        let st = &mut self.stores[s];
        let r = Request {
            id,
            chunk: c.index,
            shard,
            store: s,
            len: c.spec.shard_len,
            issued: now,
            ahead: st.live_bytes,
            queued: false,
        };
        st.live += 1;
        st.live_bytes += r.len;
        st.busy_since.get_or_insert(now);
        st.waiting_since.get_or_insert(now);
        st.tally.requests += 1;
        st.tally.races += u64::from(race);
        self.live.insert(id, r.clone());
        r
    }

    /// Forgets a live request: its store's slot and its chunk's bookkeeping.
    fn retire(&mut self, id: ReqId, now: Instant) -> Option<Request> {
        let r = self.live.remove(&id)?;
        let st = &mut self.stores[r.store];
        st.live -= 1;
        st.live_bytes -= r.len;
        if r.queued {
            st.queued -= 1;
        }
        if st.live == st.queued
            && let Some(t) = st.busy_since.take()
        {
            st.tally.busy += now.saturating_duration_since(t);
        }
        if let Some(c) = self.chunk_mut(r.chunk) {
            c.asking[r.shard] -= 1;
            c.live.retain(|&x| x != id);
        }
        Some(r)
    }

    fn chunk_mut(&mut self, index: usize) -> Option<&mut ChunkState> {
        let pos = index.checked_sub(self.front)?;
        self.window.get_mut(pos)
    }

    /// A store answered request `id`.
    pub fn on_result(&mut self, id: ReqId, verdict: Verdict, now: Instant) -> Step {
        let mut step = Step::default();
        let Some(r) = self.retire(id, now) else {
            return step; // cancelled already
        };
        // The store answered: it is not hung (a stalled store stays benched until it does, so a
        // hung one is not handed request after request while its old ones are raced away).
        self.stores[r.store].waiting_since = None;
        self.stores[r.store].stalled = false;
        let name = |r: &Request| format!("chunk {} shard {}", r.chunk, r.shard);
        match verdict {
            Verdict::Good(bytes) => {
                let st = &mut self.stores[r.store];
                st.tally.bytes += r.len;
                st.stalled = false;
                let Some(c) = self.chunk_mut(r.chunk) else {
                    self.stores[r.store].tally.wasted += r.len;
                    return step;
                };
                if c.done || c.shards[r.shard].is_some() {
                    self.stores[r.store].tally.wasted += r.len;
                    return step;
                }
                c.shards[r.shard] = Some(bytes);
                c.have += 1;
                if c.have >= c.spec.k {
                    c.done = true;
                    step.ready = Some(r.chunk);
                    let others = std::mem::take(&mut c.live);
                    for other in others {
                        if let Some(o) = self.retire(other, now) {
                            let st = &mut self.stores[o.store];
                            st.tally.cancelled += 1;
                            let ran = now.saturating_duration_since(o.issued).as_secs_f64();
                            if st.tally.bytes == 0 && ran > 0.0 {
                                let bound = (o.ahead + o.len) as f64 / ran;
                                st.ceiling = Some(st.ceiling.map_or(bound, |c| c.min(bound)));
                            }
                            step.cancel.push(other);
                        }
                    }
                }
            }
            Verdict::Missing => {
                self.stores[r.store].tally.missing += 1;
                // Only where the shard belongs: other stores are looked at on the off chance.
                let home = self
                    .chunk_mut(r.chunk)
                    .and_then(|c| c.spec.candidates[r.shard].first().copied());
                if home == Some(r.store) {
                    let p = format!("{}: {}: missing", name(&r), self.store_label(r.store));
                    self.problems.push((r.chunk, p));
                }
            }
            Verdict::Corrupt => {
                let max = self.tuning.max_corrupt;
                let st = &mut self.stores[r.store];
                st.tally.corrupt += 1;
                st.tally.wasted += r.len;
                let n = st.tally.corrupt;
                let p = format!("{}: {}: corrupt", name(&r), self.store_label(r.store));
                self.problems.push((r.chunk, p));
                if n >= max {
                    step.cancel.extend(self.drop_store(
                        r.store,
                        format!("returned {n} corrupt shards"),
                        false,
                        now,
                    ));
                }
            }
            Verdict::Failed(why) => {
                self.problems
                    .push((r.chunk, format!("{}: {why}", name(&r))));
                step.cancel
                    .extend(self.drop_store(r.store, why, false, now));
            }
            Verdict::Unavailable(why) => {
                self.problems
                    .push((r.chunk, format!("{}: {why}", name(&r))));
                step.cancel.extend(self.drop_store(r.store, why, true, now));
            }
        }
        step
    }

    fn store_label(&self, s: StoreIx) -> String {
        self.labels
            .get(s)
            .cloned()
            .unwrap_or_else(|| format!("store #{s}"))
    }

    /// Stops using a store for the rest of the get; its requests go back to the queue.
    fn drop_store(&mut self, s: StoreIx, why: String, revivable: bool, now: Instant) -> Vec<ReqId> {
        if self.stores[s].tally.dropped.is_some() {
            return Vec::new();
        }
        self.stores[s].tally.dropped = Some(why);
        self.stores[s].revivable = revivable;
        let ids: Vec<ReqId> = self
            .live
            .values()
            .filter(|r| r.store == s)
            .map(|r| r.id)
            .collect();
        for &id in &ids {
            self.retire(id, now);
            self.stores[s].tally.cancelled += 1;
        }
        ids
    }

    /// Checks the clocks: marks stores with an overdue request as stalled and drops stores that
    /// have not answered for far too long. Returns requests to abandon.
    pub fn tick(&mut self, now: Instant) -> Vec<ReqId> {
        let mut hung = Vec::new();
        let mut stalled = Vec::new();
        for r in self.live.values().filter(|r| !r.queued) {
            let waited = now.saturating_duration_since(r.issued);
            if waited > self.hang_after(r, now) {
                hung.push((r.store, waited));
            } else if waited > self.overdue_after(r, now) {
                stalled.push(r.store);
            }
        }
        for s in stalled {
            self.stores[s].stalled = true;
        }
        // A store whose requests keep being raced away without it ever answering hangs too.
        for s in 0..self.stores.len() {
            let st = &self.stores[s];
            // Requests all waiting behind another operation's are not the store's fault.
            let all_queued = st.live > 0 && st.live == st.queued;
            let (Some(since), true) = (st.waiting_since, st.usable() && !all_queued) else {
                continue;
            };
            let nominal = Duration::from_secs_f64(
                (st.slots as u64 * self.typical_shard) as f64 / self.nominal_rate(s, now).max(1.0),
            );
            let limit = nominal
                .mul_f64(self.tuning.hang_factor)
                .max(self.tuning.hang_floor);
            let waited = now.saturating_duration_since(since);
            if waited > limit {
                hung.push((s, waited));
            }
        }
        let mut cancel = Vec::new();
        for (s, waited) in hung {
            cancel.extend(self.drop_store(
                s,
                format!("no answer for {:.1}s", waited.as_secs_f64()),
                false,
                now,
            ));
        }
        cancel
    }

    /// Hands over the shards of a ready chunk (see [`Step::ready`]).
    pub fn take_shards(&mut self, index: usize) -> Vec<Option<Bytes>> {
        self.chunk_mut(index)
            .map(|c| std::mem::take(&mut c.shards))
            .unwrap_or_default()
    }

    /// The chunk at the window's front has been written out: frees its room in the window.
    pub fn release_front(&mut self) {
        if let Some(c) = self.window.pop_front() {
            self.window_bytes -= c.spec.len;
            self.front += 1;
        }
    }

    /// The first chunk that can no longer gather k shards, with what was tried.
    /// The state a fetch ended in when nothing was left to ask, for its error: each store
    /// (in use, benched, requests live of its slots) and the front chunk (shards in hand, being
    /// fetched, stores tried for each).
    pub fn describe(&self, now: Instant) -> String {
        let slow = self.slow_stores(now);
        let stores: Vec<String> = self
            .stores
            .iter()
            .enumerate()
            .map(|(s, st)| {
                format!(
                    "{}: {}{}{}{}/{}",
                    self.store_label(s),
                    if st.usable() { "" } else { "dropped " },
                    if st.stalled { "benched " } else { "" },
                    if slow[s] { "slow " } else { "" },
                    st.live,
                    self.slots(s, now)
                )
            })
            .collect();
        let front = self.window.iter().find(|c| !c.done).map(|c| {
            let shards: Vec<String> = (0..c.shards.len())
                .map(|i| {
                    format!(
                        "{i}:{}{}t{:?}c{:?}",
                        if c.shards[i].is_some() { "have " } else { "" },
                        if c.asking[i] > 0 { "asking " } else { "" },
                        c.tried[i],
                        c.spec.candidates[i]
                    )
                })
                .collect();
            format!("chunk {} ({})", c.index, shards.join(" "))
        });
        format!(
            "stores {}; {}; {} chunks queued",
            stores.join(", "),
            front.unwrap_or_else(|| "no chunk in the window".into()),
            self.specs.len()
        )
    }

    pub fn stuck(&self) -> Option<(usize, String)> {
        for c in &self.window {
            if c.done {
                continue;
            }
            let k = c.spec.k;
            let possible = (0..c.shards.len())
                .filter(|&i| {
                    c.shards[i].is_some()
                        || c.asking[i] > 0
                        || c.spec.candidates[i]
                            .iter()
                            .any(|&s| self.stores[s].usable() && !c.tried[i].contains(&s))
                })
                .count();
            if possible < k {
                let lost: Vec<&str> = self
                    .problems
                    .iter()
                    .filter(|(n, _)| *n == c.index)
                    .map(|(_, p)| p.as_str())
                    .collect();
                let dropped: Vec<String> = self
                    .stores
                    .iter()
                    .enumerate()
                    .filter_map(|(s, st)| {
                        st.tally
                            .dropped
                            .as_ref()
                            .map(|w| format!("{} ({w})", self.store_label(s)))
                    })
                    .collect();
                return Some((
                    c.index,
                    format!(
                        "only {possible} of its shards can be found, {k} are needed; {}{}",
                        if lost.is_empty() {
                            "no other copies".to_owned()
                        } else {
                            lost.join("; ")
                        },
                        if dropped.is_empty() {
                            String::new()
                        } else {
                            format!("; stores not used: {}", dropped.join(", "))
                        }
                    ),
                ));
            }
        }
        None
    }
}
