//! generals-chain: the chain core every other crate of generals stands on. It
//! knows nothing of consensus rules, networks, clocks or randomness: it holds the
//! data, checks the rules of accounts, and stores blocks durably. Its only threads
//! are scoped ones that check a block's signatures on every core.
//!
//! Layout:
//! - `hash`: SHA-256 `Hash` and the RFC 6962 Merkle root;
//! - `codec`: the one codec (bincode 2.0.1, size-limited, canonical);
//! - `crypto`: ed25519 keys, strict verification, key files;
//! - `tx`, `block`: transactions, headers, blocks, evidence;
//! - `attestation`: what a proof-of-stake vote says (for surround evidence);
//! - `builder`: building a block from candidate transactions;
//! - `state`: accounts, the state transition with undo, the LtHash commitment;
//! - `genesis`: the genesis file;
//! - `mempool`: the bounded, fee-ordered pool of pending transactions;
//! - `forktree`: every known block, cumulative weight, reorg plans;
//! - `store`: the `BlockStore` trait, with sled and in-memory stores;
//! - `ledger`: a store plus the state at its tip: import, undo, reorg, recovery.

pub mod attestation;
pub mod block;
pub mod builder;
pub mod codec;
pub mod crypto;
pub mod fixtures;
pub mod forktree;
pub mod genesis;
pub mod hash;
pub mod ledger;
pub mod mempool;
#[cfg(feature = "openapi")]
mod openapi;
pub mod state;
pub mod store;
pub mod tx;

pub use attestation::{AttestationData, Checkpoint};
pub use block::{Block, Evidence, Header, MessageKind, Offence, Position, SignedMessage};
pub use builder::{build_block, BlockTemplate};
pub use crypto::{Keypair, PublicKey, Signature};
pub use forktree::{ForkTree, ReorgPlan};
pub use genesis::{ConsensusSpec, Genesis};
pub use hash::Hash;
pub use ledger::{Ledger, LedgerError};
pub use mempool::{Mempool, MempoolConfig};
pub use state::{Account, ChainRules, State};
#[cfg(feature = "sled")]
pub use store::SledStore;
pub use store::{BlockStore, MemoryStore};
pub use tx::{Action, Transaction, TxBody};
