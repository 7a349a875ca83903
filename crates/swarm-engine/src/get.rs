//! get: manifest -> shards from every store at once -> verified chunks -> a destination.
//!
//! The scheduler in [`crate::fetch`] pulls shards from all stores that hold useful ones, races
//! late requests and drops stores that fail or hang; chunks come back verified and in order.
//! They go to the destination while the key's hash is computed beside. A file destination
//! ([`Swarm::get`]) is built as a temporary file beside it and renamed only once the key's hash
//! matches, so it never holds a partial or wrong object; a byte sink ([`Swarm::get_to`]) gets
//! chunks as they are verified, and the key's hash is checked at the end.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use swarm_core::key::Key;
use swarm_core::manifest::{Body, Manifest};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::fetch::plan::Tuning;
use crate::fetch::{Chunks, FetchItem, StoreReport};
use crate::hashing::KeyHashing;
use crate::pool::file;
use crate::progress::{Event, Observer};
use crate::restore::Restored;
use crate::swarm::Members;
use crate::{EngineError, Swarm};

/// Pieces queued for a file writer.
const WRITE_QUEUE: usize = 8;

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
    /// Bytes received and not used, over all stores.
    pub wasted_bytes: u64,
    /// What each store did: bytes, speed, waste, and why it was dropped if it was.
    pub stores: Vec<StoreReport>,
}

/// Where restored bytes go.
trait Sink: Send {
    fn put(&mut self, piece: Bytes) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn finish(self) -> impl Future<Output = Result<(), EngineError>> + Send;
}

impl Swarm {
    /// Restores `key` into the file `dest`.
    pub async fn get(
        &self,
        key: &Key,
        dest: &Path,
        obs: &dyn Observer,
    ) -> Result<GetReport, EngineError> {
        let file_err = |e| EngineError::File {
            path: dest.to_owned(),
            source: e,
        };
        // A directory (or anything but a file) in the way is refused before any download.
        let there = dest.to_owned();
        if let Ok(m) = file(move || std::fs::symlink_metadata(there)).await
            && !m.is_file()
        {
            return Err(file_err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a plain file",
            )));
        }
        let members = self.members();
        let mut copies = Candidates::new(members.read_manifest(key.as_bytes()).await?);
        while let Some(manifest) = copies.next() {
            match self.get_with(&members, key, &manifest, dest, obs).await {
                Err(e) if e.is_restore_failure() => copies.failed(&members, key, e).await,
                other => return other,
            }
        }
        Err(copies.into_error(key))
    }

    /// Restores `key` as `manifest` says into `dest`.
    async fn get_with(
        &self,
        members: &Members,
        key: &Key,
        manifest: &Manifest,
        dest: &Path,
        obs: &dyn Observer,
    ) -> Result<GetReport, EngineError> {
        let file_err = |e| EngineError::File {
            path: dest.to_owned(),
            source: e,
        };
        check_manifest(key, manifest)?;
        let part = temp_path(dest);
        let opened = {
            let part = part.clone();
            file(move || create_part(&part)).await
        };
        let out = FileSink::start(opened.map_err(file_err)?);
        let guard = PartFile(Some(part.clone()));
        obs.event(Event::Started {
            op: "get",
            total: manifest.size,
        });
        let result = self.deliver(members, key, manifest, out, obs).await;
        obs.event(Event::Finished);
        let report = result.map_err(|e| match e {
            // The temporary file is ours; name what the user asked for.
            EngineError::File { source, .. } => file_err(source),
            other => other,
        })?;
        let to = dest.to_owned();
        file(move || std::fs::rename(part, to))
            .await
            .map_err(file_err)?;
        guard.keep();
        Ok(report)
    }

    /// Restores `key` into `sink`: chunks are written as they arrive, each checked against its
    /// BLAKE3; the key's own hash is checked at the end (an error then means the bytes written
    /// must not be trusted).
    pub async fn get_to<W>(
        &self,
        key: &Key,
        sink: W,
        obs: &dyn Observer,
    ) -> Result<GetReport, EngineError>
    where
        W: AsyncWrite + Send + Unpin,
    {
        let members = self.members();
        let mut copies = Candidates::new(members.read_manifest(key.as_bytes()).await?);
        let mut sink = sink;
        while let Some(manifest) = copies.next() {
            let mut written = 0;
            let result = match check_manifest(key, &manifest) {
                Ok(()) => {
                    obs.event(Event::Started {
                        op: "get",
                        total: manifest.size,
                    });
                    let out = AsyncSink {
                        out: &mut sink,
                        written: &mut written,
                    };
                    let result = self.deliver(&members, key, &manifest, out, obs).await;
                    obs.event(Event::Finished);
                    result
                }
                Err(e) => Err(e),
            };
            match result {
                // Another copy is tried only while the sink has nothing of this one.
                Err(e) if written == 0 && e.is_restore_failure() => {
                    copies.failed(&members, key, e).await
                }
                other => return other,
            }
        }
        Err(copies.into_error(key))
    }

    /// Fetches every chunk of `manifest` into `sink`, hashing for the key beside, and checks
    /// the size and the key's hash at the end.
    async fn deliver(
        &self,
        members: &Members,
        key: &Key,
        manifest: &Manifest,
        mut sink: impl Sink,
        obs: &dyn Observer,
    ) -> Result<GetReport, EngineError> {
        let key_hash = KeyHashing::spawn(key.hasher());
        let mut report = GetReport {
            key: key.to_string(),
            size: manifest.size,
            ..Default::default()
        };
        let mut written = 0u64;
        match &manifest.body {
            Body::Inline(data) => {
                key_hash.feed(data.clone()).await;
                sink.put(data.clone()).await?;
                written += data.len() as u64;
                obs.event(Event::Advanced(data.len() as u64));
            }
            Body::Chunked {
                chunker,
                coding,
                chunks,
            } => {
                report.chunks = chunks.len();
                let holders = members.holder_ids(key.as_bytes(), None);
                let items = chunks
                    .iter()
                    .map(|record| FetchItem {
                        record: record.clone(),
                        coding: *coding,
                        avoid: Vec::new(),
                        holders: Arc::clone(&holders),
                    })
                    .collect();
                // Restored chunks come back in order; the window bounds how many wait.
                let (chunk_tx, mut chunk_rx) = mpsc::channel::<Restored>(2);
                let key_name = key.to_string();
                let fetching = self.fetch(
                    members,
                    &key_name,
                    Chunks::All(items),
                    chunk_tx,
                    obs,
                    Tuning::for_chunks(chunker.max_chunk()),
                );
                let consuming = async {
                    while let Some(chunk) = chunk_rx.recv().await {
                        for piece in chunk.pieces {
                            let n = piece.len() as u64;
                            key_hash.feed(piece.clone()).await;
                            sink.put(piece).await?;
                            written += n;
                            obs.event(Event::Advanced(n));
                        }
                    }
                    Ok::<_, EngineError>(())
                };
                // A failing destination ends the fetch too (and the other way round).
                let (summary, ()) = tokio::try_join!(fetching, consuming)?;
                report.chunks_decoded = summary.chunks_decoded;
                report.problems = summary.problems;
                report.shards_read = summary.stores.iter().map(|s| s.requests as usize).sum();
                report.wasted_bytes = summary.stores.iter().map(|s| s.wasted_bytes).sum();
                report.stores = summary.stores;
            }
        }
        sink.finish().await?;
        let digest = key_hash.finish().await?;
        if written != manifest.size {
            return Err(EngineError::Mismatch {
                key: key.to_string(),
                detail: format!("restored {written} bytes, manifest says {}", manifest.size),
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
}

fn check_manifest(key: &Key, manifest: &Manifest) -> Result<(), EngineError> {
    if let Some(ks) = key.size()
        && ks != manifest.size
    {
        return Err(EngineError::Mismatch {
            key: key.to_string(),
            detail: format!("manifest says {} bytes, key says {ks}", manifest.size),
        });
    }
    Ok(())
}

/// A file written by a thread of its own (big sequential writes, off the reactor).
struct FileSink {
    tx: Option<mpsc::Sender<Bytes>>,
    writer: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl FileSink {
    fn start(out: std::fs::File) -> Self {
        let (tx, mut rx) = mpsc::channel::<Bytes>(WRITE_QUEUE);
        let writer = tokio::task::spawn_blocking(move || {
            let mut out = out;
            while let Some(piece) = rx.blocking_recv() {
                out.write_all(&piece)?;
            }
            out.flush()
        });
        FileSink {
            tx: Some(tx),
            writer,
        }
    }

    /// The writer's error, once it has stopped.
    async fn failure(self) -> EngineError {
        match self.writer.await {
            Ok(Err(e)) => EngineError::File {
                path: PathBuf::new(),
                source: e,
            },
            Ok(Ok(())) => EngineError::Internal("the file writer stopped early".into()),
            Err(e) => EngineError::Internal(format!("the file writer failed: {e}")),
        }
    }
}

impl Sink for FileSink {
    async fn put(&mut self, piece: Bytes) -> Result<(), EngineError> {
        let sent = match &self.tx {
            Some(tx) => tx.send(piece).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The writer stopped: its error says why (a full disk).
        self.tx = None;
        let dead = std::mem::replace(
            self,
            FileSink {
                tx: None,
                writer: tokio::spawn(async { Ok(()) }),
            },
        );
        Err(dead.failure().await)
    }

    async fn finish(mut self) -> Result<(), EngineError> {
        drop(self.tx.take());
        match (&mut self.writer).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(EngineError::File {
                path: PathBuf::new(),
                source: e,
            }),
            Err(e) => Err(EngineError::Internal(format!(
                "the file writer failed: {e}"
            ))),
        }
    }
}

/// A byte sink, counting what it was given.
struct AsyncSink<'a, W> {
    out: &'a mut W,
    written: &'a mut u64,
}

impl<W: AsyncWrite + Send + Unpin> Sink for AsyncSink<'_, W> {
    async fn put(&mut self, piece: Bytes) -> Result<(), EngineError> {
        *self.written += piece.len() as u64;
        self.out
            .write_all(&piece)
            .await
            .map_err(|e| EngineError::Stream {
                what: "writing the restored object",
                source: e,
            })
    }

    async fn finish(self) -> Result<(), EngineError> {
        self.out.flush().await.map_err(|e| EngineError::Stream {
            what: "writing the restored object",
            source: e,
        })
    }
}

/// The manifest copies a get tries: the first valid one in ranking order; when it cannot be
/// restored, every other copy that says something else (a lying copy never wins by ranking
/// first, and costs nothing while no copy fails).
struct Candidates {
    /// Copies still to try, the next last.
    next: Vec<Manifest>,
    current: Option<Manifest>,
    tried: Vec<Manifest>,
    failures: Vec<EngineError>,
    conflict: Option<String>,
}

impl Candidates {
    fn new(first: Manifest) -> Self {
        Candidates {
            next: vec![first],
            current: None,
            tried: Vec::new(),
            failures: Vec::new(),
            conflict: None,
        }
    }

    fn next(&mut self) -> Option<Manifest> {
        self.current = self.next.pop();
        self.current.clone()
    }

    /// The copy last taken failed with `e`. After the first failure every copy is read, and
    /// those that differ from it are tried in turn.
    async fn failed(&mut self, members: &Members, key: &Key, e: EngineError) {
        self.failures.push(e);
        self.tried.extend(self.current.take());
        if self.failures.len() == 1 {
            let copies = members.manifest_copies(key.as_bytes()).await;
            self.conflict = copies.conflict(members);
            let tried = &self.tried;
            let mut others: Vec<Manifest> = copies
                .candidates()
                .filter(|m| !tried.contains(m))
                .cloned()
                .collect();
            others.reverse();
            self.next = others;
        }
    }

    /// The error when no copy restored the key: the one failure when there was one copy.
    fn into_error(mut self, key: &Key) -> EngineError {
        if self.failures.len() == 1
            && let Some(e) = self.failures.pop()
        {
            return e;
        }
        let failures: Vec<String> = self.failures.iter().map(|e| e.to_string()).collect();
        EngineError::Unrestorable {
            key: key.to_string(),
            detail: format!(
                "{}; no copy restores it: {}",
                self.conflict.unwrap_or_default(),
                failures.join("; ")
            ),
        }
    }
}

/// The output being built; removed unless kept, also when the get is dropped half-way (Ctrl-C).
struct PartFile(Option<PathBuf>);

impl PartFile {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            // Dropped on the reactor: one unlink, not worth a thread.
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A hidden temporary file beside `dest` (so the final rename stays on one filesystem), named
/// from the destination's bytes (two destinations never share one, even when they differ only
/// in a byte that is not UTF-8) and a random part no one can guess.
fn temp_path(dest: &Path) -> PathBuf {
    let mut random = [0u8; 8];
    if getrandom::fill(&mut random).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        random = t.to_le_bytes();
    }
    let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(dest.file_name().unwrap_or("object".as_ref()));
    tmp.push(format!(".annex-swarm-{random}.part"));
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

/// Creates the part file: it must not exist (not even as a link someone planted), and no link is
/// followed.
fn create_part(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    /// Issue 11, item 3: the part file was `.NAME.annex-swarm-PID.part`, created with a plain
    /// create: whoever could write DEST's directory and guess the PID made a get write through
    /// a link. Its name is now unguessable, it is created exclusively, and links are refused.
    #[test]
    fn the_part_file_is_unguessable_and_never_written_through_a_link() {
        let a = temp_path(Path::new("dir/out.iso"));
        let b = temp_path(Path::new("dir/out.iso"));
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".out.iso.annex-swarm-") && name.ends_with(".part"),
            "{name}"
        );
        // Destinations differing only in a byte that is not UTF-8 get their own.
        let x = temp_path(Path::new(std::ffi::OsStr::from_bytes(b"x.\xe9")));
        assert!(
            x.as_os_str()
                .as_bytes()
                .starts_with(b".x.\xe9.annex-swarm-")
        );

        let t = tempfile::tempdir().unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let planted = t.path().join("planted.part");
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(create_part(&planted).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(create_part(&t.path().join("fresh.part")).is_ok());
        assert!(
            create_part(&t.path().join("fresh.part")).is_err(),
            "not exclusive"
        );
    }
}
