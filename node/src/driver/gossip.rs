//! The node on the network: publishing (deferred while no peer has
//! subscribed), swarm events, and one validation verdict per gossip message,
//! with penalties for peers that send invalid ones.

use super::shape::{Fate, Held};
use super::{now_ms, Driver, BAN_PENALTY, PUBLISH_PATIENCE};
use crate::net::BehaviourEvent;
use crate::protocol::SyncRequest;
use generals_chain::{Block, Evidence, SignedMessage, Transaction};
use generals_consensus::host::Verdict;
use generals_consensus::Input;
use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::swarm::SwarmEvent;
use libp2p::PeerId;
use std::time::{Duration, Instant};

/// Messages kept for a later publish while no peer takes them.
const MAX_PENDING_PUBLISH: usize = 4_096;

/// How often a peer that cannot be dialled is reported.
const DIAL_WARNING_EVERY: Duration = Duration::from_secs(30);

/// What became of a block from a peer.
pub(super) enum Taken {
    /// On the chain or a fork of it.
    Accepted,
    /// Known before.
    Known,
    /// Invalid, for this reason.
    Invalid(String),
    /// Kept for later (its parent is missing) or not judged.
    Later,
}

impl Driver {
    pub(super) fn publish(&mut self, topic: String, data: Vec<u8>) {
        self.publish_since(topic, data, Instant::now());
    }

    /// Publishes, or keeps the message for a later try when no peer has
    /// subscribed yet (the usual reason a publish fails).
    pub(super) fn publish_since(&mut self, topic: String, data: Vec<u8>, since: Instant) {
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
                // Bounded: with no peer for long, the oldest go first.
                if self.pending.len() >= MAX_PENDING_PUBLISH {
                    self.pending.pop_front();
                    tracing::warn!(topic = name, "dropped the oldest message no peer took");
                }
                self.pending.push_back((topic, data, since));
            }
        }
    }

    /// Publishes a consensus message. Gossip drops a repeat of bytes it has
    /// seen, but an engine sends a message again on purpose (BFT gossip, for a
    /// peer that missed it or restarted): a repeat goes stamped with the time.
    pub(super) fn publish_message(&mut self, m: &SignedMessage) {
        let topic = self.topics.consensus.clone();
        self.publish_again(topic, generals_chain::codec::encode(m), || {
            generals_chain::codec::encode(&(m, now_ms()))
        });
    }

    /// Publishes a block, stamped as a message is when it is a repeat (BFT
    /// gossip sends the round's proposed block each period, and gossip would
    /// drop the repeat for as long as it remembers the id).
    pub(super) fn publish_block(&mut self, block: &Block) {
        let topic = self.topics.blocks.clone();
        self.publish_again(topic, block.encode(), || {
            generals_chain::codec::encode(&(block, now_ms()))
        });
    }

    /// Publishes `plain`, or, if gossip has it already, the `stamped` form
    /// (the same thing with the time, which receivers also take).
    fn publish_again(&mut self, topic: String, plain: Vec<u8>, stamped: impl FnOnce() -> Vec<u8>) {
        let first = self
            .p
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(gossipsub::IdentTopic::new(topic.clone()), plain.clone());
        match first {
            Ok(_) => self.p.metrics.message(self.topics.name(&topic), "out"),
            Err(gossipsub::PublishError::Duplicate) => self.publish(topic, stamped()),
            Err(_) => self.publish(topic, plain),
        }
    }

    pub(super) fn retry_pending(&mut self) {
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

    pub(super) fn penalize(&mut self, peer: PeerId, why: &str) {
        self.p.metrics.rejected.inc();
        let p = self.peers.entry(peer).or_default();
        p.penalty += 1;
        tracing::info!(%peer, penalty = p.penalty, why, "penalised a peer");
        if p.penalty >= BAN_PENALTY {
            self.cut_off(peer, "keeps sending invalid messages");
        }
    }

    pub(super) fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
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
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                // Bootstrap peers and known peers are dialled again every 2 s
                // (`redial`); say so at most every 30 s a peer.
                let now = Instant::now();
                let due = self
                    .dial_warned
                    .get(&peer_id)
                    .is_none_or(|at| now.duration_since(*at) >= DIAL_WARNING_EVERY);
                if due {
                    if self.dial_warned.len() >= 1_024 {
                        self.dial_warned.clear();
                    }
                    self.dial_warned.insert(peer_id, now);
                    let peer =
                        peer_id.map_or_else(|| "a bootstrap address".into(), |p| p.to_string());
                    tracing::warn!(%peer, %error, "could not dial a peer; retrying every 2 s");
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::info!(peer = %peer_id, "disconnected");
                self.peers.entry(peer_id).or_default().connected = false;
                self.forget_strangers();
                self.sync.forget(&peer_id);
                self.shaping.forget_sync(&peer_id);
                self.update_metrics();
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let (source, id) = (propagation_source, message_id);
                if !self.admit_inbound(source) {
                    let _ = self
                        .p
                        .swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(&id, &source, MessageAcceptance::Ignore);
                    return;
                }
                let fate = self.shaping.admit(&source, now_ms(), || Held::Gossip {
                    source,
                    id: id.clone(),
                    message: message.clone(),
                });
                match fate {
                    Fate::Now => self.judge_gossip(source, id, message),
                    Fate::Held => {}
                    Fate::Lost => {
                        let _ = self
                            .p
                            .swarm
                            .behaviour_mut()
                            .gossipsub
                            .report_message_validation_result(
                                &id,
                                &source,
                                MessageAcceptance::Ignore,
                            );
                    }
                }
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
            SwarmEvent::Behaviour(BehaviourEvent::Ping(libp2p::ping::Event {
                peer,
                connection,
                result: Err(error),
            })) if !matches!(error, libp2p::ping::Failure::Unsupported) => {
                // A peer cut off by the network (not closed) answers nothing
                // and its TCP connection stays open: close it, so that
                // `redial` dials again until the peer is back. A peer that
                // does not speak ping keeps its connection.
                tracing::info!(%peer, %error, "closing a connection whose pings fail");
                self.p.swarm.close_connection(connection);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Direct(ev)) => self.on_direct_event(ev),
            _ => {}
        }
    }

    pub(super) fn on_gossip(
        &mut self,
        source: PeerId,
        message: &gossipsub::Message,
    ) -> MessageAcceptance {
        let topic = message.topic.as_str().to_string();
        let name = self.topics.name(&topic);
        self.p.metrics.message(name, "in");
        if topic == self.topics.blocks {
            let decoded = Block::decode(&message.data).or_else(|e| {
                generals_chain::codec::decode::<
                    (Block, u64),
                    { generals_chain::codec::MAX_BLOCK_BYTES },
                >("block", &message.data)
                .map(|(b, _)| b)
                .map_err(|_| e)
            });
            let block = match decoded {
                Ok(b) => b,
                Err(e) => {
                    self.penalize(source, &format!("malformed block: {e}"));
                    return MessageAcceptance::Reject;
                }
            };
            match self.take_block(source, block) {
                Taken::Accepted => MessageAcceptance::Accept,
                Taken::Invalid(_) => MessageAcceptance::Reject,
                Taken::Known | Taken::Later => MessageAcceptance::Ignore,
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
                    self.take_message(source, m);
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

    /// A block from `source`, by gossip or sent to this node alone: the engine
    /// takes it, and a peer that sends an invalid one is penalised.
    pub(super) fn take_block(&mut self, source: PeerId, block: Block) -> Taken {
        if self.p.core.knows(&block.hash()) {
            return Taken::Known;
        }
        let from = self.peer_id_of(source);
        let verdicts = self.step(
            Input::BlockReceived {
                from,
                block,
                now_ms: now_ms(),
            },
            Some(source),
        );
        match verdicts.first() {
            Some(Verdict::Accepted) => Taken::Accepted,
            Some(Verdict::Invalid(why)) => {
                let why = why.clone();
                self.penalize(source, &format!("invalid block: {why}"));
                Taken::Invalid(why)
            }
            _ => Taken::Later,
        }
    }

    /// A consensus message from `source`, by gossip or sent to this node alone.
    pub(super) fn take_message(&mut self, source: PeerId, message: SignedMessage) {
        let from = self.peer_id_of(source);
        self.step(
            Input::Message {
                from,
                message,
                now_ms: now_ms(),
            },
            Some(source),
        );
    }

    /// A transaction from a peer (`source`) or the API: into the mempool, then out.
    pub(super) fn accept_tx(
        &mut self,
        tx: Transaction,
        source: Option<PeerId>,
    ) -> MessageAcceptance {
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
                | E::ZeroAmount { .. }
                | E::BadRecipient { .. }),
            ) => {
                if let Some(peer) = source {
                    self.penalize(peer, &e.to_string());
                }
                MessageAcceptance::Reject
            }
            Err(_) => MessageAcceptance::Ignore,
        }
    }
}
