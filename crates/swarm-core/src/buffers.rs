//! Reusable big buffers.
//!
//! Chunks and shards are buffers of one to sixteen MiB. Allocated fresh for every chunk they are
//! mapped and unmapped each time, and every 4 KiB page faults in: a fifth of a put's CPU. A pool
//! keeps a few for reuse; a buffer frozen into `Bytes` comes back when its last slice is dropped.

use std::sync::Mutex;

use bytes::Bytes;

/// Idle buffers are kept up to a byte budget (not a count), so bigger shards and chunks do
/// not multiply what sits unused.
pub struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
    keep_bytes: usize,
}

/// Read blocks of the chunker (tens of MiB): two of the usual size.
pub static BLOCKS: Pool = Pool::new(64 << 20);
/// Chunks that are groups of FastCDC chunks (up to twice k x the target shard).
pub static GROUPS: Pool = Pool::new(64 << 20);
/// Shards: parity shards made by the encoder, shards read from stores.
pub static SHARDS: Pool = Pool::new(32 << 20);

impl Pool {
    pub const fn new(keep_bytes: usize) -> Self {
        Pool {
            free: Mutex::new(Vec::new()),
            keep_bytes,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes, reused when one is free.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let reused = self.free.lock().ok().and_then(|mut free| {
            let i = free.iter().position(|b| b.capacity() >= capacity)?;
            Some(free.swap_remove(i))
        });
        reused.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// Shares `buf` as `Bytes`; it returns to this pool when the last reference is dropped.
    pub fn freeze(&'static self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf, pool: self })
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        if let Ok(mut free) = self.free.lock() {
            let kept: usize = free.iter().map(Vec::capacity).sum();
            if kept + buf.capacity() <= self.keep_bytes {
                buf.clear();
                free.push(buf);
            }
        }
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: &'static Pool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    static TEST: Pool = Pool::new(4096);

    #[test]
    fn buffers_come_back_when_the_last_slice_drops() {
        let mut v = TEST.take(1000);
        v.extend_from_slice(&[1u8; 1000]);
        let ptr = v.as_ptr();
        let b = TEST.freeze(v);
        let slice = b.slice(10..20);
        drop(b);
        assert_eq!(
            TEST.free.lock().unwrap().len(),
            0,
            "still referenced by a slice"
        );
        assert_eq!(&slice[..], &[1u8; 10]);
        drop(slice);
        let again = TEST.take(500);
        assert_eq!(again.as_ptr(), ptr, "the same buffer is reused");
        assert!(again.is_empty());
        assert!(TEST.take(10_000).capacity() >= 10_000);
    }

    #[test]
    fn idle_buffers_stay_within_the_byte_budget() {
        static SMALL: Pool = Pool::new(3000);
        let bufs: Vec<Bytes> = (0..4)
            .map(|_| {
                let mut v = SMALL.take(1000);
                v.resize(1000, 7);
                SMALL.freeze(v)
            })
            .collect();
        drop(bufs);
        let kept: usize = SMALL.free.lock().unwrap().iter().map(Vec::capacity).sum();
        assert!((2000..=3000).contains(&kept), "kept {kept} bytes");
    }
}
