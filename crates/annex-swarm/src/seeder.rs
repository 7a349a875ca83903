//! Keys of the swarm seeded to BitTorrent: the steps `annex-swarm seed` and `node run` (the
//! definition's `[seed]`) share. A key's object is opened ([`open`]), streamed once to make its
//! v1 torrent ([`make`]), then added to a seeding session ([`seed`]) with pieces read from the
//! stores as peers ask (`crate::swarm_content`; `docs/spec/torrent-seeding-v1.md`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use swarm_core::key::Key;
use swarm_engine::Swarm;
use swarm_torrent::{Client, Seeding, TorrentV1, piece_length_for};

use crate::swarm_content::SwarmContent;

/// A key's object, opened for seeding: `cache` bytes of checked pieces kept for peers.
pub async fn open(swarm: &Swarm, key: &Key, cache: u64) -> Result<SwarmContent> {
    let reader = swarm.object(key).await?;
    if reader.size() == 0 {
        bail!("{key}: the object is empty: a torrent needs at least one byte");
    }
    let piece_length = piece_length_for(reader.size());
    Ok(SwarmContent::new(
        reader,
        cache,
        piece_length,
        tokio::runtime::Handle::current(),
    ))
}

/// The torrent of `content` named `name` (the object streamed once), and how long it took.
pub async fn make(key: &Key, content: &SwarmContent, name: &str) -> Result<(TorrentV1, Duration)> {
    let started = Instant::now();
    let torrent = content
        .hash(name)
        .await
        .with_context(|| format!("{key}: cannot make its torrent"))?;
    Ok((torrent, started.elapsed()))
}

/// A key being seeded.
pub struct Seeded {
    pub key: Key,
    pub torrent: TorrentV1,
    pub content: SwarmContent,
    pub seeding: Seeding,
    /// The magnet: trackers, and the listener when it is a specific address.
    pub magnet: String,
    /// The `.torrent` file's bytes.
    pub file: Vec<u8>,
}

/// Adds `torrent` to `client` (started with `Client::start_seeding`), its pieces read from
/// `content`, announced to `trackers`.
pub async fn seed(
    client: &Client,
    key: Key,
    content: SwarmContent,
    torrent: TorrentV1,
    trackers: &[String],
) -> Result<Seeded> {
    let file = torrent.torrent_file(trackers);
    let seeding = client
        .seed(&torrent, file.clone(), Arc::new(content.clone()))
        .await
        .with_context(|| format!("{key}: cannot seed"))?;
    let magnet = torrent.magnet(trackers, &dialable(client));
    Ok(Seeded {
        key,
        torrent,
        content,
        seeding,
        magnet,
        file,
    })
}

/// The session's listener when peers can dial it (a specific address, not `0.0.0.0`).
pub fn dialable(client: &Client) -> Vec<SocketAddr> {
    client
        .listen_addr()
        .filter(|a| !a.ip().is_unspecified())
        .into_iter()
        .collect()
}

/// A seeded key now.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub info_hash: String,
    /// Bytes of pieces sent to peers.
    pub uploaded: u64,
    /// Bytes read from the stores to serve them (hashing not counted), and in how many reads.
    pub swarm_read: u64,
    pub swarm_reads: u64,
    /// Parts of pieces read through the checked path (a ranged read failed, or the piece's
    /// SHA-1 did not match).
    pub fallbacks: u64,
    pub peers: u32,
    pub peers_seen: u32,
    pub upload_speed: u64,
    pub error: Option<String>,
}

impl Seeded {
    pub fn status(&self) -> Status {
        let st = self.seeding.stats();
        let (swarm_read, swarm_reads) = self.content.restored();
        Status {
            info_hash: self.seeding.info_hash().to_owned(),
            uploaded: st.uploaded,
            swarm_read,
            swarm_reads,
            fallbacks: self.content.fallbacks(),
            peers: st.peers,
            peers_seen: st.peers_seen,
            upload_speed: st.upload_speed,
            error: st.error,
        }
    }
}
