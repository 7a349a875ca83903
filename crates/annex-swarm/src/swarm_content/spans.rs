//! Where an object's bytes lie in its data shards (pure): the coding is systematic, so data
//! shard `i` of a chunk of `len` bytes is the chunk's bytes `i * s .. min((i + 1) * s, len)`
//! for the coding's shard length `s`. A piece of the torrent is a run of such spans.

use swarm_core::manifest::{Body, Manifest};

/// One data shard's bytes of a chunk (or, for an inline object, the whole object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Where it starts in the object, and its length (a last data shard's padding left out).
    pub start: u64,
    pub len: u64,
    pub chunk: usize,
    /// Its data shard, `None` for an inline object.
    pub shard: Option<usize>,
    /// Where its chunk starts in the object, and the chunk's length.
    pub chunk_start: u64,
    pub chunk_len: u64,
}

/// Part of a [`Span`]: `len` bytes from `offset` into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub span: Span,
    pub offset: u64,
    pub len: u64,
}

impl Segment {
    /// Where it starts in the object.
    pub fn start(&self) -> u64 {
        self.span.start + self.offset
    }
}

/// The spans of an object, in order, covering it without gaps.
#[derive(Debug, Clone)]
pub struct Spans(Vec<Span>);

impl Spans {
    pub fn of(manifest: &Manifest) -> Spans {
        let mut spans = Vec::new();
        match &manifest.body {
            Body::Chunked { coding, chunks, .. } => {
                let mut chunk_start = 0u64;
                for (n, c) in chunks.iter().enumerate() {
                    let chunk_len = u64::from(c.len);
                    let s = coding.shard_len(c.len as usize) as u64;
                    for i in 0..usize::from(coding.k()) {
                        let from = (i as u64 * s).min(chunk_len);
                        let to = ((i as u64 + 1) * s).min(chunk_len);
                        if to > from {
                            spans.push(Span {
                                start: chunk_start + from,
                                len: to - from,
                                chunk: n,
                                shard: Some(i),
                                chunk_start,
                                chunk_len,
                            });
                        }
                    }
                    chunk_start += chunk_len;
                }
            }
            Body::Inline(_) => spans.push(Span {
                start: 0,
                len: manifest.size,
                chunk: 0,
                shard: None,
                chunk_start: 0,
                chunk_len: manifest.size,
            }),
        }
        Spans(spans)
    }

    /// The segments covering `start..end`, in order; fewer bytes when the range runs past the
    /// object.
    pub fn segments(&self, start: u64, end: u64) -> Vec<Segment> {
        let first = self.0.partition_point(|s| s.start + s.len <= start);
        self.0[first..]
            .iter()
            .take_while(|s| s.start < end)
            .map(|&span| {
                let from = start.max(span.start);
                let to = end.min(span.start + span.len);
                Segment {
                    span,
                    offset: from - span.start,
                    len: to - from,
                }
            })
            .filter(|seg| seg.len > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn span(start: u64, len: u64, chunk: usize, shard: usize, chunk_start: u64) -> Span {
        Span {
            start,
            len,
            chunk,
            shard: Some(shard),
            chunk_start,
            chunk_len: 0,
        }
    }

    /// Two chunks: 10 bytes in shards of 3 (3, 3, 3, 1), then 4 bytes in shards of 1.
    fn spans() -> Spans {
        let mut v = vec![
            span(0, 3, 0, 0, 0),
            span(3, 3, 0, 1, 0),
            span(6, 3, 0, 2, 0),
            span(9, 1, 0, 3, 0),
        ];
        v.extend((0..4).map(|i| span(10 + i, 1, 1, i as usize, 10)));
        Spans(v)
    }

    fn covered(segs: &[Segment]) -> Vec<(usize, usize, u64, u64)> {
        segs.iter()
            .map(|s| (s.span.chunk, s.span.shard.unwrap(), s.offset, s.len))
            .collect()
    }

    #[test]
    fn a_range_is_cut_at_shard_and_chunk_boundaries() {
        let s = spans();
        // Inside one shard.
        assert_eq!(covered(&s.segments(4, 5)), [(0, 1, 1, 1)]);
        // Exactly one shard.
        assert_eq!(covered(&s.segments(3, 6)), [(0, 1, 0, 3)]);
        // Across shards and into the next chunk.
        assert_eq!(
            covered(&s.segments(5, 12)),
            [
                (0, 1, 2, 1),
                (0, 2, 0, 3),
                (0, 3, 0, 1),
                (1, 0, 0, 1),
                (1, 1, 0, 1)
            ]
        );
        // The whole object, and past its end.
        let all = s.segments(0, 100);
        assert_eq!(all.iter().map(|x| x.len).sum::<u64>(), 14);
        assert_eq!(all.first().unwrap().start(), 0);
        assert_eq!(all.last().unwrap().start(), 13);
        assert!(s.segments(14, 20).is_empty());
        assert!(s.segments(7, 7).is_empty());
    }
}
