//! A signer that crashes and restarts in the simulator. Its engine persists its
//! signing record (`Output::Persist`) and the host keeps it; on a restart the
//! engine factory builds the engine again from that record. A BFT validator
//! restarted from its record again and again never signs two different votes
//! for one round, so no evidence is ever made against it and it stays in the
//! validator set; one restarted without its record (as if the record were
//! lost) does sign conflicting votes, is caught and jailed. That second half is
//! what shows the record, not luck, keeps the first honest.
//!
//! `GENERALS_SIM_SEEDS` sets how many seeds each half runs (default 8).

use generals_consensus::sim::{node_key, EventLog, NetChange, SimConfig, SimReport, Simulator};
mod common;
use common::Shared;

fn seeds() -> u64 {
    std::env::var("GENERALS_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

/// Four BFT validators with short timeouts on a slow, lossy network, so rounds
/// time out and nil votes are common; validator 1 restarts every 700 ms of
/// simulated time for the first 20 s. Returns the report and how many pieces
/// of evidence any node reported against validator 1.
fn restarts(seed: u64, record: bool) -> (SimReport, usize) {
    let mut c = SimConfig::bft(4, seed, 12);
    c.bft.timeout_propose_ms = 300;
    c.bft.timeout_vote_ms = 200;
    c.net.latency_ms = 150;
    c.net.jitter_ms = 300;
    c.net.loss = 0.1;
    c.schedule = (1..30)
        .map(|k| (k * 700, NetChange::Restart { node: 1, record }))
        .collect();
    let log = Shared::default();
    let (report, _) = Simulator::new(c, EventLog::new(Box::new(log.clone())))
        .expect("config")
        .run()
        .expect("run");
    let offender = node_key(1).public().to_string();
    let bytes = log.bytes();
    let against = bytes
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|v| v["event"] == "evidence" && v["offender"] == offender.as_str())
        .count();
    (report, against)
}

#[test]
fn a_validator_restarted_from_its_record_never_equivocates() {
    for seed in 0..seeds() {
        let (r, against) = restarts(seed, true);
        assert!(r.conflicting_commits.is_empty(), "seed {seed}: {r:?}");
        assert_eq!(
            against, 0,
            "seed {seed}: evidence against the restarted validator"
        );
        assert!(
            !r.jailed.contains(&1),
            "seed {seed}: the restarted validator was jailed"
        );
        for i in 0..4 {
            assert!(
                r.finalized[i] >= 12,
                "seed {seed}: decided {:?}",
                r.finalized
            );
        }
    }
}

#[test]
fn a_validator_restarted_without_its_record_is_caught() {
    let mut caught = 0;
    for seed in 0..seeds() {
        let (r, against) = restarts(seed, false);
        // Safety still holds (one faulty validator of four), but the
        // double votes are evidence.
        assert!(r.conflicting_commits.is_empty(), "seed {seed}: {r:?}");
        caught += usize::from(against > 0);
    }
    assert!(
        caught * 2 > seeds() as usize,
        "only {caught} of {} runs caught the validator that forgot what it signed",
        seeds()
    );
}
