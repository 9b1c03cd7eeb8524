//! SHA-256 hashes and the Merkle root of a block's transactions.

use bincode::{Decode, Encode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A 32-byte SHA-256 digest: block ids, transaction ids, roots.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Encode, Decode)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash: the parent of the genesis block.
    pub const ZERO: Hash = Hash([0; 32]);

    /// SHA-256 of `bytes`.
    pub fn digest(bytes: &[u8]) -> Hash {
        Hash(Sha256::digest(bytes).into())
    }

    /// SHA-256 over several slices, as if they were concatenated.
    pub fn digest_parts(parts: &[&[u8]]) -> Hash {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Hash(h.finalize().into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex digits, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.short())
    }
}

/// Parse error of a hex-encoded 32-byte value (hash or key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hex digits (32 bytes), got {input:?}")]
pub struct HexError {
    pub input: String,
}

pub(crate) fn parse_hex32(s: &str) -> Result<[u8; 32], HexError> {
    let mut out = [0u8; 32];
    let err = || HexError {
        input: s.chars().take(80).collect(),
    };
    if s.len() != 64 {
        return Err(err());
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| err())?;
    Ok(out)
}

impl FromStr for Hash {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, HexError> {
        parse_hex32(s).map(Hash)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Merkle root after RFC 6962 (section 2.1): leaves and inner nodes are hashed
/// with different prefixes and an odd node is promoted, not duplicated, so two
/// different lists never share a root (Bitcoin's duplication allowed that,
/// CVE-2012-2459). The empty list has the root `Hash::digest(b"")`.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::digest(b"");
    }
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|l| Hash::digest_parts(&[&[0u8], &l.0]))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => Hash::digest_parts(&[&[1u8], &l.0, &r.0]),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkle_root_depends_on_every_leaf_and_their_order() {
        let a = Hash::digest(b"a");
        let b = Hash::digest(b"b");
        let c = Hash::digest(b"c");
        let abc = merkle_root(&[a, b, c]);
        assert_ne!(abc, merkle_root(&[a, c, b]));
        assert_ne!(abc, merkle_root(&[a, b]));
        // The duplicated-last-leaf mutation of CVE-2012-2459 gives another root.
        assert_ne!(abc, merkle_root(&[a, b, c, c]));
        assert_ne!(merkle_root(&[]), merkle_root(&[a]));
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash::digest(b"x");
        assert_eq!(h.to_hex().parse::<Hash>(), Ok(h));
        assert!("zz".parse::<Hash>().is_err());
        assert!("00".repeat(31).parse::<Hash>().is_err());
    }
}
