//! The nothing-at-stake validator: voting costs it nothing, so when the chain
//! forks it attests on every fork head it has seen, not only on its own tip, to
//! be on the winning side whatever wins. Each extra attestation names another
//! target for the same epoch: a double vote, which honest validators turn into
//! evidence and, with slashing on, a slash.

use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use crate::pos::engine::PosEngine;
use crate::pos::ffg::AttestationData;
use generals_chain::{codec, Hash, Header, MessageKind, Position, SignedMessage};
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct NothingAtStake {
    inner: PosEngine,
    heads: BTreeMap<Hash, Header>,
}

impl NothingAtStake {
    pub fn new(inner: PosEngine) -> Self {
        NothingAtStake {
            inner,
            heads: BTreeMap::new(),
        }
    }

    fn see(&mut self, header: &Header) {
        self.heads.remove(&header.parent);
        self.heads.insert(header.hash(), header.clone());
    }
}

impl Consensus for NothingAtStake {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let attest_epoch = match &input {
            Input::Timer { id, .. } if self.inner.is_attestation_slot(*id) => {
                Some(self.inner.epoch_of(*id))
            }
            _ => None,
        };
        match &input {
            Input::BlockReceived { block, .. } | Input::Produced { block, .. } => {
                self.see(&block.header)
            }
            _ => {}
        }
        let mut out = self.inner.handle(input, headers);
        for o in &out {
            if let Output::Import(b) = o {
                let h = b.header.clone();
                self.see(&h);
            }
        }
        let Some(epoch) = attest_epoch else {
            return out;
        };
        // Attest on every head, each on its own branch's checkpoint.
        let source = self.inner.ffg().justified;
        let mut targets = Vec::new();
        for head in self.heads.values().cloned().collect::<Vec<_>>() {
            if let Some(target) = self.inner.boundary_from(head, epoch, headers) {
                if target.epoch > source.epoch && !targets.contains(&target) {
                    targets.push(target);
                }
            }
        }
        for target in targets {
            let data = AttestationData { source, target };
            let m = SignedMessage::sign(
                self.inner.key(),
                self.inner.chain_id(),
                Position {
                    kind: MessageKind::Attestation,
                    height: epoch,
                    round: 0,
                },
                codec::encode(&data),
            );
            if !out
                .iter()
                .any(|o| matches!(o, Output::BroadcastMessage(x) if *x == m))
            {
                out.push(Output::BroadcastMessage(m));
            }
        }
        out
    }
}
