//! An object of the swarm as BitTorrent content ([`swarm_torrent::Content`]): the glue between
//! the engine's reads and librqbit's storage. Never writes a copy of the object, and never
//! hands librqbit a byte that was not checked.
//!
//! Peers ask for 16 KiB blocks, pieces in an order of their choosing (rarest first, ties at
//! random). The first block asked of a piece reads the **whole piece**, and only it: the coding
//! is systematic, so the piece is a run of parts of data shards ([`spans`]), each read with a
//! ranged read of the store placement names (`ObjectReader::data_shard_range`, no decoding).
//! Those bytes are unchecked (a shard's BLAKE3 covers the whole shard), so the piece is checked
//! against the SHA-1 the torrent lists for it before any of it is handed out. When a ranged
//! read fails, that part comes through the checked path instead; when the SHA-1 does not
//! match, every ranged part of the piece does: the whole data shard checked against its BLAKE3
//! (`ObjectReader::data_shard`), or, when no store that is up has it, the whole chunk restored
//! from any k of its shards. Those parts are counted ([`SwarmContent::fallbacks`]) and a
//! mismatch is logged. A piece that still does not match is an error, never sent.
//!
//! Checked pieces are kept ([`pieces`]: `--cache` bytes, at least two pieces) for the rest of
//! their blocks and for other peers; a piece wanted by several peers at once is read once. So
//! the stores are read about once per piece uploaded, whatever the object's size and the order
//! peers take pieces in, and memory is the cache plus the pieces being read. Every byte read
//! from the stores for peers is counted ([`SwarmContent::restored`]).

mod pieces;
mod spans;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};
use futures::future::try_join_all;
use swarm_engine::{EngineError, ObjectReader};
use swarm_torrent::{Content, ContentError, PieceHasher, TorrentV1};
use tokio::runtime::Handle;

use pieces::PieceCache;
use spans::{Segment, Spans};

/// How much of the object one read asks for while hashing it: a few chunks restored at once,
/// bounded memory.
const HASH_WINDOW: u64 = 16 << 20;

/// One object of the swarm, readable at any offset.
#[derive(Clone)]
pub struct SwarmContent {
    inner: Arc<Inner>,
}

struct Inner {
    reader: ObjectReader,
    runtime: Handle,
    spans: Spans,
    pieces: PieceCache,
    /// The torrent's piece length.
    piece_length: u64,
    /// The torrent, once made: what pieces read by ranges are checked against.
    torrent: OnceLock<TorrentV1>,
    /// Bytes read from the stores for peers, and in how many reads.
    restored: AtomicU64,
    restores: AtomicU64,
    /// Parts of pieces read through the checked path (whole shard or chunk).
    fallbacks: AtomicU64,
}

/// A part of a piece, and how it was read.
enum Part {
    /// By a ranged read: not checked on its own.
    Ranged(Bytes),
    /// From a shard or chunk checked against its BLAKE3.
    Checked(Bytes),
}

impl Part {
    fn bytes(&self) -> &Bytes {
        match self {
            Part::Ranged(b) | Part::Checked(b) => b,
        }
    }
}

impl SwarmContent {
    /// `cache`: bytes of checked pieces to keep; `piece_length`: the torrent's.
    pub fn new(
        reader: ObjectReader,
        cache: u64,
        piece_length: u32,
        runtime: Handle,
    ) -> SwarmContent {
        SwarmContent {
            inner: Arc::new(Inner {
                spans: Spans::of(reader.manifest()),
                reader,
                runtime,
                pieces: PieceCache::new(cache),
                piece_length: u64::from(piece_length.max(1)),
                torrent: OnceLock::new(),
                restored: AtomicU64::new(0),
                restores: AtomicU64::new(0),
                fallbacks: AtomicU64::new(0),
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

    /// Parts of pieces (a data shard's share of a piece) read through the checked path: their
    /// ranged read failed, or their piece did not match its SHA-1.
    pub fn fallbacks(&self) -> u64 {
        self.inner.fallbacks.load(Ordering::Relaxed)
    }

    /// Makes the torrent: streams the whole object once, in order, hashing pieces as the bytes
    /// arrive (the next window is restored while this one is hashed). Goes around the cache.
    /// From then on, pieces are checked against it.
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
        let torrent = hasher.finish(name)?;
        // Made once per content; a second torrent (another name) has the same pieces.
        let _ = self.inner.torrent.set(torrent.clone());
        Ok(torrent)
    }
}

impl Inner {
    fn count(&self, bytes: u64) {
        self.restored.fetch_add(bytes, Ordering::Relaxed);
        self.restores.fetch_add(1, Ordering::Relaxed);
    }

    async fn read_at(self: &Arc<Self>, offset: u64, buf: &mut [u8]) -> Result<(), EngineError> {
        let size = self.reader.size();
        let end = offset.saturating_add(buf.len() as u64);
        if end > size {
            return Err(EngineError::Refused(format!(
                "{} bytes at {offset}: the object has {size}",
                buf.len()
            )));
        }
        let mut at = offset;
        while at < end {
            let p = (at / self.piece_length) as usize;
            let p_start = p as u64 * self.piece_length;
            let p_end = (p_start + self.piece_length).min(size);
            let slot = self.pieces.slot(p, p_end - p_start);
            let bytes = slot
                .bytes
                .get_or_try_init(|| self.read_piece(p, p_start, p_end))
                .await?;
            let from = (at - p_start) as usize;
            let to = (end.min(p_end) - p_start) as usize;
            let part = bytes.get(from..to).ok_or_else(|| {
                EngineError::Internal(format!("piece {p} was read shorter than it is"))
            })?;
            let into = (at - offset) as usize;
            buf[into..into + part.len()].copy_from_slice(part);
            slot.sent.fetch_add(part.len() as u64, Ordering::Relaxed);
            at += part.len() as u64;
        }
        Ok(())
    }

    /// Piece `p` (`start..end` of the object), checked: by ranged reads against the torrent's
    /// SHA-1, else through the checked path (see the module doc).
    async fn read_piece(
        self: &Arc<Self>,
        p: usize,
        start: u64,
        end: u64,
    ) -> Result<Bytes, EngineError> {
        let segments = self.spans.segments(start, end);
        let Some(torrent) = self.torrent.get() else {
            // No SHA-1 to check against yet: checked shards only.
            let parts = try_join_all(segments.iter().map(|s| self.checked(s))).await?;
            return Ok(assemble(&parts));
        };
        let mut parts = try_join_all(segments.iter().map(|s| self.ranged(s))).await?;
        // SHA-1 of one piece (256 KiB to 4 MiB) on this thread: librqbit's blocking thread.
        let bytes = assemble(&parts);
        if torrent.piece_matches(p, &bytes) {
            return Ok(bytes);
        }
        let ranged = parts
            .iter()
            .filter(|x| matches!(x, Part::Ranged(_)))
            .count();
        tracing::warn!(
            "piece {p} of {}: its SHA-1 does not match the torrent's; reading its {ranged} ranged parts again from checked shards",
            torrent.name()
        );
        for (part, seg) in parts.iter_mut().zip(&segments) {
            if matches!(part, Part::Ranged(_)) {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                *part = self.checked(seg).await?;
            }
        }
        let bytes = assemble(&parts);
        if torrent.piece_matches(p, &bytes) {
            Ok(bytes)
        } else {
            Err(EngineError::Internal(format!(
                "piece {p} of {} does not match the torrent although its shards checked out",
                torrent.name()
            )))
        }
    }

    /// A segment by a ranged read of its data shard; through the checked path when that fails.
    async fn ranged(self: &Arc<Self>, seg: &Segment) -> Result<Part, EngineError> {
        let span = seg.span;
        if let Some(i) = span.shard {
            match self
                .reader
                .data_shard_range(span.chunk, i, seg.offset, seg.len)
                .await
            {
                Ok(bytes) => {
                    self.count(bytes.len() as u64);
                    return Ok(Part::Ranged(bytes));
                }
                Err(e) => {
                    tracing::debug!("ranged read failed, reading the shard whole: {e}");
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.checked(seg).await
    }

    /// A segment from its whole data shard checked against its BLAKE3, or from its whole chunk
    /// restored from any k shards when no store that is up has that data shard (or the object
    /// is inline: the manifest holds it, nothing is read).
    async fn checked(self: &Arc<Self>, seg: &Segment) -> Result<Part, EngineError> {
        let span = seg.span;
        if let Some(i) = span.shard {
            match self.reader.data_shard(span.chunk, i).await {
                Ok(shard) => {
                    self.count(shard.len() as u64);
                    return slice(&shard, seg.offset, seg.len, span.chunk).map(Part::Checked);
                }
                Err(e) => tracing::debug!("restoring chunk {} whole: {e}", span.chunk),
            }
        }
        let chunk = self.reader.read(span.chunk_start, span.chunk_len).await?;
        if span.shard.is_some() {
            self.count(chunk.len() as u64);
        }
        slice(&chunk, seg.start() - span.chunk_start, seg.len, span.chunk).map(Part::Checked)
    }
}

fn assemble(parts: &[Part]) -> Bytes {
    match parts {
        [one] => one.bytes().clone(),
        _ => {
            let mut out = BytesMut::with_capacity(parts.iter().map(|p| p.bytes().len()).sum());
            for p in parts {
                out.extend_from_slice(p.bytes());
            }
            out.freeze()
        }
    }
}

/// `len` bytes at `from` of what was read for chunk `chunk`.
fn slice(bytes: &Bytes, from: u64, len: u64, chunk: usize) -> Result<Bytes, EngineError> {
    let (from, to) = (from as usize, (from + len) as usize);
    if to > bytes.len() {
        return Err(EngineError::Internal(format!(
            "chunk {chunk} is shorter than its record"
        )));
    }
    Ok(bytes.slice(from..to))
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
