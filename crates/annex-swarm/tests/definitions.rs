//! `node init|id` and `definition sign|verify|show|add-node`, through the built binary, with
//! the real `ssh-keygen` on the other side where it is installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command as Std;

use common::*;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../swarm-core/tests/data/signing"
);
const ADMIN: &str = "ecac916f1117be9b88d9491752f050e60c33d4337a3c208f552dabb13ddbe232";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// A TEST-ONLY key copied into the fixture with `mode`.
fn test_key(swarm: &Swarm, name: &str, mode: u32) -> PathBuf {
    let to = swarm.path(name);
    std::fs::copy(Path::new(DATA).join(name), &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
    to
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn node_init_writes_a_private_key_once_and_prints_its_id() {
    let swarm = Swarm::new();
    let config = swarm.path("config");
    let run = |args: &[&str]| {
        let out = bin()
            .env("XDG_CONFIG_HOME", &config)
            .args(args)
            .output()
            .unwrap();
        assert_no_panic(&out, args);
        out
    };
    let out = run(&["node", "init"]);
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");
    let key = config.join("annex-swarm/node_ed25519");
    assert_eq!(mode(&key), 0o600);
    let before = std::fs::read(&key).unwrap();
    // Never overwritten.
    let again = run(&["node", "init"]);
    assert!(!again.status.success());
    assert_error_line(
        &String::from_utf8_lossy(&again.stderr),
        &["already exists", "refusing to overwrite"],
    );
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // `node id` reads the same default path.
    let shown = run(&["node", "id"]);
    assert_eq!(String::from_utf8(shown.stdout).unwrap().trim(), id);
    // --key elsewhere; --openssh gives the line ssh-keygen -y gives.
    let other = swarm.path("k/other");
    let made = swarm.ok(&["node", "init", "--key", s(&other)]);
    assert_ne!(made.trim(), id);
    let line = swarm.ok(&["node", "id", "--key", s(&other), "--openssh"]);
    assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
    if Path::new(SSH_KEYGEN).exists() {
        let y = Std::new(SSH_KEYGEN)
            .arg("-y")
            .arg("-f")
            .arg(&other)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(y.stdout).unwrap().trim(), line.trim());
    }
}

#[test]
fn node_id_refuses_keys_others_can_read() {
    let swarm = Swarm::new();
    let key = test_key(&swarm, "test-only-admin", 0o644);
    let err = swarm.fail(&["node", "id", "--key", s(&key)]);
    assert_error_line(
        &err,
        &["accessible by others (mode 0644)", "chmod 600", s(&key)],
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(swarm.ok(&["node", "id", "--key", s(&key)]).trim(), ADMIN);
    let enc = test_key(&swarm, "test-only-encrypted", 0o600);
    let err = swarm.fail(&["node", "id", "--key", s(&enc)]);
    assert_error_line(&err, &["passphrase"]);
}

/// The fixture's definition with the TEST-ONLY admin as a client admin (format 2).
fn with_admin(swarm: &Swarm) -> PathBuf {
    let admin = test_key(swarm, "test-only-admin", 0o600);
    let public = std::fs::read_to_string(Path::new(DATA).join("test-only-admin.pub")).unwrap();
    let text = std::fs::read_to_string(&swarm.def).unwrap();
    let text = text.replace("format = 1", "format = 2");
    std::fs::write(
        &swarm.def,
        format!(
            "{text}\n[[client]]\nname = \"admin\"\nkey = \"{}\"\nrole = \"admin\"\n",
            public.trim()
        ),
    )
    .unwrap();
    admin
}

#[test]
fn sign_verify_show_and_an_edit_that_breaks_the_signature() {
    let swarm = Swarm::new();
    let admin = with_admin(&swarm);
    // Unsigned: verify fails with the reason, show says so.
    let err = swarm.fail(&["definition", "verify"]);
    assert_error_line(&err, &["refused: unsigned", "swarm.toml.sig"]);
    let show = swarm.json(&["definition", "show", "--json"]);
    assert_eq!(show["signature"]["status"], "none");
    swarm.ok(&["definition", "sign", "--key", s(&admin)]);
    let sig = std::fs::read_to_string(swarm.path("swarm.toml.sig")).unwrap();
    assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"), "{sig}");
    let out = swarm.ok(&["definition", "verify"]);
    let hash = blake3::hash(&std::fs::read(&swarm.def).unwrap()).to_hex();
    assert_eq!(
        out,
        format!("signer admin {ADMIN} (admin)\nversion 1\nhash {hash}\n")
    );
    let show = swarm.json(&["definition", "show", "--json"]);
    assert_eq!(show["signature"]["status"], "good");
    assert_eq!(show["signature"]["signer"]["name"], "admin");
    assert_eq!(show["hash"], hash.as_str());
    assert_eq!(show["members"][0]["role"], "admin");
    assert_eq!(show["stores"].as_array().unwrap().len(), STORES);
    let text = swarm.ok(&["definition", "show"]);
    assert!(text.contains("signature good, by admin"), "{text}");
    // add-node rewrites the file: the old signature no longer holds, and both commands say so.
    let node = swarm.path("node_key");
    let node_id = swarm.ok(&["node", "init", "--key", s(&node)]);
    let node_id = node_id.trim();
    let out = swarm.run(&[
        "definition",
        "add-node",
        node_id,
        "--addr",
        "127.0.0.1:7420",
        "--store",
        "/srv/shards",
        "--name",
        "nas",
    ]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("now version 2 (format 2)"), "{said}");
    assert!(said.contains("swarm.toml.sig no longer matches"), "{said}");
    let err = swarm.fail(&["definition", "verify"]);
    assert_error_line(&err, &["refused: forged"]);
    let show = swarm.json(&["definition", "show", "--json"]);
    assert_eq!(show["signature"]["status"], "bad");
    assert_eq!(show["version"], 2);
    let nas = &show["members"][0];
    assert_eq!(nas["name"], "nas");
    assert_eq!(nas["kind"], "node");
    assert_eq!(nas["role"], "write");
    assert_eq!(nas["key"], node_id);
    assert_eq!(nas["addrs"][0], "127.0.0.1:7420");
    assert_eq!(nas["store"], "/srv/shards");
    let last = show["stores"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["id"], "nas");
    assert_eq!(last["url"], format!("peer://{node_id}"));
    assert_eq!(last["kind"], "peer");
    // Signed again, it verifies; the admin's key kept its OpenSSH form through the rewrite.
    swarm.ok(&["definition", "sign", "--key", s(&admin)]);
    assert!(swarm.ok(&["definition", "verify"]).contains("version 2"));
    let text = std::fs::read_to_string(&swarm.def).unwrap();
    assert!(text.contains("key = \"ssh-ed25519 AAAA"), "{text}");
    // A swarm with a peer store is reached only as a member: without a member key, commands
    // that open it say what is missing.
    let missing = swarm.path("no-such.key");
    let out = swarm
        .cmd()
        .env("ANNEX_SWARM_KEY", &missing)
        .arg("ls")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_error_line(
        &String::from_utf8_lossy(&out.stderr),
        &[
            "only its members reach",
            "no-such.key",
            "annex-swarm node init",
        ],
    );
    // The same node again, or a bad address: refused, file unchanged.
    let before = std::fs::read(&swarm.def).unwrap();
    let err = swarm.fail(&["definition", "add-node", node_id]);
    assert_error_line(&err, &["already a member", "nas"]);
    let other = swarm.path("other_key");
    let other_id = swarm.ok(&["node", "init", "--key", s(&other)]);
    let err = swarm.fail(&[
        "definition",
        "add-node",
        other_id.trim(),
        "--addr",
        "nowhere",
    ]);
    assert_error_line(&err, &["bad address `nowhere`"]);
    assert_eq!(std::fs::read(&swarm.def).unwrap(), before);
}

#[test]
fn verify_held_applies_the_adoption_rule() {
    let swarm = Swarm::new();
    let admin = with_admin(&swarm);
    let held = swarm.path("held.toml");
    std::fs::copy(&swarm.def, &held).unwrap();
    let bob = test_key(&swarm, "test-only-bob", 0o600);
    let node_id = swarm.ok(&["node", "init", "--key", s(&swarm.path("n"))]);
    swarm.ok(&["definition", "add-node", node_id.trim()]);
    // Signed by a key that is no admin of the held version: refused, whatever it claims.
    let out = swarm.run(&["definition", "sign", "--key", s(&bob)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an admin"));
    let err = swarm.fail(&["definition", "verify", "--held", s(&held)]);
    assert_error_line(&err, &["refused: signer", "not a member of version 1"]);
    swarm.ok(&["definition", "sign", "--key", s(&admin)]);
    let out = swarm.ok(&["definition", "verify", "--held", s(&held)]);
    assert!(out.contains("version 2"), "{out}");
    // A node already holding version 2 finds it not newer.
    std::fs::copy(&swarm.def, swarm.path("held-copy.toml")).unwrap();
    let err = swarm.fail(&[
        "definition",
        "verify",
        "--held",
        s(&swarm.path("held-copy.toml")),
    ]);
    assert_error_line(&err, &["refused: version 2 is not newer"]);
}

#[test]
fn ssh_keygen_signatures_pass_definition_verify() {
    if !Path::new(SSH_KEYGEN).exists() {
        eprintln!("skipped: no {SSH_KEYGEN}");
        return;
    }
    let swarm = Swarm::new();
    let admin = with_admin(&swarm);
    let sign = |namespace: &str| {
        let _ = std::fs::remove_file(swarm.path("swarm.toml.sig"));
        let out = Std::new(SSH_KEYGEN)
            .args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(&admin)
            .arg(&swarm.def)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    sign("annex-swarm-definition");
    assert!(
        swarm
            .ok(&["definition", "verify"])
            .starts_with("signer admin ")
    );
    sign("other");
    let err = swarm.fail(&["definition", "verify"]);
    assert_error_line(&err, &["refused: wrong namespace", "\"other\""]);
}
