//! A swarm of in-memory stores, each behind a fault injector the test steers, opened with the
//! engine's real decorators (limits, retry and breaker, deadlines). With tokio's clock paused,
//! rate limits and timeouts run in virtual time: fast and exact.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use swarm_core::definition::{StoreEntry, SwarmDefinition};
use swarm_core::ids::SwarmId;
use swarm_core::key::Key;
use swarm_core::units::{ByteSize, Rate};
use swarm_engine::progress::Quiet;
use swarm_engine::swarm::HealthOptions;
use swarm_engine::{GetReport, Swarm};
use swarm_store::decorate::{Fault, FaultHandle, Faults};
use swarm_store::kinds::memory::MemoryStore;
use swarm_store::{Class, Kinds, Store, StoreAdmin, StoreError, StoreKind, Target};

pub struct Rig {
    pub def: SwarmDefinition,
    /// The rig's stores by id, as a store kind the engine opens them with (also on reload).
    kind: Arc<RigKind>,
    pub mems: Vec<MemoryStore>,
    /// Each memory store behind its fault injector (bare: the engine adds its decorators).
    pub stores: Vec<Arc<dyn Store>>,
    pub faults: Vec<FaultHandle>,
}

pub const SWARM: SwarmId = SwarmId([9; 16]);

impl Rig {
    /// `n` stores `s0..`, k + m coding, target shard size `shard` bytes, objects under 1 KiB
    /// inline.
    pub async fn new(k: u16, m: u16, n: usize, shard: u64) -> Rig {
        let entries = (0..n)
            .map(|i| StoreEntry::new(format!("s{i}").parse().unwrap(), format!("/memory/{i}")))
            .collect();
        let mut def = SwarmDefinition::new(k, m, entries).unwrap();
        def.swarm = SWARM;
        def.coding.shard_size = Some(ByteSize(shard));
        def.coding.inline_threshold = ByteSize(1024);
        let mut rig = Rig {
            def,
            kind: Arc::new(RigKind(Mutex::default())),
            mems: Vec::new(),
            stores: Vec::new(),
            faults: Vec::new(),
        };
        for i in 0..n {
            rig.add_store(i).await;
        }
        rig
    }

    /// A store `s{i}` with its marker (not yet in the definition).
    pub async fn add_store(&mut self, i: usize) {
        let mem = MemoryStore::new(format!("s{i}").parse().unwrap(), SWARM);
        mem.create().await.unwrap();
        let (faulty, handle) = Faults::wrap(Arc::new(mem.clone()));
        if let Ok(mut m) = self.kind.0.lock() {
            m.insert(format!("s{i}"), faulty.clone());
        }
        self.mems.push(mem);
        self.stores.push(faulty);
        self.faults.push(handle);
    }

    /// Sets every store's `download_rate` (`None`: unlimited).
    pub fn rates(&mut self, rates: &[Option<&str>]) {
        for (e, r) in self.def.stores.iter_mut().zip(rates) {
            e.download_rate = r.map(|r| r.parse::<Rate>().unwrap());
        }
    }

    pub fn set(&self, i: usize, fault: Fault) {
        self.faults[i].set(fault);
    }

    /// Opens the swarm over the rig's stores; down stores are re-checked every second.
    pub async fn open(&self) -> Swarm {
        self.open_def(self.def.clone()).await
    }

    /// Opens `def` (a subset of the rig's stores, by id).
    pub async fn open_def(&self, def: SwarmDefinition) -> Swarm {
        let mut kinds = Kinds::empty();
        kinds.register(self.kind.clone());
        Swarm::builder(def)
            .kinds(kinds)
            .health(HealthOptions {
                recheck_after: Duration::from_secs(1),
                recheck_at_most: Duration::from_secs(4),
                check_up_every: Duration::from_secs(60),
            })
            .open()
            .await
            .unwrap()
    }

    /// Deletes every shard of store `i` (a disk replaced by an empty one).
    pub async fn wipe_shards(&self, i: usize) {
        let listing = self.mems[i].list(Class::Shards).await.unwrap();
        for l in listing.objects {
            self.mems[i].delete(&l.object).await.unwrap();
        }
    }

    pub async fn shard_count(&self, i: usize) -> usize {
        self.mems[i]
            .list(Class::Shards)
            .await
            .unwrap()
            .objects
            .len()
    }
}

/// The rig's stores as the kind of `/memory/N` URLs (which parse as local paths).
struct RigKind(Mutex<HashMap<String, Arc<dyn Store>>>);

impl StoreKind for RigKind {
    fn name(&self) -> &'static str {
        "local"
    }

    fn open(&self, t: &Target<'_>) -> Result<Arc<dyn Store>, StoreError> {
        let stores = self.0.lock().unwrap();
        stores
            .get(t.entry.id.as_str())
            .cloned()
            .ok_or_else(|| StoreError::Config {
                store: t.entry.id.clone(),
                reason: "not a store of the rig".into(),
            })
    }
}

pub fn content(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 13) as u8)
        .collect()
}

pub async fn put(swarm: &Swarm, data: &[u8]) -> Key {
    let report = swarm
        .put_stream(Cursor::new(data.to_vec()), None, "f.bin", &Quiet)
        .await
        .unwrap();
    report.key.parse().unwrap()
}

pub async fn get(swarm: &Swarm, key: &Key) -> (Vec<u8>, GetReport) {
    let mut out = Vec::new();
    let report = swarm.get_to(key, &mut out, &Quiet).await.unwrap();
    (out, report)
}

/// Sets the modification time of every shard of every store to `ago` in the past.
pub fn age_shards(rig: &Rig, ago: Duration) {
    let when = std::time::SystemTime::now() - ago;
    for mem in &rig.mems {
        let listing = futures::executor::block_on(mem.list(Class::Shards)).unwrap();
        for l in listing.objects {
            mem.set_modified(&l.object, when);
        }
    }
}
