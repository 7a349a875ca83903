//! Who a node is: its ed25519 key. The secret comes as 32 bytes (an OpenSSH key file is read
//! elsewhere); the public half is the node id, written as 64 lower-case hex digits, which is
//! also what iroh's `PublicKey` prints.

use std::fmt;
use std::str::FromStr;

use iroh::{PublicKey, SecretKey};

/// A node's (or a client's) ed25519 secret key. Never printed.
#[derive(Clone)]
pub struct NodeSecret(SecretKey);

impl NodeSecret {
    /// From the 32 bytes of an ed25519 secret key (the seed, as an OpenSSH key holds it).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        NodeSecret(SecretKey::from_bytes(&bytes))
    }

    /// A new random key (tests, and `node init` until keys are OpenSSH files).
    pub fn generate() -> Self {
        NodeSecret(SecretKey::generate())
    }

    pub fn id(&self) -> NodeId {
        NodeId(self.0.public())
    }

    pub(crate) fn to_iroh(&self) -> SecretKey {
        self.0.clone()
    }

    /// The same key signing the manifests this member writes (version 3).
    pub fn manifest_writer(&self) -> swarm_core::manifest::Writer {
        swarm_core::manifest::Writer::from_secret(&self.0.to_bytes())
    }
}

impl fmt::Debug for NodeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeSecret({})", self.id())
    }
}

/// A node id: an ed25519 public key, checked to be a valid curve point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(PublicKey);

/// A text that is not a node id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    #[error("a node id is 64 lower-case hex digits, not {0} characters")]
    Length(usize),
    #[error("a node id is 64 lower-case hex digits: `{0}` is not one")]
    NotHex(char),
    #[error("not an ed25519 public key")]
    NotAKey,
}

impl NodeId {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, NodeIdError> {
        PublicKey::from_bytes(bytes)
            .map(NodeId)
            .map_err(|_| NodeIdError::NotAKey)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The first 10 hex digits, for logs.
    pub fn short(&self) -> String {
        self.to_string()[..10].to_owned()
    }

    pub fn public_key(&self) -> PublicKey {
        self.0
    }
}

impl From<PublicKey> for NodeId {
    fn from(key: PublicKey) -> Self {
        NodeId(key)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.short())
    }
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    /// Exactly 64 lower-case hex digits (iroh also reads base32; ids here have one spelling).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(NodeIdError::Length(s.chars().count()));
        }
        if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(NodeIdError::NotHex(c));
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
            let digit = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
            bytes[i] = digit(pair[0]) << 4 | digit(pair[1]);
        }
        NodeId::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_id_is_the_hex_iroh_prints() {
        let secret = NodeSecret::from_bytes([42; 32]);
        let id = secret.id();
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text, secret.to_iroh().public().to_string());
        assert_eq!(text.parse::<NodeId>().unwrap(), id);
        assert_eq!(NodeSecret::from_bytes([42; 32]).id(), id, "deterministic");
        assert!(!format!("{secret:?}").contains("42"), "no secret in Debug");
    }

    #[test]
    fn other_spellings_are_refused() {
        let text = NodeSecret::from_bytes([1; 32]).id().to_string();
        assert!(matches!(
            format!("A{}", &text[1..]).parse::<NodeId>(),
            Err(NodeIdError::NotHex('A'))
        ));
        assert_eq!(text[1..].parse::<NodeId>(), Err(NodeIdError::Length(63)));
        assert!("g".repeat(64).parse::<NodeId>().is_err());
    }
}
