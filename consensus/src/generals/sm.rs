//! SM(m), the signed messages algorithm (section 4 of the paper). A loyal
//! general's signature cannot be forged, and anyone can verify it (A4): here
//! each order carries a chain of ed25519 signatures, the commander's first,
//! each over the order and the signatures before it. Every receiver verifies
//! the whole chain and refuses an order that does not verify.
//!
//! Rounds are synchronous (A3): an order signed k times belongs to round k,
//! and one that arrives in another round is refused.

pub use super::signed::SignedOrder;
use super::signed::{payload, DOMAIN};
use super::traitor::SmAdversary;
use super::{choice, Fate, Message, Order, Outcome, Setup};
use generals_chain::{Keypair, PublicKey};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The key every general signs with (derived from its number).
pub fn key(g: usize) -> Keypair {
    Keypair::dev(&format!("general-{g}"))
}

/// Checks an order as lieutenant `to` receives it in `round`; the reason if it
/// is refused. `seen` remembers signatures already verified in this run.
fn check(
    order: &SignedOrder,
    to: usize,
    round: usize,
    setup: &Setup,
    publics: &[PublicKey],
    seen: &mut HashMap<Vec<u8>, bool>,
) -> Result<(), String> {
    match order.chain.first() {
        None => return Err("no signature".into()),
        Some((g, _)) if *g != 0 => return Err(format!("signed first by {g}, not the commander")),
        _ => {}
    }
    if order.chain.len() != round {
        return Err(format!(
            "{} signatures in round {round}: out of time",
            order.chain.len()
        ));
    }
    if order.chain.len() > setup.m + 1 {
        return Err(format!("more than m+1 = {} signatures", setup.m + 1));
    }
    let mut signers = BTreeSet::new();
    for (k, (g, sig)) in order.chain.iter().enumerate() {
        if *g >= setup.generals || *g == to || !signers.insert(*g) {
            return Err(format!("signer {g} out of place"));
        }
        let p = payload(order.value, &order.chain[..k]);
        let mut memo = p.clone();
        memo.extend_from_slice(&(*g as u32).to_le_bytes());
        memo.extend_from_slice(&sig.0);
        let ok = *seen
            .entry(memo)
            .or_insert_with(|| publics[*g].verify(DOMAIN, &p, sig).is_ok());
        if !ok {
            return Err(format!("general {g}'s signature does not verify"));
        }
    }
    Ok(())
}

/// Runs SM(setup.m) with general 0 as the commander.
pub fn run(setup: &Setup) -> Outcome {
    let n = setup.generals;
    let keys: Vec<Keypair> = (0..n).map(key).collect();
    let publics: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
    // The traitors' keys go to the adversary; the loyal keep theirs.
    let traitor_keys = setup
        .traitors
        .iter()
        .map(|&g| (g, keys[g].clone()))
        .collect();
    let mut adversary = SmAdversary::new(setup, traitor_keys);
    let mut seen = HashMap::new();
    // V_i: the orders lieutenant i has received.
    let mut v: BTreeMap<usize, BTreeSet<Order>> = setup
        .loyal_lieutenants()
        .into_iter()
        .map(|g| (g, BTreeSet::new()))
        .collect();
    let mut messages = Vec::new();

    // (1) The commander signs and sends its order to every lieutenant.
    let mut outbox: Vec<(usize, usize, SignedOrder)> = if setup.loyal(0) {
        let order = SignedOrder::new(setup.order, 0, &keys[0]);
        (1..n).map(|to| (0, to, order.clone())).collect()
    } else {
        adversary.send(1)
    };
    // Orders carry at most m+1 signatures, so m+1 rounds end it.
    for round in 1..=setup.m + 1 {
        let mut next = Vec::new();
        for (from, to, order) in outbox {
            let fate = match check(&order, to, round, setup, &publics, &mut seen) {
                Ok(()) => Fate::Delivered,
                Err(why) => Fate::Refused(why),
            };
            let mut path = order.signers();
            if path.last() != Some(&from) {
                path.push(from);
            }
            messages.push(Message {
                round,
                to,
                path,
                value: order.value,
                fate: fate.clone(),
            });
            if fate != Fate::Delivered {
                continue;
            }
            if !setup.loyal(to) {
                adversary.receive(to, order);
                continue;
            }
            // (2) A new value goes into V_i and, if the order has at most m
            // signatures, on to every lieutenant that has not signed it.
            let vi = v.get_mut(&to).expect("a loyal lieutenant");
            if vi.insert(order.value) && order.chain.len() <= setup.m {
                let signed = order.sign_onto(to, &keys[to]);
                for other in 1..n {
                    if other != to && !order.signed_by(other) {
                        next.push((to, other, signed.clone()));
                    }
                }
            }
        }
        next.extend(adversary.send(round + 1));
        outbox = next;
    }
    // (3) With no more messages to come, each lieutenant obeys choice(V_i).
    Outcome {
        decisions: v.iter().map(|(&g, vi)| (g, choice(vi))).collect(),
        messages,
    }
}
