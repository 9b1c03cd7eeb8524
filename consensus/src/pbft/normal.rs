//! The normal case (Castro and Liskov, section 4.2): a height begins, the
//! primary pre-prepares a block, replicas prepare and commit it, a quorum of
//! commits decides it; messages taken in, double signatures turned into
//! evidence.

use super::proof::{self, digest_of, digest_payload, Prepared};
use super::*;

impl PbftEngine {
    pub(super) fn on_tip(&mut self, tip: Header, headers: &dyn Headers, out: &mut Vec<Output>) {
        if !self.started {
            self.started = true;
            let at = self.now + self.gossip_ms();
            self.schedule(Timer::Gossip, at, out);
            let view = round_of(&tip);
            self.enter_height(tip, view, out);
        } else if tip.height >= self.height {
            // Decided by others, learned from a commit certificate: its view
            // is the one the next height starts in.
            let view = self.certificate_view(&tip).unwrap_or(round_of(&tip));
            self.enter_height(tip, view, out);
        }
        self.progress(headers, out);
    }

    /// The view of the commits that decided `tip`, from a child block held.
    fn certificate_view(&self, tip: &Header) -> Option<u64> {
        let hash = tip.hash();
        self.blocks
            .values()
            .filter(|b| b.header.parent == hash)
            .find_map(|b| BftData::decode(&b.header.consensus).ok())
            .and_then(|d| d.last_commit.first().map(|m| m.position.round))
    }

    /// A new height, after the block decided at the one below, in `view`.
    pub(super) fn enter_height(&mut self, tip: Header, view: u64, out: &mut Vec<Output>) {
        self.height = tip.height + 1;
        self.replicas = self.replicas_after(&tip.hash()).unwrap_or_default();
        self.tip = Some(tip);
        self.view = view;
        self.first_view = view;
        self.changing = false;
        self.building = None;
        self.pre_prepares.clear();
        self.votes.clear();
        self.doubles.clear();
        self.view_changes.clear();
        self.new_views.clear();
        self.prepared = None;
        self.sent.clear();
        self.seen.clear();
        let h = self.height;
        self.blocks.retain(|_, b| b.height() >= h);
        let replicas = self.replicas.clone();
        self.evidence
            .retain_voters(|k| replicas.binary_search(k).is_ok());
        // A restart resumes the view, the certificate and the messages it had.
        let resumed = self.record.signing.height == self.height;
        if resumed {
            self.view = self.record.view.max(view);
            self.first_view = self.record.first_view.min(self.view);
            self.prepared = self.record.prepared.clone();
            self.changing = self
                .record
                .signing
                .has_signed(MessageKind::ViewChange, self.view);
        }
        self.start_view(out);
        if resumed {
            self.resend_record(out);
        }
        let future = std::mem::take(&mut self.future);
        for m in future {
            if m.position.height == self.height {
                self.take_message(None, m, out);
            }
        }
    }

    /// After a restart: sends again, identical, what it signed in this view.
    fn resend_record(&mut self, out: &mut Vec<Output>) {
        let signed: Vec<_> = self
            .record
            .signing
            .signed
            .iter()
            .filter(|(k, v, _)| *v == self.view && *k != MessageKind::Block)
            .cloned()
            .collect();
        for (kind, view, payload) in signed {
            let at = proof::at(kind, self.height, view);
            let m = SignedMessage::sign(&self.key, &self.chain_id, at, payload);
            if matches!(kind, MessageKind::Prepare | MessageKind::Commit) {
                self.sent.insert((kind, view));
            }
            out.push(Output::BroadcastMessage(m.clone()));
            self.take_message(None, m, out);
        }
    }

    /// The view's timers: the primary orders a block after the pause; every
    /// replica asks for the next view if this one does not decide in time.
    pub(super) fn start_view(&mut self, out: &mut Vec<Output>) {
        let pause = if self.view == self.first_view {
            self.params.block_pause_ms
        } else {
            0
        };
        if self.primary(self.view) == Some(self.me()) && !self.changing {
            let at = self.now + pause;
            self.schedule(Timer::Build, at, out);
        }
        let at = self.now + pause + self.timeout(self.view);
        self.schedule(Timer::View, at, out);
    }

    pub(super) fn on_timer(&mut self, id: u64, headers: &dyn Headers, out: &mut Vec<Output>) {
        let Some((timer, height, view)) = self.timers.remove(&id) else {
            return;
        };
        if timer == Timer::Gossip {
            self.gossip(out);
            let at = self.now + self.gossip_ms();
            self.schedule(Timer::Gossip, at, out);
            return;
        }
        if height != self.height || view != self.view {
            return;
        }
        match timer {
            Timer::View => self.change_view(self.view + 1, out),
            Timer::Build
                if !self.changing
                    && self.view == self.first_view
                    && !self.pre_prepares.contains_key(&self.view) =>
            {
                self.build(out)
            }
            _ => {}
        }
        self.progress(headers, out);
    }

    /// Asks the host for a block on the decided tip, to order in this view.
    pub(super) fn build(&mut self, out: &mut Vec<Output>) {
        let Some(tip) = self.tip.clone() else { return };
        let decided = self
            .decided
            .get(&tip.height)
            .map(|(b, cert)| (b, cert.as_slice()));
        let payload = digest_payload(tip.hash());
        let saved = &self.record.signing.commit;
        let Some(last_commit) =
            tip_certificate(&tip, decided, saved, &payload, self.blocks.values())
        else {
            return;
        };
        let replicas = &self.replicas;
        let evidence = self
            .evidence
            .for_block(|k| replicas.binary_search(k).is_ok());
        self.building = Some(self.view);
        out.push(Output::Build {
            parent: tip.hash(),
            height: self.height,
            timestamp_ms: self.now.max(tip.timestamp_ms),
            consensus: BftData {
                round: self.view,
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
        let v = self.view;
        if block.height() != self.height
            || data.round != v
            || self.building != Some(v)
            || self.pre_prepares.contains_key(&v)
            || self.primary(v) != Some(self.me())
        {
            return;
        }
        if self
            .guard(
                MessageKind::Block,
                self.height,
                v,
                &block.header.seal_hash().0,
            )
            .is_err()
        {
            return;
        }
        seal(&mut block, &self.key, &self.chain_id);
        self.book.record(&block, v);
        let hash = block.hash();
        self.blocks.insert(hash, block.clone());
        out.push(Output::Import(block.clone()));
        if self.changing {
            self.issue_new_view(hash, out);
        } else if let Some(m) = self.sign(
            MessageKind::PrePrepare,
            self.height,
            v,
            digest_payload(hash),
        ) {
            out.push(Output::Broadcast(block));
            out.push(Output::BroadcastMessage(m.clone()));
            self.pre_prepares.insert(v, (hash, m));
        }
        self.progress(headers, out);
    }

    pub(super) fn on_block(&mut self, block: Block, headers: &dyn Headers, out: &mut Vec<Output>) {
        self.book.record(&block, round_of(&block.header));
        if block.height() >= self.height
            && self.blocks.len() < MAX_CANDIDATES
            && seal_message_of(&block.header).is_ok_and(|m| m.verify(&self.chain_id).is_ok())
        {
            self.blocks.insert(block.hash(), block.clone());
        }
        // The host keeps every valid block; fork choice follows decisions only.
        out.push(Output::Import(block));
        self.progress(headers, out);
    }

    /// The header check of a candidate: it extends the decided block.
    pub(super) fn is_valid(&self, hash: &Hash, headers: &dyn Headers) -> bool {
        let (Some(b), Some(tip)) = (self.blocks.get(hash), &self.tip) else {
            return false;
        };
        extends(b, tip, self.height) && self.validate(&b.header, headers, self.now).is_ok()
    }

    /// The pre-prepare this replica may act on in its view: one of the view it
    /// entered the height in, or the one a new-view carried.
    pub(super) fn acting_pre_prepare(&self) -> Option<(Hash, SignedMessage)> {
        if self.changing
            || (self.view != self.first_view && !self.new_views.contains_key(&self.view))
        {
            return None;
        }
        self.pre_prepares.get(&self.view).cloned()
    }

    pub(super) fn report(
        &mut self,
        first: SignedMessage,
        second: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        self.evidence.report(&self.chain_id, first, second, out);
    }

    /// A consensus message: checkpoints of any recent height; the rest of this
    /// height (or, kept for later, the next).
    pub(super) fn take_message(
        &mut self,
        from: Option<NodeId>,
        m: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        if self.seen.contains(&m.signature.0) {
            return;
        }
        if m.position.kind == MessageKind::Checkpoint {
            self.take_checkpoint(m);
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
        let v = m.position.round;
        if v > self.view + MAX_VIEWS_AHEAD
            || !self.group().contains(&m.signer)
            || m.verify(&self.chain_id).is_err()
        {
            return;
        }
        self.seen.insert(m.signature.0);
        match m.position.kind {
            MessageKind::PrePrepare => self.take_pre_prepare(m, out),
            MessageKind::Prepare | MessageKind::Commit => {
                let Some(d) = digest_of(&m.payload) else {
                    return;
                };
                let key = (m.position.kind, v);
                let by = self.votes.entry(key).or_default();
                match by.get(&m.signer) {
                    Some((x, first)) if *x != d => {
                        let first = first.clone();
                        // Counted toward its block all the same: a quorum
                        // of signatures on a block decides it, whatever else
                        // their signers signed (as a commit certificate shows).
                        self.doubles
                            .entry(key)
                            .or_default()
                            .entry(m.signer)
                            .or_insert((d, m.clone()));
                        self.report(first, m, out);
                    }
                    Some(_) => {}
                    None => {
                        by.insert(m.signer, (d, m));
                    }
                }
            }
            MessageKind::ViewChange => self.take_view_change(m, out),
            MessageKind::NewView => self.take_new_view(m, out),
            _ => {}
        }
    }

    fn take_pre_prepare(&mut self, m: SignedMessage, out: &mut Vec<Output>) {
        let v = m.position.round;
        let Ok(d) = self.group().check_pre_prepare(&m, self.height, v) else {
            return;
        };
        match self.pre_prepares.get(&v) {
            Some((x, first)) if *x != d => {
                let first = first.clone();
                self.report(first, m, out);
            }
            Some(_) => {}
            None => {
                self.pre_prepares.insert(v, (d, m));
            }
        }
    }

    /// Applies every rule whose condition holds, until none does.
    pub(super) fn progress(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) {
        for _ in 0..1_000 {
            if self.try_decide(headers, out)
                || self.join_view_change(out)
                || self.try_new_view(out)
                || self.try_prepare(headers, out)
                || self.try_commit(out)
            {
                continue;
            }
            return;
        }
    }

    /// A backup prepares the view's pre-prepared block once it has it and it
    /// is valid (the primary's pre-prepare stands for its prepare).
    fn try_prepare(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) -> bool {
        let v = self.view;
        if self.sent.contains(&(MessageKind::Prepare, v)) {
            return false;
        }
        let Some((d, _)) = self.acting_pre_prepare() else {
            return false;
        };
        if !self.is_valid(&d, headers) {
            return false;
        }
        self.sent.insert((MessageKind::Prepare, v));
        if self.primary(v) != Some(self.me()) {
            if let Some(m) = self.sign(MessageKind::Prepare, self.height, v, digest_payload(d)) {
                out.push(Output::BroadcastMessage(m.clone()));
                self.votes
                    .entry((MessageKind::Prepare, v))
                    .or_default()
                    .insert(m.signer, (d, m));
            }
        }
        true
    }

    /// Prepared (a pre-prepare and a quorum counting it): keep the certificate,
    /// then commit.
    fn try_commit(&mut self, out: &mut Vec<Output>) -> bool {
        let v = self.view;
        if self.sent.contains(&(MessageKind::Commit, v))
            || !self.sent.contains(&(MessageKind::Prepare, v))
        {
            return false;
        }
        let Some((d, pp)) = self.acting_pre_prepare() else {
            return false;
        };
        let key = (MessageKind::Prepare, v);
        let mut prepares: Vec<SignedMessage> = self
            .votes
            .get(&key)
            .into_iter()
            .chain(self.doubles.get(&key))
            .flatten()
            .filter(|(k, (x, _))| *x == d && Some(**k) != self.primary(v))
            .map(|(_, (_, m))| m.clone())
            .collect();
        prepares.sort_by_key(|m| m.signer);
        prepares.dedup_by_key(|m| m.signer);
        if prepares.len() + 1 < self.quorum() {
            return false;
        }
        self.sent.insert((MessageKind::Commit, v));
        self.prepared = Some(Prepared {
            pre_prepare: pp,
            prepares,
        });
        if let Some(m) = self.sign(MessageKind::Commit, self.height, v, digest_payload(d)) {
            out.push(Output::BroadcastMessage(m.clone()));
            self.votes
                .entry((MessageKind::Commit, v))
                .or_default()
                .insert(m.signer, (d, m));
        }
        true
    }

    /// A quorum of commits of one view for a valid block decides it, in
    /// whatever view this replica stands: a commit certificate proves itself.
    fn try_decide(&mut self, headers: &dyn Headers, out: &mut Vec<Output>) -> bool {
        let q = self.quorum();
        let mut found = None;
        for ((kind, v), by) in &self.votes {
            if *kind != MessageKind::Commit {
                continue;
            }
            let doubles = self.doubles.get(&(*kind, *v)).into_iter().flatten();
            let mut tally: BTreeMap<Hash, BTreeMap<PublicKey, SignedMessage>> = BTreeMap::new();
            for (k, (d, m)) in by.iter().chain(doubles) {
                tally.entry(*d).or_default().insert(*k, m.clone());
            }
            if let Some((d, cert)) = tally.into_iter().find(|(_, c)| c.len() >= q) {
                found = Some((d, cert.into_values().collect::<Vec<_>>(), *v));
                break;
            }
        }
        let Some((d, cert, v)) = found else {
            return false;
        };
        if !self.is_valid(&d, headers) {
            return false;
        }
        let Some(block) = self.blocks.get(&d).cloned() else {
            return false;
        };
        self.record.signing.commit = cert.clone();
        self.unsaved = true;
        out.push(Output::Import(block.clone()));
        out.push(Output::Finalize(d));
        self.evidence.included(&block);
        self.decided.insert(self.height, (block.clone(), cert));
        while self.decided.len() > MAX_LOG {
            self.decided.pop_first();
        }
        if self.height % self.params.checkpoint_interval.max(1) == 0 {
            self.checkpoint(d, out);
        }
        self.enter_height(block.header, v, out);
        true
    }
}
