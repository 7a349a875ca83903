//! A node and its clients on loopback: who is let in, what each role may do, and what a lying
//! node or a broken client gets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Client, Rig, SWARM};
use iroh::endpoint::ConnectionError;
use swarm_core::ids::Hash32;
use swarm_node::{Membership, NodeConfig, Role};
use swarm_store::{Class, Object, StoreAdmin, StoreError, StoreRead, Unavailable};
use swarm_wire::codes::close;
use swarm_wire::{
    ALPN, Failure, Frame, FrameDecoder, Hello, ObjectName, Request, Response, Role as WireRole,
    encode_message,
};

fn shard(bytes: &'static [u8]) -> (Object, Bytes) {
    (Object::Shard(Hash32::of(bytes)), Bytes::from_static(bytes))
}

/// Nothing at all in the node's store directory but its marker.
fn only_marker(rig: &Rig) {
    let root = rig.dir.path().join("store");
    for dir in ["shards", "manifests", "tmp"] {
        let d = root.join(dir);
        let found: Vec<_> = walk(&d);
        assert!(found.is_empty(), "{dir}: {found:?}");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p) } else { vec![p] }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_refused_before_any_data() {
    let member = Client::new().await;
    let stranger = Client::new().await;
    let rig = Rig::ready(Membership::new([member.member(Role::Write)])).await;

    let (object, bytes) = shard(b"from a stranger");
    let err = rig
        .peer_store(&stranger, SWARM)
        .write(&object, bytes.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err.unavailable(), Some(Unavailable::Refused(r)) if r.contains("not a member")),
        "{err}"
    );
    let refusals = rig.node.members().refusals();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].key, stranger.secret.id());
    only_marker(&rig);

    // A member is served as before.
    let store = rig.peer_store(&member, SWARM);
    store.write(&object, bytes.clone()).await.unwrap();
    assert_eq!(store.read(&object, 100).await.unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_role_cannot_write() {
    let reader = Client::new().await;
    let rig = Rig::ready(Membership::new([reader.member(Role::Read)])).await;
    let store = rig.peer_store(&reader, SWARM);
    let (object, bytes) = shard(b"not yours to write");

    let err = store.write(&object, bytes).await.unwrap_err();
    assert!(
        matches!(err.unavailable(), Some(Unavailable::Refused(r)) if r.contains("read role may not write")),
        "{err}"
    );
    let err = store.delete(&object).await.unwrap_err();
    assert!(
        matches!(err.unavailable(), Some(Unavailable::Refused(_))),
        "{err}"
    );
    assert!(store.create().await.unwrap_err().is_unavailable());
    // Reading is allowed.
    assert!(store.read(&object, 100).await.unwrap_err().is_not_found());
    store.check().await.unwrap();
    only_marker(&rig);

    // Roles change at runtime: the same connection may write once promoted.
    rig.node.members().replace([reader.member(Role::Write)]);
    let (object, bytes) = shard(b"now it may");
    store.write(&object, bytes.clone()).await.unwrap();
    assert_eq!(rig.store.read(&object, 100).await.unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_shard_is_never_returned() {
    let client = Client::new().await;
    let rig = Rig::ready(Membership::new([client.member(Role::Write)])).await;
    let store = rig.peer_store(&client, SWARM);
    let bytes = Bytes::from(vec![5u8; 3 * swarm_wire::MAX_DATA + 17]);
    let object = Object::Shard(Hash32::of(&bytes));
    store.write(&object, bytes.clone()).await.unwrap();
    assert_eq!(store.read(&object, 1 << 30).await.unwrap(), bytes);

    // One byte rots on the node's disk.
    let path = rig.dir.path().join("store").join(object.to_string());
    let mut on_disk = std::fs::read(&path).unwrap();
    on_disk[2 * swarm_wire::MAX_DATA] ^= 1;
    std::fs::write(&path, &on_disk).unwrap();

    let err = store.read(&object, 1 << 30).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("hash to"), "{err}");
    assert_eq!(store.lies(), 1);
    // Still connected: the next request is served.
    assert_eq!(
        store.stat(&object).await.unwrap().unwrap().size,
        bytes.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_is_not_its_shard_stores_nothing() {
    let client = Client::new().await;
    let rig = Rig::ready(Membership::new([client.member(Role::Write)])).await;
    let store = rig.peer_store(&client, SWARM);
    let (object, _) = shard(b"the name");
    let err = store
        .write(&object, Bytes::from_static(b"other bytes"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Io {
                transient: false,
                ..
            }
        ) && err.to_string().contains("hash to"),
        "{err}"
    );
    assert_eq!(rig.store.stat(&object).await.unwrap(), None);
    only_marker(&rig);
    // A peer may not write the node's marker either.
    let err = store
        .write(&Object::Marker, Bytes::from_static(b"x"))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_write_stores_nothing_and_the_connection_stays() {
    let client = Client::new().await;
    let rig = Rig::ready(Membership::new([client.member(Role::Write)])).await;
    let store = rig.peer_store(&client, SWARM);
    let big = Bytes::from(vec![9u8; 64 << 20]);
    let object = Object::Shard(Hash32::of(&big));
    let cut = tokio::time::timeout(Duration::from_millis(20), store.write(&object, big)).await;
    assert!(cut.is_err(), "a 64 MiB write finished in 20 ms");
    let (small, bytes) = shard(b"after the cancel");
    store.write(&small, bytes.clone()).await.unwrap();
    assert_eq!(store.read(&small, 100).await.unwrap(), bytes);
    assert_eq!(rig.store.stat(&object).await.unwrap(), None);
    let listed = rig.store.list(Class::Shards).await.unwrap().objects;
    assert_eq!(listed.len(), 1, "{listed:?}");
}

/// A client that speaks raw frames.
struct Raw {
    conn: iroh::endpoint::Connection,
}

impl Raw {
    async fn connect(client: &Client, rig: &Rig) -> Raw {
        let conn = client
            .endpoint
            .connect(rig.peer_addr(), ALPN)
            .await
            .unwrap();
        Raw { conn }
    }

    /// Sends `bytes` on a new stream and reads what comes back until the stream ends.
    async fn send(&self, bytes: &[u8]) -> Result<Vec<Frame<Response>>, String> {
        let (mut send, mut recv) = self.conn.open_bi().await.map_err(|e| e.to_string())?;
        send.write_all(bytes).await.map_err(|e| e.to_string())?;
        send.finish().map_err(|e| e.to_string())?;
        let got = recv.read_to_end(1 << 20).await.map_err(|e| e.to_string())?;
        let mut decoder = FrameDecoder::<Response>::new();
        let mut input: &[u8] = &got;
        let mut frames = Vec::new();
        while !input.is_empty() {
            if let Some(f) = decoder.decode(&mut input).map_err(|e| e.to_string())? {
                frames.push(f);
            }
        }
        Ok(frames)
    }

    async fn hello(&self) {
        let hello = Request::Hello(Hello::new(SWARM.0, 0, [0; 32], WireRole::Client));
        let frames = self.send(&encode_message(&hello).unwrap()).await.unwrap();
        assert!(
            matches!(frames[..], [Frame::Message(Response::Hello(_))]),
            "{frames:?}"
        );
    }

    async fn closed_with(&self) -> u64 {
        match tokio::time::timeout(Duration::from_secs(5), self.conn.closed()).await {
            Ok(ConnectionError::ApplicationClosed(c)) => c.error_code.into_inner(),
            other => panic!("not closed by the node: {other:?}"),
        }
    }
}

impl Rig {
    fn peer_addr(&self) -> iroh::EndpointAddr {
        iroh::EndpointAddr::new(self.node.id().public_key()).with_ip_addr(self.addr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_closes_that_connection_only() {
    let client = Client::new().await;
    let rig = Rig::ready(Membership::new([client.member(Role::Write)])).await;

    // Garbage in place of a Hello.
    let raw = Raw::connect(&client, &rig).await;
    let _ = raw.send(&[0xff, 0, 0, 0, 0, 1, 2, 3]).await;
    assert_eq!(raw.closed_with().await, close::PROTOCOL);

    // A Hello of another version is answered, then closed with VERSION.
    let raw = Raw::connect(&client, &rig).await;
    let hello = [0, 3, 0, 0, 0, 0, 2, 0xff];
    let frames = raw.send(&hello).await.unwrap();
    assert!(
        matches!(&frames[..], [Frame::Message(Response::Failed(Failure::Refused { reason }))]
            if reason.as_str().contains("version 2")),
        "{frames:?}"
    );
    assert_eq!(raw.closed_with().await, close::VERSION);

    // An unknown request is answered BadRequest; the connection stays.
    let raw = Raw::connect(&client, &rig).await;
    raw.hello().await;
    let frames = raw.send(&[0, 2, 0, 0, 0, 13, 0]).await.unwrap();
    assert!(
        matches!(&frames[..], [Frame::Message(Response::Failed(Failure::BadRequest { what }))] if what.as_str() == "unknown request 13"),
        "{frames:?}"
    );
    let stat = Request::Stat {
        object: ObjectName::Shard([0; 32]),
    };
    let frames = raw.send(&encode_message(&stat).unwrap()).await.unwrap();
    assert!(
        matches!(frames[..], [Frame::Message(Response::Meta(None))]),
        "{frames:?}"
    );

    // A data frame longer than the protocol allows, announced by its header alone.
    let write = Request::Write {
        object: ObjectName::Shard([0; 32]),
        len: 4 << 20,
    };
    let mut bytes = encode_message(&write).unwrap();
    bytes.extend_from_slice(&[1, 0x01, 0x00, 0x10, 0x00]); // data, 1 MiB + 1
    let _ = raw.send(&bytes).await;
    assert_eq!(raw.closed_with().await, close::PROTOCOL);

    // The node is still up for everyone else.
    let store = rig.peer_store(&client, SWARM);
    let (object, bytes) = shard(b"still serving");
    store.write(&object, bytes.clone()).await.unwrap();
    assert_eq!(store.read(&object, 100).await.unwrap(), bytes);
    assert_eq!(
        rig.store.list(Class::Shards).await.unwrap().objects.len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_went_away_fails_requests_without_hanging() {
    let client = Client::new().await;
    let members = Membership::new([client.member(Role::Write)]);
    let rig = Rig::ready(members).await;
    let store = rig
        .peer_store(&client, SWARM)
        .with_connect_timeout(Duration::from_secs(1));
    store.check().await.unwrap();
    rig.node.shutdown().await;
    let err = store.check().await.unwrap_err();
    assert!(
        err.is_transient() || matches!(err.unavailable(), Some(Unavailable::Absent(_))),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_past_the_node_limit_is_refused_before_its_data() {
    let client = Client::new().await;
    let mut config = NodeConfig::new(SWARM, 1, [1; 32]);
    config.max_write = 1 << 20;
    let rig = Rig::start_with(Membership::new([client.member(Role::Write)]), config).await;
    rig.store.create().await.unwrap();
    let store = rig.peer_store(&client, SWARM);
    let big = Bytes::from(vec![1u8; 8 << 20]);
    let object = Object::Shard(Hash32::of(&big));
    let err = store.write(&object, big).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { max, .. } if max == 1 << 20),
        "{err}"
    );
    only_marker(&rig);
    // The connection stays usable.
    let (small, bytes) = shard(b"small enough");
    store.write(&small, bytes.clone()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_read_leaves_the_connection_usable() {
    let client = Client::new().await;
    let rig = Rig::ready(Membership::new([client.member(Role::Write)])).await;
    let store = rig.peer_store(&client, SWARM);
    let big = Bytes::from(vec![3u8; 32 << 20]);
    let object = Object::Shard(Hash32::of(&big));
    rig.store.write(&object, big.clone()).await.unwrap();
    for _ in 0..3 {
        let lost_race =
            tokio::time::timeout(Duration::from_millis(5), store.read(&object, 1 << 30)).await;
        assert!(lost_race.is_err(), "32 MiB read in 5 ms");
    }
    assert_eq!(store.read(&object, 1 << 30).await.unwrap(), big);
    assert_eq!(store.lies(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_store_reconnects_to_a_node_that_came_back() {
    let client = Client::new().await;
    let rig = Rig::ready(Membership::new([client.member(Role::Write)])).await;
    let store = rig.peer_store(&client, SWARM);
    let (object, bytes) = shard(b"kept across a restart");
    store.write(&object, bytes.clone()).await.unwrap();
    let _rig = rig.restart().await;
    // The pooled connection died with the node: the next request dials again.
    assert_eq!(store.read(&object, 100).await.unwrap(), bytes);
}
