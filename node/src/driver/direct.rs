//! Sends aimed at one peer (`crate::direct`): out, when the engine names a
//! peer; in, validated like gossip and then relayed by gossip.

use super::gossip::Taken;
use super::shape::{Fate, Held};
use super::Driver;
use crate::direct::{Direct, DirectAnswer};
use generals_chain::SignedMessage;
use generals_consensus::NodeId;
use libp2p::request_response::{self, Event, Message};
use libp2p::PeerId;

impl Driver {
    /// Sends `what` to the engine's peer `to`. The engine's peer numbers are
    /// the plan's (`[byzantine] peers`) where it has one; a send to this node
    /// itself or to a peer never seen goes nowhere.
    pub(super) fn send_direct(&mut self, to: NodeId, what: Direct) {
        let Some(peer) = self.peer_index.get(to).copied() else {
            tracing::debug!(to, "a direct send to an unknown peer number");
            return;
        };
        if peer == *self.p.swarm.local_peer_id() {
            return;
        }
        self.p.metrics.message("direct", "out");
        self.p
            .swarm
            .behaviour_mut()
            .direct
            .send_request(&peer, what);
    }

    pub(super) fn on_direct_event(&mut self, ev: Event<Direct, DirectAnswer>) {
        match ev {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                self.p.metrics.message("direct", "in");
                if !self.admit_inbound(peer) {
                    // Dropping the channel answers nothing: the peer is cut off.
                    return;
                }
                // Over a shaped link it is taken later, and answered now.
                let mut request = Some(request);
                let fate = self.shaping.admit(&peer, super::now_ms(), || Held::Direct {
                    source: peer,
                    what: request.take().expect("taken once"),
                });
                let answer = match (fate, request) {
                    (Fate::Now, Some(what)) => self.take_direct(peer, what),
                    _ => DirectAnswer::Taken,
                };
                let _ = self
                    .p
                    .swarm
                    .behaviour_mut()
                    .direct
                    .send_response(channel, answer);
            }
            Event::Message {
                peer,
                message: Message::Response { response, .. },
                ..
            } => {
                if let DirectAnswer::Refused(why) = response {
                    tracing::info!(%peer, %why, "a peer refused a direct send");
                }
            }
            Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "a direct send failed");
            }
            Event::InboundFailure { peer, error, .. } => {
                if matches!(error, request_response::InboundFailure::Io(_)) {
                    self.penalize(peer, &format!("unreadable direct send: {error}"));
                }
            }
            Event::ResponseSent { .. } => {}
        }
    }

    /// A block or message sent to this node alone: the engine takes it as if
    /// gossiped, and a valid one goes on by gossip.
    pub(super) fn take_direct(&mut self, source: PeerId, what: Direct) -> DirectAnswer {
        match what {
            Direct::Block(block) => {
                let bytes = block.encode();
                match self.take_block(source, block) {
                    Taken::Accepted => {
                        let topic = self.topics.blocks.clone();
                        self.publish(topic, bytes);
                        DirectAnswer::Taken
                    }
                    Taken::Invalid(why) => DirectAnswer::Refused(why),
                    Taken::Known | Taken::Later => DirectAnswer::Taken,
                }
            }
            Direct::Message(m) => {
                if let Err(e) = m.verify(&self.p.chain_id) {
                    self.penalize(source, &format!("badly signed consensus message: {e}"));
                    return DirectAnswer::Refused(e.to_string());
                }
                self.relay_message(&m);
                self.take_message(source, m);
                DirectAnswer::Taken
            }
        }
    }

    /// Relays a message by gossip once (gossip drops a repeat of its bytes).
    fn relay_message(&mut self, m: &SignedMessage) {
        let topic = self.topics.consensus.clone();
        self.publish(topic, generals_chain::codec::encode(m));
    }
}
