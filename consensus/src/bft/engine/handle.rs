//! The engine's inputs other than messages: timers (timeouts and the next
//! height's build), blocks built, received or decided, a new tip, and the
//! check of a block's commit certificate.

use super::*;

impl BftEngine {
    pub(super) fn on_timer(&mut self, id: u64, headers: &dyn Headers, out: &mut Vec<Output>) {
        let Some((kind, height, round)) = self.timers.remove(&id) else {
            return;
        };
        if kind == Timeout::Gossip {
            self.gossip(out);
            let at = self.now + self.timeout(Timeout::Gossip, 0);
            self.schedule(Timeout::Gossip, at, out);
            return;
        }
        if height != self.height || round != self.round {
            return;
        }
        match kind {
            // Lines 57-60.
            Timeout::Propose if self.step == Step::Propose => {
                self.step = Step::Prevote;
                self.vote(MessageKind::Prevote, None, out);
            }
            // Lines 61-64.
            Timeout::Prevote if self.step == Step::Prevote => {
                self.step = Step::Precommit;
                self.vote(MessageKind::Precommit, None, out);
            }
            // Lines 65-67.
            Timeout::Precommit => self.start_round(round + 1, out),
            // Line 18: getValue().
            Timeout::Build
                if self.step == Step::Propose && !self.proposals.contains_key(&round) =>
            {
                self.build(out)
            }
            _ => {}
        }
        self.progress(headers, out);
    }

    pub(super) fn build(&mut self, out: &mut Vec<Output>) {
        let Some(tip) = self.tip.clone() else { return };
        let decided = self
            .last_commit
            .as_ref()
            .map(|(b, cert)| (b, cert.as_slice()));
        let payload = vote_payload(Some(tip.hash()));
        let Some(last_commit) = tip_certificate(
            &tip,
            decided,
            &self.record.commit,
            &payload,
            self.blocks.values(),
        ) else {
            return;
        };
        let set = self.set.clone();
        let evidence = self
            .evidence
            .for_block(|k| set.as_ref().is_some_and(|s| s.power.contains_key(k)));
        out.push(Output::Build {
            parent: tip.hash(),
            height: self.height,
            timestamp_ms: self.now.max(tip.timestamp_ms),
            consensus: BftData {
                round: self.round,
                last_commit,
            }
            .encode(),
            evidence,
        });
    }

    pub(super) fn on_produced(
        &mut self,
        mut block: Block,
        headers: &dyn Headers,
        out: &mut Vec<Output>,
    ) {
        let Ok(data) = BftData::decode(&block.header.consensus) else {
            return;
        };
        if block.height() != self.height
            || data.round != self.round
            || self.step != Step::Propose
            || self.proposals.contains_key(&self.round)
            || self.proposer(self.round) != Some(self.me())
        {
            return;
        }
        if self
            .guard(MessageKind::Block, data.round, &block.header.seal_hash().0)
            .is_err()
        {
            return;
        }
        seal(&mut block, &self.key, &self.chain_id);
        self.book.record(&block, data.round);
        out.push(Output::Import(block.clone()));
        self.propose(block, None, out);
        self.progress(headers, out);
    }

    pub(super) fn on_block(&mut self, block: Block, headers: &dyn Headers, out: &mut Vec<Output>) {
        self.book.record(&block, round_of(&block.header));
        let h = block.height();
        if h >= self.height
            && self.blocks.len() < MAX_CANDIDATES
            && sealed_message(&block.header).is_ok_and(|m| m.verify(&self.chain_id).is_ok())
        {
            self.blocks.insert(block.hash(), block.clone());
        }
        // The host keeps every valid block; fork choice follows decisions only.
        out.push(Output::Import(block));
        self.progress(headers, out);
    }

    pub(super) fn on_tip(&mut self, tip: Header, headers: &dyn Headers, out: &mut Vec<Output>) {
        if !self.started {
            self.started = true;
            let at = self.now + self.timeout(Timeout::Gossip, 0);
            self.schedule(Timeout::Gossip, at, out);
            self.enter_height(tip, out);
        } else if tip.height >= self.height {
            // Decided by others, learned from a commit certificate.
            self.enter_height(tip, out);
        }
        self.progress(headers, out);
    }

    /// Checks a commit certificate: precommits of one round for `hash` at
    /// `height`, from distinct validators of `set` holding more than two
    /// thirds of the power, each validly signed.
    pub(super) fn check_commit(
        &self,
        set: &ValidatorSet,
        height: u64,
        hash: Hash,
        cert: &[SignedMessage],
    ) -> Result<(), ConsensusError> {
        let bad = |reason: &str| ConsensusError::BadConsensusData {
            reason: format!("commit certificate of height {height}: {reason}"),
        };
        let round = cert.first().map(|m| m.position.round).ok_or(bad("empty"))?;
        if cert.len() > set.power.len() {
            return Err(bad("more precommits than validators"));
        }
        let mut signers = BTreeSet::new();
        let want = vote_payload(Some(hash));
        for m in cert {
            let at = Position {
                kind: MessageKind::Precommit,
                height,
                round,
            };
            if m.position != at || m.payload != want {
                return Err(bad("a precommit for another position or block"));
            }
            if !set.power.contains_key(&m.signer) || !signers.insert(m.signer) {
                return Err(bad("a signer that is not a validator, or twice"));
            }
            m.verify(&self.chain_id)
                .map_err(|_| ConsensusError::BadSignature)?;
        }
        if !set.is_quorum(signers.iter().map(|k| set.power_of(k)).sum()) {
            return Err(bad("not more than two thirds of the voting power"));
        }
        Ok(())
    }
}
