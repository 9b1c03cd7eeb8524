//! The miner: threads that search nonces for the current block template. The
//! work hash is SHA-256d(seal hash ‖ nonce) (see `generals_consensus::pow::work`):
//! the header's constant part is hashed once into the 32-byte seal hash, so each
//! nonce costs exactly one SHA-256 compression for the first hash and one for
//! the second. A new template (new tip, new transactions) restarts every thread
//! at once through a generation counter. `hashrate_limit` throttles the threads
//! so a testnet can give nodes reproducible shares of hash power on one machine.

use generals_chain::{Hash, Header};
use generals_consensus::pow::difficulty::target_of;
use sha2::compress256;
use sha2::digest::generic_array::GenericArray;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Nonces a thread tries between looks at the shared state.
const BATCH: u64 = 4_096;

/// The first 128 bits of SHA-256d(seal_hash ‖ nonce_le), as the puzzle reads them.
pub fn work_top(seal_hash: &[u8; 32], nonce: u64) -> u128 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(seal_hash);
    block[32..40].copy_from_slice(&nonce.to_le_bytes());
    block[40] = 0x80;
    block[56..].copy_from_slice(&(40u64 * 8).to_be_bytes());
    let mut first = IV;
    compress256(&mut first, &[GenericArray::from(block)]);
    let mut second_block = [0u8; 64];
    for (i, w) in first.iter().enumerate() {
        second_block[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    second_block[32] = 0x80;
    second_block[56..].copy_from_slice(&(32u64 * 8).to_be_bytes());
    let mut second = IV;
    compress256(&mut second, &[GenericArray::from(second_block)]);
    (second[0] as u128) << 96
        | (second[1] as u128) << 64
        | (second[2] as u128) << 32
        | second[3] as u128
}

/// One block template to mine.
#[derive(Clone, Debug)]
pub struct MinerJob {
    pub id: u64,
    pub header: Header,
    pub difficulty: u128,
}

/// A nonce that meets the job's difficulty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub job_id: u64,
    pub nonce: u64,
}

struct Shared {
    job: Mutex<Option<(u64, [u8; 32], u128)>>,
    generation: AtomicU64,
    running: AtomicBool,
    stop: AtomicBool,
    hashes: AtomicU64,
    /// Hashes per second across all threads; 0 is no limit.
    limit: AtomicU64,
    /// Ignore the limit (mining blocks on request).
    flat_out: AtomicBool,
    threads: usize,
}

/// The miner threads.
pub struct Miner {
    shared: Arc<Shared>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Miner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Miner({} threads)", self.shared.threads)
    }
}

impl Miner {
    /// Starts `threads` idle threads that report finds on `found`.
    /// Starts `threads` miner threads, idle until a job and `set_running`.
    /// A thread the system refuses is an error, not a panic (the threads
    /// already started stop when the returned error drops them).
    pub fn start(
        threads: usize,
        hashrate_limit: Option<u64>,
        found: UnboundedSender<Found>,
    ) -> std::io::Result<Miner> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            job: Mutex::new(None),
            generation: AtomicU64::new(0),
            running: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            hashes: AtomicU64::new(0),
            limit: AtomicU64::new(hashrate_limit.unwrap_or(0)),
            flat_out: AtomicBool::new(false),
            threads,
        });
        let mut miner = Miner {
            shared,
            handles: Vec::with_capacity(threads),
        };
        for i in 0..threads {
            let shared = miner.shared.clone();
            let found = found.clone();
            let handle = std::thread::Builder::new()
                .name(format!("miner-{i}"))
                .spawn(move || mine_loop(i as u64, &shared, &found))?;
            miner.handles.push(handle);
        }
        Ok(miner)
    }

    /// Mines `job` from now on, replacing the previous one.
    pub fn set_job(&self, job: MinerJob) {
        let seal_hash: Hash = job.header.seal_hash();
        if let Ok(mut j) = self.shared.job.lock() {
            *j = Some((job.id, seal_hash.0, job.difficulty));
        }
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn set_running(&self, on: bool) {
        self.shared.running.store(on, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn running(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// Ignore the hash-rate limit (for blocks mined on request).
    pub fn set_flat_out(&self, on: bool) {
        self.shared.flat_out.store(on, Ordering::SeqCst);
    }

    /// Hashes tried since start.
    pub fn hashes(&self) -> u64 {
        self.shared.hashes.load(Ordering::Relaxed)
    }

    pub fn threads(&self) -> usize {
        self.shared.threads
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn mine_loop(index: u64, shared: &Shared, found: &UnboundedSender<Found>) {
    while !shared.stop.load(Ordering::SeqCst) {
        let generation = shared.generation.load(Ordering::SeqCst);
        let job = shared.job.lock().ok().and_then(|j| *j);
        let (Some((job_id, seal_hash, difficulty)), true) =
            (job, shared.running.load(Ordering::SeqCst))
        else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let target = target_of(difficulty);
        // Each thread searches its own part of the nonce space.
        let mut nonce = index << 56;
        let started = Instant::now();
        let mut tried = 0u64;
        'job: while shared.generation.load(Ordering::SeqCst) == generation
            && !shared.stop.load(Ordering::SeqCst)
        {
            for _ in 0..BATCH {
                if work_top(&seal_hash, nonce) <= target {
                    let _ = found.send(Found { job_id, nonce });
                    // Wait for the next template rather than finding twice.
                    while shared.generation.load(Ordering::SeqCst) == generation
                        && !shared.stop.load(Ordering::SeqCst)
                    {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    break 'job;
                }
                nonce = nonce.wrapping_add(1);
            }
            tried += BATCH;
            shared.hashes.fetch_add(BATCH, Ordering::Relaxed);
            let limit = shared.limit.load(Ordering::Relaxed);
            if limit > 0 && !shared.flat_out.load(Ordering::Relaxed) {
                let per_thread = (limit as f64 / shared.threads as f64).max(1.0);
                let due = Duration::from_secs_f64(tried as f64 / per_thread);
                let elapsed = started.elapsed();
                if due > elapsed {
                    std::thread::sleep((due - elapsed).min(Duration::from_millis(200)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_consensus::pow::work;

    #[test]
    fn the_compression_path_equals_the_puzzle() {
        let seal = Hash::digest(b"a header");
        for nonce in [0u64, 1, 77, u64::MAX] {
            let full = work::work_hash(&seal, nonce);
            let mut top = [0u8; 16];
            top.copy_from_slice(&full[..16]);
            assert_eq!(work_top(&seal.0, nonce), u128::from_be_bytes(top));
        }
    }
}
