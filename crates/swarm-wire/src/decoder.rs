//! The streaming frame decoder: feed it the bytes of a stream in pieces of any size and split,
//! it yields whole frames. It takes from its input only up to the end of the frame it is
//! reading, so it never holds more than one frame; a frame's length is checked from its header
//! before any of its body is buffered. It never panics, whatever the bytes.

use std::marker::PhantomData;

use bytes::BytesMut;

use crate::error::FrameError;
use crate::frame::{Frame, FrameHeader, FrameKind, HEADER_LEN, decode_message};
use crate::message::Message;

/// Body bytes reserved when a header arrives; the rest of a longer body is reserved once, when
/// its bytes arrive. A peer that sends only headers makes us hold little.
const FIRST_RESERVE: usize = 64 * 1024;

/// Decodes the frames of one stream, of direction `M` ([`crate::Request`] on a stream the peer
/// opened, [`crate::Response`] on one we opened).
#[derive(Debug)]
pub struct FrameDecoder<M> {
    header: [u8; HEADER_LEN],
    header_have: usize,
    /// The header of the frame whose body is being read.
    frame: Option<FrameHeader>,
    body: BytesMut,
    /// After an error the stream is unusable: every later call returns it again.
    failed: Option<FrameError>,
    _message: PhantomData<fn() -> M>,
}

impl<M: Message> Default for FrameDecoder<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M: Message> FrameDecoder<M> {
    pub fn new() -> Self {
        FrameDecoder {
            header: [0; HEADER_LEN],
            header_have: 0,
            frame: None,
            body: BytesMut::new(),
            failed: None,
            _message: PhantomData,
        }
    }

    /// Takes bytes from the front of `input` up to the end of the next frame, and returns that
    /// frame once whole. `Ok(None)`: `input` is used up and the frame needs more bytes. Call
    /// again while `input` is not empty: it may hold more frames.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Frame<M>>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.step(input);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.header_have = 0;
            self.frame = None;
            self.body = BytesMut::new();
        }
        result
    }

    /// The stream ended (FIN): fine between frames, [`FrameError::Truncated`] inside one.
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.frame {
            Some(h) => Err(FrameError::Truncated {
                have: HEADER_LEN + self.body.len(),
                need: HEADER_LEN + h.len(),
            }),
            None if self.header_have > 0 => Err(FrameError::Truncated {
                have: self.header_have,
                need: HEADER_LEN,
            }),
            None => Ok(()),
        }
    }

    /// Bytes held of the frame being read.
    pub fn buffered(&self) -> usize {
        self.header_have + self.body.len()
    }

    fn step(&mut self, input: &mut &[u8]) -> Result<Option<Frame<M>>, FrameError> {
        let header = match self.frame {
            Some(h) => h,
            None => {
                let n = (HEADER_LEN - self.header_have).min(input.len());
                self.header[self.header_have..self.header_have + n].copy_from_slice(&input[..n]);
                self.header_have += n;
                *input = &input[n..];
                if self.header_have < HEADER_LEN {
                    return Ok(None);
                }
                let h = FrameHeader::parse(self.header)?;
                self.body = BytesMut::with_capacity(h.len().min(FIRST_RESERVE));
                self.frame = Some(h);
                h
            }
        };
        let n = (header.len() - self.body.len()).min(input.len());
        if self.body.capacity() < self.body.len() + n {
            self.body.reserve(header.len() - self.body.len());
        }
        self.body.extend_from_slice(&input[..n]);
        *input = &input[n..];
        if self.body.len() < header.len() {
            return Ok(None);
        }
        self.frame = None;
        self.header_have = 0;
        let body = self.body.split().freeze();
        Ok(Some(match header.kind() {
            FrameKind::Message => Frame::Message(decode_message(&body)?),
            FrameKind::Data => Frame::Data(body),
            FrameKind::End => Frame::End,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;

    use super::*;
    use crate::{MAX_DATA, Request, Response};

    fn decode_all<M: Message>(mut input: &[u8]) -> Result<Vec<Frame<M>>, FrameError> {
        let mut d = FrameDecoder::<M>::new();
        let mut frames = Vec::new();
        while !input.is_empty() {
            if let Some(f) = d.decode(&mut input)? {
                frames.push(f);
            }
        }
        d.finish()?;
        Ok(frames)
    }

    #[test]
    fn a_too_long_frame_is_refused_from_its_header_alone() {
        let mut d = FrameDecoder::<Response>::new();
        let mut header: &[u8] = &[1, 0x01, 0x00, 0x10, 0x00]; // data, 1 MiB + 1
        let e = d.decode(&mut header).unwrap_err();
        assert!(
            matches!(e, FrameError::TooLong { kind: FrameKind::Data, len, .. } if len as usize == MAX_DATA + 1)
        );
        assert_eq!(d.buffered(), 0);
        // The decoder stays failed.
        assert_eq!(d.decode(&mut &[2u8, 0, 0, 0, 0][..]), Err(e.clone()));
        assert_eq!(d.finish(), Err(e));
    }

    #[test]
    fn a_stream_ending_inside_a_frame_is_truncated() {
        let frame = Frame::<Request>::Message(Request::GetDefinition)
            .encode()
            .unwrap();
        assert_eq!(frame, [0, 1, 0, 0, 0, 1]);
        for cut in 1..frame.len() {
            assert_eq!(
                decode_all::<Request>(&frame[..cut]).unwrap_err(),
                FrameError::Truncated {
                    have: cut,
                    need: if cut < HEADER_LEN {
                        HEADER_LEN
                    } else {
                        frame.len()
                    }
                }
            );
        }
    }

    #[test]
    fn bytes_after_a_message_in_its_frame_are_refused() {
        assert_eq!(
            decode_all::<Request>(&[0, 2, 0, 0, 0, 1, 0]).unwrap_err(),
            FrameError::TrailingBytes {
                kind: "request",
                extra: 1
            }
        );
    }

    #[test]
    fn an_unknown_request_is_named_and_answered() {
        let e = decode_all::<Request>(&[0, 2, 0, 0, 0, 13, 0]).unwrap_err();
        assert_eq!(
            e,
            FrameError::UnknownMessage {
                kind: "request",
                index: 13,
                known: 13
            }
        );
        assert_eq!(
            e.to_string(),
            "unknown request 13 (this version knows 0 to 12)"
        );
        assert_eq!(e.close_code(), None);
        assert_eq!(
            e.reply().unwrap().to_string(),
            "bad request: unknown request 13"
        );
        // A huge index is read as such, not as garbage.
        let e = decode_all::<Response>(&[0, 5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap_err();
        assert!(
            matches!(
                e,
                FrameError::UnknownMessage {
                    index: u32::MAX,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.close_code(), Some(crate::codes::close::PROTOCOL));
        assert_eq!(e.reply(), None);
    }

    #[test]
    fn a_hello_of_another_version_is_refused_naming_both() {
        // Hello, version 2, then fields this version could not read.
        let e = decode_all::<Request>(&[0, 3, 0, 0, 0, 0, 2, 0xff]).unwrap_err();
        assert_eq!(
            e,
            FrameError::Version {
                kind: "request",
                ours: 1,
                theirs: 2
            }
        );
        assert_eq!(e.close_code(), Some(crate::codes::close::VERSION));
        assert_eq!(
            e.reply().unwrap().to_string(),
            "refused: protocol version 2 is not supported: this node speaks version 1"
        );
    }

    #[test]
    fn bad_postcard_is_malformed() {
        // Stat of object index 9 (no such object).
        let e = decode_all::<Request>(&[0, 2, 0, 0, 0, 3, 9]).unwrap_err();
        assert!(
            matches!(
                e,
                FrameError::Malformed {
                    kind: "request",
                    ..
                }
            ),
            "{e}"
        );
        // Meta(Some(..)) cut short.
        let e = decode_all::<Response>(&[0, 2, 0, 0, 0, 4, 1]).unwrap_err();
        assert!(matches!(e, FrameError::Malformed { .. }), "{e}");
    }

    #[test]
    fn frames_arrive_whole_from_any_split() {
        let mut bytes = Frame::<Response>::Message(Response::Data { len: 3 })
            .encode()
            .unwrap();
        Frame::<Response>::Data(Bytes::from_static(b"abc"))
            .encode_into(&mut bytes)
            .unwrap();
        Frame::<Response>::End.encode_into(&mut bytes).unwrap();
        let want = vec![
            Frame::Message(Response::Data { len: 3 }),
            Frame::Data(Bytes::from_static(b"abc")),
            Frame::End,
        ];
        assert_eq!(decode_all::<Response>(&bytes).unwrap(), want);
        let mut d = FrameDecoder::<Response>::new();
        let mut got = Vec::new();
        for b in &bytes {
            let mut one: &[u8] = std::slice::from_ref(b);
            if let Some(f) = d.decode(&mut one).unwrap() {
                got.push(f);
            }
            assert!(one.is_empty());
        }
        assert_eq!(got, want);
        assert_eq!(d.finish(), Ok(()));
    }
}
