//! The engine's clock (slots and epochs) and the small surface a wrapper may
//! use: the nothing-at-stake validator (`byzantine::NothingAtStake`) reads the
//! key, chain id, tip, FFG state, slot arithmetic and stake snapshots, builds
//! proposal data and records its own extra blocks' stake changes through these
//! methods, and nothing else of the engine.

use super::*;

impl PosEngine {
    /// Follows the genesis slashing switch: with it off, evidence ejects nobody.
    pub fn with_slashing(mut self, enabled: bool) -> PosEngine {
        self.slashing = enabled;
        self
    }

    pub fn ffg(&self) -> &Ffg {
        &self.ffg
    }

    /// The tip this engine builds on.
    pub fn tip(&self) -> Option<&Header> {
        self.tip.as_ref()
    }

    /// A block's slot (genesis is slot 0).
    pub fn slot_of(header: &Header) -> u64 {
        if header.height == 0 {
            0
        } else {
            PosData::decode(&header.consensus).map_or(0, |d| d.slot)
        }
    }

    /// The consensus field of this validator's block for `slot`.
    pub fn proposal_data(&self, slot: u64, attestations: Vec<SignedMessage>) -> Vec<u8> {
        let reveal = self.key.sign(
            REVEAL_DOMAIN,
            &reveal_message(&self.chain_id, slot / self.epoch_slots()),
        );
        PosData {
            slot,
            reveal,
            attestations,
        }
        .encode()
    }

    /// Attestations of the last two epochs that the branch of `tip` has not
    /// carried in its last two epochs of blocks.
    pub(super) fn attestations_for(
        &self,
        tip: &Header,
        epoch: u64,
        headers: &dyn Headers,
    ) -> Vec<SignedMessage> {
        let mut carried = std::collections::HashSet::new();
        let mut h = Some(tip.clone());
        for _ in 0..2 * self.epoch_slots() {
            let Some(x) = h.filter(|x| x.height > 0) else {
                break;
            };
            if let Ok(d) = PosData::decode(&x.consensus) {
                carried.extend(d.attestations.iter().map(|m| m.signature.0));
            }
            h = headers.header(&x.parent);
        }
        self.attestations_seen
            .range((epoch.saturating_sub(1), PublicKey::default(), Hash::ZERO)..)
            .map(|(_, m)| m)
            .filter(|m| !carried.contains(&m.signature.0))
            .take(MAX_BLOCK_ATTESTATIONS)
            .cloned()
            .collect()
    }

    /// Rebuilds what a stored block taught: its stakes and the attestations it
    /// carries (at start-up, from the stored chain).
    pub fn restore(&mut self, block: &Block) {
        self.record(block);
        self.absorb_or_reach(block);
    }

    /// Counts the attestations a block carries.
    pub(super) fn absorb(&mut self, block: &Block) -> Vec<Output> {
        let Ok(data) = PosData::decode(&block.header.consensus) else {
            return Vec::new();
        };
        let at = block.header.parent;
        data.attestations
            .into_iter()
            .flat_map(|m| self.count_attestation(m, Some(at)))
            .collect()
    }

    pub fn key(&self) -> &Keypair {
        &self.key
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// The slot in which validators attest, for an epoch's slot `slot`.
    pub fn is_attestation_slot(&self, slot: u64) -> bool {
        slot % self.epoch_slots() == self.epoch_slots() / 2
    }

    pub fn epoch_of(&self, slot: u64) -> u64 {
        slot / self.epoch_slots()
    }

    pub fn epoch_slots(&self) -> u64 {
        self.params.epoch_slots.max(1)
    }

    /// When slot `slot` begins.
    /// Saturates: a slot from a peer may be anything.
    pub fn slot_start(&self, slot: u64) -> u64 {
        self.genesis
            .timestamp_ms
            .saturating_add(slot.saturating_mul(self.params.slot_ms.max(1)))
    }

    pub(super) fn slot_at(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.genesis.timestamp_ms) / self.params.slot_ms.max(1)
    }

    /// Records a block's body: what it does to the stakes.
    pub fn record(&self, block: &Block) {
        let Ok(data) = PosData::decode(&block.header.consensus) else {
            return;
        };
        let (bonds, ejected) = crate::engine::stake_changes(block, self.slashing);
        if let Ok(mut d) = self.deltas.lock() {
            d.insert(
                block.hash(),
                Delta {
                    parent: block.header.parent,
                    data,
                    bonds,
                    ejected,
                },
            );
        }
    }
}
