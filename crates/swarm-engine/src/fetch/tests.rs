//! The scheduler under scripted stores, simulated in virtual time: the benchmark scenarios.
//! The real fetcher over in-memory stores, tokio's clock paused, is in `tests/service.rs`.

#![allow(clippy::unwrap_used)]

use super::plan::Tuning;
use super::sim::{Behaviour, Layout, Outcome, odd, run, run_layout, run_sized, store};

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
    assert!(hung.tallies[5].requests <= swarm_store::decorate::DEFAULT_CONNECTIONS as u64);
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

/// A new holder fills from four holders of the key, capped at 10, 10, 20 and 40 MiB/s (issue
/// 13's fill): told which holder has which shard, each takes work as its slots free, so the
/// fill reaches the sum of the caps and each holder's share follows its rate.
#[test]
fn a_new_holder_fills_from_every_holder_at_their_rates() {
    let stores = [store(10.0), store(10.0), store(20.0), store(40.0)];
    let shard = 4 << 20;
    let tuning = Tuning::for_chunks(8 << 20);
    let blind = ok(
        "holders, preferred only",
        run_layout(
            2,
            2,
            FILE_MIB,
            &stores,
            tuning.clone(),
            shard,
            Layout::Holders { told: false },
        ),
    );
    let told = ok(
        "holders, told",
        run_layout(
            2,
            2,
            FILE_MIB,
            &stores,
            tuning,
            shard,
            Layout::Holders { told: true },
        ),
    );
    eprintln!(
        "blind {:.1} MiB/s, told {:.1} MiB/s",
        blind.mib_per_sec(),
        told.mib_per_sec()
    );
    assert!(told.mib_per_sec() >= 0.9 * 80.0, "{}", told.mib_per_sec());
    let total: u64 = told.tallies.iter().map(|t| t.bytes).sum();
    for (t, rate) in told.tallies.iter().zip([10.0, 10.0, 20.0, 40.0]) {
        let share = t.bytes as f64 / total as f64;
        let want = rate / 80.0;
        assert!(
            (share / want - 1.0).abs() <= 0.2,
            "{t:?}: {share:.3} vs {want:.3}"
        );
    }
}
