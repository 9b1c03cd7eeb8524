//! An in-memory store, for the simulator and tests. Writes are atomic because they
//! happen under `&mut self` with nothing to fail halfway.

use super::{BlockStore, LedgerMeta, Op, StoreError, Tip};
use crate::block::{Block, Header};
use crate::crypto::PublicKey;
use crate::hash::Hash;
use crate::state::{Account, Undo};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    meta: Option<LedgerMeta>,
    tip: Option<Tip>,
    blocks: HashMap<Hash, Block>,
    heights: BTreeMap<u64, Hash>,
    accounts: BTreeMap<PublicKey, Account>,
    undo: HashMap<Hash, Undo>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl BlockStore for MemoryStore {
    fn meta(&self) -> Result<Option<LedgerMeta>, StoreError> {
        Ok(self.meta.clone())
    }
    fn tip(&self) -> Result<Option<Tip>, StoreError> {
        Ok(self.tip)
    }
    fn block(&self, hash: &Hash) -> Result<Option<Block>, StoreError> {
        Ok(self.blocks.get(hash).cloned())
    }
    fn header(&self, hash: &Hash) -> Result<Option<Header>, StoreError> {
        Ok(self.blocks.get(hash).map(|b| b.header.clone()))
    }
    fn has_block(&self, hash: &Hash) -> Result<bool, StoreError> {
        Ok(self.blocks.contains_key(hash))
    }
    fn hash_at(&self, height: u64) -> Result<Option<Hash>, StoreError> {
        Ok(self.heights.get(&height).copied())
    }
    fn undo(&self, hash: &Hash) -> Result<Option<Undo>, StoreError> {
        Ok(self.undo.get(hash).cloned())
    }
    fn accounts(&self) -> Result<Vec<(PublicKey, Account)>, StoreError> {
        Ok(self.accounts.iter().map(|(k, a)| (*k, *a)).collect())
    }
    fn account_keys(&self) -> Result<Vec<PublicKey>, StoreError> {
        Ok(self.accounts.keys().copied().collect())
    }
    fn write(&mut self, ops: &[Op<'_>]) -> Result<(), StoreError> {
        for op in ops {
            match *op {
                Op::PutBlock(b) => {
                    self.blocks.insert(b.hash(), b.clone());
                }
                Op::SetHeight(h, hash) => {
                    self.heights.insert(h, hash);
                }
                Op::RemoveHeight(h) => {
                    self.heights.remove(&h);
                }
                Op::PutAccount(k, a) => {
                    self.accounts.insert(k, a);
                }
                Op::DeleteAccount(k) => {
                    self.accounts.remove(&k);
                }
                Op::PutUndo(u) => {
                    self.undo.insert(u.block, u.clone());
                }
                Op::DeleteUndo(h) => {
                    self.undo.remove(&h);
                }
                Op::SetTip(t) => self.tip = Some(t),
                Op::SetMeta(m) => self.meta = Some(m.clone()),
            }
        }
        Ok(())
    }
}
