//! Key files: what is loaded, what is refused (with what words), and how new keys are written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use swarm_core::identity::{Identity, IdentityError};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/signing");

fn copy_with_mode(dir: &Path, name: &str, mode: u32) -> std::path::PathBuf {
    let to = dir.join(name);
    std::fs::copy(Path::new(DATA).join(name), &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode)).unwrap();
    to
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_private_key_loads_and_names_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_with_mode(dir.path(), "test-only-admin", 0o600);
    let id = Identity::load(&p).unwrap();
    assert_eq!(
        id.node_id().to_string(),
        "ecac916f1117be9b88d9491752f050e60c33d4337a3c208f552dabb13ddbe232"
    );
    let public = std::fs::read_to_string(Path::new(DATA).join("test-only-admin.pub")).unwrap();
    assert_eq!(id.public_openssh(), public.trim());
    assert_eq!(id.public_bytes(), *id.node_id().as_bytes());
    // The seed gives the same key back (what iroh's SecretKey::from_bytes takes).
    assert_eq!(
        Identity::from_seed(&id.secret_bytes()).node_id(),
        id.node_id()
    );
    // Debug shows no secret.
    assert_eq!(format!("{id:?}"), "Identity(ecac916f11)");
    // 0400 is fine too.
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
    Identity::load(&p).unwrap();
}

#[test]
fn a_key_others_can_read_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    for m in [0o644, 0o640, 0o604, 0o620, 0o601] {
        let p = copy_with_mode(dir.path(), "test-only-admin", m);
        let err = Identity::load(&p).unwrap_err();
        assert!(matches!(err, IdentityError::Permissions { .. }), "{err:?}");
        let shown = p.display();
        assert_eq!(
            err.to_string(),
            format!(
                "key file {shown} is accessible by others (mode {m:04o}): run `chmod 600 {shown}`"
            )
        );
    }
}

#[test]
fn other_keys_are_refused_each_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = copy_with_mode(dir.path(), "test-only-encrypted", 0o600);
    let err = Identity::load(&p).unwrap_err().to_string();
    assert!(err.contains("is protected by a passphrase"), "{err}");
    let p = copy_with_mode(dir.path(), "test-only-ecdsa", 0o600);
    let err = Identity::load(&p).unwrap_err().to_string();
    assert!(
        err.contains("is a ecdsa-sha2-nistp256 key") || err.contains("ecdsa"),
        "{err}"
    );
    assert!(err.contains("ssh-keygen -t ed25519"), "{err}");
    let p = copy_with_mode(dir.path(), "test-only-admin.pub", 0o600);
    let err = Identity::load(&p).unwrap_err().to_string();
    assert!(err.contains("is not an OpenSSH private key"), "{err}");
    let err = Identity::load(&dir.path().join("absent"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot read key file"), "{err}");
}

#[test]
fn new_keys_are_private_and_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config/annex-swarm/node_ed25519");
    let made = Identity::create(&p).unwrap();
    assert_eq!(mode(&p), 0o600);
    assert_eq!(mode(p.parent().unwrap()), 0o700);
    let loaded = Identity::load(&p).unwrap();
    assert_eq!(loaded.node_id(), made.node_id());
    let before = std::fs::read(&p).unwrap();
    let err = Identity::create(&p).unwrap_err();
    assert!(matches!(err, IdentityError::Exists(_)), "{err:?}");
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(&p).unwrap(), before);
    // Two new keys differ.
    let other = Identity::create(&dir.path().join("second")).unwrap();
    assert_ne!(other.node_id(), made.node_id());
}

#[test]
fn ssh_keygen_reads_our_keys() {
    let keygen = Path::new("/usr/bin/ssh-keygen");
    if !keygen.exists() {
        eprintln!("skipped: no ssh-keygen");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k");
    let made = Identity::create(&p).unwrap();
    let out = std::process::Command::new(keygen)
        .args(["-y", "-f"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        made.public_openssh()
    );
}
