//! The scheduler under scripted stores: first simulated (the benchmark scenarios, in virtual
//! time), then the real fetcher over in-memory stores with tokio's clock paused.

#![allow(clippy::unwrap_used)]

use super::plan::Tuning;
use super::sim::{Behaviour, Outcome, odd, run, run_sized, store};

const FILE_MIB: u64 = 512;

fn show(name: &str, o: &Outcome) {
    eprintln!(
        "{name}: {:.1} MiB/s in {:.2}s, decoded {}, wasted {} B, window max {} MiB, failed {:?}",
        o.mib_per_sec(),
        o.seconds,
        o.decoded,
        o.wasted(),
        o.max_window >> 20,
        o.failed
    );
    for (s, t) in o.tallies.iter().enumerate() {
        eprintln!(
            "  s{s}: {} MiB in {} requests, {} races, {} cancelled, dropped {:?}",
            t.bytes >> 20,
            t.requests,
            t.races,
            t.cancelled,
            t.dropped
        );
    }
}

fn ok(name: &str, o: Outcome) -> Outcome {
    show(name, &o);
    assert!(o.failed.is_none(), "{name}: {:?}", o.failed);
    let t = Tuning::default();
    assert!(
        o.max_window <= t.window_bytes,
        "{name}: window grew to {}",
        o.max_window
    );
    o
}

#[test]
fn the_window_grows_with_chunks_but_stays_bounded() {
    assert_eq!(Tuning::for_chunks(4 << 20).window_bytes, 64 << 20);
    assert_eq!(Tuning::for_chunks(32 << 20).window_bytes, 128 << 20);
    // A manifest's group max may claim 1 GiB: the window does not follow it.
    assert_eq!(
        Tuning::for_chunks(1 << 30).window_bytes,
        super::plan::MAX_WINDOW
    );
}

#[test]
fn big_shards_add_up_too() {
    // Remote swarms: 4 MiB shards and grouped chunks of 16 to 32 MiB (about 22 on average).
    let shard = 4608 << 10;
    for (name, stores, want) in [
        ("4+2, 6 x 20, 4.5 MiB shards", vec![store(20.0); 6], 120.0),
        (
            "4+2, 5 x 20 + 2, 4.5 MiB shards",
            [vec![store(20.0); 5], vec![store(2.0)]].concat(),
            100.0,
        ),
    ] {
        let o = run_sized(4, 2, FILE_MIB, &stores, Tuning::for_chunks(32 << 20), shard);
        show(name, &o);
        assert!(o.failed.is_none(), "{name}: {:?}", o.failed);
        assert!(o.mib_per_sec() >= 0.9 * want, "{name}: {}", o.mib_per_sec());
    }
}

#[test]
fn six_equal_stores_add_up() {
    let o = ok(
        "4+2, 6 x 20",
        run(4, 2, FILE_MIB, &vec![store(20.0); 6], Tuning::default()),
    );
    assert!(o.mib_per_sec() >= 0.9 * 120.0, "{}", o.mib_per_sec());
    // Equal stores mostly serve their data shards: little to decode, nothing wasted.
    assert!(o.decoded < 128 / 4, "{}", o.decoded);
    assert_eq!(o.wasted(), 0);
    for t in &o.tallies {
        assert!(t.bytes > 60 << 20, "every store works: {t:?}");
    }
}

#[test]
fn replicas_come_from_every_copy() {
    let four = ok(
        "k=1, 4 x 20",
        run(1, 3, FILE_MIB, &vec![store(20.0); 4], Tuning::default()),
    );
    let one = ok(
        "k=1, 1 x 20",
        run(1, 0, FILE_MIB, &[store(20.0)], Tuning::default()),
    );
    assert!(four.mib_per_sec() >= 0.9 * 80.0, "{}", four.mib_per_sec());
    assert!(four.mib_per_sec() / one.mib_per_sec() >= 3.6);
}

#[test]
fn a_straggler_does_not_hold_the_rest_back() {
    let mut stores = vec![store(20.0); 5];
    stores.push(store(2.0));
    let o = ok(
        "4+2, 5 x 20 + 2",
        run(4, 2, FILE_MIB, &stores, Tuning::default()),
    );
    assert!(o.mib_per_sec() >= 0.85 * 100.0, "{}", o.mib_per_sec());
    assert!(o.wasted() < (FILE_MIB << 20) / 50);
}

#[test]
fn a_store_that_never_answers_is_raced_then_dropped() {
    let mut stores = vec![store(20.0); 5];
    stores.push(odd(20.0, Behaviour::Down));
    let without = ok(
        "4+2, 5 x 20, one down",
        run(4, 2, FILE_MIB, &stores, Tuning::default()),
    );
    stores[5] = odd(20.0, Behaviour::Hang);
    let hung = ok(
        "4+2, 5 x 20, one hangs",
        run(4, 2, FILE_MIB, &stores, Tuning::default()),
    );
    assert!(
        hung.seconds <= 1.3 * without.seconds,
        "{} vs {}",
        hung.seconds,
        without.seconds
    );
    let why = hung.tallies[5].dropped.as_deref().unwrap();
    assert!(why.starts_with("no answer for"), "{why}");
    // Once overdue it is benched: it is not handed request after request.
    assert!(hung.tallies[5].requests <= crate::swarm::DEFAULT_CONNECTIONS as u64);
}

#[test]
fn mixed_speeds_add_up() {
    let stores = [store(5.0), store(10.0), store(20.0), store(40.0)];
    let o = ok(
        "k=1, 5+10+20+40",
        run(1, 3, FILE_MIB, &stores, Tuning::default()),
    );
    assert!(o.mib_per_sec() >= 0.8 * 75.0, "{}", o.mib_per_sec());
}

#[test]
fn slow_hung_failing_and_lying_stores_at_once() {
    let mut stores = vec![store(20.0); 4];
    stores.extend([
        store(2.0),
        odd(20.0, Behaviour::Hang),
        odd(20.0, Behaviour::FailAfter(10)),
        odd(20.0, Behaviour::CorruptEvery(2)),
    ]);
    let o = ok(
        "4+3, slow + hang + fail + corrupt",
        run(4, 3, FILE_MIB, &stores, Tuning::default()),
    );
    let dropped = |s: usize| o.tallies[s].dropped.clone().unwrap_or_default();
    assert!(dropped(5).starts_with("no answer"), "{}", dropped(5));
    assert_eq!(dropped(6), "store failed");
    assert!(dropped(7).contains("corrupt"), "{}", dropped(7));
    assert!(
        o.tallies[4].dropped.is_none(),
        "a slow store is not dropped"
    );
    assert!(o.wasted() <= 3 << 20, "{}", o.wasted());
    // Misbehaving costs little more than being absent from the start.
    for s in &mut stores[5..8] {
        *s = odd(20.0, Behaviour::Down);
    }
    let absent = ok(
        "4+3, slow, three down",
        run(4, 3, FILE_MIB, &stores, Tuning::default()),
    );
    assert!(
        o.seconds <= 1.3 * absent.seconds,
        "{} vs {}",
        o.seconds,
        absent.seconds
    );
}

#[test]
fn too_many_lost_stores_fail_with_the_reason() {
    let stores = [
        store(20.0),
        store(20.0),
        store(20.0),
        store(20.0),
        odd(20.0, Behaviour::FailAfter(3)),
        odd(20.0, Behaviour::Down),
        odd(20.0, Behaviour::Down),
    ];
    // 4+2 over 7 stores: with two down and a third failing, some chunk has only 3 shards left.
    let o = run(4, 2, 64, &stores, Tuning::default());
    show("4+2, three lost", &o);
    let why = o.failed.unwrap();
    assert!(
        why.contains("of its shards can be found, 4 are needed"),
        "{why}"
    );
    assert!(why.contains("store failed"), "{why}");
}

mod paused_time {
    //! The real fetcher, tokio's clock paused: in-memory stores behind the engine's own rate
    //! limits, one slow, one hanging, one failing half-way and one lying, all at once.

    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::SystemTime;

    use bytes::Bytes;
    use swarm_core::definition::{StoreEntry, SwarmDefinition};
    use swarm_core::ids::StoreId;
    use swarm_core::manifest::Body;
    use swarm_core::units::{ByteSize, Rate};
    use swarm_store::{BoxFut, Listed, ObjectMeta, Store, StoreError};

    use super::super::plan::Tuning;
    use crate::Swarm;
    use crate::progress::Quiet;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Act {
        Normal,
        Hang,
        FailAfter(u32),
        CorruptEvery(u32),
        /// Fails its check: absent from the start.
        Down,
    }

    /// An in-memory store that does what its script says.
    #[derive(Debug)]
    struct Scripted {
        id: StoreId,
        objects: Mutex<HashMap<String, Bytes>>,
        act: Mutex<Act>,
        reads: AtomicU32,
    }

    impl Scripted {
        fn new(id: &str) -> Arc<Self> {
            Arc::new(Scripted {
                id: id.parse().unwrap(),
                objects: Mutex::default(),
                act: Mutex::new(Act::Normal),
                reads: AtomicU32::new(0),
            })
        }

        fn set(&self, act: Act) {
            *self.act.lock().unwrap() = act;
            self.reads.store(0, Ordering::SeqCst);
        }

        fn io(&self, op: &'static str, path: &str) -> StoreError {
            StoreError::Io {
                store: self.id.to_string(),
                op,
                path: path.to_owned(),
                source: std::io::Error::other("scripted failure"),
            }
        }
    }

    impl Store for Scripted {
        fn id(&self) -> &StoreId {
            &self.id
        }
        fn create(&self) -> BoxFut<'_, Result<(), StoreError>> {
            Box::pin(async { Ok(()) })
        }
        fn check(&self) -> BoxFut<'_, Result<(), StoreError>> {
            let down = *self.act.lock().unwrap() == Act::Down;
            let store = self.id.to_string();
            Box::pin(async move {
                match down {
                    true => Err(StoreError::Unavailable {
                        store,
                        reason: "scripted".into(),
                    }),
                    false => Ok(()),
                }
            })
        }
        fn read(&self, path: &str) -> BoxFut<'_, Result<Bytes, StoreError>> {
            let path = path.to_owned();
            Box::pin(async move {
                let act = *self.act.lock().unwrap();
                let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
                match act {
                    Act::Hang => futures::future::pending::<()>().await,
                    Act::FailAfter(ok) if n > ok => return Err(self.io("read", &path)),
                    _ => {}
                }
                let found = self.objects.lock().unwrap().get(&path).cloned();
                let Some(bytes) = found else {
                    return Err(StoreError::NotFound {
                        store: self.id.to_string(),
                        path,
                    });
                };
                if matches!(act, Act::CorruptEvery(e) if n.is_multiple_of(e)) && !bytes.is_empty() {
                    let mut v = bytes.to_vec();
                    v[0] ^= 1;
                    return Ok(Bytes::from(v));
                }
                Ok(bytes)
            })
        }
        fn write(&self, path: &str, data: Bytes) -> BoxFut<'_, Result<(), StoreError>> {
            self.objects.lock().unwrap().insert(path.to_owned(), data);
            Box::pin(async { Ok(()) })
        }
        fn stat(&self, path: &str) -> BoxFut<'_, Result<Option<ObjectMeta>, StoreError>> {
            let meta = self.objects.lock().unwrap().get(path).map(|b| ObjectMeta {
                size: b.len() as u64,
                modified: SystemTime::now(),
            });
            Box::pin(async move { Ok(meta) })
        }
        fn touch(&self, _path: &str) -> BoxFut<'_, Result<(), StoreError>> {
            Box::pin(async { Ok(()) })
        }
        fn delete(&self, path: &str) -> BoxFut<'_, Result<(), StoreError>> {
            self.objects.lock().unwrap().remove(path);
            Box::pin(async { Ok(()) })
        }
        fn list(&self, _dir: &str) -> BoxFut<'_, Result<Vec<Listed>, StoreError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    fn definition(rates: &[Option<&str>]) -> SwarmDefinition {
        let entries = rates
            .iter()
            .enumerate()
            .map(|(i, rate)| {
                let mut e =
                    StoreEntry::new(format!("s{i}").parse().unwrap(), format!("/nowhere/{i}"));
                e.download_rate = rate.map(|r| r.parse::<Rate>().unwrap());
                e
            })
            .collect();
        let mut def = SwarmDefinition::new(4, 3, entries).unwrap();
        def.coding.shard_size = Some(ByteSize(4096));
        def.coding.inline_threshold = ByteSize(1024);
        def
    }

    #[tokio::test(start_paused = true)]
    async fn slow_hung_failing_and_lying_stores_at_once() {
        let stores: Vec<Arc<Scripted>> = (0..8).map(|i| Scripted::new(&format!("s{i}"))).collect();
        let dyn_stores = || stores.iter().map(|s| s.clone() as Arc<dyn Store>).collect();
        let mut def = definition(&[None; 8]);

        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("file");
        let content: Vec<u8> = (0..2_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(&src, &content).unwrap();
        let swarm = Swarm::with_stores(def.clone(), dyn_stores()).await.unwrap();
        let key = swarm.put(&src, None, &Quiet).await.unwrap().key;

        // The same stores, now behind rate limits and misbehaving.
        let rates = [
            Some("128KiB/s"),
            Some("128KiB/s"),
            Some("128KiB/s"),
            Some("128KiB/s"),
            Some("16KiB/s"),
            Some("128KiB/s"),
            Some("128KiB/s"),
            Some("128KiB/s"),
        ];
        let limited = definition(&rates);
        for (e, l) in def.stores.iter_mut().zip(limited.stores) {
            e.download_rate = l.download_rate;
        }
        let fetch = |def: SwarmDefinition| {
            let stores = dyn_stores();
            let key = key.clone();
            async move {
                let swarm = Swarm::with_stores(def, stores).await.unwrap();
                let manifest = swarm.read_manifest(key.as_bytes()).await.unwrap();
                let Body::Chunked { coding, chunks, .. } = &manifest.body else {
                    panic!("expected a chunked object");
                };
                let (tx, mut rx) = tokio::sync::mpsc::channel(2);
                let started = tokio::time::Instant::now();
                let fetching =
                    swarm.fetch_chunks(&key, *coding, chunks, tx, &Quiet, Tuning::default());
                let collecting = async {
                    let mut out = Vec::new();
                    while let Some(pieces) = rx.recv().await {
                        for p in pieces {
                            out.extend_from_slice(&p);
                        }
                    }
                    out
                };
                let (summary, restored) = tokio::join!(fetching, collecting);
                let largest = chunks
                    .iter()
                    .map(|c| coding.shard_len(c.len as usize))
                    .max()
                    .unwrap();
                (summary.unwrap(), restored, started.elapsed(), largest)
            }
        };
        // First the three bad stores are simply absent: the time to beat.
        for s in &stores[5..] {
            s.set(Act::Down);
        }
        let (_, restored, absent, _) = fetch(def.clone()).await;
        assert!(restored == content, "restored bytes differ");

        stores[5].set(Act::Hang);
        stores[6].set(Act::FailAfter(10));
        stores[7].set(Act::CorruptEvery(2));
        let (summary, restored, took, largest) = fetch(def).await;
        assert!(restored == content, "restored bytes differ");

        let report = |i: usize| &summary.stores[i];
        let dropped = |i: usize| report(i).dropped.clone().unwrap_or_default();
        assert!(dropped(5).starts_with("no answer for"), "{:?}", report(5));
        assert!(dropped(6).contains("scripted failure"), "{:?}", report(6));
        assert!(dropped(7).contains("corrupt"), "{:?}", report(7));
        assert!(
            report(4).dropped.is_none(),
            "slow is not dropped: {:?}",
            report(4)
        );
        for i in 0..4 {
            assert!(
                report(i).dropped.is_none() && report(i).bytes > 0,
                "{:?}",
                report(i)
            );
        }
        // Corrupt shards are the only bytes received and not used.
        let wasted: u64 = summary.stores.iter().map(|s| s.wasted_bytes).sum();
        assert!(wasted <= 3 * largest as u64, "{wasted}");
        // Misbehaving costs little more than being absent; waiting on the hung store would take
        // forever.
        assert!(
            took.as_secs_f64() <= 1.3 * absent.as_secs_f64(),
            "took {took:?}, {absent:?} with the bad stores absent"
        );
    }
}
