//! Issue 12, "no tracker": node processes whose definition lists no address for them find each
//! other, and the CLI finds them, through the mainline DHT: a local testnet of 10 DHT nodes on
//! 127.0.0.1, never the public routers. And no process opens a socket outside 127.0.0.0/8.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod node_rig;

use std::time::{Duration, Instant};

use common::pseudo_random;
use mainline::Testnet;
use node_rig::*;

/// The rig's definition (k = 2, m = 1, one peer store a node, no address for any node) with
/// the DHT enabled and the testnet as its bootstrap.
fn dht_definition(rig: &Rig, bootstrap: &[String], version: u64) -> String {
    let list: Vec<String> = bootstrap.iter().map(|b| format!("\"{b}\"")).collect();
    let text = rig
        .definition(&[], 0, 2, 1)
        .replace("version = 1\n", &format!("version = {version}\n"));
    format!(
        "{text}\n[dht]\nenabled = true\nbootstrap = [{}]\n",
        list.join(", ")
    )
}

/// `node status --json` until every node is reachable, at most `limit`; the last answer.
fn until_all_reachable(rig: &Rig, def: &std::path::Path, limit: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let out = rig.cli(def, &rig.client_key, &["node", "status", "--json"]);
        let status: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let all = status
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|s| s["reachable"] == true));
        if all {
            return status;
        }
        assert!(
            started.elapsed() < limit,
            "not every node reachable after {limit:?}: {status}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn nodes_without_addresses_find_each_other_through_a_local_dht() {
    let testnet = Testnet::builder(10).build().unwrap();
    let rig = Rig::new(3);
    let v1 = dht_definition(&rig, &testnet.bootstrap, 1);
    assert!(v1.contains("[dht]") && !v1.contains("addrs"), "{v1}");
    for i in 0..3 {
        std::fs::write(rig.path(&format!("node{i}.toml")), &v1).unwrap();
    }
    let def = rig.path("swarm.toml");
    std::fs::write(&def, &v1).unwrap();
    let started = Instant::now();
    let nodes: Vec<NodeProcess> = (0..3)
        .map(|i| {
            start_node(
                &rig.path(&format!("node{i}.toml")),
                &rig.path(&format!("node{i}.key")),
            )
        })
        .collect();

    // The CLI finds every node by its key alone.
    let status = until_all_reachable(&rig, &def, Duration::from_secs(15));
    eprintln!(
        "the CLI reached all three nodes {:?} after they started",
        started.elapsed()
    );
    for (s, n) in status.as_array().unwrap().iter().zip(&nodes) {
        assert_eq!(s["addrs"][0], n.addr.as_str(), "{s}");
        assert_eq!(s["found_in"], "dht", "{s}");
    }

    // Put and get through them.
    let data = pseudo_random(1 << 20, 12);
    let key = rig.put(&def, "f.bin", &data);
    rig.assert_nodes_hold_shards(3);
    rig.get_same(&def, &key, "out.bin", &data);

    // v2, given to n0 only, reaches n1 and n2 through the exchanges the nodes start with the
    // peers they find in the DHT.
    let v2 = rig.path("v2.toml");
    std::fs::write(&v2, dht_definition(&rig, &testnet.bootstrap, 2)).unwrap();
    ssh_sign(&rig.client_key, &v2);
    let pushed = rig.ok(&v2, &["definition", "push", "--to", "n0"]);
    assert!(pushed.contains("n0: adopted version 2"), "{pushed}");
    let took = until_held(&rig, &[0, 1, 2], 2, Duration::from_secs(15));
    eprintln!("v2 held by all three nodes {took:?} after the push to one");

    // Nothing outside loopback: the nodes (their QUIC and DHT sockets) and this process (the
    // testnet).
    for (i, n) in nodes.iter().enumerate() {
        let outside = sockets_outside_loopback(n.child.id());
        assert!(outside.is_empty(), "node {i}: {outside:?}");
    }
    let outside = sockets_outside_loopback(std::process::id());
    assert!(outside.is_empty(), "the test process: {outside:?}");
}
