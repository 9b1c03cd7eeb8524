//! Block seals shared by the engines whose producers sign their blocks (proof
//! of authority, proof of stake, BFT): a seal is the producer's signature over
//! the header's seal hash at its height, so two seals of one key at one height
//! stand as evidence as they are.

use crate::engine::ConsensusError;
use generals_chain::{
    Block, Evidence, Header, Keypair, MessageKind, Position, PublicKey, Signature, SignedMessage,
};
use std::collections::BTreeMap;

/// Positions (heights or slots) remembered, by signer, to catch a second seal.
const SEALS_KEPT: usize = 10_000;

/// Seals seen, by position and signer: a second, different header sealed by
/// the same signer at the same position is evidence (a double seal).
#[derive(Debug, Default)]
pub struct Seals {
    seen: BTreeMap<(u64, PublicKey), Header>,
}

impl Seals {
    /// Notes `header`, sealed at `position`; `message` gives a header's seal as
    /// the signed message it is. Returns the evidence when its producer sealed
    /// another header at the same position, and the evidence checks out.
    pub fn note(
        &mut self,
        position: u64,
        header: &Header,
        message: impl Fn(&Header) -> Result<SignedMessage, ConsensusError>,
        chain_id: &str,
    ) -> Option<Evidence> {
        let key = (position, header.producer);
        let found = match self.seen.get(&key) {
            Some(first) if first.hash() != header.hash() => {
                let e = Evidence {
                    first: message(first).ok()?,
                    second: message(header).ok()?,
                };
                e.verify(chain_id).is_ok().then_some(e)
            }
            Some(_) => None,
            None => {
                self.seen.insert(key, header.clone());
                None
            }
        };
        while self.seen.len() > SEALS_KEPT {
            let first = self.seen.keys().next().copied();
            if let Some(k) = first {
                self.seen.remove(&k);
            }
        }
        found
    }
}

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

/// Seals `block` with `key` as the block of `slot` (proof of stake, DPoS):
/// two blocks of one slot by one key are evidence as they stand.
pub fn seal_slot(block: &mut Block, key: &Keypair, chain_id: &str, slot: u64) {
    let m = SignedMessage::sign(
        key,
        chain_id,
        Position {
            kind: MessageKind::Block,
            height: slot,
            round: 0,
        },
        block.header.seal_hash().0.to_vec(),
    );
    block.header.seal = m.signature.0.to_vec();
}

/// A slot-sealed header's seal as the signed message it is: the block at
/// its slot.
pub fn slot_seal_message(header: &Header, slot: u64) -> Result<SignedMessage, ConsensusError> {
    let mut m = seal_message(header, signature_of(header)?);
    m.position.height = slot;
    Ok(m)
}

/// A slot after its parent's, and a timestamp inside it (`start(slot)` is
/// when a slot begins).
pub fn check_slot(
    header: &Header,
    slot: u64,
    parent_slot: u64,
    start: impl Fn(u64) -> u64,
) -> Result<(), ConsensusError> {
    if slot <= parent_slot
        || header.timestamp_ms < start(slot)
        || header.timestamp_ms >= start(slot.saturating_add(1))
    {
        return Err(ConsensusError::BadConsensusData {
            reason: format!(
                "slot {slot} after slot {parent_slot}, stamped {}",
                header.timestamp_ms
            ),
        });
    }
    Ok(())
}
