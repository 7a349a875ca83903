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
