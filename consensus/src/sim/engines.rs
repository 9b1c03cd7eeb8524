//! Which engine each simulated node runs: the attack of the run, as the
//! Byzantine behaviour of the nodes it names, handed with the node's key and
//! seed to the one engine factory (the node's `generals-node run` calls the
//! same factory).

use super::config::{Attack, BftFault, Kind, SimConfig};
use super::{merchant_key, node_key, CHAIN_ID, WORKLOAD_ACCOUNTS};
use crate::byzantine::{PrivateForkPlan, SplitPlan};
use crate::engine::{Consensus, NodeId};
use crate::factory::{self, Behaviour, FactoryError, Setup};
use crate::pow::WorkCheck;
use generals_chain::{Genesis, Hash, Keypair};

/// Whom each node sends its blocks to: everyone but itself.
pub fn peers_of(me: NodeId, nodes: usize) -> Vec<NodeId> {
    (0..nodes).filter(|n| *n != me).collect()
}

/// The key node `i` signs with: its own, or for a clone the key it copies.
pub fn key_of(config: &SimConfig, i: NodeId) -> Keypair {
    match &config.attack {
        Some(Attack::Clone { node, twin }) if *twin == i => node_key(*node),
        Some(Attack::LongRange { seller, attacker }) if *attacker == i => node_key(*seller),
        _ => node_key(i),
    }
}

/// What node `i` does under the run's attack, if it is Byzantine. A
/// private-fork attacker's payment and double are reported in `attack_txs`.
pub fn behaviour(
    config: &SimConfig,
    i: NodeId,
    attack_txs: &mut Option<(Hash, Hash)>,
) -> Option<Behaviour> {
    match config.attack.as_ref()? {
        Attack::Selfish { node, .. } if *node == i => Some(Behaviour::Selfish),
        Attack::PrivateFork {
            node,
            confirmations,
            give_up,
            at_height,
        } if *node == i => {
            let plan = PrivateForkPlan::double_spend(
                &node_key(i),
                merchant_key().public(),
                500_000,
                CHAIN_ID,
                *at_height,
                *confirmations,
                *give_up,
            );
            *attack_txs = Some((plan.payment.hash(), plan.double.hash()));
            Some(Behaviour::PrivateFork(Box::new(plan)))
        }
        Attack::Equivocate { node } if *node == i => Some(Behaviour::Equivocate {
            peers: peers_of(i, config.nodes),
        }),
        Attack::Collude { nodes, censor } if nodes.contains(&i) => Some(Behaviour::Collude {
            // Proof of authority: the other authorities; DPoS: the other
            // delegates, whose blocks the cartel does not build on.
            victims: (0..if config.kind == Kind::Dpos {
                config.nodes
            } else {
                config.authorities
            })
                .filter(|a| !nodes.contains(a))
                .map(|a| node_key(a).public())
                .collect(),
            censored: (0..(*censor).min(WORKLOAD_ACCOUNTS))
                .map(|a| Keypair::dev(&format!("sim-account-{a}")).public())
                .collect(),
        }),
        Attack::NothingAtStake { nodes } if nodes.contains(&i) => Some(Behaviour::NothingAtStake),
        Attack::Bft { fault, nodes } if nodes.contains(&i) => Some(match fault {
            BftFault::Equivocate => Behaviour::VoteEquivocate,
            BftFault::Silent => Behaviour::Silent,
            BftFault::Amnesia => Behaviour::Amnesia,
            BftFault::LieViewChange => Behaviour::LieViewChange,
            BftFault::SplitVote => {
                let honest: Vec<usize> = (0..config.nodes).filter(|n| !nodes.contains(n)).collect();
                let (a, b) = honest.split_at(honest.len() / 2);
                Behaviour::SplitVote(SplitPlan {
                    half_a: a.to_vec(),
                    half_b: b.to_vec(),
                    colluders: nodes.iter().copied().filter(|n| *n != i).collect(),
                    colluder_keys: nodes.iter().map(|n| node_key(*n).public()).collect(),
                })
            }
        }),
        _ => None,
    }
}

/// The engine of node `i`, from its saved signing record if it has one.
pub fn make(
    config: &SimConfig,
    genesis: &Genesis,
    i: NodeId,
    record: Option<Vec<u8>>,
    attack_txs: &mut Option<(Hash, Hash)>,
) -> Result<Box<dyn Consensus>, FactoryError> {
    factory::build(
        genesis,
        Setup {
            key: key_of(config, i),
            seed: config.seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            work: WorkCheck::Simulated,
            record,
            byzantine: behaviour(config, i, attack_txs),
            trigger: Default::default(),
        },
    )
}
