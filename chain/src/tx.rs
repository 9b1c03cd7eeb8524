//! Transactions: transfers and stake bonding, signed by their sender over their
//! canonical bytes, bound to one chain id so they cannot replay on another network.

use crate::codec;
use crate::crypto::{CryptoError, Keypair, PublicKey, Signature};
use crate::hash::Hash;
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

/// Domain of transaction signatures.
pub const TX_DOMAIN: &[u8] = b"generals/tx/v1\0";

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    /// Move `amount` from the sender's balance to `to`.
    Transfer { to: PublicKey, amount: u64 },
    /// Move `amount` from the sender's balance into its bonded stake.
    Bond { amount: u64 },
    /// Move `amount` from the sender's bonded stake back to its balance.
    Unbond { amount: u64 },
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TxBody {
    pub chain_id: String,
    pub sender: PublicKey,
    /// Equal to the sender's account nonce when the transaction is applied.
    pub nonce: u64,
    /// Paid to the block's producer.
    pub fee: u64,
    pub action: Action,
}

/// A transaction and its sender's signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Transaction {
    pub body: TxBody,
    pub signature: Signature,
}

impl TxBody {
    /// Signs the body's canonical bytes with `key` (which should be the sender's).
    pub fn sign(self, key: &Keypair) -> Transaction {
        let signature = key.sign(TX_DOMAIN, &codec::encode(&self));
        Transaction {
            body: self,
            signature,
        }
    }

    /// Amount leaving the sender's balance: fee plus what the action moves out.
    pub fn debit(&self) -> Option<u64> {
        match self.action {
            Action::Transfer { amount, .. } | Action::Bond { amount } => {
                self.fee.checked_add(amount)
            }
            Action::Unbond { .. } => Some(self.fee),
        }
    }
}

impl Transaction {
    /// The transaction id: SHA-256 of its canonical encoding.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }

    /// Checks the sender's signature (strict, weak keys refused).
    pub fn verify_signature(&self) -> Result<(), CryptoError> {
        self.body
            .sender
            .verify(TX_DOMAIN, &codec::encode(&self.body), &self.signature)
    }

    pub fn encoded_len(&self) -> usize {
        codec::encode(self).len()
    }

    /// Decodes a transaction from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Transaction, codec::CodecError> {
        codec::decode::<_, { codec::MAX_TX_BYTES }>("transaction", bytes)
    }
}
