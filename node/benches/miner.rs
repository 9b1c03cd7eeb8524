//! Miner speed against raw SHA-256, in the same run: compressions per second of
//! one core; the miner's double hashes per second on one thread (goal: at least
//! 0.8 x compressions/s / 2, as each nonce costs two compressions); and on two
//! threads (goal: at least 0.9 x 2 the one-thread rate). A summary with the
//! ratios prints at the end.
//!
//! `cargo bench -p generals-node --bench miner`

use criterion::{criterion_group, Criterion, Throughput};
use generals_node::miner::work_top;
use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use std::hint::black_box;

const BATCH: u64 = 1 << 16;

fn hash_batch(start: u64) -> u128 {
    let seal = [7u8; 32];
    let mut best = u128::MAX;
    for n in start..start + BATCH {
        best = best.min(work_top(&seal, n));
    }
    best
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("miner");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function("sha256_compressions", |b| {
        let block = GenericArray::from([3u8; 64]);
        b.iter(|| {
            let mut state = [1u32; 8];
            for _ in 0..BATCH {
                compress256(&mut state, std::slice::from_ref(&block));
            }
            black_box(state)
        })
    });
    g.bench_function("double_hashes_1_thread", |b| {
        b.iter(|| black_box(hash_batch(0)))
    });
    g.throughput(Throughput::Elements(2 * BATCH));
    g.bench_function("double_hashes_2_threads", |b| {
        b.iter(|| {
            std::thread::scope(|s| {
                let h = s.spawn(|| hash_batch(1 << 40));
                let mine = hash_batch(0);
                black_box((mine, h.join().unwrap_or(0)))
            })
        })
    });
    g.finish();
}

fn rate(path: &str, elements: f64) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let file = format!("{dir}/criterion/{path}/new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    Some(elements / (v["mean"]["point_estimate"].as_f64()? / 1e9))
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let b = BATCH as f64;
    if let (Some(c), Some(one), Some(two)) = (
        rate("miner/sha256_compressions", b),
        rate("miner/double_hashes_1_thread", b),
        rate("miner/double_hashes_2_threads", 2.0 * b),
    ) {
        println!();
        println!("summary (means of this run):");
        println!("  SHA-256 compressions, one core   {c:>14.0} /s");
        println!("  double hashes, one thread        {one:>14.0} /s  ({:.2} of compressions/2; goal >= 0.8)", one / (c / 2.0));
        println!(
            "  double hashes, two threads       {two:>14.0} /s  ({:.2}x one thread; goal >= 1.8)",
            two / one
        );
    }
}
