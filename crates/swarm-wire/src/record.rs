//! The record a node publishes in the BitTorrent mainline DHT (BEP 44 mutable item, signed by
//! the node's key, salted with its swarm): where to reach it and which definition it holds
//! (`docs/spec/dht-record-v1.md`). Only the value's bytes are here; signing and the DHT are the
//! node's.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The first byte of every record value: its format.
pub const RECORD_FORMAT: u8 = 1;
/// Most addresses one record lists.
pub const MAX_RECORD_ADDRS: usize = 16;
/// BEP 44's limit on a value's length.
pub const MAX_RECORD_LEN: usize = 1000;
/// What every record's salt starts with; the swarm id's 16 bytes follow.
pub const SALT_PREFIX: &[u8] = b"annex-swarm-node/1:";

/// A node's DHT record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Where the node listens (IP addresses and UDP ports of its QUIC endpoint).
    pub addrs: Vec<SocketAddr>,
    /// The version of the definition it holds, and the BLAKE3 of its bytes.
    pub definition_version: u64,
    pub definition_hash: [u8; 32],
}

/// A record value that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("an empty DHT record")]
    Empty,
    #[error("DHT record format {0}; this version reads format {RECORD_FORMAT}")]
    Format(u8),
    #[error("DHT record of {0} bytes; at most {MAX_RECORD_LEN}")]
    TooLong(usize),
    #[error("DHT record with {0} addresses; at most {MAX_RECORD_ADDRS}")]
    TooManyAddrs(usize),
    #[error("malformed DHT record: {0}")]
    Malformed(String),
}

/// The salt of a swarm's records: nodes of different swarms sharing a key publish apart.
pub fn record_salt(swarm: [u8; 16]) -> Vec<u8> {
    let mut salt = SALT_PREFIX.to_vec();
    salt.extend_from_slice(&swarm);
    salt
}

impl NodeRecord {
    /// The value's bytes: the format byte, then the record in postcard.
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        if self.addrs.len() > MAX_RECORD_ADDRS {
            return Err(RecordError::TooManyAddrs(self.addrs.len()));
        }
        let mut out = vec![RECORD_FORMAT];
        let body =
            postcard::to_allocvec(self).map_err(|e| RecordError::Malformed(e.to_string()))?;
        out.extend_from_slice(&body);
        if out.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLong(out.len()));
        }
        Ok(out)
    }

    /// Reads a value; anything but exactly one record of this format is refused.
    pub fn decode(value: &[u8]) -> Result<Self, RecordError> {
        if value.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLong(value.len()));
        }
        let (&format, body) = value.split_first().ok_or(RecordError::Empty)?;
        if format != RECORD_FORMAT {
            return Err(RecordError::Format(format));
        }
        let (record, rest) = postcard::take_from_bytes::<NodeRecord>(body)
            .map_err(|e| RecordError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(RecordError::Malformed(format!(
                "{} stray bytes after the record",
                rest.len()
            )));
        }
        if record.addrs.len() > MAX_RECORD_ADDRS {
            return Err(RecordError::TooManyAddrs(record.addrs.len()));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(addrs: usize) -> NodeRecord {
        NodeRecord {
            addrs: (0..addrs)
                .map(|i| SocketAddr::from(([127, 0, 0, 1], 4000 + i as u16)))
                .collect(),
            definition_version: 7,
            definition_hash: [9; 32],
        }
    }

    #[test]
    fn a_record_round_trips() {
        let r = record(3);
        assert_eq!(NodeRecord::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        assert_eq!(NodeRecord::decode(&[]), Err(RecordError::Empty));
        let mut v = record(1).encode().unwrap();
        v[0] = 2;
        assert_eq!(NodeRecord::decode(&v), Err(RecordError::Format(2)));
        let mut v = record(1).encode().unwrap();
        v.push(0);
        assert!(matches!(
            NodeRecord::decode(&v),
            Err(RecordError::Malformed(m)) if m.contains("stray")
        ));
        let v = record(1).encode().unwrap();
        assert!(matches!(
            NodeRecord::decode(&v[..v.len() - 1]),
            Err(RecordError::Malformed(_))
        ));
        assert_eq!(
            record(MAX_RECORD_ADDRS + 1).encode(),
            Err(RecordError::TooManyAddrs(MAX_RECORD_ADDRS + 1))
        );
        // Addresses past the limit written by another encoder are refused on reading too.
        let mut v = vec![RECORD_FORMAT];
        v.extend(postcard::to_allocvec(&record(MAX_RECORD_ADDRS + 1)).unwrap());
        assert_eq!(
            NodeRecord::decode(&v),
            Err(RecordError::TooManyAddrs(MAX_RECORD_ADDRS + 1))
        );
        assert_eq!(
            NodeRecord::decode(&[1; 1001]),
            Err(RecordError::TooLong(1001))
        );
    }

    #[test]
    fn sixteen_v6_addresses_fit_in_a_value() {
        let r = NodeRecord {
            addrs: (0..MAX_RECORD_ADDRS)
                .map(|i| SocketAddr::from(([0xfd00, 0, 0, 0, 0, 0, 0, i as u16], u16::MAX)))
                .collect(),
            ..record(0)
        };
        assert!(r.encode().unwrap().len() <= MAX_RECORD_LEN);
    }
}
