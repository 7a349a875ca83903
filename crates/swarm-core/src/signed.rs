//! Signed swarm definitions (`docs/spec/signed-definition-v1.md`): an SSHSIG (ed25519, namespace
//! [`NAMESPACE`]) over the exact bytes of the definition file, kept beside it as
//! `<definition>.sig`; the definition's hash (BLAKE3 of those bytes); and the rule by which a
//! node adopts a newer version ([`adopt`]).
//!
//! The bytes are never re-serialised: what was signed is what is passed on, so `ssh-keygen -Y
//! sign` and `-Y verify` work on the same files.

use std::path::{Path, PathBuf};

use ssh_key::{HashAlg, LineEnding, SshSig};

use crate::definition::{Role, SwarmDefinition};
use crate::identity::Identity;
use crate::ids::{Hash32, SwarmId};
use crate::node_id::NodeId;
use crate::redact;

/// The SSHSIG namespace of definition signatures (`ssh-keygen -Y sign -n ...`).
pub const NAMESPACE: &str = "annex-swarm-definition";

/// Where a definition's detached signature lives: `swarm.toml` -> `swarm.toml.sig`.
pub fn sig_path(definition: &Path) -> PathBuf {
    let mut p = definition.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

#[derive(Debug, thiserror::Error)]
#[error("cannot sign: {0}")]
pub struct SignError(String);

/// Signs `bytes` (a definition file's exact bytes) with `key`: the armored SSHSIG text, the
/// same bytes `ssh-keygen -Y sign -n annex-swarm-definition` writes.
pub fn sign(bytes: &[u8], key: &Identity) -> Result<String, SignError> {
    let sig = key
        .private_key()
        .sign(NAMESPACE, HashAlg::Sha512, bytes)
        .map_err(|e| SignError(e.to_string()))?;
    sig.to_pem(LineEnding::LF)
        .map_err(|e| SignError(e.to_string()))
}

/// A definition file's bytes and its signature, if any: what nodes store and pass on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDefinition {
    pub bytes: Vec<u8>,
    pub signature: Option<SshSig>,
}

/// Who signed a definition, as the definition whose admins were asked knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    pub name: String,
    pub id: NodeId,
    pub role: Role,
}

/// A definition whose signature checked out, and what to log about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub definition: SwarmDefinition,
    pub signer: Signer,
    /// BLAKE3 of the exact bytes.
    pub hash: Hash32,
}

/// What [`adopt`] hands back: the new definition to hold.
pub type Adoption = Verified;

/// Why a definition is not accepted. Each reason is its own variant; `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("unparseable definition: {0}")]
    UnparseableDefinition(String),
    #[error("unparseable signature: {0}")]
    UnparseableSignature(String),
    #[error("different swarm: candidate is swarm {candidate}, this node holds swarm {held}")]
    DifferentSwarm { held: SwarmId, candidate: SwarmId },
    #[error("version {candidate} is not newer than the version held, {held}")]
    NotNewer { held: u64, candidate: u64 },
    #[error("unsigned: no signature")]
    Unsigned,
    #[error("wrong namespace: signed for \"{0}\", not \"{NAMESPACE}\"")]
    WrongNamespace(String),
    #[error("version {version} names no admin, so no signature can be accepted against it")]
    NoAdmins { version: u64 },
    #[error("signer {signer} is not a member of version {version}")]
    NotAMember { signer: String, version: u64 },
    #[error("signer {signer} is a {role} member of version {version}, not an admin")]
    NotAdmin {
        signer: String,
        role: Role,
        version: u64,
    },
    #[error("forged: the signature does not verify (bytes changed since signing?)")]
    Forged,
}

impl SignedDefinition {
    /// The bytes, and the `.sig` file's content if there is one.
    pub fn new(bytes: Vec<u8>, signature: Option<&[u8]>) -> Result<Self, Refusal> {
        let signature = signature
            .map(|s| {
                SshSig::from_pem(s)
                    .map_err(|e| Refusal::UnparseableSignature(redact::one_line(&e.to_string())))
            })
            .transpose()?;
        Ok(SignedDefinition { bytes, signature })
    }

    /// BLAKE3 of the exact bytes: what nodes compare with each other.
    pub fn hash(&self) -> Hash32 {
        Hash32::of(&self.bytes)
    }

    /// The definition the bytes hold.
    pub fn definition(&self) -> Result<SwarmDefinition, Refusal> {
        let text = std::str::from_utf8(&self.bytes)
            .map_err(|_| Refusal::UnparseableDefinition("not UTF-8".into()))?;
        SwarmDefinition::parse(text).map_err(|e| Refusal::UnparseableDefinition(e.to_string()))
    }

    /// Is this what the definition's own admins signed? (`annex-swarm definition verify`; a
    /// node asks [`adopt`] instead, against the admins of the version it holds.)
    pub fn verify(&self) -> Result<Verified, Refusal> {
        let definition = self.definition()?;
        let signer = self.signed_by_admin_of(&definition)?;
        Ok(Verified {
            definition,
            signer,
            hash: self.hash(),
        })
    }

    /// The signature is good, in our namespace, by an admin of `admins_of`.
    pub fn signed_by_admin_of(&self, admins_of: &SwarmDefinition) -> Result<Signer, Refusal> {
        let sig = self.signature.as_ref().ok_or(Refusal::Unsigned)?;
        if sig.namespace() != NAMESPACE {
            return Err(Refusal::WrongNamespace(redact::one_line(sig.namespace())));
        }
        let version = admins_of.version;
        if admins_of.admins().next().is_none() {
            return Err(Refusal::NoAdmins { version });
        }
        let id = NodeId::from_key_data(sig.public_key()).map_err(|_| Refusal::NotAMember {
            signer: format!(
                "{} key {}",
                sig.public_key().algorithm(),
                sig.public_key().fingerprint(HashAlg::Sha256)
            ),
            version,
        })?;
        let member = admins_of.member(&id).ok_or_else(|| Refusal::NotAMember {
            signer: id.to_string(),
            version,
        })?;
        if member.role != Role::Admin {
            return Err(Refusal::NotAdmin {
                signer: format!("{} ({})", member.name, id.short()),
                role: member.role,
                version,
            });
        }
        id.to_public_key()
            .verify(NAMESPACE, &self.bytes, sig)
            .map_err(|_| Refusal::Forged)?;
        Ok(Signer {
            name: member.name.to_owned(),
            id,
            role: member.role,
        })
    }
}

/// The adoption rule: a node holding `held` takes `candidate` only if it is the same swarm, a
/// strictly higher version, and signed (in our namespace) by an admin **of `held`**.
pub fn adopt(held: &SwarmDefinition, candidate: &SignedDefinition) -> Result<Adoption, Refusal> {
    let definition = candidate.definition()?;
    if definition.swarm != held.swarm {
        return Err(Refusal::DifferentSwarm {
            held: held.swarm,
            candidate: definition.swarm,
        });
    }
    if definition.version <= held.version {
        return Err(Refusal::NotNewer {
            held: held.version,
            candidate: definition.version,
        });
    }
    let signer = candidate.signed_by_admin_of(held)?;
    Ok(Verified {
        definition,
        signer,
        hash: candidate.hash(),
    })
}

#[cfg(test)]
mod tests;
