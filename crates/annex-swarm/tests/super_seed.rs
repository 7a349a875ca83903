//! Issue 13: super-seeding puts. With `full_copies`, a client sends each chunk's data shards
//! once and leaves; the nodes make the parity and their full copies among themselves, starting
//! as soon as the manifest reaches them (their timed rounds are far off here), and no node
//! receives much more than the file's size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod node_rig;

use std::time::{Duration, Instant};

use common::pseudo_random;
use node_rig::*;

/// Four nodes, k = 2, m = 2, every node a holder (`full_copies = 4`), 64 KiB shards, with
/// their status pages; rounds every 10 minutes, so what happens is started by the manifests'
/// arrival. The nodes and the client's definition.
fn four_holders(rig: &Rig) -> (Vec<(NodeProcess, String)>, std::path::PathBuf) {
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let text = spread_definition(rig, 4, &ports, 1).replace(
        "m = 1\n",
        "m = 2\nfull_copies = 4\nshard_size = \"64KiB\"\n",
    );
    let nodes = start_all_with_status(rig, &text, &ports, "600s");
    let client_def = rig.path("swarm.toml");
    std::fs::write(&client_def, &text).unwrap();
    (nodes, client_def)
}

#[test]
fn a_client_sends_the_file_once_and_the_nodes_make_four_copies() {
    let rig = Rig::new(4);
    let (nodes, client_def) = four_holders(&rig);

    let size = 8u64 << 20;
    let data = pseudo_random(size as usize, 21);
    let file = rig.path("f.bin");
    std::fs::write(&file, &data).unwrap();
    let put_at = Instant::now();
    let out = rig.ok(&client_def, &["put", "--json", file.to_str().unwrap()]);
    let put: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = put["key"].as_str().unwrap().to_owned();
    let sent = put["bytes_written"].as_u64().unwrap();
    // Data shards only (k = 2 of 4): the client sent the file's bytes once.
    assert!(
        sent as f64 <= 1.1 * size as f64,
        "the client sent {sent} bytes for {size}: {put}"
    );
    assert!(put["shards_left_to_nodes"].as_u64().unwrap() > 0, "{put}");
    eprintln!("put: {put}");

    // The client is gone. Every node comes to hold the key whole, and every shard of the
    // coded spread is made, with no client and no timed round.
    let whole = |s: &serde_json::Value| s["replication"]["full_copies_held"].as_u64() == Some(1);
    loop {
        let statuses: Vec<serde_json::Value> = nodes.iter().map(|(_, a)| status_of(a)).collect();
        if statuses.iter().all(whole) {
            break;
        }
        assert!(
            put_at.elapsed() < Duration::from_secs(60),
            "not every node holds the key whole a minute after the put: {statuses:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "four full copies {:?} after the put began",
        put_at.elapsed()
    );
    let fsck = |rig: &Rig| -> (u64, u64) {
        let out = rig.cli(&client_def, &rig.client_key, &["fsck", "--json", &key]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let k = v.as_array().map_or(&v, |a| &a[0]);
        (
            k["shards_healthy"].as_u64().unwrap(),
            k["shards_expected"].as_u64().unwrap(),
        )
    };
    let started = Instant::now();
    loop {
        let (healthy, expected) = fsck(&rig);
        if healthy == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{healthy} of {expected} shards healthy"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Each node's status lists the key, held whole.
    for (i, (_, addr)) in nodes.iter().enumerate() {
        let s = status_of(addr);
        let keys = s["replication"]["keys"].as_array().unwrap();
        let k = keys
            .iter()
            .find(|k| k["key"] == key.as_str())
            .unwrap_or_else(|| panic!("node {i} does not list {key}: {s}"));
        assert_eq!(k["holder"], true, "{k}");
        assert_eq!(k["whole"], true, "{k}");
    }

    // And its page, as a browser renders it, shows the key whole.
    let dom = rendered(
        &format!("http://{}/", nodes[0].1),
        &rig.path("chromium-profile"),
    );
    let row = dom
        .split("<tr")
        .find(|r| r.contains(&format!("data-key=\"{key}\"")))
        .unwrap_or_else(|| panic!("no row for the key: {dom}"));
    assert!(row.contains("<td class=\"up\">whole</td>"), "{row}");

    // Each node received about the file once: what the client sent it, and what it lacked
    // of a whole copy from the others (shards it was sent and also fetched would show here).
    for (i, (_, addr)) in nodes.iter().enumerate() {
        let t = &status_of(addr)["traffic"];
        let received = t["received"].as_u64().unwrap();
        eprintln!("node {i}: {t}");
        assert!(
            received as f64 <= 1.15 * size as f64,
            "node {i} received {received} bytes for a file of {size}: {t}"
        );
    }

    // Any one node alone restores the file.
    let mut nodes: Vec<Option<NodeProcess>> = nodes.into_iter().map(|(n, _)| Some(n)).collect();
    for (i, n) in nodes.iter_mut().enumerate() {
        if i != 3 {
            *n = None;
        }
    }
    rig.get_same(&client_def, &key, "from-n3.bin", &data);
}

/// A node's download rate holds for all it receives: the writes it serves and the shards its
/// own rounds fetch for its copy. Sampled every 100 ms: no 2 s window passes 1.05x the rate
/// (plus one shard, which may go as soon as its turn begins).
#[test]
fn a_node_making_its_copy_keeps_to_its_download_rate() {
    let rig = Rig::new(3);
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let rate = 2u64 << 20;
    let store2 = format!("{}\"\n", rig.path("node2-store").display());
    let text = spread_definition(&rig, 3, &ports, 1)
        .replace(
            "m = 1\n",
            "m = 1\nfull_copies = 3\nshard_size = \"64KiB\"\n",
        )
        .replace(&store2, &format!("{store2}download_rate = \"2MiB\"\n"));
    assert!(text.contains("download_rate"), "{text}");
    let nodes = start_all_with_status(&rig, &text, &ports, "600s");
    let client_def = rig.path("swarm.toml");
    std::fs::write(&client_def, &text).unwrap();
    let size = 6u64 << 20;
    let data = pseudo_random(size as usize, 23);
    rig.put(&client_def, "f.bin", &data);

    let addr = &nodes[2].1;
    let started = Instant::now();
    let mut samples: Vec<(Instant, u64)> = Vec::new();
    loop {
        let s = status_of(addr);
        samples.push((Instant::now(), s["traffic"]["received"].as_u64().unwrap()));
        if s["replication"]["full_copies_held"].as_u64() == Some(1) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "node 2 not whole after a minute: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let received = samples.last().unwrap().1;
    assert!(received >= size / 2, "node 2 received only {received}");
    let window = Duration::from_secs(2);
    let allowed = 1.05 * rate as f64 * window.as_secs_f64() + (64 << 10) as f64;
    for (i, &(t0, b0)) in samples.iter().enumerate() {
        if let Some(&(t1, b1)) = samples[i..].iter().find(|(t, _)| *t - t0 >= window) {
            let per = (b1 - b0) as f64 * window.as_secs_f64() / (t1 - t0).as_secs_f64();
            assert!(
                per <= allowed,
                "node 2 received {} bytes in {:?} (rate {rate}/s)",
                b1 - b0,
                t1 - t0
            );
        }
    }
    eprintln!(
        "node 2 received {received} bytes in {:?} at {rate} bytes/s",
        started.elapsed()
    );
}

/// The sum of `field` of every node's traffic.
fn total(addrs: &[String], field: &str) -> u64 {
    addrs
        .iter()
        .map(|a| status_of(a)["traffic"][field].as_u64().unwrap())
        .sum()
}

/// Waits until every node holds `keys` keys whole.
fn until_whole(addrs: &[String], keys: u64, since: Instant) {
    loop {
        let held: Vec<u64> = addrs
            .iter()
            .map(|a| {
                status_of(a)["replication"]["full_copies_held"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        if held.iter().all(|&h| h >= keys) {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "not every node holds {keys} keys whole: {held:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Deltas: a new version of a file (1 MiB of it rewritten) moves as its new chunks only. The
/// client sends the new chunks' data shards, and the nodes pass one another only what each
/// lacks of the new version: no more than the edit and two chunks per copy.
#[test]
fn an_edited_file_moves_between_nodes_as_its_new_chunks() {
    let rig = Rig::new(4);
    let (nodes, client_def) = four_holders(&rig);
    let addrs: Vec<String> = nodes.iter().map(|(_, a)| a.clone()).collect();

    let size = 16usize << 20;
    let mut data = pseudo_random(size, 31);
    let file = rig.path("v.bin");
    std::fs::write(&file, &data).unwrap();
    let put_at = Instant::now();
    let v1: serde_json::Value =
        serde_json::from_str(&rig.ok(&client_def, &["put", "--json", file.to_str().unwrap()]))
            .unwrap();
    until_whole(&addrs, 1, put_at);
    let avg_chunk = size as u64 / v1["chunks"].as_u64().unwrap();

    // Version 2: 1 MiB in the middle rewritten.
    let edit = 1usize << 20;
    data[8 << 20..(8 << 20) + edit].copy_from_slice(&pseudo_random(edit, 99));
    std::fs::write(&file, &data).unwrap();
    let moved_before = total(&addrs, "fetched") + total(&addrs, "pushed");
    let put_at = Instant::now();
    let v2: serde_json::Value =
        serde_json::from_str(&rig.ok(&client_def, &["put", "--json", file.to_str().unwrap()]))
            .unwrap();
    until_whole(&addrs, 2, put_at);
    let moved = total(&addrs, "fetched") + total(&addrs, "pushed") - moved_before;
    let sent = v2["bytes_written"].as_u64().unwrap();
    let per_copy = edit as u64 + 2 * avg_chunk;
    eprintln!(
        "version 2: client sent {sent}, nodes moved {moved} among themselves (edit {edit}, chunks of {avg_chunk} on average, {} reused)",
        v2["shards_reused"]
    );
    assert!(sent <= per_copy, "the client sent {sent}: {v2}");
    assert!(
        moved <= 4 * per_copy,
        "the nodes moved {moved} bytes for a {edit}-byte edit (bound {})",
        4 * per_copy
    );
    rig.get_same(&client_def, v2["key"].as_str().unwrap(), "v2.bin", &data);
}
