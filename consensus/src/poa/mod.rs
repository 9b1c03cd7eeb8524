//! Proof of authority after Clique (EIP-225) and Aura. Authorities come from
//! genesis; every `period` the in-turn authority (height mod N over the sorted
//! set) seals with weight 2, and the others may seal out of turn with weight 1
//! after a random delay drawn from a seed (Clique's "wiggle"), so an offline
//! authority does not stop the chain. An authority seals at most one of any
//! floor(N/2)+1 consecutive blocks. Fork choice is by total weight. Authorities
//! vote in their headers to add or remove an authority; a vote passes when more
//! than half agree, and votes reset at each epoch checkpoint. An authority seen
//! sealing two different blocks at one height is reported as evidence, and honest
//! authorities then propose to vote it out.
//!
//! - `snapshot`: the authority set, recent signers and votes at a block.

pub mod snapshot;

use crate::engine::{Consensus, ConsensusError, EngineStatus, Headers, Input, Output};
use crate::seal::signature_of;
pub use crate::seal::{seal, seal_message, MAX_FUTURE_DRIFT_MS};
use bincode::{Decode, Encode};
use generals_chain::genesis::PoaParams;
use generals_chain::{codec, Evidence, Hash, Header, Keypair, PublicKey};
pub use snapshot::Snapshot;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// A vote carried in a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Vote {
    pub candidate: PublicKey,
    pub add: bool,
}

/// What a proof-of-authority header carries in its `consensus` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PoaData {
    /// 2 in turn, 1 out of turn.
    pub difficulty: u8,
    pub vote: Option<Vote>,
}

impl PoaData {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<PoaData, ConsensusError> {
        codec::decode::<_, 128>("proof-of-authority data", bytes).map_err(|e| {
            ConsensusError::BadConsensusData {
                reason: e.to_string(),
            }
        })
    }
}

/// Snapshots kept in memory.
const SNAPSHOT_CACHE: usize = 4_096;

/// The honest proof-of-authority engine of one node.
#[derive(Debug)]
pub struct PoaEngine {
    params: PoaParams,
    chain_id: String,
    genesis: Header,
    genesis_signers: Vec<PublicKey>,
    key: Keypair,
    seed: u64,
    snapshots: Mutex<HashMap<Hash, Snapshot>>,
    snapshot_order: Mutex<VecDeque<Hash>>,
    proposals: BTreeMap<PublicKey, bool>,
    pending_timer: Option<(u64, Hash)>,
    next_timer: u64,
    tip: Option<Header>,
    /// Seals seen, by height and signer: to catch an authority sealing twice.
    seals: crate::seal::Seals,
    evidence: Vec<Evidence>,
}

impl PoaEngine {
    pub fn new(
        params: PoaParams,
        chain_id: &str,
        genesis: &Header,
        authorities: Vec<PublicKey>,
        key: Keypair,
        seed: u64,
    ) -> PoaEngine {
        PoaEngine {
            params,
            chain_id: chain_id.to_string(),
            genesis: genesis.clone(),
            genesis_signers: authorities,
            key,
            seed,
            snapshots: Mutex::new(HashMap::new()),
            snapshot_order: Mutex::new(VecDeque::new()),
            proposals: BTreeMap::new(),
            pending_timer: None,
            next_timer: 0,
            tip: None,
            seals: crate::seal::Seals::default(),
            evidence: Vec::new(),
        }
    }

    pub fn key(&self) -> &Keypair {
        &self.key
    }

    pub fn proposals(&self) -> &BTreeMap<PublicKey, bool> {
        &self.proposals
    }

    /// The snapshot after the block `header` (walking back to a cached one).
    pub fn snapshot(
        &self,
        header: &Header,
        headers: &dyn Headers,
    ) -> Result<Snapshot, ConsensusError> {
        let hash = header.hash();
        if header.height == 0 {
            return Ok(Snapshot::genesis(
                &self.genesis,
                self.genesis_signers.iter().copied(),
            ));
        }
        if let Some(s) = self
            .snapshots
            .lock()
            .ok()
            .and_then(|c| c.get(&hash).cloned())
        {
            return Ok(s);
        }
        // Walk back to a known snapshot, then apply forward.
        let mut chain = vec![header.clone()];
        let mut base = None;
        while base.is_none() {
            let last = chain
                .last()
                .cloned()
                .ok_or(ConsensusError::UnknownParent { parent: hash })?;
            if last.height == 0 {
                chain.pop();
                base = Some(Snapshot::genesis(
                    &self.genesis,
                    self.genesis_signers.iter().copied(),
                ));
                break;
            }
            let parent_hash = last.parent;
            if let Some(s) = self
                .snapshots
                .lock()
                .ok()
                .and_then(|c| c.get(&parent_hash).cloned())
            {
                base = Some(s);
                break;
            }
            let parent = headers
                .header(&parent_hash)
                .ok_or(ConsensusError::UnknownParent {
                    parent: parent_hash,
                })?;
            chain.push(parent);
        }
        let mut snap = base.ok_or(ConsensusError::UnknownParent { parent: hash })?;
        for h in chain.iter().rev() {
            let data = PoaData::decode(&h.consensus)?;
            snap = snap.apply(h, &data, self.params.epoch)?;
            self.remember(snap.clone());
        }
        Ok(snap)
    }

    fn remember(&self, snap: Snapshot) {
        if let (Ok(mut cache), Ok(mut order)) = (self.snapshots.lock(), self.snapshot_order.lock())
        {
            if cache.insert(snap.hash, snap.clone()).is_none() {
                order.push_back(snap.hash);
                while order.len() > SNAPSHOT_CACHE {
                    if let Some(old) = order.pop_front() {
                        cache.remove(&old);
                    }
                }
            }
        }
    }

    /// Clique's wiggle: a seeded delay before sealing out of turn.
    fn wiggle(&self, height: u64, signers: usize) -> u64 {
        let h = Hash::digest_parts(&[
            &self.seed.to_le_bytes(),
            &height.to_le_bytes(),
            &self.key.public().0,
        ]);
        let span = (signers as u64 / 2 + 1) * self.params.period_ms.max(1) / 4;
        u64::from_le_bytes(h.0[..8].try_into().unwrap_or([0; 8])) % span.max(1)
    }

    fn schedule(&mut self, tip: &Header, headers: &dyn Headers, now_ms: u64) -> Vec<Output> {
        self.pending_timer = None;
        let Ok(snap) = self.snapshot(tip, headers) else {
            return Vec::new();
        };
        let me = self.key.public();
        let height = tip.height + 1;
        if !snap.signers.contains(&me) || snap.recently_signed(&me, height) {
            return Vec::new();
        }
        let base = tip
            .timestamp_ms
            .saturating_add(self.params.period_ms)
            .max(now_ms);
        let at = if snap.in_turn(height) == Some(me) {
            base
        } else {
            base + self.params.period_ms / 2 + self.wiggle(height, snap.signers.len())
        };
        self.next_timer += 1;
        self.pending_timer = Some((self.next_timer, tip.hash()));
        vec![Output::SetTimer {
            id: self.next_timer,
            at_ms: at,
        }]
    }

    /// Notes a seal; a second, different seal by the same authority at the same
    /// height becomes evidence, and a proposal to vote that authority out.
    fn watch(&mut self, header: &Header) -> Vec<Output> {
        let message = |h: &Header| Ok(seal_message(h, signature_of(h)?));
        match self
            .seals
            .note(header.height, header, message, &self.chain_id)
        {
            Some(e) if !self.evidence.contains(&e) => {
                self.evidence.push(e.clone());
                if header.producer != self.key.public() {
                    self.proposals.insert(header.producer, false);
                }
                vec![Output::Evidence(e)]
            }
            _ => Vec::new(),
        }
    }

    /// A vote for the next block: a standing proposal that can still pass.
    fn pick_vote(&self, snap: &Snapshot, height: u64) -> Option<Vote> {
        if self.params.epoch > 0 && height % self.params.epoch == 0 {
            return None;
        }
        let me = self.key.public();
        self.proposals
            .iter()
            .filter(|(c, add)| snap.signers.contains(c) != **add)
            .find(|(c, add)| snap.votes.get(&(me, **c)) != Some(add))
            .map(|(c, add)| Vote {
                candidate: *c,
                add: *add,
            })
    }
}

impl Consensus for PoaEngine {
    fn kind(&self) -> &'static str {
        "poa"
    }

    fn engine_status(&self, tip: &Header, headers: &dyn Headers, _now_ms: u64) -> EngineStatus {
        EngineStatus {
            authorities: self
                .snapshot(tip, headers)
                .map(|s| s.signers.into_iter().collect())
                .unwrap_or_default(),
            proposals: self.proposals.iter().map(|(k, a)| (*k, *a)).collect(),
            ..EngineStatus::default()
        }
    }

    fn in_turn(&self, parent: &Header, headers: &dyn Headers) -> Option<PublicKey> {
        let snap = self.snapshot(parent, headers).ok()?;
        snap.in_turn(parent.height.checked_add(1)?)
    }

    fn weight(&self, header: &Header) -> u128 {
        PoaData::decode(&header.consensus).map_or(0, |d| d.difficulty as u128)
    }

    fn validate(
        &self,
        header: &Header,
        headers: &dyn Headers,
        now_ms: u64,
    ) -> Result<(), ConsensusError> {
        let parent = crate::engine::parent_of(header, headers)?;
        if header.timestamp_ms < parent.timestamp_ms.saturating_add(self.params.period_ms) {
            return Err(ConsensusError::TooSoon {
                got: header.timestamp_ms,
                parent: parent.timestamp_ms,
            });
        }
        crate::engine::not_too_new(header, now_ms, MAX_FUTURE_DRIFT_MS)?;
        self.precheck(header)?;
        let snap = self.snapshot(&parent, headers)?;
        let data = PoaData::decode(&header.consensus)?;
        let next = snap.apply(header, &data, self.params.epoch)?;
        self.remember(next);
        Ok(())
    }

    /// The seal is the producer's signature over the header.
    fn precheck(&self, header: &Header) -> Result<(), ConsensusError> {
        PoaData::decode(&header.consensus)?;
        let sig = signature_of(header)?;
        seal_message(header, sig)
            .verify(&self.chain_id)
            .map_err(|_| ConsensusError::BadSignature)
    }

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        match input {
            Input::NewTip { tip, now_ms } => {
                self.tip = Some(tip.clone());
                self.schedule(&tip, headers, now_ms)
            }
            Input::Timer { id, now_ms } => {
                let (Some((pending, parent)), Some(tip)) = (self.pending_timer, self.tip.clone())
                else {
                    return Vec::new();
                };
                if pending != id || parent != tip.hash() {
                    return Vec::new();
                }
                self.pending_timer = None;
                let Ok(snap) = self.snapshot(&tip, headers) else {
                    return Vec::new();
                };
                let height = tip.height + 1;
                let me = self.key.public();
                if !snap.signers.contains(&me) || snap.recently_signed(&me, height) {
                    return Vec::new();
                }
                let difficulty = if snap.in_turn(height) == Some(me) {
                    2
                } else {
                    1
                };
                let vote = self.pick_vote(&snap, height);
                vec![Output::Build {
                    parent: tip.hash(),
                    height,
                    timestamp_ms: now_ms.max(tip.timestamp_ms + self.params.period_ms),
                    consensus: PoaData { difficulty, vote }.encode(),
                    evidence: self.evidence.clone(),
                }]
            }
            Input::Produced { mut block, .. } => {
                self.evidence.retain(|e| !block.evidence.contains(e));
                seal(&mut block, &self.key, &self.chain_id);
                let mut out = self.watch(&block.header);
                out.push(Output::Import(block.clone()));
                out.push(Output::Broadcast(block));
                out
            }
            Input::BlockReceived { block, .. } => {
                // Evidence a block carries need not be carried again.
                self.evidence.retain(|e| !block.evidence.contains(e));
                let mut out = self.watch(&block.header);
                out.push(Output::Import(block));
                out
            }
            Input::Propose { candidate, add } => {
                self.proposals.insert(candidate, add);
                Vec::new()
            }
            Input::Discard { candidate } => {
                self.proposals.remove(&candidate);
                Vec::new()
            }
            Input::Message { .. } | Input::Transaction { .. } | Input::Tick { .. } => Vec::new(),
        }
    }
}
