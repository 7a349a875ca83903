//! The swarm definition: a TOML document naming the swarm, its coding and its stores
//! (`docs/spec/definition-v1.md`) and, from format 2, its members and network
//! (`docs/spec/definition-v2.md`: `members.rs`, `network.rs`). Signatures: `crate::signed`.
//!
//! It holds no secret. Readers reject fields they do not know, so a typo is an error rather
//! than a silently ignored setting.

mod members;
mod network;
mod seeding;

pub use members::{ClientEntry, Member, MemberError, MemberKey, MemberKind, NodeEntry, Role};
pub use network::{DhtSection, NetworkError};
pub use seeding::{SeedError, SeedSection};

use serde::{Deserialize, Serialize};

use crate::chunking::{ChunkerError, ChunkerParams};
use crate::erasure::{Coding, ErasureError};
use crate::ids::{StoreId, SwarmId};
use crate::node_id::NodeId;
use crate::redact;
use crate::units::{ByteSize, Rate};

// The store URL grammar has its own module; these names stay reachable from here.
pub use crate::location::{
    DriveService, HostPort, KnownHosts, LocationError, StoreLocation, UrlPart, UrlProblem,
    parse_location,
};

/// Coding and stores only: no members, unsigned.
pub const FORMAT_1: u32 = 1;
/// Adds members (`[[node]]`, `[[client]]`), `peer://` stores, `[dht]` and `relays`.
pub const FORMAT_2: u32 = 2;
/// Target shard size of a swarm of local stores.
pub const DEFAULT_SHARD_SIZE: ByteSize = ByteSize(1 << 20);
/// Target shard size once any store is remote: each shard is one request, and per-request
/// latency dominates below a few MiB.
pub const REMOTE_SHARD_SIZE: ByteSize = ByteSize(4 << 20);
pub const DEFAULT_INLINE_THRESHOLD: ByteSize = ByteSize(256 << 10);
/// Inline objects travel inside manifests, which are read whole: keep them small.
pub const MAX_INLINE_THRESHOLD: ByteSize = ByteSize(16 << 20);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmDefinition {
    /// Format of this document: [`FORMAT_1`] or [`FORMAT_2`].
    pub format: u32,
    pub swarm: SwarmId,
    /// Increases with every change; nodes refuse older ones.
    pub version: u64,
    /// Relay servers nodes may use (format 2); none: never.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays: Vec<String>,
    pub coding: CodingSection,
    /// The mainline DHT (format 2); absent: not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dht: Option<DhtSection>,
    /// Keys the nodes seed to BitTorrent (format 2); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<SeedSection>,
    #[serde(rename = "node", default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeEntry>,
    #[serde(rename = "client", default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientEntry>,
    #[serde(rename = "store", default)]
    pub stores: Vec<StoreEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodingSection {
    pub k: u16,
    pub m: u16,
    /// Target shard size; chunks are about k times this (see `chunking::ChunkerParams::for_coding`).
    /// When absent, [`SwarmDefinition::shard_size`] picks one from the store kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_size: Option<ByteSize>,
    /// Objects smaller than this are stored whole, inside their manifest, on m + 1 stores.
    #[serde(default = "default_inline_threshold")]
    pub inline_threshold: ByteSize,
    /// Nodes that each hold every key whole (k shards of every chunk and the manifest), on top
    /// of the coded spread: for each key, the first `full_copies` nodes of its ranking among
    /// the nodes with a peer store. Format 2; 0 (the default) means none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub full_copies: u16,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn default_inline_threshold() -> ByteSize {
    DEFAULT_INLINE_THRESHOLD
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreEntry {
    pub id: StoreId,
    pub url: String,
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Most bytes of this swarm the store may hold; a put moves on to other stores once full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<ByteSize>,
    /// Cap on bytes per second read from the store, enforced by every client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_rate: Option<Rate>,
    /// Cap on bytes per second written to the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_rate: Option<Rate>,
    /// Most requests in flight to the store at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
}

/// Most requests a definition may allow in flight to one store.
pub const MAX_CONNECTIONS: u32 = 256;

fn default_weight() -> f64 {
    1.0
}

/// Why a definition is refused: one line naming the field, the store or the URL (secrets
/// masked) and the value that is wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DefinitionError {
    #[error("invalid swarm definition: {}", redact::one_line(&.0.to_string()))]
    Toml(toml::de::Error),
    #[error("invalid swarm definition: missing `format = 1` (or 2)")]
    MissingFormat,
    #[error(
        "swarm definition format {0} is not supported (this build reads formats {FORMAT_1} and {FORMAT_2})"
    )]
    Format(u32),
    #[error("{0} needs format 2 (this document says `format = 1`)")]
    NeedsFormat2(&'static str),
    #[error("{0}")]
    Member(#[from] MemberError),
    #[error("{0}")]
    Network(#[from] NetworkError),
    #[error("{0}")]
    Seed(#[from] SeedError),
    #[error("bad coding: {0}")]
    Coding(ErasureError),
    #[error(
        "bad coding: k + m = {needed} needs at least {needed} stores, the definition has {stores}"
    )]
    TooFewStores { needed: usize, stores: usize },
    #[error("bad coding: shard_size {0} must be a power of two from 4KiB to 64MiB")]
    ShardSize(ByteSize),
    #[error("bad coding: {0}")]
    Chunker(ChunkerError),
    #[error("bad coding: inline_threshold {0} is above the most allowed, {MAX_INLINE_THRESHOLD}")]
    InlineThreshold(ByteSize),
    #[error(
        "bad coding: full_copies = {wanted} needs {wanted} nodes with a peer:// store, the definition has {nodes}"
    )]
    FullCopies { wanted: u16, nodes: usize },
    #[error("store `{0}`: id used twice")]
    DuplicateId(StoreId),
    #[error("store `{id}`: weight {weight} must be positive")]
    Weight { id: StoreId, weight: f64 },
    #[error("store `{id}`: connections {connections} must be from 1 to {MAX_CONNECTIONS}")]
    Connections { id: StoreId, connections: u32 },
    #[error("store `{id}`: {error}")]
    StoreUrl { id: StoreId, error: LocationError },
    #[error("{0}")]
    Url(#[from] LocationError),
}

impl SwarmDefinition {
    /// A new definition, with the shard size its stores call for written down, so chunking
    /// stays the same if stores of another kind are added later.
    pub fn new(k: u16, m: u16, stores: Vec<StoreEntry>) -> Result<Self, DefinitionError> {
        let mut def = SwarmDefinition {
            format: FORMAT_1,
            swarm: SwarmId::random(),
            version: 1,
            relays: Vec::new(),
            dht: None,
            seed: None,
            nodes: Vec::new(),
            clients: Vec::new(),
            coding: CodingSection {
                k,
                m,
                shard_size: None,
                inline_threshold: DEFAULT_INLINE_THRESHOLD,
                full_copies: 0,
            },
            stores,
        };
        def.coding.shard_size = Some(def.shard_size());
        def.validate()?;
        Ok(def)
    }

    /// A new definition over `urls`, in order, each store named by [`StoreId::for_new_store`]
    /// (as `annex-swarm init` and `initremote` always have). A URL that does not parse is
    /// refused as such, before any other check.
    pub fn from_urls<S: AsRef<str>>(
        k: u16,
        m: u16,
        urls: impl IntoIterator<Item = S>,
    ) -> Result<Self, DefinitionError> {
        let mut stores = Vec::new();
        for (position, url) in urls.into_iter().enumerate() {
            let url = url.as_ref();
            parse_location(url)?;
            stores.push(StoreEntry::new(StoreId::for_new_store(url, position), url));
        }
        Self::new(k, m, stores)
    }

    /// The target shard size: the definition's, or else [`REMOTE_SHARD_SIZE`] when any store is
    /// not a local directory and [`DEFAULT_SHARD_SIZE`] when all are.
    pub fn shard_size(&self) -> ByteSize {
        self.coding.shard_size.unwrap_or_else(|| {
            let remote = self
                .stores
                .iter()
                .any(|s| !matches!(s.location(), Ok(StoreLocation::Local(_)) | Err(_)));
            if remote {
                REMOTE_SHARD_SIZE
            } else {
                DEFAULT_SHARD_SIZE
            }
        })
    }

    /// How objects are cut into chunks.
    pub fn chunker(&self) -> ChunkerParams {
        ChunkerParams::for_coding(self.coding.k, self.shard_size().0)
    }

    pub fn parse(text: &str) -> Result<Self, DefinitionError> {
        // Check the format number first so a newer document gets "unsupported format", not a
        // complaint about fields this build does not know.
        #[derive(Deserialize)]
        struct Probe {
            format: Option<u32>,
        }
        let probe: Probe = toml::from_str(text).map_err(DefinitionError::Toml)?;
        match probe.format {
            Some(FORMAT_1 | FORMAT_2) => {}
            Some(other) => return Err(DefinitionError::Format(other)),
            None => return Err(DefinitionError::MissingFormat),
        }
        let def: SwarmDefinition = toml::from_str(text).map_err(DefinitionError::Toml)?;
        def.validate()?;
        Ok(def)
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# annex-swarm swarm definition (format {}). Holds no secrets.\n{body}",
            self.format
        )
    }

    pub fn coding(&self) -> Result<Coding, DefinitionError> {
        Coding::new(self.coding.k, self.coding.m).map_err(DefinitionError::Coding)
    }

    pub fn validate(&self) -> Result<(), DefinitionError> {
        match self.format {
            FORMAT_1 => self.only_format_1()?,
            FORMAT_2 => {}
            other => return Err(DefinitionError::Format(other)),
        }
        let coding = self.coding()?;
        if self.stores.len() < coding.total() {
            return Err(DefinitionError::TooFewStores {
                needed: coding.total(),
                stores: self.stores.len(),
            });
        }
        let shard = self.shard_size();
        if !shard.0.is_power_of_two() || !(4096..=(64 << 20)).contains(&shard.0) {
            return Err(DefinitionError::ShardSize(shard));
        }
        self.chunker()
            .validate()
            .map_err(DefinitionError::Chunker)?;
        if self.coding.inline_threshold > MAX_INLINE_THRESHOLD {
            return Err(DefinitionError::InlineThreshold(
                self.coding.inline_threshold,
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.stores {
            if !seen.insert(&s.id) {
                return Err(DefinitionError::DuplicateId(s.id.clone()));
            }
            if !(s.weight.is_finite() && s.weight > 0.0) {
                return Err(DefinitionError::Weight {
                    id: s.id.clone(),
                    weight: s.weight,
                });
            }
            if let Some(c) = s.connections
                && !(1..=MAX_CONNECTIONS).contains(&c)
            {
                return Err(DefinitionError::Connections {
                    id: s.id.clone(),
                    connections: c,
                });
            }
            s.location().map_err(|error| DefinitionError::StoreUrl {
                id: s.id.clone(),
                error,
            })?;
        }
        self.validate_members()?;
        self.validate_network()?;
        self.validate_seed()?;
        let holders = self.full_copy_nodes().len();
        if usize::from(self.coding.full_copies) > holders {
            return Err(DefinitionError::FullCopies {
                wanted: self.coding.full_copies,
                nodes: holders,
            });
        }
        Ok(())
    }

    /// The nodes that can hold full copies: those with a `peer://` store, in definition order,
    /// with the store's id.
    pub fn full_copy_nodes(&self) -> Vec<(NodeId, StoreId)> {
        self.stores
            .iter()
            .filter_map(|s| match s.location() {
                Ok(StoreLocation::Peer { node, .. }) => Some((node, s.id.clone())),
                _ => None,
            })
            .collect()
    }

    /// Format 1 has no members: what format 2 added is refused, naming the first found.
    fn only_format_1(&self) -> Result<(), DefinitionError> {
        let peer = self
            .stores
            .iter()
            .any(|s| matches!(s.location(), Ok(StoreLocation::Peer { .. })));
        let found = [
            (!self.nodes.is_empty(), "[[node]]"),
            (!self.clients.is_empty(), "[[client]]"),
            (self.dht.is_some(), "[dht]"),
            (self.seed.is_some(), "[seed]"),
            (!self.relays.is_empty(), "`relays`"),
            (peer, "a peer:// store"),
            (self.coding.full_copies > 0, "`full_copies`"),
        ];
        match found.into_iter().find(|(present, _)| *present) {
            Some((_, what)) => Err(DefinitionError::NeedsFormat2(what)),
            None => Ok(()),
        }
    }
}

impl StoreEntry {
    /// An entry with default weight and no limits.
    pub fn new(id: StoreId, url: impl Into<String>) -> Self {
        StoreEntry {
            id,
            url: url.into(),
            weight: default_weight(),
            quota: None,
            download_rate: None,
            upload_rate: None,
            connections: None,
        }
    }

    pub fn location(&self) -> Result<StoreLocation, LocationError> {
        parse_location(&self.url)
    }
}

#[cfg(test)]
mod tests;
