//! Bad definitions, arguments and keys: each is refused with exit code != 0 and one line
//! `annex-swarm: error: ...` naming the problem, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;

/// Runs the binary with these arguments from `cwd`; asserts a clean one-line error holding every
/// needle, and returns it.
fn refused(cwd: &Path, args: &[&str], needles: &[&str]) -> String {
    let out = bin().current_dir(cwd).args(args).output().unwrap();
    assert_no_panic(&out, args);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success(),
        "`annex-swarm {}` succeeded:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_error_line(&err, needles);
    err
}

/// The fixture's definition with `from` replaced by `to`, written to a new file.
fn edited_definition(swarm: &Swarm, name: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(&swarm.def).unwrap();
    assert!(text.contains(from), "`{from}` not in:\n{text}");
    let p = swarm.path(name);
    std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    s(&p).to_owned()
}

/// Every command that opens the swarm refuses this definition with these words.
fn definition_refused(swarm: &Swarm, def: &str, needles: &[&str]) {
    let dest = swarm.dest();
    let key = sha256e_key(b"x", "");
    for cmd in [
        vec!["ls"],
        vec!["status"],
        vec!["fsck"],
        vec!["get", &key, s(&dest)],
        vec!["put", s(&swarm.def)],
        vec!["gc"],
    ] {
        let mut args = vec!["--swarm", def];
        args.extend(cmd);
        refused(swarm.dir.path(), &args, needles);
    }
    assert!(!dest.exists());
}

#[test]
fn missing_definition_file() {
    let swarm = Swarm::new();
    let missing = swarm.path("nowhere/swarm.toml");
    refused(
        swarm.dir.path(),
        &["--swarm", s(&missing), "ls"],
        &["cannot read swarm definition", s(&missing)],
    );
    // No --swarm and no ANNEX_SWARM: ./swarm.toml, which is not there either.
    let empty = swarm.path("empty");
    std::fs::create_dir(&empty).unwrap();
    refused(&empty, &["ls"], &["swarm.toml", "annex-swarm init"]);
}

#[test]
fn malformed_toml() {
    let swarm = Swarm::new();
    let p = swarm.write_file("bad.toml", b"format = 1\n[coding\nk = 4\n");
    definition_refused(&swarm, s(&p), &["bad.toml", "invalid swarm definition"]);
    let p = swarm.write_file("empty.toml", b"");
    definition_refused(&swarm, s(&p), &["missing `format = 1`"]);
    let p = swarm.write_file("future.toml", b"format = 9\n");
    definition_refused(&swarm, s(&p), &["format 9 is not supported"]);
}

#[test]
fn unknown_field() {
    let swarm = Swarm::new();
    let def = edited_definition(
        &swarm,
        "typo.toml",
        "version = 1",
        "version = 1\ncolour = 1",
    );
    definition_refused(&swarm, &def, &["unknown field", "colour"]);
    let def = edited_definition(&swarm, "typo2.toml", "k = 4", "k = 4\nshardsize = 1");
    definition_refused(&swarm, &def, &["unknown field", "shardsize"]);
}

#[test]
fn zero_k() {
    let swarm = Swarm::new();
    let def = edited_definition(&swarm, "k0.toml", "k = 4", "k = 0");
    definition_refused(&swarm, &def, &["bad coding"]);
    let out = swarm.path("k0-init.toml");
    refused(
        swarm.dir.path(),
        &[
            "--swarm",
            s(&out),
            "init",
            "--k",
            "0",
            "--m",
            "2",
            "--store",
            "/tmp/x1",
            "--store",
            "/tmp/x2",
        ],
        &["bad coding"],
    );
    assert!(!out.exists());
}

#[test]
fn m_too_large_for_the_stores() {
    let swarm = Swarm::new();
    let def = edited_definition(&swarm, "m3.toml", "m = 2", "m = 3");
    definition_refused(&swarm, &def, &["needs at least 7 stores", "has 6"]);
    let out = swarm.path("m-init.toml");
    let stores: Vec<String> = (0..3)
        .map(|i| s(&swarm.path(&format!("n{i}"))).to_owned())
        .collect();
    let mut args = vec!["--swarm", s(&out), "init", "--k", "2", "--m", "2"];
    for st in &stores {
        args.extend(["--store", st.as_str()]);
    }
    refused(swarm.dir.path(), &args, &["needs at least 4 stores"]);
    assert!(!out.exists());
}

#[test]
fn relative_store_path_in_the_file() {
    let swarm = Swarm::new();
    let abs = s(&swarm.stores[2]).to_owned();
    let def = edited_definition(
        &swarm,
        "relative.toml",
        &format!("url = \"{abs}\""),
        "url = \"store3\"",
    );
    definition_refused(&swarm, &def, &["`store3`", "absolute path"]);
}

#[test]
fn unknown_store_scheme() {
    let swarm = Swarm::new();
    let abs = s(&swarm.stores[4]).to_owned();
    let def = edited_definition(
        &swarm,
        "ftp.toml",
        &format!("url = \"{abs}\""),
        "url = \"ftp://host/x\"",
    );
    definition_refused(&swarm, &def, &["unknown store kind `ftp`"]);
    let def = edited_definition(
        &swarm,
        "peer.toml",
        &format!("url = \"{abs}\""),
        "url = \"peer://node/x\"",
    );
    definition_refused(&swarm, &def, &["peer URLs are peer://NODEID"]);
    let def = edited_definition(
        &swarm,
        "s3.toml",
        &format!("url = \"{abs}\""),
        "url = \"s3://Bad_Bucket/x?secret=hunter2\"",
    );
    definition_refused(&swarm, &def, &["looks like a secret"]);
    let out = swarm.path("ftp-init.toml");
    let mut args = vec!["--swarm", s(&out), "init", "--k", "1", "--m", "1"];
    args.extend(["--store", "ftp://host/a", "--store", "ftp://host/b"]);
    refused(swarm.dir.path(), &args, &["unknown store kind `ftp`"]);
    assert!(!out.exists());
}

#[test]
fn password_in_s3_endpoint_is_not_echoed() {
    let swarm = Swarm::new();
    let url = "s3://bkt?endpoint=http://u:hunter2@127.0.0.1:9000";
    let out = swarm.path("endpoint-init.toml");
    let local = swarm.path("local");
    let args = [
        "--swarm",
        s(&out),
        "init",
        "--k",
        "1",
        "--m",
        "1",
        "--store",
        s(&local),
        "--store",
        url,
    ];
    let err = refused(
        swarm.dir.path(),
        &args,
        &[
            "endpoint=http://***@127.0.0.1:9000",
            "a password in the URL is refused",
        ],
    );
    assert!(!err.contains("hunter2"), "{err}");
    let abs = s(&swarm.stores[2]).to_owned();
    let def = edited_definition(
        &swarm,
        "endpoint.toml",
        &format!("url = \"{abs}\""),
        &format!("url = \"{url}\""),
    );
    definition_refused(&swarm, &def, &["***@127.0.0.1:9000", "password"]);
    for cmd in ["ls", "status"] {
        let err = refused(swarm.dir.path(), &["--swarm", &def, cmd], &["password"]);
        assert!(!err.contains("hunter2"), "{err}");
    }
}

#[test]
fn bad_init_arguments() {
    let swarm = Swarm::new();
    let stores: Vec<String> = (0..6)
        .map(|i| s(&swarm.path(&format!("b{i}"))).to_owned())
        .collect();
    let init = |def: &str, extra: &[&str], needles: &[&str]| {
        let mut args = vec!["--swarm", def, "init", "--k", "4", "--m", "2"];
        for st in &stores {
            args.extend(["--store", st.as_str()]);
        }
        args.extend_from_slice(extra);
        refused(swarm.dir.path(), &args, needles);
    };
    init(s(&swarm.def), &[], &["already exists", "--force"]);
    let other = swarm.path("other.toml");
    init(s(&other), &["--shard-size", "3KiB"], &["power of two"]);
    init(s(&other), &["--shard-size", "lots"], &["bad size `lots`"]);
    init(
        s(&other),
        &["--inline-threshold", "1GiB"],
        &["inline_threshold"],
    );
    assert!(!other.exists());
}

#[test]
fn bad_key_strings() {
    let swarm = Swarm::new();
    let dest = swarm.dest();
    for (key, needle) in [
        ("notakey", "bad key `notakey`"),
        ("FOO-s1--abc", "unknown backend `FOO`"),
        ("SHA256E-sx--abc", "bad key `SHA256E-sx--abc`"),
        ("SHA256E-s12--xyz", "bad key `SHA256E-s12--xyz`"),
        ("SHA256-s1--", "bad key `SHA256-s1--`"),
        ("SHA256E-s1--a b", "not allowed"),
        ("", "the key is empty"),
    ] {
        refused(
            swarm.dir.path(),
            &["--swarm", s(&swarm.def), "get", key, s(&dest)],
            &[needle],
        );
        assert!(!dest.exists());
        for cmd in ["fsck", "repair", "rm"] {
            refused(
                swarm.dir.path(),
                &["--swarm", s(&swarm.def), cmd, key],
                &[needle],
            );
        }
        refused(
            swarm.dir.path(),
            &["--swarm", s(&swarm.def), "put", "--key", key, s(&swarm.def)],
            &[needle],
        );
    }
    assert!(swarm.ls().is_empty());
}

#[test]
fn absent_key() {
    let swarm = Swarm::new();
    let key = sha256e_key(b"never stored", ".txt");
    let dest = swarm.dest();
    let err = swarm.fail(&["get", &key, s(&dest)]);
    assert_error_line(&err, &[&key, "not in the swarm"]);
    assert!(!dest.exists());
    assert!(entries_starting_with(dest.parent().unwrap(), ".").is_empty());
    let err = swarm.fail(&["rm", &key]);
    assert_error_line(&err, &[&key, "not in the swarm"]);
    let (ok, list) = swarm.fsck(false, &[&key]);
    assert!(!ok);
    assert_eq!(list[0]["restorable"], false);
}

#[test]
fn bad_files_and_arguments() {
    let swarm = Swarm::new();
    let missing = swarm.path("no-such-file.bin");
    let err = swarm.fail(&["put", s(&missing)]);
    assert_error_line(&err, &[s(&missing)]);
    let err = swarm.fail(&["put", s(&swarm.path("out"))]);
    assert_error_line(&err, &["not a regular file"]);
    let err = swarm.fail(&["gc", "--grace", "soon"]);
    assert_error_line(&err, &["bad duration `soon`"]);
    let err = swarm.fail(&["gc", "--grace", "5w"]);
    assert_error_line(&err, &["unknown unit `w`"]);
    // get into a directory that does not exist.
    let data = pseudo_random(300_000, 1);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    let dest = swarm.path("no-such-dir/out.bin");
    let err = swarm.fail(&["get", &key, s(&dest)]);
    assert_error_line(&err, &["no-such-dir"]);
    assert!(!dest.exists());
}

#[test]
fn file_errors_name_the_file_and_the_cause_once() {
    let swarm = Swarm::new();
    let missing = swarm.path("no-such-file.bin");
    let err = swarm.fail(&["put", s(&missing)]);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    let data = pseudo_random(300_000, 2);
    let key = swarm.put(&swarm.write_file("f.bin", &data));
    let dest = swarm.path("no-such-dir/out.bin");
    let err = swarm.fail(&["get", &key, s(&dest)]);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert!(err.contains(s(&dest)), "DEST not named: {err}");
}
