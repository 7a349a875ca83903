//! Torrents through the special remote, against real peers on loopback (opentracker, an aria2c
//! seeder on its own 127.0.0.x, DHT off): the protocol replayed line by line (PROGRESS at least
//! once a second, the key's hash checked), and real git-annex: Debian's with the `torrent:`
//! prefix (`addurl`, multi-file torrents through CHECKURL-MULTI, `get -J4` of four files of one
//! torrent in one remote process), the newest from PyPI with a plain magnet
//! (`addurl --raw-except`) seeded by libtorrent.

#![cfg(feature = "torrent")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use swarm_testservers::torrent::{Client, FileServer, MULTI, MULTI_NAME, Rig, SINGLE};
use tempfile::TempDir;

const REMOTE: &str = env!("CARGO_BIN_EXE_git-annex-remote-swarm");
const DEBIAN_GIT_ANNEX: &str = "/usr/bin/git-annex";

/// The session's switches for tests: no DHT, a loopback listener, short timeouts.
const TORRENT_ENV: [(&str, &str); 4] = [
    ("ANNEX_SWARM_TORRENT_DHT", "0"),
    ("ANNEX_SWARM_TORRENT_LISTEN", "127.0.0.1:0"),
    ("ANNEX_SWARM_TORRENT_METADATA_TIMEOUT", "30"),
    ("ANNEX_SWARM_TORRENT_STALL_TIMEOUT", "30"),
];

fn sha256e(content: &[u8], ext: &str) -> String {
    let hex: String = Sha256::digest(content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("SHA256E-s{}--{hex}{ext}", content.len())
}

/// The remote binary driven over its stdin and stdout, as git-annex would.
struct Wire {
    child: Child,
    to: ChildStdin,
    from: BufReader<std::process::ChildStdout>,
}

impl Wire {
    fn start(extra_env: &[(&str, &str)]) -> Wire {
        Wire::start_in(Path::new("."), extra_env)
    }

    /// Run in `dir`, as git-annex runs a remote in its repository.
    fn start_in(dir: &Path, extra_env: &[(&str, &str)]) -> Wire {
        let mut cmd = Command::new(REMOTE);
        cmd.current_dir(dir)
            .envs(TORRENT_ENV)
            .envs(extra_env.iter().copied())
            .env("ANNEX_SWARM_REMOTE_ASYNC", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let to = child.stdin.take().unwrap();
        let from = BufReader::new(child.stdout.take().unwrap());
        let mut w = Wire { child, to, from };
        assert_eq!(w.recv(), "VERSION 1");
        w
    }

    fn send(&mut self, line: &str) {
        writeln!(self.to, "{line}").unwrap();
        self.to.flush().unwrap();
    }

    fn recv(&mut self) -> String {
        let mut line = String::new();
        assert!(self.from.read_line(&mut line).unwrap() > 0, "remote closed");
        line.trim_end_matches('\n').to_owned()
    }

    /// Answers what a TRANSFER RETRIEVE asks before downloading: the key's URLs, the swarm
    /// definition (none: this remote is used for torrents only), git's directory.
    /// `git_dir` is asked for once per process.
    fn retrieve(&mut self, key: &str, dest: &Path, url: &str, git_dir: Option<&Path>) {
        self.send(&format!("TRANSFER RETRIEVE {key} {}", dest.display()));
        assert_eq!(self.recv(), "GETCONFIG swarmdefinition");
        self.send("VALUE ");
        assert_eq!(self.recv(), format!("GETURLS {key} "));
        self.send(&format!("VALUE {url}"));
        self.send("VALUE ");
        if let Some(dir) = git_dir {
            assert_eq!(self.recv(), "GETGITDIR");
            self.send(&format!("VALUE {}", dir.display()));
        }
    }

    /// PROGRESS lines (with when each came) until the final reply.
    fn progress_then_reply(&mut self) -> (Vec<(Instant, u64)>, String) {
        let mut progress = Vec::new();
        loop {
            let line = self.recv();
            match line.strip_prefix("PROGRESS ") {
                Some(n) => progress.push((Instant::now(), n.parse().unwrap())),
                None => return (progress, line),
            }
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn retrieve_reports_progress_every_second_and_checks_the_key() {
    let rig = Rig::start("127.0.0.12");
    let work = tempfile::tempdir().unwrap();
    let git_dir = work.path().join("git");
    std::fs::create_dir_all(&git_dir).unwrap();
    let url = format!("torrent:{}", rig.magnet(&rig.single, true, false));
    let want = rig.expected(SINGLE.0);

    // 3 MB at 1 MiB/s: about three seconds of PROGRESS.
    let mut wire = Wire::start(&[("ANNEX_SWARM_TORRENT_DOWNLOAD_LIMIT", "1MiB/s")]);
    let key = sha256e(&want, ".bin");
    let dest = work.path().join("dest");
    wire.retrieve(&key, &dest, &url, Some(&git_dir));
    let (progress, reply) = wire.progress_then_reply();
    assert_eq!(reply, format!("TRANSFER-SUCCESS RETRIEVE {key}"));
    assert_eq!(std::fs::read(&dest).unwrap(), want);
    assert!(progress.len() >= 3, "{} PROGRESS lines", progress.len());
    for pair in progress.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(gap <= Duration::from_secs(1), "PROGRESS {gap:?} apart");
        assert!(pair[1].1 >= pair[0].1, "PROGRESS went back");
    }
    assert_eq!(progress.last().unwrap().1, SINGLE.1 as u64);

    // The same file under a key naming other content: refused, nothing at DEST.
    let wrong = sha256e(&vec![0u8; SINGLE.1], ".bin");
    let dest2 = work.path().join("dest2");
    wire.retrieve(&wrong, &dest2, &url, None);
    let (_, reply) = wire.progress_then_reply();
    assert!(
        reply.starts_with(&format!("TRANSFER-FAILURE RETRIEVE {wrong} "))
            && reply.contains("does not match the key"),
        "{reply}"
    );
    assert!(!dest2.exists());
}

/// The session's switches come from `git config` in the repository too (the environment
/// wins): a download limit set there paces the download, and a bad value is refused, naming
/// the setting, with nothing at DEST.
#[test]
fn switches_come_from_git_config_and_bad_ones_are_named() {
    let rig = Rig::start("127.0.0.17");
    let url = format!("torrent:{}", rig.magnet(&rig.single, true, false));
    let want = rig.expected(SINGLE.0);
    let key = sha256e(&want, ".bin");
    let git = |repo: &Path, args: &[&str]| {
        let ok = Command::new("git")
            .current_dir(repo)
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };

    let bad = tempfile::tempdir().unwrap();
    git(bad.path(), &["init", "-q"]);
    git(
        bad.path(),
        &["config", "annex-swarm.torrent-upload-limit", "fast"],
    );
    let mut wire = Wire::start_in(bad.path(), &[]);
    let dest = bad.path().join("dest");
    // Refused when the session starts, before git's directory is asked for.
    wire.retrieve(&key, &dest, &url, None);
    let (_, reply) = wire.progress_then_reply();
    assert!(
        reply.starts_with(&format!("TRANSFER-FAILURE RETRIEVE {key} "))
            && reply.contains("git config annex-swarm.torrent-upload-limit=fast"),
        "{reply}"
    );
    assert!(!dest.exists());

    // 3 MB at 1 MiB/s from git config: about three seconds of PROGRESS.
    let paced = tempfile::tempdir().unwrap();
    git(paced.path(), &["init", "-q"]);
    git(
        paced.path(),
        &["config", "annex-swarm.torrent-download-limit", "1MiB/s"],
    );
    let mut wire = Wire::start_in(paced.path(), &[]);
    let dest = paced.path().join("dest");
    let started = Instant::now();
    wire.retrieve(&key, &dest, &url, Some(&paced.path().join(".git")));
    let (progress, reply) = wire.progress_then_reply();
    assert_eq!(reply, format!("TRANSFER-SUCCESS RETRIEVE {key}"));
    assert_eq!(std::fs::read(&dest).unwrap(), want);
    assert!(
        started.elapsed() >= Duration::from_secs(2) && progress.len() >= 2,
        "{:?}, {} PROGRESS lines: the limit was not applied",
        started.elapsed(),
        progress.len()
    );
}

/// An interrupted get leaves its pieces in `.git/annex/tmp/swarm-torrent/<infohash>/`; the
/// next process checks them and needs no peer for what is there.
#[test]
fn a_get_resumes_from_the_staging_directory_of_an_earlier_process() {
    let mut rig = Rig::start("127.0.0.16");
    let work = tempfile::tempdir().unwrap();
    let git_dir = work.path().join("git");
    let staging = git_dir
        .join("annex/tmp/swarm-torrent")
        .join(&rig.single.info_hash);
    std::fs::create_dir_all(&staging).unwrap();
    let want = rig.expected(SINGLE.0);
    std::fs::write(staging.join(SINGLE.0), &want).unwrap();
    rig.seeder.stop();
    // The .torrent itself still comes from the network (metadata is not kept).
    let files = FileServer::start(rig.dir.path());
    let url = format!("torrent:{}", files.url("single%2Etorrent"));
    let mut wire = Wire::start(&[]);
    let key = sha256e(&want, ".bin");
    let dest = work.path().join("dest");
    wire.retrieve(&key, &dest, &url, Some(&git_dir));
    let (_, reply) = wire.progress_then_reply();
    assert_eq!(reply, format!("TRANSFER-SUCCESS RETRIEVE {key}"));
    assert_eq!(std::fs::read(&dest).unwrap(), want);
}

#[test]
fn claims_and_checks_urls_of_every_form() {
    let rig = Rig::start("127.0.0.13");
    let files = FileServer::start(rig.dir.path());
    let mut wire = Wire::start(&[]);
    let magnet = rig.magnet(&rig.multi, true, false);
    for (url, claimed) in [
        (magnet.clone(), true),
        (format!("torrent:{magnet}"), true),
        (files.url("multi.torrent"), true),
        (format!("torrent:{}", files.url("multi%2Etorrent")), true),
        (files.url("single.bin"), false),
        ("swarm:abc".to_owned(), false),
    ] {
        wire.send(&format!("CLAIMURL {url}"));
        let want = if claimed { "SUCCESS" } else { "FAILURE" };
        assert_eq!(wire.recv(), format!("CLAIMURL-{want}"), "{url}");
    }
    // Multi-file: one triple per file, paths kept, spaces encoded in the URL.
    wire.send(&format!("CHECKURL torrent:{magnet}"));
    let reply = wire.recv();
    let words: Vec<&str> = reply.split(' ').collect();
    assert_eq!(words[0], "CHECKURL-MULTI", "{reply}");
    assert_eq!(words.len(), 1 + 3 * MULTI.len(), "{reply}");
    for (path, len) in MULTI {
        let encoded = path.replace(' ', "%20");
        let i = words
            .iter()
            .position(|w| *w == format!("torrent:{magnet}#{encoded}"))
            .unwrap_or_else(|| panic!("{path} not in {reply}"));
        assert_eq!(words[i + 1], len.to_string());
        assert_eq!(
            words[i + 2],
            format!("{MULTI_NAME}/{}", path.replace(' ', "_"))
        );
    }
    // One file of it, by its fragment; a single-file torrent by URL.
    wire.send(&format!("CHECKURL torrent:{magnet}#sub%20dir/b.txt"));
    assert_eq!(
        wire.recv(),
        format!(
            "CHECKURL-CONTENTS {} {MULTI_NAME}/sub dir/b.txt",
            MULTI[1].1
        )
    );
    wire.send(&format!("CHECKURL {}", files.url("single.torrent")));
    assert_eq!(
        wire.recv(),
        format!("CHECKURL-CONTENTS {} {}", SINGLE.1, SINGLE.0)
    );
    // Bad input: one line naming what is wrong.
    wire.send("CHECKURL magnet:?xt=urn:btih:123");
    let reply = wire.recv();
    assert!(
        reply.starts_with("CHECKURL-FAILURE ") && reply.contains("not a BitTorrent v1 info hash"),
        "{reply}"
    );
    wire.send(&format!("CHECKURL {}", files.url("missing.torrent")));
    assert!(wire.recv().starts_with("CHECKURL-FAILURE "));
}

/// A scratch HOME and repository for one git-annex.
struct Repo {
    dir: TempDir,
    annex_bin: PathBuf,
}

impl Repo {
    fn new(git_annex: &Path) -> Repo {
        assert!(
            git_annex.is_file(),
            "{} is missing: run scripts/test.sh",
            git_annex.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("annex-remote-torrent.")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        std::fs::create_dir_all(dir.path().join("store")).unwrap();
        let r = Repo {
            dir,
            annex_bin: git_annex.parent().unwrap().to_owned(),
        };
        r.run("git", &["init", "-q"]);
        r.annex(&["init", "-q", "torrent-test"]);
        let store = format!("stores={}", r.dir.path().join("store").display());
        r.annex(&[
            "initremote",
            "swarm",
            "type=external",
            "externaltype=swarm",
            &store,
            "k=1",
            "m=0",
            "encryption=none",
        ]);
        r
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn output(&self, program: &str, args: &[&str]) -> Output {
        let remote_dir = Path::new(REMOTE).parent().unwrap();
        let path = format!(
            "{}:{}:{}",
            remote_dir.display(),
            self.annex_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(program)
            .args(args)
            .current_dir(self.repo())
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .envs(TORRENT_ENV)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .unwrap()
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let o = self.output(program, args);
        assert!(
            o.status.success(),
            "`{program} {}` failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn annex(&self, args: &[&str]) -> String {
        let mut all = vec!["annex"];
        all.extend_from_slice(args);
        self.run("git", &all)
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Every annexed file's path and content, after `get`.
    fn assert_holds(&self, files: &[(String, Vec<u8>)]) {
        for (rel, want) in files {
            assert_eq!(&self.read(rel), want, "{rel}");
        }
    }
}

#[test]
fn debian_git_annex_adds_and_gets_torrents_through_the_prefix() {
    let rig = Rig::start("127.0.0.14");
    let files = FileServer::start(rig.dir.path());
    let r = Repo::new(Path::new(DEBIAN_GIT_ANNEX));

    // A .torrent URL: its `.torrent` ending written as `%2Etorrent`, or Debian's built-in
    // bittorrent remote takes it first (it looks at the URL's path only).
    let single_url = format!("torrent:{}", files.url("single%2Etorrent"));
    r.annex(&["addurl", "--file", "single.bin", &single_url]);
    // A multi-file magnet: one annexed file per torrent file, paths kept.
    let magnet = format!("torrent:{}", rig.magnet(&rig.multi, true, false));
    r.annex(&["addurl", "--preserve-filename", &magnet]);

    // git-annex puts them in a directory named after the URL.
    let mut expected = vec![("single.bin".to_owned(), rig.expected(SINGLE.0))];
    let added = r.annex(&["find", "--include=*"]);
    for (path, _) in MULTI {
        // Spaces cannot cross CHECKURL-MULTI: they become `_`.
        let suffix = format!("/{MULTI_NAME}/{}", path.replace(' ', "_"));
        let rel = added
            .lines()
            .find(|l| l.ends_with(&suffix))
            .unwrap_or_else(|| panic!("no annexed file ends in {suffix}: {added}"));
        expected.push((
            rel.to_owned(),
            rig.expected(&format!("{MULTI_NAME}/{path}")),
        ));
    }
    r.assert_holds(&expected);

    // Everything dropped and every torrent's staging gone: the four files of the multi-file
    // torrent and the single one, -J4, one remote process (git-annex's ASYNC), one session.
    r.annex(&["drop", "--force", "."]);
    std::fs::remove_dir_all(r.repo().join(".git/annex/tmp/swarm-torrent")).unwrap();
    r.annex(&["get", "-J4", "."]);
    r.assert_holds(&expected);
    r.annex(&["fsck", "--fast"]);
    // Seeders come and go: the torrent is never counted as a copy, never denied either.
    let o = r.output("git", &["annex", "drop", "single.bin"]);
    assert!(!o.status.success());
    assert_eq!(r.read("single.bin"), rig.expected(SINGLE.0));
}

#[test]
fn newest_git_annex_takes_plain_magnets_with_raw_except() {
    let newest = match std::env::var("ANNEX_SWARM_NEW_GIT_ANNEX") {
        Ok(v) if v.starts_with("skip:") => {
            eprintln!("SKIPPED: newest git-annex: {v}");
            return;
        }
        Ok(v) => PathBuf::from(v),
        Err(_) => PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/annex-swarm/git-annex-venv/bin/git-annex"),
    };
    // Seeded by libtorrent (the Debian test above has aria2c).
    let rig = Rig::start_with(Client::Libtorrent, "127.0.0.15");
    let r = Repo::new(&newest);
    // x.pe only: no tracker; the seeder is dialled from the magnet itself.
    let magnet = rig.magnet(&rig.single, false, true);
    r.annex(&[
        "addurl",
        "--raw-except=swarm",
        "--file",
        "single.bin",
        &magnet,
    ]);
    assert_eq!(r.read("single.bin"), rig.expected(SINGLE.0));
    r.annex(&["drop", "--force", "single.bin"]);
    r.annex(&["get", "single.bin"]);
    assert_eq!(r.read("single.bin"), rig.expected(SINGLE.0));
}
