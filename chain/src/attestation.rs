//! What a proof-of-stake attestation says, after Casper FFG: a link from a
//! source checkpoint (justified) to a target checkpoint (an epoch boundary block).
//! It lives in the chain crate because a surround vote is evidence that every
//! node checks from the two signed attestations alone.

use crate::hash::Hash;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// An epoch boundary block.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
pub struct Checkpoint {
    pub epoch: u64,
    pub hash: Hash,
}

/// What a validator attests to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
pub struct AttestationData {
    pub source: Checkpoint,
    pub target: Checkpoint,
}

impl AttestationData {
    /// Largest encoded attestation.
    pub const MAX_BYTES: usize = 256;

    /// Whether this attestation's span strictly surrounds `inner`'s.
    pub fn surrounds(&self, inner: &AttestationData) -> bool {
        self.source.epoch < inner.source.epoch && inner.target.epoch < self.target.epoch
    }
}
