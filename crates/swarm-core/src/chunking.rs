//! Content-defined chunking (FastCDC 2020) with parameters that are part of the storage format.
//!
//! Chunk boundaries decide which chunks two versions of a file share, so every parameter is
//! recorded in the manifest and checked here: fastcdc itself only `debug_assert`s them.
//!
//! FastCDC averages at most 4 MiB, and a shard is a chunk's k-th part. Where `k x target shard`
//! is larger than that, chunks are *groups* of consecutive FastCDC chunks (see [`Grouping`]), so
//! shards reach the target size that remote stores need for efficient requests.

use std::io::Read;

use bytes::Bytes;

use crate::buffers;
use fastcdc::v2020::{self, Normalization};

/// Largest group a manifest may describe (a chunk length is a u32; memory is a few chunks).
pub const MAX_GROUP: u32 = 1 << 30;

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
    /// When set, chunks are groups of the FastCDC chunks above.
    pub group: Option<Grouping>,
}

/// Content-defined groups of FastCDC chunks ("sub-chunks").
///
/// Sub-chunks are added to the current group in order. After adding one, the group closes if
/// it holds at least `min` bytes and the sub-chunk's cut is *strong* (the top bit of FastCDC's
/// gear hash at the cut is 0: one cut in two, decided by the bytes just before it), or if one
/// more sub-chunk of the largest size could take it past `max`. The input's end closes the
/// last group; if that group is shorter than `min`, it joins the group before it when the two
/// fit in `max`, and otherwise the two are cut again into equal halves. So only inputs shorter
/// than `min` have a chunk shorter than `min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad chunker parameters min={min} avg={avg} max={max} level={level}{group}: {reason}")]
pub struct ChunkerError {
    min: u32,
    avg: u32,
    max: u32,
    level: u8,
    group: String,
    reason: &'static str,
}

impl ChunkerParams {
    /// Chunks of about `k x target_shard`, so each shard is about `target_shard` bytes.
    ///
    /// Up to FastCDC's 4 MiB average, chunks are plain FastCDC chunks averaging the nearest power
    /// of two (min avg/4, max avg*4). Above it, chunks are groups of at least `k x target_shard`
    /// (at most twice that) made of FastCDC chunks averaging a quarter of the target shard, so
    /// every shard but those of a file's only chunk is at least `target_shard`.
    pub fn for_coding(k: u16, target_shard: u64) -> Self {
        let want = (u64::from(k)).saturating_mul(target_shard.max(1));
        if want <= v2020::AVERAGE_MAX as u64 {
            return Self::plain(nearest_pow2(want));
        }
        let group_min = want.min(u64::from(MAX_GROUP / 2)) as u32;
        ChunkerParams {
            group: Some(Grouping {
                min: group_min,
                max: group_min.saturating_mul(2),
            }),
            ..Self::plain(nearest_pow2(target_shard / 4))
        }
    }

    fn plain(avg: u64) -> Self {
        let avg = avg.clamp(v2020::AVERAGE_MIN as u64, v2020::AVERAGE_MAX as u64) as u32;
        ChunkerParams {
            min: avg / 4,
            avg,
            max: avg.saturating_mul(4),
            level: 1,
            seed: 0,
            group: None,
        }
    }

    /// The longest chunk these parameters make.
    pub fn max_chunk(&self) -> u32 {
        self.group.map_or(self.max, |g| g.max)
    }

    pub fn validate(&self) -> Result<(), ChunkerError> {
        let fail = |reason| {
            Err(ChunkerError {
                min: self.min,
                avg: self.avg,
                max: self.max,
                level: self.level,
                group: self
                    .group
                    .map(|g| format!(" group min={} max={}", g.min, g.max))
                    .unwrap_or_default(),
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
        if let Some(g) = self.group {
            if g.min < self.max {
                return fail("a group's min must be at least the FastCDC max");
            }
            if g.max < g.min.saturating_add(self.max) || g.max / 2 < g.min {
                return fail(
                    "a group's max must be at least its min plus the FastCDC max, and twice its min",
                );
            }
            if g.max > MAX_GROUP {
                return fail("a group's max must be at most 1 GiB");
            }
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

    /// Splits a stream into chunks (see [`Chunks`]). Call [`validate`](Self::validate) first
    /// (the manifest decoder does).
    pub fn stream<R: Read>(&self, source: R) -> Chunks<R> {
        Chunks {
            sub: SubChunks::new(source, *self),
            group: self.group.map(|rule| Groups::new(rule, self.max)),
        }
    }

    /// Chunk boundaries of an in-memory buffer (lengths, in order).
    pub fn cut(&self, data: &[u8]) -> Vec<usize> {
        let subs = v2020::FastCDC::with_level_and_seed(
            data,
            self.min as usize,
            self.avg as usize,
            self.max as usize,
            self.normalization(),
            self.seed,
        );
        let Some(rule) = self.group else {
            return subs.map(|c| c.length).collect();
        };
        let mut lens: Vec<usize> = Vec::new();
        let mut open = 0usize;
        for c in subs {
            open += c.length;
            if closes(rule, self.max, open, c.hash) {
                lens.push(open);
                open = 0;
            }
        }
        let prev = match lens.pop() {
            Some(prev) => prev,
            None if open > 0 => return vec![open],
            None => return lens,
        };
        match ending(rule, prev, open) {
            End::Keep if open > 0 => lens.extend([prev, open]),
            End::Keep => lens.push(prev),
            End::Merge => lens.push(prev + open),
            End::Split(first) => lens.extend([first, prev + open - first]),
        }
        lens
    }
}

/// Whether a group of `len` bytes closes after a sub-chunk whose cut has gear hash `hash`.
fn closes(rule: Grouping, sub_max: u32, len: usize, hash: u64) -> bool {
    let strong = hash >> 63 == 0;
    (len >= rule.min as usize && strong) || len + sub_max as usize > rule.max as usize
}

/// What becomes of the input's last group (`tail` bytes, closed by the end) and the one
/// before it (`prev` bytes).
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Both stay as they are (the tail is long enough, or empty).
    Keep,
    /// The tail joins the group before it.
    Merge,
    /// Too long together: they are cut again into two of `first` and the rest (equal halves,
    /// the first one byte longer when odd), both at least the group min.
    Split(usize),
}

fn ending(rule: Grouping, prev: usize, tail: usize) -> End {
    if tail == 0 || tail >= rule.min as usize {
        End::Keep
    } else if prev + tail <= rule.max as usize {
        End::Merge
    } else {
        End::Split((prev + tail).div_ceil(2))
    }
}

/// Chunks of a stream: FastCDC chunks, or groups of them (copied into one buffer each).
pub struct Chunks<R> {
    sub: SubChunks<R>,
    group: Option<Groups>,
}

impl<R: Read> Iterator for Chunks<R> {
    type Item = std::io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        let Some(g) = &mut self.group else {
            return self.sub.next().map(|r| r.map(|(b, _)| b));
        };
        loop {
            match self.sub.next() {
                Some(Ok((bytes, hash))) => {
                    if let Some(done) = g.add(&bytes, hash) {
                        return Some(Ok(done));
                    }
                }
                Some(Err(e)) => return Some(Err(e)),
                None => return g.finish().map(Ok),
            }
        }
    }
}

/// Streaming state of [`Grouping`]: the open group, and the last closed one, held back until
/// it is known whether the input's last group joins it.
struct Groups {
    rule: Grouping,
    sub_max: u32,
    open: Vec<u8>,
    held: Option<Vec<u8>>,
    /// The second half of a split ending, handed out after the first.
    rest: Option<Bytes>,
}

impl Groups {
    fn new(rule: Grouping, sub_max: u32) -> Self {
        Groups {
            rule,
            sub_max,
            open: Vec::new(),
            held: None,
            rest: None,
        }
    }

    fn buffer(&self) -> Vec<u8> {
        buffers::GROUPS.take(self.rule.max as usize)
    }

    /// Adds a sub-chunk; returns a group that is final.
    fn add(&mut self, sub: &[u8], hash: u64) -> Option<Bytes> {
        if self.open.capacity() == 0 {
            self.open = self.buffer();
        }
        self.open.extend_from_slice(sub);
        if !closes(self.rule, self.sub_max, self.open.len(), hash) {
            return None;
        }
        let closed = std::mem::take(&mut self.open);
        self.held
            .replace(closed)
            .map(|prev| buffers::GROUPS.freeze(prev))
    }

    /// At the input's end, one call per remaining chunk: the held group and the open one, as
    /// [`ending`] says.
    fn finish(&mut self) -> Option<Bytes> {
        if let Some(rest) = self.rest.take() {
            return Some(rest);
        }
        let tail = std::mem::take(&mut self.open);
        let Some(mut prev) = self.held.take() else {
            return (!tail.is_empty()).then(|| buffers::GROUPS.freeze(tail));
        };
        match ending(self.rule, prev.len(), tail.len()) {
            End::Keep => {
                if !tail.is_empty() {
                    self.held = Some(tail);
                }
                Some(buffers::GROUPS.freeze(prev))
            }
            End::Merge => {
                prev.extend_from_slice(&tail);
                Some(buffers::GROUPS.freeze(prev))
            }
            End::Split(first) => {
                prev.extend_from_slice(&tail);
                let both = buffers::GROUPS.freeze(prev);
                self.rest = Some(both.slice(first..));
                Some(both.slice(..first))
            }
        }
    }
}

/// FastCDC chunks of a reader with the gear hash at each cut, cut exactly where FastCDC over the
/// whole input would.
///
/// Reads blocks of at least 16 MiB and hands chunks out as `Bytes` slices of them, so chunk data
/// is never copied (fastcdc's `StreamCDC` copies every chunk out and shifts its buffer). Only the
/// bytes after the last certain cut are carried into the next block. A cut is certain when the
/// window after it reaches `max`, or reaches `avg` and holds a boundary found before its end:
/// FastCDC's cut depends only on the bytes it scanned, and its mask switch point (`avg`) is the
/// same with more data.
struct SubChunks<R> {
    source: R,
    params: ChunkerParams,
    block: usize,
    carry: Bytes,
    ready: std::collections::VecDeque<(Bytes, u64)>,
    eof: bool,
}

impl<R: Read> SubChunks<R> {
    fn new(source: R, params: ChunkerParams) -> Self {
        let block = (params.max as usize).max(16 << 20);
        SubChunks {
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
            self.ready.push_back((
                data.slice(chunk.offset..chunk.offset + chunk.length),
                chunk.hash,
            ));
            offset = chunk.offset + chunk.length;
        }
        // Copy the uncertain tail so the block can be freed once its chunks are.
        self.carry = Bytes::copy_from_slice(&data[offset..]);
        Ok(())
    }
}

impl<R: Read> Iterator for SubChunks<R> {
    type Item = std::io::Result<(Bytes, u64)>;

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
        assert_eq!(ChunkerParams::for_coding(4, 1 << 20).group, None);
        // Past FastCDC's 4 MiB average, chunks are groups of at least k x the target shard.
        let p = ChunkerParams::for_coding(3, 4 << 20);
        assert_eq!(
            p.group,
            Some(Grouping {
                min: 12 << 20,
                max: 24 << 20
            })
        );
        assert_eq!((p.avg, p.max, p.max_chunk()), (1 << 20, 4 << 20, 24 << 20));
        assert_eq!(
            ChunkerParams::for_coding(6, 1 << 20).group.unwrap().min,
            6 << 20
        );
        for k in [100u16, 127] {
            let huge = ChunkerParams::for_coding(k, 64 << 20);
            huge.validate().unwrap();
            assert_eq!(huge.max_chunk(), MAX_GROUP);
        }
    }

    fn grouped(min: u32, max: u32) -> ChunkerParams {
        ChunkerParams {
            min: 64,
            avg: 256,
            max: 1024,
            level: 1,
            seed: 0,
            group: Some(Grouping { min, max }),
        }
    }

    #[test]
    fn rejects_bad_groups() {
        grouped(2048, 4096).validate().unwrap();
        for (min, max) in [(512, 4096), (2048, 2048), (2048, 3000), (1 << 30, 1 << 31)] {
            let err = grouped(min, max).validate().unwrap_err().to_string();
            assert!(err.contains(&format!("group min={min} max={max}")), "{err}");
        }
    }

    /// Group boundaries are part of the format too.
    #[test]
    fn group_boundaries_are_pinned() {
        let data = pseudo_random(1 << 20, 7);
        let p = ChunkerParams {
            group: Some(Grouping {
                min: 65536,
                max: 196608,
            }),
            ..ChunkerParams::for_coding(1, 16384)
        };
        p.validate().unwrap();
        let cuts = p.cut(&data);
        assert_eq!(cuts.iter().sum::<usize>(), data.len());
        assert_eq!(
            cuts.iter().copied().take(6).collect::<Vec<_>>(),
            PINNED_FIRST_GROUPS,
            "group boundaries changed: the storage format depends on them"
        );
    }
    const PINNED_FIRST_GROUPS: [usize; 6] = [98535, 76896, 73612, 140120, 99938, 77157];

    #[test]
    fn groups_hold_their_bounds_and_shift_locally() {
        let data = pseudo_random(8 << 20, 5);
        let p = ChunkerParams {
            group: Some(Grouping {
                min: 256 << 10,
                max: 512 << 10,
            }),
            ..ChunkerParams::for_coding(1, 64 << 10)
        };
        p.validate().unwrap();
        let cuts = p.cut(&data);
        let (last, body) = cuts.split_last().unwrap();
        assert!(
            body.iter().all(|&n| (256 << 10..=512 << 10).contains(&n)),
            "{cuts:?}"
        );
        assert!(
            *last >= 256 << 10,
            "the short tail joins the group before it: {cuts:?}"
        );
        let mean = data.len() / cuts.len();
        assert!(
            mean < 330 << 10,
            "groups average {mean} bytes, want close to the min"
        );
        // An insertion changes only the groups around it.
        let mut edited = data.clone();
        edited.splice(3 << 20..3 << 20, [1u8, 2, 3]);
        let a: std::collections::HashSet<_> = chunks(&p, &data).into_iter().collect();
        let b = chunks(&p, &edited);
        let shared = b.iter().filter(|c| a.contains(*c)).count();
        assert!(
            shared + 3 >= b.len(),
            "only {shared} of {} groups shared",
            b.len()
        );
    }

    #[test]
    fn the_last_group_joins_or_is_split_evenly() {
        let rule = Grouping {
            min: 2048,
            max: 4096,
        };
        assert_eq!(ending(rule, 3000, 0), End::Keep);
        assert_eq!(ending(rule, 3000, 2048), End::Keep);
        assert_eq!(ending(rule, 3000, 1000), End::Merge);
        assert_eq!(ending(rule, 3900, 1001), End::Split(2451));
        // Found through the stream too: a full group, then a tail that cannot join it.
        let p = grouped(2048, 4096);
        for seed in 0..200 {
            let data = pseudo_random(9000 + seed as usize * 37, seed);
            let cuts = p.cut(&data);
            assert!(cuts.iter().all(|&n| (2048..=4096).contains(&n)), "{cuts:?}");
        }
    }

    #[test]
    fn inputs_shorter_than_a_group_are_one_chunk() {
        let p = grouped(2048, 4096);
        for len in [1, 100, 2047] {
            assert_eq!(p.cut(&pseudo_random(len, 1)), vec![len]);
            let streamed: Vec<usize> = p
                .stream(&pseudo_random(len, 1)[..])
                .map(|c| c.unwrap().len())
                .collect();
            assert_eq!(streamed, vec![len]);
        }
        assert!(p.cut(&[]).is_empty());
        assert_eq!(p.stream(&[][..]).count(), 0);
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
            group: None,
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
            group: None,
        };
        let streamed: Vec<usize> = p.stream(&data[..]).map(|c| c.unwrap().len()).collect();
        assert_eq!(streamed, p.cut(&data));
        let mut small = p.stream(&data[..]);
        small.sub.block = 1000;
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
            let p = ChunkerParams { min: 64, avg: 256, max: 1024, level, seed: 0, group: None };
            let mut s = p.stream(&data[..]);
            s.sub.block = block;
            let chunks: Vec<Bytes> = s.map(|c| c.unwrap()).collect();
            proptest::prop_assert_eq!(chunks.iter().map(Bytes::len).collect::<Vec<_>>(), p.cut(&data));
            proptest::prop_assert_eq!(chunks.concat(), data);
        }
    }

    proptest::proptest! {
        /// Grouping over a stream cuts where grouping over the whole input does, and keeps the
        /// bytes, for any read block size.
        #[test]
        fn streamed_groups_cut_like_whole_input(seed in 0u64..1000, len in 0usize..60_000, block in 1usize..5000,
                                                repeat in proptest::bool::ANY) {
            let mut data = pseudo_random(len, seed);
            if repeat {
                for b in data.iter_mut().skip(len / 3).take(len / 3) { *b = 7; }
            }
            let p = grouped(2048, 4096);
            let mut s = p.stream(&data[..]);
            s.sub.block = block;
            let chunks: Vec<Bytes> = s.map(|c| c.unwrap()).collect();
            let lens: Vec<usize> = chunks.iter().map(Bytes::len).collect();
            proptest::prop_assert_eq!(&lens, &p.cut(&data));
            proptest::prop_assert!(lens.iter().all(|&n| n <= 4096));
            // Every chunk holds at least the group min, unless the whole input is shorter.
            if len >= 2048 {
                proptest::prop_assert!(lens.iter().all(|&n| n >= 2048), "{:?}", lens);
            }
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
