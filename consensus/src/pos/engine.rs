//! The proof-of-stake engine: slots of `slot_ms` grouped in epochs; each slot's
//! leader drawn by stake from the epoch's RANDAO seed; blocks sealed like proof
//! of authority's (a signature over the block at its slot, so two blocks of one
//! slot are evidence as they stand); once an epoch, each validator attests to a
//! link from the justified checkpoint to the epoch's boundary block; Casper FFG
//! turns two thirds of stake into justification and finality, and the host never
//! reverts a finalized block. Fork choice is the longest chain that keeps the
//! finalized block. Stakes follow the chain: genesis validators, bond and unbond
//! transactions, and evidence, which ejects the offender.

use super::ffg::{AttestationData, Checkpoint, Ffg, FfgEvent};
use super::leader::{leader, mix, reveal_message, REVEAL_DOMAIN};
use super::protection::{Protection, Refusal, RECORD_NAME};
use crate::engine::{
    Consensus, ConsensusError, EngineStatus, Headers, Input, Output, Record, SlotStatus,
};
use crate::seal::{seal_message, signature_of, MAX_FUTURE_DRIFT_MS};
use bincode::{Decode, Encode};
use generals_chain::genesis::PosParams;
use generals_chain::{
    codec, Block, Evidence, Hash, Header, Keypair, MessageKind, Position, PublicKey, Signature,
    SignedMessage,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Most attestations one block carries.
pub const MAX_BLOCK_ATTESTATIONS: usize = 128;

/// What a proof-of-stake header carries in its `consensus` field.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PosData {
    pub slot: u64,
    /// The proposer's RANDAO reveal for the slot's epoch.
    pub reveal: Signature,
    /// Attestations the proposer heard and the chain did not carry yet: a node
    /// that syncs the chain (or restarts) counts them and so learns which
    /// checkpoints are justified and final.
    pub attestations: Vec<SignedMessage>,
}

impl PosData {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<PosData, ConsensusError> {
        codec::decode::<_, { generals_chain::block::MAX_SEAL_BYTES }>("proof-of-stake data", bytes)
            .map_err(|e| ConsensusError::BadConsensusData {
                reason: e.to_string(),
            })
    }
}

/// Seals a proof-of-stake block with `key`: a signature over the block at its
/// slot, so two blocks of one slot by one key are evidence as they stand.
pub fn seal(block: &mut Block, key: &Keypair, chain_id: &str) {
    let slot = PosData::decode(&block.header.consensus).map_or(0, |d| d.slot);
    let m = SignedMessage::sign(
        key,
        chain_id,
        Position {
            kind: MessageKind::Block,
            height: slot,
            round: 0,
        },
        block.header.seal_hash().0.to_vec(),
    );
    block.header.seal = m.signature.0.to_vec();
}

/// A header's seal as the signed message it is: the block at its slot.
fn sealed_message(header: &Header) -> Result<SignedMessage, ConsensusError> {
    let data = PosData::decode(&header.consensus)?;
    let mut m = seal_message(header, signature_of(header)?);
    m.position.height = data.slot;
    Ok(m)
}

/// Stakes and randomness after a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StakeSnapshot {
    pub slot: u64,
    pub epoch: u64,
    pub stakes: BTreeMap<PublicKey, u64>,
    pub mix: Hash,
    /// The seed of this epoch's leaders, and of the next epoch's.
    pub seed: Hash,
    pub next_seed: Hash,
}

impl StakeSnapshot {
    pub fn total(&self) -> u128 {
        self.stakes.values().map(|s| *s as u128).sum()
    }

    /// The seed of `epoch`'s leaders, seen from this block.
    pub fn seed_for(&self, epoch: u64) -> Hash {
        if epoch == self.epoch {
            self.seed
        } else if epoch == self.epoch + 1 {
            self.next_seed
        } else {
            self.mix
        }
    }

    pub fn leader(&self, slot: u64, epoch_slots: u64) -> Option<PublicKey> {
        let v: Vec<(PublicKey, u64)> = self.stakes.iter().map(|(k, s)| (*k, *s)).collect();
        leader(&self.seed_for(slot / epoch_slots.max(1)), slot, &v)
    }
}

/// What a block changes in the stakes.
#[derive(Clone, Debug)]
struct Delta {
    parent: Hash,
    data: PosData,
    bonds: Vec<(PublicKey, i128)>,
    ejected: Vec<PublicKey>,
}

/// The honest proof-of-stake engine of one node.
#[derive(Debug)]
pub struct PosEngine {
    params: PosParams,
    chain_id: String,
    genesis: Header,
    genesis_stakes: BTreeMap<PublicKey, u64>,
    key: Keypair,
    deltas: Mutex<HashMap<Hash, Delta>>,
    snapshots: Mutex<HashMap<Hash, StakeSnapshot>>,
    tip: Option<Header>,
    next_slot: Option<u64>,
    ffg: Ffg,
    protection: Protection,
    /// The record changed in this step: it goes out as `Output::Persist`
    /// ahead of the step's other outputs.
    unsaved: bool,
    proposals_seen: BTreeMap<(u64, PublicKey), Header>,
    /// Every valid attestation heard, by target epoch, signer and payload.
    attestations_seen: BTreeMap<(u64, PublicKey, Hash), SignedMessage>,
    evidence: Vec<Evidence>,
    /// Whether evidence in a block ejects the offender (the genesis slashing
    /// switch: off, the chain jails nobody and the validator set keeps them).
    slashing: bool,
}

impl PosEngine {
    pub fn new(
        params: PosParams,
        chain_id: &str,
        genesis: &Header,
        validators: Vec<(PublicKey, u64)>,
        key: Keypair,
    ) -> PosEngine {
        PosEngine {
            params,
            chain_id: chain_id.into(),
            genesis: genesis.clone(),
            genesis_stakes: validators.into_iter().collect(),
            key,
            deltas: Mutex::new(HashMap::new()),
            snapshots: Mutex::new(HashMap::new()),
            tip: None,
            next_slot: None,
            ffg: Ffg::new(genesis.hash()),
            protection: Protection::default(),
            unsaved: false,
            proposals_seen: BTreeMap::new(),
            attestations_seen: BTreeMap::new(),
            evidence: Vec::new(),
            slashing: true,
        }
    }

    /// Starts from a saved signing record (after a restart). Every change to
    /// the record leaves as `Output::Persist` ahead of the signature it allows.
    pub fn with_protection(mut self, record: Protection) -> PosEngine {
        self.protection = record;
        self
    }

    pub fn protection(&self) -> &Protection {
        &self.protection
    }

    /// Records a signature about to be made; on a refusal the record is as it
    /// was and nothing may be signed. The record goes out to be saved before
    /// the step's outputs.
    fn guard(
        &mut self,
        change: impl FnOnce(&mut Protection) -> Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        let before = self.protection.clone();
        change(&mut self.protection)?;
        if self.protection == before {
            return Ok(());
        }
        self.protection.prune();
        self.unsaved = true;
        Ok(())
    }

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
    fn attestations_for(
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
        self.absorb(block);
    }

    /// Counts the attestations a block carries.
    fn absorb(&mut self, block: &Block) -> Vec<Output> {
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

    fn slot_at(&self, now_ms: u64) -> u64 {
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
        } else if epoch == parent.epoch + 1 {
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
    fn catch_double(&mut self, first: &SignedMessage, second: SignedMessage) -> Vec<Output> {
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

    fn watch_block(&mut self, header: &Header) -> Vec<Output> {
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
    fn boundary(&self, epoch: u64, headers: &dyn Headers) -> Option<Checkpoint> {
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

    fn on_slot(&mut self, slot: u64, headers: &dyn Headers) -> Vec<Output> {
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
    fn attest(&mut self, epoch: u64, headers: &dyn Headers) -> Vec<Output> {
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
    fn forget_before(&mut self, epoch: u64) {
        let keep = epoch.saturating_sub(1);
        self.ffg.prune();
        self.attestations_seen.retain(|(e, _, _), _| *e >= keep);
        let first_slot = keep * self.epoch_slots();
        self.proposals_seen
            .retain(|(slot, _), _| *slot >= first_slot);
    }

    /// Counts an attestation, weighed by the stakes after block `at` (the tip
    /// if `None`).
    fn count_attestation(&mut self, m: SignedMessage, at: Option<Hash>) -> Vec<Output> {
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
        let Some(stake) = snap.stakes.get(&m.signer).copied() else {
            return out;
        };
        for e in self.ffg.attest(m.signer, stake, snap.total(), data) {
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

impl Consensus for PosEngine {
    fn kind(&self) -> &'static str {
        "pos"
    }

    fn weight(&self, _header: &Header) -> u128 {
        1
    }

    fn validate(
        &self,
        header: &Header,
        headers: &dyn Headers,
        now_ms: u64,
    ) -> Result<(), ConsensusError> {
        let parent = crate::engine::parent_of(header, headers)?;
        self.precheck(header)?;
        let data = PosData::decode(&header.consensus)?;
        let parent_slot = if parent.height == 0 {
            0
        } else {
            PosData::decode(&parent.consensus)?.slot
        };
        if data.slot <= parent_slot
            || header.timestamp_ms < self.slot_start(data.slot)
            || header.timestamp_ms >= self.slot_start(data.slot.saturating_add(1))
        {
            return Err(ConsensusError::BadConsensusData {
                reason: format!(
                    "slot {} after slot {parent_slot}, stamped {}",
                    data.slot, header.timestamp_ms
                ),
            });
        }
        if header.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
            return Err(ConsensusError::TimestampTooNew {
                got: header.timestamp_ms,
                now: now_ms,
                drift_ms: MAX_FUTURE_DRIFT_MS,
            });
        }
        let snap = self.snapshot(&parent.hash())?;
        if snap.leader(data.slot, self.epoch_slots()) != Some(header.producer) {
            return Err(ConsensusError::Unauthorized {
                signer: header.producer,
            });
        }
        let epoch = data.slot / self.epoch_slots();
        header
            .producer
            .verify(
                REVEAL_DOMAIN,
                &reveal_message(&self.chain_id, epoch),
                &data.reveal,
            )
            .map_err(|_| ConsensusError::BadSignature)?;
        if data.attestations.len() > MAX_BLOCK_ATTESTATIONS {
            return Err(ConsensusError::BadConsensusData {
                reason: format!(
                    "{} attestations, at most {MAX_BLOCK_ATTESTATIONS}",
                    data.attestations.len()
                ),
            });
        }
        for m in &data.attestations {
            let readable = m.position.kind == MessageKind::Attestation
                && m.position.round == 0
                && codec::decode::<AttestationData, { AttestationData::MAX_BYTES }>(
                    "attestation",
                    &m.payload,
                )
                .is_ok_and(|d| d.target.epoch == m.position.height);
            if !readable {
                return Err(ConsensusError::BadConsensusData {
                    reason: "an attestation the block carries is not one".into(),
                });
            }
            m.verify(&self.chain_id)
                .map_err(|_| ConsensusError::BadSignature)?;
        }
        Ok(())
    }

    fn precheck(&self, header: &Header) -> Result<(), ConsensusError> {
        sealed_message(header)?
            .verify(&self.chain_id)
            .map_err(|_| ConsensusError::BadSignature)
    }

    fn engine_status(&self, _tip: &Header, _headers: &dyn Headers, now_ms: u64) -> EngineStatus {
        let slot = self.slot_at(now_ms);
        EngineStatus {
            slots: Some(SlotStatus {
                slot,
                epoch: self.epoch_of(slot),
                slot_ms: self.params.slot_ms.max(1),
                epoch_slots: self.epoch_slots(),
            }),
            ..EngineStatus::default()
        }
    }

    fn restore(&mut self, block: &Block) {
        PosEngine::restore(self, block);
    }

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let mut out = self.step(input, headers);
        if std::mem::take(&mut self.unsaved) {
            let bytes = self.protection.to_json().into_bytes();
            let record = Record {
                name: RECORD_NAME,
                bytes,
            };
            out.insert(0, Output::Persist(record));
        }
        out
    }
}

impl PosEngine {
    /// One step of the engine (`Consensus::handle` adds the record to save).
    fn step(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        match input {
            Input::NewTip { tip, now_ms } => {
                self.tip = Some(tip);
                if self.next_slot.is_none() {
                    let slot = self.slot_at(now_ms) + 1;
                    self.next_slot = Some(slot);
                    let mut out = vec![Output::SetTimer {
                        id: slot,
                        at_ms: self.slot_start(slot),
                    }];
                    // What the stored chain taught at start-up (`restore`).
                    if self.ffg.finalized.epoch > 0 {
                        out.push(Output::Finalize(self.ffg.finalized.hash));
                    }
                    if self.ffg.justified.epoch > 0 {
                        out.push(Output::Justified(self.ffg.justified.hash));
                    }
                    // Started after this epoch's attestation slot: attest late
                    // (a late vote still counts). Whatever was signed before a
                    // crash, the signing record refuses anything conflicting.
                    let now_slot = slot - 1;
                    let me = self.key.public();
                    let staked = self
                        .tip
                        .as_ref()
                        .and_then(|t| self.snapshot(&t.hash()).ok())
                        .is_some_and(|s| s.stakes.contains_key(&me));
                    if now_slot % self.epoch_slots() > self.epoch_slots() / 2 && staked {
                        out.extend(self.attest(self.epoch_of(now_slot), headers));
                    }
                    return out;
                }
                Vec::new()
            }
            Input::Timer { id, now_ms } => {
                if Some(id) != self.next_slot {
                    return Vec::new();
                }
                let _ = now_ms;
                self.on_slot(id, headers)
            }
            Input::Produced { mut block, .. } => {
                let Ok(data) = PosData::decode(&block.header.consensus) else {
                    return Vec::new();
                };
                // Never two blocks for one slot, whatever happened before.
                let digest = block.header.seal_hash().to_hex();
                if self
                    .guard(|p| p.record_proposal(data.slot, &digest))
                    .is_err()
                {
                    return Vec::new();
                }
                seal(&mut block, &self.key, &self.chain_id);
                self.record(&block);
                self.evidence.retain(|e| !block.evidence.contains(e));
                let mut out = self.watch_block(&block.header);
                out.push(Output::Import(block.clone()));
                out.push(Output::Broadcast(block));
                out
            }
            Input::BlockReceived { block, .. } => {
                self.record(&block);
                // Evidence a block carries need not be carried again.
                self.evidence.retain(|e| !block.evidence.contains(e));
                let mut out = self.watch_block(&block.header);
                out.push(Output::Import(block.clone()));
                out.extend(self.absorb(&block));
                out
            }
            Input::Message {
                message, now_ms, ..
            } => {
                let _ = now_ms;
                self.count_attestation(message, None)
            }
            Input::Transaction { .. }
            | Input::Tick { .. }
            | Input::Propose { .. }
            | Input::Discard { .. } => Vec::new(),
        }
    }
}
