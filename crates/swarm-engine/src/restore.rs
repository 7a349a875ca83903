//! The one chunk restorer: k good shards in, the chunk's bytes out, checked against its id.
//! Used by every read (get, ranged reads) and by repair, always on the CPU pool.

use bytes::Bytes;
use swarm_core::erasure::Coding;
use swarm_core::ids::Hash32;
use swarm_core::manifest::ChunkRecord;

use crate::pool::cpu;

/// Why a chunk could not be restored or re-encoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestoreError {
    #[error("decoding failed: {0}")]
    Coding(#[from] swarm_core::erasure::ErasureError),
    #[error("restored chunk does not match its id")]
    NotTheChunk,
    #[error("re-encoded shard {0} does not match the manifest")]
    NotTheShard(usize),
}

/// A restored chunk: its bytes as pieces in order (slices of the data shards when they were
/// all there, so nothing is copied; else the one decoded buffer).
#[derive(Debug)]
pub(crate) struct Restored {
    pub pieces: Vec<Bytes>,
    /// Parity was needed (a data shard was missing or bad).
    pub decoded: bool,
}

impl Restored {
    /// The chunk as one buffer (copied only when it is in several pieces).
    pub fn contiguous(&self) -> Bytes {
        match self.pieces.as_slice() {
            [one] => one.clone(),
            many => Bytes::from(many.concat()),
        }
    }
}

/// Restores a chunk from `shards` (k of them good, by index) and checks its id.
pub(crate) async fn restore(
    coding: Coding,
    record: &ChunkRecord,
    shards: Vec<Option<Bytes>>,
) -> Result<Restored, RestoreError> {
    let k = usize::from(coding.k());
    let len = record.len as usize;
    let id = record.id;
    cpu(move || {
        let decoded = shards[..k.min(shards.len())].iter().any(Option::is_none);
        let pieces = if decoded {
            vec![coding.decode(len, &shards)?]
        } else {
            let mut left = len;
            shards[..k]
                .iter()
                .flatten()
                .map_while(|b| {
                    let take = left.min(b.len());
                    left -= take;
                    (take > 0).then(|| b.slice(..take))
                })
                .collect()
        };
        let mut h = blake3::Hasher::new();
        for p in &pieces {
            h.update(p);
        }
        if Hash32(*h.finalize().as_bytes()) != id {
            return Err(RestoreError::NotTheChunk);
        }
        Ok(Restored { pieces, decoded })
    })
    .await
}

/// Encodes a chunk into its k + m shards and checks the ones at `check` against the hashes its
/// manifest records (a repair writes only shards that match).
pub(crate) async fn reencode(
    coding: Coding,
    record: &ChunkRecord,
    chunk: Bytes,
    check: Vec<usize>,
) -> Result<Vec<Bytes>, RestoreError> {
    let expected = record.shards.clone();
    cpu(move || {
        let all = coding.encode(&chunk)?;
        if let Some(i) = check.into_iter().find(|&i| {
            all.get(i)
                .is_none_or(|s| expected.get(i) != Some(&Hash32::of(s)))
        }) {
            return Err(RestoreError::NotTheShard(i));
        }
        Ok(all)
    })
    .await
}
