//! Shared fixture for the CLI integration tests: a real `annex-swarm` binary driven over a swarm
//! of six local stores in a temporary directory (4 + 2 coding, 4 KiB shards so that multi-chunk
//! files stay small).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

pub const K: usize = 4;
pub const M: usize = 2;
pub const STORES: usize = 6;
/// The shard size every fixture uses.
pub const SHARD_SIZE: &str = "4KiB";
/// `ChunkerParams::for_coding(4, 4 KiB)`: chunks average 16 KiB, at least 4 KiB, at most 64 KiB.
pub const CHUNK_MIN: usize = 4 << 10;
pub const CHUNK_AVG: usize = 16 << 10;
pub const CHUNK_MAX: usize = 64 << 10;
/// `init`'s default `--inline-threshold`: objects strictly smaller are stored inside manifests.
pub const DEFAULT_INLINE_THRESHOLD: usize = 256 << 10;

/// The binary, with no swarm or log setting inherited from the environment.
pub fn bin() -> Command {
    let mut cmd = Command::cargo_bin("annex-swarm").expect("the annex-swarm binary is built");
    cmd.env_remove("ANNEX_SWARM")
        .env_remove("ANNEX_SWARM_LOG")
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// A swarm definition and its six stores, all inside one temporary directory.
pub struct Swarm {
    pub dir: TempDir,
    /// The definition file (`swarm.toml`).
    pub def: PathBuf,
    /// The store directories, in definition order.
    pub stores: Vec<PathBuf>,
}

impl Swarm {
    /// 4 + 2 over six stores, 4 KiB shards, the default inline threshold.
    pub fn new() -> Self {
        Self::with_init_args(&[])
    }

    /// As [`Swarm::new`] with another `--inline-threshold`.
    pub fn with_inline_threshold(threshold: &str) -> Self {
        Self::with_init_args(&["--inline-threshold", threshold])
    }

    /// As [`Swarm::new`], with more arguments for `init`.
    pub fn with_init_args(extra: &[&str]) -> Self {
        Self::with_stores(STORES, extra)
    }

    /// 4 + 2 over `n` stores, with more arguments for `init`.
    pub fn with_stores(n: usize, extra: &[&str]) -> Self {
        Self::build(n, SHARD_SIZE, extra)
    }

    /// 4 + 2 over six stores with shards of `shard_size`.
    pub fn with_shard_size(shard_size: &str) -> Self {
        Self::build(STORES, shard_size, &[])
    }

    fn build(n: usize, shard_size: &str, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-test.")
            .tempdir()
            .expect("temporary directory");
        let def = dir.path().join("swarm.toml");
        let stores: Vec<PathBuf> = (1..=n)
            .map(|i| dir.path().join(format!("store{i}")))
            .collect();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        let swarm = Swarm { dir, def, stores };
        let (k, m) = (K.to_string(), M.to_string());
        let mut args = vec!["init", "--k", &k, "--m", &m, "--shard-size", shard_size];
        for s in &swarm.stores {
            args.push("--store");
            args.push(s.to_str().unwrap());
        }
        args.extend_from_slice(extra);
        swarm.ok(&args);
        swarm
    }

    /// A path inside the fixture's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with `--swarm DEF`, run from the fixture's directory.
    pub fn cmd(&self) -> Command {
        let mut cmd = bin();
        cmd.current_dir(self.dir.path())
            .arg("--swarm")
            .arg(&self.def);
        cmd
    }

    /// Runs a command; the caller checks the outcome. Asserts only that nothing panicked.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().expect("run annex-swarm");
        assert_no_panic(&out, args);
        out
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`annex-swarm {}` failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    /// Runs a command that must fail; returns its stderr.
    pub fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "`annex-swarm {}` succeeded but should have failed:\nstdout: {}\nstderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).expect("stderr is UTF-8")
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        parse_json(&self.ok(args), args)
    }

    /// Writes `data` to a file in the fixture's directory.
    pub fn write_file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    /// `put FILE`: the key it prints.
    pub fn put(&self, file: &Path) -> String {
        let out = self.ok(&["put", s(file)]);
        let key = out.trim();
        assert!(
            !key.is_empty() && !key.contains('\n'),
            "put printed `{out}`"
        );
        key.to_owned()
    }

    /// `put --json FILE`.
    pub fn put_json(&self, file: &Path) -> Value {
        self.json(&["put", "--json", s(file)])
    }

    /// A fresh path under `out/` for `get` to restore into.
    pub fn dest(&self) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        self.path("out")
            .join(format!("restored-{}", N.fetch_add(1, Ordering::Relaxed)))
    }

    /// `get KEY DEST`, returning what was restored.
    pub fn get(&self, key: &str) -> Vec<u8> {
        let dest = self.dest();
        self.ok(&["get", key, s(&dest)]);
        let data = std::fs::read(&dest).unwrap();
        std::fs::remove_file(&dest).unwrap();
        data
    }

    /// Restores `key` and checks it is `want`, byte for byte.
    pub fn assert_restores(&self, key: &str, want: &[u8]) {
        let got = self.get(key);
        assert_eq!(got.len(), want.len(), "{key}: restored size");
        assert!(got == want, "{key}: restored bytes differ");
    }

    /// `ls --json`, as (key, size, chunks).
    pub fn ls(&self) -> Vec<(String, u64, u64)> {
        let v = self.json(&["ls", "--json"]);
        v.as_array()
            .expect("ls --json prints an array")
            .iter()
            .map(|e| {
                (
                    e["key"].as_str().expect("key").to_owned(),
                    e["size"].as_u64().expect("size"),
                    e["chunks"].as_u64().expect("chunks"),
                )
            })
            .collect()
    }

    pub fn ls_keys(&self) -> Vec<String> {
        self.ls().into_iter().map(|e| e.0).collect()
    }

    /// `fsck --json [--verify] [KEYS]`: whether it exited 0, and the health of each key.
    pub fn fsck(&self, verify: bool, keys: &[&str]) -> (bool, Vec<Value>) {
        let mut args = vec!["fsck", "--json"];
        if verify {
            args.push("--verify");
        }
        args.extend_from_slice(keys);
        let out = self.run(&args);
        let v = parse_json(&String::from_utf8_lossy(&out.stdout), &args);
        let list = v.as_array().expect("fsck --json prints an array").clone();
        (out.status.success(), list)
    }

    /// The health of one key (fsck --json KEY).
    pub fn health(&self, verify: bool, key: &str) -> (bool, Value) {
        let (ok, list) = self.fsck(verify, &[key]);
        assert_eq!(list.len(), 1, "fsck of one key: {list:?}");
        (ok, list[0].clone())
    }

    /// The store ids of the definition, in order (from `status --json`).
    pub fn store_ids(&self) -> Vec<String> {
        let v = self.json(&["status", "--json"]);
        v["stores"]
            .as_array()
            .expect("stores")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_owned())
            .collect()
    }

    /// Every file under `sub` of store `i` (none when the directory is gone).
    pub fn files(&self, i: usize, sub: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![self.stores[i].join(sub)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
        out.sort();
        out
    }

    pub fn shard_files(&self, i: usize) -> Vec<PathBuf> {
        self.files(i, "shards")
    }

    pub fn manifest_files(&self, i: usize) -> Vec<PathBuf> {
        self.files(i, "manifests")
    }

    pub fn tmp_files(&self, i: usize) -> Vec<PathBuf> {
        self.files(i, "tmp")
    }

    /// Shard files on each store.
    pub fn shard_counts(&self) -> Vec<usize> {
        (0..self.stores.len())
            .map(|i| self.shard_files(i).len())
            .collect()
    }

    /// Stores holding a manifest file (for any key).
    pub fn manifest_holders(&self) -> Vec<usize> {
        (0..self.stores.len())
            .filter(|&i| !self.manifest_files(i).is_empty())
            .collect()
    }

    /// Stores holding a manifest copy of `key`.
    pub fn manifest_holders_of(&self, key: &str) -> Vec<usize> {
        let rel = manifest_path(key);
        (0..self.stores.len())
            .filter(|&i| self.stores[i].join(&rel).is_file())
            .collect()
    }

    /// Deletes a store directory, as if its disk were gone.
    pub fn remove_store(&self, i: usize) {
        std::fs::remove_dir_all(&self.stores[i]).unwrap();
    }
}

/// Where a key's manifest lives in a store (`swarm_store::layout::manifest_path`).
pub fn manifest_path(key: &str) -> String {
    let h = blake3::Hasher::new_derive_key("annex-swarm manifest name v1")
        .update(key.as_bytes())
        .finalize()
        .to_hex();
    format!("manifests/{}/{h}", &h[..2])
}

/// A path as a command argument (fixture paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

pub fn parse_json(text: &str, args: &[&str]) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| {
        panic!(
            "`annex-swarm {}` printed invalid JSON ({e}):\n{text}",
            args.join(" ")
        )
    })
}

pub fn assert_no_panic(out: &Output, args: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked"),
        "`annex-swarm {}` panicked:\n{err}",
        args.join(" ")
    );
    // A panic exits with 101.
    assert_ne!(
        out.status.code(),
        Some(101),
        "`annex-swarm {}` exited 101:\n{err}",
        args.join(" ")
    );
}

/// A CLI error: exactly one line, `annex-swarm: error: ...`, containing every `needle`.
pub fn assert_error_line(stderr: &str, needles: &[&str]) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want a one-line error, got:\n{stderr}");
    assert!(
        lines[0].starts_with("annex-swarm: error: "),
        "want `annex-swarm: error: ...`, got:\n{stderr}"
    );
    for n in needles {
        assert!(
            stderr.contains(n),
            "want `{n}` in the error, got:\n{stderr}"
        );
    }
}

/// Deterministic pseudo-random bytes (SplitMix64) from a seed.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// SHA-256 from RustCrypto's sha2, independent of the key code under test.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

pub fn sha256_hex(data: &[u8]) -> String {
    sha256(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The key `git annex calckey` gives a file with these contents; `ext` is the extension
/// git-annex keeps (with its dot, or empty).
pub fn sha256e_key(data: &[u8], ext: &str) -> String {
    format!("SHA256E-s{}--{}{ext}", data.len(), sha256_hex(data))
}

/// Inverts every bit of the byte at `at` (the middle of the file when `None`).
pub fn flip_byte(path: &Path, at: Option<usize>) {
    let mut data = std::fs::read(path).unwrap();
    assert!(!data.is_empty(), "{} is empty", path.display());
    let at = at.unwrap_or(data.len() / 2);
    data[at] ^= 0xff;
    std::fs::write(path, data).unwrap();
}

/// Cuts a file to half its length.
pub fn truncate_half(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len / 2).unwrap();
}

/// Files in `dir` whose names start with `prefix`.
pub fn entries_starting_with(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect()
}
