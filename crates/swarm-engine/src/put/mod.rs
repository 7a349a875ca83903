//! put: bytes -> chunks -> shards on stores -> manifest.
//!
//! A blocking thread reads the source once and cuts chunks; the key's hash is computed beside
//! (on the CPU pool); up to [`CHUNKS_IN_FLIGHT`] chunks are encoded (on the CPU pool) and
//! uploaded at once. Shards already in the swarm are not written again, only touched so `gc`
//! spares them. The manifest goes last: until it is written the key does not exist for
//! readers. The source is a file ([`Swarm::put`]) or any byte stream ([`Swarm::put_stream`]).

mod source;

use std::path::Path;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde::Serialize;
use swarm_core::ids::Hash32;
use swarm_core::key::{Backend, Key, KeyHasher};
use swarm_core::manifest::{Body, ChunkRecord, Manifest};
use tokio::io::AsyncRead;

use crate::hashing::KeyHashing;
use crate::placer::{Placed, ShardToPlace};
use crate::pool::{cpu, file};
use crate::progress::{Event, Observer};
use crate::swarm::Members;
use crate::{EngineError, Swarm};

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
    /// Parity shards left for the nodes to make (super-seeding: the definition has
    /// `full_copies`, and their stores are nodes').
    pub shards_left_to_nodes: usize,
    pub bytes_written: u64,
    pub manifest_copies: usize,
}

/// Where a put's bytes come from, once opened.
enum Input {
    File(std::fs::File),
    Stream(source::StreamReader),
}

impl std::io::Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::File(f) => f.read(buf),
            Input::Stream(s) => s.read(buf),
        }
    }
}

/// How to name what is stored and how to tell what went wrong.
struct Naming<'a> {
    key: Option<Key>,
    /// For a new SHA256E key's extension: the name's bytes, as git-annex takes them (a
    /// Latin-1 extension is kept).
    name: &'a [u8],
    /// For messages: the file's path, or "the stream".
    what: String,
}

impl Swarm {
    /// Stores a file under `key`, or under its SHA256E key when `key` is `None`.
    pub async fn put(
        &self,
        source: &Path,
        key: Option<Key>,
        obs: &dyn Observer,
    ) -> Result<PutReport, EngineError> {
        check_key_fits(key.as_ref())?;
        let path = source.to_owned();
        let opened = file(move || {
            let f = std::fs::File::open(&path)?;
            let meta = f.metadata()?;
            Ok::<_, std::io::Error>((f, meta))
        })
        .await
        .map_err(|e| EngineError::File {
            path: source.to_owned(),
            source: e,
        })?;
        let (f, meta) = opened;
        let _lock = self.writing("put").await?;
        if !meta.is_file() {
            return Err(EngineError::Refused(format!(
                "{}: not a regular file",
                source.display()
            )));
        }
        let name = source.file_name().map_or(&[][..], |n| n.as_encoded_bytes());
        let naming = Naming {
            key,
            name,
            what: source.display().to_string(),
        };
        let members = self.members();
        let size = meta.len();
        check_size(&naming, size)?;
        obs.event(Event::Started {
            op: "put",
            total: size,
        });
        let report = if size < members.definition().coding.inline_threshold.0 {
            let path = source.to_owned();
            let data = file(move || std::fs::read(path))
                .await
                .map_err(|e| EngineError::File {
                    path: source.to_owned(),
                    source: e,
                })?;
            self.put_inline(&members, Bytes::from(data), naming, obs)
                .await
        } else {
            self.put_chunked(&members, Input::File(f), Some(size), naming, obs)
                .await
        };
        obs.event(Event::Finished);
        report
    }

    /// Stores the bytes `reader` yields, under `key` (checked against them; its size too, if
    /// it has one), or under a SHA256E key whose extension comes from `name` when `key` is
    /// `None`. Memory stays bounded whatever the stream's length.
    pub async fn put_stream<R>(
        &self,
        mut reader: R,
        key: Option<Key>,
        name: &str,
        obs: &dyn Observer,
    ) -> Result<PutReport, EngineError>
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        check_key_fits(key.as_ref())?;
        let _lock = self.writing("put").await?;
        let members = self.members();
        let threshold = members.definition().coding.inline_threshold.0 as usize;
        let stream_err = |e| EngineError::Stream {
            what: "reading the stream to store",
            source: e,
        };
        let (prefix, ended) = source::read_prefix(&mut reader, threshold)
            .await
            .map_err(stream_err)?;
        let naming = Naming {
            key,
            name: name.as_bytes(),
            what: "the stream".into(),
        };
        let total = naming.key.as_ref().and_then(Key::size).unwrap_or(0);
        obs.event(Event::Started { op: "put", total });
        let report = if ended && prefix.len() < threshold {
            check_size(&naming, prefix.len() as u64)?;
            self.put_inline(&members, prefix, naming, obs).await
        } else {
            let input = Input::Stream(source::bridge(prefix, reader));
            self.put_chunked(&members, input, None, naming, obs).await
        };
        obs.event(Event::Finished);
        report
    }

    async fn put_inline(
        &self,
        members: &Members,
        data: Bytes,
        naming: Naming<'_>,
        obs: &dyn Observer,
    ) -> Result<PutReport, EngineError> {
        let hasher = hasher_for(&naming);
        let hashed = data.clone();
        let digest = cpu(move || {
            hasher.map(|mut h| {
                h.update(&hashed);
                h.finalize()
            })
        })
        .await;
        let size = data.len() as u64;
        let key = finish_key(naming, digest.as_deref(), size)?;
        let manifest = Manifest {
            key: key.as_bytes().to_vec(),
            size,
            body: Body::Inline(data),
        };
        let copies =
            members.write_manifest(&manifest, &[]).await? + members.tell_holders(&manifest).await;
        obs.event(Event::Advanced(size));
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
        members: &Members,
        input: Input,
        size: Option<u64>,
        naming: Naming<'_>,
        obs: &dyn Observer,
    ) -> Result<PutReport, EngineError> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(1);
        let chunker = members.chunker();
        // The chunker is stepped on the blocking pool one chunk at a time: a thread parked on a
        // full channel for the whole put would hold a blocking slot (and, under a paused test
        // clock, stop time) while the uploads it waits for need it.
        let mut chunks = chunker.stream(input);
        let reader = tokio::spawn(async move {
            let mut read = 0u64;
            loop {
                let (next, back) = file(move || {
                    let next = chunks.next();
                    (next, chunks)
                })
                .await;
                chunks = back;
                let Some(chunk) = next else { break };
                let failed = chunk.is_err();
                if let Ok(c) = &chunk {
                    read += c.len() as u64;
                }
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
            read
        });
        let key_hash = KeyHashing::spawn(hasher_for(&naming));
        let read_err = |e| match &naming.what {
            w if w == "the stream" => EngineError::Stream {
                what: "reading the stream to store",
                source: e,
            },
            w => EngineError::File {
                path: w.into(),
                source: e,
            },
        };
        let mut chunks = Vec::new();
        let mut stats = Placed::default();
        let mut in_flight = FuturesOrdered::new();
        let mut input_open = true;
        let seed = !self.all_shards();
        while input_open || !in_flight.is_empty() {
            tokio::select! {
                chunk = rx.recv(), if input_open && in_flight.len() < CHUNKS_IN_FLIGHT => {
                    match chunk {
                        Some(Ok(c)) => {
                            key_hash.feed(c.clone()).await;
                            in_flight.push_back(store_chunk(members, c, seed));
                        }
                        Some(Err(e)) => return Err(read_err(e)),
                        None => input_open = false,
                    }
                }
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    let (record, placed): (ChunkRecord, Placed) = done?;
                    obs.event(Event::Advanced(u64::from(record.len)));
                    stats.written += placed.written;
                    stats.reused += placed.reused;
                    stats.bytes += placed.bytes;
                    stats.left += placed.left;
                    chunks.push(record);
                }
            }
        }
        let read = reader
            .await
            .map_err(|e| EngineError::Internal(format!("the reader stopped: {e}")))?;
        let digest = key_hash.finish().await?;
        if let Some(size) = size
            && read != size
        {
            return Err(EngineError::Refused(format!(
                "{} changed while it was being stored ({size} bytes, then {read})",
                naming.what
            )));
        }
        check_size(&naming, read)?;
        let key = finish_key(naming, digest.as_deref(), read)?;
        let manifest = Manifest {
            key: key.as_bytes().to_vec(),
            size: read,
            body: Body::Chunked {
                chunker: members.chunker(),
                coding: members.coding(),
                chunks,
            },
        };
        let copies =
            members.write_manifest(&manifest, &[]).await? + members.tell_holders(&manifest).await;
        let chunks = match &manifest.body {
            Body::Chunked { chunks, .. } => chunks.len(),
            Body::Inline(_) => 0,
        };
        Ok(PutReport {
            key: key.to_string(),
            size: read,
            chunks,
            shards_written: stats.written,
            shards_reused: stats.reused,
            shards_left_to_nodes: stats.left,
            bytes_written: stats.bytes,
            manifest_copies: copies,
        })
    }
}

/// Encodes one chunk and places its shards; with `seed`, not those the nodes will make.
async fn store_chunk(
    members: &Members,
    chunk: Bytes,
    seed: bool,
) -> Result<(ChunkRecord, Placed), EngineError> {
    let coding = members.coding();
    let len = chunk.len();
    let (id, shards, hashes) = cpu(move || -> Result<_, EngineError> {
        let id = Hash32::of(&chunk);
        let shards = coding
            .encode(&chunk)
            .map_err(|e| EngineError::Internal(format!("erasure coding: {e}")))?;
        let hashes: Vec<Hash32> = if coding.k() == 1 {
            vec![id; shards.len()]
        } else {
            shards.iter().map(|s| Hash32::of(s)).collect()
        };
        Ok((id, shards, hashes))
    })
    .await?;
    let places = members.chunk_places(&id, coding.total());
    let (to_place, left): (Vec<ShardToPlace>, Vec<ShardToPlace>) = shards
        .into_iter()
        .zip(&hashes)
        .enumerate()
        .map(|(index, (data, &hash))| ShardToPlace { index, data, hash })
        .partition(|s| !(seed && members.left_to_nodes(&places, s.index)));
    let mut placed = members
        .place(&id, len, coding.total(), &to_place, &[], true)
        .await?;
    placed.left = left.len();
    let len = u32::try_from(len)
        .map_err(|_| EngineError::Internal(format!("a chunk of {len} bytes (over 4 GiB)")))?;
    Ok((
        ChunkRecord {
            id,
            len,
            shards: hashes,
        },
        placed,
    ))
}

fn hasher_for(naming: &Naming<'_>) -> Option<KeyHasher> {
    match &naming.key {
        Some(k) => k.hasher(),
        None => Backend::sha256e().hasher(),
    }
}

/// A key too long for a manifest is refused before anything is stored (it used to be refused
/// only when its manifest was written, after every shard had been uploaded).
fn check_key_fits(key: Option<&Key>) -> Result<(), EngineError> {
    match key {
        Some(k) if k.as_bytes().len() > usize::from(u16::MAX) => {
            Err(EngineError::Refused(format!(
                "a key of {} bytes cannot be stored: a manifest holds keys of at most 65535",
                k.as_bytes().len()
            )))
        }
        _ => Ok(()),
    }
}

/// A key that names a size must be given content of that size.
fn check_size(naming: &Naming<'_>, size: u64) -> Result<(), EngineError> {
    if let Some(k) = &naming.key
        && let Some(ks) = k.size()
        && ks != size
    {
        return Err(EngineError::Mismatch {
            key: k.to_string(),
            detail: format!("key says {ks} bytes, {} has {size}", naming.what),
        });
    }
    Ok(())
}

/// The key to store under: the given one once its digest checks out, else a new SHA256E key.
fn finish_key(naming: Naming<'_>, digest: Option<&str>, size: u64) -> Result<Key, EngineError> {
    match naming.key {
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
            let digest =
                digest.ok_or_else(|| EngineError::Internal("no digest computed".into()))?;
            Ok(Key::from_content(
                Backend::sha256e(),
                digest,
                size,
                naming.name,
            )?)
        }
    }
}
