//! Making a BitTorrent v1 torrent (BEP 3) of one file whose bytes are streamed, never held:
//! [`PieceHasher`] takes the content in any slices, in order, and keeps only the SHA-1 of each
//! piece; [`TorrentV1`] is the result, with its canonical info dictionary, info hash, `.torrent`
//! file and magnet link. Pure: no I/O (`docs/spec/torrent-seeding-v1.md`).
//!
//! Deterministic: the info dictionary holds only `length`, `name`, `piece length` and `pieces`
//! (as mktorrent and libtorrent write for one file), so the same bytes, name and piece length
//! always give the same info hash, whoever makes it.

use sha1::{Digest, Sha1};

use crate::bencode::Value;
use crate::error::TorrentError;

/// The smallest piece length chosen.
pub const MIN_PIECE_LENGTH: u32 = 256 << 10;
/// The largest piece length chosen: above 8 GB, pieces outnumber [`TARGET_PIECES`].
pub const MAX_PIECE_LENGTH: u32 = 4 << 20;
/// Piece lengths double until the content has at most this many pieces.
pub const TARGET_PIECES: u64 = 2000;

/// The piece length for content of `size` bytes: the smallest power of two from 256 KiB to
/// 4 MiB giving at most 2000 pieces, else 4 MiB (what common clients do, within a factor of two).
pub fn piece_length_for(size: u64) -> u32 {
    let mut p = MIN_PIECE_LENGTH;
    while p < MAX_PIECE_LENGTH && size.div_ceil(u64::from(p)) > TARGET_PIECES {
        p *= 2;
    }
    p
}

/// SHA-1 of each piece of content fed in order.
pub struct PieceHasher {
    piece_length: u32,
    current: Sha1,
    /// Bytes of the current piece hashed so far.
    in_piece: u32,
    pieces: Vec<[u8; 20]>,
    total: u64,
}

impl PieceHasher {
    pub fn new(piece_length: u32) -> Result<PieceHasher, TorrentError> {
        if piece_length < 16 << 10 || !piece_length.is_power_of_two() {
            return Err(TorrentError::BadPieceLength(piece_length));
        }
        Ok(PieceHasher {
            piece_length,
            current: Sha1::new(),
            in_piece: 0,
            pieces: Vec::new(),
            total: 0,
        })
    }

    /// The next bytes of the content.
    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            let room = (self.piece_length - self.in_piece) as usize;
            let (now, rest) = data.split_at(room.min(data.len()));
            self.current.update(now);
            self.in_piece += now.len() as u32;
            if self.in_piece == self.piece_length {
                self.pieces.push(self.current.finalize_reset().into());
                self.in_piece = 0;
            }
            data = rest;
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The torrent of what was fed, named `name`.
    pub fn finish(mut self, name: &str) -> Result<TorrentV1, TorrentError> {
        if self.in_piece > 0 {
            self.pieces.push(self.current.finalize().into());
        }
        TorrentV1::new(name, self.total, self.piece_length, self.pieces)
    }
}

/// A single-file v1 torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentV1 {
    name: String,
    length: u64,
    piece_length: u32,
    pieces: Vec<[u8; 20]>,
}

impl TorrentV1 {
    /// Checks that the parts agree: a plain file name, at least one byte, one hash per piece.
    pub fn new(
        name: &str,
        length: u64,
        piece_length: u32,
        pieces: Vec<[u8; 20]>,
    ) -> Result<TorrentV1, TorrentError> {
        let bad = |why: &str| TorrentError::BadName {
            name: name.to_owned(),
            why: why.to_owned(),
        };
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name == "." || name == ".." || name.contains('/') || name.contains('\\') {
            return Err(bad("a torrent's name must be a plain file name"));
        }
        if name.chars().any(char::is_control) {
            return Err(bad("it contains control characters"));
        }
        if length == 0 {
            return Err(TorrentError::Empty(name.to_owned()));
        }
        if piece_length == 0 || length.div_ceil(u64::from(piece_length)) != pieces.len() as u64 {
            return Err(TorrentError::BadPieceLength(piece_length));
        }
        Ok(TorrentV1 {
            name: name.to_owned(),
            length,
            piece_length,
            pieces,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn length(&self) -> u64 {
        self.length
    }

    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    pub fn piece_count(&self) -> usize {
        self.pieces.len()
    }

    /// Where piece `i` lies in the content: `start..end` (the last piece may be shorter).
    pub fn piece_range(&self, i: usize) -> Option<std::ops::Range<u64>> {
        let start = (i as u64).checked_mul(u64::from(self.piece_length))?;
        (i < self.pieces.len())
            .then(|| start..(start + u64::from(self.piece_length)).min(self.length))
    }

    /// Whether `bytes` are piece `i`: as long as it and with the SHA-1 the torrent lists.
    pub fn piece_matches(&self, i: usize, bytes: &[u8]) -> bool {
        let Some(range) = self.piece_range(i) else {
            return false;
        };
        range.end - range.start == bytes.len() as u64
            && <[u8; 20]>::from(Sha1::digest(bytes)) == self.pieces[i]
    }

    /// The info dictionary: `length`, `name`, `piece length`, `pieces`, nothing else.
    pub fn info(&self) -> Value {
        Value::dict([
            ("length", Value::Int(self.length as i64)),
            ("name", Value::bytes(self.name.as_bytes())),
            ("piece length", Value::Int(i64::from(self.piece_length))),
            ("pieces", Value::Bytes(self.pieces.concat())),
        ])
    }

    /// SHA-1 of the bencoded info dictionary.
    pub fn info_hash(&self) -> [u8; 20] {
        Sha1::digest(self.info().encode()).into()
    }

    /// The info hash as 40 lower-case hex digits.
    pub fn info_hash_hex(&self) -> String {
        hex::encode(self.info_hash())
    }

    /// The `.torrent` file: the info dictionary, `announce` (the first tracker) and, with more
    /// than one, `announce-list` (one tier each); no creation date, so it too is deterministic.
    pub fn torrent_file(&self, trackers: &[String]) -> Vec<u8> {
        let mut top = vec![
            ("created by", Value::bytes("annex-swarm")),
            ("info", self.info()),
        ];
        if let Some(first) = trackers.first() {
            top.push(("announce", Value::bytes(first.as_bytes())));
        }
        if trackers.len() > 1 {
            let tiers = trackers
                .iter()
                .map(|t| Value::List(vec![Value::bytes(t.as_bytes())]))
                .collect();
            top.push(("announce-list", Value::List(tiers)));
        }
        Value::dict(top).encode()
    }

    /// `magnet:?xt=urn:btih:HASH&dn=NAME&xl=LENGTH`, then a `tr=` per tracker and an `x.pe=`
    /// per peer address.
    pub fn magnet(&self, trackers: &[String], peers: &[std::net::SocketAddr]) -> String {
        let mut m = format!(
            "magnet:?xt=urn:btih:{}&dn={}&xl={}",
            self.info_hash_hex(),
            percent_encode(&self.name),
            self.length
        );
        for t in trackers {
            m.push_str("&tr=");
            m.push_str(&percent_encode(t));
        }
        for p in peers {
            // As clients write it (`[::1]:6881` for IPv6): `:`, `[` and `]` are fine in a query.
            m.push_str(&format!("&x.pe={p}"));
        }
        m
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::source::Source;

    /// The golden content: 100 000 bytes, `(i * 31 + i / 256) % 251`.
    fn golden_content() -> Vec<u8> {
        (0..100_000u32)
            .map(|i| ((i * 31 + i / 256) % 251) as u8)
            .collect()
    }

    /// mktorrent 1.1 (`mktorrent -l 15 golden.bin`) and libtorrent 2.1.1
    /// (`create_torrent(fs, 32768, v1_only)`) both give this info hash for the golden content
    /// named `golden.bin` in 32 KiB pieces (three whole pieces and one of 1 696 bytes).
    const GOLDEN_INFO_HASH: &str = "813d0128f21703e3ab6615e7367c4d2f109ac30f";

    /// What a seeder checks a piece read from elsewhere against: each golden piece matches
    /// itself only, the short last one included; a flipped byte or a wrong length does not.
    #[test]
    fn pieces_are_checked_by_range_and_sha1() {
        let content = golden_content();
        let mut h = PieceHasher::new(32 << 10).unwrap();
        h.update(&content);
        let t = h.finish("golden.bin").unwrap();
        assert_eq!(t.piece_range(3), Some(98_304..100_000));
        assert_eq!(t.piece_range(4), None);
        for i in 0..4 {
            let r = t.piece_range(i).unwrap();
            let piece = &content[r.start as usize..r.end as usize];
            assert!(t.piece_matches(i, piece), "piece {i}");
            assert!(
                !t.piece_matches((i + 1) % 4, piece),
                "piece {i} as the next"
            );
            let mut flipped = piece.to_vec();
            flipped[piece.len() / 2] ^= 1;
            assert!(!t.piece_matches(i, &flipped));
            assert!(!t.piece_matches(i, &piece[1..]));
        }
        assert!(!t.piece_matches(4, b""));
    }

    #[test]
    fn the_info_hash_agrees_with_mktorrent_and_libtorrent() {
        let data = golden_content();
        let mut h = PieceHasher::new(32 << 10).unwrap();
        h.update(&data);
        let t = h.finish("golden.bin").unwrap();
        assert_eq!(t.piece_count(), 4);
        assert_eq!(t.info_hash_hex(), GOLDEN_INFO_HASH);
        // The info dictionary's head, field by field, as mktorrent wrote it.
        let info = t.info().encode();
        assert!(
            info.starts_with(
                b"d6:lengthi100000e4:name10:golden.bin12:piece lengthi32768e6:pieces80:"
            )
        );
    }

    #[test]
    fn slices_of_any_size_give_the_same_pieces() {
        let data = golden_content();
        let whole = {
            let mut h = PieceHasher::new(32 << 10).unwrap();
            h.update(&data);
            h.finish("golden.bin").unwrap()
        };
        for step in [1usize, 7, 4096, 32 << 10, (32 << 10) + 1, 99_999] {
            let mut h = PieceHasher::new(32 << 10).unwrap();
            for part in data.chunks(step) {
                h.update(part);
            }
            assert_eq!(h.len(), data.len() as u64);
            assert_eq!(h.finish("golden.bin").unwrap(), whole, "step {step}");
        }
    }

    #[test]
    fn a_last_piece_exactly_full_adds_no_empty_piece() {
        let mut h = PieceHasher::new(16 << 10).unwrap();
        h.update(&vec![7u8; 2 * (16 << 10)]);
        assert_eq!(h.finish("x").unwrap().piece_count(), 2);
    }

    #[test]
    fn piece_lengths_grow_with_size_within_bounds() {
        const MIB: u64 = 1 << 20;
        assert_eq!(piece_length_for(1), MIN_PIECE_LENGTH);
        assert_eq!(piece_length_for(500 * MIB), 256 << 10); // exactly 2000 pieces
        assert_eq!(piece_length_for(500 * MIB + 1), 512 << 10);
        assert_eq!(piece_length_for(1024 * MIB), 1 << 20);
        assert_eq!(piece_length_for(4000 * MIB), 2 << 20);
        assert_eq!(piece_length_for(100_000 * MIB), MAX_PIECE_LENGTH);
        assert_eq!(piece_length_for(u64::MAX), MAX_PIECE_LENGTH);
    }

    #[test]
    fn bad_parts_are_refused() {
        assert!(matches!(
            PieceHasher::new(1000),
            Err(TorrentError::BadPieceLength(1000))
        ));
        assert!(matches!(
            PieceHasher::new(32 << 10).unwrap().finish("x"),
            Err(TorrentError::Empty(_))
        ));
        for name in ["", ".", "..", "a/b", "a\\b", "a\nb"] {
            assert!(
                matches!(
                    TorrentV1::new(name, 1, 16 << 10, vec![[0; 20]]),
                    Err(TorrentError::BadName { .. })
                ),
                "{name:?}"
            );
        }
        assert!(TorrentV1::new("x", 1, 16 << 10, vec![]).is_err());
    }

    #[test]
    fn torrent_files_and_magnets_parse_back() {
        let mut h = PieceHasher::new(32 << 10).unwrap();
        h.update(&golden_content());
        let t = h.finish("golden file.bin").unwrap();
        let trackers = vec![
            "http://127.0.0.1:6969/announce".to_owned(),
            "udp://127.0.0.2:6969".to_owned(),
        ];
        let peer: std::net::SocketAddr = "127.0.0.3:51413".parse().unwrap();
        let m = t.magnet(&trackers, &[peer]);
        let Source::Magnet(parsed) = Source::parse(&m).unwrap() else {
            panic!("not a magnet: {m}");
        };
        assert_eq!(parsed.info_hash, t.info_hash_hex());
        assert_eq!(parsed.name.as_deref(), Some("golden file.bin"));
        assert_eq!(parsed.trackers, trackers);
        assert_eq!(parsed.peers, [peer]);

        let file = t.torrent_file(&trackers);
        assert!(
            file.starts_with(b"d8:announce30:http://127.0.0.1:6969/announce13:announce-listll30:")
        );
        // The .torrent's info dictionary is the one hashed.
        let info = t.info().encode();
        assert!(file.windows(info.len()).any(|w| w == info));
        // No tracker: no announce keys at all.
        assert_eq!(
            t.torrent_file(&[]),
            Value::dict([
                ("created by", Value::bytes("annex-swarm")),
                ("info", t.info())
            ])
            .encode()
        );
    }
}
