//! Node ids: a member's ed25519 public key, the one identity of a node for transport (iroh's
//! endpoint id), DHT records and signing (`docs/spec/definition-v2.md`, *Node ids and keys*).
//!
//! Canonical text: 64 lowercase hex digits (as iroh displays its `PublicKey`). A member's `key`
//! field may also be an OpenSSH public key line, `ssh-ed25519 AAAA... comment`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ssh_key::PublicKey;
use ssh_key::public::{Ed25519PublicKey, KeyData};

/// An ed25519 public key that is a valid curve point (iroh refuses the others too).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; 32]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdError {
    #[error("bad node id `{0}`: expected 64 lowercase hex digits")]
    Hex(String),
    #[error(
        "bad key `{0}`: expected a node id (64 lowercase hex digits) or an `ssh-ed25519 AAAA...` line"
    )]
    KeyText(String),
    #[error("bad OpenSSH public key `{text}`: {reason}")]
    OpenSsh { text: String, reason: String },
    #[error("{0} keys cannot be members: node ids are ed25519 keys (ssh-ed25519)")]
    NotEd25519(String),
    #[error("node id `{0}` is not an ed25519 public key (not a point on the curve)")]
    NotAPoint(String),
}

impl NodeId {
    /// The key's 32 bytes, checked to be an ed25519 point.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, NodeIdError> {
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| NodeIdError::NotAPoint(hex::encode(bytes)))?;
        Ok(NodeId(bytes))
    }

    /// The public half of a secret key: always a curve point.
    pub(crate) fn derived(bytes: [u8; 32]) -> Self {
        NodeId(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 10 hex digits, for messages (iroh's `fmt_short`).
    pub fn short(&self) -> String {
        hex::encode(&self.0[..5])
    }

    /// A member's `key` field: a node id, or an OpenSSH `ssh-ed25519` public key line.
    pub fn from_key_text(text: &str) -> Result<Self, NodeIdError> {
        let text = text.trim();
        if text.starts_with("ssh-") || text.starts_with("ecdsa-") || text.starts_with("sk-") {
            let algorithm = text.split_whitespace().next().unwrap_or_default();
            if algorithm != "ssh-ed25519" {
                return Err(NodeIdError::NotEd25519(crate::redact::one_line(algorithm)));
            }
            let key = PublicKey::from_openssh(text).map_err(|e| NodeIdError::OpenSsh {
                text: shorten(text),
                reason: e.to_string(),
            })?;
            return Self::from_public_key(&key);
        }
        if text.contains(' ') {
            return Err(NodeIdError::KeyText(shorten(text)));
        }
        text.parse().map_err(|e| match e {
            NodeIdError::Hex(t) => NodeIdError::KeyText(t),
            other => other,
        })
    }

    /// The id of an OpenSSH public key; refused unless it is ed25519.
    pub fn from_public_key(key: &PublicKey) -> Result<Self, NodeIdError> {
        Self::from_key_data(key.key_data())
    }

    pub fn from_key_data(key: &KeyData) -> Result<Self, NodeIdError> {
        match key {
            KeyData::Ed25519(k) => Self::from_bytes(k.0),
            other => Err(NodeIdError::NotEd25519(other.algorithm().to_string())),
        }
    }

    /// The OpenSSH public key (no comment), as `ssh-keygen` and allowed_signers files use.
    pub fn to_public_key(&self) -> PublicKey {
        PublicKey::new(KeyData::Ed25519(Ed25519PublicKey(self.0)), "")
    }

    /// `ssh-ed25519 AAAA...` (no comment).
    pub fn to_openssh(&self) -> String {
        // Encoding 32 bytes of a known type cannot fail; an empty string would only make the
        // reader's parse fail loudly.
        self.to_public_key().to_openssh().unwrap_or_default()
    }
}

fn shorten(text: &str) -> String {
    let mut s: String = text.chars().take(80).collect();
    if s.len() < text.len() {
        s.push_str("...");
    }
    crate::redact::one_line(&s)
}

impl FromStr for NodeId {
    type Err = NodeIdError;
    /// Canonical text only: 64 lowercase hex digits.
    fn from_str(s: &str) -> Result<Self, NodeIdError> {
        let mut out = [0u8; 32];
        let lower = s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(NodeIdError::Hex(shorten(s)));
        }
        Self::from_bytes(out)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.short())
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ADMIN_HEX: &str = "ecac916f1117be9b88d9491752f050e60c33d4337a3c208f552dabb13ddbe232";
    const ADMIN_SSH: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOyskW8RF76biNlJF1LwUOYMM9Qzejwgj1Utq7E92+Iy admin@test";

    #[test]
    fn hex_and_openssh_name_the_same_id() {
        let a: NodeId = ADMIN_HEX.parse().unwrap();
        assert_eq!(NodeId::from_key_text(ADMIN_SSH).unwrap(), a);
        assert_eq!(NodeId::from_key_text(ADMIN_HEX).unwrap(), a);
        assert_eq!(a.to_string(), ADMIN_HEX);
        assert_eq!(a.short(), "ecac916f11");
        assert!(ADMIN_SSH.starts_with(&a.to_openssh()));
        assert_eq!(NodeId::from_key_text(&a.to_openssh()).unwrap(), a);
    }

    #[test]
    fn bad_ids_are_refused_each_with_its_reason() {
        let upper = ADMIN_HEX.to_uppercase();
        let cases: [(&str, &str); 7] = [
            (&upper, "expected a node id"),
            (&ADMIN_HEX[..62], "expected a node id"),
            (
                "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDx",
                "ssh-rsa keys cannot be members",
            ),
            (
                "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFZtQsU51wAfxDUuTH1ViG+z498ZGl2nIshkGTb9nOaXDVgt8b1wJstRn/cjcKI3Q+cfJZTjE8BgkHhVvEOIFXM=",
                "ecdsa-sha2-nistp256 keys cannot be members",
            ),
            ("ssh-ed25519 AAAA", "bad OpenSSH public key"),
            ("alice bob", "expected a node id"),
            // y = 2 has no x on the curve.
            (
                "0200000000000000000000000000000000000000000000000000000000000000",
                "not a point on the curve",
            ),
        ];
        for (text, want) in cases {
            let err = NodeId::from_key_text(text).unwrap_err().to_string();
            assert!(err.contains(want), "`{text}`: want `{want}` in `{err}`");
        }
        // The canonical form alone where only it belongs (peer:// URLs).
        assert!(ADMIN_SSH.parse::<NodeId>().is_err());
        assert!(upper.parse::<NodeId>().is_err());
    }
}
