#![allow(clippy::unwrap_used)]

use super::*;

fn key(n: u8) -> Identity {
    Identity::from_seed(&[n; 32])
}

/// Version `version` of one swarm: admin `alice` (key 1), node `nas` (key 2, write), client
/// `bob` (key 3, write).
fn doc(version: u64, swarm: &str) -> String {
    format!(
        r#"format = 2
swarm = "{swarm}"
version = {version}
[coding]
k = 1
m = 1
[[node]]
name = "nas"
key = "{nas}"
[[client]]
name = "alice"
key = "{alice}"
role = "admin"
[[client]]
name = "bob"
key = "{bob}"
role = "write"
[[store]]
id = "nas"
url = "peer://{nas}"
[[store]]
id = "usb"
url = "/mnt/usb"
"#,
        alice = key(1).public_openssh(),
        nas = key(2).node_id(),
        bob = key(3).node_id(),
    )
}

const SWARM: &str = "0123456789abcdef0123456789abcdef";

fn held() -> SwarmDefinition {
    SwarmDefinition::parse(&doc(3, SWARM)).unwrap()
}

fn signed(text: &str, by: &Identity) -> SignedDefinition {
    let sig = sign(text.as_bytes(), by).unwrap();
    SignedDefinition::new(text.as_bytes().to_vec(), Some(sig.as_bytes())).unwrap()
}

#[test]
fn an_admin_signed_newer_version_is_adopted() {
    let candidate = signed(&doc(4, SWARM), &key(1));
    let a = adopt(&held(), &candidate).unwrap();
    assert_eq!(a.definition.version, 4);
    assert_eq!(a.signer.name, "alice");
    assert_eq!(a.signer.id, key(1).node_id());
    assert_eq!(a.hash, Hash32::of(doc(4, SWARM).as_bytes()));
    // It verifies against its own admins too.
    assert_eq!(candidate.verify().unwrap(), a);
}

#[test]
fn signatures_are_deterministic_and_armored() {
    let text = doc(4, SWARM);
    let a = sign(text.as_bytes(), &key(1)).unwrap();
    assert_eq!(a, sign(text.as_bytes(), &key(1)).unwrap());
    assert!(a.starts_with("-----BEGIN SSH SIGNATURE-----\n"), "{a}");
    assert!(a.ends_with("-----END SSH SIGNATURE-----\n"), "{a}");
}

fn refused(candidate: &SignedDefinition) -> Refusal {
    adopt(&held(), candidate).unwrap_err()
}

#[test]
fn unsigned_is_refused() {
    let c = SignedDefinition::new(doc(4, SWARM).into_bytes(), None).unwrap();
    assert_eq!(refused(&c), Refusal::Unsigned);
    assert_eq!(refused(&c).to_string(), "unsigned: no signature");
}

#[test]
fn changed_bytes_are_forged() {
    let mut c = signed(&doc(4, SWARM), &key(1));
    c.bytes.extend_from_slice(b"# one more line\n");
    assert_eq!(refused(&c), Refusal::Forged);
    // The admin's key with someone else's signature bytes: forged too.
    let theirs = signed(&doc(4, SWARM), &key(3));
    let mut sig = c.signature.clone().unwrap();
    sig = SshSig::new(
        sig.public_key().clone(),
        NAMESPACE,
        HashAlg::Sha512,
        theirs.signature.unwrap().signature().clone(),
    )
    .unwrap();
    let c = SignedDefinition {
        bytes: doc(4, SWARM).into_bytes(),
        signature: Some(sig),
    };
    assert_eq!(refused(&c), Refusal::Forged);
}

#[test]
fn wrong_namespace_is_refused() {
    let text = doc(4, SWARM);
    let sig = key(1)
        .private_key()
        .sign("file", HashAlg::Sha512, text.as_bytes())
        .unwrap();
    let c = SignedDefinition {
        bytes: text.into_bytes(),
        signature: Some(sig),
    };
    assert_eq!(refused(&c), Refusal::WrongNamespace("file".into()));
    assert_eq!(
        refused(&c).to_string(),
        "wrong namespace: signed for \"file\", not \"annex-swarm-definition\""
    );
}

#[test]
fn a_member_who_is_not_an_admin_is_refused() {
    let r = refused(&signed(&doc(4, SWARM), &key(3)));
    assert!(
        matches!(
            r,
            Refusal::NotAdmin {
                role: Role::Write,
                version: 3,
                ..
            }
        ),
        "{r:?}"
    );
    assert_eq!(
        r.to_string(),
        format!(
            "signer bob ({}) is a write member of version 3, not an admin",
            key(3).node_id().short()
        )
    );
    // A node (role write by default) cannot sign either.
    assert!(matches!(
        refused(&signed(&doc(4, SWARM), &key(2))),
        Refusal::NotAdmin { .. }
    ));
}

#[test]
fn a_stranger_is_refused_even_if_the_candidate_makes_them_admin() {
    // The candidate lists key 9 as admin and is signed by it: only the held admins count.
    let text = doc(4, SWARM).replace(&key(1).public_openssh(), &key(9).node_id().to_string());
    let c = signed(&text, &key(9));
    assert!(c.verify().is_ok(), "self-consistent");
    let r = refused(&c);
    assert_eq!(
        r,
        Refusal::NotAMember {
            signer: key(9).node_id().to_string(),
            version: 3
        }
    );
}

#[test]
fn older_and_equal_versions_are_refused() {
    for v in [2, 3] {
        assert_eq!(
            refused(&signed(&doc(v, SWARM), &key(1))),
            Refusal::NotNewer {
                held: 3,
                candidate: v
            }
        );
    }
    assert_eq!(
        refused(&signed(&doc(3, SWARM), &key(1))).to_string(),
        "version 3 is not newer than the version held, 3"
    );
}

#[test]
fn another_swarm_is_refused() {
    let other = "ffffffffffffffffffffffffffffffff";
    let r = refused(&signed(&doc(4, other), &key(1)));
    assert!(matches!(r, Refusal::DifferentSwarm { .. }), "{r:?}");
    assert!(r.to_string().contains(other), "{r}");
}

#[test]
fn unparseable_candidates_are_refused() {
    let c = signed("format = 2\nswarm = \"zz\"\n", &key(1));
    assert!(matches!(refused(&c), Refusal::UnparseableDefinition(_)));
    let c = SignedDefinition::new(vec![0xff, 0xfe], None).unwrap();
    assert_eq!(
        refused(&c),
        Refusal::UnparseableDefinition("not UTF-8".into())
    );
    let e = SignedDefinition::new(
        doc(4, SWARM).into_bytes(),
        Some(b"-----BEGIN SSH SIGNATURE-----\nnope\n"),
    )
    .unwrap_err();
    assert!(matches!(e, Refusal::UnparseableSignature(_)), "{e:?}");
}

#[test]
fn a_format_1_definition_has_no_admins() {
    let v1 = "format = 1\nswarm = \"0123456789abcdef0123456789abcdef\"\nversion = 1\n\
              [coding]\nk = 1\nm = 1\n[[store]]\nid = \"a\"\nurl = \"/a\"\n\
              [[store]]\nid = \"b\"\nurl = \"/b\"\n";
    let held = SwarmDefinition::parse(v1).unwrap();
    let r = adopt(&held, &signed(&doc(4, SWARM), &key(1))).unwrap_err();
    assert_eq!(r, Refusal::NoAdmins { version: 1 });
}

#[test]
fn sig_path_is_beside_the_file() {
    assert_eq!(
        sig_path(Path::new("/x/swarm.toml")),
        PathBuf::from("/x/swarm.toml.sig")
    );
}
