//! What can go wrong on the wire, and what the spec says to do about it: every error names what
//! was wrong, [`FrameError::reply`] is the answer a responder still owes, and
//! [`FrameError::close_code`] whether the connection goes.

use crate::codes::close;
use crate::failure::Failure;
use crate::frame::FrameKind;
use crate::{MAX_DATA, MAX_MESSAGE, PROTOCOL_VERSION};

/// Bytes received that are not a valid frame or message. After one, the decoder yields the same
/// error again: the stream is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("unknown frame kind {0:#04x}")]
    UnknownKind(u8),
    #[error("{kind} frame of {len} bytes; at most {max} allowed")]
    TooLong { kind: FrameKind, len: u32, max: u32 },
    #[error("{kind} frame of {len} bytes: {rule}")]
    BadLength {
        kind: FrameKind,
        len: u32,
        rule: &'static str,
    },
    #[error("the stream ended inside a frame ({have} of {need} bytes)")]
    Truncated { have: usize, need: usize },
    #[error("the peer speaks protocol version {theirs}; this node speaks version {ours}")]
    Version {
        kind: &'static str,
        ours: u32,
        theirs: u32,
    },
    #[error("unknown {kind} {index} (this version knows 0 to {})", .known.saturating_sub(1))]
    UnknownMessage {
        kind: &'static str,
        index: u32,
        known: u32,
    },
    #[error("malformed {kind}: {detail}")]
    Malformed { kind: &'static str, detail: String },
    #[error("{kind} followed by {extra} stray bytes in its frame")]
    TrailingBytes { kind: &'static str, extra: usize },
}

impl FrameError {
    /// What a responder answers on the stream before giving up on it, where the spec says to:
    /// an unknown request (`BadRequest`, so a newer requester can fall back) and a Hello of
    /// another version (`Refused`, naming both versions).
    pub fn reply(&self) -> Option<Failure> {
        match self {
            FrameError::UnknownMessage {
                kind: "request",
                index,
                ..
            } => Some(Failure::bad_request(&format!("unknown request {index}"))),
            FrameError::Version {
                kind: "request",
                theirs,
                ..
            } => Some(Failure::refused(&format!(
                "protocol version {theirs} is not supported: this node speaks version {PROTOCOL_VERSION}"
            ))),
            _ => None,
        }
    }

    /// The QUIC application code to close the connection with, or `None` when only the stream
    /// ends (an unknown request: the connection stays).
    pub fn close_code(&self) -> Option<u64> {
        match self {
            FrameError::UnknownMessage {
                kind: "request", ..
            } => None,
            FrameError::Version { .. } => Some(close::VERSION),
            _ => Some(close::PROTOCOL),
        }
    }
}

/// Frames that are each valid but do not follow the exchange the spec allows on a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("expected {expected}, got a {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("{got} does not answer {request}")]
    WrongAnswer {
        request: &'static str,
        got: &'static str,
    },
    #[error("{len} bytes announced, more than the {max} asked for")]
    Overlong { len: u64, max: u64 },
    #[error("data past the {announced} bytes announced")]
    Overrun { announced: u64 },
    #[error("end after {received} of the {announced} bytes announced")]
    Short { received: u64, announced: u64 },
    #[error("a page of {entries} entries for a limit of {limit}")]
    PageOverLimit { entries: usize, limit: u32 },
    #[error("a page with a cursor but no entry")]
    EmptyPage,
}

/// A message that cannot be put in a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{name} {kind} encodes to {len} bytes; a message frame holds at most {MAX_MESSAGE}")]
    TooLong {
        kind: &'static str,
        name: &'static str,
        len: usize,
    },
    #[error("a data frame of {len} bytes; 1 to {MAX_DATA} allowed")]
    DataLength { len: usize },
    #[error("cannot encode {name} {kind}: {source}")]
    Postcard {
        kind: &'static str,
        name: &'static str,
        source: postcard::Error,
    },
}
