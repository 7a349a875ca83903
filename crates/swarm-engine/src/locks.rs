//! Locks between writers and gc, on any machine that shares the stores
//! (`docs/spec/locks-v1.md`). Writers (put, repair) hold a shared lock, one per process while
//! any of them runs (and [`LINGER`] after, so many small puts take it once); gc holds an
//! exclusive one on every store and refuses while any writer's lock is fresh.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use swarm_core::lock::{LockMode, LockRecord, REFRESH_SECS};
use swarm_store::{Class, LockName, Object, Store};
use tokio::sync::Mutex;

use crate::EngineError;
use crate::pool::file;
use crate::swarm::{Members, Swarm};

/// A lock record is a few lines; anything bigger at a lock's name is not one.
const MAX_LOCK: u64 = 64 << 10;
/// How long a process keeps its shared lock after its last write operation.
pub const LINGER: Duration = Duration::from_secs(10);
/// How long a writer waits for a gc to finish before giving up.
const WAIT_FOR_GC: Duration = Duration::from_secs(600);

/// This process's shared lock, if it holds one.
#[derive(Default)]
pub(crate) struct WriterLocks {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    users: usize,
    held: Option<Held>,
    /// Bumped whenever the lock is taken, so a lingering release knows it is still its own.
    taken: u64,
}

struct Held {
    store: Arc<dyn Store>,
    object: Object,
    refresher: tokio::task::JoinHandle<()>,
}

/// Held while a write operation runs; the process's shared lock goes [`LINGER`] after the last.
pub(crate) struct WriteLock {
    swarm: Swarm,
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let swarm = self.swarm.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { swarm.release_writer().await });
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_name(mode: LockMode) -> Option<LockName> {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (t ^ u128::from(std::process::id())).to_le_bytes();
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    LockName::new(&format!("{}-{hex}", mode.as_str()))
}

/// This machine's name, for lock records and for telling our own stale locks.
async fn host_name() -> String {
    file(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "unknown".into())
    })
    .await
}

/// Whether process `pid` of this host runs (where the system can tell; else assumed).
fn runs(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// A lock found on a store: fresh (someone holds the swarm), stale, or not a lock of ours.
enum Found {
    Fresh(LockRecord),
    Stale,
    Foreign,
}

impl Members {
    fn record(&self, mode: LockMode, host: &str, purpose: &str) -> LockRecord {
        let now = unix_now();
        LockRecord {
            format: swarm_core::lock::FORMAT,
            mode,
            swarm: self.definition().swarm,
            host: host.to_owned(),
            pid: std::process::id(),
            purpose: purpose.to_owned(),
            created: now,
            refreshed: now,
        }
    }

    /// Reads and judges every lock on store `i` but `ours`.
    async fn locks_on(
        &self,
        i: usize,
        ours: &[Object],
        host: &str,
    ) -> Result<Vec<(Object, Found)>, EngineError> {
        let listing = self.store(i).list(Class::Locks).await?;
        let mut out = Vec::new();
        for l in listing.objects {
            if ours.contains(&l.object) {
                continue;
            }
            let found = match self.store(i).read(&l.object, MAX_LOCK).await {
                Ok(bytes) => match LockRecord::decode(&bytes) {
                    Ok(r) if r.swarm == self.definition().swarm => {
                        let (record, host) = (r.clone(), host.to_owned());
                        let stale = file(move || record.is_stale(unix_now(), &host, runs)).await;
                        if stale { Found::Stale } else { Found::Fresh(r) }
                    }
                    _ => Found::Foreign,
                },
                // Gone since the listing: released.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            out.push((l.object, found));
        }
        Ok(out)
    }
}

impl Swarm {
    /// Holds the swarm for a write operation (put, repair): takes this process's shared lock
    /// unless it holds it already, waiting while a gc runs.
    pub(crate) async fn writing(&self, purpose: &str) -> Result<WriteLock, EngineError> {
        let mut st = self.writer_locks().state.lock().await;
        st.users += 1;
        if st.held.is_none() {
            match self.take_shared(purpose).await {
                Ok(held) => {
                    st.held = Some(held);
                    st.taken += 1;
                }
                Err(e) => {
                    st.users -= 1;
                    return Err(e);
                }
            }
        }
        Ok(WriteLock {
            swarm: self.clone(),
        })
    }

    /// Releases this process's shared lock now (front ends call this before they exit, so a
    /// gc need not wait for it to linger or go stale).
    pub async fn close(&self) {
        let held = self.writer_locks().state.lock().await.held.take();
        if let Some(h) = held {
            h.refresher.abort();
            let _ = h.store.delete(&h.object).await;
        }
    }

    /// Drops this process's lingering shared lock if no write operation of it runs (a gc in a
    /// process that has just put must not wait for its own lock to linger out).
    pub(crate) async fn release_idle_writer(&self) {
        let held = {
            let mut st = self.writer_locks().state.lock().await;
            if st.users > 0 {
                return;
            }
            st.held.take()
        };
        if let Some(h) = held {
            h.refresher.abort();
            let _ = h.store.delete(&h.object).await;
        }
    }

    async fn release_writer(&self) {
        let taken = {
            let mut st = self.writer_locks().state.lock().await;
            st.users = st.users.saturating_sub(1);
            if st.users > 0 {
                return;
            }
            st.taken
        };
        tokio::time::sleep(LINGER).await;
        let held = {
            let mut st = self.writer_locks().state.lock().await;
            if st.users > 0 || st.taken != taken {
                return;
            }
            st.held.take()
        };
        if let Some(h) = held {
            h.refresher.abort();
            let _ = h.store.delete(&h.object).await;
        }
    }

    async fn take_shared(&self, purpose: &str) -> Result<Held, EngineError> {
        let host = host_name().await;
        let started = tokio::time::Instant::now();
        let mut backoff = Duration::from_secs(2);
        loop {
            let members = self.members();
            let name = random_name(LockMode::Shared)
                .ok_or_else(|| EngineError::Internal("lock name".into()))?;
            let object = Object::Lock(name);
            let record = members.record(LockMode::Shared, &host, purpose);
            // On the first store that is up and takes it: a store that refuses writes (a
            // stray in its layout, a full disk) is left to the put, which places around it.
            let mut refused = None;
            let mut on = None;
            for i in (0..members.len()).filter(|&i| members.up(i)) {
                match members
                    .store(i)
                    .write(&object, record.encode().into())
                    .await
                {
                    Ok(()) => {
                        on = Some(i);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(store = %members.name(i), "cannot hold a write lock: {e}");
                        refused = Some(e);
                    }
                }
            }
            let Some(i) = on else {
                return Err(match refused {
                    Some(e) => e.into(),
                    None => EngineError::NotEnoughStores {
                        what: "a write lock".into(),
                        detail: members.down_summary(&[]),
                    },
                });
            };
            let store = Arc::clone(members.store(i));
            let gc = members
                .locks_on(i, std::slice::from_ref(&object), &host)
                .await
                .map(|locks| {
                    locks.into_iter().find_map(|(o, f)| match (o, f) {
                        (Object::Lock(n), Found::Fresh(r)) if n.is_exclusive() => Some(r),
                        _ => None,
                    })
                });
            let gc = match gc {
                Ok(gc) => gc,
                Err(e) => {
                    let _ = store.delete(&object).await;
                    return Err(e);
                }
            };
            let Some(gc) = gc else {
                let refresher = tokio::spawn(refresh(Arc::clone(&store), object.clone(), record));
                return Ok(Held {
                    store,
                    object,
                    refresher,
                });
            };
            let _ = store.delete(&object).await;
            if started.elapsed() >= WAIT_FOR_GC {
                return Err(EngineError::Refused(format!(
                    "a gc holds the swarm ({}); waited {} s for it",
                    gc.holder(),
                    WAIT_FOR_GC.as_secs()
                )));
            }
            tracing::info!("a gc holds the swarm ({}): waiting", gc.holder());
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Takes the swarm for gc: an exclusive lock on every store that is up (gc without `--force`
    /// has them all up), then no fresh lock of anyone else on any of them. Returns our locks and
    /// the stale locks found (gc deletes both at the end).
    pub(crate) async fn take_exclusive(
        &self,
        members: &Members,
    ) -> Result<Vec<(usize, Object)>, EngineError> {
        let host = host_name().await;
        let name = random_name(LockMode::Exclusive)
            .ok_or_else(|| EngineError::Internal("lock name".into()))?;
        let ours = Object::Lock(name);
        let bytes = bytes::Bytes::from(members.record(LockMode::Exclusive, &host, "gc").encode());
        let up: Vec<usize> = (0..members.len()).filter(|&i| members.up(i)).collect();
        let written = join_all(
            up.iter()
                .copied()
                .map(|i| members.store(i).write(&ours, bytes.clone())),
        )
        .await;
        let mut taken: Vec<(usize, Object)> = Vec::new();
        let mut failure = None;
        for (&i, r) in up.iter().zip(written) {
            match r {
                Ok(()) => taken.push((i, ours.clone())),
                Err(e) => failure = Some(e),
            }
        }
        if let Some(e) = failure {
            release(members, &taken).await;
            return Err(EngineError::Refused(format!(
                "gc cannot lock every store: {e}"
            )));
        }
        let mine = std::slice::from_ref(&ours);
        let found = join_all(up.iter().copied().map(|i| members.locks_on(i, mine, &host))).await;
        let mut stale = Vec::new();
        for (&i, locks) in up.iter().zip(found) {
            let locks = match locks {
                Ok(l) => l,
                Err(e) => {
                    release(members, &taken).await;
                    return Err(e);
                }
            };
            for (object, f) in locks {
                match f {
                    Found::Fresh(r) => {
                        release(members, &taken).await;
                        let who = match r.mode {
                            LockMode::Shared => "a writer holds the swarm",
                            LockMode::Exclusive => "another gc runs",
                        };
                        return Err(EngineError::Refused(format!(
                            "gc cannot run now: {who} ({}); try again when it is done",
                            r.holder()
                        )));
                    }
                    Found::Stale => stale.push((i, object)),
                    Found::Foreign => {
                        tracing::warn!(store = %members.name(i), "not a lock of this swarm: {object}")
                    }
                }
            }
        }
        taken.extend(stale);
        Ok(taken)
    }
}

/// Deletes locks (ours when done, stale ones gc found).
pub(crate) async fn release(members: &Members, locks: &[(usize, Object)]) {
    join_all((0..locks.len()).map(|n| members.store(locks[n].0).delete(&locks[n].1))).await;
}

/// Rewrites a held lock every [`REFRESH_SECS`], so it never looks stale while held.
async fn refresh(store: Arc<dyn Store>, object: Object, mut record: LockRecord) {
    loop {
        tokio::time::sleep(Duration::from_secs(REFRESH_SECS)).await;
        record.refreshed = unix_now();
        if let Err(e) = store.write(&object, record.encode().into()).await {
            tracing::warn!("cannot refresh the write lock: {e}");
        }
    }
}
