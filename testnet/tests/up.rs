//! `generals-testnet up --detach`, then `status`, then `down`, with 3 real nodes:
//! every node runs and agrees, and `down` leaves no process behind.

mod common;
use common::testnet;

use std::process::Command;

/// Running, and not a zombie waiting for its parent (or init) to reap it.
fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map_or(true, |s| !s.contains(") Z "))
}

#[test]
fn up_status_down_leaves_no_process_behind() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let dir = dir.to_str().expect("path");
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
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("generals --node http://127.0.0.1:"), "{text}");

    let out = testnet(&["status", "--dir", dir, "--json"]);
    assert!(out.status.success());
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let nodes = nodes.as_array().expect("array").clone();
    assert_eq!(nodes.len(), 3);
    let pids: Vec<i32> = nodes
        .iter()
        .map(|n| n["pid"].as_i64().expect("pid") as i32)
        .collect();
    for n in &nodes {
        assert_eq!(n["running"], true, "{n}");
        assert!(n["height"].as_u64() >= Some(1), "{n}");
        assert!(n["peers"].as_u64() >= Some(1), "{n}");
        assert!(n["api"]
            .as_str()
            .expect("api")
            .starts_with("http://127.0.0.1:"));
    }
    assert!(pids.iter().all(|p| alive(*p)));
    // A second `up` on a running testnet is refused.
    let again = testnet(&["up", "--nodes", "3", "--dir", dir, "--detach"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already running"));

    let out = testnet(&["down", "--dir", dir]);
    assert!(
        out.status.success(),
        "down: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(pids.iter().all(|p| !alive(*p)), "processes left: {pids:?}");
    let out = testnet(&["status", "--dir", dir, "--json"]);
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(nodes
        .as_array()
        .expect("array")
        .iter()
        .all(|n| n["running"] == false));
}

#[test]
fn up_refuses_unknown_kinds() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let out = testnet(&[
        "up",
        "--consensus",
        "raft",
        "--dir",
        dir.to_str().expect("path"),
        "--detach",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pow, pos, poa, bft"));
}

/// A 4-node BFT testnet: blocks are decided and final; with one node killed
/// the other three (more than two thirds) go on deciding; with two killed
/// nothing is decided; a restart brings the quorum back and decisions resume,
/// the restarted node's included.
#[test]
fn a_bft_testnet_decides_with_three_of_four_and_halts_with_two() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let dir = dir.to_str().expect("path");
    let out = testnet(&[
        "up",
        "--nodes",
        "4",
        "--consensus",
        "bft",
        "--dir",
        dir,
        "--detach",
    ]);
    assert!(
        out.status.success(),
        "up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes: serde_json::Value =
        serde_json::from_slice(&testnet(&["status", "--dir", dir, "--json"]).stdout).expect("json");
    let apis: Vec<String> = nodes
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["api"].as_str().expect("api").to_string())
        .collect();
    let http = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("client");
    let height = |api: &str| -> Option<u64> {
        let s: serde_json::Value = http.get(format!("{api}/status")).send().ok()?.json().ok()?;
        s["height"].as_u64()
    };
    let wait_for = |api: &str, want: u64, secs: u64| -> u64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let h = height(api).unwrap_or(0);
            if h >= want || std::time::Instant::now() > deadline {
                return h;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    };
    let h = wait_for(&apis[0], 3, 30);
    assert!(h >= 3, "decided {h}");
    // Status shows where the validator stands in the round.
    let s: serde_json::Value = http
        .get(format!("{}/status", apis[0]))
        .send()
        .expect("GET")
        .json()
        .expect("json");
    assert_eq!(s["consensus"], "bft");
    assert!(s["bft"]["height"].as_u64() > s["height"].as_u64(), "{s}");
    assert!(
        ["propose", "prevote", "precommit"].contains(&s["bft"]["step"].as_str().unwrap_or("")),
        "{s}"
    );

    // One of four down: the rest decide on.
    assert!(testnet(&["kill", "3", "--dir", dir]).status.success());
    let before = height(&apis[0]).expect("node 0 answers");
    let after = wait_for(&apis[0], before + 3, 40);
    assert!(after >= before + 3, "with 3 of 4: {before} -> {after}");

    // Two of four down: no quorum, nothing is decided.
    assert!(testnet(&["kill", "2", "--dir", dir]).status.success());
    std::thread::sleep(std::time::Duration::from_secs(2));
    let stalled = height(&apis[0]).expect("node 0 answers");
    std::thread::sleep(std::time::Duration::from_secs(6));
    let still = height(&apis[0]).expect("node 0 answers");
    assert!(still <= stalled + 1, "with 2 of 4: {stalled} -> {still}");

    // One back: three of four again, and the restarted node catches up.
    assert!(testnet(&["restart", "2", "--dir", dir]).status.success());
    let resumed = wait_for(&apis[0], still + 3, 60);
    assert!(
        resumed >= still + 3,
        "after the restart: {still} -> {resumed}"
    );
    let nodes: serde_json::Value =
        serde_json::from_slice(&testnet(&["status", "--dir", dir, "--json"]).stdout).expect("json");
    let api2 = nodes[2]["api"].as_str().expect("api").to_string();
    let h2 = wait_for(&api2, resumed, 30);
    assert!(
        h2 >= resumed,
        "the restarted node is at {h2}, the others at {resumed}"
    );
    assert!(testnet(&["down", "--dir", dir]).status.success());
}

#[test]
fn a_poa_testnet_seals_in_turn_and_votes_in_an_authority() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let dir = dir.to_str().expect("path");
    let out = testnet(&[
        "up",
        "--nodes",
        "3",
        "--consensus",
        "poa",
        "--dir",
        dir,
        "--detach",
    ]);
    assert!(
        out.status.success(),
        "up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = |d: &str| -> serde_json::Value {
        serde_json::from_slice(&testnet(&["status", "--dir", d, "--json"]).stdout).expect("json")
    };
    let nodes = status(dir);
    let apis: Vec<String> = nodes
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["api"].as_str().expect("api").to_string())
        .collect();
    let http = reqwest::blocking::Client::new();
    let get = |url: String| -> serde_json::Value {
        http.get(url).send().expect("GET").json().expect("json")
    };
    let candidate = generals_chain::Keypair::dev("new-authority").public();
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(std::path::Path::new(dir).join("testnet.json")).expect("testnet.json"),
    )
    .expect("json");
    let token = |i: usize| -> String {
        let home = state["nodes"][i]["home"].as_str().expect("home");
        let t = std::fs::read_to_string(std::path::Path::new(home).join("admin_token"));
        t.expect("token").trim().to_string()
    };
    // A vote needs the node's token: without it, nothing changes.
    let r = http
        .post(format!("{}/authorities/propose", apis[0]))
        .json(&serde_json::json!({ "candidate": candidate, "add": true }))
        .send()
        .expect("POST");
    assert_eq!(r.status().as_u16(), 401);
    // Two of three vote it in.
    for (i, api) in apis[..2].iter().enumerate() {
        let r = http
            .post(format!("{api}/authorities/propose"))
            .bearer_auth(token(i))
            .json(&serde_json::json!({ "candidate": candidate, "add": true }))
            .send()
            .expect("POST");
        assert!(r.status().is_success());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let a = get(format!("{}/authorities", apis[2]));
        let keys: Vec<String> = a["authorities"]
            .as_array()
            .expect("authorities")
            .iter()
            .map(|x| x["key"].as_str().unwrap_or("").to_string())
            .collect();
        if keys.contains(&candidate.to_string()) {
            assert_eq!(keys.len(), 4);
            // Every original authority sealed, in turn as a rule.
            let sealed: u64 = a["authorities"]
                .as_array()
                .expect("a")
                .iter()
                .map(|x| x["sealed"].as_u64().unwrap_or(0))
                .sum();
            let in_turn: u64 = a["authorities"]
                .as_array()
                .expect("a")
                .iter()
                .map(|x| x["in_turn"].as_u64().unwrap_or(0))
                .sum();
            assert!(sealed >= 2 && in_turn * 2 >= sealed, "{a}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the vote did not pass: {a}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // All three agree on one chain.
    let heights: Vec<u64> = status(dir)
        .as_array()
        .expect("n")
        .iter()
        .map(|n| n["height"].as_u64().unwrap_or(0))
        .collect();
    assert!(heights.iter().all(|h| *h >= 2), "{heights:?}");
    assert!(testnet(&["down", "--dir", dir]).status.success());
}

#[test]
fn down_from_another_terminal_stops_a_foreground_up() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let dir = dir.to_str().expect("path");
    let mut up = Command::new(env!("CARGO_BIN_EXE_generals-testnet"))
        .args(["up", "--nodes", "2", "--consensus", "pow", "--dir", dir])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn up");
    let mut lines = BufReader::new(up.stdout.take().expect("stdout")).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.starts_with("running; Ctrl-C"));
    if !ready {
        let _ = up.kill();
        let _ = up.wait();
        panic!("up never reported running");
    }
    // The nodes are `up`'s children: stopped by `down`, they must not linger
    // as zombies that `down` then waits 10 s for.
    let out = testnet(&["down", "--dir", dir]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        if let Some(status) = up.try_wait().expect("try_wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = up.kill();
            let _ = up.wait();
            panic!("up still runs 5 s after its nodes stopped; down said {text:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(out.status.success(), "{text}");
    assert_eq!(text.trim(), "stopped 2 nodes");
    assert!(status.success());
    assert!(
        rest.iter().any(|l| l == "every node has stopped"),
        "{rest:?}"
    );
}

#[test]
fn a_late_node_waits_until_it_joins_and_then_follows_the_chain() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let dir = dir.to_str().expect("path");
    // Stops the nodes however the test ends.
    let _down = common::Down(dir);
    let out = testnet(&[
        "up",
        "--nodes",
        "3",
        "--consensus",
        "pow",
        "--late",
        "2",
        "--dir",
        dir,
        "--detach",
        "--no-ui",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = |dir: &str| {
        let out = testnet(&["status", "--dir", dir, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("status json")
    };
    assert_eq!(status(dir)[2]["state"], "late", "{}", status(dir));
    // Not a late node, a late node restarted before it joined, a checkpoint
    // from a node without that block: each refused with its reason.
    // Late nodes that do not exist, or no node to start now: refused
    // before anything is written.
    for (late, why) in [("7", "nodes 0 to 2"), ("0,1,2", "every node")] {
        let other = tmp.path().join("other");
        let other = other.to_str().expect("path");
        let out = testnet(&["up", "--nodes", "3", "--late", late, "--dir", other]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{late}: {err}");
        assert!(
            !std::path::Path::new(other).exists(),
            "{late}: a folder was made"
        );
    }
    for (args, why) in [
        (vec!["join", "0"], "not a late node"),
        (vec!["restart", "2"], "start it with `join`"),
        (
            vec![
                "join",
                "2",
                "--checkpoint-from",
                "0",
                "--checkpoint-height",
                "100000",
            ],
            "has no block 100000",
        ),
    ] {
        let out = testnet(&[&args[..], &["--dir", dir]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(why),
            "{args:?}: {err}"
        );
    }
    let out = testnet(&["join", "2", "--dir", dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It syncs from the others: its chain reaches node 0's height of now.
    let target = status(dir)[0]["height"].as_u64().unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while status(dir)[2]["height"].as_u64().unwrap_or(0) < target {
        assert!(std::time::Instant::now() < deadline, "{}", status(dir));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(testnet(&["down", "--dir", dir]).status.success());
}
