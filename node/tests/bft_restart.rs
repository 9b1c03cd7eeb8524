//! A BFT validator killed with SIGKILL at many points (while proposing,
//! prevoting and precommitting) and restarted never signs two conflicting
//! messages: it saves what it signed at its height, its lock and its valid
//! value before any signature leaves the process, and resumes from them. An
//! observer that hears every message sees no evidence, and the chain goes on.
//! (With the record switched off, a restarted proposer builds a new block for
//! the round it already proposed in, and the observer catches the double
//! proposal.)

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

fn kills() -> usize {
    std::env::var("GENERALS_BFT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

#[test]
fn a_bft_validator_killed_mid_round_and_restarted_never_double_signs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (v_home, o_home) = (dir.path().join("v"), dir.path().join("o"));
    init_kind(&v_home, "bft");
    // Short timeouts: a height takes a few hundred ms, so the kills land in
    // every step.
    let path = v_home.join("genesis.json");
    let mut g: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("genesis")).expect("json");
    g["consensus"]["timeout_propose_ms"] = 400.into();
    g["consensus"]["timeout_vote_ms"] = 200.into();
    g["consensus"]["timeout_commit_ms"] = 150.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&g).expect("json")).expect("write");
    // The observer has no voting power; it only watches.
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
    v.wait(|s| s["height"].as_u64() >= Some(3), "the validator decides");
    let n = kills();
    for k in 0..n {
        // A deterministic stride over a few heights' worth of time.
        let wait_ms = 100 + (k as u64 * 137) % 700;
        std::thread::sleep(Duration::from_millis(wait_ms));
        v.kill();
        v = Node::start(&v_home, &args);
    }
    let height = v.height();
    v.wait(
        |s| s["height"].as_u64() >= Some(height + 3),
        "the validator goes on deciding",
    );
    let height = v.height();
    observer.wait(
        |s| s["height"].as_u64() >= Some(height),
        "the observer follows the decided chain",
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        observer.get("/evidence"),
        serde_json::json!({"included": [], "pending": []}),
        "no conflicting signature reached the observer"
    );
    let status = v.status();
    assert_eq!(status["consensus"], "bft");
    assert!(
        status["bft"]["height"].as_u64() > status["height"].as_u64(),
        "{status}"
    );
}
