//! The simulated network: every node linked to every other, each link with
//! latency, jitter and loss; partitions that cut or isolate; and, for selfish
//! mining, the attacker's privileged position (it hears every block at once, and a
//! share gamma of honest nodes hear its blocks before anyone else's).

use super::config::{NetChange, NetConfig};
use crate::engine::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
pub struct Network {
    config: NetConfig,
    /// Group of each node while the network is cut.
    groups: Option<Vec<usize>>,
    isolated: Vec<bool>,
    /// The selfish attacker and its gamma.
    rush: Option<(NodeId, f64)>,
}

impl Network {
    pub fn new(nodes: usize, config: NetConfig, rush: Option<(NodeId, f64)>) -> Network {
        Network {
            config,
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
            Some(g) => g[a] == g[b],
            None => true,
        }
    }

    pub fn apply(&mut self, change: &NetChange) {
        match change {
            NetChange::Cut(groups) => {
                // Nodes named in no group form a group of their own.
                let mut g = vec![usize::MAX; self.isolated.len()];
                for (i, group) in groups.iter().enumerate() {
                    for n in group {
                        g[*n] = i;
                    }
                }
                self.groups = Some(g);
            }
            NetChange::Isolate(n) => self.isolated[*n] = true,
            NetChange::Heal => {
                self.groups = None;
                self.isolated.iter_mut().for_each(|x| *x = false);
            }
            NetChange::HashPower(_) => {}
        }
    }

    /// No cuts, no isolation, no loss.
    pub fn quiet(&mut self) {
        self.apply(&NetChange::Heal);
        self.config.loss = 0.0;
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
        if self.config.loss > 0.0 && rng.gen_bool(self.config.loss) {
            return None;
        }
        let jitter = if self.config.jitter_ms > 0 {
            rng.gen_range(0..=self.config.jitter_ms)
        } else {
            0
        };
        let normal = self.config.latency_ms + jitter;
        match self.rush {
            Some((attacker, _)) if to == attacker => Some(0),
            Some((attacker, gamma)) if from == attacker && is_block => {
                if rng.gen_bool(gamma) {
                    Some(0)
                } else {
                    Some(2 * normal + 1)
                }
            }
            _ => Some(normal),
        }
    }
}
