//! What changes from outside while a fetch runs: stores that join the swarm, go down, come
//! back or leave, chunks whose places change, requests that wait for a connection another
//! operation of the process holds. (States: `STATE.md`.)

use std::time::Instant;

use super::{Plan, ReqId, StoreIx, StoreState};

impl Plan {
    /// A store that joined the swarm: it may hold any shard, after every place that was
    /// known (its index is returned).
    pub fn add_store(&mut self, label: String, connections: usize) -> StoreIx {
        let s = self.stores.len();
        self.stores.push(StoreState::new(connections, None));
        self.labels.push(label);
        for spec in self.specs.iter_mut() {
            for c in spec.candidates.iter_mut() {
                c.push(s);
            }
        }
        for c in self.window.iter_mut() {
            for cand in c.spec.candidates.iter_mut() {
                cand.push(s);
            }
        }
        s
    }

    /// Chunks not yet complete (in the window or still to come), by index.
    pub fn pending(&self) -> Vec<usize> {
        let queued = self.next_index..self.next_index + self.specs.len();
        self.window
            .iter()
            .filter(|c| !c.done)
            .map(|c| c.index)
            .chain(queued)
            .collect()
    }

    /// New places to look for each shard of chunk `index` (the swarm's stores changed), the
    /// first `sure[i]` of shard i's known to hold it.
    pub fn set_candidates(
        &mut self,
        index: usize,
        candidates: Vec<Vec<StoreIx>>,
        sure: Vec<usize>,
    ) {
        let spec = match self.chunk_mut(index) {
            Some(c) => Some(&mut c.spec),
            None => index
                .checked_sub(self.next_index)
                .and_then(|i| self.specs.get_mut(i)),
        };
        if let Some(spec) = spec
            && spec.candidates.len() == candidates.len()
            && sure.len() == candidates.len()
        {
            spec.candidates = candidates;
            spec.sure = sure;
        }
    }

    /// Whether store `s` was dropped for a reason that may pass.
    pub fn revivable(&self, s: StoreIx) -> bool {
        let st = &self.stores[s];
        st.tally.dropped.is_some() && st.revivable
    }

    pub fn usable(&self, s: StoreIx) -> bool {
        self.stores[s].usable()
    }

    /// A dropped store is back (its check passed): it is asked again, also for the shards it
    /// failed before.
    pub fn revive(&mut self, s: StoreIx) {
        if !self.revivable(s) {
            return;
        }
        let st = &mut self.stores[s];
        st.tally.dropped = None;
        st.stalled = false;
        st.waiting_since = None;
        st.ceiling = None;
        for c in self.window.iter_mut().filter(|c| !c.done) {
            for i in 0..c.shards.len() {
                if c.shards[i].is_none() && c.asking[i] == 0 {
                    c.tried[i].retain(|&x| x != s);
                }
            }
        }
    }

    /// Stops using store `s` (it went down, or left the swarm); its requests are to be
    /// abandoned (returned) and their shards asked elsewhere.
    pub fn drop_store_for(&mut self, s: StoreIx, why: String, now: Instant) -> Vec<ReqId> {
        self.drop_store(s, why, true, now)
    }

    /// Request `id` waits for a connection another operation holds: until admitted, its time
    /// is not the store's.
    pub fn on_queued(&mut self, id: ReqId) {
        let Some(r) = self.live.get_mut(&id) else {
            return;
        };
        if r.queued {
            return;
        }
        r.queued = true;
        let st = &mut self.stores[r.store];
        st.queued += 1;
        st.tally.queued += 1;
        if st.live == st.queued {
            // Nothing of ours is at the store: it is not busy for us, nor keeping us waiting.
            st.busy_since = None;
            st.waiting_since = None;
        }
    }

    /// Request `id` got its connection: its clock starts now.
    pub fn on_admitted(&mut self, id: ReqId, now: Instant) {
        let Some(r) = self.live.get_mut(&id) else {
            return;
        };
        if !r.queued {
            return;
        }
        r.queued = false;
        r.issued = now;
        let st = &mut self.stores[r.store];
        st.queued -= 1;
        st.busy_since.get_or_insert(now);
        st.waiting_since.get_or_insert(now);
    }
}
