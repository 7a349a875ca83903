//! mirror: one store made to hold whole copies (k shards of every chunk and the manifest), so
//! that store alone restores every key; a second mirror writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Rig, content, get, put};
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
