//! Delegated proof of stake, after BitShares and EOSIO. Accounts vote with
//! their bonded stake for up to 30 delegates (`Action::Vote`); the top
//! `producers` delegates produce the next round, one slot each, in an order
//! shuffled from the reveals of earlier blocks (each a producer's signature
//! over the round, fixed in advance, so no single producer picks the order).
//! A producer that misses its slot is skipped and its missed count rises.
//! The last irreversible block is the highest that more than two thirds of
//! the round's producers have built on; fork choice is the longest chain,
//! and nothing below the last irreversible block is ever undone. Two blocks
//! by one producer for one slot are evidence; once a block carries it, the
//! producer is never elected again (and loses stake where slashing is on).
//!
//! - `election`: the stakes, votes, schedule, missed slots and irreversible
//!   height after each block.

pub mod election;

use crate::engine::{
    Consensus, ConsensusError, DelegateRow, DelegatesStatus, EngineStatus, Headers, Input, Output,
    Record, SlotStatus,
};
use crate::seal::MAX_FUTURE_DRIFT_MS;
use bincode::{Decode, Encode};
use election::{Delta, Snapshot};
use generals_chain::genesis::DposParams;
use generals_chain::{
    codec, Action, Block, Evidence, Hash, Header, Keypair, PublicKey, Signature, SignedMessage,
};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The name of the producer's signing record (the last slot it produced).
pub const RECORD_NAME: &str = "dpos-producer";
/// Domain of a producer's reveal for a round.
pub const REVEAL_DOMAIN: &[u8] = b"generals/dpos-reveal/v1\0";
/// Snapshots kept in memory.
const SNAPSHOT_CACHE: usize = 4_096;

/// What a delegated-proof-of-stake header carries in its `consensus` field.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DposData {
    pub slot: u64,
    /// The producer's signature over the slot's round.
    pub reveal: Signature,
}

impl DposData {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<DposData, ConsensusError> {
        codec::decode::<_, 128>("delegated-proof-of-stake data", bytes).map_err(|e| {
            ConsensusError::BadConsensusData {
                reason: e.to_string(),
            }
        })
    }
}

/// The bytes a producer signs as its reveal for `round` on `chain_id`.
pub fn reveal_message(chain_id: &str, round: u64) -> Vec<u8> {
    crate::pos::leader::reveal_message(chain_id, round)
}

/// Seals a block with `key` at its slot, so two blocks of one slot by one
/// producer are evidence as they stand.
pub fn seal(block: &mut Block, key: &Keypair, chain_id: &str) {
    let slot = DposData::decode(&block.header.consensus).map_or(0, |d| d.slot);
    crate::seal::seal_slot(block, key, chain_id, slot);
}

/// A header's seal as the signed message it is: the block at its slot.
fn sealed_message(header: &Header) -> Result<SignedMessage, ConsensusError> {
    crate::seal::slot_seal_message(header, DposData::decode(&header.consensus)?.slot)
}

/// What a block's body changes in the election.
fn delta(block: &Block) -> Result<Delta, ConsensusError> {
    let data = DposData::decode(&block.header.consensus)?;
    let (bonds, _) = crate::engine::stake_changes(block, false);
    let votes = block
        .transactions
        .iter()
        .filter_map(|t| match &t.body.action {
            Action::Vote { delegates } => Some((t.body.sender, delegates.clone())),
            _ => None,
        })
        .collect();
    Ok(Delta {
        parent: block.header.parent,
        height: block.header.height,
        slot: data.slot,
        producer: block.header.producer,
        reveal: data.reveal,
        bonds,
        votes,
        offenders: block.evidence.iter().map(Evidence::offender).collect(),
    })
}

/// The honest delegated-proof-of-stake engine of one node.
#[derive(Debug)]
pub struct DposEngine {
    params: DposParams,
    chain_id: String,
    genesis: Header,
    genesis_snapshot: Snapshot,
    key: Keypair,
    deltas: Mutex<HashMap<Hash, Delta>>,
    snapshots: Mutex<HashMap<Hash, Snapshot>>,
    snapshot_order: Mutex<VecDeque<Hash>>,
    tip: Option<Header>,
    /// The slot this producer waits for, and the tip it builds on.
    next: Option<(u64, Hash)>,
    /// The last slot this producer sealed a block for (its signing record).
    signed_slot: u64,
    persisted: u64,
    unsaved: bool,
    /// Seals seen, by slot and producer: to catch a double producer.
    seals: crate::seal::Seals,
    evidence: Vec<Evidence>,
    /// The irreversible height last reported.
    finalized: u64,
}

impl DposEngine {
    pub fn new(
        params: DposParams,
        chain_id: &str,
        genesis: &Header,
        validators: Vec<(PublicKey, u64)>,
        key: Keypair,
    ) -> DposEngine {
        DposEngine {
            genesis_snapshot: Snapshot::genesis(genesis.hash(), &validators, params.producers),
            params,
            chain_id: chain_id.to_string(),
            genesis: genesis.clone(),
            key,
            deltas: Mutex::new(HashMap::new()),
            snapshots: Mutex::new(HashMap::new()),
            snapshot_order: Mutex::new(VecDeque::new()),
            tip: None,
            next: None,
            signed_slot: 0,
            persisted: 0,
            unsaved: false,
            seals: crate::seal::Seals::default(),
            evidence: Vec::new(),
            finalized: 0,
        }
    }

    /// Starts from a saved record: never a block for a slot at or before it.
    pub fn with_record(mut self, signed_slot: u64) -> DposEngine {
        self.signed_slot = signed_slot;
        self
    }

    /// The record's bytes: the last slot sealed, little-endian.
    pub fn record_bytes(slot: u64) -> Vec<u8> {
        slot.to_le_bytes().to_vec()
    }

    /// Reads a saved record.
    pub fn read_record(bytes: &[u8]) -> Option<u64> {
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    pub fn key(&self) -> &Keypair {
        &self.key
    }

    fn producers(&self) -> u64 {
        self.params.producers.max(1)
    }

    pub fn slot_start(&self, slot: u64) -> u64 {
        self.genesis
            .timestamp_ms
            .saturating_add(slot.saturating_mul(self.params.slot_ms.max(1)))
    }

    fn slot_at(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.genesis.timestamp_ms) / self.params.slot_ms.max(1)
    }

    /// The election after block `hash`: from the nearest snapshot known,
    /// forward through the blocks' deltas.
    pub fn snapshot(&self, hash: &Hash) -> Result<Snapshot, ConsensusError> {
        let mut chain = Vec::new();
        let mut at = *hash;
        let base = loop {
            if at == self.genesis.hash() {
                break self.genesis_snapshot.clone();
            }
            if let Some(s) = self.snapshots.lock().ok().and_then(|c| c.get(&at).cloned()) {
                break s;
            }
            let d = self
                .deltas
                .lock()
                .ok()
                .and_then(|d| d.get(&at).cloned())
                .ok_or(ConsensusError::UnknownParent { parent: at })?;
            let parent = d.parent;
            chain.push((at, d));
            at = parent;
        };
        let mut snap = base;
        for (block, d) in chain.iter().rev() {
            snap = snap.apply(d, self.producers());
            self.remember(*block, snap.clone());
        }
        Ok(snap)
    }

    fn remember(&self, hash: Hash, snap: Snapshot) {
        if let (Ok(mut cache), Ok(mut order)) = (self.snapshots.lock(), self.snapshot_order.lock())
        {
            if cache.insert(hash, snap).is_none() {
                order.push_back(hash);
                while order.len() > SNAPSHOT_CACHE {
                    if let Some(old) = order.pop_front() {
                        cache.remove(&old);
                    }
                }
            }
        }
    }

    /// Records a block's body: what it changes in the election.
    pub fn record(&self, block: &Block) {
        if let (Ok(d), Ok(mut deltas)) = (delta(block), self.deltas.lock()) {
            deltas.insert(block.hash(), d);
        }
    }

    /// The next slot this producer leads after `tip`, from now on, and a
    /// timer for it.
    fn schedule(&mut self, now_ms: u64) -> Vec<Output> {
        self.next = None;
        let Some(tip) = self.tip.clone() else {
            return Vec::new();
        };
        let Ok(snap) = self.snapshot(&tip.hash()) else {
            return Vec::new();
        };
        let me = self.key.public();
        let from = (snap.slot + 1)
            .max(self.slot_at(now_ms))
            .max(self.signed_slot + 1);
        let Some(slot) = (from..from + 2 * self.producers() + 1)
            .find(|s| snap.producer(*s, self.producers()) == Some(me))
        else {
            return Vec::new();
        };
        self.next = Some((slot, tip.hash()));
        vec![Output::SetTimer {
            id: slot,
            at_ms: self.slot_start(slot).max(now_ms),
        }]
    }

    /// The block at `height` on the branch of `tip`.
    fn ancestor(&self, tip: &Header, height: u64, headers: &dyn Headers) -> Option<Header> {
        let mut h = tip.clone();
        while h.height > height {
            h = headers.header(&h.parent)?;
        }
        (h.height == height).then_some(h)
    }

    /// Reports a newer irreversible block on the tip's branch.
    fn finality(&mut self, headers: &dyn Headers) -> Vec<Output> {
        let Some(tip) = self.tip.clone() else {
            return Vec::new();
        };
        let Ok(snap) = self.snapshot(&tip.hash()) else {
            return Vec::new();
        };
        if snap.lib <= self.finalized {
            return Vec::new();
        }
        match self.ancestor(&tip, snap.lib, headers) {
            Some(h) => {
                self.finalized = snap.lib;
                vec![Output::Finalize(h.hash())]
            }
            None => Vec::new(),
        }
    }

    /// Notes a seal; a second, different block by the same producer for the
    /// same slot becomes evidence.
    fn watch(&mut self, header: &Header) -> Vec<Output> {
        let Ok(data) = DposData::decode(&header.consensus) else {
            return Vec::new();
        };
        match self
            .seals
            .note(data.slot, header, sealed_message, &self.chain_id)
        {
            Some(e) if !self.evidence.contains(&e) => {
                self.evidence.push(e.clone());
                vec![Output::Evidence(e)]
            }
            _ => Vec::new(),
        }
    }

    fn step(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        match input {
            Input::NewTip { tip, now_ms } => {
                self.tip = Some(tip);
                let mut out = self.finality(headers);
                out.extend(self.schedule(now_ms));
                out
            }
            Input::Timer { id, now_ms } => {
                let (Some((slot, parent)), Some(tip)) = (self.next, self.tip.clone()) else {
                    return Vec::new();
                };
                if slot != id || parent != tip.hash() || slot <= self.signed_slot {
                    return Vec::new();
                }
                if self.slot_at(now_ms) > slot {
                    // Woken too late for the slot: wait for the next one.
                    return self.schedule(now_ms);
                }
                self.next = None;
                let round = slot / self.producers();
                let reveal = self
                    .key
                    .sign(REVEAL_DOMAIN, &reveal_message(&self.chain_id, round));
                vec![Output::Build {
                    parent: tip.hash(),
                    height: tip.height + 1,
                    timestamp_ms: self.slot_start(slot),
                    consensus: DposData { slot, reveal }.encode(),
                    evidence: self.evidence.clone(),
                }]
            }
            Input::Produced { mut block, .. } => {
                let Ok(data) = DposData::decode(&block.header.consensus) else {
                    return Vec::new();
                };
                // Never two blocks for one slot, whatever happened before.
                if data.slot <= self.signed_slot {
                    return Vec::new();
                }
                self.signed_slot = data.slot;
                self.unsaved = true;
                seal(&mut block, &self.key, &self.chain_id);
                self.record(&block);
                self.evidence.retain(|e| !block.evidence.contains(e));
                let mut out = self.watch(&block.header);
                out.push(Output::Import(block.clone()));
                out.push(Output::Broadcast(block));
                out
            }
            Input::BlockReceived { block, .. } => {
                self.record(&block);
                self.evidence.retain(|e| !block.evidence.contains(e));
                let mut out = self.watch(&block.header);
                out.push(Output::Import(block));
                out
            }
            Input::Message { .. }
            | Input::Transaction { .. }
            | Input::Tick { .. }
            | Input::Propose { .. }
            | Input::Discard { .. } => Vec::new(),
        }
    }
}

impl Consensus for DposEngine {
    fn kind(&self) -> &'static str {
        "dpos"
    }

    /// The longest chain: each block weighs one.
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
        let data = DposData::decode(&header.consensus)?;
        let parent_slot = if parent.height == 0 {
            0
        } else {
            DposData::decode(&parent.consensus)?.slot
        };
        crate::seal::check_slot(header, data.slot, parent_slot, |s| self.slot_start(s))?;
        crate::engine::not_too_new(header, now_ms, MAX_FUTURE_DRIFT_MS)?;
        let snap = self.snapshot(&parent.hash())?;
        if snap.producer(data.slot, self.producers()) != Some(header.producer) {
            return Err(ConsensusError::Unauthorized {
                signer: header.producer,
            });
        }
        let round = data.slot / self.producers();
        header
            .producer
            .verify(
                REVEAL_DOMAIN,
                &reveal_message(&self.chain_id, round),
                &data.reveal,
            )
            .map_err(|_| ConsensusError::BadSignature)
    }

    fn precheck(&self, header: &Header) -> Result<(), ConsensusError> {
        sealed_message(header)?
            .verify(&self.chain_id)
            .map_err(|_| ConsensusError::BadSignature)
    }

    fn engine_status(&self, tip: &Header, _headers: &dyn Headers, now_ms: u64) -> EngineStatus {
        let slot = self.slot_at(now_ms);
        let delegates = self.snapshot(&tip.hash()).ok().map(|s| {
            let tally = s.tally();
            let mut keys: Vec<PublicKey> = tally.keys().copied().collect();
            keys.extend(s.removed.iter().copied());
            keys.sort();
            keys.dedup();
            let rows = keys
                .into_iter()
                .map(|k| DelegateRow {
                    key: k,
                    votes: tally.get(&k).copied().unwrap_or(0),
                    producing: s.schedule.contains(&k),
                    produced: s.produced.get(&k).copied().unwrap_or(0),
                    missed: s.missed.get(&k).copied().unwrap_or(0),
                    removed: s.removed.contains(&k),
                })
                .collect();
            DelegatesStatus {
                round: s.round,
                schedule: s.schedule.clone(),
                irreversible: s.lib,
                delegates: rows,
            }
        });
        EngineStatus {
            slots: Some(SlotStatus {
                slot,
                epoch: slot / self.producers(),
                slot_ms: self.params.slot_ms.max(1),
                epoch_slots: self.producers(),
            }),
            delegates,
            ..EngineStatus::default()
        }
    }

    fn restore(&mut self, block: &Block) {
        self.record(block);
    }

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let mut out = self.step(input, headers);
        if std::mem::take(&mut self.unsaved) {
            self.persisted += 1;
            out.insert(
                0,
                Output::Persist(Record {
                    name: RECORD_NAME,
                    seq: self.persisted,
                    bytes: Self::record_bytes(self.signed_slot),
                }),
            );
        }
        out
    }
}
