//! The pure core of annex-swarm: git-annex keys, content-defined chunking, erasure coding,
//! the manifest format, placement, the swarm definition and its store URLs, and the redaction of
//! secrets from text meant for people.
//!
//! Nothing here knows about tokio, and nothing but `identity` does I/O (it reads and creates
//! key files, with blocking `std::fs` calls, refusing files others can read): every other
//! function takes bytes and returns bytes or typed values, so the formats can be tested
//! exhaustively and reused by every front end.

pub mod buffers;
pub mod chunking;
pub mod definition;
pub mod erasure;
pub mod identity;
pub mod ids;
pub mod key;
pub mod location;
pub mod lock;
pub mod manifest;
pub mod node_id;
pub mod node_local;
pub mod placement;
pub mod redact;
pub mod signed;
pub mod units;
