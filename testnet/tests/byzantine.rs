//! A Byzantine node on a real testnet: a BFT validator whose config names
//! `[byzantine] behaviour = "equivocate"` signs two prevotes and two precommits
//! each round; the honest validators turn them into evidence, and it ends
//! jailed while no honest validator is. Its `/status` says what it does.

mod common;
use common::{testnet, Down};

use std::time::{Duration, Instant};

fn get(url: &str) -> serde_json::Value {
    reqwest::blocking::get(url)
        .and_then(|r| r.json())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn a_bft_equivocator_on_real_nodes_is_caught_and_jailed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tn");
    let dir = dir.to_str().expect("path");
    let _down = Down(dir);
    let up = |args: &[&str]| {
        let out = testnet(&[&["up", "--dir", dir, "--detach"], args].concat());
        assert!(
            out.status.success(),
            "up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    up(&["--nodes", "4", "--consensus", "bft"]);
    assert!(testnet(&["down", "--dir", dir]).status.success());
    let config = tmp.path().join("tn").join("n3").join("config.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("\n[byzantine]\nbehaviour = \"equivocate\"\n");
    std::fs::write(&config, text).expect("config");
    up(&[]);
    let status: serde_json::Value =
        serde_json::from_slice(&testnet(&["status", "--dir", dir, "--json"]).stdout).expect("json");
    let apis: Vec<String> = status
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["api"].as_str().expect("api").to_string())
        .collect();
    let byzantine = get(&format!("{}/status", apis[3]));
    assert_eq!(byzantine["byzantine"], "equivocate", "{byzantine}");
    assert!(get(&format!("{}/status", apis[0]))["byzantine"].is_null());
    let offender = byzantine["validator"].as_str().expect("key").to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let validators = loop {
        let v = get(&format!("{}/validators", apis[0]));
        let jailed = v["validators"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["key"] == offender.as_str() && x["jailed"] == true);
        if jailed {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "the equivocator was never jailed: {v}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for v in validators["validators"].as_array().expect("validators") {
        if v["key"] != offender.as_str() {
            assert_eq!(
                v["jailed"], false,
                "an honest validator was jailed: {validators}"
            );
        }
    }
    let evidence = get(&format!("{}/evidence", apis[1]));
    assert!(
        evidence["included"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x["offender"] == offender.as_str())),
        "{evidence}"
    );
    // The same in an honest node's metrics (updated each second): one
    // validator jailed, evidence seen and included, a decided height, and
    // the round in exactly one step.
    let api = &apis[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    let metric = |name: &str| common::metric(api, name).unwrap_or(-1.0);
    while metric("generals_validators_jailed") < 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    // One reading, so the figures are of one moment.
    let text = common::metrics(api);
    let metric = |name: &str| common::metric_in(&text, name).unwrap_or(-1.0);
    assert_eq!(metric("generals_validators_jailed"), 1.0, "{text}");
    assert!(metric("generals_evidence_seen_total") >= 1.0, "{text}");
    assert!(metric("generals_evidence_included_total") >= 1.0, "{text}");
    assert!(metric("generals_finalized_height") >= 1.0, "{text}");
    assert!(metric("generals_bft_round") >= 0.0, "{text}");
    let steps: f64 = ["propose", "prevote", "precommit"]
        .iter()
        .map(|s| metric(&format!("generals_bft_step{{step=\"{s}\"}}")).max(0.0))
        .sum();
    assert_eq!(steps, 1.0, "the round is in one step: {text}");
}
