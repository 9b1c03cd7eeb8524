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
