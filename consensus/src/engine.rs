//! The engine seam. An engine is a deterministic state machine: the host (the
//! simulator or a real node) feeds it inputs and carries out the outputs it
//! returns. It performs no I/O, reads no clock and draws no randomness of its
//! own: time arrives in inputs, randomness from seeds in its configuration. After
//! raft-rs's `RawNode`/`Ready` and malachite's core crates; stateless header
//! validation is apart from stepping, as in reth's `Consensus` trait.

use generals_chain::{Block, Evidence, Hash, Header, PublicKey, SignedMessage, Transaction};

/// A node of the network, as the host numbers them.
pub type NodeId = usize;

/// Read access to stored headers, for validation against ancestors.
pub trait Headers {
    fn header(&self, hash: &Hash) -> Option<Header>;
}

impl<S: generals_chain::BlockStore> Headers for S {
    fn header(&self, hash: &Hash) -> Option<Header> {
        generals_chain::BlockStore::header(self, hash)
            .ok()
            .flatten()
    }
}

/// What the host tells an engine.
#[derive(Clone, Debug)]
pub enum Input {
    /// The local chain's best block is now `tip` (also sent once at start).
    NewTip { tip: Header, now_ms: u64 },
    /// A block from a peer passed validation and may be imported.
    BlockReceived {
        from: NodeId,
        block: Block,
        now_ms: u64,
    },
    /// This node finished a block it was asked to produce: mined (after `Mine`)
    /// or built with an empty seal for the engine to seal (after `Build`).
    Produced { block: Block, now_ms: u64 },
    /// A consensus message (a vote, a proposal, an attestation) from a peer.
    Message {
        from: NodeId,
        message: SignedMessage,
        now_ms: u64,
    },
    /// A timer the engine set went off.
    Timer { id: u64, now_ms: u64 },
    /// A transaction entered the local mempool.
    Transaction { tx: Transaction, now_ms: u64 },
    /// The operator proposes adding (or removing) an authority (proof of authority).
    Propose { candidate: PublicKey, add: bool },
    /// The operator withdraws its proposal about `candidate`.
    Discard { candidate: PublicKey },
    /// Time passed.
    Tick { now_ms: u64 },
}

/// What an engine asks the host to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Build a block on `parent` from the mempool and mine it until its work hash
    /// meets `difficulty`. A new `Mine` replaces the previous one.
    Mine {
        parent: Hash,
        height: u64,
        /// The earliest timestamp the block may carry.
        min_timestamp_ms: u64,
        /// The engine's header data (its difficulty, for proof of work).
        consensus: Vec<u8>,
        difficulty: u128,
    },
    /// Stop mining.
    StopMining,
    /// Build a block on `parent` from the mempool, with `consensus` as its
    /// engine data and an empty seal, and hand it back as `Input::Produced`.
    Build {
        parent: Hash,
        height: u64,
        timestamp_ms: u64,
        consensus: Vec<u8>,
        evidence: Vec<Evidence>,
    },
    /// Send a block to one peer.
    SendBlock { to: NodeId, block: Block },
    /// Send a consensus message to every peer.
    BroadcastMessage(SignedMessage),
    /// Send a consensus message to one peer.
    SendMessage { to: NodeId, message: SignedMessage },
    /// Call back with `Input::Timer { id }` at `at_ms`.
    SetTimer { id: u64, at_ms: u64 },
    /// This block is final: it will never be reverted.
    Finalize(Hash),
    /// This block is the latest justified checkpoint: follow the best branch
    /// through it.
    Justified(Hash),
    /// Misbehaviour was seen; the host reports it and offers it for inclusion.
    Evidence(Evidence),
    /// Import this block into the local chain.
    Import(Block),
    /// Send this block to every peer.
    Broadcast(Block),
    /// Send a transaction to the peers and keep it out of the local mempool.
    SendTransaction(Transaction),
    /// Put a transaction in the local mempool only.
    Submit(Transaction),
    /// Save what this signer must remember across a restart. The host writes
    /// and flushes it before it carries out any later output of the same step,
    /// so no signature leaves before its record is durable (raft-rs's `Ready`
    /// carries its hard state the same way). If it cannot, it carries out none
    /// of them.
    Persist(Record),
}

/// A signer's record as the host stores it: under `name`, the bytes the
/// engine gave (the engine reads them back through the engine factory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub name: &'static str,
    /// Counts up with each record an engine gives: a record only ever grows,
    /// so the host loop skips one older than a record it already wrote.
    pub seq: u64,
    pub bytes: Vec<u8>,
}

/// What an engine shows of itself to a user (the node's `/status`), one shape
/// for every engine; each fills what it has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStatus {
    /// Slot-based engines (proof of stake): the slot and epoch at `now_ms`.
    pub slots: Option<SlotStatus>,
    /// Round-based engines (BFT): where this validator stands.
    pub round: Option<RoundStatus>,
    /// Proof of authority: the authorities after the tip, sorted.
    pub authorities: Vec<PublicKey>,
    /// Proof of authority: this operator's standing proposals (candidate, add).
    pub proposals: Vec<(PublicKey, bool)>,
    /// Delegated proof of stake: the election after the tip.
    pub delegates: Option<DelegatesStatus>,
    /// PBFT: the view, checkpoints and refused proofs.
    pub views: Option<ViewStatus>,
}

/// A PBFT replica's view of the protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewStatus {
    pub view: u64,
    pub primary: Option<PublicKey>,
    /// Replicas and the quorum they need (2f+1 unless the genesis says f+1).
    pub replicas: u64,
    pub quorum: u64,
    pub quorum_rule: String,
    /// Waiting for the new view's primary.
    pub changing: bool,
    /// Views entered by a view change since start.
    pub view_changes: u64,
    /// The last height a quorum of checkpoints made stable.
    pub stable_checkpoint: u64,
    /// Messages refused because their proofs do not hold, and the last reason.
    pub refused_proofs: u64,
    pub last_refusal: Option<String>,
}

/// Delegated proof of stake: the round, its producers, the irreversible
/// height, and every delegate with votes (or removed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DelegatesStatus {
    pub round: u64,
    /// This round's producers in slot order.
    pub schedule: Vec<PublicKey>,
    /// The last irreversible height.
    pub irreversible: u64,
    pub delegates: Vec<DelegateRow>,
}

/// One delegate of a delegated-proof-of-stake chain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DelegateRow {
    pub key: PublicKey,
    /// The bonded stake of the accounts voting for it.
    pub votes: u128,
    /// Among this round's producers.
    pub producing: bool,
    pub produced: u64,
    pub missed: u64,
    /// Caught double producing: never elected again.
    pub removed: bool,
}

/// Slot and epoch of a slot-based engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotStatus {
    pub slot: u64,
    pub epoch: u64,
    pub slot_ms: u64,
    pub epoch_slots: u64,
}

/// Height, round and step of a round-based engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundStatus {
    pub height: u64,
    pub round: u64,
    /// `propose`, `prevote` or `precommit`.
    pub step: String,
    pub locked_round: Option<u64>,
    pub valid_round: Option<u64>,
    pub proposer: Option<PublicKey>,
    /// The validators voting at `height`, with their power.
    pub validators: Vec<(PublicKey, u64)>,
}

/// Why a header is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsensusError {
    #[error("parent {parent} of the block is unknown")]
    UnknownParent { parent: Hash },
    #[error("height {got} does not follow the parent's {parent}")]
    BadHeight { got: u64, parent: u64 },
    #[error("the parent of this block is invalid")]
    InvalidParent,
    #[error("the engine's header data is malformed: {reason}")]
    BadConsensusData { reason: String },
    #[error("difficulty {got} in the header, the rules require {expected}")]
    WrongDifficulty { expected: u128, got: u128 },
    #[error("the work hash does not meet difficulty {difficulty}")]
    InsufficientWork { difficulty: u128 },
    #[error("timestamp {got} is not after the median of the last 11 blocks, {median}")]
    TimestampTooOld { got: u64, median: u64 },
    #[error("timestamp {got} is more than {drift_ms} ms ahead of the local clock {now}")]
    TimestampTooNew { got: u64, now: u64, drift_ms: u64 },
    #[error("{signer} is not an authority")]
    Unauthorized { signer: PublicKey },
    #[error("{signer} sealed one of the last blocks and must wait its turn")]
    SignedRecently { signer: PublicKey },
    #[error("timestamp {got} comes less than a period after the parent's {parent}")]
    TooSoon { got: u64, parent: u64 },
    #[error("the seal is not the producer's signature")]
    BadSignature,
    #[error("the seal is malformed: {reason}")]
    BadSeal { reason: String },
}

/// The parent of `header`, which must be known and one below it: the first
/// check of every engine's `validate`.
pub fn parent_of(header: &Header, headers: &dyn Headers) -> Result<Header, ConsensusError> {
    let parent = headers
        .header(&header.parent)
        .ok_or(ConsensusError::UnknownParent {
            parent: header.parent,
        })?;
    if Some(header.height) != parent.height.checked_add(1) {
        return Err(ConsensusError::BadHeight {
            got: header.height,
            parent: parent.height,
        });
    }
    Ok(parent)
}

/// Refuses a header stamped more than `drift_ms` ahead of the local clock: a
/// check every engine's `validate` makes.
pub fn not_too_new(header: &Header, now_ms: u64, drift_ms: u64) -> Result<(), ConsensusError> {
    if header.timestamp_ms > now_ms.saturating_add(drift_ms) {
        return Err(ConsensusError::TimestampTooNew {
            got: header.timestamp_ms,
            now: now_ms,
            drift_ms,
        });
    }
    Ok(())
}

/// A consensus engine.
pub trait Consensus {
    /// The kind's name: `pow`, `pos`, `poa` or `bft`.
    fn kind(&self) -> &'static str;

    /// The block's weight in fork choice (for proof of work, its expected work).
    fn weight(&self, header: &Header) -> u128;

    /// Checks a header against its ancestors and the local clock, without state.
    fn validate(
        &self,
        header: &Header,
        headers: &dyn Headers,
        now_ms: u64,
    ) -> Result<(), ConsensusError>;

    /// Checks what a header proves on its own, before its parent is known (a block
    /// held as an orphan must pass this).
    fn precheck(&self, _header: &Header) -> Result<(), ConsensusError> {
        Ok(())
    }

    /// The earlier block that this header, once valid, proves decided: a BFT
    /// block carries its parent's commit certificate. The host marks it final.
    fn certified(&self, _header: &Header) -> Option<Hash> {
        None
    }

    /// What the engine shows a user at `tip` (see `EngineStatus`).
    fn engine_status(&self, _tip: &Header, _headers: &dyn Headers, _now_ms: u64) -> EngineStatus {
        EngineStatus::default()
    }

    /// The producer the rules expect for the child of `parent` (proof of
    /// authority: the in-turn authority), if the engine has one.
    fn in_turn(&self, _parent: &Header, _headers: &dyn Headers) -> Option<PublicKey> {
        None
    }

    /// The difficulty a header states, for engines that have one (proof of work).
    fn difficulty(&self, _header: &Header) -> Option<u128> {
        None
    }

    /// Teaches the engine a block of the stored main chain, oldest first, when
    /// a node starts on an existing ledger (stakes, validator changes and
    /// attestations the chain carries).
    fn restore(&mut self, _block: &Block) {}

    /// A weak-subjectivity checkpoint the operator gave (`--checkpoint`):
    /// engines with finality by votes weigh no vote off its branch.
    fn set_checkpoint(&mut self, _hash: Hash) {}

    /// Whether a block this engine builds may carry `tx` (every valid
    /// transaction, for an honest engine). The host asks it for each candidate
    /// from the mempool.
    fn includes(&self, _tx: &Transaction) -> bool {
        true
    }

    /// A Byzantine wrapper's honest engine, which a trigger feeds until the
    /// wrapper acts (`byzantine::Triggered`); `None` for an honest engine.
    fn honest_mut(&mut self) -> Option<&mut dyn Consensus> {
        None
    }

    /// A development chain's request for a block now (`generals forge`): the
    /// outputs that lead this validator's engine to build (or mine) one, on
    /// `parent` if given, else on the tip. Only an on-demand chain's engine
    /// (`ondemand::OnDemand`) forges; the outputs hold no block when the rules
    /// give this validator no turn.
    fn forge(
        &mut self,
        _parent: Option<&Header>,
        _headers: &dyn Headers,
    ) -> Result<Vec<Output>, crate::ondemand::ForgeError> {
        Err(crate::ondemand::ForgeError::Scheduled)
    }

    /// One step: takes an input, returns what the host should do.
    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output>;
}

/// What a block does to the stakes: each bond (+) and unbond (-) by sender,
/// and the offenders its evidence ejects when `slashing` is on. Proof of stake
/// and BFT both follow their validator sets with it.
pub fn stake_changes(block: &Block, slashing: bool) -> (Vec<(PublicKey, i128)>, Vec<PublicKey>) {
    let bonds = block
        .transactions
        .iter()
        .filter_map(|t| match t.body.action {
            generals_chain::Action::Bond { amount } => Some((t.body.sender, amount as i128)),
            generals_chain::Action::Unbond { amount } => Some((t.body.sender, -(amount as i128))),
            generals_chain::Action::Transfer { .. } | generals_chain::Action::Vote { .. } => None,
        })
        .collect();
    let ejected = if slashing {
        block.evidence.iter().map(Evidence::offender).collect()
    } else {
        Vec::new()
    };
    (bonds, ejected)
}
