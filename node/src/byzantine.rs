//! A Byzantine node: the `[byzantine]` section of `config.toml` (or
//! `--byzantine NAME` on `run`) names a wrapper of the consensus crate's
//! `byzantine/`, which the engine factory puts around the honest engine, with
//! its parameters and a trigger.
//!
//! Colluders in separate processes act on one plan written into each one's
//! config (the testnet writes it): `peers` numbers the network's nodes by their
//! peer ids, the same list in every colluder, and `colluders` names the nodes of
//! the group by those numbers. Each colluder derives its part from that plan
//! and from what it sees (split voters each split a colluder's twin proposals
//! once they have both); they share no side channel.
//!
//! ```toml
//! [byzantine]
//! behaviour = "split-vote"
//! peers = ["12D3KooW...", "12D3KooW...", "12D3KooW...", "12D3KooW..."]
//! colluders = [2, 3]
//! colluder_keys = ["<validator key of node 2>", "<validator key of node 3>"]
//! from_height = 5            # or after_secs = 20, or probability = 0.5
//! ```

use generals_chain::{ConsensusSpec, Genesis, Keypair, PublicKey};
use generals_consensus::byzantine::{PrivateForkPlan, SplitPlan, Trigger};
use generals_consensus::factory::Behaviour;
use libp2p::PeerId;
use serde::{Deserialize, Serialize};

/// `[byzantine]` in config.toml.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByzantineConfig {
    /// What the node does: see `BEHAVIOURS`.
    pub behaviour: String,
    /// The network's nodes by peer id, in the plan's order (node 0 first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<String>,
    /// The nodes of the colluding group, by their number in `peers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub colluders: Vec<usize>,
    /// Split voters: the group's validator keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub colluder_keys: Vec<PublicKey>,
    /// Act once the node's tip reaches this height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_height: Option<u64>,
    /// Act this many seconds after the node starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_secs: Option<u64>,
    /// Act at each opportunity with this probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Seeds the probability's draws.
    #[serde(default)]
    pub seed: u64,
    /// Private fork: who is paid, how much, and how many confirmations the
    /// merchant waits for; the attack gives up when the public chain leads by
    /// `give_up`. The fork starts at `from_height` (3 if unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant: Option<PublicKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub give_up: Option<u64>,
    /// Collusion: the authorities the group votes out, and the accounts whose
    /// transactions its blocks leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub victims: Vec<PublicKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub censored: Vec<PublicKey>,
}

impl ByzantineConfig {
    pub fn named(behaviour: &str) -> ByzantineConfig {
        ByzantineConfig {
            behaviour: behaviour.into(),
            ..ByzantineConfig::default()
        }
    }
}

/// Behaviours on real nodes, by kind.
pub const BEHAVIOURS: &str = "pow: private-fork, selfish; pos: nothing-at-stake, equivocate; \
     poa: equivocate, collude (a PoA clone is a twin: two nodes with one key); \
     bft: equivocate, split-vote, amnesia, silent, forget-signed (a store that loses what it \
     signed, to show what the signing record guards); dpos: equivocate (double production), \
     collude (a cartel that builds only on its own blocks), silent (a producer gone offline); \
     pbft: split-vote (a primary that pre-prepares a different block to each half, with its \
     colluders), equivocate (double prepares and commits), silent, lie-view-change (claims a \
     prepared block it cannot prove), forget-signed";

/// Why a Byzantine behaviour cannot run on this node.
#[derive(Debug, thiserror::Error)]
pub enum ByzantineError {
    #[error("[byzantine] behaviour {name:?} does not apply to {kind} chains; on real nodes: {BEHAVIOURS}")]
    Unknown { name: String, kind: &'static str },
    #[error("[byzantine] {0}")]
    Plan(String),
}

/// What the node runs: the behaviour, its trigger, and the peers its sends
/// are numbered by.
#[derive(Debug)]
pub struct Plan {
    pub behaviour: Behaviour,
    pub trigger: Trigger,
    pub peers: Vec<PeerId>,
    /// How `/status` describes it, e.g. "split-vote from height 5".
    pub label: String,
}

fn plan_error(s: impl Into<String>) -> ByzantineError {
    ByzantineError::Plan(s.into())
}

fn trigger(c: &ByzantineConfig) -> Result<Trigger, ByzantineError> {
    let set = [
        c.from_height.is_some(),
        c.after_secs.is_some(),
        c.probability.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(plan_error(
            "give one trigger: from_height, after_secs or probability",
        ));
    }
    Ok(match (c.from_height, c.after_secs, c.probability) {
        (Some(h), _, _) => Trigger::FromHeight(h),
        (_, Some(s), _) => Trigger::AfterMs(s.saturating_mul(1_000)),
        (_, _, Some(p)) if (0.0..=1.0).contains(&p) => Trigger::Probability(p),
        (_, _, Some(p)) => return Err(plan_error(format!("probability {p} is not within 0 to 1"))),
        _ => Trigger::Always,
    })
}

fn describe(name: &str, t: &Trigger) -> String {
    match t {
        Trigger::Always => name.to_string(),
        Trigger::FromHeight(h) => format!("{name} from height {h}"),
        Trigger::AfterMs(ms) => format!("{name} after {} s", ms / 1_000),
        Trigger::Probability(p) => format!("{name} with probability {p}"),
    }
}

/// The plan of a node with validator key `me` and peer id `local`.
pub fn plan(
    genesis: &Genesis,
    me: &Keypair,
    local: &PeerId,
    c: &ByzantineConfig,
) -> Result<Plan, ByzantineError> {
    let peers = c
        .peers
        .iter()
        .map(|p| {
            p.parse::<PeerId>()
                .map_err(|e| plan_error(format!("peers: {p:?} is not a peer id: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(bad) = c.colluders.iter().find(|i| **i >= peers.len()) {
        return Err(plan_error(format!(
            "colluders: node {bad} is not in peers ({} listed)",
            peers.len()
        )));
    }
    let me_index = peers.iter().position(|p| p == local);
    // Every node of the plan but this one.
    let others: Vec<usize> = (0..peers.len()).filter(|i| Some(*i) != me_index).collect();
    let mut trigger = trigger(c)?;
    let name = c.behaviour.as_str();
    let spec = &genesis.consensus;
    let unknown = || ByzantineError::Unknown {
        name: name.to_string(),
        kind: spec.kind(),
    };
    let behaviour = match (spec, name) {
        (ConsensusSpec::Pow(_), "selfish") => Behaviour::Selfish,
        (ConsensusSpec::Pow(_), "private-fork") => {
            let merchant = c
                .merchant
                .ok_or_else(|| plan_error("private-fork needs merchant = \"<key>\""))?;
            // The fork starts at its own height: the plan holds it.
            let at_height = match trigger {
                Trigger::FromHeight(h) => h,
                Trigger::Always => 3,
                _ => {
                    return Err(plan_error(
                        "private-fork starts from_height, not by time or chance",
                    ))
                }
            };
            trigger = Trigger::Always;
            Behaviour::PrivateFork(Box::new(PrivateForkPlan::double_spend(
                me,
                merchant,
                c.amount.unwrap_or(1_000),
                &genesis.chain_id,
                at_height,
                c.confirmations.unwrap_or(2),
                c.give_up.unwrap_or(30),
            )))
        }
        (ConsensusSpec::Pos(_), "nothing-at-stake") => Behaviour::NothingAtStake,
        (ConsensusSpec::Pos(_) | ConsensusSpec::Poa(_) | ConsensusSpec::Dpos(_), "equivocate") => {
            if others.len() < 2 {
                return Err(plan_error(
                    "equivocate needs peers: the network's peer ids, to send one block to half of them and another to the rest",
                ));
            }
            Behaviour::Equivocate { peers: others }
        }
        (ConsensusSpec::Poa(_) | ConsensusSpec::Dpos(_), "collude") => {
            if c.victims.is_empty() && c.censored.is_empty() {
                return Err(plan_error(
                    "collude needs victims or censored (validator and account keys)",
                ));
            }
            Behaviour::Collude {
                victims: c.victims.clone(),
                censored: c.censored.clone(),
            }
        }
        (ConsensusSpec::Bft(_) | ConsensusSpec::Pbft(_), "equivocate") => Behaviour::VoteEquivocate,
        (ConsensusSpec::Bft(_), "amnesia") => Behaviour::Amnesia,
        (ConsensusSpec::Bft(_) | ConsensusSpec::Pbft(_), "forget-signed") => {
            Behaviour::ForgetSigned
        }
        (ConsensusSpec::Pbft(_), "lie-view-change") => Behaviour::LieViewChange,
        (ConsensusSpec::Bft(_) | ConsensusSpec::Dpos(_) | ConsensusSpec::Pbft(_), "silent") => {
            Behaviour::Silent
        }
        (ConsensusSpec::Bft(_) | ConsensusSpec::Pbft(_), "split-vote") => {
            let Some(me_index) = me_index else {
                return Err(plan_error(
                    "split-vote needs peers, this node's peer id among them",
                ));
            };
            if c.colluder_keys.len() != c.colluders.len() || !c.colluders.contains(&me_index) {
                return Err(plan_error(
                    "split-vote needs colluders (node numbers, this one among them) and their colluder_keys, one each",
                ));
            }
            let honest: Vec<usize> = (0..peers.len())
                .filter(|i| !c.colluders.contains(i))
                .collect();
            if honest.len() < 2 {
                return Err(plan_error("split-vote needs two honest nodes to split"));
            }
            let (a, b) = honest.split_at(honest.len() / 2);
            Behaviour::SplitVote(SplitPlan {
                half_a: a.to_vec(),
                half_b: b.to_vec(),
                colluders: c
                    .colluders
                    .iter()
                    .copied()
                    .filter(|i| *i != me_index)
                    .collect(),
                colluder_keys: c.colluder_keys.clone(),
            })
        }
        _ => return Err(unknown()),
    };
    let label = describe(name, &trigger);
    Ok(Plan {
        behaviour,
        trigger,
        peers,
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u8) -> String {
        crate::config::peer_id_of(&Keypair::from_seed([i; 32])).expect("peer id")
    }

    fn try_plan(kind: &str, c: &ByzantineConfig) -> Result<Plan, ByzantineError> {
        let me = Keypair::dev("me");
        let g = crate::config::dev_genesis(kind, &me, Default::default()).expect("genesis");
        let local: PeerId = peer(0).parse().expect("peer id");
        plan(&g, &me, &local, c)
    }

    fn refusal(kind: &str, c: &ByzantineConfig) -> String {
        try_plan(kind, c).expect_err("refused").to_string()
    }

    #[test]
    fn a_behaviour_of_another_kind_is_refused_with_the_choices() {
        let e = refusal("pow", &ByzantineConfig::named("split-vote"));
        assert!(
            e.contains("does not apply to pow") && e.contains("bft: equivocate, split-vote"),
            "{e}"
        );
    }

    #[test]
    fn plans_that_cannot_work_are_refused_with_the_reason() {
        let mut c = ByzantineConfig::named("equivocate");
        assert!(refusal("pos", &c).contains("equivocate needs peers"));
        c.peers = vec![peer(0), "not-a-peer".into()];
        assert!(refusal("pos", &c).contains("\"not-a-peer\" is not a peer id"));
        c.peers = (0..4).map(peer).collect();
        c.from_height = Some(3);
        c.probability = Some(0.5);
        assert!(refusal("pos", &c).contains("give one trigger"));
        c.from_height = None;
        c.probability = Some(1.5);
        assert!(refusal("pos", &c).contains("not within 0 to 1"));
        let mut s = ByzantineConfig::named("split-vote");
        s.peers = (0..4).map(peer).collect();
        s.colluders = vec![0, 9];
        assert!(refusal("bft", &s).contains("node 9 is not in peers"));
        s.colluders = vec![0, 3];
        assert!(refusal("bft", &s).contains("colluder_keys"));
        let f = ByzantineConfig::named("private-fork");
        assert!(refusal("pow", &f).contains("merchant"));
    }

    #[test]
    fn an_equivocator_splits_every_other_node_of_the_plan_and_a_trigger_is_described() {
        let mut c = ByzantineConfig::named("equivocate");
        c.peers = (0..4).map(peer).collect();
        c.after_secs = Some(20);
        let p = try_plan("poa", &c).expect("a plan");
        match p.behaviour {
            Behaviour::Equivocate { peers } => assert_eq!(peers, vec![1, 2, 3]),
            other => panic!("{other:?}"),
        }
        assert_eq!(p.trigger, Trigger::AfterMs(20_000));
        assert_eq!(p.label, "equivocate after 20 s");
        assert_eq!(p.peers.len(), 4);
    }

    #[test]
    fn split_voters_halve_the_honest_nodes_and_know_each_other() {
        let mut c = ByzantineConfig::named("split-vote");
        c.peers = (0..4).map(peer).collect();
        c.colluders = vec![0, 3];
        c.colluder_keys = vec![Keypair::dev("me").public(), Keypair::dev("x").public()];
        match try_plan("bft", &c).expect("a plan").behaviour {
            Behaviour::SplitVote(p) => {
                assert_eq!(
                    (p.half_a, p.half_b, p.colluders),
                    (vec![1], vec![2], vec![3])
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
