//! The store conformance suite (`swarm_store::conformance`, the same body every kind passes)
//! on a peer store: a client's `PeerStore`, through the standard decorators, talking over iroh
//! on loopback to a node that serves a local directory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Client, Rig};
use swarm_node::{Membership, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_store_passes_the_store_suite() {
    let client = Client::new().await;
    let rig = Rig::start(Membership::new([client.member(Role::Admin)])).await;
    swarm_store::conformance::run("peer", |swarm| rig.decorated(&client, swarm)).await;
}
