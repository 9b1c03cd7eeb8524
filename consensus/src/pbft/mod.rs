//! Byzantine Paxos in its classic form: PBFT (Castro and Liskov, "Practical
//! Byzantine Fault Tolerance", OSDI 1999), one sequence number per height.
//!
//! - the normal case (`normal`): the view's primary pre-prepares a block;
//!   replicas prepare it; a pre-prepare and a quorum of prepares make it
//!   prepared (the prepared certificate); a quorum of commits decides it, and
//!   those commits travel in the next block as its parent's commit certificate;
//! - view changes (`view`): a replica whose height is not decided within the
//!   view's timeout asks for the next view, carrying the certificate of what
//!   it prepared; the new primary's new-view carries a quorum of view changes
//!   and pre-prepares again the block of the highest-view certificate, so a
//!   block that may have been decided is kept; every proof is checked
//!   (`proof`), and a view change that claims what it cannot prove is refused;
//! - checkpoints (`normal`): every `checkpoint_interval` heights the replicas
//!   sign the decided block; a quorum makes it stable and older decisions kept
//!   for lagging peers go;
//! - `record`: what a replica saves before it signs.
//!
//! Quorums are 2f+1 of 3f+1 by default: two quorums share f+1 replicas, one of
//! them honest, and an honest replica prepares one block a view. With the
//! genesis's `"quorum": "f+1"` two quorums may share only a Byzantine replica,
//! and one primary that tells two halves different blocks makes them decide
//! both: Byzantine Paxos's counter-example.

use crate::bft::engine::{extends, round_of, seal, seal_message_of, tip_certificate, BftData};
use crate::bft::validators::Book;
use crate::engine::{
    Consensus, ConsensusError, EngineStatus, Headers, Input, NodeId, Output, Record, RoundStatus,
    ViewStatus,
};
use crate::seal::MAX_FUTURE_DRIFT_MS;
use generals_chain::genesis::PbftParams;
use generals_chain::{Block, Hash, Header, Keypair, MessageKind, PublicKey, SignedMessage};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

mod checkpoint;
mod normal;
pub mod proof;
pub mod record;
mod view;

pub use proof::{NewViewBody, Prepared, ProofError, Replicas, ViewChangeBody};
pub use record::{PbftRecord, RECORD_NAME};

/// Views above the current one whose messages are kept.
pub const MAX_VIEWS_AHEAD: u64 = 64;
/// Candidate blocks kept for the current and next height.
const MAX_CANDIDATES: usize = 64;
/// Messages of the next height kept until it starts.
const MAX_FUTURE: usize = 4_096;
/// Decisions kept for lagging peers when checkpoints do not become stable.
const MAX_LOG: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The height was not decided in this view: ask for the next.
    View,
    /// The primary orders the next block (after `block_pause_ms`).
    Build,
    /// Send again what this replica holds, for peers that lost it.
    Gossip,
}

/// Prepares and commits by (kind, view), then by signer: block and message.
type Votes = BTreeMap<(MessageKind, u64), BTreeMap<PublicKey, (Hash, SignedMessage)>>;
/// View changes by the view they ask for, then by signer: what each proves
/// its sender prepared, and the message.
type ViewChanges = BTreeMap<u64, BTreeMap<PublicKey, (Option<(u64, Hash)>, SignedMessage)>>;

/// The honest PBFT replica.
#[derive(Debug)]
pub struct PbftEngine {
    params: PbftParams,
    chain_id: String,
    key: Keypair,
    book: Book,
    now: u64,
    started: bool,
    /// The last decided block.
    tip: Option<Header>,
    height: u64,
    view: u64,
    /// The view this replica entered the height in: a pre-prepare of that
    /// view needs no new-view; a later view's does.
    first_view: u64,
    /// It asked for `view` and its new-view has not come.
    changing: bool,
    /// The new primary asked the host for a block to order in `view`.
    building: Option<u64>,
    /// The replicas of this height, sorted.
    replicas: Vec<PublicKey>,
    blocks: HashMap<Hash, Block>,
    /// Pre-prepares of this height by view.
    pre_prepares: BTreeMap<u64, (Hash, SignedMessage)>,
    votes: Votes,
    /// Second, conflicting prepares and commits (evidence), counted toward
    /// their blocks too.
    doubles: Votes,
    view_changes: ViewChanges,
    /// Accepted new-views of this height.
    new_views: BTreeMap<u64, SignedMessage>,
    /// The highest-view certificate of what this replica prepared here.
    prepared: Option<Prepared>,
    /// (kind, view) of the prepares and commits this replica sent here.
    sent: BTreeSet<(MessageKind, u64)>,
    future: Vec<SignedMessage>,
    seen: HashSet<[u8; 64]>,
    timers: HashMap<u64, (Timer, u64, u64)>,
    next_timer: u64,
    /// Decisions since the last stable checkpoint, with their commits.
    decided: BTreeMap<u64, (Block, Vec<SignedMessage>)>,
    checkpoints: BTreeMap<u64, BTreeMap<PublicKey, (Hash, SignedMessage)>>,
    stable: u64,
    helped_at: u64,
    evidence: crate::evidence::EvidencePool,
    record: PbftRecord,
    unsaved: bool,
    persisted: u64,
    view_change_count: u64,
    refused: u64,
    last_refusal: Option<String>,
}

impl PbftEngine {
    pub fn new(
        params: PbftParams,
        chain_id: &str,
        genesis: &Header,
        validators: Vec<(PublicKey, u64)>,
        key: Keypair,
    ) -> PbftEngine {
        PbftEngine {
            params,
            chain_id: chain_id.into(),
            key,
            book: Book::new(genesis.hash(), validators, true),
            now: 0,
            started: false,
            tip: None,
            height: 1,
            view: 0,
            first_view: 0,
            changing: false,
            building: None,
            replicas: Vec::new(),
            blocks: HashMap::new(),
            pre_prepares: BTreeMap::new(),
            votes: BTreeMap::new(),
            doubles: BTreeMap::new(),
            view_changes: BTreeMap::new(),
            new_views: BTreeMap::new(),
            prepared: None,
            sent: BTreeSet::new(),
            future: Vec::new(),
            seen: HashSet::new(),
            timers: HashMap::new(),
            next_timer: 1,
            decided: BTreeMap::new(),
            checkpoints: BTreeMap::new(),
            stable: 0,
            helped_at: 0,
            evidence: Default::default(),
            record: PbftRecord::default(),
            unsaved: false,
            persisted: 0,
            view_change_count: 0,
            refused: 0,
            last_refusal: None,
        }
    }

    /// Follows the genesis slashing switch: with it off, evidence ejects nobody.
    pub fn with_slashing(mut self, enabled: bool) -> PbftEngine {
        self.book.set_slashing(enabled);
        self
    }

    /// Starts from a saved signing record (after a restart).
    pub fn with_record(mut self, record: PbftRecord) -> PbftEngine {
        self.record = record;
        self
    }

    pub fn record(&self) -> &PbftRecord {
        &self.record
    }

    pub fn view(&self) -> u64 {
        self.view
    }

    fn me(&self) -> PublicKey {
        self.key.public()
    }

    fn quorum(&self) -> usize {
        self.params.quorum.size(self.replicas.len())
    }

    /// f, of n = 3f+1 (or more) replicas.
    fn faulty(&self) -> usize {
        self.replicas.len().saturating_sub(1) / 3
    }

    fn group(&self) -> Replicas<'_> {
        Replicas {
            chain_id: &self.chain_id,
            keys: &self.replicas,
            quorum: self.quorum(),
        }
    }

    fn primary(&self, view: u64) -> Option<PublicKey> {
        self.group().primary(view)
    }

    fn is_replica(&self) -> bool {
        self.replicas.binary_search(&self.me()).is_ok()
    }

    /// A view's timeout doubles with each view change at one height (PBFT's
    /// "wait 2T"), so that once messages arrive in bounded time some view
    /// lasts long enough to decide.
    fn timeout(&self, view: u64) -> u64 {
        let k = view.saturating_sub(self.first_view).min(6) as u32;
        self.params.view_timeout_ms.max(1).saturating_mul(1 << k)
    }

    fn gossip_ms(&self) -> u64 {
        (self.params.view_timeout_ms / 4).clamp(50, 1_000)
    }

    fn schedule(&mut self, timer: Timer, at_ms: u64, out: &mut Vec<Output>) {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timers.insert(id, (timer, self.height, self.view));
        out.push(Output::SetTimer { id, at_ms });
    }

    /// Signs `payload` at (kind, height, view) if the record allows it; the
    /// record, with the view and certificate, goes out to be saved first.
    fn sign(
        &mut self,
        kind: MessageKind,
        height: u64,
        view: u64,
        payload: Vec<u8>,
    ) -> Option<SignedMessage> {
        if !self.is_replica() || self.guard(kind, height, view, &payload).is_err() {
            return None;
        }
        Some(SignedMessage::sign(
            &self.key,
            &self.chain_id,
            proof::at(kind, height, view),
            payload,
        ))
    }

    fn guard(
        &mut self,
        kind: MessageKind,
        height: u64,
        view: u64,
        payload: &[u8],
    ) -> Result<(), crate::bft::Refusal> {
        let before = self.record.clone();
        self.record.signing.sign(kind, height, view, payload)?;
        if self.record.signing.height == self.height {
            self.record.view = self.view;
            self.record.first_view = self.first_view;
            self.record.prepared = self.prepared.clone();
        }
        if self.record != before {
            self.unsaved = true;
        }
        Ok(())
    }

    fn refuse(&mut self, e: ProofError) {
        self.refused += 1;
        self.last_refusal = Some(e.to_string());
    }

    pub fn views(&self) -> ViewStatus {
        ViewStatus {
            view: self.view,
            primary: self.primary(self.view),
            replicas: self.replicas.len() as u64,
            quorum: self.quorum() as u64,
            quorum_rule: self.params.quorum.name().into(),
            changing: self.changing,
            view_changes: self.view_change_count,
            stable_checkpoint: self.stable,
            refused_proofs: self.refused,
            last_refusal: self.last_refusal.clone(),
        }
    }

    fn step_name(&self) -> &'static str {
        if self.changing {
            "view-change"
        } else if self.sent.contains(&(MessageKind::Commit, self.view)) {
            "commit"
        } else if self.acting_pre_prepare().is_some() {
            "prepare"
        } else {
            "pre-prepare"
        }
    }

    /// Checks a commit certificate: commits of one view for `hash` at
    /// `height` from a quorum of distinct replicas, each validly signed.
    fn check_commit(
        &self,
        replicas: &[PublicKey],
        height: u64,
        hash: Hash,
        cert: &[SignedMessage],
    ) -> Result<(), ConsensusError> {
        let bad = |reason: &str| ConsensusError::BadConsensusData {
            reason: format!("commit certificate of height {height}: {reason}"),
        };
        let view = cert.first().map(|m| m.position.round).ok_or(bad("empty"))?;
        if cert.len() > replicas.len() {
            return Err(bad("more commits than replicas"));
        }
        let want = proof::digest_payload(hash);
        let mut signers = BTreeSet::new();
        for m in cert {
            if m.position != proof::at(MessageKind::Commit, height, view) || m.payload != want {
                return Err(bad("a commit for another position or block"));
            }
            if replicas.binary_search(&m.signer).is_err() || !signers.insert(m.signer) {
                return Err(bad("a signer that is not a replica, or twice"));
            }
            m.verify(&self.chain_id)
                .map_err(|_| ConsensusError::BadSignature)?;
        }
        if signers.len() < self.params.quorum.size(replicas.len()) {
            return Err(bad("fewer commits than a quorum"));
        }
        Ok(())
    }

    fn replicas_after(&self, hash: &Hash) -> Result<Vec<PublicKey>, ConsensusError> {
        Ok(self.book.after(hash)?.power.keys().copied().collect())
    }
}

impl Consensus for PbftEngine {
    fn kind(&self) -> &'static str {
        "pbft"
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
        if header.timestamp_ms < parent.timestamp_ms {
            return Err(ConsensusError::TimestampTooOld {
                got: header.timestamp_ms,
                median: parent.timestamp_ms,
            });
        }
        crate::engine::not_too_new(header, now_ms, MAX_FUTURE_DRIFT_MS)?;
        let replicas = self.replicas_after(&parent.hash())?;
        let group = Replicas {
            chain_id: &self.chain_id,
            keys: &replicas,
            quorum: 0,
        };
        if group.primary(data.round) != Some(header.producer) {
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
        let parent_replicas = self.replicas_after(&parent.parent)?;
        self.check_commit(
            &parent_replicas,
            parent.height,
            parent.hash(),
            &data.last_commit,
        )
    }

    fn precheck(&self, header: &Header) -> Result<(), ConsensusError> {
        seal_message_of(header)?
            .verify(&self.chain_id)
            .map_err(|_| ConsensusError::BadSignature)
    }

    fn certified(&self, header: &Header) -> Option<Hash> {
        (header.height >= 2).then_some(header.parent)
    }

    fn engine_status(&self, _tip: &Header, _headers: &dyn Headers, _now_ms: u64) -> EngineStatus {
        let validators = self.replicas.iter().map(|k| (*k, 1)).collect();
        EngineStatus {
            round: Some(RoundStatus {
                height: self.height,
                round: self.view,
                step: self.step_name().into(),
                locked_round: self.prepared.as_ref().map(Prepared::view),
                valid_round: None,
                proposer: self.primary(self.view),
                validators,
            }),
            views: Some(self.views()),
            ..EngineStatus::default()
        }
    }

    fn restore(&mut self, block: &Block) {
        self.book.record(block, round_of(&block.header));
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
            out.insert(
                0,
                Output::Persist(Record {
                    name: RECORD_NAME,
                    seq: self.persisted,
                    bytes: self.record.to_json().into_bytes(),
                }),
            );
        }
        out
    }
}

/// Seals a PBFT block as a BFT block is sealed: the primary's signature over
/// the block at (height, view).
pub fn seal_block(block: &mut Block, key: &Keypair, chain_id: &str) {
    seal(block, key, chain_id);
}
