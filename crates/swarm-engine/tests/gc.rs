//! gc against concurrent writers (`docs/spec/locks-v1.md`): two swarm handles over the same
//! stores stand for two processes (each has its own write lock), tokio's clock paused.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Cursor;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Rig, age_shards, content, put};
use swarm_core::lock::{LockMode, LockRecord};
use swarm_engine::EngineError;
use swarm_engine::progress::Quiet;
use swarm_store::decorate::Fault;
use swarm_store::{Class, LockName, Object, StoreAdmin};

const HOUR: Duration = Duration::from_secs(3600);

/// Issue 11, item 1: gc deleted shards a concurrent put had just reused (touched), and the
/// put then claimed a key that could not be restored. Hundreds of rounds of: store a file,
/// remove it, age its shards (orphans older than the grace period), then at once a gc (with
/// slow listings) in one process and a put of the same content in another. Whatever the
/// interleaving, a put that succeeds leaves a restorable key.
#[tokio::test(start_paused = true)]
async fn gc_never_deletes_shards_a_concurrent_put_reused() {
    let rig = Rig::new(2, 1, 4, 4096).await;
    let writer = rig.open().await;
    let collector = rig.open().await;
    let data = content(60_000, 1);
    let (mut collected, mut reused, mut refused) = (0, 0, 0);
    for round in 0..200u32 {
        let key = put(&writer, &data).await;
        writer.close().await;
        writer.rm(&key).await.unwrap();
        age_shards(&rig, 2 * HOUR);
        // Slow listings widen the window between gc's listing and its deletions.
        for h in &rig.faults {
            h.set(Fault::Delay(Duration::from_millis(
                u64::from(round % 7) * 20,
            )));
        }
        let stagger = Duration::from_millis(u64::from(round % 11) * 15);
        let (gc, stored) = tokio::join!(async { collector.gc(HOUR, false).await }, async {
            tokio::time::sleep(stagger).await;
            writer
                .put_stream(Cursor::new(data.clone()), None, "f.bin", &Quiet)
                .await
        });
        for h in &rig.faults {
            h.set(Fault::None);
        }
        match gc {
            Ok(r) if r.shards_deleted > 0 => collected += 1,
            Ok(_) => {}
            Err(EngineError::Refused(why)) => {
                assert!(why.contains("writer holds the swarm"), "{why}");
                refused += 1;
            }
            Err(e) => panic!("round {round}: gc failed: {e}"),
        }
        let stored = stored.unwrap();
        if stored.shards_reused > 0 {
            reused += 1;
        }
        let health = writer
            .fsck(std::slice::from_ref(&key), true, &Quiet)
            .await
            .unwrap();
        assert!(
            health[0].restorable && health[0].spare == 1,
            "round {round}: the put succeeded but {:?}",
            health[0]
        );
        writer.close().await;
        writer.rm(&key).await.unwrap();
        collector.gc(Duration::ZERO, false).await.unwrap();
    }
    eprintln!(
        "200 rounds: gc collected in {collected}, refused in {refused}; puts reused in {reused}"
    );
    // Both orders happened, so the rounds proved something.
    assert!(
        collected > 0 && refused > 0 && reused > 0,
        "{collected} {refused} {reused}"
    );
}

fn lock_on_all(rig: &Rig, mode: LockMode, host: &str, pid: u32, refreshed: u64) -> Object {
    let name = format!("{}-{}", mode.as_str(), "7".repeat(32));
    let object = Object::Lock(LockName::new(&name).unwrap());
    let record = LockRecord {
        format: 1,
        mode,
        swarm: common::SWARM,
        host: host.into(),
        pid,
        purpose: "test".into(),
        created: refreshed,
        refreshed,
    };
    for mem in &rig.mems {
        futures::executor::block_on(mem.write(&object, record.encode().into())).unwrap();
    }
    object
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A put waits while another machine's gc holds the swarm, and goes on once it is done.
#[tokio::test(start_paused = true)]
async fn a_put_waits_for_a_gc() {
    let rig = Rig::new(2, 1, 4, 4096).await;
    let swarm = rig.open().await;
    let lock = lock_on_all(&rig, LockMode::Exclusive, "elsewhere", 1, now());
    let mems = rig.mems.clone();
    let gc_done = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(20)).await;
        for m in &mems {
            m.delete(&lock).await.unwrap();
        }
    });
    let started = tokio::time::Instant::now();
    put(&swarm, &content(50_000, 2)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    gc_done.await.unwrap();
}

/// gc refuses, naming the holder, while a writer's lock is fresh; a stale one (not refreshed
/// for 30 minutes, or left by a process of this host that is gone) is ignored and deleted.
#[tokio::test(start_paused = true)]
async fn gc_refuses_fresh_locks_and_clears_stale_ones() {
    let rig = Rig::new(2, 1, 4, 4096).await;
    let swarm = rig.open().await;
    let fresh = lock_on_all(&rig, LockMode::Shared, "laptop", 77, now());
    let err = swarm.gc(HOUR, false).await.unwrap_err().to_string();
    assert!(err.contains("host laptop, process 77"), "{err}");
    for m in &rig.mems {
        m.delete(&fresh).await.unwrap();
    }
    lock_on_all(&rig, LockMode::Shared, "laptop", 77, now() - 31 * 60);
    swarm.gc(HOUR, false).await.unwrap();
    for m in &rig.mems {
        let locks = m.list(Class::Locks).await.unwrap();
        assert!(locks.objects.is_empty(), "{locks:?}");
    }
    // A put's own lock lingers after it, then goes; closing releases it at once.
    put(&swarm, &content(50_000, 3)).await;
    let held = |rig: &Rig| {
        rig.mems
            .iter()
            .map(|m| {
                futures::executor::block_on(m.list(Class::Locks))
                    .unwrap()
                    .objects
                    .len()
            })
            .sum::<usize>()
    };
    assert_eq!(held(&rig), 1);
    assert!(swarm.gc(HOUR, false).await.is_err());
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(held(&rig), 0, "the lock did not go after lingering");
    put(&swarm, &content(50_000, 4)).await;
    swarm.close().await;
    assert_eq!(held(&rig), 0);
}
