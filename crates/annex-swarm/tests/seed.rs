//! `annex-swarm seed` against real BitTorrent clients on loopback: content put into a swarm of
//! local directory stores is seeded by our process (pieces read from the stores as asked) and
//! downloaded by aria2c (peers from opentracker, the info hash whitelisted) and by libtorrent
//! (the printed magnet's `x.pe`), DHT, LSD and UPnP off everywhere.
//!
//! The info hash is checked against mktorrent's for the same bytes, name and piece length: the
//! tracker's whitelist is made from mktorrent's before our seeder runs.

#![cfg(feature = "torrent")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Swarm, flip_byte, pseudo_random, s};
use serde_json::Value;
use swarm_testservers::torrent::{Tracker, aria2c_fetch, info_hash, libtorrent_fetch};

/// Several hundred 4 KiB-shard chunks (16 KiB on average) and 12 pieces of 256 KiB, the last
/// one short: every piece spans many chunks, and chunks straddle piece boundaries.
const SIZE: usize = 3_000_017;
const PIECE_LOG2: u8 = 18;

/// A running `annex-swarm seed`, its JSON lines arriving on a channel.
struct SeedProc {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl SeedProc {
    fn start(swarm: &Swarm, args: &[&str]) -> SeedProc {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("annex-swarm"))
            .current_dir(swarm.dir.path())
            .arg("--swarm")
            .arg(&swarm.def)
            .args(["seed", "--json", "--no-dht", "--status-every", "1"])
            .args(args)
            .env_remove("ANNEX_SWARM_LOG")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start annex-swarm seed");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("seed printed `{line}`, not JSON: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        SeedProc { child, lines }
    }

    /// The next line whose `event` is `event`, within `within`.
    fn next(&self, event: &str, within: Duration) -> Value {
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if v["event"] == event => return v,
                Ok(_) => continue,
                Err(e) => panic!("no `{event}` line from the seeder within {within:?}: {e}"),
            }
        }
    }

    /// SIGINT, as Ctrl-C: the seeder reports and exits 0.
    fn interrupt(mut self) -> Value {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let stopped = self.next("stopped", Duration::from_secs(20));
        let until = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < until,
                "the seeder did not exit after SIGINT"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "the seeder exited with {status}");
        stopped
    }
}

impl Drop for SeedProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A locked annexed file as git-annex makes it: a symlink into `.git/annex/objects`, here
/// dangling (the content is in the swarm only).
fn annexed_link(dir: &Path, name: &str, key: &str) -> std::path::PathBuf {
    let link = dir.join(name);
    std::os::unix::fs::symlink(format!(".git/annex/objects/Xx/Yy/{key}/{key}"), &link).unwrap();
    link
}

#[test]
fn aria2c_and_libtorrent_download_swarm_content_equal_byte_for_byte() {
    let swarm = Swarm::new();
    let data = pseudo_random(SIZE, 0x5eed);
    let original = swarm.write_file("movie.bin", &data);
    let key = swarm.put(&original);

    // mktorrent's info hash for the same bytes, name and piece length: the tracker admits it.
    let port = swarm_testservers::free_port();
    let announce = format!("http://127.0.0.1:{port}/announce");
    let reference = swarm_testservers::torrent::make_torrent(
        &original,
        &swarm.path("mktorrent.torrent"),
        std::slice::from_ref(&announce),
        PIECE_LOG2,
    );
    let tracker = Tracker::start_on(port, &[&reference.info_hash]);

    let annexed = swarm.path("annexed");
    std::fs::create_dir_all(&annexed).unwrap();
    let link = annexed_link(&annexed, "movie.bin", &key);
    let torrents = swarm.path("torrents");
    // Listening on 127.0.0.1: librqbit cannot bind its tracker requests to another address,
    // and the tracker hands out the address requests come from.
    let seeder = SeedProc::start(
        &swarm,
        &[
            s(&link),
            "--tracker",
            &announce,
            "--listen",
            "127.0.0.1:0",
            "--torrent-out",
            s(&torrents),
        ],
    );
    let started = seeder.next("seeding", Duration::from_secs(60));
    assert_eq!(
        started["info_hash"],
        reference.info_hash.as_str(),
        "{started}"
    );
    assert_eq!(started["key"], key.as_str());
    assert_eq!(started["name"], "movie.bin");
    assert_eq!(started["size"], SIZE);
    assert_eq!(started["piece_length"], 1 << PIECE_LOG2);
    let torrent_file = torrents.join(format!("{key}.torrent"));
    assert_eq!(started["torrent"], s(&torrent_file));
    assert_eq!(
        info_hash(&std::fs::read(&torrent_file).unwrap()),
        reference.info_hash
    );
    let magnet = started["magnet"].as_str().unwrap().to_owned();
    let listen: std::net::SocketAddr = started["listen"].as_str().unwrap().parse().unwrap();
    assert!(magnet.contains(&format!("&x.pe={listen}")), "{magnet}");
    assert!(magnet.contains("&tr=http%3A%2F%2F127.0.0.1"), "{magnet}");
    // Adding the torrent did not hash the object through the stores again: librqbit checked
    // a sample of the 12 pieces (about four) against its fastresume bitfield. A full check
    // would have read all of it before any peer came.
    let before_peers = seeder.next("status", Duration::from_secs(10));
    let sampled = before_peers["torrents"][0]["swarm_read"].as_u64().unwrap();
    assert!(sampled > 0, "{before_peers}");
    assert!(sampled < SIZE as u64 * 3 / 4, "{before_peers}");
    assert_eq!(before_peers["torrents"][0]["uploaded"], 0);
    tracker.wait_for_seeder(&reference.info_hash);

    // aria2c: the .torrent we wrote, the seeder found through the tracker.
    let by_aria2 = tempfile::tempdir().unwrap();
    aria2c_fetch(
        "127.0.0.41",
        &torrent_file,
        by_aria2.path(),
        Duration::from_secs(60),
    );
    assert!(std::fs::read(by_aria2.path().join("movie.bin")).unwrap() == data);

    // libtorrent: the magnet as printed, its x.pe peer dialled.
    let by_lt = tempfile::tempdir().unwrap();
    libtorrent_fetch(
        "127.0.0.42",
        &magnet,
        by_lt.path(),
        Some(listen),
        Duration::from_secs(60),
    );
    assert!(std::fs::read(by_lt.path().join("movie.bin")).unwrap() == data);

    let stopped = seeder.interrupt();
    let t = &stopped["torrents"][0];
    let uploaded = t["uploaded"].as_u64().unwrap();
    let read = t["swarm_read"].as_u64().unwrap();
    // Both clients took every piece from us (neither seeded to the other: aria2c had left).
    assert!(uploaded >= 2 * SIZE as u64, "{stopped}");
    assert!(read > 0, "{stopped}");
    assert!(
        read as f64 <= 1.25 * uploaded as f64,
        "read {read} bytes from the stores to upload {uploaded}: {stopped}"
    );
    // The .torrent stays for the next run (the same key gives the same torrent).
    assert!(torrent_file.is_file());
}

#[test]
fn bad_input_fails_clearly_and_leaves_no_torrent() {
    let swarm = Swarm::new();
    let key = swarm.put(&swarm.write_file("there.bin", &pseudo_random(300_000, 7)));
    let out = swarm.path("torrents");
    let plain = swarm.write_file("plain.txt", b"not annexed\n");
    let absent_key = format!("SHA256E-s5--{}.bin", "ab".repeat(32));
    let empty_dir = swarm.path("adir");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&[&absent_key], "is not in the swarm"),
        (
            &["no/such/file.bin"],
            "no such file, and not a git-annex key",
        ),
        (&[s(&plain)], "is not an annexed file"),
        (&[s(&empty_dir)], "is not an annexed file"),
        // One good key and one missing: nothing is seeded, nothing written.
        (&[&key, &absent_key], "is not in the swarm"),
    ];
    for (items, says) in cases {
        let mut args = vec![
            "seed",
            "--no-dht",
            "--listen",
            "127.0.0.1:0",
            "--torrent-out",
            s(&out),
        ];
        args.extend_from_slice(items);
        let stderr = swarm.fail(&args);
        assert!(stderr.contains(says), "{items:?}: {stderr}");
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "{items:?} left a torrent in {}",
            out.display()
        );
    }
}

/// A store lost after the put: the data shards it held are nowhere, so the chunks they belong
/// to are restored whole from the other shards (any 4 of 6) and the content is still right.
#[test]
fn a_lost_store_is_read_around() {
    let swarm = Swarm::new();
    let data = pseudo_random(1_000_003, 0x1057);
    let key = swarm.put(&swarm.write_file("x.bin", &data));
    swarm.remove_store(0);
    let torrents = swarm.path("torrents");
    let seeder = SeedProc::start(
        &swarm,
        &[
            &key,
            "--listen",
            "127.0.0.43:0",
            "--torrent-out",
            s(&torrents),
        ],
    );
    let started = seeder.next("seeding", Duration::from_secs(60));
    let magnet = started["magnet"].as_str().unwrap().to_owned();
    let listen: std::net::SocketAddr = started["listen"].as_str().unwrap().parse().unwrap();
    assert_eq!(listen.ip().to_string(), "127.0.0.43");
    let by_lt = tempfile::tempdir().unwrap();
    libtorrent_fetch(
        "127.0.0.44",
        &magnet,
        by_lt.path(),
        Some(listen),
        Duration::from_secs(60),
    );
    // Named after the key, as the torrent is.
    assert!(std::fs::read(by_lt.path().join(&key)).unwrap() == data);
    let stopped = seeder.interrupt();
    assert!(stopped["torrents"][0]["uploaded"].as_u64().unwrap() >= data.len() as u64);
}

/// Downloads `key` from a seeder started with `extra` arguments on `seeder_ip` by libtorrent
/// on `client_ip`; checks the content; returns the seeder's `stopped` line's torrent.
fn seed_to_libtorrent(
    swarm: &Swarm,
    key: &str,
    data: &[u8],
    extra: &[&str],
    seeder_ip: &str,
    client_ip: &str,
) -> Value {
    let torrents = swarm.path("torrents");
    let listen = format!("{seeder_ip}:0");
    let mut args = vec![key, "--listen", &listen, "--torrent-out", s(&torrents)];
    args.extend_from_slice(extra);
    let seeder = SeedProc::start(swarm, &args);
    let started = seeder.next("seeding", Duration::from_secs(120));
    let magnet = started["magnet"].as_str().unwrap().to_owned();
    let listen: std::net::SocketAddr = started["listen"].as_str().unwrap().parse().unwrap();
    let by_lt = tempfile::tempdir().unwrap();
    libtorrent_fetch(
        client_ip,
        &magnet,
        by_lt.path(),
        Some(listen),
        Duration::from_secs(120),
    );
    assert!(std::fs::read(by_lt.path().join(key)).unwrap() == data);
    let stopped = seeder.interrupt();
    stopped["torrents"][0].clone()
}

/// A store that returns flipped bytes for every shard it holds: ranged reads of its data
/// shards give pieces whose SHA-1 does not match, so those parts are read again through the
/// checked path (its shards fail their BLAKE3, the chunks are restored from the others) and
/// the client still gets the right content (it would reject, not keep, a bad piece, so equal
/// content after one download also means none was sent).
#[test]
fn a_store_with_corrupted_shards_still_yields_correct_pieces() {
    let swarm = Swarm::new();
    let data = pseudo_random(1_000_003, 0xbad);
    let key = swarm.put(&swarm.write_file("x.bin", &data));
    let shards = swarm.shard_files(0);
    assert!(!shards.is_empty());
    for f in &shards {
        // Byte 0 is content in every data shard (the padding is at the end).
        flip_byte(f, Some(0));
    }
    let t = seed_to_libtorrent(&swarm, &key, &data, &[], "127.0.0.46", "127.0.0.47");
    assert!(t["uploaded"].as_u64().unwrap() >= data.len() as u64, "{t}");
    assert!(t["fallbacks"].as_u64().unwrap() > 0, "{t}");
}

/// Data shards of 1 MiB (chunks of about 4 MiB), pieces of 256 KiB, and a cache of four
/// pieces: the object is 12 times the cache and libtorrent takes pieces in random order. Each
/// piece is read by ranges once, so the stores are read about as much as is uploaded (reading
/// whole shards, as before, read 4.3 times as much in the benchmark).
#[test]
fn store_reads_follow_uploads_for_an_object_bigger_than_the_cache() {
    let swarm = Swarm::with_shard_size("1MiB");
    let data = pseudo_random(12 << 20, 0xcace);
    let key = swarm.put(&swarm.write_file("big.bin", &data));
    let t = seed_to_libtorrent(
        &swarm,
        &key,
        &data,
        &["--cache", "1MiB"],
        "127.0.0.48",
        "127.0.0.49",
    );
    let uploaded = t["uploaded"].as_u64().unwrap();
    let read = t["swarm_read"].as_u64().unwrap();
    assert!(uploaded >= data.len() as u64, "{t}");
    assert!(
        read as f64 <= 1.25 * uploaded as f64,
        "read {read} bytes from the stores to upload {uploaded}: {t}"
    );
    assert_eq!(t["fallbacks"], 0, "{t}");
}

/// Regression: a Ctrl-C while the seeder was still starting (opening the swarm, hashing) was
/// swallowed (something had already taken over SIGINT's default action) and the process
/// seeded on. Interrupted at any moment it now exits: before seeding with an error and no
/// .torrent, once seeding cleanly with it.
#[test]
fn ctrl_c_while_starting_is_not_lost() {
    let swarm = Swarm::new();
    let key = swarm.put(&swarm.write_file("x.bin", &pseudo_random(2_000_000, 9)));
    let torrents = swarm.path("torrents");
    for delay_ms in [0u64, 30, 150] {
        let mut seeder = SeedProc::start(
            &swarm,
            &[
                &key,
                "--listen",
                "127.0.0.45:0",
                "--torrent-out",
                s(&torrents),
            ],
        );
        std::thread::sleep(Duration::from_millis(delay_ms));
        let pid = seeder.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(st) = seeder.child.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < until,
                "SIGINT {delay_ms} ms after start was lost: still running"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let written = torrents.join(format!("{key}.torrent")).exists();
        assert!(
            status.success() == written || (status.code().is_none() && !written),
            "{delay_ms} ms: exit {status}, .torrent written: {written}"
        );
        let _ = std::fs::remove_dir_all(&torrents);
    }
}

/// `--no-seed`: the torrent is made and written, its magnet printed (trackers, no peer address),
/// and the command exits at once; the same torrent as a seeding run would write.
#[test]
fn no_seed_writes_the_torrent_and_exits() {
    let swarm = Swarm::new();
    let key = swarm.put(&swarm.write_file("made.bin", &pseudo_random(300_000, 9)));
    let out = swarm.path("torrents");
    let tracker = "http://127.0.0.1:1/announce";
    let json = swarm.ok(&[
        "seed",
        "--no-seed",
        "--json",
        "--tracker",
        tracker,
        "--torrent-out",
        s(&out),
        &key,
    ]);
    let made: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(made["event"], "made", "{json}");
    let info_hash = made["info_hash"].as_str().unwrap();
    let magnet = made["magnet"].as_str().unwrap();
    assert!(
        magnet.contains(&format!("urn:btih:{info_hash}")),
        "{magnet}"
    );
    assert!(magnet.contains("tr="), "{magnet}");
    assert!(!magnet.contains("x.pe="), "nothing seeds it: {magnet}");
    let file = std::fs::read(made["torrent"].as_str().unwrap()).unwrap();
    assert!(file.windows(tracker.len()).any(|w| w == tracker.as_bytes()));
    // The printed form: the magnet on stdout, nothing else.
    let plain = swarm.ok(&["seed", "--no-seed", "--torrent-out", s(&out), &key]);
    let plain = plain.trim();
    assert!(
        plain.starts_with(&format!("magnet:?xt=urn:btih:{info_hash}")),
        "{plain}"
    );
    assert!(!plain.contains('\n') && !plain.contains("tr="), "{plain}");
}
