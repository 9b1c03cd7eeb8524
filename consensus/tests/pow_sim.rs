//! Proof of work in the simulator: convergence, fair shares, partitions, difficulty,
//! attacks and determinism. GENERALS_SIM_SEEDS raises the seed counts above the
//! CI defaults.

use generals_chain::{BlockStore, Hash, MemoryStore, PublicKey, State};
use generals_consensus::core::NodeCore;
use generals_consensus::sim::{
    node_key, sim_genesis, Attack, EventLog, NetChange, SimConfig, SimReport, Simulator,
};
mod common;
use common::Shared;

fn seeds(default: u64) -> u64 {
    std::env::var("GENERALS_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(config: SimConfig) -> (SimReport, Vec<NodeCore<MemoryStore>>) {
    Simulator::new(config, EventLog::sink())
        .expect("config")
        .run()
        .expect("run")
}

/// The main chain of a node, genesis excluded.
fn main_chain(core: &NodeCore<MemoryStore>) -> Vec<generals_chain::Block> {
    let ledger = core.ledger();
    (1..=ledger.tip().height)
        .map(|h| ledger.block_at(h).expect("read").expect("block"))
        .collect()
}

fn replay(config: &SimConfig, core: &NodeCore<MemoryStore>) -> State {
    let genesis = sim_genesis(config);
    let mut state = genesis.state().expect("state");
    for b in main_chain(core) {
        state.apply_block(&b, &genesis.rules()).expect("replays");
    }
    state
}

#[test]
fn honest_nodes_converge_once_the_network_is_quiet() {
    let n = seeds(200);
    for seed in 0..n {
        let mut c = SimConfig::honest(4, seed, 30);
        c.net.loss = 0.02;
        c.tps = 0.5;
        let (r, cores) = run(c);
        assert!(r.converged, "seed {seed}: tips {:?}", r.tips);
        assert!(r.height >= 30, "seed {seed}: height {}", r.height);
        let root = cores[0].ledger().state().root();
        assert!(
            cores.iter().all(|c| c.ledger().state().root() == root),
            "seed {seed}"
        );
    }
}

#[test]
fn each_miners_share_of_the_main_chain_tracks_its_hash_power() {
    let mut c = SimConfig::honest(4, 11, 3_000);
    c.hashpower = vec![40.0, 30.0, 20.0, 10.0];
    let (r, _) = run(c);
    for (i, (share, power)) in r.shares.iter().zip(&r.hashpower).enumerate() {
        assert!(
            (share - power).abs() < 0.03,
            "node {i}: share {share} for power {power}"
        );
    }
    assert!(r.orphans < r.height / 20, "{} orphans", r.orphans);
}

#[test]
fn after_a_60_block_partition_the_lighter_side_reorgs_to_the_heavier() {
    let mut c = SimConfig::honest(4, 3, 150);
    c.hashpower = vec![35.0, 35.0, 15.0, 15.0];
    let cut_at = 200_000;
    c.schedule = vec![
        (cut_at, NetChange::Cut(vec![vec![0, 1], vec![2, 3]])),
        (cut_at + 60 * c.pow.target_block_ms, NetChange::Heal),
    ];
    let (r, cores) = run(c.clone());
    assert!(r.converged, "tips {:?}", r.tips);
    assert!(
        r.max_reorg_depth >= 5,
        "deepest reorg {}",
        r.max_reorg_depth
    );
    // The blocks mined during the cut on the final chain are the heavier side's.
    let heavy: Vec<PublicKey> = [0, 1].iter().map(|i| node_key(*i).public()).collect();
    let during: Vec<_> = main_chain(&cores[2])
        .into_iter()
        .filter(|b| {
            let t = b.header.timestamp_ms - generals_consensus::sim::SIM_GENESIS_MS;
            t > cut_at + 5_000 && t < cut_at + 55 * 10_000
        })
        .collect();
    assert!(during.len() >= 20, "{} blocks during the cut", during.len());
    assert!(during.iter().all(|b| heavy.contains(&b.header.producer)));
    // The node that reorged holds exactly the state a replay gives.
    assert_eq!(&replay(&c, &cores[2]), cores[2].ledger().state());
}

#[test]
fn difficulty_follows_a_fourfold_change_in_hash_power() {
    let mut c = SimConfig::honest(4, 5, 600);
    c.schedule = vec![(1_000_000, NetChange::HashPower(4.0))];
    let (r, cores) = run(c.clone());
    let ratio = r.final_difficulty as f64 / c.pow.initial_difficulty as f64;
    assert!((3.0..5.0).contains(&ratio), "difficulty went {ratio}x");
    let chain = main_chain(&cores[0]);
    let last = &chain[chain.len() - 200..];
    let span = last[last.len() - 1].header.timestamp_ms - last[0].header.timestamp_ms;
    let interval = span as f64 / (last.len() - 1) as f64;
    assert!(
        (8_000.0..12_500.0).contains(&interval),
        "interval {interval} ms after retarget"
    );
}

fn double_spend_rate(share: f64, n: u64) -> f64 {
    let mut wins = 0;
    for seed in 0..n {
        let mut c = SimConfig::honest(4, seed, 60);
        c.hashpower = vec![
            share,
            (1.0 - share) / 3.0,
            (1.0 - share) / 3.0,
            (1.0 - share) / 3.0,
        ];
        c.attack = Some(Attack::PrivateFork {
            node: 0,
            confirmations: 2,
            give_up: 30,
            at_height: 5,
        });
        let (r, _) = run(c);
        wins += u64::from(r.attack.and_then(|a| a.double_spent) == Some(true));
    }
    wins as f64 / n as f64
}

#[test]
fn a_majority_attacker_double_spends_and_a_small_one_rarely_does() {
    let n = seeds(30);
    let big = double_spend_rate(0.6, n);
    let small = double_spend_rate(0.1, n);
    assert!(big >= 0.9, "60% attacker succeeded {big}");
    assert!(small <= 0.15, "10% attacker succeeded {small}");
}

#[test]
fn a_selfish_miner_with_40_percent_earns_more_than_its_share() {
    let n = seeds(8);
    let mut total = 0.0;
    for seed in 0..n {
        let mut c = SimConfig::honest(10, seed, 400);
        c.hashpower = [vec![40.0], vec![60.0 / 9.0; 9]].concat();
        c.attack = Some(Attack::Selfish {
            node: 0,
            gamma: 0.5,
        });
        let (r, _) = run(c);
        total += r.attack.expect("attack").main_chain_share;
    }
    let mean = total / n as f64;
    // Eyal and Sirer predict 48% at alpha 0.4, gamma 0.5.
    assert!(mean > 0.43, "selfish miner's share {mean}");
}

fn logged(seed: u64) -> (Vec<u8>, Vec<Hash>) {
    let buf = Shared::default();
    let mut c = SimConfig::honest(4, seed, 40);
    c.tps = 2.0;
    c.net.loss = 0.05;
    c.schedule = vec![(100_000, NetChange::Isolate(3)), (200_000, NetChange::Heal)];
    let (r, cores) = Simulator::new(c, EventLog::new(Box::new(buf.clone())))
        .expect("config")
        .run()
        .expect("run");
    let chain = main_chain(&cores[0]).iter().map(|b| b.hash()).collect();
    assert!(r.height >= 40);
    let bytes = buf.bytes();
    (bytes, chain)
}

#[test]
fn the_same_seed_gives_the_same_log_and_chain() {
    let (a, chain_a) = logged(42);
    let (b, chain_b) = logged(42);
    assert!(a.len() > 10_000, "log of {} bytes", a.len());
    assert_eq!(a, b);
    assert_eq!(chain_a, chain_b);
    let (c, _) = logged(43);
    assert_ne!(a, c);
    // Every line is a JSON object with a time and an event.
    for line in a.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).expect("json line");
        assert!(v["t"].is_u64() && v["event"].is_string(), "{v}");
    }
}

#[test]
fn main_chain_blocks_carry_the_rewards_of_their_miners() {
    let (r, cores) = run(SimConfig::honest(4, 9, 20));
    let chain = main_chain(&cores[0]);
    let store = cores[0].ledger().store();
    assert!(store.has_block(&chain[0].hash()).expect("read"));
    let mut produced = [0u64; 4];
    for b in &chain {
        let i = (0..4)
            .position(|i| node_key(i).public() == b.header.producer)
            .expect("a node");
        produced[i] += 1;
    }
    for (i, p) in produced.iter().enumerate() {
        let balance = cores[1]
            .ledger()
            .state()
            .get(&node_key(i).public())
            .expect("acct")
            .balance;
        assert_eq!(balance, 1_000_000 + 50 * p, "node {i}");
    }
    assert!(r.height >= 20);
}
