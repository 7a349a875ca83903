//! Properties of the codec: every message round-trips through any split of the byte stream,
//! `encoded_len` is the encoding's length, and no bytes (random, or a valid stream damaged)
//! panic the decoder or make its answer depend on how the bytes were split.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use swarm_wire::{
    Blob, BoundedVec, Class, Cursor, Entry, Failure, Frame, FrameDecoder, FrameError, Hello,
    MAX_DATA, Message, Meta, ObjectName, Page, PageLimit, PlainName, Request, Response, Role,
    SignedDefinition, Text, Why,
};

fn text<const N: usize>() -> impl Strategy<Value = Text<N>> {
    "\\PC{0,24}".prop_map(|s| Text::cut(&s))
}

fn plain_name() -> impl Strategy<Value = PlainName> {
    "[a-z0-9._-]{1,40}"
        .prop_filter("not . or ..", |s| s != "." && s != "..")
        .prop_map(|s| PlainName::new(&s).unwrap())
}

fn blob<const N: usize>(max: usize) -> impl Strategy<Value = Blob<N>> {
    vec(any::<u8>(), 0..=max).prop_map(|b| Blob::new(b).unwrap())
}

fn object() -> impl Strategy<Value = ObjectName> {
    prop_oneof![
        Just(ObjectName::Marker),
        any::<[u8; 32]>().prop_map(ObjectName::Manifest),
        any::<[u8; 32]>().prop_map(ObjectName::Shard),
        plain_name().prop_map(ObjectName::Staging),
        plain_name().prop_map(ObjectName::Lock),
    ]
}

fn class() -> impl Strategy<Value = Class> {
    prop_oneof![
        Just(Class::Manifests),
        Just(Class::Shards),
        Just(Class::Staging),
        Just(Class::Locks)
    ]
}

fn meta() -> impl Strategy<Value = Meta> {
    (any::<u64>(), any::<u64>()).prop_map(|(size, modified_ns)| Meta { size, modified_ns })
}

fn hello() -> impl Strategy<Value = Hello> {
    (
        any::<[u8; 16]>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        prop_oneof![Just(Role::Client), Just(Role::Node)],
        vec(any::<u32>(), 0..=32),
    )
        .prop_map(|(swarm, version, hash, role, features)| Hello {
            features: BoundedVec::new(features).unwrap(),
            ..Hello::new(swarm, version, hash, role)
        })
}

fn definition() -> impl Strategy<Value = SignedDefinition> {
    (blob(300), blob(100)).prop_map(|(definition, signature)| SignedDefinition {
        definition,
        signature,
    })
}

fn failure() -> impl Strategy<Value = Failure> {
    let why = prop_oneof![
        Just(Why::Silent),
        Just(Why::Refused),
        Just(Why::Unconfigured),
        Just(Why::Absent),
        Just(Why::NotInitialised),
        Just(Why::Foreign),
    ];
    prop_oneof![
        Just(Failure::NotFound),
        (any::<u64>(), any::<u64>()).prop_map(|(size, max)| Failure::TooLarge { size, max }),
        text().prop_map(|reason| Failure::Refused { reason }),
        text().prop_map(|reason| Failure::Full { reason }),
        (why, text()).prop_map(|(why, reason)| Failure::Unavailable { why, reason }),
        text().prop_map(|what| Failure::BadRequest { what }),
        (text(), any::<bool>())
            .prop_map(|(reason, transient)| Failure::Internal { reason, transient }),
    ]
}

fn cursor() -> impl Strategy<Value = Cursor> {
    blob(256)
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        hello().prop_map(Request::Hello),
        Just(Request::GetDefinition),
        definition().prop_map(Request::OfferDefinition),
        object().prop_map(|object| Request::Stat { object }),
        (object(), any::<u64>()).prop_map(|(object, max)| Request::Read { object, max }),
        (object(), any::<u64>(), any::<u64>()).prop_map(|(object, offset, len)| {
            Request::ReadRange {
                object,
                offset,
                len,
            }
        }),
        (object(), any::<u64>()).prop_map(|(object, len)| Request::Write { object, len }),
        object().prop_map(|object| Request::Touch { object }),
        object().prop_map(|object| Request::Delete { object }),
        (class(), proptest::option::of(cursor()), 1u32..=1000).prop_map(|(class, after, limit)| {
            Request::List {
                class,
                after,
                limit: PageLimit::new(limit).unwrap(),
            }
        }),
        text().prop_map(|store| Request::Create { store }),
        text().prop_map(|store| Request::Check { store }),
        Just(Request::FreeSpace),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (object(), meta()).prop_map(|(object, meta)| Entry::Object { object, meta }),
        text().prop_map(Entry::Stray),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        hello().prop_map(Response::Hello),
        Just(Response::Done),
        failure().prop_map(Response::Failed),
        definition().prop_map(Response::Definition),
        proptest::option::of(meta()).prop_map(Response::Meta),
        any::<u64>().prop_map(|len| Response::Data { len }),
        (vec(entry(), 0..40), proptest::option::of(cursor())).prop_map(|(entries, next)| {
            Response::Page(Page {
                entries: BoundedVec::new(entries).unwrap(),
                next,
            })
        }),
        proptest::option::of(any::<u64>()).prop_map(Response::FreeSpace),
    ]
}

fn frames<M: Message + Clone + 'static>(
    message: impl Strategy<Value = M> + 'static,
) -> impl Strategy<Value = Vec<Frame<M>>> {
    let frame = prop_oneof![
        3 => message.prop_map(Frame::Message),
        1 => vec(any::<u8>(), 1..3000).prop_map(|d| Frame::Data(Bytes::from(d))),
        1 => Just(Frame::End),
    ];
    vec(frame, 0..8)
}

/// Feeds `bytes` cut at `cuts` (sorted, deduplicated here) and collects what comes out.
fn decode_split<M: Message>(bytes: &[u8], cuts: &[usize]) -> Result<Vec<Frame<M>>, FrameError> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    let mut d = FrameDecoder::<M>::new();
    let mut out = Vec::new();
    let mut from = 0;
    for to in cuts {
        let mut piece = &bytes[from..to];
        from = to;
        while !piece.is_empty() {
            if let Some(f) = d.decode(&mut piece)? {
                out.push(f);
            }
            assert!(d.buffered() <= swarm_wire::HEADER_LEN + MAX_DATA);
        }
    }
    d.finish()?;
    Ok(out)
}

fn encode_all<M: Message>(frames: &[Frame<M>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let before = out.len();
        f.encode_into(&mut out).unwrap();
        assert_eq!(out.len() - before, f.encoded_len().unwrap());
    }
    out
}

proptest! {
    #[test]
    fn requests_round_trip_through_any_split(
        frames in frames(request()),
        cuts in vec(any::<usize>(), 0..10),
    ) {
        let bytes = encode_all(&frames);
        prop_assert_eq!(decode_split::<Request>(&bytes, &cuts)?, frames);
    }

    #[test]
    fn responses_round_trip_through_any_split(
        frames in frames(response()),
        cuts in vec(any::<usize>(), 0..10),
    ) {
        let bytes = encode_all(&frames);
        prop_assert_eq!(decode_split::<Response>(&bytes, &cuts)?, frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_splits_do_not_matter(
        bytes in vec(any::<u8>(), 0..600),
        cuts in vec(any::<usize>(), 0..10),
    ) {
        prop_assert_eq!(decode_split::<Request>(&bytes, &cuts), decode_split::<Request>(&bytes, &[]));
        prop_assert_eq!(decode_split::<Response>(&bytes, &cuts), decode_split::<Response>(&bytes, &[]));
    }

    #[test]
    fn damaged_streams_never_panic(
        frames in frames(response()),
        flips in vec((any::<usize>(), 1u8..=255), 1..4),
        cut in any::<usize>(),
    ) {
        let mut bytes = encode_all(&frames);
        if bytes.is_empty() {
            return Ok(());
        }
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
        let cut = cut % (bytes.len() + 1);
        let whole = decode_split::<Response>(&bytes, &[]);
        prop_assert_eq!(decode_split::<Response>(&bytes, &[cut]), whole.clone());
        let _ = decode_split::<Request>(&bytes, &[cut]);
        // What still decodes is a valid message: it re-encodes and decodes to itself.
        if let Ok(decoded) = whole {
            prop_assert_eq!(decode_split::<Response>(&encode_all(&decoded), &[])?, decoded);
        }
    }
}

#[test]
fn a_full_data_frame_arrives_whole_from_any_split() {
    let data = Bytes::from((0..MAX_DATA).map(|i| i as u8).collect::<Vec<u8>>());
    let frames: Vec<Frame<Response>> = vec![
        Frame::Message(Response::Data {
            len: MAX_DATA as u64,
        }),
        Frame::Data(data),
        Frame::End,
    ];
    let bytes = encode_all(&frames);
    for cuts in [vec![], vec![1, 6, 7, 9000, 600_000], vec![bytes.len() - 6]] {
        assert_eq!(decode_split::<Response>(&bytes, &cuts).unwrap(), frames);
    }
}

#[test]
fn a_message_past_the_frame_limit_is_not_encoded() {
    let stray = Entry::Stray(Text::new("x".repeat(1024)).unwrap());
    let page = Response::Page(Page {
        entries: BoundedVec::new(vec![stray; 100]).unwrap(),
        next: None,
    });
    let e = Frame::Message(page).encode().unwrap_err();
    assert!(e.to_string().contains("at most 65536"), "{e}");
}

/// postcard reads a varint with redundant continuation bytes (`80 00` for 0): messages are
/// not canonical, which is fine because nothing hashes or signs a message's bytes (a
/// definition's hash is over the definition's own bytes).
#[test]
fn overlong_varints_are_read_not_canonical() {
    let frames = decode_split::<Response>(&[0, 3, 0, 0, 0, 5, 0x80, 0x00], &[]).unwrap();
    assert_eq!(frames, [Frame::Message(Response::Data { len: 0 })]);
}
