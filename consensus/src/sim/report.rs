//! The summary of a run: blocks, orphans, reorgs, intervals, each miner's share of
//! the main chain, convergence, and how an attack ended.

use super::config::{Attack, SimConfig};
use super::{node_key, Stats};
use crate::core::NodeCore;
use generals_chain::{BlockStore, Hash, MemoryStore, PublicKey};
use serde::Serialize;

/// How an attack ended.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttackOutcome {
    pub kind: String,
    pub attacker: usize,
    pub attacker_share: f64,
    /// Private fork: the merchant saw the payment confirmed, and in the end it
    /// is gone from the honest main chain and its double is there.
    pub double_spent: Option<bool>,
    /// The attacker's share of the honest main chain's blocks.
    pub main_chain_share: f64,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub seed: u64,
    pub nodes: usize,
    /// Height of the main chain of the reference (first honest) node.
    pub height: u64,
    pub produced: u64,
    /// Blocks each node produced.
    pub produced_by: Vec<u64>,
    /// Blocks produced that are not on the reference main chain.
    pub orphans: u64,
    pub reorgs: u64,
    pub max_reorg_depth: usize,
    pub mean_interval_ms: f64,
    /// Each node's share of the reference main chain's blocks.
    pub shares: Vec<f64>,
    /// Each node's share of the hash power.
    pub hashpower: Vec<f64>,
    /// Every honest node ended on the same tip.
    pub converged: bool,
    pub tips: Vec<Hash>,
    pub final_difficulty: u128,
    pub sim_time_ms: u64,
    pub messages: u64,
    pub lost: u64,
    pub attack: Option<AttackOutcome>,
    /// Proof of authority: the authorities at the reference node's tip, by node
    /// (`node-3`), and whether each is jailed by evidence.
    pub authorities: Vec<String>,
    pub jailed: Vec<usize>,
    /// Proof of stake and BFT: each node's newest finalized height.
    pub finalized: Vec<u64>,
    /// Heights at which two honest nodes decided different blocks (the safety
    /// checker; empty while no more than f validators are Byzantine): BFT and
    /// PBFT decisions, and other engines' finalized blocks.
    pub conflicting_commits: Vec<u64>,
    /// Each node's bonded stake and balance at the reference node's tip.
    pub bonded: Vec<u64>,
    pub balances: Vec<u64>,
    /// Proof of stake: slots in which a node's key sealed two or more blocks
    /// (on different forks, or twins), as its own fork tree holds them.
    pub double_slots: Vec<u64>,
    /// Each node's tip height.
    pub heights: Vec<u64>,
    /// Nodes whose main chain leaves the reference node's at or below the
    /// reference's finalized height, with the first height that differs (a
    /// node fooled by a long-range fork, or the attacker itself).
    pub forked: Vec<(usize, u64)>,
    /// The workload's transfers by sending wallet: taken by a node, and on
    /// the reference main chain at the end (a colluding cartel's censored
    /// wallets are the first ones).
    pub workload_sent: Vec<u64>,
    pub workload_included: Vec<u64>,
    /// The transactions the timeline had nodes sign, and whether each is on
    /// the reference node's main chain at the end.
    pub watched: Vec<WatchedTx>,
    /// Each node: a replay of its main chain from genesis gives every state
    /// root its headers name (`None`), or the error.
    pub replay_errors: Vec<Option<String>>,
}

/// A transaction the timeline had a node sign.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WatchedTx {
    pub node: usize,
    pub hash: Hash,
    /// The node took it into its mempool.
    pub accepted: bool,
    pub kept: bool,
}

/// For each node, the slots in which its own fork tree holds two or more blocks
/// sealed by its key.
fn double_slots(
    config: &SimConfig,
    cores: &[&NodeCore<MemoryStore>],
    keys: &[PublicKey],
) -> Vec<u64> {
    if config.kind != super::config::Kind::Pos {
        return vec![0; keys.len()];
    }
    let count = |i: usize| {
        let core = cores[i];
        let mut per_slot = std::collections::BTreeMap::<u64, u32>::new();
        for n in core.tree().nodes() {
            let Some(h) = core.ledger().store().header(&n.hash).ok().flatten() else {
                continue;
            };
            if h.producer == keys[i] {
                *per_slot
                    .entry(crate::pos::engine::PosEngine::slot_of(&h))
                    .or_default() += 1;
            }
        }
        per_slot.values().filter(|c| **c > 1).count() as u64
    };
    (0..keys.len()).map(count).collect()
}

/// Heights at which two honest nodes' decisions differ. BFT and PBFT: what
/// each engine decided and what each node's chain holds (blocks taken from
/// commit certificates while syncing). Other engines: each node's main chain
/// up to the height it holds final (none, for proof of work and authority).
fn conflicting_commits(
    config: &SimConfig,
    cores: &[&NodeCore<MemoryStore>],
    stats: &Stats,
    attackers: &[usize],
) -> Vec<u64> {
    let bft = matches!(
        config.kind,
        super::config::Kind::Bft | super::config::Kind::Pbft
    );
    let finals = finalized(cores, stats);
    let mut decided: std::collections::BTreeMap<u64, Hash> = Default::default();
    let mut conflicts = std::collections::BTreeSet::new();
    for (i, commits) in stats.commits.iter().enumerate() {
        if attackers.contains(&i) {
            continue;
        }
        let store = cores[i].ledger().store();
        let upto = if bft {
            cores[i].tip().height
        } else {
            finals[i].min(cores[i].tip().height)
        };
        let chain = (1..=upto).filter_map(|h| Some((h, store.hash_at(h).ok().flatten()?)));
        let commits = commits.iter().filter(|_| bft).map(|(h, x)| (*h, *x));
        for (h, hash) in commits.chain(chain) {
            if *decided.entry(h).or_insert(hash) != hash {
                conflicts.insert(h);
            }
        }
    }
    conflicts.into_iter().collect()
}

/// Each node's newest final height: what its engine finalized, or what its
/// chain took as final from commit certificates.
fn finalized(cores: &[&NodeCore<MemoryStore>], stats: &Stats) -> Vec<u64> {
    cores
        .iter()
        .zip(&stats.finalized)
        .map(|(c, f)| {
            let core_final = c
                .finalized()
                .and_then(|h| c.tree().get(&h))
                .map_or(0, |n| n.height);
            core_final.max(*f)
        })
        .collect()
}

/// The authorities at a node's tip (proof of authority), by node number.
pub fn authority_nodes(config: &SimConfig, core: &NodeCore<MemoryStore>) -> Vec<usize> {
    if config.kind != super::config::Kind::Poa {
        return Vec::new();
    }
    let genesis = super::sim_genesis(config);
    let Ok(block) = genesis.block() else {
        return Vec::new();
    };
    let engine = crate::poa::PoaEngine::new(
        config.poa,
        super::CHAIN_ID,
        &block.header,
        (0..config.authorities)
            .map(|a| node_key(a).public())
            .collect(),
        node_key(0),
        0,
    );
    let tip = core.ledger().tip_header().clone();
    let Ok(snap) = engine.snapshot(&tip, core.ledger().store()) else {
        return Vec::new();
    };
    (0..config.nodes)
        .filter(|i| snap.signers.contains(&node_key(*i).public()))
        .collect()
}

fn authorities(config: &SimConfig, core: &NodeCore<MemoryStore>) -> Vec<String> {
    authority_nodes(config, core)
        .into_iter()
        .map(|i| format!("node-{i}"))
        .collect()
}

pub(super) fn summarize(
    config: &SimConfig,
    cores: &[&NodeCore<MemoryStore>],
    stats: &Stats,
    attack_txs: Option<(Hash, Hash)>,
    now: u64,
    genesis: &generals_chain::Genesis,
) -> SimReport {
    let attackers = config
        .attack
        .as_ref()
        .map(Attack::nodes)
        .unwrap_or_default();
    let reference = (0..cores.len())
        .find(|i| !attackers.contains(i))
        .unwrap_or(0);
    let ledger = cores[reference].ledger();
    let height = ledger.tip().height;
    let keys: Vec<PublicKey> = (0..cores.len()).map(|i| node_key(i).public()).collect();
    let mut watched: Vec<WatchedTx> = stats
        .watched
        .iter()
        .map(|(node, hash, accepted)| WatchedTx {
            node: *node,
            hash: *hash,
            accepted: *accepted,
            kept: false,
        })
        .collect();
    let wallets: Vec<PublicKey> = (0..stats.workload_sent.len())
        .map(|i| generals_chain::Keypair::dev(&format!("sim-account-{i}")).public())
        .collect();
    let mut included = vec![0u64; wallets.len()];
    let mut counts = vec![0u64; cores.len()];
    let mut paid = false;
    let mut doubled = false;
    for h in 1..=height {
        let Some(block) = ledger.block_at(h).ok().flatten() else {
            continue;
        };
        if let Some(i) = keys.iter().position(|k| *k == block.header.producer) {
            counts[i] += 1;
        }
        for tx in &block.transactions {
            let id = tx.hash();
            if let Some(w) = wallets.iter().position(|k| *k == tx.body.sender) {
                included[w] += 1;
            }
            if let Some((payment, double)) = attack_txs {
                paid |= id == payment;
                doubled |= id == double;
            }
            if let Some(w) = watched.iter_mut().find(|w| w.hash == id) {
                w.kept = true;
            }
        }
    }
    let shares: Vec<f64> = counts
        .iter()
        .map(|c| {
            if height == 0 {
                0.0
            } else {
                *c as f64 / height as f64
            }
        })
        .collect();
    let tip_header = ledger.tip_header();
    let genesis_time = ledger
        .store()
        .header(&ledger.genesis_hash())
        .ok()
        .flatten()
        .map_or(tip_header.timestamp_ms, |g| g.timestamp_ms);
    let mean_interval_ms = if height == 0 {
        0.0
    } else {
        (tip_header.timestamp_ms - genesis_time) as f64 / height as f64
    };
    let tips: Vec<Hash> = cores.iter().map(|c| c.tip().hash).collect();
    let produced: u64 = stats.produced.iter().sum();
    let hashpower = config.shares();
    let final_difficulty = crate::pow::PowData::decode(&tip_header.consensus)
        .map(|d| d.difficulty)
        .unwrap_or(config.pow.initial_difficulty as u128);
    let attack = config.attack.as_ref().map(|a| {
        let node = a.node();
        AttackOutcome {
            kind: match a {
                Attack::PrivateFork { .. } => "private-fork".into(),
                Attack::Selfish { .. } => "selfish".into(),
                Attack::Equivocate { .. } => "equivocate".into(),
                Attack::Collude { .. } => "collude".into(),
                Attack::Clone { .. } => "clone".into(),
                Attack::NothingAtStake { .. } => "nothing-at-stake".into(),
                Attack::Bft { fault, .. } => fault.name().into(),
                Attack::LongRange { .. } => "long-range".into(),
            },
            attacker: node,
            attacker_share: hashpower[node],
            double_spent: match a {
                Attack::PrivateFork { .. } => Some(doubled && !paid),
                _ => None,
            },
            main_chain_share: shares[node],
        }
    });
    SimReport {
        seed: config.seed,
        nodes: cores.len(),
        height,
        produced,
        produced_by: stats.produced.clone(),
        orphans: produced.saturating_sub(height),
        reorgs: stats.reorgs,
        max_reorg_depth: stats.max_reorg_depth,
        mean_interval_ms,
        shares,
        hashpower,
        converged: tips
            .iter()
            .enumerate()
            .filter(|(i, _)| !attackers.contains(i))
            .all(|(_, t)| *t == tips[reference]),
        authorities: authorities(config, cores[reference]),
        finalized: finalized(cores, stats),
        conflicting_commits: conflicting_commits(config, cores, stats, &attackers),
        jailed: (0..cores.len())
            .filter(|i| ledger.state().get(&keys[*i]).is_some_and(|a| a.jailed))
            .collect(),
        bonded: keys
            .iter()
            .map(|k| ledger.state().get(k).map_or(0, |a| a.bonded + a.unbonding))
            .collect(),
        balances: keys
            .iter()
            .map(|k| ledger.state().get(k).map_or(0, |a| a.balance))
            .collect(),
        double_slots: double_slots(config, cores, &keys),
        heights: cores.iter().map(|c| c.tip().height).collect(),
        forked: forked(cores, reference, stats.finalized[reference]),
        workload_sent: stats.workload_sent.clone(),
        workload_included: included,
        watched,
        replay_errors: cores
            .iter()
            .map(|c| c.ledger().replay(genesis).err().map(|e| e.to_string()))
            .collect(),
        tips,
        final_difficulty,
        sim_time_ms: now,
        messages: stats.messages,
        lost: stats.lost,
        attack,
    }
}

/// The nodes whose main chain departs from `reference`'s at or below height
/// `finalized`, with the first height that differs.
fn forked<S: generals_chain::BlockStore>(
    cores: &[&NodeCore<S>],
    reference: usize,
    finalized: u64,
) -> Vec<(usize, u64)> {
    let at = |i: usize, h: u64| cores[i].ledger().store().hash_at(h).ok().flatten();
    (0..cores.len())
        .filter(|i| *i != reference)
        .filter_map(|i| {
            let top = finalized.min(cores[i].tip().height);
            // One block names its whole ancestry: equal at `top`, equal below.
            if top == 0 || at(i, top) == at(reference, top) {
                return None;
            }
            // The first height that differs, by bisection (equal below it).
            let (mut lo, mut hi) = (0, top);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if at(i, mid) == at(reference, mid) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            Some((i, hi))
        })
        .collect()
}
