//! A slow or lossy link, made in the node: what arrives from a shaped peer (a
//! gossip message, a direct send) waits its latency plus a uniform jitter, or
//! is lost with the link's probability, before the node takes it. Gossip is
//! validated, and so forwarded, only then, so a message relayed by a third
//! node crosses that node's links too. Set over the admin API (`POST
//! /admin/link`), one direction at a time: the testnet sets both ends. Sync
//! answers from a shaped peer wait or are lost too (a lost one is asked for
//! again); requests to a node are answered at once.

use super::Driver;
use crate::direct::Direct;
use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::PeerId;
use rand::Rng;
use std::collections::{BTreeMap, HashMap};

/// Messages held back at most; more are lost.
const MAX_DELAYED: usize = 16_384;
/// Sync answers held back at most (each may be megabytes); more are lost.
const MAX_DELAYED_SYNC: usize = 32;

/// One link's latency, jitter and loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub latency_ms: u64,
    #[serde(default)]
    pub jitter_ms: u64,
    #[serde(default)]
    pub loss: f64,
}

/// Something from a shaped peer, held until it is due.
pub(super) enum Held {
    Gossip {
        source: PeerId,
        id: MessageId,
        message: gossipsub::Message,
    },
    Direct {
        source: PeerId,
        what: Direct,
    },
    Sync {
        source: PeerId,
        response: crate::protocol::SyncResponse,
    },
}

#[derive(Default)]
pub(super) struct Shaping {
    links: HashMap<PeerId, Shape>,
    /// Held messages by when they are due (ms since the epoch), then order.
    held: BTreeMap<(u64, u64), Held>,
    next: u64,
    /// Of those, sync answers.
    held_sync: usize,
}

/// What to do with a message from a peer.
pub(super) enum Fate {
    Now,
    Held,
    Lost,
}

impl Shaping {
    pub(super) fn set(&mut self, peer: PeerId, shape: Shape) {
        if shape.latency_ms == 0 && shape.jitter_ms == 0 && shape.loss <= 0.0 {
            self.links.remove(&peer);
        } else {
            self.links.insert(peer, shape);
        }
    }

    /// Drops the sync answers held from `peer` (gone: what they held is
    /// asked of others).
    pub(super) fn forget_sync(&mut self, peer: &PeerId) {
        let before = self.held.len();
        self.held
            .retain(|_, h| !matches!(h, Held::Sync { source, .. } if source == peer));
        self.held_sync -= before - self.held.len();
    }

    /// Whether the link from `peer` is slow or lossy.
    pub(super) fn shaped(&self, peer: &PeerId) -> bool {
        self.links.contains_key(peer)
    }

    /// Holds `item` from `peer` if its link is shaped.
    pub(super) fn admit(
        &mut self,
        peer: &PeerId,
        now_ms: u64,
        item: impl FnOnce() -> Held,
    ) -> Fate {
        let Some(shape) = self.links.get(peer).copied() else {
            return Fate::Now;
        };
        let mut rng = rand::thread_rng();
        if shape.loss > 0.0 && rng.gen_bool(shape.loss.min(1.0)) {
            return Fate::Lost;
        }
        if self.held.len() >= MAX_DELAYED {
            return Fate::Lost;
        }
        let item = item();
        if matches!(item, Held::Sync { .. }) {
            if self.held_sync >= MAX_DELAYED_SYNC {
                return Fate::Lost;
            }
            self.held_sync += 1;
        }
        let jitter = if shape.jitter_ms > 0 {
            rng.gen_range(0..=shape.jitter_ms)
        } else {
            0
        };
        self.next += 1;
        let due = now_ms + shape.latency_ms + jitter;
        self.held.insert((due, self.next), item);
        Fate::Held
    }

    /// When the next held message is due.
    pub(super) fn next_due(&self) -> Option<u64> {
        self.held.keys().next().map(|(due, _)| *due)
    }

    fn take_due(&mut self, now_ms: u64) -> Vec<Held> {
        let due: Vec<(u64, u64)> = self
            .held
            .range(..(now_ms + 1, 0))
            .map(|(k, _)| *k)
            .collect();
        let due: Vec<Held> = due
            .into_iter()
            .filter_map(|k| self.held.remove(&k))
            .collect();
        let syncs = due
            .iter()
            .filter(|h| matches!(h, Held::Sync { .. }))
            .count();
        self.held_sync -= syncs;
        due
    }
}

impl Driver {
    /// Takes what has waited out its link's delay.
    pub(super) fn release_held(&mut self) {
        for held in self.shaping.take_due(super::now_ms()) {
            match held {
                Held::Gossip {
                    source,
                    id,
                    message,
                } => self.judge_gossip(source, id, message),
                Held::Direct { source, what } => {
                    self.take_direct(source, what);
                }
                Held::Sync { source, response } => self.take_response(source, response),
            }
        }
    }

    /// A gossip message's verdict, reported to gossipsub (which forwards an
    /// accepted one).
    pub(super) fn judge_gossip(
        &mut self,
        source: PeerId,
        id: MessageId,
        message: gossipsub::Message,
    ) {
        let mut verdict = self.on_gossip(source, &message);
        // A Byzantine node relays nothing: the sides of its equivocation must
        // not meet through it.
        if self.p.byzantine.is_some() && matches!(verdict, MessageAcceptance::Accept) {
            verdict = MessageAcceptance::Ignore;
        }
        let _ = self
            .p
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id, &source, verdict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_chain::SignedMessage;

    fn held() -> Held {
        let key = generals_chain::Keypair::dev("x");
        let position = generals_chain::Position {
            kind: generals_chain::MessageKind::Prevote,
            height: 1,
            round: 0,
        };
        Held::Direct {
            source: PeerId::random(),
            what: Direct::Message(SignedMessage::sign(&key, "c", position, Vec::new())),
        }
    }

    #[test]
    fn a_shaped_link_holds_for_its_latency_and_jitter_and_drops_at_its_loss() {
        let (plain, slow, lossy) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut s = Shaping::default();
        s.set(
            slow,
            Shape {
                latency_ms: 300,
                jitter_ms: 100,
                loss: 0.0,
            },
        );
        s.set(
            lossy,
            Shape {
                latency_ms: 0,
                jitter_ms: 0,
                loss: 1.0,
            },
        );
        assert!(matches!(s.admit(&plain, 1_000, held), Fate::Now));
        assert!(matches!(s.admit(&lossy, 1_000, held), Fate::Lost));
        assert!(matches!(s.admit(&slow, 1_000, held), Fate::Held));
        let due = s.next_due().expect("held");
        assert!((1_300..=1_400).contains(&due), "{due}");
        assert!(s.take_due(1_299).is_empty());
        assert_eq!(s.take_due(1_400).len(), 1);
        assert_eq!(s.next_due(), None);
        // Zeros make the link plain again.
        s.set(slow, Shape::default());
        assert!(matches!(s.admit(&slow, 2_000, held), Fate::Now));
    }

    #[test]
    fn sync_answers_over_a_slow_link_wait_and_at_most_a_bound_of_them() {
        let slow = PeerId::random();
        let mut s = Shaping::default();
        s.set(
            slow,
            Shape {
                latency_ms: 500,
                jitter_ms: 0,
                loss: 0.0,
            },
        );
        let answer = || Held::Sync {
            source: slow,
            response: crate::protocol::SyncResponse::Refused("x".into()),
        };
        for _ in 0..MAX_DELAYED_SYNC {
            assert!(matches!(s.admit(&slow, 0, answer), Fate::Held));
        }
        assert!(matches!(s.admit(&slow, 0, answer), Fate::Lost));
        // Messages still wait beside them.
        assert!(matches!(s.admit(&slow, 0, held), Fate::Held));
        assert_eq!(s.take_due(500).len(), MAX_DELAYED_SYNC + 1);
        assert!(matches!(s.admit(&slow, 600, answer), Fate::Held));
    }
}
