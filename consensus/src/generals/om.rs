//! OM(m), the oral messages algorithm (section 3 of the paper). A message's
//! contents are entirely under the control of its sender, and its receiver
//! knows who sent it (A1, A2); a message not sent is noticed, and taken as
//! retreat (A3). Loyal generals follow the algorithm; what a traitor sends is
//! asked of [`traitor::om_send`].

use super::{majority, traitor, Fate, Message, Order, Outcome, Setup};
use std::collections::BTreeMap;

/// Runs OM(setup.m) with general 0 as the commander.
pub fn run(setup: &Setup) -> Outcome {
    let mut messages = Vec::new();
    let lieutenants: Vec<usize> = (1..setup.generals).collect();
    let used = om(
        setup,
        setup.m,
        &[0],
        setup.order,
        &lieutenants,
        &mut messages,
    );
    // The recursion sends depth first; the trace reads round by round.
    messages.sort_by_key(|m: &Message| m.round);
    Outcome {
        decisions: used.into_iter().filter(|(g, _)| setup.loyal(*g)).collect(),
        messages,
    }
}

/// OM(m) with `path.last()` as the commander, holding `value` (for a relaying
/// lieutenant: what it was told), among `lieutenants`. Returns the value each
/// lieutenant uses for this instance.
fn om(
    setup: &Setup,
    m: usize,
    path: &[usize],
    value: Order,
    lieutenants: &[usize],
    messages: &mut Vec<Message>,
) -> BTreeMap<usize, Order> {
    let commander = *path.last().expect("a path starts at the commander");
    // (1) The commander sends its value to every lieutenant.
    let mut received = BTreeMap::new();
    for &l in lieutenants {
        let sent = if setup.loyal(commander) {
            Some(value)
        } else {
            traitor::om_send(setup, commander, l, value)
        };
        if let Some(v) = sent {
            messages.push(Message {
                round: path.len(),
                to: l,
                path: path.to_vec(),
                value: v,
                fate: Fate::Delivered,
            });
        }
        // OM(0), and (2) below: a lieutenant told nothing uses retreat.
        received.insert(l, sent.unwrap_or(Order::Retreat));
    }
    if m == 0 {
        return received;
    }
    // (2) Each lieutenant i acts as the commander in OM(m-1) to send the value
    // it received to each of the other lieutenants.
    let mut relayed: BTreeMap<usize, BTreeMap<usize, Order>> = BTreeMap::new();
    for &i in lieutenants {
        let others: Vec<usize> = lieutenants.iter().copied().filter(|&j| j != i).collect();
        let mut via = path.to_vec();
        via.push(i);
        relayed.insert(i, om(setup, m - 1, &via, received[&i], &others, messages));
    }
    // (3) Lieutenant i uses majority(v_1, ..., v_{n-1}): its own value from
    // the commander and the value each other lieutenant j relayed to it.
    lieutenants
        .iter()
        .map(|&i| {
            let mut values = vec![received[&i]];
            values.extend(
                lieutenants
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|j| relayed[j][&i]),
            );
            (i, majority(&values))
        })
        .collect()
}
