//! Issue 13: manifests carry the signature of the member that wrote them (version 3), and nodes
//! take only manifests a member with write rights signed: a forged, corrupt or unsigned one is
//! refused when written to a node, and one planted on a node's disk is not copied by the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod node_rig;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::pseudo_random;
use node_rig::*;
use swarm_core::definition::SwarmDefinition;
use swarm_core::identity::Identity;
use swarm_core::ids::SwarmId;
use swarm_core::manifest::{self, Body, Manifest, Writer};
use swarm_node::{EndpointConfig, NodeId, NodeSecret, PeerAddr, PeerStore, bind};
use swarm_store::{ManifestName, Object, StoreAdmin};

/// A three-node swarm (k = 2, m = 1, every node a full-copy holder) with the rig's client as
/// admin and a read-only client `reader`.
fn swarm(rig: &Rig, ports: &[u16]) -> (String, SwarmDefinition) {
    let reader = new_key(&rig.path("reader.key"));
    let text =
        spread_definition(rig, 3, ports, 1).replace(
            "m = 1\n",
            "m = 1\nfull_copies = 3\nshard_size = \"64KiB\"\n",
        ) + &format!("\n[[client]]\nname = \"reader\"\nkey = \"{reader}\"\nrole = \"read\"\n");
    let def = SwarmDefinition::parse(&text).unwrap();
    (text, def)
}

/// [`swarm`] started: its definition, the nodes' ports and processes, the client's definition.
fn start_swarm(rig: &Rig) -> (SwarmDefinition, Vec<u16>, Vec<NodeProcess>, PathBuf) {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let (text, def) = swarm(rig, &ports);
    for i in 0..3 {
        std::fs::write(rig.path(&format!("node{i}.toml")), &text).unwrap();
    }
    let nodes = (0..3).map(|i| start_from(rig, i, ports[i])).collect();
    let client_def = rig.path("swarm.toml");
    std::fs::write(&client_def, &text).unwrap();
    (def, ports, nodes, client_def)
}

/// Where node `i` keeps the manifest of `key`.
fn manifest_path(rig: &Rig, i: usize, key: &[u8]) -> std::path::PathBuf {
    let hex = ManifestName::of_key(key).0.to_hex();
    rig.path(&format!("node{i}-store/manifests/{}/{hex}", &hex[..2]))
}

fn writer_of(key_file: &Path) -> Writer {
    Writer::from_secret(&Identity::load(key_file).unwrap().secret_bytes())
}

/// `bytes` with one byte of its fields changed and the checksum made anew, as a forger who
/// knows the format would.
fn tampered(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = bytes.len() - 32;
    bytes[n - 1] ^= 1;
    let sum = blake3::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(sum.as_bytes());
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_take_only_manifests_that_a_writer_signed() {
    let rig = Rig::new(3);
    let (def, ports, _nodes, client_def) = start_swarm(&rig);

    // A put by a writer: its manifest is version 3, signed by that writer, on the nodes.
    let data = pseudo_random(300_000, 5);
    let key = rig.put(&client_def, "f.bin", &data);
    let copies: Vec<Vec<u8>> = (0..3)
        .filter_map(|i| std::fs::read(manifest_path(&rig, i, key.as_bytes())).ok())
        .collect();
    assert!(copies.len() >= 2, "{} manifest copies", copies.len());
    for c in &copies {
        assert_eq!(c[4], manifest::VERSION_SIGNED);
        assert_eq!(manifest::check_writer(c, &def).unwrap(), "me");
    }

    // The test as a member with write rights, writing crafted manifests straight to node 0.
    let me = writer_of(&rig.client_key);
    let secret = NodeSecret::from_bytes(Identity::load(&rig.client_key).unwrap().secret_bytes());
    let endpoint = bind(
        &EndpointConfig::new(secret, "127.0.0.1:0".parse().unwrap()),
        None,
    )
    .await
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", ports[0]).parse().unwrap();
    let n0 = PeerStore::client(
        endpoint,
        PeerAddr {
            node: rig.ids[0].parse::<NodeId>().unwrap(),
            addrs: vec![addr],
        },
        "n0".parse().unwrap(),
        def.swarm,
    );
    let forged = Manifest {
        key: b"WORM-s5-m1--forged".to_vec(),
        size: 5,
        body: Body::Inline(Bytes::from_static(b"hello")),
    };
    let object = Object::manifest_of(&forged.key);
    let cases = [
        ("unsigned", forged.encode().unwrap(), "unsigned manifest"),
        (
            "a stranger's",
            forged
                .encode_signed(&def.swarm, &Writer::from_secret(&[9; 32]))
                .unwrap(),
            "not a member",
        ),
        (
            "a reader's",
            forged
                .encode_signed(&def.swarm, &writer_of(&rig.path("reader.key")))
                .unwrap(),
            "member reader (role read), who may not write",
        ),
        (
            "another swarm's",
            forged.encode_signed(&SwarmId([0xee; 16]), &me).unwrap(),
            "does not verify",
        ),
        (
            "tampered",
            tampered(forged.encode_signed(&def.swarm, &me).unwrap()),
            "does not verify",
        ),
    ];
    for (what, bytes, says) in cases {
        let err = n0
            .write(&object, Bytes::from(bytes))
            .await
            .expect_err(what)
            .to_string();
        assert!(err.contains(says), "{what}: {err}");
        assert!(
            !manifest_path(&rig, 0, &forged.key).exists(),
            "{what}: stored"
        );
    }
    // The same manifest, signed by the writer: taken.
    n0.write(
        &object,
        Bytes::from(forged.encode_signed(&def.swarm, &me).unwrap()),
    )
    .await
    .unwrap();
    assert!(manifest_path(&rig, 0, &forged.key).exists());
}

/// A manifest planted on a node's disk (a store written behind the node's back) is not copied
/// by the other nodes, though every node holds every key: they take no manifest that no writer
/// signed.
#[test]
fn a_planted_manifest_does_not_spread() {
    let rig = Rig::new(3);
    let (def, _, _nodes, client_def) = start_swarm(&rig);

    let planted = Manifest {
        key: b"WORM-s5-m1--planted".to_vec(),
        size: 5,
        body: Body::Inline(Bytes::from_static(b"bogus")),
    };
    let reader = writer_of(&rig.path("reader.key"));
    let path = manifest_path(&rig, 0, &planted.key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, planted.encode_signed(&def.swarm, &reader).unwrap()).unwrap();

    // A genuine key put after it spreads to every node; the planted one, older, to none.
    let data = pseudo_random(200_000, 9);
    let key = rig.put(&client_def, "g.bin", &data);
    let started = Instant::now();
    while !(1..3).all(|i| manifest_path(&rig, i, key.as_bytes()).exists()) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the genuine key did not reach every node"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A few more rounds (every second) for the planted one to have had its chance.
    std::thread::sleep(Duration::from_secs(3));
    for i in 1..3 {
        assert!(
            !manifest_path(&rig, i, &planted.key).exists(),
            "node {i} copied the planted manifest"
        );
    }
    let log = std::fs::read_to_string(rig.path("node1.log")).unwrap();
    assert!(
        log.contains("may not write"),
        "node 1 never said why:\n{log}"
    );
}
