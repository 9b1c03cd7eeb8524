//! `generals-testnet sim`: one simulation with its summary, or `--seeds K` of them
//! with the attack tables.
//!
//! Layout: `args` holds the flags and parses their values; `config` builds the
//! `SimConfig` of a run from them; `single` runs one simulation and prints its
//! report; `sweep` runs `--seeds K` of them and prints the aggregate tables;
//! `twins` enumerates the Twins scenarios of BFT and PBFT.

mod args;
mod config;
pub(crate) mod cores;
mod safety;
mod single;
mod sweep;
mod twins;

pub use args::{AttackKind, SimArgs};

use anyhow::{bail, Result};
use generals_consensus::sim::{EventLog, SimConfig, SimReport, Simulator};
use single::single;
use sweep::{sweep_bft, sweep_honest, sweep_poa, sweep_pos, sweep_private_fork, sweep_selfish};

fn simulate(config: SimConfig, log: EventLog) -> Result<SimReport> {
    let sim = Simulator::new(config, log).map_err(anyhow::Error::msg)?;
    let (report, _) = sim.run().map_err(anyhow::Error::msg)?;
    Ok(report)
}

/// The run that the `sim` flags `argv` describe, with `seed`.
pub fn config_of(argv: &[&str], seed: u64) -> Result<SimConfig> {
    #[derive(clap::Parser)]
    struct Sim {
        #[command(flatten)]
        sim: SimArgs,
    }
    let args =
        <Sim as clap::Parser>::try_parse_from(std::iter::once("sim").chain(argv.iter().copied()))?
            .sim;
    args.base(seed)
}

/// One simulated run with the `sim` flags `argv` and `seed`: its report; its
/// event log goes to `log`.
pub fn report_of(
    argv: &[String],
    seed: u64,
    log: &std::path::Path,
    edit: &dyn Fn(&mut SimConfig),
) -> Result<SimReport> {
    #[derive(clap::Parser)]
    struct Sim {
        #[command(flatten)]
        sim: SimArgs,
    }
    let args = <Sim as clap::Parser>::try_parse_from(
        std::iter::once("sim".to_string()).chain(argv.iter().cloned()),
    )?
    .sim;
    let share = args.shares.first().copied().unwrap_or(0.4);
    let mut config = args.attacked(seed, share, args.confirmations[0])?;
    edit(&mut config);
    let file = std::fs::File::create(log)?;
    simulate(
        config,
        EventLog::new(Box::new(std::io::BufWriter::new(file))),
    )
}

pub fn run(args: SimArgs) -> Result<()> {
    // Sweeps keep each run's report until the tables are made: a bound on
    // the memory a sweep can take.
    if args.seeds.is_some_and(|k| k > MAX_SEEDS) {
        bail!("--seeds must be 1 to {MAX_SEEDS}");
    }
    if let Some(file) = &args.scenario {
        return crate::scenario::simulate(file, args.seeds.unwrap_or(1), args.out.clone());
    }
    if args.safety {
        return safety::sweep_safety(&args);
    }
    if let Some(rounds) = args.twins {
        return twins::sweep_twins(&args, rounds);
    }
    match args.seeds {
        None => single(&args),
        Some(0) => bail!("--seeds must be at least 1"),
        Some(k) => match args.attack {
            _ if ["bft", "pbft"].contains(&args.consensus.as_str()) => sweep_bft(&args, k),
            None => sweep_honest(&args, k),
            Some(AttackKind::Selfish) => sweep_selfish(&args, k),
            Some(AttackKind::PrivateFork) => sweep_private_fork(&args, k),
            Some(_) if args.consensus == "pos" => sweep_pos(&args, k),
            Some(_) => sweep_poa(&args, k),
        },
    }
}

/// Most seeds a sweep runs.
const MAX_SEEDS: u64 = 100_000;

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}
