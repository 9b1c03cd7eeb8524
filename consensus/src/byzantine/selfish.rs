//! Selfish mining after Eyal and Sirer, "Majority is not enough" (2014),
//! Algorithm 1. The attacker keeps the blocks it finds to itself and mines on
//! them; when honest miners find a block it publishes just enough of its private
//! chain to override or tie theirs: with a lead of 1 it publishes its block and
//! races (the share gamma of honest miners who hear it first mine on it), with a
//! lead of 2 it publishes everything and wins, with more it publishes the block
//! that matches the honest height. A block found during a race is published at
//! once and wins it. The network's gamma lives in the simulator's link delays, not
//! here.

use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use generals_chain::{Block, Hash, Header};
use std::collections::VecDeque;

/// The selfish miner around an honest engine.
#[derive(Debug)]
pub struct Selfish<E> {
    inner: E,
    /// Own blocks not yet published, oldest first.
    withheld: VecDeque<Block>,
    /// The attacker's own tip: its last block, or the honest block it adopted.
    private_height: u64,
    own_tip: Option<Hash>,
    /// Greatest height of the honest chain seen.
    public_height: u64,
    /// A race of two equal branches is on (Eyal and Sirer's state 0').
    racing: bool,
}

impl<E: Consensus> Selfish<E> {
    pub fn new(inner: E) -> Self {
        Selfish {
            inner,
            withheld: VecDeque::new(),
            private_height: 0,
            own_tip: None,
            public_height: 0,
            racing: false,
        }
    }

    fn publish_up_to(&mut self, height: u64) -> Vec<Output> {
        let mut out = Vec::new();
        while self.withheld.front().is_some_and(|b| b.height() <= height) {
            if let Some(b) = self.withheld.pop_front() {
                out.push(Output::Broadcast(b));
            }
        }
        out
    }
}

impl<E: Consensus> Consensus for Selfish<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        match input {
            Input::NewTip { tip, now_ms } => {
                if Some(tip.hash()) != self.own_tip && tip.height > 0 {
                    // The honest chain outweighed ours: adopt it and start over.
                    self.withheld.clear();
                    self.racing = false;
                    self.public_height = self.public_height.max(tip.height);
                }
                self.private_height = tip.height;
                self.inner.handle(Input::NewTip { tip, now_ms }, headers)
            }
            Input::Produced { block, .. } => {
                self.private_height = block.height();
                self.own_tip = Some(block.hash());
                self.withheld.push_back(block.clone());
                let mut out = vec![Output::Import(block)];
                if self.racing {
                    // Found during a race: publish and win it.
                    self.racing = false;
                    let h = self.private_height;
                    out.extend(self.publish_up_to(h));
                    self.public_height = self.public_height.max(h);
                }
                out
            }
            Input::BlockReceived {
                block,
                now_ms,
                from,
            } => {
                // Honest blocks are always stored: fork choice keeps the attacker
                // on its own branch while that is as heavy (it saw its own first),
                // and moves it to the honest chain once that is heavier.
                let height = block.height();
                let mut out = self.inner.handle(
                    Input::BlockReceived {
                        block,
                        now_ms,
                        from,
                    },
                    headers,
                );
                if height <= self.public_height {
                    return out;
                }
                self.public_height = height;
                let lead_before = self.private_height as i64 - (self.public_height as i64 - 1);
                out.extend(match lead_before {
                    // No lead: the import above adopts the honest chain.
                    i64::MIN..=0 => Vec::new(),
                    1 => {
                        // Equal now: publish the one block and race.
                        self.racing = true;
                        let h = self.private_height;
                        self.publish_up_to(h)
                    }
                    2 => {
                        // Publish everything: the private chain wins by one and
                        // becomes the public one.
                        let h = self.private_height;
                        self.public_height = h;
                        self.publish_up_to(h)
                    }
                    _ => {
                        // Still ahead: match the honest height.
                        let h = self.public_height;
                        self.publish_up_to(h)
                    }
                });
                out
            }
            other => self.inner.handle(other, headers),
        }
    }
}
