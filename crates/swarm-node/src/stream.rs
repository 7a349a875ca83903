//! Frames on an iroh stream, both ways: [`FrameReader`] feeds a stream's bytes to the sans-IO
//! decoder (at most one frame held); [`send_message`] and [`send_data`] write frames, data
//! without copying its bytes. Shared by the node and the peer store.

use bytes::{Buf, Bytes};
use iroh::endpoint::{ConnectionError, ReadError, RecvStream, SendStream, VarInt, WriteError};
use swarm_store::decorate::Link;
use swarm_wire::{
    EncodeError, Frame, FrameDecoder, FrameError, FrameHeader, HEADER_LEN, MAX_DATA, Message,
    data_bodies, encode_message,
};

/// What went wrong moving frames on a stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The bytes broke the frame layer (the peer's fault).
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The peer reset its side of the stream (a requester that gave up: not an error).
    #[error("the stream was reset (code {0})")]
    Reset(u64),
    /// The peer asked us to stop sending (a responder that answered early, a cancelled read).
    #[error("the peer stopped reading (code {0})")]
    Stopped(u64),
    /// The connection is gone.
    #[error("connection lost: {0}")]
    Lost(ConnectionError),
    /// The stream was already finished or reset by this side.
    #[error("the stream is closed")]
    Closed,
    #[error("{0}")]
    Encode(#[from] EncodeError),
}

impl From<ReadError> for StreamError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Reset(code) => StreamError::Reset(code.into_inner()),
            ReadError::ConnectionLost(c) => StreamError::Lost(c),
            _ => StreamError::Closed,
        }
    }
}

impl From<WriteError> for StreamError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Stopped(code) => StreamError::Stopped(code.into_inner()),
            WriteError::ConnectionLost(c) => StreamError::Lost(c),
            _ => StreamError::Closed,
        }
    }
}

/// Reads whole frames of direction `M` from a stream.
pub struct FrameReader<M> {
    recv: RecvStream,
    decoder: FrameDecoder<M>,
    /// Bytes read from the stream that the decoder has not taken yet.
    pending: Bytes,
}

impl<M: Message> FrameReader<M> {
    pub fn new(recv: RecvStream) -> Self {
        FrameReader {
            recv,
            decoder: FrameDecoder::new(),
            pending: Bytes::new(),
        }
    }

    /// The next frame; `None` when the stream ended cleanly between frames.
    pub async fn next(&mut self) -> Result<Option<Frame<M>>, StreamError> {
        loop {
            if !self.pending.is_empty() {
                let mut input: &[u8] = &self.pending;
                let frame = self.decoder.decode(&mut input)?;
                let used = self.pending.len() - input.len();
                self.pending.advance(used);
                if frame.is_some() {
                    return Ok(frame);
                }
            }
            match self.recv.read_chunk(HEADER_LEN + MAX_DATA).await? {
                Some(chunk) => self.pending = chunk,
                None => {
                    self.decoder.finish()?;
                    return Ok(None);
                }
            }
        }
    }

    /// Tells the sender to stop (an early answer, a cancelled request).
    pub fn stop(&mut self, code: u64) {
        let _ = self.recv.stop(VarInt::from_u32(code as u32));
    }
}

/// Writes one message frame.
pub async fn send_message<M: Message>(
    send: &mut SendStream,
    message: &M,
) -> Result<(), StreamError> {
    let frame = encode_message(message)?;
    send.write_chunk(Bytes::from(frame)).await?;
    Ok(())
}

/// Writes `data` as a data sequence: full data frames, then the end frame. The bytes are not
/// copied: each frame is its header and a slice of `data`. With `pace`, each frame waits for
/// its turn on that link first (a node's upload rate).
pub async fn send_data(
    send: &mut SendStream,
    data: Bytes,
    pace: Option<&Link>,
) -> Result<(), StreamError> {
    for body in data_bodies(data) {
        if let Some(link) = pace {
            link.pass(body.len() as u64).await;
        }
        let header = FrameHeader::data(body.len())?.to_bytes();
        send.write_all_chunks(&mut [Bytes::copy_from_slice(&header), body])
            .await?;
    }
    send.write_chunk(Bytes::copy_from_slice(&FrameHeader::END.to_bytes()))
        .await?;
    Ok(())
}

/// Writes a message and finishes the stream: a whole answer.
pub async fn answer<M: Message>(send: &mut SendStream, message: &M) -> Result<(), StreamError> {
    send_message(send, message).await?;
    send.finish().map_err(|_| StreamError::Closed)
}
