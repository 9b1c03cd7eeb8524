//! PBFT on real processes: the replicas decide under one primary; a killed
//! primary is replaced by a view change and, restarted, the replica catches
//! up; a replica that lies in its view change is refused for its proof (the
//! honest replicas' status names the reason) while the chain goes on; with
//! quorums of f+1 one split primary makes two honest replicas decide
//! different blocks (the scenario file, on real nodes).

mod common;

use common::{serial, testnet, wait_for, Net};
use std::path::Path;

fn height(net: &Net, i: usize) -> u64 {
    net.get(i, "/status")["height"].as_u64().unwrap_or(0)
}

fn pbft(net: &Net, i: usize) -> serde_json::Value {
    net.get(i, "/status")["pbft"].clone()
}

#[test]
fn a_killed_primary_is_replaced_by_a_view_change_and_catches_up_after_restart() {
    let _one = serial();
    let mut net = Net::up(&["--nodes", "4", "--consensus", "pbft"]);
    wait_for(30, "height 3", || (height(&net, 0) >= 3).then_some(()));
    let view = pbft(&net, 0);
    assert_eq!(view["view"], 0, "{view}");
    assert_eq!(view["quorum"], 3, "{view}");
    assert_eq!(view["quorum_rule"], "2f+1", "{view}");
    let primary = view["primary"].as_str().expect("a primary").to_string();
    let p = (0..4)
        .find(|i| net.get(*i, "/status")["validator"] == primary.as_str())
        .expect("the primary is one of the nodes");
    let other = (p + 1) % 4;
    assert!(net.run(&["kill", &p.to_string()]).status.success());
    let h = height(&net, other);
    // The view timeout (2 s) and a view change, then blocks again.
    wait_for(30, "3 blocks after the primary died", || {
        (height(&net, other) >= h + 3).then_some(())
    });
    let view = pbft(&net, other);
    assert!(view["view"].as_u64() >= Some(1), "{view}");
    assert!(view["view_changes"].as_u64() >= Some(1), "{view}");
    assert_ne!(view["primary"], primary.as_str(), "{view}");
    assert!(net.run(&["restart", &p.to_string()]).status.success());
    let status: serde_json::Value =
        serde_json::from_slice(&net.run(&["status", "--json"]).stdout).expect("status --json");
    net.apis[p] = status[p]["api"].as_str().expect("api").to_string();
    wait_for(40, "the restarted replica catches up", || {
        let (mine, theirs) = (height(&net, p), height(&net, other));
        (mine + 1 >= theirs && mine > h + 3).then_some(())
    });
    // All on one chain, decided block by block.
    let top = height(&net, p).min(height(&net, other));
    assert_eq!(
        net.get(p, &format!("/block/{top}"))["hash"],
        net.get(other, &format!("/block/{top}"))["hash"]
    );
}

#[test]
fn a_view_change_that_lies_is_refused_on_real_nodes() {
    let _one = serial();
    // With seed 8 node 0 holds the lowest key: the primary of view 0. It
    // never orders a block, and its view changes claim a block it cannot
    // prove it prepared.
    let net = Net::up(&[
        "--nodes",
        "4",
        "--consensus",
        "pbft",
        "--seed",
        "8",
        "--byzantine",
        "0=lie-view-change",
    ]);
    wait_for(40, "height 4 without the liar", || {
        (height(&net, 1) >= 4).then_some(())
    });
    let refused: Vec<serde_json::Value> = (1..4).map(|i| pbft(&net, i)).collect();
    assert!(
        refused
            .iter()
            .any(|v| v["refused_proofs"].as_u64() >= Some(1)),
        "{refused:?}"
    );
    let reason = refused
        .iter()
        .find_map(|v| v["last_refusal"].as_str())
        .expect("a reason");
    assert!(reason.contains("prepared certificate"), "{reason}");
    // The blocks come from the honest primary of view 1, not the liar.
    let liar = net.get(0, "/status")["validator"].clone();
    for h in 1..=4 {
        assert_ne!(net.get(1, &format!("/block/{h}"))["producer"], liar);
    }
}

#[test]
fn quorums_of_f_plus_1_decide_two_blocks_on_real_nodes() {
    let _one = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/pbft-quorum-f-plus-1.toml");
    let out = tmp.path().join("run");
    let run = testnet(&[
        "run",
        file.to_str().expect("path"),
        "--out",
        out.to_str().expect("path"),
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{text}");
    assert!(
        text.contains("pass  conflicting_decisions = \"some\""),
        "{text}"
    );
}
