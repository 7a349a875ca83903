//! What a store holds, named by what it is: the engine asks for "shard H" or "the manifest of
//! key K", never for a path. Paths are the layout's business (`layout.rs`,
//! `docs/spec/store-layout-v1.md`).

use std::fmt;
use std::time::SystemTime;

use swarm_core::ids::Hash32;

use crate::layout;

/// One object of a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Object {
    /// `annex-swarm-store.toml`: which swarm the store belongs to, under which id.
    Marker,
    /// The manifest of a key, by [`ManifestName`].
    Manifest(ManifestName),
    /// A shard, by the BLAKE3 of its bytes.
    Shard(Hash32),
    /// A staged write, as found by a listing of [`Class::Staging`] (only gc deletes them).
    Staging(StagingName),
    /// A lock record (`docs/spec/locks-v1.md`).
    Lock(LockName),
}

impl Object {
    /// The manifest of `key` (the key's bytes, as git-annex sends them).
    pub fn manifest_of(key: &[u8]) -> Self {
        Object::Manifest(ManifestName::of_key(key))
    }

    pub fn class(&self) -> Option<Class> {
        match self {
            Object::Marker => None,
            Object::Manifest(_) => Some(Class::Manifests),
            Object::Shard(_) => Some(Class::Shards),
            Object::Staging(_) => Some(Class::Staging),
            Object::Lock(_) => Some(Class::Locks),
        }
    }
}

impl fmt::Display for Object {
    /// The object's path in the store: what a user finds on disk.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&layout::path(self))
    }
}

/// The name of a key's manifest: `BLAKE3-derive-key("annex-swarm manifest name v1", key)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManifestName(pub Hash32);

impl ManifestName {
    pub fn of_key(key: &[u8]) -> Self {
        ManifestName(Hash32(
            *blake3::Hasher::new_derive_key("annex-swarm manifest name v1")
                .update(key)
                .finalize()
                .as_bytes(),
        ))
    }
}

/// The name of a staged write under `tmp/`: one path component, as a listing found it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StagingName(String);

impl StagingName {
    /// `None` for anything that is not a single, plain path component.
    pub fn new(name: &str) -> Option<Self> {
        let plain =
            !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0']);
        plain.then(|| StagingName(name.to_owned()))
    }

    /// A name this crate built from plain parts.
    pub(crate) fn trusted(name: String) -> Self {
        StagingName(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a lock: `shared-` or `exclusive-` and 32 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockName(String);

impl LockName {
    /// `None` for anything else.
    pub fn new(name: &str) -> Option<Self> {
        let (mode, id) = name.split_once('-')?;
        let ok = matches!(mode, "shared" | "exclusive")
            && id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| LockName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this names an exclusive lock.
    pub fn is_exclusive(&self) -> bool {
        self.0.starts_with("exclusive-")
    }
}

/// The directories of objects a listing can walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Manifests,
    Shards,
    Staging,
    Locks,
}

/// What a store knows about one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub modified: SystemTime,
}

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub object: Object,
    pub meta: ObjectMeta,
}

/// Everything under one class's directory: the objects, and what is there but is not one
/// (never read, deleted or counted; see "Reading a listing" in the layout spec).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub objects: Vec<Listed>,
    /// Paths (relative to the store) of entries that are not objects of the class, and why.
    pub strays: Vec<String>,
}
