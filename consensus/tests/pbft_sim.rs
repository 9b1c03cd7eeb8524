//! PBFT in the simulator: no two honest replicas decide different blocks at
//! a height while at most f of 3f+1 are Byzantine, for each attack (a primary
//! that pre-prepares different blocks to two halves, double votes, silence,
//! lying view changes), over random delays, loss and partitions that end;
//! decisions resume once the network is good. Beyond the bound the checker
//! reports conflicting decisions: with f+1 colluders, and with quorums of f+1
//! (Byzantine Paxos's counter-example). A silent primary is replaced within
//! the view timeout.
//!
//! `GENERALS_PBFT_SEEDS` sets how many seeds each safety test runs (default 8).

use generals_chain::genesis::Quorum;
use generals_consensus::sim::{Attack, BftFault, EventLog, SimConfig, SimReport, Simulator};

fn run(config: &SimConfig) -> SimReport {
    Simulator::new(config.clone(), EventLog::sink())
        .expect("config")
        .run()
        .expect("run")
        .0
}

fn seeds() -> u64 {
    std::env::var("GENERALS_PBFT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

#[test]
fn honest_replicas_decide_and_agree() {
    let r = run(&SimConfig::pbft(4, 1, 30));
    assert!(r.converged, "{r:?}");
    assert!(r.height >= 30, "height {}", r.height);
    assert!(r.finalized.iter().all(|f| *f >= 30), "{:?}", r.finalized);
    assert!(r.conflicting_commits.is_empty());
}

fn safe_and_live(n: usize, f: usize) {
    for fault in BftFault::PBFT {
        for seed in 0..seeds() {
            let byz: Vec<usize> = (n - f..n).collect();
            let c = SimConfig::hostile_pbft(n, fault, byz.clone(), seed, 12);
            let r = run(&c);
            let what = format!("{} n={n} f={f} seed {seed}: {:?}", fault.name(), c.net);
            assert!(
                r.conflicting_commits.is_empty(),
                "{what}: conflicting decisions at {:?}",
                r.conflicting_commits
            );
            for i in (0..n).filter(|i| !byz.contains(i)) {
                assert!(
                    r.finalized[i] >= 12,
                    "{what}: node {i} decided up to {:?}",
                    r.finalized
                );
            }
        }
    }
}

#[test]
fn four_replicas_tolerate_one_byzantine_of_each_kind() {
    safe_and_live(4, 1);
}

#[test]
fn seven_replicas_tolerate_two_byzantine_of_each_kind() {
    safe_and_live(7, 2);
}

/// Over the seeds, the runs in which honest replicas decided different blocks.
fn split_runs(colluders: usize, quorum: Quorum) -> u64 {
    (0..seeds())
        .filter(|seed| {
            let r = run(&SimConfig::split_brain_pbft(4, colluders, quorum, *seed, 6));
            !r.conflicting_commits.is_empty()
        })
        .count() as u64
}

#[test]
fn one_equivocating_primary_with_2f_plus_1_quorums_never_splits() {
    assert_eq!(split_runs(1, Quorum::TwoFPlusOne), 0);
}

#[test]
fn two_colluders_of_four_make_the_halves_decide_different_blocks() {
    let seen = split_runs(2, Quorum::TwoFPlusOne);
    assert!(
        seen * 4 >= seeds() * 3,
        "conflicts in {seen} of {} runs",
        seeds()
    );
}

#[test]
fn quorums_of_f_plus_1_let_one_byzantine_primary_split_the_halves() {
    // Byzantine Paxos's counter-example: f Byzantine and one honest replica
    // decide one block, f honest and the same f Byzantine another.
    let seen = split_runs(1, Quorum::FPlusOne);
    assert!(
        seen * 4 >= seeds() * 3,
        "conflicts in {seen} of {} runs",
        seeds()
    );
}

#[test]
fn a_silent_primary_is_replaced_within_the_view_timeout() {
    for seed in 0..seeds() {
        let mut c = SimConfig::pbft(4, seed, 6);
        let mut order: Vec<usize> = (0..4).collect();
        order.sort_by_key(|i| generals_consensus::sim::node_key(*i).public());
        c.attack = Some(Attack::Bft {
            fault: BftFault::Silent,
            nodes: vec![order[0]],
        });
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let r = Simulator::new(c.clone(), EventLog::new(Box::new(W(buf.clone()))))
            .expect("config")
            .run()
            .expect("run")
            .0;
        assert!(r.conflicting_commits.is_empty());
        let log = String::from_utf8(buf.lock().expect("lock").clone()).expect("utf8");
        let first = log
            .lines()
            .filter(|l| l.contains("\"finalized\""))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["t"].as_u64())
            .map(|t| t - generals_consensus::sim::SIM_GENESIS_MS)
            .min()
            .expect("a decision");
        // The primary's pause, the view's timeout, then the view change, the
        // new view, prepares and commits: at most five one-way delays.
        let delay = c.net.latency_ms + c.net.jitter_ms;
        let bound = c.pbft.block_pause_ms + c.pbft.view_timeout_ms + 5 * delay;
        assert!(
            first > c.pbft.view_timeout_ms && first <= bound,
            "seed {seed}: first decision at {first} ms, the bound is {bound} ms"
        );
        assert!(r
            .finalized
            .iter()
            .enumerate()
            .all(|(i, f)| i == order[0] || *f >= 6));
    }
}

struct W(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for W {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
