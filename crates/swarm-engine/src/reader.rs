//! Ranged reads of an object, for a seeder serving pieces or a node serving a peer: only the
//! chunks that cover the range are fetched, through the scheduler. An [`ObjectReader`] keeps
//! the manifest (read once) and the last chunk it restored, since pieces are mostly asked in
//! order and a chunk often covers several of them.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use swarm_core::ids::{Hash32, StoreId};
use swarm_core::key::Key;
use swarm_core::manifest::{Body, ChunkRecord, Manifest};
use tokio::sync::mpsc;

use crate::fetch::plan::Tuning;
use crate::fetch::{Chunks, FetchItem};
use crate::progress::Quiet;
use crate::restore::Restored;
use crate::swarm::Members;
use crate::swarm::members::{ChunkPlaces, ShardFault};
use crate::{EngineError, Swarm};

/// Reads byte ranges of one object.
pub struct ObjectReader {
    swarm: Swarm,
    members: Arc<Members>,
    key: String,
    manifest: Manifest,
    /// Where each chunk starts in the object.
    starts: Vec<u64>,
    /// The last chunk restored: (index, bytes).
    last: Mutex<Option<(usize, Bytes)>>,
    /// The key's holders, asked as readily as the coded spread.
    holders: Arc<[StoreId]>,
}

impl Swarm {
    /// Opens `key` for ranged reads (reads its manifest).
    pub async fn object(&self, key: &Key) -> Result<ObjectReader, EngineError> {
        let members = self.members();
        let name = key.to_string();
        let manifest = members.read_manifest(key.as_bytes()).await?;
        let mut starts = Vec::new();
        if let Body::Chunked { chunks, .. } = &manifest.body {
            let mut at = 0u64;
            for c in chunks {
                starts.push(at);
                at += u64::from(c.len);
            }
        }
        let holders = members.holder_ids(key.as_bytes(), None);
        Ok(ObjectReader {
            holders,
            swarm: self.clone(),
            members,
            key: name,
            manifest,
            starts,
            last: Mutex::new(None),
        })
    }
}

impl Swarm {
    /// One shard by its BLAKE3 (of `len` bytes), checked, from the first store that is up and
    /// has it (a node serving a peer asks for exactly this).
    pub async fn shard(&self, hash: Hash32, len: u64) -> Result<Bytes, EngineError> {
        let members = self.members();
        let mut looked = Vec::new();
        for i in 0..members.len() {
            if !members.up(i) {
                continue;
            }
            match members.read_shard(i, hash, len).await {
                Ok(bytes) => return Ok(bytes),
                Err(fault) => looked.push(fault.to_string()),
            }
        }
        Err(EngineError::NotPresent {
            key: format!("shard {hash}"),
            looked: if looked.is_empty() {
                "no store is up".into()
            } else {
                looked.join(", ")
            },
        })
    }
}

impl ObjectReader {
    pub fn size(&self) -> u64 {
        self.manifest.size
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `len` bytes from `offset` (fewer at the end of the object; none past it). Every byte
    /// comes from a chunk checked against its BLAKE3.
    pub async fn read(&self, offset: u64, len: u64) -> Result<Bytes, EngineError> {
        let end = offset.saturating_add(len).min(self.manifest.size);
        if offset >= end {
            return Ok(Bytes::new());
        }
        let (coding, chunks, max_chunk) = match &self.manifest.body {
            Body::Inline(data) => return Ok(data.slice(offset as usize..end as usize)),
            Body::Chunked {
                coding,
                chunks,
                chunker,
            } => (*coding, chunks, chunker.max_chunk()),
        };
        // Chunks [first, last] cover the range.
        let first = self.starts.partition_point(|&s| s <= offset) - 1;
        let last = self.starts.partition_point(|&s| s < end) - 1;
        let mut out = BytesMut::with_capacity((end - offset) as usize);
        let cached = self.cached();
        let todo: Vec<usize> = (first..=last)
            .filter(|&n| cached.as_ref().is_none_or(|(c, _)| *c != n))
            .collect();
        let mut fetched = self.fetch(coding, chunks, &todo, max_chunk).await?;
        for n in first..=last {
            let bytes = match &cached {
                Some((c, b)) if *c == n => b.clone(),
                _ => fetched.remove(0).contiguous(),
            };
            let start = self.starts[n];
            let from = offset.saturating_sub(start) as usize;
            let to = (end - start).min(bytes.len() as u64) as usize;
            out.extend_from_slice(&bytes[from..to]);
            if n == last {
                self.remember(n, bytes);
            }
        }
        Ok(out.freeze())
    }

    /// Data shard `i` (below k) of chunk `n`, checked against its BLAKE3: the chunk's bytes
    /// `i * s .. (i + 1) * s` for the coding's shard length `s`, the last data shard padded
    /// with zeros. Part of a chunk without decoding it (a seeder serving a piece needs a
    /// quarter of a 4 + 2 chunk, not all of it); asked of the store placement names first,
    /// then wherever else the shard may be. Fails when no store that is up has it: restore the
    /// whole chunk with [`ObjectReader::read`] then.
    pub async fn data_shard(&self, n: usize, i: usize) -> Result<Bytes, EngineError> {
        let (hash, s, places) = self.data_shard_place(n, i)?;
        let what = || format!("{} shard {i} of chunk {n}", self.key);
        self.first_answer(places.candidates(i), what, |store| {
            self.members.read_shard(store, hash, s)
        })
        .await
    }

    /// `len` bytes from `offset` of data shard `i` (below k) of chunk `n`: the chunk's bytes
    /// `i * s + offset ..`, asked of the same stores in the same order as
    /// [`ObjectReader::data_shard`]. **Not checked**: the shard's BLAKE3 covers the whole
    /// shard, so the caller must check the bytes another way (a seeder checks the piece they
    /// belong to against the torrent's SHA-1) and fall back to `data_shard` when that fails.
    /// Fails when the range runs past the shard or no store that is up answers it in full.
    pub async fn data_shard_range(
        &self,
        n: usize,
        i: usize,
        offset: u64,
        len: u64,
    ) -> Result<Bytes, EngineError> {
        let (hash, s, places) = self.data_shard_place(n, i)?;
        if offset.checked_add(len).is_none_or(|end| end > s) {
            return Err(EngineError::Refused(format!(
                "{}: {len} bytes at {offset} of shard {i} of chunk {n} ({s} bytes)",
                self.key
            )));
        }
        if len == 0 {
            return Ok(Bytes::new());
        }
        let what = || format!("{} shard {i} of chunk {n} at {offset}", self.key);
        self.first_answer(places.candidates(i), what, |store| {
            self.members.read_shard_range(store, hash, offset, len)
        })
        .await
    }

    /// The first of `stores` that is up and answers `read`; else why none did, as `what`.
    async fn first_answer<F, Fut>(
        &self,
        stores: Vec<usize>,
        what: impl Fn() -> String,
        read: F,
    ) -> Result<Bytes, EngineError>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<Bytes, ShardFault>>,
    {
        let mut looked = Vec::new();
        for store in stores.into_iter().filter(|&s| self.members.up(s)) {
            match read(store).await {
                Ok(bytes) => return Ok(bytes),
                Err(fault) => looked.push(fault.to_string()),
            }
        }
        Err(EngineError::NotPresent {
            key: what(),
            looked: if looked.is_empty() {
                "no store that may hold it is up".into()
            } else {
                looked.join(", ")
            },
        })
    }

    /// Data shard `i` of chunk `n`: its hash, the coding's shard length and where it may be.
    fn data_shard_place(
        &self,
        n: usize,
        i: usize,
    ) -> Result<(Hash32, u64, ChunkPlaces), EngineError> {
        let Body::Chunked { coding, chunks, .. } = &self.manifest.body else {
            return Err(EngineError::Refused(format!(
                "{}: an inline object has no shards",
                self.key
            )));
        };
        let record = chunks.get(n).filter(|_| i < usize::from(coding.k()));
        let Some(record) = record else {
            return Err(EngineError::Refused(format!(
                "{}: no data shard {i} of chunk {n}",
                self.key
            )));
        };
        let Some(&hash) = record.shards.get(i) else {
            return Err(EngineError::Refused(format!(
                "{}: chunk {n} lists no shard {i}",
                self.key
            )));
        };
        let s = coding.shard_len(record.len as usize) as u64;
        let places = self.members.chunk_places(&record.id, record.shards.len());
        Ok((hash, s, places))
    }

    fn cached(&self) -> Option<(usize, Bytes)> {
        self.last.lock().ok().and_then(|l| l.clone())
    }

    fn remember(&self, n: usize, bytes: Bytes) {
        if let Ok(mut l) = self.last.lock() {
            *l = Some((n, bytes));
        }
    }

    async fn fetch(
        &self,
        coding: swarm_core::erasure::Coding,
        chunks: &[ChunkRecord],
        which: &[usize],
        max_chunk: u32,
    ) -> Result<Vec<Restored>, EngineError> {
        if which.is_empty() {
            return Ok(Vec::new());
        }
        let items = which
            .iter()
            .map(|&n| FetchItem {
                record: chunks[n].clone(),
                coding,
                avoid: Vec::new(),
                holders: Arc::clone(&self.holders),
            })
            .collect();
        let (tx, mut rx) = mpsc::channel(which.len());
        let fetching = self.swarm.fetch(
            &self.members,
            &self.key,
            Chunks::All(items),
            tx,
            &Quiet,
            Tuning::for_chunks(max_chunk),
        );
        let collecting = async {
            let mut out = Vec::with_capacity(which.len());
            while let Some(c) = rx.recv().await {
                out.push(c);
            }
            Ok::<_, EngineError>(out)
        };
        let (_, out) = tokio::try_join!(fetching, collecting)?;
        Ok(out)
    }
}
