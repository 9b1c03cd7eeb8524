//! `sim --safety --seeds K`: every engine with each of its attacks, at most
//! f < n/3 of the nodes Byzantine (proof of work: a third of the hash power
//! less a little), at n = 4 and n = 7, K seeds a row spread over every core.
//! A row counts the runs in which two honest nodes decided (BFT, PBFT) or
//! finalized (proof of stake, DPoS) different blocks at one height, and how
//! many final heights each honest node held, so a zero is read beside what
//! was checked: proof of work and of authority finalize nothing.

use super::cores::{cores, on_cores};
use super::{simulate, SimArgs};
use anyhow::Result;
use clap::Parser;
use generals_consensus::sim::{Attack, EventLog};
use std::time::Instant;

/// Each engine and its attacks (the `--attack` names).
const MATRIX: [(&str, &[&str]); 6] = [
    ("pow", &["private-fork", "selfish"]),
    ("pos", &["nothing-at-stake", "equivocate"]),
    ("poa", &["equivocate", "collude", "clone"]),
    ("bft", &["equivocate", "split-vote", "amnesia", "silent"]),
    ("dpos", &["silent", "collude"]),
    (
        "pbft",
        &["equivocate", "split-vote", "silent", "lie-view-change"],
    ),
];

/// Attacker's hash-power share on proof of work: under a third.
const POW_SHARE: f64 = 0.3;

#[derive(Parser)]
struct Argv {
    #[command(flatten)]
    sim: SimArgs,
}

/// One run's verdict.
struct Run {
    conflict: bool,
    /// Mean final height over the honest nodes.
    final_height: f64,
}

/// The `sim` flags of one row: the engine, the attack, n, the Byzantine
/// nodes (the last f), and the user's --blocks and --seed.
fn row_args(kind: &str, attack: &str, n: usize, args: &SimArgs) -> Result<SimArgs> {
    let f = (n - 1) / 3;
    let byz: Vec<String> = (n - f..n).map(|i| i.to_string()).collect();
    let mut argv: Vec<String> = [
        "sim",
        "--consensus",
        kind,
        "--attack",
        attack,
        "--nodes",
        &n.to_string(),
        "--blocks",
        &args.blocks.to_string(),
        "--attacker",
        &(n - 1).to_string(),
        "--twin",
        &(n - 2).to_string(),
        "--no-log",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if !["pow", "poa"].contains(&kind) || attack == "collude" {
        argv.extend(["--colluders".to_string(), byz.join(",")]);
    }
    Ok(Argv::try_parse_from(argv)?.sim)
}

pub(super) fn sweep_safety(args: &SimArgs) -> Result<()> {
    let k = args.seeds.unwrap_or(100).max(1);
    println!(
        "safety: every engine and attack, the last f = (n-1)/3 nodes Byzantine (proof of work: {:.0}% of the hash power), {k} seeds a row from seed {}, {} heights a run, on {} cores",
        POW_SHARE * 100.0,
        args.seed,
        args.blocks,
        cores()
    );
    println!(
        "{:<6} {:<18} {:>3} {:>10} {:>7} {:>12} {:>14} {:>7} {:>9} {:>9}",
        "engine",
        "attack",
        "n",
        "Byzantine",
        "runs",
        "conflicting",
        "final height",
        "errors",
        "seconds",
        "seeds/s"
    );
    let started = Instant::now();
    let (mut runs, mut conflicts, mut errors) = (0u64, 0u64, 0u64);
    for (kind, attacks) in MATRIX {
        for attack in attacks {
            for n in [4usize, 7] {
                let row = row_args(kind, attack, n, args)?;
                let bad = row
                    .attacked(args.seed, POW_SHARE, 2)?
                    .attack
                    .as_ref()
                    .map(Attack::nodes)
                    .unwrap_or_default();
                let t = Instant::now();
                let results = on_cores(k, |i| -> Result<Run> {
                    let seed = args.seed.wrapping_add(i);
                    let r = simulate(row.attacked(seed, POW_SHARE, 2)?, EventLog::sink())?;
                    let honest: Vec<u64> = (0..n)
                        .filter(|i| !bad.contains(i))
                        .map(|i| r.finalized[i])
                        .collect();
                    Ok(Run {
                        conflict: !r.conflicting_commits.is_empty(),
                        final_height: honest.iter().sum::<u64>() as f64
                            / honest.len().max(1) as f64,
                    })
                });
                let secs = t.elapsed().as_secs_f64();
                let ok: Vec<&Run> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
                let failed = results.len() - ok.len();
                let conflicting = ok.iter().filter(|r| r.conflict).count();
                let height =
                    ok.iter().map(|r| r.final_height).sum::<f64>() / ok.len().max(1) as f64;
                println!(
                    "{:<6} {:<18} {:>3} {:>10} {:>7} {:>12} {:>14.1} {:>7} {:>9.1} {:>9.1}",
                    kind,
                    attack,
                    n,
                    format!("{bad:?}"),
                    ok.len(),
                    conflicting,
                    height,
                    failed,
                    secs,
                    k as f64 / secs.max(1e-9)
                );
                if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
                    println!("       first error: {e:#}");
                }
                runs += ok.len() as u64;
                conflicts += conflicting as u64;
                errors += failed as u64;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{runs} runs in {secs:.1} s ({:.1} seeds/s on {} cores): {conflicts} with conflicting decisions, {errors} that could not run",
        runs as f64 / secs.max(1e-9),
        cores()
    );
    if conflicts > 0 || errors > 0 {
        anyhow::bail!("{conflicts} runs with conflicting decisions, {errors} errors");
    }
    Ok(())
}
