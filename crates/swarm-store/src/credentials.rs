//! Where store credentials come from, and where they may go. They never enter the swarm
//! definition, git or the git-annex branch: a [`CredentialSource`] answers "what is store X's
//! `secret_access_key`, to be sent to host H?" from the environment, the local credentials file,
//! or (in the special remote) what git-annex's GETCREDS returned. Secrets are wrapped in
//! [`Secret`], whose `Debug` and `Display` print `***`.
//!
//! **Credentials go only to the hosts they were given for.** The definition is shared input: a
//! collaborator may add a store, or change a store's URL, and must not thereby receive the
//! user's credentials. So every credential of a kind that can point anywhere (S3, WebDAV, SFTP)
//! carries the [`Host`]s it may be sent to, and a lookup for a store whose [`Destination`] is
//! elsewhere refuses it ([`CredentialError::NotForHost`], naming the host and how to allow it,
//! never the value). The OAuth drives talk to fixed service hosts, so their credentials are
//! bound by kind alone.
//!
//! Lookup order for store `s1-abc` and name `secret_access_key` ([`default_source`]); the first
//! place that holds the credential decides, and its hosts must name the destination:
//! 1. `ANNEX_SWARM_S1_ABC_SECRET_ACCESS_KEY` (store id upper-cased, `-` as `_`), for the hosts
//!    in `ANNEX_SWARM_S1_ABC_HOSTS`
//! 2. `[store.s1-abc] secret_access_key` in the credentials file, for that table's `hosts`
//! 3. `ANNEX_SWARM_<KIND>_SECRET_ACCESS_KEY` (`S3`, `WEBDAV`, `SFTP`, `GDRIVE`, ...), for the
//!    hosts in `ANNEX_SWARM_<KIND>_HOSTS`
//! 4. `[service.<kind>] secret_access_key` in the credentials file, for that table's `hosts`
//! 5. the service's own variable where there is one (`AWS_ACCESS_KEY_ID`,
//!    `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), for AWS (`aws`) and the hosts in
//!    `ANNEX_SWARM_S3_HOSTS`
//!
//! The credentials file is `$ANNEX_SWARM_CREDENTIALS`, else
//! `$XDG_CONFIG_HOME/annex-swarm/credentials.toml`, else `~/.config/annex-swarm/credentials.toml`.
//! It is refused while group or others may read it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use swarm_core::definition::StoreLocation;
use swarm_core::ids::StoreId;

/// A secret value. Never printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The value, for handing to the service client. Do not format it into messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Credential names the store kinds ask for.
pub mod names {
    pub const ACCESS_KEY_ID: &str = "access_key_id";
    pub const SECRET_ACCESS_KEY: &str = "secret_access_key";
    pub const SESSION_TOKEN: &str = "session_token";
    pub const USERNAME: &str = "username";
    pub const PASSWORD: &str = "password";
    /// Path of an SSH private key (a path, not the key; still machine-local, so not in the URL).
    pub const SSH_KEY: &str = "ssh_key";
    pub const CLIENT_ID: &str = "client_id";
    pub const CLIENT_SECRET: &str = "client_secret";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// Not a credential: where the credentials beside it may be sent
    /// (`ANNEX_SWARM_<STORE or KIND>_HOSTS`, `hosts = [...]` in a table of the file).
    pub const HOSTS: &str = "hosts";
}

/// A place credentials may be sent: `https://HOST[:PORT]`, `http://HOST[:PORT]`,
/// `sftp://HOST[:PORT]`, or `aws` (AWS's own S3 endpoints: an S3 store without `endpoint=`).
/// Normalised: scheme and host lower-cased, the scheme's default port (443, 80, 22) left out,
/// so `HTTPS://Cloud.Example.org:443/` is `https://cloud.example.org`. The scheme is part of it:
/// a credential given for `https://h` does not go to `http://h` in the clear.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host(String);

/// A host entry that does not parse. Shows the entry (hosts are not secrets; a URL's user info
/// and query are masked anyway).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a host: write https://HOST[:PORT], http://HOST[:PORT], sftp://HOST[:PORT] or aws"
)]
pub struct HostError(String);

impl Host {
    const AWS: &'static str = "aws";

    /// AWS's own S3 endpoints (an S3 store with no `endpoint=`).
    pub fn aws() -> Host {
        Host(Self::AWS.to_owned())
    }

    /// Where a store at `location` sends its credentials; `None` for kinds whose service hosts
    /// are fixed (the OAuth drives) and for local directories.
    pub fn of(location: &StoreLocation) -> Option<Host> {
        let url = match location {
            StoreLocation::S3 { endpoint: None, .. } => return Some(Host::aws()),
            StoreLocation::S3 {
                endpoint: Some(e), ..
            } => e.clone(),
            StoreLocation::WebDav { endpoint, .. } => endpoint.clone(),
            StoreLocation::Sftp { host, port, .. } => match port {
                Some(p) => format!("sftp://{host}:{p}"),
                None => format!("sftp://{host}"),
            },
            // Peers are reached by their key: no credential is ever sent to them.
            StoreLocation::Drive { .. } | StoreLocation::Local(_) | StoreLocation::Peer { .. } => {
                return None;
            }
        };
        // The URL grammar admits nothing this does not; should it ever, the raw text is a
        // host no normalised entry equals, so nothing is sent.
        Some(
            url.parse()
                .unwrap_or_else(|_| Host(url.to_ascii_lowercase())),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A list of hosts as an `ANNEX_SWARM_..._HOSTS` variable holds it: separated by commas or
    /// white space.
    pub fn parse_list(text: &str) -> Result<Vec<Host>, HostError> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Host {
    type Err = HostError;

    fn from_str(entry: &str) -> Result<Host, HostError> {
        let bad = || HostError(swarm_core::redact::url(entry.trim()));
        let t = entry.trim();
        if t.eq_ignore_ascii_case(Self::AWS) {
            return Ok(Host::aws());
        }
        let (scheme, rest) = t.split_once("://").ok_or_else(bad)?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            "sftp" => 22,
            _ => return Err(bad()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (inside, after) = v6.split_once(']').ok_or_else(bad)?;
                if inside.is_empty()
                    || !inside
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() || ":.".contains(c))
                {
                    return Err(bad());
                }
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or_else(bad)?),
                };
                (format!("[{inside}]"), port)
            }
            None => {
                let (h, p) = match rest.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (rest, None),
                };
                if h.is_empty()
                    || !h
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                {
                    return Err(bad());
                }
                (h.to_owned(), p)
            }
        };
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(bad)?),
        };
        let host = host.to_ascii_lowercase();
        Ok(Host(match port {
            Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        }))
    }
}

/// Where a store's credentials would be sent: its kind (for kind-wide credentials) and, for
/// kinds that can point anywhere, its host. Built from the store's location, so the shared
/// definition decides where a store *is*, and the credentials decide whether they go there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    kind: &'static str,
    host: Option<Host>,
}

impl Destination {
    /// The store at `location`.
    pub fn of(location: &StoreLocation) -> Self {
        Destination {
            kind: location.kind(),
            host: Host::of(location),
        }
    }

    /// A store of `kind` (a kind registered from outside this crate) reached at `host`.
    pub fn at(kind: &'static str, host: Host) -> Self {
        Destination {
            kind,
            host: Some(host),
        }
    }

    /// A kind whose credentials can only ever go to the service's own fixed hosts (the OAuth
    /// drives): no host to check.
    pub fn fixed_hosts(kind: &'static str) -> Self {
        Destination { kind, host: None }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// `None` when the kind's hosts are fixed.
    pub fn host(&self) -> Option<&Host> {
        self.host.as_ref()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "credentials file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Exposed { path: String, mode: u32 },
    #[error("cannot read credentials file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("cannot write credentials file {path}: {reason}")]
    Unwritable { path: String, reason: String },
    /// A credential was found, but not for the host the store is at: it is not used (and the
    /// store is unusable until the user says that host may have it).
    #[error("{what} is not sent to {target} ({why}); {remedy}")]
    NotForHost {
        /// The credential and where it was found: "the webdav `password` from ANNEX_SWARM_...".
        what: String,
        /// Where the store is.
        target: Host,
        /// Where the credential may go instead, or why it may go nowhere.
        why: String,
        /// How to allow it, if the user trusts that host with it.
        remedy: String,
    },
    #[error("{origin}: {problem}")]
    BadHosts { origin: String, problem: HostError },
}

impl CredentialError {
    /// A credential found for another host than `target`. `allowed` lists where it may go;
    /// `none` says why it may go nowhere when that list is empty.
    pub fn not_for_host(
        what: String,
        target: &Host,
        allowed: &[Host],
        none: impl FnOnce() -> String,
        remedy: String,
    ) -> Self {
        let why = if allowed.is_empty() {
            none()
        } else {
            let list: Vec<&str> = allowed.iter().map(Host::as_str).collect();
            format!("it may go only to {}", list.join(", "))
        };
        CredentialError::NotForHost {
            what,
            target: target.clone(),
            why,
            remedy,
        }
    }
}

/// Answers credential questions for one store.
pub trait CredentialSource: Send + Sync {
    /// Credential `name` of `store`, to be sent to `dest`. `Ok(None)` when this source has
    /// none; [`CredentialError::NotForHost`] when it has one that may not go to `dest`'s host.
    fn get(
        &self,
        store: &StoreId,
        dest: &Destination,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError>;

    /// The hosts named for `store`'s own credentials (not kind-wide ones): where the user said
    /// this store's credentials may go. The special remote moves the credentials git-annex keeps
    /// for a store to the store's new host only when it is named here.
    fn store_hosts(&self, _store: &StoreId) -> Result<Vec<Host>, CredentialError> {
        Ok(Vec::new())
    }
}

/// `ANNEX_SWARM_<STORE>_<NAME>`.
pub fn store_var(store: &StoreId, name: &str) -> String {
    format!(
        "ANNEX_SWARM_{}_{}",
        store.as_str().to_ascii_uppercase().replace('-', "_"),
        name.to_ascii_uppercase()
    )
}

/// `ANNEX_SWARM_<KIND>_<NAME>`.
pub fn kind_var(kind: &str, name: &str) -> String {
    format!(
        "ANNEX_SWARM_{}_{}",
        kind.to_ascii_uppercase(),
        name.to_ascii_uppercase()
    )
}

/// The service's own variable for a credential, where there is one.
fn standard_var(kind: &str, name: &str) -> Option<&'static str> {
    match (kind, name) {
        ("s3", names::ACCESS_KEY_ID) => Some("AWS_ACCESS_KEY_ID"),
        ("s3", names::SECRET_ACCESS_KEY) => Some("AWS_SECRET_ACCESS_KEY"),
        ("s3", names::SESSION_TOKEN) => Some("AWS_SESSION_TOKEN"),
        _ => None,
    }
}

fn env(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret)
}

/// The hosts an `ANNEX_SWARM_..._HOSTS` variable lists (none when unset).
fn env_hosts(var: &str) -> Result<Vec<Host>, CredentialError> {
    match std::env::var(var) {
        Ok(v) => Host::parse_list(&v).map_err(|problem| CredentialError::BadHosts {
            origin: var.to_owned(),
            problem,
        }),
        Err(_) => Ok(Vec::new()),
    }
}

/// The credentials file's contents.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    #[serde(default)]
    pub store: BTreeMap<String, Table>,
    #[serde(default)]
    pub service: BTreeMap<String, Table>,
}

/// One table of the credentials file: `[store.ID]` or `[service.KIND]`.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Table {
    /// Where this table's credentials may be sent ([`Host`] entries); not needed by kinds whose
    /// service hosts are fixed (the drives).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Credential name -> value.
    #[serde(flatten)]
    pub values: BTreeMap<String, String>,
}

/// Where the credentials file is (it may not exist).
pub fn credentials_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ANNEX_SWARM_CREDENTIALS").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("annex-swarm").join("credentials.toml"))
}

fn shown_path() -> String {
    credentials_path()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.config/annex-swarm/credentials.toml".into())
}

impl CredentialsFile {
    /// Reads the file; a missing file is empty. Refused if group or others may read it.
    pub fn load(path: &Path) -> Result<Self, CredentialError> {
        let shown = path.display().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(CredentialError::Unreadable {
                    path: shown,
                    reason: e.to_string(),
                });
            }
        };
        check_private(path, &meta)?;
        let text = std::fs::read_to_string(path).map_err(|e| CredentialError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        // toml's messages quote the offending line, which may hold a secret: keep only the
        // position.
        toml::from_str(&text).map_err(|e| CredentialError::Unreadable {
            path: shown,
            reason: match e.span() {
                Some(span) => format!(
                    "not valid TOML near line {} (expected [store.ID] or [service.KIND] tables of strings, and `hosts = [\"https://HOST\", ...]`)",
                    text[..span.start.min(text.len())].lines().count().max(1)
                ),
                None => "not valid TOML (expected [store.ID] or [service.KIND] tables of strings, and `hosts = [\"https://HOST\", ...]`)".into(),
            },
        })
    }

    /// Writes the file with mode 0600 (created so, never readable by others in between).
    pub fn save(&self, path: &Path) -> Result<(), CredentialError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let fail = |e: std::io::Error| CredentialError::Unwritable {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let text = toml::to_string(self).map_err(|e| CredentialError::Unwritable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(fail)?;
        let written = f
            .write_all(
                format!("# annex-swarm credentials: keep private (mode 0600)\n{text}").as_bytes(),
            )
            .and_then(|()| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(e));
        }
        Ok(())
    }

    fn table(&self, at: &Origin) -> Option<&Table> {
        match at {
            Origin::StoreTable { store, .. } => self.store.get(store.as_str()),
            Origin::KindTable { kind, .. } => self.service.get(*kind),
            _ => None,
        }
    }
}

fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<(), CredentialError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CredentialError::Exposed {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

/// Where [`DefaultSource`] found a credential, and so which hosts it may go to.
enum Origin {
    StoreVar {
        var: String,
        hosts: String,
    },
    StoreTable {
        store: StoreId,
        path: String,
    },
    KindVar {
        var: String,
        hosts: String,
    },
    KindTable {
        kind: &'static str,
        path: String,
    },
    /// `AWS_*`: for AWS, and the hosts of `ANNEX_SWARM_S3_HOSTS`.
    Standard {
        var: &'static str,
        hosts: String,
    },
}

impl Origin {
    /// "the webdav `password` from ANNEX_SWARM_WEBDAV_PASSWORD"
    fn what(&self, kind: &str, name: &str) -> String {
        let from = match self {
            Origin::StoreVar { var, .. } | Origin::KindVar { var, .. } => format!("from {var}"),
            Origin::Standard { var, .. } => format!("from {var}"),
            Origin::StoreTable { store, path } => format!("under [store.{store}] in {path}"),
            Origin::KindTable { kind, path } => format!("under [service.{kind}] in {path}"),
        };
        format!("the {kind} `{name}` {from}")
    }

    /// Why the credential may go nowhere, when no host is named for it.
    fn none(&self) -> String {
        match self {
            Origin::StoreVar { hosts, .. }
            | Origin::KindVar { hosts, .. }
            | Origin::Standard { hosts, .. } => format!("{hosts} names no host for it"),
            Origin::StoreTable { .. } | Origin::KindTable { .. } => {
                "its table names no `hosts`".into()
            }
        }
    }

    /// How to let it go to `target`.
    fn remedy(&self, target: &Host) -> String {
        match self {
            Origin::StoreVar { hosts, .. }
            | Origin::KindVar { hosts, .. }
            | Origin::Standard { hosts, .. } => {
                format!("if that host should have it, add {target} to {hosts} (comma-separated)")
            }
            Origin::StoreTable { store, .. } => format!(
                "if that host should have it, add \"{target}\" to `hosts` under [store.{store}]"
            ),
            Origin::KindTable { kind, .. } => format!(
                "if that host should have it, add \"{target}\" to `hosts` under [service.{kind}]"
            ),
        }
    }
}

/// The environment and the credentials file, in the module's order. The file is read once, the
/// first time a credential is not found in the environment.
#[derive(Debug, Default)]
pub struct DefaultSource {
    file: OnceLock<Result<CredentialsFile, String>>,
    path: Option<PathBuf>,
}

impl DefaultSource {
    pub fn new() -> Self {
        DefaultSource {
            file: OnceLock::new(),
            path: credentials_path(),
        }
    }

    /// With the credentials file at `path` instead of the default.
    pub fn with_file(path: PathBuf) -> Self {
        DefaultSource {
            file: OnceLock::new(),
            path: Some(path),
        }
    }

    fn file(&self) -> Result<Option<&CredentialsFile>, CredentialError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        match self
            .file
            .get_or_init(|| CredentialsFile::load(path).map_err(|e| e.to_string()))
        {
            Ok(f) => Ok(Some(f)),
            Err(e) => Err(CredentialError::Unreadable {
                path: path.display().to_string(),
                reason: e.clone(),
            }),
        }
    }

    fn path_shown(&self) -> String {
        self.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(shown_path)
    }

    /// The first place holding credential `name` of `store`, and that place.
    fn find(
        &self,
        store: &StoreId,
        kind: &'static str,
        name: &str,
    ) -> Result<Option<(Secret, Origin)>, CredentialError> {
        let var = store_var(store, name);
        if let Some(v) = env(&var) {
            let hosts = store_var(store, names::HOSTS);
            return Ok(Some((v, Origin::StoreVar { var, hosts })));
        }
        let file = self.file()?;
        let in_table = |t: Option<&Table>| {
            t.and_then(|t| t.values.get(name))
                .filter(|v| !v.is_empty())
                .map(|v| Secret(v.clone()))
        };
        if let Some(v) = in_table(file.and_then(|f| f.store.get(store.as_str()))) {
            let path = self.path_shown();
            let store = store.clone();
            return Ok(Some((v, Origin::StoreTable { store, path })));
        }
        let var = kind_var(kind, name);
        if let Some(v) = env(&var) {
            let hosts = kind_var(kind, names::HOSTS);
            return Ok(Some((v, Origin::KindVar { var, hosts })));
        }
        if let Some(v) = in_table(file.and_then(|f| f.service.get(kind))) {
            let path = self.path_shown();
            return Ok(Some((v, Origin::KindTable { kind, path })));
        }
        Ok(standard_var(kind, name).and_then(|var| {
            env(var).map(|v| {
                let hosts = kind_var(kind, names::HOSTS);
                (v, Origin::Standard { var, hosts })
            })
        }))
    }

    /// Where a credential found at `origin` may go.
    fn hosts(&self, origin: &Origin) -> Result<Vec<Host>, CredentialError> {
        match origin {
            Origin::StoreVar { hosts, .. } | Origin::KindVar { hosts, .. } => env_hosts(hosts),
            Origin::Standard { hosts, .. } => {
                let mut all = vec![Host::aws()];
                all.extend(env_hosts(hosts)?);
                Ok(all)
            }
            Origin::StoreTable { .. } | Origin::KindTable { .. } => {
                let file = self.file()?;
                let entries = file.and_then(|f| f.table(origin)).map(|t| &t.hosts);
                entries
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        e.parse().map_err(|problem| CredentialError::BadHosts {
                            origin: match origin {
                                Origin::StoreTable { store, path } => {
                                    format!("`hosts` under [store.{store}] in {path}")
                                }
                                Origin::KindTable { kind, path } => {
                                    format!("`hosts` under [service.{kind}] in {path}")
                                }
                                _ => String::new(),
                            },
                            problem,
                        })
                    })
                    .collect()
            }
        }
    }
}

impl CredentialSource for DefaultSource {
    fn get(
        &self,
        store: &StoreId,
        dest: &Destination,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError> {
        let Some((value, origin)) = self.find(store, dest.kind(), name)? else {
            return Ok(None);
        };
        let Some(target) = dest.host() else {
            return Ok(Some(value));
        };
        let allowed = self.hosts(&origin)?;
        if allowed.contains(target) {
            return Ok(Some(value));
        }
        Err(CredentialError::not_for_host(
            origin.what(dest.kind(), name),
            target,
            &allowed,
            || origin.none(),
            origin.remedy(target),
        ))
    }

    fn store_hosts(&self, store: &StoreId) -> Result<Vec<Host>, CredentialError> {
        let mut all = env_hosts(&store_var(store, names::HOSTS))?;
        let table = Origin::StoreTable {
            store: store.clone(),
            path: self.path_shown(),
        };
        all.extend(self.hosts(&table)?);
        Ok(all)
    }
}

/// Credentials handed over in memory: `(store id, name) -> value`, each store's sent only to
/// the hosts [`MapSource::allow`] names for it (but for kinds with fixed service hosts).
#[derive(Debug, Default, Clone)]
pub struct MapSource {
    values: BTreeMap<(String, String), Secret>,
    hosts: BTreeMap<String, Vec<Host>>,
}

impl MapSource {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, store: &StoreId, name: &str, value: Secret) {
        self.values
            .insert((store.as_str().to_owned(), name.to_owned()), value);
    }

    /// Lets `store`'s credentials go to `host`.
    pub fn allow(&mut self, store: &StoreId, host: Host) {
        let hosts = self.hosts.entry(store.as_str().to_owned()).or_default();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
}

impl CredentialSource for MapSource {
    fn get(
        &self,
        store: &StoreId,
        dest: &Destination,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError> {
        let Some(value) = self
            .values
            .get(&(store.as_str().to_owned(), name.to_owned()))
        else {
            return Ok(None);
        };
        let Some(target) = dest.host() else {
            return Ok(Some(value.clone()));
        };
        let allowed = self
            .hosts
            .get(store.as_str())
            .map_or(&[][..], Vec::as_slice);
        if allowed.contains(target) {
            return Ok(Some(value.clone()));
        }
        Err(CredentialError::not_for_host(
            format!("the {} `{name}` given for this store", dest.kind()),
            target,
            allowed,
            || "no host was allowed for it".into(),
            "the program that supplied it must allow that host".into(),
        ))
    }

    fn store_hosts(&self, store: &StoreId) -> Result<Vec<Host>, CredentialError> {
        Ok(self.hosts.get(store.as_str()).cloned().unwrap_or_default())
    }
}

/// The first source that knows wins (and a source that knows a credential for another host
/// stops the lookup). It owns its sources, so a long-lived swarm can keep asking it (a reload
/// opens new stores).
pub struct Chain(pub Vec<std::sync::Arc<dyn CredentialSource>>);

impl CredentialSource for Chain {
    fn get(
        &self,
        store: &StoreId,
        dest: &Destination,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError> {
        for s in &self.0 {
            if let Some(v) = s.get(store, dest, name)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    fn store_hosts(&self, store: &StoreId) -> Result<Vec<Host>, CredentialError> {
        let mut all = Vec::new();
        for s in &self.0 {
            for h in s.store_hosts(store)? {
                if !all.contains(&h) {
                    all.push(h);
                }
            }
        }
        Ok(all)
    }
}

/// The process-wide default: environment, then the credentials file.
pub fn default_source() -> &'static DefaultSource {
    static SOURCE: OnceLock<DefaultSource> = OnceLock::new();
    SOURCE.get_or_init(DefaultSource::new)
}

/// Where a user should put credential `name` of `store`, for error messages: with the host it
/// is for, when the kind has one.
pub fn hint(store: &StoreId, dest: &Destination, name: &str) -> String {
    let kind = dest.kind();
    let file = shown_path();
    let Some(target) = dest.host() else {
        return format!(
            "set {} (or {}), or `{name}` under [store.{store}] in {file}",
            store_var(store, name),
            kind_var(kind, name),
        );
    };
    let std = match standard_var(kind, name) {
        Some(v) if *target == Host::aws() => format!(", or {v}"),
        Some(v) => format!(", or {v} with {}={target}", kind_var(kind, names::HOSTS)),
        None => String::new(),
    };
    format!(
        "set {} with {}={target} (or {} with {}={target}{std}), or `{name}` and `hosts = [\"{target}\"]` under [store.{store}] in {file}",
        store_var(store, name),
        store_var(store, names::HOSTS),
        kind_var(kind, name),
        kind_var(kind, names::HOSTS),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn host(s: &str) -> Host {
        s.parse().unwrap()
    }

    fn webdav(at: &str) -> Destination {
        Destination::at("webdav", host(at))
    }

    #[test]
    fn secrets_never_format() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn hosts_are_normalised_and_keep_their_scheme() {
        for (entry, want) in [
            (
                "HTTPS://Cloud.Example.org:443/",
                "https://cloud.example.org",
            ),
            ("http://127.0.0.1:80", "http://127.0.0.1"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://h:80", "https://h:80"),
            ("sftp://nas.local:22", "sftp://nas.local"),
            ("sftp://nas.local:2222", "sftp://nas.local:2222"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            (" AWS ", "aws"),
        ] {
            assert_eq!(host(entry).as_str(), want, "{entry}");
        }
        assert_ne!(host("http://h"), host("https://h"));
        for bad in [
            "cloud.example.org",
            "ftp://h",
            "https://",
            "https://u@h",
            "https://h/dav",
            "https://h?x=1",
            "https://h:0",
            "https://h:99999",
            "https://[zz]",
        ] {
            let err = bad.parse::<Host>().unwrap_err().to_string();
            assert!(
                err.contains("is not a host: write https://HOST"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            Host::parse_list(" https://a, http://b:8080\nsftp://c ").unwrap(),
            [host("https://a"), host("http://b:8080"), host("sftp://c")]
        );
    }

    #[test]
    fn a_location_names_its_host_and_the_drives_none() {
        let of = |url: &str| {
            Host::of(&swarm_core::definition::parse_location(url).unwrap()).map(|h| h.to_string())
        };
        assert_eq!(of("s3://bkt/p").as_deref(), Some("aws"));
        assert_eq!(
            of("s3://bkt/p?endpoint=http://127.0.0.1:8333/").as_deref(),
            Some("http://127.0.0.1:8333")
        );
        assert_eq!(
            of("webdav+https://alice@Cloud.Example.org/remote.php/dav/").as_deref(),
            Some("https://cloud.example.org")
        );
        assert_eq!(
            of("webdav+http://127.0.0.2:9/dav/").as_deref(),
            Some("http://127.0.0.2:9")
        );
        assert_eq!(
            of("sftp://u@nas:2222/srv").as_deref(),
            Some("sftp://nas:2222")
        );
        assert_eq!(of("sftp://nas/srv").as_deref(), Some("sftp://nas"));
        assert_eq!(of("gdrive://annex"), None);
        assert_eq!(of("/mnt/a"), None);
    }

    fn private_file(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("credentials.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn file_lookup_order_and_permissions() {
        let t = tempfile::tempdir().unwrap();
        let path = private_file(
            t.path(),
            "[store.s1]\nhosts = [\"https://dav.example\"]\npassword = \"per-store\"\n[service.webdav]\nhosts = [\"https://dav.example\", \"http://127.0.0.1:8080\"]\npassword = \"shared\"\nusername = \"u\"\n",
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let src = DefaultSource::with_file(path.clone());
        let s1: StoreId = "s1".parse().unwrap();
        let s2: StoreId = "s2".parse().unwrap();
        let dav = webdav("https://dav.example");
        let err = src.get(&s1, &dav, "password").unwrap_err().to_string();
        assert!(
            err.contains("readable by others") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let src = DefaultSource::with_file(path.clone());
        let get = |store: &StoreId, dest: &Destination, name: &str| {
            src.get(store, dest, name)
                .unwrap()
                .unwrap()
                .expose()
                .to_owned()
        };
        assert_eq!(get(&s1, &dav, "password"), "per-store");
        assert_eq!(get(&s2, &dav, "password"), "shared");
        assert_eq!(get(&s2, &webdav("http://127.0.0.1:8080"), "username"), "u");
        assert!(src.get(&s2, &dav, "client_id").unwrap().is_none());
        assert_eq!(src.store_hosts(&s1).unwrap(), [host("https://dav.example")]);
    }

    /// Issue 11, item 9: a store the shared definition points at another host does not get
    /// the kind-wide password; a store whose URL changed does not take its own along.
    #[test]
    fn credentials_found_for_another_host_are_refused_naming_the_host() {
        let t = tempfile::tempdir().unwrap();
        let path = private_file(
            t.path(),
            "[store.s1]\nhosts = [\"https://dav.example\"]\npassword = \"hunter2-store\"\n[store.s2]\npassword = \"hunter2-unbound\"\n[service.webdav]\nhosts = [\"https://dav.example\"]\npassword = \"hunter2-kind\"\n[service.gdrive]\nrefresh_token = \"tok\"\n",
        );
        let src = DefaultSource::with_file(path.clone());
        let shown = path.display().to_string();
        let elsewhere = webdav("http://127.0.0.2:8080");
        let s1: StoreId = "s1".parse().unwrap();
        let s2: StoreId = "s2".parse().unwrap();
        let s3: StoreId = "s3".parse().unwrap();
        let err = src
            .get(&s3, &elsewhere, "password")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "the webdav `password` under [service.webdav] in {shown} is not sent to http://127.0.0.2:8080 (it may go only to https://dav.example); if that host should have it, add \"http://127.0.0.2:8080\" to `hosts` under [service.webdav]"
            )
        );
        let err = src
            .get(&s1, &elsewhere, "password")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("the webdav `password` under [store.s1] in {shown} is not sent to http://127.0.0.2:8080 (it may go only to https://dav.example); if that host should have it, add \"http://127.0.0.2:8080\" to `hosts` under [store.s1]")),
            "{err}"
        );
        // Plain http to the same host is another place.
        assert!(
            src.get(&s1, &webdav("http://dav.example"), "password")
                .is_err()
        );
        // A table that names no host sends nothing anywhere, and the per-store value decides:
        // the kind-wide one (for this host) does not stand in for it.
        let err = src
            .get(&s2, &webdav("https://dav.example"), "password")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("under [store.s2]") && err.contains("(its table names no `hosts`)"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        // The drives' hosts are fixed: no hosts needed.
        assert_eq!(
            src.get(&s3, &Destination::fixed_hosts("gdrive"), "refresh_token")
                .unwrap()
                .unwrap()
                .expose(),
            "tok"
        );
    }

    #[test]
    fn a_bad_hosts_entry_is_named() {
        let t = tempfile::tempdir().unwrap();
        let path = private_file(
            t.path(),
            "[service.webdav]\nhosts = [\"dav.example\"]\npassword = \"x\"\n",
        );
        let src = DefaultSource::with_file(path);
        let err = src
            .get(
                &"s1".parse().unwrap(),
                &webdav("https://dav.example"),
                "password",
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("`hosts` under [service.webdav] in ")
                && err.ends_with(": `dav.example` is not a host: write https://HOST[:PORT], http://HOST[:PORT], sftp://HOST[:PORT] or aws"),
            "{err}"
        );
    }

    #[test]
    fn bad_file_error_does_not_quote_secrets() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("c.toml");
        std::fs::write(&path, "[store.s1]\npassword = \"hunter2\" oops\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = CredentialsFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn saved_file_is_private_and_reads_back() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("sub/credentials.toml");
        let mut f = CredentialsFile::default();
        f.service
            .entry("gdrive".into())
            .or_default()
            .values
            .insert("refresh_token".into(), "tok".into());
        let s3 = f.store.entry("s1".into()).or_default();
        s3.hosts.push("aws".into());
        s3.values.insert("access_key_id".into(), "AK".into());
        f.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = CredentialsFile::load(&path).unwrap();
        assert_eq!(back.service["gdrive"].values["refresh_token"], "tok");
        assert_eq!(back.store["s1"].hosts, ["aws"]);
        assert_eq!(back.store["s1"].values["access_key_id"], "AK");
    }

    #[test]
    fn map_source_wins_in_a_chain_and_goes_only_where_allowed() {
        let s1: StoreId = "s1".parse().unwrap();
        let mut m = MapSource::new();
        m.insert(&s1, "password", Secret::new("from-annex"));
        m.allow(&s1, host("https://dav.example"));
        let empty = MapSource::new();
        let chain = Chain(vec![std::sync::Arc::new(empty), std::sync::Arc::new(m)]);
        assert_eq!(
            chain
                .get(&s1, &webdav("https://dav.example"), "password")
                .unwrap()
                .unwrap()
                .expose(),
            "from-annex"
        );
        let err = chain
            .get(&s1, &webdav("https://evil.example"), "password")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the webdav `password` given for this store is not sent to https://evil.example (it may go only to https://dav.example)"),
            "{err}"
        );
        assert_eq!(
            chain.store_hosts(&s1).unwrap(),
            [host("https://dav.example")]
        );
        assert_eq!(
            store_var(&"s1-ab".parse().unwrap(), "password"),
            "ANNEX_SWARM_S1_AB_PASSWORD"
        );
    }

    #[test]
    fn hints_name_the_host_to_allow() {
        let s1: StoreId = "s1-ab".parse().unwrap();
        let h = hint(&s1, &webdav("http://127.0.0.2:9"), "password");
        assert!(
            h.starts_with("set ANNEX_SWARM_S1_AB_PASSWORD with ANNEX_SWARM_S1_AB_HOSTS=http://127.0.0.2:9 (or ANNEX_SWARM_WEBDAV_PASSWORD with ANNEX_SWARM_WEBDAV_HOSTS=http://127.0.0.2:9), or `password` and `hosts = [\"http://127.0.0.2:9\"]` under [store.s1-ab] in "),
            "{h}"
        );
        let h = hint(&s1, &Destination::at("s3", Host::aws()), "access_key_id");
        assert!(
            h.contains("ANNEX_SWARM_S3_HOSTS=aws, or AWS_ACCESS_KEY_ID)"),
            "{h}"
        );
        let h = hint(&s1, &Destination::fixed_hosts("gdrive"), "client_id");
        assert!(!h.contains("HOSTS"), "{h}");
    }
}
