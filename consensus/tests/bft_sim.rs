//! BFT (Tendermint) in the simulator: no two honest validators decide different
//! blocks at a height while at most f of 3f+1 are Byzantine, over random
//! delays, loss and partitions that end, and decisions resume once the network
//! is good; with 2 of 4 colluding split voters and the honest pair cut apart,
//! the checker reports conflicting decisions (the 3f+1 bound); every
//! equivocation ends as evidence and a slash; a seed gives the same run.
//!
//! `GENERALS_BFT_SEEDS` sets how many seeds each safety test runs (default 8;
//! 1,000 or more for a long run).

use generals_consensus::sim::{
    Attack, BftFault, EventLog, NetChange, SimConfig, SimReport, Simulator,
};

fn run(config: &SimConfig) -> SimReport {
    Simulator::new(config.clone(), EventLog::sink())
        .expect("config")
        .run()
        .expect("run")
        .0
}

fn seeds() -> u64 {
    std::env::var("GENERALS_BFT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

fn safe_and_live(n: usize, f: usize) {
    for fault in BftFault::ALL {
        for seed in 0..seeds() {
            let byz: Vec<usize> = (n - f..n).collect();
            let c = SimConfig::hostile_bft(n, fault, byz.clone(), seed, 12);
            let r = run(&c);
            let what = format!("{} n={n} f={f} seed {seed}: {:?}", fault.name(), c.net);
            assert!(
                r.conflicting_commits.is_empty(),
                "{what}: conflicting decisions at {:?}",
                r.conflicting_commits
            );
            // Decisions resume once the network is good: every honest node
            // decides up to the run's height (on one chain: no conflicts).
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
fn four_validators_tolerate_one_byzantine_of_each_kind() {
    safe_and_live(4, 1);
}

#[test]
fn seven_validators_tolerate_two_byzantine_of_each_kind() {
    safe_and_live(7, 2);
}

#[test]
fn honest_validators_decide_and_agree() {
    let r = run(&SimConfig::bft(4, 1, 30));
    assert!(r.converged);
    assert!(r.height >= 30);
    assert!(r.finalized.iter().all(|f| *f >= 30), "{:?}", r.finalized);
    assert!(r.conflicting_commits.is_empty());
    // Every validator proposes in turn (equal power).
    assert!(r.shares.iter().all(|s| *s > 0.15), "{:?}", r.shares);
}

#[test]
fn a_third_silent_halts_decisions_and_they_resume() {
    // Two of four cut off: no quorum on either side, nothing is decided; once
    // the cut heals, decisions resume.
    let mut c = SimConfig::bft(4, 3, 20);
    c.schedule = vec![
        (10_000, NetChange::Cut(vec![vec![0, 1], vec![2, 3]])),
        (70_000, NetChange::Heal),
    ];
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let r = Simulator::new(c, EventLog::new(Box::new(W(buf.clone()))))
        .expect("config")
        .run()
        .expect("run")
        .0;
    let log = String::from_utf8(buf.lock().expect("lock").clone()).expect("utf8");
    let decided: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("\"finalized\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["t"].as_u64())
        .map(|t| t - generals_consensus::sim::SIM_GENESIS_MS)
        .collect();
    assert!(
        decided.iter().any(|t| *t < 10_000),
        "decisions before the cut"
    );
    assert!(
        !decided.iter().any(|t| *t > 12_000 && *t < 70_000),
        "no decision without a quorum"
    );
    assert!(decided.iter().any(|t| *t > 70_000), "decisions resume");
    assert!(r.converged && r.conflicting_commits.is_empty());
}

#[test]
fn two_colluding_split_voters_of_four_break_safety() {
    // Beyond the bound: f = 2 of n = 4. The honest pair is cut apart; the
    // colluders hear both and tell each side a different block.
    let mut seen = 0;
    for seed in 0..4 {
        let r = run(&SimConfig::split_brain_bft(4, 2, seed, 10));
        if !r.conflicting_commits.is_empty() {
            seen += 1;
        }
    }
    assert!(seen >= 3, "conflicting decisions in {seen} of 4 runs");
}

#[test]
fn one_split_voter_of_four_is_caught_and_slashed() {
    for fault in [BftFault::Equivocate, BftFault::SplitVote] {
        let mut c = SimConfig::bft(4, 5, 20);
        c.attack = Some(Attack::Bft {
            fault,
            nodes: vec![3],
        });
        let r = run(&c);
        assert!(r.conflicting_commits.is_empty());
        assert_eq!(r.jailed, vec![3], "{}: jailed {:?}", fault.name(), r.jailed);
        assert!(
            r.bonded[3] < 100 && r.bonded[0] == 100,
            "{}: bonded {:?}",
            fault.name(),
            r.bonded
        );
        assert!(
            r.finalized[..3].iter().all(|f| *f >= 20),
            "{:?}",
            r.finalized
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let once = || {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let c = SimConfig::hostile_bft(4, BftFault::Equivocate, vec![3], 11, 8);
        Simulator::new(c, EventLog::new(Box::new(W(buf.clone()))))
            .expect("config")
            .run()
            .expect("run");
        let bytes = buf.lock().expect("lock").clone();
        bytes
    };
    let (a, b) = (once(), once());
    assert!(a.len() > 1_000);
    assert_eq!(a, b);
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
