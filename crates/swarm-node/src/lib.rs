//! Swarm nodes: a daemon's store served to the members of its swarm over iroh, and the peer
//! store that reads and writes one, speaking `annex-swarm/1` (`docs/spec/wire-v1.md`; the
//! frames and messages are `swarm-wire`'s, this crate moves them).
//!
//! - [`identity`]: a node's ed25519 key and its id (64 hex digits).
//! - [`endpoint`]: the iroh endpoint, contacting nothing public unless configured.
//! - [`membership`]: who may connect (refused at the handshake otherwise) and with which role.
//! - [`serve`]: the node side ([`Node`]).
//! - [`peer`], [`link`]: the client side ([`PeerStore`], one pooled connection per node).
//! - [`kind`]: `peer://NODEID[@ADDR:PORT]` stores, a kind the engine opens.
//! - [`client`]: a process's member key, endpoint and peer kind, for the front ends.
//! - [`dht`]: nodes found through the mainline DHT (BEP 44 records), when the definition says so.
//! - [`spread`]: the definition a node holds, adopted and passed on without a tracker.
//! - [`replicate`]: a node makes its store hold whole the keys it is a `full_copies` holder of.
//! - [`status`]: the node's status as JSON and as a page, over HTTP on loopback.
//! - [`traffic`]: the bytes a node moved, as a server and as a client.
//! - [`daemon`]: a node started from its key and a definition (`annex-swarm node run`).
//!
//! Nothing here prints; what a peer does wrong is logged (`tracing`) and answered as the spec
//! says, never a panic, never a stored bad piece.

pub mod client;
mod convert;
pub mod daemon;
pub mod dht;
pub mod endpoint;
pub mod identity;
pub mod kind;
pub mod link;
pub mod membership;
pub mod peer;
pub mod replicate;
pub mod serve;
pub mod spread;
pub mod status;
mod stream;
pub mod traffic;

pub use daemon::{Daemon, DaemonConfig, StartError};
pub use endpoint::{EndpointConfig, bind};
pub use identity::{NodeId, NodeSecret};
pub use kind::{PeerKind, peer_kind};
pub use link::PeerAddr;
pub use membership::{Membership, Role};
pub use peer::PeerStore;
pub use serve::{Node, NodeConfig};
/// How a Hello says who speaks (a node, or a client such as the CLI).
pub use swarm_wire::Role as WireRole;
