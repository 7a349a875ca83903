//! The node side of `annex-swarm/1`: serves the node's own store to the members of its swarm.
//!
//! Per connection: the dialer's Hello first (its swarm and protocol version checked), then each
//! request stream in its own task, at most [`NodeConfig::streams_per_connection`] at once. Each
//! request is checked against its requester's role, looked up again for every request (the
//! membership changes at runtime). A stream that breaks the protocol closes the connection with
//! `PROTOCOL` and a reason in the log; a requester that resets its stream (a lost race) only
//! ends that request. Never panics on what a peer sends, and never stores a write that did not
//! arrive whole, or a shard whose bytes do not hash to its name.

use std::sync::Arc;
use std::time::Duration;

use iroh::Endpoint;
use iroh::endpoint::{Connection, RecvStream, SendStream, VarInt};
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use swarm_core::ids::SwarmId;
use swarm_store::decorate::Link;
use swarm_store::{Object, Store, StoreError};
use swarm_wire::codes::{close, stream as stream_code};
use swarm_wire::{
    ALPN, Failure, Frame, Hello, Message, ObjectName, Request, RequestCheck, Response,
    Role as WireRole, SignedDefinition, Text,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

mod listing;
mod transfer;

use crate::convert::{failure_of, from_wire, meta_to_wire};
use crate::identity::NodeId;
use crate::membership::Membership;
use crate::spread::Keeper;
use crate::stream::{FrameReader, StreamError, answer};

/// The largest `Write` a node accepts by default.
pub const MAX_WRITE: u64 = 1 << 30;
/// Bytes of writes a node holds in memory at once by default, over all connections (the store
/// API takes an object whole, so a write is buffered until its end frame).
pub const WRITE_MEMORY: u64 = 1 << 30;
/// Request streams served at once per connection by default.
pub const STREAMS_PER_CONNECTION: usize = 32;
/// How long a dialer has to send its Hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refusal waits for its answer to reach the dialer before the connection closes.
const LINGER: Duration = Duration::from_secs(2);

/// What a node says of itself, and its limits.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub swarm: SwarmId,
    /// The verified definition this node holds: its version and the BLAKE3 of its bytes,
    /// announced in Hellos, and the signed bytes for `GetDefinition` (when it has them).
    pub definition_version: u64,
    pub definition_hash: [u8; 32],
    pub definition: Option<SignedDefinition>,
    /// The definition held, when it may change (a daemon): it then answers Hellos and the
    /// definition requests, and takes offered ones by the adoption rule.
    pub keeper: Option<Arc<Keeper>>,
    pub max_write: u64,
    pub write_memory: u64,
    pub streams_per_connection: usize,
    /// The node's cap on the shard and manifest bytes it sends (all peers together).
    pub upload: Option<Arc<Link>>,
    /// The same on the bytes of writes it receives.
    pub download: Option<Arc<Link>>,
    /// Where the bytes served are counted, and manifest writes told.
    pub traffic: Arc<crate::traffic::Traffic>,
}

impl NodeConfig {
    pub fn new(swarm: SwarmId, definition_version: u64, definition_hash: [u8; 32]) -> Self {
        NodeConfig {
            swarm,
            definition_version,
            definition_hash,
            definition: None,
            keeper: None,
            max_write: MAX_WRITE,
            write_memory: WRITE_MEMORY,
            streams_per_connection: STREAMS_PER_CONNECTION,
            upload: None,
            download: None,
            traffic: Arc::default(),
        }
    }
}

/// A running node: its endpoint accepting `annex-swarm/1` connections.
#[derive(Debug)]
pub struct Node {
    router: Router,
    members: Membership,
}

impl Node {
    /// Serves `store` on `endpoint` (which should have been bound with the same `members`, so
    /// that strangers are refused at the handshake) until shut down.
    pub fn serve(
        endpoint: Endpoint,
        store: Arc<dyn Store>,
        members: Membership,
        config: NodeConfig,
    ) -> Node {
        let hello = Hello::new(
            config.swarm.0,
            config.definition_version,
            config.definition_hash,
            WireRole::Node,
        );
        let service = Service {
            shared: Arc::new(Shared {
                node: NodeId::from(endpoint.id()),
                store,
                members: members.clone(),
                hello,
                // One permit a KiB, so that 4 TiB of permits fit a u32 request.
                write_memory: Semaphore::new(kib(config.write_memory) as usize),
                config,
            }),
        };
        let router = Router::builder(endpoint).accept(ALPN, service).spawn();
        Node { router, members }
    }

    pub fn id(&self) -> NodeId {
        NodeId::from(self.router.endpoint().id())
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.router.endpoint()
    }

    pub fn members(&self) -> &Membership {
        &self.members
    }

    /// Stops accepting, ends every connection and closes the endpoint.
    pub async fn shutdown(&self) {
        if let Err(e) = self.router.shutdown().await {
            tracing::warn!("node shutdown: {e}");
        }
    }
}

fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

#[derive(Debug, Clone)]
struct Service {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// This node's own id, for messages.
    node: NodeId,
    store: Arc<dyn Store>,
    members: Membership,
    hello: Hello,
    write_memory: Semaphore,
    config: NodeConfig,
}

impl ProtocolHandler for Service {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        Arc::clone(&self.shared).connection(conn).await;
        Ok(())
    }
}

/// Which bytes a read wants.
enum Read {
    Whole { max: u64 },
    Range { offset: u64, len: u64 },
}

/// Why a request stream ended early.
enum Abort {
    /// The peer broke the protocol: the connection closes with this code and reason.
    Protocol(u64, String),
    /// The peer went away or gave up (reset, stopped, connection lost): nothing to answer.
    Gone(StreamError),
}

impl From<StreamError> for Abort {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Frame(f) => {
                Abort::Protocol(f.close_code().unwrap_or(close::PROTOCOL), f.to_string())
            }
            StreamError::Encode(e) => Abort::Protocol(close::PROTOCOL, e.to_string()),
            other => Abort::Gone(other),
        }
    }
}

fn protocol(reason: impl Into<String>) -> Abort {
    Abort::Protocol(close::PROTOCOL, reason.into())
}

fn close_with(conn: &Connection, peer: &NodeId, code: u64, reason: &str) {
    tracing::warn!(peer = %peer, code, "closing connection: {reason}");
    let reason = Text::<1024>::cut(reason);
    conn.close(VarInt::from_u32(code as u32), reason.as_str().as_bytes());
}

impl Shared {
    async fn connection(self: Arc<Self>, conn: Connection) {
        let peer = NodeId::from(conn.remote_id());
        if self.members.role(&peer).is_none() {
            // The gate refuses strangers at the handshake; this is one removed since.
            close_with(
                &conn,
                &peer,
                close::NOT_MEMBER,
                "key is not a member of this node's swarm",
            );
            return;
        }
        match tokio::time::timeout(HELLO_TIMEOUT, self.hello(&conn, &peer)).await {
            Ok(Ok(())) => {}
            Ok(Err(Abort::Protocol(code, reason))) => {
                close_with(&conn, &peer, code, &reason);
                return;
            }
            Ok(Err(Abort::Gone(e))) => {
                tracing::debug!(peer = %peer, "gone before its Hello: {e}");
                return;
            }
            Err(_) => {
                close_with(&conn, &peer, close::PROTOCOL, "no Hello in time");
                return;
            }
        }
        tracing::debug!(peer = %peer, "connected");
        let slots = Arc::new(Semaphore::new(self.config.streams_per_connection));
        let mut tasks = JoinSet::new();
        loop {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let (send, recv) = match conn.accept_bi().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(peer = %peer, "connection ended: {e}");
                    break;
                }
            };
            let this = Arc::clone(&self);
            let conn = conn.clone();
            tasks.spawn(async move {
                match this.request(&peer, send, recv).await {
                    Ok(()) => {}
                    Err(Abort::Protocol(code, reason)) => close_with(&conn, &peer, code, &reason),
                    Err(Abort::Gone(e)) => tracing::debug!(peer = %peer, "request ended: {e}"),
                }
                drop(slot);
            });
            while tasks.try_join_next().is_some() {}
        }
    }

    /// Reads the dialer's Hello on the first stream and answers ours, or refuses it.
    async fn hello(&self, conn: &Connection, peer: &NodeId) -> Result<(), Abort> {
        let (mut send, recv) = conn.accept_bi().await.map_err(StreamError::Lost)?;
        let mut reader = FrameReader::<Request>::new(recv);
        let theirs = match reader.next().await {
            Ok(Some(Frame::Message(Request::Hello(h)))) => h,
            Ok(Some(other)) => {
                return Err(protocol(format!(
                    "expected a Hello, got a {}",
                    other.describe()
                )));
            }
            Ok(None) => return Err(protocol("the first stream ended without a Hello")),
            Err(StreamError::Frame(e)) => {
                if let Some(failure) = e.reply() {
                    refuse(&mut send, failure).await;
                }
                return Err(Abort::Protocol(
                    e.close_code().unwrap_or(close::PROTOCOL),
                    e.to_string(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let ours = match &self.config.keeper {
            Some(k) => k.hello(WireRole::Node),
            None => self.hello.clone(),
        };
        match ours.accept(&theirs) {
            Ok(order) => {
                tracing::debug!(peer = %peer, ?order, theirs = theirs.definition_version, "hello");
                answer(&mut send, &Response::Hello(ours)).await?;
                Ok(())
            }
            Err(e) => {
                let (code, reason) = match e {
                    swarm_wire::HelloError::Version { .. } => (close::VERSION, e.to_string()),
                    swarm_wire::HelloError::Swarm { ours, theirs } => (
                        close::SWARM,
                        format!(
                            "node {} belongs to swarm {}, not swarm {}",
                            self.node,
                            SwarmId(ours),
                            SwarmId(theirs)
                        ),
                    ),
                };
                refuse(&mut send, Failure::refused(&reason)).await;
                Err(Abort::Protocol(code, reason))
            }
        }
    }

    /// One request stream, answered in full.
    async fn request(
        &self,
        peer: &NodeId,
        mut send: SendStream,
        recv: RecvStream,
    ) -> Result<(), Abort> {
        let mut reader = FrameReader::<Request>::new(recv);
        let mut check = RequestCheck::new();
        let request = match reader.next().await {
            Ok(Some(frame)) => {
                check.check(&frame).map_err(|e| protocol(e.to_string()))?;
                match frame {
                    Frame::Message(r) => r,
                    other => {
                        return Err(protocol(format!(
                            "expected a request, got a {}",
                            other.describe()
                        )));
                    }
                }
            }
            Ok(None) => return Ok(()),
            Err(StreamError::Frame(e)) => {
                if let Some(failure) = e.reply() {
                    tracing::info!(peer = %peer, "{e}");
                    answer(&mut send, &Response::Failed(failure)).await?;
                }
                return match e.close_code() {
                    Some(code) => Err(Abort::Protocol(code, e.to_string())),
                    None => Ok(()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let role = self.members.role(peer);
        let allowed = role.is_some_and(|r| r.allows(&request));
        if !allowed {
            let reason = match role {
                Some(r) => format!("the {} role may not {}", r.name(), request_verb(&request)),
                None => "this key is no longer a member of the swarm".to_owned(),
            };
            tracing::info!(peer = %peer, "refused: {reason}");
            answer(&mut send, &Response::Failed(Failure::refused(&reason))).await?;
            reader.stop(stream_code::ANSWERED);
            return Ok(());
        }
        tracing::trace!(peer = %peer, request = request.name(), "request");
        let response = match request {
            Request::Write { object, len } => {
                return self.write(&mut send, reader, check, &object, len).await;
            }
            Request::Read { object, max } => {
                return self.read(&mut send, &object, Read::Whole { max }).await;
            }
            Request::ReadRange {
                object,
                offset,
                len,
            } => {
                return self
                    .read(&mut send, &object, Read::Range { offset, len })
                    .await;
            }
            Request::Hello(_) => Response::Failed(Failure::bad_request(
                "a Hello comes once, first on the connection",
            )),
            Request::GetDefinition => {
                let held = match &self.config.keeper {
                    Some(k) => k.signed(),
                    None => self.config.definition.clone(),
                };
                match held {
                    Some(d) => Response::Definition(d),
                    None => Response::Failed(Failure::refused(
                        "this node has no signed definition to give",
                    )),
                }
            }
            Request::OfferDefinition(d) => match &self.config.keeper {
                Some(k) => match k
                    .offer_blocking(
                        d.definition.into_vec(),
                        d.signature.into_vec(),
                        format!("member {}", peer.short()),
                    )
                    .await
                {
                    Ok(_) => Response::Done,
                    Err(e) => Response::Failed(Failure::refused(&e.to_string())),
                },
                None => Response::Failed(Failure::refused(
                    "this node does not adopt definitions from peers",
                )),
            },
            Request::Stat { object } => match self.object(&object) {
                Ok(o) => match self.store.stat(&o).await {
                    Ok(meta) => Response::Meta(meta.as_ref().map(meta_to_wire)),
                    Err(e) => self.failed(peer, "stat", &e),
                },
                Err(f) => Response::Failed(f),
            },
            Request::Touch { object } => match self.object(&object) {
                Ok(o) => done(self.store.touch(&o).await, |e| {
                    self.failed(peer, "touch", e)
                }),
                Err(f) => Response::Failed(f),
            },
            Request::Delete { object } => match self.object(&object) {
                Ok(Object::Marker) => Response::Failed(Failure::refused(
                    "a node's marker is deleted on the node only",
                )),
                Ok(o) => done(self.store.delete(&o).await, |e| {
                    self.failed(peer, "delete", e)
                }),
                Err(f) => Response::Failed(f),
            },
            Request::List {
                class,
                after,
                limit,
            } => self.list(peer, class, after, limit).await,
            Request::Create { store } => match self.same_store(store.as_str()) {
                Ok(()) => done(self.store.create().await, |e| {
                    self.failed(peer, "create", e)
                }),
                Err(f) => Response::Failed(f),
            },
            Request::Check { store } => match self.same_store(store.as_str()) {
                Ok(()) => done(self.store.check().await, |e| self.failed(peer, "check", e)),
                Err(f) => Response::Failed(f),
            },
            Request::FreeSpace => match self.store.free_space().await {
                Ok(free) => Response::FreeSpace(free),
                Err(e) => self.failed(peer, "free space", &e),
            },
        };
        answer(&mut send, &response).await?;
        Ok(())
    }

    fn failed(&self, peer: &NodeId, op: &str, e: &StoreError) -> Response {
        tracing::debug!(peer = %peer, "{op} failed: {e}");
        Response::Failed(failure_of(e))
    }

    /// The store's object a request names.
    fn object(&self, object: &ObjectName) -> Result<Object, Failure> {
        from_wire(object).ok_or_else(|| Failure::bad_request("not a name this store writes"))
    }

    /// `Create` and `Check` name the store as the requester's definition does: it must be this
    /// node's.
    fn same_store(&self, named: &str) -> Result<(), Failure> {
        let ours = self.store.id().as_str();
        if named == ours {
            return Ok(());
        }
        Err(Failure::Unavailable {
            why: swarm_wire::Why::Foreign,
            reason: swarm_wire::Reason::cut(&format!(
                "this node serves store `{ours}`, not `{named}`"
            )),
        })
    }
}

fn done(result: Result<(), StoreError>, failed: impl FnOnce(&StoreError) -> Response) -> Response {
    match result {
        Ok(()) => Response::Done,
        Err(e) => failed(&e),
    }
}

/// Answers a refusal and gives it a moment to reach the peer before the connection closes.
async fn refuse(send: &mut SendStream, failure: Failure) {
    if answer(send, &Response::Failed(failure)).await.is_ok() {
        let _ = tokio::time::timeout(LINGER, send.stopped()).await;
    }
}

fn request_verb(request: &Request) -> String {
    request.name().to_lowercase()
}
