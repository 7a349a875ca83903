//! Seeding content that is not a local file: librqbit reads pieces through a [`Content`]
//! (the caller's byte source, e.g. an object of the swarm read range by range) and never
//! writes. Nothing here knows where the bytes live.
//!
//! librqbit calls storage synchronously (`pread_exact`, 16 KiB blocks, inside
//! `block_in_place` behind its blocking semaphore), so [`Content::read_at`] is synchronous
//! too: an implementation over async I/O blocks on its runtime's handle, which a
//! multi-thread runtime allows there.
//!
//! Adding a torrent normally hashes every piece through the storage, which for a seeder of
//! swarm content would read the whole object from the stores again right after it was hashed
//! to make the torrent. librqbit 9.1 skips that when its fastresume store holds the torrent's
//! have-bitfield (`<infohash>.bitv` in its JSON persistence folder): it then checks one piece
//! per file and a random sample of the rest (about five pieces) and trusts the bitfield. So
//! [`Client::seed`] writes an all-ones bitfield there first (the session must have been
//! started by [`Client::start_seeding`]). That persistence refuses storages other than its
//! own file storage, so [`ContentStorageFactory`] answers librqbit's `is_type_id` question
//! for that type too: the only thing librqbit asks it for (checked in 9.1).

use std::any::TypeId;
use std::path::Path;
use std::sync::Arc;

use librqbit::storage::filesystem::FilesystemStorageFactory;
use librqbit::storage::{BoxStorageFactory, StorageFactory, StorageFactoryExt, TorrentStorage};
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse, ManagedTorrent, Session};
use librqbit::{ManagedTorrentShared, TorrentMetadata};

use crate::client::Client;
use crate::create::TorrentV1;
use crate::error::TorrentError;

/// Bytes to seed, read at any offset.
pub trait Content: Send + Sync + 'static {
    /// Length in bytes.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()` (always within `len`).
    /// Called from librqbit's blocking threads.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ContentError>;
}

/// Why content could not be read: the implementation's own error, as text.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ContentError(pub String);

/// librqbit storage over a [`Content`]: one file, read-only.
#[derive(Clone)]
pub struct ContentStorageFactory {
    content: Arc<dyn Content>,
}

impl ContentStorageFactory {
    pub fn new(content: Arc<dyn Content>) -> ContentStorageFactory {
        ContentStorageFactory { content }
    }
}

impl StorageFactory for ContentStorageFactory {
    type Storage = ContentStorage;

    fn create(
        &self,
        _shared: &ManagedTorrentShared,
        metadata: &TorrentMetadata,
    ) -> anyhow::Result<ContentStorage> {
        let files = metadata.file_infos.len();
        let len = metadata.lengths().total_length();
        if files != 1 || len != self.content.len() {
            anyhow::bail!(
                "seeded content is one file of {} bytes; the torrent has {files} files, {len} bytes",
                self.content.len()
            );
        }
        Ok(ContentStorage {
            content: self.content.clone(),
        })
    }

    /// Also "yes" for librqbit's file storage: its JSON persistence, which holds the
    /// fastresume bitfield, accepts no other (see the module doc).
    fn is_type_id(&self, type_id: TypeId) -> bool {
        type_id == TypeId::of::<Self>() || type_id == TypeId::of::<FilesystemStorageFactory>()
    }

    fn clone_box(&self) -> BoxStorageFactory {
        self.clone().boxed()
    }
}

/// One torrent's storage: reads go to the content, writes are refused.
#[derive(Clone)]
pub struct ContentStorage {
    content: Arc<dyn Content>,
}

impl TorrentStorage for ContentStorage {
    fn init(
        &mut self,
        _shared: &ManagedTorrentShared,
        _metadata: &TorrentMetadata,
    ) -> anyhow::Result<()> {
        Ok(())
    }

    fn pread_exact(&self, file_id: usize, offset: u64, buf: &mut [u8]) -> anyhow::Result<()> {
        let end = offset.checked_add(buf.len() as u64);
        if file_id != 0 || end.is_none_or(|e| e > self.content.len()) {
            anyhow::bail!(
                "read of {} bytes at {offset} of file {file_id}: outside the content",
                buf.len()
            );
        }
        self.content.read_at(offset, buf)?;
        Ok(())
    }

    fn pwrite_all(&self, _file_id: usize, _offset: u64, _buf: &[u8]) -> anyhow::Result<()> {
        anyhow::bail!("seeded content is read-only")
    }

    fn remove_file(&self, _file_id: usize, _filename: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn remove_directory_if_empty(&self, _path: &Path) -> anyhow::Result<()> {
        Ok(())
    }

    fn ensure_file_length(&self, _file_id: usize, length: u64) -> anyhow::Result<()> {
        if length != self.content.len() {
            anyhow::bail!(
                "seeded content has {} bytes, not {length}",
                self.content.len()
            );
        }
        Ok(())
    }

    fn take(&self) -> anyhow::Result<Box<dyn TorrentStorage>> {
        Ok(Box::new(self.clone()))
    }
}

/// The fastresume bitfield of a torrent whose every piece is held: one bit per piece, most
/// significant first, the unused bits of the last byte zero.
pub fn all_pieces_bitfield(pieces: usize) -> Vec<u8> {
    let mut bits = vec![0xffu8; pieces.div_ceil(8)];
    if let (Some(last), r @ 1..) = (bits.last_mut(), pieces % 8) {
        *last = 0xff << (8 - r);
    }
    bits
}

/// One torrent being seeded.
pub struct Seeding {
    session: Arc<Session>,
    handle: Arc<ManagedTorrent>,
    info_hash: String,
}

/// A moment of a seed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedStats {
    /// Bytes of pieces sent to peers.
    pub uploaded: u64,
    /// Bytes per second, lately.
    pub upload_speed: u64,
    /// Peers connected now, and learnt of so far.
    pub peers: u32,
    pub peers_seen: u32,
    /// Why the torrent stopped, if it did.
    pub error: Option<String>,
}

impl Client {
    /// Seeds `torrent` (the `.torrent` bytes `file`) with pieces read from `content`, without
    /// hashing the content again: returns once librqbit checked its sample and seeds.
    pub async fn seed(
        &self,
        torrent: &TorrentV1,
        file: Vec<u8>,
        content: Arc<dyn Content>,
    ) -> Result<Seeding, TorrentError> {
        let info_hash = torrent.info_hash_hex();
        if content.len() != torrent.length() {
            return Err(TorrentError::Engine(format!(
                "{}: the content has {} bytes, the torrent {}",
                torrent.name(),
                content.len(),
                torrent.length()
            )));
        }
        let Some(resume) = self.resume_dir() else {
            return Err(TorrentError::Engine(
                "this session was not started for seeding (Client::start_seeding)".into(),
            ));
        };
        let bitv = resume.join(format!("{info_hash}.bitv"));
        std::fs::write(&bitv, all_pieces_bitfield(torrent.piece_count())).map_err(|e| {
            TorrentError::Io {
                what: format!("cannot write {}", bitv.display()),
                why: e,
            }
        })?;
        let opts = AddTorrentOptions {
            storage_factory: Some(ContentStorageFactory::new(content).boxed()),
            overwrite: true,
            ..Default::default()
        };
        let session = self.session();
        let handle = add_whole(&session, file, opts, torrent.name()).await?;
        Ok(Seeding {
            session,
            handle,
            info_hash,
        })
    }
}

impl Client {
    /// Seeds a torrent whose files are on disk under `dir` (as `dir/<name>` for a single
    /// file), checked piece by piece first as librqbit does: the baseline a seeder of swarm
    /// content is measured against, and a way to seed a downloaded torrent.
    pub async fn seed_files(&self, torrent: Vec<u8>, dir: &Path) -> Result<Seeding, TorrentError> {
        let opts = AddTorrentOptions {
            output_folder: Some(dir.to_string_lossy().into_owned()),
            overwrite: true,
            ..Default::default()
        };
        let handle = add_whole(&self.session(), torrent, opts, &dir.display().to_string()).await?;
        let info_hash = handle.info_hash().as_string();
        Ok(Seeding {
            session: self.session(),
            handle,
            info_hash,
        })
    }
}

/// Adds a torrent to seed and waits until librqbit has checked it: every byte must check out
/// (`what` names it in errors).
async fn add_whole(
    session: &Arc<Session>,
    torrent: Vec<u8>,
    opts: AddTorrentOptions,
    what: &str,
) -> Result<Arc<ManagedTorrent>, TorrentError> {
    let added = session
        .add_torrent(AddTorrent::from_bytes(torrent), Some(opts))
        .await
        .map_err(TorrentError::engine)?;
    let handle = match added {
        AddTorrentResponse::Added(_, h) | AddTorrentResponse::AlreadyManaged(_, h) => h,
        AddTorrentResponse::ListOnly(_) => {
            return Err(TorrentError::Engine("seeding answered a listing".into()));
        }
    };
    handle
        .wait_until_initialized()
        .await
        .map_err(TorrentError::engine)?;
    let stats = handle.stats();
    if let Some(e) = stats.error {
        return Err(TorrentError::Engine(format!("{what}: {e}")));
    }
    if stats.progress_bytes != stats.total_bytes {
        return Err(TorrentError::Engine(format!(
            "{what}: only {} of {} bytes check out against the torrent",
            stats.progress_bytes, stats.total_bytes
        )));
    }
    Ok(handle)
}

impl Seeding {
    pub fn info_hash(&self) -> &str {
        &self.info_hash
    }

    pub fn stats(&self) -> SeedStats {
        let s = self.handle.stats();
        let mut out = SeedStats {
            uploaded: s.uploaded_bytes,
            error: s.error,
            ..Default::default()
        };
        if let Some(live) = &s.live {
            out.upload_speed = (live.upload_speed.mbps * 1024.0 * 1024.0) as u64;
            out.peers = live.snapshot.peer_stats.live;
            out.peers_seen = live.snapshot.peer_stats.seen;
        }
        out
    }

    /// Stops seeding this torrent (the content is not touched).
    pub async fn stop(self) {
        let _ = self.session.delete(self.handle.id().into(), false).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bitfields_have_one_bit_per_piece_msb_first() {
        assert_eq!(all_pieces_bitfield(1), [0x80]);
        assert_eq!(all_pieces_bitfield(7), [0xfe]);
        assert_eq!(all_pieces_bitfield(8), [0xff]);
        assert_eq!(all_pieces_bitfield(9), [0xff, 0x80]);
        assert_eq!(all_pieces_bitfield(16), [0xff, 0xff]);
    }
}
