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
use bincode::{Decode, Encode};
use generals_chain::genesis::BftParams;
use generals_chain::{
    codec, Block, Evidence, Hash, Header, Keypair, MessageKind, Position, PublicKey, Signature,
    SignedMessage,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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

/// What a BFT header carries in its `consensus` field.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BftData {
    /// The round in which the block was proposed.
    pub round: u64,
    /// The precommits that decided the parent: its commit certificate (empty
    /// on the first block, whose parent is genesis).
    pub last_commit: Vec<SignedMessage>,
}

impl BftData {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<BftData, ConsensusError> {
        codec::decode::<_, { generals_chain::block::MAX_SEAL_BYTES }>("BFT data", bytes).map_err(
            |e| ConsensusError::BadConsensusData {
                reason: e.to_string(),
            },
        )
    }
}

/// ⟨PROPOSAL, h, r, v, vr⟩: the block and the round it was valid in, if any.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ProposalBody {
    pub block: Hash,
    pub valid_round: Option<u64>,
}

impl ProposalBody {
    pub fn decode(bytes: &[u8]) -> Option<ProposalBody> {
        codec::decode::<_, 64>("proposal", bytes).ok()
    }
}

/// A vote's value: a block id, or nil.
pub fn vote_payload(value: Option<Hash>) -> Vec<u8> {
    codec::encode(&value)
}

pub fn vote_value(payload: &[u8]) -> Option<Option<Hash>> {
    codec::decode::<Option<Hash>, 64>("vote", payload).ok()
}

/// The block's round, from its header (0 if unreadable).
pub fn round_of(header: &Header) -> u64 {
    BftData::decode(&header.consensus).map_or(0, |d| d.round)
}

/// Seals a BFT block: its proposer's signature over the block at (height,
/// round), so two blocks of one round by one proposer are evidence as they stand.
pub fn seal(block: &mut Block, key: &Keypair, chain_id: &str) {
    let m = SignedMessage::sign(
        key,
        chain_id,
        seal_position(&block.header),
        block.header.seal_hash().0.to_vec(),
    );
    block.header.seal = m.signature.0.to_vec();
}

fn seal_position(header: &Header) -> Position {
    Position {
        kind: MessageKind::Block,
        height: header.height,
        round: round_of(header),
    }
}

/// A header's seal as the signed message it is.
fn sealed_message(header: &Header) -> Result<SignedMessage, ConsensusError> {
    let mut m = crate::seal::seal_message(header, crate::seal::signature_of(header)?);
    m.position = seal_position(header);
    Ok(m)
}

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
    evidence: Vec<Evidence>,
    evidence_seen: HashSet<Hash>,
    record: BftRecord,
    /// The record changed in this step: it goes out as `Output::Persist`
    /// ahead of the step's other outputs.
    unsaved: bool,
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
            evidence: Vec::new(),
            evidence_seen: HashSet::new(),
            record: BftRecord::default(),
            unsaved: false,
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

    /// Lines 52-54 and 10: a new height, from the block decided at h_p - 1.
    fn enter_height(&mut self, tip: Header, out: &mut Vec<Output>) {
        self.height = tip.height + 1;
        self.set = self.book.after(&tip.hash()).ok();
        self.tip = Some(tip);
        self.round = 0;
        self.step = Step::Propose;
        self.locked = None;
        self.valid = None;
        self.proposals.clear();
        self.votes.clear();
        self.doubles.clear();
        self.fired.clear();
        self.seen.clear();
        let h = self.height;
        self.blocks.retain(|_, b| b.height() >= h);
        let set = self.set.clone();
        self.evidence.retain(|e| {
            set.as_ref()
                .is_some_and(|s| s.power.contains_key(&e.offender()))
        });
        // A restart resumes the round, lock and votes it had.
        let mut round = 0;
        if self.record.height == self.height {
            self.locked = self.record.locked;
            self.valid = self.record.valid;
            round = self
                .record
                .last_round()
                .into_iter()
                .chain(self.locked.map(|l| l.0))
                .chain(self.valid.map(|v| v.0))
                .max()
                .unwrap_or(0);
        }
        self.start_round(round, out);
        if self.record.height == self.height {
            self.resend_record(out);
        }
        let future = std::mem::take(&mut self.future);
        for m in future {
            if m.position.height == self.height {
                self.take_message(None, m, out);
            }
        }
    }

    /// After a restart: sends again, identical, what was signed at this height
    /// and round, and takes the step it had reached.
    fn resend_record(&mut self, out: &mut Vec<Output>) {
        let signed: Vec<_> = self
            .record
            .signed
            .iter()
            .filter(|(k, r, _)| *r == self.round && *k != MessageKind::Block)
            .cloned()
            .collect();
        for (kind, round, payload) in signed {
            let position = Position {
                kind,
                height: self.height,
                round,
            };
            let m = SignedMessage::sign(&self.key, &self.chain_id, position, payload);
            out.push(Output::BroadcastMessage(m.clone()));
            let step = match kind {
                MessageKind::Prevote => Step::Prevote,
                MessageKind::Precommit => Step::Precommit,
                _ => Step::Propose,
            };
            self.step = self.step.max(step);
            self.take_message(None, m, out);
        }
    }

    /// Lines 11-21: StartRound(round).
    fn start_round(&mut self, round: u64, out: &mut Vec<Output>) {
        self.round = round;
        self.step = Step::Propose;
        // At round 0 everyone first waits `timeout_commit`, Tendermint's pause
        // between heights.
        let pause = if round == 0 {
            self.params.timeout_commit_ms
        } else {
            0
        };
        if self.proposer(round) == Some(self.me()) {
            let revalid = self
                .valid
                .and_then(|(vr, v)| self.blocks.get(&v).cloned().map(|b| (vr, b)));
            match revalid {
                // Lines 15-16, 19: propose the valid value again.
                Some((vr, block)) => self.propose(block, Some(vr), out),
                // Line 18: getValue(), built by the host.
                None => {
                    let at = self.now + pause;
                    self.schedule(Timeout::Build, at, out);
                }
            }
        }
        // Line 21 (the proposer sets it too, in case its block never comes).
        let at = self.now + pause + self.timeout(Timeout::Propose, round);
        self.schedule(Timeout::Propose, at, out);
    }

    /// Line 19: broadcast ⟨PROPOSAL, h_p, round_p, proposal, validRound_p⟩.
    fn propose(&mut self, block: Block, valid_round: Option<u64>, out: &mut Vec<Output>) {
        let body = ProposalBody {
            block: block.hash(),
            valid_round,
        };
        let Some(m) = self.sign(MessageKind::Proposal, self.round, codec::encode(&body)) else {
            return;
        };
        out.push(Output::Broadcast(block.clone()));
        out.push(Output::BroadcastMessage(m.clone()));
        self.blocks.insert(block.hash(), block);
        self.proposals.insert(self.round, (body, m));
    }

    /// The header check of a candidate: it extends the decided block.
    fn is_valid(&self, hash: &Hash, headers: &dyn Headers) -> bool {
        let (Some(b), Some(tip)) = (self.blocks.get(hash), &self.tip) else {
            return false;
        };
        b.header.parent == tip.hash()
            && b.height() == self.height
            && b.header.tx_root == Block::compute_tx_root(&b.transactions)
            && b.header.evidence_root == Block::compute_evidence_root(&b.evidence)
            && self.validate(&b.header, headers, self.now).is_ok()
    }

    /// The power of the validators that signed a `kind` vote in `round` (for
    /// `value`, or for anything). A signer that also signed another value
    /// still counts for this one: the paper's "2f+1 ⟨PREVOTE, h, r, id(v)⟩"
    /// are signed messages, whoever else their signers wrote to.
    fn power(&self, kind: MessageKind, round: u64, value: Option<Option<Hash>>) -> u128 {
        let Some(set) = &self.set else { return 0 };
        let key = (kind, round);
        let signers: BTreeSet<&PublicKey> = self
            .votes
            .get(&key)
            .into_iter()
            .chain(self.doubles.get(&key))
            .flatten()
            .filter(|(_, (v, _))| value.is_none_or(|want| *v == want))
            .map(|(k, _)| k)
            .collect();
        signers.into_iter().map(|k| set.power_of(k)).sum()
    }

    fn quorum(&self, kind: MessageKind, round: u64, value: Option<Option<Hash>>) -> bool {
        let p = self.power(kind, round, value);
        self.set.as_ref().is_some_and(|s| s.is_quorum(p))
    }

    /// Applies every rule whose condition holds, until none does.
    fn progress(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) {
        for _ in 0..1_000 {
            if self.try_decide(headers, out) {
                continue;
            }
            // Lines 55-56: f+1 validators are in a later round; join it.
            if let Some(r) = self.later_round() {
                self.start_round(r, out);
                continue;
            }
            if self.step == Step::Propose && self.try_prevote(headers, out) {
                continue;
            }
            let r = self.round;
            // Lines 34-35.
            if self.step == Step::Prevote
                && self.quorum(MessageKind::Prevote, r, None)
                && self.fired.insert((34, r))
            {
                let at = self.now + self.timeout(Timeout::Prevote, r);
                self.schedule(Timeout::Prevote, at, out);
            }
            // Lines 36-43.
            if self.step >= Step::Prevote && !self.fired.contains(&(36, r)) {
                if let Some((body, _)) = self.proposals.get(&r).cloned() {
                    let v = body.block;
                    if self.quorum(MessageKind::Prevote, r, Some(Some(v)))
                        && self.is_valid(&v, headers)
                    {
                        self.fired.insert((36, r));
                        if self.step == Step::Prevote {
                            self.locked = Some((r, v));
                            self.step = Step::Precommit;
                            self.vote(MessageKind::Precommit, Some(v), out);
                        }
                        self.valid = Some((r, v));
                        continue;
                    }
                }
            }
            // Lines 44-46.
            if self.step == Step::Prevote && self.quorum(MessageKind::Prevote, r, Some(None)) {
                self.step = Step::Precommit;
                self.vote(MessageKind::Precommit, None, out);
                continue;
            }
            // Lines 47-48.
            if self.quorum(MessageKind::Precommit, r, None) && self.fired.insert((47, r)) {
                let at = self.now + self.timeout(Timeout::Precommit, r);
                self.schedule(Timeout::Precommit, at, out);
            }
            return;
        }
    }

    /// Lines 22-33: the proposal of round_p, while step_p = propose.
    fn try_prevote(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) -> bool {
        let r = self.round;
        let Some((body, _)) = self.proposals.get(&r).cloned() else {
            return false;
        };
        let v = body.block;
        if !self.blocks.contains_key(&v) {
            return false; // the block has not arrived yet
        }
        let value = match body.valid_round {
            // Lines 22-27.
            None => {
                let ok = self.is_valid(&v, headers)
                    && (self.locked.is_none() || self.locked.map(|l| l.1) == Some(v));
                ok.then_some(v)
            }
            // Lines 28-33: a proof of lock from round vr.
            Some(vr) => {
                if vr >= r || !self.quorum(MessageKind::Prevote, vr, Some(Some(v))) {
                    return false;
                }
                let ok = self.is_valid(&v, headers)
                    && (self.locked.is_none_or(|l| l.0 <= vr)
                        || self.locked.map(|l| l.1) == Some(v));
                ok.then_some(v)
            }
        };
        self.step = Step::Prevote;
        self.vote(MessageKind::Prevote, value, out);
        true
    }

    /// Lines 55-56: the lowest round above round_p in which validators with
    /// more than a third of the power have sent something.
    fn later_round(&self) -> Option<u64> {
        let set = self.set.as_ref()?;
        let mut by_round: BTreeMap<u64, BTreeSet<PublicKey>> = BTreeMap::new();
        for ((_, r), by) in &self.votes {
            if *r > self.round {
                by_round.entry(*r).or_default().extend(by.keys());
            }
        }
        for (r, (_, m)) in self.proposals.range(self.round + 1..) {
            by_round.entry(*r).or_default().insert(m.signer);
        }
        by_round
            .into_iter()
            .find(|(_, signers)| set.is_over_third(signers.iter().map(|k| set.power_of(k)).sum()))
            .map(|(r, _)| r)
    }

    /// Lines 49-54: 2f+1 precommits for a valid block of any round decide it.
    /// (Tendermint needs the proposal too; the block and its precommits are
    /// enough here, which lets a node that missed the proposal decide.)
    fn try_decide(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) -> bool {
        let Some(set) = self.set.clone() else {
            return false;
        };
        let mut found = None;
        for ((kind, r), by) in &self.votes {
            if *kind != MessageKind::Precommit {
                continue;
            }
            // Every signer's precommit for v counts, its double too: 2f+1
            // signatures on v decide v whatever else their signers signed.
            let doubles = self.doubles.get(&(*kind, *r));
            let mut tally: BTreeMap<Hash, BTreeMap<PublicKey, SignedMessage>> = BTreeMap::new();
            for (k, (v, m)) in by.iter().chain(doubles.into_iter().flatten()) {
                if let Some(v) = v {
                    tally.entry(*v).or_default().insert(*k, m.clone());
                }
            }
            if let Some((v, cert)) = tally
                .into_iter()
                .find(|(_, c)| set.is_quorum(c.keys().map(|k| set.power_of(k)).sum()))
            {
                found = Some((v, cert.into_values().collect::<Vec<_>>()));
                break;
            }
        }
        let Some((v, cert)) = found else { return false };
        if !self.is_valid(&v, headers) {
            return false;
        }
        let Some(block) = self.blocks.get(&v).cloned() else {
            return false;
        };
        // Kept with the signing record: after a restart this node's next
        // proposal still carries its parent's certificate.
        self.record.commit = cert.clone();
        self.unsaved = true;
        // Line 51: decision_p[h_p] = v.
        out.push(Output::Import(block.clone()));
        out.push(Output::Finalize(v));
        self.evidence.retain(|e| !block.evidence.contains(e));
        self.last_commit = Some((block.clone(), cert));
        self.decided_at = self.now;
        self.enter_height(block.header, out);
        true
    }

    /// A vote, once its signature and signer are checked: counted, or evidence
    /// if the signer already voted otherwise in this round.
    fn add_vote(&mut self, m: SignedMessage, value: Option<Hash>, out: &mut Vec<Output>) {
        let by = self
            .votes
            .entry((m.position.kind, m.position.round))
            .or_default();
        match by.get(&m.signer) {
            Some((v, first)) if *v != value => {
                let first = first.clone();
                self.doubles
                    .entry((m.position.kind, m.position.round))
                    .or_default()
                    .entry(m.signer)
                    .or_insert((value, m.clone()));
                self.report(first, m, out);
            }
            Some(_) => {}
            None => {
                by.insert(m.signer, (value, m));
            }
        }
    }

    fn report(&mut self, first: SignedMessage, second: SignedMessage, out: &mut Vec<Output>) {
        let e = Evidence { first, second };
        if e.verify(&self.chain_id).is_err() || !self.evidence_seen.insert(e.hash()) {
            return;
        }
        if self.evidence.len() < generals_chain::block::MAX_BLOCK_EVIDENCE {
            self.evidence.push(e.clone());
        }
        out.push(Output::Evidence(e));
    }

    fn take_proposal(&mut self, m: SignedMessage, out: &mut Vec<Output>) {
        let Some(body) = ProposalBody::decode(&m.payload) else {
            return;
        };
        let r = m.position.round;
        if self.proposer(r) != Some(m.signer) || body.valid_round.is_some_and(|vr| vr >= r) {
            return;
        }
        match self.proposals.get(&r) {
            Some((_, first)) if first.payload != m.payload => {
                let first = first.clone();
                self.report(first, m, out);
            }
            Some(_) => {}
            None => {
                self.proposals.insert(r, (body, m));
            }
        }
    }

    /// A consensus message of this height (or, kept for later, the next).
    fn take_message(&mut self, from: Option<NodeId>, m: SignedMessage, out: &mut Vec<Output>) {
        if self.seen.contains(&m.signature.0) {
            return;
        }
        let h = m.position.height;
        if h < self.height {
            if let Some(peer) = from {
                self.help(peer, h, out);
            }
            return;
        }
        if h > self.height {
            if h == self.height + 1 && self.future.len() < MAX_FUTURE {
                self.future.push(m);
            }
            return;
        }
        if m.position.round > self.round + MAX_ROUNDS_AHEAD
            || !self
                .set
                .as_ref()
                .is_some_and(|s| s.power.contains_key(&m.signer))
            || m.verify(&self.chain_id).is_err()
        {
            return;
        }
        self.seen.insert(m.signature.0);
        match m.position.kind {
            MessageKind::Proposal => self.take_proposal(m, out),
            MessageKind::Prevote | MessageKind::Precommit => {
                if let Some(value) = vote_value(&m.payload) {
                    self.add_vote(m, value, out);
                }
            }
            MessageKind::Block | MessageKind::Attestation => {}
        }
    }

    /// A peer still votes at an earlier height than ours: once a gossip period
    /// has passed since our decision (so that it is behind, not merely late),
    /// send it the decided block and its precommits.
    fn help(&mut self, peer: NodeId, their_height: u64, out: &mut Vec<Output>) {
        let Some((block, cert)) = &self.last_commit else {
            return;
        };
        if block.height() < their_height
            || self.now < self.decided_at + self.timeout(Timeout::Gossip, 0)
        {
            return;
        }
        out.push(Output::SendBlock {
            to: peer,
            block: block.clone(),
        });
        for m in cert {
            out.push(Output::SendMessage {
                to: peer,
                message: m.clone(),
            });
        }
        // At most once a gossip period.
        self.decided_at = self.now;
    }

    /// Sends again this round's and the last round's messages, the proposal
    /// with its block and the prevotes that justify it, so that a lost message
    /// is not lost for good (gossip).
    fn gossip(&mut self, out: &mut Vec<Output>) {
        let from = self.round.saturating_sub(1);
        // The rounds whose prevotes prove a lock (a proposal's valid round,
        // our lock's and valid value's): without them a re-proposal of a
        // locked block cannot be accepted (line 28).
        let mut pol: BTreeSet<u64> = self.locked.iter().chain(&self.valid).map(|x| x.0).collect();
        if let Some((body, m)) = self.proposals.get(&self.round) {
            if let Some(b) = self.blocks.get(&body.block) {
                out.push(Output::Broadcast(b.clone()));
            }
            out.push(Output::BroadcastMessage(m.clone()));
            pol.extend(body.valid_round);
        }
        for ((kind, r), by) in &self.votes {
            if *r >= from || (*kind == MessageKind::Prevote && pol.contains(r)) {
                out.extend(
                    by.values()
                        .map(|(_, m)| Output::BroadcastMessage(m.clone())),
                );
            }
        }
    }

    fn on_timer(&mut self, id: u64, headers: &dyn Headers, out: &mut Vec<Output>) {
        let Some((kind, height, round)) = self.timers.remove(&id) else {
            return;
        };
        if kind == Timeout::Gossip {
            self.gossip(out);
            let at = self.now + self.timeout(Timeout::Gossip, 0);
            self.schedule(Timeout::Gossip, at, out);
            return;
        }
        if height != self.height || round != self.round {
            return;
        }
        match kind {
            // Lines 57-60.
            Timeout::Propose if self.step == Step::Propose => {
                self.step = Step::Prevote;
                self.vote(MessageKind::Prevote, None, out);
            }
            // Lines 61-64.
            Timeout::Prevote if self.step == Step::Prevote => {
                self.step = Step::Precommit;
                self.vote(MessageKind::Precommit, None, out);
            }
            // Lines 65-67.
            Timeout::Precommit => self.start_round(round + 1, out),
            // Line 18: getValue().
            Timeout::Build
                if self.step == Step::Propose && !self.proposals.contains_key(&round) =>
            {
                self.build(out)
            }
            _ => {}
        }
        self.progress(headers, out);
    }

    fn build(&mut self, out: &mut Vec<Output>) {
        let Some(tip) = self.tip.clone() else { return };
        let saved = &self.record.commit;
        let certifies_tip = saved.first().is_some_and(|m| {
            m.position.height == tip.height && m.payload == vote_payload(Some(tip.hash()))
        });
        let last_commit = match &self.last_commit {
            Some((b, cert)) if b.hash() == tip.hash() => cert.clone(),
            _ if tip.height == 0 => Vec::new(),
            _ if certifies_tip => saved.clone(),
            // Decided by others while this node was away: the commit
            // certificate of the tip is in any block built on it.
            _ => match self
                .blocks
                .values()
                .find(|b| b.header.parent == tip.hash())
                .and_then(|b| BftData::decode(&b.header.consensus).ok())
            {
                Some(d) => d.last_commit,
                None => return,
            },
        };
        let set = self.set.clone();
        let evidence = self
            .evidence
            .iter()
            .filter(|e| {
                set.as_ref()
                    .is_some_and(|s| s.power.contains_key(&e.offender()))
            })
            .cloned()
            .collect();
        out.push(Output::Build {
            parent: tip.hash(),
            height: self.height,
            timestamp_ms: self.now.max(tip.timestamp_ms),
            consensus: BftData {
                round: self.round,
                last_commit,
            }
            .encode(),
            evidence,
        });
    }

    fn on_produced(&mut self, mut block: Block, headers: &dyn Headers, out: &mut Vec<Output>) {
        let Ok(data) = BftData::decode(&block.header.consensus) else {
            return;
        };
        if block.height() != self.height
            || data.round != self.round
            || self.step != Step::Propose
            || self.proposals.contains_key(&self.round)
            || self.proposer(self.round) != Some(self.me())
        {
            return;
        }
        if self
            .guard(MessageKind::Block, data.round, &block.header.seal_hash().0)
            .is_err()
        {
            return;
        }
        seal(&mut block, &self.key, &self.chain_id);
        self.book.record(&block, data.round);
        out.push(Output::Import(block.clone()));
        self.propose(block, None, out);
        self.progress(headers, out);
    }

    fn on_block(&mut self, block: Block, headers: &dyn Headers, out: &mut Vec<Output>) {
        self.book.record(&block, round_of(&block.header));
        let h = block.height();
        if h >= self.height
            && self.blocks.len() < MAX_CANDIDATES
            && sealed_message(&block.header).is_ok_and(|m| m.verify(&self.chain_id).is_ok())
        {
            self.blocks.insert(block.hash(), block.clone());
        }
        // The host keeps every valid block; fork choice follows decisions only.
        out.push(Output::Import(block));
        self.progress(headers, out);
    }

    fn on_tip(&mut self, tip: Header, headers: &dyn Headers, out: &mut Vec<Output>) {
        if !self.started {
            self.started = true;
            let at = self.now + self.timeout(Timeout::Gossip, 0);
            self.schedule(Timeout::Gossip, at, out);
            self.enter_height(tip, out);
        } else if tip.height >= self.height {
            // Decided by others, learned from a commit certificate.
            self.enter_height(tip, out);
        }
        self.progress(headers, out);
    }

    /// Checks a commit certificate: precommits of one round for `hash` at
    /// `height`, from distinct validators of `set` holding more than two
    /// thirds of the power, each validly signed.
    fn check_commit(
        &self,
        set: &ValidatorSet,
        height: u64,
        hash: Hash,
        cert: &[SignedMessage],
    ) -> Result<(), ConsensusError> {
        let bad = |reason: &str| ConsensusError::BadConsensusData {
            reason: format!("commit certificate of height {height}: {reason}"),
        };
        let round = cert.first().map(|m| m.position.round).ok_or(bad("empty"))?;
        if cert.len() > set.power.len() {
            return Err(bad("more precommits than validators"));
        }
        let mut signers = BTreeSet::new();
        let want = vote_payload(Some(hash));
        for m in cert {
            let at = Position {
                kind: MessageKind::Precommit,
                height,
                round,
            };
            if m.position != at || m.payload != want {
                return Err(bad("a precommit for another position or block"));
            }
            if !set.power.contains_key(&m.signer) || !signers.insert(m.signer) {
                return Err(bad("a signer that is not a validator, or twice"));
            }
            m.verify(&self.chain_id)
                .map_err(|_| ConsensusError::BadSignature)?;
        }
        if !set.is_quorum(signers.iter().map(|k| set.power_of(k)).sum()) {
            return Err(bad("not more than two thirds of the voting power"));
        }
        Ok(())
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
        if header.timestamp_ms > now_ms.saturating_add(MAX_FUTURE_DRIFT_MS) {
            return Err(ConsensusError::TimestampTooNew {
                got: header.timestamp_ms,
                now: now_ms,
                drift_ms: MAX_FUTURE_DRIFT_MS,
            });
        }
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
            out.insert(
                0,
                Output::Persist(Record {
                    name: RECORD_NAME,
                    bytes: self.record.to_json().into_bytes(),
                }),
            );
        }
        out
    }
}

/// A signature as it stands in a header seal (for tests and wrappers).
pub fn seal_signature(header: &Header) -> Option<Signature> {
    crate::seal::signature_of(header).ok()
}
