//! View changes (Castro and Liskov, section 4.4): a replica asks for the next
//! view when its timer expires, or joins once f+1 others ask for a later one;
//! the new primary gathers a quorum of view changes and sends the new-view,
//! which pre-prepares again the block of the highest-view prepared certificate
//! among them (or a new block if none has one). Each view change's
//! certificate and each new-view's choice is checked: a replica that claims a
//! block it cannot prove it prepared is refused.

use super::proof::{digest_payload, NewViewBody, ViewChangeBody};
use super::*;
use generals_chain::codec;

impl PbftEngine {
    /// ⟨VIEW-CHANGE, v, n, C, P, i⟩: leave the current view for `view`.
    pub(super) fn change_view(&mut self, view: u64, out: &mut Vec<Output>) {
        self.view = view;
        self.changing = true;
        self.building = None;
        let body = ViewChangeBody {
            prepared: self.prepared.clone(),
            stable: self.stable,
        };
        if let Some(m) = self.sign(
            MessageKind::ViewChange,
            self.height,
            view,
            codec::encode(&body),
        ) {
            // The new primary needs the block it may have to order again.
            if let Some(b) = body
                .prepared
                .as_ref()
                .and_then(|p| proof::digest_of(&p.pre_prepare.payload))
                .and_then(|d| self.blocks.get(&d))
            {
                out.push(Output::Broadcast(b.clone()));
            }
            out.push(Output::BroadcastMessage(m.clone()));
            let claim = self.prepared.as_ref().map(|p| {
                let d = proof::digest_of(&p.pre_prepare.payload).unwrap_or_default();
                (p.view(), d)
            });
            self.view_changes
                .entry(view)
                .or_default()
                .insert(m.signer, (claim, m));
        }
        let at = self.now + self.timeout(view);
        self.schedule(Timer::View, at, out);
    }

    pub(super) fn take_view_change(&mut self, m: SignedMessage, out: &mut Vec<Output>) {
        let v = m.position.round;
        if v < self.view || (v == self.view && !self.changing) {
            return;
        }
        match self.group().check_view_change(&m, self.height, v) {
            Ok(claim) => {
                let by = self.view_changes.entry(v).or_default();
                match by.get(&m.signer) {
                    Some((_, first)) if first.payload != m.payload => {
                        let first = first.clone();
                        self.report(first, m, out);
                    }
                    Some(_) => {}
                    None => {
                        by.insert(m.signer, (claim, m));
                    }
                }
            }
            Err(e) => self.refuse(e),
        }
    }

    pub(super) fn take_new_view(&mut self, m: SignedMessage, out: &mut Vec<Output>) {
        let v = m.position.round;
        if v < self.view || (v == self.view && !self.changing) {
            return;
        }
        match self.group().check_new_view(&m, self.height, v) {
            Ok((d, pp)) => {
                if let Some((x, first)) = self.pre_prepares.get(&v) {
                    if *x != d {
                        let first = first.clone();
                        self.report(first, pp.clone(), out);
                    }
                }
                self.enter_new_view(v, d, pp, m, out);
            }
            Err(e) => self.refuse(e),
        }
    }

    fn enter_new_view(
        &mut self,
        v: u64,
        d: Hash,
        pp: SignedMessage,
        nv: SignedMessage,
        out: &mut Vec<Output>,
    ) {
        self.view = v;
        self.changing = false;
        self.building = None;
        self.pre_prepares.insert(v, (d, pp));
        self.new_views.insert(v, nv);
        self.view_change_count += 1;
        let at = self.now + self.timeout(v);
        self.schedule(Timer::View, at, out);
    }

    /// f+1 replicas ask for views above this one: at least one of them is
    /// honest, so join the lowest such view rather than wait for the timer.
    pub(super) fn join_view_change(&mut self, out: &mut Vec<Output>) -> bool {
        let mut askers: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for (v, by) in self.view_changes.range(self.view + 1..) {
            for k in by.keys() {
                askers.entry(*k).or_insert(*v);
            }
        }
        if askers.len() <= self.faulty() {
            return false;
        }
        let Some(lowest) = askers.values().min().copied() else {
            return false;
        };
        self.change_view(lowest, out);
        true
    }

    /// The new primary, with a quorum of view changes for its view: orders
    /// again the block of the highest-view certificate, or asks for a new one.
    pub(super) fn try_new_view(&mut self, out: &mut Vec<Output>) -> bool {
        let v = self.view;
        if !self.changing
            || self.primary(v) != Some(self.me())
            || self.building == Some(v)
            || self.view_changes.get(&v).map_or(0, |by| by.len()) < self.quorum()
        {
            return false;
        }
        let claims: Vec<_> = self.view_changes[&v].values().map(|(c, _)| *c).collect();
        match Replicas::obliged(&claims) {
            Some(d) if self.blocks.contains_key(&d) => {
                self.issue_new_view(d, out);
                true
            }
            // The block comes with its certificate's sender's view change.
            Some(_) => false,
            None => {
                self.build(out);
                false
            }
        }
    }

    /// ⟨NEW-VIEW, v, V, O⟩ with the pre-prepare of `d` in the new view.
    pub(super) fn issue_new_view(&mut self, d: Hash, out: &mut Vec<Output>) {
        let v = self.view;
        let Some(pp) = self.sign(MessageKind::PrePrepare, self.height, v, digest_payload(d)) else {
            return;
        };
        let view_changes: Vec<SignedMessage> = self
            .view_changes
            .get(&v)
            .into_iter()
            .flatten()
            .map(|(_, (_, m))| m.clone())
            .collect();
        let body = NewViewBody {
            view_changes,
            pre_prepare: pp.clone(),
        };
        let Some(nv) = self.sign(MessageKind::NewView, self.height, v, codec::encode(&body)) else {
            return;
        };
        if let Some(b) = self.blocks.get(&d) {
            out.push(Output::Broadcast(b.clone()));
        }
        out.push(Output::BroadcastMessage(nv.clone()));
        self.enter_new_view(v, d, pp, nv, out);
    }
}
