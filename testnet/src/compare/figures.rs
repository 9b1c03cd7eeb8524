//! The figures of one run, real or simulated, from its outcome and its event
//! stream: finality latency, block rate, reorgs over time, the attacker's
//! share of the resource and of the blocks, what it gained and what it cost
//! it, the honest nodes' losses, and the invariants.

use crate::scenario::check::{Seen, What};
use crate::scenario::{Outcome, Scenario, Verdict};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Blocks on top for a block of proof of work or authority to count as final.
pub const DEPTH: u64 = 6;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Figures {
    pub source: String,
    pub duration_s: f64,
    /// The first honest node's main chain at the end.
    pub height: u64,
    pub blocks_per_s: f64,
    /// Each block of the final main chain: ms from its first sighting to its
    /// finality on the first honest node (BFT: decided; proof of stake: a
    /// finalized checkpoint at or above it; otherwise 6 blocks deep).
    pub finality_ms: Vec<u64>,
    /// Reorgs of honest nodes: seconds from the start, depth.
    pub reorgs: Vec<(f64, u64)>,
    /// Distinct blocks seen, and the share of them off the final main chain.
    pub blocks_seen: u64,
    pub orphan_rate: f64,
    /// The Byzantine nodes' share of the deciding resource (hash power,
    /// stake, authority seats), and of the main chain's blocks.
    pub attacker_resource: f64,
    pub attacker_blocks: f64,
    /// Its share of all blocks seen (on the main chain or not).
    pub attacker_produced: f64,
    /// Two honest nodes decided or finalized different blocks (or held
    /// different chains 6 deep at the end).
    pub safety_broken: bool,
    /// A private fork's payment reverted.
    pub payment_reverted: Option<bool>,
    /// The attack's cost: the share of the attacker's resource it lost
    /// (stake jailed, seats voted out) and its blocks left off the main chain.
    pub attacker_cost: f64,
    /// Proof of work: the hash power the attacker spent, in seconds of the
    /// whole network's hash rate (its share times the run's length).
    pub attacker_hash_s: f64,
    /// Its gain: blocks beyond its share, plus a reverted payment (1).
    pub attacker_gain: f64,
    /// A censoring cartel's victims' transfers kept off the main chain,
    /// beyond everyone else's (none: no censor, or no workload).
    pub censored: Option<f64>,
    /// Honest blocks left off the main chain, as a share of the honest blocks.
    pub honest_orphaned: f64,
    pub honest_jailed: usize,
    /// The run's always-on checks: name and whether it held.
    pub invariants: Vec<(String, bool)>,
    /// Messages the nodes sent for each block of the main chain.
    pub messages_per_block: Option<f64>,
}

fn attackers(s: &Scenario) -> Vec<usize> {
    let honest = s.honest();
    (0..s.nodes.len()).filter(|i| !honest.contains(i)).collect()
}

/// The Byzantine nodes' share of the deciding resource: a twin holds the key
/// (and stake or seat) of the node it copies, so it adds none.
pub fn attacker_resource(s: &Scenario) -> f64 {
    let bad = attackers(s);
    let validators: Vec<usize> = (0..s.nodes.len())
        .filter(|i| s.nodes[*i].twin_of.is_none())
        .collect();
    let counted: Vec<usize> = bad
        .iter()
        .map(|i| s.nodes[*i].twin_of.unwrap_or(*i))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // One seat, one vote, whatever the stake.
    if s.consensus == "poa" || s.consensus == "pbft" {
        return counted.len() as f64 / validators.len().max(1) as f64;
    }
    let total: f64 = validators.iter().map(|i| s.nodes[*i].weight).sum();
    counted.iter().map(|i| s.nodes[*i].weight).sum::<f64>() / total.max(f64::MIN_POSITIVE)
}

/// The first honest node's chain at the end, as its events built it:
/// height to hash.
fn final_chain(events: &[Seen], r: usize) -> BTreeMap<u64, String> {
    let mut chain: BTreeMap<u64, String> = BTreeMap::new();
    for e in events.iter().filter(|e| e.node == r) {
        if let What::Block {
            hash,
            height,
            imported,
            ..
        } = &e.what
        {
            if *imported {
                chain.split_off(height);
                chain.insert(*height, hash.clone());
            }
        }
    }
    chain
}

pub fn figures(s: &Scenario, o: &Outcome, verdicts: &[Verdict], events: &[Seen]) -> Figures {
    let honest = s.honest();
    let r = honest.first().copied().unwrap_or(0);
    // Node clocks differ by a few ms, so the log is not strictly in order.
    let t0 = events.iter().map(|e| e.t_ms).min().unwrap_or(0);
    let t1 = events.iter().map(|e| e.t_ms).max().unwrap_or(0);
    // What a node reports producing may be its template before the seal (or,
    // on BFT, a proposal, not the decided block with its commit): blocks are
    // known by their imports. A block's first import is its producer's, at
    // once; a BFT height's clock starts at its first proposal.
    let bft = ["bft", "pbft"].contains(&s.consensus.as_str());
    let mut created: HashMap<&str, u64> = HashMap::new();
    let mut proposed: HashMap<u64, u64> = HashMap::new();
    let mut height_of: HashMap<&str, u64> = HashMap::new();
    let mut producer_of: HashMap<&str, usize> = HashMap::new();
    for e in events {
        if let What::Block {
            hash,
            height,
            imported,
            timestamp_ms,
        } = &e.what
        {
            if !imported {
                proposed.entry(*height).or_insert(e.t_ms);
                continue;
            }
            // A real node's event carries the block's timestamp: the clock
            // starts when its producer built it.
            // (Not on proof of work: its header time is the template's,
            // from before the mining.)
            let start = match timestamp_ms {
                Some(t) if s.consensus != "pow" => (*t).min(e.t_ms),
                _ => e.t_ms,
            };
            created.entry(hash).or_insert(start);
            height_of.insert(hash, *height);
            producer_of.entry(hash).or_insert(e.node);
        }
    }
    let chain = final_chain(events, r);
    // When each height of the first honest node's chain became final there.
    let mut final_at: BTreeMap<u64, (String, u64)> = BTreeMap::new();
    let mut mine: BTreeMap<u64, String> = BTreeMap::new();
    for e in events.iter().filter(|e| e.node == r) {
        let upto = match &e.what {
            What::Block {
                imported: false, ..
            } => None,
            What::Block { hash, height, .. } => {
                mine.split_off(height);
                mine.insert(*height, hash.clone());
                match s.consensus.as_str() {
                    "bft" | "pbft" => Some(*height),
                    "pos" | "dpos" => None,
                    _ => height.checked_sub(DEPTH - 1),
                }
            }
            What::Finalized { hash } if ["pos", "dpos"].contains(&s.consensus.as_str()) => {
                height_of.get(hash.as_str()).copied()
            }
            _ => None,
        };
        if let Some(upto) = upto.filter(|u| *u >= 1) {
            for (h, hash) in mine.range(1..=upto) {
                final_at.entry(*h).or_insert((hash.clone(), e.t_ms));
            }
        }
    }
    let finality_ms: Vec<u64> = final_at
        .iter()
        .filter(|(h, (hash, _))| chain.get(h) == Some(hash))
        .filter_map(|(h, (hash, t))| {
            let made = created.get(hash.as_str()).copied();
            let start = if bft {
                match (proposed.get(h).copied(), made) {
                    (Some(p), Some(m)) => Some(p.min(m)),
                    (p, m) => p.or(m),
                }
            } else {
                made
            };
            Some(t.saturating_sub(start?))
        })
        .collect();
    let reorgs: Vec<(f64, u64)> = events
        .iter()
        .filter(|e| honest.contains(&e.node))
        .filter_map(|e| match e.what {
            What::Reorg { depth } => Some((e.t_ms.saturating_sub(t0) as f64 / 1000.0, depth)),
            _ => None,
        })
        .collect();
    let on_chain: std::collections::HashSet<&str> = chain.values().map(String::as_str).collect();
    let blocks_seen = created.len() as u64;
    let orphans = created.keys().filter(|h| !on_chain.contains(*h)).count();
    let bad = attackers(s);
    let resource = attacker_resource(s);
    let blocks: f64 = bad.iter().filter_map(|i| o.shares.get(*i)).sum();
    let (mut own, mut own_orphaned, mut fair, mut fair_orphaned) = (0u64, 0u64, 0u64, 0u64);
    for (hash, node) in &producer_of {
        let off = !on_chain.contains(hash);
        if bad.contains(node) {
            own += 1;
            own_orphaned += u64::from(off);
        } else {
            fair += 1;
            fair_orphaned += u64::from(off);
        }
    }
    let lost_resource = {
        let lost = bad
            .iter()
            .map(|i| s.nodes[*i].twin_of.unwrap_or(*i))
            .filter(|i| o.jailed.contains(i) || o.voted_out.contains(i))
            .count();
        lost as f64 / bad.len().max(1) as f64
    };
    let wasted = own_orphaned as f64 / own.max(1) as f64;
    let reverted = o.double_spend == Some(true);
    let duration_s = (t1.saturating_sub(t0)) as f64 / 1000.0;
    let height = chain.keys().last().copied().unwrap_or(0);
    Figures {
        source: o.source.clone(),
        duration_s,
        height,
        blocks_per_s: if duration_s > 0.0 {
            height as f64 / duration_s
        } else {
            0.0
        },
        finality_ms,
        reorgs,
        blocks_seen,
        orphan_rate: orphans as f64 / blocks_seen.max(1) as f64,
        attacker_resource: resource,
        attacker_blocks: blocks,
        attacker_produced: own as f64 / (own + fair).max(1) as f64,
        safety_broken: !o.conflicts.is_empty(),
        payment_reverted: o.double_spend,
        attacker_cost: if bad.is_empty() {
            0.0
        } else {
            lost_resource.max(wasted)
        },
        attacker_hash_s: if s.consensus == "pow" {
            resource * duration_s
        } else {
            0.0
        },
        attacker_gain: if bad.is_empty() {
            0.0
        } else {
            (blocks - resource).max(0.0) + f64::from(u8::from(reverted)) + o.censored.unwrap_or(0.0)
        },
        censored: o.censored,
        honest_orphaned: fair_orphaned as f64 / fair.max(1) as f64,
        honest_jailed: {
            // A node whose key a twin holds signs twice: not an honest loss.
            let cloned: Vec<usize> = s.nodes.iter().filter_map(|n| n.twin_of).collect();
            honest
                .iter()
                .filter(|i| o.jailed.contains(i) && !cloned.contains(i))
                .count()
        },
        invariants: verdicts
            .iter()
            .filter(|v| v.expectation.ends_with("(always)"))
            .map(|v| (v.expectation.replace(" (always)", ""), v.passed))
            .collect(),
        messages_per_block: o
            .messages
            .filter(|_| height > 0)
            .map(|m| m as f64 / height as f64),
    }
}
