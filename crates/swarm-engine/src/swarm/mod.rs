//! An opened swarm: a cheap, cloneable handle every operation (and every task of a daemon)
//! shares. It holds the current [`Members`] snapshot, replaced whole by [`Swarm::reload`] when
//! a newer definition arrives, and a health monitor that re-checks stores that are down, so a
//! store that comes back is used again without a restart.

mod health;
pub(crate) mod members;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::future::join_all;
use swarm_core::definition::SwarmDefinition;
use swarm_core::ids::StoreId;
use swarm_store::credentials::{CredentialSource, DefaultSource};
use swarm_store::{Kinds, Store, StoreError, Unavailable, decorate};

use crate::EngineError;

pub use health::HealthOptions;
pub use members::{FaultKind, ManifestPolicy, Member, Members, ShardFault};

/// Longest a store's marker check may take before the store is taken as silent.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// An opened swarm. Clones share everything.
#[derive(Clone)]
pub struct Swarm {
    shared: Arc<Shared>,
}

struct Shared {
    members: RwLock<Arc<Members>>,
    /// Bumped by every reload: operations in flight compare it to notice new members.
    generation: AtomicU64,
    kinds: Kinds,
    creds: Arc<dyn CredentialSource>,
    monitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// This process's shared lock against gc (`locks.rs`).
    writer_locks: crate::locks::WriterLocks,
    /// Puts write every shard themselves, never leaving parity to the nodes.
    all_shards: bool,
    /// How manifests are signed and trusted; kept across reloads.
    manifests: ManifestPolicy,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Ok(mut m) = self.monitor.lock()
            && let Some(task) = m.take()
        {
            task.abort();
        }
    }
}

/// How to open a swarm.
pub struct SwarmBuilder {
    def: SwarmDefinition,
    creds: Option<Arc<dyn CredentialSource>>,
    kinds: Option<Kinds>,
    stores: Option<Vec<Arc<dyn Store>>>,
    health: HealthOptions,
    all_shards: bool,
    manifests: ManifestPolicy,
}

impl SwarmBuilder {
    /// Where store credentials come from (default: the environment and the credentials file).
    pub fn credentials(mut self, creds: Arc<dyn CredentialSource>) -> Self {
        self.creds = Some(creds);
        self
    }

    /// The store kinds to open stores with (default: the built-in ones).
    pub fn kinds(mut self, kinds: Kinds) -> Self {
        self.kinds = Some(kinds);
        self
    }

    /// Bare stores to use instead of opening the definition's (same order; tests). They get
    /// the standard decorators.
    pub fn stores(mut self, stores: Vec<Arc<dyn Store>>) -> Self {
        self.stores = Some(stores);
        self
    }

    pub fn health(mut self, health: HealthOptions) -> Self {
        self.health = health;
        self
    }

    /// Puts write every shard, even where the definition lets them leave parity to the nodes
    /// (super-seeding, [`Members`]' `left_to_nodes`): the key is fully redundant when the put
    /// returns, at the cost of sending (k + m) / k times its size.
    pub fn all_shards(mut self, all: bool) -> Self {
        self.all_shards = all;
        self
    }

    /// How manifests are signed and which are trusted (default: unsigned, all trusted).
    pub fn manifests(mut self, policy: ManifestPolicy) -> Self {
        self.manifests = policy;
        self
    }

    /// Opens every store and checks them all at once.
    pub async fn open(self) -> Result<Swarm, EngineError> {
        self.def.validate()?;
        let creds: Arc<dyn CredentialSource> = match self.creds {
            Some(c) => c,
            None => Arc::new(DefaultSource::new()),
        };
        let kinds = self.kinds.unwrap_or_else(Kinds::builtin);
        let bare = match self.stores {
            Some(s) if s.len() == self.def.stores.len() => s,
            Some(s) => {
                return Err(EngineError::Internal(format!(
                    "{} stores given for a definition of {}",
                    s.len(),
                    self.def.stores.len()
                )));
            }
            None => self
                .def
                .stores
                .iter()
                .map(|e| kinds.open(e, self.def.swarm, creds.as_ref()))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let stores: Vec<Arc<dyn Store>> = bare
            .into_iter()
            .zip(&self.def.stores)
            .map(|(s, e)| decorate::standard(s, e))
            .collect();
        join_all((0..stores.len()).map(|i| check(stores[i].as_ref()))).await;
        let members = Members::new(self.def, stores, self.manifests.clone())?;
        let shared = Arc::new(Shared {
            members: RwLock::new(Arc::new(members)),
            generation: AtomicU64::new(0),
            kinds,
            creds,
            monitor: Mutex::new(None),
            writer_locks: Default::default(),
            all_shards: self.all_shards,
            manifests: self.manifests,
        });
        let monitor = health::spawn(Arc::downgrade(&shared), self.health);
        if let Ok(mut m) = shared.monitor.lock() {
            *m = monitor;
        }
        Ok(Swarm { shared })
    }
}

/// Checks a store's marker within [`CHECK_TIMEOUT`]; a store that does not answer is marked
/// down. The result is in the store's health.
pub(crate) async fn check(store: &dyn Store) -> Result<(), StoreError> {
    match tokio::time::timeout(CHECK_TIMEOUT, store.check()).await {
        Ok(result) => result,
        Err(_) => {
            let why = Unavailable::Silent(format!(
                "no answer to its marker check in {}s",
                CHECK_TIMEOUT.as_secs()
            ));
            store.mark_down(why.clone());
            Err(StoreError::Unavailable {
                store: store.id().clone(),
                why,
            })
        }
    }
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reloaded {
    pub version: u64,
    pub added: Vec<StoreId>,
    pub removed: Vec<StoreId>,
    /// Stores whose URL, limits or quota changed (opened anew).
    pub changed: Vec<StoreId>,
}

impl Swarm {
    pub fn builder(def: SwarmDefinition) -> SwarmBuilder {
        SwarmBuilder {
            def,
            creds: None,
            kinds: None,
            stores: None,
            health: HealthOptions::default(),
            all_shards: false,
            manifests: ManifestPolicy::default(),
        }
    }

    /// Opens every store the definition names (credentials from the environment and the
    /// credentials file) and checks them all at once.
    pub async fn open(def: SwarmDefinition) -> Result<Self, EngineError> {
        Self::builder(def).open().await
    }

    /// As [`Swarm::open`], asking `creds` for store credentials (the special remote chains
    /// what git-annex's GETCREDS gave before the default source).
    pub async fn open_with(
        def: SwarmDefinition,
        creds: Arc<dyn CredentialSource>,
    ) -> Result<Self, EngineError> {
        Self::builder(def).credentials(creds).open().await
    }

    /// Opens a swarm over bare stores (same order as the definition's entries; tests).
    pub async fn with_stores(
        def: SwarmDefinition,
        stores: Vec<Arc<dyn Store>>,
    ) -> Result<Self, EngineError> {
        Self::builder(def).stores(stores).open().await
    }

    /// The current stores and rules. Operations take one snapshot when they start.
    pub fn members(&self) -> Arc<Members> {
        match self.shared.members.read() {
            Ok(m) => Arc::clone(&m),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Whether puts write every shard themselves (see [`SwarmBuilder::all_shards`]).
    pub(crate) fn all_shards(&self) -> bool {
        self.shared.all_shards
    }

    pub(crate) fn writer_locks(&self) -> &crate::locks::WriterLocks {
        &self.shared.writer_locks
    }

    /// Bumped by every reload that changed something.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }

    /// The current definition.
    pub fn definition(&self) -> SwarmDefinition {
        self.members().definition().clone()
    }

    /// Takes a newer definition of the same swarm without a restart: stores whose entry is
    /// unchanged are kept (with their connections, breaker and counts), new or changed ones
    /// are opened and checked. Operations in flight finish with the stores they started with,
    /// and a get also starts using stores that joined.
    pub async fn reload(&self, def: SwarmDefinition) -> Result<Reloaded, EngineError> {
        let current = self.members();
        let old = current.definition();
        if def.swarm != old.swarm {
            return Err(EngineError::Reload(format!(
                "it is swarm {}, this is swarm {}",
                def.swarm, old.swarm
            )));
        }
        if def == *old {
            return Ok(Reloaded {
                version: def.version,
                ..Default::default()
            });
        }
        if def.version <= old.version {
            return Err(EngineError::Reload(format!(
                "its version {} is not newer than {}",
                def.version, old.version
            )));
        }
        def.validate()?;
        let mut report = Reloaded {
            version: def.version,
            ..Default::default()
        };
        let mut stores = Vec::with_capacity(def.stores.len());
        let mut fresh = Vec::new();
        for entry in &def.stores {
            let same = current
                .stores()
                .iter()
                .find(|m| m.entry.id == entry.id && store_unchanged(&m.entry, entry));
            match same {
                Some(m) => stores.push(Arc::clone(&m.store)),
                None => {
                    let bare =
                        self.shared
                            .kinds
                            .open(entry, def.swarm, self.shared.creds.as_ref())?;
                    let store = decorate::standard(bare, entry);
                    fresh.push(Arc::clone(&store));
                    if current.stores().iter().any(|m| m.entry.id == entry.id) {
                        report.changed.push(entry.id.clone());
                    } else {
                        report.added.push(entry.id.clone());
                    }
                    stores.push(store);
                }
            }
        }
        report.removed = old
            .stores
            .iter()
            .filter(|e| !def.stores.iter().any(|n| n.id == e.id))
            .map(|e| e.id.clone())
            .collect();
        join_all((0..fresh.len()).map(|i| check(fresh[i].as_ref()))).await;
        let members = Arc::new(Members::new(def, stores, self.shared.manifests.clone())?);
        match self.shared.members.write() {
            Ok(mut m) => *m = members,
            Err(poisoned) => *poisoned.into_inner() = members,
        }
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        Ok(report)
    }
}

/// Whether a store can be kept across a reload: the same place behind the same limits.
/// (Its weight only changes placement, which the snapshot recomputes.)
fn store_unchanged(
    a: &swarm_core::definition::StoreEntry,
    b: &swarm_core::definition::StoreEntry,
) -> bool {
    a.url == b.url
        && a.quota == b.quota
        && a.download_rate == b.download_rate
        && a.upload_rate == b.upload_rate
        && a.connections == b.connections
}
