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

/// Upper bound of anything decoded, whatever the caller's own limit (16 MiB).
pub const MAX_DECODE_BYTES: usize = 16 << 20;
/// Largest encoded block.
pub const MAX_BLOCK_BYTES: usize = 8 << 20;
/// Largest encoded transaction.
pub const MAX_TX_BYTES: usize = 4 << 10;

type DecodeConfig = Configuration<config::LittleEndian, config::Varint, Limit<MAX_DECODE_BYTES>>;

fn decode_config() -> DecodeConfig {
    config::standard().with_limit::<MAX_DECODE_BYTES>()
}

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

/// Decodes a `what` (named in errors) from untrusted bytes, at most `limit` long.
pub fn decode<T: Decode<()> + Encode>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, CodecError> {
    let limit = limit.min(MAX_DECODE_BYTES);
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    let (value, read): (T, usize) = bincode::decode_from_slice(bytes, decode_config())
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
