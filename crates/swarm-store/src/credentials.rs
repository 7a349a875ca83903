//! Where store credentials come from. They never enter the swarm definition, git or the
//! git-annex branch: a [`CredentialSource`] answers "what is store X's `secret_access_key`?" from
//! the environment, the local credentials file, or (in the special remote) what git-annex's
//! GETCREDS returned. Secrets are wrapped in [`Secret`], whose `Debug` and `Display` print `***`.
//!
//! Lookup order for store `s1-abc` and name `secret_access_key` ([`default_source`]):
//! 1. `ANNEX_SWARM_S1_ABC_SECRET_ACCESS_KEY` (store id upper-cased, `-` as `_`)
//! 2. `[store.s1-abc] secret_access_key` in the credentials file
//! 3. `ANNEX_SWARM_<KIND>_SECRET_ACCESS_KEY` (`S3`, `WEBDAV`, `SFTP`, `GDRIVE`, ...)
//! 4. `[service.<kind>] secret_access_key` in the credentials file
//! 5. the service's own variable where there is one (`AWS_ACCESS_KEY_ID`,
//!    `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`)
//!
//! The credentials file is `$ANNEX_SWARM_CREDENTIALS`, else
//! `$XDG_CONFIG_HOME/annex-swarm/credentials.toml`, else `~/.config/annex-swarm/credentials.toml`.
//! It is refused while group or others may read it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
}

/// Answers credential questions for one store. `kind` is the store kind (`s3`, `webdav`, ...),
/// for service-wide settings such as an OAuth client id.
pub trait CredentialSource: Send + Sync {
    fn get(
        &self,
        store: &StoreId,
        kind: &str,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError>;
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

/// The credentials file's contents.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    #[serde(default)]
    pub store: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub service: BTreeMap<String, BTreeMap<String, String>>,
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
                    "not valid TOML near line {} (expected [store.ID] or [service.KIND] tables of strings)",
                    text[..span.start.min(text.len())].lines().count().max(1)
                ),
                None => "not valid TOML".into(),
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

    fn lookup(&self, store: &StoreId, kind: &str, name: &str, service: bool) -> Option<Secret> {
        let table = if service {
            self.service.get(kind)
        } else {
            self.store.get(store.as_str())
        };
        table
            .and_then(|t| t.get(name))
            .filter(|v| !v.is_empty())
            .map(|v| Secret(v.clone()))
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
}

impl CredentialSource for DefaultSource {
    fn get(
        &self,
        store: &StoreId,
        kind: &str,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError> {
        if let Some(v) = env(&store_var(store, name)) {
            return Ok(Some(v));
        }
        let file = self.file()?;
        if let Some(v) = file.and_then(|f| f.lookup(store, kind, name, false)) {
            return Ok(Some(v));
        }
        if let Some(v) = env(&kind_var(kind, name)) {
            return Ok(Some(v));
        }
        if let Some(v) = file.and_then(|f| f.lookup(store, kind, name, true)) {
            return Ok(Some(v));
        }
        Ok(standard_var(kind, name).and_then(env))
    }
}

/// Credentials handed over in memory: `(store id, name) -> value`. The special remote fills one
/// from git-annex's GETCREDS and puts it in front of the default source with [`Chain`].
#[derive(Debug, Default, Clone)]
pub struct MapSource {
    values: BTreeMap<(String, String), Secret>,
}

impl MapSource {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, store: &StoreId, name: &str, value: Secret) {
        self.values
            .insert((store.as_str().to_owned(), name.to_owned()), value);
    }
}

impl CredentialSource for MapSource {
    fn get(
        &self,
        store: &StoreId,
        _kind: &str,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError> {
        Ok(self
            .values
            .get(&(store.as_str().to_owned(), name.to_owned()))
            .cloned())
    }
}

/// The first source that knows wins. It owns its sources, so a long-lived swarm can keep
/// asking it (a reload opens new stores).
pub struct Chain(pub Vec<std::sync::Arc<dyn CredentialSource>>);

impl CredentialSource for Chain {
    fn get(
        &self,
        store: &StoreId,
        kind: &str,
        name: &str,
    ) -> Result<Option<Secret>, CredentialError> {
        for s in &self.0 {
            if let Some(v) = s.get(store, kind, name)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }
}

/// The process-wide default: environment, then the credentials file.
pub fn default_source() -> &'static DefaultSource {
    static SOURCE: OnceLock<DefaultSource> = OnceLock::new();
    SOURCE.get_or_init(DefaultSource::new)
}

/// Where a user should put credential `name` of `store`, for error messages.
pub fn hint(store: &StoreId, kind: &str, name: &str) -> String {
    let std = standard_var(kind, name)
        .map(|v| format!(", or {v}"))
        .unwrap_or_default();
    format!(
        "set {} (or {}{std}), or `{name}` under [store.{}] in {}",
        store_var(store, name),
        kind_var(kind, name),
        store.as_str(),
        credentials_path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/annex-swarm/credentials.toml".into())
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_never_format() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_lookup_order_and_permissions() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("credentials.toml");
        std::fs::write(
            &path,
            "[store.s1]\npassword = \"per-store\"\n[service.webdav]\npassword = \"shared\"\nusername = \"u\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let src = DefaultSource::with_file(path.clone());
        let s1: StoreId = "s1".parse().unwrap();
        let s2: StoreId = "s2".parse().unwrap();
        let err = src.get(&s1, "webdav", "password").unwrap_err().to_string();
        assert!(
            err.contains("readable by others") && err.contains("chmod 600"),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let src = DefaultSource::with_file(path.clone());
        assert_eq!(
            src.get(&s1, "webdav", "password")
                .unwrap()
                .unwrap()
                .expose(),
            "per-store"
        );
        assert_eq!(
            src.get(&s2, "webdav", "password")
                .unwrap()
                .unwrap()
                .expose(),
            "shared"
        );
        assert_eq!(
            src.get(&s2, "webdav", "username")
                .unwrap()
                .unwrap()
                .expose(),
            "u"
        );
        assert!(src.get(&s2, "s3", "client_id").unwrap().is_none());
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
            .insert("refresh_token".into(), "tok".into());
        f.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = CredentialsFile::load(&path).unwrap();
        assert_eq!(back.service["gdrive"]["refresh_token"], "tok");
    }

    #[test]
    fn map_source_wins_in_a_chain() {
        let s1: StoreId = "s1".parse().unwrap();
        let mut m = MapSource::new();
        m.insert(&s1, "password", Secret::new("from-annex"));
        let empty = MapSource::new();
        let chain = Chain(vec![std::sync::Arc::new(empty), std::sync::Arc::new(m)]);
        assert_eq!(
            chain
                .get(&s1, "webdav", "password")
                .unwrap()
                .unwrap()
                .expose(),
            "from-annex"
        );
        assert_eq!(
            store_var(&"s1-ab".parse().unwrap(), "password"),
            "ANNEX_SWARM_S1_AB_PASSWORD"
        );
    }
}
