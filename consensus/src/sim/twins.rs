//! Twins (Bano, Sonnino, Chursin, Perelman and Malkhi, "Twins: BFT Systems
//! Made Robust", OPODIS 2021): a Byzantine validator played by two honest
//! nodes that hold one key, with the network partitioned round by round from
//! a small set. Every scenario of R rounds is one choice of partition a
//! round; enumerating them all tests safety with no attack written by hand
//! (the twins equivocate as soon as they are apart and each is asked to sign).
//!
//! Here: four validators and node 4, a twin with no stake of its own. On
//! BFT it holds node 3's key; on PBFT the key of the primary of view 0 (the
//! lowest key: a PBFT primary keeps its view, so only a twinned primary ever
//! has two blocks to order), and the partitions name that node where they
//! name 3.

use super::config::{Attack, Kind, NetChange, SimConfig};
use crate::engine::NodeId;

/// Nodes of a twins run: four validators and the twin.
pub const TWIN_NODES: usize = 5;

/// The partitions a round picks from: all together, and cuts that set the
/// twins (3 and 4) apart, each side with or without a quorum of keys.
pub fn partitions() -> Vec<Vec<Vec<NodeId>>> {
    vec![
        vec![(0..TWIN_NODES).collect()],
        vec![vec![0, 1, 3], vec![2, 4]],
        vec![vec![0, 3], vec![1, 2, 4]],
        vec![vec![1, 3], vec![0, 2, 4]],
        vec![vec![0, 1, 2, 3], vec![4]],
    ]
}

/// The validator whose key the twin holds.
pub fn twinned(kind: Kind) -> NodeId {
    if kind != Kind::Pbft {
        return 3;
    }
    (0..4)
        .min_by_key(|i| super::node_key(*i).public())
        .unwrap_or(3)
}

/// How many scenarios `rounds` rounds make.
pub fn count(rounds: u32) -> u64 {
    (partitions().len() as u64).saturating_pow(rounds)
}

/// Scenario `index` of `rounds` rounds: each round's partition, the digits of
/// `index` in base |partitions|.
pub fn scenario(index: u64, rounds: u32) -> Vec<usize> {
    let base = partitions().len() as u64;
    let mut x = index;
    (0..rounds)
        .map(|_| {
            let d = x % base;
            x /= base;
            d as usize
        })
        .collect()
}

impl SimConfig {
    /// A twins run of BFT or PBFT: the partitions of `choice`, one every
    /// `round_ms`, then the network heals and the run goes on to `blocks`.
    pub fn twins(kind: Kind, choice: &[usize], round_ms: u64, seed: u64, blocks: u64) -> SimConfig {
        let held = twinned(kind);
        let swap = |n: NodeId| match n {
            3 => held,
            n if n == held => 3,
            n => n,
        };
        let mut c = if kind == Kind::Pbft {
            SimConfig::pbft(TWIN_NODES, seed, blocks)
        } else {
            SimConfig::bft(TWIN_NODES, seed, blocks)
        };
        c.stakes = vec![100, 100, 100, 100, 0];
        c.attack = Some(Attack::Clone {
            node: held,
            twin: 4,
        });
        let parts = partitions();
        let mut at = 0;
        for p in choice {
            let change = match parts.get(*p) {
                Some(groups) if groups.len() > 1 => NetChange::Cut(
                    groups
                        .iter()
                        .map(|g| g.iter().map(|n| swap(*n)).collect())
                        .collect(),
                ),
                _ => NetChange::Heal,
            };
            c.schedule.push((at, change));
            at += round_ms;
        }
        c.schedule.push((at, NetChange::Heal));
        c
    }
}
