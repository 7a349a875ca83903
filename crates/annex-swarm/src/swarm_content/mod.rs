//! An object of the swarm as BitTorrent content ([`swarm_torrent::Content`]): the glue between
//! the engine's ranged reads and librqbit's storage. Never writes a copy of the object.
//!
//! Peers ask for 16 KiB blocks, pieces in an order of their choosing (rarest first, ties at
//! random). What is read from the stores is a **data shard**: the coding is systematic, so data
//! shard `i` of a chunk is the chunk's bytes `i * s .. (i + 1) * s`, checked against its
//! BLAKE3, with no decoding; a chunk is k of them. Reading a quarter of a 4 + 2 chunk for a
//! piece inside it, rather than all of it, is what keeps store reads close to the bytes
//! uploaded when peers jump around. A data shard that no store that is up holds gets its whole
//! chunk restored (any k of k + m shards) instead.
//!
//! Read shards are kept in a cache (`--cache` bytes, at least two units; what goes first is the
//! unit with the fewest bytes not yet sent, so that a peer's later pieces find the rest of the
//! units it started), a unit wanted
//! by several peers at once is read once, and when the piece a block belongs to runs on into
//! the next unit, that unit is read ahead (peers ask for a piece's blocks in order; reading
//! ahead regardless would waste store reads on peers that jump to another piece). Every byte
//! read from the stores for peers is counted ([`SwarmContent::restored`]).
//!
//! With a cache smaller than the object and units bigger than pieces, a peer taking pieces in
//! random order makes some units be read more than once (`BENCHMARKS.md` §10 has figures).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use swarm_core::manifest::Body;
use swarm_engine::{EngineError, ObjectReader};
use swarm_torrent::{Content, ContentError, PieceHasher, TorrentV1};
use tokio::runtime::Handle;
use tokio::sync::OnceCell;

/// How much of the object one read asks for while hashing it: a few chunks restored at once,
/// bounded memory.
const HASH_WINDOW: u64 = 16 << 20;

/// One object of the swarm, readable at any offset.
#[derive(Clone)]
pub struct SwarmContent {
    inner: Arc<Inner>,
}

/// What is read from the stores in one go: a data shard's bytes of a chunk, or (inline
/// objects) the whole object.
#[derive(Debug, Clone, Copy)]
struct Unit {
    /// Where it starts in the object, and its length (a last data shard's padding left out).
    start: u64,
    len: u64,
    chunk: usize,
    /// Its data shard, `None` for an inline object.
    shard: Option<usize>,
    /// Where its chunk starts, and the chunk's length.
    chunk_start: u64,
    chunk_len: u64,
}

struct Inner {
    reader: ObjectReader,
    runtime: Handle,
    /// In object order, covering it without gaps.
    units: Vec<Unit>,
    /// Most recent first.
    cache: Mutex<VecDeque<(usize, Arc<OnceCell<Bytes>>)>>,
    /// Bytes of units the cache keeps (two units whatever it is).
    budget: u64,
    /// The torrent's piece length: a block's piece says whether the next unit is needed soon.
    piece_length: u64,
    /// Bytes read from the stores for peers, and in how many reads.
    restored: AtomicU64,
    restores: AtomicU64,
    /// Bytes of each unit handed to librqbit (to any peer), for eviction.
    sent: Vec<AtomicU64>,
}

impl SwarmContent {
    /// `cache`: bytes of read units to keep; `piece_length`: the torrent's.
    pub fn new(
        reader: ObjectReader,
        cache: u64,
        piece_length: u32,
        runtime: Handle,
    ) -> SwarmContent {
        let mut units = Vec::new();
        match &reader.manifest().body {
            Body::Chunked { coding, chunks, .. } => {
                let mut chunk_start = 0u64;
                for (n, c) in chunks.iter().enumerate() {
                    let chunk_len = u64::from(c.len);
                    let s = coding.shard_len(c.len as usize) as u64;
                    for i in 0..usize::from(coding.k()) {
                        let from = (i as u64 * s).min(chunk_len);
                        let to = ((i as u64 + 1) * s).min(chunk_len);
                        if to > from {
                            units.push(Unit {
                                start: chunk_start + from,
                                len: to - from,
                                chunk: n,
                                shard: Some(i),
                                chunk_start,
                                chunk_len,
                            });
                        }
                    }
                    chunk_start += chunk_len;
                }
            }
            Body::Inline(_) => units.push(Unit {
                start: 0,
                len: reader.size(),
                chunk: 0,
                shard: None,
                chunk_start: 0,
                chunk_len: reader.size(),
            }),
        }
        let sent = units.iter().map(|_| AtomicU64::new(0)).collect();
        SwarmContent {
            inner: Arc::new(Inner {
                sent,
                reader,
                runtime,
                units,
                cache: Mutex::new(VecDeque::new()),
                budget: cache,
                piece_length: u64::from(piece_length.max(1)),
                restored: AtomicU64::new(0),
                restores: AtomicU64::new(0),
            }),
        }
    }

    /// Bytes read from the stores to serve reads (hashing not counted), and in how many reads.
    pub fn restored(&self) -> (u64, u64) {
        (
            self.inner.restored.load(Ordering::Relaxed),
            self.inner.restores.load(Ordering::Relaxed),
        )
    }

    /// Makes the torrent: streams the whole object once, in order, hashing pieces as the bytes
    /// arrive (the next window is restored while this one is hashed). Goes around the cache.
    pub async fn hash(&self, name: &str) -> anyhow::Result<TorrentV1> {
        let size = self.inner.reader.size();
        let mut hasher = PieceHasher::new(self.inner.piece_length as u32)?;
        let inner = self.inner.clone();
        let read = move |at: u64| {
            let inner = inner.clone();
            tokio::spawn(async move { inner.reader.read(at, HASH_WINDOW).await })
        };
        let mut at = 0u64;
        let mut next = (size > 0).then(|| read(0));
        while let Some(pending) = next.take() {
            let bytes = pending.await??;
            if bytes.is_empty() {
                anyhow::bail!("the object ended at {at} bytes of {size}");
            }
            at += bytes.len() as u64;
            next = (at < size).then(|| read(at));
            hasher = tokio::task::spawn_blocking(move || {
                hasher.update(&bytes);
                hasher
            })
            .await?;
        }
        Ok(hasher.finish(name)?)
    }
}

impl Inner {
    /// Unit `u`'s bytes, from the cache or the stores (once, however many ask at the same time).
    async fn unit(self: &Arc<Self>, u: usize) -> Result<Bytes, EngineError> {
        let cell = self.cell(u);
        let bytes = cell.get_or_try_init(|| self.read_unit(u)).await?;
        Ok(bytes.clone())
    }

    async fn read_unit(self: &Arc<Self>, u: usize) -> Result<Bytes, EngineError> {
        let unit = self.units[u];
        let count = |n: u64| {
            self.restored.fetch_add(n, Ordering::Relaxed);
            self.restores.fetch_add(1, Ordering::Relaxed);
        };
        if let Some(i) = unit.shard
            && let Ok(shard) = self.reader.data_shard(unit.chunk, i).await
        {
            count(shard.len() as u64);
            return Ok(shard.slice(0..(unit.len as usize).min(shard.len())));
        }
        // Inline, or the data shard is nowhere to be had: the whole chunk, decoded.
        let chunk = self.reader.read(unit.chunk_start, unit.chunk_len).await?;
        count(chunk.len() as u64);
        let from = (unit.start - unit.chunk_start) as usize;
        let to = from + unit.len as usize;
        chunk
            .get(from..to)
            .map(|_| chunk.slice(from..to))
            .ok_or_else(|| {
                EngineError::Internal(format!("chunk {} is shorter than its record", unit.chunk))
            })
    }

    /// The cache's cell for unit `u`, made the most recent (made if missing). Beyond the
    /// budget, the unit with the fewest bytes not yet sent to any peer goes first, the least
    /// recent among equals, never the two most recent: a peer taking pieces in random order
    /// still wants the rest of a unit it took part of, and not what it already has (a reader
    /// still holding an evicted cell finishes with it).
    fn cell(&self, u: usize) -> Arc<OnceCell<Bytes>> {
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let cell = match cache.iter().position(|(i, _)| *i == u) {
            Some(at) => cache.remove(at).map(|(_, c)| c),
            None => None,
        }
        .unwrap_or_default();
        cache.push_front((u, cell.clone()));
        let mut kept: u64 = cache.iter().map(|(i, _)| self.units[*i].len).sum();
        while kept > self.budget && cache.len() > 2 {
            let unsent = |i: usize| {
                self.units[i]
                    .len
                    .saturating_sub(self.sent[i].load(Ordering::Relaxed))
            };
            // Scanning from the least recent, the first of the fewest unsent bytes.
            let victim = (2..cache.len())
                .rev()
                .min_by_key(|&at| unsent(cache[at].0))
                .unwrap_or(cache.len() - 1);
            if let Some((i, _)) = cache.remove(victim) {
                kept -= self.units[i].len;
            }
        }
        cell
    }

    fn cached(&self, u: usize) -> bool {
        self.cache
            .lock()
            .map(|c| c.iter().any(|(i, _)| *i == u))
            .unwrap_or(false)
    }

    async fn read_at(self: &Arc<Self>, offset: u64, buf: &mut [u8]) -> Result<(), EngineError> {
        let end = offset + buf.len() as u64;
        let mut u = self
            .units
            .partition_point(|x| x.start <= offset)
            .saturating_sub(1);
        let mut filled = 0usize;
        while filled < buf.len() && u < self.units.len() {
            let bytes = self.unit(u).await?;
            let start = self.units[u].start;
            let from = (offset + filled as u64 - start) as usize;
            let to = ((end - start) as usize).min(bytes.len());
            let part = bytes.get(from..to).unwrap_or_default();
            if part.is_empty() {
                break;
            }
            buf[filled..filled + part.len()].copy_from_slice(part);
            self.sent[u].fetch_add(part.len() as u64, Ordering::Relaxed);
            filled += part.len();
            if filled < buf.len() {
                u += 1;
            }
        }
        if filled < buf.len() {
            return Err(EngineError::Refused(format!(
                "{} bytes at {offset}: the object has {}",
                buf.len(),
                self.reader.size()
            )));
        }
        let ahead = u + 1;
        let unit_end = self.units[u].start + self.units[u].len;
        let piece_end = (offset / self.piece_length + 1) * self.piece_length;
        if piece_end > unit_end && ahead < self.units.len() && !self.cached(ahead) {
            let me = self.clone();
            self.runtime.spawn(async move {
                // A failed read-ahead is retried by the read that needs the unit.
                let _ = me.unit(ahead).await;
            });
        }
        Ok(())
    }
}

impl Content for SwarmContent {
    fn len(&self) -> u64 {
        self.inner.reader.size()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ContentError> {
        let inner = self.inner.clone();
        self.inner
            .runtime
            .block_on(async move { inner.read_at(offset, buf).await })
            .map_err(|e| ContentError(e.to_string()))
    }
}
