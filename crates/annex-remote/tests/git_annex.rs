//! The remote driven by real git-annex: the full `git annex testremote` with Debian's
//! git-annex, `--fast` with the newest one from PyPI, an end-to-end run (copy -J4, drop, get,
//! fsck, m stores lost, a second clone), git-annex's hybrid encryption with a throwaway key, and
//! S3 credentials (SeaweedFS on loopback) kept by git-annex through SETCREDS/GETCREDS.
//!
//! `scripts/test.sh` installs both git-annex versions when missing. The newest one is found
//! through `ANNEX_SWARM_NEW_GIT_ANNEX` (its `git-annex` binary); `skip:<reason>` there skips
//! that test with a loud message. Every other absence is a failure, never a silent pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const REMOTE: &str = env!("CARGO_BIN_EXE_git-annex-remote-swarm");
const DEBIAN_GIT_ANNEX: &str = "/usr/bin/git-annex";

/// A scratch area: HOME, GNUPGHOME, stores and repositories, all in one temporary directory.
struct Scratch {
    dir: TempDir,
    /// The directory holding the `git-annex` to use (first on PATH, after the remote's).
    annex_bin: PathBuf,
    extra_env: Vec<(String, String)>,
}

impl Scratch {
    fn new(git_annex: &Path) -> Self {
        assert!(
            git_annex.is_file(),
            "{} is missing: run scripts/test.sh (it installs git-annex) or install it",
            git_annex.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("annex-remote-e2e.")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Scratch {
            dir,
            annex_bin: git_annex.parent().unwrap().to_owned(),
            extra_env: Vec::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Six store directories `stores/s1..s6`, as a stores= value.
    fn stores(&self, n: usize) -> String {
        (1..=n)
            .map(|i| {
                self.path(&format!("stores/s{i}"))
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    fn cmd(&self, program: &str, cwd: &Path) -> Command {
        let remote_dir = Path::new(REMOTE).parent().unwrap();
        let path = format!(
            "{}:{}:{}",
            remote_dir.display(),
            self.annex_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new(program);
        c.current_dir(cwd)
            .env("PATH", path)
            .env("HOME", self.path("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "annex-swarm test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "annex-swarm test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .env_remove("ANNEX_SWARM_REMOTE_VERSION")
            .env_remove("ANNEX_SWARM_REMOTE_ASYNC")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE");
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// Runs `program args` in `cwd`; panics with its output unless it succeeds.
    fn run(&self, cwd: &Path, program: &str, args: &[&str]) -> String {
        let out = self.try_run(cwd, program, args);
        assert!(
            out.status.success(),
            "`{program} {}` in {} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            args.join(" "),
            cwd.display(),
            out.status,
            tail(&out.stdout),
            tail(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn try_run(&self, cwd: &Path, program: &str, args: &[&str]) -> Output {
        self.cmd(program, cwd).args(args).output().unwrap()
    }

    /// `git annex args` in `repo`, which must succeed within `limit`: past it, the command and
    /// everything it started (git-annex, the remote) are killed and the test fails as hung.
    fn annex_within(&self, repo: &Path, args: &[&OsStr], limit: Duration) -> String {
        use std::os::unix::process::CommandExt;
        let shown = args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let (out_path, err_path) = (self.path("within.out"), self.path("within.err"));
        let mut child = self
            .cmd("git", repo)
            .arg("annex")
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                // The whole process group: git, git-annex and the remote it started.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let stdout = std::fs::read(&out_path).unwrap();
        let stderr = std::fs::read(&err_path).unwrap();
        match status {
            None => panic!(
                "`git annex {shown}` hung: not done within {limit:?}\n--- stderr\n{}",
                tail(&stderr)
            ),
            Some(st) if !st.success() => panic!(
                "`git annex {shown}` failed ({st}):\n--- stdout\n{}\n--- stderr\n{}",
                tail(&stdout),
                tail(&stderr)
            ),
            Some(_) => String::from_utf8_lossy(&stdout).into_owned(),
        }
    }

    fn annex(&self, repo: &Path, args: &[&str]) -> String {
        let mut all = vec!["annex"];
        all.extend_from_slice(args);
        self.run(repo, "git", &all)
    }

    /// A new repository `name` with git-annex initialised.
    fn repo(&self, name: &str) -> PathBuf {
        let repo = self.path(name);
        std::fs::create_dir_all(&repo).unwrap();
        self.run(&repo, "git", &["init", "-q"]);
        self.annex(&repo, &["init", "-q", name]);
        repo
    }
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// `All N tests passed` from testremote's output, with N.
fn passed(out: &str) -> usize {
    let line = out
        .lines()
        .find(|l| l.starts_with("All ") && l.contains(" tests passed"))
        .unwrap_or_else(|| panic!("no `All N tests passed` line in:\n{out}"));
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The newest git-annex (PyPI), or `None` after saying loudly why the test is skipped.
fn newest_git_annex() -> Option<PathBuf> {
    let var = std::env::var("ANNEX_SWARM_NEW_GIT_ANNEX").ok();
    if let Some(reason) = var.as_deref().and_then(|v| v.strip_prefix("skip:")) {
        eprintln!("\n*** SKIPPED: newest git-annex not available: {reason} ***\n");
        return None;
    }
    let path = var.map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/annex-swarm/git-annex-venv/bin/git-annex")
    });
    assert!(
        path.is_file(),
        "newest git-annex not found at {}: run scripts/test.sh (installs it from PyPI), set ANNEX_SWARM_NEW_GIT_ANNEX=/path/to/git-annex, or ANNEX_SWARM_NEW_GIT_ANNEX=skip:<reason>",
        path.display()
    );
    Some(path)
}

fn initremote(s: &Scratch, repo: &Path, name: &str, extra: &[&str]) {
    let stores = format!("stores={}", s.stores(6));
    let mut args = vec![
        "initremote",
        name,
        "type=external",
        "externaltype=swarm",
        "k=4",
        "m=2",
        &stores,
    ];
    args.extend_from_slice(extra);
    s.annex(repo, &args);
}

/// The full testremote (573 tests: key sizes x chunk sizes x encryption none/shared) with
/// Debian's git-annex 10.20230126, which uses ASYNC: one remote process per variant.
#[test]
fn testremote_full_with_debian_git_annex() {
    let s = Scratch::new(Path::new(DEBIAN_GIT_ANNEX));
    let repo = s.repo("debian");
    initremote(&s, &repo, "myswarm", &["encryption=none"]);
    let out = s.annex(&repo, &["testremote", "myswarm"]);
    assert_eq!(passed(&out), 573, "{}", tail(out.as_bytes()));
}

/// VERSION 2 and no ASYNC (a process per job) are accepted by Debian's git-annex too.
#[test]
fn testremote_fast_version_2_without_async() {
    let mut s = Scratch::new(Path::new(DEBIAN_GIT_ANNEX));
    s.extra_env = vec![
        ("ANNEX_SWARM_REMOTE_VERSION".into(), "2".into()),
        ("ANNEX_SWARM_REMOTE_ASYNC".into(), "0".into()),
    ];
    let repo = s.repo("debian-v2");
    initremote(&s, &repo, "myswarm", &["encryption=none"]);
    let out = s.annex(&repo, &["testremote", "myswarm", "--fast"]);
    assert!(passed(&out) >= 125, "{out}");
}

/// The newest git-annex from PyPI, in its own repository, VERSION 1 and 2.
#[test]
fn testremote_fast_with_newest_git_annex() {
    let Some(newest) = newest_git_annex() else {
        return;
    };
    for version in ["1", "2"] {
        let mut s = Scratch::new(&newest);
        s.extra_env = vec![("ANNEX_SWARM_REMOTE_VERSION".into(), version.into())];
        let repo = s.repo("newest");
        let v = s.annex(&repo, &["version", "--raw"]);
        assert!(v.trim() > "10.20230126", "not newer than Debian's: {v}");
        initremote(&s, &repo, "myswarm", &["encryption=none"]);
        let out = s.annex(&repo, &["testremote", "myswarm", "--fast"]);
        assert!(passed(&out) >= 125, "{out}");
    }
}

/// Bytes of file `i` of the end-to-end set: 1 empty, 96 tiny, two of 1 MiB, one of 64 MiB.
fn e2e_content(i: usize) -> Vec<u8> {
    let len = match i {
        0 => 0,
        97 | 98 => 1 << 20,
        99 => 64 << 20,
        n => n * 13,
    };
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A clone of `repo` beside it, with git-annex initialised.
fn clone_of(s: &Scratch, repo: &Path) -> PathBuf {
    let clone = s.path("clone");
    s.run(
        s.dir.path(),
        "git",
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    s.annex(&clone, &["init", "-q", "clone"]);
    clone
}

fn check_all_files(repo: &Path) {
    for i in 0..100 {
        let got = std::fs::read(repo.join(format!("f{i:03}.bin"))).unwrap();
        assert!(got == e2e_content(i), "f{i:03}.bin differs after get");
    }
}

#[test]
fn end_to_end_copy_drop_get_fsck_lost_stores_and_a_second_clone() {
    let s = Scratch::new(Path::new(DEBIAN_GIT_ANNEX));
    let repo = s.repo("origin");
    for i in 0..100 {
        std::fs::write(repo.join(format!("f{i:03}.bin")), e2e_content(i)).unwrap();
    }
    s.annex(&repo, &["add", "-q", "."]);
    s.run(&repo, "git", &["commit", "-q", "-m", "files"]);
    initremote(&s, &repo, "myswarm", &["encryption=none"]);

    s.annex(&repo, &["copy", "--to", "myswarm", "-J4", "."]);
    s.annex(&repo, &["drop", "-J4", "."]);
    assert!(!repo.join("f099.bin").exists(), "dropped content is gone");
    s.annex(&repo, &["get", "-J4", "."]);
    check_all_files(&repo);
    s.annex(&repo, &["fsck", "--from", "myswarm", "-J4", "--quiet"]);

    let whereis = s.annex(&repo, &["whereis", "f099.bin"]);
    assert!(
        whereis.contains("myswarm: swarm ")
            && whereis.contains("(4+2): restorable, survives 2 more lost stores"),
        "{whereis}"
    );

    // Lose m = 2 stores: every file still comes back, and fsck still passes.
    std::fs::remove_dir_all(s.path("stores/s2")).unwrap();
    std::fs::remove_dir_all(s.path("stores/s5")).unwrap();
    s.annex(&repo, &["drop", "-J4", "."]);
    s.annex(&repo, &["get", "-J4", "."]);
    check_all_files(&repo);
    s.annex(&repo, &["fsck", "--from", "myswarm", "--fast", "--quiet"]);
    let info = s.annex(&repo, &["info", "myswarm"]);
    assert!(
        info.contains("health: 2 of 6 stores down: fully stored keys survive 0 more lost stores"),
        "{info}"
    );

    // A second clone: enableremote with no parameters finds the same swarm.
    let clone = clone_of(&s, &repo);
    s.annex(&clone, &["enableremote", "myswarm"]);
    s.annex(&clone, &["get", "-J4", "--from", "myswarm", "."]);
    check_all_files(&clone);

    // One more store lost (m + 1): the remote cannot vouch for the big file any more.
    std::fs::remove_dir_all(s.path("stores/s3")).unwrap();
    let fsck = s.try_run(
        &repo,
        "git",
        &["annex", "fsck", "--from", "myswarm", "--fast", "f099.bin"],
    );
    assert!(
        !fsck.status.success(),
        "fsck must not pass with m + 1 stores lost"
    );
}

/// With ASYNC, `copy -J8` is served by one remote process (a wrapper on PATH counts starts).
#[test]
fn copy_j8_runs_in_one_remote_process() {
    let s = Scratch::new(Path::new(DEBIAN_GIT_ANNEX));
    let repo = s.repo("one-process");
    for i in 0..16 {
        std::fs::write(repo.join(format!("g{i:02}.bin")), e2e_content(i)).unwrap();
    }
    s.annex(&repo, &["add", "-q", "."]);
    initremote(&s, &repo, "myswarm", &["encryption=none"]);
    let wrapper_dir = s.path("wrapper");
    std::fs::create_dir_all(&wrapper_dir).unwrap();
    let starts = s.path("starts");
    let wrapper = wrapper_dir.join("git-annex-remote-swarm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho started >> '{}'\nexec '{REMOTE}' \"$@\"\n",
            starts.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut copy = s.cmd("git", &repo);
    let path = format!(
        "{}:{}",
        wrapper_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let path = format!("{path}:{}", s.annex_bin.display());
    // The wrapper must come before the remote's own directory.
    copy.env("PATH", path)
        .args(["annex", "copy", "--to", "myswarm", "-J8", "."]);
    let out = copy.output().unwrap();
    assert!(out.status.success(), "{}", tail(&out.stderr));
    let started = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(
        started.lines().count(),
        1,
        "remote processes started: {started}"
    );
    let present = s.annex(&repo, &["find", "--in", "myswarm"]);
    assert_eq!(present.lines().count(), 16);
}

/// git-annex's hybrid encryption (a throwaway gpg key without passphrase) and chunk= on top.
#[test]
fn hybrid_encryption_and_chunking_on_top() {
    let mut s = Scratch::new(Path::new(DEBIAN_GIT_ANNEX));
    let gnupg = s.path("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&gnupg, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    s.extra_env = vec![("GNUPGHOME".into(), gnupg.to_str().unwrap().into())];
    let _agent = GpgAgent(s.cmd("gpgconf", s.dir.path()));
    s.run(
        s.dir.path(),
        "gpg",
        &[
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "annex-swarm test <test@example.invalid>",
            "future-default",
            "default",
            "never",
        ],
    );
    let keys = s.run(s.dir.path(), "gpg", &["--list-keys", "--with-colons"]);
    let fpr = keys
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .map(|l| l.trim_matches(':').to_owned())
        .expect("a fingerprint");

    let repo = s.repo("encrypted");
    let files: Vec<(String, Vec<u8>)> = [0usize, 5, 300_000, 1 << 20]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (
                format!("e{i}.bin"),
                (0..n).map(|j| (j * 7 + i) as u8).collect(),
            )
        })
        .collect();
    for (name, data) in &files {
        std::fs::write(repo.join(name), data).unwrap();
    }
    s.annex(&repo, &["add", "-q", "."]);
    let keyid = format!("keyid={fpr}");
    initremote(
        &s,
        &repo,
        "encswarm",
        &["encryption=hybrid", &keyid, "chunk=256KiB"],
    );
    s.annex(&repo, &["copy", "--to", "encswarm", "-J4", "."]);
    s.annex(&repo, &["drop", "."]);
    s.annex(&repo, &["get", "-J4", "."]);
    for (name, data) in &files {
        assert!(
            &std::fs::read(repo.join(name)).unwrap() == data,
            "{name} differs"
        );
    }
    s.annex(&repo, &["fsck", "--from", "encswarm", "--quiet"]);
    // The stores hold no plaintext names: the remote only ever saw HMAC keys.
    let store_listing = s.run(s.dir.path(), "find", &[s.path("stores").to_str().unwrap()]);
    assert!(!store_listing.contains("e3.bin") && !store_listing.contains("SHA256"));
}

/// Stops the gpg-agent the test's GNUPGHOME started.
struct GpgAgent(Command);

impl Drop for GpgAgent {
    fn drop(&mut self) {
        let _ = self.0.args(["--kill", "gpg-agent"]).output();
    }
}

/// The S3 store's id in the credential tests.
const S3_STORE: &str = "s1-s3";

/// The setting git-annex keeps the S3 store's key pair under: named for the store and the host
/// it was handed over for.
fn s3_setting(s3: &swarm_testservers::S3Server) -> String {
    format!("swarm-s1-s3-s3key@{}", s3.endpoint())
}

/// A definition file (2+1: an S3 store at `s3_url`, two local directories), for definition=.
fn s3_definition(s: &Scratch, s3_url: &str) -> PathBuf {
    use swarm_core::definition::{StoreEntry, SwarmDefinition};
    let mut stores = vec![StoreEntry::new(S3_STORE.parse().unwrap(), s3_url)];
    for i in 2..=3 {
        let dir = s.path(&format!("stores/s{i}"));
        stores.push(StoreEntry::new(
            format!("s{i}-local").parse().unwrap(),
            dir.to_str().unwrap(),
        ));
    }
    let mut def = SwarmDefinition::new(2, 1, stores).unwrap();
    def.coding.shard_size = Some("64KiB".parse().unwrap());
    def.coding.inline_threshold = "16KiB".parse().unwrap();
    let path = s.path("swarm.toml");
    std::fs::write(&path, def.to_toml()).unwrap();
    path
}

/// The S3 store's credentials as `ANNEX_SWARM_<STORE>_...` variables, for the store's host
/// (`http://127.0.0.1:PORT`), and a credentials file that does not exist (so only what a command
/// is given counts).
fn s3_env(s: &Scratch, secret: &str, host: &str) -> Vec<(String, String)> {
    vec![
        ("ANNEX_SWARM_S1_S3_HOSTS".into(), host.into()),
        (
            "ANNEX_SWARM_S1_S3_ACCESS_KEY_ID".into(),
            swarm_testservers::S3_ACCESS_KEY.into(),
        ),
        ("ANNEX_SWARM_S1_S3_SECRET_ACCESS_KEY".into(), secret.into()),
        (
            "ANNEX_SWARM_CREDENTIALS".into(),
            s.path("no-credentials.toml").to_str().unwrap().into(),
        ),
    ]
}

/// Runs `git annex args` in `repo` with exactly `env` as store credentials (none of the
/// variables that could also supply them).
fn annex_env(s: &Scratch, repo: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    let mut c = s.cmd("git", repo);
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "ANNEX_SWARM_S3_ACCESS_KEY_ID",
        "ANNEX_SWARM_S3_SECRET_ACCESS_KEY",
        "ANNEX_SWARM_S3_SESSION_TOKEN",
        "ANNEX_SWARM_S1_S3_ACCESS_KEY_ID",
        "ANNEX_SWARM_S1_S3_SECRET_ACCESS_KEY",
        "ANNEX_SWARM_S3_HOSTS",
        "ANNEX_SWARM_S1_S3_HOSTS",
    ] {
        c.env_remove(v);
    }
    c.env(
        "ANNEX_SWARM_CREDENTIALS",
        s.path("no-credentials.toml").to_str().unwrap(),
    );
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("annex").args(args).output().unwrap()
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "`git annex {what}` failed:\n--- stdout\n{}\n--- stderr\n{}",
        tail(&out.stdout),
        tail(&out.stderr)
    );
    out
}

/// Every line of `out` holding `secret`, except git-annex's own protocol trace of CREDS and
/// SETCREDS lines (`--debug` prints those verbatim: its logging, not the remote's).
fn leaks(out: &Output, secret: &str) -> Vec<String> {
    [&out.stdout, &out.stderr]
        .iter()
        .flat_map(|b| {
            String::from_utf8_lossy(b)
                .into_owned()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains(secret))
        .filter(|l| !(l.contains("(Annex.ExternalAddonProcess)") && l.contains("CREDS ")))
        .collect()
}

/// Every git object of `repo`, decompressed, as one text (what anyone with a clone can read).
fn all_objects(s: &Scratch, repo: &Path) -> String {
    let out = s
        .cmd("git", repo)
        .args(["cat-file", "--batch-all-objects", "--batch"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Credentials given in the environment at initremote go to git-annex (SETCREDS), which keeps
/// them in .git/annex/creds/ and not in git; later commands without them (and with a wrong
/// secret in the environment: git-annex's wins) read and write the S3 store with them.
#[test]
fn s3_credentials_reach_the_remote_through_git_annex_and_never_git() {
    credentials_through_git_annex(Path::new(DEBIAN_GIT_ANNEX));
}

/// The same with the newest git-annex, which answers GETCREDS only where it knows the
/// remote's UUID.
#[test]
fn s3_credentials_through_the_newest_git_annex() {
    if let Some(newest) = newest_git_annex() {
        credentials_through_git_annex(&newest);
    }
}

fn credentials_through_git_annex(git_annex: &Path) {
    let s3 = swarm_testservers::S3Server::start();
    let s = Scratch::new(git_annex);
    let secret = swarm_testservers::S3_SECRET_KEY;
    let repo = s.repo("creds");
    let files: Vec<(String, Vec<u8>)> = [5usize, 40_000, 300_000]
        .iter()
        .enumerate()
        .map(|(i, &n)| (format!("c{i}.bin"), e2e_content(97 + i % 2)[..n].to_vec()))
        .collect();
    for (name, data) in &files {
        std::fs::write(repo.join(name), data).unwrap();
    }
    s.annex(&repo, &["add", "-q", "."]);
    s.run(&repo, "git", &["commit", "-q", "-m", "files"]);
    let def = s3_definition(&s, &s3.url("swarm"));
    let def_arg = format!("definition={}", def.display());
    let init = ok(
        annex_env(
            &s,
            &repo,
            &s3_env(&s, secret, &s3.endpoint()),
            &[
                "initremote",
                "cswarm",
                "type=external",
                "externaltype=swarm",
                "encryption=none",
                &def_arg,
            ],
        ),
        "initremote",
    );
    assert!(
        leaks(&init, secret).is_empty(),
        "{:?}",
        leaks(&init, secret)
    );
    let setting = s3_setting(&s3);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&init.stdout),
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(
        said.contains(&format!(
            "store credentials kept by git-annex in .git/annex/creds/ of this repository only: {setting}, swarm-{S3_STORE}-host"
        )),
        "{said}"
    );

    // Kept by git-annex in this repository, private to the user.
    let uuid = s.run(&repo, "git", &["config", "remote.cswarm.annex-uuid"]);
    // git-annex names the file after the setting, `/` as `_`.
    let kept = repo.join(format!(
        ".git/annex/creds/{}-{}",
        uuid.trim(),
        setting.replace('/', "_")
    ));
    assert_eq!(
        std::fs::read_to_string(&kept).unwrap(),
        format!("{}\n{secret}\n", swarm_testservers::S3_ACCESS_KEY)
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }

    // No credentials in the environment, a wrong one even: what git-annex keeps is used.
    let wrong = vec![(
        "ANNEX_SWARM_S3_SECRET_ACCESS_KEY".to_owned(),
        "wrong-secret-from-env".to_owned(),
    )];
    ok(
        annex_env(&s, &repo, &wrong, &["copy", "--to", "cswarm", "-J2", "."]),
        "copy",
    );
    let info =
        String::from_utf8_lossy(&ok(annex_env(&s, &repo, &[], &["info", "cswarm"]), "info").stdout)
            .into_owned();
    let line = info
        .lines()
        .find(|l| l.contains(&format!("store {S3_STORE}")))
        .unwrap_or_default()
        .to_owned();
    assert!(line.contains("(up)"), "{info}");
    ok(annex_env(&s, &repo, &[], &["drop", "."]), "drop");
    // Lose a local store (m = 1): the files can only come back with the S3 store's shards.
    std::fs::remove_dir_all(s.path("stores/s2")).unwrap();
    let mut debug_env = wrong.clone();
    debug_env.push(("ANNEX_SWARM_LOG".into(), "trace".into()));
    let get = ok(
        annex_env(&s, &repo, &debug_env, &["--debug", "get", "."]),
        "get",
    );
    for (name, data) in &files {
        assert!(
            &std::fs::read(repo.join(name)).unwrap() == data,
            "{name} differs after get"
        );
    }
    // --debug and the remote's trace log: the secret appears only in git-annex's own
    // protocol trace; the remote logged the line with its values hidden.
    assert!(leaks(&get, secret).is_empty(), "{:?}", leaks(&get, secret));
    let stderr = String::from_utf8_lossy(&get.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("annex_remote::session: < ") && l.ends_with(" CREDS ***")),
        "{}",
        tail(&get.stderr)
    );

    // Nowhere in git: not in remote.log, not in any object, not in the git-annex branch's log.
    let remote_log = s.run(&repo, "git", &["cat-file", "-p", "git-annex:remote.log"]);
    assert!(
        remote_log.contains("swarmdefinition=1:") && !remote_log.contains("swarm-s1-s3"),
        "{remote_log}"
    );
    assert!(!all_objects(&s, &repo).contains(secret));
    let log = s.run(&repo, "git", &["log", "-p", "git-annex"]);
    assert!(!log.contains(secret));
    let grep = s.try_run(&repo, "git", &["grep", "-F", secret, "git-annex"]);
    assert_eq!(
        grep.status.code(),
        Some(1),
        "git grep found the secret in the git-annex branch"
    );

    // A clone has none: enableremote with the credentials in its environment hands them over.
    let clone = clone_of(&s, &repo);
    ok(
        annex_env(
            &s,
            &clone,
            &s3_env(&s, secret, &s3.endpoint()),
            &["enableremote", "cswarm"],
        ),
        "enableremote",
    );
    verify_if_asked(&s, &clone, "cswarm");
    ok(
        annex_env(&s, &clone, &[], &["get", "--from", "cswarm", "."]),
        "get in the clone",
    );
    for (name, data) in &files {
        assert!(
            &std::fs::read(clone.join(name)).unwrap() == data,
            "{name} differs in the clone"
        );
    }
}

/// Credentials git-annex kept before they were bound to hosts (the pair under the setting name
/// of older builds, no host recorded) are not sent: the S3 store is down, saying how to bind
/// them. One `enableremote` with `ANNEX_SWARM_<ID>_HOSTS` naming the store's host binds them,
/// with no secret in the environment; then transfers use them.
#[test]
fn credentials_kept_before_hosts_are_bound_by_naming_the_host() {
    let s3 = swarm_testservers::S3Server::start();
    let s = Scratch::new(Path::new(DEBIAN_GIT_ANNEX));
    let secret = swarm_testservers::S3_SECRET_KEY;
    let repo = s.repo("legacy");
    std::fs::write(repo.join("l.bin"), &e2e_content(99)[..40_000]).unwrap();
    s.annex(&repo, &["add", "-q", "."]);
    s.run(&repo, "git", &["commit", "-q", "-m", "files"]);
    let def = s3_definition(&s, &s3.url("swarm"));
    let def_arg = format!("definition={}", def.display());
    ok(
        annex_env(
            &s,
            &repo,
            &s3_env(&s, secret, &s3.endpoint()),
            &[
                "initremote",
                "lswarm",
                "type=external",
                "externaltype=swarm",
                "encryption=none",
                &def_arg,
            ],
        ),
        "initremote",
    );
    // What an older build left: the pair under the old name, no host record.
    let uuid = s.run(&repo, "git", &["config", "remote.lswarm.annex-uuid"]);
    let creds = repo.join(".git/annex/creds");
    let file = |setting: &str| creds.join(format!("{}-{}", uuid.trim(), setting.replace('/', "_")));
    std::fs::rename(file(&s3_setting(&s3)), file("swarm-s1-s3-s3key")).unwrap();
    std::fs::remove_file(file("swarm-s1-s3-host")).unwrap();

    // 2+1 over three stores: without the S3 store a put cannot place its shards.
    let copy = annex_env(&s, &repo, &[], &["copy", "--to", "lswarm", "."]);
    assert!(
        !copy.status.success(),
        "copy went through without the S3 store"
    );
    let info =
        String::from_utf8_lossy(&ok(annex_env(&s, &repo, &[], &["info", "lswarm"]), "info").stdout)
            .into_owned();
    let line = info
        .lines()
        .find(|l| l.contains(&format!("store {S3_STORE}")))
        .unwrap_or_default()
        .to_owned();
    assert!(
        line.contains(&format!(
            "is not sent to {0} (it was handed over before credentials were bound to hosts); if that host should have it, run `ANNEX_SWARM_S1_S3_HOSTS={0} git annex enableremote NAME` once",
            s3.endpoint()
        )),
        "{info}"
    );
    assert!(leaks(&copy, secret).is_empty());

    let bind = vec![("ANNEX_SWARM_S1_S3_HOSTS".to_owned(), s3.endpoint())];
    let out = ok(
        annex_env(&s, &repo, &bind, &["enableremote", "lswarm"]),
        "enableremote",
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!(
            "store {S3_STORE}: the credentials git-annex kept from before credentials were bound to hosts now go to {}",
            s3.endpoint()
        )),
        "{said}"
    );
    assert!(leaks(&out, secret).is_empty());
    ok(
        annex_env(&s, &repo, &[], &["copy", "--to", "lswarm", "."]),
        "copy after binding",
    );
}

/// Newer git-annex (10.20261026 here) will not use an external special remote enabled in a
/// clone until `git annex verifyremote NAME --safe ID` confirms its configuration; Debian's has
/// no such command.
fn verify_if_asked(s: &Scratch, repo: &Path, name: &str) {
    let out = s.try_run(repo, "git", &["annex", "verifyremote", name]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let prefix = format!("verifyremote {name} --safe ");
    if let Some(id) = text
        .lines()
        .find_map(|l| l.split_once(&prefix).map(|(_, id)| id.trim().to_owned()))
    {
        s.annex(repo, &["verifyremote", name, "--safe", &id]);
    }
}

/// embedcreds=yes would have git-annex copy the credentials into remote.log: initremote fails
/// saying so, and nothing of them reaches git.
#[test]
fn initremote_with_embedcreds_is_refused() {
    let s = Scratch::new(Path::new(DEBIAN_GIT_ANNEX));
    let repo = s.repo("embed");
    // Nothing listens there: the refusal comes before any store is touched.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let def = s3_definition(
        &s,
        &format!("s3://annex/swarm?endpoint=http://127.0.0.1:{port}&region=us-east-1"),
    );
    let def_arg = format!("definition={}", def.display());
    let secret = "embed-hunter2-secret";
    let out = annex_env(
        &s,
        &repo,
        &s3_env(&s, secret, &format!("http://127.0.0.1:{port}")),
        &[
            "initremote",
            "eswarm",
            "type=external",
            "externaltype=swarm",
            "encryption=none",
            "embedcreds=yes",
            &def_arg,
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "embedcreds=yes would make git-annex copy store credentials into the git-annex branch"
        ),
        "{stderr}"
    );
    assert!(leaks(&out, secret).is_empty());
    assert!(!all_objects(&s, &repo).contains(secret));
    assert!(!repo.join(".git/annex/creds").exists());
    assert!(!s.path("stores/s2").exists(), "no store prepared");
}

/// git-annex keeps a Latin-1 byte of a file's extension in its SHA256E key (`photo.\xe9` gives a
/// key ending in the byte e9). The remote exited on the first protocol line holding such a key
/// ("invalid utf-8"), abandoning every other job of the process, and `git annex copy -J4` then
/// hung waiting for their replies. Every command here must finish, and in time.
#[test]
fn a_file_name_ending_in_a_latin1_byte_goes_through_copy_j4_get_fsck_and_drop() {
    latin1_file_name_round_trip(Path::new(DEBIAN_GIT_ANNEX));
}

/// The same with the newest git-annex.
#[test]
fn a_file_name_ending_in_a_latin1_byte_with_the_newest_git_annex() {
    if let Some(newest) = newest_git_annex() {
        latin1_file_name_round_trip(&newest);
    }
}

fn latin1_file_name_round_trip(git_annex: &Path) {
    const LIMIT: Duration = Duration::from_secs(180);
    let s = Scratch::new(git_annex);
    let repo = s.repo("latin1");
    // Inline and chunked files with the byte, among files without it.
    let mut files: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"photo.\xe9".to_vec(), e2e_content(7)),
        (b"big.\xe9".to_vec(), e2e_content(97)),
        (b"caf\xe9.\xe9\xe9".to_vec(), e2e_content(8)),
    ];
    for i in 0..8 {
        files.push((format!("g{i}.bin").into_bytes(), e2e_content(10 + i)));
    }
    for (name, data) in &files {
        std::fs::write(repo.join(OsStr::from_bytes(name)), data).unwrap();
    }
    s.annex(&repo, &["add", "-q", "."]);
    s.run(&repo, "git", &["commit", "-q", "-m", "files"]);
    initremote(&s, &repo, "myswarm", &["encryption=none"]);

    let run = |args: &[&str]| {
        let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
        s.annex_within(&repo, &args, LIMIT)
    };
    run(&["copy", "--to", "myswarm", "-J4", "."]);
    let present = run(&["find", "--in", "myswarm", "--format=${key}\\n"]);
    assert_eq!(present.lines().count(), files.len(), "{present}");
    // The keys git-annex made and the remote stored end in the byte (shown lossily here).
    assert_eq!(
        present.lines().filter(|k| k.ends_with(".\u{fffd}")).count(),
        2,
        "{present}"
    );
    run(&["drop", "-J4", "."]);
    assert!(!repo.join(OsStr::from_bytes(b"big.\xe9")).exists());
    run(&["get", "-J4", "."]);
    for (name, data) in &files {
        let got = std::fs::read(repo.join(OsStr::from_bytes(name))).unwrap();
        assert!(
            &got == data,
            "{} differs after get",
            String::from_utf8_lossy(name)
        );
    }
    run(&["fsck", "--from", "myswarm", "-J4", "--quiet"]);
    run(&["drop", "--from", "myswarm", "-J4", "."]);
    let present = run(&["find", "--in", "myswarm"]);
    assert!(present.trim().is_empty(), "{present}");
    // Really gone from the swarm: its manifests were removed.
    let left = s.run(
        s.dir.path(),
        "find",
        &[
            s.path("stores").to_str().unwrap(),
            "-path",
            "*/manifests/*",
            "-type",
            "f",
        ],
    );
    assert!(left.trim().is_empty(), "{left}");
}

/// Swarm nodes serving three of the six stores (`peer://`), started in this process on
/// 127.0.0.1; `git annex testremote` runs the remote, which reaches them as a member (its key
/// from ANNEX_SWARM_KEY), like any store: all 573 tests pass.
#[test]
fn testremote_full_with_peer_stores_served_by_nodes() {
    let mut s = Scratch::new(Path::new(DEBIAN_GIT_ANNEX));
    let client_key = s.path("client.key");
    let client = swarm_core::identity::Identity::create(&client_key).unwrap();
    let secrets: Vec<swarm_node::NodeSecret> =
        (0..3).map(|_| swarm_node::NodeSecret::generate()).collect();
    let definition = |addrs: &[std::net::SocketAddr]| {
        let mut t = String::from(
            "format = 2\nswarm = \"0123456789abcdef0123456789abcdef\"\nversion = 1\n\n[coding]\nk = 4\nm = 2\nshard_size = \"64KiB\"\ninline_threshold = \"16KiB\"\n",
        );
        for (i, secret) in secrets.iter().enumerate() {
            t.push_str(&format!(
                "\n[[node]]\nname = \"n{i}\"\nkey = \"{}\"\nstore = \"{}\"\n",
                secret.id(),
                s.path(&format!("nodes/n{i}")).display()
            ));
            if let Some(a) = addrs.get(i) {
                t.push_str(&format!("addrs = [\"{a}\"]\n"));
            }
        }
        t.push_str(&format!(
            "\n[[client]]\nname = \"tester\"\nkey = \"{}\"\nrole = \"admin\"\n",
            client.node_id()
        ));
        for (i, secret) in secrets.iter().enumerate() {
            t.push_str(&format!(
                "\n[[store]]\nid = \"n{i}\"\nurl = \"peer://{}\"\n",
                secret.id()
            ));
        }
        for i in 1..=3 {
            t.push_str(&format!(
                "\n[[store]]\nid = \"s{i}\"\nurl = \"{}\"\n",
                s.path(&format!("stores/s{i}")).display()
            ));
        }
        t
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let nodes: Vec<swarm_node::Daemon> = secrets
        .iter()
        .map(|secret| {
            let text = definition(&[]);
            rt.block_on(swarm_node::daemon::start(swarm_node::DaemonConfig {
                secret: secret.clone(),
                definition: swarm_core::definition::SwarmDefinition::parse(&text).unwrap(),
                definition_bytes: text.into_bytes(),
                signature: None,
                definition_path: None,
                listen: Some("127.0.0.1:0".parse().unwrap()),
                exchange_every: swarm_node::daemon::EXCHANGE_EVERY,
                replicate_every: swarm_node::replicate::REPLICATE_EVERY,
                status: None,
                local: Default::default(),
            }))
            .unwrap()
        })
        .collect();
    let addrs: Vec<std::net::SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let def = s.path("swarm.toml");
    std::fs::write(&def, definition(&addrs)).unwrap();
    s.extra_env = vec![(
        "ANNEX_SWARM_KEY".into(),
        client_key.to_str().unwrap().into(),
    )];
    let repo = s.repo("nodes");
    let def_arg = format!("definition={}", def.display());
    s.annex(
        &repo,
        &[
            "initremote",
            "myswarm",
            "type=external",
            "externaltype=swarm",
            &def_arg,
            "encryption=none",
        ],
    );
    let out = s.annex(&repo, &["testremote", "myswarm"]);
    assert_eq!(passed(&out), 573, "{}", tail(out.as_bytes()));
    for (i, _) in nodes.iter().enumerate() {
        let shards = s.path(&format!("nodes/n{i}/shards"));
        assert!(
            std::fs::read_dir(&shards).is_ok_and(|mut d| d.next().is_some()),
            "node {i} holds no shard"
        );
    }
    rt.block_on(async {
        for n in &nodes {
            n.node.shutdown().await;
        }
    });
}
