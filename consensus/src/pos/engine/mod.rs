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
use crate::seal::MAX_FUTURE_DRIFT_MS;
use bincode::{Decode, Encode};
use generals_chain::genesis::PosParams;
use generals_chain::{
    codec, Block, Evidence, Hash, Header, Keypair, MessageKind, Position, PublicKey, Signature,
    SignedMessage,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

mod checkpoint;
mod duties;
mod surface;

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
    crate::seal::seal_slot(block, key, chain_id, slot);
}

/// A header's seal as the signed message it is: the block at its slot.
fn sealed_message(header: &Header) -> Result<SignedMessage, ConsensusError> {
    crate::seal::slot_seal_message(header, PosData::decode(&header.consensus)?.slot)
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
    /// Records given out so far (`Record::seq`).
    persisted: u64,
    proposals_seen: BTreeMap<(u64, PublicKey), Header>,
    /// Every valid attestation heard, by target epoch, signer and payload.
    attestations_seen: BTreeMap<(u64, PublicKey, Hash), SignedMessage>,
    evidence: Vec<Evidence>,
    /// Whether evidence in a block ejects the offender (the genesis slashing
    /// switch: off, the chain jails nobody and the validator set keeps them).
    slashing: bool,
    /// A weak-subjectivity checkpoint (`checkpoint.rs`), and whether its
    /// block is here yet.
    checkpoint: Option<Hash>,
    checkpoint_here: bool,
    /// How far down the checkpoint's ancestry the recorded blocks reach.
    checkpoint_walk: Option<Hash>,
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
            persisted: 0,
            proposals_seen: BTreeMap::new(),
            attestations_seen: BTreeMap::new(),
            evidence: Vec::new(),
            slashing: true,
            checkpoint: None,
            checkpoint_here: false,
            checkpoint_walk: None,
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
        crate::seal::check_slot(header, data.slot, parent_slot, |s| self.slot_start(s))?;
        crate::engine::not_too_new(header, now_ms, MAX_FUTURE_DRIFT_MS)?;
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

    fn set_checkpoint(&mut self, hash: Hash) {
        self.checkpoint = Some(hash);
        self.checkpoint_here = false;
        self.checkpoint_walk = None;
    }

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let mut out = self.step(input, headers);
        if std::mem::take(&mut self.unsaved) {
            let bytes = self.protection.to_json().into_bytes();
            self.persisted += 1;
            let record = Record {
                name: RECORD_NAME,
                seq: self.persisted,
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
                out.extend(self.absorb_or_reach(&block));
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
