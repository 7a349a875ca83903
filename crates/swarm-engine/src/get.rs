//! get: manifest -> shards from every store at once -> verified chunks -> DEST.
//!
//! The scheduler in [`crate::fetch`] pulls shards from all stores that hold useful ones, in
//! proportion to their speed, races late requests and drops stores that fail or hang; chunks
//! come back verified and in order. A writer thread writes them while another hashes them for
//! the key. The output is built in a temporary file beside DEST and renamed only once the key's
//! hash matches, so DEST never holds a partial or wrong object.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Serialize;
use swarm_core::key::Key;
use swarm_core::manifest::{Body, Manifest};

use crate::fetch::StoreReport;
use crate::fetch::plan::Tuning;
use crate::hashing::BackgroundHasher;
use crate::progress::Observer;
use crate::{EngineError, Swarm};

/// Pieces queued for the writer thread.
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

impl Swarm {
    /// Restores `key` into `dest`.
    pub async fn get(
        &self,
        key: &Key,
        dest: &Path,
        obs: &dyn Observer,
    ) -> Result<GetReport, EngineError> {
        let manifest = self.read_manifest(key.as_bytes()).await?;
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
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
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
                Body::Chunked {
                    chunker,
                    coding,
                    chunks,
                } => {
                    report.chunks = chunks.len();
                    // Restored chunks come back in order; the window bounds how many wait.
                    let (chunk_tx, mut chunk_rx) = tokio::sync::mpsc::channel::<Vec<Bytes>>(2);
                    let key_name = key.to_string();
                    let fetching = self.fetch_chunks(
                        &key_name,
                        *coding,
                        chunks,
                        chunk_tx,
                        obs,
                        Tuning::for_chunks(chunker.max_chunk()),
                    );
                    let consuming = async {
                        while let Some(pieces) = chunk_rx.recv().await {
                            for piece in pieces {
                                obs.advance(piece.len() as u64);
                                key_hash.feed(piece.clone()).await;
                                tx.send(piece).await.map_err(|_| writer_gone())?;
                            }
                        }
                        Ok::<_, EngineError>(())
                    };
                    let (fetched, consumed) = tokio::join!(fetching, consuming);
                    let summary = fetched?;
                    consumed?;
                    report.chunks_decoded = summary.chunks_decoded;
                    report.problems = summary.problems;
                    report.shards_read = summary.stores.iter().map(|s| s.requests as usize).sum();
                    report.wasted_bytes = summary.stores.iter().map(|s| s.wasted_bytes).sum();
                    report.stores = summary.stores;
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
}

fn writer_gone() -> EngineError {
    EngineError::Refused("output writer stopped".into())
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

/// A hidden temporary file beside `dest`, so the final rename stays on one filesystem. Built
/// from the name's bytes: two destinations must never share one (git-annex retrieves into
/// `.git/annex/tmp/KEY`, and keys may differ only in a byte that is not UTF-8).
fn temp_path(dest: &Path) -> PathBuf {
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(dest.file_name().unwrap_or("object".as_ref()));
    tmp.push(format!(".annex-swarm-{}.part", std::process::id()));
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(tmp),
        _ => PathBuf::from(tmp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The temporary name was made with `to_string_lossy`, so destinations differing only in a
    /// byte that is not UTF-8 (keys from Latin-1 extensions) shared one part file.
    #[test]
    fn destinations_that_differ_in_a_latin1_byte_get_their_own_part_file() {
        use std::os::unix::ffi::OsStrExt;
        let a = temp_path(Path::new(std::ffi::OsStr::from_bytes(b"tmp/x.\xe9")));
        let b = temp_path(Path::new(std::ffi::OsStr::from_bytes(b"tmp/x.\xe8")));
        assert_ne!(a, b);
        let pid = std::process::id();
        let want = [
            &b"tmp/.x.\xe9"[..],
            format!(".annex-swarm-{pid}.part").as_bytes(),
        ]
        .concat();
        assert_eq!(a.as_os_str().as_bytes(), &want[..]);
        assert_eq!(
            temp_path(Path::new("out.iso")),
            PathBuf::from(format!(".out.iso.annex-swarm-{pid}.part"))
        );
    }
}
