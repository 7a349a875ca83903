//! The node protocol `annex-swarm/1` as data (`docs/spec/wire-v1.md`): the messages nodes and
//! their clients exchange, their frames, a streaming decoder that holds at most one frame, and
//! checks of the order of frames on a request's stream.
//!
//! Sans-IO: nothing here opens a socket, spawns a task or knows iroh or tokio; the node and the
//! peer store kind move the bytes. Nothing here may panic on any input, print, or depend on the
//! store layer: objects are named here in the wire's own terms.

mod bounded;
pub mod codes;
mod decoder;
mod error;
mod exchange;
mod failure;
mod frame;
mod message;
mod object;
mod record;

pub use bounded::{Blob, BoundError, BoundedVec, PlainName, Text};
pub use decoder::FrameDecoder;
pub use error::{EncodeError, FrameError, SequenceError};
pub use exchange::{Incoming, RequestCheck, ResponseCheck};
pub use failure::{Failure, MAX_REASON, Reason, Why};
pub use frame::{
    Frame, FrameHeader, FrameKind, HEADER_LEN, data_bodies, decode_message, encode_message,
};
pub use message::{
    DefinitionOrder, Hello, HelloError, Message, Request, Response, Role, SignedDefinition,
    StoreName,
};
pub use object::{
    Class, Cursor, Entry, MAX_CURSOR, MAX_PAGE, MAX_STRAY, Meta, ObjectName, Page, PageBuilder,
    PageLimit,
};
pub use record::{
    MAX_RECORD_ADDRS, MAX_RECORD_LEN, NodeRecord, RECORD_FORMAT, RecordError, SALT_PREFIX,
    record_salt,
};

/// The QUIC ALPN of this protocol: its major version.
pub const ALPN: &[u8] = b"annex-swarm/1";
/// The version every Hello carries first.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest message frame body.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Longest data frame body.
pub const MAX_DATA: usize = 1024 * 1024;
/// Longest swarm definition carried.
pub const MAX_DEFINITION: usize = 60 * 1024;
/// Longest definition signature carried.
pub const MAX_SIGNATURE: usize = 2048;
/// Most feature numbers in a Hello.
pub const MAX_FEATURES: usize = 32;
