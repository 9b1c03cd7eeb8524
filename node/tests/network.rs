//! Real nodes on 127.0.0.1: they mine and converge, a SIGKILLed node restarts
//! and syncs, and a partition made through the admin API heals to the heaviest
//! chain with equal state commitments.

mod common;

use common::*;
use serde_json::json;

fn stop_mining(nodes: &[&Node]) {
    for n in nodes {
        let (code, v) = n.admin("/miner/stop", &json!({}));
        assert_eq!((code, v["mining"].as_bool()), (200, Some(false)));
    }
}

/// Mining stopped, two nodes may hold equally heavy tips that no rule breaks
/// (each keeps the one it saw first, as Bitcoin does). One more block, mined by
/// the first node, is heavier than both: every node then converges on it.
fn settle(nodes: &[&Node]) -> String {
    let (code, v) = nodes[0].admin("/mine", &json!({"blocks": 1, "full_speed": true}));
    assert_eq!(code, 200, "{v}");
    converge(nodes, nodes[0].height())
}

fn state_root(n: &Node) -> String {
    let tip = n.tip();
    n.get(&format!("/block/{tip}"))["state_root"]
        .as_str()
        .expect("root")
        .to_string()
}

#[test]
fn three_nodes_mine_converge_and_a_killed_one_catches_up() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 3);
    let a = Node::start(&homes[0], MINE);
    let b = Node::start(&homes[1], &[MINE, &["--bootstrap", &a.listen]].concat());
    let mut c = Node::start(
        &homes[2],
        &[MINE, &["--bootstrap", &a.listen, "--bootstrap", &b.listen]].concat(),
    );
    // All three mine, gossip and agree.
    c.wait(
        |s| s["height"].as_u64() >= Some(5) && s["peers"].as_u64() >= Some(2),
        "c to mine with two peers",
    );
    stop_mining(&[&a, &b, &c]);
    let tip = settle(&[&a, &b, &c]);
    assert_eq!(state_root(&a), state_root(&c));
    let producers: std::collections::BTreeSet<String> = (1..=a.height())
        .map(|h| {
            a.get(&format!("/block/{h}"))["producer"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(producers.len() >= 2, "only {producers:?} mined");

    // SIGKILL one; the others mine on; it restarts and syncs.
    c.kill();
    for n in [&a, &b] {
        n.admin("/miner/start", &json!({}));
    }
    let before = a.height();
    a.wait(|s| s["height"].as_u64() >= Some(before + 5), "a to mine on");
    stop_mining(&[&a, &b]);
    let after = settle(&[&a, &b]);
    assert_ne!(after, tip);
    let c = Node::start(&homes[2], &["--bootstrap", &a.listen]);
    converge(&[&a, &b, &c], before + 5);
    assert_eq!(state_root(&a), state_root(&c));
}

#[test]
fn a_partition_heals_to_the_heaviest_chain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 3);
    let a = Node::start(&homes[0], &[]);
    let b = Node::start(&homes[1], &["--bootstrap", &a.listen]);
    let c = Node::start(
        &homes[2],
        &["--bootstrap", &a.listen, "--bootstrap", &b.listen],
    );
    c.wait(|s| s["peers"].as_u64() >= Some(2), "c to connect");
    // A common start.
    let (code, _) = a.admin("/mine", &json!({"blocks": 2, "full_speed": true}));
    assert_eq!(code, 200);
    converge(&[&a, &b, &c], 2);

    // a | b c, cut on both sides.
    for peer in [&b.peer_id, &c.peer_id] {
        assert_eq!(a.admin("/admin/block", &json!({ "peer_id": peer })).0, 200);
    }
    for n in [&b, &c] {
        assert_eq!(
            n.admin("/admin/block", &json!({ "peer_id": a.peer_id })).0,
            200
        );
    }
    a.wait(|s| s["peers"].as_u64() == Some(0), "a to be cut off");
    // Both sides mine: a three blocks, b and c six between them.
    assert_eq!(
        a.admin("/mine", &json!({"blocks": 3, "full_speed": true}))
            .0,
        200
    );
    assert_eq!(
        b.admin("/mine", &json!({"blocks": 3, "full_speed": true}))
            .0,
        200
    );
    // c builds on b's blocks, so the heavier side has one chain, not two ties.
    c.wait(|s| s["height"].as_u64() >= Some(5), "c to take b's blocks");
    assert_eq!(
        c.admin("/mine", &json!({"blocks": 3, "full_speed": true}))
            .0,
        200
    );
    converge(&[&b, &c], 8);
    assert_ne!(a.tip(), b.tip());
    let heavy = b.status()["weight"]
        .as_str()
        .expect("weight")
        .parse::<u128>()
        .expect("u128");
    let light = a.status()["weight"]
        .as_str()
        .expect("weight")
        .parse::<u128>()
        .expect("u128");
    assert!(heavy > light);

    // Heal: everyone ends on the heavier side's chain, with one state.
    for peer in [&b.peer_id, &c.peer_id] {
        assert_eq!(
            a.admin("/admin/unblock", &json!({ "peer_id": peer })).0,
            200
        );
    }
    for n in [&b, &c] {
        assert_eq!(
            n.admin("/admin/unblock", &json!({ "peer_id": a.peer_id }))
                .0,
            200
        );
    }
    let tip = converge(&[&a, &b, &c], 8);
    assert_eq!(tip, b.tip());
    assert_eq!(state_root(&a), state_root(&b));
    let tips = a.get("/tips");
    assert!(
        tips.as_array()
            .expect("tips")
            .iter()
            .any(|t| t["status"] == "valid-fork"),
        "a keeps its old branch as a fork: {tips}"
    );
    // The admin calls need the token.
    assert_eq!(
        a.post("/admin/block", &json!({ "peer_id": b.peer_id })).0,
        401
    );
}

#[test]
fn the_api_answers_bad_requests_with_json_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let homes = homes(tmp.path(), 1);
    let a = Node::start(&homes[0], &[]);
    for (path, code) in [
        ("/block/999999", 404),
        ("/block/zz", 400),
        ("/account/12", 400),
        ("/nowhere", 404),
    ] {
        let (got, v) = a.get_status(path);
        assert_eq!(got, code, "{path}");
        assert!(v["error"].is_string(), "{path}: {v}");
    }
    for (body, code) in [
        (json!({"nonsense": 1}), 400),
        (json!({"hex": "zz"}), 400),
        (json!({"hex": "00"}), 400),
    ] {
        let (got, v) = a.post("/tx", &body);
        assert_eq!(got, code, "{body}");
        assert!(v["error"].is_string());
    }
    assert_eq!(
        a.admin("/mine", &json!({"blocks": 0, "full_speed": true}))
            .0,
        400
    );
    // A signed transfer from a funded dev account goes in and gets mined.
    let dev = generals_chain::Keypair::dev("dev-0");
    let to = generals_chain::Keypair::dev("dev-1").public();
    let chain_id = a.status()["chain_id"].as_str().expect("chain").to_string();
    let tx = generals_chain::TxBody {
        chain_id,
        sender: dev.public(),
        nonce: 0,
        fee: 5,
        action: generals_chain::Action::Transfer { to, amount: 1234 },
    }
    .sign(&dev);
    let (code, v) = a.post("/tx", &json!({ "tx": tx }));
    assert_eq!(code, 200, "{v}");
    assert_eq!(a.get("/mempool").as_array().map(Vec::len), Some(1));
    let (code, v) = a.post("/tx", &json!({ "tx": tx }));
    assert_eq!(code, 422, "{v}");
    assert_eq!(
        a.admin("/mine", &json!({"blocks": 1, "full_speed": true}))
            .0,
        200
    );
    let acct = a.get(&format!("/account/{to}"));
    assert_eq!(acct["balance"].as_u64(), Some(1_000_000_000 + 1234));
    let metrics = a.client_text("/metrics");
    assert!(metrics.contains("generals_height"), "{metrics}");
}
