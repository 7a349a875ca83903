//! Why a request failed, as the responder says it. The variants map one to one onto the store
//! layer's errors (`docs/spec/wire-v1.md`, "Parts"), so a peer store can tell "not there" from
//! "this node's store is down" from "try again".

use serde::{Deserialize, Serialize};

use crate::bounded::Text;

/// Longest text in a failure.
pub const MAX_REASON: usize = 1024;

/// Text of a failure: at most [`MAX_REASON`] bytes.
pub type Reason = Text<MAX_REASON>;

/// A request's failure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum Failure {
    #[error("not found")]
    NotFound,
    /// The object is larger than the request allowed.
    #[error("{size} bytes, more than the {max} allowed")]
    TooLarge { size: u64, max: u64 },
    /// Not allowed: the requester's role, a name the node never writes, an older definition.
    #[error("refused: {reason}")]
    Refused { reason: Reason },
    /// The node's store has no room (its quota or its disk).
    #[error("full: {reason}")]
    Full { reason: Reason },
    /// The node's own store cannot be used now.
    #[error("store unavailable ({why:?}): {reason}")]
    Unavailable { why: Why, reason: Reason },
    /// The request made no sense to the node (an unknown request, a bad name or cursor).
    #[error("bad request: {what}")]
    BadRequest { what: Reason },
    /// The node failed (an I/O error); `transient` when the same request may succeed again.
    #[error("node failed: {reason}")]
    Internal { reason: Reason, transient: bool },
}

/// Why a node's store is unavailable: the store layer's reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Why {
    /// Its backing store does not answer, or keeps failing.
    Silent,
    /// Its backing store refuses the node.
    Refused,
    /// The node has no credentials for it.
    Unconfigured,
    /// Its root does not exist (a disk that is not mounted).
    Absent,
    /// It carries no marker.
    NotInitialised,
    /// Its marker names another swarm or store id.
    Foreign,
}

impl Failure {
    /// `Refused`, the reason cut to [`MAX_REASON`] bytes.
    pub fn refused(reason: &str) -> Self {
        Failure::Refused {
            reason: Reason::cut(reason),
        }
    }

    /// `BadRequest`, the text cut to [`MAX_REASON`] bytes.
    pub fn bad_request(what: &str) -> Self {
        Failure::BadRequest {
            what: Reason::cut(what),
        }
    }

    /// `Internal`, the reason cut to [`MAX_REASON`] bytes.
    pub fn internal(reason: &str, transient: bool) -> Self {
        Failure::Internal {
            reason: Reason::cut(reason),
            transient,
        }
    }

    /// Whether sending the same request again may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Failure::Internal {
                transient: true,
                ..
            }
        )
    }
}
