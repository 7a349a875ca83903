//! BitTorrent sources for annex-swarm: magnet links and .torrent files downloaded natively with
//! librqbit, for the CLI (`annex-swarm torrent get`) and the special remote (CLAIMURL, CHECKURL,
//! TRANSFER RETRIEVE). The front ends decide what to print; this crate never prints.
//!
//! Layers: `source` is pure (what a URL names); `client` owns the librqbit session (the only
//! part that touches the network); the front ends place completed files where they belong.

pub mod client;
pub mod error;
pub mod source;

pub use client::{Client, Metainfo, Options, Progress, TorrentFile, Transfer};
pub use error::TorrentError;
pub use source::{Magnet, Source};
