//! The manifest: how one key is stored. Binary, canonical, versioned; see
//! `docs/spec/manifest-v1.md`, whose golden vectors the tests below check.
//!
//! A manifest is immutable once written and is written only after everything it names is
//! stored, so finding one means the key was restorable when it was written. Decoding checks the
//! trailing BLAKE3 first, then every structural rule, and never allocates more than the input's
//! length justifies.

use bytes::Bytes;

use crate::chunking::{ChunkerError, ChunkerParams, Grouping};
use crate::definition::{Role, SwarmDefinition};
use crate::erasure::{Coding, ErasureError};
use crate::ids::{Hash32, SwarmId};
use crate::node_id::NodeId;
use ed25519_dalek::Signer;

pub const MAGIC: &[u8; 4] = b"ASWM";
/// The version of a manifest whose key is UTF-8: every key of a UTF-8 file name, so every
/// manifest written before keys could be other bytes.
pub const VERSION: u8 = 1;
/// The version of a manifest whose key is not UTF-8 (a Latin-1 file name's extension byte);
/// otherwise the same as version 1. Readers that know only version 1 refuse it by its version
/// rather than take it for corrupt.
pub const VERSION_BYTE_KEY: u8 = 2;
/// A manifest signed by the member that wrote it: the writer's ed25519 key and signature follow
/// the version byte; otherwise version 1's fields, any key bytes (`docs/spec/manifest-v1.md`,
/// "Version 3").
pub const VERSION_SIGNED: u8 = 3;
/// What a version 3 signature signs before the swarm id and the manifest's fields.
const SIGNING_CONTEXT: &[u8] = b"annex-swarm manifest v3\0";
const KIND_INLINE: u8 = 0;
const KIND_CHUNKED: u8 = 1;
const CHUNKER_FASTCDC_2020: u8 = 1;
/// FastCDC 2020 chunks grouped into larger chunks (`chunking::Grouping`).
const CHUNKER_FASTCDC_2020_GROUPED: u8 = 2;
const CODEC_RS_LEOPARD_GF16: u8 = 1;

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The git-annex key's bytes (UTF-8 exactly when the manifest is version 1).
    pub key: Vec<u8>,
    /// Object size in bytes.
    pub size: u64,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Small objects travel inside the manifest itself.
    Inline(Bytes),
    /// Larger objects: content-defined chunks, each erasure-coded.
    Chunked {
        chunker: ChunkerParams,
        coding: Coding,
        chunks: Vec<ChunkRecord>,
    },
}

/// One chunk: its BLAKE3 id, length, and the BLAKE3 of each of its k + m shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRecord {
    pub id: Hash32,
    pub len: u32,
    pub shards: Vec<Hash32>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ManifestError {
    #[error("not an annex-swarm manifest (bad magic)")]
    BadMagic,
    #[error(
        "manifest version {0} is not supported (this build reads versions {VERSION} to {VERSION_SIGNED})"
    )]
    UnsupportedVersion(u8),
    #[error("manifest signature does not verify: {0}")]
    BadSignature(String),
    #[error(
        "unsigned manifest: this swarm's nodes take only manifests signed by a member with write rights (version 3)"
    )]
    Unsigned,
    #[error("manifest signed by {0}, who may not write in this swarm")]
    NotAWriter(String),
    #[error("manifest truncated while reading {0}")]
    Truncated(&'static str),
    #[error("manifest checksum mismatch: the manifest is corrupt")]
    Checksum,
    #[error("invalid manifest: key of {0} bytes, longer than 65535")]
    KeyTooLong(usize),
    #[error("invalid manifest: key is not UTF-8 in a version 1 manifest")]
    KeyNotUtf8,
    #[error(
        "invalid manifest: key is UTF-8 in a version 2 manifest (only other keys take version 2)"
    )]
    Utf8KeyInVersion2,
    #[error("invalid manifest: {0} chunks, more than 2^32 - 1")]
    TooManyChunks(usize),
    #[error("invalid manifest: unknown kind {0}")]
    UnknownKind(u8),
    #[error("invalid manifest: inline data is {data} bytes, size says {size}")]
    InlineSize { data: usize, size: u64 },
    #[error("invalid manifest: {0} trailing bytes")]
    Trailing(usize),
    #[error("invalid manifest: unknown chunker {0}")]
    UnknownChunker(u8),
    #[error("invalid manifest: unknown codec {0}")]
    UnknownCodec(u8),
    #[error("invalid manifest: chunk length {len} outside 1..={max}")]
    ChunkLength { len: u32, max: u32 },
    #[error("invalid manifest: chunks add up to {total} bytes, size says {size}")]
    ChunksSize { total: u64, size: u64 },
    #[error("invalid manifest: {0}")]
    Chunker(ChunkerError),
    #[error("invalid manifest: {0}")]
    Coding(ErasureError),
}

impl Manifest {
    /// The format version this manifest is written in: [`VERSION`], or [`VERSION_BYTE_KEY`]
    /// when its key is not UTF-8.
    pub fn version(&self) -> u8 {
        if std::str::from_utf8(&self.key).is_ok() {
            VERSION
        } else {
            VERSION_BYTE_KEY
        }
    }

    pub fn encoded_len(&self) -> usize {
        let head = 4 + 1 + 1 + 2 + self.key.len() + 8;
        let body = match &self.body {
            Body::Inline(d) => d.len(),
            Body::Chunked {
                chunker,
                coding,
                chunks,
            } => {
                (1 + 1 + 4 + 4 + 4 + 8)
                    + if chunker.group.is_some() { 4 + 4 } else { 0 }
                    + (1 + 2 + 2)
                    + 4
                    + chunks.len() * (32 + 4 + 32 * coding.total())
            }
        };
        head + body + 32
    }

    /// Canonical bytes. Fails only if the manifest breaks a format limit (key over 64 KiB, more
    /// than 2^32 chunks).
    pub fn encode(&self) -> Result<Vec<u8>, ManifestError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.push(self.version());
        self.encode_fields(&mut out)?;
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        Ok(out)
    }

    /// Version 3 bytes: the manifest signed by `writer` for swarm `swarm` (ed25519 signatures
    /// are deterministic: one encoding per manifest and writer).
    pub fn encode_signed(
        &self,
        swarm: &SwarmId,
        writer: &Writer,
    ) -> Result<Vec<u8>, ManifestError> {
        let mut fields = Vec::with_capacity(self.encoded_len());
        self.encode_fields(&mut fields)?;
        let writer = &writer.0;
        let signature = writer.sign(&signed_message(swarm, &fields));
        let mut out = Vec::with_capacity(fields.len() + 4 + 1 + 32 + 64 + 32);
        out.extend_from_slice(MAGIC);
        out.push(VERSION_SIGNED);
        out.extend_from_slice(writer.verifying_key().as_bytes());
        out.extend_from_slice(&signature.to_bytes());
        out.extend_from_slice(&fields);
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        Ok(out)
    }

    /// The writer and signature of a version 3 manifest, `None` for versions 1 and 2. Checks
    /// the checksum, not the signature ([`WriterSignature::verify`]) nor the fields
    /// ([`Manifest::decode`]).
    pub fn writer_signature(bytes: &[u8]) -> Result<Option<WriterSignature>, ManifestError> {
        if bytes.len() < 5 || &bytes[..4] != MAGIC {
            return Err(ManifestError::BadMagic);
        }
        if bytes[4] != VERSION_SIGNED {
            return Ok(None);
        }
        if bytes.len() < 5 + 32 + 64 + 32 {
            return Err(ManifestError::Truncated("signature"));
        }
        let (content, sum) = bytes.split_at(bytes.len() - 32);
        if blake3::hash(content).as_bytes() != sum {
            return Err(ManifestError::Checksum);
        }
        let mut writer = [0u8; 32];
        writer.copy_from_slice(&content[5..37]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&content[37..101]);
        Ok(Some(WriterSignature {
            writer,
            signature,
            fields: content[101..].to_vec(),
        }))
    }

    /// Every field after the version byte(s), before the checksum.
    fn encode_fields(&self, out: &mut Vec<u8>) -> Result<(), ManifestError> {
        out.push(match self.body {
            Body::Inline(_) => KIND_INLINE,
            Body::Chunked { .. } => KIND_CHUNKED,
        });
        let klen =
            u16::try_from(self.key.len()).map_err(|_| ManifestError::KeyTooLong(self.key.len()))?;
        out.extend_from_slice(&klen.to_le_bytes());
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.size.to_le_bytes());
        match &self.body {
            Body::Inline(d) => out.extend_from_slice(d),
            Body::Chunked {
                chunker,
                coding,
                chunks,
            } => {
                out.push(match chunker.group {
                    None => CHUNKER_FASTCDC_2020,
                    Some(_) => CHUNKER_FASTCDC_2020_GROUPED,
                });
                out.push(chunker.level);
                out.extend_from_slice(&chunker.min.to_le_bytes());
                out.extend_from_slice(&chunker.avg.to_le_bytes());
                out.extend_from_slice(&chunker.max.to_le_bytes());
                out.extend_from_slice(&chunker.seed.to_le_bytes());
                if let Some(g) = chunker.group {
                    out.extend_from_slice(&g.min.to_le_bytes());
                    out.extend_from_slice(&g.max.to_le_bytes());
                }
                out.push(CODEC_RS_LEOPARD_GF16);
                out.extend_from_slice(&coding.k().to_le_bytes());
                out.extend_from_slice(&coding.m().to_le_bytes());
                let n = u32::try_from(chunks.len())
                    .map_err(|_| ManifestError::TooManyChunks(chunks.len()))?;
                out.extend_from_slice(&n.to_le_bytes());
                for c in chunks {
                    out.extend_from_slice(&c.id.0);
                    out.extend_from_slice(&c.len.to_le_bytes());
                    for s in &c.shards {
                        out.extend_from_slice(&s.0);
                    }
                }
            }
        }
        Ok(())
    }

    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() < 4 || &bytes[..4] != MAGIC {
            return Err(ManifestError::BadMagic);
        }
        if bytes.len() < 5 {
            return Err(ManifestError::Truncated("version"));
        }
        let version = bytes[4];
        if !(VERSION..=VERSION_SIGNED).contains(&version) {
            return Err(ManifestError::UnsupportedVersion(version));
        }
        // The writer and signature of version 3 come before the fields.
        let head = if version == VERSION_SIGNED { 5 + 96 } else { 5 };
        if bytes.len() < head + 1 + 32 {
            return Err(ManifestError::Truncated("header"));
        }
        let (content, sum) = bytes.split_at(bytes.len() - 32);
        if blake3::hash(content).as_bytes() != sum {
            return Err(ManifestError::Checksum);
        }
        let mut r = Reader {
            buf: &content[head..],
        };
        let kind = r.u8("kind")?;
        let klen = usize::from(r.u16("key length")?);
        let key = r.take(klen, "key")?.to_vec();
        // One encoding per manifest: versions 1 and 2 say whether the key is UTF-8; version 3
        // takes any key.
        match (version, std::str::from_utf8(&key).is_ok()) {
            (VERSION, false) => return Err(ManifestError::KeyNotUtf8),
            (VERSION_BYTE_KEY, true) => return Err(ManifestError::Utf8KeyInVersion2),
            _ => {}
        }
        let size = r.u64("size")?;
        let body = match kind {
            KIND_INLINE => {
                let data = r.rest();
                if data.len() as u64 != size {
                    return Err(ManifestError::InlineSize {
                        data: data.len(),
                        size,
                    });
                }
                Body::Inline(Bytes::copy_from_slice(data))
            }
            KIND_CHUNKED => decode_chunked(&mut r, size)?,
            other => return Err(ManifestError::UnknownKind(other)),
        };
        if !r.buf.is_empty() {
            return Err(ManifestError::Trailing(r.buf.len()));
        }
        Ok(Manifest { key, size, body })
    }
}

/// A member's key, signing the manifests it writes (version 3).
#[derive(Clone)]
pub struct Writer(ed25519_dalek::SigningKey);

impl Writer {
    /// From the member's ed25519 secret (its key file's seed).
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Writer(ed25519_dalek::SigningKey::from_bytes(secret))
    }

    /// The public key manifests name as their writer.
    pub fn public(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({})", hex::encode(self.public()))
    }
}

/// What a version 3 manifest's writer signed: the context, the swarm id, then every field after
/// the signature (so a manifest signed for one swarm is not valid in another).
fn signed_message(swarm: &SwarmId, fields: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNING_CONTEXT.len() + 16 + fields.len());
    m.extend_from_slice(SIGNING_CONTEXT);
    m.extend_from_slice(&swarm.0);
    m.extend_from_slice(fields);
    m
}

/// The writer of a version 3 manifest and its signature, as read (not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterSignature {
    /// The writer's ed25519 public key: a member of the swarm's definition.
    pub writer: [u8; 32],
    pub signature: [u8; 64],
    /// The signed fields (after the signature, before the checksum).
    fields: Vec<u8>,
}

impl WriterSignature {
    /// Whether the writer signed these fields for swarm `swarm`.
    pub fn verify(&self, swarm: &SwarmId) -> Result<(), ManifestError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.writer)
            .map_err(|e| ManifestError::BadSignature(format!("the writer's key: {e}")))?;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify_strict(&signed_message(swarm, &self.fields), &signature)
            .map_err(|_| {
                ManifestError::BadSignature(format!(
                    "not signed by {} for swarm {swarm}",
                    hex::encode(self.writer)
                ))
            })
    }
}

/// Whether the manifest `bytes` was written by a member of `def` with write rights: a
/// version 3 manifest whose signature verifies for `def`'s swarm, by a `[[client]]` with role
/// write or admin or by a `[[node]]` with role write or more. The writer's name on success.
pub fn check_writer(bytes: &[u8], def: &SwarmDefinition) -> Result<String, ManifestError> {
    let sig = Manifest::writer_signature(bytes)?.ok_or(ManifestError::Unsigned)?;
    sig.verify(&def.swarm)?;
    let id = NodeId::from_bytes(sig.writer)
        .map_err(|e| ManifestError::BadSignature(format!("the writer's key: {e}")))?;
    match def.member(&id) {
        Some(m) if m.role >= Role::Write => Ok(m.name.to_owned()),
        Some(m) => Err(ManifestError::NotAWriter(format!(
            "member {} (role {})",
            m.name, m.role
        ))),
        None => Err(ManifestError::NotAWriter(format!(
            "{}, not a member",
            id.short()
        ))),
    }
}

fn decode_chunked(r: &mut Reader<'_>, size: u64) -> Result<Body, ManifestError> {
    let algo = r.u8("chunker")?;
    if algo != CHUNKER_FASTCDC_2020 && algo != CHUNKER_FASTCDC_2020_GROUPED {
        return Err(ManifestError::UnknownChunker(algo));
    }
    let level = r.u8("chunker level")?;
    let mut chunker = ChunkerParams {
        level,
        min: r.u32("chunker min")?,
        avg: r.u32("chunker avg")?,
        max: r.u32("chunker max")?,
        seed: r.u64("chunker seed")?,
        group: None,
    };
    if algo == CHUNKER_FASTCDC_2020_GROUPED {
        chunker.group = Some(Grouping {
            min: r.u32("group min")?,
            max: r.u32("group max")?,
        });
    }
    chunker.validate().map_err(ManifestError::Chunker)?;
    let codec = r.u8("codec")?;
    if codec != CODEC_RS_LEOPARD_GF16 {
        return Err(ManifestError::UnknownCodec(codec));
    }
    let coding = Coding::new(r.u16("k")?, r.u16("m")?).map_err(ManifestError::Coding)?;
    let count = r.u32("chunk count")? as usize;
    let entry = 32 + 4 + 32 * coding.total();
    if count
        .checked_mul(entry)
        .is_none_or(|need| need > r.buf.len())
    {
        return Err(ManifestError::Truncated("chunks"));
    }
    let mut chunks = Vec::with_capacity(count);
    let mut total = 0u64;
    for _ in 0..count {
        let id = r.hash("chunk id")?;
        let len = r.u32("chunk length")?;
        if len == 0 || len > chunker.max_chunk() {
            return Err(ManifestError::ChunkLength {
                len,
                max: chunker.max_chunk(),
            });
        }
        total += u64::from(len);
        let shards = (0..coding.total())
            .map(|_| r.hash("shard hash"))
            .collect::<Result<_, _>>()?;
        chunks.push(ChunkRecord { id, len, shards });
    }
    if total != size {
        return Err(ManifestError::ChunksSize { total, size });
    }
    Ok(Body::Chunked {
        chunker,
        coding,
        chunks,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ManifestError> {
        if self.buf.len() < n {
            return Err(ManifestError::Truncated(what));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
    fn arr<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ManifestError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, ManifestError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, ManifestError> {
        Ok(u16::from_le_bytes(self.arr(what)?))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, ManifestError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, ManifestError> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn hash(&mut self, what: &'static str) -> Result<Hash32, ManifestError> {
        Ok(Hash32(self.arr(what)?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample_chunked() -> Manifest {
        let coding = Coding::new(2, 1).unwrap();
        let chunker = ChunkerParams {
            min: 1024,
            avg: 4096,
            max: 16384,
            level: 1,
            seed: 0,
            group: None,
        };
        let chunk = |n: u8, len| ChunkRecord {
            id: Hash32([n; 32]),
            len,
            shards: vec![
                Hash32([n + 1; 32]),
                Hash32([n + 2; 32]),
                Hash32([n + 3; 32]),
            ],
        };
        Manifest {
            key: "SHA256E-s5000--ab.bin".into(),
            size: 5000,
            body: Body::Chunked {
                chunker,
                coding,
                chunks: vec![chunk(0x10, 4096), chunk(0x20, 904)],
            },
        }
    }

    /// The chunked sample with grouped chunks (chunker 2).
    fn sample_grouped() -> Manifest {
        let mut m = sample_chunked();
        if let Body::Chunked { chunker, .. } = &mut m.body {
            chunker.group = Some(Grouping {
                min: 16384,
                max: 32768,
            });
        }
        m
    }

    /// Version 2: the key of `hello\n` in a file named `photo.\xe9` (a Latin-1 `é`).
    fn sample_byte_key() -> Manifest {
        Manifest {
            key: [
                &b"SHA256E-s6--5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03."[..],
                b"\xe9",
            ]
            .concat(),
            size: 6,
            body: Body::Inline(Bytes::from_static(b"hello\n")),
        }
    }

    const SPEC: &str = include_str!("../../../docs/spec/manifest-v1.md");

    /// The bytes of the ```hex name=NAME block of the spec (`#` starts a comment).
    fn spec_vector(name: &str) -> Vec<u8> {
        let open = format!("```hex name={name}\n");
        let start = SPEC.find(&open).unwrap() + open.len();
        let end = start + SPEC[start..].find("```").unwrap();
        let hex: String = SPEC[start..end]
            .lines()
            .map(|l| {
                l.split('#')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<String>()
            })
            .collect();
        hex::decode(hex).unwrap()
    }

    #[test]
    fn golden_vectors_in_spec() {
        let inline = Manifest {
            key: "WORM-s5-m1--hello".into(),
            size: 5,
            body: Body::Inline(Bytes::from_static(b"hello")),
        };
        for (name, m) in [
            ("inline", inline),
            ("chunked", sample_chunked()),
            ("grouped", sample_grouped()),
            ("inline-byte-key", sample_byte_key()),
        ] {
            let enc = m.encode().unwrap();
            assert_eq!(enc.len(), m.encoded_len());
            assert_eq!(
                hex::encode(&enc),
                hex::encode(spec_vector(name)),
                "{name}: encoding differs from docs/spec/manifest-v1.md"
            );
            assert_eq!(Manifest::decode(&spec_vector(name)).unwrap(), m, "{name}");
        }
    }

    fn writer(seed: u8) -> Writer {
        Writer::from_secret(&[seed; 32])
    }

    #[test]
    fn signed_golden_vector_in_spec() {
        let inline = Manifest {
            key: "WORM-s5-m1--hello".into(),
            size: 5,
            body: Body::Inline(Bytes::from_static(b"hello")),
        };
        let swarm = SwarmId([0x11; 16]);
        let enc = inline.encode_signed(&swarm, &writer(7)).unwrap();
        assert_eq!(
            hex::encode(&enc),
            hex::encode(spec_vector("signed")),
            "encoding differs from docs/spec/manifest-v1.md"
        );
        assert_eq!(Manifest::decode(&enc).unwrap(), inline);
        let sig = Manifest::writer_signature(&enc).unwrap().unwrap();
        assert_eq!(sig.writer, writer(7).public());
        sig.verify(&swarm).unwrap();
    }

    #[test]
    fn a_signature_holds_only_for_its_swarm_and_its_fields() {
        let m = sample_chunked();
        let swarm = SwarmId([1; 16]);
        let enc = m.encode_signed(&swarm, &writer(3)).unwrap();
        assert_eq!(Manifest::decode(&enc).unwrap(), m);
        let sig = Manifest::writer_signature(&enc).unwrap().unwrap();
        sig.verify(&swarm).unwrap();
        // Another swarm.
        let err = sig.verify(&SwarmId([2; 16])).unwrap_err();
        assert!(err.to_string().contains("not signed by"), "{err}");
        // Any field changed, the checksum made anew (a forger who knows the format): the
        // manifest still decodes, its signature does not verify.
        for at in [101, 120, enc.len() - 40] {
            let mut forged = enc[..enc.len() - 32].to_vec();
            forged[at] ^= 1;
            let sum = blake3::hash(&forged);
            forged.extend_from_slice(sum.as_bytes());
            if let Ok(Some(sig)) = Manifest::writer_signature(&forged) {
                assert!(sig.verify(&swarm).is_err(), "a change at {at} verified");
            }
        }
        // Another key's name in the writer field: no longer that writer's signature.
        let mut forged = enc[..enc.len() - 32].to_vec();
        forged[5..37].copy_from_slice(&writer(4).public());
        let sum = blake3::hash(&forged);
        forged.extend_from_slice(sum.as_bytes());
        let sig = Manifest::writer_signature(&forged).unwrap().unwrap();
        assert!(sig.verify(&swarm).is_err());
        // Versions 1 and 2 carry none.
        assert_eq!(
            Manifest::writer_signature(&m.encode().unwrap()).unwrap(),
            None
        );
        // Truncated or flipped signed bytes never decode.
        no_truncation_or_flip_decodes(&enc);
    }

    #[test]
    fn every_truncation_and_flip_is_rejected() {
        no_truncation_or_flip_decodes(&sample_chunked().encode().unwrap());
    }

    fn no_truncation_or_flip_decodes(enc: &[u8]) {
        for n in 0..enc.len() {
            assert!(Manifest::decode(&enc[..n]).is_err(), "truncated at {n}");
        }
        for i in 0..enc.len() {
            let mut bad = enc.to_vec();
            bad[i] ^= 0x40;
            assert!(Manifest::decode(&bad).is_err(), "flip at {i}");
        }
    }

    #[test]
    fn structural_errors_are_named() {
        let mut m = sample_chunked();
        m.size = 4999;
        let enc = m.encode().unwrap();
        let err = Manifest::decode(&enc).unwrap_err();
        assert!(err.to_string().contains("add up to 5000"), "{err}");
        let mut enc = sample_chunked().encode().unwrap();
        enc[4] = 9;
        assert_eq!(
            Manifest::decode(&enc).unwrap_err(),
            ManifestError::UnsupportedVersion(9)
        );
    }

    /// A key that is not UTF-8 (git-annex keeps a Latin-1 extension byte) is stored in a
    /// version 2 manifest; every UTF-8 key stays in version 1, byte for byte as before.
    #[test]
    fn keys_that_are_not_utf8_take_version_2_and_nothing_else_does() {
        let m = sample_byte_key();
        assert_eq!(m.version(), VERSION_BYTE_KEY);
        let enc = m.encode().unwrap();
        assert_eq!(enc[4], 2);
        assert_eq!(Manifest::decode(&enc).unwrap(), m);
        assert_eq!(sample_chunked().version(), VERSION);
        // A reader that knows only version 1 says so by the version, not "corrupt".
        assert_eq!(
            ManifestError::UnsupportedVersion(2).to_string(),
            "manifest version 2 is not supported (this build reads versions 1 to 3)"
        );
        // One encoding per manifest: the other version with the same key is refused.
        let reversion = |mut enc: Vec<u8>, v: u8| {
            enc[4] = v;
            let n = enc.len() - 32;
            let sum = blake3::hash(&enc[..n]);
            enc[n..].copy_from_slice(sum.as_bytes());
            Manifest::decode(&enc).unwrap_err().to_string()
        };
        assert_eq!(
            reversion(enc, 1),
            "invalid manifest: key is not UTF-8 in a version 1 manifest"
        );
        assert_eq!(
            reversion(sample_chunked().encode().unwrap(), 2),
            "invalid manifest: key is UTF-8 in a version 2 manifest (only other keys take version 2)"
        );
        for v in [0u8, 4, 255] {
            let mut enc = sample_chunked().encode().unwrap();
            enc[4] = v;
            assert_eq!(
                Manifest::decode(&enc).unwrap_err(),
                ManifestError::UnsupportedVersion(v)
            );
        }
    }

    proptest! {
        #[test]
        fn round_trips(key in "[A-Z0-9]{1,8}-s[0-9]{1,5}--[a-z0-9.]{0,40}", data in proptest::collection::vec(any::<u8>(), 0..600),
                       lens in proptest::collection::vec(1u32..16384, 0..20), k in 1u16..6, m in 0u16..4,
                       grouped in proptest::bool::ANY) {
            let group = grouped.then_some(Grouping { min: 16384, max: 32768 });
            let key = key.into_bytes();
            let inline = Manifest { key: key.clone(), size: data.len() as u64, body: Body::Inline(Bytes::from(data)) };
            let enc = inline.encode().unwrap();
            prop_assert_eq!(enc.len(), inline.encoded_len());
            prop_assert_eq!(Manifest::decode(&enc).unwrap(), inline);
            let coding = Coding::new(k, m).unwrap();
            let chunks: Vec<ChunkRecord> = lens.iter().enumerate().map(|(i, &len)| ChunkRecord {
                id: Hash32::of(&i.to_le_bytes()), len, shards: (0..coding.total()).map(|s| Hash32::of(&[s as u8, i as u8])).collect()
            }).collect();
            let chunked = Manifest { key, size: lens.iter().map(|&l| u64::from(l)).sum(),
                body: Body::Chunked { chunker: ChunkerParams { min: 1024, avg: 4096, max: 16384, level: 1, seed: 0, group }, coding, chunks } };
            let enc = chunked.encode().unwrap();
            prop_assert_eq!(enc.len(), chunked.encoded_len());
            prop_assert_eq!(Manifest::decode(&enc).unwrap(), chunked);
        }

        #[test]
        fn any_key_bytes_round_trip(key in proptest::collection::vec(any::<u8>(), 0..80),
                                    data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let m = Manifest { key, size: data.len() as u64, body: Body::Inline(Bytes::from(data)) };
            let enc = m.encode().unwrap();
            prop_assert_eq!(enc.len(), m.encoded_len());
            prop_assert_eq!(enc[4], m.version());
            prop_assert_eq!(Manifest::decode(&enc).unwrap(), m);
        }

        #[test]
        fn garbage_with_valid_checksum_is_rejected(version in 1u8..=2, bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            // Past the magic, version and checksum, so the structural checks are what is tested.
            let mut enc = b"ASWM".to_vec();
            enc.push(version);
            enc.extend_from_slice(&bytes);
            let sum = blake3::hash(&enc);
            enc.extend_from_slice(sum.as_bytes());
            if let Ok(m) = Manifest::decode(&enc) {
                // Whatever decodes must be canonical: encoding it gives the same bytes.
                prop_assert_eq!(m.encode().unwrap(), enc);
            }
        }
    }
}
