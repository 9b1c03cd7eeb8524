//! Checkpoints (Castro and Liskov, section 4.3): every `checkpoint_interval`
//! heights each replica signs the block it decided; a quorum of matching
//! checkpoints makes the height stable, and the decisions kept below it go.
//! Also what a replica sends again for peers that lost messages or fell behind.

use super::proof::{digest_of, digest_payload};
use super::*;

/// Heights whose checkpoints are kept while none becomes stable.
const MAX_CHECKPOINTS: usize = 64;

impl PbftEngine {
    /// ⟨CHECKPOINT, n, d, i⟩ for the height just decided.
    pub(super) fn checkpoint(&mut self, d: Hash, out: &mut Vec<Output>) {
        let h = self.height;
        if let Some(m) = self.sign(MessageKind::Checkpoint, h, 0, digest_payload(d)) {
            out.push(Output::BroadcastMessage(m.clone()));
            self.take_checkpoint(m);
        }
    }

    /// A checkpoint of a height not yet stable: a quorum that matches this
    /// replica's decision makes it stable, and older decisions go.
    pub(super) fn take_checkpoint(&mut self, m: SignedMessage) {
        let h = m.position.height;
        let interval = self.params.checkpoint_interval.max(1);
        let ahead = self.height.saturating_add(interval);
        if h <= self.stable
            || h > ahead
            || h % interval != 0
            || m.position.round != 0
            || !self.group().contains(&m.signer)
            || m.verify(&self.chain_id).is_err()
        {
            return;
        }
        let Some(d) = digest_of(&m.payload) else {
            return;
        };
        self.checkpoints
            .entry(h)
            .or_default()
            .entry(m.signer)
            .or_insert((d, m));
        // Checkpoints that never become stable (too many replicas away) are
        // kept for the newest heights only.
        while self.checkpoints.len() > MAX_CHECKPOINTS {
            self.checkpoints.pop_first();
        }
        let q = self.quorum();
        let stable = self
            .checkpoints
            .iter()
            .rev()
            .find(|(h, by)| {
                self.decided
                    .get(h)
                    .is_some_and(|(b, _)| by.values().filter(|(d, _)| *d == b.hash()).count() >= q)
            })
            .map(|(h, _)| *h);
        if let Some(s) = stable {
            self.stable = s;
            self.checkpoints.retain(|h, _| *h > s);
            self.decided.retain(|h, _| *h >= s);
        }
    }

    /// A peer still works at a height this replica decided: send it that
    /// decision and its commits, at most once a gossip period.
    pub(super) fn help(&mut self, peer: NodeId, their_height: u64, out: &mut Vec<Output>) {
        if self.now < self.helped_at + self.gossip_ms() {
            return;
        }
        let Some((block, cert)) = self
            .decided
            .get(&their_height)
            .or_else(|| self.decided.values().next_back())
        else {
            return;
        };
        out.push(Output::SendBlock {
            to: peer,
            block: block.clone(),
        });
        out.extend(cert.iter().map(|m| Output::SendMessage {
            to: peer,
            message: m.clone(),
        }));
        self.helped_at = self.now;
    }

    /// Sends again what this replica holds of its view, so that a lost
    /// message is not lost for good.
    pub(super) fn gossip(&mut self, out: &mut Vec<Output>) {
        let v = self.view;
        if let Some((d, pp)) = self.pre_prepares.get(&v) {
            if let Some(b) = self.blocks.get(d) {
                out.push(Output::Broadcast(b.clone()));
            }
            out.push(Output::BroadcastMessage(pp.clone()));
        }
        if let Some(nv) = self.new_views.get(&v) {
            out.push(Output::BroadcastMessage(nv.clone()));
        }
        for kind in [MessageKind::Prepare, MessageKind::Commit] {
            if let Some(by) = self.votes.get(&(kind, v)) {
                out.extend(
                    by.values()
                        .map(|(_, m)| Output::BroadcastMessage(m.clone())),
                );
            }
        }
        if self.changing {
            if let Some(by) = self.view_changes.get(&v) {
                out.extend(
                    by.values()
                        .map(|(_, m)| Output::BroadcastMessage(m.clone())),
                );
            }
        }
        let me = self.me();
        let mine: Vec<_> = self
            .checkpoints
            .values()
            .filter_map(|by| by.get(&me).map(|(_, m)| m.clone()))
            .collect();
        out.extend(mine.into_iter().map(Output::BroadcastMessage));
    }
}
