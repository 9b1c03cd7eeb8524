//! The selfish miner's network position (Eyal and Sirer's gamma): it hears
//! every block at once, and when it publishes a block to race an honest one, a
//! share gamma of the honest nodes hear its block first (per node, drawn from the
//! seed); the others hear it after the honest block. A network proxy, so honest
//! nodes and the simulator's links stay unchanged. With n honest nodes the
//! honest finder always mines on its own block, so the effective gamma of the
//! honest hash power is gamma * (n - 1) / n.

use crate::engine::NodeId;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rush {
    pub attacker: NodeId,
    pub gamma: f64,
}

impl Rush {
    /// The delay of a message whose honest delay is `normal`.
    pub fn delay(
        &self,
        from: NodeId,
        to: NodeId,
        is_block: bool,
        normal: u64,
        rng: &mut ChaCha8Rng,
    ) -> u64 {
        if to == self.attacker {
            0
        } else if from == self.attacker && is_block {
            if rng.gen_bool(self.gamma) {
                0
            } else {
                normal.saturating_mul(2).saturating_add(1)
            }
        } else {
            normal
        }
    }
}
