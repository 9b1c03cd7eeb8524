//! A BFT validator's signing record: what it signed at its current height (each
//! proposal, prevote and precommit, by round), and its lock and valid value.
//! The node saves it before a signature leaves the process, so that after a
//! restart, even a SIGKILL, the validator resumes where it stood and never signs
//! two different messages for one position nor forgets a lock.

use generals_chain::{Hash, MessageKind, SignedMessage};
use serde::{Deserialize, Serialize};

/// Why a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("height {got} is below the record's height {height}")]
    Past { got: u64, height: u64 },
    #[error("a different {kind:?} was already signed at height {height}, round {round}")]
    Conflict {
        kind: MessageKind,
        height: u64,
        round: u64,
    },
}

/// One validator's record at its current height.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BftRecord {
    pub height: u64,
    /// What was signed at `height`: kind, round and payload (kept whole, so a
    /// restarted validator can send exactly the same messages again).
    pub signed: Vec<(MessageKind, u64, Vec<u8>)>,
    /// The lock (round and block), Algorithm 1's lockedRound and lockedValue.
    pub locked: Option<(u64, Hash)>,
    /// The valid value and its round (validRound, validValue).
    pub valid: Option<(u64, Hash)>,
    /// The precommits that decided the last block this validator decided: the
    /// commit certificate its next proposal carries, kept across restarts.
    #[serde(default)]
    pub commit: Vec<SignedMessage>,
}

/// The name the record is saved under (`Output::Persist`).
pub const RECORD_NAME: &str = "bft-signing-record";

impl BftRecord {
    /// Records a signature of `payload` at (kind, height, round), if the
    /// record allows it: the same message again is fine, a different one is not.
    pub fn sign(
        &mut self,
        kind: MessageKind,
        height: u64,
        round: u64,
        payload: &[u8],
    ) -> Result<(), Refusal> {
        if height < self.height {
            return Err(Refusal::Past {
                got: height,
                height: self.height,
            });
        }
        if height > self.height {
            *self = BftRecord {
                height,
                commit: std::mem::take(&mut self.commit),
                ..BftRecord::default()
            };
        }
        match self
            .signed
            .iter()
            .find(|(k, r, _)| *k == kind && *r == round)
        {
            Some((_, _, p)) if p == payload => Ok(()),
            Some(_) => Err(Refusal::Conflict {
                kind,
                height,
                round,
            }),
            None => {
                self.signed.push((kind, round, payload.to_vec()));
                Ok(())
            }
        }
    }

    /// The highest round with anything signed at the record's height.
    pub fn last_round(&self) -> Option<u64> {
        self.signed.iter().map(|(_, r, _)| *r).max()
    }

    pub fn has_signed(&self, kind: MessageKind, round: u64) -> bool {
        self.signed
            .iter()
            .any(|(k, r, _)| *k == kind && *r == round)
    }

    pub fn to_json(&self) -> String {
        // Compact: it is written and flushed before every signature, and
        // pretty JSON puts each byte of a payload on a line of its own.
        serde_json::to_string(self).expect("the record always serializes")
    }

    /// A record as `to_json` wrote it.
    pub fn from_json(bytes: &[u8]) -> Result<BftRecord, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_different_vote_is_refused_and_a_repeat_allowed() {
        let mut r = BftRecord::default();
        r.sign(MessageKind::Prevote, 5, 0, b"a").expect("first");
        r.sign(MessageKind::Prevote, 5, 0, b"a").expect("again");
        assert!(matches!(
            r.sign(MessageKind::Prevote, 5, 0, b"b"),
            Err(Refusal::Conflict { .. })
        ));
        r.sign(MessageKind::Precommit, 5, 0, b"b")
            .expect("another kind");
        r.sign(MessageKind::Prevote, 5, 1, b"b")
            .expect("another round");
        assert_eq!(r.last_round(), Some(1));
        assert!(matches!(
            r.sign(MessageKind::Prevote, 4, 9, b"c"),
            Err(Refusal::Past { .. })
        ));
        r.sign(MessageKind::Prevote, 6, 0, b"b")
            .expect("a new height starts a new record");
        assert_eq!(r.signed.len(), 1);
    }
}
