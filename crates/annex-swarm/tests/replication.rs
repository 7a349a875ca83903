//! Issue 13, first slice: `full_copies` kept by the nodes on their own. A client puts once and
//! leaves; the key's holders (the first `full_copies` nodes of its manifest ranking) pull what
//! they lack from the other nodes until each alone restores the key; a holder whose disk was
//! replaced makes its copy again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod node_rig;

use std::time::{Duration, Instant};

use common::pseudo_random;
use node_rig::*;
use swarm_core::definition::SwarmDefinition;

#[test]
fn holders_make_full_copies_without_a_client() {
    let rig = Rig::new(4);
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let text = spread_definition(&rig, 4, &ports, 1).replace(
        "m = 1\n",
        "m = 1\nfull_copies = 2\nshard_size = \"64KiB\"\n",
    );
    let def = SwarmDefinition::parse(&text).unwrap();
    for i in 0..4 {
        std::fs::write(rig.path(&format!("node{i}.toml")), &text).unwrap();
    }
    let mut nodes: Vec<Option<NodeProcess>> = (0..4)
        .map(|i| Some(start_from(&rig, i, ports[i])))
        .collect();
    let client_def = rig.path("swarm.toml");
    std::fs::write(&client_def, &text).unwrap();

    let data = pseudo_random(3 << 20, 13);
    let key = rig.put(&client_def, "f.bin", &data);
    let put_at = Instant::now();

    let holders: Vec<usize> = swarm_node::replicate::holders(&def, key.as_bytes())
        .iter()
        .map(|h| rig.ids.iter().position(|id| *id == h.to_string()).unwrap())
        .collect();
    assert_eq!(holders.len(), 2);
    // Each holder says so once it holds the key whole.
    for &h in &holders {
        loop {
            let log = std::fs::read_to_string(rig.path(&format!("node{h}.log"))).unwrap();
            if log.contains("now holds a full copy") {
                break;
            }
            assert!(
                put_at.elapsed() < Duration::from_secs(40),
                "node {h} holds no full copy 40 s after the put:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!("both holders whole {:?} after the put", put_at.elapsed());

    // Each holder alone restores the key: every other node down.
    let (a, b) = (holders[0], holders[1]);
    for (i, n) in nodes.iter_mut().enumerate() {
        if i != a {
            *n = None;
        }
    }
    rig.get_same(&client_def, &key, "from-a.bin", &data);

    nodes[b] = Some(start_from(&rig, b, ports[b]));
    nodes[a] = None;
    rig.get_same(&client_def, &key, "from-b.bin", &data);

    // Holder a's disk is replaced by an empty one while it is down; back up, it makes its copy
    // again from the others, with no client running.
    std::fs::remove_dir_all(rig.path(&format!("node{a}-store"))).unwrap();
    let whole_before = full_copy_lines(&rig, a);
    for (i, n) in nodes.iter_mut().enumerate() {
        if n.is_none() {
            *n = Some(start_from(&rig, i, ports[i]));
        }
    }
    let back = Instant::now();
    while full_copy_lines(&rig, a) == whole_before {
        assert!(
            back.elapsed() < Duration::from_secs(40),
            "node {a} did not make its copy again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "the wiped holder was whole again {:?} after its return",
        back.elapsed()
    );
    for (i, n) in nodes.iter_mut().enumerate() {
        if i != a {
            *n = None;
        }
    }
    rig.get_same(&client_def, &key, "from-a-again.bin", &data);
}

/// How many times node `i` logged that it holds a full copy.
fn full_copy_lines(rig: &Rig, i: usize) -> usize {
    std::fs::read_to_string(rig.path(&format!("node{i}.log")))
        .unwrap()
        .matches("now holds a full copy")
        .count()
}

/// A node's disk replaced by an empty one: the key's steward (the first node of its ranking
/// that is up) rebuilds the lost shards from the others, with no client running, until fsck
/// finds every shard (on their stores, or on a spare node where a steward rebuilt them while
/// the node was down).
#[test]
fn nodes_rebuild_a_lost_disk_without_a_client() {
    let rig = Rig::new(4);
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let text =
        spread_definition(&rig, 4, &ports, 1).replace("m = 1\n", "m = 1\nshard_size = \"64KiB\"\n");
    for i in 0..4 {
        std::fs::write(rig.path(&format!("node{i}.toml")), &text).unwrap();
    }
    let mut nodes: Vec<Option<NodeProcess>> = (0..4)
        .map(|i| Some(start_from(&rig, i, ports[i])))
        .collect();
    let def = rig.path("swarm.toml");
    std::fs::write(&def, &text).unwrap();
    let data = pseudo_random(3 << 20, 17);
    let key = rig.put(&def, "f.bin", &data);
    let healthy = |rig: &Rig| -> (u64, u64) {
        let out = rig.cli(&def, &rig.client_key, &["fsck", "--json", &key]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let k = &v.as_array().map_or(&v, |a| &a[0]);
        (
            k["shards_healthy"].as_u64().unwrap(),
            k["shards_expected"].as_u64().unwrap(),
        )
    };
    let (h, e) = healthy(&rig);
    assert_eq!(h, e, "not healthy after the put");

    nodes[1] = None;
    std::fs::remove_dir_all(rig.path("node1-store")).unwrap();
    nodes[1] = Some(start_from(&rig, 1, ports[1]));
    let back = Instant::now();
    loop {
        let (h, e) = healthy(&rig);
        if h == e {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(40),
            "{h} of {e} shards 40 s after the disk was replaced"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "every shard back {:?} after the node returned",
        back.elapsed()
    );
    // The lost shards were rebuilt (on node 1, or on a spare node while it was down), not
    // found: some node logged the repair.
    let repaired: usize = (0..4)
        .map(|i| {
            std::fs::read_to_string(rig.path(&format!("node{i}.log")))
                .unwrap()
                .matches(" repaired")
                .count()
        })
        .sum();
    assert!(repaired >= 1, "no node logged a repair");
    rig.get_same(&def, &key, "out.bin", &data);
}
