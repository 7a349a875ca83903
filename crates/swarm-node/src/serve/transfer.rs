//! Reads and writes: the requests that carry data. A read frames the store's buffer without
//! copying it; a write is refused before its data when it is too large or names an object a
//! peer may not write, and otherwise is buffered to its end frame, a shard checked against its
//! name (BLAKE3, as its frames arrive), and only then stored.

use bytes::BytesMut;
use iroh::endpoint::SendStream;
use swarm_store::Object;
use swarm_wire::codes::stream as stream_code;
use swarm_wire::{Failure, Frame, ObjectName, Request, RequestCheck, Response};

use super::{Abort, Read, Shared, done, kib, protocol};
use crate::convert::failure_of;
use crate::stream::{FrameReader, StreamError, answer, send_data, send_message};

impl Shared {
    /// A read: the object's bytes as a data sequence (framed from the store's buffer without
    /// copying it).
    pub(super) async fn read(
        &self,
        send: &mut SendStream,
        object: &ObjectName,
        what: Read,
    ) -> Result<(), Abort> {
        let o = match self.object(object) {
            Ok(o) => o,
            Err(f) => return Ok(answer(send, &Response::Failed(f)).await?),
        };
        let result = match what {
            Read::Whole { max } => self.store.read(&o, max).await,
            Read::Range { offset, len } => self.store.read_range(&o, offset, len).await,
        };
        match result {
            Ok(bytes) => {
                let len = bytes.len() as u64;
                send_message(send, &Response::Data { len }).await?;
                send_data(send, bytes, self.config.upload.as_deref()).await?;
                send.finish().map_err(|_| StreamError::Closed)?;
                self.config.traffic.served_out(len);
            }
            Err(e) => answer(send, &Response::Failed(failure_of(&e))).await?,
        }
        Ok(())
    }

    /// A write: refused early past the size limit or for an object a peer may not write;
    /// otherwise buffered until its end frame, a shard checked against its name, then stored.
    pub(super) async fn write(
        &self,
        send: &mut SendStream,
        mut reader: FrameReader<Request>,
        mut check: RequestCheck,
        object: &ObjectName,
        len: u64,
    ) -> Result<(), Abort> {
        let o = match self.writable(object, len) {
            Ok(o) => o,
            Err(f) => {
                answer(send, &Response::Failed(f)).await?;
                reader.stop(stream_code::ANSWERED);
                return Ok(());
            }
        };
        // At most all of it, so a write larger than the budget waits for the others to finish
        // rather than forever.
        let _memory = self
            .write_memory
            .acquire_many(kib(len).min(kib(self.config.write_memory)))
            .await
            .map_err(|_| Abort::Gone(StreamError::Closed))?;
        let mut buf = BytesMut::with_capacity(len.min(swarm_wire::MAX_DATA as u64 * 4) as usize);
        let mut hasher = matches!(o, Object::Shard(_)).then(blake3::Hasher::new);
        loop {
            let frame = reader
                .next()
                .await?
                .ok_or_else(|| protocol("the stream ended before the write's end frame"))?;
            check.check(&frame).map_err(|e| protocol(e.to_string()))?;
            match frame {
                Frame::Data(data) => {
                    if let Some(link) = &self.config.download {
                        link.pass(data.len() as u64).await;
                    }
                    self.config.traffic.served_in(data.len() as u64);
                    if let Some(h) = hasher.as_mut() {
                        h.update(&data);
                    }
                    buf.extend_from_slice(&data);
                }
                Frame::End => break,
                Frame::Message(_) => return Err(protocol("a message inside a write's data")),
            }
        }
        if let (Some(h), Object::Shard(name)) = (hasher, &o) {
            let got = h.finalize();
            if got.as_bytes() != &name.0 {
                let what = format!(
                    "the bytes of shard {name} hash to {}: not stored",
                    got.to_hex()
                );
                tracing::warn!("refused a write: {what}");
                return Ok(answer(send, &Response::Failed(Failure::bad_request(&what))).await?);
            }
        }
        // A manifest is taken only from a member with write rights who signed it (version 3),
        // so a forged or corrupt one never spreads from here.
        if let (Object::Manifest(_), Some(keeper)) = (&o, &self.config.keeper)
            && let Err(e) = swarm_core::manifest::check_writer(&buf, &keeper.definition())
        {
            let what = format!("{o} not stored: {e}");
            tracing::warn!("refused a write: {what}");
            return Ok(answer(send, &Response::Failed(Failure::refused(&what))).await?);
        }
        let stored = self.store.write(&o, buf.freeze()).await;
        if stored.is_ok() && matches!(o, Object::Manifest(_)) {
            self.config.traffic.manifest_arrived();
        }
        let response = done(stored, |e| Response::Failed(failure_of(e)));
        Ok(answer(send, &response).await?)
    }

    /// The object a peer may write, or why not (answered before any of its data is read).
    fn writable(&self, object: &ObjectName, len: u64) -> Result<Object, Failure> {
        if len > self.config.max_write {
            return Err(Failure::TooLarge {
                size: len,
                max: self.config.max_write,
            });
        }
        match self.object(object)? {
            Object::Marker | Object::Staging(_) => Err(Failure::refused(
                "a node writes its marker and its staged files itself",
            )),
            o => Ok(o),
        }
    }
}
