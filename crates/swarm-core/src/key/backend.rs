//! git-annex backends: the part of a key before the first `-`.

use std::fmt;
use std::str::FromStr;

use super::error::{KeyError, escape};
use super::hasher::KeyHasher;

/// A content hash that a git-annex backend puts in its keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum HashAlg {
    /// SHA-1 (160 bits).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SHA3-224.
    Sha3_224,
    /// SHA3-256.
    Sha3_256,
    /// SHA3-384.
    Sha3_384,
    /// SHA3-512.
    Sha3_512,
    /// Skein-256-256 (Skein 1.3).
    Skein256,
    /// Skein-512-512 (Skein 1.3).
    Skein512,
    /// MD5.
    Md5,
    /// BLAKE2b with a 160-bit output.
    Blake2b160,
    /// BLAKE2b with a 224-bit output.
    Blake2b224,
    /// BLAKE2b with a 256-bit output.
    Blake2b256,
    /// BLAKE2b with a 384-bit output.
    Blake2b384,
    /// BLAKE2b with a 512-bit output.
    Blake2b512,
    /// BLAKE2bp (4-way parallel BLAKE2b) with a 512-bit output.
    Blake2bp512,
    /// BLAKE2s with a 160-bit output.
    Blake2s160,
    /// BLAKE2s with a 224-bit output.
    Blake2s224,
    /// BLAKE2s with a 256-bit output.
    Blake2s256,
    /// BLAKE2sp (8-way parallel BLAKE2s) with a 224-bit output.
    Blake2sp224,
    /// BLAKE2sp (8-way parallel BLAKE2s) with a 256-bit output.
    Blake2sp256,
}

/// (algorithm, backend name without `E`, backend name with `E`, digest bytes)
const HASHES: [(HashAlg, &str, &str, usize); 23] = [
    (HashAlg::Sha1, "SHA1", "SHA1E", 20),
    (HashAlg::Sha224, "SHA224", "SHA224E", 28),
    (HashAlg::Sha256, "SHA256", "SHA256E", 32),
    (HashAlg::Sha384, "SHA384", "SHA384E", 48),
    (HashAlg::Sha512, "SHA512", "SHA512E", 64),
    (HashAlg::Sha3_224, "SHA3_224", "SHA3_224E", 28),
    (HashAlg::Sha3_256, "SHA3_256", "SHA3_256E", 32),
    (HashAlg::Sha3_384, "SHA3_384", "SHA3_384E", 48),
    (HashAlg::Sha3_512, "SHA3_512", "SHA3_512E", 64),
    (HashAlg::Skein256, "SKEIN256", "SKEIN256E", 32),
    (HashAlg::Skein512, "SKEIN512", "SKEIN512E", 64),
    (HashAlg::Md5, "MD5", "MD5E", 16),
    (HashAlg::Blake2b160, "BLAKE2B160", "BLAKE2B160E", 20),
    (HashAlg::Blake2b224, "BLAKE2B224", "BLAKE2B224E", 28),
    (HashAlg::Blake2b256, "BLAKE2B256", "BLAKE2B256E", 32),
    (HashAlg::Blake2b384, "BLAKE2B384", "BLAKE2B384E", 48),
    (HashAlg::Blake2b512, "BLAKE2B512", "BLAKE2B512E", 64),
    (HashAlg::Blake2bp512, "BLAKE2BP512", "BLAKE2BP512E", 64),
    (HashAlg::Blake2s160, "BLAKE2S160", "BLAKE2S160E", 20),
    (HashAlg::Blake2s224, "BLAKE2S224", "BLAKE2S224E", 28),
    (HashAlg::Blake2s256, "BLAKE2S256", "BLAKE2S256E", 32),
    (HashAlg::Blake2sp224, "BLAKE2SP224", "BLAKE2SP224E", 28),
    (HashAlg::Blake2sp256, "BLAKE2SP256", "BLAKE2SP256E", 32),
];

impl HashAlg {
    /// Every hash git-annex ships a backend for.
    pub const ALL: [HashAlg; 23] = {
        let mut all = [HashAlg::Sha1; 23];
        let mut i = 0;
        while i < 23 {
            all[i] = HASHES[i].0;
            i += 1;
        }
        all
    };

    fn row(self) -> &'static (HashAlg, &'static str, &'static str, usize) {
        // The table is in declaration order, so the discriminant indexes it.
        &HASHES[self as usize]
    }

    /// The backend name without the `E` suffix, e.g. `SHA256`.
    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// The backend name with the `E` suffix, e.g. `SHA256E`.
    pub fn name_with_extension(self) -> &'static str {
        self.row().2
    }

    /// Length of the digest in bytes.
    pub fn digest_len(self) -> usize {
        self.row().3
    }

    /// Length of the digest in hex digits, as it appears in a key.
    pub fn hex_len(self) -> usize {
        2 * self.digest_len()
    }

    /// A fresh hasher for this algorithm.
    pub fn hasher(self) -> KeyHasher {
        KeyHasher::new(self)
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An external backend, named `X<name>` (or `X<name>E` when it keeps extensions) in keys;
/// git-annex runs the program `git-annex-backend-X<name>` for it.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ExternalBackend {
    /// The full backend name as it appears in keys, e.g. `XFOOE`.
    full: String,
}

impl ExternalBackend {
    /// An external backend called `name` (without the `X` and without the `E`).
    ///
    /// `name` must be non-empty and made of ASCII letters, digits and `_`.
    pub fn new(name: &str, keeps_extension: bool) -> Result<Self, KeyError> {
        let full = format!("X{name}{}", if keeps_extension { "E" } else { "" });
        // The name must read back the same from the full name: `FOOE` without
        // extension would print as `XFOOE`, which means `FOO` with extension.
        let reads_back = split_external(&full) == Some((name, keeps_extension));
        if name.is_empty() || !name.bytes().all(is_name_byte) || !reads_back {
            return Err(KeyError::UnknownBackend {
                key: None,
                backend: escape(&full),
            });
        }
        Ok(ExternalBackend { full })
    }

    /// The backend name as in keys, e.g. `XFOOE`.
    pub fn full_name(&self) -> &str {
        &self.full
    }

    /// The external program's name part: the full name without `X` and the `E` suffix.
    pub fn program_name(&self) -> &str {
        split_external(&self.full).map_or("", |(name, _)| name)
    }

    /// Whether keys keep the file's extension (the name ends in `E`).
    pub fn keeps_extension(&self) -> bool {
        split_external(&self.full).is_some_and(|(_, e)| e)
    }
}

/// Splits `X<name>[E]` into the name and whether the `E` suffix is there; a
/// final `E` is the suffix only when something is left before it.
fn split_external(full: &str) -> Option<(&str, bool)> {
    let rest = full.strip_prefix('X')?;
    Some(match rest.strip_suffix('E') {
        Some(name) if !name.is_empty() => (name, true),
        _ => (rest, false),
    })
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A git-annex backend: how a key was made and what its name means.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Backend {
    /// A content hash; the key name is the hex digest, followed by the
    /// file's extension when `extension` is true (the `*E` backends).
    Hash {
        /// The hash algorithm.
        alg: HashAlg,
        /// Whether this is the `E` variant, keeping the file's extension.
        extension: bool,
    },
    /// `WORM`: write once, read many; name from the file name, size and mtime.
    Worm,
    /// `URL`: content that stands for a URL; not verifiable.
    Url,
    /// `VURL`: a URL key whose content is verified by a hash kept elsewhere (newer git-annex).
    Vurl,
    /// `GITBUNDLE`: a git bundle stored by a git-remote-annex special remote.
    GitBundle,
    /// `GITMANIFEST`: a manifest of bundles stored by a git-remote-annex special remote.
    GitManifest,
    /// An external backend `X<name>`.
    External(ExternalBackend),
    /// Not a backend of the key's text: the backend of a key taken verbatim with
    /// [`Key::opaque`](super::Key::opaque), whose content is not checked. Parsing never
    /// yields it.
    Opaque,
}

impl Backend {
    /// git-annex's default backend, `SHA256E`.
    pub const SHA256E: Backend = Backend::Hash {
        alg: HashAlg::Sha256,
        extension: true,
    };

    /// git-annex's default backend, `SHA256E`.
    pub fn sha256e() -> Backend {
        Backend::SHA256E
    }

    /// The hashing backend for `alg`, with or without the `E` suffix.
    pub fn hash(alg: HashAlg, extension: bool) -> Backend {
        Backend::Hash { alg, extension }
    }

    /// Every built-in backend git-annex can parse (all hashes with and without `E`,
    /// then WORM, URL, VURL, GITBUNDLE, GITMANIFEST); external ones are not listed.
    pub fn builtin() -> impl Iterator<Item = Backend> {
        HashAlg::ALL
            .into_iter()
            .flat_map(|alg| [Backend::hash(alg, false), Backend::hash(alg, true)])
            .chain([
                Backend::Worm,
                Backend::Url,
                Backend::Vurl,
                Backend::GitBundle,
                Backend::GitManifest,
            ])
    }

    /// The name as it appears in keys, e.g. `SHA256E`, `WORM`, `XFOO`.
    pub fn name(&self) -> &str {
        match self {
            Backend::Hash {
                alg,
                extension: false,
            } => alg.name(),
            Backend::Hash {
                alg,
                extension: true,
            } => alg.name_with_extension(),
            Backend::Worm => "WORM",
            Backend::Url => "URL",
            Backend::Vurl => "VURL",
            Backend::GitBundle => "GITBUNDLE",
            Backend::GitManifest => "GITMANIFEST",
            Backend::External(x) => x.full_name(),
            Backend::Opaque => "opaque",
        }
    }

    /// Whether the key name carries a content digest that can be checked
    /// (true exactly for the hashing backends).
    pub fn is_verifiable(&self) -> bool {
        matches!(self, Backend::Hash { .. })
    }

    /// The hash algorithm, for hashing backends.
    pub fn hash_alg(&self) -> Option<HashAlg> {
        match self {
            Backend::Hash { alg, .. } => Some(*alg),
            _ => None,
        }
    }

    /// Whether keys of this backend end with the file's extension (`*E` backends,
    /// including external `X<name>E` ones).
    pub fn keeps_extension(&self) -> bool {
        match self {
            Backend::Hash { extension, .. } => *extension,
            Backend::External(x) => x.keeps_extension(),
            _ => false,
        }
    }

    /// Number of hex digits of the digest in the key name, for hashing backends.
    pub fn hex_len(&self) -> Option<usize> {
        self.hash_alg().map(HashAlg::hex_len)
    }

    /// A fresh hasher, for hashing backends.
    pub fn hasher(&self) -> Option<KeyHasher> {
        self.hash_alg().map(HashAlg::hasher)
    }
}

impl Default for Backend {
    fn default() -> Self {
        Backend::SHA256E
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = KeyError;

    /// Parses a backend name exactly as it appears in keys (case-sensitive).
    fn from_str(s: &str) -> Result<Self, KeyError> {
        parse_backend(s).ok_or_else(|| KeyError::UnknownBackend {
            key: None,
            backend: escape(s),
        })
    }
}

pub(crate) fn parse_backend(s: &str) -> Option<Backend> {
    match s {
        "WORM" => return Some(Backend::Worm),
        "URL" => return Some(Backend::Url),
        "VURL" => return Some(Backend::Vurl),
        "GITBUNDLE" => return Some(Backend::GitBundle),
        "GITMANIFEST" => return Some(Backend::GitManifest),
        _ => {}
    }
    for (alg, plain, with_e, _) in HASHES {
        if s == plain {
            return Some(Backend::hash(alg, false));
        }
        if s == with_e {
            return Some(Backend::hash(alg, true));
        }
    }
    let (name, keeps_extension) = split_external(s)?;
    ExternalBackend::new(name, keeps_extension)
        .ok()
        .map(Backend::External)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_declaration_order() {
        for (i, row) in HASHES.iter().enumerate() {
            assert_eq!(row.0 as usize, i);
            assert_eq!(HashAlg::ALL[i], row.0);
            assert_eq!(format!("{}E", row.1), row.2);
        }
    }

    #[test]
    fn every_builtin_round_trips() {
        let all: Vec<Backend> = Backend::builtin().collect();
        assert_eq!(all.len(), 23 * 2 + 5);
        for b in all {
            assert_eq!(b.name().parse::<Backend>().unwrap(), b);
            assert_eq!(b.to_string(), b.name());
            assert_eq!(b.is_verifiable(), b.hasher().is_some());
        }
    }

    #[test]
    fn hex_lengths() {
        assert_eq!(Backend::sha256e().hex_len(), Some(64));
        assert_eq!("MD5".parse::<Backend>().unwrap().hex_len(), Some(32));
        assert_eq!("SHA1E".parse::<Backend>().unwrap().hex_len(), Some(40));
        assert_eq!("BLAKE2S160".parse::<Backend>().unwrap().hex_len(), Some(40));
        assert_eq!(
            "BLAKE2SP224E".parse::<Backend>().unwrap().hex_len(),
            Some(56)
        );
        assert_eq!("SHA3_384".parse::<Backend>().unwrap().hex_len(), Some(96));
        assert_eq!(
            "BLAKE2BP512".parse::<Backend>().unwrap().hex_len(),
            Some(128)
        );
        assert_eq!(Backend::Worm.hex_len(), None);
        assert_eq!(Backend::default(), Backend::SHA256E);
    }

    #[test]
    fn external_backends() {
        let b: Backend = "XFOO".parse().unwrap();
        let Backend::External(x) = &b else {
            panic!("not external: {b:?}")
        };
        assert_eq!(x.program_name(), "FOO");
        assert!(!b.keeps_extension());
        assert!(!b.is_verifiable());
        assert!(b.hasher().is_none());

        let b: Backend = "Xmy_hash2E".parse().unwrap();
        let Backend::External(x) = &b else {
            panic!("not external: {b:?}")
        };
        assert_eq!(x.program_name(), "my_hash2");
        assert!(b.keeps_extension());
        assert_eq!(b.name(), "Xmy_hash2E");

        // `XE` is the external backend `E` without extension, as the
        // suffix needs a name before it.
        let b: Backend = "XE".parse().unwrap();
        let Backend::External(x) = &b else {
            panic!("not external: {b:?}")
        };
        assert_eq!(x.program_name(), "E");
        assert!(!b.keeps_extension());
        assert_eq!(ExternalBackend::new("E", false).unwrap().full_name(), "XE");
        assert!(ExternalBackend::new("FOOE", false).is_err());
        assert!(ExternalBackend::new("", true).is_err());
        assert_eq!(
            ExternalBackend::new("FOOE", true).unwrap().full_name(),
            "XFOOEE"
        );
    }

    #[test]
    fn unknown_backends() {
        for s in [
            "", "X", "sha256", "SHA256e", "FOO", "SHA257", "X/Y", "Xa.b", "WORME",
        ] {
            let err = s.parse::<Backend>().unwrap_err();
            assert!(matches!(err, KeyError::UnknownBackend { .. }), "{s}: {err}");
        }
        assert_eq!(
            "FOO".parse::<Backend>().unwrap_err().to_string(),
            "unknown backend `FOO` (not a git-annex backend, nor X<name> for an external one)"
        );
    }
}
