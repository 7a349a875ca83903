//! The CLI over a mixed swarm of real servers on loopback: S3 (SeaweedFS), WebDAV (nginx),
//! SFTP (openssh) and local directories, 3 + 2 over six stores. Faults: a server killed in the
//! middle of a put, any m servers stopped, a wrong password.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_no_panic, parse_json, pseudo_random, s};
use serde_json::Value;
use swarm_testservers::{self as servers, FaultProxy, S3Server, SftpServer, WebDavServer};
use tempfile::TempDir;

/// Store order in the definition: s3, webdav, sftp, then local directories.
const S3: usize = 0;
const DAV: usize = 1;
const SFTP: usize = 2;

struct Mixed {
    dir: TempDir,
    def: PathBuf,
    s3: S3Server,
    dav: WebDavServer,
    sftp: SftpServer,
    /// Extra environment for every command (credentials, PATH with the ssh wrapper).
    env: Vec<(String, String)>,
}

impl Mixed {
    /// 3 + 2 with 64 KiB shards, so small files make many chunks.
    fn start() -> Mixed {
        Mixed::start_with(Some("64KiB"))
    }

    /// 3 + 2, with `--shard-size` when given.
    fn start_with(shard_size: Option<&str>) -> Mixed {
        let s3 = std::thread::spawn(S3Server::start);
        let dav = std::thread::spawn(WebDavServer::start);
        let sftp = SftpServer::start();
        let (s3, dav) = (s3.join().unwrap(), dav.join().unwrap());
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-stores.")
            .tempdir()
            .unwrap();
        let env = vec![
            (
                "ANNEX_SWARM_S3_ACCESS_KEY_ID".into(),
                servers::S3_ACCESS_KEY.into(),
            ),
            (
                "ANNEX_SWARM_S3_SECRET_ACCESS_KEY".into(),
                servers::S3_SECRET_KEY.into(),
            ),
            (
                "ANNEX_SWARM_WEBDAV_PASSWORD".into(),
                servers::DAV_PASSWORD.into(),
            ),
            (
                "ANNEX_SWARM_SFTP_SSH_KEY".into(),
                sftp.client_key().display().to_string(),
            ),
            // Kind-wide credentials go only to the hosts named for them.
            ("ANNEX_SWARM_S3_HOSTS".into(), s3.endpoint()),
            (
                "ANNEX_SWARM_WEBDAV_HOSTS".into(),
                format!("http://127.0.0.1:{}", dav.port),
            ),
            (
                "ANNEX_SWARM_SFTP_HOSTS".into(),
                format!("sftp://127.0.0.1:{}", sftp.port),
            ),
            (
                "PATH".into(),
                sftp.path_env().to_string_lossy().into_owned(),
            ),
            (
                "ANNEX_SWARM_CREDENTIALS".into(),
                dir.path().join("no-credentials.toml").display().to_string(),
            ),
        ];
        let def = dir.path().join("swarm.toml");
        let m = Mixed {
            def,
            s3,
            dav,
            sftp,
            env,
            dir,
        };
        let mut args = vec![
            "init".to_owned(),
            "--k".into(),
            "3".into(),
            "--m".into(),
            "2".into(),
            "--inline-threshold".into(),
            "16KiB".into(),
        ];
        if let Some(size) = shard_size {
            args.extend(["--shard-size".into(), size.into()]);
        }
        let urls = [
            m.s3.url("swarm"),
            m.dav.url("swarm"),
            m.sftp.url("swarm"),
            m.path("local1").display().to_string(),
            m.path("local2").display().to_string(),
            m.path("local3").display().to_string(),
        ];
        for u in urls {
            args.push("--store".into());
            args.push(u);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        m.ok(&a);
        m
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut c = common::bin();
        c.current_dir(self.dir.path()).arg("--swarm").arg(&self.def);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap();
        assert_no_panic(&out, args);
        out
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "`annex-swarm {}` failed:\nstdout: {}\nstderr: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn put(&self, name: &str, data: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        self.ok(&["put", s(&p)]).trim().to_owned()
    }

    fn assert_restores(&self, key: &str, want: &[u8]) {
        let dest = self.path(&format!("out-{}", rand_suffix()));
        self.ok(&["get", key, s(&dest)]);
        let got = std::fs::read(&dest).unwrap();
        std::fs::remove_file(&dest).unwrap();
        assert!(got == want, "{key}: restored bytes differ");
    }

    /// fsck --json of one key: (exit 0?, spare).
    fn health(&self, key: &str) -> (bool, i64) {
        let out = self.run(&["fsck", "--json", key]);
        let v = parse_json(&String::from_utf8_lossy(&out.stdout), &["fsck"]);
        (out.status.success(), v[0]["spare"].as_i64().unwrap())
    }

    fn status(&self) -> Value {
        parse_json(&self.ok(&["status", "--json"]), &["status"])
    }

    fn store_ids(&self) -> Vec<String> {
        self.status()["stores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    }

    fn stop(&mut self, i: usize) {
        match i {
            S3 => self.s3.stop(),
            DAV => self.dav.stop(),
            SFTP => self.sftp.stop(),
            _ => panic!("not a server"),
        }
    }

    fn restart(&mut self, i: usize) {
        match i {
            S3 => self.s3.restart(),
            DAV => self.dav.restart(),
            SFTP => self.sftp.restart(),
            _ => panic!("not a server"),
        }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn mixed_swarm_put_get_fsck_status_and_store_check() {
    let m = Mixed::start();
    let big = pseudo_random(3_000_000, 1);
    let small = pseudo_random(5000, 2);
    let big_key = m.put("big.bin", &big);
    let small_key = m.put("small.txt", &small);
    m.assert_restores(&big_key, &big);
    m.assert_restores(&small_key, &small);
    assert_eq!(m.health(&big_key), (true, 2));
    assert_eq!(m.health(&small_key), (true, 2));

    // Every store holds shards, the remote ones included, and nothing is left staged.
    let status = m.status();
    for st in status["stores"].as_array().unwrap() {
        assert_eq!(st["up"], true, "{st}");
        assert!(st["shards"].as_u64().unwrap() > 0, "{st}");
    }
    assert!(files_under(&m.dav.data_dir().join("swarm/tmp")).is_empty());
    assert!(files_under(&m.sftp.data_dir().join("swarm/tmp")).is_empty());

    // Request counts per store.
    let out = m.run(&["--request-stats", "ls"]);
    let err = String::from_utf8_lossy(&out.stderr);
    for kind in ["(s3)", "(webdav)", "(sftp)", "(local)"] {
        assert!(err.contains(kind), "no request line for {kind}:\n{err}");
    }

    // store check: by URL and by id; an unreachable store exits 2.
    let ids = m.store_ids();
    let out = m.run(&["store", "check", "--json", &m.s3.url("swarm")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = parse_json(&String::from_utf8_lossy(&out.stdout), &["store check"]);
    assert_eq!(
        (v["reachable"].as_bool(), v["writable"].as_bool()),
        (Some(true), Some(true))
    );
    for id in &ids {
        let out = m.run(&["store", "check", id]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{id}: {text}");
        assert!(text.contains("this swarm's store"), "{text}");
    }
    let out = m.run(&["store", "check", &m.path("local1").display().to_string()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("free space: "));
    let dead = "webdav+http://tester@127.0.0.1:1/x/";
    let out = m.run(&["store", "check", dead]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = m.run(&["store", "check", "s3://bucket?password=x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("looks like a secret"));
}

/// `(kind, reads done, bytes read, writes, bytes written)` per remote store from
/// `--request-stats` (a read raced and cancelled is not done).
fn request_stats(stderr: &str) -> Vec<(String, u64, u64, u64, u64)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("requests: store "))
        .filter(|l| !l.contains("not counted"))
        .map(|l| {
            let kind = l.split(['(', ')']).nth(1).unwrap().to_owned();
            let num = |word: &str| -> u64 {
                let at = l.find(word).unwrap();
                let word = l[..at].split_whitespace().last().unwrap();
                word.trim_start_matches('(').parse().unwrap()
            };
            (
                kind,
                num(" done)"),
                num(" bytes read"),
                num(" writes"),
                num(" written"),
            )
        })
        .collect()
}

const MIB: u64 = 1 << 20;

/// With remote stores and no `--shard-size`, shards are at least 4 MiB, and so is every request
/// that moves one.
#[test]
fn remote_requests_are_at_least_4_mib() {
    let m = Mixed::start_with(None);
    let def = std::fs::read_to_string(&m.def).unwrap();
    assert!(def.contains("shard_size = \"4MiB\""), "{def}");
    let data = pseudo_random(40 << 20, 9);
    let p = m.path("big.bin");
    std::fs::write(&p, &data).unwrap();
    let out = m.run(&["--request-stats", "put", s(&p)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let put = request_stats(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(put.len(), 3, "one line per remote store: {put:?}");

    // The shard objects themselves, as the servers store them.
    let mut shards = 0;
    for dir in [
        m.dav.data_dir().join("swarm/shards"),
        m.sftp.data_dir().join("swarm/shards"),
        m.path("local1").join("shards"),
    ] {
        for f in files_under(&dir) {
            let len = std::fs::metadata(&f).unwrap().len();
            assert!(len >= 4 * MIB, "{} is {len} bytes", f.display());
            shards += 1;
        }
    }
    assert!(shards >= 3, "only {shards} shard objects found");

    let dest = m.path("out.bin");
    let out = m.run(&["--request-stats", "get", &key, s(&dest)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&dest).unwrap() == data,
        "restored bytes differ"
    );
    let get = request_stats(&String::from_utf8_lossy(&out.stderr));
    for (kind, reads, bytes, _, _) in &get {
        // At most two reads, the store marker and a manifest, are smaller than a shard.
        assert!(*reads >= 1, "{kind}: no reads");
        assert!(
            *bytes >= 4 * MIB * reads.saturating_sub(2),
            "{kind}: {reads} reads moved only {bytes} bytes"
        );
    }
    for (kind, _, _, writes, bytes) in &put {
        // Every write is a shard, but for one manifest copy and, on one store, the put's write
        // lock (nothing is reused, so no touch sidecars). Placement may leave a store out of a
        // file of few chunks altogether.
        assert!(
            *bytes >= 4 * MIB * writes.saturating_sub(2),
            "{kind}: wrote only {bytes} bytes in {writes} writes"
        );
    }
}

/// A flaky WebDAV service (503 answers and connections dropped without an answer, through a
/// proxy) costs retries, not the store: put, get, fsck and status go through with every store
/// up and healthy, and the faults really happened.
#[test]
fn transient_failures_are_retried_not_fatal() {
    let dav = WebDavServer::start();
    let proxy = FaultProxy::start(dav.port, 6, 10, 6);
    let dir = tempfile::Builder::new()
        .prefix("annex-swarm-flaky.")
        .tempdir()
        .unwrap();
    let def = dir.path().join("swarm.toml");
    let run = |args: &[&str]| {
        let out = common::bin()
            .arg("--swarm")
            .arg(&def)
            .env("ANNEX_SWARM_WEBDAV_PASSWORD", servers::DAV_PASSWORD)
            .env(
                "ANNEX_SWARM_WEBDAV_HOSTS",
                format!("http://127.0.0.1:{}", proxy.port),
            )
            .env("ANNEX_SWARM_CREDENTIALS", dir.path().join("none.toml"))
            .args(args)
            .output()
            .unwrap();
        assert_no_panic(&out, args);
        assert!(
            out.status.success(),
            "`annex-swarm {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let url = format!("webdav+http://tester@127.0.0.1:{}/swarm/", proxy.port);
    let locals: Vec<String> = (1..=4)
        .map(|i| dir.path().join(format!("local{i}")).display().to_string())
        .collect();
    let mut args = vec!["init", "--k", "3", "--m", "2", "--shard-size", "64KiB"];
    args.extend(["--store", &url]);
    for l in &locals {
        args.extend(["--store", l]);
    }
    run(&args);
    let data = pseudo_random(3_000_000, 12);
    let src = dir.path().join("f.bin");
    std::fs::write(&src, &data).unwrap();
    let key = run(&["put", s(&src)]).trim().to_owned();
    let dest = dir.path().join("out.bin");
    let report = parse_json(&run(&["get", "--json", &key, s(&dest)]), &["get"]);
    assert!(
        std::fs::read(&dest).unwrap() == data,
        "restored bytes differ"
    );
    let flaky = &report["stores"][0];
    assert!(flaky["dropped"].is_null(), "{flaky}");
    assert!(flaky["bytes"].as_u64().unwrap() > 0, "{flaky}");
    let fsck = parse_json(&run(&["fsck", "--json", &key]), &["fsck"]);
    assert_eq!(fsck[0]["spare"], 2, "{fsck}");
    let status = parse_json(&run(&["status", "--json"]), &["status"]);
    assert_eq!(status["stores"][0]["up"], true, "{status}");
    let faults = proxy.faults();
    assert!(
        faults.failed >= 1 && faults.dropped >= 1 && faults.forwarded > 20,
        "{faults:?}"
    );
}

/// A store whose shard reads never return (a WebDAV server that accepts them and never answers,
/// its marker still answering, as a half-hung mount) is raced and dropped: the get finishes
/// from the other stores. Shard files that were FIFOs did this before; a local store now reports
/// a FIFO as a stray instead of blocking on it.
#[test]
fn a_store_whose_reads_never_return_is_raced() {
    let dav = WebDavServer::start();
    let proxy = FaultProxy::hanging(dav.port, "/shards/");
    let dir = tempfile::Builder::new()
        .prefix("annex-swarm-hung.")
        .tempdir()
        .unwrap();
    let def = dir.path().join("swarm.toml");
    let run = |args: &[&str]| {
        let out = common::bin()
            .arg("--swarm")
            .arg(&def)
            .env("ANNEX_SWARM_WEBDAV_PASSWORD", servers::DAV_PASSWORD)
            .env(
                "ANNEX_SWARM_WEBDAV_HOSTS",
                format!("http://127.0.0.1:{}", proxy.port),
            )
            .env("ANNEX_SWARM_CREDENTIALS", dir.path().join("none.toml"))
            .args(args)
            .output()
            .unwrap();
        assert_no_panic(&out, args);
        assert!(
            out.status.success(),
            "`annex-swarm {}`: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let url = format!("webdav+http://tester@127.0.0.1:{}/swarm/", proxy.port);
    let mut args = vec!["init", "--k", "4", "--m", "2", "--shard-size", "64KiB"];
    args.extend(["--store", &url]);
    let locals: Vec<String> = (1..=5)
        .map(|i| dir.path().join(format!("local{i}")).display().to_string())
        .collect();
    for l in &locals {
        args.extend(["--store", l]);
    }
    run(&args);
    let data = pseudo_random(2_000_000, 42);
    let src = dir.path().join("f.bin");
    std::fs::write(&src, &data).unwrap();
    let key = run(&["put", s(&src)]).trim().to_owned();
    let dest = dir.path().join("out.bin");
    let started = std::time::Instant::now();
    let get = parse_json(&run(&["get", "--json", &key, s(&dest)]), &["get"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        std::fs::read(&dest).unwrap() == data,
        "restored bytes differ"
    );
    let hung = &get["stores"][0];
    assert_eq!(hung["bytes"], 0, "{hung}");
    assert!(hung["cancelled"].as_u64().unwrap() > 0, "{hung}");
    assert!(proxy.faults().hung > 0, "{:?}", proxy.faults());
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn s3_killed_in_the_middle_of_a_put() {
    let mut m = Mixed::start();
    let data = pseudo_random(40_000_000, 3);
    let file = m.path("big.bin");
    std::fs::write(&file, &data).unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("annex-swarm"))
        .current_dir(m.dir.path())
        .arg("--swarm")
        .arg(&m.def)
        .args(["put", s(&file)])
        .envs(m.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the S3 server once the put has written some shards to it.
    let weed_data = m.s3.data_dir();
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(30) {
        if dir_size(&weed_data) > 3_000_000 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    m.s3.kill();
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out, &["put"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let keys: Vec<String> = m
        .ok(&["ls"])
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    if out.status.success() {
        // Completed on the other five stores: restorable with S3 still dead.
        let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(keys, vec![key.clone()]);
        m.assert_restores(&key, &data);
    } else {
        // Failed cleanly: one line naming the problem, and no key claims presence.
        assert!(stderr.contains("annex-swarm: error:"), "{stderr}");
        assert!(keys.is_empty(), "a failed put left keys: {keys:?}");
    }
    // Every key listed is restorable.
    for k in &keys {
        m.assert_restores(k, &data);
    }
    m.s3.restart();
    for k in &keys {
        m.ok(&["repair", k]);
        assert_eq!(m.health(k), (true, 2));
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(md) if md.is_dir() => dir_size(&e.path()),
            Ok(md) => md.len(),
            Err(_) => 0,
        })
        .sum()
}

#[test]
fn any_m_servers_stopped_then_repaired() {
    let mut m = Mixed::start();
    let data = pseudo_random(2_000_000, 4);
    let small = pseudo_random(3000, 5);
    let key = m.put("f.bin", &data);
    let small_key = m.put("s.txt", &small);
    for (a, b) in [(S3, DAV), (DAV, SFTP), (S3, SFTP)] {
        m.stop(a);
        m.stop(b);
        m.assert_restores(&key, &data);
        m.assert_restores(&small_key, &small);
        let (ok, spare) = m.health(&key);
        assert!(ok, "stores {a},{b} down: key must stay restorable");
        assert!(
            spare < 2,
            "stores {a},{b} down: fsck must report reduced health"
        );
        let status = m.status();
        let ids = m.store_ids();
        for i in [a, b] {
            let st = status["stores"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["id"] == ids[i].as_str())
                .unwrap();
            assert_eq!(st["up"], false, "{st}");
        }
        m.restart(a);
        m.restart(b);
        m.ok(&["repair"]);
        assert_eq!(
            m.health(&key),
            (true, 2),
            "after restarting {a},{b} and repair"
        );
        assert_eq!(m.health(&small_key), (true, 2));
    }
}

#[test]
fn wrong_password_names_the_store_and_the_others_carry_on() {
    let m = Mixed::start();
    let ids = m.store_ids();
    let dav_id = &ids[DAV];
    let var = format!(
        "ANNEX_SWARM_{}_PASSWORD",
        dav_id.to_ascii_uppercase().replace('-', "_")
    );
    // A per-store credential goes to the hosts named for that store.
    let hosts_var = format!(
        "ANNEX_SWARM_{}_HOSTS",
        dav_id.to_ascii_uppercase().replace('-', "_")
    );
    let dav_host = format!("http://127.0.0.1:{}", m.dav.port);
    let secret = "wrong-hunter2-secret";
    let data = pseudo_random(1_000_000, 6);
    let file = m.path("f.bin");
    std::fs::write(&file, &data).unwrap();
    let out = m
        .cmd()
        .env(&var, secret)
        .env(&hosts_var, &dav_host)
        .args(["-vv", "put", s(&file)])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let status = m
        .cmd()
        .env(&var, secret)
        .env(&hosts_var, &dav_host)
        .env("ANNEX_SWARM_LOG", "trace")
        .args(["status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(dav_id.as_str()) && l.contains("shards"))
        .unwrap();
    assert!(
        line.contains("DOWN") && line.contains("wrong credentials"),
        "{line}"
    );
    m.assert_restores(&key, &data);
    // No secret anywhere in what was printed, even at -vv.
    for o in [&out, &status] {
        for stream in [&o.stdout, &o.stderr] {
            let t = String::from_utf8_lossy(stream);
            for secret in [secret, servers::DAV_PASSWORD, servers::S3_SECRET_KEY] {
                let leaks: Vec<&str> = t.lines().filter(|l| l.contains(secret)).collect();
                assert!(
                    leaks.is_empty(),
                    "a secret was printed:\n{}",
                    leaks.join("\n")
                );
            }
        }
    }
    // The same for a wrong S3 key: the S3 store is named and the others are used.
    let s3_var = format!(
        "ANNEX_SWARM_{}_SECRET_ACCESS_KEY",
        ids[S3].to_ascii_uppercase().replace('-', "_")
    );
    let s3_hosts = format!(
        "ANNEX_SWARM_{}_HOSTS",
        ids[S3].to_ascii_uppercase().replace('-', "_")
    );
    let out = m
        .cmd()
        .env(&s3_var, secret)
        .env(&s3_hosts, m.s3.endpoint())
        .args(["fsck", &key])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{t}");
    let st = m
        .cmd()
        .env(&s3_var, secret)
        .env(&s3_hosts, m.s3.endpoint())
        .args(["status"])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&st.stdout);
    let line = t.lines().find(|l| l.contains(ids[S3].as_str())).unwrap();
    assert!(line.contains("DOWN"), "{line}");
    assert!(!t.contains(secret));
}

/// Issue 11, item 8: remote reads had no size cap. A WebDAV endpoint answering every GET with
/// `Content-Length: 100 GiB` of zeros made a plain `status` die of memory exhaustion reading the
/// marker. Every read is now capped at what is expected (a marker: 64 KiB): the store is down,
/// `status` says why and finishes at once.
#[test]
fn a_server_that_lies_about_sizes_cannot_exhaust_memory() {
    let liar = swarm_testservers::liar::Liar::start();
    let dir = tempfile::Builder::new()
        .prefix("annex-swarm-liar.")
        .tempdir()
        .unwrap();
    let def = dir.path().join("swarm.toml");
    let run = |args: &[&str]| {
        common::bin()
            .arg("--swarm")
            .arg(&def)
            .env("ANNEX_SWARM_WEBDAV_PASSWORD", "not-used")
            .env(
                "ANNEX_SWARM_WEBDAV_HOSTS",
                format!("http://127.0.0.1:{}", liar.port),
            )
            .env("ANNEX_SWARM_CREDENTIALS", dir.path().join("none.toml"))
            .args(args)
            .output()
            .unwrap()
    };
    let locals: Vec<String> = (1..=3)
        .map(|i| dir.path().join(format!("local{i}")).display().to_string())
        .collect();
    let mut args = vec!["init", "--k", "2", "--m", "1"];
    for l in &locals {
        args.extend(["--store", l]);
    }
    assert!(run(&args).status.success());
    let mut text = std::fs::read_to_string(&def).unwrap();
    text.push_str(&format!(
        "\n[[store]]\nid = \"liar\"\nurl = \"webdav+http://tester@127.0.0.1:{}/dav/\"\n",
        liar.port
    ));
    std::fs::write(&def, text).unwrap();
    let started = std::time::Instant::now();
    let out = run(&["status"]);
    assert_no_panic(&out, &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some("liar"))
        .unwrap_or_else(|| panic!("no line for the liar store in:\n{stdout}"));
    assert!(
        line.contains("DOWN") && line.contains("larger than"),
        "{line}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        liar.sent() < 64 << 20,
        "read {} bytes of the lie",
        liar.sent()
    );
}
