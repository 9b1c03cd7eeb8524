//! The proof-of-work puzzle (Nakamoto 2008, section 4): SHA-256d over the
//! header's seal hash (every field but the seal) and a 64-bit nonce, which is the
//! whole seal. The 40-byte message is a single SHA-256 block, so a nonce costs one
//! compression plus the second hash.

use super::difficulty::target_of;
use generals_chain::{Hash, Header};
use sha2::{Digest, Sha256};

/// The work hash of a header whose seal hash is `seal_hash`, with `nonce`.
pub fn work_hash(seal_hash: &Hash, nonce: u64) -> [u8; 32] {
    let mut first = Sha256::new();
    first.update(seal_hash.0);
    first.update(nonce.to_le_bytes());
    Sha256::digest(first.finalize()).into()
}

/// Whether a work hash meets `difficulty`.
pub fn meets(work: &[u8; 32], difficulty: u128) -> bool {
    let mut top = [0u8; 16];
    top.copy_from_slice(&work[..16]);
    u128::from_be_bytes(top) <= target_of(difficulty)
}

/// The nonce of a seal.
pub fn nonce_of(header: &Header) -> Option<u64> {
    let bytes: [u8; 8] = header.seal.as_slice().try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// Searches nonces `start..start + tries` for one whose work meets `difficulty`.
pub fn mine(header: &Header, difficulty: u128, start: u64, tries: u64) -> Option<u64> {
    let seal_hash = header.seal_hash();
    (start..start.saturating_add(tries)).find(|n| meets(&work_hash(&seal_hash, *n), difficulty))
}
