//! Messages: proposals and votes taken in (double votes become evidence),
//! help for peers that fell behind, and gossip of what this validator holds.

use super::*;

impl BftEngine {
    /// A vote, once its signature and signer are checked: counted, or evidence
    /// if the signer already voted otherwise in this round.
    pub(super) fn add_vote(
        &mut self,
        m: SignedMessage,
        value: Option<Hash>,
        out: &mut Vec<Output>,
    ) {
        let by = self
            .votes
            .entry((m.position.kind, m.position.round))
            .or_default();
        match by.get(&m.signer) {
            Some((v, first)) if *v != value => {
                let first = first.clone();
                self.doubles
                    .entry((m.position.kind, m.position.round))
                    .or_default()
                    .entry(m.signer)
                    .or_insert((value, m.clone()));
                self.report(first, m, out);
            }
            Some(_) => {}
            None => {
                by.insert(m.signer, (value, m));
            }
        }
    }

    pub(super) fn report(
        &mut self,
        first: SignedMessage,
        second: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        self.evidence.report(&self.chain_id, first, second, out);
    }

    pub(super) fn take_proposal(&mut self, m: SignedMessage, out: &mut Vec<Output>) {
        let Some(body) = ProposalBody::decode(&m.payload) else {
            return;
        };
        let r = m.position.round;
        if self.proposer(r) != Some(m.signer) || body.valid_round.is_some_and(|vr| vr >= r) {
            return;
        }
        match self.proposals.get(&r) {
            Some((_, first)) if first.payload != m.payload => {
                let first = first.clone();
                self.report(first, m, out);
            }
            Some(_) => {}
            None => {
                self.proposals.insert(r, (body, m));
            }
        }
    }

    /// A consensus message of this height (or, kept for later, the next).
    pub(super) fn take_message(
        &mut self,
        from: Option<NodeId>,
        m: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        if self.seen.contains(&m.signature.0) {
            return;
        }
        let h = m.position.height;
        if h < self.height {
            if let Some(peer) = from {
                self.help(peer, h, out);
            }
            return;
        }
        if h > self.height {
            if h == self.height + 1 && self.future.len() < MAX_FUTURE {
                self.future.push(m);
            }
            return;
        }
        if m.position.round > self.round + MAX_ROUNDS_AHEAD
            || !self
                .set
                .as_ref()
                .is_some_and(|s| s.power.contains_key(&m.signer))
            || m.verify(&self.chain_id).is_err()
        {
            return;
        }
        self.seen.insert(m.signature.0);
        match m.position.kind {
            MessageKind::Proposal => self.take_proposal(m, out),
            MessageKind::Prevote | MessageKind::Precommit => {
                if let Some(value) = vote_value(&m.payload) {
                    self.add_vote(m, value, out);
                }
            }
            _ => {}
        }
    }

    /// A peer still votes at an earlier height than ours: once a gossip period
    /// has passed since our decision (so that it is behind, not merely late),
    /// send it the decided block and its precommits. After a restart the
    /// engine has not decided anything yet, but its record kept the
    /// certificate of the block it decided last: the peer gets that (the
    /// block it can sync). Without it, peers that waited for this validator's
    /// precommit when it crashed would wait for ever.
    pub(super) fn help(&mut self, peer: NodeId, their_height: u64, out: &mut Vec<Output>) {
        let (block, cert) = match &self.last_commit {
            Some((block, cert)) => (Some(block), cert),
            None => (None, &self.record.commit),
        };
        let Some(height) = block
            .map(|b| b.height())
            .or_else(|| cert.first().map(|m| m.position.height))
        else {
            return;
        };
        if height < their_height || self.now < self.decided_at + self.timeout(Timeout::Gossip, 0) {
            return;
        }
        if let Some(block) = block {
            out.push(Output::SendBlock {
                to: peer,
                block: block.clone(),
            });
        }
        for m in cert {
            out.push(Output::SendMessage {
                to: peer,
                message: m.clone(),
            });
        }
        // At most once a gossip period.
        self.decided_at = self.now;
    }

    /// Sends again this round's and the last round's messages, the proposal
    /// with its block and the prevotes that justify it, so that a lost message
    /// is not lost for good (gossip).
    pub(super) fn gossip(&mut self, out: &mut Vec<Output>) {
        let from = self.round.saturating_sub(1);
        // The rounds whose prevotes prove a lock (a proposal's valid round,
        // our lock's and valid value's): without them a re-proposal of a
        // locked block cannot be accepted (line 28).
        let mut pol: BTreeSet<u64> = self.locked.iter().chain(&self.valid).map(|x| x.0).collect();
        if let Some((body, m)) = self.proposals.get(&self.round) {
            if let Some(b) = self.blocks.get(&body.block) {
                out.push(Output::Broadcast(b.clone()));
            }
            out.push(Output::BroadcastMessage(m.clone()));
            pol.extend(body.valid_round);
        }
        for ((kind, r), by) in &self.votes {
            if *r >= from || (*kind == MessageKind::Prevote && pol.contains(r)) {
                out.extend(
                    by.values()
                        .map(|(_, m)| Output::BroadcastMessage(m.clone())),
                );
            }
        }
    }
}
