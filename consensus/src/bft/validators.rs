//! Voting power and proposer rotation, as the committed chain sets them: the
//! genesis validators and their stakes, changed by bond and unbond transactions
//! and by evidence (which ejects the offender when slashing is on). The set
//! that votes at height h is the one after block h-1.

use crate::engine::ConsensusError;
use generals_chain::{Block, Hash, PublicKey};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Validator sets kept in memory; older ones are worked out again from the
/// recorded blocks when asked for.
const CACHE: usize = 4_096;

/// The validators of one height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    /// Voting power of each validator.
    pub power: BTreeMap<PublicKey, u64>,
    /// Proposer priorities at round 0 (CometBFT's proposer-selection rule).
    pub priority: BTreeMap<PublicKey, i128>,
}

impl ValidatorSet {
    pub fn new(mut power: BTreeMap<PublicKey, u64>) -> ValidatorSet {
        power.retain(|_, p| *p > 0);
        let priority = power.keys().map(|k| (*k, 0)).collect();
        ValidatorSet { power, priority }
    }

    pub fn total(&self) -> u128 {
        self.power.values().map(|p| *p as u128).sum()
    }

    pub fn power_of(&self, key: &PublicKey) -> u128 {
        self.power.get(key).copied().unwrap_or(0) as u128
    }

    /// More than two thirds of the voting power: the paper's 2f+1 of 3f+1.
    pub fn is_quorum(&self, power: u128) -> bool {
        power * 3 > self.total() * 2
    }

    /// More than a third: the paper's f+1, at least one of them honest.
    pub fn is_over_third(&self, power: u128) -> bool {
        power * 3 > self.total()
    }

    /// The proposer of `round`, by proposer priority (CometBFT's spec,
    /// "proposer selection"): each step every validator gains its power, the
    /// highest proposes (ties to the lower key) and loses the total. Over many
    /// rounds each proposes in proportion to its power, in a fixed rotation.
    pub fn proposer(&self, round: u64) -> Option<PublicKey> {
        let mut p = self.priority.clone();
        let mut chosen = None;
        for _ in 0..=round {
            chosen = self.step(&mut p);
        }
        chosen
    }

    fn step(&self, p: &mut BTreeMap<PublicKey, i128>) -> Option<PublicKey> {
        let total = self.total() as i128;
        for (k, v) in p.iter_mut() {
            *v += self.power.get(k).copied().unwrap_or(0) as i128;
        }
        let best = p
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(k, _)| *k)?;
        if let Some(v) = p.get_mut(&best) {
            *v -= total;
        }
        Some(best)
    }

    /// The set of the next height, after a block decided in `round` that changed
    /// the stakes by `bonds` and ejected `ejected`.
    fn next(&self, round: u64, bonds: &[(PublicKey, i128)], ejected: &[PublicKey]) -> ValidatorSet {
        let mut priority = self.priority.clone();
        for _ in 0..=round {
            self.step(&mut priority);
        }
        let mut power = self.power.clone();
        for (k, d) in bonds {
            let s = power.entry(*k).or_insert(0);
            *s = (*s as i128 + d).clamp(0, u64::MAX as i128) as u64;
        }
        power.retain(|k, s| *s > 0 && !ejected.contains(k));
        priority.retain(|k, _| power.contains_key(k));
        for k in power.keys() {
            priority.entry(*k).or_insert(0);
        }
        // Keep the priorities centred on zero so that joins and leaves do not
        // let them drift.
        let n = priority.len().max(1) as i128;
        let mean = priority.values().sum::<i128>() / n;
        priority.values_mut().for_each(|v| *v -= mean);
        ValidatorSet { power, priority }
    }
}

/// What a block changes in the validator set.
#[derive(Clone, Debug)]
struct Delta {
    parent: Hash,
    round: u64,
    bonds: Vec<(PublicKey, i128)>,
    ejected: Vec<PublicKey>,
}

/// Every block's effect on the validators, and the sets they lead to.
#[derive(Debug)]
pub struct Book {
    genesis: Hash,
    genesis_set: ValidatorSet,
    slashing: bool,
    deltas: Mutex<HashMap<Hash, Delta>>,
    cache: Mutex<HashMap<Hash, ValidatorSet>>,
}

impl Book {
    pub fn new(genesis: Hash, validators: Vec<(PublicKey, u64)>, slashing: bool) -> Book {
        Book {
            genesis,
            genesis_set: ValidatorSet::new(validators.into_iter().collect()),
            slashing,
            deltas: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn set_slashing(&mut self, on: bool) {
        self.slashing = on;
    }

    /// Records what `block` (decided in `round`) does to the validators.
    pub fn record(&self, block: &Block, round: u64) {
        let (bonds, ejected) = crate::engine::stake_changes(block, self.slashing);
        if let Ok(mut d) = self.deltas.lock() {
            d.insert(
                block.hash(),
                Delta {
                    parent: block.header.parent,
                    round,
                    bonds,
                    ejected,
                },
            );
        }
    }

    /// The validators that vote on the child of block `hash`.
    pub fn after(&self, hash: &Hash) -> Result<ValidatorSet, ConsensusError> {
        // Walk back to a known set, then forward (no recursion: chains are long).
        let mut path = Vec::new();
        let mut h = *hash;
        let mut set = loop {
            if h == self.genesis {
                break self.genesis_set.clone();
            }
            if let Some(s) = self.cache.lock().ok().and_then(|c| c.get(&h).cloned()) {
                break s;
            }
            let delta = self
                .deltas
                .lock()
                .ok()
                .and_then(|d| d.get(&h).cloned())
                .ok_or(ConsensusError::UnknownParent { parent: h })?;
            path.push((h, delta.clone()));
            h = delta.parent;
        };
        for (hash, d) in path.into_iter().rev() {
            set = set.next(d.round, &d.bonds, &d.ejected);
            if let Ok(mut c) = self.cache.lock() {
                if c.len() >= CACHE {
                    c.clear();
                }
                c.insert(hash, set.clone());
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_chain::Keypair;

    fn key(i: u32) -> PublicKey {
        Keypair::dev(&format!("v{i}")).public()
    }

    #[test]
    fn proposers_rotate_in_proportion_to_power() {
        let set = ValidatorSet::new([(key(0), 3), (key(1), 2), (key(2), 1)].into());
        let mut count = BTreeMap::<PublicKey, u32>::new();
        for r in 0..60 {
            *count
                .entry(set.proposer(r).expect("a proposer"))
                .or_default() += 1;
        }
        assert_eq!(count[&key(0)], 30);
        assert_eq!(count[&key(1)], 20);
        assert_eq!(count[&key(2)], 10);
        // Equal power: a plain round robin, each once in any n rounds.
        let eq = ValidatorSet::new((0..4).map(|i| (key(i), 10)).collect());
        let firsts: std::collections::BTreeSet<_> = (0..4).filter_map(|r| eq.proposer(r)).collect();
        assert_eq!(firsts.len(), 4);
    }

    #[test]
    fn quorums_need_more_than_two_thirds() {
        let set = ValidatorSet::new((0..4).map(|i| (key(i), 1)).collect());
        assert!(!set.is_quorum(2));
        assert!(set.is_quorum(3));
        assert!(!set.is_over_third(1));
        assert!(set.is_over_third(2));
    }
}
