//! `generals-testnet load` while a node is killed and restarted on a new port:
//! it follows the testnet's current addresses, reads blocks from any live node,
//! and what it counts as included agrees with the chain.

mod common;
use common::{serial, testnet, Down};

use generals_chain::Keypair;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Transfers the load accounts have made, by their nonces at a live node.
fn sent_by_load_accounts(dir: &str) -> u64 {
    let out = testnet(&["status", "--dir", dir, "--json"]);
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let api = nodes
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["running"] == true)
        .and_then(|n| n["api"].as_str())
        .expect("a live node")
        .to_string();
    let http = reqwest::blocking::Client::new();
    (0..64)
        .map(|i| {
            let key = Keypair::dev(&format!("load-{i}")).public();
            let a: serde_json::Value = http
                .get(format!("{api}/account/{key}"))
                .send()
                .expect("GET")
                .json()
                .expect("json");
            a["nonce"].as_u64().unwrap_or(0)
        })
        .sum()
}

#[test]
fn load_follows_a_restarted_node_and_counts_what_the_chain_holds() {
    let _one = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let dir = dir.to_str().expect("path");
    let _down = Down(dir);
    let out = testnet(&[
        "up",
        "--nodes",
        "3",
        "--consensus",
        "pow",
        "--dir",
        dir,
        "--detach",
    ]);
    assert!(
        out.status.success(),
        "up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = sent_by_load_accounts(dir);
    let load = Command::new(env!("CARGO_BIN_EXE_generals-testnet"))
        .args([
            "load",
            "--tps",
            "20",
            "--duration",
            "9s",
            "--final-depth",
            "1",
            "--settle",
            "15s",
            "--senders",
            "4",
            "--dir",
            dir,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("load");
    std::thread::sleep(Duration::from_secs(2));
    assert!(testnet(&["kill", "0", "--dir", dir]).status.success());
    std::thread::sleep(Duration::from_secs(2));
    let out = testnet(&["restart", "0", "--dir", dir]);
    assert!(
        out.status.success(),
        "restart: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = load.wait_with_output().expect("load output");
    assert!(
        out.status.success(),
        "load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let on_chain = sent_by_load_accounts(dir) - before;
    let n = |k: &str| report[k].as_u64().unwrap_or(0);
    let (accepted, included, final_) = (n("accepted"), n("included"), n("final_"));
    assert!(accepted > 100, "{report}");
    // Blocks were read even while node 0, the first one, was down or moved.
    assert!(final_ * 2 > accepted, "{report}");
    // What it counts is on the chain; what is on the chain and not counted
    // is among what it left open.
    assert!(included <= on_chain, "{report} with {on_chain} on chain");
    assert!(
        on_chain <= included + (accepted - final_),
        "{report} with {on_chain} on chain"
    );
}

/// `bench --quick` measures every goal in one run: each row has a figure
/// measured now, a ratio where it is set against a limit of the machine, and
/// a verdict that agrees with its goal; the real BFT nodes committed
/// transfers and the probes saw their blocks.
#[test]
fn bench_measures_every_goal_against_limits_of_the_same_run() {
    let _one = serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_str().expect("path");
    let out = testnet(&["bench", "--quick", "--json", "--dir", dir]);
    assert!(out.status.success(), "{out:?}");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json rows");
    let rows = rows.as_array().expect("rows");
    let find = |what: &str| {
        rows.iter()
            .find(|r| r["what"].as_str().is_some_and(|w| w.starts_with(what)))
            .unwrap_or_else(|| panic!("no row {what:?} in {rows:?}"))
    };
    for what in [
        "ed25519 verify",
        "ed25519 batch verify",
        "miner",
        "import",
        "durable commits",
        "simulator, 4 PoW",
        "simulator memory",
        "BFT sweep",
        "BFT finality",
        "BFT committed",
    ] {
        let r = find(what);
        let measured = r["measured"].as_f64().expect("measured");
        assert!(measured.is_finite() && measured > 0.0, "{r}");
        if let Some(limit) = r["against"][1].as_f64() {
            let ratio = r["figure"].as_f64().expect("figure");
            assert!(
                (ratio - measured / limit).abs() < 1e-9 * ratio.max(1.0),
                "{r}"
            );
        }
        match (&r["goal"], r["met"].as_bool()) {
            (g, Some(met)) if g.get("at_least").is_some() => {
                assert_eq!(met, r["figure"].as_f64() >= g["at_least"].as_f64(), "{r}")
            }
            (g, Some(met)) if g.get("at_most").is_some() => {
                assert_eq!(met, r["figure"].as_f64() <= g["at_most"].as_f64(), "{r}")
            }
            (g, None) => assert_eq!(g, "limit", "{r}"),
            _ => panic!("a verdict without its goal: {r}"),
        }
    }
    // Batch verification beats one at a time; the chain's nodes committed
    // what they were sent (some of it) and no probe took 30 s.
    assert!(
        find("ed25519 batch verify")["measured"].as_f64()
            > find("ed25519 verify,")["measured"].as_f64()
    );
    let finality = find("BFT finality")["measured"].as_f64().expect("p50");
    assert!(finality < 30_000.0, "{finality}");
}
