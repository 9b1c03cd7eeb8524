//! An order under SM(m) and its chain of signatures, shared by the honest
//! algorithm (`sm`) and the traitors (`traitor`), which neither imports the
//! other.

use super::Order;
use generals_chain::{Keypair, Signature};

/// The domain of every signature in SM.
pub(super) const DOMAIN: &[u8] = b"generals/sm/v1\0";

/// An order and its chain of signatures: `v:0:j1:...:jk` in the paper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedOrder {
    pub value: Order,
    pub chain: Vec<(usize, Signature)>,
}

/// What the `k`-th signer signs: the value and the signatures before it.
pub(super) fn payload(value: Order, before: &[(usize, Signature)]) -> Vec<u8> {
    let mut p = vec![value.byte()];
    for (g, s) in before {
        p.extend_from_slice(&(*g as u32).to_le_bytes());
        p.extend_from_slice(&s.0);
    }
    p
}

impl SignedOrder {
    /// `value:g`, signed by `g` alone (the commander).
    pub fn new(value: Order, g: usize, key: &Keypair) -> SignedOrder {
        SignedOrder {
            value,
            chain: Vec::new(),
        }
        .sign_onto(g, key)
    }

    /// This order with `g`'s signature added.
    pub fn sign_onto(&self, g: usize, key: &Keypair) -> SignedOrder {
        let sig = key.sign(DOMAIN, &payload(self.value, &self.chain));
        let mut chain = self.chain.clone();
        chain.push((g, sig));
        SignedOrder {
            value: self.value,
            chain,
        }
    }

    pub fn signed_by(&self, g: usize) -> bool {
        self.chain.iter().any(|(s, _)| *s == g)
    }

    pub fn signers(&self) -> Vec<usize> {
        self.chain.iter().map(|(g, _)| *g).collect()
    }
}
