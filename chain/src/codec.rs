//! The one codec: every byte that crosses the network or the disk is encoded and
//! decoded here, with bincode 2.0.1 in its standard configuration (little endian,
//! variable-length integers).
//!
//! Decoding is defensive: the input is refused if it is longer than the caller's
//! limit before anything is decoded; bincode is given the same limit, so a length
//! prefix that claims gigabytes fails before any allocation; trailing bytes are an
//! error; and the value must re-encode to exactly the input, so every value has one
//! encoding and a hash of it one preimage.

use bincode::config::{self, Configuration, Limit};
use bincode::{Decode, Encode};

/// Largest encoded block.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;
/// Largest encoded transaction.
pub const MAX_TX_BYTES: usize = 4 << 10;

/// Why bytes were refused.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{what}: {len} bytes is over the limit of {limit}")]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("{what}: malformed: {source}")]
    Malformed {
        what: &'static str,
        #[source]
        source: bincode::error::DecodeError,
    },
    #[error("{what}: {trailing} trailing bytes after the value")]
    TrailingBytes { what: &'static str, trailing: usize },
    #[error("{what}: not in canonical form (re-encoding gives other bytes)")]
    NotCanonical { what: &'static str },
}

/// Encodes a value. Encoding our own types into memory cannot fail.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    bincode::encode_to_vec(value, config::standard())
        .expect("encoding into a Vec has no failure mode for generals types")
}

/// Decodes a `what` (named in errors) from untrusted bytes, at most `LIMIT` long.
/// bincode is held to the same limit, so the containers it allocates while
/// decoding add up to at most `LIMIT` bytes, whatever their length prefixes claim.
pub fn decode<T: Decode<()> + Encode, const LIMIT: usize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, CodecError> {
    if bytes.len() > LIMIT {
        return Err(CodecError::TooLarge {
            what,
            len: bytes.len(),
            limit: LIMIT,
        });
    }
    let cfg: Configuration<config::LittleEndian, config::Varint, Limit<LIMIT>> =
        config::standard().with_limit::<LIMIT>();
    let (value, read): (T, usize) = bincode::decode_from_slice(bytes, cfg)
        .map_err(|source| CodecError::Malformed { what, source })?;
    if read != bytes.len() {
        return Err(CodecError::TrailingBytes {
            what,
            trailing: bytes.len() - read,
        });
    }
    if encode(&value) != bytes {
        return Err(CodecError::NotCanonical { what });
    }
    Ok(value)
}
