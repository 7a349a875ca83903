//! git-annex keys: `BACKEND[-sSIZE][-mMTIME][-SCHUNKSIZE-CCHUNKNUM]--NAME`.
//!
//! [`Key`] parses strictly and prints canonically: for every string `s` that
//! parses, printing the key gives back `s` exactly. The rules (and where they are
//! stricter than git-annex) are in `docs/spec/key.md`.
//!
//! ```
//! use swarm_core::key::{Backend, Key};
//!
//! let mut hasher = Backend::sha256e().hasher().ok_or("no hash")?;
//! hasher.update(b"hello\n");
//! let digest = hasher.finalize();
//! let key = Key::from_content(Backend::sha256e(), &digest, 6, "notes/hello.txt")?;
//! assert_eq!(
//!     key.to_string(),
//!     "SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03.txt"
//! );
//! let parsed: Key = key.to_string().parse()?;
//! assert_eq!(parsed, key);
//! parsed.check_digest(&digest)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backend;
mod error;
mod extension;
mod hasher;

use std::fmt;
use std::str::FromStr;

pub use backend::{Backend, ExternalBackend, HashAlg};
pub use error::KeyError;
pub use extension::{MAX_EXTENSION_LEN, MAX_EXTENSIONS, select_extension};
pub use hasher::KeyHasher;

use error::escape;

/// A git-annex key.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    backend: Backend,
    size: Option<u64>,
    mtime: Option<i64>,
    chunk: Option<(u64, u64)>,
    name: String,
}

impl Key {
    /// A key from its parts, checked as if parsed from its printed form.
    pub fn new(
        backend: Backend,
        size: Option<u64>,
        mtime: Option<i64>,
        chunk: Option<(u64, u64)>,
        name: &str,
    ) -> Result<Key, KeyError> {
        if let Some(m) = mtime.filter(|m| *m < 0) {
            return Err(KeyError::BadNumber {
                key: format!("{backend}-m{m}--{}", escape(name)),
                field: 'm',
                value: m.to_string(),
                reason: "is negative",
            });
        }
        let key = Key {
            backend,
            size,
            mtime,
            chunk,
            name: name.to_owned(),
        };
        // Printing then parsing applies every rule once, in one place.
        key.to_string().parse()
    }

    /// The backend.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The content size in bytes (`-s`), if the key records it.
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The modification time in seconds since the epoch (`-m`, WORM keys).
    /// Always non-negative: git-annex's key syntax has no sign.
    pub fn mtime(&self) -> Option<i64> {
        self.mtime
    }

    /// `(chunk size, chunk number)` (`-S`, `-C`) for a chunk of a larger object;
    /// both are at least 1.
    pub fn chunk(&self) -> Option<(u64, u64)> {
        self.chunk
    }

    /// Everything after the `--`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hex digest encoded in the name (before the extension for `*E`
    /// backends), as written in the key; `None` for unverifiable backends.
    pub fn digest_hex(&self) -> Option<&str> {
        let len = self.backend.hex_len()?;
        // Parsing checked that the name starts with `len` ASCII hex digits.
        self.name.get(..len)
    }

    /// The extension kept by a `*E` hashing backend, with its leading `.`;
    /// `Some("")` when the file had none; `None` for other backends.
    pub fn extension(&self) -> Option<&str> {
        match self.backend {
            Backend::Hash {
                alg,
                extension: true,
            } => self.name.get(alg.hex_len()..),
            _ => None,
        }
    }

    /// A fresh hasher for this key's backend, or `None` when the backend carries no
    /// content hash (WORM, URL, VURL, GITBUNDLE, GITMANIFEST, external `X*` backends).
    pub fn hasher(&self) -> Option<KeyHasher> {
        self.backend.hasher()
    }

    /// The key `git annex calckey --backend=B` makes for a file named `file_name`
    /// (a path is allowed; only its last component counts) whose content has digest
    /// `hasher_result_hex` (as from [`KeyHasher::finalize`], either case) and `size`
    /// bytes. The digest is written in lowercase; `*E` backends append the extension
    /// chosen by [`select_extension`].
    pub fn from_content(
        backend: Backend,
        hasher_result_hex: &str,
        size: u64,
        file_name: &str,
    ) -> Result<Key, KeyError> {
        let Backend::Hash { alg, extension } = backend else {
            return Err(KeyError::NotVerifiable {
                backend: backend.name().to_owned(),
                key: None,
            });
        };
        if hasher_result_hex.len() != alg.hex_len()
            || !hasher_result_hex.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(KeyError::BadInputDigest {
                backend: alg.name().to_owned(),
                digest: escape(hasher_result_hex),
                expected_len: alg.hex_len(),
            });
        }
        let mut name = hasher_result_hex.to_ascii_lowercase();
        if extension {
            name.push_str(&select_extension(file_name, MAX_EXTENSION_LEN));
        }
        // Re-checks everything: an extension can hold non-ASCII whitespace
        // (git-annex lets any non-ASCII byte in), which keys here refuse.
        Key::new(backend, Some(size), None, None, &name)
    }

    /// Checks a finished digest (as from [`KeyHasher::finalize`]) against the key,
    /// ignoring ASCII case.
    pub fn check_digest(&self, actual_hex: &str) -> Result<(), KeyError> {
        let Some(expected) = self.digest_hex() else {
            return Err(KeyError::NotVerifiable {
                backend: self.backend.name().to_owned(),
                key: Some(self.to_string()),
            });
        };
        if expected.eq_ignore_ascii_case(actual_hex) {
            Ok(())
        } else {
            Err(KeyError::DigestMismatch {
                key: self.to_string(),
                expected: expected.to_owned(),
                actual: escape(actual_hex),
            })
        }
    }

    /// This key with the chunk fields set: the key of chunk number `number`
    /// (from 1) of `chunk_size` bytes each, as git-annex's chunked special remotes use.
    pub fn with_chunk(&self, chunk_size: u64, number: u64) -> Result<Key, KeyError> {
        Key::new(
            self.backend.clone(),
            self.size,
            self.mtime,
            Some((chunk_size, number)),
            &self.name,
        )
    }

    /// A key taken verbatim, for names whose content annex-swarm cannot check: the keys of
    /// git-annex's encrypted special remotes (`GPGHMACSHA1--…`, the content is ciphertext), the
    /// chunk keys of its `chunk=` option (`…-S1048576-C2--…`, the content is one chunk, not
    /// what the name hashes), and backends this build does not know (`XXH3`, `BLAKE3`, …).
    ///
    /// It prints exactly as `text`, and has backend [`Backend::Opaque`], no size, mtime,
    /// chunk or hasher, so nothing is verified against it. It is a different key from the
    /// parsed one with the same text (compare printed forms when that matters). Only the
    /// empty string and whitespace or control characters are refused, as in parsing.
    pub fn opaque(text: &str) -> Result<Key, KeyError> {
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if let Some((index, ch)) = text
            .char_indices()
            .find(|(_, c)| c.is_whitespace() || c.is_control())
        {
            return Err(KeyError::BadChar {
                key: escape(text),
                ch,
                index,
            });
        }
        Ok(Key {
            backend: Backend::Opaque,
            size: None,
            mtime: None,
            chunk: None,
            name: text.to_owned(),
        })
    }

    /// Whether this key was made by [`Key::opaque`].
    pub fn is_opaque(&self) -> bool {
        self.backend == Backend::Opaque
    }

    /// This key without the chunk fields: the key of the whole object.
    pub fn without_chunk(&self) -> Key {
        Key {
            chunk: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_opaque() {
            return f.write_str(&self.name);
        }
        f.write_str(self.backend.name())?;
        if let Some(s) = self.size {
            write!(f, "-s{s}")?;
        }
        if let Some(m) = self.mtime {
            write!(f, "-m{m}")?;
        }
        if let Some((size, num)) = self.chunk {
            write!(f, "-S{size}-C{num}")?;
        }
        write!(f, "--{}", self.name)
    }
}

impl serde::Serialize for Key {
    /// A key serializes as its canonical string.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    /// A key deserializes from its string, parsed strictly.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Key {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Key, KeyError> {
        parse(s)
    }
}

/// Values of the optional fields, in their only allowed order.
const FIELDS: [char; 4] = ['s', 'm', 'S', 'C'];

fn parse(s: &str) -> Result<Key, KeyError> {
    if s.is_empty() {
        return Err(KeyError::Empty);
    }
    let key = || escape(s);
    if let Some((index, ch)) = s
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || c.is_control())
    {
        return Err(KeyError::BadChar {
            key: key(),
            ch,
            index,
        });
    }

    // Structure first: BACKEND, then `-xVALUE` fields, then `--NAME`.
    let Some(dash) = s.find('-') else {
        return Err(KeyError::MissingSeparator { key: key() });
    };
    let backend_name = &s[..dash];
    let mut rest = &s[dash..];
    let mut values: [Option<&str>; 4] = [None; 4];
    let mut next_field = 0;
    let name = loop {
        if let Some(name) = rest.strip_prefix("--") {
            break name;
        }
        // `rest` starts with a single `-` and is not `--`.
        let body = &rest[1..];
        let end = body.find('-').unwrap_or(body.len());
        let field = &body[..end];
        if end == body.len() {
            // No `--` anywhere after this point.
            return Err(KeyError::MissingSeparator { key: key() });
        }
        let mut chars = field.chars();
        let letter = chars.next();
        let position = letter.and_then(|l| FIELDS.iter().position(|&f| f == l));
        match position {
            Some(p) if p >= next_field => {
                values[p] = Some(chars.as_str());
                next_field = p + 1;
            }
            _ => {
                return Err(KeyError::UnexpectedField {
                    key: key(),
                    field: format!("-{}", escape(field)),
                });
            }
        }
        rest = &body[end..];
    };

    let backend = backend::parse_backend(backend_name).ok_or_else(|| KeyError::UnknownBackend {
        key: Some(key()),
        backend: escape(backend_name),
    })?;

    let number = |i: usize| -> Result<Option<u64>, KeyError> {
        values[i]
            .map(|v| parse_decimal(v).map_err(|reason| bad_number(s, FIELDS[i], v, reason)))
            .transpose()
    };
    let size = number(0)?;
    let mtime =
        match number(1)? {
            None => None,
            Some(m) => Some(i64::try_from(m).map_err(|_| {
                bad_number(s, 'm', values[1].unwrap_or_default(), "is out of range")
            })?),
        };
    let chunk = match (number(2)?, number(3)?) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(KeyError::IncompleteChunk {
                key: key(),
                present: 'S',
                missing: 'C',
            });
        }
        (None, Some(_)) => {
            return Err(KeyError::IncompleteChunk {
                key: key(),
                present: 'C',
                missing: 'S',
            });
        }
        (Some(0), Some(_)) => {
            return Err(KeyError::ZeroChunk {
                key: key(),
                field: 'S',
            });
        }
        (Some(_), Some(0)) => {
            return Err(KeyError::ZeroChunk {
                key: key(),
                field: 'C',
            });
        }
        (Some(size), Some(num)) => Some((size, num)),
    };

    if name.is_empty() {
        return Err(KeyError::EmptyName { key: key() });
    }
    if let Backend::Hash { alg, extension } = backend {
        check_digest_name(s, &backend, alg, extension, name)?;
    }

    Ok(Key {
        backend,
        size,
        mtime,
        chunk,
        name: name.to_owned(),
    })
}

/// A canonical unsigned decimal: digits only, no leading zero (but `0` itself).
fn parse_decimal(v: &str) -> Result<u64, &'static str> {
    if v.is_empty() {
        return Err("is empty");
    }
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a decimal number");
    }
    if v.len() > 1 && v.starts_with('0') {
        return Err("has a leading zero");
    }
    v.parse().map_err(|_| "is out of range")
}

fn bad_number(key: &str, field: char, value: &str, reason: &'static str) -> KeyError {
    KeyError::BadNumber {
        key: escape(key),
        field,
        value: escape(value),
        reason,
    }
}

/// The name of a hashing backend's key: exactly the digest, or for `*E`
/// backends the digest followed by nothing or by `.` and anything.
fn check_digest_name(
    key: &str,
    backend: &Backend,
    alg: HashAlg,
    extension: bool,
    name: &str,
) -> Result<(), KeyError> {
    let len = alg.hex_len();
    let hex_run = name.bytes().take_while(u8::is_ascii_hexdigit).count();
    let next = name[hex_run..].chars().next();
    let rule = if extension {
        format!("be {len} hex digits, optionally followed by a `.` extension")
    } else {
        format!("be exactly {len} hex digits")
    };
    let problem = match next {
        _ if hex_run > len => format!("found {hex_run} hex digits"),
        Some(c) if hex_run < len && c != '.' => format!(
            "found non-hex character `{}` at position {hex_run}",
            c.escape_debug()
        ),
        _ if hex_run < len => format!("found {hex_run} hex digits"),
        // Exactly `len` hex digits from here on.
        None => return Ok(()),
        Some('.') if extension => return Ok(()),
        Some(_) if extension => {
            return Err(KeyError::BadExtension {
                key: escape(key),
                backend: backend.name().to_owned(),
                rest: escape(&name[len..]),
            });
        }
        Some(_) => format!(
            "found `{}` after the digest (only {}E keys carry an extension)",
            escape(&name[len..]),
            alg.name()
        ),
    };
    Err(KeyError::BadDigest {
        key: escape(key),
        backend: backend.name().to_owned(),
        rule,
        problem,
    })
}

#[cfg(test)]
mod tests;
