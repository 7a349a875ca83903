//! Object paths inside a store (the same for every store kind):
//!
//! ```text
//! annex-swarm-store.toml        marker: swarm id and store id
//! manifests/<2 hex>/<64 hex>    BLAKE3 of the key bytes
//! shards/<2 hex>/<64 hex>       BLAKE3 of the shard bytes
//! tmp/                          writes being staged (kinds without atomic puts)
//! ```
//! Names are unique by construction and fan out over 256 directories.

use swarm_core::ids::{Hash32, StoreId};

use crate::StoreError;

pub const MARKER: &str = "annex-swarm-store.toml";
pub const MANIFESTS: &str = "manifests";
pub const SHARDS: &str = "shards";
/// Where writes are staged before being renamed into place (local stores).
pub const TMP: &str = "tmp";

/// Refuses an object path that could leave the store's root or name it (empty, absolute, `.`,
/// `..` or empty components). Paths come from this module; every store kind checks all the same.
pub fn check_object_path(store: &StoreId, path: &str) -> Result<(), StoreError> {
    if path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(StoreError::Config {
            store: store.to_string(),
            reason: format!("bad object path `{path}`"),
        });
    }
    Ok(())
}

pub fn shard_path(hash: &Hash32) -> String {
    let h = hash.to_hex();
    format!("{SHARDS}/{}/{h}", &h[..2])
}

/// The name of a key's manifest: over the key's bytes exactly as git-annex sends them (for a
/// UTF-8 key, its text), so every store written before keys were bytes reads the same.
pub fn manifest_name(key: &[u8]) -> Hash32 {
    Hash32(
        *blake3::Hasher::new_derive_key("annex-swarm manifest name v1")
            .update(key)
            .finalize()
            .as_bytes(),
    )
}

pub fn manifest_path(key: &[u8]) -> String {
    let h = manifest_name(key).to_hex();
    format!("{MANIFESTS}/{}/{h}", &h[..2])
}

/// The hash a shard path names, if it is one.
pub fn parse_shard_path(path: &str) -> Option<Hash32> {
    let rest = path.strip_prefix(SHARDS)?.strip_prefix('/')?;
    let (_, name) = rest.split_once('/')?;
    name.parse().ok()
}
