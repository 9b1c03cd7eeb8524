//! A proof-of-stake validator killed with SIGKILL at many points (in the middle
//! of proposing and attesting) and restarted never signs two conflicting
//! messages: an observer node sees no evidence against it, and its
//! slashing-protection record survives every kill. On restart the validator
//! attests late for the current epoch when its attestation slot has passed,
//! so a restart inside an epoch it already voted in meets its own earlier vote
//! (the record lets the same vote through again and would refuse another).

mod common;

use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn kills() -> usize {
    std::env::var("GENERALS_POS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

#[test]
fn a_validator_killed_mid_signing_and_restarted_never_double_signs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (v_home, o_home) = (dir.path().join("v"), dir.path().join("o"));
    // Short slots and epochs: 20 kills cover many slots and several epochs.
    let path = init_pos(&v_home, 250, 8);
    // The observer has no stake; it only watches.
    init(&o_home, Some(&path));

    let observer = Node::start(&o_home, &["--listen", "/ip4/127.0.0.1/tcp/0"]);
    let boot = observer.listen.clone();
    let args = [
        "--listen",
        "/ip4/127.0.0.1/tcp/0",
        "--bootstrap",
        boot.as_str(),
    ];
    let mut v = Node::start(&v_home, &args);
    v.wait(
        |s| s["height"].as_u64() >= Some(3),
        "the validator proposes",
    );
    // Kill points spread over the slot and the epoch (2 s): a deterministic
    // stride so the points cover both halves of epochs and of slots.
    let n = kills();
    for k in 0..n {
        let wait_ms = 150 + (k as u64 * 373) % 2_000;
        std::thread::sleep(Duration::from_millis(wait_ms));
        v.kill();
        v = Node::start(&v_home, &args);
    }
    v.wait(
        |s| s["height"].as_u64() >= Some(10),
        "the validator goes on",
    );
    // Let the observer hear everything, including the last epoch's votes.
    let height = v.height();
    observer.wait(
        |s| s["height"].as_u64() >= Some(height),
        "the observer follows",
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    let evidence = observer.get("/evidence");
    assert_eq!(
        evidence,
        serde_json::json!({"included": [], "pending": []}),
        "no conflicting signature reached the observer"
    );
    let status = observer.status();
    assert!(
        status["pos"]["finalized_height"].as_u64() > Some(0),
        "votes counted across the restarts: {status}"
    );
    drop(v);
    // The record holds what was signed, across all those kills.
    let record = protection(&v_home);
    let proposals = record["proposals"].as_object().map_or(0, |m| m.len());
    let attestations = record["attestations"].as_object().map_or(0, |m| m.len());
    // Every block on the chain is the validator's, each for its own slot: each
    // must be on record (a block signed but lost in a kill is on record too).
    assert!(
        proposals as u64 >= height && attestations >= 3,
        "{proposals} proposals on record for {height} blocks: {record}"
    );
    // An import is a union: importing it into itself changes nothing, and a
    // record that is not JSON is refused with a clear error.
    let file = dir.path().join("record.json");
    std::fs::write(&file, serde_json::to_vec(&record).expect("json")).expect("write");
    let merged = Command::new(BIN)
        .args(["protection", "import", "--home"])
        .arg(&v_home)
        .arg(&file)
        .output()
        .expect("import");
    assert!(merged.status.success());
    std::fs::write(&file, b"{not json").expect("write");
    let bad = Command::new(BIN)
        .args(["protection", "import", "--home"])
        .arg(&v_home)
        .arg(&file)
        .output()
        .expect("import");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("generals-node:"));
}
