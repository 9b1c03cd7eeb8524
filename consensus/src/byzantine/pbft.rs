//! Byzantine PBFT replicas, as wrappers around the honest replica:
//!
//! - `PbftSplit`: a primary that pre-prepares one block to one half of the
//!   honest replicas and a twin to the other half; colluding backups prepare
//!   and commit each half's block to that half. One such primary of 3f+1 is
//!   caught (its two pre-prepares are evidence) and decides nothing wrong;
//!   f+1 colluders, or quorums of f+1, make the halves decide different blocks;
//! - `LieViewChange`: never orders a block as primary, and in each view
//!   change claims to have prepared a block at the view before, with a
//!   certificate it made up (its own pre-prepare and prepare): honest replicas
//!   check the certificate and refuse the message.
//!
//! A silent replica is `bft::Silent`, and a double-voting one
//! `bft::VoteEquivocate`, for either engine.

use super::SplitPlan;
use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use crate::pbft::proof::{at, digest_of, digest_payload};
use crate::pbft::{seal_block, Prepared, ViewChangeBody};
use generals_chain::{codec, Block, Hash, Header, Keypair, MessageKind, SignedMessage};
use std::collections::{BTreeMap, BTreeSet};

/// An equivocating primary, and colluders who vote for both of its blocks.
#[derive(Debug)]
pub struct PbftSplit<E> {
    inner: E,
    key: Keypair,
    chain_id: String,
    plan: SplitPlan,
    /// (height, view) whose primary is a colluder: the honest votes of the
    /// inner replica there are held back.
    colluded: BTreeSet<(u64, u64)>,
    heard: BTreeMap<(u64, u64), BTreeSet<Hash>>,
    voted: BTreeSet<(u64, u64)>,
}

impl<E: Consensus> PbftSplit<E> {
    pub fn new(inner: E, key: Keypair, chain_id: &str, plan: SplitPlan) -> Self {
        PbftSplit {
            inner,
            key,
            chain_id: chain_id.into(),
            plan,
            colluded: BTreeSet::new(),
            heard: BTreeMap::new(),
            voted: BTreeSet::new(),
        }
    }

    fn sign(&self, kind: MessageKind, h: u64, v: u64, d: Hash) -> SignedMessage {
        SignedMessage::sign(&self.key, &self.chain_id, at(kind, h, v), digest_payload(d))
    }

    /// Prepares and commits `a` to half A and `b` to half B, once a view.
    fn split(&mut self, h: u64, v: u64, a: Hash, b: Hash, out: &mut Vec<Output>) {
        if !self.voted.insert((h, v)) {
            return;
        }
        for kind in [MessageKind::Prepare, MessageKind::Commit] {
            let (ma, mb) = (self.sign(kind, h, v, a), self.sign(kind, h, v, b));
            self.plan.send(&self.plan.half_a, &ma, out);
            self.plan.send(&self.plan.half_b, &mb, out);
        }
    }

    /// Its own pre-prepare: a twin block (1 ms later), the lower id to half
    /// A and the higher to half B, both to the colluders.
    fn twin(&mut self, block: Block, pp: SignedMessage, out: &mut Vec<Output>) {
        let mut twin = block.clone();
        twin.header.timestamp_ms += 1;
        seal_block(&mut twin, &self.key, &self.chain_id);
        let (h, v) = (pp.position.height, pp.position.round);
        let twin_pp = self.sign(MessageKind::PrePrepare, h, v, twin.hash());
        let mut sides = [(block, pp), (twin, twin_pp)];
        sides.sort_by_key(|(b, _)| b.hash());
        let plan = self.plan.clone();
        for ((b, m), half) in sides.iter().zip([&plan.half_a, &plan.half_b]) {
            for to in half.iter().chain(&plan.colluders) {
                out.push(Output::SendBlock {
                    to: *to,
                    block: b.clone(),
                });
                out.push(Output::SendMessage {
                    to: *to,
                    message: m.clone(),
                });
            }
        }
        out.push(Output::Import(sides[1].0.clone()));
        self.colluded.insert((h, v));
        let (a, b) = (sides[0].0.hash(), sides[1].0.hash());
        self.split(h, v, a, b, out);
    }
}

impl<E: Consensus> Consensus for PbftSplit<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let mut out = Vec::new();
        if let Input::Message { message: m, .. } = &input {
            if m.position.kind == MessageKind::PrePrepare
                && self.plan.colluder_keys.contains(&m.signer)
            {
                let (h, v) = (m.position.height, m.position.round);
                self.colluded.insert((h, v));
                let seen = self.heard.entry((h, v)).or_default();
                seen.extend(digest_of(&m.payload));
                if seen.len() >= 2 {
                    let mut it = seen.iter().copied();
                    if let (Some(a), Some(b)) = (it.next(), it.next()) {
                        self.split(h, v, a, b, &mut out);
                    }
                }
            }
        }
        let produced = matches!(input, Input::Produced { .. });
        let mut own_block = None;
        let mut own_pp = None;
        let inner = self.inner.handle(input, headers);
        for o in inner {
            match o {
                Output::Broadcast(b) if produced => own_block = Some(b),
                Output::BroadcastMessage(m)
                    if produced && m.position.kind == MessageKind::PrePrepare =>
                {
                    own_pp = Some(m)
                }
                Output::BroadcastMessage(m)
                    if self
                        .colluded
                        .contains(&(m.position.height, m.position.round))
                        && matches!(
                            m.position.kind,
                            MessageKind::PrePrepare | MessageKind::Prepare | MessageKind::Commit
                        ) => {}
                Output::Broadcast(b) if self.colluded.iter().any(|(h, _)| *h == b.height()) => {}
                o => out.push(o),
            }
        }
        if let (Some(b), Some(m)) = (own_block, own_pp) {
            self.twin(b, m, &mut out);
        }
        let floor = self.colluded.last().map_or(0, |x| x.0.saturating_sub(64));
        self.colluded.retain(|x| x.0 >= floor);
        self.heard.retain(|x, _| x.0 >= floor);
        self.voted.retain(|x| x.0 >= floor);
        out
    }
}

/// Never orders a block; lies in every view change it sends.
#[derive(Debug)]
pub struct LieViewChange<E> {
    inner: E,
    key: Keypair,
    chain_id: String,
}

impl<E: Consensus> LieViewChange<E> {
    pub fn new(inner: E, key: Keypair, chain_id: &str) -> Self {
        LieViewChange {
            inner,
            key,
            chain_id: chain_id.into(),
        }
    }

    /// A view change to (h, v) claiming a block prepared in view v-1, whose
    /// certificate is its own pre-prepare and prepare (the same lie each time).
    pub fn lie(&self, h: u64, v: u64) -> SignedMessage {
        let claimed = v.saturating_sub(1);
        let fake = Hash::digest_parts(&[b"lie", &h.to_le_bytes(), &v.to_le_bytes()]);
        let sign = |kind, view, payload| {
            SignedMessage::sign(&self.key, &self.chain_id, at(kind, h, view), payload)
        };
        let body = ViewChangeBody {
            prepared: Some(Prepared {
                pre_prepare: sign(MessageKind::PrePrepare, claimed, digest_payload(fake)),
                prepares: vec![sign(MessageKind::Prepare, claimed, digest_payload(fake))],
            }),
            stable: 0,
        };
        sign(MessageKind::ViewChange, v, codec::encode(&body))
    }
}

impl<E: Consensus> Consensus for LieViewChange<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let me = self.key.public();
        let mut out = Vec::new();
        for o in self.inner.handle(input, headers) {
            match o {
                Output::Build { .. } => {}
                Output::BroadcastMessage(m) if m.signer == me => match m.position.kind {
                    MessageKind::ViewChange => out.push(Output::BroadcastMessage(
                        self.lie(m.position.height, m.position.round),
                    )),
                    MessageKind::PrePrepare | MessageKind::NewView => {}
                    _ => out.push(Output::BroadcastMessage(m)),
                },
                o => out.push(o),
            }
        }
        out
    }
}
