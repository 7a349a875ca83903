//! The download scheduler through the CLI: per-store rate limits from the definition, every
//! store serving, per-store figures in `get --json`. (A store whose reads never return is in
//! `stores.rs`: a WebDAV server whose shard reads hang.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;

/// Adds `line` to every `[[store]]` of the fixture's definition.
fn add_to_stores(swarm: &Swarm, line: &str) {
    let text = std::fs::read_to_string(&swarm.def).unwrap();
    let text = text.replace("[[store]]\n", &format!("[[store]]\n{line}\n"));
    std::fs::write(&swarm.def, text).unwrap();
}

#[test]
fn rate_limits_bind_and_every_store_serves() {
    let swarm = Swarm::new();
    let data = pseudo_random(2 << 20, 41);
    let file = swarm.write_file("two-mib", &data);
    let key = swarm.put(&file);
    add_to_stores(&swarm, "download_rate = \"1MiB/s\"");

    let dest = swarm.dest();
    let started = Instant::now();
    let get = swarm.json(&["get", "--json", &key, dest.to_str().unwrap()]);
    let took = started.elapsed();
    assert!(std::fs::read(&dest).unwrap() == data);

    let stores = get["stores"].as_array().unwrap();
    assert_eq!(stores.len(), STORES);
    let mut total = 0;
    for s in stores {
        let bytes = s["bytes"].as_u64().unwrap();
        let speed = s["speed"].as_f64().unwrap();
        assert!(bytes > 0, "every store serves: {s}");
        assert!(speed <= 1.15 * (1 << 20) as f64, "the limit binds: {s}");
        assert!(s["dropped"].is_null(), "{s}");
        total += bytes;
    }
    // At least the file's bytes came in, at no more than the six stores' summed limits.
    assert!(total >= data.len() as u64);
    let floor = total as f64 / (6.0 * (1 << 20) as f64);
    assert!(
        took.as_secs_f64() >= 0.9 * floor,
        "{took:?} is faster than the limits allow ({floor:.2}s)"
    );
    assert_eq!(get["wasted_bytes"].as_u64(), Some(0), "{get}");
}

#[test]
fn upload_rate_limits_a_put() {
    let swarm = Swarm::new();
    add_to_stores(&swarm, "upload_rate = \"1MiB/s\"\nconnections = 2");
    let data = pseudo_random(2 << 20, 43);
    let file = swarm.write_file("two-mib", &data);
    let started = Instant::now();
    let put = swarm.put_json(&file);
    let took = started.elapsed();
    let written = put["bytes_written"].as_u64().unwrap();
    assert!(written >= data.len() as u64 * 3 / 2, "{put}");
    // Six stores at 1 MiB/s each take at least written / 6 MiB/s.
    let floor = written as f64 / (6.0 * (1 << 20) as f64);
    assert!(
        took.as_secs_f64() >= 0.9 * floor,
        "{took:?} is faster than the limits allow ({floor:.2}s)"
    );
    swarm.assert_restores(put["key"].as_str().unwrap(), &data);
}
