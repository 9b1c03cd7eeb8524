//! What a simulation runs: nodes, hash power, network, partitions, workload,
//! attack, seed.

use crate::engine::NodeId;
use generals_chain::genesis::{BftParams, DposParams, PbftParams, PoaParams, PosParams, PowParams};

const HOUR_MS: u64 = 3_600_000;

/// A change of the network at a moment of the run.
#[derive(Clone, Debug, PartialEq)]
pub enum NetChange {
    /// Only nodes in the same group hear each other.
    Cut(Vec<Vec<NodeId>>),
    /// One node hears no one and no one hears it.
    Isolate(NodeId),
    /// Everyone hears everyone again.
    Heal,
    /// An isolated node hears and is heard again (cuts stay).
    Rejoin(NodeId),
    /// Total hash power is multiplied by this factor.
    HashPower(f64),
    /// These nodes' operators propose adding (or removing) `candidate`'s key as
    /// an authority (proof of authority).
    Propose {
        voters: Vec<NodeId>,
        candidate: NodeId,
        add: bool,
    },
    /// Node `node` crashes and restarts: the engine factory builds its engine
    /// again from the signing record it persisted (with `record: false`, from
    /// nothing, as a validator that lost its record would), the engine is
    /// taught the node's stored chain and started on its tip. Its timers die
    /// with it; its chain and mempool stay.
    Restart { node: NodeId, record: bool },
    /// A node of `SimConfig::late`, away until now, starts from genesis with
    /// an empty chain and a new engine, and hears and is heard (cuts stay).
    /// With a checkpoint `(from, height)`: block `height` of node `from`'s
    /// main chain at this moment, as an operator would copy it from a node
    /// it trusts.
    Join {
        node: NodeId,
        checkpoint: Option<(NodeId, u64)>,
    },
    /// The link between two nodes gets its own latency, jitter and loss.
    Link {
        a: NodeId,
        b: NodeId,
        net: NetConfig,
    },
    /// The workload's rate becomes this many transfers a second (0 stops it).
    Tps(f64),
    /// Node `node`'s account signs this action and hands it to its node (a
    /// payment to watch, a bond, an unbond); the report says whether it ends
    /// on the main chain.
    Submit {
        node: NodeId,
        action: generals_chain::tx::Action,
    },
}

/// Which engine the nodes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pow,
    Poa,
    Pos,
    Bft,
    Dpos,
    Pbft,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Pow => "pow",
            Kind::Poa => "poa",
            Kind::Pos => "pos",
            Kind::Bft => "bft",
            Kind::Dpos => "dpos",
            Kind::Pbft => "pbft",
        }
    }
}

/// What a Byzantine BFT validator does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BftFault {
    /// Two prevotes and two precommits, for different blocks, to everyone.
    Equivocate,
    /// One vote to one half of the honest validators, another to the other.
    SplitVote,
    /// Forgets its lock.
    Amnesia,
    /// Never proposes nor votes.
    Silent,
    /// PBFT: never orders a block, and lies in its view changes.
    LieViewChange,
}

impl BftFault {
    pub const ALL: [BftFault; 4] = [
        BftFault::Equivocate,
        BftFault::SplitVote,
        BftFault::Amnesia,
        BftFault::Silent,
    ];
    /// What a Byzantine PBFT replica does: a primary sending different
    /// pre-prepares to two halves (split-vote), double votes, silence, lies.
    pub const PBFT: [BftFault; 4] = [
        BftFault::Equivocate,
        BftFault::SplitVote,
        BftFault::Silent,
        BftFault::LieViewChange,
    ];

    /// Whether a `kind` engine has this fault.
    pub fn fits(&self, kind: Kind) -> bool {
        match kind {
            Kind::Bft => Self::ALL.contains(self),
            Kind::Pbft => Self::PBFT.contains(self),
            Kind::Dpos => *self == BftFault::Silent,
            _ => false,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            BftFault::Equivocate => "equivocate",
            BftFault::SplitVote => "split-vote",
            BftFault::Amnesia => "amnesia",
            BftFault::Silent => "silent",
            BftFault::LieViewChange => "lie-view-change",
        }
    }
}

/// Latency, jitter and loss of every link.
#[derive(Clone, Debug, PartialEq)]
pub struct NetConfig {
    pub latency_ms: u64,
    pub jitter_ms: u64,
    /// Probability that a message is lost.
    pub loss: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency_ms: 100,
            jitter_ms: 50,
            loss: 0.0,
        }
    }
}

/// A Byzantine node and what it does.
#[derive(Clone, Debug, PartialEq)]
pub enum Attack {
    /// The 51% attack: pay a merchant, mine a secret fork from before the payment
    /// in which the coins go back to the attacker, release it once it is heavier
    /// and the payment has `confirmations` blocks on the public chain; give up
    /// when the public chain leads by `give_up` blocks.
    PrivateFork {
        node: NodeId,
        confirmations: u64,
        give_up: u64,
        /// Height at which the attacker pays.
        at_height: u64,
    },
    /// Eyal and Sirer's selfish mining; `gamma` is the share of honest nodes that
    /// hear the attacker's block first in a tie.
    Selfish { node: NodeId, gamma: f64 },
    /// A proof-of-authority sealer that seals two blocks at each of its heights.
    Equivocate { node: NodeId },
    /// Authorities that vote the other authorities out and censor the workload's
    /// first `censor` accounts.
    Collude { nodes: Vec<NodeId>, censor: usize },
    /// Node `twin` runs with node `node`'s key: an authority's (proof of
    /// authority), or a validator's (BFT, PBFT: the twin holds no stake).
    Clone { node: NodeId, twin: NodeId },
    /// Proof-of-stake validators that attest on every fork head they see.
    NothingAtStake { nodes: Vec<NodeId> },
    /// Byzantine BFT validators, all with one fault (split voters collude).
    Bft { fault: BftFault, nodes: Vec<NodeId> },
    /// The long-range attack on proof of stake: node `attacker` (no stake of
    /// its own, usually late) holds the key of validator `seller`, who has
    /// left; it runs the honest engine with it from an empty chain, so it
    /// rebuilds history from genesis where that key's old stake rules.
    LongRange { seller: NodeId, attacker: NodeId },
}

impl Attack {
    /// The (first) Byzantine node.
    pub fn node(&self) -> NodeId {
        match self {
            Attack::PrivateFork { node, .. }
            | Attack::Selfish { node, .. }
            | Attack::Equivocate { node }
            | Attack::Clone { node, .. } => *node,
            Attack::LongRange { attacker, .. } => *attacker,
            Attack::Collude { nodes, .. }
            | Attack::NothingAtStake { nodes }
            | Attack::Bft { nodes, .. } => nodes.first().copied().unwrap_or(0),
        }
    }

    /// What node `i` does under this attack, as scenario roles name it
    /// (`honest` for the others).
    pub fn role_of(&self, i: NodeId) -> String {
        if !self.nodes().contains(&i) {
            return "honest".into();
        }
        match self {
            Attack::PrivateFork { .. } => "private-fork".into(),
            Attack::Selfish { .. } => "selfish".into(),
            Attack::Equivocate { .. } => "equivocate".into(),
            Attack::Collude { .. } => "collude".into(),
            // The node whose key is cloned runs honestly.
            Attack::Clone { node, .. } if *node == i => "honest".into(),
            Attack::Clone { node, .. } => format!("twin of n{node}"),
            Attack::NothingAtStake { .. } => "nothing-at-stake".into(),
            Attack::Bft { fault, .. } => fault.name().into(),
            Attack::LongRange { seller, .. } => format!("long-range (the key of n{seller})"),
        }
    }

    /// Every Byzantine node.
    pub fn nodes(&self) -> Vec<NodeId> {
        match self {
            Attack::Collude { nodes, .. }
            | Attack::NothingAtStake { nodes }
            | Attack::Bft { nodes, .. } => nodes.clone(),
            Attack::Clone { node, twin } => vec![*node, *twin],
            other => vec![other.node()],
        }
    }
}

/// A whole simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub nodes: usize,
    pub seed: u64,
    /// Once a chain reaches this height the network turns quiet, and mining stops
    /// when the honest nodes agree on a tip.
    pub blocks: u64,
    pub kind: Kind,
    pub pow: PowParams,
    pub poa: PoaParams,
    pub pos: PosParams,
    pub bft: BftParams,
    pub dpos: DposParams,
    pub pbft: PbftParams,
    /// Proof of stake and BFT: each node's bonded stake at genesis (0 for none).
    pub stakes: Vec<u64>,
    /// Evidence slashes (off: it is recorded and costs nothing).
    pub slashing: bool,
    /// Proof of authority: the first this many nodes are the genesis authorities.
    pub authorities: usize,
    /// Each node's share of the hash power (normalised to sum to 1).
    pub hashpower: Vec<f64>,
    pub net: NetConfig,
    /// Links that differ from `net`: (node, node, their latency, jitter, loss).
    pub links: Vec<(NodeId, NodeId, NetConfig)>,
    /// Network changes, at milliseconds from the start.
    pub schedule: Vec<(u64, NetChange)>,
    /// Changes made when the first honest node's chain reaches a height.
    pub at_height: Vec<(u64, NetChange)>,
    /// Transfers per second submitted by the workload (0 for none).
    pub tps: f64,
    pub attack: Option<Attack>,
    /// Simulated time after mining stops, for messages to settle.
    pub quiet_ms: u64,
    /// Interval at which each node announces its tip (how lost blocks are found).
    pub announce_ms: u64,
    /// Nodes away from the start: no engine, no links, until a
    /// `NetChange::Join` starts them.
    pub late: Vec<NodeId>,
}

impl SimConfig {
    /// `nodes` honest nodes with equal hash power on a quiet network.
    pub fn honest(nodes: usize, seed: u64, blocks: u64) -> SimConfig {
        let pow = PowParams {
            target_block_ms: 10_000,
            initial_difficulty: 1 << 20,
            halflife_ms: 200_000,
            max_future_drift_ms: 15_000,
        };
        SimConfig {
            nodes,
            seed,
            blocks,
            announce_ms: pow.target_block_ms,
            kind: Kind::Pow,
            poa: PoaParams {
                period_ms: 5_000,
                epoch: 1_000,
            },
            authorities: nodes,
            pos: PosParams {
                slot_ms: 4_000,
                epoch_slots: 8,
                unbonding_epochs: 2,
            },
            bft: BftParams::default(),
            dpos: DposParams::default(),
            pbft: PbftParams::default(),
            stakes: vec![100; nodes],
            slashing: true,
            pow,
            hashpower: vec![1.0; nodes],
            net: NetConfig::default(),
            links: Vec::new(),
            schedule: Vec::new(),
            at_height: Vec::new(),
            tps: 0.0,
            attack: None,
            late: Vec::new(),
            quiet_ms: 60_000,
        }
    }

    /// `nodes` honest proof-of-authority nodes, all authorities.
    pub fn poa(nodes: usize, seed: u64, blocks: u64) -> SimConfig {
        let mut c = SimConfig::honest(nodes, seed, blocks);
        c.kind = Kind::Poa;
        c.announce_ms = c.poa.period_ms;
        c
    }

    /// `nodes` honest proof-of-stake validators with equal stake.
    pub fn pos(nodes: usize, seed: u64, blocks: u64) -> SimConfig {
        let mut c = SimConfig::honest(nodes, seed, blocks);
        c.kind = Kind::Pos;
        c.announce_ms = c.pos.slot_ms;
        c
    }

    /// `nodes` honest BFT validators with equal voting power.
    pub fn bft(nodes: usize, seed: u64, blocks: u64) -> SimConfig {
        let mut c = SimConfig::honest(nodes, seed, blocks);
        c.kind = Kind::Bft;
        c.announce_ms = 2_000;
        // Decisions go on while the run settles; a few seconds show that.
        c.quiet_ms = 5_000;
        c
    }

    /// `nodes` honest delegates with equal stake, each voting for itself,
    /// all producing (one round is `nodes` slots).
    pub fn dpos(nodes: usize, seed: u64, blocks: u64) -> SimConfig {
        let mut c = SimConfig::honest(nodes, seed, blocks);
        c.kind = Kind::Dpos;
        c.dpos.producers = nodes as u64;
        c.announce_ms = c.dpos.slot_ms;
        c
    }

    /// `nodes` honest PBFT replicas (equal stake: one replica, one vote).
    pub fn pbft(nodes: usize, seed: u64, blocks: u64) -> SimConfig {
        let mut c = SimConfig::honest(nodes, seed, blocks);
        c.kind = Kind::Pbft;
        c.announce_ms = 2_000;
        c.quiet_ms = 5_000;
        c
    }

    /// Hash power shares normalised to sum to 1.
    pub fn shares(&self) -> Vec<f64> {
        let mut v = self.hashpower.clone();
        v.resize(self.nodes, 0.0);
        let sum: f64 = v.iter().sum();
        if sum > 0.0 {
            v.iter_mut().for_each(|x| *x /= sum);
        }
        v
    }

    /// Refuses configurations that cannot run.
    pub fn check(&self) -> Result<(), String> {
        if self.nodes == 0 {
            return Err("a simulation needs at least one node".into());
        }
        if self.hashpower.len() != self.nodes {
            return Err(format!(
                "{} hash power shares for {} nodes",
                self.hashpower.len(),
                self.nodes
            ));
        }
        if self.hashpower.iter().any(|h| !h.is_finite() || *h < 0.0)
            || self.hashpower.iter().sum::<f64>() <= 0.0
        {
            return Err("hash power shares must be non-negative and not all zero".into());
        }
        for net in std::iter::once(&self.net).chain(self.links.iter().map(|(_, _, l)| l)) {
            if !(0.0..1.0).contains(&net.loss) {
                return Err(format!("loss {} is not in [0, 1)", net.loss));
            }
            if net.latency_ms > HOUR_MS || net.jitter_ms > HOUR_MS {
                return Err("latency and jitter are at most an hour".into());
            }
        }
        if self
            .links
            .iter()
            .any(|(a, b, _)| *a >= self.nodes || *b >= self.nodes)
        {
            return Err("a --link names a node that does not exist".into());
        }
        if self.pow.target_block_ms == 0 || self.pow.target_block_ms > HOUR_MS {
            return Err("the target interval must be 1 ms to an hour".into());
        }
        if let Some(a) = &self.attack {
            if a.nodes().iter().any(|n| *n >= self.nodes) {
                return Err(format!("attacker node {:?} does not exist", a.nodes()));
            }
            let fits = match a {
                Attack::PrivateFork { .. } | Attack::Selfish { .. } => self.kind == Kind::Pow,
                Attack::Collude { .. } => matches!(self.kind, Kind::Poa | Kind::Dpos),
                // Twins: a voting engine's validator played by two nodes.
                Attack::Clone { twin, .. } => {
                    self.kind == Kind::Poa
                        || (matches!(self.kind, Kind::Bft | Kind::Pbft)
                            && self.stakes.get(*twin) == Some(&0))
                }
                Attack::Equivocate { .. } => {
                    matches!(self.kind, Kind::Poa | Kind::Pos | Kind::Dpos)
                }
                Attack::NothingAtStake { .. } => self.kind == Kind::Pos,
                Attack::LongRange { seller, attacker } => {
                    self.kind == Kind::Pos
                        && *seller < self.nodes
                        && seller != attacker
                        && self.stakes.get(*attacker) == Some(&0)
                }
                Attack::Bft { fault, .. } => fault.fits(self.kind),
            };
            if !fits {
                return Err("private-fork and selfish attack proof of work; clone proof of authority; collude proof of authority and DPoS; nothing-at-stake proof of stake; long-range proof of stake (by a node without stake); equivocate proof of authority, proof of stake and DPoS; split-vote and amnesia BFT; silent BFT and DPoS".into());
            }
            match a {
                Attack::Selfish { gamma, .. } if !(0.0..=1.0).contains(gamma) => {
                    return Err(format!("gamma {gamma} is not in [0, 1]"));
                }
                Attack::PrivateFork {
                    confirmations,
                    give_up,
                    at_height,
                    ..
                } if *confirmations > 1_000 || *give_up > 100_000 || *at_height > 1_000_000 => {
                    return Err(
                        "confirmations are at most 1000, give-up 100000 blocks, pay-at 1000000"
                            .into(),
                    );
                }
                _ => {}
            }
        }
        for (_, change) in self.schedule.iter().chain(&self.at_height) {
            let bad = match change {
                NetChange::Cut(groups) => groups.iter().flatten().any(|n| *n >= self.nodes),
                NetChange::Isolate(n) | NetChange::Rejoin(n) => *n >= self.nodes,
                NetChange::HashPower(f) => !f.is_finite() || *f <= 0.0,
                NetChange::Propose {
                    voters, candidate, ..
                } => *candidate >= self.nodes || voters.iter().any(|v| *v >= self.nodes),
                NetChange::Restart { node, .. } => *node >= self.nodes,
                NetChange::Join { node, checkpoint } => {
                    !self.late.contains(node)
                        || checkpoint.is_some_and(|(from, h)| from >= self.nodes || h == 0)
                }
                NetChange::Link { a, b, net } => {
                    *a >= self.nodes || *b >= self.nodes || !(0.0..=1.0).contains(&net.loss)
                }
                NetChange::Tps(t) => !t.is_finite() || *t < 0.0,
                NetChange::Submit { node, .. } => *node >= self.nodes,
                NetChange::Heal => false,
            };
            if bad {
                return Err(format!(
                    "network change {change:?} names a node that does not exist or a bad factor"
                ));
            }
        }
        if self.late.iter().any(|n| *n >= self.nodes) {
            return Err(format!("late nodes {:?}: no such node", self.late));
        }
        if matches!(self.kind, Kind::Pos | Kind::Bft | Kind::Dpos | Kind::Pbft)
            && (self.stakes.len() != self.nodes || self.stakes.iter().all(|s| *s == 0))
        {
            return Err(
                "proof of stake, BFT, DPoS and PBFT need a stake per node, not all zero".into(),
            );
        }
        if self.kind == Kind::Pbft
            && (self.pbft.view_timeout_ms == 0
                || self.pbft.view_timeout_ms > HOUR_MS
                || self.pbft.block_pause_ms > HOUR_MS
                || self.pbft.checkpoint_interval == 0)
        {
            return Err(
                "PBFT's view timeout must be 1 ms to an hour, its pause at most an hour, \
                 its checkpoint interval at least 1"
                    .into(),
            );
        }
        if self.kind == Kind::Dpos
            && (self.dpos.slot_ms == 0
                || self.dpos.slot_ms > HOUR_MS
                || !(1..=101).contains(&self.dpos.producers))
        {
            return Err("DPoS slots must be 1 ms to an hour, with 1 to 101 producers".into());
        }
        if self.kind == Kind::Bft
            && [
                self.bft.timeout_propose_ms,
                self.bft.timeout_vote_ms,
                self.bft.timeout_commit_ms,
            ]
            .iter()
            .any(|t| *t == 0 || *t > HOUR_MS)
        {
            return Err("BFT timeouts must be 1 ms to an hour".into());
        }
        if self.kind == Kind::Pos
            && (self.pos.slot_ms == 0 || self.pos.slot_ms > HOUR_MS || self.pos.epoch_slots < 2)
        {
            return Err("slots must be 1 ms to an hour, epochs at least 2 slots".into());
        }
        if self.kind == Kind::Poa && (self.authorities == 0 || self.authorities > self.nodes) {
            return Err("proof of authority needs 1 to --nodes authorities".into());
        }
        if self.kind == Kind::Poa && (self.poa.period_ms == 0 || self.poa.period_ms > HOUR_MS) {
            return Err("the block period must be 1 ms to an hour".into());
        }
        if self.blocks == 0 || self.blocks > 10_000_000 {
            return Err("--blocks must be 1 to 10000000".into());
        }
        Ok(())
    }
}
