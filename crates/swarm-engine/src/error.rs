//! Engine errors: each names the key, chunk or store it is about.

use swarm_core::definition::DefinitionError;
use swarm_core::key::KeyError;
use swarm_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("key {key} is not in the swarm (looked in: {looked})")]
    NotPresent { key: String, looked: String },
    #[error("key {key} cannot be restored: {detail}")]
    Unrestorable { key: String, detail: String },
    #[error("content does not match key {key}: {detail}")]
    Mismatch { key: String, detail: String },
    #[error("not enough stores for {what}: {detail}")]
    NotEnoughStores { what: String, detail: String },
    #[error("{0}")]
    Refused(String),
}
