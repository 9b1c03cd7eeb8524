//! The hostile peer of `generals-testnet flood`: a libp2p node built as the
//! nodes are (the same transport, gossip topics and direct protocol) that
//! dials one node and sends it messages at a set rate, on every gossip topic
//! and the direct protocol, until that node cuts it off; then it comes back
//! under a fresh identity, as a real attacker would, until the time is up.
//!
//! Identities alternate between two mixes. The even ones send garbage on
//! every topic, and blocks with a bad seal whose parent no one has, among
//! valid-looking messages, so the node's penalty for invalid messages cuts
//! them off. The odd ones send only valid-looking messages, which no check
//! rejects (transfers correctly signed for this chain by unfunded keys,
//! consensus messages correctly signed by keys that are no validator's, by
//! gossip and by direct sends), so only the node's bound on a peer's rate
//! cuts them off.
//!
//! The rate holds over the whole run: what fell due while an identity was
//! connecting is sent once it is, up to 100 ms of it (a longer gap is not
//! made up).

use anyhow::{Context, Result};
use futures::StreamExt;
use generals_chain::{
    Action, Block, Hash, Header, Keypair, MessageKind, Position, SignedMessage, TxBody,
};
use generals_node::direct::Direct;
use generals_node::net::{build_swarm, Behaviour, BehaviourEvent};
use generals_node::protocol::Topics;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use rand::{Rng, RngCore};
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long an identity waits to be connected and subscribed to.
const CONNECT_PATIENCE: Duration = Duration::from_secs(5);
/// Sends are paced in slices of this length.
const SLICE: Duration = Duration::from_millis(10);
/// Slices of messages that fell due while connecting, sent once connected.
const CATCH_UP: u64 = 10;

/// What one identity did.
#[derive(Debug, Serialize, Clone)]
pub struct Identity {
    pub peer_id: String,
    /// "mixed" (garbage among valid-looking) or "valid-looking".
    pub mix: &'static str,
    /// Whether it got connected at all.
    pub connected: bool,
    /// Messages it handed to its transport.
    pub sent: u64,
    /// Messages its own transport refused (queues full).
    pub dropped: u64,
    /// From connected to cut off, in milliseconds.
    pub cut_off_after_ms: Option<u64>,
}

/// Floods `target` at `addr` for `duration`: `rate` messages a second.
pub async fn flood(
    addr: Multiaddr,
    target: PeerId,
    chain_id: String,
    rate: u32,
    duration: Duration,
) -> Result<Vec<Identity>> {
    let deadline = Instant::now() + duration;
    let topics = Topics::for_chain(&chain_id);
    let mut out = Vec::new();
    let mut pace = Pace {
        started: Instant::now(),
        rate,
        spent: 0,
    };
    while Instant::now() < deadline {
        let key = libp2p::identity::Keypair::generate_ed25519();
        let mut swarm = build_swarm(key, &topics).context("building the hostile peer")?;
        let mix = if out.len() % 2 == 0 {
            Mix::Mixed
        } else {
            Mix::ValidLooking
        };
        let mut sender = Sender::new(&chain_id, &topics, target, mix);
        let id = sender
            .run(&mut swarm, addr.clone(), &mut pace, deadline)
            .await?;
        out.push(id);
    }
    Ok(out)
}

/// The messages due so far at the rate, over every identity.
struct Pace {
    started: Instant,
    rate: u32,
    /// Messages sent or given up (those due while no identity was connected,
    /// beyond `CATCH_UP` slices).
    spent: u64,
}

impl Pace {
    /// How many to send now.
    fn due(&mut self) -> u64 {
        let due = (self.started.elapsed() + SLICE).as_secs_f64() * self.rate as f64;
        let due = due as u64;
        let slice = (self.rate as f64 * SLICE.as_secs_f64()).max(1.0) as u64;
        if due > self.spent + CATCH_UP * slice {
            self.spent = due - CATCH_UP * slice;
        }
        let n = due.saturating_sub(self.spent);
        self.spent += n;
        n
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    Mixed,
    ValidLooking,
}

/// One identity's messages.
struct Sender {
    chain_id: String,
    topics: Topics,
    target: PeerId,
    mix: Mix,
    /// Unfunded, not a validator: signs the valid-looking messages.
    key: Keypair,
    n: u64,
}

impl Sender {
    fn new(chain_id: &str, topics: &Topics, target: PeerId, mix: Mix) -> Sender {
        Sender {
            chain_id: chain_id.to_string(),
            topics: topics.clone(),
            target,
            mix,
            key: Keypair::generate(),
            n: 0,
        }
    }

    async fn run(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        addr: Multiaddr,
        pace: &mut Pace,
        deadline: Instant,
    ) -> Result<Identity> {
        let mut id = Identity {
            peer_id: swarm.local_peer_id().to_string(),
            mix: match self.mix {
                Mix::Mixed => "mixed",
                Mix::ValidLooking => "valid-looking",
            },
            connected: false,
            sent: 0,
            dropped: 0,
            cut_off_after_ms: None,
        };
        swarm.dial(addr).context("dialling the flooded node")?;
        let connected_at = match self.connect(swarm, deadline).await {
            Some(t) => t,
            None => return Ok(id),
        };
        id.connected = true;
        let mut tick = tokio::time::interval(SLICE);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        loop {
            tokio::select! {
                ev = swarm.select_next_some() => {
                    if let SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } = ev {
                        if peer_id == self.target {
                            id.cut_off_after_ms = Some(connected_at.elapsed().as_millis() as u64);
                            return Ok(id);
                        }
                    }
                }
                _ = tick.tick() => {
                    if Instant::now() >= deadline {
                        return Ok(id);
                    }
                    for _ in 0..pace.due() {
                        if self.send_one(swarm) {
                            id.sent += 1;
                        } else {
                            id.dropped += 1;
                        }
                    }
                }
            }
        }
    }

    /// Waits for the connection and for the node to subscribe to our topics.
    async fn connect(&self, swarm: &mut Swarm<Behaviour>, deadline: Instant) -> Option<Instant> {
        let give_up = (Instant::now() + CONNECT_PATIENCE).min(deadline);
        let mut connected = None;
        loop {
            let ev = tokio::time::timeout_at(give_up.into(), swarm.select_next_some())
                .await
                .ok()?;
            match ev {
                SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == self.target => {
                    connected = Some(Instant::now());
                }
                SwarmEvent::OutgoingConnectionError { .. } => {
                    // Refused (blocked, or over the node's connection bound):
                    // wait a little before the next identity tries.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return None;
                }
                SwarmEvent::ConnectionClosed { peer_id, .. } if peer_id == self.target => {
                    return None;
                }
                SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                    gossipsub::Event::Subscribed { peer_id, topic },
                )) if peer_id == self.target && topic.as_str() == self.topics.consensus => {
                    return connected.or(Some(Instant::now()));
                }
                _ => {}
            }
        }
    }

    /// Sends the next message of the mix; false when the transport refused it.
    fn send_one(&mut self, swarm: &mut Swarm<Behaviour>) -> bool {
        self.n += 1;
        let n = self.n;
        let kinds: u64 = match self.mix {
            Mix::Mixed => 8,
            Mix::ValidLooking => 3,
        };
        let (topic, data) = match (self.mix, n % kinds) {
            (_, 0) => (self.topics.transactions.clone(), self.transfer(n)),
            (_, 1) => (self.topics.consensus.clone(), self.message(n)),
            (Mix::Mixed, 3) => (self.topics.blocks.clone(), self.orphan_block(n)),
            (_, 2) => {
                let m = self.signed(n);
                swarm
                    .behaviour_mut()
                    .direct
                    .send_request(&self.target, Direct::Message(m));
                return true;
            }
            (_, k) => {
                // 4 to 7: garbage on each topic.
                let topics = [
                    &self.topics.blocks,
                    &self.topics.transactions,
                    &self.topics.consensus,
                    &self.topics.evidence,
                ];
                (topics[(k - 4) as usize].clone(), garbage(n))
            }
        };
        swarm
            .behaviour_mut()
            .gossipsub
            .publish(IdentTopic::new(topic), data)
            .is_ok()
    }

    /// A transfer correctly signed for this chain by a key with no coins.
    fn transfer(&self, n: u64) -> Vec<u8> {
        let tx = TxBody {
            chain_id: self.chain_id.clone(),
            sender: self.key.public(),
            nonce: n,
            fee: 1,
            action: Action::Transfer {
                to: Keypair::dev("flood-sink").public(),
                amount: 1,
            },
        }
        .sign(&self.key);
        generals_chain::codec::encode(&tx)
    }

    fn signed(&self, n: u64) -> SignedMessage {
        let position = Position {
            kind: MessageKind::Prevote,
            height: n,
            round: 0,
        };
        SignedMessage::sign(
            &self.key,
            &self.chain_id,
            position,
            n.to_le_bytes().to_vec(),
        )
    }

    /// A consensus message correctly signed by a key that is no validator's.
    fn message(&self, n: u64) -> Vec<u8> {
        generals_chain::codec::encode(&self.signed(n))
    }

    /// A block whose parent no node has.
    fn orphan_block(&self, n: u64) -> Vec<u8> {
        let mut parent = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut parent);
        Block {
            header: Header {
                parent: Hash(parent),
                height: 2 + n % 1_000,
                timestamp_ms: generals_node::driver::now_ms(),
                producer: self.key.public(),
                tx_root: Hash([0; 32]),
                evidence_root: Hash([0; 32]),
                state_root: Hash([0; 32]),
                consensus: Vec::new(),
                seal: Vec::new(),
            },
            transactions: Vec::new(),
            evidence: Vec::new(),
        }
        .encode()
    }
}

/// Random bytes, 1 to 512 of them, unique by their first eight.
fn garbage(n: u64) -> Vec<u8> {
    let mut rng = rand::thread_rng();
    let mut b = vec![0u8; rng.gen_range(8..=512)];
    rng.fill_bytes(&mut b);
    b[..8].copy_from_slice(&n.to_le_bytes());
    b
}
