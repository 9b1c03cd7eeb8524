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

/// One link's support: stake behind it, the bonded total it is measured
/// against, and who gave it.
#[derive(Clone, Debug, Default)]
struct Support {
    stake: u128,
    total: u128,
    by: BTreeSet<PublicKey>,
}

impl Support {
    /// At least two thirds of the bonded stake.
    fn supermajority(&self) -> bool {
        self.total > 0 && self.stake * 3 >= self.total * 2
    }
}

/// Justification and finality, over every link this node has heard of. A link
/// whose source is not (yet) justified here is kept: once its source is
/// justified (a late attestation, or one carried in a block), it counts, so a
/// node that missed some epochs catches up in any order.
#[derive(Clone, Debug)]
pub struct Ffg {
    pub justified: Checkpoint,
    pub finalized: Checkpoint,
    justified_set: BTreeSet<Checkpoint>,
    links: BTreeMap<(Checkpoint, Checkpoint), Support>,
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
        if data.target.epoch <= data.source.epoch {
            return out;
        }
        let entry = self.links.entry((data.source, data.target)).or_default();
        if !entry.by.insert(validator) {
            return out;
        }
        entry.stake += stake as u128;
        entry.total = entry.total.max(total);
        let supermajority = entry.supermajority();
        if supermajority && self.is_justified(&data.source) {
            self.justify(data.source, data.target, &mut out);
        }
        out
    }

    /// Justifies `target` by its link from `source`, then every kept link that
    /// now has a justified source.
    fn justify(&mut self, source: Checkpoint, target: Checkpoint, out: &mut Vec<FfgEvent>) {
        let mut work = vec![(source, target)];
        while let Some((s, t)) = work.pop() {
            if !self.justified_set.insert(t) {
                continue;
            }
            if t.epoch > self.justified.epoch {
                self.justified = t;
            }
            out.push(FfgEvent::Justified(t));
            if t.epoch == s.epoch + 1 && s.epoch >= self.finalized.epoch {
                self.finalized = s;
                out.push(FfgEvent::Finalized(s));
            }
            for ((ls, lt), sup) in self.links.range((t, min_checkpoint())..) {
                if *ls != t {
                    break;
                }
                if sup.supermajority() && !self.justified_set.contains(lt) {
                    work.push((*ls, *lt));
                }
            }
        }
    }

    /// Forgets links whose target is at or before the finalized epoch.
    pub fn prune(&mut self) {
        let f = self.finalized.epoch;
        self.links.retain(|(_, t), _| t.epoch > f);
    }
}

fn min_checkpoint() -> Checkpoint {
    Checkpoint {
        epoch: 0,
        hash: Hash::ZERO,
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
        // A link from an unjustified source counts for nothing yet...
        for v in &vals {
            assert!(f.attest(*v, 25, 100, link(cp(3), cp(4))).is_empty());
        }
        // ...until its source is justified, whatever the order of arrival: then
        // both links count and epoch 3 is final.
        for v in &vals[..3] {
            f.attest(*v, 25, 100, link(cp(2), cp(3)));
        }
        assert_eq!(f.justified, cp(4));
        assert_eq!(f.finalized, cp(3));
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
