//! Node processes for the integration tests: keys made by `node init`, `node run` on
//! 127.0.0.1 only, definitions listing them, the CLI as their client, and what they hold.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A node process, killed when dropped.
pub struct NodeProcess {
    pub child: Child,
    pub addr: String,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn bin() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("annex-swarm"));
    cmd.env_remove("ANNEX_SWARM")
        .env_remove("ANNEX_SWARM_KEY")
        .env_remove("ANNEX_SWARM_LOG")
        .env("RUST_BACKTRACE", "0");
    // Debugging a test: RIG_LOG gives the nodes a log filter (their logs are node{i}.log,
    // kept with RIG_KEEP).
    if let Some(filter) = std::env::var_os("RIG_LOG") {
        cmd.env("ANNEX_SWARM_LOG", filter);
    }
    cmd
}

/// `node init --key PATH`: the new node id.
pub fn new_key(path: &Path) -> String {
    let out = bin()
        .args(["node", "init", "--key"])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Starts `node run` on 127.0.0.1, port 0, and waits for its "listening on" line.
pub fn start_node(def: &Path, key: &Path) -> NodeProcess {
    let mut child = bin()
        .arg("--swarm")
        .arg(def)
        .args(["node", "run", "--listen", "127.0.0.1:0", "--key"])
        .arg(key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split(" listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    NodeProcess { child, addr }
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub ids: Vec<String>,
    pub client_key: PathBuf,
    pub client_id: String,
}

impl Rig {
    pub fn new(nodes: usize) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-nodes.")
            .disable_cleanup(std::env::var_os("RIG_KEEP").is_some())
            .tempdir()
            .unwrap();
        let ids = (0..nodes)
            .map(|i| new_key(&dir.path().join(format!("node{i}.key"))))
            .collect();
        let client_key = dir.path().join("client.key");
        let client_id = new_key(&client_key);
        Rig {
            dir,
            ids,
            client_key,
            client_id,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A format-2 definition: the nodes (with `addrs` when given), the client as admin, a
    /// peer store per node and `locals` local directories.
    pub fn definition(&self, addrs: &[String], locals: usize, k: u16, m: u16) -> String {
        let mut t = format!(
            "format = 2\nswarm = \"00112233445566778899aabbccddeeff\"\nversion = 1\n\n[coding]\nk = {k}\nm = {m}\nshard_size = \"64KiB\"\n"
        );
        for (i, id) in self.ids.iter().enumerate() {
            t.push_str(&format!(
                "\n[[node]]\nname = \"n{i}\"\nkey = \"{id}\"\nstore = \"{}\"\n",
                self.path(&format!("node{i}-store")).display()
            ));
            if let Some(a) = addrs.get(i) {
                t.push_str(&format!("addrs = [\"{a}\"]\n"));
            }
        }
        t.push_str(&format!(
            "\n[[client]]\nname = \"me\"\nkey = \"{}\"\nrole = \"admin\"\n",
            self.client_id
        ));
        for (i, id) in self.ids.iter().enumerate() {
            t.push_str(&format!(
                "\n[[store]]\nid = \"n{i}\"\nurl = \"peer://{id}\"\n"
            ));
        }
        for i in 0..locals {
            t.push_str(&format!(
                "\n[[store]]\nid = \"l{i}\"\nurl = \"{}\"\n",
                self.path(&format!("local{i}")).display()
            ));
        }
        t
    }

    /// Starts every node from the definition without addresses (they listen where told), then
    /// writes the client's definition with the addresses they took.
    pub fn start(&self, locals: usize, k: u16, m: u16) -> (Vec<NodeProcess>, PathBuf) {
        let node_def = self.path("nodes-definition.toml");
        std::fs::write(&node_def, self.definition(&[], locals, k, m)).unwrap();
        let nodes: Vec<NodeProcess> = (0..self.ids.len())
            .map(|i| start_node(&node_def, &self.path(&format!("node{i}.key"))))
            .collect();
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
        let def = self.path("swarm.toml");
        std::fs::write(&def, self.definition(&addrs, locals, k, m)).unwrap();
        for i in 0..locals {
            std::fs::create_dir_all(self.path(&format!("local{i}"))).unwrap();
        }
        (nodes, def)
    }

    pub fn cli(&self, def: &Path, key: &Path, args: &[&str]) -> std::process::Output {
        bin()
            .arg("--swarm")
            .arg(def)
            .env("ANNEX_SWARM_KEY", key)
            .args(args)
            .output()
            .unwrap()
    }

    /// Writes `data` to `name` in the rig's directory and puts it through `def`: its key.
    pub fn put(&self, def: &Path, name: &str, data: &[u8]) -> String {
        let file = self.path(name);
        std::fs::write(&file, data).unwrap();
        self.ok(def, &["put", file.to_str().unwrap()])
            .trim()
            .to_owned()
    }

    /// Gets `key` through `def` into `name` and checks its bytes are `data`.
    pub fn get_same(&self, def: &Path, key: &str, name: &str, data: &[u8]) {
        let out = self.path(name);
        self.ok(def, &["get", key, out.to_str().unwrap()]);
        assert!(
            std::fs::read(&out).unwrap() == data,
            "{name}: restored bytes differ"
        );
    }

    /// Asserts each of the first `nodes` nodes holds at least one shard.
    pub fn assert_nodes_hold_shards(&self, nodes: usize) {
        for i in 0..nodes {
            let held = count_files(&self.path(&format!("node{i}-store/shards")));
            assert!(held > 0, "node {i} holds no shard");
        }
    }

    pub fn ok(&self, def: &Path, args: &[&str]) -> String {
        let out = self.cli(def, &self.client_key, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Files in a directory tree, recursively.
pub fn count_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { count_files(&p) } else { 1 }
        })
        .sum()
}

/// A free UDP port on 127.0.0.1 (the nodes of a definition listen where it says).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A definition of `nodes` nodes at `ports`, the rig's client as admin, version `version`.
pub fn spread_definition(rig: &Rig, nodes: usize, ports: &[u16], version: u64) -> String {
    let mut t = format!(
        "format = 2\nswarm = \"00112233445566778899aabbccddeeff\"\nversion = {version}\n\n[coding]\nk = 2\nm = 1\n"
    );
    for (i, id) in rig.ids.iter().take(nodes).enumerate() {
        t.push_str(&format!(
            "\n[[node]]\nname = \"n{i}\"\nkey = \"{id}\"\naddrs = [\"127.0.0.1:{}\"]\nstore = \"{}\"\n",
            ports[i],
            rig.path(&format!("node{i}-store")).display()
        ));
    }
    t.push_str(&format!(
        "\n[[client]]\nname = \"me\"\nkey = \"{}\"\nrole = \"admin\"\n",
        rig.client_id
    ));
    for (i, id) in rig.ids.iter().take(nodes).enumerate() {
        t.push_str(&format!(
            "\n[[store]]\nid = \"n{i}\"\nurl = \"peer://{id}\"\n"
        ));
    }
    t
}

/// `ssh-keygen -Y sign -n annex-swarm-definition` of `file` with `key`: writes `file.sig`.
pub fn ssh_sign(key: &Path, file: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-Y", "sign", "-n", "annex-swarm-definition", "-f"])
        .arg(key)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen: {out:?}");
}

/// Node `i` started from its own copy of a definition, listening at its port, logging (-v) to
/// `node{i}.log`.
pub fn start_from(rig: &Rig, i: usize, port: u16) -> NodeProcess {
    spawn_node(rig, i, port, &["--replicate-every", "1s"]).0
}

/// `node run` of node `i` from `node{i}.toml` with `args`, logging (-v) to `node{i}.log`, once
/// it says it listens on `port`: the process and its further stdout lines.
fn spawn_node(
    rig: &Rig,
    i: usize,
    port: u16,
    args: &[&str],
) -> (
    NodeProcess,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(rig.path(&format!("node{i}.log")))
        .unwrap();
    let mut child = bin()
        .arg("--swarm")
        .arg(rig.path(&format!("node{i}.toml")))
        .args(["-v", "node", "run"])
        .args(args)
        .arg("--key")
        .arg(rig.path(&format!("node{i}.key")))
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains(&format!("127.0.0.1:{port}")), "{first:?}");
    let node = NodeProcess {
        child,
        addr: format!("127.0.0.1:{port}"),
    };
    (node, lines)
}

/// Node `i` as [`start_from`], replicating every `every` (a round also starts when a manifest
/// arrives), with its status page on 127.0.0.1: the process and the page's address.
pub fn start_with_status(rig: &Rig, i: usize, port: u16, every: &str) -> (NodeProcess, String) {
    let (node, mut lines) = spawn_node(
        rig,
        i,
        port,
        &["--status", "127.0.0.1:0", "--replicate-every", every],
    );
    let second = lines.next().unwrap().unwrap();
    let status = second
        .strip_prefix("status page on http://")
        .unwrap_or_else(|| panic!("{second:?}"))
        .trim_end_matches('/')
        .to_owned();
    (node, status)
}

/// Writes `text` as every one of the first `n` nodes' definition and starts them with their
/// status pages, replicating every `every`.
pub fn start_all_with_status(
    rig: &Rig,
    text: &str,
    ports: &[u16],
    every: &str,
) -> Vec<(NodeProcess, String)> {
    for i in 0..ports.len() {
        std::fs::write(rig.path(&format!("node{i}.toml")), text).unwrap();
    }
    (0..ports.len())
        .map(|i| start_with_status(rig, i, ports[i], every))
        .collect()
}

/// `GET path` on `addr` over plain HTTP/1.1: the body.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The page as Chromium renders it, scripts run.
pub fn rendered(url: &str, profile: &std::path::Path) -> String {
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--metrics-recording-only",
            // Nothing but loopback leaves: everything else goes to a proxy that is not there.
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=127.0.0.1",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .expect("chromium (Debian's package) is installed by scripts/test.sh");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A node's `/status.json`.
pub fn status_of(addr: &str) -> serde_json::Value {
    serde_json::from_str(&http_get(addr, "/status.json")).unwrap()
}

/// The version node `i` holds, from the file it keeps its definition in.
pub fn held_version(rig: &Rig, i: usize) -> u64 {
    let text = std::fs::read_to_string(rig.path(&format!("node{i}.toml"))).unwrap();
    swarm_core::definition::SwarmDefinition::parse(&text)
        .unwrap()
        .version
}

/// Waits up to `limit` for every node of `nodes` to hold `version`; the time it took.
pub fn until_held(
    rig: &Rig,
    nodes: &[usize],
    version: u64,
    limit: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let behind: Vec<usize> = nodes
            .iter()
            .copied()
            .filter(|&i| held_version(rig, i) != version)
            .collect();
        if behind.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "nodes {behind:?} do not hold version {version} after {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The sockets of process `pid` that are bound or connected outside 127.0.0.0/8, as
/// "proto local -> remote" (from /proc: the process's socket inodes looked up in its network
/// namespace's tables). An IPv6 socket counts unless it is an IPv4-mapped loopback address.
pub fn sockets_outside_loopback(pid: u32) -> Vec<String> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    assert!(!inodes.is_empty(), "process {pid} has no socket at all");
    let mut outside = Vec::new();
    let mut seen = 0;
    for proto in ["tcp", "udp", "tcp6", "udp6"] {
        let table = std::fs::read_to_string(format!("/proc/{pid}/net/{proto}")).unwrap();
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || !inodes.contains(f[9]) {
                continue;
            }
            seen += 1;
            let (local, remote) = (proc_ip(f[1]), proc_ip(f[2]));
            let ok = |ip: &std::net::IpAddr, may_be_unset: bool| match ip {
                std::net::IpAddr::V4(v4) => {
                    v4.is_loopback() || (may_be_unset && v4.is_unspecified())
                }
                std::net::IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || (may_be_unset && v4.is_unspecified())),
            };
            if !ok(&local, false) || !ok(&remote, true) {
                outside.push(format!("{proto} {local} -> {remote}"));
            }
        }
    }
    assert!(seen > 0, "none of process {pid}'s sockets is an IP socket");
    outside
}

/// An address of /proc/net/{tcp,udp}[6]: hex words in the kernel's byte order (x86: little-endian).
fn proc_ip(field: &str) -> std::net::IpAddr {
    let hex = field.split(':').next().unwrap();
    let word = |i: usize| {
        u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16)
            .unwrap()
            .to_le_bytes()
    };
    if hex.len() == 8 {
        std::net::IpAddr::from(word(0))
    } else {
        let mut b = [0u8; 16];
        for i in 0..4 {
            b[i * 4..i * 4 + 4].copy_from_slice(&word(i));
        }
        std::net::IpAddr::from(b)
    }
}
