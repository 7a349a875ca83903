//! Finding nodes without a tracker: the BitTorrent mainline DHT, when the definition's `[dht]`
//! says so (`docs/spec/dht-record-v1.md`). A node publishes a BEP 44 mutable item signed by its
//! own key, salted with its swarm id: where it listens and which definition it holds. Anyone
//! knowing the key and the swarm finds it; nobody else can write it.
//!
//! [`Finder`] is an iroh address lookup: a dial to a node whose address is not known asks the
//! DHT (iroh calls [`AddressLookup::resolve`]), so peer stores, definition exchanges and
//! `node status` reach nodes found this way with no code of their own. The DHT socket is bound
//! to the address it is given (127.0.0.1 in tests, with a local testnet as bootstrap: the
//! public routers are contacted only when the definition names no bootstrap node).

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::{Stream, StreamExt};
use iroh::address_lookup::{AddressLookup, EndpointData, EndpointInfo, Error as LookupError, Item};
use iroh::{EndpointId, TransportAddr};
use mainline::async_dht::AsyncDht;
use mainline::{Dht, MutableItem, SigningKey};
use swarm_core::definition::SwarmDefinition;
use swarm_core::ids::SwarmId;
use swarm_wire::{NodeRecord, record_salt};
use tokio::sync::Notify;

use crate::identity::{NodeId, NodeSecret};

/// How often a node publishes its record again when nothing changed (BEP 44 items live about
/// two hours on the nodes that store them).
pub const REPUBLISH_EVERY: Duration = Duration::from_secs(30 * 60);
/// How long a failed publication waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long a lookup waits for more recent items after the first arrives.
pub const SETTLE: Duration = Duration::from_millis(300);
/// What iroh is told found an address.
const PROVENANCE: &str = "annex-swarm-dht";

/// Why the DHT could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum DhtError {
    #[error("cannot start the DHT on {bind}: {source}")]
    Start {
        bind: Ipv4Addr,
        source: std::io::Error,
    },
}

/// How to join the DHT: the definition's bootstrap nodes and the local address to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhtOptions {
    /// `host:port` of the nodes to join through (IPv4 only); empty: the DHT's public routers.
    pub bootstrap: Vec<String>,
    /// The IPv4 address the DHT's UDP socket binds (port chosen by the system).
    pub bind: Ipv4Addr,
}

impl DhtOptions {
    /// The DHT `def` asks for, bound to `bind`; `None` when its `[dht]` is absent or disabled.
    /// IPv6 bootstrap addresses are left out (the DHT implementation speaks IPv4 only).
    pub fn of(def: &SwarmDefinition, bind: Ipv4Addr) -> Option<Self> {
        let dht = def.dht.as_ref().filter(|d| d.enabled)?;
        let bootstrap = dht
            .bootstrap
            .iter()
            .filter(|b| {
                let v6 = b.starts_with('[');
                if v6 {
                    tracing::warn!("DHT bootstrap {b}: IPv6 is not supported, left out");
                }
                !v6
            })
            .cloned()
            .collect();
        Some(DhtOptions { bootstrap, bind })
    }

    /// Whether every bootstrap node is on loopback (a process then needs no other address).
    pub fn is_loopback(&self) -> bool {
        !self.bootstrap.is_empty()
            && self
                .bootstrap
                .iter()
                .all(|b| b.parse::<SocketAddr>().is_ok_and(|a| a.ip().is_loopback()))
    }
}

/// A node's own record and when it last changed.
#[derive(Debug)]
struct Published {
    record: NodeRecord,
    seq: i64,
}

#[derive(Debug)]
struct Publisher {
    key: SigningKey,
    salt: Vec<u8>,
    record: Mutex<Published>,
    changed: Notify,
}

#[derive(Debug)]
struct Inner {
    dht: AsyncDht,
    salt: Vec<u8>,
    publisher: Option<Arc<Publisher>>,
    /// The publishing task, ended with the last handle.
    publishing: Option<tokio::task::AbortHandle>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = &self.publishing {
            task.abort();
        }
    }
}

/// A handle on the DHT for one swarm: finds nodes' records and, for a node, publishes its own.
#[derive(Debug, Clone)]
pub struct Finder {
    inner: Arc<Inner>,
}

impl Finder {
    /// Joins the DHT. With `secret` (a node), publishes that key's record from now on, once it
    /// has addresses ([`Finder::announce`]); the publishing task ends with the last handle.
    pub fn start(
        options: &DhtOptions,
        swarm: SwarmId,
        secret: Option<&NodeSecret>,
    ) -> Result<Self, DhtError> {
        let mut builder = Dht::builder();
        builder.bind_address(options.bind).port(0);
        if !options.bootstrap.is_empty() {
            builder.bootstrap(&options.bootstrap);
        }
        let dht = builder
            .build()
            .map_err(|source| DhtError::Start {
                bind: options.bind,
                source,
            })?
            .as_async();
        let salt = record_salt(swarm.0);
        let publisher = secret.map(|s| {
            Arc::new(Publisher {
                key: s.signing_key(),
                salt: salt.clone(),
                record: Mutex::new(Published {
                    record: NodeRecord {
                        addrs: Vec::new(),
                        definition_version: 0,
                        definition_hash: [0; 32],
                    },
                    seq: 0,
                }),
                changed: Notify::new(),
            })
        });
        let publishing = publisher
            .clone()
            .map(|p| tokio::spawn(publish_loop(dht.clone(), p)).abort_handle());
        Ok(Finder {
            inner: Arc::new(Inner {
                dht,
                salt,
                publisher,
                publishing,
            }),
        })
    }

    /// The record `node` publishes for this swarm, if the DHT has one; a value that is not a
    /// record is logged and taken as none. The most recent item among those that arrive within
    /// [`SETTLE`] of the first (a query runs until its slowest DHT node answers or times out).
    pub async fn find(&self, node: NodeId) -> Option<NodeRecord> {
        let mut items = self
            .inner
            .dht
            .get_mutable(node.as_bytes(), Some(&self.inner.salt), None);
        let mut best = items.next().await?;
        let settle = tokio::time::sleep(SETTLE);
        tokio::pin!(settle);
        loop {
            tokio::select! {
                item = items.next() => match item {
                    Some(i) if i.seq() > best.seq() => best = i,
                    Some(_) => {}
                    None => break,
                },
                _ = &mut settle => break,
            }
        }
        match NodeRecord::decode(best.value()) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(peer = %node, "its DHT record: {e}");
                None
            }
        }
    }

    /// What this node publishes: where it listens (unspecified addresses are left out) and
    /// the definition it holds. Publishes again at once when anything changed.
    pub fn announce(&self, addrs: Option<Vec<SocketAddr>>, definition: Option<(u64, [u8; 32])>) {
        let Some(p) = &self.inner.publisher else {
            return;
        };
        let mut held = p.record.lock().unwrap_or_else(|e| e.into_inner());
        let mut record = held.record.clone();
        if let Some(addrs) = addrs {
            record.addrs = addrs
                .into_iter()
                .filter(|a| !a.ip().is_unspecified())
                .take(swarm_wire::MAX_RECORD_ADDRS)
                .collect();
        }
        if let Some((version, hash)) = definition {
            record.definition_version = version;
            record.definition_hash = hash;
        }
        if record != held.record {
            held.record = record;
            p.changed.notify_one();
        }
    }

    /// The UDP address of this process's DHT node (tests check it is on loopback).
    pub async fn local_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.inner.dht.info().await.local_addr())
    }
}

impl NodeSecret {
    /// The key as the DHT signs with it (the same ed25519 key).
    fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.to_iroh().to_bytes())
    }
}

/// Publishes the node's record when it changes and every [`REPUBLISH_EVERY`].
async fn publish_loop(dht: AsyncDht, p: Arc<Publisher>) {
    loop {
        let wait = match publish_once(&dht, &p).await {
            Ok(()) => REPUBLISH_EVERY,
            Err(e) => {
                tracing::debug!("publishing the DHT record: {e}");
                RETRY_AFTER
            }
        };
        tokio::select! {
            _ = p.changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Publishes the record, once it has addresses.
async fn publish_once(dht: &AsyncDht, p: &Publisher) -> Result<(), String> {
    let (value, seq) = {
        let mut held = p.record.lock().unwrap_or_else(|e| e.into_inner());
        if held.record.addrs.is_empty() {
            return Ok(());
        }
        let value = held.record.encode().map_err(|e| e.to_string())?;
        // Later than anything this key published before, across restarts: the clock in
        // milliseconds, or one past the last when the clock has not moved.
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        held.seq = now.max(held.seq + 1);
        (value, held.seq)
    };
    let item = MutableItem::new(p.key.clone(), &value, seq, Some(&p.salt));
    dht.put_mutable(item, None)
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!(seq, "published the DHT record");
    Ok(())
}

impl AddressLookup for Finder {
    fn publish(&self, data: &EndpointData) {
        let addrs: Vec<SocketAddr> = data.ip_addrs().copied().collect();
        if !addrs.is_empty() {
            self.announce(Some(addrs), None);
        }
    }

    fn resolve(
        &self,
        endpoint_id: EndpointId,
    ) -> Option<Pin<Box<dyn Stream<Item = Result<Item, LookupError>> + Send + 'static>>> {
        let node = NodeId::from_bytes(endpoint_id.as_bytes()).ok()?;
        let finder = self.clone();
        let found = async move {
            let record = finder.find(node).await?;
            tracing::debug!(peer = %node, addrs = ?record.addrs, "found in the DHT");
            let data = EndpointData::from_iter(record.addrs.into_iter().map(TransportAddr::Ip));
            let info = EndpointInfo::from_parts(endpoint_id, data);
            Some(Ok(Item::new(info, PROVENANCE, None)))
        };
        Some(
            futures::stream::once(found)
                .filter_map(std::future::ready)
                .boxed(),
        )
    }
}
