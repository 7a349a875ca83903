//! Interoperability with the real OpenSSH `ssh-keygen` (`/usr/bin/ssh-keygen`), both ways:
//! its signatures pass our checks, ours pass `ssh-keygen -Y verify`, and what it signs in
//! another namespace or with a member's key is refused. Skipped (with a note) where ssh-keygen
//! is missing; CI has it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use swarm_core::definition::SwarmDefinition;
use swarm_core::identity::Identity;
use swarm_core::signed::{self, NAMESPACE, Refusal, SignedDefinition};

const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/signing");

fn have_ssh_keygen() -> bool {
    let ok = Path::new(SSH_KEYGEN).exists();
    if !ok {
        eprintln!("skipped: {SSH_KEYGEN} is not installed (apt-get install openssh-client)");
    }
    ok
}

/// A temporary directory with the definition and a 0600 copy of each TEST-ONLY key (git keeps
/// no modes; ssh-keygen refuses keys others can read).
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["test-only-admin", "test-only-bob"] {
        let to = dir.path().join(name);
        std::fs::copy(Path::new(DATA).join(name), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let def = dir.path().join("swarm.toml");
    std::fs::copy(Path::new(DATA).join("definition-v2.toml"), &def).unwrap();
    (dir, def)
}

fn ssh_keygen_sign(dir: &Path, key: &str, namespace: &str, file: &Path) -> Vec<u8> {
    let out = Command::new(SSH_KEYGEN)
        .args(["-Y", "sign", "-n", namespace, "-f"])
        .arg(dir.join(key))
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(signed::sig_path(file)).unwrap()
}

fn candidate(def: &Path, sig: &[u8]) -> SignedDefinition {
    SignedDefinition::new(std::fs::read(def).unwrap(), Some(sig)).unwrap()
}

#[test]
fn ssh_keygen_signature_is_accepted() {
    if !have_ssh_keygen() {
        return;
    }
    let (dir, def) = workspace();
    let sig = ssh_keygen_sign(dir.path(), "test-only-admin", NAMESPACE, &def);
    let v = candidate(&def, &sig).verify().unwrap();
    assert_eq!(v.signer.name, "admin@test");
}

#[test]
fn our_signature_passes_ssh_keygen_verify() {
    if !have_ssh_keygen() {
        return;
    }
    let (dir, def) = workspace();
    let admin = Identity::load(&dir.path().join("test-only-admin")).unwrap();
    let sig_path = signed::sig_path(&def);
    std::fs::write(
        &sig_path,
        signed::sign(&std::fs::read(&def).unwrap(), &admin).unwrap(),
    )
    .unwrap();
    let allowed = dir.path().join("allowed_signers");
    std::fs::write(
        &allowed,
        format!(
            "admin@test namespaces=\"{NAMESPACE}\" {}\n",
            admin.node_id().to_openssh()
        ),
    )
    .unwrap();
    let verify = |namespace: &str| {
        Command::new(SSH_KEYGEN)
            .args(["-Y", "verify", "-f"])
            .arg(&allowed)
            .args(["-I", "admin@test", "-n", namespace, "-s"])
            .arg(&sig_path)
            .stdin(std::fs::File::open(&def).unwrap())
            .output()
            .unwrap()
    };
    let out = verify(NAMESPACE);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("Good \"annex-swarm-definition\" signature for admin@test"),
        "{said}"
    );
    // ssh-keygen, too, keeps namespaces apart.
    assert!(!verify("file").status.success());
}

#[test]
fn ssh_keygen_signature_in_another_namespace_is_refused() {
    if !have_ssh_keygen() {
        return;
    }
    let (dir, def) = workspace();
    let sig = ssh_keygen_sign(dir.path(), "test-only-admin", "other", &def);
    let r = candidate(&def, &sig).verify().unwrap_err();
    assert_eq!(r, Refusal::WrongNamespace("other".into()));
}

#[test]
fn ssh_keygen_signature_by_a_non_admin_is_refused() {
    if !have_ssh_keygen() {
        return;
    }
    let (dir, def) = workspace();
    let sig = ssh_keygen_sign(dir.path(), "test-only-bob", NAMESPACE, &def);
    let r = candidate(&def, &sig).verify().unwrap_err();
    assert!(matches!(r, Refusal::NotAdmin { .. }), "{r:?}");
}

#[test]
fn adoption_of_a_newer_version_signed_with_ssh_keygen() {
    if !have_ssh_keygen() {
        return;
    }
    let (dir, def) = workspace();
    let held = SwarmDefinition::parse(&std::fs::read_to_string(&def).unwrap()).unwrap();
    let text = std::fs::read_to_string(&def).unwrap();
    let next = dir.path().join("next.toml");
    std::fs::write(&next, text.replace("version = 1", "version = 2")).unwrap();
    let sig = ssh_keygen_sign(dir.path(), "test-only-admin", NAMESPACE, &next);
    let adopted = signed::adopt(&held, &candidate(&next, &sig)).unwrap();
    assert_eq!(adopted.definition.version, 2);
    // The same signature over the held version's bytes: not newer.
    let same = ssh_keygen_sign(dir.path(), "test-only-admin", NAMESPACE, &def);
    assert_eq!(
        signed::adopt(&held, &candidate(&def, &same)).unwrap_err(),
        Refusal::NotNewer {
            held: 1,
            candidate: 1
        }
    );
}
