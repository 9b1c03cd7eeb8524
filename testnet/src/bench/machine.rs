//! What one core of this machine does, and what the chain does with it:
//! signature checks (single and batched), SHA-256 against the miner, block
//! import against batch verification, and durable commits against the disk's
//! own `fdatasync` rate, each pair measured back to back in this run.

use anyhow::{Context, Result};
use ed25519_dalek::{Signer, SigningKey};
use generals_chain::fixtures::{funded_genesis, transfer_blocks};
use generals_chain::{Genesis, Keypair, Ledger, SledStore};
use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const CHAIN: &str = "generals-bench";

/// Runs `f` (which does `per` things a call) for about `time`; things a second.
fn rate(time: Duration, per: u64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        f();
        n += per;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Single signatures verified a second on one core (the chain's own
/// `verify_strict` path, no cache).
pub fn verify_rate(time: Duration) -> f64 {
    let key = Keypair::dev("verify-rate");
    let msg = [7u8; 160];
    let sig = key.sign(b"generals/bench\0", &msg);
    let public = key.public();
    rate(time, 1, || {
        let ok = public.verify_uncached(b"generals/bench\0", &msg, &sig);
        black_box(ok.is_ok());
    })
}

/// Signatures a second verified in batches of 64 on one core.
pub fn batch_verify_rate(time: Duration) -> f64 {
    let signing: Vec<SigningKey> = (0..64u8)
        .map(|i| SigningKey::from_bytes(&[i; 32]))
        .collect();
    let msgs: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 120]).collect();
    let sigs: Vec<_> = signing.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    let vks: Vec<_> = signing.iter().map(|k| k.verifying_key()).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
    rate(time, 64, || {
        black_box(ed25519_dalek::verify_batch(&refs, &sigs, &vks).is_ok());
    })
}

/// SHA-256 compressions a second on one core.
pub fn sha256_rate(time: Duration) -> f64 {
    let block = GenericArray::from([3u8; 64]);
    let mut state = [1u32; 8];
    let r = rate(time, 4096, || {
        for _ in 0..4096 {
            compress256(&mut state, std::slice::from_ref(&block));
        }
    });
    black_box(state);
    r
}

/// Nonces a second the miner's hash tries on one thread.
pub fn miner_rate(time: Duration) -> f64 {
    let seal = [7u8; 32];
    let mut nonce = 0u64;
    let mut best = u128::MAX;
    let r = rate(time, 4096, || {
        for _ in 0..4096 {
            best = best.min(generals_node::miner::work_top(&seal, nonce));
            nonce += 1;
        }
    });
    black_box(best);
    r
}

fn ledger(dir: &Path, g: &Genesis) -> Result<Ledger<SledStore>> {
    let store = SledStore::open(dir, CHAIN, g.block()?.hash()).context("opening a sled store")?;
    Ok(Ledger::open(store, g).context("opening the ledger")?.0)
}

/// Transactions a second imported in blocks of 1,000 into a sled ledger
/// (each signature checked cold, the state applied, one durable write a
/// block).
pub fn import_rate(tmp: &Path, blocks: usize) -> Result<f64> {
    const TXS: usize = 1_000;
    let (g, keys) = funded_genesis(CHAIN, "bench", 2 * TXS, 1_000_000_000);
    let chain = transfer_blocks(&g, &keys, blocks, TXS).map_err(anyhow::Error::msg)?;
    let mut ledger = ledger(&tmp.join("import"), &g)?;
    generals_chain::tx::forget_verified_signatures();
    let start = Instant::now();
    for b in &chain {
        ledger.import(b).context("importing a bench block")?;
    }
    Ok((blocks * TXS) as f64 / start.elapsed().as_secs_f64())
}

/// Small blocks (one transfer each) imported a second, each durable when
/// `import` returns.
pub fn durable_rate(tmp: &Path, blocks: usize) -> Result<f64> {
    let (g, keys) = funded_genesis(CHAIN, "bench", 2, 1_000_000_000);
    let chain = transfer_blocks(&g, &keys, blocks, 1).map_err(anyhow::Error::msg)?;
    let mut ledger = ledger(&tmp.join("durable"), &g)?;
    let start = Instant::now();
    for b in &chain {
        ledger.import(b).context("importing a small block")?;
    }
    Ok(blocks as f64 / start.elapsed().as_secs_f64())
}

/// Writes of a small record (appended, then `fdatasync`) a second in a
/// file beside the ledgers: what the disk allows durable commits.
pub fn fdatasync_rate(tmp: &Path, time: Duration) -> Result<f64> {
    let mut f = std::fs::File::create(tmp.join("fdatasync")).context("a file to sync")?;
    let record = [5u8; 256];
    let mut failed = None;
    let r = rate(time, 1, || {
        if let Err(e) = f.write_all(&record).and_then(|_| f.sync_data()) {
            failed.get_or_insert(e);
        }
    });
    match failed {
        Some(e) => Err(e).context("writing and syncing a file"),
        None => Ok(r),
    }
}
