//! A cartel of delegated-proof-of-stake producers: its members build only on
//! blocks of their own (on the longest chain of members' blocks they know,
//! whatever the node's fork choice says, never on an outsider's block), and
//! leave out the transactions of the accounts they censor. More than half of the producers outgrow the
//! others' chain and orphan every outsider's block; more than two thirds also
//! keep irreversibility moving on their own.

use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use generals_chain::{Block, Header, PublicKey};

/// Headers walked back from the tip to find a member's block.
const MAX_WALK: usize = 10_000;

#[derive(Debug)]
pub struct Cartel<E> {
    inner: E,
    /// Producers outside the cartel, whose blocks it never builds on.
    outsiders: Vec<PublicKey>,
    censored: Vec<PublicKey>,
    /// The head of the cartel's own chain: what its members build on.
    best: Option<Header>,
}

impl<E: Consensus> Cartel<E> {
    pub fn new(inner: E, outsiders: Vec<PublicKey>, censored: Vec<PublicKey>) -> Self {
        Cartel {
            inner,
            outsiders,
            censored,
            best: None,
        }
    }

    /// Takes `candidate` as the cartel's head if it is longer; true if so.
    fn offer(&mut self, candidate: Header) -> bool {
        let longer = self
            .best
            .as_ref()
            .is_none_or(|b| candidate.height > b.height);
        if longer {
            self.best = Some(candidate);
        }
        longer
    }

    /// The inner engine's steps on the cartel's head, when it changed.
    fn follow(&mut self, moved: bool, now_ms: u64, headers: &dyn Headers) -> Vec<Output> {
        match (&self.best, moved) {
            (Some(tip), true) => {
                let tip = tip.clone();
                self.handle_inner(Input::NewTip { tip, now_ms }, headers)
            }
            _ => Vec::new(),
        }
    }

    /// Hands `input` to the inner engine and follows the blocks it makes.
    fn handle_inner(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        let now_ms = match &input {
            Input::Produced { now_ms, .. } => Some(*now_ms),
            _ => None,
        };
        let mut out = self.inner.handle(input, headers);
        let made: Option<Block> = out.iter().find_map(|o| match o {
            Output::Import(b) => Some(b.clone()),
            _ => None,
        });
        if let (Some(b), Some(now_ms)) = (made, now_ms) {
            let moved = self.offer(b.header);
            out.extend(self.follow(moved, now_ms, headers));
        }
        out
    }

    /// The newest block at or below `tip` that no outsider produced.
    fn base(&self, tip: Header, headers: &dyn Headers) -> Header {
        let mut h = tip;
        for _ in 0..MAX_WALK {
            if h.height == 0 || !self.outsiders.contains(&h.producer) {
                return h;
            }
            match headers.header(&h.parent) {
                Some(p) => h = p,
                None => return h,
            }
        }
        h
    }
}

impl<E: Consensus> Consensus for Cartel<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        match input {
            Input::NewTip { tip, now_ms } => {
                let base = self.base(tip, headers);
                let moved = self.offer(base);
                if moved {
                    self.follow(true, now_ms, headers)
                } else {
                    Vec::new()
                }
            }
            Input::BlockReceived {
                from,
                block,
                now_ms,
            } => {
                let member = !self.outsiders.contains(&block.header.producer);
                let header = block.header.clone();
                let mut out = self.handle_inner(
                    Input::BlockReceived {
                        from,
                        block,
                        now_ms,
                    },
                    headers,
                );
                // Only a block that connects and follows the rules: a member
                // that took an orphan (its parent not yet here) as its head
                // could not work out its schedule and would stop producing.
                if member && self.inner.validate(&header, headers, now_ms).is_ok() {
                    let moved = self.offer(header);
                    out.extend(self.follow(moved, now_ms, headers));
                }
                out
            }
            other => self.handle_inner(other, headers),
        }
    }

    /// The cartel's blocks leave out the censored accounts' transactions.
    fn includes(&self, tx: &generals_chain::Transaction) -> bool {
        !self.censored.contains(&tx.body.sender)
    }
}
