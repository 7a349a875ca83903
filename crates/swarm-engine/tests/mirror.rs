//! mirror: one store made to hold whole copies (k shards of every chunk and the manifest), so
//! that store alone restores every key; a second mirror writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Rig, content, get, put};
use swarm_store::StoreAdmin;
use swarm_store::decorate::Fault;

#[tokio::test]
async fn a_mirrored_store_alone_restores_the_key() {
    let rig = Rig::new(3, 2, 5, 4096).await;
    let swarm = rig.open().await;
    let data = content(1_000_000, 3);
    let key = put(&swarm, &data).await;
    let before = rig.shard_count(0).await;

    let target = "s0".parse().unwrap();
    let reports = swarm.mirror(&[], &target).await.unwrap();
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert!(r.whole && r.error.is_none(), "{r:?}");
    assert!(r.chunks > 1, "{r:?}");
    // Every chunk lacked shards on s0 (a store holds about one of each chunk's five; a chunk
    // repeated in the content is filled once).
    assert!(
        r.chunks_filled <= r.chunks && r.chunks_filled > r.chunks / 2,
        "{r:?}"
    );
    assert!(r.shards_written >= r.chunks, "{r:?}");
    assert_eq!(rig.shard_count(0).await, before + r.shards_written);

    // Again: nothing to do.
    let again = swarm.mirror(&[], &target).await.unwrap();
    assert_eq!(again[0].shards_written, 0, "{:?}", again[0]);
    assert_eq!(again[0].chunks_filled, 0, "{:?}", again[0]);
    assert!(again[0].whole);

    // The other four stores gone: s0 alone restores the key.
    for i in 1..5 {
        rig.set(i, Fault::Down);
    }
    let swarm = rig.open().await;
    let (got, _) = get(&swarm, &key).await;
    assert!(got == data, "restored bytes differ");
}

/// Bytes the swarm's stores delivered to reads (manifests included).
fn bytes_read(swarm: &swarm_engine::Swarm) -> u64 {
    swarm
        .members()
        .stores()
        .iter()
        .map(|m| m.store.requests().map_or(0, |r| r.bytes_read))
        .sum()
}

/// repair_missing, as a node runs it every round: a healthy swarm costs listings and no read
/// of a shard; a store whose shards were wiped gets them back, reading no more than k times
/// the lost bytes (+10% for manifests).
#[tokio::test]
async fn repair_from_listings_reads_k_times_what_was_lost() {
    let rig = Rig::new(3, 2, 5, 4096).await;
    let swarm = rig.open().await;
    let data = content(1_000_000, 5);
    let key = put(&swarm, &data).await;

    let swarm = rig.open().await;
    assert!(
        swarm
            .repair_missing(|_| true, |_| Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    let healthy = bytes_read(&swarm);

    let lost_shards = rig.shard_count(2).await;
    let lost_bytes: u64 = rig.mems[2]
        .list(swarm_store::Class::Shards)
        .await
        .unwrap()
        .objects
        .iter()
        .map(|l| l.meta.size)
        .sum();
    rig.wipe_shards(2).await;
    let reports = swarm
        .repair_missing(|_| true, |_| Vec::new())
        .await
        .unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].error.is_none(), "{reports:?}");
    assert!(reports[0].after.as_ref().unwrap().spare >= 2, "{reports:?}");
    assert_eq!(reports[0].shards_rewritten, lost_shards);
    let read = bytes_read(&swarm) - healthy;
    eprintln!(
        "lost {lost_bytes} bytes, read {read} ({:.2}x)",
        read as f64 / lost_bytes as f64
    );
    assert!(
        read as f64 <= 3.0 * lost_bytes as f64 * 1.1,
        "read {read} bytes to repair {lost_bytes}"
    );
    // Only what the wanted filter picks.
    rig.wipe_shards(2).await;
    assert!(
        swarm
            .repair_missing(|_| false, |_| Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(rig.shard_count(2).await, 0);
    let (got, _) = get(&swarm, &key).await;
    assert!(got == data);
}
