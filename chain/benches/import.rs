//! Import of 1,000-transaction blocks into a sled ledger (signature checks, state
//! transition, one durable write each), against ed25519 verification alone, single
//! and in batches of 64, measured in the same run. The goal: import reaches at
//! least half the batch-verify rate. After the benches a summary prints both rates
//! and their ratio.
//!
//! `cargo bench -p generals-chain --bench import`

use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode, Throughput};
use ed25519_dalek::{Signer, SigningKey};
use generals_chain::{Ledger, SledStore};
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;

const TXS_PER_BLOCK: usize = 1_000;
const BLOCKS: usize = 10;

fn verify(c: &mut Criterion) {
    let signing: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let msgs: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 120]).collect();
    let sigs: Vec<_> = signing.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let vks: Vec<_> = signing.iter().map(|k| k.verifying_key()).collect();
    let mut g = c.benchmark_group("ed25519");
    g.throughput(Throughput::Elements(1));
    g.bench_function("verify_strict", |b| {
        b.iter(|| vks[0].verify_strict(&msgs[0], &sigs[0]).expect("valid"))
    });
    g.throughput(Throughput::Elements(64));
    let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    g.bench_function(BenchmarkId::new("verify_batch", 64), |b| {
        b.iter(|| ed25519_dalek::verify_batch(&refs, &sigs, &vks).expect("valid"))
    });
    g.finish();
}

fn import(c: &mut Criterion) {
    let (g, keys) = common::genesis(2 * TXS_PER_BLOCK, 1_000_000_000, 0);
    let blocks = generals_chain::fixtures::transfer_blocks(&g, &keys, BLOCKS, TXS_PER_BLOCK)
        .expect("bench blocks");
    let mut group = c.benchmark_group("import");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(TXS_PER_BLOCK as u64));
    // Cold: no signature seen before (a node syncing blocks it never had in
    // its mempool). Seen: every transaction was verified on entering the
    // mempool, and the import finds it in the signature cache.
    for (name, seen) in [
        ("sled_block_1000tx", false),
        ("sled_block_1000tx_seen", true),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let tmp = tempfile::tempdir().expect("tempdir");
                    let store = SledStore::open(
                        &tmp.path().join("l"),
                        common::CHAIN,
                        g.block().expect("genesis").hash(),
                    )
                    .expect("store");
                    let (mut ledger, _) = Ledger::open(store, &g).expect("ledger");
                    for block in blocks.iter().take((iters - done) as usize) {
                        generals_chain::tx::forget_verified_signatures();
                        if seen {
                            generals_chain::state::verify_signatures(&block.transactions)
                                .expect("valid");
                        }
                        let start = Instant::now();
                        ledger.import(block).expect("import");
                        total += start.elapsed();
                        done += 1;
                    }
                }
                total
            })
        });
    }
    group.finish();
}

/// Elements per second of a finished bench, from criterion's estimates.
fn rate(path: &str, elements: f64) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    let file = format!("{dir}/criterion/{path}/new/estimates.json");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(file).ok()?).ok()?;
    let ns = v["mean"]["point_estimate"].as_f64()?;
    Some(elements / (ns / 1e9))
}

criterion_group!(benches, verify, import);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let single = rate("ed25519/verify_strict", 1.0);
    let batch = rate("ed25519/verify_batch/64", 64.0);
    let import = rate("import/sled_block_1000tx", TXS_PER_BLOCK as f64);
    let seen = rate("import/sled_block_1000tx_seen", TXS_PER_BLOCK as f64);
    if let (Some(single), Some(batch), Some(import)) = (single, batch, import) {
        println!();
        println!("summary (means of this run):");
        println!("  ed25519 verify_strict, single   {single:>10.0} signatures/s");
        println!("  ed25519 verify_batch of 64      {batch:>10.0} signatures/s");
        println!("  import into sled, 1000-tx block {import:>10.0} transactions/s");
        if let Some(seen) = seen {
            println!("  the same, signatures seen in the mempool {seen:>10.0} transactions/s");
        }
        println!(
            "  import / batch verify = {:.2} (goal >= 0.50: {})",
            import / batch,
            if import / batch >= 0.5 {
                "met"
            } else {
                "not met"
            }
        );
    }
}
