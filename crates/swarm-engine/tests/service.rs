//! The engine as a long-lived service, over in-memory stores with tokio's clock paused (rate
//! limits and timeouts in virtual time): misbehaving stores at once, ranged reads, stores that
//! come back or join while a get runs, repair past slow and hung stores, gets sharing a store's
//! connections, byte streams in and out, progress as events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Cursor;
use std::time::Duration;

use common::{Rig, content, get, put};
use swarm_engine::EngineError;
use swarm_engine::progress::{Event, Quiet, channel};
use swarm_store::decorate::Fault;
use tokio::time::Instant;

/// 4 + 3 over eight stores, 4 KiB shards: the old paused-clock test, now through the public
/// API. The three bad stores first absent, then present and misbehaving (one hangs, one fails
/// after ten reads, one returns every other shard corrupt), beside one slow store: the get must
/// cost little more than with them absent.
#[tokio::test(start_paused = true)]
async fn slow_hung_failing_and_lying_stores_at_once() {
    let mut rig = Rig::new(4, 3, 8, 4096).await;
    let data = content(2_000_000, 1);
    let key = put(&rig.open().await, &data).await;
    rig.rates(&[
        Some("128KiB/s"),
        Some("128KiB/s"),
        Some("128KiB/s"),
        Some("128KiB/s"),
        Some("16KiB/s"),
        Some("128KiB/s"),
        Some("128KiB/s"),
        Some("128KiB/s"),
    ]);
    for i in 5..8 {
        rig.set(i, Fault::Down);
    }
    let swarm = rig.open().await;
    let started = Instant::now();
    let (out, _) = get(&swarm, &key).await;
    let absent = started.elapsed();
    assert!(out == data, "restored bytes differ");
    drop(swarm);

    rig.set(5, Fault::HangObjects);
    rig.set(6, Fault::FailAfter(10));
    rig.set(7, Fault::CorruptEvery(2));
    let swarm = rig.open().await;
    let started = Instant::now();
    let (out, report) = get(&swarm, &key).await;
    let took = started.elapsed();
    assert!(out == data, "restored bytes differ");
    let dropped = |i: usize| report.stores[i].dropped.clone().unwrap_or_default();
    assert!(
        dropped(5).starts_with("no answer for"),
        "{:?}",
        report.stores[5]
    );
    assert!(
        dropped(6).contains("scripted failure"),
        "{:?}",
        report.stores[6]
    );
    assert!(dropped(7).contains("corrupt"), "{:?}", report.stores[7]);
    assert!(report.stores[4].dropped.is_none(), "slow is not dropped");
    for s in &report.stores[..4] {
        assert!(s.dropped.is_none() && s.bytes > 0, "{s:?}");
    }
    // Corrupt shards are the only bytes received and not used.
    let largest = match &swarm.object(&key).await.unwrap().manifest().body {
        swarm_core::manifest::Body::Chunked { coding, chunks, .. } => chunks
            .iter()
            .map(|c| coding.shard_len(c.len as usize) as u64)
            .max()
            .unwrap(),
        _ => panic!("expected a chunked object"),
    };
    assert!(
        report.wasted_bytes <= 3 * largest,
        "{}",
        report.wasted_bytes
    );
    assert!(
        took.as_secs_f64() <= 1.3 * absent.as_secs_f64(),
        "took {took:?}, {absent:?} with the bad stores absent"
    );
}

/// Byte ranges at the edges that take different paths: inside a chunk, across chunk and
/// shard boundaries, the whole object, its last byte, past its end; only the chunks that cover
/// a range are read.
#[tokio::test]
async fn ranged_reads_at_chunk_and_shard_boundaries() {
    let rig = Rig::new(4, 2, 6, 4096).await;
    let swarm = rig.open().await;
    let data = content(300_000, 2);
    let key = put(&swarm, &data).await;
    let reader = swarm.object(&key).await.unwrap();
    assert_eq!(reader.size(), data.len() as u64);
    let chunks = match &reader.manifest().body {
        swarm_core::manifest::Body::Chunked { chunks, coding, .. } => {
            assert_eq!(coding.k(), 4);
            chunks.clone()
        }
        _ => panic!("expected a chunked object"),
    };
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    let first = u64::from(chunks[0].len);
    let second = first + u64::from(chunks[1].len);
    let shard = swarm_core::erasure::Coding::new(4, 2)
        .unwrap()
        .shard_len(chunks[0].len as usize) as u64;
    let size = data.len() as u64;
    let cases: Vec<(&str, u64, u64)> = vec![
        ("first byte", 0, 1),
        ("within the first shard", 10, 100),
        ("across the first shard boundary", shard - 5, 10),
        ("a whole shard", shard, shard),
        ("up to the end of the first chunk", first - 7, 7),
        ("across the first chunk boundary", first - 1, 2),
        ("exactly the second chunk", first, second - first),
        ("across two boundaries", first - 3, second - first + 6),
        ("the last byte", size - 1, 1),
        ("past the end", size - 10, 100),
        ("the whole object", 0, size),
        ("nothing", 5, 0),
        ("beyond the end", size + 1, 10),
    ];
    for (what, offset, len) in cases {
        let got = reader.read(offset, len).await.unwrap();
        let from = offset.min(size) as usize;
        let to = offset.saturating_add(len).min(size) as usize;
        assert!(got[..] == data[from..to], "{what}: {offset}+{len}");
    }

    // One shard by its hash, checked; an unknown one is not found.
    let hash = chunks[1].shards[2];
    let bytes = swarm.shard(hash, shard_len(&chunks[1])).await.unwrap();
    assert_eq!(swarm_core::ids::Hash32::of(&bytes), hash);
    let unknown = swarm_core::ids::Hash32::of(b"nothing");
    assert!(matches!(
        swarm.shard(unknown, 10).await,
        Err(EngineError::NotPresent { .. })
    ));

    // A range inside one chunk fetches that chunk only: k shard reads at most, plus races.
    let before: u64 = requests(&swarm);
    let fresh = swarm.object(&key).await.unwrap();
    let manifest_reads = requests(&swarm) - before;
    let before = requests(&swarm);
    fresh.read(second + 1, 10).await.unwrap();
    let reads = requests(&swarm) - before;
    assert!(
        (4..=6).contains(&reads),
        "{reads} reads for one chunk ({manifest_reads} for the manifest)"
    );
    // The next range of the same chunk comes from the chunk just restored.
    let before = requests(&swarm);
    fresh.read(second + 20, 10).await.unwrap();
    assert_eq!(
        requests(&swarm) - before,
        0,
        "the same chunk was read again"
    );
}

/// A chunk's data shards are its bytes in k slices (the last padded), each read with one
/// request from the store placement names: part of a chunk without decoding. Parity shards and
/// inline objects have none; a data shard no store holds any more is not found.
#[tokio::test]
async fn data_shards_are_slices_of_their_chunk_read_with_one_request() {
    let rig = Rig::new(4, 2, 6, 4096).await;
    let swarm = rig.open().await;
    let data = content(300_000, 3);
    let key = put(&swarm, &data).await;
    let reader = swarm.object(&key).await.unwrap();
    let chunks = match &reader.manifest().body {
        swarm_core::manifest::Body::Chunked { chunks, .. } => chunks.clone(),
        _ => panic!("expected a chunked object"),
    };
    let mut at = 0usize;
    for (n, c) in chunks.iter().enumerate() {
        let len = c.len as usize;
        let s = shard_len(c) as usize;
        for i in 0..4 {
            let before = requests(&swarm);
            let shard = reader.data_shard(n, i).await.unwrap();
            assert_eq!(requests(&swarm) - before, 1, "chunk {n} shard {i}");
            assert_eq!(shard.len(), s);
            let from = (i * s).min(len);
            let to = ((i + 1) * s).min(len);
            assert!(
                shard[..to - from] == data[at + from..at + to],
                "chunk {n} shard {i}"
            );
            assert!(
                shard[to - from..].iter().all(|&b| b == 0),
                "padding of {n}/{i}"
            );
        }
        at += len;
    }
    assert!(matches!(
        reader.data_shard(0, 4).await,
        Err(EngineError::Refused(_))
    ));
    assert!(matches!(
        reader.data_shard(chunks.len(), 0).await,
        Err(EngineError::Refused(_))
    ));
    let small = put(&swarm, &content(1000, 4)).await;
    assert!(matches!(
        swarm.object(&small).await.unwrap().data_shard(0, 0).await,
        Err(EngineError::Refused(_))
    ));
    for i in 0..6 {
        rig.set(i, Fault::Down);
    }
    assert!(matches!(
        reader.data_shard(0, 0).await,
        Err(EngineError::NotPresent { .. })
    ));
}

/// A range of a data shard is the same bytes as the shard's slice, read with one request from
/// the same store; a range past the shard is refused; with its stores down it is not found.
/// Unchecked by design: a lying store's bytes come back as they are (the caller checks).
#[tokio::test]
async fn data_shard_ranges_are_slices_of_the_shard_read_with_one_request() {
    let rig = Rig::new(4, 2, 6, 4096).await;
    let swarm = rig.open().await;
    let key = put(&swarm, &content(300_000, 5)).await;
    let reader = swarm.object(&key).await.unwrap();
    let chunks = match &reader.manifest().body {
        swarm_core::manifest::Body::Chunked { chunks, .. } => chunks.clone(),
        _ => panic!("expected a chunked object"),
    };
    for (n, c) in chunks.iter().enumerate().take(3) {
        let s = shard_len(c);
        for i in 0..4 {
            let whole = reader.data_shard(n, i).await.unwrap();
            for (offset, len) in [(0, s), (0, 1), (s - 1, 1), (s / 3, s / 2), (7, 0)] {
                let before = requests(&swarm);
                let part = reader.data_shard_range(n, i, offset, len).await.unwrap();
                let want = &whole[offset as usize..(offset + len) as usize];
                assert!(part == want, "chunk {n} shard {i} at {offset}+{len}");
                assert!(requests(&swarm) - before <= 1);
            }
            assert!(matches!(
                reader.data_shard_range(n, i, s - 1, 2).await,
                Err(EngineError::Refused(_))
            ));
        }
    }
    assert!(matches!(
        reader.data_shard_range(0, 4, 0, 1).await,
        Err(EngineError::Refused(_))
    ));
    for i in 0..6 {
        rig.set(i, Fault::Down);
    }
    assert!(matches!(
        reader.data_shard_range(0, 0, 0, 1).await,
        Err(EngineError::NotPresent { .. })
    ));
}

fn shard_len(c: &swarm_core::manifest::ChunkRecord) -> u64 {
    swarm_core::erasure::Coding::new(4, 2)
        .unwrap()
        .shard_len(c.len as usize) as u64
}

fn requests(swarm: &swarm_engine::Swarm) -> u64 {
    swarm
        .members()
        .stores()
        .iter()
        .map(|m| m.store.requests().map_or(0, |r| r.reads))
        .sum()
}

/// A store that is down when a get starts and comes back while it runs is used again: the
/// health monitor checks it, the scheduler takes it back.
#[tokio::test(start_paused = true)]
async fn a_store_that_comes_back_mid_get_is_used_again() {
    let mut rig = Rig::new(4, 2, 6, 4096).await;
    let data = content(1_500_000, 3);
    let key = put(&rig.open().await, &data).await;
    rig.rates(&[Some("64KiB/s"); 6]);
    rig.set(0, Fault::Down);
    let swarm = rig.open().await;
    assert!(!swarm.members().stores()[0].health().is_up());
    let faults = rig.faults[0].clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        faults.set(Fault::None);
    });
    let (out, report) = get(&swarm, &key).await;
    assert!(out == data, "restored bytes differ");
    let back = &report.stores[0];
    assert!(back.dropped.is_none(), "{back:?}");
    assert!(
        back.bytes > 0,
        "the store that came back was not used: {back:?}"
    );
    assert!(swarm.members().stores()[0].health().is_up());
}

/// A newer definition is taken without a restart: a store that joins while a get runs (here
/// one that holds shards: it was in the swarm when the file was stored) is asked too; a later
/// put uses it; an older or another swarm's definition is refused.
#[tokio::test(start_paused = true)]
async fn a_definition_reload_adds_a_store_mid_get() {
    let rig = Rig::new(4, 2, 7, 4096).await;
    let data = content(1_500_000, 4);
    let key = put(&rig.open().await, &data).await;
    assert!(rig.shard_count(6).await > 0);

    let mut seven = rig.def.clone();
    for e in &mut seven.stores {
        e.download_rate = Some("64KiB/s".parse().unwrap());
    }
    seven.stores[6].download_rate = Some("1MiB/s".parse().unwrap());
    seven.version = 2;
    let mut six = seven.clone();
    six.stores.pop();
    six.version = 1;
    let swarm = rig.open_def(six).await;
    assert_eq!(swarm.members().stores().len(), 6);

    let reloader = swarm.clone();
    let newer = seven.clone();
    let reload = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        reloader.reload(newer).await.unwrap()
    });
    let (out, report) = get(&swarm, &key).await;
    assert!(out == data, "restored bytes differ");
    let reloaded = reload.await.unwrap();
    assert_eq!(reloaded.added.len(), 1, "{reloaded:?}");
    assert_eq!(swarm.members().stores().len(), 7);
    let joined = report
        .stores
        .iter()
        .find(|s| s.store == "s6")
        .expect("the store that joined is in the report");
    assert!(
        joined.bytes > 0,
        "the store that joined was not used: {joined:?}"
    );

    // A put after the reload places shards on the new store too.
    let before = rig.shard_count(6).await;
    put(&swarm, &content(400_000, 5)).await;
    assert!(rig.shard_count(6).await > before);

    // Not newer, or another swarm: refused, nothing changes.
    let mut stale = seven.clone();
    stale.stores.pop();
    let err = swarm.reload(stale).await.unwrap_err();
    assert!(matches!(err, EngineError::Reload(_)), "{err}");
    let mut foreign = seven.clone();
    foreign.swarm = swarm_core::ids::SwarmId([1; 16]);
    foreign.version = 9;
    assert!(swarm.reload(foreign).await.is_err());
    assert_eq!(swarm.members().stores().len(), 7);
    assert!(swarm.reload(seven).await.unwrap().added.is_empty());
}

/// Repair restores through the scheduler and checks many chunks at once: with one store at
/// half speed and one that hangs (a hung mount: nothing answers, from the moment the repair
/// starts) it takes at most 1.3 times as long as with both absent. Two rigs with the same
/// content and placement; in both, store s0 lost its shards. 4 + 3 over ten stores, so the key
/// survives s0 and the two absent ones, and three spares can take their shards.
#[tokio::test(start_paused = true)]
async fn repair_with_a_slow_and_a_hung_store_is_not_held_up_by_them() {
    let data = content(24_000_000, 6);
    let mut timings = Vec::new();
    for present in [false, true] {
        let mut rig = Rig::new(4, 3, 10, 4096).await;
        let key = put(&rig.open().await, &data).await;
        rig.wipe_shards(0).await;
        let mut rates = vec![Some("256KiB/s"); 10];
        rates[1] = Some("192KiB/s");
        rig.rates(&rates);
        if !present {
            rig.set(1, Fault::Down);
            rig.set(2, Fault::Down);
        }
        let swarm = rig.open().await;
        if present {
            rig.set(2, Fault::Hang);
        }
        let started = Instant::now();
        let reports = swarm
            .repair(std::slice::from_ref(&key), &Quiet)
            .await
            .unwrap();
        let took = started.elapsed();
        let r = &reports[0];
        assert!(r.error.is_none(), "{r:?}");
        let after = r.after.as_ref().unwrap();
        assert!(after.restorable, "{after:?}");
        assert!(r.shards_rewritten > 0, "{r:?}");
        let (out, _) = get(&swarm, &key).await;
        assert!(out == data, "restored bytes differ");
        timings.push(took);
    }
    let (absent, present) = (timings[0], timings[1]);
    eprintln!("repair: {absent:?} with both absent, {present:?} with them present");
    assert!(
        present.as_secs_f64() <= 1.3 * absent.as_secs_f64(),
        "{present:?} against {absent:?}"
    );
}

/// Two gets in one process share a store's connection budget (one connection here): time one
/// of them spends waiting for the other's request is not taken for the store being slow or hung.
#[tokio::test(start_paused = true)]
async fn two_gets_share_a_rate_limited_store() {
    let mut rig = Rig::new(4, 2, 6, 4096).await;
    let a = content(800_000, 7);
    let b = content(800_000, 8);
    let swarm = rig.open().await;
    let (ka, kb) = (put(&swarm, &a).await, put(&swarm, &b).await);
    drop(swarm);
    rig.rates(&[Some("64KiB/s"); 6]);
    rig.def.stores[0].connections = Some(1);
    rig.def.stores[0].download_rate = Some("16KiB/s".parse().unwrap());
    let swarm = rig.open().await;
    let (s1, s2) = (swarm.clone(), swarm.clone());
    let (ra, rb) = tokio::join!(async move { get(&s1, &ka).await }, async move {
        get(&s2, &kb).await
    });
    assert!(ra.0 == a && rb.0 == b, "restored bytes differ");
    let queued: u64 = [&ra.1, &rb.1].iter().map(|r| r.stores[0].queued).sum();
    assert!(queued > 0, "the gets never waited for each other");
    for r in [&ra.1, &rb.1] {
        let shared = &r.stores[0];
        assert!(shared.dropped.is_none(), "{shared:?}");
    }
    assert!(ra.1.stores[0].bytes + rb.1.stores[0].bytes > 0);
}

/// Objects go in from a byte stream and come out into a byte sink, at the sizes that take
/// different paths; a key that names a size other than the stream's is refused.
#[tokio::test]
async fn put_from_a_stream_and_get_into_a_sink() {
    let rig = Rig::new(4, 2, 6, 4096).await;
    let swarm = rig.open().await;
    for len in [0, 1, 1023, 1024, 16_383, 16_384, 16_385, 200_000] {
        let data = content(len, len as u32);
        let key = put(&swarm, &data).await;
        let (out, _) = get(&swarm, &key).await;
        assert!(out == data, "{len} bytes came back different");
    }
    let data = content(5000, 1);
    let wrong: swarm_core::key::Key =
        "SHA256E-s4999--0000000000000000000000000000000000000000000000000000000000000000.bin"
            .parse()
            .unwrap();
    let err = swarm
        .put_stream(Cursor::new(data), Some(wrong), "", &Quiet)
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::Mismatch { .. }), "{err}");
    assert!(swarm.ls().await.unwrap().iter().all(|k| k.size != 4999));
}

/// Progress is a stream of events: a start with the size, advances adding up to it, the bytes
/// each store delivered, a finish.
#[tokio::test]
async fn progress_is_an_event_stream() {
    let rig = Rig::new(4, 2, 6, 4096).await;
    let swarm = rig.open().await;
    let data = content(100_000, 9);
    let key = put(&swarm, &data).await;
    let (tx, mut rx) = channel();
    let mut out = Vec::new();
    swarm.get_to(&key, &mut out, &tx).await.unwrap();
    drop(tx);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    assert_eq!(
        events.first(),
        Some(&Event::Started {
            op: "get",
            total: 100_000
        })
    );
    assert_eq!(events.last(), Some(&Event::Finished));
    let advanced: u64 = events
        .iter()
        .filter_map(|e| match e {
            Event::Advanced(n) => Some(*n),
            _ => None,
        })
        .sum();
    assert_eq!(advanced, 100_000);
    let from_stores: u64 = events
        .iter()
        .filter_map(|e| match e {
            Event::StoreBytes { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .sum();
    assert!(from_stores >= 100_000, "{from_stores}");
}

/// Issue 11, item 7: a store that stops answering (a hung NFS or USB mount) hung the store check
/// at open, manifest reads, fsck, ls, gc and repair. Every request now has a deadline that
/// follows the store's pace (at least 5 s for local stores): a hung store is found down, and
/// every command finishes without it.
#[tokio::test(start_paused = true)]
async fn a_store_that_stops_answering_hangs_nothing() {
    let rig = Rig::new(4, 2, 7, 4096).await;
    let data = content(300_000, 10);
    let key = put(&rig.open().await, &data).await;
    // Hung from the start: the open's marker check times out.
    rig.set(0, Fault::Hang);
    let started = Instant::now();
    let swarm = rig.open().await;
    assert!(!swarm.members().stores()[0].health().is_up());
    let (out, _) = get(&swarm, &key).await;
    assert!(out == data);
    let health = swarm
        .fsck(std::slice::from_ref(&key), true, &Quiet)
        .await
        .unwrap();
    assert!(health[0].restorable, "{:?}", health[0]);
    assert_eq!(swarm.ls().await.unwrap().len(), 1);
    assert!(swarm.gc(Duration::from_secs(3600), false).await.is_err());
    let repaired = swarm.repair(&[], &Quiet).await.unwrap();
    assert!(repaired[0].after.as_ref().unwrap().restorable);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );

    // Hanging after the open: the first requests to it run into their deadline, then it is down.
    rig.set(0, Fault::None);
    let swarm = rig.open().await;
    rig.set(0, Fault::Hang);
    let started = Instant::now();
    let health = swarm
        .fsck(std::slice::from_ref(&key), true, &Quiet)
        .await
        .unwrap();
    assert!(health[0].restorable, "{:?}", health[0]);
    assert!(swarm.ls().await.is_ok());
    let (out, _) = get(&swarm, &key).await;
    assert!(out == data);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(!swarm.members().stores()[0].health().is_up());
}
