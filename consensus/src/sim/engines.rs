//! Which engine each simulated node runs: the honest one of the configured kind,
//! or the attack's wrapper around it.

use super::config::{Attack, Kind, SimConfig};
use super::{merchant_key, node_key, CHAIN_ID, WORKLOAD_ACCOUNTS};
use crate::byzantine::{Collude, Equivocate, PrivateFork, PrivateForkPlan, Selfish};
use crate::engine::Consensus;
use crate::poa::{PoaData, PoaEngine};
use crate::pow::{PowEngine, WorkCheck};
use generals_chain::{Hash, Header, Keypair};

/// How a block weighs in fork choice.
pub type Weight = Box<dyn Fn(&Header) -> u128 + Send + Sync>;

/// The engine of node `i`, and its block weight. A private-fork attacker's
/// payment and double are reported in `attack_txs`.
pub fn make(
    config: &SimConfig,
    i: usize,
    genesis: &Header,
    attack_txs: &mut Option<(Hash, Hash)>,
) -> (Box<dyn Consensus>, Weight) {
    match config.kind {
        Kind::Pow => {
            let honest = PowEngine::new(config.pow, genesis, WorkCheck::Simulated);
            let weigh = honest.clone();
            let weight: Weight = Box::new(move |h| weigh.weight(h));
            let key = node_key(i);
            let engine: Box<dyn Consensus> = match &config.attack {
                Some(Attack::Selfish { node, .. }) if *node == i => Box::new(Selfish::new(honest)),
                Some(Attack::PrivateFork {
                    node,
                    confirmations,
                    give_up,
                    at_height,
                }) if *node == i => {
                    let plan = PrivateForkPlan::double_spend(
                        &key,
                        merchant_key().public(),
                        500_000,
                        CHAIN_ID,
                        *at_height,
                        *confirmations,
                        *give_up,
                    );
                    *attack_txs = Some((plan.payment.hash(), plan.double.hash()));
                    Box::new(PrivateFork::new(honest, plan))
                }
                _ => Box::new(honest),
            };
            (engine, weight)
        }
        Kind::Pos => {
            let weight: Weight = Box::new(|_| 1);
            let validators = (0..config.nodes)
                .filter(|v| config.stakes[*v] > 0)
                .map(|v| (node_key(v).public(), config.stakes[v]))
                .collect();
            let engine = crate::pos::engine::PosEngine::new(
                config.pos,
                CHAIN_ID,
                genesis,
                validators,
                node_key(i),
            )
            .with_slashing(config.slashing);
            let engine: Box<dyn Consensus> = match &config.attack {
                Some(Attack::NothingAtStake { nodes }) if nodes.contains(&i) => {
                    Box::new(crate::byzantine::NothingAtStake::new(engine))
                }
                Some(Attack::Equivocate { node }) if *node == i => Box::new(Equivocate::new(
                    engine,
                    node_key(i),
                    CHAIN_ID,
                    crate::poa::peers_of(i, config.nodes),
                    crate::pos::engine::seal,
                )),
                _ => Box::new(engine),
            };
            (engine, weight)
        }
        Kind::Bft => {
            use super::config::BftFault;
            use crate::byzantine::{Amnesia, Silent, SplitPlan, SplitVote, VoteEquivocate};
            let weight: Weight = Box::new(|_| 1);
            let validators = (0..config.nodes)
                .filter(|v| config.stakes[*v] > 0)
                .map(|v| (node_key(v).public(), config.stakes[v]))
                .collect();
            let engine =
                crate::bft::BftEngine::new(config.bft, CHAIN_ID, genesis, validators, node_key(i))
                    .with_slashing(config.slashing);
            let engine: Box<dyn Consensus> = match &config.attack {
                Some(Attack::Bft { fault, nodes }) if nodes.contains(&i) => match fault {
                    BftFault::Equivocate => {
                        Box::new(VoteEquivocate::new(engine, node_key(i), CHAIN_ID))
                    }
                    BftFault::Silent => Box::new(Silent::new(engine)),
                    BftFault::Amnesia => Box::new(Amnesia::new(engine)),
                    BftFault::SplitVote => {
                        let honest: Vec<usize> =
                            (0..config.nodes).filter(|n| !nodes.contains(n)).collect();
                        let (a, b) = honest.split_at(honest.len() / 2);
                        let plan = SplitPlan {
                            half_a: a.to_vec(),
                            half_b: b.to_vec(),
                            colluders: nodes.iter().copied().filter(|n| *n != i).collect(),
                            colluder_keys: nodes.iter().map(|n| node_key(*n).public()).collect(),
                        };
                        Box::new(SplitVote::new(engine, node_key(i), CHAIN_ID, plan))
                    }
                },
                _ => Box::new(engine),
            };
            (engine, weight)
        }
        Kind::Poa => {
            let weight: Weight =
                Box::new(|h| PoaData::decode(&h.consensus).map_or(0, |d| d.difficulty as u128));
            let authorities = (0..config.authorities)
                .map(|a| node_key(a).public())
                .collect();
            let key = match &config.attack {
                Some(Attack::Clone { node, twin }) if *twin == i => node_key(*node),
                _ => node_key(i),
            };
            let honest = PoaEngine::new(
                config.poa,
                CHAIN_ID,
                genesis,
                authorities,
                key.clone(),
                config.seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let engine: Box<dyn Consensus> = match &config.attack {
                Some(Attack::Equivocate { node }) if *node == i => Box::new(Equivocate::new(
                    honest,
                    key,
                    CHAIN_ID,
                    crate::poa::peers_of(i, config.nodes),
                    crate::poa::seal,
                )),
                Some(Attack::Collude { nodes, censor }) if nodes.contains(&i) => {
                    let victims = (0..config.authorities)
                        .filter(|a| !nodes.contains(a))
                        .map(|a| node_key(a).public())
                        .collect();
                    let censored = (0..(*censor).min(WORKLOAD_ACCOUNTS))
                        .map(|a| Keypair::dev(&format!("sim-account-{a}")).public())
                        .collect();
                    Box::new(Collude::new(honest, victims, censored))
                }
                _ => Box::new(honest),
            };
            (engine, weight)
        }
    }
}
