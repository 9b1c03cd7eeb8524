//! One test per rule of the state transition.

mod common;

use common::*;
use generals_chain::block::MESSAGE_DOMAIN;
use generals_chain::crypto::CryptoError;
use generals_chain::state::{BlockError, Overlay, TxError};
use generals_chain::{
    build_block, Account, Action, BlockTemplate, Evidence, Hash, Keypair, MessageKind, Position,
    PublicKey, SignedMessage, State, TxBody,
};

fn setup() -> (State, generals_chain::ChainRules, Vec<Keypair>) {
    let (g, keys) = genesis(4, 1_000, 2);
    (g.state().expect("state"), g.rules(), keys)
}

fn apply_one(
    state: &State,
    rules: &generals_chain::ChainRules,
    t: &generals_chain::Transaction,
) -> Result<(), TxError> {
    Overlay::new(state, rules).apply_tx(t)
}

#[test]
fn a_transfer_moves_coins_and_bumps_the_nonce() {
    let (state, rules, k) = setup();
    let mut o = Overlay::new(&state, &rules);
    o.apply_tx(&transfer(&k[0], k[1].public(), 0, 3, 100))
        .expect("applies");
    let exec = o.finish(&k[2].public(), Hash::ZERO).expect("finish");
    let mut s = state.clone();
    s.commit(&exec).expect("commit");
    assert_eq!(s.get(&k[0].public()).expect("a").balance, 1_000 - 103);
    assert_eq!(s.get(&k[0].public()).expect("a").nonce, 1);
    assert_eq!(s.get(&k[1].public()).expect("b").balance, 1_100);
    // Fee and block reward go to the producer.
    assert_eq!(s.get(&k[2].public()).expect("p").balance, 1_000 + 3 + 50);
}

#[test]
fn a_tampered_transaction_fails_its_signature() {
    let (state, rules, k) = setup();
    let mut t = transfer(&k[0], k[1].public(), 0, 1, 10);
    t.body.action = Action::Transfer {
        to: k[1].public(),
        amount: 999,
    };
    assert!(matches!(
        apply_one(&state, &rules, &t),
        Err(TxError::BadSignature {
            source: CryptoError::BadSignature { .. },
            ..
        })
    ));
}

#[test]
fn a_weak_sender_key_is_refused() {
    let (state, rules, k) = setup();
    let mut t = transfer(&k[0], k[1].public(), 0, 1, 10);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    t.body.sender = PublicKey(identity);
    assert!(matches!(
        apply_one(&state, &rules, &t),
        Err(TxError::BadSignature {
            source: CryptoError::WeakKey { .. },
            ..
        })
    ));
}

#[test]
fn a_transaction_for_another_chain_does_not_replay() {
    let (state, rules, k) = setup();
    let t = TxBody {
        chain_id: "other-net".into(),
        sender: k[0].public(),
        nonce: 0,
        fee: 1,
        action: Action::Transfer {
            to: k[1].public(),
            amount: 1,
        },
    }
    .sign(&k[0]);
    assert!(matches!(
        apply_one(&state, &rules, &t),
        Err(TxError::WrongChainId { ref got, .. }) if got == "other-net"
    ));
}

#[test]
fn the_nonce_must_be_exactly_the_accounts() {
    let (state, rules, k) = setup();
    for nonce in [1, 7] {
        assert!(matches!(
            apply_one(&state, &rules, &transfer(&k[0], k[1].public(), nonce, 1, 1)),
            Err(TxError::BadNonce { expected: 0, got, .. }) if got == nonce
        ));
    }
    // The same transaction twice in one block: the second is a replay.
    let t = transfer(&k[0], k[1].public(), 0, 1, 1);
    let mut o = Overlay::new(&state, &rules);
    o.apply_tx(&t).expect("first");
    assert!(matches!(
        o.apply_tx(&t),
        Err(TxError::BadNonce {
            expected: 1,
            got: 0,
            ..
        })
    ));
}

#[test]
fn a_sender_cannot_spend_more_than_it_holds() {
    let (state, rules, k) = setup();
    assert_eq!(
        apply_one(&state, &rules, &transfer(&k[0], k[1].public(), 0, 1, 1_000)).map_err(
            |e| match e {
                TxError::InsufficientBalance {
                    needed, available, ..
                } => (needed, available),
                other => panic!("{other}"),
            }
        ),
        Err((1_001, 1_000))
    );
    // An unknown sender holds nothing.
    let stranger = Keypair::dev("stranger");
    assert!(matches!(
        apply_one(&state, &rules, &transfer(&stranger, k[1].public(), 0, 1, 1)),
        Err(TxError::InsufficientBalance { available: 0, .. })
    ));
}

#[test]
fn amounts_and_balances_never_overflow() {
    let (mut g, k) = genesis(2, 10, 0);
    g.accounts[1].balance = u64::MAX - 5;
    let state = g.state().expect("state");
    let rules = g.rules();
    assert!(matches!(
        apply_one(&state, &rules, &transfer(&k[0], k[1].public(), 0, 0, 9)),
        Err(TxError::Overflow {
            what: "balance",
            ..
        })
    ));
    assert!(matches!(
        apply_one(
            &state,
            &rules,
            &transfer(&k[0], k[1].public(), 0, u64::MAX, 9)
        ),
        Err(TxError::Overflow { what: "debit", .. })
    ));
}

#[test]
fn zero_amounts_are_refused() {
    let (state, rules, k) = setup();
    for action in [
        Action::Transfer {
            to: k[1].public(),
            amount: 0,
        },
        Action::Bond { amount: 0 },
        Action::Unbond { amount: 0 },
    ] {
        assert!(matches!(
            apply_one(&state, &rules, &tx(&k[0], 0, 1, action)),
            Err(TxError::ZeroAmount { .. })
        ));
    }
}

#[test]
fn bond_and_unbond_move_stake() {
    let (state, rules, k) = setup();
    let mut o = Overlay::new(&state, &rules);
    o.apply_tx(&tx(&k[0], 0, 1, Action::Bond { amount: 300 }))
        .expect("bond");
    o.apply_tx(&tx(&k[0], 1, 1, Action::Unbond { amount: 350 }))
        .expect("unbond");
    let exec = o.finish(&k[3].public(), Hash::ZERO).expect("finish");
    let mut s = state.clone();
    s.commit(&exec).expect("commit");
    let a = s.get(&k[0].public()).expect("a");
    assert_eq!(
        (a.balance, a.bonded, a.nonce),
        (1_000 - 2 - 300 + 350, 100 + 300 - 350, 2)
    );
    assert!(matches!(
        apply_one(&s, &rules, &tx(&k[0], 2, 1, Action::Unbond { amount: 51 })),
        Err(TxError::InsufficientStake {
            needed: 51,
            bonded: 50,
            ..
        })
    ));
}

#[test]
fn a_self_transfer_costs_only_the_fee() {
    let (state, rules, k) = setup();
    let mut o = Overlay::new(&state, &rules);
    o.apply_tx(&transfer(&k[0], k[0].public(), 0, 2, 500))
        .expect("applies");
    let exec = o.finish(&k[3].public(), Hash::ZERO).expect("finish");
    let mut s = state.clone();
    s.commit(&exec).expect("commit");
    assert_eq!(s.get(&k[0].public()).expect("a").balance, 998);
}

fn block_with_evidence(
    state: &State,
    rules: &generals_chain::ChainRules,
    producer: PublicKey,
    evidence: Vec<Evidence>,
) -> Result<generals_chain::Block, BlockError> {
    let block = build_block(
        state,
        rules,
        BlockTemplate {
            parent: Hash::ZERO,
            height: 1,
            timestamp_ms: 1,
            producer,
            consensus: vec![],
            max_txs: 10,
        },
        vec![],
        vec![],
    )
    .map(|b| b.block)?;
    // The evidence goes in as a producer might put it, and the state transition
    // judges it (the builder would leave bad evidence out).
    let mut block = block;
    block.header.evidence_root = generals_chain::Block::compute_evidence_root(&evidence);
    block.evidence = evidence;
    let exec = state.execute(&block, rules)?;
    block.header.state_root = exec.state_root;
    Ok(block)
}

#[test]
fn the_builder_leaves_out_evidence_that_no_longer_applies() {
    let (state, rules, k) = setup();
    let built = build_block(
        &state,
        &rules,
        BlockTemplate {
            parent: Hash::ZERO,
            height: 1,
            timestamp_ms: 1,
            producer: k[3].public(),
            consensus: vec![],
            max_txs: 10,
        },
        vec![],
        vec![double_sign(&k[0], 5), double_sign(&k[0], 6)],
    )
    .expect("builds");
    // The second names an offender the first already jailed.
    assert_eq!(built.block.evidence.len(), 1);
}

#[test]
fn evidence_slashes_jails_and_pays_the_whistleblower() {
    let (state, rules, k) = setup();
    let b = block_with_evidence(&state, &rules, k[3].public(), vec![double_sign(&k[0], 5)])
        .expect("builds");
    let mut s = state.clone();
    s.apply_block(&b, &rules).expect("applies");
    let offender = s.get(&k[0].public()).expect("offender");
    assert_eq!(offender.bonded, 90, "10% of 100 slashed");
    assert!(offender.jailed);
    // Reward 50 plus 10% of the 10 slashed.
    assert_eq!(
        s.get(&k[3].public()).expect("producer").balance,
        1_000 + 50 + 1
    );
    assert!(matches!(
        apply_one(&s, &rules, &tx(&k[0], 0, 1, Action::Bond { amount: 5 })),
        Err(TxError::Jailed { .. })
    ));
    // The same offender again is refused: it was already punished.
    assert!(matches!(
        block_with_evidence(&s, &rules, k[3].public(), vec![double_sign(&k[0], 5)]),
        Err(BlockError::AlreadyJailed { index: 0, .. })
    ));
}

#[test]
fn with_slashing_off_evidence_costs_nothing() {
    let (mut g, k) = genesis(4, 1_000, 2);
    g.slashing.enabled = false;
    let (state, rules) = (g.state().expect("state"), g.rules());
    let b = block_with_evidence(&state, &rules, k[3].public(), vec![double_sign(&k[0], 5)])
        .expect("builds");
    let mut s = state.clone();
    s.apply_block(&b, &rules).expect("applies");
    let a = s.get(&k[0].public()).expect("a");
    assert_eq!((a.bonded, a.jailed), (100, false));
}

#[test]
fn bad_evidence_is_refused() {
    let (state, rules, k) = setup();
    let at = |height| Position {
        kind: MessageKind::Prevote,
        height,
        round: 2,
    };
    let same = SignedMessage::sign(&k[0], CHAIN, at(5), b"x".to_vec());
    let forged = SignedMessage {
        signer: k[0].public(),
        position: at(5),
        payload: b"y".to_vec(),
        signature: k[1].sign(MESSAGE_DOMAIN, b"y"),
    };
    let cases = [
        // The same message twice is no conflict.
        (same.clone(), same.clone()),
        // A signature the signer did not make.
        (same.clone(), forged),
        // Two signers.
        (
            same.clone(),
            SignedMessage::sign(&k[1], CHAIN, at(5), b"z".to_vec()),
        ),
        // Votes at two heights are an honest validator's ordinary work.
        (
            same.clone(),
            SignedMessage::sign(&k[0], CHAIN, at(6), b"z".to_vec()),
        ),
        // Messages signed for another network prove nothing here.
        (
            SignedMessage::sign(&k[0], "other-net", at(5), b"x".to_vec()),
            SignedMessage::sign(&k[0], "other-net", at(5), b"z".to_vec()),
        ),
    ];
    for (first, second) in cases {
        let r = block_with_evidence(
            &state,
            &rules,
            k[3].public(),
            vec![Evidence { first, second }],
        );
        assert!(
            matches!(r, Err(BlockError::Evidence { index: 0, .. })),
            "{r:?}"
        );
    }
}

#[test]
fn a_block_that_breaks_a_rule_changes_nothing() {
    let (g, k) = genesis(4, 1_000, 0);
    let (state, rules) = (g.state().expect("state"), g.rules());
    let genesis_block = g.block().expect("genesis");
    let good = block_on(
        &state,
        &rules,
        &genesis_block,
        k[3].public(),
        vec![transfer(&k[0], k[1].public(), 0, 1, 5)],
    );

    let mut bad_root = good.clone();
    bad_root.header.state_root = Hash::digest(b"wrong");
    let mut s = state.clone();
    assert!(matches!(
        s.apply_block(&bad_root, &rules),
        Err(BlockError::StateRoot { .. })
    ));
    assert_eq!(s, state);

    let mut bad_txs = good.clone();
    bad_txs
        .transactions
        .push(transfer(&k[1], k[2].public(), 0, 1, 5));
    assert!(matches!(
        s.apply_block(&bad_txs, &rules),
        Err(BlockError::TxRoot { .. })
    ));
    bad_txs.header.tx_root = generals_chain::Block::compute_tx_root(&bad_txs.transactions);
    bad_txs.transactions[1] = transfer(&k[1], k[2].public(), 0, 1, 5_000);
    bad_txs.header.tx_root = generals_chain::Block::compute_tx_root(&bad_txs.transactions);
    assert!(matches!(
        s.apply_block(&bad_txs, &rules),
        Err(BlockError::Transaction {
            index: 1,
            source: TxError::InsufficientBalance { .. }
        })
    ));
    assert_eq!(s, state);
    s.apply_block(&good, &rules)
        .expect("the good block applies");
    assert_ne!(s, state);
}

#[test]
fn undo_restores_the_state_exactly() {
    let (g, k) = genesis(3, 1_000, 1);
    let (state, rules) = (g.state().expect("state"), g.rules());
    let newcomer = Keypair::dev("newcomer").public();
    let b = block_on(
        &state,
        &rules,
        &g.block().expect("genesis"),
        Keypair::dev("fresh-producer").public(),
        vec![
            transfer(&k[0], newcomer, 0, 1, 7),
            tx(&k[1], 0, 2, Action::Bond { amount: 10 }),
            tx(&k[0], 1, 0, Action::Unbond { amount: 100 }),
        ],
    );
    let mut s = state.clone();
    let exec = s.apply_block(&b, &rules).expect("applies");
    assert_eq!(s.len(), state.len() + 2, "newcomer and producer created");
    s.undo(&exec.undo);
    assert_eq!(s, state);
    assert_eq!(s.root(), state.root());
    assert!(s.get(&newcomer).is_none());
}

#[test]
fn the_commitment_is_incremental_and_order_free() {
    let (g, k) = genesis(5, 1_000, 2);
    let (state, rules) = (g.state().expect("state"), g.rules());
    let b = block_on(
        &state,
        &rules,
        &g.block().expect("genesis"),
        k[4].public(),
        vec![
            transfer(&k[0], k[1].public(), 0, 1, 7),
            transfer(&k[2], k[3].public(), 0, 1, 9),
        ],
    );
    let mut s = state.clone();
    s.apply_block(&b, &rules).expect("applies");
    // Built from scratch, in reverse order, the same accounts give the same root.
    let mut accounts: Vec<(PublicKey, Account)> = s.iter().map(|(k, a)| (*k, *a)).collect();
    accounts.reverse();
    assert_eq!(State::from_accounts(accounts).root(), s.root());
    assert_eq!(b.header.state_root, s.root());
}

#[test]
fn unbonded_stake_waits_out_the_delay_and_stays_slashable() {
    let (state, mut rules, k) = setup();
    rules.unbonding_delay_ms = 1_000;
    let apply = |s: &State, at: u64, txs: Vec<generals_chain::Transaction>| {
        let mut o = Overlay::new(s, &rules).at(at);
        for t in &txs {
            o.apply_tx(t).expect("applies");
        }
        let exec = o.finish(&k[3].public(), Hash::ZERO).expect("finish");
        let mut s = s.clone();
        s.commit(&exec).expect("commit");
        s
    };
    let s = apply(
        &state,
        5_000,
        vec![tx(&k[0], 0, 1, Action::Unbond { amount: 60 })],
    );
    let a = s.get(&k[0].public()).expect("a");
    assert_eq!(
        (a.balance, a.bonded, a.unbonding, a.unbonding_until_ms),
        (999, 40, 60, 6_000),
        "out of the stake at once, not yet in the balance"
    );
    // Evidence in the meantime takes its share of the unbonding coins too.
    let mut o = Overlay::new(&s, &rules).at(5_500);
    o.apply_evidence(0, &double_sign(&k[0], 9), &k[3].public())
        .expect("evidence");
    let exec = o.finish(&k[3].public(), Hash::ZERO).expect("finish");
    let mut slashed = s.clone();
    slashed.commit(&exec).expect("commit");
    let a = slashed.get(&k[0].public()).expect("a");
    assert_eq!((a.bonded, a.unbonding), (30, 60), "10% of 100 at stake");
    // Before the delay has passed, a transaction finds the coins still locked.
    let early = apply(&s, 5_999, vec![transfer(&k[0], k[1].public(), 1, 0, 1)]);
    assert_eq!(early.get(&k[0].public()).expect("a").unbonding, 60);
    // After it, the account's next block releases them.
    let late = apply(&s, 6_000, vec![transfer(&k[0], k[1].public(), 1, 0, 1)]);
    let a = late.get(&k[0].public()).expect("a");
    assert_eq!((a.balance, a.unbonding), (999 + 60 - 1, 0));
}

fn attestation(key: &Keypair, source: u64, target: u64) -> SignedMessage {
    let cp = |epoch: u64| generals_chain::Checkpoint {
        epoch,
        hash: Hash::digest(&epoch.to_le_bytes()),
    };
    SignedMessage::sign(
        key,
        CHAIN,
        Position {
            kind: MessageKind::Attestation,
            height: target,
            round: 0,
        },
        generals_chain::codec::encode(&generals_chain::AttestationData {
            source: cp(source),
            target: cp(target),
        }),
    )
}

#[test]
fn a_surround_vote_is_evidence_and_a_plain_pair_of_votes_is_not() {
    let (state, rules, k) = setup();
    let surround = Evidence {
        first: attestation(&k[0], 1, 4),
        second: attestation(&k[0], 2, 3),
    };
    assert_eq!(
        surround.offence(),
        Ok(generals_chain::Offence::SurroundVote)
    );
    assert_eq!(
        surround.offence().map(|o| o.to_string()),
        Ok("surround vote".into())
    );
    let b = block_with_evidence(&state, &rules, k[3].public(), vec![surround]).expect("included");
    let mut s = state.clone();
    s.apply_block(&b, &rules).expect("applies");
    assert!(s.get(&k[0].public()).expect("a").jailed);

    // Consecutive links, and an attestation whose position lies about its
    // target, are no evidence.
    let mut lying = attestation(&k[0], 1, 5);
    lying.position.height = 3;
    let lying = SignedMessage::sign(&k[0], CHAIN, lying.position, lying.payload);
    for (first, second) in [
        (attestation(&k[0], 1, 2), attestation(&k[0], 2, 3)),
        (attestation(&k[0], 2, 3), lying),
    ] {
        let r = block_with_evidence(
            &state,
            &rules,
            k[3].public(),
            vec![Evidence { first, second }],
        );
        assert!(
            matches!(r, Err(BlockError::Evidence { index: 0, .. })),
            "{r:?}"
        );
    }
}
