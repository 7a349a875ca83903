//! BitTorrent sources for annex-swarm: magnet links and .torrent files downloaded natively with
//! librqbit, for the CLI (`annex-swarm torrent get`) and the special remote (CLAIMURL, CHECKURL,
//! TRANSFER RETRIEVE). The front ends decide what to print; this crate never prints.
//!
//! Seeding (`annex-swarm seed`): `create` makes a v1 torrent of content streamed through it
//! (pure), `seed` serves pieces from a caller's [`Content`] through librqbit.
//!
//! Layers: `source`, `bencode` and `create` are pure (what a URL names, how a torrent is
//! written); `client` owns the librqbit session (the only
//! part that touches the network); the front ends place completed files where they belong.

pub mod bencode;
pub mod client;
pub mod create;
pub mod error;
pub mod seed;
pub mod source;

pub use client::{Client, Metainfo, Options, Progress, TorrentFile, Transfer};
pub use create::{PieceHasher, TorrentV1, piece_length_for};
pub use error::TorrentError;
pub use seed::{Content, ContentError, SeedStats, Seeding};
pub use source::{Magnet, Source};
