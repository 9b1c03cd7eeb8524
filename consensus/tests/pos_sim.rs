//! Proof of stake in the simulator: leadership follows stake, finality advances
//! with honest validators and stops while more than a third of the stake is
//! offline, then resumes; nothing-at-stake validators sign on both forks and are
//! slashed for it (or, with slashing off, keep what they earned on both); an
//! equivocating proposer is slashed; runs are deterministic.

use generals_consensus::sim::{EventLog, NetChange, SimConfig, SimReport, Simulator};

fn run(config: &SimConfig) -> SimReport {
    Simulator::new(config.clone(), EventLog::sink())
        .expect("config")
        .run()
        .expect("run")
        .0
}

#[test]
fn leadership_follows_stake() {
    let mut c = SimConfig::pos(4, 1, 1_200);
    c.stakes = vec![40, 30, 20, 10];
    let r = run(&c);
    assert!(r.converged, "{:?}", r.tips);
    for (i, (share, stake)) in r.shares.iter().zip([0.4, 0.3, 0.2, 0.1]).enumerate() {
        assert!(
            (share - stake).abs() < 0.05,
            "node {i}: share {share} for stake {stake}: {:?}",
            r.shares
        );
    }
}

#[test]
fn finality_advances_stops_without_two_thirds_and_resumes() {
    let mut c = SimConfig::pos(4, 2, 200);
    let r = run(&c);
    // 8-slot epochs: every node finalizes well into the chain.
    assert!(
        r.finalized.iter().all(|f| *f >= 150),
        "finalized {:?} of {}",
        r.finalized,
        r.height
    );

    // Two of four equal validators (half the stake) drop out for a while.
    let slot = c.pos.slot_ms;
    let epoch = slot * c.pos.epoch_slots;
    c.schedule = vec![
        (20 * epoch, NetChange::Cut(vec![vec![0, 1], vec![2, 3]])),
        (40 * epoch, NetChange::Heal),
    ];
    c.blocks = 1_000;
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let r = Simulator::new(c.clone(), EventLog::new(Box::new(W(buf.clone()))))
        .expect("config")
        .run()
        .expect("run")
        .0;
    let log = String::from_utf8(buf.lock().expect("lock").clone()).expect("utf8");
    let finals: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("\"finalized\"") && l.contains("\"node\":0"))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["t"].as_u64())
        .map(|t| t - generals_consensus::sim::SIM_GENESIS_MS)
        .collect();
    let cut = (21 * epoch, 40 * epoch);
    assert!(finals.iter().any(|t| *t < cut.0), "finality before the cut");
    assert!(
        !finals.iter().any(|t| *t > cut.0 + epoch && *t < cut.1),
        "no finality while half the stake is away"
    );
    assert!(
        finals.iter().any(|t| *t > cut.1),
        "finality resumes after the heal"
    );
    assert!(r.converged);
}

/// Six equal validators; 4 and 5 attest on every head. The network splits
/// {0,1,2} | {3}, with 4 and 5 hearing both sides, then heals.
fn nothing_at_stake(slashing: bool) -> SimReport {
    let mut c = SimConfig::pos(6, 7, 300);
    c.slashing = slashing;
    c.attack = Some(generals_consensus::sim::Attack::NothingAtStake { nodes: vec![4, 5] });
    let epoch = c.pos.slot_ms * c.pos.epoch_slots;
    c.schedule = vec![
        (
            5 * epoch,
            NetChange::Cut(vec![vec![0, 1, 2, 4, 5], vec![3, 4, 5]]),
        ),
        (15 * epoch, NetChange::Heal),
    ];
    run(&c)
}

#[test]
fn nothing_at_stake_validators_are_slashed_exactly_and_only_with_slashing_on() {
    let r = nothing_at_stake(true);
    assert!(r.converged, "{:?}", r.tips);
    assert_eq!(
        r.jailed,
        vec![4, 5],
        "exactly the validators that signed on both forks"
    );
    assert!(
        r.double_slots[4] > 0 && r.double_slots[5] > 0,
        "they proposed on both forks: {:?}",
        r.double_slots
    );
    assert_eq!(
        r.double_slots[..4],
        [0, 0, 0, 0],
        "honest validators never double-propose"
    );
    // 10% of the 100 staked is taken from each of them, and from nobody else.
    assert_eq!(r.bonded, vec![100, 100, 100, 100, 90, 90]);

    let r = nothing_at_stake(false);
    assert!(r.converged, "{:?}", r.tips);
    assert!(
        r.jailed.is_empty(),
        "with slashing off the same evidence costs nothing: {:?}",
        r.jailed
    );
    assert!(
        r.double_slots[4] > 0 && r.double_slots[5] > 0,
        "they proposed on both forks: {:?}",
        r.double_slots
    );
    assert_eq!(r.bonded, vec![100; 6], "nobody lost stake");
    // Whichever fork won, they had blocks on it: they earn the reward as often
    // as an honest validator that sat on the winning side.
    for i in [4, 5] {
        assert!(
            r.shares[i] > 0.1,
            "node {i} earns on the winning fork: {:?}",
            r.shares
        );
    }
}

#[test]
fn an_equivocating_proposer_is_slashed_and_the_chain_converges() {
    let mut c = SimConfig::pos(4, 3, 200);
    c.attack = Some(generals_consensus::sim::Attack::Equivocate { node: 3 });
    let r = run(&c);
    assert!(r.converged, "{:?}", r.tips);
    assert!(r.double_slots[3] > 0, "{:?}", r.double_slots);
    assert_eq!(r.jailed, vec![3]);
    assert_eq!(r.bonded, vec![100, 100, 100, 90]);
    // Once jailed it is out of the validator set and leads no more slots; the
    // others finalize on.
    assert!(
        r.finalized[..3].iter().all(|f| *f >= 150),
        "{:?}",
        r.finalized
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let mut c = SimConfig::pos(5, 11, 120);
    c.attack = Some(generals_consensus::sim::Attack::NothingAtStake { nodes: vec![4] });
    let epoch = c.pos.slot_ms * c.pos.epoch_slots;
    c.schedule = vec![
        (
            2 * epoch,
            NetChange::Cut(vec![vec![0, 1, 4], vec![2, 3, 4]]),
        ),
        (6 * epoch, NetChange::Heal),
    ];
    let log = |c: &SimConfig| {
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let r = Simulator::new(c.clone(), EventLog::new(Box::new(W(buf.clone()))))
            .expect("config")
            .run()
            .expect("run")
            .0;
        let bytes = buf.lock().expect("lock").clone();
        (r.tips, bytes)
    };
    let (a, b) = (log(&c), log(&c));
    assert!(!a.1.is_empty());
    assert_eq!(a, b, "same seed, same log and tips");
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

#[test]
fn a_node_that_missed_justifications_catches_up_from_the_chain() {
    // Node 3 alone on one side while the other five (five sixths of the stake)
    // justify and finalize without it; after the heal it learns those links
    // from the attestations blocks carry, and finalizes with the rest.
    let mut c = SimConfig::pos(6, 7, 300);
    let epoch = c.pos.slot_ms * c.pos.epoch_slots;
    c.schedule = vec![
        (
            5 * epoch,
            NetChange::Cut(vec![vec![0, 1, 2, 4, 5], vec![3]]),
        ),
        (15 * epoch, NetChange::Heal),
    ];
    let r = run(&c);
    assert!(r.converged, "{:?}", r.tips);
    assert!(
        r.finalized.iter().all(|f| *f + 24 >= r.height),
        "finalized {:?} of {}",
        r.finalized,
        r.height
    );
}
