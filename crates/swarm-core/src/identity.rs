//! A node's (or an admin's) identity: an OpenSSH ed25519 private key file
//! (`docs/spec/signed-definition-v1.md`, *Keys*). The one module of this crate that touches the
//! filesystem: it reads a key file, refusing one that others can read or write, and creates
//! new ones with mode 0600, never overwriting. It never prints and never logs key material.

use std::io::Write;
use std::path::{Path, PathBuf};

use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::{LineEnding, PrivateKey};

use crate::node_id::NodeId;

/// Comment written into keys made by [`Identity::generate`].
pub const NEW_KEY_COMMENT: &str = "annex-swarm node";

/// An unencrypted ed25519 private key. `Debug` shows the node id only.
#[derive(Clone)]
pub struct Identity {
    key: PrivateKey,
    id: NodeId,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} is accessible by others (mode {mode:04o}): run `chmod 600 {path}`",
        path = .path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{0} is not an OpenSSH private key: {1}")]
    NotAKey(String, String),
    #[error(
        "{0} is not an ed25519 key ({1}): node and signing keys are ed25519 (ssh-keygen -t ed25519)"
    )]
    NotEd25519(String, String),
    #[error(
        "{0} is protected by a passphrase, which annex-swarm cannot ask for: use a key without one (ssh-keygen -t ed25519 -N '')"
    )]
    Encrypted(String),
    #[error("{0}: the key's public half does not match its secret")]
    Mismatch(String),
    #[error("{path} already exists: refusing to overwrite a key", path = .0.display())]
    Exists(PathBuf),
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system's random source failed: {0}")]
    Random(String),
}

impl Identity {
    /// A new random key.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| IdentityError::Random(e.to_string()))?;
        let id = Self::from_seed(&seed);
        seed.fill(0);
        Ok(id)
    }

    /// The key whose 32-byte secret is `seed` (what iroh's `SecretKey::from_bytes` takes).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let pair = Ed25519Keypair::from_seed(seed);
        let id = NodeId::derived(pair.public.0);
        let mut key = PrivateKey::from(pair);
        key.set_comment(NEW_KEY_COMMENT);
        Identity { key, id }
    }

    /// Parses an OpenSSH private key; `what` names it in errors (a path).
    pub fn from_openssh(text: &[u8], what: &str) -> Result<Self, IdentityError> {
        let key = PrivateKey::from_openssh(text).map_err(|e| match e {
            // This build decodes ed25519 (and RSA) keys only: others are of an unknown kind.
            ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
                IdentityError::NotEd25519(what.to_owned(), "a kind this build does not read".into())
            }
            e => IdentityError::NotAKey(what.to_owned(), e.to_string()),
        })?;
        if key.is_encrypted() {
            return Err(IdentityError::Encrypted(what.to_owned()));
        }
        let KeypairData::Ed25519(pair) = key.key_data() else {
            return Err(IdentityError::NotEd25519(
                what.to_owned(),
                key.algorithm().to_string(),
            ));
        };
        // The file carries both halves: a public half that is not the secret's would make
        // us sign as one key and claim another.
        if Ed25519Keypair::from_seed(&pair.private.to_bytes()).public != pair.public {
            return Err(IdentityError::Mismatch(what.to_owned()));
        }
        let id = NodeId::derived(pair.public.0);
        Ok(Identity { key, id })
    }

    /// Reads a key file, refusing one that group or others may access (as ssh does).
    pub fn load(path: &Path) -> Result<Self, IdentityError> {
        let read = |source| IdentityError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        let mode = mode_of(&meta);
        if mode & 0o077 != 0 {
            return Err(IdentityError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
        let text = std::fs::read(path).map_err(read)?;
        Self::from_openssh(&text, &path.display().to_string())
    }

    /// Writes a new random key to `path` with mode 0600, creating missing directories with
    /// 0700. Never replaces a file: an existing one is [`IdentityError::Exists`].
    pub fn create(path: &Path) -> Result<Self, IdentityError> {
        let identity = Self::generate()?;
        identity.write_new(path)?;
        Ok(identity)
    }

    /// Writes this key to a new file `path` (mode 0600, created exclusively).
    pub fn write_new(&self, path: &Path) -> Result<(), IdentityError> {
        let write = |source| IdentityError::Write {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(write)?;
        }
        let text = self
            .key
            .to_openssh(LineEnding::LF)
            .map_err(|e| write(std::io::Error::other(e.to_string())))?;
        let mut file = open_new_private(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                IdentityError::Exists(path.to_owned())
            } else {
                write(e)
            }
        })?;
        file.write_all(text.as_bytes()).map_err(write)?;
        file.sync_all().map_err(write)
    }

    pub fn node_id(&self) -> NodeId {
        self.id
    }

    /// `ssh-ed25519 AAAA... comment`, for `.pub` files and allowed_signers.
    pub fn public_openssh(&self) -> String {
        self.key.public_key().to_openssh().unwrap_or_default()
    }

    /// The 32-byte public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        *self.id.as_bytes()
    }

    /// The 32-byte secret (the ed25519 seed): iroh's `SecretKey::from_bytes` and mainline's
    /// `SigningKey::from_bytes` take it. The caller must not log or store it.
    pub fn secret_bytes(&self) -> [u8; 32] {
        match self.key.key_data() {
            KeypairData::Ed25519(pair) => pair.private.to_bytes(),
            // `from_openssh` and `from_seed` admit ed25519 keys only.
            _ => [0; 32],
        }
    }

    pub(crate) fn private_key(&self) -> &PrivateKey {
        &self.key
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.id.short())
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0o600
}

#[cfg(unix)]
fn open_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
