//! `generals-testnet bench`: every speed goal of the project measured in one
//! run, each as a ratio to a limit of this machine measured in the same run
//! (or, where the goal is a number, beside it): signature checks, the miner
//! against SHA-256, block import against batch verification, durable commits
//! against `fdatasync`, the simulator's speed and memory, BFT sweeps, and
//! four real BFT nodes (finality at light load, committed transfers under
//! overload). `--quick` runs small sizes (the test does); `--no-nodes` leaves
//! the real nodes out.

pub(crate) mod machine;
mod nodes;
mod sim;

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Small sizes: seconds instead of minutes, rougher figures.
    #[arg(long)]
    quick: bool,
    /// Leave out the four real BFT nodes.
    #[arg(long)]
    no_nodes: bool,
    /// How long the overload on the real nodes lasts (e.g. 20s).
    #[arg(long)]
    load: Option<String>,
    /// Where the ledgers, the file synced and the testnet go (a temporary
    /// folder if left out; it is removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    /// Run the simulator for this many blocks and print the peak memory
    /// (the memory row runs itself so, each size in a process of its own).
    #[arg(long, hide = true)]
    sim_memory_run: Option<u64>,
}

/// A goal: the figure at least, or at most, this.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    AtLeast(f64),
    AtMost(f64),
    /// A limit of the machine, measured for the other rows.
    Limit,
}

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub what: String,
    pub measured: f64,
    pub unit: String,
    /// What the figure is set against, and its value (for a ratio).
    pub against: Option<(String, f64)>,
    /// The figure the goal is on: the ratio, or the measurement itself.
    pub figure: f64,
    pub goal: Goal,
    pub met: Option<bool>,
}

fn row(what: &str, measured: f64, unit: &str, against: Option<(&str, f64)>, goal: Goal) -> Row {
    let figure = against.map_or(measured, |(_, limit)| measured / limit);
    let met = match goal {
        Goal::AtLeast(g) => Some(figure >= g),
        Goal::AtMost(g) => Some(figure <= g),
        Goal::Limit => None,
    };
    Row {
        what: what.into(),
        measured,
        unit: unit.into(),
        against: against.map(|(n, v)| (n.to_string(), v)),
        figure,
        goal,
        met,
    }
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// Progress on stderr, so `--json` stays clean.
fn step(what: &str) {
    eprintln!("bench: {what}");
}

pub fn run(args: BenchArgs) -> Result<()> {
    if let Some(blocks) = args.sim_memory_run {
        sim::pow_rate(blocks)?;
        println!("{}", sim::own_peak()?);
        return Ok(());
    }
    let held;
    let tmp = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            held = tempfile_dir()?;
            held.0.clone()
        }
    };
    let q = args.quick;
    let t = Duration::from_millis(if q { 200 } else { 1_000 });
    let mut rows = Vec::new();

    step("signature checks");
    let verify = machine::verify_rate(t);
    let batch = machine::batch_verify_rate(t);
    rows.push(row(
        "ed25519 verify, 1 core",
        verify,
        "sig/s",
        None,
        Goal::Limit,
    ));
    rows.push(row(
        "ed25519 batch verify (64), 1 core",
        batch,
        "sig/s",
        None,
        Goal::Limit,
    ));

    step("miner against SHA-256");
    let sha = machine::sha256_rate(t);
    let miner = machine::miner_rate(t);
    rows.push(row(
        "miner, 1 thread (2 compressions a nonce)",
        miner,
        "nonce/s",
        Some(("SHA-256 compressions/s / 2", sha / 2.0)),
        Goal::AtLeast(0.8),
    ));

    step("block import and durable commits");
    let import = machine::import_rate(&tmp, if q { 2 } else { 10 })?;
    rows.push(row(
        "import, 1,000-tx blocks into sled",
        import,
        "tx/s",
        Some(("batch verify", batch)),
        Goal::AtLeast(0.5),
    ));
    let sync = machine::fdatasync_rate(&tmp, t * 2)?;
    let durable = machine::durable_rate(&tmp, if q { 50 } else { 300 })?;
    rows.push(row(
        "durable commits, 1-tx blocks",
        durable,
        "block/s",
        Some(("fdatasync of a record", sync)),
        Goal::AtLeast(0.4),
    ));

    step("simulator");
    let pow = sim::pow_rate(if q { 2_000 } else { 20_000 })?;
    rows.push(row(
        "simulator, 4 PoW nodes, 1 core",
        pow,
        "block/s",
        None,
        Goal::AtLeast(20_000.0),
    ));
    let mem = sim::memory(
        if q { 1_000 } else { 10_000 },
        if q { 5_000 } else { 50_000 },
    )?;
    rows.push(row(
        &format!(
            "simulator memory a block, {} to {} blocks (peak {} MB)",
            mem.small_blocks,
            mem.large_blocks,
            mem.peak_large / 1_000_000
        ),
        mem.per_block_large,
        "B/block",
        Some((
            &format!("a block up to {}", mem.small_blocks),
            mem.per_block_small,
        )),
        Goal::AtMost(1.1),
    ));
    let (sweep, cores) = sim::bft_sweep_rate(if q { 20 } else { 400 })?;
    rows.push(row(
        &format!("BFT sweep, runs of 12 heights ({cores} cores)"),
        sweep,
        "run/s/core",
        None,
        Goal::AtLeast(50.0),
    ));

    if !args.no_nodes {
        step("four BFT nodes (timeout_commit 0)");
        let load = args
            .load
            .clone()
            .unwrap_or_else(|| if q { "5s" } else { "20s" }.into());
        let n = nodes::measure(&tmp, if q { 10 } else { 50 }, &load)?;
        rows.push(row(
            &format!(
                "BFT finality p50, light load ({} probes)",
                n.finality_ms.len()
            ),
            percentile(&n.finality_ms, 0.5),
            "ms",
            None,
            Goal::AtMost(10.0),
        ));
        rows.push(row(
            &format!(
                "BFT committed, 4 nodes, overload ({} sent in {:.0} s)",
                n.submitted, n.load_seconds
            ),
            n.committed_tps,
            "tx/s",
            Some(("ed25519 verify, 1 core", verify)),
            Goal::AtLeast(0.3),
        ));
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table(&rows));
    }
    Ok(())
}

/// A temporary folder removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<TempDir> {
    let base = std::env::temp_dir().join(format!("generals-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    Ok(TempDir(base))
}

fn num(x: f64) -> String {
    if x.abs() >= 100.0 {
        let s = format!("{:.0}", x);
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// The rows as a Markdown table (what the README holds).
pub fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| measured | figure | against (same run) | ratio | goal | met |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let against = r
            .against
            .as_ref()
            .map_or("".to_string(), |(n, v)| format!("{n}: {}", num(*v)));
        let ratio = r.against.as_ref().map_or("".to_string(), |_| num(r.figure));
        let goal = match r.goal {
            Goal::AtLeast(g) => format!(">= {}", num(g)),
            Goal::AtMost(g) => format!("<= {}", num(g)),
            Goal::Limit => "(limit)".into(),
        };
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        s.push_str(&format!(
            "| {} | {} {} | {} | {} | {} | {} |\n",
            r.what,
            num(r.measured),
            r.unit,
            against,
            ratio,
            goal,
            met
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_met_by_its_ratio_or_its_figure() {
        let r = row(
            "x",
            30.0,
            "tx/s",
            Some(("limit", 100.0)),
            Goal::AtLeast(0.3),
        );
        assert!((r.figure - 0.3).abs() < 1e-12);
        assert_eq!(r.met, Some(true));
        let r = row(
            "x",
            29.0,
            "tx/s",
            Some(("limit", 100.0)),
            Goal::AtLeast(0.3),
        );
        assert_eq!(r.met, Some(false));
        let r = row("x", 12.0, "ms", None, Goal::AtMost(10.0));
        assert_eq!((r.figure, r.met), (12.0, Some(false)));
        assert_eq!(row("x", 1.0, "s", None, Goal::Limit).met, None);
    }

    #[test]
    fn numbers_read_as_in_the_readme() {
        assert_eq!(num(1_234_567.4), "1,234,567");
        assert_eq!(num(123.0), "123");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(0.4021), "0.402");
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), 2.0);
    }
}
