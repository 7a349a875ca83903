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

/// A holder killed while it makes its copy resumes when restarted: it fetches only what it
/// still lacks (the shards written before the kill are kept), and the copy it finishes is whole.
#[test]
fn a_holder_killed_mid_copy_resumes_where_it_was() {
    let rig = Rig::new(3);
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let store2 = format!("{}\"\n", rig.path("node2-store").display());
    // Node 2 takes at most 4 MiB/s: its copy of 16 MiB takes about 4 s.
    let text = spread_definition(&rig, 3, &ports, 1)
        .replace(
            "m = 1\n",
            "m = 1\nfull_copies = 3\nshard_size = \"64KiB\"\n",
        )
        .replace(&store2, &format!("{store2}download_rate = \"4MiB\"\n"));
    for i in 0..3 {
        std::fs::write(rig.path(&format!("node{i}.toml")), &text).unwrap();
    }
    let mut nodes: Vec<(NodeProcess, String)> = (0..3)
        .map(|i| start_with_status(&rig, i, ports[i], "1s"))
        .collect();
    let client_def = rig.path("swarm.toml");
    std::fs::write(&client_def, &text).unwrap();
    let size = 16u64 << 20;
    let data = pseudo_random(size as usize, 41);
    let key = rig.put(&client_def, "f.bin", &data);

    // Killed once it has received about 70% of a copy (its share of the put included).
    let started = Instant::now();
    let before = loop {
        let s = status_of(&nodes[2].1);
        let got = s["traffic"]["received"].as_u64().unwrap();
        if got >= size * 7 / 10 {
            break got;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node 2 received only {got}: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut killed, _) = nodes.pop().unwrap();
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    // What it had received when it died (a little more than the last sample).
    let kept = count_files(&rig.path("node2-store/shards"));
    assert!(kept > 0, "nothing kept");

    let (n2, addr) = start_with_status(&rig, 2, ports[2], "1s");
    let restarted = Instant::now();
    let after = loop {
        let s = status_of(&addr);
        if s["replication"]["full_copies_held"].as_u64() == Some(1) {
            break s["traffic"]["received"].as_u64().unwrap();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(60),
            "node 2 not whole after its restart: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "node 2: {before} bytes before the kill ({kept} shards kept), {after} after its restart"
    );
    // Resuming, it fetches the rest only: about one copy in all. Starting over, it would
    // fetch the two thirds of a copy the put did not send it again: about 1.37 copies.
    assert!(
        before + after <= size + size / 10,
        "node 2 received {before} + {after} bytes for a {size}-byte copy"
    );
    // The copy is whole: node 2 alone restores the file.
    drop(nodes);
    rig.get_same(&client_def, &key, "from-n2.bin", &data);
    drop(n2);
}
