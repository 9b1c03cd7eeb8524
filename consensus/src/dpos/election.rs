//! What a delegated-proof-of-stake chain knows after each block: the bonded
//! stakes and the votes they cast, the delegates caught double producing,
//! the round's shuffled schedule, who missed or produced which slots, and
//! the last irreversible height. A block's `Delta` (read from its body) moves
//! its parent's snapshot to its own.

use generals_chain::{Hash, PublicKey, Signature};
use std::collections::{BTreeMap, BTreeSet};

/// Slots counted one by one as missed after a gap; a longer gap (a chain
/// stopped for a day) counts only its first slots.
const MAX_COUNTED_GAP: u64 = 100_000;

/// What one block changes.
#[derive(Clone, Debug)]
pub struct Delta {
    pub parent: Hash,
    pub height: u64,
    pub slot: u64,
    pub producer: PublicKey,
    pub reveal: Signature,
    /// Bonds (+) and unbonds (-), by sender.
    pub bonds: Vec<(PublicKey, i128)>,
    /// New votes, by voter (each replaces the voter's earlier vote).
    pub votes: Vec<(PublicKey, Vec<PublicKey>)>,
    /// Producers the block's evidence shows double producing.
    pub offenders: Vec<PublicKey>,
}

/// The chain's election after a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub height: u64,
    pub slot: u64,
    /// The round of `slot`, and its producers in slot order.
    pub round: u64,
    pub schedule: Vec<PublicKey>,
    /// Bonded stake, the weight of each voter's vote.
    pub stakes: BTreeMap<PublicKey, u64>,
    pub votes: BTreeMap<PublicKey, Vec<PublicKey>>,
    /// Delegates caught double producing: never elected again.
    pub removed: BTreeSet<PublicKey>,
    pub missed: BTreeMap<PublicKey, u64>,
    pub produced: BTreeMap<PublicKey, u64>,
    /// The highest block each producer made on this branch.
    pub last_height: BTreeMap<PublicKey, u64>,
    /// The last irreversible height on this branch.
    pub lib: u64,
    /// The reveals mixed so far: the seed of the next round's shuffle.
    pub mix: Hash,
}

impl Snapshot {
    /// Genesis: each validator's stake votes for itself.
    pub fn genesis(genesis: Hash, validators: &[(PublicKey, u64)], producers: u64) -> Snapshot {
        let mut s = Snapshot {
            height: 0,
            slot: 0,
            round: 0,
            schedule: Vec::new(),
            stakes: validators.iter().copied().collect(),
            votes: validators.iter().map(|(k, _)| (*k, vec![*k])).collect(),
            removed: BTreeSet::new(),
            missed: BTreeMap::new(),
            produced: BTreeMap::new(),
            last_height: BTreeMap::new(),
            lib: 0,
            mix: genesis,
        };
        s.schedule = s.shuffled(0, producers);
        s
    }

    /// Each candidate's votes: the stake of every voter naming it.
    pub fn tally(&self) -> BTreeMap<PublicKey, u128> {
        let mut t: BTreeMap<PublicKey, u128> = BTreeMap::new();
        for (voter, delegates) in &self.votes {
            let w = self.stakes.get(voter).copied().unwrap_or(0) as u128;
            for d in delegates {
                *t.entry(*d).or_default() += w;
            }
        }
        t
    }

    /// The top `producers` candidates with votes, not removed: most votes
    /// first, ties by key.
    pub fn elected(&self, producers: u64) -> Vec<PublicKey> {
        let mut c: Vec<(PublicKey, u128)> = self
            .tally()
            .into_iter()
            .filter(|(k, v)| *v > 0 && !self.removed.contains(k))
            .collect();
        c.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        c.into_iter()
            .take(producers as usize)
            .map(|(k, _)| k)
            .collect()
    }

    /// The elected producers in `round`'s order: sorted by a hash of the mix,
    /// the round and the key, so no single producer picks the order (its
    /// reveal is its signature over the round, fixed in advance; it can only
    /// withhold its block).
    pub fn shuffled(&self, round: u64, producers: u64) -> Vec<PublicKey> {
        let mut e = self.elected(producers);
        e.sort_by_key(|k| {
            Hash::digest_parts(&[
                b"generals/dpos-shuffle/v1\0",
                &self.mix.0,
                &round.to_le_bytes(),
                &k.0,
            ])
        });
        e
    }

    /// The producer of `slot` on a block after this one.
    pub fn producer(&self, slot: u64, producers: u64) -> Option<PublicKey> {
        let round = slot / producers.max(1);
        let schedule = if round == self.round {
            self.schedule.clone()
        } else {
            self.shuffled(round, producers)
        };
        let n = schedule.len() as u64;
        (n > 0).then(|| schedule[((slot % producers.max(1)) % n) as usize])
    }

    /// The snapshot after a block with `delta` on this one.
    pub fn apply(&self, d: &Delta, producers: u64) -> Snapshot {
        let r = producers.max(1);
        let mut next = self.clone();
        // Slots between the parent's and this block's: missed.
        let first = self.slot.saturating_add(1);
        let last = d.slot.min(first.saturating_add(MAX_COUNTED_GAP));
        let mut schedules: BTreeMap<u64, Vec<PublicKey>> = BTreeMap::new();
        for slot in first..last {
            let round = slot / r;
            let s = schedules.entry(round).or_insert_with(|| {
                if round == self.round {
                    self.schedule.clone()
                } else {
                    self.shuffled(round, producers)
                }
            });
            if !s.is_empty() {
                let p = s[((slot % r) % s.len() as u64) as usize];
                *next.missed.entry(p).or_default() += 1;
            }
        }
        let round = d.slot / r;
        if round != self.round {
            next.schedule = self.shuffled(round, producers);
            next.round = round;
        }
        next.height = d.height;
        next.slot = d.slot;
        *next.produced.entry(d.producer).or_default() += 1;
        next.last_height.insert(d.producer, d.height);
        next.mix = crate::pos::leader::mix(&self.mix, &d.reveal);
        for (k, change) in &d.bonds {
            let s = next.stakes.entry(*k).or_insert(0);
            *s = (*s as i128 + change).clamp(0, u64::MAX as i128) as u64;
        }
        next.stakes.retain(|_, s| *s > 0);
        for (voter, delegates) in &d.votes {
            next.votes.insert(*voter, delegates.clone());
        }
        next.removed.extend(d.offenders.iter().copied());
        next.lib = next.lib.max(next.irreversible());
        next
    }

    /// The highest height that more than two thirds of this round's
    /// producers have built on (their own last block included), as
    /// BitShares' and EOSIO's last irreversible block.
    pub fn irreversible(&self) -> u64 {
        let producers: BTreeSet<PublicKey> = self.schedule.iter().copied().collect();
        let n = producers.len();
        if n == 0 {
            return 0;
        }
        let mut heights: Vec<u64> = producers
            .iter()
            .map(|p| self.last_height.get(p).copied().unwrap_or(0))
            .collect();
        heights.sort_unstable_by(|a, b| b.cmp(a));
        heights[(2 * n) / 3]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_chain::Keypair;

    fn keys(n: usize) -> Vec<PublicKey> {
        (0..n)
            .map(|i| Keypair::dev(&format!("d{i}")).public())
            .collect()
    }

    fn delta(s: &Snapshot, slot: u64, producer: PublicKey) -> Delta {
        Delta {
            parent: Hash::ZERO,
            height: s.height + 1,
            slot,
            producer,
            reveal: Signature([slot as u8; 64]),
            bonds: Vec::new(),
            votes: Vec::new(),
            offenders: Vec::new(),
        }
    }

    #[test]
    fn every_producer_once_a_round_and_missed_slots_are_counted() {
        let k = keys(4);
        let g = Snapshot::genesis(
            Hash::ZERO,
            &k.iter().map(|k| (*k, 100)).collect::<Vec<_>>(),
            4,
        );
        assert_eq!(g.schedule.len(), 4);
        let mut s = g.clone();
        // Round 1: slots 4..8, each by its scheduled producer but slot 6.
        for slot in [4, 5] {
            let p = s.producer(slot, 4).expect("a producer");
            s = s.apply(&delta(&s, slot, p), 4);
        }
        let skipped = s.schedule[2];
        let before = s.missed.get(&skipped).copied().unwrap_or(0);
        let p = s.producer(7, 4).expect("a producer");
        s = s.apply(&delta(&s, 7, p), 4);
        assert_eq!(
            s.missed.get(&skipped),
            Some(&(before + 1)),
            "slot 6's producer missed"
        );
        assert_eq!(
            s.missed.values().sum::<u64>(),
            3 + 1,
            "round 0's slots 1-3, and slot 6"
        );
        let set: BTreeSet<_> = s.schedule.iter().collect();
        assert_eq!(set.len(), 4, "each producer once a round");
    }

    #[test]
    fn irreversibility_needs_more_than_two_thirds() {
        let k = keys(4);
        let mut s = Snapshot::genesis(
            Hash::ZERO,
            &k.iter().map(|k| (*k, 100)).collect::<Vec<_>>(),
            4,
        );
        // Two of four produce (half): nothing becomes irreversible.
        let mut slot = 4;
        for _ in 0..6 {
            let p = loop {
                let p = s.producer(slot, 4).expect("producer");
                if p == k[0] || p == k[1] {
                    break p;
                }
                slot += 1;
            };
            s = s.apply(&delta(&s, slot, p), 4);
            slot += 1;
        }
        assert_eq!(s.lib, 0);
        // A third producer joins: the lowest of the top three moves.
        let p = loop {
            let p = s.producer(slot, 4).expect("producer");
            if p == k[2] {
                break p;
            }
            slot += 1;
        };
        s = s.apply(&delta(&s, slot, p), 4);
        assert!(s.lib > 0, "three of four built on it");
    }

    #[test]
    fn votes_elect_and_removed_delegates_never_return() {
        let k = keys(5);
        let mut s = Snapshot::genesis(
            Hash::ZERO,
            &k[..4].iter().map(|k| (*k, 100)).collect::<Vec<_>>(),
            4,
        );
        assert!(!s.elected(4).contains(&k[4]));
        let mut d = delta(&s, 1, s.schedule[1 % s.schedule.len()]);
        d.bonds = vec![(k[4], 1_000)];
        d.votes = vec![(k[4], vec![k[4]])];
        d.offenders = vec![k[0]];
        s = s.apply(&d, 4);
        let e = s.elected(4);
        assert_eq!(e[0], k[4], "the most votes first");
        assert!(!e.contains(&k[0]), "a double producer is out");
    }
}
