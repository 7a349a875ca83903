//! get: manifest -> shards from their stores -> verified chunks -> DEST.
//!
//! Each chunk needs k good shards. Data shards are asked for first (no decoding needed); every
//! missing, unreadable or corrupt shard is replaced by the next candidate (a parity shard, then
//! copies on spare stores) until k verified shards are in hand. Up to [`CHUNKS_IN_FLIGHT`]
//! chunks are fetched at once; a writer thread writes them in order while another hashes them
//! for the key.
//! The output is built in a temporary file beside DEST and renamed only once the key's hash
//! matches, so DEST never holds a partial or wrong object.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;
use swarm_core::erasure::Coding;
use swarm_core::ids::Hash32;
use swarm_core::key::Key;
use swarm_core::manifest::{Body, ChunkRecord, Manifest};

use crate::hashing::BackgroundHasher;
use crate::progress::Observer;
use crate::swarm::ChunkPlaces;
use crate::{EngineError, Swarm, cpu};

pub const CHUNKS_IN_FLIGHT: usize = 4;

#[derive(Debug, Clone, Default, Serialize)]
pub struct GetReport {
    pub key: String,
    pub size: u64,
    pub chunks: usize,
    pub shards_read: usize,
    /// Chunks that needed parity (a data shard was missing or bad).
    pub chunks_decoded: usize,
    /// Shards that could not be used, and why.
    pub problems: Vec<String>,
}

struct Fetched {
    /// The chunk's bytes, in order: its data shards (the last cut short) when all were good, or
    /// the decoded chunk.
    pieces: Vec<Bytes>,
    shards_read: usize,
    decoded: bool,
    problems: Vec<String>,
}

impl Swarm {
    /// Restores `key` into `dest`.
    pub async fn get(
        &self,
        key: &Key,
        dest: &Path,
        obs: &dyn Observer,
    ) -> Result<GetReport, EngineError> {
        let manifest = self.read_manifest(&key.to_string()).await?;
        if let Some(ks) = key.size()
            && ks != manifest.size
        {
            return Err(EngineError::Mismatch {
                key: key.to_string(),
                detail: format!("manifest says {} bytes, key says {ks}", manifest.size),
            });
        }
        let part = PartFile(Some(temp_path(dest)));
        obs.start("get", manifest.size);
        let result = self
            .get_into(key, &manifest, part.path(), obs)
            .await
            .map_err(|e| match e {
                // The temporary file is ours; name what the user asked for.
                EngineError::File { source, .. } => EngineError::File {
                    path: dest.display().to_string(),
                    source,
                },
                other => other,
            });
        obs.finish();
        let report = result?;
        std::fs::rename(part.path(), dest).map_err(|e| EngineError::File {
            path: dest.display().to_string(),
            source: e,
        })?;
        part.keep();
        Ok(report)
    }

    async fn get_into(
        &self,
        key: &Key,
        manifest: &Manifest,
        tmp: &Path,
        obs: &dyn Observer,
    ) -> Result<GetReport, EngineError> {
        let file = std::fs::File::create(tmp).map_err(|e| EngineError::File {
            path: tmp.display().to_string(),
            source: e,
        })?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(2 * CHUNKS_IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let mut out = file;
            let mut n = 0u64;
            while let Some(piece) = rx.blocking_recv() {
                out.write_all(&piece)?;
                n += piece.len() as u64;
            }
            out.flush()?;
            Ok(n)
        });
        let key_hash = BackgroundHasher::spawn(key.hasher());
        let mut report = GetReport {
            key: key.to_string(),
            size: manifest.size,
            ..Default::default()
        };
        let fetch = async {
            match &manifest.body {
                Body::Inline(data) => {
                    key_hash.feed(data.clone()).await;
                    tx.send(data.clone()).await.map_err(|_| writer_gone())?;
                    obs.advance(data.len() as u64);
                }
                Body::Chunked { coding, chunks, .. } => {
                    report.chunks = chunks.len();
                    let mut fetched = futures::stream::iter(chunks.iter().enumerate())
                        .map(|(n, c)| self.fetch_chunk(key, *coding, n, c))
                        .buffered(CHUNKS_IN_FLIGHT);
                    while let Some(f) = fetched.next().await {
                        let f = f?;
                        report.shards_read += f.shards_read;
                        report.chunks_decoded += usize::from(f.decoded);
                        report.problems.extend(f.problems);
                        for piece in f.pieces {
                            obs.advance(piece.len() as u64);
                            key_hash.feed(piece.clone()).await;
                            tx.send(piece).await.map_err(|_| writer_gone())?;
                        }
                    }
                }
            }
            Ok::<_, EngineError>(())
        };
        let fetched = fetch.await;
        drop(tx);
        let written = writer
            .await
            .map_err(|e| EngineError::Refused(format!("writer failed: {e}")))?;
        fetched?;
        let digest = key_hash.finish().await;
        let n = written.map_err(|e| EngineError::File {
            path: tmp.display().to_string(),
            source: e,
        })?;
        if n != manifest.size {
            return Err(EngineError::Mismatch {
                key: key.to_string(),
                detail: format!("restored {n} bytes, manifest says {}", manifest.size),
            });
        }
        if let Some(d) = digest {
            key.check_digest(&d).map_err(|e| EngineError::Mismatch {
                key: key.to_string(),
                detail: e.to_string(),
            })?;
        }
        Ok(report)
    }

    /// Gathers k verified shards of one chunk and restores it.
    async fn fetch_chunk(
        &self,
        key: &Key,
        coding: Coding,
        n: usize,
        record: &ChunkRecord,
    ) -> Result<Fetched, EngineError> {
        let k = usize::from(coding.k());
        let total = coding.total();
        let places = self.chunk_places(&record.id, total);
        let mut candidates = Candidates::new(&places, |s| self.up(s));
        let mut shards: Vec<Option<Bytes>> = vec![None; total];
        let mut have = 0;
        let mut problems = Vec::new();
        let mut reads = 0;
        let mut inflight = FuturesUnordered::new();
        let mut pending = vec![false; total];
        loop {
            while have + inflight.len() < k {
                let wanted = |i: usize| shards[i].is_none() && !pending[i];
                let Some((i, store)) = candidates.next(wanted) else {
                    break;
                };
                pending[i] = true;
                let hash = record.shards[i];
                inflight.push(async move { (i, self.read_shard(store, hash).await) });
            }
            let Some((i, result)) = inflight.next().await else {
                break;
            };
            pending[i] = false;
            match result {
                Ok(bytes) => {
                    reads += 1;
                    shards[i] = Some(bytes);
                    have += 1;
                }
                Err(why) => problems.push(format!("chunk {n} shard {i}: {why}")),
            }
            if have >= k {
                break;
            }
        }
        if have < k {
            return Err(EngineError::Unrestorable {
                key: key.to_string(),
                detail: format!(
                    "chunk {n} ({} bytes) has {have} good shards of the {k} needed; looked at: {}",
                    record.len,
                    problems.join("; ")
                ),
            });
        }
        let decoded = shards[..k].iter().any(Option::is_none);
        let len = record.len as usize;
        let id = record.id;
        let pieces = cpu(move || -> Result<Vec<Bytes>, String> {
            let pieces = if decoded {
                vec![coding.decode(len, &shards).map_err(|e| e.to_string())?]
            } else {
                // All data shards are here: they are the chunk, cut at its length.
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
            pieces.iter().for_each(|p| {
                h.update(p);
            });
            if Hash32(*h.finalize().as_bytes()) != id {
                return Err("restored chunk does not match its id".into());
            }
            Ok(pieces)
        })
        .await
        .map_err(|e| EngineError::Unrestorable {
            key: key.to_string(),
            detail: format!("chunk {n}: {e}"),
        })?;
        Ok(Fetched {
            pieces,
            shards_read: reads,
            decoded,
            problems,
        })
    }
}

fn writer_gone() -> EngineError {
    EngineError::Refused("output writer stopped".into())
}

/// Where to ask for each shard of a chunk next: every shard's preferred store first (data shards
/// before parity, so a healthy chunk needs no decoding), then, for shards still missing, the other
/// stores that may hold them (spares, then stores an older store list preferred). A shard's later
/// candidates wait while a request for it is in flight.
struct Candidates {
    primary: Vec<Option<usize>>,
    elsewhere: Vec<std::collections::VecDeque<usize>>,
}

impl Candidates {
    fn new(places: &ChunkPlaces, up: impl Fn(usize) -> bool) -> Self {
        let elsewhere = (0..places.preferred.len())
            .map(|i| places.elsewhere(i).filter(|&s| up(s)).collect())
            .collect();
        // A preferred store that is down is still asked (it fails at once), so the error says
        // where the shard should have been.
        Candidates {
            primary: places.preferred.clone(),
            elsewhere,
        }
    }

    /// The next (shard, store) to ask, among shards for which `wanted` holds.
    fn next(&mut self, wanted: impl Fn(usize) -> bool) -> Option<(usize, usize)> {
        let first = (0..self.primary.len()).find(|&i| wanted(i) && self.primary[i].is_some());
        if let Some(i) = first {
            return self.primary[i].take().map(|s| (i, s));
        }
        let i = (0..self.elsewhere.len()).find(|&i| wanted(i) && !self.elsewhere[i].is_empty())?;
        self.elsewhere[i].pop_front().map(|s| (i, s))
    }
}

/// The output being built; removed unless kept, also when the get is dropped half-way (Ctrl-C).
struct PartFile(Option<PathBuf>);

impl PartFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A hidden temporary file beside `dest`, so the final rename stays on one filesystem.
fn temp_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "object".into());
    let tmp = format!(".{name}.annex-swarm-{}.part", std::process::id());
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(tmp),
        _ => PathBuf::from(tmp),
    }
}
