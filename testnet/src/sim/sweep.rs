//! `--seeds K`: the aggregate tables over seeds, one per kind of run (honest,
//! selfish mining, private fork, proof-of-stake and proof-of-authority attacks,
//! BFT faults).

use super::{pct, simulate, SimArgs};
use crate::theory::{mean_ci, nakamoto_catch_up, private_fork_success, selfish_revenue, wilson};
use anyhow::{bail, Result};
use generals_chain::genesis::Quorum;
use generals_consensus::sim::{Attack, BftFault, EventLog, SimConfig, SimReport};

/// The reports of `k` runs from `args.seed` on, spread over every core, in
/// seed order; `config` gives a seed's run.
fn runs(
    args: &SimArgs,
    k: u64,
    config: impl Fn(u64) -> Result<SimConfig> + Sync,
) -> Result<Vec<SimReport>> {
    super::cores::on_cores(k, |i| {
        simulate(config(args.seed.saturating_add(i))?, EventLog::sink())
    })
    .into_iter()
    .collect()
}

pub(super) fn sweep_honest(args: &SimArgs, k: u64) -> Result<()> {
    let mut converged = 0;
    let mut orphans = 0.0;
    let mut deepest = 0;
    let mut interval = 0.0;
    let mut shares = vec![0.0; args.nodes];
    let mut hashpower = Vec::new();
    for r in runs(args, k, |seed| args.base(seed))? {
        converged += u64::from(r.converged);
        orphans += r.orphans as f64 / k as f64;
        deepest = deepest.max(r.max_reorg_depth);
        interval += r.mean_interval_ms / k as f64;
        for (s, x) in shares.iter_mut().zip(&r.shares) {
            *s += x / k as f64;
        }
        hashpower = r.hashpower;
    }
    println!(
        "{k} seeds from {}: {converged} converged, {orphans:.1} orphans a run, deepest reorg {deepest}, mean interval {:.1} s",
        args.seed,
        interval / 1000.0
    );
    println!(
        "{:<6} {:>11} {:>22}",
        "node", "hash power", "mean main-chain share"
    );
    for i in 0..args.nodes {
        println!("{:<6} {:>11} {:>22}", i, pct(hashpower[i]), pct(shares[i]));
    }
    Ok(())
}

/// Proof-of-stake attacks over seeds, with slashing on and off side by side:
/// what the misbehaving validators signed twice, kept and lost.
pub(super) fn sweep_pos(args: &SimArgs, k: u64) -> Result<()> {
    let bad = args
        .attacked(args.seed, 0.0, 0)?
        .attack
        .map(|a| a.nodes())
        .unwrap_or_default();
    let name = args
        .attack
        .and_then(|a| clap::ValueEnum::to_possible_value(&a))
        .map_or_else(String::new, |v| v.get_name().to_string());
    println!(
        "{name} on proof of stake, {} nodes, misbehaving {:?}, {k} seeds from {}",
        args.nodes, bad, args.seed
    );
    println!(
        "{:<9} {:>10} {:>16} {:>8} {:>17} {:>15} {:>15}",
        "slashing",
        "converged",
        "double-signed",
        "jailed",
        "honest jailed",
        "stake kept",
        "main-chain share"
    );
    for slashing in [true, false] {
        let (mut conv, mut doubled, mut jailed, mut honest_jailed) = (0, 0, 0, 0);
        let (mut kept, mut share) = (0.0, 0.0);
        let c = args.attacked(args.seed, 0.0, 0)?;
        let configs = |seed| -> Result<SimConfig> {
            let mut c = args.attacked(seed, 0.0, 0)?;
            c.slashing = slashing;
            Ok(c)
        };
        for r in runs(args, k, configs)? {
            conv += u64::from(r.converged);
            doubled += bad.iter().filter(|i| r.double_slots[**i] > 0).count();
            jailed += bad.iter().filter(|i| r.jailed.contains(i)).count();
            honest_jailed += r.jailed.iter().filter(|i| !bad.contains(i)).count();
            let at_start: u64 = bad.iter().map(|i| c.stakes[*i]).sum();
            let at_end: u64 = bad.iter().map(|i| r.bonded[*i]).sum();
            kept += at_end as f64 / at_start.max(1) as f64 / k as f64;
            share += bad.iter().map(|i| r.shares[*i]).sum::<f64>() / k as f64;
        }
        let of = k as usize * bad.len();
        println!(
            "{:<9} {:>10} {:>16} {:>8} {:>17} {:>15} {:>15}",
            if slashing { "on" } else { "off" },
            format!("{conv}/{k}"),
            format!("{doubled}/{of}"),
            format!("{jailed}/{of}"),
            honest_jailed,
            pct(kept),
            pct(share)
        );
    }
    Ok(())
}

pub(super) fn sweep_poa(args: &SimArgs, k: u64) -> Result<()> {
    let mut outcomes: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut jailed = 0u64;
    for r in runs(args, k, |seed| args.attacked(seed, 0.0, 0))? {
        *outcomes.entry(r.authorities.join(",")).or_default() += 1;
        jailed += u64::from(!r.jailed.is_empty());
    }
    println!(
        "{k} seeds from {}: runs with evidence included: {jailed}",
        args.seed
    );
    println!("{:>6}  authorities at the end", "runs");
    for (set, n) in outcomes {
        println!("{n:>6}  {set}");
    }
    Ok(())
}

fn sweep_shares(args: &SimArgs, default: &[f64]) -> Vec<f64> {
    if args.shares.is_empty() {
        default.to_vec()
    } else {
        args.shares.clone()
    }
}

/// `x` inside `[lo, hi]`: "in", else "OUT".
fn inside(x: f64, lo: f64, hi: f64) -> &'static str {
    if lo - 1e-9 <= x && x <= hi + 1e-9 {
        "in"
    } else {
        "OUT"
    }
}

fn interval(lo: f64, hi: f64) -> String {
    format!("[{:.1}, {:.1}]", lo * 100.0, hi * 100.0)
}

pub(super) fn sweep_selfish(args: &SimArgs, k: u64) -> Result<()> {
    // The node that finds an honest block mines on it: the rush reaches the
    // other honest nodes only, so the network's gamma is gamma (h-1)/h.
    let h = args.nodes.saturating_sub(1).max(1) as f64;
    let gamma = args.gamma * (h - 1.0) / h;
    println!(
        "selfish mining, {} nodes, gamma {} to the other honest nodes ({gamma:.3} of the honest power), {} blocks a run, {k} seeds a row; 95% interval of the mean share; \
         R at the attacker's share of the blocks produced (retargeting makes a private lead harder to extend)",
        args.nodes, args.gamma, args.blocks
    );
    println!(
        "{:>15} {:>22} {:>16} {:>14} {:>19} {:>7} {:>8}",
        "attacker power",
        "attacker's main chain",
        "95% interval",
        "it produced",
        "Eyal-Sirer R(a,g)",
        "theory",
        "gain"
    );
    for share in sweep_shares(args, &[0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45]) {
        let (mut got, mut made) = (Vec::new(), Vec::new());
        for r in runs(args, k, |seed| args.attacked(seed, share, 0))? {
            let attacker = r.attack.as_ref().map_or(0, |a| a.attacker);
            got.push(r.attack.as_ref().map_or(0.0, |a| a.main_chain_share));
            let all: u64 = r.produced_by.iter().sum();
            made.push(r.produced_by.get(attacker).copied().unwrap_or(0) as f64 / all.max(1) as f64);
        }
        let (mean, lo, hi) = mean_ci(&got);
        let alpha = mean_ci(&made).0;
        let theory = selfish_revenue(alpha, gamma).max(0.0);
        println!(
            "{:>15} {:>22} {:>16} {:>14} {:>19} {:>7} {:>8}",
            pct(share),
            pct(mean),
            interval(lo, hi),
            pct(alpha),
            pct(theory),
            inside(theory, lo, hi),
            format!("{:+.1}", (mean - share) * 100.0)
        );
    }
    Ok(())
}

pub(super) fn sweep_private_fork(args: &SimArgs, k: u64) -> Result<()> {
    println!(
        "private-fork double spend, {} nodes, attacker gives up {} blocks behind, {k} seeds a cell; \
         Wilson's 95% interval of the success rate; the exact P is this tool's attacker with no stale blocks",
        args.nodes, args.give_up
    );
    println!(
        "{:>15} {:>6} {:>9} {:>14} {:>16} {:>5} {:>10} {:>5}",
        "attacker power", "conf.", "success", "95% interval", "Nakamoto's P(z)", "", "exact P", ""
    );
    for share in sweep_shares(args, &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) {
        for &z in &args.confirmations {
            let mut wins = 0u64;
            for r in runs(args, k, |seed| args.attacked(seed, share, z))? {
                wins += u64::from(r.attack.and_then(|a| a.double_spent).unwrap_or(false));
            }
            let (lo, hi) = wilson(wins, k);
            let nakamoto = nakamoto_catch_up(share, z);
            let exact = private_fork_success(share, z, args.give_up);
            println!(
                "{:>15} {:>6} {:>9} {:>14} {:>16} {:>5} {:>10} {:>5}",
                pct(share),
                z,
                pct(wins as f64 / k as f64),
                interval(lo, hi),
                pct(nakamoto),
                inside(nakamoto, lo, hi),
                pct(exact),
                inside(exact, lo, hi)
            );
        }
    }
    Ok(())
}

/// BFT and PBFT: each fault (or the one asked for) over `k` seeds, with the
/// Byzantine validators of --colluders (default f = (n-1)/3), then f+1
/// colluding split voters with the honest validators cut in two halves
/// (PBFT: also one split primary with quorums of f+1).
pub(super) fn sweep_bft(args: &SimArgs, k: u64) -> Result<()> {
    let n = args.nodes;
    let byz = args.bft_byzantine();
    let pbft = args.consensus == "pbft";
    let faults: Vec<BftFault> = match args.attack {
        None if pbft => BftFault::PBFT.to_vec(),
        None => BftFault::ALL.to_vec(),
        Some(_) => match args.attacked(args.seed, 0.0, 0)?.attack {
            Some(Attack::Bft { fault, .. }) => vec![fault],
            _ => bail!("BFT attacks are equivocate, split-vote, amnesia and silent"),
        },
    };
    println!(
        "{}, {n} validators, Byzantine {byz:?}, {k} seeds a row, {} heights a run{}",
        if pbft { "PBFT" } else { "BFT" },
        args.blocks,
        if args.hostile {
            "; each run draws latency 5-400 ms, jitter 0-400 ms, loss 0-25% and a cut of 1-40 s from its seed"
        } else {
            ""
        }
    );
    println!(
        "{:<28} {:>6} {:>22} {:>24} {:>18} {:>16}",
        "fault",
        "runs",
        "conflicting decisions",
        "all honest decided all",
        "Byzantine jailed",
        "msgs/decision"
    );
    let row = |name: String, configs: &(dyn Fn(u64) -> Result<SimConfig> + Sync)| -> Result<()> {
        let runs = super::cores::on_cores(k, |i| -> Result<(bool, bool, bool, u64, u64)> {
            let c = configs(args.seed.saturating_add(i))?;
            let bad = c.attack.as_ref().map(Attack::nodes).unwrap_or_default();
            let r = simulate(c, EventLog::sink())?;
            Ok((
                !r.conflicting_commits.is_empty(),
                (0..n)
                    .filter(|i| !bad.contains(i))
                    .all(|i| r.finalized[i] >= args.blocks),
                !bad.is_empty() && bad.iter().all(|b| r.jailed.contains(b)),
                r.messages,
                r.height,
            ))
        });
        let (mut conflicts, mut live, mut jailed) = (0u64, 0u64, 0u64);
        let (mut messages, mut decisions) = (0u64, 0u64);
        for run in runs {
            let (conflict, all_live, all_jailed, m, d) = run?;
            conflicts += u64::from(conflict);
            live += u64::from(all_live);
            jailed += u64::from(all_jailed);
            messages += m;
            decisions += d;
        }
        println!(
            "{name:<28} {k:>6} {conflicts:>22} {:>24} {:>18} {:>16.1}",
            format!("{live}/{k}"),
            format!("{jailed}/{k}"),
            messages as f64 / decisions.max(1) as f64
        );
        Ok(())
    };
    for fault in faults {
        let name = format!("{} x{}", fault.name(), byz.len());
        row(name, &|seed| {
            let mut c = if args.hostile && pbft {
                SimConfig::hostile_pbft(n, fault, byz.clone(), seed, args.blocks)
            } else if args.hostile {
                SimConfig::hostile_bft(n, fault, byz.clone(), seed, args.blocks)
            } else {
                args.base(seed)?
            };
            c.attack = Some(Attack::Bft {
                fault,
                nodes: byz.clone(),
            });
            c.slashing = !args.no_slashing;
            Ok(c)
        })?;
    }
    let over = (n.saturating_sub(1) / 3) + 1;
    if over < n && pbft {
        let quorum = args.pbft_quorum()?;
        row(format!("split-vote x{over}, honest cut"), &|seed| {
            Ok(SimConfig::split_brain_pbft(
                n,
                over,
                quorum,
                seed,
                args.blocks,
            ))
        })?;
        let f = over - 1;
        row(format!("split-vote x{f}, quorum f+1"), &|seed| {
            Ok(SimConfig::split_brain_pbft(
                n,
                f,
                Quorum::FPlusOne,
                seed,
                args.blocks,
            ))
        })?;
        println!(
            "(the last two rows are beyond the bound: f+1 = {over} of {n} Byzantine, then f with quorums of f+1)"
        );
    } else if over < n {
        row(format!("split-vote x{over}, honest cut"), &|seed| {
            Ok(SimConfig::split_brain_bft(n, over, seed, args.blocks))
        })?;
        println!("(the last row is beyond the bound: f+1 = {over} of {n} Byzantine)");
    }
    Ok(())
}
