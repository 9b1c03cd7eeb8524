//! The simulator's attacks on real processes (`generals-testnet up --byzantine
//! N=NAME --twin N`), each doing what the simulator says it does:
//!
//! - a 60% private-fork miner reverts a payment the merchant saw 2 deep;
//! - a proof-of-stake equivocator, whose two blocks a slot go to two halves of
//!   its peers over the direct protocol, is slashed and jailed, no honest one;
//! - 2 of 4 BFT split voters, with the honest two cut apart, make the honest
//!   two decide different blocks; 1 of 4 never does;
//! - a proof-of-authority clone (a twin holding another node's key) is caught
//!   sealing twice and voted out.

mod common;
use common::{serial, wait_for, Net};

fn height(net: &Net, i: usize) -> u64 {
    net.get(i, "/status")["height"].as_u64().unwrap_or(0)
}

fn hash_at(net: &Net, i: usize, h: u64) -> Option<String> {
    net.get(i, &format!("/block/{h}"))["hash"]
        .as_str()
        .map(String::from)
}

/// The first height at which nodes `a` and `b` hold different blocks.
fn first_conflict(net: &Net, a: usize, b: usize) -> Option<u64> {
    let top = height(net, a).min(height(net, b));
    (1..=top).find(
        |h| matches!((hash_at(net, a, *h), hash_at(net, b, *h)), (Some(x), Some(y)) if x != y),
    )
}

/// How deep the payment was on the fork branches of node `i` (the deepest):
/// from the block that holds it to the branch's head, that block counted.
fn reverted_depth(net: &Net, i: usize, payment: &str) -> Option<u64> {
    let tips = net.get(i, "/tips");
    let mut deepest = None;
    for tip in tips
        .as_array()?
        .iter()
        .filter(|t| t["status"] == "valid-fork")
    {
        let head = tip["height"].as_u64()?;
        let mut hash = tip["hash"].as_str()?.to_string();
        for _ in 0..tip["branch_len"].as_u64()? {
            let b = net.get(i, &format!("/block/{hash}"));
            let pays = b["transactions"]
                .as_array()?
                .iter()
                .any(|t| t["hash"] == payment);
            if pays {
                let depth = head - b["height"].as_u64()? + 1;
                deepest = deepest.max(Some(depth));
                break;
            }
            hash = b["parent"].as_str()?.to_string();
        }
    }
    deepest
}

fn report(net: &Net) -> serde_json::Value {
    let out = net.run(&["report", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report --json")
}

#[test]
fn a_sixty_percent_private_fork_reverts_a_payment_seen_two_deep() {
    let _one = serial();
    let net = Net::up(&[
        "--nodes",
        "3",
        "--consensus",
        "pow",
        "--hashpower",
        "60,20,20",
        "--block-ms",
        "1000",
        "--byzantine",
        "0=private-fork",
    ]);
    let line = net
        .stdout
        .lines()
        .find(|l| l.contains("pays its merchant in transaction"))
        .unwrap_or_else(|| panic!("up names the payment: {}", net.stdout));
    let payment = line
        .split_whitespace()
        .map(|w| w.trim_end_matches(':'))
        .find(|w| w.len() == 64)
        .expect("a transaction hash")
        .to_string();
    // The payment lands on the merchant's (node 1's) chain, then the attacker's
    // heavier fork replaces it: it is gone, and the branch that held it stays
    // in the merchant's block tree as a fork.
    let depth = wait_for(50, "the payment confirmed and then reverted", || {
        let t = net.get(1, &format!("/tx/{payment}"));
        let gone = t["error"]
            .as_str()
            .is_some_and(|e| e.contains("no transaction"));
        if !gone {
            return None;
        }
        reverted_depth(&net, 1, &payment)
    });
    assert!(depth >= 2, "the merchant saw the payment only {depth} deep");
    // For good: the fork holds the same coins paid back to the attacker.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let t = net.get(1, &format!("/tx/{payment}"));
    assert!(t["error"].is_string(), "the payment came back: {t}");
    // dev-1, the merchant `up` names when `--merchant` is left out, has what
    // the genesis gave it and no more.
    let dev_1 = generals_chain::Keypair::dev("dev-1").public().to_hex();
    let merchant = net.get(1, &format!("/account/{dev_1}"));
    assert_eq!(merchant["balance"], 1_000_000_000u64, "{merchant}");
    assert_eq!(net.get(0, "/status")["byzantine"], "private-fork");
    // The attacker's metrics count the blocks it kept and then released. The
    // fork was at least 2 deep, but the block that made it heavier goes out
    // the moment it is mined, never kept: so at least one was withheld (two
    // only when the fork's blocks weigh no more than the public chain's,
    // which difficulty retargeting does not promise), and every withheld
    // block went out. An honest node withheld none.
    let withheld = common::metric(&net.apis[0], "generals_blocks_withheld_total");
    let released = common::metric(&net.apis[0], "generals_blocks_released_total");
    assert!(withheld >= Some(1.0), "withheld {withheld:?}");
    assert_eq!(released, withheld, "released {released:?}");
    let honest = common::metric(&net.apis[1], "generals_blocks_withheld_total");
    assert_eq!(honest, Some(0.0));
}

#[test]
fn a_proof_of_stake_equivocator_is_slashed_and_jailed_and_no_honest_validator_is() {
    let _one = serial();
    let net = Net::up(&[
        "--nodes",
        "4",
        "--consensus",
        "pos",
        "--byzantine",
        "3=equivocate",
    ]);
    let offender = net.get(3, "/status")["validator"]
        .as_str()
        .expect("key")
        .to_string();
    let validators = wait_for(50, "the equivocator jailed", || {
        let v = net.get(0, "/validators");
        let jailed = v["validators"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["key"] == offender.as_str() && x["jailed"] == true);
        jailed.then_some(v)
    });
    for v in validators["validators"].as_array().expect("validators") {
        if v["key"] != offender.as_str() {
            assert_eq!(v["jailed"], false, "an honest one was jailed: {validators}");
        }
    }
    let evidence = net.get(1, "/evidence");
    assert!(
        evidence["included"].as_array().is_some_and(|e| e
            .iter()
            .any(|x| x["offender"] == offender.as_str() && x["offence"] == "double proposal")),
        "{evidence}"
    );
}

/// A BFT testnet of 4 with these split voters, honest until height 8, and
/// the honest nodes 0 and 1 cut apart before then. (Were the cut to come
/// after the split voters start, the honest nodes would hear both their
/// votes, jail them, and no conflict could follow: on a loaded machine `up`
/// to `partition` can take seconds, so the voters wait for height 8.)
fn split_voters_with_the_honest_cut(byzantine: &str) -> Net {
    let net = Net::up(&[
        "--nodes",
        "4",
        "--consensus",
        "bft",
        "--byzantine",
        byzantine,
        "--from-height",
        "8",
    ]);
    let cut = net.run(&["partition", "0", "1"]);
    assert!(
        cut.status.success(),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
    let at = height(&net, 0);
    assert!(
        at < 8,
        "the cut came at height {at}, after the split voters began"
    );
    net
}

#[test]
fn two_of_four_split_voters_make_the_honest_two_decide_different_blocks() {
    let _one = serial();
    let net = split_voters_with_the_honest_cut("2=split-vote,3=split-vote");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let h = loop {
        if let Some(h) = first_conflict(&net, 0, 1) {
            break h;
        }
        if std::time::Instant::now() > deadline {
            // What each node saw, to tell a slow split from a stuck one.
            let seen: Vec<String> = (0..4)
                .map(|i| {
                    let s = net.get(i, "/status");
                    let m = common::metrics(&net.apis[i]);
                    let cut = common::metric_in(&m, "generals_peers_cut_off_total");
                    let rejected = common::metric_in(&m, "generals_rejected_messages_total");
                    format!(
                        "n{i}: height {} round {} peers {} byzantine {} cut off {cut:?} rejected {rejected:?}",
                        s["height"], s["round"], s["peers"], s["byzantine"]
                    )
                })
                .collect();
            // And the end of each node's log: a stall's cause is in there.
            let logs: Vec<String> = (0..4)
                .map(|i| {
                    let log = std::path::Path::new(&net.dir).join(format!("n{i}/node.log"));
                    let text = std::fs::read_to_string(log).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = &lines[lines.len().saturating_sub(25)..];
                    format!("--- n{i}\n{}", tail.join("\n"))
                })
                .collect();
            panic!(
                "no conflicting decisions in 90 s:\n{}\n{}",
                seen.join("\n"),
                logs.join("\n")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(h >= 1);
    assert_eq!(
        net.get(2, "/status")["byzantine"],
        "split-vote from height 8"
    );
    // `report` shows them too.
    let r = report(&net);
    assert_eq!(
        r["conflicts"][0]["nodes"],
        serde_json::json!(["n0", "n1"]),
        "{r}"
    );
    assert_eq!(r["nodes"][3]["role"], "split-vote");
}

#[test]
fn one_split_voter_of_four_never_makes_honest_nodes_disagree() {
    let _one = serial();
    let net = split_voters_with_the_honest_cut("3=split-vote");
    // The chain goes on, past rounds the split voter proposed in (one in four)...
    let start = height(&net, 0);
    wait_for(50, "eight more blocks on both cut-apart nodes", || {
        (height(&net, 0).min(height(&net, 1)) >= start + 8).then_some(())
    });
    // ... and no two honest nodes ever decided differently.
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        assert_eq!(first_conflict(&net, a, b), None, "nodes {a} and {b}");
    }
    let r = report(&net);
    assert_eq!(r["conflicts"], serde_json::json!([]), "{r}");
}

#[test]
fn a_proof_of_authority_clone_is_caught_and_voted_out() {
    let _one = serial();
    let net = Net::up(&["--nodes", "4", "--consensus", "poa", "--twin", "1"]);
    assert!(net.stdout.contains("twin of n1"), "{}", net.stdout);
    let cloned = net.get(1, "/status")["validator"]
        .as_str()
        .expect("key")
        .to_string();
    assert_eq!(net.get(4, "/status")["validator"], cloned.as_str());
    let authorities = wait_for(50, "the cloned authority voted out", || {
        let a = net.get(0, "/authorities");
        let keys: Vec<String> = a["authorities"]
            .as_array()?
            .iter()
            .filter_map(|x| x["key"].as_str().map(String::from))
            .collect();
        (!keys.is_empty() && !keys.contains(&cloned)).then_some(keys)
    });
    assert_eq!(authorities.len(), 3, "only the clone goes: {authorities:?}");
    let r = report(&net);
    assert_eq!(
        r["authorities"],
        serde_json::json!(["n0", "n2", "n3"]),
        "{r}"
    );
    assert_eq!(r["nodes"][4]["role"], "honest, twin of n1");
    let evidence = net.get(2, "/evidence");
    assert!(
        evidence["included"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x["offender"] == cloned.as_str())),
        "{evidence}"
    );
}
