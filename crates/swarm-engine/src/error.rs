//! Engine errors. Each names what it is about (key, chunk, store, file), and
//! [`EngineError::is_retryable`] says whether the same operation may succeed later without
//! anyone changing anything (a store that was silent may answer).

use std::path::PathBuf;

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
    /// The user's file: the source of a put, the destination of a get.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A byte stream given to a put or taken from a get failed.
    #[error("{what}: {source}")]
    Stream {
        what: &'static str,
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
    /// What was asked cannot be done (bad input, a refused precondition); the text says why.
    #[error("{0}")]
    Refused(String),
    /// A newer definition could not be taken.
    #[error("definition not taken: {0}")]
    Reload(String),
    /// A bug or a dead worker: an internal step that cannot fail did.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// Whether the data named could not be restored as named (shards missing, or bytes that do
    /// not hash to what they should): another manifest copy may do better.
    pub fn is_restore_failure(&self) -> bool {
        matches!(
            self,
            EngineError::Mismatch { .. } | EngineError::Unrestorable { .. }
        )
    }

    /// Whether trying the same operation later may succeed by itself: stores that were silent
    /// or absent may be back.
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Store(e) => {
                e.is_transient() || e.unavailable().is_some_and(|u| u.may_recover())
            }
            EngineError::NotEnoughStores { .. } | EngineError::Unrestorable { .. } => true,
            EngineError::NotPresent { looked, .. } => looked.contains("unavailable"),
            _ => false,
        }
    }
}
