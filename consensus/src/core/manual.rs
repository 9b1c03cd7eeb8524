//! An operator's hand on fork choice, as Bitcoin Core's `invalidateblock`
//! and `reconsiderblock`: mark a block and its descendants invalid on this
//! node and move to the best other branch; undo it. Neither passes a
//! finalized block.

use super::{AddError, NodeCore, TipChange};
use generals_chain::{BlockStore, Hash};

/// Why `invalidate` or `reconsider` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("no block {0} is known to this node")]
    Unknown(Hash),
    #[error("the genesis block cannot be invalidated")]
    Genesis,
    #[error(
        "block {hash} at height {height} is final (this node finalized up to height \
         {finalized}); a finalized block is never reverted"
    )]
    Final {
        hash: Hash,
        height: u64,
        finalized: u64,
    },
    #[error("block {hash} leaves out the finalized block at height {finalized}; it stays invalid")]
    Conflicts { hash: Hash, finalized: u64 },
    #[error("block {0} was not invalidated by hand (nor any block on its branch)")]
    NotInvalidated(Hash),
    #[error("{MAX_MANUAL} blocks are invalidated by hand already; reconsider some first")]
    TooMany,
    #[error(transparent)]
    Chain(#[from] AddError),
}

/// The most blocks an operator may hold invalid at once.
pub const MAX_MANUAL: usize = 1_024;

impl<S: BlockStore> NodeCore<S> {
    /// The newest finalized block's height, if any.
    fn final_height(&self) -> Option<u64> {
        self.finalized
            .and_then(|f| self.tree.get(&f))
            .map(|n| n.height)
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn at_or_below(&self, a: &Hash, b: &Hash) -> bool {
        self.tree.common_ancestor(a, b).ok() == Some(*a)
    }

    /// Marks `hash` and its descendants invalid on this node and moves the
    /// main chain to the best other branch. Refused for the genesis block,
    /// a finalized block or one of its ancestors.
    pub fn invalidate(&mut self, hash: Hash) -> Result<Option<TipChange>, ManualError> {
        let node = self.tree.get(&hash).ok_or(ManualError::Unknown(hash))?;
        let height = node.height;
        if hash == self.tree.genesis() {
            return Err(ManualError::Genesis);
        }
        if let (Some(f), Some(finalized)) = (self.finalized, self.final_height()) {
            if self.at_or_below(&hash, &f) {
                return Err(ManualError::Final {
                    hash,
                    height,
                    finalized,
                });
            }
        }
        if !self.manual.contains(&hash) && self.manual.len() >= MAX_MANUAL {
            return Err(ManualError::TooMany);
        }
        self.manual.insert(hash);
        self.tree.mark_invalid(&hash);
        let mut rejected = Vec::new();
        Ok(self.follow_best(&mut rejected)?)
    }

    /// Undoes `invalidate` for `hash`: takes the mark off every block
    /// invalidated by hand on its branch (it, its ancestors, its
    /// descendants), marks again what is invalid for another reason, and
    /// moves the main chain to the best branch.
    pub fn reconsider(&mut self, hash: Hash) -> Result<Option<TipChange>, ManualError> {
        if !self.tree.contains(&hash) {
            // Held since before a restart, and not here again yet.
            return match self.manual.remove(&hash) {
                true => Ok(None),
                false => Err(ManualError::Unknown(hash)),
            };
        }
        if let (Some(f), Some(finalized)) = (self.finalized, self.final_height()) {
            if !self.at_or_below(&hash, &f) && !self.at_or_below(&f, &hash) {
                return Err(ManualError::Conflicts { hash, finalized });
            }
        }
        let roots: Vec<Hash> = self
            .manual
            .iter()
            .copied()
            .filter(|r| self.at_or_below(r, &hash) || self.at_or_below(&hash, r))
            .collect();
        if roots.is_empty() {
            return Err(ManualError::NotInvalidated(hash));
        }
        for r in &roots {
            self.manual.remove(r);
            self.tree.clear_invalid(r);
        }
        // What stays invalid: other blocks invalidated by hand, blocks that
        // failed to apply, branches that leave out the finalized block.
        for h in self.manual.iter().chain(self.failed.iter()) {
            self.tree.mark_invalid(h);
        }
        self.exclude_conflicting();
        let mut rejected = Vec::new();
        Ok(self.follow_best(&mut rejected)?)
    }

    /// Holds `hash` invalid by hand again after a restart: at once if the
    /// block is here, else as soon as it arrives.
    pub fn hold_invalid(&mut self, hash: Hash) -> Result<Option<TipChange>, ManualError> {
        if self.tree.contains(&hash) {
            return self.invalidate(hash);
        }
        if self.manual.len() >= MAX_MANUAL {
            return Err(ManualError::TooMany);
        }
        self.manual.insert(hash);
        Ok(None)
    }

    /// The blocks invalidated by hand.
    pub fn invalidated(&self) -> impl Iterator<Item = &Hash> {
        self.manual.iter()
    }
}
