//! Transactions: transfers and stake bonding, signed by their sender over their
//! canonical bytes, bound to one chain id so they cannot replay on another network.

use crate::codec;
use crate::crypto::{CryptoError, Keypair, PublicKey, Signature};
use crate::hash::Hash;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Mutex;

/// Domain of transaction signatures.
pub const TX_DOMAIN: &[u8] = b"generals/tx/v1\0";

/// The ids of transactions whose signature checked out, as Bitcoin Core's
/// signature cache: a node verifies a transaction when it enters the mempool,
/// and its block then skips that second verification. The id is the hash of
/// the whole encoding, signature included, so a hit means the very same bytes
/// were verified. Two generations of at most `SIG_CACHE_GENERATION` ids each:
/// when the newer fills, the older is dropped.
static VERIFIED: SigCache = SigCache::new();

const SIG_CACHE_GENERATION: usize = 65_536;

/// Empties the signature cache, so that the next check of every transaction
/// verifies it afresh (for benches of a cold import).
pub fn forget_verified_signatures() {
    *VERIFIED.0.lock().unwrap_or_else(|e| e.into_inner()) = [None, None];
}

struct SigCache(Mutex<[Option<HashSet<Hash>>; 2]>);

impl SigCache {
    const fn new() -> SigCache {
        SigCache(Mutex::new([None, None]))
    }

    fn contains(&self, id: &Hash) -> bool {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        g.iter().flatten().any(|set| set.contains(id))
    }

    fn insert(&self, id: Hash) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let newer = g[0].get_or_insert_with(HashSet::new);
        if newer.len() >= SIG_CACHE_GENERATION {
            g[1] = g[0].take();
        }
        g[0].get_or_insert_with(HashSet::new).insert(id);
    }
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    /// Move `amount` from the sender's balance to `to`.
    Transfer { to: PublicKey, amount: u64 },
    /// Move `amount` from the sender's balance into its bonded stake.
    Bond { amount: u64 },
    /// Move `amount` from the sender's bonded stake back to its balance.
    Unbond { amount: u64 },
    /// Delegated proof of stake: the sender's bonded stake votes for these
    /// delegates (1 to [`MAX_VOTES`], each once), replacing its earlier vote.
    Vote { delegates: Vec<PublicKey> },
}

/// The most delegates one vote may name (EOSIO's 30).
pub const MAX_VOTES: usize = 30;

impl Action {
    /// The coins the action moves (none for a vote).
    pub fn amount(&self) -> Option<u64> {
        match self {
            Action::Transfer { amount, .. }
            | Action::Bond { amount }
            | Action::Unbond { amount } => Some(*amount),
            Action::Vote { .. } => None,
        }
    }

    /// Why a vote's list is unusable: empty, too long, a delegate named twice
    /// or a key that is not a usable point.
    pub fn vote_problem(&self) -> Option<String> {
        let Action::Vote { delegates } = self else {
            return None;
        };
        if delegates.is_empty() || delegates.len() > MAX_VOTES {
            return Some(format!(
                "a vote names 1 to {MAX_VOTES} delegates, not {}",
                delegates.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in delegates {
            if !seen.insert(*d) {
                return Some(format!("delegate {d} is named twice"));
            }
            if let Err(e) = d.check_usable() {
                return Some(format!("delegate {d} is not a usable key: {e}"));
            }
        }
        None
    }
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TxBody {
    pub chain_id: String,
    pub sender: PublicKey,
    /// Equal to the sender's account nonce when the transaction is applied.
    pub nonce: u64,
    /// Paid to the block's producer.
    pub fee: u64,
    pub action: Action,
}

/// A transaction and its sender's signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transaction {
    pub body: TxBody,
    pub signature: Signature,
}

impl TxBody {
    /// Signs the body's canonical bytes with `key` (which should be the sender's).
    pub fn sign(self, key: &Keypair) -> Transaction {
        let signature = key.sign(TX_DOMAIN, &codec::encode(&self));
        Transaction {
            body: self,
            signature,
        }
    }

    /// Amount leaving the sender's balance: fee plus what the action moves out.
    pub fn debit(&self) -> Option<u64> {
        match self.action {
            Action::Transfer { amount, .. } | Action::Bond { amount } => {
                self.fee.checked_add(amount)
            }
            Action::Unbond { .. } | Action::Vote { .. } => Some(self.fee),
        }
    }
}

impl Transaction {
    /// The transaction id: SHA-256 of its canonical encoding.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// Checks the sender's signature (strict, weak keys refused). A
    /// transaction whose signature checked out before (in the mempool, say) is
    /// not checked again: see [`VERIFIED`].
    pub fn verify_signature(&self) -> Result<(), CryptoError> {
        let id = self.hash();
        if VERIFIED.contains(&id) {
            return Ok(());
        }
        self.body
            .sender
            .verify(TX_DOMAIN, &codec::encode(&self.body), &self.signature)?;
        VERIFIED.insert(id);
        Ok(())
    }

    pub fn encoded_len(&self) -> usize {
        codec::encode(self).len()
    }

    /// Decodes a transaction from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Transaction, codec::CodecError> {
        codec::decode::<_, { codec::MAX_TX_BYTES }>("transaction", bytes)
    }
}

#[cfg(test)]
mod sig_cache_tests {
    use super::*;

    fn transfer(key: &Keypair, nonce: u64) -> Transaction {
        TxBody {
            chain_id: "sig-cache".into(),
            sender: key.public(),
            nonce,
            fee: 1,
            action: Action::Transfer {
                to: Keypair::dev("to").public(),
                amount: 5,
            },
        }
        .sign(key)
    }

    #[test]
    fn a_verified_transaction_is_remembered_and_a_forged_one_never_is() {
        let key = Keypair::dev("sig-cache");
        let tx = transfer(&key, 0);
        assert!(!VERIFIED.contains(&tx.hash()));
        tx.verify_signature().expect("good");
        assert!(VERIFIED.contains(&tx.hash()));
        tx.verify_signature().expect("still good, from the cache");
        // The same body under another key's signature: a different id, checked
        // afresh, refused every time, and never remembered.
        let mut forged = tx.clone();
        forged.signature = transfer(&Keypair::dev("mallory"), 0).signature;
        assert_ne!(forged.hash(), tx.hash());
        for _ in 0..2 {
            assert!(forged.verify_signature().is_err());
        }
        assert!(!VERIFIED.contains(&forged.hash()));
    }

    #[test]
    fn the_cache_keeps_two_generations() {
        let cache = SigCache::new();
        let id = |i: usize| Hash::digest(&i.to_le_bytes());
        for i in 0..SIG_CACHE_GENERATION * 2 + 1 {
            cache.insert(id(i));
        }
        // The first generation was dropped when the third began.
        assert!(!cache.contains(&id(0)));
        assert!(cache.contains(&id(SIG_CACHE_GENERATION)));
        assert!(cache.contains(&id(SIG_CACHE_GENERATION * 2)));
    }
}
