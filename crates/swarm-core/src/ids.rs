//! Identifiers that are validated once: chunk and shard hashes, store and swarm ids.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A BLAKE3 digest naming a chunk (of its bytes) or a shard (of its bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    pub fn of(data: &[u8]) -> Self {
        Hash32(*blake3::hash(data).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("bad hash `{0}`: expected 64 hex digits")]
    Hash(String),
    #[error("bad store id `{0}`: use 1 to 32 of a-z, 0-9 and -")]
    Store(String),
    #[error("bad swarm id `{0}`: expected 32 hex digits")]
    Swarm(String),
}

impl FromStr for Hash32 {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| IdError::Hash(s.to_owned()))?;
        Ok(Hash32(out))
    }
}

/// The stable name of a store inside a swarm. Placement hashes over it, so it must not change
/// when the store's URL does (a disk mounted elsewhere keeps its id).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct StoreId(String);

impl StoreId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id a new swarm gives the store at `position` (from 0) of its list: `s<position + 1>-`
    /// and six hex digits of the URL's BLAKE3. Derived once, then written into the definition;
    /// existing definitions keep the ids they were made with.
    pub fn for_new_store(url: &str, position: usize) -> Self {
        let hash = blake3::hash(url.as_bytes()).to_hex();
        // At most 1 + 20 + 1 + 6 characters, all of [a-z0-9-]: always a valid id.
        StoreId(format!("s{}-{}", position as u128 + 1, &hash[..6]))
    }
}

impl FromStr for StoreId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(StoreId(s.to_owned()))
        } else {
            Err(IdError::Store(s.to_owned()))
        }
    }
}

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A swarm's random 128-bit identity, written in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SwarmId(pub [u8; 16]);

impl SwarmId {
    pub fn random() -> Self {
        let mut b = [0u8; 16];
        // The OS random source failing is not something a caller can recover from; an all-zero
        // id would still be valid, just not unique, so fall back to the clock.
        if getrandom::fill(&mut b).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            b = t.to_le_bytes();
        }
        SwarmId(b)
    }
}

impl FromStr for SwarmId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(s, &mut out).map_err(|_| IdError::Swarm(s.to_owned()))?;
        Ok(SwarmId(out))
    }
}

impl fmt::Display for SwarmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_via_str!(StoreId);
serde_via_str!(SwarmId);
serde_via_str!(Hash32);
