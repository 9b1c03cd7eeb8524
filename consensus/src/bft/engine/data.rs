//! What BFT blocks and messages carry: the header's engine data (round and
//! the parent's commit certificate), the proposal body, vote payloads, and the
//! proposer's seal over (height, round).

use super::{MessageKind, Position};
use crate::engine::ConsensusError;
use bincode::{Decode, Encode};
use generals_chain::{codec, Block, Hash, Header, Keypair, Signature, SignedMessage};

/// What a BFT header carries in its `consensus` field.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct BftData {
    /// The round in which the block was proposed.
    pub round: u64,
    /// The precommits that decided the parent: its commit certificate (empty
    /// on the first block, whose parent is genesis).
    pub last_commit: Vec<SignedMessage>,
}

impl BftData {
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
    pub fn decode(bytes: &[u8]) -> Result<BftData, ConsensusError> {
        codec::decode::<_, { generals_chain::block::MAX_SEAL_BYTES }>("BFT data", bytes).map_err(
            |e| ConsensusError::BadConsensusData {
                reason: e.to_string(),
            },
        )
    }
}

/// ⟨PROPOSAL, h, r, v, vr⟩: the block and the round it was valid in, if any.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ProposalBody {
    pub block: Hash,
    pub valid_round: Option<u64>,
}

impl ProposalBody {
    pub fn decode(bytes: &[u8]) -> Option<ProposalBody> {
        codec::decode::<_, 64>("proposal", bytes).ok()
    }
}

/// A vote's value: a block id, or nil.
pub fn vote_payload(value: Option<Hash>) -> Vec<u8> {
    codec::encode(&value)
}

pub fn vote_value(payload: &[u8]) -> Option<Option<Hash>> {
    codec::decode::<Option<Hash>, 64>("vote", payload).ok()
}

/// A candidate block as a voting engine takes it before its header check:
/// on the decided `tip`, at `height`, its roots those of its body.
pub(crate) fn extends(b: &Block, tip: &Header, height: u64) -> bool {
    b.header.parent == tip.hash()
        && b.height() == height
        && b.header.tx_root == Block::compute_tx_root(&b.transactions)
        && b.header.evidence_root == Block::compute_evidence_root(&b.evidence)
}

/// The commit certificate of `tip`, which the next block carries: the one
/// this node gathered when it decided (`decided`), the one its signing record
/// saved (`saved`, whose votes carry `payload`), or, decided by others while
/// this node was away, the one in any block built on the tip.
pub(crate) fn tip_certificate<'a>(
    tip: &Header,
    decided: Option<(&Block, &[SignedMessage])>,
    saved: &[SignedMessage],
    payload: &[u8],
    mut blocks: impl Iterator<Item = &'a Block>,
) -> Option<Vec<SignedMessage>> {
    match decided {
        Some((b, cert)) if b.hash() == tip.hash() => return Some(cert.to_vec()),
        _ if tip.height == 0 => return Some(Vec::new()),
        _ => {}
    }
    if saved
        .first()
        .is_some_and(|m| m.position.height == tip.height && m.payload == payload)
    {
        return Some(saved.to_vec());
    }
    blocks
        .find(|b| b.header.parent == tip.hash())
        .and_then(|b| BftData::decode(&b.header.consensus).ok())
        .map(|d| d.last_commit)
}

/// The block's round, from its header (0 if unreadable).
pub fn round_of(header: &Header) -> u64 {
    BftData::decode(&header.consensus).map_or(0, |d| d.round)
}

/// Seals a BFT block: its proposer's signature over the block at (height,
/// round), so two blocks of one round by one proposer are evidence as they stand.
pub fn seal(block: &mut Block, key: &Keypair, chain_id: &str) {
    let m = SignedMessage::sign(
        key,
        chain_id,
        seal_position(&block.header),
        block.header.seal_hash().0.to_vec(),
    );
    block.header.seal = m.signature.0.to_vec();
}

pub(crate) fn seal_position(header: &Header) -> Position {
    Position {
        kind: MessageKind::Block,
        height: header.height,
        round: round_of(header),
    }
}

/// A header's seal as the signed message it is.
pub(crate) fn sealed_message(header: &Header) -> Result<SignedMessage, ConsensusError> {
    let mut m = crate::seal::seal_message(header, crate::seal::signature_of(header)?);
    m.position = seal_position(header);
    Ok(m)
}

/// A signature as it stands in a header seal (for tests and wrappers).
pub fn seal_signature(header: &Header) -> Option<Signature> {
    crate::seal::signature_of(header).ok()
}
