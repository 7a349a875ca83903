//! What can go wrong with a torrent, each naming what it is about.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum TorrentError {
    #[error("`{source_text}` is not a torrent source: {why}")]
    BadSource { source_text: String, why: String },
    #[error(
        "`{0}` is BitTorrent v2 only (BEP 52: a urn:btmh hash, no v1 pieces); this client downloads v1 and hybrid torrents"
    )]
    V2Only(String),
    #[error("{what} is not a valid .torrent file: {why}")]
    BadTorrent { what: String, why: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {why}")]
    Io { what: String, why: std::io::Error },
    #[error("cannot start the BitTorrent session: {0}")]
    Session(String),
    #[error("{source_text}: no metadata within {after:?} (no peer or tracker answered)")]
    MetadataTimeout {
        source_text: String,
        after: Duration,
    },
    #[error("{name}: no progress for {after:?} ({peers} peers connected, {done} of {total} bytes)")]
    Stalled {
        name: String,
        after: Duration,
        peers: usize,
        done: u64,
        total: u64,
    },
    #[error("{name}: no file `{path}` in this torrent")]
    NoSuchFile { name: String, path: String },
    #[error("{name}: file {index} does not exist (the torrent has {count} files)")]
    NoSuchIndex {
        name: String,
        index: usize,
        count: usize,
    },
    #[error("{name}: unsafe file path `{path}` in the torrent (absolute or with `..`)")]
    UnsafePath { name: String, path: String },
    #[error(
        "piece length {0}: a torrent's pieces are a power of two of at least 16 KiB, one hash each"
    )]
    BadPieceLength(u32),
    #[error("`{name}` cannot name a torrent: {why}")]
    BadName { name: String, why: String },
    #[error("`{0}` is empty: a torrent needs at least one byte")]
    Empty(String),
    #[error("{0}")]
    Engine(String),
}

impl TorrentError {
    /// librqbit's errors are `anyhow` chains: kept as one line of text.
    pub(crate) fn engine(e: anyhow::Error) -> TorrentError {
        TorrentError::Engine(format!("{e:#}"))
    }
}
