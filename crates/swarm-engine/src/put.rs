//! put: file -> chunks -> shards on stores -> manifest.
//!
//! One blocking thread reads the file once and cuts chunks, another hashes them for the key; up to
//! [`CHUNKS_IN_FLIGHT`] chunks are then encoded (on the blocking pool) and uploaded at once.
//! Shards already in the swarm are not written again, only touched so `gc` spares them. The
//! manifest goes last: until it is written the key does not exist for readers.

use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::join_all;
use serde::Serialize;
use swarm_core::ids::Hash32;
use swarm_core::key::{Backend, Key, KeyHasher};
use swarm_core::manifest::{Body, ChunkRecord, Manifest};
use swarm_store::layout;

use crate::hashing::BackgroundHasher;
use crate::progress::Observer;
use crate::{EngineError, Swarm, cpu};

/// Chunks being encoded or uploaded at once; with the reader's buffer this bounds memory.
pub const CHUNKS_IN_FLIGHT: usize = 3;

#[derive(Debug, Clone, Default, Serialize)]
pub struct PutReport {
    pub key: String,
    pub size: u64,
    pub chunks: usize,
    pub shards_written: usize,
    /// Shards that were already in the swarm (an unchanged chunk, or a rerun).
    pub shards_reused: usize,
    pub bytes_written: u64,
    pub manifest_copies: usize,
}

#[derive(Default)]
struct ChunkStats {
    written: usize,
    reused: usize,
    bytes: u64,
}

impl Swarm {
    /// Stores a file under `key`, or under its SHA256E key when `key` is `None`.
    pub async fn put(
        &self,
        source: &Path,
        key: Option<Key>,
        obs: &dyn Observer,
    ) -> Result<PutReport, EngineError> {
        let file_err = |e| EngineError::File {
            path: source.display().to_string(),
            source: e,
        };
        let meta = std::fs::metadata(source).map_err(file_err)?;
        if !meta.is_file() {
            return Err(EngineError::Refused(format!(
                "{}: not a regular file",
                source.display()
            )));
        }
        let size = meta.len();
        if let Some(k) = &key
            && let Some(ks) = k.size()
            && ks != size
        {
            return Err(EngineError::Mismatch {
                key: k.to_string(),
                detail: format!("key says {ks} bytes, file has {size}"),
            });
        }
        let hasher = match &key {
            Some(k) => k.hasher(),
            None => Backend::sha256e().hasher(),
        };
        obs.start("put", size);
        let report = if size < self.definition().coding.inline_threshold.0 {
            self.put_inline(source, key, hasher, obs).await
        } else {
            self.put_chunked(source, key, hasher, size, obs).await
        };
        obs.finish();
        report
    }

    async fn put_inline(
        &self,
        source: &Path,
        key: Option<Key>,
        hasher: Option<KeyHasher>,
        obs: &dyn Observer,
    ) -> Result<PutReport, EngineError> {
        let path = source.to_owned();
        let (data, digest) = cpu(move || -> std::io::Result<_> {
            let data = std::fs::read(&path)?;
            let digest = hasher.map(|mut h| {
                h.update(&data);
                h.finalize()
            });
            Ok((data, digest))
        })
        .await
        .map_err(|e| EngineError::File {
            path: source.display().to_string(),
            source: e,
        })?;
        let size = data.len() as u64;
        let key = finish_key(key, digest.as_deref(), size, source)?;
        let manifest = Manifest {
            key: key.as_bytes().to_vec(),
            size,
            body: Body::Inline(Bytes::from(data)),
        };
        let copies = self.write_manifest(&manifest).await?;
        obs.advance(size);
        Ok(PutReport {
            key: key.to_string(),
            size,
            manifest_copies: copies,
            bytes_written: size * copies as u64,
            ..Default::default()
        })
    }

    async fn put_chunked(
        &self,
        source: &Path,
        key: Option<Key>,
        hasher: Option<KeyHasher>,
        size: u64,
        obs: &dyn Observer,
    ) -> Result<PutReport, EngineError> {
        let file = std::fs::File::open(source).map_err(|e| EngineError::File {
            path: source.display().to_string(),
            source: e,
        })?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(1);
        let chunker = self.chunker();
        let reader = tokio::task::spawn_blocking(move || {
            let mut read = 0u64;
            for chunk in chunker.stream(file) {
                let failed = chunk.is_err();
                if let Ok(c) = &chunk {
                    read += c.len() as u64;
                }
                if tx.blocking_send(chunk).is_err() || failed {
                    break;
                }
            }
            read
        });
        let key_hash = BackgroundHasher::spawn(hasher);
        let mut chunks = Vec::new();
        let mut stats = ChunkStats::default();
        {
            let feeder = &key_hash;
            let incoming =
                futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).then(|chunk| async move {
                    if let Ok(c) = &chunk {
                        feeder.feed(c.clone()).await;
                    }
                    chunk
                });
            let stored = incoming
                .map(|chunk| async move {
                    let chunk = chunk.map_err(|e| EngineError::File {
                        path: source.display().to_string(),
                        source: e,
                    })?;
                    self.store_chunk(chunk).await
                })
                .buffered(CHUNKS_IN_FLIGHT);
            let mut stored = std::pin::pin!(stored);
            while let Some(done) = stored.next().await {
                let (record, s) = done?;
                obs.advance(u64::from(record.len));
                stats.written += s.written;
                stats.reused += s.reused;
                stats.bytes += s.bytes;
                chunks.push(record);
            }
        }
        let read = reader
            .await
            .map_err(|e| EngineError::Refused(format!("reader failed: {e}")))?;
        let digest = key_hash.finish().await;
        if read != size {
            return Err(EngineError::Refused(format!(
                "{} changed while it was being stored ({size} bytes, then {read})",
                source.display()
            )));
        }
        let key = finish_key(key, digest.as_deref(), size, source)?;
        let manifest = Manifest {
            key: key.as_bytes().to_vec(),
            size,
            body: Body::Chunked {
                chunker: self.chunker(),
                coding: self.coding(),
                chunks,
            },
        };
        let copies = self.write_manifest(&manifest).await?;
        let chunks = match &manifest.body {
            Body::Chunked { chunks, .. } => chunks.len(),
            Body::Inline(_) => 0,
        };
        Ok(PutReport {
            key: key.to_string(),
            size,
            chunks,
            shards_written: stats.written,
            shards_reused: stats.reused,
            bytes_written: stats.bytes,
            manifest_copies: copies,
        })
    }

    /// Encodes one chunk and puts each shard on its store (or a spare store when that one is down
    /// or refuses).
    async fn store_chunk(&self, chunk: Bytes) -> Result<(ChunkRecord, ChunkStats), EngineError> {
        let coding = self.coding();
        let len = chunk.len();
        let (id, shards, hashes) = cpu(move || -> Result<_, EngineError> {
            let id = Hash32::of(&chunk);
            let shards = coding
                .encode(&chunk)
                .map_err(|e| EngineError::Refused(e.to_string()))?;
            let hashes: Vec<Hash32> = if coding.k() == 1 {
                vec![id; shards.len()]
            } else {
                shards.iter().map(|s| Hash32::of(s)).collect()
            };
            Ok((id, shards, hashes))
        })
        .await?;
        let total = coding.total();
        let places = self.chunk_places(&id, total);
        let mut stats = ChunkStats::default();
        let (shards_ref, hashes_ref) = (&shards, &hashes);
        let first = join_all(
            places
                .preferred
                .iter()
                .enumerate()
                .map(|(i, &store)| async move {
                    match store {
                        Some(s) => self.place_shard(s, &shards_ref[i], hashes_ref[i]).await,
                        None => Err(format!("no store for shard {i}")),
                    }
                }),
        )
        .await;
        let mut spares = places.spares.iter().copied().filter(|&s| self.up(s));
        let mut errors = Vec::new();
        for (i, outcome) in first.into_iter().enumerate() {
            let mut outcome = outcome;
            loop {
                match outcome {
                    Ok(Placed::Written) => {
                        stats.written += 1;
                        stats.bytes += shards[i].len() as u64;
                        break;
                    }
                    Ok(Placed::Reused) => {
                        stats.reused += 1;
                        break;
                    }
                    Err(e) => {
                        errors.push(e);
                        let Some(spare) = spares.next() else {
                            return Err(EngineError::NotEnoughStores {
                                what: format!(
                                    "shard {i} of chunk {} ({len} bytes)",
                                    id.to_hex().get(..16).unwrap_or_default()
                                ),
                                detail: format!(
                                    "k + m = {total} distinct stores are needed; {}",
                                    self.down_summary(&errors)
                                ),
                            });
                        };
                        outcome = self.place_shard(spare, &shards[i], hashes[i]).await;
                    }
                }
            }
        }
        let len =
            u32::try_from(len).map_err(|_| EngineError::Refused("chunk over 4 GiB".into()))?;
        Ok((
            ChunkRecord {
                id,
                len,
                shards: hashes,
            },
            stats,
        ))
    }

    async fn place_shard(
        &self,
        store: usize,
        data: &Bytes,
        hash: Hash32,
    ) -> Result<Placed, String> {
        if self.slots()[store].down.is_some() {
            return Err(format!("{}: unavailable", self.name(store)));
        }
        let path = layout::shard_path(&hash);
        let s = self.store(store);
        if let Ok(Some(meta)) = s.stat(&path).await
            && meta.size == data.len() as u64
        {
            // Fresh mtime tells a concurrent gc that a new manifest is about to need it.
            s.touch(&path).await.map_err(|e| e.to_string())?;
            return Ok(Placed::Reused);
        }
        self.write_within_quota(store, &path, data.clone()).await?;
        Ok(Placed::Written)
    }
}

enum Placed {
    Written,
    Reused,
}

/// The key to store under: the given one once its digest checks out, else a new SHA256E key.
fn finish_key(
    key: Option<Key>,
    digest: Option<&str>,
    size: u64,
    source: &Path,
) -> Result<Key, EngineError> {
    match key {
        Some(k) => {
            if let Some(d) = digest {
                k.check_digest(d).map_err(|e| EngineError::Mismatch {
                    key: k.to_string(),
                    detail: e.to_string(),
                })?;
            }
            Ok(k)
        }
        None => {
            let digest = digest.ok_or_else(|| EngineError::Refused("no digest computed".into()))?;
            // The name's bytes, as git-annex takes them: a Latin-1 extension is kept.
            let name = source.file_name().map_or(&[][..], |n| n.as_encoded_bytes());
            Ok(Key::from_content(Backend::sha256e(), digest, size, name)?)
        }
    }
}
