//! The iroh endpoint of a node or a client: QUIC addressed by ed25519 key, on the one socket
//! address it is told to bind. Nothing public is contacted unless configured: no relay (unless
//! named), no address lookup but the swarm's DHT when its definition enables it (otherwise
//! peers' addresses come with the dial), no port mapping, no
//! net-report probes. Must never bind a wildcard address in tests: iroh then advertises every
//! interface of the machine.

use std::net::SocketAddr;
use std::time::Duration;

use iroh::endpoint::{IdleTimeout, PortmapperConfig, QuicTransportConfig, VarInt, presets};
use iroh::{Endpoint, NetReportConfig, RelayConfig, RelayMap, RelayMode, RelayUrl};

use crate::dht::Finder;
use crate::identity::NodeSecret;
use crate::membership::{Gate, Membership};

/// Request streams a peer may have open on one connection at once (QUIC's own limit, so a
/// requester past it waits in `open_bi`, holding nothing on the node).
pub const MAX_STREAMS: u32 = 64;

/// Bytes a peer may send on one stream before the receiver reads them. iroh's default (about
/// 1.25 MB) caps a stream at 12.5 MB/s at 100 ms round trip; two data frames in flight do
/// better on a long path.
pub const STREAM_WINDOW: u32 = 2 * swarm_wire::MAX_DATA as u32 + 64 * 1024;

/// A connection is closed after this long without a packet from the peer: how long a peer that
/// died (or restarted: its new process cannot answer for the old connection) takes to notice,
/// a request on it failing then. Keep-alives every [`KEEP_ALIVE`] hold a healthy idle one open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Four of them may be lost before [`IDLE_TIMEOUT`].
pub const KEEP_ALIVE: Duration = Duration::from_secs(2);

/// How to build an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub secret: NodeSecret,
    /// The socket address to bind, given explicitly (port 0: any free port).
    pub bind: SocketAddr,
    /// Relay servers to use; none by default.
    pub relays: Vec<RelayUrl>,
    /// Incoming request streams per connection.
    pub max_streams: u32,
    /// Where to look for nodes whose address a dial does not carry: the DHT, when the
    /// definition enables it.
    pub lookup: Option<Finder>,
}

impl EndpointConfig {
    pub fn new(secret: NodeSecret, bind: SocketAddr) -> Self {
        EndpointConfig {
            secret,
            bind,
            relays: Vec::new(),
            max_streams: MAX_STREAMS,
            lookup: None,
        }
    }
}

/// Why an endpoint could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot bind {addr}: {detail}")]
    Bind { addr: SocketAddr, detail: String },
}

/// Builds and binds an endpoint. With `members`, incoming connections from keys that are not
/// members are refused at the handshake (a node); without, the endpoint only dials (a client).
pub async fn bind(
    config: &EndpointConfig,
    members: Option<&Membership>,
) -> Result<Endpoint, EndpointError> {
    let bind_error = |detail: String| EndpointError::Bind {
        addr: config.bind,
        detail,
    };
    let transport = QuicTransportConfig::builder()
        .max_concurrent_bidi_streams(VarInt::from_u32(config.max_streams))
        .stream_receive_window(VarInt::from_u32(STREAM_WINDOW))
        .max_idle_timeout(IdleTimeout::try_from(IDLE_TIMEOUT).ok())
        .keep_alive_interval(KEEP_ALIVE)
        .build();
    let mut builder = Endpoint::builder(presets::Minimal)
        .secret_key(config.secret.to_iroh())
        .clear_ip_transports()
        .bind_addr(config.bind)
        .map_err(|e| bind_error(e.to_string()))?
        .portmapper_config(PortmapperConfig::Disabled)
        .net_report_config(NetReportConfig::minimal())
        .transport_config(transport);
    builder = if config.relays.is_empty() {
        builder.relay_mode(RelayMode::Disabled)
    } else {
        let relays = config.relays.iter().cloned().map(RelayConfig::from);
        builder.relay_mode(RelayMode::Custom(RelayMap::from_iter(relays)))
    };
    if let Some(finder) = &config.lookup {
        builder = builder.address_lookup(finder.clone());
    }
    if let Some(members) = members {
        builder = builder.hooks(Gate::new(members.clone()));
    }
    builder.bind().await.map_err(|e| bind_error(e.to_string()))
}

/// The address the endpoint is bound to (the first socket, for tests and `node status`).
pub fn bound_addr(endpoint: &Endpoint) -> Option<SocketAddr> {
    endpoint.bound_sockets().into_iter().next()
}
