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
}

impl Protection {
    /// May a block with seal hash `digest` be proposed for `slot`? The same block
    /// again is fine (a re-broadcast); another block for the slot is not.
    pub fn check_proposal(&self, slot: u64, digest: &str) -> Result<(), Refusal> {
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
