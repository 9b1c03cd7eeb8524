//! The mempool: transactions waiting for a block. Bounded by count, bytes and per
//! sender; blocks take them by fee, each sender's in nonce order; when full, the
//! lowest fee goes first; a new block drops what it made invalid, and a reorg gives
//! back the transactions of the blocks it undid.

use crate::block::Block;
use crate::codec::MAX_TX_BYTES;
use crate::crypto::{CryptoError, PublicKey};
use crate::hash::Hash;
use crate::state::AccountView;
use crate::tx::{Action, Transaction};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// Bounds of a mempool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MempoolConfig {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_per_sender: usize,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_txs: 20_000,
            max_bytes: 16 << 20,
            max_per_sender: 256,
        }
    }
}

/// Why a transaction was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("transaction {tx} is already in the mempool")]
    Known { tx: Hash },
    #[error("transaction {tx} is {size} bytes, over the limit of {max}")]
    TooLarge { tx: Hash, size: usize, max: usize },
    #[error("transaction {tx} has chain id {got:?}, this chain is {expected:?}")]
    WrongChainId {
        tx: Hash,
        expected: String,
        got: String,
    },
    #[error("transaction {tx}: {source}")]
    BadSignature { tx: Hash, source: CryptoError },
    #[error("transaction {tx}: amount is zero")]
    ZeroAmount { tx: Hash },
    #[error("transaction {tx} has nonce {got}, but account {sender} is at {expected}")]
    StaleNonce {
        tx: Hash,
        sender: PublicKey,
        expected: u64,
        got: u64,
    },
    #[error("transaction {tx} has nonce {got}, too far ahead of account {sender}'s {expected}")]
    NonceTooFar {
        tx: Hash,
        sender: PublicKey,
        expected: u64,
        got: u64,
    },
    #[error("transaction {tx} needs {needed}, account {sender} holds {available}")]
    InsufficientBalance {
        tx: Hash,
        sender: PublicKey,
        needed: u64,
        available: u64,
    },
    #[error("transaction {tx} replaces one with fee {old_fee}; it must pay more than that, not {new_fee}")]
    Underpriced {
        tx: Hash,
        old_fee: u64,
        new_fee: u64,
    },
    #[error("account {sender} already has {max} transactions waiting")]
    SenderFull { sender: PublicKey, max: usize },
    #[error(
        "the mempool is full and transaction {tx}'s fee {fee} does not beat the lowest, {lowest}"
    )]
    Full { tx: Hash, fee: u64, lowest: u64 },
}

/// What an accepted transaction did to the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    pub tx: Hash,
    /// The transaction of the same sender and nonce that this one replaced.
    pub replaced: Option<Hash>,
    /// Lower-fee transactions dropped to make room.
    pub evicted: Vec<Hash>,
}

#[derive(Debug)]
struct Entry {
    tx: Transaction,
    size: usize,
}

type FeeKey = (u64, Reverse<u64>, Hash);

/// A bounded pool of valid-looking transactions.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    chain_id: String,
    entries: HashMap<Hash, Entry>,
    by_sender: HashMap<PublicKey, BTreeMap<u64, Hash>>,
    by_fee: BTreeSet<FeeKey>,
    bytes: usize,
}

fn fee_key(tx: &Transaction, id: Hash) -> FeeKey {
    (tx.body.fee, Reverse(tx.body.nonce), id)
}

impl Mempool {
    pub fn new(chain_id: &str, config: MempoolConfig) -> Mempool {
        Mempool {
            config,
            chain_id: chain_id.to_string(),
            entries: HashMap::new(),
            by_sender: HashMap::new(),
            by_fee: BTreeSet::new(),
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, id: &Hash) -> bool {
        self.entries.contains_key(id)
    }

    pub fn get(&self, id: &Hash) -> Option<&Transaction> {
        self.entries.get(id).map(|e| &e.tx)
    }

    /// All transactions, highest fee first.
    pub fn iter(&self) -> impl Iterator<Item = &Transaction> {
        self.by_fee
            .iter()
            .rev()
            .filter_map(|(_, _, id)| self.entries.get(id).map(|e| &e.tx))
    }

    /// Checks a transaction against `view` (the state at the tip) and takes it.
    pub fn insert(
        &mut self,
        tx: Transaction,
        view: &impl AccountView,
    ) -> Result<Admitted, MempoolError> {
        let id = tx.hash();
        let size = tx.encoded_len();
        let b = &tx.body;
        if self.entries.contains_key(&id) {
            return Err(MempoolError::Known { tx: id });
        }
        if size > MAX_TX_BYTES {
            return Err(MempoolError::TooLarge {
                tx: id,
                size,
                max: MAX_TX_BYTES,
            });
        }
        if b.chain_id != self.chain_id {
            return Err(MempoolError::WrongChainId {
                tx: id,
                expected: self.chain_id.clone(),
                got: b.chain_id.clone(),
            });
        }
        let (Action::Transfer { amount, .. } | Action::Bond { amount } | Action::Unbond { amount }) =
            b.action;
        if amount == 0 {
            return Err(MempoolError::ZeroAmount { tx: id });
        }
        tx.verify_signature()
            .map_err(|source| MempoolError::BadSignature { tx: id, source })?;
        let account = view.account(&b.sender).unwrap_or_default();
        if b.nonce < account.nonce {
            return Err(MempoolError::StaleNonce {
                tx: id,
                sender: b.sender,
                expected: account.nonce,
                got: b.nonce,
            });
        }
        if b.nonce - account.nonce >= self.config.max_per_sender as u64 {
            return Err(MempoolError::NonceTooFar {
                tx: id,
                sender: b.sender,
                expected: account.nonce,
                got: b.nonce,
            });
        }
        let needed = b.debit().unwrap_or(u64::MAX);
        if needed > account.balance {
            return Err(MempoolError::InsufficientBalance {
                tx: id,
                sender: b.sender,
                needed,
                available: account.balance,
            });
        }
        let pending = self.by_sender.get(&b.sender);
        let replaced = pending.and_then(|m| m.get(&b.nonce)).copied();
        if let Some(old) = replaced {
            let old_fee = self.entries[&old].tx.body.fee;
            if b.fee <= old_fee {
                return Err(MempoolError::Underpriced {
                    tx: id,
                    old_fee,
                    new_fee: b.fee,
                });
            }
        } else if pending.map_or(0, BTreeMap::len) >= self.config.max_per_sender {
            return Err(MempoolError::SenderFull {
                sender: b.sender,
                max: self.config.max_per_sender,
            });
        }
        // Choose what to evict before changing anything, so a refusal changes nothing.
        let freed = replaced.map_or(0, |r| self.entries[&r].size);
        let mut count = self.entries.len() - usize::from(replaced.is_some()) + 1;
        let mut bytes = self.bytes - freed + size;
        let mut evict = Vec::new();
        for key in self.by_fee.iter() {
            if count <= self.config.max_txs && bytes <= self.config.max_bytes {
                break;
            }
            if Some(key.2) == replaced {
                continue;
            }
            if key.0 >= b.fee {
                return Err(MempoolError::Full {
                    tx: id,
                    fee: b.fee,
                    lowest: key.0,
                });
            }
            count -= 1;
            bytes -= self.entries[&key.2].size;
            evict.push(key.2);
        }
        if count > self.config.max_txs || bytes > self.config.max_bytes {
            return Err(MempoolError::Full {
                tx: id,
                fee: b.fee,
                lowest: b.fee,
            });
        }
        if let Some(r) = replaced {
            self.remove(&r);
        }
        for e in &evict {
            self.remove(e);
        }
        self.by_fee.insert(fee_key(&tx, id));
        self.by_sender
            .entry(tx.body.sender)
            .or_default()
            .insert(tx.body.nonce, id);
        self.bytes += size;
        self.entries.insert(id, Entry { tx, size });
        Ok(Admitted {
            tx: id,
            replaced,
            evicted: evict,
        })
    }

    /// Removes one transaction; returns it if it was there.
    pub fn remove(&mut self, id: &Hash) -> Option<Transaction> {
        let entry = self.entries.remove(id)?;
        self.bytes -= entry.size;
        self.by_fee.remove(&fee_key(&entry.tx, *id));
        let sender = entry.tx.body.sender;
        if let Some(m) = self.by_sender.get_mut(&sender) {
            m.remove(&entry.tx.body.nonce);
            if m.is_empty() {
                self.by_sender.remove(&sender);
            }
        }
        Some(entry.tx)
    }

    /// Transactions for a block at the state `view`: highest fee first among each
    /// sender's next nonce, so no sender's transactions leave out of order.
    pub fn select(
        &self,
        view: &impl AccountView,
        max_txs: usize,
        max_bytes: usize,
    ) -> Vec<Transaction> {
        let mut heap: BinaryHeap<(u64, Reverse<Hash>, PublicKey, u64)> = BinaryHeap::new();
        for (sender, txs) in &self.by_sender {
            let nonce = view.account(sender).unwrap_or_default().nonce;
            if let Some(id) = txs.get(&nonce) {
                heap.push((self.entries[id].tx.body.fee, Reverse(*id), *sender, nonce));
            }
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some((_, Reverse(id), sender, nonce)) = heap.pop() {
            if out.len() >= max_txs {
                break;
            }
            let e = &self.entries[&id];
            if bytes + e.size > max_bytes {
                continue;
            }
            bytes += e.size;
            out.push(e.tx.clone());
            if let Some(next) = nonce
                .checked_add(1)
                .and_then(|n| self.by_sender[&sender].get(&n).map(|id| (n, *id)))
            {
                heap.push((
                    self.entries[&next.1].tx.body.fee,
                    Reverse(next.1),
                    sender,
                    next.0,
                ));
            }
        }
        out
    }

    /// After `block` was applied (`view` is the state after it): drops its
    /// transactions and those of its senders it made invalid (a spent nonce, a
    /// balance that no longer covers them). Returns how many were dropped.
    pub fn remove_for_block(&mut self, block: &Block, view: &impl AccountView) -> usize {
        let before = self.len();
        for tx in &block.transactions {
            self.remove(&tx.hash());
        }
        let senders: BTreeSet<PublicKey> =
            block.transactions.iter().map(|t| t.body.sender).collect();
        for sender in senders {
            let account = view.account(&sender).unwrap_or_default();
            let stale: Vec<Hash> = self
                .by_sender
                .get(&sender)
                .into_iter()
                .flatten()
                .filter(|(nonce, id)| {
                    **nonce < account.nonce
                        || self.entries[*id].tx.body.debit().unwrap_or(u64::MAX) > account.balance
                })
                .map(|(_, id)| *id)
                .collect();
            for id in stale {
                self.remove(&id);
            }
        }
        before - self.len()
    }

    /// Takes back the transactions of blocks a reorg undid (`view` is the state after
    /// the reorg). Those no longer valid are left out. Returns how many came back.
    pub fn readd(
        &mut self,
        txs: impl IntoIterator<Item = Transaction>,
        view: &impl AccountView,
    ) -> usize {
        txs.into_iter()
            .filter(|tx| self.insert(tx.clone(), view).is_ok())
            .count()
    }
}
