//! The swarm definition: a TOML document naming the swarm, its coding and its stores. See
//! `docs/spec/definition-v1.md`.
//!
//! It holds no secret. Later format versions add signatures, nodes and rules; v1 readers reject
//! fields they do not know, so a typo is an error rather than a silently ignored setting.

use serde::{Deserialize, Serialize};

use crate::chunking::{ChunkerError, ChunkerParams};
use crate::erasure::{Coding, ErasureError};
use crate::ids::{StoreId, SwarmId};
use crate::redact;
use crate::units::{ByteSize, Rate};

// The store URL grammar has its own module; these names stay reachable from here.
pub use crate::location::{
    DriveService, KnownHosts, LocationError, StoreLocation, UrlPart, UrlProblem, parse_location,
};

pub const FORMAT: u32 = 1;
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
    /// Format of this document (1).
    pub format: u32,
    pub swarm: SwarmId,
    /// Increases with every change; nodes (later) refuse older ones.
    pub version: u64,
    pub coding: CodingSection,
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
    #[error("invalid swarm definition: missing `format = 1`")]
    MissingFormat,
    #[error("swarm definition format {0} is not supported (this build reads format {FORMAT})")]
    Format(u32),
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
            format: FORMAT,
            swarm: SwarmId::random(),
            version: 1,
            coding: CodingSection {
                k,
                m,
                shard_size: None,
                inline_threshold: DEFAULT_INLINE_THRESHOLD,
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
            Some(FORMAT) => {}
            Some(other) => return Err(DefinitionError::Format(other)),
            None => return Err(DefinitionError::MissingFormat),
        }
        let def: SwarmDefinition = toml::from_str(text).map_err(DefinitionError::Toml)?;
        def.validate()?;
        Ok(def)
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("# annex-swarm swarm definition (format 1). Holds no secrets.\n{body}")
    }

    pub fn coding(&self) -> Result<Coding, DefinitionError> {
        Coding::new(self.coding.k, self.coding.m).map_err(DefinitionError::Coding)
    }

    pub fn validate(&self) -> Result<(), DefinitionError> {
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
        Ok(())
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(id: &str, url: &str) -> StoreEntry {
        StoreEntry::new(id.parse().unwrap(), url)
    }

    fn six() -> Vec<StoreEntry> {
        (0..6)
            .map(|i| entry(&format!("s{i}"), &format!("/tmp/s{i}")))
            .collect()
    }

    #[test]
    fn shard_size_follows_the_store_kinds_unless_set() {
        let local = SwarmDefinition::new(3, 2, six()[..5].to_vec()).unwrap();
        assert_eq!(local.coding.shard_size, Some(DEFAULT_SHARD_SIZE));
        let mut stores = six()[..4].to_vec();
        stores.push(entry(
            "cloud",
            "s3://bucket/p?endpoint=http://127.0.0.1:8333",
        ));
        let mixed = SwarmDefinition::new(3, 2, stores).unwrap();
        assert_eq!(mixed.coding.shard_size, Some(REMOTE_SHARD_SIZE));
        assert_eq!(mixed.chunker().group.map(|g| g.min), Some(12 << 20));
        // A hand-written document without shard_size gets the same choice when read.
        let mut unset = mixed.clone();
        unset.coding.shard_size = None;
        let text = unset.to_toml();
        assert!(!text.contains("shard_size"), "{text}");
        assert_eq!(
            SwarmDefinition::parse(&text).unwrap().shard_size(),
            REMOTE_SHARD_SIZE
        );
        // Written down, it stays when stores of another kind come and go.
        let mut kept = mixed.clone();
        kept.stores.truncate(4);
        kept.stores.push(entry("s5", "/tmp/s5"));
        assert_eq!(kept.shard_size(), REMOTE_SHARD_SIZE);
    }

    #[test]
    fn new_swarms_name_stores_by_position_and_url() {
        let urls = [
            "/srv/s1",
            "/srv/s2",
            "s3://bkt/p?endpoint=http://127.0.0.1:8333",
        ];
        let def = SwarmDefinition::from_urls(2, 1, urls).unwrap();
        let ids: Vec<String> = def.stores.iter().map(|s| s.id.to_string()).collect();
        // Pinned: placement hashes over ids, so existing swarms depend on these.
        assert_eq!(ids, ["s1-eacace", "s2-cfd301", "s3-23e4af"]);
        for (n, (id, url)) in ids.iter().zip(urls).enumerate() {
            let hash = blake3::hash(url.as_bytes()).to_hex();
            assert_eq!(*id, format!("s{}-{}", n + 1, &hash[..6]));
        }
        assert_eq!(def.stores[2].url, urls[2]);
        assert_eq!(def.coding.shard_size, Some(REMOTE_SHARD_SIZE));
        // A bad URL is refused as such, before the coding is looked at.
        let err = SwarmDefinition::from_urls(9, 9, ["/a", "s3://u:hunter2@bkt"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad store URL `s3://***@bkt`: s3 URLs take no user or key before the bucket; \
             credentials never go in store URLs (the definition is shared): use environment \
             variables or ~/.config/annex-swarm/credentials.toml (see README, Credentials)"
        );
        assert!(matches!(
            SwarmDefinition::from_urls(2, 1, ["/a", "/b"]),
            Err(DefinitionError::TooFewStores {
                needed: 3,
                stores: 2
            })
        ));
    }

    #[test]
    fn round_trips_through_toml() {
        let def = SwarmDefinition::new(4, 2, six()).unwrap();
        let text = def.to_toml();
        assert_eq!(SwarmDefinition::parse(&text).unwrap(), def);
        assert!(text.contains("[[store]]"), "{text}");
    }

    #[test]
    fn golden_document_parses() {
        let def = SwarmDefinition::parse(GOLDEN).unwrap();
        assert_eq!(def.coding.k, 4);
        assert_eq!(def.coding.shard_size, Some(ByteSize(1 << 20)));
        assert_eq!(
            def.stores[1].location().unwrap(),
            StoreLocation::Local("/mnt/b c".into())
        );
        let b = &def.stores[1];
        assert_eq!(b.quota, Some(ByteSize(500 << 30)));
        assert_eq!(b.download_rate, Some(Rate(20 << 20)));
        assert_eq!(b.upload_rate, Some(Rate(5_000_000)));
        assert_eq!(b.connections, Some(8));
        assert_eq!(def.stores[0].download_rate, None);
        // Limits survive a round trip through the writer.
        assert_eq!(SwarmDefinition::parse(&def.to_toml()).unwrap(), def);
    }

    const GOLDEN: &str = r#"
format = 1
swarm = "00112233445566778899aabbccddeeff"
version = 3
[coding]
k = 4
m = 2
shard_size = "1MiB"
inline_threshold = "256KiB"
[[store]]
id = "a"
url = "/mnt/a"
[[store]]
id = "b"
url = "file:///mnt/b%20c"
weight = 2.0
quota = "500GiB"
download_rate = "20MiB/s"
upload_rate = "5MB/s"
connections = 8
[[store]]
id = "c"
url = "/mnt/c"
[[store]]
id = "d"
url = "/mnt/d"
[[store]]
id = "e"
url = "/mnt/e"
[[store]]
id = "f"
url = "/mnt/f"
"#;

    #[test]
    fn bad_documents_name_the_problem() {
        let cases = [
            ("", "missing `format = 1`"),
            ("format = 2", "format 2 is not supported"),
            (&GOLDEN.replace("k = 4", "k = 0"), "bad coding"),
            (&GOLDEN.replace("m = 2", "m = 3"), "needs at least 7 stores"),
            (
                &GOLDEN.replace("id = \"b\"", "id = \"a\""),
                "store `a`: id used twice",
            ),
            (
                &GOLDEN.replace("/mnt/c", "peer://x"),
                "not supported by this build yet",
            ),
            (&GOLDEN.replace("/mnt/c", "s3://B"), "bad bucket name"),
            (&GOLDEN.replace("/mnt/d", "mnt/d"), "absolute path"),
            (
                &GOLDEN.replace("weight = 2.0", "weight = -1.0"),
                "must be positive",
            ),
            (
                &GOLDEN.replace("version = 3", "version = 3\ncolour = 1"),
                "unknown field",
            ),
            (&GOLDEN.replace("\"1MiB\"", "\"3MiB\""), "power of two"),
            (&GOLDEN.replace("\"1MiB\"", "\"lots\""), "bad size"),
            (
                &GOLDEN.replace("connections = 8", "connections = 0"),
                "connections 0",
            ),
            (&GOLDEN.replace("\"20MiB/s\"", "\"0/s\""), "above zero"),
            (&GOLDEN.replace("\"20MiB/s\"", "\"quick\""), "bad size"),
            ("format = 1\nswarm = \"zz\"", "bad swarm id"),
        ];
        for (doc, want) in cases {
            let err = SwarmDefinition::parse(doc).unwrap_err().to_string();
            assert!(err.contains(want), "want `{want}` in `{err}`");
            assert!(!err.contains('\n'), "multi-line error: {err}");
        }
    }
}
