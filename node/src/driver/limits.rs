//! What one peer may cost this node. Each peer's gossip messages, direct
//! sends and sync requests are counted in one-second windows; a peer over
//! its bound (config.toml's `max_peer_messages_per_second`, by default
//! `MAX_PEER_MESSAGES_PER_SECOND`) is cut off at once (blocked, its
//! connections closed), as one that sends `BAN_PENALTY` invalid messages is.
//! An honest peer sends a small part of that: its blocks, votes and the
//! transactions it relays. The peers the node remembers and the peers it has
//! blocked are bounded too, so that a flood of fresh identities cannot grow
//! them without end.

use super::{now_ms, Driver};
use libp2p::PeerId;

/// Messages a peer may send in one second before it is cut off, unless
/// config.toml says otherwise.
pub const MAX_PEER_MESSAGES_PER_SECOND: u32 = 5_000;
/// Peers blocked at once; past it the longest blocked is let back.
pub const MAX_BLOCKED_PEERS: usize = 4_096;
/// Peers remembered; past it, those neither connected, blocked nor dialled
/// by this node are forgotten.
pub const MAX_PEER_STATES: usize = 4_096;

/// A peer's messages in the current one-second window.
#[derive(Debug, Default, Clone)]
pub(super) struct Window {
    start_ms: u64,
    count: u32,
}

impl Window {
    /// Counts one message at `now_ms`: true while the peer is within `bound`.
    pub(super) fn admit(&mut self, now_ms: u64, bound: u32) -> bool {
        if now_ms.saturating_sub(self.start_ms) >= 1_000 {
            self.start_ms = now_ms;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count <= bound
    }
}

impl Driver {
    /// Counts one inbound message from `peer`. False when the peer is cut off
    /// (now or before): the message is dropped unread.
    pub(super) fn admit_inbound(&mut self, peer: PeerId) -> bool {
        let p = self.peers.entry(peer).or_default();
        if p.blocked {
            return false;
        }
        let bound = self.p.peer_rate;
        if p.window.admit(now_ms(), bound) {
            return true;
        }
        self.cut_off(
            peer,
            &format!("flooding: over {bound} messages in a second"),
        );
        false
    }

    /// Blocks `peer` and closes its connections, keeping the blocked set
    /// within `MAX_BLOCKED_PEERS`.
    pub(super) fn cut_off(&mut self, peer: PeerId, why: &str) {
        let p = self.peers.entry(peer).or_default();
        if p.blocked {
            return;
        }
        p.blocked = true;
        tracing::warn!(%peer, why, "cut off a peer");
        self.p.metrics.cut_off.inc();
        self.p.swarm.behaviour_mut().blocked.block_peer(peer);
        self.blocked_order.push_back(peer);
        while self.blocked_order.len() > MAX_BLOCKED_PEERS {
            let Some(old) = self.blocked_order.pop_front() else {
                break;
            };
            if self.peers.get(&old).is_some_and(|p| p.blocked) {
                self.p.swarm.behaviour_mut().blocked.unblock_peer(old);
                self.peers.remove(&old);
            }
        }
    }

    /// Forgets peers past `MAX_PEER_STATES` that are neither connected,
    /// blocked, nor at an address this node dials.
    pub(super) fn forget_strangers(&mut self) {
        if self.peers.len() > MAX_PEER_STATES {
            self.peers
                .retain(|_, p| p.connected || p.blocked || !p.addresses.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_the_bound_then_refuses_until_the_next_second() {
        let mut w = Window::default();
        let bound = MAX_PEER_MESSAGES_PER_SECOND;
        for _ in 0..bound {
            assert!(w.admit(10_000, bound));
        }
        assert!(!w.admit(10_500, bound));
        assert!(!w.admit(10_999, bound));
        assert!(w.admit(11_000, bound));
    }
}
