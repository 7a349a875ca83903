//! The messages of `annex-swarm/1`: what a requester sends on a stream it opened
//! ([`Request`]) and what the responder answers ([`Response`]). Variants are only ever appended
//! (`docs/spec/wire-v1.md`, "Errors and extension"); their order is their wire index.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bounded::{Blob, BoundedVec, Text};
use crate::failure::Failure;
use crate::object::{Class, Cursor, Meta, ObjectName, Page, PageLimit};
use crate::{MAX_DEFINITION, MAX_FEATURES, MAX_SIGNATURE, PROTOCOL_VERSION};

/// A message that travels in a message frame, in one direction.
pub trait Message: Serialize + DeserializeOwned + std::fmt::Debug {
    /// `"request"` or `"response"`, for errors.
    const KIND: &'static str;
    /// How many variants this version knows: indexes `0..VARIANTS`. Index 0 is `Hello`.
    const VARIANTS: u32;

    /// The variant's name, for logs and errors (never its content).
    fn name(&self) -> &'static str;
}

/// The first message of a connection, each way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`]. First in every version, so a decoder can refuse another before
    /// reading the rest.
    pub version: u32,
    /// The swarm id.
    pub swarm: [u8; 16],
    /// The version of the sender's verified definition.
    pub definition_version: u64,
    /// BLAKE3 of that definition's exact bytes.
    pub definition_hash: [u8; 32],
    /// How to talk to the sender.
    pub role: Role,
    /// Additions the sender understands (none in version 1); unknown numbers are ignored.
    pub features: BoundedVec<u32, MAX_FEATURES>,
}

/// What the sender of a Hello is: whether it answers streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Opens streams, answers none (the CLI, the special remote).
    Client,
    /// Serves a store and answers streams.
    Node,
}

/// How two definitions compare, from this side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionOrder {
    Same,
    /// The peer's is newer: pull it.
    TheirsNewer,
    /// Ours is newer: the peer should pull it (or be offered it).
    OursNewer,
    /// Same version, different bytes: neither adopts.
    Conflict,
}

/// A Hello this side cannot accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("the peer speaks protocol version {theirs}; this node speaks version {ours}")]
    Version { ours: u32, theirs: u32 },
    #[error(
        "the peer is in swarm {}, not in this node's swarm {}",
        hex16(theirs),
        hex16(ours)
    )]
    Swarm { ours: [u8; 16], theirs: [u8; 16] },
}

fn hex16(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hello {
    /// This version's Hello, without features.
    pub fn new(
        swarm: [u8; 16],
        definition_version: u64,
        definition_hash: [u8; 32],
        role: Role,
    ) -> Self {
        Hello {
            version: PROTOCOL_VERSION,
            swarm,
            definition_version,
            definition_hash,
            role,
            features: BoundedVec::default(),
        }
    }

    /// Checks the peer's Hello against ours: same version, same swarm; then how our
    /// definitions compare.
    pub fn accept(&self, theirs: &Hello) -> Result<DefinitionOrder, HelloError> {
        if theirs.version != self.version {
            return Err(HelloError::Version {
                ours: self.version,
                theirs: theirs.version,
            });
        }
        if theirs.swarm != self.swarm {
            return Err(HelloError::Swarm {
                ours: self.swarm,
                theirs: theirs.swarm,
            });
        }
        Ok(
            match theirs.definition_version.cmp(&self.definition_version) {
                std::cmp::Ordering::Greater => DefinitionOrder::TheirsNewer,
                std::cmp::Ordering::Less => DefinitionOrder::OursNewer,
                std::cmp::Ordering::Equal if theirs.definition_hash == self.definition_hash => {
                    DefinitionOrder::Same
                }
                std::cmp::Ordering::Equal => DefinitionOrder::Conflict,
            },
        )
    }
}

/// A swarm definition's exact bytes and its detached signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedDefinition {
    /// The definition (TOML), at most [`MAX_DEFINITION`] bytes.
    pub definition: Blob<MAX_DEFINITION>,
    /// Its signature (an armored SSHSIG), at most [`MAX_SIGNATURE`] bytes.
    pub signature: Blob<MAX_SIGNATURE>,
}

/// A store id as the requester's definition names it (at most 64 bytes).
pub type StoreName = Text<64>;

/// What a requester asks, one per stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The first message of a connection (dialer to acceptor).
    Hello(Hello),
    /// The responder's current definition.
    GetDefinition,
    /// A newer definition, for the responder to verify and perhaps adopt.
    OfferDefinition(SignedDefinition),
    /// The object's size and time, or `Meta(None)` when absent.
    Stat { object: ObjectName },
    /// The whole object, refused (`TooLarge`) past `max` bytes.
    Read { object: ObjectName, max: u64 },
    /// `len` bytes from `offset` (fewer at the end of the object).
    ReadRange {
        object: ObjectName,
        offset: u64,
        len: u64,
    },
    /// Store `len` bytes (a data sequence that follows) as the object, atomically.
    Write { object: ObjectName, len: u64 },
    /// Mark an existing object as recently used.
    Touch { object: ObjectName },
    /// Delete an object (absent is success).
    Delete { object: ObjectName },
    /// A page of a class's listing, after `after` (from the start when `None`).
    List {
        class: Class,
        after: Option<Cursor>,
        limit: PageLimit,
    },
    /// Prepare the node's store as the store the requester's definition names.
    Create { store: StoreName },
    /// Whether the node's store is the store the requester's definition names, and usable.
    Check { store: StoreName },
    /// Free space of the node's store.
    FreeSpace,
}

/// What a responder answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The answer to a Hello.
    Hello(Hello),
    /// Success without a value.
    Done,
    /// The request failed.
    Failed(Failure),
    /// The responder's definition.
    Definition(SignedDefinition),
    /// A `Stat`'s answer: `None` when the object is absent.
    Meta(Option<Meta>),
    /// `len` bytes follow as a data sequence.
    Data { len: u64 },
    /// A page of a listing.
    Page(Page),
    /// Bytes free, `None` when the store cannot tell.
    FreeSpace(Option<u64>),
}

impl Message for Request {
    const KIND: &'static str = "request";
    const VARIANTS: u32 = 13;

    fn name(&self) -> &'static str {
        match self {
            Request::Hello(_) => "Hello",
            Request::GetDefinition => "GetDefinition",
            Request::OfferDefinition(_) => "OfferDefinition",
            Request::Stat { .. } => "Stat",
            Request::Read { .. } => "Read",
            Request::ReadRange { .. } => "ReadRange",
            Request::Write { .. } => "Write",
            Request::Touch { .. } => "Touch",
            Request::Delete { .. } => "Delete",
            Request::List { .. } => "List",
            Request::Create { .. } => "Create",
            Request::Check { .. } => "Check",
            Request::FreeSpace => "FreeSpace",
        }
    }
}

impl Message for Response {
    const KIND: &'static str = "response";
    const VARIANTS: u32 = 8;

    fn name(&self) -> &'static str {
        match self {
            Response::Hello(_) => "Hello",
            Response::Done => "Done",
            Response::Failed(_) => "Failed",
            Response::Definition(_) => "Definition",
            Response::Meta(_) => "Meta",
            Response::Data { .. } => "Data",
            Response::Page(_) => "Page",
            Response::FreeSpace(_) => "FreeSpace",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hello(version: u64, hash: u8) -> Hello {
        Hello::new([7; 16], version, [hash; 32], Role::Node)
    }

    #[test]
    fn definitions_compare_by_version_then_hash() {
        let ours = hello(5, 1);
        assert_eq!(ours.accept(&hello(5, 1)), Ok(DefinitionOrder::Same));
        assert_eq!(ours.accept(&hello(6, 2)), Ok(DefinitionOrder::TheirsNewer));
        assert_eq!(ours.accept(&hello(4, 2)), Ok(DefinitionOrder::OursNewer));
        assert_eq!(ours.accept(&hello(5, 2)), Ok(DefinitionOrder::Conflict));
    }

    #[test]
    fn another_swarm_or_version_is_refused_by_name() {
        let ours = hello(5, 1);
        let mut other = hello(5, 1);
        other.swarm = [8; 16];
        let e = ours.accept(&other).unwrap_err();
        assert!(e.to_string().contains(&"08".repeat(16)), "{e}");
        let mut newer = hello(5, 1);
        newer.version = 2;
        let e = ours.accept(&newer).unwrap_err();
        assert_eq!(e, HelloError::Version { ours: 1, theirs: 2 });
        assert!(e.to_string().contains("version 2") && e.to_string().contains("version 1"));
    }
}
