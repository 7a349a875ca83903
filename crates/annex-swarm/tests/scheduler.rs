//! The download scheduler through the CLI: per-store rate limits from the definition, every
//! store serving, per-store figures in `get --json`, and a store whose reads never return.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

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
fn a_store_whose_reads_never_return_is_raced() {
    let swarm = Swarm::new();
    let data = pseudo_random(1 << 20, 42);
    let file = swarm.write_file("one-mib", &data);
    let key = swarm.put(&file);
    // Every shard of store 1 becomes a FIFO with no writer: opening it blocks for ever, as a
    // read from a hung mount does.
    for shard in swarm.shard_files(0) {
        std::fs::remove_file(&shard).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(&shard)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let dest = swarm.dest();
    let started = Instant::now();
    let get = swarm.json(&["get", "--json", &key, dest.to_str().unwrap()]);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(std::fs::read(&dest).unwrap() == data);
    let hung = &get["stores"][0];
    assert_eq!(hung["bytes"], 0, "{hung}");
    assert!(hung["cancelled"].as_u64().unwrap() > 0, "{hung}");
    let others: u64 = get["stores"].as_array().unwrap()[1..]
        .iter()
        .map(|s| s["races"].as_u64().unwrap())
        .sum();
    assert!(others > 0, "other stores raced the hung one: {get}");
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
