//! `annex-swarm torrent get` against real peers on loopback: opentracker as the tracker and an
//! aria2c seeder on its own 127.0.0.x address, DHT off everywhere.

#![cfg(feature = "torrent")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::bin;
use serde_json::Value;
use swarm_testservers::torrent::{Client, MULTI, MULTI_NAME, Rig, SINGLE, Seeder};

/// `torrent get SOURCE --out OUT ...` with DHT off and a loopback listener.
fn get(source: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = bin();
    cmd.args(["torrent", "get", source, "--out"])
        .arg(out)
        .args([
            "--no-dht",
            "--listen",
            "127.0.0.1:0",
            "--metadata-timeout",
            "30",
        ])
        .args(extra)
        .timeout(Duration::from_secs(180));
    if !extra.contains(&"--stall-timeout") {
        cmd.args(["--stall-timeout", "30"]);
    }
    cmd.output().expect("run annex-swarm")
}

fn get_json(source: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let o = get(source, out, &args);
    assert!(
        o.status.success(),
        "torrent get {source} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json report")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Names in `dir`, hidden ones included.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn torrent_files_single_and_multi_download_whole_and_equal() {
    let rig = Rig::start("127.0.0.2");
    let out = tempfile::tempdir().unwrap();

    let single = rig.single.path.to_str().unwrap();
    let report = get_json(single, out.path(), &[]);
    assert_eq!(report["info_hash"], rig.single.info_hash.as_str());
    assert_eq!(report["bytes"], SINGLE.1);
    assert!(report["peers_seen"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(
        std::fs::read(out.path().join(SINGLE.0)).unwrap(),
        rig.expected(SINGLE.0)
    );

    let multi = rig.multi.path.to_str().unwrap();
    let report = get_json(multi, out.path(), &[]);
    assert_eq!(report["files"].as_array().unwrap().len(), MULTI.len());
    for (path, len) in MULTI {
        let got = std::fs::read(out.path().join(MULTI_NAME).join(path)).unwrap();
        assert_eq!(got.len(), len);
        assert_eq!(got, rig.expected(&format!("{MULTI_NAME}/{path}")), "{path}");
    }
    // The staging directories are gone: only the files, under their names.
    assert_eq!(names(out.path()), [MULTI_NAME, SINGLE.0]);
}

#[test]
fn magnets_through_the_tracker_and_through_x_pe_alone() {
    let rig = Rig::start("127.0.0.3");
    let out = tempfile::tempdir().unwrap();

    // tr= only, one file of the multi-file torrent: the others are not placed.
    let magnet = rig.magnet(&rig.multi, true, false);
    let report = get_json(&magnet, out.path(), &["--only", "sub dir/b.txt"]);
    assert_eq!(report["files"].as_array().unwrap().len(), 1);
    let want = format!("{MULTI_NAME}/sub dir/b.txt");
    assert_eq!(
        std::fs::read(out.path().join(&want)).unwrap(),
        rig.expected(&want)
    );
    assert!(!out.path().join(MULTI_NAME).join("a.bin").exists());

    // x.pe= only: no tracker to ask, the magnet's peer is dialled at once.
    let magnet = rig.magnet(&rig.single, false, true);
    get_json(&magnet, out.path(), &[]);
    assert_eq!(
        std::fs::read(out.path().join(SINGLE.0)).unwrap(),
        rig.expected(SINGLE.0)
    );
    assert_eq!(names(out.path()), [MULTI_NAME, SINGLE.0]);
}

#[test]
fn a_libtorrent_seeder_serves_torrent_files_and_x_pe_magnets() {
    let rig = Rig::start_with(Client::Libtorrent, "127.0.0.8");
    let out = tempfile::tempdir().unwrap();
    get_json(rig.multi.path.to_str().unwrap(), out.path(), &[]);
    for (path, _) in MULTI {
        let rel = format!("{MULTI_NAME}/{path}");
        assert_eq!(
            std::fs::read(out.path().join(&rel)).unwrap(),
            rig.expected(&rel)
        );
    }
    let magnet = rig.magnet(&rig.single, false, true);
    get_json(&magnet, out.path(), &[]);
    assert_eq!(
        std::fs::read(out.path().join(SINGLE.0)).unwrap(),
        rig.expected(SINGLE.0)
    );
}

/// Interop with Debian's transmission-cli 3.00 as the seeder (found through opentracker, as
/// announced from its own 127.0.0.x): a multi-file .torrent and a single file's magnet with
/// its tracker. transmission unchokes every 10 s, so each get may wait that long; under load
/// (the whole suite on two cores) a get was seen with no peer connected for 30 s before it
/// came, so these gets allow 90 s without progress.
#[test]
fn a_transmission_seeder_serves_torrent_get() {
    let rig = Rig::start_with(Client::Transmission, "127.0.0.53");
    let out = tempfile::tempdir().unwrap();
    let patient = ["--stall-timeout", "90"];
    get_json(rig.multi.path.to_str().unwrap(), out.path(), &patient);
    for (path, _) in MULTI {
        let rel = format!("{MULTI_NAME}/{path}");
        assert_eq!(
            std::fs::read(out.path().join(&rel)).unwrap(),
            rig.expected(&rel)
        );
    }
    let magnet = rig.magnet(&rig.single, true, false);
    get_json(&magnet, out.path(), &patient);
    assert_eq!(
        std::fs::read(out.path().join(SINGLE.0)).unwrap(),
        rig.expected(SINGLE.0)
    );
}

/// aria2c seeding unverified content sends what its file holds: here a byte flipped every
/// 4 KiB. Every piece it sends fails its SHA-1 check and counts for nothing.
#[test]
fn a_seeder_sending_bad_pieces_is_not_believed() {
    let rig = Rig::start("127.0.0.9");
    let bad = tempfile::tempdir().unwrap();
    let mut lie = rig.expected(SINGLE.0);
    for b in lie.iter_mut().step_by(4096) {
        *b ^= 0xff;
    }
    std::fs::write(bad.path().join(SINGLE.0), &lie).unwrap();
    let liar = Seeder::aria2c("127.0.0.10", bad.path(), &[&rig.single.path]);
    let out = tempfile::tempdir().unwrap();

    // The liar alone (no tracker, only its x.pe): the get stalls and fails, nothing placed.
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&x.pe={}",
        rig.single.info_hash, liar.addr
    );
    let o = get(&magnet, out.path(), &["--stall-timeout", "8"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no progress for 8s"), "{}", stderr(&o));
    // librqbit's own warning: the liar's pieces were received, checked and refused.
    assert!(stderr(&o).contains("did not validate"), "{}", stderr(&o));
    assert!(!out.path().join(SINGLE.0).exists());

    // With the honest seeder too (the tracker names both): the content is the seeded one.
    get_json(rig.single.path.to_str().unwrap(), out.path(), &[]);
    assert_eq!(
        std::fs::read(out.path().join(SINGLE.0)).unwrap(),
        rig.expected(SINGLE.0)
    );
}

#[test]
fn an_interrupted_get_resumes_from_its_staging_directory() {
    let mut rig = Rig::start("127.0.0.4");
    let out = tempfile::tempdir().unwrap();
    // What an interrupted get left: the whole file in the staging directory, with no seeder
    // left to ask. The get checks those pieces and needs no peer.
    let staging = out
        .path()
        .join(format!(".annex-swarm-torrent-{}", rig.single.info_hash));
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join(SINGLE.0), rig.expected(SINGLE.0)).unwrap();
    rig.seeder.stop();
    let report = get_json(rig.single.path.to_str().unwrap(), out.path(), &[]);
    assert_eq!(report["bytes"], SINGLE.1);
    // Whether a peer was seen depends on how fast the staged pieces check against the
    // tracker's answer (the stopped seeder may still be listed): not asserted.
    assert_eq!(
        std::fs::read(out.path().join(SINGLE.0)).unwrap(),
        rig.expected(SINGLE.0)
    );
    assert_eq!(names(out.path()), [SINGLE.0]);
}

#[test]
fn half_a_file_already_there_is_completed_from_the_seeder() {
    let rig = Rig::start("127.0.0.5");
    let out = tempfile::tempdir().unwrap();
    let staging = out
        .path()
        .join(format!(".annex-swarm-torrent-{}", rig.single.info_hash));
    std::fs::create_dir_all(&staging).unwrap();
    let mut partial = rig.expected(SINGLE.0);
    // The second half is garbage: those pieces fail their check and are fetched.
    for b in &mut partial[SINGLE.1 / 2..] {
        *b = 0;
    }
    std::fs::write(staging.join(SINGLE.0), &partial).unwrap();
    get_json(rig.single.path.to_str().unwrap(), out.path(), &[]);
    assert_eq!(
        std::fs::read(out.path().join(SINGLE.0)).unwrap(),
        rig.expected(SINGLE.0)
    );
}

#[test]
fn bad_sources_fail_clearly_and_leave_nothing() {
    let out = tempfile::tempdir().unwrap();
    let junk = out.path().join("junk.torrent");
    std::fs::write(&junk, b"d8:announce3:abc4:infoi3ee").unwrap();
    // BEP 52 only: a file tree and no v1 `pieces`.
    let v2 = out.path().join("v2.torrent");
    std::fs::write(
        &v2,
        b"d4:infod9:file treed1:xd0:d6:lengthi5e11:pieces root32:0123456789abcdef0123456789abcdefeee12:meta versioni2e4:name1:x12:piece lengthi16384eee",
    )
    .unwrap();
    let cases = [
        ("magnet:?xt=urn:btih:123", "not a BitTorrent v1 info hash"),
        ("magnet:?dn=x", "no `xt=urn:btih:` info hash"),
        (
            "magnet:?xt=urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e",
            "is BitTorrent v2 only",
        ),
        (junk.to_str().unwrap(), "is not a valid .torrent file"),
        (v2.to_str().unwrap(), "is BitTorrent v2 only"),
        ("ftp:x", "not a torrent source"),
    ];
    for (source, says) in cases {
        let o = get(source, out.path(), &[]);
        assert!(!o.status.success(), "{source} succeeded");
        assert!(stderr(&o).contains(says), "{source}: {}", stderr(&o));
    }
    assert_eq!(names(out.path()), ["junk.torrent", "v2.torrent"]);
}

#[test]
fn a_tracker_that_never_answers_fails_within_the_metadata_timeout() {
    let out = tempfile::tempdir().unwrap();
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.6:0").unwrap();
    let magnet = format!(
        "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&tr=http://{}/announce",
        silent.local_addr().unwrap()
    );
    let started = Instant::now();
    let mut cmd = bin();
    cmd.args(["torrent", "get", &magnet, "--out"])
        .arg(out.path())
        .args(["--no-dht", "--listen", "none", "--metadata-timeout", "3"])
        .timeout(Duration::from_secs(60));
    let o = cmd.output().unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no metadata within 3s"),
        "{}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(names(out.path()).is_empty());
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let rig = Rig::start("127.0.0.7");
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join(SINGLE.0), b"mine").unwrap();
    let o = get(rig.single.path.to_str().unwrap(), out.path(), &[]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.path().join(SINGLE.0)).unwrap(), b"mine");
}
