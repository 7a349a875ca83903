//! `node run` seeding what the definition's `[seed]` lists for this node, as `annex-swarm seed`
//! would (`crate::seeder`), for as long as the node runs.
//!
//! Each round (every [`ROUND_EVERY`]) looks at the definition the node holds then, with the
//! node's `node.toml` applied (`NodeLocal::seed_plan`): keys listed and not yet seeded are
//! opened, hashed and seeded (a key not in the swarm yet, or whose stores are down, is tried
//! again next round); keys no longer listed stop; a change of listen address, upload rate, DHT
//! or trackers restarts the session. The swarm is read as the node reads it (its own store
//! local, peers through its endpoint: `Daemon::engines`). What is seeded goes to the status
//! page (`Daemon::seeds`) every round and every second between.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use swarm_core::key::Key;
use swarm_core::node_id::NodeId;
use swarm_core::node_local::{NodeLocal, SeedPlan};
use swarm_engine::Swarm;
use swarm_node::replicate::NodeEngines;
use swarm_node::spread::Keeper;
use swarm_node::status::{SeedReport, Seeds};
use swarm_torrent::{Client, Options};
use tokio::task::JoinHandle;

use crate::seeder::Seeded;

/// How often the definition is looked at and keys not seeded yet are tried again.
pub const ROUND_EVERY: Duration = Duration::from_secs(2);
/// Bytes of checked pieces kept per key (as `seed --cache`'s default).
const CACHE: u64 = 64 << 20;

/// The seeding task of a node; stops (and its session with it) when dropped.
pub struct NodeSeeder(JoinHandle<()>);

impl Drop for NodeSeeder {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts seeding for the node `me` of `daemon`, with its `node.toml`.
pub fn start(daemon: &swarm_node::Daemon, local: NodeLocal, me: NodeId) -> NodeSeeder {
    let state = State {
        me,
        local,
        keeper: Arc::clone(&daemon.keeper),
        engines: daemon.engines(),
        board: Arc::clone(&daemon.seeds),
        session: None,
        engine: None,
    };
    NodeSeeder(tokio::spawn(state.run()))
}

struct State {
    me: NodeId,
    local: NodeLocal,
    keeper: Arc<Keeper>,
    engines: NodeEngines,
    board: Arc<Seeds>,
    session: Option<Session>,
    /// The engine over the definition version it was opened for.
    engine: Option<(u64, Swarm)>,
}

/// One librqbit session and what it seeds.
struct Session {
    /// What it was started for: another plan's options restart it.
    options: (Option<SocketAddr>, Option<u64>, bool, Vec<String>),
    client: Client,
    seeded: HashMap<Key, Seeded>,
    /// Keys that could not be seeded at their last try, and why.
    failed: HashMap<Key, String>,
    _scratch: tempfile::TempDir,
}

impl State {
    async fn run(mut self) {
        loop {
            self.round().await;
            for _ in 0..ROUND_EVERY.as_secs().max(1) {
                self.publish();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    async fn round(&mut self) {
        let def = self.keeper.definition();
        let Some(plan) = self.local.seed_plan(&def, &self.me) else {
            self.stop().await;
            return;
        };
        let options = (
            plan.listen,
            plan.upload_rate.map(|r| r.0),
            plan.dht,
            plan.trackers.clone(),
        );
        if self.session.as_ref().is_some_and(|s| s.options != options) {
            tracing::info!("seeding: the plan's session settings changed; restarting");
            self.stop().await;
        }
        if self.session.is_none() {
            match start_session(&plan).await {
                Ok((client, scratch)) => {
                    tracing::info!(listen = ?client.listen_addr(), "seeding session started");
                    self.session = Some(Session {
                        options,
                        client,
                        seeded: HashMap::new(),
                        failed: HashMap::new(),
                        _scratch: scratch,
                    });
                }
                Err(e) => {
                    tracing::warn!("seeding: cannot start a session: {e:#}");
                    return;
                }
            }
        }
        let (version, _) = self.keeper.version();
        let swarm = match &self.engine {
            Some((v, s)) if *v == version => s.clone(),
            _ => match self.engines.open(&def).await {
                Ok(s) => {
                    self.engine = Some((version, s.clone()));
                    s
                }
                Err(e) => {
                    tracing::warn!("seeding: cannot open the swarm: {e}");
                    return;
                }
            },
        };
        let Some(session) = self.session.as_mut() else {
            return;
        };
        // Keys no longer listed stop.
        let gone: Vec<Key> = session
            .seeded
            .keys()
            .filter(|k| !plan.keys.contains(k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(s) = session.seeded.remove(&k) {
                tracing::info!(key = %k, "no longer listed: stopped seeding");
                s.seeding.stop().await;
            }
        }
        session.failed.retain(|k, _| plan.keys.contains(k));
        for key in &plan.keys {
            if session.seeded.contains_key(key) {
                continue;
            }
            match seed_one(&session.client, &swarm, key, &plan.trackers).await {
                Ok(s) => {
                    tracing::info!(key = %key, magnet = %s.magnet, "seeding");
                    session.failed.remove(key);
                    session.seeded.insert(key.clone(), s);
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    if session.failed.get(key) != Some(&why) {
                        tracing::warn!(key = %key, "cannot seed yet (tried again every {ROUND_EVERY:?}): {why}");
                    }
                    session.failed.insert(key.clone(), why);
                }
            }
        }
    }

    async fn stop(&mut self) {
        if let Some(s) = self.session.take() {
            for (_, seeded) in s.seeded {
                seeded.seeding.stop().await;
            }
            s.client.stop().await;
        }
        self.board.set(Vec::new());
    }

    /// Tells the status page what is seeded now.
    fn publish(&self) {
        let Some(s) = &self.session else {
            return;
        };
        let mut reports: Vec<SeedReport> = s
            .seeded
            .values()
            .map(|x| {
                let st = x.status();
                SeedReport {
                    key: x.key.to_string(),
                    info_hash: Some(st.info_hash),
                    magnet: Some(x.magnet.clone()),
                    uploaded: st.uploaded,
                    swarm_read: st.swarm_read,
                    peers: st.peers,
                    error: st.error,
                }
            })
            .collect();
        reports.extend(s.failed.iter().map(|(k, why)| SeedReport {
            key: k.to_string(),
            info_hash: None,
            magnet: None,
            uploaded: 0,
            swarm_read: 0,
            peers: 0,
            error: Some(why.clone()),
        }));
        reports.sort_by(|a, b| a.key.cmp(&b.key));
        self.board.set(reports);
    }
}

/// A seeding session as the plan says: DHT only when both the definition and `node.toml` allow
/// it, LSD and UPnP off, listening where `node.toml` says (else anywhere, a port chosen now).
async fn start_session(plan: &SeedPlan) -> Result<(Client, tempfile::TempDir)> {
    let upload_limit = match plan.upload_rate {
        Some(r) => Some(
            u32::try_from(r.bytes_per_sec())
                .ok()
                .and_then(NonZeroU32::new)
                .context("seed upload_rate: between 1 B/s and 4 GiB/s")?,
        ),
        None => None,
    };
    let options = Options {
        dht: plan.dht,
        listen: Some(
            plan.listen
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
        ),
        upnp: false,
        lsd: false,
        upload_limit,
        ..Options::default()
    };
    let scratch = tempfile::Builder::new()
        .prefix("annex-swarm-node-seed.")
        .tempdir()
        .context("cannot make a scratch directory")?;
    let client = Client::start_seeding(options, scratch.path()).await?;
    Ok((client, scratch))
}

/// One key opened, hashed and seeded, named after itself (as `annex-swarm seed KEY`).
async fn seed_one(
    client: &Client,
    swarm: &Swarm,
    key: &Key,
    trackers: &[String],
) -> Result<Seeded> {
    let content = crate::seeder::open(swarm, key, CACHE).await?;
    let (torrent, _) = crate::seeder::make(key, &content, &key.to_string()).await?;
    crate::seeder::seed(client, key.clone(), content, torrent, trackers).await
}
