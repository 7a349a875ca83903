//! `node run` seeding the keys its definition's `[seed]` lists for it: a real node process and a
//! real libtorrent client (PyPI) on loopback, DHT, LSD and UPnP off. The key is listed before
//! it is put, so the node first fails to open it and seeds it once it is there.

#![cfg(feature = "torrent")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod node_rig;

use std::time::{Duration, Instant};

use common::{pseudo_random, sha256e_key};
use node_rig::*;
use serde_json::Value;
use swarm_testservers::torrent::libtorrent_fetch;

/// The node's `seeding` entries from its status page, once `ready` holds for them.
fn seeding_until(status: &str, within: Duration, ready: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + within;
    loop {
        let seeding = status_of(status)["seeding"].clone();
        if ready(&seeding) {
            return seeding;
        }
        assert!(Instant::now() < until, "status never got there: {seeding}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn node_run_seeds_the_keys_its_definition_lists_to_libtorrent() {
    let rig = Rig::new(1);
    let port = free_port();
    let data = pseudo_random(2_000_003, 0x5eed);
    let key = sha256e_key(&data, ".bin");
    let seed =
        format!("\n[seed]\nkeys = [\"{key}\"]\nnodes = [\"n0\"]\nupload_rate = \"100MiB/s\"\n");
    let text = rig
        .definition(&[format!("127.0.0.1:{port}")], 2, 2, 1)
        .replacen("\n[[node]]", &format!("{seed}\n[[node]]"), 1);
    std::fs::write(rig.path("node0.toml"), &text).unwrap();
    // The node's own file: the seeder listens on its own loopback address.
    std::fs::write(rig.path("node.toml"), "[seed]\nlisten = \"127.0.0.51:0\"\n").unwrap();
    for i in 0..2 {
        std::fs::create_dir_all(rig.path(&format!("local{i}"))).unwrap();
    }
    let def = rig.path("swarm.toml");
    std::fs::write(&def, &text).unwrap();
    for i in 0..2 {
        rig.ok(&def, &["store", "init", &format!("l{i}")]);
    }
    let (node, status) = start_with_status(&rig, 0, port, "60s");

    // Not in the swarm yet: listed with why, tried again.
    let waiting = seeding_until(&status, Duration::from_secs(30), |s| {
        s[0]["error"].as_str().is_some()
    });
    assert_eq!(waiting[0]["key"], key.as_str(), "{waiting}");
    assert!(waiting[0]["info_hash"].is_null(), "{waiting}");

    assert_eq!(rig.put(&def, "movie.bin", &data), key);
    let seeding = seeding_until(&status, Duration::from_secs(60), |s| {
        s[0]["info_hash"].as_str().is_some()
    });
    let magnet = seeding[0]["magnet"].as_str().unwrap().to_owned();
    assert!(seeding[0]["error"].is_null(), "{seeding}");
    let peer: std::net::SocketAddr = magnet
        .split("&x.pe=")
        .nth(1)
        .unwrap_or_else(|| panic!("no x.pe in {magnet}"))
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.51");

    let by_lt = tempfile::tempdir().unwrap();
    libtorrent_fetch(
        "127.0.0.52",
        &magnet,
        by_lt.path(),
        Some(peer),
        Duration::from_secs(60),
    );
    assert!(std::fs::read(by_lt.path().join(&key)).unwrap() == data);
    let after = seeding_until(&status, Duration::from_secs(10), |s| {
        s[0]["uploaded"].as_u64().unwrap_or(0) >= data.len() as u64
    });
    let read = after[0]["swarm_read"].as_u64().unwrap();
    let uploaded = after[0]["uploaded"].as_u64().unwrap();
    assert!(read as f64 <= 1.25 * uploaded as f64, "{after}");
    // The seeding session too is on loopback only (DHT, LSD, UPnP off). Except one idle
    // socket: librqbit 9.1's UDP tracker client binds [::]:0 when any session starts
    // (`UdpTrackerClient::new`) and sends only to udp:// trackers, of which there are none.
    let outside: Vec<String> = sockets_outside_loopback(node.child.id())
        .into_iter()
        .filter(|s| s != "udp6 :: -> ::")
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

/// `node.toml` turning seeding off wins over the definition: nothing is seeded, and the status
/// says so.
#[test]
fn node_toml_turns_seeding_off() {
    let rig = Rig::new(1);
    let port = free_port();
    let key = sha256e_key(b"whatever", ".bin");
    let text = rig
        .definition(&[format!("127.0.0.1:{port}")], 2, 2, 1)
        .replacen(
            "\n[[node]]",
            &format!("\n[seed]\nkeys = [\"{key}\"]\nnodes = [\"n0\"]\n\n[[node]]"),
            1,
        );
    std::fs::write(rig.path("node0.toml"), &text).unwrap();
    std::fs::write(rig.path("node.toml"), "[seed]\nenabled = false\n").unwrap();
    for i in 0..2 {
        std::fs::create_dir_all(rig.path(&format!("local{i}"))).unwrap();
    }
    let (_node, status) = start_with_status(&rig, 0, port, "60s");
    // Two seeding rounds' worth.
    std::thread::sleep(Duration::from_secs(5));
    let s = status_of(&status);
    assert_eq!(s["seeding"], serde_json::json!([]), "{s}");
}
