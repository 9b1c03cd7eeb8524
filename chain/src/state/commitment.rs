//! The state commitment: a lattice hash (LtHash, Lewi et al., "Securing Update
//! Propagation with Homomorphic Hashing", 2019; the construction Solana uses for
//! its accounts hash). Each account's (key, value) expands to 1024 16-bit lanes;
//! the commitment is their lane-wise sum modulo 2^16. Changing an account
//! subtracts its old lanes and adds its new ones, so a block costs work in the
//! accounts it touches and never a rescan; the sum does not depend on order, so
//! every node holding the same accounts holds the same commitment.

use crate::codec;
use crate::crypto::PublicKey;
use crate::hash::Hash;
use crate::state::Account;

const LANES: usize = 1024;

/// A multiset hash of (key, account) pairs.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash {
    lanes: Box<[u16; LANES]>,
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash({})", self.root().short())
    }
}

impl Default for LtHash {
    fn default() -> Self {
        LtHash {
            lanes: Box::new([0; LANES]),
        }
    }
}

fn expand(key: &PublicKey, account: &Account) -> [u16; LANES] {
    let mut h = blake3::Hasher::new_derive_key("generals 2026 state account lanes v1");
    h.update(&key.0);
    h.update(&codec::encode(account));
    let mut bytes = [0u8; LANES * 2];
    h.finalize_xof().fill(&mut bytes);
    let mut out = [0u16; LANES];
    for (lane, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *lane = u16::from_le_bytes([pair[0], pair[1]]);
    }
    out
}

impl LtHash {
    pub fn insert(&mut self, key: &PublicKey, account: &Account) {
        let e = expand(key, account);
        for (l, v) in self.lanes.iter_mut().zip(e.iter()) {
            *l = l.wrapping_add(*v);
        }
    }

    pub fn remove(&mut self, key: &PublicKey, account: &Account) {
        let e = expand(key, account);
        for (l, v) in self.lanes.iter_mut().zip(e.iter()) {
            *l = l.wrapping_sub(*v);
        }
    }

    /// The 32-byte commitment that headers carry.
    pub fn root(&self) -> Hash {
        let mut bytes = [0u8; LANES * 2];
        for (chunk, lane) in bytes.chunks_exact_mut(2).zip(self.lanes.iter()) {
            chunk.copy_from_slice(&lane.to_le_bytes());
        }
        Hash::digest_parts(&[b"generals/state/v1\0", &bytes])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_free_and_removable() {
        let a = (
            PublicKey([1; 32]),
            Account {
                balance: 5,
                ..Default::default()
            },
        );
        let b = (
            PublicKey([2; 32]),
            Account {
                nonce: 3,
                ..Default::default()
            },
        );
        let mut x = LtHash::default();
        x.insert(&a.0, &a.1);
        x.insert(&b.0, &b.1);
        let mut y = LtHash::default();
        y.insert(&b.0, &b.1);
        y.insert(&a.0, &a.1);
        assert_eq!(x.root(), y.root());
        y.remove(&a.0, &a.1);
        let mut z = LtHash::default();
        z.insert(&b.0, &b.1);
        assert_eq!(y, z);
        assert_ne!(x.root(), z.root());
        // The same value under another key is another element.
        let mut w = LtHash::default();
        w.insert(&PublicKey([3; 32]), &b.1);
        assert_ne!(w.root(), z.root());
    }
}
