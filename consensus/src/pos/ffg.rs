//! Finality after Casper FFG (Buterin and Griffith, 2017): validators attest
//! to a link from a source checkpoint (justified) to a target checkpoint (an
//! epoch boundary block). A link carried by at least 2/3 of the bonded stake
//! justifies its target; a justified checkpoint whose child checkpoint (the next
//! epoch's) is justified from it becomes final. The two slashing conditions: no
//! validator makes two different attestations for one target epoch (double
//! vote), nor one whose span surrounds another's (surround vote).

use generals_chain::{Hash, PublicKey};
use std::collections::{BTreeMap, BTreeSet};

pub use generals_chain::{AttestationData, Checkpoint};

/// Why two attestations by one validator are slashable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    /// Two different attestations with one target epoch.
    DoubleVote,
    /// One attestation's span strictly surrounds the other's.
    SurroundVote,
}

/// Whether signing both `a` and `b` breaks a Casper FFG condition.
pub fn slashable(a: &AttestationData, b: &AttestationData) -> Option<Offence> {
    if a == b {
        return None;
    }
    if a.target.epoch == b.target.epoch {
        return Some(Offence::DoubleVote);
    }
    if a.surrounds(b) || b.surrounds(a) {
        return Some(Offence::SurroundVote);
    }
    None
}

/// What an attestation changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FfgEvent {
    Justified(Checkpoint),
    Finalized(Checkpoint),
}

/// Justification and finality on one branch.
#[derive(Clone, Debug)]
pub struct Ffg {
    pub justified: Checkpoint,
    pub finalized: Checkpoint,
    justified_set: BTreeSet<Checkpoint>,
    /// Stake behind each link, and who gave it.
    links: BTreeMap<(Checkpoint, Checkpoint), (u128, BTreeSet<PublicKey>)>,
}

impl Ffg {
    /// Starts from the genesis checkpoint, justified and final by definition.
    pub fn new(genesis: Hash) -> Ffg {
        let g = Checkpoint {
            epoch: 0,
            hash: genesis,
        };
        Ffg {
            justified: g,
            finalized: g,
            justified_set: BTreeSet::from([g]),
            links: BTreeMap::new(),
        }
    }

    pub fn is_justified(&self, c: &Checkpoint) -> bool {
        self.justified_set.contains(c)
    }

    /// Counts `validator`'s attestation with `stake` of `total` bonded stake.
    pub fn attest(
        &mut self,
        validator: PublicKey,
        stake: u64,
        total: u128,
        data: AttestationData,
    ) -> Vec<FfgEvent> {
        let mut out = Vec::new();
        if data.target.epoch <= data.source.epoch || !self.is_justified(&data.source) {
            return out;
        }
        let entry = self.links.entry((data.source, data.target)).or_default();
        if !entry.1.insert(validator) {
            return out;
        }
        entry.0 += stake as u128;
        // At least two thirds of the bonded stake.
        if entry.0 * 3 >= total * 2 && !self.is_justified(&data.target) {
            self.justified_set.insert(data.target);
            if data.target.epoch > self.justified.epoch {
                self.justified = data.target;
            }
            out.push(FfgEvent::Justified(data.target));
            if data.target.epoch == data.source.epoch + 1
                && data.source.epoch >= self.finalized.epoch
            {
                self.finalized = data.source;
                out.push(FfgEvent::Finalized(data.source));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use generals_chain::Keypair;

    fn cp(epoch: u64) -> Checkpoint {
        Checkpoint {
            epoch,
            hash: Hash::digest(&epoch.to_le_bytes()),
        }
    }

    #[test]
    fn two_thirds_justify_and_a_justified_child_finalizes() {
        let g = cp(0);
        let mut f = Ffg::new(g.hash);
        let vals: Vec<PublicKey> = (0..4)
            .map(|i| Keypair::dev(&format!("v{i}")).public())
            .collect();
        let link = |s, t| AttestationData {
            source: s,
            target: t,
        };
        // 2 of 4 equal stakes: not enough.
        for v in &vals[..2] {
            assert!(f.attest(*v, 25, 100, link(g, cp(1))).is_empty());
        }
        // A repeated attestation counts once.
        assert!(f.attest(vals[1], 25, 100, link(g, cp(1))).is_empty());
        // The third makes 75% >= 2/3: epoch 1 is justified, and genesis final.
        let e = f.attest(vals[2], 25, 100, link(g, cp(1)));
        assert_eq!(e, vec![FfgEvent::Justified(cp(1)), FfgEvent::Finalized(g)]);
        for v in &vals[..3] {
            f.attest(*v, 25, 100, link(cp(1), cp(2)));
        }
        assert_eq!(f.finalized, cp(1));
        assert_eq!(f.justified, cp(2));
        // A link from an unjustified source counts for nothing.
        for v in &vals {
            assert!(f.attest(*v, 25, 100, link(cp(5), cp(6))).is_empty());
        }
    }

    #[test]
    fn a_skipped_epoch_justifies_without_finalizing() {
        let g = cp(0);
        let mut f = Ffg::new(g.hash);
        let vals: Vec<PublicKey> = (0..3)
            .map(|i| Keypair::dev(&format!("v{i}")).public())
            .collect();
        for v in &vals {
            f.attest(
                *v,
                1,
                3,
                AttestationData {
                    source: g,
                    target: cp(2),
                },
            );
        }
        assert_eq!(f.justified, cp(2));
        assert_eq!(f.finalized, g, "epoch 1 was skipped: nothing new is final");
    }

    #[test]
    fn double_and_surround_votes_are_slashable() {
        let a = AttestationData {
            source: cp(1),
            target: cp(4),
        };
        let b = AttestationData {
            source: cp(2),
            target: cp(3),
        };
        assert_eq!(slashable(&a, &b), Some(Offence::SurroundVote));
        assert_eq!(slashable(&b, &a), Some(Offence::SurroundVote));
        let c = AttestationData {
            source: cp(0),
            target: Checkpoint {
                epoch: 4,
                hash: Hash::digest(b"other"),
            },
        };
        assert_eq!(slashable(&a, &c), Some(Offence::DoubleVote));
        let d = AttestationData {
            source: cp(4),
            target: cp(5),
        };
        assert_eq!(slashable(&a, &d), None);
        assert_eq!(slashable(&a, &a), None);
    }
}
