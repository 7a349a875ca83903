//! Stores that lie about manifests (issue 11, item 6), over in-memory stores.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{Rig, content, get, put};
use swarm_core::ids::Hash32;
use swarm_core::key::Key;
use swarm_core::manifest::{Body, Manifest};
use swarm_engine::EngineError;
use swarm_engine::progress::Quiet;
use swarm_store::{Object, StoreAdmin, StoreRead};

/// The stores holding a copy of `key`'s manifest, and the honest copy.
async fn copies(rig: &Rig, key: &Key) -> (Vec<usize>, Manifest) {
    let object = Object::manifest_of(key.as_bytes());
    let mut at = Vec::new();
    let mut honest = None;
    for (i, m) in rig.mems.iter().enumerate() {
        if let Ok(b) = m.read(&object, 1 << 30).await {
            honest = Some(Manifest::decode(&b).unwrap());
            at.push(i);
        }
    }
    (at, honest.unwrap())
}

async fn write_copy(rig: &Rig, i: usize, key: &Key, m: &Manifest) {
    let object = Object::manifest_of(key.as_bytes());
    rig.mems[i]
        .write(&object, Bytes::from(m.encode().unwrap()))
        .await
        .unwrap();
}

/// A well-formed manifest of the same key and size that names chunks no store holds.
fn lie(honest: &Manifest) -> Manifest {
    let mut m = honest.clone();
    if let Body::Chunked { chunks, .. } = &mut m.body {
        for (n, c) in chunks.iter_mut().enumerate() {
            c.id = Hash32::of(format!("not a chunk {n}").as_bytes());
            for (i, s) in c.shards.iter_mut().enumerate() {
                *s = Hash32::of(format!("not a shard {n} {i}").as_bytes());
            }
        }
    }
    m
}

/// One hostile store's copy overrode the honest ones: fsck said restorable from it, gc would
/// have deleted every shard of the key, get failed when that copy ranked first. Copies that
/// disagree are now a conflict: get tries the next copy, fsck reports it, gc and repair refuse.
#[tokio::test]
async fn a_lying_manifest_copy_never_outvotes_the_honest_ones() {
    let rig = Rig::new(4, 2, 6, 4096).await;
    let swarm = rig.open().await;
    let data = content(200_000, 1);
    let key = put(&swarm, &data).await;
    let (holders, honest) = copies(&rig, &key).await;
    assert_eq!(holders.len(), 3);
    let liar = lie(&honest);
    for &h in &holders {
        write_copy(&rig, h, &key, &liar).await;
        let (out, _) = get(&swarm, &key).await;
        assert!(out == data, "a lying copy on store {h} won");
        let dest = tempfile::tempdir().unwrap();
        let file = dest.path().join("out");
        swarm.get(&key, &file, &Quiet).await.unwrap();
        assert!(std::fs::read(&file).unwrap() == data);

        let health = swarm
            .fsck(std::slice::from_ref(&key), true, &Quiet)
            .await
            .unwrap();
        assert!(health[0].restorable, "{:?}", health[0]);
        assert!(
            health[0].problems.iter().any(|p| p.contains("disagree")),
            "{:?}",
            health[0]
        );
        let err = swarm
            .gc(std::time::Duration::ZERO, false)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, EngineError::Refused(why) if why.contains("disagree")),
            "{err}"
        );
        let repaired = swarm.repair(&[], &Quiet).await.unwrap();
        assert!(
            repaired[0]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("disagree")),
            "{repaired:?}"
        );
        write_copy(&rig, h, &key, &honest).await;
    }
    // Honest again everywhere: gc goes on and keeps the key.
    swarm.close().await;
    swarm.gc(std::time::Duration::ZERO, false).await.unwrap();
    let (out, _) = get(&swarm, &key).await;
    assert!(out == data);
}

/// A manifest (every copy of it) with two shard hashes swapped, or a wrong chunk id, passed
/// `fsck --verify` (each shard matched a hash it names) while get failed. The verify survey now
/// restores each chunk and encodes it again.
#[tokio::test]
async fn a_manifest_with_swapped_shard_hashes_fails_fsck_verify() {
    for wrong in ["swapped shards", "chunk id"] {
        let rig = Rig::new(4, 2, 6, 4096).await;
        let swarm = rig.open().await;
        let key = put(&swarm, &content(100_000, 2)).await;
        let (holders, mut m) = copies(&rig, &key).await;
        if let Body::Chunked { chunks, .. } = &mut m.body {
            match wrong {
                "swapped shards" => chunks[0].shards.swap(0, 1),
                _ => chunks[0].id = Hash32::of(b"another chunk"),
            }
        }
        for &h in &holders {
            write_copy(&rig, h, &key, &m).await;
        }
        let health = swarm
            .fsck(std::slice::from_ref(&key), true, &Quiet)
            .await
            .unwrap();
        assert!(!health[0].restorable, "{wrong}: {:?}", health[0]);
        assert!(
            health[0]
                .problems
                .iter()
                .any(|p| p.contains("manifest is wrong")),
            "{wrong}: {:?}",
            health[0]
        );
        let mut out = Vec::new();
        assert!(
            swarm.get_to(&key, &mut out, &Quiet).await.is_err(),
            "{wrong}"
        );
    }
}
