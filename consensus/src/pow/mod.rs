//! Proof of work after Nakamoto (2008): miners race to find a nonce whose
//! SHA-256d work hash meets the difficulty; the chain with the most cumulative
//! work wins. Difficulty follows ASERT toward the target interval, anchored at
//! each block's parent (see `difficulty`). A timestamp must exceed the median of the last 11 blocks and may
//! not run more than a set drift ahead of the local clock, so timestamps cannot
//! warp the difficulty (Bitcoin's median-time-past and future-drift rules).
//!
//! - `difficulty`: ASERT and the difficulty/target conversions;
//! - `work`: the puzzle and a nonce search.

pub mod difficulty;
pub mod work;

use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use bincode::{Decode, Encode};
use generals_chain::genesis::PowParams;
use generals_chain::{codec, Hash, Header};

/// What a proof-of-work header carries in its `consensus` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct PowData {
    /// The difficulty this block was mined to.
    pub difficulty: u128,
}

impl PowData {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<PowData, ConsensusError> {
        codec::decode::<_, 64>("proof-of-work data", bytes).map_err(|e| {
            ConsensusError::BadConsensusData {
                reason: e.to_string(),
            }
        })
    }
}

/// Whether the work of a header is checked, or taken as given because a simulator
/// drew the time the miner needed instead of hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkCheck {
    Real,
    Simulated,
}

/// Blocks the median-time-past rule looks back over.
pub const MEDIAN_SPAN: usize = 11;

/// The honest proof-of-work engine.
#[derive(Clone, Debug)]
pub struct PowEngine {
    params: PowParams,
    genesis: Hash,
    check: WorkCheck,
}

impl PowEngine {
    pub fn new(params: PowParams, genesis: &Header, check: WorkCheck) -> PowEngine {
        PowEngine {
            params,
            genesis: genesis.hash(),
            check,
        }
    }

    pub fn params(&self) -> &PowParams {
        &self.params
    }

    /// The difficulty a header carries (genesis: the initial one).
    pub fn difficulty(&self, header: &Header) -> Result<u128, ConsensusError> {
        if header.height == 0 {
            return Ok(self.params.initial_difficulty.max(1) as u128);
        }
        Ok(PowData::decode(&header.consensus)?.difficulty)
    }

    /// The difficulty required of a child of `parent`.
    pub fn next_difficulty(
        &self,
        parent: &Header,
        headers: &dyn Headers,
    ) -> Result<u128, ConsensusError> {
        let grandparent_time = if parent.height == 0 {
            parent.timestamp_ms
        } else {
            headers
                .header(&parent.parent)
                .ok_or(ConsensusError::UnknownParent {
                    parent: parent.parent,
                })?
                .timestamp_ms
        };
        Ok(difficulty::next_difficulty(
            self.params.initial_difficulty.max(1) as u128,
            parent.height,
            self.difficulty(parent)?,
            parent.timestamp_ms,
            grandparent_time,
            self.params.target_block_ms,
            self.params.halflife_ms,
        ))
    }

    /// The median timestamp of `parent` and up to ten of its ancestors.
    pub fn median_time_past(&self, parent: &Header, headers: &dyn Headers) -> u64 {
        let mut times = vec![parent.timestamp_ms];
        let mut cursor = parent.clone();
        while times.len() < MEDIAN_SPAN && cursor.height > 0 {
            match headers.header(&cursor.parent) {
                Some(h) => {
                    times.push(h.timestamp_ms);
                    cursor = h;
                }
                None => break,
            }
        }
        times.sort_unstable();
        times[times.len() / 2]
    }

    fn mine_on(&self, tip: &Header, headers: &dyn Headers) -> Vec<Output> {
        match self.next_difficulty(tip, headers) {
            Ok(difficulty) => vec![Output::Mine {
                parent: tip.hash(),
                height: tip.height + 1,
                min_timestamp_ms: self.median_time_past(tip, headers) + 1,
                consensus: PowData { difficulty }.encode(),
                difficulty,
            }],
            Err(_) => vec![Output::StopMining],
        }
    }
}

impl Consensus for PowEngine {
    fn kind(&self) -> &'static str {
        "pow"
    }

    fn weight(&self, header: &Header) -> u128 {
        PowEngine::difficulty(self, header).unwrap_or(0)
    }

    fn difficulty(&self, header: &Header) -> Option<u128> {
        if header.height == 0 {
            return None;
        }
        PowEngine::difficulty(self, header).ok()
    }

    fn validate(
        &self,
        header: &Header,
        headers: &dyn Headers,
        now_ms: u64,
    ) -> Result<(), ConsensusError> {
        let parent = crate::engine::parent_of(header, headers)?;
        let got = PowData::decode(&header.consensus)?.difficulty;
        let expected = self.next_difficulty(&parent, headers)?;
        if got != expected {
            return Err(ConsensusError::WrongDifficulty { expected, got });
        }
        let median = self.median_time_past(&parent, headers);
        if header.timestamp_ms <= median {
            return Err(ConsensusError::TimestampTooOld {
                got: header.timestamp_ms,
                median,
            });
        }
        crate::engine::not_too_new(header, now_ms, self.params.max_future_drift_ms)?;
        let nonce = work::nonce_of(header).ok_or_else(|| ConsensusError::BadSeal {
            reason: format!("{} bytes, a nonce is 8", header.seal.len()),
        })?;
        if self.check == WorkCheck::Real
            && !work::meets(&work::work_hash(&header.seal_hash(), nonce), got)
        {
            return Err(ConsensusError::InsufficientWork { difficulty: got });
        }
        Ok(())
    }

    /// Without ancestors: the seal meets the difficulty the header claims, so an
    /// orphan costs its sender real work.
    fn precheck(&self, header: &Header) -> Result<(), ConsensusError> {
        let claimed = PowData::decode(&header.consensus)?.difficulty;
        let nonce = work::nonce_of(header).ok_or_else(|| ConsensusError::BadSeal {
            reason: format!("{} bytes, a nonce is 8", header.seal.len()),
        })?;
        if self.check == WorkCheck::Real
            && !work::meets(&work::work_hash(&header.seal_hash(), nonce), claimed)
        {
            return Err(ConsensusError::InsufficientWork {
                difficulty: claimed,
            });
        }
        Ok(())
    }

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        match input {
            Input::NewTip { tip, .. } => self.mine_on(&tip, headers),
            Input::BlockReceived { block, .. } => vec![Output::Import(block)],
            Input::Produced { block, .. } => {
                vec![Output::Import(block.clone()), Output::Broadcast(block)]
            }
            // Proof of work has no messages, timers or finality.
            Input::Message { .. }
            | Input::Timer { .. }
            | Input::Transaction { .. }
            | Input::Propose { .. }
            | Input::Discard { .. }
            | Input::Tick { .. } => Vec::new(),
        }
    }
}

impl PowEngine {
    /// The genesis hash this engine schedules difficulty from.
    pub fn genesis(&self) -> Hash {
        self.genesis
    }
}
