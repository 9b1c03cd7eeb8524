//! The driver: one loop that owns the engine, the chain, the network and the
//! miner. It feeds the engine its inputs (new tips, blocks from peers, blocks it
//! mined) and carries out the engine's outputs (mine, import, broadcast), keeps
//! peers in sync (headers first, then bodies, a bounded number in flight), gives
//! every gossip message one validation verdict and penalises peers that send
//! invalid ones, and answers the HTTP API.

mod sync;

use crate::api::types::*;
use crate::api::{ApiCmd, BlockId};
use crate::metrics::Metrics;
use crate::miner::{Found, Miner, MinerJob};
use crate::net::{Behaviour, BehaviourEvent};
use crate::protocol::{SyncRequest, Topics};
use anyhow::Result;
use futures::StreamExt;
use generals_chain::{
    build_block, Block, BlockStore, BlockTemplate, Evidence, Hash, Keypair, SignedMessage,
    SledStore, Transaction,
};
use generals_consensus::core::{AddError, NodeCore};
use generals_consensus::poa::PoaEngine;
use generals_consensus::pow::PowData;
use generals_consensus::{Consensus, Input, Output};
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot};

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
}

/// What became of a block handed to the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Duplicate,
    Orphan,
    Invalid(String),
    Failed,
}

/// How a block weighs in fork choice.
pub type Weight = Box<dyn Fn(&generals_chain::Header) -> u128 + Send + Sync>;

/// Called with the node's listen addresses whenever they change.
pub type OnListen = Box<dyn FnMut(&[Multiaddr]) + Send>;

/// Blocks mined on request: how many are left, those mined, whether the miner
/// ran before, and where the answer goes.
struct Generate {
    left: u64,
    mined: Vec<Hash>,
    was_mining: bool,
    reply: oneshot::Sender<Result<Vec<Hash>, String>>,
}

/// Everything the driver needs to start.
pub struct DriverParts {
    pub core: NodeCore<SledStore>,
    pub engine: Box<dyn Consensus>,
    /// Proof of authority: an engine instance that answers questions about the
    /// authority set (the driving engine is behind a trait object).
    pub poa: Option<PoaEngine>,
    /// Proof of stake: the slot and epoch lengths, and the genesis time.
    pub pos: Option<(generals_chain::genesis::PosParams, u64)>,
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
    pub bootstrap: Vec<Multiaddr>,
    pub mine: bool,
    /// Called once the node listens: its listen addresses.
    pub on_listen: OnListen,
}

pub struct Driver {
    p: DriverParts,
    topics: Topics,
    peers: HashMap<PeerId, PeerState>,
    peer_index: Vec<PeerId>,
    listen: Vec<Multiaddr>,
    pending: VecDeque<(String, Vec<u8>, Instant)>,
    job: Option<(u64, Block, u128)>,
    next_job: u64,
    mine_on: Option<Output>,
    template_dirty: bool,
    mining: bool,
    generate: Option<Generate>,
    sync: sync::SyncState,
    /// Standing authority proposals made through the API.
    proposals: BTreeMap<generals_chain::PublicKey, bool>,
    /// Evidence the engine reported, newest last (bounded).
    seen_evidence: Vec<Evidence>,
    /// The engine's timers: ids by when they fire (ms since the epoch).
    timers: BTreeMap<u64, Vec<u64>>,
    last_hashes: (Instant, u64),
    hashrate: f64,
}

impl Driver {
    pub fn new(p: DriverParts) -> Driver {
        let topics = Topics::for_chain(&p.chain_id);
        let mining = p.mine;
        Driver {
            topics,
            peers: HashMap::new(),
            peer_index: Vec::new(),
            listen: Vec::new(),
            pending: VecDeque::new(),
            job: None,
            next_job: 0,
            mine_on: None,
            template_dirty: false,
            mining,
            generate: None,
            sync: sync::SyncState::default(),
            timers: BTreeMap::new(),
            proposals: BTreeMap::new(),
            seen_evidence: Vec::new(),
            last_hashes: (Instant::now(), 0),
            hashrate: 0.0,
            p,
        }
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
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
            let timer = async {
                match next_timer {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = timer => self.fire_timers(),
                ev = self.p.swarm.select_next_some() => self.on_swarm(ev),
                Some(cmd) = self.p.api.recv() => self.on_api(cmd),
                Some(found) = self.p.found.recv() => self.on_found(found),
                _ = tick.tick() => {
                    ticks += 1;
                    self.on_tick(ticks);
                }
                _ = &mut shutdown => break,
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

    /// Feeds one input to the engine and carries out everything that follows.
    fn step(&mut self, input: Input, from: Option<PeerId>) -> Vec<Verdict> {
        let outputs = self.p.engine.handle(input, self.p.core.ledger().store());
        let mut work: VecDeque<Output> = outputs.into();
        let mut verdicts = Vec::new();
        while let Some(out) = work.pop_front() {
            match out {
                Output::Mine { .. } => {
                    self.mine_on = Some(out);
                    self.refresh_template();
                }
                Output::StopMining => {
                    self.mine_on = None;
                    self.job = None;
                }
                Output::Import(block) => {
                    let (verdict, more) = self.import(block, from);
                    verdicts.push(verdict);
                    work.extend(more);
                }
                // Gossip cannot aim at one peer: a block for one goes to all.
                Output::Broadcast(block) | Output::SendBlock { block, .. } => {
                    let topic = self.topics.blocks.clone();
                    self.publish(topic, block.encode());
                }
                Output::SendTransaction(tx) => {
                    let topic = self.topics.transactions.clone();
                    self.publish(topic, generals_chain::codec::encode(&tx));
                }
                Output::Submit(tx) => {
                    let _ = self.p.core.submit(tx);
                }
                Output::BroadcastMessage(m) => self.publish_message(&m),
                Output::SendMessage { message: m, .. } => self.publish_message(&m),
                Output::Evidence(e) => {
                    if !self.seen_evidence.contains(&e) {
                        if self.seen_evidence.len() >= 256 {
                            self.seen_evidence.remove(0);
                        }
                        self.seen_evidence.push(e.clone());
                    }
                    let _ = self.p.events.send(NodeEvent::Evidence {
                        offender: e.offender(),
                    });
                    let topic = self.topics.evidence.clone();
                    self.publish(topic, generals_chain::codec::encode(&e));
                }
                Output::Finalize(hash) => {
                    let _ = self.p.events.send(NodeEvent::Finalized { hash });
                    // A finalized block is never reverted.
                    match self.p.core.finalize(hash) {
                        Ok(change) => work.extend(self.tip_changed(change)),
                        Err(e) => tracing::error!(error = %e, "could not finalize"),
                    }
                }
                Output::Justified(hash) => match self.p.core.justify(hash) {
                    Ok(change) => work.extend(self.tip_changed(change)),
                    Err(e) => {
                        tracing::error!(error = %e, "could not follow the justified checkpoint")
                    }
                },
                Output::SetTimer { id, at_ms } => {
                    self.timers.entry(at_ms).or_default().push(id);
                }
                Output::Build {
                    parent,
                    height,
                    timestamp_ms,
                    consensus,
                    evidence,
                    exclude,
                } => {
                    if let Some(block) =
                        self.build_on(parent, height, timestamp_ms, consensus, evidence, &exclude)
                    {
                        self.p.metrics.produced.inc();
                        let _ = self.p.events.send(NodeEvent::BlockProduced {
                            hash: block.hash(),
                            height,
                        });
                        work.extend(self.p.engine.handle(
                            Input::Produced {
                                block,
                                now_ms: now_ms(),
                            },
                            self.p.core.ledger().store(),
                        ));
                    }
                }
            }
        }
        verdicts
    }

    /// Hands a block to the chain; returns what happened and the engine's outputs
    /// for a new tip.
    fn import(&mut self, block: Block, from: Option<PeerId>) -> (Verdict, Vec<Output>) {
        let hash = block.hash();
        let height = block.height();
        let added = match self
            .p
            .core
            .add_block(block, self.p.engine.as_ref(), now_ms())
        {
            Ok(a) => a,
            Err(AddError::Invalid { source, .. }) => {
                let reason = source.to_string();
                tracing::info!(%hash, %reason, "invalid block");
                let _ = self.p.events.send(NodeEvent::InvalidBlock {
                    hash,
                    reason: reason.clone(),
                });
                return (Verdict::Invalid(reason), Vec::new());
            }
            Err(AddError::TooFarAhead { .. }) => {
                return (Verdict::Invalid("too far ahead".into()), Vec::new())
            }
            Err(e) => {
                tracing::error!(%hash, error = %e, "could not add a block");
                return (Verdict::Failed, Vec::new());
            }
        };
        if added.duplicate {
            return (Verdict::Duplicate, Vec::new());
        }
        for (h, reason) in &added.rejected {
            let _ = self.p.events.send(NodeEvent::InvalidBlock {
                hash: *h,
                reason: reason.clone(),
            });
        }
        if added.missing_parent.is_some() {
            if let Some(peer) = from {
                self.request_headers(peer);
            }
            return (Verdict::Orphan, Vec::new());
        }
        if added.tip_change.is_none() {
            tracing::debug!(%hash, height, "stored a block off the main chain");
        }
        (Verdict::Accepted, self.tip_changed(added.tip_change))
    }

    /// Reports a change of tip and tells the engine; returns what it asks.
    fn tip_changed(&mut self, change: Option<generals_consensus::core::TipChange>) -> Vec<Output> {
        let Some(change) = change else {
            self.update_metrics();
            return Vec::new();
        };
        if !change.undone.is_empty() {
            let depth = change.undone.len();
            tracing::info!(depth, from = %change.from.hash.short(), to = %change.to.hash.short(), "reorg");
            self.p.metrics.reorgs.inc();
            self.p.metrics.reorg_depth.observe(depth as f64);
            let _ = self.p.events.send(NodeEvent::Reorg {
                depth,
                from: change.from.hash,
                to: change.to.hash,
                height: change.to.height,
            });
        }
        for b in &change.applied {
            tracing::info!(height = b.height(), hash = %b.hash().short(), txs = b.transactions.len(), "imported block");
            let _ = self.p.events.send(NodeEvent::BlockImported {
                hash: b.hash(),
                height: b.height(),
            });
        }
        self.update_metrics();
        let tip = self.p.core.ledger().tip_header().clone();
        self.p.engine.handle(
            Input::NewTip {
                tip,
                now_ms: now_ms(),
            },
            self.p.core.ledger().store(),
        )
    }

    /// A block from the mempool on the tip, which must be `parent`; the engine
    /// seals it.
    fn build_on(
        &self,
        parent: Hash,
        height: u64,
        timestamp_ms: u64,
        consensus: Vec<u8>,
        evidence: Vec<Evidence>,
        exclude: &[generals_chain::PublicKey],
    ) -> Option<Block> {
        let producer = self.p.validator.public();
        let block = self.p.core.build_on(
            parent,
            height,
            timestamp_ms,
            producer,
            consensus,
            evidence,
            exclude,
        );
        if block.is_none() {
            tracing::debug!(height, "no block built: the tip moved on");
        }
        block
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

    // ---- mining ----

    /// Builds a block template from the mempool for the engine's last `Mine`.
    fn refresh_template(&mut self) {
        self.template_dirty = false;
        let Some(Output::Mine {
            parent,
            height,
            min_timestamp_ms,
            consensus,
            difficulty,
        }) = self.mine_on.clone()
        else {
            return;
        };
        let ledger = self.p.core.ledger();
        if ledger.tip().hash != parent {
            return;
        }
        let state = ledger.state();
        let candidates = self.p.core.mempool().select(
            state,
            generals_consensus::core::BUILD_MAX_TXS,
            generals_consensus::core::BUILD_MAX_BYTES,
        );
        let built = build_block(
            state,
            ledger.rules(),
            BlockTemplate {
                parent,
                height,
                timestamp_ms: now_ms().max(min_timestamp_ms),
                producer: self.p.validator.public(),
                consensus,
                max_txs: generals_consensus::core::BUILD_MAX_TXS,
            },
            candidates,
            Vec::new(),
        );
        match built {
            Ok(built) => {
                self.next_job += 1;
                self.p.miner.set_job(MinerJob {
                    id: self.next_job,
                    header: built.block.header.clone(),
                    difficulty,
                });
                self.job = Some((self.next_job, built.block, difficulty));
            }
            Err(e) => tracing::warn!(error = %e, "could not build a block template"),
        }
    }

    fn on_found(&mut self, found: Found) {
        let Some((id, block, _)) = &self.job else {
            return;
        };
        if *id != found.job_id {
            return;
        }
        let mut block = block.clone();
        block.header.seal = found.nonce.to_le_bytes().to_vec();
        self.job = None;
        self.p.metrics.produced.inc();
        let hash = block.hash();
        let height = block.height();
        tracing::info!(height, hash = %hash.short(), "mined a block");
        let _ = self
            .p
            .events
            .send(NodeEvent::BlockProduced { hash, height });
        self.step(
            Input::Produced {
                block,
                now_ms: now_ms(),
            },
            None,
        );
        if let Some(mut g) = self.generate.take() {
            g.mined.push(hash);
            g.left -= 1;
            if g.left == 0 {
                self.p.miner.set_flat_out(false);
                self.mining = g.was_mining;
                self.p.miner.set_running(g.was_mining);
                let _ = g.reply.send(Ok(g.mined));
            } else {
                self.generate = Some(g);
            }
        }
    }

    // ---- network ----

    fn publish(&mut self, topic: String, data: Vec<u8>) {
        self.publish_since(topic, data, Instant::now());
    }

    /// Publishes, or keeps the message for a later try when no peer has
    /// subscribed yet (the usual reason a publish fails).
    fn publish_since(&mut self, topic: String, data: Vec<u8>, since: Instant) {
        let name = self.topics.name(&topic);
        match self
            .p
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(gossipsub::IdentTopic::new(topic.clone()), data.clone())
        {
            Ok(_) => self.p.metrics.message(name, "out"),
            Err(gossipsub::PublishError::Duplicate) => {}
            Err(e) => {
                tracing::debug!(error = %e, topic = name, "publish deferred");
                self.pending.push_back((topic, data, since));
            }
        }
    }

    /// Publishes a consensus message. Gossip drops a repeat of bytes it has
    /// seen, but an engine sends a message again on purpose (BFT gossip, for a
    /// peer that missed it or restarted): a repeat goes stamped with the time.
    fn publish_message(&mut self, m: &SignedMessage) {
        let topic = self.topics.consensus.clone();
        let plain = generals_chain::codec::encode(m);
        let first = self
            .p
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(gossipsub::IdentTopic::new(topic.clone()), plain.clone());
        match first {
            Ok(_) => self.p.metrics.message(self.topics.name(&topic), "out"),
            Err(gossipsub::PublishError::Duplicate) => {
                self.publish(topic, generals_chain::codec::encode(&(m, now_ms())));
            }
            Err(_) => self.publish(topic, plain),
        }
    }

    fn retry_pending(&mut self) {
        let waiting: Vec<_> = self.pending.drain(..).collect();
        for (topic, data, since) in waiting {
            if since.elapsed() > PUBLISH_PATIENCE {
                tracing::warn!(
                    topic = self.topics.name(&topic),
                    "dropped a message no peer took"
                );
                continue;
            }
            self.publish_since(topic, data, since);
        }
    }

    fn penalize(&mut self, peer: PeerId, why: &str) {
        self.p.metrics.rejected.inc();
        let p = self.peers.entry(peer).or_default();
        p.penalty += 1;
        tracing::info!(%peer, penalty = p.penalty, why, "penalised a peer");
        if p.penalty >= BAN_PENALTY && !p.blocked {
            tracing::warn!(%peer, "cut off a peer that keeps sending invalid messages");
            p.blocked = true;
            self.p.swarm.behaviour_mut().blocked.block_peer(peer);
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen.push(address);
                let listen = self.listen.clone();
                (self.p.on_listen)(&listen);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                tracing::info!(peer = %peer_id, "connected");
                let p = self.peers.entry(peer_id).or_default();
                p.connected = true;
                if endpoint.is_dialer() {
                    let addr = endpoint.get_remote_address().clone();
                    if !p.addresses.contains(&addr) {
                        p.addresses.push(addr);
                    }
                }
                self.send_request(peer_id, SyncRequest::Status);
                self.update_metrics();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::info!(peer = %peer_id, "disconnected");
                self.peers.entry(peer_id).or_default().connected = false;
                self.sync.forget(&peer_id);
                self.update_metrics();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let verdict = self.on_gossip(propagation_source, &message);
                let _ = self
                    .p
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, verdict);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(
                libp2p::identify::Event::Received { peer_id, info, .. },
            )) => {
                let p = self.peers.entry(peer_id).or_default();
                for a in info.listen_addrs {
                    if !p.addresses.contains(&a) {
                        p.addresses.push(a.clone());
                    }
                    self.p.swarm.add_peer_address(peer_id, a);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync_event(ev),
            _ => {}
        }
    }

    fn on_gossip(&mut self, source: PeerId, message: &gossipsub::Message) -> MessageAcceptance {
        let topic = message.topic.as_str().to_string();
        let name = self.topics.name(&topic);
        self.p.metrics.message(name, "in");
        let from = self.peer_id_of(source);
        if topic == self.topics.blocks {
            let block = match Block::decode(&message.data) {
                Ok(b) => b,
                Err(e) => {
                    self.penalize(source, &format!("malformed block: {e}"));
                    return MessageAcceptance::Reject;
                }
            };
            if self.p.core.knows(&block.hash()) {
                return MessageAcceptance::Ignore;
            }
            let verdicts = self.step(
                Input::BlockReceived {
                    from,
                    block,
                    now_ms: now_ms(),
                },
                Some(source),
            );
            match verdicts.first() {
                Some(Verdict::Accepted) => MessageAcceptance::Accept,
                Some(Verdict::Invalid(why)) => {
                    let why = why.clone();
                    self.penalize(source, &format!("invalid block: {why}"));
                    MessageAcceptance::Reject
                }
                _ => MessageAcceptance::Ignore,
            }
        } else if topic == self.topics.transactions {
            let tx = match Transaction::decode(&message.data) {
                Ok(t) => t,
                Err(e) => {
                    self.penalize(source, &format!("malformed transaction: {e}"));
                    return MessageAcceptance::Reject;
                }
            };
            self.accept_tx(tx, Some(source))
        } else if topic == self.topics.consensus {
            let decoded = generals_chain::codec::decode::<SignedMessage, 65_536>(
                "consensus message",
                &message.data,
            )
            .or_else(|e| {
                generals_chain::codec::decode::<(SignedMessage, u64), 65_536>(
                    "consensus message",
                    &message.data,
                )
                .map(|(m, _)| m)
                .map_err(|_| e)
            });
            match decoded {
                Ok(m) => {
                    self.step(
                        Input::Message {
                            from,
                            message: m,
                            now_ms: now_ms(),
                        },
                        Some(source),
                    );
                    MessageAcceptance::Ignore
                }
                Err(e) => {
                    self.penalize(source, &format!("malformed consensus message: {e}"));
                    MessageAcceptance::Reject
                }
            }
        } else if topic == self.topics.evidence {
            match generals_chain::codec::decode::<Evidence, 262_144>("evidence", &message.data) {
                Ok(e) if e.verify(&self.p.chain_id).is_ok() => MessageAcceptance::Accept,
                _ => {
                    self.penalize(source, "invalid evidence");
                    MessageAcceptance::Reject
                }
            }
        } else {
            self.penalize(source, "message on an unknown topic");
            MessageAcceptance::Reject
        }
    }

    /// A transaction from a peer (`source`) or the API: into the mempool, then out.
    fn accept_tx(&mut self, tx: Transaction, source: Option<PeerId>) -> MessageAcceptance {
        use generals_chain::mempool::MempoolError as E;
        match self.p.core.submit(tx.clone()) {
            Ok(_) => {
                self.template_dirty = true;
                self.step(
                    Input::Transaction {
                        tx,
                        now_ms: now_ms(),
                    },
                    source,
                );
                self.p
                    .metrics
                    .mempool
                    .set(self.p.core.mempool().len() as i64);
                MessageAcceptance::Accept
            }
            Err(
                e @ (E::BadSignature { .. }
                | E::WrongChainId { .. }
                | E::TooLarge { .. }
                | E::ZeroAmount { .. }),
            ) => {
                if let Some(peer) = source {
                    self.penalize(peer, &e.to_string());
                }
                MessageAcceptance::Reject
            }
            Err(_) => MessageAcceptance::Ignore,
        }
    }

    fn on_tick(&mut self, ticks: u64) {
        self.retry_pending();
        if self.template_dirty && self.mining {
            self.refresh_template();
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

    // ---- the API ----

    fn on_api(&mut self, cmd: ApiCmd) {
        match cmd {
            ApiCmd::Status(r) => {
                let _ = r.send(self.status());
            }
            ApiCmd::Block(id, r) => {
                let _ = r.send(self.block_view(id));
            }
            ApiCmd::Tips(r) => {
                let _ = r.send(self.tips());
            }
            ApiCmd::Validators(r) => {
                let _ = r.send(self.validators());
            }
            ApiCmd::Evidence(r) => {
                let _ = r.send(self.evidence());
            }
            ApiCmd::Account(key, r) => {
                let core = &self.p.core;
                let account = core.ledger().state().get(&key).copied().unwrap_or_default();
                let _ = r.send(AccountView {
                    key,
                    account,
                    next_nonce: core.next_nonce(&key),
                });
            }
            ApiCmd::Submit(tx, r) => {
                let hash = tx.hash();
                let result = match self.p.core.submit(tx.clone()) {
                    Ok(_) => {
                        self.template_dirty = true;
                        self.p
                            .metrics
                            .mempool
                            .set(self.p.core.mempool().len() as i64);
                        let topic = self.topics.transactions.clone();
                        self.publish(topic, generals_chain::codec::encode(&tx));
                        self.step(
                            Input::Transaction {
                                tx,
                                now_ms: now_ms(),
                            },
                            None,
                        );
                        Ok(hash)
                    }
                    Err(e) => Err(e.to_string()),
                };
                let _ = r.send(result);
            }
            ApiCmd::Authorities(r) => {
                let _ = r.send(self.authorities());
            }
            ApiCmd::Propose(p, r) => {
                let result = if self.p.poa.is_some() {
                    self.proposals.insert(p.candidate, p.add);
                    self.step(
                        Input::Propose {
                            candidate: p.candidate,
                            add: p.add,
                        },
                        None,
                    );
                    Ok(())
                } else {
                    Err("this chain has no authorities (it is not proof of authority)".into())
                };
                let _ = r.send(result);
            }
            ApiCmd::Discard(candidate, r) => {
                let result = if self.proposals.remove(&candidate).is_some() {
                    self.step(Input::Discard { candidate }, None);
                    Ok(())
                } else {
                    Err(format!("no proposal about {candidate} to discard"))
                };
                let _ = r.send(result);
            }
            ApiCmd::Tx(hash, r) => {
                let _ = r.send(self.find_tx(&hash));
            }
            ApiCmd::Mempool(r) => {
                let txs = self
                    .p
                    .core
                    .mempool()
                    .iter()
                    .map(|tx| TxView {
                        hash: tx.hash(),
                        tx: tx.clone(),
                    })
                    .collect();
                let _ = r.send(txs);
            }
            ApiCmd::Peers(r) => {
                let mut v: Vec<PeerView> = self
                    .peers
                    .iter()
                    .map(|(id, p)| PeerView {
                        peer_id: id.to_string(),
                        connected: p.connected,
                        blocked: p.blocked,
                        penalty: p.penalty,
                        addresses: p.addresses.iter().map(|a| a.to_string()).collect(),
                    })
                    .collect();
                v.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
                let _ = r.send(v);
            }
            ApiCmd::Mine(n, r) => {
                if self.generate.as_ref().is_some_and(|g| !g.reply.is_closed()) {
                    let _ = r.send(Err("already mining blocks on request".into()));
                    return;
                }
                let was = self.mining;
                self.generate = Some(Generate {
                    left: n,
                    mined: Vec::new(),
                    was_mining: was,
                    reply: r,
                });
                self.mining = true;
                self.p.miner.set_flat_out(true);
                self.p.miner.set_running(true);
                self.refresh_template();
            }
            ApiCmd::Miner(on, r) => {
                if let Some(g) = self.generate.take() {
                    let _ = g.reply.send(Err(
                        "the miner was stopped or started by another call".into()
                    ));
                    self.p.miner.set_flat_out(false);
                }
                self.mining = on;
                self.p.miner.set_running(on);
                if on {
                    self.refresh_template();
                }
                let _ = r.send(on);
            }
            ApiCmd::BlockPeer { peer, block, reply } => {
                let result = match peer.parse::<PeerId>() {
                    Err(e) => Err(format!("{peer:?} is not a peer id: {e}")),
                    Ok(id) => {
                        let p = self.peers.entry(id).or_default();
                        p.blocked = block;
                        if block {
                            tracing::info!(peer = %id, "blocked a peer");
                            self.p.swarm.behaviour_mut().blocked.block_peer(id);
                        } else {
                            tracing::info!(peer = %id, "unblocked a peer");
                            p.penalty = 0;
                            self.p.swarm.behaviour_mut().blocked.unblock_peer(id);
                            self.redial();
                        }
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
        }
    }

    /// Validators from the chain's state at the tip: everyone with stake bonded
    /// or on its way out, or jailed, and the genesis validators.
    fn validators(&self) -> Validators {
        let ledger = self.p.core.ledger();
        let state = ledger.state();
        let mut keys: std::collections::BTreeSet<generals_chain::PublicKey> =
            self.p.names.keys().copied().collect();
        keys.extend(
            state
                .iter()
                .filter(|(_, a)| a.bonded > 0 || a.unbonding > 0 || a.jailed)
                .map(|(k, _)| *k),
        );
        let tip = ledger.tip().height;
        let mut proposed: BTreeMap<generals_chain::PublicKey, u64> = BTreeMap::new();
        for h in tip.saturating_sub(63).max(1)..=tip {
            if let Some(hash) = ledger.store().hash_at(h).ok().flatten() {
                if let Some(hd) = ledger.store().header(&hash).ok().flatten() {
                    *proposed.entry(hd.producer).or_default() += 1;
                }
            }
        }
        let total: u64 = keys
            .iter()
            .filter_map(|k| state.get(k))
            .filter(|a| !a.jailed || ledger.rules().slashing.enabled)
            .map(|a| a.bonded)
            .sum();
        Validators {
            total_bonded: total,
            slashing: ledger.rules().slashing.enabled,
            validators: keys
                .into_iter()
                .map(|key| {
                    let a = state.get(&key).copied().unwrap_or_default();
                    let status = if a.jailed {
                        "jailed"
                    } else if a.bonded > 0 {
                        "active"
                    } else if a.unbonding > 0 {
                        "unbonding"
                    } else {
                        "exited"
                    };
                    ValidatorView {
                        key,
                        name: self.p.names.get(&key).cloned(),
                        status: status.into(),
                        bonded: a.bonded,
                        unbonding: a.unbonding,
                        unbonding_until_ms: a.unbonding_until_ms,
                        jailed: a.jailed,
                        share: if total == 0 || status == "jailed" {
                            0.0
                        } else {
                            a.bonded as f64 / total as f64
                        },
                        proposed: proposed.get(&key).copied().unwrap_or(0),
                    }
                })
                .collect(),
        }
    }

    /// Evidence on the main chain (the newest 10,000 blocks), and evidence seen
    /// but not carried there yet.
    fn evidence(&self) -> EvidenceList {
        let ledger = self.p.core.ledger();
        let tip = ledger.tip().height;
        let view = |e: &Evidence, at: Option<(u64, Hash)>| EvidenceView {
            hash: e.hash(),
            offender: e.offender(),
            offence: e
                .offence()
                .map_or_else(|err| err.to_string(), |o| o.to_string()),
            first: e.first.position.height,
            second: e.second.position.height,
            height: at.map(|(h, _)| h),
            block: at.map(|(_, b)| b),
        };
        let mut included = Vec::new();
        for h in (tip.saturating_sub(9_999).max(1)..=tip).rev() {
            let Some(block) = ledger.block_at(h).ok().flatten() else {
                continue;
            };
            for e in &block.evidence {
                included.push(view(e, Some((h, block.hash()))));
            }
        }
        let pending = self
            .seen_evidence
            .iter()
            .filter(|e| !included.iter().any(|i| i.hash == e.hash()))
            .map(|e| view(e, None))
            .collect();
        EvidenceList { included, pending }
    }

    /// The authorities at the tip, with what each did over the last 64 blocks.
    fn authorities(&self) -> Result<Authorities, String> {
        let reader = self
            .p
            .poa
            .as_ref()
            .ok_or("this chain has no authorities (it is not proof of authority)")?;
        let ledger = self.p.core.ledger();
        let store = ledger.store();
        let tip = ledger.tip_header().clone();
        let snap = reader.snapshot(&tip, store).map_err(|e| e.to_string())?;
        let mut stats: BTreeMap<generals_chain::PublicKey, (u64, u64, u64)> =
            snap.signers.iter().map(|k| (*k, (0, 0, 0))).collect();
        let from = tip.height.saturating_sub(63).max(1);
        for h in from..=tip.height {
            let Some(block) = ledger.block_at(h).ok().flatten() else {
                continue;
            };
            let Some(parent) = store.header(&block.header.parent).ok().flatten() else {
                continue;
            };
            let Ok(before) = reader.snapshot(&parent, store) else {
                continue;
            };
            let turn = before.in_turn(h);
            let producer = block.header.producer;
            let s = stats.entry(producer).or_default();
            s.0 += 1;
            if turn == Some(producer) {
                s.1 += 1;
            } else if let Some(t) = turn {
                stats.entry(t).or_default().2 += 1;
            }
        }
        Ok(Authorities {
            window: tip.height + 1 - from.min(tip.height + 1),
            authorities: stats
                .into_iter()
                .filter(|(k, _)| snap.signers.contains(k))
                .map(|(key, (sealed, in_turn, missed))| AuthorityView {
                    key,
                    sealed,
                    in_turn,
                    missed,
                })
                .collect(),
            proposals: self
                .proposals
                .iter()
                .map(|(c, a)| Proposal {
                    candidate: *c,
                    add: *a,
                })
                .collect(),
        })
    }

    /// A transaction in the mempool or in the last 1,000 main-chain blocks (a
    /// scan, as there is no transaction index yet).
    fn find_tx(&self, hash: &Hash) -> Option<TxStatus> {
        let core = &self.p.core;
        if let Some(tx) = core.mempool().get(hash) {
            return Some(TxStatus {
                hash: *hash,
                status: "pending".into(),
                block: None,
                height: None,
                confirmations: 0,
                tx: tx.clone(),
            });
        }
        let ledger = core.ledger();
        let tip = ledger.tip().height;
        (tip.saturating_sub(1_000)..=tip).rev().find_map(|h| {
            let block = ledger.block_at(h).ok().flatten()?;
            let tx = block.transactions.iter().find(|t| t.hash() == *hash)?;
            Some(TxStatus {
                hash: *hash,
                status: "included".into(),
                block: Some(block.hash()),
                height: Some(h),
                confirmations: tip - h + 1,
                tx: tx.clone(),
            })
        })
    }

    fn status(&self) -> Status {
        let core = &self.p.core;
        let tip = core.tip();
        Status {
            chain_id: self.p.chain_id.clone(),
            consensus: self.p.engine.kind().into(),
            genesis: self.p.genesis,
            height: tip.height,
            tip: tip.hash,
            weight: core
                .tree()
                .get(&tip.hash)
                .map_or(0, |n| n.cumulative)
                .to_string(),
            peer_id: self.p.swarm.local_peer_id().to_string(),
            peers: self.peers.values().filter(|p| p.connected).count(),
            mempool: core.mempool().len(),
            mining: self.mining,
            hashrate: self.hashrate,
            validator: self.p.validator.public(),
            listen: self.listen.iter().map(|a| a.to_string()).collect(),
            pos: self.p.pos.map(|(params, genesis_ms)| {
                let slot_ms = params.slot_ms.max(1);
                let slot = now_ms().saturating_sub(genesis_ms) / slot_ms;
                let height =
                    |h: Option<Hash>| h.and_then(|h| core.tree().get(&h).map(|n| n.height));
                PosStatus {
                    slot,
                    epoch: slot / params.epoch_slots.max(1),
                    slot_ms,
                    epoch_slots: params.epoch_slots,
                    justified_height: height(core.justified()),
                    finalized_height: height(core.finalized()),
                }
            }),
            bft: self.p.engine.round_state().map(|s| BftStatusView {
                height: s.height,
                round: s.round,
                step: format!("{:?}", s.step).to_lowercase(),
                locked_round: s.locked_round,
                valid_round: s.valid_round,
                proposer: s.proposer,
                validators: s.validators.len(),
            }),
        }
    }

    fn block_view(&self, id: BlockId) -> Option<BlockView> {
        let ledger = self.p.core.ledger();
        let hash = match id {
            BlockId::Height(h) => ledger.store().hash_at(h).ok().flatten()?,
            BlockId::Hash(h) => h,
        };
        let block = self.p.core.block(&hash)?;
        let main_chain = ledger.store().hash_at(block.height()).ok().flatten() == Some(hash);
        Some(BlockView {
            hash,
            height: block.height(),
            parent: block.header.parent,
            timestamp_ms: block.header.timestamp_ms,
            producer: block.header.producer,
            state_root: block.header.state_root,
            tx_root: block.header.tx_root,
            difficulty: PowData::decode(&block.header.consensus)
                .ok()
                .filter(|_| block.height() > 0)
                .map(|d| d.difficulty.to_string()),
            main_chain,
            transactions: block
                .transactions
                .iter()
                .map(|tx| TxView {
                    hash: tx.hash(),
                    tx: tx.clone(),
                })
                .collect(),
        })
    }

    fn tips(&self) -> Vec<TipView> {
        let tree = self.p.core.tree();
        let tip = self.p.core.tip().hash;
        tree.heads()
            .into_iter()
            .map(|n| {
                let status = if n.hash == tip {
                    "active"
                } else if tree.is_invalid(&n.hash) {
                    "invalid"
                } else {
                    "valid-fork"
                };
                let branch_len = tree.reorg_plan(&tip, &n.hash).map_or(0, |p| p.apply.len());
                TipView {
                    hash: n.hash,
                    height: n.height,
                    status: status.into(),
                    branch_len,
                    weight: n.cumulative.to_string(),
                }
            })
            .collect()
    }
}
