//! Stake and elections: bonding, unbonding and votes for delegates (signed
//! transactions), and the tables of validators, authorities and delegates.

use crate::client::Client;
use crate::{keys, parse_amount, parse_key, print};
use anyhow::Result;
use generals_chain::{Action, TxBody};
use generals_node::api::types::*;
use serde_json::json;

/// Signs `action` from `from` with the next nonce and submits it.
fn submit(
    c: &Client,
    from: &str,
    fee: u64,
    action: Action,
) -> Result<(Submitted, u64, generals_chain::PublicKey)> {
    let key = keys::load(from)?;
    let status: Status = c.get("/status")?;
    let nonce = c
        .get::<AccountView>(&format!("/account/{}", key.public()))?
        .next_nonce;
    let tx = TxBody {
        chain_id: status.chain_id,
        sender: key.public(),
        nonce,
        fee,
        action,
    }
    .sign(&key);
    let s: Submitted = c.post("/tx", &json!({ "tx": tx }))?;
    Ok((s, nonce, key.public()))
}

/// `generals stake` and `generals unstake`: a bond or unbond transaction.
pub(crate) fn stake(
    c: &Client,
    json: bool,
    amount: &str,
    from: &str,
    fee: &str,
    bond: bool,
) -> Result<()> {
    let amount = parse_amount("amount", amount)?;
    let fee = parse_amount("fee", fee)?;
    let action = if bond {
        Action::Bond { amount }
    } else {
        Action::Unbond { amount }
    };
    let (s, nonce, sender) = submit(c, from, fee, action)?;
    print(json, &s, |s| {
        println!(
            "{} {amount} for {}: transaction {} (nonce {nonce})",
            if bond { "bonding" } else { "unbonding" },
            sender,
            s.hash
        );
        if !bond {
            println!(
                "the coins stay slashable and return to the balance after the unbonding delay"
            );
        }
    })
}

pub(crate) fn print_validators(v: &Validators) {
    println!(
        "{:<66} {:<8} {:>10} {:>7} {:>10} {:>9}   (slashing {})",
        "validator",
        "status",
        "bonded",
        "share",
        "unbonding",
        "proposed",
        if v.slashing { "on" } else { "off" }
    );
    for x in &v.validators {
        let name = x
            .name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        println!(
            "{:<66} {:<8} {:>10} {:>6.1}% {:>10} {:>9}{name}",
            x.key.to_string(),
            x.status,
            x.bonded,
            100.0 * x.share,
            x.unbonding,
            x.proposed
        );
    }
    println!(
        "total bonded {}; proposed counts the last 64 blocks",
        v.total_bonded
    );
}

pub(crate) fn print_authorities(a: &Authorities) {
    println!(
        "{:<66} {:>7} {:>9} {:>7}   (last {} blocks)",
        "authority", "sealed", "in turn", "missed", a.window
    );
    for x in &a.authorities {
        let share = if x.sealed == 0 {
            "-".to_string()
        } else {
            format!("{:.0}%", 100.0 * x.in_turn as f64 / x.sealed as f64)
        };
        println!("{:<66} {:>7} {:>9} {:>7}", x.key, x.sealed, share, x.missed);
    }
    for p in &a.proposals {
        println!(
            "proposal: {} {}",
            if p.add { "add" } else { "remove" },
            p.candidate
        );
    }
}

/// `generals vote`: the sender's bonded stake votes for `delegates`.
pub(crate) fn vote(
    c: &Client,
    json: bool,
    delegates: &[String],
    from: &str,
    fee: &str,
) -> Result<()> {
    let fee = parse_amount("fee", fee)?;
    let keys = delegates
        .iter()
        .map(|d| parse_key(d))
        .collect::<Result<Vec<_>>>()?;
    let action = Action::Vote {
        delegates: keys.clone(),
    };
    if let Some(problem) = action.vote_problem() {
        anyhow::bail!("{problem}");
    }
    let (s, nonce, sender) = submit(c, from, fee, action)?;
    print(json, &s, |s| {
        println!(
            "{sender} votes for {} delegates: transaction {} (nonce {nonce}); its bonded stake counts from the round after the block that carries it",
            keys.len(),
            s.hash
        );
    })
}

pub(crate) fn print_delegates(d: &Delegates) {
    println!(
        "round {}, {} producers, last irreversible height {}",
        d.round,
        d.schedule.len(),
        d.irreversible
    );
    println!(
        "{:<66} {:>12} {:<9} {:>8} {:>7}",
        "delegate", "votes", "role", "produced", "missed"
    );
    for x in &d.delegates {
        let role = if x.removed {
            "removed"
        } else if x.producing {
            "producer"
        } else {
            "standby"
        };
        let name = x
            .name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        println!(
            "{:<66} {:>12} {:<9} {:>8} {:>7}{name}",
            x.key.to_string(),
            x.votes,
            role,
            x.produced,
            x.missed
        );
    }
    let order: Vec<String> = d
        .schedule
        .iter()
        .map(|k| k.to_string()[..8].to_string())
        .collect();
    println!("this round's order: {}", order.join(" "));
}
