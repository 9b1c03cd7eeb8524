//! Simulator speed: a 4-node proof-of-work network with empty blocks, in blocks
//! of the main chain per second of wall time, on one core (the simulator is
//! single-threaded). Goal: at least 10,000.
//!
//! `cargo bench -p generals-consensus --bench sim`

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use generals_consensus::sim::{EventLog, SimConfig, Simulator};
use std::time::Duration;

const BLOCKS: u64 = 5_000;

fn sim(c: &mut Criterion) {
    let mut g = c.benchmark_group("sim");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(BLOCKS));
    let mut seed = 0;
    g.bench_function("pow_4_nodes_empty_blocks", |b| {
        b.iter(|| {
            seed += 1;
            let (report, _) = Simulator::new(SimConfig::honest(4, seed, BLOCKS), EventLog::sink())
                .expect("config")
                .run()
                .expect("run");
            assert!(report.height >= BLOCKS);
        })
    });
    g.finish();
}

criterion_group!(benches, sim);
criterion_main!(benches);
