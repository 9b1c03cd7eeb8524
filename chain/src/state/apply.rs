//! The transition rules. A block executes against an overlay of the accounts it
//! touches; only a block that passes every rule is committed.

use super::{Account, AccountView, ChainRules, LtHash, State, Undo};
use crate::block::{Block, EvidenceError, MAX_BLOCK_EVIDENCE, MAX_BLOCK_TXS, MAX_SEAL_BYTES};
use crate::codec::MAX_BLOCK_BYTES;
use crate::crypto::{CryptoError, PublicKey};
use crate::hash::Hash;
use crate::tx::{Action, Transaction};
use crate::Evidence;
use std::collections::BTreeMap;

/// Why a transaction cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("transaction {tx}: bad signature: {source}")]
    BadSignature { tx: Hash, source: CryptoError },
    #[error("transaction {tx}: chain id {got:?}, this chain is {expected:?}")]
    WrongChainId {
        tx: Hash,
        expected: String,
        got: String,
    },
    #[error("transaction {tx}: nonce {got}, account {sender} expects {expected}")]
    BadNonce {
        tx: Hash,
        sender: PublicKey,
        expected: u64,
        got: u64,
    },
    #[error("transaction {tx}: account {sender} needs {needed} but holds {available}")]
    InsufficientBalance {
        tx: Hash,
        sender: PublicKey,
        needed: u64,
        available: u64,
    },
    #[error("transaction {tx}: account {sender} unbonds {needed} but has {bonded} bonded")]
    InsufficientStake {
        tx: Hash,
        sender: PublicKey,
        needed: u64,
        bonded: u64,
    },
    #[error("transaction {tx}: amount is zero")]
    ZeroAmount { tx: Hash },
    #[error("transaction {tx}: {what} of account {account} would overflow")]
    Overflow {
        tx: Hash,
        account: PublicKey,
        what: &'static str,
    },
    #[error("transaction {tx}: account {sender} is jailed and cannot bond")]
    Jailed { tx: Hash, sender: PublicKey },
    #[error("transaction {tx}: {reason}")]
    BadVote { tx: Hash, reason: String },
}

/// Why a block cannot apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block's {what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("the execution was computed on state {computed_on}, but the state is now {now}")]
    Stale { computed_on: Hash, now: Hash },
    #[error("block has {count} transactions, more than {max}")]
    TooManyTransactions { count: usize, max: usize },
    #[error("block has {count} pieces of evidence, more than {max}")]
    TooMuchEvidence { count: usize, max: usize },
    #[error("transaction root {got} does not match the transactions ({computed})")]
    TxRoot { got: Hash, computed: Hash },
    #[error("evidence root {got} does not match the evidence ({computed})")]
    EvidenceRoot { got: Hash, computed: Hash },
    #[error("transaction {index}: {source}")]
    Transaction { index: usize, source: TxError },
    #[error("evidence {index}: {source}")]
    Evidence { index: usize, source: EvidenceError },
    #[error("evidence {index}: {offender} is already jailed")]
    AlreadyJailed { index: usize, offender: PublicKey },
    #[error("reward and fees of {reward} would overflow producer {producer}'s balance")]
    RewardOverflow { producer: PublicKey, reward: u128 },
    #[error("state root {got} in the header, but the block leads to {computed}")]
    StateRoot { got: Hash, computed: Hash },
}

/// The outcome of executing a block: new account values, the undo record, and
/// the commitment after it.
#[derive(Clone, Debug)]
pub struct Execution {
    /// New values of the touched accounts, sorted by key.
    pub changes: Vec<(PublicKey, Account)>,
    pub undo: Undo,
    pub state_root: Hash,
    /// Root of the state it was computed on.
    pub base_root: Hash,
    pub(super) commitment: LtHash,
}

/// Below this many transactions, threads cost more than they save.
const PARALLEL_FROM: usize = 64;

/// Verifies the signatures of `txs` (strictly), on every core. Returns the lowest
/// index that fails.
pub fn verify_signatures(txs: &[Transaction]) -> Result<(), (usize, CryptoError)> {
    if txs.len() < PARALLEL_FROM {
        return verify_range(txs, 0);
    }
    // Asked only for large blocks: it reads the cgroup limits from /proc.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 {
        return verify_range(txs, 0);
    }
    let chunk = txs.len().div_ceil(threads);
    let results: Vec<Result<(), (usize, CryptoError)>> = std::thread::scope(|s| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .enumerate()
            .map(|(i, c)| s.spawn(move || verify_range(c, i * chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    results.into_iter().collect()
}

fn verify_range(txs: &[Transaction], offset: usize) -> Result<(), (usize, CryptoError)> {
    for (i, tx) in txs.iter().enumerate() {
        tx.verify_signature().map_err(|e| (offset + i, e))?;
    }
    Ok(())
}

/// The accounts a block (or a block being built) touches, over the state.
#[derive(Debug)]
pub struct Overlay<'a> {
    base: &'a State,
    rules: &'a ChainRules,
    touched: BTreeMap<PublicKey, Account>,
    fees: u64,
    /// The block's timestamp: unbonding that has matured by then is released.
    now_ms: u64,
}

impl AccountView for Overlay<'_> {
    fn account(&self, key: &PublicKey) -> Option<Account> {
        self.touched
            .get(key)
            .copied()
            .or_else(|| self.base.account(key))
    }
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a State, rules: &'a ChainRules) -> Overlay<'a> {
        Overlay {
            base,
            rules,
            touched: BTreeMap::new(),
            fees: 0,
            now_ms: 0,
        }
    }

    /// Applies the rules as of a block stamped `timestamp_ms`.
    pub fn at(mut self, timestamp_ms: u64) -> Self {
        self.now_ms = timestamp_ms;
        self
    }

    /// An account as the block sees it: unbonded stake whose delay has passed is
    /// back in the balance.
    fn get(&self, key: &PublicKey) -> Account {
        let mut a = self.account(key).unwrap_or_default();
        if a.unbonding > 0 && a.unbonding_until_ms <= self.now_ms {
            if let Some(b) = a.balance.checked_add(a.unbonding) {
                a.balance = b;
                a.unbonding = 0;
                a.unbonding_until_ms = 0;
            }
        }
        a
    }

    /// Checks the signature, then applies the transaction; on error nothing changes.
    pub fn apply_tx(&mut self, tx: &Transaction) -> Result<(), TxError> {
        tx.verify_signature()
            .map_err(|source| TxError::BadSignature {
                tx: tx.hash(),
                source,
            })?;
        self.apply_verified_tx(tx)
    }

    /// Applies a transaction whose signature was already checked; every other rule is
    /// checked here, before anything changes.
    pub fn apply_verified_tx(&mut self, tx: &Transaction) -> Result<(), TxError> {
        let b = &tx.body;
        let id = || tx.hash();
        if b.chain_id != self.rules.chain_id {
            return Err(TxError::WrongChainId {
                tx: id(),
                expected: self.rules.chain_id.clone(),
                got: b.chain_id.clone(),
            });
        }
        let mut sender = self.get(&b.sender);
        if b.nonce != sender.nonce {
            return Err(TxError::BadNonce {
                tx: id(),
                sender: b.sender,
                expected: sender.nonce,
                got: b.nonce,
            });
        }
        if b.action.amount() == Some(0) {
            return Err(TxError::ZeroAmount { tx: id() });
        }
        if let Some(reason) = b.action.vote_problem() {
            return Err(TxError::BadVote { tx: id(), reason });
        }
        let overflow = |account, what| TxError::Overflow {
            tx: id(),
            account,
            what,
        };
        let debit = b.debit().ok_or_else(|| overflow(b.sender, "debit"))?;
        if sender.balance < debit {
            return Err(TxError::InsufficientBalance {
                tx: id(),
                sender: b.sender,
                needed: debit,
                available: sender.balance,
            });
        }
        let fees = self
            .fees
            .checked_add(b.fee)
            .ok_or_else(|| overflow(b.sender, "block fees"))?;
        sender.balance -= debit;
        sender.nonce = sender
            .nonce
            .checked_add(1)
            .ok_or_else(|| overflow(b.sender, "nonce"))?;
        match b.action {
            Action::Transfer { to, amount } => {
                let mut recipient = if to == b.sender {
                    sender
                } else {
                    self.get(&to)
                };
                recipient.balance = recipient
                    .balance
                    .checked_add(amount)
                    .ok_or_else(|| overflow(to, "balance"))?;
                if to != b.sender {
                    self.touched.insert(to, recipient);
                }
                sender = if to == b.sender { recipient } else { sender };
            }
            Action::Bond { amount } => {
                if sender.jailed {
                    return Err(TxError::Jailed {
                        tx: id(),
                        sender: b.sender,
                    });
                }
                sender.bonded = sender
                    .bonded
                    .checked_add(amount)
                    .ok_or_else(|| overflow(b.sender, "bonded stake"))?;
            }
            Action::Unbond { amount } => {
                if sender.bonded < amount {
                    return Err(TxError::InsufficientStake {
                        tx: id(),
                        sender: b.sender,
                        needed: amount,
                        bonded: sender.bonded,
                    });
                }
                sender.bonded -= amount;
                if self.rules.unbonding_delay_ms == 0 {
                    sender.balance = sender
                        .balance
                        .checked_add(amount)
                        .ok_or_else(|| overflow(b.sender, "balance"))?;
                } else {
                    // A later unbond restarts the wait for the whole amount.
                    sender.unbonding = sender
                        .unbonding
                        .checked_add(amount)
                        .ok_or_else(|| overflow(b.sender, "unbonding stake"))?;
                    sender.unbonding_until_ms =
                        self.now_ms.saturating_add(self.rules.unbonding_delay_ms);
                }
            }
            // The vote lives in the chain; the engine tallies it from blocks.
            Action::Vote { .. } => {}
        }
        self.touched.insert(b.sender, sender);
        self.fees = fees;
        Ok(())
    }

    /// Applies evidence included by `producer`: with slashing on, the offender loses
    /// its share of stake and is jailed, and the producer gets the whistleblower
    /// share of what was taken; the rest is burned.
    pub fn apply_evidence(
        &mut self,
        index: usize,
        evidence: &Evidence,
        producer: &PublicKey,
    ) -> Result<(), BlockError> {
        let offender = evidence
            .verify(&self.rules.chain_id)
            .map_err(|source| BlockError::Evidence { index, source })?;
        let slashing = self.rules.slashing;
        if !slashing.enabled {
            return Ok(());
        }
        let mut acc = self.get(&offender);
        if acc.jailed {
            return Err(BlockError::AlreadyJailed { index, offender });
        }
        // Stake on its way out is slashable too: leaving does not escape evidence.
        let at_stake = acc.bonded as u128 + acc.unbonding as u128;
        let slashed = at_stake * slashing.fraction_ppm.min(1_000_000) as u128 / 1_000_000;
        let reward =
            (slashed * slashing.whistleblower_ppm.min(1_000_000) as u128 / 1_000_000) as u64;
        let from_bonded = slashed.min(acc.bonded as u128) as u64;
        acc.bonded -= from_bonded;
        acc.unbonding -= (slashed as u64 - from_bonded).min(acc.unbonding);
        acc.jailed = true;
        self.touched.insert(offender, acc);
        let mut p = self.get(producer);
        p.balance = p
            .balance
            .checked_add(reward)
            .ok_or(BlockError::RewardOverflow {
                producer: *producer,
                reward: reward as u128,
            })?;
        self.touched.insert(*producer, p);
        Ok(())
    }

    /// Pays the block reward and the fees to `producer` and returns the changes.
    pub fn finish(mut self, producer: &PublicKey, block: Hash) -> Result<Execution, BlockError> {
        let reward = self.rules.block_reward as u128 + self.fees as u128;
        let mut p = self.get(producer);
        p.balance =
            u64::try_from(p.balance as u128 + reward).map_err(|_| BlockError::RewardOverflow {
                producer: *producer,
                reward,
            })?;
        self.touched.insert(*producer, p);
        let mut commitment = self.base.commitment.clone();
        let mut prior = Vec::with_capacity(self.touched.len());
        for (k, new) in &self.touched {
            let old = self.base.accounts.get(k).copied();
            if let Some(old) = &old {
                commitment.remove(k, old);
            }
            commitment.insert(k, new);
            prior.push((*k, old));
        }
        Ok(Execution {
            changes: self.touched.into_iter().collect(),
            undo: Undo { block, prior },
            state_root: commitment.root(),
            base_root: self.base.root(),
            commitment,
        })
    }
}

impl State {
    /// Executes `block` against this state without changing it. Checks everything
    /// but the header's `state_root` (a producer fills it from the result).
    pub fn execute(&self, block: &Block, rules: &ChainRules) -> Result<Execution, BlockError> {
        let txs = &block.transactions;
        for (what, len, max) in [
            (
                "consensus field",
                block.header.consensus.len(),
                MAX_SEAL_BYTES,
            ),
            ("seal", block.header.seal.len(), MAX_SEAL_BYTES),
            ("encoding", block.encode().len(), MAX_BLOCK_BYTES),
        ] {
            if len > max {
                return Err(BlockError::TooLarge { what, len, max });
            }
        }
        if txs.len() > MAX_BLOCK_TXS {
            return Err(BlockError::TooManyTransactions {
                count: txs.len(),
                max: MAX_BLOCK_TXS,
            });
        }
        if block.evidence.len() > MAX_BLOCK_EVIDENCE {
            return Err(BlockError::TooMuchEvidence {
                count: block.evidence.len(),
                max: MAX_BLOCK_EVIDENCE,
            });
        }
        let computed = Block::compute_tx_root(txs);
        if computed != block.header.tx_root {
            return Err(BlockError::TxRoot {
                got: block.header.tx_root,
                computed,
            });
        }
        let computed = Block::compute_evidence_root(&block.evidence);
        if computed != block.header.evidence_root {
            return Err(BlockError::EvidenceRoot {
                got: block.header.evidence_root,
                computed,
            });
        }
        let bad_signature = |(index, source): (usize, CryptoError)| BlockError::Transaction {
            index,
            source: TxError::BadSignature {
                tx: txs[index].hash(),
                source,
            },
        };
        if txs.len() < PARALLEL_FROM {
            verify_signatures(txs).map_err(bad_signature)?;
            return self.run_rules(block, rules);
        }
        // Signatures are checked on other threads while the rules run here; the
        // block is refused if either fails, a bad signature named first.
        std::thread::scope(|s| {
            let signatures = s.spawn(|| verify_signatures(txs));
            let applied = self.run_rules(block, rules);
            let signatures = signatures
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            signatures.map_err(bad_signature)?;
            applied
        })
    }

    fn run_rules(&self, block: &Block, rules: &ChainRules) -> Result<Execution, BlockError> {
        let mut overlay = Overlay::new(self, rules).at(block.header.timestamp_ms);
        for (index, tx) in block.transactions.iter().enumerate() {
            overlay
                .apply_verified_tx(tx)
                .map_err(|source| BlockError::Transaction { index, source })?;
        }
        let producer = block.header.producer;
        for (index, ev) in block.evidence.iter().enumerate() {
            overlay.apply_evidence(index, ev, &producer)?;
        }
        overlay.finish(&producer, block.hash())
    }

    /// Executes `block`, checks its `state_root`, and commits it.
    pub fn apply_block(
        &mut self,
        block: &Block,
        rules: &ChainRules,
    ) -> Result<Execution, BlockError> {
        let exec = self.execute(block, rules)?;
        if exec.state_root != block.header.state_root {
            return Err(BlockError::StateRoot {
                got: block.header.state_root,
                computed: exec.state_root,
            });
        }
        self.commit(&exec)?;
        Ok(exec)
    }
}
