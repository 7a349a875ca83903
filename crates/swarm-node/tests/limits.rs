//! A node's own limits, enforced by the node whatever its peers ask: its upload rate paces the
//! bytes it serves (all peers together), its download rate the bytes of writes it takes, and
//! its quota refuses a write that would pass it (a daemon started from a definition).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Client, Rig, SWARM, logs};
use swarm_core::definition::SwarmDefinition;
use swarm_core::ids::Hash32;
use swarm_node::daemon::{DaemonConfig, EXCHANGE_EVERY, start};
use swarm_node::{Membership, NodeConfig, NodeSecret, PeerAddr, PeerStore, Role};
use swarm_store::decorate::Link;
use swarm_store::{Object, StoreAdmin, StoreError, StoreRead};

const MIB: u64 = 1 << 20;

fn shard(len: usize, seed: u8) -> (Object, Bytes) {
    let data: Bytes = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
    (Object::Shard(Hash32::of(&data)), data)
}

fn limited(up: Option<u64>, down: Option<u64>) -> NodeConfig {
    let mut config = NodeConfig::new(SWARM, 1, [1; 32]);
    config.upload = up.map(|r| Arc::new(Link::new(r)));
    config.download = down.map(|r| Arc::new(Link::new(r)));
    config
}

#[tokio::test]
async fn the_upload_rate_paces_what_the_node_serves_to_all_peers_together() {
    let a = Client::new().await;
    let b = Client::new().await;
    let members = Membership::new(vec![a.member(Role::Read), b.member(Role::Read)]);
    let rig = Rig::start_with(members, limited(Some(8 * MIB), None)).await;
    rig.store.create().await.unwrap();
    let (o1, d1) = shard(4 << 20, 3);
    let (o2, d2) = shard(4 << 20, 5);
    rig.store.write(&o1, d1.clone()).await.unwrap();
    rig.store.write(&o2, d2.clone()).await.unwrap();

    // 8 MiB to two peers at once through an 8 MiB/s link: about a second, and at least 7/8 s
    // (eight 1 MiB frames; each goes when its turn begins, the last after seven turns).
    let (pa, pb) = (rig.peer_store(&a, SWARM), rig.peer_store(&b, SWARM));
    // Connect first, so only the transfer is timed.
    pa.stat(&o1).await.unwrap();
    pb.stat(&o2).await.unwrap();
    let started = Instant::now();
    let (ra, rb) = tokio::join!(pa.read(&o1, 8 << 20), pb.read(&o2, 8 << 20));
    let took = started.elapsed();
    assert_eq!(ra.unwrap(), d1);
    assert_eq!(rb.unwrap(), d2);
    assert!(
        took >= Duration::from_millis(870) && took < Duration::from_secs(3),
        "8 MiB at 8 MiB/s took {took:?}"
    );
}

#[tokio::test]
async fn the_download_rate_paces_the_writes_the_node_takes() {
    let a = Client::new().await;
    let members = Membership::new(vec![a.member(Role::Write)]);
    let rig = Rig::start_with(members, limited(None, Some(4 * MIB))).await;
    rig.store.create().await.unwrap();
    let peer = rig.peer_store(&a, SWARM);
    peer.stat(&Object::Marker).await.unwrap();
    let (o, d) = shard(4 << 20, 7);
    // Four 1 MiB frames: the last taken after three turns of 1/4 s.
    let started = Instant::now();
    peer.write(&o, d.clone()).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(740) && took < Duration::from_secs(3),
        "4 MiB at 4 MiB/s took {took:?}"
    );
    assert_eq!(rig.store.read(&o, 8 << 20).await.unwrap(), d);
}

#[tokio::test]
async fn a_daemon_refuses_writes_past_its_quota() {
    logs();
    let node = NodeSecret::generate();
    let client = Client::new().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"format = 2
swarm = "{swarm}"
version = 1

[coding]
k = 2
m = 1

[[node]]
name = "n0"
key = "{node}"
store = "{store}"
quota = "1MiB"

[[client]]
name = "me"
key = "{client}"
role = "write"

[[store]]
id = "n0"
url = "peer://{node}"

[[store]]
id = "l1"
url = "{l1}"

[[store]]
id = "l2"
url = "{l2}"
"#,
        swarm = hex(&SWARM.0),
        node = node.id(),
        client = client.secret.id(),
        store = dir.path().join("n0").display(),
        l1 = dir.path().join("l1").display(),
        l2 = dir.path().join("l2").display(),
    );
    let definition = SwarmDefinition::parse(&text).unwrap();
    let daemon = start(DaemonConfig {
        secret: node.clone(),
        definition,
        definition_bytes: text.into_bytes(),
        signature: None,
        definition_path: None,
        listen: Some("127.0.0.1:0".parse().unwrap()),
        exchange_every: EXCHANGE_EVERY,
        replicate_every: swarm_node::replicate::REPLICATE_EVERY,
        status: None,
        local: Default::default(),
    })
    .await
    .unwrap();
    let peer = PeerStore::client(
        client.endpoint.clone(),
        PeerAddr {
            node: node.id(),
            addrs: vec![daemon.addr],
        },
        "n0".parse().unwrap(),
        SWARM,
    );
    let (o1, d1) = shard(600 << 10, 3);
    let (o2, d2) = shard(600 << 10, 5);
    peer.write(&o1, d1).await.unwrap();
    match peer.write(&o2, d2).await {
        Err(e @ StoreError::Full { .. }) => {
            assert!(e.to_string().contains("quota 1MiB"), "{e}")
        }
        other => panic!("a write past the quota: {other:?}"),
    }
    assert_eq!(peer.stat(&o2).await.unwrap(), None);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
