//! One test per bug or hazard found, named after what broke.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Swarm, pseudo_random};

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
