//! Store kinds, registered by name: the local directory and the OpenDAL services are built in,
//! and a crate above adds its own (a peer node, a torrent) with [`Kinds::register`] without
//! editing anything here. A kind builds the bare store; [`crate::decorate`] wraps it.

pub mod local;
pub mod memory;
pub mod remote;
pub mod unusable;

use std::collections::HashMap;
use std::sync::Arc;

use swarm_core::definition::{StoreEntry, StoreLocation};
use swarm_core::ids::SwarmId;

use crate::credentials::CredentialSource;
use crate::error::{StoreError, Unavailable};
use crate::store::Store;

/// What a kind is given to build a store.
pub struct Target<'a> {
    pub entry: &'a StoreEntry,
    pub location: &'a StoreLocation,
    pub swarm: SwarmId,
    pub creds: &'a dyn CredentialSource,
}

/// One kind of store.
pub trait StoreKind: Send + Sync {
    /// The kind's name: what [`StoreLocation::kind`] says of the URLs it serves.
    fn name(&self) -> &'static str;

    /// Builds a store. A location the kind cannot serve is an error; missing credentials are
    /// not: the store is returned as one that says it is unavailable, and why.
    fn open(&self, target: &Target<'_>) -> Result<Arc<dyn Store>, StoreError>;
}

/// The kinds a process knows.
#[derive(Clone)]
pub struct Kinds {
    kinds: HashMap<&'static str, Arc<dyn StoreKind>>,
}

impl std::fmt::Debug for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.kinds.keys().copied().collect();
        names.sort_unstable();
        f.debug_struct("Kinds").field("kinds", &names).finish()
    }
}

impl Kinds {
    /// No kind at all.
    pub fn empty() -> Self {
        Kinds {
            kinds: HashMap::new(),
        }
    }

    /// Local directories and every OpenDAL service this build has.
    pub fn builtin() -> Self {
        let mut k = Kinds::empty();
        k.register(Arc::new(LocalKind));
        for name in ["s3", "webdav", "sftp", "gdrive", "onedrive", "dropbox"] {
            k.register(Arc::new(ServiceKind(name)));
        }
        k
    }

    /// Adds a kind, replacing one of the same name; returns the one replaced.
    pub fn register(&mut self, kind: Arc<dyn StoreKind>) -> Option<Arc<dyn StoreKind>> {
        self.kinds.insert(kind.name(), kind)
    }

    /// Builds the bare store a definition entry names.
    pub fn open(
        &self,
        entry: &StoreEntry,
        swarm: SwarmId,
        creds: &dyn CredentialSource,
    ) -> Result<Arc<dyn Store>, StoreError> {
        let location = entry.location().map_err(|e| StoreError::Config {
            store: entry.id.clone(),
            reason: e.to_string(),
        })?;
        let kind = self
            .kinds
            .get(location.kind())
            .ok_or_else(|| StoreError::Config {
                store: entry.id.clone(),
                reason: format!("this build has no `{}` store kind", location.kind()),
            })?;
        kind.open(&Target {
            entry,
            location: &location,
            swarm,
            creds,
        })
    }
}

struct LocalKind;

impl StoreKind for LocalKind {
    fn name(&self) -> &'static str {
        "local"
    }

    fn open(&self, t: &Target<'_>) -> Result<Arc<dyn Store>, StoreError> {
        match t.location {
            StoreLocation::Local(root) => Ok(Arc::new(local::LocalStore::new(
                t.entry.id.clone(),
                root.clone(),
                t.swarm,
            ))),
            other => Err(StoreError::Config {
                store: t.entry.id.clone(),
                reason: format!("a {} URL is not a local directory", other.kind()),
            }),
        }
    }
}

/// A service reached through OpenDAL.
struct ServiceKind(&'static str);

impl StoreKind for ServiceKind {
    fn name(&self) -> &'static str {
        self.0
    }

    fn open(&self, t: &Target<'_>) -> Result<Arc<dyn Store>, StoreError> {
        let id = &t.entry.id;
        match remote::build_operator(id, t.location, t.creds) {
            Ok(op) => Ok(Arc::new(remote::RemoteStore::new(
                id.clone(),
                t.swarm,
                self.0,
                op,
            ))),
            Err(StoreError::Config { reason, .. }) => Ok(Arc::new(unusable::Unusable::new(
                id.clone(),
                self.0,
                Unavailable::Unconfigured(reason),
            ))),
            Err(e) => Err(e),
        }
    }
}
