//! `generals-testnet up --on-demand`: four real nodes on a chain whose blocks
//! come only from `POST /forge`. A BFT block is proposed by the height's
//! proposer (any other node says who) and decided by the four; a
//! proof-of-authority block forged on one node reaches the others, which
//! follow its clock.

mod common;
use common::{wait_for, Net};

fn token(net: &Net, i: usize) -> String {
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(&net.dir).join("testnet.json")).expect("testnet.json"),
    )
    .expect("json");
    let home = state["nodes"][i]["home"].as_str().expect("home");
    std::fs::read_to_string(std::path::Path::new(home).join("admin_token"))
        .expect("token")
        .trim()
        .to_string()
}

/// `POST /forge` on node `i`: the status and the answer.
fn forge(net: &Net, i: usize, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
        .post(format!("{}/forge", net.apis[i]))
        .bearer_auth(token(net, i))
        .json(&body)
        .send()
        .expect("POST /forge");
    (r.status().as_u16(), r.json().expect("json"))
}

fn heights(net: &Net) -> Vec<u64> {
    (0..net.apis.len())
        .map(|i| net.get(i, "/status")["height"].as_u64().unwrap_or(0))
        .collect()
}

/// The node whose validator is `key`.
fn node_of(net: &Net, key: &str) -> usize {
    (0..net.apis.len())
        .find(|i| net.get(*i, "/status")["validator"].as_str() == Some(key))
        .expect("a node with that validator")
}

#[test]
fn four_bft_nodes_decide_each_forged_block_and_others_name_the_proposer() {
    let net = Net::up(&["--nodes", "4", "--consensus", "bft", "--on-demand"]);
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    assert_eq!(heights(&net), vec![0; 4], "a block came unasked");
    for height in 1..=3u64 {
        let status = net.get(0, "/status");
        let proposer = status["bft"]["proposer"].as_str().expect("proposer");
        let at = node_of(&net, proposer);
        let other = (at + 1) % 4;
        let (code, answer) = forge(&net, other, serde_json::json!({}));
        assert_eq!(code, 409, "{answer}");
        let why = answer["error"].as_str().expect("error");
        assert!(
            why.contains(proposer) && why.contains("proposes height"),
            "{why}"
        );
        let (code, answer) = forge(&net, at, serde_json::json!({ "blocks": 1 }));
        assert_eq!(code, 200, "{answer}");
        let block = answer["blocks"][0].as_str().expect("block").to_string();
        // Every node decides it: one block at that height everywhere.
        wait_for(20, "every node at the forged height", || {
            (heights(&net) == vec![height; 4]).then_some(())
        });
        for i in 0..4 {
            assert_eq!(net.get(i, "/status")["tip"].as_str(), Some(&block[..]));
        }
    }
}

#[test]
fn generals_testnet_forge_asks_each_height_of_its_proposer() {
    for (kind, blocks) in [("bft", 4), ("pbft", 2)] {
        let net = Net::up(&["--nodes", "4", "--consensus", kind, "--on-demand"]);
        let out = net.run(&["forge", &blocks.to_string()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{kind}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text.lines().count(), blocks, "{kind}: {text}");
        assert_eq!(heights(&net), vec![blocks as u64; 4], "{kind}");
        // BFT's proposer turns with each height: more than one node forged.
        let named: std::collections::BTreeSet<&str> = text
            .lines()
            .map(|l| l.split_whitespace().next().unwrap_or(""))
            .collect();
        if kind == "bft" {
            assert!(named.len() > 1, "{text}");
        }
        let out = net.run(&["forge", "--node", "9"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("not a running node"));
    }
}

#[test]
fn a_poa_block_forged_on_one_node_reaches_the_others() {
    let net = Net::up(&["--nodes", "3", "--consensus", "poa", "--on-demand"]);
    std::thread::sleep(std::time::Duration::from_millis(1_000));
    assert_eq!(heights(&net), vec![0; 3], "a block came unasked");
    for (n, i) in [0usize, 1, 2].into_iter().enumerate() {
        let (code, answer) = forge(&net, i, serde_json::json!({}));
        assert_eq!(code, 200, "node {i}: {answer}");
        let want = n as u64 + 1;
        wait_for(20, "every node at the forged height", || {
            (heights(&net) == vec![want; 3]).then_some(())
        });
    }
}
