//! Reed-Solomon coding of one chunk into k data + m parity shards (Leopard GF(2^16), via
//! reed-solomon-simd), and back.
//!
//! Shards are all the same length: `ceil(len / k)` rounded up to a multiple of 64, the last
//! data shard padded with zeros. With k = 1 the code is plain replication: every shard is the
//! chunk itself, unpadded. The codec detects no errors: callers hash-check shards first.

use std::sync::Mutex;

use bytes::Bytes;

use crate::buffers;
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

/// Most data or parity shards per chunk. More would not fit any plausible set of stores and keeps
/// manifests small.
pub const MAX_SHARDS: u16 = 128;
/// Shard lengths are padded to this (reed-solomon-simd is stable across versions at multiples of 64).
pub const SHARD_ALIGN: usize = 64;

/// The k + m of a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Coding {
    k: u16,
    m: u16,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ErasureError {
    #[error("bad coding k={k} m={m}: need 1 <= k, 0 <= m and k + m <= {MAX_SHARDS}")]
    BadCoding { k: u16, m: u16 },
    #[error("chunk of {len} bytes cannot be restored: {have} good shards of the {need} needed")]
    TooFewShards {
        len: usize,
        have: usize,
        need: usize,
    },
    #[error("shard {index} is {got} bytes, expected {want}")]
    ShardLength {
        index: usize,
        got: usize,
        want: usize,
    },
    #[error("reed-solomon: {0}")]
    Codec(reed_solomon_simd::Error),
    #[error("reed-solomon: data shard {index} was not restored")]
    NotRestored { index: usize },
}

impl Coding {
    pub fn new(k: u16, m: u16) -> Result<Self, ErasureError> {
        if k == 0 || u32::from(k) + u32::from(m) > u32::from(MAX_SHARDS) {
            return Err(ErasureError::BadCoding { k, m });
        }
        Ok(Coding { k, m })
    }

    pub fn k(&self) -> u16 {
        self.k
    }

    pub fn m(&self) -> u16 {
        self.m
    }

    /// k + m.
    pub fn total(&self) -> usize {
        usize::from(self.k) + usize::from(self.m)
    }

    /// Length of every shard of a chunk of `len` bytes.
    pub fn shard_len(&self, len: usize) -> usize {
        if self.k == 1 {
            return len;
        }
        len.div_ceil(usize::from(self.k))
            .div_ceil(SHARD_ALIGN)
            .max(1)
            * SHARD_ALIGN
    }

    /// Cuts a chunk into k + m shards. Data shards share the chunk's buffer where they can.
    pub fn encode(&self, chunk: &Bytes) -> Result<Vec<Bytes>, ErasureError> {
        let k = usize::from(self.k);
        if k == 1 {
            return Ok(vec![chunk.clone(); self.total()]);
        }
        let s = self.shard_len(chunk.len());
        let mut shards = Vec::with_capacity(self.total());
        for i in 0..k {
            let start = (i * s).min(chunk.len());
            let end = ((i + 1) * s).min(chunk.len());
            if end - start == s {
                shards.push(chunk.slice(start..end));
            } else {
                let mut padded = buffers::SHARDS.take(s);
                padded.extend_from_slice(&chunk[start..end]);
                padded.resize(s, 0);
                shards.push(buffers::SHARDS.freeze(padded));
            }
        }
        if self.m == 0 {
            return Ok(shards);
        }
        let mut enc = match take_encoder() {
            Some(mut enc) => {
                enc.reset(k, usize::from(self.m), s).map_err(codec)?;
                enc
            }
            None => ReedSolomonEncoder::new(k, usize::from(self.m), s).map_err(codec)?,
        };
        for shard in &shards {
            enc.add_original_shard(shard).map_err(codec)?;
        }
        let result = enc.encode().map_err(codec)?;
        let parity: Vec<Bytes> = result.recovery_iter().map(pooled_copy).collect();
        drop(result);
        give_back_encoder(enc);
        shards.extend(parity);
        Ok(shards)
    }

    /// Restores a chunk of `len` bytes from any k of its shards (`None` where a shard is missing
    /// or failed its hash). Decodes only when a data shard is missing.
    pub fn decode(&self, len: usize, shards: &[Option<Bytes>]) -> Result<Bytes, ErasureError> {
        let k = usize::from(self.k);
        let s = self.shard_len(len);
        let have = shards.iter().flatten().count();
        if shards.len() != self.total() || have < k {
            return Err(ErasureError::TooFewShards { len, have, need: k });
        }
        for (index, shard) in shards.iter().enumerate() {
            if let Some(b) = shard
                && b.len() != s
            {
                return Err(ErasureError::ShardLength {
                    index,
                    got: b.len(),
                    want: s,
                });
            }
        }
        if k == 1 {
            return shards
                .iter()
                .flatten()
                .next()
                .cloned()
                .ok_or(ErasureError::TooFewShards { len, have, need: 1 });
        }
        let data_present = shards[..k].iter().all(Option::is_some);
        let mut out = Vec::with_capacity(k * s);
        if data_present {
            for b in shards[..k].iter().flatten() {
                out.extend_from_slice(b);
            }
        } else {
            let mut dec = ReedSolomonDecoder::new(k, usize::from(self.m), s).map_err(codec)?;
            for (i, b) in shards.iter().enumerate() {
                match b {
                    Some(b) if i < k => dec.add_original_shard(i, b).map_err(codec)?,
                    Some(b) => dec.add_recovery_shard(i - k, b).map_err(codec)?,
                    None => {}
                }
            }
            let restored = dec.decode().map_err(codec)?;
            for (i, b) in shards[..k].iter().enumerate() {
                match b {
                    Some(b) => out.extend_from_slice(b),
                    None => out.extend_from_slice(
                        restored
                            .restored_original(i)
                            .ok_or(ErasureError::NotRestored { index: i })?,
                    ),
                }
            }
        }
        out.truncate(len);
        Ok(Bytes::from(out))
    }
}

/// Encoders keep megabytes of working space; a few are kept for reuse across whatever threads
/// encode (a per-thread cache would hold one per thread of a growing blocking pool).
static ENCODERS: Mutex<Vec<ReedSolomonEncoder>> = Mutex::new(Vec::new());
const ENCODERS_KEPT: usize = 4;

fn take_encoder() -> Option<ReedSolomonEncoder> {
    ENCODERS.lock().ok()?.pop()
}

fn give_back_encoder(enc: ReedSolomonEncoder) {
    if let Ok(mut pool) = ENCODERS.lock()
        && pool.len() < ENCODERS_KEPT
    {
        pool.push(enc);
    }
}

/// A copy of `data` in a pooled buffer.
fn pooled_copy(data: &[u8]) -> Bytes {
    let mut buf = buffers::SHARDS.take(data.len());
    buf.extend_from_slice(data);
    buffers::SHARDS.freeze(buf)
}

fn codec(e: reed_solomon_simd::Error) -> ErasureError {
    ErasureError::Codec(e)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bad_codings_rejected() {
        assert!(Coding::new(0, 2).is_err());
        assert!(Coding::new(100, 29).is_err());
        assert!(Coding::new(1, 0).is_ok());
    }

    #[test]
    fn shard_len_is_aligned() {
        let c = Coding::new(4, 2).unwrap();
        assert_eq!(c.shard_len(0), 64);
        assert_eq!(c.shard_len(1), 64);
        assert_eq!(c.shard_len(256), 64);
        assert_eq!(c.shard_len(257), 128);
        assert_eq!(Coding::new(1, 2).unwrap().shard_len(5), 5);
    }

    fn any_k_restore(k: u16, m: u16, data: Vec<u8>, lost: Vec<usize>) {
        let c = Coding::new(k, m).unwrap();
        let chunk = Bytes::from(data);
        let shards = c.encode(&chunk).unwrap();
        assert_eq!(shards.len(), c.total());
        let mut opt: Vec<Option<Bytes>> = shards.into_iter().map(Some).collect();
        for i in lost.iter().take(usize::from(m)) {
            opt[i % c.total()] = None;
        }
        assert_eq!(c.decode(chunk.len(), &opt).unwrap(), chunk);
    }

    proptest! {
        #[test]
        fn any_k_shards_restore(k in 1u16..12, m in 0u16..6, data in proptest::collection::vec(any::<u8>(), 0..5000), lost in proptest::collection::vec(0usize..64, 0..6)) {
            any_k_restore(k, m, data, lost);
        }
    }

    #[test]
    fn too_few_shards_is_an_error() {
        let c = Coding::new(4, 2).unwrap();
        let chunk = Bytes::from(vec![7u8; 1000]);
        let mut opt: Vec<Option<Bytes>> = c.encode(&chunk).unwrap().into_iter().map(Some).collect();
        opt[0] = None;
        opt[3] = None;
        opt[5] = None;
        assert!(matches!(
            c.decode(1000, &opt),
            Err(ErasureError::TooFewShards {
                have: 3,
                need: 4,
                ..
            })
        ));
    }

    #[test]
    fn wrong_shard_length_is_an_error() {
        let c = Coding::new(2, 1).unwrap();
        let chunk = Bytes::from(vec![1u8; 300]);
        let mut opt: Vec<Option<Bytes>> = c.encode(&chunk).unwrap().into_iter().map(Some).collect();
        opt[0] = Some(Bytes::from_static(b"short"));
        assert!(matches!(
            c.decode(300, &opt),
            Err(ErasureError::ShardLength { index: 0, .. })
        ));
    }
}
