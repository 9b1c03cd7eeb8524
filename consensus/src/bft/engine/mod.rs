//! The Tendermint engine of one validator, after Buchman, Kwon and Milosevic,
//! "The latest gossip on BFT consensus" (arXiv 1807.04938), Algorithm 1. Line
//! numbers in comments are that algorithm's. A value is a block; id(v) is its
//! hash; valid(v) is the engine's header check against the committed parent.
//! A decision is final: the host imports and finalizes the block, and fork
//! choice follows decisions only. The precommits that decided a block travel
//! in the next block (`BftData::last_commit`), so a node that syncs the chain
//! checks each block's commit certificate before it takes it.

use super::record::{BftRecord, Refusal, RECORD_NAME};
use super::validators::{Book, ValidatorSet};
use crate::engine::{
    Consensus, ConsensusError, EngineStatus, Headers, Input, NodeId, Output, Record, RoundStatus,
};
use crate::seal::MAX_FUTURE_DRIFT_MS;
use generals_chain::genesis::BftParams;
use generals_chain::{
    codec, Block, Hash, Header, Keypair, MessageKind, Position, PublicKey, SignedMessage,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

mod data;
mod handle;
mod messages;
mod round;

use data::sealed_message;
pub(crate) use data::{extends, tip_certificate};
pub use data::{round_of, seal, seal_signature, vote_payload, vote_value, BftData, ProposalBody};
// A header's seal as the signed message it is (for wrappers).
pub(crate) use data::sealed_message as seal_message_of;

/// Rounds above the current one whose messages are kept (more are dropped, so
/// a faulty validator cannot fill memory with far-future rounds).
pub const MAX_ROUNDS_AHEAD: u64 = 64;
/// The highest round a block may carry (proposer selection walks the rounds,
/// so a header cannot make a node do unbounded work).
pub const MAX_ROUND: u64 = 10_000;
/// Candidate blocks kept for the current and next height.
const MAX_CANDIDATES: usize = 64;
/// Messages of the next height kept until it starts.
const MAX_FUTURE: usize = 4_096;

/// Algorithm 1's step_p.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Propose,
    Prevote,
    Precommit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timeout {
    Propose,
    Prevote,
    Precommit,
    /// The proposer builds its block (after `timeout_commit` at round 0).
    Build,
    /// Send again the current round's messages, for peers that lost them.
    Gossip,
}

/// Votes by (kind, round), then by signer: the value and the signed message.
type VoteLog = BTreeMap<(MessageKind, u64), BTreeMap<PublicKey, (Option<Hash>, SignedMessage)>>;

/// Where a validator stands, for `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BftStatus {
    pub height: u64,
    pub round: u64,
    pub step: Step,
    pub locked_round: Option<u64>,
    pub valid_round: Option<u64>,
    pub proposer: Option<PublicKey>,
    /// Voting power of each validator at this height.
    pub validators: Vec<(PublicKey, u64)>,
}

/// The honest Tendermint engine.
#[derive(Debug)]
pub struct BftEngine {
    params: BftParams,
    chain_id: String,
    key: Keypair,
    book: Book,
    now: u64,
    started: bool,
    /// The last decided block (h_p - 1).
    tip: Option<Header>,
    /// Lines 2-9: h_p, round_p, step_p, lockedRound/Value, validRound/Value.
    height: u64,
    round: u64,
    step: Step,
    locked: Option<(u64, Hash)>,
    valid: Option<(u64, Hash)>,
    set: Option<ValidatorSet>,
    /// Candidate blocks (values) of this height and above (a syncing node gets
    /// them before it reaches their height).
    blocks: HashMap<Hash, Block>,
    /// The proposal of each round of this height, from its proposer.
    proposals: BTreeMap<u64, (ProposalBody, SignedMessage)>,
    /// Votes of this height: (kind, round) -> signer -> (value, message).
    votes: VoteLog,
    /// Second, conflicting votes (evidence): counted only toward a decision,
    /// as a commit certificate counts every precommit signed for its block.
    doubles: VoteLog,
    /// Messages of the next height, unchecked until it starts.
    future: Vec<SignedMessage>,
    /// "For the first time" rules that fired: (line, round).
    fired: BTreeSet<(u32, u64)>,
    /// Signatures of messages already taken at this height.
    seen: HashSet<[u8; 64]>,
    timers: HashMap<u64, (Timeout, u64, u64)>,
    next_timer: u64,
    /// The last decision and its precommits, for the next block and for peers
    /// that fell behind.
    last_commit: Option<(Block, Vec<SignedMessage>)>,
    decided_at: u64,
    evidence: crate::evidence::EvidencePool,
    record: BftRecord,
    /// The record changed in this step: it goes out as `Output::Persist`
    /// ahead of the step's other outputs.
    unsaved: bool,
    /// Records given out so far (`Record::seq`).
    persisted: u64,
}

impl BftEngine {
    pub fn new(
        params: BftParams,
        chain_id: &str,
        genesis: &Header,
        validators: Vec<(PublicKey, u64)>,
        key: Keypair,
    ) -> BftEngine {
        BftEngine {
            params,
            chain_id: chain_id.into(),
            key,
            book: Book::new(genesis.hash(), validators, true),
            now: 0,
            started: false,
            tip: None,
            height: 1,
            round: 0,
            step: Step::Propose,
            locked: None,
            valid: None,
            set: None,
            blocks: HashMap::new(),
            proposals: BTreeMap::new(),
            votes: BTreeMap::new(),
            doubles: BTreeMap::new(),
            future: Vec::new(),
            fired: BTreeSet::new(),
            seen: HashSet::new(),
            timers: HashMap::new(),
            next_timer: 1,
            last_commit: None,
            decided_at: 0,
            evidence: Default::default(),
            record: BftRecord::default(),
            unsaved: false,
            persisted: 0,
        }
    }

    /// Follows the genesis slashing switch: with it off, evidence ejects nobody.
    pub fn with_slashing(mut self, enabled: bool) -> BftEngine {
        self.book.set_slashing(enabled);
        self
    }

    /// Starts from a saved signing record (after a restart). Every change to
    /// the record leaves as `Output::Persist` ahead of the signature it allows.
    pub fn with_record(mut self, record: BftRecord) -> BftEngine {
        self.record = record;
        self
    }

    pub fn record(&self) -> &BftRecord {
        &self.record
    }

    pub fn key(&self) -> &Keypair {
        &self.key
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Teaches the engine a stored block (at start-up, from the stored chain).
    pub fn restore(&mut self, block: &Block) {
        self.book.record(block, round_of(&block.header));
    }

    /// The validators that vote on the child of `hash`.
    pub fn validators_after(&self, hash: &Hash) -> Result<ValidatorSet, ConsensusError> {
        self.book.after(hash)
    }

    pub fn status(&self) -> BftStatus {
        BftStatus {
            height: self.height,
            round: self.round,
            step: self.step,
            locked_round: self.locked.map(|l| l.0),
            valid_round: self.valid.map(|v| v.0),
            proposer: self.set.as_ref().and_then(|s| s.proposer(self.round)),
            validators: self
                .set
                .as_ref()
                .map(|s| s.power.iter().map(|(k, p)| (*k, *p)).collect())
                .unwrap_or_default(),
        }
    }

    fn me(&self) -> PublicKey {
        self.key.public()
    }

    fn is_validator(&self) -> bool {
        self.set
            .as_ref()
            .is_some_and(|s| s.power.contains_key(&self.me()))
    }

    fn proposer(&self, round: u64) -> Option<PublicKey> {
        self.set.as_ref().and_then(|s| s.proposer(round))
    }

    /// timeoutPropose(r), timeoutPrevote(r), timeoutPrecommit(r): each round
    /// waits half the base longer than the one before, so that once messages
    /// arrive in bounded time, some round is long enough to decide.
    fn timeout(&self, kind: Timeout, round: u64) -> u64 {
        let base = match kind {
            Timeout::Propose => self.params.timeout_propose_ms,
            Timeout::Prevote | Timeout::Precommit | Timeout::Gossip => self.params.timeout_vote_ms,
            Timeout::Build => self.params.timeout_commit_ms,
        }
        .max(1);
        base.saturating_add(round.min(MAX_ROUND).saturating_mul(base / 2))
    }

    fn schedule(&mut self, kind: Timeout, at_ms: u64, out: &mut Vec<Output>) {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timers.insert(id, (kind, self.height, self.round));
        out.push(Output::SetTimer { id, at_ms });
    }

    /// Records a signature about to be made; on a refusal nothing may be
    /// signed. The record goes out to be saved before the step's outputs.
    fn guard(&mut self, kind: MessageKind, round: u64, payload: &[u8]) -> Result<(), Refusal> {
        let before = self.record.clone();
        self.record.sign(kind, self.height, round, payload)?;
        self.record.locked = self.locked;
        self.record.valid = self.valid;
        if self.record != before {
            self.unsaved = true;
        }
        Ok(())
    }

    fn sign(&mut self, kind: MessageKind, round: u64, payload: Vec<u8>) -> Option<SignedMessage> {
        if !self.is_validator() || self.guard(kind, round, &payload).is_err() {
            return None;
        }
        let position = Position {
            kind,
            height: self.height,
            round,
        };
        Some(SignedMessage::sign(
            &self.key,
            &self.chain_id,
            position,
            payload,
        ))
    }

    /// Broadcasts ⟨kind, h_p, round_p, value⟩ and counts it (a broadcast
    /// reaches its sender too).
    fn vote(&mut self, kind: MessageKind, value: Option<Hash>, out: &mut Vec<Output>) {
        if let Some(m) = self.sign(kind, self.round, vote_payload(value)) {
            out.push(Output::BroadcastMessage(m.clone()));
            self.add_vote(m, value, out);
        }
    }
}

impl Consensus for BftEngine {
    fn kind(&self) -> &'static str {
        "bft"
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
        let data = BftData::decode(&header.consensus)?;
        if data.round > MAX_ROUND {
            return Err(ConsensusError::BadConsensusData {
                reason: format!("round {} is above {MAX_ROUND}", data.round),
            });
        }
        if header.timestamp_ms < parent.timestamp_ms {
            return Err(ConsensusError::TimestampTooOld {
                got: header.timestamp_ms,
                median: parent.timestamp_ms,
            });
        }
        crate::engine::not_too_new(header, now_ms, MAX_FUTURE_DRIFT_MS)?;
        let set = self.book.after(&parent.hash())?;
        if set.proposer(data.round) != Some(header.producer) {
            return Err(ConsensusError::Unauthorized {
                signer: header.producer,
            });
        }
        self.precheck(header)?;
        if parent.height == 0 {
            if !data.last_commit.is_empty() {
                return Err(ConsensusError::BadConsensusData {
                    reason: "the first block carries a commit certificate".into(),
                });
            }
            return Ok(());
        }
        let parent_set = self.book.after(&parent.parent)?;
        self.check_commit(&parent_set, parent.height, parent.hash(), &data.last_commit)
    }

    fn precheck(&self, header: &Header) -> Result<(), ConsensusError> {
        sealed_message(header)?
            .verify(&self.chain_id)
            .map_err(|_| ConsensusError::BadSignature)
    }

    fn certified(&self, header: &Header) -> Option<Hash> {
        (header.height >= 2).then_some(header.parent)
    }

    fn engine_status(&self, _tip: &Header, _headers: &dyn Headers, _now_ms: u64) -> EngineStatus {
        let s = self.status();
        EngineStatus {
            round: Some(RoundStatus {
                height: s.height,
                round: s.round,
                step: format!("{:?}", s.step).to_lowercase(),
                locked_round: s.locked_round,
                valid_round: s.valid_round,
                proposer: s.proposer,
                validators: s.validators,
            }),
            ..EngineStatus::default()
        }
    }

    fn restore(&mut self, block: &Block) {
        BftEngine::restore(self, block);
    }

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::NewTip { tip, now_ms } => {
                self.now = now_ms;
                self.on_tip(tip, headers, &mut out);
            }
            Input::BlockReceived { block, now_ms, .. } => {
                self.now = now_ms;
                self.on_block(block, headers, &mut out);
            }
            Input::Produced { block, now_ms } => {
                self.now = now_ms;
                self.on_produced(block, headers, &mut out);
            }
            Input::Message {
                from,
                message,
                now_ms,
            } => {
                self.now = now_ms;
                self.take_message(Some(from), message, &mut out);
                self.progress(headers, &mut out);
            }
            Input::Timer { id, now_ms } => {
                self.now = now_ms;
                self.on_timer(id, headers, &mut out);
            }
            Input::Tick { now_ms } | Input::Transaction { now_ms, .. } => self.now = now_ms,
            Input::Propose { .. } | Input::Discard { .. } => {}
        }
        if std::mem::take(&mut self.unsaved) {
            self.persisted += 1;
            let record = Record {
                name: RECORD_NAME,
                seq: self.persisted,
                bytes: self.record.to_json().into_bytes(),
            };
            out.insert(0, Output::Persist(record));
        }
        out
    }
}
