//! Nodes found through the mainline DHT: a local testnet of 10 DHT nodes on 127.0.0.1 (never
//! the public routers), a node publishing its record, a client finding it by key and swarm and
//! reaching its store with no address given.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Client, SWARM, logs, store_id};
use mainline::Testnet;
use swarm_core::definition::StoreEntry;
use swarm_core::ids::SwarmId;
use swarm_node::dht::{DhtOptions, Finder};
use swarm_node::endpoint::bound_addr;
use swarm_node::{
    EndpointConfig, Membership, Node, NodeConfig, NodeSecret, PeerAddr, PeerStore, Role, bind,
};
use swarm_store::credentials::MapSource;
use swarm_store::{Object, StoreAdmin, StoreRead, open_store_with};

fn options(testnet: &Testnet) -> DhtOptions {
    DhtOptions {
        bootstrap: testnet.bootstrap.clone(),
        bind: Ipv4Addr::LOCALHOST,
    }
}

fn testnet() -> Testnet {
    let t = Testnet::builder(10).build().unwrap();
    assert!(
        t.bootstrap
            .iter()
            .all(|b| b.parse::<SocketAddr>().unwrap().ip().is_loopback()),
        "{:?}",
        t.bootstrap
    );
    t
}

/// Asks until the record appears (a publication takes a moment), at most `within`.
async fn find_within(
    finder: &Finder,
    node: swarm_node::NodeId,
    within: Duration,
) -> Option<swarm_wire::NodeRecord> {
    let start = Instant::now();
    loop {
        if let Some(r) = finder.find(node).await {
            return Some(r);
        }
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_record_is_found_by_its_key_within_its_swarm_only() {
    logs();
    let testnet = testnet();
    let secret = NodeSecret::generate();
    let node = Finder::start(&options(&testnet), SWARM, Some(&secret)).unwrap();
    assert!(node.local_addr().await.ip().is_loopback());
    let at: SocketAddr = "127.0.0.5:4433".parse().unwrap();
    node.announce(
        Some(vec![at, "0.0.0.0:9".parse().unwrap()]),
        Some((3, [7; 32])),
    );

    let client = Finder::start(&options(&testnet), SWARM, None).unwrap();
    let record = find_within(&client, secret.id(), Duration::from_secs(15))
        .await
        .expect("the node's record within 15 s");
    // The wildcard address is not published.
    assert_eq!(record.addrs, vec![at]);
    assert_eq!(record.definition_version, 3);
    assert_eq!(record.definition_hash, [7; 32]);

    // A newer definition is published again at once.
    node.announce(None, Some((4, [8; 32])));
    let start = Instant::now();
    loop {
        let r = client.find(secret.id()).await.unwrap();
        if r.definition_version == 4 {
            assert_eq!(r.addrs, vec![at]);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "never saw v4");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Another swarm's salt finds nothing; nor does a key that published nothing.
    let other = Finder::start(&options(&testnet), SwarmId([8; 16]), None).unwrap();
    assert_eq!(other.find(secret.id()).await, None);
    assert_eq!(client.find(NodeSecret::generate().id()).await, None);
}

#[tokio::test]
async fn a_store_is_reached_with_no_address_through_the_dht() {
    logs();
    let testnet = testnet();
    let secret = NodeSecret::generate();
    let client = Client::new().await;
    let members = Membership::new(vec![client.member(Role::Write)]);

    // The node: its store, its endpoint with the DHT, its record.
    let dir = tempfile::tempdir().unwrap();
    let entry = StoreEntry::new(store_id(), dir.path().display().to_string());
    let store = open_store_with(&entry, SWARM, &MapSource::new()).unwrap();
    store.create().await.unwrap();
    let finder = Finder::start(&options(&testnet), SWARM, Some(&secret)).unwrap();
    let mut config = EndpointConfig::new(secret.clone(), "127.0.0.1:0".parse().unwrap());
    config.lookup = Some(finder.clone());
    let endpoint = bind(&config, Some(&members)).await.unwrap();
    let addr = bound_addr(&endpoint).unwrap();
    finder.announce(Some(vec![addr]), Some((1, [1; 32])));
    let _node = Node::serve(
        endpoint,
        Arc::clone(&store),
        members,
        NodeConfig::new(SWARM, 1, [1; 32]),
    );

    // The client: an endpoint that looks nodes up in the DHT, and no address for the node.
    let mut client_config =
        EndpointConfig::new(client.secret.clone(), "127.0.0.1:0".parse().unwrap());
    client_config.lookup = Some(Finder::start(&options(&testnet), SWARM, None).unwrap());
    let client_endpoint = bind(&client_config, None).await.unwrap();
    let peer = PeerStore::client(
        client_endpoint,
        PeerAddr {
            node: secret.id(),
            addrs: Vec::new(),
        },
        store_id(),
        SWARM,
    );
    let data = Bytes::from_static(b"found through the DHT");
    let name = swarm_core::ids::Hash32::of(&data);
    let shard = Object::Shard(name);
    let start = Instant::now();
    loop {
        match peer.write(&shard, data.clone()).await {
            Ok(()) => break,
            Err(e) if start.elapsed() < Duration::from_secs(15) => {
                tracing::debug!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("the node was not reached through the DHT within 15 s: {e}"),
        }
    }
    assert_eq!(peer.read(&shard, 1 << 20).await.unwrap(), data);
    assert_eq!(store.read(&shard, 1 << 20).await.unwrap(), data);
}
