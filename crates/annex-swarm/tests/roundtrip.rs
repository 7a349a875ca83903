//! put then get, byte for byte, across the size boundaries of the storage format; keys; dedup;
//! the JSON outputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// The inline threshold of the "small" fixture, so the chunk-size boundaries below are chunked.
const SMALL_THRESHOLD: usize = 16 << 10;
const SMALL_THRESHOLD_ARG: &str = "16KiB";

/// Empty object: stored inline, a manifest with an empty body.
const EMPTY: usize = 0;
/// One byte: the smallest inline object.
const ONE: usize = 1;
/// One byte under the inline threshold: the largest inline object.
const BELOW_THRESHOLD: usize = SMALL_THRESHOLD - 1;
/// Exactly the threshold: the smallest chunked object (inline is `size < threshold`).
const AT_THRESHOLD: usize = SMALL_THRESHOLD;
/// Just over the threshold: chunked.
const ABOVE_THRESHOLD: usize = SMALL_THRESHOLD + 1;
/// One byte under the chunker's maximum: with content offering no cut point, one short chunk.
const BELOW_CHUNK_MAX: usize = CHUNK_MAX - 1;
/// Exactly the chunker's maximum: one full-size chunk.
const AT_CHUNK_MAX: usize = CHUNK_MAX;
/// One byte over: a full chunk plus a one-byte last chunk (smaller than a shard's alignment).
const ABOVE_CHUNK_MAX: usize = CHUNK_MAX + 1;
/// Many chunks (about 190 at 16 KiB average): the chunk pipeline with several in flight.
const MULTI_CHUNK: usize = 3 << 20;

/// Stores `data` as `name`, checks the printed key, `ls`, and that get restores it exactly.
/// Returns the `put --json` report.
fn roundtrip(swarm: &Swarm, name: &str, ext: &str, data: &[u8]) -> serde_json::Value {
    let file = swarm.write_file(name, data);
    let report = swarm.put_json(&file);
    let key = report["key"].as_str().expect("key").to_owned();
    assert_eq!(key, sha256e_key(data, ext), "{name}: key");
    assert_eq!(report["size"].as_u64(), Some(data.len() as u64));
    assert_eq!(report["manifest_copies"].as_u64(), Some((M + 1) as u64));
    let listed = swarm.ls();
    let entry = listed
        .iter()
        .find(|e| e.0 == key)
        .unwrap_or_else(|| panic!("{key} not listed: {listed:?}"));
    assert_eq!(entry.1, data.len() as u64);
    assert_eq!(Some(entry.2), report["chunks"].as_u64());
    swarm.assert_restores(&key, data);
    // Plain `put` of the same file prints the same key.
    assert_eq!(swarm.put(&file), key);
    report
}

fn chunks(report: &serde_json::Value) -> u64 {
    report["chunks"].as_u64().expect("chunks")
}

#[test]
fn sha256_helper_known_answers() {
    // FIPS 180-4 examples, so the keys the tests expect are right.
    for (input, want) in [
        (
            &b""[..],
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ] {
        assert_eq!(sha256_hex(input), want);
    }
}

#[test]
fn empty_file_is_inline() {
    let swarm = Swarm::with_inline_threshold(SMALL_THRESHOLD_ARG);
    let r = roundtrip(&swarm, "empty.bin", ".bin", &pseudo_random(EMPTY, 1));
    assert_eq!(chunks(&r), 0);
}

#[test]
fn one_byte_is_inline() {
    let swarm = Swarm::with_inline_threshold(SMALL_THRESHOLD_ARG);
    let r = roundtrip(&swarm, "one.bin", ".bin", &pseudo_random(ONE, 2));
    assert_eq!(chunks(&r), 0);
}

#[test]
fn inline_threshold_boundaries() {
    let swarm = Swarm::with_inline_threshold(SMALL_THRESHOLD_ARG);
    let r = roundtrip(
        &swarm,
        "below.dat",
        ".dat",
        &pseudo_random(BELOW_THRESHOLD, 3),
    );
    assert_eq!(chunks(&r), 0, "below the threshold is inline");
    let r = roundtrip(&swarm, "at.dat", ".dat", &pseudo_random(AT_THRESHOLD, 4));
    assert!(chunks(&r) >= 1, "the threshold itself is chunked");
    let r = roundtrip(
        &swarm,
        "above.dat",
        ".dat",
        &pseudo_random(ABOVE_THRESHOLD, 5),
    );
    assert!(chunks(&r) >= 1);
}

#[test]
fn default_inline_threshold_boundaries() {
    let swarm = Swarm::new();
    let t = DEFAULT_INLINE_THRESHOLD;
    let r = roundtrip(&swarm, "below", "", &pseudo_random(t - 1, 6));
    assert_eq!(chunks(&r), 0, "below the default threshold is inline");
    let r = roundtrip(&swarm, "at", "", &pseudo_random(t, 7));
    assert!(
        chunks(&r) > 1,
        "256 KiB at 16 KiB average is several chunks"
    );
    let r = roundtrip(&swarm, "above", "", &pseudo_random(t + 1, 8));
    assert!(chunks(&r) > 1);
}

#[test]
fn chunk_max_boundaries_random_content() {
    // Random content is cut by content (about 16 KiB per chunk), never beyond the maximum.
    let swarm = Swarm::with_inline_threshold(SMALL_THRESHOLD_ARG);
    for (i, size) in [BELOW_CHUNK_MAX, AT_CHUNK_MAX, ABOVE_CHUNK_MAX]
        .into_iter()
        .enumerate()
    {
        let r = roundtrip(
            &swarm,
            &format!("r{i}.bin"),
            ".bin",
            &pseudo_random(size, 10 + i as u64),
        );
        assert!(chunks(&r) >= (size as u64).div_ceil(CHUNK_MAX as u64));
        assert!(chunks(&r) <= (size / CHUNK_MIN) as u64 + 1);
    }
}

#[test]
fn chunk_max_boundaries_constant_content() {
    // Zeros offer no content-defined cut point: chunks are cut at the maximum size.
    let swarm = Swarm::with_inline_threshold(SMALL_THRESHOLD_ARG);
    let r = roundtrip(&swarm, "z0.bin", ".bin", &vec![0; BELOW_CHUNK_MAX]);
    assert_eq!(chunks(&r), 1);
    let r = roundtrip(&swarm, "z1.bin", ".bin", &vec![0; AT_CHUNK_MAX]);
    assert_eq!(chunks(&r), 1);
    let r = roundtrip(&swarm, "z2.bin", ".bin", &vec![0; ABOVE_CHUNK_MAX]);
    assert_eq!(chunks(&r), 2, "a full chunk and a one-byte chunk");
}

#[test]
fn multi_chunk_file() {
    let swarm = Swarm::new();
    let data = pseudo_random(MULTI_CHUNK, 20);
    let r = roundtrip(&swarm, "multi.tar.gz", ".tar.gz", &data);
    let n = chunks(&r);
    let avg = (MULTI_CHUNK / CHUNK_AVG) as u64;
    assert!(
        n > avg / 2 && n < avg * 2,
        "{n} chunks for 3 MiB at 16 KiB average"
    );
    assert_eq!(
        r["shards_written"].as_u64().unwrap() + r["shards_reused"].as_u64().unwrap(),
        n * (K + M) as u64
    );
    // One shard per chunk on each of the six stores.
    assert_eq!(swarm.shard_counts(), vec![n as usize; STORES]);
}

#[test]
fn repetitive_multi_chunk_file() {
    // 1 MiB of zeros: sixteen identical chunks sharing six shards.
    let swarm = Swarm::new();
    let data = vec![0u8; 1 << 20];
    let r = roundtrip(&swarm, "zeros", "", &data);
    assert_eq!(chunks(&r), 16);
    assert_eq!(swarm.shard_counts(), vec![1; STORES]);
    let (ok, h) = swarm.health(true, r["key"].as_str().unwrap());
    assert!(ok);
    assert_eq!(h["spare"], 2);
}

#[test]
fn key_matches_git_annex_calckey() {
    // Cross-check against git-annex itself when it is installed.
    let have_annex = std::process::Command::new("git")
        .args(["annex", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_annex {
        eprintln!("git-annex is not installed: skipping the cross-check");
        return;
    }
    let swarm = Swarm::new();
    let repo = swarm.path("repo");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env("HOME", swarm.dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    git(&["init", "-q", "."]);
    for (name, size) in [
        ("empty", 0),
        ("a.txt", 100),
        ("x.tar.gz", 300_000),
        ("photo.jpeg", 1000),
        ("a.b.c.d", 10),
        ("x.toolong", 10),
    ] {
        let data = pseudo_random(size, size as u64);
        let file = repo.join(name);
        std::fs::write(&file, &data).unwrap();
        let want = git(&["annex", "calckey", name]);
        assert_eq!(swarm.put(&file), want.trim(), "{name}");
    }
}

#[test]
fn put_with_a_correct_key() {
    let swarm = Swarm::with_inline_threshold(SMALL_THRESHOLD_ARG);
    for (size, seed) in [(100, 30), (200_000, 31)] {
        let data = pseudo_random(size, seed);
        let file = swarm.write_file(&format!("f{seed}"), &data);
        // Another backend than put's own SHA256E, and another extension than the file's.
        for key in [
            format!("SHA256-s{size}--{}", sha256_hex(&data)),
            format!("SHA256E-s{size}--{}.iso", sha256_hex(&data)),
            format!("SHA256-s{size}-m1700000000--{}", sha256_hex(&data)),
        ] {
            let out = swarm.ok(&["put", "--key", &key, s(&file)]);
            assert_eq!(out.trim(), key);
            assert!(swarm.ls_keys().contains(&key));
            swarm.assert_restores(&key, &data);
        }
    }
}

#[test]
fn put_with_a_wrong_digest_fails() {
    let swarm = Swarm::with_inline_threshold(SMALL_THRESHOLD_ARG);
    for (size, seed) in [(100, 40), (200_000, 41)] {
        let data = pseudo_random(size, seed);
        let file = swarm.write_file(&format!("f{seed}.bin"), &data);
        let other = sha256_hex(b"something else");
        let key = format!("SHA256E-s{size}--{other}.bin");
        let err = swarm.fail(&["put", "--key", &key, s(&file)]);
        assert_error_line(&err, &["does not match", &other]);
        assert!(
            !swarm.ls_keys().contains(&key),
            "{key} listed after a failed put"
        );
        swarm.fail(&["get", &key, s(&swarm.dest())]);
    }
    assert!(swarm.ls().is_empty());
}

#[test]
fn put_with_a_wrong_size_fails() {
    let swarm = Swarm::with_inline_threshold(SMALL_THRESHOLD_ARG);
    for (size, seed) in [(100, 50), (200_000, 51)] {
        let data = pseudo_random(size, seed);
        let file = swarm.write_file(&format!("f{seed}.bin"), &data);
        let key = format!("SHA256E-s{}--{}.bin", size + 1, sha256_hex(&data));
        let err = swarm.fail(&["put", "--key", &key, s(&file)]);
        assert_error_line(&err, &[&(size + 1).to_string(), &size.to_string()]);
        assert!(!swarm.ls_keys().contains(&key));
    }
    assert!(swarm.ls().is_empty());
}

#[test]
fn annex_swarm_env_var_replaces_the_flag() {
    let swarm = Swarm::new();
    let data = pseudo_random(300_000, 60);
    let file = swarm.write_file("env.bin", &data);
    // Run from a directory with no swarm.toml, so the default path cannot be what is used.
    let elsewhere = swarm.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let run = |args: &[&str]| {
        let out = bin()
            .current_dir(&elsewhere)
            .env("ANNEX_SWARM", &swarm.def)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let key = run(&["put", s(&file)]).trim().to_owned();
    assert_eq!(key, sha256e_key(&data, ".bin"));
    assert!(run(&["ls"]).contains(&key));
    let dest = elsewhere.join("restored");
    run(&["get", &key, s(&dest)]);
    assert!(std::fs::read(&dest).unwrap() == data);
    // --swarm wins over the variable.
    let out = bin()
        .current_dir(&elsewhere)
        .env("ANNEX_SWARM", elsewhere.join("nonexistent.toml"))
        .args(["--swarm", s(&swarm.def), "ls"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn edited_copy_reuses_shards() {
    let swarm = Swarm::new();
    let data = pseudo_random(3 << 20, 70);
    let first = swarm.put_json(&swarm.write_file("orig.bin", &data));
    let mut edited = data.clone();
    for b in &mut edited[(3 << 20) / 2..(3 << 20) / 2 + 5] {
        *b ^= 0x5a;
    }
    let second = swarm.put_json(&swarm.write_file("edited.bin", &edited));
    let written = second["shards_written"].as_u64().unwrap();
    let reused = second["shards_reused"].as_u64().unwrap();
    let total = chunks(&second) * (K + M) as u64;
    assert_eq!(written + reused, total);
    assert!(reused > 0, "no shard reused: {second}");
    // A few bytes touch one chunk, or two when the edit moves a cut point.
    assert!(
        written <= 3 * (K + M) as u64,
        "{written} of {total} shards written for a 5-byte edit: {second}"
    );
    assert_ne!(first["key"], second["key"]);
    swarm.assert_restores(first["key"].as_str().unwrap(), &data);
    swarm.assert_restores(second["key"].as_str().unwrap(), &edited);
    // Putting the same file again writes nothing.
    let again = swarm.put_json(&swarm.path("edited.bin"));
    assert_eq!(again["shards_written"].as_u64(), Some(0));
}

#[test]
fn json_outputs_parse_with_expected_fields() {
    let swarm = Swarm::new();
    let small = pseudo_random(1000, 80);
    let big = pseudo_random(400_000, 81);
    let small_key = swarm.put(&swarm.write_file("small.txt", &small));
    let big_key = swarm.put(&swarm.write_file("big.bin", &big));

    let ls = swarm.json(&["ls", "--json"]);
    let ls = ls.as_array().unwrap();
    assert_eq!(ls.len(), 2);
    for e in ls {
        for f in ["key", "size", "chunks"] {
            assert!(e.get(f).is_some(), "ls entry without `{f}`: {e}");
        }
    }
    let mut keys: Vec<&str> = ls.iter().map(|e| e["key"].as_str().unwrap()).collect();
    keys.sort();
    let mut want = vec![small_key.as_str(), big_key.as_str()];
    want.sort();
    assert_eq!(keys, want);

    let st = swarm.json(&["status", "--json"]);
    assert!(st["swarm"].as_str().is_some_and(|s| s.len() == 32));
    assert_eq!(st["k"], K as u64);
    assert_eq!(st["m"], M as u64);
    assert_eq!(st["keys"], 2);
    assert_eq!(st["bytes_stored"], (small.len() + big.len()) as u64);
    assert!(st["bytes_on_stores"].as_u64().unwrap() > big.len() as u64);
    let stores = st["stores"].as_array().unwrap();
    assert_eq!(stores.len(), STORES);
    for (i, s) in stores.iter().enumerate() {
        for f in [
            "id",
            "url",
            "up",
            "problem",
            "shards",
            "manifests",
            "bytes_used",
        ] {
            assert!(s.get(f).is_some(), "store without `{f}`: {s}");
        }
        assert_eq!(s["up"], true);
        assert!(s["problem"].is_null());
        assert_eq!(
            s["url"].as_str().unwrap(),
            swarm.stores[i].to_str().unwrap()
        );
    }
    let manifests: u64 = stores
        .iter()
        .map(|s| s["manifests"].as_u64().unwrap())
        .sum();
    assert_eq!(manifests, 2 * (M + 1) as u64);

    let (ok, fsck) = swarm.fsck(false, &[]);
    assert!(ok);
    assert_eq!(fsck.len(), 2);
    for h in &fsck {
        for f in [
            "key",
            "size",
            "chunks",
            "shards_expected",
            "shards_healthy",
            "manifest_copies",
            "restorable",
            "spare",
            "problems",
        ] {
            assert!(h.get(f).is_some(), "fsck entry without `{f}`: {h}");
        }
        assert_eq!(h["restorable"], true);
        assert_eq!(h["spare"], M as u64);
        assert_eq!(h["manifest_copies"], (M + 1) as u64);
        assert_eq!(h["shards_expected"], h["shards_healthy"]);
        assert_eq!(h["problems"].as_array().map(Vec::len), Some(0));
    }

    let dest = swarm.dest();
    let get = swarm.json(&["get", "--json", &big_key, s(&dest)]);
    assert_eq!(get["key"].as_str(), Some(big_key.as_str()));
    assert_eq!(get["size"], big.len() as u64);
    assert!(get["shards_read"].as_u64().unwrap() >= K as u64);
    assert_eq!(get["problems"].as_array().map(Vec::len), Some(0));

    let repair = swarm.json(&["repair", "--json"]);
    assert_eq!(repair.as_array().map(Vec::len), Some(2));
    for r in repair.as_array().unwrap() {
        assert_eq!(r["shards_rewritten"], 0);
        assert!(r["error"].is_null());
        assert_eq!(r["after"]["spare"], M as u64);
    }
}

/// `rm` while a store that holds a manifest copy is down removes nothing and says why: that
/// copy would bring the key back with the store. `--reachable-only` removes the others anyway,
/// and the key does come back with the store; with every store up, `rm` removes it for good.
#[test]
fn rm_with_a_store_down_removes_nothing_unless_asked() {
    let swarm = Swarm::new();
    let file = swarm.write_file("kept.bin", &pseudo_random(200_000, 41));
    let key = swarm.put(&file);
    let holders = swarm.manifest_holders_of(&key);
    let down = holders[0];
    let aside = swarm.path("unplugged");
    std::fs::rename(&swarm.stores[down], &aside).unwrap();

    let err = swarm.fail(&["rm", &key]);
    assert!(err.contains("not removed: stores down"), "{err}");
    assert_eq!(
        swarm.manifest_holders_of(&key)[..],
        holders[1..],
        "a copy was removed"
    );

    let warned = swarm.run(&["rm", "--reachable-only", &key]);
    assert!(warned.status.success());
    assert!(String::from_utf8_lossy(&warned.stderr).contains("may still hold"));
    assert!(swarm.manifest_holders_of(&key).is_empty());
    // The store comes back, and the key with it: what the default refuses to leave behind.
    std::fs::rename(&aside, &swarm.stores[down]).unwrap();
    assert_eq!(swarm.ls_keys(), vec![key.clone()]);

    swarm.ok(&["rm", &key]);
    assert!(swarm.ls_keys().is_empty());
    assert!(swarm.manifest_holders_of(&key).is_empty());
}
