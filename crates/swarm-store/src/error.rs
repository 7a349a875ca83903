//! Store errors. Whether an error means "this object is not there", "this store is not there"
//! or "something broke" is in the variant, because the engine treats the three differently.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {store}: {path} not found")]
    NotFound { store: String, path: String },
    #[error("store {store} is unavailable: {reason}")]
    Unavailable { store: String, reason: String },
    #[error("store {store}: cannot {op} {path}: {source}")]
    Io {
        store: String,
        op: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("store {store}: {reason}")]
    Config { store: String, reason: String },
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}
