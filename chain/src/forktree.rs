//! The fork tree: every known block, its parent, and its cumulative weight from a
//! weight function the engine supplies (work for proof of work, in-turn weight for
//! proof of authority...). It answers the fork-choice questions: the heads, the
//! best head, the common ancestor of two blocks, and the plan of a reorg.

use crate::block::Header;
use crate::hash::Hash;
use std::collections::{HashMap, HashSet};

/// The weight of one block, as the engine counts it.
pub type WeightFn = Box<dyn Fn(&Header) -> u128 + Send + Sync>;

/// One block in the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub hash: Hash,
    pub parent: Hash,
    pub height: u64,
    pub weight: u128,
    /// Weight of the chain from genesis to this block, this block included.
    pub cumulative: u128,
    /// Arrival order: among equally heavy heads the first seen wins, as in Bitcoin.
    pub seq: u64,
}

/// Blocks to undo (tip first) and to apply (oldest first) to move from one head
/// to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReorgPlan {
    pub ancestor: Hash,
    pub undo: Vec<Hash>,
    pub apply: Vec<Hash>,
}

impl ReorgPlan {
    /// Blocks undone: the depth of the reorg.
    pub fn depth(&self) -> usize {
        self.undo.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForkTreeError {
    #[error("block {hash} is already known")]
    Known { hash: Hash },
    #[error("block {hash}: parent {parent} is unknown")]
    UnknownParent { hash: Hash, parent: Hash },
    #[error("block {hash} claims height {got}, its parent is at {parent_height}")]
    BadHeight {
        hash: Hash,
        got: u64,
        parent_height: u64,
    },
    #[error("block {hash} is unknown")]
    Unknown { hash: Hash },
}

/// All known blocks from one genesis.
pub struct ForkTree {
    weight: WeightFn,
    nodes: HashMap<Hash, Node>,
    children: HashMap<Hash, Vec<Hash>>,
    heads: HashSet<Hash>,
    invalid: HashSet<Hash>,
    genesis: Hash,
    best: Hash,
    next_seq: u64,
}

impl std::fmt::Debug for ForkTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForkTree")
            .field("blocks", &self.nodes.len())
            .field("heads", &self.heads.len())
            .finish()
    }
}

impl ForkTree {
    /// A tree holding the genesis block, weighing blocks with `weight`.
    pub fn new(
        genesis: &Header,
        weight: impl Fn(&Header) -> u128 + Send + Sync + 'static,
    ) -> ForkTree {
        let hash = genesis.hash();
        let w = weight(genesis);
        let mut t = ForkTree {
            weight: Box::new(weight),
            nodes: HashMap::new(),
            children: HashMap::new(),
            heads: HashSet::new(),
            invalid: HashSet::new(),
            genesis: hash,
            best: hash,
            next_seq: 1,
        };
        t.nodes.insert(
            hash,
            Node {
                hash,
                parent: genesis.parent,
                height: genesis.height,
                weight: w,
                cumulative: w,
                seq: 0,
            },
        );
        t.heads.insert(hash);
        t
    }

    pub fn genesis(&self) -> Hash {
        self.genesis
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.nodes.contains_key(hash)
    }

    pub fn get(&self, hash: &Hash) -> Option<&Node> {
        self.nodes.get(hash)
    }

    /// Adds a block whose parent is known.
    pub fn insert(&mut self, header: &Header) -> Result<&Node, ForkTreeError> {
        let hash = header.hash();
        if self.nodes.contains_key(&hash) {
            return Err(ForkTreeError::Known { hash });
        }
        let parent = self
            .nodes
            .get(&header.parent)
            .ok_or(ForkTreeError::UnknownParent {
                hash,
                parent: header.parent,
            })?;
        if Some(header.height) != parent.height.checked_add(1) {
            return Err(ForkTreeError::BadHeight {
                hash,
                got: header.height,
                parent_height: parent.height,
            });
        }
        let weight = (self.weight)(header);
        let node = Node {
            hash,
            parent: header.parent,
            height: header.height,
            weight,
            cumulative: parent.cumulative.saturating_add(weight),
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.heads.remove(&header.parent);
        self.heads.insert(hash);
        self.children.entry(header.parent).or_default().push(hash);
        if self.invalid.contains(&header.parent) {
            self.invalid.insert(hash);
        } else if Self::better(&node, &self.nodes[&self.best]) {
            self.best = hash;
        }
        Ok(self.nodes.entry(hash).or_insert(node))
    }

    /// Fork choice: more cumulative weight wins; at equal weight a descendant
    /// beats its ancestor (a zero-weight block still moves the tip), and among
    /// rival branches the first seen wins.
    fn better(a: &Node, b: &Node) -> bool {
        (a.cumulative, a.height, std::cmp::Reverse(a.seq))
            > (b.cumulative, b.height, std::cmp::Reverse(b.seq))
    }

    /// Marks a block that failed to apply, and all its descendants, invalid: they
    /// are never chosen as best. The genesis block cannot be marked.
    pub fn mark_invalid(&mut self, hash: &Hash) {
        if *hash == self.genesis {
            return;
        }
        let mut stack = vec![*hash];
        while let Some(h) = stack.pop() {
            if self.invalid.insert(h) {
                stack.extend(self.children.get(&h).into_iter().flatten().copied());
            }
        }
        if self.invalid.contains(&self.best) {
            let mut best = &self.nodes[&self.genesis];
            for n in self.nodes.values() {
                if !self.invalid.contains(&n.hash) && Self::better(n, best) {
                    best = n;
                }
            }
            self.best = best.hash;
        }
    }

    /// Takes the mark off a block and all its descendants (an operator's
    /// `reconsider`); the caller marks again whatever is invalid for another
    /// reason.
    pub fn clear_invalid(&mut self, hash: &Hash) {
        let mut stack = vec![*hash];
        while let Some(h) = stack.pop() {
            if self.invalid.remove(&h) {
                stack.extend(self.children.get(&h).into_iter().flatten().copied());
            }
        }
        let mut best = &self.nodes[&self.genesis];
        for n in self.nodes.values() {
            if !self.invalid.contains(&n.hash) && Self::better(n, best) {
                best = n;
            }
        }
        self.best = best.hash;
    }

    pub fn is_invalid(&self, hash: &Hash) -> bool {
        self.invalid.contains(hash)
    }

    /// Every known block, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// Blocks with no children.
    pub fn heads(&self) -> Vec<&Node> {
        let mut v: Vec<&Node> = self.heads.iter().map(|h| &self.nodes[h]).collect();
        v.sort_by_key(|n| n.seq);
        v
    }

    /// The valid block of greatest cumulative weight; the first seen among equals.
    pub fn best(&self) -> &Node {
        &self.nodes[&self.best]
    }

    /// The best valid block among `root` and its descendants (as `best` ranks
    /// them), or `None` if `root` is unknown or invalid.
    pub fn best_under(&self, root: &Hash) -> Option<&Node> {
        if self.invalid.contains(root) {
            return None;
        }
        let mut best = self.nodes.get(root)?;
        let mut stack = vec![*root];
        while let Some(h) = stack.pop() {
            for c in self.children.get(&h).into_iter().flatten() {
                if self.invalid.contains(c) {
                    continue;
                }
                let n = &self.nodes[c];
                if Self::better(n, best) {
                    best = n;
                }
                stack.push(*c);
            }
        }
        Some(best)
    }

    /// The ancestor of `hash` at `height` (itself at its own height).
    pub fn ancestor_at(&self, hash: &Hash, height: u64) -> Option<&Node> {
        let mut n = self.nodes.get(hash)?;
        if height > n.height {
            return None;
        }
        while n.height > height {
            n = self.nodes.get(&n.parent)?;
        }
        Some(n)
    }

    /// The newest block that both `a` and `b` descend from (or are).
    pub fn common_ancestor(&self, a: &Hash, b: &Hash) -> Result<Hash, ForkTreeError> {
        let get = |h: &Hash| self.nodes.get(h).ok_or(ForkTreeError::Unknown { hash: *h });
        let (mut x, mut y) = (get(a)?, get(b)?);
        while x.height > y.height {
            x = get(&x.parent)?;
        }
        while y.height > x.height {
            y = get(&y.parent)?;
        }
        while x.hash != y.hash {
            x = get(&x.parent)?;
            y = get(&y.parent)?;
        }
        Ok(x.hash)
    }

    /// The plan to move the chain's tip from `from` to `to`.
    pub fn reorg_plan(&self, from: &Hash, to: &Hash) -> Result<ReorgPlan, ForkTreeError> {
        let ancestor = self.common_ancestor(from, to)?;
        let path = |mut h: Hash| {
            let mut v = Vec::new();
            while h != ancestor {
                v.push(h);
                h = self.nodes[&h].parent;
            }
            v
        };
        let undo = path(*from);
        let mut apply = path(*to);
        apply.reverse();
        Ok(ReorgPlan {
            ancestor,
            undo,
            apply,
        })
    }
}
