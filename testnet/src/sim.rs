//! `generals-testnet sim`: one simulation with its summary, or `--seeds K` of them
//! with the attack tables.

use crate::theory::{nakamoto_catch_up, selfish_revenue};
use anyhow::{bail, Context, Result};
use generals_consensus::sim::{
    Attack, BftFault, EventLog, NetChange, NetConfig, SimConfig, SimReport, Simulator,
};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttackKind {
    /// The 51% attack: a double spend by a secretly mined fork.
    PrivateFork,
    /// Eyal and Sirer's selfish mining.
    Selfish,
    /// Proof of authority or stake: a sealer that seals two blocks at each of its
    /// heights or slots, one to each half of its peers. BFT: validators
    /// (--colluders) that sign two prevotes and precommits each round.
    Equivocate,
    /// BFT: validators (--colluders) that vote one way to half the honest
    /// validators and another way to the other half; when one proposes, it
    /// proposes twin blocks.
    SplitVote,
    /// BFT: validators (--colluders) that forget their lock.
    Amnesia,
    /// BFT: validators (--colluders) that never propose nor vote.
    Silent,
    /// Proof of authority: authorities (--colluders) that vote the others out
    /// and censor the workload's first --censor accounts.
    Collude,
    /// Proof of authority: node --twin runs with node --attacker's key.
    Clone,
    /// Proof of stake: validators (--colluders) that propose and attest on
    /// every fork head they see.
    NothingAtStake,
}

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Consensus kind: pow, poa, pos or bft.
    #[arg(long, default_value = "pow")]
    consensus: String,
    /// Proof of stake: each node's bonded stake, e.g. 40,30,20,10 (100 each if
    /// left out).
    #[arg(long, value_delimiter = ',')]
    stakes: Vec<u64>,
    /// Proof of stake: slot length in ms, and slots per epoch.
    #[arg(long, default_value_t = 4_000)]
    slot_ms: u64,
    #[arg(long, default_value_t = 8)]
    epoch_slots: u64,
    /// Proof of stake and BFT: evidence costs nothing (the genesis slashing
    /// switch off).
    #[arg(long)]
    no_slashing: bool,
    /// BFT with --seeds: draw each run's latency, jitter, loss and a healing
    /// cut from its seed (off: the --latency-ms, --jitter-ms, --loss and
    /// --cut given).
    #[arg(long)]
    hostile: bool,
    /// Number of nodes.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Seed of the run (the first of the runs, with --seeds).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Mining stops when the chain reaches this height.
    #[arg(long, default_value_t = 100)]
    blocks: u64,
    /// Hash power of each node, e.g. 40,30,20,10 (equal if left out).
    #[arg(long, value_delimiter = ',')]
    hashpower: Vec<f64>,
    /// Link latency, jitter (uniform extra) in ms, and loss probability.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    #[arg(long, default_value_t = 50)]
    jitter_ms: u64,
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Target block interval in ms.
    #[arg(long, default_value_t = 10_000)]
    target_ms: u64,
    /// Cut the network at a time into groups: SECONDS:0,1/2,3 (repeatable).
    #[arg(long, value_name = "SECONDS:GROUPS")]
    cut: Vec<String>,
    /// Isolate a node at a time: SECONDS:NODE (repeatable).
    #[arg(long, value_name = "SECONDS:NODE")]
    isolate: Vec<String>,
    /// Heal every cut at a time in seconds (repeatable).
    #[arg(long, value_name = "SECONDS")]
    heal: Vec<u64>,
    /// A link with its own latency, jitter and loss: A-B:LATENCY_MS[:JITTER_MS[:LOSS]]
    /// (repeatable), e.g. 0-3:800:100:0.1.
    #[arg(long, value_name = "A-B:MS[:MS[:LOSS]]")]
    link: Vec<String>,
    /// Multiply the total hash power at a time: SECONDS:FACTOR (repeatable).
    #[arg(long, value_name = "SECONDS:FACTOR")]
    hashpower_change: Vec<String>,
    /// Transfers per second from the workload.
    #[arg(long, default_value_t = 0.0)]
    tps: f64,
    /// Make one node an attacker.
    #[arg(long, value_enum)]
    attack: Option<AttackKind>,
    /// Which node attacks.
    #[arg(long, default_value_t = 0)]
    attacker: usize,
    /// Private fork: blocks the merchant waits on the payment (a list with --seeds).
    #[arg(long, value_delimiter = ',', default_values_t = vec![2u64])]
    confirmations: Vec<u64>,
    /// Private fork: the public lead at which the attacker gives up.
    #[arg(long, default_value_t = 30)]
    give_up: u64,
    /// Private fork: the height at which the attacker pays.
    #[arg(long, default_value_t = 5)]
    pay_at: u64,
    /// Selfish mining: share of honest nodes that hear the attacker first in a tie.
    #[arg(long, default_value_t = 0.5)]
    gamma: f64,
    /// Proof of authority: how many of the nodes are authorities (default all).
    #[arg(long)]
    authorities: Option<usize>,
    /// Proof of authority: the block period in ms.
    #[arg(long, default_value_t = 5_000)]
    period_ms: u64,
    /// Collude and nothing-at-stake: the misbehaving nodes (default 0,1,2 for
    /// collude, the last two nodes for nothing-at-stake).
    #[arg(long, value_delimiter = ',')]
    colluders: Vec<usize>,
    /// Collude: how many workload accounts the colluders censor.
    #[arg(long, default_value_t = 2)]
    censor: usize,
    /// Clone: the node that runs the attacker's key.
    #[arg(long, default_value_t = 1)]
    twin: usize,
    /// Attacker hash-power shares to sweep with --seeds (and the share of a single
    /// attack run when --hashpower is left out).
    #[arg(long, value_delimiter = ',')]
    shares: Vec<f64>,
    /// Run this many seeds and print aggregate tables.
    #[arg(long)]
    seeds: Option<u64>,
    /// Where the JSONL event log goes (default sim-<kind>-<seed>.jsonl).
    #[arg(long)]
    log: Option<PathBuf>,
    /// Write no event log.
    #[arg(long)]
    no_log: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_at<T: std::str::FromStr>(flag: &str, s: &str) -> Result<(u64, T)> {
    let (at, rest) = s
        .split_once(':')
        .with_context(|| format!("--{flag} {s:?}: expected SECONDS:VALUE"))?;
    let at: u64 = at
        .trim()
        .parse()
        .with_context(|| format!("--{flag} {s:?}: {at:?} is not a number of seconds"))?;
    let v = rest
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--{flag} {s:?}: {rest:?} is not understood"))?;
    let at = at
        .checked_mul(1000)
        .with_context(|| format!("--{flag} {s:?}: too many seconds"))?;
    Ok((at, v))
}

fn parse_link(s: &str) -> Result<(usize, usize, NetConfig)> {
    let bad = || anyhow::anyhow!("--link {s:?}: expected A-B:LATENCY_MS[:JITTER_MS[:LOSS]]");
    let mut parts = s.split(':');
    let (a, b) = parts
        .next()
        .and_then(|p| p.split_once('-'))
        .ok_or_else(bad)?;
    let a = a.trim().parse().map_err(|_| bad())?;
    let b = b.trim().parse().map_err(|_| bad())?;
    let latency_ms = parts
        .next()
        .ok_or_else(bad)?
        .trim()
        .parse()
        .map_err(|_| bad())?;
    let jitter_ms = parts
        .next()
        .map_or(Ok(0), |p| p.trim().parse())
        .map_err(|_| bad())?;
    let loss = parts
        .next()
        .map_or(Ok(0.0), |p| p.trim().parse())
        .map_err(|_| bad())?;
    Ok((
        a,
        b,
        NetConfig {
            latency_ms,
            jitter_ms,
            loss,
        },
    ))
}

fn parse_groups(s: &str) -> Result<Vec<Vec<usize>>> {
    s.split('/')
        .map(|g| {
            g.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .with_context(|| format!("--cut: {n:?} is not a node number"))
                })
                .collect()
        })
        .collect()
}

impl SimArgs {
    fn base(&self, seed: u64) -> Result<SimConfig> {
        if self.target_ms == 0 {
            bail!("--target-ms must be at least 1");
        }
        let mut c = match self.consensus.as_str() {
            "pow" => {
                let mut c = SimConfig::honest(self.nodes, seed, self.blocks);
                c.pow.target_block_ms = self.target_ms;
                c.announce_ms = self.target_ms;
                c
            }
            "poa" => {
                let mut c = SimConfig::poa(self.nodes, seed, self.blocks);
                c.poa.period_ms = self.period_ms;
                c.announce_ms = self.period_ms.max(1);
                c.authorities = self.authorities.unwrap_or(self.nodes);
                c
            }
            "pos" => {
                let mut c = SimConfig::pos(self.nodes, seed, self.blocks);
                if self.slot_ms == 0 || self.epoch_slots == 0 {
                    bail!("--slot-ms and --epoch-slots must be at least 1");
                }
                c.pos.slot_ms = self.slot_ms;
                c.pos.epoch_slots = self.epoch_slots;
                c.announce_ms = self.slot_ms;
                if !self.stakes.is_empty() {
                    if self.stakes.len() != self.nodes {
                        bail!("{} stakes for {} nodes", self.stakes.len(), self.nodes);
                    }
                    c.stakes = self.stakes.clone();
                }
                c.slashing = !self.no_slashing;
                c
            }
            "bft" => {
                let mut c = SimConfig::bft(self.nodes, seed, self.blocks);
                if !self.stakes.is_empty() {
                    if self.stakes.len() != self.nodes {
                        bail!("{} stakes for {} nodes", self.stakes.len(), self.nodes);
                    }
                    c.stakes = self.stakes.clone();
                }
                c.slashing = !self.no_slashing;
                c
            }
            other => {
                bail!("unknown consensus kind {other:?}; the simulator runs: pow, poa, pos, bft")
            }
        };
        if self.no_slashing && !["pos", "bft"].contains(&self.consensus.as_str()) {
            bail!("--no-slashing is for proof of stake and BFT (--consensus pos or bft)");
        }
        c.net = NetConfig {
            latency_ms: self.latency_ms,
            jitter_ms: self.jitter_ms,
            loss: self.loss,
        };
        c.tps = self.tps;
        if !self.hashpower.is_empty() {
            c.hashpower = self.hashpower.clone();
        }
        for s in &self.cut {
            let (at, groups): (u64, String) = parse_at("cut", s)?;
            c.schedule
                .push((at, NetChange::Cut(parse_groups(&groups)?)));
        }
        for s in &self.isolate {
            let (at, node) = parse_at("isolate", s)?;
            c.schedule.push((at, NetChange::Isolate(node)));
        }
        for at in &self.heal {
            let at = at.checked_mul(1000).context("--heal: too many seconds")?;
            c.schedule.push((at, NetChange::Heal));
        }
        for s in &self.link {
            c.links.push(parse_link(s)?);
        }
        for s in &self.hashpower_change {
            let (at, f) = parse_at("hashpower-change", s)?;
            c.schedule.push((at, NetChange::HashPower(f)));
        }
        c.schedule.sort_by_key(|(at, _)| *at);
        Ok(c)
    }

    /// A configuration with the attacker holding `share` of the hash power.
    fn attacked(&self, seed: u64, share: f64, confirmations: u64) -> Result<SimConfig> {
        let mut c = self.base(seed)?;
        let Some(kind) = self.attack else {
            return Ok(c);
        };
        if self.nodes < 2 {
            bail!("an attack needs at least 2 nodes");
        }
        if self.attacker >= self.nodes {
            bail!(
                "--attacker {} does not exist among {} nodes",
                self.attacker,
                self.nodes
            );
        }
        if self.consensus == "bft" {
            let fault = match kind {
                AttackKind::Equivocate => BftFault::Equivocate,
                AttackKind::SplitVote => BftFault::SplitVote,
                AttackKind::Amnesia => BftFault::Amnesia,
                AttackKind::Silent => BftFault::Silent,
                _ => bail!("BFT attacks are equivocate, split-vote, amnesia and silent"),
            };
            c.attack = Some(Attack::Bft {
                fault,
                nodes: self.bft_byzantine(),
            });
            return Ok(c);
        }
        let poa = match kind {
            AttackKind::Equivocate => Some(Attack::Equivocate {
                node: self.attacker,
            }),
            AttackKind::Collude => Some(Attack::Collude {
                nodes: if self.colluders.is_empty() {
                    vec![0, 1, 2]
                } else {
                    self.colluders.clone()
                },
                censor: self.censor,
            }),
            AttackKind::NothingAtStake => Some(Attack::NothingAtStake {
                nodes: if self.colluders.is_empty() {
                    vec![self.nodes - 2, self.nodes - 1]
                } else {
                    self.colluders.clone()
                },
            }),
            AttackKind::Clone => Some(Attack::Clone {
                node: self.attacker,
                twin: self.twin,
            }),
            _ => None,
        };
        if poa.is_some() {
            c.attack = poa;
            return Ok(c);
        }
        if !(0.0..1.0).contains(&share) || share <= 0.0 {
            bail!("attacker share {share} is not in (0, 1)");
        }
        if self.hashpower.is_empty() || self.seeds.is_some() {
            let honest = (1.0 - share) / (self.nodes - 1) as f64;
            c.hashpower = (0..self.nodes)
                .map(|i| if i == self.attacker { share } else { honest })
                .collect();
        }
        c.attack = Some(match kind {
            AttackKind::PrivateFork => {
                c.blocks = c
                    .blocks
                    .max(self.pay_at + confirmations + self.give_up + 20);
                Attack::PrivateFork {
                    node: self.attacker,
                    confirmations,
                    give_up: self.give_up,
                    at_height: self.pay_at,
                }
            }
            AttackKind::Selfish => Attack::Selfish {
                node: self.attacker,
                gamma: self.gamma,
            },
            AttackKind::SplitVote | AttackKind::Amnesia | AttackKind::Silent => {
                bail!("split-vote, amnesia and silent attack BFT (--consensus bft)")
            }
            AttackKind::Equivocate
            | AttackKind::Collude
            | AttackKind::Clone
            | AttackKind::NothingAtStake => {
                unreachable!("attacks without hash power returned above")
            }
        });
        Ok(c)
    }
}

impl SimArgs {
    /// BFT's Byzantine validators: --colluders, or the last f = (n-1)/3.
    fn bft_byzantine(&self) -> Vec<usize> {
        if self.colluders.is_empty() {
            let f = (self.nodes.saturating_sub(1) / 3).max(1);
            (self.nodes.saturating_sub(f)..self.nodes).collect()
        } else {
            self.colluders.clone()
        }
    }
}

fn simulate(config: SimConfig, log: EventLog) -> Result<SimReport> {
    let sim = Simulator::new(config, log).map_err(anyhow::Error::msg)?;
    let (report, _) = sim.run().map_err(anyhow::Error::msg)?;
    Ok(report)
}

pub fn run(args: SimArgs) -> Result<()> {
    match args.seeds {
        None => single(&args),
        Some(0) => bail!("--seeds must be at least 1"),
        Some(k) => match args.attack {
            _ if args.consensus == "bft" => sweep_bft(&args, k),
            None => sweep_honest(&args, k),
            Some(AttackKind::Selfish) => sweep_selfish(&args, k),
            Some(AttackKind::PrivateFork) => sweep_private_fork(&args, k),
            Some(_) if args.consensus == "pos" => sweep_pos(&args, k),
            Some(_) => sweep_poa(&args, k),
        },
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn single(args: &SimArgs) -> Result<()> {
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
        "pos" => args.slot_ms,
        "bft" => config.bft.timeout_commit_ms,
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
    if args.consensus == "bft" {
        println!(
            "conflicting decisions (two honest nodes, one height): {}",
            if report.conflicting_commits.is_empty() {
                "none".to_string()
            } else {
                format!("at heights {:?}", report.conflicting_commits)
            }
        );
    }
    if args.consensus == "pos" || args.consensus == "bft" {
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

fn sweep_honest(args: &SimArgs, k: u64) -> Result<()> {
    let mut converged = 0;
    let mut orphans = 0.0;
    let mut deepest = 0;
    let mut interval = 0.0;
    let mut shares = vec![0.0; args.nodes];
    let mut hashpower = Vec::new();
    for seed in args.seed..args.seed.saturating_add(k) {
        let r = simulate(args.base(seed)?, EventLog::sink())?;
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

/// Proof-of-stake attacks over seeds, with slashing on and off side by side:
/// what the misbehaving validators signed twice, kept and lost.
fn sweep_pos(args: &SimArgs, k: u64) -> Result<()> {
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
        for seed in args.seed..args.seed.saturating_add(k) {
            let mut c = args.attacked(seed, 0.0, 0)?;
            c.slashing = slashing;
            let r = simulate(c.clone(), EventLog::sink())?;
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

fn sweep_poa(args: &SimArgs, k: u64) -> Result<()> {
    let mut outcomes: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut jailed = 0u64;
    for seed in args.seed..args.seed.saturating_add(k) {
        let r = simulate(args.attacked(seed, 0.0, 0)?, EventLog::sink())?;
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

fn sweep_selfish(args: &SimArgs, k: u64) -> Result<()> {
    println!(
        "selfish mining, {} nodes, gamma {}, {} blocks a run, {k} seeds a row",
        args.nodes, args.gamma, args.blocks
    );
    println!(
        "{:>15} {:>22} {:>22} {:>10}",
        "attacker power", "attacker's main chain", "Eyal-Sirer predict", "gain"
    );
    for share in sweep_shares(args, &[0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45]) {
        let mut got = 0.0;
        for seed in args.seed..args.seed.saturating_add(k) {
            let r = simulate(args.attacked(seed, share, 0)?, EventLog::sink())?;
            got += r.attack.map_or(0.0, |a| a.main_chain_share) / k as f64;
        }
        println!(
            "{:>15} {:>22} {:>22} {:>10}",
            pct(share),
            pct(got),
            pct(selfish_revenue(share, args.gamma).max(0.0)),
            format!("{:+.1}", (got - share) * 100.0)
        );
    }
    Ok(())
}

fn sweep_private_fork(args: &SimArgs, k: u64) -> Result<()> {
    println!(
        "private-fork double spend, {} nodes, attacker gives up {} blocks behind, {k} seeds a cell",
        args.nodes, args.give_up
    );
    println!(
        "{:>15} {:>14} {:>14} {:>18}",
        "attacker power", "confirmations", "success rate", "Nakamoto's P(z)"
    );
    for share in sweep_shares(args, &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) {
        for &z in &args.confirmations {
            let mut wins = 0u64;
            for seed in args.seed..args.seed.saturating_add(k) {
                let r = simulate(args.attacked(seed, share, z)?, EventLog::sink())?;
                wins += u64::from(r.attack.and_then(|a| a.double_spent).unwrap_or(false));
            }
            println!(
                "{:>15} {:>14} {:>14} {:>18}",
                pct(share),
                z,
                pct(wins as f64 / k as f64),
                pct(nakamoto_catch_up(share, z))
            );
        }
    }
    Ok(())
}

/// BFT: each fault (or the one asked for) over `k` seeds, with the
/// Byzantine validators of --colluders (default f = (n-1)/3), then f+1
/// colluding split voters with the honest validators cut in two halves.
fn sweep_bft(args: &SimArgs, k: u64) -> Result<()> {
    let n = args.nodes;
    let byz = args.bft_byzantine();
    let faults: Vec<BftFault> = match args.attack {
        None => BftFault::ALL.to_vec(),
        Some(_) => match args.attacked(args.seed, 0.0, 0)?.attack {
            Some(Attack::Bft { fault, .. }) => vec![fault],
            _ => bail!("BFT attacks are equivocate, split-vote, amnesia and silent"),
        },
    };
    println!(
        "BFT, {n} validators, Byzantine {byz:?}, {k} seeds a row, {} heights a run{}",
        args.blocks,
        if args.hostile {
            "; each run draws latency 5-400 ms, jitter 0-400 ms, loss 0-25% and a cut of 1-40 s from its seed"
        } else {
            ""
        }
    );
    println!(
        "{:<28} {:>6} {:>22} {:>24} {:>18}",
        "fault", "runs", "conflicting decisions", "all honest decided all", "Byzantine jailed"
    );
    let row = |name: String, configs: &mut dyn FnMut(u64) -> Result<SimConfig>| -> Result<()> {
        let (mut conflicts, mut live, mut jailed) = (0u64, 0u64, 0u64);
        for seed in args.seed..args.seed.saturating_add(k) {
            let c = configs(seed)?;
            let bad = c.attack.as_ref().map(Attack::nodes).unwrap_or_default();
            let r = simulate(c, EventLog::sink())?;
            conflicts += u64::from(!r.conflicting_commits.is_empty());
            live += u64::from(
                (0..n)
                    .filter(|i| !bad.contains(i))
                    .all(|i| r.finalized[i] >= args.blocks),
            );
            jailed += u64::from(!bad.is_empty() && bad.iter().all(|b| r.jailed.contains(b)));
        }
        println!(
            "{name:<28} {k:>6} {conflicts:>22} {:>24} {:>18}",
            format!("{live}/{k}"),
            format!("{jailed}/{k}")
        );
        Ok(())
    };
    for fault in faults {
        let name = format!("{} x{}", fault.name(), byz.len());
        row(name, &mut |seed| {
            let mut c = if args.hostile {
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
    if over < n {
        row(format!("split-vote x{over}, honest cut"), &mut |seed| {
            Ok(SimConfig::split_brain_bft(n, over, seed, args.blocks))
        })?;
    }
    println!("(the last row is beyond the bound: f+1 = {over} of {n} Byzantine)");
    Ok(())
}
