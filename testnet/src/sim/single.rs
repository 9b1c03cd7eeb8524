//! A single run: its event log, and the printed (or JSON) report with the
//! per-node table, the proof-of-stake table and the attack's outcome.

use super::{pct, simulate, SimArgs};
use crate::theory::selfish_revenue;
use anyhow::{Context, Result};
use generals_consensus::sim::{EventLog, SimConfig, SimReport};
use std::path::PathBuf;
use std::time::Instant;

pub(super) fn single(args: &SimArgs) -> Result<()> {
    let share = args.shares.first().copied().unwrap_or(0.4);
    let config = args.attacked(args.seed, share, args.confirmations[0])?;
    let log_path = match (&args.log, args.no_log) {
        (_, true) => None,
        (Some(p), false) => Some(p.clone()),
        (None, false) => Some(PathBuf::from(format!(
            "sim-{}-{}.jsonl",
            args.consensus, args.seed
        ))),
    };
    let log = match &log_path {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("creating the event log {}", p.display()))?;
            EventLog::new(Box::new(std::io::BufWriter::new(f)))
        }
        None => EventLog::sink(),
    };
    let started = Instant::now();
    let report = simulate(config.clone(), log)?;
    let wall = started.elapsed();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "simulated {} {} nodes, seed {}, in {:.0} s of simulated time ({:.2} s of wall time)",
        report.nodes,
        args.consensus,
        report.seed,
        report.sim_time_ms as f64 / 1000.0,
        wall.as_secs_f64()
    );
    let target_ms = match args.consensus.as_str() {
        "poa" => args.period_ms,
        "pos" | "dpos" => args.slot_ms,
        "bft" => config.bft.timeout_commit_ms,
        "pbft" => config.pbft.block_pause_ms,
        _ => args.target_ms,
    };
    println!(
        "main chain: {} blocks, {} produced, {} orphaned, {} reorgs (deepest {}), mean interval {:.1} s (target {:.1} s)",
        report.height,
        report.produced,
        report.orphans,
        report.reorgs,
        report.max_reorg_depth,
        report.mean_interval_ms / 1000.0,
        target_ms as f64 / 1000.0
    );
    if args.consensus == "pow" {
        println!(
            "difficulty: {} at the tip ({:.2}x the initial {})",
            report.final_difficulty,
            report.final_difficulty as f64 / config.pow.initial_difficulty as f64,
            config.pow.initial_difficulty
        );
    }
    println!(
        "converged: {} (tips {})",
        if report.converged { "yes" } else { "no" },
        report
            .tips
            .iter()
            .map(|t| t.short())
            .collect::<Vec<_>>()
            .join(" ")
    );
    if ["bft", "pbft"].contains(&args.consensus.as_str()) {
        println!(
            "messages per decision: {:.1} ({} messages, {} decisions)",
            report.messages as f64 / report.height.max(1) as f64,
            report.messages,
            report.height
        );
        println!(
            "conflicting decisions (two honest nodes, one height): {}",
            if report.conflicting_commits.is_empty() {
                "none".to_string()
            } else {
                format!("at heights {:?}", report.conflicting_commits)
            }
        );
    }
    if ["pos", "bft", "dpos", "pbft"].contains(&args.consensus.as_str()) {
        print_stakes(&config, &report);
    } else {
        println!(
            "{:<6} {:>11} {:>17} {:>9}",
            "node",
            if args.consensus == "poa" {
                "weight"
            } else {
                "hash power"
            },
            "main-chain share",
            "produced"
        );
        for i in 0..report.nodes {
            println!(
                "{:<6} {:>11} {:>17} {:>9}",
                i,
                pct(report.hashpower[i]),
                pct(report.shares[i]),
                report.produced_by[i]
            );
        }
    }
    if let Some(a) = &report.attack {
        let result = match (a.kind.as_str(), a.double_spent) {
            (_, Some(true)) => "the double spend succeeded: the merchant's payment is gone".to_string(),
            (_, Some(false)) => "the double spend failed: the merchant's payment stands".to_string(),
            ("selfish", None) => format!(
                "attacker's share of the main chain {} against {} of the hash power (Eyal-Sirer predict {})",
                pct(a.main_chain_share),
                pct(a.attacker_share),
                pct(selfish_revenue(a.attacker_share, args.gamma))
            ),
            _ => format!("attacker's share of the main chain {}", pct(a.main_chain_share)),
        };
        println!("attack: {} by node {}: {}", a.kind, a.attacker, result);
    }
    if !report.authorities.is_empty() {
        println!("authorities at the end: {}", report.authorities.join(", "));
        let jailed: Vec<String> = report.jailed.iter().map(|j| format!("node-{j}")).collect();
        println!(
            "jailed by evidence: {}",
            if jailed.is_empty() {
                "none".into()
            } else {
                jailed.join(", ")
            }
        );
    }
    if let Some(p) = log_path {
        println!("event log: {}", p.display());
    }
    Ok(())
}

/// The proof-of-stake table: each validator's stake at genesis and at the end,
/// its balance, share of the main chain, slots it signed twice, finality.
fn print_stakes(config: &SimConfig, report: &SimReport) {
    println!(
        "slashing: {}; finalized height per node: {:?}",
        if config.slashing { "on" } else { "off" },
        report.finalized
    );
    println!(
        "{:<6} {:>7} {:>9} {:>9} {:>17} {:>9} {:>13} {:>7}",
        "node",
        "stake",
        "at end",
        "balance",
        "main-chain share",
        "produced",
        "double slots",
        "jailed"
    );
    for i in 0..report.nodes {
        println!(
            "{:<6} {:>7} {:>9} {:>9} {:>17} {:>9} {:>13} {:>7}",
            i,
            config.stakes[i],
            report.bonded[i],
            report.balances[i],
            pct(report.shares[i]),
            report.produced_by[i],
            report.double_slots[i],
            if report.jailed.contains(&i) {
                "yes"
            } else {
                "no"
            }
        );
    }
}
