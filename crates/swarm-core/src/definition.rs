//! The swarm definition: a TOML document naming the swarm, its coding and its stores. See
//! `docs/spec/definition-v1.md`.
//!
//! It holds no secret. Later format versions add signatures, nodes and rules; v1 readers reject
//! fields they do not know, so a typo is an error rather than a silently ignored setting.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::erasure::Coding;
use crate::ids::{StoreId, SwarmId};
use crate::units::{ByteSize, Rate};

pub const FORMAT: u32 = 1;
pub const DEFAULT_SHARD_SIZE: ByteSize = ByteSize(1 << 20);
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
    /// Target shard size; chunks average k times this (a power of two, capped at 4 MiB).
    #[serde(default = "default_shard_size")]
    pub shard_size: ByteSize,
    /// Objects smaller than this are stored whole, inside their manifest, on m + 1 stores.
    #[serde(default = "default_inline_threshold")]
    pub inline_threshold: ByteSize,
}

fn default_shard_size() -> ByteSize {
    DEFAULT_SHARD_SIZE
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

/// Where a store lives, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Local(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DefinitionError {
    #[error("invalid swarm definition: {0}")]
    Toml(String),
    #[error("swarm definition format {0} is not supported (this build reads format {FORMAT})")]
    Format(u32),
    #[error("bad coding: {0}")]
    Coding(String),
    #[error("store `{id}`: {reason}")]
    Store { id: String, reason: String },
    #[error("bad store URL `{url}`: {reason}")]
    Url { url: String, reason: String },
}

impl SwarmDefinition {
    pub fn new(k: u16, m: u16, stores: Vec<StoreEntry>) -> Result<Self, DefinitionError> {
        let def = SwarmDefinition {
            format: FORMAT,
            swarm: SwarmId::random(),
            version: 1,
            coding: CodingSection {
                k,
                m,
                shard_size: DEFAULT_SHARD_SIZE,
                inline_threshold: DEFAULT_INLINE_THRESHOLD,
            },
            stores,
        };
        def.validate()?;
        Ok(def)
    }

    pub fn parse(text: &str) -> Result<Self, DefinitionError> {
        // Check the format number first so a newer document gets "unsupported format", not a
        // complaint about fields this build does not know.
        #[derive(Deserialize)]
        struct Probe {
            format: Option<u32>,
        }
        let probe: Probe =
            toml::from_str(text).map_err(|e| DefinitionError::Toml(one_line(&e.to_string())))?;
        match probe.format {
            Some(FORMAT) => {}
            Some(other) => return Err(DefinitionError::Format(other)),
            None => return Err(DefinitionError::Toml("missing `format = 1`".into())),
        }
        let def: SwarmDefinition =
            toml::from_str(text).map_err(|e| DefinitionError::Toml(one_line(&e.to_string())))?;
        def.validate()?;
        Ok(def)
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("# annex-swarm swarm definition (format 1). Holds no secrets.\n{body}")
    }

    pub fn coding(&self) -> Result<Coding, DefinitionError> {
        Coding::new(self.coding.k, self.coding.m)
            .map_err(|e| DefinitionError::Coding(e.to_string()))
    }

    pub fn validate(&self) -> Result<(), DefinitionError> {
        let coding = self.coding()?;
        if self.stores.len() < coding.total() {
            return Err(DefinitionError::Coding(format!(
                "k + m = {} needs at least {} stores, the definition has {}",
                coding.total(),
                coding.total(),
                self.stores.len()
            )));
        }
        let shard = self.coding.shard_size.0;
        if !shard.is_power_of_two() || !(4096..=(64 << 20)).contains(&shard) {
            return Err(DefinitionError::Coding(format!(
                "shard_size {} must be a power of two from 4KiB to 64MiB",
                self.coding.shard_size
            )));
        }
        if self.coding.inline_threshold > MAX_INLINE_THRESHOLD {
            return Err(DefinitionError::Coding(format!(
                "inline_threshold is at most {MAX_INLINE_THRESHOLD}"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.stores {
            if !seen.insert(&s.id) {
                return Err(DefinitionError::Store {
                    id: s.id.to_string(),
                    reason: "id used twice".into(),
                });
            }
            if !(s.weight.is_finite() && s.weight > 0.0) {
                return Err(DefinitionError::Store {
                    id: s.id.to_string(),
                    reason: format!("weight {} must be positive", s.weight),
                });
            }
            if let Some(c) = s.connections
                && !(1..=MAX_CONNECTIONS).contains(&c)
            {
                return Err(DefinitionError::Store {
                    id: s.id.to_string(),
                    reason: format!("connections {c} must be from 1 to {MAX_CONNECTIONS}"),
                });
            }
            s.location().map_err(|e| DefinitionError::Store {
                id: s.id.to_string(),
                reason: e.to_string(),
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

    pub fn location(&self) -> Result<StoreLocation, DefinitionError> {
        parse_location(&self.url)
    }
}

/// Parses a store URL: an absolute path or `file:///abs/path`. Other kinds (s3, webdav, sftp,
/// gdrive, onedrive, dropbox, peer) are recognised and reported as not supported yet.
pub fn parse_location(url: &str) -> Result<StoreLocation, DefinitionError> {
    let bad = |reason: &str| DefinitionError::Url {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    if url.starts_with('/') {
        return Ok(StoreLocation::Local(PathBuf::from(url)));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(
            "expected an absolute path or a URL such as file:///mnt/disk",
        ));
    };
    match scheme {
        "file" => {
            if !rest.starts_with('/') {
                return Err(bad("file URLs need an absolute path: file:///mnt/disk"));
            }
            if rest.contains(['?', '#']) {
                return Err(bad("file URLs take no query or fragment"));
            }
            Ok(StoreLocation::Local(PathBuf::from(
                percent_decode(rest).map_err(&bad)?,
            )))
        }
        "s3" | "webdav+http" | "webdav+https" | "sftp" | "gdrive" | "onedrive" | "dropbox"
        | "peer" => Err(bad(&format!(
            "store kind `{scheme}` is not supported by this build yet"
        ))),
        _ => Err(bad(&format!("unknown store kind `{scheme}`"))),
    }
}

fn percent_decode(s: &str) -> Result<String, &'static str> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3).ok_or("truncated %-escape")?;
            let h = std::str::from_utf8(h).map_err(|_| "bad %-escape")?;
            out.push(u8::from_str_radix(h, 16).map_err(|_| "bad %-escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "path is not UTF-8")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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
        assert_eq!(def.coding.shard_size.0, 1 << 20);
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
                &GOLDEN.replace("/mnt/c", "s3://bucket"),
                "not supported by this build yet",
            ),
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
