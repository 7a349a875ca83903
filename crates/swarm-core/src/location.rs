//! Where a store lives: the store URL grammar (`docs/spec/definition-v1.md` lists the forms).
//!
//! A store URL holds no secret: URLs carrying a password, a key or a token are refused, saying
//! where credentials go. Errors are one line, name what is wrong, and show the URL only through
//! [`crate::redact::url`], so a refusal never repeats the secret it refuses.

use std::path::PathBuf;

use crate::node_id::{NodeId, NodeIdError};
use crate::redact;

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
    /// `peer://NODEID[@host:port]`: the store a swarm node serves (`definition-v2.md`).
    Peer {
        node: NodeId,
        /// Where to dial it first.
        addr: Option<HostPort>,
    },
}

/// `host:port`: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// As written; IPv6 keeps its brackets.
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Parses `host:port` (static node addresses, DHT bootstrap nodes); the port is required.
pub fn parse_host_port(text: &str) -> Result<HostPort, UrlProblem> {
    if text.contains(['@', '/', '?', '#']) {
        return Err(UrlProblem::BadHostPort(redact::url(text)));
    }
    let auth = parse_authority(text)?;
    let port = auth
        .port
        .ok_or_else(|| UrlProblem::BadHostPort(redact::url(text)))?;
    Ok(HostPort {
        host: auth.host,
        port,
    })
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
            StoreLocation::Peer { .. } => "peer",
        }
    }
}

/// A store URL that does not parse: the URL (secrets masked) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad store URL `{url}`: {problem}")]
pub struct LocationError {
    url: String,
    problem: UrlProblem,
}

impl LocationError {
    fn new(url: &str, problem: UrlProblem) -> Self {
        LocationError {
            url: redact::url(url),
            problem,
        }
    }

    /// The URL as given, with anything that may be a secret masked.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn problem(&self) -> &UrlProblem {
        &self.problem
    }
}

const CREDENTIALS_HINT: &str = "credentials never go in store URLs (the definition is shared): \
     use environment variables or ~/.config/annex-swarm/credentials.toml (see README, Credentials)";

/// What is wrong with a store URL. Values shown are the ones the URL gave, secrets masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    #[error(
        "expected an absolute path or a URL such as file:///mnt/disk, s3://bucket/prefix, \
         webdav+https://host/dir/, sftp://user@host/dir, gdrive://folder"
    )]
    NotAUrl,
    #[error("store URLs take no #fragment")]
    Fragment,
    #[error("truncated %-escape in the {0}")]
    TruncatedEscape(UrlPart),
    #[error("bad %-escape in the {0}")]
    BadEscape(UrlPart),
    #[error("{0} is not UTF-8")]
    NotUtf8(UrlPart),
    #[error("parameter `{0}` looks like a secret; {CREDENTIALS_HINT}")]
    SecretParam(String),
    #[error("parameter `{0}` given twice")]
    ParamTwice(String),
    #[error("unknown parameter `{param}` ({kind} URLs take{})", takes(.known))]
    UnknownParam {
        param: String,
        kind: &'static str,
        known: &'static [&'static str],
    },
    #[error("a password in the URL is refused; {CREDENTIALS_HINT}")]
    Password,
    #[error("empty user name before `@`")]
    EmptyUser,
    #[error("unclosed `[` in an IPv6 host")]
    UnclosedBracket,
    #[error("junk after `]`")]
    AfterBracket,
    #[error("missing host name")]
    MissingHost,
    #[error("bad host name `{0}`")]
    BadHost(String),
    #[error("bad port `{0}`")]
    BadPort(String),
    #[error("file URLs need an absolute path: file:///mnt/disk")]
    FileNotAbsolute,
    #[error("s3 URLs take no user or key before the bucket; {CREDENTIALS_HINT}")]
    S3UserInfo,
    #[error("bad bucket name `{0}` (3 to 63 of a-z 0-9 . -): s3://bucket/prefix?endpoint=...")]
    BadBucket(String),
    #[error("bad prefix `{0}`")]
    BadPrefix(String),
    #[error("endpoint `{0}` must be http://host[:port] or https://host[:port]")]
    EndpointNotUrl(String),
    #[error("endpoint `{0}` must start with http:// or https://")]
    EndpointScheme(String),
    #[error("endpoint takes no user; {CREDENTIALS_HINT}")]
    EndpointUser,
    #[error("bad region `{0}`")]
    BadRegion(String),
    #[error("style `{0}` must be path or virtual")]
    BadStyle(String),
    #[error("sftp URLs need an absolute directory: sftp://user@host:22/srv/shards")]
    SftpNotAbsolute,
    #[error("known_hosts `{0}` must be strict, add or accept")]
    BadKnownHosts(String),
    #[error(
        "{scheme} URLs name a folder only (`{scheme}://folder/sub`); the account comes from \
         `annex-swarm authorize {scheme}`",
        scheme = .0.scheme()
    )]
    DriveAccount(DriveService),
    #[error(
        "{scheme} URLs need a folder: {scheme}://annex or {scheme}://backups/annex",
        scheme = .0.scheme()
    )]
    DriveFolder(DriveService),
    #[error("{0}")]
    BadNodeId(NodeIdError),
    #[error("peer URLs are peer://NODEID or peer://NODEID@host:port (no path, query or user)")]
    PeerForm,
    #[error("bad address `{0}`: expected host:port")]
    BadHostPort(String),
    #[error("relay `{0}` must be http(s)://host[:port][/path], with no user, query or fragment")]
    RelayUrl(String),
    #[error(
        "tracker `{0}` must be http(s)://host[:port][/path] or udp://host:port[/path], with no user, query or fragment"
    )]
    TrackerUrl(String),
    #[error(
        "unknown store kind `{0}` (known: file, s3, webdav+http, webdav+https, sftp, gdrive, onedrive, dropbox)"
    )]
    UnknownKind(String),
}

fn takes(known: &[&str]) -> String {
    if known.is_empty() {
        " none".to_owned()
    } else {
        format!(": {}", known.join(", "))
    }
}

/// The part of a URL a %-escape problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPart {
    Path,
    User,
    Folder,
    ParamName,
    ParamValue,
}

impl std::fmt::Display for UrlPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UrlPart::Path => "path",
            UrlPart::User => "user name",
            UrlPart::Folder => "folder",
            UrlPart::ParamName => "parameter name",
            UrlPart::ParamValue => "parameter value",
        })
    }
}

/// Parses a store URL (the forms are in `docs/spec/definition-v1.md`). Errors are one line and
/// name what is wrong; a URL carrying a secret is refused, saying where credentials go.
pub fn parse_location(url: &str) -> Result<StoreLocation, LocationError> {
    parse(url).map_err(|problem| LocationError::new(url, problem))
}

fn parse(url: &str) -> Result<StoreLocation, UrlProblem> {
    if url.starts_with('/') {
        return Ok(StoreLocation::Local(PathBuf::from(url)));
    }
    let (scheme, rest) = url.split_once("://").ok_or(UrlProblem::NotAUrl)?;
    if rest.contains('#') {
        return Err(UrlProblem::Fragment);
    }
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, parse_query(q)?),
        None => (rest, Vec::new()),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = percent_decode(path, UrlPart::Path)?;
    match scheme {
        "file" => {
            if !authority.is_empty() || !path.starts_with('/') {
                return Err(UrlProblem::FileNotAbsolute);
            }
            no_query(&query, "file")?;
            Ok(StoreLocation::Local(PathBuf::from(path)))
        }
        "s3" => parse_s3(authority, &path, query),
        "webdav+http" | "webdav+https" => {
            let auth = parse_authority(authority)?;
            no_query(&query, "webdav")?;
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
            let auth = parse_authority(authority)?;
            if !path.starts_with('/') {
                return Err(UrlProblem::SftpNotAbsolute);
            }
            let mut known_hosts = KnownHosts::Strict;
            for (k, v) in query {
                match k.as_str() {
                    "known_hosts" => {
                        known_hosts = match v.as_str() {
                            "strict" => KnownHosts::Strict,
                            "add" => KnownHosts::Add,
                            "accept" => KnownHosts::Accept,
                            _ => return Err(UrlProblem::BadKnownHosts(redact::url(&v))),
                        }
                    }
                    _ => return Err(unknown_param(k, "sftp", &["known_hosts"])),
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
        "peer" => parse_peer(url),
        _ => match DriveService::from_scheme(scheme) {
            Some(service) => parse_drive(service, authority, &path, &query),
            None => Err(UrlProblem::UnknownKind(redact::url(scheme))),
        },
    }
}

/// Checks a relay URL (`relays = [...]` in a format 2 definition): `http(s)://host[:port][/path]`.
pub fn parse_relay_url(url: &str) -> Result<(), UrlProblem> {
    let bad = || UrlProblem::RelayUrl(redact::url(url));
    let (proto, rest) = url.split_once("://").ok_or_else(bad)?;
    if !matches!(proto, "http" | "https") || rest.contains(['?', '#', '@']) {
        return Err(bad());
    }
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    parse_authority(authority)?;
    Ok(())
}

/// A BitTorrent tracker's announce URL: `http(s)://` or `udp://`, a host, nothing secret (a
/// private tracker's passkey in its user or query has no place in a definition).
pub fn parse_tracker_url(url: &str) -> Result<(), UrlProblem> {
    let bad = || UrlProblem::TrackerUrl(redact::text(url));
    let (proto, rest) = url.split_once("://").ok_or_else(bad)?;
    if !matches!(proto, "http" | "https" | "udp")
        || rest.contains(['?', '#', '@'])
        || rest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    if authority.is_empty() {
        return Err(bad());
    }
    parse_authority(authority)?;
    Ok(())
}

fn parse_peer(url: &str) -> Result<StoreLocation, UrlProblem> {
    let rest = url.strip_prefix("peer://").ok_or(UrlProblem::PeerForm)?;
    if rest.contains(['/', '?', '#']) {
        return Err(UrlProblem::PeerForm);
    }
    let (id, addr) = match rest.split_once('@') {
        Some((id, addr)) => (id, Some(parse_host_port(addr)?)),
        None => (rest, None),
    };
    let node = id.parse().map_err(UrlProblem::BadNodeId)?;
    Ok(StoreLocation::Peer { node, addr })
}

fn parse_drive(
    service: DriveService,
    authority: &str,
    path: &str,
    query: &[(String, String)],
) -> Result<StoreLocation, UrlProblem> {
    if authority.contains(['@', ':']) {
        return Err(UrlProblem::DriveAccount(service));
    }
    no_query(query, service.scheme())?;
    let folder = percent_decode(authority, UrlPart::Folder)?;
    let root = format!("/{folder}{path}");
    let root = root.trim_end_matches('/').to_owned();
    if root.is_empty() || root.split('/').skip(1).any(|c| c.is_empty() || c == "..") {
        return Err(UrlProblem::DriveFolder(service));
    }
    Ok(StoreLocation::Drive {
        service,
        root: format!("{root}/"),
    })
}

fn parse_query(q: &str) -> Result<Vec<(String, String)>, UrlProblem> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k, UrlPart::ParamName)?;
        let v = percent_decode(v, UrlPart::ParamValue)?;
        if redact::is_secret_param(&k) {
            return Err(UrlProblem::SecretParam(k));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(UrlProblem::ParamTwice(redact::url(&k)));
        }
        out.push((k, v));
    }
    Ok(out)
}

fn no_query(query: &[(String, String)], kind: &'static str) -> Result<(), UrlProblem> {
    match query.first() {
        Some((k, _)) => Err(unknown_param(k.clone(), kind, &[])),
        None => Ok(()),
    }
}

fn unknown_param(param: String, kind: &'static str, known: &'static [&'static str]) -> UrlProblem {
    UrlProblem::UnknownParam {
        param: redact::url(&param),
        kind,
        known,
    }
}

struct Authority {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

fn parse_authority(a: &str) -> Result<Authority, UrlProblem> {
    let (user, hostport) = match a.rsplit_once('@') {
        Some((u, h)) => {
            if u.contains(':') {
                return Err(UrlProblem::Password);
            }
            if u.is_empty() {
                return Err(UrlProblem::EmptyUser);
            }
            (Some(percent_decode(u, UrlPart::User)?), h)
        }
        None => (None, a),
    };
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        // [v6]:port
        let (h, after) = rest.split_once(']').ok_or(UrlProblem::UnclosedBracket)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(UrlProblem::AfterBracket)?),
        };
        (format!("[{h}]"), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (hostport.to_owned(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err(UrlProblem::MissingHost);
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._[]:".contains(c))
    {
        return Err(UrlProblem::BadHost(redact::url(&host)));
    }
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| UrlProblem::BadPort(redact::url(p)))
        })
        .transpose()?;
    Ok(Authority { user, host, port })
}

fn parse_s3(
    bucket: &str,
    path: &str,
    query: Vec<(String, String)>,
) -> Result<StoreLocation, UrlProblem> {
    if bucket.contains('@') {
        return Err(UrlProblem::S3UserInfo);
    }
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !bucket.starts_with(['-', '.'])
        && !bucket.ends_with(['-', '.']);
    if !valid_bucket {
        return Err(UrlProblem::BadBucket(bucket.to_owned()));
    }
    let prefix = path.trim_matches('/').to_owned();
    if prefix.split('/').any(|c| c == ".." || c == ".") || prefix.contains("//") {
        return Err(UrlProblem::BadPrefix(prefix));
    }
    let mut endpoint = None;
    let mut region = None;
    let mut virtual_host = false;
    for (k, v) in query {
        match k.as_str() {
            "endpoint" => {
                let (proto, rest) = v
                    .split_once("://")
                    .ok_or_else(|| UrlProblem::EndpointNotUrl(redact::url(&v)))?;
                if proto != "http" && proto != "https" {
                    return Err(UrlProblem::EndpointScheme(redact::url(&v)));
                }
                let a = parse_authority(rest.trim_end_matches('/'))?;
                if a.user.is_some() {
                    return Err(UrlProblem::EndpointUser);
                }
                endpoint = Some(v.trim_end_matches('/').to_owned());
            }
            "region" => {
                if v.is_empty()
                    || !v
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(UrlProblem::BadRegion(redact::url(&v)));
                }
                region = Some(v);
            }
            "style" => {
                virtual_host = match v.as_str() {
                    "path" => false,
                    "virtual" => true,
                    _ => return Err(UrlProblem::BadStyle(redact::url(&v))),
                }
            }
            _ => return Err(unknown_param(k, "s3", &["endpoint", "region", "style"])),
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

fn percent_decode(s: &str, part: UrlPart) -> Result<String, UrlProblem> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b
                .get(i + 1..i + 3)
                .ok_or(UrlProblem::TruncatedEscape(part))?;
            let h = std::str::from_utf8(h).map_err(|_| UrlProblem::BadEscape(part))?;
            out.push(u8::from_str_radix(h, 16).map_err(|_| UrlProblem::BadEscape(part))?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlProblem::NotUtf8(part))
}

#[cfg(test)]
mod tests;
