//! Evidence a voting engine (BFT, PBFT) saw: each piece reported once, and
//! up to a block's worth kept for the next block it builds, while its
//! offender still votes.

use crate::engine::Output;
use generals_chain::{Block, Evidence, Hash, PublicKey, SignedMessage};
use std::collections::HashSet;

#[derive(Debug, Default)]
pub struct EvidencePool {
    pending: Vec<Evidence>,
    seen: HashSet<Hash>,
}

impl EvidencePool {
    /// Two messages of one signer that an honest signer never signs both:
    /// checked as evidence on `chain_id`, reported once, kept for a block.
    pub fn report(
        &mut self,
        chain_id: &str,
        first: SignedMessage,
        second: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        let e = Evidence { first, second };
        if e.verify(chain_id).is_err() || !self.seen.insert(e.hash()) {
            return;
        }
        if self.pending.len() < generals_chain::block::MAX_BLOCK_EVIDENCE {
            self.pending.push(e.clone());
        }
        out.push(Output::Evidence(e));
    }

    /// Keeps the evidence against offenders `votes` says still vote.
    pub fn retain_voters(&mut self, votes: impl Fn(&PublicKey) -> bool) {
        self.pending.retain(|e| votes(&e.offender()));
    }

    /// Drops what a decided block carries.
    pub fn included(&mut self, block: &Block) {
        self.pending.retain(|e| !block.evidence.contains(e));
    }

    /// What a block built now carries: the evidence against voters.
    pub fn for_block(&self, votes: impl Fn(&PublicKey) -> bool) -> Vec<Evidence> {
        self.pending
            .iter()
            .filter(|e| votes(&e.offender()))
            .cloned()
            .collect()
    }
}
