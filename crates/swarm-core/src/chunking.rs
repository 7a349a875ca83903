//! Content-defined chunking (FastCDC 2020) with parameters that are part of the storage format.
//!
//! Chunk boundaries decide which chunks two versions of a file share, so every parameter is
//! recorded in the manifest and checked here: fastcdc itself only `debug_assert`s them.

use std::io::Read;

use bytes::Bytes;

use crate::buffers;
use fastcdc::v2020::{self, Normalization};

/// Parameters of the FastCDC 2020 chunker; all sizes are powers of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerParams {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
    /// Normalization level 0..=3 (fastcdc's `Normalization`).
    pub level: u8,
    /// Gear table seed; 0 is fastcdc's default table.
    pub seed: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad chunker parameters min={min} avg={avg} max={max} level={level}: {reason}")]
pub struct ChunkerError {
    min: u32,
    avg: u32,
    max: u32,
    level: u8,
    reason: &'static str,
}

impl ChunkerParams {
    /// Chunks average `k x target_shard` (the nearest power of two, capped by FastCDC's limits),
    /// so each shard is about `target_shard` bytes; min is avg/4, max avg*4.
    pub fn for_coding(k: u16, target_shard: u64) -> Self {
        let want = (u64::from(k)).saturating_mul(target_shard.max(1));
        let avg =
            nearest_pow2(want).clamp(v2020::AVERAGE_MIN as u64, v2020::AVERAGE_MAX as u64) as u32;
        ChunkerParams {
            min: avg / 4,
            avg,
            max: avg.saturating_mul(4),
            level: 1,
            seed: 0,
        }
    }

    pub fn validate(&self) -> Result<(), ChunkerError> {
        let fail = |reason| {
            Err(ChunkerError {
                min: self.min,
                avg: self.avg,
                max: self.max,
                level: self.level,
                reason,
            })
        };
        let (min, avg, max) = (self.min as usize, self.avg as usize, self.max as usize);
        if !(min.is_power_of_two() && avg.is_power_of_two() && max.is_power_of_two()) {
            return fail("sizes must be powers of two");
        }
        if !(v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&min)
            || !(v2020::AVERAGE_MIN..=v2020::AVERAGE_MAX).contains(&avg)
            || !(v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&max)
        {
            return fail("outside FastCDC 2020 limits");
        }
        if !(min <= avg && avg <= max) {
            return fail("need min <= avg <= max");
        }
        if self.level > 3 {
            return fail("normalization level must be 0..=3");
        }
        Ok(())
    }

    fn normalization(&self) -> Normalization {
        match self.level {
            0 => Normalization::Level0,
            1 => Normalization::Level1,
            2 => Normalization::Level2,
            _ => Normalization::Level3,
        }
    }

    /// Splits a stream into chunks, each a zero-copy slice of a large read buffer (see
    /// [`Chunks`]). Call [`validate`](Self::validate) first (the manifest decoder does).
    pub fn stream<R: Read>(&self, source: R) -> Chunks<R> {
        Chunks::new(source, *self)
    }

    /// Chunk boundaries of an in-memory buffer (lengths, in order).
    pub fn cut(&self, data: &[u8]) -> Vec<usize> {
        v2020::FastCDC::with_level_and_seed(
            data,
            self.min as usize,
            self.avg as usize,
            self.max as usize,
            self.normalization(),
            self.seed,
        )
        .map(|c| c.length)
        .collect()
    }
}

/// Streams chunks out of a reader, cutting exactly where FastCDC over the whole input would.
///
/// Reads blocks of at least 16 MiB and hands chunks out as `Bytes` slices of them, so chunk data
/// is never copied (fastcdc's `StreamCDC` copies every chunk out and shifts its buffer). Only the
/// bytes after the last certain cut are carried into the next block. A cut is certain when the
/// window after it reaches `max`, or reaches `avg` and holds a boundary found before its end:
/// FastCDC's cut depends only on the bytes it scanned, and its mask switch point (`avg`) is the
/// same with more data.
pub struct Chunks<R> {
    source: R,
    params: ChunkerParams,
    block: usize,
    carry: Bytes,
    ready: std::collections::VecDeque<Bytes>,
    eof: bool,
}

impl<R: Read> Chunks<R> {
    fn new(source: R, params: ChunkerParams) -> Self {
        let block = (params.max as usize).max(16 << 20);
        Chunks {
            source,
            params,
            block,
            carry: Bytes::new(),
            ready: Default::default(),
            eof: false,
        }
    }

    /// Reads the next block (after the carried bytes) and queues every certain chunk in it.
    fn refill(&mut self) -> std::io::Result<()> {
        // Blocks are pooled at one size (the most a block can hold), so they are reused.
        let mut buf = buffers::BLOCKS.take(self.block + self.params.max as usize);
        buf.extend_from_slice(&self.carry);
        let want = self.block as u64;
        let got = (&mut self.source).take(want).read_to_end(&mut buf)?;
        if (got as u64) < want {
            self.eof = true;
        }
        let data = buffers::BLOCKS.freeze(buf);
        let (min, avg, max) = (
            self.params.min as usize,
            self.params.avg as usize,
            self.params.max as usize,
        );
        let mut offset = 0;
        for chunk in v2020::FastCDC::with_level_and_seed(
            &data,
            min,
            avg,
            max,
            self.params.normalization(),
            self.params.seed,
        ) {
            let remaining = data.len() - chunk.offset;
            let certain =
                self.eof || remaining >= max || (remaining >= avg && chunk.length + 2 <= remaining);
            if !certain {
                break;
            }
            self.ready
                .push_back(data.slice(chunk.offset..chunk.offset + chunk.length));
            offset = chunk.offset + chunk.length;
        }
        // Copy the uncertain tail so the block can be freed once its chunks are.
        self.carry = Bytes::copy_from_slice(&data[offset..]);
        Ok(())
    }
}

impl<R: Read> Iterator for Chunks<R> {
    type Item = std::io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(c) = self.ready.pop_front() {
                return Some(Ok(c));
            }
            if self.eof {
                return None;
            }
            if let Err(e) = self.refill() {
                self.eof = true;
                return Some(Err(e));
            }
        }
    }
}

fn nearest_pow2(v: u64) -> u64 {
    if v <= 1 {
        return 1;
    }
    let hi = v.next_power_of_two();
    let lo = hi / 2;
    if v - lo < hi - v { lo } else { hi }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn coding_params_are_valid_and_near_target() {
        for k in [1u16, 2, 3, 4, 6, 10, 16, 64] {
            for shard in [64 << 10, 1 << 20, 4 << 20] {
                let p = ChunkerParams::for_coding(k, shard);
                p.validate().unwrap();
            }
        }
        assert_eq!(ChunkerParams::for_coding(4, 1 << 20).avg, 4 << 20);
        assert_eq!(ChunkerParams::for_coding(3, 1 << 20).avg, 4 << 20);
        assert_eq!(ChunkerParams::for_coding(1, 1 << 20).avg, 1 << 20);
    }

    #[test]
    fn rejects_bad_params() {
        let ok = ChunkerParams::for_coding(4, 1 << 20);
        for bad in [
            ChunkerParams { min: 3, ..ok },
            ChunkerParams { max: 1 << 30, ..ok },
            ChunkerParams {
                min: ok.max,
                max: ok.min,
                ..ok
            },
            ChunkerParams { level: 9, ..ok },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    /// Chunk boundaries are part of the format: this pins them for a fixed input.
    #[test]
    fn boundaries_are_pinned() {
        let data = pseudo_random(1 << 20, 7);
        let p = ChunkerParams {
            min: 4096,
            avg: 16384,
            max: 65536,
            level: 1,
            seed: 0,
        };
        let cuts = p.cut(&data);
        assert_eq!(cuts.iter().sum::<usize>(), data.len());
        let first: Vec<usize> = cuts.iter().copied().take(6).collect();
        assert_eq!(
            first, PINNED_FIRST_CUTS,
            "FastCDC boundaries changed: the storage format depends on them"
        );
    }
    const PINNED_FIRST_CUTS: [usize; 6] = [15877, 26948, 17078, 4687, 33945, 19153];

    #[test]
    fn stream_matches_slice_and_shifts_locally() {
        let data = pseudo_random(3 << 20, 11);
        let p = ChunkerParams {
            min: 16384,
            avg: 65536,
            max: 262144,
            level: 1,
            seed: 0,
        };
        let streamed: Vec<usize> = p.stream(&data[..]).map(|c| c.unwrap().len()).collect();
        assert_eq!(streamed, p.cut(&data));
        let mut small = p.stream(&data[..]);
        small.block = 1000;
        assert_eq!(
            small.map(|c| c.unwrap().len()).collect::<Vec<_>>(),
            p.cut(&data)
        );
        // An insertion near the start changes only the chunks around it.
        let mut edited = data.clone();
        edited.splice(1000..1000, [1u8, 2, 3]);
        let a: std::collections::HashSet<_> = chunks(&p, &data).into_iter().collect();
        let b = chunks(&p, &edited);
        let shared = b.iter().filter(|c| a.contains(*c)).count();
        assert!(
            shared + 3 >= b.len(),
            "only {shared} of {} chunks shared",
            b.len()
        );
    }

    proptest::proptest! {
        /// Streaming over any block size cuts exactly where FastCDC over the whole input does,
        /// and the chunks are the input's bytes.
        #[test]
        fn streaming_cuts_like_whole_input(seed in 0u64..1000, len in 0usize..40_000, block in 1usize..5000, level in 0u8..4,
                                           repeat in proptest::bool::ANY) {
            let mut data = pseudo_random(len, seed);
            if repeat {
                // Low-entropy stretches hit the max-size cut path.
                for b in data.iter_mut().skip(len / 3).take(len / 3) { *b = 7; }
            }
            let p = ChunkerParams { min: 64, avg: 256, max: 1024, level, seed: 0 };
            let mut s = p.stream(&data[..]);
            s.block = block;
            let chunks: Vec<Bytes> = s.map(|c| c.unwrap()).collect();
            proptest::prop_assert_eq!(chunks.iter().map(Bytes::len).collect::<Vec<_>>(), p.cut(&data));
            proptest::prop_assert_eq!(chunks.concat(), data);
        }
    }

    fn chunks(p: &ChunkerParams, data: &[u8]) -> Vec<blake3::Hash> {
        let mut off = 0;
        p.cut(data)
            .into_iter()
            .map(|n| {
                let h = blake3::hash(&data[off..off + n]);
                off += n;
                h
            })
            .collect()
    }
}
