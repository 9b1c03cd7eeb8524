//! The deterministic simulator: N nodes, each with an engine, an in-memory store,
//! fork tree, state and mempool (a `NodeCore`), on a virtual clock, with one
//! seeded RNG, a network of per-link latency, jitter and loss, partitions on a
//! schedule, and a transaction workload. Mining is a race: a node with hash rate
//! h finds its next block after an exponential delay of mean difficulty / h,
//! drawn from the seed, so proof of work costs nothing here and a run is exactly
//! reproducible. Every event goes to a JSONL log; the same seed gives the same
//! bytes.
//!
//! - `config`: what a run is; `network`: links and partitions; `log`: events;
//!   `report`: the summary of a run.

pub mod config;
mod engines;
pub mod log;
pub mod network;
pub mod report;

pub use config::{Attack, BftFault, Kind, NetChange, NetConfig, SimConfig};
pub use log::{EventKind, EventLog};
pub use report::{AttackOutcome, SimReport};

use crate::byzantine::Rush;
use crate::core::{Added, NodeCore};
use crate::engine::{Consensus, Input, NodeId, Output};
use generals_chain::genesis::{GenesisAccount, GenesisValidator};
use generals_chain::state::Slashing;
use generals_chain::{
    Action, Block, ConsensusSpec, Evidence, Genesis, Hash, Keypair, MemoryStore, MempoolConfig,
    PublicKey, SignedMessage, Transaction, TxBody,
};
use network::Network;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

/// Genesis time of simulated chains (ms since the Unix epoch).
pub const SIM_GENESIS_MS: u64 = 1_700_000_000_000;
/// Funded accounts that the workload sends between.
pub(crate) const WORKLOAD_ACCOUNTS: usize = 16;
pub(crate) const CHAIN_ID: &str = "generals-sim";

#[derive(Debug, Clone)]
enum Msg {
    Block(Block),
    Tx(Transaction),
    Consensus(SignedMessage),
    Tip(Hash),
    GetBlock(Hash),
}

#[derive(Debug, Clone)]
enum Ev {
    Found {
        node: NodeId,
        attempt: u64,
    },
    Deliver {
        from: NodeId,
        to: NodeId,
        msg: Box<Msg>,
    },
    Announce {
        node: NodeId,
    },
    Workload,
    Net(usize),
    /// While settling: are the honest nodes still agreed, with nothing in flight?
    Verify,
    Timer {
        node: NodeId,
        id: u64,
    },
}

#[derive(Debug)]
struct Scheduled {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

#[derive(Debug, Clone)]
struct Job {
    parent: Hash,
    height: u64,
    min_timestamp_ms: u64,
    consensus: Vec<u8>,
    difficulty: u128,
}

struct SimNode {
    core: NodeCore<MemoryStore>,
    engine: Box<dyn Consensus>,
    key: Keypair,
    share: f64,
    job: Option<Job>,
    attempt: u64,
    /// Blocks this node has sent or received: the only ones it announces or
    /// serves. A withholding attacker's secret blocks stay secret.
    published: HashSet<Hash>,
}

/// Counters kept while running.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub produced: Vec<u64>,
    /// Height of each node's newest finalized block.
    pub finalized: Vec<u64>,
    /// Each node's decisions (what its engine finalized), by height.
    pub commits: Vec<std::collections::BTreeMap<u64, Hash>>,
    pub reorgs: u64,
    pub max_reorg_depth: usize,
    pub invalid: u64,
    pub messages: u64,
    pub lost: u64,
}

/// A simulation run.
pub struct Simulator {
    config: SimConfig,
    genesis: Genesis,
    nodes: Vec<SimNode>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    now: u64,
    end: u64,
    rng: ChaCha8Rng,
    net: Network,
    log: EventLog,
    stats: Stats,
    mining: bool,
    /// The chain reached its height and the network is quiet.
    settling: bool,
    hash_factor: f64,
    wallets: Vec<Keypair>,
    attack_txs: Option<(Hash, Hash)>,
    /// Each node's clock skew in ms.
    skew: Vec<u64>,
    /// Height of the block holding the attacker's payment on the reference node's
    /// main chain, and whether the merchant ever saw it confirmed.
    payment_at: Option<u64>,
    merchant_confirmed: bool,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("nodes", &self.nodes.len())
            .field("now", &self.now)
            .finish()
    }
}

/// The genesis of a simulated chain: node keys and workload accounts funded.
pub fn sim_genesis(config: &SimConfig) -> Genesis {
    let mut accounts: Vec<GenesisAccount> = (0..config.nodes)
        .map(|i| GenesisAccount {
            key: node_key(i).public(),
            balance: 1_000_000,
        })
        .collect();
    accounts.extend((0..WORKLOAD_ACCOUNTS).map(|i| GenesisAccount {
        key: Keypair::dev(&format!("sim-account-{i}")).public(),
        balance: 1_000_000_000,
    }));
    Genesis {
        chain_id: CHAIN_ID.into(),
        timestamp_ms: SIM_GENESIS_MS,
        consensus: match config.kind {
            Kind::Pow => ConsensusSpec::Pow(config.pow),
            Kind::Poa => ConsensusSpec::Poa(config.poa),
            Kind::Pos => ConsensusSpec::Pos(config.pos),
            Kind::Bft => ConsensusSpec::Bft(config.bft),
        },
        block_reward: 50,
        slashing: Slashing {
            enabled: config.slashing,
            ..Slashing::default()
        },
        accounts,
        validators: match config.kind {
            Kind::Pow => Vec::new(),
            Kind::Pos | Kind::Bft => (0..config.nodes)
                .filter(|i| config.stakes[*i] > 0)
                .map(|i| GenesisValidator {
                    key: node_key(i).public(),
                    stake: config.stakes[i],
                    name: Some(format!("node-{i}")),
                })
                .collect(),
            Kind::Poa => (0..config.authorities)
                .map(|i| GenesisValidator {
                    key: node_key(i).public(),
                    stake: 1,
                    name: Some(format!("node-{i}")),
                })
                .collect(),
        },
    }
}

/// The key of simulated node `i` (its rewards go there).
pub fn node_key(i: NodeId) -> Keypair {
    Keypair::dev(&format!("sim-node-{i}"))
}

/// The merchant the private-fork attacker pays.
pub fn merchant_key() -> Keypair {
    Keypair::dev("sim-merchant")
}

impl Simulator {
    /// Prepares a run; events go to `log`.
    pub fn new(config: SimConfig, log: EventLog) -> Result<Simulator, String> {
        config.check()?;
        let genesis = sim_genesis(&config);
        let genesis_block = genesis.block().map_err(|e| e.to_string())?;
        let shares = config.shares();
        let mut attack_txs = None;
        let mut nodes = Vec::with_capacity(config.nodes);
        for (i, share) in shares.iter().enumerate() {
            // A clone runs with the key of the node it copies, rewards and all.
            let key = match &config.attack {
                Some(Attack::Clone { node, twin }) if *twin == i => node_key(*node),
                _ => node_key(i),
            };
            let (engine, weight) =
                engines::make(&config, i, &genesis_block.header, &mut attack_txs);
            let core = NodeCore::open(
                MemoryStore::new(),
                &genesis,
                weight,
                MempoolConfig::default(),
            )
            .map_err(|e| e.to_string())?;
            nodes.push(SimNode {
                core,
                engine,
                key,
                share: *share,
                job: None,
                attempt: 0,
                published: HashSet::from([genesis_block.hash()]),
            });
        }
        let rush = match &config.attack {
            Some(Attack::Selfish { node, gamma }) => Some(Rush {
                attacker: *node,
                gamma: *gamma,
            }),
            _ => None,
        };
        let wallets = (0..WORKLOAD_ACCOUNTS)
            .map(|i| Keypair::dev(&format!("sim-account-{i}")))
            .collect();
        // A bound on simulated time, so a run that cannot reach its height ends.
        let end = config
            .blocks
            .saturating_mul(config.pow.target_block_ms)
            .saturating_mul(20)
            .saturating_add(config.quiet_ms);
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let skew = (0..config.nodes).map(|_| rng.gen_range(0..=25)).collect();
        Ok(Simulator {
            net: Network::new(config.nodes, config.net.clone(), &config.links, rush),
            rng,
            skew,
            stats: Stats {
                produced: vec![0; config.nodes],
                finalized: vec![0; config.nodes],
                commits: vec![Default::default(); config.nodes],
                ..Stats::default()
            },
            genesis,
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0,
            end,
            log,
            mining: true,
            settling: false,
            hash_factor: 1.0,
            wallets,
            attack_txs,
            payment_at: None,
            merchant_confirmed: false,
            config,
        })
    }

    fn at(&self) -> u64 {
        SIM_GENESIS_MS + self.now
    }

    /// The clock of node `node`: the simulated time plus the node's small skew, as
    /// no two real clocks agree to the millisecond.
    fn local(&self, node: NodeId) -> u64 {
        self.at() + self.skew[node]
    }

    fn schedule(&mut self, delay: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at: self.now.saturating_add(delay),
            seq: self.seq,
            ev,
        }));
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        self.stats.messages += 1;
        let is_block = matches!(msg, Msg::Block(_));
        match self.net.delay(from, to, is_block, &mut self.rng) {
            Some(d) => self.schedule(
                d,
                Ev::Deliver {
                    from,
                    to,
                    msg: Box::new(msg),
                },
            ),
            None => self.stats.lost += 1,
        }
    }

    fn send_all(&mut self, from: NodeId, msg: Msg) {
        for to in 0..self.nodes.len() {
            if to != from {
                self.send(from, to, msg.clone());
            }
        }
    }

    /// Runs to the end and reports.
    pub fn run(mut self) -> Result<(SimReport, Vec<NodeCore<MemoryStore>>), String> {
        for i in 0..self.nodes.len() {
            let tip = self.genesis.block().map_err(|e| e.to_string())?.header;
            let now_ms = self.local(i);
            self.step(i, Input::NewTip { tip, now_ms }, None);
            let offset = self.config.announce_ms.saturating_add(i as u64);
            self.schedule(offset, Ev::Announce { node: i });
        }
        for (i, (at, _)) in self.config.schedule.clone().iter().enumerate() {
            self.seq += 1;
            self.queue.push(Reverse(Scheduled {
                at: *at,
                seq: self.seq,
                ev: Ev::Net(i),
            }));
        }
        if self.config.tps > 0.0 {
            let d = self.exp_delay(1000.0 / self.config.tps);
            self.schedule(d, Ev::Workload);
        }
        while let Some(Reverse(s)) = self.queue.pop() {
            if s.at > self.end {
                break;
            }
            self.now = s.at;
            self.handle(s.ev);
        }
        self.log
            .finish()
            .map_err(|e| format!("writing the event log: {e}"))?;
        let report = report::summarize(
            &self.config,
            &self.nodes_cores(),
            &self.stats,
            self.attack_txs.filter(|_| self.merchant_confirmed),
            self.now,
        );
        Ok((report, self.nodes.into_iter().map(|n| n.core).collect()))
    }

    fn nodes_cores(&self) -> Vec<&NodeCore<MemoryStore>> {
        self.nodes.iter().map(|n| &n.core).collect()
    }

    fn exp_delay(&mut self, mean_ms: f64) -> u64 {
        let u: f64 = self.rng.gen_range(0.0..1.0);
        (-(1.0 - u).ln() * mean_ms).ceil().max(1.0) as u64
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Found { node, attempt } => self.found(node, attempt),
            Ev::Deliver { from, to, msg } => self.deliver(from, to, *msg),
            Ev::Announce { node } => {
                let tip = self.nodes[node].core.tip().hash;
                if self.nodes[node].published.contains(&tip) {
                    self.send_all(node, Msg::Tip(tip));
                }
                let every = self.config.announce_ms.max(1);
                self.schedule(every, Ev::Announce { node });
            }
            Ev::Workload => self.workload(),
            Ev::Verify => self.verify(),
            Ev::Timer { node, id } => {
                let now_ms = self.local(node);
                self.step(node, Input::Timer { id, now_ms }, None);
            }
            Ev::Net(i) => {
                let change = self.config.schedule[i].1.clone();
                if let NetChange::HashPower(f) = change {
                    self.hash_factor *= f;
                    // Every miner's next block is redrawn at the new rate.
                    for n in 0..self.nodes.len() {
                        if let Some(job) = self.nodes[n].job.clone() {
                            self.start_mining(n, job);
                        }
                    }
                }
                if let NetChange::Propose {
                    voters,
                    candidate,
                    add,
                } = &change
                {
                    let candidate = node_key(*candidate).public();
                    for v in voters.clone() {
                        let add = *add;
                        self.step(v, Input::Propose { candidate, add }, None);
                    }
                }
                if self.settling
                    && !matches!(change, NetChange::HashPower(_) | NetChange::Propose { .. })
                {
                    return;
                }
                self.net.apply(&change);
                let t = self.at();
                self.log.record(
                    t,
                    None,
                    &EventKind::Network {
                        change: format!("{change:?}"),
                    },
                );
            }
        }
    }

    fn start_mining(&mut self, node: NodeId, job: Job) {
        let n = &mut self.nodes[node];
        n.attempt += 1;
        let attempt = n.attempt;
        let rate = n.share * self.hash_factor * self.config.pow.initial_difficulty.max(1) as f64
            / self.config.pow.target_block_ms.max(1) as f64;
        let difficulty = job.difficulty as f64;
        n.job = Some(job);
        if rate > 0.0 && self.mining {
            let d = self.exp_delay(difficulty / rate);
            self.schedule(d, Ev::Found { node, attempt });
        }
    }

    fn found(&mut self, node: NodeId, attempt: u64) {
        if !self.mining || self.nodes[node].attempt != attempt {
            return;
        }
        let Some(job) = self.nodes[node].job.clone() else {
            return;
        };
        let now_ms = self.local(node);
        let timestamp = now_ms.max(job.min_timestamp_ms);
        let Some(mut block) = self.build_on(
            node,
            job.parent,
            job.height,
            timestamp,
            job.consensus,
            Vec::new(),
            &[],
        ) else {
            return;
        };
        // The work was simulated: any nonce stands for the one a miner would find.
        block.header.seal = self.rng.gen::<u64>().to_le_bytes().to_vec();
        self.produced(node, block);
    }

    /// A block from the node's mempool on its tip, which must be `parent`.
    #[allow(clippy::too_many_arguments)]
    fn build_on(
        &self,
        node: NodeId,
        parent: Hash,
        height: u64,
        timestamp_ms: u64,
        consensus: Vec<u8>,
        evidence: Vec<Evidence>,
        exclude: &[PublicKey],
    ) -> Option<Block> {
        let n = &self.nodes[node];
        n.core.build_on(
            parent,
            height,
            timestamp_ms,
            n.key.public(),
            consensus,
            evidence,
            exclude,
        )
    }

    fn produced(&mut self, node: NodeId, block: Block) {
        let now_ms = self.at();
        self.stats.produced[node] += 1;
        let kind = EventKind::Produced {
            hash: block.hash(),
            height: block.height(),
            txs: block.transactions.len(),
        };
        self.log.record(now_ms, Some(node), &kind);
        self.step(node, Input::Produced { block, now_ms }, None);
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        let now_ms = self.local(to);
        match msg {
            Msg::Block(block) => {
                if self.nodes[to].core.knows(&block.hash()) {
                    return;
                }
                let kind = EventKind::Received {
                    from,
                    hash: block.hash(),
                    height: block.height(),
                };
                self.log.record(now_ms, Some(to), &kind);
                self.nodes[to].published.insert(block.hash());
                self.step(
                    to,
                    Input::BlockReceived {
                        from,
                        block,
                        now_ms,
                    },
                    Some(from),
                );
            }
            Msg::Tx(tx) => self.submit(to, tx),
            Msg::Consensus(message) => {
                self.step(
                    to,
                    Input::Message {
                        from,
                        message,
                        now_ms,
                    },
                    Some(from),
                );
            }
            Msg::Tip(hash) => {
                if let Some(missing) = self.nodes[to].core.missing_ancestor(&hash) {
                    self.send(to, from, Msg::GetBlock(missing));
                }
            }
            Msg::GetBlock(hash) => {
                if !self.nodes[to].published.contains(&hash) {
                    return;
                }
                // A nothing-at-stake validator keeps both sides of a split alive:
                // it passes on no one's blocks but its own (a network proxy, so
                // the honest hosts stay as they are).
                if let Some(Attack::NothingAtStake { nodes }) = &self.config.attack {
                    let own = self.nodes[to]
                        .core
                        .block(&hash)
                        .is_some_and(|b| b.header.producer == self.nodes[to].key.public());
                    if nodes.contains(&to) && !own {
                        return;
                    }
                }
                if let Some(b) = self.nodes[to].core.block(&hash) {
                    self.send(to, from, Msg::Block(b));
                }
            }
        }
    }

    /// Feeds an input to a node's engine and carries out what it asks, and what
    /// that leads to, until nothing is left. `from` is the peer the input came from.
    fn step(&mut self, node: NodeId, input: Input, from: Option<NodeId>) {
        let n = &mut self.nodes[node];
        let outputs = n.engine.handle(input, n.core.ledger().store());
        let mut work: std::collections::VecDeque<Output> = outputs.into();
        while let Some(out) = work.pop_front() {
            match out {
                Output::Mine {
                    parent,
                    height,
                    min_timestamp_ms,
                    consensus,
                    difficulty,
                } => {
                    let job = Job {
                        parent,
                        height,
                        min_timestamp_ms,
                        consensus,
                        difficulty,
                    };
                    self.start_mining(node, job);
                }
                Output::StopMining => {
                    let n = &mut self.nodes[node];
                    n.attempt += 1;
                    n.job = None;
                }
                Output::Import(block) => {
                    let more = self.import(node, block, from);
                    work.extend(more);
                }
                Output::Broadcast(block) => {
                    self.nodes[node].published.insert(block.hash());
                    self.send_all(node, Msg::Block(block));
                }
                Output::SendTransaction(tx) => {
                    let t = self.at();
                    self.log
                        .record(t, Some(node), &EventKind::TxSent { hash: tx.hash() });
                    self.send_all(node, Msg::Tx(tx));
                }
                Output::Submit(tx) => self.submit(node, tx),
                Output::Build {
                    parent,
                    height,
                    timestamp_ms,
                    consensus,
                    evidence,
                    exclude,
                } => {
                    let block = self.build_on(
                        node,
                        parent,
                        height,
                        timestamp_ms,
                        consensus,
                        evidence,
                        &exclude,
                    );
                    if let Some(block) = block {
                        self.produced(node, block);
                    }
                }
                Output::SendBlock { to, block } => {
                    self.nodes[node].published.insert(block.hash());
                    self.send(node, to, Msg::Block(block));
                }
                Output::BroadcastMessage(m) => self.send_all(node, Msg::Consensus(m)),
                Output::SendMessage { to, message } => self.send(node, to, Msg::Consensus(message)),
                Output::SetTimer { id, at_ms } => {
                    // Set on the node's clock, fired by the simulated one: it wakes a
                    // skew late, as a real clock that runs behind would.
                    let delay = at_ms.saturating_sub(self.at());
                    self.schedule(delay, Ev::Timer { node, id });
                }
                Output::Finalize(hash) => {
                    let t = self.at();
                    self.log
                        .record(t, Some(node), &EventKind::Finalized { hash });
                    if let Some(n) = self.nodes[node].core.tree().get(&hash) {
                        self.stats.finalized[node] = self.stats.finalized[node].max(n.height);
                        self.stats.commits[node].entry(n.height).or_insert(hash);
                    }
                    // A finalized block is never reverted.
                    let change = self.nodes[node].core.finalize(hash);
                    work.extend(self.tip_changed(node, change.ok().flatten()));
                }
                Output::Justified(hash) => {
                    let t = self.at();
                    self.log
                        .record(t, Some(node), &EventKind::Justified { hash });
                    let change = self.nodes[node].core.justify(hash);
                    work.extend(self.tip_changed(node, change.ok().flatten()));
                }
                Output::Evidence(evidence) => {
                    let t = self.at();
                    let kind = EventKind::Evidence {
                        offender: evidence.offender(),
                    };
                    self.log.record(t, Some(node), &kind);
                }
            }
        }
    }

    /// Imports a block at a node; returns the engine's outputs for a new tip.
    fn import(&mut self, node: NodeId, block: Block, from: Option<NodeId>) -> Vec<Output> {
        let now_ms = self.local(node);
        let n = &mut self.nodes[node];
        let added: Added = match n.core.add_block(block.clone(), n.engine.as_ref(), now_ms) {
            Ok(a) => a,
            Err(e) => {
                self.stats.invalid += 1;
                let kind = EventKind::Invalid {
                    hash: block.hash(),
                    reason: e.to_string(),
                };
                self.log.record(now_ms, Some(node), &kind);
                return Vec::new();
            }
        };
        if let (Some(missing), Some(peer)) = (added.missing_parent, from) {
            self.send(node, peer, Msg::GetBlock(missing));
        }
        for (hash, reason) in &added.rejected {
            self.stats.invalid += 1;
            let kind = EventKind::Invalid {
                hash: *hash,
                reason: reason.clone(),
            };
            self.log.record(now_ms, Some(node), &kind);
        }
        self.tip_changed(node, added.tip_change)
    }

    /// Logs a change of a node's tip and tells its engine; returns what it asks.
    fn tip_changed(&mut self, node: NodeId, change: Option<crate::core::TipChange>) -> Vec<Output> {
        let Some(change) = change else {
            return Vec::new();
        };
        let now_ms = self.local(node);
        if !change.undone.is_empty() {
            self.stats.reorgs += 1;
            self.stats.max_reorg_depth = self.stats.max_reorg_depth.max(change.undone.len());
            let kind = EventKind::Reorg {
                depth: change.undone.len(),
                from: change.from.hash,
                to: change.to.hash,
                height: change.to.height,
            };
            self.log.record(now_ms, Some(node), &kind);
        }
        for b in &change.applied {
            let kind = EventKind::Imported {
                hash: b.hash(),
                height: b.height(),
            };
            self.log.record(now_ms, Some(node), &kind);
        }
        self.watch_payment(node, &change);
        if self.mining && change.to.height >= self.config.blocks {
            self.settle();
        }
        let n = &mut self.nodes[node];
        let tip = n.core.ledger().tip_header().clone();
        n.engine
            .handle(Input::NewTip { tip, now_ms }, n.core.ledger().store())
    }

    /// The chain reached its height: the network turns quiet (no cuts, no loss)
    /// and mining goes on until the honest nodes agree on a tip and still agree
    /// once every message in flight has landed (a tie between equal branches is
    /// only broken by a next block).
    fn settle(&mut self) {
        if !self.settling {
            self.settling = true;
            self.net.quiet();
            let t = self.at();
            self.log.record(
                t,
                None,
                &EventKind::Network {
                    change: "Quiet".into(),
                },
            );
        }
        if self.mining && self.agreed() {
            self.pause_mining();
            let slowest = std::iter::once(&self.config.net)
                .chain(self.config.links.iter().map(|(_, _, l)| l))
                .map(|l| l.latency_ms.saturating_add(l.jitter_ms))
                .max()
                .unwrap_or(0);
            let wait = slowest.saturating_mul(4).saturating_add(1);
            self.schedule(wait, Ev::Verify);
        }
    }

    /// The merchant is the reference (first honest) node: it sees the payment
    /// confirmed once it lies `confirmations` deep in its main chain.
    fn watch_payment(&mut self, node: NodeId, change: &crate::core::TipChange) {
        let (
            Some((payment, _)),
            Some(Attack::PrivateFork {
                node: attacker,
                confirmations,
                ..
            }),
        ) = (self.attack_txs, &self.config.attack)
        else {
            return;
        };
        let reference = usize::from(*attacker == 0);
        if node != reference {
            return;
        }
        let holds = |b: &Block| b.transactions.iter().any(|t| t.hash() == payment);
        if change.undone.iter().any(holds) {
            self.payment_at = None;
        }
        if let Some(b) = change.applied.iter().find(|b| holds(b)) {
            self.payment_at = Some(b.height());
        }
        if let Some(at) = self.payment_at {
            if change.to.height + 1 >= at.saturating_add(*confirmations) {
                self.merchant_confirmed = true;
            }
        }
    }

    fn agreed(&self) -> bool {
        let attackers = self
            .config
            .attack
            .as_ref()
            .map(Attack::nodes)
            .unwrap_or_default();
        let mut honest = (0..self.nodes.len()).filter(|i| !attackers.contains(i));
        let first = honest.next().map(|i| self.nodes[i].core.tip().hash);
        honest.all(|i| Some(self.nodes[i].core.tip().hash) == first)
    }

    fn verify(&mut self) {
        if self.agreed() {
            self.end = self.now.saturating_add(self.config.quiet_ms);
            return;
        }
        // Still split: mine on, from every node's current job.
        self.mining = true;
        for n in 0..self.nodes.len() {
            if let Some(job) = self.nodes[n].job.clone() {
                self.start_mining(n, job);
            }
        }
    }

    fn pause_mining(&mut self) {
        self.mining = false;
        for n in &mut self.nodes {
            n.attempt += 1;
        }
    }

    /// A transaction reaches a node's mempool; the engine hears of it if taken.
    fn submit(&mut self, node: NodeId, tx: Transaction) {
        if self.nodes[node].core.submit(tx.clone()).is_ok() {
            let now_ms = self.local(node);
            self.step(node, Input::Transaction { tx, now_ms }, None);
        }
    }

    fn workload(&mut self) {
        let i = self.rng.gen_range(0..self.wallets.len());
        let j = self.rng.gen_range(0..self.wallets.len());
        let node = self.rng.gen_range(0..self.nodes.len());
        let amount = self.rng.gen_range(1..1_000);
        let to = self.wallets[j].public();
        let key = &self.wallets[i];
        // Like a wallet asking its node for the pending nonce.
        let nonce = self.nodes[node].core.next_nonce(&key.public());
        let tx = TxBody {
            chain_id: CHAIN_ID.into(),
            sender: key.public(),
            nonce,
            fee: 1,
            action: Action::Transfer { to, amount },
        }
        .sign(key);
        if self.nodes[node].core.submit(tx.clone()).is_ok() {
            let now_ms = self.local(node);
            self.step(
                node,
                Input::Transaction {
                    tx: tx.clone(),
                    now_ms,
                },
                None,
            );
            self.send_all(node, Msg::Tx(tx));
        }
        if self.mining {
            let d = self.exp_delay(1000.0 / self.config.tps);
            self.schedule(d, Ev::Workload);
        }
    }
}
