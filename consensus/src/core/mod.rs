//! What every host does with blocks, whatever the engine: validate a header with
//! the engine, keep the block, put it in the fork tree, hold blocks whose parent
//! is missing in a bounded orphan pool, and move the ledger to the fork-choice
//! winner, undoing and applying blocks (a reorg) and keeping the mempool in step.
//! A block that fails to apply is marked invalid with its descendants and the
//! next best head is tried. The simulator and the real node share this code.

use crate::engine::{Consensus, ConsensusError};
use generals_chain::forktree::ForkTreeError;
use generals_chain::ledger::{LedgerError, ReorgOutcome};
use generals_chain::store::Tip;
use generals_chain::{
    Block, BlockStore, ForkTree, Genesis, Hash, Header, Ledger, Mempool, MempoolConfig,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

mod manual;
pub use manual::{ManualError, MAX_MANUAL};

/// The most transactions a node puts in a block it builds, and their bytes at
/// most (the chain's own limits are higher: `MAX_BLOCK_TXS`, `MAX_BLOCK_BYTES`).
pub const BUILD_MAX_TXS: usize = 4_000;
pub const BUILD_MAX_BYTES: usize = 2 << 20;

/// Most orphans held at once; the oldest goes first.
pub const MAX_ORPHANS: usize = 1_024;
/// Orphans further than this above the tip are refused.
pub const MAX_ORPHAN_LEAD: u64 = 4_096;

/// Why a block was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("block {hash} is invalid: {source}")]
    Invalid {
        hash: Hash,
        #[source]
        source: ConsensusError,
    },
    #[error("block {hash} at height {height} is too far above the tip ({tip}) to hold")]
    TooFarAhead { hash: Hash, height: u64, tip: u64 },
    #[error(
        "block {hash} at height {height} contradicts the checkpoint: this node \
         was started with block {want} at that height"
    )]
    Checkpoint { hash: Hash, height: u64, want: Hash },
    #[error(transparent)]
    Tree(#[from] ForkTreeError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// How the main chain moved.
#[derive(Debug, Clone)]
pub struct TipChange {
    pub from: Tip,
    pub to: Tip,
    pub undone: Vec<Block>,
    pub applied: Vec<Block>,
}

/// What adding a block did.
#[derive(Debug, Clone, Default)]
pub struct Added {
    /// The block was already known.
    pub duplicate: bool,
    /// The block waits for this missing parent.
    pub missing_parent: Option<Hash>,
    /// Blocks taken into the fork tree (this one and orphans it connected).
    pub accepted: Vec<Hash>,
    /// Blocks refused on the way (orphans that failed validation, invalid branches).
    pub rejected: Vec<(Hash, String)>,
    /// The main chain's move, if it moved.
    pub tip_change: Option<TipChange>,
}

/// A node's chain: ledger, fork tree, mempool and orphans.
#[derive(Debug)]
pub struct NodeCore<S: BlockStore> {
    ledger: Ledger<S>,
    tree: ForkTree,
    mempool: Mempool,
    orphans: BTreeMap<Hash, Vec<Block>>,
    orphan_order: VecDeque<(Hash, Hash)>,
    /// Each orphan's parent, by the orphan's hash.
    orphan_parent: HashMap<Hash, Hash>,
    /// The newest finalized block: no branch that leaves it out is followed.
    finalized: Option<Hash>,
    /// The latest justified checkpoint, for engines that have one.
    justified: Option<Hash>,
    /// Fork choice follows the newest final block only (BFT: only decided
    /// blocks become the tip; proposals are kept but not followed).
    follow_final: bool,
    /// A block the operator trusts (weak subjectivity): no other block at its
    /// height is taken, and it is final once it arrives.
    checkpoint: Option<Tip>,
    /// Blocks an operator marked invalid (`invalidate`), each with its
    /// descendants; and blocks that failed to apply, marked for good.
    manual: BTreeSet<Hash>,
    failed: HashSet<Hash>,
}

impl<S: BlockStore> NodeCore<S> {
    /// Opens the chain in `store`, weighing blocks with `weight` (the engine's).
    pub fn open(
        store: S,
        genesis: &Genesis,
        weight: impl Fn(&Header) -> u128 + Send + Sync + 'static,
        mempool: MempoolConfig,
    ) -> Result<NodeCore<S>, LedgerError> {
        let (ledger, _) = Ledger::open(store, genesis)?;
        let genesis_block = genesis.block()?;
        let mut tree = ForkTree::new(&genesis_block.header, weight);
        for height in 1..=ledger.tip().height {
            let hash = ledger
                .store()
                .hash_at(height)?
                .ok_or(LedgerError::Corrupt {
                    reason: format!("no block indexed at height {height}"),
                })?;
            let header = ledger
                .store()
                .header(&hash)?
                .ok_or(LedgerError::MissingBlock { hash })?;
            tree.insert(&header).map_err(|e| LedgerError::Corrupt {
                reason: e.to_string(),
            })?;
        }
        // Under BFT every block of the stored main chain was decided.
        let follow_final = matches!(
            genesis.consensus,
            generals_chain::ConsensusSpec::Bft(_) | generals_chain::ConsensusSpec::Pbft(_)
        );
        let finalized = follow_final.then(|| ledger.tip().hash);
        Ok(NodeCore {
            mempool: Mempool::new(&genesis.chain_id, mempool),
            ledger,
            tree,
            orphans: BTreeMap::new(),
            orphan_order: VecDeque::new(),
            orphan_parent: HashMap::new(),
            finalized,
            justified: None,
            follow_final,
            checkpoint: None,
            manual: BTreeSet::new(),
            failed: HashSet::new(),
        })
    }

    /// Sets a weak-subjectivity checkpoint: block `tip.hash` at `tip.height`.
    /// Blocks at that height with another hash are refused from now on, and
    /// no block is taken as final or justified unless it lies on the
    /// checkpoint's branch; the checkpoint itself is final once it is here.
    /// Refused if the stored main chain holds another block at that height.
    pub fn set_checkpoint(&mut self, tip: Tip) -> Result<(), AddError> {
        if let Some(node) = self
            .ledger
            .store()
            .hash_at(tip.height)
            .map_err(LedgerError::from)?
        {
            if node != tip.hash {
                return Err(AddError::Checkpoint {
                    hash: node,
                    height: tip.height,
                    want: tip.hash,
                });
            }
        }
        self.checkpoint = Some(tip);
        if self.tree.contains(&tip.hash) {
            self.mark_final(tip.hash);
        }
        Ok(())
    }

    pub fn checkpoint(&self) -> Option<Tip> {
        self.checkpoint
    }

    /// Whether `hash` lies on the checkpoint's branch (an ancestor or a
    /// descendant of it, or itself); true without a checkpoint. Before the
    /// checkpoint block is here, nothing can be placed, so nothing is.
    fn on_checkpoint_branch(&self, hash: &Hash) -> bool {
        let Some(cp) = self.checkpoint else {
            return true;
        };
        if !self.tree.contains(&cp.hash) {
            return false;
        }
        matches!(
            self.tree.common_ancestor(&cp.hash, hash),
            Ok(a) if a == cp.hash || a == *hash
        )
    }

    pub fn ledger(&self) -> &Ledger<S> {
        &self.ledger
    }

    pub fn tree(&self) -> &ForkTree {
        &self.tree
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    pub fn mempool_mut(&mut self) -> &mut Mempool {
        &mut self.mempool
    }

    pub fn tip(&self) -> Tip {
        self.ledger.tip()
    }

    pub fn orphan_count(&self) -> usize {
        self.orphan_order.len()
    }

    /// Whether the block is known (in the tree or waiting as an orphan).
    pub fn knows(&self, hash: &Hash) -> bool {
        self.tree.contains(hash) || self.orphan_parent.contains_key(hash)
    }

    /// The block to ask peers for so that `hash` can connect: `hash` itself if it
    /// is unknown, the oldest missing ancestor if it waits as an orphan, nothing if
    /// it is in the tree.
    pub fn missing_ancestor(&self, hash: &Hash) -> Option<Hash> {
        let mut h = *hash;
        while let Some(parent) = self.orphan_parent.get(&h) {
            h = *parent;
        }
        (!self.tree.contains(&h)).then_some(h)
    }

    /// Marks `hash` final (an engine said so). Heads that do not descend from it
    /// are never followed again; a finalized block is never reverted.
    pub fn finalize(&mut self, hash: Hash) -> Result<Option<TipChange>, AddError> {
        if !self.mark_final(hash) {
            return Ok(None);
        }
        let mut rejected = Vec::new();
        self.follow_best(&mut rejected)
    }

    /// Records `hash` as the newest final block if it is above the current one
    /// and descends from it (a final block is never left behind, even when
    /// more than a third of the validators sign a conflicting decision).
    fn mark_final(&mut self, hash: Hash) -> bool {
        let Some(node) = self.tree.get(&hash) else {
            return false;
        };
        if !self.on_checkpoint_branch(&hash) {
            return false;
        }
        if let Some(old) = self.finalized.and_then(|f| self.tree.get(&f)) {
            if old.height >= node.height
                || self.tree.common_ancestor(&old.hash, &hash).ok() != Some(old.hash)
            {
                return false;
            }
        }
        self.finalized = Some(hash);
        self.exclude_conflicting();
        true
    }

    pub fn finalized(&self) -> Option<Hash> {
        self.finalized
    }

    /// Marks `hash` as the latest justified checkpoint (an engine said so): fork
    /// choice then follows the best head that descends from it.
    pub fn justify(&mut self, hash: Hash) -> Result<Option<TipChange>, AddError> {
        if !self.tree.contains(&hash)
            || self.justified == Some(hash)
            || !self.on_checkpoint_branch(&hash)
        {
            return Ok(None);
        }
        self.justified = Some(hash);
        let mut rejected = Vec::new();
        self.follow_best(&mut rejected)
    }

    pub fn justified(&self) -> Option<Hash> {
        self.justified
    }

    /// The head fork choice follows: the best under the justified checkpoint, if
    /// one is set and has a valid branch; otherwise the best of all.
    fn preferred(&self) -> Hash {
        if self.follow_final {
            return self.finalized.unwrap_or(self.tree.best().hash);
        }
        self.justified
            .and_then(|j| self.tree.best_under(&j))
            .map_or(self.tree.best().hash, |n| n.hash)
    }

    /// Marks every head that leaves the finalized block out as not to be followed.
    fn exclude_conflicting(&mut self) {
        let Some(f) = self.finalized else { return };
        let heads: Vec<Hash> = self.tree.heads().iter().map(|n| n.hash).collect();
        for h in heads {
            if self.tree.common_ancestor(&h, &f).ok() != Some(f) {
                // The first block of its branch after the common ancestor.
                if let Ok(plan) = self.tree.reorg_plan(&f, &h) {
                    if let Some(first) = plan.apply.first() {
                        self.tree.mark_invalid(first);
                    }
                }
            }
        }
    }

    /// Offers a transaction to the mempool, checked against the tip's state.
    pub fn submit(
        &mut self,
        tx: generals_chain::Transaction,
    ) -> Result<generals_chain::mempool::Admitted, generals_chain::mempool::MempoolError> {
        self.mempool.insert(tx, self.ledger.state())
    }

    /// The nonce a sender's next transaction should carry, counting those waiting.
    pub fn next_nonce(&self, sender: &generals_chain::PublicKey) -> u64 {
        self.mempool.next_nonce(sender, self.ledger.state())
    }

    /// A block on `parent` (the tip, or any other stored block: its state is
    /// worked out on a copy) from the mempool (the transactions `include`
    /// admits), with its roots filled and its seal empty.
    #[allow(clippy::too_many_arguments)]
    pub fn build_on(
        &self,
        parent: Hash,
        height: u64,
        timestamp_ms: u64,
        producer: generals_chain::PublicKey,
        consensus: Vec<u8>,
        evidence: Vec<generals_chain::Evidence>,
        include: &dyn Fn(&generals_chain::Transaction) -> bool,
    ) -> Option<Block> {
        let ledger = &self.ledger;
        let side;
        let state = if ledger.tip().hash == parent {
            ledger.state()
        } else {
            let plan = self.tree.reorg_plan(&ledger.tip().hash, &parent).ok()?;
            side = ledger.state_at(&plan).ok()?;
            &side
        };
        let candidates = self
            .mempool
            .select(state, BUILD_MAX_TXS, BUILD_MAX_BYTES)
            .into_iter()
            .filter(|t| include(t));
        let template = generals_chain::BlockTemplate {
            parent,
            height,
            timestamp_ms,
            producer,
            consensus,
            max_txs: BUILD_MAX_TXS,
        };
        generals_chain::build_block(state, ledger.rules(), template, candidates, evidence)
            .ok()
            .map(|b| b.block)
    }

    /// The stored block `hash`, if any.
    pub fn block(&self, hash: &Hash) -> Option<Block> {
        self.ledger.store().block(hash).ok().flatten()
    }

    /// Adds a block from anywhere (a peer, or this node's own production).
    pub fn add_block(
        &mut self,
        block: Block,
        engine: &dyn Consensus,
        now_ms: u64,
    ) -> Result<Added, AddError> {
        let hash = block.hash();
        let mut added = Added::default();
        if self.knows(&hash) {
            added.duplicate = true;
            return Ok(added);
        }
        if !self.tree.contains(&block.header.parent) {
            let tip = self.tip().height;
            if block.height() > tip.saturating_add(MAX_ORPHAN_LEAD) {
                return Err(AddError::TooFarAhead {
                    hash,
                    height: block.height(),
                    tip,
                });
            }
            engine
                .precheck(&block.header)
                .map_err(|source| AddError::Invalid { hash, source })?;
            let parent = block.header.parent;
            self.hold_orphan(block);
            added.missing_parent = self.missing_ancestor(&parent);
            return Ok(added);
        }
        let mut queue = vec![block];
        let mut first = true;
        let mut certified = Vec::new();
        while let Some(b) = queue.pop() {
            let h = b.hash();
            match self.accept(&b, engine, now_ms) {
                Ok(()) => {
                    added.accepted.push(h);
                    certified.extend(engine.certified(&b.header));
                    if let Some(children) = self.orphans.remove(&h) {
                        self.orphan_order.retain(|(p, _)| *p != h);
                        for c in &children {
                            self.orphan_parent.remove(&c.hash());
                        }
                        queue.extend(children);
                    }
                }
                Err(e) if first => return Err(e),
                Err(e) => added.rejected.push((h, e.to_string())),
            }
            first = false;
        }
        // Children carry their parents' commit certificates: the highest
        // certified block is final (blocks come lowest first).
        certified.sort_by_key(|h| self.tree.get(h).map(|n| n.height));
        for h in certified {
            self.mark_final(h);
        }
        if self.finalized.is_some() {
            self.exclude_conflicting();
        }
        added.tip_change = self.follow_best(&mut added.rejected)?;
        Ok(added)
    }

    fn hold_orphan(&mut self, block: Block) {
        if self.orphan_order.len() >= MAX_ORPHANS {
            if let Some((parent, old)) = self.orphan_order.pop_front() {
                self.orphan_parent.remove(&old);
                if let Some(v) = self.orphans.get_mut(&parent) {
                    v.retain(|b| b.hash() != old);
                    if v.is_empty() {
                        self.orphans.remove(&parent);
                    }
                }
            }
        }
        let parent = block.header.parent;
        self.orphan_order.push_back((parent, block.hash()));
        self.orphan_parent.insert(block.hash(), parent);
        self.orphans.entry(parent).or_default().push(block);
    }

    fn accept(
        &mut self,
        block: &Block,
        engine: &dyn Consensus,
        now_ms: u64,
    ) -> Result<(), AddError> {
        if let Some(cp) = self.checkpoint {
            let hash = block.hash();
            if block.height() == cp.height && hash != cp.hash {
                return Err(AddError::Checkpoint {
                    hash,
                    height: cp.height,
                    want: cp.hash,
                });
            }
        }
        engine
            .validate(&block.header, self.ledger.store(), now_ms)
            .map_err(|source| AddError::Invalid {
                hash: block.hash(),
                source,
            })?;
        self.ledger.store_block(block)?;
        self.tree.insert(&block.header)?;
        // Invalidated by hand before a restart, and heard of again.
        if self.manual.contains(&block.hash()) {
            self.tree.mark_invalid(&block.hash());
        }
        if self.checkpoint.is_some_and(|cp| cp.hash == block.hash()) {
            self.mark_final(block.hash());
        }
        Ok(())
    }

    /// Moves the ledger to the fork tree's best valid head.
    fn follow_best(
        &mut self,
        rejected: &mut Vec<(Hash, String)>,
    ) -> Result<Option<TipChange>, AddError> {
        let from = self.tip();
        let mut total = ReorgOutcome::default();
        loop {
            let best = self.preferred();
            let tip = self.tip().hash;
            if best == tip {
                break;
            }
            let plan = self.tree.reorg_plan(&tip, &best)?;
            match self.ledger.reorg(&plan) {
                Ok(out) => {
                    total.undone.extend(out.undone);
                    total.applied.extend(out.applied);
                }
                Err(LedgerError::Block { hash, source }) => {
                    rejected.push((hash, source.to_string()));
                    self.tree.mark_invalid(&hash);
                    // Kept to mark again after a `reconsider`; bounded (a
                    // block past the bound keeps its mark in the tree).
                    if self.failed.len() < MAX_ORPHANS {
                        self.failed.insert(hash);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        if total.undone.is_empty() && total.applied.is_empty() {
            return Ok(None);
        }
        // The mempool follows: undone transactions come back, applied ones go.
        let state = self.ledger.state();
        let undone_txs = total
            .undone
            .iter()
            .rev()
            .flat_map(|b| b.transactions.iter().cloned());
        self.mempool.readd(undone_txs, state);
        for b in &total.applied {
            self.mempool.remove_for_block(b, state);
        }
        Ok(Some(TipChange {
            from,
            to: self.tip(),
            undone: total.undone,
            applied: total.applied,
        }))
    }
}
