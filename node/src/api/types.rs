//! The JSON the HTTP API speaks; the `generals` CLI and the testnet read it too.

use generals_chain::{Account, Hash, PublicKey, Transaction};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Status {
    pub chain_id: String,
    pub consensus: String,
    pub genesis: Hash,
    pub height: u64,
    pub tip: Hash,
    /// Cumulative weight of the tip (decimal; may exceed 64 bits).
    pub weight: String,
    pub peer_id: String,
    pub peers: usize,
    pub mempool: usize,
    pub mining: bool,
    pub hashrate: f64,
    /// Blocks invalidated by hand (`generals invalidate`), kept across
    /// restarts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalidated: Vec<Hash>,
    /// The genesis says `"production": "on-demand"`: blocks come only from
    /// `generals forge`.
    #[serde(default)]
    pub on_demand: bool,
    pub validator: PublicKey,
    pub listen: Vec<String>,
    /// The Byzantine behaviour this node runs (absent: honest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byzantine: Option<String>,
    /// Proof of stake: the current slot and epoch, and the heights of the
    /// latest justified and finalized checkpoints this node follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<PosStatus>,
    /// BFT: the height being decided, its round and step, the lock, and the
    /// round's proposer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bft: Option<BftStatusView>,
    /// PBFT: the view (the `bft` block's round), its primary, the quorum,
    /// view changes, the stable checkpoint and the proofs refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pbft: Option<PbftStatusView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PbftStatusView {
    pub view: u64,
    pub primary: Option<PublicKey>,
    pub replicas: u64,
    pub quorum: u64,
    /// `2f+1`, or `f+1` where the genesis chose the unsafe quorum.
    pub quorum_rule: String,
    /// Waiting for the new view's primary.
    pub changing: bool,
    pub view_changes: u64,
    pub stable_checkpoint: u64,
    pub refused_proofs: u64,
    pub last_refusal: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct BftStatusView {
    pub height: u64,
    pub round: u64,
    /// propose, prevote or precommit.
    pub step: String,
    pub locked_round: Option<u64>,
    pub valid_round: Option<u64>,
    pub proposer: Option<PublicKey>,
    pub validators: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PosStatus {
    pub slot: u64,
    pub epoch: u64,
    pub slot_ms: u64,
    pub epoch_slots: u64,
    pub justified_height: Option<u64>,
    pub finalized_height: Option<u64>,
}

/// One validator, from the chain's state at the tip.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ValidatorView {
    pub key: PublicKey,
    /// Its name in the genesis file, if any.
    pub name: Option<String>,
    /// active (bonded), unbonding (stake on its way out), jailed (slashed by
    /// evidence), or exited.
    pub status: String,
    pub bonded: u64,
    pub unbonding: u64,
    pub unbonding_until_ms: u64,
    pub jailed: bool,
    /// Share of the bonded stake.
    pub share: f64,
    /// Blocks it proposed among the last 64.
    pub proposed: u64,
}

/// `GET /validators`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Validators {
    pub total_bonded: u64,
    /// Whether evidence costs stake on this chain (the genesis switch).
    pub slashing: bool,
    pub validators: Vec<ValidatorView>,
}

/// One piece of evidence.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct EvidenceView {
    pub hash: Hash,
    pub offender: PublicKey,
    /// double proposal, double vote, surround vote...
    pub offence: String,
    /// The positions of the two messages (slot, epoch or height).
    pub first: u64,
    pub second: u64,
    /// The block that carries it, if one on the main chain does.
    pub height: Option<u64>,
    pub block: Option<Hash>,
}

/// `GET /evidence`: evidence included on the main chain, and evidence this node
/// has seen and offers for inclusion.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct EvidenceList {
    pub included: Vec<EvidenceView>,
    pub pending: Vec<EvidenceView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct BlockView {
    pub hash: Hash,
    pub height: u64,
    pub parent: Hash,
    pub timestamp_ms: u64,
    pub producer: PublicKey,
    pub state_root: Hash,
    pub tx_root: Hash,
    /// Proof-of-work difficulty, where the block has one (decimal).
    pub difficulty: Option<String>,
    /// On the main chain.
    pub main_chain: bool,
    pub transactions: Vec<TxView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TxView {
    pub hash: Hash,
    pub tx: Transaction,
}

/// A head of the fork tree, as Bitcoin Core's `getchaintips`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TipView {
    pub hash: Hash,
    pub height: u64,
    /// `active`, `valid-fork` or `invalid`.
    pub status: String,
    /// Blocks from the main chain to this head.
    pub branch_len: usize,
    pub weight: String,
}

/// `GET /tree`: the node's fork tree, its newest blocks (at most
/// `TreeView::MAX_BLOCKS`), for the fork-tree page.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TreeView {
    pub consensus: String,
    pub validator: PublicKey,
    pub tip: Hash,
    pub height: u64,
    pub finalized: Option<Hash>,
    pub justified: Option<Hash>,
    /// Oldest first.
    pub blocks: Vec<TreeBlock>,
}

impl TreeView {
    pub const MAX_BLOCKS: usize = 2_000;
}

/// One block of `TreeView`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TreeBlock {
    pub hash: Hash,
    pub parent: Hash,
    pub height: u64,
    pub producer: PublicKey,
    pub timestamp_ms: u64,
    /// Whether its producer had the turn (engines with turns only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_turn: Option<bool>,
    pub main_chain: bool,
    pub invalid: bool,
    /// Produced here and not sent yet (a withholding attacker's block).
    #[serde(default)]
    pub withheld: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AccountView {
    pub key: PublicKey,
    #[serde(flatten)]
    pub account: Account,
    /// The nonce the account's next transaction should carry (pending included).
    pub next_nonce: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct PeerView {
    pub peer_id: String,
    pub connected: bool,
    pub blocked: bool,
    /// Invalid messages received from this peer.
    pub penalty: u32,
    pub addresses: Vec<String>,
}

/// `POST /tx`: a transaction as JSON, or its canonical bytes in hex.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SubmitTx {
    Json { tx: Transaction },
    Hex { hex: String },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Submitted {
    pub hash: Hash,
}

/// The most transactions one `POST /txs` takes.
pub const MAX_BATCH: usize = 10_000;

/// `POST /txs` as JSON: transactions as JSON, or their canonical bytes in hex
/// (at most 10,000). The same call also takes `Content-Type:
/// application/octet-stream`: the codec's bytes of the list of transactions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SubmitTxs {
    Json {
        #[schema(max_items = 10_000)]
        txs: Vec<Transaction>,
    },
    Hex {
        #[schema(max_items = 10_000)]
        hex: Vec<String>,
    },
}

/// What became of one transaction of a batch: its hash, or why the mempool
/// refused it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct BatchItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /txs`: how many went into the mempool, and each one's answer in the
/// order sent.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct SubmittedMany {
    pub accepted: usize,
    pub results: Vec<BatchItem>,
}

/// `POST /mine`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MineRequest {
    #[schema(minimum = 1, maximum = 1000)]
    pub blocks: u64,
    /// Mine past the node's hash-rate limit (a node without one always does).
    #[serde(default)]
    pub full_speed: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Mined {
    pub blocks: Vec<Hash>,
}

/// `POST /miner/start|stop` answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct MinerState {
    pub mining: bool,
}

/// `POST /forge`: how many blocks, and on which parent.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgeRequest {
    /// Absent: one.
    #[serde(default = "one")]
    #[schema(minimum = 1, maximum = 1000)]
    pub blocks: u64,
    /// The first block's parent (a fork by hand); the next build on the one
    /// before. Absent: the tip.
    #[serde(default)]
    pub parent: Option<Hash>,
}

fn one() -> u64 {
    1
}

/// `POST /forge` answer: the blocks forged, in order, and the tip after.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Forged {
    pub blocks: Vec<Hash>,
    pub tip: Hash,
    pub height: u64,
}

/// `POST /invalidate` and `POST /reconsider`: the block.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockRequest {
    pub hash: Hash,
}

/// What `invalidate` or `reconsider` left: the main chain's tip and the
/// blocks invalidated by hand.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ManualView {
    pub tip: Hash,
    pub height: u64,
    pub invalidated: Vec<Hash>,
}

/// `POST /admin/block|unblock`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PeerRequest {
    pub peer_id: String,
}

/// `POST /admin/link`: what arrives from `peer_id` waits `latency_ms` plus
/// up to `jitter_ms`, or is lost with probability `loss` (all zero: a plain
/// link again).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub peer_id: String,
    #[serde(default)]
    #[schema(maximum = 60000)]
    pub latency_ms: u64,
    #[serde(default)]
    #[schema(maximum = 60000)]
    pub jitter_ms: u64,
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub loss: f64,
}

/// Every error answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

/// What the live event stream (`/events`) sends.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    BlockImported {
        hash: Hash,
        height: u64,
        /// The block's own timestamp (its producer's clock when it built it).
        #[serde(default)]
        timestamp_ms: u64,
        #[serde(default)]
        parent: Hash,
        #[serde(default)]
        producer: PublicKey,
        /// Whether its producer had the turn (engines with turns only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        in_turn: Option<bool>,
    },
    BlockProduced {
        hash: Hash,
        height: u64,
    },
    Reorg {
        depth: usize,
        from: Hash,
        to: Hash,
        height: u64,
    },
    Finalized {
        hash: Hash,
    },
    Justified {
        hash: Hash,
    },
    /// A block this node produced and kept to itself (a withholding attacker).
    BlockWithheld {
        hash: Hash,
        height: u64,
    },
    /// A block it had withheld went out.
    BlockReleased {
        hash: Hash,
        height: u64,
    },
    Evidence {
        offender: PublicKey,
    },
    InvalidBlock {
        hash: Hash,
        reason: String,
    },
}

/// `GET /tx/{hash}`: where a transaction stands.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct TxStatus {
    pub hash: Hash,
    /// `pending` (in the mempool) or `included` (on the main chain).
    pub status: String,
    pub block: Option<Hash>,
    pub height: Option<u64>,
    /// Blocks on top of the including block, itself counted.
    pub confirmations: u64,
    pub tx: Transaction,
}

/// One authority over the last blocks (as geth's `clique_status`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct AuthorityView {
    pub key: PublicKey,
    /// Blocks it sealed in the window.
    pub sealed: u64,
    /// Of those, sealed in its turn.
    pub in_turn: u64,
    /// Its turns in the window that another authority filled.
    pub missed: u64,
}

/// `GET /authorities`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Authorities {
    /// Blocks the statistics cover (the last 64).
    pub window: u64,
    pub authorities: Vec<AuthorityView>,
    /// This node's standing proposals: candidate and whether to add it.
    pub proposals: Vec<Proposal>,
}

/// `GET /delegates`: delegated proof of stake's election at the tip.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Delegates {
    pub round: u64,
    /// This round's producers, in slot order.
    pub schedule: Vec<PublicKey>,
    /// The last irreversible height.
    pub irreversible: u64,
    /// Every delegate with votes (or removed), most votes first.
    pub delegates: Vec<DelegateView>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DelegateView {
    pub key: PublicKey,
    /// Its name in the genesis, if it has one.
    pub name: Option<String>,
    /// The bonded stake voting for it.
    pub votes: u64,
    pub producing: bool,
    pub produced: u64,
    pub missed: u64,
    /// Caught double producing: never elected again.
    pub removed: bool,
}

/// `POST /authorities/propose` (and an entry of `Authorities::proposals`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Proposal {
    pub candidate: PublicKey,
    pub add: bool,
}

/// `POST /authorities/discard`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Discard {
    pub candidate: PublicKey,
}
