//! BFT (Tendermint) in the simulator.

use generals_consensus::sim::{Attack, BftFault, EventLog, NetChange, SimConfig, SimReport, Simulator};

fn run(config: &SimConfig) -> SimReport {
    Simulator::new(config.clone(), EventLog::sink())
        .expect("config")
        .run()
        .expect("run")
        .0
}

#[test]
fn honest_validators_decide_every_height() {
    let c = SimConfig::bft(4, 1, 30);
    let r = run(&c);
    eprintln!("{:?} {:?} conflicts {:?} height {} time {}", r.finalized, r.tips, r.conflicting_commits, r.height, r.sim_time_ms);
    assert!(r.converged);
    assert!(r.height >= 30);
    assert!(r.conflicting_commits.is_empty());
}
