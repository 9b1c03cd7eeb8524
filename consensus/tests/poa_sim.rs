//! Proof of authority in the simulator: fair rotation, liveness with an
//! authority offline, the signer limit, votes that add and remove authorities,
//! collusion with and without a majority, equivocation caught and punished, and
//! determinism.

use generals_chain::{MemoryStore, PublicKey};
use generals_consensus::core::NodeCore;
use generals_consensus::sim::report::authority_nodes;
use generals_consensus::sim::{
    node_key, Attack, EventLog, NetChange, SimConfig, SimReport, Simulator,
};

fn run(config: &SimConfig) -> (SimReport, Vec<NodeCore<MemoryStore>>) {
    Simulator::new(config.clone(), EventLog::sink())
        .expect("config")
        .run()
        .expect("run")
}

fn producers(core: &NodeCore<MemoryStore>) -> Vec<PublicKey> {
    let l = core.ledger();
    (1..=l.tip().height)
        .map(|h| l.block_at(h).expect("read").expect("block").header.producer)
        .collect()
}

#[test]
fn five_authorities_rotate_fairly_within_the_signer_limit() {
    let c = SimConfig::poa(5, 1, 400);
    let (r, cores) = run(&c);
    assert!(r.converged, "{:?}", r.tips);
    for (i, s) in r.shares.iter().enumerate() {
        assert!((0.15..=0.25).contains(s), "node {i} sealed {s}");
    }
    // No authority seals two of any three consecutive blocks (floor(5/2)+1).
    let p = producers(&cores[0]);
    for w in p.windows(3) {
        assert!(
            w[0] != w[1] && w[1] != w[2] && w[0] != w[2],
            "signer limit broken: {w:?}"
        );
    }
    assert_eq!(r.authorities.len(), 5);
}

#[test]
fn one_authority_offline_keeps_the_chain_live() {
    let mut c = SimConfig::poa(5, 2, 200);
    c.schedule = vec![(0, NetChange::Isolate(3))];
    let (r, cores) = run(&c);
    assert!(r.height >= 200);
    let three = node_key(3).public();
    // Until the run's end, when the network turns quiet and node 3 rejoins.
    let p = producers(&cores[0]);
    assert!(
        p[..190].iter().all(|k| *k != three),
        "the isolated authority sealed on the main chain"
    );
    // The others filled its turns out of turn.
    assert!(r
        .shares
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .all(|(_, s)| *s > 0.2));
}

#[test]
fn an_honest_majority_adds_and_removes_an_authority() {
    let mut c = SimConfig::poa(6, 3, 300);
    c.authorities = 5;
    c.schedule = vec![
        (
            20_000,
            NetChange::Propose {
                voters: vec![0, 1, 2],
                candidate: 5,
                add: true,
            },
        ),
        (
            600_000,
            NetChange::Propose {
                voters: vec![0, 1, 2, 5],
                candidate: 4,
                add: false,
            },
        ),
    ];
    let (r, cores) = run(&c);
    assert!(r.converged);
    assert_eq!(authority_nodes(&c, &cores[0]), vec![0, 1, 2, 3, 5]);
    assert!(
        r.shares[5] > 0.05,
        "the new authority seals: {:?}",
        r.shares
    );
    // Two votes of five are not enough.
    let mut c = SimConfig::poa(6, 3, 150);
    c.authorities = 5;
    c.schedule = vec![(
        20_000,
        NetChange::Propose {
            voters: vec![0, 1],
            candidate: 5,
            add: true,
        },
    )];
    let (_, cores) = run(&c);
    assert_eq!(authority_nodes(&c, &cores[0]), vec![0, 1, 2, 3, 4]);
}

#[test]
fn three_colluding_of_five_take_over_and_two_cannot() {
    let mut c = SimConfig::poa(5, 4, 200);
    c.tps = 2.0;
    c.attack = Some(Attack::Collude {
        nodes: vec![0, 1, 2],
        censor: 4,
    });
    let (r, cores) = run(&c);
    assert_eq!(authority_nodes(&c, &cores[0]), vec![0, 1, 2]);
    assert!(r.shares[3] + r.shares[4] < 0.2, "{:?}", r.shares);
    // The censored accounts' transfers never made it into the colluders' blocks.
    let censored: Vec<PublicKey> = (0..4)
        .map(|a| generals_chain::Keypair::dev(&format!("sim-account-{a}")).public())
        .collect();
    let l = cores[0].ledger();
    let late = (150..=l.tip().height)
        .flat_map(|h| l.block_at(h).expect("read").expect("block").transactions)
        .filter(|t| censored.contains(&t.body.sender))
        .count();
    assert_eq!(late, 0);

    let mut c = SimConfig::poa(5, 4, 200);
    c.attack = Some(Attack::Collude {
        nodes: vec![0, 1],
        censor: 0,
    });
    let (_, cores) = run(&c);
    assert_eq!(authority_nodes(&c, &cores[2]), vec![0, 1, 2, 3, 4]);
}

#[test]
fn an_equivocator_is_reported_and_voted_out() {
    let mut c = SimConfig::poa(5, 5, 150);
    c.attack = Some(Attack::Equivocate { node: 4 });
    let (r, cores) = run(&c);
    assert!(
        r.jailed.contains(&4),
        "evidence against node 4 was included: {:?}",
        r.jailed
    );
    assert_eq!(authority_nodes(&c, &cores[0]), vec![0, 1, 2, 3]);
    assert!(r.converged);
}

#[test]
fn a_cloned_key_double_signs_and_is_voted_out() {
    let mut c = SimConfig::poa(6, 6, 150);
    c.authorities = 5;
    // The two copies' mempools differ, so their blocks at one height differ (two
    // copies sealing the very same block would be no conflict).
    c.tps = 2.0;
    c.attack = Some(Attack::Clone { node: 2, twin: 5 });
    let (r, cores) = run(&c);
    assert!(r.jailed.contains(&2), "{:?}", r.jailed);
    assert_eq!(authority_nodes(&c, &cores[0]), vec![0, 1, 3, 4]);
}

#[test]
fn the_same_seed_gives_the_same_poa_chain() {
    let mut c = SimConfig::poa(5, 9, 60);
    c.tps = 1.0;
    c.attack = Some(Attack::Equivocate { node: 1 });
    let (a, _) = run(&c);
    let (b, _) = run(&c);
    assert_eq!(a.tips, b.tips);
    assert_eq!(a.produced_by, b.produced_by);
}
