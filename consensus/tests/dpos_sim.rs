//! Delegated proof of stake in the simulator: producers take turns, one
//! slot each a round; a producer that is away is skipped and its missed
//! slots counted; irreversibility stops while more than a third of the
//! producers are away and resumes when they return; a double producer is
//! caught and loses its place; stake voting for other delegates takes over
//! the schedule from the round after its vote.

use generals_consensus::sim::{node_key, SIM_GENESIS_MS};
use generals_consensus::sim::{EventLog, NetChange, SimConfig, SimReport, Simulator};

fn run_logged(config: &SimConfig) -> (SimReport, String) {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let r = Simulator::new(config.clone(), EventLog::new(Box::new(W(buf.clone()))))
        .expect("config")
        .run()
        .expect("run")
        .0;
    let log = String::from_utf8(buf.lock().expect("lock").clone()).expect("utf8");
    (r, log)
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

/// The events of `kind` the node `node` logged, as JSON.
fn events(log: &str, kind: &str, node: usize) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == kind && v["node"] == node)
        .collect()
}

#[test]
fn producers_take_turns_one_slot_each_a_round() {
    let c = SimConfig::dpos(4, 1, 200);
    let (r, _) = run_logged(&c);
    assert!(r.converged, "{:?}", r.tips);
    for (i, share) in r.shares.iter().enumerate() {
        assert!(
            (share - 0.25).abs() < 0.03,
            "producer {i} made {share} of the blocks: {:?}",
            r.shares
        );
    }
    // Every node sees the chain become irreversible close behind its tip.
    assert!(
        r.finalized.iter().all(|f| *f + 8 >= r.height),
        "irreversible {:?} of {}",
        r.finalized,
        r.height
    );
}

#[test]
fn a_missing_producer_is_skipped_and_counted_and_irreversibility_needs_two_thirds() {
    let mut c = SimConfig::dpos(4, 2, 400);
    let slot = c.dpos.slot_ms;
    // One of four away: blocks go on, and stay irreversible (3 > 2/3 of 4).
    // Then two of four away: blocks go on, irreversibility stops; both back:
    // it resumes.
    c.schedule = vec![
        (40 * slot, NetChange::Isolate(3)),
        (80 * slot, NetChange::Rejoin(3)),
        (
            120 * slot,
            NetChange::Cut(vec![vec![0, 1], vec![2], vec![3]]),
        ),
        (200 * slot, NetChange::Heal),
    ];
    let (r, log) = run_logged(&c);
    assert!(r.converged, "{:?}", r.tips);
    let finals: Vec<u64> = events(&log, "finalized", 0)
        .iter()
        .filter_map(|v| Some(v["t"].as_u64()? - SIM_GENESIS_MS))
        .collect();
    let during = |a: u64, b: u64| finals.iter().filter(|t| **t > a && **t < b).count();
    assert!(
        during(45 * slot, 80 * slot) > 10,
        "with one of four away, blocks still become irreversible: {finals:?}"
    );
    assert_eq!(
        during(125 * slot, 200 * slot),
        0,
        "with two of four away nothing becomes irreversible: {finals:?}"
    );
    assert!(
        during(200 * slot, u64::MAX) > 10,
        "irreversibility resumes once they are back: {finals:?}"
    );
}

#[test]
fn a_double_producer_is_caught_and_loses_its_place() {
    let mut c = SimConfig::dpos(5, 3, 300);
    c.dpos.producers = 4;
    // Node 1 has the most votes, so it produces until it is caught.
    c.stakes = vec![100, 200, 100, 100, 100];
    c.slashing = true;
    c.attack = Some(generals_consensus::sim::Attack::Equivocate { node: 1 });
    let (r, log) = run_logged(&c);
    assert!(r.jailed.contains(&1), "jailed {:?}", r.jailed);
    assert!(
        r.jailed.iter().all(|j| *j == 1),
        "only the double producer: {:?}",
        r.jailed
    );
    // After the evidence is on the chain, node 1 produces nothing more on
    // the main chain, and node 4 (the fifth delegate) takes its place.
    let imports = events(&log, "imported", 0);
    let key = |i: usize| serde_json::json!(node_key(i).public());
    let last_by_1 = imports
        .iter()
        .filter(|v| v["producer"] == key(1))
        .filter_map(|v| v["height"].as_u64())
        .max()
        .unwrap_or(0);
    let by_4 = imports.iter().filter(|v| v["producer"] == key(4)).count();
    assert!(
        last_by_1 + 20 < r.height,
        "node 1 stopped at {last_by_1} of {}",
        r.height
    );
    assert!(by_4 > 10, "node 4 took its place: {by_4} blocks");
}

#[test]
fn a_cartel_of_three_in_four_orphans_the_outsider() {
    let mut c = SimConfig::dpos(4, 4, 200);
    c.attack = Some(generals_consensus::sim::Attack::Collude {
        nodes: vec![0, 1, 2],
        censor: 0,
    });
    let (r, _) = run_logged(&c);
    assert!(
        r.shares[3] < 0.02,
        "the outsider's blocks are orphaned: shares {:?}",
        r.shares
    );
    assert!(r.produced_by[3] > 20, "it did produce: {:?}", r.produced_by);
}

#[test]
fn stake_voting_for_other_delegates_takes_over_the_schedule_the_round_after() {
    let mut c = SimConfig::dpos(6, 5, 120);
    c.dpos.producers = 3;
    c.stakes = vec![300, 300, 300, 10, 10, 1_000];
    let slot = c.dpos.slot_ms;
    let at = 30 * slot;
    c.schedule = vec![(
        at,
        NetChange::Submit {
            node: 5,
            action: generals_chain::tx::Action::Vote {
                delegates: vec![
                    node_key(3).public(),
                    node_key(4).public(),
                    node_key(5).public(),
                ],
            },
        },
    )];
    let (r, log) = run_logged(&c);
    assert!(r.converged, "{:?}", r.tips);
    let imports = events(&log, "imported", 0);
    let producer_of = |v: &serde_json::Value| {
        (0..6).find(|i| v["producer"] == serde_json::json!(node_key(*i).public()))
    };
    let before: Vec<usize> = imports
        .iter()
        .filter(|v| v["t"].as_u64().is_some_and(|t| t - SIM_GENESIS_MS < at))
        .filter_map(producer_of)
        .collect();
    assert!(
        before.iter().any(|p| *p < 3),
        "honest delegates produced before the vote: {before:?}"
    );
    // The vote lands within a slot or two; the round after it, the schedule
    // is the attacker's (a round is 3 slots): at most 3 rounds and 2 slots.
    let settled = at + 11 * slot;
    let after: Vec<usize> = imports
        .iter()
        .filter(|v| {
            v["t"]
                .as_u64()
                .is_some_and(|t| t - SIM_GENESIS_MS > settled)
        })
        .filter_map(producer_of)
        .collect();
    assert!(
        after.len() > 30,
        "blocks after the takeover: {}",
        after.len()
    );
    assert!(
        after.iter().all(|p| [3, 4, 5].contains(p)),
        "only the attacker's delegates produce: {after:?}"
    );
}

#[test]
fn silent_producers_are_skipped_and_past_a_third_nothing_becomes_irreversible() {
    let silent = |nodes: Vec<usize>| {
        let mut c = SimConfig::dpos(4, 6, 60);
        c.attack = Some(generals_consensus::sim::Attack::Bft {
            fault: generals_consensus::sim::BftFault::Silent,
            nodes,
        });
        run_logged(&c).0
    };
    // One of four silent: three make the chain, and it becomes irreversible.
    let r = silent(vec![3]);
    assert_eq!(r.produced_by[3], 0);
    assert!(
        r.finalized[0] + 10 >= r.height,
        "{:?} of {}",
        r.finalized,
        r.height
    );
    // Two of four: blocks go on, nothing becomes irreversible.
    let r = silent(vec![2, 3]);
    assert!(r.height >= 60, "the two left carry on: {}", r.height);
    assert_eq!(r.finalized[0], 0, "{:?}", r.finalized);
}
