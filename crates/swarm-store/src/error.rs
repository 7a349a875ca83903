//! Store errors. Whether an error means "this object is not there", "this store cannot be used
//! now (and why)" or "this operation failed" is in the variant, because the engine treats them
//! differently; whether trying again can help is [`StoreError::is_transient`] (the same request,
//! now) and [`Unavailable::may_recover`] (the store, later).

use std::fmt;

use swarm_core::ids::StoreId;

use crate::object::Object;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {store}: {object} not found")]
    NotFound { store: StoreId, object: Object },
    #[error("store {store} is unavailable: {why}")]
    Unavailable { store: StoreId, why: Unavailable },
    #[error("store {store}: cannot {op} {object}: {source}")]
    Io {
        store: StoreId,
        op: &'static str,
        object: String,
        source: std::io::Error,
        /// A timeout, a dropped connection, a 5xx answer: the same request may succeed if sent
        /// again.
        transient: bool,
    },
    #[error("store {store}: {object} is larger than the {max} bytes expected")]
    TooLarge {
        store: StoreId,
        object: Object,
        max: u64,
    },
    #[error("store {store}: {object} is not a file the store wrote ({what}); left alone")]
    Stray {
        store: StoreId,
        object: String,
        what: String,
    },
    /// The store sent bytes that are not the object asked for (a shard whose BLAKE3 is not its
    /// name): a peer that lies or a disk that rots. Never transient; the bytes are dropped.
    #[error("store {store}: {object} came back corrupt: {detail}")]
    Corrupt {
        store: StoreId,
        object: Object,
        detail: String,
    },
    #[error("store {store}: full ({detail})")]
    Full { store: StoreId, detail: String },
    #[error("store {store}: {reason}")]
    Config { store: StoreId, reason: String },
}

/// Why a store cannot be used now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// It does not answer, or keeps failing (timeouts, refused connections, 5xx after retries).
    Silent(String),
    /// It answers but refuses us: wrong credentials, no access.
    Refused(String),
    /// This process has no credentials for it.
    Unconfigured(String),
    /// Its root does not exist (a disk that is not mounted, a deleted directory).
    Absent(String),
    /// It carries no marker: not initialised, or an empty mount point.
    NotInitialised(String),
    /// Its marker names another swarm or store id, or cannot be read as one.
    Foreign(String),
}

impl Unavailable {
    /// Whether the store may come back by itself (a later check may succeed without anyone
    /// changing the configuration): true for a silent or absent store.
    pub fn may_recover(&self) -> bool {
        matches!(self, Unavailable::Silent(_) | Unavailable::Absent(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Unavailable::Silent(r)
            | Unavailable::Refused(r)
            | Unavailable::Unconfigured(r)
            | Unavailable::Absent(r)
            | Unavailable::NotInitialised(r)
            | Unavailable::Foreign(r) => r,
        }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// Whether sending the same request again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Io {
                transient: true,
                ..
            }
        )
    }

    /// Why the store is unavailable, if that is what this error says.
    pub fn unavailable(&self) -> Option<&Unavailable> {
        match self {
            StoreError::Unavailable { why, .. } => Some(why),
            _ => None,
        }
    }

    pub fn store(&self) -> &StoreId {
        match self {
            StoreError::NotFound { store, .. }
            | StoreError::Unavailable { store, .. }
            | StoreError::Io { store, .. }
            | StoreError::TooLarge { store, .. }
            | StoreError::Stray { store, .. }
            | StoreError::Corrupt { store, .. }
            | StoreError::Full { store, .. }
            | StoreError::Config { store, .. } => store,
        }
    }
}
