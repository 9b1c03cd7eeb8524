//! Staged runs of the voting engines: hostile networks drawn from the seed,
//! and the split-brain schedules that go past the 3f+1 bound.

use super::config::{Attack, BftFault, NetChange, NetConfig, SimConfig};
use crate::engine::NodeId;

impl SimConfig {
    /// BFT under attack: `byz` validators with `fault`, on a network whose
    /// latency (5-400 ms), jitter (0-400 ms) and loss (0-25%) are drawn from
    /// the seed, cut in two random groups for 1-40 s within the first 20 s,
    /// then healed.
    pub fn hostile_bft(
        nodes: usize,
        fault: BftFault,
        byz: Vec<NodeId>,
        seed: u64,
        blocks: u64,
    ) -> SimConfig {
        let mut c = SimConfig::bft(nodes, seed, blocks);
        c.attack = Some(Attack::Bft { fault, nodes: byz });
        c.hostile_net(seed);
        c
    }

    /// The same for PBFT.
    pub fn hostile_pbft(
        nodes: usize,
        fault: BftFault,
        byz: Vec<NodeId>,
        seed: u64,
        blocks: u64,
    ) -> SimConfig {
        let mut c = SimConfig::pbft(nodes, seed, blocks);
        c.attack = Some(Attack::Bft { fault, nodes: byz });
        c.hostile_net(seed);
        c
    }

    /// Latency, jitter and loss drawn from the seed, and a cut in two random
    /// groups for 1-40 s within the first 20 s, then healed.
    fn hostile_net(&mut self, seed: u64) {
        use rand::{seq::SliceRandom, Rng, SeedableRng};
        let nodes = self.nodes;
        let c = self;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        c.net = NetConfig {
            latency_ms: rng.gen_range(5..400),
            jitter_ms: rng.gen_range(0..400),
            loss: rng.gen_range(0.0..0.25),
        };
        let mut order: Vec<usize> = (0..nodes).collect();
        order.shuffle(&mut rng);
        let k = rng.gen_range(1..nodes.max(2));
        let (a, b) = order.split_at(k.min(nodes));
        let start = rng.gen_range(0..20_000);
        let end = start + rng.gen_range(1_000..40_000);
        c.schedule = vec![
            (start, NetChange::Cut(vec![a.to_vec(), b.to_vec()])),
            (end, NetChange::Heal),
        ];
    }

    /// PBFT's staged schedule: `colluders` replicas, the first of them the
    /// primary of view 0, the honest replicas cut into two halves that only the
    /// colluders bridge; the primary pre-prepares a different block to each
    /// half. With 2f+1 quorums and at most f colluders, one half at most
    /// decides; with f+1 colluders, or with `quorum` f+1, both do.
    pub fn split_brain_pbft(
        nodes: usize,
        colluders: usize,
        quorum: generals_chain::genesis::Quorum,
        seed: u64,
        blocks: u64,
    ) -> SimConfig {
        let mut c = SimConfig::pbft(nodes, seed, blocks);
        c.pbft.quorum = quorum;
        // Replicas take turns as primary in the order of their keys.
        let mut order: Vec<usize> = (0..nodes).collect();
        order.sort_by_key(|i| super::node_key(*i).public());
        let byz: Vec<usize> = order.iter().take(colluders).copied().collect();
        let honest: Vec<usize> = (0..nodes).filter(|i| !byz.contains(i)).collect();
        let (a, b) = honest.split_at(honest.len() / 2);
        c.schedule = vec![(
            0,
            NetChange::Cut(vec![
                a.iter().chain(&byz).copied().collect(),
                b.iter().chain(&byz).copied().collect(),
            ]),
        )];
        c.attack = Some(Attack::Bft {
            fault: BftFault::SplitVote,
            nodes: byz,
        });
        c
    }

    /// Beyond the bound: `f + 1` colluding split voters of `nodes`, with the
    /// honest validators cut into two halves that only the colluders bridge.
    pub fn split_brain_bft(nodes: usize, colluders: usize, seed: u64, blocks: u64) -> SimConfig {
        let mut c = SimConfig::bft(nodes, seed, blocks);
        let byz: Vec<usize> = (nodes.saturating_sub(colluders)..nodes).collect();
        let honest: Vec<usize> = (0..nodes.saturating_sub(colluders)).collect();
        let (a, b) = honest.split_at(honest.len() / 2);
        c.schedule = vec![(
            0,
            NetChange::Cut(vec![
                a.iter().chain(&byz).copied().collect(),
                b.iter().chain(&byz).copied().collect(),
            ]),
        )];
        c.attack = Some(Attack::Bft {
            fault: BftFault::SplitVote,
            nodes: byz,
        });
        c
    }
}
