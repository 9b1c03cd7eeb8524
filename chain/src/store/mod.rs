//! Where blocks and state live: the `BlockStore` trait, with a sled store for
//! nodes and an in-memory store for the simulator and tests.
//!
//! A store keeps every block it was given (forks too), the height index of the
//! main chain, the accounts at the tip, the undo record of each main-chain block,
//! and the tip. A write is a list of operations applied atomically and durably:
//! after `write` returns, a crash loses none of it, and a crash during it loses all.

#[cfg(feature = "sled")]
mod acked;
mod memory;
#[cfg(feature = "sled")]
mod sled;

#[cfg(feature = "sled")]
pub use self::acked::ACKED_FILE;
pub use self::memory::MemoryStore;
#[cfg(feature = "sled")]
pub use self::sled::{SledRecord, SledStore};

/// Name of the marker file of a ledger folder.
pub const LEDGER_MARKER: &str = "LEDGER";

use crate::block::{Block, Header};
use crate::codec::CodecError;
use crate::crypto::PublicKey;
use crate::hash::Hash;
use crate::state::{Account, Undo};
use bincode::{Decode, Encode};
use std::path::PathBuf;

/// Version of the on-disk format.
pub const LEDGER_FORMAT: u32 = 1;

/// The main chain's tip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Tip {
    pub hash: Hash,
    pub height: u64,
}

/// What a ledger belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct LedgerMeta {
    pub format: u32,
    pub chain_id: String,
    pub genesis: Hash,
}

/// One change in an atomic write.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    /// Stores a block (and its header) under its hash.
    PutBlock(&'a Block),
    SetHeight(u64, Hash),
    RemoveHeight(u64),
    PutAccount(PublicKey, Account),
    DeleteAccount(PublicKey),
    /// Stores an undo record under its block's hash.
    PutUndo(&'a Undo),
    DeleteUndo(Hash),
    SetTip(Tip),
    SetMeta(&'a LedgerMeta),
}

/// Why a store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path} is not a generals ledger (no {LEDGER_MARKER} file); refusing to touch it")]
    NotALedger { path: PathBuf },
    #[error("{path} holds the ledger of chain {found:?}, not {expected:?}; refusing to touch it")]
    WrongChain {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{path} holds the ledger of genesis {found}, not {expected}; refusing to touch it")]
    WrongGenesis {
        path: PathBuf,
        expected: Hash,
        found: Hash,
    },
    #[error("{path} is in use by another process (its lock is held)")]
    Busy { path: PathBuf },
    #[error("{path}: ledger format {found}, this build reads format {LEDGER_FORMAT}")]
    WrongFormat { path: PathBuf, found: u32 },
    #[error("ledger at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "sled")]
    #[error("sled: {0}")]
    Sled(#[from] ::sled::Error),
    #[error("corrupt ledger record: {0}")]
    Corrupt(#[from] CodecError),
    #[error("{path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error(
        "the ledger in {path} has lost blocks it had acknowledged: block {hash} at height \
         {height} is gone (the damaged ledger ends at height {now}). Confirmed blocks and \
         payments would be lost, so it is not opened. `generals-node repair --home DIR` moves \
         it aside (kept as ledger.damaged-*) and the node syncs the chain again from its peers"
    )]
    LostBlocks {
        path: PathBuf,
        height: u64,
        hash: Hash,
        now: u64,
    },
}

/// Storage of a ledger.
pub trait BlockStore {
    fn meta(&self) -> Result<Option<LedgerMeta>, StoreError>;
    fn tip(&self) -> Result<Option<Tip>, StoreError>;
    fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError>;
    fn header(&self, hash: &Hash) -> Result<Option<Header>, StoreError>;
    fn has_block(&self, hash: &Hash) -> Result<bool, StoreError>;
    /// Hash of the main-chain block at `height`.
    fn hash_at(&self, height: u64) -> Result<Option<Hash>, StoreError>;
    fn undo(&self, hash: &Hash) -> Result<Option<Undo>, StoreError>;
    /// Every account at the tip.
    fn accounts(&self) -> Result<Vec<(PublicKey, Account)>, StoreError>;
    /// The keys of every stored account, readable even where a value is damaged.
    fn account_keys(&self) -> Result<Vec<PublicKey>, StoreError>;
    /// Applies `ops` atomically and durably.
    fn write(&mut self, ops: &[Op<'_>]) -> Result<(), StoreError>;
}
