//! `generals-testnet up --detach`, then `status`, then `down`, with 3 real nodes:
//! every node runs and agrees, and `down` leaves no process behind.

use std::process::Command;

fn testnet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_generals-testnet"))
        .args(args)
        .output()
        .expect("run generals-testnet")
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
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
fn up_refuses_kinds_without_an_engine() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let out = testnet(&[
        "up",
        "--consensus",
        "bft",
        "--dir",
        dir.to_str().expect("path"),
        "--detach",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not built yet") && err.contains("pow"),
        "{err}"
    );
    let out = testnet(&[
        "up",
        "--consensus",
        "raft",
        "--dir",
        dir.to_str().expect("path"),
        "--detach",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("pow, pos, poa, bft"));
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
    // Two of three vote it in.
    for api in &apis[..2] {
        let r = http
            .post(format!("{api}/authorities/propose"))
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
