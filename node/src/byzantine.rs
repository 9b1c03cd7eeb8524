//! A Byzantine node: the `[byzantine]` section of `config.toml` (or
//! `--byzantine NAME` on `run`) names a wrapper of the consensus crate's
//! `byzantine/`, which the engine factory puts around the honest engine. The
//! behaviours here need no plan shared with other nodes and no sends aimed at
//! chosen peers; those that do (proof-of-authority and proof-of-stake block
//! equivocation, split votes, private forks, collusion) are refused with the
//! reason until the node can aim its sends.

use generals_chain::ConsensusSpec;
use generals_consensus::factory::Behaviour;
use serde::{Deserialize, Serialize};

/// `[byzantine]` in config.toml.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByzantineConfig {
    /// What the node does: see `behaviour`.
    pub behaviour: String,
}

/// Why a Byzantine behaviour cannot run on this node.
#[derive(Debug, thiserror::Error)]
pub enum ByzantineError {
    #[error(
        "[byzantine] behaviour {name:?} does not apply to {kind} chains; on real nodes: \
         pow: selfish; pos: nothing-at-stake; bft: equivocate, amnesia, silent"
    )]
    Unknown { name: String, kind: &'static str },
}

/// The behaviour `name` on a chain of `spec`'s kind.
pub fn behaviour(spec: &ConsensusSpec, name: &str) -> Result<Behaviour, ByzantineError> {
    let b = match (spec, name) {
        (ConsensusSpec::Pow(_), "selfish") => Behaviour::Selfish,
        (ConsensusSpec::Pos(_), "nothing-at-stake") => Behaviour::NothingAtStake,
        (ConsensusSpec::Bft(_), "equivocate") => Behaviour::VoteEquivocate,
        (ConsensusSpec::Bft(_), "amnesia") => Behaviour::Amnesia,
        (ConsensusSpec::Bft(_), "silent") => Behaviour::Silent,
        _ => {
            return Err(ByzantineError::Unknown {
                name: name.to_string(),
                kind: spec.kind(),
            })
        }
    };
    Ok(b)
}
