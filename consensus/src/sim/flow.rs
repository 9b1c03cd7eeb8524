//! How messages land, the workload, and how a run settles: once the chain
//! reaches its height the network turns quiet and the run ends when the
//! honest nodes agree.

use super::config::Attack;
use super::log::EventKind;
use super::{Ev, Msg, Simulator, CHAIN_ID};
use crate::core::TipChange;
use crate::engine::{Input, NodeId};
use generals_chain::{Action, Block, Keypair, Transaction, TxBody};
use rand::Rng;

/// How long a run mines on, in simulated time, to settle before it ends
/// split: honest nodes that finalized different branches never agree.
const SETTLE_LIMIT_MS: u64 = 600_000;

impl Simulator {
    pub(super) fn deliver(&mut self, from: NodeId, to: NodeId, msg: Msg) {
        let now_ms = self.local(to);
        match msg {
            Msg::Block(block) => {
                if self.nodes[to].core.knows(&block.hash()) {
                    return;
                }
                let kind = EventKind::Received {
                    from,
                    hash: block.hash(),
                    height: block.height(),
                };
                self.log.record(now_ms, Some(to), &kind);
                self.nodes[to].published.insert(block.hash());
                self.step(
                    to,
                    Input::BlockReceived {
                        from,
                        block,
                        now_ms,
                    },
                    Some(from),
                );
            }
            Msg::Tx(tx) => self.submit(to, tx),
            Msg::Consensus(message) => {
                self.step(
                    to,
                    Input::Message {
                        from,
                        message,
                        now_ms,
                    },
                    Some(from),
                );
            }
            Msg::Tip(hash) => {
                if let Some(missing) = self.nodes[to].core.missing_ancestor(&hash) {
                    self.send(to, from, Msg::GetBlock(missing));
                }
            }
            Msg::GetBlock(hash) => {
                if !self.nodes[to].published.contains(&hash) {
                    return;
                }
                // A nothing-at-stake validator keeps both sides of a split alive:
                // it passes on no one's blocks but its own (a network proxy, so
                // the honest hosts stay as they are).
                if let Some(Attack::NothingAtStake { nodes }) = &self.config.attack {
                    let own = self.nodes[to]
                        .core
                        .block(&hash)
                        .is_some_and(|b| b.header.producer == self.nodes[to].key.public());
                    if nodes.contains(&to) && !own {
                        return;
                    }
                }
                if let Some(b) = self.nodes[to].core.block(&hash) {
                    self.send(to, from, Msg::Block(b));
                }
            }
        }
    }

    /// Logs and counts a move of a node's tip; the chain may now be long
    /// enough for the run to settle.
    pub(super) fn tip_changed(
        &mut self,
        node: NodeId,
        change: &TipChange,
        in_turn: &[Option<bool>],
    ) {
        let now_ms = self.local(node);
        if !change.undone.is_empty() {
            self.stats.reorgs += 1;
            self.stats.max_reorg_depth = self.stats.max_reorg_depth.max(change.undone.len());
            let kind = EventKind::Reorg {
                depth: change.undone.len(),
                from: change.from.hash,
                to: change.to.hash,
                height: change.to.height,
            };
            self.log.record(now_ms, Some(node), &kind);
        }
        for (i, b) in change.applied.iter().enumerate() {
            let kind = EventKind::Imported {
                hash: b.hash(),
                height: b.height(),
                parent: b.header.parent,
                producer: b.header.producer,
                in_turn: in_turn.get(i).copied().flatten(),
            };
            self.log.record(now_ms, Some(node), &kind);
        }
        self.watch_payment(node, change);
        self.height_reached(node, change.to.height);
        // The run's height is the honest chain's: an attacker's private tip
        // reaching it first would end the run with its blocks unpublished.
        let attacker = self
            .config
            .attack
            .as_ref()
            .is_some_and(|a| a.nodes().contains(&node));
        if self.mining && change.to.height >= self.config.blocks && !attacker {
            self.settle();
        }
    }

    /// The chain reached its height: the network turns quiet (no cuts, no loss)
    /// and mining goes on until the honest nodes agree on a tip and still agree
    /// once every message in flight has landed (a tie between equal branches is
    /// only broken by a next block).
    fn settle(&mut self) {
        if !self.settling {
            self.settling = true;
            self.settle_since = self.at();
            self.net.quiet();
            let t = self.at();
            self.log.record(
                t,
                None,
                &EventKind::Network {
                    change: "Quiet".into(),
                },
            );
        }
        if self.mining && self.agreed() {
            self.pause_mining();
            let slowest = std::iter::once(&self.config.net)
                .chain(self.config.links.iter().map(|(_, _, l)| l))
                .map(|l| l.latency_ms.saturating_add(l.jitter_ms))
                .max()
                .unwrap_or(0);
            let wait = slowest.saturating_mul(4).saturating_add(1);
            self.schedule(wait, Ev::Verify);
        } else if self.at().saturating_sub(self.settle_since) > SETTLE_LIMIT_MS {
            // Honest nodes that finalized different branches never agree:
            // the run ends split (reported as not converged).
            self.pause_mining();
            self.end = self.now;
        }
    }

    /// The merchant is the reference (first honest) node: it sees the payment
    /// confirmed once it lies `confirmations` deep in its main chain.
    fn watch_payment(&mut self, node: NodeId, change: &TipChange) {
        let (
            Some((payment, _)),
            Some(Attack::PrivateFork {
                node: attacker,
                confirmations,
                ..
            }),
        ) = (self.attack_txs, &self.config.attack)
        else {
            return;
        };
        let reference = usize::from(*attacker == 0);
        if node != reference {
            return;
        }
        let holds = |b: &Block| b.transactions.iter().any(|t| t.hash() == payment);
        if change.undone.iter().any(holds) {
            self.payment_at = None;
        }
        if let Some(b) = change.applied.iter().find(|b| holds(b)) {
            self.payment_at = Some(b.height());
        }
        if let Some(at) = self.payment_at {
            if change.to.height + 1 >= at.saturating_add(*confirmations) {
                self.merchant_confirmed = true;
            }
        }
    }

    fn agreed(&self) -> bool {
        let attackers = self
            .config
            .attack
            .as_ref()
            .map(Attack::nodes)
            .unwrap_or_default();
        let mut honest = (0..self.nodes.len()).filter(|i| !attackers.contains(i));
        let first = honest.next().map(|i| self.nodes[i].core.tip().hash);
        honest.all(|i| Some(self.nodes[i].core.tip().hash) == first)
    }

    pub(super) fn verify(&mut self) {
        if self.agreed() {
            self.end = self.now.saturating_add(self.config.quiet_ms);
            return;
        }
        // Still split: mine on, from every node's current job.
        self.mining = true;
        for n in 0..self.nodes.len() {
            if let Some(job) = self.nodes[n].job.clone() {
                self.start_mining(n, job);
            }
        }
    }

    fn pause_mining(&mut self) {
        self.mining = false;
        for n in &mut self.nodes {
            n.attempt += 1;
        }
    }

    /// `key`'s wallet signs `action` with the nonce its node gives (as a
    /// wallet asks its node for the pending nonce) and hands it to `node`,
    /// which gossips it if taken. Returns the transaction and whether the
    /// node took it.
    pub(super) fn wallet_sends(
        &mut self,
        node: NodeId,
        key: &Keypair,
        action: Action,
    ) -> (Transaction, bool) {
        let nonce = self.nodes[node].core.next_nonce(&key.public());
        let tx = TxBody {
            chain_id: CHAIN_ID.into(),
            sender: key.public(),
            nonce,
            fee: 1,
            action,
        }
        .sign(key);
        let taken = self.nodes[node].core.submit(tx.clone()).is_ok();
        if taken {
            let now_ms = self.local(node);
            let input = Input::Transaction {
                tx: tx.clone(),
                now_ms,
            };
            self.step(node, input, None);
            self.send_all(node, Msg::Tx(tx.clone()));
        }
        (tx, taken)
    }

    pub(super) fn workload(&mut self) {
        if self.config.tps <= 0.0 {
            self.workload_on = false;
            return;
        }
        let i = self.rng.gen_range(0..self.wallets.len());
        let j = self.rng.gen_range(0..self.wallets.len());
        let node = self.rng.gen_range(0..self.nodes.len());
        let amount = self.rng.gen_range(1..1_000);
        let to = self.wallets[j].public();
        let key = self.wallets[i].clone();
        if self
            .wallet_sends(node, &key, Action::Transfer { to, amount })
            .1
        {
            self.stats.workload_sent[i] += 1;
        }
        if self.mining {
            let d = self.exp_delay(1000.0 / self.config.tps);
            self.schedule(d, Ev::Workload);
        }
    }
}
