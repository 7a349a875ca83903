//! Per-store quotas, and cloud-drive stores without network (configuration and error paths).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// Sets `quota` on the `i`-th store of the fixture's definition.
fn set_quota(swarm: &Swarm, i: usize, quota: &str) {
    let text = std::fs::read_to_string(&swarm.def).unwrap();
    let url_line = format!("url = \"{}\"", swarm.stores[i].display());
    assert!(text.contains(&url_line), "{text}");
    let text = text.replace(&url_line, &format!("{url_line}\nquota = \"{quota}\""));
    std::fs::write(&swarm.def, text).unwrap();
}

fn bytes_on(swarm: &Swarm, i: usize) -> u64 {
    ["shards", "manifests"]
        .iter()
        .flat_map(|d| swarm.files(i, d))
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum()
}

#[test]
fn a_full_store_is_passed_over_for_the_next_in_the_ranking() {
    // Seven stores for 4 + 2: one spare, so a full store is not fatal.
    let swarm = Swarm::with_stores(7, &[]);
    set_quota(&swarm, 0, "20KiB");
    let data = pseudo_random(600_000, 11);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    assert!(
        bytes_on(&swarm, 0) <= 20 << 10,
        "store 0 went past its quota"
    );
    swarm.assert_restores(&key, &data);
    let (ok, health) = swarm.health(false, &key);
    assert!(ok, "{health}");
    // status shows used against quota for that store, none for the others.
    let status = swarm.json(&["status", "--json"]);
    let stores = status["stores"].as_array().unwrap();
    assert_eq!(stores[0]["quota"], 20 << 10);
    assert!(stores[0]["bytes_used"].as_u64().unwrap() <= 20 << 10);
    assert!(stores[1]["quota"].is_null());
    let text = swarm.ok(&["status"]);
    assert!(text.contains("of quota 20KiB"), "{text}");
    // A second put in a new process learns the usage by listing, and still stays under.
    let more = pseudo_random(400_000, 12);
    let key2 = swarm.put(&swarm.write_file("g.bin", &more));
    assert!(bytes_on(&swarm, 0) <= 20 << 10);
    swarm.assert_restores(&key2, &more);
}

#[test]
fn put_fails_naming_the_full_stores_when_too_few_have_room() {
    let swarm = Swarm::new();
    set_quota(&swarm, 2, "8KiB");
    set_quota(&swarm, 4, "8KiB");
    let data = pseudo_random(300_000, 13);
    let ids = swarm.store_ids();
    let err = swarm.fail(&["put", s(&swarm.write_file("f.bin", &data))]);
    assert_error_line(&err, &["not enough stores", "full (quota 8KiB"]);
    assert!(
        err.contains(&ids[2]) || err.contains(&ids[4]),
        "the error must name a full store: {err}"
    );
    assert!(swarm.ls_keys().is_empty(), "a failed put left a key");
    assert!(bytes_on(&swarm, 2) <= 8 << 10 && bytes_on(&swarm, 4) <= 8 << 10);
}

#[test]
fn bad_quota_is_refused() {
    let swarm = Swarm::new();
    set_quota(&swarm, 0, "lots");
    let err = swarm.fail(&["status"]);
    assert_error_line(&err, &["bad size"]);
}

/// A definition with a gdrive store and five local ones (3 + 2), written by hand.
fn drive_swarm(drive_url: &str) -> (tempfile::TempDir, std::path::PathBuf, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let def = dir.path().join("swarm.toml");
    let mut args = vec![
        "init".to_owned(),
        "--k".into(),
        "3".into(),
        "--m".into(),
        "2".into(),
    ];
    for i in 0..5 {
        args.push("--store".into());
        args.push(dir.path().join(format!("l{i}")).display().to_string());
    }
    let out = bin().arg("--swarm").arg(&def).args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = std::fs::read_to_string(&def).unwrap();
    text.push_str(&format!(
        "\n[[store]]\nid = \"drive\"\nurl = \"{drive_url}\"\n"
    ));
    std::fs::write(&def, text).unwrap();
    let cred = dir.path().join("credentials.toml");
    (dir, def, vec![cred.display().to_string()])
}

#[test]
fn cloud_drive_without_credentials_is_down_by_name_and_the_rest_works() {
    for (url, kind) in [
        ("gdrive://annex/swarm", "gdrive"),
        ("onedrive://annex", "onedrive"),
        ("dropbox://annex", "dropbox"),
    ] {
        let (dir, def, cred) = drive_swarm(url);
        let run = |args: &[&str]| {
            let out = bin()
                .current_dir(dir.path())
                .env("ANNEX_SWARM_CREDENTIALS", &cred[0])
                .arg("--swarm")
                .arg(&def)
                .args(args)
                .output()
                .unwrap();
            assert_no_panic(&out, args);
            out
        };
        let status = run(&["status"]);
        let text = String::from_utf8_lossy(&status.stdout);
        let line = text.lines().find(|l| l.contains("drive ")).unwrap();
        assert!(line.contains("DOWN"), "{line}");
        let want = format!("ANNEX_SWARM_{}_CLIENT_ID", kind.to_ascii_uppercase());
        assert!(line.contains(&want), "{kind}: want `{want}` in {line}");
        let data = pseudo_random(500_000, 14);
        std::fs::write(dir.path().join("f"), &data).unwrap();
        let out = run(&["put", "f"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let out = run(&["get", &key, "back"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read(dir.path().join("back")).unwrap() == data);
        // With credentials but no way to reach the service (a closed loopback port stands in
        // for "no network" deterministically), the store is down, saying it does not answer.
        let out = bin()
            .current_dir(dir.path())
            .env("ANNEX_SWARM_CREDENTIALS", &cred[0])
            .env(
                format!("ANNEX_SWARM_{}_CLIENT_ID", kind.to_ascii_uppercase()),
                "cid",
            )
            .env(
                format!("ANNEX_SWARM_{}_CLIENT_SECRET", kind.to_ascii_uppercase()),
                "csecret-xyz",
            )
            .env("ANNEX_SWARM_DRIVE_REFRESH_TOKEN", "rtoken-xyz")
            .env("ANNEX_SWARM_LOG", "trace")
            .args(["--swarm", s(&def), "status"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().find(|l| l.contains("drive ")).unwrap();
        assert!(line.contains("DOWN"), "{line}");
        let logs = String::from_utf8_lossy(&out.stderr);
        for t in [&text, &logs] {
            let leaks: Vec<&str> = t
                .lines()
                .filter(|l| l.contains("csecret-xyz") || l.contains("rtoken-xyz"))
                .collect();
            assert!(
                leaks.is_empty(),
                "{kind}: a secret was printed:\n{}",
                leaks.join("\n")
            );
        }
    }
}

#[test]
fn authorize_fails_clearly_without_client_or_network() {
    let dir = tempfile::tempdir().unwrap();
    let cred = dir.path().join("credentials.toml");
    let run = |extra: &[(&str, &str)], args: &[&str]| {
        let mut c = bin();
        c.env("ANNEX_SWARM_CREDENTIALS", &cred);
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = c.args(args).output().unwrap();
        assert_no_panic(&out, args);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&[], &["authorize", "gdrive"]);
    assert_error_line(&err, &["ANNEX_SWARM_GDRIVE_CLIENT_ID", "[service.gdrive]"]);
    let err = run(&[], &["authorize", "icloud"]);
    assert_error_line(&err, &["gdrive, onedrive and dropbox"]);
    for kind in ["gdrive", "onedrive", "dropbox"] {
        let var = format!("ANNEX_SWARM_{}_CLIENT_ID", kind.to_ascii_uppercase());
        let err = run(
            &[
                (&var, "cid"),
                ("ANNEX_SWARM_OAUTH_TOKEN_HOST", "127.0.0.1:1"),
            ],
            &["authorize", kind],
        );
        assert_error_line(
            &err,
            &[
                "cannot reach 127.0.0.1:1",
                "no network?",
                "nothing was changed",
            ],
        );
        assert!(
            !cred.exists(),
            "a failed authorize wrote the credentials file"
        );
    }
}
