//! rm and gc: what is collected, what is kept, when gc refuses, and leftovers of interrupted puts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

const SIZE: usize = 1 << 20;

/// A swarm with an original file and an edited copy sharing most of its chunks.
struct Pair {
    swarm: Swarm,
    orig_key: String,
    edited: Vec<u8>,
    edited_key: String,
}

fn pair(seed: u64) -> Pair {
    let swarm = Swarm::new();
    let orig = pseudo_random(SIZE, seed);
    let mut edited = orig.clone();
    for b in &mut edited[SIZE / 2..SIZE / 2 + 8] {
        *b = !*b;
    }
    let orig_key = swarm.put(&swarm.write_file("orig.bin", &orig));
    let r = swarm.put_json(&swarm.write_file("edited.bin", &edited));
    assert!(r["shards_reused"].as_u64().unwrap() > 0, "{r}");
    Pair {
        edited_key: r["key"].as_str().unwrap().to_owned(),
        swarm,
        orig_key,
        edited,
    }
}

/// Chunks of `key` according to `ls`.
fn chunks_of(swarm: &Swarm, key: &str) -> usize {
    swarm
        .ls()
        .into_iter()
        .find(|e| e.0 == key)
        .unwrap_or_else(|| panic!("{key} not listed"))
        .2 as usize
}

/// The number in `gc`'s summary line just before `what` (e.g. "shards (").
fn gc_count(out: &str, before: &str) -> usize {
    let at = out
        .find(before)
        .unwrap_or_else(|| panic!("`{before}` not in `{out}`"));
    out[..at]
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no count before `{before}` in `{out}`"))
}

fn assert_full_health(swarm: &Swarm, key: &str) {
    let (ok, h) = swarm.health(true, key);
    assert!(ok, "{h}");
    assert_eq!(h["spare"], M as u64, "{h}");
    assert!(h["problems"].as_array().unwrap().is_empty(), "{h}");
}

/// A swarm with two unrelated objects (no shard in common).
fn unrelated(seed: u64) -> (Swarm, [(String, Vec<u8>); 2]) {
    let swarm = Swarm::new();
    let a = pseudo_random(SIZE, seed);
    let b = pseudo_random(SIZE / 2, seed + 1);
    let ka = swarm.put(&swarm.write_file("a.bin", &a));
    let kb = swarm.put(&swarm.write_file("b.bin", &b));
    (swarm, [(ka, a), (kb, b)])
}

#[test]
fn rm_then_gc_deletes_the_removed_keys_shards() {
    let (swarm, [(ka, _), (kb, b)]) = unrelated(1);
    let na = chunks_of(&swarm, &ka);
    let nb = chunks_of(&swarm, &kb);
    assert_eq!(swarm.shard_counts(), vec![na + nb; STORES]);
    swarm.ok(&["rm", &ka]);
    assert_eq!(swarm.ls_keys(), vec![kb.clone()]);
    swarm.fail(&["get", &ka, s(&swarm.dest())]);
    // rm alone deletes manifests, not shards.
    assert_eq!(swarm.shard_counts(), vec![na + nb; STORES]);

    let out = swarm.ok(&["gc", "--grace", "0"]);
    assert_eq!(gc_count(&out, "shards ("), na * STORES, "{out}");
    // One shard per chunk on each of the six stores, for the key that is left.
    assert_eq!(swarm.shard_counts(), vec![nb; STORES], "{out}");
    swarm.assert_restores(&kb, &b);
    assert_full_health(&swarm, &kb);

    // A second gc finds nothing more.
    let out = swarm.ok(&["gc", "--grace", "0"]);
    assert_eq!(gc_count(&out, "shards ("), 0, "{out}");

    // Removing the last key empties the stores.
    swarm.ok(&["rm", &kb]);
    swarm.ok(&["gc", "--grace", "0"]);
    assert_eq!(swarm.shard_counts(), vec![0; STORES]);
    assert!(swarm.ls().is_empty());
    for i in 0..STORES {
        assert!(swarm.manifest_files(i).is_empty());
    }
}

#[test]
fn gc_keeps_chunks_shared_with_a_removed_key() {
    let p = pair(2);
    let before: usize = p.swarm.shard_counts().iter().sum();
    p.swarm.ok(&["rm", &p.orig_key]);
    let out = p.swarm.ok(&["gc", "--grace", "0"]);
    let deleted = gc_count(&out, "shards (");
    assert!(deleted > 0, "{out}");
    let after: usize = p.swarm.shard_counts().iter().sum();
    assert_eq!(before - deleted, after, "{out}");
    let n = chunks_of(&p.swarm, &p.edited_key);
    assert!(
        p.swarm.shard_counts().iter().all(|&c| c >= n),
        "{:?}",
        p.swarm.shard_counts()
    );
    p.swarm.assert_restores(&p.edited_key, &p.edited);
    assert_full_health(&p.swarm, &p.edited_key);
}

#[test]
fn gc_leaves_only_the_shards_the_remaining_key_places() {
    // An in-place edit leaves three of the four data shards of the edited chunk identical to the
    // original chunk's; the new chunk ranks stores differently, so put writes those shards again
    // on other stores. Once the original is removed, the copies where the original had put them
    // are needed by no chunk, but gc keeps them because their hash is referenced.
    let p = pair(3);
    p.swarm.ok(&["rm", &p.orig_key]);
    let out = p.swarm.ok(&["gc", "--grace", "0"]);
    let n = chunks_of(&p.swarm, &p.edited_key);
    assert_eq!(p.swarm.shard_counts(), vec![n; STORES], "{out}");
}

#[test]
fn rm_of_several_keys_and_an_inline_key() {
    let (swarm, [(ka, a), (kb, _)]) = unrelated(4);
    let small = pseudo_random(100, 5);
    let small_key = swarm.put(&swarm.write_file("small", &small));
    swarm.ok(&["rm", &small_key, &kb]);
    assert_eq!(swarm.ls_keys(), vec![ka.clone()]);
    let copies: usize = (0..STORES).map(|i| swarm.manifest_files(i).len()).sum();
    assert_eq!(copies, M + 1, "manifest copies left behind");
    swarm.ok(&["gc", "--grace", "0"]);
    let n = chunks_of(&swarm, &ka);
    assert_eq!(swarm.shard_counts(), vec![n; STORES]);
    swarm.assert_restores(&ka, &a);
}

#[test]
fn gc_with_the_default_grace_keeps_everything() {
    let p = pair(10);
    let before = p.swarm.shard_counts();
    p.swarm.ok(&["rm", &p.orig_key]);
    let out = p.swarm.ok(&["gc"]);
    assert_eq!(gc_count(&out, "shards ("), 0, "{out}");
    assert!(gc_count(&out, "unreferenced but younger") > 0, "{out}");
    assert_eq!(p.swarm.shard_counts(), before);
    p.swarm.assert_restores(&p.edited_key, &p.edited);
}

#[test]
fn gc_refuses_while_a_store_is_down_unless_forced() {
    let (swarm, [(ka, _), (kb, b)]) = unrelated(20);
    let ids = swarm.store_ids();
    swarm.ok(&["rm", &ka]);
    let down = 2;
    swarm.remove_store(down);
    let before = swarm.shard_counts();
    let err = swarm.fail(&["gc", "--grace", "0"]);
    assert_error_line(&err, &[&ids[down], "--force"]);
    assert_eq!(swarm.shard_counts(), before, "gc deleted while refusing");

    let out = swarm.ok(&["gc", "--grace", "0", "--force"]);
    assert!(gc_count(&out, "shards (") > 0, "{out}");
    let n = chunks_of(&swarm, &kb);
    let mut want = vec![n; STORES];
    want[down] = 0;
    assert_eq!(swarm.shard_counts(), want);
    swarm.assert_restores(&kb, &b);
}

#[test]
fn gc_refuses_when_a_manifest_is_unreadable() {
    let p = pair(30);
    for i in p.swarm.manifest_holders_of(&p.orig_key) {
        flip_byte(&p.swarm.stores[i].join(manifest_path(&p.orig_key)), None);
    }
    let before = p.swarm.shard_counts();
    let err = p.swarm.fail(&["gc", "--grace", "0", "--force"]);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("annex-swarm: error: ") && last.contains("unreadable"),
        "{err}"
    );
    assert_eq!(p.swarm.shard_counts(), before);
}

/// Copies every shard file of `from` into the same place in `to`'s stores; returns how many.
fn copy_shards(from: &Swarm, to: &Swarm) -> usize {
    let mut n = 0;
    for i in 0..STORES {
        for f in from.shard_files(i) {
            let rel = f.strip_prefix(&from.stores[i]).unwrap();
            let dest = to.stores[i].join(rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&f, &dest).unwrap();
            n += 1;
        }
    }
    n
}

#[test]
fn orphan_shards_of_an_unfinished_put_are_collected() {
    let swarm = Swarm::new();
    let data = pseudo_random(SIZE, 40);
    let key = swarm.put(&swarm.write_file("kept.bin", &data));
    let before = swarm.shard_counts();

    // Shards of an object whose manifest never got written (a put that died before its end).
    let other = Swarm::new();
    let lost = pseudo_random(SIZE / 2, 41);
    let lost_key = other.put(&other.write_file("lost.bin", &lost));
    let copied = copy_shards(&other, &swarm);
    assert!(copied > 0);
    // And a staged write left in tmp/.
    let staged = swarm.stores[0].join("tmp/12345.deadbeef.0");
    std::fs::create_dir_all(staged.parent().unwrap()).unwrap();
    std::fs::write(&staged, b"half a shard").unwrap();

    assert_eq!(swarm.ls_keys(), vec![key.clone()]);
    swarm.fail(&["get", &lost_key, s(&swarm.dest())]);

    // Young leftovers are spared: they may belong to a put under way.
    let out = swarm.ok(&["gc"]);
    assert_eq!(gc_count(&out, "shards ("), 0, "{out}");
    assert!(staged.exists());

    let out = swarm.ok(&["gc", "--grace", "0"]);
    assert_eq!(gc_count(&out, "shards ("), copied, "{out}");
    assert_eq!(gc_count(&out, "temporary files"), 1, "{out}");
    assert!(!staged.exists());
    assert_eq!(swarm.shard_counts(), before);
    swarm.assert_restores(&key, &data);
    assert_full_health(&swarm, &key);

    // The unfinished object can be put for real afterwards.
    let again = swarm.put(&swarm.write_file("lost.bin", &lost));
    assert_eq!(again, lost_key);
    swarm.assert_restores(&lost_key, &lost);
}

/// Big enough that a put is still running when it is killed.
const KILLED_SIZE: usize = 6 << 20;

/// Starts `put FILE` and kills it once it has written shards. Panics if it finished first.
fn kill_put_midway(swarm: &Swarm, file: &std::path::Path) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("annex-swarm"))
        .current_dir(swarm.dir.path())
        .env_remove("ANNEX_SWARM")
        .arg("--swarm")
        .arg(&swarm.def)
        .arg("put")
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // Wait for the first shards (at least 50 ms), then kill.
    loop {
        std::thread::sleep(Duration::from_millis(5));
        if start.elapsed() >= Duration::from_millis(50)
            && swarm.shard_counts().iter().any(|&n| n > 0)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "put wrote no shard in 20 s"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("put ended ({status}) before it could be killed");
        }
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "put finished ({status}) before it could be killed"
    );
}

#[test]
fn killed_put_leaves_no_key_and_gc_removes_its_orphans() {
    let swarm = Swarm::new();
    let data = pseudo_random(KILLED_SIZE, 50);
    let file = swarm.write_file("big.bin", &data);
    kill_put_midway(&swarm, &file);
    assert!(swarm.ls().is_empty(), "a killed put left a key");
    assert!(swarm.shard_counts().iter().sum::<usize>() > 0);
    swarm.fail(&["get", &sha256e_key(&data, ".bin"), s(&swarm.dest())]);

    swarm.ok(&["gc", "--grace", "0"]);
    assert_eq!(swarm.shard_counts(), vec![0; STORES]);
    for i in 0..STORES {
        assert!(swarm.tmp_files(i).is_empty(), "store {i}: tmp not emptied");
    }

    let key = swarm.put(&file);
    assert_eq!(key, sha256e_key(&data, ".bin"));
    swarm.assert_restores(&key, &data);
}

#[test]
fn killed_put_then_rerun_reuses_its_shards() {
    let swarm = Swarm::new();
    let data = pseudo_random(KILLED_SIZE, 60);
    let file = swarm.write_file("big.bin", &data);
    kill_put_midway(&swarm, &file);
    assert!(swarm.ls().is_empty(), "a killed put left a key");

    let r = swarm.put_json(&file);
    assert!(r["shards_reused"].as_u64().unwrap() > 0, "{r}");
    let key = r["key"].as_str().unwrap().to_owned();
    assert_eq!(swarm.ls_keys(), vec![key.clone()]);

    // Nothing the key needs is garbage; only stray staged writes may go.
    let out = swarm.ok(&["gc", "--grace", "0"]);
    let n = chunks_of(&swarm, &key);
    assert_eq!(swarm.shard_counts(), vec![n; STORES], "{out}");
    for i in 0..STORES {
        assert!(swarm.tmp_files(i).is_empty(), "store {i}: tmp not emptied");
    }
    swarm.assert_restores(&key, &data);
    assert_full_health(&swarm, &key);
}

/// With shards big enough that chunks are groups of FastCDC chunks (4 x 2 MiB: groups of 8 to
/// 16 MiB), an insertion in the middle of a big file still stores only the groups around it
/// again, and both versions restore.
#[test]
fn grouped_chunks_still_move_edits_as_deltas() {
    let swarm = Swarm::with_shard_size("2MiB");
    let size = 48 << 20;
    let orig = pseudo_random(size, 21);
    let first = swarm.put_json(&swarm.write_file("orig.bin", &orig));
    let chunks = first["chunks"].as_u64().unwrap();
    assert!((3..=6).contains(&chunks), "{first}");
    for store in &swarm.stores {
        for f in std::fs::read_dir(store.join("shards"))
            .unwrap()
            .flatten()
            .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        {
            let len = f.metadata().unwrap().len();
            assert!(len >= 2 << 20, "{}: {len} bytes", f.path().display());
        }
    }

    let mut edited = orig.clone();
    edited.splice(size / 2..size / 2, [1u8, 2, 3]);
    let second = swarm.put_json(&swarm.write_file("edited.bin", &edited));
    let written = second["shards_written"].as_u64().unwrap();
    let reused = second["shards_reused"].as_u64().unwrap();
    // At most the group holding the insertion and the one after it are new.
    assert!(written <= 2 * 6, "{second}");
    assert!(
        reused >= (second["chunks"].as_u64().unwrap() - 2) * 6,
        "{second}"
    );
    assert!(
        second["bytes_written"].as_u64().unwrap() <= 2 * (16 << 20) * 3 / 2,
        "{second}"
    );
    swarm.assert_restores(first["key"].as_str().unwrap(), &orig);
    swarm.assert_restores(second["key"].as_str().unwrap(), &edited);
}
