//! `generals-testnet sim --scenario FILE --seeds K`: the scenario in the
//! simulator, K seeds from its own. The nodes, roles and timeline become the
//! simulator's flags (a partition is a cut in which the nodes in no group
//! join every group, as on real nodes where they keep every link); each seed's
//! report becomes an `Outcome`, judged as a real run's is; the verdict of an
//! expectation counts the seeds that met it. Each seed's event log is kept in
//! the output folder (`events-seed-N.jsonl`).

use super::act::Watched;
use super::format::{Action, Scenario};
use super::{check, judge, print_verdicts, write_reports, Outcome, Verdict};
use anyhow::{bail, Result};
use generals_chain::tx::Action as TxAction;
use generals_consensus::sim::config::{NetChange, NetConfig};
use generals_consensus::sim::SimReport;
use std::path::{Path, PathBuf};

/// The simulator's flags for a scenario.
fn sim_flags(s: &Scenario) -> Result<Vec<String>> {
    let n = s.nodes.len();
    let mut argv: Vec<String> = vec![
        "--consensus".into(),
        s.consensus.clone(),
        "--nodes".into(),
        n.to_string(),
        "--no-log".into(),
    ];
    let block_ms = s.block_ms.to_string();
    match s.consensus.as_str() {
        "pow" => argv.extend(["--target-ms".into(), block_ms]),
        "poa" => argv.extend([
            "--period-ms".into(),
            block_ms,
            "--authorities".into(),
            s.validators().to_string(),
        ]),
        "pos" => argv.extend(["--slot-ms".into(), "1000".into()]),
        "pbft" => {
            if let Some(q) = &s.quorum {
                argv.extend(["--quorum".into(), q.clone()]);
            }
        }
        "dpos" => {
            argv.extend(["--slot-ms".into(), "1000".into()]);
            if let Some(p) = s.producers {
                argv.extend(["--producers".into(), p.to_string()]);
            }
        }
        _ => {}
    }
    let weights: Vec<f64> = s.nodes.iter().map(|x| x.weight).collect();
    let total: f64 = weights.iter().sum();
    match s.consensus.as_str() {
        "pow" => {
            let w: Vec<String> = weights.iter().map(f64::to_string).collect();
            argv.extend(["--hashpower".into(), w.join(",")]);
        }
        "pos" | "bft" | "dpos" | "pbft" => {
            // A long-range attacker holds a bought key and no stake of its own.
            let w: Vec<String> = s
                .nodes
                .iter()
                .map(|x| match x.role.as_str() {
                    "long-range" => "0".to_string(),
                    _ => ((x.weight * 1_000.0).round().max(1.0) as u64).to_string(),
                })
                .collect();
            argv.extend(["--stakes".into(), w.join(",")]);
            if !s.slashing {
                argv.push("--no-slashing".into());
            }
        }
        _ => {}
    }
    let height = match (s.end.height, s.end.seconds) {
        (Some(h), _) => h,
        (None, Some(secs)) => (secs * 1_000 / s.block_ms.max(1)).max(1),
        (None, None) => bail!("end: give a height or seconds"),
    };
    argv.extend(["--blocks".into(), height.to_string()]);
    if let (Some(w), true) = (&s.workload, s.workload_from_start()) {
        argv.extend(["--tps".into(), w.tps.to_string()]);
    }
    if let Some(net) = &s.network {
        if let Some(v) = net.latency_ms {
            argv.extend(["--latency-ms".into(), v.to_string()]);
        }
        if let Some(v) = net.jitter_ms {
            argv.extend(["--jitter-ms".into(), v.to_string()]);
        }
        if let Some(v) = net.loss {
            argv.extend(["--loss".into(), v.to_string()]);
        }
        for l in &net.links {
            argv.extend([
                "--link".into(),
                format!(
                    "{}-{}:{}:{}:{}",
                    l.a, l.b, l.latency_ms, l.jitter_ms, l.loss
                ),
            ]);
        }
    }
    // The attack: one kind, by one node or colluders; a twin is a clone.
    let byzantine: Vec<(usize, &str)> = s
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, x)| x.role != "honest")
        .map(|(i, x)| (i, x.role.as_str()))
        .collect();
    let twins: Vec<(usize, usize)> = s
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.twin_of.map(|t| (i, t)))
        .collect();
    let late: Vec<String> = (0..n)
        .filter(|i| s.nodes[*i].late)
        .map(|i| i.to_string())
        .collect();
    if !late.is_empty() {
        argv.extend(["--late".into(), late.join(",")]);
    }
    match (byzantine.as_slice(), twins.as_slice()) {
        ([], []) => {}
        ([(attacker, "long-range")], [(twin, of)]) if attacker == twin => argv.extend([
            "--attack".into(),
            "long-range".into(),
            "--attacker".into(),
            of.to_string(),
            "--twin".into(),
            twin.to_string(),
        ]),
        ([], [(twin, of)]) => argv.extend([
            "--attack".into(),
            "clone".into(),
            "--attacker".into(),
            of.to_string(),
            "--twin".into(),
            twin.to_string(),
        ]),
        (b, []) => {
            let kind = b[0].1;
            if b.iter().any(|(_, k)| *k != kind) {
                bail!("the simulator runs one attack kind a scenario, not {b:?}");
            }
            let nodes: Vec<String> = b.iter().map(|(i, _)| i.to_string()).collect();
            argv.extend(["--attack".into(), kind.into()]);
            match kind {
                "private-fork" | "selfish" => {
                    argv.extend(["--attacker".into(), b[0].0.to_string()]);
                    argv.extend(["--shares".into(), (weights[b[0].0] / total).to_string()]);
                }
                "equivocate" if !["bft", "pbft"].contains(&s.consensus.as_str()) => {
                    argv.extend(["--attacker".into(), b[0].0.to_string()]);
                }
                _ => argv.extend(["--colluders".into(), nodes.join(",")]),
            }
        }
        _ => bail!("the simulator runs one attack a scenario: Byzantine roles or one twin"),
    }
    Ok(argv)
}

/// Changes at a time (ms) or at a height.
type Changes = Vec<(u64, NetChange)>;

/// The timeline as the simulator's changes, at a time (ms) or a height.
/// A partition is a cut in which the nodes in no group join every group;
/// kill and pause isolate the node; resume lets it rejoin; restart restarts
/// it from its signing record and lets it rejoin (cuts stay).
fn timeline(s: &Scenario) -> Result<(Changes, Changes)> {
    let n = s.nodes.len();
    let (mut by_time, mut by_height) = (Vec::new(), Vec::new());
    let tps = s.workload.as_ref().map_or(0.0, |w| w.tps);
    for step in &s.steps {
        let changes = match step.action()? {
            Action::Partition(groups) => {
                let listed: Vec<usize> = groups.iter().flatten().copied().collect();
                let free: Vec<usize> = (0..n).filter(|i| !listed.contains(i)).collect();
                let groups = groups
                    .iter()
                    .map(|g| {
                        let mut g: Vec<usize> = g.iter().chain(&free).copied().collect();
                        g.sort_unstable();
                        g.dedup();
                        g
                    })
                    .collect();
                vec![NetChange::Cut(groups)]
            }
            Action::Heal => vec![NetChange::Heal],
            Action::Resume(node) => vec![NetChange::Rejoin(node)],
            Action::Kill(node) | Action::Pause(node) => vec![NetChange::Isolate(node)],
            Action::Restart(node) => vec![
                NetChange::Restart { node, record: true },
                NetChange::Rejoin(node),
            ],
            Action::Join { node, checkpoint } => vec![NetChange::Join { node, checkpoint }],
            Action::Link {
                a,
                b,
                latency_ms,
                jitter_ms,
                loss,
            } => vec![NetChange::Link {
                a,
                b,
                net: NetConfig {
                    latency_ms,
                    jitter_ms,
                    loss,
                },
            }],
            Action::StartWorkload => vec![NetChange::Tps(tps)],
            Action::StopWorkload => vec![NetChange::Tps(0.0)],
            Action::Pay { node, amount } => vec![NetChange::Submit {
                node,
                action: TxAction::Transfer {
                    to: super::act::merchant().public(),
                    amount,
                },
            }],
            Action::Bond { node, amount } => vec![NetChange::Submit {
                node,
                action: TxAction::Bond { amount },
            }],
            Action::Unbond { node, amount } => vec![NetChange::Submit {
                node,
                action: TxAction::Unbond { amount },
            }],
            Action::Vote { node, delegates } => vec![NetChange::Submit {
                node,
                action: TxAction::Vote {
                    delegates: delegates
                        .iter()
                        .map(|d| generals_consensus::sim::node_key(*d).public())
                        .collect(),
                },
            }],
            Action::Propose {
                voters,
                candidate,
                add,
            } => vec![NetChange::Propose {
                voters,
                candidate,
                add,
            }],
        };
        match (step.at_s, step.at_height) {
            (Some(at), _) => {
                let ms = (at * 1_000.0).round() as u64;
                by_time.extend(changes.into_iter().map(|c| (ms, c)));
            }
            (None, Some(h)) => by_height.extend(changes.into_iter().map(|c| (h, c))),
            (None, None) => bail!("a step without at_s or at_height"),
        }
    }
    // A workload with its own seconds stops then.
    if let Some(secs) = s.workload.as_ref().and_then(|w| w.seconds) {
        let start = s
            .steps
            .iter()
            .find(|x| matches!(x.action(), Ok(Action::StartWorkload)))
            .map_or(Some(0.0), |x| x.at_s);
        if let Some(start) = start {
            by_time.push((
                ((start + secs as f64) * 1_000.0) as u64,
                NetChange::Tps(0.0),
            ));
        }
    }
    Ok((by_time, by_height))
}

/// From a run's event log: the seconds from the last heal until every honest
/// node had imported a block (`Some(None)`: one never did; `None`: no heal).
fn recovery(log: &Path, honest: &[usize]) -> Result<Option<Option<f64>>> {
    let text = std::fs::read_to_string(log)?;
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let Some(healed) = events
        .iter()
        .filter(|e| {
            let change = e["change"].as_str().unwrap_or("");
            e["event"] == "network" && (change == "Heal" || change.starts_with("Rejoin"))
        })
        .filter_map(|e| e["t"].as_u64())
        .max()
    else {
        return Ok(None);
    };
    let mut slowest = 0;
    for n in honest {
        let first = events
            .iter()
            .filter(|e| e["event"] == "imported" && e["node"].as_u64() == Some(*n as u64))
            .filter_map(|e| e["t"].as_u64())
            .find(|t| *t > healed);
        match first {
            Some(t) => slowest = slowest.max(t - healed),
            None => return Ok(Some(None)),
        }
    }
    Ok(Some(Some(slowest as f64 / 1_000.0)))
}

fn outcome(s: &Scenario, r: &SimReport) -> Outcome {
    let honest = s.honest();
    let mut jailed = r.jailed.clone();
    jailed.sort_unstable();
    jailed.dedup();
    let voted_out: Vec<usize> = if s.consensus == "poa" {
        // Authorities at the end, by name ("node-3").
        let left: Vec<usize> = r
            .authorities
            .iter()
            .filter_map(|a| a.strip_prefix("node-")?.parse().ok())
            .collect();
        (0..s.validators()).filter(|i| !left.contains(i)).collect()
    } else {
        Vec::new()
    };
    let tips: Vec<_> = honest.iter().filter_map(|i| r.tips.get(*i)).collect();
    Outcome {
        source: format!("simulator, seed {}", r.seed),
        heights: r.heights.iter().map(|h| Some(*h)).collect(),
        messages: Some(r.messages),
        conflicts: r.conflicting_commits.clone(),
        jailed,
        voted_out,
        double_spend: r.attack.as_ref().and_then(|a| a.double_spent),
        shares: r.shares.clone(),
        converged: r.converged && tips.windows(2).all(|w| w[0] == w[1]),
        accepted: None,
        included: None,
        recovery_s: None,
        deepest_reorg: 0,
        forked: r.forked.iter().map(|(i, _)| *i).collect(),
        accused: Vec::new(),
        replay_failures: honest
            .iter()
            .filter_map(|i| Some(format!("n{i}: {}", r.replay_errors.get(*i)?.as_ref()?)))
            .collect(),
        censored: censored(s, r),
        watched: r
            .watched
            .iter()
            .map(|w| Watched {
                step: format!("n{}'s signed step", w.node),
                node: w.node,
                hash: w.hash.to_string(),
                accepted: w.accepted,
                refused: None,
                kept: w.kept,
            })
            .collect(),
    }
}

/// The collude cartel censors the workload's first wallets (`sim
/// --censor`, 2): the share of their transfers kept off the main chain
/// beyond everyone else's.
fn censored(s: &Scenario, r: &SimReport) -> Option<f64> {
    const VICTIMS: usize = 2;
    if !s.nodes.iter().any(|n| n.role == "collude") || s.workload.is_none() {
        return None;
    }
    let missing = |range: std::ops::Range<usize>| {
        let sent: u64 = r.workload_sent.get(range.clone())?.iter().sum();
        let kept: u64 = r.workload_included.get(range)?.iter().sum();
        (sent > 0).then(|| 1.0 - kept.min(sent) as f64 / sent as f64)
    };
    let n = r.workload_sent.len();
    Some((missing(0..VICTIMS)? - missing(VICTIMS..n)?).max(0.0))
}

/// Each node's validator key (hex) in the simulator: a twin holds the key
/// of the node it copies.
fn sim_keys(s: &Scenario) -> Vec<String> {
    (0..s.nodes.len())
        .map(|i| {
            let of = s.nodes[i].twin_of.unwrap_or(i);
            generals_consensus::sim::node_key(of).public().to_hex()
        })
        .collect()
}

/// Runs `s` for `seeds` seeds from its own, each seed's event log in `out`
/// (`events-seed-N.jsonl`); returns each seed's outcome and verdicts.
pub(crate) fn simulate_seeds(
    s: &Scenario,
    seeds: u64,
    out: &Path,
) -> Result<(Vec<Outcome>, Vec<Vec<Verdict>>)> {
    let flags = sim_flags(s)?;
    let (by_time, by_height) = timeline(s)?;
    let keys = sim_keys(s);
    let mut outcomes = Vec::new();
    let mut per_seed: Vec<Vec<Verdict>> = Vec::new();
    std::fs::create_dir_all(out)?;
    let honest: Vec<usize> = s.honest();
    for seed in s.seed..s.seed + seeds.max(1) {
        let log = out.join(format!("events-seed-{seed}.jsonl"));
        let report = crate::sim::report_of(&flags, seed, &log, &|c| {
            c.schedule.extend(by_time.iter().cloned());
            c.schedule.sort_by_key(|(at, _)| *at);
            c.at_height.extend(by_height.iter().cloned());
        })?;
        let mut o = outcome(s, &report);
        o.recovery_s = recovery(&log, &honest)?;
        let facts = check::check(&check::read_sim(&log)?, &honest, &keys, &s.consensus);
        o.conflicts.extend(facts.conflicts);
        o.conflicts.sort_unstable();
        o.conflicts.dedup();
        o.deepest_reorg = facts.deepest_reorg;
        o.accused = facts.accused;
        per_seed.push(judge(s, &o));
        outcomes.push(o);
    }
    Ok((outcomes, per_seed))
}

/// Runs the scenario for `seeds` seeds from its own; writes the reports in
/// `out` (or `scenario-NAME-sim`); fails when an expectation failed in a seed.
pub fn simulate(file: &Path, seeds: u64, out: Option<PathBuf>) -> Result<()> {
    let s = Scenario::load(file)?;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("scenario-{}-sim", s.name)));
    let (outcomes, per_seed) = simulate_seeds(&s, seeds, &out)?;
    // One verdict an expectation, by name (a seed may lack one, as the
    // acknowledged-loss check where no signed step ran): the seeds that
    // passed it, of those that had it.
    let mut names: Vec<String> = Vec::new();
    for v in per_seed.iter().flatten() {
        if !names.contains(&v.expectation) {
            names.push(v.expectation.clone());
        }
    }
    let verdicts: Vec<Verdict> = names
        .into_iter()
        .map(|name| {
            let had: Vec<(&Verdict, &Outcome)> = per_seed
                .iter()
                .zip(&outcomes)
                .filter_map(|(vs, o)| Some((vs.iter().find(|v| v.expectation == name)?, o)))
                .collect();
            let passed = had.iter().filter(|(v, _)| v.passed).count();
            let failing: Vec<String> = had
                .iter()
                .filter(|(v, _)| !v.passed)
                .map(|(v, o)| format!("{}: {}", o.source, v.detail))
                .take(3)
                .collect();
            let detail = if failing.is_empty() {
                format!("{passed}/{} seeds; {}", had.len(), had[0].0.detail)
            } else {
                format!("{passed}/{} seeds; {}", had.len(), failing.join("; "))
            };
            Verdict {
                expectation: name,
                passed: passed == had.len(),
                detail,
            }
        })
        .collect();
    println!(
        "scenario {} in the simulator, {} seeds:",
        s.name,
        outcomes.len()
    );
    print_verdicts(&verdicts);
    write_reports(&s, &out, &outcomes, &verdicts)?;
    println!("report: {}", out.join("report.md").display());
    println!(
        "fork tree, played back: generals-testnet ui --replay {}",
        out.display()
    );
    let failed = verdicts.iter().filter(|v| !v.passed).count();
    if failed > 0 {
        bail!("{failed} of {} expectations failed", verdicts.len());
    }
    Ok(())
}
