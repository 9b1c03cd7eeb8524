//! Algorithm 1's rules for a height: entering it (and resuming from the
//! signing record after a restart), rounds, proposals, quorums of more than
//! two thirds, the lock and valid value, and the decision (lines 11-56).

use super::*;

impl BftEngine {
    /// Lines 52-54 and 10: a new height, from the block decided at h_p - 1.
    pub(super) fn enter_height(&mut self, tip: Header, out: &mut Vec<Output>) {
        self.height = tip.height + 1;
        self.set = self.book.after(&tip.hash()).ok();
        self.tip = Some(tip);
        self.round = 0;
        self.step = Step::Propose;
        self.locked = None;
        self.valid = None;
        self.proposals.clear();
        self.votes.clear();
        self.doubles.clear();
        self.fired.clear();
        self.seen.clear();
        let h = self.height;
        self.blocks.retain(|_, b| b.height() >= h);
        let set = self.set.clone();
        self.evidence
            .retain_voters(|k| set.as_ref().is_some_and(|s| s.power.contains_key(k)));
        // A restart resumes the round, lock and votes it had.
        let mut round = 0;
        if self.record.height == self.height {
            self.locked = self.record.locked;
            self.valid = self.record.valid;
            round = self
                .record
                .last_round()
                .into_iter()
                .chain(self.locked.map(|l| l.0))
                .chain(self.valid.map(|v| v.0))
                .max()
                .unwrap_or(0);
        }
        self.start_round(round, out);
        if self.record.height == self.height {
            self.resend_record(out);
        }
        let future = std::mem::take(&mut self.future);
        for m in future {
            if m.position.height == self.height {
                self.take_message(None, m, out);
            }
        }
    }

    /// After a restart: sends again, identical, what was signed at this height
    /// and round, and takes the step it had reached.
    pub(super) fn resend_record(&mut self, out: &mut Vec<Output>) {
        let signed: Vec<_> = self
            .record
            .signed
            .iter()
            .filter(|(k, r, _)| *r == self.round && *k != MessageKind::Block)
            .cloned()
            .collect();
        for (kind, round, payload) in signed {
            let position = Position {
                kind,
                height: self.height,
                round,
            };
            let m = SignedMessage::sign(&self.key, &self.chain_id, position, payload);
            out.push(Output::BroadcastMessage(m.clone()));
            let step = match kind {
                MessageKind::Prevote => Step::Prevote,
                MessageKind::Precommit => Step::Precommit,
                _ => Step::Propose,
            };
            self.step = self.step.max(step);
            self.take_message(None, m, out);
        }
    }

    /// Lines 11-21: StartRound(round).
    pub(super) fn start_round(&mut self, round: u64, out: &mut Vec<Output>) {
        self.round = round;
        self.step = Step::Propose;
        // At round 0 everyone first waits `timeout_commit`, Tendermint's pause
        // between heights.
        let pause = if round == 0 {
            self.params.timeout_commit_ms
        } else {
            0
        };
        if self.proposer(round) == Some(self.me()) {
            let revalid = self
                .valid
                .and_then(|(vr, v)| self.blocks.get(&v).cloned().map(|b| (vr, b)));
            match revalid {
                // Lines 15-16, 19: propose the valid value again.
                Some((vr, block)) => self.propose(block, Some(vr), out),
                // Line 18: getValue(), built by the host.
                None => {
                    let at = self.now + pause;
                    self.schedule(Timeout::Build, at, out);
                }
            }
        }
        // Line 21 (the proposer sets it too, in case its block never comes).
        let at = self.now + pause + self.timeout(Timeout::Propose, round);
        self.schedule(Timeout::Propose, at, out);
    }

    /// Line 19: broadcast ⟨PROPOSAL, h_p, round_p, proposal, validRound_p⟩.
    pub(super) fn propose(
        &mut self,
        block: Block,
        valid_round: Option<u64>,
        out: &mut Vec<Output>,
    ) {
        let body = ProposalBody {
            block: block.hash(),
            valid_round,
        };
        let Some(m) = self.sign(MessageKind::Proposal, self.round, codec::encode(&body)) else {
            return;
        };
        out.push(Output::Broadcast(block.clone()));
        out.push(Output::BroadcastMessage(m.clone()));
        self.blocks.insert(block.hash(), block);
        self.proposals.insert(self.round, (body, m));
    }

    /// The header check of a candidate: it extends the decided block.
    pub(super) fn is_valid(&self, hash: &Hash, headers: &dyn Headers) -> bool {
        let (Some(b), Some(tip)) = (self.blocks.get(hash), &self.tip) else {
            return false;
        };
        extends(b, tip, self.height) && self.validate(&b.header, headers, self.now).is_ok()
    }

    /// The power of the validators that signed a `kind` vote in `round` (for
    /// `value`, or for anything). A signer that also signed another value
    /// still counts for this one: the paper's "2f+1 ⟨PREVOTE, h, r, id(v)⟩"
    /// are signed messages, whoever else their signers wrote to.
    pub(super) fn power(&self, kind: MessageKind, round: u64, value: Option<Option<Hash>>) -> u128 {
        let Some(set) = &self.set else { return 0 };
        let key = (kind, round);
        // Each signer once: its vote, or else its double, for the value
        // (without building the set of signers: this runs on every input).
        let counts = |v: &Option<Hash>| value.is_none_or(|want| *v == want);
        let by = self.votes.get(&key);
        let mut power = 0;
        for (k, (v, _)) in by.into_iter().flatten() {
            if counts(v) {
                power += set.power_of(k);
            }
        }
        for (k, (v, _)) in self.doubles.get(&key).into_iter().flatten() {
            let counted = by
                .and_then(|b| b.get(k))
                .is_some_and(|(first, _)| counts(first));
            if counts(v) && !counted {
                power += set.power_of(k);
            }
        }
        power
    }

    pub(super) fn quorum(
        &self,
        kind: MessageKind,
        round: u64,
        value: Option<Option<Hash>>,
    ) -> bool {
        let p = self.power(kind, round, value);
        self.set.as_ref().is_some_and(|s| s.is_quorum(p))
    }

    /// Applies every rule whose condition holds, until none does.
    pub(super) fn progress(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) {
        for _ in 0..1_000 {
            if self.try_decide(headers, out) {
                continue;
            }
            // Lines 55-56: f+1 validators are in a later round; join it.
            if let Some(r) = self.later_round() {
                self.start_round(r, out);
                continue;
            }
            if self.step == Step::Propose && self.try_prevote(headers, out) {
                continue;
            }
            let r = self.round;
            // Lines 34-35.
            if self.step == Step::Prevote
                && self.quorum(MessageKind::Prevote, r, None)
                && self.fired.insert((34, r))
            {
                let at = self.now + self.timeout(Timeout::Prevote, r);
                self.schedule(Timeout::Prevote, at, out);
            }
            // Lines 36-43.
            if self.step >= Step::Prevote && !self.fired.contains(&(36, r)) {
                if let Some(v) = self.proposals.get(&r).map(|(body, _)| body.block) {
                    if self.quorum(MessageKind::Prevote, r, Some(Some(v)))
                        && self.is_valid(&v, headers)
                    {
                        self.fired.insert((36, r));
                        // The valid value first, so that the record saved
                        // with the precommit holds the lock and the valid
                        // value together: restarted with a lock and no
                        // valid value, a proposer would offer a new block
                        // it must itself prevote nil on.
                        self.valid = Some((r, v));
                        if self.step == Step::Prevote {
                            self.locked = Some((r, v));
                            self.step = Step::Precommit;
                            self.vote(MessageKind::Precommit, Some(v), out);
                        }
                        continue;
                    }
                }
            }
            // Lines 44-46.
            if self.step == Step::Prevote && self.quorum(MessageKind::Prevote, r, Some(None)) {
                self.step = Step::Precommit;
                self.vote(MessageKind::Precommit, None, out);
                continue;
            }
            // Lines 47-48.
            if self.quorum(MessageKind::Precommit, r, None) && self.fired.insert((47, r)) {
                let at = self.now + self.timeout(Timeout::Precommit, r);
                self.schedule(Timeout::Precommit, at, out);
            }
            return;
        }
    }

    /// Lines 22-33: the proposal of round_p, while step_p = propose.
    pub(super) fn try_prevote(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) -> bool {
        let r = self.round;
        let Some((body, _)) = self.proposals.get(&r).cloned() else {
            return false;
        };
        let v = body.block;
        if !self.blocks.contains_key(&v) {
            return false; // the block has not arrived yet
        }
        let value = match body.valid_round {
            // Lines 22-27.
            None => {
                let ok = self.is_valid(&v, headers)
                    && (self.locked.is_none() || self.locked.map(|l| l.1) == Some(v));
                ok.then_some(v)
            }
            // Lines 28-33: a proof of lock from round vr.
            Some(vr) => {
                if vr >= r || !self.quorum(MessageKind::Prevote, vr, Some(Some(v))) {
                    return false;
                }
                let ok = self.is_valid(&v, headers)
                    && (self.locked.is_none_or(|l| l.0 <= vr)
                        || self.locked.map(|l| l.1) == Some(v));
                ok.then_some(v)
            }
        };
        self.step = Step::Prevote;
        self.vote(MessageKind::Prevote, value, out);
        true
    }

    /// Lines 55-56: the lowest round above round_p in which validators with
    /// more than a third of the power have sent something.
    pub(super) fn later_round(&self) -> Option<u64> {
        let set = self.set.as_ref()?;
        let mut by_round: BTreeMap<u64, BTreeSet<PublicKey>> = BTreeMap::new();
        for ((_, r), by) in &self.votes {
            if *r > self.round {
                by_round.entry(*r).or_default().extend(by.keys());
            }
        }
        for (r, (_, m)) in self.proposals.range(self.round + 1..) {
            by_round.entry(*r).or_default().insert(m.signer);
        }
        by_round
            .into_iter()
            .find(|(_, signers)| set.is_over_third(signers.iter().map(|k| set.power_of(k)).sum()))
            .map(|(r, _)| r)
    }

    /// Lines 49-54: 2f+1 precommits for a valid block of any round decide it.
    /// (Tendermint needs the proposal too; the block and its precommits are
    /// enough here, which lets a node that missed the proposal decide.)
    pub(super) fn try_decide(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) -> bool {
        let Some(set) = self.set.as_ref() else {
            return false;
        };
        let mut found = None;
        for ((kind, r), by) in &self.votes {
            if *kind != MessageKind::Precommit {
                continue;
            }
            // Every signer's precommit for v counts, its double too: 2f+1
            // signatures on v decide v whatever else their signers signed.
            // Tallied by key first; the certificate is copied only for the
            // value that has its quorum (this runs on every input).
            let doubles = self.doubles.get(&(*kind, *r));
            let votes = || by.iter().chain(doubles.into_iter().flatten());
            let mut tally: BTreeMap<Hash, BTreeSet<&PublicKey>> = BTreeMap::new();
            for (k, (v, _)) in votes() {
                if let Some(v) = v {
                    tally.entry(*v).or_default().insert(k);
                }
            }
            if let Some(v) = tally
                .into_iter()
                .find(|(_, c)| set.is_quorum(c.iter().map(|k| set.power_of(k)).sum()))
                .map(|(v, _)| v)
            {
                let mut cert: BTreeMap<PublicKey, SignedMessage> = BTreeMap::new();
                for (k, (w, m)) in votes() {
                    if *w == Some(v) {
                        cert.insert(*k, m.clone());
                    }
                }
                found = Some((v, cert.into_values().collect::<Vec<_>>()));
                break;
            }
        }
        let Some((v, cert)) = found else { return false };
        if !self.is_valid(&v, headers) {
            return false;
        }
        let Some(block) = self.blocks.get(&v).cloned() else {
            return false;
        };
        // Kept with the signing record: after a restart this node's next
        // proposal still carries its parent's certificate.
        self.record.commit = cert.clone();
        self.unsaved = true;
        // Line 51: decision_p[h_p] = v.
        out.push(Output::Import(block.clone()));
        out.push(Output::Finalize(v));
        self.evidence.included(&block);
        self.last_commit = Some((block.clone(), cert));
        self.decided_at = self.now;
        self.enter_height(block.header, out);
        true
    }
}
