//! Delegated proof of stake on real processes: producers take turns; a
//! killed producer's slots are skipped and counted, and with more than a
//! third of the producers away no block becomes irreversible until they are
//! back; a double producer is caught and removed; stake voting for other
//! delegates moves them into the schedule.

mod common;

use common::{serial, wait_for, Net};
use std::collections::BTreeSet;

fn height(net: &Net, i: usize) -> u64 {
    net.get(i, "/status")["height"].as_u64().unwrap_or(0)
}

fn irreversible(net: &Net, i: usize) -> u64 {
    net.get(i, "/delegates")["irreversible"]
        .as_u64()
        .unwrap_or(0)
}

/// Node `i`'s validator key.
fn key(net: &Net, i: usize) -> String {
    net.get(i, "/status")["validator"]
        .as_str()
        .expect("a validator key")
        .to_string()
}

/// The delegate row of `key` at node `at`.
fn row(net: &Net, at: usize, key: &str) -> serde_json::Value {
    net.get(at, "/delegates")["delegates"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["key"] == key)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn producers_take_turns_and_irreversibility_stops_with_half_away() {
    let _one = serial();
    let net = Net::up(&["--nodes", "4", "--consensus", "dpos"]);
    wait_for(40, "height 10", || (height(&net, 0) >= 10).then_some(()));
    let producers: BTreeSet<String> = (1..=8)
        .filter_map(|h| {
            net.get(0, &format!("/block/{h}"))["producer"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert_eq!(
        producers.len(),
        4,
        "all four produced in two rounds: {producers:?}"
    );
    wait_for(20, "an irreversible block", || {
        (irreversible(&net, 0) > 0).then_some(())
    });

    // Two of four away: blocks go on at half the rate, their slots are
    // missed, and nothing becomes irreversible (more than 2/3 must build).
    assert!(net.run(&["kill", "2"]).status.success());
    assert!(net.run(&["kill", "3"]).status.success());
    // The last blocks of the two killed can still become irreversible once
    // both left have built on them (within two rounds, 4 blocks: two a
    // round); after that nothing does.
    let h = height(&net, 0);
    wait_for(30, "4 blocks from the two left", || {
        (height(&net, 0) >= h + 4).then_some(())
    });
    let (h, lib) = (height(&net, 0), irreversible(&net, 0));
    wait_for(30, "4 more blocks from the two left", || {
        (height(&net, 0) >= h + 4).then_some(())
    });
    assert_eq!(irreversible(&net, 0), lib, "irreversibility stood still");
    let missing = net.get(0, "/delegates")["delegates"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["missed"].as_u64() >= Some(2))
        .count();
    assert_eq!(missing, 2, "the two away missed their slots");

    assert!(net.run(&["restart", "2"]).status.success());
    assert!(net.run(&["restart", "3"]).status.success());
    wait_for(40, "irreversibility to resume", || {
        (irreversible(&net, 0) > lib + 2).then_some(())
    });
}

#[test]
fn a_double_producer_is_caught_and_removed_and_a_standby_takes_its_place() {
    let _one = serial();
    let net = Net::up(&[
        "--nodes",
        "5",
        "--consensus",
        "dpos",
        "--producers",
        "4",
        "--stakes",
        "1000,2000,1000,1000,1000",
        "--byzantine",
        "1=equivocate",
    ]);
    let offender = key(&net, 1);
    wait_for(60, "the double producer removed", || {
        (row(&net, 0, &offender)["removed"] == true).then_some(())
    });
    let evidence = net.get(0, "/evidence");
    assert!(
        evidence["included"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["offender"] == offender.as_str()),
        "{evidence}"
    );
    let validators = net.get(0, "/validators");
    let jailed: Vec<&str> = validators["validators"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["jailed"] == true)
        .filter_map(|v| v["key"].as_str())
        .collect();
    assert_eq!(
        jailed,
        vec![offender.as_str()],
        "only the double producer is jailed"
    );
    // The round after, the fifth delegate produces in its place.
    wait_for(20, "four producers without the offender", || {
        let d = net.get(0, "/delegates");
        let schedule: Vec<&str> = d["schedule"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str())
            .collect();
        (schedule.len() == 4 && !schedule.contains(&offender.as_str())).then_some(())
    });
}

#[test]
fn stake_voting_for_a_standby_delegate_puts_it_in_the_schedule() {
    let _one = serial();
    let net = Net::up(&[
        "--nodes",
        "5",
        "--consensus",
        "dpos",
        "--producers",
        "3",
        "--stakes",
        "1000,1000,1000,10,3000",
    ]);
    let standby = key(&net, 3);
    assert_eq!(row(&net, 0, &standby)["producing"], false);
    // dev-0 bonds 5000 and votes with it for the standby delegate.
    let dev = generals_chain::Keypair::dev("dev-0");
    let submit = |action: generals_chain::Action| {
        let chain_id = net.get(0, "/status")["chain_id"]
            .as_str()
            .expect("chain id")
            .to_string();
        let nonce = net.get(0, &format!("/account/{}", dev.public()))["next_nonce"]
            .as_u64()
            .expect("nonce");
        let tx = generals_chain::TxBody {
            chain_id,
            sender: dev.public(),
            nonce,
            fee: 1,
            action,
        }
        .sign(&dev);
        let r = reqwest::blocking::Client::new()
            .post(format!("{}/tx", net.apis[0]))
            .json(&serde_json::json!({ "tx": tx }))
            .send()
            .expect("POST /tx");
        (r.status().is_success(), r.text().unwrap_or_default())
    };
    let (ok, text) = submit(generals_chain::Action::Bond { amount: 5_000 });
    assert!(ok, "{text}");
    let standby_key: generals_chain::PublicKey =
        serde_json::from_value(serde_json::json!(standby)).expect("a key");
    let (ok, text) = submit(generals_chain::Action::Vote {
        delegates: vec![standby_key],
    });
    assert!(ok, "{text}");
    // Named twice: refused by the node's mempool, with the reason.
    let (ok, text) = submit(generals_chain::Action::Vote {
        delegates: vec![standby_key, standby_key],
    });
    assert!(!ok && text.contains("named twice"), "{text}");
    wait_for(30, "the standby among the producers", || {
        (row(&net, 0, &standby)["producing"] == true).then_some(())
    });
    let h = height(&net, 0);
    wait_for(20, "a block by the delegate voted in", || {
        (h..=height(&net, 0))
            .any(|x| net.get(0, &format!("/block/{x}"))["producer"] == standby.as_str())
            .then_some(())
    });
}
