//! Property: after any sequence of block imports, undos and reorgs, the ledger's
//! state equals a replay of its main chain from genesis, its commitment equals one
//! computed from scratch, and coins are conserved. 256 cases by default;
//! PROPTEST_CASES sets more.

mod common;

use common::*;
use generals_chain::{
    build_block, Action, Block, BlockTemplate, Evidence, ForkTree, Genesis, Hash, Keypair, Ledger,
    MemoryStore, State, Transaction,
};
use proptest::prelude::*;
use std::collections::HashMap;

const KEYS: usize = 6;

#[derive(Debug, Clone)]
struct TxSpec {
    from: usize,
    to: usize,
    amount: u64,
    fee: u64,
    kind: u8,
}

#[derive(Debug, Clone)]
enum Step {
    /// Build a block on the tip and import it.
    Extend {
        txs: Vec<TxSpec>,
        evidence: Option<usize>,
    },
    /// Undo up to `n` blocks.
    Undo { n: u64 },
    /// Build a branch of `len` blocks from `back` blocks below the tip; reorg to it
    /// if it is longer.
    Fork {
        back: u64,
        len: usize,
        txs: Vec<TxSpec>,
    },
}

fn tx_spec() -> impl Strategy<Value = TxSpec> {
    (0..KEYS, 0..KEYS + 2, 1u64..400, 0u64..5, 0u8..10).prop_map(|(from, to, amount, fee, kind)| {
        TxSpec {
            from,
            to,
            amount,
            fee,
            kind,
        }
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (prop::collection::vec(tx_spec(), 0..6), prop::option::weighted(0.1, 0..2usize))
            .prop_map(|(txs, evidence)| Step::Extend { txs, evidence }),
        1 => (1u64..4).prop_map(|n| Step::Undo { n }),
        2 => (0u64..4, 1usize..5, prop::collection::vec(tx_spec(), 0..4))
            .prop_map(|(back, len, txs)| Step::Fork { back, len, txs }),
    ]
}

struct World {
    genesis: Genesis,
    keys: Vec<Keypair>,
    /// Recipients with no key of their own among `keys`.
    strangers: Vec<generals_chain::PublicKey>,
    blocks: HashMap<Hash, Block>,
    /// The state after each block, from building it on its parent's state.
    after: HashMap<Hash, State>,
    counter: u64,
}

impl World {
    fn txs_for(&self, state: &State, specs: &[TxSpec]) -> Vec<Transaction> {
        let mut nonces: HashMap<usize, u64> = HashMap::new();
        specs
            .iter()
            .map(|s| {
                let key = &self.keys[s.from];
                let n = nonces
                    .entry(s.from)
                    .or_insert_with(|| state.get(&key.public()).map_or(0, |a| a.nonce));
                let nonce = *n;
                *n += 1;
                let to = if s.to < KEYS {
                    self.keys[s.to].public()
                } else {
                    self.strangers[s.to - KEYS]
                };
                let action = match s.kind {
                    0 => Action::Bond { amount: s.amount },
                    1 => Action::Unbond { amount: s.amount },
                    _ => Action::Transfer {
                        to,
                        amount: s.amount,
                    },
                };
                tx(key, nonce, s.fee, action)
            })
            .collect()
    }

    /// Builds a block on `parent` (whose state is known), recording its state.
    fn build(&mut self, parent: Hash, specs: &[TxSpec], evidence: Option<usize>) -> Block {
        let state = self.after[&parent].clone();
        let parent_block = &self.blocks[&parent];
        let txs = self.txs_for(&state, specs);
        let evidence: Vec<Evidence> = evidence
            .filter(|i| !state.get(&self.keys[*i].public()).is_some_and(|a| a.jailed))
            .map(|i| double_sign(&self.keys[i], parent_block.height() + 1))
            .into_iter()
            .collect();
        self.counter += 1;
        let producer = self.keys[(self.counter % KEYS as u64) as usize].public();
        let rules = self.genesis.rules();
        let built = build_block(
            &state,
            &rules,
            BlockTemplate {
                parent,
                height: parent_block.height() + 1,
                // Distinct timestamps make sibling blocks distinct.
                timestamp_ms: parent_block.header.timestamp_ms + self.counter,
                producer,
                consensus: vec![],
                max_txs: 100,
            },
            txs,
            evidence,
        )
        .expect("a block of valid evidence builds");
        let block = built.block;
        let mut s = state;
        s.apply_block(&block, &rules)
            .expect("a built block applies to its parent's state");
        self.after.insert(block.hash(), s);
        self.blocks.insert(block.hash(), block.clone());
        block
    }
}

fn replay(ledger: &Ledger<MemoryStore>, genesis: &Genesis) -> State {
    let mut state = genesis.state().expect("genesis state");
    let rules = genesis.rules();
    for h in 1..=ledger.tip().height {
        let b = ledger
            .block_at(h)
            .expect("store")
            .expect("main chain block");
        state.apply_block(&b, &rules).expect("main chain replays");
    }
    state
}

fn check(ledger: &Ledger<MemoryStore>, world: &World) -> Result<(), TestCaseError> {
    let tip = ledger.tip();
    prop_assert_eq!(ledger.state(), &world.after[&tip.hash]);
    let scratch = State::from_accounts(ledger.state().iter().map(|(k, a)| (*k, *a)));
    prop_assert_eq!(scratch.root(), ledger.state().root());
    prop_assert_eq!(ledger.state().root(), ledger.tip_header().state_root);
    Ok(())
}

proptest! {
    #[test]
    fn state_after_imports_undos_and_reorgs_equals_a_replay(steps in prop::collection::vec(step(), 1..24)) {
        let (genesis, keys) = genesis(KEYS, 2_000, 3);
        let genesis_block = genesis.block().expect("genesis block");
        let (mut ledger, _) = Ledger::open(MemoryStore::new(), &genesis).expect("open");
        let mut tree = ForkTree::new(&genesis_block.header, |_| 1);
        let mut world = World {
            strangers: vec![Keypair::dev("stranger-0").public(), Keypair::dev("stranger-1").public()],
            keys,
            blocks: HashMap::from([(genesis_block.hash(), genesis_block.clone())]),
            after: HashMap::from([(genesis_block.hash(), genesis.state().expect("state"))]),
            genesis: genesis.clone(),
            counter: 0,
        };
        let supply0 = ledger.state().total_supply();
        for step in steps {
            match step {
                Step::Extend { txs, evidence } => {
                    let b = world.build(ledger.tip().hash, &txs, evidence);
                    tree.insert(&b.header).expect("tree insert");
                    ledger.import(&b).expect("import");
                }
                Step::Undo { n } => {
                    for _ in 0..n.min(ledger.tip().height) {
                        ledger.undo_tip().expect("undo");
                    }
                }
                Step::Fork { back, len, txs } => {
                    let tip = ledger.tip();
                    let back = back.min(tip.height);
                    let ancestor = ledger.block_at(tip.height - back).expect("store").expect("ancestor").hash();
                    let mut parent = ancestor;
                    for i in 0..len {
                        let specs = if i == 0 { &txs[..] } else { &[] };
                        let b = world.build(parent, specs, None);
                        tree.insert(&b.header).expect("tree insert");
                        ledger.store_block(&b).expect("store side block");
                        parent = b.hash();
                    }
                    if len as u64 > back {
                        let plan = tree.reorg_plan(&tip.hash, &parent).expect("plan");
                        prop_assert_eq!(plan.depth() as u64, back);
                        prop_assert_eq!(plan.ancestor, ancestor);
                        let out = ledger.reorg(&plan).expect("reorg");
                        prop_assert_eq!(out.undone.len() as u64, back);
                        prop_assert_eq!(out.applied.len(), len);
                        prop_assert_eq!(ledger.tip().hash, parent);
                    }
                }
            }
            check(&ledger, &world)?;
        }
        prop_assert_eq!(&replay(&ledger, &genesis), ledger.state());
        // Coins: genesis supply plus rewards, less what slashing burned (never more
        // than the slashed stake, which only shrinks bonded coins).
        let minted = genesis.block_reward as u128 * ledger.tip().height as u128;
        prop_assert!(ledger.state().total_supply() <= supply0 + minted);
    }
}

#[test]
fn a_reorg_onto_a_bad_branch_restores_the_old_one() {
    let (genesis, keys) = genesis(3, 1_000, 0);
    let g = genesis.block().expect("genesis");
    let rules = genesis.rules();
    let (mut ledger, _) = Ledger::open(MemoryStore::new(), &genesis).expect("open");
    let mut tree = ForkTree::new(&g.header, |_| 1);
    let a1 = block_on(
        ledger.state(),
        &rules,
        &g,
        keys[0].public(),
        vec![transfer(&keys[0], keys[1].public(), 0, 1, 10)],
    );
    tree.insert(&a1.header).expect("insert");
    ledger.import(&a1).expect("import a1");
    let before = ledger.state().clone();

    let gs = genesis.state().expect("state");
    let b1 = block_on(
        &gs,
        &rules,
        &g,
        keys[1].public(),
        vec![transfer(&keys[1], keys[2].public(), 0, 1, 20)],
    );
    let mut s = gs.clone();
    s.apply_block(&b1, &rules).expect("b1");
    let mut b2 = block_on(&s, &rules, &b1, keys[1].public(), vec![]);
    b2.header.state_root = Hash::digest(b"a lie");
    for b in [&b1, &b2] {
        tree.insert(&b.header).expect("insert");
        ledger.store_block(b).expect("store");
    }
    let plan = tree.reorg_plan(&a1.hash(), &b2.hash()).expect("plan");
    assert!(ledger.reorg(&plan).is_err());
    assert_eq!(ledger.tip().hash, a1.hash());
    assert_eq!(ledger.state(), &before);
}
