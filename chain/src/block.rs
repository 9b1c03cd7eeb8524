//! Headers, blocks and evidence of misbehaviour.

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

/// Two messages signed by one key that an engine's rules forbid it to sign both
/// of (two blocks for one slot, two votes for one round).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Evidence {
    pub first: SignedMessage,
    pub second: SignedMessage,
}

/// A message (its meaning is the engine's) and its signer's signature over it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignedMessage {
    pub signer: PublicKey,
    pub payload: Vec<u8>,
    pub signature: Signature,
}

/// Domain of consensus-message signatures.
pub const MESSAGE_DOMAIN: &[u8] = b"generals/msg/v1\0";

impl SignedMessage {
    pub fn sign(key: &Keypair, payload: Vec<u8>) -> SignedMessage {
        let signature = key.sign(MESSAGE_DOMAIN, &payload);
        SignedMessage {
            signer: key.public(),
            payload,
            signature,
        }
    }

    pub fn verify(&self) -> Result<(), CryptoError> {
        self.signer
            .verify(MESSAGE_DOMAIN, &self.payload, &self.signature)
    }
}

/// Why a piece of evidence is not evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("the two messages have different signers ({first} and {second})")]
    DifferentSigners { first: PublicKey, second: PublicKey },
    #[error("the two messages are the same message")]
    SameMessage,
    #[error("a message of the evidence is not validly signed: {0}")]
    Signature(#[from] CryptoError),
}

impl Evidence {
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// The offender.
    pub fn offender(&self) -> PublicKey {
        self.first.signer
    }

    /// Checks what every engine agrees on: one signer, two different messages, both
    /// validly signed. Whether the two conflict is the engine's rule to check.
    pub fn verify(&self) -> Result<PublicKey, EvidenceError> {
        if self.first.signer != self.second.signer {
            return Err(EvidenceError::DifferentSigners {
                first: self.first.signer,
                second: self.second.signer,
            });
        }
        if self.first.payload == self.second.payload {
            return Err(EvidenceError::SameMessage);
        }
        self.first.verify()?;
        self.second.verify()?;
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
        codec::decode("block", bytes, codec::MAX_BLOCK_BYTES)
    }

    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
}
