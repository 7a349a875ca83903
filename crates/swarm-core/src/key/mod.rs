//! git-annex keys: `BACKEND[-sSIZE][-mMTIME][-SCHUNKSIZE-CCHUNKNUM]--NAME`.
//!
//! A key is bytes, as in git-annex: a `*E` key keeps the file's extension byte for byte, and
//! a file name need not be UTF-8. [`Key`] parses strictly and keeps the bytes it parsed: for
//! every byte string `b` that parses, [`Key::as_bytes`] gives back `b` exactly, and so does
//! printing for keys that are printable text. The rules (and where they are stricter than
//! git-annex) are in `docs/spec/key.md`.
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

use std::fmt::{self, Write as _};
use std::str::FromStr;

pub use backend::{Backend, ExternalBackend, HashAlg};
pub use error::KeyError;
pub use extension::{MAX_EXTENSION_LEN, MAX_EXTENSIONS, select_extension};
pub use hasher::KeyHasher;

use error::escape;

/// A git-annex key: a byte string, as git-annex's own keys are.
///
/// Most keys are ASCII, but a `*E` key keeps the bytes of the file's extension, which need not
/// be UTF-8 (`photo.\xe9` from a Latin-1 file name gives a key ending in the byte `e9`). The
/// key's identity is its bytes ([`Key::as_bytes`]); [`Display`](fmt::Display) is for messages
/// and escapes what is not printable text (see [`Printable`]).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    backend: Backend,
    size: Option<u64>,
    mtime: Option<i64>,
    chunk: Option<(u64, u64)>,
    /// The whole key as git-annex writes it.
    text: Box<[u8]>,
    /// Where the name (everything after the `--`) starts in `text`.
    name_at: usize,
}

/// Whether a key may not hold byte `b`: NUL, and the ASCII whitespace git-annex refuses to pass
/// to an external special remote (space, tab, LF, VT, FF, CR), where it would split the line.
fn is_forbidden(b: u8) -> bool {
    b == 0 || b == b' ' || (b'\t'..=b'\r').contains(&b)
}

impl Key {
    /// A key from its parts, checked as if parsed from its printed form.
    pub fn new(
        backend: Backend,
        size: Option<u64>,
        mtime: Option<i64>,
        chunk: Option<(u64, u64)>,
        name: impl AsRef<[u8]>,
    ) -> Result<Key, KeyError> {
        let name = name.as_ref();
        if let Some(m) = mtime.filter(|m| *m < 0) {
            return Err(KeyError::BadNumber {
                key: format!("{backend}-m{m}--{}", escape(name)),
                field: 'm',
                value: m.to_string(),
                reason: "is negative",
            });
        }
        // Printing then parsing applies every rule once, in one place.
        let printed = Key::assemble(backend, size, mtime, chunk, name);
        Key::from_bytes(&printed.text)
    }

    /// Parses a key from its bytes, strictly (the rules are in `docs/spec/key.md`).
    /// `s.parse::<Key>()` is the same for keys that are text.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key, KeyError> {
        parse(bytes)
    }

    /// The key's parts laid out as git-annex prints them, unchecked.
    fn assemble(
        backend: Backend,
        size: Option<u64>,
        mtime: Option<i64>,
        chunk: Option<(u64, u64)>,
        name: &[u8],
    ) -> Key {
        let mut head = backend.name().to_owned();
        if let Some(s) = size {
            let _ = write!(head, "-s{s}");
        }
        if let Some(m) = mtime {
            let _ = write!(head, "-m{m}");
        }
        if let Some((size, num)) = chunk {
            let _ = write!(head, "-S{size}-C{num}");
        }
        head.push_str("--");
        let mut text = head.into_bytes();
        let name_at = text.len();
        text.extend_from_slice(name);
        Key {
            backend,
            size,
            mtime,
            chunk,
            text: text.into_boxed_slice(),
            name_at,
        }
    }

    /// The key's bytes, exactly as git-annex writes them: its identity (manifest names,
    /// placement, protocol replies are computed from these).
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }

    /// The key as text, when its bytes are UTF-8 (every key git-annex makes from a UTF-8 file
    /// name).
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.text).ok()
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

    /// Everything after the `--` (the whole key for an opaque key).
    pub fn name(&self) -> &[u8] {
        self.text.get(self.name_at..).unwrap_or_default()
    }

    /// The hex digest encoded in the name (before the extension for `*E`
    /// backends), as written in the key; `None` for unverifiable backends.
    pub fn digest_hex(&self) -> Option<&str> {
        let len = self.backend.hex_len()?;
        // Parsing checked that the name starts with `len` ASCII hex digits.
        std::str::from_utf8(self.name().get(..len)?).ok()
    }

    /// The extension kept by a `*E` hashing backend, with its leading `.`; empty when the
    /// file had none; `None` for other backends. Any bytes but `.`-separated ASCII letters
    /// and digits are non-ASCII, and need not be UTF-8.
    pub fn extension(&self) -> Option<&[u8]> {
        match self.backend {
            Backend::Hash {
                alg,
                extension: true,
            } => self.name().get(alg.hex_len()..),
            _ => None,
        }
    }

    /// A fresh hasher for this key's backend, or `None` when the backend carries no
    /// content hash (WORM, URL, VURL, GITBUNDLE, GITMANIFEST, external `X*` backends).
    pub fn hasher(&self) -> Option<KeyHasher> {
        self.backend.hasher()
    }

    /// The key `git annex calckey --backend=B` makes for a file named `file_name` (its bytes,
    /// as the file system has them; a path is allowed, only its last component counts) whose
    /// content has digest `hasher_result_hex` (as from [`KeyHasher::finalize`], either case)
    /// and `size` bytes. The digest is written in lowercase; `*E` backends append the
    /// extension chosen by [`select_extension`].
    pub fn from_content(
        backend: Backend,
        hasher_result_hex: &str,
        size: u64,
        file_name: impl AsRef<[u8]>,
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
        let mut name = hasher_result_hex.to_ascii_lowercase().into_bytes();
        if extension {
            name.extend_from_slice(&select_extension(file_name, MAX_EXTENSION_LEN));
        }
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
            self.name(),
        )
    }

    /// A key taken verbatim, for names whose content annex-swarm cannot check: the keys of
    /// git-annex's encrypted special remotes (`GPGHMACSHA1--…`, the content is ciphertext), the
    /// chunk keys of its `chunk=` option (`…-S1048576-C2--…`, the content is one chunk, not
    /// what the name hashes), and backends this build does not know (`XXH3`, `BLAKE3`, …).
    ///
    /// Its bytes are exactly `text`, and it has backend [`Backend::Opaque`], no size, mtime,
    /// chunk or hasher, so nothing is verified against it. It is a different key from the
    /// parsed one with the same text (compare bytes when that matters). Only the empty key and
    /// the bytes no key may hold (NUL, ASCII whitespace) are refused, as in parsing.
    pub fn opaque(text: impl AsRef<[u8]>) -> Result<Key, KeyError> {
        let text = text.as_ref();
        check_bytes(text)?;
        Ok(Key {
            backend: Backend::Opaque,
            size: None,
            mtime: None,
            chunk: None,
            text: text.into(),
            name_at: 0,
        })
    }

    /// Whether this key was made by [`Key::opaque`].
    pub fn is_opaque(&self) -> bool {
        self.backend == Backend::Opaque
    }

    /// This key without the chunk fields: the key of the whole object.
    pub fn without_chunk(&self) -> Key {
        if self.chunk.is_none() {
            return self.clone();
        }
        // Dropping both chunk fields of a valid key leaves a valid key.
        Key::assemble(
            self.backend.clone(),
            self.size,
            self.mtime,
            None,
            self.name(),
        )
    }
}

/// Bytes shown as one line of text, for messages and reports: printable UTF-8 as it is,
/// every other byte (not UTF-8, or part of a control or whitespace character other than the
/// space) as `\xNN`. For a key that is printable text this is the key itself; otherwise it
/// is for people, not for identity: `\xe9` could also be four bytes of a key.
#[derive(Clone, Copy)]
pub struct Printable<'a>(pub &'a [u8]);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || (c.is_whitespace() && c != ' ') {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        write!(f, "\\x{b:02x}")?;
                    }
                } else {
                    f.write_char(c)?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl fmt::Display for Key {
    /// The key as text; bytes that are not printable UTF-8 are escaped (see [`Printable`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Printable(&self.text).fmt(f)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_opaque() { "opaque " } else { "" };
        write!(f, "Key({kind}{:?})", Printable(&self.text))
    }
}

impl serde::Serialize for Key {
    /// A key serializes as its string; a key that is not UTF-8 has none and fails to
    /// serialize (an escaped form would name another key).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.as_str() {
            Some(s) => serializer.serialize_str(s),
            None => Err(serde::ser::Error::custom(format!(
                "key `{self}` is not UTF-8: it has no string form"
            ))),
        }
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
        parse(s.as_bytes())
    }
}

/// Values of the optional fields, in their only allowed order.
const FIELDS: [u8; 4] = *b"smSC";

/// Refuses the empty key and bytes no key may hold.
fn check_bytes(s: &[u8]) -> Result<(), KeyError> {
    if s.is_empty() {
        return Err(KeyError::Empty);
    }
    match s.iter().position(|&b| is_forbidden(b)) {
        Some(index) => Err(KeyError::BadChar {
            key: escape(s),
            ch: char::from(s[index]),
            index,
        }),
        None => Ok(()),
    }
}

fn parse(s: &[u8]) -> Result<Key, KeyError> {
    check_bytes(s)?;
    let key = || escape(s);

    // Structure first: BACKEND, then `-xVALUE` fields, then `--NAME`.
    let Some(dash) = s.iter().position(|&b| b == b'-') else {
        return Err(KeyError::MissingSeparator { key: key() });
    };
    let (backend_name, mut rest) = s.split_at(dash);
    let mut values: [Option<&[u8]>; 4] = [None; 4];
    let mut next_field = 0;
    let name = loop {
        if let Some(name) = rest.strip_prefix(b"--") {
            break name;
        }
        // `rest` starts with a single `-` and is not `--`.
        let body = rest.get(1..).unwrap_or_default();
        let Some(end) = body.iter().position(|&b| b == b'-') else {
            // No `--` anywhere after this point.
            return Err(KeyError::MissingSeparator { key: key() });
        };
        let (field, after) = body.split_at(end);
        let position = field
            .first()
            .and_then(|l| FIELDS.iter().position(|f| f == l));
        match position {
            Some(p) if p >= next_field => {
                // The value follows the field's letter.
                values[p] = field.get(1..);
                next_field = p + 1;
            }
            _ => {
                return Err(KeyError::UnexpectedField {
                    key: key(),
                    field: format!("-{}", escape(field)),
                });
            }
        }
        rest = after;
    };

    let backend = std::str::from_utf8(backend_name)
        .ok()
        .and_then(backend::parse_backend)
        .ok_or_else(|| KeyError::UnknownBackend {
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
                bad_number(s, b'm', values[1].unwrap_or_default(), "is out of range")
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
        text: s.into(),
        name_at: s.len() - name.len(),
    })
}

/// A canonical unsigned decimal: digits only, no leading zero (but `0` itself).
fn parse_decimal(v: &[u8]) -> Result<u64, &'static str> {
    if v.is_empty() {
        return Err("is empty");
    }
    if !v.iter().all(u8::is_ascii_digit) {
        return Err("is not a decimal number");
    }
    if v.len() > 1 && v[0] == b'0' {
        return Err("has a leading zero");
    }
    v.iter()
        .try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .ok_or("is out of range")
}

fn bad_number(key: &[u8], field: u8, value: &[u8], reason: &'static str) -> KeyError {
    KeyError::BadNumber {
        key: escape(key),
        field: char::from(field),
        value: escape(value),
        reason,
    }
}

/// The first character of `bytes` for a message: itself if it is UTF-8, else its first byte.
fn first_char(bytes: &[u8]) -> String {
    let len = match bytes.utf8_chunks().next() {
        Some(chunk) => chunk.valid().chars().next().map_or(1, char::len_utf8),
        None => 0,
    };
    escape(bytes.get(..len).unwrap_or_default())
}

/// The name of a hashing backend's key: exactly the digest, or for `*E`
/// backends the digest followed by nothing or by `.` and anything.
fn check_digest_name(
    key: &[u8],
    backend: &Backend,
    alg: HashAlg,
    extension: bool,
    name: &[u8],
) -> Result<(), KeyError> {
    let len = alg.hex_len();
    let hex_run = name.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let after_run = name.get(hex_run..).unwrap_or_default();
    let after_digest = name.get(len..).unwrap_or_default();
    let rule = if extension {
        format!("be {len} hex digits, optionally followed by a `.` extension")
    } else {
        format!("be exactly {len} hex digits")
    };
    let problem = match after_run.first() {
        _ if hex_run > len => format!("found {hex_run} hex digits"),
        Some(&c) if hex_run < len && c != b'.' => format!(
            "found non-hex character `{}` at position {hex_run}",
            first_char(after_run)
        ),
        _ if hex_run < len => format!("found {hex_run} hex digits"),
        // Exactly `len` hex digits from here on.
        None => return Ok(()),
        Some(b'.') if extension => return Ok(()),
        Some(_) if extension => {
            return Err(KeyError::BadExtension {
                key: escape(key),
                backend: backend.name().to_owned(),
                rest: escape(after_digest),
            });
        }
        Some(_) => format!(
            "found `{}` after the digest (only {}E keys carry an extension)",
            escape(after_digest),
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
