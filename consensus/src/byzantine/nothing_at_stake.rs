//! The nothing-at-stake validator: signing costs it nothing, so when the chain
//! forks it works on every fork head it has seen, not only on its own tip, to be
//! on the winning side whatever wins. When it leads a slot it proposes on every
//! head (earning the reward on each branch), and at each epoch it attests to
//! every head's checkpoint. The extra proposals and attestations are double
//! signatures, which honest validators turn into evidence and, with slashing on,
//! a slash. It seals its extra blocks itself: the honest engine inside it would
//! refuse to sign them.

use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use crate::pos::engine::{seal, PosEngine};
use crate::pos::ffg::AttestationData;
use generals_chain::{codec, Hash, Header, MessageKind, Position, SignedMessage};
use std::collections::BTreeMap;

#[derive(Debug)]
pub struct NothingAtStake {
    inner: PosEngine,
    heads: BTreeMap<Hash, Header>,
    /// Blocks asked for on heads other than the tip: parent to slot.
    side_builds: BTreeMap<Hash, u64>,
}

impl NothingAtStake {
    pub fn new(inner: PosEngine) -> Self {
        NothingAtStake {
            inner,
            heads: BTreeMap::new(),
            side_builds: BTreeMap::new(),
        }
    }

    fn see(&mut self, header: &Header) {
        self.heads.remove(&header.parent);
        self.heads.insert(header.hash(), header.clone());
    }

    /// Heads other than the tip, recent enough to be worth extending.
    fn other_heads(&mut self, slot: u64) -> Vec<Header> {
        let horizon = slot.saturating_sub(2 * self.inner.epoch_slots());
        self.heads
            .retain(|_, h| PosEngine::slot_of(h) >= horizon || h.height == 0);
        let tip = self.inner.tip().map(Header::hash);
        self.heads
            .values()
            .filter(|h| Some(h.hash()) != tip)
            .cloned()
            .collect()
    }

    /// Proposes for `slot` on every other head where this validator leads it.
    fn propose_everywhere(&mut self, slot: u64) -> Vec<Output> {
        let me = self.inner.key().public();
        let mut out = Vec::new();
        for head in self.other_heads(slot) {
            let Ok(snap) = self.inner.snapshot(&head.hash()) else {
                continue;
            };
            if PosEngine::slot_of(&head) >= slot
                || snap.leader(slot, self.inner.epoch_slots()) != Some(me)
            {
                continue;
            }
            self.side_builds.insert(head.hash(), slot);
            out.push(Output::Build {
                parent: head.hash(),
                height: head.height + 1,
                timestamp_ms: self.inner.slot_start(slot),
                consensus: self.inner.proposal_data(slot, Vec::new()),
                evidence: Vec::new(),
            });
        }
        out
    }

    /// Attests for `epoch` to every head's checkpoint, each on its own branch.
    fn attest_everywhere(&mut self, epoch: u64, headers: &dyn Headers, out: &mut Vec<Output>) {
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
    }
}

impl Consensus for NothingAtStake {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let slot = match &input {
            Input::Timer { id, .. } => Some(*id),
            _ => None,
        };
        match &input {
            Input::Produced { block, .. } => {
                let parent = block.header.parent;
                if self.side_builds.get(&parent) == Some(&PosEngine::slot_of(&block.header)) {
                    // One of its extra blocks: sealed here, past the honest
                    // engine's slashing protection.
                    self.side_builds.remove(&parent);
                    let mut b = block.clone();
                    seal(&mut b, self.inner.key(), self.inner.chain_id());
                    self.inner.record(&b);
                    self.see(&b.header);
                    return vec![Output::Import(b.clone()), Output::Broadcast(b)];
                }
                // Its own block is seen once sealed, as the inner engine imports it.
            }
            Input::BlockReceived { block, .. } => self.see(&block.header),
            _ => {}
        }
        let mut out = self.inner.handle(input, headers);
        for o in &out {
            if let Output::Import(b) = o {
                let h = b.header.clone();
                self.see(&h);
            }
        }
        let Some(slot) = slot else {
            return out;
        };
        out.extend(self.propose_everywhere(slot));
        if self.inner.is_attestation_slot(slot) {
            let epoch = self.inner.epoch_of(slot);
            self.attest_everywhere(epoch, headers, &mut out);
        }
        out
    }
}
