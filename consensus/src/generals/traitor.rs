//! The traitors. The honest algorithms ([`super::om`], [`super::sm`]) ask this
//! module what a traitor sends; no loyal code path knows a strategy.
//!
//! Under SM the adversary is given the traitors' signing keys and no other
//! (pooled under `collude`, each its own otherwise). It can sign anything
//! with those, and copy any signed order a traitor received; it cannot make a
//! loyal general's signature, and every receiver checks every signature.

use super::signed::SignedOrder;
use super::{Order, Setup, Strategy};
use generals_chain::Keypair;
use std::collections::BTreeMap;

/// The order the colluding traitors want lieutenant `to` to obey. Against a
/// loyal commander: the opposite of its order (to break IC2). For a traitor
/// commander: attack for the first half of the loyal lieutenants, retreat for
/// the rest (to break IC1).
pub fn plan(setup: &Setup, to: usize) -> Order {
    if setup.loyal(0) {
        return setup.order.opposite();
    }
    let loyal = setup.loyal_lieutenants();
    match loyal.iter().position(|&g| g == to) {
        Some(i) if i >= loyal.len().div_ceil(2) => Order::Retreat,
        _ => Order::Attack,
    }
}

fn split(to: usize) -> Order {
    if to % 2 == 1 {
        Order::Attack
    } else {
        Order::Retreat
    }
}

/// What traitor `from` tells `to` under OM, having been told `held` (a traitor
/// commander: holding the order it was meant to give). `None`: nothing.
pub fn om_send(setup: &Setup, _from: usize, to: usize, held: Order) -> Option<Order> {
    match setup.strategy {
        Strategy::Split => Some(split(to)),
        Strategy::Lie => Some(held.opposite()),
        Strategy::Silent => None,
        Strategy::Collude => Some(plan(setup, to)),
    }
}

/// The traitors of an SM run, round by round.
pub struct SmAdversary<'a> {
    setup: &'a Setup,
    /// The traitors' keys: the only keys the adversary has.
    keys: BTreeMap<usize, Keypair>,
    /// Valid orders received in the round just delivered, by traitor.
    inbox: Vec<(usize, SignedOrder)>,
    /// Values each traitor has already passed on (split).
    relayed: BTreeMap<usize, Vec<Order>>,
}

impl std::fmt::Debug for SmAdversary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmAdversary")
            .field("keys of", &self.keys.keys().collect::<Vec<_>>())
            .field("strategy", &self.setup.strategy)
            .finish()
    }
}

impl<'a> SmAdversary<'a> {
    /// `keys` must hold the traitors' keys only; the caller hands them over.
    pub fn new(setup: &'a Setup, keys: BTreeMap<usize, Keypair>) -> SmAdversary<'a> {
        debug_assert!(keys.keys().all(|&g| !setup.loyal(g)));
        SmAdversary {
            setup,
            keys,
            inbox: Vec::new(),
            relayed: BTreeMap::new(),
        }
    }

    /// A valid order delivered to traitor `to`.
    pub fn receive(&mut self, to: usize, order: SignedOrder) {
        self.inbox.push((to, order));
    }

    /// What the traitors send in `round` (1: the commander's round), as
    /// (sender, receiver, order). Chains a receiver checks: a message of
    /// round k carries k signatures.
    pub fn send(&mut self, round: usize) -> Vec<(usize, usize, SignedOrder)> {
        let inbox = std::mem::take(&mut self.inbox);
        let (n, m) = (self.setup.generals, self.setup.m);
        let lieutenants = 1..n;
        let mut out = Vec::new();
        match self.setup.strategy {
            Strategy::Silent => {}
            Strategy::Split | Strategy::Lie if round == 1 => {
                if let Some(key) = self.keys.get(&0) {
                    for to in lieutenants {
                        let v = match self.setup.strategy {
                            Strategy::Split => split(to),
                            _ => self.setup.order.opposite(),
                        };
                        out.push((0, to, SignedOrder::new(v, 0, key)));
                    }
                }
            }
            Strategy::Split => {
                // Pass each new value on, attack to the odd-numbered and
                // retreat to the even-numbered, and only to them.
                for (t, order) in inbox {
                    let done = self.relayed.entry(t).or_default();
                    if order.chain.len() > m || done.contains(&order.value) {
                        continue;
                    }
                    done.push(order.value);
                    let signed = order.sign_onto(t, &self.keys[&t]);
                    for to in lieutenants.clone() {
                        if to != t && !order.signed_by(to) && split(to) == order.value {
                            out.push((t, to, signed.clone()));
                        }
                    }
                }
            }
            Strategy::Lie => {
                // Pass on every order with its value turned round: the
                // signatures under it were made over the other value.
                for (t, order) in inbox {
                    if order.chain.len() > m {
                        continue;
                    }
                    let forged = SignedOrder {
                        value: order.value.opposite(),
                        chain: order.chain.clone(),
                    }
                    .sign_onto(t, &self.keys[&t]);
                    for to in lieutenants.clone() {
                        if to != t && !order.signed_by(to) {
                            out.push((t, to, forged.clone()));
                        }
                    }
                }
            }
            Strategy::Collude => out = self.collude(round),
        }
        out
    }

    /// With a traitor commander, the pooled keys sign each loyal lieutenant's
    /// planned order under the longest chain of distinct traitors they have
    /// (at most m+1), delivered in the round that chain belongs to. A loyal
    /// lieutenant passes on what it gets only while the chain is at most m
    /// long, so with more than m traitors half the army never hears the other
    /// order. A loyal commander's order they cannot change: they keep quiet.
    fn collude(&self, round: usize) -> Vec<(usize, usize, SignedOrder)> {
        let Some(commander) = self.keys.get(&0) else {
            return Vec::new();
        };
        let signers: Vec<usize> = self.keys.keys().copied().collect();
        let length = signers.len().min(self.setup.m + 1);
        if round != length {
            return Vec::new();
        }
        let mut out = Vec::new();
        for to in self.setup.loyal_lieutenants() {
            let mut order = SignedOrder::new(plan(self.setup, to), 0, commander);
            for &t in &signers[1..length] {
                order = order.sign_onto(t, &self.keys[&t]);
            }
            out.push((signers[length - 1], to, order));
        }
        out
    }
}
