//! Golden vectors: the hex blocks of `docs/spec/wire-v1.md` are exactly what these messages
//! encode to, and decode back to them. One example of every request, response and failure.
//! `cargo test -p swarm-wire --test golden -- --ignored --nocapture` prints them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use bytes::Bytes;
use swarm_wire::{
    Blob, BoundedVec, Class, Cursor, Entry, Failure, Frame, FrameDecoder, Hello, Message,
    ObjectName, PageLimit, PlainName, Request, Response, Role, SignedDefinition, Text, Why,
};

const SPEC: &str = include_str!("../../../docs/spec/wire-v1.md");

/// The bytes of the spec's block `name`: hex digits, `#` to the end of a line is a comment.
fn spec_vector(name: &str) -> Vec<u8> {
    let fence = format!("```hex name={name}\n");
    let start = SPEC
        .find(&fence)
        .unwrap_or_else(|| panic!("no vector {name} in the spec"))
        + fence.len();
    let end = start + SPEC[start..].find("```").expect("unterminated block");
    let hex: String = SPEC[start..end]
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace())
        .collect();
    hex::decode(hex).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn spec_names() -> BTreeSet<String> {
    SPEC.lines()
        .filter_map(|l| l.strip_prefix("```hex name="))
        .map(str::to_owned)
        .collect()
}

fn definition() -> SignedDefinition {
    SignedDefinition {
        definition: Blob::new(b"version = 2\n".to_vec()).unwrap(),
        signature: Blob::new(b"-----BEGIN SSH SIGNATURE-----".to_vec()).unwrap(),
    }
}

fn hello(definition_version: u64, hash: u8, role: Role, features: Vec<u32>) -> Hello {
    let mut swarm = [0u8; 16];
    for (i, b) in swarm.iter_mut().enumerate() {
        *b = i as u8;
    }
    Hello {
        features: BoundedVec::new(features).unwrap(),
        ..Hello::new(swarm, definition_version, [hash; 32], role)
    }
}

fn name(s: &str) -> PlainName {
    PlainName::new(s).unwrap()
}

fn store() -> Text<64> {
    Text::new("s1-ab12cd").unwrap()
}

const HELLO: &[u8] = b"hello";
const MODIFIED_NS: u64 = 1_764_892_800_000_000_000;

fn requests() -> Vec<(&'static str, Vec<Frame<Request>>)> {
    use Request::*;
    let m = |r| vec![Frame::Message(r)];
    vec![
        ("hello", m(Hello(hello(7, 0xab, Role::Client, vec![])))),
        ("get-definition", m(GetDefinition)),
        ("offer-definition", m(OfferDefinition(definition()))),
        (
            "stat",
            m(Stat {
                object: ObjectName::Manifest([0x11; 32]),
            }),
        ),
        (
            "read",
            m(Read {
                object: ObjectName::Marker,
                max: 4096,
            }),
        ),
        (
            "read-range",
            m(ReadRange {
                object: ObjectName::Shard([0x33; 32]),
                offset: 1 << 20,
                len: 65536,
            }),
        ),
        (
            "write",
            vec![
                Frame::Message(Write {
                    object: ObjectName::Shard([0x44; 32]),
                    len: 5,
                }),
                Frame::Data(Bytes::from_static(HELLO)),
                Frame::End,
            ],
        ),
        (
            "touch",
            m(Touch {
                object: ObjectName::Lock(name("shared-0123456789abcdef0123456789abcdef")),
            }),
        ),
        (
            "delete",
            m(Delete {
                object: ObjectName::Staging(name("4242.1.x")),
            }),
        ),
        (
            "list",
            m(List {
                class: Class::Shards,
                after: Some(Cursor::new(vec![0xaa, 0xbb]).unwrap()),
                limit: PageLimit::MAX,
            }),
        ),
        ("create", m(Create { store: store() })),
        ("check", m(Check { store: store() })),
        ("free-space", m(FreeSpace)),
    ]
}

fn responses() -> Vec<(&'static str, Vec<Frame<Response>>)> {
    use Response::*;
    let m = |r| vec![Frame::Message(r)];
    let failed = |f| m(Failed(f));
    vec![
        (
            "hello-answer",
            m(Hello(hello(8, 0xcd, Role::Node, vec![300]))),
        ),
        ("done", m(Done)),
        ("failed-not-found", failed(Failure::NotFound)),
        (
            "failed-too-large",
            failed(Failure::TooLarge {
                size: 300_000,
                max: 262_144,
            }),
        ),
        ("failed-refused", failed(Failure::refused("role read"))),
        (
            "failed-full",
            failed(Failure::Full {
                reason: Text::new("quota").unwrap(),
            }),
        ),
        (
            "failed-unavailable",
            failed(Failure::Unavailable {
                why: Why::Absent,
                reason: Text::new("not mounted").unwrap(),
            }),
        ),
        (
            "failed-bad-request",
            failed(Failure::bad_request("unknown request 13")),
        ),
        (
            "failed-internal",
            failed(Failure::internal("I/O error", true)),
        ),
        ("definition", m(Definition(definition()))),
        (
            "meta",
            m(Meta(Some(swarm_wire::Meta {
                size: 5,
                modified_ns: MODIFIED_NS,
            }))),
        ),
        ("meta-absent", m(Meta(None))),
        (
            "data",
            vec![
                Frame::Message(Data { len: 5 }),
                Frame::Data(Bytes::from_static(HELLO)),
                Frame::End,
            ],
        ),
        (
            "page",
            m(Page(swarm_wire::Page {
                entries: BoundedVec::new(vec![
                    Entry::Object {
                        object: ObjectName::Shard([0x55; 32]),
                        meta: swarm_wire::Meta {
                            size: 5,
                            modified_ns: MODIFIED_NS,
                        },
                    },
                    Entry::Stray(Text::new("shards/zz").unwrap()),
                ])
                .unwrap(),
                next: Some(Cursor::new(vec![0x01, 0x02]).unwrap()),
            })),
        ),
        ("free-space-answer", m(FreeSpace(Some(1 << 40)))),
    ]
}

fn encode<M: Message>(frames: &[Frame<M>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let before = out.len();
        f.encode_into(&mut out).unwrap();
        assert_eq!(out.len() - before, f.encoded_len().unwrap(), "{f:?}");
    }
    out
}

fn decode<M: Message>(mut bytes: &[u8]) -> Vec<Frame<M>> {
    let mut d = FrameDecoder::<M>::new();
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        frames.extend(d.decode(&mut bytes).unwrap());
    }
    d.finish().unwrap();
    frames
}

fn check<M: Message + PartialEq>(name: &str, frames: &[Frame<M>]) {
    let want = spec_vector(name);
    assert_eq!(
        hex::encode(encode(frames)),
        hex::encode(&want),
        "{name}: encoding differs from docs/spec/wire-v1.md"
    );
    assert_eq!(decode::<M>(&want), frames, "{name}");
}

#[test]
fn golden_vectors_in_spec() {
    for (name, frames) in requests() {
        check(name, &frames);
    }
    for (name, frames) in responses() {
        check(name, &frames);
    }
}

#[test]
fn every_vector_in_the_spec_is_checked() {
    let checked: BTreeSet<String> = requests()
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(responses().iter().map(|(n, _)| n.to_string()))
        .collect();
    assert_eq!(spec_names(), checked);
}

/// The variant index is the body's first byte (all below 128): every one has a vector.
fn indexes<M: Message>(all: Vec<(&'static str, Vec<Frame<M>>)>) -> BTreeSet<u8> {
    all.iter()
        .flat_map(|(_, frames)| frames)
        .filter(|f| matches!(f, Frame::Message(_)))
        .map(|f| f.encode().unwrap()[swarm_wire::HEADER_LEN])
        .collect()
}

#[test]
fn every_variant_has_a_vector() {
    assert_eq!(
        indexes(requests()),
        (0..Request::VARIANTS as u8).collect::<BTreeSet<_>>()
    );
    assert_eq!(
        indexes(responses()),
        (0..Response::VARIANTS as u8).collect::<BTreeSet<_>>()
    );
}

#[test]
#[ignore = "prints the vectors, for writing the spec"]
fn print_vectors() {
    for (name, frames) in requests() {
        println!("{name} {}", hex::encode(encode(&frames)));
    }
    for (name, frames) in responses() {
        println!("{name} {}", hex::encode(encode(&frames)));
    }
}
