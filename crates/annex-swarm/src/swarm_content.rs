//! An object of the swarm as BitTorrent content ([`swarm_torrent::Content`]): the glue between
//! the engine's ranged reads and librqbit's storage. Never writes a copy of the object.
//!
//! Peers ask for 16 KiB blocks, pieces in an order of their choosing; the engine restores
//! whole chunks (each checked against its BLAKE3). So decoded chunks are kept in a small LRU
//! cache (a byte budget, at least two chunks), a chunk asked for by several peers at once is
//! restored once, and the next chunk is restored ahead when a read comes near the end of one
//! (peers ask for a piece's blocks in order, and pieces often run on into the next chunk).
//!
//! Peers choose the order of pieces (rarest first, ties at random): with a cache smaller than
//! the object and chunks bigger than pieces, a chunk may be restored more than once.
//!
//! Every byte restored from the stores is counted ([`SwarmContent::restored`]), so a seeder
//! can report how much it read for what it uploaded.

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

/// A read ending this close to the end of its chunk has the next chunk restored ahead: a
/// piece's later blocks will need it. Further back, peers asking for pieces in random order
/// would make read-ahead a waste of store reads and cache room.
const READ_AHEAD_WITHIN: u64 = 1 << 20;

/// One object of the swarm, readable at any offset.
#[derive(Clone)]
pub struct SwarmContent {
    inner: Arc<Inner>,
}

struct Inner {
    reader: ObjectReader,
    runtime: Handle,
    /// Chunk `i` is `starts[i]..starts[i + 1]`; an inline object is one chunk.
    starts: Vec<u64>,
    /// Most recent first.
    cache: Mutex<VecDeque<(usize, Arc<OnceCell<Bytes>>)>>,
    /// Bytes of chunks the cache keeps (two chunks whatever it is).
    budget: u64,
    /// Bytes of chunks restored from the stores for peers, and how many chunks.
    restored: AtomicU64,
    restores: AtomicU64,
}

impl SwarmContent {
    /// `cache`: bytes of decoded chunks to keep (at least two chunks are kept whatever it is).
    pub fn new(reader: ObjectReader, cache: u64, runtime: Handle) -> SwarmContent {
        let mut starts = vec![0u64];
        if let Body::Chunked { chunks, .. } = &reader.manifest().body {
            let mut at = 0u64;
            for c in chunks {
                at += u64::from(c.len);
                starts.push(at);
            }
        } else {
            starts.push(reader.size());
        }
        SwarmContent {
            inner: Arc::new(Inner {
                reader,
                runtime,
                starts,
                cache: Mutex::new(VecDeque::new()),
                budget: cache,
                restored: AtomicU64::new(0),
                restores: AtomicU64::new(0),
            }),
        }
    }

    /// Bytes restored from the stores to serve reads (hashing not counted), and in how many
    /// chunk restores.
    pub fn restored(&self) -> (u64, u64) {
        (
            self.inner.restored.load(Ordering::Relaxed),
            self.inner.restores.load(Ordering::Relaxed),
        )
    }

    /// Makes the torrent: streams the whole object once, in order, hashing pieces as the bytes
    /// arrive (the next window is restored while this one is hashed). Goes around the cache.
    pub async fn hash(&self, name: &str, piece_length: u32) -> anyhow::Result<TorrentV1> {
        let size = self.inner.reader.size();
        let mut hasher = PieceHasher::new(piece_length)?;
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
    fn chunks(&self) -> usize {
        self.starts.len() - 1
    }

    /// Chunk `n`, from the cache or restored (once, however many ask at the same time).
    async fn chunk(self: &Arc<Self>, n: usize) -> Result<Bytes, EngineError> {
        let cell = self.cell(n);
        let bytes = cell
            .get_or_try_init(|| async {
                let (from, to) = (self.starts[n], self.starts[n + 1]);
                let b = self.reader.read(from, to - from).await?;
                self.restored.fetch_add(b.len() as u64, Ordering::Relaxed);
                self.restores.fetch_add(1, Ordering::Relaxed);
                Ok::<_, EngineError>(b)
            })
            .await?;
        Ok(bytes.clone())
    }

    fn chunk_len(&self, n: usize) -> u64 {
        self.starts[n + 1] - self.starts[n]
    }

    /// The cache's cell for chunk `n`, made the most recent (made if missing, evicting the
    /// least recent beyond the budget: a reader still holding an evicted cell finishes with it).
    fn cell(&self, n: usize) -> Arc<OnceCell<Bytes>> {
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let cell = match cache.iter().position(|(i, _)| *i == n) {
            Some(at) => cache.remove(at).map(|(_, c)| c),
            None => None,
        }
        .unwrap_or_default();
        cache.push_front((n, cell.clone()));
        let mut kept = 0u64;
        let mut keep = 0usize;
        for (i, _) in cache.iter() {
            kept += self.chunk_len(*i);
            if keep >= 2 && kept > self.budget {
                break;
            }
            keep += 1;
        }
        cache.truncate(keep);
        cell
    }

    fn cached(&self, n: usize) -> bool {
        self.cache
            .lock()
            .map(|c| c.iter().any(|(i, _)| *i == n))
            .unwrap_or(false)
    }

    async fn read_at(self: &Arc<Self>, offset: u64, buf: &mut [u8]) -> Result<(), EngineError> {
        let end = offset + buf.len() as u64;
        let mut n = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let mut filled = 0usize;
        while filled < buf.len() && n < self.chunks() {
            let chunk = self.chunk(n).await?;
            let start = self.starts[n];
            let from = (offset + filled as u64 - start) as usize;
            let to = ((end - start) as usize).min(chunk.len());
            let part = chunk.get(from..to).unwrap_or_default();
            if part.is_empty() {
                break;
            }
            buf[filled..filled + part.len()].copy_from_slice(part);
            filled += part.len();
            if filled < buf.len() {
                n += 1;
            }
        }
        if filled < buf.len() {
            return Err(EngineError::Refused(format!(
                "{} bytes at {offset}: the object has {}",
                buf.len(),
                self.reader.size()
            )));
        }
        let ahead = n + 1;
        let near_end = end + READ_AHEAD_WITHIN >= self.starts[n + 1];
        if near_end && ahead < self.chunks() && !self.cached(ahead) {
            let me = self.clone();
            self.runtime.spawn(async move {
                // A failed read-ahead is retried by the read that needs the chunk.
                let _ = me.chunk(ahead).await;
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
