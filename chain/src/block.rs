//! Headers, blocks and evidence of misbehaviour.

use crate::attestation::AttestationData;
use crate::codec;
use crate::crypto::{CryptoError, Keypair, PublicKey, Signature};
use crate::hash::{merkle_root, Hash};
use crate::tx::Transaction;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Most transactions in one block.
pub const MAX_BLOCK_TXS: usize = 10_000;
/// Most pieces of evidence in one block.
pub const MAX_BLOCK_EVIDENCE: usize = 64;
/// Largest engine-specific seal or consensus field.
pub const MAX_SEAL_BYTES: usize = 64 << 10;

/// A block header. The block id is the SHA-256 of its canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Header {
    pub parent: Hash,
    pub height: u64,
    /// Milliseconds since the Unix epoch, as the producer claims it.
    pub timestamp_ms: u64,
    /// Receives the block reward and the fees.
    pub producer: PublicKey,
    /// Merkle root of the transaction ids.
    pub tx_root: Hash,
    /// Merkle root of the evidence ids.
    pub evidence_root: Hash,
    /// Commitment to the account state after this block.
    pub state_root: Hash,
    /// Engine-specific data that the seal covers (difficulty, slot, round, votes).
    pub consensus: Vec<u8>,
    /// Engine-specific proof (a proof-of-work nonce, a signature), over `seal_hash`.
    pub seal: Vec<u8>,
}

impl Header {
    /// The block id.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// Hash of every field but the seal: what a seal signs or a nonce is mined over.
    pub fn seal_hash(&self) -> Hash {
        let mut unsealed = self.clone();
        unsealed.seal.clear();
        Hash::digest_parts(&[b"generals/seal/v1\0", &codec::encode(&unsealed)])
    }
}

/// Two messages signed by one key that an honest signer never signs both: two
/// different messages for one position (two blocks for one height, two prevotes
/// for one round, two attestations for one target epoch), or two attestations of
/// which one surrounds the other (Casper FFG's second condition).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Evidence {
    pub first: SignedMessage,
    pub second: SignedMessage,
}

/// What a consensus message is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A block header sealed by its producer (PoA, PoS).
    Block,
    /// A BFT proposal.
    Proposal,
    /// A BFT prevote.
    Prevote,
    /// A BFT precommit.
    Precommit,
    /// A PoS attestation, positioned by its target epoch.
    Attestation,
    /// A PBFT primary's pre-prepare: a block for a sequence number (height) in
    /// a view (`round`).
    PrePrepare,
    /// A PBFT prepare.
    Prepare,
    /// A PBFT commit.
    Commit,
    /// A PBFT view change, at the view it asks for.
    ViewChange,
    /// A PBFT new-view, from the new view's primary.
    NewView,
    /// A PBFT checkpoint of a decided height.
    Checkpoint,
}

/// Where a message stands in the protocol. An honest signer signs at most one
/// message for each position.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode, Serialize, Deserialize,
)]
pub struct Position {
    pub kind: MessageKind,
    /// Height, slot or epoch, as the kind says.
    pub height: u64,
    /// BFT round; zero where there are no rounds.
    pub round: u64,
}

/// A consensus message (its payload's meaning is the engine's), signed over the
/// chain id, its position and its payload.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedMessage {
    pub signer: PublicKey,
    pub position: Position,
    pub payload: Vec<u8>,
    pub signature: Signature,
}

/// Domain of consensus-message signatures.
pub const MESSAGE_DOMAIN: &[u8] = b"generals/msg/v1\0";

fn message_bytes(chain_id: &str, position: &Position, payload: &[u8]) -> Vec<u8> {
    codec::encode(&(chain_id, position, payload))
}

impl SignedMessage {
    /// Signs `payload` at `position` on chain `chain_id`.
    pub fn sign(
        key: &Keypair,
        chain_id: &str,
        position: Position,
        payload: Vec<u8>,
    ) -> SignedMessage {
        let signature = key.sign(
            MESSAGE_DOMAIN,
            &message_bytes(chain_id, &position, &payload),
        );
        SignedMessage {
            signer: key.public(),
            position,
            payload,
            signature,
        }
    }

    /// Checks the signature, for chain `chain_id`.
    pub fn verify(&self, chain_id: &str) -> Result<(), CryptoError> {
        self.signer.verify(
            MESSAGE_DOMAIN,
            &message_bytes(chain_id, &self.position, &self.payload),
            &self.signature,
        )
    }
}

/// Why a piece of evidence is not evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("the two messages have different signers ({first} and {second})")]
    DifferentSigners { first: PublicKey, second: PublicKey },
    #[error("the two messages stand at different positions ({first:?} and {second:?})")]
    DifferentPositions { first: Position, second: Position },
    #[error("the two messages are the same message")]
    SameMessage,
    #[error("a message of the evidence is not validly signed: {0}")]
    Signature(#[from] CryptoError),
    #[error("attestation at epoch {position} is unreadable or targets epoch {target}")]
    BadAttestation { position: u64, target: u64 },
    #[error("neither attestation surrounds the other")]
    NoSurround,
}

/// What a piece of evidence shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Offence {
    /// Two different messages of one kind at one position.
    DoubleSign(MessageKind),
    /// An attestation whose span surrounds another's.
    SurroundVote,
}

impl std::fmt::Display for Offence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Offence::DoubleSign(MessageKind::Block) => write!(f, "double proposal"),
            Offence::DoubleSign(MessageKind::Attestation) => write!(f, "double vote"),
            Offence::DoubleSign(MessageKind::PrePrepare) => write!(f, "double pre-prepare"),
            Offence::DoubleSign(MessageKind::ViewChange) => write!(f, "double view change"),
            Offence::DoubleSign(MessageKind::NewView) => write!(f, "double new view"),
            Offence::DoubleSign(k) => write!(f, "double {}", format!("{k:?}").to_lowercase()),
            Offence::SurroundVote => write!(f, "surround vote"),
        }
    }
}

/// The attestation a signed message carries, checked against its position.
fn attestation_of(m: &SignedMessage) -> Result<AttestationData, EvidenceError> {
    let bad = |target| EvidenceError::BadAttestation {
        position: m.position.height,
        target,
    };
    let data =
        codec::decode::<AttestationData, { AttestationData::MAX_BYTES }>("attestation", &m.payload)
            .map_err(|_| bad(u64::MAX))?;
    if data.target.epoch != m.position.height || m.position.round != 0 {
        return Err(bad(data.target.epoch));
    }
    Ok(data)
}

impl Evidence {
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// The offender.
    pub fn offender(&self) -> PublicKey {
        self.first.signer
    }

    /// What the evidence shows, if it is well formed (signatures unchecked).
    pub fn offence(&self) -> Result<Offence, EvidenceError> {
        let (a, b) = (&self.first, &self.second);
        if a.signer != b.signer {
            return Err(EvidenceError::DifferentSigners {
                first: a.signer,
                second: b.signer,
            });
        }
        let both_attest = a.position.kind == MessageKind::Attestation
            && b.position.kind == MessageKind::Attestation;
        if a.position == b.position {
            if a.payload == b.payload {
                return Err(EvidenceError::SameMessage);
            }
            if both_attest {
                attestation_of(a)?;
                attestation_of(b)?;
            }
            return Ok(Offence::DoubleSign(a.position.kind));
        }
        if !both_attest {
            return Err(EvidenceError::DifferentPositions {
                first: a.position,
                second: b.position,
            });
        }
        let (x, y) = (attestation_of(a)?, attestation_of(b)?);
        if x.surrounds(&y) || y.surrounds(&x) {
            Ok(Offence::SurroundVote)
        } else {
            Err(EvidenceError::NoSurround)
        }
    }

    /// Checks that this is evidence on chain `chain_id`: one signer, and either
    /// one position with two different payloads or two attestations of which one
    /// surrounds the other, both validly signed. Returns the offender.
    pub fn verify(&self, chain_id: &str) -> Result<PublicKey, EvidenceError> {
        self.offence()?;
        self.first.verify(chain_id)?;
        self.second.verify(chain_id)?;
        Ok(self.first.signer)
    }
}

/// A block: header, transactions, evidence.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Block {
    pub header: Header,
    pub transactions: Vec<Transaction>,
    pub evidence: Vec<Evidence>,
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    pub fn height(&self) -> u64 {
        self.header.height
    }

    pub fn compute_tx_root(transactions: &[Transaction]) -> Hash {
        let ids: Vec<Hash> = transactions.iter().map(Transaction::hash).collect();
        merkle_root(&ids)
    }

    pub fn compute_evidence_root(evidence: &[Evidence]) -> Hash {
        let ids: Vec<Hash> = evidence.iter().map(Evidence::hash).collect();
        merkle_root(&ids)
    }

    /// Decodes a block from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Block, codec::CodecError> {
        codec::decode::<_, { codec::MAX_BLOCK_BYTES }>("block", bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
}
