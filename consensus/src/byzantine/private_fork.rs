//! The private-fork (51%) attack, after Nakamoto (2008, section 11): the attacker
//! pays a merchant on the public chain and, from the block before, secretly mines
//! a fork in which the same coins (the same nonce) go back to itself. It ignores
//! the public chain while it mines, and releases its fork once the payment has
//! the merchant's confirmations and the fork is heavier; the public chain then
//! reorgs, and the payment is gone. When the public chain leads by `give_up`
//! blocks the attacker takes the public chain back and mines honestly.

use crate::engine::{Consensus, ConsensusError, Headers, Input, Output};
use generals_chain::{Block, Hash, Header, Transaction};
use std::collections::HashMap;

/// What the attacker does: the payment, its double, and when to give up.
///
/// `double_spend` makes the two transactions from one key.
#[derive(Clone, Debug)]
pub struct PrivateForkPlan {
    /// The payment to the merchant, sent to the public network.
    pub payment: Transaction,
    /// The same coins back to the attacker, kept for the private fork.
    pub double: Transaction,
    /// Height of the tip at which the attacker pays and forks.
    pub at_height: u64,
    /// Blocks the merchant waits on top of the payment.
    pub confirmations: u64,
    /// Lead of the public chain at which the attacker gives up.
    pub give_up: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Waiting,
    Mining,
    Released,
    GaveUp,
}

/// A public block the attacker has seen since the fork.
#[derive(Clone, Debug)]
struct Seen {
    height: u64,
    work: u128,
    /// Height of the block holding the payment on this branch.
    paid_at: Option<u64>,
}

/// The private-fork attacker around an honest engine.
#[derive(Debug)]
pub struct PrivateFork<E> {
    inner: E,
    plan: PrivateForkPlan,
    phase: Phase,
    base: Option<Header>,
    private_work: u128,
    private_blocks: Vec<Block>,
    public: HashMap<Hash, Seen>,
    public_blocks: Vec<Block>,
    best_public: Option<Hash>,
}

impl PrivateForkPlan {
    /// A plan in which `key` (with no transaction sent yet, nonce 0) pays `amount`
    /// to `merchant`, and the double sends the same coins back to `key`.
    pub fn double_spend(
        key: &generals_chain::Keypair,
        merchant: generals_chain::PublicKey,
        amount: u64,
        chain_id: &str,
        at_height: u64,
        confirmations: u64,
        give_up: u64,
    ) -> PrivateForkPlan {
        let pay = |to, fee| {
            generals_chain::TxBody {
                chain_id: chain_id.to_string(),
                sender: key.public(),
                nonce: 0,
                fee,
                action: generals_chain::Action::Transfer { to, amount },
            }
            .sign(key)
        };
        PrivateForkPlan {
            payment: pay(merchant, 1),
            double: pay(key.public(), 2),
            at_height,
            confirmations,
            give_up,
        }
    }
}

impl<E: Consensus> PrivateFork<E> {
    pub fn new(inner: E, plan: PrivateForkPlan) -> Self {
        PrivateFork {
            inner,
            plan,
            phase: Phase::Waiting,
            base: None,
            private_work: 0,
            private_blocks: Vec::new(),
            public: HashMap::new(),
            public_blocks: Vec::new(),
            best_public: None,
        }
    }

    fn best_public(&self) -> Option<&Seen> {
        self.best_public.as_ref().and_then(|h| self.public.get(h))
    }

    /// Records a public block. One whose parent was not seen (mined before the
    /// fork began, or on another branch) is counted from its height.
    fn record_public(&mut self, block: &Block) {
        let Some(base) = &self.base else { return };
        let weight = self.inner.weight(&block.header);
        let parent = if block.header.parent == base.hash() {
            None
        } else {
            self.public.get(&block.header.parent).cloned()
        };
        let parent = parent.unwrap_or_else(|| {
            let behind = block.height().saturating_sub(base.height + 1) as u128;
            Seen {
                height: block.height().saturating_sub(1),
                work: behind * weight,
                paid_at: None,
            }
        });
        let pays = block.transactions.contains(&self.plan.payment);
        let seen = Seen {
            height: block.height(),
            work: parent.work + weight,
            paid_at: parent.paid_at.or(pays.then_some(block.height())),
        };
        let better = self.best_public().is_none_or(|b| seen.work > b.work);
        let hash = block.hash();
        self.public.insert(hash, seen);
        if better {
            self.best_public = Some(hash);
        }
    }

    fn confirmations(&self) -> u64 {
        match self.best_public() {
            Some(Seen {
                height,
                paid_at: Some(at),
                ..
            }) => height + 1 - at,
            _ => 0,
        }
    }

    /// Releases the fork if it is heavier and the merchant has been paid.
    fn maybe_release(&mut self) -> Vec<Output> {
        let public_work = self.best_public().map_or(0, |b| b.work);
        if self.confirmations() >= self.plan.confirmations && self.private_work > public_work {
            self.phase = Phase::Released;
            return self
                .private_blocks
                .drain(..)
                .map(Output::Broadcast)
                .collect();
        }
        Vec::new()
    }

    fn maybe_give_up(&mut self) -> Vec<Output> {
        let (Some(base), Some(best)) = (&self.base, self.best_public()) else {
            return Vec::new();
        };
        let private_height = base.height + self.private_blocks.len() as u64;
        if best.height >= private_height.saturating_add(self.plan.give_up) {
            self.phase = Phase::GaveUp;
            return self.public_blocks.drain(..).map(Output::Import).collect();
        }
        Vec::new()
    }
}

impl<E: Consensus> Consensus for PrivateFork<E> {
    delegate_rules!();

    fn handle(&mut self, input: Input, headers: &dyn Headers) -> Vec<Output> {
        match (&self.phase, input) {
            (Phase::Waiting, Input::NewTip { tip, now_ms })
                if tip.height >= self.plan.at_height =>
            {
                self.phase = Phase::Mining;
                self.base = Some(tip.clone());
                let mut out = vec![
                    Output::SendTransaction(self.plan.payment.clone()),
                    Output::Submit(self.plan.double.clone()),
                ];
                out.extend(self.inner.handle(Input::NewTip { tip, now_ms }, headers));
                out
            }
            (Phase::Mining, Input::BlockReceived { block, .. }) => {
                // The public chain is watched, not followed.
                if self.public.contains_key(&block.hash()) {
                    return Vec::new();
                }
                self.record_public(&block);
                self.public_blocks.push(block);
                let mut out = self.maybe_release();
                if self.phase == Phase::Mining {
                    out.extend(self.maybe_give_up());
                }
                out
            }
            (Phase::Mining, Input::Produced { block, .. }) => {
                // Mined in secret: imported here, sent to no one yet.
                self.private_work += self.inner.weight(&block.header);
                self.private_blocks.push(block.clone());
                let mut out = vec![Output::Import(block)];
                out.extend(self.maybe_release());
                out
            }
            (_, input) => self.inner.handle(input, headers),
        }
    }
}
