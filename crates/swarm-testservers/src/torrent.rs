//! Real BitTorrent peers for the torrent tests, each on its own loopback address with DHT,
//! LPD and PEX off: [`Tracker`] (Debian's opentracker, which whitelists info hashes),
//! [`Seeder`] (aria2c, libtorrent from PyPI, or Debian's transmission-cli, seeding a
//! directory), and [`make_torrent`] (mktorrent).
//!
//! transmission-cli only seeds here: as a downloader on loopback it never connects to the
//! peers opentracker hands it (127.0.0.x; its peer count stays 0, as if it dropped loopback
//! addresses from trackers), while peers dialling it are served. Installed by `scripts/install-torrent-tools.sh` (libtorrent into a venv under
//! `$ANNEX_SWARM_TEST_TOOLS`, default `~/.cache/annex-swarm-test-tools/torrent-venv`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tempfile::TempDir;

use crate::{Proc, fail, find_binary, free_port, wait_for, with_retries};

const INSTALL: &str = "run scripts/install-torrent-tools.sh (as root)";

/// A torrent made by mktorrent: the file and its v1 info hash (lower-case hex).
pub struct MadeTorrent {
    pub path: PathBuf,
    pub info_hash: String,
}

/// Makes `out` (a .torrent file) of `content` (a file or a directory) with mktorrent, pieces of
/// 2^`piece_log2` bytes, announcing to `trackers`.
pub fn make_torrent(
    content: &Path,
    out: &Path,
    trackers: &[String],
    piece_log2: u8,
) -> MadeTorrent {
    let bin = find_binary("mktorrent", &[]);
    let mut cmd = Command::new(bin);
    for t in trackers {
        cmd.args(["-a", t]);
    }
    cmd.args(["-l", &piece_log2.to_string(), "-o"])
        .arg(out)
        .arg(content);
    let status = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("mktorrent: {e}; {INSTALL}")));
    assert!(
        status.status.success(),
        "mktorrent failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(out).expect("read the .torrent");
    MadeTorrent {
        path: out.to_owned(),
        info_hash: info_hash(&bytes),
    }
}

/// The v1 info hash: SHA-1 of the bencoded `info` dictionary's exact bytes.
pub fn info_hash(torrent: &[u8]) -> String {
    let (start, end) = info_span(torrent).expect("a .torrent with an info dictionary");
    let digest = Sha1::digest(&torrent[start..end]);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the top-level `info` value lies in a bencoded dictionary.
fn info_span(b: &[u8]) -> Option<(usize, usize)> {
    if b.first() != Some(&b'd') {
        return None;
    }
    let mut i = 1;
    while b.get(i)? != &b'e' {
        let (key, after_key) = string_at(b, i)?;
        let end = skip(b, after_key)?;
        if key == b"info" {
            return Some((after_key, end));
        }
        i = end;
    }
    None
}

fn string_at(b: &[u8], i: usize) -> Option<(&[u8], usize)> {
    let colon = i + b.get(i..)?.iter().position(|&c| c == b':')?;
    let n: usize = std::str::from_utf8(b.get(i..colon)?).ok()?.parse().ok()?;
    let start = colon + 1;
    Some((b.get(start..start + n)?, start + n))
}

/// The index just past the bencoded value at `i`.
fn skip(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'i' => Some(i + b.get(i..)?.iter().position(|&c| c == b'e')? + 1),
        b'l' | b'd' => {
            let mut j = i + 1;
            while b.get(j)? != &b'e' {
                j = skip(b, j)?;
            }
            Some(j + 1)
        }
        _ => string_at(b, i).map(|(_, end)| end),
    }
}

/// opentracker on 127.0.0.1:PORT, answering for the whitelisted info hashes only.
pub struct Tracker {
    _dir: TempDir,
    pub port: u16,
    _proc: Proc,
}

impl Tracker {
    /// On a free port.
    pub fn start(info_hashes: &[&str]) -> Tracker {
        Tracker::start_on(free_port(), info_hashes)
    }

    /// On `port` (a torrent names its tracker's URL before the tracker starts).
    pub fn start_on(port: u16, info_hashes: &[&str]) -> Tracker {
        let bin = find_binary("opentracker", &[]);
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-tracker.")
            .tempdir()
            .expect("tempdir");
        std::fs::write(dir.path().join("whitelist"), info_hashes.join("\n") + "\n")
            .expect("whitelist");
        let log = dir.path().join("log");
        let mut proc = Proc::not_started(false);
        with_retries("opentracker", || {
            let mut cmd = Command::new(&bin);
            cmd.args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-P",
                &port.to_string(),
            ])
            .arg("-d")
            .arg(dir.path())
            .args(["-w", "whitelist"]);
            proc = Proc::spawn(cmd, &log, false);
            wait_for("opentracker", &log, Duration::from_secs(5), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
        });
        Tracker {
            _dir: dir,
            port,
            _proc: proc,
        }
    }

    /// Waits (up to 30 s) until the tracker knows a seeder of `info_hash` (a scrape).
    pub fn wait_for_seeder(&self, info_hash: &str) {
        use std::io::{Read, Write};
        let escaped: String = (0..info_hash.len() / 2)
            .map(|i| format!("%{}", &info_hash[2 * i..2 * i + 2]))
            .collect();
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = write!(s, "GET /scrape?info_hash={escaped} HTTP/1.0\r\n\r\n");
                let mut body = Vec::new();
                let _ = s.read_to_end(&mut body);
                let text = String::from_utf8_lossy(&body);
                if text.contains("8:completei") && !text.contains("8:completei0e") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("test server: no seeder of {info_hash} announced to the tracker within 30 s");
    }

    pub fn announce_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }
}

/// A seeder of torrents whose content is in a directory, bound to one 127.0.0.x, announcing to
/// their trackers; DHT, LPD and PEX off.
pub struct Seeder {
    _log: TempDir,
    pub addr: std::net::SocketAddr,
    proc: Proc,
    /// Processes seeding the other torrents, for a client that takes one torrent a process.
    more: Vec<Proc>,
}

/// Which client seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Aria2c,
    /// libtorrent 2.1 (PyPI), scripted by `lt_seeder.py`; uTP off.
    Libtorrent,
    /// transmission-cli 3.00 (Debian), one process a torrent; uTP and encryption off.
    Transmission,
}

/// The Python of the venv holding libtorrent.
fn libtorrent_python() -> PathBuf {
    if let Some(p) = std::env::var_os("ANNEX_SWARM_LIBTORRENT_PYTHON") {
        return PathBuf::from(p);
    }
    let tools = std::env::var_os("ANNEX_SWARM_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/annex-swarm-test-tools")
        });
    let p = tools.join("torrent-venv/bin/python");
    if !p.is_file() {
        fail(&format!("no libtorrent venv at {}; {INSTALL}", p.display()));
    }
    p
}

impl Seeder {
    pub fn start(client: Client, ip: &str, dir: &Path, torrents: &[&Path]) -> Seeder {
        match client {
            Client::Aria2c => Seeder::aria2c(ip, dir, torrents),
            Client::Libtorrent => Seeder::libtorrent(ip, dir, torrents),
            Client::Transmission => Seeder::transmission(ip, dir, torrents),
        }
    }

    /// transmission-cli seeding each of `torrents` from `dir` (one process each, on ports of
    /// its own; [`Seeder::addr`] is the first's). It checks the data first, then announces
    /// as a seeder. It unchokes peers every 10 s, so a download may wait that long to start.
    pub fn transmission(ip: &str, dir: &Path, torrents: &[&Path]) -> Seeder {
        let logdir = tempfile::Builder::new()
            .prefix("annex-swarm-transmission.")
            .tempdir()
            .expect("tempdir");
        let mut procs = Vec::new();
        let mut first = None;
        for (i, torrent) in torrents.iter().enumerate() {
            let config = logdir.path().join(format!("config{i}"));
            let (proc, port) = transmission(ip, &config, dir, torrent);
            first.get_or_insert(port);
            procs.push(proc);
        }
        let port = first.expect("at least one torrent");
        let proc = procs.remove(0);
        Seeder {
            _log: logdir,
            addr: format!("{ip}:{port}").parse().expect("address"),
            proc,
            more: procs,
        }
    }

    pub fn libtorrent(ip: &str, dir: &Path, torrents: &[&Path]) -> Seeder {
        let python = libtorrent_python();
        let logdir = tempfile::Builder::new()
            .prefix("annex-swarm-libtorrent.")
            .tempdir()
            .expect("tempdir");
        let script = logdir.path().join("lt_seeder.py");
        std::fs::write(&script, include_str!("lt_seeder.py")).expect("script");
        let log = logdir.path().join("log");
        let mut port = 0;
        let mut proc = Proc::not_started(false);
        with_retries("libtorrent seeder", || {
            port = free_port();
            let mut cmd = Command::new(&python);
            cmd.arg(&script)
                .args([ip, &port.to_string()])
                .arg(dir)
                .args(torrents);
            proc = Proc::spawn(cmd, &log, false);
            wait_for("libtorrent seeder", &log, Duration::from_secs(30), || {
                std::fs::read_to_string(&log).is_ok_and(|t| t.contains("READY"))
            })
        });
        Seeder {
            _log: logdir,
            addr: format!("{ip}:{port}").parse().expect("address"),
            proc,
            more: Vec::new(),
        }
    }

    pub fn aria2c(ip: &str, dir: &Path, torrents: &[&Path]) -> Seeder {
        let bin = find_binary("aria2c", &[]);
        let logdir = tempfile::Builder::new()
            .prefix("annex-swarm-aria2.")
            .tempdir()
            .expect("tempdir");
        let log = logdir.path().join("log");
        let mut port = 0;
        let mut proc = Proc::not_started(false);
        with_retries("aria2c", || {
            port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("--dir={}", dir.display()))
                .args([
                    "--seed-ratio=0.0",
                    "--enable-dht=false",
                    "--enable-dht6=false",
                    "--disable-ipv6=true",
                    "--bt-enable-lpd=false",
                    "--enable-peer-exchange=false",
                    "--bt-seed-unverified=true",
                    "--summary-interval=0",
                    "--console-log-level=notice",
                    "--bt-tracker-interval=1",
                ])
                .arg(format!("--listen-port={port}"))
                .arg(format!("--interface={ip}"))
                .args(torrents);
            proc = Proc::spawn(cmd, &log, false);
            wait_for("aria2c", &log, Duration::from_secs(30), || {
                std::net::TcpStream::connect((ip, port)).is_ok()
            })
        });
        Seeder {
            _log: logdir,
            addr: format!("{ip}:{port}").parse().expect("address"),
            proc,
            more: Vec::new(),
        }
    }

    pub fn stop(&mut self) {
        self.proc.stop();
        for p in &mut self.more {
            p.stop();
        }
    }
}

/// transmission-cli seeding `torrent` from `dir`, its settings in the fresh directory
/// `config`: peers on `ip` only (its tracker requests too), DHT, LPD, PEX, uTP, port mapping
/// and encryption off, no seeding limit. Once it listens: the process and its port.
fn transmission(ip: &str, config: &Path, dir: &Path, torrent: &Path) -> (Proc, u16) {
    let what = "transmission seeder";
    let bin = find_binary("transmission-cli", &[]);
    let mut port = 0;
    let mut proc = Proc::not_started(false);
    with_retries(what, || {
        port = free_port();
        // A fresh directory each try: a resume file left by a stopped process can make it
        // believe it holds nothing.
        let _ = std::fs::remove_dir_all(config);
        std::fs::create_dir_all(config).expect("mkdir");
        let settings = format!(
            r#"{{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
"utp-enabled": false, "port-forwarding-enabled": false, "encryption": 0,
"bind-address-ipv4": "{ip}", "bind-address-ipv6": "::1", "peer-port": {port},
"peer-port-random-on-start": false, "ratio-limit-enabled": false,
"idle-seeding-limit-enabled": false, "speed-limit-up-enabled": false,
"message-level": 2}}"#
        );
        std::fs::write(config.join("settings.json"), settings).expect("settings");
        let mut cmd = Command::new(&bin);
        cmd.arg("-g")
            .arg(config)
            .arg("-w")
            .arg(dir)
            .args(["-p", &port.to_string()])
            .arg(torrent);
        proc = Proc::spawn(cmd, &config.join("log"), false);
        wait_for(what, &config.join("log"), Duration::from_secs(30), || {
            std::net::TcpStream::connect((ip, port)).is_ok()
        })
    });
    (proc, port)
}

/// Bytes that do not compress or repeat, the same for the same seed.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The files every torrent test downloads: a single-file torrent and a multi-file one of four
/// files (paths with a space in a subdirectory, a file smaller than a piece), 64 KiB pieces.
pub const SINGLE: (&str, usize) = ("single.bin", 3_000_000);
pub const MULTI_NAME: &str = "multi";
pub const MULTI: [(&str, usize); 4] = [
    ("a.bin", 1_000_000),
    ("sub dir/b.txt", 700_001),
    ("c.txt", 3),
    ("sub dir/d.bin", 200_000),
];
pub const PIECE_LOG2: u8 = 16;

/// A tracker and a seeder (on `seeder_ip`) of the [`SINGLE`] and [`MULTI`] torrents.
pub struct Rig {
    pub dir: TempDir,
    pub single: MadeTorrent,
    pub multi: MadeTorrent,
    pub tracker: Tracker,
    pub seeder: Seeder,
}

impl Rig {
    /// Seeded by aria2c.
    pub fn start(seeder_ip: &str) -> Rig {
        Rig::start_with(Client::Aria2c, seeder_ip)
    }

    pub fn start_with(client: Client, seeder_ip: &str) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-torrents.")
            .tempdir()
            .expect("tempdir");
        let seed = dir.path().join("seed");
        std::fs::create_dir_all(seed.join(MULTI_NAME)).expect("mkdir");
        std::fs::write(seed.join(SINGLE.0), content(SINGLE.1, 1)).expect("write");
        for (i, (path, len)) in MULTI.iter().enumerate() {
            let p = seed.join(MULTI_NAME).join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, content(*len, 10 + i as u64)).expect("write");
        }
        // The tracker's URL must be in the torrents, and its whitelist needs their hashes:
        // pick the port first, make the torrents, then start it there.
        let port = free_port();
        let announce = vec![format!("http://127.0.0.1:{port}/announce")];
        let single = make_torrent(
            &seed.join(SINGLE.0),
            &dir.path().join("single.torrent"),
            &announce,
            PIECE_LOG2,
        );
        let multi = make_torrent(
            &seed.join(MULTI_NAME),
            &dir.path().join("multi.torrent"),
            &announce,
            PIECE_LOG2,
        );
        let tracker = Tracker::start_on(port, &[&single.info_hash, &multi.info_hash]);
        let seeder = Seeder::start(client, seeder_ip, &seed, &[&single.path, &multi.path]);
        // A client that asks the tracker before the seeder announced would wait out the
        // tracker's interval: ready once the tracker counts a seeder of each torrent.
        for t in [&single, &multi] {
            tracker.wait_for_seeder(&t.info_hash);
        }
        Rig {
            dir,
            single,
            multi,
            tracker,
            seeder,
        }
    }

    /// A file's content as seeded: `SINGLE.0`, or `multi/<path>`.
    pub fn expected(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join("seed").join(path)).expect("seeded file")
    }

    /// A magnet for `torrent` with the tracker (`tr=`) and/or the seeder (`x.pe=`).
    pub fn magnet(&self, torrent: &MadeTorrent, tracker: bool, peer: bool) -> String {
        let mut m = format!("magnet:?xt=urn:btih:{}", torrent.info_hash);
        if tracker {
            m.push_str(&format!(
                "&tr=http%3A%2F%2F127.0.0.1%3A{}%2Fannounce",
                self.tracker.port
            ));
        }
        if peer {
            m.push_str(&format!("&x.pe={}", self.seeder.addr));
        }
        m
    }
}

/// A minimal HTTP/1.0 server on 127.0.0.1 handing out the files of one directory (GET only),
/// for `.torrent` URLs. Its thread ends with the test process.
pub struct FileServer {
    pub port: u16,
}

impl FileServer {
    pub fn start(dir: &Path) -> FileServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let dir = dir.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                // Percent-decoded, as servers do (`x%2Etorrent` is `x.torrent`).
                let name = decode(path.trim_start_matches('/'));
                let mut w = &stream;
                match std::fs::read(dir.join(name)) {
                    Ok(body) => {
                        let _ = write!(
                            w,
                            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/x-bittorrent\r\n\r\n",
                            body.len()
                        );
                        let _ = w.write_all(&body);
                    }
                    Err(_) => {
                        let _ = write!(w, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            }
        });
        FileServer { port }
    }

    /// The URL of `name` in the directory.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (c, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a client's download took.
#[derive(Debug)]
pub struct Fetched {
    pub seconds: f64,
}

/// Downloads `source` (a .torrent path or a magnet) into `dir` with libtorrent bound to `ip`,
/// dialling `peer` at once (`None`: the trackers only). Panics with the client's stderr on
/// failure or after `timeout`.
pub fn libtorrent_fetch(
    ip: &str,
    source: &str,
    dir: &Path,
    peer: Option<std::net::SocketAddr>,
    timeout: Duration,
) -> Fetched {
    let python = libtorrent_python();
    let scripts = tempfile::Builder::new()
        .prefix("annex-swarm-lt-fetch.")
        .tempdir()
        .expect("tempdir");
    let script = scripts.path().join("lt_fetch.py");
    std::fs::write(&script, include_str!("lt_fetch.py")).expect("script");
    let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
    let out = Command::new(python)
        .arg(&script)
        .args([ip, source])
        .arg(dir)
        .args([&peer, &timeout.as_secs().to_string()])
        .output()
        .unwrap_or_else(|e| fail(&format!("libtorrent: {e}; {INSTALL}")));
    assert!(
        out.status.success(),
        "libtorrent download of {source} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let seconds = text
        .split("\"seconds\": ")
        .nth(1)
        .and_then(|r| r.split([',', '}']).next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("libtorrent printed no report: {text}"));
    Fetched { seconds }
}

/// Downloads the torrent file `torrent` into `dir` with aria2c bound to `ip` (peers from the
/// torrent's trackers), and exits when done. Panics with aria2c's output on failure or after
/// `timeout`.
pub fn aria2c_fetch(ip: &str, torrent: &Path, dir: &Path, timeout: Duration) -> Fetched {
    let bin = find_binary("aria2c", &[]);
    let start = std::time::Instant::now();
    let mut child = Command::new(bin)
        .arg(format!("--dir={}", dir.display()))
        .args([
            "--seed-time=0",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--disable-ipv6=true",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--bt-tracker-interval=1",
            "--file-allocation=none",
        ])
        .arg(format!("--listen-port={}", free_port()))
        .arg(format!("--interface={ip}"))
        .arg(format!("--bt-stop-timeout={}", timeout.as_secs()))
        .arg(torrent)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("aria2c: {e}; {INSTALL}")));
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if start.elapsed() > timeout + Duration::from_secs(10) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("aria2c output");
    assert!(
        out.status.success(),
        "aria2c download of {} failed ({:?}): {}{}",
        torrent.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Fetched {
        seconds: start.elapsed().as_secs_f64(),
    }
}
