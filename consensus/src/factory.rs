//! The one engine factory. From a genesis (its `ConsensusSpec`, chain id and
//! validators), the node's key, a seed, the signer's saved record and an
//! optional Byzantine behaviour, it returns the engine the node runs: the honest
//! engine of the genesis's kind, or a wrapper of `byzantine/` around it. The
//! simulator, the node and the scenario runner all call it; nothing else
//! matches on the kind to build an engine.

use crate::bft::{BftEngine, BftRecord};
use crate::byzantine::{
    Amnesia, Collude, Equivocate, LieViewChange, NothingAtStake, PbftSplit, PrivateFork,
    PrivateForkPlan, Selfish, Silent, SplitPlan, SplitVote, Trigger, Triggered, VoteEquivocate,
};
use crate::engine::{Consensus, NodeId};
use crate::pbft::{PbftEngine, PbftRecord};
use crate::poa::{PoaData, PoaEngine};
use crate::pos::engine::PosEngine;
use crate::pos::protection::Protection;
use crate::pow::{PowEngine, WorkCheck};
use generals_chain::{ConsensusSpec, Genesis, Header, Keypair, PublicKey};

/// How a block weighs in fork choice.
pub type Weight = Box<dyn Fn(&Header) -> u128 + Send + Sync>;

/// A Byzantine behaviour and its parameters: which wrapper of `byzantine/`
/// goes around the honest engine.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Proof of work: the 51% double spend by a secretly mined fork.
    PrivateFork(Box<PrivateForkPlan>),
    /// Proof of work: Eyal and Sirer's selfish mining.
    Selfish,
    /// Proof of authority or stake: two blocks for each of its heights or
    /// slots, one to each half of `peers`.
    Equivocate { peers: Vec<NodeId> },
    /// Proof of authority: vote `victims` out and leave `censored` accounts'
    /// transactions out of its blocks.
    Collude {
        victims: Vec<PublicKey>,
        censored: Vec<PublicKey>,
    },
    /// Proof of stake: propose and attest on every fork head.
    NothingAtStake,
    /// BFT: two prevotes and two precommits for different blocks.
    VoteEquivocate,
    /// BFT: one vote to one half of the honest validators, another to the other.
    SplitVote(SplitPlan),
    /// BFT: forgets its lock (restarts from its record with the lock cleared).
    Amnesia,
    /// BFT: never proposes nor votes.
    Silent,
    /// BFT and PBFT: starts from its record with the signatures of the
    /// current height taken out, as if its store had lost them (shows what
    /// the record guards: a restart may then sign differently).
    ForgetSigned,
    /// PBFT: never orders a block, and claims in each view change a prepared
    /// certificate it does not have.
    LieViewChange,
}

impl Behaviour {
    pub fn name(&self) -> &'static str {
        match self {
            Behaviour::PrivateFork(_) => "private-fork",
            Behaviour::Selfish => "selfish",
            Behaviour::Equivocate { .. } => "equivocate",
            Behaviour::Collude { .. } => "collude",
            Behaviour::NothingAtStake => "nothing-at-stake",
            Behaviour::VoteEquivocate => "equivocate",
            Behaviour::SplitVote(_) => "split-vote",
            Behaviour::Amnesia => "amnesia",
            Behaviour::Silent => "silent",
            Behaviour::ForgetSigned => "forget-signed",
            Behaviour::LieViewChange => "lie-view-change",
        }
    }
}

/// What the factory needs besides the genesis.
#[derive(Debug)]
pub struct Setup {
    /// The node's signing key (its rewards go there).
    pub key: Keypair,
    /// Seeds what the engine draws (proof of authority's out-of-turn delays).
    pub seed: u64,
    /// Proof of work: check the work hash for real, or trust simulated seals.
    pub work: WorkCheck,
    /// The signer's saved record (the bytes of its last `Output::Persist`).
    pub record: Option<Vec<u8>>,
    pub byzantine: Option<Behaviour>,
    /// When the Byzantine behaviour acts (always, unless told otherwise).
    pub trigger: Trigger,
}

/// Why no engine was built.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    #[error("the genesis is unusable: {0}")]
    Genesis(#[from] generals_chain::genesis::GenesisError),
    #[error("the saved record {name:?} is damaged: {reason}")]
    Record { name: &'static str, reason: String },
    #[error(
        "the {behaviour} behaviour keeps state from one input to the next: it takes a \
         height or time trigger, not a probability"
    )]
    Trigger { behaviour: &'static str },
    #[error("the {behaviour} behaviour does not apply to {kind} chains")]
    Mismatch {
        behaviour: &'static str,
        kind: &'static str,
    },
}

/// The name under which a signer of this kind keeps its record, if it keeps one.
pub fn record_name(spec: &ConsensusSpec) -> Option<&'static str> {
    match spec {
        ConsensusSpec::Pos(_) => Some(crate::pos::protection::RECORD_NAME),
        ConsensusSpec::Bft(_) => Some(crate::bft::record::RECORD_NAME),
        ConsensusSpec::Dpos(_) => Some(crate::dpos::RECORD_NAME),
        ConsensusSpec::Pbft(_) => Some(crate::pbft::RECORD_NAME),
        ConsensusSpec::Pow(_) | ConsensusSpec::Poa(_) => None,
    }
}

/// How blocks of this genesis weigh in fork choice.
pub fn weight(genesis: &Genesis) -> Result<Weight, FactoryError> {
    Ok(match &genesis.consensus {
        ConsensusSpec::Pow(p) => {
            let engine = PowEngine::new(*p, &genesis.block()?.header, WorkCheck::Real);
            Box::new(move |h| engine.weight(h))
        }
        ConsensusSpec::Poa(_) => {
            Box::new(|h| PoaData::decode(&h.consensus).map_or(0, |d| d.difficulty as u128))
        }
        ConsensusSpec::Pos(_)
        | ConsensusSpec::Bft(_)
        | ConsensusSpec::Dpos(_)
        | ConsensusSpec::Pbft(_) => Box::new(|_| 1),
    })
}

/// The engine a node of this genesis runs: the honest engine, or a Byzantine
/// wrapper around it that acts when its trigger says so.
pub fn build(genesis: &Genesis, setup: Setup) -> Result<Box<dyn Consensus>, FactoryError> {
    let me = setup.key.public();
    let built = build_scheduled(genesis, setup)?;
    Ok(if genesis.production.is_scheduled() {
        built
    } else {
        Box::new(crate::ondemand::OnDemand::new(built, me))
    })
}

fn build_scheduled(
    genesis: &Genesis,
    mut setup: Setup,
) -> Result<Box<dyn Consensus>, FactoryError> {
    let trigger = std::mem::take(&mut setup.trigger);
    let seed = setup.seed;
    let Some(behaviour) = &setup.byzantine else {
        return engine(genesis, setup);
    };
    let stateful = matches!(
        behaviour,
        Behaviour::PrivateFork(_)
            | Behaviour::Selfish
            | Behaviour::Amnesia
            | Behaviour::Collude { .. }
    );
    if stateful && !trigger.latches() {
        return Err(FactoryError::Trigger {
            behaviour: behaviour.name(),
        });
    }
    let built = engine(genesis, setup)?;
    Ok(match trigger {
        Trigger::Always => built,
        t => Box::new(Triggered::new(built, t, seed)),
    })
}

fn engine(genesis: &Genesis, setup: Setup) -> Result<Box<dyn Consensus>, FactoryError> {
    let header = genesis.block()?.header;
    let chain_id = genesis.chain_id.as_str();
    let stakes: Vec<(PublicKey, u64)> = genesis
        .validators
        .iter()
        .map(|v| (v.key, v.stake))
        .collect();
    let slashing = genesis.slashing.enabled;
    let Setup {
        key,
        seed,
        work,
        record,
        byzantine,
        trigger: _,
    } = setup;
    let kind = kind_name(&genesis.consensus);
    let mismatch = |b: &Behaviour| FactoryError::Mismatch {
        behaviour: b.name(),
        kind,
    };
    match &genesis.consensus {
        ConsensusSpec::Pow(p) => {
            let honest = PowEngine::new(*p, &header, work);
            Ok(match byzantine {
                None => Box::new(honest),
                Some(Behaviour::Selfish) => Box::new(Selfish::new(honest)),
                Some(Behaviour::PrivateFork(plan)) => Box::new(PrivateFork::new(honest, *plan)),
                Some(other) => return Err(mismatch(&other)),
            })
        }
        ConsensusSpec::Poa(p) => {
            let authorities = stakes.iter().map(|(k, _)| *k).collect();
            let honest = PoaEngine::new(*p, chain_id, &header, authorities, key.clone(), seed);
            Ok(match byzantine {
                None => Box::new(honest),
                Some(Behaviour::Equivocate { peers }) => Box::new(Equivocate::new(
                    honest,
                    key,
                    chain_id,
                    peers,
                    crate::seal::seal,
                )),
                Some(Behaviour::Collude { victims, censored }) => {
                    Box::new(Collude::new(honest, victims, censored))
                }
                Some(other) => return Err(mismatch(&other)),
            })
        }
        ConsensusSpec::Pos(p) => {
            let mut honest =
                PosEngine::new(*p, chain_id, &header, stakes, key.clone()).with_slashing(slashing);
            if let Some(bytes) = record {
                honest = honest.with_protection(protection(&bytes)?);
            }
            Ok(match byzantine {
                None => Box::new(honest),
                Some(Behaviour::NothingAtStake) => Box::new(NothingAtStake::new(honest)),
                Some(Behaviour::Equivocate { peers }) => Box::new(Equivocate::new(
                    honest,
                    key,
                    chain_id,
                    peers,
                    crate::pos::engine::seal,
                )),
                Some(other) => return Err(mismatch(&other)),
            })
        }
        ConsensusSpec::Dpos(p) => {
            let signed = match record {
                Some(bytes) => {
                    crate::dpos::DposEngine::read_record(&bytes).ok_or(FactoryError::Record {
                        name: crate::dpos::RECORD_NAME,
                        reason: format!("{} bytes, the record is 8", bytes.len()),
                    })?
                }
                None => 0,
            };
            let honest = crate::dpos::DposEngine::new(*p, chain_id, &header, stakes, key.clone())
                .with_record(signed);
            Ok(match byzantine {
                None => Box::new(honest),
                Some(Behaviour::Collude { victims, censored }) => {
                    Box::new(crate::byzantine::Cartel::new(honest, victims, censored))
                }
                // A producer gone offline: it takes every input, makes no block.
                Some(Behaviour::Silent) => Box::new(Silent::new(honest)),
                Some(Behaviour::Equivocate { peers }) => Box::new(Equivocate::new(
                    honest,
                    key,
                    chain_id,
                    peers,
                    crate::dpos::seal,
                )),
                Some(other) => return Err(mismatch(&other)),
            })
        }
        ConsensusSpec::Bft(p) => {
            let saved = match record {
                Some(bytes) => bft_record(&bytes)?,
                None => BftRecord::default(),
            };
            let params = *p;
            let (id, k) = (chain_id.to_string(), key.clone());
            let make = move |record: BftRecord| {
                BftEngine::new(params, &id, &header, stakes.clone(), k.clone())
                    .with_slashing(slashing)
                    .with_record(record)
            };
            let saved = match byzantine {
                Some(Behaviour::ForgetSigned) => crate::byzantine::forget::forget_bft(saved),
                _ => saved,
            };
            let honest = make(saved);
            Ok(match byzantine {
                Some(Behaviour::ForgetSigned) => Box::new(honest),
                None => Box::new(honest),
                Some(Behaviour::VoteEquivocate) => {
                    Box::new(VoteEquivocate::new(honest, key, chain_id))
                }
                Some(Behaviour::SplitVote(plan)) => {
                    Box::new(SplitVote::new(honest, key, chain_id, plan))
                }
                Some(Behaviour::Silent) => Box::new(Silent::new(honest)),
                Some(Behaviour::Amnesia) => Box::new(Amnesia::new(honest, Box::new(make))),
                Some(other) => return Err(mismatch(&other)),
            })
        }
        ConsensusSpec::Pbft(p) => {
            let saved = match record {
                Some(bytes) => PbftRecord::from_json(&bytes).map_err(|e| FactoryError::Record {
                    name: crate::pbft::RECORD_NAME,
                    reason: e.to_string(),
                })?,
                None => PbftRecord::default(),
            };
            let saved = match byzantine {
                Some(Behaviour::ForgetSigned) => crate::byzantine::forget::forget_pbft(saved),
                _ => saved,
            };
            let honest = PbftEngine::new(*p, chain_id, &header, stakes, key.clone())
                .with_slashing(slashing)
                .with_record(saved);
            Ok(match byzantine {
                None | Some(Behaviour::ForgetSigned) => Box::new(honest),
                Some(Behaviour::VoteEquivocate) => {
                    Box::new(VoteEquivocate::new(honest, key, chain_id))
                }
                Some(Behaviour::SplitVote(plan)) => {
                    Box::new(PbftSplit::new(honest, key, chain_id, plan))
                }
                Some(Behaviour::Silent) => Box::new(Silent::new(honest)),
                Some(Behaviour::LieViewChange) => {
                    Box::new(LieViewChange::new(honest, key, chain_id))
                }
                Some(other) => return Err(mismatch(&other)),
            })
        }
    }
}

fn kind_name(spec: &ConsensusSpec) -> &'static str {
    spec.kind()
}

/// A proof-of-stake signer's saved slashing-protection record.
pub fn protection(bytes: &[u8]) -> Result<Protection, FactoryError> {
    let name = crate::pos::protection::RECORD_NAME;
    let text = std::str::from_utf8(bytes).map_err(|e| FactoryError::Record {
        name,
        reason: format!("not UTF-8: {e}"),
    })?;
    let mut p = Protection::default();
    p.merge_json(text).map_err(|e| FactoryError::Record {
        name,
        reason: e.to_string(),
    })?;
    Ok(p)
}

/// A BFT validator's saved signing record.
pub fn bft_record(bytes: &[u8]) -> Result<BftRecord, FactoryError> {
    BftRecord::from_json(bytes).map_err(|e| FactoryError::Record {
        name: crate::bft::record::RECORD_NAME,
        reason: e.to_string(),
    })
}
