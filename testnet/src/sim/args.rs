//! The `sim` flags (`SimArgs`, `AttackKind`) and the parsers of their
//! `SECONDS:VALUE`, `A-B:MS[:MS[:LOSS]]` and `0,1/2,3` values.

use anyhow::{Context, Result};
use generals_consensus::sim::NetConfig;
use std::path::PathBuf;

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
    /// BFT: validators (--colluders) that never propose nor vote. DPoS:
    /// producers (--colluders, or --attacker) gone offline.
    Silent,
    /// Proof of authority: authorities (--colluders) that vote the others out
    /// and censor the workload's first --censor accounts. DPoS: a cartel of
    /// producers (--colluders) that builds only on its own blocks and censors.
    Collude,
    /// Proof of authority: node --twin runs with node --attacker's key.
    Clone,
    /// Proof of stake: node --twin (no stake, usually --late) holds the key
    /// of validator --attacker, who has left, and rebuilds history from
    /// genesis with it (the long-range attack).
    LongRange,
    /// Proof of stake: validators (--colluders) that propose and attest on
    /// every fork head they see.
    NothingAtStake,
    /// PBFT: replicas (--colluders) that never order a block and claim, in
    /// each view change, a prepared block they cannot prove.
    LieViewChange,
}

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Consensus kind: pow, poa, pos, bft or dpos.
    #[arg(long, default_value = "pow")]
    pub(super) consensus: String,
    /// Proof of stake: each node's bonded stake, e.g. 40,30,20,10 (100 each if
    /// left out).
    #[arg(long, value_delimiter = ',')]
    pub(super) stakes: Vec<u64>,
    /// Proof of stake: slot length in ms, and slots per epoch.
    #[arg(long, default_value_t = 4_000)]
    pub(super) slot_ms: u64,
    #[arg(long, default_value_t = 8)]
    pub(super) epoch_slots: u64,
    /// DPoS: how many delegates produce (all nodes if left out); slots are
    /// --slot-ms long.
    #[arg(long)]
    pub(super) producers: Option<u64>,
    /// Proof of stake and BFT: evidence costs nothing (the genesis slashing
    /// switch off).
    #[arg(long)]
    pub(super) no_slashing: bool,
    /// BFT with --seeds: draw each run's latency, jitter, loss and a healing
    /// cut from its seed (off: the --latency-ms, --jitter-ms, --loss and
    /// --cut given).
    #[arg(long)]
    pub(super) hostile: bool,
    /// PBFT: the quorum, `2f+1` (the default) or `f+1` (Byzantine Paxos's
    /// counter-example: two halves can decide different blocks).
    #[arg(long)]
    pub(super) quorum: Option<String>,
    /// BFT and PBFT: run every Twins scenario of this many rounds (node 4
    /// holds node 3's key; each round one of five partitions), --seeds each.
    #[arg(long)]
    pub(super) twins: Option<u32>,
    /// Every engine with each of its attacks, at most f < n/3 Byzantine, at
    /// 4 and 7 nodes: --seeds runs each (100 if left out) on every core, and
    /// the conflicting decisions, finalized heights and seeds per second.
    #[arg(long)]
    pub(super) safety: bool,
    /// Number of nodes.
    #[arg(long, default_value_t = 4)]
    pub(super) nodes: usize,
    /// Seed of the run (the first of the runs, with --seeds).
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Mining stops when the chain reaches this height.
    #[arg(long, default_value_t = 100)]
    pub(super) blocks: u64,
    /// Hash power of each node, e.g. 40,30,20,10 (equal if left out).
    #[arg(long, value_delimiter = ',')]
    pub(super) hashpower: Vec<f64>,
    /// Link latency, jitter (uniform extra) in ms, and loss probability.
    #[arg(long, default_value_t = 100)]
    pub(super) latency_ms: u64,
    #[arg(long, default_value_t = 50)]
    pub(super) jitter_ms: u64,
    #[arg(long, default_value_t = 0.0)]
    pub(super) loss: f64,
    /// Target block interval in ms.
    #[arg(long, default_value_t = 10_000)]
    pub(super) target_ms: u64,
    /// Cut the network at a time into groups: SECONDS:0,1/2,3 (repeatable).
    #[arg(long, value_name = "SECONDS:GROUPS")]
    pub(super) cut: Vec<String>,
    /// Isolate a node at a time: SECONDS:NODE (repeatable).
    #[arg(long, value_name = "SECONDS:NODE")]
    pub(super) isolate: Vec<String>,
    /// Crash and restart a node at a time: SECONDS:NODE (repeatable). Its
    /// engine comes back from the signing record it persisted.
    #[arg(long, value_name = "SECONDS:NODE")]
    pub(super) restart: Vec<String>,
    /// Restarted nodes come back without their signing record, as if it were
    /// lost (with BFT or proof of stake they may sign twice and be slashed).
    #[arg(long)]
    pub(super) lose_record: bool,
    /// Heal every cut at a time in seconds (repeatable).
    #[arg(long, value_name = "SECONDS")]
    pub(super) heal: Vec<u64>,
    /// A link with its own latency, jitter and loss: A-B:LATENCY_MS[:JITTER_MS[:LOSS]]
    /// (repeatable), e.g. 0-3:800:100:0.1.
    #[arg(long, value_name = "A-B:MS[:MS[:LOSS]]")]
    pub(super) link: Vec<String>,
    /// Multiply the total hash power at a time: SECONDS:FACTOR (repeatable).
    #[arg(long, value_name = "SECONDS:FACTOR")]
    pub(super) hashpower_change: Vec<String>,
    /// Transfers per second from the workload.
    #[arg(long, default_value_t = 0.0)]
    pub(super) tps: f64,
    /// Make one node an attacker.
    #[arg(long, value_enum)]
    pub(super) attack: Option<AttackKind>,
    /// Which node attacks.
    #[arg(long, default_value_t = 0)]
    pub(super) attacker: usize,
    /// Private fork: blocks the merchant waits on the payment (a list with --seeds).
    #[arg(long, value_delimiter = ',', default_values_t = vec![2u64])]
    pub(super) confirmations: Vec<u64>,
    /// Private fork: the public lead at which the attacker gives up.
    #[arg(long, default_value_t = 30)]
    pub(super) give_up: u64,
    /// Private fork: the height at which the attacker pays.
    #[arg(long, default_value_t = 5)]
    pub(super) pay_at: u64,
    /// Selfish mining: share of honest nodes that hear the attacker first in a tie.
    #[arg(long, default_value_t = 0.5)]
    pub(super) gamma: f64,
    /// Proof of authority: how many of the nodes are authorities (default all).
    #[arg(long)]
    pub(super) authorities: Option<usize>,
    /// Proof of authority: the block period in ms.
    #[arg(long, default_value_t = 5_000)]
    pub(super) period_ms: u64,
    /// Collude and nothing-at-stake: the misbehaving nodes (default 0,1,2 for
    /// collude, the last two nodes for nothing-at-stake).
    #[arg(long, value_delimiter = ',')]
    pub(super) colluders: Vec<usize>,
    /// Collude: how many workload accounts the colluders censor.
    #[arg(long, default_value_t = 2)]
    pub(super) censor: usize,
    /// Clone, long-range: the node that runs the attacker's key.
    #[arg(long, default_value_t = 1)]
    pub(super) twin: usize,
    /// Nodes away from the start (no engine, no links) until a scenario's
    /// join step starts them, e.g. 3,4,5.
    #[arg(long, value_delimiter = ',')]
    pub(super) late: Vec<usize>,
    /// Attacker hash-power shares to sweep with --seeds (and the share of a single
    /// attack run when --hashpower is left out).
    #[arg(long, value_delimiter = ',')]
    pub(super) shares: Vec<f64>,
    /// Run this many seeds and print aggregate tables.
    #[arg(long)]
    pub(super) seeds: Option<u64>,
    /// Where the JSONL event log goes (default sim-<kind>-<seed>.jsonl).
    #[arg(long)]
    pub(super) log: Option<PathBuf>,
    /// Write no event log.
    #[arg(long)]
    pub(super) no_log: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub(super) json: bool,
    /// Run a scenario file instead of the flags (with --seeds K: K seeds from
    /// the file's own); its report goes to --out.
    #[arg(long)]
    pub(super) scenario: Option<PathBuf>,
    /// With --scenario: the report's folder (scenario-NAME-sim if left out).
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
}

pub(super) fn parse_at<T: std::str::FromStr>(flag: &str, s: &str) -> Result<(u64, T)> {
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

pub(super) fn parse_link(s: &str) -> Result<(usize, usize, NetConfig)> {
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

pub(super) fn parse_groups(s: &str) -> Result<Vec<Vec<usize>>> {
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
