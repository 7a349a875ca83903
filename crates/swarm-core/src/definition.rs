//! The swarm definition: a TOML document naming the swarm, its coding and its stores. See
//! `docs/spec/definition-v1.md`.
//!
//! It holds no secret. Later format versions add signatures, nodes and rules; v1 readers reject
//! fields they do not know, so a typo is an error rather than a silently ignored setting.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::chunking::ChunkerParams;
use crate::erasure::Coding;
use crate::ids::{StoreId, SwarmId};
use crate::units::{ByteSize, Rate};

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

/// Where a store lives, parsed from its URL. Holds no secret: URLs carrying a password or a
/// key are refused, and credentials come from the environment or a local credentials file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Local(PathBuf),
    /// `s3://bucket/prefix?endpoint=URL&region=R&style=path|virtual`
    S3 {
        bucket: String,
        /// Object name prefix inside the bucket, without leading or trailing `/` (may be empty).
        prefix: String,
        /// `http(s)://host[:port]`; AWS when absent.
        endpoint: Option<String>,
        region: String,
        /// Virtual-hosted-style requests (`bucket.host`) instead of path-style (`host/bucket`).
        virtual_host: bool,
    },
    /// `webdav+http://[user@]host[:port]/path/` or `webdav+https://...`
    WebDav {
        /// `http(s)://host[:port]`
        endpoint: String,
        /// Absolute directory on the server, ending in `/`.
        root: String,
        user: Option<String>,
    },
    /// `sftp://[user@]host[:port]/abs/path?known_hosts=strict|add|accept`
    Sftp {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        /// Absolute directory on the server.
        root: String,
        known_hosts: KnownHosts,
    },
    /// `gdrive://folder/sub`, `onedrive://folder`, `dropbox://folder`
    Drive {
        service: DriveService,
        root: String,
    },
}

/// How an SFTP store checks the server's host key (ssh's `StrictHostKeyChecking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KnownHosts {
    /// The key must already be in known_hosts (the default).
    #[default]
    Strict,
    /// Unknown hosts are added to known_hosts; changed keys are refused (`accept-new`).
    Add,
    /// Any key is accepted (only for throwaway test servers).
    Accept,
}

impl KnownHosts {
    pub fn as_str(self) -> &'static str {
        match self {
            KnownHosts::Strict => "strict",
            KnownHosts::Add => "add",
            KnownHosts::Accept => "accept",
        }
    }
}

/// The OAuth cloud drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DriveService {
    GDrive,
    OneDrive,
    Dropbox,
}

impl DriveService {
    pub const ALL: [DriveService; 3] = [
        DriveService::GDrive,
        DriveService::OneDrive,
        DriveService::Dropbox,
    ];

    /// The URL scheme, also the name `authorize` takes.
    pub fn scheme(self) -> &'static str {
        match self {
            DriveService::GDrive => "gdrive",
            DriveService::OneDrive => "onedrive",
            DriveService::Dropbox => "dropbox",
        }
    }

    pub fn from_scheme(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.scheme() == s)
    }
}

impl StoreLocation {
    /// The store kind, as a word for messages: `local`, `s3`, `webdav`, `sftp`, `gdrive`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            StoreLocation::Local(_) => "local",
            StoreLocation::S3 { .. } => "s3",
            StoreLocation::WebDav { .. } => "webdav",
            StoreLocation::Sftp { .. } => "sftp",
            StoreLocation::Drive { service, .. } => service.scheme(),
        }
    }
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
        let shard = self.shard_size();
        if !shard.0.is_power_of_two() || !(4096..=(64 << 20)).contains(&shard.0) {
            return Err(DefinitionError::Coding(format!(
                "shard_size {shard} must be a power of two from 4KiB to 64MiB"
            )));
        }
        self.chunker()
            .validate()
            .map_err(|e| DefinitionError::Coding(e.to_string()))?;
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

/// Parses a store URL (the forms are in `docs/spec/definition-v1.md`). Errors are one line and
/// name what is wrong; a URL carrying a secret is refused, saying where credentials go.
pub fn parse_location(url: &str) -> Result<StoreLocation, DefinitionError> {
    let bad = |reason: &str| DefinitionError::Url {
        url: redact(url),
        reason: reason.to_owned(),
    };
    if url.starts_with('/') {
        return Ok(StoreLocation::Local(PathBuf::from(url)));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(
            "expected an absolute path or a URL such as file:///mnt/disk, s3://bucket/prefix, \
             webdav+https://host/dir/, sftp://user@host/dir, gdrive://folder",
        ));
    };
    if rest.contains('#') {
        return Err(bad("store URLs take no #fragment"));
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, parse_query(q).map_err(|e| bad(&e))?),
        None => (rest, Vec::new()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = percent_decode(path).map_err(&bad)?;
    match scheme {
        "file" => {
            if !authority.is_empty() || !path.starts_with('/') {
                return Err(bad("file URLs need an absolute path: file:///mnt/disk"));
            }
            no_query(&query, scheme).map_err(|e| bad(&e))?;
            Ok(StoreLocation::Local(PathBuf::from(path)))
        }
        "s3" => parse_s3(authority, &path, query).map_err(|e| bad(&e)),
        "webdav+http" | "webdav+https" => {
            let auth = parse_authority(authority).map_err(|e| bad(&e))?;
            no_query(&query, "webdav").map_err(|e| bad(&e))?;
            let mut root = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            if !root.ends_with('/') {
                root.push('/');
            }
            let host = match auth.port {
                Some(p) => format!("{}:{p}", auth.host),
                None => auth.host.clone(),
            };
            let proto = scheme.trim_start_matches("webdav+");
            Ok(StoreLocation::WebDav {
                endpoint: format!("{proto}://{host}"),
                root,
                user: auth.user,
            })
        }
        "sftp" => {
            let auth = parse_authority(authority).map_err(|e| bad(&e))?;
            if !path.starts_with('/') {
                return Err(bad(
                    "sftp URLs need an absolute directory: sftp://user@host:22/srv/shards",
                ));
            }
            let mut known_hosts = KnownHosts::Strict;
            for (k, v) in query {
                match k.as_str() {
                    "known_hosts" => {
                        known_hosts = match v.as_str() {
                            "strict" => KnownHosts::Strict,
                            "add" => KnownHosts::Add,
                            "accept" => KnownHosts::Accept,
                            _ => {
                                return Err(bad(&format!(
                                    "known_hosts `{v}` must be strict, add or accept"
                                )));
                            }
                        }
                    }
                    other => return Err(bad(&unknown_param(other, "sftp", &["known_hosts"]))),
                }
            }
            Ok(StoreLocation::Sftp {
                user: auth.user,
                host: auth.host,
                port: auth.port,
                root: path,
                known_hosts,
            })
        }
        "gdrive" | "onedrive" | "dropbox" => {
            if authority.contains(['@', ':']) {
                return Err(bad(&format!(
                    "{scheme} URLs name a folder only (`{scheme}://folder/sub`); the account comes \
                     from `annex-swarm authorize {scheme}`"
                )));
            }
            no_query(&query, scheme).map_err(|e| bad(&e))?;
            let folder = percent_decode(authority).map_err(&bad)?;
            let root = format!("/{folder}{path}");
            let root = root.trim_end_matches('/').to_owned();
            if root.is_empty() || root.split('/').skip(1).any(|c| c.is_empty() || c == "..") {
                return Err(bad(&format!(
                    "{scheme} URLs need a folder: {scheme}://annex or {scheme}://backups/annex"
                )));
            }
            let service = DriveService::from_scheme(scheme)
                .ok_or_else(|| bad(&format!("unknown store kind `{scheme}`")))?;
            Ok(StoreLocation::Drive {
                service,
                root: format!("{root}/"),
            })
        }
        "peer" => Err(bad("store kind `peer` is not supported by this build yet")),
        _ => Err(bad(&format!(
            "unknown store kind `{scheme}` (known: file, s3, webdav+http, webdav+https, sftp, gdrive, onedrive, dropbox)"
        ))),
    }
}

/// Query parameters that would put a secret into the definition.
const SECRET_PARAMS: [&str; 10] = [
    "password",
    "pass",
    "secret",
    "secret_access_key",
    "access_key_id",
    "session_token",
    "token",
    "key",
    "refresh_token",
    "client_secret",
];

const CREDENTIALS_HINT: &str = "credentials never go in store URLs (the definition is shared): \
     use environment variables or ~/.config/annex-swarm/credentials.toml (see README, Credentials)";

fn parse_query(q: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k).map_err(str::to_owned)?;
        let v = percent_decode(v).map_err(str::to_owned)?;
        if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "parameter `{k}` looks like a secret; {CREDENTIALS_HINT}"
            ));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(format!("parameter `{k}` given twice"));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn no_query(query: &[(String, String)], kind: &str) -> Result<(), String> {
    match query.first() {
        Some((k, _)) => Err(unknown_param(k, kind, &[])),
        None => Ok(()),
    }
}

fn unknown_param(k: &str, kind: &str, known: &[&str]) -> String {
    if known.is_empty() {
        format!("unknown parameter `{k}` ({kind} URLs take none)")
    } else {
        format!(
            "unknown parameter `{k}` ({kind} URLs take: {})",
            known.join(", ")
        )
    }
}

struct Authority {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

fn parse_authority(a: &str) -> Result<Authority, String> {
    let (user, hostport) = match a.rsplit_once('@') {
        Some((u, h)) => {
            if u.contains(':') {
                return Err(format!(
                    "a password in the URL is refused; {CREDENTIALS_HINT}"
                ));
            }
            if u.is_empty() {
                return Err("empty user name before `@`".into());
            }
            (Some(percent_decode(u).map_err(str::to_owned)?), h)
        }
        None => (None, a),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        // [v6]:port
        let (h, after) = rest.split_once(']').ok_or("unclosed `[` in an IPv6 host")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("junk after `]`")?),
        };
        (format!("[{h}]"), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hostport.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("missing host name".into());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c))
    {
        return Err(format!("bad host name `{host}`"));
    }
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("bad port `{p}`"))
        })
        .transpose()?;
    Ok(Authority { user, host, port })
}

fn parse_s3(
    bucket: &str,
    path: &str,
    query: Vec<(String, String)>,
) -> Result<StoreLocation, String> {
    if bucket.contains('@') {
        return Err(format!(
            "s3 URLs take no user or key before the bucket; {CREDENTIALS_HINT}"
        ));
    }
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !valid_bucket {
        return Err(format!(
            "bad bucket name `{bucket}` (3 to 63 of a-z 0-9 . -): s3://bucket/prefix?endpoint=..."
        ));
    }
    let prefix = path.trim_matches('/').to_owned();
    if prefix.split('/').any(|c| c == ".." || c == ".") || prefix.contains("//") {
        return Err(format!("bad prefix `{prefix}`"));
    }
    let mut endpoint = None;
    let mut region = None;
    let mut virtual_host = false;
    for (k, v) in query {
        match k.as_str() {
            "endpoint" => {
                let (proto, rest) = v.split_once("://").ok_or_else(|| {
                    format!("endpoint `{v}` must be http://host[:port] or https://host[:port]")
                })?;
                if proto != "http" && proto != "https" {
                    return Err(format!(
                        "endpoint `{v}` must start with http:// or https://"
                    ));
                }
                let a = parse_authority(rest.trim_end_matches('/'))?;
                if a.user.is_some() {
                    return Err(format!("endpoint takes no user; {CREDENTIALS_HINT}"));
                }
                endpoint = Some(v.trim_end_matches('/').to_owned());
            }
            "region" => {
                if v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(format!("bad region `{v}`"));
                }
                region = Some(v);
            }
            "style" => {
                virtual_host = match v.as_str() {
                    "path" => false,
                    "virtual" => true,
                    _ => return Err(format!("style `{v}` must be path or virtual")),
                }
            }
            other => {
                return Err(unknown_param(other, "s3", &["endpoint", "region", "style"]));
            }
        }
    }
    Ok(StoreLocation::S3 {
        bucket: bucket.to_owned(),
        prefix,
        endpoint,
        region: region.unwrap_or_else(|| "us-east-1".to_owned()),
        virtual_host,
    })
}

/// The URL with anything after `user:` up to `@` hidden, so an error never repeats a password.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((p, q)) => {
            let q: Vec<String> = q
                .split('&')
                .map(|pair| {
                    let k = pair.split_once('=').map_or(pair, |(k, _)| k);
                    if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) {
                        format!("{k}=***")
                    } else {
                        pair.to_owned()
                    }
                })
                .collect();
            format!("{p}?{}", q.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
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

    #[test]
    fn remote_store_urls_parse() {
        assert_eq!(
            parse_location(
                "s3://annex-bucket/swarm/a?endpoint=http://127.0.0.1:8333&region=eu-west-1"
            )
            .unwrap(),
            StoreLocation::S3 {
                bucket: "annex-bucket".into(),
                prefix: "swarm/a".into(),
                endpoint: Some("http://127.0.0.1:8333".into()),
                region: "eu-west-1".into(),
                virtual_host: false,
            }
        );
        assert_eq!(
            parse_location("s3://bkt?style=virtual").unwrap(),
            StoreLocation::S3 {
                bucket: "bkt".into(),
                prefix: String::new(),
                endpoint: None,
                region: "us-east-1".into(),
                virtual_host: true,
            }
        );
        assert_eq!(
            parse_location("webdav+https://alice@dav.example.org/remote.php/dav/files/alice/annex")
                .unwrap(),
            StoreLocation::WebDav {
                endpoint: "https://dav.example.org".into(),
                root: "/remote.php/dav/files/alice/annex/".into(),
                user: Some("alice".into()),
            }
        );
        assert_eq!(
            parse_location("webdav+http://127.0.0.1:8080/").unwrap(),
            StoreLocation::WebDav {
                endpoint: "http://127.0.0.1:8080".into(),
                root: "/".into(),
                user: None,
            }
        );
        assert_eq!(
            parse_location("sftp://bob@[::1]:2222/srv/my%20shards?known_hosts=add").unwrap(),
            StoreLocation::Sftp {
                user: Some("bob".into()),
                host: "[::1]".into(),
                port: Some(2222),
                root: "/srv/my shards".into(),
                known_hosts: KnownHosts::Add,
            }
        );
        assert_eq!(
            parse_location("gdrive://annex/swarm1").unwrap(),
            StoreLocation::Drive {
                service: DriveService::GDrive,
                root: "/annex/swarm1/".into(),
            }
        );
        assert_eq!(
            parse_location("dropbox://annex/").unwrap().kind(),
            "dropbox"
        );
        assert_eq!(parse_location("onedrive://a").unwrap().kind(), "onedrive");
    }

    #[test]
    fn bad_store_urls_name_the_problem() {
        let cases = [
            ("s3://b", "bad bucket name `b`"),
            ("s3://Bucket/x", "bad bucket name"),
            ("s3://bkt?endpoint=ftp://x", "must start with http"),
            ("s3://bkt?endpoint=127.0.0.1:9000", "must be http://host"),
            ("s3://bkt?endpoint=http://h:99999", "bad port `99999`"),
            (
                "s3://bkt?colour=red",
                "unknown parameter `colour` (s3 URLs take: endpoint, region, style)",
            ),
            ("s3://bkt?region=a&region=b", "given twice"),
            ("s3://bkt?style=sideways", "style `sideways`"),
            ("s3://AKIA:secret@bkt", "credentials never go in store URLs"),
            ("s3://bkt?secret_access_key=abc", "looks like a secret"),
            (
                "webdav+https://u:hunter2@host/dav",
                "a password in the URL is refused",
            ),
            ("webdav+http:///dav", "missing host name"),
            ("webdav+http://host/dav?x=1", "unknown parameter `x`"),
            ("sftp://host/", "known_hosts"),
            ("sftp://host", "absolute directory"),
            ("sftp://host:0/x", "bad port `0`"),
            (
                "sftp://h/x?known_hosts=maybe",
                "must be strict, add or accept",
            ),
            ("sftp://u:pw@h/x", "password in the URL is refused"),
            ("gdrive://", "need a folder"),
            ("gdrive://me@gmail.com/x", "name a folder only"),
            ("dropbox://a/../b", "need a folder"),
            ("onedrive://a?token=x", "looks like a secret"),
            ("ftp://h/x", "unknown store kind `ftp`"),
            ("s3:bucket", "expected an absolute path or a URL"),
            ("file://host/x", "absolute path"),
            ("file:///x#y", "fragment"),
        ];
        for (url, want) in cases {
            let err = match parse_location(url) {
                Ok(loc) if want == "known_hosts" => {
                    // `sftp://host/` is valid (root directory); checked here for the default.
                    assert!(matches!(
                        loc,
                        StoreLocation::Sftp {
                            known_hosts: KnownHosts::Strict,
                            ..
                        }
                    ));
                    continue;
                }
                Ok(loc) => panic!("{url} parsed as {loc:?}, want an error with `{want}`"),
                Err(e) => e.to_string(),
            };
            assert!(err.contains(want), "{url}: want `{want}` in `{err}`");
            assert!(!err.contains('\n'), "multi-line error: {err}");
            for secret in ["hunter2", "secret@", "pw@", "=abc", "token=x"] {
                assert!(
                    !err.contains(secret),
                    "{url}: error repeats a secret: {err}"
                );
            }
        }
    }
}
