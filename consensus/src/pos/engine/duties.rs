//! A validator's duties and what it watches: stake snapshots along a branch,
//! proposing in the slots it leads, attesting once an epoch, counting the
//! attestations it hears (Casper FFG), and double proposals and votes as
//! evidence.

use super::*;

impl PosEngine {
    /// The stakes and seeds after block `hash`.
    pub fn snapshot(&self, hash: &Hash) -> Result<StakeSnapshot, ConsensusError> {
        if *hash == self.genesis.hash() {
            let g = self.genesis.hash();
            return Ok(StakeSnapshot {
                slot: 0,
                epoch: 0,
                stakes: self.genesis_stakes.clone(),
                mix: g,
                seed: g,
                next_seed: g,
            });
        }
        if let Some(s) = self
            .snapshots
            .lock()
            .ok()
            .and_then(|c| c.get(hash).cloned())
        {
            return Ok(s);
        }
        let delta = self
            .deltas
            .lock()
            .ok()
            .and_then(|d| d.get(hash).cloned())
            .ok_or(ConsensusError::UnknownParent { parent: *hash })?;
        let parent = self.snapshot(&delta.parent)?;
        let epoch = delta.data.slot / self.epoch_slots();
        let (seed, next_seed) = if epoch == parent.epoch {
            (parent.seed, parent.next_seed)
        } else if Some(epoch) == parent.epoch.checked_add(1) {
            (parent.next_seed, parent.mix)
        } else {
            (parent.mix, parent.mix)
        };
        let mut stakes = parent.stakes.clone();
        for (k, d) in &delta.bonds {
            let s = stakes.entry(*k).or_insert(0);
            *s = (*s as i128 + d).clamp(0, u64::MAX as i128) as u64;
        }
        stakes.retain(|k, s| *s > 0 && !delta.ejected.contains(k));
        let snap = StakeSnapshot {
            slot: delta.data.slot,
            epoch,
            stakes,
            mix: mix(&parent.mix, &delta.data.reveal),
            seed,
            next_seed,
        };
        if let Ok(mut c) = self.snapshots.lock() {
            c.insert(*hash, snap.clone());
        }
        Ok(snap)
    }

    /// Two sealed blocks of one slot by one proposer, or two attestations of one
    /// target epoch by one validator, become evidence.
    pub(super) fn catch_double(
        &mut self,
        first: &SignedMessage,
        second: SignedMessage,
    ) -> Vec<Output> {
        let e = Evidence {
            first: first.clone(),
            second,
        };
        if e.verify(&self.chain_id).is_err() || self.evidence.contains(&e) {
            return Vec::new();
        }
        self.evidence.push(e.clone());
        vec![Output::Evidence(e)]
    }

    pub(super) fn watch_block(&mut self, header: &Header) -> Vec<Output> {
        let Ok(message) = sealed_message(header) else {
            return Vec::new();
        };
        let key = (message.position.height, header.producer);
        match self.proposals_seen.get(&key).cloned() {
            Some(first) if first.hash() != header.hash() => {
                let Ok(m1) = sealed_message(&first) else {
                    return Vec::new();
                };
                self.catch_double(&m1, message)
            }
            Some(_) => Vec::new(),
            None => {
                self.proposals_seen.insert(key, header.clone());
                Vec::new()
            }
        }
    }

    /// The epoch's boundary block on the tip's branch: the newest block whose
    /// slot is at most the epoch's first.
    pub(super) fn boundary(&self, epoch: u64, headers: &dyn Headers) -> Option<Checkpoint> {
        self.boundary_from(self.tip.clone()?, epoch, headers)
    }

    /// The epoch's boundary block on the branch of `head`.
    pub fn boundary_from(
        &self,
        head: Header,
        epoch: u64,
        headers: &dyn Headers,
    ) -> Option<Checkpoint> {
        let mut h = head;
        let first = epoch * self.epoch_slots();
        loop {
            let slot = if h.height == 0 {
                0
            } else {
                PosData::decode(&h.consensus).ok()?.slot
            };
            if slot <= first {
                return Some(Checkpoint {
                    epoch,
                    hash: h.hash(),
                });
            }
            h = headers.header(&h.parent)?;
        }
    }

    pub(super) fn on_slot(&mut self, slot: u64, headers: &dyn Headers) -> Vec<Output> {
        let mut out = vec![Output::SetTimer {
            id: slot + 1,
            at_ms: self.slot_start(slot + 1),
        }];
        self.next_slot = Some(slot + 1);
        let Some(tip) = self.tip.clone() else {
            return out;
        };
        let Ok(snap) = self.snapshot(&tip.hash()) else {
            return out;
        };
        let me = self.key.public();
        let epoch = slot / self.epoch_slots();
        // Propose, if the slot is ours.
        let tip_slot = Self::slot_of(&tip);
        if slot > tip_slot && snap.leader(slot, self.epoch_slots()) == Some(me) {
            out.push(Output::Build {
                parent: tip.hash(),
                height: tip.height + 1,
                timestamp_ms: self.slot_start(slot),
                consensus: self.proposal_data(slot, self.attestations_for(&tip, epoch, headers)),
                evidence: self.evidence.clone(),
            });
        }
        // Attest once an epoch, in its middle slot.
        if slot % self.epoch_slots() == self.epoch_slots() / 2 && snap.stakes.contains_key(&me) {
            out.extend(self.attest(epoch, headers));
        }
        out
    }

    /// Attests for `epoch` from the justified checkpoint to the epoch's boundary
    /// on the tip's branch, if the signing record allows it.
    pub(super) fn attest(&mut self, epoch: u64, headers: &dyn Headers) -> Vec<Output> {
        let Some(target) = self.boundary(epoch, headers) else {
            return Vec::new();
        };
        let data = AttestationData {
            source: self.ffg.justified,
            target,
        };
        if data.target.epoch <= data.source.epoch
            || self.guard(|p| p.record_attestation(&data)).is_err()
        {
            return Vec::new();
        }
        let m = SignedMessage::sign(
            &self.key,
            &self.chain_id,
            Position {
                kind: MessageKind::Attestation,
                height: epoch,
                round: 0,
            },
            codec::encode(&data),
        );
        let mut out = vec![Output::BroadcastMessage(m.clone())];
        out.extend(self.count_attestation(m, None));
        out
    }

    /// Forgets what is older than the epoch before the finalized `epoch`: links
    /// and votes that can no longer change finality, and proposals of old
    /// slots, so the per-message checks stay small however long the chain.
    pub(super) fn forget_before(&mut self, epoch: u64) {
        let keep = epoch.saturating_sub(1);
        self.ffg.prune();
        self.attestations_seen.retain(|(e, _, _), _| *e >= keep);
        let first_slot = keep * self.epoch_slots();
        self.proposals_seen
            .retain(|(slot, _), _| *slot >= first_slot);
    }

    /// Counts an attestation, weighed by the stakes after block `at` (the tip
    /// if `None`).
    pub(super) fn count_attestation(&mut self, m: SignedMessage, at: Option<Hash>) -> Vec<Output> {
        if m.position.kind != MessageKind::Attestation || m.verify(&self.chain_id).is_err() {
            return Vec::new();
        }
        let Ok(data) = codec::decode::<AttestationData, { AttestationData::MAX_BYTES }>(
            "attestation",
            &m.payload,
        ) else {
            return Vec::new();
        };
        if data.target.epoch != m.position.height || m.position.round != 0 {
            return Vec::new();
        }
        let key = (m.position.height, m.signer, Hash::digest(&m.payload));
        if self.attestations_seen.contains_key(&key) {
            return Vec::new();
        }
        // A second vote for one target epoch, or a vote that surrounds or is
        // surrounded by one of the signer's earlier votes, is evidence. It still
        // counts, as in Casper FFG: each link is weighed by everyone who signed it,
        // which is how equivocators could justify two conflicting checkpoints if
        // they held a third of the stake.
        let conflicting = self
            .attestations_seen
            .iter()
            .filter(|((_, signer, _), _)| *signer == m.signer)
            .find(|((epoch, _, _), earlier)| {
                *epoch == m.position.height
                    || codec::decode::<AttestationData, { AttestationData::MAX_BYTES }>(
                        "attestation",
                        &earlier.payload,
                    )
                    .is_ok_and(|e| e.surrounds(&data) || data.surrounds(&e))
            })
            .map(|(_, earlier)| earlier.clone());
        self.attestations_seen.insert(key, m.clone());
        let mut out = match conflicting {
            Some(earlier) => self.catch_double(&earlier, m.clone()),
            None => Vec::new(),
        };
        out.extend(self.weigh(m.signer, data, at));
        out
    }

    /// Weighs a link by the stakes after block `at` (the tip if `None`).
    pub(super) fn weigh(
        &mut self,
        signer: PublicKey,
        data: AttestationData,
        at: Option<Hash>,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        // A link off the operator's checkpoint's branch (a long-range fork's
        // votes) is kept as evidence, and not weighed.
        if !self.weighable(&data) {
            return out;
        }
        let Some(at) = at.or_else(|| self.tip.as_ref().map(Header::hash)) else {
            return out;
        };
        // A block whose parent is not known yet: weigh by the tip's stakes.
        let snap = self.snapshot(&at).or_else(|_| match &self.tip {
            Some(t) => self.snapshot(&t.hash()),
            None => Err(ConsensusError::UnknownParent { parent: at }),
        });
        let Ok(snap) = snap else {
            return out;
        };
        let Some(stake) = snap.stakes.get(&signer).copied() else {
            return out;
        };
        for e in self.ffg.attest(signer, stake, snap.total(), data) {
            match e {
                FfgEvent::Finalized(c) => {
                    self.forget_before(c.epoch);
                    out.push(Output::Finalize(c.hash))
                }
                FfgEvent::Justified(c) if c == self.ffg.justified => {
                    out.push(Output::Justified(c.hash))
                }
                FfgEvent::Justified(_) => {}
            }
        }
        out
    }
}
