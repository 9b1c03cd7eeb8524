//! The fork tree: heads, fork choice by cumulative weight, ancestors, reorg plans.

use generals_chain::forktree::ForkTreeError;
use generals_chain::{ForkTree, Hash, Header, PublicKey};

fn header(parent: &Header, tag: u8, weight: u8) -> Header {
    Header {
        parent: parent.hash(),
        height: parent.height + 1,
        timestamp_ms: parent.timestamp_ms + 1,
        producer: PublicKey([tag; 32]),
        tx_root: Hash::ZERO,
        evidence_root: Hash::ZERO,
        state_root: Hash::ZERO,
        consensus: vec![weight],
        seal: vec![],
    }
}

fn genesis() -> Header {
    Header {
        parent: Hash::ZERO,
        height: 0,
        timestamp_ms: 0,
        producer: PublicKey::default(),
        tx_root: Hash::ZERO,
        evidence_root: Hash::ZERO,
        state_root: Hash::ZERO,
        consensus: vec![0],
        seal: vec![],
    }
}

/// The weight is the header's first consensus byte, standing in for an engine's.
fn tree(g: &Header) -> ForkTree {
    ForkTree::new(g, |h| h.consensus.first().copied().unwrap_or(0) as u128)
}

#[test]
fn the_heaviest_chain_wins_not_the_longest() {
    let g = genesis();
    let mut t = tree(&g);
    let a1 = header(&g, 1, 1);
    let a2 = header(&a1, 1, 1);
    let a3 = header(&a2, 1, 1);
    let b1 = header(&g, 2, 5);
    for h in [&a1, &a2, &a3, &b1] {
        t.insert(h).expect("insert");
    }
    assert_eq!(t.best().hash, b1.hash());
    assert_eq!(t.get(&a3.hash()).expect("a3").cumulative, 3);
    let mut heads: Vec<Hash> = t.heads().iter().map(|n| n.hash).collect();
    heads.sort();
    let mut expected = vec![a3.hash(), b1.hash()];
    expected.sort();
    assert_eq!(heads, expected);
    let a4 = header(&a3, 1, 3);
    t.insert(&a4).expect("a4");
    assert_eq!(t.best().hash, a4.hash());
}

#[test]
fn among_equal_weights_the_first_seen_wins() {
    let g = genesis();
    let mut t = tree(&g);
    let a = header(&g, 1, 2);
    let b = header(&g, 2, 2);
    t.insert(&a).expect("a");
    t.insert(&b).expect("b");
    assert_eq!(t.best().hash, a.hash());
}

#[test]
fn a_reorg_plan_undoes_to_the_common_ancestor_and_applies_the_other_branch() {
    let g = genesis();
    let mut t = tree(&g);
    let c1 = header(&g, 0, 1);
    let a2 = header(&c1, 1, 1);
    let a3 = header(&a2, 1, 1);
    let b2 = header(&c1, 2, 1);
    let b3 = header(&b2, 2, 1);
    let b4 = header(&b3, 2, 1);
    for h in [&c1, &a2, &a3, &b2, &b3, &b4] {
        t.insert(h).expect("insert");
    }
    assert_eq!(t.common_ancestor(&a3.hash(), &b4.hash()), Ok(c1.hash()));
    assert_eq!(t.common_ancestor(&c1.hash(), &b4.hash()), Ok(c1.hash()));
    let plan = t.reorg_plan(&a3.hash(), &b4.hash()).expect("plan");
    assert_eq!(plan.ancestor, c1.hash());
    assert_eq!(plan.undo, vec![a3.hash(), a2.hash()]);
    assert_eq!(plan.apply, vec![b2.hash(), b3.hash(), b4.hash()]);
    assert_eq!(plan.depth(), 2);
    assert_eq!(
        t.ancestor_at(&b4.hash(), 1).map(|n| n.hash),
        Some(c1.hash())
    );
    assert!(t.ancestor_at(&c1.hash(), 3).is_none());
}

#[test]
fn bad_inserts_are_errors() {
    let g = genesis();
    let mut t = tree(&g);
    let a = header(&g, 1, 1);
    t.insert(&a).expect("a");
    assert!(matches!(t.insert(&a), Err(ForkTreeError::Known { .. })));
    let mut orphan = header(&a, 1, 1);
    orphan.parent = Hash::digest(b"unknown");
    assert!(matches!(
        t.insert(&orphan),
        Err(ForkTreeError::UnknownParent { .. })
    ));
    let mut skip = header(&a, 1, 1);
    skip.height = 9;
    assert!(matches!(
        t.insert(&skip),
        Err(ForkTreeError::BadHeight {
            got: 9,
            parent_height: 1,
            ..
        })
    ));
    assert!(t.reorg_plan(&a.hash(), &Hash::digest(b"nope")).is_err());
}

#[test]
fn invalid_blocks_and_their_descendants_are_never_best() {
    let g = genesis();
    let mut t = tree(&g);
    let a1 = header(&g, 1, 1);
    let b1 = header(&g, 2, 3);
    let b2 = header(&b1, 2, 3);
    for h in [&a1, &b1, &b2] {
        t.insert(h).expect("insert");
    }
    assert_eq!(t.best().hash, b2.hash());
    t.mark_invalid(&b1.hash());
    assert!(t.is_invalid(&b2.hash()));
    assert_eq!(t.best().hash, a1.hash());
    let b3 = header(&b2, 2, 9);
    t.insert(&b3).expect("b3");
    assert!(t.is_invalid(&b3.hash()));
    assert_eq!(t.best().hash, a1.hash());
}
