//! The simulator's speed and memory: proof-of-work blocks a second on one
//! core, memory per block as the chain grows (each size in its own process,
//! its peak resident memory read when it ends), and BFT safety sweeps of 12
//! heights on every core.

use crate::sim::config_of;
use crate::sim::cores::{cores, on_cores};
use anyhow::{bail, Context, Result};
use generals_consensus::sim::{EventLog, SimConfig, Simulator};
use std::process::Command;
use std::time::Instant;

fn run(config: SimConfig) -> Result<u64> {
    let sim = Simulator::new(config, EventLog::sink()).map_err(anyhow::Error::msg)?;
    let (report, _) = sim.run().map_err(anyhow::Error::msg)?;
    Ok(report.height)
}

/// Main-chain blocks a second of a 4-node proof-of-work run with empty
/// blocks, on one core.
pub fn pow_rate(blocks: u64) -> Result<f64> {
    let config = config_of(&["--consensus", "pow", "--nodes", "4"], 1)?;
    let config = SimConfig { blocks, ..config };
    let start = Instant::now();
    let height = run(config)?;
    Ok(height as f64 / start.elapsed().as_secs_f64())
}

/// This process's peak resident memory (bytes), from /proc.
pub fn own_peak() -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmHWM in /proc/self/status")?;
    Ok(kb * 1024)
}

/// The peak resident memory (bytes) of a process of its own that runs 4
/// proof-of-work nodes for `blocks` blocks (`bench --sim-memory-run`).
fn peak_of_run(blocks: u64) -> Result<u64> {
    let exe = std::env::current_exe().context("this program's path")?;
    let out = Command::new(exe)
        .args(["bench", "--sim-memory-run", &blocks.to_string()])
        .output()
        .context("running the simulator")?;
    if !out.status.success() {
        bail!(
            "the simulator failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("the simulator's peak memory")
}

/// Memory of simulated runs of growing length.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub small_blocks: u64,
    pub large_blocks: u64,
    /// Bytes a block over the small run (above a run of 10 blocks).
    pub per_block_small: f64,
    /// Bytes each further block took from the small run to the large one.
    pub per_block_large: f64,
    pub peak_large: u64,
}

pub fn memory(small: u64, large: u64) -> Result<Memory> {
    let base = peak_of_run(10)?;
    let s = peak_of_run(small)?;
    let l = peak_of_run(large)?;
    Ok(Memory {
        small_blocks: small,
        large_blocks: large,
        per_block_small: s.saturating_sub(base) as f64 / small as f64,
        per_block_large: l.saturating_sub(s) as f64 / (large - small) as f64,
        peak_large: l,
    })
}

/// BFT runs of 12 heights (4 honest validators) a second, per core, with
/// `runs` runs spread over every core. Also the cores used.
pub fn bft_sweep_rate(runs: u64) -> Result<(f64, usize)> {
    let start = Instant::now();
    let heights = on_cores(runs, |i| {
        config_of(&["--consensus", "bft", "--nodes", "4", "--blocks", "12"], i).and_then(run)
    });
    let secs = start.elapsed().as_secs_f64();
    for h in heights {
        if h? < 12 {
            bail!("a BFT run stopped short of 12 heights");
        }
    }
    let used = cores().min(runs as usize).max(1);
    Ok((runs as f64 / secs / used as f64, used))
}
