//! `generals-testnet sim --consensus bft|pbft --twins ROUNDS`: every Twins
//! scenario of ROUNDS rounds (node 4 holds node 3's key; each round one of
//! five partitions), `--seeds K` runs each, spread over every core; prints the
//! scenarios run, the runs with conflicting decisions, the runs in which every
//! honest validator decided every height, the runs in which the twins' key was
//! caught, and runs a second.

use super::{simulate, SimArgs};
use anyhow::{bail, Result};
use generals_consensus::sim::twins::{count, partitions, scenario, twinned};
use generals_consensus::sim::{EventLog, Kind, SimConfig};
use std::sync::atomic::{AtomicU64, Ordering};

/// Rounds a twins sweep may enumerate (5^8 = 390,625 scenarios).
const MAX_ROUNDS: u32 = 8;

pub(super) fn sweep_twins(args: &SimArgs, rounds: u32) -> Result<()> {
    let kind = match args.consensus.as_str() {
        "bft" => Kind::Bft,
        "pbft" => Kind::Pbft,
        _ => bail!("--twins is for the voting engines: --consensus bft or pbft"),
    };
    if !(1..=MAX_ROUNDS).contains(&rounds) {
        bail!("--twins takes 1 to {MAX_ROUNDS} rounds");
    }
    let seeds = args.seeds.unwrap_or(1).max(1);
    let held = twinned(kind);
    let quorum = args.pbft_quorum()?;
    let total = count(rounds);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Twins, {}: node 4 holds node {held}'s key; {rounds} rounds of 1.5 s, each one of {} partitions (node 3 in them stands for node {held}); {total} scenarios x {seeds} seeds, {} heights a run, on {cores} cores",
        kind.name().to_uppercase(),
        partitions().len(),
        args.blocks
    );
    for (i, p) in partitions().iter().enumerate() {
        println!("  partition {i}: {p:?}");
    }
    let next = AtomicU64::new(0);
    let (conflicts, live, caught) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let first_bad = std::sync::Mutex::new(None);
    let runs = total.saturating_mul(seeds);
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= runs {
                    return;
                }
                let (index, seed) = (k / seeds, args.seed.wrapping_add(k % seeds));
                let choice = scenario(index, rounds);
                let mut c = SimConfig::twins(kind, &choice, 1_500, seed, args.blocks);
                c.pbft.quorum = quorum;
                let Ok(r) = simulate(c, EventLog::sink()) else {
                    continue;
                };
                if !r.conflicting_commits.is_empty() {
                    conflicts.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut b) = first_bad.lock() {
                        b.get_or_insert((index, seed, choice.clone()));
                    }
                }
                live.fetch_add(
                    u64::from(
                        (0..4)
                            .filter(|i| *i != held)
                            .all(|i| r.finalized[i] >= args.blocks),
                    ),
                    Ordering::Relaxed,
                );
                caught.fetch_add(u64::from(!r.jailed.is_empty()), Ordering::Relaxed);
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{runs} runs: conflicting decisions in {}, every honest validator decided every height in {}, the twins' key caught in {}; {:.1} runs/s",
        conflicts.load(Ordering::Relaxed),
        live.load(Ordering::Relaxed),
        caught.load(Ordering::Relaxed),
        runs as f64 / secs.max(1e-9)
    );
    if let Ok(Some((index, seed, choice))) = first_bad.lock().map(|b| b.clone()) {
        println!("first conflict: scenario {index} {choice:?}, seed {seed}");
    }
    Ok(())
}
