//! Block seals shared by the engines whose producers sign their blocks (proof
//! of authority, proof of stake, BFT): a seal is the producer's signature over
//! the header's seal hash at its height, so two seals of one key at one height
//! stand as evidence as they are.

use crate::engine::ConsensusError;
use generals_chain::{Block, Header, Keypair, MessageKind, Position, Signature, SignedMessage};

/// How far ahead of the local clock a block may be stamped.
pub const MAX_FUTURE_DRIFT_MS: u64 = 15_000;

/// The message a seal signs: the header's seal hash at its height, so that two
/// seals of one authority at one height are evidence as they stand.
pub fn seal_message(header: &Header, signature: Signature) -> SignedMessage {
    SignedMessage {
        signer: header.producer,
        position: Position {
            kind: MessageKind::Block,
            height: header.height,
            round: 0,
        },
        payload: header.seal_hash().0.to_vec(),
        signature,
    }
}

/// Seals `block` with `key`.
pub fn seal(block: &mut Block, key: &Keypair, chain_id: &str) {
    let m = SignedMessage::sign(
        key,
        chain_id,
        Position {
            kind: MessageKind::Block,
            height: block.height(),
            round: 0,
        },
        block.header.seal_hash().0.to_vec(),
    );
    block.header.seal = m.signature.0.to_vec();
}

/// The 64-byte signature in a header's seal.
pub fn signature_of(header: &Header) -> Result<Signature, ConsensusError> {
    let bytes: [u8; 64] =
        header
            .seal
            .as_slice()
            .try_into()
            .map_err(|_| ConsensusError::BadSeal {
                reason: format!("{} bytes, a signature is 64", header.seal.len()),
            })?;
    Ok(Signature(bytes))
}
