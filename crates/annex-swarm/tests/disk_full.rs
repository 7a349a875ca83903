//! A store whose disk fills up: a real (tiny) tmpfs mounted as one store's directory.
//!
//! Needs root (mount); CI runs as root. Elsewhere the tests say they are skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Swarm, pseudo_random};

/// A tmpfs of `size` mounted on a store directory, keeping the store's marker; unmounted on drop.
struct FullDisk(PathBuf);

impl FullDisk {
    fn mount(store: &Path, size: &str) -> Option<FullDisk> {
        let marker = std::fs::read(store.join("annex-swarm-store.toml")).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(store)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
            return None;
        }
        std::fs::write(store.join("annex-swarm-store.toml"), marker).unwrap();
        Some(FullDisk(store.to_owned()))
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Which stores receive shards: put a file, count shard files per store.
fn busiest_store(swarm: &Swarm) -> usize {
    let counts = swarm.shard_counts();
    (0..counts.len()).max_by_key(|&i| counts[i]).unwrap()
}

#[test]
fn a_full_store_spills_to_a_spare_and_leaves_no_partial_files() {
    let swarm = Swarm::with_stores(7, &[]);
    let probe = swarm.put(&swarm.write_file("probe.bin", &pseudo_random(64 << 10, 1)));
    let full = busiest_store(&swarm);
    swarm.ok(&["rm", &probe]);
    swarm.ok(&["gc", "--grace", "0"]);
    let Some(_disk) = FullDisk::mount(&swarm.stores[full], "256k") else {
        return;
    };
    let data = pseudo_random(3 << 20, 2);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    assert!(
        swarm.tmp_files(full).is_empty(),
        "partial files left on the full store: {:?}",
        swarm.tmp_files(full)
    );
    swarm.assert_restores(&key, &data);
    let (_, health) = swarm.health(true, &key);
    assert_eq!(
        health["spare"], 2,
        "shards that did not fit went to the spare store: {health}"
    );
}

#[test]
fn a_full_store_without_a_spare_fails_the_put_cleanly() {
    let swarm = Swarm::new();
    let full = 0;
    let id = swarm.store_ids()[full].clone();
    let Some(_disk) = FullDisk::mount(&swarm.stores[full], "256k") else {
        return;
    };
    let data = pseudo_random(3 << 20, 3);
    let err = swarm.fail(&["put", swarm.write_file("f.bin", &data).to_str().unwrap()]);
    assert!(
        err.contains(&id) && err.contains("No space left"),
        "error names the store and the cause: {err}"
    );
    assert!(swarm.ls_keys().is_empty(), "a failed put must leave no key");
    assert!(
        swarm.tmp_files(full).is_empty(),
        "partial files left: {:?}",
        swarm.tmp_files(full)
    );
    assert!(
        !err.contains('\n') || err.lines().count() == 1,
        "one-line error: {err}"
    );
}

/// Issue 11, item 5: a get to a file system that fills up never returned (the writer failed
/// with ENOSPC, the fetch waited for it for ever) and its partial file kept the disk full. It
/// now fails at once, naming the cause, and removes the partial file.
#[test]
fn a_get_to_a_full_disk_fails_and_leaves_no_partial_file() {
    let swarm = Swarm::new();
    let data = pseudo_random(4 << 20, 5);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    let dest_dir = swarm.path("small");
    std::fs::create_dir(&dest_dir).unwrap();
    std::fs::write(dest_dir.join("annex-swarm-store.toml"), b"").unwrap();
    let Some(_disk) = FullDisk::mount(&dest_dir, "1m") else {
        return;
    };
    let started = std::time::Instant::now();
    let err = swarm.fail(&["get", &key, dest_dir.join("out.bin").to_str().unwrap()]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(err.contains("No space left"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&dest_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains(".part") || n == "out.bin")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
