//! One pooled connection to one node, dialled on first use and again after it is lost, with
//! the Hello exchanged before any request (`docs/spec/wire-v1.md`, "Connections"). iroh's first
//! connection to a peer costs about a second, so every request of a peer store shares one.
//!
//! A [`Call`] is one request on its own stream. Dropping it before its answer is complete
//! resets the stream (`CANCELLED`): that is how a lost race is cancelled, and a write cut short
//! is never stored.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use iroh::endpoint::{
    ConnectError, ConnectingError, Connection, ConnectionError, SendStream, VarInt,
};
use iroh::{Endpoint, EndpointAddr};
use swarm_wire::codes::{close, stream as stream_code};
use swarm_wire::{
    ALPN, Failure, Frame, Hello, MAX_DATA, Request, Response, ResponseCheck, SequenceError,
};
use tokio::sync::Mutex;

use crate::identity::NodeId;
use crate::stream::{FrameReader, StreamError, send_message};

/// How long dialling a node and exchanging Hellos may take. Nodes are dialled at their direct
/// addresses (a handshake is a round trip or two: milliseconds on a LAN, well under a second
/// across the internet), and a node that is down never answers (QUIC ignores ICMP): every
/// command that opens the swarm waits this long for it, so it is short.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Bytes reserved for a response's data before its frames arrive: an announced length is only
/// trusted as far as bytes come.
const FIRST_RESERVE: u64 = 4 * MAX_DATA as u64;

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The node could not be reached (no answer, no route, timeout).
    #[error("node {node} cannot be reached: {detail}")]
    Unreachable { node: NodeId, detail: String },
    /// The node closed the connection with one of the protocol's codes.
    #[error("node {node} closed the connection (code {code}): {reason}")]
    Closed {
        node: NodeId,
        code: u64,
        reason: String,
    },
    /// The connection broke during a request; a new one may do better.
    #[error("connection to node {node} lost: {detail}")]
    Lost { node: NodeId, detail: String },
    /// The node broke the protocol (its frames, or their order).
    #[error("node {node} broke the protocol: {detail}")]
    Protocol { node: NodeId, detail: String },
    /// The node answered `Failed`.
    #[error("{0}")]
    Failed(Failure),
}

/// A node and where to find it.
#[derive(Debug, Clone)]
pub struct PeerAddr {
    pub node: NodeId,
    /// Its direct addresses; none: only a relay or address lookup configured on the endpoint
    /// can find it.
    pub addrs: Vec<SocketAddr>,
}

impl PeerAddr {
    pub(crate) fn endpoint_addr(&self) -> EndpointAddr {
        self.addrs
            .iter()
            .fold(EndpointAddr::new(self.node.public_key()), |a, &ip| {
                a.with_ip_addr(ip)
            })
    }
}

/// The connection to one node.
#[derive(Debug)]
pub struct Link {
    endpoint: Endpoint,
    peer: PeerAddr,
    hello: Hello,
    connect_timeout: Duration,
    /// The open connection; a caller that finds none (or a closed one) dials while holding the
    /// lock, so concurrent callers share one dial.
    conn: Mutex<Option<Connection>>,
}

impl Link {
    pub fn new(endpoint: Endpoint, peer: PeerAddr, hello: Hello) -> Self {
        Link {
            endpoint,
            peer,
            hello,
            connect_timeout: CONNECT_TIMEOUT,
            conn: Mutex::new(None),
        }
    }

    /// How long a dial (and the Hellos) may take before the node counts as unreachable.
    pub fn set_connect_timeout(&mut self, timeout: Duration) {
        self.connect_timeout = timeout;
    }

    pub fn node(&self) -> NodeId {
        self.peer.node
    }

    /// The open connection, dialled (and greeted) if there is none.
    pub async fn connection(&self) -> Result<Connection, LinkError> {
        let mut held = self.conn.lock().await;
        if let Some(c) = held.as_ref()
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        *held = None;
        let node = self.peer.node;
        let conn = tokio::time::timeout(self.connect_timeout, self.dial())
            .await
            .map_err(|_| LinkError::Unreachable {
                node,
                detail: format!("no answer within {:?}", self.connect_timeout),
            })??;
        *held = Some(conn.clone());
        Ok(conn)
    }

    /// Drops the pooled connection (after it broke the protocol), so the next call dials anew.
    pub async fn reset(&self, code: u64, reason: &str) {
        if let Some(c) = self.conn.lock().await.take() {
            c.close(VarInt::from_u32(code as u32), reason.as_bytes());
        }
    }

    async fn dial(&self) -> Result<Connection, LinkError> {
        let node = self.peer.node;
        let conn = self
            .endpoint
            .connect(self.peer.endpoint_addr(), ALPN)
            .await
            .map_err(|e| connect_error(node, e))?;
        let request = Request::Hello(self.hello.clone());
        let mut call = Call::open(&conn, node, &request).await?;
        call.finish_sending();
        let theirs = match call.response().await? {
            Response::Hello(h) => h,
            other => {
                return Err(LinkError::Protocol {
                    node,
                    detail: format!("answered Hello with {}", other_name(&other)),
                });
            }
        };
        call.done();
        if let Err(e) = self.hello.accept(&theirs) {
            conn.close(
                VarInt::from_u32(close::SWARM as u32),
                e.to_string().as_bytes(),
            );
            return Err(LinkError::Closed {
                node,
                code: close::SWARM,
                reason: e.to_string(),
            });
        }
        tracing::debug!(peer = %node, "connected");
        Ok(conn)
    }

    /// Opens a request's stream and sends the request.
    pub async fn call(&self, request: &Request) -> Result<Call, LinkError> {
        let conn = self.connection().await?;
        Call::open(&conn, self.peer.node, request).await
    }
}

fn other_name(r: &Response) -> &'static str {
    swarm_wire::Message::name(r)
}

/// One request on its own stream, and its answer.
pub struct Call {
    node: NodeId,
    conn: Connection,
    send: SendStream,
    reader: FrameReader<Response>,
    check: ResponseCheck,
    /// The answer is complete (or the stream already failed): nothing to cancel on drop.
    finished: bool,
}

impl Call {
    pub(crate) async fn open(
        conn: &Connection,
        node: NodeId,
        request: &Request,
    ) -> Result<Call, LinkError> {
        let (send, recv) = conn.open_bi().await.map_err(|e| lost(node, e))?;
        let mut call = Call {
            node,
            conn: conn.clone(),
            send,
            reader: FrameReader::new(recv),
            check: ResponseCheck::new(request),
            finished: false,
        };
        if let Err(e) = send_message(&mut call.send, request).await {
            return Err(call.stream_error(e));
        }
        Ok(call)
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The request has nothing more to send.
    pub fn finish_sending(&mut self) {
        let _ = self.send.finish();
    }

    pub fn send_stream(&mut self) -> &mut SendStream {
        &mut self.send
    }

    /// The answer is complete: no reset on drop.
    pub fn done(&mut self) {
        self.finished = true;
    }

    /// The response message; `Failed` is returned as [`LinkError::Failed`].
    pub async fn response(&mut self) -> Result<Response, LinkError> {
        match self.frame().await? {
            Frame::Message(Response::Failed(f)) => {
                self.finished = true;
                Err(LinkError::Failed(f))
            }
            Frame::Message(r) => Ok(r),
            other => Err(self.protocol(format!("expected a response, got a {}", other.describe()))),
        }
    }

    /// The data sequence of `len` bytes that follows a `Data` response, each frame shown to
    /// `inspect` as it arrives (a shard's hash).
    pub async fn data(
        &mut self,
        len: u64,
        mut inspect: impl FnMut(&[u8]),
    ) -> Result<Bytes, LinkError> {
        let mut buf = BytesMut::with_capacity(len.min(FIRST_RESERVE) as usize);
        loop {
            match self.frame().await? {
                Frame::Data(d) => {
                    inspect(&d);
                    buf.extend_from_slice(&d);
                }
                Frame::End => {
                    self.finished = true;
                    return Ok(buf.freeze());
                }
                Frame::Message(Response::Failed(f)) => {
                    self.finished = true;
                    return Err(LinkError::Failed(f));
                }
                Frame::Message(r) => {
                    return Err(self.protocol(format!("{} inside data", other_name(&r))));
                }
            }
        }
    }

    /// The next frame, checked against the request.
    async fn frame(&mut self) -> Result<Frame<Response>, LinkError> {
        let frame = match self.reader.next().await {
            Ok(Some(f)) => f,
            Ok(None) => return Err(self.protocol("the answer ended early".to_owned())),
            Err(e) => return Err(self.stream_error(e)),
        };
        if let Err(e) = self.check.check(&frame) {
            return Err(self.sequence(e));
        }
        Ok(frame)
    }

    fn sequence(&mut self, e: SequenceError) -> LinkError {
        self.protocol(e.to_string())
    }

    /// The node broke the protocol: the connection goes (the spec's `PROTOCOL` close).
    fn protocol(&mut self, detail: String) -> LinkError {
        self.finished = true;
        tracing::warn!(peer = %self.node, "protocol error: {detail}");
        self.conn
            .close(VarInt::from_u32(close::PROTOCOL as u32), detail.as_bytes());
        LinkError::Protocol {
            node: self.node,
            detail,
        }
    }

    pub fn stream_error(&mut self, e: StreamError) -> LinkError {
        match e {
            StreamError::Frame(f) => self.protocol(f.to_string()),
            StreamError::Lost(c) => {
                self.finished = true;
                lost(self.node, c)
            }
            StreamError::Reset(code) => {
                self.finished = true;
                LinkError::Lost {
                    node: self.node,
                    detail: format!("the node reset the request's stream (code {code})"),
                }
            }
            other => LinkError::Lost {
                node: self.node,
                detail: other.to_string(),
            },
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self
                .send
                .reset(VarInt::from_u32(stream_code::CANCELLED as u32));
            self.reader.stop(stream_code::CANCELLED);
        }
    }
}

/// A connection that ended: closed by the node with a code, or lost.
fn lost(node: NodeId, e: ConnectionError) -> LinkError {
    match e {
        ConnectionError::ApplicationClosed(c) => LinkError::Closed {
            node,
            code: c.error_code.into_inner(),
            reason: String::from_utf8_lossy(&c.reason).into_owned(),
        },
        other => LinkError::Lost {
            node,
            detail: other.to_string(),
        },
    }
}

fn connect_error(node: NodeId, e: ConnectError) -> LinkError {
    match e {
        ConnectError::Connection { source, .. }
        | ConnectError::Connecting {
            source: ConnectingError::ConnectionError { source, .. },
            ..
        } if matches!(source, ConnectionError::ApplicationClosed(_)) => lost(node, source),
        other => LinkError::Unreachable {
            node,
            detail: other.to_string(),
        },
    }
}
