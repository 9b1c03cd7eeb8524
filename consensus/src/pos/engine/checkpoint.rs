//! A weak-subjectivity checkpoint (`--checkpoint HEIGHT:HASH`): no vote off
//! its branch moves finality. A node syncing from scratch cannot tell a
//! long-range fork's votes from the chain's, so until the checkpoint's block
//! and its ancestors are here it weighs no vote; then the FFG state is
//! rebuilt from the attestations its own branch carries, genesis first.

use super::*;

impl PosEngine {
    /// Whether a link may be weighed here: always without a checkpoint; with
    /// one, once it is reached and if both ends lie on its branch.
    pub(super) fn weighable(&self, data: &AttestationData) -> bool {
        match self.checkpoint {
            None => true,
            Some(cp) => {
                self.checkpoint_here
                    && !self.off_branch(&data.target.hash, &cp)
                    && !self.off_branch(&data.source.hash, &cp)
            }
        }
    }

    /// Whether blocks `a` and `b` are known to lie on different branches
    /// (neither descends from the other). Blocks this engine has not recorded
    /// are given the benefit of the doubt.
    pub(super) fn off_branch(&self, a: &Hash, b: &Hash) -> bool {
        let genesis = self.genesis.hash();
        if a == b || *a == genesis || *b == genesis {
            return false;
        }
        let Ok(deltas) = self.deltas.lock() else {
            return false;
        };
        let slot = |h: &Hash| deltas.get(h).map(|d| d.data.slot);
        let (Some(sa), Some(sb)) = (slot(a), slot(b)) else {
            return false;
        };
        // Walk down from the later one; a descendant's slot is always higher.
        let (mut hi, lo, lo_slot) = if sa >= sb { (*a, *b, sb) } else { (*b, *a, sa) };
        loop {
            if hi == lo {
                return false;
            }
            if hi == genesis {
                return true;
            }
            let Some(d) = deltas.get(&hi) else {
                return false;
            };
            if d.data.slot <= lo_slot {
                return true;
            }
            hi = d.parent;
        }
    }

    /// Counts a block's attestations; with a checkpoint not yet reached,
    /// none until the checkpoint's block and all its ancestors are here
    /// (blocks may come newest first), then the FFG state is rebuilt along
    /// its branch.
    pub(super) fn absorb_or_reach(&mut self, block: &Block) -> Vec<Output> {
        let Some(cp) = self.checkpoint.filter(|_| !self.checkpoint_here) else {
            return self.absorb(block);
        };
        let genesis = self.genesis.hash();
        let mut walk = self.checkpoint_walk.unwrap_or(cp);
        if let Ok(deltas) = self.deltas.lock() {
            while let Some(d) = deltas.get(&walk) {
                walk = d.parent;
            }
        }
        self.checkpoint_walk = Some(walk);
        if walk == genesis {
            return self.reach_checkpoint();
        }
        Vec::new()
    }

    /// The checkpoint's block is here: FFG starts again from genesis and
    /// weighs the attestations of every recorded block on its branch (its
    /// ancestors, and descendants that came first, as blocks fetched newest
    /// first do), by slot, each by the stakes after its parent: as if the
    /// node had heard only that branch.
    fn reach_checkpoint(&mut self) -> Vec<Output> {
        self.checkpoint_here = true;
        let Some(cp) = self.checkpoint else {
            return Vec::new();
        };
        let genesis = self.genesis.hash();
        let mut branch = Vec::new();
        if let Ok(deltas) = self.deltas.lock() {
            let cp_slot = deltas.get(&cp).map_or(0, |d| d.data.slot);
            // The checkpoint and its ancestors; then its descendants, by slot.
            let mut below = std::collections::HashSet::from([genesis]);
            let mut h = cp;
            while let Some(d) = deltas.get(&h) {
                below.insert(h);
                h = d.parent;
            }
            let mut above = std::collections::HashSet::from([cp]);
            let mut by_slot: Vec<(u64, Hash)> =
                deltas.iter().map(|(h, d)| (d.data.slot, *h)).collect();
            by_slot.sort_unstable();
            for (slot, h) in by_slot {
                let d = &deltas[&h];
                let on = if slot <= cp_slot {
                    below.contains(&h)
                } else {
                    above.contains(&d.parent)
                };
                if on {
                    above.insert(h);
                    branch.push((d.parent, d.data.attestations.clone()));
                }
            }
        }
        self.ffg = Ffg::new(genesis);
        let mut out = Vec::new();
        for (parent, attestations) in branch {
            for m in attestations {
                if m.verify(&self.chain_id).is_err() {
                    continue;
                }
                let Ok(data) = codec::decode::<AttestationData, { AttestationData::MAX_BYTES }>(
                    "attestation",
                    &m.payload,
                ) else {
                    continue;
                };
                out.extend(self.weigh(m.signer, data, Some(parent)));
            }
        }
        out
    }
}
