//! What a running node says of itself: its definition, its store and limits, what it last heard
//! from each peer, its replication rounds and what it seeds to BitTorrent; as JSON (`/status.json`) and as a page that
//! renders that JSON (`/`), served over HTTP on the address given (`node run --status
//! 127.0.0.1:PORT`; loopback is the point: nothing here is authenticated).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::State;
use axum::response::{Html, Json};
use axum::routing::get;
use serde::Serialize;
use swarm_core::units::{ByteSize, Rate};
use swarm_store::{Class, Store};

use crate::identity::NodeId;
use crate::spread::Keeper;

/// What the node last heard from each peer (the definition exchanges).
#[derive(Debug, Default)]
pub struct Sightings(Mutex<HashMap<NodeId, Sighting>>);

#[derive(Debug, Clone)]
struct Sighting {
    at: Instant,
    reachable: bool,
    /// The version the peer holds after the exchange, when it said.
    version: Option<u64>,
    said: String,
}

impl Sightings {
    pub fn saw(&self, node: NodeId, reachable: bool, version: Option<u64>, said: String) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(
                node,
                Sighting {
                    at: Instant::now(),
                    reachable,
                    version,
                    said,
                },
            );
        }
    }

    fn get(&self, node: &NodeId) -> Option<Sighting> {
        self.0.lock().ok()?.get(node).cloned()
    }
}

/// What the node seeds to BitTorrent (the definition's `[seed]`), as the front end running
/// the seeder last told (this crate runs no BitTorrent).
#[derive(Debug, Default)]
pub struct Seeds(Mutex<Vec<SeedReport>>);

impl Seeds {
    pub fn set(&self, now: Vec<SeedReport>) {
        if let Ok(mut s) = self.0.lock() {
            *s = now;
        }
    }

    pub fn get(&self) -> Vec<SeedReport> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// One key the node seeds, or tries to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    pub key: String,
    /// Once its torrent is made and seeding.
    pub info_hash: Option<String>,
    pub magnet: Option<String>,
    /// Bytes of pieces sent to peers, and read from the stores for them.
    pub uploaded: u64,
    pub swarm_read: u64,
    pub peers: u32,
    /// Why it is not seeding (retried), or why it stopped.
    pub error: Option<String>,
}

/// The node's replication rounds.
#[derive(Debug, Default)]
pub struct Rounds(Mutex<RoundState>);

#[derive(Debug, Default, Clone)]
struct RoundState {
    last: Option<Instant>,
    rounds: u64,
    full_copies_held: usize,
    shards_copied: u64,
    bytes_copied: u64,
    shards_repaired: u64,
    last_error: Option<String>,
    /// The keys the last round looked at (as a holder or steward), by key.
    keys: Vec<KeyHealth>,
}

/// Most keys listed on the status page (a node may hold millions; the JSON says how many more).
pub const KEYS_SHOWN: usize = 500;

/// What one round did.
#[derive(Debug, Default, Clone)]
pub struct RoundOutcome {
    /// Keys this node holds whole.
    pub whole: usize,
    pub shards_copied: u64,
    pub bytes_copied: u64,
    pub shards_repaired: u64,
    pub error: Option<String>,
    /// Every key the round looked at: those this node is a holder of, and those it repaired.
    pub keys: Vec<KeyHealth>,
}

impl RoundOutcome {
    /// The entry of `key`, added if new.
    pub fn key(&mut self, key: &str) -> &mut KeyHealth {
        let at = match self.keys.iter().position(|k| k.key == key) {
            Some(at) => at,
            None => {
                self.keys.push(KeyHealth {
                    key: key.to_owned(),
                    ..KeyHealth::default()
                });
                self.keys.len() - 1
            }
        };
        &mut self.keys[at]
    }
}

/// One key as this node's last round saw it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct KeyHealth {
    pub key: String,
    /// This node is one of the key's `full_copies` holders.
    pub holder: bool,
    /// This node repaired it (it is the key's steward and shards were missing).
    pub steward: bool,
    /// As a holder: whether its copy is whole.
    pub whole: Option<bool>,
    pub shards_copied: u64,
    pub shards_repaired: u64,
    pub error: Option<String>,
}

impl Rounds {
    /// A round ended.
    pub fn ended(&self, round: RoundOutcome) {
        if let Ok(mut s) = self.0.lock() {
            s.last = Some(Instant::now());
            s.rounds += 1;
            s.full_copies_held = round.whole;
            s.shards_copied += round.shards_copied;
            s.bytes_copied += round.bytes_copied;
            s.shards_repaired += round.shards_repaired;
            s.last_error = round.error;
            s.keys = round.keys;
        }
    }

    fn state(&self) -> RoundState {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Everything the status is made from.
#[derive(Debug, Clone)]
pub struct StatusSource {
    pub me: NodeId,
    pub addr: SocketAddr,
    pub keeper: Arc<Keeper>,
    pub store: Arc<dyn Store>,
    pub store_id: String,
    pub quota: Option<ByteSize>,
    pub upload_rate: Option<Rate>,
    pub download_rate: Option<Rate>,
    pub sightings: Arc<Sightings>,
    pub rounds: Arc<Rounds>,
    pub traffic: Arc<crate::traffic::Traffic>,
    pub seeds: Arc<Seeds>,
    /// The store's last listed usage, reused for [`USAGE_FRESH`]: a page refreshes every 2 s
    /// and a node may hold millions of shards.
    pub usage: Arc<Mutex<Option<(Instant, Usage)>>>,
}

/// How long a listed usage is shown before the store is listed again.
pub const USAGE_FRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// What the store held when last listed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    shards: usize,
    manifests: usize,
    bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub node: String,
    pub name: String,
    pub address: String,
    pub swarm: String,
    pub definition_version: u64,
    pub definition_hash: String,
    pub store: StoreReport,
    pub peers: Vec<PeerReport>,
    pub replication: ReplicationReport,
    /// Bytes moved since the node started (the page shows their speed between refreshes).
    pub traffic: crate::traffic::TrafficReport,
    /// Keys seeded to BitTorrent (`[seed]`).
    pub seeding: Vec<SeedReport>,
}

#[derive(Debug, Serialize)]
pub struct StoreReport {
    pub id: String,
    pub shards: usize,
    pub manifests: usize,
    pub bytes: u64,
    pub quota: Option<u64>,
    pub upload_rate: Option<u64>,
    pub download_rate: Option<u64>,
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PeerReport {
    pub name: String,
    pub node: String,
    pub addrs: Vec<String>,
    pub reachable: Option<bool>,
    pub version: Option<u64>,
    pub seen_secs_ago: Option<f64>,
    pub said: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReplicationReport {
    pub full_copies: u16,
    pub rounds: u64,
    pub last_round_secs_ago: Option<f64>,
    pub full_copies_held: usize,
    pub shards_copied: u64,
    pub bytes_copied: u64,
    pub shards_repaired: u64,
    pub last_error: Option<String>,
    /// The keys the last round looked at (the first [`KEYS_SHOWN`]), and how many in all.
    pub keys: Vec<KeyHealth>,
    pub keys_total: usize,
}

impl StatusSource {
    /// The store's usage: listed again once the last listing is older than [`USAGE_FRESH`].
    async fn usage(&self) -> Result<Usage, String> {
        if let Ok(held) = self.usage.lock()
            && let Some((at, u)) = *held
            && at.elapsed() < USAGE_FRESH
        {
            return Ok(u);
        }
        let mut u = Usage::default();
        for class in [Class::Shards, Class::Manifests] {
            let l = self.store.list(class).await.map_err(|e| e.to_string())?;
            u.bytes += l.objects.iter().map(|o| o.meta.size).sum::<u64>();
            match class {
                Class::Shards => u.shards = l.objects.len(),
                _ => u.manifests = l.objects.len(),
            }
        }
        if let Ok(mut held) = self.usage.lock() {
            *held = Some((Instant::now(), u));
        }
        Ok(u)
    }

    /// The status now (the store's usage as last listed, at most [`USAGE_FRESH`] old).
    pub async fn report(&self) -> StatusReport {
        let def = self.keeper.definition();
        let (version, hash) = self.keeper.version();
        let name = def
            .nodes
            .iter()
            .find(|n| n.key.id.as_bytes() == self.me.as_bytes())
            .map_or_else(String::new, |n| n.name.clone());
        let mut store = StoreReport {
            id: self.store_id.clone(),
            shards: 0,
            manifests: 0,
            bytes: 0,
            quota: self.quota.map(|q| q.0),
            upload_rate: self.upload_rate.map(|r| r.0),
            download_rate: self.download_rate.map(|r| r.0),
            problem: None,
        };
        match self.usage().await {
            Ok(u) => {
                store.shards = u.shards;
                store.manifests = u.manifests;
                store.bytes = u.bytes;
            }
            Err(e) => store.problem = Some(e),
        }
        let peers = def
            .nodes
            .iter()
            .filter_map(|n| {
                let id = NodeId::from_bytes(n.key.id.as_bytes()).ok()?;
                if id == self.me {
                    return None;
                }
                let seen = self.sightings.get(&id);
                Some(PeerReport {
                    name: n.name.clone(),
                    node: id.to_string(),
                    addrs: n.addrs.clone(),
                    reachable: seen.as_ref().map(|s| s.reachable),
                    version: seen.as_ref().and_then(|s| s.version),
                    seen_secs_ago: seen.as_ref().map(|s| s.at.elapsed().as_secs_f64()),
                    said: seen.map(|s| s.said),
                })
            })
            .collect();
        let r = self.rounds.state();
        StatusReport {
            node: self.me.to_string(),
            name,
            address: self.addr.to_string(),
            swarm: def.swarm.to_string(),
            definition_version: version,
            definition_hash: hash.iter().map(|b| format!("{b:02x}")).collect(),
            store,
            peers,
            replication: ReplicationReport {
                full_copies: def.coding.full_copies,
                rounds: r.rounds,
                last_round_secs_ago: r.last.map(|t| t.elapsed().as_secs_f64()),
                full_copies_held: r.full_copies_held,
                shards_copied: r.shards_copied,
                bytes_copied: r.bytes_copied,
                shards_repaired: r.shards_repaired,
                last_error: r.last_error,
                keys_total: r.keys.len(),
                keys: r.keys.into_iter().take(KEYS_SHOWN).collect(),
            },
            traffic: self.traffic.report(),
            seeding: self.seeds.get(),
        }
    }
}

/// Why the status page could not be served.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve the status page on {addr}: {source}")]
pub struct StatusError {
    addr: SocketAddr,
    source: std::io::Error,
}

/// Serves `/` (the page) and `/status.json` on `addr`; the address bound and the serving task.
pub async fn serve(
    addr: SocketAddr,
    source: StatusSource,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), StatusError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StatusError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| StatusError { addr, source })?;
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/status.json",
            get(|State(s): State<Arc<StatusSource>>| async move { Json(s.report().await) }),
        )
        .with_state(Arc::new(source));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("status page: {e}");
        }
    });
    Ok((bound, task))
}

/// The page: static, it fetches `/status.json` every 2 s and renders it.
const PAGE: &str = include_str!("status.html");
