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
    #[error("transaction {tx}: {reason}")]
    BadVote { tx: Hash, reason: String },
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
    #[error("transaction {tx}: coins sent to {to} could never be spent: {source}")]
    BadRecipient {
        tx: Hash,
        to: PublicKey,
        source: CryptoError,
    },
    #[error("transaction {tx} has nonce {got}, but account {sender} is at {expected}")]
    StaleNonce {
        tx: Hash,
        sender: PublicKey,
        expected: u64,
        got: u64,
    },
    #[error(
        "transaction {tx} has nonce {got}, but account {sender}'s next is {expected}: no gaps"
    )]
    NonceGap {
        tx: Hash,
        sender: PublicKey,
        expected: u64,
        got: u64,
    },
    #[error(
        "transaction {tx} and the pending ones of {sender} need {needed}, it holds {available}"
    )]
    InsufficientBalance {
        tx: Hash,
        sender: PublicKey,
        needed: u64,
        available: u64,
    },
    #[error("transaction {tx} unbonds {needed}, account {sender} has {bonded} bonded")]
    InsufficientStake {
        tx: Hash,
        sender: PublicKey,
        needed: u64,
        bonded: u64,
    },
    #[error("transaction {tx}: account {sender} is jailed and cannot bond")]
    Jailed { tx: Hash, sender: PublicKey },
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
    /// Each sender's pending debits (amounts, stakes and fees) summed, kept
    /// with `by_sender`: a new transaction's balance check reads it rather
    /// than walking the sender's queue (which took a fifth of a node's time
    /// under overload, with 256 pending a sender).
    debits: HashMap<PublicKey, u128>,
}

/// What a transaction takes from its sender's balance (a debit past u64 counts
/// as a quarter of u128, more than any balance).
fn debit_of(tx: &Transaction) -> u128 {
    tx.body.debit().map_or(u128::MAX / 4, u128::from)
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
            debits: HashMap::new(),
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

    /// The nonce `sender`'s next transaction should carry: after its account's and
    /// those waiting here (geth's "pending" nonce).
    pub fn next_nonce(&self, sender: &PublicKey, view: &impl AccountView) -> u64 {
        let account = view.account(sender).unwrap_or_default().nonce;
        self.by_sender
            .get(sender)
            .and_then(|m| m.keys().next_back())
            .map_or(account, |n| (n + 1).max(account))
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
        if b.action.amount() == Some(0) {
            return Err(MempoolError::ZeroAmount { tx: id });
        }
        if let Some(reason) = b.action.vote_problem() {
            return Err(MempoolError::BadVote { tx: id, reason });
        }
        if let Action::Transfer { to, .. } = b.action {
            to.check_usable()
                .map_err(|source| MempoolError::BadRecipient { tx: id, to, source })?;
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
        let pending = self.by_sender.get(&b.sender);
        let replaced = pending.and_then(|m| m.get(&b.nonce)).copied();
        // No gaps: a sender's pending nonces run on from its account's, so every
        // pending transaction can be included once those before it are.
        let next = pending
            .and_then(|m| m.keys().next_back())
            .map_or(account.nonce, |n| n + 1);
        if replaced.is_none() && b.nonce != next {
            return Err(MempoolError::NonceGap {
                tx: id,
                sender: b.sender,
                expected: next,
                got: b.nonce,
            });
        }
        match b.action {
            Action::Bond { .. } if account.jailed => {
                return Err(MempoolError::Jailed {
                    tx: id,
                    sender: b.sender,
                })
            }
            Action::Unbond { amount } if amount > account.bonded => {
                return Err(MempoolError::InsufficientStake {
                    tx: id,
                    sender: b.sender,
                    needed: amount,
                    bonded: account.bonded,
                })
            }
            _ => {}
        }
        // The sender must afford all its pending transactions together.
        let others = self
            .debits
            .get(&b.sender)
            .copied()
            .unwrap_or(0)
            .saturating_sub(replaced.map_or(0, |r| debit_of(&self.entries[&r].tx)));
        let needed = others.saturating_add(debit_of(&tx));
        if needed > account.balance as u128 {
            return Err(MempoolError::InsufficientBalance {
                tx: id,
                sender: b.sender,
                needed: u64::try_from(needed).unwrap_or(u64::MAX),
                available: account.balance,
            });
        }
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
        // Choose what to evict before changing anything, so a refusal changes
        // nothing. Only a sender's last pending transaction is evicted, lowest fee
        // first, so no gap opens in anyone's nonces.
        let freed = replaced.map_or(0, |r| self.entries[&r].size);
        let mut count = self.entries.len() - usize::from(replaced.is_some()) + 1;
        let mut bytes = self.bytes - freed + size;
        let mut evict: Vec<Hash> = Vec::new();
        let mut tails: BTreeMap<PublicKey, u64> = BTreeMap::new();
        while count > self.config.max_txs || bytes > self.config.max_bytes {
            let victim = self.by_fee.iter().find(|(_, Reverse(nonce), h)| {
                let sender = self.entries[h].tx.body.sender;
                let last = tails
                    .get(&sender)
                    .copied()
                    .or_else(|| self.by_sender[&sender].keys().next_back().copied());
                Some(*h) != replaced && sender != b.sender && last == Some(*nonce)
            });
            let Some(&(fee, Reverse(nonce), victim)) = victim else {
                break;
            };
            if fee >= b.fee {
                return Err(MempoolError::Full {
                    tx: id,
                    fee: b.fee,
                    lowest: fee,
                });
            }
            let sender = self.entries[&victim].tx.body.sender;
            tails.insert(sender, nonce.wrapping_sub(1));
            count -= 1;
            bytes -= self.entries[&victim].size;
            evict.push(victim);
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
        let debit = self.debits.entry(tx.body.sender).or_default();
        *debit = debit.saturating_add(debit_of(&tx));
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
                self.debits.remove(&sender);
            } else if let Some(d) = self.debits.get_mut(&sender) {
                *d = d.saturating_sub(debit_of(&entry.tx));
            }
        }
        Some(entry.tx)
    }

    /// Transactions for a block at the state `view`: highest fee first among each
    /// sender's next nonce, so no sender's transactions leave out of order; equal
    /// fees go lowest nonce first, then by id.
    pub fn select(
        &self,
        view: &impl AccountView,
        max_txs: usize,
        max_bytes: usize,
    ) -> Vec<Transaction> {
        type Ready = (u64, Reverse<u64>, Reverse<Hash>, PublicKey);
        let ready = |sender: PublicKey, nonce: u64| -> Option<Ready> {
            let id = self.by_sender.get(&sender)?.get(&nonce)?;
            Some((
                self.entries[id].tx.body.fee,
                Reverse(nonce),
                Reverse(*id),
                sender,
            ))
        };
        let mut heap: BinaryHeap<Ready> = self
            .by_sender
            .keys()
            .filter_map(|s| ready(*s, view.account(s).unwrap_or_default().nonce))
            .collect();
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some((_, Reverse(nonce), Reverse(id), sender)) = heap.pop() {
            if out.len() >= max_txs {
                break;
            }
            let e = &self.entries[&id];
            if bytes + e.size > max_bytes {
                continue;
            }
            bytes += e.size;
            out.push(e.tx.clone());
            if let Some(next) = nonce.checked_add(1).and_then(|n| ready(sender, n)) {
                heap.push(next);
            }
        }
        out
    }

    /// After `block` was applied (`view` is the state after it): drops its
    /// transactions, then rechecks each sender it touched (evidence offenders too):
    /// spent nonces go, and from the first transaction the account can no longer
    /// afford or perform, the rest of that sender's queue goes. Returns how many
    /// were dropped.
    pub fn remove_for_block(&mut self, block: &Block, view: &impl AccountView) -> usize {
        let before = self.len();
        for tx in &block.transactions {
            self.remove(&tx.hash());
        }
        let senders: BTreeSet<PublicKey> = block
            .transactions
            .iter()
            .map(|t| t.body.sender)
            .chain(block.evidence.iter().map(|e| e.offender()))
            .collect();
        for sender in senders {
            self.recheck_sender(&sender, view);
        }
        before - self.len()
    }

    fn recheck_sender(&mut self, sender: &PublicKey, view: &impl AccountView) {
        let account = view.account(sender).unwrap_or_default();
        let Some(queue) = self.by_sender.get(sender) else {
            return;
        };
        let mut drop = Vec::new();
        let mut expected = account.nonce;
        let mut spent: u128 = 0;
        let mut broken = false;
        for (nonce, id) in queue {
            if *nonce < account.nonce {
                drop.push(*id);
                continue;
            }
            let body = &self.entries[id].tx.body;
            spent += body.debit().map_or(u128::MAX / 4, u128::from);
            let performable = match body.action {
                Action::Bond { .. } => !account.jailed,
                Action::Unbond { amount } => amount <= account.bonded,
                Action::Transfer { .. } | Action::Vote { .. } => true,
            };
            broken |= *nonce != expected || spent > account.balance as u128 || !performable;
            if broken {
                drop.push(*id);
            }
            expected = nonce + 1;
        }
        for id in drop {
            self.remove(&id);
        }
    }

    /// Takes back the transactions of blocks a reorg undid (`view` is the state
    /// after the reorg; call `remove_for_block` for the blocks it applied too).
    /// Each sender's queue is rebuilt in nonce order from what came back and what
    /// was waiting; what no longer fits is left out. Returns how many came back.
    pub fn readd(
        &mut self,
        txs: impl IntoIterator<Item = Transaction>,
        view: &impl AccountView,
    ) -> usize {
        let mut back: Vec<Transaction> = txs.into_iter().collect();
        let returned: BTreeSet<Hash> = back.iter().map(Transaction::hash).collect();
        let senders: BTreeSet<PublicKey> = back.iter().map(|t| t.body.sender).collect();
        for sender in &senders {
            let waiting: Vec<Hash> = self
                .by_sender
                .get(sender)
                .into_iter()
                .flatten()
                .map(|(_, h)| *h)
                .collect();
            back.extend(waiting.iter().filter_map(|h| self.remove(h)));
        }
        back.sort_by_key(|t| (t.body.sender, t.body.nonce, Reverse(t.body.fee)));
        back.into_iter()
            .filter_map(|tx| self.insert(tx, view).ok())
            .filter(|a| returned.contains(&a.tx))
            .count()
    }
}
