//! The mempool's bounds, order, eviction, replacement and upkeep.

mod common;

use common::*;
use generals_chain::mempool::MempoolError;
use generals_chain::{Action, Keypair, Mempool, MempoolConfig, State, Transaction, TxBody};

fn pool(max_txs: usize, max_bytes: usize, max_per_sender: usize) -> Mempool {
    Mempool::new(
        CHAIN,
        MempoolConfig {
            max_txs,
            max_bytes,
            max_per_sender,
        },
    )
}

fn world() -> (
    State,
    Vec<Keypair>,
    generals_chain::ChainRules,
    generals_chain::Genesis,
) {
    let (g, keys) = genesis(6, 1_000, 2);
    (g.state().expect("state"), keys, g.rules(), g)
}

fn fees(txs: &[Transaction]) -> Vec<(u64, u64)> {
    txs.iter().map(|t| (t.body.fee, t.body.nonce)).collect()
}

#[test]
fn blocks_take_the_highest_fee_first_and_each_senders_nonces_in_order() {
    let (state, k, ..) = world();
    let mut p = pool(100, 1 << 20, 10);
    p.insert(transfer(&k[0], k[5].public(), 0, 1, 1), &state)
        .expect("a0");
    p.insert(transfer(&k[0], k[5].public(), 1, 50, 1), &state)
        .expect("a1");
    p.insert(transfer(&k[1], k[5].public(), 0, 10, 1), &state)
        .expect("b0");
    p.insert(transfer(&k[2], k[5].public(), 0, 10, 1), &state)
        .expect("c0");
    let picked = p.select(&state, 10, 1 << 20);
    // b0 and c0 (fee 10) come before a0 (fee 1), which must precede a1 (fee 50).
    assert_eq!(fees(&picked), vec![(10, 0), (10, 0), (1, 0), (50, 1)]);
    assert_eq!(fees(&p.select(&state, 2, 1 << 20)), vec![(10, 0), (10, 0)]);
}

#[test]
fn when_full_the_lowest_fee_is_evicted_and_a_lower_one_refused() {
    let (state, k, ..) = world();
    let mut p = pool(3, 1 << 20, 10);
    for (i, fee) in [(0, 5), (1, 2), (2, 7)] {
        p.insert(transfer(&k[i], k[5].public(), 0, fee, 1), &state)
            .expect("fill");
    }
    let low = transfer(&k[3], k[5].public(), 0, 1, 1);
    assert!(matches!(
        p.insert(low, &state),
        Err(MempoolError::Full {
            fee: 1,
            lowest: 2,
            ..
        })
    ));
    let high = transfer(&k[3], k[5].public(), 0, 9, 1);
    let admitted = p.insert(high, &state).expect("evicts");
    assert_eq!(admitted.evicted.len(), 1);
    assert_eq!(p.len(), 3);
    let mut left: Vec<u64> = p.iter().map(|t| t.body.fee).collect();
    left.sort();
    assert_eq!(left, vec![5, 7, 9]);
}

#[test]
fn eviction_takes_a_senders_last_nonce_so_no_gap_opens() {
    let (state, k, ..) = world();
    let mut p = pool(3, 1 << 20, 10);
    p.insert(transfer(&k[0], k[5].public(), 0, 1, 1), &state)
        .expect("a0");
    p.insert(transfer(&k[0], k[5].public(), 1, 3, 1), &state)
        .expect("a1");
    p.insert(transfer(&k[1], k[5].public(), 0, 2, 1), &state)
        .expect("b0");
    // a0 has the lowest fee but a1 depends on it: b0 (fee 2) goes instead.
    p.insert(transfer(&k[2], k[5].public(), 0, 4, 1), &state)
        .expect("c0");
    let mut left: Vec<(u64, u64)> = p.iter().map(|t| (t.body.fee, t.body.nonce)).collect();
    left.sort();
    assert_eq!(left, vec![(1, 0), (3, 1), (4, 0)]);
}

#[test]
fn the_pool_is_bounded_in_bytes_and_per_sender() {
    let (state, k, ..) = world();
    let one = transfer(&k[0], k[5].public(), 0, 1, 1).encoded_len();
    let mut p = pool(100, one * 2, 10);
    p.insert(transfer(&k[0], k[5].public(), 0, 1, 1), &state)
        .expect("1");
    p.insert(transfer(&k[1], k[5].public(), 0, 1, 1), &state)
        .expect("2");
    assert!(matches!(
        p.insert(transfer(&k[2], k[5].public(), 0, 1, 1), &state),
        Err(MempoolError::Full { .. })
    ));
    assert!(p.bytes() <= one * 2);
    let mut p = pool(100, 1 << 20, 2);
    p.insert(transfer(&k[0], k[5].public(), 0, 1, 1), &state)
        .expect("1");
    p.insert(transfer(&k[0], k[5].public(), 1, 1, 1), &state)
        .expect("2");
    assert!(matches!(
        p.insert(transfer(&k[0], k[5].public(), 2, 1, 1), &state),
        Err(MempoolError::SenderFull { max: 2, .. })
    ));
}

#[test]
fn a_higher_fee_replaces_the_same_nonce() {
    let (state, k, ..) = world();
    let mut p = pool(100, 1 << 20, 10);
    let first = p
        .insert(transfer(&k[0], k[5].public(), 0, 2, 1), &state)
        .expect("first");
    assert!(matches!(
        p.insert(transfer(&k[0], k[5].public(), 0, 2, 9), &state),
        Err(MempoolError::Underpriced {
            old_fee: 2,
            new_fee: 2,
            ..
        })
    ));
    let second = p
        .insert(transfer(&k[0], k[5].public(), 0, 3, 1), &state)
        .expect("replaces");
    assert_eq!(second.replaced, Some(first.tx));
    assert_eq!(p.len(), 1);
}

#[test]
fn transactions_that_cannot_apply_are_refused() {
    let (state, k, ..) = world();
    let mut p = pool(100, 1 << 20, 10);
    let t = transfer(&k[0], k[5].public(), 0, 1, 1);
    p.insert(t.clone(), &state).expect("ok");
    assert!(matches!(
        p.insert(t, &state),
        Err(MempoolError::Known { .. })
    ));
    assert!(matches!(
        p.insert(transfer(&k[0], k[5].public(), 5, 1, 1), &state),
        Err(MempoolError::NonceGap {
            expected: 1,
            got: 5,
            ..
        })
    ));
    // 1 + 1 pending, 998 + 1 asked: over the balance of 1000 together.
    assert!(matches!(
        p.insert(transfer(&k[0], k[5].public(), 1, 1, 998), &state),
        Err(MempoolError::InsufficientBalance {
            needed: 1001,
            available: 1000,
            ..
        })
    ));
    let mut bad = transfer(&k[1], k[5].public(), 0, 1, 1);
    bad.body.fee = 2;
    assert!(matches!(
        p.insert(bad, &state),
        Err(MempoolError::BadSignature { .. })
    ));
    let other = TxBody {
        chain_id: "elsewhere".into(),
        sender: k[1].public(),
        nonce: 0,
        fee: 1,
        action: Action::Bond { amount: 1 },
    }
    .sign(&k[1]);
    assert!(matches!(
        p.insert(other, &state),
        Err(MempoolError::WrongChainId { .. })
    ));
    assert!(matches!(
        p.insert(tx(&k[3], 0, 1, Action::Unbond { amount: 1 }), &state),
        Err(MempoolError::InsufficientStake { bonded: 0, .. })
    ));
    assert!(matches!(
        p.insert(tx(&k[3], 0, 1, Action::Bond { amount: 0 }), &state),
        Err(MempoolError::ZeroAmount { .. })
    ));
    let mut after = state.clone();
    let mut jailed = after.get(&k[0].public()).copied().expect("k0");
    jailed.jailed = true;
    after = State::from_accounts(
        after
            .iter()
            .map(|(key, a)| (*key, if *key == k[0].public() { jailed } else { *a })),
    );
    let mut p = pool(100, 1 << 20, 10);
    assert!(matches!(
        p.insert(tx(&k[0], 0, 1, Action::Bond { amount: 5 }), &after),
        Err(MempoolError::Jailed { .. })
    ));
}

#[test]
fn a_new_block_drops_what_it_included_or_made_invalid() {
    let (state, k, rules, g) = world();
    let mut p = pool(100, 1 << 20, 10);
    p.insert(transfer(&k[0], k[5].public(), 0, 1, 100), &state)
        .expect("a0");
    p.insert(transfer(&k[0], k[5].public(), 1, 1, 100), &state)
        .expect("a1");
    p.insert(transfer(&k[1], k[5].public(), 0, 1, 600), &state)
        .expect("b0");
    p.insert(transfer(&k[1], k[5].public(), 1, 1, 300), &state)
        .expect("b1");
    // A block includes a0, and another b0 that spends most of k1's coins.
    let block = block_on(
        &state,
        &rules,
        &g.block().expect("genesis"),
        k[4].public(),
        vec![
            transfer(&k[0], k[5].public(), 0, 1, 100),
            transfer(&k[1], k[5].public(), 0, 1, 900),
        ],
    );
    let mut after = state.clone();
    after.apply_block(&block, &rules).expect("applies");
    let dropped = p.remove_for_block(&block, &after);
    // a0 included; b0 spent; b1 (301) no longer affordable with 99 left.
    assert_eq!(dropped, 3);
    assert_eq!(fees(&p.select(&after, 10, 1 << 20)), vec![(1, 1)]);
}

#[test]
fn a_reorg_gives_back_the_undone_transactions_in_nonce_order() {
    let (state, k, rules, g) = world();
    let genesis_block = g.block().expect("genesis");
    let a0 = transfer(&k[0], k[5].public(), 0, 1, 10);
    let a1 = transfer(&k[0], k[5].public(), 1, 1, 10);
    let block = block_on(
        &state,
        &rules,
        &genesis_block,
        k[4].public(),
        vec![a0.clone(), a1.clone()],
    );
    let mut after = state.clone();
    let exec = after.apply_block(&block, &rules).expect("applies");
    let mut p = pool(100, 1 << 20, 10);
    p.insert(transfer(&k[0], k[5].public(), 2, 5, 10), &after)
        .expect("a2");
    // The block is undone by a reorg onto an empty branch.
    after.undo(&exec.undo);
    let back = p.readd(block.transactions.iter().rev().cloned(), &after);
    assert_eq!(back, 2);
    let picked = p.select(&after, 10, 1 << 20);
    assert_eq!(fees(&picked), vec![(1, 0), (1, 1), (5, 2)]);
    assert_eq!(picked[0], a0);
    assert_eq!(picked[1], a1);
}

/// The balance check counts what the sender's pending transactions take as
/// they are now: a replaced one counts at its new amount, a removed one not
/// at all (the pool keeps the sum as transactions come and go).
#[test]
fn the_balance_check_follows_replacements_and_removals() {
    let (state, k, ..) = world();
    let mut p = pool(100, 1 << 20, 10);
    let to = k[5].public();
    let first = transfer(&k[0], to, 0, 1, 399);
    p.insert(first.clone(), &state).expect("400");
    p.insert(transfer(&k[0], to, 1, 1, 399), &state)
        .expect("800");
    assert!(matches!(
        p.insert(transfer(&k[0], to, 2, 1, 299), &state),
        Err(MempoolError::InsufficientBalance { needed: 1100, .. })
    ));
    // Nonce 1 again, at a higher fee and a smaller amount: 400 + 100.
    let small = transfer(&k[0], to, 1, 2, 98);
    p.insert(small.clone(), &state).expect("replaces");
    p.insert(transfer(&k[0], to, 2, 1, 299), &state)
        .expect("400 + 100 + 300");
    assert!(matches!(
        p.insert(transfer(&k[0], to, 3, 1, 200), &state),
        Err(MempoolError::InsufficientBalance { needed: 1001, .. })
    ));
    // The last one leaves the pool: its 300 no longer count.
    let last = transfer(&k[0], to, 2, 1, 299).hash();
    assert!(p.remove(&last).is_some());
    let third = transfer(&k[0], to, 2, 1, 399);
    p.insert(third.clone(), &state).expect("400 + 100 + 400");
    // Emptied, the sender starts from nothing.
    for t in [first, small, third] {
        assert!(p.remove(&t.hash()).is_some());
    }
    p.insert(transfer(&k[0], to, 0, 1, 999), &state)
        .expect("all of it");
}
