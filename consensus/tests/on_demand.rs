//! Production on demand (`ondemand::OnDemand`): the engine's clock stands
//! still between requests, so the host's ticks and timers make no block, and
//! a request makes one by the engine's own rules; and a block invalidated by
//! hand before a restart stays invalid when it arrives again.

use generals_chain::genesis::Production;
use generals_chain::{Genesis, Header, MemoryStore, MempoolConfig};
use generals_consensus::core::NodeCore;
use generals_consensus::factory::{self, Setup};
use generals_consensus::ondemand::ForgeError;
use generals_consensus::pow::WorkCheck;
use generals_consensus::sim::{node_key, sim_genesis, Kind, SimConfig};
use generals_consensus::{Consensus, Input, Output};

fn poa_genesis(production: Production) -> Genesis {
    let mut config = SimConfig::honest(1, 1, 10);
    config.kind = Kind::Poa;
    config.authorities = 1;
    let mut genesis = sim_genesis(&config);
    genesis.production = production;
    genesis
}

fn engine(genesis: &Genesis) -> Box<dyn Consensus> {
    factory::build(
        genesis,
        Setup {
            key: node_key(0),
            seed: 1,
            work: WorkCheck::Simulated,
            record: None,
            byzantine: None,
            trigger: Default::default(),
        },
    )
    .expect("engine")
}

fn builds(out: &[Output]) -> Vec<(generals_chain::Hash, u64)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Build {
                parent,
                timestamp_ms,
                ..
            } => Some((*parent, *timestamp_ms)),
            _ => None,
        })
        .collect()
}

fn core(genesis: &Genesis) -> NodeCore<MemoryStore> {
    NodeCore::open(
        MemoryStore::default(),
        genesis,
        |_: &Header| 1,
        MempoolConfig::default(),
    )
    .expect("core")
}

#[test]
fn the_host_clock_makes_no_block_and_a_request_makes_one_by_the_rules() {
    // On its schedule, the authority's engine asks the host for a timer at
    // its turn, and the timer makes a block.
    let scheduled = poa_genesis(Production::Scheduled);
    let g = scheduled.block().expect("genesis").header;
    let c = core(&scheduled);
    let headers = c.ledger().store();
    let mut e = engine(&scheduled);
    let out = e.handle(
        Input::NewTip {
            tip: g.clone(),
            now_ms: g.timestamp_ms,
        },
        headers,
    );
    let (id, at_ms) = out
        .iter()
        .find_map(|o| match o {
            Output::SetTimer { id, at_ms } => Some((*id, *at_ms)),
            _ => None,
        })
        .expect("a timer for its turn");
    let out = e.handle(Input::Timer { id, now_ms: at_ms }, headers);
    assert_eq!(builds(&out).len(), 1, "{out:?}");
    assert!(matches!(e.forge(None, headers), Err(ForgeError::Scheduled)));

    // On demand: no timer reaches the host, the host's clock makes nothing,
    // and a request builds on the tip, a period after it.
    let on_demand = poa_genesis(Production::OnDemand);
    let g = on_demand.block().expect("genesis").header;
    let c = core(&on_demand);
    let headers = c.ledger().store();
    let mut e = engine(&on_demand);
    let out = e.handle(
        Input::NewTip {
            tip: g.clone(),
            now_ms: g.timestamp_ms,
        },
        headers,
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::SetTimer { .. })),
        "{out:?}"
    );
    for now_ms in [at_ms, at_ms + 60_000] {
        assert!(e.handle(Input::Tick { now_ms }, headers).is_empty());
        assert!(e.handle(Input::Timer { id, now_ms }, headers).is_empty());
    }
    let out = e.forge(None, headers).expect("forge");
    assert_eq!(builds(&out), vec![(g.hash(), at_ms)], "{out:?}");
    // A block far ahead of the wall clock is this chain's own time.
    let mut ahead = g.clone();
    ahead.height = 1;
    ahead.parent = g.hash();
    ahead.timestamp_ms = u64::MAX / 2;
    let scheduled_engine = engine(&scheduled);
    let too_new = scheduled_engine.validate(&ahead, headers, g.timestamp_ms);
    let here = e.validate(&ahead, headers, g.timestamp_ms);
    assert!(
        matches!(
            too_new,
            Err(generals_consensus::ConsensusError::TimestampTooNew { .. })
        ),
        "{too_new:?}"
    );
    assert!(
        !matches!(
            here,
            Err(generals_consensus::ConsensusError::TimestampTooNew { .. })
        ),
        "{here:?}"
    );
}

#[test]
fn a_block_held_invalid_before_a_restart_stays_invalid_when_it_comes_back() {
    let genesis = poa_genesis(Production::Scheduled);
    let g = genesis.block().expect("genesis").header;
    let key = node_key(0).public();
    // Another node's chain of two blocks.
    let mut other = core(&genesis);
    let mut blocks = Vec::new();
    let mut parent = g.hash();
    for height in 1..=2 {
        let b = other
            .build_on(
                parent,
                height,
                g.timestamp_ms + height * 1_000,
                key,
                Vec::new(),
                Vec::new(),
                &|_| true,
            )
            .expect("built");
        parent = b.hash();
        other.add_block(b.clone(), &Lenient, 0).expect("added");
        blocks.push(b);
    }
    // This node held the first invalid by hand before it restarted, when it
    // did not have it yet: neither block is followed when they arrive.
    let mut c = core(&genesis);
    assert!(c.hold_invalid(blocks[0].hash()).expect("held").is_none());
    for b in &blocks {
        c.add_block(b.clone(), &Lenient, 0).expect("added");
    }
    assert_eq!(c.tip().height, 0);
    assert!(c.tree().is_invalid(&blocks[1].hash()));
    // Without the mark it follows them.
    let mut fresh = core(&genesis);
    for b in &blocks {
        fresh.add_block(b.clone(), &Lenient, 0).expect("added");
    }
    assert_eq!(fresh.tip().height, 2);
}

/// Takes any header: the fork-choice part of the core is under test.
struct Lenient;

impl Consensus for Lenient {
    fn kind(&self) -> &'static str {
        "lenient"
    }
    fn weight(&self, _: &Header) -> u128 {
        1
    }
    fn validate(
        &self,
        _: &Header,
        _: &dyn generals_consensus::Headers,
        _: u64,
    ) -> Result<(), generals_consensus::ConsensusError> {
        Ok(())
    }
    fn handle(&mut self, _: Input, _: &dyn generals_consensus::Headers) -> Vec<Output> {
        Vec::new()
    }
}
