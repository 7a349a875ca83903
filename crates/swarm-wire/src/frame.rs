//! Frames: a 5-byte header (kind, then the body's length as a u32 little-endian) and a body:
//! one postcard message, raw data, or nothing for the end of a data sequence. The header says
//! how long the body is before any of it is read, so a receiver refuses a frame that is too
//! long at once.

use std::fmt;

use bytes::Bytes;

use crate::error::{EncodeError, FrameError};
use crate::message::Message;
use crate::{MAX_DATA, MAX_MESSAGE, PROTOCOL_VERSION};

/// Bytes of a frame header.
pub const HEADER_LEN: usize = 5;

/// What a frame's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// One postcard-encoded message, 1 to [`MAX_MESSAGE`] bytes.
    Message,
    /// Bytes of a data sequence, 1 to [`MAX_DATA`].
    Data,
    /// The end of a data sequence; no body.
    End,
}

impl FrameKind {
    /// The kind's byte on the wire.
    pub fn code(self) -> u8 {
        match self {
            FrameKind::Message => 0,
            FrameKind::Data => 1,
            FrameKind::End => 2,
        }
    }

    /// `None` for a byte that names no kind.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(FrameKind::Message),
            1 => Some(FrameKind::Data),
            2 => Some(FrameKind::End),
            _ => None,
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameKind::Message => "message",
            FrameKind::Data => "data",
            FrameKind::End => "end",
        })
    }
}

/// A frame's header: its kind and the length of its body, checked against the kind's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    kind: FrameKind,
    len: u32,
}

impl FrameHeader {
    /// The header of an end frame.
    pub const END: FrameHeader = FrameHeader {
        kind: FrameKind::End,
        len: 0,
    };

    /// Reads and checks a header: a known kind, a length within the kind's range.
    pub fn parse(bytes: [u8; HEADER_LEN]) -> Result<Self, FrameError> {
        let kind = FrameKind::from_code(bytes[0]).ok_or(FrameError::UnknownKind(bytes[0]))?;
        let len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        let (max, rule) = match kind {
            FrameKind::Message => (MAX_MESSAGE as u32, "a message is never empty"),
            FrameKind::Data => (MAX_DATA as u32, "a data frame is never empty"),
            FrameKind::End => (0, "an end frame has no body"),
        };
        if len > max && kind != FrameKind::End {
            return Err(FrameError::TooLong { kind, len, max });
        }
        if (len == 0) != (kind == FrameKind::End) {
            return Err(FrameError::BadLength { kind, len, rule });
        }
        Ok(FrameHeader { kind, len })
    }

    /// The header of a data frame of `len` bytes (1 to [`MAX_DATA`]).
    pub fn data(len: usize) -> Result<Self, EncodeError> {
        if len == 0 || len > MAX_DATA {
            return Err(EncodeError::DataLength { len });
        }
        Ok(FrameHeader {
            kind: FrameKind::Data,
            len: len as u32,
        })
    }

    pub fn kind(&self) -> FrameKind {
        self.kind
    }

    /// Bytes of body that follow the header.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for an end frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let l = self.len.to_le_bytes();
        [self.kind.code(), l[0], l[1], l[2], l[3]]
    }
}

/// One whole frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<M> {
    Message(M),
    Data(Bytes),
    End,
}

impl<M: Message> Frame<M> {
    /// The frame's bytes: header and body.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Appends the frame's bytes to `out` (nothing on error).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Frame::Message(m) => {
                let body = encode_body(m)?;
                let header = FrameHeader {
                    kind: FrameKind::Message,
                    len: body.len() as u32,
                };
                out.extend_from_slice(&header.to_bytes());
                out.extend_from_slice(&body);
            }
            Frame::Data(data) => {
                out.extend_from_slice(&FrameHeader::data(data.len())?.to_bytes());
                out.extend_from_slice(data);
            }
            Frame::End => out.extend_from_slice(&FrameHeader::END.to_bytes()),
        }
        Ok(())
    }

    /// What [`Frame::encode`] would return the length of.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(HEADER_LEN
            + match self {
                Frame::Message(m) => body_len(m)?,
                Frame::Data(data) => FrameHeader::data(data.len())?.len(),
                Frame::End => 0,
            })
    }

    /// For errors and logs: the message's name, `data` or `end`.
    pub fn describe(&self) -> &'static str {
        match self {
            Frame::Message(m) => m.name(),
            Frame::Data(_) => "data frame",
            Frame::End => "end frame",
        }
    }
}

/// A message's frame: header and body.
pub fn encode_message<M: Message>(message: &M) -> Result<Vec<u8>, EncodeError> {
    let body = encode_body(message)?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(
        &FrameHeader {
            kind: FrameKind::Message,
            len: body.len() as u32,
        }
        .to_bytes(),
    );
    out.extend_from_slice(&body);
    Ok(out)
}

fn encode_body<M: Message>(message: &M) -> Result<Vec<u8>, EncodeError> {
    let body = postcard::to_allocvec(message).map_err(|source| EncodeError::Postcard {
        kind: M::KIND,
        name: message.name(),
        source,
    })?;
    check_body_len(message, body.len())?;
    Ok(body)
}

fn body_len<M: Message>(message: &M) -> Result<usize, EncodeError> {
    let len = postcard::experimental::serialized_size(message).map_err(|source| {
        EncodeError::Postcard {
            kind: M::KIND,
            name: message.name(),
            source,
        }
    })?;
    check_body_len(message, len)?;
    Ok(len)
}

fn check_body_len<M: Message>(message: &M, len: usize) -> Result<(), EncodeError> {
    if len > MAX_MESSAGE {
        return Err(EncodeError::TooLong {
            kind: M::KIND,
            name: message.name(),
            len,
        });
    }
    Ok(())
}

/// Splits bytes to send into the bodies of data frames (at most [`MAX_DATA`] each, no copy);
/// send each after `FrameHeader::data(body.len())`, then [`FrameHeader::END`].
pub fn data_bodies(mut data: Bytes) -> impl Iterator<Item = Bytes> {
    std::iter::from_fn(move || (!data.is_empty()).then(|| data.split_to(data.len().min(MAX_DATA))))
}

/// Decodes a message frame's body: the whole body, exactly one message of direction `M`.
///
/// The variant index is read first, so an unknown one is [`FrameError::UnknownMessage`] and a
/// Hello of another version [`FrameError::Version`], whatever follows them.
pub fn decode_message<M: Message>(body: &[u8]) -> Result<M, FrameError> {
    let malformed = |detail: String| FrameError::Malformed {
        kind: M::KIND,
        detail,
    };
    let (index, rest) = varint_u32(body).ok_or_else(|| malformed("bad variant index".into()))?;
    if index >= M::VARIANTS {
        return Err(FrameError::UnknownMessage {
            kind: M::KIND,
            index,
            known: M::VARIANTS,
        });
    }
    if index == 0
        && let Some((theirs, _)) = varint_u32(rest)
        && theirs != PROTOCOL_VERSION
    {
        return Err(FrameError::Version {
            kind: M::KIND,
            ours: PROTOCOL_VERSION,
            theirs,
        });
    }
    let (message, rest) =
        postcard::take_from_bytes::<M>(body).map_err(|e| malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes {
            kind: M::KIND,
            extra: rest.len(),
        });
    }
    Ok(message)
}

/// A postcard u32 varint (LEB128, at most 5 bytes, no bits past 32) and what follows it.
fn varint_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let mut value = 0u32;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        if i == 4 && b > 0x0f {
            return None;
        }
        value |= u32::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn varints_as_postcard_writes_them() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let enc = postcard::to_allocvec(&v).unwrap();
            assert_eq!(varint_u32(&enc), Some((v, &[][..])), "{v}");
        }
        assert_eq!(varint_u32(&[]), None);
        assert_eq!(varint_u32(&[0x80]), None);
        assert_eq!(varint_u32(&[0xff, 0xff, 0xff, 0xff, 0x10]), None);
        assert_eq!(varint_u32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), None);
    }

    #[test]
    fn headers_are_checked_before_the_body() {
        let h = |kind: u8, len: u32| {
            let l = len.to_le_bytes();
            FrameHeader::parse([kind, l[0], l[1], l[2], l[3]])
        };
        assert!(h(0, 1).is_ok() && h(0, MAX_MESSAGE as u32).is_ok());
        assert!(matches!(
            h(0, MAX_MESSAGE as u32 + 1),
            Err(FrameError::TooLong { .. })
        ));
        assert!(matches!(h(0, u32::MAX), Err(FrameError::TooLong { .. })));
        assert!(matches!(h(0, 0), Err(FrameError::BadLength { .. })));
        assert!(h(1, 1).is_ok() && h(1, MAX_DATA as u32).is_ok());
        assert!(matches!(
            h(1, MAX_DATA as u32 + 1),
            Err(FrameError::TooLong { .. })
        ));
        assert!(matches!(h(1, 0), Err(FrameError::BadLength { .. })));
        assert!(h(2, 0).is_ok());
        assert!(matches!(h(2, 1), Err(FrameError::BadLength { .. })));
        assert_eq!(h(3, 0), Err(FrameError::UnknownKind(3)));
        assert_eq!(h(0xff, 0), Err(FrameError::UnknownKind(0xff)));
    }

    #[test]
    fn data_is_split_into_full_frames_without_copying() {
        let data = Bytes::from(vec![7u8; 2 * MAX_DATA + 3]);
        let parts: Vec<Bytes> = data_bodies(data.clone()).collect();
        assert_eq!(
            parts.iter().map(Bytes::len).collect::<Vec<_>>(),
            [MAX_DATA, MAX_DATA, 3]
        );
        assert_eq!(parts[0].as_ptr(), data.as_ptr());
        assert_eq!(data_bodies(Bytes::new()).count(), 0);
        assert!(FrameHeader::data(0).is_err() && FrameHeader::data(MAX_DATA + 1).is_err());
    }
}
