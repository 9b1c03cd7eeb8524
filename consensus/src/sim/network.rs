//! The simulated network: every node linked to every other, each link with its
//! latency, jitter and loss (one default, and overrides per link); partitions that
//! cut or isolate; and, where an attack asks for it, a network proxy (the selfish
//! miner's `Rush`) that changes the delays of the attacker's messages.

use super::config::{NetChange, NetConfig};
use crate::byzantine::Rush;
use crate::engine::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Network {
    config: NetConfig,
    /// Links with their own latency, jitter and loss, by (lower, higher) node.
    links: BTreeMap<(NodeId, NodeId), NetConfig>,
    /// The groups of each node while the network is cut (a node in two groups
    /// bridges them).
    groups: Option<Vec<Vec<usize>>>,
    isolated: Vec<bool>,
    rush: Option<Rush>,
}

impl Network {
    pub fn new(
        nodes: usize,
        config: NetConfig,
        links: &[(NodeId, NodeId, NetConfig)],
        rush: Option<Rush>,
    ) -> Network {
        Network {
            config,
            links: links
                .iter()
                .map(|(a, b, c)| ((*a.min(b), *a.max(b)), c.clone()))
                .collect(),
            groups: None,
            isolated: vec![false; nodes],
            rush,
        }
    }

    pub fn connected(&self, a: NodeId, b: NodeId) -> bool {
        if self.isolated[a] || self.isolated[b] {
            return false;
        }
        match &self.groups {
            Some(g) => g[a].iter().any(|x| g[b].contains(x)),
            None => true,
        }
    }

    pub fn apply(&mut self, change: &NetChange) {
        match change {
            NetChange::Cut(groups) => {
                // A node named in no group hears no one; one named in two hears both.
                let mut g = vec![Vec::new(); self.isolated.len()];
                for (i, group) in groups.iter().enumerate() {
                    for n in group {
                        g[*n].push(i);
                    }
                }
                self.groups = Some(g);
            }
            NetChange::Isolate(n) => self.isolated[*n] = true,
            NetChange::Rejoin(n) | NetChange::Join { node: n, .. } => self.isolated[*n] = false,
            NetChange::Heal => {
                self.groups = None;
                self.isolated.iter_mut().for_each(|x| *x = false);
            }
            NetChange::Link { a, b, net } => {
                self.links.insert((*a.min(b), *a.max(b)), net.clone());
            }
            NetChange::HashPower(_)
            | NetChange::Propose { .. }
            | NetChange::Restart { .. }
            | NetChange::Tps(_)
            | NetChange::Submit { .. } => {}
        }
    }

    /// No cuts, no isolation, no loss.
    pub fn quiet(&mut self) {
        self.apply(&NetChange::Heal);
        self.config.loss = 0.0;
        self.links.values_mut().for_each(|l| l.loss = 0.0);
    }

    /// The delay of a message from `from` to `to`, or `None` if it is lost.
    pub fn delay(
        &self,
        from: NodeId,
        to: NodeId,
        is_block: bool,
        rng: &mut ChaCha8Rng,
    ) -> Option<u64> {
        if !self.connected(from, to) {
            return None;
        }
        let link = self
            .links
            .get(&(from.min(to), from.max(to)))
            .unwrap_or(&self.config);
        if link.loss > 0.0 && rng.gen_bool(link.loss) {
            return None;
        }
        let jitter = if link.jitter_ms > 0 {
            rng.gen_range(0..=link.jitter_ms)
        } else {
            0
        };
        let normal = link.latency_ms.saturating_add(jitter);
        Some(match &self.rush {
            Some(rush) => rush.delay(from, to, is_block, normal, rng),
            None => normal,
        })
    }
}
