//! A mechanism's figures over its runs, with 95% intervals (Wilson's for
//! rates, the normal approximation for means), and the theory beside them,
//! each with its model stated and flagged when it falls outside the measured
//! interval.

use super::figures::{attacker_resource, Figures};
use crate::scenario::Scenario;
use crate::theory::{mean_ci, nakamoto_catch_up, private_fork_success, selfish_revenue, wilson};
use serde::Serialize;

/// A figure with its 95% interval.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Est {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Est {
    fn mean(xs: &[f64]) -> Est {
        let (value, low, high) = mean_ci(xs);
        Est { value, low, high }
    }

    fn rate(k: u64, n: u64) -> Est {
        let (low, high) = wilson(k, n);
        Est {
            value: k as f64 / n.max(1) as f64,
            low,
            high,
        }
    }

    pub fn holds(&self, x: f64) -> bool {
        self.low - 1e-9 <= x && x <= self.high + 1e-9
    }
}

/// A closed form beside the measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Theory {
    /// The model, stated exactly.
    pub model: String,
    /// What it predicts (none: the bound promises nothing here), and the
    /// measured figure it is set against.
    pub predicted: Option<f64>,
    pub measured: String,
    /// Inside the measured 95% interval (or, for a bound, not contradicted).
    pub agrees: bool,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub consensus: String,
    /// How the roles mapped onto this mechanism.
    pub mapping: String,
    pub runs: usize,
    pub finality_p50_ms: Est,
    pub finality_p90_ms: Est,
    pub blocks_per_s: Est,
    pub orphan_rate: Est,
    pub deepest_reorg: u64,
    /// Messages sent over the network for each main-chain block.
    pub messages_per_block: Option<Est>,
    pub attacker_resource: f64,
    pub attacker_blocks: Est,
    pub attacker_produced: f64,
    pub safety_broken: Est,
    pub payment_reverted: Option<Est>,
    pub attacker_cost: Est,
    pub attacker_hash_s: Est,
    pub attacker_gain: Est,
    /// Censored transfers, where a cartel censors a workload.
    pub censored: Option<Est>,
    pub honest_orphaned: Est,
    pub honest_jailed: usize,
    /// Each always-on check: name, runs in which it held.
    /// Each always-on check: name, runs in which it held, runs that had it.
    pub invariants: Vec<(String, usize, usize)>,
    /// Reorgs of honest nodes over time, all runs: seconds, depth.
    pub reorgs: Vec<(f64, u64)>,
    pub theory: Vec<Theory>,
    /// With `--shares`: the attack's success rate at each Byzantine share.
    pub curve: Vec<(f64, Est)>,
}

/// The share of runs in which the attack succeeded: it broke safety,
/// reverted a payment, or won more blocks than its share of the resource by
/// more than 5 points (chance alone would win half the runs).
pub fn success(runs: &[Figures]) -> Est {
    let won = runs
        .iter()
        .filter(|r| {
            r.safety_broken
                || r.payment_reverted == Some(true)
                || r.attacker_blocks > r.attacker_resource + 0.05
        })
        .count();
    Est::rate(won as u64, runs.len() as u64)
}

fn quantile(xs: &[u64], q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    Some(v[i] as f64)
}

/// How the Byzantine roles map onto `s`'s mechanism.
pub fn mapping(s: &Scenario) -> Option<String> {
    let honest = s.honest();
    let bad: Vec<String> = (0..s.nodes.len())
        .filter(|i| !honest.contains(i))
        .map(|i| match s.nodes[i].twin_of {
            Some(t) => format!("n{i} twin of n{t}"),
            None => format!("n{i} {}", s.nodes[i].role),
        })
        .collect();
    if bad.is_empty() {
        return None;
    }
    let resource = match s.consensus.as_str() {
        "pow" => "hash power",
        "poa" => "authority seats (one a node)",
        "bft" => "voting power",
        "pbft" => "replicas (one vote each)",
        "dpos" => "producer slots (stake-elected)",
        _ => "stake",
    };
    Some(format!(
        "{}; {:.1}% of the {resource}",
        bad.join(", "),
        attacker_resource(s) * 100.0
    ))
}

impl Summary {
    pub fn of(s: &Scenario, runs: &[Figures]) -> Summary {
        let n = runs.len() as u64;
        let each = |f: &dyn Fn(&Figures) -> f64| -> Est {
            Est::mean(&runs.iter().map(f).collect::<Vec<_>>())
        };
        let p = |q: f64| {
            let xs: Vec<f64> = runs
                .iter()
                .filter_map(|r| quantile(&r.finality_ms, q))
                .collect();
            Est::mean(&xs)
        };
        let reverted: Vec<bool> = runs.iter().filter_map(|r| r.payment_reverted).collect();
        let mut invariants: Vec<(String, usize, usize)> = Vec::new();
        for r in runs {
            for (name, held) in &r.invariants {
                match invariants.iter_mut().find(|(n, _, _)| n == name) {
                    Some(x) => {
                        x.1 += usize::from(*held);
                        x.2 += 1;
                    }
                    None => invariants.push((name.clone(), usize::from(*held), 1)),
                }
            }
        }
        let mut sum = Summary {
            consensus: s.consensus.clone(),
            mapping: mapping(s).unwrap_or_else(|| "no Byzantine node".into()),
            runs: runs.len(),
            finality_p50_ms: p(0.5),
            finality_p90_ms: p(0.9),
            blocks_per_s: each(&|r| r.blocks_per_s),
            orphan_rate: each(&|r| r.orphan_rate),
            messages_per_block: {
                let xs: Vec<f64> = runs.iter().filter_map(|r| r.messages_per_block).collect();
                (!xs.is_empty()).then(|| Est::mean(&xs))
            },
            deepest_reorg: runs
                .iter()
                .flat_map(|r| r.reorgs.iter().map(|x| x.1))
                .max()
                .unwrap_or(0),
            attacker_resource: attacker_resource(s),
            attacker_blocks: each(&|r| r.attacker_blocks),
            attacker_produced: each(&|r| r.attacker_produced).value,
            safety_broken: Est::rate(runs.iter().filter(|r| r.safety_broken).count() as u64, n),
            payment_reverted: (!reverted.is_empty()).then(|| {
                Est::rate(
                    reverted.iter().filter(|x| **x).count() as u64,
                    reverted.len() as u64,
                )
            }),
            attacker_cost: each(&|r| r.attacker_cost),
            attacker_hash_s: each(&|r| r.attacker_hash_s),
            attacker_gain: each(&|r| r.attacker_gain),
            censored: {
                let xs: Vec<f64> = runs.iter().filter_map(|r| r.censored).collect();
                (!xs.is_empty()).then(|| Est::mean(&xs))
            },
            honest_orphaned: each(&|r| r.honest_orphaned),
            honest_jailed: runs.iter().map(|r| r.honest_jailed).sum(),
            invariants,
            reorgs: runs.iter().flat_map(|r| r.reorgs.clone()).collect(),
            theory: Vec::new(),
            curve: Vec::new(),
        };
        sum.theory = theory(s, &sum);
        sum
    }
}

/// The closed forms that apply to `s`, beside `sum`'s measurements.
fn theory(s: &Scenario, sum: &Summary) -> Vec<Theory> {
    let mut out = Vec::new();
    let q = sum.attacker_resource;
    let roles: Vec<&str> = s.nodes.iter().map(|n| n.role.as_str()).collect();
    match s.consensus.as_str() {
        "pow" if roles.contains(&"private-fork") => {
            let Some(rate) = &sum.payment_reverted else {
                return out;
            };
            // The simulator's attacker: 2 confirmations, gives up 30 behind.
            let (z, g) = (2, 30);
            let measured = format!(
                "{:.1}% of runs [{:.1}, {:.1}]",
                rate.value * 100.0,
                rate.low * 100.0,
                rate.high * 100.0
            );
            out.push(Theory {
                model: format!(
                    "Nakamoto's P(q={q:.3}, z={z}): the attacker catches up from z behind, its progress Poisson"
                ),
                predicted: Some(nakamoto_catch_up(q, z)),
                measured: measured.clone(),
                agrees: rate.holds(nakamoto_catch_up(q, z)),
            });
            let exact = private_fork_success(q, z, g);
            out.push(Theory {
                model: format!(
                    "the attacker this tool runs: forks before the payment, releases once the payment has {z} confirmations and its fork is heavier (longer, or as long with its first block first: difficulty retargets each block), gives up {g} behind; each block its own with probability q={q:.3}, no stale blocks"
                ),
                predicted: Some(exact),
                measured,
                agrees: rate.holds(exact),
            });
        }
        "pow" if roles.contains(&"selfish") => {
            // The rush reaches half the other honest nodes (the finder mines
            // on its own block); retargeting makes a private lead harder, so
            // alpha is the attacker's share of the blocks it produced.
            let h = s.honest().len().max(1) as f64;
            let gamma = 0.5 * (h - 1.0) / h;
            let alpha = sum.attacker_produced;
            let r = selfish_revenue(alpha, gamma);
            out.push(Theory {
                model: format!(
                    "Eyal and Sirer's R(alpha={alpha:.3}, gamma={gamma:.3}): the selfish miner's share of main-chain blocks; alpha its share of the blocks produced, gamma the honest power that builds on its block in a tie (the simulator's rush reaches half the other honest nodes)"
                ),
                predicted: Some(r),
                measured: est_pct(&sum.attacker_blocks),
                agrees: sum.attacker_blocks.holds(r),
            });
        }
        "pbft" => {
            let unsafe_quorum = s.quorum.as_deref() == Some("f+1");
            let safe = q <= 1.0 / 3.0 + 1e-9 && !unsafe_quorum;
            out.push(Theory {
                model: format!(
                    "Castro and Liskov's bound: with n = 3f+1 replicas, two quorums of 2f+1 share f+1, one of them honest, and an honest replica prepares one block a view, so at most f Byzantine never make two honest replicas decide different blocks; here {:.1}% is Byzantine and quorums are {}{}",
                    q * 100.0,
                    if unsafe_quorum { "f+1" } else { "2f+1" },
                    if safe { "" } else { ": the bound promises nothing" }
                ),
                predicted: if safe { Some(0.0) } else { None },
                measured: format!("safety broken in {}", est_pct(&sum.safety_broken)),
                agrees: !safe || sum.safety_broken.value == 0.0,
            });
        }
        "bft" | "pos" => {
            // Two quorums of more than 2/3 share more than 1/3: while at most
            // 1/3 is Byzantine, an honest member would have signed both.
            let safe = q <= 1.0 / 3.0 + 1e-9;
            let model = if s.consensus == "bft" {
                "Tendermint's bound: two quorums of more than 2/3 of the voting power share more than 1/3, so while at most 1/3 is Byzantine no two honest validators decide different blocks (liveness needs less than 1/3)"
            } else {
                "Casper FFG's accountable safety: two conflicting finalized checkpoints need 1/3 of the stake to sign both (and be slashed); with less than 1/3 Byzantine, none"
            };
            let safe = if s.consensus == "bft" {
                safe
            } else {
                q < 1.0 / 3.0 - 1e-9
            };
            out.push(Theory {
                model: format!(
                    "{model}; here {:.1}% is Byzantine{}",
                    q * 100.0,
                    if safe {
                        ""
                    } else {
                        ": the bound promises nothing"
                    }
                ),
                predicted: if safe { Some(0.0) } else { None },
                measured: format!("safety broken in {}", est_pct(&sum.safety_broken)),
                agrees: !safe || sum.safety_broken.value == 0.0,
            });
        }
        "poa" => {
            let seats = s.validators();
            let limit = seats / 2 + 1;
            let bad = (q * seats as f64).round();
            let bound = (bad / limit as f64).min(1.0);
            out.push(Theory {
                model: format!(
                    "Clique's signer limit: an authority seals at most one of every floor(N/2)+1 = {limit} consecutive blocks, so {bad} of {seats} seats seal at most {:.1}% of them",
                    bound * 100.0
                ),
                predicted: Some(bound),
                measured: est_pct(&sum.attacker_blocks),
                agrees: sum.attacker_blocks.low <= bound + 1e-9,
            });
        }
        _ => {}
    }
    out
}

fn predicted(t: &Theory) -> String {
    t.predicted
        .map_or("no bound".into(), |p| format!("{:.1}%", p * 100.0))
}

fn est_pct(e: &Est) -> String {
    format!(
        "{:.1}% [{:.1}, {:.1}]",
        e.value * 100.0,
        e.low * 100.0,
        e.high * 100.0
    )
}

fn est_num(e: &Est) -> String {
    let digits = if e.value.abs() >= 100.0 { 0 } else { 2 };
    if e.low == e.high {
        format!("{:.*}", digits, e.value)
    } else {
        format!(
            "{:.*} [{:.*}, {:.*}]",
            digits, e.value, digits, e.low, digits, e.high
        )
    }
}

/// The always-on checks of every mechanism, in first-seen order.
pub fn invariant_names(sums: &[Summary]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (n, _, _) in sums.iter().flat_map(|s| s.invariants.iter()) {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// One line a mechanism, as it finishes.
pub fn print(s: &Summary) {
    println!(
        "  {} runs: finality p50 {} ms, {} blocks/s, safety broken {}, attacker blocks {}",
        s.runs,
        est_num(&s.finality_p50_ms),
        est_num(&s.blocks_per_s),
        est_pct(&s.safety_broken),
        est_pct(&s.attacker_blocks)
    );
    for t in &s.theory {
        let mark = if t.agrees { "agrees" } else { "OUTSIDE" };
        println!(
            "  theory {mark}: {} predicted, {} measured ({})",
            predicted(t),
            t.measured,
            t.model
        );
    }
}

/// The tables of `report.md`.
pub fn markdown(raw: &Scenario, sums: &[Summary], json: &serde_json::Value) -> String {
    let mut md = format!(
        "# Comparison: {}\n\n{}\n\nRuns: {}. Intervals are 95% (Wilson's for rates, normal for means).\n\n",
        raw.name,
        raw.description,
        json["runs"].as_str().unwrap_or("")
    );
    md.push_str("| | ");
    md.push_str(
        &sums
            .iter()
            .map(|s| s.consensus.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    md.push_str(" |\n|---|");
    md.push_str(&"---|".repeat(sums.len()));
    md.push('\n');
    type Row<'a> = (&'a str, Box<dyn Fn(&Summary) -> String>);
    let rows: Vec<Row<'_>> = vec![
        ("Byzantine", Box::new(|s: &Summary| s.mapping.clone())),
        ("runs", Box::new(|s: &Summary| s.runs.to_string())),
        (
            "finality p50 (ms)",
            Box::new(|s: &Summary| est_num(&s.finality_p50_ms)),
        ),
        (
            "finality p90 (ms)",
            Box::new(|s: &Summary| est_num(&s.finality_p90_ms)),
        ),
        (
            "blocks per second",
            Box::new(|s: &Summary| est_num(&s.blocks_per_s)),
        ),
        (
            "blocks off the main chain",
            Box::new(|s: &Summary| est_pct(&s.orphan_rate)),
        ),
        (
            "messages sent per block (network-wide)",
            Box::new(|s: &Summary| s.messages_per_block.as_ref().map_or("-".into(), est_num)),
        ),
        (
            "deepest honest reorg",
            Box::new(|s: &Summary| s.deepest_reorg.to_string()),
        ),
        (
            "attacker's share of the resource",
            Box::new(|s: &Summary| format!("{:.1}%", s.attacker_resource * 100.0)),
        ),
        (
            "attacker's share of the blocks",
            Box::new(|s: &Summary| est_pct(&s.attacker_blocks)),
        ),
        (
            "safety broken (runs)",
            Box::new(|s: &Summary| est_pct(&s.safety_broken)),
        ),
        (
            "payment reverted (runs)",
            Box::new(|s: &Summary| s.payment_reverted.as_ref().map_or("-".into(), est_pct)),
        ),
        (
            "attacker's cost (resource lost or blocks wasted)",
            Box::new(|s: &Summary| est_num(&s.attacker_cost)),
        ),
        (
            "attacker's hash power spent (network-seconds, pow)",
            Box::new(|s: &Summary| est_num(&s.attacker_hash_s)),
        ),
        (
            "transfers censored (victims' kept off the chain beyond others')",
            Box::new(|s: &Summary| s.censored.as_ref().map_or("-".into(), est_pct)),
        ),
        (
            "attacker's gain (blocks beyond its share, + 1 a reverted payment, + censored share)",
            Box::new(|s: &Summary| est_num(&s.attacker_gain)),
        ),
        (
            "honest blocks orphaned",
            Box::new(|s: &Summary| est_pct(&s.honest_orphaned)),
        ),
        (
            "honest nodes jailed",
            Box::new(|s: &Summary| s.honest_jailed.to_string()),
        ),
    ];
    for (name, f) in rows {
        md.push_str(&format!(
            "| {name} | {} |\n",
            sums.iter().map(&f).collect::<Vec<_>>().join(" | ")
        ));
    }
    md.push_str("\n## Invariants (runs in which each held)\n\n| check | ");
    md.push_str(
        &sums
            .iter()
            .map(|s| s.consensus.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    md.push_str(" |\n|---|");
    md.push_str(&"---|".repeat(sums.len()));
    md.push('\n');
    let names = invariant_names(sums);
    for name in names {
        md.push_str(&format!("| {name} |"));
        for s in sums {
            let held = s.invariants.iter().find(|x| x.0 == name);
            md.push_str(&match held {
                Some((_, k, had)) if k == had => format!(" {k}/{had} |"),
                Some((_, k, had)) => format!(" **{k}/{had}** |"),
                None => " - |".into(),
            });
        }
        md.push('\n');
    }
    md.push_str("\n## Theory beside measurement\n\n| mechanism | model | predicted | measured | |\n|---|---|---|---|---|\n");
    for s in sums {
        for t in &s.theory {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                s.consensus,
                t.model,
                predicted(t),
                t.measured,
                if t.agrees { "agrees" } else { "**outside**" }
            ));
        }
    }
    md
}
