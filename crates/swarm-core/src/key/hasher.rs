//! Streaming hashers for the hashing backends.

use std::fmt;

use sha2::Digest;

use super::backend::HashAlg;

#[derive(Clone)]
enum Inner {
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    Sha3_224(Box<sha3::Sha3_224>),
    Sha3_256(Box<sha3::Sha3_256>),
    Sha3_384(Box<sha3::Sha3_384>),
    Sha3_512(Box<sha3::Sha3_512>),
    Skein256(Box<skein::Skein256_256>),
    Skein512(Box<skein::Skein512_512>),
    Md5(md5::Md5),
    Blake2b(Box<blake2b_simd::State>),
    Blake2bp(Box<blake2b_simd::blake2bp::State>),
    Blake2s(Box<blake2s_simd::State>),
    Blake2sp(Box<blake2s_simd::blake2sp::State>),
}

/// A streaming hasher for one backend's digest: feed it the content with
/// [`update`](KeyHasher::update), then [`finalize`](KeyHasher::finalize) gives the
/// lowercase hex digest as it appears in keys.
#[derive(Clone)]
pub struct KeyHasher {
    alg: HashAlg,
    inner: Inner,
}

impl KeyHasher {
    /// A fresh hasher for `alg`.
    pub fn new(alg: HashAlg) -> KeyHasher {
        let b2b = |len: usize| {
            Inner::Blake2b(Box::new(
                blake2b_simd::Params::new().hash_length(len).to_state(),
            ))
        };
        let b2s = |len: usize| {
            Inner::Blake2s(Box::new(
                blake2s_simd::Params::new().hash_length(len).to_state(),
            ))
        };
        let inner = match alg {
            HashAlg::Sha1 => Inner::Sha1(sha1::Sha1::new()),
            HashAlg::Sha224 => Inner::Sha224(sha2::Sha224::new()),
            HashAlg::Sha256 => Inner::Sha256(sha2::Sha256::new()),
            HashAlg::Sha384 => Inner::Sha384(sha2::Sha384::new()),
            HashAlg::Sha512 => Inner::Sha512(sha2::Sha512::new()),
            HashAlg::Sha3_224 => Inner::Sha3_224(Box::default()),
            HashAlg::Sha3_256 => Inner::Sha3_256(Box::default()),
            HashAlg::Sha3_384 => Inner::Sha3_384(Box::default()),
            HashAlg::Sha3_512 => Inner::Sha3_512(Box::default()),
            HashAlg::Skein256 => Inner::Skein256(Box::default()),
            HashAlg::Skein512 => Inner::Skein512(Box::default()),
            HashAlg::Md5 => Inner::Md5(md5::Md5::new()),
            HashAlg::Blake2b160 => b2b(20),
            HashAlg::Blake2b224 => b2b(28),
            HashAlg::Blake2b256 => b2b(32),
            HashAlg::Blake2b384 => b2b(48),
            HashAlg::Blake2b512 => b2b(64),
            HashAlg::Blake2bp512 => Inner::Blake2bp(Box::new(
                blake2b_simd::blake2bp::Params::new()
                    .hash_length(64)
                    .to_state(),
            )),
            HashAlg::Blake2s160 => b2s(20),
            HashAlg::Blake2s224 => b2s(28),
            HashAlg::Blake2s256 => b2s(32),
            HashAlg::Blake2sp224 => Inner::Blake2sp(Box::new(
                blake2s_simd::blake2sp::Params::new()
                    .hash_length(28)
                    .to_state(),
            )),
            HashAlg::Blake2sp256 => Inner::Blake2sp(Box::new(
                blake2s_simd::blake2sp::Params::new()
                    .hash_length(32)
                    .to_state(),
            )),
        };
        KeyHasher { alg, inner }
    }

    /// The algorithm this hasher computes.
    pub fn alg(&self) -> HashAlg {
        self.alg
    }

    /// Feeds more content.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            Inner::Sha1(h) => h.update(data),
            Inner::Sha224(h) => h.update(data),
            Inner::Sha256(h) => h.update(data),
            Inner::Sha384(h) => h.update(data),
            Inner::Sha512(h) => h.update(data),
            Inner::Sha3_224(h) => h.update(data),
            Inner::Sha3_256(h) => h.update(data),
            Inner::Sha3_384(h) => h.update(data),
            Inner::Sha3_512(h) => h.update(data),
            Inner::Skein256(h) => h.update(data),
            Inner::Skein512(h) => h.update(data),
            Inner::Md5(h) => h.update(data),
            Inner::Blake2b(h) => {
                h.update(data);
            }
            Inner::Blake2bp(h) => {
                h.update(data);
            }
            Inner::Blake2s(h) => {
                h.update(data);
            }
            Inner::Blake2sp(h) => {
                h.update(data);
            }
        }
    }

    /// The digest of everything fed, in lowercase hex
    /// ([`HashAlg::hex_len`] digits).
    pub fn finalize(self) -> String {
        match self.inner {
            Inner::Sha1(h) => hex::encode(h.finalize()),
            Inner::Sha224(h) => hex::encode(h.finalize()),
            Inner::Sha256(h) => hex::encode(h.finalize()),
            Inner::Sha384(h) => hex::encode(h.finalize()),
            Inner::Sha512(h) => hex::encode(h.finalize()),
            Inner::Sha3_224(h) => hex::encode(h.finalize()),
            Inner::Sha3_256(h) => hex::encode(h.finalize()),
            Inner::Sha3_384(h) => hex::encode(h.finalize()),
            Inner::Sha3_512(h) => hex::encode(h.finalize()),
            Inner::Skein256(h) => hex::encode((*h).finalize()),
            Inner::Skein512(h) => hex::encode((*h).finalize()),
            Inner::Md5(h) => hex::encode(h.finalize()),
            Inner::Blake2b(h) => hex::encode(h.finalize().as_bytes()),
            Inner::Blake2bp(h) => hex::encode(h.finalize().as_bytes()),
            Inner::Blake2s(h) => hex::encode(h.finalize().as_bytes()),
            Inner::Blake2sp(h) => hex::encode(h.finalize().as_bytes()),
        }
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyHasher")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl std::io::Write for KeyHasher {
    /// Hashes `buf` (so that `std::io::copy` can feed a hasher); never fails.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn assert_send<T: Send + Sync>() {}

    #[test]
    fn hasher_is_send_and_sync() {
        assert_send::<KeyHasher>();
    }

    #[test]
    fn known_answers() {
        let hello = |alg: HashAlg| {
            let mut h = alg.hasher();
            h.update(b"hel");
            h.update(b"lo\n");
            h.finalize()
        };
        assert_eq!(
            hello(HashAlg::Sha256),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(hello(HashAlg::Md5), "b1946ac92492d2347c6235b4d2611184");
        assert_eq!(
            hello(HashAlg::Sha1),
            "f572d396fae9206628714fb2ce00f72e94f2258f"
        );
    }

    #[test]
    fn lengths_match_the_table() {
        for alg in HashAlg::ALL {
            let d = alg.hasher().finalize();
            assert_eq!(d.len(), alg.hex_len(), "{alg}");
            assert!(
                d.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
        }
    }

    #[test]
    fn io_write_feeds_the_hasher() {
        use std::io::Write;
        let mut h = HashAlg::Md5.hasher();
        h.write_all(b"hello\n").unwrap();
        h.flush().unwrap();
        assert_eq!(h.finalize(), "b1946ac92492d2347c6235b4d2611184");
    }
}
