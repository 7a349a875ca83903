//! What a node moved over the wire, counted where the bytes cross it: the writes peers make to
//! its store and the reads it answers (as a server), and the reads and writes its own rounds
//! make to other nodes (as a client), the latter paced by the same rate links as the former. The status page shows the totals and their recent speed;
//! the super-seeding benchmark checks each node received about one file's worth.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use swarm_store::decorate::Link;

use serde::Serialize;
use tokio::sync::Notify;

/// A node's byte counters, its rates, and the signal that a peer stored a manifest here.
#[derive(Debug, Default)]
pub struct Traffic {
    /// The node's upload and download rates: the same links pace what it serves and what its
    /// own rounds move, so all its traffic together stays within them.
    upload: Option<Arc<Link>>,
    download: Option<Arc<Link>>,
    served_in: AtomicU64,
    served_out: AtomicU64,
    fetched: AtomicU64,
    pushed: AtomicU64,
    /// Woken when a peer writes a manifest to this node: a key is new or changed, so the node
    /// replicates and repairs now rather than at its next round.
    manifest: Notify,
}

/// The counters at one moment, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TrafficReport {
    /// Received in all: `served_in` + `fetched`.
    pub received: u64,
    /// Sent in all: `served_out` + `pushed`.
    pub sent: u64,
    /// Shard and manifest bytes peers wrote to this node.
    pub served_in: u64,
    /// Bytes this node sent answering peers' reads.
    pub served_out: u64,
    /// Bytes this node's rounds read from other nodes.
    pub fetched: u64,
    /// Bytes this node's rounds wrote to other nodes.
    pub pushed: u64,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Traffic {
    /// Counters for a node whose traffic goes through these links (none: unlimited).
    pub fn with_rates(upload: Option<Arc<Link>>, download: Option<Arc<Link>>) -> Self {
        Traffic {
            upload,
            download,
            ..Traffic::default()
        }
    }

    /// Waits for `len` received bytes' turn on the download link.
    pub async fn pace_in(&self, len: u64) {
        if let Some(l) = &self.download {
            l.pass(len).await;
        }
    }

    /// Waits for `len` sent bytes' turn on the upload link.
    pub async fn pace_out(&self, len: u64) {
        if let Some(l) = &self.upload {
            l.pass(len).await;
        }
    }

    pub fn served_in(&self, n: u64) {
        add(&self.served_in, n);
    }

    pub fn served_out(&self, n: u64) {
        add(&self.served_out, n);
    }

    pub fn fetched(&self, n: u64) {
        add(&self.fetched, n);
    }

    pub fn pushed(&self, n: u64) {
        add(&self.pushed, n);
    }

    /// A peer stored a manifest here.
    pub fn manifest_arrived(&self) {
        self.manifest.notify_one();
    }

    /// Waits until a peer stores a manifest here (at once if one did since the last wait).
    pub async fn manifest_wait(&self) {
        self.manifest.notified().await;
    }

    pub fn report(&self) -> TrafficReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let (served_in, served_out) = (get(&self.served_in), get(&self.served_out));
        let (fetched, pushed) = (get(&self.fetched), get(&self.pushed));
        TrafficReport {
            received: served_in + fetched,
            sent: served_out + pushed,
            served_in,
            served_out,
            fetched,
            pushed,
        }
    }
}
