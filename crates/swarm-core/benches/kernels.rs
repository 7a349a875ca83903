//! Throughput of the CPU kernels on the put/get paths: chunking, BLAKE3 (shard ids), the
//! git-annex key hashes and Reed-Solomon encode/decode.
//!
//! Run with `cargo bench -p swarm-core --bench kernels`; figures and targets are in
//! BENCHMARKS.md at the repository root. Every benchmark runs on one thread, so the figures are
//! per core. Sample counts are kept small so the whole run takes a couple of minutes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use swarm_core::chunking::ChunkerParams;
use swarm_core::erasure::Coding;
use swarm_core::ids::Hash32;
use swarm_core::key::HashAlg;

const MIB: usize = 1 << 20;

/// Incompressible, reproducible bytes (xorshift64).
fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// The yardstick for the others: copying 16 MiB into a buffer that is already allocated.
fn memcpy(c: &mut Criterion) {
    let data = pseudo_random(16 * MIB, 0);
    let mut dst = vec![0u8; data.len()];
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("memcpy/16MiB", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&data));
            black_box(&mut dst);
        })
    });
    g.finish();
}

fn chunking(c: &mut Criterion) {
    let data = pseudo_random(64 * MIB, 1);
    let params = ChunkerParams::for_coding(4, 1 << 20);
    let mut g = c.benchmark_group("chunking");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("fastcdc_4x1MiB/64MiB", |b| {
        b.iter(|| black_box(params.cut(black_box(&data))))
    });
    g.finish();
}

fn blake3(c: &mut Criterion) {
    let data = pseudo_random(4 * MIB, 2);
    let mut g = c.benchmark_group("blake3");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("Hash32::of/4MiB", |b| {
        b.iter(|| black_box(Hash32::of(black_box(&data))))
    });
    g.finish();
}

fn key_hash(c: &mut Criterion) {
    let data = pseudo_random(16 * MIB, 3);
    let mut g = c.benchmark_group("key_hash");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for alg in [
        HashAlg::Sha256,
        HashAlg::Sha1,
        HashAlg::Md5,
        HashAlg::Blake2b512,
        HashAlg::Sha512,
    ] {
        g.bench_with_input(BenchmarkId::new(alg.to_string(), "16MiB"), &data, |b, d| {
            b.iter(|| {
                let mut h = alg.hasher();
                h.update(black_box(d));
                black_box(h.finalize())
            })
        });
    }
    g.finish();
}

fn erasure(c: &mut Criterion) {
    for (k, m) in [(4u16, 2u16), (10, 4)] {
        let coding = Coding::new(k, m).unwrap();
        let len = usize::from(k) * MIB;
        let chunk = Bytes::from(pseudo_random(len, u64::from(k)));
        let name = format!("{k}+{m}/{}MiB", len / MIB);

        let mut g = c.benchmark_group("erasure");
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("encode", &name), &chunk, |b, ch| {
            b.iter(|| black_box(coding.encode(black_box(ch)).unwrap()))
        });

        let shards: Vec<Option<Bytes>> = coding
            .encode(&chunk)
            .unwrap()
            .into_iter()
            .map(Some)
            .collect();
        // Worst case: m data shards lost, so m of the k data shards come from parity.
        let mut lost = shards.clone();
        for s in lost.iter_mut().take(usize::from(m)) {
            *s = None;
        }
        assert_eq!(coding.decode(len, &lost).unwrap(), chunk);
        assert_eq!(coding.decode(len, &shards).unwrap(), chunk);
        g.bench_with_input(
            BenchmarkId::new(format!("decode_{m}_data_missing"), &name),
            &lost,
            |b, s| b.iter(|| black_box(coding.decode(len, black_box(s)).unwrap())),
        );
        g.bench_with_input(
            BenchmarkId::new("decode_none_missing", &name),
            &shards,
            |b, s| b.iter(|| black_box(coding.decode(len, black_box(s)).unwrap())),
        );
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = kernels;
    config = config();
    targets = memcpy, chunking, blake3, key_hash, erasure
}
criterion_main!(kernels);
