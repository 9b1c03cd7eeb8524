//! `generals forge` on one-node on-demand chains (`generals-node init
//! --on-demand`) of every kind: blocks come only when asked, each through the
//! engine's own rules; a fork made by hand with `--parent`, then `invalidate`
//! and `reconsider`, move the tip and leave the state a replay; what finality
//! forbids is refused with the reason.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const KINDS: [&str; 6] = ["pow", "pos", "poa", "bft", "dpos", "pbft"];

fn on_demand(home: &Path, kind: &str) -> (NodeProc, String) {
    start_with(home, &["--consensus", kind, "--on-demand"])
}

fn height(api: &str) -> u64 {
    json(api, &["status"])["height"].as_u64().expect("height")
}

fn tip(api: &str) -> String {
    json(api, &["status"])["tip"]
        .as_str()
        .expect("tip")
        .to_string()
}

/// `generals ARGS` fails, and says `why`.
fn refused(api: &str, args: &[&str], why: &str) {
    let out = generals(api, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(why),
        "{args:?}: {err}"
    );
}

#[test]
fn every_kind_forges_on_demand_and_makes_no_block_unasked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let nodes: Vec<_> = KINDS
        .iter()
        .map(|k| (k, on_demand(&tmp.path().join(k), k)))
        .collect();
    // On their schedules a proof-of-stake slot is 1 s and a BFT proposal
    // comes at once: on demand, nothing comes unasked.
    std::thread::sleep(Duration::from_millis(1_500));
    let to = "aa".repeat(32);
    for (kind, (_node, api)) in &nodes {
        assert_eq!(height(api), 0, "{kind}: a block came unasked");
        let validator = json(api, &["status"])["validator"]
            .as_str()
            .expect("validator")
            .to_string();
        let sent = json(
            api,
            &["send", "--from", "dev:dev-0", "--to", &to, "--amount", "7"],
        );
        let forged = json(api, &["forge", "3"]);
        let blocks = hashes(&forged);
        assert_eq!(blocks.len(), 3, "{kind}");
        assert_eq!(forged["height"].as_u64(), Some(3), "{kind}");
        assert_eq!(forged["tip"].as_str(), Some(&blocks[2][..]), "{kind}");
        // One chain, each block this validator's, the payment in the first.
        for (i, hash) in blocks.iter().enumerate() {
            let b = json(api, &["block", hash]);
            assert_eq!(b["height"].as_u64(), Some(i as u64 + 1), "{kind}");
            assert_eq!(b["producer"].as_str(), Some(&validator[..]), "{kind}");
            if i > 0 {
                assert_eq!(b["parent"].as_str(), Some(&blocks[i - 1][..]), "{kind}");
            }
        }
        let account = json(api, &["balance", &to]);
        assert_eq!(account["balance"].as_u64(), Some(7), "{kind}: {sent}");
        // And again: the chain goes on from where it was.
        assert_eq!(hashes(&json(api, &["forge", "2"])).len(), 2, "{kind}");
        assert_eq!(height(api), 5, "{kind}");
    }
    // `mine` keeps working on proof of work.
    let (_, (_, pow)) = &nodes[0];
    assert_eq!(hashes(&json(pow, &["mine", "1"])).len(), 1);
    assert_eq!(height(pow), 6);
}

#[test]
fn a_fork_by_hand_then_invalidate_and_reconsider_move_the_tip() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for kind in ["pow", "pos", "poa"] {
        let home = tmp.path().join(kind);
        let (node, api) = on_demand(&home, kind);
        let main = hashes(&json(&api, &["forge", "3"]));
        // Three blocks on the first: a longer branch from height 2.
        let fork = hashes(&json(&api, &["forge", "3", "--parent", &main[0]]));
        assert_eq!(fork.len(), 3, "{kind}");
        let b = json(&api, &["block", &fork[0]]);
        assert_eq!(b["parent"].as_str(), Some(&main[0][..]), "{kind}");
        assert_eq!(b["height"].as_u64(), Some(2), "{kind}");
        assert_eq!((height(&api), tip(&api)), (4, fork[2].clone()), "{kind}");
        // Invalidate the fork: back to the first branch.
        let v = json(&api, &["invalidate", &fork[0]]);
        assert_eq!(v["tip"].as_str(), Some(&main[2][..]), "{kind}");
        assert_eq!(v["invalidated"], serde_json::json!([fork[0]]), "{kind}");
        refused(
            &api,
            &["forge", "--parent", &fork[1]],
            "invalid on this node",
        );
        // Reconsider it: the longer branch again.
        let v = json(&api, &["reconsider", &fork[0]]);
        assert_eq!(
            (v["tip"].as_str(), v["height"].as_u64()),
            (Some(&fork[2][..]), Some(4)),
            "{kind}"
        );
        refused(&api, &["forge", "--parent", &"cd".repeat(32)], "no block");
        // A mark by hand outlives a restart, as Bitcoin Core's flag does.
        let v = json(&api, &["invalidate", &main[2]]);
        assert_eq!(v["invalidated"], serde_json::json!([main[2]]), "{kind}");
        drop(node);
        let (node, api) = run(&home);
        let status = json(&api, &["status"]);
        assert_eq!(
            status["invalidated"],
            serde_json::json!([main[2]]),
            "{kind}"
        );
        let v = json(&api, &["reconsider", &main[2]]);
        assert_eq!(v["invalidated"], serde_json::json!([]), "{kind}");
        drop(node);
        verify(&home);
    }
}

fn finalized_height(status: &Value) -> u64 {
    status["pos"]["finalized_height"].as_u64().unwrap_or(0)
}

#[test]
fn what_finality_forbids_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // BFT and PBFT decide each block for good: no fork, no invalidation.
    for kind in ["bft", "pbft"] {
        let (_node, api) = on_demand(&tmp.path().join(kind), kind);
        let blocks = hashes(&json(&api, &["forge", "2"]));
        refused(
            &api,
            &["forge", "--parent", &blocks[0]],
            "below this node's finalized block",
        );
        refused(&api, &["invalidate", &blocks[0]], "is final");
        assert_eq!(height(&api), 2, "{kind}");
    }
    // One delegate: each block is irreversible as soon as it is made.
    let (_node, api) = on_demand(&tmp.path().join("dpos"), "dpos");
    let blocks = hashes(&json(&api, &["forge", "3"]));
    refused(
        &api,
        &["forge", "--parent", &blocks[0]],
        "below this node's finalized block",
    );
    assert_eq!(json(&api, &["tips"]).as_array().map(Vec::len), Some(1));
    // Proof of stake finalizes after two epochs of 16 slots.
    let (_node, api) = on_demand(&tmp.path().join("pos"), "pos");
    let blocks = hashes(&json(&api, &["forge", "40"]));
    let status = json(&api, &["status"]);
    let done = finalized_height(&status);
    assert!(done >= 2, "nothing final after 40 slots: {status}");
    refused(&api, &["invalidate", &blocks[0]], "is final");
    refused(
        &api,
        &["forge", "--parent", &blocks[0]],
        "below this node's finalized block",
    );
    // A chain on its schedule forges nothing.
    let (_node, api) = start_kind(&tmp.path().join("scheduled"), "pow");
    refused(&api, &["forge"], "on-demand");
}
