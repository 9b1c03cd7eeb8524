//! The ledger: a block store, the account state at its tip, and the rules that
//! move the tip. Importing a block checks it against the tip and the state, then
//! writes block, height index, state changes, undo record and tip in one durable
//! write before it returns. Opening checks the stored chain and its state, and
//! rebuilds the state from the stored blocks when they disagree.

use crate::block::{Block, Header};
use crate::forktree::ReorgPlan;
use crate::genesis::{Genesis, GenesisError};
use crate::hash::Hash;
use crate::state::{BlockError, ChainRules, Execution, State};
use crate::store::{BlockStore, LedgerMeta, Op, StoreError, Tip, LEDGER_FORMAT};
use std::collections::BTreeSet;

/// Why the ledger refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    #[error("the ledger belongs to genesis {found}, this genesis is {expected}")]
    WrongGenesis { expected: Hash, found: Hash },
    #[error("the ledger belongs to chain {found:?}, this genesis is for {expected:?}")]
    WrongChain { expected: String, found: String },
    #[error("the ledger is damaged: {reason}")]
    Corrupt { reason: String },
    #[error("block {hash} extends {parent}, but the tip is {tip}")]
    NotOnTip { hash: Hash, parent: Hash, tip: Hash },
    #[error("block {hash} claims height {got}, the next height is {expected}")]
    BadHeight { hash: Hash, expected: u64, got: u64 },
    #[error("block {hash}: {source}")]
    Block {
        hash: Hash,
        #[source]
        source: Box<BlockError>,
    },
    #[error("the genesis block cannot be undone")]
    UndoGenesis,
    #[error("block {hash} is not stored")]
    MissingBlock { hash: Hash },
    #[error("the reorg plan starts from {from}, but the tip is {tip}")]
    PlanNotFromTip { from: Hash, tip: Hash },
    #[error("a write to the store failed earlier ({reason}); reopen the ledger")]
    Poisoned { reason: String },
}

/// What opening found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The ledger was new and now holds the genesis block.
    pub created: bool,
    /// The stored state disagreed with the tip and was rebuilt from the blocks.
    pub rebuilt: bool,
    pub tip: Tip,
}

/// Blocks a reorg undid and applied.
#[derive(Debug, Clone, Default)]
pub struct ReorgOutcome {
    pub undone: Vec<Block>,
    pub applied: Vec<Block>,
}

/// A chain's blocks and the state at its tip.
#[derive(Debug)]
pub struct Ledger<S: BlockStore> {
    store: S,
    rules: ChainRules,
    genesis_hash: Hash,
    state: State,
    tip: Tip,
    tip_header: Header,
    /// Set when a write failed: the store may hold more than memory does, so
    /// nothing more is written until the ledger is reopened from the store.
    poisoned: Option<String>,
}

fn corrupt(reason: impl Into<String>) -> LedgerError {
    LedgerError::Corrupt {
        reason: reason.into(),
    }
}

impl<S: BlockStore> Ledger<S> {
    /// Opens the ledger in `store` for `genesis`, writing the genesis block if the
    /// store is new.
    pub fn open(mut store: S, genesis: &Genesis) -> Result<(Ledger<S>, OpenReport), LedgerError> {
        let genesis_block = genesis.block()?;
        let genesis_hash = genesis_block.hash();
        let rules = genesis.rules();
        let Some(meta) = store.meta()? else {
            let state = genesis.state()?;
            let meta = LedgerMeta {
                format: LEDGER_FORMAT,
                chain_id: genesis.chain_id.clone(),
                genesis: genesis_hash,
            };
            let tip = Tip {
                hash: genesis_hash,
                height: 0,
            };
            let mut ops = vec![
                Op::SetMeta(&meta),
                Op::PutBlock(&genesis_block),
                Op::SetHeight(0, genesis_hash),
                Op::SetTip(tip),
            ];
            ops.extend(state.iter().map(|(k, a)| Op::PutAccount(*k, *a)));
            store.write(&ops)?;
            let ledger = Ledger {
                store,
                rules,
                genesis_hash,
                state,
                tip,
                tip_header: genesis_block.header,
                poisoned: None,
            };
            return Ok((
                ledger,
                OpenReport {
                    created: true,
                    rebuilt: false,
                    tip,
                },
            ));
        };
        if meta.chain_id != genesis.chain_id {
            return Err(LedgerError::WrongChain {
                expected: genesis.chain_id.clone(),
                found: meta.chain_id,
            });
        }
        if meta.genesis != genesis_hash {
            return Err(LedgerError::WrongGenesis {
                expected: genesis_hash,
                found: meta.genesis,
            });
        }
        let tip = store.tip()?.ok_or_else(|| corrupt("no tip is recorded"))?;
        let tip_header = Self::check_hash_chain(&store, tip, genesis_hash)?;
        // Damaged account records are repaired like a disagreeing state.
        let stored = match store.accounts() {
            Ok(accounts) => Some(State::from_accounts(accounts)),
            Err(StoreError::Corrupt(e)) => {
                tracing::warn!(error = %e, "a stored account is damaged");
                None
            }
            Err(e) => return Err(e.into()),
        };
        let rebuilt = stored
            .as_ref()
            .is_none_or(|s| s.root() != tip_header.state_root);
        let mut ledger = Ledger {
            store,
            rules,
            genesis_hash,
            state: stored.unwrap_or_default(),
            tip,
            tip_header,
            poisoned: None,
        };
        if rebuilt {
            tracing::warn!(
                height = tip.height,
                "stored state disagrees with the tip's state root; rebuilding it from the blocks"
            );
            ledger.rebuild_state(genesis)?;
        }
        Ok((
            ledger,
            OpenReport {
                created: false,
                rebuilt,
                tip,
            },
        ))
    }

    /// Walks the main chain from the tip to genesis: every height indexed, every
    /// header stored under its own hash, each linked to the one below.
    fn check_hash_chain(store: &S, tip: Tip, genesis: Hash) -> Result<Header, LedgerError> {
        let mut expected = tip.hash;
        let mut tip_header = None;
        for height in (0..=tip.height).rev() {
            let indexed = store
                .hash_at(height)?
                .ok_or_else(|| corrupt(format!("no block indexed at height {height}")))?;
            if indexed != expected {
                return Err(corrupt(format!(
                    "height {height} indexes {indexed}, the chain from the tip expects {expected}"
                )));
            }
            let header = store
                .header(&indexed)?
                .ok_or_else(|| corrupt(format!("block {indexed} at height {height} is missing")))?;
            if header.hash() != indexed || header.height != height {
                return Err(corrupt(format!(
                    "stored header {indexed} does not match its hash or height"
                )));
            }
            expected = header.parent;
            if tip_header.is_none() {
                tip_header = Some(header);
            }
        }
        if store.hash_at(0)? != Some(genesis) {
            return Err(corrupt("height 0 is not the genesis block"));
        }
        if store.hash_at(tip.height + 1)?.is_some() {
            return Err(corrupt(format!(
                "a block is indexed above the tip at {}",
                tip.height
            )));
        }
        tip_header.ok_or_else(|| corrupt("empty chain"))
    }

    /// Replays the main chain from genesis, as a new node would: each block
    /// must apply to the state before it and give the state root its header
    /// names, and the end must equal the stored state. Returns the blocks
    /// replayed and the root at the tip.
    pub fn replay(&self, genesis: &Genesis) -> Result<(u64, Hash), LedgerError> {
        let mut state = genesis.state()?;
        for height in 1..=self.tip.height {
            let block = self
                .block_at(height)?
                .ok_or_else(|| corrupt(format!("no block indexed at height {height}")))?;
            state.apply_block(&block, &self.rules).map_err(|e| {
                corrupt(format!(
                    "block {} at height {height} does not replay: {e}",
                    block.hash()
                ))
            })?;
        }
        if state.root() != self.state.root() {
            return Err(corrupt(format!(
                "the replayed state ({}) differs from the stored state ({})",
                state.root(),
                self.state.root()
            )));
        }
        Ok((self.tip.height, state.root()))
    }

    /// Replays the main chain from genesis and rewrites the stored accounts.
    fn rebuild_state(&mut self, genesis: &Genesis) -> Result<(), LedgerError> {
        let mut state = genesis.state()?;
        for height in 1..=self.tip.height {
            let hash = self
                .store
                .hash_at(height)?
                .ok_or_else(|| corrupt(format!("no block indexed at height {height}")))?;
            let block = self
                .store
                .block(&hash)?
                .ok_or(LedgerError::MissingBlock { hash })?;
            state.apply_block(&block, &self.rules).map_err(|e| {
                corrupt(format!(
                    "stored block {hash} at height {height} does not replay: {e}"
                ))
            })?;
        }
        let stale: BTreeSet<_> = self
            .store
            .account_keys()?
            .into_iter()
            .filter(|k| state.get(k).is_none())
            .collect();
        let mut ops: Vec<Op<'_>> = stale.into_iter().map(Op::DeleteAccount).collect();
        ops.extend(state.iter().map(|(k, a)| Op::PutAccount(*k, *a)));
        self.store.write(&ops)?;
        self.state = state;
        Ok(())
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn rules(&self) -> &ChainRules {
        &self.rules
    }

    pub fn tip(&self) -> Tip {
        self.tip
    }

    pub fn tip_header(&self) -> &Header {
        &self.tip_header
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The main-chain block at `height`.
    pub fn block_at(&self, height: u64) -> Result<Option<Block>, LedgerError> {
        match self.store.hash_at(height)? {
            Some(h) => Ok(self.store.block(&h)?),
            None => Ok(None),
        }
    }

    fn write(&mut self, ops: &[Op<'_>]) -> Result<(), LedgerError> {
        if let Some(reason) = &self.poisoned {
            return Err(LedgerError::Poisoned {
                reason: reason.clone(),
            });
        }
        self.store.write(ops).map_err(|e| {
            self.poisoned = Some(e.to_string());
            LedgerError::Store(e)
        })
    }

    /// Checks `block` against the tip and the state and makes it the new tip. The
    /// write is durable when this returns.
    pub fn import(&mut self, block: &Block) -> Result<Execution, LedgerError> {
        let hash = block.hash();
        if block.header.parent != self.tip.hash {
            return Err(LedgerError::NotOnTip {
                hash,
                parent: block.header.parent,
                tip: self.tip.hash,
            });
        }
        let expected = self.tip.height + 1;
        if block.header.height != expected {
            return Err(LedgerError::BadHeight {
                hash,
                expected,
                got: block.header.height,
            });
        }
        let exec = self
            .state
            .execute(block, &self.rules)
            .map_err(|source| LedgerError::Block {
                hash,
                source: Box::new(source),
            })?;
        if exec.state_root != block.header.state_root {
            return Err(LedgerError::Block {
                hash,
                source: Box::new(BlockError::StateRoot {
                    got: block.header.state_root,
                    computed: exec.state_root,
                }),
            });
        }
        let tip = Tip {
            hash,
            height: expected,
        };
        let mut ops = Vec::with_capacity(exec.changes.len() + 4);
        ops.push(Op::PutBlock(block));
        ops.push(Op::SetHeight(expected, hash));
        ops.extend(exec.changes.iter().map(|(k, a)| Op::PutAccount(*k, *a)));
        ops.push(Op::PutUndo(&exec.undo));
        ops.push(Op::SetTip(tip));
        self.write(&ops)?;
        self.state
            .commit(&exec)
            .map_err(|source| LedgerError::Block {
                hash,
                source: Box::new(source),
            })?;
        self.tip = tip;
        self.tip_header = block.header.clone();
        Ok(exec)
    }

    /// Stores a block off the main chain (a fork), without applying it.
    pub fn store_block(&mut self, block: &Block) -> Result<(), LedgerError> {
        if !self.store.has_block(&block.hash())? {
            self.write(&[Op::PutBlock(block)])?;
        }
        Ok(())
    }

    /// Undoes the tip block; it stays stored, off the main chain. Returns it.
    pub fn undo_tip(&mut self) -> Result<Block, LedgerError> {
        if self.tip.height == 0 {
            return Err(LedgerError::UndoGenesis);
        }
        let hash = self.tip.hash;
        let block = self
            .store
            .block(&hash)?
            .ok_or(LedgerError::MissingBlock { hash })?;
        let undo = self
            .store
            .undo(&hash)?
            .ok_or_else(|| corrupt(format!("no undo record for tip {hash}")))?;
        let parent = self
            .store
            .header(&block.header.parent)?
            .ok_or(LedgerError::MissingBlock {
                hash: block.header.parent,
            })?;
        let tip = Tip {
            hash: block.header.parent,
            height: self.tip.height - 1,
        };
        let mut ops: Vec<Op<'_>> = undo
            .prior
            .iter()
            .map(|(k, prior)| match prior {
                Some(a) => Op::PutAccount(*k, *a),
                None => Op::DeleteAccount(*k),
            })
            .collect();
        ops.push(Op::RemoveHeight(self.tip.height));
        ops.push(Op::DeleteUndo(hash));
        ops.push(Op::SetTip(tip));
        self.write(&ops)?;
        self.state.undo(&undo);
        self.tip = tip;
        self.tip_header = parent;
        Ok(block)
    }

    /// Moves the tip along `plan` (from the fork tree): undoes blocks down to the
    /// common ancestor, then imports the other branch, whose blocks must be stored.
    /// If a block of the new branch fails, the old branch is restored and the error
    /// returned.
    pub fn reorg(&mut self, plan: &ReorgPlan) -> Result<ReorgOutcome, LedgerError> {
        let from = plan.undo.first().copied().unwrap_or(plan.ancestor);
        if from != self.tip.hash {
            return Err(LedgerError::PlanNotFromTip {
                from,
                tip: self.tip.hash,
            });
        }
        let mut out = ReorgOutcome::default();
        for expected in &plan.undo {
            if self.tip.hash != *expected {
                return Err(LedgerError::PlanNotFromTip {
                    from: *expected,
                    tip: self.tip.hash,
                });
            }
            out.undone.push(self.undo_tip()?);
        }
        if self.tip.hash != plan.ancestor {
            return Err(LedgerError::PlanNotFromTip {
                from: plan.ancestor,
                tip: self.tip.hash,
            });
        }
        for hash in &plan.apply {
            let next = self
                .store
                .block(hash)?
                .ok_or(LedgerError::MissingBlock { hash: *hash });
            match next.and_then(|block| self.import(&block).map(|_| block)) {
                Ok(block) => out.applied.push(block),
                Err(e) => {
                    self.restore(&out).map_err(|rollback| {
                        corrupt(format!(
                            "reorg failed ({e}) and so did restoring the old branch ({rollback})"
                        ))
                    })?;
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// The state after `plan.apply`'s last block (or after `plan.ancestor`), worked
    /// out on a copy: the tip's state with `plan.undo` undone and the stored
    /// blocks of `plan.apply` executed. Nothing stored changes.
    pub fn state_at(&self, plan: &ReorgPlan) -> Result<State, LedgerError> {
        let from = plan.undo.first().copied().unwrap_or(plan.ancestor);
        if from != self.tip.hash {
            return Err(LedgerError::PlanNotFromTip {
                from,
                tip: self.tip.hash,
            });
        }
        let mut state = self.state.clone();
        for hash in &plan.undo {
            let undo = self
                .store
                .undo(hash)?
                .ok_or_else(|| corrupt(format!("no undo record for main-chain block {hash}")))?;
            state.undo(&undo);
        }
        for hash in &plan.apply {
            let block = self
                .store
                .block(hash)?
                .ok_or(LedgerError::MissingBlock { hash: *hash })?;
            state
                .apply_block(&block, &self.rules)
                .map_err(|source| LedgerError::Block {
                    hash: *hash,
                    source: Box::new(source),
                })?;
        }
        Ok(state)
    }

    /// Puts back the branch a failed reorg undid.
    fn restore(&mut self, partial: &ReorgOutcome) -> Result<(), LedgerError> {
        for _ in &partial.applied {
            self.undo_tip()?;
        }
        for b in partial.undone.iter().rev() {
            self.import(b)?;
        }
        Ok(())
    }
}
