use generals_consensus::sim::{Attack, BftFault, EventLog, NetChange, NetConfig, SimConfig, Simulator};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
fn hostile(n: usize, fault: BftFault, byz: Vec<usize>, seed: u64, blocks: u64) -> SimConfig {
    let mut c = SimConfig::bft(n, seed, blocks);
    c.attack = Some(Attack::Bft { fault, nodes: byz });
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    c.net = NetConfig { latency_ms: rng.gen_range(5..400), jitter_ms: rng.gen_range(0..400), loss: rng.gen_range(0.0..0.25) };
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let k = rng.gen_range(1..n);
    let (a, b) = order.split_at(k);
    let start = rng.gen_range(0..20_000);
    let end = start + rng.gen_range(1_000..40_000);
    c.schedule = vec![(start, NetChange::Cut(vec![a.to_vec(), b.to_vec()])), (end, NetChange::Heal)];
    c
}
#[test]
fn dbg() {
    let c = hostile(4, BftFault::SplitVote, vec![3], 2, 12);
    eprintln!("{:?}", c.schedule);
    let f = std::fs::File::create("/tmp/scratch/log.jsonl").unwrap();
    let r = Simulator::new(c, EventLog::new(Box::new(f))).unwrap().run().unwrap().0;
    eprintln!("{:?} {:?} {:?} msgs {} lost {} time {}", r.finalized, r.jailed, r.bonded, r.messages, r.lost, r.sim_time_ms);
}
