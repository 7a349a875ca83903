//! One test per bug or hazard found, named after what broke.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Swarm, pseudo_random};
use swarm_testservers::recorder::Recorder;

/// Appends a store to the definition by hand, as a user growing the swarm would.
fn add_store(swarm: &Swarm, id: &str) {
    let dir = swarm.path(id);
    let mut text = std::fs::read_to_string(&swarm.def).unwrap();
    text.push_str(&format!(
        "\n[[store]]\nid = \"{id}\"\nurl = \"{}\"\n",
        dir.display()
    ));
    std::fs::write(&swarm.def, text).unwrap();
    swarm.ok(&["store", "init", id]);
}

/// Adding a store shifts every chunk's ranking: shards stay where the old ranking put them,
/// and readers, fsck, repair and gc must all still find them there.
#[test]
fn a_store_added_later_leaves_every_key_readable() {
    let swarm = Swarm::new();
    let data = pseudo_random(1 << 20, 41);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    add_store(&swarm, "added");
    swarm.assert_restores(&key, &data);
    let (all_ok, _) = swarm.fsck(false, &[&key]);
    assert!(all_ok, "fsck after adding a store");
    let (_, health) = swarm.health(true, &key);
    assert_eq!(health["spare"], 2, "{health}");
    swarm.ok(&["repair", &key]);
    swarm.ok(&["gc", "--grace", "0"]);
    swarm.assert_restores(&key, &data);
    let (_, health) = swarm.health(true, &key);
    assert_eq!(
        health["spare"], 2,
        "gc must keep shards where the old ranking put them: {health}"
    );
}

/// A manifest written under a coding with more shards than the swarm now has stores used to
/// index past the end of the store ranking (a panic reachable from stored data).
#[test]
fn a_definition_shrunk_below_a_manifests_coding_fails_cleanly() {
    let swarm = Swarm::new();
    let data = pseudo_random(300_000, 42);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    let text = std::fs::read_to_string(&swarm.def).unwrap();
    let mut parts = text.split("[[store]]");
    let head = parts
        .next()
        .unwrap()
        .replace("k = 4", "k = 2")
        .replace("m = 2", "m = 1");
    let kept: Vec<&str> = parts.take(3).collect();
    std::fs::write(
        &swarm.def,
        format!("{head}[[store]]{}", kept.join("[[store]]")),
    )
    .unwrap();
    swarm.ok(&["ls"]);
    let err = swarm.fail(&["get", &key, "out/f.bin"]);
    assert!(err.starts_with("annex-swarm: error:"), "{err}");
    assert!(!swarm.path("out/f.bin").exists());
    let out = swarm.run(&["fsck", &key]);
    assert!(!out.status.success(), "fsck must report the key as lost");
}

/// `annex-swarm fsck | head -1` panicked with "failed printing to stdout: Broken pipe".
#[test]
fn output_to_a_closed_pipe_is_a_quiet_exit() {
    let swarm = Swarm::new();
    let key = swarm.put(&swarm.write_file("f.bin", &pseudo_random(100_000, 43)));
    for args in [
        vec!["fsck", key.as_str()],
        vec!["ls"],
        vec!["status", "--json"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("annex-swarm"))
            .arg("--swarm")
            .arg(&swarm.def)
            .args(&args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
    }
}

/// Appends a WebDAV store at `origin` (`http://IP:PORT`) to the definition, as a collaborator
/// editing the shared definition might.
fn add_webdav_store(swarm: &Swarm, id: &str, origin: &str) {
    let mut text = std::fs::read_to_string(&swarm.def).unwrap();
    let url = origin.replace("http://", "webdav+http://tester@");
    text.push_str(&format!(
        "\n[[store]]\nid = \"{id}\"\nurl = \"{url}/dav/\"\n"
    ));
    std::fs::write(&swarm.def, text).unwrap();
}

/// `annex-swarm status` with exactly `env` as credentials; its stdout, checked to hold no
/// secret anywhere.
fn status_with(swarm: &Swarm, env: &[(&str, &str)]) -> String {
    let mut cmd = swarm.cmd();
    for v in [
        "ANNEX_SWARM_WEBDAV_PASSWORD",
        "ANNEX_SWARM_WEBDAV_HOSTS",
        "ANNEX_SWARM_DAV_PASSWORD",
        "ANNEX_SWARM_DAV_HOSTS",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("ANNEX_SWARM_CREDENTIALS", swarm.path("no-credentials.toml"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.args(["-vv", "status"]).output().unwrap();
    common::assert_no_panic(&out, &["status"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("hunter2"), "a secret was printed:\n{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line of `status` about store `id`.
fn status_line(status: &str, id: &str) -> String {
    status
        .lines()
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("no line for {id}:\n{status}"))
        .to_owned()
}

/// Issue 11, item 9: with a kind-wide WebDAV password set, a store that a collaborator added
/// to the shared definition for another host received the password (HTTP Basic, in the clear)
/// on the next `status`. A listener on 127.0.0.2 stands in for that host and records any
/// `Authorization` header: none arrives, and the store is down naming the host and the variable
/// that would allow it. Once the user names the host, the password does go there (the listener
/// would see a leak).
#[test]
fn a_webdav_store_added_for_another_host_does_not_get_the_kind_wide_password() {
    let swarm = Swarm::new();
    let evil = Recorder::start([127, 0, 0, 2].into());
    add_webdav_store(&swarm, "added", &evil.origin());
    let password = ("ANNEX_SWARM_WEBDAV_PASSWORD", "hunter2-kind-wide");
    // The user's password is for their own server; and a user who named no host at all.
    let out = status_with(
        &swarm,
        &[
            password,
            ("ANNEX_SWARM_WEBDAV_HOSTS", "https://dav.example"),
        ],
    );
    let line = status_line(&out, "added");
    assert!(
        line.contains(&format!(
            "DOWN: store added is unavailable: the webdav `password` from ANNEX_SWARM_WEBDAV_PASSWORD is not sent to {0} (it may go only to https://dav.example); if that host should have it, add {0} to ANNEX_SWARM_WEBDAV_HOSTS",
            evil.origin()
        )),
        "{line}"
    );
    let line = status_line(&status_with(&swarm, &[password]), "added");
    assert!(
        line.contains("(ANNEX_SWARM_WEBDAV_HOSTS names no host for it)"),
        "{line}"
    );
    let sent: Vec<_> = evil
        .seen()
        .into_iter()
        .filter(|s| s.authorization)
        .collect();
    assert!(
        sent.is_empty(),
        "the password reached the added host: {sent:?}"
    );
    // The six local stores were not held back by it.
    assert_eq!(
        out.lines().filter(|l| l.ends_with("  up")).count(),
        6,
        "{out}"
    );

    // Named, it goes there (and is refused by the listener).
    let named = format!("https://dav.example,{}", evil.origin());
    status_with(&swarm, &[password, ("ANNEX_SWARM_WEBDAV_HOSTS", &named)]);
    assert!(
        evil.seen().iter().any(|s| s.authorization),
        "the control request carried no credentials: {:?}",
        evil.seen()
    );
}

/// Issue 11, item 9: a collaborator changing the URL of an existing store id in the shared
/// definition redirected that store's own credentials (per-store variables, `[store.ID]` in the
/// credentials file) to the new host. They stay with the host they were given for.
#[test]
fn changing_a_stores_url_to_another_host_does_not_carry_its_credentials() {
    use std::os::unix::fs::PermissionsExt;
    let swarm = Swarm::new();
    let mine = Recorder::start([127, 0, 0, 1].into());
    let evil = Recorder::start([127, 0, 0, 2].into());
    add_webdav_store(&swarm, "dav", &mine.origin());
    let file = swarm.path("credentials.toml");
    std::fs::write(
        &file,
        format!(
            "[store.dav]\nhosts = [\"{}\"]\npassword = \"hunter2-in-file\"\n",
            mine.origin()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let from_file = ("ANNEX_SWARM_CREDENTIALS", file.to_str().unwrap());
    let hosts = mine.origin();
    let from_env = [
        ("ANNEX_SWARM_DAV_PASSWORD", "hunter2-in-env"),
        ("ANNEX_SWARM_DAV_HOSTS", hosts.as_str()),
    ];
    // At its own host both are sent (the control).
    status_with(&swarm, &[from_file]);
    status_with(&swarm, &from_env);
    let sent = mine.seen().iter().filter(|s| s.authorization).count();
    assert!(sent >= 2, "{:?}", mine.seen());

    let text = std::fs::read_to_string(&swarm.def).unwrap();
    std::fs::write(
        &swarm.def,
        text.replace(&mine.origin()[7..], &evil.origin()[7..]),
    )
    .unwrap();
    let line = status_line(&status_with(&swarm, &[from_file]), "dav");
    assert!(
        line.contains(&format!(
            "is not sent to {0} (it may go only to {1}); if that host should have it, add \"{0}\" to `hosts` under [store.dav]",
            evil.origin(),
            mine.origin()
        )),
        "{line}"
    );
    let line = status_line(&status_with(&swarm, &from_env), "dav");
    assert!(
        line.contains(&format!(
            "the webdav `password` from ANNEX_SWARM_DAV_PASSWORD is not sent to {0} (it may go only to {1}); if that host should have it, add {0} to ANNEX_SWARM_DAV_HOSTS",
            evil.origin(),
            mine.origin()
        )),
        "{line}"
    );
    let sent: Vec<_> = evil
        .seen()
        .into_iter()
        .filter(|s| s.authorization)
        .collect();
    assert!(
        sent.is_empty(),
        "the store's credentials followed it: {sent:?}"
    );
}

/// git-annex keeps a Latin-1 extension byte in a SHA256E key (`photo.\xe9` gives a key ending
/// in the byte e9). Keys were text here: such a file got a key without its extension, and such
/// a key could not be named on the command line.
#[test]
fn a_file_name_ending_in_a_latin1_byte_gets_git_annexs_key_and_can_be_named() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let swarm = Swarm::new();
    // Inline and chunked.
    for (size, seed) in [(6usize, 43u64), (300_000, 44)] {
        let data = pseudo_random(size, seed);
        let file = swarm.dir.path().join(OsStr::from_bytes(b"photo.\xe9"));
        std::fs::write(&file, &data).unwrap();
        let digest = common::sha256_hex(&data);
        let key = [format!("SHA256E-s{size}--{digest}.").as_bytes(), b"\xe9"].concat();
        let key = OsStr::from_bytes(&key);
        let shown = format!("SHA256E-s{size}--{digest}.\\xe9");

        let out = swarm.cmd().arg("put").arg(&file).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), shown);

        let dest = swarm.dest();
        let out = swarm.cmd().arg("get").arg(key).arg(&dest).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(
            std::fs::read(&dest).unwrap() == data,
            "restored bytes differ"
        );
        let out = swarm
            .cmd()
            .args(["fsck", "--json"])
            .arg(key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(swarm.ls_keys().contains(&shown));
        // Stored again under the same key (`put --key` with its bytes): nothing new.
        let out = swarm
            .cmd()
            .args(["put", "--key"])
            .arg(key)
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let out = swarm.cmd().arg("rm").arg(key).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let out = swarm
            .cmd()
            .arg("get")
            .arg(key)
            .arg(swarm.dest())
            .output()
            .unwrap();
        assert!(!out.status.success(), "removed, yet restored");
        std::fs::remove_file(&file).unwrap();
    }
    assert!(swarm.ls_keys().is_empty());
}

/// Adds `line` to every `[[store]]` of the fixture's definition.
fn add_to_stores(swarm: &Swarm, line: &str) {
    let text = std::fs::read_to_string(&swarm.def).unwrap();
    let text = text.replace("[[store]]\n", &format!("[[store]]\n{line}\n"));
    std::fs::write(&swarm.def, text).unwrap();
}

/// Files whose name contains `.part` in `dir`.
fn part_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".part"))
        .collect()
}

/// Issue 11, item 10: only Ctrl-C removed a get's partial file; SIGTERM or SIGHUP left it for
/// good. All three now end the get, removing it.
#[test]
fn a_get_killed_by_sigterm_or_sighup_leaves_no_partial_file() {
    let swarm = Swarm::new();
    let data = pseudo_random(3 << 20, 51);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    // Slow enough that the signal comes mid-get.
    add_to_stores(&swarm, "download_rate = \"64KiB/s\"");
    for signal in ["TERM", "HUP"] {
        let out_dir = swarm.path(&format!("out-{signal}"));
        std::fs::create_dir(&out_dir).unwrap();
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("annex-swarm"))
            .current_dir(swarm.dir.path())
            .env_remove("ANNEX_SWARM")
            .arg("--swarm")
            .arg(&swarm.def)
            .args(["get", &key])
            .arg(out_dir.join("f.bin"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while part_files(&out_dir).is_empty() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "no part file"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let killed = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait().unwrap();
        assert!(!status.success(), "SIG{signal}: {status}");
        assert!(
            part_files(&out_dir).is_empty(),
            "SIG{signal} left {:?}",
            part_files(&out_dir)
        );
    }
}

/// Issue 11, item 10: a key longer than a manifest can hold (64 KiB) was refused only after
/// every shard had been uploaded. It is now refused before anything is stored.
#[test]
fn a_key_too_long_for_a_manifest_is_refused_before_any_upload() {
    let swarm = Swarm::new();
    let data = pseudo_random(1 << 20, 52);
    let file = swarm.write_file("f.bin", &data);
    let key = format!("WORM-s{}-m1--{}", data.len(), "a".repeat(70_000));
    let err = swarm.fail(&["put", "--key", &key, file.to_str().unwrap()]);
    assert!(err.contains("65535"), "{err}");
    assert_eq!(
        swarm.shard_counts().iter().sum::<usize>(),
        0,
        "shards were uploaded"
    );
}

/// Issue 11, item 10: a get into an existing directory downloaded the whole object before
/// failing. It now fails at once, naming the destination.
#[test]
fn a_get_into_a_directory_fails_before_downloading() {
    let swarm = Swarm::new();
    let data = pseudo_random(3 << 20, 53);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    add_to_stores(&swarm, "download_rate = \"64KiB/s\"");
    let dir = swarm.path("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let started = std::time::Instant::now();
    let err = swarm.fail(&["get", &key, dir.to_str().unwrap()]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains("a-directory") && err.contains("not a plain file"),
        "{err}"
    );
}

/// Issue 11, item 2: with a store's `tmp/` replaced by a link to another directory, gc deleted
/// every file older than the grace period under the link's target. A store's layout is now
/// walked without following links: the link is reported and nothing outside is touched.
#[test]
fn gc_never_follows_a_link_out_of_a_store() {
    // A spare store takes what the store with the links refuses.
    let swarm = Swarm::with_stores(7, &[]);
    let outside = swarm.path("outside");
    std::fs::create_dir(&outside).unwrap();
    let precious = outside.join("1.2.precious");
    std::fs::write(&precious, b"not the swarm's").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(86400);
    std::fs::File::options()
        .write(true)
        .open(&precious)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let store = &swarm.stores[0];
    // A fan-out directory of shards that is a link out: listed as a stray, never walked.
    std::fs::create_dir_all(store.join("shards")).unwrap();
    std::os::unix::fs::symlink(&outside, store.join("shards").join("ab")).unwrap();
    let key = swarm.put(&swarm.write_file("f.bin", &pseudo_random(1 << 20, 54)));
    swarm.ok(&["rm", &key]);
    swarm.ok(&["gc", "--grace", "0"]);
    assert_eq!(
        std::fs::read(&precious).unwrap(),
        b"not the swarm's",
        "gc deleted a file outside the store"
    );
    // The staging directory replaced by a link out: the store takes no writes (the spare
    // store takes its shards), and gc, which cannot lock it, refuses and names the link.
    let _ = std::fs::remove_dir_all(store.join("tmp"));
    std::os::unix::fs::symlink(&outside, store.join("tmp")).unwrap();
    let key = swarm.put(&swarm.write_file("g.bin", &pseudo_random(1 << 20, 55)));
    swarm.ok(&["rm", &key]);
    let err = swarm.fail(&["gc", "--grace", "0"]);
    assert!(
        err.contains("tmp/") && err.contains("symbolic link"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&precious).unwrap(),
        b"not the swarm's",
        "gc deleted a file outside the store"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
}
