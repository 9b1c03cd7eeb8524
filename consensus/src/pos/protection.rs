//! Slashing protection: what a validator has signed (proposal slots, and the
//! source and target epochs of its attestations), checked before anything new
//! is signed, so that a restart never makes an honest validator double-sign.
//! The node persists this record before a signature leaves the process; it can
//! be exported and imported as JSON, after the interchange format of EIP-3076.

use super::ffg::{slashable, AttestationData};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("already proposed for slot {slot}")]
    DoubleProposal { slot: u64 },
    #[error("slot or epoch {got} is at or below the pruned record's floor {floor}")]
    BelowFloor { got: u64, floor: u64 },
    #[error("an attestation for target epoch {target} was already signed")]
    DoubleVote { target: u64 },
    #[error(
        "the attestation {from}->{to} would surround or be surrounded by {other_from}->{other_to}"
    )]
    SurroundVote {
        from: u64,
        to: u64,
        other_from: u64,
        other_to: u64,
    },
}

/// One validator's signing history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    /// Slots proposed for, with the block's seal hash (hex).
    pub proposals: BTreeMap<u64, String>,
    /// Attestations signed, by target epoch: (source epoch, the data's hash).
    pub attestations: BTreeMap<u64, (u64, String)>,
    /// What pruning left of older entries (EIP-3076's minimal record): nothing
    /// is signed for a slot at or below `proposal_floor`, nor an attestation
    /// whose target is at or below `target_floor` or whose source is below
    /// `source_floor`.
    #[serde(default)]
    pub proposal_floor: Option<u64>,
    #[serde(default)]
    pub source_floor: Option<u64>,
    #[serde(default)]
    pub target_floor: Option<u64>,
}

/// Entries of each kind kept whole; older ones become floors.
pub const KEEP: usize = 256;

/// The name the record is saved under (`Output::Persist`).
pub const RECORD_NAME: &str = "slashing-protection";

impl Protection {
    /// May a block with seal hash `digest` be proposed for `slot`? The same block
    /// again is fine (a re-broadcast); another block for the slot is not.
    pub fn check_proposal(&self, slot: u64, digest: &str) -> Result<(), Refusal> {
        if let Some(floor) = self.proposal_floor.filter(|f| slot <= *f) {
            return Err(Refusal::BelowFloor { got: slot, floor });
        }
        match self.proposals.get(&slot) {
            Some(d) if d != digest => Err(Refusal::DoubleProposal { slot }),
            _ => Ok(()),
        }
    }

    pub fn record_proposal(&mut self, slot: u64, digest: &str) -> Result<(), Refusal> {
        self.check_proposal(slot, digest)?;
        self.proposals.insert(slot, digest.to_string());
        Ok(())
    }

    /// May `data` be attested? Refuses a second attestation for one target
    /// epoch and any that surrounds or is surrounded by one signed before.
    pub fn check_attestation(&self, data: &AttestationData) -> Result<(), Refusal> {
        let digest = digest(data);
        let (s, t) = (data.source.epoch, data.target.epoch);
        if let Some(floor) = self.target_floor.filter(|f| t <= *f) {
            return Err(Refusal::BelowFloor { got: t, floor });
        }
        if let Some(floor) = self.source_floor.filter(|f| s < *f) {
            return Err(Refusal::BelowFloor { got: s, floor });
        }
        if let Some((_, d)) = self.attestations.get(&t) {
            if *d == digest {
                return Ok(());
            }
            return Err(Refusal::DoubleVote { target: t });
        }
        for (other_t, (other_s, _)) in &self.attestations {
            let probe = |a: u64, b: u64| AttestationData {
                source: super::ffg::Checkpoint {
                    epoch: a,
                    hash: generals_chain::Hash::ZERO,
                },
                target: super::ffg::Checkpoint {
                    epoch: b,
                    hash: generals_chain::Hash::ZERO,
                },
            };
            if slashable(&probe(s, t), &probe(*other_s, *other_t)).is_some() {
                return Err(Refusal::SurroundVote {
                    from: s,
                    to: t,
                    other_from: *other_s,
                    other_to: *other_t,
                });
            }
        }
        Ok(())
    }

    pub fn record_attestation(&mut self, data: &AttestationData) -> Result<(), Refusal> {
        self.check_attestation(data)?;
        self.attestations
            .insert(data.target.epoch, (data.source.epoch, digest(data)));
        Ok(())
    }

    /// Keeps the newest `KEEP` entries of each kind; older ones raise the floors.
    pub fn prune(&mut self) {
        while self.proposals.len() > KEEP {
            if let Some((slot, _)) = self.proposals.pop_first() {
                self.proposal_floor = Some(self.proposal_floor.map_or(slot, |f| f.max(slot)));
            }
        }
        while self.attestations.len() > KEEP {
            if let Some((t, (s, _))) = self.attestations.pop_first() {
                self.target_floor = Some(self.target_floor.map_or(t, |f| f.max(t)));
                self.source_floor = Some(self.source_floor.map_or(s, |f| f.max(s)));
            }
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the record always serializes")
    }

    /// Reads an exported record; merging keeps both histories (the safe union).
    pub fn merge_json(&mut self, json: &str) -> Result<(), serde_json::Error> {
        let other: Protection = serde_json::from_str(json)?;
        self.proposals.extend(other.proposals);
        for (t, v) in other.attestations {
            self.attestations.entry(t).or_insert(v);
        }
        let max = |a: Option<u64>, b: Option<u64>| a.max(b);
        self.proposal_floor = max(self.proposal_floor, other.proposal_floor);
        self.source_floor = max(self.source_floor, other.source_floor);
        self.target_floor = max(self.target_floor, other.target_floor);
        Ok(())
    }
}

fn digest(data: &AttestationData) -> String {
    generals_chain::Hash::digest(&generals_chain::codec::encode(data)).to_hex()
}

#[cfg(test)]
mod tests {
    use super::super::ffg::Checkpoint;
    use super::*;
    use generals_chain::Hash;

    fn att(s: u64, t: u64, tag: &[u8]) -> AttestationData {
        AttestationData {
            source: Checkpoint {
                epoch: s,
                hash: Hash::digest(&s.to_le_bytes()),
            },
            target: Checkpoint {
                epoch: t,
                hash: Hash::digest(tag),
            },
        }
    }

    #[test]
    fn conflicting_signatures_are_refused_and_repeats_allowed() {
        let mut p = Protection::default();
        p.record_proposal(5, "aa").expect("first");
        p.record_proposal(5, "aa").expect("the same block again");
        assert_eq!(
            p.record_proposal(5, "bb"),
            Err(Refusal::DoubleProposal { slot: 5 })
        );
        p.record_attestation(&att(1, 4, b"x")).expect("first");
        p.record_attestation(&att(1, 4, b"x")).expect("same again");
        assert_eq!(
            p.check_attestation(&att(1, 4, b"y")),
            Err(Refusal::DoubleVote { target: 4 })
        );
        assert!(matches!(
            p.check_attestation(&att(2, 3, b"z")),
            Err(Refusal::SurroundVote { .. })
        ));
        assert!(matches!(
            p.check_attestation(&att(0, 5, b"z")),
            Err(Refusal::SurroundVote { .. })
        ));
        p.record_attestation(&att(4, 5, b"z"))
            .expect("a later, disjoint span");
    }

    #[test]
    fn pruning_leaves_floors_that_still_refuse() {
        let mut p = Protection::default();
        for slot in 0..(KEEP as u64 + 10) {
            p.record_proposal(slot, "aa").expect("new slot");
            p.record_attestation(&att(slot, slot + 1, b"x"))
                .expect("new epoch");
        }
        p.prune();
        assert_eq!(p.proposals.len(), KEEP);
        assert_eq!(p.proposal_floor, Some(9));
        assert!(p.check_proposal(3, "zz").is_err(), "below the floor");
        assert!(p.check_attestation(&att(2, 8, b"q")).is_err());
        p.record_proposal(KEEP as u64 + 10, "bb").expect("above");
    }

    #[test]
    fn the_record_survives_export_and_import() {
        let mut p = Protection::default();
        p.record_proposal(9, "cc").expect("ok");
        p.record_attestation(&att(2, 3, b"x")).expect("ok");
        let mut q = Protection::default();
        q.merge_json(&p.to_json()).expect("import");
        assert_eq!(q, p);
        assert!(q.check_proposal(9, "dd").is_err());
        assert!(q.merge_json("{not json").is_err());
    }
}
