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
//!   `report`: the summary of a run;
//! - `engines`: each node's engine, from the engine factory;
//! - `host`: the simulator's `Host`, through which the one host loop
//!   (`crate::host::drive`) carries out every engine output;
//! - `flow`: deliveries, the workload, and how a run settles and ends.

pub mod config;
mod engines;
mod flow;
mod host;
pub mod log;
pub mod network;
pub mod report;
mod staged;
mod steps;
pub mod twins;

pub use config::{Attack, BftFault, Kind, NetChange, NetConfig, SimConfig};
pub use log::{EventKind, EventLog};
pub use report::{AttackOutcome, SimReport};

use crate::byzantine::Rush;
use crate::core::NodeCore;
use crate::engine::{Consensus, Input, NodeId};
use crate::host::MineJob;
use generals_chain::genesis::{GenesisAccount, GenesisValidator};
use generals_chain::state::Slashing;
use generals_chain::{
    Block, ConsensusSpec, Genesis, Hash, Keypair, MemoryStore, MempoolConfig, SignedMessage,
    Transaction,
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
    /// The change `config.at_height[i]`, whose height was reached.
    AtHeight(usize),
    /// While settling: are the honest nodes still agreed, with nothing in flight?
    Verify,
    Timer {
        node: NodeId,
        id: u64,
        /// The node's incarnation that set it (a restart kills its timers).
        incarnation: u64,
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

struct SimNode {
    core: NodeCore<MemoryStore>,
    /// Out only while the host loop drives it.
    engine: Option<Box<dyn Consensus>>,
    key: Keypair,
    share: f64,
    job: Option<MineJob>,
    attempt: u64,
    /// Blocks this node has sent or received: the only ones it announces or
    /// serves. A withholding attacker's secret blocks stay secret.
    published: HashSet<Hash>,
    /// What the engine asked to persist, by record name (a signer restarted
    /// from here resumes from its record).
    records: std::collections::BTreeMap<&'static str, Vec<u8>>,
    /// How many times the node has restarted.
    incarnation: u64,
    /// Blocks it produced and kept to itself.
    withheld: crate::host::Withheld,
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
    /// Transactions the timeline had nodes sign: the node, the hash, and
    /// whether the node took it.
    pub watched: Vec<(NodeId, Hash, bool)>,
    /// Transfers the workload's nodes took, by sending wallet.
    pub workload_sent: Vec<u64>,
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
    /// When the run began to settle (simulated ms).
    settle_since: u64,
    hash_factor: f64,
    wallets: Vec<Keypair>,
    attack_txs: Option<(Hash, Hash)>,
    /// Each node's clock skew in ms.
    skew: Vec<u64>,
    /// Height of the block holding the attacker's payment on the reference node's
    /// main chain, and whether the merchant ever saw it confirmed.
    payment_at: Option<u64>,
    merchant_confirmed: bool,
    /// The first honest node: height-triggered changes follow its chain.
    reference: NodeId,
    /// Height-triggered changes not yet made (indices into `at_height`).
    height_pending: Vec<usize>,
    /// The workload is sending.
    workload_on: bool,
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
            Kind::Dpos => ConsensusSpec::Dpos(config.dpos),
            Kind::Pbft => ConsensusSpec::Pbft(config.pbft),
        },
        block_reward: 50,
        slashing: Slashing {
            enabled: config.slashing,
            ..Slashing::default()
        },
        accounts,
        validators: match config.kind {
            Kind::Pow => Vec::new(),
            Kind::Pos | Kind::Bft | Kind::Dpos | Kind::Pbft => (0..config.nodes)
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
        production: Default::default(),
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
            let key = engines::key_of(&config, i);
            let engine = engines::make(&config, &genesis, i, None, &mut attack_txs)
                .map_err(|e| e.to_string())?;
            let core = empty_core(&genesis)?;
            nodes.push(SimNode {
                core,
                engine: Some(engine),
                key,
                share: *share,
                job: None,
                attempt: 0,
                published: HashSet::from([genesis_block.hash()]),
                records: Default::default(),
                incarnation: 0,
                withheld: Default::default(),
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
                workload_sent: vec![0; WORKLOAD_ACCOUNTS],
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
            settle_since: 0,
            hash_factor: 1.0,
            wallets,
            attack_txs,
            payment_at: None,
            merchant_confirmed: false,
            reference: (0..config.nodes)
                .find(|i| {
                    !config
                        .attack
                        .as_ref()
                        .is_some_and(|a| a.nodes().contains(i))
                })
                .unwrap_or(0),
            height_pending: (0..config.at_height.len()).collect(),
            workload_on: false,
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
        let nodes = (0..self.nodes.len())
            .map(|i| log::LogNode {
                name: format!("n{i}"),
                key: self.nodes[i].key.public(),
                role: self
                    .config
                    .attack
                    .as_ref()
                    .map_or_else(|| "honest".into(), |a| a.role_of(i)),
            })
            .collect();
        let info = EventKind::Info {
            consensus: self.config.kind.name().into(),
            nodes,
        };
        self.log.record(0, None, &info);
        for i in 0..self.nodes.len() {
            if self.config.late.contains(&i) {
                // Away: no engine steps and no links until it joins.
                self.net.apply(&NetChange::Isolate(i));
                continue;
            }
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
            self.workload_on = true;
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
            &self.genesis,
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
            Ev::Timer {
                node,
                id,
                incarnation,
            } => {
                if incarnation != self.nodes[node].incarnation {
                    return;
                }
                let now_ms = self.local(node);
                self.step(node, Input::Timer { id, now_ms }, None);
            }
            Ev::Net(i) => self.change(self.config.schedule[i].1.clone()),
            Ev::AtHeight(i) => self.change(self.config.at_height[i].1.clone()),
        }
    }

    fn start_mining(&mut self, node: NodeId, job: MineJob) {
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
}

/// A node's chain as it starts: genesis only, in memory.
fn empty_core(genesis: &Genesis) -> Result<NodeCore<MemoryStore>, String> {
    let weight = crate::factory::weight(genesis).map_err(|e| e.to_string())?;
    NodeCore::open(
        MemoryStore::new(),
        genesis,
        weight,
        MempoolConfig::default(),
    )
    .map_err(|e| e.to_string())
}
