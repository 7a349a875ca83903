//! What a put reads: a file (read on a blocking thread, no copy beyond the chunker's blocks) or
//! any async byte stream (a peer's upload, a pipe), handed to the same blocking chunker through
//! a bounded channel.

use std::io::{self, Read};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

/// Bytes read from a stream at a time.
const PIECE: usize = 1 << 20;
/// Pieces read ahead of the chunker.
const AHEAD: usize = 4;

/// A blocking reader over pieces an async task reads from a stream.
pub(crate) struct StreamReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Starts reading `rest` (after `prefix`, already read) into a [`StreamReader`].
pub(crate) fn bridge<R>(prefix: Bytes, mut rest: R) -> StreamReader
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel(AHEAD);
    tokio::spawn(async move {
        if !prefix.is_empty() && tx.send(Ok(prefix)).await.is_err() {
            return;
        }
        loop {
            let mut buf = BytesMut::with_capacity(PIECE);
            match rest.read_buf(&mut buf).await {
                Ok(0) => return,
                Ok(_) => {
                    if tx.send(Ok(buf.freeze())).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    StreamReader {
        rx,
        current: Bytes::new(),
    }
}

/// Reads up to `limit` bytes: all of a short stream (`true`: it ended), or its first `limit`.
pub(crate) async fn read_prefix<R: AsyncRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> io::Result<(Bytes, bool)> {
    let mut buf = BytesMut::with_capacity(limit.min(PIECE));
    while buf.len() < limit {
        let want = (limit - buf.len()).min(PIECE);
        let mut piece = vec![0u8; want];
        let n = reader.read(&mut piece).await?;
        if n == 0 {
            return Ok((buf.freeze(), true));
        }
        buf.extend_from_slice(&piece[..n]);
    }
    Ok((buf.freeze(), false))
}
