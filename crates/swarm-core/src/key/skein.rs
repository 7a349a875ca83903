//! Skein-256-256 and Skein-512-512 (Skein 1.3, as in git-annex's SKEIN256 and
//! SKEIN512 backends), plain hashing only: no key, no personalisation, no tree mode.
//!
//! No maintained crate of the dependency set provides Skein, and the hash is small:
//! Threefish-256/512 in UBI chaining mode, straight from the Skein 1.3 paper.
//! Checked against git-annex in the golden vectors (`tests/data/keys.txt`).

/// Key schedule parity constant of Threefish.
const C240: u64 = 0x1BD1_1BDA_A9FC_1A22;

/// Threefish-256 rotation constants, by round mod 8.
const ROT_256: [[u32; 2]; 8] = [
    [14, 16],
    [52, 57],
    [23, 40],
    [5, 37],
    [25, 33],
    [46, 12],
    [58, 22],
    [32, 32],
];
/// Threefish-256 word permutation.
const PERM_256: [usize; 4] = [0, 3, 2, 1];

/// Threefish-512 rotation constants, by round mod 8.
const ROT_512: [[u32; 4]; 8] = [
    [46, 36, 19, 37],
    [33, 27, 14, 42],
    [17, 49, 36, 39],
    [44, 9, 54, 56],
    [39, 30, 34, 24],
    [13, 50, 10, 17],
    [25, 29, 39, 43],
    [8, 35, 56, 22],
];
/// Threefish-512 word permutation.
const PERM_512: [usize; 8] = [2, 1, 4, 7, 6, 5, 0, 3];

const TYPE_CFG: u64 = 4;
const TYPE_MSG: u64 = 48;
const TYPE_OUT: u64 = 63;
const FLAG_FIRST: u64 = 1 << 62;
const FLAG_FINAL: u64 = 1 << 63;

/// Threefish with `N` 64-bit words (4 or 8), 72 rounds.
fn threefish<const N: usize>(key: &[u64; N], tweak: [u64; 2], block: &[u64; N]) -> [u64; N] {
    let mut ks = [0u64; 9];
    ks[..N].copy_from_slice(key);
    ks[N] = key.iter().fold(C240, |acc, k| acc ^ k);
    let ts = [tweak[0], tweak[1], tweak[0] ^ tweak[1]];

    let inject = |v: &mut [u64; N], s: usize| {
        for (i, w) in v.iter_mut().enumerate() {
            *w = w.wrapping_add(ks[(s + i) % (N + 1)]);
        }
        v[N - 3] = v[N - 3].wrapping_add(ts[s % 3]);
        v[N - 2] = v[N - 2].wrapping_add(ts[(s + 1) % 3]);
        v[N - 1] = v[N - 1].wrapping_add(s as u64);
    };

    let mut v = *block;
    for d in 0..72 {
        if d % 4 == 0 {
            inject(&mut v, d / 4);
        }
        for j in 0..N / 2 {
            let r = if N == 4 {
                ROT_256[d % 8][j]
            } else {
                ROT_512[d % 8][j]
            };
            let (a, b) = (v[2 * j], v[2 * j + 1]);
            let y0 = a.wrapping_add(b);
            v[2 * j] = y0;
            v[2 * j + 1] = b.rotate_left(r) ^ y0;
        }
        let old = v;
        for (i, w) in v.iter_mut().enumerate() {
            *w = old[if N == 4 { PERM_256[i] } else { PERM_512[i] }];
        }
    }
    inject(&mut v, 18);
    v
}

/// A streaming Skein hash with an `N`-word state and an `N`-word output.
#[derive(Clone)]
pub(crate) struct Skein<const N: usize> {
    chain: [u64; N],
    /// Bytes of the message processed so far (the UBI position).
    pos: u64,
    first: bool,
    buf: [u8; 64],
    buf_len: usize,
}

impl<const N: usize> Skein<N> {
    const BLOCK: usize = N * 8;

    pub(crate) fn new() -> Self {
        let mut s = Skein {
            chain: [0; N],
            pos: 0,
            first: true,
            buf: [0; 64],
            buf_len: 0,
        };
        // Configuration block: schema "SHA3", version 1, output length in bits,
        // no tree; processed as a 32-byte UBI message of type Cfg.
        let mut cfg = [0u8; 64];
        cfg[..4].copy_from_slice(b"SHA3");
        cfg[4..6].copy_from_slice(&1u16.to_le_bytes());
        cfg[8..16].copy_from_slice(&((Self::BLOCK as u64) * 8).to_le_bytes());
        s.chain = ubi_block(&[0; N], &cfg, 32, TYPE_CFG << 56 | FLAG_FIRST | FLAG_FINAL);
        s
    }

    fn process(&mut self, last: bool) {
        self.pos = self.pos.wrapping_add(self.buf_len as u64);
        let mut flags = TYPE_MSG << 56;
        if self.first {
            flags |= FLAG_FIRST;
        }
        if last {
            flags |= FLAG_FINAL;
        }
        self.buf[self.buf_len..Self::BLOCK].fill(0);
        self.chain = ubi_block(&self.chain, &self.buf, self.pos, flags);
        self.first = false;
        self.buf_len = 0;
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            // A full buffer is processed only once more data shows it is not the last block.
            if self.buf_len == Self::BLOCK {
                self.process(false);
            }
            let take = (Self::BLOCK - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
        }
    }

    pub(crate) fn finalize(mut self) -> Vec<u8> {
        self.process(true);
        let out = ubi_block(
            &self.chain,
            &[0; 64],
            8,
            TYPE_OUT << 56 | FLAG_FIRST | FLAG_FINAL,
        );
        out.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

/// One UBI step: `E(chain, tweak, M) xor M` for a block `bytes` (first `N*8` bytes used),
/// where `flags` is the second tweak word without the position.
fn ubi_block<const N: usize>(chain: &[u64; N], bytes: &[u8; 64], pos: u64, flags: u64) -> [u64; N] {
    let mut m = [0u64; N];
    for (i, w) in m.iter_mut().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[8 * i..8 * i + 8]);
        *w = u64::from_le_bytes(word);
    }
    let mut out = threefish(chain, [pos, flags], &m);
    for (o, w) in out.iter_mut().zip(m) {
        *o ^= w;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skein256(data: &[u8]) -> String {
        let mut s = Skein::<4>::new();
        s.update(data);
        hex::encode(s.finalize())
    }

    fn skein512(data: &[u8]) -> String {
        let mut s = Skein::<8>::new();
        s.update(data);
        hex::encode(s.finalize())
    }

    #[test]
    fn empty_message() {
        assert_eq!(
            skein256(b""),
            "c8877087da56e072870daa843f176e9453115929094c3a40c463a196c29bf7ba"
        );
        assert_eq!(
            skein512(b""),
            "bc5b4c50925519c290cc634277ae3d6257212395cba733bbad37a4af0fa06af4\
             1fca7903d06564fea7a2d3730dbdb80c1f85562dfcc070334ea4d1d9e72cba7a"
        );
    }

    #[test]
    fn streaming_matches_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        for split in [0, 1, 31, 32, 33, 63, 64, 65, 128, 999, 1000] {
            let mut a = Skein::<4>::new();
            a.update(&data[..split]);
            a.update(&data[split..]);
            assert_eq!(hex::encode(a.finalize()), skein256(&data), "split {split}");
            let mut b = Skein::<8>::new();
            b.update(&data[..split]);
            b.update(&[]);
            b.update(&data[split..]);
            assert_eq!(hex::encode(b.finalize()), skein512(&data), "split {split}");
        }
    }
}
