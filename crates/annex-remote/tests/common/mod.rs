//! Shared fixtures: a swarm of local stores in a temporary directory, and a conversation with
//! the remote over in-memory pipes, played from git-annex's side.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use annex_remote::config::{Params, encode_definition, new_definition};
use annex_remote::{Options, Remote};
use swarm_core::definition::SwarmDefinition;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

pub const STORES: usize = 6;
const TIMEOUT: Duration = Duration::from_secs(30);

/// A 4 + 2 swarm over six stores (4 KiB shards so small files span chunks), set up as
/// INITREMOTE would, with a work directory for the files git-annex would hand over.
pub struct Fixture {
    pub dir: TempDir,
    pub stores: Vec<PathBuf>,
    pub def: SwarmDefinition,
    /// The value of `swarmdefinition` in remote.log.
    pub embedded: String,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("annex-remote-test.")
            .tempdir()
            .unwrap();
        let stores: Vec<PathBuf> = (1..=STORES)
            .map(|i| dir.path().join(format!("store{i}")))
            .collect();
        let list: Vec<&str> = stores.iter().map(|p| p.to_str().unwrap()).collect();
        let params = Params {
            stores: Some(list.join(",")),
            k: Some("4".into()),
            m: Some("2".into()),
            shard_size: Some("4KiB".into()),
            ..Params::default()
        };
        let def = new_definition(&params).unwrap();
        // On a thread of its own: tests call this from inside their runtime.
        let stores_def = def.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(swarm_engine::admin::create_stores(
                &stores_def,
                swarm_engine::credentials::default_source(),
                &swarm_engine::Kinds::builtin(),
            ))
            .unwrap();
        })
        .join()
        .unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        let embedded = encode_definition(&def);
        Fixture {
            dir,
            stores,
            def,
            embedded,
        }
    }

    /// A file in the work directory with `content`; returns its path.
    pub fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.work(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn work(&self, name: &str) -> PathBuf {
        self.dir.path().join("work").join(name)
    }

    /// Makes a store unavailable (as a disk that is gone).
    pub fn destroy_store(&self, i: usize) {
        std::fs::remove_dir_all(&self.stores[i]).unwrap();
    }
}

/// The SHA256E key git-annex would give `content` in a file named `name`.
pub fn sha256e(content: &[u8], name: &str) -> String {
    String::from_utf8(sha256e_bytes(content, name.as_bytes())).unwrap()
}

/// The same for a file name that need not be UTF-8: the key's bytes.
pub fn sha256e_bytes(content: &[u8], name: &[u8]) -> Vec<u8> {
    use swarm_core::key::{Backend, Key};
    let mut h = Backend::sha256e().hasher().unwrap();
    h.update(content);
    Key::from_content(
        Backend::sha256e(),
        &h.finalize(),
        content.len() as u64,
        name,
    )
    .unwrap()
    .as_bytes()
    .to_vec()
}

/// Deterministic bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 31 + u64::from(seed) * 7 + (i as u64 >> 9)) as u8)
        .collect()
}

/// git-annex's side of a conversation with the remote, run on its own thread and runtime as
/// the binary runs it.
pub struct Annex {
    to_remote: DuplexStream,
    from_remote: BufReader<DuplexStream>,
    session: std::thread::JoinHandle<Result<(), String>>,
}

impl Annex {
    pub fn start(options: Options) -> Self {
        Annex::start_with(options, Remote::new())
    }

    /// Started over `remote` (e.g. one with its own credential source).
    pub fn start_with(options: Options, remote: Remote) -> Self {
        let (to_remote, remote_in) = tokio::io::duplex(1 << 16);
        let (remote_out, from_remote) = tokio::io::duplex(1 << 16);
        let session = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(annex_remote::run(
                BufReader::new(remote_in),
                remote_out,
                Arc::new(remote),
                options,
            ))
            .map_err(|e| e.to_string())
        });
        Annex {
            to_remote,
            from_remote: BufReader::new(from_remote),
            session,
        }
    }

    /// Started, VERSION read, EXTENSIONS answered (with `offered`).
    pub async fn negotiated(offered: &str, expect: &str) -> Self {
        let mut a = Annex::start(Options::default());
        a.expect("VERSION 1").await;
        a.send(&format!("EXTENSIONS {offered}")).await;
        a.expect(expect).await;
        a
    }

    /// Negotiated without ASYNC, then prepared over `fixture`'s swarm.
    pub async fn prepared(fixture: &Fixture) -> Self {
        let mut a =
            Annex::negotiated("INFO GETGITREMOTENAME", "EXTENSIONS INFO GETGITREMOTENAME").await;
        a.send("PREPARE").await;
        a.expect("GETCONFIG swarmdefinition").await;
        a.send(&format!("VALUE {}", fixture.embedded)).await;
        let mut line = a.recv().await;
        if line.starts_with("DEBUG stores unavailable: store ") {
            line = a.recv().await;
        }
        assert_eq!(line, "PREPARE-SUCCESS");
        a
    }

    pub async fn send(&mut self, line: &str) {
        self.send_bytes(line.as_bytes()).await;
    }

    /// Sends one line of any bytes (its newline added).
    pub async fn send_bytes(&mut self, line: &[u8]) {
        self.to_remote.write_all(line).await.unwrap();
        self.to_remote.write_all(b"\n").await.unwrap();
    }

    /// The next line, which must be UTF-8.
    pub async fn recv(&mut self) -> String {
        let line = self.recv_bytes().await;
        String::from_utf8(line).unwrap_or_else(|e| panic!("reply is not UTF-8: {e}"))
    }

    /// The next line's bytes, without its newline.
    pub async fn recv_bytes(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        match tokio::time::timeout(TIMEOUT, self.from_remote.read_until(b'\n', &mut line)).await {
            Ok(Ok(0)) => panic!("the remote closed its output"),
            Ok(Ok(_)) => {
                assert_eq!(line.pop(), Some(b'\n'), "a reply without its newline");
                line
            }
            Ok(Err(e)) => panic!("reading from the remote: {e}"),
            Err(_) => panic!("no line from the remote within {TIMEOUT:?}"),
        }
    }

    /// Answers, with none, the `GETURLS` the remote sends for a key the swarm lacks (it looks
    /// for torrent URLs); `tag` is the job prefix (`J 2 `) or empty. Without the `torrent`
    /// feature nothing is asked.
    pub async fn no_urls(&mut self, tag: &str, key: &[u8]) {
        if cfg!(feature = "torrent") {
            self.expect_bytes(&[tag.as_bytes(), b"GETURLS ", key, b" "].concat())
                .await;
            self.send_bytes(&[tag.as_bytes(), b"VALUE "].concat()).await;
        }
    }

    pub async fn expect(&mut self, line: &str) {
        assert_eq!(self.recv().await, line);
    }

    /// Expects a line of exactly these bytes.
    pub async fn expect_bytes(&mut self, line: &[u8]) {
        let got = self.recv_bytes().await;
        assert!(
            got == line,
            "expected {:?}, got {:?}",
            String::from_utf8_lossy(line),
            String::from_utf8_lossy(&got)
        );
    }

    /// Reads lines up to and including the first that is not PROGRESS; returns the progress
    /// values and that line.
    pub async fn reply_after_progress(&mut self, prefix: &str) -> (Vec<u64>, String) {
        let (progress, line) = self.reply_bytes_after_progress(prefix).await;
        (progress, String::from_utf8(line).unwrap())
    }

    /// The same, for a reply that need not be UTF-8.
    pub async fn reply_bytes_after_progress(&mut self, prefix: &str) -> (Vec<u64>, Vec<u8>) {
        let mut progress = Vec::new();
        loop {
            let line = self.recv_bytes().await;
            match line.strip_prefix(format!("{prefix}PROGRESS ").as_bytes()) {
                Some(n) => progress.push(std::str::from_utf8(n).unwrap().parse().unwrap()),
                None => return (progress, line),
            }
        }
    }

    /// Closes git-annex's side and waits for the session to end.
    pub async fn close(self) -> Result<(), String> {
        drop(self.to_remote);
        let mut from = self.from_remote;
        // Every request was answered before: nothing more may come.
        let mut rest = Vec::new();
        if let Ok(Ok(n)) = tokio::time::timeout(TIMEOUT, from.read_until(b'\n', &mut rest)).await
            && n > 0
        {
            panic!(
                "unexpected line after close: {}",
                String::from_utf8_lossy(&rest)
            );
        }
        tokio::task::spawn_blocking(move || self.session.join().unwrap())
            .await
            .unwrap()
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
