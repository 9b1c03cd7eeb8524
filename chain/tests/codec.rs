//! The codec against hostile bytes: nothing panics, huge length prefixes fail
//! before allocating, trailing bytes and non-canonical encodings are refused, and
//! every value round-trips to the same bytes.
// A counting allocator needs `unsafe impl GlobalAlloc`; it only forwards to System.
#![allow(unsafe_code)]

use generals_chain::codec::{self, CodecError, MAX_BLOCK_BYTES};
use generals_chain::state::Undo;
use generals_chain::{
    Account, Action, Block, Evidence, Hash, Header, MessageKind, Position, PublicKey, Signature,
    SignedMessage, Transaction, TxBody,
};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Tracking;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

fn key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn sig() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

fn tx() -> impl Strategy<Value = Transaction> {
    let action = prop_oneof![
        (key(), any::<u64>()).prop_map(|(to, amount)| Action::Transfer { to, amount }),
        any::<u64>().prop_map(|amount| Action::Bond { amount }),
        any::<u64>().prop_map(|amount| Action::Unbond { amount }),
    ];
    (
        "[a-z0-9-]{1,20}",
        key(),
        any::<u64>(),
        any::<u64>(),
        action,
        sig(),
    )
        .prop_map(
            |(chain_id, sender, nonce, fee, action, signature)| Transaction {
                body: TxBody {
                    chain_id,
                    sender,
                    nonce,
                    fee,
                    action,
                },
                signature,
            },
        )
}

fn message() -> impl Strategy<Value = SignedMessage> {
    let kind = prop_oneof![
        Just(MessageKind::Block),
        Just(MessageKind::Proposal),
        Just(MessageKind::Prevote),
        Just(MessageKind::Precommit),
        Just(MessageKind::Attestation),
    ];
    let position = (kind, any::<u64>(), any::<u64>()).prop_map(|(kind, height, round)| Position {
        kind,
        height,
        round,
    });
    (
        key(),
        position,
        prop::collection::vec(any::<u8>(), 0..40),
        sig(),
    )
        .prop_map(|(signer, position, payload, signature)| SignedMessage {
            signer,
            position,
            payload,
            signature,
        })
}

fn block() -> impl Strategy<Value = Block> {
    let header = (
        hash(),
        any::<u64>(),
        any::<u64>(),
        key(),
        (hash(), hash(), hash()),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(
            |(
                parent,
                height,
                timestamp_ms,
                producer,
                (tx_root, evidence_root, state_root),
                consensus,
                seal,
            )| Header {
                parent,
                height,
                timestamp_ms,
                producer,
                tx_root,
                evidence_root,
                state_root,
                consensus,
                seal,
            },
        );
    (
        header,
        prop::collection::vec(tx(), 0..6),
        prop::collection::vec(
            (message(), message()).prop_map(|(first, second)| Evidence { first, second }),
            0..3,
        ),
    )
        .prop_map(|(header, transactions, evidence)| Block {
            header,
            transactions,
            evidence,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = codec::decode::<Block, MAX_BLOCK_BYTES>("block", &bytes);
        let _ = codec::decode::<Transaction, MAX_BLOCK_BYTES>("tx", &bytes);
        let _ = codec::decode::<Evidence, MAX_BLOCK_BYTES>("evidence", &bytes);
        let _ = codec::decode::<Undo, MAX_BLOCK_BYTES>("undo", &bytes);
        let _ = codec::decode::<Account, MAX_BLOCK_BYTES>("account", &bytes);
    }

    #[test]
    fn blocks_round_trip_canonically(b in block()) {
        let bytes = b.encode();
        let back = Block::decode(&bytes).expect("decodes");
        prop_assert_eq!(&back, &b);
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back.hash(), b.hash());
    }

    #[test]
    fn mutated_block_bytes_never_panic(b in block(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = b.encode();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(back) = Block::decode(&bytes) {
            // Whatever decodes is canonical: it re-encodes to the same bytes.
            prop_assert_eq!(back.encode(), bytes);
        }
    }
}

/// Bytes of a header followed by a varint claiming `claimed` transactions.
fn block_claiming(claimed: u64) -> Vec<u8> {
    let header = Header {
        parent: Hash::ZERO,
        height: 1,
        timestamp_ms: 1,
        producer: PublicKey::default(),
        tx_root: Hash::ZERO,
        evidence_root: Hash::ZERO,
        state_root: Hash::ZERO,
        consensus: vec![],
        seal: vec![],
    };
    let mut bytes = codec::encode(&header);
    bytes.push(253); // bincode varint marker: a u64 follows
    bytes.extend_from_slice(&claimed.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    bytes
}

#[test]
fn a_length_prefix_claiming_gigabytes_fails_before_allocating() {
    for claimed in [1u64 << 30, 1 << 40, u64::MAX] {
        let bytes = block_claiming(claimed);
        LARGEST.store(0, Ordering::Relaxed);
        let r = Block::decode(&bytes);
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            matches!(r, Err(CodecError::Malformed { .. })),
            "claimed {claimed}: {r:?}"
        );
        assert!(
            largest < 1 << 20,
            "claimed {claimed}: allocated {largest} bytes"
        );
    }
    // The same for a byte vector (the header's consensus field) claiming 4 GiB.
    let mut bytes = codec::encode(&Hash::ZERO);
    bytes.truncate(0);
    bytes.extend_from_slice(&[0u8; 32]); // parent
    bytes.extend_from_slice(&[1, 1]); // height, timestamp
    bytes.extend_from_slice(&[0u8; 32 * 4]); // producer and three roots
    bytes.push(252); // a u32 length follows
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    LARGEST.store(0, Ordering::Relaxed);
    let r = codec::decode::<Header, MAX_BLOCK_BYTES>("header", &bytes);
    assert!(r.is_err());
    assert!(LARGEST.load(Ordering::Relaxed) < 1 << 20);
}

#[test]
fn input_over_the_limit_is_refused_unread() {
    let bytes = vec![0u8; 5000];
    assert!(matches!(
        Transaction::decode(&bytes),
        Err(CodecError::TooLarge {
            len: 5000,
            limit: 4096,
            ..
        })
    ));
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = codec::encode(&Account {
        balance: 5,
        ..Default::default()
    });
    bytes.push(0);
    assert!(matches!(
        codec::decode::<Account, 100>("account", &bytes),
        Err(CodecError::TrailingBytes { trailing: 1, .. })
    ));
}

#[test]
fn a_non_canonical_encoding_is_refused() {
    let canonical = codec::encode(&Account {
        balance: 5,
        nonce: 0,
        bonded: 0,
        unbonding: 0,
        unbonding_until_ms: 0,
        jailed: false,
    });
    assert_eq!(canonical, vec![5, 0, 0, 0, 0, 0]);
    // 5 written in the three-byte varint form: it means the same, but a hash of
    // these bytes would differ, so they are refused.
    let long_form = vec![251, 5, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        codec::decode::<Account, 100>("account", &long_form),
        Err(CodecError::NotCanonical { .. })
    ));
    assert!(codec::decode::<Account, 100>("account", &canonical).is_ok());
    // A boolean other than 0 or 1 is malformed.
    assert!(matches!(
        codec::decode::<Account, 100>("account", &[5, 0, 0, 2]),
        Err(CodecError::Malformed { .. })
    ));
}
