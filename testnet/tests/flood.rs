//! `generals-testnet flood`: a hostile peer floods one node of a 4-node
//! proof-of-authority testnet at 10,000 messages a second. The node stays
//! within its memory bound, the network keeps 90% of its block rate, and
//! every identity of the peer is cut off: the garbage-sending ones by the
//! penalty for invalid messages, the valid-looking ones (which no check
//! rejects) by the bound on a peer's rate. Both show in the node's log.
//!
//! The flooded node's bound is set to 1,000 messages a second
//! (`max_peer_messages_per_second`): a debug-built node on a busy 2-core
//! machine reads fewer than the default 5,000 a second from one peer (its
//! backpressure slows the flooder), so at the default the valid-looking
//! identities would be cut off only on a fast machine.

mod common;
use common::{serial, Net};

#[test]
fn a_flooded_node_keeps_its_memory_bound_and_block_rate_and_cuts_the_peer_off() {
    let _one = serial();
    let mut net = Net::up(&["--nodes", "4", "--consensus", "poa", "--block-ms", "250"]);
    let status: serde_json::Value =
        serde_json::from_slice(&net.run(&["status", "--json"]).stdout).expect("status");
    let home = std::path::Path::new(status[0]["log"].as_str().expect("log path"))
        .parent()
        .expect("home")
        .to_path_buf();
    let config = home.join("config.toml");
    let text = std::fs::read_to_string(&config).expect("config.toml");
    assert!(
        text.contains("max_peer_messages_per_second = 5000"),
        "{text}"
    );
    std::fs::write(
        &config,
        text.replace(
            "max_peer_messages_per_second = 5000",
            "max_peer_messages_per_second = 1000",
        ),
    )
    .expect("write config.toml");
    assert!(net.run(&["kill", "0"]).status.success());
    let out = net.run(&["restart", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: serde_json::Value =
        serde_json::from_slice(&net.run(&["status", "--json"]).stdout).expect("status");
    net.apis[0] = status[0]["api"].as_str().expect("api").to_string();
    common::wait_for(20, "node 0 back with its 3 peers", || {
        (net.get(0, "/status")["peers"] == 3).then_some(())
    });
    let secs = std::env::var("FLOOD_SECONDS").unwrap_or_else(|_| "6".into());
    let duration = format!("{secs}s");
    let out = net.run(&[
        "flood",
        "--node",
        "0",
        "--rate",
        "10000",
        "--duration",
        &duration,
        "--baseline",
        &duration,
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "flood --json ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{report:#}");
    assert_eq!(report["held"], true, "{report:#}");
    // Both mixes got connected and were cut off.
    let log = report["identity_log"].as_array().expect("identities");
    for mix in ["mixed", "valid-looking"] {
        assert!(
            log.iter()
                .any(|i| i["mix"] == mix && i["cut_off_after_ms"].is_u64()),
            "no {mix} identity was cut off: {report:#}"
        );
    }
    let figure = |k: &str| {
        report[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{k}: {report:#}"))
    };
    assert!(figure("block_rate_kept") >= 0.9);
    assert!(figure("rss_max_mib") <= 128.0);
    assert!(figure("node_cut_off_total") >= 2.0);
    // The honest peers stayed connected (the last identity's connection, if
    // the time ran out before its cut-off, closes with the flooder).
    common::wait_for(10, "node 0 with its 3 honest peers", || {
        (net.get(0, "/status")["peers"] == 3).then_some(())
    });
    // The node says why it cut each one off.
    let status: serde_json::Value =
        serde_json::from_slice(&net.run(&["status", "--json"]).stdout).expect("status");
    let log_file = status[0]["log"].as_str().expect("log path");
    let text = std::fs::read_to_string(log_file).expect("node 0's log");
    assert!(
        text.contains("keeps sending invalid messages"),
        "no penalty cut-off"
    );
    assert!(text.contains("flooding: over 1000"), "no rate cut-off");
}
