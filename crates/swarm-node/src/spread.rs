//! Signed definitions that spread without a tracker (`docs/spec/wire-v1.md`, "Definitions";
//! the rule is `docs/spec/signed-definition-v1.md`).
//!
//! A node holds one definition ([`Keeper`]): its exact bytes, signature, version and hash. It
//! takes a newer one only through [`Keeper::offer`], which applies the adoption rule (same
//! swarm, higher version, signed by an admin of the version held), persists it beside the file
//! the node was started with, and swaps the node's members. Every refusal is logged with its
//! reason, once per definition, and nothing refused is applied or passed on.
//!
//! Anti-entropy, not only broadcast: every few seconds a node greets each node its definition
//! lists with an address ([`exchange`]); whichever of the two holds the newer version hands it
//! over (the dialer fetches it with `GetDefinition` or offers its own with `OfferDefinition`), so
//! a node that was offline catches up when it is back.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use iroh::Endpoint;
use iroh::endpoint::{Connection, VarInt};
use swarm_core::definition::SwarmDefinition;
use swarm_core::signed::{self, Refusal};
use swarm_wire::codes::close;
use swarm_wire::{ALPN, Blob, Hello, Request, Response, Role as WireRole, SignedDefinition};

use crate::daemon::members_of;
use crate::dht::Finder;
use crate::identity::NodeId;
use crate::link::{Call, LinkError, PeerAddr};
use crate::membership::Membership;
use crate::status::Sightings;

/// How long one exchange with a node may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(3);

/// The definition a node holds.
#[derive(Debug, Clone)]
struct Held {
    def: SwarmDefinition,
    bytes: Vec<u8>,
    sig: Option<Vec<u8>>,
    hash: [u8; 32],
}

/// A node's definition, and how it changes.
#[derive(Debug)]
pub struct Keeper {
    held: RwLock<Held>,
    /// Where the definition is kept (its signature beside it, `.sig`); none: in memory only.
    path: Option<PathBuf>,
    members: Membership,
    /// Definitions and signatures refused already (logged once each).
    refused: Mutex<HashSet<[u8; 32]>>,
}

/// Why an offered definition was not adopted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    #[error("{0}")]
    Refused(Refusal),
    #[error("adopted but not kept: {0}")]
    Persist(String),
}

impl Keeper {
    /// The definition a node was started with (trusted as its operator gave it), kept at
    /// `path` when it changes; `members` is swapped whenever it does.
    pub fn new(
        def: SwarmDefinition,
        bytes: Vec<u8>,
        sig: Option<Vec<u8>>,
        path: Option<PathBuf>,
        members: Membership,
    ) -> Arc<Self> {
        let hash = *blake3::hash(&bytes).as_bytes();
        Arc::new(Keeper {
            held: RwLock::new(Held {
                def,
                bytes,
                sig,
                hash,
            }),
            path,
            members,
            refused: Mutex::new(HashSet::new()),
        })
    }

    fn held(&self) -> Held {
        match self.held.read() {
            Ok(h) => h.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn definition(&self) -> SwarmDefinition {
        self.held().def
    }

    /// The version and hash announced in Hellos.
    pub fn version(&self) -> (u64, [u8; 32]) {
        let h = self.held();
        (h.def.version, h.hash)
    }

    /// A Hello saying what this node holds.
    pub fn hello(&self, role: WireRole) -> Hello {
        let h = self.held();
        Hello::new(h.def.swarm.0, h.def.version, h.hash, role)
    }

    /// The definition and its signature, to hand over (`None` when it is unsigned: nobody
    /// could adopt it).
    pub fn signed(&self) -> Option<SignedDefinition> {
        let h = self.held();
        Some(SignedDefinition {
            definition: Blob::new(h.bytes).ok()?,
            signature: Blob::new(h.sig?).ok()?,
        })
    }

    /// Adopts `bytes` (signed by `sig`) if the rule allows; `from` names who offered it, for
    /// the log. Returns the version now held.
    pub fn offer(&self, bytes: &[u8], sig: &[u8], from: &str) -> Result<u64, OfferError> {
        let hash = *blake3::hash(bytes).as_bytes();
        let held = self.held();
        if hash == held.hash {
            return Ok(held.def.version);
        }
        let sig = (!sig.is_empty()).then_some(sig);
        let verdict = signed::SignedDefinition::new(bytes.to_vec(), sig)
            .and_then(|candidate| signed::adopt(&held.def, &candidate));
        let verified = match verdict {
            Ok(v) => v,
            Err(refusal) => {
                // Once per definition and signature (the same bytes may come signed otherwise).
                let offered = *blake3::Hasher::new()
                    .update(&hash)
                    .update(sig.unwrap_or_default())
                    .finalize()
                    .as_bytes();
                let first = self
                    .refused
                    .lock()
                    .map(|mut r| r.insert(offered))
                    .unwrap_or(true);
                if first {
                    tracing::warn!(from, "definition refused: {refusal}");
                }
                return Err(OfferError::Refused(refusal));
            }
        };
        if let Some(path) = &self.path {
            persist(path, bytes, sig).map_err(|e| OfferError::Persist(e.to_string()))?;
        }
        let version = verified.definition.version;
        self.members.replace(members_of(&verified.definition));
        if let Ok(mut h) = self.held.write() {
            *h = Held {
                def: verified.definition,
                bytes: bytes.to_vec(),
                sig: sig.map(<[u8]>::to_vec),
                hash,
            };
        }
        tracing::info!(
            from,
            version,
            signer = %verified.signer.name,
            "definition adopted"
        );
        Ok(version)
    }
}

impl Keeper {
    /// [`Keeper::offer`] on the blocking pool: it verifies a signature and writes files.
    pub async fn offer_blocking(
        self: &Arc<Self>,
        bytes: Vec<u8>,
        sig: Vec<u8>,
        from: String,
    ) -> Result<u64, OfferError> {
        let keeper = Arc::clone(self);
        match tokio::task::spawn_blocking(move || keeper.offer(&bytes, &sig, &from)).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(OfferError::Persist("the node is shutting down".into())),
        }
    }
}

/// Writes the definition and its signature beside each other, each replaced whole.
fn persist(path: &std::path::Path, bytes: &[u8], sig: Option<&[u8]>) -> std::io::Result<()> {
    let write = |to: PathBuf, data: &[u8]| -> std::io::Result<()> {
        let mut tmp = to.as_os_str().to_owned();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, data)?;
        std::fs::rename(&tmp, &to)
    };
    if let Some(sig) = sig {
        write(signed::sig_path(path), sig)?;
    }
    write(path.to_owned(), bytes)
}

/// What happened when two holders of a definition met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchanged {
    /// Both hold the same one.
    Same,
    /// We took theirs (the version now held).
    Took(u64),
    /// They took ours.
    Gave,
    /// They refused ours, with their reason.
    TheyRefused(String),
    /// Ours refused theirs.
    WeRefused(String),
    /// Same version, other bytes: neither adopts (an admin must publish a higher version).
    Conflict,
}

/// Greets `peer` (as a node) and hands over whichever definition is newer.
pub async fn exchange(
    endpoint: &Endpoint,
    peer: &PeerAddr,
    keeper: &Arc<Keeper>,
) -> Result<Exchanged, LinkError> {
    bounded(
        peer,
        exchange_now(endpoint, peer, keeper, WireRole::Node, false),
    )
    .await
}

/// Greets `peer` as a client and offers it our definition unless it holds the very same
/// (`definition push`: the node decides, and says why it refuses).
pub async fn offer(
    endpoint: &Endpoint,
    peer: &PeerAddr,
    keeper: &Arc<Keeper>,
) -> Result<Exchanged, LinkError> {
    bounded(
        peer,
        exchange_now(endpoint, peer, keeper, WireRole::Client, true),
    )
    .await
}

/// Greets `peer` as a client: the Hello it answers (its definition version and hash), and
/// nothing else (`node status`).
pub async fn greet(
    endpoint: &Endpoint,
    peer: &PeerAddr,
    keeper: &Arc<Keeper>,
) -> Result<Hello, LinkError> {
    bounded(peer, async {
        let (conn, theirs) = greeted(endpoint, peer, keeper.hello(WireRole::Client)).await?;
        conn.close(VarInt::from_u32(close::DONE as u32), b"done");
        Ok(theirs)
    })
    .await
}

/// A connection to `peer` on which `ours` was answered, and the answer.
async fn greeted(
    endpoint: &Endpoint,
    peer: &PeerAddr,
    ours: Hello,
) -> Result<(Connection, Hello), LinkError> {
    let node = peer.node;
    let conn = endpoint
        .connect(peer.endpoint_addr(), ALPN)
        .await
        .map_err(|e| LinkError::Unreachable {
            node,
            detail: e.to_string(),
        })?;
    let mut call = Call::open(&conn, node, &Request::Hello(ours)).await?;
    call.finish_sending();
    let theirs = match call.response().await? {
        Response::Hello(h) => h,
        _ => {
            return Err(LinkError::Protocol {
                node,
                detail: "answered Hello with something else".into(),
            });
        }
    };
    call.done();
    Ok((conn, theirs))
}

/// `f`, or the peer counts as unreachable after [`EXCHANGE_TIMEOUT`].
async fn bounded<T>(
    peer: &PeerAddr,
    f: impl std::future::Future<Output = Result<T, LinkError>>,
) -> Result<T, LinkError> {
    match tokio::time::timeout(EXCHANGE_TIMEOUT, f).await {
        Ok(r) => r,
        Err(_) => Err(LinkError::Unreachable {
            node: peer.node,
            detail: format!("no exchange within {EXCHANGE_TIMEOUT:?}"),
        }),
    }
}

async fn exchange_now(
    endpoint: &Endpoint,
    peer: &PeerAddr,
    keeper: &Arc<Keeper>,
    role: WireRole,
    always_offer: bool,
) -> Result<Exchanged, LinkError> {
    let node = peer.node;
    let ours = keeper.hello(role);
    let (conn, theirs) = greeted(endpoint, peer, ours.clone()).await?;
    let result = if theirs.definition_hash == ours.definition_hash {
        Exchanged::Same
    } else if theirs.definition_version > ours.definition_version && !always_offer {
        let mut call = Call::open(&conn, node, &Request::GetDefinition).await?;
        call.finish_sending();
        match call.response().await? {
            Response::Definition(d) => {
                call.done();
                match keeper
                    .offer_blocking(
                        d.definition.into_vec(),
                        d.signature.into_vec(),
                        format!("node {}", node.short()),
                    )
                    .await
                {
                    Ok(v) => Exchanged::Took(v),
                    Err(e) => Exchanged::WeRefused(e.to_string()),
                }
            }
            _ => {
                return Err(LinkError::Protocol {
                    node,
                    detail: "answered GetDefinition with something else".into(),
                });
            }
        }
    } else if theirs.definition_version < ours.definition_version || always_offer {
        match keeper.signed() {
            Some(d) => {
                let mut call = Call::open(&conn, node, &Request::OfferDefinition(d)).await?;
                call.finish_sending();
                match call.response().await {
                    Ok(_) => {
                        call.done();
                        Exchanged::Gave
                    }
                    Err(LinkError::Failed(f)) => Exchanged::TheyRefused(f.to_string()),
                    Err(e) => return Err(e),
                }
            }
            None => Exchanged::TheyRefused("ours is unsigned: nothing to offer".into()),
        }
    } else {
        tracing::warn!(
            peer = %node,
            version = ours.definition_version,
            "a definition of the same version with other bytes: neither adopts it"
        );
        Exchanged::Conflict
    };
    conn.close(VarInt::from_u32(close::DONE as u32), b"done");
    Ok(result)
}

/// Every `every`, exchanges definitions with each node the held definition lists (but `me`),
/// all at once: those with static addresses, and with a DHT every node (found through it).
/// With a DHT, the node's record follows the definition it holds. Runs until dropped.
pub async fn keep_exchanging(
    endpoint: Endpoint,
    keeper: Arc<Keeper>,
    me: NodeId,
    every: Duration,
    dht: Option<Finder>,
    sightings: Arc<Sightings>,
) {
    loop {
        let def = keeper.definition();
        if let Some(f) = &dht {
            f.announce(None, Some(keeper.version()));
        }
        let peers: Vec<PeerAddr> = crate::kind::node_addresses(&def)
            .into_iter()
            .filter(|(node, addrs)| *node != me && (!addrs.is_empty() || dht.is_some()))
            .map(|(node, addrs)| PeerAddr { node, addrs })
            .collect();
        let rounds = peers.iter().map(|p| {
            let (endpoint, keeper, sightings) = (&endpoint, &keeper, &sightings);
            async move {
                let ours = || Some(keeper.version().0);
                match exchange(endpoint, p, keeper).await {
                    Ok(what) => {
                        let (version, said) = match &what {
                            Exchanged::Same => (ours(), "holds the same definition".to_owned()),
                            Exchanged::Took(v) => (Some(*v), format!("gave us version {v}")),
                            Exchanged::Gave => (ours(), "took ours".to_owned()),
                            Exchanged::TheyRefused(why) => (None, format!("refused ours: {why}")),
                            Exchanged::WeRefused(why) => {
                                (None, format!("we refused theirs: {why}"))
                            }
                            Exchanged::Conflict => {
                                (None, "holds another definition of our version".to_owned())
                            }
                        };
                        if !matches!(what, Exchanged::Same) {
                            tracing::debug!(peer = %p.node, ?what, "definition exchange");
                        }
                        sightings.saw(p.node, true, version, said);
                    }
                    Err(e) => {
                        tracing::debug!(peer = %p.node, "definition exchange: {e}");
                        sightings.saw(p.node, false, None, e.to_string());
                    }
                }
            }
        });
        futures::future::join_all(rounds).await;
        tokio::time::sleep(every).await;
    }
}
