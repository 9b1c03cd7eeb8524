//! The driver: one loop that owns the engine, the chain, the network and the
//! miner. It feeds the engine its inputs (new tips, blocks from peers, blocks it
//! mined, timers) and the one host loop (`generals_consensus::host::drive`)
//! carries out the engine's outputs through the driver's `Host`; it keeps peers
//! in sync (headers first, then bodies, a bounded number in flight), gives every
//! gossip message one validation verdict and penalises peers that send invalid
//! ones, and answers the HTTP API.
//!
//! - `host`: the node's `Host` (gossip, sled records, the miner, events);
//! - `gossip`: publishing, swarm events, one verdict per gossip message;
//! - `api`: the API's commands; `views`: what the API shows;
//! - `sync`: headers-first sync;
//! - `direct`: sends aimed at one peer, and what arrives that way;
//! - `shape`: slow and lossy links, for experiments.

mod api;
mod direct;
mod forge;
mod gossip;
mod host;
mod limits;
pub use limits::MAX_PEER_MESSAGES_PER_SECOND;
pub mod shape;
mod sync;
mod views;

use crate::api::types::NodeEvent;
use crate::api::ApiCmd;
use crate::metrics::Metrics;
use crate::miner::{Found, Miner};
use crate::net::Behaviour;
use crate::protocol::{SyncRequest, Topics};
use futures::StreamExt;
use generals_chain::store::SledRecord;
use generals_chain::{Block, Evidence, Hash, Keypair, SledStore};
use generals_consensus::core::NodeCore;
use generals_consensus::host::{drive, MineJob, Verdict};
use generals_consensus::{Consensus, Input};
use libp2p::{Multiaddr, PeerId, Swarm};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};

/// Invalid messages after which a peer is cut off.
pub const BAN_PENALTY: u32 = 20;
/// How long a gossip message waits for subscribers before it is dropped.
const PUBLISH_PATIENCE: Duration = Duration::from_secs(30);

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, Default, Clone)]
struct PeerState {
    connected: bool,
    blocked: bool,
    penalty: u32,
    addresses: Vec<Multiaddr>,
    window: limits::Window,
}

/// Why the driver stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A validator whose signing record cannot be written must not sign: the
    /// node stops rather than go on without it.
    #[error(transparent)]
    Unsaved(#[from] generals_consensus::host::Unsaved),
}

/// Called with the node's listen addresses whenever they change.
pub type OnListen = Box<dyn FnMut(&[Multiaddr]) + Send>;

/// Everything the driver needs to start.
pub struct DriverParts {
    pub core: NodeCore<SledStore>,
    /// Validator names from the genesis file.
    pub names: BTreeMap<generals_chain::PublicKey, String>,
    pub chain_id: String,
    pub genesis: Hash,
    pub swarm: Swarm<Behaviour>,
    pub miner: Miner,
    pub found: mpsc::UnboundedReceiver<Found>,
    pub api: mpsc::Receiver<ApiCmd>,
    pub events: broadcast::Sender<NodeEvent>,
    pub metrics: Metrics,
    pub validator: Keypair,
    /// The Byzantine behaviour this node runs, if any (shown in `/status`).
    pub byzantine: Option<String>,
    /// The peers a Byzantine plan numbers (its node 0, 1, ...): the engine's
    /// sends to peer `i` go to the `i`th. Empty for an honest node.
    pub plan_peers: Vec<PeerId>,
    pub bootstrap: Vec<Multiaddr>,
    pub mine: bool,
    /// The genesis says `"production": "on-demand"`: blocks come only when
    /// asked (`generals forge`).
    pub on_demand: bool,
    /// Called once the node listens: its listen addresses.
    pub on_listen: OnListen,
    /// Tests of the signing record: where this node kills itself.
    pub crash: Option<crate::crash::Crasher>,
    /// Messages a peer may send in a second before it is cut off.
    pub peer_rate: u32,
}

pub struct Driver {
    p: DriverParts,
    /// The engine, out of its place only while the host loop drives it.
    engine: Option<Box<dyn Consensus>>,
    /// The signing records the engine persists into, by name.
    records: HashMap<&'static str, SledRecord>,
    /// Why the driver must stop (a record that could not be saved).
    fatal: Option<DriverError>,
    topics: Topics,
    peers: HashMap<PeerId, PeerState>,
    /// The peers this node cut off, oldest first (bounded).
    blocked_order: VecDeque<PeerId>,
    peer_index: Vec<PeerId>,
    listen: Vec<Multiaddr>,
    pending: VecDeque<(String, Vec<u8>, Instant)>,
    job: Option<(u64, Block, u128)>,
    next_job: u64,
    mine_on: Option<MineJob>,
    /// The engine asked for a new mining job in the last step.
    new_job: bool,
    template_dirty: bool,
    mining: bool,
    generate: Option<forge::Generate>,
    /// The last block this node built or mined, and why the node refused it
    /// (for a request for blocks).
    last_produced: Option<Hash>,
    produced_refused: Option<String>,
    sync: sync::SyncState,
    /// Standing authority proposals made through the API.
    proposals: BTreeMap<generals_chain::PublicKey, bool>,
    /// Links made slow or lossy through the admin API, and what they hold.
    shaping: shape::Shaping,
    /// Evidence the engine reported, newest last (bounded).
    seen_evidence: Vec<Evidence>,
    /// Blocks this node made and its engine has not sent (a private fork, a
    /// selfish miner's lead): sync does not serve them (bounded).
    withheld: generals_consensus::host::Withheld,
    /// The engine's timers: ids by when they fire (ms since the epoch).
    timers: BTreeMap<u64, Vec<u64>>,
    last_hashes: (Instant, u64),
    /// When a failed dial was last reported, by peer (bounded).
    dial_warned: HashMap<Option<PeerId>, Instant>,
    hashrate: f64,
}

impl Driver {
    /// The driver of `engine` (the engine factory's) over the parts.
    pub fn new(p: DriverParts, engine: Box<dyn Consensus>) -> Driver {
        let topics = Topics::for_chain(&p.chain_id);
        let mining = p.mine;
        Driver {
            engine: Some(engine),
            records: HashMap::new(),
            fatal: None,
            new_job: false,
            topics,
            peers: HashMap::new(),
            blocked_order: VecDeque::new(),
            peer_index: p.plan_peers.clone(),
            listen: Vec::new(),
            pending: VecDeque::new(),
            job: None,
            next_job: 0,
            mine_on: None,
            template_dirty: false,
            mining,
            generate: None,
            last_produced: None,
            produced_refused: None,
            sync: sync::SyncState::default(),
            timers: BTreeMap::new(),
            proposals: BTreeMap::new(),
            seen_evidence: Vec::new(),
            withheld: Default::default(),
            shaping: shape::Shaping::default(),
            last_hashes: (Instant::now(), 0),
            dial_warned: HashMap::new(),
            hashrate: 0.0,
            p,
        }
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), DriverError> {
        tokio::pin!(shutdown);
        self.p.miner.set_running(self.mining);
        let tip = self.p.core.ledger().tip_header().clone();
        self.step(
            Input::NewTip {
                tip,
                now_ms: now_ms(),
            },
            None,
        );
        for addr in self.p.bootstrap.clone() {
            let _ = self.p.swarm.dial(addr);
        }
        self.update_metrics();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut ticks: u64 = 0;
        loop {
            let next_timer = self.timers.keys().next().map(|at| {
                let wait = at.saturating_sub(now_ms());
                tokio::time::Instant::now() + Duration::from_millis(wait)
            });
            let next_held = self.shaping.next_due().map(|at| {
                let wait = at.saturating_sub(now_ms());
                tokio::time::Instant::now() + Duration::from_millis(wait)
            });
            let held = async {
                match next_held {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let timer = async {
                match next_timer {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = timer => self.fire_timers(),
                _ = held => self.release_held(),
                ev = self.p.swarm.select_next_some() => self.on_swarm(ev),
                Some(cmd) = self.p.api.recv() => self.on_api(cmd),
                Some(found) = self.p.found.recv() => self.on_found(found),
                _ = tick.tick() => {
                    ticks += 1;
                    self.on_tick(ticks);
                }
                _ = &mut shutdown => break,
            }
            if let Some(e) = self.fatal.take() {
                tracing::error!(error = %e, "stopping");
                return Err(e);
            }
        }
        tracing::info!("stopping");
        Ok(())
    }

    fn peer_id_of(&mut self, peer: PeerId) -> usize {
        match self.peer_index.iter().position(|p| *p == peer) {
            Some(i) => i,
            None => {
                self.peer_index.push(peer);
                self.peer_index.len() - 1
            }
        }
    }

    // ---- the engine ----

    /// Feeds one input to the engine; the one host loop carries out what it
    /// asks and everything that follows. Returns the verdict on each block.
    fn step(&mut self, input: Input, from: Option<PeerId>) -> Vec<Verdict> {
        // A record could not be saved: the engine, which believes it signed,
        // takes no more inputs (its resends would leave unrecorded).
        if self.fatal.is_some() {
            return Vec::new();
        }
        // Past a crash point the process is as good as dead: the engine takes
        // nothing more while what it sent leaves.
        if self.p.crash.as_ref().is_some_and(|c| c.dying()) {
            return Vec::new();
        }
        let from = from.map(|p| self.peer_id_of(p));
        let Some(mut engine) = self.engine.take() else {
            return Vec::new();
        };
        let result = drive(self, engine.as_mut(), input, from);
        self.engine = Some(engine);
        if std::mem::take(&mut self.new_job) {
            self.refresh_template();
        }
        self.update_metrics();
        result.unwrap_or_else(|e| {
            self.fatal = Some(e.into());
            Vec::new()
        })
    }

    /// The engine, for questions between steps (it is only away while the
    /// host loop drives it, when nothing asks).
    fn engine(&self) -> &dyn Consensus {
        self.engine.as_deref().unwrap_or(&host::Idle)
    }

    /// Fires the engine's timers that are due.
    fn fire_timers(&mut self) {
        let now = now_ms();
        let due: Vec<u64> = self.timers.range(..=now).map(|(at, _)| *at).collect();
        for at in due {
            for id in self.timers.remove(&at).unwrap_or_default() {
                self.step(Input::Timer { id, now_ms: now }, None);
            }
        }
    }

    /// Ends mining on request: the miner goes back to what it did before.
    fn end_generate(&mut self) -> Option<forge::Generate> {
        let g = self.generate.take()?;
        self.p.miner.set_flat_out(false);
        self.mining = g.was_mining;
        self.p.miner.set_running(g.was_mining);
        Some(g)
    }

    fn on_tick(&mut self, ticks: u64) {
        self.retry_pending();
        for peer in self.sync.give_up_stale(std::time::Instant::now()) {
            tracing::info!(%peer, "gave up a sync request the peer never answered");
            self.pump(peer);
        }
        if self.generate.as_ref().is_some_and(|g| g.reply.is_closed()) {
            let g = self.end_generate();
            let left = g.map_or(0, |g| g.left);
            tracing::info!(
                left,
                "stopped making blocks on request: the caller went away"
            );
        }
        self.pump_forge();
        if self.template_dirty && self.mining {
            self.refresh_template();
        }
        if ticks % 2 == 0 {
            self.update_engine_metrics();
        }
        if ticks % 4 == 0 {
            let connected: Vec<PeerId> = self
                .peers
                .iter()
                .filter(|(_, p)| p.connected)
                .map(|(id, _)| *id)
                .collect();
            for peer in connected {
                self.send_request(peer, SyncRequest::Status);
            }
            self.redial();
        }
        let hashes = self.p.miner.hashes();
        let (since, before) = self.last_hashes;
        let dt = since.elapsed().as_secs_f64();
        if dt >= 2.0 {
            self.hashrate = (hashes - before) as f64 / dt;
            self.p.metrics.hashrate.set(self.hashrate);
            self.last_hashes = (Instant::now(), hashes);
        }
    }

    /// Dials bootstrap peers and known peers that are not connected or blocked.
    fn redial(&mut self) {
        let connected: Vec<Multiaddr> = self
            .peers
            .values()
            .filter(|p| p.connected || p.blocked)
            .flat_map(|p| p.addresses.clone())
            .collect();
        for addr in self.p.bootstrap.clone() {
            if !connected.contains(&addr) {
                let _ = self.p.swarm.dial(addr);
            }
        }
        let known: Vec<(PeerId, Multiaddr)> = self
            .peers
            .iter()
            .filter(|(_, p)| !p.connected && !p.blocked)
            .filter_map(|(id, p)| p.addresses.first().map(|a| (*id, a.clone())))
            .collect();
        for (_, addr) in known {
            let _ = self.p.swarm.dial(addr);
        }
    }

    /// What the page shows of the engine: finality, round and step, jailed
    /// validators (once a second: the jailed count walks the state).
    fn update_engine_metrics(&mut self) {
        let core = &self.p.core;
        let height = |h: Option<generals_chain::Hash>| {
            h.and_then(|h| core.tree().get(&h).map(|n| n.height as i64))
                .unwrap_or(0)
        };
        let m = &self.p.metrics;
        let shown = self.engine().engine_status(
            core.ledger().tip_header(),
            core.ledger().store(),
            now_ms(),
        );
        let finalized = match &shown.round {
            // BFT imports only decided blocks: the tip is decided.
            Some(_) => core.tip().height as i64,
            None => height(core.finalized()),
        };
        m.finalized_height.set(finalized);
        m.justified_height.set(height(core.justified()));
        if let Some(r) = &shown.round {
            m.round.set(r.round as i64);
            for step in crate::metrics::STEPS {
                m.step
                    .get_or_create(&crate::metrics::StepLabel { step: step.into() })
                    .set(i64::from(r.step == step));
            }
        }
        let jailed = core
            .ledger()
            .state()
            .iter()
            .filter(|(_, a)| a.jailed)
            .count();
        m.jailed.set(jailed as i64);
    }

    fn update_metrics(&mut self) {
        let core = &self.p.core;
        self.p.metrics.height.set(core.tip().height as i64);
        self.p.metrics.tips.set(core.tree().heads().len() as i64);
        self.p.metrics.mempool.set(core.mempool().len() as i64);
        self.p
            .metrics
            .peers
            .set(self.peers.values().filter(|p| p.connected).count() as i64);
    }
}
