//! The genesis file: a chain's id, its consensus kind and parameters, its funded
//! accounts and its validators (authorities, for proof of authority) with stake.

use crate::block::{Block, Header};
use crate::codec;
use crate::crypto::{CryptoError, PublicKey};
use crate::hash::{merkle_root, Hash};
use crate::state::{Account, ChainRules, Slashing, State};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest genesis file read.
pub const MAX_GENESIS_BYTES: u64 = 64 << 20;

/// A chain's genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Names the network; transactions carry it so they cannot replay elsewhere.
    pub chain_id: String,
    /// Timestamp of the genesis block, ms since the Unix epoch.
    #[serde(default)]
    pub timestamp_ms: u64,
    pub consensus: ConsensusSpec,
    /// Minted to each block's producer.
    #[serde(default)]
    pub block_reward: u64,
    #[serde(default)]
    pub slashing: Slashing,
    #[serde(default)]
    pub accounts: Vec<GenesisAccount>,
    /// Validators (proof of stake, BFT) or authorities (proof of authority).
    #[serde(default)]
    pub validators: Vec<GenesisValidator>,
    /// When blocks come: on the engine's schedule, or only when the operator
    /// asks (`"production": "on-demand"`, a development chain).
    #[serde(default, skip_serializing_if = "Production::is_scheduled")]
    pub production: Production,
}

/// When a chain's blocks are produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(rename_all = "kebab-case")]
pub enum Production {
    /// On the engine's own schedule: mined, or at the producer's slot, turn or
    /// round.
    #[default]
    Scheduled,
    /// Only when the operator asks (`generals forge`), as Substrate's manual
    /// seal: time on such a chain moves with the blocks forged.
    OnDemand,
}

impl Production {
    pub fn is_scheduled(&self) -> bool {
        *self == Production::Scheduled
    }
}

// By hand rather than derived: a scheduled chain encodes (and so hashes) as it
// did before `production` existed, so its genesis block keeps its hash.
impl Encode for Genesis {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.chain_id.encode(encoder)?;
        self.timestamp_ms.encode(encoder)?;
        self.consensus.encode(encoder)?;
        self.block_reward.encode(encoder)?;
        self.slashing.encode(encoder)?;
        self.accounts.encode(encoder)?;
        self.validators.encode(encoder)?;
        if !self.production.is_scheduled() {
            self.production.encode(encoder)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    pub key: PublicKey,
    pub balance: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    pub key: PublicKey,
    /// Bonded stake (voting power); an authority needs some too.
    pub stake: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The consensus kind and its parameters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ConsensusSpec {
    Pow(PowParams),
    Pos(PosParams),
    Poa(PoaParams),
    Bft(BftParams),
    Dpos(DposParams),
    Pbft(PbftParams),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(default, deny_unknown_fields)]
pub struct PowParams {
    /// Interval the difficulty retarget aims at.
    pub target_block_ms: u64,
    /// Expected hashes per block at genesis.
    pub initial_difficulty: u64,
    /// ASERT half-life: a chain this far behind (or ahead of) schedule has its
    /// difficulty halved (or doubled).
    pub halflife_ms: u64,
    /// How far ahead of a node's clock a block's timestamp may run.
    pub max_future_drift_ms: u64,
}

impl Default for PowParams {
    fn default() -> Self {
        PowParams {
            target_block_ms: 5_000,
            initial_difficulty: 1 << 16,
            halflife_ms: 100_000,
            max_future_drift_ms: 15_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(default, deny_unknown_fields)]
pub struct PosParams {
    pub slot_ms: u64,
    pub epoch_slots: u64,
    /// Epochs that unbonded stake stays slashable before it is free.
    pub unbonding_epochs: u64,
}

impl Default for PosParams {
    fn default() -> Self {
        PosParams {
            slot_ms: 1_000,
            epoch_slots: 16,
            unbonding_epochs: 2,
        }
    }
}

impl PosParams {
    pub fn unbonding_delay_ms(&self) -> u64 {
        self.unbonding_epochs
            .saturating_mul(self.epoch_slots)
            .saturating_mul(self.slot_ms)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(default, deny_unknown_fields)]
pub struct PoaParams {
    /// Block period.
    pub period_ms: u64,
    /// Blocks between checkpoints where authority votes reset.
    pub epoch: u64,
}

impl Default for PoaParams {
    fn default() -> Self {
        PoaParams {
            period_ms: 2_000,
            epoch: 30_000,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(default, deny_unknown_fields)]
pub struct BftParams {
    /// How long a validator waits for a round's proposal (round 0; each later
    /// round waits half this much longer).
    pub timeout_propose_ms: u64,
    /// How long it waits for the rest of a round's votes once more than two
    /// thirds have voted (round 0; growing by half each round).
    pub timeout_vote_ms: u64,
    /// The pause after a commit before the next height's proposal, which paces
    /// blocks and lets late precommits arrive (Tendermint's `timeout_commit`).
    pub timeout_commit_ms: u64,
}

impl Default for BftParams {
    fn default() -> Self {
        BftParams {
            timeout_propose_ms: 1_000,
            timeout_vote_ms: 500,
            timeout_commit_ms: 500,
        }
    }
}

/// Delegated proof of stake (BitShares, EOSIO): bonded stake votes for
/// delegates; the top `producers` take one slot each per round, in an order
/// shuffled each round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(default, deny_unknown_fields)]
pub struct DposParams {
    pub slot_ms: u64,
    /// How many delegates produce (the top of the vote; EOSIO has 21).
    pub producers: u64,
}

impl Default for DposParams {
    fn default() -> Self {
        DposParams {
            slot_ms: 1_000,
            producers: 21,
        }
    }
}

/// How many replicas make a PBFT quorum, out of n with f = (n-1)/3 faulty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub enum Quorum {
    /// 2f+1 (for n above 3f+1, the least size any two quorums of which share
    /// f+1 replicas: (n+f+1)/2 rounded up): Castro and Liskov's quorum.
    #[default]
    #[serde(rename = "2f+1")]
    TwoFPlusOne,
    /// f+1: the quorum Byzantine Paxos shows unsafe (f Byzantine and one
    /// honest replica decide one value, f honest and the same f another).
    #[serde(rename = "f+1")]
    FPlusOne,
}

impl Quorum {
    /// The quorum of `n` replicas.
    pub fn size(&self, n: usize) -> usize {
        let f = n.saturating_sub(1) / 3;
        match self {
            Quorum::TwoFPlusOne => (n + f + 1).div_ceil(2),
            Quorum::FPlusOne => f + 1,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Quorum::TwoFPlusOne => "2f+1",
            Quorum::FPlusOne => "f+1",
        }
    }
}

/// Byzantine Paxos in its classic form, PBFT (Castro and Liskov, 1999): a
/// primary per view orders each height; prepare and commit quorums; a view
/// change on a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
#[serde(default, deny_unknown_fields)]
pub struct PbftParams {
    /// How long a replica waits for a height to be decided in a view before it
    /// asks for the next view (doubling with each view change at one height).
    pub view_timeout_ms: u64,
    /// The primary's pause after a decision before it orders the next block.
    pub block_pause_ms: u64,
    /// Every this many heights the replicas exchange checkpoints; a stable
    /// checkpoint (a quorum of them) lets older messages go.
    pub checkpoint_interval: u64,
    pub quorum: Quorum,
}

impl Default for PbftParams {
    fn default() -> Self {
        PbftParams {
            view_timeout_ms: 2_000,
            block_pause_ms: 500,
            checkpoint_interval: 10,
            quorum: Quorum::TwoFPlusOne,
        }
    }
}

impl ConsensusSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            ConsensusSpec::Pow(_) => "pow",
            ConsensusSpec::Pos(_) => "pos",
            ConsensusSpec::Poa(_) => "poa",
            ConsensusSpec::Bft(_) => "bft",
            ConsensusSpec::Dpos(_) => "dpos",
            ConsensusSpec::Pbft(_) => "pbft",
        }
    }

    /// The default parameters of a kind named `pow`, `pos`, `poa`, `bft` or
    /// `dpos`.
    pub fn default_for(kind: &str) -> Result<ConsensusSpec, GenesisError> {
        Ok(match kind {
            "pow" => ConsensusSpec::Pow(PowParams::default()),
            "pos" => ConsensusSpec::Pos(PosParams::default()),
            "poa" => ConsensusSpec::Poa(PoaParams::default()),
            "bft" => ConsensusSpec::Bft(BftParams::default()),
            "dpos" => ConsensusSpec::Dpos(DposParams::default()),
            "pbft" => ConsensusSpec::Pbft(PbftParams::default()),
            other => {
                return Err(GenesisError::UnknownKind {
                    kind: other.to_string(),
                })
            }
        })
    }
}

/// Why a genesis was refused.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    #[error("genesis file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("genesis file {path} is {len} bytes, over the limit of {MAX_GENESIS_BYTES}")]
    TooLarge { path: PathBuf, len: u64 },
    #[error("genesis: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "genesis: unknown consensus kind {kind:?}; the kinds are pow, pos, poa, bft, dpos, pbft"
    )]
    UnknownKind { kind: String },
    #[error(
        "genesis: chain id {chain_id:?} must be 1 to 64 characters of a-z, 0-9, '-', '_', '.'"
    )]
    BadChainId { chain_id: String },
    #[error("genesis: account {key} is listed twice")]
    DuplicateAccount { key: PublicKey },
    #[error("genesis: validator {key} is listed twice")]
    DuplicateValidator { key: PublicKey },
    #[error("genesis: validator {key} has zero stake")]
    ZeroStake { key: PublicKey },
    #[error("genesis: {kind} consensus needs at least one validator")]
    NoValidators { kind: &'static str },
    #[error("genesis: key {key} is not usable: {source}")]
    BadKey { key: PublicKey, source: CryptoError },
    #[error("genesis: slashing.{field} is {value} parts per million, more than 1000000 (100%)")]
    BadShare { field: &'static str, value: u32 },
    #[error("genesis: the coins of account {key} overflow")]
    Overflow { key: PublicKey },
    #[error("genesis: the balances and stakes of all accounts add up to more than {max}", max = u64::MAX)]
    TotalOverflow,
    #[error("genesis: consensus.{field} is {value}; it must be {expected}")]
    BadParam {
        field: &'static str,
        value: u64,
        expected: &'static str,
    },
}

impl Genesis {
    /// Reads, parses and checks a genesis file.
    pub fn load(path: &Path) -> Result<Genesis, GenesisError> {
        let io = |source| GenesisError::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_GENESIS_BYTES {
            return Err(GenesisError::TooLarge {
                path: path.to_owned(),
                len,
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Genesis::from_json(&bytes)
    }

    /// Parses and checks a genesis from JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Genesis, GenesisError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)?;
        // Name an unknown kind plainly rather than through serde's variant message.
        if let Some(kind) = value
            .get("consensus")
            .and_then(|c| c.get("kind"))
            .and_then(|k| k.as_str())
        {
            ConsensusSpec::default_for(kind)?;
        }
        let genesis: Genesis = serde_json::from_value(value)?;
        genesis.validate()?;
        Ok(genesis)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a genesis always serializes")
    }

    /// Checks the rules a genesis must follow.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
        if self.chain_id.is_empty()
            || self.chain_id.len() > 64
            || !self.chain_id.chars().all(ok_char)
        {
            return Err(GenesisError::BadChainId {
                chain_id: self.chain_id.clone(),
            });
        }
        for (field, value) in [
            ("fraction_ppm", self.slashing.fraction_ppm),
            ("whistleblower_ppm", self.slashing.whistleblower_ppm),
        ] {
            if value > 1_000_000 {
                return Err(GenesisError::BadShare { field, value });
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.accounts {
            if !seen.insert(a.key) {
                return Err(GenesisError::DuplicateAccount { key: a.key });
            }
            a.key
                .verifying_key()
                .map_err(|source| GenesisError::BadKey { key: a.key, source })?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.validators {
            if !seen.insert(v.key) {
                return Err(GenesisError::DuplicateValidator { key: v.key });
            }
            if v.stake == 0 {
                return Err(GenesisError::ZeroStake { key: v.key });
            }
            v.key
                .verifying_key()
                .map_err(|source| GenesisError::BadKey { key: v.key, source })?;
        }
        if self.validators.is_empty() && !matches!(self.consensus, ConsensusSpec::Pow(_)) {
            return Err(GenesisError::NoValidators {
                kind: self.consensus.kind(),
            });
        }
        self.check_params()?;
        let accounts = self.accounts_map()?;
        accounts
            .values()
            .try_fold(0u64, |sum, a| {
                sum.checked_add(a.balance)?.checked_add(a.bonded)
            })
            .ok_or(GenesisError::TotalOverflow)?;
        Ok(())
    }

    /// Consensus parameters that could not make a working chain (a block time
    /// of 0 mines thousands of blocks a second; a difficulty of 0 none).
    fn check_params(&self) -> Result<(), GenesisError> {
        const HOUR_MS: u64 = 3_600_000;
        let check = |field: &'static str, value: u64, min: u64, max: u64, expected| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(GenesisError::BadParam {
                    field,
                    value,
                    expected,
                })
            }
        };
        let ms = "1 ms to an hour";
        match &self.consensus {
            ConsensusSpec::Pow(p) => {
                check("target_block_ms", p.target_block_ms, 1, HOUR_MS, ms)?;
                check(
                    "initial_difficulty",
                    p.initial_difficulty,
                    1,
                    u64::MAX,
                    "at least 1",
                )?;
                check("halflife_ms", p.halflife_ms, 1, u64::MAX, "at least 1")?;
            }
            ConsensusSpec::Pos(p) => {
                check("slot_ms", p.slot_ms, 1, HOUR_MS, ms)?;
                check("epoch_slots", p.epoch_slots, 2, 1_000_000, "2 to 1000000")?;
            }
            ConsensusSpec::Poa(p) => {
                check("period_ms", p.period_ms, 1, HOUR_MS, ms)?;
                check("epoch", p.epoch, 1, u64::MAX, "at least 1")?;
            }
            ConsensusSpec::Bft(p) => {
                check("timeout_propose_ms", p.timeout_propose_ms, 1, HOUR_MS, ms)?;
                check("timeout_vote_ms", p.timeout_vote_ms, 1, HOUR_MS, ms)?;
                check(
                    "timeout_commit_ms",
                    p.timeout_commit_ms,
                    0,
                    HOUR_MS,
                    "0 to an hour",
                )?;
            }
            ConsensusSpec::Dpos(p) => {
                check("slot_ms", p.slot_ms, 1, HOUR_MS, ms)?;
                check("producers", p.producers, 1, 101, "1 to 101")?;
            }
            ConsensusSpec::Pbft(p) => {
                check("view_timeout_ms", p.view_timeout_ms, 1, HOUR_MS, ms)?;
                check(
                    "block_pause_ms",
                    p.block_pause_ms,
                    0,
                    HOUR_MS,
                    "0 to an hour",
                )?;
                check(
                    "checkpoint_interval",
                    p.checkpoint_interval,
                    1,
                    1_000_000,
                    "1 to 1000000",
                )?;
            }
        }
        Ok(())
    }

    fn accounts_map(&self) -> Result<BTreeMap<PublicKey, Account>, GenesisError> {
        let mut map: BTreeMap<PublicKey, Account> = BTreeMap::new();
        for a in &self.accounts {
            map.entry(a.key).or_default().balance = a.balance;
        }
        for v in &self.validators {
            let acc = map.entry(v.key).or_default();
            acc.bonded = v.stake;
            if acc.balance.checked_add(acc.bonded).is_none() {
                return Err(GenesisError::Overflow { key: v.key });
            }
        }
        Ok(map)
    }

    /// The state at genesis.
    pub fn state(&self) -> Result<State, GenesisError> {
        Ok(State::from_accounts(self.accounts_map()?))
    }

    pub fn rules(&self) -> ChainRules {
        ChainRules {
            chain_id: self.chain_id.clone(),
            block_reward: self.block_reward,
            slashing: self.slashing,
            unbonding_delay_ms: match &self.consensus {
                ConsensusSpec::Pos(p) => p.unbonding_delay_ms(),
                _ => 0,
            },
        }
    }

    /// The genesis block. Its `consensus` field is the hash of the whole genesis, so
    /// two genesis files that differ in anything have different genesis blocks.
    pub fn block(&self) -> Result<Block, GenesisError> {
        let state = self.state()?;
        let empty = merkle_root(&[]);
        Ok(Block {
            header: Header {
                parent: Hash::ZERO,
                height: 0,
                timestamp_ms: self.timestamp_ms,
                producer: PublicKey::default(),
                tx_root: empty,
                evidence_root: empty,
                state_root: state.root(),
                consensus: Hash::digest(&codec::encode(self)).0.to_vec(),
                seal: Vec::new(),
            },
            transactions: Vec::new(),
            evidence: Vec::new(),
        })
    }
}
