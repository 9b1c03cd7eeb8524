//! The DPoS producer's signing record: the engine saves the last slot it
//! sealed before the block leaves (`Output::Persist` first), and restarted
//! from that record it never seals a block for that slot or an earlier one.
//! Without the record, a restarted producer would seal a second block for
//! the slot: the control case below.

use generals_chain::{Block, Hash, Header};
use generals_consensus::dpos::{DposData, DposEngine, RECORD_NAME};
use generals_consensus::sim::{node_key, sim_genesis, SimConfig};
use generals_consensus::{Consensus, Headers, Input, Output};

struct NoHeaders;

impl Headers for NoHeaders {
    fn header(&self, _hash: &Hash) -> Option<Header> {
        None
    }
}

fn engine(record: Option<u64>) -> (DposEngine, Block) {
    let config = SimConfig::dpos(1, 0, 10);
    let genesis = sim_genesis(&config);
    let g = genesis.block().expect("genesis").header;
    let generals_chain::ConsensusSpec::Dpos(params) = genesis.consensus else {
        panic!("a dpos genesis");
    };
    let validators = genesis
        .validators
        .iter()
        .map(|v| (v.key, v.stake))
        .collect();
    let mut e = DposEngine::new(params, &genesis.chain_id, &g, validators, node_key(0));
    if let Some(slot) = record {
        e = e.with_record(slot);
    }
    let block = Block {
        header: Header {
            parent: g.hash(),
            height: 1,
            timestamp_ms: e.slot_start(5),
            producer: node_key(0).public(),
            tx_root: Block::compute_tx_root(&[]),
            evidence_root: Block::compute_evidence_root(&[]),
            state_root: Hash::ZERO,
            consensus: DposData {
                slot: 5,
                reveal: generals_chain::Signature([0; 64]),
            }
            .encode(),
            seal: Vec::new(),
        },
        transactions: Vec::new(),
        evidence: Vec::new(),
    };
    (e, block)
}

fn produced(e: &mut DposEngine, block: Block) -> Vec<Output> {
    e.handle(Input::Produced { block, now_ms: 0 }, &NoHeaders)
}

#[test]
fn the_slot_is_saved_before_the_block_leaves() {
    let (mut e, block) = engine(None);
    let out = produced(&mut e, block);
    let Some(Output::Persist(record)) = out.first() else {
        panic!("the record comes first: {out:?}");
    };
    assert_eq!(record.name, RECORD_NAME);
    assert_eq!(DposEngine::read_record(&record.bytes), Some(5));
    assert!(out.iter().any(|o| matches!(o, Output::Broadcast(_))));
}

#[test]
fn restarted_from_its_record_a_producer_never_seals_the_slot_again() {
    // The control: a producer restarted without its record seals slot 5 again.
    let (mut fresh, block) = engine(None);
    let again = produced(&mut fresh, block.clone());
    assert!(
        again.iter().any(|o| matches!(o, Output::Broadcast(_))),
        "without the record the slot is sealed a second time"
    );
    // With the record of slot 5 (or later), nothing leaves.
    for saved in [5, 6] {
        let (mut restarted, block) = engine(Some(saved));
        assert_eq!(
            produced(&mut restarted, block),
            Vec::new(),
            "record {saved}"
        );
    }
}
