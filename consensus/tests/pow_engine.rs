//! The proof-of-work engine, rule by rule: step tables for `handle` and one test
//! per validation rule, with real mining at a small difficulty.

use generals_chain::genesis::{GenesisAccount, PowParams};
use generals_chain::state::Slashing;
use generals_chain::store::Op;
use generals_chain::{
    build_block, Block, BlockStore, BlockTemplate, ConsensusSpec, Genesis, Hash, Header, Keypair,
    MemoryStore,
};
use generals_consensus::pow::{work, PowData, PowEngine, WorkCheck};
use generals_consensus::{Consensus, ConsensusError, Input, Output};

const T0: u64 = 1_700_000_000_000;

fn params() -> PowParams {
    PowParams {
        target_block_ms: 1_000,
        initial_difficulty: 16,
        halflife_ms: 10_000,
        max_future_drift_ms: 5_000,
    }
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: "pow-test".into(),
        timestamp_ms: T0,
        consensus: ConsensusSpec::Pow(params()),
        block_reward: 50,
        slashing: Slashing::default(),
        accounts: vec![GenesisAccount {
            key: Keypair::dev("miner").public(),
            balance: 10,
        }],
        validators: vec![],
        production: Default::default(),
    }
}

struct Chain {
    engine: PowEngine,
    store: MemoryStore,
    state: generals_chain::State,
    tip: Block,
    g: Genesis,
}

impl Chain {
    fn new() -> Chain {
        let g = genesis();
        let block = g.block().expect("genesis");
        let mut store = MemoryStore::new();
        store.write(&[Op::PutBlock(&block)]).expect("store");
        Chain {
            engine: PowEngine::new(params(), &block.header, WorkCheck::Real),
            state: g.state().expect("state"),
            tip: block,
            store,
            g,
        }
    }

    /// A block on the tip at `timestamp`, mined for real.
    fn next(&self, timestamp_ms: u64) -> Block {
        let difficulty = self
            .engine
            .next_difficulty(&self.tip.header, &self.store)
            .expect("difficulty");
        let mut b = build_block(
            &self.state,
            &self.g.rules(),
            BlockTemplate {
                parent: self.tip.hash(),
                height: self.tip.height() + 1,
                timestamp_ms,
                producer: Keypair::dev("miner").public(),
                consensus: PowData { difficulty }.encode(),
                max_txs: 10,
            },
            vec![],
            vec![],
        )
        .expect("build")
        .block;
        let nonce =
            work::mine(&b.header, difficulty, 0, 1 << 20).expect("a nonce within 2^20 tries");
        b.header.seal = nonce.to_le_bytes().to_vec();
        b
    }

    fn push(&mut self, b: Block) {
        self.state.apply_block(&b, &self.g.rules()).expect("apply");
        self.store.write(&[Op::PutBlock(&b)]).expect("store");
        self.tip = b;
    }

    fn validate(&self, h: &Header, now: u64) -> Result<(), ConsensusError> {
        self.engine.validate(h, &self.store, now)
    }
}

#[test]
fn a_mined_block_validates() {
    let c = Chain::new();
    let b = c.next(T0 + 1_000);
    assert_eq!(c.validate(&b.header, T0 + 1_000), Ok(()));
    assert_eq!(c.engine.weight(&b.header), 16);
}

#[test]
fn a_wrong_nonce_lacks_work() {
    let c = Chain::new();
    let mut b = c.next(T0 + 1_000);
    // Find a nonce that does not meet the difficulty.
    let bad = (0u64..)
        .find(|n| !work::meets(&work::work_hash(&b.header.seal_hash(), *n), 16))
        .expect("some nonce fails");
    b.header.seal = bad.to_le_bytes().to_vec();
    assert_eq!(
        c.validate(&b.header, T0 + 1_000),
        Err(ConsensusError::InsufficientWork { difficulty: 16 })
    );
    b.header.seal = vec![1, 2, 3];
    assert!(matches!(
        c.validate(&b.header, T0 + 1_000),
        Err(ConsensusError::BadSeal { .. })
    ));
}

#[test]
fn the_difficulty_must_be_the_scheduled_one() {
    let c = Chain::new();
    let mut b = c.next(T0 + 1_000);
    b.header.consensus = PowData { difficulty: 15 }.encode();
    assert_eq!(
        c.validate(&b.header, T0 + 1_000),
        Err(ConsensusError::WrongDifficulty {
            expected: 16,
            got: 15
        })
    );
    b.header.consensus = vec![0xff, 0xff];
    assert!(matches!(
        c.validate(&b.header, T0 + 1_000),
        Err(ConsensusError::BadConsensusData { .. })
    ));
}

#[test]
fn timestamps_must_pass_the_median_of_eleven_and_not_run_ahead() {
    let mut c = Chain::new();
    for i in 1..=11 {
        let b = c.next(T0 + i * 1_000);
        c.push(b);
    }
    // The median of the last 11 timestamps is that of block 6.
    let median = T0 + 6_000;
    let old = c.next(median);
    assert_eq!(
        c.validate(&old.header, T0 + 12_000),
        Err(ConsensusError::TimestampTooOld {
            got: median,
            median
        })
    );
    let ok = c.next(median + 1);
    assert_eq!(c.validate(&ok.header, T0 + 12_000), Ok(()));
    let future = c.next(T0 + 12_000 + 5_001);
    assert!(matches!(
        c.validate(&future.header, T0 + 12_000),
        Err(ConsensusError::TimestampTooNew {
            drift_ms: 5_000,
            ..
        })
    ));
}

#[test]
fn late_blocks_ease_the_difficulty_and_early_ones_raise_it() {
    let mut c = Chain::new();
    let b = c.next(T0 + 1_000);
    c.push(b);
    let on_time = c
        .engine
        .next_difficulty(&c.tip.header, &c.store)
        .expect("d");
    let mut slow = Chain::new();
    let b = slow.next(T0 + 11_000);
    slow.push(b);
    let mut fast = Chain::new();
    let b = fast.next(T0 + 1);
    fast.push(b);
    let late = slow
        .engine
        .next_difficulty(&slow.tip.header, &slow.store)
        .expect("d");
    let early = fast
        .engine
        .next_difficulty(&fast.tip.header, &fast.store)
        .expect("d");
    assert!(
        late < on_time && on_time < early,
        "{late} {on_time} {early}"
    );
    // One half-life (10 s) behind schedule halves it.
    assert_eq!(late, 8);
}

#[test]
fn an_unknown_parent_is_named() {
    let c = Chain::new();
    let mut b = c.next(T0 + 1_000);
    b.header.parent = Hash::digest(b"nowhere");
    assert_eq!(
        c.validate(&b.header, T0 + 1_000),
        Err(ConsensusError::UnknownParent {
            parent: b.header.parent
        })
    );
}

#[test]
fn handle_step_table() {
    let mut c = Chain::new();
    let b = c.next(T0 + 1_000);
    let tip = c.tip.header.clone();
    let store = c.store.clone();
    let mut e = c.engine.clone();
    // A new tip: mine on it, at the scheduled difficulty, after the median time.
    let out = e.handle(
        Input::NewTip {
            tip: tip.clone(),
            now_ms: T0,
        },
        &store,
    );
    assert_eq!(
        out,
        vec![Output::Mine {
            parent: tip.hash(),
            height: 1,
            min_timestamp_ms: T0 + 1,
            consensus: PowData { difficulty: 16 }.encode(),
            difficulty: 16,
        }]
    );
    // A block from a peer: import it.
    let out = e.handle(
        Input::BlockReceived {
            from: 3,
            block: b.clone(),
            now_ms: T0,
        },
        &store,
    );
    assert_eq!(out, vec![Output::Import(b.clone())]);
    // A block of our own: import it and send it to everyone.
    let out = e.handle(
        Input::Produced {
            block: b.clone(),
            now_ms: T0,
        },
        &store,
    );
    assert_eq!(
        out,
        vec![Output::Import(b.clone()), Output::Broadcast(b.clone())]
    );
    // Time alone does nothing.
    assert!(e.handle(Input::Tick { now_ms: T0 + 5 }, &store).is_empty());
    c.push(b);
}

#[test]
fn a_wrong_height_is_refused() {
    let c = Chain::new();
    let mut b = c.next(T0 + 1_000);
    b.header.height = 5;
    assert_eq!(
        c.validate(&b.header, T0 + 1_000),
        Err(ConsensusError::BadHeight { got: 5, parent: 0 })
    );
}

#[test]
fn an_orphan_must_carry_the_work_it_claims() {
    let c = Chain::new();
    let b = c.next(T0 + 1_000);
    assert_eq!(c.engine.precheck(&b.header), Ok(()));
    let mut forged = b.clone();
    forged.header.consensus = PowData {
        difficulty: 1 << 40,
    }
    .encode();
    assert!(matches!(
        c.engine.precheck(&forged.header),
        Err(ConsensusError::InsufficientWork { .. })
    ));
}
