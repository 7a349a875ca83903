//! Golden vector of `docs/spec/signed-definition-v1.md`: `tests/data/signing/definition-v2.toml`
//! signed by the TEST-ONLY admin key gives `definition-v2.toml.sig` (made by OpenSSH 9.2p1's
//! `ssh-keygen -Y sign -n annex-swarm-definition`), byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use swarm_core::definition::Role;
use swarm_core::identity::Identity;
use swarm_core::signed::{self, Refusal, SignedDefinition};

const DEFINITION: &[u8] = include_bytes!("data/signing/definition-v2.toml");
const SIGNATURE: &str = include_str!("data/signing/definition-v2.toml.sig");
const ADMIN_KEY: &[u8] = include_bytes!("data/signing/test-only-admin");
const BOB_KEY: &[u8] = include_bytes!("data/signing/test-only-bob");
const ADMIN: &str = "ecac916f1117be9b88d9491752f050e60c33d4337a3c208f552dabb13ddbe232";
/// BLAKE3 of the file (Python `blake3` package, an independent implementation).
const HASH: &str = "2dd4313a46828936158ab0ae6f18c679bdd31885e9d52c8e71b635b8da4c389b";

fn admin() -> Identity {
    Identity::from_openssh(ADMIN_KEY, "test-only-admin").unwrap()
}

#[test]
fn our_signature_is_the_golden_one() {
    assert_eq!(signed::sign(DEFINITION, &admin()).unwrap(), SIGNATURE);
}

#[test]
fn the_golden_signature_verifies() {
    let s = SignedDefinition::new(DEFINITION.to_vec(), Some(SIGNATURE.as_bytes())).unwrap();
    let v = s.verify().unwrap();
    assert_eq!(v.signer.name, "admin@test");
    assert_eq!(v.signer.id.to_string(), ADMIN);
    assert_eq!(v.signer.role, Role::Admin);
    assert_eq!(v.definition.version, 1);
    assert_eq!(v.hash.to_string(), HASH);
    assert_eq!(admin().node_id().to_string(), ADMIN);
}

#[test]
fn one_changed_byte_breaks_it() {
    let mut bytes = DEFINITION.to_vec();
    // `version = 1` -> `version = 2`: still a valid definition, no longer what was signed.
    let at = bytes.windows(11).position(|w| w == b"version = 1").unwrap() + 10;
    bytes[at] = b'2';
    let s = SignedDefinition::new(bytes, Some(SIGNATURE.as_bytes())).unwrap();
    assert_eq!(s.verify().unwrap_err(), Refusal::Forged);
}

#[test]
fn a_members_signature_is_not_an_admins() {
    let bob = Identity::from_openssh(BOB_KEY, "test-only-bob").unwrap();
    let sig = signed::sign(DEFINITION, &bob).unwrap();
    let s = SignedDefinition::new(DEFINITION.to_vec(), Some(sig.as_bytes())).unwrap();
    let r = s.verify().unwrap_err();
    assert!(
        matches!(
            r,
            Refusal::NotAdmin {
                role: Role::Write,
                version: 1,
                ..
            }
        ),
        "{r:?}"
    );
}
