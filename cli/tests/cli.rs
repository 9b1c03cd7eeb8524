//! The `generals` CLI against a real node: every command with `--json`, and its
//! errors.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn every_command_speaks_json_to_a_real_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_node, api) = start_node(&tmp.path().join("n"));
    let status = json(&api, &["status"]);
    assert_eq!(status["height"], 0);
    assert_eq!(status["consensus"], "pow");
    let dev = json(&api, &["balance", "dev:dev-0"]);
    assert_eq!(dev["balance"], 1_000_000_000u64);

    let keyfile = tmp.path().join("me.json");
    let me = json(&api, &["keygen", "--out", keyfile.to_str().expect("path")]);
    let me = me["public_key"].as_str().expect("key").to_string();
    let sent = json(
        &api,
        &[
            "send",
            "--from",
            "dev:dev-0",
            "--to",
            &me,
            "--amount",
            "1_000",
            "--fee",
            "3",
        ],
    );
    let hash = sent["hash"].as_str().expect("hash").to_string();
    assert_eq!(json(&api, &["mempool"]).as_array().map(Vec::len), Some(1));
    assert_eq!(json(&api, &["tx", &hash])["status"], "pending");
    let mined = json(&api, &["mine", "2"]);
    assert_eq!(mined["blocks"].as_array().map(Vec::len), Some(2));
    let tx = json(&api, &["tx", &hash]);
    assert_eq!(
        (
            tx["status"].as_str(),
            tx["height"].as_u64(),
            tx["confirmations"].as_u64()
        ),
        (Some("included"), Some(1), Some(2))
    );
    assert_eq!(json(&api, &["balance", &me])["balance"], 1_000);
    // The new key can spend what it received.
    let back = json(
        &api,
        &[
            "send",
            "--from",
            keyfile.to_str().expect("path"),
            "--to",
            "dev:dev-0",
            "--amount",
            "10",
        ],
    );
    assert!(back["hash"].is_string());
    let block = json(&api, &["block", "1"]);
    assert_eq!(block["transactions"][0]["hash"], hash.as_str());
    assert_eq!(json(&api, &["tips"])[0]["status"], "active");
    assert!(json(&api, &["peers"]).is_array());
    assert_eq!(json(&api, &["miner", "start"])["mining"], true);
    assert_eq!(json(&api, &["miner", "stop"])["mining"], false);
    // Human output too.
    let out = generals(&api, &["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("height"));
}

#[test]
fn failures_are_one_clear_line_and_a_non_zero_exit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_node, api) = start_node(&tmp.path().join("n"));
    let cases: Vec<(String, Vec<String>, &str)> = vec![
        (
            "http://127.0.0.1:1".into(),
            vec!["status".into()],
            "no node answers",
        ),
        ("not a url".into(), vec!["status".into()], "is not a URL"),
        (
            api.clone(),
            vec![
                "send".into(),
                "--from".into(),
                "/nowhere/key.json".into(),
                "--to".into(),
                "dev:dev-1".into(),
                "--amount".into(),
                "5".into(),
            ],
            "/nowhere/key.json",
        ),
        (
            api.clone(),
            vec![
                "send".into(),
                "--from".into(),
                "dev:dev-0".into(),
                "--to".into(),
                "dev:dev-1".into(),
                "--amount".into(),
                "five".into(),
            ],
            "not a whole number",
        ),
        (
            api.clone(),
            vec!["balance".into(), "xyz".into()],
            "is not an account",
        ),
        (
            api.clone(),
            vec!["block".into(), "999".into()],
            "no block 999",
        ),
        (
            api.clone(),
            vec![
                "send".into(),
                "--from".into(),
                "dev:nobody".into(),
                "--to".into(),
                "dev:dev-1".into(),
                "--amount".into(),
                "5".into(),
            ],
            "need 6, it holds 0",
        ),
    ];
    for (node, args, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = generals(&node, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn authority_commands_vote_on_a_poa_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_node, api) = start_kind(&tmp.path().join("n"), "poa");
    let list = json(&api, &["authority", "list"]);
    assert_eq!(list["authorities"].as_array().map(Vec::len), Some(1));
    // The lone authority's vote is a majority: the candidate joins.
    let p = json(&api, &["authority", "propose", "add", "dev:carol"]);
    assert_eq!(p["add"], true);
    let carol = generals_chain::Keypair::dev("carol").public().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = json(&api, &["authority", "list"]);
        let keys: Vec<&str> = list["authorities"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|a| a["key"].as_str())
            .collect();
        if keys.contains(&carol.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "carol never joined: {list}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = generals(&api, &["authority", "discard", "dev:nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no proposal"));
    let human = generals(&api, &["status"]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("in turn"));
}

#[test]
fn stake_commands_bond_unbond_and_list_on_a_pos_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_node, api) = start_kind(&tmp.path().join("n"), "pos");
    let v = json(&api, &["validators"]);
    assert_eq!(v["validators"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["slashing"], true);
    json(&api, &["stake", "500", "--from", "dev:dev-0"]);
    let dev0 = generals_chain::Keypair::dev("dev-0").public().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let bonded = |v: &Value| {
        v["validators"]
            .as_array()
            .expect("validators")
            .iter()
            .find(|x| x["key"] == dev0.as_str())
            .cloned()
    };
    loop {
        let v = json(&api, &["validators"]);
        if bonded(&v).is_some_and(|x| x["bonded"] == 500 && x["status"] == "active") {
            break;
        }
        assert!(Instant::now() < deadline, "the bond never landed: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    json(&api, &["unstake", "200", "--from", "dev:dev-0"]);
    loop {
        let a = json(&api, &["balance", "dev:dev-0"]);
        if a["unbonding"] == 200 {
            assert_eq!(a["bonded"], 300);
            assert!(a["unbonding_until_ms"].as_u64() > Some(0));
            break;
        }
        assert!(Instant::now() < deadline, "the unbond never landed: {a}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // More than is bonded is refused with one line.
    let out = generals(&api, &["unstake", "1000", "--from", "dev:dev-0"]);
    assert!(!out.status.success());
    let e = json(&api, &["evidence"]);
    assert_eq!(e, serde_json::json!({"included": [], "pending": []}));
    let human = generals(&api, &["status"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("justified") && text.contains("slot"),
        "{text}"
    );
}

#[test]
fn coins_are_not_sent_where_they_could_never_be_spent() {
    // Refused before any node is asked: nothing listens on port 1.
    let zeros = "0".repeat(64);
    let out = generals(
        "http://127.0.0.1:1",
        &[
            "send",
            "--from",
            "dev:dev-0",
            "--to",
            &zeros,
            "--amount",
            "1",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could never be spent"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn calls_that_change_a_node_take_its_token_from_its_home() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("n");
    let (_node, api) = start_node(&home);
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_generals"))
            .args(["--node", &api])
            .args(extra)
            .args(["miner", "stop"])
            .env_remove("GENERALS_TOKEN")
            .output()
            .expect("run generals")
    };
    let out = run(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--token, GENERALS_TOKEN or --home"), "{err}");
    let out = run(&["--home", home.to_str().expect("path")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("miner stopped"));
}

#[test]
fn vote_and_delegates_on_a_dpos_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_node, api) = start_kind(&tmp.path().join("n"), "dpos");
    let d = json(&api, &["delegates"]);
    assert_eq!(d["schedule"].as_array().map(Vec::len), Some(1), "{d}");
    let me = d["schedule"][0].clone();
    json(&api, &["stake", "500", "--from", "dev:dev-0"]);
    let dev1 = generals_chain::Keypair::dev("dev-1").public().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = json(&api, &["balance", "dev:dev-0"]);
        if a["bonded"] == 500 {
            break;
        }
        assert!(Instant::now() < deadline, "the bond never landed: {a}");
        std::thread::sleep(Duration::from_millis(200));
    }
    json(&api, &["vote", &dev1, "--from", "dev:dev-0"]);
    // The dev genesis's validator votes 1000 for itself and holds the one
    // producer seat; dev-1 becomes a standby delegate with dev-0's 500.
    loop {
        let d = json(&api, &["delegates"]);
        let row = d["delegates"]
            .as_array()
            .expect("delegates")
            .iter()
            .find(|x| x["key"] == dev1.as_str())
            .cloned();
        if let Some(r) = row {
            assert_eq!(r["votes"], 500, "{d}");
            assert_eq!(
                d["schedule"][0], me,
                "one producer seat, kept by the most votes"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the vote never landed: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let human = generals(&api, &["delegates"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("standby") && text.contains("producer"),
        "{text}"
    );
    // Refused before it reaches the node: a key named twice, no key at all.
    for bad in [vec!["vote", &dev1, &dev1], vec!["vote", "not-a-key"]] {
        let mut args = bad.clone();
        args.extend(["--from", "dev:dev-0"]);
        let out = generals(&api, &args);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
    // On another kind of chain, /delegates says why not.
    let (_pow, pow_api) = start_kind(&tmp.path().join("p"), "pow");
    let out = generals(&pow_api, &["delegates"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not delegated proof of stake"));
}

#[test]
fn invalidate_and_reconsider_move_the_tip_and_the_state_stays_a_replay() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("n");
    let (node, api) = start_node(&home);
    let first = hashes(&json(&api, &["mine", "4"]));
    assert_eq!(first.len(), 4);
    // Invalidate the third block: the tip goes back to the second.
    let v = json(&api, &["invalidate", &first[2]]);
    assert_eq!(
        (v["height"].as_u64(), v["tip"].as_str()),
        (Some(2), Some(&first[1][..]))
    );
    assert_eq!(v["invalidated"], serde_json::json!([first[2]]));
    // A block mined now makes a second branch from the second block.
    let other = hashes(&json(&api, &["mine", "1"]));
    let status = json(&api, &["status"]);
    assert_eq!(status["height"].as_u64(), Some(3));
    assert_eq!(status["tip"].as_str(), Some(&other[0][..]));
    assert_ne!(other[0], first[2]);
    // Reconsider: the first branch, heavier, is the main chain again.
    let v = json(&api, &["reconsider", &first[2]]);
    assert_eq!(
        (v["height"].as_u64(), v["tip"].as_str()),
        (Some(4), Some(&first[3][..]))
    );
    assert_eq!(v["invalidated"], serde_json::json!([]));
    // Refusals, each with its reason.
    let genesis = status["genesis"].as_str().expect("genesis").to_string();
    let unknown = "ab".repeat(32);
    for (args, why) in [
        (vec!["reconsider", &first[2][..]], "not invalidated by hand"),
        (vec!["invalidate", &unknown[..]], "no block"),
        (vec!["invalidate", &genesis[..]], "genesis"),
        (vec!["invalidate", "xyz"], "not a block hash"),
    ] {
        let out = generals(&api, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(why),
            "{args:?}: {err}"
        );
    }
    // Without the token the node refuses.
    let out = Command::new(env!("CARGO_BIN_EXE_generals"))
        .args(["--node", &api, "invalidate", &first[3]])
        .env_remove("GENERALS_TOKEN")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert_eq!(json(&api, &["status"])["height"].as_u64(), Some(4));
    // Stopped, the node's state is what a replay from genesis gives.
    drop(node);
    verify(&home);
}

#[test]
fn a_finalized_block_cannot_be_invalidated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_node, api) = start_kind(&tmp.path().join("n"), "bft");
    let deadline = Instant::now() + Duration::from_secs(20);
    while json(&api, &["status"])["height"].as_u64() < Some(2) {
        assert!(Instant::now() < deadline, "no BFT blocks");
        std::thread::sleep(Duration::from_millis(100));
    }
    let b1 = json(&api, &["block", "1"])["hash"]
        .as_str()
        .expect("hash")
        .to_string();
    let out = generals(&api, &["invalidate", &b1]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("is final"), "{err}");
}

#[test]
fn a_reader_that_goes_away_ends_the_cli_quietly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_node, api) = start_node(&tmp.path().join("n"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_generals"))
        .args(["--node", &api, "status"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    // The reader closes before the answer comes back from the node, as
    // `generals status | head -0` would.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
