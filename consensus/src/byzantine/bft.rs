//! Byzantine BFT validators, as wrappers around the honest Tendermint engine:
//!
//! - `VoteEquivocate`: every prevote and precommit it signs, it also signs one
//!   for a different block, and sends both to everyone (caught as evidence);
//! - `SplitVote`: votes one way to one half of the honest validators and the
//!   other way to the other half; colluding split voters share one plan, and
//!   when one of them proposes it proposes twin blocks, one to each half;
//! - `Silent`: never proposes nor votes.
//!
//! `VoteEquivocate` and `Silent` serve PBFT replicas too (its prepares and
//! commits are votes).

use crate::bft::engine::{seal, vote_payload, ProposalBody};
use crate::engine::{Consensus, ConsensusError, Headers, Input, NodeId, Output};
use generals_chain::{
    codec, Block, Hash, Header, Keypair, MessageKind, Position, PublicKey, SignedMessage,
};
use std::collections::{BTreeMap, BTreeSet};

fn is_vote(m: &SignedMessage) -> bool {
    matches!(
        m.position.kind,
        MessageKind::Prevote | MessageKind::Precommit | MessageKind::Prepare | MessageKind::Commit
    )
}

fn is_message(o: &Output) -> bool {
    matches!(
        o,
        Output::BroadcastMessage(_)
            | Output::SendMessage { .. }
            | Output::Broadcast(_)
            | Output::SendBlock { .. }
    )
}

/// Signs every vote twice, for two different blocks, and sends both to all.
#[derive(Debug)]
pub struct VoteEquivocate<E> {
    inner: E,
    key: Keypair,
    chain_id: String,
}

impl<E: Consensus> VoteEquivocate<E> {
    pub fn new(inner: E, key: Keypair, chain_id: &str) -> Self {
        VoteEquivocate {
            inner,
            key,
            chain_id: chain_id.into(),
        }
    }
}

impl<E: Consensus> Consensus for VoteEquivocate<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let me = self.key.public();
        let mut out = Vec::new();
        for o in self.inner.handle(input, headers) {
            if let Output::BroadcastMessage(m) = &o {
                if m.signer == me && is_vote(m) {
                    // A vote for a block that does not exist: a different
                    // block all the same, and as slashable.
                    let other = Hash::digest_parts(&[b"twin", &m.payload]);
                    // PBFT names a block by its hash, Tendermint by an option.
                    let payload = match m.position.kind {
                        MessageKind::Prepare | MessageKind::Commit => codec::encode(&other),
                        _ => vote_payload(Some(other)),
                    };
                    let twin = SignedMessage::sign(&self.key, &self.chain_id, m.position, payload);
                    out.push(o.clone());
                    out.push(Output::BroadcastMessage(twin));
                    continue;
                }
            }
            out.push(o);
        }
        out
    }
}

/// Never proposes nor votes; follows the chain.
#[derive(Debug)]
pub struct Silent<E> {
    inner: E,
}

impl<E: Consensus> Silent<E> {
    pub fn new(inner: E) -> Self {
        Silent { inner }
    }
}

impl<E: Consensus> Consensus for Silent<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        self.inner
            .handle(input, headers)
            .into_iter()
            .filter(|o| !is_message(o) && !matches!(o, Output::Build { .. }))
            .collect()
    }
}

/// Who a split voter tells what.
#[derive(Clone, Debug)]
pub struct SplitPlan {
    /// The two halves of the honest validators.
    pub half_a: Vec<NodeId>,
    pub half_b: Vec<NodeId>,
    /// The split voters (nodes and keys), who get both sides.
    pub colluders: Vec<NodeId>,
    pub colluder_keys: Vec<PublicKey>,
}

impl SplitPlan {
    /// Sends `m` to each of `to`.
    pub fn send(&self, to: &[NodeId], m: &SignedMessage, out: &mut Vec<Output>) {
        out.extend(to.iter().map(|n| Output::SendMessage {
            to: *n,
            message: m.clone(),
        }));
    }
}

/// Votes for one block to one half and another (or nil) to the other half.
#[derive(Debug)]
pub struct SplitVote<E> {
    inner: E,
    key: Keypair,
    chain_id: String,
    plan: SplitPlan,
    /// Blocks proposed at each (height, round), as colluders' proposals show.
    proposed: BTreeMap<(u64, u64), BTreeSet<Hash>>,
    voted: BTreeSet<(u64, u64)>,
}

impl<E: Consensus> SplitVote<E> {
    pub fn new(inner: E, key: Keypair, chain_id: &str, plan: SplitPlan) -> Self {
        SplitVote {
            inner,
            key,
            chain_id: chain_id.into(),
            plan,
            proposed: BTreeMap::new(),
            voted: BTreeSet::new(),
        }
    }

    fn sign(&self, kind: MessageKind, height: u64, round: u64, payload: Vec<u8>) -> SignedMessage {
        let position = Position {
            kind,
            height,
            round,
        };
        SignedMessage::sign(&self.key, &self.chain_id, position, payload)
    }

    fn send_to(&self, nodes: &[NodeId], o: impl Fn(NodeId) -> Output, out: &mut Vec<Output>) {
        out.extend(nodes.iter().map(|n| o(*n)));
    }

    /// Prevotes and precommits `a` to half A and `b` to half B, once a round.
    fn split(&mut self, h: u64, r: u64, a: Option<Hash>, b: Option<Hash>, out: &mut Vec<Output>) {
        if !self.voted.insert((h, r)) {
            return;
        }
        for kind in [MessageKind::Prevote, MessageKind::Precommit] {
            let ma = self.sign(kind, h, r, vote_payload(a));
            let mb = self.sign(kind, h, r, vote_payload(b));
            let plan = self.plan.clone();
            self.send_to(
                &plan.half_a,
                |to| Output::SendMessage {
                    to,
                    message: ma.clone(),
                },
                out,
            );
            self.send_to(
                &plan.half_b,
                |to| Output::SendMessage {
                    to,
                    message: mb.clone(),
                },
                out,
            );
        }
    }

    /// Its own proposal: a twin block (1 ms later), the lower id to half A
    /// and the higher to half B, both to the colluders.
    fn twin_proposal(&mut self, block: Block, proposal: SignedMessage, out: &mut Vec<Output>) {
        let Some(body) = ProposalBody::decode(&proposal.payload) else {
            return;
        };
        let mut twin = block.clone();
        twin.header.timestamp_ms += 1;
        seal(&mut twin, &self.key, &self.chain_id);
        let twin_body = ProposalBody {
            block: twin.hash(),
            valid_round: body.valid_round,
        };
        let p = proposal.position;
        let twin_proposal = self.sign(p.kind, p.height, p.round, codec::encode(&twin_body));
        let mut sides = [(block, proposal), (twin, twin_proposal)];
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
        let (a, b) = (sides[0].0.hash(), sides[1].0.hash());
        self.proposed
            .entry((p.height, p.round))
            .or_default()
            .extend([a, b]);
        self.split(p.height, p.round, Some(a), Some(b), out);
    }

    /// A proposal heard: a colluder's twins are split once both are known; an
    /// honest proposer's block gets a vote from half A and nil from half B.
    fn heard(&mut self, m: &SignedMessage, out: &mut Vec<Output>) {
        let Some(body) = ProposalBody::decode(&m.payload) else {
            return;
        };
        let (h, r) = (m.position.height, m.position.round);
        let seen = self.proposed.entry((h, r)).or_default();
        seen.insert(body.block);
        if self.plan.colluder_keys.contains(&m.signer) {
            if seen.len() >= 2 {
                let mut it = seen.iter().copied();
                let (a, b) = (it.next(), it.next());
                self.split(h, r, a, b, out);
            }
        } else {
            self.split(h, r, Some(body.block), None, out);
        }
    }
}

impl<E: Consensus> Consensus for SplitVote<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let heard = match &input {
            Input::Message { message, .. } if message.position.kind == MessageKind::Proposal => {
                Some(message.clone())
            }
            _ => None,
        };
        let produced = matches!(input, Input::Produced { .. });
        let inner = self.inner.handle(input, headers);
        let mut out = Vec::new();
        let mut own_block = None;
        let mut own_proposal = None;
        for o in inner {
            match o {
                Output::Broadcast(b) if produced => own_block = Some(b),
                Output::BroadcastMessage(m)
                    if produced && m.position.kind == MessageKind::Proposal =>
                {
                    own_proposal = Some(m)
                }
                o if is_message(&o) => {}
                o => out.push(o),
            }
        }
        if let (Some(b), Some(m)) = (own_block, own_proposal) {
            self.twin_proposal(b, m, &mut out);
        }
        if let Some(m) = heard {
            self.heard(&m, &mut out);
        }
        out
    }
}
