//! Helpers shared by the chain's integration tests.
#![allow(dead_code)]

use generals_chain::genesis::GenesisValidator;
use generals_chain::{
    build_block, Action, Block, BlockTemplate, ChainRules, Evidence, Genesis, Keypair, MessageKind,
    Position, PublicKey, SignedMessage, State, Transaction, TxBody,
};

pub const CHAIN: &str = "generals-test";

/// `n` dev keys, each funded with `balance`, the first `validators` with stake 100.
pub fn genesis(n: usize, balance: u64, validators: usize) -> (Genesis, Vec<Keypair>) {
    let (mut g, keys) = generals_chain::fixtures::funded_genesis(CHAIN, "test", n, balance);
    g.validators = keys
        .iter()
        .take(validators)
        .map(|k| GenesisValidator {
            key: k.public(),
            stake: 100,
            name: None,
        })
        .collect();
    (g, keys)
}

pub fn tx(key: &Keypair, nonce: u64, fee: u64, action: Action) -> Transaction {
    TxBody {
        chain_id: CHAIN.to_string(),
        sender: key.public(),
        nonce,
        fee,
        action,
    }
    .sign(key)
}

pub fn transfer(key: &Keypair, to: PublicKey, nonce: u64, fee: u64, amount: u64) -> Transaction {
    tx(key, nonce, fee, Action::Transfer { to, amount })
}

/// A block on `parent` holding exactly `txs` (panics if one does not apply).
pub fn block_on(
    state: &State,
    rules: &ChainRules,
    parent: &Block,
    producer: PublicKey,
    txs: Vec<Transaction>,
) -> Block {
    let n = txs.len();
    let built = build_block(
        state,
        rules,
        BlockTemplate {
            parent: parent.hash(),
            height: parent.height() + 1,
            timestamp_ms: parent.header.timestamp_ms + 1000,
            producer,
            consensus: Vec::new(),
            max_txs: usize::MAX,
        },
        txs,
        Vec::new(),
    )
    .expect("block builds");
    assert!(built.skipped.is_empty(), "skipped: {:?}", built.skipped);
    assert_eq!(built.block.transactions.len(), n);
    built.block
}

/// A block producer's double-sign at `height`: two different blocks, one position.
pub fn double_sign(key: &Keypair, height: u64) -> Evidence {
    let at = Position {
        kind: MessageKind::Block,
        height,
        round: 0,
    };
    Evidence {
        first: SignedMessage::sign(key, CHAIN, at, b"block A".to_vec()),
        second: SignedMessage::sign(key, CHAIN, at, b"block B".to_vec()),
    }
}

/// Opens (or creates) the sled ledger in `dir`.
pub fn open_sled(
    dir: &std::path::Path,
    g: &Genesis,
) -> Result<generals_chain::Ledger<generals_chain::SledStore>, generals_chain::LedgerError> {
    let store = generals_chain::SledStore::open(
        dir,
        &g.chain_id,
        g.block().expect("genesis block").hash(),
    )?;
    Ok(generals_chain::Ledger::open(store, g)?.0)
}

/// Imports `n` blocks of two transfers each.
pub fn grow(
    ledger: &mut generals_chain::Ledger<generals_chain::SledStore>,
    g: &Genesis,
    keys: &[Keypair],
    n: usize,
) {
    for _ in 0..n {
        let tip = ledger.tip();
        let parent = ledger.block_at(tip.height).expect("read").expect("tip");
        let i = tip.height as usize;
        let txs = (0..2)
            .map(|j| {
                let from = &keys[(i + j) % keys.len()];
                let nonce = ledger.state().get(&from.public()).map_or(0, |a| a.nonce);
                transfer(from, keys[(i + j + 1) % keys.len()].public(), nonce, 1, 10)
            })
            .collect();
        let b = block_on(
            ledger.state(),
            &g.rules(),
            &parent,
            keys[i % keys.len()].public(),
            txs,
        );
        ledger.import(&b).expect("import");
    }
}
