//! Errors of the key module.

/// Why a key, a backend name or a digest was refused.
///
/// Every message names what is wrong; the offending key is shown with
/// non-printable bytes escaped, so a message is always one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key is the empty string.
    #[error("bad key ``: the key is empty")]
    Empty,

    /// A byte no key may hold (NUL or ASCII whitespace) appears somewhere in the key.
    #[error(
        "bad key `{key}`: character {} at byte {index} is not allowed (keys may not contain NUL or ASCII whitespace)",
        describe_char(*.ch)
    )]
    BadChar {
        /// The key, escaped.
        key: String,
        /// The refused character (always ASCII).
        ch: char,
        /// Its byte offset in the key.
        index: usize,
    },

    /// No `--` separates the fields from the name.
    #[error("bad key `{key}`: missing `--` before the name")]
    MissingSeparator {
        /// The key, escaped.
        key: String,
    },

    /// The backend name is not one git-annex ships nor an external `X<name>` one.
    #[error("{}unknown backend `{backend}` (not a git-annex backend, nor X<name> for an external one)", key_prefix(.key.as_deref()))]
    UnknownBackend {
        /// The key, escaped, when a whole key was being parsed.
        key: Option<String>,
        /// The refused backend name, escaped.
        backend: String,
    },

    /// A field is not one of `-s`, `-m`, `-S`, `-C`, appears twice or out of order.
    #[error(
        "bad key `{key}`: unexpected field `{field}` (allowed fields are -s, -m, -S, -C, each at most once and in this order)"
    )]
    UnexpectedField {
        /// The key, escaped.
        key: String,
        /// The refused field, with its leading `-`.
        field: String,
    },

    /// A field's value is not a canonical decimal number in range.
    #[error("bad key `{key}`: field `-{field}` has value `{value}`, which {reason}")]
    BadNumber {
        /// The key, escaped.
        key: String,
        /// The field letter: `s`, `m`, `S` or `C`.
        field: char,
        /// The refused value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Only one of `-S` (chunk size) and `-C` (chunk number) is present.
    #[error(
        "bad key `{key}`: `-{present}` without `-{missing}` (a chunk needs both its size and its number)"
    )]
    IncompleteChunk {
        /// The key, escaped.
        key: String,
        /// The field that is there.
        present: char,
        /// The field that is missing.
        missing: char,
    },

    /// `-S0` or `-C0`.
    #[error(
        "bad key `{key}`: `-{field}0` is not allowed (chunk sizes and chunk numbers start at 1)"
    )]
    ZeroChunk {
        /// The key, escaped.
        key: String,
        /// `S` or `C`.
        field: char,
    },

    /// Nothing follows the `--`.
    #[error("bad key `{key}`: the name after `--` is empty")]
    EmptyName {
        /// The key, escaped.
        key: String,
    },

    /// The name of a key of a hashing backend does not start with a digest of the right length.
    #[error("bad key `{key}`: {backend} key name must {rule}; {problem}")]
    BadDigest {
        /// The key, escaped.
        key: String,
        /// The backend name as in the key.
        backend: String,
        /// What the name must be.
        rule: String,
        /// What was found instead.
        problem: String,
    },

    /// A `*E` key whose name continues after the digest with something other than `.ext`.
    #[error(
        "bad key `{key}`: after the {backend} digest the name must end or go on with a `.` extension, found `{rest}`"
    )]
    BadExtension {
        /// The key, escaped.
        key: String,
        /// The backend name as in the key.
        backend: String,
        /// What follows the digest, escaped.
        rest: String,
    },

    /// A digest handed to [`Key::from_content`](super::Key::from_content) is not hex of the backend's length.
    #[error("digest `{digest}` is not a {backend} digest: expected {expected_len} hex digits")]
    BadInputDigest {
        /// The backend name.
        backend: String,
        /// The refused digest, escaped.
        digest: String,
        /// The number of hex digits the backend produces.
        expected_len: usize,
    },

    /// The backend has no content hash, so the operation cannot be done.
    #[error("backend `{backend}` carries no content hash{}", key_suffix(.key.as_deref()))]
    NotVerifiable {
        /// The backend name.
        backend: String,
        /// The key, escaped, when there is one.
        key: Option<String>,
    },

    /// The content's digest differs from the one in the key.
    #[error("content does not match key `{key}`: expected digest {expected}, actual {actual}")]
    DigestMismatch {
        /// The key.
        key: String,
        /// The digest in the key.
        expected: String,
        /// The digest of the content, escaped.
        actual: String,
    },
}

impl KeyError {
    /// A short stable name of the kind of error, e.g. for logs and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyError::Empty => "empty",
            KeyError::BadChar { .. } => "bad-char",
            KeyError::MissingSeparator { .. } => "missing-separator",
            KeyError::UnknownBackend { .. } => "unknown-backend",
            KeyError::UnexpectedField { .. } => "unexpected-field",
            KeyError::BadNumber { .. } => "bad-number",
            KeyError::IncompleteChunk { .. } => "incomplete-chunk",
            KeyError::ZeroChunk { .. } => "zero-chunk",
            KeyError::EmptyName { .. } => "empty-name",
            KeyError::BadDigest { .. } => "bad-digest",
            KeyError::BadExtension { .. } => "bad-extension",
            KeyError::BadInputDigest { .. } => "bad-input-digest",
            KeyError::NotVerifiable { .. } => "not-verifiable",
            KeyError::DigestMismatch { .. } => "digest-mismatch",
        }
    }
}

/// Key bytes (or any text) for a message: one line, non-printable bytes escaped (see
/// [`Printable`](super::Printable)).
pub(crate) fn escape(s: impl AsRef<[u8]>) -> String {
    super::Printable(s.as_ref()).to_string()
}

fn describe_char(c: char) -> String {
    format!("U+{:04X} `{}`", u32::from(c), c.escape_debug())
}

fn key_prefix(key: Option<&str>) -> String {
    key.map(|k| format!("bad key `{k}`: ")).unwrap_or_default()
}

fn key_suffix(key: Option<&str>) -> String {
    key.map(|k| format!(" (key `{k}`)")).unwrap_or_default()
}
